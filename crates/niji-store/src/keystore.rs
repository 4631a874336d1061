//! The keystore: the platform's secrets, stored only wrapped.
//!
//! Every key is drawn from ring's `SystemRandom` and stored sealed with
//! AES-256-GCM under a key-encryption key (KEK). The KEK is never stored: it
//! is derived with argon2id from the operator's passphrase and a random salt
//! each time the keystore is unlocked. A sealed check value tells a wrong
//! passphrase apart from a damaged key, so a wrong passphrase is reported as
//! such and changes nothing.
//!
//! Each sealed key is bound to its name and kind through the AEAD's
//! associated data, so swapping two rows in the table makes both fail to
//! open instead of handing one key out under the other's name.
//!
//! Key material never leaves this module as bytes: callers get ring key
//! types ([`KeyMaterial::hmac_key`], [`KeyMaterial::signing_key`],
//! [`KeyMaterial::aead_key`]), and every type here that holds a secret prints
//! `<redacted>` for `Debug` and has no `Display`.

use crate::db::{Conn, stamp};
use crate::{Store, StoreError};
use niji_core::SecretString;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use ring::{hmac, signature};
use std::fmt;
use zeroize::Zeroizing;

/// The shortest passphrase accepted for a new keystore or a new passphrase.
pub const MIN_PASSPHRASE_CHARS: usize = 12;

/// argon2id parameters of the key-encryption key. Stronger than the login
/// hash: the KEK is derived once per process start, not once per request.
pub const KEK_KDF: KdfParams = KdfParams {
    m_kib: 64 * 1024,
    t: 3,
    p: 1,
};

const SALT_LEN: usize = 16;
const CHECK_AAD: &[u8] = b"niji keystore check v1";

/// argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KdfParams {
    /// Memory in KiB.
    pub m_kib: u32,
    /// Iterations.
    pub t: u32,
    /// Lanes.
    pub p: u32,
}

/// What a key is for. The kind decides how the key is generated and which
/// ring type it opens as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// HMAC-SHA-256 key of the linkage function (keyed hashes of identifiers).
    LinkageHmac,
    /// HMAC-SHA-256 key that derives one release's pseudonyms.
    PseudonymHmac,
    /// Ed25519 key that signs access-log checkpoints.
    CheckpointSigning,
    /// AES-256-GCM key that seals escrowed re-identification material.
    Escrow,
    /// A secret another party issued and niji keeps: the client secret the
    /// My Number Card's OpenID provider gave niji. Imported, never
    /// generated.
    ClientSecret,
}

impl KeyKind {
    /// The kind's stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyKind::LinkageHmac => "linkage-hmac",
            KeyKind::PseudonymHmac => "pseudonym-hmac",
            KeyKind::CheckpointSigning => "checkpoint-signing",
            KeyKind::Escrow => "escrow",
            KeyKind::ClientSecret => "client-secret",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [
            KeyKind::LinkageHmac,
            KeyKind::PseudonymHmac,
            KeyKind::CheckpointSigning,
            KeyKind::Escrow,
            KeyKind::ClientSecret,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

impl fmt::Display for KeyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the store says about a key, without the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    /// The key's name, e.g. `linkage`.
    pub name: String,
    /// What it is for.
    pub kind: KeyKind,
    /// When it was generated (UTC).
    pub created_at: String,
}

/// An unlocked keystore: holds the key-encryption key for as long as it lives.
pub struct Keystore {
    kek: LessSafeKey,
    rng: SystemRandom,
}

impl fmt::Debug for Keystore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Keystore(<redacted>)")
    }
}

/// One key, unwrapped. Turn it into the ring type its kind calls for.
pub struct KeyMaterial {
    name: String,
    kind: KeyKind,
    bytes: Zeroizing<Vec<u8>>,
}

impl fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyMaterial")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("bytes", &format_args!("<redacted>"))
            .finish()
    }
}

