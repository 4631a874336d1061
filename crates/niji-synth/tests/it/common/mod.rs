//! Helpers shared by the integration tests: reading the written files back.

#![allow(dead_code)]

use niji_synth::{SynthConfig, generate};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// A run written into a scratch directory of its own.
pub struct Run {
    /// The output directory.
    pub out: PathBuf,
    /// What it was made with.
    pub config: SynthConfig,
}

/// A run shared by every test process of this build (niji-testkit): the
/// first to ask generates it, the others wait and read the same files.
pub fn generate_shared_run(name: &str, persons: u64, seed: u64) -> Run {
    let config = SynthConfig {
        persons,
        seed,
        ..SynthConfig::default()
    };
    let out = niji_testkit::shared(env!("CARGO_TARGET_TMPDIR"), name, &[], |dir| {
        generate(&config, &dir.join("run"), |_| {}).map_err(std::io::Error::other)?;
        Ok(())
    })
    .join("run");
    Run { out, config }
}

/// `truth/persons.csv` by person id.
pub fn persons_by_id(out: &Path) -> HashMap<String, HashMap<String, String>> {
    rows(&out.join("truth/persons.csv"))
        .into_iter()
        .map(|p| (p["person_id"].clone(), p))
        .collect()
}

/// Every insurer number each person held, from `truth/insurance.csv`.
pub fn insurers_by_person(out: &Path) -> HashMap<String, Vec<String>> {
    let mut insurers: HashMap<String, Vec<String>> = HashMap::new();
    for s in rows(&out.join("truth/insurance.csv")) {
        insurers
            .entry(s["person_id"].clone())
            .or_default()
            .push(s["insurer_number"].clone());
    }
    insurers
}

/// A CSV file with a header row, as maps from column to value.
pub fn rows(path: &Path) -> Vec<HashMap<String, String>> {
    let mut reader =
        csv::Reader::from_path(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let header = reader.headers().unwrap().clone();
    reader
        .records()
        .map(|r| {
            header
                .iter()
                .map(str::to_owned)
                .zip(r.unwrap().iter().map(str::to_owned))
                .collect()
        })
        .collect()
}

/// Every file below a directory, sorted.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, files: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, files);
            } else {
                files.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(dir, &mut files);
    files.sort();
    files
}

/// The rows of `truth/records.csv` whose file starts with `prefix`.
/// The 1-based line number of a truth row whose locator is `line:N`.
pub fn line_of(record: &HashMap<String, String>) -> usize {
    record["locator"]
        .strip_prefix("line:")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("not a line locator: {record:?}"))
}

pub fn records_under(out: &Path, prefix: &str) -> Vec<HashMap<String, String>> {
    rows(&out.join("truth/records.csv"))
        .into_iter()
        .filter(|r| r["file"].starts_with(prefix))
        .collect()
}
