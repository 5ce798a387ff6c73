//! What each page shows, computed from rollups (never raw invocations) and returned as plain
//! structs: the HTML pages render them, the JSON API serializes them as they are.
//!
//! Every amount of money carries the cost status of the calls it covers (`CostStatus`): it
//! is `null` in the API (and "unpriced" on the pages) when none of them has a price, and the
//! priced calls' amount, marked `partial`, when some of them have none.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::config::{AlertsConfig, RuleConfig, RuleKind, RuleWindow};
use crate::coverage::Forms;
use crate::model::{Money, Tier};
use crate::report::Month;
use crate::rollup::{Granularity, latency};
use crate::store::alerts::{AlertEvent, Delivery, StoredAlert};
use crate::store::{
    AggregateRow, CellSpan, CostAmount, CostStatus, CoverageRow, Filter, Grouping, HistogramRow,
    LatencyHistograms, QuarantineGroup, Result, SourceHealth, Store, StoreError, Totals,
    UnpricedGroup,
};

use super::scope::{CellsKept, Scope, Window, rfc3339};

/// Tiers in display order, with their fixed colours (the same on every chart and page).
pub const TIER_COLOURS: [(&str, &str); 4] = [
    ("priority", "#c2410c"),
    ("standard", "#2563eb"),
    ("flex", "#15803d"),
    ("reserved", "#7c3aed"),
];

/// The colour of a tier (grey for anything unexpected).
pub fn tier_colour(tier: &str) -> &'static str {
    TIER_COLOURS
        .iter()
        .find(|(name, _)| *name == tier)
        .map_or("#6b7280", |(_, colour)| colour)
}

fn tier_rank(tier: &str) -> usize {
    Tier::from_stored(tier).map_or(Tier::ALL.len(), |tier| tier as usize)
}

/// The window and filters a view was computed for.
#[derive(Debug, Clone, Serialize)]
pub struct ScopeInfo {
    pub window: String,
    pub start: String,
    pub end: String,
    pub account: Option<String>,
    pub region: Option<String>,
    pub model: Option<String>,
    pub tier: Option<String>,
    pub caller_dimension: String,
    pub caller: Option<String>,
}

impl ScopeInfo {
    fn of(scope: &Scope) -> ScopeInfo {
        let (start, end) = scope.window.bounds_text();
        let filter = &scope.filter;
        ScopeInfo {
            window: scope.window.label.clone(),
            start,
            end,
            account: filter.account.clone(),
            region: filter.region.clone(),
            model: filter.model.clone(),
            tier: filter.tier.clone(),
            caller_dimension: scope.dimension.clone(),
            caller: filter.caller.as_ref().map(|caller| caller.value.clone()),
        }
    }
}

/// Latency percentiles of a group, read from its merged histogram (±4.5 %).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Latency {
    pub samples: u64,
    pub p50_ms: Option<u64>,
    pub p95_ms: Option<u64>,
    pub p99_ms: Option<u64>,
}

impl Latency {
    fn of(bins: &[(i16, u64)]) -> Latency {
        Latency {
            samples: bins.iter().map(|(_, count)| count).sum(),
            p50_ms: latency::quantile(bins, 0.50),
            p95_ms: latency::quantile(bins, 0.95),
            p99_ms: latency::quantile(bins, 0.99),
        }
    }
}

/// One line of a table: a tier, a model × tier or a caller × tier.
#[derive(Debug, Clone, Serialize)]
pub struct Line {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub model_id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub tier: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub caller: Option<String>,
    pub invocations: i64,
    pub errors: i64,
    pub error_rate: Option<f64>,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cache_read_tokens: i64,
    pub cache_write_tokens: i64,
    /// `null` when none of the calls has a price; the priced calls' cost when `partial`.
    pub cost_usd: Option<String>,
    pub cost_status: CostStatus,
    pub standard_equivalent_usd: Option<String>,
    /// Over the line's Priority calls: `null` when they are all unpriced.
    pub priority_premium_usd: Option<String>,
    /// Over the line's Flex calls: `null` when they are all unpriced.
    pub flex_savings_usd: Option<String>,
    pub unpriced_invocations: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency: Option<Latency>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_to_first_token: Option<Latency>,
    /// Throttled ÷ (invocations + throttled), from CloudWatch metrics, when they are polled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub throttle_rate: Option<f64>,
    #[serde(skip)]
    pub cost_pico: i128,
    #[serde(skip)]
    pub cost: CostAmount,
    #[serde(skip)]
    pub premium: CostAmount,
    #[serde(skip)]
    pub savings: CostAmount,
}

impl Line {
    fn new(model_id: &str, tier: &str, caller: Option<&str>, totals: &Totals) -> Line {
        let above = totals.coverage().amount(totals.above_standard_pico());
        let none = CostAmount::default();
        let (premium, savings) = match Tier::from_stored(tier) {
            Some(Tier::Priority) => (above, none),
            Some(Tier::Flex) => (none, above.coverage.amount(-above.pico)),
            _ => (none, none),
        };
        let cost = totals.cost();
        Line {
            model_id: model_id.to_string(),
            tier: tier.to_string(),
            caller: caller.map(str::to_string),
            invocations: totals.invocations,
            errors: totals.errors,
            error_rate: ratio(totals.errors as f64, totals.invocations as f64),
            input_tokens: totals.input_tokens,
            output_tokens: totals.output_tokens,
            cache_read_tokens: totals.cache_read_tokens,
            cache_write_tokens: totals.cache_write_tokens,
            cost_usd: cost.usd(),
            cost_status: cost.status(),
            standard_equivalent_usd: totals.standard_equivalent().usd(),
            priority_premium_usd: premium.usd(),
            flex_savings_usd: savings.usd(),
            unpriced_invocations: totals.unpriced_invocations,
            latency: None,
            time_to_first_token: None,
            throttle_rate: None,
            cost_pico: totals.cost_pico,
            cost,
            premium,
            savings,
        }
    }