impl KeyMaterial {
    /// The key's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key's kind.
    pub fn kind(&self) -> KeyKind {
        self.kind
    }

    /// An HMAC-SHA-256 key (linkage and pseudonym keys).
    pub fn hmac_key(&self) -> Result<hmac::Key, StoreError> {
        self.expect(&[KeyKind::LinkageHmac, KeyKind::PseudonymHmac])?;
        Ok(hmac::Key::new(hmac::HMAC_SHA256, &self.bytes))
    }

    /// The Ed25519 key pair that signs checkpoints.
    pub fn signing_key(&self) -> Result<signature::Ed25519KeyPair, StoreError> {
        self.expect(&[KeyKind::CheckpointSigning])?;
        signature::Ed25519KeyPair::from_pkcs8(&self.bytes).map_err(|_| StoreError::KeyDamaged {
            name: self.name.clone(),
        })
    }

    /// An AES-256-GCM key (the escrow key).
    pub fn aead_key(&self) -> Result<LessSafeKey, StoreError> {
        self.expect(&[KeyKind::Escrow])?;
        aes_key(&self.bytes).ok_or_else(|| StoreError::KeyDamaged {
            name: self.name.clone(),
        })
    }

    /// A secret another party issued (a client secret), as text.
    pub fn client_secret(&self) -> Result<SecretString, StoreError> {
        self.expect(&[KeyKind::ClientSecret])?;
        std::str::from_utf8(&self.bytes)
            .map(|s| SecretString::new(s.to_owned()))
            .map_err(|_| StoreError::KeyDamaged {
                name: self.name.clone(),
            })
    }

    fn expect(&self, kinds: &[KeyKind]) -> Result<(), StoreError> {
        if kinds.contains(&self.kind) {
            Ok(())
        } else {
            Err(StoreError::WrongKeyKind {
                name: self.name.clone(),
                kind: self.kind,
            })
        }
    }
}

/// Refuses passphrases too short to protect every key of the platform.
pub fn check_new_passphrase(passphrase: &SecretString) -> Result<(), StoreError> {
    crate::require_min_chars(passphrase, "passphrase", MIN_PASSPHRASE_CHARS)
}

impl Keystore {
    fn derive(passphrase: &SecretString, salt: &[u8], kdf: KdfParams) -> Result<Self, StoreError> {
        let params = argon2::Params::new(kdf.m_kib, kdf.t, kdf.p, Some(32))
            .map_err(|err| StoreError::Crypto(format!("argon2 parameters: {err}")))?;
        let argon =
            argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
        let mut kek = Zeroizing::new([0u8; 32]);
        argon
            .hash_password_into(passphrase.expose().as_bytes(), salt, kek.as_mut())
            .map_err(|err| StoreError::Crypto(format!("argon2: {err}")))?;
        let kek = aes_key(kek.as_ref()).ok_or_else(|| StoreError::Crypto("AES key".into()))?;
        Ok(Self {
            kek,
            rng: SystemRandom::new(),
        })
    }

    fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<([u8; NONCE_LEN], Vec<u8>), StoreError> {
        let mut nonce = [0u8; NONCE_LEN];
        self.rng
            .fill(&mut nonce)
            .map_err(|_| StoreError::Crypto("system random source failed".into()))?;
        let mut sealed = plaintext.to_vec();
        self.kek
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                &mut sealed,
            )
            .map_err(|_| StoreError::Crypto("AES-256-GCM seal failed".into()))?;
        Ok((nonce, sealed))
    }

    fn open(&self, aad: &[u8], nonce: &[u8], sealed: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut buf = Zeroizing::new(sealed.to_vec());
        let len = self
            .kek
            .open_in_place(nonce, Aad::from(aad), buf.as_mut_slice())
            .ok()?
            .len();
        buf.truncate(len);
        Some(buf)
    }

    fn random(&self, len: usize) -> Result<Zeroizing<Vec<u8>>, StoreError> {
        let mut bytes = Zeroizing::new(vec![0u8; len]);
        self.rng
            .fill(&mut bytes)
            .map_err(|_| StoreError::Crypto("system random source failed".into()))?;
        Ok(bytes)
    }

    fn generate_material(&self, kind: KeyKind) -> Result<Zeroizing<Vec<u8>>, StoreError> {
        match kind {
            KeyKind::LinkageHmac | KeyKind::PseudonymHmac | KeyKind::Escrow => self.random(32),
            KeyKind::CheckpointSigning => signature::Ed25519KeyPair::generate_pkcs8(&self.rng)
                .map(|doc| Zeroizing::new(doc.as_ref().to_vec()))
                .map_err(|_| StoreError::Crypto("Ed25519 key generation failed".into())),
            KeyKind::ClientSecret => Err(StoreError::Refused(
                "a client secret is issued by the provider: import it (`niji keys import`)".into(),
            )),
        }
    }
}

fn aes_key(bytes: &[u8]) -> Option<LessSafeKey> {
    UnboundKey::new(&AES_256_GCM, bytes)
        .ok()
        .map(LessSafeKey::new)
}

/// Associated data that binds a sealed key to its name and kind.
fn key_aad(name: &str, kind: KeyKind) -> Vec<u8> {
    format!("niji key v1\0{name}\0{}", kind.as_str()).into_bytes()
}

/// Key names: lower-case words joined by `-`, `/` or `.`, as in
/// `linkage` or `pseudonym/release-7`.
fn check_key_name(name: &str) -> Result<(), StoreError> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'/' | b'.' | b'_')
        });
    if ok {
        Ok(())
    } else {
        Err(StoreError::InvalidName {
            what: "key",
            name: name.to_owned(),
        })
    }
}

/// Creates the keystore record under a new passphrase. Part of `init`.
pub(crate) fn create(conn: &Conn, passphrase: &SecretString) -> Result<Keystore, StoreError> {
    check_new_passphrase(passphrase)?;
    let rng = SystemRandom::new();
    let mut salt = [0u8; SALT_LEN];
    rng.fill(&mut salt)
        .map_err(|_| StoreError::Crypto("system random source failed".into()))?;
    let keystore = Keystore::derive(passphrase, &salt, KEK_KDF)?;
    let (nonce, check) = keystore.seal(CHECK_AAD, &[])?;
    conn.execute(
        "INSERT INTO keystore (id, kdf_m_kib, kdf_t, kdf_p, salt, check_nonce, check_tag)
         VALUES (1, $1, $2, $3, $4, $5, $6)",
        &[
            &KEK_KDF.m_kib,
            &KEK_KDF.t,
            &KEK_KDF.p,
            &(&salt[..]),
            &(&nonce[..]),
            &check,
        ],
    )?;
    Ok(keystore)
}

/// Generates a key, seals it and records it.
pub(crate) fn generate(
    conn: &Conn,
    keystore: &Keystore,
    name: &str,
    kind: KeyKind,
) -> Result<(), StoreError> {
    check_key_name(name)?;
    let material = keystore.generate_material(kind)?;
    let (nonce, sealed) = keystore.seal(&key_aad(name, kind), &material)?;
    let inserted = conn.execute(
        "INSERT INTO wrapped_keys (name, kind, nonce, sealed) VALUES ($1, $2, $3, $4)
         ON CONFLICT DO NOTHING",
        &[&name, &kind.as_str(), &(&nonce[..]), &sealed],
    )?;
    if inserted == 0 {
        return Err(StoreError::KeyExists {
            name: name.to_owned(),
        });
    }
    Ok(())
}

struct KeystoreRecord {
    kdf: KdfParams,
    salt: Vec<u8>,
    check_nonce: Vec<u8>,
    check_tag: Vec<u8>,
}

