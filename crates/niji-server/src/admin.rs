//! The admin's API, `/api/v1/admin/...`: accounts and organizations. Only
//! an admin's session reaches it; every change is an audit event in the
//! store, in the same transaction as the change.

use crate::caller::Caller;
use crate::problem::{ApiError, blocking};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router, routing::get, routing::put};
use niji_core::{Role, SecretString};
use niji_store::{Account, Actor, Organization, Store};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// The admin's routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/admin/accounts",
            get(list_accounts).post(create_account),
        )
        .route(
            "/api/v1/admin/organizations",
            get(list_organizations).post(create_organization),
        )
        .route("/api/v1/admin/organizations/{name}", put(certify))
        .route(
            "/api/v1/admin/accounts/{name}/disable",
            axum::routing::post(disable_account),
        )
}

/// Refuses anyone but an admin's session (an API token never reaches
/// administration).
pub(crate) fn admin_only(caller: &Caller) -> Result<(), ApiError> {
    if caller.project.is_some() {
        return Err(ApiError::Forbidden(
            "an API token reaches its project's data only".into(),
        ));
    }
    if caller.account.role != Role::Admin {
        return Err(ApiError::Forbidden("only an admin manages accounts".into()));
    }
    Ok(())
}

/// An admin's session, as an extractor: a handler that takes it refuses
/// everyone else before it reads a body.
pub(crate) struct Admin(pub Caller);

impl axum::extract::FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<Self, ApiError> {
        let caller = Caller::from_request_parts(parts, state).await?;
        admin_only(&caller)?;
        Ok(Admin(caller))
    }
}

/// An account as the admin sees it.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct AccountView {
    pub name: String,
    pub role: &'static str,
    pub organization: Option<String>,
    pub created_at: String,
}

/// Every account with its organization.
pub(crate) fn accounts(store: &Store) -> Result<Vec<AccountView>, ApiError> {
    let mut org_of = HashMap::new();
    for org in store.organizations()? {
        for member in org.members {
            org_of.insert(member, org.name.clone());
        }
    }
    Ok(store
        .accounts()?
        .into_iter()
        .map(|a| AccountView {
            organization: org_of.remove(&a.name),
            name: a.name,
            role: a.role.as_str(),
            created_at: a.created_at,
        })
        .collect())
}

#[utoipa::path(get, path = "/api/v1/admin/accounts", responses((status = 200, body = Vec<AccountView>), (status = 403, description = "Not an admin")))]
async fn list_accounts(
    State(state): State<AppState>,
    _admin: Admin,
) -> Result<Json<Vec<AccountView>>, ApiError> {
    let inner = state.inner();
    Ok(Json(blocking(move || accounts(&*inner.store()?)).await?))
}

/// Why an account is disabled.
#[derive(Deserialize, utoipa::ToSchema)]
pub(crate) struct Disable {
    reason: String,
}

