//! `niji release dummy`: a release's dummy data. A synthetic population
//! goes through the whole platform — synth, ingest, link, release build
//! with the release's own policy — in a throwaway data directory with keys
//! of its own, as child processes of this binary; the built tree is kept
//! as `dummies/NAME/`. Nothing of the release's rows, pseudonyms or keys is
//! read: only its policy.

use super::emit;
use crate::cli::ReleaseDummyArgs;
use anyhow::{Context, bail};
use chrono::{Datelike, Months, NaiveDate};
use niji_core::Config;
use niji_deid::policy::Policy;
use niji_query::storage::DUMMIES_DIR;
use ring::rand::{SecureRandom, SystemRandom};
use serde::Serialize;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The sources a synthetic population writes (its ground truth is not one).
const SOURCES: [&str; 6] = ["uke", "dpc", "care", "checkups", "fhir", "eligibility"];

#[derive(Serialize)]
struct DummyReport {
    release: String,
    persons: u64,
    from: String,
    to: String,
    directory: String,
    tables: Value,
    seconds: f64,
}

/// Builds release `args.name`'s dummy data.
pub fn build(config: &Config, args: &ReleaseDummyArgs) -> anyhow::Result<()> {
    super::release::check_name(&args.name)?;
    if !(10..=1_000_000).contains(&args.persons) {
        bail!("--persons: 10 to 1000000");
    }
    let started = std::time::Instant::now();
    let (text, levels) = {
        let store = super::open_store(config)?;
        let text = store
            .release_policy(&args.name)?
            .with_context(|| format!("no release named `{}`", args.name))?;
        let info = store
            .release(&args.name)?
            .with_context(|| format!("no release named `{}`", args.name))?;
        (text, levels_of(&info.manifest)?)
    };
    let policy = Policy::parse(&text, &format!("the policy of release `{}`", args.name))?;
    let (from, to) = period(&policy.release.reference_date, args)?;
    let dir = config.data.join(DUMMIES_DIR);
    std::fs::create_dir_all(&dir).with_context(|| dir.display().to_string())?;
    let work = dir.join(format!(".{}.work", args.name));
    remove(&work);
    let built = Throwaway::new(&work).and_then(|t| {
        t.build(&Twin {
            name: &args.name,
            policy: &text,
            levels: &levels,
            persons: args.persons,
            from: &from,
            to: &to,
        })
    });
    let built = built.and_then(|(tree, report)| {
        install(&tree, &dir.join(&args.name))?;
        Ok(report)
    });
    remove(&work);
    let report = built?;
    let out = DummyReport {
        release: args.name.clone(),
        persons: report["persons"].as_u64().unwrap_or(0),
        from,
        to,
        directory: format!("{DUMMIES_DIR}/{}", args.name),
        tables: report["tables"].clone(),
        seconds: started.elapsed().as_secs_f64(),
    };
    tracing::info!(release = %args.name, persons = out.persons, "dummy data built");
    emit(args.report.json, &out, |r| {
        format!(
            "dummy data of release {}: {} synthetic persons, {} to {}, in {} ({:.0} s)\n",
            r.release, r.persons, r.from, r.to, r.directory, r.seconds
        )
    })
}

/// The release's generalization levels, from its build report
/// (`levels`: column → [level, height]), as `niji release build --levels`
/// takes them; empty for a pseudonymized release.
fn levels_of(manifest: &str) -> anyhow::Result<String> {
    let report: Value = serde_json::from_str(manifest).context("the release's build report")?;
    let levels = report["levels"]
        .as_object()
        .map_or_else(Vec::new, |levels| {
            levels
                .iter()
                .filter_map(|(column, l)| Some(format!("{column}={}", l.get(0)?.as_u64()?)))
                .collect()
        });
    Ok(levels.join(","))
}

/// What the twin is built of.
struct Twin<'a> {
    name: &'a str,
    policy: &'a str,
    /// The release's generalization levels (`--levels`), empty for none.
    levels: &'a str,
    persons: u32,
    from: &'a str,
    to: &'a str,
}

/// The months of the synthetic records: the arguments, or the five years
/// that end with the policy's reference date.
fn period(reference: &str, args: &ReleaseDummyArgs) -> anyhow::Result<(String, String)> {
    let date = NaiveDate::parse_from_str(reference, "%Y-%m-%d")
        .with_context(|| format!("reference_date {reference:?}"))?;
    let month = |d: NaiveDate| format!("{:04}-{:02}", d.year(), d.month());
    let start = date
        .checked_sub_months(Months::new(59))
        .context("reference_date is too early")?;
    Ok((
        args.from.clone().unwrap_or_else(|| month(start)),
        args.to.clone().unwrap_or_else(|| month(date)),
    ))
}

