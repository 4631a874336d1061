//! The analysis language: a researcher's aggregate SQL, parsed and checked
//! into a typed [`Request`] — relations joined on the person key, a cohort,
//! keys, measures from a closed set, and what HAVING, ORDER BY and LIMIT
//! ask of the released result. The platform writes the engine's SQL from
//! the request ([`crate::plan`]); the researcher's text never runs.
//!
//! What is accepted (the README's analysis section lists it in full):
//!
//! - `SELECT` items that are keys, or arithmetic over measures and numbers;
//! - `FROM` one granted table, joined to others (`JOIN`, `LEFT JOIN`) only
//!   on `pseudonym`, and to person-level variables: `(SELECT pseudonym,
//!   <aggregate> AS v … FROM <table> [WHERE …] GROUP BY pseudonym)`, as a
//!   derived table or a `WITH` query;
//! - `WHERE` conditions over the row's columns, and `pseudonym [NOT] IN
//!   (SELECT pseudonym FROM <table> [WHERE …])`;
//! - `GROUP BY` keys (columns, or transforms of them), `GROUP BY ALL`,
//!   `GROUP BY ROLLUP (…)`;
//! - measures `count(*)`, `count(x)`, `count(DISTINCT pseudonym)`,
//!   `sum(x)`, `avg(x)`, `min`, `max`, `median`, `quantile_cont`,
//!   `quantile_disc`, each over a column, each with an optional
//!   `FILTER (WHERE …)`; `count_if(c)` is `count(*) FILTER (WHERE c)`;
//! - `HAVING` and `ORDER BY` on keys and measures, and `LIMIT`/`OFFSET`,
//!   all applied by the platform to the released result.
//!
//! Everything else is refused with a message that says what to write.

use crate::QueryError;
use crate::check::{MAX_SQL_BYTES, PSEUDONYM, RESERVED};
use sqlparser::ast::{
    self, BinaryOperator, CastKind, DataType, Distinct, DuplicateTreatment, Expr, Function,
    FunctionArg, FunctionArgExpr, FunctionArguments, GroupByExpr, Ident, JoinConstraint,
    JoinOperator, LimitClause, ObjectName, ObjectNamePart, OrderByKind, OrderBySort, Query, Select,
    SelectItem, SetExpr, Statement, TableFactor, UnaryOperator, Value,
};
use sqlparser::dialect::DuckDbDialect;
use sqlparser::parser::Parser;
use std::collections::BTreeSet;

/// A value's type, as far as the platform needs it to write SQL that
/// cannot fail on data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    /// Integers and decimals: arithmetic runs in DOUBLE.
    Num,
    /// Text.
    Text,
    /// Dates (and timestamps, read as dates).
    Date,
    /// Booleans.
    Bool,
    /// The NULL literal, which fits anywhere.
    Null,
}

impl Ty {
    /// The type a column of DuckDB type `name` has here.
    pub fn of_duckdb(name: &str) -> Ty {
        let n = name.to_ascii_uppercase();
        if n == "BOOLEAN" {
            Ty::Bool
        } else if n.starts_with("DATE") || n.starts_with("TIMESTAMP") {
            Ty::Date
        } else if n.contains("INT")
            || n.starts_with("DECIMAL")
            || n.starts_with("NUMERIC")
            || n == "DOUBLE"
            || n == "FLOAT"
            || n == "REAL"
        {
            Ty::Num
        } else {
            Ty::Text
        }
    }

    fn word(self) -> &'static str {
        match self {
            Ty::Num => "a number",
            Ty::Text => "text",
            Ty::Date => "a date",
            Ty::Bool => "a condition",
            Ty::Null => "NULL",
        }
    }
}

/// A granted table as the language sees it: its view name and granted
/// columns with their types (the pseudonym included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableShape {
    /// The name queries use.
    pub view: String,
    /// Column names (lower case) and types.
    pub columns: Vec<(String, Ty)>,
}

/// A column of a relation of the request, under the platform's alias.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    /// The platform's alias of the relation it belongs to.
    pub relation: String,
    /// Its name in that relation.
    pub name: String,
    /// Its type.
    pub ty: Ty,
}

/// A literal value.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    /// A number, as validated text.
    Num(String),
    /// Text.
    Text(String),
    /// A date, `DATE '2024-01-01'`.
    Date(String),
    /// TRUE or FALSE.
    Bool(bool),
    /// NULL.
    Null,
}

/// A comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    /// `=`
    Eq,
    /// `<>`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

/// Arithmetic, always in DOUBLE (which overflows to infinity, never to an
/// error).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arith {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
}

/// A type a value may be cast to (always as TRY_CAST).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CastTo {
    /// BIGINT.
    Integer,
    /// DOUBLE.
    Double,
    /// VARCHAR.
    Text,
    /// DATE.
    Date,
    /// BOOLEAN.
    Bool,
}

/// The scalar functions of the language: none fails on data.
#[derive(Debug, Clone, PartialEq)]
pub enum Func {
    /// `year(d)`
    Year,
    /// `month(d)`
    Month,
    /// `quarter(d)`
    Quarter,
    /// `day(d)`
    Day,
    /// `date_trunc('<unit>', d)`
    DateTrunc(String),
    /// `date_diff('<unit>', a, b)`
    DateDiff(String),
    /// `lower(s)`
    Lower,
    /// `upper(s)`
    Upper,
    /// `trim(s)`
    Trim,
    /// `length(s)`
    Length,
    /// `left(s, n)`
    Left(u32),
    /// `substr(s, start, length)`
    Substr(u32, u32),
    /// `starts_with(s, 'prefix')`
    StartsWith(String),
    /// `abs(x)`
    Abs,
    /// `floor(x)`
    Floor,
    /// `ceil(x)`
    Ceil,
    /// `round(x, digits)`
    Round(u32),
    /// `coalesce(a, b, …)`
    Coalesce,
    /// `greatest(a, b, …)`
    Greatest,
    /// `least(a, b, …)`
    Least,
}

/// An expression over one row.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    /// A column.
    Column(Column),
    /// A literal.
    Literal(Literal),
    /// `a <op> b`
    Compare(Box<Scalar>, Cmp, Box<Scalar>),
    /// `a AND b`
    And(Box<Scalar>, Box<Scalar>),
    /// `a OR b`
    Or(Box<Scalar>, Box<Scalar>),
    /// `NOT a`
    Not(Box<Scalar>),
    /// `a IS [NOT] NULL` (true: NOT)
    IsNull(Box<Scalar>, bool),
    /// `a [NOT] IN (literals)`
    InList(Box<Scalar>, Vec<Literal>, bool),
    /// `a [NOT] BETWEEN lo AND hi`
    Between(Box<Scalar>, Box<Scalar>, Box<Scalar>, bool),
    /// `a [NOT] [I]LIKE 'pattern'` (negated, case-insensitive)
    Like(Box<Scalar>, String, bool, bool),
    /// Arithmetic.
    Arith(Box<Scalar>, Arith, Box<Scalar>),
    /// `-a`
    Negate(Box<Scalar>),
    /// `TRY_CAST(a AS …)`
    Cast(Box<Scalar>, CastTo),
    /// A function of the language.
    Call(Func, Vec<Scalar>),
    /// `<person key> [NOT] IN (SELECT pseudonym FROM <view> [WHERE …])`:
    /// the relation whose person key is tested, the view, the inner alias,
    /// its filter, and whether negated.
    InPersons {
        /// The platform alias of the outer relation.
        relation: String,
        /// The granted view the persons come from.
        view: String,
        /// The platform alias of the inner relation.
        alias: String,
        /// The inner WHERE.
        filter: Option<Box<Scalar>>,
        /// NOT IN.
        negated: bool,
    },
}

impl Scalar {
    /// Its type.
    pub fn ty(&self) -> Ty {
        match self {
            Scalar::Column(c) => c.ty,
            Scalar::Literal(l) => match l {
                Literal::Num(_) => Ty::Num,
                Literal::Text(_) => Ty::Text,
                Literal::Date(_) => Ty::Date,
                Literal::Bool(_) => Ty::Bool,
                Literal::Null => Ty::Null,
            },
            Scalar::Compare(..)
            | Scalar::And(..)
            | Scalar::Or(..)
            | Scalar::Not(_)
            | Scalar::IsNull(..)
            | Scalar::InList(..)
            | Scalar::Between(..)
            | Scalar::Like(..)
            | Scalar::InPersons { .. } => Ty::Bool,
            Scalar::Arith(..) | Scalar::Negate(_) => Ty::Num,
            Scalar::Cast(_, to) => match to {
                CastTo::Integer | CastTo::Double => Ty::Num,
                CastTo::Text => Ty::Text,
                CastTo::Date => Ty::Date,
                CastTo::Bool => Ty::Bool,
            },
            Scalar::Call(f, args) => match f {
                Func::Year | Func::Month | Func::Quarter | Func::Day | Func::DateDiff(_) => Ty::Num,
                Func::DateTrunc(_) => Ty::Date,
                Func::Lower | Func::Upper | Func::Trim | Func::Left(_) | Func::Substr(..) => {
                    Ty::Text
                }
                Func::Length
                | Func::Abs
                | Func::Floor
                | Func::Ceil
                | Func::Round(_)
                | Func::Greatest
                | Func::Least => Ty::Num,
                Func::StartsWith(_) => Ty::Bool,
                Func::Coalesce => args.first().map_or(Ty::Null, Scalar::ty),
            },
        }
    }

    pub(crate) fn is_literal(&self) -> bool {
        matches!(self, Scalar::Literal(_))
    }
}

