//! The analysis API on the real binary over a real release: the purpose
//! gate (membership, token scope, an active grant), SQL outside the grant
//! refused with the reason, small cells suppressed by the grant's rule
//! set, an audit event for every request, the airlock, DP queries and their
//! ledger, the notebooks (nbclient) and schemathesis over the OpenAPI
//! document.

use crate::common::client::*;
use crate::common::*;

use serde_json::{Value, json};
use std::path::Path;
use std::process::Stdio;

pub(crate) const PASSWORD: &str = "analysis-password";

/// A linked population of 800 persons, an anonymized release `claims`,
/// and the accounts of a review.
/// Built once per test build and copied for each test.
pub(crate) fn platform() -> Env {
    Env::from_fixture("analysis-platform", build_platform)
}

fn build_platform(env: &Env) {
    ok(&env.init(&[]));
    let pop = env.synth(800, 8, "2021-01", "2022-12");
    env.ingest_and_link(&pop);
    let policy = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("policies/release-anonymized-example.toml")
        .display()
        .to_string();
    ok(&env
        .niji(&["release", "build", "--policy", &policy, "--name", "claims"])
        .env("NIJI_PASSPHRASE", PASSPHRASE)
        .stdout(Stdio::null())
        .output()
        .unwrap());
    // Its dummy data: the same policy over 300 synthetic persons.
    env.release_dummy("claims");
    env.organizations(&[("univ", true), ("startup", false), ("board", false)]);
    env.accounts(
        &[
            ("alice", "researcher", "univ"),
            ("bob", "researcher", "startup"),
            ("rev1", "reviewer", "board"),
            ("rev2", "reviewer", "board"),
            ("rev3", "reviewer", "univ"),
        ],
        PASSWORD,
    );
}

/// `who` applies for `items` of release `claims`; two reviewers approve
/// them all under rule set `ndb`. Returns the project id.
pub(crate) fn project(server: &Server, who: &Client, items: &[(&str, &str)]) -> i64 {
    project_under(server, who, items, "ndb")
}

fn project_under(server: &Server, who: &Client, items: &[(&str, &str)], rule_set: &str) -> i64 {
    let items: Vec<Value> = items
        .iter()
        .map(|(t, c)| json!({"release": "claims", "table": t, "column": c}))
        .collect();
    let id = apply(
        who,
        json!({
            "title": "Age and sex of claimants",
            "purpose": "public-health-policy",
            "lay_summary": "Who uses care, by age and sex.",
            "items": items,
            "tier": "anonymized",
            "starts": "2026-01-01",
            "ends": "2027-12-31"
        }),
    );
    let conditions = json!({
        "items": items, "rule_set": rule_set, "dp_rho": 1.0, "expires": "2099-12-31"
    });
    approve(server, id, &["rev1", "rev2"], PASSWORD, conditions)
}

/// An SQL request's answer (followed to its end if it became a job).
fn sql(client: &Client, project: i64, text: &str) -> Reply {
    client.settle(client.send(
        "POST",
        &format!("/api/v1/projects/{project}/queries"),
        Some(json!({ "sql": text })),
    ))
}

fn refusal(reply: &Reply) -> String {
    assert_eq!(reply.status, 403, "{}", reply.body);
    assert_eq!(reply.content_type, "application/problem+json");
    reply.body["detail"].as_str().unwrap().to_owned()
}

#[test]
fn queries_pass_the_gate_and_disclosure_control_and_are_all_logged() {
    let env = platform();
    let server = Server::start(&env);
    let alice = Client::login(&server, "alice", PASSWORD);
    let p = project(&server, &alice, &[("persons", "age"), ("persons", "sex")]);
    let token = alice.send(
        "POST",
        "/api/v1/tokens",
        Some(json!({"project": p, "expires": "2030-01-01"})),
    );
    let mut notebook = Client::new(&server);
    notebook.token = Some(token.body["token"].as_str().unwrap().to_owned());

    // The schema a notebook sees: the granted columns only.
    let tables = notebook.send("GET", &format!("/api/v1/projects/{p}/tables"), None);
    assert_eq!(tables.status, 200, "{}", tables.body);
    assert_eq!(tables.body[0]["name"], "persons");
    assert_eq!(tables.body[0]["release"], "claims");
    let columns = tables.body[0]["columns"].as_array().unwrap();
    let names: Vec<&str> = columns
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["age", "sex"], "{}", tables.body);
    for c in columns {
        assert_eq!(c["type"], "VARCHAR", "{c}");
    }
    // What each holds and what the build did to it, from the policy.
    let age = columns[0]["description"].as_str().unwrap();
    assert!(
        age.contains("reference date") && age.contains("90 and over"),
        "{age}"
    );
    assert!(age.contains("quasi-identifier"), "{age}");

    // An aggregate: every count that leaves covers 10 persons or more.
    let by_age = sql(
        &notebook,
        p,
        "SELECT age, sex, count(*) AS n FROM persons GROUP BY age, sex ORDER BY age, sex",
    );
    assert_eq!(by_age.status, 200, "{}", by_age.body);
    assert_eq!(by_age.body["columns"], json!(["age", "sex", "n"]));
    let rows = by_age.body["rows"].as_array().unwrap();
    let cells = by_age.body["cells"].as_array().unwrap();
    assert!(!rows.is_empty());
    let mut suppressed = 0;
    for (row, status) in rows.iter().zip(cells) {
        match status[2].as_str().unwrap() {
            "pass" => assert!(row[2].as_i64().unwrap() >= 10, "{row}"),
            _ => {
                assert!(row[2].is_null(), "{row}");
                suppressed += 1;
            }
        }
    }
    let total: i64 = rows.iter().filter_map(|r| r[2].as_i64()).sum();
    // About 800 persons (linkage leaves a few fragments), less the suppressed.
    assert!(total > 600 && total <= 850, "{total}");
    eprintln!("{} cells, {suppressed} suppressed", rows.len());

    // Outside the grant: a column, a table, a function, an extreme.
    for (text, reason) in [
        (
            "SELECT prefecture, count(*) FROM persons GROUP BY 1",
            "column `prefecture`",
        ),
        ("SELECT count(*) FROM diagnoses", "table `diagnoses`"),
        (
            "SELECT count(*) FROM read_csv('/etc/passwd')",
            "table functions",
        ),
        ("SELECT sex, max(age) FROM persons GROUP BY sex", "max"),
        ("SELECT * FROM persons", "aggregate results only"),
    ] {
        let detail = refusal(&sql(&notebook, p, text));
        assert!(detail.contains(reason), "{text}: {detail}");
    }
    let syntax = sql(&notebook, p, "SELEC count(*) FROM persons");
    assert_eq!(syntax.status, 422, "{}", syntax.body);

    // The gate: another researcher, another project's token, a revoked grant.
    let bob = Client::login(&server, "bob", PASSWORD);
    assert!(refusal(&sql(&bob, p, "SELECT count(*) FROM persons")).contains("not a member"));
    // A project that does not exist looks like one of another's.
    assert!(refusal(&sql(&bob, 999, "SELECT 1")).contains("not a member"));
    let q = project(&server, &bob, &[("persons", "sex")]);
    let detail = refusal(&sql(&notebook, q, "SELECT count(*) FROM persons"));
    assert!(
        detail.contains(&format!("scoped to project {p}")),
        "{detail}"
    );
    // The revocation reaches the very next request, though the gate keeps
    // what it read of the grant and the token between requests.
    let count = "SELECT sex, count(*) FROM persons GROUP BY sex";
    assert_eq!(sql(&alice, p, count).status, 200);
    assert_eq!(sql(&notebook, p, count).status, 200);
    // The board's quorum (two) revokes.
    for reviewer in ["rev1", "rev2"] {
        let revoked = Client::login(&server, reviewer, PASSWORD).send(
            "POST",
            &format!("/api/v1/grants/{p}/revoke"),
            Some(json!({"reason": "ended"})),
        );
        assert_eq!(revoked.status, 200);
    }
    let detail = refusal(&sql(&alice, p, "SELECT count(*) FROM persons"));
    assert!(detail.contains("revoked"), "{detail}");
    assert_eq!(sql(&notebook, p, count).status, 401, "its token is void");
    server.stop();

    // Every request was logged: allowed, refused by SQL, refused at the gate.
    let store = env.open_store().unwrap();
    let events = store.audit_events().unwrap();
    let kinds = |kind: &str| events.iter().filter(|e| e.kind == kind).count();
    assert_eq!(kinds("analysis.query"), 3);
    assert_eq!(kinds("analysis.refused"), 6);
    assert_eq!(kinds("analysis.denied"), 4);
    let logged = events.iter().find(|e| e.kind == "analysis.query").unwrap();
    let detail: Value = serde_json::from_str(&logged.detail).unwrap();
    assert_eq!(detail["purpose"], "public-health-policy");
    assert_eq!(detail["tables"], json!(["persons"]));
    // One row per person: the query read the whole table.
    let persons = store.release("claims").unwrap().unwrap().persons;
    assert_eq!(detail["rows_scanned"].as_i64(), Some(persons), "{detail}");
    assert_eq!(detail["shape"][0].as_u64(), Some(rows.len() as u64));
    assert!(
        detail["sql"]
            .as_str()
            .unwrap()
            .contains("GROUP BY age, sex")
    );
}

