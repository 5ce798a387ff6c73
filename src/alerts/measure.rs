//! What a rule sees now: its value per instance and period, read from rollups (and metrics,
//! quotas and source health for the kinds that need them).

use chrono::DateTime;

use crate::config::{DelayStatistic, RuleConfig, RuleKind, RuleScope, RuleWindow};
use crate::coverage::Forms;
use crate::model::Money;
use crate::report::Month;
use crate::rollup::{
    Granularity, IDENTITY_DIMENSION, LatencyMetric, METADATA_DIMENSION_PREFIX, finest_kept, latency,
};
use crate::store::{
    CallerFilter, CellSpan, CostStatus, Filter, Grouping, Result, Store, StoreError, Totals,
};

/// Which side of a threshold is bad.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Alert when the value reaches the threshold or more.
    AtOrAbove,
    /// Alert when the value falls below the threshold (headroom, output speed).
    Below,
}

/// One thing a rule watches, as seen now.
#[derive(Debug, Clone, PartialEq)]
pub struct Measurement {
    /// What the rule splits into: empty for most rules, a model for Flex-vs-Standard, a
    /// quota or a source for headroom and staleness.
    pub instance: String,
    /// The alert period: the month or day of calendar windows, `rolling` otherwise.
    pub period: String,
    /// `None` when there is too little data to judge.
    pub value: Option<f64>,
    pub samples: u64,
    /// How the value reads to a person ("$412.30 of $500.00", "p95 24.1 s").
    pub shown: String,
    /// The dashboard page and query string that shows the data.
    pub link: String,
}

/// The threshold a rule's `at` stands for in the measured unit (budget shares become USD).
pub fn threshold_value(rule: &RuleConfig, at: f64) -> f64 {
    match rule.budget_pico {
        Some(budget) => at * budget as f64 / 1e12,
        None => at,
    }
}

pub fn direction(rule: &RuleConfig) -> Direction {
    match (rule.kind, rule.statistic) {
        (RuleKind::QuotaHeadroom, _) => Direction::Below,
        (RuleKind::FlexDelay, Some(DelayStatistic::OutputTokensPerSecond)) => Direction::Below,
        _ => Direction::AtOrAbove,
    }
}

/// Whether `value` is on the bad side of `threshold`.
pub fn breaches(direction: Direction, value: f64, threshold: f64) -> bool {
    match direction {
        Direction::AtOrAbove => value >= threshold,
        Direction::Below => value < threshold,
    }
}

/// What `rule` sees at `now_s`.
pub async fn measure(store: &Store, rule: &RuleConfig, now_s: i64) -> Result<Vec<Measurement>> {
    match rule.kind {
        RuleKind::PrioritySpend => spend(store, rule, now_s).await.map(|m| vec![m]),
        RuleKind::FlexDelay if rule.vs_standard => delay_vs_standard(store, rule, now_s).await,
        RuleKind::FlexDelay => delay(store, rule, now_s).await.map(|m| vec![m]),
        RuleKind::FlexErrorRate => error_rate(store, rule, now_s).await.map(|m| vec![m]),
        RuleKind::FlexThrottleRate => throttle_rate(store, rule, now_s).await.map(|m| vec![m]),
        RuleKind::QuotaHeadroom => headroom(store, rule, now_s).await,
        RuleKind::UnpricedSpend => unpriced(store, rule, now_s).await.map(|m| vec![m]),
        RuleKind::Staleness => staleness(store, rule, now_s).await,
    }
}

/// The window's span, its period name and the dashboard's window parameter.
struct Span {
    cells: CellSpan,
    period: String,
    link_window: String,
}

