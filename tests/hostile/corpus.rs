//! The hostile SQL corpus as queries: `queries.sql` beside this file, with
//! `OUT` replaced by `out` (a path beside the data), and one query too long
//! to write there. Included by path from the sandbox's test
//! (`crates/niji-query`) and the gate's (`tests/it/hostile.rs`).

/// Every hostile query.
pub fn corpus(out: &str) -> Vec<String> {
    let mut corpus: Vec<String> = include_str!("queries.sql")
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with("--"))
        .map(|q| q.replace("OUT", out))
        .collect();
    corpus.push(format!(
        "SELECT count(*) FROM persons WHERE sex = '{}'",
        "x".repeat(70_000)
    ));
    corpus
}
