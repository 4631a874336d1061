//! `niji release` end to end on a synthetic population: both tiers from
//! the example policies, k and l confirmed by pycanon, no identifier in any
//! release, rare diagnoses kept only by the pseudonymized tier, distinct
//! pseudonyms, opt-outs honoured, the mixed-source build refused, and the
//! escrow opened only by a second admin.

use crate::common::*;

use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

const ANONYMIZED: &str = "policies/release-anonymized-example.toml";
const PSEUDONYMIZED: &str = "policies/release-pseudonymized-example.toml";

fn policy(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(name)
}

/// A linked population of 800 persons over two years.
fn linked() -> (Env, PathBuf) {
    let env = Env::new();
    ok(&env.init(&[]));
    let pop = env.synth(800, 21, "2021-01", "2022-12");
    env.ingest_and_link(&pop);
    (env, pop)
}

fn build(env: &Env, policy_file: &Path, name: &str) -> Value {
    let policy_file = policy_file.display().to_string();
    json(
        &env.niji(&[
            "release",
            "build",
            "--policy",
            &policy_file,
            "--name",
            name,
            "--json",
        ])
        .env("NIJI_PASSPHRASE", PASSPHRASE)
        .output()
        .unwrap(),
    )
}

/// Exports a release as CSV; returns the directory.
fn export(env: &Env, name: &str) -> PathBuf {
    let out = env.root.path().join(format!("export-{name}"));
    let dir = out.display().to_string();
    ok(&env
        .niji(&["release", "export", name, "--format", "csv", "--out", &dir])
        .output()
        .unwrap());
    out
}

fn table<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == name)
        .unwrap_or_else(|| panic!("no table {name} in {report}"))
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect()
}

/// pycanon's k and l of a CSV file, from the virtual environment .ci/run
/// creates.
fn pycanon(csv: &Path, quasi: &[String], sensitive: &str) -> (u64, u64) {
    let python = venv_tool("NIJI_PYCANON_PYTHON", "pycanon/bin/python");
    let script = "import sys, pandas as pd\n\
                  from pycanon import anonymity\n\
                  df = pd.read_csv(sys.argv[1], dtype=str, keep_default_na=False)\n\
                  qi = sys.argv[2].split(',')\n\
                  print(anonymity.k_anonymity(df, qi), anonymity.l_diversity(df, qi, [sys.argv[3]]))\n";
    let out = Command::new(python)
        .args(["-c", script])
        .arg(csv)
        .arg(quasi.join(","))
        .arg(sensitive)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pycanon: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let mut numbers = text.split_whitespace().map(|n| n.parse::<u64>().unwrap());
    (numbers.next().unwrap(), numbers.next().unwrap())
}

fn members(data: &Path, release: &str) -> BTreeSet<i64> {
    let store = niji_store::Store::open(data).unwrap();
    let info = store.release(release).unwrap().unwrap();
    store
        .release_members(info.release_id)
        .unwrap()
        .into_iter()
        .collect()
}

