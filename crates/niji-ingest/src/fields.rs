//! Reading numbered fields of a delimited record, with problems that name
//! the record kind, the field's number and its meaning, never its value.

use crate::text;
use crate::{Location, Problem};
use chrono::NaiveDate;

/// A delimited record: its kind, where it is, and its fields (field 1 is
/// the first, as the format specifications count).
pub(crate) struct Fields<'a> {
    pub kind: &'a str,
    pub location: Location,
    pub values: &'a [&'a str],
}

impl<'a> Fields<'a> {
    fn problem(&self, n: usize, label: &str, reason: &str) -> Problem {
        Problem::field(
            self.location.clone(),
            format!("{} field {n} ({label})", self.kind),
            reason,
        )
    }

    /// Refuses a record with fewer than `n` fields.
    pub fn at_least(&self, n: usize) -> Result<(), Problem> {
        if self.values.len() < n {
            return Err(Problem::at(
                self.location.clone(),
                format!(
                    "wrong field count: {} record has {} fields, at least {n} expected",
                    self.kind,
                    self.values.len()
                ),
            ));
        }
        Ok(())
    }

    /// Field `n`, trimmed; empty when absent.
    pub fn get(&self, n: usize) -> &'a str {
        self.values.get(n - 1).map_or("", |v| v.trim())
    }

    /// Field `n`, which must not be empty.
    pub fn required(&self, n: usize, label: &str) -> Result<&'a str, Problem> {
        let v = self.get(n);
        if v.is_empty() {
            return Err(self.problem(n, label, "missing"));
        }
        Ok(v)
    }

    /// A required date (Gregorian or era-coded).
    pub fn date(&self, n: usize, label: &str) -> Result<NaiveDate, Problem> {
        let v = self.required(n, label)?;
        text::date(v).ok_or_else(|| {
            self.problem(
                n,
                label,
                "bad date: not a valid date in YYYYMMDD or era-coded GYYMMDD form",
            )
        })
    }

    /// An optional date; empty or all zeros is none.
    pub fn opt_date(&self, n: usize, label: &str) -> Result<Option<NaiveDate>, Problem> {
        let v = self.get(n);
        if v.is_empty() || v.bytes().all(|b| b == b'0') {
            return Ok(None);
        }
        self.date(n, label).map(Some)
    }

    /// A required month (first day).
    pub fn month(&self, n: usize, label: &str) -> Result<NaiveDate, Problem> {
        let v = self.required(n, label)?;
        text::month(v).ok_or_else(|| {
            self.problem(
                n,
                label,
                "bad month: not a valid month in YYYYMM or era-coded GYYMM form",
            )
        })
    }

    /// A required field of ASCII digits of one of the given lengths.
    pub fn digits(&self, n: usize, label: &str, lengths: &[usize]) -> Result<&'a str, Problem> {
        let v = self.required(n, label)?;
        if !v.bytes().all(|b| b.is_ascii_digit()) || !lengths.contains(&v.len()) {
            let lengths: Vec<String> = lengths.iter().map(|l| l.to_string()).collect();
            return Err(self.problem(
                n,
                label,
                &format!("not a number of {} digits", lengths.join(" or ")),
            ));
        }
        Ok(v)
    }

    /// An optional integer.
    pub fn opt_int(&self, n: usize, label: &str) -> Result<Option<i64>, Problem> {
        let v = self.get(n);
        if v.is_empty() {
            return Ok(None);
        }
        v.parse()
            .map(Some)
            .map_err(|_| self.problem(n, label, "not an integer"))
    }

    /// An optional decimal number.
    pub fn opt_real(&self, n: usize, label: &str) -> Result<Option<f64>, Problem> {
        let v = self.get(n);
        if v.is_empty() {
            return Ok(None);
        }
        match v.parse::<f64>() {
            Ok(x) if x.is_finite() => Ok(Some(x)),
            _ => Err(self.problem(n, label, "not a number")),
        }
    }

    /// A required field whose value is one of `allowed`.
    pub fn one_of(&self, n: usize, label: &str, allowed: &[&str]) -> Result<&'a str, Problem> {
        let v = self.required(n, label)?;
        if !allowed.contains(&v) {
            return Err(self.problem(n, label, &format!("not one of {}", allowed.join(", "))));
        }
        Ok(v)
    }
}

