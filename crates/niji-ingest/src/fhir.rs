//! JP-CLINS FHIR (R4, JP Core profiles): Bundles of type `collection` or
//! `document`, alone as JSON or one per line as NDJSON.
//!
//! The resources are modelled with serde structs holding only the elements
//! this platform reads. A Bundle needs exactly one Patient, whose
//! insured-person identifier (`保険者番号:記号:番号:枝番`), names, birth date
//! and sex go to the tokenizer. Condition, AllergyIntolerance, Observation,
//! MedicationRequest and Encounter become content; Coverage is identity only.
//! A resource that fails its checks is left out with its FHIRPath; a Bundle
//! whose Patient fails is left out whole.
//!
//! A lone resource (not in a Bundle) carries no Patient to attach it to: it
//! is checked, never ingested.

use crate::record::{Record, Rows, Value};
use crate::{Location, Parsed, Problem};
use chrono::NaiveDate;
use niji_core::content;
use niji_linkage::{Identity, Sex, Tokenizer};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value as Json;

/// The system of the JP-CLINS insured-person identifier.
pub const MEMBER_ID: &str = "http://jpfhir.jp/fhir/clins/Idsystem/JP_Insurance_memberID";
/// JP-CLINS lab results carry the facility's own code beside JLAC10.
const LAB_LOCAL_CODE: &str = "JP_CLINS_ObsLabResult_LocalCode_CS";
/// The explicit "no standard code" marker of a drug.
const NOCODED: &str = "MedicationCodeNocoded_CS";
const REPRESENTATION: &str = "http://hl7.org/fhir/StructureDefinition/iso21090-EN-representation";

#[derive(Deserialize, Default)]
struct Coding {
    system: Option<String>,
    code: Option<String>,
    display: Option<String>,
}

#[derive(Deserialize, Default)]
struct CodeableConcept {
    #[serde(default)]
    coding: Vec<Coding>,
    text: Option<String>,
}

impl CodeableConcept {
    fn has_content(&self) -> bool {
        self.coding.iter().any(|c| c.code.is_some()) || self.text.is_some()
    }

    /// The code of the first coding whose system matches.
    fn code_in(&self, matches: impl Fn(&str) -> bool) -> Option<&Coding> {
        self.coding
            .iter()
            .find(|c| c.code.is_some() && c.system.as_deref().is_some_and(&matches))
    }

    fn first_code(&self) -> Option<&str> {
        self.coding.iter().find_map(|c| c.code.as_deref())
    }
}

#[derive(Deserialize)]
struct Identifier {
    system: Option<String>,
    value: Option<String>,
}

#[derive(Deserialize)]
struct Reference {
    reference: Option<String>,
    identifier: Option<Identifier>,
}

#[derive(Deserialize)]
struct Extension {
    url: String,
    #[serde(rename = "valueCode")]
    value_code: Option<String>,
}

#[derive(Deserialize)]
struct HumanName {
    #[serde(default)]
    extension: Vec<Extension>,
    text: Option<String>,
    family: Option<String>,
    #[serde(default)]
    given: Vec<String>,
}

impl HumanName {
    fn representation(&self) -> Option<&str> {
        self.extension
            .iter()
            .find(|e| e.url == REPRESENTATION)
            .and_then(|e| e.value_code.as_deref())
    }

