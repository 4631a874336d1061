//! A receipt: what a citizen downloads for one event of the log, and
//! anyone can check without trusting the server.
//!
//! It is a JSON object (`application/json`, UTF-8):
//!
//! | key | value |
//! |---|---|
//! | `format` | `niji-receipt/v1` |
//! | `entry` | the entry's canonical bytes, base64 (see [`crate::entry`]) |
//! | `index` | the entry's position in the log |
//! | `tree_size` | the size of the tree the proof is for (the checkpoint's) |
//! | `inclusion` | the RFC 9162 inclusion proof, base64 hashes from the leaf up |
//! | `checkpoint` | the signed checkpoint (a C2SP signed note) of that size |
//! | `log_key` | the log's verifier key, `name+id+base64(0x01 ‖ Ed25519 key)` |
//!
//! To check one: open the signed note with the verifier key and read the
//! checkpoint's size and root; the size must be `tree_size`; the leaf hash
//! SHA-256(0x00 ‖ entry) with the proof must lead to the root at `index`;
//! and the entry's own `index` must be `index`. The log key is the
//! platform's published one: a receipt whose key is another proves
//! nothing, so a checker compares it with the key it already trusts.

use crate::merkle::{self, Hash, ProofError};
use crate::note::{self, Checkpoint, NoteError};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

/// The `format` of this version.
pub const FORMAT: &str = "niji-receipt/v1";

/// One event, with its proof.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Receipt {
    /// `niji-receipt/v1`.
    pub format: String,
    /// The entry's bytes, base64.
    pub entry: String,
    /// Its index.
    pub index: u64,
    /// The tree size the proof and checkpoint are for.
    pub tree_size: u64,
    /// The inclusion proof, base64 hashes.
    pub inclusion: Vec<String>,
    /// The signed checkpoint.
    pub checkpoint: String,
    /// The log's verifier key.
    pub log_key: String,
}

/// Why a receipt does not check.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReceiptError {
    /// Not a receipt of this format.
    #[error("not a receipt: {0}")]
    Malformed(String),
    /// The checkpoint's signature.
    #[error("checkpoint: {0}")]
    Checkpoint(#[from] NoteError),
    /// The inclusion proof.
    #[error("inclusion proof: {0}")]
    Proof(#[from] ProofError),
}

impl Receipt {
    /// A receipt for `entry` at `index`, proven by `proof` in the tree of
    /// the signed `checkpoint` of `tree_size`.
    pub fn new(
        entry: &[u8],
        index: u64,
        tree_size: u64,
        proof: &[Hash],
        checkpoint: String,
        log_key: String,
    ) -> Receipt {
        Receipt {
            format: FORMAT.into(),
            entry: STANDARD.encode(entry),
            index,
            tree_size,
            inclusion: proof.iter().map(|h| STANDARD.encode(h)).collect(),
            checkpoint,
            log_key,
        }
    }

    /// Reads a receipt file's text.
    pub fn from_json(text: &str) -> Result<Receipt, ReceiptError> {
        let receipt: Receipt =
            serde_json::from_str(text).map_err(|e| ReceiptError::Malformed(e.to_string()))?;
        if receipt.format != FORMAT {
            return Err(ReceiptError::Malformed(format!(
                "format `{}`, not {FORMAT}",
                receipt.format
            )));
        }
        Ok(receipt)
    }

    /// The receipt as its file's text.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Checks it, trusting only `log_key` (the receipt's own key must be
    /// it); returns the checkpoint and the entry's bytes.
    pub fn verify(&self, log_key: &str) -> Result<(Checkpoint, Vec<u8>), ReceiptError> {
        if self.log_key != log_key {
            return Err(ReceiptError::Malformed(
                "signed by another key than the log's".into(),
            ));
        }
        let checkpoint = note::open_checkpoint(&self.checkpoint, log_key)?;
        if checkpoint.size != self.tree_size {
            return Err(ReceiptError::Malformed(format!(
                "the checkpoint is of size {}, the proof of {}",
                checkpoint.size, self.tree_size
            )));
        }
        let entry = STANDARD
            .decode(&self.entry)
            .map_err(|_| ReceiptError::Malformed("the entry is not base64".into()))?;
        let proof = self
            .inclusion
            .iter()
            .map(|h| STANDARD.decode(h))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| ReceiptError::Malformed("a proof hash is not base64".into()))?;
        merkle::verify_inclusion(
            self.index,
            self.tree_size,
            &merkle::leaf_hash(&entry),
            &proof,
            &checkpoint.root,
        )?;
        let value: serde_json::Value = serde_json::from_slice(&entry)
            .map_err(|_| ReceiptError::Malformed("the entry is not JSON".into()))?;
        if value["index"].as_u64() != Some(self.index) {
            return Err(ReceiptError::Malformed(
                "the entry names another index".into(),
            ));
        }
        Ok((checkpoint, entry))
    }
}
