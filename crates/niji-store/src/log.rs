//! The access log in the store: every audit event becomes a leaf of one
//! RFC 6962 Merkle tree ([`niji_audit`]) in the same transaction that
//! writes it, with the hashes of the subtrees it completes. The entry's
//! bytes are recomputed from the event row ([`niji_audit::entry`]); only
//! hashes are stored beside it.

use crate::db::{Conn, Value, stamp};
use crate::{Store, StoreError};
use chrono::{DateTime, Utc};
use niji_audit::entry::{Entry, commitment};
use niji_audit::event::{EventKind, Family};
use niji_audit::index::PersonIndex;
use niji_audit::merkle::{self, Hash, MemoryTree, ProofError, Subtrees};
use niji_audit::note::{Checkpoint, LogKey};
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};

/// The stored subtrees, read through one connection. A statement that
/// fails is kept, so that the caller reports the store's error rather than
/// a missing subtree ([`Stored::result`]).
struct Stored<'a> {
    conn: &'a Conn,
    failed: RefCell<Option<StoreError>>,
}

impl<'a> Stored<'a> {
    fn new(conn: &'a Conn) -> Self {
        Self {
            conn,
            failed: RefCell::new(None),
        }
    }

    /// The error of a statement that failed since the last call, if any.
    fn check(&self) -> Result<(), StoreError> {
        match self.failed.borrow_mut().take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// `r` as the store reports it: the statement's error if one failed.
    fn result<T>(&self, r: Result<T, ProofError>) -> Result<T, StoreError> {
        self.check()?;
        r.map_err(proof_error)
    }
}

impl Subtrees for Stored<'_> {
    fn subtree(&self, level: u32, index: u64) -> Result<Hash, ProofError> {
        let missing = ProofError::Missing { level, index };
        let hash: Option<Vec<u8>> = self
            .conn
            .opt_value(
                "SELECT hash FROM log_nodes WHERE level = $1 AND idx = $2",
                &[&level, &index],
            )
            .map_err(|e| {
                self.failed.replace(Some(e));
                missing.clone()
            })?;
        match hash {
            Some(h) => Hash::try_from(h.as_slice()).map_err(|_| ProofError::Length(h.len())),
            None => Err(missing),
        }
    }
}

fn proof_error(e: ProofError) -> StoreError {
    match e {
        ProofError::Invalid(reason) => StoreError::Refused(reason),
        other => StoreError::Damaged {
            what: format!("access log: {other}"),
        },
    }
}

/// The entry of event `event_id` at leaf `index`, with the commitments
/// of the persons `log_persons` ties to that leaf.
fn entry_of(conn: &Conn, event_id: i64, index: u64) -> Result<Entry, StoreError> {
    let (at, actor, kind, subject, detail): (DateTime<Utc>, String, String, String, String) = conn
        .one(
            "SELECT occurred_at, actor, kind, subject, detail FROM audit_events WHERE id = $1",
            &[&event_id],
        )?;
    let mut entry = Entry {
        index,
        at: stamp(&at),
        actor,
        kind,
        subject,
        detail,
        persons: Vec::new(),
    };
    let salts: Vec<Vec<u8>> = conn.values(
        "SELECT s.salt FROM log_persons p JOIN person_salts s USING (person_key) WHERE p.idx = $1",
        &[&index],
    )?;
    entry.persons = salts.iter().map(|s| commitment(s, index)).collect();
    // Sorted, so that the order says nothing about the persons' keys.
    entry.persons.sort_unstable();
    Ok(entry)
}

/// The next leaf index: the log's size. Read from the leaves' primary
/// key, not counted.
pub(crate) fn size(conn: &Conn) -> Result<u64, StoreError> {
    conn.value("SELECT coalesce(max(idx) + 1, 0) FROM log_leaves", &[])
}

