//! `niji release`: build, list, export and re-identify releases.

use super::emit;
use crate::cli::{
    ExportFormat, ReidentifyApproveArgs, ReidentifyCommand, ReidentifyRequestArgs,
    ReleaseBuildArgs, ReleaseCommand, ReleaseExportArgs, ReportArgs,
};
use crate::secrets::{self, Ask};
use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use niji_audit::event::{EventKind, Subject};
use niji_core::Config;
use niji_deid::build::{self, Built, Request, Step};
use niji_deid::policy::{Policy, Tier};
use niji_ingest::{STAGING_FILE, Staging};
use niji_linkage::Tokenizer;
use niji_store::{Account, NewRelease, ReleaseInfo, Store};
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// Where release files live in the data directory.
const RELEASES_DIR: &str = "releases";

pub fn run(config: &Config, command: &ReleaseCommand) -> anyhow::Result<()> {
    match command {
        ReleaseCommand::Build(args) => build_release(config, args),
        ReleaseCommand::List(args) => list(config, args),
        ReleaseCommand::Export(args) => export(config, args),
        ReleaseCommand::Dummy(args) => super::dummy::build(config, args),
        ReleaseCommand::Reidentify(ReidentifyCommand::Request(args)) => request(config, args),
        ReleaseCommand::Reidentify(ReidentifyCommand::Approve(args)) => approve(config, args),
    }
}

/// One table of the report: what other tools read.
#[derive(Serialize)]
struct TableView {
    name: String,
    rows: u64,
    quasi_identifiers: Vec<String>,
    sensitive_attributes: Vec<String>,
    /// The smallest class of persons sharing the quasi-identifiers; for an
    /// event table, that of the persons its rows belong to.
    k: u64,
    /// The fewest distinct sensitive values in a class.
    l: Option<u64>,
}

#[derive(Serialize)]
struct RiskView {
    k: u64,
    l_distinct: Option<u64>,
    l_entropy: Option<f64>,
    classes: u64,
    /// Classes by size, keyed by each bucket's lower bound.
    class_sizes: BTreeMap<String, u64>,
    prosecutor_risk_max: f64,
    prosecutor_risk_average: f64,
    journalist_risk_max: Option<f64>,
    journalist_risk_average: Option<f64>,
    persons_suppressed: u64,
    values_suppressed: u64,
    rare_codes_removed: Vec<RareView>,
}

#[derive(Serialize)]
struct RareView {
    table: String,
    column: String,
    values: Vec<String>,
    rows: u64,
}

#[derive(Serialize)]
struct UtilityView {
    information_loss: f64,
    discernibility: f64,
    average_class_size: f64,
    lattice_nodes: usize,
    nodes_evaluated: usize,
}

/// The build report; also the manifest kept in the store.
#[derive(Serialize)]
struct BuildReport {
    name: String,
    tier: &'static str,
    file: String,
    policy_sha256: String,
    description: String,
    sources: Vec<String>,
    reference_date: String,
    built_by: String,
    persons: u64,
    opted_out_excluded: u64,
    tables: Vec<TableView>,
    /// Each quasi-identifier's level and its hierarchy's height.
    levels: BTreeMap<String, (u8, u8)>,
    risk: RiskView,
    utility: Option<UtilityView>,
    source_batches: Vec<i64>,
}

fn sha256_hex(bytes: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, bytes)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub(super) fn check_name(name: &str) -> anyhow::Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if !ok {
        bail!(
            "release name `{name}`: use lower-case letters, digits, - and _, starting with a letter"
        );
    }
    Ok(())
}

fn operator() -> String {
    match std::env::var("USER") {
        Ok(user) if !user.is_empty() => format!("operator ({user})"),
        _ => "operator".to_owned(),
    }
}

/// `--levels age=2,sex=0`: each quasi-identifier's generalization level.
fn parse_levels(text: &str) -> anyhow::Result<BTreeMap<String, u8>> {
    text.split(',')
        .filter(|pair| !pair.trim().is_empty())
        .map(|pair| {
            let (column, level) = pair
                .split_once('=')
                .with_context(|| format!("--levels: `{pair}` is not COLUMN=LEVEL"))?;
            let level: u8 = level
                .trim()
                .parse()
                .with_context(|| format!("--levels: `{pair}`: the level is a number 0 to 255"))?;
            Ok((column.trim().to_owned(), level))
        })
        .collect()
}

