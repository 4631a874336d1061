//! The control plane's database, whichever backend holds it.
//!
//! The store's statements are written once, in the SQL that SQLite,
//! PostgreSQL and DuckDB share, with `$1`, `$2`… placeholders; each backend
//! ([`sqlite`], [`postgres`], [`duck`]) binds [`Value`]s its own way and
//! reads its columns back as [`Value`]s. What the dialects do not share
//! stays in the per-backend migrations (column types, defaults) and in the
//! few methods here that differ by backend ([`Conn::has_table`],
//! [`Tx`]'s writer lock).
//!
//! Timestamps are `TIMESTAMPTZ` on PostgreSQL and DuckDB, and on SQLite
//! text of one fixed width (`2026-12-07 06:31:00.123456+00`), so that they
//! sort and compare as text in the same order as in time. Dates are `DATE`,
//! or `YYYY-MM-DD` text on SQLite.
//!
//! # Writers
//!
//! Every transaction takes the platform's one writer lock first: SQLite's
//! `BEGIN IMMEDIATE`, a PostgreSQL transaction-level advisory lock, and on
//! DuckDB the one process that may open the file. Several servers on one
//! PostgreSQL therefore change the control plane one transaction at a time,
//! and a check made inside a transaction (a budget, a grant's state, the
//! access log's head) still holds when it commits.

pub(crate) mod duck;
pub(crate) mod postgres;
pub(crate) mod sqlite;

use crate::StoreError;
use chrono::{DateTime, NaiveDate, Utc};
use std::cell::Cell;
use std::path::PathBuf;

/// Which database holds a control plane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// An embedded SQLite file in WAL mode (the default).
    Sqlite,
    /// A PostgreSQL database shared by several servers.
    Postgres,
    /// The DuckDB file of niji before 0.2 (`control.duckdb`).
    DuckDb,
}

impl Backend {
    /// Its name in messages and in `migrations/<name>/`.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
            Backend::DuckDb => "duckdb",
        }
    }
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Where a control plane is.
#[derive(Clone, PartialEq, Eq)]
pub enum Location {
    /// An SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL connection URL (`postgres://user:password@host/db`).
    Postgres(String),
    /// A DuckDB file.
    DuckDb(PathBuf),
}

impl Location {
    /// The backend.
    pub fn backend(&self) -> Backend {
        match self {
            Location::Sqlite(_) => Backend::Sqlite,
            Location::Postgres(_) => Backend::Postgres,
            Location::DuckDb(_) => Backend::DuckDb,
        }
    }

    /// How messages name it: the file, or the URL without its password.
    pub fn display(&self) -> String {
        match self {
            Location::Sqlite(path) | Location::DuckDb(path) => path.display().to_string(),
            Location::Postgres(url) => postgres::display_url(url),
        }
    }
}

/// Never prints a PostgreSQL password.
impl std::fmt::Debug for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}({})", self.backend(), self.display())
    }
}

/// A value bound to a statement or read from a row.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// SQL `NULL`.
    Null,
    /// An integer.
    Int(i64),
    /// A floating-point number.
    Real(f64),
    /// Text.
    Text(String),
    /// Bytes.
    Blob(Vec<u8>),
    /// A boolean.
    Bool(bool),
    /// A point in time.
    Time(DateTime<Utc>),
    /// A calendar date.
    Date(NaiveDate),
}

/// A time as niji shows it and as the access log's entries carry it
/// (`2026-12-07 06:31:00.12+00`: UTC, the fraction of a second without
/// trailing zeros, none when whole). This is the text DuckDB printed for
/// the control plane's timestamps, which the leaves of existing logs hash,
/// so it must not change.
pub fn stamp(t: &DateTime<Utc>) -> String {
    let whole = t.format("%Y-%m-%d %H:%M:%S");
    let micros = t.timestamp_subsec_micros();
    if micros == 0 {
        return format!("{whole}+00");
    }
    let fraction = format!("{micros:06}");
    format!("{whole}.{}+00", fraction.trim_end_matches('0'))
}

