//! The page handlers and their templates. Each page takes a [`Viewer`]
//! (or a [`Posted`] form) unless it is public; the store's rules decide
//! the rest, as for the API.

use super::{
    AdminPosted, AdminViewer, BoardViewer, Catalogue, Lang, MaybeViewer, Nav, PageError, Posted,
    Viewer, render, see_other,
};
use crate::admin::{AccountView, NewAccount, OrganizationView};
use crate::api::{forwarded_tls, project_for, session_cookie, visible};
use crate::caller::{cookie, random_hex};
use crate::problem::{ApiError, blocking};
use crate::signin::authenticate;
use crate::state::AppState;
use askama::Template;
use axum::extract::{ConnectInfo, Form, Path, Query, State};
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Router, routing::get, routing::post};
use niji_core::{Role, SecretString};
use niji_store::{
    Actor, Application, ApplicationForm, Conditions, Decision, Grant, Item, Purpose, RegisterEntry,
    Review, Store,
};
use serde::Deserialize;
use std::net::SocketAddr;

/// The login form's double-submit cookie: before a session exists, the
/// form's token must match this cookie, which another site cannot set.
const LOGIN_COOKIE: &str = "niji_login";

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/niji.css", get(stylesheet))
        .route(
            "/login",
            get(login_page)
                .post(login)
                .layer(axum::extract::DefaultBodyLimit::max(
                    crate::signin::MAX_BODY,
                )),
        )
        .route("/logout", post(logout))
        .route("/applications", get(applications))
        .route(
            "/applications/new",
            get(new_application).post(create_application),
        )
        .route("/applications/{id}", get(application))
        .route(
            "/applications/{id}/edit",
            get(edit_application).post(update_application),
        )
        .route("/applications/{id}/submit", post(submit))
        .route("/applications/{id}/withdraw", post(withdraw))
        .route("/reviews", get(queue))
        .route("/reviews/{id}", get(review_page).post(review))
        .route("/airlock", get(airlock_queue))
        .route("/airlock/{id}", get(airlock_page).post(airlock_decide))
        .route("/projects/{id}", get(project))
        .route("/projects/{id}/revoke", post(revoke))
        .route("/projects/{id}/tokens", post(create_token))
        .route(
            "/projects/{id}/tokens/{token_id}/revoke",
            post(revoke_token),
        )
        .route("/admin/accounts", get(admin_accounts).post(add_account))
        .route(
            "/admin/organizations",
            get(admin_organizations).post(add_organization),
        )
        .route("/admin/organizations/certification", post(certify))
        .route("/register", get(register))
        .route("/register/{project}/activity", get(activity))
}

impl Catalogue {
    /// The string for one value of a kind (`status.draft`, `role.admin`).
    pub fn of(&self, kind: &str, value: &str) -> String {
        let key = format!("{kind}.{value}");
        self.s(&key).to_owned()
    }
}

fn set_cookie(response: &mut Response, cookie: &str) {
    if let Ok(value) = HeaderValue::from_str(cookie) {
        response.headers_mut().append(SET_COOKIE, value);
    }
}

// ---------------------------------------------------------------- home

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    t: &'static Catalogue,
    nav: Nav,
}

async fn home(lang: Lang, MaybeViewer(viewer): MaybeViewer) -> Result<Response, PageError> {
    let landing = viewer.as_ref().and_then(|v| match v.account.role {
        Role::Researcher => Some("/applications"),
        Role::Reviewer => Some("/reviews"),
        Role::Admin => Some("/admin/accounts"),
        Role::Citizen => None,
    });
    if let Some(path) = landing {
        return Ok(see_other(path));
    }
    render(&HomePage {
        t: lang.catalogue(),
        nav: Nav::new(lang, viewer.as_ref()),
    })
}

// ---------------------------------------------------------------- login

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    t: &'static Catalogue,
    nav: Nav,
    csrf: String,
    name: String,
    error: Option<&'static str>,
    /// Whether citizens may sign in with the My Number Card.
    card: bool,
}

/// The login page, with a fresh double-submit token.
fn login_form(
    state: &AppState,
    lang: Lang,
    status: StatusCode,
    name: String,
    error: Option<&'static str>,
) -> Result<Response, PageError> {
    let csrf = random_hex(16)?;
    let mut response = render(&LoginPage {
        t: lang.catalogue(),
        nav: Nav::new(lang, None),
        csrf: csrf.clone(),
        name,
        error,
        card: state.card().is_some(),
    })?;
    *response.status_mut() = status;
    set_cookie(
        &mut response,
        &format!("{LOGIN_COOKIE}={csrf}; HttpOnly; SameSite=Strict; Path=/login"),
    );
    Ok(response)
}

