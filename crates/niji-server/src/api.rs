//! The governance API, `/api/v1/...`: logins, API tokens, applications,
//! reviews, projects, revocation and the public register. Every handler
//! that touches an account's data takes a [`Caller`]; the rules themselves
//! are the store's (`niji_store::governance`).

use crate::caller::{Caller, SESSION_COOKIE};
use crate::problem::{ApiError, blocking};
use crate::state::AppState;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, Query, State};
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router, routing::get, routing::post};
use niji_core::{Role, SecretString};
use niji_store::{Account, Application, ApplicationForm, Conditions, Decision, Grant, Item};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;

/// The API's routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/auth/login",
            post(login).layer(DefaultBodyLimit::max(crate::signin::MAX_BODY)),
        )
        .route(
            "/api/v1/auth/password",
            post(change_password).layer(DefaultBodyLimit::max(crate::signin::MAX_BODY)),
        )
        .route("/api/v1/auth/logout", post(logout))
        .route("/api/v1/tokens", get(list_tokens).post(create_token))
        .route("/api/v1/tokens/{token_id}/revoke", post(revoke_token))
        .route(
            "/api/v1/applications",
            get(list_applications).post(create_application),
        )
        .route(
            "/api/v1/applications/{id}",
            get(get_application).put(update_application),
        )
        .route("/api/v1/applications/{id}/submit", post(submit))
        .route("/api/v1/applications/{id}/withdraw", post(withdraw))
        .route("/api/v1/applications/{id}/reviews", post(review))
        .route("/api/v1/reviews/queue", get(queue))
        .route("/api/v1/projects", get(list_projects))
        .route("/api/v1/projects/{id}", get(get_project))
        .route("/api/v1/grants/{id}/revoke", post(revoke))
        .route("/api/v1/register", get(register))
        .route("/api/v1/register/{project}/activity", get(activity))
        .route("/api/openapi.json", get(openapi))
}

/// The API described as OpenAPI 3.1, generated from the handlers.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "niji governance API",
        description = "Applications, reviews, grants and the public register; the purpose-gated analysis API (SQL, DP, jobs, airlock); the access log and the citizen portal"
    ),
    paths(
        login,
        logout,
        change_password,
        create_token,
        list_tokens,
        revoke_token,
        list_applications,
        create_application,
        get_application,
        update_application,
        submit,
        withdraw,
        review,
        queue,
        list_projects,
        get_project,
        revoke,
        register,
        activity,
        crate::admin::list_accounts,
        crate::admin::create_account,
        crate::admin::disable_account,
        crate::admin::list_organizations,
        crate::admin::create_organization,
        crate::admin::certify,
        crate::analysis::query,
        crate::analysis::tables,
        crate::analysis::fetch_result,
        crate::analysis::airlock_queue,
        crate::analysis::airlock_item,
        crate::analysis::airlock_review,
        crate::dp::dp_query,
        crate::dp::budget,
        crate::models::model,
        crate::dummy::all,
        crate::dummy::one,
        crate::jobs::status,
        crate::jobs::result,
        crate::jobs::cancel,
        crate::log::checkpoint,
        crate::log::key,
        crate::log::inclusion,
        crate::log::consistency,
        crate::citizen::issue_code,
        crate::citizen::enrol,
        crate::citizen::accesses,
        crate::citizen::summary,
        crate::citizen::receipt,
        crate::citizen::opt_out,
        crate::citizen::refuse,
        crate::citizen::withdraw
    )
)]
pub struct ApiDoc;