/// The releases an event used, from its columns: a release's own events
/// are scoped to it; a project's events use every release its grant
/// covers.
///
/// A grant's releases are kept in `known` once every release its items
/// name is on the platform: grant items are never changed and releases
/// never removed, so the set is final then, and a batch need not read it.
fn releases_of(
    conn: &Conn,
    project: Option<i64>,
    release: Option<i64>,
    known: &mut HashMap<i64, Vec<i64>>,
) -> Result<Vec<i64>, StoreError> {
    let ids = if let Some(grant) = project {
        if let Some(ids) = known.get(&grant) {
            return Ok(ids.clone());
        }
        let named: Vec<Option<i64>> = conn.values(
            "SELECT min(r.release_id) FROM grant_items g \
             LEFT JOIN releases r ON r.name = g.release WHERE g.grant_id = $1 GROUP BY g.release",
            &[&grant],
        )?;
        let mut ids: Vec<i64> = named.iter().flatten().copied().collect();
        ids.sort_unstable();
        ids.dedup();
        if !named.is_empty() && named.iter().all(Option::is_some) {
            known.insert(grant, ids.clone());
        }
        ids
    } else {
        release.into_iter().collect()
    };
    Ok(ids)
}

/// Ties leaf `index` to `persons` (deduplicated), making their salts on
/// first need; their commitments, sorted as [`entry_of`] reads them back.
fn tie_persons(conn: &Conn, index: u64, persons: &[i64]) -> Result<Vec<Hash>, StoreError> {
    let mut persons = persons.to_vec();
    persons.sort_unstable();
    persons.dedup();
    let mut out = Vec::with_capacity(persons.len());
    for person in persons {
        let mut salt = [0u8; 32];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut salt)
            .map_err(|_| StoreError::Crypto("system random source failed".into()))?;
        conn.execute(
            "INSERT INTO person_salts (person_key, salt) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[&person, &salt],
        )?;
        let salt: Vec<u8> = conn.value(
            "SELECT salt FROM person_salts WHERE person_key = $1",
            &[&person],
        )?;
        conn.execute(
            "INSERT INTO log_persons (idx, person_key) VALUES ($1, $2)",
            &[&index, &person],
        )?;
        out.push(commitment(&salt, index));
    }
    out.sort_unstable();
    Ok(out)
}

/// The complete subtrees on the right edge of a tree of `size` leaves: one
/// per bit set in `size`. Appending reads only these, and the nodes it
/// makes itself.
fn frontier(conn: &Conn, size: u64) -> Result<HashMap<(u32, u64), Hash>, StoreError> {
    let stored = Stored::new(conn);
    let mut out = HashMap::new();
    for level in 0..64u32 {
        if size >> level & 1 == 1 {
            let index = (size >> level) - 1;
            let hash = stored.result(stored.subtree(level, index))?;
            out.insert((level, index), hash);
        }
    }
    Ok(out)
}

/// An audit event as written, for its leaf.
pub(crate) struct Written<'a> {
    /// Its row id.
    pub id: i64,
    /// `occurred_at` as the store renders it.
    pub at: String,
    /// Who acted.
    pub actor: &'a str,
    /// Its kind's name: an [`EventKind`]'s, or one an older niji wrote.
    pub kind: &'a str,
    /// What it concerns, as the entry carries it.
    pub subject: String,
    /// The project it concerns (the `project_id` column).
    pub project: Option<i64>,
    /// The release it is scoped to (the `release_id` column).
    pub release: Option<i64>,
    /// Details.
    pub detail: &'a str,
    /// The person keys it names by commitment.
    pub persons: &'a [i64],
}

impl<'a> Written<'a> {
    /// A new event as written with row `id` at `at`, scoped to `release`.
    pub(crate) fn new(id: i64, at: String, e: &crate::NewEvent<'a>, release: Option<i64>) -> Self {
        Self {
            id,
            at,
            actor: e.actor,
            kind: e.kind.as_str(),
            subject: e.subject.text(),
            project: e.subject.project(),
            release,
            detail: e.detail,
            persons: e.persons,
        }
    }
}

/// Batches up to this many events are written with prepared inserts.
const SMALL_BATCH: usize = 16;

fn insert_rows(conn: &Conn, sql: &str, rows: &[(i64, i64)]) -> Result<(), StoreError> {
    for (a, b) in rows {
        conn.execute(sql, &[a, b])?;
    }
    Ok(())
}