/// The text form of timestamps on SQLite: fixed width, so that text order
/// is time order.
pub(crate) const TIME_TEXT: &str = "%Y-%m-%d %H:%M:%S%.6f+00";

/// A timestamp as SQLite keeps it.
pub(crate) fn time_text(t: &DateTime<Utc>) -> String {
    t.format(TIME_TEXT).to_string()
}

/// Reads a timestamp written as [`TIME_TEXT`] (or by SQLite's
/// `strftime`, which the migrations' defaults use in the same form).
pub(crate) fn parse_time_text(text: &str) -> Option<DateTime<Utc>> {
    let naive =
        chrono::NaiveDateTime::parse_from_str(text.strip_suffix("+00")?, "%Y-%m-%d %H:%M:%S%.f")
            .ok()?;
    Some(naive.and_utc())
}

/// Something that binds as a [`Value`].
pub(crate) trait Param {
    fn value(&self) -> Value;
}

macro_rules! param_via {
    ($($t:ty => |$v:ident| $e:expr),* $(,)?) => {
        $(impl Param for $t {
            fn value(&self) -> Value {
                let $v = self;
                $e
            }
        })*
    };
}

param_via! {
    i64 => |v| Value::Int(*v),
    i32 => |v| Value::Int(i64::from(*v)),
    u32 => |v| Value::Int(i64::from(*v)),
    // Counts, sizes and log indices, far below 2^63.
    u64 => |v| Value::Int(i64::try_from(*v).unwrap_or(i64::MAX)),
    usize => |v| Value::Int(i64::try_from(*v).unwrap_or(i64::MAX)),
    f64 => |v| Value::Real(*v),
    bool => |v| Value::Bool(*v),
    str => |v| Value::Text(v.to_owned()),
    String => |v| Value::Text(v.clone()),
    [u8] => |v| Value::Blob(v.to_vec()),
    Vec<u8> => |v| Value::Blob(v.clone()),
    DateTime<Utc> => |v| Value::Time(*v),
    NaiveDate => |v| Value::Date(*v),
    Value => |v| v.clone(),
}

impl<const N: usize> Param for [u8; N] {
    fn value(&self) -> Value {
        Value::Blob(self.to_vec())
    }
}

impl<T: Param + ?Sized> Param for &T {
    fn value(&self) -> Value {
        (**self).value()
    }
}

impl<T: Param> Param for Option<T> {
    fn value(&self) -> Value {
        self.as_ref().map_or(Value::Null, Param::value)
    }
}

/// A column's value as a Rust type.
pub(crate) trait FromValue: Sized {
    fn from_value(value: Value) -> Result<Self, String>;
}

fn mismatch(want: &str, got: &Value) -> String {
    let kind = match got {
        Value::Null => "NULL",
        Value::Int(_) => "an integer",
        Value::Real(_) => "a number",
        Value::Text(_) => "text",
        Value::Blob(_) => "bytes",
        Value::Bool(_) => "a boolean",
        Value::Time(_) => "a timestamp",
        Value::Date(_) => "a date",
    };
    // The kind only: a value read from the store may be personal data.
    format!("expected {want}, found {kind}")
}

impl FromValue for Value {
    fn from_value(value: Value) -> Result<Self, String> {
        Ok(value)
    }
}

impl FromValue for i64 {
    fn from_value(value: Value) -> Result<Self, String> {
        match value {
            Value::Int(v) => Ok(v),
            Value::Bool(b) => Ok(i64::from(b)),
            other => Err(mismatch("an integer", &other)),
        }
    }
}

macro_rules! int_via_i64 {
    ($($t:ty),*) => {
        $(impl FromValue for $t {
            fn from_value(value: Value) -> Result<Self, String> {
                let v = i64::from_value(value)?;
                <$t>::try_from(v).map_err(|_| format!("integer out of range for {}", stringify!($t)))
            }
        })*
    };
}

