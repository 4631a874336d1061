//! Specific health checkups (特定健診) as HL7 CDA R2 documents in the style
//! of the MHLW hc08 schema: one XML document per examinee and checkup, with
//! the insured person's card in the header and the results as observations
//! coded in JLAC10.
//!
//! Everyone aged 40–74 on their insurer's checkup is invited once a fiscal
//! year, and a little over half come. Results follow the person: each has
//! stable levels (height, build, blood pressure, lipids, glucose) that move
//! a little from year to year, and conditions shift them as they should —
//! diabetics have higher HbA1c and fasting glucose, people with
//! hypertension higher blood pressure, people with dyslipidaemia higher LDL.

use crate::Ymd;
use crate::clinical::{CONDITIONS, Diagnosis};
use crate::population::{Person, Sex, age_on};
use chrono::{Datelike, Days, NaiveDate};
use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesText, Event};
use rand::Rng;
use rand_distr::{Distribution, Normal};
use std::io;

/// The JLAC10 codes of the items written, with their units.
pub const ITEMS: [(&str, &str, &str); 12] = [
    ("9N001000000000001", "身長", "cm"),
    ("9N006000000000001", "体重", "kg"),
    ("9N011000000000001", "BMI", "kg/m2"),
    ("9N016160100000001", "腹囲（実測）", "cm"),
    ("9A751000000000001", "収縮期血圧（その他）", "mmHg"),
    ("9A761000000000001", "拡張期血圧（その他）", "mmHg"),
    ("3F070000002327101", "HDLコレステロール", "mg/dL"),
    ("3F077000002327101", "LDLコレステロール", "mg/dL"),
    ("3D010000001926101", "空腹時血糖", "mg/dL"),
    ("3D046000001906202", "HbA1c（NGSP）", "%"),
    ("1A020000000190111", "尿糖", ""),
    ("9N736000000000011", "喫煙", ""),
];

/// OIDs of the identifiers and code systems in the header.
const OID_INSURER: &str = "1.2.392.200119.6.101";
const OID_SYMBOL: &str = "1.2.392.200119.6.204";
const OID_NUMBER: &str = "1.2.392.200119.6.205";
const OID_BRANCH: &str = "1.2.392.200119.6.211";
const OID_JLAC10: &str = "1.2.392.200119.6.1005";
const OID_SEX: &str = "1.2.392.200119.6.1104";

/// A person's stable levels, drawn once.
#[derive(Debug, Clone)]
pub struct Profile {
    height: f64,
    bmi: f64,
    systolic: f64,
    hdl: f64,
    ldl: f64,
    glucose: f64,
    hba1c: f64,
    smoker: bool,
}

fn has(diagnoses: &[Diagnosis], key: &str, on: NaiveDate) -> bool {
    diagnoses
        .iter()
        .any(|d| CONDITIONS[d.condition].key == key && d.onset <= on)
}

pub(crate) fn normal(rng: &mut impl Rng, mean: f64, sd: f64) -> f64 {
    Normal::new(mean, sd).expect("positive spread").sample(rng)
}

impl Profile {
    /// Draws a person's levels.
    pub fn draw(rng: &mut impl Rng, person: &Person) -> Self {
        let male = person.sex == Sex::Male;
        Self {
            height: if male {
                normal(rng, 168.0, 6.0)
            } else {
                normal(rng, 155.0, 5.5)
            },
            bmi: if male {
                normal(rng, 23.7, 3.2)
            } else {
                normal(rng, 22.2, 3.4)
            }
            .clamp(15.0, 45.0),
            systolic: normal(rng, 118.0, 11.0),
            hdl: if male {
                normal(rng, 55.0, 13.0)
            } else {
                normal(rng, 66.0, 14.0)
            }
            .max(25.0),
            ldl: normal(rng, 118.0, 28.0).max(40.0),
            glucose: normal(rng, 94.0, 8.0),
            hba1c: normal(rng, 5.5, 0.3),
            smoker: rng.random_bool(if male { 0.27 } else { 0.07 }),
        }
    }
}

/// One checkup's results.
#[derive(Debug, Clone, PartialEq)]
pub struct Results {
    /// Date of the checkup.
    pub date: NaiveDate,
    /// Values by JLAC10 code, in [`ITEMS`] order; text items as text.
    pub values: Vec<String>,
}