fn append_rows(
    conn: &Conn,
    table: &str,
    columns: &[&str],
    rows: &[(i64, i64)],
) -> Result<(), StoreError> {
    let rows: Vec<Vec<Value>> = rows
        .iter()
        .map(|&(a, b)| vec![Value::Int(a), Value::Int(b)])
        .collect();
    conn.insert_rows(table, columns, &rows)
}

/// The log's size and the frontier of its tree, as the last batch left
/// them: what the next batch needs, kept so that it reads nothing.
#[derive(Debug, Clone)]
pub(crate) struct Head {
    size: u64,
    frontier: HashMap<(u32, u64), Hash>,
    /// The releases of grants whose release set is final (`releases_of`).
    grant_releases: HashMap<i64, Vec<i64>>,
}

fn read_head(conn: &Conn) -> Result<Head, StoreError> {
    let size = size(conn)?;
    Ok(Head {
        size,
        frontier: frontier(conn, size)?,
        grant_releases: HashMap::new(),
    })
}

/// Appends `events` as the next leaves (see [`append_batch`]), reading the
/// head from the store.
pub(crate) fn append_all(conn: &Conn, events: &[Written]) -> Result<Vec<u64>, StoreError> {
    let head = read_head(conn)?;
    append_from(conn, head, events).map(|(indices, _)| indices)
}

/// Appends `events` as the next leaves from `cached`, the head a previous
/// batch of this store left, when nothing else appended since; their
/// indices and the new head, to keep once the transaction commits.
pub(crate) fn append_batch(
    conn: &Conn,
    cached: Option<Head>,
    events: &[Written],
) -> Result<(Vec<u64>, Head), StoreError> {
    // Something else may have appended since: an event written in a
    // governance transaction, another server, an operator's command. The
    // log's size, read under the writer lock the caller's transaction
    // holds, tells; a log only grows, so a head of the same size is the
    // same tree's.
    let head = match cached {
        Some(head) if size(conn)? == head.size => head,
        _ => read_head(conn)?,
    };
    append_from(conn, head, events)
}

/// Appends `events` as the next leaves, in order, each scoped to the
/// releases it used and naming its persons by commitment. The hashes are
/// computed here from the head's frontier, so a batch reads nothing of the
/// tree however long it is. The caller holds the transaction that wrote
/// the events.
fn append_from(
    conn: &Conn,
    head: Head,
    events: &[Written],
) -> Result<(Vec<u64>, Head), StoreError> {
    let start = head.size;
    let mut nodes = head.frontier;
    let mut grant_releases = head.grant_releases;
    let mut scopes: HashMap<(Option<i64>, Option<i64>), Vec<i64>> = HashMap::new();
    let mut made_nodes = Vec::with_capacity(events.len() * 2);
    let mut scoped = Vec::new();
    let mut indices = Vec::with_capacity(events.len());
    for (k, e) in events.iter().enumerate() {
        let index = start + k as u64;
        let (id, at) = (e.id, &e.at);
        let releases = match scopes.entry((e.project, e.release)) {
            std::collections::hash_map::Entry::Occupied(found) => found.into_mut(),
            std::collections::hash_map::Entry::Vacant(slot) => slot.insert(releases_of(
                conn,
                e.project,
                e.release,
                &mut grant_releases,
            )?),
        };
        scoped.extend(releases.iter().map(|release| (index, *release)));
        let entry = Entry {
            index,
            at: at.clone(),
            actor: e.actor.to_owned(),
            kind: e.kind.to_owned(),
            subject: e.subject.clone(),
            detail: e.detail.to_owned(),
            persons: tie_persons(conn, index, e.persons)?,
        };
        let made = merkle::completed(index, entry.leaf_hash(), |level, i| {
            nodes
                .get(&(level, i))
                .copied()
                .ok_or(ProofError::Missing { level, index: i })
        })
        .map_err(proof_error)?;
        for (level, hash) in made {
            nodes.insert((level, index >> level), hash);
            made_nodes.push((level, index >> level, hash));
        }
        indices.push((index, id));
    }
    let nodes_made: Vec<(i32, i64, Vec<u8>)> = made_nodes
        .into_iter()
        .map(|(level, index, hash)| (level as i32, index as i64, hash.to_vec()))
        .collect();
    let leaves: Vec<(i64, i64)> = indices.iter().map(|(i, id)| (*i as i64, *id)).collect();
    let scoped: Vec<(i64, i64)> = scoped.into_iter().map(|(i, r)| (i as i64, r)).collect();
    // A request's batch is a few rows: prepared inserts, kept, cost less
    // than opening appenders; a long batch goes through appenders.
    if events.len() <= SMALL_BATCH {
        insert_rows(
            conn,
            "INSERT INTO log_leaves (idx, event_id) VALUES ($1, $2)",
            &leaves,
        )?;
        for (level, index, hash) in &nodes_made {
            conn.execute(
                "INSERT INTO log_nodes (level, idx, hash) VALUES ($1, $2, $3)",
                &[level, index, hash],
            )?;
        }
        insert_rows(
            conn,
            "INSERT INTO log_scopes (idx, release_id) VALUES ($1, $2)",
            &scoped,
        )?;
    } else {
        append_rows(conn, "log_leaves", &["idx", "event_id"], &leaves)?;
        let nodes: Vec<Vec<Value>> = nodes_made
            .iter()
            .map(|(level, index, hash)| {
                vec![
                    Value::Int(i64::from(*level)),
                    Value::Int(*index),
                    Value::Blob(hash.clone()),
                ]
            })
            .collect();
        conn.insert_rows("log_nodes", &["level", "idx", "hash"], &nodes)?;
        append_rows(conn, "log_scopes", &["idx", "release_id"], &scoped)?;
    }
    let size = start + events.len() as u64;
    let mut frontier = HashMap::new();
    for level in 0..64u32 {
        if size >> level & 1 == 1 {
            let key = (level, (size >> level) - 1);
            let hash = nodes.get(&key).copied().ok_or(StoreError::Damaged {
                what: format!("access log: subtree {key:?} of the frontier is missing"),
            })?;
            frontier.insert(key, hash);
        }
    }
    let head = Head {
        size,
        frontier,
        grant_releases,
    };
    Ok((
        leaves.into_iter().map(|(index, _)| index as u64).collect(),
        head,
    ))
}

