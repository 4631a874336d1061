//! The migration runner against real store files (SQLite, and DuckDB for its
//! single-process lock) and real migration files on disk.

use niji_store::{Location, MigrationSet, Store, StoreError};
use std::fs;
use std::path::Path;

fn write(dir: &Path, name: &str, sql: &str) {
    fs::write(dir.join(name), sql).unwrap();
}

fn open(data: &Path, migrations: &Path) -> Result<Store, StoreError> {
    Store::open_with(data, &MigrationSet::from_dir(migrations)?)
}

struct Fixture {
    _root: tempfile::TempDir,
    data: std::path::PathBuf,
    migrations: std::path::PathBuf,
}

fn fixture() -> Fixture {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let migrations = root.path().join("migrations");
    fs::create_dir_all(&data).unwrap();
    fs::create_dir_all(&migrations).unwrap();
    write(
        &migrations,
        "0001_people.sql",
        "CREATE TABLE people (id INTEGER);",
    );
    write(
        &migrations,
        "0002_places.sql",
        "CREATE TABLE places (id INTEGER);\nINSERT INTO places VALUES (1), (2);",
    );
    Fixture {
        _root: root,
        data,
        migrations,
    }
}

#[test]
fn applies_in_order_and_records_checksums() {
    let f = fixture();
    let store = open(&f.data, &f.migrations).unwrap();
    let applied = store.applied_migrations().unwrap();
    let names: Vec<&str> = applied.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["0001_people.sql", "0002_places.sql"]);
    let set = MigrationSet::from_dir(&f.migrations).unwrap();
    for (record, file) in applied.iter().zip(set.migrations()) {
        assert_eq!(record.checksum, file.checksum);
    }
}

#[test]
fn applying_twice_is_a_no_op() {
    let f = fixture();
    let first = open(&f.data, &f.migrations)
        .unwrap()
        .applied_migrations()
        .unwrap();
    // The second open would fail on `CREATE TABLE` or duplicate the rows if
    // it ran the migrations again.
    let second = open(&f.data, &f.migrations)
        .unwrap()
        .applied_migrations()
        .unwrap();
    assert_eq!(first, second);
}

#[test]
fn a_new_migration_is_applied_on_the_next_start() {
    let f = fixture();
    drop(open(&f.data, &f.migrations).unwrap());
    write(
        &f.migrations,
        "0003_times.sql",
        "CREATE TABLE times (t INTEGER);",
    );
    let store = open(&f.data, &f.migrations).unwrap();
    assert_eq!(store.applied_migrations().unwrap().len(), 3);
}

#[test]
fn a_changed_migration_stops_start_up_naming_the_file() {
    let f = fixture();
    drop(open(&f.data, &f.migrations).unwrap());
    write(
        &f.migrations,
        "0001_people.sql",
        "CREATE TABLE people (id INTEGER, name VARCHAR);",
    );
    let err = open(&f.data, &f.migrations).unwrap_err().to_string();
    let file = f.migrations.join("0001_people.sql").display().to_string();
    assert!(
        err.starts_with(&format!("{file}: has changed since it was applied")),
        "{err}"
    );
}

#[test]
fn a_missing_applied_migration_is_refused() {
    let f = fixture();
    drop(open(&f.data, &f.migrations).unwrap());
    fs::remove_file(f.migrations.join("0002_places.sql")).unwrap();
    let err = open(&f.data, &f.migrations).unwrap_err().to_string();
    assert!(
        err.contains("0002_places.sql") && err.contains("missing"),
        "{err}"
    );
}

#[test]
fn a_migration_numbered_before_an_applied_one_is_refused() {
    let f = fixture();
    fs::remove_file(f.migrations.join("0001_people.sql")).unwrap();
    drop(open(&f.data, &f.migrations).unwrap());
    write(
        &f.migrations,
        "0001_people.sql",
        "CREATE TABLE people (id INTEGER);",
    );
    let err = open(&f.data, &f.migrations).unwrap_err().to_string();
    assert!(
        err.contains("0001_people.sql") && err.contains("already applied"),
        "{err}"
    );
}

#[test]
fn a_failing_migration_applies_nothing_and_names_its_file() {
    let f = fixture();
    drop(open(&f.data, &f.migrations).unwrap());
    write(
        &f.migrations,
        "0003_broken.sql",
        "CREATE TABLE half (id INTEGER);\nINSERT INTO no_such_table VALUES (1);",
    );
    let err = open(&f.data, &f.migrations).unwrap_err().to_string();
    assert!(
        err.contains("0003_broken.sql") && err.contains("nothing of it was applied"),
        "{err}"
    );

    // Fixing the file lets start-up continue: the first statement of the
    // failed attempt left no table behind to collide with.
    write(
        &f.migrations,
        "0003_broken.sql",
        "CREATE TABLE half (id INTEGER);",
    );
    let store = open(&f.data, &f.migrations).unwrap();
    assert_eq!(store.applied_migrations().unwrap().len(), 3);
}

