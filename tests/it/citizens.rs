//! The citizen portal on the real binary over a real release: an admin's
//! enrolment code, a citizen's enrolment with their insurance card and birth
//! date, their view of who used their data (the release, the project's
//! grant, its queries), a receipt checked by `niji log verify-receipt` and
//! by the independent Python verifier, opt-out and its withdrawal against
//! a later release, and who may call each `/me` route.

use crate::common::client::*;
use crate::common::*;

use serde_json::{Value, json};
use std::collections::HashSet;
use std::path::Path;

const PASSWORD: &str = "citizen-test-password";

fn build(env: &Env, name: &str) {
    build_from(env, name, "release-anonymized-example.toml");
}

/// Builds release `name` from an example policy; the build's report.
fn build_from(env: &Env, name: &str, policy: &str) -> Value {
    let policy = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("policies")
        .join(policy)
        .display()
        .to_string();
    json(
        &env.niji(&[
            "release", "build", "--json", "--policy", &policy, "--name", name,
        ])
        .env("NIJI_PASSPHRASE", PASSPHRASE)
        .output()
        .unwrap(),
    )
}

fn kinds(view: &Value) -> Vec<&str> {
    view["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["kind"].as_str().unwrap())
        .collect()
}

#[test]
fn a_citizen_sees_who_used_their_data_with_receipts_and_can_opt_out() {
    let env = Env::new();
    ok(&env.init(&[]));
    let pop = env.synth(300, 8, "2021-01", "2022-12");
    env.ingest_and_link(&pop);
    build(&env, "claims");
    env.organizations(&[("univ", true), ("board", false)]);
    env.accounts(
        &[
            ("alice", "researcher", "univ"),
            ("rev1", "reviewer", "board"),
            ("rev2", "reviewer", "board"),
        ],
        PASSWORD,
    );
    let server = Server::start(&env);
    let alice = Client::login(&server, "alice", PASSWORD);
    let id = apply(
        &alice,
        json!({
            "title": "Claimants by sex",
            "purpose": "public-health-policy",
            "lay_summary": "Who uses care, by sex.",
            "items": [{"release": "claims", "table": "persons", "column": "sex"}],
            "tier": "anonymized",
            "starts": "2026-01-01",
            "ends": "2027-12-31"
        }),
    );
    let conditions = json!({
        "items": [{"release": "claims", "table": "persons", "column": "sex"}],
        "rule_set": "ndb", "dp_rho": 1.0, "expires": "2099-12-31"
    });
    let project = approve(&server, id, &["rev1", "rev2"], PASSWORD, conditions);
    for _ in 0..3 {
        let r = alice.settle(alice.send(
            "POST",
            &format!("/api/v1/projects/{project}/queries"),
            Some(json!({"sql": "SELECT sex, count(*) AS n FROM persons GROUP BY sex"})),
        ));
        assert_eq!(r.status, 200, "{}", r.body);
    }

    // The project's public activity log: its three requests, released,
    // under its rule set; the text withheld (the grant does not publish
    // it) and never a result.
    let public = Client::new(&server);
    let activity = public.send("GET", &format!("/api/v1/register/{project}/activity"), None);
    assert_eq!(activity.status, 200, "{}", activity.body);
    assert_eq!(activity.body["publishes_queries"], false);
    let requests = activity.body["requests"].as_array().unwrap();
    assert_eq!(requests.len(), 3, "{}", activity.body);
    for r in requests {
        assert_eq!(r["status"], "released", "{r}");
        assert_eq!(r["kind"], "sql");
        assert_eq!(r["rule_set"], "ndb");
        assert!(r["query"].is_null(), "{r}");
    }
    let text = activity.body.to_string();
    assert!(
        !text.contains("\"rows\"") && !text.contains("\"cells\"") && !text.contains("GROUP BY"),
        "{text}"
    );
    let page = public.text("GET", &format!("/register/{project}/activity"));
    assert!(
        page.contains("プロジェクトの活動記録") && page.contains("公開"),
        "{page}"
    );
    assert_eq!(
        public
            .send("GET", "/api/v1/register/999999/activity", None)
            .status,
        404
    );

    // Enrolment: the code works with the identity it was issued for only,
    // and once.
    let admin = Client::login(&server, "admin", ADMIN_PASSWORD);
    let anonymous = Client::new(&server);
    let mut people = insured(&pop);
    let (account, person) = enrol_next(&admin, &anonymous, &mut people, PASSWORD);
    assert!(account.starts_with("citizen-"), "{account}");
    let code = admin.send(
        "POST",
        "/api/v1/admin/enrolment-codes",
        Some(person.clone()),
    );
    let mut wrong = person.clone();
    wrong["birth"] = json!("1900-01-01");
    wrong["code"] = code.body["code"].clone();
    wrong["password"] = json!(PASSWORD);
    let refused = anonymous.send("POST", "/api/v1/enrol", Some(wrong.clone()));
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(
        !refused
            .body
            .to_string()
            .contains(person["number"].as_str().unwrap()),
        "the refusal repeats no identifier"
    );
    let citizen = Client::login(&server, &account, PASSWORD);

    // Who used my data: the release, the grant, the queries; the count of
    // queries per project; the enrolment itself, direct.
    let view = citizen.send("GET", "/api/v1/me/accesses?lang=en", None);
    assert_eq!(view.status, 200, "{}", view.body);
    let body = &view.body;
    let seen = kinds(body);
    for kind in [
        "release.build",
        "grant.create",
        "analysis.query",
        "citizen.enrol",
    ] {
        assert!(seen.contains(&kind), "{kind} missing from {seen:?}");
    }
    assert_eq!(body["releases"][0]["name"], "claims");
    assert_eq!(body["queries"][0]["project"]["title"], "Claimants by sex");
    assert_eq!(body["queries"][0]["queries"], 3, "{}", body["queries"]);
    let query = body["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["kind"] == "analysis.query")
        .unwrap();
    assert_eq!(query["organization"], "univ");
    assert_eq!(
        query["what"],
        "Project “Claimants by sex” ran a query on release claims, which holds your data."
    );
    let japanese = citizen.send("GET", "/api/v1/me/accesses", None);
    assert!(
        japanese.body["rows"][0]["what"]
            .as_str()
            .unwrap()
            .contains("あなた")
    );

    // The same entries counted by month (in Japan) and project: the
    // counts add up, the project's group lists its own entries, and the
    // kind filter narrows both.
    let summary = citizen.send("GET", "/api/v1/me/summary?lang=en", None);
    assert_eq!(summary.status, 200, "{}", summary.body);
    let groups = summary.body["groups"].as_array().unwrap();
    let counted: u64 = groups.iter().map(|g| g["entries"].as_u64().unwrap()).sum();
    assert_eq!(counted, body["total"].as_u64().unwrap());
    assert_eq!(summary.body["total"], body["total"]);
    let months: u64 = summary.body["months"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["entries"].as_u64().unwrap())
        .sum();
    assert_eq!(months, counted);
    let project = groups
        .iter()
        .find(|g| g["project"]["title"] == "Claimants by sex")
        .expect("the project's group");
    let listed = citizen.send("GET", project["entries_at"].as_str().unwrap(), None);
    assert_eq!(listed.status, 200, "{}", listed.body);
    assert_eq!(listed.body["total"], project["entries"]);
    assert!(
        listed.body["rows"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["project"]["title"] == "Claimants by sex")
    );
    let analysis = citizen.send("GET", "/api/v1/me/summary?kind=analysis", None);
    let only: u64 = analysis.body["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["entries"].as_u64().unwrap())
        .sum();
    assert!(only >= 3 && only < counted, "{only} of {counted}");
    // Times in Japan, to the minute.
    let when = japanese.body["rows"][0]["when"].as_str().unwrap();
    assert!(
        when.contains('年') && when.contains('日') && when.matches(':').count() == 1,
        "{when}"
    );
    for bad in [
        "/api/v1/me/summary?kind=everything",
        "/api/v1/me/accesses?month=2026-13",
        "/api/v1/me/accesses?project=-1",
    ] {
        let refused = citizen.send("GET", bad, None);
        assert_eq!(refused.status, 422, "{bad}: {}", refused.body);
    }

    // A receipt, checked by niji alone and by the independent verifier.
    let key = Client::new(&server)
        .text("GET", "/log/key")
        .trim()
        .to_owned();
    let index = query["id"].as_u64().unwrap();
    let receipt = citizen.text("GET", &format!("/api/v1/me/accesses/{index}/receipt"));
    let file = env.root.path().join("receipt.json");
    std::fs::write(&file, &receipt).unwrap();
    let checked = verify_receipt(&env, &file, &key);
    assert_eq!(checked["index"], index);
    assert_eq!(checked["entry"]["kind"], "analysis.query");
    assert_eq!(checked["key_pinned"], true);
    // An altered receipt fails, naming why.
    let mut altered: Value = serde_json::from_str(&receipt).unwrap();
    altered["index"] = json!(index + 1);
    std::fs::write(&file, altered.to_string()).unwrap();
    let failed = env
        .niji(&["log", "verify-receipt", "--key", &key])
        .arg(&file)
        .output()
        .unwrap();
    assert!(!failed.status.success());
    assert!(
        stderr(&failed).contains("does not verify"),
        "{}",
        stderr(&failed)
    );

    // Opt-out: later releases leave the citizen out; the earlier stays,
    // and the view says so. Withdrawn, the next release holds them again.
    let out = citizen.send("PUT", "/api/v1/me/opt-out", None);
    assert_eq!(out.status, 200, "{}", out.body);
    assert_eq!(out.body["opted_out"], true);
    assert_eq!(out.body["kept"][0]["name"], "claims");
    server.stop();
    build(&env, "claims-after");
    let server = Server::start(&env);
    let citizen = Client::login(&server, &account, PASSWORD);
    let view = citizen.send("GET", "/api/v1/me/accesses", None);
    let releases = release_names(&view.body);
    assert_eq!(releases, ["claims"], "left out of the later release");
    assert_eq!(kinds(&view.body)[0], "opt-out");
    let page = citizen.text("GET", "/me?lang=en");
    assert!(
        page.contains("Releases built before your refusal remain"),
        "{page}"
    );
    assert!(page.contains("claims"));
    let back = citizen.send("DELETE", "/api/v1/me/opt-out", None);
    assert_eq!(back.body["opted_out"], false, "{}", back.body);
    server.stop();
    build(&env, "claims-again");
    let server = Server::start(&env);
    let citizen = Client::login(&server, &account, PASSWORD);
    let view = citizen.send("GET", "/api/v1/me/accesses", None);
    assert_eq!(view.body["releases"][1]["name"], "claims-again");
    assert!(
        citizen
            .text("GET", "/me")
            .contains("わたしのデータの利用記録")
    );

    // The whole log still verifies.
    server.stop();
    ok(&env.niji(&["log", "verify"]).output().unwrap());
}

/// The newest row of `view` of entry kind `kind`.
fn row_of<'a>(view: &'a Value, kind: &str) -> Option<&'a Value> {
    view["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["kind"] == kind)
}

#[test]
fn a_row_shown_to_a_researcher_reaches_the_person_it_was_about_only() {
    let env = Env::new();
    ok(&env.init(&[]));
    let pop = env.synth(300, 11, "2021-01", "2022-12");
    env.ingest_and_link(&pop);
    let report = build_from(&env, "charts", "release-pseudonymized-example.toml");
    let members = report["persons"].as_u64().unwrap();
    assert!(members >= 4, "{report}");
    env.organizations(&[("univ", true), ("board", false)]);
    env.accounts(
        &[
            ("alice", "researcher", "univ"),
            ("rev1", "reviewer", "board"),
            ("rev2", "reviewer", "board"),
        ],
        PASSWORD,
    );
    let server = Server::start(&env);
    let alice = Client::login(&server, "alice", PASSWORD);
    let items = json!([
        {"release": "charts", "table": "persons", "column": "pseudonym"},
        {"release": "charts", "table": "persons", "column": "sex"}
    ]);
    let id = apply(
        &alice,
        json!({
            "title": "Chart review", "purpose": "drug-safety",
            "lay_summary": "Patients' charts, looked at one by one.", "items": items,
            "tier": "pseudonymized", "starts": "2026-01-01", "ends": "2027-12-31"
        }),
    );
    let conditions = json!({
        "items": items, "rule_set": "ndb", "row_level": true, "dp_rho": 1.0, "expires": "2099-12-31"
    });
    let project = approve(&server, id, &["rev1", "rev2"], PASSWORD, conditions);
    // Half of the release's persons are shown, one row each.
    let half = members / 2;
    let rows = alice.settle(alice.send(
        "POST",
        &format!("/api/v1/projects/{project}/queries"),
        Some(json!({"sql": format!("SELECT pseudonym, sex FROM persons ORDER BY pseudonym LIMIT {half}")})),
    ));
    assert_eq!(rows.status, 200, "{}", rows.body);
    let shown: Vec<String> = rows.body["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r[0].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(shown.len() as u64, half);

    // Citizens in the release: one whose row was shown, one whose was not.
    let admin = Client::login(&server, "admin", ADMIN_PASSWORD);
    let anonymous = Client::new(&server);
    // The persons with chart records: the release's candidates.
    let charted: HashSet<String> = std::fs::read_to_string(pop.join("truth/records.csv"))
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("fhir/"))
        .filter_map(|l| l.rsplit(',').next().map(str::to_owned))
        .collect();
    let mut people = insured_where(&pop, |id| charted.contains(id));
    let (mut seen, mut unseen) = (None, None);
    for _ in 0..16 {
        if seen.is_some() && unseen.is_some() {
            break;
        }
        let (account, _) = enrol_next(&admin, &anonymous, &mut people, PASSWORD);
        let citizen = Client::login(&server, &account, PASSWORD);
        let view = citizen
            .send("GET", "/api/v1/me/accesses?lang=en", None)
            .body;
        if view["releases"].as_array().unwrap().is_empty() {
            continue;
        }
        // Every member sees the project's request on a release that holds
        // them; only the persons it showed see it as about them.
        let entry = row_of(&view, "analysis.rows").expect("the request is in a member's view");
        if entry["direct"] == true {
            seen.get_or_insert((citizen, entry.clone()));
        } else {
            unseen.get_or_insert(entry.clone());
        }
    }
    let (citizen, entry) = seen.expect("no enrolled member's row was shown");
    let unseen = unseen.expect("every enrolled member's row was shown");
    assert_eq!(
        entry["what"],
        "A row about you was shown to a certified researcher of project “Chart review”."
    );
    assert_eq!(
        unseen["what"],
        "Project “Chart review” ran a query on release charts, which holds your data."
    );
    // Its receipt carries the entry, with no pseudonym in the clear.
    let index = entry["id"].as_u64().unwrap();
    let receipt = citizen.text("GET", &format!("/api/v1/me/accesses/{index}/receipt"));
    for p in &shown {
        assert!(!receipt.contains(p.as_str()), "a pseudonym in a receipt");
    }
    let file = env.root.path().join("receipt.json");
    std::fs::write(&file, &receipt).unwrap();
    let checked = json(
        &env.niji(&["log", "verify-receipt", "--json"])
            .arg(&file)
            .output()
            .unwrap(),
    );
    assert_eq!(checked["entry"]["kind"], "analysis.rows");
    server.stop();

    // The entry names, by commitment, exactly the persons it showed.
    let store = env.open_store().unwrap();
    let logged = store.log_entry(index).unwrap();
    assert_eq!(logged.persons.len() as u64, half, "{}", logged.detail);
    assert_eq!(logged.detail, format!("{half} pseudonyms"));
    drop(store);
    ok(&env.niji(&["log", "verify"]).output().unwrap());
}

/// One row of the `/me` matrix: method, path, and each caller's status.
type Row = (&'static str, String, &'static [(&'static str, u16)]);

#[test]
fn the_me_route_matrix_answers_each_citizen_only_about_themselves() {
    let env = Env::new();
    ok(&env.init(&[]));
    let pop = env.synth(200, 9, "2021-01", "2022-06");
    env.ingest_and_link(&pop);
    build(&env, "claims");
    env.organizations(&[("univ", true)]);
    env.accounts(&[("alice", "researcher", "univ")], PASSWORD);
    let server = Server::start(&env);
    let admin = Client::login(&server, "admin", ADMIN_PASSWORD);
    let anonymous = Client::new(&server);
    let mut people = insured(&pop);
    let (a, _) = enrol_next(&admin, &anonymous, &mut people, PASSWORD);
    let (b, _) = enrol_next(&admin, &anonymous, &mut people, PASSWORD);
    let citizen_a = Client::login(&server, &a, PASSWORD);
    let citizen_b = Client::login(&server, &b, PASSWORD);
    // Each citizen's own entry: their enrolment, which names them alone.
    let own = |c: &Client| {
        c.send("GET", "/api/v1/me/accesses", None).body["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["kind"] == "citizen.enrol")
            .unwrap()["id"]
            .as_u64()
            .unwrap()
    };
    let (ea, eb) = (own(&citizen_a), own(&citizen_b));
    let callers: Vec<(&str, &Client)> = vec![
        ("anonymous", &anonymous),
        ("a", &citizen_a),
        ("b", &citizen_b),
        ("admin", &admin),
    ];
    let alice = Client::login(&server, "alice", PASSWORD);
    let matrix: &[Row] = &[
        (
            "GET",
            "/api/v1/me/accesses".into(),
            &[("anonymous", 401), ("a", 200), ("b", 200), ("admin", 403)],
        ),
        (
            "GET",
            format!("/api/v1/me/accesses/{ea}/receipt"),
            &[("anonymous", 401), ("a", 200), ("b", 404), ("admin", 403)],
        ),
        (
            "GET",
            format!("/api/v1/me/accesses/{eb}/receipt"),
            &[("anonymous", 401), ("a", 404), ("b", 200), ("admin", 403)],
        ),
        (
            "GET",
            "/api/v1/me/opt-out".into(),
            &[("anonymous", 401), ("a", 200), ("b", 200), ("admin", 403)],
        ),
        (
            "PUT",
            "/api/v1/me/opt-out".into(),
            &[("anonymous", 401), ("admin", 403)],
        ),
        (
            "DELETE",
            "/api/v1/me/opt-out".into(),
            &[("anonymous", 401), ("admin", 403)],
        ),
        (
            "POST",
            "/api/v1/admin/enrolment-codes".into(),
            &[("anonymous", 401), ("a", 403), ("b", 403)],
        ),
    ];
    let mut failures = Vec::new();
    for (method, path, expected) in matrix {
        for (who, status) in *expected {
            let client = callers.iter().find(|(n, _)| n == who).unwrap().1;
            let body = (*method == "POST").then(|| {
                json!({"insurer": "01130012", "number": "1", "branch": "00", "birth": "1970-01-01"})
            });
            let got = client.send(method, path, body).status;
            if got != *status {
                failures.push(format!(
                    "{method} {path} as {who}: {got}, expected {status}"
                ));
            }
        }
        let got = alice.send(method, path, None).status;
        if got != 403 {
            failures.push(format!(
                "{method} {path} as a researcher: {got}, expected 403"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // B's opt-out leaves A's standing alone.
    citizen_b.send("PUT", "/api/v1/me/opt-out", None);
    let a_state = citizen_a.send("GET", "/api/v1/me/opt-out", None);
    assert_eq!(a_state.body["opted_out"], false);
    // The page is the citizen's own too.
    assert_eq!(anonymous.status("GET", "/me"), 303);
    assert_eq!(alice.status("GET", "/me"), 403);

    // Guessing at enrolment is throttled per address.
    let mut guess = json!({
        "insurer": "01130012", "number": "1", "branch": "00", "birth": "1970-01-01",
        "code": "AAAAA-AAAAA-AAAAA-AAAAA", "password": PASSWORD
    });
    let mut statuses = Vec::new();
    for n in 0..7 {
        guess["number"] = json!(n.to_string());
        statuses.push(
            anonymous
                .send("POST", "/api/v1/enrol", Some(guess.clone()))
                .status,
        );
    }
    assert_eq!(&statuses[..5], [403; 5], "{statuses:?}");
    assert_eq!(statuses[6], 429, "{statuses:?}");
    server.stop();
}
