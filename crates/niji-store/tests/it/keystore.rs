//! The keystore, `init` and accounts on a real store.

use niji_core::SecretString;
use niji_store::{InitOutcome, KeyKind, PLATFORM_KEYS, Store, StoreError};
use ring::hmac;

const PASSPHRASE: &str = "kurumi to sakura no hana";
const ADMIN_PASSWORD: &str = "admin password long enough";

fn secret(s: &str) -> SecretString {
    SecretString::new(s.to_owned())
}

fn initialized(dir: &crate::Place) -> Store {
    let mut store = dir.create();
    let outcome = store
        .initialize(&secret(PASSPHRASE), "admin", &secret(ADMIN_PASSWORD))
        .unwrap();
    assert!(matches!(outcome, InitOutcome::Created(_)), "{outcome:?}");
    store
}

/// The tag the linkage key gives a fixed message: equal tags mean the same key.
fn linkage_tag(store: &Store, passphrase: &str) -> Vec<u8> {
    let keystore = store.unlock(&secret(passphrase)).unwrap();
    let key = store
        .open_key(&keystore, "linkage")
        .unwrap()
        .hmac_key()
        .unwrap();
    hmac::sign(&key, b"12345678:kigou:bangou:01")
        .as_ref()
        .to_vec()
}

#[test]
fn init_creates_the_platform_keys_and_the_admin() {
    let dir = crate::Place::new();
    let store = initialized(&dir);
    let names: Vec<String> = store.keys().unwrap().into_iter().map(|k| k.name).collect();
    for (name, _) in PLATFORM_KEYS {
        assert!(
            names.contains(&name.to_owned()),
            "{name} missing from {names:?}"
        );
    }
    let accounts = store.accounts().unwrap();
    assert_eq!(accounts.len(), 1);
    assert_eq!(accounts[0].name, "admin");
    assert_eq!(accounts[0].role, niji_core::Role::Admin);
}

#[test]
fn keys_survive_a_reopen_and_open_as_their_kind() {
    let dir = crate::Place::new();
    let before = linkage_tag(&initialized(&dir), PASSPHRASE);
    let store = dir.open().unwrap();
    assert_eq!(linkage_tag(&store, PASSPHRASE), before);
    let keystore = store.unlock(&secret(PASSPHRASE)).unwrap();
    let signing = store.open_key(&keystore, "checkpoint-signing").unwrap();
    assert!(
        signing.hmac_key().is_err(),
        "a signing key opened as an HMAC key"
    );
    let pair = signing.signing_key().unwrap();
    let sig = pair.sign(b"checkpoint");
    let public = ring::signature::UnparsedPublicKey::new(
        &ring::signature::ED25519,
        ring::signature::KeyPair::public_key(&pair).as_ref(),
    );
    public.verify(b"checkpoint", sig.as_ref()).unwrap();
    assert_eq!(
        store.verify_keys(&keystore).unwrap().len(),
        PLATFORM_KEYS.len()
    );
}

#[test]
fn a_wrong_passphrase_is_refused_and_changes_nothing() {
    let dir = crate::Place::new();
    let mut store = initialized(&dir);
    let keys_before = store.keys().unwrap();
    let err = store.unlock(&secret("not the passphrase")).unwrap_err();
    assert!(matches!(err, StoreError::WrongPassphrase), "{err}");
    assert_eq!(
        err.to_string(),
        "wrong passphrase: the keystore did not unlock, and nothing was changed"
    );
    let err = store
        .change_passphrase(
            &secret("not the passphrase"),
            &secret("a brand new passphrase"),
        )
        .unwrap_err();
    assert!(matches!(err, StoreError::WrongPassphrase), "{err}");
    assert_eq!(store.keys().unwrap(), keys_before);
    store
        .unlock(&secret(PASSPHRASE))
        .expect("the right passphrase still works");
}

#[test]
fn a_new_passphrase_rewraps_the_same_keys() {
    let dir = crate::Place::new();
    let mut store = initialized(&dir);
    let before = linkage_tag(&store, PASSPHRASE);
    let new = "a brand new passphrase";
    let count = store
        .change_passphrase(&secret(PASSPHRASE), &secret(new))
        .unwrap();
    assert_eq!(count, PLATFORM_KEYS.len());
    assert!(matches!(
        store.unlock(&secret(PASSPHRASE)),
        Err(StoreError::WrongPassphrase)
    ));
    assert_eq!(linkage_tag(&store, new), before);
}

#[test]
fn init_twice_reports_and_changes_nothing() {
    let dir = crate::Place::new();
    let mut store = initialized(&dir);
    let keys = store.keys().unwrap();
    let outcome = store
        .initialize(
            &secret("another passphrase!"),
            "other",
            &secret(ADMIN_PASSWORD),
        )
        .unwrap();
    assert!(
        matches!(outcome, InitOutcome::AlreadyInitialized { .. }),
        "{outcome:?}"
    );
    assert_eq!(store.keys().unwrap(), keys);
    assert_eq!(store.accounts().unwrap().len(), 1);
    store
        .unlock(&secret(PASSPHRASE))
        .expect("first passphrase still unlocks");
}

