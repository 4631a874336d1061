//! The engine step: a plan's passes run in the sandbox, cheapest first,
//! until one settles the persons of every row and every number; then, where
//! the rule set has concentration rules, each additive number's largest
//! contributions.

use crate::QueryError;
use crate::disclosure::{Computed, Shares};
use crate::language::OutputKind;
use crate::plan::{Counting, Plan};
use crate::sandbox::{Cell, Kind, Sandbox};
use std::collections::{BTreeMap, HashMap};

/// A computed result: its rows, each output's kind, and how persons were
/// settled.
pub(crate) struct Engined {
    pub rows: Vec<Computed>,
    pub kinds: Vec<Kind>,
    pub counting: Counting,
}

/// Runs `plan`, settling every person count against the minimum `min`.
pub(crate) fn run(plan: &Plan, sandbox: &Sandbox, min: u64) -> Result<Engined, QueryError> {
    let sets = plan.sets();
    for counting in plan.passes() {
        let result = sandbox.run(&plan.sql(counting))?;
        let layout = plan.layout(counting);
        let request = plan.request;
        let kinds = request
            .outputs
            .iter()
            .enumerate()
            .map(|(o, out)| match out.kind {
                OutputKind::Key(k) => result.kinds[k],
                OutputKind::Measure(_) => {
                    let at = layout.measure_outputs.iter().position(|x| *x == o);
                    result.kinds[layout.keys + at.unwrap_or(0)]
                }
            })
            .collect();
        let mut rows = Vec::with_capacity(result.rows.len());
        let mut settled_all = true;
        for row in result.rows {
            let keys = row[..layout.keys].to_vec();
            let outputs = request
                .outputs
                .iter()
                .enumerate()
                .map(|(o, out)| match out.kind {
                    OutputKind::Key(k) => keys[k].clone(),
                    OutputKind::Measure(_) => {
                        let at = layout.measure_outputs.iter().position(|x| *x == o);
                        row[layout.keys + at.unwrap_or(0)].clone()
                    }
                })
                .collect();
            let first = layout.keys + layout.measure_outputs.len();
            let measures = row[first..first + layout.measures].to_vec();
            let figures = |which: usize| -> Result<Option<Vec<u64>>, QueryError> {
                layout
                    .figures(which)
                    .map(|range| row[range].iter().map(count).collect())
                    .transpose()
            };
            let (rows_fig, buckets, exact) = (figures(0)?, figures(1)?, figures(2)?);
            let persons: Option<Vec<u64>> = match exact {
                Some(exact) => Some(exact),
                None => (0..=layout.sets)
                    .map(|i| {
                        settle(
                            buckets.as_ref().map(|b| b[i]),
                            rows_fig
                                .as_ref()
                                .zip(plan.aids.most_rows)
                                .map(|(n, most)| (n[i], most)),
                            min,
                        )
                    })
                    .collect(),
            };
            let Some(persons) = persons else {
                settled_all = false;
                break;
            };
            let grouping = match layout.grouping_column() {
                Some(g) => match row[g] {
                    Cell::Int(g) => g,
                    _ => {
                        return Err(QueryError::Internal(
                            "a grouping id that is no number".into(),
                        ));
                    }
                },
                None => 0,
            };
            let mut measure_persons = vec![Vec::new(); layout.measures];
            for ((m, _), n) in sets.iter().zip(&persons[1..]) {
                measure_persons[*m].push(*n);
            }
            rows.push(Computed {
                keys,
                outputs,
                measures,
                persons: persons[0],
                measure_persons,
                grouping,
            });
        }
        if settled_all {
            return Ok(Engined {
                rows,
                kinds,
                counting,
            });
        }
    }
    Err(QueryError::Internal(
        "the exact pass settles every count".into(),
    ))
}

fn count(c: &Cell) -> Result<u64, QueryError> {
    match c {
        Cell::Int(n) if *n >= 0 => Ok(*n as u64),
        Cell::Null => Ok(0),
        _ => Err(QueryError::Internal(
            "a person count that is no count".into(),
        )),
    }
}

/// The persons a number's bounds settle it at, a figure in the same class
/// as the exact count (none, fewer than `min`, at least `min`); None when
/// they cannot tell. `buckets` is its distinct person buckets; `rows` its
/// contributing rows and the most rows one person has.
pub(crate) fn settle(buckets: Option<u64>, rows: Option<(u64, u64)>, min: u64) -> Option<u64> {
    if buckets == Some(0) || rows.is_some_and(|(n, _)| n == 0) {
        return Some(0);
    }
    let by_rows = rows.map_or(0, |(n, most)| n.div_ceil(most.max(1)));
    let lower = buckets.unwrap_or(0).max(by_rows);
    // Fewer rows than the minimum are fewer persons too (and, being rows,
    // at least one, which `lower` already is).
    (lower >= min || rows.is_some_and(|(n, _)| n < min)).then_some(lower)
}

/// The largest contributions of single persons to each additive number,
/// by (row, measure), matched to `rows` by their keys and grouping.
pub(crate) fn shares(
    plan: &Plan,
    sandbox: &Sandbox,
    rows: &[Computed],
) -> Result<BTreeMap<(usize, usize), Shares>, QueryError> {
    let measures = plan.additive();
    let mut out = BTreeMap::new();
    if measures.is_empty() || rows.is_empty() {
        return Ok(out);
    }
    let found = sandbox.run(&plan.contributions(&measures))?;
    let keys = plan.request.keys.len();
    let with_grouping = plan.request.rollup;
    let id = |keys: &[Cell], grouping: i64| format!("{keys:?}/{grouping}");
    let mut at: HashMap<String, usize> = HashMap::new();
    for (r, row) in rows.iter().enumerate() {
        at.insert(id(&row.keys, row.grouping), r);
    }
    let first = keys + usize::from(with_grouping);
    for f in &found.rows {
        let grouping = match (with_grouping, &f[keys.min(f.len() - 1)]) {
            (true, Cell::Int(g)) => *g,
            _ => 0,
        };
        let Some(&r) = at.get(&id(&f[..keys], grouping)) else {
            continue;
        };
        for (i, &m) in measures.iter().enumerate() {
            let num = |c: &Cell| c.as_f64().unwrap_or(0.0);
            let base = first + 3 * i;
            out.insert(
                (r, m),
                Shares {
                    top1: num(&f[base]),
                    top2: num(&f[base + 1]),
                    total: num(&f[base + 2]),
                },
            );
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::settle;

    #[test]
    fn bounds_settle_a_number_only_when_they_fix_its_class() {
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
