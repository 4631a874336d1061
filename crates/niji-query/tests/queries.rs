//! The query gate, the sandbox and disclosure control on a real release
//! file: aggregates judged cell by cell, secondary suppression against a
//! total, order statistics by rule set, and a corpus of hostile queries
//! that must all be refused or contained.

#[path = "../../../tests/hostile/corpus.rs"]
mod corpus;
use niji_query::disclosure::Action;
use niji_query::{Analysis, Cell, GrantedTable, Limits, QueryError, RuleSet, Sandbox, Status};
use std::path::{Path, PathBuf};
use std::time::Duration;

fn rules(name: &str) -> RuleSet {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../policies")
        .join(format!("disclosure-{name}.toml"));
    RuleSet::parse(&std::fs::read_to_string(&path).unwrap(), name).unwrap()
}

/// A release file: 300 persons (age bands of 25, 120, 150 and 5 persons;
/// sexes 1 and 2, with 3 persons of sex 9) and their claims, 4 each, as a
/// release built before the platform's person-count aids.
fn release(dir: &Path) -> PathBuf {
    release_with(dir, Aids::NONE)
}

/// Which of the aids to counting persons a test release carries.
#[derive(Debug, Clone, Copy)]
struct Aids {
    /// The hidden person bucket (`niji_core::bucket`).
    buckets: bool,
    /// The most rows of one person per table (`niji_core::person_rows`).
    person_rows: bool,
}

impl Aids {
    const NONE: Aids = Aids {
        buckets: false,
        person_rows: false,
    };
    const ALL: Aids = Aids {
        buckets: true,
        person_rows: true,
    };
}

/// The same release with pseudonyms of 32 letters `a`–`p`, as builds make
/// them, and the aids `aids` names.
fn release_with(dir: &Path, aids: Aids) -> PathBuf {
    let path = dir.join("test-release.duckdb");
    let conn = duckdb::Connection::open(&path).unwrap();
    let pseudonym = |i: &str| {
        format!("translate(md5('person ' || ({i})), '0123456789abcdef', 'abcdefghijklmnop')")
    };
    conn.execute_batch(&format!(
        "CREATE TABLE persons AS SELECT
             {} AS pseudonym,
             CASE WHEN i < 25 THEN '20-24' WHEN i < 145 THEN '40-44'
                  WHEN i < 295 THEN '60-64' ELSE '90-' END AS age_band,
             CASE WHEN i < 3 THEN '9' WHEN i % 2 = 0 THEN '1' ELSE '2' END AS sex,
             'kept out of every grant' AS secret_col
         FROM range(300) t(i);
         CREATE TABLE claims AS SELECT
             {} AS pseudonym,
             CASE WHEN i % 7 = 0 THEN 'C10' ELSE 'I10' END AS code,
             (i % 13) * 100 AS cost
         FROM range(1200) t(i);",
        pseudonym("i"),
        pseudonym("i % 300"),
    ))
    .unwrap();
    for table in ["persons", "claims"] {
        if aids.buckets {
            conn.execute_batch(&format!(
                "ALTER TABLE {table} ADD COLUMN {c} UBIGINT;
                 UPDATE {table} SET {c} = {bucket};",
                c = niji_core::bucket::COLUMN,
                bucket = niji_core::bucket::sql("pseudonym"),
            ))
            .unwrap();
        }
        if aids.person_rows {
            conn.execute_batch(&niji_core::person_rows::record(table))
                .unwrap();
        }
    }
    path
}

fn analysis(path: &Path, limits: Limits) -> Analysis {
    Analysis::new(
        vec![
            GrantedTable {
                view: "persons".into(),
                release: "test".into(),
                path: path.to_owned(),
                table: "persons".into(),
                columns: vec!["age_band".into(), "sex".into()],
            },
            GrantedTable {
                view: "claims".into(),
                release: "test".into(),
                path: path.to_owned(),
                table: "claims".into(),
                columns: vec!["code".into(), "cost".into()],
            },
        ],
        limits,
    )
}

