//! Two `niji serve` processes on one PostgreSQL, behind a loopback
//! balancer that sends each connection to the next server: researchers
//! query and citizens read their accesses through it, their sessions
//! working on either server; one server is killed with SIGKILL under that
//! load and the other keeps serving. Afterwards the log is one tree that
//! verifies with every checkpoint either server signed, and every result a
//! client received has its entry.

use crate::common::client::*;
use crate::common::*;

use serde_json::json;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// A loopback balancer: each connection goes to the next backend that
/// accepts it, as a balancer's health check would route around a dead one.
struct Balancer {
    url: String,
    chosen: Arc<[AtomicUsize; 2]>,
}

fn pipe(mut from: TcpStream, mut to: TcpStream) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(std::net::Shutdown::Write);
}

fn balancer(backends: [SocketAddr; 2]) -> Balancer {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let chosen: Arc<[AtomicUsize; 2]> = Arc::new([AtomicUsize::new(0), AtomicUsize::new(0)]);
    let counts = chosen.clone();
    std::thread::spawn(move || {
        let mut next = 0usize;
        for client in listener.incoming() {
            let Ok(client) = client else { continue };
            let picked = (0..2).find_map(|k| {
                let i = (next + k) % 2;
                TcpStream::connect(backends[i]).ok().map(|s| (i, s))
            });
            next += 1;
            let Some((i, backend)) = picked else { continue };
            counts[i].fetch_add(1, Ordering::Relaxed);
            let (c2, b2) = (client.try_clone().unwrap(), backend.try_clone().unwrap());
            std::thread::spawn(move || pipe(client, backend));
            std::thread::spawn(move || pipe(b2, c2));
        }
    });
    Balancer { url, chosen }
}

/// A client of the balancer that opens a connection per request, so that
/// consecutive requests of one session land on both servers.
fn client(url: &str) -> Client {
    Client {
        agent: ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_idle_connections(0)
            .max_idle_connections_per_host(0)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into(),
        url: url.to_owned(),
        cookie: None,
        csrf: None,
        token: None,
    }
}

fn login(url: &str, name: &str, password: &str) -> Client {
    client(url).logged_in(name, password)
}

fn address(server: &Server) -> SocketAddr {
    server.url.strip_prefix("http://").unwrap().parse().unwrap()
}

const PASSWORD: &str = "two-servers-password";

