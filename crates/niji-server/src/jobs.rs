//! Asynchronous analysis jobs. An analysis request (SQL or DP) is waited
//! for a short time (`server.job_after_ms`); one that takes longer is
//! answered 202 with a job, which goes on running:
//!
//! - `GET /api/v1/jobs/{job}`: its status and progress;
//! - `GET /api/v1/jobs/{job}/result`: the answer the request would have
//!   had (JSON, or Arrow by Accept), once it is there;
//! - `DELETE /api/v1/jobs/{job}`: cancels it (the running query is
//!   interrupted, and a DP query not yet debited spends nothing) or
//!   forgets a finished one.
//!
//! A job is its author's: to any other account it does not exist. Every
//! call passes the purpose gate again, and the job's own event is written
//! only while the grant is in force (`crate::audit`), so a grant revoked
//! while a job ran keeps its result in. The job writes its audit event, as
//! any request does, before its result is kept, and each fetch is an event
//! of its own.
//! Jobs live in memory: a restart loses them (the client asks again), and
//! a finished job is forgotten an hour after it ended.

use crate::analysis::QueryResult;
use crate::caller::Caller;
use crate::dp::DpResult;
use crate::gate::Granted;
use crate::models::ModelResult;
use crate::problem::{ApiError, blocking};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header::LOCATION};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router, routing::get};
use niji_audit::event::EventKind;
use niji_query::Control;
use serde::Serialize;
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a finished job's result is kept.
const KEEP: Duration = Duration::from_secs(3600);

/// Jobs kept per account (running or finished, until fetched and deleted
/// or an hour old): a request beyond them is refused before it runs.
pub const MAX_JOBS: usize = 16;

/// Bytes of finished results kept per account (as JSON): a result that
/// would go past them is not kept, and its job says so.
pub const MAX_KEPT_BYTES: usize = 64 << 20;

/// The job routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/jobs/{job}", get(status).delete(cancel))
        .route("/api/v1/jobs/{job}/result", get(result))
}

/// What an analysis request answers.
pub(crate) enum Answer {
    /// An SQL result: 200 when released, 202 when held for the airlock.
    Query(StatusCode, QueryResult),
    /// A DP release.
    Dp(DpResult),
    /// A model's estimates.
    Model(ModelResult),
}

impl Answer {
    fn respond(&self, arrow: bool) -> Result<Response, ApiError> {
        match self {
            Answer::Query(status, result) => crate::analysis::respond(*status, result, arrow),
            Answer::Dp(result) => Ok(Json(result).into_response()),
            Answer::Model(result) => Ok(Json(result).into_response()),
        }
    }
}

type Outcome = Result<Answer, ApiError>;

/// One request that outlasted the wait.
pub(crate) struct Job {
    id: String,
    account: String,
    project: i64,
    kind: &'static str,
    control: Control,
    started: Instant,
    /// The outcome and when it came; `None` while running.
    ended: Mutex<Option<(Outcome, Instant)>>,
    /// The outcome's size as JSON, once finished.
    size: std::sync::atomic::AtomicUsize,
    done: tokio::sync::Notify,
}

impl Job {
    fn finish(&self, outcome: Outcome) {
        let size = match &outcome {
            Ok(Answer::Query(_, result)) => serde_json::to_vec(result).map_or(0, |v| v.len()),
            Ok(Answer::Dp(result)) => serde_json::to_vec(result).map_or(0, |v| v.len()),
            Ok(Answer::Model(result)) => serde_json::to_vec(result).map_or(0, |v| v.len()),
            Err(_) => 0,
        };
        self.size.store(size, std::sync::atomic::Ordering::Relaxed);
        if let Ok(mut ended) = self.ended.lock() {
            *ended = Some((outcome, Instant::now()));
        }
        // A permit is stored if no one waits yet, so the end is not missed.
        self.done.notify_one();
    }

    fn take(&self) -> Outcome {
        self.ended
            .lock()
            .map_err(|_| ApiError::Internal("job lock poisoned".into()))?
            .take()
            .map(|(outcome, _)| outcome)
            .unwrap_or_else(|| Err(ApiError::Internal("a job ended without an outcome".into())))
    }

