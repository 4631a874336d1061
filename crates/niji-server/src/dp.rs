//! The differential-privacy API: `POST /api/v1/projects/{id}/dp-queries`
//! (a structured query, run with OpenDP) and `GET .../budget`. Behind the
//! purpose gate like every analysis route; the ρ is debited from the
//! project's ledger before the release is made, and the request is an
//! audit event before its answer leaves.
//!
//! OpenDP's measurements are not `Send`: everything from building the
//! measurement to collecting its output happens in one blocking task.

use crate::gate::Granted;
use crate::jobs::Answer;
use crate::problem::{ApiError, blocking};
use crate::state::AppState;
use axum::extract::State;
use axum::response::Response;
use axum::{Json, Router, routing::get, routing::post};
use niji_audit::event::EventKind;
use niji_dp::{DpError, DpQuery, GroupKey, KeySets, Measure, Prepared, Rows};
use niji_query::{Control, Limits};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// The DP routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/projects/{id}/dp-queries", post(dp_query))
        .route("/api/v1/projects/{id}/budget", get(budget))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct GroupKeyBody {
    column: String,
    /// A key set of `policies/dp-keysets.toml` (`sex`, `age-5y`, …).
    keyset: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct MeasureBody {
    /// `count`, `sum` or `mean`.
    kind: String,
    #[serde(default)]
    column: Option<String>,
    #[serde(default)]
    lower: Option<f64>,
    #[serde(default)]
    upper: Option<f64>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DpQueryBody {
    table: String,
    #[serde(default)]
    group_by: Vec<GroupKeyBody>,
    measures: Vec<MeasureBody>,
    /// ρ (zCDP) to spend.
    rho: f64,
    /// Rows of one person kept; 1 (the default) for a person table.
    #[serde(default)]
    max_rows_per_person: Option<u32>,
}

impl DpQueryBody {
    fn into_query(self) -> Result<DpQuery, ApiError> {
        let measures = self
            .measures
            .into_iter()
            .map(|m| {
                let bounded = |kind: &str| -> Result<(String, f64, f64), ApiError> {
                    match (m.column.clone(), m.lower, m.upper) {
                        (Some(c), Some(l), Some(u)) => Ok((c, l, u)),
                        _ => Err(ApiError::Unprocessable(format!(
                            "a {kind} needs `column`, `lower` and `upper`"
                        ))),
                    }
                };
                match m.kind.as_str() {
                    "count" => Ok(Measure::Count),
                    "sum" => bounded("sum").map(|(column, lower, upper)| Measure::Sum {
                        column,
                        lower,
                        upper,
                    }),
                    "mean" => bounded("mean").map(|(column, lower, upper)| Measure::Mean {
                        column,
                        lower,
                        upper,
                    }),
                    other => Err(ApiError::Unprocessable(format!(
                        "measure `{other}`: count, sum or mean"
                    ))),
                }
            })
            .collect::<Result<_, _>>()?;
        Ok(DpQuery {
            table: self.table,
            group_by: self
                .group_by
                .into_iter()
                .map(|g| GroupKey {
                    column: g.column,
                    keyset: g.keyset,
                })
                .collect(),
            measures,
            rho: self.rho,
            max_rows_per_person: self.max_rows_per_person.unwrap_or(1),
        })
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct NoiseView {
    column: String,
    aggregate: String,
    distribution: String,
    scale: f64,
    /// Half-width of the 95% interval of the noise.
    accuracy: f64,
}

impl From<niji_dp::Noise> for NoiseView {
    fn from(n: niji_dp::Noise) -> Self {
        NoiseView {
            column: n.column,
            aggregate: n.aggregate,
            distribution: n.distribution,
            scale: n.scale,
            accuracy: n.accuracy,
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct BudgetView {
    total: f64,
    spent: f64,
    left: f64,
}

impl From<niji_store::Budget> for BudgetView {
    fn from(b: niji_store::Budget) -> Self {
        BudgetView {
            total: b.total,
            spent: b.spent,
            left: b.left(),
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct DpResult {
    columns: Vec<String>,
    #[schema(value_type = Vec<Vec<Object>>)]
    rows: Vec<Vec<serde_json::Value>>,
    noise: Vec<NoiseView>,
    /// ρ debited for this release.
    rho: f64,
    budget: BudgetView,
}

fn dp_error(e: DpError) -> ApiError {
    match e {
        DpError::Refused(reason) => ApiError::Unprocessable(reason),
        DpError::Measurement(reason) => {
            ApiError::Unprocessable(format!("the DP measurement could not be built: {reason}"))
        }
        DpError::Policy(reason) => ApiError::Internal(reason),
    }
}

#[utoipa::path(post, path = "/api/v1/projects/{id}/dp-queries", params(("id" = i64, Path, description = "Project (grant) id")), request_body = DpQueryBody, responses((status = 200, description = "A DP release, its noise and the budget after it", body = DpResult), (status = 403, description = "Refused by the gate, a column outside the grant, or over budget"), (status = 202, description = "Running on as a job", body = crate::jobs::JobView), (status = 422, description = "A query OpenDP cannot measure"), (status = 429, description = "The project runs as many analysis requests as it may, or the analysis queue is full: retry after `Retry-After`")))]
async fn dp_query(
    State(state): State<AppState>,
    granted: Granted,
    Json(body): Json<DpQueryBody>,
) -> Result<Response, ApiError> {
    let query = body.into_query()?;
    let inner = state.inner();
    let slot = inner.slot(granted.grant().id)?;
    let owner = crate::jobs::Owner::of(&granted);
    crate::jobs::answer(&state, owner, "dp-query", false, move |control| {
        let _slot = slot;
        let spec = format!("{query:?}");
        let outcome = run(&granted, &query, &spec, &inner, control);
        // Log before release: the refusal or the release, with ρ.
        let released = outcome.as_ref().ok();
        let detail = json!({
            "project": granted.grant().id,
            "purpose": granted.purpose(),
            "spec": spec,
            "tables": [query.table],
            "rows_scanned": released.map(|r| r.scanned),
            "rho": released.map(|r| r.result.rho).unwrap_or(0.0),
            "shape": released.map(|r| json!([r.result.rows.len(), r.result.columns.len()])),
            "outcome": if outcome.is_ok() { "released" } else { "refused" },
            "reason": outcome.as_ref().err().map(|e| e.to_string()),
        });
        crate::audit::log_outcome(
            &inner,
            &granted,
            EventKind::AnalysisDp,
            outcome.is_ok(),
            detail.to_string(),
        )?;
        outcome.map(|r| Answer::Dp(r.result))
    })
    .await
}

/// A DP release and the rows it read.
struct Released {
    result: DpResult,
    scanned: u64,
}

/// Builds, debits, runs: the store is locked only for the debit, and a
/// request cancelled before it spends nothing.
fn run(
    granted: &Granted,
    query: &DpQuery,
    spec: &str,
    inner: &crate::state::Inner,
    control: Control,
) -> Result<Released, ApiError> {
    let keysets = KeySets::builtin().map_err(dp_error)?;
    let prepared = Prepared::new(query, &keysets).map_err(dp_error)?;
    let keys: Vec<String> = query.group_by.iter().map(|g| g.column.clone()).collect();
    let (data, scanned) = granted
        .analysis(Limits::default())
        .with_control(control.clone())
        .person_columns(
            &query.table,
            &keys,
            &prepared.value_columns(),
            query.max_rows_per_person,
        )
        .map_err(crate::analysis::api_error)?;
    // A missing value counts as 0, clamped into the measure's bounds.
    let rows = Rows {
        keys: data.keys,
        values: data.values,
    };
    // OpenDP's row limit, checked before the debit rather than by the
    // measurement after it.
    let read = rows
        .keys
        .first()
        .map(Vec::len)
        .or_else(|| rows.values.first().map(Vec::len))
        .unwrap_or(0);
    if read > niji_dp::MAX_GROUP_LENGTH as usize {
        return Err(ApiError::Unprocessable(format!(
            "a DP query reads at most {} rows; lower max_rows_per_person",
            niji_dp::MAX_GROUP_LENGTH
        )));
    }
    control.check().map_err(crate::analysis::api_error)?;
    let budget = inner.store_keeping_governance()?.debit_rho(
        granted.grant().id,
        granted.account(),
        prepared.rho(),
        spec,
    )?;
    let released = prepared.release(&rows).map_err(dp_error)?;
    let result = DpResult {
        rows: released
            .rows
            .iter()
            .map(|(keys, values)| {
                keys.iter()
                    .map(|k| json!(k))
                    .chain(values.iter().map(|v| json!(v)))
                    .collect()
            })
            .collect(),
        columns: released.columns,
        noise: released.noise.into_iter().map(NoiseView::from).collect(),
        rho: released.rho,
        budget: budget.into(),
    };
    Ok(Released { result, scanned })
}

#[utoipa::path(get, path = "/api/v1/projects/{id}/budget", params(("id" = i64, Path, description = "Project (grant) id")), responses((status = 200, description = "ρ granted, spent and left", body = BudgetView), (status = 403, description = "Refused by the gate")))]
async fn budget(
    State(state): State<AppState>,
    granted: Granted,
) -> Result<Json<BudgetView>, ApiError> {
    let inner = state.inner();
    let id = granted.grant().id;
    // On a reader: the budget never waits for an analysis's writes.
    let budget = blocking(move || inner.with_reader(|reader| Ok(reader.budget(id)?))).await?;
    Ok(Json(budget.into()))
}
