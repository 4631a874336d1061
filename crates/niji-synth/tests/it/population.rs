//! Runs of the generator, read back from the files they wrote with an
//! independent CSV reader, and the documented rates measured on them.

use chrono::{Datelike, Months, NaiveDate};
use niji_synth::insurer::is_valid;
use niji_synth::{Period, Rates, SynthConfig, SynthError, generate};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::OnceLock;

use crate::common::{Run, files_under, generate_shared_run, line_of, records_under, rows};

fn day(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

/// One 10,000-person run with the default rates, shared by the rate tests.
fn default_run() -> &'static Run {
    static RUN: OnceLock<Run> = OnceLock::new();
    RUN.get_or_init(|| generate_shared_run("synth-population", 10_000, 42))
}

fn tree_digest(dir: &Path) -> Vec<u8> {
    let files: BTreeMap<String, Vec<u8>> = files_under(dir)
        .into_iter()
        .map(|path| {
            let rel = path.strip_prefix(dir).unwrap().display().to_string();
            (rel, std::fs::read(&path).unwrap())
        })
        .collect();
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    for (name, bytes) in &files {
        ctx.update(name.as_bytes());
        ctx.update(&[0]);
        ctx.update(&(bytes.len() as u64).to_le_bytes());
        ctx.update(bytes);
    }
    ctx.finish().as_ref().to_vec()
}

#[test]
fn the_same_arguments_give_byte_identical_trees() {
    let dir = tempfile::tempdir().unwrap();
    let config = SynthConfig {
        persons: 2_000,
        seed: 9,
        ..SynthConfig::default()
    };
    let a = dir.path().join("a");
    let b = dir.path().join("b");
    let c = dir.path().join("c");
    generate(&config, &a, |_| {}).unwrap();
    generate(&config, &b, |_| {}).unwrap();
    generate(&SynthConfig { seed: 10, ..config }, &c, |_| {}).unwrap();
    assert!(a.join("uke").is_dir(), "the run wrote no claim files");
    assert_eq!(tree_digest(&a), tree_digest(&b));
    assert_ne!(tree_digest(&a), tree_digest(&c));
}

#[test]
fn counts_in_the_files_match_the_summary_and_each_other() {
    let run = default_run();
    let persons = rows(&run.out.join("truth/persons.csv"));
    assert_eq!(persons.len() as u64, run.config.persons);
    let ids: HashSet<&str> = persons.iter().map(|p| p["person_id"].as_str()).collect();
    assert_eq!(ids.len(), persons.len(), "duplicate person ids");
    for file in ["names.csv", "insurance.csv"] {
        let with_rows: HashSet<String> = rows(&run.out.join("truth").join(file))
            .into_iter()
            .map(|r| r["person_id"].clone())
            .collect();
        assert_eq!(with_rows.len(), persons.len(), "{file}: someone has no row");
    }
    let eligibility = rows(&run.out.join("eligibility/history.csv"));
    let records = records_under(&run.out, "eligibility/history.csv");
    assert_eq!(
        records.len(),
        eligibility.len(),
        "a record without its truth row"
    );
}

#[test]
fn every_insurer_number_has_a_valid_check_digit_and_branches_fit_the_regex() {
    let run = default_run();
    for spell in rows(&run.out.join("truth/insurance.csv")) {
        assert!(is_valid(&spell["insurer_number"]), "{spell:?}");
        let b = spell["branch"].as_bytes();
        assert!(
            b.len() == 2 && b[0] == b'0' && b[1].is_ascii_digit(),
            "{spell:?}"
        );
        if spell["insurer_number"].starts_with("39") {
            assert!(spell["symbol"].is_empty(), "後期 cards carry no symbol");
        }
    }
}

#[test]
fn about_29_percent_are_65_and_over_at_the_start() {
    let run = default_run();
    let start = run.config.period.from;
    let persons = rows(&run.out.join("truth/persons.csv"));
    let old = persons
        .iter()
        .filter(|p| day(&p["birth_date"]) <= start - Months::new(65 * 12))
        .count();
    let share = old as f64 / persons.len() as f64;
    assert!((0.26..0.32).contains(&share), "65+ share {share}");
}

#[test]
fn everyone_75_and_over_is_on_koki() {
    let run = default_run();
    let persons: HashMap<String, NaiveDate> = rows(&run.out.join("truth/persons.csv"))
        .into_iter()
        .map(|p| (p["person_id"].clone(), day(&p["birth_date"])))
        .collect();
    for spell in rows(&run.out.join("truth/insurance.csv")) {
        let birth = persons[&spell["person_id"]];
        let from = day(&spell["valid_from"]);
        let seventy_five = birth + Months::new(75 * 12);
        if from >= seventy_five {
            assert!(
                spell["insurer_number"].starts_with("39"),
                "{spell:?} born {birth}"
            );
        }
    }
}

