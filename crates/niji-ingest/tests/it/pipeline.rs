//! A synthetic population goes in whole: every record of the truth map
//! arrives as one subject row, and no identifier reaches the data
//! directory.

use niji_ingest::{Options, Staging, Status, ingest_file};
use niji_linkage::Tokenizer;
use niji_synth::{Period, SynthConfig, generate};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::common::{files_under, identifiers};

struct Ingested {
    out: PathBuf,
    data: PathBuf,
    _copy: tempfile::TempDir,
}

fn tokenizer() -> Tokenizer {
    Tokenizer::new(ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &[42; 32]))
}

/// The source files of a run, named as the truth map names them.
fn sources(out: &Path) -> Vec<(PathBuf, String)> {
    let mut files = Vec::new();
    for dir in ["uke", "dpc", "care", "checkups", "fhir", "eligibility"] {
        files_under(&out.join(dir), &mut files);
    }
    files
        .into_iter()
        .map(|p| {
            let name = p.strip_prefix(out).unwrap().display().to_string();
            (p, name)
        })
        .collect()
}

/// A synthetic run ingested file by file, made once per test build (each
/// test process asks; the first builds it). Each test gets a copy of the
/// staging store: DuckDB locks a database file per process.
fn run() -> Ingested {
    let fixture =
        niji_testkit::shared(env!("CARGO_TARGET_TMPDIR"), "ingest-pipeline", &[], |dir| {
            let out = dir.join("synth");
            let config = SynthConfig {
                persons: 400,
                seed: 11,
                period: Period::months("2019-01", "2020-12").unwrap(),
                ..SynthConfig::default()
            };
            generate(&config, &out, |_| {}).unwrap();
            let data = dir.join("data");
            std::fs::create_dir_all(&data).unwrap();
            let mut staging = Staging::open(&data).unwrap();
            let t = tokenizer();
            for (path, name) in sources(&out) {
                let outcome =
                    ingest_file(&mut staging, &t, &path, &name, &Options::default()).unwrap();
                assert!(
                    matches!(outcome.status, Status::Ingested { .. }),
                    "{name}: {:?}",
                    outcome.status
                );
                assert!(outcome.rejects.is_empty(), "{name}: {:?}", outcome.rejects);
            }
            Ok(())
        });
    let copy = tempfile::tempdir().unwrap();
    niji_testkit::copy_dir(&fixture.join("data"), copy.path()).unwrap();
    Ingested {
        out: fixture.join("synth"),
        data: copy.path().to_owned(),
        _copy: copy,
    }
}

fn truth_records(out: &Path) -> Vec<(String, String, String)> {
    let mut reader = csv::Reader::from_path(out.join("truth/records.csv")).unwrap();
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            (r[0].to_owned(), r[1].to_owned(), r[2].to_owned())
        })
        .collect()
}

fn source_of(file: &str) -> &'static str {
    match file.split('/').next().unwrap() {
        "uke" => "uke",
        "dpc" if file.contains("/EFn_") => "dpc-ef",
        "dpc" => "dpc-ff1",
        "care" if file.ends_with("certifications.csv") => "care-certifications",
        "care" => "care-claims",
        "checkups" => "checkup",
        "fhir" => "fhir",
        "eligibility" => "eligibility",
        other => panic!("unknown truth file {other}"),
    }
}

#[test]
fn every_truth_record_arrives_once_with_its_locator() {
    let run = run();
    let staging = Staging::open(&run.data).unwrap();
    let mut stmt = staging
        .connection()
        .prepare(
            "SELECT b.file, s.locator, s.source FROM subjects s JOIN batches b USING (batch_id)",
        )
        .unwrap();
    let ingested: Vec<(String, String, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let truth = truth_records(&run.out);
    let as_set = |v: Vec<(String, String)>| v.into_iter().collect::<BTreeSet<_>>();
    let ingested_keys = as_set(
        ingested
            .iter()
            .map(|(f, l, _)| (f.clone(), l.clone()))
            .collect(),
    );
    let truth_keys = as_set(
        truth
            .iter()
            .map(|(f, l, _)| (f.clone(), l.clone()))
            .collect(),
    );
    assert_eq!(
        ingested.len(),
        truth.len(),
        "one subject row per truth record"
    );
    let missing: Vec<_> = truth_keys.difference(&ingested_keys).take(5).collect();
    let extra: Vec<_> = ingested_keys.difference(&truth_keys).take(5).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "missing {missing:?}, not in the truth map {extra:?}"
    );
    let mut per_source: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    for (file, _, _) in &truth {
        per_source.entry(source_of(file)).or_default().0 += 1;
    }
    for (_, _, source) in &ingested {
        per_source.entry(source_of_name(source)).or_default().1 += 1;
    }
    for (source, (expected, got)) in &per_source {
        assert_eq!(expected, got, "{source}");
        assert!(*expected > 0, "the run has no {source} records");
    }
}

fn source_of_name(source: &str) -> &'static str {
    [
        "uke",
        "dpc-ef",
        "dpc-ff1",
        "care-certifications",
        "care-claims",
        "checkup",
        "fhir",
        "eligibility",
    ]
    .into_iter()
    .find(|s| *s == source)
    .unwrap_or_else(|| panic!("unknown source {source}"))
}

fn count(staging: &Staging, sql: &str) -> i64 {
    staging
        .connection()
        .query_row(sql, [], |r| r.get(0))
        .unwrap()
}

