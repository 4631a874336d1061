//! The harness every binary test shares: a fresh working directory, the
//! real `niji` executable, a clean `NIJI_*` environment.
#![allow(dead_code)] // each test crate uses a different part

use serde_json::Value;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

pub const PASSPHRASE: &str = "sakura-passphrase-for-tests";
pub const ADMIN_PASSWORD: &str = "admin-password-for-tests";

pub struct Env {
    pub root: tempfile::TempDir,
}

impl Env {
    pub fn new() -> Self {
        Self {
            root: tempfile::tempdir().unwrap(),
        }
    }

    pub fn data(&self) -> PathBuf {
        self.root.path().join("data")
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
