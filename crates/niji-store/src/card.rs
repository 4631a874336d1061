//! Signing in with the My Number Card through an OpenID provider: the
//! sign-ins under way, and the binding of a provider's subject (as a keyed
//! hash) to a citizen account.
//!
//! A sign-in under way is kept by the SHA-256 of its `state` for
//! [`SIGNIN_VALID`] and one use, in the shared store, so that whichever
//! server the provider sends the browser back to can finish it, and a
//! replayed `state` finds nothing. The card's items (name, address, birth
//! date, sex) never reach this module: the server turns them into the
//! linkage's tokens, finds the person keys, and hands over only those.

use crate::accounts::{self, Account};
use crate::{Store, StoreError};
use chrono::{DateTime, Utc};
use niji_audit::event::{EventKind, Subject};
use niji_core::{Role, SecretString};
use ring::rand::{SecureRandom, SystemRandom};

/// How long a sign-in may take between leaving for the provider and
/// coming back.
pub const SIGNIN_VALID: std::time::Duration = std::time::Duration::from_secs(600);

/// The most sign-ins that may be under way at once: a departure needs no
/// account, so the table is bounded (a few tens of megabytes) whoever
/// calls.
pub const MAX_PENDING: i64 = 100_000;

/// What a sign-in under way keeps until the provider's answer.
#[derive(Debug)]
pub struct PendingSignin {
    /// The nonce the ID token must carry.
    pub nonce: SecretString,
    /// The PKCE verifier the code is exchanged with.
    pub verifier: SecretString,
}

/// Who a card sign-in is, once the provider's answer checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CardCitizen {
    /// The account the provider's subject was bound to before.
    Known(Account),
    /// The subject was bound now, to the account the citizen enrolled with
    /// a letter (the same person keys).
    Bound(Account),
    /// A new citizen account, bound to the subject and the person keys.
    Created(Account),
}

impl CardCitizen {
    /// The account, however it was found.
    pub fn account(&self) -> &Account {
        match self {
            CardCitizen::Known(a) | CardCitizen::Bound(a) | CardCitizen::Created(a) => a,
        }
    }
}

fn since(d: std::time::Duration) -> DateTime<Utc> {
    Utc::now() - chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

fn random_name() -> Result<String, StoreError> {
    const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
    let mut bytes = [0u8; 10];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| StoreError::Crypto("system random source failed".into()))?;
    Ok(std::iter::once("citizen-".to_owned())
        .chain(
            bytes
                .iter()
                .map(|b| (ALPHABET[usize::from(b % 32)] as char).to_string()),
        )
        .collect())
}

/// A password nobody knows: a card-made account signs in with the card.
fn unusable_password() -> Result<SecretString, StoreError> {
    let mut bytes = [0u8; 32];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| StoreError::Crypto("system random source failed".into()))?;
    Ok(SecretString::new(
        bytes.iter().map(|b| format!("{b:02x}")).collect(),
    ))
}

impl Store {
    /// Keeps a sign-in under way, by the SHA-256 of its state; clears
    /// those past [`SIGNIN_VALID`]. `false`, keeping nothing, when
    /// [`MAX_PENDING`] are under way.
    pub fn begin_card_signin(
        &self,
        state_sha256: &str,
        nonce: &SecretString,
        verifier: &SecretString,
    ) -> Result<bool, StoreError> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "DELETE FROM card_signins WHERE opened_at <= $1",
            &[&since(SIGNIN_VALID)],
        )?;
        let pending: i64 = tx
            .opt_value("SELECT count(*) FROM card_signins", &[])?
            .unwrap_or(0);
        if pending >= MAX_PENDING {
            return Ok(false);
        }
        tx.execute(
            "INSERT INTO card_signins (state_sha256, nonce, verifier, opened_at) \
             VALUES ($1, $2, $3, $4)",
            &[
                &state_sha256,
                &nonce.expose(),
                &verifier.expose(),
                &Utc::now(),
            ],
        )?;
        tx.commit()?;
        Ok(true)
    }

    /// Takes the sign-in of state digest `state_sha256`, once: `None` for
    /// a state never issued, used before or older than [`SIGNIN_VALID`].
    /// Of two servers taking the same state at once, one gets it.
    pub fn take_card_signin(
        &self,
        state_sha256: &str,
    ) -> Result<Option<PendingSignin>, StoreError> {
        let tx = self.conn.transaction()?;
        let row: Option<(String, String)> = tx.opt(
            "SELECT nonce, verifier FROM card_signins \
             WHERE state_sha256 = $1 AND opened_at > $2",
            &[&state_sha256, &since(SIGNIN_VALID)],
        )?;
        let deleted = tx.execute(
            "DELETE FROM card_signins WHERE state_sha256 = $1",
            &[&state_sha256],
        )?;
        tx.commit()?;
        Ok(row
            .filter(|_| deleted == 1)
            .map(|(nonce, verifier)| PendingSignin {
                nonce: SecretString::new(nonce),
                verifier: SecretString::new(verifier),
            }))
    }

    /// The citizen account of a card sign-in: the one bound to `subject`
    /// (the keyed hash of the provider's subject) if any; else the account
    /// enrolled by letter for `person` (the one person key the card's
    /// items found), now bound to the subject; else a new citizen account
    /// for them. Binding and creation are log entries that name the person
    /// by commitment. All or nothing.
    pub fn card_citizen(&self, subject: &[u8; 32], person: i64) -> Result<CardCitizen, StoreError> {
        let tx = self.conn.transaction()?;
        let known: Option<String> = tx.opt_value(
            "SELECT account FROM citizen_subjects WHERE subject = $1",
            &[&subject.to_vec()],
        )?;
        let (name, made) = match known {
            Some(name) => (name, None),
            None => {
                let enrolled: Option<String> = tx.opt_value(
                    "SELECT account FROM citizens WHERE person_key = $1 \
                     ORDER BY enrolled_at, account LIMIT 1",
                    &[&person],
                )?;
                let (name, created) = match enrolled {
                    Some(name) => (name, false),
                    None => {
                        let name = random_name()?;
                        accounts::insert(&tx, &name, Role::Citizen, &unusable_password()?)?;
                        tx.execute(
                            "INSERT INTO citizens (account, person_key) VALUES ($1, $2)",
                            &[&name, &person],
                        )?;
                        (name, true)
                    }
                };
                tx.execute(
                    "INSERT INTO citizen_subjects (subject, account, linked_at) VALUES ($1, $2, $3)",
                    &[&subject.to_vec(), &name, &Utc::now()],
                )?;
                crate::releases::audit_for(
                    &tx,
                    &name,
                    EventKind::CitizenCard,
                    Subject::Person,
                    if created {
                        "a citizen signed in with the My Number Card for the first time"
                    } else {
                        "a citizen's My Number Card sign-in was bound to their enrolled account"
                    },
                    &[person],
                )?;
                (name, Some(created))
            }
        };
        // A disabled account signs in no more, by card either: nothing of
        // this sign-in is kept.
        let account = self.account(&name)?.ok_or_else(|| {
            StoreError::Forbidden(format!("account `{name}` is disabled: it cannot sign in"))
        })?;
        tx.commit()?;
        if account.role != Role::Citizen {
            return Err(StoreError::Damaged {
                what: format!("card subject bound to `{name}`, which is not a citizen account"),
            });
        }
        Ok(match made {
            None => CardCitizen::Known(account),
            Some(false) => CardCitizen::Bound(account),
            Some(true) => CardCitizen::Created(account),
        })
    }
}