int_via_i64!(i32, u32, u64, usize);

impl FromValue for f64 {
    fn from_value(value: Value) -> Result<Self, String> {
        match value {
            Value::Real(v) => Ok(v),
            Value::Int(v) => Ok(v as f64),
            other => Err(mismatch("a number", &other)),
        }
    }
}

impl FromValue for bool {
    fn from_value(value: Value) -> Result<Self, String> {
        match value {
            Value::Bool(b) => Ok(b),
            Value::Int(0) => Ok(false),
            Value::Int(1) => Ok(true),
            other => Err(mismatch("a boolean", &other)),
        }
    }
}

impl FromValue for String {
    fn from_value(value: Value) -> Result<Self, String> {
        match value {
            Value::Text(s) => Ok(s),
            other => Err(mismatch("text", &other)),
        }
    }
}

impl FromValue for Vec<u8> {
    fn from_value(value: Value) -> Result<Self, String> {
        match value {
            Value::Blob(b) => Ok(b),
            other => Err(mismatch("bytes", &other)),
        }
    }
}

impl FromValue for DateTime<Utc> {
    fn from_value(value: Value) -> Result<Self, String> {
        match value {
            Value::Time(t) => Ok(t),
            Value::Text(s) => {
                parse_time_text(&s).ok_or_else(|| "a timestamp that does not parse".to_owned())
            }
            other => Err(mismatch("a timestamp", &other)),
        }
    }
}

impl FromValue for NaiveDate {
    fn from_value(value: Value) -> Result<Self, String> {
        match value {
            Value::Date(d) => Ok(d),
            Value::Text(s) => NaiveDate::parse_from_str(&s, "%Y-%m-%d")
                .map_err(|_| "a date that does not parse".to_owned()),
            other => Err(mismatch("a date", &other)),
        }
    }
}

impl<T: FromValue> FromValue for Option<T> {
    fn from_value(value: Value) -> Result<Self, String> {
        match value {
            Value::Null => Ok(None),
            other => T::from_value(other).map(Some),
        }
    }
}

/// One row of a result.
#[derive(Debug)]
pub(crate) struct Row(pub(crate) Vec<Value>);

impl Row {
    /// Column `i` as `T`, copied (for a row read column by column).
    pub(crate) fn get<T: FromValue>(&self, i: usize) -> Result<T, StoreError> {
        let value = self.0.get(i).cloned().ok_or_else(|| missing(i))?;
        convert(i, value)
    }

    /// Column `i` as `T`, moved out (a blob or text is not copied).
    fn take<T: FromValue>(&mut self, i: usize) -> Result<T, StoreError> {
        let value = std::mem::replace(self.0.get_mut(i).ok_or_else(|| missing(i))?, Value::Null);
        convert(i, value)
    }
}

fn missing(i: usize) -> StoreError {
    StoreError::Damaged {
        what: format!("a result has no column {i}"),
    }
}

fn convert<T: FromValue>(i: usize, value: Value) -> Result<T, StoreError> {
    T::from_value(value).map_err(|why| StoreError::Damaged {
        what: format!("column {i}: {why}"),
    })
}

/// A whole row as a Rust type: a tuple of [`FromValue`]s, or one.
pub(crate) trait FromRow: Sized {
    fn from_row(row: Row) -> Result<Self, StoreError>;
}

macro_rules! row_tuple {
    ($($t:ident $i:tt),+) => {
        impl<$($t: FromValue),+> FromRow for ($($t,)+) {
            fn from_row(mut row: Row) -> Result<Self, StoreError> {
                Ok(($(row.take::<$t>($i)?,)+))
            }
        }
    };
}

row_tuple!(A 0);
row_tuple!(A 0, B 1);
row_tuple!(A 0, B 1, C 2);
row_tuple!(A 0, B 1, C 2, D 3);
row_tuple!(A 0, B 1, C 2, D 3, E 4);
row_tuple!(A 0, B 1, C 2, D 3, E 4, F 5);
row_tuple!(A 0, B 1, C 2, D 3, E 4, F 5, G 6);
row_tuple!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7);
row_tuple!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8);
row_tuple!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9);

