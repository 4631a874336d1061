/*!
Remote analysis over releases: a researcher's SQL is checked against the
grant ([`check`]), rewritten so that every output row carries its number of
distinct persons (first a cheap lower bound: from the row counts and the
most rows one person has, `niji_core::person_rows`, then from the person
buckets, `niji_core::bucket`; the exact count when no bound settles every
cell), run in a locked DuckDB [`Sandbox`] over views of the
granted columns, and judged cell by cell by a disclosure [`RuleSet`] before
anything may leave.

```no_run
use niji_query::{Analysis, GrantedTable, Limits, RuleSet};

let tables = vec![GrantedTable {
    view: "persons".into(),
    release: "claims-2024".into(),
    path: "data/releases/claims-2024.duckdb".into(),
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
let outcome = analysis.aggregate("SELECT sex, count(*) FROM persons GROUP BY sex", &rules)?;
println!("{:?} {:?}", outcome.released.rows, outcome.findings.notes);
# Ok::<(), niji_query::QueryError>(())
```

# Architecture invariants

- No SQL reaches DuckDB unless [`check`] accepted it: one read-only query
  whose tables, columns and functions are all allowlisted.
- The sandbox is locked (no external access, no extensions, no settings)
  before the researcher's SQL runs, and it sees only the granted views.
- An aggregate result never leaves without [`disclosure::judge`]: the
  person counts are the platform's, computed by its own rewrite.
- Plain types only: the server maps them to HTTP.
*/
#![deny(missing_docs)]

pub mod check;
pub mod disclosure;
pub mod pool;
pub mod sandbox;

pub use check::{Allowlist, Checked, check};
pub use disclosure::{Findings, Output, RuleSet, Status};
pub use pool::{Pool, Pooled};
pub use sandbox::{
    Cell, ColumnInfo, Columns, Control, GrantedTable, Kind, Limits, ResultSet, Sandbox,
};

use sqlparser::ast::{Expr, Ident, SelectItem, SetExpr, TableFactor};
use sqlparser::dialect::DuckDbDialect;
use sqlparser::parser::Parser;
use std::collections::BTreeMap;
use std::time::Duration;

/// The column the rewrite adds: distinct persons per output row (or
/// distinct person buckets, in the bound query).
pub const PERSONS: &str = "__niji_persons";

/// The column the bound query adds where it reads one table alone: rows
/// per output row.
const ROWS: &str = "__niji_rows";

/// Why a query did not run or return.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The text is not SQL DuckDB's dialect parses.
    #[error("SQL syntax: {0}")]
    Syntax(String),
    /// Refused by the gate, the sandbox or the grant.
    #[error("{0}")]
    Refused(String),
    /// The query ran past its time.
    #[error("the query ran longer than {} s and was stopped", .0.as_secs())]
    Timeout(Duration),
    /// The query failed while running (its own fault: a type error…).
    #[error("the query failed: {0}")]
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
            return QueryError::Refused(
                "the query needs more memory than a query may use; aggregate earlier or filter"
                    .into(),
            );
        }
        QueryError::Failed(text)
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

/// What an aggregate query gave, judged.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The gate's findings about the query.
    pub checked: Checked,
    /// The result as computed, with the person counts removed.
    pub computed: ResultSet,
    /// Distinct persons per row when `counting` is [`Counting::Exact`];
    /// otherwise a lower bound in the same class as the exact count (none,
    /// fewer than the rule set's minimum, or at least the minimum), which
    /// is all the rules ask of it.
    pub persons: Vec<u64>,
    /// How `persons` were found.
    pub counting: Counting,
    /// Each cell's status.
    pub findings: Findings,
    /// What may leave: withheld cells NULL.
    pub released: ResultSet,
    /// Rows of the tables the query reads, before its filters.
    pub scanned: u64,
}

/// How an outcome's person counts were found: the cheapest way that
/// settled every cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counting {
    /// From each cell's rows and the most rows one person has in the table
    /// (`niji_core::person_rows`): a query over one table alone.
    Rows,
    /// From each cell's person buckets (`niji_core::bucket`), and its rows
    /// where the query reads one table alone.
    Buckets,
    /// Distinct pseudonyms, counted.
    Exact,
}

