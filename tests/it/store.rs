//! The control plane's backends from the outside: `niji store migrate`
//! copies a platform from DuckDB (before SQLite) to SQLite and from SQLite
//! to PostgreSQL, and the access log, its checkpoints and the accounts are
//! the same there; a target that holds a platform, or cannot be reached,
//! is refused with nothing written.

use crate::common::*;
use niji_audit::event::{EventKind, Subject};
use niji_core::{Role, SecretString};
use niji_store::{Location, Store};
use niji_testkit::postgres::Cluster;
use serde_json::Value;

/// The log's size, root and checkpoint count as `niji log verify` reports
/// them.
fn verified(env: &Env, store: Option<&str>) -> (u64, String, u64) {
    let mut cmd = env.niji(&["log", "verify", "--json"]);
    if let Some(url) = store {
        cmd.env("NIJI_STORE", url);
    }
    let v = json(ok(&cmd.output().unwrap()));
    (
        v["entries"].as_u64().unwrap(),
        v["root"].as_str().unwrap().to_owned(),
        v["checkpoints"].as_u64().unwrap(),
    )
}

fn accounts(env: &Env, store: Option<&str>) -> Value {
    let mut cmd = env.niji(&["status", "--json"]);
    if let Some(url) = store {
        cmd.env("NIJI_STORE", url);
    }
    json(ok(&cmd.output().unwrap()))["accounts"].clone()
}