/// The aggregates of the language.
#[derive(Debug, Clone, PartialEq)]
pub enum Aggregate {
    /// `count(*)`: rows.
    Rows,
    /// `count(x)`: rows where x is not NULL.
    Count,
    /// `count(DISTINCT pseudonym)`: persons.
    Persons,
    /// `sum(x)`
    Sum,
    /// `avg(x)`
    Mean,
    /// `min(x)`
    Min,
    /// `max(x)`
    Max,
    /// `median(x)`
    Median,
    /// `quantile_cont(x, q)` or, discrete, `quantile_disc(x, q)`.
    Quantile {
        /// The quantile, 0 to 1, as validated text.
        q: String,
        /// quantile_disc.
        discrete: bool,
    },
}

impl Aggregate {
    /// Whether its value is one person's own value (an order statistic).
    pub fn is_extreme(&self) -> bool {
        matches!(
            self,
            Aggregate::Min | Aggregate::Max | Aggregate::Median | Aggregate::Quantile { .. }
        )
    }

    /// Its name as SQL spells it.
    pub fn name(&self) -> &'static str {
        match self {
            Aggregate::Rows | Aggregate::Count | Aggregate::Persons => "count",
            Aggregate::Sum => "sum",
            Aggregate::Mean => "avg",
            Aggregate::Min => "min",
            Aggregate::Max => "max",
            Aggregate::Median => "median",
            Aggregate::Quantile {
                discrete: false, ..
            } => "quantile_cont",
            Aggregate::Quantile { discrete: true, .. } => "quantile_disc",
        }
    }
}

/// One measure: an aggregate over a column, with an optional filter.
#[derive(Debug, Clone, PartialEq)]
pub struct Measure {
    /// What it computes.
    pub aggregate: Aggregate,
    /// Its column (none for rows and persons).
    pub arg: Option<Column>,
    /// Its FILTER (WHERE …).
    pub filter: Option<Scalar>,
}

/// An output value computed from measures.
#[derive(Debug, Clone, PartialEq)]
pub enum MeasureExpr {
    /// Measure `i` of the request.
    Measure(usize),
    /// A number.
    Number(String),
    /// Arithmetic (in DOUBLE).
    Arith(Box<MeasureExpr>, Arith, Box<MeasureExpr>),
    /// `-a`
    Negate(Box<MeasureExpr>),
}

impl MeasureExpr {
    /// The measures it reads.
    pub fn measures(&self) -> Vec<usize> {
        match self {
            MeasureExpr::Measure(m) => vec![*m],
            MeasureExpr::Number(_) => Vec::new(),
            MeasureExpr::Arith(a, _, b) => {
                let mut v = a.measures();
                v.extend(b.measures());
                v
            }
            MeasureExpr::Negate(a) => a.measures(),
        }
    }
}

/// What an output column holds.
#[derive(Debug, Clone, PartialEq)]
pub enum OutputKind {
    /// Key `i`.
    Key(usize),
    /// A value of measures.
    Measure(MeasureExpr),
}

/// An output column: shown, or hidden (only for HAVING and ORDER BY).
#[derive(Debug, Clone, PartialEq)]
pub struct Output {
    /// Its name in the result.
    pub name: String,
    /// What it holds.
    pub kind: OutputKind,
    /// Whether the result shows it.
    pub visible: bool,
}

/// A HAVING condition over outputs, evaluated on released values.
#[derive(Debug, Clone, PartialEq)]
pub enum Having {
    /// `a <op> b`
    Compare(Operand, Cmp, Operand),
    /// `a IS [NOT] NULL`
    IsNull(Operand, bool),
    /// `a AND b`
    And(Box<Having>, Box<Having>),
    /// `a OR b`
    Or(Box<Having>, Box<Having>),
    /// `NOT a`
    Not(Box<Having>),
}

/// A HAVING operand.
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    /// Output `i`, as released.
    Output(usize),
    /// A literal.
    Literal(Literal),
}

/// One ORDER BY item.
#[derive(Debug, Clone, PartialEq)]
pub struct Order {
    /// The output it sorts by.
    pub output: usize,
    /// Descending.
    pub descending: bool,
    /// NULLS FIRST (`Some(true)`), LAST, or DuckDB's default (last).
    pub nulls_first: Option<bool>,
}

/// How a relation joins the one before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Join {
    /// The first relation.
    Base,
    /// `JOIN … ON pseudonym`
    Inner,
    /// `LEFT JOIN … ON pseudonym`
    Left,
}

/// Where a relation's rows come from.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// A granted view's rows.
    Table {
        /// The view.
        view: String,
    },
    /// Person-level variables: one row per person of `view`.
    Persons {
        /// The view.
        view: String,
        /// The platform alias of the view inside.
        alias: String,
        /// The inner WHERE.
        filter: Option<Scalar>,
        /// Each variable's name and definition.
        variables: Vec<(String, Measure)>,
    },
}

/// A relation of the request.
#[derive(Debug, Clone, PartialEq)]
pub struct Relation {
    /// The platform's alias for it.
    pub alias: String,
    /// Its rows.
    pub source: Source,
    /// How it joins.
    pub join: Join,
}

/// An aggregate request, as the platform understands it.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// The relations; the first one's `pseudonym` is each row's person.
    pub relations: Vec<Relation>,
    /// The WHERE.
    pub cohort: Option<Scalar>,
    /// The grouping keys.
    pub keys: Vec<Scalar>,
    /// `GROUP BY ROLLUP (keys)`.
    pub rollup: bool,
    /// The measures, each once.
    pub measures: Vec<Measure>,
    /// The outputs: the visible ones in order, then hidden ones.
    pub outputs: Vec<Output>,
    /// HAVING, on released values.
    pub having: Option<Having>,
    /// ORDER BY, on released values.
    pub order: Vec<Order>,
    /// LIMIT.
    pub limit: Option<u64>,
    /// OFFSET.
    pub offset: u64,
    /// The granted views it reads.
    pub tables: BTreeSet<String>,
}

impl Request {
    /// The order statistics it computes, by name.
    pub fn extremes(&self) -> BTreeSet<&'static str> {
        // A person-level variable's own extreme describes its person and
        // is never released: only the measures count.
        self.measures
            .iter()
            .filter(|m| m.aggregate.is_extreme())
            .map(|m| m.aggregate.name())
            .collect()
    }
}

/// A refusal. Its text may quote the query's own names, so it is bounded
/// here, once for every refusal, before the server logs or returns it.
fn refused(reason: impl Into<String>) -> QueryError {
    const MOST: usize = 400;
    let mut reason = reason.into();
    if reason.chars().count() > MOST {
        reason = reason.chars().take(MOST).collect::<String>() + "…";
    }
    QueryError::Refused(reason)
}

/// Parses `sql` and checks it into a [`Request`] over `tables`.
pub fn parse(sql: &str, tables: &[TableShape]) -> Result<Request, QueryError> {
    let query = parse_query(sql)?;
    Reader::new(tables).request(&query)
}

/// One statement, a query, within the size limit.
pub(crate) fn parse_query(sql: &str) -> Result<Query, QueryError> {
    if sql.len() > MAX_SQL_BYTES {
        return Err(refused(format!(
            "the query is {} bytes; the limit is {MAX_SQL_BYTES}",
            sql.len()
        )));
    }
    let mut statements =
        Parser::parse_sql(&DuckDbDialect {}, sql).map_err(|e| QueryError::Syntax(e.to_string()))?;
    if statements.len() != 1 {
        return Err(refused(format!(
            "send one statement; this text holds {}",
            statements.len()
        )));
    }
    match statements.remove(0) {
        Statement::Query(query) => Ok(*query),
        other => {
            let kind = other.to_string();
            let verb = kind.split_whitespace().next().unwrap_or("").to_uppercase();
            Err(refused(format!(
                "only SELECT or WITH queries are allowed, not {verb}"
            )))
        }
    }
}

/// A relation as the query names it.
struct Scope {
    /// The query's name for it (lower case).
    name: String,
    /// The platform's alias.
    alias: String,
    /// Its columns.
    columns: Vec<(String, Ty)>,
}

/// A named person-level subquery (WITH).
struct NamedPersons<'q> {
    name: String,
    query: &'q Query,
}

struct Reader<'a, 'q> {
    tables: &'a [TableShape],
    ctes: Vec<NamedPersons<'q>>,
    next_alias: usize,
    request: Request,
}

const GUIDE: &str = "see the README's analysis section for the language";

impl<'a, 'q> Reader<'a, 'q> {
    fn new(tables: &'a [TableShape]) -> Reader<'a, 'q> {
        Reader {
            tables,
            ctes: Vec::new(),
            next_alias: 0,
            request: Request {
                relations: Vec::new(),
                cohort: None,
                keys: Vec::new(),
                rollup: false,
                measures: Vec::new(),
                outputs: Vec::new(),
                having: None,
                order: Vec::new(),
                limit: None,
                offset: 0,
                tables: BTreeSet::new(),
            },
        }
    }

    fn alias(&mut self, kind: &str) -> String {
        self.next_alias += 1;
        format!("{RESERVED}_{kind}{}", self.next_alias)
    }

