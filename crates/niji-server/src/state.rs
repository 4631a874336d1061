//! What every request handler shares.

use niji_ingest::{IngestError, Staging};
use niji_linkage::Tokenizer;
use niji_store::{Reader, Store};
use std::sync::{Arc, Mutex};

/// The server's state: the control-plane store, the staging store and the
/// linkage tokenizer. Cheap to clone (one `Arc`).
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    /// A store's connection is not `Sync`: one writer per server, beside
    /// the read connections.
    pub store: Mutex<Store>,
    pub staging: StagingAccess,
    /// The data directory (releases' dummy twins are read from it).
    pub data_dir: std::path::PathBuf,
    pub tokenizer: Tokenizer,
    /// Failed logins per account and per address.
    pub throttle: Mutex<crate::signin::Throttle>,
    /// Approvals a grant needs.
    pub quorum: usize,
    /// Whether browsers reach the server over TLS (a terminating proxy),
    /// so session cookies are `Secure`.
    pub secure_cookies: bool,
    /// The proxy whose `X-Forwarded-For` names the client, if any.
    pub trusted_proxy: Option<std::net::IpAddr>,
    /// Analysis requests running, per project.
    pub slots: Mutex<std::collections::HashMap<i64, Arc<tokio::sync::Semaphore>>>,
    /// Analysis requests that outlasted the wait, as jobs.
    pub jobs: crate::jobs::Jobs,
    /// The threads that run analysis requests, and their queue.
    pub workers: crate::workers::Workers,
    /// Opened sandboxes, reused by the next query of the same grant.
    pub sandboxes: Arc<niji_query::Pool>,
    /// The engine analysis runs on.
    pub engine: niji_query::EngineChoice,
    /// The granted tables' descriptions, read once from the releases.
    pub schemas: crate::analysis::Schemas,
    /// The access log's signing key, when the keystore was unlocked.
    pub log_key: Option<niji_audit::note::LogKey>,
    /// Audit events waiting for the log's group commit.
    pub log_queue: crate::audit::Queue,
    /// Read connections beside the writer, opened on first use.
    pub readers: [Mutex<Option<Reader>>; READERS],
    /// The reader the next read goes to.
    pub next_reader: std::sync::atomic::AtomicUsize,
    /// What the gate knows of tokens, accounts and grants, and the count
    /// of the store's changes that keeps it exact.
    pub governance: crate::governance::Governance,
    /// The My Number Card's OpenID provider, if card sign-in is set up.
    pub card: Option<crate::card::CardProvider>,
}

/// The store's writer, taken through [`Inner::store`]. Letting it go
/// counts as a change of governance state, so nothing the gate kept from
/// before it is used again: whatever a handler did with the store, a
/// revocation or a new grant reaches the next request.
pub(crate) struct StoreGuard<'a> {
    guard: std::sync::MutexGuard<'a, Store>,
    governance: &'a crate::governance::Governance,
}

impl std::ops::Deref for StoreGuard<'_> {
    type Target = Store;

    fn deref(&self) -> &Store {
        &self.guard
    }
}

impl Drop for StoreGuard<'_> {
    fn drop(&mut self) {
        // Counted while the store is still held (fields drop after this),
        // so no read of the store can come between the change and its count.
        self.governance.changed();
    }
}

/// Read connections: as many as the cores this server is sized for, so
/// that reads run beside the writer and beside each other.
pub const READERS: usize = 2;

/// Analysis requests one project may run at once; more get 429.
pub const MAX_CONCURRENT_QUERIES: usize = 2;

