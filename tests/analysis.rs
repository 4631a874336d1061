//! The analysis API on the real binary over a real release: the purpose
//! gate (membership, token scope, an active grant), SQL outside the grant
//! refused with the reason, small cells suppressed by the grant's rule
//! set, and an audit event for every request, allowed or refused.

mod common;
use common::client::*;
use common::*;

use serde_json::{Value, json};
use std::path::Path;
use std::process::Stdio;

const PASSWORD: &str = "analysis-password";

/// A linked population of 800 persons, an anonymized release `claims`,
/// and the accounts of a review.
fn platform() -> Env {
    let env = Env::new();
    ok(&env.init(&[]));
    let pop = env.synth(800, 8, "2021-01", "2022-12");
    let mut cmd = env.niji(&["ingest"]);
    for dir in ["uke", "care", "dpc", "checkups", "eligibility"] {
        if pop.join(dir).is_dir() {
            cmd.arg(pop.join(dir));
        }
    }
    ok(&cmd
        .env("NIJI_PASSPHRASE", PASSPHRASE)
        .stdout(Stdio::null())
        .output()
        .unwrap());
    ok(&env.niji(&["link"]).stdout(Stdio::null()).output().unwrap());
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
    for (org, certified) in [("univ", true), ("startup", false), ("board", false)] {
        let mut args = vec!["organizations", "add", org];
        if certified {
            args.push("--certified");
        }
        ok(&env.niji(&args).output().unwrap());
    }
    for (name, role, org) in [
        ("alice", "researcher", "univ"),
        ("bob", "researcher", "startup"),
        ("rev1", "reviewer", "board"),
        ("rev2", "reviewer", "board"),
    ] {
        let mut cmd = env.niji(&[
            "accounts",
            "add",
            name,
            "--role",
            role,
            "--organization",
            org,
        ]);
        ok(&cmd.env("NIJI_ACCOUNT_PASSWORD", PASSWORD).output().unwrap());
    }
    env
}

/// `who` applies for `items` of release `claims`; two reviewers approve
/// them all under rule set `ndb`. Returns the project id.
fn project(server: &Server, who: &Client, items: &[(&str, &str)]) -> i64 {
    let items: Vec<Value> = items
        .iter()
        .map(|(t, c)| json!({"release": "claims", "table": t, "column": c}))
        .collect();
    let app = who.send(
        "POST",
        "/api/v1/applications",
        Some(json!({
            "title": "Age and sex of claimants",
            "purpose": "public-health-policy",
            "lay_summary": "Who uses care, by age and sex.",
            "items": items,
            "tier": "anonymized",
            "starts": "2026-01-01",
            "ends": "2027-12-31"
        })),
    );
    let id = app.body["id"].as_i64().unwrap();
    who.send("POST", &format!("/api/v1/applications/{id}/submit"), None);
    let mut project = None;
    for reviewer in ["rev1", "rev2"] {
        let conditions = json!({
            "items": items, "rule_set": "ndb", "dp_rho": 1.0, "expires": "2099-12-31"
        });
        let r = Client::login(server, reviewer, PASSWORD).send(
            "POST",
            &format!("/api/v1/applications/{id}/reviews"),
            Some(json!({"decision": "approve", "conditions": conditions})),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        project = r.body["project"]["id"].as_i64();
    }
    project.unwrap()
}

fn sql(client: &Client, project: i64, text: &str) -> Reply {
    client.send(
        "POST",
        &format!("/api/v1/projects/{project}/queries"),
        Some(json!({ "sql": text })),
    )
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
    assert_eq!(
        tables.body,
        json!([{"name": "persons", "release": "claims", "columns": ["age", "sex"]}])
    );

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
    let revoked = Client::login(&server, "rev1", PASSWORD).send(
        "POST",
        &format!("/api/v1/grants/{p}/revoke"),
        Some(json!({"reason": "ended"})),
    );
    assert_eq!(revoked.status, 200);
    let detail = refusal(&sql(&alice, p, "SELECT count(*) FROM persons"));
    assert!(detail.contains("revoked"), "{detail}");
    server.stop();

    // Every request was logged: allowed, refused by SQL, refused at the gate.
    let store = niji_store::Store::open(&env.data()).unwrap();
    let events = store.audit_events().unwrap();
    let kinds = |kind: &str| events.iter().filter(|e| e.kind == kind).count();
    assert_eq!(kinds("analysis.query"), 1);
    assert_eq!(kinds("analysis.refused"), 6);
    assert_eq!(kinds("analysis.denied"), 4);
    let logged = events.iter().find(|e| e.kind == "analysis.query").unwrap();
    let detail: Value = serde_json::from_str(&logged.detail).unwrap();
    assert_eq!(detail["purpose"], "public-health-policy");
    assert_eq!(detail["tables"], json!(["persons"]));
    assert_eq!(detail["shape"][0].as_u64(), Some(rows.len() as u64));
    assert!(
        detail["sql"]
            .as_str()
            .unwrap()
            .contains("GROUP BY age, sex")
    );
}