#[test]
fn table_counts_follow_the_truth_map() {
    let run = run();
    let staging = Staging::open(&run.data).unwrap();
    let truth = truth_records(&run.out);
    let n = |source: &str| {
        truth
            .iter()
            .filter(|(f, _, _)| source_of(f) == source)
            .count() as i64
    };
    let q = |sql: &str| count(&staging, sql);
    assert_eq!(
        q("SELECT count(*) FROM encounters WHERE kind = 'medical-claim'"),
        n("uke")
    );
    assert_eq!(
        q("SELECT count(*) FROM encounters WHERE kind = 'dpc-stay-month'"),
        n("dpc-ef")
    );
    assert_eq!(q("SELECT count(*) FROM dpc_stays"), n("dpc-ff1"));
    assert_eq!(
        q("SELECT count(*) FROM encounters WHERE kind = 'care-claim'"),
        n("care-claims")
    );
    assert_eq!(
        q("SELECT count(*) FROM encounters WHERE kind = 'checkup'"),
        n("checkup")
    );
    assert_eq!(
        q("SELECT count(*) FROM care_levels WHERE source = 'care-certifications'"),
        n("care-certifications")
    );
    // Every eligibility row answers with the oldest number: two tokens each.
    assert_eq!(
        q("SELECT count(*) FROM tokens WHERE kind = 'id5'"),
        n("eligibility")
    );
    // Each checkup document has its results, each claim at least one diagnosis.
    assert!(q("SELECT count(*) FROM observations WHERE source = 'checkup'") >= 10 * n("checkup"));
    assert_eq!(
        q("SELECT count(DISTINCT (batch_id, record)) FROM diagnoses WHERE source = 'uke'"),
        n("uke")
    );
    // Birth is kept only as year-month.
    assert_eq!(
        q(
            "SELECT count(*) FROM subjects WHERE birth_month IS NOT NULL AND NOT regexp_full_match(birth_month, '[0-9]{4}-[0-9]{2}')"
        ),
        0
    );
    // Every claim knows its prefecture (the IR record's 都道府県), as do care
    // claims (their provider number's first two digits).
    for source in ["uke", "care-claims"] {
        assert_eq!(
            q(&format!(
                "SELECT count(*) FROM subjects WHERE source = '{source}' AND NOT coalesce(prefecture BETWEEN '01' AND '47', false)"
            )),
            0,
            "{source}"
        );
    }
}

#[test]
fn records_of_one_person_share_tokens_across_sources() {
    let run = run();
    let staging = Staging::open(&run.data).unwrap();
    // Claims and checkups of the same person carry the same ID4 token most
    // of the time (notation noise is normalized; typos are not).
    let linked = count(
        &staging,
        "SELECT count(DISTINCT c.token) FROM tokens c JOIN tokens k ON c.token = k.token
         WHERE c.kind = 'id4' AND k.kind = 'id4' AND c.source = 'checkup' AND k.source = 'uke'",
    );
    let checkup_persons = count(
        &staging,
        "SELECT count(DISTINCT token) FROM tokens WHERE kind = 'id4' AND source = 'checkup'",
    );
    assert!(checkup_persons > 0);
    assert!(
        linked * 10 >= checkup_persons * 7,
        "{linked} of {checkup_persons}"
    );
}

#[test]
fn ingesting_the_same_file_again_is_a_reported_no_op() {
    let run = run();
    let mut staging = Staging::open(&run.data).unwrap();
    let (path, name) = sources(&run.out).into_iter().next().unwrap();
    let before = staging.batches().unwrap().len();
    let outcome = ingest_file(
        &mut staging,
        &tokenizer(),
        &path,
        &name,
        &Options::default(),
    )
    .unwrap();
    assert!(
        matches!(outcome.status, Status::Duplicate { .. }),
        "{:?}",
        outcome.status
    );
    assert_eq!(staging.batches().unwrap().len(), before);
}

#[test]
fn no_identifier_reaches_the_data_directory() {
    let run = run();
    let ids = identifiers(&run.out);
    assert!(ids.len() > 1000, "{}", ids.len());
    // Bytes of every file, including the write-ahead log.
    let mut files = Vec::new();
    files_under(&run.data, &mut files);
    assert!(!files.is_empty());
    let scan = aho_corasick::AhoCorasick::new(&ids).unwrap();
    for file in &files {
        let bytes = std::fs::read(file).unwrap();
        assert!(
            scan.find(&bytes).is_none(),
            "{}: holds a truth identifier",
            file.display()
        );
    }
    // And every text value of every table, which DuckDB may compress on disk.
    let staging = Staging::open(&run.data).unwrap();
    let mut text = Vec::new();
    for table in niji_core::content::TABLES
        .iter()
        .map(|t| t.name)
        .chain(["batches", "rejects"])
    {
        let columns: Vec<String> = {
            let mut stmt = staging
                .connection()
                .prepare("SELECT column_name FROM information_schema.columns WHERE table_name = ? AND data_type = 'VARCHAR'")
                .unwrap();
            stmt.query_map([table], |r| r.get(0))
                .unwrap()
                .map(Result::unwrap)
                .collect()
        };
        for column in columns {
            let mut stmt = staging
                .connection()
                .prepare(&format!(
                    "SELECT DISTINCT \"{column}\" FROM {table} WHERE \"{column}\" IS NOT NULL"
                ))
                .unwrap();
            text.extend(
                stmt.query_map([], |r| r.get::<_, String>(0))
                    .unwrap()
                    .map(Result::unwrap),
            );
        }
    }
    assert!(text.len() > 100);
    for value in &text {
        assert!(
            scan.find(value).is_none(),
            "a stored value holds a truth identifier"
        );
    }
}
