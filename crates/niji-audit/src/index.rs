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

use crate::event::Family;
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
    /// Every entry of each project, and of each family of kinds, so that a
    /// view of thousands of entries is grouped and filtered by bitmap
    /// operations, never by reading the log.
    projects: BTreeMap<u64, RoaringTreemap>,
    families: BTreeMap<Family, RoaringTreemap>,
    /// Where each month (`YYYYMM`, in the view's time zone) begins in the
    /// log: the entries of a month are a range of indices. The log is
    /// written in time order; an entry stamped earlier than the month
    /// before it (a clock step back) stays in that later month.
    months: Vec<(u32, u64)>,
    /// The entries added so far: every index below this one was offered.
    next: u64,
}

/// Which of a person's entries a view asks for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Filter {
    /// Entries of this family only.
    pub family: Option<Family>,
    /// Entries of this project only, or (`Some(None)`) of no project.
    pub project: Option<Option<u64>>,
    /// Entries of this month (`YYYYMM`) only.
    pub month: Option<u32>,
}

/// A person's entries counted by month and project.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Entries per month, oldest first: every month from the first that has
    /// one to the last, empty ones included (a chart's bars).
    pub months: Vec<(u32, u64)>,
    /// Entries per month and project (`None`: the platform's own steps),
    /// newest month first, then by project.
    pub groups: Vec<Group>,
}

