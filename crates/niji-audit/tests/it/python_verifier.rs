//! The receipt format is checkable by anyone: tests/receipts/verify_receipt.py,
//! written with only hashlib and `cryptography`, accepts a receipt niji
//! makes and refuses a tampered one.

use niji_audit::note::LogKey;
use niji_audit::receipt::Receipt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The Python of the virtual environment `.ci/run` makes (or
/// NIJI_RECEIPT_PYTHON).
fn python() -> PathBuf {
    let python = std::env::var_os("NIJI_RECEIPT_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
                .join(".cache/niji/venvs/receipts/bin/python")
        });
    assert!(
        python.exists(),
        "{}: missing; `bash .ci/run` creates it (or set NIJI_RECEIPT_PYTHON)",
        python.display()
    );
    python
}

fn check(receipt: &Receipt, key: &str) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("receipt.json");
    std::fs::write(&file, receipt.to_json()).unwrap();
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/receipts/verify_receipt.py");
    let out = Command::new(python())
        .arg(script)
        .arg(&file)
        .arg(key)
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn an_independent_python_verifier_accepts_receipts_and_refuses_tampering() {
    let log = crate::common::SignedLog::new(23, 5);
    let (key, entries, size) = (&log.key, &log.entries, log.checkpoint.size);
    for index in [0, 7, 16, 22] {
        let receipt = log.receipt(index, key.verifier());
        let (ok, out) = check(&receipt, &key.verifier());
        assert!(ok, "{out}");
        assert!(
            out.contains(&format!("entry {index} of niji.example/log")),
            "{out}"
        );

        let mut forged = receipt.clone();
        forged.checkpoint = forged
            .checkpoint
            .replacen(&format!("\n{size}\n"), "\n24\n", 1);
        forged.tree_size = 24;
        let (ok, out) = check(&forged, &key.verifier());
        assert!(!ok && out.contains("refused"), "{out}");

        let mut swapped = receipt.clone();
        swapped.entry = Receipt::new(
            &entries[(index as usize + 1) % 23],
            0,
            0,
            &[],
            String::new(),
            String::new(),
        )
        .entry;
        let (ok, out) = check(&swapped, &key.verifier());
        assert!(!ok && out.contains("refused"), "{out}");
    }
    let stranger = LogKey::from_seed("niji.example/log", &[6; 32]).unwrap();
    let receipt = log.receipt(3, stranger.verifier());
    let (ok, out) = check(&receipt, &stranger.verifier());
    assert!(!ok, "a checkpoint another key signed: {out}");
}
