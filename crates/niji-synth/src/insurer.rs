//! Insurer numbers (保険者番号) and their check digit.
//!
//! An insurer number has eight digits: the law code (法別番号, two digits:
//! 01 協会けんぽ, 06 health-insurance societies, 31–34 mutual-aid
//! associations, 39 後期高齢者医療), the prefecture (two), the insurer within
//! it (three) and a check digit. Municipal national health insurance (国保)
//! numbers have six digits, with no law code; they are written here padded
//! to eight with `00`, which leaves their check digit unchanged because the
//! weights alternate from the left.
//!
//! The check digit: multiply the first seven digits by 2, 1, 2, 1, … from the
//! left, add up the digits of the products, and take what brings the sum to
//! the next multiple of ten.

/// The kinds of public medical insurance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// 全国健康保険協会 (協会けんぽ): employees of small and medium firms.
    Kyokai,
    /// 健康保険組合: employees of large firms.
    Kumiai,
    /// 共済組合: public servants and school staff.
    Kyosai,
    /// 市町村国保: self-employed, non-employed and retired people under 75.
    Kokuho,
    /// 後期高齢者医療: everyone aged 75 and over.
    Koki,
}

impl Scheme {
    /// Employee schemes carry dependants (被扶養者) on the insured's card.
    pub fn is_employee(self) -> bool {
        matches!(self, Scheme::Kyokai | Scheme::Kumiai | Scheme::Kyosai)
    }
}

/// The check digit of an insurer number's first seven digits.
pub fn check_digit(first_seven: &str) -> u32 {
    let sum: u32 = first_seven
        .bytes()
        .enumerate()
        .map(|(i, b)| {
            let product = u32::from(b - b'0') * if i % 2 == 0 { 2 } else { 1 };
            product / 10 + product % 10
        })
        .sum();
    (10 - sum % 10) % 10
}

/// Whether an eight-digit insurer number has a valid check digit.
pub fn is_valid(number: &str) -> bool {
    number.len() == 8
        && number.bytes().all(|b| b.is_ascii_digit())
        && check_digit(&number[..7]) == u32::from(number.as_bytes()[7] - b'0')
}

/// The insurer number of a scheme in a prefecture; `index` picks one of the
/// scheme's insurers there (a society, an association, a municipality).
pub fn insurer_number(scheme: Scheme, prefecture: u32, index: u32) -> String {
    let first_seven = match scheme {
        Scheme::Kyokai => format!("01{prefecture:02}001"),
        Scheme::Kumiai => format!("06{prefecture:02}{:03}", 100 + index % 900),
        Scheme::Kyosai => format!("{}{prefecture:02}{:03}", 31 + index % 4, 1 + index % 999),
        Scheme::Kokuho => format!("00{prefecture:02}{:03}", 1 + index % 999),
        Scheme::Koki => format!("39{prefecture:02}101"),
    };
    let check = check_digit(&first_seven);
    format!("{first_seven}{check}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_digit_follows_the_modulus_10_weights_2_1_rule() {
        // 0113001: 0·2 + 1·1 + 1·2 + 3·1 + 0·2 + 0·1 + 1·2 = 8 → 2.
        assert_eq!(check_digit("0113001"), 2);
        // 3913101: 6 + 9 + 2 + 3 + 2 + 0 + 2 = 24 → 6.
        assert_eq!(check_digit("3913101"), 6);
        // A product of two digits counts as the sum of its digits: 7·2 = 14 → 5.
        assert_eq!(check_digit("7000000"), 5);
        assert!(is_valid("01130012"));
        assert!(!is_valid("01130013"));
        assert!(!is_valid("0113001"));
    }

    #[test]
    fn every_generated_number_is_valid_and_padding_keeps_the_kokuho_digit() {
        for scheme in [
            Scheme::Kyokai,
            Scheme::Kumiai,
            Scheme::Kyosai,
            Scheme::Kokuho,
            Scheme::Koki,
        ] {
            for pref in 1..=47 {
                for index in [0, 1, 57, 998] {
                    let n = insurer_number(scheme, pref, index);
                    assert!(is_valid(&n), "{scheme:?} {n}");
                }
            }
        }
        // The six-digit 国保 number computed on its own gives the same digit.
        let padded = insurer_number(Scheme::Kokuho, 13, 100);
        assert_eq!(
            check_digit(&padded[2..7]),
            u32::from(padded.as_bytes()[7] - b'0')
        );
        assert!(insurer_number(Scheme::Koki, 13, 0).starts_with("39"));
    }
}