    /// Sets the premium and savings of a total line: each over its tier's calls.
    fn set_premium_and_savings(&mut self, premium: CostAmount, savings: CostAmount) {
        self.priority_premium_usd = premium.usd();
        self.flex_savings_usd = savings.usd();
        self.premium = premium;
        self.savings = savings;
    }
}

fn ratio(part: f64, whole: f64) -> Option<f64> {
    (whole > 0.0).then(|| part / whole)
}

/// Money split by tier, with its total. Each amount is `null` when none of its calls has a
/// price, and `partial` (the priced calls' amount) when some have none.
#[derive(Debug, Clone, Serialize)]
pub struct Spend {
    pub total_usd: Option<String>,
    pub cost_status: CostStatus,
    /// Calls the total leaves out for want of a price.
    pub unpriced_invocations: i64,
    pub by_tier: Vec<TierAmount>,
    #[serde(skip)]
    pub total_cost: CostAmount,
}

#[derive(Debug, Clone, Serialize)]
pub struct TierAmount {
    pub tier: String,
    pub usd: Option<String>,
    pub cost_status: CostStatus,
    pub unpriced_invocations: i64,
    #[serde(skip)]
    pub cost: CostAmount,
}

impl Spend {
    fn from_amounts(by_tier: BTreeMap<usize, (String, CostAmount)>) -> Spend {
        let mut total = CostAmount::default();
        for (_, amount) in by_tier.values() {
            total.add(*amount);
        }
        Spend {
            total_usd: total.usd(),
            cost_status: total.status(),
            unpriced_invocations: total.unpriced_invocations(),
            by_tier: by_tier
                .into_values()
                .map(|(tier, cost)| TierAmount {
                    usd: cost.usd(),
                    cost_status: cost.status(),
                    unpriced_invocations: cost.unpriced_invocations(),
                    tier,
                    cost,
                })
                .collect(),
            total_cost: total,
        }
    }

    fn of<'r>(rows: impl IntoIterator<Item = &'r AggregateRow>) -> Spend {
        let mut by_tier: BTreeMap<usize, (String, CostAmount)> = BTreeMap::new();
        for row in rows {
            tier_entry(&mut by_tier, &row.tier).1.add(row.totals.cost());
        }
        Spend::from_amounts(by_tier)
    }
}

/// The amount of a tier in a by-tier map, created empty.
fn tier_entry<'a>(
    by_tier: &'a mut BTreeMap<usize, (String, CostAmount)>,
    tier: &str,
) -> &'a mut (String, CostAmount) {
    by_tier
        .entry(tier_rank(tier))
        .or_insert_with(|| (tier.to_string(), CostAmount::default()))
}

/// Values per bucket and tier, for charts: `values[t][b]` is tier `t` in bucket `b`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Timeline {
    pub granularity_s: i64,
    pub buckets: Vec<i64>,
    pub tiers: Vec<String>,
    /// Cost, USD with six decimals, per tier and bucket; `null` where none of the calls has a
    /// price.
    pub cost_usd: Vec<Vec<Option<String>>>,
    pub cost_status: Vec<Vec<CostStatus>>,
    pub unpriced_invocations: Vec<Vec<i64>>,
    pub tokens: Vec<Vec<i64>>,
    pub invocations: Vec<Vec<i64>>,
    #[serde(skip)]
    pub cost_pico: Vec<Vec<i128>>,
}

impl Timeline {
    fn of(span: CellSpan, rows: &[AggregateRow]) -> Timeline {
        let step = span.granularity.seconds();
        let buckets: Vec<i64> = (span.start_s..span.end_s).step_by(step as usize).collect();
        let mut tiers: Vec<String> = rows.iter().map(|row| row.tier.clone()).collect();
        tiers.sort_by_key(|tier| tier_rank(tier));
        tiers.dedup();
        let mut cost = vec![vec![CostAmount::default(); buckets.len()]; tiers.len()];
        let mut tokens = vec![vec![0i64; buckets.len()]; tiers.len()];
        let mut invocations = vec![vec![0i64; buckets.len()]; tiers.len()];
        for row in rows {
            let (Some(t), Ok(b)) = (
                tiers.iter().position(|tier| *tier == row.tier),
                usize::try_from((row.bucket_start - span.start_s) / step),
            ) else {
                continue;
            };
            if b < buckets.len() {
                cost[t][b].add(row.totals.cost());
                tokens[t][b] += row.totals.total_tokens();
                invocations[t][b] += row.totals.invocations;
            }
        }
        Timeline {
            granularity_s: step,
            cost_usd: per_cell(&cost, CostAmount::usd),
            cost_status: per_cell(&cost, CostAmount::status),
            unpriced_invocations: per_cell(&cost, CostAmount::unpriced_invocations),
            cost_pico: per_cell(&cost, |amount| amount.pico),
            buckets,
            tiers,
            tokens,
            invocations,
        }
    }
}

/// One value of each tier × bucket amount.
fn per_cell<T>(cost: &[Vec<CostAmount>], of: impl Fn(&CostAmount) -> T) -> Vec<Vec<T>> {
    cost.iter()
        .map(|tier| tier.iter().map(&of).collect())
        .collect()
}

/// Latency of one tier, with Flex and Priority compared to Standard.
#[derive(Debug, Clone, Serialize)]
pub struct TierLatency {
    pub tier: String,
    pub latency: Latency,
    pub time_to_first_token: Latency,
    /// This tier's p50 ÷ Standard's p50 (and p95), over the same window and filters.
    pub p50_vs_standard: Option<f64>,
    pub p95_vs_standard: Option<f64>,
}