impl FromRow for Row {
    fn from_row(row: Row) -> Result<Self, StoreError> {
        Ok(row)
    }
}

enum Inner {
    Sqlite(sqlite::Sqlite),
    // Boxed: a PostgreSQL client is several times the size of the others.
    Postgres(Box<postgres::Postgres>),
    Duck(duck::Duck),
}

/// An open connection to a control plane.
pub struct Conn {
    inner: Inner,
    location: Location,
    /// Transactions open on this connection: only the outermost begins and
    /// commits; an inner one that fails dooms the outer.
    depth: Cell<u32>,
    doomed: Cell<bool>,
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn")
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

impl Conn {
    /// Opens a connection; the error names the store and says why, without
    /// the password of a PostgreSQL URL.
    pub fn open(location: &Location) -> Result<Self, StoreError> {
        let inner = match location {
            Location::Sqlite(path) => Inner::Sqlite(sqlite::Sqlite::open(path, false)?),
            Location::Postgres(url) => Inner::Postgres(Box::new(postgres::Postgres::connect(url)?)),
            Location::DuckDb(path) => Inner::Duck(duck::Duck::open(path)?),
        };
        Ok(Self::new(inner, location.clone()))
    }

    fn new(inner: Inner, location: Location) -> Self {
        Self {
            inner,
            location,
            depth: Cell::new(0),
            doomed: Cell::new(false),
        }
    }

    /// Another connection to the same database, for reads beside this one.
    pub fn reader(&self) -> Result<Self, StoreError> {
        let inner = match (&self.inner, &self.location) {
            (Inner::Sqlite(_), Location::Sqlite(path)) => {
                Inner::Sqlite(sqlite::Sqlite::open(path, true)?)
            }
            (Inner::Postgres(_), Location::Postgres(url)) => {
                Inner::Postgres(Box::new(postgres::Postgres::connect(url)?))
            }
            (Inner::Duck(d), _) => Inner::Duck(d.try_clone()?),
            _ => unreachable!("a connection's location is of its backend"),
        };
        Ok(Self::new(inner, self.location.clone()))
    }

    /// The backend.
    pub fn backend(&self) -> Backend {
        self.location.backend()
    }

    /// Where the database is.
    pub fn location(&self) -> &Location {
        &self.location
    }

    /// Runs `sql`; the number of rows it changed.
    pub(crate) fn execute(&self, sql: &str, params: &[&dyn Param]) -> Result<usize, StoreError> {
        let values = values(params);
        match &self.inner {
            Inner::Sqlite(db) => db.execute(sql, &values),
            Inner::Postgres(db) => db.execute(sql, &values),
            Inner::Duck(db) => db.execute(sql, &values),
        }
    }

    /// Runs `sql` and returns its rows.
    pub(crate) fn rows(&self, sql: &str, params: &[&dyn Param]) -> Result<Vec<Row>, StoreError> {
        let values = values(params);
        match &self.inner {
            Inner::Sqlite(db) => db.query(sql, &values),
            Inner::Postgres(db) => db.query(sql, &values),
            Inner::Duck(db) => db.query(sql, &values),
        }
    }

    /// Runs `sql` and reads every row as `T`.
    pub(crate) fn all<T: FromRow>(
        &self,
        sql: &str,
        params: &[&dyn Param],
    ) -> Result<Vec<T>, StoreError> {
        self.rows(sql, params)?
            .into_iter()
            .map(T::from_row)
            .collect()
    }

    /// The first row of `sql` as `T`, if there is one.
    pub(crate) fn opt<T: FromRow>(
        &self,
        sql: &str,
        params: &[&dyn Param],
    ) -> Result<Option<T>, StoreError> {
        self.rows(sql, params)?
            .into_iter()
            .next()
            .map(T::from_row)
            .transpose()
    }

