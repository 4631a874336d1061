//! UKE ingest throughput beside DuckDB's own CSV reader, in one run.
//!
//! ```sh
//! cargo bench --workspace --bench uke_ingest            # 5,000 persons, 2020
//! NIJI_BENCH_PERSONS=20000 cargo bench --workspace --bench uke_ingest
//! ```
//!
//! 1. Generates a synthetic population (not timed) and takes its レセ電 files.
//! 2. niji: `ingest_file` on each, into a fresh staging store on disk —
//!    read, hash, decode Shift_JIS, parse, tokenize (HMAC-SHA-256), build
//!    Arrow batches and commit. MB/s over the Shift_JIS bytes.
//! 3. The same records converted to UTF-8 (not timed) and concatenated into
//!    one file; DuckDB's `read_csv` loads it into a table of a database on
//!    disk, with all threads and with one. MB/s over the UTF-8 bytes.

use niji_ingest::{BatchWriter, Options, Staging, Status};
use niji_linkage::Tokenizer;
use niji_synth::{Period, SynthConfig, generate};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

fn uke_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            uke_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "UKE") {
            out.push(path);
        }
    }
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

fn main() {
    let persons: u64 = std::env::var("NIJI_BENCH_PERSONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5_000);
    let work = tempfile::tempdir().unwrap();
    let pop = work.path().join("pop");
    let config = SynthConfig {
        persons,
        seed: 42,
        period: Period::months("2020-01", "2020-12").unwrap(),
        ..SynthConfig::default()
    };
    generate(&config, &pop, |_| {}).unwrap();
    let mut files = Vec::new();
    uke_files(&pop.join("uke"), &mut files);
    let sjis_bytes: u64 = files
        .iter()
        .map(|f| std::fs::metadata(f).unwrap().len())
        .sum();
    println!(
        "population: {persons} persons, 2020-01..2020-12: {} UKE files, {:.1} MB Shift_JIS",
        files.len(),
        mb(sjis_bytes)
    );

    // niji, without the write: what parsing and tokenizing cost alone.
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &[42; 32]);
    let tokenizer = Tokenizer::new(key);
    let started = Instant::now();
    for file in &files {
        let outcome = niji_ingest::check_file(&tokenizer, file, "RECEIPTC.UKE").unwrap();
        assert_eq!(outcome.status, Status::Checked);
    }
    let check_seconds = started.elapsed().as_secs_f64();

    // niji.
    let data = work.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let mut staging = Staging::open(&data).unwrap();
    let started = Instant::now();
    let mut records = 0;
    let mut writer = BatchWriter::new(&mut staging).unwrap();
    for file in &files {
        let name = file.strip_prefix(&pop).unwrap().display().to_string();
        let outcome = writer
            .file(&tokenizer, file, &name, &Options::default())
            .unwrap();
        assert!(
            matches!(outcome.status, Status::Ingested { .. }),
            "{name}: {:?}",
            outcome.status
        );
        records += outcome.records;
    }
    writer.commit().unwrap();
    // Closing checkpoints the write-ahead log into the database file: part
    // of the write, so inside the timing (for DuckDB's load too).
    drop(staging);
    let niji_seconds = started.elapsed().as_secs_f64();

    // The same records as one UTF-8 CSV, for DuckDB.
    let csv = work.path().join("uke-utf8.csv");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&csv).unwrap());
    let mut widest = 0;
    for file in &files {
        let bytes = std::fs::read(file).unwrap();
        let (text, _, bad) = encoding_rs::SHIFT_JIS.decode(&bytes);
        assert!(!bad, "{}: not Shift_JIS", file.display());
        for line in text.lines() {
            widest = widest.max(line.split(',').count());
            writeln!(out, "{line}").unwrap();
        }
    }
    out.into_inner().unwrap().sync_all().unwrap();
    let utf8_bytes = std::fs::metadata(&csv).unwrap().len();
    let columns: Vec<String> = (1..=widest).map(|i| format!("'c{i}': 'VARCHAR'")).collect();
    let load = |threads: Option<usize>, db: &str| -> f64 {
        let conn = duckdb::Connection::open(work.path().join(db)).unwrap();
        if let Some(n) = threads {
            conn.execute_batch(&format!("SET threads = {n}")).unwrap();
        }
        let started = Instant::now();
        conn.execute_batch(&format!(
            "CREATE TABLE uke AS SELECT * FROM read_csv('{}', header = false, delim = ',', quote = '', \
             null_padding = true, strict_mode = false, auto_detect = false, columns = {{{}}});",
            csv.display(),
            columns.join(", ")
        ))
        .unwrap();
        drop(conn);
        started.elapsed().as_secs_f64()
    };
    let duckdb_all = load(None, "duckdb-all.duckdb");
    let duckdb_one = load(Some(1), "duckdb-one.duckdb");

    let niji_rate = mb(sjis_bytes) / niji_seconds;
    let all_rate = mb(utf8_bytes) / duckdb_all;
    let one_rate = mb(utf8_bytes) / duckdb_one;
    println!(
        "niji ingest (2 threads):   {:>7.1} MB/s  ({:.1} MB Shift_JIS, {records} claims, {niji_seconds:.2} s)",
        niji_rate,
        mb(sjis_bytes)
    );
    println!(
        "  of which parse + tokenize:{:>7.1} MB/s  ({check_seconds:.2} s; the rest is the write)",
        mb(sjis_bytes) / check_seconds
    );
    println!(
        "DuckDB read_csv (threads): {:>7.1} MB/s  ({:.1} MB UTF-8, {duckdb_all:.2} s)",
        all_rate,
        mb(utf8_bytes)
    );
    println!(
        "DuckDB read_csv (1 thread):{:>7.1} MB/s  ({duckdb_one:.2} s)",
        one_rate
    );
    println!(
        "niji / DuckDB: {:.2} of the multi-threaded rate, {:.2} of the single-threaded rate (target: at least 0.5)",
        niji_rate / all_rate,
        niji_rate / one_rate
    );
    println!(
        "{{\"bench\":\"ingest\",\"persons\":{persons},\"claims\":{records},\"niji_mb_s\":{niji_rate:.2},\"duckdb_mb_s\":{all_rate:.2},\"duckdb_one_thread_mb_s\":{one_rate:.2},\"ratio\":{:.3},\"ratio_one_thread\":{:.3}}}",
        niji_rate / all_rate,
        niji_rate / one_rate
    );
}
