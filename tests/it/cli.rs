//! End-to-end tests of the `niji` binary: each runs the real executable in a
//! fresh working directory with a clean `NIJI_*` environment.

use serde_json::Value;
use std::path::Path;

use crate::common::*;

#[test]
fn help_lists_exactly_the_commands_that_exist() {
    let env = Env::new();
    let help = stdout(ok(&env.niji(&["--help"]).output().unwrap()));
    let section = help
        .split("Commands:")
        .nth(1)
        .expect("a Commands section")
        .split("\n\n")
        .next()
        .unwrap();
    let commands: Vec<&str> = section
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .collect();
    assert_eq!(
        commands,
        [
            "demo",
            "init",
            "status",
            "keys",
            "synth",
            "ingest",
            "link",
            "sources",
            "serve",
            "release",
            "accounts",
            "organizations",
            "log",
            "store",
            "help"
        ],
        "{help}"
    );
    // And each of them answers `--help` itself.
    for command in [
        "demo",
        "init",
        "status",
        "keys",
        "synth",
        "ingest",
        "sources",
        "serve",
        "release",
        "accounts",
        "organizations",
        "log",
    ] {
        ok(&env.niji(&[command, "--help"]).output().unwrap());
    }
}

#[test]
fn init_works_in_an_empty_directory_and_is_a_no_op_the_second_time() {
    let env = Env::new();
    std::fs::create_dir(env.data()).unwrap();
    let created = json(&env.init(&["--json"]));
    assert_eq!(created["status"], "created");
    assert_eq!(created["admin"], "admin");
    assert!(
        created.get("admin_password").is_none(),
        "a chosen password was echoed"
    );
    let keys: Vec<&str> = created["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].as_str().unwrap())
        .collect();
    assert_eq!(keys.len(), 3, "{created}");
    assert!(env.data().join("control.sqlite").is_file());

    let status_before = json(&env.niji(&["status", "--json"]).output().unwrap());

    let again = env.init(&[]);
    let text = stdout(ok(&again));
    assert!(text.contains("is already initialized"), "{text}");
    assert!(text.contains("nothing was changed"), "{text}");
    let again_json = json(&env.init(&["--json"]));
    assert_eq!(again_json["status"], "already_initialized");

    let status_after = json(&env.niji(&["status", "--json"]).output().unwrap());
    assert_eq!(status_before, status_after);
    assert_eq!(status_after["accounts"]["admin"], 1);
    assert_eq!(
        status_after["migrations"][0]["name"],
        "0001_control_plane.sql"
    );
}

#[test]
fn init_generates_and_prints_an_admin_password_once_when_none_is_given() {
    let env = Env::new();
    let output = env
        .niji(&["init", "--json"])
        .env("NIJI_PASSPHRASE", PASSPHRASE)
        .output()
        .unwrap();
    let report = json(&output);
    let password = report["admin_password"]
        .as_str()
        .expect("a generated password");
    assert!(password.len() >= 20, "{password}");
    assert!(
        !stderr(&output).contains(password),
        "the password reached the log"
    );

    let store = env.open_store().unwrap();
    let secret = niji_core::SecretString::new(password.to_owned());
    assert!(store.check_login("admin", &secret).unwrap().is_some());
}

#[test]
fn a_wrong_passphrase_gives_a_clear_error() {
    let env = Env::new();
    ok(&env.init(&[]));
    let wrong = env
        .niji(&["keys", "verify"])
        .env("NIJI_PASSPHRASE", "not-the-passphrase")
        .output()
        .unwrap();
    assert!(!wrong.status.success());
    assert_eq!(
        stderr(&wrong).trim_end(),
        "niji: error: wrong passphrase: the keystore did not unlock, and nothing was changed"
    );
    let right = env
        .niji(&["keys", "verify", "--json"])
        .env("NIJI_PASSPHRASE", PASSPHRASE)
        .output()
        .unwrap();
    let report = json(&right);
    assert_eq!(report["unlocked"], true);
    assert_eq!(report["keys"].as_array().unwrap().len(), 3);
}

#[test]
fn operator_commands_run_while_the_store_is_open() {
    let env = Env::new();
    ok(&env.init(&[]));
    // The store open in this process, as a server would hold it.
    let held = env.open_store().unwrap();
    let status = json(ok(&env.niji(&["status", "--json"]).output().unwrap()));
    assert_eq!(status["accounts"]["admin"], 1, "{status}");
    env.organizations(&[("univ", true)]);
    // What the command wrote, the open store sees.
    assert_eq!(held.organizations().unwrap().len(), 1);
    ok(&env.niji(&["log", "verify"]).output().unwrap());
}

#[test]
fn a_second_process_on_a_duckdb_store_gets_a_clear_error() {
    let env = Env::new();
    std::fs::create_dir_all(env.data()).unwrap();
    let duckdb = niji_store::Location::DuckDb(env.data().join(niji_store::LEGACY_STORE_FILE));
    let _held = niji_store::Store::open_with_at(&env.data(), &duckdb, None).unwrap();
    let second = env.niji(&["status"]).output().unwrap();
    assert!(!second.status.success());
    let err = stderr(&second);
    assert!(
        err.contains(&format!("store in use by pid {}", std::process::id())),
        "{err}"
    );
}

#[test]
fn without_a_passphrase_or_terminal_init_creates_nothing() {
    let env = Env::new();
    let output = env.niji(&["init"]).output().unwrap();
    assert!(!output.status.success());
    let err = stderr(&output);
    assert!(err.contains("NIJI_PASSPHRASE is not set"), "{err}");
    assert!(!env.data().exists(), "init left a data directory behind");
}

#[test]
fn a_short_passphrase_is_refused_before_anything_is_created() {
    let env = Env::new();
    let output = env
        .niji(&["init"])
        .env("NIJI_PASSPHRASE", "short")
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("at least 12 characters"),
        "{}",
        stderr(&output)
    );
    assert!(!env.data().exists());
}