fn rows(result: &niji_query::ResultSet) -> Vec<Vec<Cell>> {
    result.rows.clone()
}

fn text(s: &str) -> Cell {
    Cell::Text(s.into())
}

#[test]
fn small_cells_are_suppressed_and_person_counts_are_the_platforms() {
    let dir = tempfile::tempdir().unwrap();
    let a = analysis(&release(dir.path()), Limits::default());
    let out = a
        .aggregate(
            "SELECT age_band, count(*) AS n FROM persons GROUP BY age_band ORDER BY age_band",
            &rules("ndb"),
        )
        .unwrap();
    assert_eq!(out.persons, [25, 120, 150, 5]);
    assert_eq!(
        rows(&out.released),
        [
            vec![text("20-24"), Cell::Int(25)],
            vec![text("40-44"), Cell::Int(120)],
            vec![text("60-64"), Cell::Int(150)],
            vec![text("90-"), Cell::Null],
        ]
    );
    assert_eq!(out.released.columns, ["age_band", "n"]);
    assert_eq!(out.findings.cells[3][1], Status::Suppressed);
    // Counting claims rows does not fool the person count: 1200 claims of
    // 300 persons, by code.
    let claims = a
        .aggregate(
            "SELECT c.code, count(*) FROM claims c GROUP BY c.code ORDER BY 1",
            &rules("ndb"),
        )
        .unwrap();
    // Person p has claims p, p + 300, p + 600 and p + 900; a claim i has
    // code C10 when i is a multiple of 7.
    let with = |c10: bool| {
        (0..300u64)
            .filter(|p| (0..4).any(|k| ((p + 300 * k) % 7 == 0) == c10))
            .count() as u64
    };
    assert_eq!(claims.persons, [with(true), with(false)]);
}

/// The person counts are added as columns, which would split the rows
/// DISTINCT merges: such a query is refused, and says what to do instead.
#[test]
fn distinct_over_an_aggregate_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let a = analysis(&release_with(dir.path(), Aids::ALL), Limits::default());
    let sql = "SELECT DISTINCT code, count(*) > 50 AS many FROM claims GROUP BY code, cost";
    match a.aggregate(sql, &rules("ndb")) {
        Err(QueryError::Refused(reason)) => assert!(reason.contains("group by"), "{reason}"),
        other => panic!("{other:?}"),
    }
    let grouped = a
        .aggregate(
            "SELECT code, count(*) AS n FROM claims GROUP BY code ORDER BY code",
            &rules("ndb"),
        )
        .unwrap();
    assert_eq!(grouped.computed.rows.len(), 2);
}

#[test]
fn a_suppressed_cell_cannot_be_recovered_from_a_total() {
    let dir = tempfile::tempdir().unwrap();
    let a = analysis(&release(dir.path()), Limits::default());
    let out = a
        .aggregate(
            "SELECT sex, count(*) FROM persons GROUP BY ROLLUP (sex) ORDER BY sex NULLS LAST",
            &rules("ndb"),
        )
        .unwrap();
    assert_eq!(out.persons, [148, 149, 3, 300]);
    let statuses: Vec<Status> = out.findings.cells.iter().map(|r| r[1]).collect();
    // Sex 9 (3 persons) is suppressed; without more, 300 − 148 − 149 would
    // give it back, so the smallest other cell goes too.
    assert_eq!(
        statuses,
        [
            Status::Secondary,
            Status::Pass,
            Status::Suppressed,
            Status::Pass
        ]
    );
    assert_eq!(out.released.rows[0][1], Cell::Null);
    assert_eq!(out.released.rows[3][1], Cell::Int(300));
    assert_eq!(out.findings.suppressed(), 2);
}