/// Queries over one grant's tables.
pub struct Analysis {
    tables: Vec<GrantedTable>,
    limits: Limits,
    control: Control,
    pool: Option<std::sync::Arc<Pool>>,
}

impl Analysis {
    /// An analysis over `tables` with `limits`.
    pub fn new(tables: Vec<GrantedTable>, limits: Limits) -> Analysis {
        Analysis {
            tables,
            limits,
            control: Control::default(),
            pool: None,
        }
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
            Some(pool) => pool.take(&self.tables, limits, self.control.clone()),
            None => Pool::fresh(&self.tables, limits, self.control.clone()),
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
        let granted = self
            .tables
            .iter()
            .find(|t| t.view.eq_ignore_ascii_case(table))
            .ok_or_else(|| {
                QueryError::Refused(format!("table `{table}` is not in this project's grant"))
            })?;
        for c in keys.iter().chain(values) {
            if !granted.columns.iter().any(|g| g.eq_ignore_ascii_case(c)) {
                return Err(QueryError::Refused(format!(
                    "column `{c}` of `{table}` is not in this project's grant"
                )));
            }
        }
        let quote = |n: &str| format!("\"{}\"", n.replace('"', "\"\""));
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
        let columns = sandbox.run_columns(&sql, keys.len(), values.len())?;
        Ok((columns, sandbox.rows_of([&granted.view])))
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
            checked,
            persons: Vec::new(),
            counting: Counting::Exact,
            released: result.clone(),
            computed: result,
            findings,
            scanned,
        })
    }

    /// Runs an aggregate query and judges its cells by `rules`.
    pub fn aggregate(&self, sql: &str, rules: &RuleSet) -> Result<Outcome, QueryError> {
        let checked = self.check(sql)?;
        if !checked.aggregate {
            return Err(QueryError::Refused(
                "this grant allows aggregate results only: GROUP BY, or aggregates alone".into(),
            ));
        }
        if rules.extremes == disclosure::Action::Refuse && !checked.extremes.is_empty() {
            let names: Vec<&str> = checked.extremes.iter().map(String::as_str).collect();
            return Err(QueryError::Refused(format!(
                "{} reveal one person's value; rule set `{}` refuses them",
                names.join(", "),
                rules.name
            )));
        }
        let (rewritten, outputs) = with_person_count(&checked)?;
        let sandbox = self.sandbox(self.limits.clone())?;
        let (result, persons, counting) = match bounded(&checked, &sandbox, rules.min_persons)? {
            Some(found) => found,
            None => {
                let mut result = sandbox.run(&rewritten).map_err(needs_pseudonym)?;
                let persons = take_counts(&mut result, PERSONS)?;
                (result, persons, Counting::Exact)
            }
        };
        let mut shares = BTreeMap::new();
        if rules.dominance.is_some() || rules.p_percent.is_some() {
            for (column, output) in outputs.iter().enumerate() {
                if *output == Output::Measure("sum".into()) {
                    let sql = contributions(&checked, &outputs, column)?;
                    let found = sandbox.run(&sql)?;
                    match_shares(&result, &outputs, column, &found, &mut shares);
                }
            }
        }
        let findings = disclosure::judge(rules, &result, &persons, &outputs, &shares);
        let released = disclosure::release(&result, &findings);
        Ok(Outcome {
            scanned: sandbox.rows_of(&checked.tables),
            checked,
            computed: result,
            persons,
            counting,
            findings,
            released,
        })
    }
}

/// A query that failed for want of a pseudonym, told as the refusal it is.
fn needs_pseudonym(e: QueryError) -> QueryError {
    match e {
        QueryError::Failed(text) if text.contains(check::PSEUDONYM) => QueryError::Refused(
            "an aggregate query must read person-level rows: its first FROM item needs the `pseudonym` column"
                .into(),
        ),
        other => other,
    }
}

