//! Analysis off the request path: a bounded pool of worker threads fed by
//! a bounded queue.
//!
//! An analysis request passes the purpose gate and takes its project's
//! slot on the request path; what is left — check, plan, engine, judge,
//! log, result — is a task handed to [`Workers::submit`]. The request then
//! only waits (up to `server.job_after_ms`) and answers, from the store,
//! what the task left in its job.
//!
//! - **Bounded:** `server.analysis_workers` threads (the machine's cores
//!   by default) run tasks one at a time each, and at most
//!   `server.analysis_queue` tasks wait. Past that a request is refused
//!   with 429 and a `Retry-After` worked out from the queue ahead and how
//!   long tasks have lately taken, before anything runs; memory stays
//!   bounded however many researchers ask.
//! - **Behind everyone else:** the workers run at the lowest CPU priority
//!   (nice 19). Citizens' lookups, budget and table reads, reviewers'
//!   pages and the access log's writes run on the runtime's threads and
//!   the blocking pool at normal priority, so they take a core ahead of
//!   any analysis, while the analyses still have every core nothing else
//!   wants: their throughput is the machine's.
//! - **Cancellable:** a task whose job was cancelled while it waited does
//!   not run; one that runs is interrupted through its `Control`, and the
//!   worker takes the next.
//!
//! A worker is written so that it could be another process: it needs the
//! task's inputs (the gate's `Granted`, the request) and writes its outcome
//! where the request reads it. ARCHITECTURE.md says how `niji worker`
//! would lease tasks from the control plane instead.

use crate::problem::ApiError;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Queued tasks beyond which a request is refused, by default: enough for
/// fifty researchers each waiting on one request.
pub const DEFAULT_QUEUE: usize = 64;

/// The CPU priority of a worker (Linux nice value): the lowest.
const NICE: i32 = 19;

/// A task: runs the analysis and leaves its outcome where the request
/// reads it.
type Task = Box<dyn FnOnce() + Send>;

/// The pool.
pub(crate) struct Workers {
    sender: SyncSender<Task>,
    threads: usize,
    capacity: usize,
    load: Arc<Load>,
}

/// What the pool is doing, shared with its threads.
#[derive(Default)]
struct Load {
    /// Tasks submitted and not yet taken by a worker.
    queued: AtomicUsize,
    /// Tasks running now.
    running: AtomicUsize,
    /// How long a task took lately (an exponential average), in ms.
    mean_ms: AtomicU64,
    /// When a full queue was last logged, in seconds since `epoch`.
    warned: AtomicU64,
    epoch: std::sync::OnceLock<Instant>,
}

impl Load {
    /// Whether a full queue should be logged now: once a minute at most,
    /// however many requests it refuses.
    fn should_warn(&self) -> bool {
        let epoch = *self.epoch.get_or_init(Instant::now);
        // Offset by a minute, so that the first full queue is logged.
        let now = epoch.elapsed().as_secs() + 60;
        let last = self.warned.load(Ordering::Relaxed);
        now >= last + 60
            && self
                .warned
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }
}

/// What the pool is doing, at a moment (logged when a request is refused).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PoolView {
    /// Worker threads.
    pub workers: usize,
    /// Tasks that may wait.
    pub capacity: usize,
    /// Tasks waiting now.
    pub queued: usize,
    /// Tasks running now.
    pub running: usize,
    /// How long a task took lately, in ms.
    pub mean_ms: u64,
}

impl Workers {
    /// `threads` workers (at least one) and room for `capacity` waiting
    /// tasks (at least one). A thread the system refuses to start is
    /// logged, and the pool works with the others.
    pub fn new(threads: usize, capacity: usize) -> Workers {
        let capacity = capacity.max(1);
        let (sender, receiver) = sync_channel::<Task>(capacity);
        let receiver = Arc::new(Mutex::new(receiver));
        let load = Arc::new(Load::default());
        let mut started = 0;
        for n in 0..threads.max(1) {
            let receiver = Arc::clone(&receiver);
            let load = Arc::clone(&load);
            match std::thread::Builder::new()
                .name(format!("niji-analysis-{n}"))
                .spawn(move || work(&receiver, &load))
            {
                Ok(_) => started += 1,
                Err(error) => tracing::error!(%error, "an analysis worker did not start"),
            }
        }
        Workers {
            sender,
            threads: started,
            capacity,
            load,
        }
    }

    /// As many workers as the machine has cores, and the default queue.
    pub fn sized_for_this_machine() -> Workers {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Workers::new(cores, DEFAULT_QUEUE)
    }

    /// Queues `task`, or refuses with 429 when the queue is full.
    pub fn submit(&self, task: impl FnOnce() + Send + 'static) -> Result<(), ApiError> {
        if self.threads == 0 {
            return Err(ApiError::Internal("no analysis worker is running".into()));
        }
        self.load.queued.fetch_add(1, Ordering::SeqCst);
        match self.sender.try_send(Box::new(task)) {
            Ok(()) => Ok(()),
            Err(refused) => {
                self.load.queued.fetch_sub(1, Ordering::SeqCst);
                Err(match refused {
                    TrySendError::Full(_) => {
                        let pool = self.view();
                        if self.load.should_warn() {
                            tracing::warn!(
                                queued = pool.queued,
                                running = pool.running,
                                mean_ms = pool.mean_ms,
                                "analysis queue full: requests are refused with 429 (said at most \
                                 once a minute)"
                            );
                        }
                        ApiError::Busy {
                            reason: format!(
                                "the analysis queue is full ({} requests wait for {} workers); \
                             retry after the time given",
                                self.capacity, self.threads
                            ),
                            retry_after: self.wait(),
                        }
                    }
                    TrySendError::Disconnected(_) => {
                        ApiError::Internal("the analysis workers are gone".into())
                    }
                })
            }
        }
    }

