//! The citizen portal's API: enrolment, and a person's own view of the
//! access log.
//!
//! - `POST /api/v1/admin/enrolment-codes` (an admin): a one-time code for
//!   the insured person the body names, as an insurer's letter carries it;
//! - `POST /api/v1/enrol` (no login): the citizen's insured-person number,
//!   birth date, code and password make a citizen account, bound to the
//!   person keys of their records;
//! - `GET /api/v1/me/summary`: those entries counted by month (in Japan)
//!   and project, for a person whom thousands of entries a year concern;
//! - `GET /api/v1/me/accesses`: the log entries that concern them, newest
//!   first, each said in plain words, filtered by kind, project and month;
//! - `GET /api/v1/me/accesses/{id}/receipt`: one entry with its inclusion
//!   proof, a signed checkpoint and the log key (`niji-receipt/v1`);
//! - `GET`, `PUT`, `DELETE /api/v1/me/opt-out`: where they stand, refuse
//!   further provision, withdraw the refusal.
//!
//! A `/me` handler takes a [`Citizen`], which only a citizen's session
//! yields, carrying the person keys the store bound to that account: the
//! handlers have no other way to name a person, so a citizen cannot ask for
//! another's entries.

use crate::admin::Admin;
use crate::caller::Caller;
use crate::identity::{Identified, IdentitySource, InsuredPerson, Linkage};
use crate::problem::{ApiError, blocking};
use crate::state::AppState;
use crate::web::{Catalogue, Lang};
use axum::extract::{ConnectInfo, FromRequestParts, Path, Query, State};
use axum::http::StatusCode;
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router, routing::get, routing::post};
use niji_audit::event::EventKind;
use niji_core::{Role, SecretString};
use niji_store::{Access, AccessFilter, AccessSummary, Accesses, Account, Family, OptOutState};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;

/// The portal's API routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/admin/enrolment-codes", post(issue_code))
        .route("/api/v1/enrol", post(enrol))
        .route("/api/v1/me/accesses", get(accesses))
        .route("/api/v1/me/summary", get(summary))
        .route("/api/v1/me/accesses/{id}/receipt", get(receipt))
        .route(
            "/api/v1/me/opt-out",
            get(opt_out).put(refuse).delete(withdraw),
        )
}

/// A citizen's session, with the person keys their account is bound to.
#[derive(Clone)]
pub(crate) struct Citizen {
    /// The account.
    pub account: Account,
    /// Their person keys: every `/me` lookup is of these and no other.
    pub persons: Vec<i64>,
}

impl Citizen {
    /// The citizen of a caller; anyone else is refused.
    pub(crate) async fn of(state: &AppState, account: Account) -> Result<Citizen, ApiError> {
        if account.role != Role::Citizen {
            return Err(ApiError::Forbidden(
                "only a citizen's own account sees its accesses".into(),
            ));
        }
        let inner = state.inner();
        blocking(move || {
            let persons = inner.with_reader(|reader| Ok(reader.citizen_persons(&account)?))?;
            Ok(Citizen { account, persons })
        })
        .await
    }
}

impl FromRequestParts<AppState> for Citizen {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let caller = Caller::from_request_parts(parts, state).await?;
        if caller.project.is_some() {
            return Err(ApiError::Forbidden(
                "an API token reaches its project's data only".into(),
            ));
        }
        Citizen::of(state, caller.account).await
    }
}

/// The claim and person keys of `person`, from the linkage (the one
/// identity source this build has). On the blocking pool.
fn identify(inner: &crate::state::Inner, person: &InsuredPerson) -> Result<Identified, ApiError> {
    inner
        .staging
        .with(|staging| {
            Linkage {
                tokenizer: &inner.tokenizer,
                staging,
            }
            .identify(person)
        })
        .map_err(|e| match e {
            crate::state::StagingError::Busy => ApiError::busy(
                "the linked records are in use by another process; try again shortly",
            ),
            crate::state::StagingError::Failed(reason) => ApiError::Internal(reason),
        })?
}

/// An issued code, shown once.
#[derive(Serialize, utoipa::ToSchema)]
struct IssuedCode {
    /// The code, for the letter.
    code: String,
    /// The last moment it works (UTC).
    expires_at: String,
}