    fn view(&self) -> Result<JobView, ApiError> {
        let ended = self
            .ended
            .lock()
            .map_err(|_| ApiError::Internal("job lock poisoned".into()))?;
        let (status, error) = match ended.as_ref() {
            None => ("running", None),
            Some((Ok(_), _)) => ("done", None),
            Some((Err(ApiError::Gone(_)), _)) => ("cancelled", None),
            Some((Err(e), _)) => ("failed", Some(e.to_string())),
        };
        let elapsed = match ended.as_ref() {
            Some((_, at)) => at.duration_since(self.started),
            None => self.started.elapsed(),
        };
        Ok(JobView {
            job: self.id.clone(),
            project: self.project,
            kind: self.kind,
            status,
            progress: if ended.is_none() {
                self.control.progress()
            } else {
                Some(100.0)
            },
            elapsed_ms: u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
            result: format!("/api/v1/jobs/{}/result", self.id),
            error,
        })
    }

    fn finished_before(&self, moment: Instant) -> bool {
        self.ended
            .lock()
            .map(|e| e.as_ref().is_some_and(|(_, at)| *at < moment))
            .unwrap_or(false)
    }
}

/// The jobs of the server.
pub(crate) struct Jobs {
    /// How long a request is waited for before it becomes a job.
    pub after: Duration,
    by_id: Mutex<HashMap<String, Arc<Job>>>,
}

impl Default for Jobs {
    fn default() -> Self {
        Jobs {
            after: Duration::from_secs(2),
            by_id: Mutex::default(),
        }
    }
}

impl Jobs {
    fn insert(&self, job: Arc<Job>) -> Result<(), ApiError> {
        let mut by_id = self
            .by_id
            .lock()
            .map_err(|_| ApiError::Internal("job lock poisoned".into()))?;
        if let Some(expired) = Instant::now().checked_sub(KEEP) {
            by_id.retain(|_, j| !j.finished_before(expired));
        }
        by_id.insert(job.id.clone(), job);
        Ok(())
    }

    /// Refuses a new request of `account` when it has [`MAX_JOBS`] kept.
    fn room_for(&self, account: &str) -> Result<(), ApiError> {
        let by_id = self
            .by_id
            .lock()
            .map_err(|_| ApiError::Internal("job lock poisoned".into()))?;
        let kept = by_id.values().filter(|j| j.account == account).count();
        if kept >= MAX_JOBS {
            return Err(ApiError::busy(format!(
                "{kept} jobs of yours are kept; fetch their results and delete them (DELETE /api/v1/jobs/{{id}}), or wait for them to end"
            )));
        }
        Ok(())
    }

    /// Drops the result of `job`, just finished, if with it `account`'s
    /// kept results would pass [`MAX_KEPT_BYTES`]: the job then says why.
    fn keep_within_bytes(&self, job: &Job) {
        let Ok(by_id) = self.by_id.lock() else {
            return;
        };
        // A request answered within the wait keeps nothing.
        if !by_id.contains_key(&job.id) {
            return;
        }
        let kept: usize = by_id
            .values()
            .filter(|j| j.account == job.account)
            .map(|j| j.size.load(std::sync::atomic::Ordering::Relaxed))
            .sum();
        drop(by_id);
        if kept > MAX_KEPT_BYTES {
            job.size.store(0, std::sync::atomic::Ordering::Relaxed);
            if let Ok(mut ended) = job.ended.lock()
                && let Some((outcome, _)) = ended.as_mut()
            {
                *outcome = Err(ApiError::Unprocessable(format!(
                    "the result is not kept: your kept results would pass {} MiB; fetch and delete earlier jobs, or narrow the query",
                    MAX_KEPT_BYTES >> 20
                )));
            }
        }
    }

    /// The job `id` of `account`; anyone else's reads as none.
    fn of(&self, id: &str, account: &str) -> Result<Arc<Job>, ApiError> {
        self.by_id
            .lock()
            .map_err(|_| ApiError::Internal("job lock poisoned".into()))?
            .get(id)
            .filter(|j| j.account == account)
            .cloned()
            .ok_or_else(|| ApiError::NotFound(format!("no job {id}")))
    }

