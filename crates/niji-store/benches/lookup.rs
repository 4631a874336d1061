//! The control plane's backends side by side: a person's lookup in the
//! access log (`Store::accesses`: the per-person index brought up to date,
//! then the first page of 50 rows read from the store) at 10⁶ persons and
//! 10⁵ log entries, for 1,000 random persons; and audit appends per second,
//! one event per commit and in group commits of 50. On DuckDB (the store
//! of niji before SQLite), SQLite (the embedded default) and PostgreSQL 15
//! (a throwaway cluster on loopback, started here), in one run.
//!
//! `cargo bench --workspace --bench lookup`. `NIJI_BENCH_PERSONS` and
//! `NIJI_BENCH_ENTRIES` change the sizes, `NIJI_BENCH_BACKENDS` the
//! backends (`duckdb,sqlite,postgres`). The DuckDB and SQLite stores are
//! built once under the target directory and reused while their sizes
//! match; PostgreSQL's is built each run.
//!
//! The log's shape: eight releases, each holding a different 60% of the
//! persons; 99% of the entries are scoped to one or two releases (builds,
//! grants, queries: what a national service logs most), 1% name one to
//! three persons directly (opt-outs, re-identifications, row-level results).

#[path = "../../../tests/bench/log.rs"]
mod log;

use log::{Numbers, RELEASES, add_releases, release_name};
use niji_audit::event::{EventKind, Subject};
use niji_core::SecretString;
use niji_store::{Location, NewEvent, Store};
use niji_testkit::postgres::Cluster;
use std::path::PathBuf;
use std::time::{Duration, Instant};

const BATCH: usize = 5_000;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn build(
    dir: &std::path::Path,
    location: &Location,
    persons: u64,
    entries: u64,
) -> (Duration, Duration) {
    let passphrase = SecretString::new("bench-lookup-passphrase".into());
    let mut store = Store::open_with_at(dir, location, None).unwrap();
    store
        .initialize(
            &passphrase,
            "admin",
            &SecretString::new("bench-lookup-admin-password".into()),
        )
        .unwrap();
    let started = Instant::now();
    add_releases(&mut store, &passphrase, persons);
    let releases = started.elapsed();
    let started = Instant::now();
    let mut numbers = Numbers(7);
    let mut written = store.log_size().unwrap();
    while written < entries {
        let n = BATCH.min((entries - written) as usize);
        let specs: Vec<(String, EventKind, String, Vec<i64>)> = (0..n)
            .map(|_| {
                let roll = numbers.next() % 100;
                if roll == 0 {
                    let k = 1 + numbers.next() % 3;
                    let persons = (0..k)
                        .map(|_| 1 + (numbers.next() % persons) as i64)
                        .collect();
                    (
                        "admin".into(),
                        EventKind::ReidentificationResult,
                        // None but the persons it names.
                        String::new(),
                        persons,
                    )
                } else {
                    let r = numbers.next() % RELEASES;
                    (
                        "researcher".into(),
                        EventKind::ReleaseQuery,
                        release_name(r),
                        Vec::new(),
                    )
                }
            })
            .collect();
        let events: Vec<NewEvent> = specs
            .iter()
            .map(|(actor, kind, subject, persons)| NewEvent {
                actor,
                kind: *kind,
                subject: if subject.is_empty() {
                    Subject::Person
                } else {
                    Subject::Release(subject)
                },
                detail: "{\"sql\":\"SELECT count(*) FROM claims GROUP BY month\"}",
                persons,
                releases_under: None,
            })
            .collect();
        store.audit_many(&events).unwrap();
        written += n as u64;
        eprintln!("  {written} of {entries} entries");
    }
    (releases, started.elapsed())
}

/// The mean time of 200 commits of one event each.
fn commits(store: &Store) -> Duration {
    let started = Instant::now();
    for n in 0..200 {
        let detail = format!("{{\"n\":{n}}}");
        store
            .audit(
                "researcher",
                EventKind::AnalysisQuery,
                Subject::Project(1),
                &detail,
            )
            .unwrap();
    }
    started.elapsed() / 200
}

/// Events per second written in group commits of `GROUP` events, as the
/// server writes requests that finish together.
fn grouped(store: &Store) -> f64 {
    const GROUP: usize = 50;
    let details: Vec<String> = (0..GROUP).map(|n| format!("{{\"n\":{n}}}")).collect();
    let events: Vec<NewEvent> = details
        .iter()
        .map(|detail| NewEvent {
            actor: "researcher",
            kind: EventKind::AnalysisQuery,
            subject: Subject::Project(1),
            detail,
            persons: &[],
            releases_under: None,
        })
        .collect();
    let started = Instant::now();
    for _ in 0..20 {
        store.audit_many(&events).unwrap();
    }
    (20 * GROUP) as f64 / started.elapsed().as_secs_f64()
}