#[test]
fn a_duckdb_platform_moves_to_sqlite_with_its_log() {
    let env = Env::new();
    std::fs::create_dir_all(env.data()).unwrap();
    // A platform as niji kept it before SQLite: control.duckdb.
    {
        let duckdb = Location::DuckDb(env.data().join(niji_store::LEGACY_STORE_FILE));
        let mut store = Store::open_with_at(&env.data(), &duckdb, None).unwrap();
        let passphrase = SecretString::new(PASSPHRASE.into());
        store
            .initialize(
                &passphrase,
                "admin",
                &SecretString::new(ADMIN_PASSWORD.into()),
            )
            .unwrap();
        store
            .add_organization("univ", true, niji_store::Actor::Operator("admin"))
            .unwrap();
        let password = SecretString::new("a researcher's password".into());
        store
            .add_account(
                "hanako",
                Role::Researcher,
                &password,
                Some("univ"),
                niji_store::Actor::Operator("admin"),
            )
            .unwrap();
        for i in 0..40 {
            store
                .audit(
                    "hanako",
                    EventKind::AnalysisQuery,
                    Subject::Project(1),
                    &format!("query {i}"),
                )
                .unwrap();
        }
        let key = store.log_key(&store.unlock(&passphrase).unwrap()).unwrap();
        store.issue_checkpoint(&key).unwrap();
    }
    let before = verified(&env, None);
    let before_accounts = accounts(&env, None);
    assert!(before.0 > 40 && before.2 == 1, "{before:?}");

    let moved = json(ok(&env
        .niji(&["store", "migrate", "--to", "sqlite", "--json"])
        .output()
        .unwrap()));
    assert_eq!(moved["log_entries"].as_u64(), Some(before.0), "{moved}");
    assert!(
        moved["to"].as_str().unwrap().ends_with("control.sqlite"),
        "{moved}"
    );
    let events = moved["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "audit_events")
        .unwrap();
    assert_eq!(events["rows"].as_u64(), Some(before.0));

    // niji now opens the SQLite file: the same tree, the same signed
    // checkpoint (its root would not verify if one leaf's bytes moved).
    assert!(env.data().join("control.sqlite").is_file());
    assert_eq!(verified(&env, None), before);
    assert_eq!(accounts(&env, None), before_accounts);
    let store = env.open_store().unwrap();
    assert!(matches!(store.location(), Location::Sqlite(_)));
    assert!(
        store
            .check_login(
                "hanako",
                &SecretString::new("a researcher's password".into())
            )
            .unwrap()
            .is_some()
    );
    // New events number on from the copied ones.
    store
        .audit("admin", EventKind::Login, Subject::SignIn, "")
        .unwrap();
    assert_eq!(store.verify_log().unwrap(), before.0 + 1);
}

#[test]
fn a_platform_moves_to_postgres_once_and_a_bad_target_changes_nothing() {
    let env = Env::new();
    ok(&env.init(&[]));
    env.organizations(&[("univ", true), ("board", false)]);
    env.accounts(
        &[("hanako", "researcher", "univ")],
        "a researcher's password",
    );
    let before = verified(&env, None);
    let before_accounts = accounts(&env, None);

    let cluster = Cluster::start().unwrap();
    let url = cluster.create_database("platform").unwrap();
    let moved = env
        .niji(&["store", "migrate"])
        // From the environment: no password on the command line.
        .env("NIJI_STORE_TO", &url)
        .output()
        .unwrap();
    let said = stdout(ok(&moved));
    assert!(said.contains("access log verified there"), "{said}");
    assert!(
        !said.contains(niji_testkit::postgres::SUPERUSER_PASSWORD),
        "{said}"
    );
    assert_eq!(verified(&env, Some(&url)), before);
    assert_eq!(accounts(&env, Some(&url)), before_accounts);
    // A server-side write on PostgreSQL continues the same log.
    let on_pg = Store::open_in(&env.data(), Some(&url)).unwrap();
    on_pg
        .audit("admin", EventKind::Login, Subject::SignIn, "")
        .unwrap();
    assert_eq!(on_pg.verify_log().unwrap(), before.0 + 1);
    drop(on_pg);

    // Again into the same database: refused, nothing written.
    let again = env
        .niji(&["store", "migrate", "--to", &url])
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(
        stderr(&again).contains("holds a platform already"),
        "{}",
        stderr(&again)
    );
    assert_eq!(verified(&env, Some(&url)).0, before.0 + 1);

    // A wrong password and a closed port: the store named, no password.
    let wrong = url.replace(niji_testkit::postgres::SUPERUSER_PASSWORD, "not-it");
    let refused = env
        .niji(&["store", "migrate", "--to", &wrong])
        .output()
        .unwrap();
    let err = stderr(&refused);
    assert!(!refused.status.success());
    assert!(
        err.contains("password authentication failed") && err.contains("/platform"),
        "{err}"
    );
    assert!(!err.contains("not-it"), "{err}");
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let unreachable = format!("postgres://niji:secret@127.0.0.1:{closed}/niji");
    let refused = env
        .niji(&["store", "migrate", "--to", &unreachable])
        .output()
        .unwrap();
    let err = stderr(&refused);
    assert!(
        !refused.status.success() && err.contains(&format!("127.0.0.1:{closed}")),
        "{err}"
    );
    assert!(!err.contains("secret"), "{err}");
    // The source is as it was.
    assert_eq!(verified(&env, None), before);
}

/// The embedded store serves several processes: a release is built and
/// the log verified while `niji serve` runs on the same data directory,
/// and the running server sees the new release at once.
#[test]
fn a_release_is_built_and_the_log_verified_while_the_server_runs() {
    use crate::common::client::{Client, release_names};
    let env = Env::demo();
    let server = Server::start_demo(&env);
    let citizen = Client::login(&server, "citizen-demo", DEMO_PASSWORD);
    let view = citizen.send("GET", "/api/v1/me/accesses", None);
    assert_eq!(
        release_names(&view.body),
        ["claims", "charts"],
        "{}",
        view.body
    );

    let policy = env
        .data()
        .join("demo-sources/policies/release-anonymized-example.toml");
    env.release_build("claims-next", &policy, "niji-demo-passphrase");
    let (entries, _, _) = verified(&env, None);

    // The server reads what the command wrote, and appends after it.
    let view = citizen.send("GET", "/api/v1/me/accesses", None);
    let names = release_names(&view.body);
    assert!(names.contains(&"claims-next"), "{}", view.body);
    let opted = citizen.send("PUT", "/api/v1/me/opt-out", None);
    assert_eq!(opted.body["opted_out"], true, "{}", opted.body);
    let (after, _, _) = verified(&env, None);
    assert!(after > entries, "{entries} then {after}");
    server.stop();
    ok(&env.niji(&["log", "verify"]).output().unwrap());
}
