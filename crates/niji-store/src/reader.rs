//! Read connections: more connections to an open store's database, for the
//! reads a server makes on every request.
//!
//! A [`Store`] is one connection, and a server shares it behind a lock for
//! its writes. SQLite (in WAL mode), PostgreSQL and DuckDB all serve
//! several connections at once and give each statement the committed
//! state, so the reads that do not need to see a write of the same request
//! — a citizen's lookup, a session, a project's budget — run beside the
//! writer on a [`Reader`], never queued behind an analysis's writes. A
//! reader only exposes reads: a write through it does not compile, and
//! every write, with the access log's group commit, stays on the one
//! writer.
//!
//! ```no_run
//! # fn main() -> Result<(), niji_store::StoreError> {
//! let store = niji_store::Store::open(std::path::Path::new("data"))?;
//! let reader = store.reader()?;
//! let admin = reader.account("admin")?;
//! # Ok(()) }
//! ```

use crate::accounts::Account;
use crate::citizens::Accesses;
use crate::{Store, StoreError};

/// A read-only view of a store through a connection of its own.
pub struct Reader {
    pub(crate) store: Store,
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader")
            .field("dir", &self.store.dir)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// A new read connection to this store's database. It sees what has
    /// been committed; on DuckDB it keeps the data directory's writer lock
    /// for as long as it lives.
    pub fn reader(&self) -> Result<Reader, StoreError> {
        Ok(Reader {
            store: Store {
                conn: self.conn.reader()?,
                dir: self.dir.clone(),
                index: Default::default(),
                head: Default::default(),
                _lock: self._lock.clone(),
            },
        })
    }
}

impl Reader {
    /// [`Store::account`].
    pub fn account(&self, name: &str) -> Result<Option<Account>, StoreError> {
        self.store.account(name)
    }

    /// [`Store::airlock_queue`].
    pub fn airlock_queue(
        &self,
        reviewer: &Account,
    ) -> Result<Vec<crate::airlock::Held>, StoreError> {
        self.store.airlock_queue(reviewer)
    }

    /// [`Store::budget`].
    pub fn budget(&self, grant_id: i64) -> Result<crate::ledger::Budget, StoreError> {
        self.store.budget(grant_id)
    }

    /// [`Store::citizen_persons`].
    pub fn citizen_persons(&self, account: &Account) -> Result<Vec<i64>, StoreError> {
        self.store.citizen_persons(account)
    }

    /// [`Store::accesses`], read from one snapshot: the writer may append
    /// to the log between this view's statements, and the index, the page
    /// and its events must all describe the same log.
    pub fn accesses(
        &self,
        persons: &[i64],
        before: Option<u64>,
        limit: usize,
    ) -> Result<Accesses, StoreError> {
        self.accesses_where(persons, &crate::AccessFilter::default(), before, limit)
    }

    /// [`Store::accesses_where`], read from one snapshot.
    pub fn accesses_where(
        &self,
        persons: &[i64],
        filter: &crate::AccessFilter,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Accesses, StoreError> {
        let snapshot = self.store.conn.snapshot()?;
        let accesses = self.store.accesses_where(persons, filter, before, limit)?;
        // Nothing was written; ending the transaction only frees the snapshot.
        drop(snapshot);
        Ok(accesses)
    }

    /// [`Store::access_summary`], read from one snapshot.
    pub fn access_summary(
        &self,
        persons: &[i64],
        family: Option<crate::Family>,
    ) -> Result<crate::AccessSummary, StoreError> {
        let snapshot = self.store.conn.snapshot()?;
        let summary = self.store.access_summary(persons, family)?;
        drop(snapshot);
        Ok(summary)
    }
}

#[cfg(test)]
mod tests {
    use crate::Store;
    use niji_audit::event::{EventKind, Subject};
    use niji_core::{Role, SecretString};

    #[test]
    fn a_reader_sees_what_another_store_committed() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::create(dir.path()).unwrap();
        let reader = store.reader().unwrap();
        assert!(reader.account("hanako").unwrap().is_none());
        // A second store on the same SQLite file: what another process
        // (an operator's command beside the server) would open.
        let other = Store::open(dir.path()).unwrap();
        let password = SecretString::new("a long enough password".into());
        other
            .add_account(
                "hanako",
                Role::Researcher,
                &password,
                None,
                crate::Actor::Operator("test"),
            )
            .unwrap();
        let seen = reader.account("hanako").unwrap().expect("committed");
        assert_eq!(seen.role, Role::Researcher);
        assert!(store.account("hanako").unwrap().is_some());
        // Both append to the one log.
        store
            .audit("test", EventKind::Login, Subject::SignIn, "")
            .unwrap();
        other
            .audit("test", EventKind::Login, Subject::SignIn, "")
            .unwrap();
        assert_eq!(store.verify_log().unwrap(), other.log_size().unwrap());
    }

    #[test]
    fn a_duckdb_reader_holds_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let duckdb = crate::Location::DuckDb(dir.path().join(crate::LEGACY_STORE_FILE));
        let store = Store::open_with_at(dir.path(), &duckdb, None).unwrap();
        let reader = store.reader().unwrap();
        // The reader outlives the store: the directory stays locked.
        drop(store);
        assert!(matches!(
            Store::open(dir.path()),
            Err(crate::StoreError::InUse { .. })
        ));
        drop(reader);
        Store::open(dir.path()).unwrap();
    }
}
