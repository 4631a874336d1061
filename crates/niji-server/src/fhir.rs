//! `POST /fhir/Bundle`: one JP-CLINS Bundle from an authenticated source
//! system, ingested as one batch, all or nothing.
//!
//! Unlike a file ingest, which quarantines bad resources, the endpoint
//! refuses the whole Bundle when any resource fails its checks (FHIR's
//! all-or-nothing reading of a submission): the sender gets every issue
//! back at once and can resend the corrected Bundle.

use crate::auth::SourceSystem;
use crate::error::{FHIR_JSON, FhirError, Issue, outcome};
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use niji_ingest::{Location, Options, Problem, SourceKind, Status, ingest_bytes};

fn is_fhir_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or_default().trim();
    essence.eq_ignore_ascii_case(FHIR_JSON) || essence.eq_ignore_ascii_case("application/json")
}

/// The request must be a JSON object of resourceType Bundle; anything else
/// is a bad request (400), before the adapter sees it. Returns the parsed
/// Bundle for the custodian check.
fn check_shape(body: &[u8]) -> Result<serde_json::Value, FhirError> {
    let json: serde_json::Value = serde_json::from_slice(body).map_err(|err| {
        // Line and column only: serde_json's message could quote input.
        let what = if err.is_eof() {
            "the JSON ends early".to_owned()
        } else {
            format!(
                "invalid JSON at line {} column {}",
                err.line(),
                err.column()
            )
        };
        FhirError::BadRequest(vec![Issue::error("structure", what)])
    })?;
    match json.get("resourceType").and_then(|v| v.as_str()) {
        Some("Bundle") => Ok(json),
        Some(_) => Err(FhirError::BadRequest(vec![
            Issue::error("invalid", "this endpoint takes a Bundle").at("resourceType"),
        ])),
        None => Err(FhirError::BadRequest(vec![
            Issue::error("required", "not a FHIR resource: resourceType is missing")
                .at("resourceType"),
        ])),
    }
}

/// An ingest problem as an OperationOutcome issue: the FHIRPath as the
/// expression, the reason as diagnostics.
fn issue(problem: &Problem) -> Issue {
    let code = if problem.reason.contains("missing") {
        "required"
    } else {
        "invalid"
    };
    let issue = Issue::error(code, problem.reason.clone());
    match (&problem.location, &problem.field) {
        (Location::Path { path, .. }, _) => issue.at(path.clone()),
        (_, Some(field)) => issue.at(field.clone()),
        _ => issue,
    }
}

/// `POST /fhir/Bundle`.
pub(crate) async fn post_bundle(
    source: SourceSystem,
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, FhirError> {
    if !is_fhir_json(&headers) {
        return Err(FhirError::UnsupportedMediaType);
    }
    // Too large is 413; a body cut off in transit is the client's 400.
    let body = body.map_err(|rejection| {
        FhirError::Body(
            format!("the body could not be read: {rejection}"),
            rejection.status(),
        )
    })?;
    let bundle = check_shape(&body)?;
    if let Some(custodian) = niji_ingest::fhir_custodian(&bundle)
        && custodian != source.facility
    {
        tracing::warn!(client_id = %source.client_id, facility = %source.facility, "Bundle of another facility refused");
        return Err(FhirError::Forbidden(format!(
            "this credential sends for facility {}; the Bundle's custodian is another facility",
            source.facility
        )));
    }
    let inner = state.inner();
    let name = format!("POST /fhir/Bundle ({})", source.client_id);
    let options = Options {
        strict: true,
        sender: Some(source.facility.clone()),
    };
    let ingested = tokio::task::spawn_blocking(move || {
        inner
            .staging
            .with(|staging| {
                ingest_bytes(
                    staging,
                    &inner.tokenizer,
                    SourceKind::FhirJson,
                    &body,
                    &name,
                    &options,
                )
                .map_err(|err| FhirError::Internal(err.to_string()))
            })
            .map_err(|e| match e {
                crate::state::StagingError::Busy => FhirError::Busy,
                crate::state::StagingError::Failed(reason) => FhirError::Internal(reason),
            })?
    })
    .await
    .map_err(|err| FhirError::Internal(err.to_string()))??;
    let client_id = &source.client_id;
    match ingested.status {
        Status::Ingested { batch_id } => {
            tracing::info!(%client_id, batch_id, records = ingested.records, "Bundle ingested");
            Ok(done(StatusCode::CREATED, batch_id, "ingested as batch"))
        }
        Status::Duplicate { batch_id } => {
            tracing::info!(%client_id, batch_id, "Bundle already ingested");
            Ok(done(
                StatusCode::OK,
                batch_id,
                "already ingested, nothing written; batch",
            ))
        }
        Status::Refused { problem } => {
            let issues: Vec<Issue> = if ingested.rejects.is_empty() {
                vec![issue(&problem)]
            } else {
                ingested.rejects.iter().map(|r| issue(&r.problem)).collect()
            };
            tracing::info!(%client_id, issues = issues.len(), "Bundle refused");
            Err(FhirError::Unprocessable(issues))
        }
        Status::Checked => Err(FhirError::Internal("ingest only checked the Bundle".into())),
    }
}

/// The success answer: an informational OperationOutcome naming the batch,
/// whose id is also in the `X-Niji-Batch` header for clients that read
/// only headers.
fn done(status: StatusCode, batch_id: i64, what: &str) -> Response {
    let mut response = outcome(status, &[Issue::information(format!("{what} {batch_id}"))]);
    response
        .headers_mut()
        .insert("x-niji-batch", batch_id.into());
    response
}
