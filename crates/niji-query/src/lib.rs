/*!
Remote analysis over releases. A researcher's aggregate SQL goes down one
pipeline, a module each:

1. [`language`]: parse and check it into a typed [`language::Request`] —
   relations joined on the person key, a cohort, keys, measures from a
   closed set; anything else is refused with what to write instead;
2. [`plan`]: the platform writes the engine's SQL from the request, with
   each released number's person set beside it: lists of the
   release's person index, made bitmaps (`niji_core::person_index`), or, on a release
   without one, cheap bounds (the number's rows and the most rows one
   person has, `niji_core::person_rows`, or its person buckets,
   `niji_core::bucket`) and exact distinct persons where no bound settles
   it;
3. `passes`: the plan's passes run in a [`Sandbox`] over views of the
   granted columns, on an [`engine`]: DuckDB in process, locked, or an
   Apache DataFusion Ballista cluster through Arrow Flight SQL, each
   given the platform's SQL in its dialect, each answering Arrow batches;
4. [`disclosure`]: the rule set judges every row and every number by the
   persons the platform counted;
5. `release`: HAVING, ORDER BY and LIMIT act on the released values;
6. [`differencing`]: numbers of one family whose persons differ by a few
   wait for review — within the result here, against the project's
   earlier numbers in the caller (the server, through its store).

Row-level results (a certified pseudonymized grant) take the older gate
([`check`]) and are judged by no rule; their pseudonyms are recorded.

Releases are directories of partitioned Parquet with a manifest
([`storage`]), which every engine reads in place.

```no_run
use niji_query::{Analysis, GrantedTable, Limits, RuleSet};

let tables = vec![GrantedTable {
    view: "persons".into(),
    release: "claims-2024".into(),
    path: "data/releases/claims-2024".into(),
    table: "persons".into(),
    columns: vec!["age".into(), "sex".into()],
}];
let rules = RuleSet::parse(
    r#"[rules]
name = "ndb"
description = "NDB: cells of 1-9 persons suppressed"
min_persons = 10
zero = "allow"
extremes = "refuse"
"#,
    "ndb.toml",
)?;
let analysis = Analysis::new(tables, Limits::default());
let outcome = analysis.aggregate(
    "SELECT sex, count(*) FILTER (WHERE age >= 65) AS older FROM persons GROUP BY sex",
    &rules,
)?;
println!("{:?} {:?}", outcome.released.rows, outcome.findings.notes);
# Ok::<(), niji_query::QueryError>(())
```

# Architecture invariants

- Each released number's person set is computed by the platform from the
  release's person key, and meets the rule set: the researcher's text
  never runs; the SQL that runs is the platform's, written from a checked
  request ([`plan`]), and nothing leaves without [`disclosure::judge`].
- No value of one person can make a request fail: casts are TRY_CAST and
  arithmetic runs in DOUBLE; an engine error leaves as its class only,
  never its text.
- The sandbox is locked (no external access, no extensions, no settings)
  before any query runs, and it sees only the granted views; a cluster
  session holds only the grant's tables.
- Either engine releases the same cells: the language, the plan, the
  judge and the release are the platform's, not the engine's.
- Plain types only: the server maps them to HTTP.
*/
#![deny(missing_docs)]

pub mod check;
pub mod differencing;
pub mod disclosure;
pub mod engine;
pub mod language;
pub(crate) mod passes;
pub mod plan;
pub mod pool;
pub(crate) mod release;
pub mod sandbox;
pub mod storage;

pub use check::{Allowlist, Checked, check};
pub use disclosure::{Findings, ModelRules, RuleSet, Status};
pub use engine::{Dialect, EngineChoice};
pub use plan::Counting;
pub use pool::{Pool, Pooled};
pub use sandbox::{
    Cell, ColumnInfo, Columns, Control, GrantedTable, Kind, Limits, ResultSet, Sandbox,
};

use std::collections::BTreeSet;
use std::time::Duration;

