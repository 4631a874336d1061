//! The same statements on every backend: values round-trip, transactions
//! commit whole or not at all, and errors name the store but no value.

use super::*;
use niji_testkit::postgres::Cluster;

/// One table of every column kind the control plane uses, in each dialect.
fn schema(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => {
            "CREATE TABLE t (id INTEGER PRIMARY KEY, n BIGINT, x DOUBLE PRECISION, s TEXT UNIQUE, \
             b BLOB, f BOOLEAN, ts TEXT, d TEXT, small INTEGER)"
        }
        Backend::Postgres => {
            "CREATE TABLE t (id BIGINT PRIMARY KEY, n BIGINT, x DOUBLE PRECISION, s TEXT UNIQUE, \
             b BYTEA, f BOOLEAN, ts TIMESTAMPTZ, d DATE, small INTEGER)"
        }
        Backend::DuckDb => {
            "CREATE TABLE t (id BIGINT PRIMARY KEY, n BIGINT, x DOUBLE, s VARCHAR UNIQUE, \
             b BLOB, f BOOLEAN, ts TIMESTAMPTZ, d DATE, small INTEGER)"
        }
    }
}

fn exercise(conn: &Conn) {
    conn.batch(schema(conn.backend())).unwrap();
    assert!(conn.has_table("t").unwrap());
    assert!(!conn.has_table("absent").unwrap());
    let at = DateTime::parse_from_rfc3339("2026-12-07T06:31:00.123456Z")
        .unwrap()
        .to_utc();
    let d = NaiveDate::from_ymd_opt(2027, 3, 31).unwrap();
    let inserted = conn
        .execute(
            "INSERT INTO t (id, n, x, s, b, f, ts, d, small) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            &[&1i64, &-5i64, &2.5f64, &"山田", &[0u8, 255], &true, &at, &d, &7i64],
        )
        .unwrap();
    assert_eq!(inserted, 1);
    let row: (
        i64,
        f64,
        String,
        Vec<u8>,
        bool,
        DateTime<Utc>,
        NaiveDate,
        i64,
    ) = conn
        .one(
            "SELECT n, x, s, b, f, ts, d, small FROM t WHERE id = $1",
            &[&1i64],
        )
        .unwrap();
    assert_eq!(row, (-5, 2.5, "山田".into(), vec![0, 255], true, at, d, 7));
    // NULLs, and a placeholder used twice and out of order.
    conn.execute("INSERT INTO t (id, s) VALUES ($2, $1)", &[&"b", &2i64])
        .unwrap();
    let nulls: (Option<i64>, Option<DateTime<Utc>>, Option<NaiveDate>) = conn
        .one(
            "SELECT n, ts, d FROM t WHERE id = $1 AND s = $2 AND id = $1",
            &[&2i64, &"b"],
        )
        .unwrap();
    assert_eq!(nulls, (None, None, None));
    // Comparisons of times and dates with bound values.
    let (later,): (i64,) = conn
        .one(
            "SELECT count(*) FROM t WHERE ts > $1 AND d <= $2",
            &[&(at - chrono::Duration::microseconds(1)), &d],
        )
        .unwrap();
    assert_eq!(later, 1);
    // RETURNING, and a sum cast back to an integer.
    let (id,): (i64,) = conn
        .one(
            "INSERT INTO t (id, n, s) VALUES ($1, $2, $3) RETURNING id",
            &[&3i64, &10i64, &"c"],
        )
        .unwrap();
    assert_eq!(id, 3);
    let (sum,): (i64,) = conn
        .one("SELECT CAST(sum(n) AS BIGINT) FROM t", &[])
        .unwrap();
    assert_eq!(sum, 5);

    // A transaction dropped before commit leaves nothing.
    {
        let tx = conn.transaction().unwrap();
        tx.execute("INSERT INTO t (id, s) VALUES ($1, $2)", &[&4i64, &"d"])
            .unwrap();
    }
    assert!(
        conn.opt::<(i64,)>("SELECT id FROM t WHERE id = $1", &[&4i64])
            .unwrap()
            .is_none()
    );
    // A failed inner step dooms the outer transaction.
    {
        let tx = conn.transaction().unwrap();
        tx.execute("INSERT INTO t (id, s) VALUES ($1, $2)", &[&5i64, &"e"])
            .unwrap();
        drop(tx.transaction().unwrap());
        assert!(tx.commit().is_err());
    }
    assert!(
        conn.opt::<(i64,)>("SELECT id FROM t WHERE id = $1", &[&5i64])
            .unwrap()
            .is_none()
    );
    // A committed one stays, nested steps included.
    let tx = conn.transaction().unwrap();
    tx.execute("INSERT INTO t (id, s) VALUES ($1, $2)", &[&6i64, &"f"])
        .unwrap();
    let inner = tx.transaction().unwrap();
    inner
        .execute("UPDATE t SET n = $1 WHERE id = $2", &[&60i64, &6i64])
        .unwrap();
    inner.commit().unwrap();
    tx.commit().unwrap();
    let (n,): (i64,) = conn.one("SELECT n FROM t WHERE id = $1", &[&6i64]).unwrap();
    assert_eq!(n, 60);

    // A violated key: the error names the store, never the value.
    let err = conn
        .execute("INSERT INTO t (id, s) VALUES ($1, $2)", &[&7i64, &"山田"])
        .unwrap_err()
        .to_string();
    assert!(err.contains(&conn.location().display()), "{err}");
    assert!(!err.contains("山田"), "{err}");
    // A type that does not fit is an error, not a panic.
    let err = conn
        .one::<(String,)>("SELECT n FROM t WHERE id = $1", &[&6i64])
        .unwrap_err();
    assert!(matches!(err, StoreError::Damaged { .. }), "{err}");

    // A reader sees what was committed.
    let reader = conn.reader().unwrap();
    let (count,): (i64,) = reader.one("SELECT count(*) FROM t", &[]).unwrap();
    assert_eq!(count, 4);
}

