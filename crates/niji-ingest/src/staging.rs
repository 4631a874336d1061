//! The staging store: `content.duckdb` in the data directory, holding the
//! canonical content tables, the tokens, the batches and the rejects.
//!
//! Staging is DuckDB tables rather than Parquet files: linkage and release
//! builds join and aggregate across every batch, which DuckDB does on its
//! own tables without opening thousands of files, and one transaction per
//! batch makes a batch visible whole or not at all.
//!
//! The tables are created from the declarations in [`niji_core::content`];
//! nothing here repeats a column list.

use crate::{FileOutcome, IngestError, Location, Options, Problem, SourceKind, Status};
use arrow_array::RecordBatch;
use duckdb::{Connection, OptionalExt, params};
use niji_core::content::{self, Kind, Table};
use niji_linkage::Tokenizer;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The staging store's file name inside the data directory.
pub const STAGING_FILE: &str = "content.duckdb";

/// The staging store. Open it only while holding the control-plane store,
/// whose lock makes this process the only writer of the data directory.
pub struct Staging {
    pub(crate) conn: Connection,
    pub(crate) path: PathBuf,
}

/// A batch as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchInfo {
    /// Its id.
    pub batch_id: i64,
    /// Source kind.
    pub source: String,
    /// The file as named at ingest.
    pub file: String,
    /// SHA-256 of the file, hex. Stored as 32 bytes: a hex string in the
    /// store would hold digit runs that an identifier scan cannot tell from
    /// card numbers.
    pub sha256: String,
    /// Records accepted.
    pub records: i64,
    /// Records left out.
    pub rejected: i64,
}

fn sql_type(kind: Kind) -> &'static str {
    match kind {
        Kind::Text => "VARCHAR",
        Kind::Int => "BIGINT",
        Kind::Real => "DOUBLE",
        Kind::Bool => "BOOLEAN",
        Kind::Date => "DATE",
        Kind::Token => "BLOB",
    }
}

/// The DDL of the staging store, derived from the content declarations.
fn schema_sql() -> String {
    let mut sql = String::from(
        "CREATE SEQUENCE IF NOT EXISTS batch_id START 1;
CREATE TABLE IF NOT EXISTS batches (
    batch_id BIGINT PRIMARY KEY,
    source VARCHAR NOT NULL,
    file VARCHAR NOT NULL,
    sha256 BLOB NOT NULL UNIQUE,
    bytes BIGINT NOT NULL,
    records BIGINT NOT NULL,
    rejected BIGINT NOT NULL,
    ingested_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
);
CREATE TABLE IF NOT EXISTS rejects (
    batch_id BIGINT NOT NULL,
    file VARCHAR NOT NULL,
    record VARCHAR NOT NULL,
    location VARCHAR NOT NULL,
    field VARCHAR,
    reason VARCHAR NOT NULL
);
",
    );
    for table in content::TABLES {
        let columns: Vec<String> = table
            .all_columns()
            .map(|c| {
                let null = if c.nullable { "" } else { " NOT NULL" };
                format!("    \"{}\" {}{null}", c.name, sql_type(c.kind))
            })
            .collect();
        sql.push_str(&format!(
            "CREATE TABLE IF NOT EXISTS {} (\n{}\n);\n",
            table.name,
            columns.join(",\n")
        ));
    }
    sql
}

impl Staging {
    /// Opens the staging store, waiting up to `wait` while another
    /// process has it open ([`niji_core::busy`]).
    pub fn open_waiting(data_dir: &Path, wait: std::time::Duration) -> Result<Self, IngestError> {
        niji_core::busy::waiting(
            wait,
            || Self::open(data_dir),
            |e| matches!(e, IngestError::Staging { source, .. } if niji_core::busy::is_lock_conflict(&source.to_string())),
        )
        .map_err(|e| match e {
            IngestError::Staging { path, source }
                if niji_core::busy::is_lock_conflict(&source.to_string()) =>
            {
                IngestError::StagingBusy { path }
            }
            other => other,
        })
    }