/// The query with `count(DISTINCT hash(<first relation>.pseudonym))` added to
/// its outermost SELECT, and how each original output column was made.
fn with_person_count(checked: &Checked) -> Result<(String, Vec<Output>), QueryError> {
    let mut query = checked.query.clone();
    let SetExpr::Select(select) = query.body.as_mut() else {
        return Err(QueryError::Refused(
            "an aggregate query is one SELECT (set operations: run each part alone)".into(),
        ));
    };
    // The rewrite adds columns, which would change what DISTINCT merges.
    if select.distinct.is_some() {
        return Err(QueryError::Refused(
            "SELECT DISTINCT over an aggregate query: group by the columns it shows instead".into(),
        ));
    }
    let mut outputs = Vec::new();
    for item in &select.projection {
        let expr = match item {
            SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => e,
            _ => {
                return Err(QueryError::Refused(
                    "name the columns of an aggregate query (no `*`)".into(),
                ));
            }
        };
        outputs.push(match aggregate_function(expr) {
            Some(f) => Output::Measure(f),
            None if names_pseudonym(expr) => {
                return Err(QueryError::Refused(
                    "pseudonyms leave only in row-level results, which this grant does not allow; \
                     count them instead (count(DISTINCT pseudonym))"
                        .into(),
                ));
            }
            None => Output::Key,
        });
    }
    // Distinct 64-bit hashes rather than the 32-character pseudonyms: a
    // fifth faster over millions of rows, and a collision (under 1 in 10^7
    // at a million persons) can only lower a count, so it can only add
    // suppression, never lift it.
    let expr = parse_expr(&format!("count(DISTINCT hash({}))", pseudonym_of(select)))?;
    select.projection.push(SelectItem::ExprWithAlias {
        expr,
        alias: Ident::new(PERSONS),
    });
    Ok((query.to_string(), outputs))
}

/// The result with each row's persons settled by a cheap bound, when one
/// settles every cell: first the row counts (free where the query counts
/// rows anyway), then the person buckets. None sends the query to the
/// exact count, as does a bound query DuckDB cannot bind (a reference the
/// renamed relation no longer resolves): the exact query then decides, and
/// reports its own errors.
fn bounded(
    checked: &Checked,
    sandbox: &Sandbox,
    min: u64,
) -> Result<Option<(ResultSet, Vec<u64>, Counting)>, QueryError> {
    let Some(bound) = Bound::of(checked, sandbox) else {
        return Ok(None);
    };
    let mut passes = Vec::new();
    if bound.most_rows.is_some() {
        passes.push(Counting::Rows);
    }
    if bound.twin.is_some() {
        passes.push(Counting::Buckets);
    }
    for counting in passes {
        let sql = bound.query(checked, counting == Counting::Buckets)?;
        let mut result = match sandbox.run(&sql) {
            Ok(result) => result,
            Err(QueryError::Failed(text)) if text.contains("Binder Error") => return Ok(None),
            Err(other) => return Err(needs_pseudonym(other)),
        };
        let rows = match bound.most_rows {
            Some(most) => Some((take_counts(&mut result, ROWS)?, most)),
            None => None,
        };
        let buckets = match counting {
            Counting::Buckets => Some(take_counts(&mut result, PERSONS)?),
            _ => None,
        };
        let settled: Option<Vec<u64>> = (0..result.rows.len())
            .map(|r| {
                settle(
                    buckets.as_ref().map(|b| b[r]),
                    rows.as_ref().map(|(n, most)| (n[r], *most)),
                    min,
                )
            })
            .collect();
        if let Some(persons) = settled {
            return Ok(Some((result, persons, counting)));
        }
    }
    Ok(None)
}

