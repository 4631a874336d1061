//! The per-person index: which log entries concern a person, kept as
//! compressed bitmaps of dense numbers so that a lookup reads a few
//! bitmaps, never the log.
//!
//! A person is concerned by an entry in one of two ways:
//!
//! - **through a release**: the entry is scoped to a release the person is
//!   a member of (its build, the grants and queries that used it);
//! - **directly**: the entry names the person's commitment (their opt-out,
//!   a re-identification, a row-level result that showed them).
//!
//! So the index keeps, per release, the bitmap of its members (person
//! numbers) and the bitmap of the entries scoped to it; and, per person,
//! the bitmap of the entries that concern them directly. A lookup is the
//! union of the person's direct entries and the entries of every release
//! whose members hold the person: one bitmap test per release and one
//! bitmap union per release found.
//!
//! ```
//! use niji_audit::index::PersonIndex;
//!
//! let mut index = PersonIndex::default();
//! index.add_release(1, [10, 11, 12]);
//! index.add_entry(0, &[1], &[])?;     // release 1 was built
//! index.add_entry(1, &[], &[])?;      // a login: concerns no one
//! index.add_entry(2, &[1], &[])?;     // a query on release 1
//! index.add_entry(3, &[], &[11])?;    // person 11 opted out
//! let found = index.lookup(11);
//! assert_eq!(found.releases, vec![1]);
//! assert_eq!(found.entries.iter().collect::<Vec<_>>(), vec![0, 2, 3]);
//! assert!(index.lookup(99).entries.is_empty());
//! # Ok::<(), niji_audit::index::IndexError>(())
//! ```

use roaring::{RoaringBitmap, RoaringTreemap};
use std::collections::{BTreeMap, HashMap};

/// What the index refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IndexError {
    /// Entries must be added in log order, each once.
    #[error("log entry {got} added out of order: the index holds entries up to {next} (exclusive)")]
    OutOfOrder {
        /// The entry offered.
        got: u64,
        /// The next entry the index expects at the earliest.
        next: u64,
    },
    /// A bitmap read back did not decode.
    #[error("an index bitmap does not decode: {0}")]
    Corrupt(String),
}

/// One release: who is in it, and which entries used it.
#[derive(Debug, Default, Clone)]
struct Release {
    members: RoaringBitmap,
    entries: RoaringTreemap,
}

/// The index. Person numbers are the dense person keys of the linkage
/// (`u32`: four billion persons is more than Japan's insured population
/// thirty times over); entries are log indices.
#[derive(Debug, Default, Clone)]
pub struct PersonIndex {
    releases: BTreeMap<u64, Release>,
    direct: HashMap<u32, RoaringTreemap>,
    /// Each project's queries, so that a person's view can say how many
    /// ran on data that holds them.
    queries: BTreeMap<u64, RoaringTreemap>,
    /// The entries added so far: every index below this one was offered.
    next: u64,
}

/// What a lookup found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Found {
    /// The releases the person is a member of, in id order.
    pub releases: Vec<u64>,
    /// Every entry that concerns them, in log order.
    pub entries: RoaringTreemap,
    /// Those that name them directly.
    pub direct: RoaringTreemap,
    /// Per project, how many of its queries are among the entries, for
    /// the projects that have any.
    pub queries: Vec<(u64, u64)>,
}

impl PersonIndex {
    /// Records the members of a release. A release added twice keeps the
    /// union (members are never removed: a built release does not change).
    pub fn add_release(&mut self, release: u64, members: impl IntoIterator<Item = u32>) {
        self.releases
            .entry(release)
            .or_default()
            .members
            .extend(members);
    }

    /// Records the members of a release from a bitmap serialized by
    /// [`PersonIndex::members_bytes`].
    pub fn add_release_bytes(&mut self, release: u64, bytes: &[u8]) -> Result<(), IndexError> {
        let members = RoaringBitmap::deserialize_from(bytes)
            .map_err(|e| IndexError::Corrupt(format!("release {release}: {e}")))?;
        self.releases.entry(release).or_default().members |= members;
        Ok(())
    }

    /// The portable serialization of a member list, as stored beside a
    /// release so that the index loads it without reading every member row.
    pub fn members_bytes(members: impl IntoIterator<Item = u32>) -> Vec<u8> {
        let bitmap: RoaringBitmap = members.into_iter().collect();
        let mut out = Vec::with_capacity(bitmap.serialized_size());
        bitmap
            .serialize_into(&mut out)
            .expect("writing to a Vec cannot fail");
        out
    }

