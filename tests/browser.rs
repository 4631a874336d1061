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
    let python = venv_tool("NIJI_BROWSER_PYTHON", "browser/bin/python");
    assert!(
        Path::new("/usr/bin/chromium").exists(),
        "/usr/bin/chromium is missing; `bash .ci/run` installs Debian's chromium"
    );
    python
}

fn setup(env: &Env) {
    ok(&env.init(&[]));
    env.organizations(&[("univ", true), ("board", false)]);
    env.accounts(
        &[
            ("alice", "researcher", "univ"),
            ("rev1", "reviewer", "board"),
            ("rev2", "reviewer", "board"),
        ],
        PASSWORD,
    );
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
