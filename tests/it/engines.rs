//! Analysis on an Apache DataFusion Ballista cluster through the whole
//! platform: the analysis platform's release (a directory of Parquet)
//! served once with DuckDB in the server's process and once on a loopback
//! cluster of one scheduler and two executors, the notebooks' queries
//! answered alike; and an executor killed while queries run, which costs a
//! researcher an error or a retry, never part of a result, and never a log
//! entry.

use crate::analysis::{PASSWORD, platform, project};
use crate::common::client::Client;
use crate::common::*;
use serde_json::{Value, json};

/// The notebooks' queries (notebooks/*.ipynb, on their grant: persons'
/// age and sex, drugs' code and days) and a few more.
const QUERIES: &[&str] = &[
    "SELECT age, count(DISTINCT pseudonym) AS persons FROM persons GROUP BY age ORDER BY age",
    "SELECT p.age, count(*) AS treated FROM persons p \
     WHERE p.pseudonym IN (SELECT pseudonym FROM drugs WHERE code IN ('620008101', '620008102')) \
     GROUP BY p.age ORDER BY p.age",
    "SELECT sex, count(*) AS n FROM persons GROUP BY ROLLUP (sex) ORDER BY sex NULLS LAST",
    "SELECT d.code, count(*) AS prescriptions, count(DISTINCT d.pseudonym) AS persons \
     FROM drugs d GROUP BY d.code ORDER BY prescriptions DESC LIMIT 5",
    "SELECT p.sex, count(*) AS n, sum(d.days) AS days FROM drugs d JOIN persons p USING (pseudonym) \
     GROUP BY p.sex ORDER BY 1",
];

/// The notebooks' grant.
const GRANT: &[(&str, &str)] = &[
    ("persons", "age"),
    ("persons", "sex"),
    ("drugs", "code"),
    ("drugs", "days"),
];

/// A server on `env` and a researcher's project with the notebooks' grant.
fn serve(env: &Env) -> (Server, Client, i64) {
    let server = Server::start(env);
    let alice = Client::login(&server, "alice", PASSWORD);
    let project = project(&server, &alice, GRANT);
    (server, alice, project)
}

/// What the researcher reads of each answer (the log's position and the
/// time aside).
fn answers(env: &Env) -> Vec<Value> {
    let (server, researcher, project) = serve(env);
    let out = QUERIES
        .iter()
        .map(|sql| {
            let reply = researcher.settle(researcher.send(
                "POST",
                &format!("/api/v1/projects/{project}/queries"),
                Some(json!({ "sql": sql })),
            ));
            json!({
                "status": reply.status,
                "columns": reply.body["columns"],
                "rows": reply.body["rows"],
                "cells": reply.body["cells"],
                "notes": reply.body["notes"],
                "detail": reply.body["detail"],
            })
        })
        .collect();
    server.stop();
    out
}

#[test]
fn the_notebooks_queries_answer_alike_on_either_engine() {
    let mut env = platform();
    env.cluster = None;
    let embedded = answers(&env);
    let released = embedded.iter().filter(|a| a["status"] == 200).count();
    assert!(released >= 4, "{embedded:#?}");
    let env = env.with_cluster(niji_testkit::ballista::Cluster::start(2).unwrap());
    let clustered = answers(&env);
    for ((sql, here), there) in QUERIES.iter().zip(&embedded).zip(&clustered) {
        assert_eq!(
            here,
            there,
            "{sql}\n{}",
            env.cluster.as_ref().unwrap().logs()
        );
    }
}

#[test]
fn an_executor_lost_mid_query_costs_an_error_or_a_retry_never_part_of_a_result() {
    let mut env = platform();
    env.cluster = None;
    let reference = answers(&env);
    let mut env = env.with_cluster(niji_testkit::ballista::Cluster::start(2).unwrap());
    let (server, _, project) = serve(&env);
    let (queries_before, refused_before) = (
        analysis_entries(&env, "analysis.query"),
        analysis_entries(&env, "analysis.refused"),
    );
    // The queries run one after another in a thread of their own; an
    // executor is killed once the first has been answered, while the
    // rest run.
    let (tx, rx) = std::sync::mpsc::channel();
    let worker = {
        let url = server.url.clone();
        std::thread::spawn(move || {
            let researcher = Client::at(&url).logged_in("alice", PASSWORD);
            let mut replies = Vec::new();
            for round in 0..3 {
                for (i, sql) in QUERIES.iter().enumerate() {
                    let started = std::time::Instant::now();
                    let reply = researcher.settle(researcher.send(
                        "POST",
                        &format!("/api/v1/projects/{project}/queries"),
                        Some(json!({ "sql": sql })),
                    ));
                    if round == 0 && i == 0 {
                        let _ = tx.send(());
                    }
                    replies.push((i, reply, started.elapsed()));
                }
            }
            replies
        })
    };
    rx.recv().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(150));
    env.cluster.as_mut().unwrap().kill_executor(0).unwrap();
    let replies = worker.join().unwrap();
    let (mut retried, mut failed) = (0, 0);
    for (i, reply, _) in &replies {
        if reply.status == 200 {
            // Whole, and the same as the embedded engine's.
            assert_eq!(reply.body["rows"], reference[*i]["rows"], "{}", QUERIES[*i]);
            assert_eq!(
                reply.body["cells"], reference[*i]["cells"],
                "{}",
                QUERIES[*i]
            );
            retried += 1;
        } else {
            assert_eq!(reply.status, 422, "{}", reply.body);
            let detail = reply.body["detail"].as_str().unwrap_or("");
            assert!(
                detail.contains("failed while running") && detail.contains("withheld"),
                "{detail}"
            );
            assert_eq!(reply.body["rows"], Value::Null, "{}", reply.body);
            failed += 1;
        }
    }
    // The kill met a running query: it waited for the scheduler to miss
    // the executor (6 s here) and ran again, or failed.
    let slowest = replies.iter().map(|(_, _, t)| *t).max().unwrap();
    eprintln!(
        "{} answers after an executor was killed: {retried} whole, {failed} clear errors; \
         the slowest took {slowest:.1?}",
        replies.len()
    );
    assert!(
        failed > 0 || slowest > std::time::Duration::from_secs(5),
        "{slowest:?}"
    );
    // Whatever the answer, exactly one entry each: a result's, or a
    // refusal's with the reason.
    assert_eq!(
        analysis_entries(&env, "analysis.query") - queries_before,
        retried
    );
    assert_eq!(
        analysis_entries(&env, "analysis.refused") - refused_before,
        failed
    );
    server.stop();
    ok(&env.niji(&["log", "verify"]).output().unwrap());
}

/// The researcher's entries of kind `kind` in the log.
fn analysis_entries(env: &Env, kind: &str) -> usize {
    env.open_store()
        .unwrap()
        .audit_events()
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == kind && e.actor == "alice")
        .count()
}