    fn table(&self, name: &str) -> Option<&'a TableShape> {
        self.tables
            .iter()
            .find(|t| t.view.eq_ignore_ascii_case(name))
    }

    fn request(mut self, query: &'q Query) -> Result<Request, QueryError> {
        plain_query(query, true)?;
        if let Some(with) = &query.with {
            if with.recursive {
                return Err(refused(
                    "recursive queries (WITH RECURSIVE) are not part of the language",
                ));
            }
            for cte in &with.cte_tables {
                let name = user_name(&cte.alias.name)?;
                if !cte.alias.columns.is_empty() {
                    return Err(refused(format!(
                        "`{name}`: name a WITH query's columns inside it (… AS v), not after its name"
                    )));
                }
                self.ctes.push(NamedPersons {
                    name,
                    query: &cte.query,
                });
            }
        }
        let SetExpr::Select(select) = query.body.as_ref() else {
            return Err(refused(
                "an aggregate query is one SELECT: run each part of a UNION, INTERSECT or EXCEPT alone",
            ));
        };
        plain_select(select)?;
        let scopes = self.from(select)?;
        if let Some(w) = &select.selection {
            let cohort = self.condition(w, &scopes, "WHERE")?;
            self.request.cohort = Some(cohort);
        }
        self.select(select, &scopes)?;
        if let Some(h) = &select.having {
            let having = self.having(h, &scopes)?;
            self.request.having = Some(having);
        }
        self.order_and_limit(query, &scopes)?;
        Ok(self.request)
    }

    // ---- FROM -----------------------------------------------------------

    fn from(&mut self, select: &'q Select) -> Result<Vec<Scope>, QueryError> {
        let [from] = select.from.as_slice() else {
            return Err(refused(if select.from.is_empty() {
                "an aggregate query reads a granted table: add FROM <table>".to_owned()
            } else {
                "join tables on the person key, `JOIN <table> USING (pseudonym)`, not with commas"
                    .to_owned()
            }));
        };
        let mut scopes = Vec::new();
        self.relation(&from.relation, Join::Base, &mut scopes)?;
        if from.joins.len() >= 16 {
            return Err(refused("at most 16 relations in one query"));
        }
        for join in &from.joins {
            let (kind, constraint) = match &join.join_operator {
                JoinOperator::Join(c) | JoinOperator::Inner(c) => (Join::Inner, c),
                JoinOperator::Left(c) | JoinOperator::LeftOuter(c) => (Join::Left, c),
                _ => {
                    return Err(refused(
                        "only JOIN and LEFT JOIN on the person key are part of the language: \
                         `JOIN <table> USING (pseudonym)`",
                    ));
                }
            };
            self.relation(&join.relation, kind, &mut scopes)?;
            self.join_constraint(constraint, &scopes)?;
        }
        Ok(scopes)
    }

    fn join_constraint(&self, c: &JoinConstraint, scopes: &[Scope]) -> Result<(), QueryError> {
        let ok = match c {
            JoinConstraint::Using(names) => {
                names.len() == 1
                    && single(&names[0]).is_some_and(|n| n.eq_ignore_ascii_case(PSEUDONYM))
            }
            JoinConstraint::On(Expr::BinaryOp {
                left,
                op: BinaryOperator::Eq,
                right,
            }) => {
                let last = &scopes[scopes.len() - 1].name;
                let side = |e: &Expr| -> Option<String> {
                    match e {
                        Expr::CompoundIdentifier(p) if p.len() == 2 => p[1]
                            .value
                            .eq_ignore_ascii_case(PSEUDONYM)
                            .then(|| p[0].value.to_lowercase()),
                        _ => None,
                    }
                };
                match (side(left), side(right)) {
                    (Some(a), Some(b)) => {
                        a != b
                            && (a == *last || b == *last)
                            && scopes.iter().any(|s| s.name == a)
                            && scopes.iter().any(|s| s.name == b)
                    }
                    _ => false,
                }
            }
            _ => false,
        };
        if ok {
            Ok(())
        } else {
            Err(refused(
                "tables join only on the person key: `USING (pseudonym)` or `ON a.pseudonym = b.pseudonym`",
            ))
        }
    }

    fn relation(
        &mut self,
        factor: &'q TableFactor,
        join: Join,
        scopes: &mut Vec<Scope>,
    ) -> Result<(), QueryError> {
        let (relation, scope) = match factor {
            TableFactor::Table {
                name,
                alias,
                args: None,
                with_hints,
                version: None,
                with_ordinality: false,
                partitions,
                json_path: None,
                sample: None,
                index_hints,
            } if with_hints.is_empty() && partitions.is_empty() && index_hints.is_empty() => {
                let Some(table_name) = single(name) else {
                    return Err(refused(format!(
                        "table `{name}` is not in this project's grant (use the plain table names it lists)"
                    )));
                };
                let shown = match alias {
                    Some(a) => table_alias(a)?,
                    None => table_name.to_lowercase(),
                };
                if let Some(i) = self.ctes.iter().position(|c| c.name == table_name) {
                    let query = self.ctes[i].query;
                    self.persons(query, shown, join)?
                } else if let Some(t) = self.table(&table_name) {
                    let alias = self.alias("t");
                    self.request.tables.insert(t.view.clone());
                    (
                        Relation {
                            alias: alias.clone(),
                            source: Source::Table {
                                view: t.view.clone(),
                            },
                            join,
                        },
                        Scope {
                            name: shown,
                            alias,
                            columns: t.columns.clone(),
                        },
                    )
                } else {
                    return Err(refused(format!(
                        "table `{table_name}` is not in this project's grant"
                    )));
                }
            }
            TableFactor::Derived {
                lateral: false,
                subquery,
                alias,
                sample: None,
            } => {
                let Some(alias) = alias else {
                    return Err(refused(
                        "name a person-level subquery: `(SELECT pseudonym, … GROUP BY pseudonym) AS v`",
                    ));
                };
                let shown = table_alias(alias)?;
                self.persons(subquery, shown, join)?
            }
            TableFactor::Table { args: Some(_), .. }
            | TableFactor::Function { .. }
            | TableFactor::TableFunction { .. } => {
                return Err(refused(
                    "table functions are not part of the language: read the granted tables by name",
                ));
            }
            _ => {
                return Err(refused(format!(
                    "this kind of FROM item is not part of the language; {GUIDE}"
                )));
            }
        };
        if scopes.iter().any(|s| s.name == scope.name) {
            return Err(refused(format!(
                "`{}` names two relations: give each its own alias",
                scope.name
            )));
        }
        self.request.relations.push(relation);
        scopes.push(scope);
        Ok(())
    }

    /// A person-level subquery: `SELECT pseudonym, <aggregate> AS v, … FROM
    /// <table> [WHERE …] GROUP BY pseudonym`.
    fn persons(
        &mut self,
        query: &'q Query,
        shown: String,
        join: Join,
    ) -> Result<(Relation, Scope), QueryError> {
        const SHAPE: &str = "a subquery in FROM is a person-level variable: \
             `(SELECT pseudonym, count(*) AS n FROM <table> [WHERE …] GROUP BY pseudonym) AS v`";
        let (select, inner, view) = self.inner_select(query, SHAPE)?;
        let inner_scopes = [inner];
        let grouped_by_person = match &select.group_by {
            GroupByExpr::Expressions(list, mods) if mods.is_empty() && list.len() == 1 => {
                self.is_person_key(&list[0], &inner_scopes)
            }
            _ => false,
        };
        if !grouped_by_person {
            return Err(refused(SHAPE));
        }
        let filter = match &select.selection {
            Some(w) => Some(self.condition(w, &inner_scopes, "WHERE")?),
            None => None,
        };
        let mut variables: Vec<(String, Measure)> = Vec::new();
        let mut has_key = false;
        for item in &select.projection {
            match item {
                SelectItem::UnnamedExpr(e) if self.is_person_key(e, &inner_scopes) => {
                    has_key = true;
                }
                SelectItem::ExprWithAlias { expr, alias }
                    if self.is_person_key(expr, &inner_scopes) =>
                {
                    if !alias.value.eq_ignore_ascii_case(PSEUDONYM) {
                        return Err(refused(
                            "the person key keeps its name: `pseudonym`, not an alias",
                        ));
                    }
                    has_key = true;
                }
                SelectItem::ExprWithAlias {
                    expr: Expr::Function(f),
                    alias,
                } => {
                    let name = user_name(alias)?;
                    if name == PSEUDONYM || variables.iter().any(|(v, _)| *v == name) {
                        return Err(refused(format!(
                            "`{name}`: each person-level variable needs its own name"
                        )));
                    }
                    let measure = self.measure(f, &inner_scopes, true)?;
                    if measure.aggregate.is_extreme()
                        && !matches!(measure.aggregate, Aggregate::Min | Aggregate::Max)
                    {
                        return Err(refused(
                            "a person-level variable is count, sum, avg, min or max of a column",
                        ));
                    }
                    variables.push((name, measure));
                }
                _ => {
                    return Err(refused(format!("{SHAPE}; name each variable (… AS v)")));
                }
            }
        }
        if !has_key || variables.is_empty() {
            return Err(refused(SHAPE));
        }
        let alias = self.alias("t");
        let mut columns = vec![(PSEUDONYM.to_owned(), Ty::Text)];
        columns.extend(variables.iter().map(|(name, m)| {
            let ty = match m.aggregate {
                Aggregate::Min | Aggregate::Max => m.arg.as_ref().map_or(Ty::Num, |c| c.ty),
                _ => Ty::Num,
            };
            (name.clone(), ty)
        }));
        let [inner] = inner_scopes;
        Ok((
            Relation {
                alias: alias.clone(),
                source: Source::Persons {
                    view,
                    alias: inner.alias,
                    filter,
                    variables,
                },
                join,
            },
            Scope {
                name: shown,
                alias,
                columns,
            },
        ))
    }

    /// The one-table SELECT inside a person-level subquery or a
    /// `pseudonym IN (…)`: the select, a scope for its table, and the view.
    fn inner_select<'s>(
        &mut self,
        query: &'s Query,
        shape: &str,
    ) -> Result<(&'s Select, Scope, String), QueryError> {
        plain_query(query, false)?;
        if query.with.is_some() {
            return Err(refused(shape));
        }
        let SetExpr::Select(select) = query.body.as_ref() else {
            return Err(refused(shape));
        };
        plain_select(select)?;
        let [from] = select.from.as_slice() else {
            return Err(refused(shape));
        };
        let TableFactor::Table {
            name,
            alias: inner_alias,
            args: None,
            ..
        } = &from.relation
        else {
            return Err(refused(shape));
        };
        if !from.joins.is_empty() {
            return Err(refused(shape));
        }
        let table = single(name)
            .and_then(|n| self.table(&n))
            .ok_or_else(|| refused(format!("table `{name}` is not in this project's grant")))?;
        self.request.tables.insert(table.view.clone());
        let scope = Scope {
            name: match inner_alias {
                Some(a) => table_alias(a)?,
                None => table.view.to_lowercase(),
            },
            alias: self.alias("s"),
            columns: table.columns.clone(),
        };
        Ok((select, scope, table.view.clone()))
    }

    fn is_person_key(&self, e: &Expr, scopes: &[Scope]) -> bool {
        self.resolve(e, scopes)
            .is_ok_and(|c| c.is_some_and(|c| c.name == PSEUDONYM))
    }

    // ---- columns --------------------------------------------------------

    /// The column an identifier names, if `e` is one.
    fn resolve(&self, e: &Expr, scopes: &[Scope]) -> Result<Option<Column>, QueryError> {
        let (relation, name) = match e {
            Expr::Identifier(i) => (None, i.value.to_lowercase()),
            Expr::CompoundIdentifier(parts) => match parts.as_slice() {
                [r, c] => (Some(r.value.to_lowercase()), c.value.to_lowercase()),
                _ => {
                    let text: Vec<&str> = parts.iter().map(|p| p.value.as_str()).collect();
                    return Err(refused(format!(
                        "column `{}` is not in this project's grant (write table.column)",
                        text.join(".")
                    )));
                }
            },
            _ => return Ok(None),
        };
        let found: Vec<(&Scope, Ty)> = scopes
            .iter()
            .filter(|s| relation.as_ref().is_none_or(|r| *r == s.name))
            .filter_map(|s| {
                s.columns
                    .iter()
                    .find(|(c, _)| *c == name)
                    .map(|(_, ty)| (s, *ty))
            })
            .collect();
        let full = match &relation {
            Some(r) => format!("{r}.{name}"),
            None => name.clone(),
        };
        match found.as_slice() {
            [] => Err(refused(format!(
                "column `{full}` is not in this project's grant"
            ))),
            [(s, ty), ..] if found.len() == 1 || name == PSEUDONYM => Ok(Some(Column {
                relation: s.alias.clone(),
                name,
                ty: *ty,
            })),
            _ => Err(refused(format!(
                "column `{full}` is in more than one table: write table.{name}"
            ))),
        }
    }

    /// A column that is not the person key.
    fn value_column(&self, e: &Expr, scopes: &[Scope]) -> Result<Option<Column>, QueryError> {
        match self.resolve(e, scopes)? {
            Some(c) if c.name == PSEUDONYM => Err(refused(
                "the person key `pseudonym` serves only to join, to count persons \
                 (count(DISTINCT pseudonym)) and in `pseudonym IN (SELECT pseudonym FROM …)`",
            )),
            other => Ok(other),
        }
    }

    // ---- scalars --------------------------------------------------------

    fn condition(
        &mut self,
        e: &Expr,
        scopes: &[Scope],
        clause: &str,
    ) -> Result<Scalar, QueryError> {
        let s = self.scalar(e, scopes)?;
        match s.ty() {
            Ty::Bool | Ty::Null => Ok(s),
            other => Err(refused(format!(
                "{clause} needs a condition, not {}",
                other.word()
            ))),
        }
    }

    fn scalar(&mut self, e: &Expr, scopes: &[Scope]) -> Result<Scalar, QueryError> {
        if let Some(c) = self.value_column(e, scopes)? {
            return Ok(Scalar::Column(c));
        }
        let b = |s: Scalar| Box::new(s);
        Ok(match e {
            Expr::Value(v) => Scalar::Literal(literal(&v.value)?),
            Expr::TypedString(t) if matches!(t.data_type, DataType::Date) => {
                let Value::SingleQuotedString(s) = &t.value.value else {
                    return Err(refused("write a date as DATE 'YYYY-MM-DD'"));
                };
                Scalar::Literal(Literal::Date(s.clone()))
            }
            Expr::Nested(inner) => self.scalar(inner, scopes)?,
            Expr::BinaryOp { left, op, right } => {
                let l = self.scalar(left, scopes)?;
                let r = self.scalar(right, scopes)?;
                match op {
                    BinaryOperator::And | BinaryOperator::Or => {
                        for side in [&l, &r] {
                            if !matches!(side.ty(), Ty::Bool | Ty::Null) {
                                return Err(refused(format!(
                                    "AND and OR join conditions, not {}",
                                    side.ty().word()
                                )));
                            }
                        }
                        if *op == BinaryOperator::And {
                            Scalar::And(b(l), b(r))
                        } else {
                            Scalar::Or(b(l), b(r))
                        }
                    }
                    BinaryOperator::Plus
                    | BinaryOperator::Minus
                    | BinaryOperator::Multiply
                    | BinaryOperator::Divide => {
                        for side in [&l, &r] {
                            if !matches!(side.ty(), Ty::Num | Ty::Null) {
                                return Err(refused(format!(
                                    "arithmetic on {} is not part of the language \
                                     (dates: date_diff('day', a, b); text: no arithmetic)",
                                    side.ty().word()
                                )));
                            }
                        }
                        let a = match op {
                            BinaryOperator::Plus => Arith::Add,
                            BinaryOperator::Minus => Arith::Sub,
                            BinaryOperator::Multiply => Arith::Mul,
                            _ => Arith::Div,
                        };
                        Scalar::Arith(b(l), a, b(r))
                    }
                    other => match cmp(other) {
                        Some(c) => Scalar::Compare(b(l), c, b(r)),
                        None => {
                            return Err(refused(format!(
                                "the operator `{other}` is not part of the language; {GUIDE}"
                            )));
                        }
                    },
                }
            }
            Expr::UnaryOp { op, expr } => {
                let inner = self.scalar(expr, scopes)?;
                match op {
                    UnaryOperator::Not if matches!(inner.ty(), Ty::Bool | Ty::Null) => {
                        Scalar::Not(b(inner))
                    }
                    UnaryOperator::Minus if matches!(inner.ty(), Ty::Num | Ty::Null) => {
                        Scalar::Negate(b(inner))
                    }
                    UnaryOperator::Plus if matches!(inner.ty(), Ty::Num | Ty::Null) => inner,
                    _ => {
                        return Err(refused(format!(
                            "`{op}` on {} is not part of the language",
                            inner.ty().word()
                        )));
                    }
                }
            }
            Expr::IsNull(x) => Scalar::IsNull(b(self.scalar(x, scopes)?), false),
            Expr::IsNotNull(x) => Scalar::IsNull(b(self.scalar(x, scopes)?), true),
            Expr::InList {
                expr,
                list,
                negated,
            } => {
                let x = self.scalar(expr, scopes)?;
                let items = list
                    .iter()
                    .map(|i| match i {
                        Expr::Value(v) => literal(&v.value),
                        Expr::UnaryOp {
                            op: UnaryOperator::Minus,
                            expr,
                        } => match expr.as_ref() {
                            Expr::Value(v) => match literal(&v.value)? {
                                Literal::Num(n) => Ok(Literal::Num(format!("-{n}"))),
                                _ => Err(refused("IN (…) lists literal values")),
                            },
                            _ => Err(refused("IN (…) lists literal values")),
                        },
                        _ => Err(refused("IN (…) lists literal values")),
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                if items.is_empty() || items.len() > 1000 {
                    return Err(refused("IN (…) lists 1 to 1000 literal values"));
                }
                Scalar::InList(b(x), items, *negated)
            }
            Expr::InSubquery {
                expr,
                subquery,
                negated,
            } => self.in_persons(expr, subquery, *negated, scopes)?,
            Expr::Between {
                expr,
                negated,
                low,
                high,
            } => Scalar::Between(
                b(self.scalar(expr, scopes)?),
                b(self.scalar(low, scopes)?),
                b(self.scalar(high, scopes)?),
                *negated,
            ),
            Expr::Like {
                negated,
                any: false,
                expr,
                pattern,
                escape_char: None,
            }
            | Expr::ILike {
                negated,
                any: false,
                expr,
                pattern,
                escape_char: None,
            } => {
                let x = self.scalar(expr, scopes)?;
                let Expr::Value(v) = pattern.as_ref() else {
                    return Err(refused("LIKE takes a literal pattern"));
                };
                let Value::SingleQuotedString(p) = &v.value else {
                    return Err(refused("LIKE takes a literal pattern"));
                };
                Scalar::Like(b(x), p.clone(), *negated, matches!(e, Expr::ILike { .. }))
            }
            Expr::Cast {
                kind: CastKind::Cast | CastKind::TryCast | CastKind::DoubleColon,
                expr,
                data_type,
                format: None,
            } => {
                let x = self.scalar(expr, scopes)?;
                Scalar::Cast(b(x), cast_to(data_type)?)
            }
            Expr::Function(f) => self.call(f, scopes)?,
            Expr::Floor {
                expr,
                field: ast::CeilFloorKind::DateTimeField(ast::DateTimeField::NoDateTime),
            } => Scalar::Call(Func::Floor, vec![self.number(expr, scopes)?]),
            Expr::Ceil {
                expr,
                field: ast::CeilFloorKind::DateTimeField(ast::DateTimeField::NoDateTime),
            } => Scalar::Call(Func::Ceil, vec![self.number(expr, scopes)?]),
            Expr::Case { .. } => {
                return Err(refused(
                    "CASE is not part of the language: put conditions in WHERE, or in a \
                     measure's FILTER (WHERE …); for bands, use floor(x / width) * width",
                ));
            }
            Expr::Subquery(_) | Expr::Exists { .. } => {
                return Err(refused(
                    "a subquery is not part of the language here: use a person-level variable \
                     (a FROM subquery grouped by pseudonym) or `pseudonym IN (SELECT pseudonym FROM …)`",
                ));
            }
            other => {
                let text: String = other.to_string().chars().take(40).collect();
                return Err(refused(format!(
                    "`{text}` is not part of the language; {GUIDE}"
                )));
            }
        })
    }

    fn number(&mut self, e: &Expr, scopes: &[Scope]) -> Result<Scalar, QueryError> {
        let s = self.scalar(e, scopes)?;
        if matches!(s.ty(), Ty::Num | Ty::Null) {
            Ok(s)
        } else {
            Err(refused(format!(
                "a number is needed, not {}",
                s.ty().word()
            )))
        }
    }

    fn in_persons(
        &mut self,
        expr: &Expr,
        subquery: &Query,
        negated: bool,
        scopes: &[Scope],
    ) -> Result<Scalar, QueryError> {
        const SHAPE: &str =
            "a subquery in WHERE is `pseudonym IN (SELECT pseudonym FROM <table> [WHERE …])`";
        let outer = match self.resolve(expr, scopes)? {
            Some(c) if c.name == PSEUDONYM => c,
            _ => return Err(refused(SHAPE)),
        };
        let (select, inner, view) = self.inner_select(subquery, SHAPE)?;
        let grouped = match &select.group_by {
            GroupByExpr::Expressions(l, m) => !l.is_empty() || !m.is_empty(),
            GroupByExpr::All(_) => true,
        };
        if grouped || select.having.is_some() || select.distinct.is_some() {
            return Err(refused(SHAPE));
        }
        let inner = [inner];
        let projects_key = match select.projection.as_slice() {
            [SelectItem::UnnamedExpr(e)] => self.is_person_key(e, &inner),
            _ => false,
        };
        if !projects_key {
            return Err(refused(SHAPE));
        }
        let filter = match &select.selection {
            Some(w) => Some(Box::new(self.condition(w, &inner, "WHERE")?)),
            None => None,
        };
        let [inner] = inner;
        Ok(Scalar::InPersons {
            relation: outer.relation,
            view,
            alias: inner.alias,
            filter,
            negated,
        })
    }

    fn call(&mut self, f: &Function, scopes: &[Scope]) -> Result<Scalar, QueryError> {
        let name = single(&f.name).unwrap_or_else(|| f.name.to_string().to_lowercase());
        if AGGREGATE_NAMES.contains(&name.as_str()) {
            return Err(refused(format!(
                "`{name}` is an aggregate: aggregates go in the select list, HAVING or ORDER BY, \
                 or in a person-level variable"
            )));
        }
        if f.over.is_some() || f.filter.is_some() || !f.within_group.is_empty() {
            return Err(refused(format!(
                "`{name}(…) OVER`/FILTER: window functions are not part of the language"
            )));
        }
        let args = plain_args(f)?;
        let text = |e: &Expr| -> Option<String> {
            match e {
                Expr::Value(v) => match &v.value {
                    Value::SingleQuotedString(s) => Some(s.clone()),
                    _ => None,
                },
                _ => None,
            }
        };
        let count = |e: &Expr| -> Option<u32> {
            match e {
                Expr::Value(v) => match &v.value {
                    Value::Number(n, _) => n.parse().ok(),
                    _ => None,
                },
                _ => None,
            }
        };
        let unit = |e: &Expr| -> Result<String, QueryError> {
            let u = text(e).map(|u| u.to_lowercase()).unwrap_or_default();
            if ["year", "quarter", "month", "week", "day"].contains(&u.as_str()) {
                Ok(u)
            } else {
                Err(refused(
                    "the unit is one of 'year', 'quarter', 'month', 'week', 'day'",
                ))
            }
        };
        let wrong = || refused(format!("`{name}` takes other arguments; {GUIDE}"));
        let (func, values): (Func, Vec<&Expr>) = match (name.as_str(), args.as_slice()) {
            ("year", [d]) => (Func::Year, vec![d]),
            ("month", [d]) => (Func::Month, vec![d]),
            ("quarter", [d]) => (Func::Quarter, vec![d]),
            ("day", [d]) => (Func::Day, vec![d]),
            ("date_trunc", [u, d]) => (Func::DateTrunc(unit(u)?), vec![d]),
            ("date_diff" | "datediff", [u, a, d]) => (Func::DateDiff(unit(u)?), vec![a, d]),
            ("lower", [s]) => (Func::Lower, vec![s]),
            ("upper", [s]) => (Func::Upper, vec![s]),
            ("trim", [s]) => (Func::Trim, vec![s]),
            ("length", [s]) => (Func::Length, vec![s]),
            ("left", [s, n]) => (Func::Left(count(n).ok_or_else(wrong)?), vec![s]),
            ("substr" | "substring", [s, a, n]) => {
                let start = count(a).filter(|a| *a >= 1).ok_or_else(wrong)?;
                (Func::Substr(start, count(n).ok_or_else(wrong)?), vec![s])
            }
            ("starts_with", [s, p]) => (Func::StartsWith(text(p).ok_or_else(wrong)?), vec![s]),
            ("abs", [x]) => (Func::Abs, vec![x]),
            ("floor", [x]) => (Func::Floor, vec![x]),
            ("ceil" | "ceiling", [x]) => (Func::Ceil, vec![x]),
            ("round", [x]) => (Func::Round(0), vec![x]),
            ("round", [x, d]) => (
                Func::Round(count(d).filter(|d| *d <= 10).ok_or_else(wrong)?),
                vec![x],
            ),
            ("coalesce" | "ifnull", list) if list.len() >= 2 => {
                (Func::Coalesce, list.iter().collect())
            }
            ("greatest", list) if list.len() >= 2 => (Func::Greatest, list.iter().collect()),
            ("least", list) if list.len() >= 2 => (Func::Least, list.iter().collect()),
            (
                "year" | "month" | "quarter" | "day" | "date_trunc" | "date_diff" | "datediff"
                | "lower" | "upper" | "trim" | "length" | "left" | "substr" | "substring"
                | "starts_with" | "abs" | "floor" | "ceil" | "ceiling" | "round" | "coalesce"
                | "ifnull" | "greatest" | "least",
                _,
            ) => return Err(wrong()),
            _ => {
                return Err(refused(format!(
                    "function `{name}` is not part of the language; {GUIDE}"
                )));
            }
        };
        let values = values
            .into_iter()
            .map(|v| self.scalar(v, scopes))
            .collect::<Result<Vec<_>, _>>()?;
        let numeric = matches!(
            func,
            Func::Abs | Func::Floor | Func::Ceil | Func::Round(_) | Func::Greatest | Func::Least
        );
        if numeric
            && let Some(v) = values
                .iter()
                .find(|v| !matches!(v.ty(), Ty::Num | Ty::Null))
        {
            return Err(refused(format!(
                "`{name}` takes numbers, not {}",
                v.ty().word()
            )));
        }
        Ok(Scalar::Call(func, values))
    }

    // ---- measures -------------------------------------------------------

    /// A measure, from an aggregate call. `person_level`: inside a
    /// person-level variable.
    fn measure(
        &mut self,
        f: &Function,
        scopes: &[Scope],
        person_level: bool,
    ) -> Result<Measure, QueryError> {
        let name = single(&f.name).unwrap_or_else(|| f.name.to_string().to_lowercase());
        if f.over.is_some() {
            return Err(refused(format!(
                "`{name}(…) OVER (…)`: window functions are not part of the language; \
                 group by the partition's keys instead, and take totals from GROUP BY ROLLUP (…)"
            )));
        }
        if !f.within_group.is_empty() || f.null_treatment.is_some() {
            return Err(refused(format!(
                "`{name}`: WITHIN GROUP and IGNORE NULLS are not part of the language"
            )));
        }
        if !matches!(f.parameters, FunctionArguments::None) {
            return Err(refused(format!(
                "`{name}`: parameters are not part of the language"
            )));
        }
        let list = match &f.args {
            FunctionArguments::List(list) => list,
            FunctionArguments::None => {
                return Err(refused(format!("`{name}` needs its arguments")));
            }
            FunctionArguments::Subquery(_) => {
                return Err(refused(format!(
                    "`{name}` over a subquery is not part of the language"
                )));
            }
        };
        if !list.clauses.is_empty() {
            return Err(refused(format!(
                "`{name}`: ORDER BY or other clauses inside an aggregate are not part of the language"
            )));
        }
        let distinct = matches!(list.duplicate_treatment, Some(DuplicateTreatment::Distinct));
        let mut filter = match &f.filter {
            Some(c) => Some(self.condition(c, scopes, "FILTER")?),
            None => None,
        };
        fn plain(a: &FunctionArg) -> Option<&Expr> {
            match a {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e),
                _ => None,
            }
        }
        let column_hint = format!(
            "the argument of `{name}` is a column; put conditions in FILTER (WHERE …): \
             `{name}(x) FILTER (WHERE c)`, not CASE or arithmetic inside it"
        );
        let arg_column = |me: &mut Self, a: &FunctionArg| -> Result<Column, QueryError> {
            let e = plain(a).ok_or_else(|| refused(column_hint.clone()))?;
            let e = match e {
                Expr::Nested(inner) => inner.as_ref(),
                other => other,
            };
            match me.resolve(e, scopes)? {
                Some(c) => Ok(c),
                None => Err(refused(column_hint.clone())),
            }
        };
        let (aggregate, arg) = match (name.as_str(), list.args.as_slice()) {
            ("count", [FunctionArg::Unnamed(FunctionArgExpr::Wildcard)]) if !distinct => {
                (Aggregate::Rows, None)
            }
            ("count", [a]) => {
                let c = arg_column(self, a)?;
                match (distinct, c.name == PSEUDONYM) {
                    (true, true) if !person_level => {
                        // Persons are counted by the first relation's key;
                        // another relation's (a LEFT JOIN's) counts where it
                        // matched.
                        let base = self.request.relations.first().map(|r| r.alias.as_str());
                        if base != Some(c.relation.as_str()) {
                            let matched = Scalar::IsNull(Box::new(Scalar::Column(c)), true);
                            filter = Some(match filter {
                                Some(f) => Scalar::And(Box::new(matched), Box::new(f)),
                                None => matched,
                            });
                        }
                        (Aggregate::Persons, None)
                    }
                    (false, false) => (Aggregate::Count, Some(c)),
                    (false, true) => {
                        return Err(refused(
                            "count(pseudonym) counts rows: write count(*), or count(DISTINCT pseudonym) for persons",
                        ));
                    }
                    _ => {
                        return Err(refused(
                            "count(DISTINCT x) is not part of the language: count persons with \
                             count(DISTINCT pseudonym), or group by x and count",
                        ));
                    }
                }
            }
            ("count_if", [a]) if !distinct => {
                let e = arg_expr(a).ok_or_else(|| refused("count_if takes a condition"))?;
                let c = self.condition(&e, scopes, "count_if")?;
                filter = Some(match filter {
                    Some(f) => Scalar::And(Box::new(c), Box::new(f)),
                    None => c,
                });
                (Aggregate::Rows, None)
            }
            ("sum" | "avg" | "mean", [a]) if !distinct => {
                let c = arg_column(self, a)?;
                if c.ty != Ty::Num {
                    return Err(refused(format!(
                        "`{name}` takes a numeric column; `{}` is {}",
                        c.name,
                        c.ty.word()
                    )));
                }
                let agg = if name == "sum" {
                    Aggregate::Sum
                } else {
                    Aggregate::Mean
                };
                (agg, Some(c))
            }
            ("min" | "max" | "median", [a]) if !distinct => {
                let c = arg_column(self, a)?;
                let agg = match name.as_str() {
                    "min" => Aggregate::Min,
                    "max" => Aggregate::Max,
                    _ => Aggregate::Median,
                };
                (agg, Some(c))
            }
            ("quantile_cont" | "quantile_disc", [a, q]) if !distinct => {
                let c = arg_column(self, a)?;
                let q = match plain(q) {
                    Some(Expr::Value(v)) => match &v.value {
                        Value::Number(n, _)
                            if n.parse::<f64>().is_ok_and(|q| (0.0..=1.0).contains(&q)) =>
                        {
                            n.clone()
                        }
                        _ => return Err(refused("the quantile is a number from 0 to 1")),
                    },
                    _ => return Err(refused("the quantile is a number from 0 to 1")),
                };
                (
                    Aggregate::Quantile {
                        q,
                        discrete: name == "quantile_disc",
                    },
                    Some(c),
                )
            }
            (
                "count" | "count_if" | "sum" | "avg" | "mean" | "min" | "max" | "median"
                | "quantile_cont" | "quantile_disc",
                _,
            ) => {
                return Err(refused(format!(
                    "`{name}` takes one column (quantiles: a column and a number); DISTINCT only in count(DISTINCT pseudonym)"
                )));
            }
            _ => {
                return Err(refused(format!(
                    "`{name}` is not a measure of the language: count, sum, avg, min, max, median, \
                     quantile_cont, quantile_disc (each with FILTER (WHERE …)); count_if(c) is count(*) FILTER (WHERE c)"
                )));
            }
        };
        if let Some(c) = &arg
            && c.name == PSEUDONYM
        {
            return Err(refused(
                "the person key is no measure's argument: count persons with count(DISTINCT pseudonym)",
            ));
        }
        Ok(Measure {
            aggregate,
            arg,
            filter,
        })
    }

    fn add_measure(&mut self, m: Measure) -> usize {
        match self.request.measures.iter().position(|x| *x == m) {
            Some(i) => i,
            None => {
                self.request.measures.push(m);
                self.request.measures.len() - 1
            }
        }
    }

    /// An expression of measures (an output, or a HAVING/ORDER BY operand).
    fn measure_expr(&mut self, e: &Expr, scopes: &[Scope]) -> Result<MeasureExpr, QueryError> {
        let b = Box::new;
        Ok(match e {
            Expr::Function(f) if is_aggregate_call(f) => {
                let m = self.measure(f, scopes, false)?;
                MeasureExpr::Measure(self.add_measure(m))
            }
            Expr::Nested(inner) => self.measure_expr(inner, scopes)?,
            Expr::Value(v) => match literal(&v.value)? {
                Literal::Num(n) => MeasureExpr::Number(n),
                _ => return Err(refused("measures combine with numbers only")),
            },
            Expr::Cast {
                expr, data_type, ..
            } if matches!(cast_to(data_type)?, CastTo::Double | CastTo::Integer) => {
                // Arithmetic on measures runs in DOUBLE anyway.
                self.measure_expr(expr, scopes)?
            }
            Expr::UnaryOp {
                op: UnaryOperator::Minus,
                expr,
            } => MeasureExpr::Negate(b(self.measure_expr(expr, scopes)?)),
            Expr::BinaryOp { left, op, right } => {
                let a = match op {
                    BinaryOperator::Plus => Arith::Add,
                    BinaryOperator::Minus => Arith::Sub,
                    BinaryOperator::Multiply => Arith::Mul,
                    BinaryOperator::Divide => Arith::Div,
                    other => {
                        return Err(refused(format!(
                            "`{other}` between measures is not part of the language: measures combine by + - * /"
                        )));
                    }
                };
                MeasureExpr::Arith(
                    b(self.measure_expr(left, scopes)?),
                    a,
                    b(self.measure_expr(right, scopes)?),
                )
            }
            _ => {
                let text: String = e.to_string().chars().take(40).collect();
                return Err(refused(format!(
                    "`{text}` mixes row values into an aggregate's arithmetic: group by it, or aggregate it"
                )));
            }
        })
    }

    // ---- SELECT and GROUP BY -------------------------------------------

    fn select(&mut self, select: &Select, scopes: &[Scope]) -> Result<(), QueryError> {
        // Each item: a key expression (no aggregate) or measures.
        enum Item {
            Key(Scalar),
            Measure(MeasureExpr),
        }
        let mut items: Vec<(String, Item)> = Vec::new();
        for item in &select.projection {
            let (expr, alias) = match item {
                SelectItem::UnnamedExpr(e) => (e, None),
                SelectItem::ExprWithAlias { expr, alias } => (expr, Some(user_name(alias)?)),
                _ => {
                    return Err(refused(
                        "this grant allows aggregate results only: name keys and measures, not `*`",
                    ));
                }
            };
            let name = alias.unwrap_or_else(|| default_name(expr));
            let item = if has_aggregate(expr) {
                Item::Measure(self.measure_expr(expr, scopes)?)
            } else {
                if self.is_person_key(expr, scopes) {
                    return Err(refused(
                        "pseudonyms leave only in row-level results, which this grant does not allow; \
                         count them instead (count(DISTINCT pseudonym))",
                    ));
                }
                Item::Key(self.scalar(expr, scopes)?)
            };
            items.push((name, item));
        }
        // GROUP BY: positions, output names, or expressions.
        let (grouped, list, rollup): (bool, Vec<&Expr>, bool) = match &select.group_by {
            GroupByExpr::All(mods) if mods.is_empty() => (true, Vec::new(), false),
            GroupByExpr::Expressions(list, mods) if mods.is_empty() => match list.as_slice() {
                [Expr::Rollup(sets)] => {
                    let mut flat = Vec::new();
                    for set in sets {
                        let [one] = set.as_slice() else {
                            return Err(refused("ROLLUP takes single keys: ROLLUP (a, b)"));
                        };
                        flat.push(one);
                    }
                    (true, flat, true)
                }
                _ => (!list.is_empty(), list.iter().collect(), false),
            },
            _ => {
                return Err(refused(
                    "GROUP BY keys, GROUP BY ALL or GROUP BY ROLLUP (…): no CUBE, GROUPING SETS or modifiers",
                ));
            }
        };
        let all = matches!(select.group_by, GroupByExpr::All(_));
        let mut keys: Vec<Scalar> = Vec::new();
        if all {
            for (_, item) in &items {
                if let Item::Key(k) = item {
                    keys.push(k.clone());
                }
            }
        }
        for g in list {
            if has_aggregate(g) {
                return Err(refused("GROUP BY keys, not aggregates"));
            }
            if let Some(Item::Key(k)) =
                position(g, items.len()).map(|p| &items[p].1).or_else(|| {
                    output_named(
                        g,
                        &items.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
                    )
                    .map(|p| &items[p].1)
                })
            {
                keys.push(k.clone());
                continue;
            }
            if position(g, items.len()).is_some() {
                return Err(refused("GROUP BY a position names a key, not a measure"));
            }
            if self.is_person_key(g, scopes) {
                return Err(refused(
                    "grouping by the person key gives one row per person, which an aggregate grant does not release; \
                     a person-level variable (FROM (SELECT pseudonym, … GROUP BY pseudonym)) describes persons instead",
                ));
            }
            keys.push(self.scalar(g, scopes)?);
        }
        let mut unique: Vec<Scalar> = Vec::new();
        for k in keys {
            if !unique.contains(&k) {
                unique.push(k);
            }
        }
        if unique.len() > 16 {
            return Err(refused("at most 16 keys"));
        }
        self.request.keys = unique;
        self.request.rollup = rollup;
        for (name, item) in items {
            let kind = match item {
                Item::Key(k) => match self.request.keys.iter().position(|x| *x == k) {
                    Some(i) => OutputKind::Key(i),
                    None if !grouped => {
                        return Err(refused(format!(
                            "`{name}`: this grant allows aggregate results only: group by it, or aggregate it"
                        )));
                    }
                    None => {
                        return Err(refused(format!(
                            "`{name}` is neither a GROUP BY key nor an aggregate"
                        )));
                    }
                },
                Item::Measure(m) => OutputKind::Measure(m),
            };
            self.request.outputs.push(Output {
                name,
                kind,
                visible: true,
            });
        }
        Ok(())
    }

    /// The output an expression in HAVING or ORDER BY refers to: a
    /// position (ORDER BY only), an output's name, a key, or measures (a
    /// hidden output when not shown).
    fn operand_output(
        &mut self,
        e: &Expr,
        scopes: &[Scope],
        positions: bool,
    ) -> Result<usize, QueryError> {
        let visible = self.request.outputs.iter().filter(|o| o.visible).count();
        if positions && let Some(p) = position(e, visible) {
            return Ok(p);
        }
        let names: Vec<&str> = self
            .request
            .outputs
            .iter()
            .filter(|o| o.visible)
            .map(|o| o.name.as_str())
            .collect();
        if let Some(p) = output_named(e, &names) {
            return Ok(p);
        }
        let kind = if has_aggregate(e) {
            OutputKind::Measure(self.measure_expr(e, scopes)?)
        } else {
            let k = self.scalar(e, scopes)?;
            match self.request.keys.iter().position(|x| *x == k) {
                Some(i) => OutputKind::Key(i),
                None => {
                    let text: String = e.to_string().chars().take(40).collect();
                    return Err(refused(format!(
                        "`{text}`: HAVING and ORDER BY act on keys and measures only"
                    )));
                }
            }
        };
        if let Some(i) = self.request.outputs.iter().position(|o| o.kind == kind) {
            return Ok(i);
        }
        self.request.outputs.push(Output {
            name: format!("{RESERVED}_h{}", self.request.outputs.len()),
            kind,
            visible: false,
        });
        Ok(self.request.outputs.len() - 1)
    }

    fn having(&mut self, e: &Expr, scopes: &[Scope]) -> Result<Having, QueryError> {
        let b = Box::new;
        Ok(match e {
            Expr::Nested(inner) => self.having(inner, scopes)?,
            Expr::BinaryOp {
                left,
                op: BinaryOperator::And,
                right,
            } => Having::And(
                b(self.having(left, scopes)?),
                b(self.having(right, scopes)?),
            ),
            Expr::BinaryOp {
                left,
                op: BinaryOperator::Or,
                right,
            } => Having::Or(
                b(self.having(left, scopes)?),
                b(self.having(right, scopes)?),
            ),
            Expr::UnaryOp {
                op: UnaryOperator::Not,
                expr,
            } => Having::Not(b(self.having(expr, scopes)?)),
            Expr::IsNull(x) => Having::IsNull(self.operand(x, scopes)?, false),
            Expr::IsNotNull(x) => Having::IsNull(self.operand(x, scopes)?, true),
            Expr::BinaryOp { left, op, right } if cmp(op).is_some() => Having::Compare(
                self.operand(left, scopes)?,
                cmp(op).unwrap_or(Cmp::Eq),
                self.operand(right, scopes)?,
            ),
            _ => {
                return Err(refused(
                    "HAVING compares keys and measures with values (=, <>, <, <=, >, >=, IS NULL), joined by AND, OR, NOT",
                ));
            }
        })
    }

    fn operand(&mut self, e: &Expr, scopes: &[Scope]) -> Result<Operand, QueryError> {
        match e {
            Expr::Value(v) => Ok(Operand::Literal(literal(&v.value)?)),
            Expr::UnaryOp {
                op: UnaryOperator::Minus,
                expr,
            } if matches!(expr.as_ref(), Expr::Value(_)) => match expr.as_ref() {
                Expr::Value(v) => match literal(&v.value)? {
                    Literal::Num(n) => Ok(Operand::Literal(Literal::Num(format!("-{n}")))),
                    _ => Err(refused("`-` goes before a number")),
                },
                _ => Err(refused("`-` goes before a number")),
            },
            _ => Ok(Operand::Output(self.operand_output(e, scopes, false)?)),
        }
    }

    fn order_and_limit(&mut self, query: &Query, scopes: &[Scope]) -> Result<(), QueryError> {
        if let Some(order) = &query.order_by {
            let OrderByKind::Expressions(list) = &order.kind else {
                return Err(refused("ORDER BY lists keys or measures (not ALL)"));
            };
            if order.interpolate.is_some() {
                return Err(refused(
                    "ORDER BY … INTERPOLATE is not part of the language",
                ));
            }
            for item in list {
                if item.with_fill.is_some() {
                    return Err(refused("ORDER BY … WITH FILL is not part of the language"));
                }
                let output = self.operand_output(&item.expr, scopes, true)?;
                let descending = match &item.options.sort {
                    None | Some(OrderBySort::Asc) => false,
                    Some(OrderBySort::Desc) => true,
                    Some(OrderBySort::Using(_)) => {
                        return Err(refused("ORDER BY … USING is not part of the language"));
                    }
                };
                self.request.order.push(Order {
                    output,
                    descending,
                    nulls_first: item.options.nulls_first,
                });
            }
        }
        let count = |e: &Expr, what: &str| -> Result<u64, QueryError> {
            match e {
                Expr::Value(v) => match &v.value {
                    Value::Number(n, _) => n
                        .parse()
                        .map_err(|_| refused(format!("{what} takes a whole number"))),
                    _ => Err(refused(format!("{what} takes a whole number"))),
                },
                _ => Err(refused(format!("{what} takes a whole number"))),
            }
        };
        match &query.limit_clause {
            None => {}
            Some(LimitClause::LimitOffset {
                limit,
                offset,
                limit_by,
            }) if limit_by.is_empty() => {
                if let Some(l) = limit {
                    self.request.limit = Some(count(l, "LIMIT")?);
                }
                if let Some(o) = offset {
                    self.request.offset = count(&o.value, "OFFSET")?;
                }
            }
            Some(_) => return Err(refused("write LIMIT n [OFFSET m]")),
        }
        if query.fetch.is_some() {
            return Err(refused("FETCH is not part of the language: write LIMIT n"));
        }
        Ok(())
    }
}