fn record(conn: &Conn) -> Result<Option<KeystoreRecord>, StoreError> {
    let row = conn.opt(
        "SELECT kdf_m_kib, kdf_t, kdf_p, salt, check_nonce, check_tag FROM keystore WHERE id = 1",
        &[],
    )?;
    Ok(row.map(
        |(m_kib, t, p, salt, check_nonce, check_tag)| KeystoreRecord {
            kdf: KdfParams { m_kib, t, p },
            salt,
            check_nonce,
            check_tag,
        },
    ))
}

fn unlock_with(conn: &Conn, passphrase: &SecretString) -> Result<Keystore, StoreError> {
    let record = record(conn)?.ok_or(StoreError::NotInitialized)?;
    let keystore = Keystore::derive(passphrase, &record.salt, record.kdf)?;
    keystore
        .open(CHECK_AAD, &record.check_nonce, &record.check_tag)
        .ok_or(StoreError::WrongPassphrase)?;
    Ok(keystore)
}

impl Store {
    /// Unlocks the keystore. A wrong passphrase is
    /// [`StoreError::WrongPassphrase`] and changes nothing.
    pub fn unlock(&self, passphrase: &SecretString) -> Result<Keystore, StoreError> {
        unlock_with(&self.conn, passphrase)
    }

    /// The keys the store holds, without their material.
    pub fn keys(&self) -> Result<Vec<KeyInfo>, StoreError> {
        let rows: Vec<(String, String, chrono::DateTime<chrono::Utc>)> = self.conn.all(
            "SELECT name, kind, created_at FROM wrapped_keys ORDER BY created_at, name",
            &[],
        )?;
        let mut keys = Vec::new();
        for (name, kind, created_at) in rows {
            let created_at = stamp(&created_at);
            let kind = KeyKind::parse(&kind)
                .ok_or_else(|| StoreError::KeyDamaged { name: name.clone() })?;
            keys.push(KeyInfo {
                name,
                kind,
                created_at,
            });
        }
        Ok(keys)
    }

    /// Generates and stores a new key, e.g. a release's pseudonym key.
    pub fn generate_key(
        &mut self,
        keystore: &Keystore,
        name: &str,
        kind: KeyKind,
    ) -> Result<KeyInfo, StoreError> {
        generate(&self.conn, keystore, name, kind)?;
        self.keys()?
            .into_iter()
            .find(|k| k.name == name)
            .ok_or_else(|| StoreError::KeyNotFound { name: name.into() })
    }

    /// Stores a secret another party issued (see [`KeyKind::ClientSecret`])
    /// under `name`, sealed like every key; an existing one of the same
    /// name is replaced (a provider rotates its secrets).
    pub fn import_secret(
        &mut self,
        keystore: &Keystore,
        name: &str,
        secret: &SecretString,
    ) -> Result<KeyInfo, StoreError> {
        check_key_name(name)?;
        if secret.expose().is_empty() || secret.expose().len() > 4096 {
            return Err(StoreError::Refused(
                "a client secret is 1 to 4096 bytes".into(),
            ));
        }
        let kind = KeyKind::ClientSecret;
        let existing = self.keys()?.into_iter().find(|k| k.name == name);
        if let Some(k) = existing.filter(|k| k.kind != kind) {
            return Err(StoreError::KeyExists { name: k.name });
        }
        let (nonce, sealed) = keystore.seal(&key_aad(name, kind), secret.expose().as_bytes())?;
        let tx = self.conn.transaction()?;
        tx.execute("DELETE FROM wrapped_keys WHERE name = $1", &[&name])?;
        tx.execute(
            "INSERT INTO wrapped_keys (name, kind, nonce, sealed) VALUES ($1, $2, $3, $4)",
            &[&name, &kind.as_str(), &(&nonce[..]), &sealed],
        )?;
        tx.commit()?;
        self.keys()?
            .into_iter()
            .find(|k| k.name == name)
            .ok_or_else(|| StoreError::KeyNotFound { name: name.into() })
    }

