//! Sessions and the governance count in the store: what two processes of
//! one platform share.

use niji_audit::event::{EventKind, Subject};
use std::time::Duration;

const IDLE: Duration = Duration::from_secs(30 * 60);
const LONGEST: Duration = Duration::from_secs(12 * 60 * 60);

#[test]
fn a_session_opened_by_one_process_is_known_to_another_until_it_ends() {
    let place = crate::Place::new();
    let one = place.create();
    let other = place.open().unwrap();
    one.open_session("d-alice-1", "alice", "csrf-1", IDLE, LONGEST)
        .unwrap();
    one.open_session("d-alice-2", "alice", "csrf-2", IDLE, LONGEST)
        .unwrap();
    one.open_session("d-bob", "bob", "csrf-3", IDLE, LONGEST)
        .unwrap();
    let seen = other
        .touch_session("d-alice-1", IDLE, LONGEST)
        .unwrap()
        .expect("known to the other process");
    assert_eq!(
        (seen.account.as_str(), seen.csrf.as_str()),
        ("alice", "csrf-1")
    );
    assert!(
        other
            .reader()
            .unwrap()
            .session("d-bob", IDLE, LONGEST)
            .unwrap()
            .is_some()
    );
    // Past the idle time, or the longest, it is gone, however used.
    assert!(
        other
            .touch_session("d-alice-1", Duration::ZERO, LONGEST)
            .unwrap()
            .is_none()
    );
    assert!(
        other
            .touch_session("d-alice-1", IDLE, Duration::ZERO)
            .unwrap()
            .is_none()
    );
    // An account's sessions end together, but the one kept.
    other.close_sessions_of("alice", Some("d-alice-1")).unwrap();
    assert!(
        one.touch_session("d-alice-1", IDLE, LONGEST)
            .unwrap()
            .is_some()
    );
    assert!(
        one.touch_session("d-alice-2", IDLE, LONGEST)
            .unwrap()
            .is_none()
    );
    assert!(one.touch_session("d-bob", IDLE, LONGEST).unwrap().is_some());
    one.close_session("d-bob").unwrap();
    assert!(
        other
            .touch_session("d-bob", IDLE, LONGEST)
            .unwrap()
            .is_none()
    );
    // Opening one clears the expired: with no idle time left, every other
    // session is expired.
    one.open_session("d-carol", "carol", "csrf-4", Duration::ZERO, LONGEST)
        .unwrap();
    assert!(
        one.touch_session("d-alice-1", IDLE, LONGEST)
            .unwrap()
            .is_none()
    );
}

#[test]
fn governance_changes_raise_the_count_and_the_log_alone_does_not() {
    let place = crate::Place::new();
    let store = place.create();
    let other = place.open().unwrap();
    let before = other.governance_generation().unwrap();
    store
        .add_organization("univ", true, niji_store::Actor::Operator("admin"))
        .unwrap();
    let after = other.governance_generation().unwrap();
    assert!(after > before, "{before} then {after}");
    store
        .audit(
            "alice",
            EventKind::AnalysisQuery,
            Subject::Project(1),
            "SELECT 1",
        )
        .unwrap();
    assert_eq!(other.governance_generation().unwrap(), after);
}
