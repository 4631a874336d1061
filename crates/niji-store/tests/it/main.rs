//! niji-store's integration tests: governance, the keystore, the access
//! log, citizens and migrations on real store files, and on PostgreSQL
//! when `NIJI_TEST_BACKEND=postgres` (a throwaway cluster per test).
//! One test binary with a module per area: one link instead of one per file.

mod citizens;
mod copy;
mod governance;
mod keystore;
mod log;
mod migrations;
mod sessions;

use niji_store::{Store, StoreError};
use niji_testkit::postgres::TestStore;
use std::path::Path;

/// A test's data directory and control plane: the directory's SQLite file,
/// or a PostgreSQL database of the test's own.
pub struct Place {
    dir: tempfile::TempDir,
    store: TestStore,
}

impl Default for Place {
    fn default() -> Self {
        Self::new()
    }
}

impl Place {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
            store: TestStore::new().unwrap(),
        }
    }

    /// The data directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The directories that hold the control plane's bytes: the data
    /// directory, and the PostgreSQL cluster's files.
    pub fn disk(&self) -> Vec<std::path::PathBuf> {
        let mut dirs = vec![self.dir.path().to_path_buf()];
        dirs.extend(self.store.cluster().map(|c| c.data_dir()));
        dirs
    }

    pub fn create(&self) -> Store {
        Store::create_in(self.path(), self.store.url()).unwrap()
    }

    pub fn open(&self) -> Result<Store, StoreError> {
        Store::open_in(self.path(), self.store.url())
    }

    /// Runs `sqlite` or `postgres` on the store's database behind the
    /// store's back, as someone with the database's files or its
    /// superuser would; the rows it changed.
    pub fn tamper(&self, sqlite: &str, postgres: &str) -> u64 {
        match self.store.url() {
            None => {
                let conn =
                    rusqlite::Connection::open(self.path().join(niji_store::STORE_FILE)).unwrap();
                conn.execute(sqlite, []).unwrap() as u64
            }
            Some(url) => {
                let mut client = postgres::Client::connect(url, postgres::NoTls).unwrap();
                client.execute(postgres, &[]).unwrap()
            }
        }
    }
}
