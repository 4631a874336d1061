//! A citizen's page at national scale: `GET /me` (the entries that concern
//! them counted by month and project, the chart, the releases, the opt-out
//! form) for a person whom 10⁵ log entries concern, among 10⁶ persons;
//! then their summary as JSON and the first page of one group's entries.
//! Through the real server on loopback with a citizen's session, 1,000
//! requests each, one at a time. Prints p50/p99 and one JSON line.
//! (`NIJI_BENCH_ENTRIES` is the citizen's entries; the log is longer.)
//!
//!     cargo bench --workspace --bench me
//!
//! The log: eight releases, each holding a different 60% of the persons
//! (`tests/bench/log.rs`); 24 projects, each granted one release; 99% of
//! the entries are the projects' queries, 1% name one to three persons
//! directly. The citizen is a person in six of the eight releases (no one
//! is in all), so the queries of 18 projects concern them: the log grows
//! until 10⁵ entries do. The history is spread over two years by rewriting
//! the events' times in the SQLite file after they were logged (the log's
//! hashes then no longer match those events; this benchmark does not
//! verify the log). Built once under the target directory and reused
//! (`NIJI_BENCH_PERSONS`, `NIJI_BENCH_ENTRIES` change the sizes).

#[path = "../../../tests/bench/log.rs"]
mod log;
#[path = "../../../tests/bench/platform.rs"]
mod platform;

use log::{Numbers, RELEASES, add_releases, member, release_name};
use niji_audit::event::{EventKind, Subject};
use niji_core::{Role, SecretString};
use niji_store::{ApplicationForm, Conditions, Item, NewEvent, Store};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const PASSPHRASE: &str = "bench-me-passphrase-not-secret";
const PASSWORD: &str = "bench-me-password-not-secret";
const PROJECTS: u64 = 24;
const BATCH: usize = 5_000;
const REQUESTS: usize = 1_000;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let persons = env_or("NIJI_BENCH_PERSONS", 1_000_000);
    let entries = env_or("NIJI_BENCH_ENTRIES", 100_000);
    // The citizen: the first person in the most releases (six of eight).
    let releases_of = |p: u64| (0..RELEASES).filter(|&r| member(p, r)).count();
    let most = (1..=1000).map(releases_of).max().unwrap_or(0);
    let citizen = (1..=persons)
        .find(|&p| releases_of(p) == most)
        .expect("a person");
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("bench")
        .join(format!("me-{persons}-{entries}"));
    if !dir.join("ready").exists() {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let started = Instant::now();
        build(&dir, persons, entries, citizen);
        std::fs::write(dir.join("ready"), b"").unwrap();
        eprintln!("built the log in {:.1} s", started.elapsed().as_secs_f64());
    }
    let session = session_for(&dir, citizen);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let url = runtime.block_on(platform::serve(&dir, PASSPHRASE, |state| state));
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let get = |path: &str| -> (u16, String) {
        let mut response = agent
            .get(format!("{url}{path}"))
            .header("Cookie", format!("niji_session={session}"))
            .call()
            .unwrap();
        let status = response.status().as_u16();
        (status, response.body_mut().read_to_string().unwrap())
    };
    // The first request loads the index from the store.
    let started = Instant::now();
    let (status, page) = get("/me");
    assert_eq!(status, 200, "{page}");
    let first = started.elapsed();
    let (_, summary) = get("/api/v1/me/summary");
    let summary: serde_json::Value = serde_json::from_str(&summary).unwrap();
    let total = summary["total"].as_u64().unwrap();
    let log = Store::open(&dir).unwrap().log_size().unwrap();
    let groups = summary["groups"].as_array().unwrap().len();
    let group = format!(
        "/me/accesses?{}",
        summary["groups"][0]["query"].as_str().unwrap()
    );
    assert!(page.contains("<svg"), "the page has its chart");
    let mut rows = Vec::new();
    for (name, path) in [
        ("GET /me (page)", "/me".to_owned()),
        ("GET /api/v1/me/summary", "/api/v1/me/summary".to_owned()),
        ("GET one group's entries (page)", group),
    ] {
        let mut times: Vec<Duration> = (0..REQUESTS)
            .map(|_| {
                let started = Instant::now();
                let (status, _) = get(&path);
                assert_eq!(status, 200, "{path}");
                started.elapsed()
            })
            .collect();
        times.sort_unstable();
        rows.push((name, quantile(&times, 0.5), quantile(&times, 0.99)));
    }
    println!(
        "## A citizen's page: {total} entries concern them ({groups} month-project groups), {persons} persons, {log} log entries\n"
    );
    println!("| request | p50 (ms) | p99 (ms) |\n|---|---|---|");
    for (name, p50, p99) in &rows {
        println!("| {name} | {:.1} | {:.1} |", ms(*p50), ms(*p99));
    }
    println!(
        "\nfirst request (index loaded from the store): {:.0} ms\n",
        ms(first)
    );
    let json = json!({
        "bench": "me",
        "persons": persons,
        "log_entries": log,
        "citizen_entries": total,
        "groups": groups,
        "first_ms": ms(first),
        "requests": rows.iter().map(|(name, p50, p99)| json!({
            "request": name, "p50_ms": ms(*p50), "p99_ms": ms(*p99),
        })).collect::<Vec<_>>(),
    });
    println!("{json}");
}

