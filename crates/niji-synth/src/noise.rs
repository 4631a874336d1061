//! Notation noise: the ways real source files write the same identity
//! differently. Record linkage in Japan failed for checkups in FY2009 largely
//! on these (a space between names, era against Gregorian dates, full- and
//! half-width characters), so the synthetic files carry them at documented
//! rates, and the truth files never do.

use crate::Ymd;
use chrono::{Datelike, NaiveDate};
use rand::Rng;

/// Rates of each kind of notation noise. Defaults are documented in
/// `niji synth --help` and measured by the tests.
#[derive(Debug, Clone, PartialEq)]
pub struct Noise {
    /// Share of kana names written in half-width katakana (ｻﾄｳ).
    pub half_width_kana: f64,
    /// Share of names written with no space between family and given name
    /// (the rest have a full-width space, a few a half-width one).
    pub no_name_space: f64,
    /// Share of kana names whose small kana (ァ, ッ, ャ …) are written large.
    pub large_small_kana: f64,
    /// Share of kana names whose long vowels are written with a mark in one
    /// of its variants (ー, ｰ, －, ‐) instead of ウ/イ.
    pub long_vowel_mark: f64,
    /// Share of card symbols and numbers written in full-width digits.
    pub full_width_digits: f64,
    /// Share of facilities whose claims before April 2020 date births in the
    /// era code (GYYMMDD) instead of the Gregorian calendar.
    pub era_dates: f64,
    /// Share of claims before April 2021 that lack the branch number (枝番
    /// was recorded on claims from then on); a small share after.
    pub missing_branch: f64,
    /// Share of records with no kana name.
    pub missing_kana: f64,
    /// Share of kana names with a typing error (one kana swapped for a
    /// similar one).
    pub typo: f64,
}

impl Default for Noise {
    fn default() -> Self {
        Self {
            half_width_kana: 0.3,
            no_name_space: 0.25,
            large_small_kana: 0.05,
            long_vowel_mark: 0.1,
            full_width_digits: 0.1,
            era_dates: 0.5,
            missing_branch: 0.5,
            missing_kana: 0.03,
            typo: 0.005,
        }
    }
}

impl Noise {
    /// The rates by flag name, for validation and reports.
    pub fn rates(&self) -> [(&'static str, f64); 9] {
        [
            ("half-width-kana", self.half_width_kana),
            ("no-name-space", self.no_name_space),
            ("large-small-kana", self.large_small_kana),
            ("long-vowel-mark", self.long_vowel_mark),
            ("full-width-digits", self.full_width_digits),
            ("era-dates", self.era_dates),
            ("missing-branch", self.missing_branch),
            ("missing-kana", self.missing_kana),
            ("typo", self.typo),
        ]
    }
}

impl Noise {
    /// The space a record puts between family and given name: none, a
    /// full-width space, or (one time in ten) a half-width one.
    pub fn separator(&self, rng: &mut impl Rng) -> &'static str {
        if rng.random_bool(self.no_name_space) {
            ""
        } else if rng.random_bool(0.9) {
            "　"
        } else {
            " "
        }
    }

    /// A kana name as a source system writes it, or `None` where the record
    /// has none.
    pub fn kana_name(&self, rng: &mut impl Rng, family: &str, given: &str) -> Option<String> {
        if rng.random_bool(self.missing_kana) {
            return None;
        }
        let mut kana = format!("{family}{}{given}", self.separator(rng));
        if rng.random_bool(self.long_vowel_mark) {
            kana = long_vowel_mark(&kana, LONG_VOWEL_MARKS[rng.random_range(0..4)]);
        }
        if rng.random_bool(self.large_small_kana) {
            kana = large_small_kana(&kana);
        }
        if rng.random_bool(self.typo) {
            kana = typo(&kana, rng);
        }
        if rng.random_bool(self.half_width_kana) {
            kana = half_width_kana(&kana);
        }
        Some(kana)
    }

    /// Card digits as a source system writes them.
    pub fn digits(&self, rng: &mut impl Rng, digits: &str) -> String {
        if rng.random_bool(self.full_width_digits) {
            full_width_digits(digits)
        } else {
            digits.to_owned()
        }
    }
}

/// The four long-vowel marks found in real files.
pub const LONG_VOWEL_MARKS: [char; 4] = ['ー', 'ｰ', '－', '‐'];

/// Full-width katakana → half-width, with voiced marks split off as real
/// half-width text has them (ガ → ｶﾞ).
pub fn half_width_kana(text: &str) -> String {
    const PLAIN: &str = "ァアィイゥウェエォオカキクケコサシスセソタチッツテトナニヌネノハヒフヘホマミムメモャヤュユョヨラリルレロワヲンー";
    const HALF: &str = "ｧｱｨｲｩｳｪｴｫｵｶｷｸｹｺｻｼｽｾｿﾀﾁｯﾂﾃﾄﾅﾆﾇﾈﾉﾊﾋﾌﾍﾎﾏﾐﾑﾒﾓｬﾔｭﾕｮﾖﾗﾘﾙﾚﾛﾜｦﾝｰ";
    const VOICED: &str = "ガギグゲゴザジズゼゾダヂヅデドバビブベボ";
    const VOICED_BASE: &str = "カキクケコサシスセソタチツテトハヒフヘホ";
    const SEMI: &str = "パピプペポ";
    const SEMI_BASE: &str = "ハヒフヘホ";
    let half_of = |c: char| {
        PLAIN
            .chars()
            .position(|p| p == c)
            .and_then(|i| HALF.chars().nth(i))
    };
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if let Some(i) = VOICED.chars().position(|v| v == c) {
            let base = VOICED_BASE.chars().nth(i).and_then(half_of).unwrap_or(c);
            out.push(base);
            out.push('ﾞ');
        } else if let Some(i) = SEMI.chars().position(|v| v == c) {
            let base = SEMI_BASE.chars().nth(i).and_then(half_of).unwrap_or(c);
            out.push(base);
            out.push('ﾟ');
        } else if c == 'ヴ' {
            out.push_str("ｳﾞ");
        } else if c == '　' {
            out.push(' ');
        } else {
            out.push(half_of(c).unwrap_or(c));
        }
    }
    out
}