#[utoipa::path(post, path = "/api/v1/admin/enrolment-codes", request_body = InsuredPerson, responses((status = 201, description = "The one-time code, shown once", body = IssuedCode), (status = 403, description = "Not an admin"), (status = 422, description = "An identifier is missing or malformed")))]
async fn issue_code(
    State(state): State<AppState>,
    Admin(caller): Admin,
    Json(person): Json<InsuredPerson>,
) -> Result<Response, ApiError> {
    let inner = state.inner();
    let code = blocking(move || {
        let identified = identify(&inner, &person)?;
        Ok(inner
            .store()?
            .issue_enrolment_code(&caller.account, &identified.claim)?)
    })
    .await?;
    let body = IssuedCode {
        code: code.code.expose().to_owned(),
        expires_at: code.expires_at,
    };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// What a citizen sends to enrol.
#[derive(Deserialize, utoipa::ToSchema)]
pub(crate) struct Enrolment {
    /// Their insured-person number and birth date.
    #[serde(flatten)]
    pub person: InsuredPerson,
    /// The code of their letter.
    pub code: String,
    /// The password they choose (12 characters at least).
    pub password: String,
}

/// A new citizen account.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Enrolled {
    /// The account name to log in with, assigned by the platform.
    pub account: String,
}

#[utoipa::path(post, path = "/api/v1/enrol", request_body = Enrolment, responses((status = 201, description = "Enrolled: the account to log in with", body = Enrolled), (status = 403, description = "The code, number or birth date does not match"), (status = 422, description = "Malformed, or no records are held"), (status = 429, description = "Too many failed attempts from this address")))]
async fn enrol(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Json(body): Json<Enrolment>,
) -> Result<Response, ApiError> {
    let account = enrol_citizen(&state, body, peer).await?;
    Ok((StatusCode::CREATED, Json(Enrolled { account })).into_response())
}

