//! A corpus of broken files for every adapter, made by damaging valid
//! synthetic files in the ways transfers and exports break them: cut short,
//! bytes flipped, lines lost or doubled, the wrong encoding, separators
//! swapped, junk appended. For each broken file:
//!
//! - ingest does not panic;
//! - a record left out names its record (line, entry or path);
//! - a refused file writes nothing;
//! - an accepted file is one whole batch holding exactly the rows it reports;
//! - no message repeats a name or an insured number of the population.
//!
//! The hand-written cases of `malformed.rs` check the messages themselves;
//! this corpus checks that nothing breaks whatever the damage.

use niji_core::content::TABLES;
use niji_ingest::{FileOutcome, Location, Options, Staging, Status, ingest_file};
use niji_linkage::Tokenizer;
use niji_synth::{Period, SynthConfig, generate};
use std::collections::BTreeMap;
use std::io::Read;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use crate::common::{files_under, identifiers};

/// A valid source file: its format's label, its name, its bytes.
struct Sample {
    label: &'static str,
    name: String,
    bytes: Vec<u8>,
    shift_jis: bool,
}

/// One valid file of each format a synthetic population has, plus a single
/// FHIR Bundle and a single checkup document taken out of their containers.
fn samples(pop: &Path) -> Vec<Sample> {
    let first = |dir: &str, pick: &dyn Fn(&str) -> bool| -> (String, Vec<u8>) {
        let mut files = Vec::new();
        files_under(&pop.join(dir), &mut files);
        let path = files
            .into_iter()
            .find(|p| pick(&p.display().to_string()))
            .unwrap_or_else(|| panic!("the population has no {dir} file"));
        let name = path.strip_prefix(pop).unwrap().display().to_string();
        (name, std::fs::read(&path).unwrap())
    };
    let sample = |label, (name, bytes): (String, Vec<u8>), shift_jis| Sample {
        label,
        name,
        bytes,
        shift_jis,
    };
    let mut out = vec![
        sample("uke", first("uke", &|p| p.ends_with(".UKE")), true),
        sample("dpc-ef", first("dpc", &|p| p.contains("/EF")), true),
        sample("dpc-ff1", first("dpc", &|p| p.contains("/FF1_")), true),
        sample(
            "care-claims",
            first("care", &|p| !p.ends_with("certifications.csv")),
            true,
        ),
        sample(
            "care-certifications",
            first("care", &|p| p.ends_with("certifications.csv")),
            false,
        ),
        sample("eligibility", first("eligibility", &|_| true), false),
        sample("checkup-archive", first("checkups", &|_| true), false),
        sample("fhir-ndjson", first("fhir", &|_| true), false),
    ];
    let (name, ndjson) = first("fhir", &|_| true);
    let bundle = ndjson.split(|b| *b == b'\n').next().unwrap().to_vec();
    out.push(sample(
        "fhir-bundle",
        (name.replace(".ndjson", ".json"), bundle),
        false,
    ));
    let (name, zip) = first("checkups", &|_| true);
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip)).unwrap();
    let mut entry = archive.by_index(0).unwrap();
    let entry_name = Path::new(entry.name().unwrap().as_ref())
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let mut xml = Vec::new();
    entry.read_to_end(&mut xml).unwrap();
    let dir = Path::new(&name).parent().unwrap();
    out.push(sample(
        "checkup",
        (dir.join(entry_name).display().to_string(), xml),
        false,
    ));
    out
}

/// A small deterministic generator (xorshift), so the corpus is the same on
/// every run.
struct Dice(u64);

impl Dice {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n.max(1) as u64) as usize
    }
}

fn lines(bytes: &[u8]) -> Vec<Vec<u8>> {
    bytes
        .split_inclusive(|b| *b == b'\n')
        .map(<[u8]>::to_vec)
        .collect()
}

