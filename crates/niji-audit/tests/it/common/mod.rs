//! A small signed log for the receipt tests: entries, their tree, and a
//! checkpoint of all of them signed by a key from a fixed seed.
#![allow(dead_code)] // each test crate uses a different part

use niji_audit::entry::{Entry, commitment};
use niji_audit::merkle::{self, MemoryTree};
use niji_audit::note::{Checkpoint, LogKey};
use niji_audit::receipt::Receipt;

pub const ORIGIN: &str = "niji.example/log";

pub struct SignedLog {
    pub key: LogKey,
    pub entries: Vec<Vec<u8>>,
    pub tree: MemoryTree,
    pub checkpoint: Checkpoint,
    pub signed: String,
}

impl SignedLog {
    /// `size` entries (each with a person commitment and non-ASCII text),
    /// signed by the key of `seed`.
    pub fn new(size: u64, seed: u8) -> SignedLog {
        let key = LogKey::from_seed(ORIGIN, &[seed; 32]).unwrap();
        let entries: Vec<Vec<u8>> = (0..size)
            .map(|i| {
                Entry {
                    index: i,
                    at: "2026-11-21 10:00:00".into(),
                    actor: "alice".into(),
                    kind: "analysis.query".into(),
                    subject: "project 1".into(),
                    detail: format!("{{\"sql\":\"SELECT {i}\"}} 日本語"),
                    persons: vec![commitment(b"salt", i)],
                }
                .to_bytes()
            })
            .collect();
        let mut tree = MemoryTree::default();
        for e in &entries {
            tree.push(e);
        }
        let checkpoint = Checkpoint {
            origin: ORIGIN.into(),
            size,
            root: merkle::root(&tree, size).unwrap(),
        };
        let signed = key.sign(&checkpoint.text()).unwrap();
        SignedLog {
            key,
            entries,
            tree,
            checkpoint,
            signed,
        }
    }

    /// The receipt of entry `index`, naming `log_key` as its key.
    pub fn receipt(&self, index: u64, log_key: String) -> Receipt {
        let size = self.checkpoint.size;
        Receipt::new(
            &self.entries[index as usize],
            index,
            size,
            &merkle::inclusion_proof(&self.tree, index, size).unwrap(),
            self.signed.clone(),
            log_key,
        )
    }
}
