//! The lattice search benchmark: UCI Adult with ARX's hierarchies (k = 5,
//! no suppression, nine quasi-identifiers), and a synthetic table of
//! 1.2 million rows with eight. Prints one JSON object per data set.
//!
//!     cargo bench --workspace --bench search
//!     NIJI_BENCH_OUT=DIR ...   # also writes the synthetic table and its
//!                              # hierarchies in ARX's form, for anjana
//!
//! Times are after load: preparing the search (value counts and the
//! bottom node's classes) plus the search itself.

use niji_deid::hierarchy::Hierarchy;
use niji_deid::load;
use niji_deid::model::Model;
use niji_deid::search::{Quasi, Search, Table};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

const ADULT: [&str; 9] = [
    "sex",
    "age",
    "race",
    "marital-status",
    "education",
    "native-country",
    "workclass",
    "occupation",
    "salary-class",
];

fn adult(dir: &Path) -> Table {
    let quasi = ADULT
        .iter()
        .map(|name| {
            let h = Hierarchy::from_csv(&dir.join(format!("adult_hierarchy_{name}.csv")))
                .unwrap_or_else(|e| panic!("{e}"));
            (name.to_string(), h)
        })
        .collect();
    load::table(&dir.join("adult.csv"), b';', quasi, None).unwrap_or_else(|e| panic!("{e}"))
}

/// Times `runs` searches; returns the JSON figures.
fn measure(
    name: &str,
    table: &Table,
    model: &Model,
    load_ms: f64,
    runs: usize,
) -> serde_json::Value {
    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..runs {
        let started = Instant::now();
        let mut search = Search::new(table, model.clone()).unwrap();
        let prepared = started.elapsed();
        let solution = search.run().unwrap();
        times.push((
            prepared.as_secs_f64() * 1e3,
            started.elapsed().as_secs_f64() * 1e3,
        ));
        last = Some(solution);
    }
    let solution = last.expect("at least one run");
    let mut total: Vec<f64> = times.iter().map(|t| t.1).collect();
    total.sort_by(f64::total_cmp);
    let node: serde_json::Map<String, serde_json::Value> = table
        .quasi
        .iter()
        .zip(&solution.node)
        .map(|(q, &l)| (q.name.clone(), l.into()))
        .collect();
    serde_json::json!({
        "data": name,
        "rows": table.rows(),
        "quasi_identifiers": table.quasi.len(),
        "k": model.k,
        "max_suppression": model.max_suppression,
        "load_ms": load_ms,
        "runs": runs,
        "prepare_ms_last": times.last().map(|t| t.0),
        "after_load_ms_median": total[total.len() / 2],
        "after_load_ms_min": total[0],
        "lattice": solution.lattice,
        "evaluated": solution.evaluated,
        "levels": node,
        "information_loss": solution.verdict.information_loss,
        "discernibility": solution.verdict.discernibility,
        "average_class_size": solution.verdict.average_class_size,
        "suppressed": solution.verdict.suppressed,
    })
}

/// A synthetic person table: eight quasi-identifiers with hierarchies.
struct Synthetic {
    table: Table,
    /// Each column's values as written, and its hierarchy rows.
    columns: Vec<(String, Vec<String>, Vec<Vec<String>>)>,
}

fn rows_of(h: &Hierarchy) -> Vec<Vec<String>> {
    (0..h.values())
        .map(|v| {
            (0..h.height())
                .map(|l| h.level(l).labels[h.level(l).group[v] as usize].clone())
                .collect()
        })
        .collect()
}

fn table_hierarchy(values: &[(String, Vec<&str>)]) -> Hierarchy {
    let rows: Vec<Vec<String>> = values
        .iter()
        .map(|(v, above)| {
            let mut row = vec![v.clone()];
            row.extend(above.iter().map(|s| s.to_string()));
            row.push("*".into());
            row
        })
        .collect();
    Hierarchy::from_rows(&rows, &[]).unwrap()
}

