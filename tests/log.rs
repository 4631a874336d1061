//! The access log's public routes on the real binary: the verifier key, a
//! signed checkpoint that verifies, inclusion proofs of logged events
//! against it, a consistency proof between two checkpoints, clear
//! refusals of sizes the log does not have, and `niji log verify` over
//! every checkpoint issued.

mod common;
use common::client::*;
use common::*;

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
    let store = niji_store::Store::open(&env.data()).unwrap();
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
