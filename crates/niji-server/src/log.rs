//! The access log's public routes. They need no login: a checkpoint and
//! proofs are hashes and a signature, and reveal nothing personal.
//!
//! - `GET /log/key`: the verifier key checkpoints are signed with
//!   (`name+id+base64`), for checkers that have not pinned it yet;
//! - `GET /log/checkpoint`: the latest signed checkpoint (a C2SP signed
//!   note, `text/plain`), issued anew when the log has grown;
//! - `GET /log/proof/inclusion?index=I&size=N`: the inclusion proof of
//!   entry I in the tree of N entries;
//! - `GET /log/proof/consistency?from=M&to=N`: the consistency proof from
//!   the tree of M entries to the tree of N.

use crate::problem::{ApiError, blocking};
use crate::state::AppState;
use axum::extract::{Query, State};
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router, routing::get};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

/// The log routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/log/checkpoint", get(checkpoint))
        .route("/log/key", get(key))
        .route("/log/proof/inclusion", get(inclusion))
        .route("/log/proof/consistency", get(consistency))
}

/// Issues a checkpoint if the log grew since the last (a no-op otherwise):
/// on demand, and from the server's periodic task.
pub(crate) async fn issue(state: &AppState) -> Result<Option<String>, ApiError> {
    let inner = state.inner();
    blocking(move || {
        let store = inner.store()?;
        Ok(match &inner.log_key {
            Some(key) => Some(store.issue_checkpoint(key)?.note),
            None => store.latest_checkpoint()?.map(|c| c.note),
        })
    })
    .await
}

#[utoipa::path(get, path = "/log/checkpoint", responses((status = 200, description = "The latest signed checkpoint: a C2SP signed note of a C2SP tlog checkpoint (origin, size, base64 root)", content_type = "text/plain"), (status = 404, description = "No checkpoint issued yet")))]
async fn checkpoint(State(state): State<AppState>) -> Result<Response, ApiError> {
    let note = issue(&state)
        .await?
        .ok_or_else(|| ApiError::NotFound("no checkpoint has been issued".into()))?;
    Ok(([(CONTENT_TYPE, "text/plain; charset=utf-8")], note).into_response())
}

#[utoipa::path(get, path = "/log/key", responses((status = 200, description = "The log's verifier key: name+id+base64(0x01 ‖ Ed25519 public key)", content_type = "text/plain"), (status = 404, description = "This server signs no checkpoints")))]
async fn key(State(state): State<AppState>) -> Result<Response, ApiError> {
    let key = state
        .inner()
        .log_key
        .as_ref()
        .map(|k| k.verifier())
        .ok_or_else(|| ApiError::NotFound("this server signs no checkpoints".into()))?;
    Ok((
        [(CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{key}\n"),
    )
        .into_response())
}

#[derive(Deserialize, utoipa::IntoParams)]
pub(crate) struct InclusionQuery {
    /// The entry's index, from 0.
    index: u64,
    /// The tree size (a checkpoint's).
    size: u64,
}

#[derive(Deserialize, utoipa::IntoParams)]
pub(crate) struct ConsistencyQuery {
    /// The earlier tree size.
    from: u64,
    /// The later tree size.
    to: u64,
}

/// A proof: base64 SHA-256 hashes, from the bottom up (RFC 9162).
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ProofView {
    proof: Vec<String>,
}

fn proof_view(hashes: Vec<[u8; 32]>) -> Json<ProofView> {
    Json(ProofView {
        proof: hashes.iter().map(|h| STANDARD.encode(h)).collect(),
    })
}

#[utoipa::path(get, path = "/log/proof/inclusion", params(InclusionQuery), responses((status = 200, description = "The inclusion proof", body = ProofView), (status = 422, description = "No such entry in a tree of that size")))]
async fn inclusion(
    State(state): State<AppState>,
    Query(q): Query<InclusionQuery>,
) -> Result<Json<ProofView>, ApiError> {
    let inner = state.inner();
    let proof = blocking(move || Ok(inner.store()?.log_inclusion(q.index, q.size)?)).await?;
    Ok(proof_view(proof))
}

#[utoipa::path(get, path = "/log/proof/consistency", params(ConsistencyQuery), responses((status = 200, description = "The consistency proof", body = ProofView), (status = 422, description = "No proof between those sizes")))]
async fn consistency(
    State(state): State<AppState>,
    Query(q): Query<ConsistencyQuery>,
) -> Result<Json<ProofView>, ApiError> {
    let inner = state.inner();
    let proof = blocking(move || Ok(inner.store()?.log_consistency(q.from, q.to)?)).await?;
    Ok(proof_view(proof))
}