#[test]
fn sqlite_runs_the_shared_statements() {
    let dir = tempfile::tempdir().unwrap();
    let conn = Conn::open(&Location::Sqlite(dir.path().join("control.sqlite"))).unwrap();
    exercise(&conn);
    let (mode,): (String,) = conn.one("PRAGMA journal_mode", &[]).unwrap();
    assert_eq!(mode, "wal");
}

#[test]
fn duckdb_runs_the_shared_statements() {
    let dir = tempfile::tempdir().unwrap();
    let conn = Conn::open(&Location::DuckDb(dir.path().join("control.duckdb"))).unwrap();
    exercise(&conn);
}

#[test]
fn postgres_runs_the_shared_statements_and_refuses_clearly() {
    let cluster = Cluster::start().unwrap();
    let url = cluster.create_database("shared").unwrap();
    let conn = Conn::open(&Location::Postgres(url.clone())).unwrap();
    exercise(&conn);

    // A wrong password: the store is named, the password is not.
    let wrong = url.replace(
        niji_testkit::postgres::SUPERUSER_PASSWORD,
        "not-the-password",
    );
    let err = Conn::open(&Location::Postgres(wrong))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&format!("127.0.0.1:{}/shared", cluster.port())),
        "{err}"
    );
    assert!(err.contains("password authentication failed"), "{err}");
    assert!(
        !err.contains("not-the-password")
            && !err.contains(niji_testkit::postgres::SUPERUSER_PASSWORD),
        "{err}"
    );
    // Nobody listening.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let err = Conn::open(&Location::Postgres(format!(
        "postgres://postgres:secret@127.0.0.1:{closed}/x"
    )))
    .unwrap_err()
    .to_string();
    assert!(
        err.contains(&format!("127.0.0.1:{closed}")) && !err.contains("secret"),
        "{err}"
    );
    // Not a URL.
    let err = Conn::open(&Location::Postgres("postgres://u:secret@[bad".into()))
        .unwrap_err()
        .to_string();
    assert!(!err.contains("secret"), "{err}");
}

#[test]
fn postgres_writers_take_turns() {
    let cluster = Cluster::start().unwrap();
    let url = cluster.create_database("turns").unwrap();
    let a = Conn::open(&Location::Postgres(url.clone())).unwrap();
    let b = Conn::open(&Location::Postgres(url)).unwrap();
    a.batch("CREATE TABLE c (n BIGINT)").unwrap();
    a.execute("INSERT INTO c VALUES (0)", &[]).unwrap();
    let tx = a.transaction().unwrap();
    let (n,): (i64,) = tx.one("SELECT n FROM c", &[]).unwrap();
    // While `a` holds the writer lock, `b`'s transaction waits.
    let waiter = std::thread::spawn(move || {
        let tx = b.transaction().unwrap();
        let (n,): (i64,) = tx.one("SELECT n FROM c", &[]).unwrap();
        tx.execute("UPDATE c SET n = $1", &[&(n + 1)]).unwrap();
        tx.commit().unwrap();
    });
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(
        !waiter.is_finished(),
        "a second writer ran beside the first"
    );
    tx.execute("UPDATE c SET n = $1", &[&(n + 1)]).unwrap();
    tx.commit().unwrap();
    waiter.join().unwrap();
    let (n,): (i64,) = a.one("SELECT n FROM c", &[]).unwrap();
    assert_eq!(n, 2, "an increment was lost");
}

/// The access log's leaves hash the time text DuckDB printed: `stamp`
/// must print exactly that, or older logs stop verifying.
#[test]
fn stamp_prints_times_as_duckdb_did() {
    let dir = tempfile::tempdir().unwrap();
    let conn = Conn::open(&Location::DuckDb(dir.path().join("p.duckdb"))).unwrap();
    conn.batch("CREATE TABLE p (t TIMESTAMPTZ)").unwrap();
    let base = 1_765_000_000_000_000i64;
    for micros in [
        0i64,
        120_000,
        123_456,
        100,
        1,
        999_999,
        1_000_000,
        86_399_999_999,
    ] {
        let t = DateTime::<Utc>::from_timestamp_micros(base + micros).unwrap();
        conn.execute("INSERT INTO p (t) VALUES ($1)", &[&t])
            .unwrap();
    }
    let rows: Vec<(String, DateTime<Utc>)> = conn
        .all("SELECT CAST(t AS VARCHAR), t FROM p", &[])
        .unwrap();
    assert_eq!(rows.len(), 8);
    for (duckdb, t) in rows {
        assert_eq!(stamp(&t), duckdb);
    }
}