/// Enrols, throttled per address like a login (a code has 100 bits, but
/// the number and birth date beside it are guessable): the API and the
/// enrolment page both come here. The new account's name.
pub(crate) async fn enrol_citizen(
    state: &AppState,
    body: Enrolment,
    peer: SocketAddr,
) -> Result<String, ApiError> {
    let keys = vec![format!("enrol:{}", peer.ip())];
    let inner = state.inner();
    if crate::signin::throttle(&inner)?.blocked(&keys) {
        return Err(ApiError::TooMany(None));
    }
    let work = state.inner();
    let outcome = blocking(move || {
        let identified = identify(&work, &body.person)?;
        let password = SecretString::new(body.password);
        Ok(work.store()?.enrol(
            &body.code,
            &identified.claim,
            &identified.persons,
            &password,
        )?)
    })
    .await;
    match outcome {
        Ok(account) => Ok(account.name),
        Err(e @ ApiError::Forbidden(_)) => {
            crate::signin::throttle(&inner)?.fail(&keys);
            Err(e)
        }
        Err(e) => Err(e),
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
pub(crate) struct Page {
    /// Entries older than this one (its id); the newest without it.
    pub before: Option<u64>,
    /// At most this many rows (50 without it, 500 at most).
    limit: Option<usize>,
    /// `en` for English words; Japanese without it.
    #[allow(dead_code)]
    lang: Option<String>,
    /// As in [`Which`] (not flattened: the query string's numbers would
    /// then be read as text).
    kind: Option<String>,
    /// As in [`Which`].
    project: Option<String>,
    /// As in [`Which`].
    month: Option<String>,
}

impl Page {
    /// The entries it asks for.
    pub(crate) fn which(&self) -> Which {
        Which {
            kind: self.kind.clone(),
            project: self.project.clone(),
            month: self.month.clone(),
        }
    }
}

/// Which of the citizen's entries a view asks for.
#[derive(Deserialize, Serialize, Default, Clone, utoipa::IntoParams, utoipa::ToSchema)]
pub(crate) struct Which {
    /// `analysis`, `release`, `grant`, `person` or `other`; every kind
    /// without it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// A project's id, or `none` for the platform's own steps; every
    /// project without it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// A month, `YYYY-MM` (in Japan); every month without it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub month: Option<String>,
}

impl Which {
    /// The store's filter; a malformed value is named (never repeated).
    pub(crate) fn filter(&self) -> Result<AccessFilter, ApiError> {
        let bad = |what: &str| ApiError::Unprocessable(what.to_owned());
        let family =
            match self.kind.as_deref().filter(|k| !k.is_empty()) {
                None => None,
                Some(k) => Some(Family::parse(k).ok_or_else(|| {
                    bad("kind: expected analysis, release, grant, person or other")
                })?),
            };
        let project = match self.project.as_deref().filter(|p| !p.is_empty()) {
            None => None,
            Some("none") => Some(None),
            Some(p) => Some(Some(
                p.parse::<u64>()
                    .ok()
                    .filter(|_| p.len() <= 19)
                    .ok_or_else(|| bad("project: expected a project's id or `none`"))?,
            )),
        };
        let month = match self.month.as_deref().filter(|m| !m.is_empty()) {
            None => None,
            Some(m) => Some(parse_month(m).ok_or_else(|| bad("month: expected YYYY-MM"))?),
        };
        Ok(AccessFilter {
            family,
            project,
            month,
        })
    }

    /// The same, as a query string (for links between pages).
    pub(crate) fn query(&self) -> String {
        serde_urlencoded::to_string(self).unwrap_or_default()
    }
}

/// `YYYY-MM` as `YYYYMM`.
pub(crate) fn parse_month(text: &str) -> Option<u32> {
    let (year, month) = text.split_once('-')?;
    if year.len() != 4 || month.len() != 2 {
        return None;
    }
    let (year, month): (u32, u32) = (year.parse().ok()?, month.parse().ok()?);
    (1900..=9999)
        .contains(&year)
        .then_some(())
        .filter(|_| (1..=12).contains(&month))
        .map(|_| year * 100 + month)
}

/// `YYYYMM` as `YYYY-MM`.
pub(crate) fn month_text(month: u32) -> String {
    format!("{:04}-{:02}", month / 100, month % 100)
}

/// `YYYYMM` in the reader's words: 2026年12月, Dec 2026.
pub(crate) fn month_words(month: u32, lang: Lang) -> String {
    const EN: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (year, m) = (month / 100, month % 100);
    if lang.code() == "ja" {
        format!("{year}年{m}月")
    } else {
        format!(
            "{} {year}",
            EN.get((m as usize).wrapping_sub(1)).unwrap_or(&"?")
        )
    }
}

/// A stored UTC time (`2026-12-06 21:31:05.123+00`) in Japan, to the
/// minute: 2026年12月7日 06:31 (English: 7 Dec 2026, 06:31 JST). The
/// stored text where it does not parse.
pub(crate) fn japan_time(at: &str, lang: Lang) -> String {
    let parsed = chrono::DateTime::parse_from_str(&format!("{at}00"), "%Y-%m-%d %H:%M:%S%.f%z");
    let Ok(time) = parsed else {
        return at.to_owned();
    };
    let local = time.with_timezone(&niji_store::log::japan());
    if lang.code() == "ja" {
        local.format("%Y年%-m月%-d日 %H:%M").to_string()
    } else {
        local.format("%-d %b %Y, %H:%M JST").to_string()
    }
}

/// Rows a page shows unless asked otherwise.
pub(crate) const PAGE_ROWS: usize = 50;

/// A project as a row names it.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ProjectView {
    pub id: i64,
    pub title: String,
    /// The purpose's name in the language asked.
    pub purpose: String,
    pub organization: String,
}

/// One entry that concerns the citizen.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct AccessView {
    /// Its id: the entry's index in the log.
    pub id: u64,
    /// When (UTC).
    pub at: String,
    /// When, in Japan, to the minute, in the language asked.
    pub when: String,
    /// What happened, in plain words.
    pub what: String,
    /// The log's name for it (`release.build`, `analysis.query`, …).
    pub kind: String,
    /// Who: the project's organization, or the platform.
    pub organization: String,
    pub project: Option<ProjectView>,
    /// The citizen's releases it used.
    pub releases: Vec<String>,
    /// Whether the entry names the citizen directly (by commitment).
    pub direct: bool,
    /// Where its receipt is.
    pub receipt: String,
}

/// A release that holds the citizen's data.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ReleaseView {
    pub name: String,
    pub tier: String,
    pub built_at: String,
}

