//! Accounts and their passwords.
//!
//! Passwords are stored only as argon2id hashes in PHC string form, with the
//! OWASP-recommended parameters (m = 19 MiB, t = 2, p = 1) and a random salt
//! each. The parameters live in the PHC string, so raising them later keeps
//! old hashes verifiable.

use crate::db::{Conn, stamp};
use crate::{Store, StoreError};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use chrono::{DateTime, Utc};
use niji_audit::event::{EventKind, Subject};
use niji_core::{Role, SecretString};
use ring::rand::{SecureRandom, SystemRandom};

/// argon2id memory cost of password hashes, in KiB (19 MiB, OWASP).
pub const PASSWORD_M_KIB: u32 = 19 * 1024;
/// argon2id iterations of password hashes (OWASP).
pub const PASSWORD_T: u32 = 2;
/// argon2id lanes of password hashes (OWASP).
pub const PASSWORD_P: u32 = 1;
/// The shortest password accepted for a new account.
pub const MIN_PASSWORD_CHARS: usize = 12;

/// An account, without its password hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// Its login name.
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// When it was created (UTC).
    pub created_at: String,
}

/// Who changes accounts and organizations: the operator at the command
/// line (who holds the data directory or the database's credentials, and
/// is named in the log as given), or an account through the server, which
/// the store checks is an admin's whatever its caller checked.
#[derive(Debug, Clone, Copy)]
pub enum Actor<'a> {
    /// The local operator, by the name the log gives them.
    Operator(&'a str),
    /// An account; refused unless it is an admin's.
    Account(&'a Account),
}

impl Actor<'_> {
    /// The name the log gives the actor.
    pub fn name(&self) -> &str {
        match self {
            Actor::Operator(name) => name,
            Actor::Account(account) => &account.name,
        }
    }

    /// Refuses an account that is not an admin's, saying what it may not do.
    pub(crate) fn must_be_admin(&self, what: &str) -> Result<(), StoreError> {
        match self {
            Actor::Account(account) if account.role != Role::Admin => {
                Err(StoreError::Forbidden(format!("only an admin {what}")))
            }
            _ => Ok(()),
        }
    }
}

fn hasher() -> argon2::Argon2<'static> {
    let params = argon2::Params::new(PASSWORD_M_KIB, PASSWORD_T, PASSWORD_P, None)
        .expect("OWASP argon2id parameters are within argon2's limits");
    argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
}

/// Hashes a password: an argon2id PHC string with a fresh random salt.
pub fn hash_password(password: &SecretString) -> Result<String, StoreError> {
    let mut salt = [0u8; 16];
    SystemRandom::new()
        .fill(&mut salt)
        .map_err(|_| StoreError::Crypto("system random source failed".into()))?;
    let salt = SaltString::encode_b64(&salt)
        .map_err(|err| StoreError::Crypto(format!("password salt: {err}")))?;
    hasher()
        .hash_password(password.expose().as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|err| StoreError::Crypto(format!("password hash: {err}")))
}

/// Whether `password` matches a stored PHC hash. A hash that cannot be
/// parsed is an error, not a mismatch: it means the account table is damaged.
pub fn verify_password(password: &SecretString, phc: &str) -> Result<bool, StoreError> {
    let parsed = PasswordHash::new(phc)
        .map_err(|err| StoreError::Crypto(format!("stored password hash: {err}")))?;
    match hasher().verify_password(password.expose().as_bytes(), &parsed) {
        Ok(()) => Ok(true),
        Err(argon2::password_hash::Error::Password) => Ok(false),
        Err(err) => Err(StoreError::Crypto(format!("password check: {err}"))),
    }
}

/// Characters of generated passwords: letters and digits without the ones
/// people misread (0/O, 1/l/I).
const PASSWORD_ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";

/// A random password of `len` characters for an account whose password the
/// operator did not choose (≈ 5.8 bits a character).
pub fn generate_password(len: usize) -> Result<SecretString, StoreError> {
    let rng = SystemRandom::new();
    // The largest multiple of the alphabet size that fits a byte: bytes at or
    // above it are redrawn, so every character is equally likely.
    let limit = (256 / PASSWORD_ALPHABET.len() * PASSWORD_ALPHABET.len()) as u8;
    let mut password = String::with_capacity(len);
    let mut byte = [0u8; 1];
    while password.len() < len {
        rng.fill(&mut byte)
            .map_err(|_| StoreError::Crypto("system random source failed".into()))?;
        if byte[0] < limit {
            password
                .push(PASSWORD_ALPHABET[usize::from(byte[0]) % PASSWORD_ALPHABET.len()] as char);
        }
    }
    Ok(SecretString::new(password))
}

