//! The server's writes to the access log, with group commit.
//!
//! The store behind its mutex is the log's single writer. A request that
//! must log queues its event and then takes the store: whoever holds it
//! first writes every queued event in one transaction
//! (`Store::audit_many`) and hands each waiter its entry's index. Requests
//! that finish together share one durable write instead of queueing for
//! one each; a request returns only once its own entry is committed, and
//! if the batch fails, every request in it fails and returns nothing.
//!
//! An event that lets a result leave is written only while the project's
//! grant is in force for its researcher, read in the same transaction:
//! a grant revoked (on this server or another) after the gate let the
//! request in keeps the result in, and the log holds the refusal.

use crate::problem::ApiError;
use crate::state::Inner;
use niji_audit::event::EventKind;
use niji_store::{Logged, NewEvent};
use std::sync::mpsc::{SyncSender, TryRecvError, sync_channel};

/// An audit event to log.
pub(crate) struct Event {
    /// Who acted.
    pub actor: String,
    /// What happened.
    pub kind: EventKind,
    /// The project it concerns (a grant's id).
    pub project: i64,
    /// Details (never personal data).
    pub detail: String,
}

impl Event {
    /// An event of an analysis request on `granted`'s project.
    pub(crate) fn of(granted: &crate::gate::Granted, kind: EventKind, detail: String) -> Event {
        Event {
            actor: granted.account().to_owned(),
            kind,
            project: granted.grant().id,
            detail,
        }
    }
}

/// Logs an analysis request's outcome on `granted`'s project before its
/// answer may leave: as `released` when it succeeded, else as
/// `analysis.refused`.
pub(crate) fn log_outcome(
    inner: &Inner,
    granted: &crate::gate::Granted,
    released: EventKind,
    succeeded: bool,
    detail: String,
) -> Result<u64, ApiError> {
    let kind = if succeeded {
        released
    } else {
        EventKind::AnalysisRefused
    };
    log(inner, Event::of(granted, kind, detail))
}

type Waiter = SyncSender<Result<u64, ApiError>>;

/// Events waiting for the writer.
#[derive(Default)]
pub(crate) struct Queue {
    pending: std::sync::Mutex<Vec<(Event, Waiter)>>,
}

impl Queue {
    fn push(&self, event: Event, waiter: Waiter) -> Result<(), ApiError> {
        self.pending
            .lock()
            .map_err(|_| ApiError::Internal("log queue lock poisoned".into()))?
            .push((event, waiter));
        Ok(())
    }

    fn take(&self) -> Result<Vec<(Event, Waiter)>, ApiError> {
        Ok(std::mem::take(&mut *self.pending.lock().map_err(|_| {
            ApiError::Internal("log queue lock poisoned".into())
        })?))
    }
}

/// Logs `event` and returns its index once it is durable. Call it on the
/// blocking pool, holding no store guard.
pub(crate) fn log(inner: &Inner, event: Event) -> Result<u64, ApiError> {
    let (waiter, answer) = sync_channel(1);
    inner.log_queue.push(event, waiter)?;
    loop {
        // The batch that held ours may have been written while we waited.
        match answer.try_recv() {
            Ok(result) => return result,
            Err(TryRecvError::Disconnected) => {
                return Err(ApiError::Internal("the log writer dropped an event".into()));
            }
            Err(TryRecvError::Empty) => {}
        }
        // The log is not governance state: what the gate keeps stays.
        let store = inner.store_keeping_governance()?;
        if let Ok(result) = answer.try_recv() {
            return result;
        }
        let batch = inner.log_queue.take()?;
        if batch.is_empty() {
            continue;
        }
        let events: Vec<NewEvent> = batch
            .iter()
            .map(|(e, _)| NewEvent {
                actor: &e.actor,
                kind: e.kind,
                subject: niji_audit::event::Subject::Project(e.project),
                detail: &e.detail,
                persons: &[],
                releases_under: e.kind.releases_a_result().then_some(e.project),
            })
            .collect();
        let written = store.audit_many(&events).map_err(ApiError::from);
        if batch.len() > 1 {
            tracing::debug!(events = batch.len(), "access log group commit");
        }
        for (i, (_, waiter)) in batch.iter().enumerate() {
            let result = match &written {
                Ok(logged) => match &logged[i] {
                    Logged::Entry(index) => Ok(*index),
                    // The grant lapsed after the gate let the request in:
                    // the refusal is logged, the result stays in.
                    Logged::Withheld { reason, .. } => Err(ApiError::Forbidden(format!(
                        "{reason}; the result was not released"
                    ))),
                },
                Err(e) => Err(e.clone()),
            };
            // A waiter that gave up has nothing to be told.
            let _ = waiter.send(result);
        }
        // Answered before the store is let go, so that a waiter who takes
        // it next finds its answer.
        drop(store);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::AppState;
    use niji_core::SecretString;

    #[test]
    fn concurrent_events_each_get_one_durable_entry() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = niji_store::Store::create(dir.path()).unwrap();
        store
            .initialize(
                &SecretString::new("group-commit-passphrase".into()),
                "admin",
                &SecretString::new("group-commit-admin-password".into()),
            )
            .unwrap();
        let before = store.log_size().unwrap();
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &[7; 32]);
        let state = AppState::new(store, dir.path(), niji_linkage::Tokenizer::new(key));
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let inner = state.inner();
                std::thread::spawn(move || {
                    (0..25)
                        .map(|i| {
                            let event = Event {
                                actor: format!("thread-{t}"),
                                kind: EventKind::AnalysisRefused,
                                project: 1,
                                detail: format!("{{\"n\":{i}}}"),
                            };
                            log(&inner, event).unwrap()
                        })
                        .collect::<Vec<u64>>()
                })
            })
            .collect();
        let mut indices: Vec<u64> = threads
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect();
        indices.sort_unstable();
        let expected: Vec<u64> = (before..before + 200).collect();
        assert_eq!(indices, expected, "one entry each, none shared, none lost");
        let inner = state.inner();
        let store = inner.store().unwrap();
        assert_eq!(store.verify_log().unwrap(), before + 200);
        // Each thread's events are in the log in the order it logged them.
        let entries: Vec<_> = (before..before + 200)
            .map(|i| store.log_entry(i).unwrap())
            .filter(|e| e.actor == "thread-3")
            .map(|e| e.detail)
            .collect();
        let in_order: Vec<String> = (0..25).map(|i| format!("{{\"n\":{i}}}")).collect();
        assert_eq!(entries, in_order);
    }
}
