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

use crate::Ymd;
use crate::care::{Claim, INPATIENT_DAY};
use crate::facility::Facility;
use crate::population::{InsuranceSpell, Person};
use crate::spool::{Spool, Text};
use crate::uke::{claim_type, written_insurer};
use crate::{SynthError, writer::Output};
use chrono::{Days, Months, NaiveDate};
use niji_core::geography;
use std::path::Path;

/// The hospital's patient number for a person: stable per hospital, and
/// unrelated across hospitals.
pub fn data_id(facility: &Facility, person: &Person) -> String {
    let code: u64 = facility.code.parse().unwrap_or(0);
    let mixed = (person.id ^ code.rotate_left(17)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    format!("{:010}", (mixed >> 20) % 10_000_000_000)
}

/// A synthetic seven-digit postcode for where a person lives: one of the
/// postcode areas Japan Post gives the person's prefecture, then four
/// digits of no meaning.
pub fn postcode(person: &Person) -> String {
    let local = person.id.wrapping_mul(2_862_933_555_777_941_757) >> 40;
    let areas: Vec<u16> = u8::try_from(person.prefecture)
        .map(|p| geography::postcode_areas(p).collect())
        .unwrap_or_default();
    let area = match areas.len() {
        0 => 100,
        n => areas[(local % n as u64) as usize],
    };
    format!("{area:03}{:04}", local % 10_000)
}

/// Writes EF and FF1 rows into their files through a [`Spool`].
pub(crate) struct DpcWriter {
    spool: Spool,
    stays: u64,
}

fn yymm(month: NaiveDate) -> String {
    month.format("%y%m").to_string()
}

fn ymd(date: NaiveDate) -> String {
    Ymd::new(date, "").to_string()
}

impl DpcWriter {
    pub(crate) fn new(root: &Path, persons: u64) -> Self {
        Self {
            spool: Spool::new(root, "dpc", Text::ShiftJisCrlf, persons),
            stays: 0,
        }
    }

    /// Queues tab-separated rows, returning the line number of the first.
    fn push(&mut self, relative: &str, rows: &[Vec<String>]) -> Result<u64, SynthError> {
        let first = self.spool.lines(relative) + 1;
        for row in rows {
            self.spool.line(relative, &row.join("\t"))?;
        }
        self.spool.relieve()?;
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

    /// Writes what is queued. Returns (files, stays, bytes).
    pub(crate) fn finish(self) -> Result<(u64, u64, u64), SynthError> {
        let (files, bytes) = self.spool.finish()?;
        Ok((files, self.stays, bytes))
    }
}
