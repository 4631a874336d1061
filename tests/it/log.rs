//! The access log's public routes on the real binary: the verifier key, a
//! signed checkpoint that verifies, inclusion proofs of logged events
//! against it, a consistency proof between two checkpoints, clear
//! refusals of sizes the log does not have, and `niji log verify` over
//! every checkpoint issued; and a server killed with SIGKILL under a load
//! of queries: every result a client received has its entry, and the log
//! verifies against every checkpoint issued before the kill; five times over,
//! each kill at a different moment, restarting on the same store.

use crate::common::client::*;
use crate::common::*;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use niji_audit::merkle;
use niji_audit::note::{self, Checkpoint};

fn text(server: &Server, path: &str) -> (u16, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut response = agent.get(format!("{}{path}", server.url)).call().unwrap();
    (
        response.status().as_u16(),
        response.body_mut().read_to_string().unwrap(),
    )
}

fn proof(reply: &Reply) -> Vec<Vec<u8>> {
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body["proof"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| STANDARD.decode(h.as_str().unwrap()).unwrap())
        .collect()
}

fn checkpoint(server: &Server, vkey: &str) -> Checkpoint {
    let (status, signed) = text(server, "/log/checkpoint");
    assert_eq!(status, 200, "{signed}");
    note::open_checkpoint(&signed, vkey).unwrap()
}

