//! The model API: `POST /api/v1/projects/{id}/models` fits a GLM on a
//! granted table (niji-model) and releases its estimates when the grant's
//! rule set lets it. Behind the purpose gate like every analysis route; the
//! request is an audit event — released or refused — before its answer
//! leaves.

use crate::gate::Granted;
use crate::jobs::Answer;
use crate::problem::ApiError;
use crate::state::AppState;
use axum::extract::State;
use axum::response::Response;
use axum::{Json, Router, routing::post};
use niji_audit::event::EventKind;
use niji_model::{Family, ModelError, ModelSpec, PrivateSpec};
use niji_query::{Control, Limits};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeMap;

/// The model routes.
pub fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/projects/{id}/models", post(model))
}

/// A model request: a family, a table and either `response` with `terms`
/// or a `formula`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ModelBody {
    /// `gaussian`, `binomial` or `poisson` (canonical links).
    family: String,
    /// A granted table.
    table: String,
    /// The response column.
    #[serde(default)]
    response: Option<String>,
    /// Columns; `factor(column)` takes a numeric column as categories.
    #[serde(default)]
    terms: Vec<String>,
    /// Instead of `response` and `terms`: `response ~ a + b + factor(c)`.
    #[serde(default)]
    formula: Option<String>,
    /// Fit it with differential privacy instead of the rule set's checks
    /// (gaussian models): OpenDP's noisy sufficient statistics, ρ debited.
    #[serde(default)]
    dp: Option<PrivateBody>,
}

/// A private model's terms.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PrivateBody {
    /// ρ (zCDP) to spend.
    rho: f64,
    /// `[lower, upper]` of the response and of each numeric term: values
    /// are clamped into them, and they set the noise.
    #[serde(default)]
    bounds: BTreeMap<String, [f64; 2]>,
    /// The public key set (`policies/dp-keysets.toml`) of each categorical
    /// term: its levels.
    #[serde(default)]
    keysets: BTreeMap<String, String>,
    /// Rows of one person kept; 1 (the default) for a person table.
    #[serde(default)]
    max_rows_per_person: Option<u32>,
}

impl PrivateBody {
    fn into_spec(self) -> Result<PrivateSpec, ApiError> {
        let most = niji_model::spec::MAX_TERMS + 1;
        if self.bounds.len() > most || self.keysets.len() > most {
            return Err(ApiError::Unprocessable(format!(
                "dp: at most {most} bounds and key sets"
            )));
        }
        // Names only: they are compared with the model's columns and the
        // key sets, and may be quoted back in a refusal.
        let name = |s: &str| {
            !s.is_empty()
                && s.len() <= niji_model::spec::MAX_NAME
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        };
        if !self
            .bounds
            .keys()
            .chain(self.keysets.keys())
            .all(|k| name(k))
            || !self.keysets.values().all(|k| name(k))
        {
            return Err(ApiError::Unprocessable(format!(
                "dp: columns and key sets are names (letters, digits, `_`, `-`; at most {})",
                niji_model::spec::MAX_NAME
            )));
        }
        Ok(PrivateSpec {
            rho: self.rho,
            bounds: self
                .bounds
                .into_iter()
                .map(|(c, [lo, hi])| (c, (lo, hi)))
                .collect(),
            keysets: self.keysets,
            max_rows_per_person: self.max_rows_per_person.unwrap_or(1),
        })
    }
}

impl ModelBody {
    fn into_spec(mut self) -> Result<(ModelSpec, Option<PrivateSpec>), ApiError> {
        let private = self.dp.take().map(PrivateBody::into_spec).transpose()?;
        let spec = self.model_spec()?;
        Ok((spec, private))
    }

    fn model_spec(self) -> Result<ModelSpec, ApiError> {
        let invalid = |e: ModelError| ApiError::Unprocessable(e.to_string());
        let family = Family::parse(&self.family).map_err(invalid)?;
        match (self.formula, self.response) {
            (Some(formula), None) if self.terms.is_empty() => {
                ModelSpec::from_formula(family, &self.table, &formula).map_err(invalid)
            }
            (None, Some(response)) => {
                if self.terms.len() > niji_model::spec::MAX_TERMS {
                    return Err(ApiError::Unprocessable(format!(
                        "at most {} terms",
                        niji_model::spec::MAX_TERMS
                    )));
                }
                ModelSpec::new(family, &self.table, &response, &self.terms).map_err(invalid)
            }
            _ => Err(ApiError::Unprocessable(
                "send either `formula`, or `response` with `terms`".into(),
            )),
        }
    }
}

