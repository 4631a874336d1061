//! The gated query path against raw DuckDB, on the same SQL over a claims
//! release of 10 million rows (`NIJI_BENCH_ROWS` to change), measured in
//! the same run. Prints a Markdown table and one JSON line.
//!
//!     cargo bench --workspace --bench gated
//!
//! The gated path is what a researcher's request goes through: HTTP on
//! loopback with an API token, the purpose gate (token, membership, grant),
//! parsing and checking the SQL, the person-count rewrite (a bound from
//! the cells' rows or person buckets, and the exact count where a cell
//! needs it; the last column says which settled it), a sandbox over the
//! release attached read-only, disclosure control, the audit
//! event (durable before the answer), and the JSON answer. Raw DuckDB runs
//! the researcher's SQL on an open connection to the same release, with the
//! sandbox's thread count and memory limit. A third column runs the
//! rewritten SQL raw (the researcher's plus `count(DISTINCT hash(pseudonym))`),
//! to part the cost of counting persons — which disclosure control cannot
//! do without — from the platform's own.
//!
//! The release file is generated once (DuckDB SQL) and kept in the target
//! directory.

#[path = "../../../tests/bench/claims.rs"]
mod claims;
#[path = "../../../tests/bench/platform.rs"]
mod platform;

use claims::{QUERIES, generate};
use duckdb::Connection;
use niji_core::{Role, SecretString};
use niji_store::{ApplicationForm, Conditions, Item, NewRelease, Store};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const PASSPHRASE: &str = "bench-passphrase-not-secret";
const PASSWORD: &str = "bench-password-not-secret";