/// When data last arrived, and how each source's last poll went.
#[derive(Debug, Clone, Serialize)]
pub struct Freshness {
    /// Start of the latest minute with invocations, RFC 3339.
    pub latest_data: Option<String>,
    pub latest_data_age_s: Option<i64>,
    pub sources: Vec<SourceHealth>,
}

/// The overview page.
#[derive(Debug, Clone, Serialize)]
pub struct Overview {
    pub scope: ScopeInfo,
    pub today: Spend,
    pub month_to_date: Spend,
    /// Month to date plus the last 7 whole days' average spend for the rest of the month.
    pub forecast_month_end: Spend,
    pub forecast_basis: String,
    /// Totals of the window, per tier, and all together.
    pub tiers: Vec<Line>,
    pub total: Line,
    pub timeline: Timeline,
    /// Why the chart is coarser than the window asks, when it is (retention).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeline_note: Option<String>,
    pub latency: Vec<TierLatency>,
    /// Why latency is missing, when it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_note: Option<String>,
    pub freshness: Freshness,
    /// Alerts firing or pending now, most severe first.
    pub active_alerts: Vec<StoredAlert>,
}

/// A window's totals, and its latency histograms where they are kept (not per caller).
struct WindowTotals {
    rows: Vec<AggregateRow>,
    histograms: Option<LatencyHistograms>,
}

/// The cells a scope reads: its caller's cells when it filters a caller, its series' cells
/// otherwise; how fine, the fine cells' horizon decides.
async fn cells_kept(store: &Store, scope: &Scope) -> Result<CellsKept> {
    Ok(CellsKept {
        callers: scope.by_caller(),
        fine_cells_from_s: store.fine_cells_from().await?,
    })
}

async fn window_totals(
    store: &Store,
    scope: &Scope,
    cells: CellsKept,
    group: Grouping,
) -> Result<WindowTotals> {
    let span = scope.window.totals_span(cells);
    let histograms = async {
        if cells.callers {
            Ok(None)
        } else {
            store.histograms(span, &scope.filter, group).await.map(Some)
        }
    };
    let (rows, histograms) =
        tokio::try_join!(store.aggregate(span, &scope.filter, group), histograms)?;
    Ok(WindowTotals { rows, histograms })
}

/// What the overview reads besides the window's totals.
struct OverviewReads {
    chart_span: CellSpan,
    chart_note: Option<String>,
    chart_rows: Vec<AggregateRow>,
    spend: (Spend, Spend, Spend),
    freshness: Freshness,
    active_alerts: Vec<StoredAlert>,
}

async fn overview_reads(
    store: &Store,
    scope: &Scope,
    cells: CellsKept,
    now_s: i64,
) -> Result<OverviewReads> {
    let chart_span = scope.window.chart_span(cells);
    let every_cell_kept = CellsKept {
        fine_cells_from_s: i64::MIN,
        ..cells
    };
    let chart_note = (scope.window.chart_span(every_cell_kept) != chart_span).then(|| {
        format!(
            "{} are kept from {} on (retention.minute_cells): this window starts earlier, so \
             its chart shows {}.",
            if cells.callers {
                "Hourly figures per caller"
            } else {
                "Minute figures"
            },
            rfc3339(cells.fine_cells_from_s),
            if cells.callers { "days" } else { "hours" },
        )
    });
    // The reads are independent: run them side by side (each on its own connection).
    let (chart_rows, spend, freshness, active_alerts) = tokio::try_join!(
        store.aggregate(chart_span, &scope.filter, Grouping::BUCKET_TIER),
        spend_summary(store, &scope.filter, now_s),
        freshness(store, now_s),
        active_alerts(store),
    )?;
    Ok(OverviewReads {
        chart_span,
        chart_note,
        chart_rows,
        spend,
        freshness,
        active_alerts,
    })
}

/// Builds the overview of a scope at `now_s`.
pub async fn overview(store: &Store, scope: &Scope, now_s: i64) -> Result<Overview> {
    let cells = cells_kept(store, scope).await?;
    let (totals, reads) = tokio::try_join!(
        window_totals(store, scope, cells, Grouping::TIER),
        overview_reads(store, scope, cells, now_s),
    )?;
    Ok(assemble_overview(scope, &totals, reads))
}

/// A model's page: the lines of its tiers and its overview. The scope filters the model, so
/// its (model, tier) groups are the overview's tier groups: the window's totals and
/// histograms are read once for both.
pub async fn model_page(
    store: &Store,
    scope: &Scope,
    now_s: i64,
) -> Result<(ModelsView, Overview)> {
    let cells = cells_kept(store, scope).await?;
    let (totals, throttles, reads) = tokio::try_join!(
        window_totals(store, scope, cells, Grouping::MODEL_TIER),
        throttle_rates(store, scope),
        overview_reads(store, scope, cells, now_s),
    )?;
    Ok((
        models_view(scope, &totals, &throttles),
        assemble_overview(scope, &totals, reads),
    ))
}

fn assemble_overview(scope: &Scope, totals: &WindowTotals, reads: OverviewReads) -> Overview {
    let (tiers, total) = tier_lines(&totals.rows);
    let latency = totals
        .histograms
        .as_ref()
        .map(tier_latency)
        .unwrap_or_default();
    let latency_note = scope
        .by_caller()
        .then(|| "Latency is not kept per caller: clear the caller filter to see it.".to_string());
    let (today, month_to_date, forecast_month_end) = reads.spend;
    Overview {
        scope: ScopeInfo::of(scope),
        today,
        month_to_date,
        forecast_month_end,
        forecast_basis: "month to date + the last 7 whole days' average spend × the time left"
            .into(),
        tiers,
        total,
        timeline: Timeline::of(reads.chart_span, &reads.chart_rows),
        timeline_note: reads.chart_note,
        latency,
        latency_note,
        freshness: reads.freshness,
        active_alerts: reads.active_alerts,
    }
}

