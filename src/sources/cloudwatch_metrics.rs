//! CloudWatch metrics of namespace `AWS/Bedrock`, per minute, per model and tier.
//!
//! Every cycle first discovers what the account publishes with ListMetrics (paged), so
//! tierwatch stores whatever metrics and dimension sets exist rather than a fixed list. Which
//! metrics carry a tier is uncertain (see the reference, section 4), so every form is read:
//!
//! - `ModelId` alone: all tiers together (tier stored as "");
//! - `ModelId` with `ResolvedServiceTier` (the tier that served) or `ServiceTier` (the tier
//!   asked for);
//! - a `ModelId` value such as `openai.gpt-oss-120b-1:0+flex` ("model-id+tier").
//!
//! Values are fetched with GetMetricData at a 60 s period, up to 500 queries per call, pages
//! merged by query id. Counts are read as `Sum`; latencies as `Average`, `SampleCount` and
//! the percentiles p50/p90/p95/p99. A service that rejects percentiles (as the local stand-in
//! does) gets the rest without them, and the cycle says so.
//!
//! The checkpoint is the end of the last fully stored window, committed with its points.
//! Each cycle re-reads a lookback before it, because CloudWatch fills the last minutes in
//! late; re-read points overwrite what was stored, so re-polls change nothing. A first run
//! starts at most 14 days back: CloudWatch keeps 1-minute data for 15 days.

use aws_sdk_cloudwatch::Client;
use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::{CallCounter, SourceError, read_checkpoint};
use crate::config::{DaemonConfig, SourceConfig};
use crate::coverage;
use crate::ingest::PricingContext;
use crate::ingest::record::normalize_model;
use crate::model::Tier;
use crate::store::{Checkpoint, MetricPoint, MetricSeriesKey, MetricWindow, Store};

/// The `ingest_sources.kind` of metrics checkpoints.
pub const SOURCE_KIND: &str = "cloudwatch_metrics";
pub const NAMESPACE: &str = "AWS/Bedrock";

/// GetMetricData's limit on queries per call.
const MAX_QUERIES_PER_CALL: usize = 500;
/// The metrics period: one value per minute.
const PERIOD_S: i32 = 60;
/// CloudWatch keeps 1-minute data for 15 days; a first run reads at most this far back.
const MAX_BACKFILL_S: i64 = 14 * 86_400;
/// Log time per stored window: at most 360 points per query, and a crash re-reads one window.
const WINDOW_S: i64 = 6 * 3_600;

const PERCENTILES: [&str; 4] = ["p50", "p90", "p95", "p99"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct MetricsCheckpoint {
    /// Every minute before this (Unix seconds) has been fetched and stored.
    fetched_until_s: i64,
}

/// What one cycle did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetricsCycle {
    /// Metrics (name × dimension set) ListMetrics returned.
    pub discovered: u64,
    /// Queries (metric × statistic) fetched per window.
    pub queries: u64,
    /// Points stored (re-read minutes included).
    pub points: u64,
    /// Windows of time stored.
    pub windows: u64,
    /// True once the service rejected percentile statistics; they are no longer asked for.
    pub percentiles_unavailable: bool,
    /// Coverage rows written (model × tier × hour).
    pub coverage_rows: u64,
    /// Every minute before this (Unix seconds) is stored.
    pub fetched_until_s: i64,
    /// False when shutdown interrupted the cycle.
    pub completed: bool,
}

/// A metric as discovered: its name and dimensions, and what tierwatch reads them as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoveredMetric {
    pub name: String,
    /// Sorted by name.
    pub dimensions: Vec<(String, String)>,
    pub model_called: String,
    pub tier: Option<Tier>,
    pub tier_form: &'static str,
}

/// Reads one source's `AWS/Bedrock` metrics.
pub struct MetricsPoller {
    source_name: String,
    account_id: String,
    region: String,
    client: Client,
    store: Store,
    /// Its parse options resolve the model ids metrics are published under.
    context: tokio::sync::watch::Receiver<PricingContext>,
    lookback_s: i64,
    first_start: FirstStart,
    percentiles: bool,
}

#[derive(Debug, Clone, Copy)]
enum FirstStart {
    At(i64),
    Ago(i64),
}