#[test]
fn a_flagged_result_waits_in_the_airlock_for_two_outside_reviewers() {
    let env = platform();
    let server = Server::start(&env);
    let alice = Client::login(&server, "alice", PASSWORD);
    let p = project_under(
        &server,
        &alice,
        &[("persons", "age"), ("persons", "sex")],
        "acro",
    );

    // Under acro, max goes to review: held, no rows sent.
    let text =
        "SELECT sex, max(age) AS oldest, count(*) AS n FROM persons GROUP BY sex ORDER BY sex";
    let held = sql(&alice, p, text);
    assert_eq!(held.status, 202, "{}", held.body);
    assert_eq!(held.body["status"], "review");
    assert_eq!(held.body["rows"], json!([]));
    let id = held.body["airlock"].as_i64().unwrap();
    let fetch = format!("/api/v1/projects/{p}/results/{id}");
    assert_eq!(alice.send("GET", &fetch, None).status, 202);

    // Not the author, not a researcher; reviewers see the query and values.
    let review = |who: &Client, decision: &str, comment: &str| {
        who.send(
            "POST",
            &format!("/api/v1/airlock/{id}/reviews"),
            Some(json!({"decision": decision, "comment": comment})),
        )
    };
    assert_eq!(review(&alice, "release", "").status, 403);
    let bob = Client::login(&server, "bob", PASSWORD);
    assert_eq!(review(&bob, "release", "").status, 403);
    // A reviewer of the applicant's organization neither sees nor checks
    // the project's held results.
    let rev3 = Client::login(&server, "rev3", PASSWORD);
    let conflicted = rev3.send("GET", "/api/v1/airlock", None);
    assert_eq!(conflicted.body, json!([]), "{}", conflicted.body);
    assert_eq!(review(&rev3, "release", "fine").status, 403);
    assert_eq!(
        rev3.send("GET", &format!("/api/v1/airlock/{id}"), None)
            .status,
        403
    );
    let rev1 = Client::login(&server, "rev1", PASSWORD);
    let queue = rev1.send("GET", "/api/v1/airlock", None);
    assert_eq!(queue.body[0]["sql"], text, "{}", queue.body);
    let shown = &queue.body[0]["result"];
    assert_eq!(shown["columns"], json!(["sex", "oldest", "n"]));
    assert!(shown["rows"][0][1].is_string(), "{shown}");
    assert_eq!(review(&rev1, "release", "bands, not ages").status, 200);
    assert_eq!(
        alice.send("GET", &fetch, None).status,
        202,
        "one release is not enough"
    );
    // The second reviewer works from the pages: the queue, the held
    // result with its query, findings and the cells for review, the form.
    let rev2 = Client::login(&server, "rev2", PASSWORD);
    let page = |path: &str| -> String {
        let reply = rev2.send("GET", path, None);
        assert_eq!(reply.status, 200, "{path}: {}", reply.body);
        reply.body.as_str().unwrap().to_owned()
    };
    assert!(page("/airlock").contains(&format!("href=\"/airlock/{id}\"")));
    let held_page = page(&format!("/airlock/{id}"));
    assert!(held_page.contains(text), "the query is shown");
    assert!(
        held_page.contains("[要確認]"),
        "cells for review are marked"
    );
    assert!(
        held_page.contains("bands, not ages"),
        "rev1's decision is shown"
    );
    let no_redirects: ureq::Agent = ureq::Agent::config_builder()
        .max_redirects(0)
        .http_status_as_error(false)
        .build()
        .into();
    let posted = no_redirects
        .post(format!("{}/airlock/{id}", server.url))
        .header("Cookie", rev2.cookie.as_deref().unwrap())
        .header("Content-Type", "application/x-www-form-urlencoded")
        .send(format!(
            "csrf={}&decision=release&comment=fine",
            rev2.csrf.as_deref().unwrap()
        ))
        .unwrap();
    assert_eq!(posted.status().as_u16(), 303);
    let after = page(&format!("/airlock/{id}"));
    assert!(after.contains("公開済み"), "{after}");
    assert!(
        !after.contains("<form method=\"post\" action=\"/airlock/"),
        "decided: no form"
    );
    let fetched = alice.send("GET", &fetch, None);
    assert_eq!(fetched.status, 200, "{}", fetched.body);
    assert_eq!(fetched.body["rows"], shown["rows"]);
    // Another project's member cannot fetch it.
    assert_eq!(bob.send("GET", &fetch, None).status, 403);

    // One rejection stops another, and the researcher reads why.
    let second = sql(&alice, p, "SELECT max(age) FROM persons");
    let id2 = second.body["airlock"].as_i64().unwrap();
    let rejected = rev1.send(
        "POST",
        &format!("/api/v1/airlock/{id2}/reviews"),
        Some(json!({"decision": "reject", "comment": "the oldest person stands out"})),
    );
    assert_eq!(rejected.body["status"], "rejected");
    let refused = alice.send("GET", &format!("/api/v1/projects/{p}/results/{id2}"), None);
    assert_eq!(refused.status, 403);
    assert!(
        refused.body["detail"]
            .as_str()
            .unwrap()
            .contains("the oldest person stands out")
    );
    server.stop();

    let store = env.open_store().unwrap();
    let kinds: Vec<String> = store
        .audit_events()
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    for kind in [
        "airlock.hold",
        "airlock.released",
        "airlock.rejected",
        "analysis.fetch",
    ] {
        assert!(kinds.iter().any(|k| k == kind), "no {kind}");
    }
}

/// A total of claims' points that 1 to 9 persons reach or pass, read
/// from the release's files, and how many persons that is.
fn few_heaviest(release: &Path) -> (i64, u64) {
    let release = niji_query::storage::Release::open(release).unwrap();
    let claims = release.duckdb_scan(release.table("claims").unwrap());
    let conn = duckdb::Connection::open_in_memory().unwrap();
    let mut stmt = conn
        .prepare(&format!(
            "SELECT total, count(*) OVER (ORDER BY total DESC) FROM \
             (SELECT sum(points) AS total FROM {claims} GROUP BY pseudonym) ORDER BY total DESC"
        ))
        .unwrap();
    let totals: Vec<(i64, i64)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    totals
        .into_iter()
        .filter(|(_, n)| (1..10).contains(n))
        .map(|(total, n)| (total, n as u64))
        .next_back()
        .expect("a total of points only a few persons reach")
}

