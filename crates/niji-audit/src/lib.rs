/*!
The verifiable access log: one Merkle tree over every audit event, hashed as
RFC 6962 / RFC 9162 say (SHA-256; a leaf is `H(0x00 ‖ entry)`, a node
`H(0x01 ‖ left ‖ right)`), with the proofs that let anyone check that an
entry is in the log ([`merkle::inclusion_proof`], [`merkle::verify_inclusion`])
and that a later tree extends an earlier one ([`merkle::consistency_proof`],
[`merkle::verify_consistency`]).

Each entry's leaf covers its canonical bytes ([`entry::Entry::to_bytes`],
documented there); an entry names no person, and ties to one only through a
salted commitment ([`entry::commitment`]) that person's lookup can
recompute.

A checkpoint ([`note::Checkpoint`]) states the tree's size and root; the log
signs it as a C2SP signed note with its Ed25519 key ([`note::LogKey`]), and
anyone holding the verifier key can check it ([`note::open_checkpoint`]).

A receipt ([`receipt::Receipt`], its file format documented there) carries
one entry, its inclusion proof, a signed checkpoint and the log's key, so
that a citizen can check their event without trusting the server.

Proofs are produced from the hashes of complete subtrees — the aligned
ranges of 2^k leaves — which a log keeps as it grows ([`merkle::Subtrees`]),
so that a proof reads O(log n) of them, never the whole log.

```
use niji_audit::merkle::{self, MemoryTree};

let mut tree = MemoryTree::default();
for entry in [b"first".as_slice(), b"second", b"third"] {
    tree.push(entry);
}
let root = merkle::root(&tree, 3)?;
let proof = merkle::inclusion_proof(&tree, 1, 3)?;
merkle::verify_inclusion(1, 3, &merkle::leaf_hash(b"second"), &proof, &root)?;
# Ok::<(), Box<dyn std::error::Error>>(())
```

# Architecture invariants

- Verification takes bytes as they arrive (any length) and refuses what is
  not a 32-byte hash; it never panics on a hostile proof.
- Plain types only: the server owns the wire formats.
*/
#![deny(missing_docs)]

pub mod entry;
pub mod event;
pub mod index;
pub mod merkle;
pub mod note;
pub mod receipt;
