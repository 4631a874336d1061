//! The migration runner of the control-plane store.
//!
//! Migrations are files `migrations/<backend>/NNNN_name.sql` (one directory
//! each for SQLite, PostgreSQL and DuckDB: the dialects differ in types and
//! defaults), applied in order of their number, each in its own transaction together with the row that records it
//! (number, name, SHA-256 of the text). At every start the recorded checksums
//! are compared with the migrations at hand: a migration that was applied and
//! has changed since stops start-up with an error naming its file, because the
//! store's schema would no longer be what the file says it is.

use crate::StoreError;
use crate::db::{Backend, Conn, stamp};
use ring::digest;
use std::path::{Path, PathBuf};

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/embedded_migrations.rs"));
}

/// One migration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migration {
    /// Its number, from the `NNNN` prefix.
    pub version: u32,
    /// Its file name, e.g. `0001_control_plane.sql`.
    pub name: String,
    /// Where it came from, for error messages.
    pub origin: PathBuf,
    /// Hex SHA-256 of its text.
    pub checksum: String,
    sql: String,
}

/// A migration recorded as applied in a store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedMigration {
    /// Its number.
    pub version: u32,
    /// Its file name.
    pub name: String,
    /// Hex SHA-256 of the text that was applied.
    pub checksum: String,
    /// When it was applied (UTC, as DuckDB prints a timestamp).
    pub applied_at: String,
}

/// An ordered set of migrations with distinct numbers.
#[derive(Debug, Clone)]
pub struct MigrationSet {
    migrations: Vec<Migration>,
}

impl MigrationSet {
    /// The migrations this build of niji carries for `backend` (the
    /// workspace's `migrations/<backend>/` directory, embedded at compile
    /// time).
    pub fn embedded(backend: Backend) -> Result<Self, StoreError> {
        let files = embedded::EMBEDDED
            .iter()
            .filter(|(name, _)| *name == backend.name())
            .flat_map(|(_, files)| files.iter());
        Self::from_files(files.map(|(name, sql)| {
            (
                Path::new("migrations").join(backend.name()).join(name),
                name.to_string(),
                sql.to_string(),
            )
        }))
    }

    /// Reads every `*.sql` file of a directory.
    pub fn from_dir(dir: &Path) -> Result<Self, StoreError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| StoreError::Io { path, source }
        };
        let mut files = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(io(dir))? {
            let path = entry.map_err(io(dir))?.path();
            if path.extension().is_some_and(|ext| ext == "sql") {
                let sql = std::fs::read_to_string(&path).map_err(io(&path))?;
                let name = path
                    .file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned();
                files.push((path, name, sql));
            }
        }
        Self::from_files(files)
    }

    fn from_files(
        files: impl IntoIterator<Item = (PathBuf, String, String)>,
    ) -> Result<Self, StoreError> {
        let mut migrations = files
            .into_iter()
            .map(|(origin, name, sql)| Migration::new(origin, name, sql))
            .collect::<Result<Vec<_>, _>>()?;
        migrations.sort_by_key(|m| m.version);
        if let Some(pair) = migrations.windows(2).find(|w| w[0].version == w[1].version) {
            return Err(StoreError::Migration {
                file: pair[1].origin.clone(),
                reason: format!(
                    "number {:04} is also used by {}",
                    pair[1].version,
                    pair[0].origin.display()
                ),
            });
        }
        Ok(Self { migrations })
    }

    /// The migrations, in order.
    pub fn migrations(&self) -> &[Migration] {
        &self.migrations
    }

    fn get(&self, version: u32) -> Option<&Migration> {
        self.migrations.iter().find(|m| m.version == version)
    }
}

impl Migration {
    fn new(origin: PathBuf, name: String, sql: String) -> Result<Self, StoreError> {
        let version = parse_name(&name).map_err(|reason| StoreError::Migration {
            file: origin.clone(),
            reason,
        })?;
        Ok(Self {
            version,
            checksum: hex(digest::digest(&digest::SHA256, sql.as_bytes()).as_ref()),
            name,
            origin,
            sql,
        })
    }
}

/// Checks `NNNN_name.sql` and returns `NNNN`.
fn parse_name(name: &str) -> Result<u32, String> {
    let expected =
        "expected a name like 0001_control_plane.sql (four digits, `_`, lower-case words)";
    let stem = name.strip_suffix(".sql").ok_or(expected)?;
    let (number, words) = stem.split_once('_').ok_or(expected)?;
    let well_formed = number.len() == 4
        && number.bytes().all(|b| b.is_ascii_digit())
        && !words.is_empty()
        && words
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !well_formed {
        return Err(expected.to_owned());
    }
    let version: u32 = number.parse().map_err(|_| expected.to_owned())?;
    if version == 0 {
        return Err("migration numbers start at 0001".to_owned());
    }
    Ok(version)
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The table that records applied migrations, in each dialect.
fn bookkeeping(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => {
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                version INTEGER PRIMARY KEY,
                name TEXT NOT NULL,
                checksum TEXT NOT NULL,
                applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f000+00', 'now'))
            ) STRICT"
        }
        Backend::Postgres => {
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                version INTEGER PRIMARY KEY,
                name TEXT NOT NULL,
                checksum TEXT NOT NULL,
                applied_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
            )"
        }
        Backend::DuckDb => {
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                version INTEGER PRIMARY KEY,
                name VARCHAR NOT NULL,
                checksum VARCHAR NOT NULL,
                applied_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
            )"
        }
    }
}

