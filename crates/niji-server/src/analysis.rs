//! The analysis API, `/api/v1/projects/{id}/...`: SQL over the granted
//! views, judged by the grant's disclosure rule set. Every handler takes
//! [`Granted`] (the purpose gate), and every request — refused, failed or
//! answered — is an audit event written before any result byte leaves.

use crate::caller::Caller;
use crate::gate::Granted;
use crate::jobs::Answer;
use crate::problem::{ApiError, blocking};
use crate::state::{AppState, Inner};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router, routing::get, routing::post};
use niji_audit::event::EventKind;
use niji_query::{Cell, Control, Kind, Limits, Outcome, QueryError, RuleSet, Status};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The analysis routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/projects/{id}/queries", post(query))
        .route("/api/v1/projects/{id}/tables", get(tables))
        .route("/api/v1/projects/{id}/results/{result}", get(fetch_result))
        .route("/api/v1/airlock", get(airlock_queue))
        .route("/api/v1/airlock/{result}", get(airlock_item))
        .route("/api/v1/airlock/{result}/reviews", post(airlock_review))
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
    /// For a held result: its id in the airlock, to fetch it by once two
    /// reviewers release it.
    #[serde(skip_serializing_if = "Option::is_none")]
    airlock: Option<i64>,
    /// Each column's type as the query computed it, for Arrow.
    #[serde(skip)]
    types: Vec<Option<arrow_schema::DataType>>,
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
fn audit_detail(
    granted: &Granted,
    sql: &str,
    outcome: &Result<Outcome, QueryError>,
    held: Option<i64>,
) -> String {
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
            detail.insert("tables".into(), json!(o.tables));
            detail.insert("rows_scanned".into(), json!(o.scanned));
            detail.insert(
                "shape".into(),
                json!([o.computed.rows.len(), o.computed.columns.len()]),
            );
            detail.insert("suppressed".into(), json!(o.findings.suppressed()));
            detail.insert("findings".into(), json!(o.findings.notes));
            if let Some(id) = held {
                detail.insert("airlock".into(), json!(id));
            }
        }
        Err(e) => {
            detail.insert("outcome".into(), json!("refused"));
            detail.insert("reason".into(), json!(e.to_string()));
        }
    }
    Value::Object(detail).to_string()
}

pub(crate) fn api_error(e: QueryError) -> ApiError {
    match e {
        QueryError::Refused(reason) => ApiError::Forbidden(reason),
        QueryError::Syntax(_) | QueryError::Timeout(_) | QueryError::Failed(_) => {
            ApiError::Unprocessable(e.to_string())
        }
        QueryError::Cancelled => ApiError::Gone(e.to_string()),
        QueryError::Policy(_) | QueryError::Internal(_) => ApiError::Internal(e.to_string()),
    }
}

#[utoipa::path(post, path = "/api/v1/projects/{id}/queries", params(("id" = i64, Path, description = "Project (grant) id")), request_body = QueryBody, responses((status = 200, description = "The result as disclosure control lets it leave", body = QueryResult), (status = 202, description = "Held for review (airlock, a `QueryResult`), or running on as a job (a `JobView`)", body = QueryResult), (status = 403, description = "Refused by the gate: not a member, grant inactive, or a table, column or function outside the grant"), (status = 422, description = "Not valid SQL, or the query failed or ran too long"), (status = 429, description = "The project runs as many analysis requests as it may, or the analysis queue is full: retry after `Retry-After`")))]
async fn query(
    State(state): State<AppState>,
    granted: Granted,
    headers: axum::http::HeaderMap,
    Json(body): Json<QueryBody>,
) -> Result<Response, ApiError> {
    let arrow = crate::arrow::wants_arrow(&headers);
    let rules = rules_of(&granted)?;
    let inner = state.inner();
    let slot = inner.slot(granted.grant().id)?;
    let owner = crate::jobs::Owner::of(&granted);
    crate::jobs::answer(&state, owner, "query", arrow, move |control| {
        let _slot = slot;
        run_query(&granted, &inner, &body.sql, &rules, control)
            .map(|(status, result)| Answer::Query(status, result))
    })
    .await
}
/// The grant's disclosure rule set.
pub(crate) fn rules_of(granted: &Granted) -> Result<RuleSet, ApiError> {
    RuleSet::builtin()
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .remove(&granted.grant().conditions.rule_set)
        .ok_or_else(|| {
            ApiError::Internal(format!(
                "grant {} names rule set `{}`, which this build does not carry",
                granted.grant().id,
                granted.grant().conditions.rule_set
            ))
        })
}