    /// Opens (creating if needed) the staging store of a data directory;
    /// fails at once if another process has it open.
    pub fn open(data_dir: &Path) -> Result<Self, IngestError> {
        let path = data_dir.join(STAGING_FILE);
        let err = |source| IngestError::Staging {
            path: path.clone(),
            source,
        };
        let conn = Connection::open(&path).map_err(err)?;
        conn.execute_batch(&schema_sql()).map_err(err)?;
        // DuckDB folds the write-ahead log into the file once it passes the
        // threshold (16 MB by default); during a large ingest that was a
        // checkpoint every few groups. A larger log checkpoints less often
        // (and on close) at the cost of a longer replay after a crash.
        conn.execute_batch("SET checkpoint_threshold = '256MB'")
            .map_err(err)?;
        Ok(Staging { conn, path })
    }

    pub(crate) fn err(&self) -> impl Fn(duckdb::Error) -> IngestError + '_ {
        |source| IngestError::Staging {
            path: self.path.clone(),
            source,
        }
    }

    /// The connection, for reading (reports, tests, later layers).
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// The batch that holds a file with this SHA-256, if any.
    pub fn batch_by_hash(&self, sha256: &str) -> Result<Option<i64>, IngestError> {
        // Cached: asked once per file, and preparing costs more than
        // the lookup.
        self.conn
            .prepare_cached("SELECT batch_id FROM batches WHERE sha256 = ?")
            .and_then(|mut stmt| stmt.query_row([unhex(sha256)], |r| r.get(0)).optional())
            .map_err(self.err())
    }

    /// A fresh batch id. Ids of batches that end up refused are skipped.
    pub(crate) fn next_batch_id(&self) -> Result<i64, IngestError> {
        self.conn
            .prepare_cached("SELECT nextval('batch_id')")
            .and_then(|mut stmt| stmt.query_row([], |r| r.get(0)))
            .map_err(self.err())
    }

    /// Every batch, oldest first.
    pub fn batches(&self) -> Result<Vec<BatchInfo>, IngestError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT batch_id, source, file, lower(hex(sha256)), records, rejected FROM batches ORDER BY batch_id",
            )
            .map_err(self.err())?;
        let rows = stmt
            .query_map([], |r| {
                Ok(BatchInfo {
                    batch_id: r.get(0)?,
                    source: r.get(1)?,
                    file: r.get(2)?,
                    sha256: r.get(3)?,
                    records: r.get(4)?,
                    rejected: r.get(5)?,
                })
            })
            .map_err(self.err())?;
        rows.collect::<Result<_, _>>().map_err(self.err())
    }
}

/// The writer thread's half of [`BatchWriter`]: commits each group it is
/// sent, in order, on its own connection, and stops at the first error.
fn write_groups(
    mut conn: Connection,
    path: &Path,
    groups: std::sync::mpsc::Receiver<Vec<Staged>>,
) -> Result<(), IngestError> {
    for staged in groups {
        let batches = staged.len();
        write_group(&mut conn, path, staged)?;
        // An observable moment for whoever watches the ingest (progress, and
        // the kill test, which kills just after one).
        tracing::debug!(batches, "group committed");
    }
    Ok(())
}

