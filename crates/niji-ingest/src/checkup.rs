//! Specific health checkups (特定健診): HL7 CDA R2 documents in hc08 style,
//! alone or in ZIP archives as they are submitted. The person is named in
//! `recordTarget/patientRole` by the insurer number and card fields (ids
//! under the 1.2.392.200119.6.* roots), a kana name, sex and birth date;
//! each result is an `observation` coded in JLAC10.
//!
//! A document is the unit of quarantine. An archive that cannot be opened
//! as ZIP (truncated, damaged) is refused whole.

use crate::record::{Record, Rows, Value};
use crate::{Location, Parsed, Problem, text};
use chrono::NaiveDate;
use niji_core::content;
use niji_linkage::{Identity, Sex, Tokenizer};
use quick_xml::XmlVersion;
use quick_xml::events::{BytesStart, Event};
use std::io::Read;

const INSURER: &str = "1.2.392.200119.6.101";
const SYMBOL: &str = "1.2.392.200119.6.204";
const NUMBER: &str = "1.2.392.200119.6.205";
const BRANCH: &str = "1.2.392.200119.6.211";
const JLAC10: &str = "1.2.392.200119.6.1005";
/// No checkup document is anywhere near this; a larger entry is refused
/// rather than inflated into memory.
const MAX_DOCUMENT: u64 = 16 << 20;

/// What a document says, identity and content apart.
#[derive(Default)]
struct Document {
    insurer: Option<String>,
    symbol: Option<String>,
    number: Option<String>,
    branch: Option<String>,
    kana: String,
    sex: Option<String>,
    birth: Option<String>,
    effective: Option<String>,
    results: Vec<Item>,
}

/// One observation as written.
struct Item {
    code: String,
    value: Option<String>,
    value_code: Option<String>,
    unit: Option<String>,
    line: u64,
}

/// The line a problem of the whole text names (1 when it names none).
fn line_of(p: &Problem) -> u64 {
    match p.location {
        Location::Line(n) => n,
        _ => 1,
    }
}

fn line_at(text: &str, offset: u64) -> u64 {
    let end = (offset as usize).min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|b| **b == b'\n')
        .count() as u64
        + 1
}

fn attr(e: &BytesStart, name: &str) -> Option<String> {
    e.attributes()
        .flatten()
        .find(|a| a.key.as_ref() == name)
        .and_then(|a| {
            a.normalized_value(XmlVersion::Explicit1_0)
                .ok()
                .map(|v| v.trim().to_owned())
        })
}

/// Reads the document's elements. `at` makes a location from a line.
fn read(text: &str, at: &dyn Fn(u64) -> Location) -> Result<Document, Problem> {
    let mut reader = quick_xml::Reader::from_str(text);
    let mut doc = Document::default();
    let mut in_name = false;
    let mut code: Option<String> = None;
    let mut root_seen = false;
    // Elements open: a document cut short ends with some still open.
    let mut open = 0usize;
    crate::fields::control_characters(text).map_err(|p| Problem::at(at(line_of(&p)), p.reason))?;
    loop {
        let position = reader.buffer_position();
        let event = reader.read_event().map_err(|e| {
            Problem::at(
                at(line_at(text, reader.error_position().max(position))),
                format!("malformed XML: {}", xml_reason(&e)),
            )
        })?;
        if matches!(event, Event::Start(_)) {
            open += 1;
        }
        match event {
            Event::Eof => break,
            Event::Start(e) | Event::Empty(e) => {
                let name = e.local_name();
                let name = name.as_ref();
                if !root_seen {
                    if name != "ClinicalDocument" {
                        return Err(Problem::at(
                            at(line_at(text, position)),
                            "not a CDA document: the root element is not ClinicalDocument"
                                .to_owned(),
                        ));
                    }
                    root_seen = true;
                }
                element(&mut doc, name, &e, &mut code, line_at(text, position));
                in_name = name == "name";
            }
            Event::Text(t) if in_name => doc.kana.push_str(&t.xml_content(XmlVersion::Explicit1_0)),
            Event::End(_) => {
                in_name = false;
                open = open.saturating_sub(1);
            }
            _ => {}
        }
    }
    if !root_seen {
        return Err(Problem::at(
            at(1),
            "truncated: no ClinicalDocument element".to_owned(),
        ));
    }
    if open > 0 {
        return Err(Problem::at(
            at(line_at(text, text.len() as u64)),
            format!("truncated: {open} elements not closed at the end of the document"),
        ));
    }
    Ok(doc)
}