fn quantile(sorted: &[Duration], q: f64) -> Duration {
    sorted[((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// One backend's figures.
struct Figures {
    backend: &'static str,
    size: u64,
    load: Duration,
    p50: Duration,
    p99: Duration,
    worst: Duration,
    rows: u64,
    one: Duration,
    group: f64,
    built: Option<(Duration, Duration)>,
}

fn measure(backend: &'static str, persons: u64, entries: u64) -> Figures {
    let cached = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("lookup-{backend}-{persons}-{entries}"));
    let scratch = tempfile::tempdir().unwrap();
    let mut cluster = None;
    let (dir, location) = match backend {
        "duckdb" => (
            cached.clone(),
            Location::DuckDb(cached.join(niji_store::LEGACY_STORE_FILE)),
        ),
        "sqlite" => (
            cached.clone(),
            Location::Sqlite(cached.join(niji_store::STORE_FILE)),
        ),
        "postgres" => {
            let c = Cluster::start().unwrap();
            let url = c.create_database("bench").unwrap();
            cluster = Some(c);
            (scratch.path().to_path_buf(), Location::Postgres(url))
        }
        other => panic!("NIJI_BENCH_BACKENDS: no backend {other}"),
    };
    let reusable = cluster.is_none() && cached.join(".complete").exists();
    let built = if reusable {
        None
    } else {
        let _ = std::fs::remove_dir_all(&cached);
        std::fs::create_dir_all(&dir).unwrap();
        eprintln!("{backend}: building the store: {persons} persons, {entries} entries");
        let built = build(&dir, &location, persons, entries);
        if cluster.is_none() {
            std::fs::write(cached.join(".complete"), "").unwrap();
        }
        Some(built)
    };
    let store = Store::open_with_at(&dir, &location, None).unwrap();
    let size = store.log_size().unwrap();
    assert!(size >= entries, "the cached store is short: remove {dir:?}");

    // The first lookup loads the index from the store.
    let started = Instant::now();
    store.accesses(&[1], None, 50).unwrap();
    let load = started.elapsed();

    let mut numbers = Numbers(11);
    let mut times = Vec::with_capacity(1_000);
    let mut rows = 0u64;
    for _ in 0..1_000 {
        let person = 1 + (numbers.next() % persons) as i64;
        let started = Instant::now();
        let page = store.accesses(&[person], None, 50).unwrap();
        times.push(started.elapsed());
        rows += page.total;
    }
    times.sort();
    // One event per commit, as a request writes it alone (the server's
    // group commit with no one to share it): the head kept between commits.
    let one = commits(&store);
    let group = grouped(&store);
    drop(store);
    drop(cluster);
    Figures {
        backend,
        size,
        load,
        p50: quantile(&times, 0.5),
        p99: quantile(&times, 0.99),
        worst: *times.last().unwrap(),
        rows: rows / 1_000,
        one,
        group,
        built,
    }
}

fn main() {
    let persons = env_or("NIJI_BENCH_PERSONS", 1_000_000);
    let entries = env_or("NIJI_BENCH_ENTRIES", 100_000);
    let backends =
        std::env::var("NIJI_BENCH_BACKENDS").unwrap_or_else(|_| "duckdb,sqlite,postgres".into());
    let figures: Vec<Figures> = backends
        .split(',')
        .map(|b| match b.trim() {
            "duckdb" => measure("duckdb", persons, entries),
            "sqlite" => measure("sqlite", persons, entries),
            "postgres" => measure("postgres", persons, entries),
            other => panic!("NIJI_BENCH_BACKENDS: no backend {other}"),
        })
        .collect();
    println!(
        "| backend | persons | entries | index load | lookup p50 | lookup p99 | worst | entries per person (mean) | one event per commit | appends/s, single | appends/s, groups of 50 |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for f in &figures {
        println!(
            "| {} | {persons} | {} | {:.0} ms | {:.2} ms | {:.2} ms | {:.2} ms | {} | {:.2} ms | {:.0} | {:.0} |",
            f.backend,
            f.size,
            ms(f.load),
            ms(f.p50),
            ms(f.p99),
            ms(f.worst),
            f.rows,
            ms(f.one),
            1.0 / f.one.as_secs_f64(),
            f.group
        );
    }
    for f in &figures {
        if let Some((releases, log)) = f.built {
            println!(
                "{}: built {RELEASES} releases in {:.1} s; {entries} entries in {:.1} s ({:.0} entries/s, batches of {BATCH})",
                f.backend,
                releases.as_secs_f64(),
                log.as_secs_f64(),
                entries as f64 / log.as_secs_f64()
            );
        }
        println!(
            "{{\"bench\":\"lookup\",\"backend\":\"{}\",\"persons\":{persons},\"entries\":{},\"load_ms\":{:.1},\"p50_ms\":{:.3},\"p99_ms\":{:.3},\"max_ms\":{:.3},\"one_commit_ms\":{:.3},\"appends_per_s_single\":{:.0},\"appends_per_s_grouped\":{:.0}}}",
            f.backend,
            f.size,
            ms(f.load),
            ms(f.p50),
            ms(f.p99),
            ms(f.worst),
            ms(f.one),
            1.0 / f.one.as_secs_f64(),
            f.group
        );
    }
}
