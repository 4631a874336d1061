//! Streams blocks of persons into the output files.

use crate::Ymd;
use crate::archive::Archiver;
use crate::care;
use crate::checkup;
use crate::clinical;
use crate::dpc::DpcWriter;
use crate::facility::Facilities;
use crate::ltc::{self, LtcWriter};
use crate::population::Person;
use crate::spool::{Spool, Text};
use crate::uke::UkeWriter;
use crate::{Summary, SynthConfig, SynthError};
use chrono::{Datelike, NaiveDate};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::HashMap;
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

const ELIGIBILITY: &str = "eligibility/history.csv";

/// Creates `dir/relative` and its parent directories; errors name the path.
pub(crate) fn create_file(dir: &Path, relative: &str) -> Result<(PathBuf, File), SynthError> {
    let path = dir.join(relative);
    let io = |source| SynthError::Io {
        path: path.clone(),
        source,
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    let file = File::create(&path).map_err(io)?;
    Ok((path, file))
}

/// One CSV output file and where it is.
pub(crate) struct Output {
    path: PathBuf,
    csv: csv::Writer<BufWriter<File>>,
    rows: u64,
}

impl Output {
    pub(crate) fn create(dir: &Path, relative: &str, header: &[&str]) -> Result<Self, SynthError> {
        let (path, file) = create_file(dir, relative)?;
        let mut output = Self {
            csv: csv::Writer::from_writer(BufWriter::new(file)),
            path,
            rows: 0,
        };
        output.write(header)?;
        output.rows = 0;
        Ok(output)
    }

    pub(crate) fn write<I, T>(&mut self, record: I) -> Result<(), SynthError>
    where
        I: IntoIterator<Item = T>,
        T: AsRef<[u8]>,
    {
        self.rows += 1;
        self.csv
            .write_record(record)
            .map_err(|source| SynthError::Csv {
                path: self.path.clone(),
                source,
            })
    }

    /// The 1-based line number of the row written last (the header is line 1).
    pub(crate) fn line(&self) -> u64 {
        self.rows + 1
    }

    pub(crate) fn finish(self) -> Result<u64, SynthError> {
        let path = self.path;
        let file = self
            .csv
            .into_inner()
            .map_err(|err| SynthError::Io {
                path: path.clone(),
                source: err.into_error(),
            })?
            .into_inner()
            .map_err(|err| SynthError::Io {
                path: path.clone(),
                source: err.into_error(),
            })?;
        file.sync_all().map_err(|source| SynthError::Io {
            path: path.clone(),
            source,
        })?;
        Ok(file
            .metadata()
            .map_err(|source| SynthError::Io { path, source })?
            .len())
    }
}

/// Every output of a run.
pub(crate) struct Writer {
    config: SynthConfig,
    facilities: Facilities,
    uke: UkeWriter,
    dpc: DpcWriter,
    ltc: LtcWriter,
    fhir: Spool,
    /// Documents per fiscal year and insurer, which number them.
    checkup_counts: HashMap<(i32, String), u64>,
    archives: Archiver,
    checkups: u64,
    fhir_bundles: u64,
    persons: Output,
    names: Output,
    insurance: Output,
    records: Output,
    eligibility: Output,
}

fn date(d: NaiveDate) -> String {
    Ymd::new(d, "-").to_string()
}

fn optional_date(d: Option<NaiveDate>) -> String {
    d.map(date).unwrap_or_default()
}

impl Writer {
    pub(crate) fn create(dir: &Path, config: &SynthConfig) -> Result<Self, SynthError> {
        Ok(Self {
            config: config.clone(),
            facilities: Facilities::new(config.seed, config.persons, config.noise.era_dates),
            uke: UkeWriter::new(dir, config.persons),
            dpc: DpcWriter::new(dir, config.persons),
            ltc: LtcWriter::create(dir, config.persons)?,
            fhir: Spool::new(dir, "fhir", Text::Utf8Lf, config.persons),
            checkup_counts: HashMap::new(),
            archives: Archiver::start(dir, crate::archive::BATCH),
            checkups: 0,
            fhir_bundles: 0,
            persons: Output::create(
                dir,
                "truth/persons.csv",
                &[
                    "person_id",
                    "sex",
                    "birth_date",
                    "death_date",
                    "prefecture",
                    "municipality",
                ],
            )?,
            names: Output::create(
                dir,
                "truth/names.csv",
                &[
                    "person_id",
                    "valid_from",
                    "family_kanji",
                    "given_kanji",
                    "family_kana",
                    "given_kana",
                ],
            )?,
            insurance: Output::create(
                dir,
                "truth/insurance.csv",
                &[
                    "person_id",
                    "valid_from",
                    "valid_to",
                    "insurer_number",
                    "symbol",
                    "number",
                    "branch",
                ],
            )?,
            records: Output::create(dir, "truth/records.csv", &["file", "locator", "person_id"])?,
            eligibility: Output::create(
                dir,
                ELIGIBILITY,
                &[
                    "insurer_number",
                    "symbol",
                    "number",
                    "branch",
                    "birth_date",
                    "oldest_insurer_number",
                    "oldest_symbol",
                    "oldest_number",
                    "oldest_branch",
                ],
            )?,
        })
    }

    pub(crate) fn block(&mut self, people: &[Person], index: u64) -> Result<(), SynthError> {
        // Eligibility coverage and care draw from streams of their own, so
        // changing a rate of one leaves the population and the other as
        // they were.
        let stream = |tag: u64| {
            let mut rng = ChaCha8Rng::seed_from_u64(self.config.seed);
            rng.set_stream(tag | index);
            rng
        };
        let (mut coverage, mut care_rng) = (stream(1 << 63), stream(1 << 61));
        let mut checkup_rng = stream(1 << 60);
        let mut ltc_rng = stream(1 << 59);
        let mut fhir_rng = stream(1 << 58);
        let period = self.config.period;
        for person in people {
            self.person(person)?;
            if coverage.random_bool(self.config.rates.eligibility) {
                self.eligibility(person)?;
            }
            let diagnoses = clinical::diagnoses(
                &mut care_rng,
                person,
                period.from,
                period.to,
                self.config.rare_per_100k,
            );
            let claims = care::claims(
                &mut care_rng,
                person,
                &diagnoses,
                &self.facilities,
                period.from,
                period.to,
            );
            self.checkups(&mut checkup_rng, person, &diagnoses)?;
            let certifications =
                ltc::certifications(&mut ltc_rng, person, &diagnoses, period.from, period.to);
            self.ltc.person(
                &mut ltc_rng,
                &self.config.noise,
                person,
                &certifications,
                period.to,
                &mut self.records,
            )?;
            for claim in &claims {
                self.uke.claim(
                    &mut care_rng,
                    &self.config.noise,
                    &self.facilities,
                    person,
                    claim,
                    &mut self.records,
                )?;
                self.dpc_rows(person, claim, &claims)?;
                self.fhir_bundle(&mut fhir_rng, person, claim)?;
            }
        }
        Ok(())
    }

    fn person(&mut self, p: &Person) -> Result<(), SynthError> {
        let id = p.id.to_string();
        self.persons.write([
            id.as_str(),
            p.sex.code(),
            &date(p.birth),
            &optional_date(p.death),
            &format!("{:02}", p.prefecture),
            &p.municipality,
        ])?;
        for n in &p.names {
            self.names.write([
                id.as_str(),
                &date(n.valid_from),
                n.family.kanji,
                n.given.kanji,
                n.family.kana,
                n.given.kana,
            ])?;
        }
        for s in &p.insurance {
            self.insurance.write([
                id.as_str(),
                &date(s.valid_from),
                &optional_date(s.valid_to),
                &s.card.insurer,
                &s.card.symbol,
                &s.card.number,
                &s.branch,
            ])?;
        }
        Ok(())
    }

    /// The FHIR Bundle of a stay, written with its first claim month as
    /// one line of the facility's NDJSON file for that month.
    fn fhir_bundle(
        &mut self,
        rng: &mut ChaCha8Rng,
        person: &Person,
        claim: &care::Claim,
    ) -> Result<(), SynthError> {
        let Some(admitted) = claim.admitted.filter(|a| *a >= claim.month) else {
            return Ok(());
        };
        let Some(spell) = person.spell_on(admitted) else {
            return Ok(());
        };
        let bundle = crate::fhir::bundle(rng, &self.config.noise, person, spell, claim, admitted);
        let facility = &self.facilities.all[claim.facility];
        let relative = format!("fhir/{}/{}.ndjson", Ymd::month(claim.month), facility.code);
        let text = serde_json::to_string(&bundle)
            .map_err(|e| SynthError::Invalid(format!("{relative}: {e}")))?;
        let line = self.fhir.line(&relative, &text)?;
        let locator = format!("line:{line}");
        self.records.write([
            relative.as_str(),
            locator.as_str(),
            person.id.to_string().as_str(),
        ])?;
        self.fhir_bundles += 1;
        self.fhir.relieve()
    }

    /// The DPC rows of an inpatient claim at a DPC hospital.
    fn dpc_rows(
        &mut self,
        person: &Person,
        claim: &care::Claim,
        all: &[care::Claim],
    ) -> Result<(), SynthError> {
        let facility = &self.facilities.all[claim.facility];
        let Some(admitted) = claim.admitted.filter(|_| facility.dpc) else {
            return Ok(());
        };
        // The stay ends on the last care day of its last claim month.
        let discharged = all
            .iter()
            .filter(|c| c.admitted == Some(admitted) && c.facility == claim.facility)
            .filter_map(|c| {
                c.days
                    .last()
                    .map(|d| c.month + chrono::Days::new(u64::from(*d) - 1))
            })
            .max()
            .unwrap_or(admitted);
        let first_day = claim.month + chrono::Days::new(u64::from(claim.days[0]) - 1);
        let Some(spell) = person.spell_on(first_day) else {
            return Ok(());
        };
        self.dpc.stay_month(
            facility,
            person,
            spell,
            claim,
            discharged,
            &mut self.records,
        )
    }

    /// A person's checkups: one CDA document each.
    fn checkups(
        &mut self,
        rng: &mut ChaCha8Rng,
        person: &Person,
        diagnoses: &[clinical::Diagnosis],
    ) -> Result<(), SynthError> {
        let period = self.config.period;
        let dates = checkup::dates(
            rng,
            person,
            period.from,
            period.to,
            self.config.rates.checkup_attendance,
        );
        if dates.is_empty() {
            return Ok(());
        }
        let profile = checkup::Profile::draw(rng, person);
        let noise = self.config.noise.clone();
        for date in dates {
            let Some(spell) = person.spell_on(date) else {
                continue;
            };
            let age = crate::population::age_on(person.birth, date);
            let results = checkup::results(rng, person, &profile, diagnoses, date, age);
            let name = person.name_on(date);
            let branch_recorded = date
                >= chrono::NaiveDate::from_ymd_opt(2021, 4, 1).expect("date")
                || !rng.random_bool(noise.missing_branch);
            let identity = checkup::Identity {
                insurer: crate::uke::written_insurer(spell),
                symbol: noise.digits(rng, &spell.card.symbol),
                number: noise.digits(rng, &spell.card.number),
                branch: branch_recorded.then_some(spell.branch.as_str()),
                kana: noise.kana_name(rng, name.family.kana, name.given.kana),
            };
            let fiscal_year = if date.month() >= 4 {
                date.year()
            } else {
                date.year() - 1
            };
            let counter = (fiscal_year, spell.card.insurer.clone());
            let count = self.checkup_counts.entry(counter).or_insert(0);
            *count += 1;
            let document_id = format!("{fiscal_year}{}{:06}", spell.card.insurer, count);
            let name = format!("{}/{:06}.xml", spell.card.insurer, count);
            let xml = checkup::document(person, &identity, &results, &document_id)
                .map_err(|e| SynthError::Invalid(format!("checkup {document_id}: {e}")))?;
            let locator = format!("entry:{name}");
            let archive = self.archives.document(fiscal_year, name, date, xml)?;
            self.records.write([
                archive.as_str(),
                locator.as_str(),
                person.id.to_string().as_str(),
            ])?;
            self.checkups += 1;
        }
        Ok(())
    }

    /// One row per insured number the person held, each answered with the
    /// oldest one (ID5's input).
    fn eligibility(&mut self, p: &Person) -> Result<(), SynthError> {
        let Some(oldest) = p.insurance.first() else {
            return Ok(());
        };
        let birth = date(p.birth);
        let id = p.id.to_string();
        for s in &p.insurance {
            self.eligibility.write([
                s.card.insurer.as_str(),
                &s.card.symbol,
                &s.card.number,
                &s.branch,
                &birth,
                &oldest.card.insurer,
                &oldest.card.symbol,
                &oldest.card.number,
                &oldest.branch,
            ])?;
            let locator = format!("line:{}", self.eligibility.line());
            self.records
                .write([ELIGIBILITY, locator.as_str(), id.as_str()])?;
        }
        Ok(())
    }

    pub(crate) fn finish(self) -> Result<Summary, SynthError> {
        let (persons, names, insurance_spells, eligibility_rows) = (
            self.persons.rows,
            self.names.rows,
            self.insurance.rows,
            self.eligibility.rows,
        );
        let checkups = self.checkups;
        let (uke_files, claims, mut bytes) = self.uke.finish()?;
        let (dpc_files, dpc_stays, dpc_bytes) = self.dpc.finish()?;
        let (care_files, care_claims, care_bytes) = self.ltc.finish()?;
        let (fhir_files, fhir_bytes) = self.fhir.finish()?;
        let (checkup_archives, checkup_bytes) = self.archives.finish()?;
        bytes += dpc_bytes + care_bytes + fhir_bytes + checkup_bytes;
        for output in [
            self.persons,
            self.names,
            self.insurance,
            self.records,
            self.eligibility,
        ] {
            bytes += output.finish()?;
        }
        Ok(Summary {
            persons,
            names,
            insurance_spells,
            eligibility_rows,
            claims,
            uke_files,
            checkups,
            checkup_archives,
            dpc_stays,
            dpc_files,
            care_claims,
            care_files,
            fhir_bundles: self.fhir_bundles,
            fhir_files,
            bytes,
        })
    }
}
