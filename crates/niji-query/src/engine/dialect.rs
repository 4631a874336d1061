//! The platform's SQL in each engine's dialect.
//!
//! The platform writes DuckDB's dialect (`crate::plan`). For Apache
//! DataFusion the statement is parsed once more and every function call
//! is mapped from a closed table: the same name where DataFusion's
//! function means the same, a rewrite where it is spelled differently
//! (`year(d)` → `date_part('year', d)`, `list(x)` → `array_agg(x)`, …),
//! and a refusal that names the construct where DataFusion has nothing
//! equivalent. A function the table does not list is refused too, so a
//! function added to the platform's SQL later can never reach the cluster
//! with a meaning of its own.

use crate::QueryError;
use sqlparser::ast::{
    Expr, Function, FunctionArg, FunctionArgExpr, FunctionArguments, Statement,
    visit_expressions_mut,
};
use sqlparser::dialect::{DuckDbDialect, GenericDialect};
use sqlparser::parser::Parser;
use std::ops::ControlFlow;

/// What an engine cannot run, as the researcher reads it.
fn unavailable(construct: &str, instead: &str) -> QueryError {
    QueryError::Refused(format!(
        "{construct} is not available on this platform's cluster engine; {instead}"
    ))
}

/// Functions DataFusion runs under the same name with the same meaning.
const SAME: &[&str] = &[
    "count",
    "sum",
    "avg",
    "min",
    "max",
    "coalesce",
    "lower",
    "upper",
    "trim",
    "length",
    "left",
    "substr",
    "starts_with",
    "abs",
    "floor",
    "ceil",
    "round",
    "greatest",
    "least",
    "grouping",
    "row_number",
    "random",
    "date_trunc",
];

/// DuckDB SQL the platform wrote, in DataFusion's dialect.
pub fn to_datafusion(sql: &str) -> Result<String, QueryError> {
    let mut statements = Parser::parse_sql(&DuckDbDialect {}, sql)
        .map_err(|e| QueryError::Internal(format!("the platform's SQL does not parse: {e}")))?;
    if statements.len() != 1 || !matches!(statements[0], Statement::Query(_)) {
        return Err(QueryError::Internal(
            "the platform's SQL is one query".into(),
        ));
    }
    let flow = visit_expressions_mut(&mut statements, |expr| match rewrite(expr) {
        Ok(Some(new)) => {
            *expr = new;
            ControlFlow::Continue(())
        }
        Ok(None) => ControlFlow::Continue(()),
        Err(e) => ControlFlow::Break(e),
    });
    if let ControlFlow::Break(e) = flow {
        return Err(e);
    }
    Ok(statements[0].to_string())
}

/// The expression DataFusion reads for `expr` (its parts already
/// rewritten); None when it stays as it is.
fn rewrite(expr: &Expr) -> Result<Option<Expr>, QueryError> {
    match expr {
        Expr::Function(f) => function(f),
        Expr::CompoundFieldAccess { .. } => {
            Err(unavailable("a subscript", "the embedded engine runs it"))
        }
        _ => Ok(None),
    }
}

/// A function's lower-case name, its plain arguments and its FILTER
/// clause as text.
struct Call<'a> {
    name: String,
    args: Vec<&'a Expr>,
    filter: String,
    distinct: bool,
}

fn call(f: &Function) -> Result<Call<'_>, QueryError> {
    let mut args = Vec::new();
    let mut distinct = false;
    match &f.args {
        FunctionArguments::None => {}
        FunctionArguments::List(list) => {
            distinct = list.duplicate_treatment.is_some();
            for a in &list.args {
                match a {
                    FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => args.push(e),
                    FunctionArg::Unnamed(FunctionArgExpr::Wildcard) => {}
                    _ => return Err(QueryError::Internal(format!("an argument of {}", f.name))),
                }
            }
        }
        FunctionArguments::Subquery(_) => {
            return Err(QueryError::Internal(format!(
                "a subquery argument of {}",
                f.name
            )));
        }
    }
    Ok(Call {
        name: f.name.to_string().to_lowercase(),
        args,
        filter: f
            .filter
            .as_ref()
            .map_or(String::new(), |w| format!(" FILTER (WHERE {w})")),
        distinct,
    })
}

fn parse(text: &str) -> Result<Expr, QueryError> {
    Parser::new(&GenericDialect {})
        .try_with_sql(text)
        .and_then(|mut p| p.parse_expr())
        .map_err(|e| QueryError::Internal(format!("a rewrite does not parse: {e}")))
}

