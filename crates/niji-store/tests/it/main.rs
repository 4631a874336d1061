//! niji-store's integration tests: governance, the keystore, the access
//! log, citizens and migrations on real DuckDB files.
//! One test binary with a module per area: one link instead of one per file.

mod citizens;
mod governance;
mod keystore;
mod log;
mod migrations;
