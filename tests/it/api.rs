//! The governance API over HTTP, on the real binary: an application from
//! draft to grant, API tokens, the public register, revocation, and the
//! refusals on the way (conflict of interest, CSRF, another's application,
//! too many failed logins).

use crate::common::client::*;
use crate::common::*;

use serde_json::{Value, json};

const PASSWORD: &str = "governance-password";

fn setup(env: &Env) {
    ok(&env.init(&[]));
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

/// The accounts of `setup`, made once per test build; a copy for the test.
fn governance() -> Env {
    Env::from_fixture("api-accounts", setup)
}

fn application() -> Value {
    json!({
        "title": "Statins and falls",
        "purpose": "academic-research",
        "lay_summary": "Do statins change how often older people fall?",
        "items": [
            {"release": "claims", "table": "persons", "column": "age"},
            {"release": "claims", "table": "drugs", "column": "code"}
        ],
        "tier": "anonymized",
        "starts": "2026-01-01",
        "ends": "2027-12-31"
    })
}

#[test]
fn an_application_goes_from_draft_to_grant_and_is_revoked() {
    let env = governance();
    let server = Server::start(&env);

    let alice = Client::login(&server, "alice", PASSWORD);
    let created = alice.send("POST", "/api/v1/applications", Some(application()));
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.body["id"].as_i64().unwrap();
    assert_eq!(created.body["status"], "draft");
    // A draft can be edited.
    let mut edited = application();
    edited["title"] = json!("Statins and falls in the elderly");
    let put = alice.send("PUT", &format!("/api/v1/applications/{id}"), Some(edited));
    assert_eq!(
        (put.status, put.body["title"].as_str()),
        (200, Some("Statins and falls in the elderly")),
        "{}",
        put.body
    );
    let submitted = alice.send("POST", &format!("/api/v1/applications/{id}/submit"), None);
    assert_eq!(
        (submitted.status, submitted.body["status"].as_str()),
        (200, Some("submitted"))
    );

    // A change without the CSRF token is refused.
    let mut no_csrf = Client::login(&server, "alice", PASSWORD);
    no_csrf.csrf = None;
    let refused = no_csrf.send("POST", &format!("/api/v1/applications/{id}/withdraw"), None);
    assert_eq!(refused.status, 403);
    assert_eq!(refused.content_type, "application/problem+json");
    assert!(refused.body["detail"].as_str().unwrap().contains("CSRF"));

    // Another researcher does not see it at all.
    let bob = Client::login(&server, "bob", PASSWORD);
    assert_eq!(
        bob.send("GET", &format!("/api/v1/applications/{id}"), None)
            .status,
        404
    );

    // Conflict of interest, then two approvals.
    let rev3 = Client::login(&server, "rev3", PASSWORD);
    let coi = rev3.send(
        "POST",
        &format!("/api/v1/applications/{id}/reviews"),
        Some(json!({"decision": "approve"})),
    );
    assert_eq!(coi.status, 403, "{}", coi.body);
    assert!(
        coi.body["detail"]
            .as_str()
            .unwrap()
            .contains("conflict of interest")
    );
    // Nor may it read the application, its reviews and their authors.
    assert_eq!(
        rev3.send("GET", &format!("/api/v1/applications/{id}"), None)
            .status,
        404
    );
    // The applicant never sees who reviews: the review page is the
    // board's, refused to anyone else whichever application it names.
    assert_eq!(alice.status("GET", &format!("/reviews/{id}")), 403);
    assert_eq!(alice.status("GET", "/reviews/999999"), 403);
    let rev1 = Client::login(&server, "rev1", PASSWORD);
    assert_eq!(
        rev1.send("GET", "/api/v1/reviews/queue", None)
            .body
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let first = rev1.send(
        "POST",
        &format!("/api/v1/applications/{id}/reviews"),
        Some(json!({"decision": "approve", "comment": "fine"})),
    );
    assert_eq!(
        (first.status, first.body["approvals"].as_u64()),
        (200, Some(1)),
        "{}",
        first.body
    );
    let rev2 = Client::login(&server, "rev2", PASSWORD);
    let unknown = rev2.send(
        "POST",
        &format!("/api/v1/applications/{id}/reviews"),
        Some(json!({"decision": "approve", "conditions": {
            "items": [], "rule_set": "lenient", "dp_rho": 1.0, "expires": "2099-12-31"
        }})),
    );
    assert_eq!(unknown.status, 422, "{}", unknown.body);
    assert!(
        unknown.body["detail"]
            .as_str()
            .unwrap()
            .contains("rule set `lenient` is not one of: acro, ndb")
    );
    let conditions = json!({
        "items": [{"release": "claims", "table": "persons", "column": "age"}],
        "rule_set": "ndb", "dp_rho": 0.5, "expires": "2099-12-31"
    });
    let done = rev2.send(
        "POST",
        &format!("/api/v1/applications/{id}/reviews"),
        Some(json!({"decision": "approve", "conditions": conditions})),
    );
    assert_eq!(done.status, 200, "{}", done.body);
    assert_eq!(done.body["status"], "approved");
    let project = done.body["project"]["id"].as_i64().unwrap();

    // The project, a token for a notebook, the public register.
    let projects = alice.send("GET", "/api/v1/projects", None);
    assert_eq!(projects.body[0]["id"].as_i64(), Some(project));
    assert_eq!(projects.body[0]["active"], true);
    let token = alice.send(
        "POST",
        "/api/v1/tokens",
        Some(json!({"project": project, "expires": "2030-01-01"})),
    );
    assert_eq!(token.status, 201, "{}", token.body);
    let mut notebook = Client::new(&server);
    notebook.token = Some(token.body["token"].as_str().unwrap().to_owned());
    assert_eq!(
        notebook
            .send("GET", &format!("/api/v1/projects/{project}"), None)
            .status,
        200
    );
    assert_eq!(
        notebook.send("GET", "/api/v1/applications", None).status,
        403,
        "a token reaches its project only"
    );
    // A second token, revoked by its holder: refused from the next request.
    let second = alice.send(
        "POST",
        "/api/v1/tokens",
        Some(json!({"project": project, "expires": "2030-01-01"})),
    );
    let mut revoked_notebook = Client::new(&server);
    revoked_notebook.token = Some(second.body["token"].as_str().unwrap().to_owned());
    let path = format!("/api/v1/projects/{project}");
    assert_eq!(revoked_notebook.send("GET", &path, None).status, 200);
    let second_id = second.body["token_id"].as_str().unwrap();
    let by_bob = Client::login(&server, "bob", PASSWORD).send(
        "POST",
        &format!("/api/v1/tokens/{second_id}/revoke"),
        None,
    );
    assert_eq!(by_bob.status, 403, "{}", by_bob.body);
    let gone = alice.send("POST", &format!("/api/v1/tokens/{second_id}/revoke"), None);
    assert_eq!(gone.status, 200, "{}", gone.body);
    assert!(gone.body["revoked_at"].is_string());
    assert_eq!(revoked_notebook.send("GET", &path, None).status, 401);
    let listed = alice.send("GET", "/api/v1/tokens", None).body;
    assert_eq!(listed.as_array().unwrap().len(), 2);
    assert!(
        !listed
            .to_string()
            .contains(second.body["token"].as_str().unwrap()),
        "a listed token shows its secret"
    );
    // The first token still works.
    assert_eq!(notebook.send("GET", &path, None).status, 200);

    let register = Client::new(&server).send("GET", "/api/v1/register", None);
    assert_eq!(register.status, 200);
    assert_eq!(
        register.body[0]["title"],
        "Statins and falls in the elderly"
    );
    assert_eq!(register.body[0]["releases"], json!(["claims"]));

    // Revocation: one reviewer asks, and it stays in force; a reviewer of
    // the applicant's organization may not ask; the quorum's second
    // request revokes, in force at the next request.
    let revoke = |who: &Client, reason: &str| {
        who.send(
            "POST",
            &format!("/api/v1/grants/{project}/revoke"),
            Some(json!({ "reason": reason })),
        )
    };
    let asked = revoke(&rev1, "ended");
    assert_eq!(
        (
            asked.status,
            asked.body["active"].as_bool(),
            asked.body["revocation_requests"].as_u64(),
            asked.body["revocation_needs"].as_u64()
        ),
        (200, Some(true), Some(1), Some(2)),
        "{}",
        asked.body
    );
    assert_eq!(notebook.send("GET", &path, None).status, 200);
    let rev3 = Client::login(&server, "rev3", PASSWORD);
    let conflicted = revoke(&rev3, "ended");
    assert_eq!(conflicted.status, 403, "{}", conflicted.body);
    let revoked = revoke(&rev2, "ended, confirmed");
    assert_eq!(
        (revoked.status, revoked.body["active"].as_bool()),
        (200, Some(false))
    );
    let after = notebook.send("GET", &format!("/api/v1/projects/{project}"), None);
    assert_eq!(after.status, 401);
    assert_eq!(after.content_type, "application/problem+json");
    assert_eq!(
        Client::new(&server)
            .send("GET", "/api/v1/register", None)
            .body[0]["active"],
        false
    );

    // Without a login, nothing but the register.
    assert_eq!(
        Client::new(&server)
            .send("GET", "/api/v1/applications", None)
            .status,
        401
    );
    server.stop();
}

fn sign_in(client: &Client, name: &str, password: &str) -> u16 {
    client
        .send(
            "POST",
            "/api/v1/auth/login",
            Some(json!({"name": name, "password": password})),
        )
        .status
}

fn audit_events(env: &Env) -> Vec<niji_store::AuditEvent> {
    env.open_store().unwrap().audit_events().unwrap()
}

/// Five wrong passwords slow an account down, not lock it: the right one
/// gets through after the wait it is told, and the log holds the failures
/// aggregated, never a name no account has.
#[test]
fn repeated_failed_logins_slow_the_account_and_are_logged_in_aggregate() {
    let env = governance();
    let server = Server::start(&env);
    let client = Client::new(&server);
    let statuses: Vec<u16> = (0..7)
        .map(|_| sign_in(&client, "alice", "wrong-password!"))
        .collect();
    assert_eq!(statuses, [401, 401, 401, 401, 401, 429, 429]);
    // The right password waits too, but only as long as it is told.
    let url = format!("{}/api/v1/auth/login", server.url);
    let body = json!({"name": "alice", "password": PASSWORD}).to_string();
    let refused = client
        .agent
        .post(&url)
        .header("Content-Type", "application/json")
        .send(&body)
        .unwrap();
    assert_eq!(refused.status().as_u16(), 429);
    let wait: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&wait), "Retry-After {wait}");
    std::thread::sleep(std::time::Duration::from_secs(wait));
    assert_eq!(sign_in(&client, "alice", PASSWORD), 200);
    // A name no account has, perhaps a password typed in the wrong field.
    for _ in 0..3 {
        assert_eq!(sign_in(&client, "correct.horse.battery", PASSWORD), 401);
    }
    server.stop();
    let events = audit_events(&env);
    let failed: Vec<&str> = events
        .iter()
        .filter(|e| e.kind == "login.failed")
        .map(|e| e.actor.as_str())
        .collect();
    // alice's five failures at the 1st, 2nd and 4th; the unknown name's
    // three at the 1st and 2nd, under no name.
    assert_eq!(
        failed,
        [
            "alice",
            "alice",
            "alice",
            "(unknown account)",
            "(unknown account)"
        ]
    );
    assert!(events.iter().any(|e| e.kind == "login.throttled"));
    let text = format!("{events:?}");
    assert!(!text.contains("correct.horse"), "{text}");
}

