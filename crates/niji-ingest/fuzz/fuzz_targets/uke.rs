//! Fuzzes the レセ電 (UKE) adapter: any bytes give an outcome, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use niji_ingest::{SourceKind, check_as};

fuzz_target!(|data: &[u8]| {
    let tokenizer =
        niji_linkage::Tokenizer::new(ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &[7; 32]));
    let _ = check_as(SourceKind::Uke, &tokenizer, data, "fuzz");
});
