//! The web pages: server-rendered HTML (askama templates in `templates/`,
//! strings in `i18n/`), with no script but what a form needs.
//!
//! The pages sit on the same store rules as the API. What is web-only:
//!
//! - [`Viewer`] is the logged-in account of a page (session cookie only;
//!   API tokens never open pages), and [`Posted`] is a form posted by one,
//!   checked against the session's CSRF token before the handler runs.
//! - Errors become pages in one place: [`PageError`]'s `IntoResponse` marks
//!   the response, and the [`localize`] layer renders the error page in the
//!   request's language.

mod card;
mod i18n;
mod me;
mod pages;

pub use i18n::{Catalogue, LANG_COOKIE, Lang};

use crate::caller::session_of;
use crate::problem::ApiError;
use crate::state::AppState;
use askama::Template;
use axum::Router;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::{LOCATION, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use niji_core::Role;
use niji_store::Account;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use std::convert::Infallible;

/// The largest form body a page accepts.
const MAX_FORM: usize = 256 * 1024;

/// The pages' routes, with the error-page and language layer.
pub fn routes() -> Router<AppState> {
    pages::routes()
        .merge(card::routes())
        .merge(me::routes())
        .layer(axum::middleware::from_fn(localize))
}

/// The logged-in account of a page.
pub(crate) struct Viewer {
    pub account: Account,
    /// The session's CSRF token, for the page's forms.
    pub csrf: String,
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, PageError> {
        let (session, account) = session_of(state, &parts.headers).await?;
        Ok(Viewer {
            account,
            csrf: session.csrf,
        })
    }
}

/// A page's viewer if logged in (the public pages show who is).
pub(crate) struct MaybeViewer(pub Option<Viewer>);

impl FromRequestParts<AppState> for MaybeViewer {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Infallible> {
        Ok(MaybeViewer(
            Viewer::from_request_parts(parts, state).await.ok(),
        ))
    }
}

#[derive(Deserialize)]
struct CsrfField {
    #[serde(default)]
    csrf: String,
}

/// A form a logged-in account posted, with the session's CSRF token
/// checked: another site's page can make the browser post, but cannot read
/// the token a page of ours carries.
pub(crate) struct Posted<T> {
    pub viewer: Viewer,
    pub form: T,
}

impl<T: DeserializeOwned> FromRequest<AppState> for Posted<T> {
    type Rejection = PageError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, PageError> {
        let (mut parts, body) = req.into_parts();
        let viewer = Viewer::from_request_parts(&mut parts, state).await?;
        let bytes = axum::body::to_bytes(body, MAX_FORM)
            .await
            .map_err(|_| ApiError::Unprocessable("the form is too large".into()))?;
        let sent: CsrfField = serde_urlencoded::from_bytes(&bytes)
            .map_err(|e| ApiError::Unprocessable(format!("the form: {e}")))?;
        if sent.csrf != viewer.csrf {
            return Err(ApiError::Forbidden(
                "the form's security token is missing or stale; reload the page".into(),
            )
            .into());
        }
        let form = serde_urlencoded::from_bytes(&bytes)
            .map_err(|e| ApiError::Unprocessable(format!("the form: {e}")))?;
        Ok(Posted { viewer, form })
    }
}

/// An admin's page: any other viewer is refused before the handler runs.
pub(crate) struct AdminViewer(pub Viewer);

fn must_be_admin(viewer: &Viewer) -> Result<(), PageError> {
    let caller = crate::caller::Caller {
        account: viewer.account.clone(),
        project: None,
    };
    Ok(crate::admin::admin_only(&caller)?)
}

impl FromRequestParts<AppState> for AdminViewer {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, PageError> {
        let viewer = Viewer::from_request_parts(parts, state).await?;
        must_be_admin(&viewer)?;
        Ok(AdminViewer(viewer))
    }
}

/// A page of the review board's (a reviewer's or an admin's): any other
/// viewer is refused before the handler runs. The store checks the role
/// again where it writes a review.
pub(crate) struct BoardViewer(pub Viewer);

impl FromRequestParts<AppState> for BoardViewer {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, PageError> {
        let viewer = Viewer::from_request_parts(parts, state).await?;
        if !matches!(viewer.account.role, Role::Reviewer | Role::Admin) {
            return Err(
                ApiError::Forbidden("only the review board reviews applications".into()).into(),
            );
        }
        Ok(BoardViewer(viewer))
    }
}

/// A form an admin posted ([`Posted`], then the role).
pub(crate) struct AdminPosted<T>(pub Posted<T>);

impl<T: DeserializeOwned> FromRequest<AppState> for AdminPosted<T> {
    type Rejection = PageError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, PageError> {
        let posted = Posted::<T>::from_request(req, state).await?;
        must_be_admin(&posted.viewer)?;
        Ok(AdminPosted(posted))
    }
}

/// A page that failed.
#[derive(Debug)]
pub(crate) enum PageError {
    /// Not logged in: go to the login page.
    LoginNeeded,
    /// Refused or failed: an error page with the reason.
    Failed(ApiError),
}

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> Self {
        match e {
            ApiError::Unauthenticated => PageError::LoginNeeded,
            other => PageError::Failed(other),
        }
    }
}

