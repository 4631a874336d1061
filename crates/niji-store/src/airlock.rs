//! The airlock: results held for review. A result with cells in "review"
//! is not returned; it waits here until two reviewers who are neither its
//! author nor members of its project release it, or one rejects it. Only a
//! released result can be fetched, by the project's members.
//!
//! The result is stored as the caller renders it (the server's JSON); the
//! store does not read it. Every step is an audit event in the same
//! transaction as its change.

use crate::{Account, Store, StoreError};
use duckdb::{OptionalExt, params};
use niji_core::Role;

/// Releases a held result needs.
pub const RELEASES_NEEDED: usize = 2;

/// A held (or decided) result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    /// Its id.
    pub id: i64,
    /// The project (grant).
    pub grant_id: i64,
    /// Who ran the query.
    pub author: String,
    /// The query.
    pub sql: String,
    /// The result, as rendered when it was held.
    pub result: String,
    /// What disclosure control found, as rendered.
    pub findings: String,
    /// `held`, `released` or `rejected`.
    pub status: String,
    /// When it was held (UTC).
    pub created_at: String,
    /// Reviewers' decisions so far.
    pub reviews: Vec<AirlockReview>,
}

/// One reviewer's decision on a held result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AirlockReview {
    /// The reviewer.
    pub reviewer: String,
    /// `release` or `reject`.
    pub decision: String,
    /// Why.
    pub comment: String,
}

/// A reviewer's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The result may leave.
    Release,
    /// It may not.
    Reject,
}

fn refused(reason: impl Into<String>) -> StoreError {
    StoreError::Refused(reason.into())
}

fn forbidden(reason: impl Into<String>) -> StoreError {
    StoreError::Forbidden(reason.into())
}

impl Store {
    /// Holds a result for review; returns its id.
    pub fn hold_result(
        &self,
        author: &str,
        grant_id: i64,
        sql: &str,
        result: &str,
        findings: &str,
    ) -> Result<i64, StoreError> {
        let tx = self.conn.unchecked_transaction()?;
        let id: i64 = tx.query_row(
            "INSERT INTO airlock (grant_id, author, sql, result, findings, status) \
             VALUES (?, ?, ?, ?, ?, 'held') RETURNING id",
            params![grant_id, author, sql, result, findings],
            |r| r.get(0),
        )?;
        crate::releases::audit_in(
            &tx,
            author,
            "airlock.hold",
            &format!("project {grant_id}"),
            &format!("result {id}"),
        )?;
        tx.commit()?;
        Ok(id)
    }

    /// One held result, with its reviews.
    pub fn held(&self, id: i64) -> Result<Held, StoreError> {
        let mut held = self
            .conn
            .query_row(
                "SELECT id, grant_id, author, sql, result, findings, status, \
                 left(CAST(created_at AS VARCHAR), 19) FROM airlock WHERE id = ?",
                params![id],
                |r| {
                    Ok(Held {
                        id: r.get(0)?,
                        grant_id: r.get(1)?,
                        author: r.get(2)?,
                        sql: r.get(3)?,
                        result: r.get(4)?,
                        findings: r.get(5)?,
                        status: r.get(6)?,
                        created_at: r.get(7)?,
                        reviews: Vec::new(),
                    })
                },
            )
            .optional()?
            .ok_or_else(|| refused(format!("no held result {id}")))?;
        let mut stmt = self.conn.prepare(
            "SELECT reviewer, decision, comment FROM airlock_reviews \
             WHERE airlock_id = ? ORDER BY reviewed_at, reviewer",
        )?;
        let rows = stmt.query_map(params![id], |r| {
            Ok(AirlockReview {
                reviewer: r.get(0)?,
                decision: r.get(1)?,
                comment: r.get(2)?,
            })
        })?;
        held.reviews = rows.collect::<Result<_, _>>()?;
        Ok(held)
    }

    /// Results waiting for `reviewer`: held, not their own, not of a
    /// project they are in.
    pub fn airlock_queue(&self, reviewer: &Account) -> Result<Vec<Held>, StoreError> {
        if reviewer.role != Role::Reviewer {
            return Err(forbidden("only reviewers check held results"));
        }
        let ids: Vec<i64> = {
            let mut stmt = self.conn.prepare(
                "SELECT id FROM airlock a WHERE status = 'held' AND author <> ? \
                 AND NOT EXISTS (SELECT 1 FROM airlock_reviews r WHERE r.airlock_id = a.id AND r.reviewer = ?) \
                 ORDER BY id",
            )?;
            let rows = stmt.query_map(params![reviewer.name, reviewer.name], |r| r.get(0))?;
            rows.collect::<Result<_, _>>()?
        };
        let mut queue = Vec::new();
        for id in ids {
            let held = self.held(id)?;
            if self
                .conflict_with_project(reviewer, held.grant_id)?
                .is_none()
            {
                queue.push(held);
            }
        }
        Ok(queue)
    }

    /// Records a reviewer's decision; two releases release the result, one
    /// rejection rejects it.
    pub fn review_result(
        &self,
        reviewer: &Account,
        id: i64,
        verdict: Verdict,
        comment: &str,
    ) -> Result<Held, StoreError> {
        let held = self.held(id)?;
        if reviewer.role != Role::Reviewer {
            return Err(forbidden("only reviewers check held results"));
        }
        if held.author == reviewer.name {
            return Err(forbidden("nobody checks their own result"));
        }
        if let Some(conflict) = self.conflict_with_project(reviewer, held.grant_id)? {
            return Err(forbidden(format!(
                "{conflict}: project {}'s results are checked by others",
                held.grant_id
            )));
        }
        if held.status != "held" {
            return Err(refused(format!("result {id} was {} already", held.status)));
        }
        if held.reviews.iter().any(|r| r.reviewer == reviewer.name) {
            return Err(refused(format!(
                "`{}` has checked result {id} already",
                reviewer.name
            )));
        }
        crate::governance::check_text("comment", comment, crate::governance::MAX_REASON)?;
        if verdict == Verdict::Reject && comment.trim().is_empty() {
            return Err(refused("a rejection gives its reasons"));
        }
        let decision = match verdict {
            Verdict::Release => "release",
            Verdict::Reject => "reject",
        };
        let releases = held
            .reviews
            .iter()
            .filter(|r| r.decision == "release")
            .count()
            + usize::from(verdict == Verdict::Release);
        let status = match verdict {
            Verdict::Reject => "rejected",
            Verdict::Release if releases >= RELEASES_NEEDED => "released",
            Verdict::Release => "held",
        };
        let tx = self.conn.unchecked_transaction()?;
        tx.execute(
            "INSERT INTO airlock_reviews (airlock_id, reviewer, decision, comment) VALUES (?, ?, ?, ?)",
            params![id, reviewer.name, decision, comment],
        )?;
        let subject = format!("result {id}");
        crate::releases::audit_in(&tx, &reviewer.name, "airlock.review", &subject, decision)?;
        if status != "held" {
            tx.execute(
                "UPDATE airlock SET status = ?, decided_at = current_timestamp WHERE id = ?",
                params![status, id],
            )?;
            crate::releases::audit_in(
                &tx,
                &reviewer.name,
                &format!("airlock.{status}"),
                &subject,
                "",
            )?;
        }
        tx.commit()?;
        self.held(id)
    }
}