#[test]
fn order_statistics_follow_the_rule_set() {
    let dir = tempfile::tempdir().unwrap();
    let a = analysis(&release(dir.path()), Limits::default());
    let sql = "SELECT code, max(cost) FROM claims GROUP BY code";
    match a.aggregate(sql, &rules("ndb")) {
        Err(QueryError::Refused(reason)) => assert!(reason.contains("max"), "{reason}"),
        other => panic!("ndb must refuse max: {other:?}"),
    }
    let acro = rules("acro");
    assert_eq!(acro.extremes, Action::Review);
    let out = a.aggregate(sql, &acro).unwrap();
    assert!(out.findings.needs_review());
    // Row-level results are not aggregates.
    match a.aggregate("SELECT age_band, sex FROM persons", &rules("ndb")) {
        Err(QueryError::Refused(reason)) => assert!(reason.contains("aggregate"), "{reason}"),
        other => panic!("{other:?}"),
    }
}

/// Queries a researcher might send to get past the gate. Each must be
/// refused before it runs, or contained by the sandbox (stopped, limited).
fn hostile(dir: &Path) -> Vec<String> {
    let out = dir.join("out").display().to_string();
    corpus::corpus(&out)
}

#[test]
fn every_hostile_query_is_refused_or_contained() {
    let dir = tempfile::tempdir().unwrap();
    let path = release_with(dir.path(), Aids::ALL);
    let before = std::fs::read(&path).unwrap();
    let limits = Limits {
        timeout: Duration::from_secs(2),
        memory: "256MB".into(),
        ..Limits::default()
    };
    // Through a pool, as the server runs them: a sandbox one hostile
    // query used serves the next.
    let a = analysis(&path, limits).with_pool(std::sync::Arc::default());
    let corpus = hostile(dir.path());
    assert!(corpus.len() >= 50, "{} queries", corpus.len());
    let mut escaped = Vec::new();
    let mut contained = 0;
    for sql in &corpus {
        match a.aggregate(sql, &rules("ndb")) {
            Ok(out) => escaped.push(format!("{sql}: {:?}", out.released.rows)),
            Err(QueryError::Timeout(_)) => contained += 1,
            Err(QueryError::Refused(_) | QueryError::Syntax(_)) => {}
            Err(other) => escaped.push(format!("{sql}: unexpected {other}")),
        }
    }
    assert!(escaped.is_empty(), "not refused:\n{}", escaped.join("\n"));
    assert!(contained >= 1, "the cross joins should have been stopped");
    // Nothing was written beside the release, and the release is intact.
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["test-release.duckdb"], "files appeared");
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

/// Below the gate, the locked connection itself refuses files, attaching,
/// extensions and settings: a second wall.
#[test]
fn the_sandbox_is_locked_even_without_the_gate() {
    let dir = tempfile::tempdir().unwrap();
    let path = release(dir.path());
    let tables = vec![GrantedTable {
        view: "persons".into(),
        release: "test".into(),
        path: path.clone(),
        table: "persons".into(),
        columns: vec!["sex".into()],
    }];
    let sandbox = Sandbox::open(&tables, Limits::default()).unwrap();
    let out = dir.path().join("leak.csv").display().to_string();
    for sql in [
        "SELECT * FROM read_csv('/etc/passwd')".to_owned(),
        format!("COPY (SELECT 1) TO '{out}'"),
        format!("ATTACH '{out}.duckdb' AS x"),
        "INSTALL httpfs".to_owned(),
        "LOAD parquet".to_owned(),
        "SET enable_external_access = true".to_owned(),
        "SET memory_limit = '100GB'".to_owned(),
        "SELECT secret_col FROM persons".to_owned(),
    ] {
        assert!(sandbox.run(&sql).is_err(), "the sandbox ran: {sql}");
    }
    assert!(!Path::new(&out).exists());
    // What it may do, it does.
    let ok = sandbox.run("SELECT count(*) FROM persons").unwrap();
    assert_eq!(ok.rows, [vec![Cell::Int(300)]]);
}

