//! Throughput of `niji synth`: persons per second and MB per second
//! written, for one run of the default period and rates.
//!
//! `cargo bench -p niji-synth --bench synth` (release profile). The size is
//! `NIJI_BENCH_PERSONS` (default 100,000); the target is 1,000,000
//! persons with five years of source files in at most 10 minutes on the
//! 2-core machine. Output goes to `NIJI_BENCH_DIR` (default a temporary
//! directory, removed afterwards).

use niji_synth::{SynthConfig, generate};
use std::time::Instant;

fn main() {
    let persons: u64 = std::env::var("NIJI_BENCH_PERSONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let scratch = tempfile::tempdir().expect("temporary directory");
    let out = match std::env::var_os("NIJI_BENCH_DIR") {
        Some(dir) => std::path::PathBuf::from(dir).join("synth-bench"),
        None => scratch.path().join("synth-bench"),
    };
    let config = SynthConfig {
        persons,
        seed: 1,
        ..SynthConfig::default()
    };
    let started = Instant::now();
    let summary = generate(&config, &out, |_| {}).expect("generate");
    let seconds = started.elapsed().as_secs_f64();
    let mb = summary.bytes as f64 / 1e6;
    println!(
        "synth: {persons} persons, {} claims in {} files, {mb:.0} MB",
        summary.claims, summary.uke_files
    );
    println!(
        "synth: {seconds:.1} s, {:.0} persons/s, {:.1} MB/s",
        persons as f64 / seconds,
        mb / seconds
    );
    println!(
        "synth: 1,000,000 persons would take about {:.1} min at this rate",
        1e6 / (persons as f64 / seconds) / 60.0
    );
    if std::env::var_os("NIJI_BENCH_DIR").is_some() {
        std::fs::remove_dir_all(&out).expect("remove benchmark output");
    }
}
