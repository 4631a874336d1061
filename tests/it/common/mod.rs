//! The harness every binary test shares: a fresh working directory, the
//! real `niji` executable, a clean `NIJI_*` environment.
#![allow(dead_code)] // each test crate uses a different part

pub mod client;
pub mod scan;

use serde_json::Value;
use std::io::BufRead;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

pub const PASSPHRASE: &str = "sakura-passphrase-for-tests";
pub const ADMIN_PASSWORD: &str = "admin-password-for-tests";
/// The password of every account `niji demo` makes (README, Demo).
pub const DEMO_PASSWORD: &str = "niji-demo-password";

pub struct Env {
    pub root: tempfile::TempDir,
    /// The control plane: the data directory's SQLite file, or with
    /// `NIJI_TEST_BACKEND=postgres` a PostgreSQL cluster of the test's own
    /// that every `niji` command is pointed at (`NIJI_STORE`).
    pub store: niji_testkit::postgres::TestStore,
    /// With `NIJI_TEST_ENGINE=ballista`, a loopback Ballista cluster of the
    /// test's own that every `niji` command runs analysis on
    /// (`NIJI_ENGINE`); otherwise none, and analysis runs in DuckDB.
    pub cluster: Option<niji_testkit::ballista::Cluster>,
}

impl Env {
    pub fn new() -> Self {
        Self {
            root: tempfile::tempdir().unwrap(),
            store: niji_testkit::postgres::TestStore::new().unwrap(),
            cluster: niji_testkit::ballista::engine_is_ballista()
                .then(|| niji_testkit::ballista::Cluster::start(2).unwrap()),
        }
    }

    /// A fresh directory whose control plane is a PostgreSQL database of
    /// its own, whatever `NIJI_TEST_BACKEND` says.
    pub fn on_postgres() -> Self {
        Self {
            root: tempfile::tempdir().unwrap(),
            store: niji_testkit::postgres::TestStore::on_postgres().unwrap(),
            cluster: None,
        }
    }

    /// The same directory with analysis on `cluster`, whatever
    /// `NIJI_TEST_ENGINE` says.
    pub fn with_cluster(mut self, cluster: niji_testkit::ballista::Cluster) -> Self {
        self.cluster = Some(cluster);
        self
    }

    /// A fresh directory that starts as a copy of the shared fixture
    /// `name`: `build` makes it in an `Env` of its own, once per build of
    /// the test binary and of `niji`, whichever test process asks first
    /// (see niji-testkit). The copy is the test's to write into.
    pub fn from_fixture(name: &str, build: impl FnOnce(&Env)) -> Self {
        if niji_testkit::postgres::backend_is_postgres() {
            // A PostgreSQL database is not a directory to copy: each test
            // builds its own.
            let env = Env::new();
            build(&env);
            return env;
        }
        // The fixture is made by the `niji` binary, which cargo may build
        // again without linking the tests again.
        let niji = std::path::Path::new(env!("CARGO_BIN_EXE_niji"));
        let fixture = niji_testkit::shared(env!("CARGO_TARGET_TMPDIR"), name, &[niji], |dest| {
            let env = Env::new();
            build(&env);
            niji_testkit::copy_dir(env.root.path(), dest)
        });
        let env = Env::new();
        niji_testkit::copy_dir(&fixture, env.root.path()).unwrap();
        env
    }

    /// The demo's platform of 1,200 persons (`niji demo --no-serve`), made
    /// once per test build; the test gets a copy to serve and write into.
    pub fn demo() -> Self {
        Env::from_fixture("demo-1200", |env| {
            let prepared = env
                .niji(&["demo", "--no-serve", "--persons", "1200"])
                .stdout(Stdio::null())
                .output()
                .unwrap();
            assert!(prepared.status.success(), "{}", stderr(&prepared));
        })
    }

    pub fn data(&self) -> PathBuf {
        self.root.path().join("data")
    }

    /// The control plane, opened as `niji` commands open it.
    pub fn open_store(&self) -> Result<niji_store::Store, niji_store::StoreError> {
        niji_store::Store::open_in(&self.data(), self.store.url())
    }

    /// `niji` run in the temporary directory, with no inherited NIJI_*
    /// variables, no terminal on standard input, and `--data` pointing at
    /// `./data` through the environment.
    pub fn niji(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_niji"));
        for (key, _) in std::env::vars() {
            if key.starts_with("NIJI_") || key == "RUST_LOG" {
                cmd.env_remove(key);
            }
        }
        cmd.current_dir(self.root.path())
            .env("NIJI_DATA", self.data())
            .stdin(Stdio::null())
            .args(args);
        if let Some(url) = self.store.url() {
            cmd.env("NIJI_STORE", url);
        }
        if let Some(cluster) = &self.cluster {
            cmd.env("NIJI_ENGINE", cluster.engine());
        }
        cmd
    }