    fn forget(&self, id: &str) {
        if let Ok(mut by_id) = self.by_id.lock() {
            by_id.remove(id);
        }
    }
}

/// A job as its author sees it.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct JobView {
    job: String,
    project: i64,
    /// `query` or `dp-query`.
    kind: &'static str,
    /// `running`, `done`, `failed` or `cancelled`.
    status: &'static str,
    /// DuckDB's estimate of the running query, in percent; null when it
    /// cannot tell.
    progress: Option<f64>,
    elapsed_ms: u64,
    /// Where the answer is fetched.
    result: String,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// Whose a job is: the account and project of the request.
pub(crate) struct Owner {
    account: String,
    project: i64,
}

impl Owner {
    /// The owner of a request that passed the gate.
    pub fn of(granted: &Granted) -> Owner {
        Owner {
            account: granted.account().to_owned(),
            project: granted.grant().id,
        }
    }
}

/// Queues `work` for the analysis workers and answers with its outcome if
/// it ends within the wait; otherwise answers 202 with the job it becomes.
/// A full queue is 429 with `Retry-After` (`crate::workers`).
pub(crate) async fn answer(
    state: &AppState,
    owner: Owner,
    kind: &'static str,
    arrow: bool,
    work: impl FnOnce(Control) -> Outcome + Send + 'static,
) -> Result<Response, ApiError> {
    let inner = state.inner();
    inner.jobs.room_for(&owner.account)?;
    let job = Arc::new(Job {
        id: crate::caller::random_hex(16)?,
        account: owner.account,
        project: owner.project,
        kind,
        control: Control::default(),
        started: Instant::now(),
        ended: Mutex::new(None),
        size: std::sync::atomic::AtomicUsize::new(0),
        done: tokio::sync::Notify::new(),
    });
    let worker = Arc::clone(&job);
    let control = job.control.clone();
    let keeper = state.inner();
    // Queued for a worker, or refused (429) with nothing run.
    inner.workers.submit(move || {
        let outcome = if control.is_cancelled() {
            // Cancelled while it waited: the worker takes the next.
            Err(ApiError::Gone(
                "the request was cancelled before it ran".into(),
            ))
        } else {
            // A panic must still end the job, or it would run forever.
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(control)))
                .unwrap_or_else(|_| Err(ApiError::Internal("an analysis job panicked".into())))
        };
        worker.finish(outcome);
        keeper.jobs.keep_within_bytes(&worker);
    })?;
    if tokio::time::timeout(inner.jobs.after, job.done.notified())
        .await
        .is_ok()
    {
        return job.take()?.respond(arrow);
    }
    inner.jobs.insert(Arc::clone(&job))?;
    let location = format!("/api/v1/jobs/{}", job.id);
    Ok((
        StatusCode::ACCEPTED,
        [(LOCATION, location)],
        Json(job.view()?),
    )
        .into_response())
}

/// The caller's job `id`, through the purpose gate of its project.
async fn gated(
    state: &AppState,
    caller: Caller,
    id: &str,
) -> Result<(Arc<Job>, Granted), ApiError> {
    let job = state.inner().jobs.of(id, &caller.account.name)?;
    let granted = Granted::pass_for(state, caller, job.project).await?;
    Ok((job, granted))
}

