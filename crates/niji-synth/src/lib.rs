/*!
A synthetic Japanese population and its primary-use source files, with the
ground truth that links every record back to its person.

No real NDB, care DB or DPC data can be used to build or test niji, so this
crate makes people instead: ages and sexes following Japan's age structure,
households with dependants on the insured's card, twins, marriages that
change family names, and insurance histories in which people change jobs,
retire into 国保 and move into 後期高齢者医療 at 75, with insurer numbers
that carry valid check digits. Output is byte-identical for the same
arguments, and memory is bounded by the block size and the number of output
files, not by the number of records.

```no_run
use niji_synth::{SynthConfig, generate};

let config = SynthConfig { persons: 10_000, seed: 7, ..SynthConfig::default() };
let summary = generate(&config, std::path::Path::new("synth-out"), |done| {
    eprintln!("{done} persons");
})?;
println!("{} persons, {} insurance spells", summary.persons, summary.insurance_spells);
# Ok::<(), niji_synth::SynthError>(())
```

# Output

| Path | What |
|---|---|
| `truth/persons.csv` | `person_id, sex, birth_date, death_date, prefecture, municipality` |
| `truth/names.csv` | `person_id, valid_from, family_kanji, given_kanji, family_kana, given_kana` |
| `truth/insurance.csv` | `person_id, valid_from, valid_to, insurer_number, symbol, number, branch` |
| `truth/records.csv` | `file, locator, person_id` for every record of every source file; the locator is `line:N` (1-based, in a line-based file) or `entry:NAME` (a document in a ZIP archive) |
| `eligibility/history.csv` | the eligibility service's answer: each insured number → the person's oldest one |
| `uke/YYYYMM/FACILITY/{shaho,kokuho}/RECEIPTC.UKE` | レセ電 medical claims, Shift_JIS, CRLF |
| `checkups/FYyyyy/batch-NNNN.zip` | specific health checkups, HL7 CDA R2 (hc08 style), one document `INSURER/NNNNNN.xml` per checkup, at most 20,000 per archive |
| `dpc/FACILITY/{EFn,FF1}_FACILITY_YYMM.txt` | DPC survey data of stays at DPC hospitals, tab-separated, Shift_JIS |
| `care/certifications.csv`, `care/YYYYMM/PROVIDER.csv` | care-need certifications and long-term care claims (Shift_JIS) |
| `fhir/YYYYMM/FACILITY.ndjson` | JP-CLINS FHIR Bundles, one per hospital stay and line (NDJSON, as FHIR bulk data) |

The truth directory is the only place raw identifiers and truth live
together; tests use it to measure linkage and to show that identifiers never
reach the platform's store.
*/
#![deny(missing_docs)]

mod archive;
pub mod care;
pub mod checkup;
pub mod clinical;
pub mod dpc;
pub mod facility;
pub mod fhir;
pub mod insurer;
pub mod ltc;
pub mod names;
pub mod noise;
pub mod population;
pub mod reference;
mod spool;
pub mod uke;
mod writer;

use chrono::{Datelike, Days, Months, NaiveDate};
use std::path::{Path, PathBuf};

pub use noise::Noise;
pub use population::{Person, Sex};

/// What to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct SynthConfig {
    /// Number of persons.
    pub persons: u64,
    /// Seed of the random streams: the same seed gives the same bytes.
    pub seed: u64,
    /// The period, whole months.
    pub period: Period,
    /// Event rates.
    pub rates: Rates,
    /// Notation noise in the source files.
    pub noise: Noise,
    /// Persons per 100,000 with one of the rare diseases.
    pub rare_per_100k: f64,
}

impl Default for SynthConfig {
    fn default() -> Self {
        Self {
            persons: 10_000,
            seed: 1,
            period: Period::months("2019-04", "2024-03").expect("valid default period"),
            rates: Rates::default(),
            noise: Noise::default(),
            rare_per_100k: 10.0,
        }
    }
}