const AGGREGATE_NAMES: &[&str] = &[
    "count",
    "count_if",
    "sum",
    "avg",
    "mean",
    "min",
    "max",
    "median",
    "quantile_cont",
    "quantile_disc",
    "quantile",
    "mode",
    "stddev",
    "stddev_samp",
    "stddev_pop",
    "variance",
    "var_samp",
    "var_pop",
    "list",
    "array_agg",
    "string_agg",
    "group_concat",
    "first",
    "last",
    "any_value",
    "arg_min",
    "arg_max",
    "argmin",
    "argmax",
    "min_by",
    "max_by",
    "bit_or",
    "bit_and",
    "bit_xor",
    "bool_or",
    "bool_and",
    "product",
    "histogram",
    "approx_count_distinct",
    "approx_quantile",
    "reservoir_quantile",
    "entropy",
    "kurtosis",
    "skewness",
    "corr",
    "covar_pop",
    "covar_samp",
    "regr_slope",
    "fsum",
    "sumkahan",
    "kahan_sum",
    "favg",
    "bitstring_agg",
];

fn is_aggregate_call(f: &Function) -> bool {
    single(&f.name).is_some_and(|n| AGGREGATE_NAMES.contains(&n.as_str()))
}

/// Whether an expression holds an aggregate call (outside subqueries).
fn has_aggregate(e: &Expr) -> bool {
    use sqlparser::ast::{Visit, Visitor};
    use std::ops::ControlFlow;
    struct Finder;
    impl Visitor for Finder {
        type Break = ();
        fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<()> {
            match e {
                Expr::Function(f) if is_aggregate_call(f) => ControlFlow::Break(()),
                _ => ControlFlow::Continue(()),
            }
        }
        fn pre_visit_query(&mut self, _q: &Query) -> ControlFlow<()> {
            ControlFlow::Continue(())
        }
    }
    e.visit(&mut Finder).is_break()
}