async fn openapi() -> Response {
    use utoipa::OpenApi;
    match ApiDoc::openapi().to_json() {
        Ok(json) => (
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            json,
        )
            .into_response(),
        Err(e) => ApiError::Internal(e.to_string()).into_response(),
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
struct Login {
    name: String,
    password: String,
}

#[derive(Serialize, utoipa::ToSchema)]
struct LoggedIn {
    name: String,
    role: &'static str,
    /// Send back as `X-CSRF-Token` on every change.
    csrf: String,
}

#[utoipa::path(post, path = "/api/v1/auth/login", request_body = Login, responses((status = 200, description = "Logged in; sets the session cookie", body = LoggedIn), (status = 401, description = "Wrong account or password"), (status = 429, description = "Too many failed logins")))]
async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Json(body): Json<Login>,
) -> Result<Response, ApiError> {
    let password = SecretString::new(body.password);
    let account = crate::signin::authenticate(&state, body.name, password, peer, &headers).await?;
    let (id, csrf) = crate::caller::open_session(&state, &account.name).await?;
    let cookie = session_cookie(&id, state.secure_cookies() || forwarded_tls(&headers));
    let body = LoggedIn {
        name: account.name,
        role: account.role.as_str(),
        csrf,
    };
    Ok(([(SET_COOKIE, cookie)], Json(body)).into_response())
}

/// Whether a TLS-terminating proxy says the browser came over HTTPS. The
/// header is the client's to forge, but it can only add `Secure` to a
/// cookie, which never weakens it.
pub(crate) fn forwarded_tls(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

/// The session cookie: HttpOnly (no script reads it), SameSite=Strict (no
/// other site's page sends it), Secure when the browser reached us over TLS.
pub(crate) fn session_cookie(id: &str, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{SESSION_COOKIE}={id}; HttpOnly; SameSite=Strict; Path=/{secure}")
}

#[utoipa::path(post, path = "/api/v1/auth/logout", responses((status = 204, description = "Logged out")))]
async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    _caller: Caller,
) -> Result<StatusCode, ApiError> {
    if let Some(id) = crate::caller::session_id(&headers) {
        crate::caller::close_session(&state, &id).await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, utoipa::ToSchema)]
struct PasswordChange {
    current: String,
    new: String,
}

#[utoipa::path(post, path = "/api/v1/auth/password", request_body = PasswordChange, responses((status = 204, description = "Changed; the account's other sessions are ended"), (status = 401, description = "The current password is wrong"), (status = 422, description = "The new password does not meet the rules"), (status = 429, description = "Too many wrong passwords")))]
async fn change_password(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    caller: Caller,
    Json(body): Json<PasswordChange>,
) -> Result<StatusCode, ApiError> {
    session_only(&caller)?;
    let current = SecretString::new(body.current);
    let new = SecretString::new(body.new);
    let name = caller.account.name.clone();
    let account = crate::signin::check_password(&state, name, current, peer, &headers).await?;
    let inner = state.inner();
    let changed = account.clone();
    blocking(move || Ok(inner.store()?.change_password(&changed, &new)?)).await?;
    let keep = crate::caller::session_id(&headers);
    crate::caller::close_sessions_of(&state, &account.name, keep.as_deref()).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) fn session_only(caller: &Caller) -> Result<(), ApiError> {
    match caller.project {
        None => Ok(()),
        Some(_) => Err(ApiError::Forbidden(
            "an API token reaches its project's data only".into(),
        )),
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
struct NewToken {
    project: i64,
    expires: String,
}

#[derive(Serialize, utoipa::ToSchema)]
struct TokenView {
    token_id: String,
    project: i64,
    expires: String,
    /// Shown once.
    token: String,
}

#[utoipa::path(post, path = "/api/v1/tokens", request_body = NewToken, responses((status = 201, description = "The token, shown once", body = TokenView), (status = 403, description = "Not a member of the project")))]
async fn create_token(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<NewToken>,
) -> Result<Response, ApiError> {
    session_only(&caller)?;
    let inner = state.inner();
    let (token, secret) = blocking(move || {
        Ok(inner
            .store()?
            .create_api_token(&caller.account, body.project, &body.expires)?)
    })
    .await?;
    let view = TokenView {
        token_id: token.token_id,
        project: token.grant_id,
        expires: token.expires,
        token: secret.expose().to_owned(),
    };
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

/// A token's record; the secret is never shown again.
#[derive(Serialize, utoipa::ToSchema)]
struct TokenRecord {
    token_id: String,
    project: i64,
    expires: String,
    revoked_at: Option<String>,
}

impl From<niji_store::ApiToken> for TokenRecord {
    fn from(t: niji_store::ApiToken) -> Self {
        TokenRecord {
            token_id: t.token_id,
            project: t.grant_id,
            expires: t.expires,
            revoked_at: t.revoked_at,
        }
    }
}

#[utoipa::path(get, path = "/api/v1/tokens", responses((status = 200, description = "The caller's tokens, without secrets", body = Vec<TokenRecord>)))]
async fn list_tokens(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<TokenRecord>>, ApiError> {
    session_only(&caller)?;
    let inner = state.inner();
    let tokens = blocking(move || Ok(inner.store()?.api_tokens_of(&caller.account.name)?)).await?;
    Ok(Json(tokens.into_iter().map(Into::into).collect()))
}

#[utoipa::path(post, path = "/api/v1/tokens/{token_id}/revoke", params(("token_id" = String, Path, description = "Token id (tok-…)")), responses((status = 200, description = "Revoked; refused from the next request on", body = TokenRecord), (status = 403, description = "Another account's token"), (status = 404, description = "No such token")))]
async fn revoke_token(
    State(state): State<AppState>,
    caller: Caller,
    Path(token_id): Path<String>,
) -> Result<Json<TokenRecord>, ApiError> {
    session_only(&caller)?;
    let inner = state.inner();
    let token = blocking(move || {
        Ok(inner
            .store()?
            .revoke_api_token(&caller.account, &token_id)?)
    })
    .await?;
    Ok(Json(token.into()))
}

#[derive(Serialize, Deserialize, utoipa::ToSchema)]
struct ItemView {
    release: String,
    table: String,
    column: String,
}

impl From<&Item> for ItemView {
    fn from(i: &Item) -> Self {
        ItemView {
            release: i.release.clone(),
            table: i.table.clone(),
            column: i.column.clone(),
        }
    }
}

impl From<ItemView> for Item {
    fn from(i: ItemView) -> Self {
        Item {
            release: i.release,
            table: i.table,
            column: i.column,
        }
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
struct FormBody {
    title: String,
    purpose: String,
    lay_summary: String,
    #[serde(default)]
    members: Vec<String>,
    items: Vec<ItemView>,
    tier: String,
    starts: String,
    ends: String,
}

impl From<FormBody> for ApplicationForm {
    fn from(f: FormBody) -> Self {
        ApplicationForm {
            title: f.title,
            purpose: f.purpose,
            lay_summary: f.lay_summary,
            members: f.members,
            items: f.items.into_iter().map(Into::into).collect(),
            tier: f.tier,
            starts: f.starts,
            ends: f.ends,
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
struct ApplicationView {
    id: i64,
    applicant: String,
    organization: String,
    status: String,
    round: i32,
    title: String,
    purpose: String,
    lay_summary: String,
    members: Vec<String>,
    items: Vec<ItemView>,
    tier: String,
    starts: String,
    ends: String,
}

impl From<Application> for ApplicationView {
    fn from(a: Application) -> Self {
        ApplicationView {
            id: a.id,
            applicant: a.applicant,
            organization: a.organization,
            status: a.status,
            round: a.round,
            items: a.form.items.iter().map(Into::into).collect(),
            title: a.form.title,
            purpose: a.form.purpose,
            lay_summary: a.form.lay_summary,
            members: a.form.members,
            tier: a.form.tier,
            starts: a.form.starts,
            ends: a.form.ends,
        }
    }
}

#[utoipa::path(get, path = "/api/v1/applications", responses((status = 200, description = "Applications the caller may read", body = Vec<ApplicationView>)))]
async fn list_applications(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<ApplicationView>>, ApiError> {
    session_only(&caller)?;
    let inner = state.inner();
    let apps = blocking(move || Ok(inner.store()?.applications_for(&caller.account)?)).await?;
    Ok(Json(apps.into_iter().map(Into::into).collect()))
}

#[utoipa::path(post, path = "/api/v1/applications", request_body = FormBody, responses((status = 201, description = "A draft", body = ApplicationView)))]
async fn create_application(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<FormBody>,
) -> Result<Response, ApiError> {
    session_only(&caller)?;
    let inner = state.inner();
    let app = blocking(move || {
        Ok(inner
            .store()?
            .create_application(&caller.account, &body.into())?)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(ApplicationView::from(app))).into_response())
}

/// An application the caller may read; another's is "not found", so its
/// existence is not told either.
pub(crate) fn visible(
    store: &niji_store::Store,
    who: &Account,
    id: i64,
) -> Result<Application, ApiError> {
    let app = store
        .application(id)
        .map_err(|_| ApiError::NotFound(format!("no application {id}")))?;
    if store.may_see_application(who, &app)? {
        Ok(app)
    } else {
        Err(ApiError::NotFound(format!("no application {id}")))
    }
}

/// Acts on an application the caller can see (another's is "not found")
/// as the store's `act` says, from a session only.
async fn own(
    state: &AppState,
    caller: Caller,
    id: i64,
    act: impl FnOnce(&niji_store::Store, &Account) -> Result<Application, niji_store::StoreError>
    + Send
    + 'static,
) -> Result<Json<ApplicationView>, ApiError> {
    session_only(&caller)?;
    let inner = state.inner();
    let app = blocking(move || {
        let store = inner.store()?;
        visible(&store, &caller.account, id)?;
        Ok(act(&store, &caller.account)?)
    })
    .await?;
    Ok(Json(app.into()))
}

#[utoipa::path(get, path = "/api/v1/applications/{id}", params(("id" = i64, Path, description = "Application id")), responses((status = 200, body = ApplicationView), (status = 404, description = "No such application visible to the caller")))]
async fn get_application(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<ApplicationView>, ApiError> {
    session_only(&caller)?;
    let inner = state.inner();
    let app = blocking(move || visible(&*inner.store()?, &caller.account, id)).await?;
    Ok(Json(app.into()))
}

#[utoipa::path(put, path = "/api/v1/applications/{id}", params(("id" = i64, Path, description = "Application id")), request_body = FormBody, responses((status = 200, body = ApplicationView)))]
async fn update_application(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    Json(body): Json<FormBody>,
) -> Result<Json<ApplicationView>, ApiError> {
    own(&state, caller, id, move |store, who| {
        store.update_application(who, id, &body.into())
    })
    .await
}

#[utoipa::path(post, path = "/api/v1/applications/{id}/submit", params(("id" = i64, Path, description = "Application id")), responses((status = 200, body = ApplicationView), (status = 422, description = "Refused, e.g. the pseudonymized tier from an uncertified organization")))]
async fn submit(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<ApplicationView>, ApiError> {
    own(&state, caller, id, move |store, who| {
        store.submit_application(who, id)
    })
    .await
}

#[utoipa::path(post, path = "/api/v1/applications/{id}/withdraw", params(("id" = i64, Path, description = "Application id")), responses((status = 200, body = ApplicationView)))]
async fn withdraw(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<ApplicationView>, ApiError> {
    own(&state, caller, id, move |store, who| {
        store.withdraw_application(who, id)
    })
    .await
}

#[derive(Deserialize, utoipa::ToSchema)]
struct ConditionsBody {
    items: Vec<ItemView>,
    rule_set: String,
    #[serde(default)]
    row_level: bool,
    /// Whether the project's public activity log shows its queries' text.
    #[serde(default)]
    publish_queries: bool,
    dp_rho: f64,
    expires: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
struct ReviewBody {
    decision: String,
    #[serde(default)]
    comment: String,
    conditions: Option<ConditionsBody>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct ReviewView {
    status: String,
    approvals: usize,
    project: Option<ProjectView>,
}

#[utoipa::path(post, path = "/api/v1/applications/{id}/reviews", params(("id" = i64, Path, description = "Application id")), request_body = ReviewBody, responses((status = 200, body = ReviewView), (status = 403, description = "Conflict of interest, self-review or not a reviewer")))]
async fn review(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    Json(body): Json<ReviewBody>,
) -> Result<Json<ReviewView>, ApiError> {
    session_only(&caller)?;
    let decision = match body.decision.as_str() {
        "approve" => Decision::Approve,
        "reject" => Decision::Reject,
        "changes" => Decision::Changes,
        other => {
            return Err(ApiError::Unprocessable(format!(
                "decision `{other}`: approve, reject or changes"
            )));
        }
    };
    if let Some(c) = &body.conditions {
        crate::analysis::known_rule_set(&c.rule_set)?;
    }
    let conditions = body.conditions.map(|c| Conditions {
        items: c.items.into_iter().map(Into::into).collect(),
        rule_set: c.rule_set,
        row_level: c.row_level,
        publish_queries: c.publish_queries,
        dp_rho: c.dp_rho,
        expires: c.expires,
    });
    let quorum = state.quorum();
    let inner = state.inner();
    let outcome = blocking(move || {
        let store = inner.store()?;
        // A reviewer learns why not (a conflict of interest, say); anyone
        // else learns no more than that there is no such application.
        if caller.account.role != Role::Reviewer {
            visible(&store, &caller.account, id)?;
        }
        Ok(store.review_application(
            &caller.account,
            id,
            decision,
            &body.comment,
            conditions.as_ref(),
            quorum,
        )?)
    })
    .await?;
    Ok(Json(ReviewView {
        status: outcome.status,
        approvals: outcome.approvals,
        project: outcome.grant.map(Into::into),
    }))
}

#[utoipa::path(get, path = "/api/v1/reviews/queue", responses((status = 200, description = "Applications the reviewer may review", body = Vec<ApplicationView>)))]
async fn queue(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<ApplicationView>>, ApiError> {
    session_only(&caller)?;
    let inner = state.inner();
    let apps = blocking(move || Ok(inner.store()?.review_queue(&caller.account)?)).await?;
    Ok(Json(apps.into_iter().map(Into::into).collect()))
}

#[derive(Serialize, utoipa::ToSchema)]
struct ProjectView {
    id: i64,
    application: i64,
    items: Vec<ItemView>,
    rule_set: String,
    row_level: bool,
    publish_queries: bool,
    dp_rho: f64,
    expires: String,
    revoked_at: Option<String>,
    active: bool,
}

impl From<Grant> for ProjectView {
    fn from(g: Grant) -> Self {
        ProjectView {
            id: g.id,
            application: g.application_id,
            items: g.conditions.items.iter().map(Into::into).collect(),
            rule_set: g.conditions.rule_set,
            row_level: g.conditions.row_level,
            publish_queries: g.conditions.publish_queries,
            dp_rho: g.conditions.dp_rho,
            expires: g.conditions.expires,
            revoked_at: g.revoked_at,
            active: g.active,
        }
    }
}

#[utoipa::path(get, path = "/api/v1/projects", responses((status = 200, description = "The caller's projects", body = Vec<ProjectView>)))]
async fn list_projects(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<ProjectView>>, ApiError> {
    let inner = state.inner();
    let grants = blocking(move || {
        let mut grants = inner.store()?.projects_of(&caller.account)?;
        // A token sees its own project only.
        if let Some(p) = caller.project {
            grants.retain(|g| g.id == p);
        }
        Ok(grants)
    })
    .await?;
    Ok(Json(grants.into_iter().map(Into::into).collect()))
}

#[utoipa::path(get, path = "/api/v1/projects/{id}", params(("id" = i64, Path, description = "Project (grant) id")), responses((status = 200, body = ProjectView), (status = 404, description = "No such project visible to the caller")))]
async fn get_project(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<ProjectView>, ApiError> {
    let inner = state.inner();
    let grant =
        blocking(move || project_for(&*inner.store()?, &caller.account, caller.project, id))
            .await?;
    Ok(Json(grant.into()))
}

/// A project (grant) the caller may read: its members', and the review
/// board's and admins' from a session. Another's is "not found"; a token
/// reaches its own project only.
pub(crate) fn project_for(
    store: &niji_store::Store,
    who: &Account,
    token_project: Option<i64>,
    id: i64,
) -> Result<Grant, ApiError> {
    let not_found = || ApiError::NotFound(format!("no project {id}"));
    if let Some(scope) = token_project.filter(|&p| p != id) {
        return Err(ApiError::Forbidden(format!(
            "this token is scoped to project {scope}"
        )));
    }
    let member = store.is_project_member(who, id).map_err(|_| not_found())?;
    let board = matches!(who.role, Role::Reviewer | Role::Admin) && token_project.is_none();
    if !(member || board) {
        return Err(not_found());
    }
    Ok(store.grant(id)?)
}

#[derive(Deserialize, utoipa::ToSchema)]
struct RevokeBody {
    #[serde(default)]
    reason: String,
}

/// A grant after a request for its revocation.
#[derive(Serialize, utoipa::ToSchema)]
struct RevocationView {
    #[serde(flatten)]
    project: ProjectView,
    /// Reviewers who have asked for the revocation (0 when an admin
    /// revoked it).
    revocation_requests: usize,
    /// Reviewers a revocation needs (0 when an admin revoked it).
    revocation_needs: usize,
}

#[utoipa::path(post, path = "/api/v1/grants/{id}/revoke", params(("id" = i64, Path, description = "Grant id")), request_body = RevokeBody, responses((status = 200, description = "Revoked by an admin or by the board's quorum, or a reviewer's request recorded", body = RevocationView), (status = 403, description = "Not on the board, or in conflict with the project"), (status = 422, description = "No reasons, already revoked, or asked already")))]
async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    Json(body): Json<RevokeBody>,
) -> Result<Json<RevocationView>, ApiError> {
    session_only(&caller)?;
    let quorum = state.quorum();
    let inner = state.inner();
    let revocation = blocking(move || {
        Ok(inner
            .store()?
            .revoke_grant(&caller.account, id, &body.reason, quorum)?)
    })
    .await?;
    Ok(Json(RevocationView {
        project: revocation.grant.into(),
        revocation_requests: revocation.asked,
        revocation_needs: revocation.needed,
    }))
}

#[derive(Serialize, utoipa::ToSchema)]
struct RegisterView {
    /// The project's id (its activity log is `/api/v1/register/{project}/activity`).
    project: i64,
    title: String,
    organization: String,
    purpose: String,
    lay_summary: String,
    starts: String,
    ends: String,
    releases: Vec<String>,
    active: bool,
}

#[utoipa::path(get, path = "/api/v1/register", responses((status = 200, description = "Approved projects", body = Vec<RegisterView>)))]
async fn register(State(state): State<AppState>) -> Result<Json<Vec<RegisterView>>, ApiError> {
    let inner = state.inner();
    let entries = blocking(move || Ok(inner.store()?.register()?)).await?;
    Ok(Json(
        entries
            .into_iter()
            .map(|e| RegisterView {
                project: e.project,
                title: e.title,
                organization: e.organization,
                purpose: e.purpose,
                lay_summary: e.lay_summary,
                starts: e.starts,
                ends: e.ends,
                releases: e.releases,
                active: e.active,
            })
            .collect(),
    ))
}

/// One analysis request of a project, as the public sees it.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ActivityView {
    /// When (UTC).
    pub at: String,
    /// `sql`, `dp` or `model`.
    pub kind: String,
    /// The output rule set (SQL requests and models).
    pub rule_set: Option<String>,
    /// `released`, `suppressed` (released with cells suppressed),
    /// `in_review` or `refused`.
    pub status: String,
    /// The privacy budget spent (zCDP ρ).
    pub rho: f64,
    /// The query, where the project's terms publish it.
    pub query: Option<String>,
}

/// A page of a project's public activity log.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ActivityPageView {
    pub project: i64,
    /// The project's title.
    pub title: String,
    /// Whether the project's terms publish its queries' text.
    pub publishes_queries: bool,
    /// Newest first.
    pub requests: Vec<ActivityView>,
    /// `before` of the next (older) page.
    pub next_before: Option<i64>,
}

/// Paging of a project's activity.
#[derive(Deserialize, utoipa::IntoParams)]
pub(crate) struct ActivityPaging {
    /// Requests older than this one.
    pub before: Option<i64>,
}

/// A page of project `project`'s activity, newest first (50 requests).
pub(crate) async fn activity_of(
    state: &AppState,
    project: i64,
    before: Option<i64>,
) -> Result<ActivityPageView, ApiError> {
    let inner = state.inner();
    let page = blocking(move || Ok(inner.store()?.activity(project, before, 50)?)).await?;
    Ok(ActivityPageView {
        project,
        title: page.title,
        publishes_queries: page.publishes_queries,
        requests: page
            .requests
            .into_iter()
            .map(|a| ActivityView {
                at: a.at,
                kind: a.kind.to_owned(),
                rule_set: a.rule_set,
                status: a.status.as_str().to_owned(),
                rho: a.rho,
                query: a.query,
            })
            .collect(),
        next_before: page.next_before,
    })
}

#[utoipa::path(get, path = "/api/v1/register/{project}/activity", params(("project" = i64, Path, description = "The project's id, as the register gives it"), ActivityPaging), responses((status = 200, body = ActivityPageView), (status = 404, description = "No such project")))]
async fn activity(
    State(state): State<AppState>,
    Path(project): Path<i64>,
    Query(paging): Query<ActivityPaging>,
) -> Result<Json<ActivityPageView>, ApiError> {
    Ok(Json(activity_of(&state, project, paging.before).await?))
}
