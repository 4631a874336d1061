//! The sandbox a checked query runs in: an engine session that sees only
//! views of the granted columns of the granted tables, with a memory
//! limit, a thread count, a timeout (by interrupting the engine) and a
//! maximum number of result rows. What the releases carry beside their
//! rows — column types and descriptions, row counts, the aids to counting
//! persons — is read here, the same for every engine; the engine
//! ([`crate::engine`]) runs the platform's SQL, in its dialect.

use crate::QueryError;
use crate::check::PSEUDONYM;
use crate::engine::{self, Dialect, Engine, EngineChoice, Running, Source, View, cells};
use crate::language::{Request, Source as Relation, TableShape, Ty};
use crate::plan::text_literal as quote_literal;
use crate::plan::{Aids, PersonIndex};
use crate::storage;
use arrow_array::RecordBatch;
use duckdb::Connection;
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
    /// The engine running the request's current query.
    running: Mutex<Option<Arc<dyn Running>>>,
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
            && let Some(running) = running.as_ref()
        {
            running.interrupt();
        }
    }

    /// Whether [`Control::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.state.cancelled.load(Ordering::SeqCst)
    }

    /// The engine's estimate of how far the current query is, in
    /// percent; `None` when no query runs or the engine cannot tell.
    pub fn progress(&self) -> Option<f64> {
        let running = self.state.running.lock().ok()?;
        running.as_ref()?.progress()
    }

    /// Fails with [`QueryError::Cancelled`] once the request was cancelled.
    pub fn check(&self) -> Result<(), QueryError> {
        if self.is_cancelled() {
            Err(QueryError::Cancelled)
        } else {
            Ok(())
        }
    }

    fn attach(&self, engine: &dyn Engine) {
        if let Ok(mut running) = self.state.running.lock() {
            *running = Some(engine.running());
        }
    }

    /// Lets go of the engine, so that a later cancel cannot reach
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

/// An engine session over the granted views.
pub struct Sandbox {
    engine: Box<dyn Engine>,
    limits: Limits,
    control: Control,
    /// Rows of each view's table, from the release's own metadata.
    rows: BTreeMap<String, u64>,
    /// Each granted view's release (of `aids`) and table.
    sources: Vec<(String, usize, String)>,
    /// What each release carries beside its rows.
    aids: Vec<ReleaseAids>,
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
    /// session is not lent again.
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

impl Sandbox {
    /// Opens the releases on the embedded engine, creates the views and
    /// locks the connection.
    pub fn open(tables: &[GrantedTable], limits: Limits) -> Result<Sandbox, QueryError> {
        Sandbox::open_with(tables, limits, Control::default(), &EngineChoice::DuckDb)
    }