impl MetricsPoller {
    /// `None` when the source does not read metrics.
    pub fn new(
        source: &SourceConfig,
        daemon: &DaemonConfig,
        sdk: &aws_config::SdkConfig,
        calls: &CallCounter,
        store: Store,
        context: tokio::sync::watch::Receiver<PricingContext>,
    ) -> Option<MetricsPoller> {
        if !source.metrics {
            return None;
        }
        let config = aws_sdk_cloudwatch::config::Builder::from(sdk)
            .interceptor(calls.clone())
            .build();
        let first_start = match source.backfill_from_ms {
            Some(at) => FirstStart::At(at.div_euclid(1000)),
            None => FirstStart::Ago(seconds(daemon.backfill)),
        };
        Some(MetricsPoller {
            source_name: source.name.clone(),
            // Config validation requires an account id for sources that read metrics.
            account_id: source.account_id.clone().unwrap_or_default(),
            region: source.region.clone(),
            client: Client::from_conf(config),
            store,
            context,
            lookback_s: seconds(daemon.lookback),
            first_start,
            percentiles: true,
        })
    }

    /// Discovers, fetches and stores everything up to `now_ms`, then re-checks coverage of
    /// the hours it touched. Stops between windows when `stop` turns true.
    pub async fn poll(
        &mut self,
        now_ms: i64,
        stop: &watch::Receiver<bool>,
    ) -> Result<MetricsCycle, SourceError> {
        let now_s = now_ms.div_euclid(1000);
        let end = floor_minute(now_s);
        let oldest = end - MAX_BACKFILL_S;
        let start = match (self.fetched_until().await?, self.first_start) {
            (Some(until), _) => until - self.lookback_s,
            (None, FirstStart::At(at)) => at,
            (None, FirstStart::Ago(span)) => now_s - span,
        };
        let start = floor_minute(start.max(oldest));
        let metrics = self.discover().await?;
        let mut cycle = MetricsCycle {
            discovered: metrics.len() as u64,
            fetched_until_s: start,
            completed: true,
            ..MetricsCycle::default()
        };
        let mut window_start = start;
        while window_start < end {
            if *stop.borrow() {
                cycle.completed = false;
                break;
            }
            let window_end = (window_start + WINDOW_S).min(end);
            self.fetch_window(&metrics, window_start, window_end, &mut cycle)
                .await?;
            window_start = window_end;
        }
        cycle.percentiles_unavailable = !self.percentiles;
        if cycle.fetched_until_s > start {
            let rows = coverage::check(
                &self.store,
                &self.account_id,
                &self.region,
                start,
                cycle.fetched_until_s,
                now_ms,
            )
            .await?;
            cycle.coverage_rows = rows as u64;
        }
        Ok(cycle)
    }

    async fn fetched_until(&self) -> Result<Option<i64>, SourceError> {
        let checkpoint: Option<MetricsCheckpoint> = read_checkpoint(
            &self.store,
            SOURCE_KIND,
            &self.source_name,
            &self.source_name,
        )
        .await?;
        Ok(checkpoint.map(|checkpoint| checkpoint.fetched_until_s))
    }

