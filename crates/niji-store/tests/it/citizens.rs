//! A person's side of the access log in the store: enrolment spends a code
//! bound to its claim; the index finds the entries of a person's releases
//! and those that name them by commitment, and no other; a receipt for one
//! verifies against the log key; the index survives a reopen; an opt-out
//! and its withdrawal are logged and say which releases remain.

use niji_audit::entry::commitment;
use niji_audit::event::{EventKind, Subject};
use niji_core::{Role, SecretString};
use niji_store::card::CardCitizen;
use niji_store::{NewRelease, Store, StoreError};

const PASSPHRASE: &str = "citizen-test-passphrase";

fn init(dir: &crate::Place) -> Store {
    let mut store = dir.create();
    store
        .initialize(
            &SecretString::new(PASSPHRASE.into()),
            "admin",
            &SecretString::new("citizen-test-admin-password".into()),
        )
        .unwrap();
    store
}

fn release(store: &mut Store, name: &str, members: &[i64]) {
    let keystore = store.unlock(&SecretString::new(PASSPHRASE.into())).unwrap();
    store
        .add_release(
            &keystore,
            &NewRelease {
                name,
                tier: "anonymized",
                policy_sha256: "00",
                policy: "",
                file: "releases/x.duckdb",
                built_by: "admin",
                manifest: "{}",
                members,
                escrow: None,
                tags: &[],
            },
        )
        .unwrap();
}

fn kinds(store: &Store, persons: &[i64]) -> Vec<(String, Vec<String>, bool)> {
    store
        .accesses(persons, None, 100)
        .unwrap()
        .rows
        .into_iter()
        .map(|a| (a.kind, a.releases, a.direct))
        .collect()
}

#[test]
fn a_person_sees_their_releases_and_direct_entries_only() {
    let dir = crate::Place::new();
    let mut store = init(&dir);
    release(&mut store, "claims-a", &[1, 2, 3]);
    store
        .audit("bob", EventKind::Login, Subject::SignIn, "logged in")
        .unwrap();
    release(&mut store, "claims-b", &[3, 4]);
    assert!(store.add_opt_out(3, "citizen").unwrap());
    assert!(
        !store.add_opt_out(3, "citizen").unwrap(),
        "again is a no-op"
    );

    let build = |r: &str| ("release.build".to_owned(), vec![r.to_owned()], false);
    assert_eq!(kinds(&store, &[1]), vec![build("claims-a")]);
    assert_eq!(
        kinds(&store, &[3]),
        vec![
            ("opt-out".to_owned(), vec![], true),
            build("claims-b"),
            build("claims-a")
        ]
    );
    assert_eq!(kinds(&store, &[5]), vec![]);
    // Two keys of one person: the union.
    assert_eq!(kinds(&store, &[1, 4]).len(), 2);

    // Another person's entry is not theirs to see.
    let three = store.accesses(&[3], None, 100).unwrap();
    let opt_out = three.rows[0].index;
    assert!(matches!(
        store.access(&[1], opt_out),
        Err(StoreError::Refused(m)) if m.starts_with("no ")
    ));
    assert_eq!(three.releases.len(), 2);

    // The opt-out's entry names person 3 by commitment, recomputable from
    // their salt only, and by nothing in the clear.
    let entry = store.log_entry(opt_out).unwrap();
    assert_eq!(entry.persons.len(), 1);
    assert_ne!(entry.persons[0], commitment(&[0; 32], opt_out));
    let text = String::from_utf8(entry.to_bytes()).unwrap();
    assert!(!text.contains("\"3\""));

    // Pages, newest first, and the cursor to the next.
    let first = store.accesses(&[3], None, 2).unwrap();
    assert_eq!(first.total, 3);
    assert_eq!(first.rows.len(), 2);
    let rest = store.accesses(&[3], first.next_before, 2).unwrap();
    assert_eq!(rest.rows.len(), 1);
    assert_eq!(rest.next_before, None);
    assert!(rest.rows[0].index < first.rows[1].index);

    // The opt-out state names the releases built before it.
    let state = store.opt_out_state(&[3]).unwrap();
    assert!(state.since.is_some());
    assert_eq!(state.kept.len(), 2);
    assert!(store.withdraw_opt_outs(&[3], "citizen").unwrap());
    assert!(store.opt_out_state(&[3]).unwrap().since.is_none());
    assert_eq!(kinds(&store, &[3])[0].0, "opt-out.withdraw");
    assert!(store.opt_outs().unwrap().is_empty());

    // A reopened store rebuilds the same index from its tables.
    let before = store.accesses(&[3], None, 100).unwrap();
    drop(store);
    let store = dir.open().unwrap();
    assert_eq!(store.accesses(&[3], None, 100).unwrap(), before);
    assert_eq!(store.verify_log().unwrap(), store.log_size().unwrap());
}