/// Writes staged batches in one transaction: their rows in `batches`,
/// their rejects and every content row. Killed half-way, DuckDB's
/// write-ahead log rolls the whole transaction back on the next open.
fn write_group(conn: &mut Connection, path: &Path, staged: Vec<Staged>) -> Result<(), IngestError> {
    let err = |source| IngestError::Staging {
        path: path.to_owned(),
        source,
    };
    let tx = conn.transaction().map_err(err)?;
    {
        let mut batches = tx.appender("batches").map_err(err)?;
        let mut rejects = tx.appender("rejects").map_err(err)?;
        for s in &staged {
            let o = &s.outcome;
            batches
                .append_row(params![
                    s.batch_id,
                    s.kind.source(),
                    o.file,
                    unhex(&o.sha256),
                    o.bytes as i64,
                    o.records as i64,
                    o.rejects.len() as i64,
                    s.staged_at.clone()
                ])
                .map_err(err)?;
            for r in &o.rejects {
                rejects
                    .append_row(params![
                        s.batch_id,
                        o.file,
                        r.record.to_string(),
                        r.problem.location.to_string(),
                        r.problem.field,
                        r.problem.reason
                    ])
                    .map_err(err)?;
            }
        }
    }
    // One appender per table for the whole group: an appender's flush
    // costs about half a millisecond whatever it holds, which made the
    // write dominate ingest when every small file flushed eleven.
    let mut by_table: Vec<Vec<RecordBatch>> = content::TABLES.iter().map(|_| Vec::new()).collect();
    for (table, batch) in staged.into_iter().flat_map(|s| s.rows) {
        if let Some(i) = content::TABLES.iter().position(|t| t.name == table.name) {
            by_table[i].push(batch);
        }
    }
    for (table, batches) in content::TABLES.iter().zip(by_table) {
        if batches.is_empty() {
            continue;
        }
        let mut appender = tx.appender(table.name).map_err(err)?;
        for batch in batches {
            appender.append_record_batch(batch).map_err(err)?;
        }
        appender.flush().map_err(err)?;
    }
    tx.commit().map_err(err)
}

fn unhex(hex: &str) -> Vec<u8> {
    (0..hex.len() / 2)
        .filter_map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok())
        .collect()
}

/// A parsed batch waiting for its group's transaction.
struct Staged {
    batch_id: i64,
    kind: SourceKind,
    outcome: FileOutcome,
    rows: Vec<(&'static Table, RecordBatch)>,
    /// When it was parsed, as `ingested_at` (the appender fills no
    /// column defaults).
    staged_at: duckdb::types::Value,
}

fn now_micros() -> duckdb::types::Value {
    let micros = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64);
    duckdb::types::Value::Timestamp(duckdb::types::TimeUnit::Microsecond, micros)
}

/// Ingests many files, writing several batches per transaction, on a
/// thread of its own so that parsing the next files overlaps the write.
///
/// Each batch is still all or nothing: a group's transaction holds whole
/// batches only, so a kill loses at most the groups not yet committed, whose
/// files a rerun ingests again. A group goes to the writer thread when it
/// reaches [`BatchWriter::GROUP_BYTES`] or [`BatchWriter::GROUP_FILES`];
/// [`BatchWriter::commit`] sends the rest and waits until everything is
/// written. The caller must call it: batches still staged when the writer
/// is dropped are not written.
pub struct BatchWriter<'s> {
    staging: &'s mut Staging,
    staged: Vec<Staged>,
    bytes: u64,
    /// Hashes of every batch this writer accepted, so the same bytes twice
    /// in one run are a duplicate before their group is committed.
    hashes: HashMap<String, i64>,
    /// Groups to the writer thread; at most one waits while another is
    /// written, which bounds memory.
    groups: Option<std::sync::mpsc::SyncSender<Vec<Staged>>>,
    thread: Option<std::thread::JoinHandle<Result<(), IngestError>>>,
}

impl<'s> BatchWriter<'s> {
    /// Input bytes after which a group is written.
    pub const GROUP_BYTES: u64 = 8 << 20;
    /// Files after which a group is written.
    pub const GROUP_FILES: usize = 64;

    /// A writer on the staging store.
    pub fn new(staging: &'s mut Staging) -> Result<Self, IngestError> {
        let conn = staging.conn.try_clone().map_err(staging.err())?;
        let path = staging.path.clone();
        let (groups, receiver) = std::sync::mpsc::sync_channel(1);
        let thread = std::thread::Builder::new()
            .name("staging-writer".into())
            .spawn(move || write_groups(conn, &path, receiver))
            .map_err(|source| IngestError::Io {
                path: staging.path.clone(),
                source,
            })?;
        Ok(BatchWriter {
            staging,
            staged: Vec::new(),
            bytes: 0,
            hashes: HashMap::new(),
            groups: Some(groups),
            thread: Some(thread),
        })
    }
    /// Ingests one file in the format its name and bytes show.
    pub fn file(
        &mut self,
        tokenizer: &Tokenizer,
        path: &Path,
        name: &str,
        options: &Options,
    ) -> Result<FileOutcome, IngestError> {
        let bytes = crate::read(path)?;
        match crate::detect(Path::new(name), &bytes) {
            Some(kind) => self.bytes(tokenizer, kind, &bytes, name, options),
            None => Ok(crate::outcome(name, None, &bytes)),
        }
    }