async fn span(store: &Store, rule: &RuleConfig, now_s: i64, callers: bool) -> Result<Span> {
    const DAY: i64 = 86_400;
    let today = now_s - now_s.rem_euclid(DAY);
    Ok(match rule.window {
        RuleWindow::Day => {
            let date = DateTime::from_timestamp(today, 0)
                .ok_or_else(|| StoreError::Inconsistent(format!("clock out of range: {now_s}")))?;
            let day = date.format("%Y-%m-%d").to_string();
            Span {
                cells: CellSpan {
                    granularity: Granularity::Day,
                    start_s: today,
                    end_s: today + DAY,
                },
                link_window: format!("from={day}&to={day}"),
                period: day,
            }
        }
        RuleWindow::Month => {
            let month = Month::containing(now_s * 1000)
                .ok_or_else(|| StoreError::Inconsistent(format!("clock out of range: {now_s}")))?;
            Span {
                cells: CellSpan {
                    granularity: Granularity::Day,
                    start_s: month.start_ms() / 1000,
                    end_s: month.end_ms() / 1000,
                },
                period: month.to_string(),
                link_window: format!("month={month}"),
            }
        }
        RuleWindow::Rolling(duration) => {
            // The finest cells kept of the window, up to now: minute cells of a series; a
            // caller-scoped window covers the hours it touches, as caller cells have no
            // minutes. A window that starts before the fine cells' horizon (an evaluation
            // `--at` a past instant) covers the hours (a caller's: days) it touches.
            let length = i64::try_from(duration.as_secs()).unwrap_or(i64::MAX / 2);
            let granularity = finest_kept(callers, now_s - length, store.fine_cells_from().await?);
            let step = granularity.seconds();
            let end_s = now_s - now_s.rem_euclid(step) + step;
            let start_s = (now_s - length) - (now_s - length).rem_euclid(step);
            Span {
                cells: CellSpan {
                    granularity,
                    start_s,
                    end_s,
                },
                period: "rolling".into(),
                link_window: if length <= 3_600 {
                    "range=1h".into()
                } else {
                    "range=24h".into()
                },
            }
        }
    })
}

/// The rollup filter of a rule's scope and tier.
fn filter(rule: &RuleConfig) -> Filter {
    let RuleScope {
        account,
        region,
        model,
        caller,
        metadata,
    } = &rule.scope;
    let caller = match (caller, metadata) {
        (Some(arn), _) => Some(CallerFilter {
            dimension: IDENTITY_DIMENSION.into(),
            value: arn.clone(),
        }),
        (None, Some((key, value))) => Some(CallerFilter {
            dimension: format!("{METADATA_DIMENSION_PREFIX}{key}"),
            value: value.clone(),
        }),
        (None, None) => None,
    };
    Filter {
        account: account.clone(),
        region: region.clone(),
        model: model.clone(),
        tier: rule.tier.map(|tier| tier.as_str().to_string()),
        caller,
    }
}

/// The dashboard link of a rule's scope and window.
fn link(rule: &RuleConfig, window: &str) -> String {
    let mut query = vec![window.to_string()];
    let scope = &rule.scope;
    for (key, value) in [
        ("account", &scope.account),
        ("region", &scope.region),
        ("model", &scope.model),
        ("caller", &scope.caller),
    ] {
        if let Some(value) = value {
            query.push(format!("{key}={}", crate::dashboard::scope::encode(value)));
        }
    }
    if let Some((key, value)) = &scope.metadata {
        query.push(format!("by={}", crate::dashboard::scope::encode(key)));
        query.push(format!("caller={}", crate::dashboard::scope::encode(value)));
    }
    if let Some(tier) = rule.tier {
        query.push(format!("tier={}", tier.as_str()));
    }
    format!("/?{}", query.join("&"))
}

async fn spend(store: &Store, rule: &RuleConfig, now_s: i64) -> Result<Measurement> {
    let filter = filter(rule);
    let span = span(store, rule, now_s, filter.caller.is_some()).await?;
    let rows = store.aggregate(span.cells, &filter, Grouping::NONE).await?;
    let mut totals = Totals::default();
    for row in &rows {
        totals.add(&row.totals);
    }
    let mut spent = totals.cost();
    let mut basis = "spent";
    if rule.forecast {
        // The dashboard's forecast, so an alert and the overview never disagree.
        let (_, _, forecast) = crate::dashboard::data::spend_summary(store, &filter, now_s).await?;
        spent = forecast.total_cost;
        basis = "forecast for the month";
    }
    let budget = usd(rule.budget_pico.unwrap_or(0));
    Ok(Measurement {
        instance: String::new(),
        period: span.period,
        // Spend of priced calls only: a partial amount is a lower bound, so a breach is real;
        // with no priced call there is nothing to judge (never $0).
        value: spent.known_pico().map(|pico| pico as f64 / 1e12),
        samples: totals.invocations as u64,
        shown: match spent.status() {
            CostStatus::Unpriced => format!(
                "{basis} unknown: {} with no price (not counted as $0); budget {budget}",
                calls(spent.unpriced_invocations())
            ),
            _ => format!("{spent} {basis} of a {budget} budget"),
        },
        link: link(rule, &span.link_window),
    })
}

