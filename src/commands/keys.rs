//! `niji keys …`.

use super::{KeyView, emit, key_lines};
use crate::cli::ReportArgs;
use crate::secrets::{self, Ask};
use niji_core::Config;
use serde::Serialize;

#[derive(Serialize)]
struct VerifyReport {
    data_dir: String,
    unlocked: bool,
    keys: Vec<KeyView>,
}

#[derive(Serialize)]
struct PassphraseReport {
    data_dir: String,
    rewrapped: usize,
}

/// `niji keys verify`: unlock, then open every key as its kind.
pub fn verify(config: &Config, args: &ReportArgs) -> anyhow::Result<()> {
    let store = super::open_store(config)?;
    let passphrase = secrets::require(secrets::PASSPHRASE, "keystore passphrase", Ask::Once)?;
    let keystore = store.unlock(&passphrase)?;
    let keys = store.verify_keys(&keystore)?;
    let report = VerifyReport {
        data_dir: config.data.display().to_string(),
        unlocked: true,
        keys: keys.iter().map(KeyView::from).collect(),
    };
    emit(args.json, &report, |r| {
        format!(
            "keystore unlocked; all {} keys open:\n{}",
            r.keys.len(),
            key_lines(&r.keys)
        )
    })
}

/// `niji keys passphrase`: re-wrap every key under a new passphrase.
pub fn passphrase(config: &Config, args: &ReportArgs) -> anyhow::Result<()> {
    let mut store = super::open_store(config)?;
    let old = secrets::require(
        secrets::PASSPHRASE,
        "current keystore passphrase",
        Ask::Once,
    )?;
    // Unlock first, so a wrong current passphrase is told before the new one
    // is asked for.
    store.unlock(&old)?;
    let new = secrets::require(
        secrets::NEW_PASSPHRASE,
        "new keystore passphrase",
        Ask::Twice,
    )?;
    let rewrapped = store.change_passphrase(&old, &new)?;
    let report = PassphraseReport {
        data_dir: config.data.display().to_string(),
        rewrapped,
    };
    emit(args.json, &report, |r| {
        format!("re-wrapped {} keys under the new passphrase\n", r.rewrapped)
    })
}

#[derive(Serialize)]
struct ImportReport {
    data_dir: String,
    key: KeyView,
}

/// `niji keys import NAME`: seal a secret another party issued.
pub fn import(config: &Config, args: &crate::cli::ImportArgs) -> anyhow::Result<()> {
    let mut store = super::open_store(config)?;
    let passphrase = secrets::require(secrets::PASSPHRASE, "keystore passphrase", Ask::Once)?;
    let keystore = store.unlock(&passphrase)?;
    let secret = secrets::require(secrets::CLIENT_SECRET, "secret to keep", Ask::Once)?;
    let info = store.import_secret(&keystore, &args.name, &secret)?;
    let report = ImportReport {
        data_dir: config.data.display().to_string(),
        key: KeyView::from(&info),
    };
    emit(args.report.json, &report, |r| {
        format!("kept `{}` ({}) in the keystore\n", r.key.name, r.key.kind)
    })
}