    pub fn init(&self, extra: &[&str]) -> Output {
        let mut args = vec!["init"];
        args.extend_from_slice(extra);
        self.niji(&args)
            .env("NIJI_PASSPHRASE", PASSPHRASE)
            .env("NIJI_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .output()
            .unwrap()
    }
}

pub fn ok(output: &Output) -> &Output {
    assert!(
        output.status.success(),
        "niji failed: {}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

pub fn json(output: &Output) -> Value {
    serde_json::from_slice(&ok(output).stdout).expect("stdout is one JSON document")
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

impl Env {
    /// `niji synth` of `persons` persons over `from..to` into `./pop`,
    /// which it returns.
    pub fn synth(&self, persons: u64, seed: u64, from: &str, to: &str) -> PathBuf {
        let pop = self.root.path().join("pop");
        let (persons, seed) = (persons.to_string(), seed.to_string());
        let args = [
            "synth",
            "--persons",
            &persons,
            "--seed",
            &seed,
            "--from",
            from,
            "--to",
            to,
            "--out",
        ];
        ok(&self.niji(&args).arg(&pop).output().unwrap());
        pop
    }
}

impl Env {
    /// `niji organizations add` for each (name, certified).
    pub fn organizations(&self, orgs: &[(&str, bool)]) {
        for (org, certified) in orgs {
            let mut args = vec!["organizations", "add", org];
            if *certified {
                args.push("--certified");
            }
            ok(&self.niji(&args).output().unwrap());
        }
    }

    /// `niji accounts add` for each (name, role, organization), all with
    /// `password`.
    pub fn accounts(&self, accounts: &[(&str, &str, &str)], password: &str) {
        for (name, role, org) in accounts {
            let args = [
                "accounts",
                "add",
                name,
                "--role",
                role,
                "--organization",
                org,
            ];
            let mut cmd = self.niji(&args);
            ok(&cmd.env("NIJI_ACCOUNT_PASSWORD", password).output().unwrap());
        }
    }

    /// `niji release build --name NAME --policy POLICY` with `passphrase`,
    /// which must succeed.
    pub fn release_build(&self, name: &str, policy: &std::path::Path, passphrase: &str) {
        let built = self
            .niji(&["release", "build", "--name", name, "--policy"])
            .arg(policy)
            .env("NIJI_PASSPHRASE", passphrase)
            .stdout(Stdio::null())
            .output()
            .unwrap();
        assert!(built.status.success(), "{}", stderr(&built));
    }

    /// A platform of 200 synthetic persons linked, the release `claims`
    /// built from the anonymized example policy, the organizations `univ`
    /// (certified) and `board`, and alice (a researcher of univ), rev1 and
    /// rev2 (reviewers of board), all with `password`. The population's
    /// directory.
    pub fn platform_with_a_release(&self, password: &str) -> PathBuf {
        ok(&self.init(&[]));
        let pop = self.synth(200, 5, "2021-01", "2021-12");
        self.ingest_and_link(&pop);
        let policy = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("policies/release-anonymized-example.toml");
        self.release_build("claims", &policy, PASSPHRASE);
        self.organizations(&[("univ", true), ("board", false)]);
        self.accounts(
            &[
                ("alice", "researcher", "univ"),
                ("rev1", "reviewer", "board"),
                ("rev2", "reviewer", "board"),
            ],
            password,
        );
        pop
    }

    /// `niji release dummy NAME` of 300 synthetic persons over 2021-01 to
    /// 2022-12, which must succeed.
    pub fn release_dummy(&self, name: &str) {
        let args = [
            "release",
            "dummy",
            name,
            "--persons",
            "300",
            "--from",
            "2021-01",
            "--to",
            "2022-12",
        ];
        ok(&self.niji(&args).stdout(Stdio::null()).output().unwrap());
    }

    /// Ingests every source directory of a synthetic population and links
    /// the records.
    pub fn ingest_and_link(&self, pop: &std::path::Path) {
        let mut cmd = self.niji(&["ingest"]);
        for dir in ["uke", "care", "dpc", "fhir", "checkups", "eligibility"] {
            if pop.join(dir).is_dir() {
                cmd.arg(pop.join(dir));
            }
        }
        ok(&cmd
            .env("NIJI_PASSPHRASE", PASSPHRASE)
            .stdout(Stdio::null())
            .output()
            .unwrap());
        ok(&self.niji(&["link"]).stdout(Stdio::null()).output().unwrap());
    }
}

/// The markers of `received` (query results a client was given, each
/// query's SQL holding `'q<marker>'`) that no `analysis.query` entry of the
/// log holds.
pub fn results_without_an_entry<'a>(
    store: &niji_store::Store,
    received: &'a [String],
) -> Vec<&'a String> {
    let size = store.log_size().unwrap();
    let logged: String = (0..size)
        .map(|i| store.log_entry(i).unwrap())
        .filter(|e| e.kind == "analysis.query")
        .map(|e| e.detail)
        .collect();
    received
        .iter()
        .filter(|m| !logged.contains(&format!("'q{m}'")))
        .collect()
}

/// A program of one of the virtual environments `.ci/run` creates: `var`
/// names it, else `~/.cache/niji/venvs/<relative>`. Fails clearly when it
/// is missing.
pub fn venv_tool(var: &str, relative: &str) -> PathBuf {
    let tool = std::env::var_os(var).map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
            .join(".cache/niji/venvs")
            .join(relative)
    });
    assert!(
        tool.exists(),
        "{}: missing; `bash .ci/run` creates it (or set {var})",
        tool.display()
    );
    tool
}