/// Yearly event rates and shares. Each default is documented in
/// `niji synth --help` and measured by the crate's tests.
#[derive(Debug, Clone, PartialEq)]
pub struct Rates {
    /// Yearly chance that an employee-insured household changes employer
    /// (and so insurer and card). Together with moves and the move into
    /// 後期 at 75 it makes about 11% of persons change ID1 within a year.
    pub job_change: f64,
    /// Yearly chance that a 国保 household moves to another municipality,
    /// and so to another 国保 insurer.
    pub moves: f64,
    /// Chance, at each birthday from 60 to 64, that an employee retires into 国保.
    pub retirement: f64,
    /// Yearly chance that an unmarried woman aged 25–35 marries and takes a
    /// new family name.
    pub marriage: f64,
    /// Share of children under 20 who are twins.
    pub twins: f64,
    /// Share of persons the eligibility service knows (ID5 coverage).
    pub eligibility: f64,
    /// Share of invited persons (aged 40–74) who attend the yearly
    /// specific health checkup.
    pub checkup_attendance: f64,
}

impl Default for Rates {
    fn default() -> Self {
        Self {
            job_change: 0.12,
            moves: 0.08,
            retirement: 0.25,
            marriage: 0.07,
            twins: 0.02,
            eligibility: 0.95,
            checkup_attendance: 0.55,
        }
    }
}

impl Rates {
    fn check(&self) -> Result<(), SynthError> {
        let all = [
            ("job-change", self.job_change),
            ("moves", self.moves),
            ("retirement", self.retirement),
            ("marriage", self.marriage),
            ("twins", self.twins),
            ("eligibility", self.eligibility),
            ("checkup-attendance", self.checkup_attendance),
        ];
        match all.iter().find(|(_, r)| !(0.0..=1.0).contains(r)) {
            Some((name, rate)) => Err(SynthError::Invalid(format!(
                "rate {name} = {rate}: rates are between 0 and 1"
            ))),
            None => Ok(()),
        }
    }
}

/// A period of whole months: from the first day of `from` to the last day of `to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    /// First day.
    pub from: NaiveDate,
    /// Last day.
    pub to: NaiveDate,
}

impl Period {
    /// Parses two `YYYY-MM` months.
    pub fn months(from: &str, to: &str) -> Result<Self, SynthError> {
        let from = first_of(from)?;
        let to_first = first_of(to)?;
        if to_first < from {
            return Err(SynthError::Invalid(format!(
                "period ends ({to}) before it starts"
            )));
        }
        let to = to_first + Months::new(1) - Days::new(1);
        Ok(Self { from, to })
    }

    /// The period's length in whole years, rounded up.
    pub fn years(&self) -> u32 {
        let months = ((self.to.year() - self.from.year()) * 12 + self.to.month() as i32
            - self.from.month() as i32
            + 1) as u32;
        months.div_ceil(12)
    }
}

/// A date written `YYYYMMDD` (`sep` ""), or `YYYY-MM-DD` (`sep` "-"), or a
/// month `YYYYMM` ([`Ymd::month`]). Writing the fields directly saves
/// parsing a strftime pattern for each of the tens of millions of dates a
/// run writes.
#[derive(Clone, Copy)]
pub(crate) struct Ymd {
    date: NaiveDate,
    sep: &'static str,
    day: bool,
}

impl Ymd {
    pub(crate) fn new(date: NaiveDate, sep: &'static str) -> Self {
        Self {
            date,
            sep,
            day: true,
        }
    }

    pub(crate) fn month(date: NaiveDate) -> Self {
        Self {
            date,
            sep: "",
            day: false,
        }
    }
}

impl std::fmt::Display for Ymd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (d, sep) = (self.date, self.sep);
        write!(f, "{:04}{sep}{:02}", d.year(), d.month())?;
        if self.day {
            write!(f, "{sep}{:02}", d.day())?;
        }
        Ok(())
    }
}

fn first_of(month: &str) -> Result<NaiveDate, SynthError> {
    NaiveDate::parse_from_str(&format!("{month}-01"), "%Y-%m-%d")
        .map_err(|_| SynthError::Invalid(format!("`{month}` is not a month like 2019-04")))
}

/// What a run wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Persons.
    pub persons: u64,
    /// Name rows (one per name a person had).
    pub names: u64,
    /// Insurance spells.
    pub insurance_spells: u64,
    /// Rows of the eligibility history.
    pub eligibility_rows: u64,
    /// Medical claims (RE records).
    pub claims: u64,
    /// Claim files (`RECEIPTC.UKE`).
    pub uke_files: u64,
    /// Checkup documents (CDA XML).
    pub checkups: u64,
    /// ZIP archives holding the checkup documents.
    pub checkup_archives: u64,
    /// Hospital stays in the DPC files.
    pub dpc_stays: u64,
    /// DPC files (EF and FF1).
    pub dpc_files: u64,
    /// Long-term care claims.
    pub care_claims: u64,
    /// Long-term care claim files.
    pub care_files: u64,
    /// JP-CLINS FHIR Bundles.
    pub fhir_bundles: u64,
    /// NDJSON files holding the Bundles.
    pub fhir_files: u64,
    /// Bytes written.
    pub bytes: u64,
}

