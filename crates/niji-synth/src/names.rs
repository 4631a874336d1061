//! Japanese names in kanji and katakana.
//!
//! Family names are listed most common first and drawn with Zipf weights, so
//! 佐藤, 鈴木 and 高橋 come up about as often as they do in Japan and people
//! sharing a name is routine. Some readings are shared by different kanji
//! (斎藤/斉藤 サイトウ, 渡辺/渡部 ワタナベ, 菊地/菊池 キクチ), as in life.
//! Given names carry the birth cohorts they were popular in: a person born in
//! 1940 is more likely a 清 or a 幸子 than a 蓮 or a 陽菜.

use rand::Rng;
use rand::distr::Distribution;
use rand::distr::weighted::WeightedIndex;
use std::sync::OnceLock;

/// A name part in kanji and in full-width katakana.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Name {
    /// Kanji (or hiragana, for some given names).
    pub kanji: &'static str,
    /// Katakana reading.
    pub kana: &'static str,
}

/// Birth cohorts, as bits of a given name's `cohorts` mask.
const PRE_1950: u8 = 1;
const C1950_79: u8 = 2;
const C1980_99: u8 = 4;
const FROM_2000: u8 = 8;
const ALL: u8 = 15;

const FAMILY: &[(&str, &str)] = &[
    ("佐藤", "サトウ"),
    ("鈴木", "スズキ"),
    ("高橋", "タカハシ"),
    ("田中", "タナカ"),
    ("伊藤", "イトウ"),
    ("渡辺", "ワタナベ"),
    ("山本", "ヤマモト"),
    ("中村", "ナカムラ"),
    ("小林", "コバヤシ"),
    ("加藤", "カトウ"),
    ("吉田", "ヨシダ"),
    ("山田", "ヤマダ"),
    ("佐々木", "ササキ"),
    ("山口", "ヤマグチ"),
    ("松本", "マツモト"),
    ("井上", "イノウエ"),
    ("木村", "キムラ"),
    ("林", "ハヤシ"),
    ("斎藤", "サイトウ"),
    ("清水", "シミズ"),
    ("山崎", "ヤマザキ"),
    ("森", "モリ"),
    ("池田", "イケダ"),
    ("橋本", "ハシモト"),
    ("阿部", "アベ"),
    ("石川", "イシカワ"),
    ("山下", "ヤマシタ"),
    ("中島", "ナカジマ"),
    ("石井", "イシイ"),
    ("小川", "オガワ"),
    ("前田", "マエダ"),
    ("岡田", "オカダ"),
    ("長谷川", "ハセガワ"),
    ("藤田", "フジタ"),
    ("後藤", "ゴトウ"),
    ("近藤", "コンドウ"),
    ("村上", "ムラカミ"),
    ("遠藤", "エンドウ"),
    ("青木", "アオキ"),
    ("坂本", "サカモト"),
    ("斉藤", "サイトウ"),
    ("福田", "フクダ"),
    ("太田", "オオタ"),
    ("西村", "ニシムラ"),
    ("藤井", "フジイ"),
    ("金子", "カネコ"),
    ("岡本", "オカモト"),
    ("藤原", "フジワラ"),
    ("中野", "ナカノ"),
    ("三浦", "ミウラ"),
    ("原田", "ハラダ"),
    ("中川", "ナカガワ"),
    ("松田", "マツダ"),
    ("竹内", "タケウチ"),
    ("小野", "オノ"),
    ("田村", "タムラ"),
    ("中山", "ナカヤマ"),
    ("和田", "ワダ"),
    ("石田", "イシダ"),
    ("森田", "モリタ"),
    ("上田", "ウエダ"),
    ("原", "ハラ"),
    ("内田", "ウチダ"),
    ("柴田", "シバタ"),
    ("酒井", "サカイ"),
    ("宮崎", "ミヤザキ"),
    ("横山", "ヨコヤマ"),
    ("高木", "タカギ"),
    ("安藤", "アンドウ"),
    ("宮本", "ミヤモト"),
    ("大野", "オオノ"),
    ("小島", "コジマ"),
    ("谷口", "タニグチ"),
    ("今井", "イマイ"),
    ("工藤", "クドウ"),
    ("高田", "タカダ"),
    ("増田", "マスダ"),
    ("丸山", "マルヤマ"),
    ("杉山", "スギヤマ"),
    ("村田", "ムラタ"),
    ("大塚", "オオツカ"),
    ("新井", "アライ"),
    ("小山", "コヤマ"),
    ("平野", "ヒラノ"),
    ("藤本", "フジモト"),
    ("河野", "コウノ"),
    ("上野", "ウエノ"),
    ("野口", "ノグチ"),
    ("武田", "タケダ"),
    ("松井", "マツイ"),
    ("千葉", "チバ"),
    ("岩崎", "イワサキ"),
    ("菅原", "スガワラ"),
    ("木下", "キノシタ"),
    ("久保", "クボ"),
    ("佐野", "サノ"),
    ("野村", "ノムラ"),
    ("松尾", "マツオ"),
    ("市川", "イチカワ"),
    ("菊地", "キクチ"),
    ("杉本", "スギモト"),
    ("古川", "フルカワ"),
    ("大西", "オオニシ"),
    ("島田", "シマダ"),
    ("水野", "ミズノ"),
    ("桜井", "サクライ"),
    ("高野", "タカノ"),
    ("渡部", "ワタナベ"),
    ("吉川", "ヨシカワ"),
    ("山内", "ヤマウチ"),
    ("西田", "ニシダ"),
    ("飯田", "イイダ"),
    ("菊池", "キクチ"),
    ("西川", "ニシカワ"),
    ("小松", "コマツ"),
    ("北村", "キタムラ"),
    ("安田", "ヤスダ"),
    ("五十嵐", "イガラシ"),
    ("川口", "カワグチ"),
    ("平田", "ヒラタ"),
    ("関", "セキ"),
    ("中田", "ナカタ"),
    ("久保田", "クボタ"),
    ("服部", "ハットリ"),
    ("東", "ヒガシ"),
    ("岩田", "イワタ"),
    ("土屋", "ツチヤ"),
    ("川崎", "カワサキ"),
    ("福島", "フクシマ"),
    ("本田", "ホンダ"),
    ("辻", "ツジ"),
    ("樋口", "ヒグチ"),
    ("秋山", "アキヤマ"),
    ("田口", "タグチ"),
    ("永井", "ナガイ"),
    ("山中", "ヤマナカ"),
    ("中西", "ナカニシ"),
    ("吉村", "ヨシムラ"),
    ("川上", "カワカミ"),
    ("石原", "イシハラ"),
    ("大橋", "オオハシ"),
    ("松岡", "マツオカ"),
    ("馬場", "ババ"),
    ("浜田", "ハマダ"),
    ("森本", "モリモト"),
    ("星野", "ホシノ"),
    ("矢野", "ヤノ"),
    ("浅野", "アサノ"),
    ("大久保", "オオクボ"),
    ("松下", "マツシタ"),
    ("小池", "コイケ"),
    ("野崎", "ノザキ"),
    ("堀", "ホリ"),
    ("荒木", "アラキ"),
    ("大谷", "オオタニ"),
    ("内藤", "ナイトウ"),
    ("熊谷", "クマガイ"),
    ("須藤", "ストウ"),
    ("大川", "オオカワ"),
    ("片山", "カタヤマ"),
    ("吉岡", "ヨシオカ"),
    ("桑原", "クワバラ"),
    ("三宅", "ミヤケ"),
    ("栗原", "クリハラ"),
    ("望月", "モチヅキ"),
    ("松村", "マツムラ"),
    ("早川", "ハヤカワ"),
    ("西山", "ニシヤマ"),
    ("尾崎", "オザキ"),
    ("小田", "オダ"),
    ("奥村", "オクムラ"),
    ("白石", "シライシ"),
];

