//! Source systems: the per-facility client credentials of inbound FHIR
//! clients (`POST /fhir/Bundle`).
//!
//! A credential is one string, `<client id>.<secret>`, shown once when an
//! admin creates it and sent as `Authorization: Bearer <credential>`. The
//! client id is public and random; the secret is 256 random bits of which
//! only the SHA-256 is stored. Checking compares digests in constant time.

use crate::db::{Row, stamp};
use crate::{Store, StoreError};
use chrono::{DateTime, Utc};
use niji_core::SecretString;
use ring::rand::{SecureRandom, SystemRandom};

/// A source system's credential record, without its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceClient {
    /// The public client id (`src-` and 16 hex digits).
    pub client_id: String,
    /// The facility (医療機関コード, 10 digits) whose data it may send.
    pub facility: String,
    /// When it was created (UTC).
    pub created_at: String,
    /// When it was revoked, if it was.
    pub revoked_at: Option<String>,
}

/// Why a presented credential was not accepted. Callers answer all of these
/// alike (401), so a guesser learns nothing from the difference; the
/// variants exist for the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialRefusal {
    /// Not of the form `<client id>.<secret>`.
    Malformed,
    /// No such client id, or the secret does not match.
    Unknown,
    /// The credential was revoked.
    Revoked,
}

pub(crate) fn random_hex(bytes: usize) -> Result<String, StoreError> {
    let mut buf = vec![0u8; bytes];
    SystemRandom::new()
        .fill(&mut buf)
        .map_err(|_| StoreError::Crypto("system random source failed".into()))?;
    Ok(crate::migrate::hex(&buf))
}

pub(crate) fn digest(secret: &str) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, secret.as_bytes())
        .as_ref()
        .to_vec()
}

/// A facility code: 10 digits (prefecture 2, point-table 1, institution 7).
pub fn check_facility(facility: &str) -> Result<(), StoreError> {
    if facility.len() == 10 && facility.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(StoreError::InvalidName {
            what: "facility code (10 digits)",
            name: facility.to_owned(),
        })
    }
}

/// A client from [`COLUMNS`], read from column `at` on.
fn client_from_row(row: &Row, at: usize) -> Result<SourceClient, StoreError> {
    Ok(SourceClient {
        client_id: row.get(at)?,
        facility: row.get(at + 1)?,
        created_at: stamp(&row.get::<DateTime<Utc>>(at + 2)?),
        revoked_at: row.get::<Option<DateTime<Utc>>>(at + 3)?.map(|t| stamp(&t)),
    })
}

const COLUMNS: &str = "client_id, facility, created_at, revoked_at";

impl Store {
    /// Creates a credential for a facility's source system. Returns the
    /// record and the credential string, which is never shown again.
    pub fn add_source_client(
        &self,
        facility: &str,
    ) -> Result<(SourceClient, SecretString), StoreError> {
        check_facility(facility)?;
        let client_id = format!("src-{}", random_hex(8)?);
        let secret = random_hex(32)?;
        self.conn.execute(
            "INSERT INTO source_clients (client_id, facility, secret_sha256) VALUES ($1, $2, $3)",
            &[&client_id, &facility, &(digest(&secret))],
        )?;
        tracing::info!(client_id, facility, "source-system credential created");
        let client = self
            .source_client(&client_id)?
            .ok_or_else(|| StoreError::Damaged {
                what: format!("source client `{client_id}` is missing after insert"),
            })?;
        Ok((client, SecretString::new(format!("{client_id}.{secret}"))))
    }

    /// Every source-system credential, oldest first.
    pub fn source_clients(&self) -> Result<Vec<SourceClient>, StoreError> {
        self.conn
            .rows(
                &format!("SELECT {COLUMNS} FROM source_clients ORDER BY created_at, client_id"),
                &[],
            )?
            .iter()
            .map(|row| client_from_row(row, 0))
            .collect()
    }

    fn source_client(&self, client_id: &str) -> Result<Option<SourceClient>, StoreError> {
        self.conn
            .rows(
                &format!("SELECT {COLUMNS} FROM source_clients WHERE client_id = $1"),
                &[&client_id],
            )?
            .first()
            .map(|row| client_from_row(row, 0))
            .transpose()
    }

    /// Revokes a credential; the next request with it is refused. Revoking
    /// twice is a no-op. An unknown client id is an error.
    pub fn revoke_source_client(&self, client_id: &str) -> Result<SourceClient, StoreError> {
        self.conn.execute(
            "UPDATE source_clients SET revoked_at = $1 WHERE client_id = $2 AND revoked_at IS NULL",
            &[&Utc::now(), &client_id],
        )?;
        let client = self
            .source_client(client_id)?
            .ok_or_else(|| StoreError::InvalidName {
                what: "source client",
                name: client_id.to_owned(),
            })?;
        tracing::info!(client_id, "source-system credential revoked");
        Ok(client)
    }

    /// Checks a presented credential (`<client id>.<secret>`).
    pub fn check_source_credential(
        &self,
        credential: &SecretString,
    ) -> Result<Result<SourceClient, CredentialRefusal>, StoreError> {
        let Some((client_id, secret)) = credential.expose().split_once('.') else {
            return Ok(Err(CredentialRefusal::Malformed));
        };
        let row: Option<(Vec<u8>, SourceClient)> = self
            .conn
            .rows(
                &format!(
                    "SELECT secret_sha256, {COLUMNS} FROM source_clients WHERE client_id = $1"
                ),
                &[&client_id],
            )?
            .first()
            .map(|row| Ok::<_, StoreError>((row.get(0)?, client_from_row(row, 1)?)))
            .transpose()?;
        let Some((stored, client)) = row else {
            return Ok(Err(CredentialRefusal::Unknown));
        };
        // Digests are compared, not secrets: how long the comparison takes
        // tells a guesser about the SHA-256 of their guess, which they know
        // already, and nothing about the stored secret.
        let matches = stored == digest(secret);
        Ok(match (matches, &client.revoked_at) {
            (false, _) => Err(CredentialRefusal::Unknown),
            (true, Some(_)) => Err(CredentialRefusal::Revoked),
            (true, None) => Ok(client),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facility_codes_are_ten_digits() {
        assert!(check_facility("1311234567").is_ok());
        for bad in ["131123456", "13112345678", "131123456a", ""] {
            assert!(check_facility(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_credential_verifies_until_revoked_and_a_wrong_one_never() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::create(dir.path()).unwrap();
        let (client, credential) = store.add_source_client("1311234567").unwrap();
        assert!(
            credential
                .expose()
                .starts_with(&format!("{}.", client.client_id))
        );
        let check = |c: &str| {
            store
                .check_source_credential(&SecretString::new(c.to_owned()))
                .unwrap()
        };
        assert_eq!(check(credential.expose()), Ok(client.clone()));
        let mut wrong = credential.expose().to_owned();
        let last = wrong.pop().unwrap();
        wrong.push(if last == '0' { '1' } else { '0' });
        assert_eq!(check(&wrong), Err(CredentialRefusal::Unknown));
        assert_eq!(check("no-dot-here"), Err(CredentialRefusal::Malformed));
        assert_eq!(
            check("src-0000000000000000.00"),
            Err(CredentialRefusal::Unknown)
        );
        store.revoke_source_client(&client.client_id).unwrap();
        assert_eq!(check(credential.expose()), Err(CredentialRefusal::Revoked));
        let listed = store.source_clients().unwrap();
        assert_eq!(listed.len(), 1);
        assert!(listed[0].revoked_at.is_some());
        assert!(store.revoke_source_client("src-unknown").is_err());
    }
}
