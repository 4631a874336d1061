//! One module per command. Each turns the command's arguments into calls on
//! the domain crates and prints a report, as text or (with `--json`) as one
//! JSON document on standard output.

pub mod accounts;
pub mod demo;
pub mod dummy;
pub mod ingest;
pub mod init;
pub mod keys;
pub mod link;
pub mod log;
pub mod release;
pub mod serve;
pub mod sources;
pub mod status;
pub mod store;
pub mod synth;

use niji_core::config::{Config, StoreUrl};
use niji_store::{KeyInfo, Store};
use serde::Serialize;

/// The configured store's URL, if one is configured (`store`).
fn store_url(config: &Config) -> Option<&str> {
    config.store.as_ref().map(StoreUrl::expose)
}

/// Opens the configured control plane, which must exist.
fn open_store(config: &Config) -> Result<Store, niji_store::StoreError> {
    Store::open_in(&config.data, store_url(config))
}

/// Prints a report: `value` as JSON, or the text `text` builds.
fn emit<T: Serialize>(
    json: bool,
    value: &T,
    text: impl FnOnce(&T) -> String,
) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(value)?);
    } else {
        print!("{}", text(value));
    }
    Ok(())
}

/// A key as reports show it: never its material.
#[derive(Serialize)]
struct KeyView {
    name: String,
    kind: &'static str,
    created_at: String,
}

impl From<&KeyInfo> for KeyView {
    fn from(key: &KeyInfo) -> Self {
        Self {
            name: key.name.clone(),
            kind: key.kind.as_str(),
            created_at: key.created_at.clone(),
        }
    }
}

fn key_lines(keys: &[KeyView]) -> String {
    keys.iter()
        .map(|k| format!("  {:<20} {:<20} {}\n", k.name, k.kind, k.created_at))
        .collect()
}
