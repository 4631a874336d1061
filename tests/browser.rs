//! The governance journey in real Chromium: tests/browser/governance.py
//! (Playwright for Python, Debian's chromium) against the real binary. An
//! admin adds an organization and an account; a researcher applies; two
//! reviewers approve; the project shows in the researcher's list and on the
//! public register; a reviewer revokes it. Screenshots of each page are
//! kept in `$CARGO_TARGET_TMPDIR/browser/`.
//!
//! `bash .ci/run` installs chromium and the Python environment; without
//! them this test fails and says so.

mod common;
use common::*;

use std::path::{Path, PathBuf};

const PASSWORD: &str = "browser-journey-password";

fn python() -> PathBuf {
    let python = std::env::var_os("NIJI_BROWSER_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
                .join(".cache/niji/venvs/browser/bin/python")
        });
    assert!(
        python.exists(),
        "{}: no Playwright environment; `bash .ci/run` creates it (or set NIJI_BROWSER_PYTHON)",
        python.display()
    );
    assert!(
        Path::new("/usr/bin/chromium").exists(),
        "/usr/bin/chromium is missing; `bash .ci/run` installs Debian's chromium"
    );
    python
}

fn setup(env: &Env) {
    ok(&env.init(&[]));
    for (org, certified) in [("univ", true), ("board", false)] {
        let mut args = vec!["organizations", "add", org];
        if certified {
            args.push("--certified");
        }
        ok(&env.niji(&args).output().unwrap());
    }
    for (name, role, org) in [
        ("alice", "researcher", "univ"),
        ("rev1", "reviewer", "board"),
        ("rev2", "reviewer", "board"),
    ] {
        let mut cmd = env.niji(&[
            "accounts",
            "add",
            name,
            "--role",
            role,
            "--organization",
            org,
        ]);
        ok(&cmd.env("NIJI_ACCOUNT_PASSWORD", PASSWORD).output().unwrap());
    }
}

#[test]
fn researchers_and_reviewers_go_through_the_pages_in_chromium() {
    let python = python();
    let env = Env::new();
    setup(&env);
    let server = Server::start(&env);
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/governance.py");
    let output = std::process::Command::new(python)
        .arg(script)
        .env("NIJI_URL", &server.url)
        .env("NIJI_PASSWORD", PASSWORD)
        .env("NIJI_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("NIJI_SHOTS", &shots)
        .output()
        .unwrap();
    server.stop();
    assert!(
        output.status.success(),
        "browser journey failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    for shot in [
        "03-application-form",
        "06-review-second",
        "09-project-revoked",
    ] {
        let png = shots.join(format!("{shot}.png"));
        let bytes = std::fs::read(&png).unwrap();
        assert!(bytes.starts_with(b"\x89PNG"), "{}", png.display());
    }
}
