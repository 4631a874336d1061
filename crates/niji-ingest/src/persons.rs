//! Linked persons in the staging store: what the linker reads (tokens and
//! each record's month) and what it writes (a stable `person_key` per
//! record, with the merges and splits between runs).
//!
//! Keys are stable: a run keeps the key a group's records had before. A
//! group whose records carried several keys is a merge (the oldest key
//! stays, the others are recorded as merged into it); a key whose records
//! now lie in several groups is a split (the largest part keeps it, the
//! others get new keys, each recorded). So a release built earlier can be
//! explained by the events since.

use crate::{IngestError, Staging};
use arrow_array::{Array, BinaryArray, Int64Array, RecordBatch, StringArray};
use duckdb::params;
use niji_linkage::Plan;
use niji_linkage::link::{Month, Records};
use std::collections::HashMap;

/// A record of the staging store: its batch and its number in the batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecordRef {
    /// The batch.
    pub batch_id: i64,
    /// The record within it (1-based).
    pub record: i64,
}

/// What the linker needs, read from the staging store.
pub struct LinkInput {
    /// Every record, in a stable order.
    pub records: Vec<RecordRef>,
    /// Their tokens and months, index for index.
    pub link: Records,
    /// Each record's file (as its batch names it) and locator, for the
    /// comparison with a synthetic truth map.
    pub locators: Vec<(i64, String)>,
    /// Files by batch id.
    pub files: HashMap<i64, String>,
    /// Source kinds by batch id.
    pub sources: HashMap<i64, String>,
}

/// The tables of linked persons, created on first use.
const SCHEMA: &str = "
CREATE SEQUENCE IF NOT EXISTS person_key START 1;
CREATE SEQUENCE IF NOT EXISTS link_run START 1;
CREATE TABLE IF NOT EXISTS link_runs (
    run_id BIGINT PRIMARY KEY,
    plan_sha256 VARCHAR NOT NULL,
    records BIGINT NOT NULL,
    persons BIGINT NOT NULL,
    linked_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
);
CREATE TABLE IF NOT EXISTS person_records (
    batch_id BIGINT NOT NULL,
    record BIGINT NOT NULL,
    person_key BIGINT NOT NULL,
    PRIMARY KEY (batch_id, record)
);
CREATE TABLE IF NOT EXISTS person_events (
    run_id BIGINT NOT NULL,
    event VARCHAR NOT NULL,
    person_key BIGINT NOT NULL,
    other_key BIGINT NOT NULL
);
";

/// The content columns that date a record, in order of preference is not
/// needed: the earliest wins. Diagnoses (onset may be years back) and care
/// levels (long validity) do not date a record.
const DATED: [(&str, &str); 6] = [
    ("encounters", "start"),
    ("procedures", "date"),
    ("drugs", "date"),
    ("observations", "date"),
    ("care_services", "month"),
    ("dpc_stays", "admitted"),
];

/// What a run did to the person keys.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SavedPersons {
    /// The run.
    pub run_id: i64,
    /// Persons after the run.
    pub persons: u64,
    /// Keys created.
    pub new_keys: u64,
    /// Keys merged into another.
    pub merges: u64,
    /// Keys split off another.
    pub splits: u64,
}

/// Hashes interned tokens by their first eight bytes. Tokens are HMAC
/// outputs, uniformly spread and not choosable without the linkage key, so
/// they need no keyed hash of their own (SipHash was a third of the read).
#[derive(Default, Clone, Copy)]
struct TokenHash;

impl std::hash::BuildHasher for TokenHash {
    type Hasher = TokenHasher;
    fn build_hasher(&self) -> TokenHasher {
        TokenHasher(0)
    }
}

/// The hasher of [`TokenHash`]: folds the bytes it is given, eight at a time.
struct TokenHasher(u64);

impl std::hash::Hasher for TokenHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // The token's first eight bytes are enough; the domain index (one
        // byte, written first) is folded in too.
        for chunk in bytes.chunks(8).take(1) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = self.0.rotate_left(8) ^ u64::from_le_bytes(word);
        }
    }
}

/// Column `i` of a batch as BIGINT; the queries above cast to it.
fn ints(batch: &RecordBatch, i: usize) -> &Int64Array {
    batch
        .column(i)
        .as_any()
        .downcast_ref::<Int64Array>()
        .expect("the linkage queries cast their integers to BIGINT")
}

/// Column `i` of a batch as BLOB.
fn blobs(batch: &RecordBatch, i: usize) -> &BinaryArray {
    batch
        .column(i)
        .as_any()
        .downcast_ref::<BinaryArray>()
        .expect("tokens are BLOB")
}

/// Column `i` of a batch as VARCHAR.
fn strings(batch: &RecordBatch, i: usize) -> &StringArray {
    batch
        .column(i)
        .as_any()
        .downcast_ref::<StringArray>()
        .expect("locators are VARCHAR")
}

