//! The engine step: a plan's passes run in the sandbox, cheapest first,
//! until one settles the persons of every row and every number; then, where
//! the rule set has concentration rules, each additive number's largest
//! contributions.

use crate::QueryError;
use crate::disclosure::{Computed, Shares};
use crate::language::OutputKind;
use crate::plan::{Counting, Layout, Plan};
use crate::sandbox::{Cell, Kind, Sandbox};
use roaring::RoaringBitmap;
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
    if plan.aids.index.is_some() {
        return run_sets(plan, sandbox, min);
    }
    for counting in plan.passes() {
        let result = sandbox.run(&plan.sql(counting))?;
        let layout = plan.layout(counting);
        let kinds = kinds(plan, &layout, &result.kinds);
        let mut rows = Vec::with_capacity(result.rows.len());
        let mut settled_all = true;
        for row in result.rows {
            let Some(persons) = settled(plan, &layout, &row, min)? else {
                settled_all = false;
                break;
            };
            rows.push(computed(plan, &layout, row, &persons, Vec::new())?);
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

/// The sets pass: every number's decisive persons, exact, from lists of
/// the release's person index; a sum's non-null persons, when none of them
/// is non-zero and its rows cannot tell, from the exact pass.
fn run_sets(plan: &Plan, sandbox: &Sandbox, min: u64) -> Result<Engined, QueryError> {
    let counting = Counting::Sets;
    let layout = plan.layout(counting);
    let (result, lists) = sandbox.run_with_lists(&plan.sql(counting), layout.list_columns())?;
    let kinds = kinds(plan, &layout, &result.kinds);
    let (_, tracked) = plan.tracked();
    let decisive = plan.decisive();
    let sets = plan.sets();
    let width = plan.aids.index.as_ref().map_or(0, |index| index.persons);
    let mut scratch = Scratch::default();
    let mut rows = Vec::with_capacity(result.rows.len());
    let mut unsettled = false;
    for (row, lists) in result.rows.into_iter().zip(lists) {
        let lists: Vec<RoaringBitmap> = lists
            .iter()
            .map(|list| scratch.bitmap(list, width))
            .collect();
        let bitmaps = plan.sets_of_lists(&lists);
        let figures = figures(&layout, &row, 0)?.unwrap_or_default();
        let mut persons = Vec::with_capacity(tracked.len());
        for (i, of) in tracked.iter().enumerate() {
            let n = match of {
                Some(j) => bitmaps[*j].len(),
                None => {
                    // A sum's non-null persons hold its non-zero ones.
                    let m = sets[i - 1].0;
                    match bitmaps[decisive[m]].len() {
                        0 => {
                            let rows = figures.get(i).copied().zip(plan.aids.most_rows);
                            match settle(None, rows, min) {
                                Some(n) => n,
                                None => {
                                    unsettled = true;
                                    0
                                }
                            }
                        }
                        z => z,
                    }
                }
            };
            persons.push(n);
        }
        let numbers = decisive.iter().map(|&j| bitmaps[j].clone()).collect();
        rows.push(computed(plan, &layout, row, &persons, numbers)?);
    }
    if unsettled {
        exact_counts(plan, sandbox, &mut rows)?;
    }
    Ok(Engined {
        rows,
        kinds,
        counting,
    })
}

/// Replaces every row's person counts with the exact pass's, matched by
/// keys and grouping id.
fn exact_counts(plan: &Plan, sandbox: &Sandbox, rows: &mut [Computed]) -> Result<(), QueryError> {
    let layout = plan.layout(Counting::Exact);
    let result = sandbox.run(&plan.sql(Counting::Exact))?;
    let mut at: HashMap<String, usize> = HashMap::new();
    for (r, row) in rows.iter().enumerate() {
        at.insert(row_id(&row.keys, row.grouping), r);
    }
    for row in result.rows {
        let exact = computed(plan, &layout, row, &[], Vec::new())?;
        if let Some(&r) = at.get(&row_id(&exact.keys, exact.grouping)) {
            rows[r].persons = exact.persons;
            rows[r].measure_persons = exact.measure_persons;
        }
    }
    Ok(())
}

fn row_id(keys: &[Cell], grouping: i64) -> String {
    format!("{keys:?}/{grouping}")
}

/// A person list made a bitmap, its repeats gone. A list of at least one
/// index per 128 persons of the release is set into bits of the whole
/// index (kept between lists, cleared by the list again) and read by
/// bytes; a shorter one is sorted.
#[derive(Default)]
struct Scratch {
    bytes: Vec<u8>,
}

impl Scratch {
    fn bitmap(&mut self, list: &[u32], width: u64) -> RoaringBitmap {
        let bytes = usize::try_from(width.div_ceil(8)).unwrap_or(usize::MAX);
        let dense = list.len().saturating_mul(16) >= bytes
            && list.iter().all(|&i| (i as usize) < bytes * 8);
        if !dense {
            let mut sorted = list.to_vec();
            sorted.sort_unstable();
            sorted.dedup();
            return RoaringBitmap::from_sorted_iter(sorted).unwrap_or_default();
        }
        self.bytes.resize(bytes, 0);
        for &i in list {
            self.bytes[i as usize / 8] |= 1 << (i % 8);
        }
        let mut bitmap = RoaringBitmap::from_lsb0_bytes(0, &self.bytes);
        for &i in list {
            self.bytes[i as usize / 8] = 0;
        }
        // Bytes become dense containers however few persons they hold;
        // sparse ones are smaller to keep and quicker to compare.
        bitmap.optimize();
        bitmap
    }
}

/// Each output's kind from a pass's column kinds.
fn kinds(plan: &Plan, layout: &Layout, columns: &[Kind]) -> Vec<Kind> {
    plan.request
        .outputs
        .iter()
        .enumerate()
        .map(|(o, out)| match out.kind {
            OutputKind::Key(k) => columns[k],
            OutputKind::Measure(_) => {
                let at = layout.measure_outputs.iter().position(|x| *x == o);
                columns[layout.keys + at.unwrap_or(0)]
            }
        })
        .collect()
}

/// A row's persons (the row's, then each person set's) as the pass's
/// figures settle them; None when they cannot.
fn settled(
    plan: &Plan,
    layout: &Layout,
    row: &[Cell],
    min: u64,
) -> Result<Option<Vec<u64>>, QueryError> {
    let (rows_fig, buckets, exact) = (
        figures(layout, row, 0)?,
        figures(layout, row, 1)?,
        figures(layout, row, 2)?,
    );
    if exact.is_some() {
        return Ok(exact);
    }
    Ok((0..=layout.sets)
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
        .collect())
}

/// One computed row: keys, outputs, measures and grouping id from the
/// pass's row; `persons` the row's and each set's (from the exact figures
/// when empty); `sets` each measure's decisive persons.
fn computed(
    plan: &Plan,
    layout: &Layout,
    row: Vec<Cell>,
    persons: &[u64],
    sets: Vec<RoaringBitmap>,
) -> Result<Computed, QueryError> {
    let exact;
    let persons = if persons.is_empty() {
        exact = figures(layout, &row, 2)?
            .ok_or_else(|| QueryError::Internal("a pass without exact figures".into()))?;
        &exact[..]
    } else {
        persons
    };
    let keys = row[..layout.keys].to_vec();
    let outputs = plan
        .request
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
    for ((m, _), n) in plan.sets().iter().zip(&persons[1..]) {
        measure_persons[*m].push(*n);
    }
    Ok(Computed {
        keys,
        outputs,
        measures,
        persons: persons[0],
        measure_persons,
        grouping,
        sets,
    })
}

/// A row's figures of one kind ([`Layout::figures`]) as counts.
fn figures(layout: &Layout, row: &[Cell], which: usize) -> Result<Option<Vec<u64>>, QueryError> {
    layout
        .figures(which)
        .map(|range| row[range].iter().map(count).collect())
        .transpose()
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
    let mut at: HashMap<String, usize> = HashMap::new();
    for (r, row) in rows.iter().enumerate() {
        at.insert(row_id(&row.keys, row.grouping), r);
    }
    let first = keys + usize::from(with_grouping);
    for f in &found.rows {
        let grouping = match (with_grouping, &f[keys.min(f.len() - 1)]) {
            (true, Cell::Int(g)) => *g,
            _ => 0,
        };
        let Some(&r) = at.get(&row_id(&f[..keys], grouping)) else {
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
    use super::{Scratch, settle};
    use roaring::RoaringBitmap;

    #[test]
    fn person_lists_become_the_same_bitmap_dense_or_sorted() {
        let mut scratch = Scratch::default();
        // Repeats, unsorted, the first and last index of a width that is
        // no whole number of bytes.
        let list: Vec<u32> = (0..4_000u32).map(|i| (i * 7_919) % 1_001).collect();
        let expected: RoaringBitmap = list.iter().copied().collect();
        assert_eq!(expected.len(), 1_001);
        let dense = scratch.bitmap(&list, 1_001);
        let sparse = scratch.bitmap(&list, 1_000_000);
        assert_eq!(dense, expected);
        assert_eq!(sparse, expected);
        // The scratch is clear again: a short list after a long one keeps
        // nothing of it.
        assert_eq!(
            scratch.bitmap(&[5; 200], 1_001).iter().collect::<Vec<_>>(),
            [5]
        );
        assert!(scratch.bytes.iter().all(|b| *b == 0));
        assert!(scratch.bitmap(&[], 1_001).is_empty());
    }

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
