//! `niji log verify`.

use super::emit;
use crate::cli::ReportArgs;
use base64::Engine;
use niji_core::Config;
use niji_store::Store;
use serde::Serialize;

#[derive(Serialize)]
struct Verified {
    entries: u64,
    root: String,
    checkpoints: usize,
}

pub fn verify(config: &Config, args: &ReportArgs) -> anyhow::Result<()> {
    let store = Store::open(&config.data)?;
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