fn step_message(step: &Step) -> String {
    match step {
        Step::Scope => "selecting records in scope".into(),
        Step::Persons => "deriving person attributes".into(),
        Step::Search => "searching generalization levels".into(),
        Step::Table(t) => format!("writing table {t}"),
        Step::Finish => "closing the release file".into(),
    }
}

fn build_release(config: &Config, args: &ReleaseBuildArgs) -> anyhow::Result<()> {
    check_name(&args.name)?;
    let text =
        std::fs::read_to_string(&args.policy).with_context(|| args.policy.display().to_string())?;
    let policy = Policy::parse(&text, &args.policy.display().to_string())?;
    let levels = args.levels.as_deref().map(parse_levels).transpose()?;
    let mut store = super::open_store(config)?;
    let content = config.data.join(STAGING_FILE);
    if !content.exists() {
        bail!(
            "{}: no staging store; run `niji ingest` and `niji link` before building a release",
            content.display()
        );
    }
    if store.release(&args.name)?.is_some() {
        bail!("a release named `{}` exists", args.name);
    }
    let passphrase = secrets::require(secrets::PASSPHRASE, "keystore passphrase", Ask::Once)?;
    let keystore = store.unlock(&passphrase)?;
    let dir = config.data.join(RELEASES_DIR);
    std::fs::create_dir_all(&dir).with_context(|| dir.display().to_string())?;
    // The release is a directory of Parquet (niji_query::storage),
    // published from the build's DuckDB working file, which goes after.
    let file = format!("{RELEASES_DIR}/{}", args.name);
    let out = config.data.join(&file);
    if out.exists() {
        bail!(
            "{}: exists; a release's files are never replaced",
            out.display()
        );
    }
    let work = config
        .data
        .join(format!("{RELEASES_DIR}/{}.work.duckdb", args.name));
    remove_release_file(&work);
    // The release's own pseudonym key: random, used for this build only.
    // A pseudonymized release's is sealed under the escrow key; an
    // anonymized release's is dropped, so its pseudonyms lead nowhere.
    let mut key_bytes = Zeroizing::new([0u8; 32]);
    SystemRandom::new()
        .fill(key_bytes.as_mut())
        .map_err(|_| anyhow::anyhow!("the system random source failed"))?;
    let key = hmac::Key::new(hmac::HMAC_SHA256, key_bytes.as_ref());
    let opted_out = store.opt_outs()?;
    let bar = ProgressBar::new_spinner()
        .with_style(ProgressStyle::with_template("{spinner} {elapsed} {msg}")?);
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    let built = build::build(
        &Request {
            policy: &policy,
            content: &content,
            out: &work,
            key: &key,
            opted_out: &opted_out,
            levels: levels.as_ref(),
        },
        &mut |step| bar.set_message(step_message(&step)),
    );
    let built = built.map_err(anyhow::Error::from).and_then(|built| {
        bar.set_message("writing the release's Parquet files");
        niji_query::storage::publish(&work, &out, &args.name, &policy.partitions())?;
        Ok(built)
    });
    bar.finish_and_clear();
    remove_release_file(&work);
    let built = built?;
    let report = report(&args.name, &file, &policy, &text, &built);
    let manifest = serde_json::to_string(&report)?;
    let pseudonymized = policy.release.tier == Tier::Pseudonymized;
    let recorded = (|| {
        let tags = if pseudonymized {
            disclosure_tags(&store, &keystore, &args.name, &key, &built.members)?
        } else {
            Vec::new()
        };
        store.add_release(
            &keystore,
            &NewRelease {
                name: &args.name,
                tier: policy.release.tier.as_str(),
                policy_sha256: &report.policy_sha256,
                policy: &text,
                file: &file,
                built_by: &report.built_by,
                manifest: &manifest,
                members: &built.members,
                escrow: pseudonymized.then_some(&key_bytes[..]),
                tags: &tags,
            },
        )
    })();
    if let Err(e) = recorded {
        // A release the store does not know must not stay on disk.
        niji_query::storage::remove_tree(&out);
        return Err(e.into());
    }
    tracing::info!(release = %args.name, tier = report.tier, persons = report.persons, "release built");
    emit(args.report.json, &report, text_report)
}

