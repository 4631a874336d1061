//! `niji status`.

use super::{KeyView, emit, key_lines};
use crate::cli::ReportArgs;
use niji_core::Config;
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Serialize)]
struct StatusReport {
    data_dir: String,
    store: String,
    initialized_at: Option<String>,
    migrations: Vec<MigrationView>,
    keys: Vec<KeyView>,
    accounts: BTreeMap<&'static str, usize>,
}

#[derive(Serialize)]
struct MigrationView {
    version: u32,
    name: String,
    sha256: String,
    applied_at: String,
}

pub fn run(config: &Config, args: &ReportArgs) -> anyhow::Result<()> {
    let status = super::open_store(config)?.status()?;
    let report = StatusReport {
        data_dir: status.dir.display().to_string(),
        store: status.location.clone(),
        initialized_at: status.initialized_at,
        migrations: status
            .migrations
            .into_iter()
            .map(|m| MigrationView {
                version: m.version,
                name: m.name,
                sha256: m.checksum,
                applied_at: m.applied_at,
            })
            .collect(),
        keys: status.keys.iter().map(KeyView::from).collect(),
        accounts: status
            .accounts
            .into_iter()
            .map(|(role, n)| (role.as_str(), n))
            .collect(),
    };
    emit(args.json, &report, text)
}

fn text(r: &StatusReport) -> String {
    let initialized = r
        .initialized_at
        .as_deref()
        .map_or("no: run `niji init`".to_owned(), |t| format!("since {t}"));
    let migrations: String = r
        .migrations
        .iter()
        .map(|m| format!("  {:<32} applied {}\n", m.name, m.applied_at))
        .collect();
    let accounts: Vec<String> = r
        .accounts
        .iter()
        .map(|(role, n)| format!("{role} {n}"))
        .collect();
    format!(
        "data directory: {}\nstore: {}\ninitialized: {initialized}\nmigrations:\n{migrations}keys:\n{}accounts: {}\n",
        r.data_dir,
        r.store,
        key_lines(&r.keys),
        accounts.join(", ")
    )
}