/// `1 call`, `3 calls`.
fn calls(count: i64) -> String {
    if count == 1 {
        "1 call".into()
    } else {
        format!("{count} calls")
    }
}

fn usd(pico: i128) -> String {
    format!("${}", Money::format_usd(pico))
}

fn delay_metric(statistic: DelayStatistic) -> (LatencyMetric, f64, &'static str) {
    match statistic {
        DelayStatistic::Latency(q) => (LatencyMetric::Total, q, "latency"),
        DelayStatistic::FirstToken(q) => (LatencyMetric::FirstToken, q, "time to first token"),
        DelayStatistic::OutputTokensPerSecond => (LatencyMetric::Total, 0.5, "output speed"),
    }
}

async fn delay(store: &Store, rule: &RuleConfig, now_s: i64) -> Result<Measurement> {
    let filter = filter(rule);
    let span = span(store, rule, now_s, false).await?;
    let statistic = rule.statistic.unwrap_or(DelayStatistic::Latency(0.95));
    let link = link(rule, &span.link_window);
    if statistic == DelayStatistic::OutputTokensPerSecond {
        let rows = store.aggregate(span.cells, &filter, Grouping::NONE).await?;
        let totals = rows.first().map(|row| row.totals).unwrap_or_default();
        let samples = totals.latency_count as u64;
        let speed = (totals.latency_sum_ms > 0)
            .then(|| totals.output_tokens as f64 / (totals.latency_sum_ms as f64 / 1000.0));
        return Ok(Measurement {
            instance: String::new(),
            period: span.period,
            value: speed.filter(|_| samples >= rule.min_samples.max(1)),
            samples,
            shown: speed.map_or_else(
                || "no calls with a latency".into(),
                |speed| format!("{speed:.1} output tokens/s over {samples} calls"),
            ),
            link,
        });
    }
    let (metric, quantile, name) = delay_metric(statistic);
    let histograms = store
        .histograms(span.cells, &filter, Grouping::NONE)
        .await?;
    let bins: Vec<(i16, u64)> = histograms
        .of(metric)
        .first()
        .map(|row| row.bins.clone())
        .unwrap_or_default();
    let samples: u64 = bins.iter().map(|(_, count)| count).sum();
    let value = latency::quantile(&bins, quantile).map(|ms| ms as f64);
    Ok(Measurement {
        instance: String::new(),
        period: span.period,
        value: value.filter(|_| samples >= rule.min_samples.max(1)),
        samples,
        shown: value.map_or_else(
            || format!("no {name} recorded"),
            |ms| {
                format!(
                    "p{:.0} {name} {ms:.0} ms over {samples} calls",
                    quantile * 100.0
                )
            },
        ),
        link,
    })
}