/// Forty guesses at once meet the same limit as forty in a row: an attempt
/// is reserved before its password is checked.
#[test]
fn parallel_guesses_are_throttled_like_sequential_ones() {
    let env = governance();
    let server = Server::start(&env);
    let statuses: Vec<u16> = std::thread::scope(|s| {
        let guesses: Vec<_> = (0..40)
            .map(|i| {
                let server = &server;
                s.spawn(move || sign_in(&Client::new(server), "alice", &format!("guess-{i}")))
            })
            .collect();
        guesses.into_iter().map(|g| g.join().unwrap()).collect()
    });
    let checked = statuses.iter().filter(|s| **s == 401).count();
    let throttled = statuses.iter().filter(|s| **s == 429).count();
    eprintln!("40 parallel guesses: {checked} checked, {throttled} throttled");
    assert!(checked <= 5, "{statuses:?}");
    assert_eq!(checked + throttled, 40, "{statuses:?}");
    server.stop();
}

fn size_of(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| {
            let meta = e.metadata().unwrap();
            if meta.is_dir() {
                size_of(&e.path())
            } else {
                meta.len()
            }
        })
        .sum()
}

/// Names of a mebibyte are refused before anything is written: a thousand
/// of them leave the data directory (and the permanent log) as they were.
#[test]
fn large_names_are_refused_before_anything_is_written() {
    let env = governance();
    let server = Server::start(&env);
    let client = Client::new(&server);
    // The log's first checkpoint and the store's settling happen first.
    assert_eq!(sign_in(&client, "alice", PASSWORD), 200);
    std::thread::sleep(std::time::Duration::from_secs(1));
    let before = size_of(&env.data());
    let url = format!("{}/api/v1/auth/login", server.url);
    let name = "a".repeat(1 << 20);
    let body = json!({"name": name, "password": "wrong-password!"}).to_string();
    let mut refused = 0;
    for _ in 0..1000 {
        match client
            .agent
            .post(&url)
            .header("Content-Type", "application/json")
            .send(&body)
        {
            Ok(reply) => {
                assert_eq!(reply.status().as_u16(), 413);
                refused += 1;
            }
            // The server may stop reading once the body is too large.
            Err(_) => refused += 1,
        }
    }
    assert_eq!(refused, 1000);
    let grown = size_of(&env.data()).saturating_sub(before);
    eprintln!("1,000 sign-ins with 1 MiB names: data directory grew by {grown} bytes");
    assert!(grown < 1 << 20, "grew by {grown} bytes");
    server.stop();
    let kinds: Vec<String> = audit_events(&env).into_iter().map(|e| e.kind).collect();
    assert!(!kinds.iter().any(|k| k.starts_with("login.")), "{kinds:?}");
}