/// The results of a checkup on `date`, from the person's levels, age and
/// the conditions they have by then.
pub fn results(
    rng: &mut impl Rng,
    person: &Person,
    profile: &Profile,
    diagnoses: &[Diagnosis],
    date: NaiveDate,
    age: u32,
) -> Results {
    let diabetic = has(diagnoses, "diabetes", date);
    let hypertensive = has(diagnoses, "hypertension", date);
    let dyslipidaemic = has(diagnoses, "dyslipidaemia", date);
    let height = profile.height - f64::from(age.saturating_sub(50)) * 0.08;
    let bmi =
        (profile.bmi + if diabetic { 2.0 } else { 0.0 } + normal(rng, 0.0, 0.4)).clamp(15.0, 45.0);
    let weight = bmi * (height / 100.0).powi(2);
    let waist_base = if person.sex == Sex::Male { 84.0 } else { 80.0 };
    let waist = waist_base + (bmi - 23.0) * 2.6 + normal(rng, 0.0, 3.0);
    let systolic = profile.systolic
        + 0.45 * f64::from(age.saturating_sub(40))
        + if hypertensive { 16.0 } else { 0.0 }
        + normal(rng, 0.0, 6.0);
    let diastolic = systolic * 0.62 + normal(rng, 0.0, 5.0);
    let ldl = profile.ldl + if dyslipidaemic { 28.0 } else { 0.0 } + normal(rng, 0.0, 8.0);
    let hdl = profile.hdl + normal(rng, 0.0, 4.0);
    let (glucose, hba1c) = if diabetic {
        (
            normal(rng, 142.0, 28.0).max(90.0),
            normal(rng, 7.2, 0.9).max(5.8),
        )
    } else {
        (
            profile.glucose + normal(rng, 0.0, 4.0),
            profile.hba1c + normal(rng, 0.0, 0.1),
        )
    };
    let urine_sugar = if diabetic && rng.random_bool(0.3) {
        "+"
    } else {
        "-"
    };
    let smoking = if profile.smoker { "1" } else { "2" };
    Results {
        date,
        values: vec![
            format!("{height:.1}"),
            format!("{weight:.1}"),
            format!("{bmi:.1}"),
            format!("{waist:.1}"),
            format!("{systolic:.0}"),
            format!("{diastolic:.0}"),
            format!("{hdl:.0}"),
            format!("{ldl:.0}"),
            format!("{glucose:.0}"),
            format!("{hba1c:.1}"),
            urine_sugar.to_owned(),
            smoking.to_owned(),
        ],
    }
}

/// Checkup dates of a person: one per fiscal year (April–March) in which
/// they are 40–74 and insured, taken with probability `attendance`.
pub fn dates(
    rng: &mut impl Rng,
    person: &Person,
    from: NaiveDate,
    to: NaiveDate,
    attendance: f64,
) -> Vec<NaiveDate> {
    let mut out = Vec::new();
    let mut year_start = NaiveDate::from_ymd_opt(
        if from.month() >= 4 {
            from.year()
        } else {
            from.year() - 1
        },
        4,
        1,
    )
    .expect("1 April");
    let last = person.death.unwrap_or(to).min(to);
    while year_start <= last {
        let day = year_start + Days::new(rng.random_range(30..330));
        let attends = rng.random_bool(attendance);
        let age = age_on(person.birth, day);
        if attends && day >= from && day <= last && (40..=74).contains(&age) {
            out.push(day);
        }
        year_start = NaiveDate::from_ymd_opt(year_start.year() + 1, 4, 1).expect("1 April");
    }
    out
}

/// Identity as the checkup system writes it.
pub struct Identity<'a> {
    /// Insurer number (eight digits; 国保 written with its six).
    pub insurer: &'a str,
    /// Card symbol.
    pub symbol: String,
    /// Card number.
    pub number: String,
    /// Branch number, if recorded.
    pub branch: Option<&'a str>,
    /// Kana name, if recorded.
    pub kana: Option<String>,
}

