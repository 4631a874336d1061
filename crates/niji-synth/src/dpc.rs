//! DPC survey data of the hospital stays at DPC hospitals: the EF file (one
//! row per item per day of care, by month of care) and 様式1 (FF1: key/value
//! rows per stay, in the month of discharge). Both are tab-separated,
//! Shift_JIS, CRLF, one pair of files per hospital and month, named as the
//! survey names them (`EFn_<facility>_<YYMM>.txt`, `FF1_<facility>_<YYMM>.txt`).
//!
//! The patient is known by データ識別番号, the hospital's own patient
//! number: the same person has the same number at one hospital and
//! unrelated numbers at two. FF1 carries the birth date, sex and postcode
//! (A000010), admission (A000020), discharge with outcome (A000030) and the
//! main diagnosis with its ICD-10 code (A006010). Postcodes are synthetic:
//! three digits from the prefecture, four from the person.

use crate::care::{Claim, INPATIENT_DAY};
use crate::facility::Facility;
use crate::population::{InsuranceSpell, Person};
use crate::uke::{claim_type, written_insurer};
use crate::{SynthError, writer::Output};
use chrono::{Days, Months, NaiveDate};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

const FLUSH_BYTES: usize = 16 << 20;

/// The hospital's patient number for a person: stable per hospital, and
/// unrelated across hospitals.
pub fn data_id(facility: &Facility, person: &Person) -> String {
    let code: u64 = facility.code.parse().unwrap_or(0);
    let mixed = (person.id ^ code.rotate_left(17)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    format!("{:010}", (mixed >> 20) % 10_000_000_000)
}

/// A synthetic seven-digit postcode for where a person lives.
pub fn postcode(person: &Person) -> String {
    let local = person.id.wrapping_mul(2_862_933_555_777_941_757) >> 40;
    format!(
        "{:03}{:04}",
        person.prefecture * 20 + (local % 20) as u32,
        local % 10_000
    )
}

struct Pending {
    lines: u64,
    bytes: Vec<u8>,
}

/// Writes EF and FF1 rows into their files, buffered like the claim files.
pub(crate) struct DpcWriter {
    root: PathBuf,
    files: BTreeMap<String, Pending>,
    buffered: usize,
    stays: u64,
}

fn yymm(month: NaiveDate) -> String {
    month.format("%y%m").to_string()
}

fn ymd(date: NaiveDate) -> String {
    date.format("%Y%m%d").to_string()
}

impl DpcWriter {
    pub(crate) fn new(root: &Path) -> Self {
        Self {
            root: root.to_path_buf(),
            files: BTreeMap::new(),
            buffered: 0,
            stays: 0,
        }
    }

    /// Queues rows, returning the line number of the first.
    fn push(&mut self, relative: &str, rows: &[Vec<String>]) -> Result<u64, SynthError> {
        let file = self.files.entry(relative.to_owned()).or_insert(Pending {
            lines: 0,
            bytes: Vec::new(),
        });
        let first = file.lines + 1;
        for row in rows {
            let line = row.join("\t");
            let (encoded, _, unmappable) = encoding_rs::SHIFT_JIS.encode(&line);
            if unmappable {
                return Err(SynthError::Invalid(format!(
                    "{relative}: line {}: a character has no Shift_JIS form",
                    file.lines + 1
                )));
            }
            file.bytes.extend_from_slice(&encoded);
            file.bytes.extend_from_slice(b"\r\n");
            self.buffered += encoded.len() + 2;
            file.lines += 1;
        }
        if self.buffered > FLUSH_BYTES {
            self.flush()?;
        }
        Ok(first)
    }

    /// The EF rows of one inpatient claim month, and for the month of
    /// discharge the stay's FF1 rows; each block gets its truth row.
    pub(crate) fn stay_month(
        &mut self,
        facility: &Facility,
        person: &Person,
        spell: &InsuranceSpell,
        claim: &Claim,
        discharged: NaiveDate,
        records: &mut Output,
    ) -> Result<(), SynthError> {
        let Some(admitted) = claim.admitted else {
            return Ok(());
        };
        let id = data_id(facility, person);
        let month_end = claim.month + Months::new(1) - Days::new(1);
        let discharge_field = if discharged <= month_end {
            ymd(discharged)
        } else {
            "00000000".to_owned()
        };
        let age = crate::population::age_on(person.birth, admitted);
        let kind = claim_type(spell.card.scheme, &spell.branch, age, true);
        let mut rows = Vec::new();
        let mut order = 0;
        for &day in &claim.days {
            let date = claim.month + Days::new(u64::from(day) - 1);
            let mut items: Vec<(&str, &str, &str, u32, &str)> = vec![(
                "90",
                INPATIENT_DAY.code,
                INPATIENT_DAY.name,
                INPATIENT_DAY.points,
                "1",
            )];
            for (drug, _, _) in &claim.drugs {
                items.push(("21", drug.code, drug.name, drug.points_per_day, "1"));
            }
            for (class, code, name, points, quantity) in items {
                order += 1;
                rows.push(vec![
                    facility.code.clone(),
                    id.clone(),
                    discharge_field.clone(),
                    ymd(admitted),
                    class.to_owned(),
                    order.to_string(),
                    "0".to_owned(),
                    String::new(),
                    code.to_owned(),
                    String::new(),
                    name.to_owned(),
                    quantity.to_owned(),
                    String::new(),
                    points.to_string(),
                    "0".to_owned(),
                    points.to_string(),
                    String::new(),
                    points.to_string(),
                    "0".to_owned(),
                    "0".to_owned(),
                    "0".to_owned(),
                    "1".to_owned(),
                    written_insurer(spell).to_owned(),
                    kind.clone(),
                    ymd(date),
                    "01".to_owned(),
                    "010".to_owned(),
                    String::new(),
                    "1".to_owned(),
                    "1".to_owned(),
                    "1".to_owned(),
                    "1".to_owned(),
                ]);
            }
        }
        let ef = format!(
            "dpc/{}/EFn_{}_{}.txt",
            facility.code,
            facility.code,
            yymm(claim.month)
        );
        let line = self.push(&ef, &rows)?;
        records.write([ef.as_str(), &format!("line:{line}"), &person.id.to_string()])?;
        if discharged <= month_end {
            self.form_1(facility, person, claim, admitted, discharged, &id, records)?;
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn form_1(
        &mut self,
        facility: &Facility,
        person: &Person,
        claim: &Claim,
        admitted: NaiveDate,
        discharged: NaiveDate,
        id: &str,
        records: &mut Output,
    ) -> Result<(), SynthError> {
        let died = person.death == Some(discharged);
        let (condition, _) = claim.diagnoses[0];
        let row = |code: &str, payload: Vec<String>| {
            let mut row = vec![
                facility.code.clone(),
                id.to_owned(),
                ymd(discharged),
                ymd(admitted),
                "0".to_owned(),
                "0".to_owned(),
                code.to_owned(),
                "0".to_owned(),
                "0".to_owned(),
            ];
            row.extend(payload);
            row.resize(18, String::new());
            row
        };
        let rows = vec![
            row(
                "A000010",
                vec![
                    ymd(person.birth),
                    person.sex.code().to_owned(),
                    postcode(person),
                ],
            ),
            row("A000020", vec![ymd(admitted), "1".to_owned()]),
            row(
                "A000030",
                vec![
                    ymd(discharged),
                    if died { "4" } else { "1" }.to_owned(),
                    if died { "6" } else { "1" }.to_owned(),
                ],
            ),
            row(
                "A006010",
                vec![
                    condition.icd10.to_owned(),
                    String::new(),
                    String::new(),
                    String::new(),
                    String::new(),
                    String::new(),
                    String::new(),
                    String::new(),
                    condition.name.to_owned(),
                ],
            ),
        ];
        let ff1 = format!(
            "dpc/{}/FF1_{}_{}.txt",
            facility.code,
            facility.code,
            yymm(claim.month)
        );
        let line = self.push(&ff1, &rows)?;
        records.write([
            ff1.as_str(),
            &format!("line:{line}"),
            &person.id.to_string(),
        ])?;
        self.stays += 1;
        Ok(())
    }

    fn flush(&mut self) -> Result<(), SynthError> {
        for (relative, file) in &mut self.files {
            if file.bytes.is_empty() {
                continue;
            }
            let path = self.root.join(relative);
            let io = |source| SynthError::Io {
                path: path.clone(),
                source,
            };
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(io)?;
            }
            let mut handle = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(io)?;
            handle.write_all(&file.bytes).map_err(io)?;
            file.bytes.clear();
        }
        self.buffered = 0;
        Ok(())
    }

    /// Writes what is buffered. Returns (files, stays, bytes).
    pub(crate) fn finish(mut self) -> Result<(u64, u64, u64), SynthError> {
        self.flush()?;
        let mut bytes = 0;
        for relative in self.files.keys() {
            let path = self.root.join(relative);
            bytes += std::fs::metadata(&path)
                .map_err(|source| SynthError::Io {
                    path: path.clone(),
                    source,
                })?
                .len();
        }
        Ok((self.files.len() as u64, self.stays, bytes))
    }
}