/// Alerts firing or pending, critical first.
pub async fn active_alerts(store: &Store) -> Result<Vec<StoredAlert>> {
    let mut active: Vec<StoredAlert> = store
        .alert_states()
        .await?
        .into_iter()
        .filter(|alert| alert.state == "firing" || alert.state == "pending")
        .collect();
    let rank = |alert: &StoredAlert| {
        (
            alert.state != "firing",
            match alert.severity.as_str() {
                "critical" => 0,
                "warning" => 1,
                _ => 2,
            },
        )
    };
    active.sort_by(|a, b| rank(a).cmp(&rank(b)).then_with(|| a.rule.cmp(&b.rule)));
    Ok(active)
}

/// One line per tier, in display order; rows of the same tier (other models) add up.
fn tier_lines(rows: &[AggregateRow]) -> (Vec<Line>, Line) {
    let mut by_tier: BTreeMap<usize, (&str, Totals)> = BTreeMap::new();
    let mut all = Totals::default();
    for row in rows {
        all.add(&row.totals);
        by_tier
            .entry(tier_rank(&row.tier))
            .or_insert_with(|| (&row.tier, Totals::default()))
            .1
            .add(&row.totals);
    }
    let lines: Vec<Line> = by_tier
        .values()
        .map(|(tier, totals)| Line::new("", tier, None, totals))
        .collect();
    let total = total_line(&lines, &all, None);
    (lines, total)
}

/// The total line of per-tier lines. A line's premium and savings exist only on Priority
/// and Flex lines (they compare a tier with Standard), so the total's are the sums of its
/// lines', each over all Priority (Flex) calls, priced or not.
fn total_line<'a>(
    lines: impl IntoIterator<Item = &'a Line>,
    all: &Totals,
    caller: Option<&str>,
) -> Line {
    let mut premium = CostAmount::default();
    let mut savings = CostAmount::default();
    for line in lines {
        premium.add(line.premium);
        savings.add(line.savings);
    }
    let mut total = Line::new("", "", caller, all);
    total.set_premium_and_savings(premium, savings);
    total
}

/// Today, month to date and the month-end forecast, per tier (independent of the window).
/// Alerts' forecast budgets use the same numbers.
pub async fn spend_summary(
    store: &Store,
    filter: &Filter,
    now_s: i64,
) -> Result<(Spend, Spend, Spend)> {
    const DAY: i64 = 86_400;
    const RATE_DAYS: i64 = 7;
    let today_start = now_s - now_s.rem_euclid(DAY);
    let month = Month::containing(now_s * 1000)
        .ok_or_else(|| StoreError::Inconsistent(format!("the clock ({now_s}) is out of range")))?;
    let month_start = month.start_ms() / 1000;
    let month_end = month.end_ms() / 1000;
    // The run rate comes from the last 7 whole days. Early in a month some of those days are
    // last month's: their unpriced calls are left out of the forecast too, so they count in
    // its coverage. One read of day cells per tier covers today, the month and those days.
    let rate_start = today_start - RATE_DAYS * DAY;
    let read_start = rate_start.min(month_start);
    let days_read = CellSpan {
        granularity: Granularity::Day,
        start_s: read_start,
        end_s: today_start + DAY,
    };
    let days = store
        .aggregate(days_read, filter, Grouping::BUCKET_TIER)
        .await?;
    let within = |start_s: i64, end_s: i64| {
        days.iter()
            .filter(move |row| (start_s..end_s).contains(&row.bucket_start))
    };
    let today = Spend::of(within(today_start, today_start + DAY));
    let month_to_date = Spend::of(within(month_start, today_start + DAY));
    // The rest of the month at last week's average rate of priced calls, per tier, in whole
    // picodollars (integer arithmetic: a forecast is not money spent, but it adds up). It
    // covers the calls of the month so far and of the days that set the rate.
    let seconds_left = i128::from((month_end - now_s).max(0));
    let mut forecast: BTreeMap<usize, (String, CostAmount)> = month_to_date
        .by_tier
        .iter()
        .map(|amount| (tier_rank(&amount.tier), (amount.tier.clone(), amount.cost)))
        .collect();
    // The week's cost per tier is summed before it is scaled, so the forecast rounds once.
    let mut last_week: BTreeMap<&str, i128> = BTreeMap::new();
    for row in within(rate_start, today_start) {
        *last_week.entry(&row.tier).or_default() += row.totals.cost_pico;
        if row.bucket_start < month_start {
            let amount = &mut tier_entry(&mut forecast, &row.tier).1;
            amount.coverage.add(row.totals.coverage());
        }
    }
    for (tier, week_pico) in last_week {
        let rest = week_pico * seconds_left / i128::from(RATE_DAYS * DAY);
        tier_entry(&mut forecast, tier).1.pico += rest;
    }
    Ok((today, month_to_date, Spend::from_amounts(forecast)))
}

