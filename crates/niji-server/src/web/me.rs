//! The citizen's pages: `/me`, the entries of the access log that concern
//! them in plain words, with a receipt per row and the opt-out form.

use super::{Nav, PageError, Posted, Viewer, render, see_other};
use crate::citizen::{AccessesView, Citizen, OptOutView, PAGE_ROWS, set_opt_out, view};
use crate::state::AppState;
use crate::web::{Catalogue, Lang};
use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use axum::{Router, routing::get};
use serde::Deserialize;

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/me", get(me_page).post(me_opt_out))
}

#[derive(Template)]
#[template(path = "me.html")]
struct MePage {
    t: &'static Catalogue,
    nav: Nav,
    view: AccessesView,
    opt_out: OptOutView,
    /// The opt-out sentence, with its date filled in.
    opt_out_text: String,
    /// Whether this is the newest page.
    newest: bool,
}

#[derive(Deserialize)]
struct PageQuery {
    before: Option<u64>,
}

async fn me_page(
    State(state): State<AppState>,
    lang: Lang,
    viewer: Viewer,
    Query(query): Query<PageQuery>,
) -> Result<Response, PageError> {
    let citizen = Citizen::of(&state, viewer.account.clone()).await?;
    let found =
        crate::citizen::accesses_of(&state, citizen.clone(), query.before, PAGE_ROWS).await?;
    let opt_out = set_opt_out(&state, citizen, None).await?;
    let t = lang.catalogue();
    let opt_out_text = match &opt_out.since {
        Some(since) => t.s("me.opted_out").replace("{since}", since),
        None => t.s("me.opted_in").to_owned(),
    };
    render(&MePage {
        t,
        nav: Nav::new(lang, Some(&viewer)),
        view: view(found, lang),
        opt_out: crate::citizen::opt_out_view(opt_out),
        opt_out_text,
        newest: query.before.is_none(),
    })
}

#[derive(Deserialize)]
struct OptOutFields {
    #[serde(default)]
    action: String,
}

async fn me_opt_out(
    State(state): State<AppState>,
    Posted { viewer, form }: Posted<OptOutFields>,
) -> Result<Response, PageError> {
    let refuse = match form.action.as_str() {
        "refuse" => true,
        "withdraw" => false,
        other => {
            return Err(PageError::Failed(crate::problem::ApiError::Unprocessable(
                format!("action: expected refuse or withdraw, not `{other}`"),
            )));
        }
    };
    let citizen = Citizen::of(&state, viewer.account).await?;
    set_opt_out(&state, citizen, Some(refuse)).await?;
    Ok(see_other("/me"))
}