impl From<niji_store::StoreError> for PageError {
    fn from(e: niji_store::StoreError) -> Self {
        PageError::Failed(e.into())
    }
}

/// What [`localize`] renders as the error page.
#[derive(Clone)]
struct Failure {
    detail: String,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let error = match self {
            PageError::LoginNeeded => return see_other("/login"),
            PageError::Failed(error) => error,
        };
        let status = error.status();
        if let ApiError::Internal(reason) = &error {
            tracing::error!(%reason, "page failed");
        }
        let mut response = status.into_response();
        response.extensions_mut().insert(Failure {
            detail: error.to_string(),
        });
        response
    }
}

/// A 303 to `path`: after a form, the browser fetches the result with GET.
pub(crate) fn see_other(path: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::from_str(path) {
        response.headers_mut().insert(LOCATION, value);
    }
    response
}

/// Renders a page.
pub(crate) fn render(page: &impl Template) -> Result<Response, PageError> {
    page.render()
        .map(|html| Html(html).into_response())
        .map_err(|e| PageError::Failed(ApiError::Internal(format!("template: {e}"))))
}

/// What every page's header shows: the language, who is logged in, and
/// the links their role has.
pub(crate) struct Nav {
    pub lang: &'static str,
    pub account: Option<String>,
    pub role: Option<Role>,
    /// For the logout form.
    pub csrf: String,
}

impl Nav {
    pub fn new(lang: Lang, viewer: Option<&Viewer>) -> Nav {
        Nav {
            lang: lang.code(),
            account: viewer.map(|v| v.account.name.clone()),
            role: viewer.map(|v| v.account.role),
            csrf: viewer.map(|v| v.csrf.clone()).unwrap_or_default(),
        }
    }

    /// A purpose of the catalogue by its name in the page's language.
    pub fn purpose(&self, id: &str) -> String {
        purpose_of(id, self.lang == "ja")
    }

    /// Whether the viewer has `role` (the header's links).
    pub fn is(&self, role: &str) -> bool {
        self.role.is_some_and(|r| r.as_str() == role)
    }
}

/// A purpose of the catalogue by its name in `lang`; its id if unknown.
pub(crate) fn purpose_name(id: &str, lang: Lang) -> String {
    purpose_of(id, lang.code() == "ja")
}

fn purpose_of(id: &str, japanese: bool) -> String {
    niji_store::governance::purposes()
        .iter()
        .find(|p| p.id == id)
        .map_or_else(
            || id.to_owned(),
            |p| {
                if japanese {
                    p.name_ja.clone()
                } else {
                    p.name.clone()
                }
            },
        )
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    t: &'static Catalogue,
    nav: Nav,
    status: u16,
    detail: String,
}

/// Renders marked failures as error pages in the request's language, and
/// remembers a `?lang=` choice in a cookie.
pub(crate) async fn localize(req: Request, next: Next) -> Response {
    let (lang, chosen) = Lang::negotiate(req.uri(), req.headers());
    let mut response = next.run(req).await;
    if let Some(failure) = response.extensions_mut().remove::<Failure>() {
        let status = response.status();
        let page = ErrorPage {
            t: lang.catalogue(),
            nav: Nav::new(lang, None),
            status: status.as_u16(),
            detail: failure.detail,
        };
        response = match page.render() {
            Ok(html) => (status, Html(html)).into_response(),
            Err(_) => (status, failure_text(status)).into_response(),
        };
    }
    if chosen {
        let cookie = format!("{LANG_COOKIE}={}; Path=/; SameSite=Lax", lang.code());
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(SET_COOKIE, value);
        }
    }
    response
}

fn failure_text(status: StatusCode) -> String {
    status.canonical_reason().unwrap_or("error").to_owned()
}
