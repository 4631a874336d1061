//! The governance journey in real Chromium: tests/browser/governance.py
//! (Playwright for Python, Debian's chromium) against the real binary. An
//! admin adds an organization and an account; a researcher applies; two
//! reviewers approve; the project shows in the researcher's list and on the
//! public register; a reviewer revokes it. Screenshots of each page are
//! kept in `$CARGO_TARGET_TMPDIR/browser/`.
//!
//! `bash .ci/run` installs chromium and the Python environment; without
//! them this test fails and says so.

use crate::common::*;

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
    let output = run_script(
        &python,
        "governance.py",
        &server,
        &shots,
        &[
            ("NIJI_PASSWORD", PASSWORD),
            ("NIJI_ADMIN_PASSWORD", ADMIN_PASSWORD),
        ],
    );
    server.stop();
    passed(
        &output,
        &shots,
        &[
            "03-application-form",
            "06-review-second",
            "09-project-revoked",
        ],
    );
}

/// Runs `tests/browser/SCRIPT` against `server`, screenshots into `shots`.
fn run_script(
    python: &Path,
    script: &str,
    server: &Server,
    shots: &Path,
    vars: &[(&str, &str)],
) -> std::process::Output {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/browser")
        .join(script);
    std::process::Command::new(python)
        .arg(script)
        .env("NIJI_URL", &server.url)
        .env("NIJI_SHOTS", shots)
        .envs(vars.iter().copied())
        .output()
        .unwrap()
}

/// The script succeeded and left each of `names` as a PNG in `shots`.
fn passed(output: &std::process::Output, shots: &Path, names: &[&str]) {
    assert!(
        output.status.success(),
        "browser journey failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    for shot in names {
        let png = shots.join(format!("{shot}.png"));
        let bytes = std::fs::read(&png).unwrap();
        assert!(bytes.starts_with(b"\x89PNG"), "{}", png.display());
    }
}

/// The demo's reviewers release its held result, and its citizen reads
/// their page, downloads a receipt (checked here) and refuses further
/// provision: tests/browser/demo.py.
#[test]
fn the_demos_reviewers_and_citizen_go_through_their_pages_in_chromium() {
    let python = python();
    let env = Env::demo();
    let server = Server::start_demo(&env);
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser-demo");
    let output = run_script(
        &python,
        "demo.py",
        &server,
        &shots,
        &[("NIJI_PASSWORD", DEMO_PASSWORD)],
    );
    let key = crate::common::client::Client::new(&server)
        .text("GET", "/log/key")
        .trim()
        .to_owned();
    server.stop();
    passed(
        &output,
        &shots,
        &[
            "10-airlock-queue-reviewer1",
            "11-airlock-decided-reviewer2",
            "20-citizen-accesses",
            "21-citizen-entries",
            "22-citizen-opted-out",
            "26-project-activity",
        ],
    );
    // The receipt the browser downloaded verifies against the log's key.
    let checked = verify_receipt(&env, &shots.join("receipt.json"), &key);
    assert_eq!(checked["entry"]["kind"], "analysis.rows");
}

/// A citizen signs in with the My Number Card through the OpenID
/// provider's own pages (idpyoidc on loopback) and lands on their page; a
/// forged answer ends on the refusal page: tests/browser/card.py.
#[test]
fn a_citizen_signs_in_with_the_card_through_the_providers_pages_in_chromium() {
    let python = python();
    let env = Env::new();
    ok(&env.init(&[]));
    let pop = env.synth(200, 11, "2021-01", "2022-12");
    env.ingest_and_link(&pop);
    let holders = crate::card::card_holders(&pop, 1);
    let holder = crate::card::user("card-browser-user", &holders[0]);
    let log = env.root.path().join("server.log");
    let (_provider, server) = crate::card::serve_with_card(&env, &[holder], &log);
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser-card");
    let output = run_script(
        &python,
        "card.py",
        &server,
        &shots,
        &[
            ("NIJI_CARD_LOGIN", holder.login),
            ("NIJI_CARD_PIN", holder.password),
        ],
    );
    server.stop();
    passed(
        &output,
        &shots,
        &[
            "30-login-with-card",
            "31-provider-login",
            "32-citizen-signed-in-by-card",
            "33-card-refused",
        ],
    );
}
