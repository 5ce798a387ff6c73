//! Quota headroom: per model, how close the busiest minute came to the on-demand quota.
//!
//! Bedrock's on-demand tokens-per-minute and requests-per-minute quotas are shared by the
//! Priority, Standard and Flex traffic of a model (Reserved has its own capacity), so usage
//! is summed over those tiers: a burst of Flex batch work eats the headroom Priority calls
//! need. Quota consumption per minute is `input + cache write + output × burndown` (cache
//! reads don't count); the burndown is 1 for the Priority/Flex launch models and higher for
//! recent Claude models (see [`output_burndown`]).
//!
//! Usage comes from the best source at hand, in this order: CloudWatch's own
//! `EstimatedTPMQuotaUsage`; CloudWatch token metrics; the invocation logs' minute rollups.
//! Logs and rollups do not split a model's traffic by routing, so logs-based usage counts
//! cross-region calls against the on-demand quota too: the headroom shown is then
//! conservative.

use std::collections::BTreeMap;

use crate::coverage::Forms;
use crate::rollup::Granularity;
use crate::store::{MetricPointRow, QuotaRecord, Result, Store};

/// One on-demand quota of one model, with its peak usage in a range.
#[derive(Debug, Clone, PartialEq)]
pub struct Headroom {
    pub quota: QuotaRecord,
    pub peak: Option<Peak>,
}

/// The busiest minute.
#[derive(Debug, Clone, PartialEq)]
pub struct Peak {
    pub minute_start: i64,
    pub usage: f64,
    /// `EstimatedTPMQuotaUsage`, `token metrics`, `invocation metrics` or `logs`.
    pub measured_by: &'static str,
}

impl Headroom {
    /// Peak usage ÷ quota (1.0 = the whole quota was used in one minute).
    pub fn utilization(&self) -> Option<f64> {
        let peak = self.peak.as_ref()?;
        (self.quota.value > 0.0).then(|| peak.usage / self.quota.value)
    }
}

/// Output-token burndown for quota consumption. Claude 3.7 and later count each output
/// token five times against tokens-per-minute; the Priority/Flex launch models once. This
/// is an assumption from AWS's quota documentation, not read from any API.
pub fn output_burndown(model_id: &str) -> f64 {
    let claude_5x = [
        "anthropic.claude-3-7-",
        "anthropic.claude-sonnet-4",
        "anthropic.claude-opus-4",
        "anthropic.claude-haiku-4",
    ];
    if claude_5x.iter().any(|prefix| model_id.starts_with(prefix)) {
        5.0
    } else {
        1.0
    }
}

/// Headroom of every matched on-demand TPM and RPM quota over `[start_s, end_s)`.
pub async fn headroom(store: &Store, start_s: i64, end_s: i64) -> Result<Vec<Headroom>> {
    let quotas: Vec<QuotaRecord> = store
        .read_quotas()
        .await?
        .into_iter()
        .filter(|q| {
            q.scope == "on_demand"
                && q.model_id.is_some()
                && matches!(
                    q.quota_kind.as_str(),
                    "tokens_per_minute" | "requests_per_minute"
                )
        })
        .collect();
    if quotas.is_empty() {
        return Ok(Vec::new());
    }
    let usage = Usage::load(store, start_s, end_s).await?;
    Ok(quotas
        .into_iter()
        .map(|quota| {
            let peak = usage.peak(&quota);
            Headroom { quota, peak }
        })
        .collect())
}

/// Per-minute usage series, keyed by (account, region, model).
type Series = BTreeMap<(String, String, String), BTreeMap<i64, f64>>;

struct Usage {
    estimated_tpm: Series,
    metric_tokens: Series,
    metric_requests: Series,
    log_tokens: Series,
    log_requests: Series,
}

impl Usage {
    async fn load(store: &Store, start_s: i64, end_s: i64) -> Result<Usage> {
        let read = |name: &'static str| store.read_metric_points(name, "Sum", start_s, end_s);
        let estimated_tpm = per_minute(&read("EstimatedTPMQuotaUsage").await?, |_| 1.0);
        let mut metric_tokens = per_minute(&read("InputTokenCount").await?, |_| 1.0);
        for name in ["CacheWriteInputTokenCount", "CacheWriteInputTokens"] {
            add_series(&mut metric_tokens, per_minute(&read(name).await?, |_| 1.0));
        }
        add_series(
            &mut metric_tokens,
            per_minute(&read("OutputTokenCount").await?, output_burndown),
        );
        let metric_requests = per_minute(&read("Invocations").await?, |_| 1.0);

        let mut log_tokens = Series::new();
        let mut log_requests = Series::new();
        for cell in store
            .read_cells(Granularity::Minute, start_s, end_s)
            .await?
            .into_iter()
            .filter(|cell| cell.tier != "reserved")
        {
            let key = (cell.account_id, cell.region, cell.model_id);
            let totals = cell.totals;
            let tokens = (totals.input_tokens + totals.cache_write_tokens) as f64
                + totals.output_tokens as f64 * output_burndown(&key.2);
            *log_tokens
                .entry(key.clone())
                .or_default()
                .entry(cell.bucket_start)
                .or_default() += tokens;
            *log_requests
                .entry(key)
                .or_default()
                .entry(cell.bucket_start)
                .or_default() += totals.invocations as f64;
        }
        Ok(Usage {
            estimated_tpm,
            metric_tokens,
            metric_requests,
            log_tokens,
            log_requests,
        })
    }