fn quantile(sorted: &[Duration], q: f64) -> Duration {
    sorted[((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The platform: releases, projects granted one each, and a log long
/// enough that `entries` of its entries concern `citizen`.
fn build(dir: &Path, persons: u64, entries: u64, citizen: u64) {
    let passphrase = SecretString::new(PASSPHRASE.into());
    let mut store = Store::create(dir).unwrap();
    store
        .initialize(&passphrase, "admin", &SecretString::new(PASSWORD.into()))
        .unwrap();
    add_releases(&mut store, &passphrase, persons);
    let projects = projects(&store);
    let mut numbers = Numbers(23);
    let (mut written, mut theirs) = (store.log_size().unwrap(), 0u64);
    while theirs < entries {
        let specs: Vec<(Subject<'static>, EventKind, Vec<i64>)> = (0..BATCH)
            .map(|_| {
                if numbers.next().is_multiple_of(100) {
                    let k = 1 + numbers.next() % 3;
                    let named = (0..k)
                        .map(|_| 1 + (numbers.next() % persons) as i64)
                        .collect();
                    (Subject::Person, EventKind::ReidentificationResult, named)
                } else {
                    let p = numbers.next() % PROJECTS;
                    if member(citizen, p % RELEASES) {
                        theirs += 1;
                    }
                    (
                        Subject::Project(projects[p as usize]),
                        EventKind::AnalysisQuery,
                        Vec::new(),
                    )
                }
            })
            .collect();
        let n = specs.len();
        let events: Vec<NewEvent> = specs
            .iter()
            .map(|(subject, kind, named)| NewEvent {
                actor: "alice",
                kind: *kind,
                subject: *subject,
                detail: "{\"sql\":\"SELECT sex, count(*) FROM claims GROUP BY sex\"}",
                persons: named,
                releases_under: None,
            })
            .collect();
        store.audit_many(&events).unwrap();
        written += n as u64;
        eprintln!("  {written} entries, {theirs} of them the citizen's");
    }
    drop(store);
    // Two years of history: event i of n at 2025-01-01 + i/n × 730 days.
    let db = rusqlite::Connection::open(dir.join("control.sqlite")).unwrap();
    let n: i64 = db
        .query_row("SELECT max(id) FROM audit_events", [], |r| r.get(0))
        .unwrap();
    db.execute(
        "UPDATE audit_events SET occurred_at = strftime('%Y-%m-%d %H:%M:%f000+00', \
         '2025-01-01', '+' || (id * 730 * 86400 / ?1) || ' seconds')",
        [n],
    )
    .unwrap();
}

/// The projects: one organization, a researcher, two reviewers, and
/// [`PROJECTS`] applications approved, each on one release.
fn projects(store: &Store) -> Vec<i64> {
    let operator = niji_store::Actor::Operator("admin");
    store.add_organization("univ", true, operator).unwrap();
    store.add_organization("board", false, operator).unwrap();
    let password = SecretString::new(PASSWORD.into());
    let alice = store
        .add_account("alice", Role::Researcher, &password, Some("univ"), operator)
        .unwrap();
    let reviewers: Vec<_> = ["rev1", "rev2"]
        .iter()
        .map(|r| {
            store
                .add_account(r, Role::Reviewer, &password, Some("board"), operator)
                .unwrap()
        })
        .collect();
    (0..PROJECTS)
        .map(|p| {
            let items = vec![Item {
                release: release_name(p % RELEASES),
                table: "persons".into(),
                column: "sex".into(),
            }];
            platform::approved(
                store,
                &alice,
                &reviewers,
                &ApplicationForm {
                    title: format!("Care use study {p}"),
                    purpose: "public-health-policy".into(),
                    lay_summary: "Who uses care, by sex.".into(),
                    members: vec![],
                    items: items.clone(),
                    tier: "anonymized".into(),
                    starts: "2025-01-01".into(),
                    ends: "2099-12-31".into(),
                },
                &Conditions {
                    items,
                    rule_set: "ndb".into(),
                    row_level: false,
                    publish_queries: false,
                    dp_rho: 1.0,
                    expires: "2099-12-31".into(),
                },
            )
        })
        .collect()
}

/// A session of the citizen account of person `person` (made on first
/// use): the cookie's value.
fn session_for(dir: &Path, person: u64) -> String {
    let store = Store::open(dir).unwrap();
    let citizen = store.card_citizen(&[7; 32], person as i64).unwrap();
    // A new session each run (the store is kept between runs).
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let id = format!("bench-session-{person}-{started}");
    let digest: String = ring::digest::digest(&ring::digest::SHA256, id.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    store
        .open_session(
            &digest,
            &citizen.account().name,
            "bench-csrf",
            Duration::from_secs(3600),
            Duration::from_secs(3600),
        )
        .unwrap();
    id
}