    fn full(&self) -> Option<String> {
        self.text.clone().or_else(|| {
            let family = self.family.clone()?;
            Some(format!("{family} {}", self.given.join(" ")))
        })
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Patient {
    #[serde(default)]
    identifier: Vec<Identifier>,
    #[serde(default)]
    name: Vec<HumanName>,
    gender: Option<String>,
    birth_date: Option<String>,
    #[serde(default)]
    address: Vec<Address>,
}

#[derive(Deserialize)]
struct Address {
    state: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Condition {
    code: Option<CodeableConcept>,
    subject: Option<Reference>,
    clinical_status: Option<CodeableConcept>,
    onset_date_time: Option<String>,
    recorded_date: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AllergyIntolerance {
    code: Option<CodeableConcept>,
    patient: Option<Reference>,
    #[serde(default)]
    category: Vec<String>,
    criticality: Option<String>,
    onset_date_time: Option<String>,
    recorded_date: Option<String>,
}

#[derive(Deserialize)]
struct Quantity {
    value: Option<f64>,
    unit: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Observation {
    status: Option<String>,
    #[serde(default)]
    category: Vec<CodeableConcept>,
    code: Option<CodeableConcept>,
    effective_date_time: Option<String>,
    value_quantity: Option<Quantity>,
    value_codeable_concept: Option<CodeableConcept>,
}

#[derive(Deserialize)]
struct Duration {
    value: Option<f64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DispenseRequest {
    expected_supply_duration: Option<Duration>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MedicationRequest {
    status: Option<String>,
    intent: Option<String>,
    medication_codeable_concept: Option<CodeableConcept>,
    medication_reference: Option<Reference>,
    subject: Option<Reference>,
    authored_on: Option<String>,
    dispense_request: Option<DispenseRequest>,
}

#[derive(Deserialize)]
struct Period {
    start: Option<String>,
    end: Option<String>,
}

#[derive(Deserialize)]
struct Encounter {
    status: Option<String>,
    class: Option<Coding>,
    period: Option<Period>,
}

#[derive(Deserialize)]
struct Coverage {
    status: Option<String>,
    beneficiary: Option<Reference>,
}

/// Where a resource is, for problems: its FHIRPath prefix and NDJSON line.
#[derive(Clone)]
struct At {
    line: Option<u64>,
    path: String,
}

impl At {
    fn child(&self, element: &str) -> At {
        At {
            line: self.line,
            path: format!("{}.{element}", self.path),
        }
    }

    fn location(&self) -> Location {
        Location::Path {
            line: self.line,
            path: self.path.clone(),
        }
    }

    fn missing(&self, element: &str) -> Problem {
        Problem::field(
            self.child(element).location(),
            element,
            "required element missing",
        )
    }

    fn bad(&self, element: &str, reason: &str) -> Problem {
        Problem::field(self.child(element).location(), element, reason)
    }
}

/// Deserializes a resource; type errors name the element's path, never
/// its value.
fn typed<T: DeserializeOwned>(json: &Json, at: &At) -> Result<T, Problem> {
    serde_path_to_error::deserialize(json).map_err(|e| {
        let element = e.path().to_string();
        Problem::field(
            at.child(&element).location(),
            element,
            "wrong JSON type or shape for this element",
        )
    })
}

/// A FHIR date or dateTime as a date; partial dates (YYYY, YYYY-MM) are
/// none. A malformed value is a problem.
fn fhir_date(value: Option<&str>, at: &At, element: &str) -> Result<Option<NaiveDate>, Problem> {
    let Some(v) = value else { return Ok(None) };
    let shape_ok = v.len() >= 4 && v.as_bytes()[..4].iter().all(u8::is_ascii_digit);
    if !shape_ok {
        return Err(at.bad(element, "bad date: not a FHIR date"));
    }
    if v.len() < 10 {
        return Ok(None);
    }
    NaiveDate::parse_from_str(&v[..10], "%Y-%m-%d")
        .map(Some)
        .map_err(|_| at.bad(element, "bad date: not a valid FHIR date"))
}

/// The insured-person identifier split into insurer, symbol, number,
/// branch, if it has the JP-CLINS form
/// `^[0-9]{8}:[^:\s　]*:[^:\s　]*:0[0-9]$`.
pub(crate) fn member_parts(value: &str) -> Option<[&str; 4]> {
    let parts: Vec<&str> = value.split(':').collect();
    let [insurer, symbol, number, branch] = parts[..] else {
        return None;
    };
    let blank = |s: &str| s.chars().any(|c| c.is_whitespace() || c == '　');
    let ok = insurer.len() == 8
        && insurer.bytes().all(|b| b.is_ascii_digit())
        && !blank(symbol)
        && !blank(number)
        && branch.len() == 2
        && branch.starts_with('0')
        && branch.as_bytes()[1].is_ascii_digit();
    ok.then_some([insurer, symbol, number, branch])
}

/// The Patient's identity, owned for as long as its Bundle is built.
struct PatientIdentity {
    member: Option<String>,
    kanji: Option<String>,
    kana: Option<String>,
    birth: Option<NaiveDate>,
    sex: Option<Sex>,
    /// The prefecture of the first address that names one (`state`), as
    /// its JIS code: all that content keeps of an address.
    prefecture: Option<String>,
}

fn patient(json: &Json, at: &At) -> Result<PatientIdentity, Problem> {
    let p: Patient = typed(json, at)?;
    if p.identifier.is_empty() {
        return Err(at.missing("identifier"));
    }
    let mut member = None;
    for (i, id) in p.identifier.iter().enumerate() {
        if id.system.as_deref() == Some(MEMBER_ID) {
            let value = id.value.as_deref().unwrap_or("");
            if member_parts(value).is_none() {
                return Err(at.bad(
                    &format!("identifier[{i}].value"),
                    "not an insured-person identifier of the form 保険者番号(8):記号:番号:枝番(0n)",
                ));
            }
            member = Some(value.to_owned());
        }
    }
    let sex = match p.gender.as_deref() {
        None => None,
        Some(g @ ("male" | "female" | "other" | "unknown")) => Sex::parse(g),
        Some(_) => return Err(at.bad("gender", "not one of male, female, other, unknown")),
    };
    let birth = fhir_date(p.birth_date.as_deref(), at, "birthDate")?;
    if member.is_none() && birth.is_none() {
        return Err(Problem::at(
            at.location(),
            "the Patient carries neither the insured-person identifier nor a birth date".to_owned(),
        ));
    }
    let name = |rep: &str| {
        p.name
            .iter()
            .find(|n| n.representation() == Some(rep))
            .and_then(HumanName::full)
    };
    Ok(PatientIdentity {
        member,
        kanji: name("IDE").or_else(|| {
            p.name
                .iter()
                .find(|n| n.representation().is_none())
                .and_then(HumanName::full)
        }),
        kana: name("SYL"),
        birth,
        sex,
        prefecture: p.address.iter().find_map(|a| {
            a.state
                .as_deref()
                .and_then(niji_core::geography::prefecture_code)
        }),
    })
}

/// A resource's subject must be the Bundle's Patient when it names one by
/// the insured-person identifier.
fn same_patient(
    subject: Option<&Reference>,
    member: Option<&str>,
    at: &At,
    element: &str,
) -> Result<(), Problem> {
    let Some(subject) = subject else {
        return Err(at.missing(element));
    };
    if subject.reference.is_none() && subject.identifier.is_none() {
        return Err(at.bad(element, "neither a reference nor an identifier"));
    }
    if let (Some(id), Some(member)) = (&subject.identifier, member)
        && id.system.as_deref() == Some(MEMBER_ID)
        && id.value.as_deref() != Some(member)
    {
        return Err(at.bad(element, "names a person other than the Bundle's Patient"));
    }
    Ok(())
}

/// Checks a content resource and adds its rows. `Ok(false)` for resource
/// types that carry no content here.
fn content(
    kind: &str,
    json: &Json,
    at: &At,
    member: Option<&str>,
    record: &mut Record,
) -> Result<bool, Problem> {
    match kind {
        "Condition" => {
            let c: Condition = typed(json, at)?;
            let code = c
                .code
                .as_ref()
                .filter(|c| c.has_content())
                .ok_or_else(|| at.missing("code"))?;
            same_patient(c.subject.as_ref(), member, at, "subject")?;
            let onset = fhir_date(c.onset_date_time.as_deref(), at, "onsetDateTime")?;
            let recorded = fhir_date(c.recorded_date.as_deref(), at, "recordedDate")?;
            let icd10 =
                code.code_in(|s| s.to_ascii_lowercase().contains("icd-10") || s.contains("ICD10"));
            let local = code
                .code_in(|s| !(s.to_ascii_lowercase().contains("icd-10") || s.contains("ICD10")));
            record.row(
                &content::DIAGNOSES,
                vec![
                    icd10
                        .and_then(|c| c.code.as_deref())
                        .map_or(Value::Null, Value::text),
                    local
                        .and_then(|c| c.code.as_deref())
                        .map_or(Value::Null, Value::text),
                    Value::Null,
                    Value::Bool(false),
                    onset.or(recorded).into(),
                    c.clinical_status
                        .as_ref()
                        .and_then(CodeableConcept::first_code)
                        .map_or(Value::Null, Value::text),
                ],
            );
        }
        "AllergyIntolerance" => {
            let a: AllergyIntolerance = typed(json, at)?;
            same_patient(a.patient.as_ref(), member, at, "patient")?;
            let date = fhir_date(a.onset_date_time.as_deref(), at, "onsetDateTime")?.or(fhir_date(
                a.recorded_date.as_deref(),
                at,
                "recordedDate",
            )?);
            record.row(
                &content::ALLERGIES,
                vec![
                    a.code
                        .as_ref()
                        .and_then(CodeableConcept::first_code)
                        .map_or(Value::Null, Value::text),
                    a.category.first().map_or(Value::Null, |c| Value::text(c)),
                    a.criticality.as_deref().map_or(Value::Null, Value::text),
                    date.into(),
                ],
            );
        }
        "Observation" => {
            let o: Observation = typed(json, at)?;
            o.status.as_ref().ok_or_else(|| at.missing("status"))?;
            let code = o
                .code
                .as_ref()
                .filter(|c| c.has_content())
                .ok_or_else(|| at.missing("code"))?;
            let laboratory = o.category.iter().any(|c| {
                c.coding
                    .iter()
                    .any(|c| c.code.as_deref() == Some("laboratory"))
            });
            if laboratory && code.code_in(|s| s.ends_with(LAB_LOCAL_CODE)).is_none() {
                return Err(at.bad(
                    "code.coding",
                    "a JP-CLINS lab result needs its local code (JP_CLINS_ObsLabResult_LocalCode_CS) beside JLAC10",
                ));
            }
            let date = fhir_date(o.effective_date_time.as_deref(), at, "effectiveDateTime")?;
            let jlac = code
                .code_in(|s| s.contains("JLAC10"))
                .or_else(|| code.coding.iter().find(|c| c.code.is_some()));
            // A text-only observation has no code to keep; its text is free
            // text, which content never holds.
            let Some(code) = jlac.and_then(|c| c.code.as_deref()) else {
                return Ok(true);
            };
            let quantity = o.value_quantity.as_ref();
            record.row(
                &content::OBSERVATIONS,
                vec![
                    Value::text(code),
                    quantity.and_then(|q| q.value).into(),
                    o.value_codeable_concept
                        .as_ref()
                        .and_then(CodeableConcept::first_code)
                        .map_or(Value::Null, Value::text),
                    quantity
                        .and_then(|q| q.unit.as_deref())
                        .map_or(Value::Null, Value::text),
                    date.into(),
                ],
            );
        }
        "MedicationRequest" => {
            let m: MedicationRequest = typed(json, at)?;
            m.status.as_ref().ok_or_else(|| at.missing("status"))?;
            m.intent.as_ref().ok_or_else(|| at.missing("intent"))?;
            same_patient(m.subject.as_ref(), member, at, "subject")?;
            let Some(medication) = &m.medication_codeable_concept else {
                if m.medication_reference.is_some() {
                    return Ok(true);
                }
                return Err(at.missing("medication[x]"));
            };
            let standard = ["YJ-code", "MedicationGeneralOrderCode", NOCODED];
            if !standard
                .iter()
                .any(|needle| medication.code_in(|s| s.contains(needle)).is_some())
            {
                return Err(at.bad(
                    "medicationCodeableConcept.coding",
                    "no YJ code, general-name code (一般名処方コード) or explicit NOCODED marker",
                ));
            }
            if let Some(general) = medication.code_in(|s| s.contains("MedicationGeneralOrderCode"))
            {
                check_general_name(general)
                    .map_err(|reason| at.bad("medicationCodeableConcept.coding", &reason))?;
            }
            let (system, coding) = drug_coding(medication)
                .ok_or_else(|| at.missing("medicationCodeableConcept.coding.code"))?;
            let date = fhir_date(m.authored_on.as_deref(), at, "authoredOn")?;
            let days = m
                .dispense_request
                .as_ref()
                .and_then(|d| d.expected_supply_duration.as_ref())
                .and_then(|d| d.value)
                .map(|v| v.round() as i64);
            record.row(
                &content::DRUGS,
                vec![
                    Value::text(coding),
                    Value::text(system),
                    Value::Null,
                    days.into(),
                    date.into(),
                ],
            );
        }
        "Encounter" => {
            let e: Encounter = typed(json, at)?;
            e.status.as_ref().ok_or_else(|| at.missing("status"))?;
            let class = e.class.as_ref().ok_or_else(|| at.missing("class"))?;
            let period = e.period.as_ref();
            let start = fhir_date(period.and_then(|p| p.start.as_deref()), at, "period.start")?;
            let end = fhir_date(period.and_then(|p| p.end.as_deref()), at, "period.end")?;
            record.row(
                &content::ENCOUNTERS,
                vec![
                    Value::text("fhir-encounter"),
                    start.into(),
                    end.into(),
                    Value::Bool(matches!(
                        class.code.as_deref(),
                        Some("IMP" | "ACUTE" | "NONAC")
                    )),
                    Value::Null,
                    Value::Null,
                ],
            );
        }
        "Coverage" => {
            let c: Coverage = typed(json, at)?;
            c.status.as_ref().ok_or_else(|| at.missing("status"))?;
            c.beneficiary
                .as_ref()
                .ok_or_else(|| at.missing("beneficiary"))?;
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// The shipped excerpt of the 一般名処方マスタ, `code<TAB>display` lines.
const GENERAL_NAME_MASTER: &str = include_str!("../data/general-name-codes.tsv");

/// The excerpt as (code, display) pairs.
fn general_name_master() -> impl Iterator<Item = (&'static str, &'static str)> {
    GENERAL_NAME_MASTER
        .lines()
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .filter_map(|line| line.split_once('\t'))
}

/// Checks a general-name coding: twelve letters and digits, and not a
/// display the master gives to another code (a mistyped code). The reason
/// may name codes: they are drug codes, not personal data.
fn check_general_name(coding: &Coding) -> Result<(), String> {
    let code = coding.code.as_deref().unwrap_or_default();
    if code.len() != 12 || !code.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err("general-name code (一般名処方コード) is not 12 letters and digits".into());
    }
    let Some(display) = coding.display.as_deref().map(str::trim) else {
        return Ok(());
    };
    for (listed, name) in general_name_master() {
        if name == display && listed != code {
            return Err(format!(
                "general-name code {code} does not match its display; the 一般名処方マスタ lists that display under {listed}"
            ));
        }
        if listed == code && name != display {
            return Err(format!(
                "general-name code {code} does not match its display; the 一般名処方マスタ names that code differently"
            ));
        }
    }
    Ok(())
}

/// The drug code to keep and its system's short name: YJ, then the
/// general-name code, then HOT, then any other coding.
fn drug_coding(concept: &CodeableConcept) -> Option<(&'static str, &str)> {
    let order: [(&str, &'static str); 3] = [
        ("YJ-code", "yj"),
        ("MedicationGeneralOrderCode", "general"),
        ("master-HOT", "hot"),
    ];
    for (needle, name) in order {
        if let Some(c) = concept.code_in(|s| s.contains(needle)) {
            return c.code.as_deref().map(|code| (name, code));
        }
    }
    concept
        .coding
        .iter()
        .find(|c| c.code.as_deref().is_some_and(|code| code != "NOCODED"))
        .and_then(|c| c.code.as_deref())
        .map(|code| ("other", code))
}

/// The system of a facility's 医療機関コード (10 digits).
const FACILITY_ID: &str = "http://jpfhir.jp/fhir/core/IdSystem/insurance-medical-institution-no";

/// The facility code of a document Bundle's custodian: the Composition's
/// `custodian` reference resolved to its Organization entry by `fullUrl`.
pub(crate) fn custodian(bundle: &Json) -> Option<String> {
    let entries = bundle.get("entry")?.as_array()?;
    let composition = entries
        .iter()
        .filter_map(|e| e.get("resource"))
        .find(|r| r.get("resourceType").and_then(Json::as_str) == Some("Composition"))?;
    let target = composition.get("custodian")?.get("reference")?.as_str()?;
    let organization = entries
        .iter()
        .find(|e| e.get("fullUrl").and_then(Json::as_str) == Some(target))?
        .get("resource")?;
    organization
        .get("identifier")?
        .as_array()?
        .iter()
        .find(|id| id.get("system").and_then(Json::as_str) == Some(FACILITY_ID))?
        .get("value")?
        .as_str()
        .map(str::to_owned)
}

/// Builds the record of one Bundle: resource rejects go to `rejects`, a
/// Bundle-level problem is the `Err`.
fn bundle(
    json: &Json,
    root: At,
    locator: String,
    tokenizer: &Tokenizer,
    rejects: &mut Vec<Problem>,
    passed_over: &mut std::collections::BTreeMap<String, u64>,
) -> Result<Record, Problem> {
    let kind = json
        .get("type")
        .and_then(Json::as_str)
        .ok_or_else(|| root.missing("type"))?;
    if !matches!(kind, "collection" | "document") {
        return Err(root.bad("type", "only collection and document Bundles are ingested"));
    }
    let entries = match json.get("entry") {
        None => &Vec::new(),
        Some(Json::Array(a)) => a,
        Some(_) => return Err(root.bad("entry", "not an array")),
    };
    let resources: Vec<(At, &Json, &str)> = entries
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let at = root.child(&format!("entry[{i}].resource"));
            let resource = e
                .get("resource")
                .ok_or_else(|| root.missing(&format!("entry[{i}].resource")))?;
            let kind = resource
                .get("resourceType")
                .and_then(Json::as_str)
                .ok_or_else(|| at.missing("resourceType"))?;
            Ok((at, resource, kind))
        })
        .collect::<Result<_, Problem>>()?;
    let patients: Vec<&(At, &Json, &str)> = resources.iter().filter(|r| r.2 == "Patient").collect();
    let (patient_at, patient_json) = match patients[..] {
        [one] => (&one.0, one.1),
        [] => {
            return Err(Problem::at(
                root.location(),
                "the Bundle has no Patient".to_owned(),
            ));
        }
        _ => {
            return Err(Problem::at(
                root.location(),
                "the Bundle has more than one Patient".to_owned(),
            ));
        }
    };
    let person = patient(patient_json, patient_at)?;
    let mut record = Record::new(locator, custodian(json));
    record.prefecture = person.prefecture.clone();
    for (at, json, kind) in &resources {
        if *kind == "Patient" {
            continue;
        }
        let mut scratch = Record::default();
        match content(kind, json, at, person.member.as_deref(), &mut scratch) {
            Ok(true) => record.rows.append(&mut scratch.rows),
            Ok(false) => *passed_over.entry((*kind).to_owned()).or_insert(0) += 1,
            Err(p) => rejects.push(p),
        }
    }
    let parts = person.member.as_deref().and_then(member_parts);
    record.identify(
        tokenizer,
        &Identity {
            kanji_name: person.kanji.as_deref(),
            kana_name: person.kana.as_deref(),
            birth: person.birth,
            sex: person.sex,
            insurer: parts.map(|p| p[0]),
            symbol: parts.map(|p| p[1]),
            number: parts.map(|p| p[2]),
            branch: parts.map(|p| p[3]),
            ..Identity::default()
        },
    );
    Ok(record)
}

fn invalid_json(e: &serde_json::Error, line: Option<u64>) -> Problem {
    let location = match line {
        Some(n) => Location::Line(n),
        None => Location::Line(e.line() as u64),
    };
    let what = if e.is_eof() {
        "truncated: the JSON ends early".to_owned()
    } else {
        format!("invalid JSON at column {}", e.column())
    };
    Problem::at(location, what)
}

fn notes(passed_over: std::collections::BTreeMap<String, u64>) -> Vec<String> {
    if passed_over.is_empty() {
        return Vec::new();
    }
    let list: Vec<String> = passed_over
        .iter()
        .map(|(k, n)| format!("{k} ×{n}"))
        .collect();
    vec![format!(
        "resources that carry no content here, passed over: {}",
        list.join(", ")
    )]
}

pub(crate) fn parse_json(
    bytes: &[u8],
    rows: Rows,
    tokenizer: &Tokenizer,
) -> Result<Parsed, Problem> {
    let text = crate::text::utf8(bytes)?;
    let json: Json = serde_json::from_str(&text).map_err(|e| invalid_json(&e, None))?;
    let kind = json
        .get("resourceType")
        .and_then(Json::as_str)
        .ok_or_else(|| Problem::field(Location::File, "resourceType", "required element missing"))?
        .to_owned();
    let root = At {
        line: None,
        path: kind.clone(),
    };
    let mut parsed = Parsed::new(rows);
    let mut passed_over = Default::default();
    if kind == "Bundle" {
        let mut rejects = Vec::new();
        match bundle(
            &json,
            root.clone(),
            "Bundle".to_owned(),
            tokenizer,
            &mut rejects,
            &mut passed_over,
        ) {
            Ok(record) => parsed.rows.push(record),
            Err(p) => parsed.rejects.push((root.location(), p)),
        }
        parsed
            .rejects
            .extend(rejects.into_iter().map(|p| (p.location.clone(), p)));
    } else {
        // A lone resource: checked against the same rules, never ingested.
        let checked = if kind == "Patient" {
            patient(&json, &root).map(|_| true)
        } else {
            content(&kind, &json, &root, None, &mut Record::default())
        };
        match checked {
            Ok(true) => parsed.notes.push(format!(
                "a lone {kind} passed its checks; it carries no Patient, so nothing was ingested"
            )),
            Ok(false) => *passed_over.entry(kind).or_insert(0) += 1,
            Err(p) => parsed.rejects.push((root.location(), p)),
        }
    }
    parsed.notes.extend(notes(passed_over));
    Ok(parsed)
}

pub(crate) fn parse_ndjson(
    bytes: &[u8],
    rows: Rows,
    tokenizer: &Tokenizer,
) -> Result<Parsed, Problem> {
    let text = crate::text::utf8(bytes)?;
    let mut parsed = Parsed::new(rows);
    let mut passed_over = Default::default();
    let ends_whole = text.ends_with('\n');
    let lines: Vec<&str> = text.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        let n = i as u64 + 1;
        if line.trim().is_empty() {
            continue;
        }
        let json: Json = match serde_json::from_str(line) {
            Ok(j) => j,
            Err(e) if i + 1 == lines.len() && !ends_whole => {
                let _ = e;
                return Err(Problem::at(
                    Location::Line(n),
                    "truncated: the last line is incomplete JSON and has no line end".to_owned(),
                ));
            }
            Err(e) => {
                parsed
                    .rejects
                    .push((Location::Line(n), invalid_json(&e, Some(n))));
                continue;
            }
        };
        let root = At {
            line: Some(n),
            path: "Bundle".to_owned(),
        };
        if json.get("resourceType").and_then(Json::as_str) != Some("Bundle") {
            parsed.rejects.push((
                Location::Line(n),
                Problem::field(
                    root.location(),
                    "resourceType",
                    "each NDJSON line must be a Bundle",
                ),
            ));
            continue;
        }
        let mut rejects = Vec::new();
        match bundle(
            &json,
            root,
            format!("line:{n}"),
            tokenizer,
            &mut rejects,
            &mut passed_over,
        ) {
            Ok(record) => parsed.rows.push(record),
            Err(p) => parsed.rejects.push((Location::Line(n), p)),
        }
        parsed
            .rejects
            .extend(rejects.into_iter().map(|p| (p.location.clone(), p)));
    }
    parsed.notes.extend(notes(passed_over));
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_identifiers_follow_the_jp_clins_pattern() {
        assert!(member_parts("00012345:あいう:１８７:05").is_some());
        assert!(member_parts("00012345:::00").is_some());
        assert!(member_parts("0012345:a:b:05").is_none());
        assert!(member_parts("00012345:a b:c:05").is_none());
        assert!(member_parts("00012345:a　b:c:05").is_none());
        assert!(member_parts("00012345:a:c:15").is_none());
        assert!(member_parts("00012345:a:c").is_none());
    }

    fn general(code: &str, display: Option<&str>) -> Coding {
        Coding {
            system: Some("urn:oid:1.2.392.100495.20.1.81".into()),
            code: Some(code.into()),
            display: display.map(Into::into),
        }
    }

    #[test]
    fn general_name_codes_are_checked_against_the_master_excerpt() {
        let right = general("1124030F2ZZZ", Some("【般】クアゼパム錠２０ｍｇ"));
        assert_eq!(check_general_name(&right), Ok(()));
        let mistyped = general("2124030F2ZZZ", Some("【般】クアゼパム錠２０ｍｇ"));
        assert!(
            check_general_name(&mistyped)
                .unwrap_err()
                .contains("under 1124030F2ZZZ")
        );
        let renamed = general("1124030F2ZZZ", Some("【般】別の薬錠１ｍｇ"));
        assert!(
            check_general_name(&renamed)
                .unwrap_err()
                .contains("names that code differently")
        );
        // Codes the excerpt does not list pass; so does a coding without display.
        assert_eq!(
            check_general_name(&general("9999999F9ZZZ", Some("x"))),
            Ok(())
        );
        assert_eq!(check_general_name(&general("2124030F2ZZZ", None)), Ok(()));
        for bad in ["1124030F2ZZ", "1124030F2ZZZZ", "1124030F2ZZ-"] {
            assert!(check_general_name(&general(bad, None)).is_err(), "{bad}");
        }
    }
}