    /// The first row of `sql` as `T`; a statement that returns none is an
    /// error (an aggregate, an insert's `RETURNING`).
    pub(crate) fn one<T: FromRow>(
        &self,
        sql: &str,
        params: &[&dyn Param],
    ) -> Result<T, StoreError> {
        self.opt(sql, params)?.ok_or_else(|| StoreError::Damaged {
            what: "a statement that returns a row returned none".into(),
        })
    }

    /// The first column of every row.
    pub(crate) fn values<T: FromValue>(
        &self,
        sql: &str,
        params: &[&dyn Param],
    ) -> Result<Vec<T>, StoreError> {
        self.rows(sql, params)?
            .into_iter()
            .map(|mut r| r.take(0))
            .collect()
    }

    /// The first column of the first row, if there is a row.
    pub(crate) fn opt_value<T: FromValue>(
        &self,
        sql: &str,
        params: &[&dyn Param],
    ) -> Result<Option<T>, StoreError> {
        self.rows(sql, params)?
            .into_iter()
            .next()
            .map(|mut r| r.take(0))
            .transpose()
    }

    /// The first column of the first row; none is an error.
    pub(crate) fn value<T: FromValue>(
        &self,
        sql: &str,
        params: &[&dyn Param],
    ) -> Result<T, StoreError> {
        Ok(self.one::<(T,)>(sql, params)?.0)
    }

    /// Inserts many rows into `table`: DuckDB's appender, SQLite's prepared
    /// insert row by row, PostgreSQL's multi-row `INSERT`s (one round trip
    /// per thousand rows or so). Inside the caller's transaction, if any.
    pub(crate) fn insert_rows(
        &self,
        table: &str,
        columns: &[&str],
        rows: &[Vec<Value>],
    ) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        match &self.inner {
            Inner::Duck(db) => db.append(table, rows),
            Inner::Sqlite(_) => {
                let sql = format!(
                    "INSERT INTO {table} ({}) VALUES {}",
                    columns.join(", "),
                    placeholders(1, columns.len(), 1)
                );
                for row in rows {
                    let params: Vec<&dyn Param> = row.iter().map(|v| v as &dyn Param).collect();
                    self.execute(&sql, &params)?;
                }
                Ok(())
            }
            Inner::Postgres(_) => {
                // PostgreSQL binds at most 65,535 parameters a statement.
                let per = (60_000 / columns.len().max(1)).clamp(1, 1_000);
                for chunk in rows.chunks(per) {
                    let sql = format!(
                        "INSERT INTO {table} ({}) VALUES {}",
                        columns.join(", "),
                        placeholders(chunk.len(), columns.len(), 1)
                    );
                    let params: Vec<&dyn Param> =
                        chunk.iter().flatten().map(|v| v as &dyn Param).collect();
                    self.execute(&sql, &params)?;
                }
                Ok(())
            }
        }
    }

    /// Runs several statements without parameters (a migration).
    pub(crate) fn batch(&self, sql: &str) -> Result<(), StoreError> {
        match &self.inner {
            Inner::Sqlite(db) => db.batch(sql),
            Inner::Postgres(db) => db.batch(sql),
            Inner::Duck(db) => db.batch(sql),
        }
    }

    /// Whether a table exists.
    pub(crate) fn has_table(&self, table: &str) -> Result<bool, StoreError> {
        let sql = match self.backend() {
            Backend::Sqlite => {
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = $1"
            }
            Backend::Postgres => {
                "SELECT count(*) FROM information_schema.tables \
                 WHERE table_schema = current_schema() AND table_name = $1"
            }
            Backend::DuckDb => {
                "SELECT count(*) FROM information_schema.tables \
                 WHERE table_schema = 'main' AND table_name = $1"
            }
        };
        Ok(self.one::<(i64,)>(sql, &[&table])?.0 > 0)
    }

