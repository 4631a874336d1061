//! Errors of the FHIR endpoint, and their one mapping to HTTP: a FHIR
//! `OperationOutcome` with a status code.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// The FHIR JSON media type.
pub const FHIR_JSON: &str = "application/fhir+json";

/// One issue of an `OperationOutcome`: what, and where (a FHIRPath).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    /// `error`, `warning` or `information`.
    pub severity: &'static str,
    /// A code of FHIR's IssueType value set (`invalid`, `required`, …).
    pub code: &'static str,
    /// The reason, without any value from the submitted resource.
    pub diagnostics: String,
    /// The FHIRPath of the element concerned, if any.
    pub expression: Option<String>,
}

impl Issue {
    /// An error issue.
    pub fn error(code: &'static str, diagnostics: impl Into<String>) -> Self {
        Issue {
            severity: "error",
            code,
            diagnostics: diagnostics.into(),
            expression: None,
        }
    }

    /// An information issue (`informational`).
    pub fn information(diagnostics: impl Into<String>) -> Self {
        Issue {
            severity: "information",
            code: "informational",
            diagnostics: diagnostics.into(),
            expression: None,
        }
    }

    /// The same issue at a FHIRPath.
    pub fn at(mut self, expression: impl Into<String>) -> Self {
        self.expression = Some(expression.into());
        self
    }
}

/// Why a FHIR request was not served.
#[derive(Debug, thiserror::Error)]
pub enum FhirError {
    /// No credential, or one that is malformed, unknown, wrong or revoked.
    /// All look alike to the caller.
    #[error("a valid source-system credential is required")]
    Unauthenticated,
    /// A valid credential that may not send this Bundle.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// The body is not a FHIR Bundle in JSON.
    #[error("bad request")]
    BadRequest(Vec<Issue>),
    /// A Bundle whose content fails the checks; nothing was written.
    #[error("unprocessable Bundle")]
    Unprocessable(Vec<Issue>),
    /// The body is larger than [`crate::MAX_BODY`], or could not be read.
    #[error("{0}")]
    Body(String, StatusCode),
    /// The body is not declared as FHIR JSON.
    #[error("unsupported media type")]
    UnsupportedMediaType,
    /// The staging store is in use by another process (an ingest, a
    /// release build) for longer than a request waits: send it again.
    #[error("busy")]
    Busy,
    /// Something failed on the server's side.
    #[error("internal error: {0}")]
    Internal(String),
}

#[derive(Serialize)]
struct OperationOutcome<'a> {
    #[serde(rename = "resourceType")]
    resource_type: &'static str,
    issue: Vec<IssueJson<'a>>,
}

#[derive(Serialize)]
struct IssueJson<'a> {
    severity: &'a str,
    code: &'a str,
    diagnostics: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    expression: Option<[&'a str; 1]>,
}

/// An `OperationOutcome` body with status `status`.
pub(crate) fn outcome(status: StatusCode, issues: &[Issue]) -> Response {
    let body = OperationOutcome {
        resource_type: "OperationOutcome",
        issue: issues
            .iter()
            .map(|i| IssueJson {
                severity: i.severity,
                code: i.code,
                diagnostics: &i.diagnostics,
                expression: i.expression.as_deref().map(|e| [e]),
            })
            .collect(),
    };
    let json = serde_json::to_vec(&body).unwrap_or_else(|_| b"{}".to_vec());
    let mut response = (status, json).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(FHIR_JSON));
    response
}

impl IntoResponse for FhirError {
    fn into_response(self) -> Response {
        match self {
            FhirError::Unauthenticated => {
                let mut response = outcome(
                    StatusCode::UNAUTHORIZED,
                    &[Issue::error("login", self.to_string())],
                );
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"niji-fhir\""),
                );
                response
            }
            FhirError::Forbidden(reason) => {
                outcome(StatusCode::FORBIDDEN, &[Issue::error("forbidden", reason)])
            }
            FhirError::BadRequest(issues) => outcome(StatusCode::BAD_REQUEST, &issues),
            FhirError::Unprocessable(issues) => outcome(StatusCode::UNPROCESSABLE_ENTITY, &issues),
            FhirError::Body(reason, status) => {
                outcome(status, &[Issue::error("too-costly", reason)])
            }
            FhirError::UnsupportedMediaType => outcome(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                &[Issue::error(
                    "not-supported",
                    format!("send the Bundle as {FHIR_JSON} (or application/json)"),
                )],
            ),
            FhirError::Busy => {
                let mut response = outcome(
                    StatusCode::SERVICE_UNAVAILABLE,
                    &[Issue::error(
                        "transient",
                        "the records store is busy with another task; nothing was written, send the Bundle again",
                    )],
                );
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("10"));
                response
            }
            FhirError::Internal(reason) => {
                // The reason goes to the log, not to the client.
                tracing::error!(%reason, "FHIR request failed");
                outcome(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    &[Issue::error(
                        "exception",
                        "internal error; see the server log",
                    )],
                )
            }
        }
    }
}