    /// Every `AWS/Bedrock` metric of the account and region, through all ListMetrics pages.
    async fn discover(&self) -> Result<Vec<DiscoveredMetric>, SourceError> {
        let mut found = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .client
                .list_metrics()
                .namespace(NAMESPACE)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|error| SourceError::aws("ListMetrics", error))?;
            found.extend(page.metrics().iter().filter_map(classify));
            match page.next_token() {
                Some(next) if !next.is_empty() => token = Some(next.to_string()),
                _ => break,
            }
        }
        found.sort_by(|a, b| (&a.name, &a.dimensions).cmp(&(&b.name, &b.dimensions)));
        found.dedup_by(|a, b| a.name == b.name && a.dimensions == b.dimensions);
        Ok(found)
    }

    /// Fetches `[start, end)` for every metric and statistic and stores it with the
    /// checkpoint, in one transaction.
    async fn fetch_window(
        &mut self,
        metrics: &[DiscoveredMetric],
        start: i64,
        end: i64,
        cycle: &mut MetricsCycle,
    ) -> Result<(), SourceError> {
        let mut window = MetricWindow::default();
        let mut chunk_start = 0;
        let queries = self.queries(metrics);
        cycle.queries = queries.len() as u64;
        while chunk_start < queries.len() {
            let chunk_end = (chunk_start + MAX_QUERIES_PER_CALL).min(queries.len());
            let chunk = &queries[chunk_start..chunk_end];
            match self.fetch_chunk(chunk, start, end).await {
                Ok(values) => {
                    self.add_chunk(chunk, values, &mut window);
                    chunk_start = chunk_end;
                }
                Err(error) if self.percentiles && rejects_statistic(&error) => {
                    // Ask again without percentiles, for this chunk and from now on.
                    tracing::warn!(
                        source = self.source_name,
                        %error,
                        "GetMetricData rejected percentile statistics; reading latency without them"
                    );
                    self.percentiles = false;
                    return Box::pin(self.fetch_window(metrics, start, end, cycle)).await;
                }
                Err(error) => return Err(error),
            }
        }
        let position = serde_json::to_string(&MetricsCheckpoint {
            fetched_until_s: end,
        })
        .map_err(|error| SourceError::Parser(error.to_string()))?;
        let source_id = self
            .store
            .source_ids(SOURCE_KIND, &[&self.source_name])
            .await?
            .first()
            .copied()
            .ok_or_else(|| SourceError::Parser("source id missing".into()))?;
        window.checkpoint = Some(Checkpoint {
            source_id,
            position,
        });
        cycle.points += self.store.write_metric_window(&window).await?;
        cycle.windows += 1;
        cycle.fetched_until_s = end;
        Ok(())
    }

    /// One query per metric and statistic.
    fn queries<'m>(
        &self,
        metrics: &'m [DiscoveredMetric],
    ) -> Vec<(&'m DiscoveredMetric, &'static str)> {
        metrics
            .iter()
            .flat_map(|metric| {
                statistics_for(&metric.name, self.percentiles)
                    .into_iter()
                    .map(move |statistic| (metric, statistic))
            })
            .collect()
    }

    /// Every page of one GetMetricData call, merged by query index: (minute, value) pairs.
    async fn fetch_chunk(
        &self,
        chunk: &[(&DiscoveredMetric, &'static str)],
        start: i64,
        end: i64,
    ) -> Result<Vec<Vec<(i64, f64)>>, SourceError> {
        let queries: Vec<MetricDataQuery> = chunk
            .iter()
            .enumerate()
            .map(|(index, (metric, statistic))| data_query(index, metric, statistic))
            .collect();
        let mut values = vec![Vec::new(); chunk.len()];
        let mut token: Option<String> = None;
        loop {
            let page = self
                .client
                .get_metric_data()
                .set_metric_data_queries(Some(queries.clone()))
                .start_time(DateTime::from_secs(start))
                .end_time(DateTime::from_secs(end))
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|error| SourceError::aws("GetMetricData", error))?;
            for result in page.metric_data_results() {
                let Some(index) = result.id().and_then(query_index) else {
                    continue;
                };
                let Some(slot) = values.get_mut(index) else {
                    continue;
                };
                for (timestamp, value) in result.timestamps().iter().zip(result.values()) {
                    if value.is_finite() {
                        slot.push((floor_minute(timestamp.secs()), *value));
                    }
                }
            }
            match page.next_token() {
                Some(next) if !next.is_empty() => token = Some(next.to_string()),
                _ => break,
            }
        }
        Ok(values)
    }

    fn add_chunk(
        &self,
        chunk: &[(&DiscoveredMetric, &'static str)],
        values: Vec<Vec<(i64, f64)>>,
        window: &mut MetricWindow,
    ) {
        for ((metric, statistic), points) in chunk.iter().zip(values) {
            let series = window.series.len();
            window.series.push(self.series_key(metric, statistic));
            window
                .points
                .extend(points.into_iter().map(|(minute_start, value)| MetricPoint {
                    series,
                    minute_start,
                    value,
                }));
        }
    }

    fn series_key(&self, metric: &DiscoveredMetric, statistic: &str) -> MetricSeriesKey {
        let model_id = if metric.model_called.is_empty() {
            String::new()
        } else {
            normalize_model(&metric.model_called, &self.context.borrow().options).model_id
        };
        MetricSeriesKey {
            source: self.source_name.clone(),
            account_id: self.account_id.clone(),
            region: self.region.clone(),
            metric_name: metric.name.clone(),
            dimensions: canonical_dimensions(&metric.dimensions),
            statistic: statistic.to_string(),
            model_called: metric.model_called.clone(),
            model_id,
            tier: metric
                .tier
                .map(Tier::as_str)
                .unwrap_or_default()
                .to_string(),
            tier_form: metric.tier_form.to_string(),
        }
    }
}

/// Reads a ListMetrics entry; `None` when it has no name.
pub fn classify(metric: &Metric) -> Option<DiscoveredMetric> {
    let name = metric.metric_name()?.to_string();
    let mut dimensions: Vec<(String, String)> = metric
        .dimensions()
        .iter()
        .filter_map(|d| Some((d.name()?.to_string(), d.value()?.to_string())))
        .collect();
    dimensions.sort();
    let find = |wanted: &str| {
        dimensions
            .iter()
            .find(|(name, _)| name == wanted)
            .map(|(_, value)| value.as_str())
    };
    let (model_called, suffix_tier) = match find("ModelId") {
        Some(value) => split_tier_suffix(value),
        None => (String::new(), None),
    };
    let tier_of = |value: Option<&str>| value.and_then(|v| Tier::parse(v).ok().flatten());
    let (tier, tier_form) = if let Some(tier) = tier_of(find("ResolvedServiceTier")) {
        (Some(tier), "resolved_dimension")
    } else if let Some(tier) = suffix_tier {
        (Some(tier), "model_suffix")
    } else if let Some(tier) = tier_of(find("ServiceTier")) {
        (Some(tier), "requested_dimension")
    } else {
        (None, "none")
    };
    Some(DiscoveredMetric {
        name,
        dimensions,
        model_called,
        tier,
        tier_form,
    })
}

/// `openai.gpt-oss-120b-1:0+flex` → (`openai.gpt-oss-120b-1:0`, Flex). A `+` followed by
/// anything but a tier name is left alone.
fn split_tier_suffix(model: &str) -> (String, Option<Tier>) {
    if let Some((base, suffix)) = model.rsplit_once('+')
        && let Ok(Some(tier)) = Tier::parse(suffix)
        && !base.is_empty()
    {
        return (base.to_string(), Some(tier));
    }
    (model.to_string(), None)
}

/// Latency-like metrics are read as averages, sample counts and percentiles; everything else
/// (counts, tokens, errors, throttles, quota usage) as per-minute sums.
pub fn statistics_for(metric_name: &str, percentiles: bool) -> Vec<&'static str> {
    let latency = metric_name.ends_with("Latency") || metric_name == "TimeToFirstToken";
    if !latency {
        return vec!["Sum"];
    }
    let mut statistics = vec!["Average", "SampleCount"];
    if percentiles {
        statistics.extend(PERCENTILES);
    }
    statistics
}

fn data_query(index: usize, metric: &DiscoveredMetric, statistic: &str) -> MetricDataQuery {
    let dimensions = metric
        .dimensions
        .iter()
        .map(|(name, value)| Dimension::builder().name(name).value(value).build())
        .collect();
    let metric = Metric::builder()
        .namespace(NAMESPACE)
        .metric_name(&metric.name)
        .set_dimensions(Some(dimensions))
        .build();
    MetricDataQuery::builder()
        .id(format!("q{index}"))
        .metric_stat(
            MetricStat::builder()
                .metric(metric)
                .period(PERIOD_S)
                .stat(statistic)
                .build(),
        )
        .return_data(true)
        .build()
}

/// `q17` → 17.
fn query_index(id: &str) -> Option<usize> {
    id.strip_prefix('q')?.parse().ok()
}

/// Dimensions as stable text: the series' identity in the database.
fn canonical_dimensions(dimensions: &[(String, String)]) -> String {
    serde_json::to_string(dimensions).unwrap_or_default()
}

/// Whether GetMetricData refused a statistic (so percentiles may be dropped and retried).
fn rejects_statistic(error: &SourceError) -> bool {
    match error {
        SourceError::Aws { message, .. } => {
            let code = message.split(':').next().unwrap_or_default();
            matches!(
                code,
                "InvalidParameterValue" | "InvalidParameterCombination" | "ValidationError"
            )
        }
        _ => false,
    }
}

fn floor_minute(seconds: i64) -> i64 {
    seconds - seconds.rem_euclid(60)
}

fn seconds(duration: std::time::Duration) -> i64 {
    i64::try_from(duration.as_secs()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metric(name: &str, dimensions: &[(&str, &str)]) -> Metric {
        Metric::builder()
            .namespace(NAMESPACE)
            .metric_name(name)
            .set_dimensions(Some(
                dimensions
                    .iter()
                    .map(|(n, v)| Dimension::builder().name(*n).value(*v).build())
                    .collect(),
            ))
            .build()
    }

    #[test]
    fn every_tier_form_is_recognized() {
        let cases = [
            (
                vec![("ModelId", "amazon.nova-pro-v1:0")],
                "amazon.nova-pro-v1:0",
                None,
                "none",
            ),
            (
                vec![
                    ("ModelId", "openai.gpt-oss-120b-1:0"),
                    ("ServiceTier", "flex"),
                ],
                "openai.gpt-oss-120b-1:0",
                Some(Tier::Flex),
                "requested_dimension",
            ),
            (
                vec![
                    ("ServiceTier", "priority"),
                    ("ResolvedServiceTier", "default"),
                    ("ModelId", "openai.gpt-oss-120b-1:0"),
                ],
                "openai.gpt-oss-120b-1:0",
                Some(Tier::Standard),
                "resolved_dimension",
            ),
            (
                vec![("ModelId", "openai.gpt-oss-120b-1:0+priority")],
                "openai.gpt-oss-120b-1:0",
                Some(Tier::Priority),
                "model_suffix",
            ),
            (
                vec![("ModelId", "custom+thing")],
                "custom+thing",
                None,
                "none",
            ),
            (vec![], "", None, "none"),
        ];
        for (dimensions, model, tier, form) in cases {
            let found = classify(&metric("Invocations", &dimensions)).unwrap();
            assert_eq!(found.model_called, model, "{dimensions:?}");
            assert_eq!(found.tier, tier, "{dimensions:?}");
            assert_eq!(found.tier_form, form, "{dimensions:?}");
        }
    }

    #[test]
    fn dimensions_are_sorted_so_the_series_identity_is_stable() {
        let a = classify(&metric("X", &[("ServiceTier", "flex"), ("ModelId", "m")])).unwrap();
        let b = classify(&metric("X", &[("ModelId", "m"), ("ServiceTier", "flex")])).unwrap();
        assert_eq!(
            canonical_dimensions(&a.dimensions),
            canonical_dimensions(&b.dimensions)
        );
        assert_eq!(
            canonical_dimensions(&a.dimensions),
            r#"[["ModelId","m"],["ServiceTier","flex"]]"#
        );
    }

    #[test]
    fn latencies_get_averages_and_percentiles_counts_get_sums() {
        assert_eq!(statistics_for("InputTokenCount", true), ["Sum"]);
        assert_eq!(statistics_for("EstimatedTPMQuotaUsage", true), ["Sum"]);
        assert_eq!(
            statistics_for("InvocationLatency", true),
            ["Average", "SampleCount", "p50", "p90", "p95", "p99"]
        );
        assert_eq!(
            statistics_for("TimeToFirstToken", false),
            ["Average", "SampleCount"]
        );
    }

    #[test]
    fn query_ids_round_trip() {
        assert_eq!(query_index("q0"), Some(0));
        assert_eq!(query_index("q499"), Some(499));
        assert_eq!(query_index("x1"), None);
    }

    #[test]
    fn statistic_rejections_are_told_apart_from_other_failures() {
        let aws = |message: &str| SourceError::Aws {
            operation: "GetMetricData",
            message: message.into(),
        };
        assert!(rejects_statistic(&aws(
            "InvalidParameterValue: p99 is not supported"
        )));
        assert!(!rejects_statistic(&aws("Throttling: Rate exceeded")));
    }
}