/// The parts of a query the language has no use for are absent.
fn plain_query(query: &Query, outer: bool) -> Result<(), QueryError> {
    let extra = !query.locks.is_empty()
        || query.for_clause.is_some()
        || query.settings.is_some()
        || query.format_clause.is_some()
        || !query.pipe_operators.is_empty();
    if extra {
        return Err(refused(format!(
            "this query form is not part of the language; {GUIDE}"
        )));
    }
    if !outer && (query.order_by.is_some() || query.limit_clause.is_some() || query.fetch.is_some())
    {
        return Err(refused(
            "ORDER BY, LIMIT and OFFSET belong to the outer query: a subquery cannot pick rows",
        ));
    }
    Ok(())
}

fn plain_select(select: &Select) -> Result<(), QueryError> {
    if let Some(d) = &select.distinct {
        return Err(refused(match d {
            Distinct::Distinct => {
                "SELECT DISTINCT over an aggregate query: group by the columns it shows instead"
            }
            _ => "DISTINCT ON is not part of the language: group by the columns instead",
        }));
    }
    let extra = select.top.is_some()
        || select.into.is_some()
        || !select.lateral_views.is_empty()
        || select.prewhere.is_some()
        || !select.connect_by.is_empty()
        || !select.cluster_by.is_empty()
        || !select.distribute_by.is_empty()
        || !select.sort_by.is_empty()
        || !select.named_window.is_empty()
        || select.qualify.is_some()
        || select.value_table_mode.is_some()
        || select.exclude.is_some()
        || !select.optimizer_hints.is_empty()
        || select.select_modifiers.is_some();
    if extra {
        return Err(refused(format!(
            "this SELECT form (QUALIFY, WINDOW, TOP, INTO, …) is not part of the language; {GUIDE}"
        )));
    }
    Ok(())
}

