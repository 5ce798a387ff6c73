//! The coverage check: per model, tier and hour, do the invocation logs see the traffic that
//! CloudWatch metrics count?
//!
//! A gap means the logs are incomplete: invocation logging off in a region or for a
//! modality, records that failed to deliver, traffic the logs cannot see, or a tier the logs
//! do not name. Costs computed from logs are then too low, so the gap is stored per hour
//! (`coverage` table) for the dashboard and alerts to show.
//!
//! Metrics may count tiers in several forms at once (ModelId alone, with a tier dimension,
//! or with a tier suffix; see `sources::cloudwatch_metrics`). Each form counts all of the
//! model's traffic, so forms are never added together: the all-tiers row uses the ModelId-
//! only series when there are any, else the sum of one tier form; per-tier rows use one tier
//! form, the served tier first.

use std::collections::{BTreeMap, BTreeSet};

use crate::rollup::Granularity;
use crate::store::{CoverageRow, MetricPointRow, Result, Store};

/// Tier forms by preference: the served tier, then a suffixed model id, then the requested
/// tier (which a request may not get).
const TIER_FORMS: [&str; 3] = ["resolved_dimension", "model_suffix", "requested_dimension"];

/// The forms in which each ModelId value (per account and region) is published, to read each
/// call once: every form of one ModelId value counts all of that value's traffic.
pub(crate) struct Forms<'p> {
    by_caller: BTreeMap<(&'p str, &'p str, &'p str), BTreeSet<&'p str>>,
}

impl<'p> Forms<'p> {
    pub(crate) fn of(points: impl Iterator<Item = &'p MetricPointRow>) -> Forms<'p> {
        let mut by_caller: BTreeMap<_, BTreeSet<&str>> = BTreeMap::new();
        for point in points {
            by_caller
                .entry(Self::caller(point))
                .or_default()
                .insert(point.tier_form.as_str());
        }
        Forms { by_caller }
    }

    fn caller(point: &'p MetricPointRow) -> (&'p str, &'p str, &'p str) {
        (&point.account_id, &point.region, &point.model_called)
    }

    fn forms<'a>(&'a self, point: &'a MetricPointRow) -> Option<&'a BTreeSet<&'a str>> {
        self.by_caller.get(&(
            point.account_id.as_str(),
            point.region.as_str(),
            point.model_called.as_str(),
        ))
    }

    /// The tier form this point's ModelId value is read in per tier, if it has one.
    pub(crate) fn tier_form(&self, point: &MetricPointRow) -> Option<&'static str> {
        let forms = self.forms(point)?;
        TIER_FORMS.into_iter().find(|form| forms.contains(form))
    }

    /// Whether this point belongs to the one form that counts its ModelId value's traffic
    /// once in total: the ModelId-only series when published, else the tier form.
    pub(crate) fn counts_total(&self, point: &MetricPointRow) -> bool {
        let untiered = self
            .forms(point)
            .is_some_and(|forms| forms.contains("none"));
        if untiered {
            point.tier_form == "none"
        } else {
            self.tier_form(point) == Some(point.tier_form.as_str())
        }
    }

    /// Whether this point belongs to its ModelId value's per-tier form.
    pub(crate) fn counts_tier(&self, point: &MetricPointRow) -> bool {
        self.tier_form(point) == Some(point.tier_form.as_str())
    }
}

/// Two counts agree when they differ by at most this share of the larger (CloudWatch rounds
/// nothing, but late log delivery at an hour's edge moves a few records).
const TOLERANCE: f64 = 0.01;

/// Recomputes coverage for the hours overlapping `[start_s, end_s)` of one account and
/// region and stores it; returns the number of rows written.
pub async fn check(
    store: &Store,
    account_id: &str,
    region: &str,
    start_s: i64,
    end_s: i64,
    now_ms: i64,
) -> Result<usize> {
    let hour = Granularity::Hour.seconds();
    // Two hours more than asked: logs delivered late into an earlier hour are counted.
    let first_hour = start_s.div_euclid(hour) * hour - 2 * hour;
    let end_hour = end_s.div_euclid(hour) * hour + hour;
    let logs: Vec<LogTotals> = store
        .read_cells(Granularity::Hour, first_hour, end_hour)
        .await?
        .into_iter()
        .filter(|cell| cell.account_id == account_id && cell.region == region)
        .map(|cell| LogTotals {
            model_id: cell.model_id,
            tier: cell.tier,
            hour_start: cell.bucket_start,
            invocations: cell.totals.invocations,
            tokens: cell.totals.input_tokens + cell.totals.output_tokens,
        })
        .collect();
    let mut metrics = Vec::new();
    for (name, field) in [
        ("Invocations", Field::Invocations),
        ("InputTokenCount", Field::Tokens),
        ("OutputTokenCount", Field::Tokens),
    ] {
        let points = store
            .read_metric_points(name, "Sum", first_hour, end_hour)
            .await?;
        metrics.extend(
            points
                .into_iter()
                .filter(|p| p.account_id == account_id && p.region == region)
                .map(|p| (field, p)),
        );
    }
    let rows = compare(account_id, region, &logs, &metrics, now_ms);
    store.write_coverage(&rows).await?;
    Ok(rows.len())
}

