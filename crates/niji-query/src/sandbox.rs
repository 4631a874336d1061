//! The sandbox a checked query runs in: an in-memory DuckDB connection
//! that sees only views of the granted columns of the granted tables, over
//! release files attached read-only, and is locked before the researcher's
//! SQL touches it — no files, no extensions, no settings — with a memory
//! limit, a thread count, a timeout (by interrupting the connection) and a
//! maximum number of result rows.

use crate::QueryError;
use crate::check::PSEUDONYM;
use crate::language::{Request, Source, TableShape, Ty};
use crate::plan::{Aids, PersonIndex};
use duckdb::{Connection, InterruptHandle, ProgressHandle};
use niji_core::{bucket, person_index, person_rows};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

/// One granted table as the sandbox exposes it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
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

/// A handle on the queries of one request, shared with whoever may stop
/// it or ask how far it got (an asynchronous job). Cloning shares it.
#[derive(Clone, Default)]
pub struct Control {
    state: Arc<ControlState>,
}

#[derive(Default)]
struct ControlState {
    cancelled: AtomicBool,
    /// The connection running the request's current query.
    running: Mutex<Option<(Arc<InterruptHandle>, ProgressHandle)>>,
}

impl std::fmt::Debug for Control {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Control")
            .field("cancelled", &self.is_cancelled())
            .finish_non_exhaustive()
    }
}

impl Control {
    /// Stops the request: the query running now is interrupted, and no
    /// later one starts.
    pub fn cancel(&self) {
        self.state.cancelled.store(true, Ordering::SeqCst);
        if let Ok(running) = self.state.running.lock()
            && let Some((interrupt, _)) = running.as_ref()
        {
            interrupt.interrupt();
        }
    }