#[utoipa::path(get, path = "/api/v1/jobs/{job}", params(("job" = String, Path, description = "Job id")), responses((status = 200, description = "The job's status and progress", body = JobView), (status = 403, description = "Refused by the purpose gate of the job's project"), (status = 404, description = "No such job of the caller")))]
async fn status(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<JobView>, ApiError> {
    let (job, _) = gated(&state, caller, &id).await?;
    Ok(Json(job.view()?))
}

#[utoipa::path(get, path = "/api/v1/jobs/{job}/result", params(("job" = String, Path, description = "Job id")), responses((status = 200, description = "The answer, as the request would have had it (JSON, or Arrow by Accept)"), (status = 202, description = "Still running (the job's status), or held for the airlock"), (status = 403, description = "Refused by the purpose gate, or by the query's own refusal"), (status = 404, description = "No such job of the caller"), (status = 410, description = "The job was cancelled")))]
async fn result(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let (job, granted) = gated(&state, caller, &id).await?;
    let arrow = crate::arrow::wants_arrow(&headers);
    let finished = job
        .ended
        .lock()
        .map_err(|_| ApiError::Internal("job lock poisoned".into()))?
        .as_ref()
        .map(|(outcome, _)| outcome.is_ok());
    match finished {
        None => Ok((StatusCode::ACCEPTED, Json(job.view()?)).into_response()),
        Some(answered) => {
            if answered {
                // Log before release, as for the request itself.
                let detail = json!({ "project": job.project, "job": job.id, "kind": job.kind });
                audit(&state, granted, EventKind::AnalysisFetch, detail).await?;
            }
            let ended = job
                .ended
                .lock()
                .map_err(|_| ApiError::Internal("job lock poisoned".into()))?;
            match ended.as_ref() {
                Some((Ok(answer), _)) => answer.respond(arrow),
                Some((Err(e), _)) => Err(e.clone()),
                None => Err(ApiError::Internal("a finished job lost its outcome".into())),
            }
        }
    }
}

#[utoipa::path(delete, path = "/api/v1/jobs/{job}", params(("job" = String, Path, description = "Job id")), responses((status = 200, description = "Cancelled (a running job), or forgotten (a finished one)", body = JobView), (status = 403, description = "Refused by the purpose gate of the job's project"), (status = 404, description = "No such job of the caller")))]
async fn cancel(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<JobView>, ApiError> {
    let (job, granted) = gated(&state, caller, &id).await?;
    let running = job.view()?.status == "running";
    if running {
        job.control.cancel();
    } else {
        state.inner().jobs.forget(&job.id);
    }
    let detail = json!({
        "project": job.project, "job": job.id, "kind": job.kind,
        "action": if running { "cancel" } else { "forget" },
    });
    audit(&state, granted, EventKind::AnalysisCancel, detail).await?;
    Ok(Json(job.view()?))
}

/// An audit event of a job call, durable before the call answers.
async fn audit(
    state: &AppState,
    granted: Granted,
    kind: EventKind,
    detail: serde_json::Value,
) -> Result<(), ApiError> {
    let inner = state.inner();
    blocking(move || {
        crate::audit::log(
            &inner,
            crate::audit::Event::of(&granted, kind, detail.to_string()),
        )?;
        Ok(())
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering;

    fn job(id: &str, account: &str) -> Arc<Job> {
        Arc::new(Job {
            id: id.into(),
            account: account.into(),
            project: 1,
            kind: "query",
            control: Control::default(),
            started: Instant::now(),
            ended: Mutex::new(None),
            size: std::sync::atomic::AtomicUsize::new(0),
            done: tokio::sync::Notify::new(),
        })
    }

    #[test]
    fn an_account_keeps_so_many_jobs_and_bytes() {
        let jobs = Jobs::default();
        for i in 0..MAX_JOBS {
            jobs.room_for("alice").unwrap();
            jobs.insert(job(&format!("a{i}"), "alice")).unwrap();
        }
        assert!(matches!(jobs.room_for("alice"), Err(ApiError::Busy { .. })));
        assert!(jobs.room_for("bob").is_ok(), "another account has room");

        let big = jobs.of("a0", "alice").unwrap();
        big.finish(Err(ApiError::Internal("stand-in".into())));
        big.size.store(MAX_KEPT_BYTES, Ordering::Relaxed);
        let next = jobs.of("a1", "alice").unwrap();
        next.finish(Err(ApiError::Internal("stand-in".into())));
        next.size.store(1, Ordering::Relaxed);
        jobs.keep_within_bytes(&next);
        match next.take() {
            Err(ApiError::Unprocessable(why)) => assert!(why.contains("not kept"), "{why}"),
            other => panic!("kept past the bytes: {:?}", other.err()),
        }
        assert_eq!(next.size.load(Ordering::Relaxed), 0);
    }
}