/// Why a query did not run or return.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The text is not SQL DuckDB's dialect parses.
    #[error("SQL syntax: {0}")]
    Syntax(String),
    /// Refused by the language, the gate, the sandbox or the grant.
    #[error("{0}")]
    Refused(String),
    /// The query ran past its time.
    #[error("the query ran longer than {} s and was stopped", .0.as_secs())]
    Timeout(Duration),
    /// The query failed while running: the class of the engine's error,
    /// never its text (which can quote values of the data).
    #[error(
        "the query failed while running ({0}); the engine's message is withheld because it can quote data"
    )]
    Failed(String),
    /// A rule-set file is wrong.
    #[error("disclosure policy: {0}")]
    Policy(String),
    /// Stopped by its [`Control`] (the researcher cancelled it).
    #[error("the query was cancelled")]
    Cancelled,
    /// Something on the platform's side.
    #[error("internal error: {0}")]
    Internal(String),
}

/// Why a query that outgrew its memory is refused.
pub(crate) const TOO_MUCH_MEMORY: &str =
    "the query needs more memory than a query may use; aggregate earlier or filter";

/// The classes of DuckDB's errors that may be named (the text after the
/// class is withheld).
const ERROR_CLASSES: &[&str] = &[
    "Binder",
    "Conversion",
    "Out of Range",
    "Invalid Input",
    "Catalog",
    "Parser",
    "Not implemented",
    "Permission",
    "Invalid type",
    "Dependency",
];

impl QueryError {
    fn internal(e: impl std::fmt::Display) -> QueryError {
        QueryError::Internal(e.to_string())
    }

    fn from_duckdb(e: duckdb::Error) -> QueryError {
        let text = e.to_string();
        if text.contains("INTERRUPT") || text.contains("Interrupted") {
            return QueryError::Failed("interrupted".into());
        }
        if text.contains("Out of Memory") || text.contains("memory limit") {
            return QueryError::Refused(TOO_MUCH_MEMORY.into());
        }
        let class = ERROR_CLASSES
            .iter()
            .find(|c| text.starts_with(&format!("{c} Error")))
            .copied()
            .unwrap_or("engine");
        QueryError::Failed(format!("{class} error"))
    }
}

/// The granted tables as an allowlist.
struct Granted<'a>(&'a [GrantedTable]);

impl Allowlist for Granted<'_> {
    fn has_table(&self, table: &str) -> bool {
        self.0.iter().any(|t| t.view.eq_ignore_ascii_case(table))
    }

    fn has_column(&self, column: &str) -> bool {
        self.0
            .iter()
            .any(|t| t.columns.iter().any(|c| c.eq_ignore_ascii_case(column)))
    }
}

/// What a query gave, judged.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The granted tables it read.
    pub tables: BTreeSet<String>,
    /// The result as computed, rows of too few persons left out.
    pub computed: ResultSet,
    /// Each row's persons when `counting` is [`Counting::Exact`] or
    /// [`Counting::Sets`];
    /// otherwise a lower bound in the same class as the exact count (none,
    /// fewer than the rule set's minimum, or at least the minimum), which
    /// is all the rules ask of it. Empty for row-level results.
    pub persons: Vec<u64>,
    /// How the persons of every row and number were found.
    pub counting: Counting,
    /// Each cell's status, and what the rules did.
    pub findings: Findings,
    /// What may leave: withheld cells NULL.
    pub released: ResultSet,
    /// Rows of the tables the query reads, before its filters.
    pub scanned: u64,
    /// Every number that leaves or waits for review, with its persons,
    /// for differencing against the project's earlier numbers; None when
    /// the release has no person index (then differencing cannot be
    /// checked, and the caller must not release the result) and for
    /// row-level results.
    pub numbers: Option<differencing::Numbers>,
}