impl Inner {
    /// A slot for one analysis request of `project`, or 429.
    pub fn slot(
        &self,
        project: i64,
    ) -> Result<tokio::sync::OwnedSemaphorePermit, crate::problem::ApiError> {
        let semaphore = self
            .slots
            .lock()
            .map_err(|_| crate::problem::ApiError::Internal("slot lock poisoned".into()))?
            .entry(project)
            .or_insert_with(|| Arc::new(tokio::sync::Semaphore::new(MAX_CONCURRENT_QUERIES)))
            .clone();
        semaphore.try_acquire_owned().map_err(|_| {
            crate::problem::ApiError::busy(format!(
                "project {project} already runs {MAX_CONCURRENT_QUERIES} analysis requests; retry shortly"
            ))
        })
    }
}

impl Inner {
    /// The control-plane store; letting it go counts as a change of
    /// governance state (see [`StoreGuard`]).
    pub fn store(&self) -> Result<StoreGuard<'_>, crate::problem::ApiError> {
        Ok(StoreGuard {
            guard: self.store_keeping_governance()?,
            governance: &self.governance,
        })
    }

    /// The control-plane store, for what changes no account, token,
    /// organization, application, grant or release: the gate's own reads
    /// and refusals, the access log, the airlock, the ledger and the
    /// records of row-level results. Any other use takes [`Inner::store`].
    pub fn store_keeping_governance(
        &self,
    ) -> Result<std::sync::MutexGuard<'_, Store>, crate::problem::ApiError> {
        self.store
            .lock()
            .map_err(|_| crate::problem::ApiError::Internal("store lock poisoned".into()))
    }

    /// Runs `read` on one of the read connections, opening it from the
    /// store first if it is not open yet. For reads that need not see a
    /// write of their own request; never call it holding the store.
    pub fn with_reader<T>(
        &self,
        read: impl FnOnce(&Reader) -> Result<T, crate::problem::ApiError>,
    ) -> Result<T, crate::problem::ApiError> {
        let n = self
            .next_reader
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            % READERS;
        let mut slot = self.readers[n]
            .lock()
            .map_err(|_| crate::problem::ApiError::Internal("reader lock poisoned".into()))?;
        if slot.is_none() {
            *slot = Some(self.store()?.reader()?);
        }
        match slot.as_ref() {
            Some(reader) => read(reader),
            None => Err(crate::problem::ApiError::Internal("no reader".into())),
        }
    }
}

/// The staging store, opened for each use and closed after: DuckDB lets
/// one process at a time open it, and `niji ingest`, `niji link` and
/// `niji release build` open it beside a running server. The server's own
/// uses (a Bundle, an enrolment lookup) take turns here.
pub(crate) struct StagingAccess {
    dir: std::path::PathBuf,
    turn: Mutex<()>,
}

/// Why the staging store could not be used.
pub(crate) enum StagingError {
    /// Another process held it longer than a request waits
    /// ([`niji_core::busy::REQUEST_WAIT`]).
    Busy,
    /// It failed; the reason is for the log.
    Failed(String),
}

impl StagingAccess {
    /// Opens the staging store, runs `work` on it and closes it.
    pub(crate) fn with<T>(&self, work: impl FnOnce(&mut Staging) -> T) -> Result<T, StagingError> {
        let _turn = self
            .turn
            .lock()
            .map_err(|_| StagingError::Failed("staging lock poisoned".into()))?;
        let mut staging = Staging::open_waiting(&self.dir, niji_core::busy::REQUEST_WAIT).map_err(
            |e| match e {
                IngestError::StagingBusy { .. } => StagingError::Busy,
                other => StagingError::Failed(other.to_string()),
            },
        )?;
        Ok(work(&mut staging))
    }
}

