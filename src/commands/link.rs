//! `niji link`: links the staged records into persons, keeps their keys
//! stable, and (with `--truth`) measures each strategy against a synthetic
//! truth map.

use super::emit;
use crate::cli::LinkArgs;
use anyhow::Context;
use niji_core::Config;
use niji_ingest::{LinkInput, Staging};
use niji_linkage::link::{LinkStats, link, rules};
use niji_linkage::quality::{Quality, quality};
use niji_linkage::{Plan, plan};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::Instant;

/// The strategies compared with `--truth`: the tokens each may use. `id5`
/// needs the insured numbers too: ID5 reaches a claim through the insured
/// number it bears, which the eligibility service answers with the oldest.
const STRATEGIES: [(&str, &[&str]); 4] = [
    ("id1", &["id1"]),
    ("id4", &["id4"]),
    ("id5", &["id5", "insured"]),
    ("plan", &[]),
];

#[derive(Serialize)]
struct QualityView {
    precision: f64,
    recall: f64,
    f1: f64,
    bcubed_precision: f64,
    bcubed_recall: f64,
    false_merges: u64,
    false_splits: u64,
    groups: u64,
    merges: BTreeMap<String, u64>,
    refused: BTreeMap<String, u64>,
}

fn view(q: &Quality, stats: &LinkStats) -> QualityView {
    QualityView {
        precision: q.precision,
        recall: q.recall,
        f1: q.f1,
        bcubed_precision: q.bcubed_precision,
        bcubed_recall: q.bcubed_recall,
        false_merges: q.false_merges,
        false_splits: q.false_splits,
        groups: q.groups,
        merges: stats.merges.iter().cloned().collect(),
        refused: stats.refused.iter().cloned().collect(),
    }
}

/// Why records of one person stayed apart: each fragment (a found group
/// beside the person's largest) by the reason the plan could not join it.
#[derive(Serialize, Default)]
struct Misses {
    fragments: u64,
    /// The fragment's records carry no name token (kana missing).
    no_name_token: u64,
    /// Its name tokens match none of the person's main group (a typo in the
    /// kana, or a name change) and no join token links it.
    name_differs: u64,
    /// It shares a bridge token with the main group, but the guard refused
    /// the bridge (two cards of one kind in one month).
    bridge_refused: u64,
    /// Fragments by source kind.
    by_source: BTreeMap<String, u64>,
}

#[derive(Serialize)]
struct TruthView {
    dir: String,
    records_compared: u64,
    records_without_truth: u64,
    persons: u64,
    /// Why the full plan left records of one person apart.
    plan_misses: Misses,
}

#[derive(Serialize)]
struct LinkReport {
    run_id: i64,
    records: u64,
    persons: u64,
    new_keys: u64,
    merged_keys: u64,
    split_keys: u64,
    seconds: BTreeMap<&'static str, f64>,
    records_per_second: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    truth: Option<TruthView>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    strategies: BTreeMap<&'static str, QualityView>,
}

pub fn run(config: &Config, args: &LinkArgs) -> anyhow::Result<()> {
    // The store's lock makes this the only writer of the data directory.
    let _store = super::open_store(config)?;
    let mut staging = Staging::open_waiting(&config.data, niji_core::busy::COMMAND_WAIT)?;
    let plan = Plan::embedded();
    let mut seconds = BTreeMap::new();
    let t = Instant::now();
    let input = staging.link_input(&plan)?;
    seconds.insert("read", t.elapsed().as_secs_f64());
    let t = Instant::now();
    let (groups, stats) = link(&input.link, &rules(&plan, &[]));
    let link_seconds = t.elapsed().as_secs_f64();
    seconds.insert("link", link_seconds);
    let t = Instant::now();
    let saved = staging.save_persons(&input, &groups, &sha256_hex(plan::EMBEDDED))?;
    seconds.insert("write", t.elapsed().as_secs_f64());
    tracing::info!(run = saved.run_id, persons = saved.persons, "linked");

    let mut report = LinkReport {
        run_id: saved.run_id,
        records: input.records.len() as u64,
        persons: saved.persons,
        new_keys: saved.new_keys,
        merged_keys: saved.merges,
        split_keys: saved.splits,
        records_per_second: input.records.len() as f64 / link_seconds.max(1e-9),
        seconds,
        truth: None,
        strategies: BTreeMap::new(),
    };
    if let Some(dir) = &args.truth {
        let locators = staging.locators(&input)?;
        let truth = read_truth(dir, &input, &locators)?;
        let compared: Vec<usize> = (0..truth.len()).filter(|&i| truth[i].is_some()).collect();
        let persons: Vec<u64> = compared.iter().filter_map(|&i| truth[i]).collect();
        for (name, used) in STRATEGIES {
            let (groups, stats) = if name == "plan" {
                (groups.clone(), stats.clone())
            } else {
                link(&input.link, &rules(&plan, used))
            };
            let found: Vec<u32> = compared.iter().map(|&i| groups[i]).collect();
            report
                .strategies
                .insert(name, view(&quality(&found, &persons), &stats));
        }
        let mut distinct = persons.clone();
        distinct.sort_unstable();
        distinct.dedup();
        report.truth = Some(TruthView {
            dir: dir.display().to_string(),
            records_compared: compared.len() as u64,
            records_without_truth: (truth.len() - compared.len()) as u64,
            persons: distinct.len() as u64,
            plan_misses: misses(&input, &plan, &groups, &truth),
        });
    }
    if let Some(path) = &args.report {
        std::fs::write(path, serde_json::to_string_pretty(&report)? + "\n")
            .with_context(|| path.display().to_string())?;
    }
    emit(args.report_format.json, &report, text)
}