#[test]
fn the_passphrase_can_be_changed() {
    let env = Env::new();
    ok(&env.init(&[]));
    let changed = env
        .niji(&["keys", "passphrase"])
        .env("NIJI_PASSPHRASE", PASSPHRASE)
        .env("NIJI_NEW_PASSPHRASE", "a-new-long-passphrase")
        .output()
        .unwrap();
    assert!(stdout(ok(&changed)).contains("re-wrapped 3 keys"));
    let old = env
        .niji(&["keys", "verify"])
        .env("NIJI_PASSPHRASE", PASSPHRASE)
        .output()
        .unwrap();
    assert!(stderr(&old).contains("wrong passphrase"));
    ok(&env
        .niji(&["keys", "verify"])
        .env("NIJI_PASSPHRASE", "a-new-long-passphrase")
        .output()
        .unwrap());
}

#[test]
fn json_logs_are_json_lines_and_carry_no_secret() {
    let env = Env::new();
    let output = env.init(&["--log-format", "json", "--log-level", "trace"]);
    let log = stderr(ok(&output));
    assert!(!log.trim().is_empty(), "trace logging printed nothing");
    for line in log.lines() {
        let value: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(value.get("level").is_some(), "{line}");
    }
    for secret in [PASSPHRASE, ADMIN_PASSWORD] {
        assert!(!log.contains(secret), "a secret reached the log");
        assert!(
            !stdout(&output).contains(secret),
            "a chosen secret was echoed"
        );
        assert_no_file_contains(&env.data(), secret);
    }
}

fn assert_no_file_contains(dir: &Path, needle: &str) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        assert!(
            !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
            "{} holds a secret",
            path.display()
        );
    }
}