/// One coefficient.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct EstimateView {
    /// R's name: the term, then the level.
    name: String,
    /// The term (`(Intercept)` for the intercept).
    term: String,
    /// The level contrasted with the term's first (reference) level.
    level: Option<String>,
    estimate: f64,
    std_error: f64,
    /// estimate / std_error, a `t` or `z` statistic.
    statistic: f64,
    p_value: f64,
    /// The Wald interval at `confidence`.
    lower: f64,
    upper: f64,
}

/// A released model: under the rule set's checks, or with differential
/// privacy (then `dp` is set, and `deviance`, `null_deviance`, `null_df`,
/// `observations` and `persons` are not released).
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ModelResult {
    family: &'static str,
    link: &'static str,
    /// The model as fitted, written as a formula.
    formula: String,
    /// The rule set its checks came from (none for a private model).
    #[serde(skip_serializing_if = "Option::is_none")]
    rule_set: Option<String>,
    estimates: Vec<EstimateView>,
    /// `t` (gaussian: the dispersion is estimated) or `z`.
    statistic: &'static str,
    confidence: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    deviance: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    null_deviance: Option<f64>,
    residual_df: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    null_df: Option<u64>,
    dispersion: f64,
    /// Complete rows fitted.
    #[serde(skip_serializing_if = "Option::is_none")]
    observations: Option<u64>,
    /// Persons they belong to.
    #[serde(skip_serializing_if = "Option::is_none")]
    persons: Option<u64>,
    iterations: usize,
    /// A private model's noise, ρ and the budget after it.
    #[serde(skip_serializing_if = "Option::is_none")]
    dp: Option<PrivateView>,
}

/// What a private model spent and how noisy it is.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct PrivateView {
    /// ρ debited for this release.
    rho: f64,
    /// The noisy count of rows the sums took.
    observations: f64,
    /// Each released sum of products of (1, terms…, response): its noise
    /// (the standard errors include the noise's share).
    noise: Vec<crate::dp::NoiseView>,
    budget: crate::dp::BudgetView,
}

fn model_error(e: ModelError) -> ApiError {
    match e {
        ModelError::Invalid(reason) => ApiError::Unprocessable(reason),
        ModelError::Refused(reason) => ApiError::Forbidden(reason),
        ModelError::Query(e) => crate::analysis::api_error(e),
        ModelError::Fit(reason) => ApiError::Internal(reason),
    }
}

#[utoipa::path(post, path = "/api/v1/projects/{id}/models", params(("id" = i64, Path, description = "Project (grant) id")), request_body = ModelBody, responses((status = 200, description = "The model's estimates, released under the grant's rule set (or with differential privacy, `dp`)", body = ModelResult), (status = 202, description = "Running on as a job", body = crate::jobs::JobView), (status = 403, description = "Refused by the gate, a column outside the grant, a disclosure check of the rule set (persons, levels, outcomes, saturation, residual degrees of freedom), over budget, or noise that swamped a private model"), (status = 422, description = "A model the platform cannot fit: the message says what to write instead"), (status = 429, description = "The project runs as many analysis requests as it may, or the analysis queue is full: retry after `Retry-After`")))]
async fn model(
    State(state): State<AppState>,
    granted: Granted,
    Json(body): Json<ModelBody>,
) -> Result<Response, ApiError> {
    let (spec, private) = body.into_spec()?;
    let rules = crate::analysis::rules_of(&granted)?;
    let inner = state.inner();
    let slot = inner.slot(granted.grant().id)?;
    let owner = crate::jobs::Owner::of(&granted);
    crate::jobs::answer(&state, owner, "model", false, move |control| {
        let _slot = slot;
        let outcome = match &private {
            None => run(&granted, &spec, &rules, control),
            Some(private) => run_private(&granted, &inner, &spec, private, control),
        };
        // Log before release: the estimates leave only once this is durable.
        let released = outcome.as_ref().ok();
        let detail = json!({
            "project": granted.grant().id,
            "purpose": granted.purpose(),
            "model": format!("{} ({})", spec.formula(), spec.family.as_str()),
            "rule_set": if private.is_some() { None } else { Some(&rules.name) },
            "tables": [spec.table],
            "rows_scanned": released.map(|r| r.1),
            "shape": released.map(|r| json!([r.0.estimates.len(), 1])),
            "rho": released.and_then(|r| r.0.dp.as_ref()).map_or(0.0, |dp| dp.rho),
            "outcome": if outcome.is_ok() { "released" } else { "refused" },
            "reason": outcome.as_ref().err().map(|e| e.to_string()),
        });
        crate::audit::log_outcome(
            &inner,
            &granted,
            EventKind::AnalysisModel,
            outcome.is_ok(),
            detail.to_string(),
        )?;
        outcome.map(|(result, _)| Answer::Model(result))
    })
    .await
}