async fn login_page(
    State(state): State<AppState>,
    lang: Lang,
    MaybeViewer(viewer): MaybeViewer,
) -> Result<Response, PageError> {
    if viewer.is_some() {
        return Ok(see_other("/"));
    }
    login_form(&state, lang, StatusCode::OK, String::new(), None)
}

#[derive(Deserialize)]
struct LoginFields {
    name: String,
    password: String,
    #[serde(default)]
    csrf: String,
}

/// The pages' stylesheet: the only thing a page loads
/// ([`crate::headers::POLICY`]); the same for everyone, so it may be kept.
async fn stylesheet() -> Response {
    (
        [
            (axum::http::header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (axum::http::header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../templates/niji.css"),
    )
        .into_response()
}

async fn login(
    State(state): State<AppState>,
    lang: Lang,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(fields): Form<LoginFields>,
) -> Result<Response, PageError> {
    let expected = cookie(&headers, LOGIN_COOKIE);
    if fields.csrf.is_empty() || expected.as_deref() != Some(fields.csrf.as_str()) {
        return login_form(
            &state,
            lang,
            StatusCode::FORBIDDEN,
            fields.name,
            Some("login.stale"),
        );
    }
    let name = fields.name.clone();
    let password = SecretString::new(fields.password);
    let account = match authenticate(&state, fields.name, password, peer, &headers).await {
        Ok(account) => account,
        Err(ApiError::Unauthenticated) => {
            return login_form(
                &state,
                lang,
                StatusCode::UNAUTHORIZED,
                name,
                Some("login.wrong"),
            );
        }
        Err(ApiError::TooMany(_)) => {
            return login_form(
                &state,
                lang,
                StatusCode::TOO_MANY_REQUESTS,
                name,
                Some("login.throttled"),
            );
        }
        Err(other) => return Err(other.into()),
    };
    let (id, _csrf) = crate::caller::open_session(&state, &account.name).await?;
    let mut response = see_other("/");
    let secure = state.secure_cookies() || forwarded_tls(&headers);
    set_cookie(&mut response, &session_cookie(&id, secure));
    set_cookie(
        &mut response,
        &format!("{LOGIN_COOKIE}=; Max-Age=0; Path=/login"),
    );
    Ok(response)
}

#[derive(Deserialize)]
struct Empty {}

async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    _posted: Posted<Empty>,
) -> Result<Response, PageError> {
    if let Some(id) = crate::caller::session_id(&headers) {
        crate::caller::close_session(&state, &id).await?;
    }
    let mut response = see_other("/login");
    set_cookie(
        &mut response,
        &format!("{}=; Max-Age=0; Path=/", crate::caller::SESSION_COOKIE),
    );
    Ok(response)
}

// ---------------------------------------------------------------- applications

/// A project in a list: its grant and the application's title.
struct ProjectRow {
    grant: Grant,
    title: String,
}

fn project_rows(store: &Store, grants: Vec<Grant>) -> Result<Vec<ProjectRow>, ApiError> {
    grants
        .into_iter()
        .map(|grant| {
            let title = store.application(grant.application_id)?.form.title;
            Ok(ProjectRow { grant, title })
        })
        .collect()
}

#[derive(Template)]
#[template(path = "applications.html")]
struct ApplicationsPage {
    t: &'static Catalogue,
    nav: Nav,
    applications: Vec<Application>,
    projects: Vec<ProjectRow>,
}

async fn applications(
    State(state): State<AppState>,
    lang: Lang,
    viewer: Viewer,
) -> Result<Response, PageError> {
    let inner = state.inner();
    let account = viewer.account.clone();
    let (applications, projects) = blocking(move || {
        let store = inner.store()?;
        let apps = store.applications_for(&account)?;
        let grants = store.projects_of(&account)?;
        Ok((apps, project_rows(&store, grants)?))
    })
    .await?;
    render(&ApplicationsPage {
        t: lang.catalogue(),
        nav: Nav::new(lang, Some(&viewer)),
        applications,
        projects,
    })
}

/// The application form's fields as typed: members and items one per line.
#[derive(Deserialize, Default)]
struct ApplicationFields {
    #[serde(default)]
    title: String,
    #[serde(default)]
    purpose: String,
    #[serde(default)]
    lay_summary: String,
    #[serde(default)]
    members: String,
    #[serde(default)]
    items: String,
    #[serde(default)]
    tier: String,
    #[serde(default)]
    starts: String,
    #[serde(default)]
    ends: String,
}

/// Items one per line as `release.table.column` (the release name may
/// itself hold dots; table and column do not).
fn parse_items(text: &str) -> Result<Vec<Item>, ApiError> {
    let mut items = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let mut parts = line.rsplitn(3, '.');
        match (parts.next(), parts.next(), parts.next()) {
            (Some(column), Some(table), Some(release))
                if !column.is_empty() && !table.is_empty() && !release.is_empty() =>
            {
                items.push(Item {
                    release: release.to_owned(),
                    table: table.to_owned(),
                    column: column.to_owned(),
                });
            }
            _ => {
                return Err(ApiError::Unprocessable(format!(
                    "data requested, line {}: expected release.table.column",
                    n + 1
                )));
            }
        }
    }
    Ok(items)
}

fn format_items(items: &[Item]) -> String {
    items
        .iter()
        .map(|i| format!("{}.{}.{}\n", i.release, i.table, i.column))
        .collect()
}

impl ApplicationFields {
    fn of(form: &ApplicationForm) -> Self {
        ApplicationFields {
            title: form.title.clone(),
            purpose: form.purpose.clone(),
            lay_summary: form.lay_summary.clone(),
            members: form.members.join("\n"),
            items: format_items(&form.items),
            tier: form.tier.clone(),
            starts: form.starts.clone(),
            ends: form.ends.clone(),
        }
    }

    fn parse(&self) -> Result<ApplicationForm, ApiError> {
        Ok(ApplicationForm {
            title: self.title.trim().to_owned(),
            purpose: self.purpose.clone(),
            lay_summary: self.lay_summary.trim().to_owned(),
            members: self
                .members
                .split(|c: char| c == '\n' || c == ',' || c.is_whitespace())
                .filter(|m| !m.is_empty())
                .map(str::to_owned)
                .collect(),
            items: parse_items(&self.items)?,
            tier: self.tier.clone(),
            starts: self.starts.clone(),
            ends: self.ends.clone(),
        })
    }
}

#[derive(Template)]
#[template(path = "application_form.html")]
struct ApplicationFormPage {
    t: &'static Catalogue,
    nav: Nav,
    /// Where the form posts.
    action: String,
    heading: &'static str,
    fields: ApplicationFields,
    purposes: &'static [Purpose],
    error: Option<String>,
}

fn form_page(
    lang: Lang,
    viewer: &Viewer,
    action: String,
    heading: &'static str,
    fields: ApplicationFields,
    error: Option<String>,
) -> Result<Response, PageError> {
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let mut response = render(&ApplicationFormPage {
        t: lang.catalogue(),
        nav: Nav::new(lang, Some(viewer)),
        action,
        heading,
        fields,
        purposes: niji_store::governance::purposes(),
        error,
    })?;
    *response.status_mut() = status;
    Ok(response)
}

async fn new_application(lang: Lang, viewer: Viewer) -> Result<Response, PageError> {
    form_page(
        lang,
        &viewer,
        "/applications/new".into(),
        "form.new",
        ApplicationFields::default(),
        None,
    )
}

/// Saves a form with `save`; a refusal shows the form again with what was
/// typed, so nothing is lost.
async fn save_form(
    state: &AppState,
    lang: Lang,
    Posted { viewer, form }: Posted<ApplicationFields>,
    action: String,
    heading: &'static str,
    save: impl FnOnce(&Store, &niji_store::Account, &ApplicationForm) -> Result<Application, ApiError>
    + Send
    + 'static,
) -> Result<Response, PageError> {
    let parsed = match form.parse() {
        Ok(parsed) => parsed,
        Err(e) => return form_page(lang, &viewer, action, heading, form, Some(e.to_string())),
    };
    let inner = state.inner();
    let account = viewer.account.clone();
    let saved = blocking(move || save(&*inner.store()?, &account, &parsed)).await;
    match saved {
        Ok(app) => Ok(see_other(&format!("/applications/{}", app.id))),
        Err(ApiError::Unprocessable(reason)) => {
            form_page(lang, &viewer, action, heading, form, Some(reason))
        }
        Err(other) => Err(other.into()),
    }
}

async fn create_application(
    State(state): State<AppState>,
    lang: Lang,
    posted: Posted<ApplicationFields>,
) -> Result<Response, PageError> {
    let action = "/applications/new".to_owned();
    save_form(
        &state,
        lang,
        posted,
        action,
        "form.new",
        |store, who, form| Ok(store.create_application(who, form)?),
    )
    .await
}

async fn edit_application(
    State(state): State<AppState>,
    lang: Lang,
    viewer: Viewer,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    let inner = state.inner();
    let account = viewer.account.clone();
    let app = blocking(move || visible(&*inner.store()?, &account, id)).await?;
    form_page(
        lang,
        &viewer,
        format!("/applications/{id}/edit"),
        "form.edit",
        ApplicationFields::of(&app.form),
        None,
    )
}

async fn update_application(
    State(state): State<AppState>,
    lang: Lang,
    Path(id): Path<i64>,
    posted: Posted<ApplicationFields>,
) -> Result<Response, PageError> {
    let action = format!("/applications/{id}/edit");
    save_form(
        &state,
        lang,
        posted,
        action,
        "form.edit",
        move |store, who, form| {
            visible(store, who, id)?;
            Ok(store.update_application(who, id, form)?)
        },
    )
    .await
}

#[derive(Template)]
#[template(path = "application.html")]
struct ApplicationPage {
    t: &'static Catalogue,
    nav: Nav,
    app: Application,
    reviews: Vec<Review>,
    /// The review board sees who reviewed; the applicant sees the reasons.
    board: bool,
    own: bool,
}

async fn application(
    State(state): State<AppState>,
    lang: Lang,
    viewer: Viewer,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    let inner = state.inner();
    let account = viewer.account.clone();
    let (app, reviews) = blocking(move || {
        let store = inner.store()?;
        let app = visible(&store, &account, id)?;
        Ok((app, store.reviews_of(id)?))
    })
    .await?;
    render(&ApplicationPage {
        t: lang.catalogue(),
        own: app.applicant == viewer.account.name,
        board: matches!(viewer.account.role, Role::Reviewer | Role::Admin),
        nav: Nav::new(lang, Some(&viewer)),
        app,
        reviews,
    })
}

/// Submits or withdraws, then shows the application.
async fn act(
    state: &AppState,
    viewer: Viewer,
    id: i64,
    act: impl FnOnce(&Store, &niji_store::Account) -> Result<Application, niji_store::StoreError>
    + Send
    + 'static,
) -> Result<Response, PageError> {
    let inner = state.inner();
    blocking(move || {
        let store = inner.store()?;
        visible(&store, &viewer.account, id)?;
        Ok(act(&store, &viewer.account)?)
    })
    .await?;
    Ok(see_other(&format!("/applications/{id}")))
}

async fn submit(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Posted { viewer, .. }: Posted<Empty>,
) -> Result<Response, PageError> {
    act(&state, viewer, id, move |store, who| {
        store.submit_application(who, id)
    })
    .await
}

async fn withdraw(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Posted { viewer, .. }: Posted<Empty>,
) -> Result<Response, PageError> {
    act(&state, viewer, id, move |store, who| {
        store.withdraw_application(who, id)
    })
    .await
}

// ---------------------------------------------------------------- reviews

#[derive(Template)]
#[template(path = "queue.html")]
struct QueuePage {
    t: &'static Catalogue,
    nav: Nav,
    applications: Vec<Application>,
}

async fn queue(
    State(state): State<AppState>,
    lang: Lang,
    BoardViewer(viewer): BoardViewer,
) -> Result<Response, PageError> {
    let inner = state.inner();
    let account = viewer.account.clone();
    let applications = blocking(move || Ok(inner.store()?.review_queue(&account)?)).await?;
    render(&QueuePage {
        t: lang.catalogue(),
        nav: Nav::new(lang, Some(&viewer)),
        applications,
    })
}

#[derive(Template)]
#[template(path = "review.html")]
struct ReviewPage {
    t: &'static Catalogue,
    nav: Nav,
    app: Application,
    reviews: Vec<Review>,
    items: String,
    /// The rule sets a reviewer can name (`policies/disclosure-*.toml`).
    rule_sets: Vec<String>,
}

async fn review_page(
    State(state): State<AppState>,
    lang: Lang,
    // The review page names the reviewers: the board's only, never the
    // applicant's (who sees the reasons on the application).
    BoardViewer(viewer): BoardViewer,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    let inner = state.inner();
    let account = viewer.account.clone();
    let (app, reviews) = blocking(move || {
        let store = inner.store()?;
        let app = visible(&store, &account, id)?;
        Ok((app, store.reviews_of(id)?))
    })
    .await?;
    render(&ReviewPage {
        t: lang.catalogue(),
        nav: Nav::new(lang, Some(&viewer)),
        items: format_items(&app.form.items),
        app,
        reviews,
        rule_sets: crate::analysis::rule_set_names(),
    })
}

#[derive(Deserialize)]
struct ReviewFields {
    #[serde(default)]
    decision: String,
    #[serde(default)]
    comment: String,
    #[serde(default)]
    items: String,
    #[serde(default)]
    rule_set: String,
    /// A checkbox: present when ticked.
    #[serde(default)]
    row_level: Option<String>,
    /// A checkbox: present when ticked.
    #[serde(default)]
    publish_queries: Option<String>,
    #[serde(default)]
    dp_rho: String,
    #[serde(default)]
    expires: String,
}

impl ReviewFields {
    fn decision(&self) -> Result<(Decision, Option<Conditions>), ApiError> {
        let decision = match self.decision.as_str() {
            "approve" => Decision::Approve,
            "reject" => Decision::Reject,
            "changes" => Decision::Changes,
            _ => {
                return Err(ApiError::Unprocessable(
                    "choose a decision: approve, reject or ask for changes".into(),
                ));
            }
        };
        if decision != Decision::Approve {
            return Ok((decision, None));
        }
        let dp_rho = self.dp_rho.trim().parse::<f64>().map_err(|_| {
            ApiError::Unprocessable(format!("DP budget ρ `{}` is not a number", self.dp_rho))
        })?;
        let conditions = Conditions {
            items: parse_items(&self.items)?,
            rule_set: self.rule_set.clone(),
            row_level: self.row_level.is_some(),
            publish_queries: self.publish_queries.is_some(),
            dp_rho,
            expires: self.expires.clone(),
        };
        Ok((decision, Some(conditions)))
    }
}

async fn review(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Posted { viewer, form }: Posted<ReviewFields>,
) -> Result<Response, PageError> {
    let (decision, conditions) = form.decision()?;
    if let Some(c) = &conditions {
        crate::analysis::known_rule_set(&c.rule_set)?;
    }
    let quorum = state.quorum();
    let inner = state.inner();
    blocking(move || {
        let store = inner.store()?;
        visible(&store, &viewer.account, id)?;
        store.review_application(
            &viewer.account,
            id,
            decision,
            &form.comment,
            conditions.as_ref(),
            quorum,
        )?;
        Ok(())
    })
    .await?;
    Ok(see_other(&format!("/applications/{id}")))
}

// ---------------------------------------------------------------- airlock

#[derive(Template)]
#[template(path = "airlock_queue.html")]
struct AirlockQueuePage {
    t: &'static Catalogue,
    nav: Nav,
    held: Vec<niji_store::Held>,
}

async fn airlock_queue(
    State(state): State<AppState>,
    lang: Lang,
    viewer: Viewer,
) -> Result<Response, PageError> {
    let inner = state.inner();
    let account = viewer.account.clone();
    let held = blocking(move || Ok(inner.store()?.airlock_queue(&account)?)).await?;
    render(&AirlockQueuePage {
        t: lang.catalogue(),
        nav: Nav::new(lang, Some(&viewer)),
        held,
    })
}

/// A held result as a table to read: each cell's text and status.
struct HeldTable {
    columns: Vec<String>,
    rows: Vec<Vec<(String, String)>>,
}

impl HeldTable {
    /// From the result as it was held (the API's JSON form).
    fn parse(result: &str) -> HeldTable {
        let value: serde_json::Value = serde_json::from_str(result).unwrap_or_default();
        let texts = |v: &serde_json::Value| -> Vec<String> {
            v.as_array()
                .map(|a| {
                    a.iter()
                        .map(|c| match c {
                            serde_json::Value::String(s) => s.clone(),
                            serde_json::Value::Null => String::new(),
                            other => other.to_string(),
                        })
                        .collect()
                })
                .unwrap_or_default()
        };
        let cells: Vec<Vec<String>> = value["cells"]
            .as_array()
            .map(|rows| rows.iter().map(&texts).collect())
            .unwrap_or_default();
        let rows = value["rows"]
            .as_array()
            .map(|rows| {
                rows.iter()
                    .enumerate()
                    .map(|(r, row)| {
                        texts(row)
                            .into_iter()
                            .enumerate()
                            .map(|(c, text)| {
                                let status = cells
                                    .get(r)
                                    .and_then(|s| s.get(c))
                                    .cloned()
                                    .unwrap_or_else(|| "pass".into());
                                (text, status)
                            })
                            .collect()
                    })
                    .collect()
            })
            .unwrap_or_default();
        HeldTable {
            columns: texts(&value["columns"]),
            rows,
        }
    }
}

#[derive(Template)]
#[template(path = "airlock_item.html")]
struct AirlockPage {
    t: &'static Catalogue,
    nav: Nav,
    held: niji_store::Held,
    table: HeldTable,
    findings: Vec<String>,
    /// Whether the viewer may still decide.
    open: bool,
}

async fn airlock_page(
    State(state): State<AppState>,
    lang: Lang,
    viewer: Viewer,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    let inner = state.inner();
    let account = viewer.account.clone();
    let held = blocking(move || crate::analysis::held_for(&*inner.store()?, &account, id)).await?;
    let open = held.status == "held"
        && !held
            .reviews
            .iter()
            .any(|r| r.reviewer == viewer.account.name);
    render(&AirlockPage {
        t: lang.catalogue(),
        nav: Nav::new(lang, Some(&viewer)),
        table: HeldTable::parse(&held.result),
        findings: serde_json::from_str(&held.findings).unwrap_or_default(),
        open,
        held,
    })
}

#[derive(Deserialize)]
struct AirlockFields {
    #[serde(default)]
    decision: String,
    #[serde(default)]
    comment: String,
}

async fn airlock_decide(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Posted { viewer, form }: Posted<AirlockFields>,
) -> Result<Response, PageError> {
    let verdict = crate::analysis::verdict(&form.decision)?;
    let inner = state.inner();
    blocking(move || {
        Ok(inner
            .store()?
            .review_result(&viewer.account, id, verdict, &form.comment)?)
    })
    .await?;
    Ok(see_other(&format!("/airlock/{id}")))
}

// ---------------------------------------------------------------- projects

#[derive(Template)]
#[template(path = "project.html")]
struct ProjectPage {
    t: &'static Catalogue,
    nav: Nav,
    project: ProjectRow,
    board: bool,
    member: bool,
    /// A token just created, shown this once.
    token: Option<(String, String)>,
    /// The viewer's tokens for this project.
    tokens: Vec<niji_store::ApiToken>,
}

async fn project_page(
    state: &AppState,
    lang: Lang,
    viewer: &Viewer,
    id: i64,
    token: Option<(String, String)>,
) -> Result<Response, PageError> {
    let inner = state.inner();
    let account = viewer.account.clone();
    let (project, member, tokens) = blocking(move || {
        let store = inner.store()?;
        let grant = project_for(&store, &account, None, id)?;
        let member = store.is_project_member(&account, id)?;
        let mut rows = project_rows(&store, vec![grant])?;
        let row = rows
            .pop()
            .ok_or_else(|| ApiError::Internal("project row lost".into()))?;
        let mut tokens = store.api_tokens_of(&account.name)?;
        tokens.retain(|t| t.grant_id == id);
        Ok((row, member, tokens))
    })
    .await?;
    render(&ProjectPage {
        t: lang.catalogue(),
        nav: Nav::new(lang, Some(viewer)),
        project,
        board: matches!(viewer.account.role, Role::Reviewer | Role::Admin),
        member,
        token,
        tokens,
    })
}

async fn project(
    State(state): State<AppState>,
    lang: Lang,
    viewer: Viewer,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    project_page(&state, lang, &viewer, id, None).await
}

#[derive(Deserialize)]
struct RevokeFields {
    #[serde(default)]
    reason: String,
}

async fn revoke(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Posted { viewer, form }: Posted<RevokeFields>,
) -> Result<Response, PageError> {
    let quorum = state.quorum();
    let inner = state.inner();
    blocking(move || {
        inner
            .store()?
            .revoke_grant(&viewer.account, id, &form.reason, quorum)?;
        Ok(())
    })
    .await?;
    Ok(see_other(&format!("/projects/{id}")))
}

#[derive(Deserialize)]
struct TokenFields {
    #[serde(default)]
    expires: String,
}

async fn create_token(
    State(state): State<AppState>,
    lang: Lang,
    Path(id): Path<i64>,
    Posted { viewer, form }: Posted<TokenFields>,
) -> Result<Response, PageError> {
    let inner = state.inner();
    let account = viewer.account.clone();
    let (token, secret) = blocking(move || {
        Ok(inner
            .store()?
            .create_api_token(&account, id, &form.expires)?)
    })
    .await?;
    let shown = (token.token_id, secret.expose().to_owned());
    let mut response = project_page(&state, lang, &viewer, id, Some(shown)).await?;
    // Shown once: no cache keeps the page.
    response.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-store"),
    );
    Ok(response)
}