fn plain_args(f: &Function) -> Result<Vec<Expr>, QueryError> {
    let name = f.name.to_string();
    let FunctionArguments::List(list) = &f.args else {
        return Err(refused(format!(
            "`{name}` needs its arguments in parentheses"
        )));
    };
    if list.duplicate_treatment.is_some() || !list.clauses.is_empty() {
        return Err(refused(format!(
            "`{name}`: DISTINCT or clauses are for aggregates"
        )));
    }
    list.args
        .iter()
        .map(|a| arg_expr(a).ok_or_else(|| refused(format!("`{name}` takes plain arguments"))))
        .collect()
}

/// A function argument as an expression. DuckDB's dialect reads
/// `f(a = b)` as a named argument; in the language it is a comparison.
fn arg_expr(a: &FunctionArg) -> Option<Expr> {
    match a {
        FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e.clone()),
        FunctionArg::Named {
            name,
            arg: FunctionArgExpr::Expr(e),
            operator: ast::FunctionArgOperator::Equals,
        } => Some(Expr::BinaryOp {
            left: Box::new(Expr::Identifier(name.clone())),
            op: BinaryOperator::Eq,
            right: Box::new(e.clone()),
        }),
        _ => None,
    }
}

/// A one-part object name, lower case.
fn single(name: &ObjectName) -> Option<String> {
    match name.0.as_slice() {
        [ObjectNamePart::Identifier(ident)] => Some(ident.value.to_lowercase()),
        _ => None,
    }
}