/// One month's entries of one project.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Group {
    /// `YYYYMM`.
    pub month: u32,
    /// The project, or none.
    pub project: Option<u64>,
    /// How many entries.
    pub entries: u64,
    /// The newest of them (its log index).
    pub newest: u64,
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

    /// Files entry `index` (added already) under its family, its project
    /// and the month it was written in (`YYYYMM`).
    pub fn describe(&mut self, index: u64, family: Family, project: Option<u64>, month: u32) {
        self.families.entry(family).or_default().insert(index);
        if let Some(project) = project {
            self.projects.entry(project).or_default().insert(index);
        }
        if self.months.last().is_none_or(|(m, _)| month > *m) {
            self.months.push((month, index));
        }
    }

    /// The month of entry `index`: the last month that began at or before
    /// it (the first month for an entry older than every description).
    fn month_of(&self, index: u64) -> u32 {
        let at = self.months.partition_point(|(_, first)| *first <= index);
        self.months.get(at.saturating_sub(1)).map_or(0, |(m, _)| *m)
    }

    /// The indices of month `month`, as a range.
    fn month_range(&self, month: u32) -> std::ops::Range<u64> {
        let at = self.months.partition_point(|(m, _)| *m < month);
        match self.months.get(at) {
            Some((m, first)) if *m == month => {
                // The last month runs to the entries added so far (a range
                // to u64::MAX would be four billion bitmaps).
                let end = self.months.get(at + 1).map_or(self.next, |(_, f)| *f);
                *first..end
            }
            _ => 0..0,
        }
    }

    /// `entries` narrowed to what `filter` asks for.
    pub fn filtered(&self, entries: &RoaringTreemap, filter: &Filter) -> RoaringTreemap {
        let mut out = entries.clone();
        if let Some(family) = filter.family {
            match self.families.get(&family) {
                Some(of) => out &= of,
                None => out.clear(),
            }
        }
        match filter.project {
            Some(Some(project)) => match self.projects.get(&project) {
                Some(of) => out &= of,
                None => out.clear(),
            },
            Some(None) => {
                for of in self.projects.values() {
                    out -= of;
                }
            }
            None => {}
        }
        if let Some(month) = filter.month {
            let range = self.month_range(month);
            let mut within = RoaringTreemap::new();
            if !range.is_empty() {
                within.insert_range(range);
            }
            out &= within;
        }
        out
    }

    /// `entries` counted by month and project. One pass over the entries
    /// (each found in its project's bitmap, then its month by a binary
    /// search): a person with 10⁵ entries is summed in milliseconds.
    pub fn summarize(&self, entries: &RoaringTreemap) -> Summary {
        let mut counts: BTreeMap<(u32, Option<u64>), (u64, u64)> = BTreeMap::new();
        let mut count = |index: u64, project: Option<u64>| {
            let slot = counts.entry((self.month_of(index), project)).or_default();
            slot.0 += 1;
            slot.1 = slot.1.max(index);
        };
        let mut rest = entries.clone();
        for (project, of) in &self.projects {
            let mine = entries & of;
            if mine.is_empty() {
                continue;
            }
            rest -= &mine;
            mine.iter().for_each(|i| count(i, Some(*project)));
        }
        rest.iter().for_each(|i| count(i, None));
        let mut per_month: BTreeMap<u32, u64> = BTreeMap::new();
        for ((month, _), (n, _)) in &counts {
            *per_month.entry(*month).or_default() += n;
        }
        let months = match (per_month.keys().next(), per_month.keys().next_back()) {
            (Some(&first), Some(&last)) => months_between(first, last)
                .map(|m| (m, per_month.get(&m).copied().unwrap_or(0)))
                .collect(),
            _ => Vec::new(),
        };
        let mut groups: Vec<Group> = counts
            .into_iter()
            .map(|((month, project), (entries, newest))| Group {
                month,
                project,
                entries,
                newest,
            })
            .collect();
        groups.sort_by(|a, b| b.month.cmp(&a.month).then(b.newest.cmp(&a.newest)));
        Summary { months, groups }
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

/// Every month from `first` to `last` (`YYYYMM`), both included.
fn months_between(first: u32, last: u32) -> impl Iterator<Item = u32> {
    std::iter::successors(Some(first), |m| {
        Some(if m % 100 == 12 {
            (m / 100 + 1) * 100 + 1
        } else {
            m + 1
        })
    })
    .take_while(move |m| *m <= last)
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
    fn entries_are_grouped_by_month_and_project_and_filtered() {
        let mut index = PersonIndex::default();
        index.add_release(1, [5]);
        // Month 2026-11: entries 0..3; 2026-12: 3..6; 2027-02: 6..8.
        let layout: [(u32, Family, Option<u64>); 8] = [
            (202611, Family::Release, None),
            (202611, Family::Analysis, Some(7)),
            (202611, Family::Analysis, Some(8)),
            (202612, Family::Analysis, Some(7)),
            // A clock step back: stays in December.
            (202611, Family::Analysis, Some(7)),
            (202612, Family::Person, None),
            (202702, Family::Grant, Some(8)),
            (202702, Family::Analysis, Some(8)),
        ];
        for (i, (month, family, project)) in layout.into_iter().enumerate() {
            let i = i as u64;
            let direct: &[u32] = if family == Family::Person { &[5] } else { &[] };
            let releases: &[u64] = if family == Family::Person { &[] } else { &[1] };
            index.add_entry(i, releases, direct).unwrap();
            index.describe(i, family, project, month);
        }
        let entries = index.lookup(5).entries;
        assert_eq!(entries.len(), 8);
        let summary = index.summarize(&entries);
        assert_eq!(
            summary.months,
            vec![(202611, 3), (202612, 3), (202701, 0), (202702, 2)]
        );
        let groups: Vec<(u32, Option<u64>, u64, u64)> = summary
            .groups
            .iter()
            .map(|g| (g.month, g.project, g.entries, g.newest))
            .collect();
        assert_eq!(
            groups,
            vec![
                (202702, Some(8), 2, 7),
                (202612, None, 1, 5),
                (202612, Some(7), 2, 4),
                (202611, Some(8), 1, 2),
                (202611, Some(7), 1, 1),
                (202611, None, 1, 0),
            ]
        );
        let of = |filter: Filter| index.filtered(&entries, &filter).iter().collect::<Vec<_>>();
        assert_eq!(
            of(Filter {
                family: Some(Family::Analysis),
                ..Filter::default()
            }),
            vec![1, 2, 3, 4, 7]
        );
        assert_eq!(
            of(Filter {
                project: Some(Some(7)),
                month: Some(202612),
                ..Filter::default()
            }),
            vec![3, 4]
        );
        assert_eq!(
            of(Filter {
                project: Some(None),
                ..Filter::default()
            }),
            vec![0, 5]
        );
        assert_eq!(
            of(Filter {
                month: Some(202701),
                ..Filter::default()
            }),
            Vec::<u64>::new()
        );
        // The last month: up to the entries added.
        assert_eq!(
            of(Filter {
                month: Some(202702),
                ..Filter::default()
            }),
            vec![6, 7]
        );
        assert_eq!(
            months_between(202611, 202702).collect::<Vec<_>>(),
            vec![202611, 202612, 202701, 202702]
        );
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