fn replace(bytes: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

/// The damaged versions of a valid file, each named by what was done.
fn mutants(sample: &Sample, dice: &mut Dice) -> Vec<(String, Vec<u8>)> {
    let b = &sample.bytes;
    let n = b.len();
    let mut out: Vec<(String, Vec<u8>)> = vec![("empty".into(), Vec::new())];
    for pct in [1, 10, 50, 90] {
        out.push((format!("cut at {pct}%"), b[..n * pct / 100].to_vec()));
    }
    for tail in [1, 2, 3] {
        out.push((
            format!("last {tail} bytes cut"),
            b[..n.saturating_sub(tail)].to_vec(),
        ));
    }
    for _ in 0..6 {
        let at = dice.below(n);
        let mut m = b.clone();
        m[at] ^= 0xFF;
        out.push((format!("byte {at} flipped"), m));
    }
    let mut m = b.clone();
    m.insert(n / 2, 0);
    out.push(("NUL inserted".into(), m));
    let ls = lines(b);
    if ls.len() >= 3 {
        let mut dropped = ls.clone();
        dropped.remove(1);
        out.push(("line 2 dropped".into(), dropped.concat()));
        let mut doubled = ls.clone();
        doubled.insert(1, ls[1].clone());
        out.push(("line 2 doubled".into(), doubled.concat()));
        let mut swapped = ls.clone();
        swapped.swap(1, 2);
        out.push(("lines 2 and 3 swapped".into(), swapped.concat()));
        let mut last_dropped = ls.clone();
        last_dropped.pop();
        out.push(("last line dropped".into(), last_dropped.concat()));
        let mut long = ls.clone();
        long.insert(1, [vec![b'A'; 200_000], b"\r\n".to_vec()].concat());
        out.push(("a 200,000-byte line".into(), long.concat()));
    }
    if sample.shift_jis {
        let (text, _, _) = encoding_rs::SHIFT_JIS.decode(b);
        out.push(("re-encoded as UTF-8".into(), text.as_bytes().to_vec()));
    } else if let Ok(text) = std::str::from_utf8(b) {
        out.push((
            "re-encoded as Shift_JIS".into(),
            encoding_rs::SHIFT_JIS.encode(text).0.into_owned(),
        ));
    }
    out.push(("commas to tabs".into(), replace(b, b",", b"\t")));
    out.push(("tabs to commas".into(), replace(b, b"\t", b",")));
    out.push(("CRLF to LF".into(), replace(b, b"\r\n", b"\n")));
    out.push(("quotes inserted".into(), replace(b, b",", b",\"")));
    out.push((
        "UTF-8 BOM added".into(),
        [b"\xEF\xBB\xBF".as_slice(), b].concat(),
    ));
    let junk: Vec<u8> = (0..4096).map(|_| dice.below(256) as u8).collect();
    out.push((
        "4 KB of junk appended".into(),
        [b.as_slice(), &junk].concat(),
    ));
    out.push(("4 KB of junk alone".into(), junk));
    // Damage that leaves the bytes as they were says nothing here.
    out.retain(|(_, m)| m != b);
    out
}

/// Rows per content table, all batches.
fn table_rows(staging: &Staging) -> BTreeMap<&'static str, i64> {
    TABLES
        .iter()
        .map(|t| {
            let n = staging
                .connection()
                .query_row(&format!("SELECT count(*) FROM {}", t.name), [], |r| {
                    r.get(0)
                })
                .unwrap();
            (t.name, n)
        })
        .collect()
}

/// Rows per content table of one batch.
fn batch_rows(staging: &Staging, batch: i64) -> BTreeMap<&'static str, i64> {
    TABLES
        .iter()
        .map(|t| {
            let n = staging
                .connection()
                .query_row(
                    &format!("SELECT count(*) FROM {} WHERE batch_id = ?", t.name),
                    [batch],
                    |r| r.get(0),
                )
                .unwrap();
            (t.name, n)
        })
        .filter(|(_, n)| *n > 0)
        .collect()
}

/// What one broken file did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Ending {
    Refused,
    /// The same bytes as an earlier broken file (a short file cut to the
    /// same length twice): nothing written.
    Duplicate,
    WithRejects,
    Whole,
}