/// The persons a cell's bounds settle it at, a figure in the same class
/// as the exact count (none, fewer than `min`, at least `min`); None when
/// they cannot tell. `buckets` is the cell's distinct person buckets;
/// `rows` its rows of one table and the most rows one person has there.
fn settle(buckets: Option<u64>, rows: Option<(u64, u64)>, min: u64) -> Option<u64> {
    if buckets == Some(0) || rows.is_some_and(|(n, _)| n == 0) {
        return Some(0);
    }
    let by_rows = rows.map_or(0, |(n, most)| n.div_ceil(most.max(1)));
    let lower = buckets.unwrap_or(0).max(by_rows);
    // Fewer rows than the minimum are fewer persons too (and, being rows,
    // at least one, which `lower` already is).
    (lower >= min || rows.is_some_and(|(n, _)| n < min)).then_some(lower)
}

/// What the bound queries need of a query's first FROM relation: a
/// granted view, not hidden by a CTE of its name.
struct Bound {
    /// The view's hidden twin with the person bucket, when its table has it.
    twin: Option<String>,
    /// The most rows one person has in the view's table, when the release
    /// records it and the query reads that table alone (a join may repeat
    /// a person's rows).
    most_rows: Option<u64>,
}

impl Bound {
    fn of(checked: &Checked, sandbox: &Sandbox) -> Option<Bound> {
        let query = &checked.query;
        let SetExpr::Select(select) = query.body.as_ref() else {
            return None;
        };
        let first = select.from.first()?;
        let view = first_view(&first.relation)?;
        // A CTE of the same name hides the view.
        let hidden = query
            .with
            .iter()
            .flat_map(|w| &w.cte_tables)
            .any(|c| c.alias.name.value.eq_ignore_ascii_case(&view.value));
        if hidden {
            return None;
        }
        let alone = select.from.len() == 1 && first.joins.is_empty();
        let bound = Bound {
            twin: sandbox.bucketed(&view.value),
            most_rows: sandbox.most_rows(&view.value).filter(|_| alone),
        };
        (bound.twin.is_some() || bound.most_rows.is_some()).then_some(bound)
    }

    /// The query with its bound columns added to its outermost SELECT:
    /// `count(*)` as [`ROWS`] where the most rows are known, and with
    /// `buckets` the first relation read through its hidden twin and its
    /// distinct buckets as [`PERSONS`].
    fn query(&self, checked: &Checked, buckets: bool) -> Result<String, QueryError> {
        let mut query = checked.query.clone();
        let SetExpr::Select(select) = query.body.as_mut() else {
            return Err(QueryError::Internal("not a SELECT".into()));
        };
        if buckets {
            let twin = self
                .twin
                .as_ref()
                .ok_or_else(|| QueryError::Internal("no bucketed twin".into()))?;
            let relation = &mut select.from[0].relation;
            let used = rename_to_twin(relation, twin)?;
            let expr = parse_expr(&format!(
                "coalesce(bit_count(bit_or({}.{})), 0)",
                Ident::with_quote('"', used.value),
                niji_core::bucket::COLUMN
            ))?;
            select.projection.push(SelectItem::ExprWithAlias {
                expr,
                alias: Ident::new(PERSONS),
            });
        }
        if self.most_rows.is_some() {
            select.projection.push(SelectItem::ExprWithAlias {
                expr: parse_expr("count(*)")?,
                alias: Ident::new(ROWS),
            });
        }
        Ok(query.to_string())
    }
}

/// The view a FROM relation names: one plain name, no table function.
fn first_view(relation: &TableFactor) -> Option<Ident> {
    let TableFactor::Table {
        name, args: None, ..
    } = relation
    else {
        return None;
    };
    let [part] = name.0.as_slice() else {
        return None;
    };
    part.as_ident().cloned()
}

/// Points `relation` at `twin` under the name the query uses for it, so
/// that every reference to the relation still resolves; that name.
fn rename_to_twin(relation: &mut TableFactor, twin: &str) -> Result<Ident, QueryError> {
    let view = first_view(relation).ok_or_else(|| QueryError::Internal("no view".into()))?;
    let TableFactor::Table { name, alias, .. } = relation else {
        return Err(QueryError::Internal("no view".into()));
    };
    let used = alias
        .as_ref()
        .map_or_else(|| view.clone(), |a| a.name.clone());
    *name = vec![Ident::with_quote('"', twin)].into();
    if alias.is_none() {
        *alias = Some(sqlparser::ast::TableAlias {
            explicit: true,
            name: view,
            columns: Vec::new(),
            at: None,
        });
    }
    Ok(used)
}

