//! DPC survey data: the EF file (one row per item per day of care) and
//! 様式1 (FF1: key/value rows per stay), tab-separated Shift_JIS.
//!
//! A record of EF is one patient's block of rows for one stay in the file's
//! month (consecutive rows with the same データ識別番号 and admission date);
//! a record of FF1 is one stay's rows. The patient is known only by the
//! hospital's データ識別番号, which becomes a `local` token with the
//! facility code.

use crate::fields::{Fields, Line, printable_kind, read_lines};
use crate::record::{Record, Rows, Value};
use crate::text;
use crate::{Location, Parsed, Problem};
use niji_core::content;
use niji_linkage::{Identity, Sex, Tokenizer};

/// Splits lines into records: runs of consecutive lines with the same key.
fn groups(lines: &[Line], key: impl Fn(&Line) -> (String, String, String)) -> Vec<&[Line]> {
    let mut out = Vec::new();
    let mut start = 0;
    for i in 1..=lines.len() {
        if i == lines.len() || key(&lines[i]) != key(&lines[start]) {
            if start < i {
                out.push(&lines[start..i]);
            }
            start = i;
        }
    }
    out
}

fn stay_key(line: &Line) -> (String, String, String) {
    let f = |n: usize| line.fields.get(n).unwrap_or("").trim().to_owned();
    (f(1), f(3), f(0))
}

fn fields<'a>(kind: &'a str, line: &Line, values: &'a [&'a str]) -> Fields<'a> {
    Fields {
        kind,
        location: Location::Line(line.number),
        values,
    }
}

fn common<'a>(f: &Fields<'a>) -> Result<(&'a str, &'a str), Problem> {
    let facility = f.digits(1, "facility code", &[7, 9, 10])?;
    let data_id = f.digits(2, "データ識別番号", &[10])?;
    f.date(4, "admission date")?;
    Ok((facility, data_id))
}

pub(crate) fn parse_ef(bytes: &[u8], rows: Rows, tokenizer: &Tokenizer) -> Result<Parsed, Problem> {
    let text = text::shift_jis(bytes, "DPC EF")?;
    let lines = read_lines(&text, b'\t')?;
    let mut parsed = Parsed::new(rows);
    for group in groups(&lines, stay_key) {
        match ef_record(group, tokenizer) {
            Ok(record) => parsed.rows.push(record),
            Err(p) => parsed.rejects.push((Location::Line(group[0].number), p)),
        }
    }
    Ok(parsed)
}

fn ef_record(group: &[Line], tokenizer: &Tokenizer) -> Result<Record, Problem> {
    let mut record: Option<Record> = None;
    let (mut first, mut last, mut points) = (None, None, 0i64);
    let mut claim_type = String::new();
    for line in group {
        let values = line.values();
        let f = fields("EF", line, &values);
        f.at_least(25)?;
        let (facility, data_id) = common(&f)?;
        let record = record.get_or_insert_with(|| {
            let mut r = Record::new(format!("line:{}", line.number), Some(facility.to_owned()));
            r.identify(
                tokenizer,
                &Identity {
                    facility: Some(facility),
                    local_id: Some(data_id),
                    ..Identity::default()
                },
            );
            r
        });
        f.opt_date(3, "discharge date")?;
        let class = f.digits(5, "data class", &[2])?;
        let code = f.digits(9, "code", &[9])?;
        let quantity = f.opt_real(12, "quantity")?;
        let item_points = f.opt_int(14, "points")?;
        let day = f.date(25, "実施年月日")?;
        claim_type = f.get(24).to_owned();
        points += item_points.unwrap_or(0);
        first = first.min(Some(day)).or(Some(day));
        last = last.max(Some(day));
        if code.starts_with('6') {
            record.row(
                &content::DRUGS,
                vec![
                    Value::text(code),
                    Value::text("receipt"),
                    quantity.into(),
                    Value::Int(1),
                    Value::Date(day),
                ],
            );
        } else {
            record.row(
                &content::PROCEDURES,
                vec![
                    Value::text(code),
                    Value::text(class),
                    quantity.into(),
                    item_points.into(),
                    Value::Int(1),
                    Value::Date(day),
                ],
            );
        }
    }
    let mut record =
        record.ok_or_else(|| Problem::at(Location::File, "empty record".to_owned()))?;
    record.row(
        &content::ENCOUNTERS,
        vec![
            Value::text("dpc-stay-month"),
            first.into(),
            last.into(),
            Value::Bool(true),
            Value::opt_text(&claim_type),
            Value::Int(points),
        ],
    );
    Ok(record)
}

