//! Japanese names in kanji and katakana.
//!
//! Family names are listed most common first and drawn with Zipf weights, so
//! 佐藤, 鈴木 and 高橋 come up about as often as they do in Japan and people
//! sharing a name is routine. Some readings are shared by different kanji
//! (斎藤/斉藤 サイトウ, 渡辺/渡部 ワタナベ, 菊地/菊池 キクチ), as in life.
//! Given names carry the birth cohorts they were popular in: a person born in
//! 1940 is more likely a 清 or a 幸子 than a 蓮 or a 陽菜.
//!
//! Japan has over 100,000 family names and no short list of given names, so
//! behind each curated list of common names is a long tail made the way
//! many Japanese names are made: two elements and their readings (石 + 崎 =
//! 石崎 イシザキ, 健 + 一 = 健一 ケンイチ). The tail keeps chance
//! collisions of full names near their real rate instead of the far higher
//! rate a few hundred names would give, which matters to linkage tests.

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

/// First elements of compound family names, with their readings.
const FAMILY_FIRST: &[(&str, &str)] = &[
    ("大", "オオ"),
    ("小", "コ"),
    ("中", "ナカ"),
    ("山", "ヤマ"),
    ("石", "イシ"),
    ("松", "マツ"),
    ("高", "タカ"),
    ("岡", "オカ"),
    ("藤", "フジ"),
    ("西", "ニシ"),
    ("東", "ヒガシ"),
    ("北", "キタ"),
    ("南", "ミナミ"),
    ("上", "ウエ"),
    ("下", "シモ"),
    ("吉", "ヨシ"),
    ("森", "モリ"),
    ("竹", "タケ"),
    ("杉", "スギ"),
    ("桜", "サクラ"),
    ("若", "ワカ"),
    ("今", "イマ"),
    ("新", "ニイ"),
    ("古", "フル"),
    ("長", "ナガ"),
    ("平", "ヒラ"),
    ("宮", "ミヤ"),
    ("福", "フク"),
    ("金", "カネ"),
    ("青", "アオ"),
    ("黒", "クロ"),
    ("白", "シラ"),
    ("赤", "アカ"),
    ("前", "マエ"),
    ("浜", "ハマ"),
    ("横", "ヨコ"),
    ("菅", "スガ"),
    ("柴", "シバ"),
    ("熊", "クマ"),
    ("鶴", "ツル"),
    ("亀", "カメ"),
    ("梅", "ウメ"),
    ("荒", "アラ"),
    ("広", "ヒロ"),
    ("寺", "テラ"),
    ("安", "ヤス"),
    ("三", "ミ"),
    ("水", "ミズ"),
    ("永", "ナガ"),
    ("富", "トミ"),
    ("片", "カタ"),
    ("市", "イチ"),
    ("浅", "アサ"),
    ("深", "フカ"),
    ("岩", "イワ"),
    ("清", "キヨ"),
    ("秋", "アキ"),
    ("春", "ハル"),
    ("堀", "ホリ"),
    ("細", "ホソ"),
    ("玉", "タマ"),
    ("柳", "ヤナギ"),
    ("栗", "クリ"),
    ("星", "ホシ"),
    ("滝", "タキ"),
    ("川", "カワ"),
    ("野", "ノ"),
    ("村", "ムラ"),
    ("島", "シマ"),
    ("坂", "サカ"),
];