/// Whether an expression reads the pseudonym column.
fn names_pseudonym(expr: &Expr) -> bool {
    use sqlparser::ast::Visit;
    let mut found = false;
    let _ = expr.visit(&mut PseudonymFinder(&mut found));
    found
}

struct PseudonymFinder<'a>(&'a mut bool);

impl sqlparser::ast::Visitor for PseudonymFinder<'_> {
    type Break = ();

    fn pre_visit_expr(&mut self, expr: &Expr) -> std::ops::ControlFlow<()> {
        let hit = match expr {
            Expr::Identifier(i) => i.value.eq_ignore_ascii_case(check::PSEUDONYM),
            Expr::CompoundIdentifier(parts) => parts
                .last()
                .is_some_and(|i| i.value.eq_ignore_ascii_case(check::PSEUDONYM)),
            _ => false,
        };
        if hit {
            *self.0 = true;
            return std::ops::ControlFlow::Break(());
        }
        std::ops::ControlFlow::Continue(())
    }
}

fn relation_name(factor: &TableFactor) -> Option<String> {
    match factor {
        TableFactor::Table { alias: Some(a), .. } | TableFactor::Derived { alias: Some(a), .. } => {
            Some(a.name.value.clone())
        }
        TableFactor::Table { name, .. } => Some(name.to_string()),
        TableFactor::NestedJoin {
            table_with_joins, ..
        } => relation_name(&table_with_joins.relation),
        _ => None,
    }
}

/// The aggregate an output expression computes (the outermost one).
fn aggregate_function(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Function(f) if f.over.is_none() => {
            let name = f.name.to_string().to_lowercase();
            check::is_aggregate_name(&name).then_some(name)
        }
        Expr::Nested(e) | Expr::Cast { expr: e, .. } => aggregate_function(e),
        Expr::BinaryOp { left, right, .. } => {
            aggregate_function(left).or_else(|| aggregate_function(right))
        }
        _ => None,
    }
}

/// The first FROM relation's pseudonym column, as the rewrites name it.
fn pseudonym_of(select: &sqlparser::ast::Select) -> String {
    match select.from.first().and_then(|t| relation_name(&t.relation)) {
        Some(q) => format!("\"{}\".{}", q.replace('"', "\"\""), check::PSEUDONYM),
        None => check::PSEUDONYM.to_owned(),
    }
}

fn parse_expr(text: &str) -> Result<Expr, QueryError> {
    Parser::new(&DuckDbDialect {})
        .try_with_sql(text)
        .and_then(|mut p| p.parse_expr())
        .map_err(QueryError::internal)
}

