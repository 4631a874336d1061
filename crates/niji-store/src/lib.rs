/*!
The control-plane store of niji: who may do what, the governance of access,
the access log, and the sealed keys that protect everything else, on a
transactional database.

- [`Store`] opens the control plane: the data directory's SQLite file
  `control.sqlite` (the embedded default, WAL mode), a PostgreSQL database
  named by a `postgres://` URL (several servers on one platform), or a
  DuckDB file `control.duckdb` kept from before (one process at a time),
  and brings the schema up to date with the migration runner ([`migrate`]);
- [`db`] is the one interface the rest is written against: `$n`
  placeholders, typed values, and write transactions that take the
  platform's one writer lock;
- [`keystore`] keeps the platform's secrets sealed under a key derived from
  the operator's passphrase;
- [`accounts`] keeps accounts with argon2id password hashes;
- [`sources`] keeps the per-facility credentials of inbound source systems;
- [`log`] makes every audit event a leaf of the access log's Merkle tree in
  the transaction that writes it;
- [`copy`] moves a platform to another backend (`niji store migrate`);
- [`Store::initialize`] is `niji init`: keystore, platform keys and the admin
  account in one transaction.

```no_run
use niji_core::SecretString;
use niji_store::{InitOutcome, Store};

let mut store = Store::create(std::path::Path::new("./data"))?;
let passphrase = SecretString::new(std::env::var("NIJI_PASSPHRASE").unwrap());
let admin_password = SecretString::new(std::env::var("NIJI_ADMIN_PASSWORD").unwrap());
match store.initialize(&passphrase, "admin", &admin_password)? {
    InitOutcome::Created(report) => println!("created {} keys", report.keys.len()),
    InitOutcome::AlreadyInitialized { since } => println!("initialized since {since}"),
}
let keystore = store.unlock(&passphrase)?;
let linkage = store.open_key(&keystore, "linkage")?.hmac_key()?;
# let _ = linkage;
# Ok::<(), niji_store::StoreError>(())
```

# Architecture invariants

- Writers take turns: every write transaction holds the platform's writer
  lock (SQLite's `BEGIN IMMEDIATE`, a PostgreSQL advisory lock), so the
  access log stays one tree with any number of processes writing. Only a
  DuckDB store is one process's at a time; a second gets
  [`StoreError::InUse`] naming the holder's pid.
- An event that lets an analysis result leave is written only while its
  grant is in force, read under that lock ([`NewEvent::releases_under`]).
- Key material is stored only sealed, and leaves the keystore only as ring
  key types; nothing here prints a key or a passphrase.
- Every multi-row change (a migration, `init`, a passphrase change) is one
  transaction: it happens whole or not at all.
*/
#![deny(missing_docs)]

pub mod accounts;
pub mod activity;
pub mod airlock;
pub mod card;
pub mod citizens;
pub mod copy;
pub mod db;
pub mod disclosed;
pub mod governance;
pub mod keystore;
pub mod ledger;
mod lock;
pub mod log;
pub mod migrate;
pub mod numbers;
mod reader;
pub mod releases;
pub mod sessions;
pub mod sources;

pub use accounts::{Account, Actor};
pub use airlock::{AirlockReview, Held, Verdict};
pub use citizens::{
    Access, AccessGroup, AccessSummary, Accesses, EnrolmentCode, HeldIn, OptOutState, Project,
};
pub use copy::Copied;
pub use disclosed::{Disclosure, Shown};
pub use governance::{
    ApiToken, Application, ApplicationForm, Conditions, Decision, Grant, Item, Organization,
    Purpose, RegisterEntry, Review, ReviewOutcome, Revocation, TokenRefusal,
};
pub use keystore::{KeyInfo, KeyKind, KeyMaterial, Keystore};
pub use ledger::Budget;
pub use migrate::{AppliedMigration, Migration, MigrationSet};
pub use niji_audit::event::Family;
pub use niji_audit::index::Filter as AccessFilter;
pub use numbers::{Earlier, NewNumber};
pub use reader::Reader;
pub use releases::{AuditEvent, Logged, NewEvent, NewRelease, Reidentification, ReleaseInfo};
pub use sessions::SessionRecord;
pub use sources::{CredentialRefusal, SourceClient};

pub use db::{Backend, Location};

use db::Conn;
use niji_core::{Role, SecretString};
use std::path::{Path, PathBuf};

/// The embedded store's file name inside the data directory (SQLite).
pub const STORE_FILE: &str = "control.sqlite";

/// The store file of niji before SQLite (DuckDB). A data directory that
/// has it and no [`STORE_FILE`] keeps using it until `niji store migrate`
/// moves it.
pub const LEGACY_STORE_FILE: &str = "control.duckdb";

