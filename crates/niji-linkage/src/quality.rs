//! Linkage quality against a truth map: pairwise precision, recall and F1,
//! B-cubed precision and recall, false merges and false splits.

use std::collections::HashMap;

/// How a linkage compares with the truth.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quality {
    /// Of the record pairs put together, the share that are one person.
    pub precision: f64,
    /// Of the record pairs that are one person, the share put together.
    pub recall: f64,
    /// Harmonic mean of the two.
    pub f1: f64,
    /// Mean over records of the share of its found group that is its person.
    pub bcubed_precision: f64,
    /// Mean over records of the share of its person found in its group.
    pub bcubed_recall: f64,
    /// Persons too many in found groups: Σ over groups of (persons − 1).
    pub false_merges: u64,
    /// Groups too many for persons: Σ over persons of (groups − 1).
    pub false_splits: u64,
    /// Records compared.
    pub records: u64,
    /// Persons in the truth.
    pub persons: u64,
    /// Groups found.
    pub groups: u64,
}

fn pairs(n: u64) -> u64 {
    n * n.saturating_sub(1) / 2
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 1.0 } else { a as f64 / b as f64 }
}

/// Compares found groups with true persons, record for record.
pub fn quality(found: &[u32], truth: &[u64]) -> Quality {
    assert_eq!(found.len(), truth.len(), "one truth per found record");
    let mut cell: HashMap<(u32, u64), u64> = HashMap::new();
    let mut group_size: HashMap<u32, u64> = HashMap::new();
    let mut person_size: HashMap<u64, u64> = HashMap::new();
    for (&g, &p) in found.iter().zip(truth) {
        *cell.entry((g, p)).or_default() += 1;
        *group_size.entry(g).or_default() += 1;
        *person_size.entry(p).or_default() += 1;
    }
    let together: u64 = cell.values().map(|&n| pairs(n)).sum();
    let found_pairs: u64 = group_size.values().map(|&n| pairs(n)).sum();
    let true_pairs: u64 = person_size.values().map(|&n| pairs(n)).sum();
    let precision = ratio(together, found_pairs);
    let recall = ratio(together, true_pairs);
    let f1 = if precision + recall == 0.0 {
        0.0
    } else {
        2.0 * precision * recall / (precision + recall)
    };
    let records = found.len() as u64;
    let (mut bp, mut br) = (0.0, 0.0);
    let mut persons_in_group: HashMap<u32, u64> = HashMap::new();
    let mut groups_of_person: HashMap<u64, u64> = HashMap::new();
    for (&(g, p), &n) in &cell {
        // Each of the n records in this cell scores n / size.
        bp += n as f64 * n as f64 / group_size[&g] as f64;
        br += n as f64 * n as f64 / person_size[&p] as f64;
        *persons_in_group.entry(g).or_default() += 1;
        *groups_of_person.entry(p).or_default() += 1;
    }
    let denom = records.max(1) as f64;
    Quality {
        precision,
        recall,
        f1,
        bcubed_precision: bp / denom,
        bcubed_recall: br / denom,
        false_merges: persons_in_group.values().map(|n| n - 1).sum(),
        false_splits: groups_of_person.values().map(|n| n - 1).sum(),
        records,
        persons: person_size.len() as u64,
        groups: group_size.len() as u64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_perfect_linkage_scores_one() {
        let q = quality(&[7, 7, 9], &[1, 1, 2]);
        assert_eq!((q.precision, q.recall, q.f1), (1.0, 1.0, 1.0));
        assert_eq!((q.bcubed_precision, q.bcubed_recall), (1.0, 1.0));
        assert_eq!((q.false_merges, q.false_splits), (0, 0));
    }

    #[test]
    fn merges_and_splits_are_counted_and_scored() {
        // Truth: {0,1,2} person 1, {3} person 2. Found: {0,1} {2,3}.
        let q = quality(&[5, 5, 6, 6], &[1, 1, 1, 2]);
        // Pairs together: (0,1) right; found pairs (0,1),(2,3); true pairs 3.
        assert!((q.precision - 0.5).abs() < 1e-12);
        assert!((q.recall - 1.0 / 3.0).abs() < 1e-12);
        assert!((q.f1 - 0.4).abs() < 1e-12);
        assert_eq!(q.false_merges, 1, "group {{2,3}} holds two persons");
        assert_eq!(q.false_splits, 1, "person 1 lies in two groups");
        // B-cubed precision: records 0,1: 1; 2: 1/2; 3: 1/2 → 3/4.
        assert!((q.bcubed_precision - 0.75).abs() < 1e-12);
        // B-cubed recall: 0,1: 2/3; 2: 1/3; 3: 1 → (2/3+2/3+1/3+1)/4.
        assert!((q.bcubed_recall - (8.0 / 3.0) / 4.0).abs() < 1e-12);
    }
}
