//! Long-term care: care-need certification (要介護認定) and the monthly
//! care claims (介護給付費明細書) of certified persons.
//!
//! Certification is mostly for people over 75 and rises steeply with age
//! (about 3% at 65–74, 8% at 75–79, 20% at 80–84, 45% at 85–89, 70% from
//! 90), more with dementia. A level (要介護状態区分: 11 support, 21–25 care
//! levels 1–5) is granted for a year or two and often raised at renewal.
//! Certified people use services most months; each month's services at one
//! provider are one claim.
//!
//! Claims are CSV files, one per provider and month of service: a control
//! record (1) with the record count, data records (2) — 01 basic (month,
//! provider number, insurer number, insured number, birth date, sex, care
//! level, kana name), 02 detail (service type, service item, units), 10
//! totals — and an end record (3). Provider and insured numbers are
//! synthetic but have the real lengths (10 digits each). The kana name,
//! which the NDB ⇄ care DB linkage (ID2) hashes, carries notation noise.

use crate::Ymd;
use crate::clinical::{CONDITIONS, Diagnosis};
use crate::noise::Noise;
use crate::population::{Person, age_on};
use crate::spool::{Spool, Text};
use crate::{SynthError, writer::Output};
use chrono::{Datelike, Days, Months, NaiveDate};
use rand::Rng;
use std::collections::BTreeMap;
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;

/// One certification: a level for a stretch of time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certification {
    /// Level code: `11` support, `21`–`25` care levels 1–5.
    pub level: &'static str,
    /// First day.
    pub valid_from: NaiveDate,
    /// Last day.
    pub valid_to: NaiveDate,
}

const LEVELS: [&str; 6] = ["11", "21", "22", "23", "24", "25"];

/// Services: (service type, service item, units per use, uses per month).
const SERVICES: [(&str, &str, u32, u32); 4] = [
    ("11", "1121", 250, 8), // 訪問介護
    ("15", "1511", 650, 6), // 通所介護
    ("13", "1311", 820, 2), // 訪問看護
    ("17", "1711", 120, 1), // 福祉用具貸与
];

fn certified_share(age: u32) -> f64 {
    match age {
        0..65 => 0.0,
        65..75 => 0.03,
        75..80 => 0.08,
        80..85 => 0.20,
        85..90 => 0.45,
        _ => 0.70,
    }
}

/// A person's certifications over the period, oldest first.
pub fn certifications(
    rng: &mut impl Rng,
    person: &Person,
    diagnoses: &[Diagnosis],
    from: NaiveDate,
    to: NaiveDate,
) -> Vec<Certification> {
    let last = person.death.unwrap_or(to).min(to);
    let demented = diagnoses
        .iter()
        .any(|d| CONDITIONS[d.condition].key.starts_with("dementia"));
    let boost = if demented { 2.5 } else { 1.0 };
    let age_start = age_on(person.birth, from);
    let mut start = if rng.random_bool((certified_share(age_start) * boost).min(0.95)) {
        Some(from)
    } else {
        // The share gained over the period's ageing, spread over its days.
        let gained =
            (certified_share(age_on(person.birth, last)) - certified_share(age_start)).max(0.0);
        let span = (last - from).num_days().max(1) as u64;
        rng.random_bool((gained * boost).min(0.95))
            .then(|| from + Days::new(rng.random_range(0..span)))
    };
    let mut level = rng.random_range(0..4usize);
    let mut out = Vec::new();
    while let Some(valid_from) = start.filter(|d| *d <= last) {
        let months = if rng.random_bool(0.5) { 12 } else { 24 };
        let valid_to = (valid_from + Months::new(months) - Days::new(1)).min(to);
        out.push(Certification {
            level: LEVELS[level],
            valid_from,
            valid_to,
        });
        if rng.random_bool(0.35) {
            level = (level + 1).min(LEVELS.len() - 1);
        }
        start = Some(valid_to + Days::new(1));
    }
    out
}