/// The keys `niji init` creates. Per-release pseudonym keys come later, one
/// per release.
pub const PLATFORM_KEYS: [(&str, KeyKind); 3] = [
    ("linkage", KeyKind::LinkageHmac),
    ("checkpoint-signing", KeyKind::CheckpointSigning),
    ("escrow", KeyKind::Escrow),
];

/// What went wrong in the store. Messages name the file or the object
/// concerned and never contain key material, passphrases or passwords.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file or directory could not be used.
    #[error("{path}: {source}", path = path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Another process has the store open.
    #[error("{path}: store in use by {holder}", path = path.display(), holder = holder(*pid))]
    InUse {
        /// The lock file.
        path: PathBuf,
        /// The holder's pid, when it has written it.
        pid: Option<u32>,
    },
    /// A statement on the open store failed; names the store, and never
    /// the values bound.
    #[error("control-plane store {0}")]
    Query(String),
    /// The store could not be reached or opened (a file that is not a
    /// database, a PostgreSQL server that does not answer or refuses the
    /// login); nothing was written.
    #[error("control-plane store {store}: {reason}")]
    Connect {
        /// The file, or the URL without its password.
        store: String,
        /// Why.
        reason: String,
    },
    /// A migration file is malformed, changed, missing or failed.
    #[error("{file}: {reason}", file = file.display())]
    Migration {
        /// The migration file.
        file: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// There is no store in the data directory.
    #[error("{path}: no store here; run `niji init` first", path = path.display())]
    NoStore {
        /// The data directory.
        path: PathBuf,
    },
    /// The store exists but `niji init` has not completed.
    #[error("the keystore is not initialized; run `niji init` first")]
    NotInitialized,
    /// The passphrase does not unlock the keystore.
    #[error("wrong passphrase: the keystore did not unlock, and nothing was changed")]
    WrongPassphrase,
    /// A new passphrase or password is too short.
    #[error("the {what} is too short: use at least {min_chars} characters")]
    WeakSecret {
        /// `passphrase` or `password`.
        what: &'static str,
        /// The minimum.
        min_chars: usize,
    },
    /// A key or account name is not well-formed.
    #[error("invalid {what} name `{name}`")]
    InvalidName {
        /// `key` or `account`.
        what: &'static str,
        /// The name.
        name: String,
    },
    /// No key of that name.
    #[error("no key named `{name}` in the keystore")]
    KeyNotFound {
        /// The name.
        name: String,
    },
    /// A key of that name exists already.
    #[error("a key named `{name}` exists already")]
    KeyExists {
        /// The name.
        name: String,
    },
    /// An account of that name exists already.
    #[error("an account named `{name}` exists already")]
    AccountExists {
        /// The name.
        name: String,
    },
    /// A sealed key did not open although the passphrase is right.
    #[error(
        "key `{name}` is damaged: it does not open with the keystore's key; restore the store from a backup"
    )]
    KeyDamaged {
        /// The key's name.
        name: String,
    },
    /// A key was asked to serve as a kind it is not.
    #[error("key `{name}` is a {kind} key")]
    WrongKeyKind {
        /// The key's name.
        name: String,
        /// Its kind.
        kind: KeyKind,
    },
    /// A row the store holds is not what the schema promises.
    #[error("control-plane store is damaged: {what}")]
    Damaged {
        /// What.
        what: String,
    },
    /// A cryptographic primitive failed.
    #[error("cryptography: {0}")]
    Crypto(String),
    /// The request cannot be done as asked (a rule or the object's state
    /// stands against it); says why.
    #[error("{0}")]
    Refused(String),
    /// The caller may not do this (role, ownership, conflict of interest);
    /// says why.
    #[error("{0}")]
    Forbidden(String),
}

/// A new secret must be at least `min_chars` long; says which secret if not.
fn require_min_chars(
    secret: &SecretString,
    what: &'static str,
    min_chars: usize,
) -> Result<(), StoreError> {
    if secret.char_count() < min_chars {
        return Err(StoreError::WeakSecret { what, min_chars });
    }
    Ok(())
}

/// A migration's error, naming the store it was refused on.
fn in_store(location: &Location, e: StoreError) -> StoreError {
    match e {
        StoreError::Migration { file, reason } => StoreError::Migration {
            file,
            reason: format!(
                "{reason} (store {}; nothing was written)",
                location.display()
            ),
        },
        other => other,
    }
}

fn holder(pid: Option<u32>) -> String {
    match pid {
        Some(pid) => format!("pid {pid}"),
        None => "another process".to_owned(),
    }
}

