//! The HTML pages: askama templates (`templates/`) over the views of `data`. Askama escapes
//! every value; the only unescaped output is the SVG that `charts` builds and escapes itself,
//! and the money markup of `format::money`, made of numbers and fixed words.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::api::{self, ViewError, model_detail, model_scope, parse_month, report_file, scope_of};
use super::charts::{self, Stacked};
use super::data::{self, TIER_COLOURS};
use super::format;
use super::scope::{PRESETS, Scope, ViewParams, encode};
use crate::report;

const STYLESHEET: &str = include_str!("../../templates/style.css");

/// The frame around every page: navigation, window choices and active filters.
pub struct Chrome {
    pub title: String,
    pub active: &'static str,
    /// The current query string (`?range=7d&tier=flex`), carried into navigation links.
    pub query: String,
    pub window: String,
    pub presets: Vec<Choice>,
    pub filters: Vec<Choice>,
    pub tiers: Vec<Choice>,
}

/// A link with a label; `active` marks the current choice.
pub struct Choice {
    pub label: String,
    pub href: String,
    pub active: bool,
}

impl Chrome {
    fn new(title: &str, active: &'static str, scope: &Scope) -> Chrome {
        let params = &scope.params;
        let current_range = params.range.as_deref().unwrap_or("mtd");
        let custom = params.month.is_some() || params.from.is_some();
        let presets = PRESETS
            .iter()
            .map(|(key, label)| Choice {
                label: label.to_string(),
                href: scope.query_with(&[("range", key)]),
                active: !custom && current_range == *key,
            })
            .collect();
        let filter = &scope.filter;
        let caller_label = if scope.dimension == crate::rollup::IDENTITY_DIMENSION {
            "caller".to_string()
        } else if scope.dimension == crate::rollup::PROFILE_DIMENSION {
            "inference profile".to_string()
        } else {
            scope.dimension.trim_start_matches("meta:").to_string()
        };
        let mut filters = Vec::new();
        for (name, key, value) in [
            ("account", "account", &filter.account),
            ("region", "region", &filter.region),
            ("model", "model", &filter.model),
            ("tier", "tier", &filter.tier),
            (
                caller_label.as_str(),
                "caller",
                &filter.caller.as_ref().map(|c| c.value.clone()),
            ),
        ] {
            if let Some(value) = value {
                filters.push(Choice {
                    label: format!(
                        "{name}: {}",
                        if value.is_empty() { "(not set)" } else { value }
                    ),
                    href: scope.query_with(&[(key, "")]),
                    active: true,
                });
            }
        }
        let tiers = TIER_COLOURS
            .iter()
            .map(|(tier, _)| Choice {
                label: tier.to_string(),
                href: scope.query_with(&[("tier", tier)]),
                active: filter.tier.as_deref() == Some(tier),
            })
            .collect();
        Chrome {
            title: title.to_string(),
            active,
            query: scope.query_with(&[]),
            window: format!(
                "{} ({} – {})",
                scope.window.label,
                scope.window.bounds_text().0,
                scope.window.bounds_text().1
            ),
            presets,
            filters,
            tiers,
        }
    }

    /// The chrome of pages that have no scope (reports, errors).
    pub(super) fn plain(title: &str, active: &'static str) -> Chrome {
        Chrome {
            title: title.to_string(),
            active,
            query: String::new(),
            window: String::new(),
            presets: Vec::new(),
            filters: Vec::new(),
            tiers: Vec::new(),
        }
    }
}

/// An error page with the status of the error.
#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    chrome: Chrome,
    status: u16,
    message: String,
}

fn error_page(error: ViewError) -> Response {
    error.log();
    let status = error.status();
    let page = ErrorPage {
        chrome: Chrome::plain("Error", ""),
        status: status.as_u16(),
        message: error.to_string(),
    };
    html(status, page.render())
}

fn html(status: StatusCode, rendered: askama::Result<String>) -> Response {
    match rendered {
        Ok(body) => (
            status,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            body,
        )
            .into_response(),
        Err(error) => {
            tracing::error!(%error, "rendering a page failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "rendering the page failed\n",
            )
                .into_response()
        }
    }
}

pub(super) fn respond<T: Template>(page: Result<T, ViewError>) -> Response {
    match page {
        Ok(page) => html(StatusCode::OK, page.render()),
        Err(error) => error_page(error),
    }
}