/// Runs one SQL request to its audited end: the result (released, or
/// held for the airlock) once its audit event is durable.
fn run_query(
    granted: &Granted,
    inner: &Inner,
    sql: &str,
    rules: &RuleSet,
    control: Control,
) -> Result<(StatusCode, QueryResult), ApiError> {
    // The query runs without the store's lock; only the writes take it.
    let analysis = granted.analysis(Limits::default()).with_control(control);
    // A grant that allows row-level results (pseudonymized tier,
    // certified organization) answers non-aggregate queries as rows.
    let row_level =
        granted.grant().conditions.row_level && analysis.check(sql).is_ok_and(|c| !c.aggregate);
    let mut outcome = if row_level {
        analysis.rows(sql)
    } else {
        analysis.aggregate(sql, rules)
    };
    let held = {
        // Writes to the airlock, the released numbers and the records of
        // row-level results only.
        let store = inner.store_keeping_governance()?;
        // Every aggregate number is compared with the project's earlier
        // ones and recorded before its result leaves (differencing).
        let mut differenced = Differenced::default();
        if !row_level && let Ok(o) = &mut outcome {
            if o.numbers.is_none() {
                outcome = Err(QueryError::Refused(UNINDEXED.into()));
            } else {
                differenced = difference(&store, granted, sql, o, rules.min_persons)?;
            }
        }
        // The pseudonyms a row-level result shows are recorded, with their
        // audit event, before it leaves: citizens can learn who saw theirs.
        if let (true, Ok(o)) = (row_level, &outcome) {
            let shown = shown(&inner.tokenizer, granted, &o.computed);
            store.record_row_level(granted.grant().id, granted.account(), &shown)?;
        }
        // A result with cells for review is held, not returned; its
        // numbers left only if it is released.
        match &outcome {
            Ok(o) if o.findings.needs_review() => {
                let id = store.hold_result(
                    granted.account(),
                    granted.grant().id,
                    sql,
                    &serde_json::to_string(&rendered(o, true, None))
                        .map_err(|e| ApiError::Internal(e.to_string()))?,
                    &serde_json::to_string(
                        &o.findings
                            .notes
                            .iter()
                            .chain(&differenced.notes)
                            .collect::<Vec<_>>(),
                    )
                    .map_err(|e| ApiError::Internal(e.to_string()))?,
                )?;
                store.hold_numbers(&differenced.recorded, id)?;
                Some(id)
            }
            _ => None,
        }
    };
    // Log before release: no audit event, no result. Requests finishing
    // together share one commit (crate::audit).
    let detail = audit_detail(granted, sql, &outcome, held);
    crate::audit::log_outcome(
        inner,
        granted,
        EventKind::AnalysisQuery,
        outcome.is_ok(),
        detail,
    )?;
    let outcome = outcome.map_err(api_error)?;
    let status = if held.is_some() {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    Ok((status, rendered(&outcome, held.is_none(), held)))
}

/// Why an aggregate over a release without a person index is refused:
/// its numbers cannot be compared with earlier ones.
const UNINDEXED: &str = "a release this query reads was built without the person index that \
     differencing control needs; an operator rebuilds it (`niji release build`)";

/// What differencing made of a result's numbers.
#[derive(Default)]
struct Differenced {
    /// For the reviewers: which number is close to which, earlier output
    /// beside it.
    notes: Vec<String>,
    /// The ids of the numbers recorded, to tie to the airlock if held.
    recorded: Vec<i64>,
}

/// Compares an aggregate result's numbers with each other and with the
/// project's earlier numbers, holds those a few persons apart for review,
/// and records them all.
fn difference(
    store: &niji_store::Store,
    granted: &Granted,
    sql: &str,
    outcome: &mut Outcome,
    min: u64,
) -> Result<Differenced, ApiError> {
    let Some(numbers) = &outcome.numbers else {
        return Ok(Differenced::default());
    };
    let new: Vec<niji_store::NewNumber> = numbers
        .numbers
        .iter()
        .map(|n| niji_store::NewNumber {
            family: &n.family,
            definition: &n.definition,
            persons: &n.persons,
            label: &n.label,
        })
        .collect();
    let (close, ids) =
        store.difference_numbers(granted.grant().id, &numbers.release, sql, &new, min)?;
    let mut notes: Vec<String> = numbers
        .within
        .iter()
        .map(|p| {
            format!(
                "differencing: {} and {} of this result differ in {} persons",
                numbers.numbers[p.a].label, numbers.numbers[p.b].label, p.apart
            )
        })
        .collect();
    notes.extend(close.iter().map(|e| {
        format!(
            "differencing: {} differs in {} persons from {} of an earlier result ({} UTC): {}",
            numbers.numbers[e.number].label, e.apart, e.label, e.at, e.sql
        )
    }));
    let held: Vec<usize> = close.iter().map(|e| e.number).collect();
    for n in held {
        outcome.hold_number(n);
    }
    Ok(Differenced {
        notes,
        recorded: ids,
    })
}

/// The pseudonyms a row-level result shows, in each release of the grant
/// (a pseudonym is release-scoped, and the result does not say which
/// release a column came from), with their disclosure tags.
fn shown(
    tokenizer: &niji_linkage::Tokenizer,
    granted: &Granted,
    result: &niji_query::ResultSet,
) -> Vec<niji_store::Shown> {
    let mut releases: Vec<&str> = granted
        .tables()
        .iter()
        .map(|t| t.release.as_str())
        .collect();
    releases.sort_unstable();
    releases.dedup();
    let pseudonyms = niji_query::pseudonyms_in(result);
    releases
        .iter()
        .flat_map(|release| {
            pseudonyms.iter().map(|p| niji_store::Shown {
                release: (*release).to_owned(),
                pseudonym: p.clone(),
                tag: tokenizer.disclosure_tag(release, p),
            })
        })
        .collect()
}

/// A result as its request answers it: JSON, or a released one as Arrow
/// when asked.
pub(crate) fn respond(
    status: StatusCode,
    result: &QueryResult,
    arrow: bool,
) -> Result<Response, ApiError> {
    if arrow && status == StatusCode::OK {
        return arrow_response(result);
    }
    Ok((status, Json(result)).into_response())
}

/// A released result as an Arrow IPC stream, its findings in the
/// schema's metadata.
fn arrow_response(result: &QueryResult) -> Result<Response, ApiError> {
    let text = |e: serde_json::Error| ApiError::Internal(e.to_string());
    let mut metadata = std::collections::HashMap::new();
    metadata.insert("niji.status".to_owned(), result.status.to_owned());
    metadata.insert(
        "niji.cells".to_owned(),
        serde_json::to_string(&result.cells).map_err(text)?,
    );
    metadata.insert(
        "niji.notes".to_owned(),
        serde_json::to_string(&result.notes).map_err(text)?,
    );
    let bytes = crate::arrow::stream(&result.columns, &result.types, &result.rows, metadata)?;
    // The notes also travel as a header, for readers that do not expose
    // Arrow schema metadata (polars); ASCII-escaped JSON.
    let notes: String = serde_json::to_string(&result.notes)
        .map_err(text)?
        .chars()
        .map(|c| {
            if c.is_ascii() {
                c.to_string()
            } else {
                format!("\\u{:04x}", c as u32)
            }
        })
        .collect();
    Ok((
        [
            (
                axum::http::header::CONTENT_TYPE,
                crate::arrow::ARROW_STREAM.to_owned(),
            ),
            (
                axum::http::HeaderName::from_static("x-niji-findings"),
                notes,
            ),
        ],
        bytes,
    )
        .into_response())
}

/// A result as it leaves (or waits): withheld cells NULL; with `rows`
/// false (held for review), the shape and statuses only.
fn rendered(outcome: &Outcome, rows: bool, airlock: Option<i64>) -> QueryResult {
    let values = |r: usize, c: usize| -> Value {
        match outcome.findings.cells[r][c] {
            Status::Pass | Status::Review => json_cell(&outcome.computed.rows[r][c]),
            Status::Suppressed | Status::Secondary => Value::Null,
        }
    };
    let held = outcome.findings.needs_review();
    QueryResult {
        status: if held && airlock.is_some() {
            "review"
        } else {
            "released"
        },
        columns: outcome.computed.columns.clone(),
        rows: if rows {
            (0..outcome.computed.rows.len())
                .map(|r| {
                    (0..outcome.computed.columns.len())
                        .map(|c| values(r, c))
                        .collect()
                })
                .collect()
        } else {
            Vec::new()
        },
        cells: outcome
            .findings
            .cells
            .iter()
            .map(|r| r.iter().map(|s| status_name(*s)).collect())
            .collect(),
        notes: outcome.findings.notes.clone(),
        airlock,
        types: outcome
            .computed
            .kinds
            .iter()
            .map(|k| {
                use arrow_schema::DataType;
                Some(match k {
                    Kind::Int => DataType::Int64,
                    Kind::Float => DataType::Float64,
                    Kind::Bool => DataType::Boolean,
                    Kind::Text => DataType::Utf8,
                })
            })
            .collect(),
    }
}

#[derive(Clone, Serialize, utoipa::ToSchema)]
pub(crate) struct TableView {
    /// The name queries use.
    name: String,
    release: String,
    columns: Vec<ColumnView>,
}

#[derive(Clone, Serialize, utoipa::ToSchema)]
pub(crate) struct ColumnView {
    name: String,
    /// DuckDB's type (`VARCHAR`, `BIGINT`, `BOOLEAN`, …).
    #[serde(rename = "type")]
    data_type: String,
    /// What it holds and how the release processed it.
    description: String,
}

#[utoipa::path(get, path = "/api/v1/projects/{id}/tables", params(("id" = i64, Path, description = "Project (grant) id")), responses((status = 200, description = "The granted tables and columns, with types and descriptions", body = Vec<TableView>), (status = 403, description = "Refused by the gate")))]
async fn tables(
    State(state): State<AppState>,
    granted: Granted,
) -> Result<Json<Vec<TableView>>, ApiError> {
    let inner = state.inner();
    blocking(move || {
        // A release never changes once built, so a grant's tables read the
        // same every time: read from the release files once, then kept.
        let key = Schemas::key(granted.tables());
        if let Some(kept) = inner.schemas.get(&key) {
            return Ok(Json(kept));
        }
        let schema = granted
            .analysis(Limits::default())
            .schema()
            .map_err(api_error)?;
        let views: Vec<TableView> = granted
            .tables()
            .iter()
            .zip(schema)
            .map(|(t, (_, columns))| TableView {
                name: t.view.clone(),
                release: t.release.clone(),
                columns: columns
                    .into_iter()
                    .map(|c| ColumnView {
                        name: c.name,
                        data_type: c.data_type,
                        description: c.description,
                    })
                    .collect(),
            })
            .collect();
        inner.schemas.keep(key, views.clone());
        Ok(Json(views))
    })
    .await
}

/// The granted tables' descriptions, by what a grant reaches: each granted
/// table (release file, table, view name, columns) with its file's
/// modification time, should a file ever be replaced.
#[derive(Default)]
pub(crate) struct Schemas {
    kept: std::sync::Mutex<std::collections::HashMap<SchemaKey, Vec<TableView>>>,
}

/// Each granted table with its release file's modification time.
type SchemaKey = Vec<(niji_query::GrantedTable, u128)>;

impl Schemas {
    /// Grants reaching different tables kept at most; past it the oldest
    /// are forgotten all at once (they are read again when asked).
    const MOST: usize = 4_096;

    fn key(tables: &[niji_query::GrantedTable]) -> SchemaKey {
        tables
            .iter()
            .map(|t| {
                let modified = std::fs::metadata(&t.path)
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|m| m.duration_since(std::time::UNIX_EPOCH).ok())
                    .map_or(0, |d| d.as_nanos());
                (t.clone(), modified)
            })
            .collect()
    }

    fn get(&self, key: &SchemaKey) -> Option<Vec<TableView>> {
        self.kept.lock().ok()?.get(key).cloned()
    }

    fn keep(&self, key: SchemaKey, views: Vec<TableView>) {
        if let Ok(mut kept) = self.kept.lock() {
            if kept.len() >= Self::MOST {
                kept.clear();
            }
            kept.insert(key, views);
        }
    }
}

