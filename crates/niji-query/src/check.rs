//! The SQL gate: a researcher's text is parsed (DuckDB dialect) and
//! accepted only as one read-only `SELECT`/`WITH` whose every table,
//! column and function is on the allowlist of the grant. Nothing reaches
//! DuckDB before this says yes.

use crate::QueryError;
use sqlparser::ast::{
    Expr, FunctionArguments, GroupByExpr, ObjectName, ObjectNamePart, Query, Select, SelectItem,
    SetExpr, TableFactor, Visit, Visitor,
};
use std::collections::BTreeSet;
use std::ops::ControlFlow;

/// The column every release table carries: the person's release pseudonym.
pub const PSEUDONYM: &str = "pseudonym";

/// How the names of the platform's hidden columns and views begin; no
/// query may define one.
pub const RESERVED: &str = "__niji";

/// The longest SQL text accepted.
pub const MAX_SQL_BYTES: usize = 64 * 1024;

/// Aggregates: what makes an output row a summary of many rows.
const AGGREGATES: &[&str] = &[
    "count",
    "sum",
    "avg",
    "mean",
    "stddev",
    "stddev_samp",
    "stddev_pop",
    "variance",
    "var_samp",
    "var_pop",
    "count_if",
    // Order statistics reveal one person's value: found by `extremes`.
    "min",
    "max",
    "median",
    "quantile_cont",
    "quantile_disc",
    "mode",
];

/// Aggregates whose result is one person's own value.
pub const EXTREMES: &[&str] = &[
    "min",
    "max",
    "median",
    "quantile_cont",
    "quantile_disc",
    "mode",
];

/// Scalar functions a query may call: arithmetic, text and dates. Nothing
/// that reads files, settings, the catalog or the clock.
const SCALARS: &[&str] = &[
    "abs",
    "round",
    "floor",
    "ceil",
    "ceiling",
    "greatest",
    "least",
    "coalesce",
    "nullif",
    "ifnull",
    "lower",
    "upper",
    "length",
    "substr",
    "substring",
    "left",
    "right",
    "prefix",
    "starts_with",
    "concat",
    "trim",
    "replace",
    "year",
    "month",
    "day",
    "quarter",
    "date_trunc",
    "date_part",
    "date_diff",
    "datediff",
    "strftime",
    "make_date",
];

/// Whether `name` (lower case) is an aggregate function.
pub fn is_aggregate_name(name: &str) -> bool {
    AGGREGATES.contains(&name)
}

/// What the gate found in an accepted query.
#[derive(Debug, Clone)]
pub struct Checked {
    /// The parsed statement.
    pub query: Query,
    /// The granted tables it reads.
    pub tables: BTreeSet<String>,
    /// Whether its outermost `SELECT` aggregates (GROUP BY or aggregates
    /// only); otherwise its rows are rows of the release.
    pub aggregate: bool,
    /// Order statistics it computes (`min`, `max`, …).
    pub extremes: BTreeSet<String>,
}

/// The tables and columns a grant allows, by the names queries use.
pub trait Allowlist {
    /// Whether `table` is a granted table (view) name.
    fn has_table(&self, table: &str) -> bool;
    /// Whether `column` is granted in some table (or is the pseudonym).
    fn has_column(&self, column: &str) -> bool;
}

fn refused(reason: impl Into<String>) -> QueryError {
    QueryError::Refused(reason.into())
}

/// Parses and checks `sql` against `allow`.
pub fn check(sql: &str, allow: &dyn Allowlist) -> Result<Checked, QueryError> {
    let query = crate::language::parse_query(sql)?;
    let mut names = Names::default();
    let _ = query.visit(&mut names);
    // The platform's own columns and views go by these names; a query
    // that defined one could be mistaken for them.
    if let Some(name) = names
        .relations
        .iter()
        .chain(&names.columns)
        .find(|n| n.starts_with(RESERVED))
    {
        return Err(refused(format!(
            "`{name}`: names beginning with `{RESERVED}` are the platform's own"
        )));
    }
    let mut gate = Gate {
        allow,
        names: &names,
        tables: BTreeSet::new(),
        extremes: BTreeSet::new(),
        refusal: None,
    };
    if let ControlFlow::Break(()) = query.visit(&mut gate) {
        return Err(gate
            .refusal
            .unwrap_or_else(|| refused("the query was refused")));
    }
    Ok(Checked {
        aggregate: is_aggregate(&query),
        tables: gate.tables,
        extremes: gate.extremes,
        query,
    })
}

/// Names the query itself defines: CTEs, table and column aliases.
#[derive(Default)]
struct Names {
    relations: BTreeSet<String>,
    columns: BTreeSet<String>,
}

