//! The citizen's pages: `/me`, the entries of the access log that concern
//! them counted by month and project (a person in a national release
//! gathers thousands a year), with a chart of entries per month, a filter
//! by kind and the opt-out form; and `/me/accesses`, one group's entries in
//! plain words, in Japan time, each with its receipt.

use super::{Nav, PageError, Posted, Viewer, render, see_other};
use crate::citizen::{
    AccessView, Citizen, GroupView, OptOutView, PAGE_ROWS, ReleaseView, Which, month_words,
    parse_month, set_opt_out, summary_of, summary_view, view,
};
use crate::problem::ApiError;
use crate::state::AppState;
use crate::web::{Catalogue, Lang};
use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use axum::{Router, routing::get};
use niji_store::Family;
use serde::Deserialize;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/me", get(me_page).post(me_opt_out))
        .route("/me/accesses", get(entries_page))
}

/// Groups a page of `/me` lists.
const GROUPS_PER_PAGE: usize = 24;

/// Months the chart shows, the newest last.
const CHART_MONTHS: usize = 24;

/// One bar of the chart: a month's entries, drawn in SVG units.
pub(crate) struct Bar {
    pub x: u32,
    pub y: u32,
    pub height: u32,
    /// The month in words and the count, for the bar's tooltip.
    pub title: String,
    /// The month's label under the axis, every third month.
    pub label: Option<String>,
}

/// The chart of entries per month.
pub(crate) struct Chart {
    pub bars: Vec<Bar>,
    /// Its text alternative.
    pub description: String,
}

/// SVG geometry: bar width and gap, plot height, room for labels.
const BAR: u32 = 20;
const GAP: u32 = 6;
const PLOT: u32 = 120;

fn chart(months: &[(String, u64)], t: &Catalogue, lang: Lang) -> Chart {
    let shown = &months[months.len().saturating_sub(CHART_MONTHS)..];
    let most = shown.iter().map(|(_, n)| *n).max().unwrap_or(0).max(1);
    let bars = shown
        .iter()
        .enumerate()
        .map(|(i, (month, n))| {
            let height = ((*n as f64 / most as f64) * PLOT as f64).round() as u32;
            let words = parse_month(month).map_or(month.clone(), |m| month_words(m, lang));
            Bar {
                x: i as u32 * (BAR + GAP),
                y: PLOT - height,
                height,
                title: format!("{words}: {n}"),
                label: (i % 3 == 0 || i + 1 == shown.len()).then(|| month.clone()),
            }
        })
        .collect();
    let busiest = shown.iter().max_by_key(|(_, n)| *n);
    let description = match busiest {
        Some((month, n)) if *n > 0 => t
            .s("me.chart.described")
            .replace("{months}", &shown.len().to_string())
            .replace(
                "{month}",
                &parse_month(month).map_or(month.clone(), |m| month_words(m, lang)),
            )
            .replace("{n}", &n.to_string()),
        _ => t.s("me.none").to_owned(),
    };
    Chart { bars, description }
}

impl Chart {
    /// The SVG's width.
    pub fn width(&self) -> u32 {
        (self.bars.len() as u32 * (BAR + GAP)).max(60)
    }

    /// The bar width.
    pub fn bar(&self) -> u32 {
        BAR
    }

    /// The plot's height (the axis).
    pub fn plot(&self) -> u32 {
        PLOT
    }
}

/// A kind the filter offers.
pub(crate) struct KindOption {
    /// `analysis`, …, or empty for every kind.
    pub value: &'static str,
    pub label: String,
    pub selected: bool,
}

fn kind_options(t: &'static Catalogue, current: Option<Family>) -> Vec<KindOption> {
    std::iter::once(KindOption {
        value: "",
        label: t.s("me.kind.all").to_owned(),
        selected: current.is_none(),
    })
    .chain(Family::ALL.into_iter().map(|f| KindOption {
        value: f.as_str(),
        label: t.of("me.kind", f.as_str()),
        selected: current == Some(f),
    }))
    .collect()
}

#[derive(Template)]
#[template(path = "me.html")]
struct MePage {
    t: &'static Catalogue,
    nav: Nav,
    releases: Vec<ReleaseView>,
    total: u64,
    groups: Vec<GroupView>,
    chart: Chart,
    kinds: Vec<KindOption>,
    /// The filter as a query string, for the page links.
    kind_query: String,
    page: usize,
    pages: usize,
    opt_out: OptOutView,
    /// The opt-out sentence, with its date filled in.
    opt_out_text: String,
}