/// Second elements of compound family names: plain and voiced (rendaku)
/// readings.
const FAMILY_SECOND: &[(&str, &str, &str)] = &[
    ("田", "タ", "ダ"),
    ("川", "カワ", "ガワ"),
    ("山", "ヤマ", "ヤマ"),
    ("島", "シマ", "ジマ"),
    ("崎", "サキ", "ザキ"),
    ("沢", "サワ", "ザワ"),
    ("原", "ハラ", "バラ"),
    ("本", "モト", "モト"),
    ("村", "ムラ", "ムラ"),
    ("野", "ノ", "ノ"),
    ("井", "イ", "イ"),
    ("木", "キ", "ギ"),
    ("口", "クチ", "グチ"),
    ("谷", "タニ", "ヤ"),
    ("部", "ベ", "ベ"),
    ("岡", "オカ", "オカ"),
    ("内", "ウチ", "ウチ"),
    ("尾", "オ", "オ"),
    ("塚", "ツカ", "ヅカ"),
    ("橋", "ハシ", "バシ"),
    ("森", "モリ", "モリ"),
    ("浦", "ウラ", "ウラ"),
    ("瀬", "セ", "ゼ"),
    ("坂", "サカ", "ザカ"),
    ("池", "イケ", "イケ"),
    ("宮", "ミヤ", "ミヤ"),
    ("畑", "ハタ", "バタ"),
    ("江", "エ", "エ"),
    ("城", "シロ", "ジロ"),
    ("松", "マツ", "マツ"),
    ("地", "チ", "ジ"),
    ("津", "ツ", "ヅ"),
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

/// First elements of compound male given names, with the cohorts they suit.
const MALE_FIRST: &[(&str, &str, u8)] = &[
    ("翔", "ショウ", C1980_99 | FROM_2000),
    ("大", "ダイ", ALL),
    ("健", "ケン", ALL),
    ("拓", "タク", C1950_79 | C1980_99),
    ("和", "カズ", ALL),
    ("正", "マサ", ALL),
    ("信", "ノブ", PRE_1950 | C1950_79),
    ("浩", "ヒロ", C1950_79 | C1980_99),
    ("隆", "タカ", PRE_1950 | C1950_79),
    ("誠", "セイ", C1950_79 | C1980_99),
    ("直", "ナオ", ALL),
    ("秀", "ヒデ", PRE_1950 | C1950_79),
    ("康", "ヤス", ALL),
    ("悠", "ユウ", C1980_99 | FROM_2000),
    ("陽", "ハル", FROM_2000),
    ("蒼", "ソウ", FROM_2000),
    ("智", "トモ", C1950_79 | C1980_99),
    ("俊", "トシ", PRE_1950 | C1950_79),
    ("達", "タツ", ALL),
    ("勝", "カツ", PRE_1950 | C1950_79),
    ("義", "ヨシ", PRE_1950 | C1950_79),
    ("光", "ミツ", ALL),
    ("幸", "ユキ", PRE_1950 | C1950_79),
    ("英", "ヒデ", ALL),
    ("修", "シュウ", C1950_79 | C1980_99),
    ("亮", "リョウ", C1980_99 | FROM_2000),
    ("航", "コウ", C1980_99 | FROM_2000),
    ("恭", "キョウ", C1950_79 | C1980_99),
    ("武", "タケ", PRE_1950 | C1950_79),
    ("清", "キヨ", PRE_1950 | C1950_79),
    ("哲", "テツ", PRE_1950 | C1950_79),
    ("豊", "トヨ", PRE_1950),
    ("晴", "ハル", ALL),
    ("春", "ハル", ALL),
    ("颯", "ソウ", FROM_2000),
    ("優", "ユウ", C1980_99 | FROM_2000),
];

/// Endings of compound male given names, with the cohorts they suit.
const MALE_ENDING: &[(&str, &str, u8)] = &[
    ("太", "タ", C1980_99 | FROM_2000),
    ("斗", "ト", FROM_2000),
    ("人", "ト", ALL),
    ("也", "ヤ", C1950_79 | C1980_99),
    ("介", "スケ", C1950_79 | C1980_99),
    ("輔", "スケ", C1980_99),
    ("樹", "キ", C1980_99 | FROM_2000),
    ("平", "ヘイ", ALL),
    ("一", "イチ", PRE_1950 | C1950_79),
    ("郎", "ロウ", PRE_1950 | C1950_79),
    ("彦", "ヒコ", PRE_1950 | C1950_79),
    ("夫", "オ", PRE_1950 | C1950_79),
    ("男", "オ", PRE_1950),
    ("雄", "オ", PRE_1950 | C1950_79),
    ("司", "ジ", C1950_79),
    ("志", "シ", C1950_79 | C1980_99),
    ("真", "マ", FROM_2000),
    ("生", "キ", C1980_99 | FROM_2000),
    ("之", "ユキ", PRE_1950 | C1950_79),
    ("明", "アキ", PRE_1950 | C1950_79),
];

/// First elements of compound female given names.
const FEMALE_FIRST: &[(&str, &str, u8)] = &[
    ("美", "ミ", ALL),
    ("恵", "ケイ", PRE_1950 | C1950_79),
    ("由", "ユ", C1950_79 | C1980_99),
    ("真", "マ", C1950_79 | C1980_99),
    ("優", "ユウ", C1980_99 | FROM_2000),
    ("彩", "アヤ", C1980_99 | FROM_2000),
    ("結", "ユイ", FROM_2000),
    ("陽", "ヒ", FROM_2000),
    ("明", "アキ", C1950_79),
    ("千", "チ", ALL),
    ("久", "ヒサ", PRE_1950),
    ("幸", "サチ", PRE_1950 | C1950_79),
    ("和", "カズ", PRE_1950 | C1950_79),
    ("智", "トモ", C1950_79 | C1980_99),
    ("麻", "アサ", C1950_79 | C1980_99),
    ("沙", "サ", C1980_99 | FROM_2000),
    ("奈", "ナ", C1980_99 | FROM_2000),
    ("愛", "アイ", ALL),
    ("里", "リ", C1980_99 | FROM_2000),
    ("早", "サ", C1980_99 | FROM_2000),
    ("文", "フミ", PRE_1950 | C1950_79),
    ("節", "セツ", PRE_1950),
    ("静", "シズ", PRE_1950),
    ("京", "キョウ", PRE_1950 | C1950_79),
    ("敏", "トシ", PRE_1950 | C1950_79),
    ("洋", "ヨウ", C1950_79),
    ("直", "ナオ", C1950_79 | C1980_99),
    ("友", "トモ", ALL),
    ("咲", "サキ", FROM_2000),
    ("莉", "リ", FROM_2000),
    ("心", "ココ", FROM_2000),
    ("紗", "サ", C1980_99 | FROM_2000),
    ("春", "ハル", ALL),
    ("夏", "ナツ", ALL),
    ("秋", "アキ", ALL),
    ("花", "ハナ", FROM_2000),
];

/// Endings of compound female given names.
const FEMALE_ENDING: &[(&str, &str, u8)] = &[
    ("子", "コ", PRE_1950 | C1950_79 | C1980_99),
    ("美", "ミ", PRE_1950 | C1950_79 | C1980_99),
    ("香", "カ", C1980_99 | FROM_2000),
    ("恵", "エ", PRE_1950 | C1950_79 | C1980_99),
    ("世", "ヨ", PRE_1950 | C1950_79),
    ("代", "ヨ", PRE_1950),
    ("江", "エ", PRE_1950),
    ("枝", "エ", PRE_1950 | C1950_79),
    ("奈", "ナ", C1980_99 | FROM_2000),
    ("菜", "ナ", FROM_2000),
    ("花", "カ", FROM_2000),
    ("衣", "イ", C1980_99 | FROM_2000),
    ("佳", "カ", C1980_99),
    ("希", "キ", C1980_99 | FROM_2000),
    ("里", "リ", C1950_79 | C1980_99),
    ("乃", "ノ", PRE_1950 | FROM_2000),
    ("音", "ネ", FROM_2000),
    ("葉", "ハ", FROM_2000),
    ("穂", "ホ", C1980_99 | FROM_2000),
    ("絵", "エ", C1950_79 | C1980_99),
    ("緒", "オ", FROM_2000),
];

/// A name made of two elements, with the cohorts it suits.
struct Compound {
    kanji: String,
    kana: String,
    cohorts: u8,
}

/// A stable order for a tail that does not follow its elements' order,
/// so no first element is favoured by rank (FNV-1a of the kanji).
pub(crate) fn stable_hash(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The compound family names not already in [`FAMILY`], in a stable order.
/// A second element is voiced after about a third of first elements,
/// spread by hash: 山田 ヤマダ beside 中田 ナカタ.
fn family_tail() -> &'static [Compound] {
    static TAIL: OnceLock<Vec<Compound>> = OnceLock::new();
    TAIL.get_or_init(|| {
        let mut tail = Vec::new();
        for (first, first_kana) in FAMILY_FIRST {
            for (second, plain, voiced) in FAMILY_SECOND {
                let kanji = format!("{first}{second}");
                if first == second || FAMILY.iter().any(|(k, _)| *k == kanji) {
                    continue;
                }
                let reading = if stable_hash(&kanji).is_multiple_of(3) {
                    voiced
                } else {
                    plain
                };
                tail.push(Compound {
                    kana: format!("{first_kana}{reading}"),
                    kanji,
                    cohorts: ALL,
                });
            }
        }
        tail.sort_by_key(|c| stable_hash(&c.kanji));
        tail
    })
}

/// The compound given names of one sex: each first element with each
/// ending whose cohorts overlap its own.
fn given_tail(female: bool) -> &'static [Compound] {
    static MALE_TAIL: OnceLock<Vec<Compound>> = OnceLock::new();
    static FEMALE_TAIL: OnceLock<Vec<Compound>> = OnceLock::new();
    let (cell, firsts, endings, curated) = if female {
        (&FEMALE_TAIL, FEMALE_FIRST, FEMALE_ENDING, FEMALE)
    } else {
        (&MALE_TAIL, MALE_FIRST, MALE_ENDING, MALE)
    };
    cell.get_or_init(|| {
        let mut tail = Vec::new();
        for (first, first_kana, first_cohorts) in firsts {
            for (ending, ending_kana, ending_cohorts) in endings {
                let kanji = format!("{first}{ending}");
                let cohorts = first_cohorts & ending_cohorts;
                if first == ending || cohorts == 0 || curated.iter().any(|n| n.0 == kanji) {
                    continue;
                }
                tail.push(Compound {
                    kana: format!("{first_kana}{ending_kana}"),
                    kanji,
                    cohorts,
                });
            }
        }
        tail
    })
}