/// Refuses passwords too short for a national health-data service.
pub fn check_new_password(password: &SecretString) -> Result<(), StoreError> {
    crate::require_min_chars(password, "password", MIN_PASSWORD_CHARS)
}

/// Login names: 2–64 characters, a lower-case letter first, then lower-case
/// letters, digits, `.`, `_` or `-`.
pub fn check_account_name(name: &str) -> Result<(), StoreError> {
    let mut bytes = name.bytes();
    let ok = (2..=64).contains(&name.len())
        && bytes.next().is_some_and(|b| b.is_ascii_lowercase())
        && bytes.all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        });
    if ok {
        Ok(())
    } else {
        Err(StoreError::InvalidName {
            what: "account",
            name: name.to_owned(),
        })
    }
}

/// Creates an account. Fails if the name is taken.
pub(crate) fn insert(
    conn: &Conn,
    name: &str,
    role: Role,
    password: &SecretString,
) -> Result<(), StoreError> {
    check_account_name(name)?;
    check_new_password(password)?;
    let hash = hash_password(password)?;
    let inserted = conn.execute(
        "INSERT INTO accounts (name, role, password_hash) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        &[&name, &role.as_str(), &hash],
    )?;
    if inserted == 0 {
        return Err(StoreError::AccountExists { name: name.into() });
    }
    Ok(())
}

fn to_account(
    (name, role, created_at): (String, String, DateTime<Utc>),
) -> Result<Account, StoreError> {
    let role = role.parse().map_err(|err| StoreError::Damaged {
        what: format!("account `{name}`: {err}"),
    })?;
    Ok(Account {
        name,
        role,
        created_at: stamp(&created_at),
    })
}

impl Store {
    /// Every account, oldest first.
    pub fn accounts(&self) -> Result<Vec<Account>, StoreError> {
        self.conn
            .all(
                "SELECT name, role, created_at FROM accounts ORDER BY created_at, name",
                &[],
            )?
            .into_iter()
            .map(to_account)
            .collect()
    }

    /// One account by name, unless disabled: asked on every API request.
    pub fn account(&self, name: &str) -> Result<Option<Account>, StoreError> {
        self.conn
            .opt(
                "SELECT name, role, created_at FROM accounts a WHERE name = $1 \
                 AND NOT EXISTS (SELECT 1 FROM disabled_accounts d WHERE d.account = a.name)",
                &[&name],
            )?
            .map(to_account)
            .transpose()
    }

    /// Checks a login. `Ok(None)` for an unknown name or a wrong password,
    /// which the caller must not tell apart to the person logging in: an
    /// unknown name costs the same argon2 work ([`verify_unknown`]).
    pub fn check_login(
        &self,
        name: &str,
        password: &SecretString,
    ) -> Result<Option<Account>, StoreError> {
        match self.login_of(name)? {
            Some((account, hash)) => Ok(verify_password(password, &hash)?.then_some(account)),
            None => verify_unknown(password).map(|()| None),
        }
    }

    /// The account named `name` with its password hash, to check outside
    /// the store's lock (an argon2 check takes tens of milliseconds). None
    /// for a name no account has, or can have.
    pub fn login_of(&self, name: &str) -> Result<Option<(Account, String)>, StoreError> {
        if check_account_name(name).is_err() {
            return Ok(None);
        }
        let row: Option<(String, String, DateTime<Utc>, String)> = self.conn.opt(
            "SELECT name, role, created_at, password_hash FROM accounts a WHERE name = $1 \
             AND NOT EXISTS (SELECT 1 FROM disabled_accounts d WHERE d.account = a.name)",
            &[&name],
        )?;
        row.map(|(name, role, created_at, hash)| {
            to_account((name, role, created_at)).map(|account| (account, hash))
        })
        .transpose()
    }
}