#[test]
fn broken_files_of_every_adapter_are_refused_or_taken_whole_without_panics() {
    let dir = tempfile::tempdir().unwrap();
    let pop = dir.path().join("pop");
    let config = SynthConfig {
        persons: 300,
        seed: 5,
        period: Period::months("2020-01", "2020-12").unwrap(),
        ..SynthConfig::default()
    };
    generate(&config, &pop, |_| {}).unwrap();
    let scan = aho_corasick::AhoCorasick::new(identifiers(&pop)).unwrap();
    let tokenizer = Tokenizer::new(ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &[9; 32]));
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    let mut staging = Staging::open(&dir.path().join("data")).unwrap();
    let mut dice = Dice(0x9E37_79B9_7F4A_7C15);
    let mut tally: BTreeMap<(&str, Ending), usize> = BTreeMap::new();
    let mut failures = Vec::new();
    let samples = samples(&pop);
    assert_eq!(samples.len(), 10);
    for sample in &samples {
        for (damage, bytes) in mutants(sample, &mut dice) {
            let case = format!("{} ({}), {damage}", sample.label, sample.name);
            let file = dir.path().join("broken").join(&sample.name);
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(&file, &bytes).unwrap();
            let before = table_rows(&staging);
            let batches = staging.batches().unwrap().len();
            let run = catch_unwind(AssertUnwindSafe(|| {
                ingest_file(
                    &mut staging,
                    &tokenizer,
                    &file,
                    &sample.name,
                    &Options::default(),
                )
            }));
            let outcome: FileOutcome = match run {
                Err(_) => {
                    failures.push(format!("{case}: panicked"));
                    continue;
                }
                Ok(Err(e)) => {
                    failures.push(format!("{case}: ingest failed altogether: {e}"));
                    continue;
                }
                Ok(Ok(outcome)) => outcome,
            };
            let mut messages: Vec<String> = outcome.rejects.iter().map(|r| r.to_string()).collect();
            for reject in &outcome.rejects {
                // A file that is one record (a lone checkup document) is
                // named by the file; its problem still says where.
                if reject.problem.location == Location::File {
                    failures.push(format!("{case}: a reject says not where: {reject}"));
                }
            }
            let ending = match &outcome.status {
                Status::Refused { problem } => {
                    messages.push(problem.to_string());
                    if problem.reason.is_empty() {
                        failures.push(format!("{case}: refused without a reason"));
                    }
                    if table_rows(&staging) != before || staging.batches().unwrap().len() != batches
                    {
                        failures.push(format!("{case}: refused, yet something was written"));
                    }
                    Ending::Refused
                }
                Status::Ingested { batch_id } => {
                    let reported: BTreeMap<&str, i64> = outcome
                        .rows
                        .iter()
                        .filter(|(_, n)| *n > 0)
                        .map(|(t, n)| (*t, *n as i64))
                        .collect();
                    let stored = batch_rows(&staging, *batch_id);
                    if stored != reported {
                        failures.push(format!(
                            "{case}: the batch holds {stored:?}, the outcome reports {reported:?}"
                        ));
                    }
                    if staging.batches().unwrap().len() != batches + 1 {
                        failures.push(format!("{case}: not exactly one new batch"));
                    }
                    if outcome.rejects.is_empty() {
                        Ending::Whole
                    } else {
                        Ending::WithRejects
                    }
                }
                Status::Duplicate { .. } => {
                    if table_rows(&staging) != before {
                        failures.push(format!("{case}: a duplicate wrote rows"));
                    }
                    Ending::Duplicate
                }
                Status::Checked => {
                    failures.push(format!("{case}: checked only, not ingested"));
                    continue;
                }
            };
            for message in &messages {
                if scan.is_match(message) {
                    failures.push(format!("{case}: a message repeats an identifier"));
                }
            }
            *tally.entry((sample.label, ending)).or_default() += 1;
        }
    }
    let cases: usize = tally.values().sum();
    eprintln!("{cases} broken files:");
    for ((label, ending), n) in &tally {
        eprintln!("  {label:<20} {ending:?}: {n}");
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // Every adapter met damage it had to refuse, and damage it could read
    // around, so both paths were exercised.
    for sample in &samples {
        assert!(
            tally.contains_key(&(sample.label, Ending::Refused)),
            "{}: nothing refused",
            sample.label
        );
    }
    assert!(cases > 200, "{cases}");
}
