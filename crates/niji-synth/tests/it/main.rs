//! niji-synth's integration tests: the population and the source files it
//! writes, read back.
//! One test binary with a module per area: one link instead of one per file.

mod common;

mod population;
mod sources;