    /// Whether [`Control::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.state.cancelled.load(Ordering::SeqCst)
    }

    /// DuckDB's estimate of how far the current query is, in percent;
    /// `None` when no query runs or DuckDB cannot tell.
    pub fn progress(&self) -> Option<f64> {
        let running = self.state.running.lock().ok()?;
        running.as_ref()?.1.query_progress().percentage()
    }

    /// Fails with [`QueryError::Cancelled`] once the request was cancelled.
    pub fn check(&self) -> Result<(), QueryError> {
        if self.is_cancelled() {
            Err(QueryError::Cancelled)
        } else {
            Ok(())
        }
    }

    fn attach(&self, conn: &Connection) {
        if let Ok(mut running) = self.state.running.lock() {
            *running = Some((conn.interrupt_handle(), conn.progress_handle()));
        }
    }

    /// Lets go of the connection, so that a later cancel cannot reach
    /// whatever query runs on it next.
    fn detach(&self) {
        if let Ok(mut running) = self.state.running.lock() {
            *running = None;
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

/// A result as columns: text keys and numeric values.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Columns {
    /// Per key column, its values.
    pub keys: Vec<Vec<String>>,
    /// Per value column, its values.
    pub values: Vec<Vec<f64>>,
}

/// Per result row, the person lists of a platform query (columns of
/// `LIST(UINTEGER)`, NULL read as empty): person indices, repeated as
/// often as the person has rows.
pub(crate) type PersonLists = Vec<Vec<Vec<u32>>>;

/// A person list straight from DuckDB's Arrow column: ten million indices
/// through [`duckdb::types::Value`] would take an enum each.
fn person_list(value: duckdb::types::ValueRef<'_>) -> Result<Vec<u32>, QueryError> {
    use duckdb::arrow::array::{Array, UInt32Array};
    use duckdb::types::{ListType, ValueRef};
    let list = match value {
        ValueRef::Null => return Ok(Vec::new()),
        ValueRef::List(ListType::Regular(array), row) => array.value(row),
        ValueRef::List(ListType::Large(array), row) => array.value(row),
        _ => return Err(QueryError::Internal("persons of an unknown form".into())),
    };
    let indices = list
        .as_any()
        .downcast_ref::<UInt32Array>()
        .ok_or_else(|| QueryError::Internal("a person index that is no UINTEGER".into()))?;
    if indices.null_count() > 0 {
        return Err(QueryError::Internal("a person index that is NULL".into()));
    }
    Ok(indices.values().to_vec())
}

/// A locked connection over the granted views.
pub struct Sandbox {
    conn: Connection,
    limits: Limits,
    control: Control,
    /// Rows of each view's table, from the release's own metadata.
    rows: BTreeMap<String, u64>,
    /// Each view's attached database and table.
    sources: Vec<(String, String, String)>,
    /// The views whose tables carry the person bucket.
    bucketed: Vec<String>,
    /// The views whose tables carry the person index, with their release
    /// and its number of persons.
    indexed: Vec<(String, String, u64)>,
    /// Each view's most rows of one person, where its release records it,
    /// rounded up to a power of two.
    most_rows: Vec<(String, u64)>,
    /// Each view's granted columns with their types, as the analysis
    /// language sees them.
    shapes: Vec<TableShape>,
    /// Set when a query was interrupted (timeout or cancel): the
    /// connection is not lent again.
    interrupted: std::cell::Cell<bool>,
}

/// A granted column as the table listing shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnInfo {
    /// Its name.
    pub name: String,
    /// DuckDB's type name (`VARCHAR`, `BIGINT`, …).
    pub data_type: String,
    /// What it holds and how the release processed it (the release's
    /// column comment; empty when it has none).
    pub description: String,
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
        Sandbox::open_with(tables, limits, Control::default())
    }

    /// [`Sandbox::open`], its queries stopped by and reporting progress to
    /// `control`.
    pub fn open_with(
        tables: &[GrantedTable],
        limits: Limits,
        control: Control,
    ) -> Result<Sandbox, QueryError> {
        control.check()?;
        let conn = Connection::open_in_memory().map_err(QueryError::internal)?;
        // Extensions are neither installed nor loaded behind the query's
        // back (DuckDB would fetch them from the network).
        conn.execute_batch(
            "SET autoinstall_known_extensions = false; SET autoload_known_extensions = false;",
        )
        .map_err(QueryError::internal)?;
        let mut attached: Vec<&PathBuf> = Vec::new();
        let mut sources = Vec::new();
        let mut bucketed = Vec::new();
        let mut indexed = Vec::new();
        let mut most_rows = Vec::new();
        let mut shapes = Vec::new();
        // Each attached release's aids to counting persons, read once.
        let mut aids: Vec<ReleaseAids> = Vec::new();
        for t in tables {
            let release = match attached.iter().position(|p| *p == &t.path) {
                Some(i) => i,
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
                    aids.push(ReleaseAids::read(&conn, &alias)?);
                    attached.len() - 1
                }
            };
            let db = format!("r{release}");
            sources.push((t.view.clone(), db.clone(), t.table.clone()));
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
            shapes.push(TableShape {
                view: t.view.clone(),
                columns: aids[release]
                    .columns
                    .iter()
                    .filter(|(table, name, _)| {
                        *table == t.table
                            && (name == PSEUDONYM
                                || t.columns.iter().any(|c| c.eq_ignore_ascii_case(name)))
                    })
                    .map(|(_, name, ty)| (name.to_lowercase(), Ty::of_duckdb(ty)))
                    .collect(),
            });
            let has_bucket = aids[release].bucketed.contains(&t.table);
            let has_index =
                aids[release].persons.is_some() && aids[release].indexed.contains(&t.table);
            if has_bucket {
                columns.push(quote_ident(bucket::COLUMN));
                bucketed.push(t.view.clone());
            }
            if let (true, Some(persons)) = (has_index, aids[release].persons) {
                columns.push(quote_ident(person_index::COLUMN));
                indexed.push((t.view.clone(), t.release.clone(), persons));
            }
            if has_bucket || has_index {
                // The same view with the hidden columns, for the
                // platform's own rewrite only: the allowlist knows only
                // the view above.
                conn.execute_batch(&format!(
                    "CREATE VIEW main.{} AS SELECT {} FROM {db}.main.{}",
                    quote_ident(&twin_view(&t.view)),
                    columns.join(", "),
                    quote_ident(&t.table)
                ))
                .map_err(|e| QueryError::Internal(format!("view {}: {e}", t.view)))?;
            }
            let most = aids[release]
                .most_rows
                .iter()
                .find(|(table, _)| *table == t.table)
                .map(|(_, most)| *most);
            if let Some(most) = most {
                // Rounded up: how fast a query is answered hints whether its
                // cells passed on this figure, and a researcher should learn
                // no more of the heaviest person than a power of two.
                most_rows.push((t.view.clone(), most.max(1).next_power_of_two()));
            }
        }
        let rows = table_rows(&conn, tables, &attached)?;
        conn.set_query_progress_tracking(true)
            .map_err(QueryError::internal)?;
        // From here the connection reads no file, loads nothing and its
        // settings cannot change: whatever the SQL, it sees the views.
        conn.execute_batch(&format!(
            "SET memory_limit = {}; SET threads = {}; SET enable_external_access = false; \
             SET lock_configuration = true;",
            quote_literal(&limits.memory),
            limits.threads.max(1)
        ))
        .map_err(QueryError::internal)?;
        control.attach(&conn);
        Ok(Sandbox {
            conn,
            limits,
            control,
            rows,
            sources,
            bucketed,
            indexed,
            most_rows,
            shapes,
            interrupted: std::cell::Cell::new(false),
        })
    }

    /// The columns of view `view` that `granted` names, with their types
    /// and descriptions, in the release's order.
    pub fn describe(&self, view: &str, granted: &[String]) -> Result<Vec<ColumnInfo>, QueryError> {
        let Some((_, db, table)) = self.sources.iter().find(|(v, _, _)| v == view) else {
            return Ok(Vec::new());
        };
        let mut stmt = self
            .conn
            .prepare(
                "SELECT column_name, data_type, coalesce(comment, '') FROM duckdb_columns() \
                 WHERE database_name = ? AND schema_name = 'main' AND table_name = ? \
                 ORDER BY column_index",
            )
            .map_err(QueryError::internal)?;
        let columns = stmt
            .query_map(duckdb::params![db, table], |r| {
                Ok(ColumnInfo {
                    name: r.get(0)?,
                    data_type: r.get(1)?,
                    description: r.get(2)?,
                })
            })
            .map_err(QueryError::internal)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(QueryError::internal)?;
        Ok(columns
            .into_iter()
            .filter(|c| granted.iter().any(|g| g.eq_ignore_ascii_case(&c.name)))
            .collect())
    }

    /// Whether it may serve another query: never interrupted, and let go
    /// of the request it served.
    pub(crate) fn release(self) -> Option<Sandbox> {
        self.control.detach();
        (!self.interrupted.get()).then_some(self)
    }

    /// The same sandbox for another query: its limits and control anew
    /// (the views, attachments and lock stay).
    pub(crate) fn reuse(mut self, limits: Limits, control: Control) -> Result<Sandbox, QueryError> {
        control.check()?;
        control.attach(&self.conn);
        self.limits = limits;
        self.control = control;
        Ok(self)
    }

    /// The hidden view of granted view `view` (case-insensitive) that adds
    /// the person bucket, when its release table has one.
    pub(crate) fn bucketed(&self, view: &str) -> Option<String> {
        self.bucketed
            .iter()
            .find(|v| v.eq_ignore_ascii_case(view))
            .map(|v| twin_view(v))
    }

    /// The person index of granted view `view` (case-insensitive), when
    /// its release table has one: the hidden view that adds it, the
    /// release, and the release's number of persons.
    pub(crate) fn indexed(&self, view: &str) -> Option<PersonIndex> {
        self.indexed
            .iter()
            .find(|(v, _, _)| v.eq_ignore_ascii_case(view))
            .map(|(v, release, persons)| PersonIndex {
                twin: twin_view(v),
                release: release.clone(),
                persons: *persons,
            })
    }

    /// The most rows one person has in granted view `view`'s table
    /// (case-insensitive), rounded up to a power of two, when its release
    /// records it.
    pub(crate) fn most_rows(&self, view: &str) -> Option<u64> {
        self.most_rows
            .iter()
            .find(|(v, _)| v.eq_ignore_ascii_case(view))
            .map(|(_, most)| *most)
    }

    /// Each granted view with its granted columns' types.
    pub fn shapes(&self) -> &[TableShape] {
        &self.shapes
    }

    /// What this sandbox's releases offer to settle the persons of
    /// `request` cheaply: the most rows one person has in its joined rows
    /// (the product over its tables; a person-level variable has one row
    /// per person), and the first relation's bucketed twin.
    pub(crate) fn aids_for(&self, request: &Request) -> Aids {
        let mut most: Option<u64> = Some(1);
        for r in &request.relations {
            if let Source::Table { view } = &r.source {
                most = most
                    .zip(self.most_rows(view))
                    .map(|(a, b)| a.saturating_mul(b));
            }
        }
        let twin = match &request.relations.first().map(|r| &r.source) {
            Some(Source::Table { view }) => self.bucketed(view),
            _ => None,
        };
        let index = match &request.relations.first().map(|r| &r.source) {
            Some(Source::Table { view } | Source::Persons { view, .. }) => self.indexed(view),
            None => None,
        };
        Aids {
            most_rows: most,
            twin,
            index,
        }
    }

    /// Rows of the granted tables `views` name (case-insensitive), before
    /// any filter: what a query over them scans at most.
    pub fn rows_of<'a>(&self, views: impl IntoIterator<Item = &'a String>) -> u64 {
        views
            .into_iter()
            .filter_map(|v| {
                self.rows
                    .iter()
                    .find(|(view, _)| view.eq_ignore_ascii_case(v))
                    .map(|(_, n)| *n)
            })
            .sum()
    }

    /// Runs checked SQL; interrupted at the timeout, refused past the row
    /// limit.
    pub fn run(&self, sql: &str) -> Result<ResultSet, QueryError> {
        self.timed(|| self.fetch(sql, 0..0).map(|(result, _)| result))
    }

    /// Runs platform SQL whose columns `lists` are person lists: the rest
    /// as [`Sandbox::run`] gives them (those cells NULL), the lists per
    /// row apart.
    pub(crate) fn run_with_lists(
        &self,
        sql: &str,
        lists: std::ops::Range<usize>,
    ) -> Result<(ResultSet, PersonLists), QueryError> {
        self.timed(|| self.fetch(sql, lists))
    }

    /// Runs platform SQL whose first `keys` columns are text and the next
    /// `values` numbers, straight into columns (no result-row limit: the
    /// caller bounds the rows). NULL reads as "" and 0.
    pub fn run_columns(
        &self,
        sql: &str,
        keys: usize,
        values: usize,
    ) -> Result<Columns, QueryError> {
        self.timed(|| {
            let mut stmt = self.conn.prepare(sql).map_err(QueryError::from_duckdb)?;
            let mut rows = stmt.query([]).map_err(QueryError::from_duckdb)?;
            let mut out = Columns {
                keys: vec![Vec::new(); keys],
                values: vec![Vec::new(); values],
            };
            while let Some(row) = rows.next().map_err(QueryError::from_duckdb)? {
                for (i, column) in out.keys.iter_mut().enumerate() {
                    let v: Option<String> = row.get(i).map_err(QueryError::from_duckdb)?;
                    column.push(v.unwrap_or_default());
                }
                for (i, column) in out.values.iter_mut().enumerate() {
                    let v: Option<f64> = row.get(keys + i).map_err(QueryError::from_duckdb)?;
                    column.push(v.unwrap_or(0.0));
                }
            }
            Ok(out)
        })
    }

    /// Runs `work` under the timeout and the request's control.
    fn timed<T>(&self, work: impl FnOnce() -> Result<T, QueryError>) -> Result<T, QueryError> {
        self.control.check()?;
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
        let result = work();
        let _ = done.send(());
        let fired = timer.join().unwrap_or(false);
        if fired || self.control.is_cancelled() {
            self.interrupted.set(true);
        }
        match result {
            Err(_) if fired => Err(QueryError::Timeout(timeout)),
            Err(_) if self.control.is_cancelled() => Err(QueryError::Cancelled),
            other => other,
        }
    }

    fn fetch(
        &self,
        sql: &str,
        list_columns: std::ops::Range<usize>,
    ) -> Result<(ResultSet, PersonLists), QueryError> {
        let mut stmt = self.conn.prepare(sql).map_err(QueryError::from_duckdb)?;
        let mut rows = stmt.query([]).map_err(QueryError::from_duckdb)?;
        let mut out = Vec::new();
        let mut lists = Vec::new();
        let mut width = 0;
        while let Some(row) = rows.next().map_err(QueryError::from_duckdb)? {
            if out.len() == self.limits.max_rows {
                return Err(QueryError::Refused(format!(
                    "the result has more than {} rows; aggregate further (a LIMIT shortens row-level results; an aggregate's LIMIT applies after disclosure control)",
                    self.limits.max_rows
                )));
            }
            width = row.as_ref().column_count();
            let mut cells = Vec::with_capacity(width);
            let mut row_lists = Vec::with_capacity(list_columns.len());
            for i in 0..width {
                if list_columns.contains(&i) {
                    let value = row.get_ref(i).map_err(QueryError::from_duckdb)?;
                    row_lists.push(person_list(value)?);
                    cells.push(Cell::Null);
                    continue;
                }
                let value: duckdb::types::Value = row.get(i).map_err(QueryError::from_duckdb)?;
                cells.push(cell(
                    value,
                    &row.as_ref()
                        .column_name(i)
                        .map_or_else(|_| i.to_string(), |n| n.to_string()),
                )?);
            }
            out.push(cells);
            lists.push(row_lists);
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
        Ok((
            ResultSet {
                columns,
                kinds,
                rows: out,
            },
            lists,
        ))
    }
}