    fn peak(&self, quota: &QuotaRecord) -> Option<Peak> {
        let key = (
            quota.account_id.clone(),
            quota.region.clone(),
            quota.model_id.clone()?,
        );
        let candidates: &[(&Series, &'static str)] = if quota.quota_kind == "tokens_per_minute" {
            &[
                (&self.estimated_tpm, "EstimatedTPMQuotaUsage"),
                (&self.metric_tokens, "token metrics"),
                (&self.log_tokens, "logs"),
            ]
        } else {
            &[
                (&self.metric_requests, "invocation metrics"),
                (&self.log_requests, "logs"),
            ]
        };
        candidates.iter().find_map(|(series, measured_by)| {
            let minutes = series.get(&key)?;
            let (minute_start, usage) = minutes
                .iter()
                .max_by(|a, b| a.1.total_cmp(b.1).then(b.0.cmp(a.0)))?;
            Some(Peak {
                minute_start: *minute_start,
                usage: *usage,
                measured_by,
            })
        })
    }
}

/// Sums points per (account, region, model) and minute, over the tiers that share the
/// on-demand quota, reading each ModelId value in one form (see `coverage::Forms`), each
/// value scaled by `factor(model)`.
fn per_minute(points: &[MetricPointRow], factor: impl Fn(&str) -> f64) -> Series {
    let points = || points.iter().filter(|p| !p.model_id.is_empty());
    let forms = Forms::of(points());
    let mut series = Series::new();
    for point in points().filter(|p| forms.counts_total(p) && p.tier != "reserved") {
        let key = (
            point.account_id.clone(),
            point.region.clone(),
            point.model_id.clone(),
        );
        *series
            .entry(key)
            .or_default()
            .entry(point.minute_start)
            .or_default() += point.value * factor(&point.model_id);
    }
    series
}

fn add_series(into: &mut Series, other: Series) {
    for (key, minutes) in other {
        let target = into.entry(key).or_default();
        for (minute, value) in minutes {
            *target.entry(minute).or_default() += value;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(model: &str, form: &str, tier: &str, minute: i64, value: f64) -> MetricPointRow {
        MetricPointRow {
            account_id: "1".into(),
            region: "us-east-1".into(),
            model_called: model.into(),
            model_id: model.into(),
            tier: tier.into(),
            tier_form: form.into(),
            minute_start: minute * 60,
            value,
        }
    }

    fn minutes(series: &Series, model: &str) -> Vec<(i64, f64)> {
        series[&("1".into(), "us-east-1".into(), model.into())]
            .iter()
            .map(|(m, v)| (*m, *v))
            .collect()
    }

    #[test]
    fn tiers_share_the_quota_but_forms_are_not_added_twice() {
        let points = [
            point("m", "resolved_dimension", "priority", 0, 10.0),
            point("m", "resolved_dimension", "flex", 0, 30.0),
            point("m", "resolved_dimension", "reserved", 0, 1000.0),
            point("m", "requested_dimension", "flex", 0, 40.0),
            point("m", "resolved_dimension", "standard", 1, 5.0),
        ];
        let series = per_minute(&points, |_| 1.0);
        assert_eq!(minutes(&series, "m"), [(0, 40.0), (60, 5.0)]);
    }

    #[test]
    fn untiered_series_win_over_tiered_ones() {
        let points = [
            point("m", "none", "", 0, 50.0),
            point("m", "resolved_dimension", "flex", 0, 50.0),
        ];
        assert_eq!(minutes(&per_minute(&points, |_| 1.0), "m"), [(0, 50.0)]);
    }

    #[test]
    fn claude_output_burns_down_five_times() {
        assert_eq!(
            output_burndown("anthropic.claude-sonnet-4-5-20250929-v1:0"),
            5.0
        );
        assert_eq!(
            output_burndown("anthropic.claude-3-haiku-20240307-v1:0"),
            1.0
        );
        assert_eq!(output_burndown("openai.gpt-oss-120b-1:0"), 1.0);
    }
}