/// The query that finds, for each output row, the largest contributions
/// of single persons to the sum in column `measure`: the same FROM, WHERE
/// and grouping, grouped further by person.
fn contributions(
    checked: &Checked,
    outputs: &[Output],
    measure: usize,
) -> Result<String, QueryError> {
    let mut query = checked.query.clone();
    query.order_by = None;
    query.limit_clause = None;
    query.fetch = None;
    let SetExpr::Select(select) = query.body.as_mut() else {
        return Err(QueryError::Internal("not a SELECT".into()));
    };
    let person = pseudonym_of(select);
    let exprs: Vec<Expr> = select
        .projection
        .iter()
        .map(|item| match item {
            SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => Ok(e.clone()),
            _ => Err(QueryError::Internal("a wildcard in an aggregate".into())),
        })
        .collect::<Result<_, _>>()?;
    let keys: Vec<usize> = (0..outputs.len())
        .filter(|&c| outputs[c] == Output::Key)
        .collect();
    let mut projection: Vec<SelectItem> = keys
        .iter()
        .map(|&k| SelectItem::ExprWithAlias {
            expr: exprs[k].clone(),
            alias: Ident::new(format!("__k{k}")),
        })
        .collect();
    projection.push(SelectItem::ExprWithAlias {
        expr: parse_expr(&person)?,
        alias: Ident::new("__p"),
    });
    projection.push(SelectItem::ExprWithAlias {
        expr: exprs[measure].clone(),
        alias: Ident::new("__v"),
    });
    select.projection = projection;
    select.having = None;
    if let sqlparser::ast::GroupByExpr::Expressions(list, _) = &mut select.group_by {
        list.push(parse_expr(&person)?);
    }
    let key_list: Vec<String> = keys.iter().map(|k| format!("__k{k}")).collect();
    let mut outer = key_list.clone();
    outer.extend([
        "max(abs(__v)) AS top1".to_owned(),
        "coalesce(list_sort(list(abs(__v)), 'DESC')[2], 0) AS top2".to_owned(),
        "sum(abs(__v)) AS total".to_owned(),
    ]);
    let group = if key_list.is_empty() {
        String::new()
    } else {
        format!(" GROUP BY {}", key_list.join(", "))
    };
    Ok(format!("SELECT {} FROM ({query}){group}", outer.join(", ")))
}

/// Pairs each result row with its contributions by the key values.
fn match_shares(
    result: &ResultSet,
    outputs: &[Output],
    measure: usize,
    found: &ResultSet,
    shares: &mut BTreeMap<(usize, usize), disclosure::Shares>,
) {
    let keys: Vec<usize> = (0..outputs.len())
        .filter(|&c| outputs[c] == Output::Key)
        .collect();
    let n = keys.len();
    for (r, row) in result.rows.iter().enumerate() {
        let key: Vec<&Cell> = keys.iter().map(|&k| &row[k]).collect();
        let hit = found
            .rows
            .iter()
            .find(|f| f[..n].iter().collect::<Vec<_>>() == key);
        if let Some(f) = hit {
            let num = |c: &Cell| c.as_f64().unwrap_or(0.0);
            shares.insert(
                (r, measure),
                disclosure::Shares {
                    top1: num(&f[n]),
                    top2: num(&f[n + 1]),
                    total: num(&f[n + 2]),
                },
            );
        }
    }
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

/// Removes the platform's count column `name` (the last of that name),
/// returning its values.
fn take_counts(result: &mut ResultSet, name: &str) -> Result<Vec<u64>, QueryError> {
    let at = result
        .columns
        .iter()
        .rposition(|c| c == name)
        .ok_or_else(|| QueryError::Internal(format!("the count {name} is missing")))?;
    result.columns.remove(at);
    if at < result.kinds.len() {
        result.kinds.remove(at);
    }
    result
        .rows
        .iter_mut()
        .map(|row| match row.remove(at) {
            Cell::Int(n) if n >= 0 => Ok(n as u64),
            other => Err(QueryError::Internal(format!("a count of {other:?}"))),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::settle;

    #[test]
    fn bounds_settle_a_cell_only_when_they_fix_its_class() {
        // (buckets, (rows, most rows), settled at) with a minimum of 10
        let cases = [
            (Some(0), None, Some(0)),
            (None, Some((0, 16)), Some(0)),
            (Some(12), None, Some(12)),
            (Some(9), None, None),
            (Some(3), None, None),
            (None, Some((160, 16)), Some(10)),
            (None, Some((144, 16)), None),
            (None, Some((145, 16)), Some(10)),
            (None, Some((9, 16)), Some(1)),
            (None, Some((10, 16)), None),
            (None, Some((10, 1)), Some(10)),
            (Some(4), Some((9, 2)), Some(5)),
            (Some(11), Some((100, 64)), Some(11)),
            (Some(5), Some((100, 8)), Some(13)),
            (Some(5), Some((100, 64)), None),
        ];
        for (buckets, rows, settled) in cases {
            assert_eq!(settle(buckets, rows, 10), settled, "{buckets:?} {rows:?}");
        }
    }
}