/// Small kana written large: ッ → ツ, ャ → ヤ, …
pub fn large_small_kana(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            'ァ' => 'ア',
            'ィ' => 'イ',
            'ゥ' => 'ウ',
            'ェ' => 'エ',
            'ォ' => 'オ',
            'ッ' => 'ツ',
            'ャ' => 'ヤ',
            'ュ' => 'ユ',
            'ョ' => 'ヨ',
            other => other,
        })
        .collect()
}

/// Long vowels written with a mark: the ウ after an オ-row kana (サトウ →
/// サトー) and the イ after an エ-row kana (ケイコ → ケーコ).
pub fn long_vowel_mark(text: &str, mark: char) -> String {
    const O_ROW: &str = "オコソトノホモヨロヲゴゾドボポョ";
    const E_ROW: &str = "エケセテネヘメレゲゼデベペ";
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    for (i, &c) in chars.iter().enumerate() {
        let previous = i.checked_sub(1).map(|j| chars[j]);
        let lengthens = match (previous, c) {
            (Some(p), 'ウ') => O_ROW.contains(p),
            (Some(p), 'イ') => E_ROW.contains(p),
            _ => false,
        };
        out.push(if lengthens { mark } else { c });
    }
    out
}

/// ASCII digits → full-width digits.
pub fn full_width_digits(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '0'..='9' => char::from_u32(c as u32 - '0' as u32 + '０' as u32).unwrap_or(c),
            other => other,
        })
        .collect()
}

/// A plausible typing error: one kana swapped for its neighbour in the
/// syllabary (キ → ク), as a slip of the finger or the ear would.
pub fn typo(text: &str, rng: &mut impl Rng) -> String {
    let chars: Vec<char> = text.chars().collect();
    let swappable: Vec<usize> = chars
        .iter()
        .enumerate()
        .filter(|(_, c)| ('ア'..='ン').contains(*c) && !matches!(c, 'ン' | 'ッ'))
        .map(|(i, _)| i)
        .collect();
    if swappable.is_empty() {
        return text.to_owned();
    }
    let i = swappable[rng.random_range(0..swappable.len())];
    let mut out = chars.clone();
    // Katakana sit two code points apart for each plain syllable (ア ィ イ …
    // interleave small forms); the next plain syllable is 2 further on.
    out[i] = char::from_u32(chars[i] as u32 + 2)
        .filter(|c| ('ア'..='ン').contains(c))
        .unwrap_or('ア');
    out.into_iter().collect()
}

/// The era code date GYYMMDD: 1 明治, 2 大正, 3 昭和, 4 平成, 5 令和.
pub fn era_date(date: NaiveDate) -> String {
    let eras = [
        (5, NaiveDate::from_ymd_opt(2019, 5, 1)),
        (4, NaiveDate::from_ymd_opt(1989, 1, 8)),
        (3, NaiveDate::from_ymd_opt(1926, 12, 25)),
        (2, NaiveDate::from_ymd_opt(1912, 7, 30)),
        (1, NaiveDate::from_ymd_opt(1868, 1, 25)),
    ];
    for (code, start) in eras {
        let start = start.expect("valid era start");
        if date >= start {
            let year = date.year() - start.year() + 1;
            return format!("{code}{year:02}{:02}{:02}", date.month(), date.day());
        }
    }
    Ymd::new(date, "").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn half_width_splits_voiced_marks() {
        assert_eq!(half_width_kana("ヤマダ　タロウ"), "ﾔﾏﾀﾞ ﾀﾛｳ");
        assert_eq!(half_width_kana("ハットリ"), "ﾊｯﾄﾘ");
        assert_eq!(half_width_kana("パン"), "ﾊﾟﾝ");
        assert_eq!(half_width_kana("ユーコ"), "ﾕｰｺ");
    }

    #[test]
    fn small_kana_grow_and_long_vowels_take_marks() {
        assert_eq!(large_small_kana("ハットリ キョウコ"), "ハツトリ キヨウコ");
        assert_eq!(long_vowel_mark("サトウ", 'ー'), "サトー");
        assert_eq!(long_vowel_mark("ケイコ", '－'), "ケ－コ");
        // ウ after an ア-row kana is not a long vowel: カウ stays.
        assert_eq!(long_vowel_mark("カウ", 'ー'), "カウ");
    }

    #[test]
    fn digits_and_typos() {
        assert_eq!(full_width_digits("12-34"), "１２-３４");
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        for _ in 0..50 {
            let t = typo("スズキ", &mut rng);
            assert_eq!(t.chars().count(), 3);
            assert_ne!(t, "スズキ");
            assert!(t.chars().all(|c| ('ァ'..='ン').contains(&c)), "{t}");
        }
    }

    #[test]
    fn era_codes_follow_the_era_boundaries() {
        let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day).unwrap();
        assert_eq!(era_date(d(1989, 1, 7)), "3640107");
        assert_eq!(era_date(d(1989, 1, 8)), "4010108");
        assert_eq!(era_date(d(2019, 4, 30)), "4310430");
        assert_eq!(era_date(d(2019, 5, 1)), "5010501");
        assert_eq!(era_date(d(1926, 12, 24)), "2151224");
        assert_eq!(era_date(d(1950, 6, 15)), "3250615");
    }
}