/// A wrong password for a known name and for an unknown one take the same
/// time: the unknown name is checked against a decoy hash.
#[test]
fn sign_in_timing_does_not_tell_which_names_exist() {
    let env = Env::new();
    ok(&env.init(&[]));
    env.organizations(&[("univ", true)]);
    let known: Vec<String> = (0..5).map(|i| format!("known{i}")).collect();
    let accounts: Vec<(&str, &str, &str)> = known
        .iter()
        .map(|n| (n.as_str(), "researcher", "univ"))
        .collect();
    env.accounts(&accounts, PASSWORD);
    let server = Server::start(&env);
    let client = Client::new(&server);
    let mut times = [Vec::new(), Vec::new()];
    // Four tries per name (under the five that slow an account down),
    // alternating, so that drift hits both alike.
    for round in 0..4 {
        for (i, known) in known.iter().enumerate() {
            for (kind, name) in [(0, known.clone()), (1, format!("unknown{i}"))] {
                let started = std::time::Instant::now();
                assert_eq!(sign_in(&client, &name, &format!("wrong-{round}")), 401);
                times[kind].push(started.elapsed().as_secs_f64() * 1e3);
            }
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        (v[v.len() / 2 - 1] + v[v.len() / 2]) / 2.0
    };
    // Each known name's try and the unknown one's right after it are a
    // pair: the machine's state (a commit, a busy core) is alike for both,
    // so their differences show a leak however the times spread (on a
    // loaded machine they fall in two bands, and two medians of 20 can sit
    // in different ones by chance).
    let mut diffs: Vec<f64> = times[0].iter().zip(&times[1]).map(|(k, u)| k - u).collect();
    let d = median(&mut diffs);
    let (k, u) = (median(&mut times[0]), median(&mut times[1]));
    eprintln!(
        "wrong password, median of 20: known name {k:.1} ms, unknown name {u:.1} ms; \
         median paired difference {d:.1} ms"
    );
    assert!(
        d.abs() / k.max(u) < 0.2,
        "known {k:.1} ms, unknown {u:.1} ms, paired difference {d:.1} ms"
    );
    server.stop();
}

/// Who may call what: every route, each kind of caller, on one approved
/// application (A) of alice's and its project (P). Rows that would change
/// state are those the caller is refused; allowed changes are covered by
/// the flow test above.
/// One row of the matrix: method, path, body, and each caller's status.
type Row = (
    &'static str,
    &'static str,
    &'static str,
    &'static [(&'static str, u16)],
);