/// Whether the store has the access log's tables (a store opened with
/// another migration set may not).
pub(crate) fn has_log(conn: &Conn) -> Result<bool, StoreError> {
    for table in ["audit_events", "log_leaves", "log_nodes", "log_scopes"] {
        if !conn.has_table(table)? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Appends, in order, every event that has no leaf yet (a store from
/// before the log, or events written by an older niji).
pub(crate) fn catch_up(conn: &Conn) -> Result<u64, StoreError> {
    type Row = (
        i64,
        DateTime<Utc>,
        String,
        String,
        String,
        String,
        Option<i64>,
        Option<i64>,
    );
    let rows: Vec<Row> = conn.all(
        "SELECT id, occurred_at, actor, kind, subject, detail, project_id, release_id FROM audit_events \
         WHERE id NOT IN (SELECT event_id FROM log_leaves) ORDER BY id",
        &[],
    )?;
    let events: Vec<Written> = rows
        .iter()
        .map(
            |(id, at, actor, kind, subject, detail, project, release)| Written {
                id: *id,
                at: stamp(at),
                actor,
                kind,
                subject: subject.clone(),
                project: *project,
                release: *release,
                detail,
                persons: &[],
            },
        )
        .collect();
    if events.is_empty() {
        return Ok(0);
    }
    let tx = conn.transaction()?;
    append_all(&tx, &events)?;
    tx.commit()?;
    Ok(events.len() as u64)
}

impl Store {
    /// Leaves in the log.
    pub fn log_size(&self) -> Result<u64, StoreError> {
        size(&self.conn)
    }

    /// The entry at leaf `index`.
    pub fn log_entry(&self, index: u64) -> Result<Entry, StoreError> {
        let event: i64 = self
            .conn
            .opt_value("SELECT event_id FROM log_leaves WHERE idx = $1", &[&index])?
            .ok_or_else(|| StoreError::Refused(format!("no log entry {index}")))?;
        entry_of(&self.conn, event, index)
    }

    /// The root of the tree of the first `size` leaves.
    pub fn log_root(&self, size: u64) -> Result<Hash, StoreError> {
        self.within(size)?;
        let stored = Stored::new(&self.conn);
        stored.result(merkle::root(&stored, size))
    }

    /// The inclusion proof of leaf `index` in the tree of `size` leaves.
    pub fn log_inclusion(&self, index: u64, size: u64) -> Result<Vec<Hash>, StoreError> {
        self.within(size)?;
        let stored = Stored::new(&self.conn);
        stored.result(merkle::inclusion_proof(&stored, index, size))
    }

    /// The consistency proof from the tree of `first` leaves to `second`.
    pub fn log_consistency(&self, first: u64, second: u64) -> Result<Vec<Hash>, StoreError> {
        self.within(second)?;
        let stored = Stored::new(&self.conn);
        stored.result(merkle::consistency_proof(&stored, first, second))
    }

    fn within(&self, size: u64) -> Result<(), StoreError> {
        let have = self.log_size()?;
        if size > have {
            return Err(StoreError::Refused(format!(
                "the log has {have} entries, not {size}"
            )));
        }
        Ok(())
    }

    /// Recomputes the whole tree from the events and compares it with the
    /// stored hashes; the size checked, or the first index that differs.
    pub fn verify_log(&self) -> Result<u64, StoreError> {
        let leaves: Vec<(i64, i64)> = self.conn.all(
            "SELECT l.idx, l.event_id FROM log_leaves l ORDER BY l.idx",
            &[],
        )?;
        let mut tree = MemoryTree::default();
        let stored = Stored::new(&self.conn);
        for (expected, (index, event)) in leaves.iter().enumerate() {
            let index = *index as u64;
            let damaged = |what: &str| StoreError::Damaged {
                what: format!("access log entry {index}: {what}"),
            };
            if index != expected as u64 {
                return Err(damaged("a leaf is missing before it"));
            }
            let leaf = entry_of(&self.conn, *event, index)
                .map_err(|_| damaged("its event is gone"))?
                .leaf_hash();
            let made = merkle::completed(index, leaf, |level, i| tree.subtree(level, i))
                .map_err(proof_error)?;
            tree.push_hash(leaf);
            for (level, hash) in made {
                let found = stored.subtree(level, index >> level);
                stored.check()?;
                if found.ok() != Some(hash) {
                    return Err(damaged(if level == 0 {
                        "its event differs from what was logged"
                    } else {
                        "a stored subtree hash differs"
                    }));
                }
            }
        }
        Ok(leaves.len() as u64)
    }
}

/// A checkpoint as issued and kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedCheckpoint {
    /// The tree size it states.
    pub size: u64,
    /// The signed note.
    pub note: String,
    /// The verifier key that checks it.
    pub verifier: String,
    /// When it was issued (UTC).
    pub issued_at: String,
}

impl Store {
    /// The log's signing key, from the keystore (`checkpoint-signing`); its
    /// name is the log's origin.
    pub fn log_key(&self, keystore: &crate::keystore::Keystore) -> Result<LogKey, StoreError> {
        let pair = self
            .open_key(keystore, "checkpoint-signing")?
            .signing_key()?;
        LogKey::from_pair(&LogKey::origin_for(&pair), pair)
            .map_err(|e| StoreError::Crypto(e.to_string()))
    }

    /// Signs a checkpoint of the log as it is now and keeps it; when the
    /// log has not grown since the last one, that one is returned.
    pub fn issue_checkpoint(&self, key: &LogKey) -> Result<IssuedCheckpoint, StoreError> {
        let size = self.log_size()?;
        if let Some(last) = self.latest_checkpoint()?
            && last.size == size
        {
            return Ok(last);
        }
        let root = self.log_root(size)?;
        let checkpoint = Checkpoint {
            origin: key.name().to_owned(),
            size,
            root,
        };
        let note = key
            .sign(&checkpoint.text())
            .map_err(|e| StoreError::Crypto(e.to_string()))?;
        // Not itself an audit event: the log would grow with every
        // checkpoint, and a checkpoint would never be current.
        // Another server may sign the same size at the same moment: its
        // note is the same (Ed25519 signs deterministically), and one is kept.
        self.conn.execute(
            "INSERT INTO log_checkpoints (size, root, note, verifier) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (size) DO NOTHING",
            &[&size, &root.to_vec(), &note, &key.verifier()],
        )?;
        self.latest_checkpoint()?
            .ok_or_else(|| StoreError::Damaged {
                what: "a checkpoint vanished after it was written".into(),
            })
    }

    /// Every checkpoint issued, oldest first.
    pub fn checkpoints(&self) -> Result<Vec<IssuedCheckpoint>, StoreError> {
        Ok(self
            .conn
            .all(
                "SELECT size, note, verifier, issued_at FROM log_checkpoints ORDER BY size",
                &[],
            )?
            .into_iter()
            .map(checkpoint_from_row)
            .collect())
    }

    /// The latest checkpoint, if one was issued.
    pub fn latest_checkpoint(&self) -> Result<Option<IssuedCheckpoint>, StoreError> {
        Ok(self
            .conn
            .opt(
                "SELECT size, note, verifier, issued_at FROM log_checkpoints ORDER BY size DESC LIMIT 1",
                &[],
            )?
            .map(checkpoint_from_row))
    }

    /// Checks every stored checkpoint: its signature, its root against the
    /// recomputed tree, and a consistency proof from the one before.
    pub fn verify_checkpoints(&self) -> Result<usize, StoreError> {
        let all = self.checkpoints()?;
        let mut previous: Option<Checkpoint> = None;
        for issued in &all {
            let damaged = |what: String| StoreError::Damaged {
                what: format!("checkpoint of size {}: {what}", issued.size),
            };
            let checkpoint = niji_audit::note::open_checkpoint(&issued.note, &issued.verifier)
                .map_err(|e| damaged(e.to_string()))?;
            if checkpoint.size != issued.size || checkpoint.root != self.log_root(issued.size)? {
                return Err(damaged("its root is not the log's at that size".into()));
            }
            if let Some(before) = previous.as_ref().filter(|b| b.size > 0) {
                let proof = self.log_consistency(before.size, checkpoint.size)?;
                merkle::verify_consistency(
                    before.size,
                    checkpoint.size,
                    &before.root,
                    &checkpoint.root,
                    &proof,
                )
                .map_err(|e| damaged(format!("not consistent with the one before: {e}")))?;
            }
            previous = Some(checkpoint);
        }
        Ok(all.len())
    }
}

fn checkpoint_from_row(
    (size, note, verifier, issued_at): (u64, String, String, DateTime<Utc>),
) -> IssuedCheckpoint {
    IssuedCheckpoint {
        size,
        note,
        verifier,
        issued_at: stamp(&issued_at),
    }
}

/// A release's members as the index stores them (a serialized roaring
/// bitmap of person numbers).
pub(crate) fn members_bitmap(members: &[i64]) -> Result<Vec<u8>, StoreError> {
    let numbers = members
        .iter()
        .map(|&k| person_number(k))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(PersonIndex::members_bytes(numbers))
}

/// A person key as the index numbers it.
fn person_number(key: i64) -> Result<u32, StoreError> {
    u32::try_from(key).map_err(|_| StoreError::Damaged {
        what: format!("person key {key} is outside the index's range (0 to 2^32)"),
    })
}

/// Writes the member bitmap of every release that lacks one (releases
/// built before the index), and the scopes of the leaves appended before
/// it. Runs on open, after the migrations.
pub(crate) fn index_catch_up(conn: &Conn) -> Result<(), StoreError> {
    let missing: Vec<i64> = conn.values(
        "SELECT release_id FROM releases WHERE release_id NOT IN (SELECT release_id FROM release_bitmaps)",
        &[],
    )?;
    let unscoped: i64 = conn.value(
        "SELECT count(*) FROM log_leaves WHERE (SELECT count(*) FROM log_scopes) = 0",
        &[],
    )?;
    if missing.is_empty() && unscoped == 0 {
        return Ok(());
    }
    let tx = conn.transaction()?;
    for release in missing {
        let members: Vec<i64> = tx.values(
            "SELECT person_key FROM release_members WHERE release_id = $1",
            &[&release],
        )?;
        tx.execute(
            "INSERT INTO release_bitmaps (release_id, members) VALUES ($1, $2)",
            &[&release, &(members_bitmap(&members)?)],
        )?;
    }
    if unscoped > 0 {
        let leaves: Vec<(i64, Option<i64>, Option<i64>)> = tx.all(
            "SELECT l.idx, e.project_id, e.release_id FROM log_leaves l JOIN audit_events e ON e.id = l.event_id ORDER BY l.idx",
            &[],
        )?;
        let mut known = HashMap::new();
        for (idx, project, release) in leaves {
            for release in releases_of(&tx, project, release, &mut known)? {
                tx.execute(
                    "INSERT INTO log_scopes (idx, release_id) VALUES ($1, $2)",
                    &[&idx, &release],
                )?;
            }
        }
    }
    tx.commit()?;
    Ok(())
}

/// Brings the in-memory index up to what is committed: the members of
/// releases it has not loaded, and the scopes and persons of the leaves
/// after the last it read. Reading only committed rows keeps it right
/// whatever transaction rolled back.
pub(crate) fn refresh(conn: &Conn, index: &mut PersonIndex) -> Result<(), StoreError> {
    let releases: Vec<i64> = conn.values(
        "SELECT release_id FROM release_bitmaps ORDER BY release_id",
        &[],
    )?;
    for release in releases {
        if index.has_members(release as u64) {
            continue;
        }
        let bytes: Vec<u8> = conn.value(
            "SELECT members FROM release_bitmaps WHERE release_id = $1",
            &[&release],
        )?;
        index
            .add_release_bytes(release as u64, &bytes)
            .map_err(|e| StoreError::Damaged {
                what: e.to_string(),
            })?;
    }
    let (from, to) = (index.next(), size(conn)?);
    if from >= to {
        return Ok(());
    }
    let mut links: BTreeMap<u64, (Vec<u64>, Vec<u32>)> = BTreeMap::new();
    let scopes: Vec<(u64, u64)> = conn.all(
        "SELECT idx, release_id FROM log_scopes WHERE idx >= $1 AND idx < $2 ORDER BY idx",
        &[&from, &to],
    )?;
    for (idx, release) in scopes {
        links.entry(idx).or_default().0.push(release);
    }
    let persons: Vec<(u64, i64)> = conn.all(
        "SELECT idx, person_key FROM log_persons WHERE idx >= $1 AND idx < $2 ORDER BY idx",
        &[&from, &to],
    )?;
    for (idx, person) in persons {
        links.entry(idx).or_default().1.push(person_number(person)?);
    }
    for idx in from..to {
        let (releases, persons) = links.remove(&idx).unwrap_or_default();
        index
            .add_entry(idx, &releases, &persons)
            .map_err(|e| StoreError::Damaged {
                what: e.to_string(),
            })?;
    }
    // Each entry's family, project and month (a person's view groups and
    // filters by them), and each project's queries (the count it shows).
    let described: Vec<(u64, String, Option<i64>, DateTime<Utc>)> = conn.all(
        "SELECT l.idx, e.kind, e.project_id, e.occurred_at FROM log_leaves l \
         JOIN audit_events e ON e.id = l.event_id WHERE l.idx >= $1 AND l.idx < $2 ORDER BY l.idx",
        &[&from, &to],
    )?;
    for (idx, kind, project, at) in described {
        let kind = EventKind::parse(&kind);
        let project = project.map(|p| p as u64);
        index.describe(
            idx,
            kind.map_or(Family::Other, EventKind::family),
            project,
            view_month(at),
        );
        if let (Some(project), Some(true)) = (project, kind.map(EventKind::is_query)) {
            index.mark_query(project, idx);
        }
    }
    Ok(())
}

/// The time zone of a person's view: Japan (UTC+9, no daylight saving).
pub fn japan() -> chrono::FixedOffset {
    chrono::FixedOffset::east_opt(9 * 3600).expect("UTC+9 is a valid offset")
}

/// The month (`YYYYMM`) of `at` in Japan.
pub fn view_month(at: DateTime<Utc>) -> u32 {
    use chrono::Datelike;
    let local = at.with_timezone(&japan());
    local.year() as u32 * 100 + local.month()
}