pub(crate) fn parse_ff1(
    bytes: &[u8],
    rows: Rows,
    tokenizer: &Tokenizer,
) -> Result<Parsed, Problem> {
    let text = text::shift_jis(bytes, "DPC 様式1")?;
    let lines = read_lines(&text, b'\t')?;
    let mut parsed = Parsed::new(rows);
    let key = |l: &Line| {
        let (a, b, c) = stay_key(l);
        (
            a,
            format!("{b}/{}", l.fields.get(2).unwrap_or("").trim()),
            c,
        )
    };
    for group in groups(&lines, key) {
        match ff1_record(group, tokenizer) {
            Ok(record) => parsed.rows.push(record),
            Err(p) => parsed.rejects.push((Location::Line(group[0].number), p)),
        }
    }
    Ok(parsed)
}

/// What a stay's FF1 rows say.
#[derive(Default)]
struct Stay {
    birth: Option<chrono::NaiveDate>,
    sex: Option<Sex>,
    postcode: Option<String>,
    admitted: Option<chrono::NaiveDate>,
    discharged: Option<chrono::NaiveDate>,
    outcome: Option<String>,
    icd10: Option<String>,
}

fn ff1_row(f: &Fields, stay: &mut Stay) -> Result<(), Problem> {
    let code = f.required(7, "code")?;
    match code {
        "A000010" => {
            stay.birth = Some(f.date(10, "birth date")?);
            stay.sex = Sex::parse(f.one_of(11, "sex", &["1", "2"])?);
            let postcode = f.get(12);
            if !postcode.is_empty() {
                f.digits(12, "postcode", &[7])?;
                stay.postcode = Some(postcode[..3].to_owned());
            }
        }
        "A000020" => stay.admitted = Some(f.date(10, "admission date")?),
        "A000030" => {
            stay.discharged = Some(f.date(10, "discharge date")?);
            stay.outcome = Some(f.required(11, "outcome")?.to_owned());
        }
        "A006010" => {
            let icd = f.required(10, "ICD-10 code")?;
            let valid = icd.len() >= 3
                && icd.as_bytes()[0].is_ascii_uppercase()
                && icd
                    .bytes()
                    .skip(1)
                    .all(|b| b.is_ascii_digit() || b == b'.' || b == b'$');
            if !valid {
                return Err(Problem::field(
                    f.location.clone(),
                    "FF1 field 10 (ICD-10 code)",
                    "not an ICD-10 code",
                ));
            }
            stay.icd10 = Some(icd.to_owned());
        }
        // 様式1 has many more items (A001…, M0…); they carry nothing kept
        // here but are valid.
        c if c.len() == 7
            && c.as_bytes()[0].is_ascii_uppercase()
            && c[1..].bytes().all(|b| b.is_ascii_digit()) => {}
        c => {
            return Err(Problem::at(
                f.location.clone(),
                format!("unknown 様式1 code {}", printable_kind(c)),
            ));
        }
    }
    Ok(())
}

fn ff1_record(group: &[Line], tokenizer: &Tokenizer) -> Result<Record, Problem> {
    let mut stay = Stay::default();
    let mut ids = None;
    for line in group {
        let values = line.values();
        let f = fields("FF1", line, &values);
        f.at_least(10)?;
        let (facility, data_id) = common(&f)?;
        ids.get_or_insert((facility.to_owned(), data_id.to_owned()));
        ff1_row(&f, &mut stay)?;
    }
    let (facility, data_id) = ids.unwrap_or_default();
    let at = Location::Line(group[0].number);
    let (Some(admitted), Some(_)) = (stay.admitted, stay.birth) else {
        return Err(Problem::at(
            at,
            "incomplete stay: A000010 (birth date, sex) and A000020 (admission) are required"
                .to_owned(),
        ));
    };
    let mut record = Record::new(format!("line:{}", group[0].number), Some(facility.clone()));
    // Where the patient lives, as coarse as content keeps any address.
    record.prefecture = stay
        .postcode
        .as_deref()
        .and_then(niji_core::geography::postcode_prefecture);
    record.identify(
        tokenizer,
        &Identity {
            birth: stay.birth,
            sex: stay.sex,
            facility: Some(&facility),
            local_id: Some(&data_id),
            ..Identity::default()
        },
    );
    record.row(
        &content::DPC_STAYS,
        vec![
            Value::Date(admitted),
            stay.discharged.into(),
            stay.outcome.map_or(Value::Null, Value::Text),
            stay.icd10.clone().map_or(Value::Null, Value::Text),
            stay.postcode.map_or(Value::Null, Value::Text),
        ],
    );
    if let Some(icd10) = stay.icd10 {
        record.row(
            &content::DIAGNOSES,
            vec![
                Value::Text(icd10),
                Value::Null,
                Value::Null,
                Value::Bool(true),
                Value::Date(admitted),
                Value::Null,
            ],
        );
    }
    Ok(record)
}