impl Staging {
    fn ensure_person_tables(&self) -> Result<(), IngestError> {
        self.conn.execute_batch(SCHEMA).map_err(self.err())
    }

    /// Reads every record with its tokens (the kinds the plan declares) and
    /// its month, through Arrow. Records are numbered in (batch, record)
    /// order without a join: a batch's records are numbered 1..n, so a
    /// record's index is its batch's offset plus its number. Tokens are
    /// interned per hash domain as they stream in.
    pub fn link_input(&self, plan: &Plan) -> Result<LinkInput, IngestError> {
        // Batch offsets: batches in id order, each with its record count.
        let mut offsets: HashMap<i64, (usize, i64)> = HashMap::new();
        let mut records = Vec::new();
        for batch in self.arrow(
            "SELECT batch_id, CAST(count(*) AS BIGINT), CAST(max(record) AS BIGINT) FROM subjects GROUP BY batch_id ORDER BY batch_id",
        )? {
            let (b, n, max) = (ints(&batch, 0), ints(&batch, 1), ints(&batch, 2));
            for i in 0..batch.num_rows() {
                if n.value(i) != max.value(i) {
                    return Err(self.damaged(format!(
                        "batch {} numbers its records with gaps",
                        b.value(i)
                    )));
                }
                offsets.insert(b.value(i), (records.len(), n.value(i)));
                records.extend((1..=n.value(i)).map(|record| RecordRef {
                    batch_id: b.value(i),
                    record,
                }));
            }
        }
        let index = |batch_id: i64, record: i64| -> Option<usize> {
            let (start, n) = *offsets.get(&batch_id)?;
            (1..=n)
                .contains(&record)
                .then(|| start + record as usize - 1)
        };

        let mut locators = vec![(0, String::new()); records.len()];
        for batch in self.arrow("SELECT batch_id, record, locator FROM subjects")? {
            let (b, r, l) = (ints(&batch, 0), ints(&batch, 1), strings(&batch, 2));
            for i in 0..batch.num_rows() {
                if let Some(at) = index(b.value(i), r.value(i)) {
                    locators[at] = (b.value(i), l.value(i).to_owned());
                }
            }
        }

        let union: Vec<String> = DATED
            .iter()
            .map(|(t, c)| {
                format!("SELECT batch_id, record, \"{c}\" AS d FROM {t} WHERE \"{c}\" IS NOT NULL")
            })
            .collect();
        let mut months: Vec<Option<Month>> = vec![None; records.len()];
        let sql = format!(
            "SELECT batch_id, record, CAST(year(min(d)) * 12 + month(min(d)) - 1 AS BIGINT) FROM ({}) GROUP BY ALL",
            union.join(" UNION ALL ")
        );
        for batch in self.arrow(&sql)? {
            let (b, r, month) = (ints(&batch, 0), ints(&batch, 1), ints(&batch, 2));
            for i in 0..batch.num_rows() {
                if let Some(at) = index(b.value(i), r.value(i)) {
                    months[at] = Month::try_from(month.value(i)).ok();
                }
            }
        }

        // (record, kind, token id), interned per domain, then laid out by
        // record. DuckDB maps kind names to the plan's indexes, so only
        // integers and the token bytes cross over.
        let domain_of: Vec<u8> = plan
            .tokens
            .iter()
            .map(|t| {
                plan.tokens
                    .iter()
                    .position(|o| o.domain() == t.domain())
                    .unwrap_or(0) as u8
            })
            .collect();
        let case: String = plan
            .tokens
            .iter()
            .enumerate()
            .map(|(k, t)| format!(" WHEN '{}' THEN {k}", t.name.replace('\'', "")))
            .collect();
        let mut interned: HashMap<(u8, [u8; 32]), u32, TokenHash> = HashMap::default();
        let mut triples: Vec<(u32, u8, u32)> = Vec::new();
        let sql = format!(
            "SELECT batch_id, record, CAST(CASE kind{case} END AS BIGINT) AS k, token FROM tokens WHERE k IS NOT NULL"
        );
        for batch in self.arrow(&sql)? {
            let (b, r, kinds, tokens) = (
                ints(&batch, 0),
                ints(&batch, 1),
                ints(&batch, 2),
                blobs(&batch, 3),
            );
            for i in 0..batch.num_rows() {
                let k = kinds.value(i) as u8;
                let (Some(at), Ok(bytes)) = (
                    index(b.value(i), r.value(i)),
                    <[u8; 32]>::try_from(tokens.value(i)),
                ) else {
                    continue;
                };
                let next = interned.len() as u32;
                let id = *interned
                    .entry((domain_of[k as usize], bytes))
                    .or_insert(next);
                triples.push((at as u32, k, id));
            }
        }
        drop(interned);
        triples.sort_unstable();
        let mut link = Records::new();
        let mut t = 0;
        for (at, month) in months.iter().enumerate() {
            link.start(*month);
            while t < triples.len() && triples[t].0 as usize == at {
                link.push_token(triples[t].1, triples[t].2);
                t += 1;
            }
        }
        let batches = self.batches()?;
        let sources = batches
            .iter()
            .map(|b| (b.batch_id, b.source.clone()))
            .collect();
        let files = batches.into_iter().map(|b| (b.batch_id, b.file)).collect();
        Ok(LinkInput {
            records,
            link,
            locators,
            files,
            sources,
        })
    }