const MATRIX: &[Row] = &[
    // (method, path, body, [(caller, status)])
    (
        "GET",
        "/api/v1/applications",
        "",
        &[
            ("anonymous", 401),
            ("alice", 200),
            ("bob", 200),
            ("rev1", 200),
            ("admin", 200),
            ("token", 403),
        ],
    ),
    (
        "GET",
        "/api/v1/applications/{A}",
        "",
        &[
            ("anonymous", 401),
            ("alice", 200),
            ("bob", 404),
            ("rev1", 200),
            ("admin", 200),
            ("token", 403),
        ],
    ),
    (
        "PUT",
        "/api/v1/applications/{A}",
        "form",
        &[
            ("anonymous", 401),
            ("alice", 422),
            ("bob", 404),
            ("rev1", 403),
            ("token", 403),
        ],
    ),
    (
        "POST",
        "/api/v1/applications/{A}/submit",
        "",
        &[
            ("anonymous", 401),
            ("alice", 422),
            ("bob", 404),
            ("rev1", 403),
            ("token", 403),
        ],
    ),
    (
        "POST",
        "/api/v1/applications/{A}/withdraw",
        "",
        &[
            ("anonymous", 401),
            ("alice", 422),
            ("bob", 404),
            ("rev1", 403),
            ("admin", 403),
            ("token", 403),
        ],
    ),
    (
        "POST",
        "/api/v1/applications/{A}/reviews",
        "approve",
        &[
            ("anonymous", 401),
            ("alice", 403),
            ("bob", 404),
            ("rev1", 422),
            ("admin", 403),
            ("token", 403),
        ],
    ),
    (
        "GET",
        "/api/v1/reviews/queue",
        "",
        &[
            ("anonymous", 401),
            ("alice", 403),
            ("bob", 403),
            ("rev1", 200),
            ("admin", 403),
            ("token", 403),
        ],
    ),
    (
        "GET",
        "/api/v1/projects",
        "",
        &[
            ("anonymous", 401),
            ("alice", 200),
            ("bob", 200),
            ("rev1", 200),
            ("token", 200),
        ],
    ),
    (
        "GET",
        "/api/v1/projects/{P}",
        "",
        &[
            ("anonymous", 401),
            ("alice", 200),
            ("bob", 404),
            ("rev1", 200),
            ("admin", 200),
            ("token", 200),
        ],
    ),
    (
        "POST",
        "/api/v1/grants/{P}/revoke",
        "reason",
        &[
            ("anonymous", 401),
            ("alice", 403),
            ("bob", 403),
            ("token", 403),
        ],
    ),
    (
        "POST",
        "/api/v1/tokens",
        "token",
        &[
            ("anonymous", 401),
            ("bob", 403),
            ("rev1", 403),
            ("token", 403),
        ],
    ),
    // Cross-project: alice and her project's token against bob's project Q.
    (
        "GET",
        "/api/v1/projects/{Q}",
        "",
        &[("alice", 404), ("bob", 200), ("rev1", 200), ("token", 403)],
    ),
    (
        "POST",
        "/api/v1/tokens",
        "token-q",
        &[("alice", 403), ("rev1", 403), ("token", 403)],
    ),
    // Models and dummy data pass the purpose gate like every analysis
    // route: a member gets past it (here to a 422, for the empty model and
    // for this fixture's grant, whose release is recorded but not on disk),
    // nobody else does.
    (
        "POST",
        "/api/v1/projects/{P}/models",
        "",
        &[
            ("anonymous", 401),
            ("alice", 422),
            ("bob", 403),
            ("rev1", 403),
            ("admin", 403),
            ("token", 422),
        ],
    ),
    (
        "POST",
        "/api/v1/projects/{Q}/models",
        "",
        &[("alice", 403), ("rev1", 403), ("token", 403)],
    ),
    (
        "GET",
        "/api/v1/projects/{P}/dummy",
        "",
        &[
            ("anonymous", 401),
            ("alice", 422),
            ("bob", 403),
            ("rev1", 403),
            ("admin", 403),
            ("token", 422),
        ],
    ),
    (
        "GET",
        "/api/v1/projects/{Q}/dummy/persons",
        "",
        &[("alice", 403), ("rev1", 403), ("token", 403)],
    ),
    (
        "GET",
        "/api/v1/admin/accounts",
        "",
        &[
            ("anonymous", 401),
            ("alice", 403),
            ("rev1", 403),
            ("admin", 200),
            ("token", 403),
        ],
    ),
    (
        "POST",
        "/api/v1/admin/accounts",
        "account",
        &[
            ("anonymous", 401),
            ("alice", 403),
            ("rev1", 403),
            ("token", 403),
            ("admin", 201),
        ],
    ),
    (
        "GET",
        "/api/v1/admin/organizations",
        "",
        &[
            ("anonymous", 401),
            ("alice", 403),
            ("rev1", 403),
            ("admin", 200),
            ("token", 403),
        ],
    ),
    (
        "POST",
        "/api/v1/admin/organizations",
        "org",
        &[
            ("anonymous", 401),
            ("alice", 403),
            ("rev1", 403),
            ("token", 403),
            ("admin", 201),
        ],
    ),
    (
        "PUT",
        "/api/v1/admin/organizations/startup",
        "certify",
        &[
            ("anonymous", 401),
            ("alice", 403),
            ("rev1", 403),
            ("token", 403),
            ("admin", 204),
        ],
    ),
    (
        "GET",
        "/api/v1/register",
        "",
        &[
            ("anonymous", 200),
            ("alice", 200),
            ("bob", 200),
            ("rev1", 200),
            ("admin", 200),
            ("token", 200),
        ],
    ),
];