/// Differencing: a count over everyone, then the same count without the
/// few persons whose claims reach a threshold. Both are of hundreds of
/// persons; subtracted, they count those few. The second waits in the
/// airlock, the first beside it for the reviewers; the researcher learns
/// that a few persons separate them, not how many.
#[test]
fn a_number_a_few_persons_from_an_earlier_one_waits_for_review_beside_it() {
    let env = platform();
    let (total, few) = few_heaviest(&env.data().join("releases/claims"));
    let server = Server::start(&env);
    let alice = Client::login(&server, "alice", PASSWORD);
    let p = project(
        &server,
        &alice,
        &[("persons", "age"), ("persons", "sex"), ("claims", "points")],
    );
    // Persons with claims, and their total points as a person-level
    // variable.
    let with = "WITH v AS (SELECT pseudonym, sum(points) AS total FROM claims GROUP BY pseudonym) ";
    let everyone = format!("{with}SELECT count(*) AS n FROM persons JOIN v USING (pseudonym)");
    let first = sql(&alice, p, &everyone);
    assert_eq!(first.status, 200, "{}", first.body);
    let but_few = format!(
        "{with}SELECT count(*) AS n FROM persons JOIN v USING (pseudonym) WHERE v.total < {total}"
    );
    let second = sql(&alice, p, &but_few);
    assert_eq!(second.status, 202, "{}", second.body);
    assert_eq!(second.body["status"], "review");
    assert_eq!(second.body["rows"], json!([]));
    let notes = second.body["notes"].to_string();
    assert!(notes.contains("fewer than the minimum"), "{notes}");
    assert!(
        !notes.contains("differs in"),
        "the researcher is not told how many: {notes}"
    );
    let id = second.body["airlock"].as_i64().unwrap();

    // The reviewers see the earlier output beside the held one.
    let rev1 = Client::login(&server, "rev1", PASSWORD);
    let item = rev1.send("GET", &format!("/api/v1/airlock/{id}"), None);
    assert_eq!(item.status, 200, "{}", item.body);
    let findings = item.body["findings"].to_string();
    assert!(
        findings.contains(&format!("differs in {few} persons")),
        "{findings}"
    );
    assert!(
        findings.contains(&everyone),
        "the earlier query: {findings}"
    );

    // A number apart by the minimum or more leaves; so does the first
    // again (it left already).
    for (text, status) in [
        ("SELECT count(*) AS n FROM persons WHERE sex = '1'", 200),
        (everyone.as_str(), 200),
    ] {
        let reply = sql(&alice, p, text);
        assert_eq!(reply.status, status, "{text}: {}", reply.body);
    }
    // Asked again, the differencing query waits again.
    assert_eq!(sql(&alice, p, &but_few).status, 202);
    server.stop();
}

fn dp(client: &Client, project: i64, rho: f64) -> Reply {
    client.settle(client.send(
        "POST",
        &format!("/api/v1/projects/{project}/dp-queries"),
        Some(json!({
            "table": "persons",
            "group_by": [{"column": "sex", "keyset": "sex"}],
            "measures": [{"kind": "count"}],
            "rho": rho
        })),
    ))
}

