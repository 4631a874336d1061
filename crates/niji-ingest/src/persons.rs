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
use arrow_array::{Array, ArrayRef, BinaryArray, Int64Array, RecordBatch, StringArray};
use duckdb::params;
use niji_linkage::link::{Month, Records};
use niji_linkage::{Identity, Plan, Tokenizer};
use std::collections::HashMap;
use std::sync::Arc;

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

/// Where one record of a person came from: what a re-identification
/// answers with, never a name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceRecord {
    /// The facility that sent it, if the record names one.
    pub facility: Option<String>,
    /// The source kind.
    pub source: String,
    /// The file as named at ingest.
    pub file: String,
    /// Where the record is in the file.
    pub locator: String,
}

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
        // Batch offsets, indexed by batch id (ids are a dense sequence):
        // each batch's first record's index and its record count.
        let mut offsets: Vec<Option<(usize, i64)>> = Vec::new();
        let mut records = Vec::new();
        self.each_batch(
            "SELECT batch_id, CAST(count(*) AS BIGINT), CAST(max(record) AS BIGINT) FROM subjects GROUP BY batch_id ORDER BY batch_id",
            |batch| {
            let (b, n, max) = (ints(&batch, 0), ints(&batch, 1), ints(&batch, 2));
            for i in 0..batch.num_rows() {
                if n.value(i) != max.value(i) {
                    return Err(self.damaged(format!(
                        "batch {} numbers its records with gaps",
                        b.value(i)
                    )));
                }
                let slot = usize::try_from(b.value(i))
                    .map_err(|_| self.damaged(format!("batch id {} is negative", b.value(i))))?;
                if offsets.len() <= slot {
                    offsets.resize(slot + 1, None);
                }
                offsets[slot] = Some((records.len(), n.value(i)));
                records.extend((1..=n.value(i)).map(|record| RecordRef {
                    batch_id: b.value(i),
                    record,
                }));
            }
            Ok(())
        })?;
        let index = |batch_id: i64, record: i64| -> Option<usize> {
            let (start, n) = (*offsets.get(usize::try_from(batch_id).ok()?)?)?;
            (1..=n)
                .contains(&record)
                .then(|| start + record as usize - 1)
        };

        // Each dated table's earliest month per record, one table at a
        // time (a union of them all cost twice as much), the earliest kept.
        let mut months: Vec<Option<Month>> = vec![None; records.len()];
        for (table, column) in DATED {
            let sql = format!(
                "SELECT batch_id, record, CAST(year(min(\"{column}\")) * 12 + month(min(\"{column}\")) - 1 AS BIGINT) \
                 FROM {table} WHERE \"{column}\" IS NOT NULL GROUP BY ALL"
            );
            self.each_batch(&sql, |batch| {
                let (b, r, month) = (ints(&batch, 0), ints(&batch, 1), ints(&batch, 2));
                for i in 0..batch.num_rows() {
                    let (Some(at), Ok(m)) = (
                        index(b.value(i), r.value(i)),
                        Month::try_from(month.value(i)),
                    ) else {
                        continue;
                    };
                    months[at] = Some(months[at].map_or(m, |old| old.min(m)));
                }
                Ok(())
            })?;
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
        self.each_batch(&sql, |batch| {
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
                    <&[u8; 32]>::try_from(tokens.value(i)),
                ) else {
                    return Err(self.damaged(format!(
                        "batch {} record {}: a token without its record, or not 32 bytes",
                        b.value(i),
                        r.value(i)
                    )));
                };
                let next = interned.len() as u32;
                let id = *interned
                    .entry((domain_of[k as usize], *bytes))
                    .or_insert(next);
                triples.push((at as u32, k, id));
            }
            Ok(())
        })?;
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
            files,
            sources,
        })
    }

    /// Each record's locator (line or element in its file), index for
    /// index with `input.records`: what a synthetic truth map names.
    /// Linking itself does not need them.
    pub fn locators(&self, input: &LinkInput) -> Result<Vec<String>, IngestError> {
        let mut locators = vec![String::new(); input.records.len()];
        self.each_batch("SELECT batch_id, record, locator FROM subjects", |batch| {
            let (b, r, l) = (ints(&batch, 0), ints(&batch, 1), strings(&batch, 2));
            for i in 0..batch.num_rows() {
                let record = RecordRef {
                    batch_id: b.value(i),
                    record: r.value(i),
                };
                if let Ok(at) = input.records.binary_search(&record) {
                    locators[at] = l.value(i).to_owned();
                }
            }
            Ok(())
        })?;
        Ok(locators)
    }

    /// The source records of one linked person, in batch and record order.
    pub fn source_records(&self, person_key: i64) -> Result<Vec<SourceRecord>, IngestError> {
        self.ensure_person_tables()?;
        let mut stmt = self
            .conn
            .prepare(
                "SELECT s.facility, s.source, b.file, s.locator
                 FROM person_records p JOIN subjects s USING (batch_id, record) JOIN batches b USING (batch_id)
                 WHERE p.person_key = ? ORDER BY s.batch_id, s.record",
            )
            .map_err(self.err())?;
        let rows = stmt
            .query_map([person_key], |r| {
                Ok(SourceRecord {
                    facility: r.get(0)?,
                    source: r.get(1)?,
                    file: r.get(2)?,
                    locator: r.get(3)?,
                })
            })
            .map_err(self.err())?;
        rows.collect::<Result<_, _>>().map_err(self.err())
    }

    /// The person keys of the records that carry any of `tokens` (a
    /// citizen's enrolment: their insured-number tokens find their
    /// records). Empty before the first linkage run.
    pub fn persons_with_tokens(&self, tokens: &[[u8; 32]]) -> Result<Vec<i64>, IngestError> {
        self.ensure_person_tables()?;
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT DISTINCT p.person_key FROM tokens t JOIN person_records p USING (batch_id, record)
                 WHERE t.token = ?",
            )
            .map_err(self.err())?;
        let mut keys = Vec::new();
        for token in tokens {
            let found = stmt
                .query_map([token.to_vec()], |r| r.get::<_, i64>(0))
                .map_err(self.err())?;
            for key in found {
                keys.push(key.map_err(self.err())?);
            }
        }
        keys.sort_unstable();
        keys.dedup();
        Ok(keys)
    }

    /// The person keys of an insured person's records: those that carry
    /// the tokens `tokenizer` makes of their insured-person number.
    pub fn insured_persons(
        &self,
        tokenizer: &Tokenizer,
        id: &Identity,
    ) -> Result<Vec<i64>, IngestError> {
        let tokens: Vec<[u8; 32]> = tokenizer
            .insured_tokens(id)
            .into_iter()
            .map(|t| t.bytes)
            .collect();
        self.persons_with_tokens(&tokens)
    }

    fn damaged(&self, reason: String) -> IngestError {
        IngestError::Io {
            path: self.path.clone(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, reason),
        }
    }

    /// Runs a query and collects its Arrow record batches.
    /// Runs a query and hands its result to `f` a batch at a time, as
    /// DuckDB streams it: the caller's work overlaps DuckDB's, and the
    /// whole result never sits in memory twice.
    fn each_batch(
        &self,
        sql: &str,
        mut f: impl FnMut(RecordBatch) -> Result<(), IngestError>,
    ) -> Result<(), IngestError> {
        let err = self.err();
        let mut stmt = self.conn.prepare(sql).map_err(&err)?;
        for batch in stmt.stream_arrow([]).map_err(&err)? {
            f(batch.map_err(&err)?)?;
        }
        Ok(())
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
        let previous = self.previous_keys(input)?;
        let path = self.path.clone();
        let err = |source| IngestError::Staging {
            path: path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(err)?;
        let run_id: i64 = tx
            .query_row("SELECT nextval('link_run')", [], |r| r.get(0))
            .map_err(err)?;
        let members = members(groups);
        let mut saved = SavedPersons {
            run_id,
            persons: members.len() as u64,
            ..SavedPersons::default()
        };
        // A key stays with the group holding most of its records; `best`
        // maps it to (count, group's position in `members`).
        let mut best: HashMap<i64, (usize, usize)> = HashMap::new();
        for (g, group) in members.iter().enumerate() {
            let mut counts: HashMap<i64, usize> = HashMap::new();
            for k in group.iter().filter_map(|&i| previous[i]) {
                *counts.entry(k).or_default() += 1;
            }
            for (k, n) in counts {
                let entry = best.entry(k).or_insert((n, g));
                if n > entry.0 {
                    *entry = (n, g);
                }
            }
        }
        let mut owned: Vec<Vec<i64>> = vec![Vec::new(); members.len()];
        for (key, (_, owner)) in &best {
            owned[*owner].push(*key);
        }
        // New keys come from the sequence in one query: one statement per
        // key cost more than the rest of the run together.
        let needed = owned.iter().filter(|o| o.is_empty()).count();
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
        let mut events: Vec<(&str, i64, i64)> = Vec::new();
        let mut changed = Changes::default();
        for (g, (group, kept)) in members.iter().zip(&mut owned).enumerate() {
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
                    fresh.next().ok_or_else(|| IngestError::Staging {
                        path: path.clone(),
                        source: duckdb::Error::QueryReturnedNoRows,
                    })?
                }
            };
            // Old keys of these records that stayed with another group:
            // this group split off them.
            let mut split_from: Vec<i64> = group
                .iter()
                .filter_map(|&i| previous[i])
                .filter(|k| best.get(k).is_some_and(|&(_, owner)| owner != g))
                .collect();
            split_from.sort_unstable();
            split_from.dedup();
            for from in split_from {
                events.push(("split", key, from));
                saved.splits += 1;
            }
            // Only records whose key is new or changed are written: a
            // rerun over the same persons writes nothing but its run.
            for &i in group.iter().filter(|&&i| previous[i] != Some(key)) {
                changed.push(input.records[i], key);
            }
        }
        tx.execute_batch(
            "CREATE OR REPLACE TEMP TABLE person_changes (batch_id BIGINT, record BIGINT, person_key BIGINT)",
        )
        .map_err(err)?;
        let batch = changed.batch().map_err(|e| IngestError::Io {
            path: path.clone(),
            source: std::io::Error::other(e),
        })?;
        if let Some(batch) = batch {
            let mut app = tx.appender("person_changes").map_err(err)?;
            app.append_record_batch(batch).map_err(err)?;
            // Flushed here: a flush on drop would swallow its error.
            app.flush().map_err(err)?;
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
            app.flush().map_err(err)?;
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

    /// Each record's key from earlier runs, index for index with
    /// `input.records`.
    fn previous_keys(&self, input: &LinkInput) -> Result<Vec<Option<i64>>, IngestError> {
        let mut out = vec![None; input.records.len()];
        self.each_batch(
            "SELECT batch_id, record, person_key FROM person_records",
            |batch| {
                let (b, r, k) = (ints(&batch, 0), ints(&batch, 1), ints(&batch, 2));
                for i in 0..batch.num_rows() {
                    let record = RecordRef {
                        batch_id: b.value(i),
                        record: r.value(i),
                    };
                    // Records are in (batch, record) order.
                    if let Ok(at) = input.records.binary_search(&record) {
                        out[at] = Some(k.value(i));
                    }
                }
                Ok(())
            },
        )?;
        Ok(out)
    }
}

