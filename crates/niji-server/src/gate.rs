//! The purpose gate of the analysis API. [`Granted`] is an extractor: a
//! handler that takes one has passed the gate — the caller is a member of
//! the project named in the path (or holds its token), and its grant is
//! active — and [`Granted::analysis`] is the only way to reach release
//! data. A handler without it has no tables to query.
//!
//! A refusal is an audit event like an allowed request, then a 403 with a
//! problem+json detail naming the reason.
//!
//! The grant, its application and its tables are read from the store once
//! and kept until the store next changes governance state
//! ([`crate::governance`]); the checks themselves run on every request.

use crate::caller::Caller;
use crate::governance::Standing;
use crate::problem::{ApiError, blocking};
use crate::state::{AppState, Inner};
use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use niji_audit::event::{EventKind, Subject};
use niji_core::Role;
use niji_query::{Analysis, GrantedTable, Limits, Pool};
use niji_store::{Grant, Store};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// A project whose grant the caller passed.
pub struct Granted {
    account: String,
    grant: Grant,
    purpose: String,
    tables: Vec<GrantedTable>,
    /// Idle sandboxes, reused across this grant's queries.
    pool: Arc<Pool>,
    engine: niji_query::EngineChoice,
}

impl Granted {
    /// The account asking.
    pub fn account(&self) -> &str {
        &self.account
    }

    /// The grant it works under.
    pub fn grant(&self) -> &Grant {
        &self.grant
    }

    /// The application's purpose (from the catalogue).
    pub fn purpose(&self) -> &str {
        &self.purpose
    }

    /// The granted tables, by the names queries use.
    pub fn tables(&self) -> &[GrantedTable] {
        &self.tables
    }

    /// Queries over exactly the granted tables and columns.
    pub fn analysis(&self, limits: Limits) -> Analysis {
        Analysis::new(self.tables.clone(), limits)
            .with_pool(Arc::clone(&self.pool))
            .with_engine(self.engine.clone())
    }
}

/// Why the gate refused, as audited and answered.
fn refuse(store: &Store, who: &str, project: i64, reason: String) -> ApiError {
    if let Err(e) = store.audit(
        who,
        EventKind::AnalysisDenied,
        Subject::Project(project),
        &reason,
    ) {
        // The refusal stands; an unlogged refusal is still a refusal.
        tracing::error!(error = %e, "audit of a refused analysis request failed");
    }
    ApiError::Forbidden(reason)
}

impl FromRequestParts<AppState> for Granted {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let caller = Caller::from_request_parts(parts, state).await?;
        // The project is the path's `{id}`; a route may have more parameters.
        let Path(params) = Path::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::NotFound(format!("no such project: {e}")))?;
        let project: i64 = params
            .get("id")
            .and_then(|id| id.parse().ok())
            .ok_or_else(|| ApiError::NotFound("no such project".into()))?;
        Granted::pass_for(state, caller, project).await
    }
}

impl Granted {
    /// The gate for a project a route names otherwise than by its path's
    /// `{id}` (a job's).
    pub(crate) async fn pass_for(
        state: &AppState,
        caller: Caller,
        project: i64,
    ) -> Result<Granted, ApiError> {
        let inner = state.inner();
        // Kept state that admits the caller needs no store; a refusal does,
        // since it is audited.
        if let Some(standing) = inner.governance.standing(project)
            && let Ok(Ok(granted)) = admit(&caller, project, Some(&standing), &inner)
        {
            return Ok(granted);
        }
        blocking(move || {
            let standing = match inner.governance.standing(project) {
                Some(kept) => Some(kept),
                None => standing_of(&inner, project)?,
            };
            admit(&caller, project, standing.as_deref(), &inner)?.map_err(|reason| {
                match inner.store_keeping_governance() {
                    Ok(store) => refuse(&store, &caller.account.name, project, reason),
                    Err(e) => e,
                }
            })
        })
        .await
    }
}

/// A project's grant, application and tables, read from the store and
/// kept; `None` when there is no such grant.
fn standing_of(inner: &Inner, project: i64) -> Result<Option<Arc<Standing>>, ApiError> {
    let store = inner.store_keeping_governance()?;
    let mark = inner.governance.mark();
    // No such project reads as "not a member" (its existence is not told);
    // a failing store is a failure, not a refusal.
    let grant = match store.grant(project) {
        Ok(grant) => grant,
        Err(niji_store::StoreError::Refused(_)) => return Ok(None),
        Err(other) => return Err(other.into()),
    };
    let application = store.application(grant.application_id)?;
    let tables = granted_tables(&store, &grant)?;
    let standing = Arc::new(Standing {
        grant,
        application,
        tables,
    });
    inner
        .governance
        .keep_standing(mark, project, Arc::clone(&standing));
    Ok(Some(standing))
}

/// The gate's checks, in order: token scope, membership, grant in force.
/// The inner error is a refusal's reason, to be audited.
fn admit(
    caller: &Caller,
    project: i64,
    standing: Option<&Standing>,
    inner: &Inner,
) -> Result<Result<Granted, String>, ApiError> {
    let who = caller.account.name.as_str();
    if let Some(scope) = caller.project.filter(|&p| p != project) {
        return Ok(Err(format!(
            "this token is scoped to project {scope}, not {project}"
        )));
    }
    let member = standing.is_some_and(|s| s.application.has_member(who));
    // Only researchers use data: a reviewer, an admin or a citizen listed
    // as a member (before members were checked) still does not pass.
    let (Some(standing), true) = (standing, member && caller.account.role == Role::Researcher)
    else {
        return Ok(Err(format!("`{who}` is not a member of project {project}")));
    };
    let grant = &standing.grant;
    if !grant.active {
        return Ok(Err(match &grant.revoked_at {
            Some(at) => format!("the grant of project {project} was revoked at {at}"),
            None if grant.uncertified => format!(
                "project {project} uses a pseudonymized release, and its organization is no \
                 longer certified for that tier"
            ),
            None => format!(
                "the grant of project {project} expired on {}",
                grant.conditions.expires
            ),
        }));
    }
    let tables = standing.tables.clone().map_err(ApiError::Unprocessable)?;
    Ok(Ok(Granted {
        account: who.to_owned(),
        grant: grant.clone(),
        purpose: standing.application.form.purpose.clone(),
        tables,
        pool: Arc::clone(&inner.sandboxes),
        engine: inner.engine.clone(),
    }))
}

/// The grant's items as sandbox tables: a table is known by its own name,
/// or as `<release>_<table>` when two granted releases share the name.
/// A release the grant names that is not on the platform is the reason
/// its queries fail (after the gate's checks, so only members learn it).
fn granted_tables(
    store: &Store,
    grant: &Grant,
) -> Result<Result<Vec<GrantedTable>, String>, ApiError> {
    let mut by_table: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for item in &grant.conditions.items {
        by_table
            .entry((item.release.clone(), item.table.clone()))
            .or_default()
            .push(item.column.clone());
    }
    let mut releases_of: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, table) in by_table.keys() {
        *releases_of.entry(table).or_default() += 1;
    }
    let mut tables = Vec::new();
    for ((release, table), columns) in &by_table {
        let Some(info) = store.release(release)? else {
            return Ok(Err(format!(
                "release `{release}` of this grant is not on the platform"
            )));
        };
        let view = if releases_of[table.as_str()] > 1 {
            format!("{release}_{table}")
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                .collect()
        } else {
            table.clone()
        };
        tables.push(GrantedTable {
            view,
            release: release.clone(),
            path: store.dir().join(&info.file),
            table: table.clone(),
            columns: columns.clone(),
        });
    }
    Ok(Ok(tables))
}
