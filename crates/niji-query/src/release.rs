//! The release step: what HAVING, ORDER BY and LIMIT ask, applied by the
//! platform to the judged result — on released values only, so that a
//! withheld number neither filters nor orders rows. Rows are ordered by
//! the request's ORDER BY, then by their keys: the order of rows says
//! nothing the released values do not.

use crate::differencing::Number;
use crate::disclosure::{Computed, Findings, Judged, Status};
use crate::language::{Cmp, Having, Literal, Operand, OutputKind, Request};
use crate::sandbox::{Cell, Kind, ResultSet};
use std::cmp::Ordering;

/// A result as it leaves: the values as computed (for the airlock's
/// reviewers), their statuses, what may leave, and each row's persons.
pub(crate) struct Released {
    pub computed: ResultSet,
    pub findings: Findings,
    pub released: ResultSet,
    pub persons: Vec<u64>,
    /// Every number that leaves (or waits for review), with its persons,
    /// when the engine kept them.
    pub numbers: Vec<Number>,
}

/// Measure `m`'s family and the digest of its person set's definition in
/// a row ([`crate::plan::Plan::family`], [`crate::plan::Plan::definition`]).
pub(crate) type Describe<'a> = dyn Fn(usize, &Computed) -> (String, [u8; 32]) + 'a;

/// Shapes the shown rows of a judged result for release.
pub(crate) fn shape(
    request: &Request,
    rows: Vec<Computed>,
    judged: Judged,
    kinds: &[Kind],
    describe: &Describe<'_>,
) -> Released {
    let Judged {
        shown,
        cells,
        mut notes,
    } = judged;
    let mut kept: Vec<(Computed, Vec<Status>)> = rows
        .into_iter()
        .zip(cells)
        .zip(shown)
        .filter(|(_, shown)| *shown)
        .map(|(row, _)| row)
        .collect();
    // Values as they would leave: a held (review) value leaves only after
    // its review, and the whole result waits with it.
    let value = |row: &(Computed, Vec<Status>), o: usize| -> Cell {
        match row.1[o] {
            Status::Pass | Status::Review => row.0.outputs[o].clone(),
            _ => Cell::Null,
        }
    };
    if let Some(h) = &request.having {
        let before = kept.len();
        kept.retain(|row| having(h, &|o| value(row, o)) == Some(true));
        let dropped = before - kept.len();
        if dropped > 0 {
            notes.push(format!(
                "{dropped} rows left out by HAVING, on released values"
            ));
        }
    }
    kept.sort_by(|a, b| {
        for order in &request.order {
            let (x, y) = (value(a, order.output), value(b, order.output));
            let nulls_first = order.nulls_first.unwrap_or(false);
            let o = match (&x, &y) {
                (Cell::Null, Cell::Null) => Ordering::Equal,
                (Cell::Null, _) => {
                    if nulls_first {
                        Ordering::Less
                    } else {
                        Ordering::Greater
                    }
                }
                (_, Cell::Null) => {
                    if nulls_first {
                        Ordering::Greater
                    } else {
                        Ordering::Less
                    }
                }
                _ if order.descending => compare(&y, &x),
                _ => compare(&x, &y),
            };
            if o != Ordering::Equal {
                return o;
            }
        }
        by_keys(&a.0, &b.0)
    });
    let skip = usize::try_from(request.offset).unwrap_or(usize::MAX);
    let take = request
        .limit
        .map_or(usize::MAX, |l| usize::try_from(l).unwrap_or(usize::MAX));
    let mut kept: Vec<_> = kept.into_iter().skip(skip).take(take).collect();
    let visible: Vec<usize> = (0..request.outputs.len())
        .filter(|&o| request.outputs[o].visible)
        .collect();
    // An order statistic held for review that only HAVING or ORDER BY
    // reads still shaped the result: the whole result waits for review.
    let hidden_review = kept.iter().any(|r| {
        (0..request.outputs.len()).any(|o| !request.outputs[o].visible && r.1[o] == Status::Review)
    });
    if hidden_review {
        for r in &mut kept {
            for &o in &visible {
                if r.1[o] == Status::Pass {
                    r.1[o] = Status::Review;
                }
            }
        }
        notes.push(
            "HAVING or ORDER BY reads a number held for review: the result waits for review".into(),
        );
    }
    let numbers = numbers(request, &kept, &visible, describe);
    let columns: Vec<String> = visible
        .iter()
        .map(|&o| request.outputs[o].name.clone())
        .collect();
    let kinds: Vec<Kind> = visible.iter().map(|&o| kinds[o]).collect();
    let computed_rows = kept
        .iter()
        .map(|r| visible.iter().map(|&o| r.0.outputs[o].clone()).collect())
        .collect();
    let statuses: Vec<Vec<Status>> = kept
        .iter()
        .map(|r| visible.iter().map(|&o| r.1[o]).collect())
        .collect();
    let released_rows = kept
        .iter()
        .map(|r| {
            visible
                .iter()
                .map(|&o| match r.1[o] {
                    Status::Pass => r.0.outputs[o].clone(),
                    _ => Cell::Null,
                })
                .collect()
        })
        .collect();
    Released {
        numbers,
        persons: kept.iter().map(|r| r.0.persons).collect(),
        computed: ResultSet {
            columns: columns.clone(),
            kinds: kinds.clone(),
            rows: computed_rows,
        },
        findings: Findings {
            cells: statuses,
            notes,
        },
        released: ResultSet {
            columns,
            kinds,
            rows: released_rows,
        },
    }
}

