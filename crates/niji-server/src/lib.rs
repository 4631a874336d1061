/*!
The HTTP server of niji (`niji serve`). It alone knows HTTP and the JSON
wire formats; the domain crates it calls expose plain Rust types.

Routes so far:

| Route | Who | What |
|---|---|---|
| `POST /fhir/Bundle` | a source system (per-facility credential) | ingests one JP-CLINS Bundle as one batch |
| `/api/v1/...` | accounts (session cookie with CSRF token) or notebooks (API token) | logins, tokens, applications, reviews, projects, revocation |
| `/api/v1/admin/...` | an admin's session | accounts and organizations |
| `/api/v1/projects/{id}/queries`, `.../tables` | the project's members (session or its token), through the purpose gate ([`Granted`]) | SQL over the granted views, judged by disclosure control |
| `/api/v1/projects/{id}/dp-queries`, `.../budget` | the same, through the gate | DP releases (OpenDP), debited from the project's ρ ledger |
| `/api/v1/jobs/{job}`, `.../result` | the job's author, through the gate of its project | analysis requests that outlasted the wait: status, progress, result, cancel |
| `/api/v1/airlock/...` | reviewers who are neither author nor member | held results: release or reject |
| `GET /api/v1/register` | anyone | the public register of approved projects |
| `GET /log/checkpoint`, `/log/proof/inclusion`, `/log/proof/consistency` | anyone | the access log's signed checkpoint and its proofs (hashes only) |
| `/`, `/login`, `/applications`, `/reviews`, `/projects/{id}`, `/admin/...`, `/register` | browsers | the web pages (Japanese by default, `?lang=en`) |

```no_run
# async fn run() -> Result<(), Box<dyn std::error::Error>> {
use niji_server::{AppState, router};

let data = std::path::Path::new("./data");
let store = niji_store::Store::open(data)?;
let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &[0; 32]);
let state = AppState::new(store, data, niji_linkage::Tokenizer::new(key));
let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
axum::serve(listener, router(state)).await?;
# Ok(())
# }
```

# Architecture invariants

- Authentication lives in extractors that handlers take as arguments
  ([`SourceSystem`], [`Caller`]); a handler without one cannot reach the
  data it guards, because the extractor's output is what the handler needs
  to call in. A session's changes carry its CSRF token; an API token
  reaches only its own project.
- Errors become HTTP in one place per wire format: the `IntoResponse` impl
  of [`FhirError`] (OperationOutcome) and of [`ApiError`]
  (`application/problem+json`).
- Blocking work (DuckDB, hashing) runs on tokio's blocking pool, never on the
  async workers.
- No response body, log line or error carries a credential, an identifier or
  a value from a submitted record.
*/
#![deny(missing_docs)]

mod admin;
mod analysis;
mod api;
mod arrow;
mod audit;
mod auth;
mod caller;
mod card;
mod citizen;
mod dp;
mod dummy;
mod error;
mod fhir;
mod gate;
mod governance;
mod headers;
mod identity;
mod jobs;
mod log;
mod models;
mod problem;
mod signin;
mod state;
mod web;
mod workers;

pub use auth::SourceSystem;
pub use caller::{Caller, Session};
pub use card::CardProvider;
pub use error::{FhirError, Issue};
pub use gate::Granted;
pub use problem::ApiError;
pub use signin::Throttle;
pub use state::AppState;
pub use web::{Catalogue, Lang};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::post;

/// The largest request body accepted (a Bundle of one stay is kilobytes;
/// a whole chart export belongs in a file ingest, not a request).
pub const MAX_BODY: usize = 16 * 1024 * 1024;

/// How often the server signs a checkpoint of the access log (when it grew).
pub const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// How often the server looks for governance changes other processes of
/// the platform made (the store's governance count): a grant revoked or an
/// account disabled on another server reaches this one's kept state
/// within this.
pub const GOVERNANCE_WATCH: std::time::Duration = std::time::Duration::from_millis(100);

/// Serves [`router`] on `listener` until `shutdown` resolves; requests in
/// flight then finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // A checkpoint a minute when the log grew; the task ends with the runtime.
    let ticker = state.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(CHECKPOINT_EVERY);
        loop {
            every.tick().await;
            if let Err(e) = log::issue(&ticker).await {
                tracing::error!(error = %e, "issuing a checkpoint failed");
            }
        }
    });
    // What other processes of the platform change (another server, an
    // operator's command) reaches what this one keeps within a tick.
    let watcher = state.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(GOVERNANCE_WATCH);
        let mut seen = None;
        loop {
            every.tick().await;
            let inner = watcher.inner();
            let read =
                problem::blocking(move || inner.with_reader(|r| Ok(r.governance_generation()?)))
                    .await;
            match read {
                Ok(now) if seen != Some(now) => {
                    watcher.inner().governance.changed();
                    seen = Some(now);
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "reading the governance count failed"),
            }
        }
    });
    // The peer's address is kept for login throttling per address.
    axum::serve(
        listener,
        router(state).into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

/// Every route, with its state.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/fhir/Bundle", post(fhir::post_bundle))
        .merge(api::routes())
        .merge(admin::routes())
        .merge(analysis::routes())
        .merge(dp::routes())
        .merge(models::routes())
        .merge(dummy::routes())
        .merge(jobs::routes())
        .merge(log::routes())
        .merge(citizen::routes())
        .merge(web::routes())
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            headers::secure,
        ))
        .with_state(state)
}