    /// Unwraps one key.
    pub fn open_key(&self, keystore: &Keystore, name: &str) -> Result<KeyMaterial, StoreError> {
        open_in(&self.conn, keystore, name)
    }

    /// Unwraps every key and checks it opens as its kind: what an operator
    /// runs after restoring a backup. Returns the keys checked.
    pub fn verify_keys(&self, keystore: &Keystore) -> Result<Vec<KeyInfo>, StoreError> {
        let keys = self.keys()?;
        for info in &keys {
            let material = self.open_key(keystore, &info.name)?;
            match info.kind {
                KeyKind::LinkageHmac | KeyKind::PseudonymHmac => {
                    material.hmac_key()?;
                }
                KeyKind::CheckpointSigning => {
                    material.signing_key()?;
                }
                KeyKind::Escrow => {
                    material.aead_key()?;
                }
                KeyKind::ClientSecret => {
                    material.client_secret()?;
                }
            }
        }
        Ok(keys)
    }

    /// Re-wraps every key under a new passphrase, in one transaction: either
    /// all keys open with the new passphrase afterwards, or nothing changed.
    pub fn change_passphrase(
        &mut self,
        old: &SecretString,
        new: &SecretString,
    ) -> Result<usize, StoreError> {
        check_new_passphrase(new)?;
        let old_keystore = self.unlock(old)?;
        let tx = self.conn.transaction()?;
        let fresh = create_replacement(&tx, new)?;
        let names: Vec<String> = tx.values("SELECT name FROM wrapped_keys ORDER BY name", &[])?;
        for name in &names {
            let material = open_in(&tx, &old_keystore, name)?;
            let (nonce, sealed) = fresh.seal(&key_aad(name, material.kind), &material.bytes)?;
            tx.execute(
                "UPDATE wrapped_keys SET nonce = $1, sealed = $2 WHERE name = $3",
                &[&(&nonce[..]), &sealed, &name],
            )?;
        }
        tx.commit()?;
        tracing::info!(keys = names.len(), "keystore passphrase changed");
        Ok(names.len())
    }
}

/// A new salt and check value for `new`, replacing the keystore record.
fn create_replacement(conn: &Conn, new: &SecretString) -> Result<Keystore, StoreError> {
    let mut salt = [0u8; SALT_LEN];
    SystemRandom::new()
        .fill(&mut salt)
        .map_err(|_| StoreError::Crypto("system random source failed".into()))?;
    let keystore = Keystore::derive(new, &salt, KEK_KDF)?;
    let (nonce, check) = keystore.seal(CHECK_AAD, &[])?;
    conn.execute(
        "UPDATE keystore SET kdf_m_kib = $1, kdf_t = $2, kdf_p = $3, salt = $4, check_nonce = $5, check_tag = $6
         WHERE id = 1",
        &[&KEK_KDF.m_kib, &KEK_KDF.t, &KEK_KDF.p, &(&salt[..]), &(&nonce[..]), &check],
    )?;
    Ok(keystore)
}

