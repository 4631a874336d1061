//! Dummy data: `GET /api/v1/projects/{id}/dummy` (every granted table, a
//! zip of Parquet files) and `GET .../dummy/{table}` (one). Each table is
//! read from its release's dummy twin (`dummies/RELEASE/`, built by
//! `niji release dummy` from a synthetic population with the release's
//! policy), never from the release: the granted columns and the pseudonym,
//! with the release's types and value domains, so that a researcher can
//! write queries locally and send them through the gate unchanged.
//!
//! Behind the purpose gate (only a project's own tables and columns); not
//! an audit event, since nothing of the release is read.

use crate::gate::Granted;
use crate::problem::{ApiError, blocking};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::{Router, routing::get};
use niji_query::GrantedTable;
use niji_query::storage::{DUMMIES_DIR, Release};
use std::collections::HashMap;
use std::io::Write;

/// The dummy-data routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/projects/{id}/dummy", get(all))
        .route("/api/v1/projects/{id}/dummy/{table}", get(one))
}

const PARQUET: &str = "application/vnd.apache.parquet";

/// Granted table `t` of the dummy twin of its release, as Parquet.
fn table_parquet(data: &std::path::Path, t: &GrantedTable) -> Result<Vec<u8>, ApiError> {
    let dir = data.join(DUMMIES_DIR).join(&t.release);
    if !dir.exists() {
        return Err(ApiError::NotFound(format!(
            "release `{}` has no dummy data yet; the platform's operator builds it with `niji release dummy {}`",
            t.release, t.release
        )));
    }
    let twin = Release::open(&dir).map_err(|e| ApiError::Internal(e.to_string()))?;
    twin.columns_parquet(&t.table, &t.columns)
        .map_err(|e| ApiError::Internal(e.to_string()))
}

#[utoipa::path(get, path = "/api/v1/projects/{id}/dummy", params(("id" = i64, Path, description = "Project (grant) id")), responses((status = 200, description = "A zip of one Parquet file per granted table (`TABLE.parquet`): synthetic rows with the granted columns and the pseudonym, in the release's types and value domains", content_type = "application/zip"), (status = 403, description = "Refused by the gate"), (status = 404, description = "A granted release has no dummy data yet")))]
async fn all(State(state): State<AppState>, granted: Granted) -> Result<Response, ApiError> {
    let inner = state.inner();
    let project = granted.grant().id;
    let zip = blocking(move || {
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        // Parquet is compressed already.
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        for t in granted.tables() {
            let bytes = table_parquet(&inner.data_dir, t)?;
            zip.start_file(format!("{}.parquet", t.view), options)
                .and_then(|()| zip.write_all(&bytes).map_err(Into::into))
                .map_err(|e| ApiError::Internal(e.to_string()))?;
        }
        let cursor = zip
            .finish()
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        Ok(cursor.into_inner())
    })
    .await?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/zip".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"niji-dummy-project-{project}.zip\""),
            ),
        ],
        zip,
    )
        .into_response())
}

#[utoipa::path(get, path = "/api/v1/projects/{id}/dummy/{table}", params(("id" = i64, Path, description = "Project (grant) id"), ("table" = String, Path, description = "A granted table")), responses((status = 200, description = "The table's dummy data as one Parquet file", content_type = "application/vnd.apache.parquet"), (status = 403, description = "Refused by the gate"), (status = 404, description = "Not a granted table, or its release has no dummy data yet")))]
async fn one(
    State(state): State<AppState>,
    granted: Granted,
    Path(params): Path<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let name = params.get("table").cloned().unwrap_or_default();
    let inner = state.inner();
    let (view, bytes) = blocking(move || {
        // The name is only compared, never used as a path or in SQL.
        let t = granted
            .tables()
            .iter()
            .find(|t| t.view.eq_ignore_ascii_case(&name))
            .ok_or_else(|| ApiError::NotFound("no such table in this project's grant".into()))?;
        Ok((t.view.clone(), table_parquet(&inner.data_dir, t)?))
    })
    .await?;
    Ok((
        [
            (header::CONTENT_TYPE, PARQUET.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{view}.parquet\""),
            ),
        ],
        bytes,
    )
        .into_response())
}