fn tier_latency(histograms: &LatencyHistograms) -> Vec<TierLatency> {
    let (total, first) = (&histograms.total, &histograms.first_token);
    let of = |rows: &[HistogramRow], tier: &str| {
        rows.iter()
            .find(|row| row.tier == tier)
            .map(|row| Latency::of(&row.bins))
            .unwrap_or_default()
    };
    let mut tiers: Vec<String> = total.iter().map(|row| row.tier.clone()).collect();
    tiers.sort_by_key(|tier| tier_rank(tier));
    tiers.dedup();
    let standard = of(total, "standard");
    let versus = |mine: Option<u64>, theirs: Option<u64>| match (mine, theirs) {
        (Some(mine), Some(theirs)) if theirs > 0 => Some(mine as f64 / theirs as f64),
        _ => None,
    };
    tiers
        .into_iter()
        .map(|tier| {
            let latency = of(total, &tier);
            TierLatency {
                p50_vs_standard: versus(latency.p50_ms, standard.p50_ms),
                p95_vs_standard: versus(latency.p95_ms, standard.p95_ms),
                time_to_first_token: of(first, &tier),
                latency,
                tier,
            }
        })
        .collect()
}

async fn freshness(store: &Store, now_s: i64) -> Result<Freshness> {
    let latest = store.latest_minute().await?;
    Ok(Freshness {
        latest_data: latest.map(rfc3339),
        latest_data_age_s: latest.map(|minute| (now_s - minute - 60).max(0)),
        sources: store.source_health().await?,
    })
}