impl Outcome {
    /// Holds number `n` of [`Outcome::numbers`] for review: its cells (all
    /// cells when no column shows it) wait in the airlock, and the
    /// researcher learns why, in words that give no count away.
    pub fn hold_number(&mut self, n: usize) {
        let Some(number) = self.numbers.as_ref().and_then(|ns| ns.numbers.get(n)) else {
            return;
        };
        let row = number.row;
        let columns: Vec<usize> = if number.columns.is_empty() {
            (0..self.computed.columns.len()).collect()
        } else {
            number.columns.clone()
        };
        let rows: Vec<usize> = if number.columns.is_empty() {
            (0..self.computed.rows.len()).collect()
        } else {
            vec![row]
        };
        for r in rows {
            for &c in &columns {
                if self.findings.cells[r][c] == Status::Pass {
                    self.findings.cells[r][c] = Status::Review;
                    self.released.rows[r][c] = Cell::Null;
                }
            }
        }
        let note = DIFFERENCING_NOTE.to_owned();
        if !self.findings.notes.contains(&note) {
            self.findings.notes.push(note);
        }
    }
}

/// What a researcher reads when a number waits for review because of an
/// earlier one: that a few persons separate them, not how many.
pub const DIFFERENCING_NOTE: &str = "numbers whose persons differ from those of another number of this project (of this result or an earlier one) by fewer than the minimum are held for review: subtracted, they would tell about those few persons";

/// Queries over one grant's tables.
pub struct Analysis {
    tables: Vec<GrantedTable>,
    limits: Limits,
    control: Control,
    pool: Option<std::sync::Arc<Pool>>,
    engine: EngineChoice,
}

impl Analysis {
    /// An analysis over `tables` with `limits`.
    pub fn new(tables: Vec<GrantedTable>, limits: Limits) -> Analysis {
        Analysis {
            tables,
            limits,
            control: Control::default(),
            pool: None,
            engine: EngineChoice::DuckDb,
        }
    }

    /// The same analysis on engine `engine`.
    pub fn with_engine(mut self, engine: EngineChoice) -> Analysis {
        self.engine = engine;
        self
    }

    /// The same analysis, reusing idle sandboxes of `pool`.
    pub fn with_pool(mut self, pool: std::sync::Arc<Pool>) -> Analysis {
        self.pool = Some(pool);
        self
    }

    /// The same analysis, its queries stopped by and reporting to `control`.
    pub fn with_control(mut self, control: Control) -> Analysis {
        self.control = control;
        self
    }

    fn sandbox(&self, limits: Limits) -> Result<Pooled, QueryError> {
        match &self.pool {
            Some(pool) => pool.take(&self.tables, limits, self.control.clone(), &self.engine),
            None => Pool::fresh(&self.tables, limits, self.control.clone(), &self.engine),
        }
    }

    /// Each granted table (by view name) with its granted columns' types
    /// and descriptions, read from the releases.
    pub fn schema(&self) -> Result<Vec<(String, Vec<ColumnInfo>)>, QueryError> {
        let sandbox = self.sandbox(self.limits.clone())?;
        self.tables
            .iter()
            .map(|t| Ok((t.view.clone(), sandbox.describe(&t.view, &t.columns)?)))
            .collect()
    }

    /// Checks `sql` against the grant without running it.
    pub fn check(&self, sql: &str) -> Result<Checked, QueryError> {
        check(sql, &Granted(&self.tables))
    }

    /// Up to `per_person` rows of each person (picked at random) of the
    /// granted columns of `table`: `keys` as text, then `values` as
    /// numbers, for a measurement that bounds each person's contribution.
    /// Platform SQL, in the same sandbox. Also the rows of `table` it
    /// scanned.
    pub fn person_columns(
        &self,
        table: &str,
        keys: &[String],
        values: &[String],
        per_person: u32,
    ) -> Result<(Columns, u64), QueryError> {
        let granted = self.granted(table, keys.iter().chain(values))?;
        let mut select: Vec<String> = keys
            .iter()
            .map(|c| format!("CAST({} AS VARCHAR)", quote(c)))
            .collect();
        select.extend(
            values
                .iter()
                .map(|c| format!("TRY_CAST({} AS DOUBLE)", quote(c))),
        );
        let list = if select.is_empty() {
            "1 AS one".to_owned()
        } else {
            select.join(", ")
        };
        // A random order per row picks which rows of a person are kept
        // (DuckDB wants the volatile value computed below the window).
        let sql = format!(
            "SELECT * EXCLUDE (__p, __r) FROM (SELECT {list}, {p} AS __p, random() AS __r FROM {view}) \
             QUALIFY row_number() OVER (PARTITION BY __p ORDER BY __r) <= {k}",
            p = check::PSEUDONYM,
            view = quote(&granted.view),
            k = per_person.max(1)
        );
        let sandbox = self.sandbox(self.limits.clone())?;
        let columns = sandbox
            .run_columns(&sql, keys.len(), values.len(), usize::MAX)?
            .unwrap_or_default();
        Ok((columns, sandbox.rows_of([&granted.view])))
    }

