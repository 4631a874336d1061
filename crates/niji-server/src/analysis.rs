//! The analysis API, `/api/v1/projects/{id}/...`: SQL over the granted
//! views, judged by the grant's disclosure rule set. Every handler takes
//! [`Granted`] (the purpose gate), and every request — refused, failed or
//! answered — is an audit event written before any result byte leaves.

use crate::gate::Granted;
use crate::problem::{ApiError, blocking};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router, routing::get, routing::post};
use niji_query::{Cell, Limits, Outcome, QueryError, RuleSet, Status};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The analysis routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/projects/{id}/queries", post(query))
        .route("/api/v1/projects/{id}/tables", get(tables))
}

/// The names of the disclosure rule sets this build carries.
pub(crate) fn rule_set_names() -> Vec<String> {
    RuleSet::builtin()
        .map(|sets| sets.into_keys().collect())
        .unwrap_or_default()
}

/// Refuses a grant condition that names no known rule set.
pub(crate) fn known_rule_set(name: &str) -> Result<(), ApiError> {
    let names = rule_set_names();
    if names.iter().any(|n| n == name) {
        Ok(())
    } else {
        Err(ApiError::Unprocessable(format!(
            "rule set `{name}` is not one of: {}",
            names.join(", ")
        )))
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
pub(crate) struct QueryBody {
    sql: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct QueryResult {
    /// `released`, or `review` when a cell is held for the airlock (then
    /// no rows are sent).
    status: &'static str,
    columns: Vec<String>,
    #[schema(value_type = Vec<Vec<Object>>)]
    rows: Vec<Vec<Value>>,
    /// Per cell: `pass`, `suppressed`, `secondary` or `review`.
    cells: Vec<Vec<&'static str>>,
    /// What the rules did, in words.
    notes: Vec<String>,
}

fn status_name(s: Status) -> &'static str {
    match s {
        Status::Pass => "pass",
        Status::Suppressed => "suppressed",
        Status::Secondary => "secondary",
        Status::Review => "review",
    }
}

fn json_cell(cell: &Cell) -> Value {
    match cell {
        Cell::Null => Value::Null,
        Cell::Bool(b) => json!(b),
        Cell::Int(i) => json!(i),
        Cell::Float(f) => json!(f),
        Cell::Text(s) => json!(s),
    }
}

/// The audit record of one request: who, project, purpose, the SQL, the
/// tables, the shape of the result and what disclosure control found.
fn audit_detail(granted: &Granted, sql: &str, outcome: &Result<Outcome, QueryError>) -> String {
    let base = json!({
        "project": granted.grant().id,
        "purpose": granted.purpose(),
        "rule_set": granted.grant().conditions.rule_set,
        "sql": sql,
        "rho": 0.0,
    });
    let mut detail = base.as_object().cloned().unwrap_or_default();
    match outcome {
        Ok(o) => {
            detail.insert(
                "outcome".into(),
                json!(if o.findings.needs_review() {
                    "review"
                } else {
                    "released"
                }),
            );
            detail.insert("tables".into(), json!(o.checked.tables));
            detail.insert(
                "shape".into(),
                json!([o.computed.rows.len(), o.computed.columns.len()]),
            );
            detail.insert("suppressed".into(), json!(o.findings.suppressed()));
            detail.insert("findings".into(), json!(o.findings.notes));
        }
        Err(e) => {
            detail.insert("outcome".into(), json!("refused"));
            detail.insert("reason".into(), json!(e.to_string()));
        }
    }
    Value::Object(detail).to_string()
}

fn api_error(e: QueryError) -> ApiError {
    match e {
        QueryError::Refused(reason) => ApiError::Forbidden(reason),
        QueryError::Syntax(_) | QueryError::Timeout(_) | QueryError::Failed(_) => {
            ApiError::Unprocessable(e.to_string())
        }
        QueryError::Policy(_) | QueryError::Internal(_) => ApiError::Internal(e.to_string()),
    }
}

#[utoipa::path(post, path = "/api/v1/projects/{id}/queries", params(("id" = i64, Path, description = "Project (grant) id")), request_body = QueryBody, responses((status = 200, description = "The result as disclosure control lets it leave", body = QueryResult), (status = 202, description = "Held for review (airlock)", body = QueryResult), (status = 403, description = "Refused by the gate: not a member, grant inactive, or a table, column or function outside the grant"), (status = 422, description = "Not valid SQL, or the query failed or ran too long")))]
async fn query(
    State(state): State<AppState>,
    granted: Granted,
    Json(body): Json<QueryBody>,
) -> Result<Response, ApiError> {
    let rules = RuleSet::builtin()
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .remove(&granted.grant().conditions.rule_set)
        .ok_or_else(|| {
            ApiError::Internal(format!(
                "grant {} names rule set `{}`, which this build does not carry",
                granted.grant().id,
                granted.grant().conditions.rule_set
            ))
        })?;
    let inner = state.inner();
    blocking(move || {
        // The query runs without the store's lock; only the audit takes it.
        let outcome = granted
            .analysis(Limits::default())
            .aggregate(&body.sql, &rules);
        let detail = audit_detail(&granted, &body.sql, &outcome);
        let kind = if outcome.is_ok() {
            "analysis.query"
        } else {
            "analysis.refused"
        };
        // Log before release: no audit event, no result.
        inner.store()?.audit(
            granted.account(),
            kind,
            &format!("project {}", granted.grant().id),
            &detail,
        )?;
        let outcome = outcome.map_err(api_error)?;
        Ok(result_response(&outcome))
    })
    .await
}

fn result_response(outcome: &Outcome) -> Response {
    let held = outcome.findings.needs_review();
    let result = QueryResult {
        status: if held { "review" } else { "released" },
        columns: outcome.released.columns.clone(),
        rows: if held {
            Vec::new()
        } else {
            outcome
                .released
                .rows
                .iter()
                .map(|r| r.iter().map(json_cell).collect())
                .collect()
        },
        cells: outcome
            .findings
            .cells
            .iter()
            .map(|r| r.iter().map(|s| status_name(*s)).collect())
            .collect(),
        notes: outcome.findings.notes.clone(),
    };
    let status = if held {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    (status, Json(result)).into_response()
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct TableView {
    /// The name queries use.
    name: String,
    release: String,
    columns: Vec<String>,
}

#[utoipa::path(get, path = "/api/v1/projects/{id}/tables", params(("id" = i64, Path, description = "Project (grant) id")), responses((status = 200, description = "The granted tables and columns", body = Vec<TableView>), (status = 403, description = "Refused by the gate")))]
async fn tables(granted: Granted) -> Json<Vec<TableView>> {
    Json(
        granted
            .tables()
            .iter()
            .map(|t| TableView {
                name: t.view.clone(),
                release: t.release.clone(),
                columns: t.columns.clone(),
            })
            .collect(),
    )
}