/// The name of a granted view's hidden twin with the person bucket and
/// the person index. The allowlist refuses it: it is no granted view.
fn twin_view(view: &str) -> String {
    format!("__niji_twin_{view}")
}

/// What an attached release carries to help count persons (releases
/// built before these aids carry none).
struct ReleaseAids {
    /// Every column of its tables: table, column, DuckDB type.
    columns: Vec<(String, String, String)>,
    /// Its tables with the person bucket column.
    bucketed: Vec<String>,
    /// Its tables with the person index column.
    indexed: Vec<String>,
    /// Its number of persons, the person index's width
    /// (`niji_core::person_index`), when recorded.
    persons: Option<u64>,
    /// The most rows one person has in each table, as recorded
    /// (`niji_core::person_rows`).
    most_rows: Vec<(String, u64)>,
}

impl ReleaseAids {
    /// The aids of attached release `db`.
    fn read(conn: &Connection, db: &str) -> Result<ReleaseAids, QueryError> {
        let mut stmt = conn
            .prepare(
                "SELECT table_name, column_name, data_type FROM duckdb_columns() \
                 WHERE database_name = ? AND schema_name = 'main' ORDER BY table_name, column_index",
            )
            .map_err(QueryError::internal)?;
        let columns: Vec<(String, String, String)> = stmt
            .query_map(duckdb::params![db], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .and_then(|rows| rows.collect())
            .map_err(QueryError::internal)?;
        let bucketed = columns
            .iter()
            .filter(|(_, c, _)| c == bucket::COLUMN)
            .map(|(t, _, _)| t.clone())
            .collect();
        let indexed = columns
            .iter()
            .filter(|(_, c, _)| c == person_index::COLUMN)
            .map(|(t, _, _)| t.clone())
            .collect();
        let persons = if aid_table(conn, db, person_index::TABLE)? {
            let n: u64 = conn
                .query_row(
                    &format!("SELECT max(persons) FROM {db}.niji.{}", person_index::TABLE),
                    [],
                    |r| r.get::<_, Option<u64>>(0),
                )
                .map_err(QueryError::internal)?
                .unwrap_or(0);
            Some(n)
        } else {
            None
        };
        let most_rows = if !aid_table(conn, db, person_rows::TABLE)? {
            Vec::new()
        } else {
            let mut stmt = conn
                .prepare(&format!(
                    "SELECT table_name, most_rows FROM {db}.{}.{}",
                    person_rows::SCHEMA,
                    person_rows::TABLE
                ))
                .map_err(QueryError::internal)?;
            stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, u64>(1)?)))
                .and_then(|rows| rows.collect())
                .map_err(QueryError::internal)?
        };
        Ok(ReleaseAids {
            columns,
            bucketed,
            indexed,
            persons,
            most_rows,
        })
    }
}