pub(crate) fn open_in(
    conn: &Conn,
    keystore: &Keystore,
    name: &str,
) -> Result<KeyMaterial, StoreError> {
    let row: Option<(String, Vec<u8>, Vec<u8>)> = conn.opt(
        "SELECT kind, nonce, sealed FROM wrapped_keys WHERE name = $1",
        &[&name],
    )?;
    let (kind, nonce, sealed) = row.ok_or_else(|| StoreError::KeyNotFound { name: name.into() })?;
    let damaged = || StoreError::KeyDamaged { name: name.into() };
    let kind = KeyKind::parse(&kind).ok_or_else(damaged)?;
    let bytes = keystore
        .open(&key_aad(name, kind), &nonce, &sealed)
        .ok_or_else(damaged)?;
    Ok(KeyMaterial {
        name: name.to_owned(),
        kind,
        bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAST: KdfParams = KdfParams {
        m_kib: 1024,
        t: 1,
        p: 1,
    };

    fn keystore(pass: &str, salt: &[u8]) -> Keystore {
        Keystore::derive(&SecretString::new(pass.into()), salt, FAST).unwrap()
    }

    #[test]
    fn seal_then_open_round_trips_and_binds_the_aad() {
        let ks = keystore("a long enough passphrase", &[7u8; SALT_LEN]);
        let secret = ks.random(32).unwrap();
        let (nonce, sealed) = ks.seal(b"name-a", &secret).unwrap();
        assert_ne!(&sealed[..32], &secret[..], "sealed text equals the key");
        let opened = ks.open(b"name-a", &nonce, &sealed).unwrap();
        assert_eq!(&opened[..], &secret[..]);
        assert!(
            ks.open(b"name-b", &nonce, &sealed).is_none(),
            "opened under another name"
        );
    }

    #[test]
    fn another_passphrase_or_salt_derives_another_kek() {
        let ks = keystore("a long enough passphrase", &[7u8; SALT_LEN]);
        let (nonce, check) = ks.seal(CHECK_AAD, &[]).unwrap();
        let wrong = keystore("another long passphrase", &[7u8; SALT_LEN]);
        assert!(wrong.open(CHECK_AAD, &nonce, &check).is_none());
        let other_salt = keystore("a long enough passphrase", &[8u8; SALT_LEN]);
        assert!(other_salt.open(CHECK_AAD, &nonce, &check).is_none());
    }

    #[test]
    fn generated_material_opens_as_its_kind_only() {
        let ks = keystore("a long enough passphrase", &[1u8; SALT_LEN]);
        for kind in [
            KeyKind::LinkageHmac,
            KeyKind::PseudonymHmac,
            KeyKind::CheckpointSigning,
            KeyKind::Escrow,
        ] {
            let material = KeyMaterial {
                name: "k".into(),
                kind,
                bytes: ks.generate_material(kind).unwrap(),
            };
            let as_hmac = material.hmac_key().is_ok();
            let as_signing = material.signing_key().is_ok();
            let as_aead = material.aead_key().is_ok();
            assert_eq!(
                (as_hmac, as_signing, as_aead),
                (
                    matches!(kind, KeyKind::LinkageHmac | KeyKind::PseudonymHmac),
                    kind == KeyKind::CheckpointSigning,
                    kind == KeyKind::Escrow
                ),
                "{kind}"
            );
            assert_eq!(KeyKind::parse(kind.as_str()), Some(kind));
        }
    }

    #[test]
    fn debug_output_never_shows_key_bytes() {
        let ks = keystore("a long enough passphrase", &[2u8; SALT_LEN]);
        let bytes = ks.random(32).unwrap();
        let hexed: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let decimal = format!("{:?}", &bytes[..4]);
        let material = KeyMaterial {
            name: "linkage".into(),
            kind: KeyKind::LinkageHmac,
            bytes,
        };
        let printed = format!("{material:?} {material:#?} {ks:?}");
        assert!(printed.contains("<redacted>"), "{printed}");
        assert!(!printed.contains(&hexed), "{printed}");
        assert!(
            !printed.contains(&decimal[1..decimal.len() - 1]),
            "{printed}"
        );
    }

    #[test]
    fn short_passphrases_and_odd_key_names_are_refused() {
        let short = SecretString::new("elevenchars".into());
        assert!(matches!(
            check_new_passphrase(&short),
            Err(StoreError::WeakSecret { .. })
        ));
        assert!(check_new_passphrase(&SecretString::new("twelve chars".into())).is_ok());
        for bad in ["", "Linkage", "has space", "semi;colon"] {
            assert!(check_key_name(bad).is_err(), "{bad:?}");
        }
        assert!(check_key_name("pseudonym/release-7").is_ok());
    }
}
