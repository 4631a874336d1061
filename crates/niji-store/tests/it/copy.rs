//! `Store::copy_to` with tables larger than a page: every row once, the
//! log verified on the target, from whichever backend the tests run on.

use niji_audit::event::{EventKind, Subject};
use niji_core::SecretString;
use niji_store::{NewEvent, Store};
use std::collections::BTreeMap;

#[test]
fn a_platform_larger_than_a_page_is_copied_whole() {
    let place = crate::Place::new();
    copied_whole(place.create());
}

/// The same from a DuckDB store of before SQLite.
#[test]
fn a_duckdb_platform_larger_than_a_page_is_copied_whole() {
    let dir = tempfile::tempdir().unwrap();
    let duckdb = niji_store::db::Location::DuckDb(dir.path().join(niji_store::LEGACY_STORE_FILE));
    copied_whole(Store::open_with_at(dir.path(), &duckdb, None).unwrap());
}

fn copied_whole(mut store: Store) {
    let passphrase = SecretString::new("copy-test-passphrase".into());
    store
        .initialize(
            &passphrase,
            "admin",
            &SecretString::new("copy-test-admin-password".into()),
        )
        .unwrap();
    // 12,000 events: their rows, leaves and scopes each span several
    // pages of the copy.
    let details: Vec<String> = (0..12_000).map(|i| format!("{{\"n\":{i}}}")).collect();
    for chunk in details.chunks(2_000) {
        let events: Vec<NewEvent> = chunk
            .iter()
            .map(|detail| NewEvent {
                actor: "researcher",
                kind: EventKind::AnalysisRefused,
                subject: Subject::Project(1),
                detail,
                persons: &[],
                releases_under: None,
            })
            .collect();
        store.audit_many(&events).unwrap();
    }
    let key = store.log_key(&store.unlock(&passphrase).unwrap()).unwrap();
    store.issue_checkpoint(&key).unwrap();

    let target = tempfile::tempdir().unwrap();
    let to = niji_store::location(target.path(), None).unwrap();
    let mut pages: BTreeMap<String, u64> = BTreeMap::new();
    let copied = store
        .copy_to(&to, |table, _| {
            *pages.entry(table.to_owned()).or_default() += 1
        })
        .unwrap();
    assert_eq!(copied.log_entries, store.log_size().unwrap());
    assert_eq!(copied.checkpoints, 1);
    let rows: BTreeMap<&str, u64> = copied
        .tables
        .iter()
        .map(|(t, n)| (t.as_str(), *n))
        .collect();
    assert_eq!(rows["audit_events"], 12_000, "{rows:?}");
    assert!(rows["log_nodes"] > 20_000, "{rows:?}");
    assert!(pages["audit_events"] >= 3, "{pages:?}");
    // The target is the platform: the same events, in the same order.
    let moved = Store::open_in(target.path(), None).unwrap();
    assert_eq!(moved.verify_log().unwrap(), store.log_size().unwrap());
    let last = store.log_size().unwrap() - 1;
    assert_eq!(
        moved.log_entry(last).unwrap(),
        store.log_entry(last).unwrap()
    );
    assert_eq!(
        moved.log_entry(1_000).unwrap().detail,
        store.log_entry(1_000).unwrap().detail
    );
}