fn xml_reason(e: &quick_xml::Error) -> String {
    // quick-xml's messages name tags and positions, not text content.
    let s = e.to_string();
    s.chars().take(120).collect()
}

fn element(doc: &mut Document, name: &str, e: &BytesStart, code: &mut Option<String>, line: u64) {
    match name {
        "effectiveTime" if doc.effective.is_none() => doc.effective = attr(e, "value"),
        "administrativeGenderCode" => doc.sex = attr(e, "code"),
        "birthTime" => doc.birth = attr(e, "value"),
        "id" => {
            let slot = match attr(e, "root").as_deref() {
                Some(INSURER) => &mut doc.insurer,
                Some(SYMBOL) => &mut doc.symbol,
                Some(NUMBER) => &mut doc.number,
                Some(BRANCH) => &mut doc.branch,
                _ => return,
            };
            *slot = attr(e, "extension");
        }
        "code" if attr(e, "codeSystem").as_deref() == Some(JLAC10) => *code = attr(e, "code"),
        "value" => {
            if let Some(c) = code.take() {
                let coded = attr(e, "xsi:type").as_deref() == Some("CD");
                let (value, value_code) = if coded {
                    (None, attr(e, "code"))
                } else {
                    (attr(e, "value"), None)
                };
                doc.results.push(Item {
                    code: c,
                    value,
                    value_code,
                    unit: attr(e, "unit"),
                    line,
                });
            }
        }
        _ => {}
    }
}

/// Builds the record of one document. `at` makes a location from a line.
fn document(
    text: &str,
    locator: String,
    at: &dyn Fn(u64) -> Location,
    tokenizer: &Tokenizer,
) -> Result<Record, Problem> {
    let doc = read(text, at)?;
    let missing = |what: &str| Problem::field(at(1), format!("ClinicalDocument {what}"), "missing");
    let insurer = doc
        .insurer
        .as_deref()
        .ok_or_else(|| missing("patientRole/id (insurer number)"))?;
    let birth_raw = doc.birth.as_deref().ok_or_else(|| missing("birthTime"))?;
    let birth = text::date(birth_raw).ok_or_else(|| {
        Problem::field(
            at(1),
            "ClinicalDocument birthTime",
            "bad date: not YYYYMMDD",
        )
    })?;
    let sex_raw = doc
        .sex
        .as_deref()
        .ok_or_else(|| missing("administrativeGenderCode"))?;
    let sex = Sex::parse(sex_raw).ok_or_else(|| {
        Problem::field(
            at(1),
            "ClinicalDocument administrativeGenderCode",
            "not 1 or 2",
        )
    })?;
    let effective = doc
        .effective
        .as_deref()
        .ok_or_else(|| missing("effectiveTime"))?;
    let date: NaiveDate = text::date(effective.get(..8).unwrap_or(effective)).ok_or_else(|| {
        Problem::field(
            at(1),
            "ClinicalDocument effectiveTime",
            "bad date: not YYYYMMDD",
        )
    })?;
    let mut record = Record::new(locator, None);
    for item in &doc.results {
        let numeric =
            match &item.value {
                Some(v) => Some(v.parse::<f64>().ok().filter(|x| x.is_finite()).ok_or_else(
                    || {
                        Problem::field(
                            at(item.line),
                            format!("observation {} value", item.code),
                            "not a number",
                        )
                    },
                )?),
                None => None,
            };
        record.row(
            &content::OBSERVATIONS,
            vec![
                Value::text(&item.code),
                numeric.into(),
                item.value_code.clone().map_or(Value::Null, Value::Text),
                item.unit.clone().map_or(Value::Null, Value::Text),
                Value::Date(date),
            ],
        );
    }
    record.row(
        &content::ENCOUNTERS,
        vec![
            Value::text("checkup"),
            Value::Date(date),
            Value::Date(date),
            Value::Bool(false),
            Value::Null,
            Value::Null,
        ],
    );
    let kana = doc.kana.trim();
    record.identify(
        tokenizer,
        &Identity {
            kana_name: Some(kana).filter(|k| !k.is_empty()),
            birth: Some(birth),
            sex: Some(sex),
            insurer: Some(insurer),
            symbol: doc.symbol.as_deref(),
            number: doc.number.as_deref(),
            branch: doc.branch.as_deref(),
            ..Identity::default()
        },
    );
    Ok(record)
}

