//! Japan's prefectures by JIS X 0401 code, the code every prefecture-level
//! field in the sources uses (a claim's 都道府県, the first two digits of a
//! facility or municipality code), the names addresses carry, and the
//! postcode areas that lie in each.

/// The 47 prefectures in JIS X 0401 order: `PREFECTURES[i]` has code i + 1.
pub const PREFECTURES: [&str; 47] = [
    "北海道",
    "青森県",
    "岩手県",
    "宮城県",
    "秋田県",
    "山形県",
    "福島県",
    "茨城県",
    "栃木県",
    "群馬県",
    "埼玉県",
    "千葉県",
    "東京都",
    "神奈川県",
    "新潟県",
    "富山県",
    "石川県",
    "福井県",
    "山梨県",
    "長野県",
    "岐阜県",
    "静岡県",
    "愛知県",
    "三重県",
    "滋賀県",
    "京都府",
    "大阪府",
    "兵庫県",
    "奈良県",
    "和歌山県",
    "鳥取県",
    "島根県",
    "岡山県",
    "広島県",
    "山口県",
    "徳島県",
    "香川県",
    "愛媛県",
    "高知県",
    "福岡県",
    "佐賀県",
    "長崎県",
    "熊本県",
    "大分県",
    "宮崎県",
    "鹿児島県",
    "沖縄県",
];

/// The two-digit code of a prefecture named as an address writes it
/// (`高知県`, surrounding spaces allowed), if it is one.
pub fn prefecture_code(name: &str) -> Option<String> {
    let name = name.trim();
    PREFECTURES
        .iter()
        .position(|p| *p == name)
        .map(|i| format!("{:02}", i + 1))
}

/// Japan Post's seven-digit postcodes by their first three digits (the
/// postcode area): each run of areas and the JIS code of the prefecture it
/// lies in, in postcode order. A handful of areas straddle a prefectural
/// border (498, for one); each is assigned to the prefecture that holds most
/// of it, so the prefecture of a postcode area is where the area lies, not
/// always where its every address does.
pub const POSTCODE_AREAS: [(u16, u16, u8); 48] = [
    (1, 9, 1),
    (10, 19, 5),
    (20, 29, 3),
    (30, 39, 2),
    (40, 99, 1),
    (100, 209, 13),
    (210, 259, 14),
    (260, 299, 12),
    (300, 319, 8),
    (320, 329, 9),
    (330, 369, 11),
    (370, 379, 10),
    (380, 399, 20),
    (400, 409, 19),
    (410, 439, 22),
    (440, 499, 23),
    (500, 509, 21),
    (510, 519, 24),
    (520, 529, 25),
    (530, 599, 27),
    (600, 629, 26),
    (630, 639, 29),
    (640, 649, 30),
    (650, 679, 28),
    (680, 689, 31),
    (690, 699, 32),
    (700, 719, 33),
    (720, 739, 34),
    (740, 759, 35),
    (760, 769, 37),
    (770, 779, 36),
    (780, 789, 39),
    (790, 799, 38),
    (800, 839, 40),
    (840, 849, 41),
    (850, 859, 42),
    (860, 869, 43),
    (870, 879, 44),
    (880, 889, 45),
    (890, 899, 46),
    (900, 909, 47),
    (910, 919, 18),
    (920, 929, 17),
    (930, 939, 16),
    (940, 959, 15),
    (960, 979, 7),
    (980, 989, 4),
    (990, 999, 6),
];

/// The JIS code of the prefecture a postcode lies in, from its first three
/// digits (a postcode area such as `780`, or a whole postcode `7808570` or
/// `780-8570`), if they are digits of an assigned area.
pub fn postcode_prefecture(postcode: &str) -> Option<String> {
    let area = postcode.trim().get(..3)?;
    if !area.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let area: u16 = area.parse().ok()?;
    POSTCODE_AREAS
        .iter()
        .find(|(first, last, _)| (*first..=*last).contains(&area))
        .map(|(_, _, prefecture)| format!("{prefecture:02}"))
}

/// The postcode areas of a prefecture (by JIS code), in postcode order.
pub fn postcode_areas(prefecture: u8) -> impl Iterator<Item = u16> {
    POSTCODE_AREAS
        .iter()
        .filter(move |(_, _, p)| *p == prefecture)
        .flat_map(|(first, last, _)| *first..=*last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_give_their_jis_codes() {
        assert_eq!(prefecture_code("北海道").as_deref(), Some("01"));
        assert_eq!(prefecture_code("東京都").as_deref(), Some("13"));
        assert_eq!(prefecture_code(" 高知県 ").as_deref(), Some("39"));
        assert_eq!(prefecture_code("沖縄県").as_deref(), Some("47"));
        assert_eq!(prefecture_code("高知市"), None);
        assert_eq!(prefecture_code(""), None);
    }

    #[test]
    fn every_prefecture_has_postcode_areas_and_no_area_has_two() {
        for code in 1..=47u8 {
            assert!(postcode_areas(code).next().is_some(), "{code}");
        }
        let mut seen = std::collections::BTreeSet::new();
        for (first, last, _) in POSTCODE_AREAS {
            assert!(first <= last);
            for area in first..=last {
                assert!(seen.insert(area), "area {area:03} twice");
            }
        }
        // Every area but 000 is assigned.
        assert_eq!(seen.len(), 999);
    }

    #[test]
    fn postcodes_give_the_prefecture_they_lie_in() {
        assert_eq!(postcode_prefecture("100-0001").as_deref(), Some("13"));
        assert_eq!(postcode_prefecture("0600001").as_deref(), Some("01"));
        assert_eq!(postcode_prefecture("780").as_deref(), Some("39"));
        assert_eq!(postcode_prefecture("9000001").as_deref(), Some("47"));
        assert_eq!(postcode_prefecture("9800001").as_deref(), Some("04"));
        assert_eq!(postcode_prefecture("000"), None);
        assert_eq!(postcode_prefecture("78"), None);
        assert_eq!(postcode_prefecture("ab0"), None);
    }
}
