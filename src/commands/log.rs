//! `niji log verify` and `niji log verify-receipt`.

use super::emit;
use crate::cli::{ReportArgs, VerifyReceiptArgs};
use anyhow::Context;
use base64::Engine;
use niji_audit::receipt::Receipt;
use niji_core::Config;
use serde::Serialize;

#[derive(Serialize)]
struct Verified {
    entries: u64,
    root: String,
    checkpoints: usize,
}

pub fn verify(config: &Config, args: &ReportArgs) -> anyhow::Result<()> {
    let store = super::open_store(config)?;
    let entries = store.verify_log()?;
    let checkpoints = store.verify_checkpoints()?;
    let root = base64::engine::general_purpose::STANDARD.encode(store.log_root(entries)?);
    let verified = Verified {
        entries,
        root,
        checkpoints,
    };
    emit(args.json, &verified, |v| {
        format!(
            "access log verified: {} entries, every leaf and subtree as recomputed\n\
             {} checkpoints: each signed, each root the log's, each consistent with the one before\n\
             root: {}\n",
            v.entries, v.checkpoints, v.root
        )
    })
}

#[derive(Serialize)]
struct ReceiptChecked {
    index: u64,
    tree_size: u64,
    origin: String,
    log_key: String,
    /// Whether the key was the one given (`--key`), or the receipt's own.
    key_pinned: bool,
    entry: serde_json::Value,
}

/// Checks a receipt file with niji-audit alone: no store, no server.
pub fn verify_receipt(args: &VerifyReceiptArgs) -> anyhow::Result<()> {
    let path = args.file.display();
    let text =
        std::fs::read_to_string(&args.file).with_context(|| format!("{path}: cannot read"))?;
    let receipt = Receipt::from_json(&text).with_context(|| format!("{path}: not a receipt"))?;
    let key = args.key.clone().unwrap_or_else(|| receipt.log_key.clone());
    let (checkpoint, entry) = receipt
        .verify(key.trim())
        .with_context(|| format!("{path}: the receipt does not verify"))?;
    let checked = ReceiptChecked {
        index: receipt.index,
        tree_size: checkpoint.size,
        origin: checkpoint.origin,
        log_key: key.trim().to_owned(),
        key_pinned: args.key.is_some(),
        entry: serde_json::from_slice(&entry)?,
    };
    emit(args.report.json, &checked, |c| {
        let pinned = if c.key_pinned {
            "the key given".to_owned()
        } else {
            format!(
                "the key the receipt carries, {}: compare it with the log's published key (GET /log/key), or pass --key",
                c.log_key
            )
        };
        format!(
            "receipt verified: entry {} is in the log of {} entries ({}), signed by {}\n{}\n",
            c.index,
            c.tree_size,
            c.origin,
            pinned,
            serde_json::to_string(&c.entry).unwrap_or_default()
        )
    })
}