/// Each member's disclosure tag, in tag order: what lets a row-level
/// result of a pseudonymized release tell whom it showed.
fn disclosure_tags(
    store: &Store,
    keystore: &niji_store::Keystore,
    release: &str,
    key: &hmac::Key,
    members: &[i64],
) -> Result<Vec<([u8; 32], i64)>, niji_store::StoreError> {
    let linkage = Tokenizer::new(store.open_key(keystore, "linkage")?.hmac_key()?);
    let mut tags: Vec<([u8; 32], i64)> = members
        .iter()
        .map(|&k| {
            (
                linkage.disclosure_tag(release, &build::pseudonym(key, k)),
                k,
            )
        })
        .collect();
    tags.sort_unstable();
    Ok(tags)
}

fn remove_release_file(path: &Path) {
    if let Ok(meta) = std::fs::metadata(path) {
        let mut permissions = meta.permissions();
        #[allow(clippy::permissions_set_readonly_false)]
        permissions.set_readonly(false);
        let _ = std::fs::set_permissions(path, permissions);
    }
    let _ = std::fs::remove_file(path);
}

fn report(name: &str, file: &str, policy: &Policy, text: &str, built: &Built) -> BuildReport {
    let r = &built.risk;
    let person_k = r.k;
    let tables = built
        .tables
        .iter()
        .map(|(table, rows)| {
            let (quasi, sensitive) = if table == "persons" {
                (
                    built.quasi_identifiers.clone(),
                    built.sensitive_attributes.clone(),
                )
            } else {
                let spec = policy
                    .tables
                    .iter()
                    .map(|t| t.get_ref())
                    .find(|t| &t.name == table);
                let with = |role| -> Vec<String> {
                    spec.map(|t| {
                        t.columns
                            .iter()
                            .map(|c| c.get_ref())
                            .filter(|c| c.role == role)
                            .map(|c| c.name.clone())
                            .collect()
                    })
                    .unwrap_or_default()
                };
                (
                    with(niji_deid::policy::Role::Quasi),
                    with(niji_deid::policy::Role::Sensitive),
                )
            };
            TableView {
                name: table.clone(),
                rows: *rows,
                quasi_identifiers: quasi,
                sensitive_attributes: sensitive,
                k: person_k,
                l: r.l_distinct,
            }
        })
        .collect();
    let values_suppressed = built.rare_codes.iter().map(|c| c.rows).sum();
    BuildReport {
        name: name.to_owned(),
        tier: policy.release.tier.as_str(),
        file: file.to_owned(),
        policy_sha256: sha256_hex(text.as_bytes()),
        description: policy.release.description.clone(),
        sources: policy.release.sources.get_ref().clone(),
        reference_date: policy.release.reference_date.clone(),
        built_by: operator(),
        persons: built.persons,
        opted_out_excluded: built.opted_out,
        tables,
        levels: built
            .levels
            .iter()
            .map(|l| (l.column.clone(), (l.level, l.height)))
            .collect(),
        risk: RiskView {
            k: r.k,
            l_distinct: r.l_distinct,
            l_entropy: r.l_entropy,
            classes: r.classes,
            class_sizes: r
                .class_sizes
                .iter()
                .map(|(b, n)| (b.to_string(), *n))
                .collect(),
            prosecutor_risk_max: r.prosecutor.max,
            prosecutor_risk_average: r.prosecutor.average,
            journalist_risk_max: r.journalist.as_ref().map(|j| j.max),
            journalist_risk_average: r.journalist.as_ref().map(|j| j.average),
            persons_suppressed: built.suppressed,
            values_suppressed,
            rare_codes_removed: built
                .rare_codes
                .iter()
                .map(|c| RareView {
                    table: c.table.clone(),
                    column: c.column.clone(),
                    values: c.values.clone(),
                    rows: c.rows,
                })
                .collect(),
        },
        utility: match (&built.verdict, built.search) {
            (Some(v), Some((lattice, evaluated))) => Some(UtilityView {
                information_loss: v.information_loss,
                discernibility: v.discernibility,
                average_class_size: v.average_class_size,
                lattice_nodes: lattice,
                nodes_evaluated: evaluated,
            }),
            _ => None,
        },
        source_batches: built.batches.clone(),
    }
}

