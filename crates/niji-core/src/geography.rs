//! Japan's prefectures by JIS X 0401 code, the code every prefecture-level
//! field in the sources uses (a claim's 都道府県, the first two digits of a
//! facility or municipality code), and the names addresses carry.

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
}
