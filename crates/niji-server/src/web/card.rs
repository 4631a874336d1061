//! The My Number Card sign-in's two pages: the departure to the provider
//! and the provider's answer (`crate::card` does the protocol).

use super::{Catalogue, Lang, Nav, PageError, render, see_other};
use crate::api::{forwarded_tls, session_cookie};
use crate::caller::cookie;
use crate::card::{CardRefusal, STATE_COOKIE};
use crate::problem::{ApiError, blocking};
use crate::signin::client_address;
use crate::state::AppState;
use askama::Template;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::Response;
use axum::{Router, routing::get};
use serde::Deserialize;
use std::net::SocketAddr;

/// The longest `state`, `code` or `error` the callback reads: a provider's
/// are far shorter; anything longer is refused unread.
const MAX_PARAMETER: usize = 2048;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/login/card", get(depart))
        .route("/login/card/callback", get(arrive))
}

#[derive(Template)]
#[template(path = "card_refused.html")]
struct RefusedPage {
    t: &'static Catalogue,
    nav: Nav,
    message: &'static str,
}

/// The state cookie: sent back on the provider's top-level redirect to the
/// callback (so `Lax`, not `Strict`), to this path only, for the sign-in's
/// ten minutes.
fn state_cookie(value: &str, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!(
        "{STATE_COOKIE}={value}; HttpOnly; SameSite=Lax; Path=/login/card; Max-Age={}{secure}",
        niji_store::card::SIGNIN_VALID.as_secs()
    )
}

fn add_cookie(response: &mut Response, cookie: &str) {
    if let Ok(value) = HeaderValue::from_str(cookie) {
        response.headers_mut().append(SET_COOKIE, value);
    }
}

fn provider(state: &AppState) -> Result<&crate::card::CardProvider, PageError> {
    state.card().ok_or_else(|| {
        PageError::Failed(ApiError::NotFound(
            "sign-in with the My Number Card is not set up on this platform".into(),
        ))
    })
}

/// `GET /login/card`: to the provider.
async fn depart(
    State(state): State<AppState>,
    lang: Lang,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let provider = provider(&state)?;
    let address = client_address(peer, &headers, state.trusted_proxy());
    let key = format!("card-departures:{address}");
    if crate::signin::throttle(&state.inner())?.over(&key, crate::card::DEPARTURES_PER_ADDRESS) {
        return refused(&state, CardRefusal::Busy, address, lang).await;
    }
    let departure = match provider.depart().await {
        Ok(departure) => departure,
        Err(refusal) => return refused(&state, refusal, address, lang).await,
    };
    if !crate::card::keep(&state, &departure).await? {
        return refused(&state, CardRefusal::Busy, address, lang).await;
    }
    let mut response = see_other(&departure.url);
    let secure = state.secure_cookies() || forwarded_tls(&headers);
    add_cookie(&mut response, &state_cookie(&departure.state, secure));
    Ok(response)
}

#[derive(Deserialize)]
struct Answer {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// `GET /login/card/callback`: the provider's answer.
async fn arrive(
    State(state): State<AppState>,
    lang: Lang,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(answer): Query<Answer>,
) -> Result<Response, PageError> {
    let address = client_address(peer, &headers, state.trusted_proxy());
    let provider = provider(&state)?;
    let bounded = |v: &Option<String>| v.as_ref().is_none_or(|v| v.len() <= MAX_PARAMETER);
    if !(bounded(&answer.code) && bounded(&answer.state) && bounded(&answer.error)) {
        return refused(&state, CardRefusal::State, address, lang).await;
    }
    // The answer's state must be the one this browser left with: else a
    // sign-in begun elsewhere (another person's) could land here.
    let (Some(returned), Some(own)) = (answer.state.as_deref(), cookie(&headers, STATE_COOKIE))
    else {
        return refused(&state, CardRefusal::State, address, lang).await;
    };
    if !ring_eq(returned.as_bytes(), own.as_bytes()) {
        return refused(&state, CardRefusal::State, address, lang).await;
    }
    // Spent now, whatever follows: a state works once.
    let Some(pending) = crate::card::take(&state, returned).await? else {
        return refused(&state, CardRefusal::State, address, lang).await;
    };
    let code = match (answer.error, answer.code) {
        (None, Some(code)) if !code.is_empty() => code,
        _ => return refused(&state, CardRefusal::Cancelled, address, lang).await,
    };
    let vouched = match provider.arrive(code, pending, state.tokenizer()).await {
        Ok(vouched) => vouched,
        Err(refusal) => return refused(&state, refusal, address, lang).await,
    };
    let citizen = match crate::card::citizen(&state, vouched).await? {
        Ok(citizen) => citizen,
        Err(refusal) => return refused(&state, refusal, address, lang).await,
    };
    let account = citizen.account().name.clone();
    let inner = state.inner();
    let actor = account.clone();
    blocking(move || {
        Ok(inner.store_keeping_governance()?.audit(
            &actor,
            niji_audit::event::EventKind::Login,
            niji_audit::event::Subject::CardSignIn,
            "logged in with the My Number Card",
        )?)
    })
    .await?;
    let (id, _csrf) = crate::caller::open_session(&state, &account).await?;
    let mut response = see_other("/me");
    let secure = state.secure_cookies() || forwarded_tls(&headers);
    add_cookie(&mut response, &session_cookie(&id, secure));
    add_cookie(&mut response, &clear_state());
    Ok(response)
}

fn clear_state() -> String {
    format!("{STATE_COOKIE}=; Max-Age=0; Path=/login/card")
}

/// Compared in constant time: the state is a secret of this browser.
fn ring_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A refusal: its audit entry, and a page that says what to do; no
/// session, and the state cookie cleared.
async fn refused(
    state: &AppState,
    refusal: CardRefusal,
    address: std::net::IpAddr,
    lang: Lang,
) -> Result<Response, PageError> {
    crate::card::log_refusal(state, refusal, address).await?;
    let mut response = render(&RefusedPage {
        t: lang.catalogue(),
        nav: Nav::new(lang, None),
        message: refusal.message(),
    })?;
    *response.status_mut() = refusal.status();
    add_cookie(&mut response, &clear_state());
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_cookie_reaches_only_the_callback_and_lives_ten_minutes() {
        let c = state_cookie("abc", true);
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Lax"), "{c}");
        assert!(
            c.contains("Path=/login/card") && c.contains("Max-Age=600"),
            "{c}"
        );
        assert!(c.ends_with("; Secure"), "{c}");
        assert!(ring_eq(b"same", b"same"));
        assert!(!ring_eq(b"same", b"sane") && !ring_eq(b"same", b"same!"));
    }
}
