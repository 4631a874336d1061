//! Reference figures the population is drawn from: Japan's age structure,
//! prefecture populations and mortality. Approximations of public statistics
//! (population estimates of 2023 and the 2020 census, in millions), good to
//! the precision a synthetic population needs.

/// Five-year age bands (lower bound in years) and their population in
/// millions. About 29% of the total is aged 65 and over, as in Japan today.
pub const AGE_BANDS: [(u32, f64); 21] = [
    (0, 4.2),
    (5, 4.8),
    (10, 5.2),
    (15, 5.4),
    (20, 6.2),
    (25, 6.3),
    (30, 6.4),
    (35, 7.2),
    (40, 8.0),
    (45, 9.5),
    (50, 9.4),
    (55, 8.1),
    (60, 7.4),
    (65, 7.4),
    (70, 8.9),
    (75, 7.3),
    (80, 5.9),
    (85, 3.9),
    (90, 1.9),
    (95, 0.6),
    (100, 0.1),
];

/// The 47 prefectures in JIS code order (01 北海道 … 47 沖縄), population in
/// millions (2020 census).
pub const PREFECTURES: [(&str, f64); 47] = [
    ("北海道", 5.22),
    ("青森県", 1.24),
    ("岩手県", 1.21),
    ("宮城県", 2.30),
    ("秋田県", 0.96),
    ("山形県", 1.07),
    ("福島県", 1.83),
    ("茨城県", 2.87),
    ("栃木県", 1.93),
    ("群馬県", 1.94),
    ("埼玉県", 7.34),
    ("千葉県", 6.284),
    ("東京都", 14.05),
    ("神奈川県", 9.24),
    ("新潟県", 2.20),
    ("富山県", 1.03),
    ("石川県", 1.13),
    ("福井県", 0.77),
    ("山梨県", 0.81),
    ("長野県", 2.05),
    ("岐阜県", 1.98),
    ("静岡県", 3.63),
    ("愛知県", 7.54),
    ("三重県", 1.77),
    ("滋賀県", 1.41),
    ("京都府", 2.58),
    ("大阪府", 8.84),
    ("兵庫県", 5.47),
    ("奈良県", 1.32),
    ("和歌山県", 0.92),
    ("鳥取県", 0.55),
    ("島根県", 0.67),
    ("岡山県", 1.89),
    ("広島県", 2.80),
    ("山口県", 1.34),
    ("徳島県", 0.72),
    ("香川県", 0.95),
    ("愛媛県", 1.33),
    ("高知県", 0.69),
    ("福岡県", 5.14),
    ("佐賀県", 0.81),
    ("長崎県", 1.31),
    ("熊本県", 1.74),
    ("大分県", 1.12),
    ("宮崎県", 1.07),
    ("鹿児島県", 1.59),
    ("沖縄県", 1.47),
];

/// Municipalities generated per prefecture. Their codes are synthetic
/// (prefecture code, then 201, 202, …) and their sizes follow a Zipf law, so
/// each prefecture has one large city and a tail of small towns.
pub const MUNICIPALITIES_PER_PREFECTURE: u32 = 24;

/// Probability that a person of this age is female: even at birth, rising in
/// old age as women outlive men.
pub fn female_share(age: u32) -> f64 {
    match age {
        0..=64 => 0.49,
        65..=74 => 0.52,
        75..=84 => 0.57,
        _ => 0.66,
    }
}

/// Yearly probability of death at an age (a Gompertz curve fitted to
/// Japan's life table: about 0.2% at 50, 4% at 80, 11% at 90).
pub fn death_rate(age: u32) -> f64 {
    (1.34e-5 * (0.1 * f64::from(age)).exp()).min(0.6)
}

/// Probability that a woman of this age is married at the start.
pub fn married_share(age: u32) -> f64 {
    match age {
        0..=24 => 0.08,
        25..=29 => 0.35,
        30..=34 => 0.58,
        35..=74 => 0.70,
        _ => 0.45,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn about_29_percent_are_65_and_over() {
        let total: f64 = AGE_BANDS.iter().map(|(_, m)| m).sum();
        let old: f64 = AGE_BANDS
            .iter()
            .filter(|(a, _)| *a >= 65)
            .map(|(_, m)| m)
            .sum();
        let share = old / total;
        assert!((0.28..0.30).contains(&share), "{share}");
    }

    #[test]
    fn mortality_is_plausible() {
        assert!((0.001..0.004).contains(&death_rate(50)));
        assert!((0.03..0.05).contains(&death_rate(80)));
        assert!((0.08..0.14).contains(&death_rate(90)));
    }
}
