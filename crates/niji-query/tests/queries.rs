//! The query gate, the sandbox and disclosure control on a real release
//! file: aggregates judged cell by cell, secondary suppression against a
//! total, order statistics by rule set, and a corpus of hostile queries
//! that must all be refused or contained.

#[path = "../../../tests/hostile/corpus.rs"]
mod corpus;
mod oracle;
use niji_query::disclosure::Action;
use niji_query::{
    Analysis, Cell, EngineChoice, GrantedTable, Limits, QueryError, RuleSet, Sandbox, Status,
};
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
    /// The person index (`niji_core::person_index`).
    index: bool,
}

impl Aids {
    const NONE: Aids = Aids {
        buckets: false,
        person_rows: false,
        index: false,
    };
    const ALL: Aids = Aids {
        buckets: true,
        person_rows: true,
        index: true,
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
             (i % 13) * 100 AS cost,
             DATE '2023-01-01' + (i * 17 % 800)::INTEGER AS date
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
        if aids.index {
            conn.execute_batch(&niji_core::person_index::add_to(table))
                .unwrap();
        }
    }
    if aids.index {
        conn.execute_batch(&niji_core::person_index::record())
            .unwrap();
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
                columns: vec!["code".into(), "cost".into(), "date".into()],
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
    // The 5 persons of 90- are a row of too few persons: it goes whole,
    // its key included.
    assert_eq!(out.persons, [25, 120, 150]);
    assert_eq!(
        rows(&out.released),
        [
            vec![text("20-24"), Cell::Int(25)],
            vec![text("40-44"), Cell::Int(120)],
            vec![text("60-64"), Cell::Int(150)],
        ]
    );
    assert!(
        out.findings.notes.iter().any(|n| n.contains("1 rows")),
        "{:?}",
        out.findings.notes
    );
    assert_eq!(out.released.columns, ["age_band", "n"]);
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
    // Sex 9 (3 persons) is withheld whole; without more, 300 − 148 − 149
    // would give its count back, so the smallest other count goes too.
    assert_eq!(out.persons, [148, 149, 300]);
    let statuses: Vec<Status> = out.findings.cells.iter().map(|r| r[1]).collect();
    assert_eq!(statuses, [Status::Secondary, Status::Pass, Status::Pass]);
    assert_eq!(out.released.rows[0][1], Cell::Null);
    assert_eq!(out.released.rows[2][1], Cell::Int(300));
    assert_eq!(out.findings.suppressed(), 1);
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

/// `bomb` is stopped by the time or the memory limit, whichever it reaches
/// first (which depends on the machine's speed).
fn stopped_by_a_limit(a: &Analysis, bomb: &str) {
    match a.aggregate(bomb, &rules("ndb")) {
        Err(QueryError::Timeout(_)) => {}
        Err(QueryError::Refused(why)) if why.contains("more memory") => {}
        Err(other) => panic!("{bomb}: {other}"),
        Ok(out) => panic!("{bomb}: answered {:?}", out.released.rows),
    }
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
    for sql in &corpus {
        // Outside the analysis language, every one: none reaches DuckDB.
        match a.aggregate(sql, &rules("ndb")) {
            Ok(out) => escaped.push(format!("{sql}: {:?}", out.released.rows)),
            Err(QueryError::Refused(_) | QueryError::Syntax(_)) => {}
            Err(other) => escaped.push(format!("{sql}: unexpected {other}")),
        }
    }
    assert!(escaped.is_empty(), "not refused:\n{}", escaped.join("\n"));
    // A bomb in the language is stopped by a limit.
    let joins: String = (0..12)
        .map(|i| format!(" JOIN claims c{i} USING (pseudonym)"))
        .collect();
    let bomb = format!("SELECT count(*) FROM claims{joins}");
    stopped_by_a_limit(&a, &bomb);
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
        // Parquet is compiled in (releases are Parquet); nothing else loads.
        "LOAD httpfs".to_owned(),
        "LOAD json".to_owned(),
        format!("SELECT * FROM read_parquet('{out}')"),
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
            "INSERT INTO claims SELECT printf('p%04d', i), 'X99', CASE WHEN i = 0 THEN 1000000 ELSE 10 END,
               DATE '2024-01-01' FROM range(20) t(i);",
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
    // Long enough for the plain query on a busy machine; the bomb never
    // ends on its own.
    let limits = Limits {
        timeout: Duration::from_secs(5),
        ..Limits::default()
    };
    let a = analysis(&path, limits).with_pool(std::sync::Arc::default());
    let sql = "SELECT age_band, count(*) AS n FROM persons GROUP BY age_band ORDER BY age_band";
    let first = a.aggregate(sql, &rules("ndb")).unwrap();
    let again = a.aggregate(sql, &rules("ndb")).unwrap();
    assert_eq!(first.released, again.released);
    let joins: String = (0..12)
        .map(|i| format!(" JOIN claims c{i} USING (pseudonym)"))
        .collect();
    let bomb = format!("SELECT count(*) AS n FROM claims{joins}");
    stopped_by_a_limit(&a, &bomb);
    let after = a.aggregate(sql, &rules("ndb")).unwrap();
    assert_eq!(first.released, after.released);
}

/// The row counts and the person buckets only bound a cell's persons; the
/// platform must come to the same findings with them as with exact
/// counts, whatever the query and whichever aids the release carries.
#[test]
fn bounds_give_the_findings_exact_counts_give() {
    use niji_query::Counting::{Buckets, Exact, Rows, Sets};
    let plain_dir = tempfile::tempdir().unwrap();
    let plain = analysis(
        &release_with(plain_dir.path(), Aids::NONE),
        Limits::default(),
    );
    let mut aided = Vec::new();
    let mut dirs = Vec::new();
    for (buckets, person_rows, index) in [
        (true, true, false),
        (true, false, false),
        (false, true, false),
        (true, true, true),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let path = release_with(
            dir.path(),
            Aids {
                buckets,
                person_rows,
                index,
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

    // (query, how it is counted with no aids, with both, with buckets
    // alone, with the most rows alone, with the person index too)
    let queries = [
        (
            "SELECT code, count(*) AS n, sum(cost) AS s FROM claims GROUP BY code ORDER BY code",
            [Exact, Rows, Buckets, Rows, Sets],
        ),
        (
            "SELECT claims.code, count(*) FROM claims GROUP BY claims.code ORDER BY 1",
            [Exact, Rows, Buckets, Rows, Sets],
        ),
        (
            "SELECT c.code, count(DISTINCT c.pseudonym) FROM claims AS c GROUP BY ROLLUP (c.code) ORDER BY 1 NULLS LAST",
            [Exact, Rows, Buckets, Rows, Sets],
        ),
        // A join repeats a person's rows at most by the product of the
        // tables' most rows (4 × 1).
        (
            "SELECT p.age_band, count(*) FROM claims c JOIN persons p USING (pseudonym) WHERE p.age_band <> '90-' GROUP BY ALL ORDER BY 1",
            [Exact, Rows, Buckets, Rows, Sets],
        ),
        (
            "SELECT count(*) FROM claims WHERE cost > 100000",
            [Exact, Rows, Buckets, Rows, Sets],
        ),
        // One row per person: the rows are the persons, 5 of them too few.
        (
            "SELECT age_band, count(*) AS n FROM persons GROUP BY age_band ORDER BY age_band",
            [Exact, Rows, Exact, Rows, Sets],
        ),
        (
            "SELECT p.sex, count(*) FROM claims c JOIN persons p USING (pseudonym) GROUP BY p.sex ORDER BY 1",
            [Exact, Exact, Exact, Exact, Sets],
        ),
        (
            "SELECT sex, count(*) FROM persons GROUP BY ROLLUP (sex) ORDER BY sex NULLS LAST",
            [Exact, Rows, Exact, Rows, Sets],
        ),
        // 13 or 14 claims of as many persons per cell: at least 4 persons
        // by rows, at least 11 by buckets.
        (
            "SELECT cost, count(*) FROM claims WHERE code = 'C10' GROUP BY cost ORDER BY 1",
            [Exact, Buckets, Buckets, Exact, Sets],
        ),
        (
            "WITH v AS (SELECT pseudonym, count(*) AS n FROM claims WHERE cost > 500 GROUP BY pseudonym) SELECT p.sex, count(*) FROM persons p JOIN v USING (pseudonym) GROUP BY p.sex ORDER BY 1",
            [Exact, Rows, Buckets, Rows, Sets],
        ),
        (
            "SELECT v.n, count(*) FROM (SELECT pseudonym, count(*) AS n FROM claims GROUP BY pseudonym) v GROUP BY v.n ORDER BY 1",
            [Rows, Rows, Rows, Rows, Sets],
        ),
    ];
    for rules in [rules("ndb"), rules("acro")] {
        for (sql, countings) in queries {
            let exact = plain.aggregate(sql, &rules).unwrap();
            assert_eq!(exact.counting, countings[0], "{sql}");
            for (analysis, counting) in aided.iter().zip(&countings[1..]) {
                let fast = analysis.aggregate(sql, &rules).unwrap();
                assert_eq!(fast.counting, *counting, "{sql}");
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

fn refusal(a: &Analysis, sql: &str, rules: &RuleSet) -> String {
    match a.aggregate(sql, rules) {
        Err(QueryError::Refused(reason)) => reason,
        other => panic!("{sql}: not refused: {other:?}"),
    }
}

/// Conditional aggregates: a count whose rows are a few persons is
/// judged by those persons, not by its group's; CASE inside a measure is
/// refused with the FILTER to write instead.
#[test]
fn conditional_aggregates_are_judged_by_their_own_persons() {
    let dir = tempfile::tempdir().unwrap();
    let a = analysis(&release_with(dir.path(), Aids::ALL), Limits::default());
    for sql in [
        "SELECT sex, count_if(age_band = '90-') AS old FROM persons WHERE sex <> '9' GROUP BY sex ORDER BY sex",
        "SELECT sex, count(*) FILTER (WHERE age_band = '90-') AS old FROM persons WHERE sex <> '9' GROUP BY sex ORDER BY sex",
    ] {
        let out = a.aggregate(sql, &rules("ndb")).unwrap();
        // Both sexes are shown (~150 persons each); their counts of the
        // 5 oldest are not.
        assert_eq!(out.released.rows.len(), 2, "{sql}");
        for row in &out.findings.cells {
            assert_eq!(row[1], Status::Suppressed, "{sql}");
        }
        assert!(out.released.rows.iter().all(|r| r[1] == Cell::Null));
    }
    for sql in [
        "SELECT sex, sum(CASE WHEN age_band = '90-' THEN 1 ELSE 0 END) FROM persons GROUP BY sex",
        "SELECT sex, avg(CASE WHEN age_band = '90-' THEN 1 END) FROM persons GROUP BY sex",
    ] {
        assert!(
            refusal(&a, sql, &rules("ndb")).contains("FILTER (WHERE"),
            "{sql}"
        );
    }
}

/// Differencing inside one result: two counts whose persons differ by
/// the 3 persons of sex 9 subtract to those persons' count. Both wait for
/// review; numbers far apart leave. Every number that leaves carries its
/// exact persons, by the release's person index.
#[test]
fn two_numbers_of_one_result_a_few_persons_apart_wait_for_review() {
    let dir = tempfile::tempdir().unwrap();
    let a = analysis(&release_with(dir.path(), Aids::ALL), Limits::default());
    let out = a
        .aggregate(
            "SELECT count(*) AS everyone, count(*) FILTER (WHERE sex <> '9') AS known, \
             count(*) FILTER (WHERE sex = '1') AS men FROM persons",
            &rules("ndb"),
        )
        .unwrap();
    assert_eq!(
        out.findings.cells,
        [[Status::Review, Status::Review, Status::Pass]]
    );
    assert_eq!(
        out.released.rows,
        [[Cell::Null, Cell::Null, Cell::Int(148)]]
    );
    assert!(
        out.findings
            .notes
            .iter()
            .any(|n| n == niji_query::DIFFERENCING_NOTE)
    );
    let numbers = out.numbers.unwrap();
    assert_eq!(numbers.within.len(), 1);
    let sizes: Vec<u64> = numbers.numbers.iter().map(|n| n.persons.len()).collect();
    assert_eq!(sizes, [300, 297, 148]);
    assert!(numbers.numbers.iter().all(|n| n.family == "count"));
    // The persons of "known" are everyone's but the three of sex 9.
    let apart: Vec<u32> = numbers.numbers[0]
        .persons
        .iter()
        .filter(|p| !numbers.numbers[1].persons.contains(*p))
        .collect();
    assert_eq!(apart.len(), 3);

    // A release without the person index gives no numbers to compare:
    // the server refuses to release such a result.
    let plain_dir = tempfile::tempdir().unwrap();
    let plain = analysis(&release(plain_dir.path()), Limits::default());
    let out = plain
        .aggregate("SELECT count(*) FROM persons", &rules("ndb"))
        .unwrap();
    assert!(out.numbers.is_none());
}

/// Window functions: a window total would undo suppression; OVER is
/// refused wherever it stands.
#[test]
fn window_functions_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let a = analysis(&release(dir.path()), Limits::default());
    for sql in [
        "SELECT sex, count(*) OVER () FROM persons",
        "SELECT age_band, sum(count(*)) OVER () AS total FROM persons GROUP BY age_band",
        "SELECT age_band, count(*) FROM persons GROUP BY age_band QUALIFY row_number() OVER () = 1",
    ] {
        let reason = refusal(&a, sql, &rules("ndb"));
        assert!(
            reason.contains("window") || reason.contains("QUALIFY"),
            "{sql}: {reason}"
        );
    }
}

/// Derived relations: a subquery may not pick rows (LIMIT) or call
/// anything `pseudonym`; tables join only on the person key. A
/// person-level variable is the derived table the language has.
#[test]
fn derived_relations_cannot_pick_rows_or_make_a_person_key() {
    let dir = tempfile::tempdir().unwrap();
    let a = analysis(&release_with(dir.path(), Aids::ALL), Limits::default());
    for sql in [
        "SELECT count(*) FROM (SELECT * FROM persons LIMIT 1) p",
        "SELECT count(*) FROM (SELECT sex AS pseudonym FROM persons) p",
        "SELECT count(DISTINCT pseudonym) FROM (SELECT upper(pseudonym) AS pseudonym FROM persons) p",
        "SELECT p.sex, count(*) FROM claims c, persons p GROUP BY p.sex",
        "SELECT p.sex, count(*) FROM claims c CROSS JOIN persons p GROUP BY p.sex",
        "SELECT p.sex, count(*) FROM claims c JOIN persons p ON c.code = p.sex GROUP BY p.sex",
    ] {
        refusal(&a, sql, &rules("ndb"));
    }
    let out = a
        .aggregate(
            "SELECT v.n, count(*) AS persons FROM persons p \
             JOIN (SELECT pseudonym, count(*) AS n FROM claims GROUP BY pseudonym) v USING (pseudonym) \
             GROUP BY v.n",
            &rules("ndb"),
        )
        .unwrap();
    assert_eq!(out.released.rows, [vec![Cell::Int(4), Cell::Int(300)]]);
}

/// Identifying keys: a row of fewer persons than the minimum leaves
/// whole, keys included, so that neither a measurement as a key nor the
/// full set of quasi-identifiers lists individuals; keys are never made
/// from the person key.
#[test]
fn rows_of_few_persons_are_withheld_whole_keys_included() {
    let dir = tempfile::tempdir().unwrap();
    let a = analysis(&release(dir.path()), Limits::default());
    let out = a
        .aggregate(
            "SELECT age_band, sex, count(*) AS n FROM persons GROUP BY ALL",
            &rules("ndb"),
        )
        .unwrap();
    for row in &out.released.rows {
        assert!(row[0] != text("90-") && row[1] != text("9"), "{row:?}");
    }
    assert!(out.persons.iter().all(|p| *p >= 10), "{:?}", out.persons);
    refusal(
        &a,
        "SELECT upper(p.pseudonym) AS who, count(*) FROM persons p GROUP BY 1",
        &rules("ndb"),
    );
    // A measurement as a key: only values 10 persons share are shown.
    let costs = a
        .aggregate(
            "SELECT cost, count(*) FROM claims GROUP BY cost",
            &rules("ndb"),
        )
        .unwrap();
    assert!(costs.persons.iter().all(|p| *p >= 10));
}

/// Extremes wherever they hide: in HAVING, in ORDER BY, inside
/// arithmetic. `ndb` refuses them; `acro` holds the result for review.
#[test]
fn extremes_are_found_wherever_they_hide() {
    let dir = tempfile::tempdir().unwrap();
    let a = analysis(&release(dir.path()), Limits::default());
    for sql in [
        "SELECT code, count(*) FROM claims GROUP BY code HAVING max(cost) > 1000",
        "SELECT code, count(*) FROM claims GROUP BY code ORDER BY max(cost) DESC",
        "SELECT code, count(*) * 0 + max(cost) AS n FROM claims GROUP BY code",
        "SELECT code, median(cost) FROM claims GROUP BY code",
    ] {
        assert!(
            refusal(&a, sql, &rules("ndb")).contains("one person's value"),
            "{sql}"
        );
        let acro = a.aggregate(sql, &rules("acro")).unwrap();
        assert!(acro.findings.needs_review(), "{sql}");
    }
}

/// ORDER BY a withheld number ranks nothing: it acts on released values,
/// and withheld rows follow their keys.
#[test]
fn order_by_a_withheld_number_ranks_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let a = analysis(&release(dir.path()), Limits::default());
    // The three persons of sex 9 are all in 20-24: 3 there, 0 elsewhere.
    let out = a
        .aggregate(
            "SELECT age_band, count(*) FILTER (WHERE sex = '9') AS n FROM persons \
             WHERE age_band <> '90-' GROUP BY age_band ORDER BY n DESC",
            &rules("ndb"),
        )
        .unwrap();
    let order: Vec<&Cell> = out.released.rows.iter().map(|r| &r[0]).collect();
    assert_eq!(order, [&text("40-44"), &text("60-64"), &text("20-24")]);
    assert_eq!(out.released.rows[2][1], Cell::Null);
    // HAVING on it, likewise: the withheld 3 is unknown, so left out.
    let having = a
        .aggregate(
            "SELECT age_band, count(*) FILTER (WHERE sex = '9') AS n FROM persons \
             GROUP BY age_band HAVING n > 0",
            &rules("ndb"),
        )
        .unwrap();
    assert!(
        having.released.rows.is_empty(),
        "{:?}",
        having.released.rows
    );
}

/// Error texts: a cast that fails on one person's value is written as
/// TRY_CAST, so the request succeeds; and an engine error leaves as its
/// class, never its text (which quotes values).
#[test]
fn errors_carry_no_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = release(dir.path());
    let a = analysis(&path, Limits::default());
    let out = a.aggregate(
        "SELECT sex, count(*) FILTER (WHERE CAST(age_band AS INTEGER) > 0) AS n, \
             sum(cost) FROM claims c JOIN persons p USING (pseudonym) \
             WHERE cost / 0 > 1 OR CAST(code AS INTEGER) IS NULL GROUP BY sex",
        &rules("ndb"),
    );
    match out {
        Err(QueryError::Refused(reason)) => assert!(!reason.contains("C10"), "{reason}"),
        Ok(_) => {}
        Err(other) => panic!("{other}"),
    }
    let out = a
        .aggregate(
            "SELECT p.sex, count(*) FILTER (WHERE CAST(p.age_band AS INTEGER) > 0) AS n \
             FROM persons p GROUP BY p.sex ORDER BY p.sex",
            &rules("ndb"),
        )
        .unwrap();
    assert_eq!(out.released.rows.len(), 2);
    let tables = vec![GrantedTable {
        view: "persons".into(),
        release: "test".into(),
        path,
        table: "persons".into(),
        columns: vec!["age_band".into()],
    }];
    let sandbox = Sandbox::open(&tables, Limits::default()).unwrap();
    let err = sandbox
        .run("SELECT CAST(concat('#', age_band) AS INTEGER) FROM persons")
        .unwrap_err()
        .to_string();
    assert!(!err.contains("20-24") && !err.contains('#'), "{err}");
    assert!(err.contains("Conversion"), "{err}");
}

/// The catalog through an alias: a table alias adds no relation, and may
/// not rename columns.
#[test]
fn the_catalog_cannot_pass_as_an_alias() {
    let dir = tempfile::tempdir().unwrap();
    let a = analysis(&release(dir.path()), Limits::default());
    for sql in [
        "SELECT count(*) FROM duckdb_columns AS duckdb_columns(a, b, c, d, e, f, g)",
        "SELECT count(*) FROM duckdb_columns AS persons",
        "SELECT count(*) FROM persons AS duckdb_columns(a)",
        "SELECT d.sex, count(*) FROM persons AS d JOIN duckdb_columns USING (pseudonym) GROUP BY 1",
    ] {
        refusal(&a, sql, &rules("ndb"));
    }
}

/// The oracle: thousands of generated queries in the language and hostile
/// variants around them; an evaluator written apart (Python over the raw
/// rows) checks every released number. Prints what it checked.
#[test]
fn an_independent_oracle_finds_no_released_number_unsafe() {
    let dir = tempfile::tempdir().unwrap();
    let path = oracle::release(dir.path());
    let sets = [rules("ndb"), rules("acro")];
    let mut rng = oracle::seeded();
    let started = std::time::Instant::now();
    let work: Vec<(oracle::Spec, String)> = (0..oracle::QUERIES)
        .map(|_| {
            let spec = oracle::generate(&mut rng);
            let variant = oracle::hostile(&mut rng, &spec);
            (spec, variant)
        })
        .collect();
    // Two workers, each with its own sandboxes: the machine has two cores.
    let halves: Vec<(String, usize, usize)> = std::thread::scope(|scope| {
        let workers: Vec<_> = work
            .chunks(work.len().div_ceil(2))
            .map(|chunk| {
                let (path, sets) = (&path, &sets);
                scope.spawn(move || {
                    let analysis = oracle::analysis(path);
                    let mut lines = String::new();
                    let (mut numbers, mut hostile) = (0, 0);
                    for (spec, variant) in chunk {
                        for rules in sets {
                            let (line, n) = oracle::run(&analysis, spec, rules);
                            lines.push_str(&line.to_string());
                            lines.push('\n');
                            numbers += n;
                        }
                        for rules in sets {
                            match analysis.aggregate(variant, rules) {
                                Err(QueryError::Refused(_) | QueryError::Syntax(_)) => hostile += 1,
                                Ok(out) if rules.name == "acro" && out.findings.needs_review() => {
                                    hostile += 1
                                }
                                other => panic!(
                                    "hostile, not refused: {variant} [{}]: {other:?}",
                                    rules.name
                                ),
                            }
                        }
                    }
                    (lines, numbers, hostile)
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    let lines: String = halves.iter().map(|h| h.0.as_str()).collect();
    let numbers: usize = halves.iter().map(|h| h.1).sum();
    let hostile: usize = halves.iter().map(|h| h.2).sum();
    let ran = started.elapsed();
    let runs = dir.path().join("runs.jsonl");
    std::fs::write(&runs, lines).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oracle/oracle.py");
    let out = std::process::Command::new(oracle_python())
        .arg(&script)
        .arg(&path)
        .arg(&runs)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    println!(
        "generated {} queries under 2 rule sets: {numbers} numbers released or held; \
         {hostile} hostile runs refused or held ({:.1} s); the oracle ({:.1} s):\n{report}",
        oracle::QUERIES,
        ran.as_secs_f64(),
        (started.elapsed() - ran).as_secs_f64(),
    );
    assert!(
        out.status.success(),
        "{report}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(report.contains(" 0 violations"), "{report}");
    assert!(numbers > 10_000, "{numbers}");
}

/// The Python of the virtual environment `.ci/run` makes for the oracle
/// (DuckDB's Python package), or NIJI_ORACLE_PYTHON.
fn oracle_python() -> PathBuf {
    let python = std::env::var_os("NIJI_ORACLE_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
                .join(".cache/niji/venvs/oracle/bin/python")
        });
    assert!(
        python.exists(),
        "{}: missing; `bash .ci/run` creates it (or set NIJI_ORACLE_PYTHON)",
        python.display()
    );
    python
}

/// The embedded engine's lock over a release directory: the granted
/// table's files are what it may read; another table's, beside them in
/// the same release, it may not, whatever the SQL.
#[test]
fn a_locked_sandbox_reads_no_file_of_a_table_outside_the_grant() {
    let dir = tempfile::tempdir().unwrap();
    let work = release_with(dir.path(), Aids::ALL);
    let published = dir.path().join("test");
    niji_query::storage::publish(&work, &published, "test", &[]).unwrap();
    let release = niji_query::storage::Release::open(&published).unwrap();
    let file = |t: &str| {
        release.files(release.table(t).unwrap())[0]
            .display()
            .to_string()
    };
    let tables = vec![GrantedTable {
        view: "persons".into(),
        release: "test".into(),
        path: published.clone(),
        table: "persons".into(),
        columns: vec!["sex".into()],
    }];
    let sandbox = Sandbox::open(&tables, Limits::default()).unwrap();
    for sql in [
        format!("SELECT count(*) FROM read_parquet('{}')", file("claims")),
        format!(
            "SELECT count(*) FROM read_json('{}/manifest.json')",
            published.display()
        ),
        "SELECT count(*) FROM claims".to_owned(),
    ] {
        assert!(sandbox.run(&sql).is_err(), "the sandbox ran: {sql}");
    }
    let ok = sandbox.run("SELECT count(*) FROM persons").unwrap();
    assert_eq!(ok.rows, [vec![Cell::Int(300)]]);
}

/// Aggregates that exercise every part of the platform's SQL: the
/// counting passes, filters, joins, person-level variables, roll-ups, date
/// and text functions, order statistics, concentration rules, HAVING,
/// ORDER BY and LIMIT; and refusals.
const ENGINE_CORPUS: &[&str] = &[
    "SELECT code, count(*) AS n, sum(cost) AS s FROM claims GROUP BY code ORDER BY code",
    "SELECT claims.code, count(*) FROM claims GROUP BY claims.code ORDER BY 1",
    "SELECT c.code, count(DISTINCT c.pseudonym) FROM claims AS c GROUP BY ROLLUP (c.code) ORDER BY 1 NULLS LAST",
    "SELECT p.age_band, count(*) FROM claims c JOIN persons p USING (pseudonym) WHERE p.age_band <> '90-' GROUP BY ALL ORDER BY 1",
    "SELECT count(*) FROM claims WHERE cost > 100000",
    "SELECT age_band, count(*) AS n FROM persons GROUP BY age_band ORDER BY age_band",
    "SELECT p.sex, count(*) FROM claims c JOIN persons p USING (pseudonym) GROUP BY p.sex ORDER BY 1",
    "SELECT sex, count(*) FROM persons GROUP BY ROLLUP (sex) ORDER BY sex NULLS LAST",
    "SELECT cost, count(*) FROM claims WHERE code = 'C10' GROUP BY cost ORDER BY 1",
    "WITH v AS (SELECT pseudonym, count(*) AS n FROM claims WHERE cost > 500 GROUP BY pseudonym) SELECT p.sex, count(*) FROM persons p JOIN v USING (pseudonym) GROUP BY p.sex ORDER BY 1",
    "SELECT v.n, count(*) FROM (SELECT pseudonym, count(*) AS n FROM claims GROUP BY pseudonym) v GROUP BY v.n ORDER BY 1",
    "SELECT sex, count(*) FILTER (WHERE age_band = '90-') AS old FROM persons WHERE sex <> '9' GROUP BY sex ORDER BY sex",
    "SELECT sex, count_if(age_band = '90-') AS old FROM persons WHERE sex <> '9' GROUP BY sex ORDER BY sex",
    "SELECT sex, avg(CASE WHEN age_band = '90-' THEN 1 END) FROM persons GROUP BY sex",
    "SELECT code, sum(cost) AS total, count(*) AS n FROM claims GROUP BY code ORDER BY code",
    "SELECT code, count(*) FROM claims GROUP BY code HAVING max(cost) > 1000",
    "SELECT code, count(*) FROM claims GROUP BY code ORDER BY max(cost) DESC",
    "SELECT code, max(cost), min(cost) FROM claims GROUP BY code",
    "SELECT code, median(cost), quantile_cont(cost, 0.9) AS p90 FROM claims GROUP BY code ORDER BY code",
    "SELECT code, avg(cost) AS mean, sum(cost) / count(*) AS ratio FROM claims GROUP BY code ORDER BY code",
    "SELECT count(*), count(DISTINCT pseudonym), sum(cost) FROM claims",
    "SELECT year(date) AS y, count(*) AS n FROM claims GROUP BY 1 ORDER BY 1",
    "SELECT date_trunc('month', date) AS m, count(*) FROM claims WHERE date < DATE '2023-07-01' GROUP BY 1 ORDER BY 1",
    "SELECT quarter(date) AS q, month(date) AS m, count(*) FROM claims GROUP BY ALL ORDER BY 1, 2",
    "SELECT day(date) > 15 AS late, count(*) FROM claims GROUP BY 1 ORDER BY 1",
    "SELECT code, avg(date_diff('day', DATE '2023-01-01', date)) AS d, avg(date_diff('week', DATE '2023-01-01', date)) AS w FROM claims GROUP BY code ORDER BY code",
    "SELECT date_diff('month', DATE '2023-01-31', date) AS months, count(*) FROM claims WHERE date < DATE '2023-06-01' GROUP BY 1 ORDER BY 1",
    "SELECT date_diff('year', DATE '2022-12-31', date) AS y, date_diff('quarter', DATE '2022-12-31', date) AS q, count(*) FROM claims GROUP BY ALL ORDER BY 1, 2",
    "SELECT left(code, 1) AS chapter, count(*) FROM claims GROUP BY 1 ORDER BY 1",
    "SELECT lower(code) AS c, length(code) AS l, count(*) FROM claims GROUP BY 1, 2 ORDER BY 1",
    "SELECT substr(code, 2, 2) AS s, upper(trim(code)) AS u, count(*) FROM claims GROUP BY ALL ORDER BY 1",
    "SELECT count(*) FROM claims WHERE starts_with(code, 'C') AND code LIKE 'C%' AND code NOT ILIKE 'i%'",
    "SELECT round(cost / 300.0, 0) AS r, floor(cost / 500.0) AS f, ceil(cost / 500.0) AS c, count(*) FROM claims GROUP BY ALL ORDER BY 1, 2, 3",
    "SELECT abs(cost - 600) AS a, count(*) FROM claims WHERE cost BETWEEN 300 AND 900 GROUP BY 1 ORDER BY 1",
    "SELECT greatest(cost, 500) AS g, least(cost, 500) AS l, count(*) FROM claims GROUP BY ALL ORDER BY 1, 2",
    "SELECT coalesce(CASE WHEN cost > 600 THEN code END, 'low') AS c, count(*) FROM claims GROUP BY 1 ORDER BY 1",
    "SELECT CAST(cost AS VARCHAR) AS c, count(*) FROM claims WHERE cost IN (100, 200) GROUP BY 1 ORDER BY 1",
    "SELECT p.sex, count(*) FROM persons p WHERE p.pseudonym IN (SELECT pseudonym FROM claims WHERE code = 'C10') GROUP BY p.sex ORDER BY 1",
    "SELECT p.sex, count(*) FROM persons p WHERE p.pseudonym NOT IN (SELECT pseudonym FROM claims WHERE cost > 1100) GROUP BY p.sex ORDER BY 1",
    "SELECT c.code, p.sex, count(*) AS n, sum(c.cost) AS s FROM claims c JOIN persons p USING (pseudonym) GROUP BY ROLLUP (c.code, p.sex) ORDER BY 1 NULLS LAST, 2 NULLS LAST",
    "SELECT code, count(*) AS n FROM claims GROUP BY code ORDER BY n DESC LIMIT 1",
    "SELECT p.age_band, count(*) FROM persons p LEFT JOIN claims c USING (pseudonym) GROUP BY 1 ORDER BY 1",
    "SELECT sex, sum(CASE WHEN age_band = '90-' THEN 1 ELSE 0 END) FROM persons GROUP BY sex",
    "SELECT code, quantile_disc(cost, 0.5) FROM claims GROUP BY code",
    "SELECT age_band, sum(count(*)) OVER () AS total FROM persons GROUP BY age_band",
];

/// What a result shows a researcher, or the refusal they read.
fn shown(outcome: &Result<niji_query::Outcome, QueryError>) -> String {
    match outcome {
        Ok(o) => format!(
            "{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}",
            o.released.columns,
            o.released.kinds,
            o.released.rows,
            o.findings.cells,
            o.findings.notes,
            o.counting
        ),
        Err(e) => format!("refused: {e}"),
    }
}

/// The embedded engine and a loopback Ballista cluster, over the same
/// release directory, under both rule sets: the same released cells, the
/// same findings and notes, the same refusals — but for what DataFusion
/// lacks, which the cluster refuses by name.
#[test]
fn both_engines_release_the_same_cells() {
    let dir = tempfile::tempdir().unwrap();
    let work = release_with(dir.path(), Aids::ALL);
    let published = dir.path().join("test");
    let partitions = [("claims".to_owned(), "date".to_owned())];
    niji_query::storage::publish(&work, &published, "test", &partitions).unwrap();
    let cluster = niji_testkit::ballista::Cluster::start(2).unwrap();
    let engine = EngineChoice::parse(&cluster.engine()).unwrap();
    let embedded = analysis(&published, Limits::default());
    let clustered = analysis(&published, Limits::default()).with_engine(engine);
    let mut compared = 0;
    for rules in [rules("ndb"), rules("acro")] {
        // The cluster's answers four at a time: each is a few jobs of
        // small tasks, whose time is mostly the scheduler's.
        let answers: Vec<Vec<(usize, Result<niji_query::Outcome, QueryError>)>> =
            std::thread::scope(|s| {
                let workers: Vec<_> = (0..4)
                    .map(|w| {
                        let (clustered, rules) = (&clustered, &rules);
                        s.spawn(move || {
                            (w..ENGINE_CORPUS.len())
                                .step_by(4)
                                .map(|i| (i, clustered.aggregate(ENGINE_CORPUS[i], rules)))
                                .collect::<Vec<_>>()
                        })
                    })
                    .collect();
                workers.into_iter().map(|w| w.join().unwrap()).collect()
            });
        let mut there: Vec<_> = answers.into_iter().flatten().collect();
        there.sort_by_key(|(i, _)| *i);
        for (sql, (_, there)) in ENGINE_CORPUS.iter().zip(there) {
            let here = embedded.aggregate(sql, &rules);
            if sql.contains("quantile_disc") && here.is_ok() {
                let e = there.err().map(|e| e.to_string()).unwrap_or_default();
                assert!(
                    e.contains("quantile_disc") && e.contains("quantile_cont"),
                    "{e}"
                );
                continue;
            }
            assert_eq!(
                shown(&here),
                shown(&there),
                "{} {sql}\n{}",
                rules.name,
                cluster.logs()
            );
            compared += usize::from(here.is_ok());
        }
    }
    // Most of the corpus releases something under one rule set or the
    // other (ndb refuses extremes; both refuse windows).
    assert!(
        compared > ENGINE_CORPUS.len() * 3 / 2,
        "{compared} released"
    );

    // Person-level columns for a measurement (the DP path): every row when
    // a person's rows are fewer than the cap.
    let sorted = |a: &Analysis| {
        let (columns, scanned) = a
            .person_columns("claims", &["code".into()], &["cost".into()], 10)
            .unwrap();
        let mut pairs: Vec<(String, u64)> = columns.keys[0]
            .iter()
            .zip(&columns.values[0])
            .map(|(k, v)| (k.clone(), *v as u64))
            .collect();
        pairs.sort();
        (pairs, scanned)
    };
    assert_eq!(sorted(&embedded), sorted(&clustered));
    assert_eq!(sorted(&embedded).0.len(), 1200);
}