#[test]
fn a_badly_named_migration_is_refused() {
    let f = fixture();
    write(&f.migrations, "3_extra.sql", "SELECT 1;");
    let err = open(&f.data, &f.migrations).unwrap_err().to_string();
    assert!(
        err.contains("3_extra.sql") && err.contains("expected a name like"),
        "{err}"
    );
}

#[test]
fn a_second_process_on_a_duckdb_store_is_told_who_holds_it() {
    let f = fixture();
    let duckdb = Location::DuckDb(f.data.join(niji_store::LEGACY_STORE_FILE));
    let open = || Store::open_with_at(&f.data, &duckdb, None);
    let _held = open().unwrap();
    let err = open().unwrap_err();
    assert!(
        matches!(err, StoreError::InUse { pid: Some(pid), .. } if pid == std::process::id()),
        "{err}"
    );
    assert!(
        err.to_string()
            .ends_with(&format!("store in use by pid {}", std::process::id())),
        "{err}"
    );
}

#[test]
fn the_lock_is_released_when_the_store_closes() {
    let f = fixture();
    let duckdb = Location::DuckDb(f.data.join(niji_store::LEGACY_STORE_FILE));
    drop(Store::open_with_at(&f.data, &duckdb, None).unwrap());
    Store::open_with_at(&f.data, &duckdb, None).expect("reopen after close");
}

#[test]
fn sqlite_stores_open_side_by_side() {
    let f = fixture();
    let first = open(&f.data, &f.migrations).unwrap();
    let second = open(&f.data, &f.migrations).expect("no lock on SQLite");
    assert_eq!(
        first.applied_migrations().unwrap(),
        second.applied_migrations().unwrap()
    );
}

/// Events written before the subject columns get theirs from their text,
/// by the kinds that name a project or a release: an organization called
/// `grant 7` is not taken for grant 7.
#[test]
fn older_events_get_their_project_and_release_from_their_subject() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(niji_store::STORE_FILE);
    let set = MigrationSet::embedded(niji_store::Backend::Sqlite).unwrap();
    {
        // A store as niji left it at migration 0002.
        let conn = rusqlite::Connection::open(&file).unwrap();
        conn.execute_batch(
            "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, \
             checksum TEXT NOT NULL, applied_at TEXT NOT NULL \
             DEFAULT '2026-12-01 00:00:00.000000+00') STRICT",
        )
        .unwrap();
        for (m, sql) in set.migrations().iter().zip([
            include_str!("../../../../migrations/sqlite/0001_control_plane.sql"),
            include_str!("../../../../migrations/sqlite/0002_shared_state.sql"),
        ]) {
            conn.execute_batch(sql).unwrap();
            conn.execute(
                "INSERT INTO schema_migrations (version, name, checksum) VALUES (?1, ?2, ?3)",
                rusqlite::params![m.version, m.name, m.checksum],
            )
            .unwrap();
        }
        conn.execute_batch(
            "INSERT INTO releases (name, tier, policy_sha256, policy, file, built_by, persons, manifest) \
               VALUES ('claims', 'anonymized', '00', '', 'releases/claims.duckdb', 'admin', 0, '{}');
             INSERT INTO audit_events (actor, kind, subject, detail) VALUES
               ('alice', 'analysis.query', 'project 5', ''),
               ('rev1', 'grant.create', 'grant 5', 'application 2'),
               ('admin', 'organization.create', 'grant 7', 'certified'),
               ('admin', 'release.build', 'claims', ''),
               ('admin', 'reidentification.request', 'claims', '')",
        )
        .unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.log_size().unwrap(), 5, "caught up on open");
    drop(store);
    let conn = rusqlite::Connection::open(&file).unwrap();
    let columns: Vec<(String, Option<i64>, Option<i64>)> = conn
        .prepare("SELECT kind, project_id, release_id FROM audit_events ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        columns,
        [
            ("analysis.query".to_owned(), Some(5), None),
            ("grant.create".to_owned(), Some(5), None),
            ("organization.create".to_owned(), None, None),
            ("release.build".to_owned(), None, Some(1)),
            ("reidentification.request".to_owned(), None, None),
        ]
    );
    // The release's own event is scoped to it in the log.
    let scoped: i64 = conn
        .query_row(
            "SELECT count(*) FROM log_scopes WHERE release_id = 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(scoped, 1);
}
