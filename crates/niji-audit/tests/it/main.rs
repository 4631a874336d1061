//! niji-audit's integration tests: the RFC 6962 vectors, an outside Merkle
//! implementation as oracle, signed notes and the Python receipt verifier.
//! One test binary with a module per area: one link instead of one per file.

mod common;

mod notes;
mod oracle;
mod python_verifier;
mod vectors;