fn estimate_view(e: niji_model::Estimate) -> EstimateView {
    EstimateView {
        name: e.place.name(),
        term: e.place.term,
        level: e.place.level,
        estimate: e.estimate,
        std_error: e.std_error,
        statistic: e.statistic,
        p_value: e.p_value,
        lower: e.lower,
        upper: e.upper,
    }
}

/// A model under the rule set's checks; also the rows it scanned.
fn run(
    granted: &Granted,
    spec: &ModelSpec,
    rules: &niji_query::RuleSet,
    control: Control,
) -> Result<(ModelResult, u64), ApiError> {
    let analysis = granted.analysis(Limits::default()).with_control(control);
    let outcome = niji_model::fit(&analysis, spec, rules).map_err(model_error)?;
    let m = outcome.model;
    let result = ModelResult {
        family: m.family.as_str(),
        link: m.family.link(),
        formula: spec.formula(),
        rule_set: Some(rules.name.clone()),
        estimates: m.estimates.into_iter().map(estimate_view).collect(),
        statistic: m.statistic,
        confidence: niji_model::CONFIDENCE,
        deviance: Some(m.deviance),
        null_deviance: Some(m.null_deviance),
        residual_df: m.residual_df,
        null_df: Some(m.null_df),
        dispersion: m.dispersion,
        observations: Some(m.observations),
        persons: Some(m.persons),
        iterations: m.iterations,
        dp: None,
    };
    Ok((result, outcome.scanned))
}

/// A private model: read, then debit, then release; a request cancelled or
/// refused before the debit spends nothing.
fn run_private(
    granted: &Granted,
    inner: &crate::state::Inner,
    spec: &ModelSpec,
    private: &PrivateSpec,
    control: Control,
) -> Result<(ModelResult, u64), ApiError> {
    let analysis = granted
        .analysis(Limits::default())
        .with_control(control.clone());
    let read = niji_model::read_private(&analysis, spec, private).map_err(model_error)?;
    control.check().map_err(crate::analysis::api_error)?;
    let scanned = read.scanned;
    let budget = inner.store_keeping_governance()?.debit_rho(
        granted.grant().id,
        granted.account(),
        read.rho(),
        &format!("model {} ({})", spec.formula(), spec.family.as_str()),
    )?;
    let fit = read.release().map_err(model_error)?;
    let parameters = fit.estimates.len() as f64;
    let result = ModelResult {
        family: spec.family.as_str(),
        link: spec.family.link(),
        formula: spec.formula(),
        rule_set: None,
        estimates: fit.estimates.into_iter().map(estimate_view).collect(),
        statistic: "z",
        confidence: niji_model::CONFIDENCE,
        deviance: None,
        null_deviance: None,
        residual_df: (fit.observations - parameters).max(0.0).round() as u64,
        null_df: None,
        dispersion: fit.dispersion,
        observations: None,
        persons: None,
        iterations: 0,
        dp: Some(PrivateView {
            rho: fit.rho,
            observations: fit.observations,
            noise: fit
                .noise
                .into_iter()
                .map(crate::dp::NoiseView::from)
                .collect(),
            budget: budget.into(),
        }),
    };
    Ok((result, scanned))
}