/// Hourly totals of one (model, tier) from the logs' rollups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogTotals {
    pub model_id: String,
    pub tier: String,
    pub hour_start: i64,
    pub invocations: i64,
    pub tokens: i64,
}

/// Which total a metric point adds to.
#[derive(Debug, Clone, Copy)]
pub enum Field {
    Invocations,
    Tokens,
}

/// Compares hourly log totals with metric points of one account and region. Pure, for tests.
pub fn compare(
    account_id: &str,
    region: &str,
    logs: &[LogTotals],
    metrics: &[(Field, MetricPointRow)],
    now_ms: i64,
) -> Vec<CoverageRow> {
    let hour = Granularity::Hour.seconds();
    // (model, tier or "", hour) → (log invocations, log tokens).
    let mut log_side: BTreeMap<(String, String, i64), (i64, i64)> = BTreeMap::new();
    for row in logs {
        for tier in [row.tier.as_str(), ""] {
            let entry = log_side
                .entry((row.model_id.clone(), tier.to_string(), row.hour_start))
                .or_default();
            entry.0 += row.invocations;
            entry.1 += row.tokens;
        }
    }
    let points = || metrics.iter().filter(|(_, p)| !p.model_id.is_empty());
    let forms = Forms::of(points().map(|(_, p)| p));
    // Per-tier rows only for models whose every ModelId value is published with tiers.
    let mut untiered_models = BTreeSet::new();
    let mut models = BTreeSet::new();
    for (_, point) in points() {
        models.insert(point.model_id.as_str());
        if forms.tier_form(point).is_none() {
            untiered_models.insert(point.model_id.as_str());
        }
    }
    let tiered = |model: &str| models.contains(model) && !untiered_models.contains(model);
    let mut metric_side: BTreeMap<(String, String, i64), (f64, f64)> = BTreeMap::new();
    for (field, point) in points() {
        let hour_start = point.minute_start.div_euclid(hour) * hour;
        let mut targets = Vec::new();
        if forms.counts_total(point) {
            targets.push(String::new());
        }
        if tiered(&point.model_id) && forms.counts_tier(point) {
            targets.push(point.tier.clone());
        }
        for tier in targets {
            let sums = metric_side
                .entry((point.model_id.clone(), tier, hour_start))
                .or_default();
            match field {
                Field::Invocations => sums.0 += point.value,
                Field::Tokens => sums.1 += point.value,
            }
        }
    }
    let mut keys: BTreeSet<&(String, String, i64)> = metric_side.keys().collect();
    for key in log_side.keys() {
        if key.1.is_empty() || tiered(&key.0) {
            keys.insert(key);
        }
    }
    keys.into_iter()
        .map(|key| {
            let (log_invocations, log_tokens) = log_side.get(key).copied().unwrap_or_default();
            let metric = metric_side
                .get(key)
                .map(|(invocations, tokens)| (invocations.round() as i64, tokens.round() as i64));
            CoverageRow {
                account_id: account_id.to_string(),
                region: region.to_string(),
                model_id: key.0.clone(),
                tier: key.1.clone(),
                hour_start: key.2,
                log_invocations,
                log_tokens,
                metric_invocations: metric.map(|m| m.0),
                metric_tokens: metric.map(|m| m.1),
                status: status(log_invocations, log_tokens, metric).to_string(),
                checked_ms: now_ms,
            }
        })
        .collect()
}

fn status(log_invocations: i64, log_tokens: i64, metric: Option<(i64, i64)>) -> &'static str {
    let Some((metric_invocations, metric_tokens)) = metric else {
        return "metrics_missing";
    };
    if log_invocations == 0 && metric_invocations > 0 {
        return "logs_missing";
    }
    if agree(log_invocations, metric_invocations) && agree(log_tokens, metric_tokens) {
        "ok"
    } else {
        "gap"
    }
}

