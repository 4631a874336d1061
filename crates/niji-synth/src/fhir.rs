//! JP-CLINS FHIR Bundles (電子カルテ情報共有サービス): for every hospital
//! stay, a `collection` Bundle as a hospital's electronic chart would
//! register it, shaped like the real examples in
//! `shared/fixtures/fhir/jp-clins/`: Patient (with its home prefecture, as
//! JP Core's address allows), the stay's Encounter, Condition (ICD-10; the
//! profiles mark no main diagnosis), AllergyIntolerance, Observation
//! (laboratory, JLAC10) and MedicationRequest, each pointing at the patient
//! by the insured-person identifier `保険者番号:記号:番号:枝番`.
//!
//! Drug codes are niji's synthetic ones under a code system of its own, so
//! nobody mistakes them for the MHLW master.

use crate::Ymd;
use crate::care::Claim;
use crate::clinical::CONDITIONS;
use crate::noise::Noise;
use crate::population::{InsuranceSpell, Person, Sex};
use chrono::{Days, NaiveDate};
use rand::Rng;
use serde_json::{Value, json};

/// The insured-person identifier system of JP-CLINS.
pub const MEMBER_ID_SYSTEM: &str = "http://jpfhir.jp/fhir/clins/Idsystem/JP_Insurance_memberID";
const ICD10: &str = "http://hl7.org/fhir/sid/icd-10";
const JLAC10: &str =
    "http://jpfhir.jp/fhir/clins/CodeSystem/JLAC10/JP_CLINS_ObsLabResult_CoreLabo_CS";
const SYNTHETIC_DRUGS: &str = "https://niji.invalid/CodeSystem/synthetic-drug-code";
/// Synthetic drug codes are no YJ or general-name codes, so the Bundles
/// say so with JP-CLINS's explicit marker, as facilities without a mapping do.
const NOCODED: &str = "http://jpfhir.jp/fhir/eCS/CodeSystem/MedicationCodeNocoded_CS";
/// JP-CLINS lab results carry the facility's own code beside JLAC10.
const LAB_LOCAL: &str = "http://jpfhir.jp/fhir/clins/CodeSystem/JP_CLINS_ObsLabResult_LocalCode_CS";

/// Whether a value has the shape `^[0-9]{8}:[^:\s　]*:[^:\s　]*:0[0-9]$`.
pub fn valid_member_id(value: &str) -> bool {
    let parts: Vec<&str> = value.split(':').collect();
    let free = |s: &str| !s.chars().any(|c| c.is_whitespace() || c == '　');
    parts.len() == 4
        && parts[0].len() == 8
        && parts[0].bytes().all(|b| b.is_ascii_digit())
        && free(parts[1])
        && free(parts[2])
        && parts[3].len() == 2
        && parts[3].starts_with('0')
        && parts[3].as_bytes()[1].is_ascii_digit()
}