async fn revoke_token(
    State(state): State<AppState>,
    Path((id, token_id)): Path<(i64, String)>,
    Posted { viewer, .. }: Posted<Empty>,
) -> Result<Response, PageError> {
    let inner = state.inner();
    blocking(move || {
        inner
            .store()?
            .revoke_api_token(&viewer.account, &token_id)?;
        Ok(())
    })
    .await?;
    Ok(see_other(&format!("/projects/{id}")))
}

// ---------------------------------------------------------------- admin

#[derive(Template)]
#[template(path = "admin_accounts.html")]
struct AccountsPage {
    t: &'static Catalogue,
    nav: Nav,
    accounts: Vec<AccountView>,
    organizations: Vec<OrganizationView>,
    roles: [Role; 4],
    error: Option<String>,
}

async fn accounts_page(
    state: &AppState,
    lang: Lang,
    viewer: &Viewer,
    error: Option<String>,
) -> Result<Response, PageError> {
    let inner = state.inner();
    let (accounts, organizations) = blocking(move || {
        let store = inner.store()?;
        let orgs = store.organizations()?.into_iter().map(Into::into).collect();
        Ok((crate::admin::accounts(&store)?, orgs))
    })
    .await?;
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let mut response = render(&AccountsPage {
        t: lang.catalogue(),
        nav: Nav::new(lang, Some(viewer)),
        accounts,
        organizations,
        roles: Role::ALL,
        error,
    })?;
    *response.status_mut() = status;
    Ok(response)
}

