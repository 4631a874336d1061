//! Who is calling the API: a logged-in account (session cookie, with a
//! CSRF token on every change) or a notebook's API token (scoped to one
//! project). The [`Caller`] extractor is the only way a handler learns it.

use crate::problem::ApiError;
use crate::state::AppState;
use axum::extract::FromRequestParts;
use axum::http::header::{AUTHORIZATION, COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method};
use niji_core::SecretString;
use niji_store::Account;
use std::time::Duration;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "niji_session";

/// The header that carries a session's CSRF token on every change.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// How long a session lasts without use.
pub const SESSION_IDLE: Duration = Duration::from_secs(30 * 60);

/// How long a session lasts however much it is used: a stolen cookie
/// works for a working day at most.
pub const SESSION_LONGEST: Duration = Duration::from_secs(12 * 60 * 60);

/// A logged-in browser session. Kept in the control-plane store (by the
/// SHA-256 of its id), so that every server of the platform knows it; a
/// restart logs no one out.
#[derive(Debug, Clone)]
pub struct Session {
    /// The account.
    pub account: String,
    /// The CSRF token its forms and scripts send back.
    pub csrf: String,
}

pub(crate) fn digest(id: &str) -> String {
    ring::digest::digest(&ring::digest::SHA256, id.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub(crate) fn random_hex(bytes: usize) -> Result<String, ApiError> {
    use ring::rand::SecureRandom;
    let mut buf = vec![0u8; bytes];
    ring::rand::SystemRandom::new()
        .fill(&mut buf)
        .map_err(|_| ApiError::Internal("the system random source failed".into()))?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

/// Opens a session of `account`; its id (for the cookie) and CSRF token.
pub(crate) async fn open_session(
    state: &AppState,
    account: &str,
) -> Result<(String, String), ApiError> {
    let (id, csrf) = (random_hex(32)?, random_hex(16)?);
    let (inner, account, key, token) =
        (state.inner(), account.to_owned(), digest(&id), csrf.clone());
    crate::problem::blocking(move || {
        Ok(inner.store_keeping_governance()?.open_session(
            &key,
            &account,
            &token,
            SESSION_IDLE,
            SESSION_LONGEST,
        )?)
    })
    .await?;
    Ok((id, csrf))
}

/// Ends the session of id `id`.
pub(crate) async fn close_session(state: &AppState, id: &str) -> Result<(), ApiError> {
    let (inner, key) = (state.inner(), digest(id));
    crate::problem::blocking(move || Ok(inner.store_keeping_governance()?.close_session(&key)?))
        .await
}

/// Ends every session of `account` but the one of id `keep`.
pub(crate) async fn close_sessions_of(
    state: &AppState,
    account: &str,
    keep: Option<&str>,
) -> Result<(), ApiError> {
    let (inner, account, keep) = (state.inner(), account.to_owned(), keep.map(digest));
    crate::problem::blocking(move || {
        Ok(inner
            .store_keeping_governance()?
            .close_sessions_of(&account, keep.as_deref())?)
    })
    .await
}

/// The value of cookie `name` in a request's cookies.
pub(crate) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (n, value) = pair.trim().split_once('=')?;
            (n == name).then(|| value.to_owned())
        })
}

/// The session id in a request's cookies.
pub(crate) fn session_id(headers: &HeaderMap) -> Option<String> {
    cookie(headers, SESSION_COOKIE)
}

fn bearer(headers: &HeaderMap) -> Option<SecretString> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, credential) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| SecretString::new(credential.trim().to_owned()))
}

/// The live session a request's cookie names, and its account.
pub(crate) async fn session_of(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<(Session, Account), ApiError> {
    let id = session_id(headers).ok_or(ApiError::Unauthenticated)?;
    let inner = state.inner();
    let key = digest(&id);
    let reading = state.inner();
    // Read beside the writer; the writer only records a use once a minute.
    let record =
        crate::problem::blocking(move || {
            let found =
                reading.with_reader(|r| Ok(r.session(&key, SESSION_IDLE, SESSION_LONGEST)?))?;
            match found {
                Some(s) if s.use_is_stale() => Ok(reading
                    .store_keeping_governance()?
                    .touch_session(&key, SESSION_IDLE, SESSION_LONGEST)?),
                other => Ok(other),
            }
        })
        .await?
        .ok_or(ApiError::Unauthenticated)?;
    let session = Session {
        account: record.account,
        csrf: record.csrf,
    };
    if let Some(account) = inner.governance.account(&session.account) {
        return Ok((session, account));
    }
    let name = session.account.clone();
    let account = crate::problem::blocking(move || {
        let mark = inner.governance.mark();
        let account = inner
            .with_reader(|reader| Ok(reader.account(&name)?))?
            .ok_or(ApiError::Unauthenticated)?;
        inner.governance.keep_account(mark, account.clone());
        Ok(account)
    })
    .await?;
    Ok((session, account))
}

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The account.
    pub account: Account,
    /// For an API token: the one project it may reach.
    pub project: Option<i64>,
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if let Some(token) = bearer(&parts.headers) {
            let inner = state.inner();
            let key = digest(token.expose());
            if let Some((account, project)) = inner.governance.token(&key) {
                return Ok(Caller {
                    account,
                    project: Some(project),
                });
            }
            return crate::problem::blocking(move || {
                let store = inner.store_keeping_governance()?;
                let mark = inner.governance.mark();
                let token = match store.check_api_token(&token)? {
                    Ok(token) => token,
                    Err(refusal) => {
                        tracing::info!(reason = ?refusal, "API token refused");
                        return Err(ApiError::Unauthenticated);
                    }
                };
                let account = store
                    .account(&token.account)?
                    .ok_or(ApiError::Unauthenticated)?;
                inner
                    .governance
                    .keep_token(mark, key, account.clone(), token.grant_id);
                Ok(Caller {
                    account,
                    project: Some(token.grant_id),
                })
            })
            .await;
        }
        let (session, account) = session_of(state, &parts.headers).await?;
        // Changes need the session's CSRF token: a page of another site can
        // make the browser send the cookie, but cannot read the token.
        if parts.method != Method::GET && parts.method != Method::HEAD {
            let sent = parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
            if sent != Some(session.csrf.as_str()) {
                return Err(ApiError::Forbidden("missing or wrong CSRF token".into()));
            }
        }
        Ok(Caller {
            account,
            project: None,
        })
    }
}