/// A record kind as it may be printed: two ASCII letters or digits are a
/// record type; anything else is not shown, since it may be personal text.
pub(crate) fn printable_kind(kind: &str) -> String {
    if kind.len() <= 4 && kind.bytes().all(|b| b.is_ascii_alphanumeric()) {
        format!("`{kind}`")
    } else {
        "(not a record type)".to_owned()
    }
}

/// Refuses text holding a control character other than tab and line ends:
/// none of the formats has one, so it is damage (a NUL from a broken
/// transfer), and a damaged name would otherwise hash to a token that links
/// no one. A DOS end-of-file mark (U+001A) is allowed at the very end.
pub(crate) fn control_characters(text: &str) -> Result<(), Problem> {
    let body = text.trim_end_matches(['\u{1a}', '\r', '\n']);
    let found = body
        .char_indices()
        .find(|(_, c)| c.is_control() && !matches!(c, '\t' | '\r' | '\n'));
    match found {
        None => Ok(()),
        Some((at, c)) => Err(Problem::at(
            Location::Line(body[..at].matches('\n').count() as u64 + 1),
            format!(
                "damaged: a control character (U+{:04X}) that the format never holds",
                u32::from(c)
            ),
        )),
    }
}

/// One delimited line: its 1-based number and its fields.
pub(crate) struct Line {
    pub number: u64,
    pub fields: csv::StringRecord,
}

impl Line {
    /// Field 1, trimmed: the record kind of most formats.
    pub fn kind(&self) -> &str {
        self.fields.get(0).unwrap_or("").trim()
    }

    /// The fields as string slices, for [`Fields`].
    pub fn values(&self) -> Vec<&str> {
        self.fields.iter().collect()
    }
}

/// Every line of a delimited text (no header row), with its line number.
/// Empty lines are skipped, and a final end-of-file mark; a control
/// character or bad quoting refuses the file at its line.
pub(crate) fn read_lines(text: &str, delimiter: u8) -> Result<Vec<Line>, Problem> {
    control_characters(text)?;
    let text = text.trim_end_matches('\u{1a}');
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .from_reader(text.as_bytes());
    let mut lines = Vec::new();
    let mut record = csv::StringRecord::new();
    // csv's own line count lags on CRLF input, and a record's start offset
    // can point at the line end before it; lines are counted from the
    // offsets, past any line ends.
    let (mut line, mut counted_to) = (1u64, 0usize);
    let bytes = text.as_bytes();
    let mut line_of = |byte: u64| {
        let mut byte = (byte as usize).min(text.len());
        while byte < bytes.len() && matches!(bytes[byte], b'\r' | b'\n') {
            byte += 1;
        }
        if byte > counted_to {
            line += bytes[counted_to..byte]
                .iter()
                .filter(|b| **b == b'\n')
                .count() as u64;
            counted_to = byte;
        }
        line
    };
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => return Ok(lines),
            Ok(true) => lines.push(Line {
                number: line_of(record.position().map_or(0, |p| p.byte())),
                fields: record.clone(),
            }),
            Err(e) => {
                let at = line_of(e.position().map_or(u64::MAX, |p| p.byte()));
                return Err(Problem::at(
                    Location::Line(at),
                    "unreadable line: malformed quoting".to_owned(),
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_refuse_the_text_at_their_line() {
        let e = read_lines("a,1\r\nb,\u{0}2\r\n", b',').err().unwrap();
        assert_eq!(e.location, Location::Line(2));
        assert!(e.reason.contains("U+0000"), "{}", e.reason);
        // Tabs, line ends and a final end-of-file mark are not damage.
        assert_eq!(read_lines("a\t1\r\nb,2\r\n\u{1a}", b',').unwrap().len(), 2);
        assert!(read_lines("a,1\u{1a}\r\nb,2", b',').is_err());
    }

    #[test]
    fn lines_are_numbered_from_one_and_blank_lines_count() {
        let lines = read_lines("a,1\r\nb,2\r\n\r\nc,3\r\n", b',').unwrap();
        let numbers: Vec<u64> = lines.iter().map(|l| l.number).collect();
        assert_eq!(numbers, [1, 2, 4]);
        assert_eq!(lines[2].kind(), "c");
    }
}