impl From<niji_store::HeldIn> for ReleaseView {
    fn from(r: niji_store::HeldIn) -> Self {
        ReleaseView {
            name: r.name,
            tier: r.tier,
            built_at: r.built_at,
        }
    }
}

/// Queries a project ran on releases that hold the citizen.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct QueriesView {
    pub project: ProjectView,
    pub queries: u64,
    /// In plain words.
    pub what: String,
}

/// The citizen's view.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct AccessesView {
    /// Entries that concern the citizen, in all.
    pub total: u64,
    pub releases: Vec<ReleaseView>,
    pub queries: Vec<QueriesView>,
    /// This page, newest first.
    pub rows: Vec<AccessView>,
    /// `before` of the next (older) page.
    pub next_before: Option<u64>,
}

/// The platform as the organization of its own steps.
const PLATFORM: &str = "niji";

fn project_view(p: &niji_store::Project, lang: Lang) -> ProjectView {
    ProjectView {
        id: p.id,
        title: p.title.clone(),
        purpose: crate::web::purpose_name(&p.purpose, lang),
        organization: p.organization.clone(),
    }
}

/// `template` with `{name}` replaced by each value.
fn fill(template: &str, values: &[(&str, &str)]) -> String {
    values
        .iter()
        .fold(template.to_owned(), |text, (name, value)| {
            text.replace(&format!("{{{name}}}"), value)
        })
}

/// An entry in plain words, in the catalogue's language.
pub(crate) fn what(t: &Catalogue, a: &Access) -> String {
    let release = a.releases.join(", ");
    let project = a.project.as_ref().map_or("", |p| p.title.as_str());
    use EventKind as K;
    // A kind an older niji wrote and this one does not know reads as
    // "other".
    let key = match EventKind::parse(&a.kind) {
        Some(K::ReleaseBuild) => "me.what.release_build",
        Some(K::GrantCreate) => "me.what.grant",
        Some(K::AnalysisRows) if a.direct => "me.what.row_shown",
        Some(
            K::AnalysisQuery
            | K::AnalysisDp
            | K::AnalysisModel
            | K::AnalysisRows
            | K::AnalysisFetch,
        ) => "me.what.query",
        Some(K::AnalysisRefused | K::AnalysisDenied) => "me.what.refused",
        Some(K::AnalysisCancel) => "me.what.cancelled",
        Some(K::DpDebit) => "me.what.dp_debit",
        Some(K::AirlockHold) => "me.what.held",
        Some(K::AirlockReview) => "me.what.reviewed",
        Some(K::GrantRevoke) => "me.what.grant_revoked",
        Some(K::TokenCreate | K::TokenRevoke) => "me.what.token",
        Some(K::ReidentificationResult) => "me.what.reidentified",
        Some(K::OptOut) => "me.what.opt_out",
        Some(K::OptOutWithdraw) => "me.what.opt_out_withdrawn",
        Some(K::CitizenEnrol) => "me.what.enrolled",
        _ if a.project.is_some() => "me.what.project_other",
        _ => "me.what.other",
    };
    fill(
        t.s(key),
        &[
            ("release", &release),
            ("project", project),
            ("kind", &a.kind),
        ],
    )
}

/// The citizen's view as the API and the page give it.
pub(crate) fn view(found: Accesses, lang: Lang) -> AccessesView {
    let t = lang.catalogue();
    AccessesView {
        total: found.total,
        releases: found.releases.into_iter().map(ReleaseView::from).collect(),
        queries: found
            .queries
            .iter()
            .map(|(p, n)| QueriesView {
                project: project_view(p, lang),
                queries: *n,
                what: fill(
                    t.s("me.what.queries"),
                    &[("project", &p.title), ("n", &n.to_string())],
                ),
            })
            .collect(),
        rows: found
            .rows
            .iter()
            .map(|a| AccessView {
                id: a.index,
                at: a.at.clone(),
                when: japan_time(&a.at, lang),
                what: what(t, a),
                kind: a.kind.clone(),
                organization: a
                    .project
                    .as_ref()
                    .map_or(PLATFORM.to_owned(), |p| p.organization.clone()),
                project: a.project.as_ref().map(|p| project_view(p, lang)),
                releases: a.releases.clone(),
                direct: a.direct,
                receipt: format!("/api/v1/me/accesses/{}/receipt", a.index),
            })
            .collect(),
        next_before: found.next_before,
    }
}

