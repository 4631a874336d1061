//! A DP group-by count and sum over 10 million rows (`NIJI_BENCH_ROWS` to
//! change) against the same group-by in plain polars, measured in the same
//! run. Prints a Markdown table and one JSON line.
//!
//!     cargo bench --workspace --bench dp
//!
//! Both start from the same rows in memory (what the sandbox hands over)
//! and both build their polars frame from them. The DP side also builds
//! its measurement — the noise scale is searched so that the release costs
//! at most ρ — and runs it: clamping, the public key set joined in, the
//! discrete Gaussian drawn. The measurement build does not depend on the
//! rows and is shown apart.

use niji_dp::{DpQuery, GroupKey, KeySets, Measure, Prepared, Rows};
use polars::prelude::*;
use std::time::Instant;

const AGES: [&str; 10] = [
    "0-9", "10-19", "20-29", "30-39", "40-49", "50-59", "60-69", "70-79", "80-89", "90+",
];

/// One row per person: age band, sex and days of drugs dispensed.
fn rows(n: usize) -> Rows {
    let mut age = Vec::with_capacity(n);
    let mut sex = Vec::with_capacity(n);
    let mut days = Vec::with_capacity(n);
    // A fixed linear congruential sequence: the same data in every run.
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..n {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let r = state >> 33;
        age.push(AGES[(r % 10) as usize].to_owned());
        sex.push(if r & 1024 == 0 { "1" } else { "2" }.to_owned());
        days.push(((r >> 11) % 120) as f64);
    }
    Rows {
        keys: vec![age, sex],
        values: vec![days],
    }
}

fn query() -> DpQuery {
    DpQuery {
        table: "persons".into(),
        group_by: vec![
            GroupKey {
                column: "age".into(),
                keyset: "age-10y".into(),
            },
            GroupKey {
                column: "sex".into(),
                keyset: "sex".into(),
            },
        ],
        measures: vec![
            Measure::Count,
            Measure::Sum {
                column: "days".into(),
                lower: 0.0,
                upper: 90.0,
            },
        ],
        rho: 0.1,
        max_rows_per_person: 1,
    }
}

fn plain(rows: &Rows) -> DataFrame {
    let frame = DataFrame::new(vec![
        Column::new("age".into(), rows.keys[0].clone()),
        Column::new("sex".into(), rows.keys[1].clone()),
        Column::new("days".into(), rows.values[0].clone()),
    ])
    .unwrap();
    frame
        .lazy()
        .group_by([col("age"), col("sex")])
        .agg([len().alias("count"), col("days").sum().alias("days")])
        .collect()
        .unwrap()
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    let n: usize = std::env::var("NIJI_BENCH_ROWS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(10_000_000);
    let runs = 5;
    let data = rows(n);
    let keysets = KeySets::builtin().unwrap();
    let (mut plain_ms, mut build_ms, mut dp_ms) = (Vec::new(), Vec::new(), Vec::new());
    // One unmeasured round first, then interleaved rounds.
    for round in 0..=runs {
        let started = Instant::now();
        let grouped = plain(&data);
        let p = started.elapsed().as_secs_f64() * 1e3;
        assert_eq!(grouped.height(), 20);

        let started = Instant::now();
        let prepared = Prepared::new(&query(), &keysets).unwrap();
        let b = started.elapsed().as_secs_f64() * 1e3;
        let started = Instant::now();
        let released = prepared.release(&data).unwrap();
        let d = started.elapsed().as_secs_f64() * 1e3;
        assert_eq!(released.rows.len(), 20);
        if round > 0 {
            plain_ms.push(p);
            build_ms.push(b);
            dp_ms.push(d);
        }
    }
    let (p, b, d) = (median(plain_ms), median(build_ms), median(dp_ms));
    println!("## DP group-by count + sum vs plain polars, {n} rows\n");
    println!(
        "| plain polars (ms) | DP measurement build (ms) | DP release (ms) | DP total / plain | DP release / plain |"
    );
    println!("|---|---|---|---|---|");
    println!(
        "| {p:.0} | {b:.0} | {d:.0} | {:.2} | {:.2} |",
        (b + d) / p,
        d / p
    );
    println!();
    println!(
        "{}",
        serde_json::json!({
            "bench": "dp", "rows": n, "runs": runs,
            "plain_ms": p, "build_ms": b, "release_ms": d,
            "ratio": (b + d) / p, "release_ratio": d / p,
        })
    );
}