async fn admin_accounts(
    State(state): State<AppState>,
    lang: Lang,
    AdminViewer(viewer): AdminViewer,
) -> Result<Response, PageError> {
    accounts_page(&state, lang, &viewer, None).await
}

async fn add_account(
    State(state): State<AppState>,
    lang: Lang,
    AdminPosted(Posted { viewer, form }): AdminPosted<NewAccount>,
) -> Result<Response, PageError> {
    let inner = state.inner();
    let admin = viewer.account.clone();
    match blocking(move || crate::admin::add_account(&*inner.store()?, &admin, form)).await {
        Ok(()) => Ok(see_other("/admin/accounts")),
        Err(ApiError::Unprocessable(reason) | ApiError::NotFound(reason)) => {
            accounts_page(&state, lang, &viewer, Some(reason)).await
        }
        Err(other) => Err(other.into()),
    }
}

#[derive(Template)]
#[template(path = "admin_organizations.html")]
struct OrganizationsPage {
    t: &'static Catalogue,
    nav: Nav,
    organizations: Vec<OrganizationView>,
}

async fn admin_organizations(
    State(state): State<AppState>,
    lang: Lang,
    AdminViewer(viewer): AdminViewer,
) -> Result<Response, PageError> {
    let inner = state.inner();
    let orgs = blocking(move || Ok(inner.store()?.organizations()?)).await?;
    render(&OrganizationsPage {
        t: lang.catalogue(),
        nav: Nav::new(lang, Some(&viewer)),
        organizations: orgs.into_iter().map(Into::into).collect(),
    })
}

