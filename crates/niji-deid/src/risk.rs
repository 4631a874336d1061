//! The risk report of a release table: what the privacy model achieved on
//! the rows actually released, and the re-identification risks.
//!
//! - **Prosecutor risk**: the attacker knows the person is in the release.
//!   A record's risk is 1 / its class size.
//! - **Journalist risk**: the attacker knows only that the person is in the
//!   population the release was drawn from (every linked person). A
//!   record's risk is 1 / the number of population members who share its
//!   generalized quasi-identifiers.

use crate::model::entropy;
use crate::search::{Applied, Table};
use std::collections::{BTreeMap, HashMap};

/// Maximum and average of a risk over the released records.
#[derive(Debug, Clone, PartialEq)]
pub struct Risk {
    /// The highest risk of any record.
    pub max: f64,
    /// The average over records.
    pub average: f64,
}

/// What a released table achieves.
#[derive(Debug, Clone, PartialEq)]
pub struct RiskReport {
    /// Rows released.
    pub rows: u64,
    /// Rows withheld because their class failed the model.
    pub suppressed: u64,
    /// Equivalence classes released.
    pub classes: u64,
    /// The smallest class.
    pub k: u64,
    /// The fewest distinct sensitive values in a class, if there is a
    /// sensitive attribute.
    pub l_distinct: Option<u64>,
    /// exp of the lowest class entropy of the sensitive attribute: the
    /// entropy l achieved.
    pub l_entropy: Option<f64>,
    /// How many classes have each size, in buckets named by their lower
    /// bound ("1", "2", "3-4", "5-9", "10-19", …).
    pub class_sizes: BTreeMap<u64, u64>,
    /// Prosecutor risk.
    pub prosecutor: Risk,
    /// Journalist risk, when a population was given.
    pub journalist: Option<Risk>,
}

/// Bucket lower bounds of the class-size distribution.
pub const BUCKETS: [u64; 10] = [1, 2, 3, 5, 10, 20, 50, 100, 1000, 10000];

fn bucket(size: u64) -> u64 {
    BUCKETS
        .iter()
        .rev()
        .copied()
        .find(|&b| size >= b)
        .unwrap_or(1)
}

/// The report for `applied` on `table`. `population`, when given, holds
/// the same quasi-identifiers (same hierarchies, level-0 codes) for every
/// member of the population.
pub fn report(table: &Table, applied: &Applied, population: Option<&Table>) -> RiskReport {
    let rows = table.rows();
    let key = |r: usize| -> Vec<u32> { applied.codes.iter().map(|c| c[r]).collect() };
    let mut classes: HashMap<Vec<u32>, (u64, HashMap<u32, u64>)> = HashMap::new();
    let mut suppressed = 0;
    for r in 0..rows {
        if applied.suppressed[r] {
            suppressed += 1;
            continue;
        }
        let entry = classes.entry(key(r)).or_default();
        entry.0 += 1;
        if let Some(s) = &table.sensitive {
            *entry.1.entry(s.codes[r]).or_default() += 1;
        }
    }
    let released = rows as u64 - suppressed;
    let k = classes.values().map(|c| c.0).min().unwrap_or(0);
    let mut class_sizes = BTreeMap::new();
    for (size, _) in classes.values() {
        *class_sizes.entry(bucket(*size)).or_default() += 1;
    }
    let (l_distinct, l_entropy) = match &table.sensitive {
        Some(_) if !classes.is_empty() => {
            let distinct = classes.values().map(|c| c.1.len() as u64).min();
            let lowest = classes
                .values()
                .map(|(size, counts)| {
                    let counts: Vec<(u32, u64)> = counts.iter().map(|(&v, &n)| (v, n)).collect();
                    entropy(*size, &counts)
                })
                .fold(f64::INFINITY, f64::min);
            (distinct, Some(lowest.exp()))
        }
        _ => (None, None),
    };
    let prosecutor = Risk {
        max: if k == 0 { 0.0 } else { 1.0 / k as f64 },
        average: if released == 0 {
            0.0
        } else {
            classes.len() as f64 / released as f64
        },
    };
    let journalist = population.map(|p| journalist(p, applied, &classes, released));
    RiskReport {
        rows: released,
        suppressed,
        classes: classes.len() as u64,
        k,
        l_distinct,
        l_entropy,
        class_sizes,
        prosecutor,
        journalist,
    }
}