    /// Ingests `bytes` as one batch of format `kind`.
    pub fn bytes(
        &mut self,
        tokenizer: &Tokenizer,
        kind: SourceKind,
        bytes: &[u8],
        name: &str,
        options: &Options,
    ) -> Result<FileOutcome, IngestError> {
        let mut outcome = crate::outcome(name, Some(kind), bytes);
        let earlier = match self.hashes.get(&outcome.sha256) {
            Some(id) => Some(*id),
            None => self.staging.batch_by_hash(&outcome.sha256)?,
        };
        if let Some(batch_id) = earlier {
            outcome.status = Status::Duplicate { batch_id };
            return Ok(outcome);
        }
        let batch_id = self.staging.next_batch_id()?;
        let parsed = match crate::parse(kind, bytes, batch_id, tokenizer, options.sender.as_deref())
        {
            Ok(parsed) => parsed,
            Err(problem) => {
                outcome.status = Status::Refused { problem };
                return Ok(outcome);
            }
        };
        crate::fill(&mut outcome, &parsed);
        if options.strict && !parsed.rejects.is_empty() {
            outcome.status = Status::Refused {
                problem: Problem::at(
                    Location::File,
                    format!(
                        "--strict: {} record(s) failed their checks; nothing written",
                        parsed.rejects.len()
                    ),
                ),
            };
            return Ok(outcome);
        }
        let rows = parsed.rows.finish().map_err(|source| IngestError::Arrow {
            file: name.to_owned(),
            source,
        })?;
        outcome.status = Status::Ingested { batch_id };
        self.hashes.insert(outcome.sha256.clone(), batch_id);
        self.bytes += outcome.bytes;
        self.staged.push(Staged {
            batch_id,
            kind,
            outcome: outcome.clone(),
            rows,
            staged_at: now_micros(),
        });
        if self.bytes >= Self::GROUP_BYTES || self.staged.len() >= Self::GROUP_FILES {
            self.send()?;
        }
        Ok(outcome)
    }

    /// Hands the staged group to the writer thread. If the thread has
    /// stopped, its error is the answer.
    fn send(&mut self) -> Result<(), IngestError> {
        if self.staged.is_empty() {
            return Ok(());
        }
        let group = std::mem::take(&mut self.staged);
        self.bytes = 0;
        let sent = self.groups.as_ref().is_some_and(|g| g.send(group).is_ok());
        if sent { Ok(()) } else { self.join() }
    }

    /// Closes the channel and waits for the writer thread's result.
    fn join(&mut self) -> Result<(), IngestError> {
        self.groups = None;
        match self.thread.take().map(std::thread::JoinHandle::join) {
            None | Some(Ok(Ok(()))) => Ok(()),
            Some(Ok(Err(err))) => Err(err),
            Some(Err(_)) => Err(IngestError::Io {
                path: self.staging.path.clone(),
                source: std::io::Error::other("the staging writer thread panicked"),
            }),
        }
    }

    /// Writes every staged batch and waits until all are committed.
    pub fn commit(mut self) -> Result<(), IngestError> {
        self.send()?;
        self.join()
    }
}

impl Drop for BatchWriter<'_> {
    /// Groups already sent are written before the writer goes; the staged
    /// rest is not (see [`BatchWriter::commit`]).
    fn drop(&mut self) {
        if let Err(err) = self.join() {
            tracing::error!(%err, "staging writer failed");
        }
    }
}
