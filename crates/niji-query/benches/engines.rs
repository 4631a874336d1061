//! The embedded engine against a Ballista cluster of one and of two
//! executors, on one release directory of 100 million claims
//! (`NIJI_BENCH_ROWS` to change), through the whole analysis pipeline
//! (language, plan with each number's persons, engine, judge, release):
//! the gated benchmark's five queries, each engine's answers checked equal.
//! Prints a Markdown table, a projection to 10¹⁰ rows, and one JSON line.
//!
//!     cargo bench --workspace --bench engines
//!
//! The claims are generated once (DuckDB SQL, `tests/bench/claims.rs`) and
//! published as a release directory (partitioned Parquet) kept in the
//! target directory. The cluster is a loopback one from the binaries
//! `.ci/run` builds (niji-testkit's `ballista`), each executor with as many
//! task slots as the machine has cores; DuckDB gets as many threads.
//! `NIJI_BENCH_RUNS` timed runs of each query per engine (default 2).

#[path = "../../../tests/bench/claims.rs"]
mod claims;

use niji_query::{Analysis, EngineChoice, GrantedTable, Limits, Outcome, RuleSet};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn main() {
    let rows: u64 = env_or("NIJI_BENCH_ROWS", 100_000_000);
    let runs: usize = env_or("NIJI_BENCH_RUNS", 2);
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let release = release_of(rows);
    let rules = {
        let policy =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../policies/disclosure-ndb.toml");
        RuleSet::parse(&std::fs::read_to_string(&policy).unwrap(), "ndb").unwrap()
    };
    let limits = Limits {
        memory: "16GB".into(),
        threads: cores as u32,
        timeout: Duration::from_secs(3600),
        ..Limits::default()
    };
    let analysis =
        |engine: EngineChoice| Analysis::new(tables(&release), limits.clone()).with_engine(engine);

    let mut engines: Vec<(String, Analysis, Option<niji_testkit::ballista::Cluster>)> = vec![(
        "DuckDB in process".into(),
        analysis(EngineChoice::DuckDb),
        None,
    )];
    for executors in [1, 2] {
        let cluster = niji_testkit::ballista::Cluster::start_with(executors, cores).unwrap();
        let engine = EngineChoice::parse(&cluster.engine()).unwrap();
        engines.push((
            format!(
                "Ballista, {executors} executor{}",
                if executors > 1 { "s" } else { "" }
            ),
            analysis(engine),
            Some(cluster),
        ));
    }

    // Seconds per query and engine; NaN where the engine failed (reported,
    // with the cluster's log, rather than ending the run).
    let mut timings: Vec<Vec<f64>> = vec![Vec::new(); engines.len()];
    for q in claims::QUERIES {
        let mut reference: Option<String> = None;
        for (e, (name, analysis, cluster)) in engines.iter().enumerate() {
            let mut seconds = Vec::new();
            for _ in 0..runs {
                let started = Instant::now();
                let outcome = analysis.aggregate(q.sql, &rules);
                let took = started.elapsed().as_secs_f64();
                match outcome {
                    Ok(outcome) => {
                        seconds.push(took);
                        let shown = shown(&outcome);
                        match &reference {
                            None => reference = Some(shown),
                            Some(r) => {
                                assert_eq!(*r, shown, "{name} answers {} differently", q.name)
                            }
                        }
                    }
                    Err(err) => {
                        eprintln!("{}: {name}: failed after {took:.1} s: {err}", q.name);
                        if let Some(cluster) = cluster {
                            eprintln!("{}", cluster.logs());
                        }
                    }
                }
            }
            seconds.sort_by(f64::total_cmp);
            eprintln!("{}: {name}: {seconds:.2?} s", q.name);
            timings[e].push(seconds.get(seconds.len() / 2).copied().unwrap_or(f64::NAN));
        }
    }

    println!(
        "## Engines on {rows} claims ({} persons), {cores} cores, median of {runs}\n",
        rows / 10
    );
    let header: Vec<&str> = engines.iter().map(|(n, _, _)| n.as_str()).collect();
    println!(
        "| query | {} (s) | 1 executor / DuckDB | 2 executors / 1 |",
        header.join(" (s) | ")
    );
    println!("|---|{}---|---|", "---|".repeat(engines.len()));
    let mut report = Vec::new();
    for (i, q) in claims::QUERIES.iter().enumerate() {
        let t: Vec<f64> = timings.iter().map(|e| e[i]).collect();
        let cells: Vec<String> = t.iter().map(|s| format!("{s:.2}")).collect();
        println!(
            "| {} | {} | {:.1} | {:.2} |",
            q.name,
            cells.join(" | "),
            t[1] / t[0],
            t[2] / t[1]
        );
        report.push(json!({
            "query": q.name, "duckdb_s": t[0], "ballista_1_s": t[1], "ballista_2_s": t[2],
        }));
    }
    // What one executor reads per second on the heavy queries (each reads
    // every claim), and what that makes of 10^10 claims on n executors if
    // the work divides: an upper bound on the speed, as the scheduler's
    // own time and the shuffle do not divide.
    let heavy: Vec<usize> = (0..claims::QUERIES.len())
        .filter(|&i| claims::QUERIES[i].heavy)
        .collect();
    let rate = |e: usize| {
        let rates: Vec<f64> = heavy
            .iter()
            .map(|&i| rows as f64 / timings[e][i])
            .filter(|r| r.is_finite())
            .collect();
        rates.iter().sum::<f64>() / rates.len().max(1) as f64
    };
    let (per_executor, two) = (rate(1), rate(2));
    println!();
    println!(
        "One executor reads {:.1} million claims/s on the heavy queries; two on this machine {:.1} million/s.",
        per_executor / 1e6,
        two / 1e6
    );
    for executors in [10u32, 100, 1000] {
        println!(
            "10^10 claims on {executors} such executors (one machine each): {:.0} s per heavy query if the work divides",
            1e10 / (per_executor * f64::from(executors))
        );
    }
    println!();
    println!(
        "{}",
        json!({
            "bench": "engines", "rows": rows, "cores": cores, "runs": runs,
            "queries": report, "claims_per_s_one_executor": per_executor,
            "claims_per_s_two_executors": two,
        })
    );
}

