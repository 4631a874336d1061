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

use crate::record::Rows;
use crate::{FileOutcome, IngestError, SourceKind};
use duckdb::{Connection, OptionalExt, params};
use niji_core::content::{self, Kind};
use std::path::{Path, PathBuf};

/// The staging store's file name inside the data directory.
pub const STAGING_FILE: &str = "content.duckdb";

/// The staging store. Open it only while holding the control-plane store,
/// whose lock makes this process the only writer of the data directory.
pub struct Staging {
    conn: Connection,
    path: PathBuf,
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
    /// Opens (creating if needed) the staging store of a data directory.
    pub fn open(data_dir: &Path) -> Result<Self, IngestError> {
        let path = data_dir.join(STAGING_FILE);
        let err = |source| IngestError::Staging {
            path: path.clone(),
            source,
        };
        let conn = Connection::open(&path).map_err(err)?;
        conn.execute_batch(&schema_sql()).map_err(err)?;
        Ok(Staging { conn, path })
    }

    fn err(&self) -> impl Fn(duckdb::Error) -> IngestError + '_ {
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
        self.conn
            .query_row(
                "SELECT batch_id FROM batches WHERE sha256 = unhex(?)",
                [sha256],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.err())
    }

    /// A fresh batch id. Ids of batches that end up refused are skipped.
    pub(crate) fn next_batch_id(&self) -> Result<i64, IngestError> {
        self.conn
            .query_row("SELECT nextval('batch_id')", [], |r| r.get(0))
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

    /// Writes a batch in one transaction: its row, its rejects and every
    /// content row. Killed half-way, DuckDB's write-ahead log rolls the
    /// whole batch back on the next open.
    pub(crate) fn commit(
        &mut self,
        batch_id: i64,
        kind: SourceKind,
        file: &str,
        outcome: &FileOutcome,
        rows: Rows,
    ) -> Result<(), IngestError> {
        let batches = rows.finish().map_err(|source| IngestError::Arrow {
            file: file.to_owned(),
            source,
        })?;
        let path = self.path.clone();
        let err = |source| IngestError::Staging {
            path: path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(err)?;
        tx.execute(
            "INSERT INTO batches (batch_id, source, file, sha256, bytes, records, rejected) VALUES (?, ?, ?, unhex(?), ?, ?, ?)",
            params![
                batch_id,
                kind.source(),
                file,
                outcome.sha256,
                outcome.bytes as i64,
                outcome.records as i64,
                outcome.rejects.len() as i64
            ],
        )
        .map_err(err)?;
        {
            let mut rejects = tx.appender("rejects").map_err(err)?;
            for r in &outcome.rejects {
                rejects
                    .append_row(params![
                        batch_id,
                        file,
                        r.record.to_string(),
                        r.problem.location.to_string(),
                        r.problem.field,
                        r.problem.reason
                    ])
                    .map_err(err)?;
            }
        }
        for (table, batch) in batches {
            let mut appender = tx.appender(table.name).map_err(err)?;
            appender.append_record_batch(batch).map_err(err)?;
            appender.flush().map_err(err)?;
        }
        tx.commit().map_err(err)
    }
}