/// A page of the citizen's accesses of those `filter` asks for.
pub(crate) async fn accesses_of(
    state: &AppState,
    citizen: Citizen,
    filter: AccessFilter,
    before: Option<u64>,
    limit: usize,
) -> Result<Accesses, ApiError> {
    let inner = state.inner();
    blocking(move || {
        inner.with_reader(|reader| {
            Ok(reader.accesses_where(&citizen.persons, &filter, before, limit.clamp(1, 500))?)
        })
    })
    .await
}

/// One month's entries of one project, as the view shows them.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct GroupView {
    /// `YYYY-MM`, in Japan.
    pub month: String,
    /// The month in words (2026年12月).
    pub month_words: String,
    /// The project, or none for the platform's own steps.
    pub project: Option<ProjectView>,
    /// The project's organization, or the platform.
    pub organization: String,
    /// How many entries.
    pub entries: u64,
    /// The group in plain words.
    pub what: String,
    /// The query string that selects its entries.
    pub query: String,
    /// Where its entries are listed (the API's, with the page's filter).
    pub entries_at: String,
}

/// Entries in one month.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct MonthView {
    /// `YYYY-MM`, in Japan.
    pub month: String,
    pub entries: u64,
}

/// The citizen's entries counted by month and project.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct SummaryView {
    /// The entries counted, in all.
    pub total: u64,
    /// Per month, oldest first, empty months included.
    pub months: Vec<MonthView>,
    /// Per month and project, newest month first.
    pub groups: Vec<GroupView>,
}

/// The summary as the API and the page give it.
pub(crate) fn summary_view(found: AccessSummary, kind: Option<&str>, lang: Lang) -> SummaryView {
    let t = lang.catalogue();
    SummaryView {
        total: found.total,
        months: found
            .months
            .iter()
            .map(|(m, n)| MonthView {
                month: month_text(*m),
                entries: *n,
            })
            .collect(),
        groups: found
            .groups
            .iter()
            .map(|g| {
                let which = Which {
                    kind: kind.map(str::to_owned),
                    project: Some(g.project_id.map_or("none".into(), |p| p.to_string())),
                    month: Some(month_text(g.month)),
                };
                let query = which.query();
                let count = g.entries.to_string();
                let what = match &g.project {
                    Some(p) => fill(
                        t.s("me.group.project"),
                        &[("project", &p.title), ("n", &count)],
                    ),
                    None => fill(t.s("me.group.platform"), &[("n", &count)]),
                };
                GroupView {
                    month: month_text(g.month),
                    month_words: month_words(g.month, lang),
                    organization: g
                        .project
                        .as_ref()
                        .map_or(PLATFORM.to_owned(), |p| p.organization.clone()),
                    project: g.project.as_ref().map(|p| project_view(p, lang)),
                    entries: g.entries,
                    what,
                    entries_at: format!("/api/v1/me/accesses?{query}"),
                    query,
                }
            })
            .collect(),
    }
}

/// The citizen's entries counted by month and project.
pub(crate) async fn summary_of(
    state: &AppState,
    citizen: Citizen,
    family: Option<Family>,
) -> Result<AccessSummary, ApiError> {
    let inner = state.inner();
    blocking(move || {
        inner.with_reader(|reader| Ok(reader.access_summary(&citizen.persons, family)?))
    })
    .await
}

#[utoipa::path(get, path = "/api/v1/me/summary", params(Which), responses((status = 200, body = SummaryView), (status = 401, description = "Not logged in"), (status = 403, description = "Not a citizen"), (status = 422, description = "A malformed filter")))]
async fn summary(
    State(state): State<AppState>,
    lang: Lang,
    citizen: Citizen,
    Query(which): Query<Which>,
) -> Result<Json<SummaryView>, ApiError> {
    let filter = which.filter()?;
    let found = summary_of(&state, citizen, filter.family).await?;
    Ok(Json(summary_view(
        found,
        filter.family.map(Family::as_str),
        lang,
    )))
}