    /// The complete rows of `table` for a model, at most `max_rows`
    /// (`None` past it): each row's person (its pseudonym, first of the
    /// keys), then `texts` as text and `numbers` as numbers, only the rows
    /// where every one of them is present (a number that does not cast is
    /// missing); and how many persons have a row left out. Platform SQL, in
    /// the same sandbox.
    pub fn model_rows(
        &self,
        table: &str,
        texts: &[String],
        numbers: &[String],
        max_rows: usize,
    ) -> Result<ModelRows, QueryError> {
        let granted = self.granted(table, texts.iter().chain(numbers))?;
        let mut select = vec![format!("CAST({} AS VARCHAR) AS __p", check::PSEUDONYM)];
        let mut present = vec!["__p IS NOT NULL".to_owned()];
        for (i, c) in texts.iter().enumerate() {
            select.push(format!("CAST({} AS VARCHAR) AS __t{i}", quote(c)));
            present.push(format!("__t{i} IS NOT NULL"));
        }
        for (i, c) in numbers.iter().enumerate() {
            select.push(format!("TRY_CAST({} AS DOUBLE) AS __n{i}", quote(c)));
            present.push(format!("__n{i} IS NOT NULL"));
        }
        let rows = format!("SELECT {} FROM {}", select.join(", "), quote(&granted.view));
        let complete = present.join(" AND ");
        let sandbox = self.sandbox(self.limits.clone())?;
        let incomplete = sandbox.run(&format!(
            "SELECT count(DISTINCT __p) FROM ({rows}) WHERE __p IS NOT NULL AND NOT ({complete})"
        ))?;
        let incomplete_persons = match incomplete.rows.first().and_then(|r| r.first()) {
            Some(Cell::Int(n)) => u64::try_from(*n).unwrap_or(0),
            _ => 0,
        };
        let sql = format!("SELECT * FROM ({rows}) WHERE {complete}");
        let columns = sandbox.run_columns(&sql, 1 + texts.len(), numbers.len(), max_rows)?;
        Ok(ModelRows {
            columns,
            scanned: sandbox.rows_of([&granted.view]),
            incomplete_persons,
        })
    }

