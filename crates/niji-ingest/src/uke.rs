//! レセ電 medical claims (`RECEIPTC.UKE`): Shift_JIS CSV, `IR` first, then
//! per claim `RE` followed by its `HO`, `KO`, `SN`, `SY`, `SI`, `IY`, `TO`,
//! `CO`, `SJ` records, and `GO` last. Field positions follow domain.md §3.
//!
//! A claim (an RE group) is the unit of quarantine: a claim with a bad
//! field or an unknown record type is left out whole. A file without its
//! `GO`, or whose `GO` counts a different number of claims, is truncated or
//! damaged and is refused whole, so that the complete file can be sent
//! again without duplicating claims.

use crate::fields::{Fields, Line, printable_kind, read_lines};
use crate::record::{Record, Rows, Value};
use crate::text::{self, month_end};
use crate::{Location, Parsed, Problem};
use chrono::{Days, NaiveDate};
use niji_core::content;
use niji_linkage::{Identity, Sex, Tokenizer};

/// Records of a claim that carry nothing this platform keeps (comments,
/// symptom details, public-payer recipient numbers) but are valid.
const PASSED_OVER: [&str; 7] = ["KO", "CO", "SJ", "JD", "MF", "GR", "KH"];

pub(crate) fn parse(bytes: &[u8], rows: Rows, tokenizer: &Tokenizer) -> Result<Parsed, Problem> {
    let text = text::shift_jis(bytes, "レセ電")?;
    let mut parsed = Parsed::new(rows);
    let mut facility: Option<Ir> = None;
    let mut claim: Vec<Line> = Vec::new();
    let mut claims = 0u64;
    let mut go: Option<Line> = None;
    let lines = read_lines(&text, b',')?;
    let last_line = lines.last().map_or(0, |l| l.number);
    for line in lines {
        let number = line.number;
        if let Some(go) = &go {
            return Err(Problem::at(
                Location::Line(number),
                format!("a record after the GO record of line {}", go.number),
            ));
        }
        match line.kind() {
            "IR" if facility.is_none() && number == 1 => facility = Some(ir_facility(&line)?),
            _ if facility.is_none() => {
                return Err(Problem::at(
                    Location::Line(number),
                    "the file does not start with an IR (facility) record".to_owned(),
                ));
            }
            "IR" => {
                return Err(Problem::at(
                    Location::Line(number),
                    "a second IR record".to_owned(),
                ));
            }
            "RE" => {
                finish_claim(&mut parsed, &mut claim, facility.as_ref(), tokenizer);
                claims += 1;
                claim.push(line);
            }
            "GO" => {
                finish_claim(&mut parsed, &mut claim, facility.as_ref(), tokenizer);
                go = Some(line);
            }
            _ if claim.is_empty() => {
                return Err(Problem::at(
                    Location::Line(number),
                    format!(
                        "{} record outside a claim (before any RE)",
                        printable_kind(line.kind())
                    ),
                ));
            }
            _ => claim.push(line),
        }
    }
    let Some(go) = go else {
        return Err(Problem::at(
            Location::Line(last_line.max(1)),
            format!("truncated: the file ends at line {last_line} without its GO (totals) record"),
        ));
    };
    check_totals(&go, claims)?;
    Ok(parsed)
}

/// What the IR record says of the facility.
struct Ir {
    /// The facility code (field 5).
    code: String,
    /// Its prefecture (field 3, 都道府県).
    prefecture: String,
}

/// The facility of the IR record.
fn ir_facility(line: &Line) -> Result<Ir, Problem> {
    let values = line.values();
    let f = Fields {
        kind: "IR",
        location: Location::Line(line.number),
        values: &values,
    };
    f.at_least(5)?;
    Ok(Ir {
        code: f.digits(5, "facility code", &[7, 10])?.to_owned(),
        prefecture: f.digits(3, "prefecture", &[2])?.to_owned(),
    })
}

fn check_totals(go: &Line, claims: u64) -> Result<(), Problem> {
    let values = go.values();
    let f = Fields {
        kind: "GO",
        location: Location::Line(go.number),
        values: &values,
    };
    f.at_least(2)?;
    let counted = f.opt_int(2, "claims")?;
    if counted != Some(claims as i64) {
        return Err(Problem::at(
            Location::Line(go.number),
            format!(
                "GO record counts {} claims but the file has {claims}: damaged or truncated",
                counted.map_or("no".to_owned(), |c| c.to_string())
            ),
        ));
    }
    Ok(())
}

fn finish_claim(
    parsed: &mut Parsed,
    claim: &mut Vec<Line>,
    facility: Option<&Ir>,
    tokenizer: &Tokenizer,
) {
    if claim.is_empty() {
        return;
    }
    let lines = std::mem::take(claim);
    match build_claim(&lines, facility, tokenizer) {
        Ok(record) => parsed.rows.push(record),
        Err(problem) => parsed
            .rejects
            .push((Location::Line(lines[0].number), problem)),
    }
}

/// The identity parts of a claim, borrowed from its lines.
#[derive(Default)]
struct ClaimIdentity<'a> {
    name: Option<&'a str>,
    kana: Option<&'a str>,
    birth: Option<NaiveDate>,
    sex: Option<Sex>,
    chart: Option<&'a str>,
    card: Option<(&'a str, &'a str, &'a str)>,
    branch: Option<&'a str>,
}

