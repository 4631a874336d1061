//! A project's public activity log: each of its analysis requests — when,
//! SQL, differentially private or a model, under which rule set, how it ended
//! (released, released with cells suppressed, held for review, refused),
//! the ρ it spent — and the query's text where the grant's terms publish
//! it. Read from the access log's own events; never a result, never a
//! reason that could quote data.

use crate::db::stamp;
use crate::{Store, StoreError};
use chrono::{DateTime, Utc};
use niji_audit::event::EventKind;
use serde_json::Value;

/// How a request ended, as the public reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// The result left.
    Released,
    /// The result left with some cells suppressed.
    Suppressed,
    /// The result is held for reviewers (or was, and they have not
    /// decided).
    InReview,
    /// Reviewers held it back, or the request was refused.
    Refused,
}

impl Status {
    /// Its name in JSON and URLs.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Released => "released",
            Status::Suppressed => "suppressed",
            Status::InReview => "in_review",
            Status::Refused => "refused",
        }
    }
}

/// One request of a project.
#[derive(Debug, Clone, PartialEq)]
pub struct Activity {
    /// Its entry's event id (for paging).
    pub id: i64,
    /// When (UTC).
    pub at: String,
    /// `sql`, `dp` or `model`.
    pub kind: &'static str,
    /// The grant's output rule set, for SQL.
    pub rule_set: Option<String>,
    /// How it ended.
    pub status: Status,
    /// The privacy budget it spent (zCDP ρ; 0 for SQL).
    pub rho: f64,
    /// The query (SQL, the DP request, or the model's formula and family),
    /// when the grant publishes it.
    pub query: Option<String>,
}

/// A page of a project's activity, newest first.
#[derive(Debug, Clone, PartialEq)]
pub struct ActivityPage {
    /// The project's title.
    pub title: String,
    /// Whether the grant publishes its queries' text.
    pub publishes_queries: bool,
    /// This page.
    pub requests: Vec<Activity>,
    /// The `before` of the next (older) page.
    pub next_before: Option<i64>,
}

/// The kinds that are a project's analysis requests.
const KINDS: [EventKind; 4] = [
    EventKind::AnalysisQuery,
    EventKind::AnalysisDp,
    EventKind::AnalysisModel,
    EventKind::AnalysisRefused,
];

impl Store {
    /// The requests of project `project` before event `before` (the newest
    /// without it), at most `limit`. A project that is not on the register
    /// (no grant) is refused as unknown.
    pub fn activity(
        &self,
        project: i64,
        before: Option<i64>,
        limit: usize,
    ) -> Result<ActivityPage, StoreError> {
        let grant = self.grant(project)?;
        let publish = grant.conditions.publish_queries;
        let title: String = self.conn.value(
            "SELECT title FROM applications WHERE id = $1",
            &[&grant.application_id],
        )?;
        let limit = limit.clamp(1, 500);
        let rows: Vec<(i64, DateTime<Utc>, String, String)> = self.conn.all(
            "SELECT id, occurred_at, kind, detail FROM audit_events \
             WHERE project_id = $1 AND kind IN ($2, $3, $4, $5) AND id < $6 \
             ORDER BY id DESC LIMIT $7",
            &[
                &project,
                &KINDS[0].as_str(),
                &KINDS[1].as_str(),
                &KINDS[2].as_str(),
                &KINDS[3].as_str(),
                &before.unwrap_or(i64::MAX),
                &(limit as i64 + 1),
            ],
        )?;
        let more = rows.len() > limit;
        let mut requests = Vec::with_capacity(limit);
        for (id, at, kind, detail) in rows.into_iter().take(limit) {
            requests.push(self.one(id, &at, &kind, &detail, publish)?);
        }
        let next_before = more.then(|| requests.last().map(|r| r.id)).flatten();
        Ok(ActivityPage {
            title,
            publishes_queries: publish,
            requests,
            next_before,
        })
    }

    fn one(
        &self,
        id: i64,
        at: &DateTime<Utc>,
        kind: &str,
        detail: &str,
        publish: bool,
    ) -> Result<Activity, StoreError> {
        // The server writes these details as JSON; an older or damaged one
        // reads as an empty object rather than failing the public page.
        let detail: Value = serde_json::from_str(detail).unwrap_or(Value::Null);
        let request = if kind == EventKind::AnalysisModel.as_str() || detail.get("model").is_some()
        {
            "model"
        } else if kind == EventKind::AnalysisDp.as_str() || detail.get("spec").is_some() {
            "dp"
        } else {
            "sql"
        };
        let status = if kind == EventKind::AnalysisRefused.as_str() {
            Status::Refused
        } else if let Some(held) = detail.get("airlock").and_then(Value::as_i64) {
            let decided: Option<String> = self
                .conn
                .opt_value("SELECT status FROM airlock WHERE id = $1", &[&held])?;
            match decided.as_deref() {
                Some("released") => Status::Released,
                Some("rejected") => Status::Refused,
                _ => Status::InReview,
            }
        } else if detail
            .get("suppressed")
            .and_then(Value::as_u64)
            .unwrap_or(0)
            > 0
        {
            Status::Suppressed
        } else {
            Status::Released
        };
        let query = publish
            .then(|| {
                let text = detail
                    .get("sql")
                    .or_else(|| detail.get("model"))
                    .or_else(|| detail.get("spec"));
                match text {
                    Some(Value::String(text)) => Some(text.clone()),
                    Some(other) => Some(other.to_string()),
                    None => None,
                }
            })
            .flatten();
        Ok(Activity {
            id,
            at: stamp(at),
            kind: request,
            rule_set: detail
                .get("rule_set")
                .and_then(Value::as_str)
                .map(str::to_owned),
            status,
            rho: detail.get("rho").and_then(Value::as_f64).unwrap_or(0.0),
            query,
        })
    }
}