fn text_report(r: &BuildReport) -> String {
    let mut out = format!(
        "release {} ({}) built: {} persons, {}\n",
        r.name, r.tier, r.persons, r.file
    );
    if r.opted_out_excluded > 0 {
        out += &format!("  {} persons left out: opted out\n", r.opted_out_excluded);
    }
    for t in &r.tables {
        out += &format!("  table {:<16} {:>10} rows\n", t.name, t.rows);
    }
    if !r.levels.is_empty() {
        let levels: Vec<String> = r
            .levels
            .iter()
            .map(|(c, (l, h))| format!("{c} {l}/{}", h - 1))
            .collect();
        out += &format!("  generalization: {}\n", levels.join(", "));
    }
    let risk = &r.risk;
    out += &format!("  k = {}", risk.k);
    if let Some(l) = risk.l_distinct {
        out += &format!(", l = {l}");
    }
    out += &format!(
        ", {} classes; prosecutor risk max {:.3} avg {:.4}",
        risk.classes, risk.prosecutor_risk_max, risk.prosecutor_risk_average
    );
    if let (Some(max), Some(avg)) = (risk.journalist_risk_max, risk.journalist_risk_average) {
        out += &format!("; journalist max {max:.3} avg {avg:.4}");
    }
    out += "\n";
    if risk.persons_suppressed > 0 || risk.values_suppressed > 0 {
        out += &format!(
            "  suppressed: {} persons, {} values ({} rare codes)\n",
            risk.persons_suppressed,
            risk.values_suppressed,
            risk.rare_codes_removed
                .iter()
                .map(|c| c.values.len())
                .sum::<usize>()
        );
    }
    if let Some(u) = &r.utility {
        out += &format!(
            "  information loss {:.4}, discernibility {:.0}, average class {:.1} ({} of {} lattice nodes evaluated)\n",
            u.information_loss,
            u.discernibility,
            u.average_class_size,
            u.nodes_evaluated,
            u.lattice_nodes
        );
    }
    out
}

#[derive(Serialize)]
struct ReleaseView {
    name: String,
    tier: String,
    persons: i64,
    file: String,
    policy_sha256: String,
    built_by: String,
    built_at: String,
}

impl From<&ReleaseInfo> for ReleaseView {
    fn from(r: &ReleaseInfo) -> Self {
        ReleaseView {
            name: r.name.clone(),
            tier: r.tier.clone(),
            persons: r.persons,
            file: r.file.clone(),
            policy_sha256: r.policy_sha256.clone(),
            built_by: r.built_by.clone(),
            built_at: r.built_at.clone(),
        }
    }
}

fn list(config: &Config, args: &ReportArgs) -> anyhow::Result<()> {
    let releases: Vec<ReleaseView> = super::open_store(config)?
        .releases()?
        .iter()
        .map(Into::into)
        .collect();
    emit(args.json, &releases, |releases| {
        if releases.is_empty() {
            return "no releases; build one with `niji release build --policy FILE --name NAME`\n"
                .to_owned();
        }
        releases
            .iter()
            .map(|r| {
                format!(
                    "  {:<24} {:<14} {:>9} persons  built {} by {}\n",
                    r.name, r.tier, r.persons, r.built_at, r.built_by
                )
            })
            .collect()
    })
}

#[derive(Serialize)]
struct ExportView {
    release: String,
    format: &'static str,
    dir: String,
    files: Vec<String>,
}

fn export(config: &Config, args: &ReleaseExportArgs) -> anyhow::Result<()> {
    let store = super::open_store(config)?;
    let info = store
        .release(&args.name)?
        .with_context(|| format!("no release `{}`", args.name))?;
    if args.out.exists()
        && std::fs::read_dir(&args.out)
            .with_context(|| args.out.display().to_string())?
            .next()
            .is_some()
    {
        bail!(
            "{}: not empty; export into a new or empty directory",
            args.out.display()
        );
    }
    // Written beside the target and renamed when complete.
    let partial = PathBuf::from(format!("{}.partial", args.out.display()));
    let _ = std::fs::remove_dir_all(&partial);
    std::fs::create_dir_all(&partial).with_context(|| partial.display().to_string())?;
    let written = write_export(&config.data.join(&info.file), &partial, args.format);
    let files = match written {
        Ok(files) => files,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&partial);
            return Err(e);
        }
    };
    if args.out.exists() {
        std::fs::remove_dir(&args.out).with_context(|| args.out.display().to_string())?;
    }
    std::fs::rename(&partial, &args.out).with_context(|| args.out.display().to_string())?;
    let format = match args.format {
        ExportFormat::Parquet => "parquet",
        ExportFormat::Csv => "csv",
    };
    store.audit(
        &operator(),
        EventKind::ReleaseExport,
        Subject::Release(&info.name),
        &format!("{} tables as {format}", files.len()),
    )?;
    let view = ExportView {
        release: info.name,
        format,
        dir: args.out.display().to_string(),
        files,
    };
    emit(args.report.json, &view, |v| {
        format!(
            "release {} exported as {}: {} files in {}\n",
            v.release,
            v.format,
            v.files.len(),
            v.dir
        )
    })
}