#[test]
fn dp_queries_debit_the_budget_and_parallel_requests_cannot_overspend() {
    let env = platform();
    let server = Server::start(&env);
    let alice = Client::login(&server, "alice", PASSWORD);
    // The grant's budget is ρ = 1.
    let p = project(&server, &alice, &[("persons", "age"), ("persons", "sex")]);
    let budget = |c: &Client| {
        c.send("GET", &format!("/api/v1/projects/{p}/budget"), None)
            .body
    };
    assert_eq!(
        budget(&alice),
        json!({"total": 1.0, "spent": 0.0, "left": 1.0})
    );

    let first = dp(&alice, p, 0.125);
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(first.body["columns"], json!(["sex", "count"]));
    let keys: Vec<&str> = first.body["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r[0].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["1", "2"], "the public keys, not the data's");
    let noise = &first.body["noise"][0];
    assert!(noise["scale"].as_f64().unwrap() > 1.9, "{noise}");
    assert!(noise["accuracy"].as_f64().unwrap() > noise["scale"].as_f64().unwrap());
    let spent = first.body["rho"].as_f64().unwrap();
    assert!(spent <= 0.125 && spent > 0.12, "{spent}");
    assert_eq!(budget(&alice)["spent"].as_f64(), Some(spent));

    // Refused before any noise is drawn: a column outside the grant, an
    // undeclared key set. Neither costs anything.
    let outside = alice.send(
        "POST",
        &format!("/api/v1/projects/{p}/dp-queries"),
        Some(json!({"table": "persons", "group_by": [{"column": "prefecture", "keyset": "prefecture"}],
                     "measures": [{"kind": "count"}], "rho": 0.1})),
    );
    assert_eq!(outside.status, 403, "{}", outside.body);
    let undeclared = alice.send(
        "POST",
        &format!("/api/v1/projects/{p}/dp-queries"),
        Some(json!({"table": "persons", "group_by": [{"column": "age", "keyset": "ages-in-the-data"}],
                     "measures": [{"kind": "count"}], "rho": 0.1})),
    );
    assert_eq!(undeclared.status, 422, "{}", undeclared.body);
    assert_eq!(budget(&alice)["spent"].as_f64(), Some(spent));

    // Eight parallel requests of ρ = 0.25 against 1 − spent (two run at a
    // time per project): only as many as fit succeed; the rest are refused
    // and cost nothing.
    let left = 1.0 - spent;
    let fit = (left / 0.25).floor() as usize;
    let statuses: Vec<u16> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let server = &server;
                s.spawn(move || {
                    let client = Client::login(server, "alice", PASSWORD);
                    // A busy project answers 429 with Retry-After; a client retries.
                    loop {
                        let reply = dp(&client, p, 0.25);
                        if reply.status != 429 {
                            return reply.status;
                        }
                        std::thread::sleep(std::time::Duration::from_millis(100));
                    }
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(
        statuses.iter().filter(|&&s| s == 200).count(),
        fit,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|&&s| s == 403).count(),
        8 - fit,
        "{statuses:?}"
    );
    let after = budget(&alice);
    assert!(after["spent"].as_f64().unwrap() <= 1.0, "{after}");
    let over = dp(&alice, p, 0.25);
    assert_eq!(over.status, 403);
    assert!(
        over.body["detail"]
            .as_str()
            .unwrap()
            .contains("over budget"),
        "{}",
        over.body
    );
    server.stop();

    let store = env.open_store().unwrap();
    let events = store.audit_events().unwrap();
    let debits = events.iter().filter(|e| e.kind == "dp.debit").count();
    assert_eq!(debits, 1 + fit);
    assert_eq!(
        events.iter().filter(|e| e.kind == "analysis.dp").count(),
        1 + fit
    );
}

fn model(client: &Client, project: i64, body: Value) -> Reply {
    client.settle(client.send(
        "POST",
        &format!("/api/v1/projects/{project}/models"),
        Some(body),
    ))
}

/// Each kind's mean of claims' points and the total sum of squares about
/// the overall mean, read from the release's files: what a gaussian model
/// `points ~ kind` must give (intercept = the first kind's mean, each other
/// kind's coefficient the difference, null deviance the sum of squares).
fn points_by_kind(release: &Path) -> (Vec<(String, f64)>, f64) {
    let release = niji_query::storage::Release::open(release).unwrap();
    let claims = release.duckdb_scan(release.table("claims").unwrap());
    let conn = duckdb::Connection::open_in_memory().unwrap();
    let complete = format!(
        "SELECT kind, points::DOUBLE AS y FROM {claims} WHERE kind IS NOT NULL AND points IS NOT NULL"
    );
    let mut stmt = conn
        .prepare(&format!(
            "SELECT kind, avg(y) FROM ({complete}) GROUP BY kind ORDER BY kind"
        ))
        .unwrap();
    let means: Vec<(String, f64)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let ss: f64 = conn
        .query_row(
            &format!("SELECT sum((y - (SELECT avg(y) FROM ({complete})))^2) FROM ({complete})"),
            [],
            |r| r.get(0),
        )
        .unwrap();
    (means, ss)
}

/// A model's estimates leave when the rule set's checks hold, and match
/// the release's own numbers; a model a check refuses, one outside the
/// grant and one the platform cannot model are refused with what to do;
/// each request is in the log, and the public activity lists it.
#[test]
fn models_are_fitted_under_the_rule_set_and_logged() {
    let env = platform();
    let server = Server::start(&env);
    let alice = Client::login(&server, "alice", PASSWORD);
    let p = project(
        &server,
        &alice,
        &[
            ("claims", "points"),
            ("claims", "kind"),
            ("claims", "inpatient"),
        ],
    );
    let fitted = model(
        &alice,
        p,
        json!({"family": "gaussian", "table": "claims", "formula": "points ~ kind"}),
    );
    assert_eq!(fitted.status, 200, "{}", fitted.body);
    let (means, ss) = points_by_kind(&env.data().join("releases/claims"));
    assert!(means.len() > 1, "{means:?}");
    let estimates = fitted.body["estimates"].as_array().unwrap();
    assert_eq!(estimates.len(), means.len());
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-6 * b.abs().max(1.0);
    assert_eq!(estimates[0]["name"], "(Intercept)");
    assert!(
        close(estimates[0]["estimate"].as_f64().unwrap(), means[0].1),
        "{}",
        fitted.body
    );
    for (e, (kind, mean)) in estimates[1..].iter().zip(&means[1..]) {
        assert_eq!(e["name"], format!("kind{kind}"));
        assert_eq!(e["level"], kind.as_str());
        assert!(
            close(e["estimate"].as_f64().unwrap(), mean - means[0].1),
            "{e}"
        );
        let (lower, upper) = (e["lower"].as_f64().unwrap(), e["upper"].as_f64().unwrap());
        assert!(lower < e["estimate"].as_f64().unwrap() && e["estimate"].as_f64().unwrap() < upper);
    }
    assert!(close(fitted.body["null_deviance"].as_f64().unwrap(), ss));
    let n = fitted.body["observations"].as_u64().unwrap();
    assert_eq!(
        fitted.body["residual_df"].as_u64().unwrap(),
        n - means.len() as u64
    );
    assert!(fitted.body["persons"].as_u64().unwrap() >= 10);
    assert_eq!(fitted.body["statistic"], "t");

    // Dental and pharmacy claims are never inpatient: a binomial model of
    // `inpatient` by kind would tell it, and the outcome check refuses it.
    let separated = model(
        &alice,
        p,
        json!({"family": "binomial", "table": "claims", "response": "inpatient", "terms": ["kind"]}),
    );
    assert!(
        refusal(&separated).contains("in a level, fewer than 10 persons have one of the outcomes"),
        "{}",
        separated.body
    );
    // The same outcome by points is released, as z statistics.
    let logistic = model(
        &alice,
        p,
        json!({"family": "binomial", "table": "claims", "response": "inpatient", "terms": ["points"]}),
    );
    assert_eq!(logistic.status, 200, "{}", logistic.body);
    assert_eq!(logistic.body["statistic"], "z");
    // A column outside the grant; an interaction.
    let outside = model(
        &alice,
        p,
        json!({"family": "poisson", "table": "claims", "formula": "points ~ claim_type"}),
    );
    assert!(refusal(&outside).contains("not in this project's grant"));
    let interaction = model(
        &alice,
        p,
        json!({"family": "gaussian", "table": "claims", "formula": "points ~ kind * inpatient"}),
    );
    assert_eq!(interaction.status, 422, "{}", interaction.body);
    assert!(
        interaction.body["detail"]
            .as_str()
            .unwrap()
            .contains("interactions")
    );

    // With differential privacy instead: OpenDP's noisy sums of products,
    // ρ debited from the grant's budget (1.0), no rule-set checks.
    let private = |rho: f64| {
        model(
            &alice,
            p,
            json!({"family": "gaussian", "table": "claims", "formula": "points ~ inpatient", "dp": {
                "rho": rho, "bounds": {"points": [0, 5000]}, "keysets": {"inpatient": "boolean"},
                "max_rows_per_person": 10
            }}),
        )
    };
    let noisy = private(0.9);
    assert_eq!(noisy.status, 200, "{}", noisy.body);
    let dp = &noisy.body["dp"];
    assert!(
        dp["rho"].as_f64().unwrap() <= 0.9 && dp["rho"].as_f64().unwrap() > 0.89,
        "{dp}"
    );
    assert_eq!(
        dp["noise"].as_array().unwrap().len(),
        6,
        "sums of (1, inpatient, points)²"
    );
    assert!((dp["budget"]["spent"].as_f64().unwrap() - dp["rho"].as_f64().unwrap()).abs() < 1e-9);
    let names: Vec<&str> = noisy.body["estimates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["(Intercept)", "inpatienttrue"]);
    for absent in ["persons", "rule_set", "observations", "deviance"] {
        assert!(noisy.body.get(absent).is_none(), "{absent}: {}", noisy.body);
    }
    let over = private(0.5);
    assert!(refusal(&over).contains("over budget"), "{}", over.body);
    let logistic_dp = model(
        &alice,
        p,
        json!({"family": "binomial", "table": "claims", "formula": "inpatient ~ points",
               "dp": {"rho": 0.01, "bounds": {"points": [0, 20000]}}}),
    );
    assert_eq!(logistic_dp.status, 422, "{}", logistic_dp.body);
    assert!(
        logistic_dp.body["detail"]
            .as_str()
            .unwrap()
            .contains("OpenDP offers no private estimator")
    );

    let activity =
        Client::new(&server).send("GET", &format!("/api/v1/register/{p}/activity"), None);
    assert_eq!(activity.status, 200, "{}", activity.body);
    // Newest first; the interaction never reached the data and is not
    // among them.
    let requests: Vec<(&str, &str)> = activity.body["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["kind"].as_str().unwrap(), r["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        requests,
        [
            ("model", "refused"),
            ("model", "refused"),
            ("model", "released"),
            ("model", "refused"),
            ("model", "released"),
            ("model", "refused"),
            ("model", "released")
        ]
    );
    let spent: f64 = activity.body["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["rho"].as_f64().unwrap())
        .sum();
    assert!(spent > 0.89 && spent <= 0.9, "{spent}");
    server.stop();

    let store = env.open_store().unwrap();
    let events = store.audit_events().unwrap();
    let count = |kind: &str| events.iter().filter(|e| e.kind == kind).count();
    assert_eq!(count("analysis.model"), 3);
    assert_eq!(count("dp.debit"), 1);
    let refused: Vec<_> = events
        .iter()
        .filter(|e| e.kind == "analysis.refused" && e.detail.contains("\"model\""))
        .collect();
    assert_eq!(
        refused.len(),
        4,
        "the outcome check, the column outside the grant, over budget, and a private logistic model"
    );
}

/// The fixture's population with one chart carrying a code the synthetic
/// generator never writes (Fabry disease, E75.2): a rare code of the
/// release, as real charts have. The pseudonymized release `charts` is built
/// after it.
fn charts_with_a_rare_code(env: &Env) {
    let pop = env.root.path().join("pop");
    let chart = std::fs::read_dir(pop.join("fhir"))
        .unwrap()
        .flat_map(|month| std::fs::read_dir(month.unwrap().path()).unwrap())
        .map(|f| f.unwrap().path())
        .find(|f| f.extension().is_some_and(|e| e == "ndjson"))
        .unwrap();
    let text = std::fs::read_to_string(&chart).unwrap();
    let mut bundle: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    let condition = bundle["entry"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .map(|e| &mut e["resource"])
        .find(|r| r["resourceType"] == "Condition")
        .expect("a chart with a condition");
    condition["code"] = json!({
        "coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": "E75.2", "display": "ファブリー病"}],
        "text": "ファブリー病"
    });
    let planted = env.root.path().join("planted");
    std::fs::create_dir_all(&planted).unwrap();
    std::fs::write(planted.join("chart.ndjson"), format!("{bundle}\n")).unwrap();
    ok(&env
        .niji(&["ingest"])
        .arg(&planted)
        .env("NIJI_PASSPHRASE", PASSPHRASE)
        .stdout(Stdio::null())
        .output()
        .unwrap());
    ok(&env.niji(&["link"]).stdout(Stdio::null()).output().unwrap());
    let policy =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/release-pseudonymized-example.toml");
    env.release_build("charts", &policy, PASSPHRASE);
}

/// Rows of `sql` over a DuckDB connection, each as text.
fn texts(conn: &duckdb::Connection, sql: &str) -> Vec<String> {
    let mut stmt = conn.prepare(sql).unwrap();
    stmt.query_map([], |r| r.get::<_, String>(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// A project's dummy data has its granted tables' columns and types, codes
/// and dates in the release's domain, and none of the release's
/// pseudonyms, rows or rare codes: it comes from a synthetic population
/// through the same policy.
#[test]
fn dummy_data_has_the_releases_shape_and_nothing_of_its_rows() {
    let env = platform();
    charts_with_a_rare_code(&env);
    let server = Server::start(&env);
    let alice = Client::login(&server, "alice", PASSWORD);
    // The pseudonym as a granted column too: it leaves once.
    let items: Vec<Value> = [
        ("persons", "pseudonym"),
        ("persons", "sex"),
        ("persons", "prefecture"),
        ("persons", "main_diagnosis"),
        ("diagnoses", "icd10"),
        ("diagnoses", "start"),
    ]
    .iter()
    .map(|(t, c)| json!({"release": "charts", "table": t, "column": c}))
    .collect();
    let id = apply(
        &alice,
        json!({
            "title": "Rare metabolic diseases in hospital charts", "purpose": "drug-safety",
            "lay_summary": "Which diagnoses go together.", "items": items,
            "tier": "pseudonymized", "starts": "2026-01-01", "ends": "2027-12-31"
        }),
    );
    let conditions =
        json!({"items": items, "rule_set": "ndb", "dp_rho": 1.0, "expires": "2099-12-31"});
    let p = approve(&server, id, &["rev1", "rev2"], PASSWORD, conditions);
    // Before the operator builds it, the answer says what to run.
    let missing = alice.send("GET", &format!("/api/v1/projects/{p}/dummy"), None);
    assert_eq!(missing.status, 404, "{}", missing.body);
    assert!(
        missing.body["detail"]
            .as_str()
            .unwrap()
            .contains("niji release dummy charts"),
        "{}",
        missing.body
    );
    env.release_dummy("charts");
    let reply = alice.raw("GET", &format!("/api/v1/projects/{p}/dummy"));
    assert_eq!(reply.0, 200);
    assert_eq!(reply.1, "application/zip");
    let one = alice.raw("GET", &format!("/api/v1/projects/{p}/dummy/diagnoses"));
    assert_eq!(
        (one.0, one.1.as_str()),
        (200, "application/vnd.apache.parquet")
    );
    assert_eq!(
        alice
            .raw("GET", &format!("/api/v1/projects/{p}/dummy/claims"))
            .0,
        404
    );
    server.stop();

    let dir = tempfile::tempdir().unwrap();
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(reply.2)).unwrap();
    let mut names: Vec<String> = zip.file_names().map(|n| n.unwrap().into_owned()).collect();
    names.sort();
    assert_eq!(names, ["diagnoses.parquet", "persons.parquet"]);
    zip.extract(dir.path()).unwrap();
    let conn = duckdb::Connection::open_in_memory().unwrap();
    let real = niji_query::storage::Release::open(&env.data().join("releases/charts")).unwrap();
    let real_scan = |t: &str| real.duckdb_scan(real.table(t).unwrap());
    let dummy_scan = |t: &str| {
        format!(
            "read_parquet('{}')",
            dir.path().join(format!("{t}.parquet")).display()
        )
    };
    for (table, columns) in [
        ("persons", "pseudonym, sex, prefecture, main_diagnosis"),
        ("diagnoses", "pseudonym, icd10, start"),
    ] {
        let shape = |scan: String| {
            texts(
                &conn,
                &format!(
                    "SELECT column_name || ' ' || column_type FROM (DESCRIBE SELECT {columns} FROM {scan})"
                ),
            )
        };
        let (ours, theirs) = (shape(dummy_scan(table)), shape(real_scan(table)));
        assert_eq!(ours, theirs, "{table}: the granted columns and their types");
        let rows: i64 = conn
            .query_row(
                &format!("SELECT count(*) FROM {}", dummy_scan(table)),
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert!(rows > 0, "{table} has rows");
        // No pseudonym of the release, so no row of it either.
        let shared = texts(
            &conn,
            &format!(
                "SELECT pseudonym FROM {} INTERSECT SELECT pseudonym FROM {}",
                dummy_scan(table),
                real_scan(table)
            ),
        );
        assert!(
            shared.is_empty(),
            "{table}: {} pseudonyms of the release",
            shared.len()
        );
    }
    // The planted rare code is in the release, and not in the dummy data.
    let in_release = texts(
        &conn,
        &format!(
            "SELECT DISTINCT icd10 FROM {} WHERE icd10 = 'E75.2'",
            real_scan("diagnoses")
        ),
    );
    assert_eq!(in_release, ["E75.2"]);
    let codes = texts(
        &conn,
        &format!(
            "SELECT DISTINCT icd10 FROM {} WHERE icd10 IS NOT NULL",
            dummy_scan("diagnoses")
        ),
    );
    assert!(codes.len() > 3, "{codes:?}");
    assert!(!codes.iter().any(|c| c == "E75.2"), "{codes:?}");
    let main = texts(
        &conn,
        &format!(
            "SELECT DISTINCT main_diagnosis FROM {} WHERE main_diagnosis IS NOT NULL",
            dummy_scan("persons")
        ),
    );
    assert!(!main.iter().any(|c| c == "E75.2"), "{main:?}");
    // The anonymized release's twin (built with the fixture) has the
    // release's generalization levels, not a search of its own: each
    // column's type and description (which names the level) is the
    // release's.
    let real = niji_query::storage::Release::open(&env.data().join("releases/claims")).unwrap();
    let twin = niji_query::storage::Release::open(&env.data().join("dummies/claims")).unwrap();
    for table in ["persons", "claims", "drugs", "diagnoses"] {
        assert_eq!(
            twin.table(table).unwrap().columns,
            real.table(table).unwrap().columns,
            "{table}"
        );
    }
    // Dates in the period asked for (shifted by at most the policy's 14 days).
    let outside = texts(
        &conn,
        &format!(
            "SELECT CAST(start AS VARCHAR) FROM {} WHERE start < DATE '2020-12-18' OR start > DATE '2023-01-14'",
            dummy_scan("diagnoses")
        ),
    );
    assert!(outside.is_empty(), "{outside:?}");
}

/// Polls job `id` until it is no longer running; its last status.
fn ended(client: &Client, id: &str) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let status = client.send("GET", &format!("/api/v1/jobs/{id}"), None);
        assert_eq!(status.status, 200, "{}", status.body);
        if status.body["status"] != "running" {
            return status.body;
        }
        assert!(std::time::Instant::now() < deadline, "job {id} never ended");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// With every analysis worker busy on a long query, a citizen's lookup, a
/// project's budget and the airlock's queue still answer, and before the
/// queries end: analysis runs on workers of its own, at the lowest CPU
/// priority. The figures are printed; the test checks the order.
#[test]
fn lookups_and_reads_do_not_wait_for_busy_analysis_workers() {
    let env = platform();
    let server = Server::start_with(
        &env,
        &[("NIJI_JOB_AFTER_MS", "0"), ("NIJI_ANALYSIS_WORKERS", "2")],
    );
    let alice = Client::login(&server, "alice", PASSWORD);
    let p = project(&server, &alice, &[("persons", "sex"), ("claims", "kind")]);
    let admin = Client::login(&server, "admin", ADMIN_PASSWORD);
    let mut people = insured(&env.root.path().join("pop"));
    let (account, _) = enrol_next(&admin, &Client::new(&server), &mut people, PASSWORD);
    let citizen = Client::login(&server, &account, PASSWORD);
    let reviewer = Client::login(&server, "rev1", PASSWORD);

    // Two long queries (each person's claims to the seventh power, past
    // the engine's time limit): both workers busy.
    let joins: String = (0..6)
        .map(|i| format!(" JOIN claims c{i} USING (pseudonym)"))
        .collect();
    let long = format!("SELECT p.sex, count(*) AS n FROM persons p{joins} GROUP BY p.sex");
    let jobs: Vec<String> = (0..2)
        .map(|_| {
            let r = alice.send(
                "POST",
                &format!("/api/v1/projects/{p}/queries"),
                Some(json!({ "sql": long })),
            );
            assert_eq!(r.status, 202, "{}", r.body);
            r.body["job"].as_str().unwrap().to_owned()
        })
        .collect();
    let status = |job: &str| alice.send("GET", &format!("/api/v1/jobs/{job}"), None).body;
    let polling = std::time::Instant::now();
    while jobs.iter().any(|j| status(j)["progress"].is_null()) {
        assert!(polling.elapsed().as_secs() < 20, "the queries never ran");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }

    let timed = |who: &Client, path: &str| {
        let started = std::time::Instant::now();
        let reply = who.send("GET", path, None);
        assert_eq!(reply.status, 200, "{path}: {}", reply.body);
        started.elapsed()
    };
    let lookup = timed(&citizen, "/api/v1/me/accesses");
    let airlock = timed(&reviewer, "/api/v1/airlock");
    let budget = timed(&alice, &format!("/api/v1/projects/{p}/budget"));
    // Answered while both queries still ran.
    for job in &jobs {
        assert_eq!(status(job)["status"], "running", "{job}");
    }
    eprintln!(
        "with both workers busy (debug build): lookup {lookup:?}, airlock {airlock:?}, budget {budget:?}"
    );
    for job in &jobs {
        let cancelled = alice.send("DELETE", &format!("/api/v1/jobs/{job}"), None);
        assert_eq!(cancelled.status, 200, "{}", cancelled.body);
    }
    server.stop();
}

/// A grant revoked while its query runs keeps the query's result in: the
/// gate let the request in, but the result's log entry is written only
/// while the grant is in force, and a refusal takes its place.
#[test]
fn a_grant_revoked_while_its_query_runs_keeps_the_result_in() {
    let env = platform();
    let server = Server::start_with(&env, &[("NIJI_JOB_AFTER_MS", "0")]);
    let alice = Client::login(&server, "alice", PASSWORD);
    let p = project(&server, &alice, &[("persons", "sex"), ("claims", "kind")]);
    let admin = Client::login(&server, "admin", ADMIN_PASSWORD);
    // Each person's claims to the fourth power: about half a second here,
    // ten times the revocation's round trip, well under the engine's time
    // limit.
    let joins: String = (0..3)
        .map(|i| format!(" JOIN claims c{i} USING (pseudonym)"))
        .collect();
    let text = format!("SELECT p.sex, count(*) AS n FROM persons p{joins} GROUP BY p.sex");
    let started = std::time::Instant::now();
    let job = alice.send(
        "POST",
        &format!("/api/v1/projects/{p}/queries"),
        Some(json!({ "sql": text })),
    );
    assert_eq!(job.status, 202, "{}", job.body);
    let id = job.body["job"].as_str().unwrap().to_owned();
    let running = alice.send("GET", &format!("/api/v1/jobs/{id}"), None);
    assert_eq!(running.body["status"], "running", "{}", running.body);
    let revoked = admin.send(
        "POST",
        &format!("/api/v1/grants/{p}/revoke"),
        Some(json!({"reason": "the data holder withdrew the data"})),
    );
    assert_eq!(revoked.status, 200, "{}", revoked.body);
    eprintln!("revoked {:?} after the query began", started.elapsed());

    // The query's event, once it ends: a refusal that says why.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let event = loop {
        let store = env.open_store().unwrap();
        let ended = store
            .audit_events()
            .unwrap()
            .into_iter()
            .find(|e| e.kind.starts_with("analysis.") && e.detail.contains("c2 USING"));
        if let Some(event) = ended {
            break event;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the query never ended"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    eprintln!("the query ended after {:?}", started.elapsed());
    assert_eq!(event.kind, "analysis.refused", "{}", event.detail);
    let detail: Value = serde_json::from_str(&event.detail).unwrap();
    assert_eq!(detail["outcome"], "withheld", "{detail}");
    assert!(
        detail["reason"].as_str().unwrap().contains("was revoked"),
        "{detail}"
    );
    // The researcher learns it from the job, as any refusal.
    let gone = alice.send("GET", &format!("/api/v1/jobs/{id}/result"), None);
    assert_eq!(gone.status, 403, "{}", gone.body);
    server.stop();
    ok(&env.niji(&["log", "verify"]).output().unwrap());
}

#[test]
fn requests_that_outlast_the_wait_become_jobs_to_poll_fetch_or_cancel() {
    let env = platform();
    // No wait at all: every analysis request that is not instant is a job.
    let server = Server::start_with(&env, &[("NIJI_JOB_AFTER_MS", "0")]);
    let alice = Client::login(&server, "alice", PASSWORD);
    let p = project(
        &server,
        &alice,
        &[("persons", "age"), ("persons", "sex"), ("claims", "kind")],
    );
    let post = |text: &str| {
        alice.send(
            "POST",
            &format!("/api/v1/projects/{p}/queries"),
            Some(json!({ "sql": text })),
        )
    };

    // A job: 202 at once, its status, then the same answer a wait gives.
    let text = "SELECT sex, count(*) AS n FROM persons GROUP BY sex ORDER BY sex";
    let accepted = post(text);
    assert_eq!(accepted.status, 202, "{}", accepted.body);
    let id = accepted.body["job"].as_str().unwrap().to_owned();
    assert_eq!(accepted.body["project"], p);
    assert_eq!(accepted.body["kind"], "query");
    let done = ended(&alice, &id);
    assert_eq!(done["status"], "done", "{done}");
    let fetched = alice.send("GET", &format!("/api/v1/jobs/{id}/result"), None);
    assert_eq!(fetched.status, 200, "{}", fetched.body);
    assert_eq!(fetched.body["columns"], json!(["sex", "n"]));
    let rows = fetched.body["rows"].as_array().unwrap();
    assert!(!rows.is_empty());
    for (row, cells) in rows.iter().zip(fetched.body["cells"].as_array().unwrap()) {
        if cells[1] == "pass" {
            assert!(row[1].as_i64().unwrap() >= 10, "{row}");
        }
    }
    // A DP query is a job too, and its result carries the budget after it.
    let dp_job = alice.send(
        "POST",
        &format!("/api/v1/projects/{p}/dp-queries"),
        Some(
            json!({"table": "persons", "group_by": [{"column": "sex", "keyset": "sex"}],
                     "measures": [{"kind": "count"}], "rho": 0.1}),
        ),
    );
    assert_eq!(dp_job.status, 202, "{}", dp_job.body);
    assert_eq!(dp_job.body["kind"], "dp-query");
    let released = alice.settle(dp_job);
    assert_eq!(released.status, 200, "{}", released.body);
    assert!(released.body["budget"]["spent"].as_f64().unwrap() > 0.0);

    // Another account's job does not exist for bob, even by its id.
    let bob = Client::login(&server, "bob", PASSWORD);
    for path in [
        format!("/api/v1/jobs/{id}"),
        format!("/api/v1/jobs/{id}/result"),
    ] {
        assert_eq!(bob.send("GET", &path, None).status, 404, "{path}");
    }
    assert_eq!(
        bob.send("DELETE", &format!("/api/v1/jobs/{id}"), None)
            .status,
        404
    );

    // A long query (claims joined to themselves eight times on the
    // person: each person's claims to the eighth power), cancelled while it
    // runs: it stops, and its result is gone.
    let joins: String = (0..8)
        .map(|i| format!(" JOIN claims c{i} USING (pseudonym)"))
        .collect();
    let long = post(&format!(
        "SELECT p.sex, count(*) AS n FROM persons p{joins} GROUP BY p.sex"
    ));
    assert_eq!(long.status, 202, "{}", long.body);
    let long_id = long.body["job"].as_str().unwrap().to_owned();
    // Polled until the engine reports progress, so that the cancel lands
    // while the query runs, however fast the machine (bounded, in case the
    // engine reports none).
    let polling = std::time::Instant::now();
    let running = loop {
        let reply = alice.send("GET", &format!("/api/v1/jobs/{long_id}"), None);
        if !reply.body["progress"].is_null() || polling.elapsed().as_secs() > 20 {
            break reply;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert_eq!(running.body["status"], "running", "{}", running.body);
    eprintln!("progress while running: {}", running.body["progress"]);
    let cancelled = alice.send("DELETE", &format!("/api/v1/jobs/{long_id}"), None);
    assert_eq!(cancelled.status, 200, "{}", cancelled.body);
    let stopped = std::time::Instant::now();
    let last = ended(&alice, &long_id);
    assert_eq!(last["status"], "cancelled", "{last}");
    // Interrupted, not run to its 30 s timeout.
    assert!(stopped.elapsed().as_secs() < 25, "{:?}", stopped.elapsed());
    let gone = alice.send("GET", &format!("/api/v1/jobs/{long_id}/result"), None);
    assert_eq!(gone.status, 410, "{}", gone.body);

    // A finished job can be forgotten; then it is not there.
    assert_eq!(
        alice
            .send("DELETE", &format!("/api/v1/jobs/{id}"), None)
            .status,
        200
    );
    assert_eq!(
        alice
            .send("GET", &format!("/api/v1/jobs/{id}"), None)
            .status,
        404
    );

    // Jobs kept per account are capped: past the cap a request is refused
    // before it runs, and deleting one makes room.
    let mut kept = Vec::new();
    // Answered within the wait after all (a quick machine): logged, not kept.
    let mut answered_at_once = 0;
    let refused = loop {
        let reply = post("SELECT sex, count(*) AS n FROM persons GROUP BY sex");
        match reply.status {
            202 => {
                let job = reply.body["job"].as_str().unwrap().to_owned();
                // One at a time: a project runs two requests at once.
                ended(&alice, &job);
                kept.push(job);
            }
            200 => answered_at_once += 1,
            _ => break reply,
        }
        assert!(kept.len() <= 16, "more than 16 jobs kept");
    };
    assert_eq!(refused.status, 429, "{}", refused.body);
    assert!(
        refused.body["detail"]
            .as_str()
            .unwrap()
            .contains("jobs of yours are kept"),
        "{}",
        refused.body
    );
    let first = kept.first().expect("a job kept").clone();
    ended(&alice, &first);
    assert_eq!(
        alice
            .send("DELETE", &format!("/api/v1/jobs/{first}"), None)
            .status,
        200
    );
    let again = post("SELECT sex, count(*) AS n FROM persons GROUP BY sex");
    assert!(matches!(again.status, 200 | 202), "{}", again.body);
    if let Some(job) = again.body["job"].as_str() {
        ended(&alice, job);
    }
    let extra = kept.len() + answered_at_once + 1;
    server.stop();

    // Each step is in the log: the queries, the fetches, the cancellation.
    let store = env.open_store().unwrap();
    let events = store.audit_events().unwrap();
    let count = |kind: &str| events.iter().filter(|e| e.kind == kind).count();
    assert_eq!(count("analysis.query"), 1 + extra);
    assert_eq!(count("analysis.dp"), 1);
    assert_eq!(count("analysis.fetch"), 2);
    // Two before the cap, and the job forgotten to make room under it.
    assert_eq!(count("analysis.cancel"), 3);
    let refused: Vec<Value> = events
        .iter()
        .filter(|e| e.kind == "analysis.refused")
        .map(|e| serde_json::from_str(&e.detail).unwrap())
        .collect();
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert!(
        refused[0]["reason"].as_str().unwrap().contains("cancelled"),
        "{refused:?}"
    );
}

/// The notebooks in notebooks/ run, cell by cell, against a server on
/// synthetic data, as a researcher would run them (nbclient). The server
/// waits for no request, so the client follows every answer as a job.
#[test]
fn the_notebooks_run_against_the_platform() {
    let python = venv_tool("NIJI_NOTEBOOK_PYTHON", "notebooks/bin/python");
    let env = platform();
    let server = Server::start_with(&env, &[("NIJI_JOB_AFTER_MS", "0")]);
    let alice = Client::login(&server, "alice", PASSWORD);
    let p = project(
        &server,
        &alice,
        &[
            ("persons", "age"),
            ("persons", "sex"),
            ("drugs", "code"),
            ("drugs", "days"),
            ("claims", "points"),
            ("claims", "kind"),
            ("claims", "inpatient"),
        ],
    );
    let token = alice.send(
        "POST",
        "/api/v1/tokens",
        Some(json!({"project": p, "expires": "2030-01-01"})),
    );
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("notebooks");
    let run = std::process::Command::new(python)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("notebooks/run.py"))
        .arg(&out)
        .env("NIJI_URL", &server.url)
        .env("NIJI_TOKEN", token.body["token"].as_str().unwrap())
        .env("NIJI_PROJECT", p.to_string())
        .output()
        .unwrap();
    server.stop();
    assert!(
        run.status.success(),
        "a notebook failed:\n{}\n{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    for name in [
        "prevalence_by_age.ipynb",
        "drug_utilization_dp.ipynb",
        "models_under_disclosure_control.ipynb",
        "dummy_data_develop_locally.ipynb",
    ] {
        let executed = std::fs::read_to_string(out.join(name)).unwrap();
        assert!(executed.contains("\"outputs\""), "{name}");
    }
    // The client fetched its answers from jobs.
    let store = env.open_store().unwrap();
    let events = store.audit_events().unwrap();
    let fetched = events.iter().filter(|e| e.kind == "analysis.fetch").count();
    assert!(fetched >= 2, "{fetched} results fetched from jobs");
}

/// The Python client as a researcher installs it (`pip install
/// "./notebooks[pandas]"` into a fresh virtual environment, which `.ci/run`
/// makes): it imports from that environment, not the checkout, answers as
/// polars or pandas frames alike, and raises the API's problem details.
#[test]
fn the_installed_python_client_answers_as_polars_or_pandas_and_raises_problems() {
    let python = venv_tool("NIJI_CLIENT_PYTHON", "client/bin/python");
    let script = r#"
import niji_client, pandas, polars
from niji_client import Client, NijiError
assert "site-packages" in niji_client.__file__, niji_client.__file__
sql = "SELECT sex, count(*) AS n FROM persons GROUP BY sex"
as_polars = Client().query(sql)
as_pandas = Client(frame="pandas").query(sql)
assert isinstance(as_polars, polars.DataFrame) and as_polars.height >= 1, as_polars
assert isinstance(as_pandas, pandas.DataFrame), type(as_pandas)
assert list(as_pandas.columns) == as_polars.columns, (as_pandas.columns, as_polars.columns)
assert as_pandas["n"].sum() == as_polars["n"].sum()
try:
    Client().query("SELECT code FROM drugs")
except NijiError as e:
    assert e.status >= 400 and e.detail and e.problem.get("detail") == e.detail, vars(e)
    print("refused", e.status, e.title)
else:
    raise SystemExit("a query outside the grant was answered")
estimates, fit = Client(frame="pandas").model("gaussian", "claims", "points ~ kind")
assert isinstance(estimates, pandas.DataFrame) and estimates["name"][0] == "(Intercept)", estimates
assert fit["residual_df"] >= 10 and fit["statistic"] == "t", fit
dummy = Client().dummy()
assert sorted(dummy) == ["claims", "persons"], sorted(dummy)
assert sorted(dummy["claims"].columns) == ["kind", "points", "pseudonym"], dummy["claims"].columns
print("client ok")
"#;
    let mut run = std::process::Command::new(python);
    run.args(["-c", script]).current_dir(std::env::temp_dir());
    client_passes(run, "client ok");
}

/// Runs a client program against a live server, with an API token of a
/// project granted persons' age and sex and claims' points and kind, with
/// the release's dummy data built (`NIJI_URL`, `NIJI_TOKEN`,
/// `NIJI_PROJECT`), and checks that it succeeded and printed `done`.
fn client_passes(mut program: std::process::Command, done: &str) {
    let env = platform();
    let server = Server::start(&env);
    let alice = Client::login(&server, "alice", PASSWORD);
    let p = project(
        &server,
        &alice,
        &[
            ("persons", "age"),
            ("persons", "sex"),
            ("claims", "points"),
            ("claims", "kind"),
        ],
    );
    let token = alice.send(
        "POST",
        "/api/v1/tokens",
        Some(json!({"project": p, "expires": "2030-01-01"})),
    );
    let run = program
        .env("NIJI_URL", &server.url)
        .env("NIJI_TOKEN", token.body["token"].as_str().unwrap())
        .env("NIJI_PROJECT", p.to_string())
        .output()
        .unwrap();
    server.stop();
    let out = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success() && out.contains(done),
        "the client failed:\n{out}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
}

/// The R client (notebooks/r/niji.R, on Debian's httr2 and jsonlite, which
/// `.ci/run` installs) against a live server: data.frames for SQL and DP,
/// the budget debited, and a refusal as a `niji_error` with the API's
/// problem details.
#[test]
fn the_r_client_answers_data_frames_and_raises_problems() {
    let rscript = std::path::Path::new("/usr/bin/Rscript");
    assert!(
        rscript.exists(),
        "/usr/bin/Rscript is missing; `bash .ci/run` installs Debian's r-base-core, r-cran-httr2 and r-cran-jsonlite"
    );
    let client = Path::new(env!("CARGO_MANIFEST_DIR")).join("notebooks/r/niji.R");
    let script = format!(
        r#"
source("{}")
niji <- niji_client()
stopifnot(nrow(niji_columns(niji)) == 4)
df <- niji_query(niji, "SELECT sex, count(*) AS n FROM persons GROUP BY sex")
stopifnot(is.data.frame(df), identical(names(df), c("sex", "n")), nrow(df) >= 1, is.numeric(df$n))
dp <- niji_dp_query(niji, "persons", list(list(kind = "count")), rho = 0.1,
                    group_by = list(c("sex", "sex")))
stopifnot(is.data.frame(dp), nrow(dp) >= 1)
budget <- niji_budget(niji)
stopifnot(abs(budget$spent - 0.1) < 1e-9)
refused <- tryCatch(niji_query(niji, "SELECT code FROM drugs"), niji_error = function(e) e)
stopifnot(inherits(refused, "niji_error"), refused$status >= 400, nzchar(refused$detail),
          identical(refused$problem$detail, refused$detail))
m <- niji_model(niji, "gaussian", "claims", response = "points", terms = "kind")
stopifnot(is.data.frame(m), m$name[1] == "(Intercept)", nrow(m) >= 2, all(m$lower < m$upper),
          attr(m, "fit")$residual_df >= 10, attr(m, "fit")$statistic == "t")
sep <- tryCatch(niji_model(niji, "binomial", "claims", "points ~ kind"), niji_error = function(e) e)
stopifnot(inherits(sep, "niji_error"), sep$status == 422)
files <- niji_dummy(niji)
stopifnot(setequal(names(files), c("persons", "claims")), all(file.size(files) > 0))
for (f in files) stopifnot(identical(readBin(f, "raw", 4), charToRaw("PAR1")))
cat("r client ok
")
"#,
        client.display()
    );
    let mut run = std::process::Command::new(rscript);
    run.args(["-e", &script]);
    client_passes(run, "r client ok");
}

/// schemathesis (PyPI) fuzzes every operation of /api/openapi.json with a
/// project's API token: no request may end in a server error (5xx).
#[test]
fn schemathesis_finds_no_server_error() {
    let st = venv_tool("NIJI_SCHEMATHESIS", "schemathesis/bin/st");
    let env = platform();
    let server = Server::start(&env);
    let alice = Client::login(&server, "alice", PASSWORD);
    let p = project(&server, &alice, &[("persons", "age"), ("persons", "sex")]);
    let token = alice.send(
        "POST",
        "/api/v1/tokens",
        Some(json!({"project": p, "expires": "2030-01-01"})),
    );
    let token = token.body["token"].as_str().unwrap().to_owned();
    let reports = Path::new(env!("CARGO_TARGET_TMPDIR")).join("schemathesis");
    let run = std::process::Command::new(st)
        .args(["run", &format!("{}/api/openapi.json", server.url)])
        .args(["--checks", "not_a_server_error"])
        .args(["--header", &format!("Authorization: Bearer {token}")])
        .args(["--max-examples", "25", "--workers", "2", "--seed", "2026"])
        .args(["--phases", "examples,coverage,fuzzing"])
        .arg("--report-dir")
        .arg(&reports)
        // Its cache (`.schemathesis/`) goes to the test's directory, not the clone.
        .current_dir(env.root.path())
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    server.stop();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "schemathesis found server errors:\n{stdout}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    eprintln!(
        "{}",
        stdout.lines().rev().take(6).collect::<Vec<_>>().join("\n")
    );
}

/// A certified organization's project on the pseudonymized release may
/// see rows; the pseudonyms those rows show are recorded before they leave.
#[test]
fn row_level_results_record_the_pseudonyms_they_show() {
    let env = platform();
    let policy = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("policies/release-pseudonymized-example.toml")
        .display()
        .to_string();
    ok(&env
        .niji(&["release", "build", "--policy", &policy, "--name", "charts"])
        .env("NIJI_PASSPHRASE", PASSPHRASE)
        .stdout(Stdio::null())
        .output()
        .unwrap());
    let server = Server::start(&env);
    let alice = Client::login(&server, "alice", PASSWORD);
    let items = json!([
        {"release": "charts", "table": "persons", "column": "sex"},
        {"release": "charts", "table": "persons", "column": "pseudonym"}
    ]);
    let id = apply(
        &alice,
        json!({
            "title": "Adverse events after a new drug", "purpose": "drug-safety",
            "lay_summary": "Patients' charts, looked at one by one.", "items": items,
            "tier": "pseudonymized", "starts": "2026-01-01", "ends": "2027-12-31"
        }),
    );
    let conditions = json!({
        "items": items, "rule_set": "ndb", "row_level": true, "dp_rho": 1.0, "expires": "2099-12-31"
    });
    let p = approve(&server, id, &["rev1", "rev2"], PASSWORD, conditions);
    let rows = sql(
        &alice,
        p,
        "SELECT pseudonym, sex FROM persons ORDER BY pseudonym LIMIT 5",
    );
    assert_eq!(rows.status, 200, "{}", rows.body);
    let shown: Vec<String> = rows.body["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r[0].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(shown.len(), 5);
    // Aggregates still go through disclosure control.
    let counts = sql(&alice, p, "SELECT sex, count(*) FROM persons GROUP BY sex");
    assert_eq!(counts.status, 200);
    assert!(counts.body["cells"][0][1].is_string());
    server.stop();

    let store = env.open_store().unwrap();
    for pseudonym in &shown {
        let seen = store.disclosures_of("charts", pseudonym).unwrap();
        assert_eq!(seen.len(), 1, "{pseudonym}");
        assert_eq!((seen[0].grant_id, seen[0].account.as_str()), (p, "alice"));
    }
    let unseen = "a".repeat(32);
    assert!(store.disclosures_of("charts", &unseen).unwrap().is_empty());
    assert!(
        store
            .audit_events()
            .unwrap()
            .iter()
            .any(|e| e.kind == "analysis.rows")
    );
}