/// Per model: Flex's quantile ÷ Standard's, both over the same window.
async fn delay_vs_standard(
    store: &Store,
    rule: &RuleConfig,
    now_s: i64,
) -> Result<Vec<Measurement>> {
    let mut filter = filter(rule);
    filter.tier = None;
    let span = span(store, rule, now_s, false).await?;
    let (metric, quantile, name) =
        delay_metric(rule.statistic.unwrap_or(DelayStatistic::Latency(0.95)));
    let histograms = store
        .histograms(span.cells, &filter, Grouping::MODEL_TIER)
        .await?;
    let rows = histograms.of(metric);
    let of = |model: &str, tier: &str| -> (Option<u64>, u64) {
        rows.iter()
            .find(|row| row.model_id == model && row.tier == tier)
            .map_or((None, 0), |row| {
                let samples = row.bins.iter().map(|(_, count)| count).sum();
                (latency::quantile(&row.bins, quantile), samples)
            })
    };
    let watched = rule.tier.map_or("flex", |tier| tier.as_str());
    let mut models: Vec<&str> = rows
        .iter()
        .filter(|row| row.tier == watched)
        .map(|row| row.model_id.as_str())
        .collect();
    models.dedup();
    Ok(models
        .into_iter()
        .map(|model| {
            let (mine, my_samples) = of(model, watched);
            let (standard, standard_samples) = of(model, "standard");
            let enough = my_samples >= rule.min_samples.max(1)
                && standard_samples >= rule.min_samples.max(1);
            let ratio = match (mine, standard) {
                (Some(mine), Some(standard)) if standard > 0 => Some(mine as f64 / standard as f64),
                _ => None,
            };
            let mut link_rule = rule.clone();
            link_rule.scope.model = Some(model.to_string());
            link_rule.tier = None;
            Measurement {
                instance: model.to_string(),
                period: span.period.clone(),
                value: ratio.filter(|_| enough),
                samples: my_samples,
                shown: match (mine, standard, ratio) {
                    (Some(mine), Some(standard), Some(ratio)) => format!(
                        "{watched} p{q:.0} {name} {mine} ms is {ratio:.2}× Standard's {standard} ms \
                         ({my_samples} and {standard_samples} calls)",
                        q = quantile * 100.0
                    ),
                    _ => format!("not enough {watched} and Standard calls to compare"),
                },
                link: link(&link_rule, &span.link_window).replacen("/?", "/models?", 1),
            }
        })
        .collect())
}

async fn error_rate(store: &Store, rule: &RuleConfig, now_s: i64) -> Result<Measurement> {
    let filter = filter(rule);
    let span = span(store, rule, now_s, filter.caller.is_some()).await?;
    let rows = store.aggregate(span.cells, &filter, Grouping::NONE).await?;
    let totals = rows.first().map(|row| row.totals).unwrap_or_default();
    let samples = totals.invocations as u64;
    let rate = (samples > 0).then(|| totals.errors as f64 / samples as f64);
    Ok(Measurement {
        instance: String::new(),
        period: span.period,
        value: rate.filter(|_| samples >= rule.min_samples.max(1)),
        samples,
        shown: rate.map_or_else(
            || "no calls".into(),
            |rate| format!("{:.1} % of {samples} calls failed", rate * 100.0),
        ),
        link: link(rule, &span.link_window),
    })
}

async fn throttle_rate(store: &Store, rule: &RuleConfig, now_s: i64) -> Result<Measurement> {
    let span = span(store, rule, now_s, false).await?;
    let (start_s, end_s) = (span.cells.start_s, span.cells.end_s);
    let throttled = store
        .sum_metric_points("InvocationThrottles", "Sum", start_s, end_s)
        .await?;
    let invoked = store
        .sum_metric_points("Invocations", "Sum", start_s, end_s)
        .await?;
    let scope = &rule.scope;
    let tier = rule.tier.map(|tier| tier.as_str());
    let mut sums = [0.0f64; 2];
    for (points, slot) in [(&throttled, 0), (&invoked, 1)] {
        let forms = Forms::of(points.iter());
        for point in points.iter() {
            let in_scope = scope
                .account
                .as_ref()
                .is_none_or(|a| *a == point.account_id)
                && scope.region.as_ref().is_none_or(|r| *r == point.region)
                && scope.model.as_ref().is_none_or(|m| *m == point.model_id);
            let counted = match tier {
                Some(tier) => forms.counts_tier(point) && point.tier == tier,
                None => forms.counts_total(point),
            };
            if in_scope && counted {
                sums[slot] += point.value;
            }
        }
    }
    let [throttles, invocations] = sums;
    let samples = (throttles + invocations).round() as u64;
    let rate = (samples > 0).then(|| throttles / (throttles + invocations));
    Ok(Measurement {
        instance: String::new(),
        period: span.period,
        value: rate.filter(|_| samples >= rule.min_samples.max(1)),
        samples,
        shown: rate.map_or_else(
            || "no throttle metrics for this tier in the window".into(),
            |rate| format!("{:.1} % of {samples} requests throttled", rate * 100.0),
        ),
        link: link(rule, &span.link_window).replacen("/?", "/models?", 1),
    })
}