    fn damaged(&self, reason: String) -> IngestError {
        IngestError::Io {
            path: self.path.clone(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, reason),
        }
    }

    /// Runs a query and collects its Arrow record batches.
    fn arrow(&self, sql: &str) -> Result<Vec<RecordBatch>, IngestError> {
        let err = self.err();
        let mut stmt = self.conn.prepare(sql).map_err(&err)?;
        Ok(stmt.query_arrow([]).map_err(&err)?.collect())
    }

    /// Saves a linkage result as stable person keys, in one transaction.
    /// `groups[i]` is record `i`'s group (any id; equal ids are one person).
    pub fn save_persons(
        &mut self,
        input: &LinkInput,
        groups: &[u32],
        plan_sha256: &str,
    ) -> Result<SavedPersons, IngestError> {
        self.ensure_person_tables()?;
        let previous = self.previous_keys()?;
        let path = self.path.clone();
        let err = |source| IngestError::Staging {
            path: path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(err)?;
        let run_id: i64 = tx
            .query_row("SELECT nextval('link_run')", [], |r| r.get(0))
            .map_err(err)?;
        // Each group's records, and the old keys among them with counts.
        let mut members: HashMap<u32, Vec<usize>> = HashMap::new();
        for (i, g) in groups.iter().enumerate() {
            members.entry(*g).or_default().push(i);
        }
        let mut order: Vec<u32> = members.keys().copied().collect();
        order.sort_unstable_by_key(|g| members[g][0]);
        let mut saved = SavedPersons {
            run_id,
            persons: order.len() as u64,
            ..SavedPersons::default()
        };
        // A key stays with the group holding most of its records.
        let mut best: HashMap<i64, (usize, u32)> = HashMap::new();
        for g in &order {
            let mut counts: HashMap<i64, usize> = HashMap::new();
            for &i in &members[g] {
                if let Some(&k) = previous.get(&input.records[i]) {
                    *counts.entry(k).or_default() += 1;
                }
            }
            for (k, n) in counts {
                let entry = best.entry(k).or_insert((n, *g));
                if n > entry.0 {
                    *entry = (n, *g);
                }
            }
        }
        // New keys come from the sequence in one query: one statement per
        // key cost more than the rest of the run together.
        let mut owned: HashMap<u32, Vec<i64>> = HashMap::new();
        for (key, (_, owner)) in &best {
            owned.entry(*owner).or_default().push(*key);
        }
        let needed = order.iter().filter(|g| !owned.contains_key(*g)).count();
        let mut fresh = {
            let mut stmt = tx
                .prepare("SELECT nextval('person_key') FROM range(?)")
                .map_err(err)?;
            let keys: Vec<i64> = stmt
                .query_map([needed as i64], |r| r.get(0))
                .map_err(err)?
                .collect::<Result<_, _>>()
                .map_err(err)?;
            keys.into_iter()
        };
        let mut next_key = || {
            fresh.next().ok_or_else(|| IngestError::Staging {
                path: path.clone(),
                source: duckdb::Error::QueryReturnedNoRows,
            })
        };
        let mut events: Vec<(&str, i64, i64)> = Vec::new();
        let mut assigned: Vec<(usize, i64)> = Vec::with_capacity(groups.len());
        for g in &order {
            let mut kept: Vec<i64> = owned.get(g).cloned().unwrap_or_default();
            kept.sort_unstable();
            let key = match kept.first() {
                Some(&oldest) => {
                    for &other in &kept[1..] {
                        events.push(("merge", oldest, other));
                        saved.merges += 1;
                    }
                    oldest
                }
                None => {
                    saved.new_keys += 1;
                    next_key()?
                }
            };
            // Old keys of these records that stayed with another group:
            // this group split off them.
            let mut split_from: Vec<i64> = members[g]
                .iter()
                .filter_map(|i| previous.get(&input.records[*i]).copied())
                .filter(|k| best.get(k).is_some_and(|(_, owner)| owner != g))
                .collect();
            split_from.sort_unstable();
            split_from.dedup();
            for from in split_from {
                events.push(("split", key, from));
                saved.splits += 1;
            }
            assigned.extend(members[g].iter().map(|&i| (i, key)));
        }
        // Only records whose key is new or changed are written: a rerun
        // over the same persons writes nothing but its run.
        let changed: Vec<(usize, i64)> = assigned
            .into_iter()
            .filter(|(i, key)| previous.get(&input.records[*i]) != Some(key))
            .collect();
        tx.execute_batch(
            "CREATE OR REPLACE TEMP TABLE person_changes (batch_id BIGINT, record BIGINT, person_key BIGINT)",
        )
        .map_err(err)?;
        {
            let mut app = tx.appender("person_changes").map_err(err)?;
            for (i, key) in changed {
                let r = input.records[i];
                app.append_row(params![r.batch_id, r.record, key])
                    .map_err(err)?;
            }
        }
        tx.execute_batch(
            "INSERT OR REPLACE INTO person_records SELECT * FROM person_changes;
             DROP TABLE person_changes;",
        )
        .map_err(err)?;
        {
            let mut app = tx.appender("person_events").map_err(err)?;
            for (event, key, other) in events {
                app.append_row(params![run_id, event, key, other])
                    .map_err(err)?;
            }
        }
        tx.execute(
            "INSERT INTO link_runs (run_id, plan_sha256, records, persons) VALUES (?, ?, ?, ?)",
            params![
                run_id,
                plan_sha256,
                input.records.len() as i64,
                saved.persons as i64
            ],
        )
        .map_err(err)?;
        tx.commit().map_err(err)?;
        Ok(saved)
    }

    fn previous_keys(&self) -> Result<HashMap<RecordRef, i64>, IngestError> {
        let mut out = HashMap::new();
        for batch in self.arrow("SELECT batch_id, record, person_key FROM person_records")? {
            let (b, r, k) = (ints(&batch, 0), ints(&batch, 1), ints(&batch, 2));
            for i in 0..batch.num_rows() {
                let record = RecordRef {
                    batch_id: b.value(i),
                    record: r.value(i),
                };
                out.insert(record, k.value(i));
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(n: i64) -> LinkInput {
        LinkInput {
            records: (1..=n)
                .map(|record| RecordRef {
                    batch_id: 1,
                    record,
                })
                .collect(),
            link: {
                let mut r = Records::new();
                for _ in 0..n {
                    r.start(None);
                }
                r
            },
            locators: (1..=n).map(|r| (1, format!("line:{r}"))).collect(),
            files: HashMap::new(),
            sources: HashMap::new(),
        }
    }

    fn keys(staging: &Staging) -> Vec<i64> {
        let mut stmt = staging
            .conn
            .prepare("SELECT person_key FROM person_records ORDER BY record")
            .unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    fn events(staging: &Staging, run: i64) -> Vec<(String, i64, i64)> {
        let mut stmt = staging
            .conn
            .prepare("SELECT event, person_key, other_key FROM person_events WHERE run_id = ? ORDER BY ALL")
            .unwrap();
        stmt.query_map([run], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    #[test]
    fn keys_stay_and_merges_and_splits_are_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let mut staging = Staging::open(dir.path()).unwrap();
        let four = input(4);
        let first = staging.save_persons(&four, &[0, 0, 2, 2], "plan").unwrap();
        assert_eq!((first.persons, first.new_keys), (2, 2));
        let k = keys(&staging);
        assert_eq!(k[0], k[1]);
        assert_ne!(k[0], k[2]);

        // The same grouping under other group ids: the same keys.
        let same = staging.save_persons(&four, &[7, 7, 3, 3], "plan").unwrap();
        assert_eq!((same.new_keys, same.merges, same.splits), (0, 0, 0));
        assert_eq!(keys(&staging), k);

        // All four together: the older key stays, the other merges into it.
        let merged = staging.save_persons(&four, &[1, 1, 1, 1], "plan").unwrap();
        assert_eq!((merged.new_keys, merged.merges), (0, 1));
        assert_eq!(keys(&staging), vec![k[0]; 4]);
        assert_eq!(
            events(&staging, merged.run_id),
            [("merge".into(), k[0], k[2])]
        );

        // Three and one: the larger part keeps the key, the record alone
        // gets a new one, split off it.
        let split = staging.save_persons(&four, &[5, 5, 5, 9], "plan").unwrap();
        assert_eq!((split.new_keys, split.splits), (1, 1));
        let now = keys(&staging);
        assert_eq!(&now[..3], &[k[0]; 3]);
        assert_ne!(now[3], k[0]);
        assert_eq!(
            events(&staging, split.run_id),
            [("split".into(), now[3], k[0])]
        );

        // A record new since the last run joins its group's key.
        let five = input(5);
        let grown = staging
            .save_persons(&five, &[5, 5, 5, 9, 9], "plan")
            .unwrap();
        assert_eq!(grown.new_keys, 0);
        assert_eq!(keys(&staging)[4], now[3]);
    }
}