/// Share of persons alive through the first year whose insured number
/// (insurer, symbol, number: ID1's card part) changes within it.
#[test]
fn about_11_percent_change_id1_within_a_year() {
    let run = default_run();
    let start = run.config.period.from;
    let year_end = start + Months::new(12);
    let deaths: HashMap<String, String> = rows(&run.out.join("truth/persons.csv"))
        .into_iter()
        .map(|p| (p["person_id"].clone(), p["death_date"].clone()))
        .collect();
    let mut changed: HashSet<String> = HashSet::new();
    for spell in rows(&run.out.join("truth/insurance.csv")) {
        let from = day(&spell["valid_from"]);
        if from > start && from < year_end {
            changed.insert(spell["person_id"].clone());
        }
    }
    let survivors: Vec<&String> = deaths
        .iter()
        .filter(|(_, d)| d.is_empty() || day(d) >= year_end)
        .map(|(id, _)| id)
        .collect();
    let share = survivors.iter().filter(|id| changed.contains(**id)).count() as f64
        / survivors.len() as f64;
    assert!((0.08..0.14).contains(&share), "ID1 change share {share}");
}

#[test]
fn marriages_change_names_at_about_the_documented_rate() {
    let run = default_run();
    let start = run.config.period.from;
    let names = rows(&run.out.join("truth/names.csv"));
    let mut by_person: HashMap<&str, Vec<&HashMap<String, String>>> = HashMap::new();
    for n in &names {
        by_person
            .entry(n["person_id"].as_str())
            .or_default()
            .push(n);
    }
    let persons = rows(&run.out.join("truth/persons.csv"));
    // Women 25–30 at the start who have never married: they stay in the
    // 25–35 window for the whole period.
    let eligible: Vec<&str> = persons
        .iter()
        .filter(|p| p["sex"] == "2" && p["death_date"].is_empty())
        .filter(|p| {
            let birth = day(&p["birth_date"]);
            birth <= start - Months::new(25 * 12) && birth > start - Months::new(30 * 12)
        })
        .map(|p| p["person_id"].as_str())
        .filter(|id| {
            by_person[id].iter().all(|n| {
                day(&n["valid_from"]) >= start || n["valid_from"] == by_person[id][0]["valid_from"]
            })
        })
        .filter(|id| {
            by_person[id]
                .iter()
                .filter(|n| day(&n["valid_from"]) < start)
                .count()
                == 1
        })
        .collect();
    let married = eligible
        .iter()
        .filter(|id| {
            by_person[**id]
                .iter()
                .any(|n| day(&n["valid_from"]) >= start)
        })
        .count();
    let years = f64::from(run.config.period.years());
    let yearly = 1.0 - (1.0 - married as f64 / eligible.len() as f64).powf(1.0 / years);
    let expected = Rates::default().marriage;
    assert!(
        eligible.len() > 100,
        "too few eligible women: {}",
        eligible.len()
    );
    assert!(
        (expected * 0.6..expected * 1.4).contains(&yearly),
        "yearly marriage rate {yearly}, expected about {expected}"
    );
    for id in &eligible {
        let family: HashSet<&str> = by_person[id]
            .iter()
            .map(|n| n["family_kanji"].as_str())
            .collect();
        assert_eq!(
            family.len(),
            by_person[id].len(),
            "a name change kept the family name"
        );
    }
}

#[test]
fn twins_share_birth_date_and_card_at_about_the_documented_share() {
    let run = default_run();
    let start = run.config.period.from;
    let persons: HashMap<String, HashMap<String, String>> =
        rows(&run.out.join("truth/persons.csv"))
            .into_iter()
            .map(|p| (p["person_id"].clone(), p))
            .collect();
    let mut first_card: HashMap<String, String> = HashMap::new();
    for s in rows(&run.out.join("truth/insurance.csv")) {
        first_card
            .entry(s["person_id"].clone())
            .or_insert_with(|| format!("{}:{}:{}", s["insurer_number"], s["symbol"], s["number"]));
    }
    let children: Vec<&String> = persons
        .keys()
        .filter(|id| day(&persons[*id]["birth_date"]) > start - Months::new(20 * 12))
        .collect();
    let mut groups: HashMap<(String, String), usize> = HashMap::new();
    for id in &children {
        let key = (first_card[*id].clone(), persons[*id]["birth_date"].clone());
        *groups.entry(key).or_default() += 1;
    }
    let twins: usize = groups.values().filter(|&&n| n >= 2).sum();
    let share = twins as f64 / children.len() as f64;
    let expected = Rates::default().twins;
    assert!(
        (expected * 0.5..expected * 1.5).contains(&share),
        "twin share {share}, expected about {expected}"
    );
}