async fn headroom(store: &Store, rule: &RuleConfig, now_s: i64) -> Result<Vec<Measurement>> {
    let span = span(store, rule, now_s, false).await?;
    let rows = crate::headroom::headroom(store, span.cells.start_s, span.cells.end_s).await?;
    let scope = &rule.scope;
    Ok(rows
        .into_iter()
        .filter(|row| {
            let quota = &row.quota;
            scope
                .account
                .as_ref()
                .is_none_or(|a| *a == quota.account_id)
                && scope.region.as_ref().is_none_or(|r| *r == quota.region)
                && scope
                    .model
                    .as_ref()
                    .is_none_or(|m| quota.model_id.as_deref() == Some(m))
        })
        .map(|row| {
            let used = row.utilization();
            let quota = &row.quota;
            let model = quota.model_id.clone().unwrap_or_default();
            Measurement {
                instance: format!(
                    "{}/{}/{model}/{}",
                    quota.account_id, quota.region, quota.quota_kind
                ),
                period: span.period.clone(),
                value: Some(1.0 - used.unwrap_or(0.0)),
                samples: 1,
                shown: match (&row.peak, used) {
                    (Some(peak), Some(used)) => format!(
                        "peak minute {:.0} of {:.0} ({:.1} % used) for {model}",
                        peak.usage,
                        quota.value,
                        used * 100.0
                    ),
                    _ => format!("no usage of {model} in the window"),
                },
                link: format!("/quotas?model={}", crate::dashboard::scope::encode(&model)),
            }
        })
        .collect())
}

async fn unpriced(store: &Store, rule: &RuleConfig, now_s: i64) -> Result<Measurement> {
    let filter = filter(rule);
    let span = span(store, rule, now_s, filter.caller.is_some()).await?;
    let rows = store.aggregate(span.cells, &filter, Grouping::NONE).await?;
    let totals = rows.first().map(|row| row.totals).unwrap_or_default();
    let count = totals.unpriced_invocations;
    Ok(Measurement {
        instance: String::new(),
        period: span.period,
        value: Some(count as f64),
        samples: totals.invocations as u64,
        shown: format!("{count} calls have no price (not counted as $0)"),
        link: format!("/data-health?{}", span.link_window),
    })
}

/// Minutes since the last invocation, and per failing source minutes since its last success.
async fn staleness(store: &Store, _rule: &RuleConfig, now_s: i64) -> Result<Vec<Measurement>> {
    let mut measurements = Vec::new();
    let latest = store.latest_minute().await?;
    let minutes = |since_s: i64| ((now_s - since_s).max(0) as f64) / 60.0;
    measurements.push(Measurement {
        instance: "invocations".into(),
        period: "rolling".into(),
        value: latest.map(|minute| minutes(minute + 60)),
        samples: 1,
        shown: latest.map_or_else(
            || "no invocations stored yet".into(),
            |minute| format!("last invocation {:.0} minutes ago", minutes(minute + 60)),
        ),
        link: "/data-health".into(),
    });
    for source in store.source_health().await? {
        // A source that never succeeded has been failing for as long as it has existed.
        let failing_for = match (&source.last_error, source.last_success_ms) {
            (Some(_), Some(success)) => minutes(success / 1000),
            (Some(_), None) => f64::MAX,
            (None, _) => 0.0,
        };
        measurements.push(Measurement {
            instance: format!("source {} {}", source.source, source.kind),
            period: "rolling".into(),
            value: Some(failing_for),
            samples: 1,
            shown: match &source.last_error {
                Some(error) => format!(
                    "{} {} failing {} times in a row: {error}",
                    source.source, source.kind, source.consecutive_failures
                ),
                None => format!("{} {} polling fine", source.source, source.kind),
            },
            link: "/data-health".into(),
        });
    }
    Ok(measurements)
}