/// A person's care insured number (介護保険被保険者番号): ten digits,
/// stable for the person.
pub fn insured_number(person: &Person) -> String {
    format!(
        "{:010}",
        person.id.wrapping_mul(11_400_714_819_323_198_485) % 10_000_000_000
    )
}

/// The care insurer (the municipality) as an eight-digit number.
pub fn insurer_number(person: &Person) -> String {
    let first_seven = format!("00{}", person.municipality);
    format!("{first_seven}{}", crate::insurer::check_digit(&first_seven))
}

/// A synthetic ten-digit care provider number in a prefecture.
pub fn provider_number(prefecture: u32, index: u32) -> String {
    format!("{prefecture:02}7{:07}", 100_000 + index % 900_000)
}

/// The services used in a month, as (type, item, units).
pub fn services(rng: &mut impl Rng, level: &str) -> Vec<(&'static str, &'static str, u32)> {
    let heavy = level >= "23";
    SERVICES
        .iter()
        .filter(|(kind, _, _, _)| *kind != "13" || heavy)
        .filter(|_| rng.random_bool(0.6))
        .map(|(kind, item, units, uses)| (*kind, *item, units * uses))
        .collect()
}

/// Writes the certification history and the care claim files.
pub(crate) struct LtcWriter {
    spool: Spool,
    /// Per claim file: data records so far, and the byte offset of the
    /// count in its control record.
    records: BTreeMap<String, (u64, usize)>,
    claims: u64,
    providers_per_prefecture: u64,
    certifications: Output,
}

/// Width of the record count in the control record, patched at the end.
const COUNT_WIDTH: usize = 9;

impl LtcWriter {
    pub(crate) fn create(root: &Path, persons: u64) -> Result<Self, SynthError> {
        Ok(Self {
            spool: Spool::new(root, "care", Text::ShiftJisCrlf, persons),
            records: BTreeMap::new(),
            claims: 0,
            providers_per_prefecture: (persons / 20_000).max(1),
            certifications: Output::create(
                root,
                "care/certifications.csv",
                &[
                    "insurer_number",
                    "insured_number",
                    "birth_date",
                    "sex",
                    "kana_name",
                    "level",
                    "valid_from",
                    "valid_to",
                ],
            )?,
        })
    }

    /// A person's certifications and care claims.
    pub(crate) fn person(
        &mut self,
        rng: &mut impl Rng,
        noise: &Noise,
        person: &Person,
        certifications: &[Certification],
        to: NaiveDate,
        records: &mut Output,
    ) -> Result<(), SynthError> {
        if certifications.is_empty() {
            return Ok(());
        }
        let insurer = insurer_number(person);
        let insured = insured_number(person);
        let birth = Ymd::new(person.birth, "").to_string();
        let id = person.id.to_string();
        for c in certifications {
            let name = person.name_on(c.valid_from);
            let kana = noise
                .kana_name(rng, name.family.kana, name.given.kana)
                .unwrap_or_default();
            self.certifications.write([
                insurer.as_str(),
                &insured,
                &birth,
                person.sex.code(),
                &kana,
                c.level,
                &Ymd::new(c.valid_from, "-").to_string(),
                &Ymd::new(c.valid_to, "-").to_string(),
            ])?;
            let line = format!("line:{}", self.certifications.line());
            records.write(["care/certifications.csv", line.as_str(), id.as_str()])?;
        }
        // Providers scale with the population: about one per 20,000 people
        // in each prefecture, shared by the households around it.
        let town: u64 = person.municipality[2..].parse().unwrap_or(201);
        let index = (town * 7 + person.household % 7) % self.providers_per_prefecture;
        let provider = provider_number(person.prefecture, index as u32);
        let last = person.death.unwrap_or(to).min(to);
        let first = certifications[0].valid_from;
        let mut month = first.with_day(1).expect("first of the month");
        while month <= last {
            let month_end = month + Months::new(1) - Days::new(1);
            let current = certifications
                .iter()
                .find(|c| c.valid_from <= month_end && c.valid_to >= month);
            if let Some(c) = current {
                let used = services(rng, c.level);
                if !used.is_empty() && rng.random_bool(0.85) {
                    let name = person.name_on(month);
                    let kana = noise
                        .kana_name(rng, name.family.kana, name.given.kana)
                        .unwrap_or_default();
                    let yyyymm = Ymd::month(month).to_string();
                    let mut lines = vec![format!(
                        "01,{yyyymm},{provider},{insurer},{insured},{birth},{},{},{kana}",
                        person.sex.code(),
                        c.level
                    )];
                    let mut total = 0;
                    for (kind, item, units) in &used {
                        lines.push(format!(
                            "02,{yyyymm},{provider},{insured},{kind},{item},{units}"
                        ));
                        total += units;
                    }
                    lines.push(format!("10,{yyyymm},{provider},{insured},{total}"));
                    let relative = format!("care/{yyyymm}/{provider}.csv");
                    let line = self.claim(&relative, &provider, &yyyymm, &lines)?;
                    records.write([relative.as_str(), &format!("line:{line}"), id.as_str()])?;
                }
            }
            month = month + Months::new(1);
        }
        Ok(())
    }