#[utoipa::path(get, path = "/api/v1/projects/{id}/results/{result}", params(("id" = i64, Path, description = "Project (grant) id"), ("result" = i64, Path, description = "Held result id")), responses((status = 200, description = "A result two reviewers released", body = QueryResult), (status = 202, description = "Still held for review"), (status = 403, description = "Refused by the gate, or rejected by a reviewer"), (status = 404, description = "No such result in this project")))]
async fn fetch_result(
    State(state): State<AppState>,
    granted: Granted,
    Path(params): Path<std::collections::HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let id: i64 = params
        .get("result")
        .and_then(|r| r.parse().ok())
        .ok_or_else(|| ApiError::NotFound("no such result".into()))?;
    let inner = state.inner();
    blocking(move || {
        let store = inner.store()?;
        let not_found = || ApiError::NotFound(format!("no result {id} in this project"));
        let held = store.held(id).map_err(|_| not_found())?;
        if held.grant_id != granted.grant().id {
            return Err(not_found());
        }
        match held.status.as_str() {
            "released" => {
                // Log before release, as for a query.
                store.audit(
                    granted.account(),
                    EventKind::AnalysisFetch,
                    niji_audit::event::Subject::Project(held.grant_id),
                    &json!({ "result": id, "sql": held.sql }).to_string(),
                )?;
                Ok((
                    [(axum::http::header::CONTENT_TYPE, "application/json")],
                    held.result,
                )
                    .into_response())
            }
            "rejected" => {
                let reasons: Vec<String> = held
                    .reviews
                    .iter()
                    .filter(|r| r.decision == "reject")
                    .map(|r| r.comment.clone())
                    .collect();
                Err(ApiError::Forbidden(format!(
                    "result {id} was rejected: {}",
                    reasons.join("; ")
                )))
            }
            _ => Ok((
                StatusCode::ACCEPTED,
                Json(json!({
                    "status": "review",
                    "airlock": id,
                    "releases": held.reviews.iter().filter(|r| r.decision == "release").count()
                })),
            )
                .into_response()),
        }
    })
    .await
}