/// Verifies what was applied and applies what is pending, all under the
/// writer lock and all or nothing: servers starting together on one
/// database migrate it once. Returns the migrations applied by this call.
pub(crate) fn migrate(conn: &Conn, set: &MigrationSet) -> Result<Vec<Migration>, StoreError> {
    let tx = conn.transaction()?;
    tx.batch(bookkeeping(conn.backend()))?;
    let applied = applied(&tx)?;
    verify(&applied, set)?;
    let newest = applied.last().map_or(0, |m| m.version);
    let mut done = Vec::new();
    for migration in set.migrations().iter().filter(|m| m.version > newest) {
        apply(&tx, migration)?;
        tracing::info!(migration = %migration.name, "applied migration");
        done.push(migration.clone());
    }
    tx.commit()?;
    Ok(done)
}

fn verify(applied: &[AppliedMigration], set: &MigrationSet) -> Result<(), StoreError> {
    for record in applied {
        let Some(migration) = set.get(record.version) else {
            return Err(StoreError::Migration {
                file: Path::new("migrations").join(&record.name),
                reason:
                    "was applied to this store but is missing: this niji is older than the store"
                        .to_owned(),
            });
        };
        if migration.name != record.name {
            return Err(StoreError::Migration {
                file: migration.origin.clone(),
                reason: format!("was applied as {} and has since been renamed", record.name),
            });
        }
        if migration.checksum != record.checksum {
            return Err(StoreError::Migration {
                file: migration.origin.clone(),
                reason: format!(
                    "has changed since it was applied on {} (sha256 was {}, is now {}); \
                     restore it and put the change in a new migration",
                    record.applied_at, record.checksum, migration.checksum
                ),
            });
        }
    }
    let newest = applied.last().map_or(0, |m| m.version);
    let applied_versions: Vec<u32> = applied.iter().map(|m| m.version).collect();
    if let Some(late) = set
        .migrations()
        .iter()
        .find(|m| m.version < newest && !applied_versions.contains(&m.version))
    {
        return Err(StoreError::Migration {
            file: late.origin.clone(),
            reason: format!(
                "is new, but migration {newest:04} is already applied; number it after {newest:04}"
            ),
        });
    }
    Ok(())
}

fn apply(conn: &Conn, migration: &Migration) -> Result<(), StoreError> {
    let failed = |source: StoreError| StoreError::Migration {
        file: migration.origin.clone(),
        reason: format!("failed, nothing of it was applied: {source}"),
    };
    let tx = conn.transaction().map_err(failed)?;
    tx.batch(&migration.sql).map_err(failed)?;
    tx.execute(
        "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
        &[&migration.version, &migration.name, &migration.checksum],
    )
    .map_err(failed)?;
    tx.commit().map_err(failed)
}

/// The migrations recorded in a store, in order.
pub(crate) fn applied(conn: &Conn) -> Result<Vec<AppliedMigration>, StoreError> {
    let rows: Vec<(u32, String, String, chrono::DateTime<chrono::Utc>)> = conn.all(
        "SELECT version, name, checksum, applied_at FROM schema_migrations ORDER BY version",
        &[],
    )?;
    Ok(rows
        .into_iter()
        .map(|(version, name, checksum, at)| AppliedMigration {
            version,
            name,
            checksum,
            applied_at: stamp(&at),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_must_be_numbered_lower_case_sql() {
        assert_eq!(parse_name("0001_control_plane.sql"), Ok(1));
        assert_eq!(parse_name("0042_x2.sql"), Ok(42));
        for bad in [
            "1_init.sql",
            "0001-init.sql",
            "0001_.sql",
            "0001_Init.sql",
            "00a1_init.sql",
            "0000_init.sql",
            "0001_init.SQL",
        ] {
            assert!(parse_name(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn embedded_set_is_ordered_and_checksummed() {
        for backend in [Backend::Sqlite, Backend::Postgres, Backend::DuckDb] {
            embedded_set_of(backend);
        }
    }

    fn embedded_set_of(backend: Backend) {
        let set = MigrationSet::embedded(backend).unwrap();
        assert!(!set.migrations().is_empty(), "{backend}");
        let versions: Vec<u32> = set.migrations().iter().map(|m| m.version).collect();
        let mut sorted = versions.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(versions, sorted);
        for m in set.migrations() {
            assert_eq!(m.checksum.len(), 64);
            assert!(m.origin.starts_with("migrations"));
        }
    }

    #[test]
    fn duplicate_numbers_are_refused_naming_both_files() {
        let err = MigrationSet::from_files([
            (
                "m/0001_a.sql".into(),
                "0001_a.sql".into(),
                "SELECT 1;".into(),
            ),
            (
                "m/0001_b.sql".into(),
                "0001_b.sql".into(),
                "SELECT 1;".into(),
            ),
        ])
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("0001_a.sql") && err.contains("0001_b.sql"),
            "{err}"
        );
    }
}
