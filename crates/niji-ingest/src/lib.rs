/*!
The inbound adapters of niji: primary-use source files in, canonical
content and linkage tokens out.

Each adapter parses one source format — レセ電 claims, DPC EF and 様式1,
long-term care claims and certifications, the eligibility history, checkup
CDA documents and JP-CLINS FHIR Bundles — and splits every record at the
boundary: its identifiers go to the linkage [`Tokenizer`] and come back as
keyed-hash tokens; its clinical content goes into the canonical tables of
[`niji_core::content`]. Nothing that identifies a person is kept.

```no_run
use niji_ingest::{Options, Staging, ingest_file};
use niji_linkage::Tokenizer;

let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &[0; 32]);
let tokenizer = Tokenizer::new(key);
let mut staging = Staging::open(std::path::Path::new("./data"))?;
let path = std::path::Path::new("uke/201904/1300001/shaho/RECEIPTC.UKE");
let outcome = ingest_file(&mut staging, &tokenizer, path, "RECEIPTC.UKE", &Options::default())?;
for reject in &outcome.rejects {
    eprintln!("{}", reject);
}
# Ok::<(), niji_ingest::IngestError>(())
```

# Batches

A file is one batch, identified by the SHA-256 of its bytes. A batch is
written inside one transaction: it is in the staging store whole or not at
all, also when the process is killed. [`BatchWriter`] puts several batches
in one transaction (and writes on a thread of its own); [`ingest_file`] and
[`ingest_bytes`] write one at once. Ingesting the same bytes again is a no-op
that names the earlier batch. A record that fails a check (a claim with a
bad date, a FHIR resource without its required elements) is left out and
reported as a [`Reject`] with its location; the rest of the file goes in,
unless [`Options::strict`] asks for all or nothing. A file that cannot be
read as its format at all (wrong encoding, truncated, not a source file) is
refused whole.

Without the default `staging` feature there is no store and no DuckDB: the
adapters still parse and check ([`check_as`]), which is what the fuzz
targets build.

# Architecture invariants

- Identifier fields exist only in memory, between the parser and the
  tokenizer. No table, reject message or log line holds one: a reject names
  the field and the reason, never the value.
- Birth dates are kept only as year-month; sex as its code.
*/
#![deny(missing_docs)]

mod care;
mod checkup;
mod detect;
mod dpc;
mod fhir;
mod fields;
#[cfg(feature = "staging")]
mod persons;
mod record;
#[cfg(feature = "staging")]
mod staging;
mod tabular;
mod text;
mod uke;

pub use detect::{SourceKind, detect};
#[cfg(feature = "staging")]
pub use persons::{LinkInput, RecordRef, SavedPersons, SourceRecord};
#[cfg(feature = "staging")]
pub use staging::{BatchInfo, BatchWriter, STAGING_FILE, Staging};

use niji_linkage::Tokenizer;
use record::Rows;
use std::fmt;
use std::path::{Path, PathBuf};

/// Where in a file something is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// The whole file.
    File,
    /// A 1-based line.
    Line(u64),
    /// A document inside an archive, optionally at a line of it.
    Entry {
        /// Entry name.
        name: String,
        /// 1-based line in the entry.
        line: Option<u64>,
    },
    /// A FHIRPath-style path, e.g. `Bundle.entry[2].resource.subject`,
    /// optionally in a line of an NDJSON file.
    Path {
        /// 1-based line of an NDJSON file.
        line: Option<u64>,
        /// The path.
        path: String,
    },
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::File => Ok(()),
            Location::Line(n) => write!(f, "line {n}"),
            Location::Entry { name, line: None } => write!(f, "entry {name}"),
            Location::Entry {
                name,
                line: Some(n),
            } => write!(f, "entry {name}: line {n}"),
            Location::Path { line: None, path } => write!(f, "{path}"),
            Location::Path {
                line: Some(n),
                path,
            } => write!(f, "line {n}: {path}"),
        }
    }
}

/// One thing wrong with the input: where, which field, and why. The reason
/// never contains the field's value, which may identify a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Where.
    pub location: Location,
    /// The field concerned, as the format names it (`RE field 7 (birth
    /// date)`, `Patient.birthDate`).
    pub field: Option<String>,
    /// Why.
    pub reason: String,
}

impl Problem {
    pub(crate) fn at(location: Location, reason: String) -> Self {
        Problem {
            location,
            field: None,
            reason,
        }
    }