/// A held result as a reviewer sees it.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct HeldView {
    id: i64,
    project: i64,
    author: String,
    sql: String,
    status: String,
    created_at: String,
    /// The result with its cells for review shown (suppressed cells stay
    /// withheld).
    #[schema(value_type = Object)]
    result: Value,
    #[schema(value_type = Object)]
    findings: Value,
    reviews: Vec<HeldReview>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct HeldReview {
    reviewer: String,
    decision: String,
    comment: String,
}

impl From<niji_store::Held> for HeldView {
    fn from(h: niji_store::Held) -> Self {
        HeldView {
            id: h.id,
            project: h.grant_id,
            result: serde_json::from_str(&h.result).unwrap_or(Value::Null),
            findings: serde_json::from_str(&h.findings).unwrap_or(Value::Null),
            author: h.author,
            sql: h.sql,
            status: h.status,
            created_at: h.created_at,
            reviews: h
                .reviews
                .into_iter()
                .map(|r| HeldReview {
                    reviewer: r.reviewer,
                    decision: r.decision,
                    comment: r.comment,
                })
                .collect(),
        }
    }
}

#[utoipa::path(get, path = "/api/v1/airlock", responses((status = 200, description = "Held results the reviewer may check", body = Vec<HeldView>), (status = 403, description = "Not a reviewer")))]
async fn airlock_queue(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<HeldView>>, ApiError> {
    crate::api::session_only(&caller)?;
    let inner = state.inner();
    // On a reader: a reviewer's queue never waits for an analysis's writes.
    let queue =
        blocking(move || inner.with_reader(|r| Ok(r.airlock_queue(&caller.account)?))).await?;
    Ok(Json(queue.into_iter().map(Into::into).collect()))
}

#[utoipa::path(get, path = "/api/v1/airlock/{result}", params(("result" = i64, Path, description = "Held result id")), responses((status = 200, body = HeldView), (status = 403, description = "Not a reviewer who may check it"), (status = 404, description = "No such result")))]
async fn airlock_item(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<HeldView>, ApiError> {
    crate::api::session_only(&caller)?;
    let inner = state.inner();
    let held = blocking(move || held_for(&*inner.store()?, &caller.account, id)).await?;
    Ok(Json(held.into()))
}

/// Held result `id` as `reviewer` may see it: in their queue, or one they
/// already checked. (The API and the pages alike.)
pub(crate) fn held_for(
    store: &niji_store::Store,
    reviewer: &niji_store::Account,
    id: i64,
) -> Result<niji_store::Held, ApiError> {
    let visible = store
        .airlock_queue(reviewer)?
        .into_iter()
        .any(|h| h.id == id);
    let held = store.held(id)?;
    let checked = held.reviews.iter().any(|r| r.reviewer == reviewer.name);
    if !(visible || checked) {
        return Err(ApiError::Forbidden(format!(
            "result {id} is not one `{}` may check",
            reviewer.name
        )));
    }
    Ok(held)
}

/// A reviewer's decision as the store takes it.
pub(crate) fn verdict(decision: &str) -> Result<niji_store::Verdict, ApiError> {
    match decision {
        "release" => Ok(niji_store::Verdict::Release),
        "reject" => Ok(niji_store::Verdict::Reject),
        other => Err(ApiError::Unprocessable(format!(
            "decision `{other}`: release or reject"
        ))),
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
pub(crate) struct AirlockDecision {
    /// `release` or `reject`.
    decision: String,
    #[serde(default)]
    comment: String,
}

#[utoipa::path(post, path = "/api/v1/airlock/{result}/reviews", params(("result" = i64, Path, description = "Held result id")), request_body = AirlockDecision, responses((status = 200, body = HeldView), (status = 403, description = "The author, a project member or not a reviewer"), (status = 422, description = "Decided already, or a rejection without reasons")))]
async fn airlock_review(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    Json(body): Json<AirlockDecision>,
) -> Result<Json<HeldView>, ApiError> {
    crate::api::session_only(&caller)?;
    let verdict = verdict(&body.decision)?;
    let inner = state.inner();
    let held = blocking(move || {
        Ok(inner
            .store()?
            .review_result(&caller.account, id, verdict, &body.comment)?)
    })
    .await?;
    Ok(Json(held.into()))
}