/// `niji serve` on a free port of 127.0.0.1, stopped when dropped.
pub struct Server {
    pub child: std::process::Child,
    pub url: String,
}

impl Server {
    pub fn start(env: &Env) -> Server {
        Server::start_with(env, &[])
    }

    /// The server with extra environment (configuration) variables.
    pub fn start_with(env: &Env, vars: &[(&str, &str)]) -> Server {
        let mut serve = env.niji(&["serve", "--listen", "127.0.0.1:0"]);
        serve
            .env("NIJI_PASSPHRASE", PASSPHRASE)
            .envs(vars.iter().copied());
        Server::spawn(serve)
    }

    /// The server on `listen` with extra variables, logging at debug level
    /// to `log` (appended): what an operator's log would hold.
    pub fn start_with_log(
        env: &Env,
        listen: &str,
        vars: &[(&str, &str)],
        log: &std::path::Path,
    ) -> Server {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap();
        let mut serve = env.niji(&["serve", "--listen", listen]);
        serve
            .env("NIJI_PASSPHRASE", PASSPHRASE)
            .env("NIJI_LOG_LEVEL", "debug")
            .envs(vars.iter().copied());
        Server::spawn_logging(serve, file.into())
    }

    /// The server on a directory `niji demo` made: no passphrase given.
    pub fn start_demo(env: &Env) -> Server {
        Server::spawn(env.niji(&["serve", "--listen", "127.0.0.1:0"]))
    }

    /// The server on a directory `niji demo` made, logging at debug level
    /// to `log` (appended).
    pub fn start_demo_logging(env: &Env, log: &std::path::Path) -> Server {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap();
        let mut serve = env.niji(&["serve", "--listen", "127.0.0.1:0"]);
        serve.env("NIJI_LOG_LEVEL", "debug");
        Server::spawn_logging(serve, file.into())
    }

    fn spawn(serve: Command) -> Server {
        Server::spawn_logging(serve, std::process::Stdio::null())
    }

    fn spawn_logging(mut serve: Command, log: std::process::Stdio) -> Server {
        let mut child = serve
            .stdout(std::process::Stdio::piped())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .trim()
            .strip_prefix("serving on ")
            .unwrap_or_else(|| panic!("first line: {line:?}"))
            .to_owned();
        Server { child, url }
    }

    /// Stops the server with SIGTERM, as an operator would, and waits.
    pub fn stop(mut self) {
        let pid = self.child.id().to_string();
        let killed = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        assert!(killed.success());
        let status = self.child.wait().unwrap();
        assert!(status.success(), "niji serve exited with {status}");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A citizen's receipt checked twice, with nothing but the file and the
/// log's key: by `niji log verify-receipt` (its JSON report, returned) and
/// by the independent Python verifier (hashlib and `cryptography` only).
pub fn verify_receipt(env: &Env, file: &std::path::Path, key: &str) -> Value {
    let checked = json(
        &env.niji(&["log", "verify-receipt", "--json", "--key", key])
            .arg(file)
            .output()
            .unwrap(),
    );
    let python = venv_tool("NIJI_RECEIPT_PYTHON", "receipts/bin/python");
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/receipts/verify_receipt.py");
    let out = Command::new(python)
        .arg(&script)
        .arg(file)
        .arg(key)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    checked
}

/// Insured persons of the synthetic population: insurance card and birth
/// date, from its ground truth (the only place raw identifiers live).
pub fn insured(pop: &std::path::Path) -> Vec<Value> {
    insured_where(pop, |_| true)
}

/// Those of the insured persons whose id `keep` accepts.
pub fn insured_where(pop: &std::path::Path, keep: impl Fn(&str) -> bool) -> Vec<Value> {
    let births: std::collections::HashMap<String, String> =
        std::fs::read_to_string(pop.join("truth/persons.csv"))
            .unwrap()
            .lines()
            .skip(1)
            .map(|l| {
                let f: Vec<&str> = l.split(',').collect();
                (f[0].to_owned(), f[2].to_owned())
            })
            .collect();
    std::fs::read_to_string(pop.join("truth/insurance.csv"))
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect::<Vec<&str>>())
        .filter(|f| keep(f[0]))
        .map(|f| {
            serde_json::json!({
                "insurer": f[3], "symbol": f[4], "number": f[5], "branch": f[6],
                "birth": births[f[0]],
            })
        })
        .collect()
}