fn cohort_bit(birth_year: i32) -> u8 {
    match birth_year {
        ..1950 => PRE_1950,
        1950..1980 => C1950_79,
        1980..2000 => C1980_99,
        _ => FROM_2000,
    }
}

/// Family-name ranks: the curated list first, then the tail.
fn family_weights() -> &'static WeightedIndex<f64> {
    static WEIGHTS: OnceLock<WeightedIndex<f64>> = OnceLock::new();
    WEIGHTS.get_or_init(|| {
        // A Zipf law with exponent 0.6 over the curated names and the tail
        // puts 佐藤 near 1.5% of people, as in Japan, and the curated names
        // near a third. Japan's real tail is far longer still; this one is
        // long enough that sharing a full name and birth date stays rare.
        let ranks = FAMILY.len() + family_tail().len();
        WeightedIndex::new((1..=ranks).map(|rank| 1.0 / (rank as f64).powf(0.6)))
            .expect("non-empty positive weights")
    })
}

/// A family name, common names more often.
pub fn family(rng: &mut impl Rng) -> Name {
    let rank = family_weights().sample(rng);
    match FAMILY.get(rank) {
        Some((kanji, kana)) => Name { kanji, kana },
        None => {
            let compound = &family_tail()[rank - FAMILY.len()];
            Name {
                kanji: &compound.kanji,
                kana: &compound.kana,
            }
        }
    }
}