/// Writes one checkup document.
pub fn document(
    person: &Person,
    id: &Identity<'_>,
    results: &Results,
    document_id: &str,
) -> io::Result<Vec<u8>> {
    let mut w = Writer::new_with_indent(Vec::new(), b' ', 2);
    w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    let effective = Ymd::new(results.date, "").to_string();
    w.create_element("ClinicalDocument")
        .with_attribute(("xmlns", "urn:hl7-org:v3"))
        .with_attribute(("xmlns:xsi", "http://www.w3.org/2001/XMLSchema-instance"))
        .write_inner_content(|w| {
            w.create_element("realmCode")
                .with_attribute(("code", "JP"))
                .write_empty()?;
            w.create_element("typeId")
                .with_attributes([
                    ("root", "2.16.840.1.113883.1.3"),
                    ("extension", "POCD_HD000040"),
                ])
                .write_empty()?;
            w.create_element("id")
                .with_attributes([
                    ("root", "1.2.392.200119.6.102.11"),
                    ("extension", document_id),
                ])
                .write_empty()?;
            w.create_element("code")
                .with_attributes([("code", "10"), ("codeSystem", "1.2.392.200119.6.1001")])
                .write_empty()?;
            w.create_element("title")
                .write_text_content(BytesText::new("特定健診情報ファイル"))?;
            w.create_element("effectiveTime")
                .with_attribute(("value", effective.as_str()))
                .write_empty()?;
            w.create_element("recordTarget").write_inner_content(|w| {
                w.create_element("patientRole").write_inner_content(|w| {
                    let mut ids = vec![
                        (OID_INSURER, id.insurer),
                        (OID_SYMBOL, id.symbol.as_str()),
                        (OID_NUMBER, id.number.as_str()),
                    ];
                    if let Some(branch) = id.branch {
                        ids.push((OID_BRANCH, branch));
                    }
                    for (root, extension) in ids {
                        w.create_element("id")
                            .with_attributes([("root", root), ("extension", extension)])
                            .write_empty()?;
                    }
                    w.create_element("patient").write_inner_content(|w| {
                        if let Some(kana) = &id.kana {
                            w.create_element("name")
                                .with_attribute(("use", "SYL"))
                                .write_text_content(BytesText::new(kana))?;
                        }
                        w.create_element("administrativeGenderCode")
                            .with_attributes([("code", person.sex.code()), ("codeSystem", OID_SEX)])
                            .write_empty()?;
                        w.create_element("birthTime")
                            .with_attribute((
                                "value",
                                Ymd::new(person.birth, "").to_string().as_str(),
                            ))
                            .write_empty()?;
                        Ok(())
                    })?;
                    Ok(())
                })?;
                Ok(())
            })?;
            w.create_element("component").write_inner_content(|w| {
                w.create_element("structuredBody")
                    .write_inner_content(|w| {
                        w.create_element("component").write_inner_content(|w| {
                            w.create_element("section").write_inner_content(|w| {
                                w.create_element("code")
                                    .with_attributes([
                                        ("code", "01010"),
                                        ("codeSystem", "1.2.392.200119.6.1010"),
                                    ])
                                    .write_empty()?;
                                w.create_element("title")
                                    .write_text_content(BytesText::new("特定健診結果"))?;
                                for ((code, name, unit), value) in ITEMS.iter().zip(&results.values)
                                {
                                    observation(w, code, name, unit, value, &effective)?;
                                }
                                Ok(())
                            })?;
                            Ok(())
                        })?;
                        Ok(())
                    })?;
                Ok(())
            })?;
            Ok(())
        })?;
    Ok(w.into_inner())
}

fn observation(
    w: &mut Writer<Vec<u8>>,
    code: &str,
    name: &str,
    unit: &str,
    value: &str,
    effective: &str,
) -> io::Result<()> {
    w.create_element("entry").write_inner_content(|w| {
        w.create_element("observation")
            .with_attributes([("classCode", "OBS"), ("moodCode", "EVN")])
            .write_inner_content(|w| {
                w.create_element("code")
                    .with_attributes([
                        ("code", code),
                        ("codeSystem", OID_JLAC10),
                        ("displayName", name),
                    ])
                    .write_empty()?;
                w.create_element("effectiveTime")
                    .with_attribute(("value", effective))
                    .write_empty()?;
                if unit.is_empty() {
                    w.create_element("value")
                        .with_attributes([("xsi:type", "CD"), ("code", value)])
                        .write_empty()?;
                } else {
                    w.create_element("value")
                        .with_attributes([("xsi:type", "PQ"), ("value", value), ("unit", unit)])
                        .write_empty()?;
                }
                Ok(())
            })?;
        Ok(())
    })?;
    Ok(())
}