/// The records of each group, ordered by their first record, so that new
/// keys follow the order of the records.
fn members(groups: &[u32]) -> Vec<Vec<usize>> {
    let mut packed: Vec<u64> = groups
        .iter()
        .enumerate()
        .map(|(i, &g)| u64::from(g) << 32 | i as u64)
        .collect();
    packed.sort_unstable();
    let mut members: Vec<Vec<usize>> = packed
        .chunk_by(|a, b| a >> 32 == b >> 32)
        .map(|run| run.iter().map(|&p| (p & 0xffff_ffff) as usize).collect())
        .collect();
    members.sort_unstable_by_key(|m| m[0]);
    members
}

/// Person keys to write, as Arrow columns for the appender.
#[derive(Default)]
struct Changes {
    batch_id: Vec<i64>,
    record: Vec<i64>,
    person_key: Vec<i64>,
}

impl Changes {
    fn push(&mut self, r: RecordRef, key: i64) {
        self.batch_id.push(r.batch_id);
        self.record.push(r.record);
        self.person_key.push(key);
    }

    fn batch(self) -> Result<Option<RecordBatch>, arrow_schema::ArrowError> {
        if self.batch_id.is_empty() {
            return Ok(None);
        }
        let column = |v: Vec<i64>| Arc::new(Int64Array::from(v)) as ArrayRef;
        RecordBatch::try_from_iter([
            ("batch_id", column(self.batch_id)),
            ("record", column(self.record)),
            ("person_key", column(self.person_key)),
        ])
        .map(Some)
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
