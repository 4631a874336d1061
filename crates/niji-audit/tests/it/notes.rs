//! Signed notes: the Go reference implementation's published example
//! (golang.org/x/mod/sumdb/note, the PeterNeumann key) signs and verifies
//! byte for byte; checkpoints round-trip; tampering is refused.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use niji_audit::note::{self, Checkpoint, LogKey, NoteError};

const VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
const SKEY_BLOB: &str = "AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
const TEXT: &str = "If you think cryptography is the answer to your problem,\n\
                    then you don't know what your problem is.\n";
const SIGNATURE: &str = "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";

fn peter() -> LogKey {
    let blob = STANDARD.decode(SKEY_BLOB).unwrap();
    assert_eq!(blob[0], 1, "an Ed25519 private key");
    LogKey::from_seed("PeterNeumann", &blob[1..]).unwrap()
}

#[test]
fn the_reference_note_signs_and_verifies_byte_for_byte() {
    let key = peter();
    assert_eq!(key.verifier(), VKEY);
    let signed = key.sign(TEXT).unwrap();
    assert_eq!(signed, format!("{TEXT}\n{SIGNATURE}"));
    assert_eq!(note::open(&signed, VKEY).unwrap(), TEXT);
}

#[test]
fn tampered_notes_and_wrong_keys_are_refused() {
    let signed = peter().sign(TEXT).unwrap();
    let altered = signed.replacen("cryptography", "cryptograpHy", 1);
    assert!(matches!(
        note::open(&altered, VKEY),
        Err(NoteError::Unverified(_))
    ));
    let other = LogKey::from_seed("PeterNeumann", &[7; 32]).unwrap();
    assert!(note::open(&signed, &other.verifier()).is_err());
    // A mangled verifier key.
    assert!(note::open(&signed, &VKEY.replace("c74f20a3", "c74f20a4")).is_err());
    for broken in [
        "",
        "no blank line\n",
        "text\n\n",
        "text\n\nnot a signature\n",
    ] {
        assert!(note::open(broken, VKEY).is_err(), "{broken:?}");
    }
}

#[test]
fn checkpoints_round_trip_through_a_signed_note() {
    let key = LogKey::from_seed("niji.example/log", &[42; 32]).unwrap();
    let checkpoint = Checkpoint {
        origin: "niji.example/log".into(),
        size: 1234,
        root: [9; 32],
    };
    let text = checkpoint.text();
    assert_eq!(text.lines().count(), 3);
    assert!(text.starts_with("niji.example/log\n1234\n"));
    let signed = key.sign(&text).unwrap();
    assert_eq!(
        note::open_checkpoint(&signed, &key.verifier()).unwrap(),
        checkpoint
    );
    for bad in [
        "origin\n01\nAAAA\n",
        "origin\nx\nAAAA\n",
        "origin\n5\nnot base64\n",
        "\n5\n",
    ] {
        assert!(Checkpoint::parse(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn a_receipt_checks_and_a_tampered_one_does_not() {
    use niji_audit::receipt::Receipt;

    let log = crate::common::SignedLog::new(11, 3);
    let (key, entries) = (&log.key, &log.entries);
    let receipt = log.receipt(6, key.verifier());
    let read = Receipt::from_json(&receipt.to_json()).unwrap();
    let (cp, entry) = read.verify(&key.verifier()).unwrap();
    assert_eq!(cp, log.checkpoint);
    assert_eq!(entry, entries[6]);

    // Another entry's bytes, another index, another key: refused.
    let mut other = read.clone();
    other.entry = STANDARD.encode(&entries[5]);
    assert!(other.verify(&key.verifier()).is_err());
    let mut moved = read.clone();
    moved.index = 5;
    assert!(moved.verify(&key.verifier()).is_err());
    let stranger = LogKey::from_seed("niji.example/log", &[4; 32]).unwrap();
    assert!(read.verify(&stranger.verifier()).is_err());
}