/// Whether attached release `db` has the aid table `table` in schema
/// `niji`.
fn aid_table(conn: &Connection, db: &str, table: &str) -> Result<bool, QueryError> {
    let found: i64 = conn
        .query_row(
            "SELECT count(*) FROM duckdb_tables() \
             WHERE database_name = ? AND schema_name = ? AND table_name = ?",
            duckdb::params![db, person_rows::SCHEMA, table],
            |r| r.get(0),
        )
        .map_err(QueryError::internal)?;
    Ok(found > 0)
}

/// Each granted view's row count, read from the attached releases'
/// catalogue (exact for DuckDB tables, and free: no scan).
fn table_rows(
    conn: &Connection,
    tables: &[GrantedTable],
    attached: &[&PathBuf],
) -> Result<BTreeMap<String, u64>, QueryError> {
    let mut rows = BTreeMap::new();
    let mut stmt = conn
        .prepare(
            "SELECT estimated_size FROM duckdb_tables() \
             WHERE database_name = ? AND schema_name = 'main' AND table_name = ?",
        )
        .map_err(QueryError::internal)?;
    for t in tables {
        let Some(i) = attached.iter().position(|p| *p == &t.path) else {
            continue;
        };
        let n: Option<i64> = stmt
            .query_row(duckdb::params![format!("r{i}"), t.table], |r| r.get(0))
            .ok();
        rows.insert(t.view.clone(), n.unwrap_or(0).max(0) as u64);
    }
    Ok(rows)
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
