//! `niji ingest PATH...`.

use super::emit;
use crate::cli::IngestArgs;
use crate::secrets::{self, Ask};
use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use niji_core::Config;
use niji_ingest::{BatchWriter, FileOutcome, Options, Staging, Status, check_file};
use niji_linkage::Tokenizer;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Serialize)]
struct RejectView {
    /// The whole line as the text report prints it.
    message: String,
    file: String,
    record: String,
    location: String,
    field: Option<String>,
    reason: String,
}

#[derive(Serialize)]
struct FileView {
    file: String,
    format: Option<String>,
    status: &'static str,
    batch_id: Option<i64>,
    reason: Option<String>,
    sha256: String,
    bytes: u64,
    records: u64,
    rejected: usize,
    notes: Vec<String>,
}

#[derive(Serialize)]
struct IngestReport {
    check_only: bool,
    strict: bool,
    files: Vec<FileView>,
    ingested: usize,
    duplicates: usize,
    refused: usize,
    records: u64,
    rows: BTreeMap<&'static str, u64>,
    rejects: Vec<RejectView>,
    seconds: f64,
}

/// Every file under the paths, in a stable order, each with the name its
/// batch records: the path as found from the argument.
fn files(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path).with_context(|| path.display().to_string())?;
        if meta.is_dir() {
            walk(path, &mut out)?;
        } else {
            out.push(path.clone());
        }
    }
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| dir.display().to_string())?
        .collect::<Result<_, _>>()
        .with_context(|| dir.display().to_string())?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        // Hidden files and directories (a spool, an editor's swap file) are
        // never source files.
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            walk(&path, out)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}

fn view(outcome: &FileOutcome) -> FileView {
    let (status, batch_id, reason) = match &outcome.status {
        Status::Ingested { batch_id } => ("ingested", Some(*batch_id), None),
        Status::Duplicate { batch_id } => (
            "duplicate",
            Some(*batch_id),
            Some(format!(
                "already ingested as batch {batch_id}; nothing written"
            )),
        ),
        Status::Refused { problem } => ("refused", None, Some(problem.to_string())),
        Status::Checked => ("checked", None, None),
    };
    FileView {
        file: outcome.file.clone(),
        format: outcome.kind.map(|k| format!("{k:?}")),
        status,
        batch_id,
        reason,
        sha256: outcome.sha256.clone(),
        bytes: outcome.bytes,
        records: outcome.records,
        rejected: outcome.rejects.len(),
        notes: outcome.notes.clone(),
    }
}

pub fn run(config: &Config, args: &IngestArgs) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let files = files(&args.paths)?;
    // Checking hashes nothing that is kept: a key made for this run and
    // dropped with it serves, and no store is opened.
    let (mut target, tokenizer) = if args.check {
        let key =
            ring::hmac::Key::generate(ring::hmac::HMAC_SHA256, &ring::rand::SystemRandom::new())
                .map_err(|_| anyhow::anyhow!("no system randomness"))?;
        (None, Tokenizer::new(key))
    } else {
        let store = super::open_store(config)?;
        let passphrase = secrets::require(secrets::PASSPHRASE, "keystore passphrase", Ask::Once)?;
        let keystore = store.unlock(&passphrase)?;
        let key = store.open_key(&keystore, "linkage")?.hmac_key()?;
        let staging = Staging::open_waiting(&config.data, niji_core::busy::COMMAND_WAIT)?;
        (Some((store, staging)), Tokenizer::new(key))
    };
    let total: u64 = files
        .iter()
        .filter_map(|f| std::fs::metadata(f).ok())
        .map(|m| m.len())
        .sum();
    let bar = ProgressBar::new(total).with_style(ProgressStyle::with_template(
        "{spinner} {bar:40} {bytes}/{total_bytes}  {bytes_per_sec}  {msg}",
    )?);
    let options = Options {
        strict: args.strict,
        sender: None,
    };
    let mut outcomes = Vec::with_capacity(files.len());
    // Several files per transaction, each still whole or absent: the
    // writer commits a group when it is large enough, and at the end.
    let mut writer = target
        .as_mut()
        .map(|(_, staging)| BatchWriter::new(staging))
        .transpose()?;
    for (i, path) in files.iter().enumerate() {
        let name = path.display().to_string();
        bar.set_message(format!("file {}/{}", i + 1, files.len()));
        let outcome = match &mut writer {
            Some(writer) => writer.file(&tokenizer, path, &name, &options)?,
            None => check_file(&tokenizer, path, &name)?,
        };
        tracing::debug!(file = %name, status = ?outcome.status, records = outcome.records, "file done");
        bar.inc(outcome.bytes);
        outcomes.push(outcome);
    }
    writer.map(BatchWriter::commit).transpose()?;
    bar.finish_and_clear();
    drop(target);
    report(args, outcomes, started.elapsed().as_secs_f64())
}

fn report(args: &IngestArgs, outcomes: Vec<FileOutcome>, seconds: f64) -> anyhow::Result<()> {
    let count = |s: &str| outcomes.iter().filter(|o| view(o).status == s).count();
    let mut rows: BTreeMap<&'static str, u64> = BTreeMap::new();
    for o in outcomes
        .iter()
        .filter(|o| matches!(o.status, Status::Ingested { .. } | Status::Checked))
    {
        for (table, n) in &o.rows {
            *rows.entry(table).or_insert(0) += n;
        }
    }
    let rejects = outcomes
        .iter()
        .flat_map(|o| &o.rejects)
        .map(|r| RejectView {
            message: r.to_string(),
            file: r.file.clone(),
            record: r.record.to_string(),
            location: r.problem.location.to_string(),
            field: r.problem.field.clone(),
            reason: r.problem.reason.clone(),
        })
        .collect();
    let report = IngestReport {
        check_only: args.check,
        strict: args.strict,
        ingested: count("ingested") + count("checked"),
        duplicates: count("duplicate"),
        refused: count("refused"),
        records: outcomes
            .iter()
            .filter(|o| matches!(o.status, Status::Ingested { .. } | Status::Checked))
            .map(|o| o.records)
            .sum(),
        files: outcomes.iter().map(view).collect(),
        rows,
        rejects,
        seconds,
    };
    tracing::info!(
        files = report.files.len(),
        refused = report.refused,
        records = report.records,
        seconds = report.seconds,
        "ingest finished"
    );
    emit(args.report.json, &report, text)?;
    if report.refused > 0 {
        bail!(
            "{} of {} file(s) refused; see the report",
            report.refused,
            report.files.len()
        );
    }
    Ok(())
}

fn text(r: &IngestReport) -> String {
    let mut out = String::new();
    for f in &r.files {
        match f.status {
            "refused" | "duplicate" => out.push_str(&format!(
                "{}: {}: {}\n",
                f.file,
                f.status,
                f.reason.as_deref().unwrap_or("")
            )),
            _ => {}
        }
        for note in &f.notes {
            out.push_str(&format!("{}: note: {note}\n", f.file));
        }
    }
    for reject in &r.rejects {
        out.push_str(&format!("{} (record left out)\n", reject.message));
    }
    let verb = if r.check_only { "checked" } else { "ingested" };
    out.push_str(&format!(
        "{verb} {} file(s), {} duplicate, {} refused: {} records, {} left out, in {:.1} s\n",
        r.ingested,
        r.duplicates,
        r.refused,
        r.records,
        r.rejects.len(),
        r.seconds
    ));
    for (table, n) in &r.rows {
        out.push_str(&format!("  {table:<14} {n}\n"));
    }
    out
}