    /// [`Sandbox::open`] on engine `choice`, its queries stopped by and
    /// reporting progress to `control`.
    pub fn open_with(
        tables: &[GrantedTable],
        limits: Limits,
        control: Control,
        choice: &EngineChoice,
    ) -> Result<Sandbox, QueryError> {
        control.check()?;
        let mut paths: Vec<&PathBuf> = Vec::new();
        let mut sources = Vec::new();
        let mut aids: Vec<ReleaseAids> = Vec::new();
        let mut granted = Vec::new();
        let mut views = Vec::new();
        let mut bucketed = Vec::new();
        let mut indexed = Vec::new();
        let mut most_rows = Vec::new();
        let mut shapes = Vec::new();
        for t in tables {
            let release = match paths.iter().position(|p| *p == &t.path) {
                Some(i) => i,
                None => {
                    let (source, read) = ReleaseAids::open(&t.path)?;
                    sources.push(source);
                    aids.push(read);
                    paths.push(&t.path);
                    paths.len() - 1
                }
            };
            granted.push((t.view.clone(), release, t.table.clone()));
            let mut columns = vec![PSEUDONYM.to_owned()];
            columns.extend(
                t.columns
                    .iter()
                    .filter(|c| c.as_str() != PSEUDONYM)
                    .cloned(),
            );
            shapes.push(TableShape {
                view: t.view.clone(),
                columns: aids[release]
                    .columns
                    .iter()
                    .filter(|c| {
                        c.table == t.table
                            && (c.name == PSEUDONYM
                                || t.columns.iter().any(|g| g.eq_ignore_ascii_case(&c.name)))
                    })
                    .map(|c| (c.name.to_lowercase(), Ty::of_duckdb(&c.data_type)))
                    .collect(),
            });
            views.push(View {
                name: t.view.clone(),
                source: release,
                table: t.table.clone(),
                columns: columns.clone(),
            });
            let has_bucket = aids[release].bucketed.contains(&t.table);
            let has_index =
                aids[release].persons.is_some() && aids[release].indexed.contains(&t.table);
            if has_bucket {
                columns.push(bucket::COLUMN.to_owned());
                bucketed.push(t.view.clone());
            }
            if let (true, Some(persons)) = (has_index, aids[release].persons) {
                columns.push(person_index::COLUMN.to_owned());
                indexed.push((t.view.clone(), t.release.clone(), persons));
            }
            if has_bucket || has_index {
                // The same view with the hidden columns, for the
                // platform's own rewrite only: the allowlist knows only
                // the view above.
                views.push(View {
                    name: twin_view(&t.view),
                    source: release,
                    table: t.table.clone(),
                    columns,
                });
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
        let rows = granted
            .iter()
            .map(|(view, release, table)| (view.clone(), aids[*release].rows(table)))
            .collect();
        let engine: Box<dyn Engine> = match choice {
            EngineChoice::DuckDb => Box::new(engine::duckdb::DuckDbEngine::open(
                &sources, &views, &limits,
            )?),
            EngineChoice::FlightSql { host, port } => Box::new(engine::flight::FlightEngine::open(
                host, *port, &sources, &views, &control,
            )?),
        };
        control.attach(engine.as_ref());
        Ok(Sandbox {
            engine,
            limits,
            control,
            rows,
            sources: granted,
            aids,
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
        let Some((_, release, table)) = self.sources.iter().find(|(v, _, _)| v == view) else {
            return Ok(Vec::new());
        };
        Ok(self.aids[*release]
            .columns
            .iter()
            .filter(|c| {
                c.table == *table && granted.iter().any(|g| g.eq_ignore_ascii_case(&c.name))
            })
            .map(|c| ColumnInfo {
                name: c.name.clone(),
                data_type: c.data_type.clone(),
                description: c.description.clone(),
            })
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
        control.attach(self.engine.as_ref());
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
            if let Relation::Table { view } = &r.source {
                most = most
                    .zip(self.most_rows(view))
                    .map(|(a, b)| a.saturating_mul(b));
            }
        }
        let twin = match &request.relations.first().map(|r| &r.source) {
            Some(Relation::Table { view }) => self.bucketed(view),
            _ => None,
        };
        let index = match &request.relations.first().map(|r| &r.source) {
            Some(Relation::Table { view } | Relation::Persons { view, .. }) => self.indexed(view),
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
    /// `values` numbers, straight into columns, or `None` when it has more
    /// than `max_rows` rows (the engine stops reading; not the result-row
    /// limit: the caller bounds the rows). NULL reads as "" and 0.
    pub fn run_columns(
        &self,
        sql: &str,
        keys: usize,
        values: usize,
        max_rows: usize,
    ) -> Result<Option<Columns>, QueryError> {
        self.timed(|| {
            let Some(batches) = self.try_batches(sql, max_rows)? else {
                return Ok(None);
            };
            let mut out = Columns {
                keys: vec![Vec::new(); keys],
                values: vec![Vec::new(); values],
            };
            for batch in &batches {
                let name = |i: usize| batch.schema().field(i).name().clone();
                for row in 0..batch.num_rows() {
                    for (i, column) in out.keys.iter_mut().enumerate() {
                        column.push(match cells::cell(batch.column(i), row, &name(i))? {
                            Cell::Text(t) => t,
                            Cell::Null => String::new(),
                            Cell::Int(n) => n.to_string(),
                            Cell::Float(f) => f.to_string(),
                            Cell::Bool(b) => b.to_string(),
                        });
                    }
                    for (i, column) in out.values.iter_mut().enumerate() {
                        let at = keys + i;
                        let value = cells::cell(batch.column(at), row, &name(at))?;
                        column.push(value.as_f64().unwrap_or(0.0));
                    }
                }
            }
            Ok(Some(out))
        })
    }

    /// Runs platform SQL (DuckDB's dialect) on the engine, in its own:
    /// its batches, refused past `max_rows` rows.
    fn batches(&self, sql: &str, max_rows: usize) -> Result<Vec<RecordBatch>, QueryError> {
        self.try_batches(sql, max_rows)?.ok_or_else(|| {
            QueryError::Refused(format!(
                "the result has more than {} rows; aggregate further (a LIMIT shortens row-level results; an aggregate's LIMIT applies after disclosure control)",
                self.limits.max_rows
            ))
        })
    }

    /// [`Sandbox::batches`], or `None` past `max_rows` rows.
    fn try_batches(
        &self,
        sql: &str,
        max_rows: usize,
    ) -> Result<Option<Vec<RecordBatch>>, QueryError> {
        let translated;
        let sql = match self.engine.dialect() {
            Dialect::DuckDb => sql,
            Dialect::DataFusion => {
                translated = engine::dialect::to_datafusion(sql)?;
                &translated
            }
        };
        self.engine.execute(sql, max_rows)
    }

    /// Runs `work` under the timeout and the request's control.
    fn timed<T>(&self, work: impl FnOnce() -> Result<T, QueryError>) -> Result<T, QueryError> {
        self.control.check()?;
        let running = self.engine.running();
        let (done, wait) = mpsc::channel::<()>();
        let timeout = self.limits.timeout;
        let timer = std::thread::spawn(move || {
            let fired = wait.recv_timeout(timeout) == Err(mpsc::RecvTimeoutError::Timeout);
            if fired {
                running.interrupt();
            }
            fired
        });
        let result = work();
        let _ = done.send(());
        let fired = timer.join().unwrap_or(false);
        // An interrupted query, or one the engine failed (a session the
        // cluster forgot, an executor lost), leaves a session no other
        // query should get.
        if fired || self.control.is_cancelled() || matches!(result, Err(QueryError::Failed(_))) {
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
        let batches = self.batches(sql, self.limits.max_rows)?;
        let schema = batches
            .first()
            .map(RecordBatch::schema)
            .ok_or_else(|| QueryError::Internal("a result without a schema".into()))?;
        let columns: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
        let kinds = schema
            .fields()
            .iter()
            .map(|f| cells::kind_of(f.data_type()))
            .collect();
        let mut out = Vec::new();
        let mut lists = Vec::new();
        for batch in &batches {
            for row in 0..batch.num_rows() {
                let mut cells = Vec::with_capacity(columns.len());
                let mut row_lists = Vec::with_capacity(list_columns.len());
                for (i, name) in columns.iter().enumerate() {
                    if list_columns.contains(&i) {
                        row_lists.push(cells::person_list(batch.column(i), row)?);
                        cells.push(Cell::Null);
                    } else {
                        cells.push(cells::cell(batch.column(i), row, name)?);
                    }
                }
                out.push(cells);
                lists.push(row_lists);
            }
        }
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

/// What a release carries beside its rows: its columns with their
/// descriptions, its tables' rows, and its aids to counting persons
/// (releases built before these aids carry none). Read from a release
/// directory's manifest, or from a single-file release's catalogue.
struct ReleaseAids {
    /// Every column of its tables.
    columns: Vec<AidColumn>,
    /// Each table's rows.
    rows: Vec<(String, u64)>,
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

/// One column of a release table.
struct AidColumn {
    table: String,
    name: String,
    data_type: String,
    description: String,
}

impl ReleaseAids {
    /// Release `path` as an engine opens it, and what it carries: a
    /// release directory's from its manifest, a single-file release's from
    /// its catalogue (attached read-only to a connection of its own).
    fn open(path: &std::path::Path) -> Result<(Source, ReleaseAids), QueryError> {
        if !storage::is_release_dir(path) {
            let conn = Connection::open_in_memory().map_err(QueryError::internal)?;
            conn.execute_batch(&format!(
                "SET autoinstall_known_extensions = false; SET autoload_known_extensions = false; \
                 ATTACH {} AS release (READ_ONLY)",
                quote_literal(&path.to_string_lossy())
            ))
            .map_err(|e| QueryError::Internal(format!("release {}: {e}", path.display())))?;
            let aids = ReleaseAids::read(&conn, "release")?;
            return Ok((Source::File(path.to_owned()), aids));
        }
        let release = storage::Release::open(path)?;
        let tables = &release.manifest.tables;
        let with = |column: &str| -> Vec<String> {
            tables
                .iter()
                .filter(|t| t.has_column(column))
                .map(|t| t.name.clone())
                .collect()
        };
        let aids = ReleaseAids {
            columns: tables
                .iter()
                .flat_map(|t| {
                    t.columns.iter().map(|c| AidColumn {
                        table: t.name.clone(),
                        name: c.name.clone(),
                        data_type: c.data_type.clone(),
                        description: c.description.clone(),
                    })
                })
                .collect(),
            rows: tables.iter().map(|t| (t.name.clone(), t.rows)).collect(),
            bucketed: with(bucket::COLUMN),
            indexed: with(person_index::COLUMN),
            persons: Some(release.manifest.persons),
            most_rows: tables
                .iter()
                .map(|t| (t.name.clone(), t.most_rows))
                .collect(),
        };
        Ok((Source::Parquet(release), aids))
    }

    /// Table `table`'s rows.
    fn rows(&self, table: &str) -> u64 {
        self.rows
            .iter()
            .find(|(t, _)| t == table)
            .map_or(0, |(_, n)| *n)
    }

    /// The aids of attached single-file release `db`.
    fn read(conn: &Connection, db: &str) -> Result<ReleaseAids, QueryError> {
        let mut stmt = conn
            .prepare(
                "SELECT table_name, column_name, data_type, coalesce(comment, '') FROM duckdb_columns() \
                 WHERE database_name = ? AND schema_name = 'main' ORDER BY table_name, column_index",
            )
            .map_err(QueryError::internal)?;
        let columns: Vec<AidColumn> = stmt
            .query_map(duckdb::params![db], |r| {
                Ok(AidColumn {
                    table: r.get(0)?,
                    name: r.get(1)?,
                    data_type: r.get(2)?,
                    description: r.get(3)?,
                })
            })
            .and_then(|rows| rows.collect())
            .map_err(QueryError::internal)?;
        let with = |column: &str| -> Vec<String> {
            columns
                .iter()
                .filter(|c| c.name == column)
                .map(|c| c.table.clone())
                .collect()
        };
        let (bucketed, indexed) = (with(bucket::COLUMN), with(person_index::COLUMN));
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
        // Exact for DuckDB tables, and free: no scan.
        let mut stmt = conn
            .prepare(
                "SELECT table_name, estimated_size FROM duckdb_tables() \
                 WHERE database_name = ? AND schema_name = 'main'",
            )
            .map_err(QueryError::internal)?;
        let rows = stmt
            .query_map(duckdb::params![db], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?.max(0) as u64))
            })
            .and_then(|rows| rows.collect())
            .map_err(QueryError::internal)?;
        Ok(ReleaseAids {
            columns,
            rows,
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