const MALE: &[(&str, &str, u8)] = &[
    ("清", "キヨシ", PRE_1950),
    ("茂", "シゲル", PRE_1950),
    ("勇", "イサム", PRE_1950),
    ("進", "ススム", PRE_1950),
    ("正", "タダシ", PRE_1950),
    ("実", "ミノル", PRE_1950),
    ("三郎", "サブロウ", PRE_1950),
    ("義男", "ヨシオ", PRE_1950),
    ("正雄", "マサオ", PRE_1950),
    ("武", "タケシ", PRE_1950),
    ("功", "イサオ", PRE_1950),
    ("昭", "アキラ", PRE_1950),
    ("博", "ヒロシ", PRE_1950 | C1950_79),
    ("隆", "タカシ", PRE_1950 | C1950_79),
    ("稔", "ミノル", PRE_1950 | C1950_79),
    ("修", "オサム", PRE_1950 | C1950_79),
    ("豊", "ユタカ", PRE_1950 | C1950_79),
    ("和夫", "カズオ", PRE_1950 | C1950_79),
    ("浩", "ヒロシ", C1950_79),
    ("誠", "マコト", C1950_79 | C1980_99),
    ("明", "アキラ", C1950_79),
    ("健一", "ケンイチ", C1950_79),
    ("秀樹", "ヒデキ", C1950_79),
    ("哲也", "テツヤ", C1950_79),
    ("剛", "ツヨシ", C1950_79 | C1980_99),
    ("健二", "ケンジ", C1950_79),
    ("浩二", "コウジ", C1950_79),
    ("一郎", "イチロウ", C1950_79),
    ("弘", "ヒロシ", PRE_1950 | C1950_79),
    ("勝", "マサル", PRE_1950 | C1950_79),
    ("雄一", "ユウイチ", C1950_79),
    ("慎一", "シンイチ", C1950_79),
    ("直樹", "ナオキ", C1950_79 | C1980_99),
    ("大輔", "ダイスケ", C1980_99),
    ("拓也", "タクヤ", C1980_99),
    ("達也", "タツヤ", C1950_79 | C1980_99),
    ("和也", "カズヤ", C1980_99),
    ("健太", "ケンタ", C1980_99),
    ("翔太", "ショウタ", C1980_99 | FROM_2000),
    ("翔平", "ショウヘイ", C1980_99),
    ("亮", "リョウ", C1980_99),
    ("亮太", "リョウタ", C1980_99),
    ("雄太", "ユウタ", C1980_99),
    ("康介", "コウスケ", C1980_99),
    ("智也", "トモヤ", C1980_99),
    ("俊介", "シュンスケ", C1980_99),
    ("健太郎", "ケンタロウ", C1980_99),
    ("大樹", "ダイキ", C1980_99 | FROM_2000),
    ("翔", "ショウ", C1980_99 | FROM_2000),
    ("拓海", "タクミ", C1980_99 | FROM_2000),
    ("海斗", "カイト", FROM_2000),
    ("蓮", "レン", FROM_2000),
    ("湊", "ミナト", FROM_2000),
    ("陽翔", "ハルト", FROM_2000),
    ("悠真", "ユウマ", FROM_2000),
    ("大翔", "ヒロト", FROM_2000),
    ("陸", "リク", FROM_2000),
    ("颯太", "ソウタ", FROM_2000),
    ("悠斗", "ユウト", FROM_2000),
    ("樹", "イツキ", FROM_2000),
    ("優斗", "ユウト", FROM_2000),
    ("蒼", "アオイ", FROM_2000),
    ("太郎", "タロウ", ALL),
];