/// Why a run failed. Nothing is left at the output path when it does.
#[derive(Debug, thiserror::Error)]
pub enum SynthError {
    /// A bad argument.
    #[error("{0}")]
    Invalid(String),
    /// The output directory exists and holds files.
    #[error("{path}: exists and is not empty; choose another --out or remove it", path = path.display())]
    OutputExists {
        /// The directory.
        path: PathBuf,
    },
    /// Writing failed.
    #[error("{path}: {source}", path = path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Writing a CSV row failed.
    #[error("{path}: {source}", path = path.display())]
    Csv {
        /// The file.
        path: PathBuf,
        /// Why.
        source: csv::Error,
    },
}

/// Generates the population and writes it under `out`, calling `progress`
/// with the number of persons done after each block.
///
/// Everything is written into a sibling directory first and renamed to
/// `out` at the end, so `out` either holds a complete run or does not exist.
pub fn generate(
    config: &SynthConfig,
    out: &Path,
    mut progress: impl FnMut(u64),
) -> Result<Summary, SynthError> {
    if config.persons == 0 {
        return Err(SynthError::Invalid("--persons must be at least 1".into()));
    }
    config.rates.check()?;
    if let Some((name, rate)) = config
        .noise
        .rates()
        .into_iter()
        .find(|(_, r)| !(0.0..=1.0).contains(r))
    {
        return Err(SynthError::Invalid(format!(
            "noise {name} = {rate}: rates are between 0 and 1"
        )));
    }
    if !(0.0..=100_000.0).contains(&config.rare_per_100k) {
        return Err(SynthError::Invalid(
            "--rare-per-100k is between 0 and 100000".into(),
        ));
    }
    if out.exists()
        && std::fs::read_dir(out)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        return Err(SynthError::OutputExists {
            path: out.to_path_buf(),
        });
    }
    let staging = staging_dir(out);
    let result = write_all(config, &staging, &mut progress).and_then(|summary| {
        if out.exists() {
            std::fs::remove_dir(out).map_err(|source| SynthError::Io {
                path: out.to_path_buf(),
                source,
            })?;
        }
        std::fs::rename(&staging, out).map_err(|source| SynthError::Io {
            path: out.to_path_buf(),
            source,
        })?;
        Ok(summary)
    });
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&staging);
    }
    result
}

fn staging_dir(out: &Path) -> PathBuf {
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "synth".into());
    out.with_file_name(format!(".{name}.partial-{}", std::process::id()))
}

fn write_all(
    config: &SynthConfig,
    dir: &Path,
    progress: &mut impl FnMut(u64),
) -> Result<Summary, SynthError> {
    let mut writer = writer::Writer::create(dir, config)?;
    let mut done = 0u64;
    let mut index = 0u64;
    while done < config.persons {
        let count = (config.persons - done).min(population::BLOCK_SIZE) as usize;
        let people = population::block(
            config.seed,
            index,
            done + 1,
            count,
            &config.period,
            &config.rates,
        );
        writer.block(&people, index)?;
        done += count as u64;
        index += 1;
        progress(done);
    }
    writer.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_are_whole_months() {
        let p = Period::months("2019-04", "2024-03").unwrap();
        assert_eq!(p.from, NaiveDate::from_ymd_opt(2019, 4, 1).unwrap());
        assert_eq!(p.to, NaiveDate::from_ymd_opt(2024, 3, 31).unwrap());
        assert_eq!(p.years(), 5);
        assert_eq!(Period::months("2020-02", "2020-02").unwrap().to.day(), 29);
        assert!(Period::months("2024-03", "2019-04").is_err());
        assert!(Period::months("2019-13", "2024-03").is_err());
        assert!(Period::months("April", "2024-03").is_err());
    }

    #[test]
    fn rates_outside_zero_to_one_are_refused() {
        let rates = Rates {
            twins: 1.5,
            ..Rates::default()
        };
        let err = rates.check().unwrap_err().to_string();
        assert!(err.contains("twins"), "{err}");
    }
}