/// A data directory that lives for one build, with a random passphrase.
struct Throwaway {
    dir: PathBuf,
    exe: PathBuf,
    passphrase: String,
}

impl Throwaway {
    fn new(dir: &Path) -> anyhow::Result<Throwaway> {
        let mut bytes = [0u8; 24];
        SystemRandom::new()
            .fill(&mut bytes)
            .map_err(|_| anyhow::anyhow!("the system random source failed"))?;
        let passphrase = bytes.iter().map(|b| format!("{b:02x}")).collect();
        // Absolute: the children run inside it.
        std::fs::create_dir_all(dir).with_context(|| dir.display().to_string())?;
        let dir = dir
            .canonicalize()
            .with_context(|| dir.display().to_string())?;
        Ok(Throwaway {
            dir,
            exe: std::env::current_exe().context("this program's path")?,
            passphrase,
        })
    }

    /// Runs `niji ARGS --json` on the throwaway directory; its report. The
    /// child sees none of this platform's configuration — no `NIJI_*`
    /// variable, no `niji.toml` (it runs in the throwaway directory) — so
    /// that its store is its own SQLite file, never this platform's store.
    fn niji(&self, step: &str, args: &[&str]) -> anyhow::Result<Value> {
        eprintln!("dummy data: {step}");
        let mut command = Command::new(&self.exe);
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("NIJI_") {
                command.env_remove(key);
            }
        }
        let output = command
            .current_dir(&self.dir)
            .arg("--data")
            .arg(&self.dir)
            .args(args)
            .arg("--json")
            .env(crate::secrets::PASSPHRASE, &self.passphrase)
            .env(crate::secrets::ADMIN_PASSWORD, &self.passphrase)
            .stdin(Stdio::null())
            .stderr(Stdio::inherit())
            .output()
            .with_context(|| format!("running niji {}", args[0]))?;
        if !output.status.success() {
            bail!("dummy data: `niji {}` failed ({})", args[0], output.status);
        }
        serde_json::from_slice(&output.stdout)
            .with_context(|| format!("the report of `niji {}`", args[0]))
    }

    /// The whole platform on a synthetic population: the built release's
    /// directory and its build report.
    fn build(&self, twin: &Twin) -> anyhow::Result<(PathBuf, Value)> {
        let Twin {
            name,
            policy,
            levels,
            persons,
            from,
            to,
        } = *twin;
        self.niji("a throwaway platform with keys of its own", &["init"])?;
        let sources = self.dir.join("sources");
        let persons = persons.to_string();
        let out = sources.display().to_string();
        self.niji(
            &format!("a synthetic population of {persons} persons, {from} to {to}"),
            &[
                "synth",
                "--persons",
                &persons,
                "--from",
                from,
                "--to",
                to,
                "--out",
                &out,
            ],
        )?;
        let dirs: Vec<String> = SOURCES
            .iter()
            .map(|d| sources.join(d))
            .filter(|d| d.is_dir())
            .map(|d| d.display().to_string())
            .collect();
        let mut ingest = vec!["ingest"];
        ingest.extend(dirs.iter().map(String::as_str));
        self.niji("ingesting its sources", &ingest)?;
        self.niji("linking its records", &["link"])?;
        let file = self.dir.join("policy.toml");
        std::fs::write(&file, policy).with_context(|| file.display().to_string())?;
        let file = file.display().to_string();
        // The release's own generalization levels, not a search of the
        // synthetic data's: the same value domains.
        let mut build = vec!["release", "build", "--policy", &file, "--name", name];
        if !levels.is_empty() {
            build.extend(["--levels", levels]);
        }
        let report = self.niji("building it with the release's policy and levels", &build)?;
        Ok((self.dir.join("releases").join(name), report))
    }
}

/// Puts the built tree at `target`, replacing what was there: the old tree
/// is moved aside first, so that a reader finds one or the other.
fn install(tree: &Path, target: &Path) -> anyhow::Result<()> {
    niji_query::storage::Release::open(tree)?;
    let old = PathBuf::from(format!("{}.old", target.display()));
    remove(&old);
    if target.exists() {
        niji_query::storage::move_tree(target, &old)?;
    }
    niji_query::storage::move_tree(tree, target)?;
    remove(&old);
    Ok(())
}

fn remove(dir: &Path) {
    if dir.exists() {
        niji_query::storage::remove_tree(dir);
    }
}
