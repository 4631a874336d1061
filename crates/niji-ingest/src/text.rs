//! Text decoding and the date notations of the sources.

use crate::{Location, Problem};
use chrono::NaiveDate;
use std::borrow::Cow;

/// Decodes a Shift_JIS (CP932) file. A file that is UTF-8 instead, or has
/// bytes that are not Shift_JIS, is refused with the line of the first bad
/// byte.
pub(crate) fn shift_jis(bytes: &[u8], what: &str) -> Result<String, Problem> {
    if let Ok(utf8) = std::str::from_utf8(bytes)
        && !utf8.is_ascii()
    {
        let line = utf8
            .lines()
            .position(|l| !l.is_ascii())
            .map_or(1, |i| i as u64 + 1);
        return Err(Problem::at(
            Location::Line(line),
            format!("wrong encoding: the file is UTF-8, but {what} files are Shift_JIS (CP932)"),
        ));
    }
    match encoding_rs::SHIFT_JIS.decode_without_bom_handling_and_without_replacement(bytes) {
        Some(text) => Ok(text.into_owned()),
        None => {
            let line = bytes
                .split(|b| *b == b'\n')
                .position(|l| {
                    encoding_rs::SHIFT_JIS
                        .decode_without_bom_handling_and_without_replacement(l)
                        .is_none()
                })
                .map_or(1, |i| i as u64 + 1);
            Err(Problem::at(
                Location::Line(line),
                "wrong encoding: bytes that are not Shift_JIS (CP932)".to_owned(),
            ))
        }
    }
}

/// Decodes a UTF-8 file, refusing anything else with the line of the first
/// bad byte.
pub(crate) fn utf8(bytes: &[u8]) -> Result<Cow<'_, str>, Problem> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(s) => Ok(Cow::Borrowed(s)),
        Err(e) => {
            let line = bytes[..e.valid_up_to()]
                .iter()
                .filter(|b| **b == b'\n')
                .count() as u64
                + 1;
            let hint = if encoding_rs::SHIFT_JIS
                .decode_without_bom_handling_and_without_replacement(bytes)
                .is_some()
            {
                " (it looks like Shift_JIS)"
            } else {
                ""
            };
            Err(Problem::at(
                Location::Line(line),
                format!("wrong encoding: bytes that are not UTF-8{hint}"),
            ))
        }
    }
}

/// First year of each era code: 1 明治, 2 大正, 3 昭和, 4 平成, 5 令和.
const ERAS: [i32; 5] = [1868, 1912, 1926, 1989, 2019];

fn era_year(code: u8, yy: i32) -> Option<i32> {
    let base = ERAS.get(usize::from(code.checked_sub(b'1')?))?;
    (yy >= 1).then_some(base + yy - 1)
}

fn num(s: &str) -> Option<i32> {
    if s.bytes().all(|b| b.is_ascii_digit()) {
        s.parse().ok()
    } else {
        None
    }
}

/// A date as the sources write it: Gregorian `YYYYMMDD` or `YYYY-MM-DD`, or
/// era-coded `GYYMMDD`.
pub(crate) fn date(s: &str) -> Option<NaiveDate> {
    let s = s.trim();
    // Byte offsets below are character offsets only in ASCII.
    if !s.is_ascii() {
        return None;
    }
    let (y, m, d) = match s.len() {
        8 => (num(&s[..4])?, num(&s[4..6])?, num(&s[6..])?),
        7 => {
            let era = s.as_bytes()[0];
            (
                era_year(era, num(&s[1..3])?)?,
                num(&s[3..5])?,
                num(&s[5..])?,
            )
        }
        10 if &s[4..5] == "-" && &s[7..8] == "-" => (num(&s[..4])?, num(&s[5..7])?, num(&s[8..])?),
        _ => return None,
    };
    NaiveDate::from_ymd_opt(y, u32::try_from(m).ok()?, u32::try_from(d).ok()?)
}

/// A month as its first day: Gregorian `YYYYMM` or era-coded `GYYMM`.
pub(crate) fn month(s: &str) -> Option<NaiveDate> {
    let s = s.trim();
    if !s.is_ascii() {
        return None;
    }
    let (y, m) = match s.len() {
        6 => (num(&s[..4])?, num(&s[4..])?),
        5 => (era_year(s.as_bytes()[0], num(&s[1..3])?)?, num(&s[3..])?),
        _ => return None,
    };
    NaiveDate::from_ymd_opt(y, u32::try_from(m).ok()?, 1)
}

/// The last day of the month that `first` starts.
pub(crate) fn month_end(first: NaiveDate) -> NaiveDate {
    first
        .checked_add_months(chrono::Months::new(1))
        .and_then(|d| d.pred_opt())
        .unwrap_or(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ymd(y: i32, m: u32, d: u32) -> Option<NaiveDate> {
        NaiveDate::from_ymd_opt(y, m, d)
    }

    #[test]
    fn gregorian_and_era_dates() {
        assert_eq!(date("20190125"), ymd(2019, 1, 25));
        assert_eq!(date("2019-01-25"), ymd(2019, 1, 25));
        // 昭和 30 = 1955, 平成 1 = 1989, 令和 2 = 2020, 明治 45 = 1912, 大正 15 = 1926.
        assert_eq!(date("3300401"), ymd(1955, 4, 1));
        assert_eq!(date("4010108"), ymd(1989, 1, 8));
        assert_eq!(date("5020229"), ymd(2020, 2, 29));
        assert_eq!(date("1450729"), ymd(1912, 7, 29));
        assert_eq!(date("2151224"), ymd(1926, 12, 24));
        assert_eq!(month("201904"), ymd(2019, 4, 1));
        assert_eq!(month("43104"), ymd(2019, 4, 1));
    }

    #[test]
    fn bad_dates_are_none() {
        for bad in [
            "",
            "2019013",
            "20190230",
            "6010101",
            "0010101",
            "3000101",
            "2019-1-25",
            "２０１９０１２５",
            "4001301",
            // Multi-byte characters whose byte length fits a date shape
            // (found by the uke fuzz target: slicing them panicked).
            "20ｴ201",
            "4ｴ0101",
            "20ｴ1-01-01",
        ] {
            assert_eq!(date(bad), None, "{bad}");
        }
        assert_eq!(month("201913"), None);
        assert_eq!(month("2019"), None);
        assert_eq!(month("20ｴ1"), None);
        assert_eq!(month("ｴ01"), None);
    }

    #[test]
    fn encodings_are_named() {
        let sjis = encoding_rs::SHIFT_JIS.encode("IR,1,山田\r\n").0;
        assert_eq!(shift_jis(&sjis, "UKE").unwrap(), "IR,1,山田\r\n");
        let err = shift_jis("IR\r\n山田\r\n".as_bytes(), "UKE").unwrap_err();
        assert_eq!(err.location, Location::Line(2));
        assert!(err.reason.contains("UTF-8"), "{}", err.reason);
        let err = shift_jis(b"IR\r\nA,\x82\xff\r\n", "UKE").unwrap_err();
        assert_eq!(err.location, Location::Line(2));
        let err = utf8(&sjis).unwrap_err();
        assert!(err.reason.contains("Shift_JIS"), "{}", err.reason);
    }
}