#[test]
fn eligibility_covers_about_95_percent_and_answers_the_oldest_number() {
    let run = default_run();
    let births: HashMap<String, String> = rows(&run.out.join("truth/persons.csv"))
        .into_iter()
        .map(|p| (p["person_id"].clone(), p["birth_date"].clone()))
        .collect();
    let mut oldest: HashMap<String, String> = HashMap::new();
    for s in rows(&run.out.join("truth/insurance.csv")) {
        oldest.entry(s["person_id"].clone()).or_insert_with(|| {
            format!(
                "{}:{}:{}:{}",
                s["insurer_number"], s["symbol"], s["number"], s["branch"]
            )
        });
    }
    let eligibility = rows(&run.out.join("eligibility/history.csv"));
    let records = records_under(&run.out, "eligibility/history.csv");
    let mut covered = HashSet::new();
    for (row, record) in eligibility.iter().zip(&records) {
        let line = line_of(record);
        assert_eq!(record["file"], "eligibility/history.csv");
        // Row i of the data is line i + 2 (header on line 1).
        assert_eq!(&eligibility[line - 2], row);
        let person = &record["person_id"];
        assert_eq!(row["birth_date"], births[person]);
        let answer = format!(
            "{}:{}:{}:{}",
            row["oldest_insurer_number"],
            row["oldest_symbol"],
            row["oldest_number"],
            row["oldest_branch"]
        );
        assert_eq!(answer, oldest[person]);
        covered.insert(person.clone());
    }
    let share = covered.len() as f64 / births.len() as f64;
    assert!((0.92..0.98).contains(&share), "coverage {share}");
}

#[test]
fn a_non_empty_output_directory_is_refused_and_a_failed_run_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("keep.txt"), "mine").unwrap();
    let err = generate(&SynthConfig::default(), &out, |_| {}).unwrap_err();
    assert!(matches!(err, SynthError::OutputExists { .. }), "{err}");
    assert_eq!(
        std::fs::read_to_string(out.join("keep.txt")).unwrap(),
        "mine"
    );

    let bad = SynthConfig {
        rates: Rates {
            marriage: 2.0,
            ..Rates::default()
        },
        ..SynthConfig::default()
    };
    let fresh = dir.path().join("fresh");
    assert!(generate(&bad, &fresh, |_| {}).is_err());
    assert!(!fresh.exists());
    let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(leftovers.len(), 1, "a staging directory was left behind");
}

#[test]
fn an_empty_existing_directory_is_filled_and_progress_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("empty");
    std::fs::create_dir(&out).unwrap();
    let mut reports = Vec::new();
    let config = SynthConfig {
        persons: 5_000,
        period: Period::months("2022-04", "2023-03").unwrap(),
        ..SynthConfig::default()
    };
    let summary = generate(&config, &out, |done| reports.push(done)).unwrap();
    assert_eq!(summary.persons, 5_000);
    let on_disk: u64 = files_under(&out)
        .iter()
        .map(|f| std::fs::metadata(f).unwrap().len())
        .sum();
    assert_eq!(
        summary.bytes, on_disk,
        "the summary miscounts the bytes written"
    );
    assert_eq!(reports.last(), Some(&5_000));
    assert!(reports.windows(2).all(|w| w[0] < w[1]));
    assert!(out.join("truth/persons.csv").is_file());
    let years: HashSet<i32> = rows(&out.join("truth/insurance.csv"))
        .iter()
        .filter(|s| !s["valid_to"].is_empty())
        .map(|s| day(&s["valid_to"]).year())
        .collect();
    assert!(years.iter().all(|y| (2022..=2023).contains(y)), "{years:?}");
}

#[test]
fn insurance_spells_are_ordered_contiguous_and_end_at_death() {
    let run = default_run();
    let deaths: HashMap<String, Option<NaiveDate>> = rows(&run.out.join("truth/persons.csv"))
        .into_iter()
        .map(|p| {
            let death = (!p["death_date"].is_empty()).then(|| day(&p["death_date"]));
            (p["person_id"].clone(), death)
        })
        .collect();
    let mut spells: HashMap<String, Vec<(NaiveDate, Option<NaiveDate>)>> = HashMap::new();
    for s in rows(&run.out.join("truth/insurance.csv")) {
        let to = (!s["valid_to"].is_empty()).then(|| day(&s["valid_to"]));
        spells
            .entry(s["person_id"].clone())
            .or_default()
            .push((day(&s["valid_from"]), to));
    }
    for (person, list) in &spells {
        assert_eq!(list[0].0, run.config.period.from, "{person}: {list:?}");
        for (from, to) in list {
            if let Some(to) = to {
                assert!(
                    to >= from,
                    "{person}: spell ends before it starts: {list:?}"
                );
            }
        }
        for pair in list.windows(2) {
            let end = pair[0].1.expect("only the last spell is open");
            assert_eq!(
                end.succ_opt().unwrap(),
                pair[1].0,
                "{person}: gap or overlap: {list:?}"
            );
        }
        let last = list.last().unwrap();
        match deaths[person] {
            Some(death) => assert_eq!(last.1, Some(death), "{person}: {list:?}"),
            None => assert!(
                last.1.is_none(),
                "{person}: coverage ends while alive: {list:?}"
            ),
        }
    }
}
