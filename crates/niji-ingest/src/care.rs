//! Long-term care claims (介護給付費明細書): Shift_JIS CSV with a control
//! record (`1,provider,YYYYMM,count`), data records (`2,seq,…`) and an end
//! record (`3,count`). A claim is a basic record (01: month, provider,
//! insurer, insured number, birth date, sex, care level, kana name)
//! followed by its details (02: service type, item, units) and totals (10).
//!
//! A claim is the unit of quarantine. A file without its end record, or
//! whose counts disagree with its records, is refused whole.

use crate::fields::{Fields, Line, printable_kind, read_lines};
use crate::record::{Record, Rows, Value};
use crate::text::{self, month_end};
use crate::{Location, Parsed, Problem};
use niji_core::content;
use niji_linkage::{Identity, Sex, Tokenizer};

/// The care levels (要介護状態区分) a claim may carry.
pub(crate) const LEVELS: [&str; 9] = ["01", "11", "12", "13", "21", "22", "23", "24", "25"];

fn fields<'a>(kind: &'a str, line: &Line, values: &'a [&'a str]) -> Fields<'a> {
    Fields {
        kind,
        location: Location::Line(line.number),
        values,
    }
}

pub(crate) fn parse(bytes: &[u8], rows: Rows, tokenizer: &Tokenizer) -> Result<Parsed, Problem> {
    let text = text::shift_jis(bytes, "介護給付費明細書")?;
    let lines = read_lines(&text, b',')?;
    let mut parsed = Parsed::new(rows);
    let (control, rest) = lines
        .split_first()
        .ok_or_else(|| Problem::at(Location::File, "truncated: the file is empty".to_owned()))?;
    let control_values = control.values();
    let c = fields("control", control, &control_values);
    if control.kind() != "1" {
        return Err(Problem::at(
            Location::Line(control.number),
            "the file does not start with a control record (1)".to_owned(),
        ));
    }
    c.at_least(4)?;
    let provider = c.digits(2, "provider number", &[10])?;
    let declared = c.opt_int(4, "record count")?;
    let Some((end, data)) = rest.split_last().filter(|(end, _)| end.kind() == "3") else {
        let last = lines.last().map_or(1, |l| l.number);
        return Err(Problem::at(
            Location::Line(last),
            format!("truncated: the file ends at line {last} without its end record (3)"),
        ));
    };
    if let Some(bad) = data.iter().find(|l| l.kind() != "2") {
        return Err(Problem::at(
            Location::Line(bad.number),
            format!(
                "record kind {} where data records (2) are expected",
                printable_kind(bad.kind())
            ),
        ));
    }
    let end_values = end.values();
    let e = fields("end", end, &end_values);
    let ended = e.opt_int(2, "record count")?;
    if declared != Some(data.len() as i64) || ended != Some(data.len() as i64 + 1) {
        return Err(Problem::at(
            Location::Line(end.number),
            format!(
                "the control and end records count other than the {} data records: damaged or truncated",
                data.len()
            ),
        ));
    }
    let mut start = 0;
    for i in 1..=data.len() {
        let next_claim = i == data.len() || data[i].fields.get(2).map(str::trim) == Some("01");
        if next_claim {
            let claim = &data[start..i];
            match claim_record(claim, provider, tokenizer) {
                Ok(record) => parsed.rows.push(record),
                Err(p) => parsed.rejects.push((Location::Line(claim[0].number), p)),
            }
            start = i;
        }
    }
    Ok(parsed)
}

fn claim_record(claim: &[Line], provider: &str, tokenizer: &Tokenizer) -> Result<Record, Problem> {
    let values = claim[0].values();
    let basic = fields("01", &claim[0], &values);
    if basic.get(3) != "01" {
        return Err(Problem::at(
            basic.location.clone(),
            format!(
                "record type {} before any basic record (01)",
                printable_kind(basic.get(3))
            ),
        ));
    }
    basic.at_least(11)?;
    let month = basic.month(4, "month of service")?;
    let insurer = basic.digits(6, "insurer number", &[6, 8])?;
    let insured = basic.digits(7, "insured number", &[10])?;
    let birth = basic.date(8, "birth date")?;
    let sex = Sex::parse(basic.one_of(9, "sex", &["1", "2"])?);
    let level = basic.one_of(10, "care level", &LEVELS)?;
    let kana = Some(basic.get(11)).filter(|k| !k.is_empty());
    let mut record = Record::new(
        format!("line:{}", claim[0].number),
        Some(provider.to_owned()),
    );
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
    let mut total = None;
    for line in &claim[1..] {
        let values = line.values();
        let kind = line.fields.get(2).unwrap_or("").trim();
        let f = fields(kind, line, &values);
        match kind {
            "02" => {
                f.at_least(9)?;
                same_person(&f, insured)?;
                record.row(
                    &content::CARE_SERVICES,
                    vec![
                        Value::Date(month),
                        Value::text(f.digits(7, "service type", &[2])?),
                        Value::text(f.digits(8, "service item", &[4])?),
                        Value::Int(f.opt_int(9, "units")?.unwrap_or(0)),
                    ],
                );
            }
            "10" => {
                f.at_least(7)?;
                same_person(&f, insured)?;
                total = f.opt_int(7, "total units")?;
            }
            other => {
                return Err(Problem::at(
                    f.location.clone(),
                    format!("unknown record type {}", printable_kind(other)),
                ));
            }
        }
    }
    record.row(
        &content::ENCOUNTERS,
        vec![
            Value::text("care-claim"),
            Value::Date(month),
            Value::Date(month_end(month)),
            Value::Bool(false),
            Value::Null,
            total.into(),
        ],
    );
    record.row(
        &content::CARE_LEVELS,
        vec![
            Value::text(level),
            Value::Date(month),
            Value::Date(month_end(month)),
        ],
    );
    Ok(record)
}

/// A detail record must be about the basic record's insured person.
fn same_person(f: &Fields, insured: &str) -> Result<(), Problem> {
    if f.get(6) != insured {
        return Err(Problem::field(
            f.location.clone(),
            format!("{} field 6 (insured number)", f.kind),
            "differs from the claim's basic record (01)",
        ));
    }
    Ok(())
}