/// The numbers of the kept rows that leave or wait for review — each
/// measure an output reads with such a status, once per row — with their
/// decisive persons. `describe` gives a measure's family and the digest
/// of its person set's definition in a row.
fn numbers(
    request: &Request,
    kept: &[(Computed, Vec<Status>)],
    visible: &[usize],
    describe: &Describe<'_>,
) -> Vec<Number> {
    let mut out = Vec::new();
    for (r, (row, statuses)) in kept.iter().enumerate() {
        if row.sets.is_empty() {
            continue;
        }
        for (m, persons) in row.sets.iter().enumerate() {
            let reads: Vec<usize> = (0..request.outputs.len())
                .filter(|&o| match &request.outputs[o].kind {
                    OutputKind::Measure(e) => e.measures().contains(&m),
                    OutputKind::Key(_) => false,
                })
                .filter(|&o| matches!(statuses[o], Status::Pass | Status::Review))
                .collect();
            if reads.is_empty() || persons.is_empty() {
                continue;
            }
            let columns: Vec<usize> = visible
                .iter()
                .enumerate()
                .filter(|(_, o)| reads.contains(o))
                .map(|(c, _)| c)
                .collect();
            let named = reads
                .iter()
                .find(|o| request.outputs[**o].visible)
                .unwrap_or(&reads[0]);
            let (family, definition) = describe(m, row);
            out.push(Number {
                row: r,
                measure: m,
                columns,
                label: label(request, *named, row),
                family,
                definition,
                persons: persons.clone(),
            });
        }
    }
    out
}

/// A number in words for the reviewers: its output, value and keys.
fn label(request: &Request, output: usize, row: &Computed) -> String {
    let text = |c: &Cell| match c {
        Cell::Null => "NULL".to_owned(),
        Cell::Bool(b) => b.to_string(),
        Cell::Int(i) => i.to_string(),
        Cell::Float(f) => f.to_string(),
        Cell::Text(t) => format!("'{t}'"),
    };
    let keys: Vec<String> = request
        .outputs
        .iter()
        .enumerate()
        .filter_map(|(o, out)| match out.kind {
            OutputKind::Key(k) if out.visible => {
                // GROUPING(k0, k1, …) sets the first key's bit highest.
                let bit = request.keys.len().saturating_sub(k + 1);
                let value = if (row.grouping >> bit) & 1 == 1 {
                    "(all)".to_owned()
                } else {
                    text(&row.outputs[o])
                };
                Some(format!("{} = {value}", out.name))
            }
            _ => None,
        })
        .collect();
    let at = if keys.is_empty() {
        String::new()
    } else {
        format!(" at {}", keys.join(", "))
    };
    format!(
        "`{}` = {}{at}",
        request.outputs[output].name,
        text(&row.outputs[output])
    )
}