fn synthetic(rows: usize) -> Synthetic {
    let mut rng = ChaCha8Rng::seed_from_u64(2026);
    let regions = [
        (1, "Hokkaido"),
        (7, "Tohoku"),
        (14, "Kanto"),
        (23, "Chubu"),
        (30, "Kinki"),
        (35, "Chugoku"),
        (39, "Shikoku"),
        (47, "Kyushu"),
    ];
    let prefecture = table_hierarchy(
        &(1..=47)
            .map(|p| {
                (
                    format!("{p:02}"),
                    vec![regions.iter().find(|(last, _)| p <= *last).unwrap().1],
                )
            })
            .collect::<Vec<_>>(),
    );
    let insurer = table_hierarchy(&[
        ("kyokai".into(), vec!["employee"]),
        ("kumiai".into(), vec!["employee"]),
        ("kokuho".into(), vec!["regional"]),
        ("koki".into(), vec!["regional"]),
    ]);
    let care = table_hierarchy(
        &[
            "none", "support1", "support2", "care1", "care2", "care3", "care4", "care5",
        ]
        .iter()
        .map(|v| {
            let group = if *v == "none" {
                "none"
            } else if v.starts_with("support") {
                "support"
            } else {
                "care"
            };
            (v.to_string(), vec![group])
        })
        .collect::<Vec<_>>(),
    );
    let hierarchies: Vec<(&str, Hierarchy)> = vec![
        (
            "age",
            Hierarchy::intervals(0, 99, &[5, 10, 20], Some(90)).unwrap(),
        ),
        ("sex", Hierarchy::intervals(1, 2, &[], None).unwrap()),
        ("prefecture", prefecture),
        (
            "first_month",
            Hierarchy::intervals(0, 59, &[12], None).unwrap(),
        ),
        ("insurer", insurer),
        ("care_level", care),
        (
            "conditions",
            Hierarchy::intervals(0, 9, &[5], None).unwrap(),
        ),
        (
            "icd10_chapter",
            Hierarchy::intervals(1, 24, &[4], None).unwrap(),
        ),
    ];
    let mut codes: Vec<Vec<u32>> = vec![Vec::with_capacity(rows); hierarchies.len()];
    for _ in 0..rows {
        let age: u32 = (rng.random_range(0..100u32) + rng.random_range(0..100u32)) / 2
            + rng.random_range(0..12u32);
        let age = age.min(99);
        // Tokyo and its neighbours weigh more, as populations do.
        let pref = if rng.random_bool(0.3) {
            rng.random_range(11..=14u32)
        } else {
            rng.random_range(1..=47u32)
        };
        let insurer = if age >= 75 {
            3
        } else {
            rng.random_range(0..3u32)
        };
        let care = if age >= 70 && rng.random_bool(0.2) {
            rng.random_range(1..8u32)
        } else {
            0
        };
        let conditions = (rng.random_range(0..10u32) * rng.random_range(0..10u32)) / 9;
        let chapter = rng.random_range(1..=22u32);
        let drawn = [
            age,
            rng.random_range(1..=2u32),
            pref,
            rng.random_range(0..60u32),
            insurer,
            care,
            conditions,
            chapter,
        ];
        for (q, (name, h)) in hierarchies.iter().enumerate() {
            let value = match *name {
                "prefecture" => format!("{:02}", drawn[q]),
                "insurer" => ["kyokai", "kumiai", "kokuho", "koki"][drawn[q] as usize].to_string(),
                "care_level" => [
                    "none", "support1", "support2", "care1", "care2", "care3", "care4", "care5",
                ][drawn[q] as usize]
                    .to_string(),
                _ => drawn[q].to_string(),
            };
            codes[q].push(h.code(&value).unwrap());
        }
    }
    let columns = hierarchies
        .iter()
        .zip(&codes)
        .map(|((name, h), codes)| {
            let labels = &h.level(0).labels;
            (
                name.to_string(),
                codes.iter().map(|&c| labels[c as usize].clone()).collect(),
                rows_of(h),
            )
        })
        .collect();
    Synthetic {
        table: Table {
            quasi: hierarchies
                .into_iter()
                .zip(codes)
                .map(|((name, hierarchy), codes)| Quasi {
                    name: name.into(),
                    hierarchy,
                    codes,
                })
                .collect(),
            sensitive: None,
        },
        columns,
    }
}

fn write_synthetic(out: &Path, s: &Synthetic) -> std::io::Result<()> {
    std::fs::create_dir_all(out)?;
    let mut data = std::io::BufWriter::new(std::fs::File::create(out.join("synthetic.csv"))?);
    let names: Vec<&str> = s.columns.iter().map(|c| c.0.as_str()).collect();
    writeln!(data, "{}", names.join(";"))?;
    for r in 0..s.table.rows() {
        let row: Vec<&str> = s.columns.iter().map(|c| c.1[r].as_str()).collect();
        writeln!(data, "{}", row.join(";"))?;
    }
    data.flush()?;
    for (name, _, rows) in &s.columns {
        let lines: Vec<String> = rows.iter().map(|r| r.join(";")).collect();
        std::fs::write(
            out.join(format!("synthetic_hierarchy_{name}.csv")),
            lines.join("\n") + "\n",
        )?;
    }
    Ok(())
}

fn main() {
    // `cargo bench` passes --bench; nothing else is taken.
    let shared = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/adult");
    let started = Instant::now();
    let table = adult(&shared);
    let load_ms = started.elapsed().as_secs_f64() * 1e3;
    println!(
        "{}",
        measure("adult", &table, &Model::k_anonymity(5), load_ms, 20)
    );

    let rows: usize = std::env::var("NIJI_BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_200_000);
    let started = Instant::now();
    let synthetic = synthetic(rows);
    let load_ms = started.elapsed().as_secs_f64() * 1e3;
    if let Some(out) = std::env::var_os("NIJI_BENCH_OUT") {
        write_synthetic(Path::new(&out), &synthetic).expect("writing the synthetic table");
    }
    println!(
        "{}",
        measure(
            "synthetic",
            &synthetic.table,
            &Model::k_anonymity(5),
            load_ms,
            3
        )
    );
}
