//! Opened sandboxes kept for the next query over the same tables.
//!
//! Opening a sandbox (a DuckDB instance, the releases attached, the views,
//! the lock) costs more than a small query. A sandbox only ever runs
//! checked, read-only SQL and its configuration is locked, so the next
//! query of the same grant may use it again: the pool keeps a few idle
//! ones, keyed by exactly what they expose (tables, files, columns and
//! memory settings), never shared between different grants' views.

use crate::QueryError;
use crate::engine::EngineChoice;
use crate::sandbox::{Control, GrantedTable, Limits, Sandbox};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Idle sandboxes kept in all (each may hold its DuckDB buffers).
const MAX_IDLE: usize = 4;

/// How long a sandbox may wait idle: well inside the 30 minutes after
/// which Ballista's scheduler ends an idle Flight SQL session.
const IDLE_FOR: Duration = Duration::from_secs(300);

/// What makes two sandboxes interchangeable.
type Key = (Vec<GrantedTable>, String, u32, EngineChoice);

/// A pool of idle sandboxes; share it with `Arc`.
#[derive(Default)]
pub struct Pool {
    idle: Mutex<HashMap<Key, Vec<(Instant, Sandbox)>>>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool").finish_non_exhaustive()
    }
}

/// A sandbox on loan from a pool; it goes back when dropped.
pub struct Pooled {
    sandbox: Option<Sandbox>,
    home: Option<(Arc<Pool>, Key)>,
}

impl std::ops::Deref for Pooled {
    type Target = Sandbox;
    fn deref(&self) -> &Sandbox {
        self.sandbox.as_ref().expect("present until dropped")
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        if let (Some(sandbox), Some((pool, key))) = (self.sandbox.take(), self.home.take())
            && let Some(sandbox) = sandbox.release()
        {
            pool.put(key, sandbox);
        }
    }
}

impl Pool {
    /// A sandbox over `tables` with `limits` on engine `engine`, run
    /// under `control`: an idle one if the pool has it (idle for less than
    /// five minutes), else a new one.
    pub fn take(
        self: &Arc<Self>,
        tables: &[GrantedTable],
        limits: Limits,
        control: Control,
        engine: &EngineChoice,
    ) -> Result<Pooled, QueryError> {
        let key = (
            tables.to_vec(),
            limits.memory.clone(),
            limits.threads,
            engine.clone(),
        );
        let idle = self.idle.lock().ok().and_then(|mut idle| {
            let kept = idle.get_mut(&key)?;
            kept.retain(|(since, _)| since.elapsed() < IDLE_FOR);
            kept.pop().map(|(_, sandbox)| sandbox)
        });
        let sandbox = match idle {
            Some(sandbox) => sandbox.reuse(limits, control)?,
            None => Sandbox::open_with(tables, limits, control, engine)?,
        };
        Ok(Pooled {
            sandbox: Some(sandbox),
            home: Some((Arc::clone(self), key)),
        })
    }

    /// A sandbox that is not kept afterwards.
    pub fn fresh(
        tables: &[GrantedTable],
        limits: Limits,
        control: Control,
        engine: &EngineChoice,
    ) -> Result<Pooled, QueryError> {
        Ok(Pooled {
            sandbox: Some(Sandbox::open_with(tables, limits, control, engine)?),
            home: None,
        })
    }

    fn put(&self, key: Key, sandbox: Sandbox) {
        let Ok(mut idle) = self.idle.lock() else {
            return;
        };
        let kept: usize = idle.values().map(Vec::len).sum();
        if kept >= MAX_IDLE {
            // Make room: drop another grant's idle sandbox first.
            if let Some(other) = idle.keys().find(|k| **k != key).cloned() {
                idle.remove(&other);
            } else {
                return;
            }
        }
        idle.entry(key).or_default().push((Instant::now(), sandbox));
    }
}
