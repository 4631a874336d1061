//! `niji link` on a synthetic population: the full plan against the single
//! keys, measured with the truth map, and person keys that survive a second
//! batch of files.

use crate::common::*;

use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;

fn sources(pop: &Path, months: &[&str]) -> Vec<PathBuf> {
    // Claims of the given months, and every other source in full.
    let mut out: Vec<PathBuf> = months.iter().map(|m| pop.join("uke").join(m)).collect();
    for dir in ["care", "dpc", "fhir", "checkups", "eligibility"] {
        if pop.join(dir).is_dir() {
            out.push(pop.join(dir));
        }
    }
    out
}

fn keys(data: &Path) -> HashMap<(i64, i64), i64> {
    let staging = niji_ingest::Staging::open(data).unwrap();
    let mut stmt = staging
        .connection()
        .prepare("SELECT batch_id, record, person_key FROM person_records")
        .unwrap();
    stmt.query_map([], |r| Ok(((r.get(0)?, r.get(1)?), r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[test]
fn the_plan_beats_every_single_key_and_keys_survive_a_new_batch() {
    let env = Env::new();
    ok(&env.init(&[]));
    let pop = env.synth(600, 9, "2020-01", "2021-06");
    let mut months: Vec<String> = std::fs::read_dir(pop.join("uke"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    months.sort();
    let (first, second) = months.split_at(months.len() / 2);
    let ingest = |dirs: Vec<PathBuf>| {
        let mut cmd = env.niji(&["ingest"]);
        cmd.args(dirs)
            .env("NIJI_PASSPHRASE", PASSPHRASE)
            .stdout(Stdio::null());
        ok(&cmd.output().unwrap());
    };
    let link = || json(&env.niji(&["link", "--json"]).output().unwrap());

    // First half of the claims: link, and again (nothing changes).
    let first: Vec<&str> = first.iter().map(String::as_str).collect();
    ingest(sources(&pop, &first));
    let run1 = link();
    let before = keys(&env.data());
    let again = link();
    assert_eq!(again["new_keys"], 0, "{again}");
    assert_eq!(keys(&env.data()), before, "a second run keeps every key");

    // The second half: records linked before keep their person key, unless
    // a merge event says where it went.
    let second: Vec<&str> = second.iter().map(String::as_str).collect();
    ingest(sources(&pop, &second));
    let report_path = env.root.path().join("link.json");
    let truth = pop.join("truth");
    let out = env
        .niji(&["link", "--json", "--truth"])
        .arg(&truth)
        .arg("--report")
        .arg(&report_path)
        .output()
        .unwrap();
    let report = json(&out);
    assert_eq!(
        report,
        serde_json::from_str::<Value>(&std::fs::read_to_string(&report_path).unwrap()).unwrap()
    );
    assert!(report["records"].as_u64() > run1["records"].as_u64());
    let after = keys(&env.data());
    let staging = niji_ingest::Staging::open(&env.data()).unwrap();
    let merged: HashMap<i64, i64> = staging
        .connection()
        .prepare("SELECT other_key, person_key FROM person_events WHERE event = 'merge'")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    drop(staging);
    for (record, key) in &before {
        let now = after[record];
        assert!(
            now == *key || merged.get(key) == Some(&now),
            "record {record:?}: key {key} became {now} unexplained"
        );
    }

    // Quality: the goals of the linkage issue on default noise.
    let s = &report["strategies"];
    let f1 = |k: &str| s[k]["f1"].as_f64().unwrap();
    assert!(f1("plan") >= 0.99, "{report:#}");
    for single in ["id1", "id4", "id5"] {
        assert!(
            f1("plan") > f1(single),
            "plan {} vs {single} {}",
            f1("plan"),
            f1(single)
        );
    }
    let persons = report["truth"]["persons"].as_u64().unwrap() as f64;
    assert!(
        (s["plan"]["false_merges"].as_u64().unwrap() as f64) < 0.001 * persons,
        "{report:#}"
    );
    // The misses are accounted for, fragment by fragment.
    let m = &report["truth"]["plan_misses"];
    let parts: u64 = ["no_name_token", "name_differs", "bridge_refused"]
        .iter()
        .map(|k| m[k].as_u64().unwrap())
        .sum();
    assert_eq!(parts, m["fragments"].as_u64().unwrap());
    assert_eq!(m["fragments"], s["plan"]["false_splits"]);
}