#[utoipa::path(post, path = "/api/v1/admin/accounts/{name}/disable", params(("name" = String, Path, description = "Account name")), request_body = Disable, responses((status = 204, description = "Disabled: its sessions and API tokens stop at once"), (status = 403, description = "Not an admin"), (status = 404, description = "No such account"), (status = 422, description = "No reasons, or one's own account")))]
pub(crate) async fn disable_account(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Path(name): Path<String>,
    Json(body): Json<Disable>,
) -> Result<StatusCode, ApiError> {
    let inner = state.inner();
    let who = name.clone();
    blocking(move || {
        Ok(inner
            .store()?
            .disable_account(&admin.account, &who, &body.reason)?)
    })
    .await?;
    crate::caller::close_sessions_of(&state, &name, None).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A new account. The password is the initial one the admin hands over.
#[derive(Deserialize, utoipa::ToSchema)]
pub(crate) struct NewAccount {
    pub name: String,
    pub role: String,
    #[serde(default)]
    pub organization: Option<String>,
    pub password: String,
}

/// Creates an account as `admin` asks.
pub(crate) fn add_account(store: &Store, admin: &Account, new: NewAccount) -> Result<(), ApiError> {
    let role: Role = new
        .role
        .parse()
        .map_err(|e: niji_core::role::UnknownRole| ApiError::Unprocessable(e.to_string()))?;
    let organization = new.organization.filter(|o| !o.trim().is_empty());
    if role == Role::Researcher && organization.is_none() {
        return Err(ApiError::Unprocessable(
            "a researcher belongs to an organization".into(),
        ));
    }
    let password = SecretString::new(new.password);
    match store.add_account(
        &new.name,
        role,
        &password,
        organization.as_deref(),
        Actor::Account(admin),
    ) {
        Ok(_) => Ok(()),
        // An unknown organization is a mistake in the form, not a missing page.
        Err(e) => Err(match ApiError::from(e) {
            ApiError::NotFound(reason) => ApiError::Unprocessable(reason),
            other => other,
        }),
    }
}

#[utoipa::path(post, path = "/api/v1/admin/accounts", request_body = NewAccount, responses((status = 201, description = "Created"), (status = 422, description = "Name taken or malformed, password too short, unknown role or organization")))]
async fn create_account(
    State(state): State<AppState>,
    Admin(caller): Admin,
    Json(body): Json<NewAccount>,
) -> Result<Response, ApiError> {
    let inner = state.inner();
    blocking(move || add_account(&*inner.store()?, &caller.account, body)).await?;
    Ok(StatusCode::CREATED.into_response())
}

/// An organization as the admin sees it.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct OrganizationView {
    pub id: i64,
    pub name: String,
    pub certified: bool,
    pub members: Vec<String>,
}

impl From<Organization> for OrganizationView {
    fn from(o: Organization) -> Self {
        OrganizationView {
            id: o.id,
            name: o.name,
            certified: o.certified,
            members: o.members,
        }
    }
}

#[utoipa::path(get, path = "/api/v1/admin/organizations", responses((status = 200, body = Vec<OrganizationView>), (status = 403, description = "Not an admin")))]
async fn list_organizations(
    State(state): State<AppState>,
    _admin: Admin,
) -> Result<Json<Vec<OrganizationView>>, ApiError> {
    let inner = state.inner();
    let orgs = blocking(move || Ok(inner.store()?.organizations()?)).await?;
    Ok(Json(orgs.into_iter().map(Into::into).collect()))
}

#[derive(Deserialize, utoipa::ToSchema)]
struct NewOrganization {
    name: String,
    #[serde(default)]
    certified: bool,
}

#[utoipa::path(post, path = "/api/v1/admin/organizations", request_body = NewOrganization, responses((status = 201, description = "Created"), (status = 422, description = "Name taken or empty")))]
async fn create_organization(
    State(state): State<AppState>,
    Admin(caller): Admin,
    Json(body): Json<NewOrganization>,
) -> Result<Response, ApiError> {
    let inner = state.inner();
    blocking(move || {
        inner.store()?.add_organization(
            &body.name,
            body.certified,
            Actor::Account(&caller.account),
        )?;
        Ok(())
    })
    .await?;
    Ok(StatusCode::CREATED.into_response())
}

#[derive(Deserialize, utoipa::ToSchema)]
struct Certification {
    certified: bool,
}

#[utoipa::path(put, path = "/api/v1/admin/organizations/{name}", params(("name" = String, Path, description = "Organization name")), request_body = Certification, responses((status = 204, description = "Certification set"), (status = 404, description = "No such organization")))]
async fn certify(
    State(state): State<AppState>,
    Admin(caller): Admin,
    Path(name): Path<String>,
    Json(body): Json<Certification>,
) -> Result<StatusCode, ApiError> {
    let inner = state.inner();
    blocking(move || {
        inner
            .store()?
            .set_certified(&name, body.certified, Actor::Account(&caller.account))?;
        Ok(())
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