pub(crate) fn parse_document(
    bytes: &[u8],
    rows: Rows,
    tokenizer: &Tokenizer,
) -> Result<Parsed, Problem> {
    let text = text::utf8(bytes)?;
    let mut parsed = Parsed::new(rows);
    match document(&text, "document".to_owned(), &Location::Line, tokenizer) {
        Ok(record) => parsed.rows.push(record),
        Err(p) => parsed.rejects.push((Location::File, p)),
    }
    Ok(parsed)
}

pub(crate) fn parse_archive(
    bytes: &[u8],
    rows: Rows,
    tokenizer: &Tokenizer,
) -> Result<Parsed, Problem> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(|e| {
        Problem::at(
            Location::File,
            format!("not a readable ZIP archive (truncated or damaged): {e}"),
        )
    })?;
    let mut parsed = Parsed::new(rows);
    for i in 0..archive.len() {
        // The central directory names an entry even when its data is
        // damaged; the position stands in when the name is unreadable too.
        let listed = archive
            .name_for_index(i)
            .and_then(Result::ok)
            .map(|n| n.into_owned())
            .unwrap_or_else(|| format!("#{}", i + 1));
        let (name, result) = match archive.by_index(i) {
            Ok(entry) => entry_document(entry, &listed, tokenizer),
            Err(e) => (
                listed.clone(),
                Err(Problem::at(
                    Location::Entry {
                        name: listed,
                        line: None,
                    },
                    format!("unreadable entry: {e}"),
                )),
            ),
        };
        match result {
            Ok(Some(record)) => parsed.rows.push(record),
            Ok(None) => {}
            Err(p) => parsed
                .rejects
                .push((Location::Entry { name, line: None }, p)),
        }
    }
    Ok(parsed)
}

/// Reads one archive entry (`listed` as the central directory names it);
/// `Ok(None)` for a directory.
fn entry_document<R: Read>(
    entry: zip::read::ZipFile<'_, R>,
    listed: &str,
    tokenizer: &Tokenizer,
) -> (String, Result<Option<Record>, Problem>) {
    let name = match entry.name() {
        Ok(n) => n.into_owned(),
        Err(_) => {
            return (
                listed.to_owned(),
                Err(Problem::at(
                    Location::Entry {
                        name: listed.to_owned(),
                        line: None,
                    },
                    "entry name is not valid text".to_owned(),
                )),
            );
        }
    };
    if entry.is_dir() {
        return (name, Ok(None));
    }
    let entry_at = {
        let name = name.clone();
        move |line: u64| Location::Entry {
            name: name.clone(),
            line: Some(line),
        }
    };
    let whole = Location::Entry {
        name: name.clone(),
        line: None,
    };
    if !name.ends_with(".xml") {
        return (
            name,
            Err(Problem::at(
                whole,
                "not a checkup document (.xml)".to_owned(),
            )),
        );
    }
    if entry.size() > MAX_DOCUMENT {
        return (
            name,
            Err(Problem::at(
                whole,
                format!("larger than {MAX_DOCUMENT} bytes"),
            )),
        );
    }
    let mut bytes = Vec::with_capacity(entry.size() as usize);
    if let Err(e) = entry.take(MAX_DOCUMENT).read_to_end(&mut bytes) {
        return (
            name,
            Err(Problem::at(
                whole,
                format!("unreadable entry (damaged archive): {e}"),
            )),
        );
    }
    let result = text::utf8(&bytes)
        .map_err(|p| Problem {
            location: whole.clone(),
            ..p
        })
        .and_then(|text| document(&text, format!("entry:{name}"), &entry_at, tokenizer))
        .map(Some);
    (name, result)
}
