//! `niji init`.

use super::{KeyView, emit, key_lines};
use crate::cli::InitArgs;
use crate::secrets::{self, Ask};
use anyhow::Context;
use niji_core::Config;
use niji_store::accounts::generate_password;
use niji_store::{InitOutcome, Store};
use serde::Serialize;

#[derive(Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
enum InitReport {
    Created {
        data_dir: String,
        store: String,
        keys: Vec<KeyView>,
        admin: String,
        /// Present only when niji generated the password: shown this once.
        #[serde(skip_serializing_if = "Option::is_none")]
        admin_password: Option<String>,
    },
    AlreadyInitialized {
        data_dir: String,
        since: String,
    },
}

pub fn run(config: &Config, args: &InitArgs) -> anyhow::Result<()> {
    let dir = &config.data;
    // Look before asking for secrets: a second `init` must change nothing,
    // and must not ask for a passphrase it will not use.
    let url = super::store_url(config);
    if Store::exists_in(dir, url)? {
        let store = Store::open_in(dir, url)?;
        if let Some(since) = store.initialized_at()? {
            return report_existing(args, dir.display().to_string(), since);
        }
    }
    // Gather every secret before creating anything, so a missing one leaves
    // no half-made data directory behind.
    let passphrase = secrets::require(secrets::PASSPHRASE, "new keystore passphrase", Ask::Twice)?;
    niji_store::keystore::check_new_passphrase(&passphrase)?;
    let (admin_password, generated) =
        match secrets::read(secrets::ADMIN_PASSWORD, "admin password", Ask::TwiceOrEmpty)? {
            Some(password) => (password, false),
            None => (generate_password(24)?, true),
        };
    niji_store::accounts::check_new_password(&admin_password).context("admin password")?;

    let mut store = Store::create_in(dir, url)?;
    match store.initialize(&passphrase, &args.admin, &admin_password)? {
        InitOutcome::AlreadyInitialized { since } => {
            report_existing(args, dir.display().to_string(), since)
        }
        InitOutcome::Created(created) => {
            let report = InitReport::Created {
                data_dir: dir.display().to_string(),
                store: store.location().display(),
                keys: created.keys.iter().map(KeyView::from).collect(),
                admin: created.admin.name,
                admin_password: generated.then(|| admin_password.expose().to_owned()),
            };
            emit(args.report.json, &report, text)
        }
    }
}

fn report_existing(args: &InitArgs, data_dir: String, since: String) -> anyhow::Result<()> {
    emit(
        args.report.json,
        &InitReport::AlreadyInitialized { data_dir, since },
        text,
    )
}

fn text(report: &InitReport) -> String {
    match report {
        InitReport::AlreadyInitialized { data_dir, since } => {
            format!("{data_dir} is already initialized (since {since}); nothing was changed.\n")
        }
        InitReport::Created {
            data_dir,
            store,
            keys,
            admin,
            admin_password,
        } => {
            let mut out = format!(
                "Initialized niji in {data_dir}\n\nstore: {store}\nadmin account: {admin}\nkeys (sealed under the passphrase):\n{}",
                key_lines(keys)
            );
            if let Some(password) = admin_password {
                out.push_str(&format!(
                    "\nGenerated admin password, shown only this once; store it now:\n  {password}\n"
                ));
            }
            out
        }
    }
}