const FEMALE: &[(&str, &str, u8)] = &[
    ("キヨ", "キヨ", PRE_1950),
    ("ハナ", "ハナ", PRE_1950),
    ("トシ", "トシ", PRE_1950),
    ("静子", "シズコ", PRE_1950),
    ("千代子", "チヨコ", PRE_1950),
    ("初子", "ハツコ", PRE_1950),
    ("文子", "フミコ", PRE_1950),
    ("春子", "ハルコ", PRE_1950),
    ("花子", "ハナコ", PRE_1950),
    ("幸子", "サチコ", PRE_1950 | C1950_79),
    ("和子", "カズコ", PRE_1950 | C1950_79),
    ("節子", "セツコ", PRE_1950),
    ("京子", "キョウコ", PRE_1950 | C1950_79),
    ("洋子", "ヨウコ", C1950_79),
    ("陽子", "ヨウコ", C1950_79),
    ("恵子", "ケイコ", C1950_79),
    ("美智子", "ミチコ", PRE_1950 | C1950_79),
    ("弘子", "ヒロコ", PRE_1950 | C1950_79),
    ("悦子", "エツコ", C1950_79),
    ("久美子", "クミコ", C1950_79),
    ("由美子", "ユミコ", C1950_79),
    ("裕子", "ユウコ", C1950_79),
    ("順子", "ジュンコ", C1950_79),
    ("純子", "ジュンコ", C1950_79),
    ("真由美", "マユミ", C1950_79),
    ("明美", "アケミ", C1950_79),
    ("直美", "ナオミ", C1950_79),
    ("典子", "ノリコ", C1950_79),
    ("智子", "トモコ", C1950_79 | C1980_99),
    ("真理子", "マリコ", C1950_79),
    ("恵", "メグミ", C1950_79 | C1980_99),
    ("亜希子", "アキコ", C1950_79 | C1980_99),
    ("由紀", "ユキ", C1950_79 | C1980_99),
    ("理恵", "リエ", C1980_99),
    ("恵美", "エミ", C1980_99),
    ("愛", "アイ", C1980_99),
    ("彩", "アヤ", C1980_99),
    ("舞", "マイ", C1980_99),
    ("美穂", "ミホ", C1980_99),
    ("麻衣", "マイ", C1980_99),
    ("沙織", "サオリ", C1980_99),
    ("香織", "カオリ", C1980_99),
    ("瞳", "ヒトミ", C1980_99),
    ("美紀", "ミキ", C1980_99),
    ("友美", "トモミ", C1980_99),
    ("優子", "ユウコ", C1980_99),
    ("美香", "ミカ", C1980_99),
    ("里美", "サトミ", C1980_99),
    ("千尋", "チヒロ", C1980_99),
    ("綾香", "アヤカ", C1980_99),
    ("美咲", "ミサキ", C1980_99 | FROM_2000),
    ("彩花", "アヤカ", FROM_2000),
    ("七海", "ナナミ", FROM_2000),
    ("陽菜", "ヒナ", FROM_2000),
    ("結衣", "ユイ", FROM_2000),
    ("葵", "アオイ", FROM_2000),
    ("凛", "リン", FROM_2000),
    ("結菜", "ユイナ", FROM_2000),
    ("芽依", "メイ", FROM_2000),
    ("紬", "ツムギ", FROM_2000),
    ("さくら", "サクラ", FROM_2000),
    ("美月", "ミツキ", FROM_2000),
    ("奈々", "ナナ", C1980_99 | FROM_2000),
    ("愛子", "アイコ", ALL),
];