/// Journalist risk of the released classes against the population.
fn journalist(
    population: &Table,
    applied: &Applied,
    classes: &HashMap<Vec<u32>, (u64, HashMap<u32, u64>)>,
    released: u64,
) -> Risk {
    let mut counts: HashMap<Vec<u32>, u64> = HashMap::new();
    for r in 0..population.rows() {
        let key: Vec<u32> = population
            .quasi
            .iter()
            .zip(&applied.node)
            .map(|(q, &l)| q.hierarchy.level(l as usize).group[q.codes[r] as usize])
            .collect();
        *counts.entry(key).or_default() += 1;
    }
    let (mut max, mut total) = (0f64, 0f64);
    for (key, (size, _)) in classes {
        // A released class is at least as large in the population it was
        // drawn from; a smaller count means the population given is not
        // a superset, and the release's own count is the safe figure.
        let in_population = counts.get(key).copied().unwrap_or(0).max(*size);
        let risk = 1.0 / in_population as f64;
        max = max.max(risk);
        total += *size as f64 * risk;
    }
    Risk {
        max,
        average: if released == 0 {
            0.0
        } else {
            total / released as f64
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hierarchy::Hierarchy;
    use crate::search::{Quasi, Sensitive};

    fn table(ages: &[i64], diseases: &[u32]) -> Table {
        let h = Hierarchy::intervals(0, 99, &[10], None).unwrap();
        Table {
            quasi: vec![Quasi {
                name: "age".into(),
                codes: ages
                    .iter()
                    .map(|a| h.code(&a.to_string()).unwrap())
                    .collect(),
                hierarchy: h,
            }],
            sensitive: Some(Sensitive {
                name: "disease".into(),
                labels: vec!["a".into(), "b".into(), "c".into()],
                codes: diseases.to_vec(),
                ordered: false,
            }),
        }
    }

    #[test]
    fn the_report_counts_what_is_released() {
        // Ages 31, 35, 38 → class 30-39 (3 rows); 52, 57 → 50-59 (2 rows);
        // 71 alone and suppressed.
        let t = table(&[31, 35, 38, 52, 57, 71], &[0, 1, 1, 2, 2, 0]);
        let h = &t.quasi[0].hierarchy;
        let applied = Applied {
            node: vec![1],
            codes: vec![
                t.quasi[0]
                    .codes
                    .iter()
                    .map(|&c| h.level(1).group[c as usize])
                    .collect(),
            ],
            suppressed: vec![false, false, false, false, false, true],
        };
        // The population adds two more people in their fifties.
        let population = table(&[31, 35, 38, 52, 57, 71, 50, 55], &[0; 8]);
        let r = report(&t, &applied, Some(&population));
        assert_eq!((r.rows, r.suppressed, r.classes, r.k), (5, 1, 2, 2));
        assert_eq!(r.l_distinct, Some(1), "the fifties share one disease");
        assert!((r.l_entropy.unwrap() - 1.0).abs() < 1e-12);
        assert_eq!(r.class_sizes, BTreeMap::from([(2, 1), (3, 1)]));
        assert_eq!(
            r.prosecutor,
            Risk {
                max: 0.5,
                average: 2.0 / 5.0
            }
        );
        let j = r.journalist.unwrap();
        // 30-39: 3 in the population; 50-59: 4.
        assert!((j.max - 1.0 / 3.0).abs() < 1e-12);
        assert!((j.average - (3.0 / 3.0 + 2.0 / 4.0) / 5.0).abs() < 1e-12);
    }
}
