//! `niji store migrate`: the platform's control plane copied to another
//! backend (`niji_store::Store::copy_to`).

use super::emit;
use crate::cli::StoreMigrateArgs;
use niji_core::Config;
use niji_store::{Location, STORE_FILE};
use serde::Serialize;

#[derive(Serialize)]
struct Migrated {
    from: String,
    to: String,
    tables: Vec<Table>,
    log_entries: u64,
    checkpoints: usize,
    next: String,
}

#[derive(Serialize)]
struct Table {
    name: String,
    rows: u64,
}

/// The target: a PostgreSQL URL, or the data directory's SQLite file.
fn target(config: &Config, to: &str) -> anyhow::Result<Location> {
    let to = to.trim();
    if to == "sqlite" {
        return Ok(Location::Sqlite(config.data.join(STORE_FILE)));
    }
    if to.starts_with("postgres://") || to.starts_with("postgresql://") {
        return Ok(Location::Postgres(to.to_owned()));
    }
    // Not echoed: it may hold a password.
    anyhow::bail!("--to: expected `sqlite` or a postgres:// URL")
}

pub fn migrate(config: &Config, args: &StoreMigrateArgs) -> anyhow::Result<()> {
    let to = target(config, &args.to)?;
    let store = super::open_store(config)?;
    let from = store.location().display();
    let mut last = String::new();
    let copied = store.copy_to(&to, |table, rows| {
        if table != last {
            last = table.to_owned();
            tracing::info!(table, "copying");
        }
        tracing::debug!(table, rows, "rows copied");
    })?;
    let next = match &to {
        Location::Postgres(_) => {
            "point every niji at it: `store = \"postgres://…\"` in niji.toml (or NIJI_STORE)"
                .to_owned()
        }
        _ => format!(
            "niji now opens {}; keep the old store until you have checked the platform, then remove it",
            to.display()
        ),
    };
    let report = Migrated {
        from,
        to: copied.target,
        tables: copied
            .tables
            .into_iter()
            .map(|(name, rows)| Table { name, rows })
            .collect(),
        log_entries: copied.log_entries,
        checkpoints: copied.checkpoints,
        next,
    };
    emit(args.report.json, &report, |r| {
        let rows: u64 = r.tables.iter().map(|t| t.rows).sum();
        format!(
            "copied {} tables ({rows} rows) from {} to {}\n\
             access log verified there: {} entries, {} checkpoints\n\
             next: {}\n",
            r.tables.len(),
            r.from,
            r.to,
            r.log_entries,
            r.checkpoints,
            r.next
        )
    })
}
