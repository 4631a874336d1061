//! The shape of a national access log, shared by the benchmarks that build
//! one (`niji-store`'s `lookup`, `niji-server`'s `me`): releases that each
//! hold a different 60% of the persons, and a reproducible stream of
//! numbers to draw entries and persons from.

use niji_core::SecretString;
use niji_store::{NewRelease, Store};

/// Releases in the log.
pub const RELEASES: u64 = 8;

/// A reproducible stream of numbers (splitmix64), so that a rebuilt store
/// and the persons looked up are the same every run.
pub struct Numbers(pub u64);

impl Numbers {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

pub fn release_name(r: u64) -> String {
    format!("claims-{r}")
}

/// Person `p` is in release `r` for 60% of the (p, r) pairs.
pub fn member(p: u64, r: u64) -> bool {
    (p.wrapping_mul(2_654_435_761).wrapping_add(r * 97)) % 10 < 6
}

/// Adds the [`RELEASES`] releases of persons `1..=persons` to `store`.
pub fn add_releases(store: &mut Store, passphrase: &SecretString, persons: u64) {
    let keystore = store.unlock(passphrase).unwrap();
    for r in 0..RELEASES {
        let members: Vec<i64> = (1..=persons)
            .filter(|&p| member(p, r))
            .map(|p| p as i64)
            .collect();
        store
            .add_release(
                &keystore,
                &NewRelease {
                    name: &release_name(r),
                    tier: "anonymized",
                    policy_sha256: "00",
                    policy: "",
                    file: "releases/bench.duckdb",
                    built_by: "admin",
                    manifest: "{}",
                    members: &members,
                    escrow: None,
                    tags: &[],
                },
            )
            .unwrap();
    }
}
