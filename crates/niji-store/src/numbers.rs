//! The released numbers of each project, with their persons, for
//! differencing control (migration 0013): a new number whose persons
//! differ from an earlier one's of the same family, on the same release,
//! by 1 to (minimum − 1) persons is found here and waits for review.
//!
//! A number is recorded before its result leaves (or is held), in the same
//! call that compares it, so that no number escapes the comparison of a
//! later one; a held result's numbers are then tied to it. Numbers of a
//! rejected result never left and are compared with nothing. A number
//! equal to one that left (same definition) tells nothing new and is not
//! compared again, nor recorded again.

use crate::db::{Conn, Param, placeholders};
use crate::{Store, StoreError};
use niji_core::person_index::Spread;
use roaring::RoaringBitmap;
use std::collections::{BTreeMap, HashMap, HashSet};

/// A number of a new result, as the store records it.
#[derive(Debug, Clone, Copy)]
pub struct NewNumber<'a> {
    /// Its family (numbers of one family are compared).
    pub family: &'a str,
    /// SHA-256 of its set's definition.
    pub definition: &'a [u8; 32],
    /// Its persons, over the release's person index.
    pub persons: &'a RoaringBitmap,
    /// In words, for the reviewers.
    pub label: &'a str,
}

/// An earlier number a few persons apart from a new one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Earlier {
    /// The new number it is close to (its index in the call's list).
    pub number: usize,
    /// The earlier number, in words.
    pub label: String,
    /// The query that gave it.
    pub sql: String,
    /// When (UTC, to the second).
    pub at: String,
    /// Persons apart (1 to minimum − 1).
    pub apart: u64,
}

/// An earlier number's size and definition, read before its persons.
struct Recorded {
    id: i64,
    persons: u64,
    definition: Vec<u8>,
    /// Whether it left: at once, or released from the airlock.
    left: bool,
}

/// The numbers that count: those not of a rejected result.
const STANDING: &str = "(n.airlock_id IS NULL OR a.status <> 'rejected')";

impl Store {
    /// Compares `numbers` of a new result of project `grant_id` on
    /// `release` with the project's earlier numbers of their families, and
    /// records them, in one transaction: the earlier numbers 1 to
    /// `min - 1` persons apart from one of them, and the ids of the
    /// records (for [`Store::hold_numbers`]). `sql` is the new result's
    /// query.
    pub fn difference_numbers(
        &self,
        grant_id: i64,
        release: &str,
        sql: &str,
        numbers: &[NewNumber<'_>],
        min: u64,
    ) -> Result<(Vec<Earlier>, Vec<i64>), StoreError> {
        let tx = self.conn.transaction()?;
        let mut by_family: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (i, n) in numbers.iter().enumerate() {
            by_family.entry(n.family).or_default().push(i);
        }
        let mut close = Vec::new();
        let mut known: HashSet<Vec<u8>> = HashSet::new();
        let mut loaded: HashMap<i64, (RoaringBitmap, Spread)> = HashMap::new();
        for (family, members) in &by_family {
            let recorded = recorded(&tx, grant_id, release, family, numbers, members, min)?;
            // Recorded once when an equal number left; a held one's equal
            // is recorded again, for its own result may be the one released.
            known.extend(
                recorded
                    .iter()
                    .filter(|r| r.left)
                    .map(|r| r.definition.clone()),
            );
            for &i in members {
                let n = &numbers[i];
                let size = n.persons.len();
                let mut spread = None;
                if recorded
                    .iter()
                    .any(|r| r.left && r.definition == n.definition)
                {
                    continue;
                }
                for r in recorded
                    .iter()
                    .filter(|r| r.persons.abs_diff(size) < min && r.definition != n.definition)
                {
                    let (earlier, earlier_spread) = match loaded.entry(r.id) {
                        std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                        std::collections::hash_map::Entry::Vacant(e) => {
                            let members = members_of(&tx, r.id)?;
                            let spread = Spread::of(&members);
                            e.insert((members, spread))
                        }
                    };
                    // Most pairs of near size differ by many persons: their
                    // spreads tell so without counting.
                    let spread = spread.get_or_insert_with(|| Spread::of(n.persons));
                    if spread.apart_at_least(earlier_spread, min) {
                        continue;
                    }
                    let apart = earlier.symmetric_difference_len(n.persons);
                    if (1..min).contains(&apart) {
                        let (label, sql, at) = described(&tx, r.id)?;
                        close.push(Earlier {
                            number: i,
                            label,
                            sql,
                            at,
                            apart,
                        });
                    }
                }
            }
        }
        let mut fresh = Vec::new();
        for n in numbers {
            if known.insert(n.definition.to_vec()) {
                fresh.push(n);
            }
        }
        let mut ids = Vec::with_capacity(fresh.len());
        for chunk in fresh.chunks(RECORDED_AT_ONCE) {
            ids.extend(record(&tx, grant_id, release, sql, chunk)?);
        }
        tx.commit()?;
        Ok((close, ids))
    }

    /// Ties recorded numbers `ids` to held result `airlock_id`: they left
    /// only if it is released, and count for nothing if it is rejected.
    pub fn hold_numbers(&self, ids: &[i64], airlock_id: i64) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        for chunk in ids.chunks(RECORDED_AT_ONCE) {
            let marks: Vec<String> = (2..chunk.len() + 2).map(|n| format!("${n}")).collect();
            let mut values: Vec<&dyn Param> = vec![&airlock_id];
            values.extend(chunk.iter().map(|id| id as &dyn Param));
            tx.execute(
                &format!(
                    "UPDATE released_numbers SET airlock_id = $1 WHERE id IN ({})",
                    marks.join(", ")
                ),
                values.as_slice(),
            )?;
        }
        tx.commit()?;
        Ok(())
    }
}