#[test]
fn a_sum_one_person_dominates_is_suppressed_under_acro() {
    let dir = tempfile::tempdir().unwrap();
    let path = release(dir.path());
    {
        // One person's claim of code X99 outweighs everyone else's.
        let conn = duckdb::Connection::open(&path).unwrap();
        conn.execute_batch(
            "INSERT INTO claims SELECT printf('p%04d', i), 'X99', CASE WHEN i = 0 THEN 1000000 ELSE 10 END
             FROM range(20) t(i);",
        )
        .unwrap();
    }
    let a = analysis(&path, Limits::default());
    let sql =
        "SELECT code, sum(cost) AS total, count(*) AS n FROM claims GROUP BY code ORDER BY code";
    let acro = a.aggregate(sql, &rules("acro")).unwrap();
    let codes: Vec<&Cell> = acro.released.rows.iter().map(|r| &r[0]).collect();
    assert_eq!(codes, [&text("C10"), &text("I10"), &text("X99")]);
    // X99's sum is dominated; its count (20 persons) passes; the others pass.
    assert_eq!(
        acro.findings.cells[2],
        [Status::Pass, Status::Suppressed, Status::Pass]
    );
    assert_eq!(acro.findings.cells[0][1], Status::Pass);
    assert_eq!(acro.findings.cells[1][1], Status::Pass);
    // The NDB rules have no dominance rule: the sum passes there.
    let ndb = a.aggregate(sql, &rules("ndb")).unwrap();
    assert_eq!(ndb.findings.cells[2][1], Status::Pass);
}

/// A pooled sandbox serves the next query of the same tables with the same
/// answers; one whose query was interrupted is not lent again.
#[test]
fn pooled_sandboxes_are_reused_until_a_query_is_interrupted() {
    let dir = tempfile::tempdir().unwrap();
    let path = release(dir.path());
    let limits = Limits {
        timeout: Duration::from_millis(300),
        ..Limits::default()
    };
    let a = analysis(&path, limits).with_pool(std::sync::Arc::default());
    let sql = "SELECT age_band, count(*) AS n FROM persons GROUP BY age_band ORDER BY age_band";
    let first = a.aggregate(sql, &rules("ndb")).unwrap();
    let again = a.aggregate(sql, &rules("ndb")).unwrap();
    assert_eq!(first.released, again.released);
    let bomb = "SELECT count(*) AS n FROM claims a, claims b, claims c, claims d";
    assert!(matches!(
        a.aggregate(bomb, &rules("ndb")),
        Err(QueryError::Timeout(_))
    ));
    let after = a.aggregate(sql, &rules("ndb")).unwrap();
    assert_eq!(first.released, after.released);
}

