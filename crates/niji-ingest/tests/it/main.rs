//! niji-ingest's integration tests: synthetic sources through the pipeline,
//! malformed and corrupt input, the real JP-CLINS examples.
//! One test binary with a module per area: one link instead of one per file.

mod common;

mod corrupt;
mod jp_clins;
mod malformed;
mod pipeline;
