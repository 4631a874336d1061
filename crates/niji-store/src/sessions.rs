//! Browser sessions and the governance count, shared by every process of a
//! platform: a session opened on one server is known to the others, and a
//! change of governance state made anywhere is seen everywhere.
//!
//! Sessions are kept by the SHA-256 of their id; the id itself is only in
//! the browser's cookie. How long a session lives is the caller's policy
//! (idle and longest durations passed in); a lookup of one past either is
//! none, and opening a session clears every expired one.

use crate::db::Conn;
use crate::{Reader, Store, StoreError};
use chrono::{DateTime, Utc};
use std::time::Duration;

/// A live session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// The account.
    pub account: String,
    /// The CSRF token its pages embed and its changes send back.
    pub csrf: String,
    /// Its last use, as recorded (recorded at most once a minute).
    pub seen_at: DateTime<Utc>,
}

/// How often a session's last use is written: a request in the same
/// minute reads only.
const SEEN_EVERY: Duration = Duration::from_secs(60);

impl SessionRecord {
    /// Whether its last use is older than the store writes it
    /// ([`Store::touch_session`] would record this use).
    pub fn use_is_stale(&self) -> bool {
        self.seen_at < ago(Utc::now(), SEEN_EVERY)
    }
}

fn ago(now: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    now - chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

/// Raises the governance count, in the caller's transaction.
pub(crate) fn governance_changed(conn: &Conn) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE governance_generation SET n = n + 1 WHERE id = 1",
        &[],
    )?;
    Ok(())
}

fn generation(conn: &Conn) -> Result<i64, StoreError> {
    Ok(conn
        .opt_value("SELECT n FROM governance_generation WHERE id = 1", &[])?
        .unwrap_or(0))
}

fn live(
    conn: &Conn,
    digest: &str,
    now: DateTime<Utc>,
    idle: Duration,
    longest: Duration,
) -> Result<Option<SessionRecord>, StoreError> {
    let row: Option<(String, String, DateTime<Utc>)> = conn.opt(
        "SELECT account, csrf, seen_at FROM sessions \
         WHERE id_sha256 = $1 AND seen_at > $2 AND opened_at > $3",
        &[&digest, &ago(now, idle), &ago(now, longest)],
    )?;
    Ok(row.map(|(account, csrf, seen_at)| SessionRecord {
        account,
        csrf,
        seen_at,
    }))
}

impl Store {
    /// The governance count (see the module's docs).
    pub fn governance_generation(&self) -> Result<i64, StoreError> {
        generation(&self.conn)
    }

    /// Records a new session of `account` under the SHA-256 of its id,
    /// clearing every expired one.
    pub fn open_session(
        &self,
        digest: &str,
        account: &str,
        csrf: &str,
        idle: Duration,
        longest: Duration,
    ) -> Result<(), StoreError> {
        let now = Utc::now();
        let tx = self.conn.transaction()?;
        tx.execute(
            "DELETE FROM sessions WHERE seen_at <= $1 OR opened_at <= $2",
            &[&ago(now, idle), &ago(now, longest)],
        )?;
        tx.execute(
            "INSERT INTO sessions (id_sha256, account, csrf, opened_at, seen_at) VALUES ($1, $2, $3, $4, $4)",
            &[&digest, &account, &csrf, &now],
        )?;
        tx.commit()
    }

    /// The live session of a digest; records its use when the last was
    /// recorded more than a minute ago.
    pub fn touch_session(
        &self,
        digest: &str,
        idle: Duration,
        longest: Duration,
    ) -> Result<Option<SessionRecord>, StoreError> {
        let now = Utc::now();
        let Some(session) = live(&self.conn, digest, now, idle, longest)? else {
            return Ok(None);
        };
        if session.use_is_stale() {
            self.conn.execute(
                "UPDATE sessions SET seen_at = $1 WHERE id_sha256 = $2",
                &[&now, &digest],
            )?;
        }
        Ok(Some(session))
    }

    /// Ends a session.
    pub fn close_session(&self, digest: &str) -> Result<(), StoreError> {
        self.conn
            .execute("DELETE FROM sessions WHERE id_sha256 = $1", &[&digest])?;
        Ok(())
    }

    /// Ends every session of `account` but the one of digest `keep`.
    pub fn close_sessions_of(&self, account: &str, keep: Option<&str>) -> Result<(), StoreError> {
        self.conn.execute(
            "DELETE FROM sessions WHERE account = $1 AND id_sha256 <> $2",
            &[&account, &keep.unwrap_or("")],
        )?;
        Ok(())
    }
}

impl Reader {
    /// [`Store::governance_generation`].
    pub fn governance_generation(&self) -> Result<i64, StoreError> {
        generation(&self.store.conn)
    }

    /// The live session of a digest, without recording its use.
    pub fn session(
        &self,
        digest: &str,
        idle: Duration,
        longest: Duration,
    ) -> Result<Option<SessionRecord>, StoreError> {
        live(&self.store.conn, digest, Utc::now(), idle, longest)
    }
}