fn env_or<T: std::str::FromStr>(var: &str, default: T) -> T {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The release directory of `rows` claims, made once.
fn release_of(rows: u64) -> PathBuf {
    let cache = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("bench");
    std::fs::create_dir_all(&cache).unwrap();
    let release = cache.join(format!("claims-{rows}-parquet"));
    if release.join(niji_query::storage::MANIFEST).exists() {
        return release;
    }
    let work = cache.join(format!("claims-{rows}.work.duckdb"));
    let started = Instant::now();
    if !work.exists() {
        claims::generate(&work, rows);
    }
    niji_query::storage::publish(
        &work,
        &release,
        "bench",
        &[("claims".to_owned(), "start".to_owned())],
    )
    .unwrap();
    std::fs::remove_file(&work).unwrap();
    let bytes: u64 = niji_query::storage::Release::open(&release)
        .unwrap()
        .manifest
        .tables
        .iter()
        .flat_map(|t| &t.files)
        .map(|f| f.bytes)
        .sum();
    eprintln!(
        "generated and published {} ({rows} claims, {:.2} GB of Parquet) in {:.0} s",
        release.display(),
        bytes as f64 / 1e9,
        started.elapsed().as_secs_f64()
    );
    release
}

fn tables(release: &Path) -> Vec<GrantedTable> {
    let granted = |name: &str, columns: &[&str]| GrantedTable {
        view: name.into(),
        release: "bench".into(),
        path: release.to_path_buf(),
        table: name.into(),
        columns: columns.iter().map(|c| c.to_string()).collect(),
    };
    vec![
        granted(
            "claims",
            &["kind", "start", "inpatient", "claim_type", "points"],
        ),
        granted("persons", &["age", "sex", "prefecture"]),
    ]
}

/// What a researcher reads of an outcome.
fn shown(o: &Outcome) -> String {
    format!(
        "{:?}\n{:?}\n{:?}\n{:?}",
        o.released.columns, o.released.rows, o.findings.cells, o.findings.notes
    )
}