    /// Queues one claim's data records; returns the line of its basic record.
    fn claim(
        &mut self,
        relative: &str,
        provider: &str,
        yyyymm: &str,
        lines: &[String],
    ) -> Result<u64, SynthError> {
        if self.spool.lines(relative) == 0 {
            // The count is written as zeros and patched in `finish`.
            let prefix = format!("1,{provider},{yyyymm},");
            self.spool
                .line(relative, &format!("{prefix}{:0COUNT_WIDTH$}", 0))?;
            self.records.insert(relative.to_owned(), (0, prefix.len()));
        }
        let first = self.spool.lines(relative) + 1;
        for line in lines {
            let (count, _) = self
                .records
                .get_mut(relative)
                .expect("control record written");
            *count += 1;
            let record = format!("2,{count},{line}");
            self.spool.line(relative, &record)?;
        }
        self.claims += 1;
        self.spool.relieve()?;
        Ok(first)
    }

    /// Ends every file and patches its record count. Returns (files, claims, bytes).
    pub(crate) fn finish(mut self) -> Result<(u64, u64, u64), SynthError> {
        for (relative, (count, _)) in &self.records {
            self.spool.line(relative, &format!("3,{}", count + 1))?;
        }
        let paths: Vec<(std::path::PathBuf, usize, u64)> = self
            .records
            .iter()
            .map(|(relative, (count, offset))| (self.spool.path(relative), *offset, *count))
            .collect();
        let (files, mut bytes) = self.spool.finish()?;
        for (path, offset, count) in paths {
            let io = |source| SynthError::Io {
                path: path.clone(),
                source,
            };
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .open(&path)
                .map_err(io)?;
            file.seek(SeekFrom::Start(offset as u64)).map_err(io)?;
            file.write_all(format!("{count:0COUNT_WIDTH$}").as_bytes())
                .map_err(io)?;
        }
        bytes += self.certifications.finish()?;
        Ok((files, self.claims, bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(municipality: &str) -> Person {
        Person {
            id: 42,
            sex: crate::Sex::Female,
            birth: NaiveDate::from_ymd_opt(1935, 5, 1).unwrap(),
            death: None,
            prefecture: 13,
            municipality: municipality.to_owned(),
            household: 42,
            twin: None,
            names: Vec::new(),
            insurance: Vec::new(),
        }
    }

    #[test]
    fn numbers_have_their_lengths_and_insurers_check() {
        assert_eq!(provider_number(13, 5).len(), 10);
        let insurer = insurer_number(&person("13201"));
        assert_eq!(insurer.len(), 8);
        assert!(crate::insurer::is_valid(&insurer), "{insurer}");
        assert!(insurer.contains("13201"));
        assert_eq!(insured_number(&person("13201")).len(), 10);
    }

    #[test]
    fn certification_rises_with_age() {
        assert_eq!(certified_share(60), 0.0);
        assert!(certified_share(70) < certified_share(82));
        assert!(certified_share(82) < certified_share(92));
    }
}