impl AppState {
    /// The state over an open store, the data directory whose staging
    /// store the server opens when it needs it, and the tokenizer.
    pub fn new(store: Store, data_dir: &std::path::Path, tokenizer: Tokenizer) -> Self {
        AppState {
            inner: Arc::new(Inner {
                store: Mutex::new(store),
                staging: StagingAccess {
                    dir: data_dir.to_path_buf(),
                    turn: Mutex::new(()),
                },
                data_dir: data_dir.to_path_buf(),
                tokenizer,
                throttle: Mutex::default(),
                quorum: niji_store::governance::DEFAULT_QUORUM,
                secure_cookies: false,
                trusted_proxy: None,
                slots: Mutex::default(),
                jobs: crate::jobs::Jobs::default(),
                workers: crate::workers::Workers::sized_for_this_machine(),
                sandboxes: Arc::default(),
                engine: niji_query::EngineChoice::DuckDb,
                schemas: Default::default(),
                log_key: None,
                log_queue: crate::audit::Queue::default(),
                readers: Default::default(),
                next_reader: Default::default(),
                governance: Default::default(),
                card: None,
            }),
        }
    }

    /// The same state with another quorum of approvals.
    pub fn with_quorum(self, quorum: usize) -> Self {
        self.with(|inner| {
            inner.quorum = quorum.max(1);
        })
    }

    /// The same state with `Secure` session cookies: browsers reach the
    /// server over TLS, through a terminating proxy.
    pub fn with_secure_cookies(self, secure: bool) -> Self {
        self.with(|inner| {
            inner.secure_cookies = secure;
        })
    }

    /// The same state, turning analysis requests that take longer than
    /// `after` into asynchronous jobs.
    pub fn with_job_after(self, after: std::time::Duration) -> Self {
        self.with(|inner| {
            inner.jobs.after = after;
        })
    }

    /// The same state with `threads` analysis workers and room for
    /// `queue` waiting requests.
    pub fn with_analysis_workers(self, threads: usize, queue: usize) -> Self {
        self.with(|inner| {
            inner.workers = crate::workers::Workers::new(threads, queue);
        })
    }

    /// The same state, running analysis on `engine`.
    pub fn with_engine(self, engine: niji_query::EngineChoice) -> Self {
        self.with(|inner| {
            inner.engine = engine;
        })
    }

    /// The same state, signing access-log checkpoints with `key`.
    pub fn with_log_key(self, key: niji_audit::note::LogKey) -> Self {
        self.with(|inner| {
            inner.log_key = Some(key);
        })
    }

    /// The same state trusting `proxy` to name each client's address in
    /// `X-Forwarded-For` (for throttling sign-ins per address).
    pub fn with_trusted_proxy(self, proxy: Option<std::net::IpAddr>) -> Self {
        self.with(|inner| {
            inner.trusted_proxy = proxy;
        })
    }

    /// The proxy trusted to name clients' addresses.
    pub fn trusted_proxy(&self) -> Option<std::net::IpAddr> {
        self.inner.trusted_proxy
    }

    /// Whether session cookies are `Secure`.
    pub fn secure_cookies(&self) -> bool {
        self.inner.secure_cookies
    }

    /// Approvals a grant needs.
    pub fn quorum(&self) -> usize {
        self.inner.quorum
    }

    /// The same state with `change` made, while it is not yet shared
    /// (the builder methods above; once shared, unchanged).
    fn with(self, change: impl FnOnce(&mut Inner)) -> Self {
        match Arc::try_unwrap(self.inner) {
            Ok(mut inner) => {
                change(&mut inner);
                AppState {
                    inner: Arc::new(inner),
                }
            }
            Err(inner) => AppState { inner },
        }
    }

    /// The same state, letting citizens sign in with the My Number Card
    /// through `provider`.
    pub fn with_card(self, provider: crate::card::CardProvider) -> Self {
        self.with(|inner| {
            inner.card = Some(provider);
        })
    }

    /// The My Number Card's provider, when card sign-in is set up.
    pub(crate) fn card(&self) -> Option<&crate::card::CardProvider> {
        self.inner.card.as_ref()
    }

    /// The linkage tokenizer.
    pub(crate) fn tokenizer(&self) -> &Tokenizer {
        &self.inner.tokenizer
    }

    pub(crate) fn inner(&self) -> Arc<Inner> {
        Arc::clone(&self.inner)
    }
}
