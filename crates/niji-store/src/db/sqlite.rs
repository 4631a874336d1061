//! The embedded backend: one SQLite file in WAL mode.
//!
//! WAL lets readers in other processes (`niji log verify`, `niji accounts`
//! beside `niji serve`) read the last committed state while a writer
//! writes; `synchronous = FULL` makes a commit durable before it returns,
//! which "no result before its log entry is durable" needs. A writer that
//! finds the file locked waits up to [`BUSY_WAIT`] for it.

use super::{Row, Value, numbered_placeholders, time_text};
use crate::StoreError;
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long a statement waits for another process's write to finish.
pub(crate) const BUSY_WAIT: Duration = Duration::from_secs(30);

pub(crate) struct Sqlite {
    conn: Connection,
    path: PathBuf,
}

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Value::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            Value::Int(v) => ToSqlOutput::Borrowed(ValueRef::Integer(*v)),
            Value::Real(v) => ToSqlOutput::Borrowed(ValueRef::Real(*v)),
            Value::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            Value::Blob(b) => ToSqlOutput::Borrowed(ValueRef::Blob(b)),
            Value::Bool(b) => ToSqlOutput::Borrowed(ValueRef::Integer(i64::from(*b))),
            Value::Time(t) => ToSqlOutput::Owned(rusqlite::types::Value::Text(time_text(t))),
            Value::Date(d) => ToSqlOutput::Owned(rusqlite::types::Value::Text(
                d.format("%Y-%m-%d").to_string(),
            )),
        })
    }
}

impl Sqlite {
    pub(crate) fn open(path: &Path, read_only: bool) -> Result<Self, StoreError> {
        let failed = |source: rusqlite::Error| StoreError::Connect {
            store: path.display().to_string(),
            reason: source.to_string(),
        };
        let flags = if read_only {
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
        } else {
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX
        };
        let conn = Connection::open_with_flags(path, flags).map_err(failed)?;
        conn.busy_timeout(BUSY_WAIT).map_err(failed)?;
        conn.set_prepared_statement_cache_capacity(256);
        let pragmas = if read_only {
            "PRAGMA foreign_keys = ON;"
        } else {
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;"
        };
        conn.execute_batch(pragmas).map_err(failed)?;
        Ok(Self {
            conn,
            path: path.to_path_buf(),
        })
    }

    fn error(&self, source: rusqlite::Error) -> StoreError {
        // SQLite's messages name tables, columns and constraints, never the
        // values bound.
        StoreError::Query(format!("{}: {source}", self.path.display()))
    }

    pub(crate) fn execute(&self, sql: &str, params: &[Value]) -> Result<usize, StoreError> {
        let sql = numbered_placeholders(sql);
        let mut stmt = self.conn.prepare_cached(&sql).map_err(|e| self.error(e))?;
        stmt.execute(rusqlite::params_from_iter(params))
            .map_err(|e| self.error(e))
    }

    pub(crate) fn query(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>, StoreError> {
        let sql = numbered_placeholders(sql);
        let mut stmt = self.conn.prepare_cached(&sql).map_err(|e| self.error(e))?;
        let columns = stmt.column_count();
        let mut rows = stmt
            .query(rusqlite::params_from_iter(params))
            .map_err(|e| self.error(e))?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(|e| self.error(e))? {
            let mut values = Vec::with_capacity(columns);
            for i in 0..columns {
                values.push(match row.get_ref(i).map_err(|e| self.error(e))? {
                    ValueRef::Null => Value::Null,
                    ValueRef::Integer(v) => Value::Int(v),
                    ValueRef::Real(v) => Value::Real(v),
                    ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
                    ValueRef::Blob(b) => Value::Blob(b.to_vec()),
                });
            }
            out.push(Row(values));
        }
        Ok(out)
    }

    pub(crate) fn batch(&self, sql: &str) -> Result<(), StoreError> {
        self.conn.execute_batch(sql).map_err(|e| self.error(e))
    }
}