    /// The tables of the control plane, by name (not the migrations' own).
    pub(crate) fn tables(&self) -> Result<Vec<String>, StoreError> {
        let sql = match self.backend() {
            Backend::Sqlite => {
                "SELECT name FROM sqlite_master WHERE type = 'table' \
                 AND name NOT LIKE 'sqlite_%' AND name <> 'schema_migrations' ORDER BY name"
            }
            Backend::Postgres => {
                "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() \
                 AND table_type = 'BASE TABLE' AND table_name <> 'schema_migrations' ORDER BY table_name"
            }
            Backend::DuckDb => {
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' \
                 AND table_type = 'BASE TABLE' AND table_name <> 'schema_migrations' ORDER BY table_name"
            }
        };
        self.values(sql, &[])
    }

    /// A table's columns, in order.
    pub(crate) fn columns(&self, table: &str) -> Result<Vec<String>, StoreError> {
        let sql = match self.backend() {
            Backend::Sqlite => "SELECT name FROM pragma_table_info($1) ORDER BY cid",
            Backend::Postgres => {
                "SELECT column_name FROM information_schema.columns \
                 WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position"
            }
            Backend::DuckDb => {
                "SELECT column_name FROM information_schema.columns \
                 WHERE table_schema = 'main' AND table_name = $1 ORDER BY ordinal_position"
            }
        };
        self.values(sql, &[&table])
    }

    /// A table's primary key columns, in key order; none when it has no
    /// primary key.
    pub(crate) fn primary_key(&self, table: &str) -> Result<Vec<String>, StoreError> {
        let sql = match self.backend() {
            Backend::Sqlite => "SELECT name FROM pragma_table_info($1) WHERE pk > 0 ORDER BY pk",
            Backend::Postgres => {
                "SELECT k.column_name FROM information_schema.table_constraints c \
                 JOIN information_schema.key_column_usage k \
                   ON k.constraint_schema = c.constraint_schema \
                  AND k.constraint_name = c.constraint_name \
                 WHERE c.table_schema = current_schema() AND c.table_name = $1 \
                   AND c.constraint_type = 'PRIMARY KEY' ORDER BY k.ordinal_position"
            }
            Backend::DuckDb => {
                "SELECT unnest(constraint_column_names) FROM duckdb_constraints() \
                 WHERE schema_name = 'main' AND table_name = $1 AND constraint_type = 'PRIMARY KEY'"
            }
        };
        self.values(sql, &[&table])
    }

    /// Begins a transaction that holds the platform's writer lock until it
    /// commits or is dropped (rolled back). Inside another transaction of
    /// this connection it joins that one.
    pub(crate) fn transaction(&self) -> Result<Tx<'_>, StoreError> {
        self.begin(true)
    }

    /// Begins a read-only transaction: its statements see one committed
    /// state, whatever other connections commit meanwhile. It takes no
    /// writer lock; drop it when done.
    pub(crate) fn snapshot(&self) -> Result<Tx<'_>, StoreError> {
        self.begin(false)
    }

    fn begin(&self, write: bool) -> Result<Tx<'_>, StoreError> {
        let depth = self.depth.get();
        if depth == 0 {
            self.doomed.set(false);
            match (&self.inner, write) {
                (Inner::Sqlite(db), true) => db.batch("BEGIN IMMEDIATE")?,
                (Inner::Sqlite(db), false) => db.batch("BEGIN")?,
                (Inner::Postgres(db), true) => db.begin_locked()?,
                (Inner::Postgres(db), false) => {
                    db.batch("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")?
                }
                (Inner::Duck(db), _) => db.batch("BEGIN TRANSACTION")?,
            }
        }
        self.depth.set(depth + 1);
        Ok(Tx {
            conn: self,
            outer: depth == 0,
            done: false,
        })
    }
}

fn values(params: &[&dyn Param]) -> Vec<Value> {
    params.iter().map(|p| p.value()).collect()
}