#[test]
fn two_servers_on_one_postgres_lose_no_entry_when_one_is_killed() {
    let env = Env::on_postgres();
    let pop = env.platform_with_a_release(PASSWORD);
    let vars = [("NIJI_JOB_AFTER_MS", "60000")];
    let first = Server::start_with(&env, &vars);
    let second = Server::start_with(&env, &vars);
    let front = balancer([address(&first), address(&second)]);
    let url = front.url.clone();

    // Governance through both: each step may land on either server.
    let alice = login(&url, "alice", PASSWORD);
    let items = json!([{"release": "claims", "table": "persons", "column": "sex"}]);
    let id = apply(
        &alice,
        json!({
            "title": "Claimants by sex", "purpose": "public-health-policy",
            "lay_summary": "Who uses care, by sex.", "items": items, "tier": "anonymized",
            "starts": "2026-01-01", "ends": "2027-12-31"
        }),
    );
    let mut project = None;
    for reviewer in ["rev1", "rev2"] {
        let r = login(&url, reviewer, PASSWORD).send(
            "POST",
            &format!("/api/v1/applications/{id}/reviews"),
            Some(json!({"decision": "approve", "conditions": {
                "items": items, "rule_set": "ndb", "dp_rho": 1.0, "expires": "2099-12-31"
            }})),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        project = r.body["project"]["id"].as_i64().or(project);
    }
    let project = project.expect("granted");

    // Two citizens, enrolled through the balancer.
    let admin = login(&url, "admin", ADMIN_PASSWORD);
    let mut people = insured(&pop);
    let citizens: Vec<Client> = (0..2)
        .map(|_| {
            let (account, _) = enrol_next(&admin, &client(&url), &mut people, PASSWORD);
            login(&url, &account, PASSWORD)
        })
        .collect();

    // The load: three researchers' clients and the two citizens, every
    // request on a connection of its own.
    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicUsize::new(0));
    let killed_at = Arc::new(AtomicUsize::new(usize::MAX));
    let researchers: Vec<_> = (0..3)
        .map(|c| {
            let (stop, answered, killed_at) = (stop.clone(), answered.clone(), killed_at.clone());
            let alice = Client {
                agent: client(&url).agent,
                url: url.clone(),
                cookie: alice.cookie.clone(),
                csrf: alice.csrf.clone(),
                token: None,
            };
            std::thread::spawn(move || {
                let (mut received, mut after_kill, mut failed) = (Vec::new(), 0usize, 0usize);
                for n in 0.. {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let marker = format!("{c}-{n}");
                    let sql = format!(
                        "SELECT sex, count(*) AS n FROM persons WHERE 'q{marker}' <> '' GROUP BY sex"
                    );
                    let reply = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        alice.send(
                            "POST",
                            &format!("/api/v1/projects/{project}/queries"),
                            Some(json!({ "sql": sql })),
                        )
                    }));
                    match reply {
                        Ok(r) if r.status == 200 => {
                            received.push(marker);
                            let total = answered.fetch_add(1, Ordering::Relaxed) + 1;
                            if total > killed_at.load(Ordering::Relaxed) {
                                after_kill += 1;
                            }
                        }
                        Ok(r) if r.status == 429 => {}
                        Ok(r) => panic!("query answered {}: {}", r.status, r.body),
                        // A connection the killed server dropped.
                        Err(_) => failed += 1,
                    }
                }
                (received, after_kill, failed)
            })
        })
        .collect();
    let lookups: Vec<_> = citizens
        .into_iter()
        .map(|citizen| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let (mut ok, mut failed) = (0usize, 0usize);
                while !stop.load(Ordering::Relaxed) {
                    let reply = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        citizen.send("GET", "/api/v1/me/accesses", None)
                    }));
                    match reply {
                        Ok(r) if r.status == 200 => ok += 1,
                        Ok(r) => panic!("lookup answered {}: {}", r.status, r.body),
                        Err(_) => failed += 1,
                    }
                }
                (ok, failed)
            })
        })
        .collect();

    let started = Instant::now();
    while answered.load(Ordering::Relaxed) < 20 {
        assert!(started.elapsed() < Duration::from_secs(120), "no answers");
        std::thread::sleep(Duration::from_millis(20));
    }
    let anyone = client(&url);
    let mut notes: Vec<String> = Vec::new();
    for _ in 0..3 {
        notes.push(anyone.text("GET", "/log/checkpoint"));
        std::thread::sleep(Duration::from_millis(200));
    }
    // SIGKILL of the first server, mid-load.
    killed_at.store(answered.load(Ordering::Relaxed), Ordering::Relaxed);
    drop(first);
    let after = answered.load(Ordering::Relaxed);
    while answered.load(Ordering::Relaxed) < after + 20 {
        assert!(
            started.elapsed() < Duration::from_secs(240),
            "the second server stopped answering"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    for _ in 0..2 {
        notes.push(anyone.text("GET", "/log/checkpoint"));
        std::thread::sleep(Duration::from_millis(200));
    }
    stop.store(true, Ordering::Relaxed);
    let mut received = Vec::new();
    let (mut after_kill, mut failed) = (0, 0);
    for r in researchers {
        let (mut got, later, lost) = r.join().unwrap();
        received.append(&mut got);
        after_kill += later;
        failed += lost;
    }
    let (mut read, mut read_failed) = (0, 0);
    for l in lookups {
        let (ok, lost) = l.join().unwrap();
        read += ok;
        read_failed += lost;
    }
    let served = [
        front.chosen[0].load(Ordering::Relaxed),
        front.chosen[1].load(Ordering::Relaxed),
    ];
    eprintln!(
        "{} results received ({after_kill} after the kill, {failed} requests cut by it); \
         {read} lookups ({read_failed} cut); connections per server {served:?}",
        received.len()
    );
    assert!(served[0] > 10 && served[1] > 10, "both served: {served:?}");
    assert!(after_kill > 0, "the second server kept serving");
    assert!(read > 0);
    let vkey = anyone.text("GET", "/log/key").trim().to_owned();
    second.stop();

    // One log: it verifies, with every checkpoint either server signed…
    ok(&env.niji(&["log", "verify"]).output().unwrap());
    let store = env.open_store().unwrap();
    for note in &notes {
        let checkpoint = niji_audit::note::open_checkpoint(note, &vkey).unwrap();
        assert_eq!(store.log_root(checkpoint.size).unwrap(), checkpoint.root);
    }
    // …and every result a client received has its entry.
    let missing = results_without_an_entry(&store, &received);
    assert!(missing.is_empty(), "results without an entry: {missing:?}");
}