#[derive(Deserialize)]
struct MeQuery {
    kind: Option<String>,
    page: Option<usize>,
}

async fn me_page(
    State(state): State<AppState>,
    lang: Lang,
    viewer: Viewer,
    Query(query): Query<MeQuery>,
) -> Result<Response, PageError> {
    let which = Which {
        kind: query.kind.clone(),
        ..Which::default()
    };
    let family = which.filter()?.family;
    let citizen = Citizen::of(&state, viewer.account.clone()).await?;
    let found = summary_of(&state, citizen.clone(), family).await?;
    let opt_out = set_opt_out(&state, citizen, None).await?;
    let t = lang.catalogue();
    let opt_out_text = match &opt_out.since {
        Some(since) => t
            .s("me.opted_out")
            .replace("{since}", &crate::citizen::japan_time(since, lang)),
        None => t.s("me.opted_in").to_owned(),
    };
    let releases = found
        .releases
        .iter()
        .cloned()
        .map(ReleaseView::from)
        .collect();
    let summary = summary_view(found, family.map(Family::as_str), lang);
    let pages = summary.groups.len().div_ceil(GROUPS_PER_PAGE).max(1);
    let page = query.page.unwrap_or(1).clamp(1, pages);
    let months: Vec<(String, u64)> = summary
        .months
        .iter()
        .map(|m| (m.month.clone(), m.entries))
        .collect();
    let groups = summary
        .groups
        .into_iter()
        .skip((page - 1) * GROUPS_PER_PAGE)
        .take(GROUPS_PER_PAGE)
        .collect();
    render(&MePage {
        t,
        nav: Nav::new(lang, Some(&viewer)),
        releases,
        total: summary.total,
        groups,
        chart: chart(&months, t, lang),
        kinds: kind_options(t, family),
        kind_query: family.map_or(String::new(), |f| format!("kind={}&", f.as_str())),
        page,
        pages,
        opt_out: crate::citizen::opt_out_view(opt_out),
        opt_out_text,
    })
}

#[derive(Template)]
#[template(path = "me_entries.html")]
struct EntriesPage {
    t: &'static Catalogue,
    nav: Nav,
    /// What the entries are: the month and the project, in words.
    heading: String,
    rows: Vec<AccessView>,
    /// The filter as a query string, for the paging links.
    which: String,
    /// Back to the summary with the same kind.
    back: String,
    newest: bool,
    next_before: Option<u64>,
}

async fn entries_page(
    State(state): State<AppState>,
    lang: Lang,
    viewer: Viewer,
    Query(query): Query<crate::citizen::Page>,
) -> Result<Response, PageError> {
    let which = query.which();
    let filter = which.filter()?;
    let citizen = Citizen::of(&state, viewer.account.clone()).await?;
    let found =
        crate::citizen::accesses_of(&state, citizen, filter, query.before, PAGE_ROWS).await?;
    let t = lang.catalogue();
    let shown = view(found, lang);
    let month = filter
        .month
        .map_or(t.s("me.every_month").to_owned(), |m| month_words(m, lang));
    let project = match filter.project {
        None => t.s("me.every_project").to_owned(),
        Some(None) => t.s("me.platform").to_owned(),
        Some(Some(_)) => shown
            .rows
            .iter()
            .find_map(|r| r.project.as_ref().map(|p| p.title.clone()))
            .unwrap_or_else(|| t.s("me.project").to_owned()),
    };
    render(&EntriesPage {
        t,
        nav: Nav::new(lang, Some(&viewer)),
        heading: format!("{month} — {project}"),
        rows: shown.rows,
        which: which.query(),
        back: filter
            .family
            .map_or("/me".into(), |f| format!("/me?kind={}", f.as_str())),
        newest: query.before.is_none(),
        next_before: shown.next_before,
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
            return Err(PageError::Failed(ApiError::Unprocessable(format!(
                "action: expected refuse or withdraw, not `{}`",
                other.chars().take(20).collect::<String>()
            ))));
        }
    };
    let citizen = Citizen::of(&state, viewer.account).await?;
    set_opt_out(&state, citizen, Some(refuse)).await?;
    Ok(see_other("/me"))
}
