//! niji's end-to-end tests: the real `niji` binary, its server on loopback,
//! Chromium and the outside checkers. One test binary with a module per
//! area, so that DuckDB and polars are linked into tests once, not once per
//! file. CI runs each test in a process of its own with cargo-nextest
//! (`.config/nextest.toml` says which must not overlap); `cargo test --test
//! it` runs them too.

mod common;

mod analysis;
mod api;
mod browser;
mod card;
mod citizens;
mod cli;
mod docs;
mod engines;
mod fhir_endpoint;
mod hostile;
mod journey;
mod kill;
mod link;
mod load;
mod log;
mod release;
mod servers;
mod store;
mod web;