    /// How long a request refused now should wait: the queue ahead of it
    /// shared among the workers, at the recent time per task; at least a
    /// second.
    fn wait(&self) -> Duration {
        let ahead =
            self.load.queued.load(Ordering::SeqCst) + self.load.running.load(Ordering::SeqCst);
        let mean = self.load.mean_ms.load(Ordering::Relaxed).max(100);
        let ms = (ahead as u64).saturating_mul(mean) / self.threads as u64;
        Duration::from_millis(ms.clamp(1_000, 300_000))
    }

    /// What the pool is doing now.
    pub fn view(&self) -> PoolView {
        PoolView {
            workers: self.threads,
            capacity: self.capacity,
            queued: self.load.queued.load(Ordering::SeqCst),
            running: self.load.running.load(Ordering::SeqCst),
            mean_ms: self.load.mean_ms.load(Ordering::Relaxed),
        }
    }
}

/// A worker's loop: lowest priority, then one task after another until the
/// pool is dropped.
fn work(receiver: &Mutex<Receiver<Task>>, load: &Load) {
    lower_priority();
    loop {
        // The lock is held only while waiting for the next task.
        let task = match receiver.lock() {
            Ok(receiver) => receiver.recv(),
            Err(_) => return,
        };
        let Ok(task) = task else {
            return; // the pool was dropped
        };
        load.queued.fetch_sub(1, Ordering::SeqCst);
        load.running.fetch_add(1, Ordering::SeqCst);
        let started = Instant::now();
        // A task ends its job itself, panic or not (`jobs::answer`); one
        // that panics anyway must not take the worker with it.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(task));
        let took = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        // Seven parts the old mean, one the new task.
        let mean = load.mean_ms.load(Ordering::Relaxed);
        let next = if mean == 0 {
            took
        } else {
            (mean * 7 + took) / 8
        };
        load.mean_ms.store(next, Ordering::Relaxed);
        load.running.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Sets this thread's nice value to [`NICE`]. On Linux the nice value is
/// the thread's own, so the runtime's threads keep theirs. Lowering one's
/// priority needs no privilege; if it fails anyway, the worker runs at
/// normal priority and says so once.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: gettid has no preconditions, and setpriority with
        // PRIO_PROCESS and a thread id changes that thread's nice value only.
        let changed = unsafe {
            let tid = libc::gettid();
            libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, NICE)
        };
        if changed != 0 {
            tracing::warn!(
                error = %std::io::Error::last_os_error(),
                "an analysis worker could not lower its priority; it runs at normal priority"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_queue_is_refused_with_a_wait_and_a_free_worker_takes_the_next() {
        let workers = Workers::new(1, 2);
        let (release, hold) = std::sync::mpsc::channel::<()>();
        let hold = Arc::new(Mutex::new(hold));
        let (done, finished) = std::sync::mpsc::channel::<usize>();
        // One task runs (held), two wait: the queue is full.
        for n in 0..3 {
            let hold = Arc::clone(&hold);
            let done = done.clone();
            workers
                .submit(move || {
                    let _ = hold.lock().unwrap().recv();
                    done.send(n).unwrap();
                })
                .unwrap();
            if n == 0 {
                // Taken by the worker before the next is queued.
                while workers.view().running == 0 {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        }
        assert_eq!(workers.view().queued, 2);
        let refused = workers.submit(|| {}).unwrap_err();
        let ApiError::Busy { retry_after, .. } = &refused else {
            panic!("{refused:?}")
        };
        assert!(*retry_after >= Duration::from_secs(1), "{retry_after:?}");
        // Let them go: they run in order, and the queue takes work again.
        for _ in 0..3 {
            release.send(()).unwrap();
        }
        let order: Vec<usize> = (0..3).map(|_| finished.recv().unwrap()).collect();
        assert_eq!(order, [0, 1, 2]);
        workers.submit(move || done.send(9).unwrap()).unwrap();
        assert_eq!(finished.recv().unwrap(), 9);
    }

    #[test]
    fn a_panicking_task_leaves_its_worker_working() {
        let workers = Workers::new(1, 4);
        workers.submit(|| panic!("a task that panics")).unwrap();
        let (done, finished) = std::sync::mpsc::channel();
        workers.submit(move || done.send(()).unwrap()).unwrap();
        finished.recv_timeout(Duration::from_secs(10)).unwrap();
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn workers_run_at_the_lowest_priority() {
        let workers = Workers::new(1, 1);
        let (tell, told) = std::sync::mpsc::channel();
        workers
            .submit(move || {
                // SAFETY: as in lower_priority.
                let nice =
                    unsafe { libc::getpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t) };
                tell.send(nice).unwrap();
            })
            .unwrap();
        assert_eq!(told.recv().unwrap(), NICE);
        // SAFETY: as above, for this thread.
        let own = unsafe { libc::getpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t) };
        assert_ne!(own, NICE, "the caller's priority is its own");
    }
}