/// The open control-plane store of one data directory.
#[derive(Debug)]
pub struct Store {
    // Fields drop in order: the connection closes before the lock is
    // released, so no second process can open the file while it is flushed.
    conn: Conn,
    dir: PathBuf,
    /// The access log's per-person index, brought up to date from the
    /// committed rows on each lookup.
    index: std::cell::RefCell<niji_audit::index::PersonIndex>,
    /// The access log's size and frontier after this store's last batch.
    head: std::cell::RefCell<Option<log::Head>>,
    /// A DuckDB store's single-process lock, shared with its [`Reader`]s:
    /// the directory stays locked until the last connection closes. SQLite
    /// and PostgreSQL serve several processes and take none.
    _lock: Option<std::sync::Arc<lock::WriterLock>>,
}

/// What `niji init` did.
#[derive(Debug)]
pub enum InitOutcome {
    /// The keystore, the platform keys and the admin account were created.
    Created(Initialized),
    /// The store was initialized before; nothing was changed.
    AlreadyInitialized {
        /// When the keystore was created (UTC).
        since: String,
    },
}

/// What a completed `init` created.
#[derive(Debug)]
pub struct Initialized {
    /// The platform keys.
    pub keys: Vec<KeyInfo>,
    /// The admin account.
    pub admin: Account,
}

/// A summary of a store, for `niji status`.
#[derive(Debug, Clone)]
pub struct StoreStatus {
    /// The data directory.
    pub dir: PathBuf,
    /// Where the store is: its file, or its PostgreSQL URL without the
    /// password.
    pub location: String,
    /// The applied migrations, in order.
    pub migrations: Vec<AppliedMigration>,
    /// When the keystore was created, if `init` has completed.
    pub initialized_at: Option<String>,
    /// The keys, without their material.
    pub keys: Vec<KeyInfo>,
    /// Number of accounts per role, in [`Role::ALL`] order.
    pub accounts: Vec<(Role, usize)>,
}

/// Where a data directory's control plane is: `store`, the config's
/// `store` entry, when set (a `postgres://` URL); else the data directory's
/// SQLite file, or its DuckDB file from before SQLite while that is the
/// only one there.
pub fn location(data_dir: &Path, store: Option<&str>) -> Result<Location, StoreError> {
    match store.map(str::trim).filter(|s| !s.is_empty()) {
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            Ok(Location::Postgres(url.to_owned()))
        }
        Some(_) => Err(StoreError::Refused(
            "config: `store` is not a postgres:// URL; leave it out for the embedded SQLite store \
             in the data directory"
                .into(),
        )),
        None => {
            let (sqlite, duckdb) = (data_dir.join(STORE_FILE), data_dir.join(LEGACY_STORE_FILE));
            Ok(if duckdb.is_file() && !sqlite.exists() {
                Location::DuckDb(duckdb)
            } else {
                Location::Sqlite(sqlite)
            })
        }
    }
}

