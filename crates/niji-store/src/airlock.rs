//! The airlock: results held for review. A result with cells in "review"
//! is not returned; it waits here until two reviewers who are neither its
//! author nor members of its project release it, or one rejects it. Only a
//! released result can be fetched, by the project's members.
//!
//! The result is stored as the caller renders it (the server's JSON); the
//! store does not read it. Every step is an audit event in the same
//! transaction as its change.

use crate::{Account, Store, StoreError};
use chrono::{DateTime, Utc};
use niji_audit::event::{EventKind, Subject};
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
        let tx = self.conn.transaction()?;
        let id: i64 = tx.value(
            "INSERT INTO airlock (grant_id, author, sql, result, findings, status) \
             VALUES ($1, $2, $3, $4, $5, 'held') RETURNING id",
            &[&grant_id, &author, &sql, &result, &findings],
        )?;
        crate::releases::audit_in(
            &tx,
            author,
            EventKind::AirlockHold,
            Subject::Project(grant_id),
            &format!("result {id}"),
        )?;
        tx.commit()?;
        Ok(id)
    }

    /// One held result, with its reviews.
    pub fn held(&self, id: i64) -> Result<Held, StoreError> {
        type HeldRow = (
            i64,
            i64,
            String,
            String,
            String,
            String,
            String,
            DateTime<Utc>,
        );
        let row: Option<HeldRow> = self.conn.opt(
            "SELECT id, grant_id, author, sql, result, findings, status, created_at \
             FROM airlock WHERE id = $1",
            &[&id],
        )?;
        let (id, grant_id, author, sql, result, findings, status, created_at) =
            row.ok_or_else(|| refused(format!("no held result {id}")))?;
        let reviews: Vec<(String, String, String)> = self.conn.all(
            "SELECT reviewer, decision, comment FROM airlock_reviews \
             WHERE airlock_id = $1 ORDER BY reviewed_at, reviewer",
            &[&id],
        )?;
        let held = Held {
            id,
            grant_id,
            author,
            sql,
            result,
            findings,
            status,
            created_at: created_at.format("%Y-%m-%d %H:%M:%S").to_string(),
            reviews: reviews
                .into_iter()
                .map(|(reviewer, decision, comment)| AirlockReview {
                    reviewer,
                    decision,
                    comment,
                })
                .collect(),
        };
        Ok(held)
    }

    /// Results waiting for `reviewer`: held, not their own, not of a
    /// project they are in.
    pub fn airlock_queue(&self, reviewer: &Account) -> Result<Vec<Held>, StoreError> {
        if reviewer.role != Role::Reviewer {
            return Err(forbidden("only reviewers check held results"));
        }
        let ids: Vec<i64> = self.conn.values(
            "SELECT id FROM airlock a WHERE status = 'held' AND author <> $1 \
             AND NOT EXISTS (SELECT 1 FROM airlock_reviews r WHERE r.airlock_id = a.id AND r.reviewer = $1) \
             ORDER BY id",
            &[&reviewer.name],
        )?;
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
        // Read and decided under the writer lock: two reviewers on two
        // servers cannot both add the deciding review.
        let tx = self.conn.transaction()?;
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
        tx.execute(
            "INSERT INTO airlock_reviews (airlock_id, reviewer, decision, comment) VALUES ($1, $2, $3, $4)",
            &[&id, &reviewer.name, &decision, &comment],
        )?;
        let subject = Subject::Result(id);
        crate::releases::audit_in(
            &tx,
            &reviewer.name,
            EventKind::AirlockReview,
            subject,
            decision,
        )?;
        let decided = match status {
            "released" => Some(EventKind::AirlockReleased),
            "rejected" => Some(EventKind::AirlockRejected),
            _ => None,
        };
        if let Some(kind) = decided {
            tx.execute(
                "UPDATE airlock SET status = $1, decided_at = $2 WHERE id = $3",
                &[&status, &Utc::now(), &id],
            )?;
            crate::releases::audit_in(&tx, &reviewer.name, kind, subject, "")?;
        }
        tx.commit()?;
        self.held(id)
    }
}