/// The cost and token charts of the last few timelines drawn. A page read again at the same
/// data generation gets the same timeline from the read cache, and drawing its bars (up to
/// 1,500 of them, each with coordinates and a tooltip) was a quarter of the CPU of a cached
/// overview; a timeline is compared whole, so a chart is never reused for other numbers.
#[derive(Default)]
pub struct ChartMemo {
    recent: Mutex<RecentCharts>,
}

/// Timelines drawn, most recent first, with their (cost, tokens) charts.
type RecentCharts = VecDeque<(data::Timeline, Arc<(String, String)>)>;

impl ChartMemo {
    /// Timelines kept: the overview's windows and a few model pages.
    const KEPT: usize = 16;

    /// The charts of `timeline`, drawn now or earlier.
    fn charts(&self, timeline: &data::Timeline) -> Arc<(String, String)> {
        let lookup = |recent: &RecentCharts| {
            recent
                .iter()
                .find(|(drawn, _)| drawn == timeline)
                .map(|(_, charts)| Arc::clone(charts))
        };
        if let Some(charts) = lookup(&self.lock()) {
            return charts;
        }
        // Drawn without the lock: two requests may draw the same charts once each.
        let charts = Arc::new(draw_timeline_charts(timeline));
        let mut recent = self.lock();
        if lookup(&recent).is_none() {
            recent.push_front((timeline.clone(), Arc::clone(&charts)));
            recent.truncate(Self::KEPT);
        }
        charts
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, RecentCharts> {
        self.recent
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Cost and token charts of a timeline.
fn draw_timeline_charts(timeline: &data::Timeline) -> (String, String) {
    let cost = charts::stacked_bars(&Stacked {
        title: "Cost by tier",
        buckets: &timeline.buckets,
        granularity_s: timeline.granularity_s,
        tiers: &timeline.tiers,
        values: timeline
            .cost_pico
            .iter()
            .map(|tier| tier.iter().map(|pico| *pico as f64 / 1e12).collect())
            .collect(),
        unpriced: &timeline.unpriced_invocations,
        format: |usd| {
            if usd < 1.0 && usd > 0.0 {
                format!("${usd:.4}")
            } else {
                format!("${usd:.2}")
            }
        },
    });
    let tokens = charts::stacked_bars(&Stacked {
        title: "Tokens by tier",
        buckets: &timeline.buckets,
        granularity_s: timeline.granularity_s,
        tiers: &timeline.tiers,
        values: timeline
            .tokens
            .iter()
            .map(|tier| tier.iter().map(|tokens| *tokens as f64).collect())
            .collect(),
        unpriced: &[],
        format: short_count,
    });
    (cost, tokens)
}

fn short_count(value: f64) -> String {
    match value {
        v if v >= 1e9 => format!("{:.1}B", v / 1e9),
        v if v >= 1e6 => format!("{:.1}M", v / 1e6),
        v if v >= 1e3 => format!("{:.1}k", v / 1e3),
        v => format!("{v:.0}"),
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "overview.html")]
pub struct OverviewPage {
    chrome: Chrome,
    view: data::Overview,
    cost_chart: String,
    tokens_chart: String,
    latency_chart: String,
    latest_data: String,
}

impl OverviewPage {
    fn build(
        scope: &Scope,
        view: data::Overview,
        charts: &ChartMemo,
        title: &str,
        active: &'static str,
    ) -> OverviewPage {
        let drawn = charts.charts(&view.timeline);
        let (cost_chart, tokens_chart) = (drawn.0.clone(), drawn.1.clone());
        let latency_chart = charts::latency_bars("Latency by tier", &view.latency);
        let latest_data = match (
            &view.freshness.latest_data,
            view.freshness.latest_data_age_s,
        ) {
            (Some(at), Some(age)) => format!("{at} ({} ago)", format::age(age)),
            _ => "no invocations stored yet".into(),
        };
        OverviewPage {
            chrome: Chrome::new(title, active, scope),
            view,
            cost_chart,
            tokens_chart,
            latency_chart,
            latest_data,
        }
    }
}

pub async fn overview(State(state): State<AppState>, Query(params): Query<ViewParams>) -> Response {
    let page = async {
        let scope = scope_of(&state, &params)?;
        let view = data::overview(&state.store, &scope, state.now_s()).await?;
        Ok(OverviewPage::build(
            &scope,
            view,
            &state.charts,
            "Overview",
            "overview",
        ))
    };
    respond(page.await)
}

#[derive(Template, WebTemplate)]
#[template(path = "models.html")]
pub struct ModelsPage {
    chrome: Chrome,
    view: data::ModelsView,
    links: Vec<String>,
}

pub async fn models(State(state): State<AppState>, Query(params): Query<ViewParams>) -> Response {
    let page = async {
        let scope = scope_of(&state, &params)?;
        let view = data::models(&state.store, &scope).await?;
        let query = scope.query_with(&[]);
        let links = view
            .rows
            .iter()
            .map(|row| format!("/models/{}{query}", encode(&row.model_id)))
            .collect();
        Ok(ModelsPage {
            chrome: Chrome::new("Models", "models", &scope),
            view,
            links,
        })
    };
    respond(page.await)
}

#[derive(Template, WebTemplate)]
#[template(path = "model.html")]
pub struct ModelPage {
    chrome: Chrome,
    model_id: String,
    tiers: data::ModelsView,
    overview: OverviewPage,
}

pub async fn model(
    State(state): State<AppState>,
    Path(model): Path<String>,
    Query(params): Query<ViewParams>,
) -> Response {
    let page = async {
        let scope = model_scope(&state, &model, params)?;
        let detail = model_detail(&state, &scope, model.clone()).await?;
        Ok(ModelPage {
            chrome: Chrome::new(&model, "models", &scope),
            model_id: detail.model_id,
            tiers: detail.tiers,
            overview: OverviewPage::build(&scope, detail.overview, &state.charts, &model, "models"),
        })
    };
    respond(page.await)
}

#[derive(Template, WebTemplate)]
#[template(path = "callers.html")]
pub struct CallersPage {
    chrome: Chrome,
    view: data::CallersView,
    dimensions: Vec<Choice>,
    /// Per caller: the link that filters every page to it.
    links: Vec<String>,
}

pub async fn callers(State(state): State<AppState>, Query(params): Query<ViewParams>) -> Response {
    let page = async {
        let scope = scope_of(&state, &params)?;
        let view = data::callers(&state.store, &scope).await?;
        let dimensions = view
            .dimensions
            .iter()
            .map(|dimension| {
                let key = dimension.trim_start_matches("meta:");
                Choice {
                    label: if key == "identity" {
                        "identity.arn".into()
                    } else {
                        key.to_string()
                    },
                    href: format!(
                        "/callers{}",
                        scope.query_with(&[("by", key), ("caller", "")])
                    ),
                    active: *dimension == view.dimension,
                }
            })
            .collect();
        let by = view.dimension.trim_start_matches("meta:").to_string();
        let links = view
            .callers
            .iter()
            .map(|group| {
                format!(
                    "/{}",
                    scope.query_with(&[("by", &by), ("caller", &group.caller)])
                )
            })
            .collect();
        Ok(CallersPage {
            chrome: Chrome::new("Callers", "callers", &scope),
            view,
            dimensions,
            links,
        })
    };
    respond(page.await)
}

#[derive(Template, WebTemplate)]
#[template(path = "quotas.html")]
pub struct QuotasPage {
    chrome: Chrome,
    view: data::QuotasView,
}

impl QuotasPage {
    fn percent(value: &Option<f64>) -> String {
        format::percent(*value)
    }
    fn number(value: &Option<f64>) -> String {
        value.map_or_else(|| "–".into(), |value| format::count(value.round() as i64))
    }
    fn quota(value: &f64) -> String {
        format::count(value.round() as i64)
    }
    /// Width of the usage bar, 0–100.
    fn bar(used: &Option<f64>) -> u32 {
        (used.unwrap_or(0.0).clamp(0.0, 1.0) * 100.0).round() as u32
    }
}

pub async fn quotas(State(state): State<AppState>, Query(params): Query<ViewParams>) -> Response {
    let page = async {
        let scope = scope_of(&state, &params)?;
        let view = data::quotas(&state.store, &scope).await?;
        Ok(QuotasPage {
            chrome: Chrome::new("Quotas", "quotas", &scope),
            view,
        })
    };
    respond(page.await)
}

#[derive(Template, WebTemplate)]
#[template(path = "reports.html")]
pub struct ReportsPage {
    chrome: Chrome,
    view: data::ReportsView,
}

pub async fn reports(State(state): State<AppState>) -> Response {
    let page = async {
        let view = data::reports(&state.store).await?;
        Ok(ReportsPage {
            chrome: Chrome::plain("Reports", "reports"),
            view,
        })
    };
    respond(page.await)
}

#[derive(Template, WebTemplate)]
#[template(path = "report.html")]
pub struct ReportPage {
    chrome: Chrome,
    month: String,
    rows: Vec<ReportLine>,
    total: ReportLine,
    unpriced: Vec<crate::store::UnpricedGroup>,
    reservations: Vec<ReservationLine>,
}

/// One reservation's month, formatted for print.
pub struct ReservationLine {
    name: String,
    region: String,
    model_id: String,
    tpm: String,
    days: u32,
    fixed: String,
    served_calls: i64,
    served_tokens: i64,
    effective: String,
    standard: String,
    overflow_calls: String,
    overflow_cost: String,
}

impl ReservationLine {
    fn of(month: &crate::reservations::ReservationMonth) -> ReservationLine {
        use crate::model::Money;
        use crate::reservations::FixedCost;
        let r = &month.reservation;
        ReservationLine {
            name: r.name.clone(),
            region: r.region.clone(),
            model_id: r.model_id.clone(),
            tpm: format!("{} / {}", r.input_tpm, r.output_tpm),
            days: month.days,
            fixed: match &month.fixed_cost {
                FixedCost::Known { pico, basis } => {
                    format!("${} ({basis})", Money::format_usd(*pico))
                }
                FixedCost::Unknown { reason } => format!("unpriced: {reason}"),
            },
            served_calls: month.served.invocations,
            served_tokens: month.served_tokens(),
            effective: month.effective_per_million_pico().map_or_else(
                || "—".to_string(),
                |pico| format!("${}", Money::format_usd(pico)),
            ),
            standard: format!("${}", Money::format_usd(month.standard_equivalent_pico)),
            overflow_calls: crate::report::overflow_calls(month),
            overflow_cost: match &month.overflow {
                Some(overflow) => format!("${}", Money::format_usd(overflow.cost_pico)),
                None => crate::report::overflow_cost(month),
            },
        }
    }
}

/// One report row, formatted for print (money as `format::money` HTML).
pub struct ReportLine {
    account_id: String,
    region: String,
    model_id: String,
    tier: String,
    invocations: String,
    input_tokens: String,
    output_tokens: String,
    cost: String,
    premium: String,
    savings: String,
    unpriced: String,
    p50: String,
    p95: String,
}

impl ReportLine {
    fn of(row: &report::ReportRow) -> ReportLine {
        let t = &row.totals;
        ReportLine {
            account_id: row.key.account_id.clone(),
            region: row.key.region.clone(),
            model_id: row.key.model_id.clone(),
            tier: row.key.tier.clone(),
            invocations: format::count(t.invocations),
            input_tokens: format::count(
                t.input_tokens + t.cache_read_tokens + t.cache_write_tokens,
            ),
            output_tokens: format::count(t.output_tokens),
            cost: format::money(&row.cost()),
            premium: format::money(&row.premium()),
            savings: format::money(&row.savings()),
            unpriced: format::count(t.unpriced_invocations),
            p50: format::millis(row.p50_latency_ms),
            p95: format::millis(row.p95_latency_ms),
        }
    }
}

/// `/reports/2025-12` (printable HTML), `/reports/2025-12.csv`, `/reports/2025-12.json`.
pub async fn report(State(state): State<AppState>, Path(file): Path<String>) -> Response {
    let result = async {
        let (month, ext) = match file.rsplit_once('.') {
            Some((month, ext)) => (month, Some(ext)),
            None => (file.as_str(), None),
        };
        let month = parse_month(month)?;
        let built = report::build_for(&state.store, month, &state.pricing).await?;
        Ok::<Response, ViewError>(match ext {
            Some("csv") => report_file(built.to_csv(), "text/csv; charset=utf-8", month, "csv"),
            Some("json") => report_file(built.to_json(), "application/json", month, "json"),
            Some(other) => {
                return Err(ViewError::NotFound(format!(
                    "no report format {other:?}: use .csv or .json"
                )));
            }
            None => {
                let page = ReportPage {
                    chrome: Chrome::plain(&format!("Report {month}"), "reports"),
                    month: month.to_string(),
                    rows: built.rows.iter().map(ReportLine::of).collect(),
                    total: ReportLine::of(&built.total),
                    unpriced: built.unpriced,
                    reservations: built.reservations.iter().map(ReservationLine::of).collect(),
                };
                html(StatusCode::OK, page.render())
            }
        })
    };
    match result.await {
        Ok(response) => response,
        Err(error) => error_page(error),
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "health.html")]
pub struct HealthPage {
    chrome: Chrome,
    view: data::HealthView,
    latest_data: String,
    now_s: i64,
}

impl HealthPage {
    fn ago(&self, at_ms: &Option<i64>) -> String {
        at_ms.map_or_else(
            || "never".into(),
            |at| format!("{} ago", format::age((self.now_s - at / 1000).max(0))),
        )
    }
    fn ago_ms(&self, at_ms: &i64) -> String {
        self.ago(&Some(*at_ms))
    }
    fn lag(lag_ms: &Option<i64>) -> String {
        lag_ms.map_or_else(|| "–".into(), |lag| format::age(lag / 1000))
    }
}

pub async fn health(State(state): State<AppState>, Query(params): Query<ViewParams>) -> Response {
    let page = async {
        let scope = scope_of(&state, &params)?;
        let now_s = state.now_s();
        let view = data::health(&state.store, &scope, now_s).await?;
        let latest_data = view
            .freshness
            .latest_data
            .clone()
            .unwrap_or_else(|| "no invocations stored yet".into());
        Ok(HealthPage {
            chrome: Chrome::new("Data health", "health", &scope),
            view,
            latest_data,
            now_s,
        })
    };
    respond(page.await)
}

#[derive(Template, WebTemplate)]
#[template(path = "alerts.html")]
pub struct AlertsPage {
    chrome: Chrome,
    view: data::AlertsView,
}

impl AlertsPage {
    fn when(at_ms: &i64) -> String {
        super::scope::rfc3339(at_ms.div_euclid(1000))
    }
}

pub async fn alerts(State(state): State<AppState>) -> Response {
    let page = async {
        let view = data::alerts(&state.store, &state.alerts).await?;
        Ok(AlertsPage {
            chrome: Chrome::plain("Alerts", "alerts"),
            view,
        })
    };
    respond(page.await)
}

pub async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        STYLESHEET,
    )
        .into_response()
}

pub async fn not_found(uri: axum::http::Uri) -> Response {
    if uri.path().starts_with("/api/") {
        return api::ViewError::NotFound(format!("no API endpoint at {}", uri.path()))
            .into_response();
    }
    error_page(ViewError::NotFound(format!("no page at {}", uri.path())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timeline(cost_pico: i128) -> data::Timeline {
        data::Timeline {
            granularity_s: 3_600,
            buckets: vec![0, 3_600],
            tiers: vec!["standard".into()],
            cost_usd: vec![vec![None, None]],
            cost_status: vec![vec![crate::store::CostStatus::Priced; 2]],
            unpriced_invocations: vec![vec![0, 0]],
            tokens: vec![vec![10, 20]],
            invocations: vec![vec![1, 2]],
            cost_pico: vec![vec![cost_pico, 2_000_000_000_000]],
        }
    }

    #[test]
    fn charts_are_drawn_once_per_timeline_and_again_for_other_numbers() {
        let memo = ChartMemo::default();
        let first = memo.charts(&timeline(1_000_000_000_000));
        let again = memo.charts(&timeline(1_000_000_000_000));
        assert!(
            Arc::ptr_eq(&first, &again),
            "the same timeline reuses its charts"
        );
        assert_eq!(*first, draw_timeline_charts(&timeline(1_000_000_000_000)));
        let other = memo.charts(&timeline(3_000_000_000_000));
        assert!(!Arc::ptr_eq(&first, &other));
        assert_ne!(first.0, other.0, "other numbers draw other bars");
        // Only the last KEPT timelines are kept.
        for cost in 0..ChartMemo::KEPT as i128 {
            memo.charts(&timeline(cost));
        }
        assert!(!Arc::ptr_eq(
            &first,
            &memo.charts(&timeline(1_000_000_000_000))
        ));
    }
}
