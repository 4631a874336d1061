//! What every request handler shares.

use niji_ingest::Staging;
use niji_linkage::Tokenizer;
use niji_store::Store;
use std::sync::{Arc, Mutex};

/// The server's state: the control-plane store, the staging store and the
/// linkage tokenizer. Cheap to clone (one `Arc`).
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    /// DuckDB connections are not `Sync`; each store has one writer.
    pub store: Mutex<Store>,
    pub staging: Mutex<Staging>,
    pub tokenizer: Tokenizer,
}

impl AppState {
    /// The state over an open store, staging store and tokenizer.
    pub fn new(store: Store, staging: Staging, tokenizer: Tokenizer) -> Self {
        AppState {
            inner: Arc::new(Inner {
                store: Mutex::new(store),
                staging: Mutex::new(staging),
                tokenizer,
            }),
        }
    }

    pub(crate) fn inner(&self) -> Arc<Inner> {
        Arc::clone(&self.inner)
    }
}