impl Visitor for Names {
    type Break = ();

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<()> {
        if let Some(with) = &query.with {
            for cte in &with.cte_tables {
                self.relations.insert(cte.alias.name.value.to_lowercase());
                for c in &cte.alias.columns {
                    self.columns.insert(c.name.value.to_lowercase());
                }
            }
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_select(&mut self, select: &Select) -> ControlFlow<()> {
        for item in &select.projection {
            if let SelectItem::ExprWithAlias { alias, .. } = item {
                self.columns.insert(alias.value.to_lowercase());
            }
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<()> {
        let alias = match factor {
            TableFactor::Table { alias, .. }
            | TableFactor::Derived { alias, .. }
            | TableFactor::NestedJoin { alias, .. } => alias.as_ref(),
            _ => None,
        };
        if let Some(alias) = alias {
            self.relations.insert(alias.name.value.to_lowercase());
            for c in &alias.columns {
                self.columns.insert(c.name.value.to_lowercase());
            }
        }
        ControlFlow::Continue(())
    }
}

struct Gate<'a> {
    allow: &'a dyn Allowlist,
    names: &'a Names,
    tables: BTreeSet<String>,
    extremes: BTreeSet<String>,
    refusal: Option<QueryError>,
}

impl Gate<'_> {
    fn refuse(&mut self, reason: String) -> ControlFlow<()> {
        self.refusal = Some(refused(reason));
        ControlFlow::Break(())
    }

    fn column_known(&self, column: &str) -> bool {
        let column = column.to_lowercase();
        column == PSEUDONYM
            || self.allow.has_column(&column)
            || self.names.columns.contains(&column)
    }
}

fn single_name(name: &ObjectName) -> Option<String> {
    match name.0.as_slice() {
        [ObjectNamePart::Identifier(ident)] => Some(ident.value.to_lowercase()),
        _ => None,
    }
}

impl Visitor for Gate<'_> {
    type Break = ();

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<()> {
        if query.with.as_ref().is_some_and(|w| w.recursive) {
            return self.refuse("recursive queries (WITH RECURSIVE) are not allowed".into());
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<()> {
        match factor {
            TableFactor::Table { name, args, .. } => {
                if args.is_some() {
                    return self.refuse(format!("table functions are not allowed (`{name}`)"));
                }
                ControlFlow::Continue(())
            }
            TableFactor::Derived { .. } | TableFactor::NestedJoin { .. } => {
                ControlFlow::Continue(())
            }
            other => {
                let text = other.to_string();
                let head: String = text.chars().take(40).collect();
                self.refuse(format!("this kind of FROM item is not allowed: `{head}`"))
            }
        }
    }

    fn pre_visit_relation(&mut self, relation: &ObjectName) -> ControlFlow<()> {
        let Some(name) = single_name(relation) else {
            return self.refuse(format!(
                "table `{relation}` is not in this project's grant (use the plain table names it lists)"
            ));
        };
        if self.allow.has_table(&name) {
            self.tables.insert(name);
            ControlFlow::Continue(())
        } else if self.names.relations.contains(&name) {
            ControlFlow::Continue(())
        } else {
            self.refuse(format!("table `{name}` is not in this project's grant"))
        }
    }

    fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<()> {
        match expr {
            Expr::Function(f) => {
                let Some(name) = single_name(&f.name) else {
                    return self.refuse(format!("function `{}` is not allowed", f.name));
                };
                if !(AGGREGATES.contains(&name.as_str()) || SCALARS.contains(&name.as_str())) {
                    return self.refuse(format!("function `{name}` is not allowed"));
                }
                if matches!(f.args, FunctionArguments::Subquery(_)) {
                    return self.refuse(format!("`{name}` over a bare subquery is not allowed"));
                }
                if EXTREMES.contains(&name.as_str()) {
                    self.extremes.insert(name);
                }
                ControlFlow::Continue(())
            }
            Expr::Identifier(ident) => {
                if self.column_known(&ident.value) {
                    ControlFlow::Continue(())
                } else {
                    self.refuse(format!(
                        "column `{}` is not in this project's grant",
                        ident.value
                    ))
                }
            }
            Expr::CompoundIdentifier(parts) => {
                let known = match parts.as_slice() {
                    [relation, column] => {
                        let relation = relation.value.to_lowercase();
                        (self.allow.has_table(&relation)
                            || self.names.relations.contains(&relation))
                            && self.column_known(&column.value)
                    }
                    _ => false,
                };
                if known {
                    ControlFlow::Continue(())
                } else {
                    let name: Vec<&str> = parts.iter().map(|p| p.value.as_str()).collect();
                    self.refuse(format!(
                        "column `{}` is not in this project's grant",
                        name.join(".")
                    ))
                }
            }
            _ => ControlFlow::Continue(()),
        }
    }
}

/// Whether a query's result rows summarize groups: its outermost `SELECT`
/// has a GROUP BY, or every output is an aggregate.
fn is_aggregate(query: &Query) -> bool {
    let SetExpr::Select(select) = query.body.as_ref() else {
        return false;
    };
    let grouped = match &select.group_by {
        GroupByExpr::All(_) => true,
        GroupByExpr::Expressions(exprs, _) => !exprs.is_empty(),
    };
    grouped
        || (!select.projection.is_empty()
            && select.projection.iter().all(|item| match item {
                SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => {
                    is_aggregate_call(e)
                }
                _ => false,
            }))
}

fn is_aggregate_call(expr: &Expr) -> bool {
    match expr {
        Expr::Function(f) => {
            f.over.is_none()
                && single_name(&f.name).is_some_and(|n| AGGREGATES.contains(&n.as_str()))
        }
        Expr::Nested(e) => is_aggregate_call(e),
        Expr::Cast { expr, .. } => is_aggregate_call(expr),
        Expr::BinaryOp { left, right, .. } => {
            is_aggregate_call(left) && (is_aggregate_call(right) || is_literal(right))
                || is_literal(left) && is_aggregate_call(right)
        }
        _ => false,
    }
}

fn is_literal(expr: &Expr) -> bool {
    matches!(expr, Expr::Value(_))
}