#[derive(Deserialize)]
struct OrganizationFields {
    #[serde(default)]
    name: String,
    /// A checkbox (add) or a hidden field (certification): present is yes.
    #[serde(default)]
    certified: Option<String>,
}

impl OrganizationFields {
    fn certified(&self) -> bool {
        self.certified.as_deref().is_some_and(|v| v != "false")
    }
}

async fn add_organization(
    State(state): State<AppState>,
    AdminPosted(Posted { viewer, form }): AdminPosted<OrganizationFields>,
) -> Result<Response, PageError> {
    let inner = state.inner();
    blocking(move || {
        inner.store()?.add_organization(
            &form.name,
            form.certified(),
            Actor::Account(&viewer.account),
        )?;
        Ok(())
    })
    .await?;
    Ok(see_other("/admin/organizations"))
}

async fn certify(
    State(state): State<AppState>,
    AdminPosted(Posted { viewer, form }): AdminPosted<OrganizationFields>,
) -> Result<Response, PageError> {
    let inner = state.inner();
    blocking(move || {
        inner.store()?.set_certified(
            &form.name,
            form.certified(),
            Actor::Account(&viewer.account),
        )?;
        Ok(())
    })
    .await?;
    Ok(see_other("/admin/organizations"))
}

// ---------------------------------------------------------------- register