/// A deterministic UUID from the generator's stream.
fn uuid(rng: &mut impl Rng) -> String {
    let a: u128 = rng.random();
    let h = format!("{a:032x}");
    format!(
        "{}-{}-4{}-a{}-{}",
        &h[..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}

const ALLERGIES: [(&str, &str); 4] = [
    ("ペニシリン系抗生物質", "medication"),
    ("ヨード造影剤", "medication"),
    ("さば", "food"),
    ("卵", "food"),
];

/// The Bundle of one stay, from the first claim month of the stay.
pub fn bundle(
    rng: &mut impl Rng,
    noise: &Noise,
    person: &Person,
    spell: &InsuranceSpell,
    claim: &Claim,
    admitted: NaiveDate,
) -> Value {
    let member = format!(
        "{}:{}:{}:{}",
        spell.card.insurer,
        noise.digits(rng, &spell.card.symbol),
        noise.digits(rng, &spell.card.number),
        spell.branch
    );
    let subject = json!({"identifier": {"system": MEMBER_ID_SYSTEM, "value": member}});
    let name = person.name_on(admitted);
    let separator = noise.separator(rng);
    let mut names = vec![json!({
        "extension": [{"url": "http://hl7.org/fhir/StructureDefinition/iso21090-EN-representation", "valueCode": "IDE"}],
        "text": format!("{}{separator}{}", name.family.kanji, name.given.kanji),
        "family": name.family.kanji,
        "given": [name.given.kanji],
    })];
    if let Some(kana) = noise.kana_name(rng, name.family.kana, name.given.kana) {
        names.push(json!({
            "extension": [{"url": "http://hl7.org/fhir/StructureDefinition/iso21090-EN-representation", "valueCode": "SYL"}],
            "text": kana,
        }));
    }
    let patient = json!({
        "resourceType": "Patient",
        "meta": {"profile": ["http://jpfhir.jp/fhir/eCS/StructureDefinition/JP_Patient_eCS"]},
        "identifier": [{"system": MEMBER_ID_SYSTEM, "value": member}],
        "name": names,
        "gender": if person.sex == Sex::Female { "female" } else { "male" },
        "birthDate": Ymd::new(person.birth, "-").to_string(),
        "address": address(person),
    });
    let authored = Ymd::new(admitted, "-").to_string();
    let mut entries = vec![patient, encounter(claim, admitted, &subject)];
    for (condition, onset) in &claim.diagnoses {
        entries.push(json!({
            "resourceType": "Condition",
            "meta": {"profile": ["http://jpfhir.jp/fhir/eCS/StructureDefinition/JP_Condition_eCS|1"]},
            "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]},
            "verificationStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": "confirmed"}]},
            "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-category", "code": "encounter-diagnosis"}]}],
            "code": {"coding": [{"system": ICD10, "code": condition.icd10, "display": condition.name}], "text": condition.name},
            "subject": subject,
            "onsetDateTime": Ymd::new(*onset, "-").to_string(),
        }));
    }
    if rng.random_bool(0.1) {
        let (substance, category) = ALLERGIES[rng.random_range(0..ALLERGIES.len())];
        entries.push(json!({
            "resourceType": "AllergyIntolerance",
            "meta": {"profile": ["http://jpfhir.jp/fhir/eCS/StructureDefinition/JP_AllergyIntolerance_eCS|1"]},
            "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", "code": "active"}]},
            "category": [category],
            "code": {"text": substance},
            "patient": subject,
        }));
    }
    let diabetic = claim.diagnoses.iter().any(|(c, _)| c.key == "diabetes");
    let labs = [
        (
            "3A015000001827101",
            "アルブミン",
            crate::checkup::normal(rng, 4.0, 0.4),
            "g/dL",
        ),
        (
            "3C015000002327101",
            "クレアチニン",
            crate::checkup::normal(rng, 0.9, 0.25),
            "mg/dL",
        ),
        (
            "3D046000001906202",
            "HbA1c（NGSP）",
            if diabetic {
                crate::checkup::normal(rng, 7.3, 0.9)
            } else {
                crate::checkup::normal(rng, 5.6, 0.3)
            },
            "%",
        ),
    ];
    for (code, display, value, unit) in labs {
        entries.push(json!({
            "resourceType": "Observation",
            "meta": {"profile": ["http://jpfhir.jp/fhir/eCS/StructureDefinition/JP_Observation_LabResult_eCS|1"]},
            "status": "final",
            "category": [{"coding": [{"system": "http://jpfhir.jp/fhir/core/CodeSystem/JP_SimpleObservationCategory_CS", "code": "laboratory"}]}],
            "code": {"coding": [
                {"system": LAB_LOCAL, "code": format!("{:010}", crate::names::stable_hash(code) % 10_000_000_000), "display": display},
                {"system": JLAC10, "code": code, "display": display},
            ]},
            "subject": subject,
            "effectiveDateTime": authored,
            "valueQuantity": {"value": (value * 10.0).round() / 10.0, "unit": unit},
        }));
    }
    for (drug, days, _) in &claim.drugs {
        entries.push(json!({
            "resourceType": "MedicationRequest",
            "meta": {"profile": ["http://jpfhir.jp/fhir/eCS/StructureDefinition/JP_MedicationRequest_eCS|1"]},
            "status": "active",
            "intent": "order",
            "medicationCodeableConcept": {"coding": [
                {"system": NOCODED, "code": "NOCODED", "display": "標準コードなし"},
                {"system": SYNTHETIC_DRUGS, "code": drug.code, "display": drug.name},
            ], "text": drug.name},
            "subject": subject,
            "authoredOn": authored,
            "dispenseRequest": {"expectedSupplyDuration": {"value": days, "unit": "日", "system": "http://unitsofmeasure.org", "code": "d"}},
        }));
    }
    let entries: Vec<Value> = entries
        .into_iter()
        .map(|resource| json!({"fullUrl": format!("urn:uuid:{}", uuid(rng)), "resource": resource}))
        .collect();
    json!({
        "resourceType": "Bundle",
        "meta": {"profile": ["http://jpfhir.jp/fhir/clins/StructureDefinition/JP_Bundle_CLINS|1"]},
        "type": "collection",
        "timestamp": format!("{}T10:00:00+09:00", Ymd::new(admitted + Days::new(1), "-")),
        "entry": entries,
    })
}

/// JP Core's Patient.address as a chart holds it: the home prefecture
/// (`state`, which is all the platform keeps of an address) and the
/// municipality's code, no street.
fn address(person: &Person) -> Value {
    let prefecture = usize::try_from(person.prefecture)
        .ok()
        .and_then(|p| niji_core::geography::PREFECTURES.get(p.wrapping_sub(1)))
        .copied();
    match prefecture {
        Some(state) => json!([{
            "use": "home",
            "text": state,
            "state": state,
            "district": person.municipality,
            "country": "JP",
        }]),
        None => json!([]),
    }
}

/// The stay itself: an inpatient Encounter (JP Core) from the admission to
/// the last day of care the month's claim records.
fn encounter(claim: &Claim, admitted: NaiveDate, subject: &Value) -> Value {
    let last = claim
        .days
        .last()
        .and_then(|d| {
            claim
                .month
                .checked_add_days(Days::new(u64::from(d.saturating_sub(1))))
        })
        .unwrap_or(admitted)
        .max(admitted);
    json!({
        "resourceType": "Encounter",
        "meta": {"profile": ["http://jpfhir.jp/fhir/core/StructureDefinition/JP_Encounter"]},
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP", "display": "inpatient encounter"},
        "subject": subject,
        "period": {"start": Ymd::new(admitted, "-").to_string(), "end": Ymd::new(last, "-").to_string()},
    })
}

/// Conditions of a stay, for tests: the ICD-10 codes niji uses.
pub fn known_icd10(code: &str) -> bool {
    CONDITIONS
        .iter()
        .chain(crate::clinical::ACUTE)
        .chain(crate::clinical::ADMISSIONS.iter().map(|(c, _, _)| c))
        .any(|c| c.icd10 == code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_ids_follow_the_jp_clins_pattern() {
        assert!(valid_member_id("00012345:あいう:１８７:05"));
        assert!(valid_member_id("39131016::12345678:00"));
        assert!(!valid_member_id("0012345:a:b:05"));
        assert!(!valid_member_id("00012345:a b:c:05"));
        assert!(!valid_member_id("00012345:a　b:c:05"));
        assert!(!valid_member_id("00012345:a:b:15"));
        assert!(!valid_member_id("00012345:a:b"));
    }
}