#[test]
fn checkpoints_and_proofs_verify_without_logging_in() {
    let env = Env::new();
    ok(&env.init(&[]));
    env.organizations(&[("univ", true), ("board", false)]);
    let server = Server::start(&env);
    let (status, vkey) = text(&server, "/log/key");
    assert_eq!(status, 200);
    let vkey = vkey.trim().to_owned();
    let anyone = Client::new(&server);

    let first = checkpoint(&server, &vkey);
    assert!(first.size >= 2, "{first:?}");
    assert!(first.origin.starts_with("niji-log-"), "{first:?}");
    // The same log, asked again, gives the same checkpoint.
    assert_eq!(checkpoint(&server, &vkey), first);

    // The log grows (logins are events); the next checkpoint extends it.
    for _ in 0..5 {
        Client::login(&server, "admin", ADMIN_PASSWORD);
    }
    let second = checkpoint(&server, &vkey);
    assert!(second.size > first.size);
    let consistency = anyone.send(
        "GET",
        &format!(
            "/log/proof/consistency?from={}&to={}",
            first.size, second.size
        ),
        None,
    );
    merkle::verify_consistency(
        first.size,
        second.size,
        &first.root,
        &second.root,
        &proof(&consistency),
    )
    .unwrap();

    let inclusions: Vec<(u64, Vec<Vec<u8>>)> = [0, first.size - 1, second.size - 1]
        .into_iter()
        .map(|i| {
            let reply = anyone.send(
                "GET",
                &format!("/log/proof/inclusion?index={i}&size={}", second.size),
                None,
            );
            (i, proof(&reply))
        })
        .collect();

    // Sizes the log does not have, and nonsense, are refused clearly.
    for path in [
        format!("/log/proof/inclusion?index={0}&size={0}", second.size),
        format!("/log/proof/inclusion?index=0&size={}", second.size + 1000),
        "/log/proof/consistency?from=0&to=1".to_owned(),
        "/log/proof/inclusion?index=x&size=1".to_owned(),
    ] {
        let reply = anyone.send("GET", &path, None);
        assert!(
            reply.status == 422 || reply.status == 400,
            "{path}: {} {}",
            reply.status,
            reply.body
        );
    }
    server.stop();

    // The entries' bytes are the store's; their proofs lead to the root.
    let store = env.open_store().unwrap();
    for (index, hashes) in &inclusions {
        let leaf = store.log_entry(*index).unwrap().leaf_hash();
        merkle::verify_inclusion(*index, second.size, &leaf, hashes, &second.root).unwrap();
    }
    drop(store);
    let verified = stdout(ok(&env.niji(&["log", "verify"]).output().unwrap()));
    assert!(verified.contains("checkpoints: each signed"), "{verified}");
    let count: usize = verified
        .lines()
        .find(|l| l.contains("checkpoints"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert!(count >= 2, "{verified}");
}

/// A researcher's project on a release of a small population, and the
/// server serving it.
fn project_on_a_release(env: &Env) -> i64 {
    env.platform_with_a_release("kill-test-password");
    let server = Server::start(env);
    let alice = Client::login(&server, "alice", "kill-test-password");
    let items = serde_json::json!([{"release": "claims", "table": "persons", "column": "sex"}]);
    let id = apply(
        &alice,
        serde_json::json!({
            "title": "Claimants by sex", "purpose": "public-health-policy",
            "lay_summary": "Who uses care, by sex.", "items": items, "tier": "anonymized",
            "starts": "2026-01-01", "ends": "2027-12-31"
        }),
    );
    let conditions = serde_json::json!({
        "items": items, "rule_set": "ndb", "dp_rho": 1.0, "expires": "2099-12-31"
    });
    let project = approve(
        &server,
        id,
        &["rev1", "rev2"],
        "kill-test-password",
        conditions,
    );
    server.stop();
    project
}

/// One round of the kill test: four clients query without pause while
/// `checkpoints` checkpoints are fetched 250 ms apart; then SIGKILL. Returns
/// the markers of the results the clients received (each names its round,
/// so markers are unique across rounds) and the checkpoints fetched.
fn load_then_kill(
    env: &Env,
    project: i64,
    round: usize,
    checkpoints: usize,
) -> (Vec<String>, Vec<String>, String) {
    let server = Server::start_with(env, &[("NIJI_JOB_AFTER_MS", "60000")]);
    let url = server.url.clone();
    let alice = Client::login(&server, "alice", "kill-test-password");
    let (cookie, csrf) = (alice.cookie.clone().unwrap(), alice.csrf.clone().unwrap());
    let vkey = text(&server, "/log/key").1.trim().to_owned();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let answered = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    // Each client keeps the markers of the results it was given (the
    // marker is in the SQL, which the entry holds).
    let clients: Vec<_> = (0..4)
        .map(|c| {
            let (url, cookie, csrf) = (url.clone(), cookie.clone(), csrf.clone());
            let (stop, answered) = (stop.clone(), answered.clone());
            std::thread::spawn(move || {
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .build()
                    .into();
                let mut received = Vec::new();
                for n in 0.. {
                    if stop.load(std::sync::atomic::Ordering::Relaxed) {
                        break;
                    }
                    let marker = format!("{round}-{c}-{n}");
                    let sql = format!(
                        "SELECT sex, count(*) AS n FROM persons WHERE 'q{marker}' <> '' GROUP BY sex"
                    );
                    let reply = agent
                        .post(format!("{url}/api/v1/projects/{project}/queries"))
                        .header("Content-Type", "application/json")
                        .header("Cookie", &cookie)
                        .header("X-CSRF-Token", &csrf)
                        .send(serde_json::json!({ "sql": sql }).to_string());
                    match reply {
                        Ok(r) if r.status().as_u16() == 200 => {
                            received.push(marker);
                            answered.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                        Ok(r) if r.status().as_u16() == 429 => {}
                        Ok(r) => panic!("query answered {}", r.status()),
                        // The server is gone.
                        Err(_) => break,
                    }
                }
                received
            })
        })
        .collect();
    // The kill must land under load: the clock starts at the first answer.
    let waiting = std::time::Instant::now();
    while answered.load(std::sync::atomic::Ordering::Relaxed) == 0 {
        assert!(
            waiting.elapsed().as_secs() < 120,
            "round {round}: no answer"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let mut notes = Vec::new();
    for _ in 0..checkpoints {
        std::thread::sleep(std::time::Duration::from_millis(250));
        let (status, note) = text(&server, "/log/checkpoint");
        assert_eq!(status, 200, "{note}");
        notes.push(note);
    }
    drop(server); // SIGKILL, mid-load
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let received = clients
        .into_iter()
        .flat_map(|c| c.join().unwrap())
        .collect();
    (received, notes, vkey)
}

#[test]
fn a_server_killed_under_load_again_and_again_loses_no_entry_of_a_result_it_gave() {
    let env = Env::new();
    let project = project_on_a_release(&env);
    let mut received: Vec<String> = Vec::new();
    // The kill lands at a different moment of the load each round.
    for (round, checkpoints) in [2, 5, 3, 7, 4].into_iter().enumerate() {
        let (mut got, notes, vkey) = load_then_kill(&env, project, round, checkpoints);
        assert!(!got.is_empty(), "round {round}: the load ran");
        received.append(&mut got);

        // After each kill: the store opens, the log and every stored
        // checkpoint verify…
        ok(&env.niji(&["log", "verify"]).output().unwrap());
        let store = env.open_store().unwrap();
        let size = store.log_size().unwrap();
        eprintln!(
            "round {round}: {} results received so far; {size} entries after the kill",
            received.len()
        );
        // …every checkpoint a client fetched is the log's root at its size…
        for note in &notes {
            let checkpoint = note::open_checkpoint(note, &vkey).unwrap();
            assert!(checkpoint.size <= size);
            assert_eq!(store.log_root(checkpoint.size).unwrap(), checkpoint.root);
        }
        // …and every result a client ever received has its entry.
        let missing = results_without_an_entry(&store, &received);
        assert!(
            missing.is_empty(),
            "round {round}: results without an entry: {missing:?}"
        );
    }
}