fn build_claim(lines: &[Line], ir: Option<&Ir>, tokenizer: &Tokenizer) -> Result<Record, Problem> {
    let facility = ir.map(|ir| ir.code.as_str());
    let split: Vec<Vec<&str>> = lines.iter().map(Line::values).collect();
    let fields = |i: usize| Fields {
        kind: lines[i].kind(),
        location: Location::Line(lines[i].number),
        values: &split[i],
    };
    let re = fields(0);
    let mut record = Record::new(
        format!("line:{}", lines[0].number),
        facility.map(str::to_owned),
    );
    record.prefecture = ir.map(|ir| ir.prefecture.clone());
    let mut id = ClaimIdentity::default();
    let month = header(&re, &mut id)?;
    let mut points = None;
    for i in 1..lines.len() {
        let f = fields(i);
        match f.kind {
            "HO" => {
                f.at_least(6)?;
                let card = (
                    f.required(2, "insurer number")?,
                    f.get(3),
                    f.required(4, "card number")?,
                );
                insurer_digits(&f, 2, card.0)?;
                points = points.or(f.opt_int(6, "points")?);
                id.card = id.card.or(Some(card));
            }
            "SN" => {
                f.at_least(7)?;
                let branch = f.get(7);
                if !branch.is_empty() {
                    f.digits(7, "branch number", &[2])?;
                    id.branch = Some(branch);
                }
            }
            "SY" => diagnosis(&f, &mut record)?,
            "SI" | "TO" => procedure(&f, month, &mut record)?,
            "IY" => drug(&f, month, &mut record)?,
            kind if PASSED_OVER.contains(&kind) => {}
            kind => {
                return Err(Problem::at(
                    f.location.clone(),
                    format!("unknown record type {}", printable_kind(kind)),
                ));
            }
        }
    }
    let admitted = re.opt_date(9, "admission date")?;
    let claim_type = re.get(3);
    let inpatient = admitted.is_some() || claim_type.ends_with(['1', '3', '5', '7', '9']);
    record.row(
        &content::ENCOUNTERS,
        vec![
            Value::text("medical-claim"),
            Value::Date(month),
            Value::Date(month_end(month)),
            Value::Bool(inpatient),
            Value::text(claim_type),
            points.into(),
        ],
    );
    record.identify(
        tokenizer,
        &Identity {
            kanji_name: id.name,
            kana_name: id.kana,
            birth: id.birth,
            sex: id.sex,
            insurer: id.card.map(|c| c.0),
            symbol: id.card.map(|c| c.1),
            number: id.card.map(|c| c.2),
            branch: id.branch,
            facility,
            local_id: id.chart,
            ..Identity::default()
        },
    );
    Ok(record)
}

/// The RE record: claim type, month, identity. Returns the month of care.
fn header<'a>(re: &Fields<'a>, id: &mut ClaimIdentity<'a>) -> Result<NaiveDate, Problem> {
    re.at_least(37)?;
    re.digits(3, "claim type", &[4])?;
    let month = re.month(4, "month of care")?;
    id.sex = Sex::parse(re.one_of(6, "sex", &["1", "2"])?);
    id.birth = Some(re.date(7, "birth date")?);
    id.name = Some(re.required(5, "name")?);
    id.kana = Some(re.get(37)).filter(|k| !k.is_empty());
    id.chart = Some(re.get(14)).filter(|c| !c.is_empty());
    Ok(month)
}

fn insurer_digits(f: &Fields, n: usize, value: &str) -> Result<(), Problem> {
    let digits = niji_linkage::normalize::digits(value);
    if !(digits.len() == 6 || digits.len() == 8) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Problem::field(
            f.location.clone(),
            format!("{} field {n} (insurer number)", f.kind),
            "not a number of 6 or 8 digits",
        ));
    }
    Ok(())
}

fn diagnosis(f: &Fields, record: &mut Record) -> Result<(), Problem> {
    f.at_least(7)?;
    let code = f.digits(2, "diagnosis code", &[7])?;
    let start = f.opt_date(3, "start date")?;
    let outcome = f.get(4);
    if !outcome.is_empty() {
        f.one_of(4, "outcome", &["1", "2", "3", "4"])?;
    }
    // The written name is kept only for uncoded diagnoses (0000999), where
    // it is the diagnosis.
    let name = if code == "0000999" {
        Value::opt_text(f.get(6))
    } else {
        Value::Null
    };
    record.row(
        &content::DIAGNOSES,
        vec![
            Value::Null,
            Value::text(code),
            name,
            Value::Bool(f.get(7) == "01"),
            start.into(),
            Value::opt_text(outcome),
        ],
    );
    Ok(())
}

/// The first day of the month with an entry in the day fields (14–44).
fn first_day(f: &Fields, month: NaiveDate) -> Option<NaiveDate> {
    (14..=44)
        .position(|n| !f.get(n).is_empty())
        .and_then(|i| month.checked_add_days(Days::new(i as u64)))
        .filter(|d| *d <= month_end(month))
}

fn procedure(f: &Fields, month: NaiveDate, record: &mut Record) -> Result<(), Problem> {
    f.at_least(7)?;
    let code = f.digits(4, "code", &[9])?;
    record.row(
        &content::PROCEDURES,
        vec![
            Value::text(code),
            Value::opt_text(f.get(2)),
            f.opt_real(5, "quantity")?.into(),
            f.opt_int(6, "points")?.into(),
            f.opt_int(7, "times")?.into(),
            first_day(f, month).into(),
        ],
    );
    Ok(())
}

fn drug(f: &Fields, month: NaiveDate, record: &mut Record) -> Result<(), Problem> {
    f.at_least(7)?;
    let code = f.digits(4, "drug code", &[9])?;
    f.opt_int(6, "points")?;
    record.row(
        &content::DRUGS,
        vec![
            Value::text(code),
            Value::text("receipt"),
            f.opt_real(5, "quantity")?.into(),
            f.opt_int(7, "times")?.into(),
            first_day(f, month).into(),
        ],
    );
    Ok(())
}