    /// The granted table `table`, refused unless each of `columns` is
    /// granted of it.
    fn granted<'a>(
        &self,
        table: &str,
        columns: impl IntoIterator<Item = &'a String>,
    ) -> Result<&GrantedTable, QueryError> {
        let granted = self
            .tables
            .iter()
            .find(|t| t.view.eq_ignore_ascii_case(table))
            .ok_or_else(|| {
                QueryError::Refused(format!("table `{table}` is not in this project's grant"))
            })?;
        for c in columns {
            if !granted.columns.iter().any(|g| g.eq_ignore_ascii_case(c)) {
                return Err(QueryError::Refused(format!(
                    "column `{c}` of `{table}` is not in this project's grant"
                )));
            }
        }
        Ok(granted)
    }

    /// Runs a query whose rows may be rows of the release (a grant that
    /// allows row-level results): checked like any query, judged by no
    /// rule. Its pseudonyms are the caller's to record.
    pub fn rows(&self, sql: &str) -> Result<Outcome, QueryError> {
        let checked = self.check(sql)?;
        let sandbox = self.sandbox(self.limits.clone())?;
        let result = sandbox.run(sql)?;
        let scanned = sandbox.rows_of(&checked.tables);
        let findings = Findings {
            cells: vec![vec![Status::Pass; result.columns.len()]; result.rows.len()],
            notes: vec!["row-level result: no disclosure rule applies".into()],
        };
        Ok(Outcome {
            numbers: None,
            tables: checked.tables,
            persons: Vec::new(),
            counting: Counting::Exact,
            released: result.clone(),
            computed: result,
            findings,
            scanned,
        })
    }

    /// Runs an aggregate query down the pipeline — parse and check the
    /// language, plan each number's persons, run, judge, release — by
    /// `rules`.
    pub fn aggregate(&self, sql: &str, rules: &RuleSet) -> Result<Outcome, QueryError> {
        let sandbox = self.sandbox(self.limits.clone())?;
        let request = language::parse(sql, sandbox.shapes())?;
        let extremes = request.extremes();
        if rules.extremes == disclosure::Action::Refuse && !extremes.is_empty() {
            let names: Vec<&str> = extremes.into_iter().collect();
            return Err(QueryError::Refused(format!(
                "{} reveal one person's value; rule set `{}` refuses them (counts, sums and means remain)",
                names.join(", "),
                rules.name
            )));
        }
        let plan = plan::Plan {
            aids: sandbox.aids_for(&request),
            request: &request,
        };
        let engined = passes::run(&plan, &sandbox, rules.min_persons)?;
        let shares = if rules.dominance.is_some() || rules.p_percent.is_some() {
            passes::shares(&plan, &sandbox, &engined.rows)?
        } else {
            Default::default()
        };
        let measures: Vec<language::Aggregate> = request
            .measures
            .iter()
            .map(|m| m.aggregate.clone())
            .collect();
        let reads: Vec<Option<Vec<usize>>> = request
            .outputs
            .iter()
            .map(|o| match &o.kind {
                language::OutputKind::Key(_) => None,
                language::OutputKind::Measure(e) => Some(e.measures()),
            })
            .collect();
        let judged = disclosure::judge(
            rules,
            &engined.rows,
            &measures,
            &reads,
            request.keys.len(),
            &shares,
        );
        let families: Vec<String> = (0..request.measures.len())
            .map(|m| plan.family(m))
            .collect();
        let definitions = plan.definitions();
        let describe = |m: usize, row: &disclosure::Computed| {
            (families[m].clone(), definitions.digest(m, row))
        };
        let out = release::shape(&request, engined.rows, judged, &engined.kinds, &describe);
        let numbers = plan.aids.index.as_ref().map(|index| differencing::Numbers {
            release: index.release.clone(),
            within: differencing::within(rules.min_persons, &out.numbers),
            numbers: out.numbers,
        });
        let mut outcome = Outcome {
            scanned: sandbox.rows_of(&request.tables),
            tables: request.tables.clone(),
            computed: out.computed,
            persons: out.persons,
            counting: engined.counting,
            findings: out.findings,
            released: out.released,
            numbers,
        };
        // Two numbers of this result a few persons apart wait for review
        // together.
        let pairs = outcome
            .numbers
            .as_ref()
            .map(|ns| ns.within.clone())
            .unwrap_or_default();
        for pair in pairs {
            outcome.hold_number(pair.a);
            outcome.hold_number(pair.b);
        }
        Ok(outcome)
    }
}

/// A column name quoted for the platform's SQL.
fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A model's rows, as [`Analysis::model_rows`] reads them.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelRows {
    /// The complete rows, or `None` past the limit.
    pub columns: Option<Columns>,
    /// Rows of the table scanned.
    pub scanned: u64,
    /// Persons with a row left out for a missing value.
    pub incomplete_persons: u64,
}

/// Whether a value looks like a release pseudonym: 32 letters `a`–`p`
/// (128 bits, four to a letter).
pub fn is_pseudonym(text: &str) -> bool {
    text.len() == 32 && text.bytes().all(|b| (b'a'..=b'p').contains(&b))
}

/// Every pseudonym a result shows, in any column, once each.
pub fn pseudonyms_in(result: &ResultSet) -> Vec<String> {
    let mut found: Vec<String> = result
        .rows
        .iter()
        .flatten()
        .filter_map(|c| match c {
            Cell::Text(t) if is_pseudonym(t) => Some(t.clone()),
            _ => None,
        })
        .collect();
    found.sort();
    found.dedup();
    found
}