fn agree(a: i64, b: i64) -> bool {
    let larger = a.max(b) as f64;
    ((a - b).abs() as f64) <= (larger * TOLERANCE).max(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 1_767_225_600; // 2026-01-01T00:00Z

    fn point(model: &str, form: &str, tier: &str, minute: i64, value: f64) -> MetricPointRow {
        MetricPointRow {
            account_id: "1".into(),
            region: "us-east-1".into(),
            model_called: model.into(),
            model_id: model.into(),
            tier: tier.into(),
            tier_form: form.into(),
            minute_start: HOUR + minute * 60,
            value,
        }
    }

    fn logs(model: &str, tier: &str, invocations: i64, tokens: i64) -> LogTotals {
        LogTotals {
            model_id: model.into(),
            tier: tier.into(),
            hour_start: HOUR,
            invocations,
            tokens,
        }
    }

    fn metrics(
        invocations: &[MetricPointRow],
        tokens: &[MetricPointRow],
    ) -> Vec<(Field, MetricPointRow)> {
        let invocations = invocations.iter().map(|p| (Field::Invocations, p.clone()));
        let tokens = tokens.iter().map(|p| (Field::Tokens, p.clone()));
        invocations.chain(tokens).collect()
    }

    fn summary(rows: &[CoverageRow]) -> Vec<(String, String, i64, Option<i64>, String)> {
        rows.iter()
            .map(|r| {
                (
                    r.model_id.clone(),
                    r.tier.clone(),
                    r.log_tokens,
                    r.metric_tokens,
                    r.status.clone(),
                )
            })
            .collect()
    }

    #[test]
    fn untiered_metrics_compare_with_all_tiers_of_the_logs() {
        let m = metrics(
            &[point("m", "none", "", 0, 3.0)],
            &[
                point("m", "none", "", 0, 200.0),
                point("m", "none", "", 5, 100.0),
            ],
        );
        let rows = compare(
            "1",
            "us-east-1",
            &[logs("m", "standard", 2, 200), logs("m", "flex", 1, 100)],
            &m,
            0,
        );
        // No tiered metrics for "m": only the all-tiers row.
        assert_eq!(
            summary(&rows),
            [("m".into(), "".into(), 300, Some(300), "ok".into())]
        );
    }

    #[test]
    fn tiered_metrics_find_a_tier_the_logs_miss() {
        // The served-tier dimension says 1 call was Flex; the logs saw it as Standard.
        let m = metrics(
            &[
                point("m", "resolved_dimension", "standard", 0, 1.0),
                point("m", "resolved_dimension", "flex", 0, 1.0),
                // A requested-tier form of the same traffic is not added again.
                point("m", "requested_dimension", "flex", 0, 2.0),
            ],
            &[
                point("m", "resolved_dimension", "standard", 0, 50.0),
                point("m", "resolved_dimension", "flex", 0, 50.0),
            ],
        );
        let rows = compare("1", "us-east-1", &[logs("m", "standard", 2, 100)], &m, 0);
        assert_eq!(
            summary(&rows),
            [
                ("m".into(), "".into(), 100, Some(100), "ok".into()),
                (
                    "m".into(),
                    "flex".into(),
                    0,
                    Some(50),
                    "logs_missing".into()
                ),
                ("m".into(), "standard".into(), 100, Some(50), "gap".into()),
            ]
        );
    }

    #[test]
    fn logs_without_metrics_and_metrics_without_logs_are_both_flagged() {
        let m = metrics(&[point("seen-only-by-metrics", "none", "", 0, 4.0)], &[]);
        let rows = compare(
            "1",
            "us-east-1",
            &[logs("logs-only", "standard", 1, 10)],
            &m,
            0,
        );
        assert_eq!(
            summary(&rows),
            [
                (
                    "logs-only".into(),
                    "".into(),
                    10,
                    None,
                    "metrics_missing".into()
                ),
                (
                    "seen-only-by-metrics".into(),
                    "".into(),
                    0,
                    Some(0),
                    "logs_missing".into()
                ),
            ]
        );
    }

    #[test]
    fn small_differences_are_within_tolerance() {
        assert!(agree(1000, 1009));
        assert!(!agree(1000, 1020));
        assert!(agree(0, 1));
        assert!(!agree(0, 2));
    }
}
