//! The sandbox a checked query runs in: an in-memory DuckDB connection
//! that sees only views of the granted columns of the granted tables, over
//! release files attached read-only, and is locked before the researcher's
//! SQL touches it — no files, no extensions, no settings — with a memory
//! limit, a thread count, a timeout (by interrupting the connection) and a
//! maximum number of result rows.

use crate::QueryError;
use crate::check::PSEUDONYM;
use duckdb::Connection;
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

/// One granted table as the sandbox exposes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantedTable {
    /// The name queries use (a view).
    pub view: String,
    /// The release it comes from.
    pub release: String,
    /// The release file.
    pub path: PathBuf,
    /// The table in the release.
    pub table: String,
    /// The granted columns (the pseudonym is always there, for person
    /// counts; it leaves only in row-level results a grant allows).
    pub columns: Vec<String>,
}

/// What one query may use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// DuckDB's `memory_limit`, e.g. `512MB`.
    pub memory: String,
    /// DuckDB's `threads`.
    pub threads: u32,
    /// Wall time before the query is interrupted.
    pub timeout: Duration,
    /// The most result rows returned.
    pub max_rows: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory: "512MB".into(),
            threads: 1,
            timeout: Duration::from_secs(30),
            max_rows: 10_000,
        }
    }
}

/// A value of a result cell.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// SQL NULL (or a suppressed value).
    Null,
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A floating-point or decimal number.
    Float(f64),
    /// Text, dates and timestamps.
    Text(String),
}

impl Cell {
    /// The cell as a number, if it is one.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Cell::Int(i) => Some(*i as f64),
            Cell::Float(f) => Some(*f),
            _ => None,
        }
    }
}

/// What a result column holds, as the query declared it (known even when
/// every value is NULL or there are no rows).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Integers.
    Int,
    /// Floating-point and decimal numbers.
    Float,
    /// Booleans.
    Bool,
    /// Text, and whatever is rendered as text (dates).
    Text,
}

/// A result: column names and rows.
#[derive(Debug, Clone, PartialEq)]
pub struct ResultSet {
    /// The column names, in order.
    pub columns: Vec<String>,
    /// Each column's kind.
    pub kinds: Vec<Kind>,
    /// The rows.
    pub rows: Vec<Vec<Cell>>,
}

/// A locked connection over the granted views.
pub struct Sandbox {
    conn: Connection,
    limits: Limits,
}

fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

impl Sandbox {
    /// Attaches the releases read-only, creates the views and locks the
    /// connection.
    pub fn open(tables: &[GrantedTable], limits: Limits) -> Result<Sandbox, QueryError> {
        let conn = Connection::open_in_memory().map_err(QueryError::internal)?;
        // Extensions are neither installed nor loaded behind the query's
        // back (DuckDB would fetch them from the network).
        conn.execute_batch(
            "SET autoinstall_known_extensions = false; SET autoload_known_extensions = false;",
        )
        .map_err(QueryError::internal)?;
        let mut attached: Vec<&PathBuf> = Vec::new();
        for t in tables {
            let db = match attached.iter().position(|p| *p == &t.path) {
                Some(i) => format!("r{i}"),
                None => {
                    let alias = format!("r{}", attached.len());
                    conn.execute_batch(&format!(
                        "ATTACH {} AS {alias} (READ_ONLY)",
                        quote_literal(&t.path.to_string_lossy())
                    ))
                    .map_err(|e| {
                        QueryError::Internal(format!("release {}: {e}", t.path.display()))
                    })?;
                    attached.push(&t.path);
                    alias
                }
            };
            let mut columns = vec![quote_ident(PSEUDONYM)];
            columns.extend(
                t.columns
                    .iter()
                    .filter(|c| c.as_str() != PSEUDONYM)
                    .map(|c| quote_ident(c)),
            );
            conn.execute_batch(&format!(
                "CREATE VIEW main.{} AS SELECT {} FROM {db}.main.{}",
                quote_ident(&t.view),
                columns.join(", "),
                quote_ident(&t.table)
            ))
            .map_err(|e| QueryError::Internal(format!("view {}: {e}", t.view)))?;
        }
        // From here the connection reads no file, loads nothing and its
        // settings cannot change: whatever the SQL, it sees the views.
        conn.execute_batch(&format!(
            "SET memory_limit = {}; SET threads = {}; SET enable_external_access = false; \
             SET lock_configuration = true;",
            quote_literal(&limits.memory),
            limits.threads.max(1)
        ))
        .map_err(QueryError::internal)?;
        Ok(Sandbox { conn, limits })
    }