fn function(f: &Function) -> Result<Option<Expr>, QueryError> {
    let c = call(f)?;
    let arg = |i: usize| {
        c.args
            .get(i)
            .map_or_else(|| "NULL".to_owned(), |a| a.to_string())
    };
    let text = match (c.name.as_str(), c.args.len()) {
        (name, _) if SAME.contains(&name) => return Ok(None),
        // Person keys are compared as themselves; DuckDB hashes them only
        // to count faster.
        ("hash", 1) => arg(0),
        // Plain lists, as on DuckDB: DISTINCT would ship each person once
        // per cell rather than once per row, but made the full scans of
        // 10⁸ claims four times slower (9.7 s against 42 s); the gate
        // removes repeats.
        ("list", 1) => format!("array_agg({}){}", arg(0), c.filter),
        ("year" | "month" | "quarter" | "day", 1) => {
            format!("CAST(date_part('{}', {}) AS BIGINT)", c.name, arg(0))
        }
        ("date_diff", 3) => date_diff(c.args[0], &arg(1), &arg(2))?,
        // DataFusion's median keeps an integer column's type; DuckDB's
        // interpolates in DOUBLE.
        ("median", 1) => format!("median(CAST({} AS DOUBLE)){}", arg(0), c.filter),
        ("quantile_cont", 2) => format!(
            "percentile_cont({}) WITHIN GROUP (ORDER BY CAST({} AS DOUBLE)){}",
            arg(1),
            arg(0),
            c.filter
        ),
        ("quantile_disc", _) => {
            return Err(unavailable(
                "quantile_disc",
                "write quantile_cont (or median), which it computes the same way",
            ));
        }
        ("bit_count" | "bit_or", _) => {
            return Err(QueryError::Internal(
                "person buckets are not counted on the cluster engine".into(),
            ));
        }
        (name, _) => {
            return Err(unavailable(
                &format!("the function `{name}`"),
                "the embedded engine runs it",
            ));
        }
    };
    if c.distinct {
        return Err(QueryError::Internal(format!("DISTINCT in {}", c.name)));
    }
    parse(&text).map(Some)
}

/// DuckDB's `date_diff(unit, a, b)` on dates: boundaries crossed for
/// years, quarters and months; whole days, and whole weeks of them
/// (truncated toward zero), otherwise.
fn date_diff(unit: &Expr, a: &str, b: &str) -> Result<String, QueryError> {
    let unit = match unit {
        Expr::Value(v) => v.to_string().trim_matches('\'').to_lowercase(),
        _ => String::new(),
    };
    let part = |p: &str, d: &str| format!("CAST(date_part('{p}', {d}) AS BIGINT)");
    let days = |d: &str| format!("CAST(CAST({d} AS INT) AS BIGINT)");
    let periods = |per_year: u32, p: &str| {
        format!(
            "(({} * {per_year} + {}) - ({} * {per_year} + {}))",
            part("year", b),
            part(p, b),
            part("year", a),
            part(p, a)
        )
    };
    Ok(match unit.as_str() {
        "year" => format!("({} - {})", part("year", b), part("year", a)),
        "quarter" => periods(4, "quarter"),
        "month" => periods(12, "month"),
        "day" => format!("({} - {})", days(b), days(a)),
        "week" => format!("(({} - {}) / 7)", days(b), days(a)),
        other => {
            return Err(unavailable(
                &format!("date_diff in `{other}`"),
                "the unit is one of 'year', 'quarter', 'month', 'week', 'day'",
            ));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::to_datafusion;

    fn translated(sql: &str) -> String {
        to_datafusion(sql).unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    #[test]
    fn functions_take_their_datafusion_spelling() {
        let out = translated(
            "SELECT year(TRY_CAST(\"a\".\"start\" AS DATE)) AS \"__niji_k0\", count(DISTINCT hash(\"a\".\"pseudonym\")) FILTER (WHERE x > 1), \
             list(\"a\".\"__niji_person\") AS \"__niji_persons0\", median(\"a\".\"age\"), quantile_cont(\"a\".\"age\", 0.25) \
             FROM \"claims\" AS \"a\" GROUP BY ROLLUP (1)",
        );
        assert!(
            out.contains("CAST(date_part('year', TRY_CAST(\"a\".\"start\" AS DATE)) AS BIGINT)"),
            "{out}"
        );
        assert!(
            out.contains("count(DISTINCT \"a\".\"pseudonym\") FILTER (WHERE x > 1)"),
            "{out}"
        );
        assert!(out.contains("array_agg(\"a\".\"__niji_person\")"), "{out}");
        assert!(
            out.contains("median(CAST(\"a\".\"age\" AS DOUBLE))"),
            "{out}"
        );
        assert!(
            out.contains(
                "percentile_cont(0.25) WITHIN GROUP (ORDER BY CAST(\"a\".\"age\" AS DOUBLE))"
            ),
            "{out}"
        );
        assert!(!out.to_lowercase().contains("hash("), "{out}");
    }

    #[test]
    fn date_differences_count_as_duckdb_counts() {
        let out = translated("SELECT date_diff('month', a, b), date_diff('week', a, b) FROM t");
        assert!(out.contains("* 12"), "{out}");
        assert!(out.contains("/ 7"), "{out}");
    }

    #[test]
    fn what_datafusion_lacks_is_refused_by_name() {
        let e = to_datafusion("SELECT quantile_disc(x, 0.5) FROM t")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("quantile_disc") && e.contains("quantile_cont"),
            "{e}"
        );
        let e = to_datafusion("SELECT regexp_matches(x, 'a') FROM t")
            .unwrap_err()
            .to_string();
        assert!(e.contains("`regexp_matches`"), "{e}");
        let e = to_datafusion("SELECT list(x)[1] FROM t")
            .unwrap_err()
            .to_string();
        assert!(e.contains("subscript"), "{e}");
    }
}