/// The models page, or one model's page when the scope filters a model.
#[derive(Debug, Clone, Serialize)]
pub struct ModelsView {
    pub scope: ScopeInfo,
    pub rows: Vec<Line>,
    pub total: Line,
    /// Whether throttle rates come from CloudWatch metrics in this window.
    pub throttles_measured: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Model × tier lines of the window.
pub async fn models(store: &Store, scope: &Scope) -> Result<ModelsView> {
    let cells = cells_kept(store, scope).await?;
    let (totals, throttles) = tokio::try_join!(
        window_totals(store, scope, cells, Grouping::MODEL_TIER),
        throttle_rates(store, scope),
    )?;
    Ok(models_view(scope, &totals, &throttles))
}

/// The models view of a window's (model, tier) totals.
fn models_view(scope: &Scope, totals: &WindowTotals, throttles: &ThrottleRates) -> ModelsView {
    let mut lines: Vec<Line> = totals
        .rows
        .iter()
        .map(|row| Line::new(&row.model_id, &row.tier, None, &row.totals))
        .collect();
    let mut all = Totals::default();
    for row in &totals.rows {
        all.add(&row.totals);
    }
    let note = scope
        .by_caller()
        .then(|| "Latency and throttles are not kept per caller.".to_string());
    for line in &mut lines {
        if let Some(histograms) = &totals.histograms {
            let find = |rows: &[HistogramRow]| {
                rows.iter()
                    .find(|row| row.model_id == line.model_id && row.tier == line.tier)
                    .map(|row| Latency::of(&row.bins))
            };
            line.latency = find(&histograms.total);
            line.time_to_first_token = find(&histograms.first_token);
        }
        line.throttle_rate = throttles
            .get(&(line.model_id.clone(), line.tier.clone()))
            .or_else(|| throttles.get(&(line.model_id.clone(), String::new())))
            .copied();
    }
    lines.sort_by(|a, b| {
        b.cost_pico
            .cmp(&a.cost_pico)
            .then_with(|| a.model_id.cmp(&b.model_id))
            .then_with(|| tier_rank(&a.tier).cmp(&tier_rank(&b.tier)))
    });
    // Keep each model's tiers together, models by their total cost.
    let mut model_cost: BTreeMap<String, i128> = BTreeMap::new();
    for line in &lines {
        *model_cost.entry(line.model_id.clone()).or_default() += line.cost_pico;
    }
    lines.sort_by(|a, b| {
        model_cost[&b.model_id]
            .cmp(&model_cost[&a.model_id])
            .then_with(|| a.model_id.cmp(&b.model_id))
            .then_with(|| tier_rank(&a.tier).cmp(&tier_rank(&b.tier)))
    });
    ModelsView {
        scope: ScopeInfo::of(scope),
        total: total_line(&lines, &all, None),
        rows: lines,
        throttles_measured: !throttles.is_empty(),
        note,
    }
}

/// Throttle rate per (model, tier); the tier is empty where the metrics count all tiers
/// together.
type ThrottleRates = BTreeMap<(String, String), f64>;

/// Throttle rates from CloudWatch metrics; none for a caller view (metrics know no callers).
async fn throttle_rates(store: &Store, scope: &Scope) -> Result<ThrottleRates> {
    if scope.by_caller() {
        return Ok(ThrottleRates::new());
    }
    let window: &Window = &scope.window;
    let throttled = store
        .sum_metric_points("InvocationThrottles", "Sum", window.start_s, window.end_s)
        .await?;
    if throttled.is_empty() {
        return Ok(BTreeMap::new());
    }
    let invoked = store
        .sum_metric_points("Invocations", "Sum", window.start_s, window.end_s)
        .await?;
    let filter = &scope.filter;
    let keep = |point: &&crate::store::MetricPointRow| {
        filter
            .account
            .as_ref()
            .is_none_or(|a| *a == point.account_id)
            && filter.region.as_ref().is_none_or(|r| *r == point.region)
            && filter.model.as_ref().is_none_or(|m| *m == point.model_id)
    };
    let mut sums: BTreeMap<(String, String), (f64, f64)> = BTreeMap::new();
    for (points, is_throttle) in [(&throttled, true), (&invoked, false)] {
        let forms = Forms::of(points.iter());
        for point in points.iter().filter(keep) {
            let mut add = |tier: &str| {
                let entry = sums
                    .entry((point.model_id.clone(), tier.to_string()))
                    .or_default();
                if is_throttle {
                    entry.0 += point.value;
                } else {
                    entry.1 += point.value;
                }
            };
            if forms.counts_tier(point) {
                add(&point.tier);
            }
            if forms.counts_total(point) {
                add("");
            }
        }
    }
    Ok(sums
        .into_iter()
        .filter_map(|(key, (throttles, invocations))| {
            ratio(throttles, throttles + invocations).map(|rate| (key, rate))
        })
        .collect())
}

/// The callers page: cost by one caller dimension, per tier.
#[derive(Debug, Clone, Serialize)]
pub struct CallersView {
    pub scope: ScopeInfo,
    /// The dimension shown: `identity` or `meta:KEY`.
    pub dimension: String,
    /// Dimensions to choose from: the configured ones (and the one shown).
    pub dimensions: Vec<String>,
    pub callers: Vec<CallerGroup>,
    pub total: Line,
}

/// One caller value: its total and its tiers.
#[derive(Debug, Clone, Serialize)]
pub struct CallerGroup {
    /// Empty when the invocations had no value for the dimension.
    pub caller: String,
    pub total: Line,
    pub tiers: Vec<Line>,
}

pub async fn callers(store: &Store, scope: &Scope) -> Result<CallersView> {
    let cells = CellsKept {
        callers: true,
        ..cells_kept(store, scope).await?
    };
    let span = scope.window.totals_span(cells);
    let rows = store
        .aggregate_callers(span, &scope.filter, &scope.dimension, Grouping::TIER)
        .await?;
    let mut groups: BTreeMap<String, (Totals, Vec<&AggregateRow>)> = BTreeMap::new();
    let mut all = Totals::default();
    for row in &rows {
        let entry = groups.entry(row.caller.clone()).or_default();
        entry.0.add(&row.totals);
        entry.1.push(row);
        all.add(&row.totals);
    }
    let mut callers: Vec<CallerGroup> = groups
        .into_iter()
        .map(|(caller, (totals, mut tiers))| {
            tiers.sort_by_key(|row| tier_rank(&row.tier));
            let tiers: Vec<Line> = tiers
                .iter()
                .map(|row| Line::new("", &row.tier, Some(&caller), &row.totals))
                .collect();
            CallerGroup {
                total: total_line(&tiers, &totals, Some(&caller)),
                tiers,
                caller,
            }
        })
        .collect();
    callers.sort_by(|a, b| {
        b.total
            .cost_pico
            .cmp(&a.total.cost_pico)
            .then_with(|| a.caller.cmp(&b.caller))
    });
    // The configured dimensions (reading which ones have cells would scan the caller table).
    let mut dimensions: Vec<String> = store
        .caller_dimensions()
        .names()
        .map(str::to_string)
        .collect();
    if !dimensions.contains(&scope.dimension) {
        dimensions.push(scope.dimension.clone());
    }
    Ok(CallersView {
        scope: ScopeInfo::of(scope),
        dimension: scope.dimension.clone(),
        dimensions,
        total: total_line(callers.iter().flat_map(|group| &group.tiers), &all, None),
        callers,
    })
}

/// The quotas page: per model, quota, peak minute and headroom.
#[derive(Debug, Clone, Serialize)]
pub struct QuotasView {
    pub scope: ScopeInfo,
    /// The part of the window the peaks were looked for in (at most the last 7 days of it).
    pub peak_window: String,
    pub quotas: Vec<QuotaLine>,
    pub note: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct QuotaLine {
    pub account_id: String,
    pub region: String,
    pub model_id: String,
    pub quota_name: String,
    /// `tokens_per_minute` or `requests_per_minute`.
    pub kind: String,
    pub quota: f64,
    pub peak: Option<f64>,
    pub peak_minute: Option<String>,
    /// Peak ÷ quota.
    pub used: Option<f64>,
    pub headroom: Option<f64>,
    pub measured_by: Option<String>,
}

/// Peaks are minute data: a week of minutes is as far back as the page looks.
const QUOTA_LOOKBACK_S: i64 = 7 * 86_400;

pub async fn quotas(store: &Store, scope: &Scope) -> Result<QuotasView> {
    let window = &scope.window;
    let start_s = window.start_s.max(window.end_s - QUOTA_LOOKBACK_S);
    let filter = &scope.filter;
    let (rows, minutes_from) = tokio::try_join!(
        crate::headroom::headroom(store, start_s, window.end_s),
        store.fine_cells_from(),
    )?;
    let mut note = "On-demand quotas are shared by the Priority, Standard and Flex traffic of a \
                    model; Reserved capacity is separate. Peaks are the busiest minute."
        .to_string();
    if start_s < minutes_from {
        note.push_str(&format!(
            " Invocation logs are kept per minute from {} on (retention.minute_cells): earlier \
             peaks come from CloudWatch metrics only.",
            rfc3339(minutes_from)
        ));
    }
    let quotas = rows
        .into_iter()
        .filter(|row| {
            let quota = &row.quota;
            filter
                .account
                .as_ref()
                .is_none_or(|a| *a == quota.account_id)
                && filter.region.as_ref().is_none_or(|r| *r == quota.region)
                && filter
                    .model
                    .as_ref()
                    .is_none_or(|m| quota.model_id.as_deref() == Some(m))
        })
        .map(|row| {
            let used = row.utilization();
            let quota = row.quota;
            QuotaLine {
                account_id: quota.account_id,
                region: quota.region,
                model_id: quota.model_id.unwrap_or_default(),
                quota_name: quota.quota_name,
                kind: quota.quota_kind,
                quota: quota.value,
                peak: row.peak.as_ref().map(|peak| peak.usage),
                peak_minute: row.peak.as_ref().map(|peak| rfc3339(peak.minute_start)),
                used,
                headroom: used.map(|used| 1.0 - used),
                measured_by: row.peak.as_ref().map(|peak| peak.measured_by.to_string()),
            }
        })
        .collect();
    Ok(QuotasView {
        scope: ScopeInfo::of(scope),
        peak_window: format!("{} to {}", rfc3339(start_s), rfc3339(window.end_s)),
        quotas,
        note,
    })
}

/// The reports page: every month with data.
#[derive(Debug, Clone, Serialize)]
pub struct ReportsView {
    pub months: Vec<String>,
}

pub async fn reports(store: &Store) -> Result<ReportsView> {
    let months = store
        .months_with_data()
        .await?
        .into_iter()
        .rev()
        .map(|month| month.to_string())
        .collect();
    Ok(ReportsView { months })
}

/// The data health page.
#[derive(Debug, Clone, Serialize)]
pub struct HealthView {
    pub scope: ScopeInfo,
    pub freshness: Freshness,
    pub quarantined: Vec<QuarantineGroup>,
    pub unpriced: Vec<UnpricedGroup>,
    /// Hours where logs and metrics disagree, grouped by model, tier and status.
    pub coverage_gaps: Vec<CoverageGap>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CoverageGap {
    pub account_id: String,
    pub region: String,
    pub model_id: String,
    pub tier: String,
    pub status: String,
    pub hours: u32,
    pub first_hour: String,
    pub last_hour: String,
    pub log_invocations: i64,
    pub metric_invocations: i64,
}

pub async fn health(store: &Store, scope: &Scope, now_s: i64) -> Result<HealthView> {
    let window = &scope.window;
    let coverage = store.read_coverage(window.start_s, window.end_s).await?;
    Ok(HealthView {
        scope: ScopeInfo::of(scope),
        freshness: freshness(store, now_s).await?,
        quarantined: store.quarantine_groups().await?,
        unpriced: store
            .unpriced_groups(window.start_s * 1000, window.end_s * 1000)
            .await?,
        coverage_gaps: coverage_gaps(&coverage),
    })
}

fn coverage_gaps(rows: &[CoverageRow]) -> Vec<CoverageGap> {
    type Key = (String, String, String, String, String);
    let mut gaps: BTreeMap<Key, CoverageGap> = BTreeMap::new();
    for row in rows.iter().filter(|row| row.status != "ok") {
        let key = (
            row.account_id.clone(),
            row.region.clone(),
            row.model_id.clone(),
            row.tier.clone(),
            row.status.clone(),
        );
        let hour = rfc3339(row.hour_start);
        let gap = gaps.entry(key).or_insert_with(|| CoverageGap {
            account_id: row.account_id.clone(),
            region: row.region.clone(),
            model_id: row.model_id.clone(),
            tier: row.tier.clone(),
            status: row.status.clone(),
            hours: 0,
            first_hour: hour.clone(),
            last_hour: hour.clone(),
            log_invocations: 0,
            metric_invocations: 0,
        });
        gap.hours += 1;
        gap.first_hour = gap.first_hour.clone().min(hour.clone());
        gap.last_hour = gap.last_hour.clone().max(hour);
        gap.log_invocations += row.log_invocations;
        gap.metric_invocations += row.metric_invocations.unwrap_or(0);
    }
    gaps.into_values().collect()
}

/// The alerts page: rules, alerts that are or were active, and the notification history.
#[derive(Debug, Clone, Serialize)]
pub struct AlertsView {
    pub rules: Vec<RuleLine>,
    /// Every alert not inactive: firing and pending first, then resolved, newest first.
    pub alerts: Vec<StoredAlert>,
    /// The latest notifications, newest first, with their deliveries.
    pub history: Vec<HistoryLine>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RuleLine {
    pub name: String,
    pub kind: String,
    pub tier: String,
    pub window: String,
    pub thresholds: String,
    pub channels: Vec<String>,
    /// How many of its alerts are firing now.
    pub firing: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct HistoryLine {
    pub event: AlertEvent,
    pub at: String,
    pub deliveries: Vec<Delivery>,
}

/// Notifications shown on the alerts page.
const HISTORY: i64 = 200;

pub async fn alerts(store: &Store, config: &AlertsConfig) -> Result<AlertsView> {
    let mut states: Vec<StoredAlert> = store
        .alert_states()
        .await?
        .into_iter()
        .filter(|alert| alert.state != "inactive")
        .collect();
    states.sort_by(|a, b| {
        let active = |alert: &StoredAlert| !(alert.state == "firing" || alert.state == "pending");
        active(a)
            .cmp(&active(b))
            .then_with(|| b.updated_ms.cmp(&a.updated_ms))
    });
    let events = store.recent_alert_events(HISTORY).await?;
    let oldest = events.last().map_or(i64::MAX, |event| event.id);
    let deliveries = store.deliveries_since(oldest).await?;
    let history = events
        .into_iter()
        .map(|event| HistoryLine {
            at: rfc3339(event.at_ms.div_euclid(1000)),
            deliveries: deliveries
                .iter()
                .filter(|delivery| delivery.event_id == event.id)
                .cloned()
                .collect(),
            event,
        })
        .collect();
    let rules = config
        .rules
        .iter()
        .map(|rule| RuleLine {
            name: rule.name.clone(),
            kind: rule.kind.as_str().to_string(),
            tier: rule
                .tier
                .map_or("all".into(), |tier| tier.as_str().to_string()),
            window: match rule.window {
                RuleWindow::Day => "day".into(),
                RuleWindow::Month => "month".into(),
                RuleWindow::Rolling(duration) => format!("last {}", human_duration(duration)),
            },
            thresholds: rule
                .thresholds
                .iter()
                .map(|threshold| {
                    format!(
                        "{} {}",
                        threshold_text(rule, threshold.at),
                        threshold.severity
                    )
                })
                .collect::<Vec<_>>()
                .join(", "),
            channels: rule.channels.clone(),
            firing: states
                .iter()
                .filter(|alert| alert.rule == rule.name && alert.state == "firing")
                .count(),
        })
        .collect();
    Ok(AlertsView {
        rules,
        alerts: states,
        history,
    })
}

fn human_duration(duration: std::time::Duration) -> String {
    let seconds = duration.as_secs();
    match seconds {
        s if s % 86_400 == 0 => format!("{} d", s / 86_400),
        s if s % 3_600 == 0 => format!("{} h", s / 3_600),
        s if s % 60 == 0 => format!("{} min", s / 60),
        s => format!("{s} s"),
    }
}

/// A threshold as people read it for the rule's kind.
fn threshold_text(rule: &RuleConfig, at: f64) -> String {
    match rule.kind {
        RuleKind::PrioritySpend => {
            let budget = rule.budget_pico.unwrap_or(0);
            format!("{:.0} % of ${}", at * 100.0, Money::format_usd(budget))
        }
        RuleKind::FlexDelay if rule.vs_standard => format!("{at}× Standard"),
        RuleKind::FlexDelay => format!("{at} ms"),
        RuleKind::FlexThrottleRate | RuleKind::FlexErrorRate => format!("{:.1} %", at * 100.0),
        RuleKind::QuotaHeadroom => format!("headroom < {:.0} %", at * 100.0),
        RuleKind::UnpricedSpend => format!("> {at} calls"),
        RuleKind::Staleness => format!("{at} min"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(bucket_start: i64, tier: &str, cost_pico: i128, standard: i128) -> AggregateRow {
        AggregateRow {
            bucket_start,
            account_id: String::new(),
            region: String::new(),
            model_id: String::new(),
            tier: tier.into(),
            caller: String::new(),
            totals: Totals {
                invocations: 1,
                input_tokens: 10,
                cost_pico,
                standard_cost_pico: standard,
                compared_cost_pico: cost_pico,
                ..Totals::default()
            },
        }
    }

    #[test]
    fn tier_lines_are_ordered_and_total_premium_and_savings() {
        let rows = [
            row(0, "flex", 5, 10),
            row(0, "priority", 18, 10),
            row(0, "standard", 10, 10),
        ];
        let (lines, total) = tier_lines(&rows);
        let tiers: Vec<&str> = lines.iter().map(|line| line.tier.as_str()).collect();
        assert_eq!(tiers, ["priority", "standard", "flex"]);
        assert_eq!(total.cost_pico, 33);
        assert_eq!(lines[0].priority_premium_usd, Some(Money::format_usd(8)));
        assert_eq!(lines[2].flex_savings_usd, Some(Money::format_usd(5)));
        assert_eq!(total.invocations, 3);
    }

    #[test]
    fn unpriced_lines_and_buckets_have_no_amount_and_partial_ones_say_so() {
        let mut unpriced = row(0, "priority", 0, 0);
        unpriced.totals.unpriced_invocations = 2;
        let mut partial = row(3_600, "flex", 5, 10);
        partial.totals.priced_invocations = 1;
        partial.totals.unpriced_invocations = 1;
        let rows = [unpriced, partial];
        let (lines, total) = tier_lines(&rows);
        assert_eq!(lines[0].cost_usd, None, "never $0 for unknown");
        assert_eq!(lines[0].cost_status, CostStatus::Unpriced);
        assert_eq!(lines[0].standard_equivalent_usd, None);
        assert_eq!(lines[0].priority_premium_usd, None);
        assert_eq!(lines[1].cost_usd, Some(Money::format_usd(5)));
        assert_eq!(lines[1].cost_status, CostStatus::Partial);
        assert_eq!(lines[1].flex_savings_usd, Some(Money::format_usd(5)));
        // The total leaves out 3 calls; its premium covers only unpriced Priority calls.
        assert_eq!(total.cost_status, CostStatus::Partial);
        assert_eq!(total.unpriced_invocations, 3);
        assert_eq!(total.priority_premium_usd, None);
        assert_eq!(total.flex_savings_usd, Some(Money::format_usd(5)));

        let span = CellSpan {
            granularity: Granularity::Hour,
            start_s: 0,
            end_s: 2 * 3_600,
        };
        let timeline = Timeline::of(span, &rows);
        assert_eq!(timeline.tiers, ["priority", "flex"]);
        assert_eq!(timeline.cost_usd[0], [None, Some(Money::format_usd(0))]);
        assert_eq!(
            timeline.cost_status[0],
            [CostStatus::Unpriced, CostStatus::Priced]
        );
        assert_eq!(timeline.cost_status[1][1], CostStatus::Partial);
        assert_eq!(timeline.unpriced_invocations[1], [0, 1]);

        let spend = Spend::of(&rows);
        assert_eq!(spend.total_usd, Some(Money::format_usd(5)));
        assert_eq!(spend.cost_status, CostStatus::Partial);
        assert_eq!(spend.unpriced_invocations, 3);
        assert_eq!(spend.by_tier[0].usd, None);
        assert_eq!(spend.by_tier[0].cost_status, CostStatus::Unpriced);
    }

    #[test]
    fn timelines_fill_empty_buckets_with_zero() {
        let span = CellSpan {
            granularity: Granularity::Hour,
            start_s: 0,
            end_s: 4 * 3_600,
        };
        let rows = [row(3_600, "standard", 7, 7), row(3 * 3_600, "flex", 2, 4)];
        let timeline = Timeline::of(span, &rows);
        assert_eq!(timeline.buckets.len(), 4);
        assert_eq!(timeline.tiers, ["standard", "flex"]);
        assert_eq!(timeline.cost_pico[0], [0, 7, 0, 0]);
        assert_eq!(timeline.cost_pico[1], [0, 0, 0, 2]);
        assert_eq!(timeline.tokens[1][3], 10);
    }
}
