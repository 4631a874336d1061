//! Headers every reply carries, whatever route made it: a content security
//! policy that lets a page load nothing but its own stylesheet and post
//! forms only here, no framing, no type sniffing, no referrer, and
//! `Cache-Control: no-store` unless the route says a reply may be kept
//! (sessions, tokens, CSRF tokens and health data must not stay in a
//! shared cache or the browser's). Behind TLS, HSTS too.

use crate::state::AppState;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

/// The content security policy: no script at all, the stylesheet from
/// here, forms posted here, never inside another site's frame.
pub const POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self'; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Adds the headers to `next`'s reply.
pub(crate) async fn secure(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let tls = state.secure_cookies() || crate::api::forwarded_tls(request.headers());
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let fixed: [(HeaderName, &str); 4] = [
        (header::CONTENT_SECURITY_POLICY, POLICY),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
    ];
    for (name, value) in fixed {
        headers.insert(name, HeaderValue::from_static(value));
    }
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if tls {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
    }
    response
}