fn write_export(release: &Path, dir: &Path, format: ExportFormat) -> anyhow::Result<Vec<String>> {
    let conn = duckdb::Connection::open_in_memory()?;
    conn.execute_batch(
        "SET autoinstall_known_extensions = false; SET autoload_known_extensions = false;",
    )?;
    let mut files = Vec::new();
    for (table, source) in release_tables(&conn, release)? {
        let name = match format {
            ExportFormat::Parquet => format!("{table}.parquet"),
            ExportFormat::Csv => format!("{table}.csv"),
        };
        let file = dir.join(&name);
        match format {
            ExportFormat::Parquet => write_parquet(&conn, &source, &file),
            ExportFormat::Csv => {
                let path = file.display().to_string().replace('\'', "''");
                conn.execute_batch(&format!(
                    "COPY ({source}) TO '{path}' (FORMAT csv, HEADER true)"
                ))
                .map_err(Into::into)
            }
        }
        .with_context(|| format!("exporting table {table} to {}", file.display()))?;
        files.push(name);
    }
    Ok(files)
}

/// Each table of release `release` with the query reading its columns,
/// less the hidden person bucket and person index (aids to the analysis
/// API, not release content), in table order. A release directory is read
/// from its Parquet files; a single-file release of an older platform is
/// attached read-only.
fn release_tables(
    conn: &duckdb::Connection,
    release: &Path,
) -> anyhow::Result<Vec<(String, String)>> {
    let quote = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    let shown = |columns: Vec<String>| -> Vec<String> {
        columns
            .into_iter()
            .filter(|c| !niji_query::storage::is_hidden(c))
            .map(|c| quote(&c))
            .collect()
    };
    let mut out = Vec::new();
    if niji_query::storage::is_release_dir(release) {
        let opened = niji_query::storage::Release::open(release)?;
        let mut tables: Vec<_> = opened.manifest.tables.iter().collect();
        tables.sort_by(|a, b| a.name.cmp(&b.name));
        for t in tables {
            let columns = shown(t.columns.iter().map(|c| c.name.clone()).collect());
            out.push((
                t.name.clone(),
                format!(
                    "SELECT {} FROM {}",
                    columns.join(", "),
                    opened.duckdb_scan(t)
                ),
            ));
        }
        return Ok(out);
    }
    conn.execute_batch(&format!(
        "ATTACH '{}' AS release (READ_ONLY)",
        release.display().to_string().replace('\'', "''")
    ))
    .with_context(|| release.display().to_string())?;
    // Release content is schema `main`; schema `niji` holds the platform's
    // own figures (`niji_core::person_rows`), which are not exported.
    let mut stmt = conn.prepare(
        "SELECT table_name, list(column_name ORDER BY column_index) FROM duckdb_columns() \
         WHERE database_name = 'release' AND schema_name = 'main' \
         GROUP BY table_name ORDER BY table_name",
    )?;
    let tables: Vec<(String, Vec<String>)> = stmt
        .query_map([], |r| {
            let columns = match r.get::<_, duckdb::types::Value>(1)? {
                duckdb::types::Value::List(items) => items
                    .into_iter()
                    .filter_map(|v| match v {
                        duckdb::types::Value::Text(t) => Some(t),
                        _ => None,
                    })
                    .collect(),
                _ => Vec::new(),
            };
            Ok((r.get(0)?, columns))
        })?
        .collect::<Result<_, _>>()?;
    for (table, columns) in tables {
        let source = format!(
            "SELECT {} FROM release.main.{}",
            shown(columns).join(", "),
            quote(&table)
        );
        out.push((table, source));
    }
    Ok(out)
}

/// One query's rows as Parquet (Snappy), through Arrow.
fn write_parquet(conn: &duckdb::Connection, source: &str, file: &Path) -> anyhow::Result<()> {
    let mut stmt = conn.prepare(source)?;
    let arrow = stmt.query_arrow([])?;
    let schema = arrow.get_schema();
    let out = std::fs::File::create(file)?;
    let props = parquet::file::properties::WriterProperties::builder()
        .set_compression(parquet::basic::Compression::SNAPPY)
        .build();
    let mut writer = parquet::arrow::ArrowWriter::try_new(out, schema, Some(props))?;
    for batch in arrow {
        writer.write(&batch)?;
    }
    writer.close()?;
    Ok(())
}