/// Sorts the full plan's false splits by cause.
fn misses(input: &LinkInput, plan: &Plan, groups: &[u32], truth: &[Option<u64>]) -> Misses {
    use niji_linkage::Role;
    let bridge: Vec<bool> = plan.tokens.iter().map(|t| t.role == Role::Bridge).collect();
    // Records of each (person, group).
    let mut parts: HashMap<u64, HashMap<u32, Vec<usize>>> = HashMap::new();
    for (i, person) in truth.iter().enumerate() {
        if let Some(p) = person {
            parts
                .entry(*p)
                .or_default()
                .entry(groups[i])
                .or_default()
                .push(i);
        }
    }
    let names = |records: &[usize]| -> Vec<(u8, u32)> {
        let mut out: Vec<(u8, u32)> = records
            .iter()
            .flat_map(|&i| input.link.tokens(i))
            .filter(|(k, _)| bridge.get(*k as usize).copied().unwrap_or(false))
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    };
    let mut m = Misses::default();
    for groups_of_person in parts.values() {
        let Some((main, _)) = groups_of_person
            .iter()
            .max_by_key(|(g, r)| (r.len(), std::cmp::Reverse(**g)))
        else {
            continue;
        };
        let main_names = names(&groups_of_person[main]);
        for (g, records) in groups_of_person {
            if g == main {
                continue;
            }
            m.fragments += 1;
            let own = names(records);
            if own.is_empty() {
                m.no_name_token += 1;
            } else if own.iter().any(|t| main_names.contains(t)) {
                m.bridge_refused += 1;
            } else {
                m.name_differs += 1;
            }
            let source = input
                .sources
                .get(&input.records[records[0]].batch_id)
                .cloned()
                .unwrap_or_default();
            *m.by_source.entry(source).or_default() += 1;
        }
    }
    m
}

fn text(r: &LinkReport) -> String {
    let mut out = format!(
        "linked {} records into {} persons (run {}): {} new keys, {} merged, {} split\n",
        r.records, r.persons, r.run_id, r.new_keys, r.merged_keys, r.split_keys
    );
    if let Some(t) = &r.truth {
        let m = &t.plan_misses;
        out.push_str(&format!(
            "  compared {} records of {} persons; the plan left {} fragments apart: {} without a name token, {} with another name, {} refused by the guard\n",
            t.records_compared, t.persons, m.fragments, m.no_name_token, m.name_differs, m.bridge_refused
        ));
    }
    for (name, q) in &r.strategies {
        out.push_str(&format!(
            "  {name:<5} F1 {:.4}  precision {:.4}  recall {:.4}  B³ {:.4}/{:.4}  false merges {}  false splits {}\n",
            q.f1, q.precision, q.recall, q.bcubed_precision, q.bcubed_recall, q.false_merges, q.false_splits
        ));
    }
    out
}

fn sha256_hex(text: &str) -> String {
    ring::digest::digest(&ring::digest::SHA256, text.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Each record's true person from `DIR/records.csv` (`file, locator,
/// person_id`), matching a batch's file by the truth's relative path at
/// its end.
fn read_truth(
    dir: &Path,
    input: &LinkInput,
    locators: &[String],
) -> anyhow::Result<Vec<Option<u64>>> {
    let path = dir.join("records.csv");
    let mut reader = csv::Reader::from_path(&path).with_context(|| path.display().to_string())?;
    let mut files: HashMap<String, u32> = HashMap::new();
    let mut truth: HashMap<(u32, String), u64> = HashMap::new();
    for (n, row) in reader.records().enumerate() {
        let row = row.with_context(|| format!("{}: line {}", path.display(), n + 2))?;
        let (Some(file), Some(locator), Some(person)) = (row.get(0), row.get(1), row.get(2)) else {
            anyhow::bail!(
                "{}: line {}: expected file, locator, person_id",
                path.display(),
                n + 2
            );
        };
        let person: u64 = person
            .parse()
            .with_context(|| format!("{}: line {}: person_id", path.display(), n + 2))?;
        let next = files.len() as u32;
        let f = *files.entry(file.to_owned()).or_insert(next);
        truth.insert((f, locator.to_owned()), person);
    }
    // A batch names its file as it was walked; the truth names it relative
    // to the population's directory.
    let batch_file: HashMap<i64, Option<u32>> = input
        .files
        .iter()
        .map(|(&batch, name)| {
            let parts: Vec<&str> = name.split('/').collect();
            let found = (0..parts.len()).find_map(|i| files.get(&parts[i..].join("/")).copied());
            (batch, found)
        })
        .collect();
    Ok(input
        .records
        .iter()
        .zip(locators)
        .map(|(record, locator)| {
            let f = batch_file.get(&record.batch_id).copied().flatten()?;
            truth.get(&(f, locator.clone())).copied()
        })
        .collect())
}