    /// Runs checked SQL; interrupted at the timeout, refused past the row
    /// limit.
    pub fn run(&self, sql: &str) -> Result<ResultSet, QueryError> {
        let handle = self.conn.interrupt_handle();
        let (done, wait) = mpsc::channel::<()>();
        let timeout = self.limits.timeout;
        let timer = std::thread::spawn(move || {
            let fired = wait.recv_timeout(timeout) == Err(mpsc::RecvTimeoutError::Timeout);
            if fired {
                handle.interrupt();
            }
            fired
        });
        let result = self.fetch(sql);
        let _ = done.send(());
        let fired = timer.join().unwrap_or(false);
        match result {
            Err(_) if fired => Err(QueryError::Timeout(timeout)),
            other => other,
        }
    }

    fn fetch(&self, sql: &str) -> Result<ResultSet, QueryError> {
        let mut stmt = self.conn.prepare(sql).map_err(QueryError::from_duckdb)?;
        let mut rows = stmt.query([]).map_err(QueryError::from_duckdb)?;
        let mut out = Vec::new();
        let mut width = 0;
        while let Some(row) = rows.next().map_err(QueryError::from_duckdb)? {
            if out.len() == self.limits.max_rows {
                return Err(QueryError::Refused(format!(
                    "the result has more than {} rows; aggregate further or add a LIMIT",
                    self.limits.max_rows
                )));
            }
            width = row.as_ref().column_count();
            let mut cells = Vec::with_capacity(width);
            for i in 0..width {
                let value: duckdb::types::Value = row.get(i).map_err(QueryError::from_duckdb)?;
                cells.push(cell(
                    value,
                    &row.as_ref()
                        .column_name(i)
                        .map_or_else(|_| i.to_string(), |n| n.to_string()),
                )?);
            }
            out.push(cells);
        }
        let (columns, kinds) = match rows.as_ref() {
            Some(stmt) => (
                stmt.column_names(),
                (0..stmt.column_count())
                    .map(|i| kind_of(&stmt.column_type(i)))
                    .collect(),
            ),
            None => (
                (0..width).map(|i| i.to_string()).collect(),
                vec![Kind::Text; width],
            ),
        };
        Ok(ResultSet {
            columns,
            kinds,
            rows: out,
        })
    }
}

fn kind_of(t: &duckdb::arrow::datatypes::DataType) -> Kind {
    use duckdb::arrow::datatypes::DataType as T;
    if *t == T::Boolean {
        Kind::Bool
    } else if t.is_integer() {
        Kind::Int
    } else if t.is_numeric() {
        Kind::Float
    } else {
        Kind::Text
    }
}

/// A DuckDB value as a result cell.
fn cell(value: duckdb::types::Value, column: &str) -> Result<Cell, QueryError> {
    use duckdb::types::Value as V;
    Ok(match value {
        V::Null => Cell::Null,
        V::Boolean(b) => Cell::Bool(b),
        V::TinyInt(i) => Cell::Int(i.into()),
        V::SmallInt(i) => Cell::Int(i.into()),
        V::Int(i) => Cell::Int(i.into()),
        V::BigInt(i) => Cell::Int(i),
        V::UTinyInt(i) => Cell::Int(i.into()),
        V::USmallInt(i) => Cell::Int(i.into()),
        V::UInt(i) => Cell::Int(i.into()),
        V::HugeInt(i) => i64::try_from(i).map_or(Cell::Float(i as f64), Cell::Int),
        V::UBigInt(i) => i64::try_from(i).map_or(Cell::Float(i as f64), Cell::Int),
        V::Float(f) => Cell::Float(f.into()),
        V::Double(f) => Cell::Float(f),
        V::Decimal(d) => Cell::Float(d.to_string().parse().unwrap_or(f64::NAN)),
        V::Text(s) => Cell::Text(s),
        V::Enum(s) => Cell::Text(s),
        V::Date32(days) => Cell::Text(civil_date(days.into())),
        other => {
            return Err(QueryError::Refused(format!(
                "column `{column}` has a type results cannot carry ({}); cast it",
                type_name(&other)
            )));
        }
    })
}

fn type_name(value: &duckdb::types::Value) -> String {
    let debug = format!("{value:?}");
    debug
        .split(['(', ' ', '{'])
        .next()
        .unwrap_or("?")
        .to_owned()
}

/// Days since 1970-01-01 as `YYYY-MM-DD` (proleptic Gregorian).
fn civil_date(days: i64) -> String {
    // Howard Hinnant's days-from-civil inverse.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_become_dates() {
        assert_eq!(civil_date(0), "1970-01-01");
        assert_eq!(civil_date(19_723), "2024-01-01");
        assert_eq!(civil_date(-1), "1969-12-31");
        assert_eq!(civil_date(11_016), "2000-02-29");
    }
}