#[test]
fn a_failed_init_leaves_nothing_half_written() {
    let dir = crate::Place::new();
    let mut store = dir.create();
    // The admin name is checked after the keystore row and the keys are
    // written inside the transaction; its failure must take them back.
    let err = store
        .initialize(&secret(PASSPHRASE), "Bad Name", &secret(ADMIN_PASSWORD))
        .unwrap_err();
    assert!(matches!(err, StoreError::InvalidName { .. }), "{err}");
    assert_eq!(store.initialized_at().unwrap(), None);
    assert!(store.keys().unwrap().is_empty());
    assert!(store.accounts().unwrap().is_empty());
    // And a corrected retry succeeds.
    store
        .initialize(&secret(PASSPHRASE), "admin", &secret(ADMIN_PASSWORD))
        .unwrap();
}

#[test]
fn release_keys_are_added_under_their_own_names() {
    let dir = crate::Place::new();
    let mut store = initialized(&dir);
    let keystore = store.unlock(&secret(PASSPHRASE)).unwrap();
    let a = store
        .generate_key(&keystore, "pseudonym/release-1", KeyKind::PseudonymHmac)
        .unwrap();
    store
        .generate_key(&keystore, "pseudonym/release-2", KeyKind::PseudonymHmac)
        .unwrap();
    assert_eq!(a.kind, KeyKind::PseudonymHmac);
    let tag = |name: &str| {
        let key = store.open_key(&keystore, name).unwrap().hmac_key().unwrap();
        hmac::sign(&key, b"person-1").as_ref().to_vec()
    };
    assert_ne!(tag("pseudonym/release-1"), tag("pseudonym/release-2"));
    let err = store
        .generate_key(&keystore, "pseudonym/release-1", KeyKind::PseudonymHmac)
        .unwrap_err();
    assert!(matches!(err, StoreError::KeyExists { .. }), "{err}");
    assert!(matches!(
        store.open_key(&keystore, "pseudonym/absent"),
        Err(StoreError::KeyNotFound { .. })
    ));
}

#[test]
fn logins_check_the_argon2id_hash() {
    let dir = crate::Place::new();
    let store = initialized(&dir);
    let account = store.check_login("admin", &secret(ADMIN_PASSWORD)).unwrap();
    assert_eq!(account.map(|a| a.name), Some("admin".to_owned()));
    assert_eq!(
        store
            .check_login("admin", &secret("wrong password!"))
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .check_login("nobody", &secret(ADMIN_PASSWORD))
            .unwrap(),
        None
    );
}

/// Panics naming a file of the control plane's bytes that holds one of
/// `secrets` in the clear.
fn assert_not_on_disk(dir: &crate::Place, secrets: &[&str]) {
    let mut files = Vec::new();
    let mut dirs = dir.disk();
    while let Some(d) = dirs.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.is_file() {
                files.push(path);
            }
        }
    }
    assert!(!files.is_empty(), "nothing on disk to look at");
    for path in files {
        let bytes = std::fs::read(&path).unwrap();
        for needle in secrets {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
                "{} holds a secret in the clear",
                path.display()
            );
        }
    }
}

#[test]
fn no_secret_reaches_the_disk_in_the_clear() {
    let dir = crate::Place::new();
    drop(initialized(&dir));
    assert_not_on_disk(&dir, &[PASSPHRASE, ADMIN_PASSWORD]);
}

#[test]
fn an_imported_client_secret_is_sealed_replaced_and_opens_only_as_itself() {
    let dir = crate::Place::new();
    let mut store = initialized(&dir);
    let keystore = store.unlock(&secret(PASSPHRASE)).unwrap();
    let info = store
        .import_secret(
            &keystore,
            "card-client",
            &secret("first-secret-from-the-provider"),
        )
        .unwrap();
    assert_eq!(info.kind, KeyKind::ClientSecret);
    store
        .import_secret(&keystore, "card-client", &secret("rotated-secret"))
        .unwrap();
    let material = store.open_key(&keystore, "card-client").unwrap();
    assert_eq!(material.client_secret().unwrap().expose(), "rotated-secret");
    assert!(matches!(
        material.hmac_key(),
        Err(StoreError::WrongKeyKind { .. })
    ));
    assert!(!format!("{material:?}").contains("rotated-secret"));
    // A platform key of the same name is not overwritten by an import.
    assert!(matches!(
        store.import_secret(&keystore, "linkage", &secret("x")),
        Err(StoreError::KeyExists { .. })
    ));
    assert!(
        store
            .import_secret(&keystore, "card-client", &secret(""))
            .is_err()
    );
    assert_eq!(
        store.verify_keys(&keystore).unwrap().len(),
        PLATFORM_KEYS.len() + 1
    );
    // The sealed bytes are not the secret, on whichever backend.
    drop(store);
    assert_not_on_disk(&dir, &["first-secret-from-the-provider", "rotated-secret"]);
}