    pub(crate) fn field(location: Location, field: impl Into<String>, reason: &str) -> Self {
        Problem {
            location,
            field: Some(field.into()),
            reason: reason.to_owned(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut sep = "";
        if self.location != Location::File {
            write!(f, "{}", self.location)?;
            sep = ": ";
        }
        // A FHIR path already names the element.
        let path = matches!(self.location, Location::Path { .. });
        if let (Some(field), false) = (&self.field, path) {
            write!(f, "{sep}{field}")?;
            sep = ": ";
        }
        write!(f, "{sep}{}", self.reason)
    }
}

/// A record left out of a batch: the file, the record and the problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    /// The file as the batch names it.
    pub file: String,
    /// The record that was left out (its first line, entry or path).
    pub record: Location,
    /// What is wrong.
    pub problem: Problem,
}

impl fmt::Display for Reject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.file, self.problem)
    }
}

/// How to ingest.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Refuse the whole batch on any rejected record.
    pub strict: bool,
    /// The facility code of the authenticated source system that sent the
    /// input, stamped as the provenance facility of records that name none
    /// (a FHIR Bundle carries its facility only in a document's custodian).
    pub sender: Option<String>,
}

/// What happened to one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Written as a new batch.
    Ingested {
        /// The batch.
        batch_id: i64,
    },
    /// The same bytes were ingested before, as this batch; nothing written.
    Duplicate {
        /// The earlier batch.
        batch_id: i64,
    },
    /// Nothing written: the file could not be read as its format, or
    /// `--strict` refused it for its rejects.
    Refused {
        /// Why, with the location.
        problem: Problem,
    },
    /// Checked only (`--check`); nothing written.
    Checked,
}

/// The result for one file.
#[derive(Debug, Clone)]
pub struct FileOutcome {
    /// The file as reported.
    pub file: String,
    /// Its format, when recognized.
    pub kind: Option<SourceKind>,
    /// SHA-256 of its bytes, hex.
    pub sha256: String,
    /// Its size.
    pub bytes: u64,
    /// Records accepted.
    pub records: u64,
    /// Rows per content table.
    pub rows: Vec<(&'static str, u64)>,
    /// Records left out.
    pub rejects: Vec<Reject>,
    /// Notes that did not reject anything (e.g. resources of types that carry
    /// no content here).
    pub notes: Vec<String>,
    /// What happened.
    pub status: Status,
}

/// Errors that stop ingest altogether (as opposed to a refused file).
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// A file could not be read.
    #[error("{path}: {source}", path = path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The staging store failed.
    #[cfg(feature = "staging")]
    #[error("{path}: {source}", path = path.display())]
    Staging {
        /// The staging database.
        path: PathBuf,
        /// DuckDB's reason.
        source: duckdb::Error,
    },
    /// Another process has the staging store open, and did not close it
    /// in time.
    #[cfg(feature = "staging")]
    #[error(
        "{path}: in use by another niji process (a server storing a Bundle, an ingest, a linkage or a release build); try again when it is done",
        path = path.display()
    )]
    StagingBusy {
        /// The staging database.
        path: PathBuf,
    },
    /// Building record batches failed (a bug in an adapter).
    #[error("{file}: building content rows: {source}")]
    Arrow {
        /// The file.
        file: String,
        /// Arrow's reason.
        source: arrow_schema::ArrowError,
    },
}

/// What an adapter made of a file: accepted records, rejects, notes.
pub(crate) struct Parsed {
    pub rows: Rows,
    pub rejects: Vec<(Location, Problem)>,
    pub notes: Vec<String>,
}

impl Parsed {
    pub(crate) fn new(rows: Rows) -> Self {
        Parsed {
            rows,
            rejects: Vec::new(),
            notes: Vec::new(),
        }
    }
}

/// Parses `bytes` as `kind` into rows of batch `batch_id`. `Err` refuses
/// the whole file.
pub(crate) fn parse(
    kind: SourceKind,
    bytes: &[u8],
    batch_id: i64,
    tokenizer: &Tokenizer,
    sender: Option<&str>,
) -> Result<Parsed, Problem> {
    let rows = Rows::new(batch_id, kind.source(), sender.map(str::to_owned));
    match kind {
        SourceKind::Uke => uke::parse(bytes, rows, tokenizer),
        SourceKind::DpcEf => dpc::parse_ef(bytes, rows, tokenizer),
        SourceKind::DpcFf1 => dpc::parse_ff1(bytes, rows, tokenizer),
        SourceKind::CareClaims => care::parse(bytes, rows, tokenizer),
        SourceKind::CareCertifications => tabular::certifications(bytes, rows, tokenizer),
        SourceKind::Eligibility => tabular::eligibility(bytes, rows, tokenizer),
        SourceKind::Checkup => checkup::parse_document(bytes, rows, tokenizer),
        SourceKind::CheckupArchive => checkup::parse_archive(bytes, rows, tokenizer),
        SourceKind::FhirJson => fhir::parse_json(bytes, rows, tokenizer),
        SourceKind::FhirNdjson => fhir::parse_ndjson(bytes, rows, tokenizer),
    }
}

