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
}

pub fn verify(config: &Config, args: &ReportArgs) -> anyhow::Result<()> {
    let store = Store::open(&config.data)?;
    let entries = store.verify_log()?;
    let root = base64::engine::general_purpose::STANDARD.encode(store.log_root(entries)?);
    emit(args.json, &Verified { entries, root }, |v| {
        format!(
            "access log verified: {} entries, every leaf and subtree as recomputed\nroot: {}\n",
            v.entries, v.root
        )
    })
}