/// A given name for a sex and birth year: two times in five one of the
/// curated popular names, otherwise one from the tail; in either case one
/// that suits the person's cohort nine times in ten.
pub fn given(rng: &mut impl Rng, female: bool, birth_year: i32) -> Name {
    let cohort = if rng.random_bool(0.9) {
        cohort_bit(birth_year)
    } else {
        ALL
    };
    if rng.random_bool(0.4) {
        let list = if female { FEMALE } else { MALE };
        let fitting: Vec<&(&str, &str, u8)> =
            list.iter().filter(|(_, _, c)| c & cohort != 0).collect();
        let (kanji, kana, _) = fitting[rng.random_range(0..fitting.len())];
        return Name { kanji, kana };
    }
    let fitting: Vec<&Compound> = given_tail(female)
        .iter()
        .filter(|c| c.cohorts & cohort != 0)
        .collect();
    let compound = fitting[rng.random_range(0..fitting.len())];
    Name {
        kanji: &compound.kanji,
        kana: &compound.kana,
    }
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
    fn tails_are_long_and_their_readings_katakana() {
        let katakana = |s: &str| s.chars().all(|c| ('\u{30A1}'..='\u{30FC}').contains(&c));
        assert!(family_tail().len() > 2000, "{}", family_tail().len());
        for female in [false, true] {
            for year in [1930, 1960, 1990, 2015] {
                let bit = cohort_bit(year);
                let fitting = given_tail(female).iter().filter(|c| c.cohorts & bit != 0);
                let count = fitting.count();
                assert!(count >= 80, "{year} female={female}: {count}");
            }
        }
        let all = family_tail()
            .iter()
            .chain(given_tail(false))
            .chain(given_tail(true));
        for c in all {
            assert!(katakana(&c.kana), "{} {}", c.kanji, c.kana);
            let (encoded, _, bad) = encoding_rs::SHIFT_JIS.encode(&c.kanji);
            assert!(!bad && encoded.len() == 4, "{}: not two JIS kanji", c.kanji);
        }
    }

    #[test]
    fn full_names_rarely_collide() {
        // Among 10,000 people of one sex and cohort, most full names are
        // unique, and the commonest is held by a handful, not hundreds.
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let mut counts = std::collections::HashMap::new();
        for _ in 0..10_000 {
            let name = (family(&mut rng).kanji, given(&mut rng, true, 1975).kanji);
            *counts.entry(name).or_insert(0u32) += 1;
        }
        let unique = counts.values().filter(|&&n| n == 1).count();
        let most = counts.values().max().copied().unwrap_or(0);
        assert!(unique > 5_000, "{unique} unique full names");
        assert!(most < 15, "one full name held by {most}");
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