/// A name the query defines: bounded, plain, not the platform's.
fn user_name(ident: &Ident) -> Result<String, QueryError> {
    let name = ident.value.to_lowercase();
    if name.is_empty() || name.chars().count() > 63 {
        return Err(refused("a name is 1 to 63 characters"));
    }
    if name.chars().any(|c| c.is_control() || c == '"') {
        return Err(refused("a name holds no quotes or control characters"));
    }
    if name.starts_with(RESERVED) {
        return Err(refused(format!(
            "`{name}`: names beginning with `{RESERVED}` are the platform's own"
        )));
    }
    Ok(name)
}

fn table_alias(alias: &ast::TableAlias) -> Result<String, QueryError> {
    if !alias.columns.is_empty() {
        return Err(refused(
            "a table alias renames no columns: write `t AS x`, not `t AS x(a, b)`",
        ));
    }
    user_name(&alias.name)
}

fn literal(v: &Value) -> Result<Literal, QueryError> {
    Ok(match v {
        Value::Number(n, false) => {
            let valid = n.parse::<f64>().is_ok_and(f64::is_finite)
                && n.chars()
                    .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '-' | '+'));
            if !valid || n.len() > 40 {
                return Err(refused("a number literal is plain digits"));
            }
            Literal::Num(n.clone())
        }
        Value::SingleQuotedString(s) => {
            if s.len() > 1000 {
                return Err(refused("a text literal is at most 1000 bytes"));
            }
            Literal::Text(s.clone())
        }
        Value::Boolean(b) => Literal::Bool(*b),
        Value::Null => Literal::Null,
        _ => {
            return Err(refused(
                "literals are numbers, 'text', DATE 'YYYY-MM-DD', TRUE, FALSE or NULL",
            ));
        }
    })
}