#[test]
fn a_receipt_of_a_persons_entry_verifies_against_the_log_key() {
    let dir = crate::Place::new();
    let mut store = init(&dir);
    release(&mut store, "claims-a", &[7]);
    store.add_opt_out(7, "citizen").unwrap();
    let keystore = store.unlock(&SecretString::new(PASSPHRASE.into())).unwrap();
    let key = store.log_key(&keystore).unwrap();
    for row in store.accesses(&[7], None, 10).unwrap().rows {
        let receipt = store.receipt(&[7], row.index, &key).unwrap();
        let (checkpoint, bytes) = receipt.verify(&key.verifier()).unwrap();
        assert!(checkpoint.size > row.index);
        let entry: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(entry["index"], row.index);
    }
    assert!(store.receipt(&[8], 0, &key).is_err(), "not person 8's");
}

#[test]
fn enrolment_spends_a_code_bound_to_its_claim() {
    let dir = crate::Place::new();
    let store = init(&dir);
    let admin = store.account("admin").unwrap().unwrap();
    let claim = [9u8; 32];
    let code = store.issue_enrolment_code(&admin, &claim).unwrap();
    let code = code.code.expose().to_owned();
    let password = SecretString::new("a citizen's password".into());

    let wrong = store.enrol(&code, &[8u8; 32], &[1], &password);
    assert!(matches!(wrong, Err(StoreError::Forbidden(_))), "{wrong:?}");
    let nobody = store.enrol(&code, &claim, &[], &password);
    assert!(matches!(nobody, Err(StoreError::Refused(_))), "{nobody:?}");

    let typed = code.to_lowercase().replace('-', " ");
    let citizen = store.enrol(&typed, &claim, &[1, 2], &password).unwrap();
    assert_eq!(citizen.role, Role::Citizen);
    assert!(citizen.name.starts_with("citizen-"));
    assert_eq!(store.citizen_persons(&citizen).unwrap(), vec![1, 2]);
    assert!(store.citizen_persons(&admin).is_err());
    assert!(
        store
            .check_login(&citizen.name, &password)
            .unwrap()
            .is_some(),
        "the citizen logs in"
    );
    let again = store.enrol(&code, &claim, &[1], &password);
    assert!(matches!(again, Err(StoreError::Forbidden(_))), "spent");
    // The enrolment is the citizen's own entry.
    let rows = store.accesses(&[2], None, 10).unwrap().rows;
    assert_eq!(rows[0].kind, "citizen.enrol");
    assert!(rows[0].direct);

    let researcher = niji_store::Account {
        role: Role::Researcher,
        ..admin
    };
    assert!(matches!(
        store.issue_enrolment_code(&researcher, &claim),
        Err(StoreError::Forbidden(_))
    ));
}

#[test]
fn a_card_sign_in_is_taken_once_and_binds_one_account_per_subject() {
    let dir = crate::Place::new();
    let store = init(&dir);
    let secret = |s: &str| SecretString::new(s.into());
    assert!(
        store
            .begin_card_signin("state-digest-1", &secret("nonce-1"), &secret("verifier-1"))
            .unwrap()
    );
    let taken = store.take_card_signin("state-digest-1").unwrap().unwrap();
    assert_eq!(
        (taken.nonce.expose(), taken.verifier.expose()),
        ("nonce-1", "verifier-1")
    );
    assert!(
        store.take_card_signin("state-digest-1").unwrap().is_none(),
        "spent"
    );
    assert!(store.take_card_signin("never-issued").unwrap().is_none());

    // A first sign-in makes an account for the person; the next finds it.
    let made = store.card_citizen(&[1; 32], 41).unwrap();
    assert!(matches!(made, CardCitizen::Created(_)), "{made:?}");
    let account = made.account().clone();
    assert_eq!(account.role, Role::Citizen);
    assert!(account.name.starts_with("citizen-"), "{}", account.name);
    assert_eq!(store.citizen_persons(&account).unwrap(), vec![41]);
    assert_eq!(
        store.card_citizen(&[1; 32], 41).unwrap(),
        CardCitizen::Known(account.clone())
    );
    // Another provider subject of the same person (a new card) reaches the
    // same account.
    assert_eq!(
        store.card_citizen(&[2; 32], 41).unwrap(),
        CardCitizen::Bound(account.clone())
    );
    // Another person is another account.
    let other = store.card_citizen(&[3; 32], 42).unwrap();
    assert_ne!(other.account().name, account.name);
    // A disabled account signs in no more by card, and nothing is bound.
    let admin = store.account("admin").unwrap().unwrap();
    store
        .disable_account(&admin, &other.account().name, "left the portal")
        .unwrap();
    assert!(matches!(
        store.card_citizen(&[4; 32], 42),
        Err(StoreError::Forbidden(_))
    ));
    assert!(matches!(
        store.card_citizen(&[3; 32], 42),
        Err(StoreError::Forbidden(_))
    ));
    // Each binding is a log entry naming the person by commitment only.
    let events = store.audit_events().unwrap();
    let bound: Vec<_> = events.iter().filter(|e| e.kind == "citizen.card").collect();
    assert_eq!(bound.len(), 3, "{bound:?}");
    assert!(bound.iter().all(|e| e.subject == "person"));
}