#[utoipa::path(get, path = "/api/v1/me/accesses", params(Page), responses((status = 200, body = AccessesView), (status = 401, description = "Not logged in"), (status = 403, description = "Not a citizen")))]
async fn accesses(
    State(state): State<AppState>,
    lang: Lang,
    citizen: Citizen,
    Query(page): Query<Page>,
) -> Result<Json<AccessesView>, ApiError> {
    let filter = page.which().filter()?;
    let found = accesses_of(
        &state,
        citizen,
        filter,
        page.before,
        page.limit.unwrap_or(PAGE_ROWS),
    )
    .await?;
    Ok(Json(view(found, lang)))
}

#[utoipa::path(get, path = "/api/v1/me/accesses/{id}/receipt", params(("id" = u64, Path, description = "The access's id")), responses((status = 200, description = "The receipt (niji-receipt/v1), as a file", content_type = "application/json"), (status = 404, description = "No such access of this citizen")))]
async fn receipt(
    State(state): State<AppState>,
    citizen: Citizen,
    Path(id): Path<u64>,
) -> Result<Response, ApiError> {
    let inner = state.inner();
    let receipt = blocking(move || {
        let key = inner
            .log_key
            .as_ref()
            .ok_or_else(|| ApiError::NotFound("this server signs no checkpoints".into()))?;
        Ok(inner.store()?.receipt(&citizen.persons, id, key)?)
    })
    .await?;
    Ok((
        [
            (CONTENT_TYPE, "application/json".to_owned()),
            (
                CONTENT_DISPOSITION,
                format!("attachment; filename=\"niji-receipt-{id}.json\""),
            ),
        ],
        receipt.to_json(),
    )
        .into_response())
}

/// Where the citizen stands on provision.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct OptOutView {
    /// Whether they refuse further provision.
    pub opted_out: bool,
    /// Since when (UTC).
    pub since: Option<String>,
    /// Releases built before the refusal that hold their data: these
    /// remain, and projects granted them may go on using them.
    pub kept: Vec<ReleaseView>,
}

pub(crate) fn opt_out_view(state: OptOutState) -> OptOutView {
    OptOutView {
        opted_out: state.since.is_some(),
        since: state.since,
        kept: state.kept.into_iter().map(ReleaseView::from).collect(),
    }
}

/// Refuses (`true`) or allows again (`false`), then where they stand.
pub(crate) async fn set_opt_out(
    state: &AppState,
    citizen: Citizen,
    refuse: Option<bool>,
) -> Result<OptOutState, ApiError> {
    let inner = state.inner();
    blocking(move || {
        let store = inner.store()?;
        let name = &citizen.account.name;
        match refuse {
            Some(true) => {
                store.add_opt_outs(&citizen.persons, name)?;
            }
            Some(false) => {
                store.withdraw_opt_outs(&citizen.persons, name)?;
            }
            None => {}
        }
        Ok(store.opt_out_state(&citizen.persons)?)
    })
    .await
}

#[utoipa::path(get, path = "/api/v1/me/opt-out", responses((status = 200, body = OptOutView), (status = 403, description = "Not a citizen")))]
async fn opt_out(
    State(state): State<AppState>,
    citizen: Citizen,
) -> Result<Json<OptOutView>, ApiError> {
    Ok(Json(opt_out_view(
        set_opt_out(&state, citizen, None).await?,
    )))
}

#[utoipa::path(put, path = "/api/v1/me/opt-out", responses((status = 200, description = "Refused: releases built from now on leave the citizen out", body = OptOutView), (status = 403, description = "Not a citizen")))]
async fn refuse(
    State(state): State<AppState>,
    citizen: Citizen,
) -> Result<Json<OptOutView>, ApiError> {
    Ok(Json(opt_out_view(
        set_opt_out(&state, citizen, Some(true)).await?,
    )))
}

#[utoipa::path(delete, path = "/api/v1/me/opt-out", responses((status = 200, description = "Withdrawn: later releases may include the citizen again", body = OptOutView), (status = 403, description = "Not a citizen")))]
async fn withdraw(
    State(state): State<AppState>,
    citizen: Citizen,
) -> Result<Json<OptOutView>, ApiError> {
    Ok(Json(opt_out_view(
        set_opt_out(&state, citizen, Some(false)).await?,
    )))
}