impl Store {
    /// Opens the embedded store of an existing data directory, applying
    /// pending migrations. Fails with [`StoreError::NoStore`] if there is
    /// none.
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        Self::open_in(data_dir, None)
    }

    /// Opens the store of a data directory at `store` (see [`location`]),
    /// which must exist, applying pending migrations.
    pub fn open_in(data_dir: &Path, store: Option<&str>) -> Result<Self, StoreError> {
        Self::open_at(data_dir, &location(data_dir, store)?, None, true)
    }

    /// Opens the embedded store of a data directory, creating the
    /// directory and the store if they do not exist.
    pub fn create(data_dir: &Path) -> Result<Self, StoreError> {
        Self::create_in(data_dir, None)
    }

    /// Opens the store of a data directory at `store` (see [`location`]),
    /// creating the directory and the store's schema if they do not exist.
    pub fn create_in(data_dir: &Path, store: Option<&str>) -> Result<Self, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|source| StoreError::Io {
            path: data_dir.to_path_buf(),
            source,
        })?;
        Self::open_with_at(data_dir, &location(data_dir, store)?, None)
    }

    /// Opens (or creates) the embedded store with a given set of
    /// migrations.
    pub fn open_with(data_dir: &Path, migrations: &MigrationSet) -> Result<Self, StoreError> {
        Self::open_with_at(data_dir, &location(data_dir, None)?, Some(migrations))
    }

    /// Opens (or creates) the store at `location` with `migrations`, or
    /// with the ones this niji carries for its backend.
    pub fn open_with_at(
        data_dir: &Path,
        location: &Location,
        migrations: Option<&MigrationSet>,
    ) -> Result<Self, StoreError> {
        Self::open_at(data_dir, location, migrations, false)
    }

    /// Opens the store at `location`; with `must_exist`, one that holds no
    /// control plane is [`StoreError::NoStore`] and is left as it was.
    fn open_at(
        data_dir: &Path,
        location: &Location,
        migrations: Option<&MigrationSet>,
        must_exist: bool,
    ) -> Result<Self, StoreError> {
        let no_store = || StoreError::NoStore {
            path: data_dir.to_path_buf(),
        };
        if let Location::Sqlite(file) | Location::DuckDb(file) = location
            && must_exist
            && !file.is_file()
        {
            return Err(no_store());
        }
        let lock = match location {
            Location::DuckDb(file) => Some(std::sync::Arc::new(lock::WriterLock::acquire(
                &lock::lock_path(file),
            )?)),
            _ => None,
        };
        let conn = Conn::open(location)?;
        if must_exist && !conn.has_table("schema_migrations")? {
            return Err(no_store());
        }
        let embedded;
        let migrations = match migrations {
            Some(set) => set,
            None => {
                embedded = MigrationSet::embedded(location.backend())?;
                &embedded
            }
        };
        migrate::migrate(&conn, migrations).map_err(|e| in_store(location, e))?;
        if log::has_log(&conn)? {
            // Scopes of the leaves from before the index first, so that
            // the leaves caught up next are not mistaken for all of them.
            log::index_catch_up(&conn)?;
            log::catch_up(&conn)?;
        }
        Ok(Self {
            conn,
            dir: data_dir.to_path_buf(),
            index: Default::default(),
            head: Default::default(),
            _lock: lock,
        })
    }

    /// Whether a data directory holds an embedded store.
    pub fn exists(data_dir: &Path) -> bool {
        data_dir.join(STORE_FILE).is_file() || data_dir.join(LEGACY_STORE_FILE).is_file()
    }

    /// Whether the store at `store` (see [`location`]) exists: its file, or
    /// a PostgreSQL database that holds a control plane.
    pub fn exists_in(data_dir: &Path, store: Option<&str>) -> Result<bool, StoreError> {
        Self::exists_at(&location(data_dir, store)?)
    }

    fn exists_at(location: &Location) -> Result<bool, StoreError> {
        match location {
            Location::Sqlite(file) | Location::DuckDb(file) => Ok(file.is_file()),
            Location::Postgres(_) => Conn::open(location)?.has_table("schema_migrations"),
        }
    }

    /// Where the store is.
    pub fn location(&self) -> &Location {
        self.conn.location()
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The migrations applied to this store.
    pub fn applied_migrations(&self) -> Result<Vec<AppliedMigration>, StoreError> {
        migrate::applied(&self.conn)
    }

    /// When `init` completed, or `None` if it has not.
    pub fn initialized_at(&self) -> Result<Option<String>, StoreError> {
        let created: Option<(chrono::DateTime<chrono::Utc>,)> = self
            .conn
            .opt("SELECT created_at FROM keystore WHERE id = 1", &[])?;
        Ok(created.map(|(t,)| db::stamp(&t)))
    }

    /// `niji init`: creates the keystore under `passphrase`, the platform
    /// keys ([`PLATFORM_KEYS`]) and the admin account, in one transaction.
    /// On a store that was initialized before it changes nothing.
    pub fn initialize(
        &mut self,
        passphrase: &SecretString,
        admin_name: &str,
        admin_password: &SecretString,
    ) -> Result<InitOutcome, StoreError> {
        if let Some(since) = self.initialized_at()? {
            return Ok(InitOutcome::AlreadyInitialized { since });
        }
        let tx = self.conn.transaction()?;
        let keystore = keystore::create(&tx, passphrase)?;
        for (name, kind) in PLATFORM_KEYS {
            keystore::generate(&tx, &keystore, name, kind)?;
        }
        accounts::insert(&tx, admin_name, Role::Admin, admin_password)?;
        tx.commit()?;
        tracing::info!(
            admin = admin_name,
            "initialized keystore, platform keys and admin account"
        );
        let admin = self
            .accounts()?
            .into_iter()
            .find(|a| a.name == admin_name)
            .ok_or_else(|| StoreError::Damaged {
                what: "the admin account is missing after init".into(),
            })?;
        Ok(InitOutcome::Created(Initialized {
            keys: self.keys()?,
            admin,
        }))
    }

    /// A summary for `niji status`.
    pub fn status(&self) -> Result<StoreStatus, StoreError> {
        let accounts = self.accounts()?;
        Ok(StoreStatus {
            dir: self.dir.clone(),
            location: self.conn.location().display(),
            migrations: self.applied_migrations()?,
            initialized_at: self.initialized_at()?,
            keys: self.keys()?,
            accounts: Role::ALL
                .into_iter()
                .map(|role| (role, accounts.iter().filter(|a| a.role == role).count()))
                .collect(),
        })
    }
}