#[test]
fn releases_under_both_tiers() {
    let (env, pop) = linked();
    let data = env.data();

    // Both tiers build from the example policies.
    let anon = build(&env, &policy(ANONYMIZED), "claims");
    let pseudo = build(&env, &policy(PSEUDONYMIZED), "charts");
    assert_eq!(anon["tier"], "anonymized");
    assert_eq!(pseudo["tier"], "pseudonymized");
    assert!(anon["persons"].as_u64().unwrap() > 400, "{anon}");
    assert!(pseudo["persons"].as_u64().unwrap() > 10, "{pseudo}");
    // The release is a directory of Parquet, read-only throughout.
    let release_dir = data.join("releases/claims");
    let mut release_files = Vec::new();
    scan::files_under(&release_dir, &mut release_files);
    assert!(release_files.len() > 2, "{release_files:?}");
    for f in release_files.iter().chain([&release_dir]) {
        assert!(
            std::fs::metadata(f).unwrap().permissions().readonly(),
            "{}",
            f.display()
        );
    }
    assert!(!data.join("releases/claims.work.duckdb").exists());

    // pycanon confirms the k and l the report claims for the person table.
    let persons = table(&anon, "persons");
    let quasi = strings(&persons["quasi_identifiers"]);
    let sensitive = strings(&persons["sensitive_attributes"]);
    assert_eq!(quasi, ["age", "sex", "prefecture"]);
    assert_eq!(sensitive, ["main_diagnosis"]);
    let anon_dir = export(&env, "claims");
    let (k, l) = pycanon(&anon_dir.join("persons.csv"), &quasi, &sensitive[0]);
    assert_eq!(k, persons["k"].as_u64().unwrap(), "{anon}");
    assert_eq!(l, persons["l"].as_u64().unwrap(), "{anon}");
    assert!(
        k >= 5 && l >= 2,
        "the policy asks k = 5, l = 2: got {k}, {l}"
    );
    assert_eq!(anon["risk"]["k"], persons["k"]);

    // A DPC patient's postcode area leaves as the prefecture it lies in.
    let places: BTreeSet<String> = scan::csv_rows(&anon_dir.join("dpc_stays.csv"))
        .into_iter()
        .map(|r| r["postcode_area"].clone())
        .filter(|p| !p.is_empty())
        .collect();
    assert!(places.len() > 1, "{places:?}");
    for place in &places {
        let code: u32 = place.parse().unwrap_or(0);
        assert!(
            place.len() == 2 && (1..=47).contains(&code) || place == "*",
            "{place:?} is not a prefecture code"
        );
    }

    // Parquet, the default export, holds the same tables.
    let parquet = env.root.path().join("parquet");
    let parquet_dir = parquet.display().to_string();
    let exported = json(
        &env.niji(&[
            "release",
            "export",
            "claims",
            "--out",
            &parquet_dir,
            "--json",
        ])
        .output()
        .unwrap(),
    );
    assert_eq!(exported["format"], "parquet");
    // The release's tables and nothing else: not the platform's figures.
    assert_eq!(
        exported["files"].as_array().unwrap().len(),
        anon["tables"].as_array().unwrap().len(),
        "{exported}"
    );
    for t in anon["tables"].as_array().unwrap() {
        let file = parquet.join(format!("{}.parquet", t["name"].as_str().unwrap()));
        assert!(
            std::fs::metadata(&file).is_ok_and(|m| m.len() > 0),
            "{}",
            file.display()
        );
    }
    let again = env
        .niji(&["release", "export", "claims", "--out", &parquet_dir])
        .output()
        .unwrap();
    assert!(stderr(&again).contains("not empty"), "{}", stderr(&again));

    // No provenance column, no hidden analysis column and no identifier in
    // any release.
    let pseudo_dir = export(&env, "charts");
    for dir in [&anon_dir, &pseudo_dir] {
        for file in std::fs::read_dir(dir).unwrap() {
            let file = file.unwrap().path();
            let header = std::fs::read_to_string(&file)
                .unwrap()
                .lines()
                .next()
                .unwrap_or("")
                .to_owned();
            for column in [
                "batch_id",
                "record",
                "locator",
                "facility",
                "source",
                "person_key",
                niji_core::bucket::COLUMN,
                niji_core::person_index::COLUMN,
            ] {
                assert!(
                    !header.split(',').any(|h| h == column),
                    "{}: {column}",
                    file.display()
                );
            }
        }
    }
    let identifiers = scan::Identifiers::of(&pop);
    // The release files' bytes: names and cards. DuckDB packs values side
    // by side, so digit runs there span values; the exports below hold
    // every value whole.
    let mut files = Vec::new();
    scan::files_under(&data.join("releases"), &mut files);
    let mut exports = Vec::new();
    scan::files_under(&anon_dir, &mut exports);
    scan::files_under(&pseudo_dir, &mut exports);
    for file in &files {
        identifiers.assert_none_in_file(file);
    }
    for file in &exports {
        identifiers.assert_none_in(file, scan::Identifiers::in_text);
    }

    // Every table of every release carries each row's person bucket, as
    // the analysis API reads it: the bit of the row's own pseudonym; and
    // its person index: the pseudonym's position among the release's
    // persons, the same in every table. And the release records, for each
    // table, the most rows one person has, and its number of persons.
    let dirs: Vec<PathBuf> = std::fs::read_dir(data.join("releases"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(dirs.len(), 2, "{dirs:?}");
    for file in &dirs {
        let release = niji_query::storage::Release::open(file).unwrap();
        release.verify().unwrap();
        let conn = duckdb::Connection::open_in_memory().unwrap();
        let mut names: Vec<String> = Vec::new();
        for t in &release.manifest.tables {
            conn.execute_batch(&format!(
                "CREATE VIEW \"{}\" AS SELECT * FROM {}",
                t.name,
                release.duckdb_scan(t)
            ))
            .unwrap();
            names.push(t.name.clone());
        }
        names.sort();
        assert!(names.len() >= 2, "{}: {names:?}", file.display());
        // A table with dates lies in fiscal years and months.
        if let Some(claims) = release.table("claims") {
            assert_eq!(claims.partitioned_by.as_deref(), Some("start"));
            assert!(
                claims
                    .files
                    .iter()
                    .all(|f| f.path.contains("/fiscal_year=")),
                "{:?}",
                claims.files
            );
        }
        let index: std::collections::HashMap<String, u32> = conn
            .prepare(&format!(
                "SELECT pseudonym, {} FROM persons",
                niji_core::person_index::COLUMN
            ))
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let width = release.manifest.persons;
        assert_eq!(width, index.len() as u64, "{}", file.display());
        let mut sorted: Vec<(&String, &u32)> = index.iter().collect();
        sorted.sort();
        assert!(
            sorted
                .iter()
                .enumerate()
                .all(|(i, (_, at))| **at as usize == i),
            "{}: the index is the order of pseudonyms",
            file.display()
        );
        let mut persons = 0;
        for table in names {
            let most = release.table(&table).unwrap().most_rows;
            let heaviest: u64 = conn
                .query_row(
                    &format!(
                        "SELECT coalesce(max(n), 0) FROM (SELECT count(*) AS n FROM \"{table}\" GROUP BY pseudonym)"
                    ),
                    [],
                    |r| r.get(0),
                )
                .unwrap();
            assert_eq!(most, heaviest, "{}: {table}", file.display());
            let mut stmt = conn
                .prepare(&format!(
                    "SELECT DISTINCT pseudonym, {}, {} FROM \"{table}\"",
                    niji_core::bucket::COLUMN,
                    niji_core::person_index::COLUMN
                ))
                .unwrap();
            let rows: Vec<(String, u64, u32)> = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .unwrap()
                .map(Result::unwrap)
                .collect();
            persons += rows.len();
            for (p, bit, at) in rows {
                assert_eq!(
                    niji_core::bucket::bit(&p),
                    bit,
                    "{}: {table}",
                    file.display()
                );
                assert_eq!(index.get(&p), Some(&at), "{}: {table}", file.display());
            }
        }
        assert!(persons > 0, "{}", file.display());
    }

    // The pseudonymized tier keeps rare diagnoses the anonymized tier removed.
    let removed: BTreeSet<String> = anon["risk"]["rare_codes_removed"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["table"] == "diagnoses" && c["column"] == "icd10")
        .flat_map(|c| strings(&c["values"]))
        .collect();
    assert!(!removed.is_empty(), "no rare diagnosis was removed: {anon}");
    let anon_codes: BTreeSet<String> = scan::csv_rows(&anon_dir.join("diagnoses.csv"))
        .into_iter()
        .map(|r| r["icd10"].clone())
        .collect();
    assert!(
        removed.iter().all(|c| !anon_codes.contains(c)),
        "a removed code is still in the anonymized release"
    );
    assert!(anon_codes.contains("*"));
    let pseudo_codes: BTreeSet<String> = scan::csv_rows(&pseudo_dir.join("diagnoses.csv"))
        .into_iter()
        .map(|r| r["icd10"].clone())
        .collect();
    let kept: Vec<&String> = removed.intersection(&pseudo_codes).collect();
    assert!(
        !kept.is_empty(),
        "the pseudonymized release keeps none of the rare codes {removed:?}"
    );
    assert!(!pseudo_codes.contains("*"));

    // Two releases share no pseudonym.
    let pseudonyms = |dir: &Path| -> BTreeSet<String> {
        scan::csv_rows(&dir.join("persons.csv"))
            .into_iter()
            .map(|r| r["pseudonym"].clone())
            .collect()
    };
    let (a, p) = (pseudonyms(&anon_dir), pseudonyms(&pseudo_dir));
    assert_eq!(a.len() as u64, anon["persons"].as_u64().unwrap());
    assert!(a.is_disjoint(&p));

    // An opted-out person is absent from the next release, which again has
    // pseudonyms of its own.
    let before = members(&data, "claims");
    let leaver = *before.iter().next().unwrap();
    niji_store::Store::open(&data)
        .unwrap()
        .add_opt_out(leaver, "test")
        .unwrap();
    let again = build(&env, &policy(ANONYMIZED), "claims-after-opt-out");
    assert_eq!(again["opted_out_excluded"], 1);
    let after = members(&data, "claims-after-opt-out");
    assert!(!after.contains(&leaver));
    assert!(
        before.contains(&leaver),
        "the earlier release keeps what it was built with"
    );
    let again_dir = export(&env, "claims-after-opt-out");
    assert!(pseudonyms(&again_dir).is_disjoint(&a));

    // The escrow needs two different admins.
    let mut add = env.niji(&["accounts", "add", "second-admin", "--role", "admin"]);
    ok(&add
        .env("NIJI_ACCOUNT_PASSWORD", "second-admin-password")
        .output()
        .unwrap());
    let target = p.iter().next().unwrap().clone();
    let request = json(
        &env.niji(&[
            "release",
            "reidentify",
            "request",
            "--release",
            "charts",
            "--pseudonym",
            &target,
            "--reason",
            "PMDA inquiry 2024-001",
            "--as",
            "admin",
            "--json",
        ])
        .env("NIJI_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .output()
        .unwrap(),
    );
    let id = request["id"].as_i64().unwrap().to_string();
    let same = env
        .niji(&["release", "reidentify", "approve", &id, "--as", "admin"])
        .env("NIJI_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("NIJI_PASSPHRASE", PASSPHRASE)
        .output()
        .unwrap();
    assert!(!same.status.success());
    assert!(
        stderr(&same).contains("a second, different admin must approve it"),
        "{}",
        stderr(&same)
    );
    let opened = json(
        &env.niji(&[
            "release",
            "reidentify",
            "approve",
            &id,
            "--as",
            "second-admin",
            "--json",
        ])
        .env("NIJI_ADMIN_PASSWORD", "second-admin-password")
        .env("NIJI_PASSPHRASE", PASSPHRASE)
        .output()
        .unwrap(),
    );
    let records = opened["records"].as_array().unwrap();
    assert!(!records.is_empty(), "{opened}");
    for r in records {
        assert_eq!(r["source"], "fhir", "{r}");
        assert!(r["locator"].as_str().is_some_and(|l| !l.is_empty()));
        assert!(r.get("name").is_none());
    }
    // An anonymized release can never be re-identified.
    let refused = env
        .niji(&[
            "release",
            "reidentify",
            "request",
            "--release",
            "claims",
            "--pseudonym",
            "x",
            "--reason",
            "r",
            "--as",
            "admin",
        ])
        .env("NIJI_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .output()
        .unwrap();
    assert!(
        stderr(&refused).contains("can never be re-identified"),
        "{}",
        stderr(&refused)
    );
    let kinds: Vec<String> = niji_store::Store::open(&data)
        .unwrap()
        .audit_events()
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    for kind in [
        "release.build",
        "reidentification.request",
        "reidentification.approve",
        "reidentification.open",
        "reidentification.result",
    ] {
        assert!(
            kinds.iter().any(|k| k == kind),
            "no {kind} event in {kinds:?}"
        );
    }
}

#[test]
fn a_pseudonymized_build_mixing_claims_is_refused_before_anything_is_written() {
    let env = Env::new();
    ok(&env.init(&[]));
    let text = std::fs::read_to_string(policy(PSEUDONYMIZED)).unwrap();
    let mixed = env.root.path().join("mixed.toml");
    std::fs::write(
        &mixed,
        text.replace(
            "sources = [\"fhir\"]",
            "sources = [\"fhir\", \"uke\", \"dpc-ef\"]",
        ),
    )
    .unwrap();
    let mixed = mixed.display().to_string();
    let out = env
        .niji(&["release", "build", "--policy", &mixed, "--name", "mixed"])
        .env("NIJI_PASSPHRASE", PASSPHRASE)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("mixed.toml: line "), "{err}");
    assert!(
        err.contains("may not be combined with uke (NDB-style claims), dpc-ef (DPC)"),
        "{err}"
    );
    assert!(!env.data().join("releases/mixed").exists());
    assert!(!env.data().join("releases/mixed.work.duckdb").exists());
}

#[test]
fn a_build_before_linkage_says_what_to_run() {
    let env = Env::new();
    ok(&env.init(&[]));
    let anonymized = policy(ANONYMIZED).display().to_string();
    let out = env
        .niji(&[
            "release",
            "build",
            "--policy",
            &anonymized,
            "--name",
            "early",
        ])
        .env("NIJI_PASSPHRASE", PASSPHRASE)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(stderr(&out).contains("niji ingest"), "{}", stderr(&out));
    assert!(!env.data().join("releases/early").exists());
    assert!(!env.data().join("releases/early.work.duckdb").exists());
}

/// The demo's pseudonymized charts release is worth analysing: the
/// synthetic JP-CLINS bundles carry each patient's home prefecture and the
/// stay's Encounter, and a person whose charts mark no main diagnosis gets
/// the category their diagnoses name most often (the release's column
/// description says which rule applied).
#[test]
fn the_demos_charts_release_has_prefectures_encounters_and_main_diagnoses() {
    let env = Env::demo();
    let tables = env.data().join("releases/charts/tables");
    let conn = duckdb::Connection::open_in_memory().unwrap();
    let scan = |table: &str| {
        format!(
            "read_parquet('{}/**/*.parquet', hive_partitioning = false)",
            tables.join(table).display()
        )
    };
    let distinct = |column: &str| -> i64 {
        conn.query_row(
            &format!(
                "SELECT count(DISTINCT {column}) FROM {} WHERE {column} NOT IN ('none', 'unknown', '*')",
                scan("persons")
            ),
            [],
            |r| r.get(0),
        )
        .unwrap()
    };
    assert!(distinct("prefecture") > 1, "one prefecture at most");
    assert!(distinct("main_diagnosis") > 1, "one main diagnosis at most");
    let persons: i64 = conn
        .query_row(
            &format!("SELECT count(*) FROM {}", scan("persons")),
            [],
            |r| r.get(0),
        )
        .unwrap();
    let without: i64 = conn
        .query_row(
            &format!(
                "SELECT count(*) FROM {} WHERE main_diagnosis = 'none'",
                scan("persons")
            ),
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(
        without * 10 < persons,
        "{without} of {persons} persons without a main diagnosis"
    );
    let encounters: i64 = conn
        .query_row(
            &format!("SELECT count(*) FROM {}", scan("encounters")),
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(encounters > 0, "the encounters table is empty");
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(env.data().join("releases/charts/manifest.json")).unwrap(),
    )
    .unwrap();
    let described = manifest["tables"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["name"] == "persons")
        .flat_map(|t| t["columns"].as_array().unwrap())
        .find(|c| c["name"] == "main_diagnosis")
        .and_then(|c| c["description"].as_str())
        .unwrap()
        .to_owned();
    assert!(described.contains("mark no main diagnosis"), "{described}");
}