    /// Records entry `index`, scoped to `releases` and naming `persons`
    /// directly. Entries come in log order; one that concerns no one is
    /// still offered so that the index knows how far it has read.
    pub fn add_entry(
        &mut self,
        index: u64,
        releases: &[u64],
        persons: &[u32],
    ) -> Result<(), IndexError> {
        if index < self.next {
            return Err(IndexError::OutOfOrder {
                got: index,
                next: self.next,
            });
        }
        for release in releases {
            self.releases
                .entry(*release)
                .or_default()
                .entries
                .insert(index);
        }
        for person in persons {
            self.direct.entry(*person).or_default().insert(index);
        }
        self.next = index + 1;
        Ok(())
    }

    /// Marks entry `index` (added already) as a query of `project`.
    pub fn mark_query(&mut self, project: u64, index: u64) {
        self.queries.entry(project).or_default().insert(index);
    }

    fn count_queries(&self, found: &mut Found) {
        found.queries = self
            .queries
            .iter()
            .map(|(project, q)| (*project, q.intersection_len(&found.entries)))
            .filter(|(_, n)| *n > 0)
            .collect();
    }

    /// The first log index not yet added.
    pub fn next(&self) -> u64 {
        self.next
    }

    /// The releases known, in id order.
    pub fn release_ids(&self) -> impl Iterator<Item = u64> + '_ {
        self.releases.keys().copied()
    }

    /// Whether the members of `release` are known.
    pub fn has_members(&self, release: u64) -> bool {
        self.releases
            .get(&release)
            .is_some_and(|r| !r.members.is_empty())
    }

    /// Every entry that concerns `person`, and the releases that hold them.
    pub fn lookup(&self, person: u32) -> Found {
        let mut found = Found::default();
        for (id, release) in &self.releases {
            if release.members.contains(person) {
                found.releases.push(*id);
                found.entries |= &release.entries;
            }
        }
        if let Some(direct) = self.direct.get(&person) {
            found.entries |= direct;
            found.direct |= direct;
        }
        self.count_queries(&mut found);
        found
    }

    /// A lookup over several person numbers (a citizen whose records were
    /// linked to more than one key before a merge).
    pub fn lookup_all(&self, persons: &[u32]) -> Found {
        let mut found = Found::default();
        for person in persons {
            let one = self.lookup(*person);
            found.entries |= one.entries;
            found.direct |= one.direct;
            found.releases.extend(one.releases);
        }
        found.releases.sort_unstable();
        found.releases.dedup();
        self.count_queries(&mut found);
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_must_come_in_order() {
        let mut index = PersonIndex::default();
        index.add_entry(0, &[], &[]).unwrap();
        index.add_entry(5, &[], &[1]).unwrap();
        assert_eq!(index.next(), 6);
        assert_eq!(
            index.add_entry(5, &[], &[]),
            Err(IndexError::OutOfOrder { got: 5, next: 6 })
        );
    }

    #[test]
    fn a_lookup_is_the_union_of_releases_and_direct_entries() {
        let mut index = PersonIndex::default();
        index.add_release(1, [1, 2]);
        index.add_release(2, [2, 3]);
        index.add_entry(0, &[1], &[]).unwrap();
        index.add_entry(1, &[2], &[]).unwrap();
        index.add_entry(2, &[1, 2], &[]).unwrap();
        index.add_entry(3, &[], &[3]).unwrap();
        let of = |p| index.lookup(p).entries.iter().collect::<Vec<_>>();
        assert_eq!(of(1), vec![0, 2]);
        assert_eq!(of(2), vec![0, 1, 2]);
        assert_eq!(of(3), vec![1, 2, 3]);
        assert_eq!(of(4), Vec::<u64>::new());
        assert_eq!(index.lookup(2).releases, vec![1, 2]);
        let both = index.lookup_all(&[1, 3]);
        assert_eq!(both.entries.iter().collect::<Vec<_>>(), vec![0, 1, 2, 3]);
        assert_eq!(both.releases, vec![1, 2]);
        index.mark_query(7, 1);
        index.mark_query(7, 2);
        index.mark_query(8, 0);
        assert_eq!(index.lookup(3).queries, vec![(7, 2)]);
        assert_eq!(index.lookup(1).queries, vec![(7, 1), (8, 1)]);
    }

    #[test]
    fn members_survive_serialization_and_garbage_is_refused() {
        let bytes = PersonIndex::members_bytes([7, 70_000, 4_000_000]);
        let mut index = PersonIndex::default();
        index.add_release_bytes(9, &bytes).unwrap();
        assert!(index.has_members(9));
        assert_eq!(index.lookup(70_000).releases, vec![9]);
        assert!(index.lookup(8).releases.is_empty());
        assert!(matches!(
            index.add_release_bytes(10, b"not a bitmap"),
            Err(IndexError::Corrupt(_))
        ));
    }
}