fn main() {
    let rows: u64 = std::env::var("NIJI_BENCH_ROWS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(10_000_000);
    let cache = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("bench");
    std::fs::create_dir_all(&cache).unwrap();
    // Named for the latest of the release's aids to counting persons:
    // files generated before it are not reused.
    let release = cache.join(format!("claims-{rows}-person-index.duckdb"));
    if !release.exists() {
        let started = Instant::now();
        generate(&release, rows);
        eprintln!(
            "generated {} ({rows} claims) in {:.1} s",
            release.display(),
            started.elapsed().as_secs_f64()
        );
    }
    let data = tempfile::tempdir().unwrap();
    let (token, project) = platform(data.path(), &release);
    if std::env::var_os("NIJI_BENCH_PARTS").is_some() {
        store_parts(data.path(), &token, project);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let url = runtime.block_on(serve(data.path()));
    let raw = raw_connection(&release);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let gated = |sql: &str| -> Duration {
        let started = Instant::now();
        let mut reply = agent
            .post(format!("{url}/api/v1/projects/{project}/queries"))
            .header("Authorization", format!("Bearer {token}"))
            .header("Content-Type", "application/json")
            .send(json!({ "sql": sql }).to_string())
            .unwrap();
        let body: Value =
            serde_json::from_str(&reply.body_mut().read_to_string().unwrap()).unwrap();
        let took = started.elapsed();
        assert_eq!(reply.status().as_u16(), 200, "{sql}: {body}");
        took
    };
    let direct = |sql: &str| -> Duration {
        let started = Instant::now();
        let mut stmt = raw.prepare(sql).unwrap();
        let mut out = stmt.query([]).unwrap();
        let mut n = 0usize;
        while let Some(row) = out.next().unwrap() {
            let width = row.as_ref().column_count();
            for i in 0..width {
                let _: duckdb::types::Value = row.get(i).unwrap();
            }
            n += 1;
        }
        assert!(n > 0, "{sql}");
        started.elapsed()
    };

    println!("## Gated queries vs raw DuckDB, {rows} claims\n");
    println!(
        "| query | raw (ms) | raw + person count (ms) | gated (ms) | gated / raw | added (ms) | gated / (raw + persons) | gated, first run (ms) | persons counted by |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let mut report = Vec::new();
    for q in QUERIES {
        let runs = if q.heavy { 7 } else { 100 };
        let counted = counting(&release, q.sql);
        // Warm both once (the release's pages into the OS cache). The
        // gated path's first run also records the numbers' persons for
        // differencing; later runs find them recorded.
        let first = gated(q.sql).as_secs_f64() * 1e3;
        direct(q.sql);
        let mut raw_ms = Vec::new();
        let mut persons_ms = Vec::new();
        let mut gated_ms = Vec::new();
        // Interleaved, so that drift hits all three alike.
        for _ in 0..runs {
            raw_ms.push(direct(q.sql).as_secs_f64() * 1e3);
            persons_ms.push(direct(q.persons).as_secs_f64() * 1e3);
            gated_ms.push(gated(q.sql).as_secs_f64() * 1e3);
        }
        let (r, p, g) = (median(raw_ms), median(persons_ms), median(gated_ms));
        println!(
            "| {} | {r:.1} | {p:.1} | {g:.1} | {:.2} | {:.1} | {:.2} | {first:.1} | {counted:?} |",
            q.name,
            g / r,
            g - r,
            g / p
        );
        report.push(json!({
            "query": q.name, "heavy": q.heavy, "runs": runs,
            "raw_ms": r, "raw_with_persons_ms": p, "gated_ms": g,
            "ratio": g / r, "added_ms": g - r, "ratio_to_person_count": g / p,
            "gated_first_run_ms": first,
            "persons_counted_by": format!("{counted:?}"),
        }));
    }
    println!();
    println!(
        "{}",
        json!({ "bench": "gated", "rows": rows, "queries": report })
    );
    if std::env::var_os("NIJI_BENCH_PARTS").is_some() {
        parts(&url, project, &token, &agent, &release, &direct);
    }
}

/// How disclosure control counts the persons of `sql`'s cells on
/// `release` under rule set `ndb` (run apart from the timings).
fn counting(release: &Path, sql: &str) -> niji_query::Counting {
    let granted = |name: &str, columns: &[&str]| niji_query::GrantedTable {
        view: name.into(),
        release: "bench".into(),
        path: release.to_path_buf(),
        table: name.into(),
        columns: columns.iter().map(|c| c.to_string()).collect(),
    };
    let tables = vec![
        granted(
            "claims",
            &["kind", "start", "inpatient", "claim_type", "points"],
        ),
        granted("persons", &["age", "sex", "prefecture"]),
    ];
    let limits = niji_query::Limits {
        threads: 1,
        ..niji_query::Limits::default()
    };
    let policy = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../policies/disclosure-ndb.toml");
    let text = std::fs::read_to_string(&policy).unwrap();
    let rules = niji_query::RuleSet::parse(&text, &policy.display().to_string()).unwrap();
    niji_query::Analysis::new(tables, limits)
        .aggregate(sql, &rules)
        .unwrap()
        .counting
}

/// What the store's reads and writes on a request's path cost.
fn store_parts(dir: &Path, token: &str, project: i64) {
    let store = Store::open(dir).unwrap();
    let secret = SecretString::new(token.into());
    let alice = store.account("alice").unwrap().unwrap();
    println!("\n| store call | median (ms) |\n|---|---|");
    let rows: [(&str, &dyn Fn()); 7] = [
        ("check_api_token", &|| {
            store.check_api_token(&secret).unwrap().unwrap();
        }),
        ("account", &|| {
            store.account("alice").unwrap();
        }),
        ("is_project_member", &|| {
            store.is_project_member(&alice, project).unwrap();
        }),
        ("grant", &|| {
            store.grant(project).unwrap();
        }),
        ("application", &|| {
            store.application(1).unwrap();
        }),
        ("release", &|| {
            store.release("bench").unwrap();
        }),
        ("audit (durable)", &|| {
            store
                .audit(
                    "alice",
                    niji_audit::event::EventKind::AnalysisQuery,
                    niji_audit::event::Subject::Project(1),
                    "{}",
                )
                .unwrap();
        }),
    ];
    for (name, f) in rows {
        println!("| {name} | {:.2} |", timed(30, f));
    }
}

/// Where the fixed cost of a request goes (`NIJI_BENCH_PARTS=1`), and what
/// other forms of the person count cost.
fn parts(
    url: &str,
    project: i64,
    token: &str,
    agent: &ureq::Agent,
    release: &Path,
    direct: &dyn Fn(&str) -> Duration,
) {
    let post = |sql: &str| {
        let mut r = agent
            .post(format!("{url}/api/v1/projects/{project}/queries"))
            .header("Authorization", format!("Bearer {token}"))
            .header("Content-Type", "application/json")
            .send(json!({ "sql": sql }).to_string())
            .unwrap();
        let _ = r.body_mut().read_to_string();
    };
    let refused = timed(30, &|| post("SELECT count(*) FROM nowhere"));
    let budget = timed(30, &|| {
        let mut r = agent
            .get(format!("{url}/api/v1/projects/{project}/budget"))
            .header("Authorization", format!("Bearer {token}"))
            .call()
            .unwrap();
        let _ = r.body_mut().read_to_string();
    });
    let tables = vec![niji_query::GrantedTable {
        view: "claims".into(),
        release: "bench".into(),
        path: release.to_path_buf(),
        table: "claims".into(),
        columns: vec!["kind".into(), "start".into()],
    }];
    let sandbox = timed(30, &|| {
        niji_query::Sandbox::open(&tables, niji_query::Limits::default()).unwrap();
    });
    println!("\n| part | median (ms) |\n|---|---|");
    println!("| token + gate + HTTP (GET budget) | {budget:.1} |");
    println!("| token + gate + check + audit + HTTP (a refused query) | {refused:.1} |");
    println!("| a sandbox opened (attach, views, settings) | {sandbox:.1} |");
    let group = "kind, claim_type, start";
    for (name, sql) in [
        (
            "count(DISTINCT pseudonym)",
            format!(
                "SELECT {group}, count(*), sum(points), count(DISTINCT pseudonym) FROM claims GROUP BY ALL"
            ),
        ),
        (
            "count(DISTINCT hash(pseudonym))",
            format!(
                "SELECT {group}, count(*), sum(points), count(DISTINCT hash(pseudonym)) FROM claims GROUP BY ALL"
            ),
        ),
        (
            "two levels",
            format!(
                "SELECT {group}, sum(n), sum(s), count(*) FROM (SELECT {group}, pseudonym, count(*) n, sum(points) s FROM claims GROUP BY ALL) GROUP BY ALL"
            ),
        ),
        (
            "two levels on hash",
            format!(
                "SELECT {group}, sum(n), sum(s), count(*) FROM (SELECT {group}, hash(pseudonym) h, count(*) n, sum(points) s FROM claims GROUP BY ALL) GROUP BY ALL"
            ),
        ),
    ] {
        let t = timed(3, &|| {
            direct(&sql);
        });
        println!("| heavy query with {name} | {t:.1} |");
    }
}

/// The median time of `runs` calls of `f`, in ms.
fn timed(runs: usize, f: &dyn Fn()) -> f64 {
    let mut v = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        f();
        v.push(t.elapsed().as_secs_f64() * 1e3);
    }
    median(v)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn raw_connection(release: &Path) -> Connection {
    let conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(&format!(
        "ATTACH '{}' AS r (READ_ONLY);
         CREATE VIEW claims AS SELECT * EXCLUDE ({column}, {index}) FROM r.main.claims;
         CREATE VIEW persons AS SELECT * EXCLUDE ({column}, {index}) FROM r.main.persons;
         SET threads = 1; SET memory_limit = '512MB';",
        release.display(),
        column = niji_core::bucket::COLUMN,
        index = niji_core::person_index::COLUMN,
    ))
    .unwrap();
    conn
}

/// A data directory with the release recorded, a researcher, and a grant
/// of every column of it under rule set `ndb`; her API token and the
/// project.
fn platform(dir: &Path, release: &Path) -> (String, i64) {
    let mut store = Store::create(dir).unwrap();
    let passphrase = SecretString::new(PASSPHRASE.into());
    store
        .initialize(&passphrase, "admin", &SecretString::new(PASSWORD.into()))
        .unwrap();
    let keystore = store.unlock(&passphrase).unwrap();
    std::fs::create_dir_all(dir.join("releases")).unwrap();
    std::os::unix::fs::symlink(release, dir.join("releases/bench.duckdb")).unwrap();
    store
        .add_release(
            &keystore,
            &NewRelease {
                name: "bench",
                tier: "anonymized",
                policy_sha256: "0",
                policy: "",
                file: "releases/bench.duckdb",
                built_by: "admin",
                manifest: "{}",
                members: &[],
                escrow: None,
                tags: &[],
            },
        )
        .unwrap();
    store
        .add_organization("univ", true, niji_store::Actor::Operator("admin"))
        .unwrap();
    store
        .add_organization("board", false, niji_store::Actor::Operator("admin"))
        .unwrap();
    let password = SecretString::new(PASSWORD.into());
    let alice = store
        .add_account(
            "alice",
            Role::Researcher,
            &password,
            Some("univ"),
            niji_store::Actor::Operator("admin"),
        )
        .unwrap();
    let reviewers: Vec<_> = ["rev1", "rev2"]
        .iter()
        .map(|r| {
            store
                .add_account(
                    r,
                    Role::Reviewer,
                    &password,
                    Some("board"),
                    niji_store::Actor::Operator("admin"),
                )
                .unwrap()
        })
        .collect();
    let item = |table: &str, column: &str| Item {
        release: "bench".into(),
        table: table.into(),
        column: column.into(),
    };
    let mut items = vec![
        item("persons", "age"),
        item("persons", "sex"),
        item("persons", "prefecture"),
    ];
    for c in ["kind", "start", "inpatient", "claim_type", "points"] {
        items.push(item("claims", c));
    }
    let mut sorted = items.clone();
    sorted.sort_by(|a, b| (&a.table, &a.column).cmp(&(&b.table, &b.column)));
    let grant = platform::approved(
        &store,
        &alice,
        &reviewers,
        &ApplicationForm {
            title: "Claims volume by month".into(),
            purpose: "public-health-policy".into(),
            lay_summary: "How many claims, of which kind, month by month.".into(),
            members: vec![],
            items,
            tier: "anonymized".into(),
            starts: "2026-01-01".into(),
            ends: "2099-12-31".into(),
        },
        &Conditions {
            items: sorted,
            rule_set: "ndb".into(),
            row_level: false,
            publish_queries: false,
            dp_rho: 1.0,
            expires: "2099-12-31".into(),
        },
    );
    let (_, token) = store.create_api_token(&alice, grant, "2099-12-31").unwrap();
    (token.expose().to_owned(), grant)
}

/// The server on the data directory (its staging store made first), on a
/// loopback port: its URL.
async fn serve(dir: &Path) -> String {
    drop(niji_ingest::Staging::open(dir).unwrap());
    platform::serve(dir, PASSPHRASE, |state| {
        state.with_job_after(Duration::from_secs(600))
    })
    .await
}