impl Store {
    /// Disables account `name` (an admin, with reasons; never their own):
    /// it reads as no account from then on, so it signs in no more and its
    /// sessions and API tokens stop at their next use.
    pub fn disable_account(
        &self,
        admin: &Account,
        name: &str,
        reason: &str,
    ) -> Result<(), StoreError> {
        if admin.role != Role::Admin {
            return Err(StoreError::Forbidden(
                "only an admin disables accounts".into(),
            ));
        }
        let reason = reason.trim();
        if reason.is_empty() || reason.chars().count() > 2_000 {
            return Err(StoreError::Refused(
                "disabling an account gives its reasons (at most 2,000 characters)".into(),
            ));
        }
        if check_account_name(name).is_err() {
            return Err(StoreError::Refused("no such account to disable".into()));
        }
        if admin.name == name {
            return Err(StoreError::Refused(
                "an admin does not disable their own account".into(),
            ));
        }
        if self.account(name)?.is_none() {
            return Err(StoreError::Refused(format!(
                "no account `{name}` to disable"
            )));
        }
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT INTO disabled_accounts (account, disabled_by, reason) VALUES ($1, $2, $3)",
            &[&name, &admin.name, &reason],
        )?;
        crate::releases::audit_in(
            &tx,
            &admin.name,
            EventKind::AccountDisable,
            Subject::Account(name),
            reason,
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Changes `account`'s password to `new`, which meets the rules for
    /// new passwords; the caller has checked the current one.
    pub fn change_password(&self, account: &Account, new: &SecretString) -> Result<(), StoreError> {
        check_new_password(new)?;
        let hash = hash_password(new)?;
        let tx = self.conn.transaction()?;
        tx.execute(
            "UPDATE accounts SET password_hash = $1 WHERE name = $2",
            &[&hash, &account.name],
        )?;
        crate::releases::audit_in(
            &tx,
            &account.name,
            EventKind::AccountPassword,
            Subject::Account(&account.name),
            "changed",
        )?;
        tx.commit()?;
        Ok(())
    }
}

/// Checks `password` against a hash of no one's password, made once with
/// the same parameters, and says nothing: a name no account has then costs
/// the argon2 work a known one does, so timing does not tell which names
/// exist.
pub fn verify_unknown(password: &SecretString) -> Result<(), StoreError> {
    static DECOY: std::sync::OnceLock<Result<String, String>> = std::sync::OnceLock::new();
    let decoy = DECOY
        .get_or_init(|| {
            generate_password(32)
                .and_then(|p| hash_password(&p))
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| StoreError::Crypto(e.clone()))?;
    verify_password(password, decoy).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_with_owasp_parameters() {
        let password = SecretString::new("a password long enough".into());
        let hash = hash_password(&password).unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(!hash.contains("a password long enough"));
    }

    #[test]
    fn the_right_password_verifies_and_a_wrong_one_does_not() {
        let password = SecretString::new("a password long enough".into());
        let hash = hash_password(&password).unwrap();
        assert!(verify_password(&password, &hash).unwrap());
        let wrong = SecretString::new("a password long enougH".into());
        assert!(!verify_password(&wrong, &hash).unwrap());
    }

    #[test]
    fn each_hash_has_its_own_salt() {
        let password = SecretString::new("a password long enough".into());
        assert_ne!(
            hash_password(&password).unwrap(),
            hash_password(&password).unwrap()
        );
    }

    #[test]
    fn a_damaged_hash_is_an_error_not_a_mismatch() {
        let password = SecretString::new("a password long enough".into());
        assert!(verify_password(&password, "not a phc string").is_err());
    }

    #[test]
    fn generated_passwords_are_long_distinct_and_unambiguous() {
        let a = generate_password(24).unwrap();
        let b = generate_password(24).unwrap();
        assert_eq!(a.char_count(), 24);
        assert_ne!(a.expose(), b.expose());
        assert!(a.expose().bytes().all(|c| PASSWORD_ALPHABET.contains(&c)));
        assert!(check_new_password(&a).is_ok());
    }

    #[test]
    fn names_and_passwords_are_checked() {
        assert!(check_account_name("admin").is_ok());
        assert!(check_account_name("r.tanaka-2").is_ok());
        for bad in ["a", "Admin", "1admin", "ad min", "admin;", ""] {
            assert!(check_account_name(bad).is_err(), "{bad:?}");
        }
        assert!(check_new_password(&SecretString::new("short".into())).is_err());
    }
}
