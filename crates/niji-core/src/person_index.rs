//! The release's person index: a hidden column of every release table that
//! numbers the release's persons 0, 1, 2, … in the order of their
//! pseudonyms, so that the persons behind a released number can be kept as
//! a Roaring bitmap and compared with those of earlier numbers.
//!
//! Pseudonyms are HMAC outputs, so their order, and with it the index, says
//! nothing the pseudonym does not; and like the pseudonym it belongs to one
//! release. The analysis API reads it to compute each released number's
//! exact person set (lists of the index, made bitmaps), which judges the
//! number and lets differencing control find two numbers whose persons
//! differ by a few ([`COLUMN`]). The number of persons is recorded beside
//! the release's other aids ([`record`]).
//!
//! ```
//! use niji_core::person_index;
//!
//! let sql = person_index::record();
//! assert!(sql.contains("niji.person_index"));
//! ```

/// The column's name (type `UINTEGER`). Researchers never see it: the
/// sandbox's granted views leave it out, and release exports drop it.
pub const COLUMN: &str = "__niji_person";

/// The table in schema `niji` that holds the release's number of persons
/// (`persons UBIGINT`, one row).
pub const TABLE: &str = "person_index";

/// DuckDB SQL that records the number of persons of a release whose
/// `main.persons` table is complete (one row per person, with the index).
pub fn record() -> String {
    format!(
        "CREATE SCHEMA IF NOT EXISTS niji;
         CREATE OR REPLACE TABLE niji.{TABLE} AS SELECT count(*)::UBIGINT AS persons FROM main.persons;"
    )
}

/// DuckDB SQL that adds the person index to table `table` (of schema
/// `main`, with a `pseudonym` column) of a release whose `main.persons`
/// lists every person: for releases made outside a build (benchmarks,
/// tests). A build writes the column as it writes the rows.
pub fn add_to(table: &str) -> String {
    let ident = format!("\"{}\"", table.replace('"', "\"\""));
    format!(
        "ALTER TABLE main.{ident} ADD COLUMN {COLUMN} UINTEGER;
         UPDATE main.{ident} SET {COLUMN} = i.position
           FROM (SELECT pseudonym, (row_number() OVER (ORDER BY pseudonym) - 1)::UINTEGER AS position
                 FROM main.persons) i
           WHERE main.{ident}.pseudonym = i.pseudonym;"
    )
}

/// Buckets of [`Spread`].
const BUCKETS: usize = 256;

/// Persons of the index per slice of [`Spread`]: slice `k` holds indices
/// `k × SLICE ..= k × SLICE + SLICE − 1`, bucket `k mod BUCKETS`.
const SLICE: u32 = 1 << 12;

/// How a set of persons spreads over 256 buckets of the index (slices of
/// 4,096 indices, a release of over a million persons wrapping round): a
/// cheap lower bound on how many persons two sets differ by, since every
/// person of one bucket's difference in counts is a person of the sets'
/// symmetric difference. Differencing compares many pairs of sets of near
/// size; most differ by far more than a few persons, and this tells so
/// from a few buckets, where an exact count reads both sets whole (about
/// 100 µs for two sets of 10,000 of a million persons). A spread is
/// counted from the bitmap's slices, not its persons (about 20 µs).
///
/// ```
/// use niji_core::person_index::Spread;
/// use roaring::RoaringBitmap;
///
/// let a: RoaringBitmap = (0..10_000).collect();
/// let b: RoaringBitmap = (5_000..15_000).collect();
/// assert!(Spread::of(&a).apart_at_least(&Spread::of(&b), 10));
/// assert!(!Spread::of(&a).apart_at_least(&Spread::of(&a), 1));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spread(Box<[u32; BUCKETS]>);

impl Spread {
    /// The spread of `persons`.
    pub fn of(persons: &roaring::RoaringBitmap) -> Spread {
        let mut counts = Box::new([0u32; BUCKETS]);
        if let Some(max) = persons.max() {
            for k in 0..=max / SLICE {
                let start = k * SLICE;
                let n = persons.range_cardinality(start..=start + (SLICE - 1));
                counts[k as usize % BUCKETS] += u32::try_from(n).unwrap_or(u32::MAX);
            }
        }
        Spread(counts)
    }

    /// Whether the two sets certainly differ by at least `min` persons.
    /// False says nothing: count them.
    pub fn apart_at_least(&self, other: &Spread, min: u64) -> bool {
        let mut apart = 0u64;
        for (a, b) in self.0.iter().zip(other.0.iter()) {
            apart += u64::from(a.abs_diff(*b));
            if apart >= min {
                return true;
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::Spread;
    use roaring::RoaringBitmap;

    /// The spread never claims more persons apart than there are, and
    /// does say so for sets far apart.
    #[test]
    fn a_spread_is_a_lower_bound_on_persons_apart() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move |below: u32| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % u64::from(below)) as u32
        };
        let mut told = 0;
        for round in 0..300 {
            let base: RoaringBitmap = (0..2_000).map(|_| next(1_000_000)).collect();
            let mut other = base.clone();
            for _ in 0..(round % 30) {
                other.insert(next(1_000_000));
                other.remove(base.select(next(2_000)).unwrap_or(0));
            }
            let apart = base.symmetric_difference_len(&other);
            for min in [1, 5, 10, 25] {
                let far = Spread::of(&base).apart_at_least(&Spread::of(&other), min);
                assert!(
                    !far || apart >= min,
                    "round {round}: {apart} apart, min {min}"
                );
                told += usize::from(far);
            }
        }
        assert!(told > 300, "the spread told only {told} times");
    }
}