/// Rows by their keys (NULL last), totals after the rows they total.
fn by_keys(a: &Computed, b: &Computed) -> Ordering {
    for (x, y) in a.keys.iter().zip(&b.keys) {
        let o = match (x, y) {
            (Cell::Null, Cell::Null) => Ordering::Equal,
            (Cell::Null, _) => Ordering::Greater,
            (_, Cell::Null) => Ordering::Less,
            _ => compare(x, y),
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    a.grouping.cmp(&b.grouping)
}

/// A total order on non-NULL cells: numbers, then text, then booleans.
pub(crate) fn compare(x: &Cell, y: &Cell) -> Ordering {
    let rank = |c: &Cell| match c {
        Cell::Null => 0,
        Cell::Int(_) | Cell::Float(_) => 1,
        Cell::Text(_) => 2,
        Cell::Bool(_) => 3,
    };
    match (x, y) {
        (Cell::Int(a), Cell::Int(b)) => a.cmp(b),
        (Cell::Text(a), Cell::Text(b)) => a.cmp(b),
        (Cell::Bool(a), Cell::Bool(b)) => a.cmp(b),
        _ if rank(x) == 1 && rank(y) == 1 => {
            let (a, b) = (x.as_f64().unwrap_or(0.0), y.as_f64().unwrap_or(0.0));
            a.total_cmp(&b)
        }
        _ => rank(x).cmp(&rank(y)),
    }
}

fn literal_cell(l: &Literal) -> Cell {
    match l {
        Literal::Num(n) => n
            .parse::<i64>()
            .map(Cell::Int)
            .unwrap_or_else(|_| n.parse().map_or(Cell::Null, Cell::Float)),
        Literal::Text(s) | Literal::Date(s) => Cell::Text(s.clone()),
        Literal::Bool(b) => Cell::Bool(*b),
        Literal::Null => Cell::Null,
    }
}

/// A HAVING condition on one row, in SQL's three values (None: unknown).
fn having(h: &Having, value: &dyn Fn(usize) -> Cell) -> Option<bool> {
    let operand = |o: &Operand| match o {
        Operand::Output(i) => value(*i),
        Operand::Literal(l) => literal_cell(l),
    };
    match h {
        Having::And(a, b) => match (having(a, value), having(b, value)) {
            (Some(false), _) | (_, Some(false)) => Some(false),
            (Some(true), Some(true)) => Some(true),
            _ => None,
        },
        Having::Or(a, b) => match (having(a, value), having(b, value)) {
            (Some(true), _) | (_, Some(true)) => Some(true),
            (Some(false), Some(false)) => Some(false),
            _ => None,
        },
        Having::Not(a) => having(a, value).map(|v| !v),
        Having::IsNull(a, negated) => Some((operand(a) == Cell::Null) != *negated),
        Having::Compare(a, c, b) => {
            let (x, y) = (operand(a), operand(b));
            let comparable = matches!(
                (&x, &y),
                (Cell::Int(_) | Cell::Float(_), Cell::Int(_) | Cell::Float(_))
                    | (Cell::Text(_), Cell::Text(_))
                    | (Cell::Bool(_), Cell::Bool(_))
            );
            if !comparable {
                return None;
            }
            let o = compare(&x, &y);
            Some(match c {
                Cmp::Eq => o == Ordering::Equal,
                Cmp::Ne => o != Ordering::Equal,
                Cmp::Lt => o == Ordering::Less,
                Cmp::Le => o != Ordering::Greater,
                Cmp::Gt => o == Ordering::Greater,
                Cmp::Ge => o != Ordering::Less,
            })
        }
    }
}