fn cmp(op: &BinaryOperator) -> Option<Cmp> {
    Some(match op {
        BinaryOperator::Eq => Cmp::Eq,
        BinaryOperator::NotEq => Cmp::Ne,
        BinaryOperator::Lt => Cmp::Lt,
        BinaryOperator::LtEq => Cmp::Le,
        BinaryOperator::Gt => Cmp::Gt,
        BinaryOperator::GtEq => Cmp::Ge,
        _ => return None,
    })
}

fn cast_to(t: &DataType) -> Result<CastTo, QueryError> {
    let name = t.to_string().to_uppercase();
    let base = name.split('(').next().unwrap_or("").trim();
    Ok(match base {
        "INT" | "INTEGER" | "BIGINT" | "SMALLINT" | "TINYINT" | "INT2" | "INT4" | "INT8"
        | "HUGEINT" => CastTo::Integer,
        "DOUBLE" | "FLOAT" | "REAL" | "DECIMAL" | "NUMERIC" | "FLOAT4" | "FLOAT8" => CastTo::Double,
        "VARCHAR" | "TEXT" | "STRING" | "CHAR" => CastTo::Text,
        "DATE" => CastTo::Date,
        "BOOLEAN" | "BOOL" => CastTo::Bool,
        _ => {
            return Err(refused(
                "casts go to INTEGER, DOUBLE, VARCHAR, DATE or BOOLEAN",
            ));
        }
    })
}

/// A 1-based position, `GROUP BY 1` / `ORDER BY 2`.
fn position(e: &Expr, items: usize) -> Option<usize> {
    match e {
        Expr::Value(v) => match &v.value {
            Value::Number(n, _) => n
                .parse::<usize>()
                .ok()
                .filter(|p| (1..=items).contains(p))
                .map(|p| p - 1),
            _ => None,
        },
        _ => None,
    }
}

/// The output an unqualified name names.
fn output_named(e: &Expr, names: &[&str]) -> Option<usize> {
    match e {
        Expr::Identifier(i) => {
            let n = i.value.to_lowercase();
            names.iter().position(|x| *x == n)
        }
        _ => None,
    }
}

/// The name an unnamed output takes: a column's own name, or the text.
fn default_name(e: &Expr) -> String {
    let text = match e {
        Expr::Identifier(i) => i.value.to_lowercase(),
        Expr::CompoundIdentifier(p) => p.last().map_or(String::new(), |i| i.value.to_lowercase()),
        other => other.to_string(),
    };
    text.chars().take(63).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shapes() -> Vec<TableShape> {
        vec![
            TableShape {
                view: "persons".into(),
                columns: vec![
                    ("pseudonym".into(), Ty::Text),
                    ("age".into(), Ty::Num),
                    ("sex".into(), Ty::Text),
                ],
            },
            TableShape {
                view: "claims".into(),
                columns: vec![
                    ("pseudonym".into(), Ty::Text),
                    ("code".into(), Ty::Text),
                    ("points".into(), Ty::Num),
                ],
            },
        ]
    }

    fn refusal(sql: &str) -> String {
        match parse(sql, &shapes()) {
            Err(QueryError::Refused(r)) => r,
            other => panic!("{sql}: {other:?}"),
        }
    }

    #[test]
    fn count_if_is_a_filtered_row_count() {
        let a = parse(
            "SELECT sex, count_if(age > 90) FROM persons GROUP BY sex",
            &shapes(),
        )
        .unwrap();
        let b = parse(
            "SELECT sex, count(*) FILTER (WHERE age > 90) FROM persons GROUP BY sex",
            &shapes(),
        )
        .unwrap();
        assert_eq!(a.measures, b.measures);
        assert_eq!(a.measures[0].aggregate, Aggregate::Rows);
    }

    #[test]
    fn each_channel_is_refused_with_what_to_write() {
        for (sql, says) in [
            (
                "SELECT sex, sum(CASE WHEN age > 90 THEN 1 ELSE 0 END) FROM persons GROUP BY sex",
                "FILTER",
            ),
            ("SELECT sex, count(*) OVER () FROM persons", "window"),
            (
                "SELECT upper(pseudonym) AS p, count(*) FROM persons GROUP BY 1",
                "person key",
            ),
            (
                "SELECT count(*) FROM (SELECT * FROM persons LIMIT 1) p",
                "pick rows",
            ),
            (
                "SELECT count(*) FROM (SELECT sex AS pseudonym FROM persons) p",
                "person-level",
            ),
            (
                "SELECT count(*) FROM duckdb_columns AS duckdb_columns(a, b)",
                "renames no columns",
            ),
            ("SELECT count(*) FROM persons, claims", "JOIN"),
            (
                "SELECT count(*) FROM persons p JOIN claims c ON p.age = c.points",
                "person key",
            ),
            (
                "SELECT pseudonym, count(*) FROM persons GROUP BY pseudonym",
                "row-level",
            ),
            ("SELECT sex FROM persons", "aggregate"),
            (
                "SELECT sex, count(DISTINCT code) FROM claims GROUP BY sex",
                "not in this project",
            ),
            (
                "SELECT code, count(DISTINCT points) FROM claims GROUP BY code",
                "count(DISTINCT pseudonym)",
            ),
            (
                "SELECT code, stddev(points) FROM claims GROUP BY code",
                "not a measure",
            ),
        ] {
            let r = refusal(sql);
            assert!(r.contains(says), "{sql}: {r}");
        }
    }

    #[test]
    fn a_refusal_quoting_a_long_name_is_bounded() {
        let name = "t".repeat(5000);
        let r = refusal(&format!("SELECT count(*) FROM {name}"));
        assert!(r.chars().count() <= 401, "{}", r.len());
    }

    #[test]
    fn having_and_order_add_hidden_outputs() {
        let r = parse(
            "SELECT sex, count(*) AS n FROM persons GROUP BY sex HAVING sum(age) > 100 ORDER BY n DESC LIMIT 5",
            &shapes(),
        )
        .unwrap();
        assert_eq!(r.outputs.len(), 3);
        assert!(!r.outputs[2].visible);
        assert_eq!(r.order[0].output, 1);
        assert_eq!(r.limit, Some(5));
    }
}
