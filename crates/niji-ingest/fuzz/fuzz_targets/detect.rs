//! Fuzzes format detection and whatever adapter it picks, as `niji ingest`
//! meets an unknown file.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let tokenizer =
        niji_linkage::Tokenizer::new(ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &[7; 32]));
    let _ = niji_ingest::check_bytes(&tokenizer, data, "fuzz");
});