fn cohort_bit(birth_year: i32) -> u8 {
    match birth_year {
        ..1950 => PRE_1950,
        1950..1980 => C1950_79,
        1980..2000 => C1980_99,
        _ => FROM_2000,
    }
}

fn family_weights() -> &'static WeightedIndex<f64> {
    static WEIGHTS: OnceLock<WeightedIndex<f64>> = OnceLock::new();
    WEIGHTS.get_or_init(|| {
        // A flat Zipf law (exponent 0.3) over this short list puts the top
        // name near 2% of people, close to 佐藤's 1.5% of Japan. A steeper law
        // would be truer to the shape but, without Japan's long tail of rare
        // names, would make the top names far too common.
        WeightedIndex::new((1..=FAMILY.len()).map(|rank| 1.0 / (rank as f64).powf(0.3)))
            .expect("non-empty positive weights")
    })
}

/// A family name, common names more often.
pub fn family(rng: &mut impl Rng) -> Name {
    let (kanji, kana) = FAMILY[family_weights().sample(rng)];
    Name { kanji, kana }
}

/// A given name for a sex and birth year: one popular in the person's cohort
/// nine times in ten, any other otherwise.
pub fn given(rng: &mut impl Rng, female: bool, birth_year: i32) -> Name {
    let list = if female { FEMALE } else { MALE };
    let cohort = cohort_bit(birth_year);
    let fitting: Vec<&(&str, &str, u8)> = if rng.random_bool(0.9) {
        list.iter().filter(|(_, _, c)| c & cohort != 0).collect()
    } else {
        list.iter().collect()
    };
    let (kanji, kana, _) = fitting[rng.random_range(0..fitting.len())];
    Name { kanji, kana }
}

/// A given name like `sibling`'s, as twins often get: one sharing its first
/// character (翔太 and 翔平), or failing that one starting with the same kana.
pub fn similar_given(rng: &mut impl Rng, female: bool, sibling: Name) -> Name {
    let list = if female { FEMALE } else { MALE };
    let first = |s: &str| s.chars().next();
    let alike: Vec<&(&str, &str, u8)> = list
        .iter()
        .filter(|(k, _, _)| *k != sibling.kanji && first(k) == first(sibling.kanji))
        .collect();
    let alike = if alike.is_empty() {
        list.iter()
            .filter(|(k, kana, _)| *k != sibling.kanji && first(kana) == first(sibling.kana))
            .collect()
    } else {
        alike
    };
    match alike.as_slice() {
        [] => given(rng, female, 2000),
        some => {
            let (kanji, kana, _) = some[rng.random_range(0..some.len())];
            Name { kanji, kana }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn readings_are_full_width_katakana() {
        let katakana = |s: &str| s.chars().all(|c| ('\u{30A1}'..='\u{30FC}').contains(&c));
        for (kanji, kana) in FAMILY {
            assert!(katakana(kana), "{kanji} {kana}");
        }
        for (kanji, kana, cohorts) in MALE.iter().chain(FEMALE) {
            assert!(katakana(kana), "{kanji} {kana}");
            assert!(*cohorts != 0 && *cohorts <= ALL);
        }
    }

    #[test]
    fn every_cohort_has_names_of_both_sexes() {
        for year in [1930, 1960, 1990, 2015] {
            let bit = cohort_bit(year);
            assert!(
                MALE.iter().filter(|n| n.2 & bit != 0).count() >= 10,
                "{year}"
            );
            assert!(
                FEMALE.iter().filter(|n| n.2 & bit != 0).count() >= 10,
                "{year}"
            );
        }
    }

    #[test]
    fn common_family_names_are_common() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let n = 20_000;
        let sato = (0..n).filter(|_| family(&mut rng).kanji == "佐藤").count();
        let share = sato as f64 / n as f64;
        assert!((0.012..0.03).contains(&share), "{share}");
    }

    #[test]
    fn twins_get_similar_names() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2);
        let shota = Name {
            kanji: "翔太",
            kana: "ショウタ",
        };
        for _ in 0..20 {
            let twin = similar_given(&mut rng, false, shota);
            assert_ne!(twin, shota);
            assert!(twin.kanji.starts_with('翔'), "{twin:?}");
        }
    }
}
