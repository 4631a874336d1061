//! The UTF-8 CSV sources with a header row: care-need certifications and
//! the eligibility history. One line is one record.

use crate::care::LEVELS;
use crate::detect::{CERTIFICATION_HEADER, ELIGIBILITY_HEADER};
use crate::fields::{Fields, Line, read_lines};
use crate::record::{Record, Rows, Value};
use crate::{Location, Parsed, Problem, text};
use niji_core::content;
use niji_linkage::{Identity, Sex, Tokenizer};

/// Reads the lines after the expected header; each becomes a record or a
/// reject.
fn each_line(
    bytes: &[u8],
    header: &str,
    rows: Rows,
    kind: &str,
    mut build: impl FnMut(&Fields) -> Result<Record, Problem>,
) -> Result<Parsed, Problem> {
    let text = text::utf8(bytes)?;
    let lines = read_lines(&text, b',')?;
    let Some((first, rest)) = lines.split_first() else {
        return Err(Problem::at(
            Location::File,
            "truncated: the file is empty".to_owned(),
        ));
    };
    if first.values().join(",") != header {
        return Err(Problem::at(
            Location::Line(first.number),
            format!("the header row is not the {kind} header"),
        ));
    }
    let columns = first.fields.len();
    let mut parsed = Parsed::new(rows);
    for line in rest {
        let values = line.values();
        let f = Fields {
            kind,
            location: Location::Line(line.number),
            values: &values,
        };
        let result = if values.len() == columns {
            build(&f)
        } else {
            Err(wrong_count(line, columns))
        };
        match result {
            Ok(record) => parsed.rows.push(record),
            Err(p) => parsed.rejects.push((Location::Line(line.number), p)),
        }
    }
    Ok(parsed)
}

fn wrong_count(line: &Line, columns: usize) -> Problem {
    Problem::at(
        Location::Line(line.number),
        format!(
            "wrong field count: {} fields where the header has {columns}",
            line.fields.len()
        ),
    )
}

pub(crate) fn certifications(
    bytes: &[u8],
    rows: Rows,
    tokenizer: &Tokenizer,
) -> Result<Parsed, Problem> {
    each_line(bytes, CERTIFICATION_HEADER, rows, "certification", |f| {
        let insurer = f.digits(1, "insurer number", &[6, 8])?;
        let insured = f.digits(2, "insured number", &[10])?;
        let birth = f.date(3, "birth date")?;
        let sex = Sex::parse(f.one_of(4, "sex", &["1", "2"])?);
        let kana = Some(f.get(5)).filter(|k| !k.is_empty());
        let level = f.one_of(6, "care level", &LEVELS)?;
        let from = f.date(7, "valid from")?;
        let to = f.opt_date(8, "valid to")?;
        if to.is_some_and(|to| to < from) {
            return Err(Problem::field(
                f.location.clone(),
                "certification field 8 (valid to)",
                "ends before it starts",
            ));
        }
        let mut record = Record::new(format!("line:{}", line_of(f)), None);
        record.identify(
            tokenizer,
            &Identity {
                kana_name: kana,
                birth: Some(birth),
                sex,
                care: Some((insurer, insured)),
                ..Identity::default()
            },
        );
        record.row(
            &content::CARE_LEVELS,
            vec![Value::text(level), Value::Date(from), to.into()],
        );
        Ok(record)
    })
}

fn line_of(f: &Fields) -> u64 {
    match f.location {
        Location::Line(n) => n,
        _ => 0,
    }
}

pub(crate) fn eligibility(
    bytes: &[u8],
    rows: Rows,
    tokenizer: &Tokenizer,
) -> Result<Parsed, Problem> {
    each_line(bytes, ELIGIBILITY_HEADER, rows, "eligibility", |f| {
        let insurer = f.digits(1, "insurer number", &[8])?;
        let number = f.required(3, "number")?;
        let branch = f.digits(4, "branch number", &[2])?;
        let birth = f.date(5, "birth date")?;
        let oldest_insurer = f.digits(6, "oldest insurer number", &[8])?;
        let oldest_number = f.required(8, "oldest number")?;
        let oldest_branch = f.digits(9, "oldest branch number", &[2])?;
        let mut record = Record::new(format!("line:{}", line_of(f)), None);
        record.identify(
            tokenizer,
            &Identity {
                birth: Some(birth),
                insurer: Some(insurer),
                symbol: Some(f.get(2)),
                number: Some(number),
                branch: Some(branch),
                oldest: Some((oldest_insurer, f.get(7), oldest_number, oldest_branch)),
                ..Identity::default()
            },
        );
        Ok(record)
    })
}