#[derive(Template)]
#[template(path = "register.html")]
struct RegisterPage {
    t: &'static Catalogue,
    nav: Nav,
    entries: Vec<RegisterEntry>,
}

async fn register(
    State(state): State<AppState>,
    lang: Lang,
    MaybeViewer(viewer): MaybeViewer,
) -> Result<Response, PageError> {
    let inner = state.inner();
    let entries = blocking(move || Ok(inner.store()?.register()?)).await?;
    let response = render(&RegisterPage {
        t: lang.catalogue(),
        nav: Nav::new(lang, viewer.as_ref()),
        entries,
    })?;
    Ok(response.into_response())
}

/// One request as the activity page shows it.
struct ActivityRow {
    at: String,
    when: String,
    kind: String,
    rule_set: String,
    status: String,
    rho: String,
    query: Option<String>,
}

#[derive(Template)]
#[template(path = "activity.html")]
struct ActivityPage {
    t: &'static Catalogue,
    nav: Nav,
    page: crate::api::ActivityPageView,
    rows: Vec<ActivityRow>,
}

async fn activity(
    State(state): State<AppState>,
    lang: Lang,
    MaybeViewer(viewer): MaybeViewer,
    Path(project): Path<i64>,
    Query(paging): Query<crate::api::ActivityPaging>,
) -> Result<Response, PageError> {
    let page = crate::api::activity_of(&state, project, paging.before).await?;
    let t = lang.catalogue();
    let rows = page
        .requests
        .iter()
        .map(|r| ActivityRow {
            at: r.at.clone(),
            when: crate::citizen::japan_time(&r.at, lang),
            kind: t.of("activity", &r.kind),
            rule_set: r.rule_set.clone().unwrap_or_default(),
            status: t.of("activity", &r.status),
            rho: if r.rho > 0.0 {
                format!("{:.4}", r.rho)
            } else {
                "0".into()
            },
            query: r.query.clone(),
        })
        .collect();
    render(&ActivityPage {
        t,
        nav: Nav::new(lang, viewer.as_ref()),
        page,
        rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_are_read_one_per_line_and_a_bad_line_is_named() {
        let items = parse_items("claims.2024.persons.age\n\n  anon.drugs.code  \n").unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(
            (
                items[0].release.as_str(),
                items[0].table.as_str(),
                items[0].column.as_str()
            ),
            ("claims.2024", "persons", "age")
        );
        let err = parse_items("anon.drugs.code\nanon.drugs\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "data requested, line 2: expected release.table.column"
        );
    }

    #[test]
    fn every_status_role_tier_and_decision_has_a_label() {
        let values = [
            (
                "status",
                &["draft", "submitted", "returned", "withdrawn", "approved"][..],
            ),
            ("decision", &["approve", "reject", "changes"][..]),
            ("tier", &["anonymized", "pseudonymized"][..]),
            ("role", &["admin", "reviewer", "researcher", "citizen"][..]),
        ];
        for lang in [Lang::Ja, Lang::En] {
            for (kind, list) in values {
                for value in list {
                    let key = format!("{kind}.{value}");
                    assert_ne!(lang.catalogue().s(&key), key, "{lang:?}: no `{key}`");
                }
            }
        }
        for role in Role::ALL {
            assert_ne!(
                Lang::Ja.catalogue().of("role", role.as_str()),
                format!("role.{role}")
            );
        }
    }
}
