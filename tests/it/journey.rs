//! The whole journey on the real binary over HTTP, on the platform
//! `niji demo` prepares: a FHIR Bundle arrives from a source system; a
//! researcher applies and the review board approves with conditions; the
//! researcher's aggregate query loses a small cell, a DP query debits the
//! budget, a query outside the grant is refused; a flagged result goes
//! through the airlock; the demo's citizen sees every event that concerns
//! them and a receipt that verifies; the citizen opts out and the next
//! release leaves them out. A second `niji demo` reuses every step. At the
//! end no identifier of the population is anywhere niji wrote: files,
//! server log, stored values, and on PostgreSQL the cluster's files.

use crate::common::client::*;
use crate::common::*;

use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::Stdio;

const DEMO_PASSPHRASE: &str = "niji-demo-passphrase";

fn demo(env: &Env) -> String {
    let out = env
        .niji(&["demo", "--no-serve", "--persons", "1500"])
        .stdout(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    stderr(&out)
}

fn bundle() -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/fixtures/fhir/jp-clins/Bundle-Bundle-CLINS-Referral-Example-01.json");
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Posts the Bundle as the facility's source system; the batch it made.
fn post_bundle(server: &Server, credential: &str) -> i64 {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let response = agent
        .post(format!("{}/fhir/Bundle", server.url))
        .header("Content-Type", "application/fhir+json")
        .header("Authorization", format!("Bearer {credential}"))
        .send(&bundle()[..])
        .unwrap();
    assert_eq!(response.status().as_u16(), 201);
    response
        .headers()
        .get("x-niji-batch")
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

fn query(who: &Client, project: i64, sql: &str) -> Reply {
    who.settle(who.send(
        "POST",
        &format!("/api/v1/projects/{project}/queries"),
        Some(json!({ "sql": sql })),
    ))
}

fn kinds(view: &Value) -> Vec<String> {
    view["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["kind"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn from_a_fhir_bundle_to_a_citizens_receipt_and_opt_out() {
    let env = Env::new();
    let first = demo(&env);
    assert!(first.contains("[9/9]"), "{first}");
    let again = demo(&env);
    assert_eq!(
        again.matches("done before: reused").count(),
        7,
        "a second run reuses what exists:\n{again}"
    );

    // 1. A FHIR Bundle arrives from a source system.
    let credential = json(
        &env.niji(&["sources", "add", "--facility", "1319876543", "--json"])
            .output()
            .unwrap(),
    )["credential"]
        .as_str()
        .unwrap()
        .to_owned();
    // The server logs at debug level, for the scan at the end.
    let log = env.root.path().join("serve.log");
    let server = Server::start_demo_logging(&env, &log);
    assert!(post_bundle(&server, &credential) > 0);

    // 2. A researcher applies; the board approves with conditions (fewer
    // columns than asked, the acro rule set, a DP budget).
    let researcher = Client::login(&server, "researcher", DEMO_PASSWORD);
    let asked = json!([
        {"release": "claims", "table": "persons", "column": "age"},
        {"release": "claims", "table": "persons", "column": "sex"},
        {"release": "claims", "table": "persons", "column": "prefecture"},
        {"release": "claims", "table": "persons", "column": "main_diagnosis"}
    ]);
    let id = apply(
        &researcher,
        json!({
            "title": "Regional differences in care by age", "purpose": "public-health-policy",
            "lay_summary": "Where and at what age people use care.", "items": asked,
            "tier": "anonymized", "starts": "2026-01-01", "ends": "2027-12-31"
        }),
    );
    let granted = json!({
        "items": [
            {"release": "claims", "table": "persons", "column": "age"},
            {"release": "claims", "table": "persons", "column": "sex"},
            {"release": "claims", "table": "persons", "column": "prefecture"}
        ],
        "rule_set": "acro", "dp_rho": 0.5, "expires": "2027-12-31"
    });
    let project = approve(
        &server,
        id,
        &["reviewer1", "reviewer2"],
        DEMO_PASSWORD,
        granted,
    );

    // 3. An aggregate query loses its rows of few persons, keys and all; a
    // DP query debits the budget; a query outside the grant is refused.
    let fine = query(
        &researcher,
        project,
        "SELECT age, sex, prefecture, count(*) AS n FROM persons GROUP BY 1, 2, 3",
    );
    assert_eq!(fine.status, 200, "{}", fine.body);
    // Whether the demo's release has rows of under 10 persons depends on
    // the generalization its build chose; if it does, they went whole and
    // the notes say so, and either way no shown row is smaller.
    let notes = fine.body["notes"].to_string();
    let shown = fine.body["rows"].as_array().unwrap().len();
    assert!(shown > 0, "{}", fine.body);
    if notes.contains("withheld") {
        assert!(notes.contains("keys included"), "{notes}");
    }
    assert!(
        fine.body["rows"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r[3].as_i64().is_some_and(|n| n >= 10)),
        "{}",
        fine.body
    );
    let dp = researcher.settle(researcher.send(
        "POST",
        &format!("/api/v1/projects/{project}/dp-queries"),
        Some(
            json!({"table": "persons", "group_by": [{"column": "sex", "keyset": "sex"}],
                    "measures": [{"kind": "count"}], "rho": 0.1}),
        ),
    ));
    assert_eq!(dp.status, 200, "{}", dp.body);
    let budget = researcher.send("GET", &format!("/api/v1/projects/{project}/budget"), None);
    let spent = budget.body["spent"].as_f64().unwrap();
    assert!((spent - 0.1).abs() < 1e-6, "{}", budget.body);
    let outside = query(
        &researcher,
        project,
        "SELECT main_diagnosis, count(*) FROM persons GROUP BY 1",
    );
    assert_eq!(outside.status, 403, "{}", outside.body);

    // 4. A flagged result waits for two outside reviewers.
    let held = query(
        &researcher,
        project,
        "SELECT sex, max(age) AS oldest, count(*) AS n FROM persons GROUP BY sex",
    );
    assert_eq!(held.status, 202, "{}", held.body);
    let result = held.body["airlock"].as_i64().unwrap();
    let fetch = format!("/api/v1/projects/{project}/results/{result}");
    assert_eq!(researcher.send("GET", &fetch, None).status, 202);
    for reviewer in ["reviewer1", "reviewer2"] {
        let r = Client::login(&server, reviewer, DEMO_PASSWORD).send(
            "POST",
            &format!("/api/v1/airlock/{result}/reviews"),
            Some(json!({"decision": "release", "comment": "one band per sex: no one stands out"})),
        );
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let fetched = researcher.send("GET", &fetch, None);
    assert_eq!(fetched.status, 200, "{}", fetched.body);

    // 5. The citizen sees what concerns them, with a receipt that verifies.
    let citizen = Client::login(&server, "citizen-demo", DEMO_PASSWORD);
    let view = citizen.send("GET", "/api/v1/me/accesses?lang=en&limit=200", None);
    assert_eq!(view.status, 200, "{}", view.body);
    let seen = kinds(&view.body);
    for kind in [
        "release.build",
        "grant.create",
        "analysis.query",
        "analysis.dp",
        "analysis.refused",
        "airlock.hold",
        "analysis.rows",
        "citizen.enrol",
    ] {
        assert!(seen.iter().any(|k| k == kind), "{kind} missing: {seen:?}");
    }
    let titles: Vec<&str> = view.body["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["project"]["title"].as_str())
        .collect();
    assert!(titles.contains(&"Regional differences in care by age"));
    let shown = view.body["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["kind"] == "analysis.rows")
        .unwrap();
    assert_eq!(shown["direct"], true);
    let index = view.body["rows"][0]["id"].as_u64().unwrap();
    let receipt = citizen.text("GET", &format!("/api/v1/me/accesses/{index}/receipt"));
    let file = env.root.path().join("receipt.json");
    std::fs::write(&file, &receipt).unwrap();
    let key = Client::new(&server)
        .text("GET", "/log/key")
        .trim()
        .to_owned();
    let checked = verify_receipt(&env, &file, &key);
    assert_eq!(checked["index"], index);

    // 6. Another person enrols with their card; the same card with another
    // birth date is refused.
    let pop = env.data().join("demo-sources");
    let admin = Client::login(&server, "admin", DEMO_PASSWORD);
    let anonymous = Client::new(&server);
    let mut people = insured(&pop);
    let (_, person) = enrol_next(&admin, &anonymous, &mut people, DEMO_PASSWORD);
    let other = people.pop().unwrap();
    let code = admin.send("POST", "/api/v1/admin/enrolment-codes", Some(other.clone()));
    assert_eq!(code.status, 201, "{}", code.body);
    let mut wrong = other;
    wrong["birth"] = json!("1900-01-01");
    wrong["code"] = code.body["code"].clone();
    wrong["password"] = json!(DEMO_PASSWORD);
    let refused = anonymous.send("POST", "/api/v1/enrol", Some(wrong));
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(
        !refused
            .body
            .to_string()
            .contains(person["number"].as_str().unwrap())
    );

    // 7. The citizen opts out; the next release leaves them out.
    let refused = citizen.send("PUT", "/api/v1/me/opt-out", None);
    assert_eq!(refused.body["opted_out"], true, "{}", refused.body);
    server.stop();
    let policy = env
        .data()
        .join("demo-sources/policies/release-anonymized-example.toml");
    env.release_build("claims-next", &policy, DEMO_PASSPHRASE);
    let server = Server::start_demo_logging(&env, &log);
    let citizen = Client::login(&server, "citizen-demo", DEMO_PASSWORD);
    let view = citizen.send("GET", "/api/v1/me/accesses", None);
    let releases = release_names(&view.body);
    assert_eq!(releases, ["claims", "charts"], "{}", view.body);
    server.stop();
    ok(&env.niji(&["log", "verify"]).output().unwrap());

    // 8. No identifier of the population anywhere niji wrote.
    nothing_raw_on_disk(&env, &pop, &log);
}

/// The raw-identifier scan: the data directory's files (the demo's
/// synthetic sources aside: they are the primary-use side), the server's
/// log, every stored value of the control plane, and on PostgreSQL the
/// cluster's files, write-ahead log included.
fn nothing_raw_on_disk(env: &Env, pop: &std::path::Path, log: &std::path::Path) {
    let identifiers = scan::Identifiers::of(pop);
    // The scan finds what it looks for: the sources' FHIR Bundles name
    // their patients.
    let mut sources = Vec::new();
    scan::files_under(&pop.join("fhir"), &mut sources);
    assert!(
        sources
            .iter()
            .any(|f| identifiers.in_packed(&std::fs::read(f).unwrap()).is_some()),
        "the scan misses the sources' own names"
    );
    let mut files = Vec::new();
    scan::files_under(&env.data(), &mut files);
    files.retain(|f| !f.starts_with(pop));
    assert!(files.len() >= 3, "{files:?}");
    if let Some(cluster) = env.store.cluster() {
        let before = files.len();
        scan::files_under(&cluster.data_dir(), &mut files);
        assert!(files.len() > before + 100, "the cluster's files");
    }
    for file in &files {
        identifiers.assert_none_in_file(file);
    }
    let log = std::fs::read_to_string(log).unwrap();
    assert!(log.lines().count() > 50, "{log}");
    assert!(
        !identifiers.in_value(&log),
        "the server's log holds an identifier"
    );
    let values = scan::stored_values(env);
    assert!(values.len() > 1000, "{}", values.len());
    if let Some(value) = values.iter().find(|v| identifiers.in_value(v)) {
        panic!("a stored value holds an identifier: {value:?}");
    }
}
