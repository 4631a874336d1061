//! Care episodes turned into monthly claims: one claim per person, facility
//! and month, as レセプト are.
//!
//! People with a chronic condition see their home clinic most months
//! (renewing prescriptions, with the condition's test every three months);
//! anyone may come in with an acute complaint; and a stroke, a cancer or
//! heart failure beginning in the period brings a hospital stay.

use crate::clinical::{
    ACUTE, ADMISSIONS, CONDITIONS, Condition, Diagnosis, Drug, FIRST_VISIT, Procedure, REVISIT,
    admission_rate,
};
use crate::facility::Facilities;
use crate::population::Person;
use chrono::{Datelike, Days, Months, NaiveDate};
use rand::Rng;

/// 入院基本料 per day (synthetic code, plausible points).
pub const INPATIENT_DAY: Procedure = Procedure {
    category: "90",
    code: "190077410",
    name: "急性期一般入院料１",
    points: 1650,
};

/// One monthly claim.
#[derive(Debug, Clone, PartialEq)]
pub struct Claim {
    /// Index into [`Facilities::all`].
    pub facility: usize,
    /// First day of the month of care.
    pub month: NaiveDate,
    /// Admission date, for inpatient claims.
    pub admitted: Option<NaiveDate>,
    /// Days of the month with care (1-based), ascending.
    pub days: Vec<u32>,
    /// Diagnoses, the main one first.
    pub diagnoses: Vec<(&'static Condition, NaiveDate)>,
    /// Procedures with the days they were done.
    pub procedures: Vec<(Procedure, Vec<u32>)>,
    /// Drugs with days supplied, prescribed on a day.
    pub drugs: Vec<(Drug, u32, u32)>,
}

impl Claim {
    /// Total points.
    pub fn points(&self) -> u64 {
        let procedures: u64 = self
            .procedures
            .iter()
            .map(|(p, days)| u64::from(p.points) * days.len() as u64)
            .sum();
        let drugs: u64 = self
            .drugs
            .iter()
            .map(|(d, supply, _)| u64::from(d.points_per_day) * u64::from(*supply))
            .sum();
        procedures + drugs
    }
}

/// The claims of one person over the period, in month order.
pub fn claims(
    rng: &mut impl Rng,
    person: &Person,
    diagnoses: &[Diagnosis],
    facilities: &Facilities,
    from: NaiveDate,
    to: NaiveDate,
) -> Vec<Claim> {
    let clinic = facilities.clinic(person.prefecture, rng);
    let last = person.death.unwrap_or(to).min(to);
    let mut seen_clinic = false;
    let mut out = Vec::new();
    let mut month = from;
    while month <= last {
        let month_end = (month + Months::new(1) - Days::new(1)).min(last);
        let open_days = month_end.day();
        let chronic: Vec<(&'static Condition, NaiveDate)> = diagnoses
            .iter()
            .filter(|d| d.onset <= month_end)
            .map(|d| (&CONDITIONS[d.condition], d.onset))
            .collect();
        let mut claim = Claim {
            facility: clinic,
            month,
            admitted: None,
            days: Vec::new(),
            diagnoses: Vec::new(),
            procedures: Vec::new(),
            drugs: Vec::new(),
        };
        if !chronic.is_empty() && rng.random_bool(0.85) {
            let visits = if rng.random_bool(0.2) { 2 } else { 1 };
            for _ in 0..visits {
                claim.days.push(rng.random_range(1..=open_days));
            }
            claim.diagnoses.extend(chronic.iter().take(5).copied());
            let first_day = *claim.days.iter().min().expect("a visit");
            let supply = if rng.random_bool(0.5) { 28 } else { 30 };
            for (condition, _) in chronic.iter().take(5) {
                for drug in condition.drugs {
                    claim.drugs.push((*drug, supply, first_day));
                }
                if let Some(test) = condition.test
                    && month.month().is_multiple_of(3)
                {
                    claim.procedures.push((test, vec![first_day]));
                }
            }
        }
        if rng.random_bool(0.06) {
            let acute = &ACUTE[rng.random_range(0..ACUTE.len())];
            let day = rng.random_range(1..=open_days);
            claim.days.push(day);
            claim
                .diagnoses
                .push((acute, month + Days::new(u64::from(day) - 1)));
            claim.drugs.push((acute.drugs[0], 5, day));
        }
        if !claim.days.is_empty() {
            claim.days.sort_unstable();
            claim.days.dedup();
            let visit = if seen_clinic { REVISIT } else { FIRST_VISIT };
            seen_clinic = true;
            claim.procedures.insert(0, (visit, claim.days.clone()));
            out.push(claim);
        }
        month = month + Months::new(1);
    }
    out.extend(stays(rng, person, diagnoses, facilities, from, last));
    out.sort_by_key(|c| (c.month, c.facility));
    out
}

/// Hospital stays: after a stroke, a cancer or heart failure that begins in
/// the period, and admissions of their own ([`ADMISSIONS`]) at a rate that
/// rises with age. Each stay is one claim for each month it touches.
fn stays(
    rng: &mut impl Rng,
    person: &Person,
    diagnoses: &[Diagnosis],
    facilities: &Facilities,
    from: NaiveDate,
    last: NaiveDate,
) -> Vec<Claim> {
    let mut admissions: Vec<(&'static Condition, NaiveDate, u64)> = Vec::new();
    for d in diagnoses.iter().filter(|d| d.onset >= from) {
        let condition = &CONDITIONS[d.condition];
        let length = match condition.key {
            "stroke" => rng.random_range(14..40),
            "heart_failure" => rng.random_range(10..21),
            k if k.ends_with("_cancer") => rng.random_range(8..16),
            _ => continue,
        };
        admissions.push((condition, d.onset, length));
    }
    let mut month = from;
    while month <= last {
        let age = crate::population::age_on(person.birth, month);
        if rng.random_bool(admission_rate(age) / 12.0) {
            let (condition, shortest, longest) = &ADMISSIONS[rng.random_range(0..ADMISSIONS.len())];
            let day = month + Days::new(rng.random_range(0..28));
            if day <= last {
                admissions.push((condition, day, rng.random_range(*shortest..=*longest)));
            }
        }
        month = month + Months::new(1);
    }
    admissions.sort_by_key(|(_, day, _)| *day);
    let mut out = Vec::new();
    let mut free_from = from;
    for (condition, admitted, length) in admissions {
        // One stay at a time: an admission during a stay waits for its end.
        let admitted = admitted.max(free_from);
        if admitted > last {
            break;
        }
        let discharged = (admitted + Days::new(length)).min(last);
        free_from = discharged + Days::new(1);
        let hospital = facilities.hospital(person.prefecture, rng);
        out.extend(stay_claims(hospital, condition, admitted, discharged));
    }
    out
}

/// The monthly claims of one stay.
fn stay_claims(
    hospital: usize,
    condition: &'static Condition,
    admitted: NaiveDate,
    discharged: NaiveDate,
) -> Vec<Claim> {
    let mut out = Vec::new();
    let mut month = NaiveDate::from_ymd_opt(admitted.year(), admitted.month(), 1).expect("month");
    while month <= discharged {
        let month_end = month + Months::new(1) - Days::new(1);
        let first = admitted.max(month).day();
        let end = discharged.min(month_end).day();
        let days: Vec<u32> = (first..=end).collect();
        out.push(Claim {
            facility: hospital,
            month,
            admitted: Some(admitted),
            days: days.clone(),
            diagnoses: vec![(condition, admitted)],
            procedures: vec![(INPATIENT_DAY, days)],
            drugs: condition
                .drugs
                .iter()
                .map(|drug| (*drug, end - first + 1, first))
                .collect(),
        });
        month = month + Months::new(1);
    }
    out
}
