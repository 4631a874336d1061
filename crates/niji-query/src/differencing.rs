//! Differencing control: two released numbers of the same kind whose
//! persons differ by a few persons give those persons' part away (the
//! count of persons over 40, then of persons over 40 but one; the sum of
//! their points, then the same sum over a cohort that adds zeros and one
//! more person). Each number that leaves carries its decisive persons as a
//! bitmap over the release's person index ([`Number`]); a new number whose
//! persons differ from an earlier one's of the same family (same release)
//! by 1 to (minimum − 1) persons — the symmetric difference — is held for
//! review, the earlier output beside it.
//!
//! The families: every count (rows, non-null values, persons) is one
//! family, since any two of them subtract to the rows of the persons
//! apart; sums and means of the same column are another (a mean over
//! known counts is a sum); order statistics of the same column a third.
//!
//! What this step does not catch: a tracker, three or more numbers whose
//! combination isolates a person while every pair differs by the minimum
//! or more (ARCHITECTURE.md says which).
//!
//! ```
//! use niji_query::differencing::{apart, close};
//! use roaring::RoaringBitmap;
//!
//! let all: RoaringBitmap = (0..40).collect();
//! let all_but_one: RoaringBitmap = (0..39).collect();
//! assert_eq!(apart(&all, &all_but_one), 1);
//! assert_eq!(close(10, &all, &all_but_one), Some(1));
//! assert_eq!(close(10, &all, &all), None);
//! ```

use niji_core::person_index::Spread;
use roaring::RoaringBitmap;

/// A number of a result, with its decisive persons.
#[derive(Debug, Clone, PartialEq)]
pub struct Number {
    /// Its row in the result as it leaves.
    pub row: usize,
    /// The request's measure it is.
    pub measure: usize,
    /// The result's columns that show it (none when only HAVING or ORDER
    /// BY reads it).
    pub columns: Vec<usize>,
    /// In words, for the reviewers: output, value and keys.
    pub label: String,
    /// Its family: numbers of one family are compared.
    pub family: String,
    /// SHA-256 of what defines its persons (relations, cohort, keys, the
    /// set's condition, the row's key values): equal definitions on one
    /// release are equal sets.
    pub definition: [u8; 32],
    /// Its persons, by the release's person index.
    pub persons: RoaringBitmap,
}

/// The numbers of one result, on the release of the person index they
/// count by.
#[derive(Debug, Clone, PartialEq)]
pub struct Numbers {
    /// The release.
    pub release: String,
    /// The numbers.
    pub numbers: Vec<Number>,
    /// Pairs of them a few persons apart ([`within`]): held for review.
    pub within: Vec<Pair>,
}

/// Two numbers of one result that differ by a few persons.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pair {
    /// The one number.
    pub a: usize,
    /// The other.
    pub b: usize,
    /// Persons apart.
    pub apart: u64,
}

/// The persons two sets differ by: the size of their symmetric
/// difference.
pub fn apart(a: &RoaringBitmap, b: &RoaringBitmap) -> u64 {
    a.symmetric_difference_len(b)
}

/// The persons `a` and `b` differ by when that is 1 to `min - 1`: so few
/// that subtracting the numbers tells about them.
pub fn close(min: u64, a: &RoaringBitmap, b: &RoaringBitmap) -> Option<u64> {
    // Sets whose sizes differ by the minimum or more cannot be close.
    if a.len().abs_diff(b.len()) >= min {
        return None;
    }
    let d = apart(a, b);
    (1..min).contains(&d).then_some(d)
}

/// The pairs of numbers of one result, of one family, that are close.
/// Sorted by size, each number is compared only with those within the
/// minimum of its size, and counted only where their spreads
/// ([`Spread`]) leave it open: a result of a thousand rows of near equal
/// size has half a million such pairs.
pub fn within(min: u64, numbers: &[Number]) -> Vec<Pair> {
    let mut order: Vec<usize> = (0..numbers.len()).collect();
    order.sort_by(|&x, &y| {
        (&numbers[x].family, numbers[x].persons.len())
            .cmp(&(&numbers[y].family, numbers[y].persons.len()))
    });
    let mut spreads: Vec<Option<Spread>> = vec![None; numbers.len()];
    let mut pairs = Vec::new();
    for (i, &x) in order.iter().enumerate() {
        for &y in &order[i + 1..] {
            let (nx, ny) = (&numbers[x], &numbers[y]);
            if nx.family != ny.family || ny.persons.len() - nx.persons.len() >= min {
                break;
            }
            if nx.definition == ny.definition {
                continue;
            }
            for at in [x, y] {
                if spreads[at].is_none() {
                    spreads[at] = Some(Spread::of(&numbers[at].persons));
                }
            }
            if let (Some(sx), Some(sy)) = (&spreads[x], &spreads[y])
                && sx.apart_at_least(sy, min)
            {
                continue;
            }
            if let Some(d) = close(min, &nx.persons, &ny.persons) {
                pairs.push(Pair {
                    a: x.min(y),
                    b: x.max(y),
                    apart: d,
                });
            }
        }
    }
    pairs.sort_by_key(|p| (p.a, p.b));
    pairs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn number(family: &str, persons: impl IntoIterator<Item = u32>, tag: u8) -> Number {
        Number {
            row: 0,
            measure: 0,
            columns: vec![0],
            label: String::new(),
            family: family.into(),
            definition: [tag; 32],
            persons: persons.into_iter().collect(),
        }
    }

    #[test]
    fn only_numbers_of_one_family_a_few_persons_apart_pair() {
        let numbers = [
            number("count", 0..100, 1),
            number("count", 0..99, 2),
            number("sum of claims.points", 0..99, 3),
            number("count", 0..90, 4),
            number("count", 50..150, 5),
            number("count", 0..100, 6),
        ];
        let pairs = within(10, &numbers);
        assert_eq!(
            pairs,
            [
                Pair {
                    a: 0,
                    b: 1,
                    apart: 1
                },
                Pair {
                    a: 1,
                    b: 3,
                    apart: 9
                },
                Pair {
                    a: 1,
                    b: 5,
                    apart: 1
                },
            ]
        );
    }

    #[test]
    fn a_difference_of_the_minimum_is_not_close() {
        let a: RoaringBitmap = (0..20).collect();
        let b: RoaringBitmap = (0..10).collect();
        let c: RoaringBitmap = (5..25).collect();
        assert_eq!(close(10, &a, &b), None);
        assert_eq!(close(10, &a, &c), None);
        assert_eq!(close(11, &a, &c), Some(10));
    }
}
