//! The DuckDB backend: the control plane of niji before SQLite and
//! PostgreSQL, kept so that existing data directories open, can be moved
//! with `niji store migrate`, and serve as the benchmarks' baseline.

use super::{Row, Value};
use crate::StoreError;
use chrono::{DateTime, NaiveDate, Utc};
use duckdb::types::{TimeUnit, ToSqlOutput};
use duckdb::{Connection, params_from_iter};
use std::path::{Path, PathBuf};

pub(crate) struct Duck {
    conn: Connection,
    path: PathBuf,
}

impl duckdb::ToSql for Value {
    fn to_sql(&self) -> duckdb::Result<ToSqlOutput<'_>> {
        use duckdb::types::Value as D;
        Ok(ToSqlOutput::Owned(match self {
            Value::Null => D::Null,
            Value::Int(v) => D::BigInt(*v),
            Value::Real(v) => D::Double(*v),
            Value::Text(s) => D::Text(s.clone()),
            Value::Blob(b) => D::Blob(b.clone()),
            Value::Bool(b) => D::Boolean(*b),
            Value::Time(t) => D::Timestamp(TimeUnit::Microsecond, t.timestamp_micros()),
            Value::Date(d) => D::Date32(days_since_epoch(*d)),
        }))
    }
}

fn epoch() -> NaiveDate {
    NaiveDate::from_ymd_opt(1970, 1, 1).expect("1970-01-01 is a date")
}

fn days_since_epoch(d: NaiveDate) -> i32 {
    (d - epoch()).num_days() as i32
}

fn from_duck(value: duckdb::types::Value) -> Result<Value, String> {
    use duckdb::types::Value as D;
    Ok(match value {
        D::Null => Value::Null,
        D::Boolean(b) => Value::Bool(b),
        D::TinyInt(v) => Value::Int(v.into()),
        D::SmallInt(v) => Value::Int(v.into()),
        D::Int(v) => Value::Int(v.into()),
        D::BigInt(v) => Value::Int(v),
        D::UTinyInt(v) => Value::Int(v.into()),
        D::USmallInt(v) => Value::Int(v.into()),
        D::UInt(v) => Value::Int(v.into()),
        D::UBigInt(v) => Value::Int(i64::try_from(v).map_err(|_| "an integer beyond 2^63")?),
        D::HugeInt(v) => Value::Int(i64::try_from(v).map_err(|_| "an integer beyond 2^63")?),
        D::Float(v) => Value::Real(v.into()),
        D::Double(v) => Value::Real(v),
        D::Text(s) => Value::Text(s),
        D::Blob(b) => Value::Blob(b),
        D::Timestamp(unit, v) => {
            let micros = match unit {
                TimeUnit::Second => v.saturating_mul(1_000_000),
                TimeUnit::Millisecond => v.saturating_mul(1_000),
                TimeUnit::Microsecond => v,
                TimeUnit::Nanosecond => v / 1_000,
            };
            Value::Time(
                DateTime::<Utc>::from_timestamp_micros(micros).ok_or("a timestamp out of range")?,
            )
        }
        D::Date32(days) => Value::Date(epoch() + chrono::Duration::days(days.into())),
        _ => return Err("a column type the control plane does not use".into()),
    })
}

/// DuckDB's message without the key a constraint error quotes
/// (`Duplicate key "name: hanako"`): a key may be personal data.
fn without_keys(message: &str) -> String {
    if !message.starts_with("Constraint Error") {
        return message.to_owned();
    }
    let mut out = String::with_capacity(message.len());
    for (i, part) in message.split('"').enumerate() {
        out.push_str(if i % 2 == 1 { "…" } else { part });
    }
    out
}

impl Duck {
    pub(crate) fn open(path: &Path) -> Result<Self, StoreError> {
        let conn = Connection::open(path).map_err(|source| StoreError::Connect {
            store: path.display().to_string(),
            reason: source.to_string(),
        })?;
        Ok(Self {
            conn,
            path: path.to_path_buf(),
        })
    }

    pub(crate) fn try_clone(&self) -> Result<Self, StoreError> {
        Ok(Self {
            conn: self.conn.try_clone().map_err(|e| self.error(e))?,
            path: self.path.clone(),
        })
    }

    fn error(&self, source: duckdb::Error) -> StoreError {
        StoreError::Query(format!(
            "{}: {}",
            self.path.display(),
            without_keys(&source.to_string())
        ))
    }

    pub(crate) fn execute(&self, sql: &str, params: &[Value]) -> Result<usize, StoreError> {
        let mut stmt = self.conn.prepare_cached(sql).map_err(|e| self.error(e))?;
        stmt.execute(params_from_iter(params))
            .map_err(|e| self.error(e))
    }

    pub(crate) fn query(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>, StoreError> {
        let mut stmt = self.conn.prepare_cached(sql).map_err(|e| self.error(e))?;
        let mut rows = stmt
            .query(params_from_iter(params))
            .map_err(|e| self.error(e))?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(|e| self.error(e))? {
            let columns = row.as_ref().column_count();
            let mut values = Vec::with_capacity(columns);
            for i in 0..columns {
                let value: duckdb::types::Value = row.get(i).map_err(|e| self.error(e))?;
                values.push(from_duck(value).map_err(|why| StoreError::Damaged {
                    what: format!("{}: column {i}: {why}", self.path.display()),
                })?);
            }
            out.push(Row(values));
        }
        Ok(out)
    }

    pub(crate) fn append(&self, table: &str, rows: &[Vec<Value>]) -> Result<(), StoreError> {
        let mut appender = self.conn.appender(table).map_err(|e| self.error(e))?;
        for row in rows {
            let row: Vec<&dyn duckdb::ToSql> = row.iter().map(|v| v as _).collect();
            appender
                .append_row(row.as_slice())
                .map_err(|e| self.error(e))?;
        }
        appender.flush().map_err(|e| self.error(e))
    }

    pub(crate) fn batch(&self, sql: &str) -> Result<(), StoreError> {
        self.conn.execute_batch(sql).map_err(|e| self.error(e))
    }
}