/// An open transaction; rolled back if dropped before [`Tx::commit`].
pub(crate) struct Tx<'c> {
    conn: &'c Conn,
    outer: bool,
    done: bool,
}

impl std::ops::Deref for Tx<'_> {
    type Target = Conn;
    fn deref(&self) -> &Conn {
        self.conn
    }
}

impl Tx<'_> {
    /// Commits: the changes are durable when this returns.
    pub(crate) fn commit(mut self) -> Result<(), StoreError> {
        self.done = true;
        self.conn.depth.set(self.conn.depth.get() - 1);
        if !self.outer {
            return Ok(());
        }
        if self.conn.doomed.get() {
            self.conn.batch("ROLLBACK")?;
            return Err(StoreError::Refused(
                "a step of this change failed; nothing of it was saved".into(),
            ));
        }
        // A commit that fails leaves SQLite's transaction open: end it, so
        // that the connection's next transaction can begin.
        self.conn.batch("COMMIT").inspect_err(|_| {
            let _ = self.conn.batch("ROLLBACK");
        })
    }
}

impl Drop for Tx<'_> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        self.conn.depth.set(self.conn.depth.get() - 1);
        if self.outer {
            if let Err(err) = self.conn.batch("ROLLBACK") {
                tracing::warn!(%err, "rolling back a control-plane transaction failed");
            }
        } else {
            self.conn.doomed.set(true);
        }
    }
}

/// `rows` groups of `columns` numbered placeholders from `$first` on, for
/// a multi-row `VALUES` or an `IN` list: `($1, $2), ($3, $4)`.
pub(crate) fn placeholders(rows: usize, columns: usize, first: usize) -> String {
    (0..rows)
        .map(|r| {
            let marks: Vec<String> = (0..columns)
                .map(|c| format!("${}", first + r * columns + c))
                .collect();
            format!("({})", marks.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// `$n` placeholders as `?n` (SQLite), outside quotes and comments.
pub(crate) fn numbered_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    let mut quote: Option<char> = None;
    while let Some(c) = chars.next() {
        match quote {
            Some(q) => {
                if c == q {
                    quote = None;
                }
                out.push(c);
            }
            None => match c {
                '\'' | '"' => {
                    quote = Some(c);
                    out.push(c);
                }
                '$' if chars.peek().is_some_and(char::is_ascii_digit) => out.push('?'),
                _ => out.push(c),
            },
        }
    }
    out
}

#[cfg(test)]
mod backends;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_outside_quotes() {
        assert_eq!(
            numbered_placeholders("SELECT $1, '$2', \"$3\" FROM t WHERE a = $12"),
            "SELECT ?1, '$2', \"$3\" FROM t WHERE a = ?12"
        );
    }

    #[test]
    fn placeholder_groups_are_numbered_in_order() {
        assert_eq!(placeholders(2, 2, 1), "($1, $2), ($3, $4)");
        assert_eq!(placeholders(1, 3, 2), "($2, $3, $4)");
    }

    #[test]
    fn time_text_is_fixed_width_and_round_trips() {
        let t = DateTime::parse_from_rfc3339("2026-12-07T06:31:00Z")
            .unwrap()
            .to_utc();
        assert_eq!(time_text(&t), "2026-12-07 06:31:00.000000+00");
        assert_eq!(parse_time_text(&time_text(&t)), Some(t));
        let later = t + chrono::Duration::microseconds(5);
        assert!(time_text(&t) < time_text(&later));
        // SQLite's own default (milliseconds, padded to microseconds).
        assert!(parse_time_text("2026-12-07 06:31:00.123000+00").is_some());
        assert!(parse_time_text("2026-12-07T06:31:00Z").is_none());
    }

    #[test]
    fn a_mismatch_names_kinds_never_values() {
        let err = String::from_value(Value::Int(4242)).unwrap_err();
        assert!(!err.contains("4242"), "{err}");
        let err = i64::from_value(Value::Text("山田太郎".into())).unwrap_err();
        assert!(!err.contains("山田"), "{err}");
    }
}
