//! The access log in the store: every audit event becomes a leaf of one
//! RFC 6962 Merkle tree ([`niji_audit`]) in the same transaction that
//! writes it, with the hashes of the subtrees it completes. The entry's
//! bytes are recomputed from the event row ([`niji_audit::entry`]); only
//! hashes are stored beside it.

use crate::{Store, StoreError};
use duckdb::{Connection, OptionalExt, params};
use niji_audit::entry::Entry;
use niji_audit::merkle::{self, Hash, MemoryTree, ProofError, Subtrees};
use niji_audit::note::{Checkpoint, LogKey};

/// The stored subtrees, read through one connection.
struct Stored<'a>(&'a Connection);

impl Subtrees for Stored<'_> {
    fn subtree(&self, level: u32, index: u64) -> Result<Hash, ProofError> {
        let missing = ProofError::Missing { level, index };
        let hash: Option<Vec<u8>> = self
            .0
            .prepare_cached("SELECT hash FROM log_nodes WHERE level = ? AND idx = ?")
            .and_then(|mut s| {
                s.query_row(params![level, index as i64], |r| r.get(0))
                    .optional()
            })
            .map_err(|_| missing.clone())?;
        hash.and_then(|h| Hash::try_from(h.as_slice()).ok())
            .ok_or(missing)
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

/// The entry of event `event_id` at leaf `index`.
fn entry_of(conn: &Connection, event_id: i64, index: u64) -> Result<Entry, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT CAST(occurred_at AS VARCHAR), actor, kind, subject, detail \
             FROM audit_events WHERE id = ?",
        )?
        .query_row(params![event_id], |r| {
            Ok(Entry {
                index,
                at: r.get(0)?,
                actor: r.get(1)?,
                kind: r.get(2)?,
                subject: r.get(3)?,
                detail: r.get(4)?,
                persons: Vec::new(),
            })
        })?)
}

fn size_of(conn: &Connection) -> Result<u64, StoreError> {
    let n: i64 = conn
        .prepare_cached("SELECT count(*) FROM log_leaves")?
        .query_row([], |r| r.get(0))?;
    Ok(n as u64)
}

/// Appends event `event_id` as the next leaf. The caller holds the
/// transaction that wrote the event.
pub(crate) fn append(conn: &Connection, event_id: i64) -> Result<u64, StoreError> {
    let index = size_of(conn)?;
    let leaf = entry_of(conn, event_id, index)?.leaf_hash();
    let stored = Stored(conn);
    let made =
        merkle::completed(index, leaf, |level, i| stored.subtree(level, i)).map_err(proof_error)?;
    conn.prepare_cached("INSERT INTO log_leaves (idx, event_id) VALUES (?, ?)")?
        .execute(params![index as i64, event_id])?;
    let mut insert =
        conn.prepare_cached("INSERT INTO log_nodes (level, idx, hash) VALUES (?, ?, ?)")?;
    for (level, hash) in made {
        insert.execute(params![level, (index >> level) as i64, hash.to_vec()])?;
    }
    Ok(index)
}

/// Appends, in order, every event that has no leaf yet (a store from
/// before the log, or events written by an older niji).
pub(crate) fn catch_up(conn: &Connection) -> Result<u64, StoreError> {
    // A store opened with another migration set may have no log.
    let tables: i64 = conn.query_row(
        "SELECT count(*) FROM information_schema.tables \
         WHERE table_schema = 'main' AND table_name IN ('audit_events', 'log_leaves', 'log_nodes')",
        [],
        |r| r.get(0),
    )?;
    if tables < 3 {
        return Ok(0);
    }
    let pending: Vec<i64> = conn
        .prepare(
            "SELECT id FROM audit_events WHERE id NOT IN (SELECT event_id FROM log_leaves) ORDER BY id",
        )?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    if pending.is_empty() {
        return Ok(0);
    }
    conn.execute_batch("BEGIN TRANSACTION")?;
    for id in &pending {
        if let Err(e) = append(conn, *id) {
            let _ = conn.execute_batch("ROLLBACK");
            return Err(e);
        }
    }
    conn.execute_batch("COMMIT")?;
    Ok(pending.len() as u64)
}

impl Store {
    /// Leaves in the log.
    pub fn log_size(&self) -> Result<u64, StoreError> {
        size_of(&self.conn)
    }

    /// The entry at leaf `index`.
    pub fn log_entry(&self, index: u64) -> Result<Entry, StoreError> {
        let event: i64 = self
            .cached_row(
                "SELECT event_id FROM log_leaves WHERE idx = ?",
                params![index as i64],
                |r| r.get(0),
            )?
            .ok_or_else(|| StoreError::Refused(format!("no log entry {index}")))?;
        entry_of(&self.conn, event, index)
    }

    /// The root of the tree of the first `size` leaves.
    pub fn log_root(&self, size: u64) -> Result<Hash, StoreError> {
        self.within(size)?;
        merkle::root(&Stored(&self.conn), size).map_err(proof_error)
    }

    /// The inclusion proof of leaf `index` in the tree of `size` leaves.
    pub fn log_inclusion(&self, index: u64, size: u64) -> Result<Vec<Hash>, StoreError> {
        self.within(size)?;
        merkle::inclusion_proof(&Stored(&self.conn), index, size).map_err(proof_error)
    }

    /// The consistency proof from the tree of `first` leaves to `second`.
    pub fn log_consistency(&self, first: u64, second: u64) -> Result<Vec<Hash>, StoreError> {
        self.within(second)?;
        merkle::consistency_proof(&Stored(&self.conn), first, second).map_err(proof_error)
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
        let mut stmt = self
            .conn
            .prepare("SELECT l.idx, l.event_id FROM log_leaves l ORDER BY l.idx")?;
        let leaves: Vec<(i64, i64)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        let mut tree = MemoryTree::default();
        let stored = Stored(&self.conn);
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
                if stored.subtree(level, index >> level).ok() != Some(hash) {
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
        self.conn.execute(
            "INSERT INTO log_checkpoints (size, root, note, verifier) VALUES (?, ?, ?, ?)",
            params![size as i64, root.to_vec(), note, key.verifier()],
        )?;
        self.latest_checkpoint()?
            .ok_or_else(|| StoreError::Damaged {
                what: "a checkpoint vanished after it was written".into(),
            })
    }

    /// Every checkpoint issued, oldest first.
    pub fn checkpoints(&self) -> Result<Vec<IssuedCheckpoint>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT size, note, verifier, CAST(issued_at AS VARCHAR) FROM log_checkpoints ORDER BY size",
        )?;
        let rows = stmt.query_map([], checkpoint_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The latest checkpoint, if one was issued.
    pub fn latest_checkpoint(&self) -> Result<Option<IssuedCheckpoint>, StoreError> {
        self.cached_row(
            "SELECT size, note, verifier, CAST(issued_at AS VARCHAR) FROM log_checkpoints ORDER BY size DESC LIMIT 1",
            [],
            checkpoint_from_row,
        )
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

fn checkpoint_from_row(r: &duckdb::Row<'_>) -> duckdb::Result<IssuedCheckpoint> {
    Ok(IssuedCheckpoint {
        size: r.get::<_, i64>(0)? as u64,
        note: r.get(1)?,
        verifier: r.get(2)?,
        issued_at: r.get(3)?,
    })
}