/// Numbers written by one statement: a result of a thousand rows has a
/// thousand or more, and one statement each took about a millisecond.
const RECORDED_AT_ONCE: usize = 100;

/// Records `numbers` of a result of query `sql`, in one statement; their
/// ids.
fn record(
    tx: &Conn,
    grant_id: i64,
    release: &str,
    sql: &str,
    numbers: &[&NewNumber<'_>],
) -> Result<Vec<i64>, StoreError> {
    let mut rows: Vec<(u64, Vec<u8>, Vec<u8>)> = Vec::with_capacity(numbers.len());
    for n in numbers {
        let mut members = Vec::with_capacity(n.persons.serialized_size());
        n.persons
            .serialize_into(&mut members)
            .map_err(|e| StoreError::Damaged {
                what: format!("a person set did not serialize: {e}"),
            })?;
        rows.push((n.persons.len(), n.definition.to_vec(), members));
    }
    let mut values: Vec<&dyn Param> = Vec::with_capacity(numbers.len() * 8);
    for (n, (persons, definition, members)) in numbers.iter().zip(&rows) {
        values.extend([
            &grant_id as &dyn Param,
            &release,
            &n.family,
            persons,
            definition,
            members,
            &n.label,
            &sql,
        ]);
    }
    let marks = placeholders(numbers.len(), 8, 1);
    tx.values(
        &format!(
            "INSERT INTO released_numbers (grant_id, release, family, persons, definition, members, label, sql) \
             VALUES {marks} RETURNING id"
        ),
        values.as_slice(),
    )
}

/// The recorded numbers of a family whose sizes come within `min` of
/// those of `members` (indices into `numbers`).
fn recorded(
    tx: &Conn,
    grant_id: i64,
    release: &str,
    family: &str,
    numbers: &[NewNumber<'_>],
    members: &[usize],
    min: u64,
) -> Result<Vec<Recorded>, StoreError> {
    let sizes = members.iter().map(|&i| numbers[i].persons.len());
    let low = sizes.clone().min().unwrap_or(0).saturating_sub(min);
    let high = sizes.max().unwrap_or(0).saturating_add(min);
    let rows: Vec<(i64, u64, Vec<u8>, bool)> = tx.all(
        &format!(
            "SELECT n.id, n.persons, n.definition, n.airlock_id IS NULL OR a.status = 'released' \
             FROM released_numbers n LEFT JOIN airlock a ON a.id = n.airlock_id \
             WHERE n.grant_id = $1 AND n.release = $2 AND n.family = $3 AND n.persons BETWEEN $4 AND $5 \
             AND {STANDING}"
        ),
        &[&grant_id, &release, &family, &low, &high],
    )?;
    Ok(rows
        .into_iter()
        .map(|(id, persons, definition, left)| Recorded {
            id,
            persons,
            definition,
            left,
        })
        .collect())
}

fn members_of(tx: &Conn, id: i64) -> Result<RoaringBitmap, StoreError> {
    let bytes: Vec<u8> = tx.value("SELECT members FROM released_numbers WHERE id = $1", &[&id])?;
    RoaringBitmap::deserialize_from(&bytes[..]).map_err(|e| StoreError::Damaged {
        what: format!("released number {id}: its persons do not read: {e}"),
    })
}

/// An earlier number's label, query and time, read only for the few
/// found close: the candidates' rows carry no text.
fn described(tx: &Conn, id: i64) -> Result<(String, String, String), StoreError> {
    let (label, sql, at): (String, String, chrono::DateTime<chrono::Utc>) = tx.one(
        "SELECT label, sql, created_at FROM released_numbers WHERE id = $1",
        &[&id],
    )?;
    Ok((label, sql, at.format("%Y-%m-%d %H:%M:%S").to_string()))
}