/// An application of `applicant`'s, submitted and approved by rev1 and
/// rev2: its id and its project's.
fn approved_project(server: &Server, applicant: &Client) -> (i64, i64) {
    let created = applicant.send("POST", "/api/v1/applications", Some(application()));
    let a = created.body["id"].as_i64().unwrap();
    applicant.send("POST", &format!("/api/v1/applications/{a}/submit"), None);
    let conditions = json!({
        "items": [{"release": "claims", "table": "persons", "column": "age"}],
        "rule_set": "ndb", "dp_rho": 0.5, "expires": "2099-12-31"
    });
    (
        a,
        approve(server, a, &["rev1", "rev2"], PASSWORD, conditions),
    )
}

#[test]
fn the_authorization_matrix_holds() {
    let env = governance();
    let server = Server::start(&env);
    let alice = Client::login(&server, "alice", PASSWORD);
    let (a, p) = approved_project(&server, &alice);
    // Another project, of another organization: what cross-project access
    // would reach.
    let (_, q) = approved_project(&server, &Client::login(&server, "bob", PASSWORD));
    let token = alice.send(
        "POST",
        "/api/v1/tokens",
        Some(json!({"project": p, "expires": "2030-01-01"})),
    );
    let mut callers: Vec<(&str, Client)> = vec![("anonymous", Client::new(&server))];
    for name in ["alice", "bob", "rev1"] {
        callers.push((name, Client::login(&server, name, PASSWORD)));
    }
    callers.push(("admin", Client::login(&server, "admin", ADMIN_PASSWORD)));
    let mut notebook = Client::new(&server);
    notebook.token = Some(token.body["token"].as_str().unwrap().to_owned());
    callers.push(("token", notebook));

    let mut failures = Vec::new();
    for (method, path, body, expected) in MATRIX {
        let path = path
            .replace("{A}", &a.to_string())
            .replace("{P}", &p.to_string())
            .replace("{Q}", &q.to_string());
        let body = match *body {
            "form" => Some(application()),
            "approve" => Some(json!({"decision": "approve"})),
            "reason" => Some(json!({"reason": "matrix"})),
            "token" => Some(json!({"project": p, "expires": "2030-01-01"})),
            "token-q" => Some(json!({"project": q, "expires": "2030-01-01"})),
            "org" => Some(json!({"name": "matrix-org"})),
            "account" => Some(json!({
                "name": "matrix-user", "role": "reviewer", "password": "matrix-password-long"
            })),
            "certify" => Some(json!({"certified": true})),
            _ => None,
        };
        for (who, status) in *expected {
            let client = &callers.iter().find(|(n, _)| n == who).unwrap().1;
            let reply = client.send(method, &path, body.clone());
            if reply.status != *status {
                failures.push(format!(
                    "{method} {path} as {who}: {}, expected {status} ({})",
                    reply.status, reply.body
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    server.stop();
}

#[test]
fn the_openapi_document_describes_every_route() {
    let env = Env::new();
    ok(&env.init(&[]));
    let server = Server::start(&env);
    let doc = Client::new(&server).send("GET", "/api/openapi.json", None);
    assert_eq!(doc.status, 200);
    assert!(
        doc.body["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc.body["openapi"]
    );
    let paths = doc.body["paths"].as_object().unwrap();
    for (path, method) in [
        ("/api/v1/auth/login", "post"),
        ("/api/v1/auth/logout", "post"),
        ("/api/v1/tokens", "post"),
        ("/api/v1/tokens", "get"),
        ("/api/v1/tokens/{token_id}/revoke", "post"),
        ("/api/v1/applications", "get"),
        ("/api/v1/applications", "post"),
        ("/api/v1/applications/{id}", "get"),
        ("/api/v1/applications/{id}/submit", "post"),
        ("/api/v1/applications/{id}/withdraw", "post"),
        ("/api/v1/applications/{id}/reviews", "post"),
        ("/api/v1/reviews/queue", "get"),
        ("/api/v1/projects", "get"),
        ("/api/v1/projects/{id}", "get"),
        ("/api/v1/grants/{id}/revoke", "post"),
        ("/api/v1/register", "get"),
        ("/api/v1/admin/accounts", "get"),
        ("/api/v1/admin/accounts", "post"),
        ("/api/v1/admin/organizations", "get"),
        ("/api/v1/admin/organizations", "post"),
        ("/api/v1/admin/organizations/{name}", "put"),
        ("/api/v1/admin/enrolment-codes", "post"),
        ("/api/v1/enrol", "post"),
        ("/api/v1/me/accesses", "get"),
        ("/api/v1/me/accesses/{id}/receipt", "get"),
        ("/api/v1/me/opt-out", "get"),
        ("/api/v1/me/opt-out", "put"),
        ("/api/v1/me/opt-out", "delete"),
        ("/api/v1/projects/{id}/models", "post"),
        ("/api/v1/projects/{id}/dummy", "get"),
        ("/api/v1/projects/{id}/dummy/{table}", "get"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} is not described"
        );
    }
    // The wire types are described too.
    assert!(
        doc.body["components"]["schemas"]
            .get("ApplicationView")
            .is_some()
    );
    server.stop();
}

#[test]
fn an_admin_adds_organizations_and_accounts_with_clear_refusals() {
    let env = governance();
    let server = Server::start(&env);
    let admin = Client::login(&server, "admin", ADMIN_PASSWORD);
    let made = admin.send(
        "POST",
        "/api/v1/admin/organizations",
        Some(json!({"name": "clinic", "certified": false})),
    );
    assert_eq!(made.status, 201, "{}", made.body);
    let again = admin.send(
        "POST",
        "/api/v1/admin/organizations",
        Some(json!({"name": "clinic"})),
    );
    assert_eq!(again.status, 422);
    assert!(again.body["detail"].as_str().unwrap().contains("exists"));
    let certify = admin.send(
        "PUT",
        "/api/v1/admin/organizations/clinic",
        Some(json!({"certified": true})),
    );
    assert_eq!(certify.status, 204);

    let account = |name: &str, role: &str, org: Option<&str>, password: &str| {
        admin.send(
            "POST",
            "/api/v1/admin/accounts",
            Some(json!({"name": name, "role": role, "organization": org, "password": password})),
        )
    };
    let refusals = [
        (
            account("dave", "researcher", Some("clinic"), "short"),
            "at least 12",
        ),
        (
            account("dave", "researcher", None, PASSWORD),
            "belongs to an organization",
        ),
        (
            account("dave", "wizard", Some("clinic"), PASSWORD),
            "unknown role",
        ),
        (
            account("Dave!", "researcher", Some("clinic"), PASSWORD),
            "invalid account name",
        ),
        (
            account("dave", "researcher", Some("nowhere"), PASSWORD),
            "no organization",
        ),
        (
            account("alice", "researcher", Some("clinic"), PASSWORD),
            "exists",
        ),
    ];
    for (reply, reason) in refusals {
        assert_eq!(reply.status, 422, "{reason}: {}", reply.body);
        assert_eq!(reply.content_type, "application/problem+json");
        let detail = reply.body["detail"].as_str().unwrap();
        assert!(detail.contains(reason), "{detail}");
        assert!(
            !detail.contains(PASSWORD),
            "a password in an error: {detail}"
        );
    }
    assert_eq!(
        account("dave", "researcher", Some("clinic"), PASSWORD).status,
        201
    );

    let orgs = admin.send("GET", "/api/v1/admin/organizations", None).body;
    let clinic = orgs
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == "clinic")
        .unwrap();
    assert_eq!(
        (clinic["certified"].as_bool(), &clinic["members"]),
        (Some(true), &json!(["dave"]))
    );
    let accounts = admin.send("GET", "/api/v1/admin/accounts", None).body;
    let dave = accounts
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "dave")
        .unwrap();
    assert_eq!(
        (dave["role"].as_str(), dave["organization"].as_str()),
        (Some("researcher"), Some("clinic"))
    );
    // The new account logs in with the password it was given.
    Client::login(&server, "dave", PASSWORD);
    server.stop();
}

/// Every reply, page or API, carries the security headers, and none may be
/// cached but the stylesheet: the login reply holds a CSRF token, a token
/// reply a secret, every page personal or health data.
#[test]
fn every_reply_carries_the_security_headers() {
    let env = governance();
    let server = Server::start(&env);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let header = |reply: &ureq::http::Response<ureq::Body>, name: &str| {
        reply
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    let login = agent
        .post(format!("{}/api/v1/auth/login", server.url))
        .header("Content-Type", "application/json")
        .header("X-Forwarded-Proto", "https")
        .send(json!({"name": "alice", "password": PASSWORD}).to_string())
        .unwrap();
    assert_eq!(login.status().as_u16(), 200);
    assert_eq!(header(&login, "cache-control").as_deref(), Some("no-store"));
    assert!(header(&login, "strict-transport-security").is_some());
    for path in ["/", "/login", "/register", "/api/v1/register", "/nowhere"] {
        let mut reply = agent.get(format!("{}{path}", server.url)).call().unwrap();
        let csp = header(&reply, "content-security-policy").unwrap_or_default();
        assert!(csp.contains("default-src 'none'"), "{path}: {csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert_eq!(header(&reply, "x-frame-options").as_deref(), Some("DENY"));
        assert_eq!(
            header(&reply, "x-content-type-options").as_deref(),
            Some("nosniff")
        );
        assert_eq!(header(&reply, "cache-control").as_deref(), Some("no-store"));
        // Over plain HTTP, no HSTS (a browser would ignore it).
        assert!(header(&reply, "strict-transport-security").is_none());
        // A page loads only its stylesheet: nothing inline the policy
        // would block.
        let text = reply.body_mut().read_to_string().unwrap();
        assert!(
            !text.contains("style=") && !text.contains("<style"),
            "{path}"
        );
        assert!(!text.contains("<script"), "{path}");
    }
    let css = agent
        .get(format!("{}/niji.css", server.url))
        .call()
        .unwrap();
    assert_eq!(css.status().as_u16(), 200);
    assert!(
        header(&css, "content-type")
            .unwrap()
            .starts_with("text/css")
    );
    assert!(header(&css, "cache-control").unwrap().starts_with("public"));
    server.stop();
}

/// An application lists as members only researchers' accounts, and on the
/// pseudonymized tier only those of certified organizations: a reviewer
/// listed as a member would leave the review (and pass the purpose gate).
#[test]
fn members_must_be_researchers_of_certified_organizations_for_the_tier() {
    let env = governance();
    let server = Server::start(&env);
    let alice = Client::login(&server, "alice", PASSWORD);
    let with = |tier: &str, members: Value| {
        let mut form = application();
        form["tier"] = json!(tier);
        form["members"] = members;
        alice.send("POST", "/api/v1/applications", Some(form))
    };
    for (tier, member, says) in [
        ("anonymized", "no-such-account", "no such account"),
        ("anonymized", "rev1", "members are researchers"),
        ("anonymized", "admin", "members are researchers"),
        ("pseudonymized", "bob", "not certified"),
    ] {
        let reply = with(tier, json!([member]));
        assert_eq!(reply.status, 422, "{tier} {member}: {}", reply.body);
        let detail = reply.body["detail"].as_str().unwrap();
        assert!(detail.contains(says), "{detail}");
    }
    // A hostile member name is refused without being repeated.
    let junk = format!("<script>{}", "x".repeat(100_000));
    let reply = with("anonymized", json!([junk]));
    assert_eq!(reply.status, 422);
    assert!(reply.body.to_string().len() < 1_000, "{}", reply.body);
    // Free text is bounded before anything is written.
    let mut long = application();
    long["title"] = json!("t".repeat(10_000));
    let reply = alice.send("POST", "/api/v1/applications", Some(long));
    assert_eq!(reply.status, 422);
    assert!(
        reply.body["detail"]
            .as_str()
            .unwrap()
            .contains("longer than 200")
    );
    // A researcher of an uncertified organization may join an anonymized
    // application.
    assert_eq!(with("anonymized", json!(["bob"])).status, 201);
    server.stop();
}

/// A password is changed with the current one (throttled like a sign-in),
/// and the account's other sessions end; an admin disables an account,
/// whose session and sign-in stop at once.
#[test]
fn passwords_change_and_admins_disable_accounts() {
    let env = governance();
    let server = Server::start(&env);
    let here = Client::login(&server, "alice", PASSWORD);
    let elsewhere = Client::login(&server, "alice", PASSWORD);
    let change = |current: &str, new: &str| {
        here.send(
            "POST",
            "/api/v1/auth/password",
            Some(json!({ "current": current, "new": new })),
        )
    };
    assert_eq!(
        change("not-the-password", "a much longer password").status,
        401
    );
    assert_eq!(change(PASSWORD, "short").status, 422);
    let changed = change(PASSWORD, "a much longer password");
    assert_eq!(changed.status, 204, "{}", changed.body);
    assert_eq!(here.send("GET", "/api/v1/applications", None).status, 200);
    assert_eq!(
        elsewhere.send("GET", "/api/v1/applications", None).status,
        401,
        "the other session ended"
    );
    let fresh = Client::new(&server);
    assert_eq!(sign_in(&fresh, "alice", PASSWORD), 401);
    assert_eq!(sign_in(&fresh, "alice", "a much longer password"), 200);

    let bob = Client::login(&server, "bob", PASSWORD);
    let admin = Client::login(&server, "admin", ADMIN_PASSWORD);
    let disable = |who: &Client, name: &str, reason: &str| {
        who.send(
            "POST",
            &format!("/api/v1/admin/accounts/{name}/disable"),
            Some(json!({ "reason": reason })),
        )
        .status
    };
    assert_eq!(disable(&here, "bob", "not an admin"), 403);
    assert_eq!(disable(&admin, "bob", " "), 422);
    assert_eq!(disable(&admin, "admin", "oneself"), 422);
    assert_eq!(disable(&admin, "nobody-here", "gone"), 404);
    assert_eq!(disable(&admin, "bob", "left the organization"), 204);
    assert_eq!(bob.send("GET", "/api/v1/applications", None).status, 401);
    assert_eq!(sign_in(&fresh, "bob", PASSWORD), 401);
    server.stop();
    let kinds: Vec<String> = audit_events(&env).into_iter().map(|e| e.kind).collect();
    assert!(kinds.iter().any(|k| k == "account.password"));
    assert!(kinds.iter().any(|k| k == "account.disable"));
}

/// Per-address limits count the client's address: the peer's, or behind
/// the configured proxy the one it forwards; a forged `X-Forwarded-For`
/// from anyone else changes nothing.
#[test]
fn the_address_behind_a_trusted_proxy_is_the_forwarded_one() {
    let env = governance();
    let guess = |server: &Server, i: usize, forwarded: &str| {
        Client::new(server)
            .agent
            .post(format!("{}/api/v1/auth/login", server.url))
            .header("Content-Type", "application/json")
            .header("X-Forwarded-For", forwarded)
            .send(json!({"name": format!("nobody{i}"), "password": "wrong-password!"}).to_string())
            .unwrap()
            .status()
            .as_u16()
    };
    // Behind the proxy (the tests' loopback), each forwarded client has
    // its own limit.
    let proxied = Server::start_with(&env, &[("NIJI_TRUSTED_PROXY", "127.0.0.1")]);
    let statuses: Vec<u16> = (0..51)
        .map(|i| guess(&proxied, i, "203.0.113.9, 198.51.100.1"))
        .collect();
    assert!(statuses[..50].iter().all(|s| *s == 401), "{statuses:?}");
    assert_eq!(statuses[50], 429);
    assert_eq!(guess(&proxied, 99, "198.51.100.2"), 401, "another client");
    // The forged first entry is not the client.
    assert_eq!(guess(&proxied, 98, "198.51.100.1, 198.51.100.3"), 401);
    assert_eq!(guess(&proxied, 97, "198.51.100.3, 198.51.100.1"), 429);
    proxied.stop();
    // Without it, the header is the client's to forge, and ignored.
    let direct = Server::start(&env);
    let statuses: Vec<u16> = (0..51)
        .map(|i| guess(&direct, i, &format!("198.51.100.{i}")))
        .collect();
    assert_eq!(statuses[50], 429, "{statuses:?}");
    direct.stop();
}