/// The facility code (医療機関コード) of a FHIR document Bundle's custodian:
/// the Organization its Composition names as responsible. `None` for a
/// collection Bundle, a document without a custodian, or JSON that is not
/// such a Bundle. The FHIR endpoint compares it with the sender's facility,
/// on the JSON it has already parsed.
pub fn fhir_custodian(bundle: &serde_json::Value) -> Option<String> {
    fhir::custodian(bundle)
}

fn sha256_hex(bytes: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

pub(crate) fn read(path: &Path) -> Result<Vec<u8>, IngestError> {
    std::fs::read(path).map_err(|source| IngestError::Io {
        path: path.to_owned(),
        source,
    })
}

/// Ingests one file as one batch, in the format its name and bytes show,
/// and writes it before returning. `name` is how the batch names the file (a
/// path relative to what was asked for). For many files, [`BatchWriter`]
/// writes several batches per transaction.
#[cfg(feature = "staging")]
pub fn ingest_file(
    staging: &mut Staging,
    tokenizer: &Tokenizer,
    path: &Path,
    name: &str,
    options: &Options,
) -> Result<FileOutcome, IngestError> {
    let mut writer = BatchWriter::new(staging)?;
    let outcome = writer.file(tokenizer, path, name, options)?;
    writer.commit()?;
    Ok(outcome)
}

/// Ingests `bytes` as one batch of format `kind` (the FHIR endpoint knows
/// its format without detection) and writes it before returning.
#[cfg(feature = "staging")]
pub fn ingest_bytes(
    staging: &mut Staging,
    tokenizer: &Tokenizer,
    kind: SourceKind,
    bytes: &[u8],
    name: &str,
    options: &Options,
) -> Result<FileOutcome, IngestError> {
    let mut writer = BatchWriter::new(staging)?;
    let outcome = writer.bytes(tokenizer, kind, bytes, name, options)?;
    writer.commit()?;
    Ok(outcome)
}

/// Checks one file without writing anything (`niji ingest --check`).
pub fn check_file(
    tokenizer: &Tokenizer,
    path: &Path,
    name: &str,
) -> Result<FileOutcome, IngestError> {
    let bytes = read(path)?;
    Ok(check_bytes(tokenizer, &bytes, name))
}

/// Checks `bytes` in the format its name and bytes show, writing nothing.
pub fn check_bytes(tokenizer: &Tokenizer, bytes: &[u8], name: &str) -> FileOutcome {
    match detect(Path::new(name), bytes) {
        Some(kind) => check_as(kind, tokenizer, bytes, name),
        None => outcome(name, None, bytes),
    }
}

/// Checks `bytes` as format `kind`, writing nothing. Any input gives an
/// outcome; none panics (the fuzz targets call this, one per format).
pub fn check_as(kind: SourceKind, tokenizer: &Tokenizer, bytes: &[u8], name: &str) -> FileOutcome {
    let mut outcome = outcome(name, Some(kind), bytes);
    match parse(kind, bytes, 0, tokenizer, None) {
        Ok(parsed) => {
            fill(&mut outcome, &parsed);
            // Build the record batches too, as ingest would, so a check
            // covers everything but the write.
            outcome.status = match parsed.rows.finish() {
                Ok(_) => Status::Checked,
                Err(err) => Status::Refused {
                    problem: Problem::at(Location::File, format!("building content rows: {err}")),
                },
            };
        }
        Err(problem) => outcome.status = Status::Refused { problem },
    }
    outcome
}

pub(crate) fn outcome(name: &str, kind: Option<SourceKind>, bytes: &[u8]) -> FileOutcome {
    FileOutcome {
        file: name.to_owned(),
        kind,
        sha256: sha256_hex(bytes),
        bytes: bytes.len() as u64,
        records: 0,
        rows: Vec::new(),
        rejects: Vec::new(),
        notes: Vec::new(),
        status: Status::Refused {
            problem: Problem::at(
                Location::File,
                "not a recognized source format (レセ電, DPC EF/様式1, care claims or certifications, eligibility history, checkup CDA or archive, FHIR JSON or NDJSON)".to_owned(),
            ),
        },
    }
}

pub(crate) fn fill(outcome: &mut FileOutcome, parsed: &Parsed) {
    outcome.records = parsed.rows.records();
    outcome.rows = parsed.rows.counts();
    outcome.notes = parsed.notes.clone();
    outcome.rejects = parsed
        .rejects
        .iter()
        .map(|(record, problem)| Reject {
            file: outcome.file.clone(),
            record: record.clone(),
            problem: problem.clone(),
        })
        .collect();
}