/// Logs in an admin with the password from NIJI_ADMIN_PASSWORD or a prompt.
fn admin_login(store: &Store, name: &str) -> anyhow::Result<Account> {
    let password = secrets::require(
        secrets::ADMIN_PASSWORD,
        &format!("password of {name}"),
        Ask::Once,
    )?;
    match store.check_login(name, &password)? {
        Some(account) => Ok(account),
        None => {
            store.audit(
                name,
                EventKind::LoginFailed,
                Subject::Reidentification,
                "wrong account or password",
            )?;
            bail!("login failed for `{name}`")
        }
    }
}

#[derive(Serialize)]
struct RequestView {
    id: i64,
    release: String,
    pseudonym: String,
    reason: String,
    requested_by: String,
    approved_by: Option<String>,
}

impl From<niji_store::Reidentification> for RequestView {
    fn from(r: niji_store::Reidentification) -> Self {
        RequestView {
            id: r.id,
            release: r.release,
            pseudonym: r.pseudonym,
            reason: r.reason,
            requested_by: r.requested_by,
            approved_by: r.approved_by,
        }
    }
}

fn request(config: &Config, args: &ReidentifyRequestArgs) -> anyhow::Result<()> {
    let store = super::open_store(config)?;
    let admin = admin_login(&store, &args.admin)?;
    let view: RequestView = store
        .request_reidentification(&args.release, &args.pseudonym, &args.reason, &admin)?
        .into();
    emit(args.report.json, &view, |v| {
        format!(
            "re-identification request {} filed by {}; a second admin approves it with `niji release reidentify approve {} --as ACCOUNT`\n",
            v.id, v.requested_by, v.id
        )
    })
}

#[derive(Serialize)]
struct SourceView {
    facility: Option<String>,
    source: String,
    file: String,
    locator: String,
}

#[derive(Serialize)]
struct OpenedView {
    request: RequestView,
    /// Where the person's records came from: facility and record locator,
    /// never a name.
    records: Vec<SourceView>,
}

fn approve(config: &Config, args: &ReidentifyApproveArgs) -> anyhow::Result<()> {
    let store = super::open_store(config)?;
    let admin = admin_login(&store, &args.admin)?;
    let passphrase = secrets::require(secrets::PASSPHRASE, "keystore passphrase", Ask::Once)?;
    let keystore = store.unlock(&passphrase)?;
    let (request, key_bytes) = store.approve_reidentification(&keystore, args.id, &admin)?;
    let info = store
        .release(&request.release)?
        .with_context(|| format!("no release `{}`", request.release))?;
    let key = hmac::Key::new(hmac::HMAC_SHA256, &key_bytes);
    let person = store
        .release_members(info.release_id)?
        .into_iter()
        .find(|&k| build::pseudonym(&key, k) == request.pseudonym);
    // Only the records the release drew on: the person's other records
    // were never part of it.
    let manifest: serde_json::Value = serde_json::from_str(&info.manifest)?;
    let sources: Vec<&str> = manifest["sources"]
        .as_array()
        .map(|s| s.iter().filter_map(|v| v.as_str()).collect())
        .unwrap_or_default();
    let records: Vec<_> = match person {
        Some(person_key) => Staging::open_waiting(&config.data, niji_core::busy::COMMAND_WAIT)?
            .source_records(person_key)?
            .into_iter()
            .filter(|r| sources.contains(&r.source.as_str()))
            .collect(),
        None => Vec::new(),
    };
    // The person it found is named by commitment: their own view lists
    // the step, and no one else's does.
    store.audit_persons(
        &admin.name,
        EventKind::ReidentificationResult,
        Subject::Release(&info.name),
        &format!("request {}: {} source records", request.id, records.len()),
        person.as_slice(),
    )?;
    let view = OpenedView {
        request: request.into(),
        records: records
            .into_iter()
            .map(|r| SourceView {
                facility: r.facility,
                source: r.source,
                file: r.file,
                locator: r.locator,
            })
            .collect(),
    };
    emit(args.report.json, &view, |v| {
        if v.records.is_empty() {
            return format!(
                "request {}: the pseudonym is not in release {}\n",
                v.request.id, v.request.release
            );
        }
        let mut out = format!(
            "request {} approved by {}; source records:\n",
            v.request.id, args.admin
        );
        for r in &v.records {
            out += &format!(
                "  facility {}  {}  {}  {}\n",
                r.facility.as_deref().unwrap_or("-"),
                r.source,
                r.file,
                r.locator
            );
        }
        out
    })
}