#[test]
fn configuration_layers_file_then_environment_then_flags() {
    let env = Env::new();
    std::fs::write(env.root.path().join("niji.toml"), "data = \"from-file\"\n").unwrap();
    let from_file = env
        .niji(&["init", "--json"])
        .env_remove("NIJI_DATA")
        .env("NIJI_PASSPHRASE", PASSPHRASE)
        .env("NIJI_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .output()
        .unwrap();
    assert_eq!(json(&from_file)["data_dir"], "from-file");
    assert!(env.root.path().join("from-file/control.sqlite").is_file());

    let status = |extra: &[&str], data_env: Option<&str>| {
        let mut args = vec!["status", "--json"];
        args.extend_from_slice(extra);
        let mut cmd = env.niji(&args);
        cmd.env_remove("NIJI_DATA");
        if let Some(dir) = data_env {
            cmd.env("NIJI_DATA", dir);
        }
        cmd.output().unwrap()
    };
    let by_env = status(&[], Some("nowhere"));
    assert!(
        stderr(&by_env).contains("nowhere: no store here"),
        "{}",
        stderr(&by_env)
    );
    let by_flag = status(&["--data", "from-file"], Some("nowhere"));
    assert_eq!(json(&by_flag)["data_dir"], "from-file");
}

#[test]
fn a_bad_configuration_file_names_its_line() {
    let env = Env::new();
    std::fs::write(
        env.root.path().join("niji.toml"),
        "data = \"d\"\n[log]\nformat = \"yaml\"\n",
    )
    .unwrap();
    let output = env.niji(&["status"]).output().unwrap();
    assert!(!output.status.success());
    let err = stderr(&output);
    assert!(err.starts_with("niji: error: niji.toml: line 3: "), "{err}");
}

#[test]
fn synth_writes_a_population_and_documents_its_rates() {
    let env = Env::new();
    let help = stdout(ok(&env.niji(&["synth", "--help"]).output().unwrap()));
    let defaults = niji_synth::Rates::default();
    for (flag, value) in [
        ("--job-change-rate", defaults.job_change),
        ("--move-rate", defaults.moves),
        ("--retirement-rate", defaults.retirement),
        ("--marriage-rate", defaults.marriage),
        ("--twin-share", defaults.twins),
        ("--eligibility-coverage", defaults.eligibility),
    ] {
        let line = help
            .lines()
            .skip_while(|l| !l.contains(flag))
            .take(4)
            .collect::<Vec<_>>()
            .join(" ");
        assert!(
            line.contains(&format!("[default: {value}]")),
            "{flag}: {line}"
        );
    }
    let report = json(
        &env.niji(&[
            "synth",
            "--persons",
            "300",
            "--seed",
            "5",
            "--out",
            "pop",
            "--json",
        ])
        .output()
        .unwrap(),
    );
    assert_eq!(report["persons"], 300);
    let persons = std::fs::read_to_string(env.root.path().join("pop/truth/persons.csv")).unwrap();
    assert_eq!(persons.lines().count(), 301);

    let again = env
        .niji(&["synth", "--persons", "300", "--out", "pop"])
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(
        stderr(&again).contains("pop: exists and is not empty"),
        "{}",
        stderr(&again)
    );
    let bad = env
        .niji(&["synth", "--out", "p2", "--from", "2019-13"])
        .output()
        .unwrap();
    assert!(
        stderr(&bad).contains("`2019-13` is not a month like 2019-04"),
        "{}",
        stderr(&bad)
    );
}

#[test]
fn ingest_reports_batches_refuses_what_is_no_source_and_repeats_as_no_ops() {
    let env = Env::new();
    ok(&env.init(&[]));
    ok(&env
        .niji(&[
            "synth",
            "--persons",
            "120",
            "--seed",
            "3",
            "--out",
            "pop",
            "--from",
            "2020-01",
            "--to",
            "2020-06",
        ])
        .output()
        .unwrap());
    let ingest = |extra: &[&str]| {
        let mut args = vec!["ingest", "pop", "--json"];
        args.extend_from_slice(extra);
        env.niji(&args)
            .env("NIJI_PASSPHRASE", PASSPHRASE)
            .output()
            .unwrap()
    };
    // The truth files are no source format: refused, reported, exit 1.
    let first = ingest(&[]);
    assert_eq!(first.status.code(), Some(1), "{}", stderr(&first));
    assert!(stderr(&first).contains("4 of "), "{}", stderr(&first));
    let report: Value = serde_json::from_slice(&first.stdout).unwrap();
    assert_eq!(report["refused"], 4);
    let refused: Vec<&str> = report["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["status"] == "refused")
        .map(|f| f["file"].as_str().unwrap())
        .collect();
    assert!(
        refused.iter().all(|f| f.starts_with("pop/truth/")),
        "{refused:?}"
    );
    let ingested = report["ingested"].as_u64().unwrap();
    assert!(ingested > 20, "{ingested}");
    assert!(report["rows"]["subjects"].as_u64().unwrap() > 100);
    assert_eq!(report["rejects"].as_array().unwrap().len(), 0);
    // Again: every source file is a duplicate, nothing is written.
    let again: Value = serde_json::from_slice(&ingest(&[]).stdout).unwrap();
    assert_eq!(again["duplicates"].as_u64().unwrap(), ingested);
    assert_eq!(again["ingested"], 0);
    // --check needs neither a passphrase nor a data directory.
    let check = env
        .niji(&[
            "--data",
            "elsewhere",
            "ingest",
            "--check",
            "pop/fhir",
            "--json",
        ])
        .output()
        .unwrap();
    let check = json(ok(&check));
    assert!(check["ingested"].as_u64().unwrap() > 0);
    assert!(!env.root.path().join("elsewhere").exists());
}

/// `niji log verify` recomputes the access log from the audit events; one
/// event altered in the database file makes it fail, naming the entry.
#[test]
fn log_verify_names_an_altered_entry() {
    let env = Env::new();
    ok(&env.init(&[]));
    env.organizations(&[("univ", true), ("board", false)]);
    let verified = stdout(ok(&env.niji(&["log", "verify"]).output().unwrap()));
    assert!(verified.contains("access log verified"), "{verified}");
    let json: serde_json::Value = serde_json::from_str(&stdout(ok(&env
        .niji(&["log", "verify", "--json"])
        .output()
        .unwrap())))
    .unwrap();
    let entries = json["entries"].as_u64().unwrap();
    assert!(entries >= 2, "{json}");
    // The second organization's event, rewritten behind the log's back.
    let conn = rusqlite::Connection::open(env.data().join(niji_store::STORE_FILE)).unwrap();
    let changed = conn
        .execute(
            "UPDATE audit_events SET subject = 'elsewhere' WHERE subject = 'board'",
            [],
        )
        .unwrap();
    assert_eq!(changed, 1);
    let index: i64 = conn
        .query_row(
            "SELECT l.idx FROM log_leaves l JOIN audit_events e ON e.id = l.event_id WHERE e.subject = 'elsewhere'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    drop(conn);
    let failed = env.niji(&["log", "verify"]).output().unwrap();
    assert!(!failed.status.success());
    let err = stderr(&failed);
    assert!(err.contains(&format!("access log entry {index}")), "{err}");
}
