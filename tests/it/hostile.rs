//! The hostile SQL corpus (`tests/hostile/queries.sql`) through the purpose
//! gate of the real server, as a researcher with an approved project would
//! send it: each query is refused with a `problem+json` reason or stopped
//! by a limit, none is a server error, each is logged, and nothing is
//! written beside the data.
//!
//! With the authorization matrices (`tests/it/api.rs`, `tests/it/citizens.rs`)
//! and the sandbox's own run of the corpus (`crates/niji-query`), this is
//! the hostile suite: `cargo test --workspace -- matrix hostile`.

#[path = "../hostile/corpus.rs"]
mod corpus;
use crate::common::client::*;
use crate::common::*;

use serde_json::json;
use std::collections::BTreeSet;

/// Every file under the data directory.
fn files(dir: &std::path::Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files(&path));
        } else {
            out.insert(path.display().to_string());
        }
    }
    out
}

#[test]
fn every_hostile_query_through_the_gate_is_refused_or_contained_and_logged() {
    let env = Env::demo();
    let store = || env.open_store().unwrap();
    let logged_before = store().audit_events().unwrap().len();
    let before = files(&env.data());
    let server = Server::start_demo(&env);
    let researcher = Client::login(&server, "researcher", DEMO_PASSWORD);
    let projects = researcher.send("GET", "/api/v1/projects", None);
    assert_eq!(projects.status, 200, "{}", projects.body);
    let project = projects.body[0]["id"].as_i64().unwrap();
    let out = env.data().join("out").display().to_string();
    let corpus = corpus::corpus(&out);
    assert!(corpus.len() >= 50, "{}", corpus.len());

    let mut escaped = Vec::new();
    let (mut refused, mut contained) = (0, 0);
    for sql in &corpus {
        let reply = researcher.settle(researcher.send(
            "POST",
            &format!("/api/v1/projects/{project}/queries"),
            Some(json!({ "sql": sql })),
        ));
        let detail = reply.body["detail"].as_str().unwrap_or("").to_owned();
        match reply.status {
            400 | 403 | 413 | 422 => {
                assert_eq!(reply.content_type, "application/problem+json", "{sql}");
                assert!(!detail.is_empty(), "{sql}: refused without a reason");
                refused += 1;
            }
            // Stopped by the time or memory limit.
            408 | 504 => contained += 1,
            _ if reply.body["status"] == "failed" || reply.body["status"] == "cancelled" => {
                contained += 1
            }
            status => escaped.push(format!("{sql:.120}: {status} {}", reply.body)),
        }
    }
    assert!(escaped.is_empty(), "not refused:\n{}", escaped.join("\n"));
    eprintln!(
        "{} hostile queries: {refused} refused, {contained} stopped by a limit",
        corpus.len()
    );
    // What the language admits, the engine configured answers (with
    // NIJI_TEST_ENGINE=ballista, a cluster: its jobs show it ran there).
    let fine = researcher.settle(researcher.send(
        "POST",
        &format!("/api/v1/projects/{project}/queries"),
        Some(json!({ "sql": "SELECT sex, count(*) AS n FROM claims_persons GROUP BY sex" })),
    ));
    assert_eq!(fine.status, 200, "{}", fine.body);
    if let Some(cluster) = &env.cluster {
        let jobs = cluster.rest("/api/jobs").unwrap();
        assert!(jobs.contains("\"job_id\""), "{jobs}");
    }
    server.stop();

    // Each was logged, refused or not; nothing appeared beside the data
    // but the log's and the server's own files.
    let events = store().audit_events().unwrap();
    let new: Vec<&niji_store::AuditEvent> = events[logged_before..].iter().collect();
    let analysis = new
        .iter()
        .filter(|e| e.kind.starts_with("analysis."))
        .count();
    assert!(
        analysis >= corpus.len(),
        "{analysis} of {} logged",
        corpus.len()
    );
    let written: Vec<String> = files(&env.data())
        .difference(&before)
        .filter(|f| f.contains("out"))
        .cloned()
        .collect();
    assert!(written.is_empty(), "{written:?}");
    // No hostile query ran: the one answer is the admitted query's.
    let answered = new.iter().filter(|e| e.kind == "analysis.query").count();
    assert_eq!(answered, 1, "a hostile query ran");
}