/// The row counts and the person buckets only bound a cell's persons; the
/// platform must come to the same findings with them as with exact
/// counts, whatever the query and whichever aids the release carries.
#[test]
fn bounds_give_the_findings_exact_counts_give() {
    use niji_query::Counting::{Buckets, Exact, Rows};
    let plain_dir = tempfile::tempdir().unwrap();
    let plain = analysis(
        &release_with(plain_dir.path(), Aids::NONE),
        Limits::default(),
    );
    let mut aided = Vec::new();
    let mut dirs = Vec::new();
    for (buckets, person_rows) in [(true, true), (true, false), (false, true)] {
        let dir = tempfile::tempdir().unwrap();
        let path = release_with(
            dir.path(),
            Aids {
                buckets,
                person_rows,
            },
        );
        aided.push(analysis(&path, Limits::default()));
        dirs.push((dir, path));
    }

    // The SQL formula the bucket was written with is the Rust one, and the
    // most rows recorded are the table's (4 claims, 1 person row each).
    let conn = duckdb::Connection::open(&dirs[0].1).unwrap();
    let mut stmt = conn
        .prepare("SELECT pseudonym, __niji_bucket FROM persons")
        .unwrap();
    let pairs: Vec<(String, u64)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(pairs.len(), 300);
    for (p, b) in &pairs {
        assert!(niji_query::is_pseudonym(p), "{p}");
        assert_eq!(niji_core::bucket::bit(p), *b, "{p}");
    }
    let mut stmt = conn
        .prepare("SELECT table_name, most_rows FROM niji.person_rows ORDER BY 1")
        .unwrap();
    let most: Vec<(String, u64)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(most, [("claims".into(), 4), ("persons".into(), 1)]);
    drop(stmt);
    drop(conn);

    // (query, how it is counted with both aids, with buckets alone, with
    // the most rows alone)
    let queries = [
        (
            "SELECT code, count(*) AS n, sum(cost) AS s FROM claims GROUP BY code ORDER BY code",
            [Rows, Buckets, Rows],
        ),
        (
            "SELECT claims.code, count(*) FROM claims GROUP BY claims.code ORDER BY 1",
            [Rows, Buckets, Rows],
        ),
        (
            "SELECT c.code, count(DISTINCT c.pseudonym) FROM claims AS c GROUP BY ROLLUP (c.code) ORDER BY 1 NULLS LAST",
            [Rows, Buckets, Rows],
        ),
        // A join may repeat a person's rows: no row bound.
        (
            "SELECT p.age_band, count(*) FROM claims c JOIN persons p USING (pseudonym) WHERE p.age_band <> '90-' GROUP BY ALL ORDER BY 1",
            [Buckets, Buckets, Exact],
        ),
        (
            "SELECT count(*) FROM claims WHERE cost > 100000",
            [Rows, Buckets, Rows],
        ),
        // One row per person: the rows are the persons, 5 of them too few.
        (
            "SELECT age_band, count(*) AS n FROM persons GROUP BY age_band ORDER BY age_band",
            [Rows, Exact, Rows],
        ),
        (
            "SELECT p.sex, count(*) FROM claims c JOIN persons p USING (pseudonym) GROUP BY p.sex ORDER BY 1",
            [Exact, Exact, Exact],
        ),
        (
            "SELECT sex, count(*) FROM persons GROUP BY ROLLUP (sex) ORDER BY sex NULLS LAST",
            [Rows, Exact, Rows],
        ),
        // 13 or 14 claims of as many persons per cell: at least 4 persons
        // by rows, at least 11 by buckets.
        (
            "SELECT cost, count(*) FROM claims WHERE code = 'C10' GROUP BY cost ORDER BY 1",
            [Buckets, Buckets, Exact],
        ),
        (
            "WITH claims AS (SELECT pseudonym, code FROM claims WHERE cost > 500) SELECT code, count(*) FROM claims GROUP BY code ORDER BY 1",
            [Exact, Exact, Exact],
        ),
        (
            "SELECT code, count(*) FROM (SELECT pseudonym, code FROM claims) GROUP BY code ORDER BY 1",
            [Exact, Exact, Exact],
        ),
    ];
    for rules in [rules("ndb"), rules("acro")] {
        for (sql, countings) in queries {
            let exact = plain.aggregate(sql, &rules).unwrap();
            assert_eq!(exact.counting, Exact, "{sql}");
            for (analysis, counting) in aided.iter().zip(countings) {
                let fast = analysis.aggregate(sql, &rules).unwrap();
                assert_eq!(fast.counting, counting, "{sql}");
                assert_eq!(fast.computed.rows, exact.computed.rows, "{sql}");
                assert_eq!(fast.computed.columns, exact.computed.columns, "{sql}");
                assert_eq!(
                    fast.findings.cells, exact.findings.cells,
                    "{} {sql}",
                    rules.name
                );
                assert_eq!(
                    fast.findings.notes, exact.findings.notes,
                    "{} {sql}",
                    rules.name
                );
                assert_eq!(fast.released.rows, exact.released.rows, "{sql}");
                let min = rules.min_persons;
                for (b, n) in fast.persons.iter().zip(&exact.persons) {
                    assert!(b <= n && (*b == 0) == (*n == 0), "{sql}: {b} of {n}");
                    assert_eq!(*b >= min, *n >= min, "{sql}: {b} of {n}");
                }
            }
        }
    }
}
