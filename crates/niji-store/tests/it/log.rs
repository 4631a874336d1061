//! The access log in the store: every audit event is a leaf, in the same
//! transaction; proofs from the stored subtrees verify; an altered event
//! is found by `verify_log`, which names its index; a store whose log is
//! missing rebuilds it on open.

use niji_audit::event::{EventKind, Subject};
use niji_audit::merkle;
use niji_core::SecretString;
use niji_store::Store;

fn store(dir: &crate::Place) -> Store {
    let mut store = dir.create();
    store
        .initialize(
            &SecretString::new("log-test-passphrase".into()),
            "admin",
            &SecretString::new("log-test-admin-password".into()),
        )
        .unwrap();
    for i in 0..37 {
        store
            .audit(
                "alice",
                EventKind::AnalysisQuery,
                Subject::Project(1),
                &format!("{{\"n\":{i}}}"),
            )
            .unwrap();
    }
    store
}

#[test]
fn every_event_is_a_leaf_and_its_proofs_verify() {
    let dir = crate::Place::new();
    let store = store(&dir);
    let events = store.audit_events().unwrap();
    let size = store.log_size().unwrap();
    assert_eq!(size, events.len() as u64);
    assert!(size >= 37);
    let root = store.log_root(size).unwrap();
    for index in [0, 1, size / 2, size - 1] {
        let entry = store.log_entry(index).unwrap();
        assert_eq!(entry.index, index);
        let event = &events[index as usize];
        assert_eq!((&entry.kind, &entry.detail), (&event.kind, &event.detail));
        let proof = store.log_inclusion(index, size).unwrap();
        merkle::verify_inclusion(index, size, &entry.leaf_hash(), &proof, &root).unwrap();
    }
    for first in [1, 5, size - 1] {
        let proof = store.log_consistency(first, size).unwrap();
        let old = store.log_root(first).unwrap();
        merkle::verify_consistency(first, size, &old, &root, &proof).unwrap();
    }
    assert_eq!(store.verify_log().unwrap(), size);
    assert!(store.log_root(size + 1).is_err(), "beyond the log");
}

#[test]
fn an_altered_event_is_found_and_named() {
    let dir = crate::Place::new();
    let store = store(&dir);
    let size = store.log_size().unwrap();
    let victim = store.log_entry(20).unwrap();
    drop(store);
    // Someone with the database file rewrites one event's detail.
    let rewrite = format!(
        "UPDATE audit_events SET detail = '{{\"n\":999}}' WHERE id = \
         (SELECT event_id FROM log_leaves WHERE idx = 20) AND detail = '{}'",
        victim.detail
    );
    assert_eq!(dir.tamper(&rewrite, &rewrite), 1);
    let store = dir.open().unwrap();
    let err = store.verify_log().unwrap_err().to_string();
    assert!(err.contains("access log entry 20"), "{err}");
    assert_eq!(store.log_size().unwrap(), size);
}

#[test]
fn a_store_without_its_log_rebuilds_it_on_open() {
    let dir = crate::Place::new();
    let store = store(&dir);
    let size = store.log_size().unwrap();
    let root = store.log_root(size).unwrap();
    drop(store);
    for table in ["log_nodes", "log_leaves"] {
        let delete = format!("DELETE FROM {table}");
        assert!(dir.tamper(&delete, &delete) > 0);
    }
    let store = dir.open().unwrap();
    assert_eq!(store.log_size().unwrap(), size);
    assert_eq!(store.log_root(size).unwrap(), root);
    assert_eq!(store.verify_log().unwrap(), size);
}

#[test]
fn a_subtree_that_cannot_be_read_is_reported_as_what_went_wrong() {
    let dir = crate::Place::new();
    let store = store(&dir);
    let size = store.log_size().unwrap();
    drop(store);
    // A stored hash cut short is named by its length, not as missing.
    dir.tamper(
        "UPDATE log_nodes SET hash = zeroblob(31) WHERE level = 5 AND idx = 0",
        "UPDATE log_nodes SET hash = decode(repeat('ab', 31), 'hex') WHERE level = 5 AND idx = 0",
    );
    let store = dir.open().unwrap();
    let err = store.log_root(size).unwrap_err().to_string();
    assert!(err.contains("a hash of 31 bytes"), "{err}");
    drop(store);
    // A table that cannot be read is the store's error, not a missing
    // subtree.
    let rename = "ALTER TABLE log_nodes RENAME COLUMN hash TO digest";
    dir.tamper(rename, rename);
    let store = dir.open().unwrap();
    let err = store.log_inclusion(3, size).unwrap_err().to_string();
    assert!(err.starts_with("control-plane store "), "{err}");
    assert!(!err.contains("no subtree"), "{err}");
}
