//! What the daemon reads besides invocation logs: CloudWatch metric series and their
//! per-minute points, Service Quotas, and the coverage check between logs and metrics.
//!
//! These tables are small next to `invocations` (a few hundred series, one point per series
//! and minute), so most statements here are plain per-row SQL shared by both backends; only
//! the bulk insert of metric points has a dialect form (see `postgres.rs` and `sqlite.rs`).
//! Points and quotas are overwritten, not added to: re-fetching a minute or re-listing the
//! quotas replaces what was stored, so re-polls are idempotent by construction.

use super::Checkpoint;

/// One statistic of one metric and dimension set, as ListMetrics discovered it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MetricSeriesKey {
    /// The `[[sources]]` name.
    pub source: String,
    pub account_id: String,
    pub region: String,
    pub metric_name: String,
    /// The dimension set as canonical JSON (`[["ModelId","…"],["ServiceTier","…"]]`, sorted).
    pub dimensions: String,
    /// `Sum`, `Average`, `SampleCount` or a percentile such as `p99`.
    pub statistic: String,
    /// The ModelId dimension without a tier suffix; empty when the metric has none.
    pub model_called: String,
    /// `model_called` normalized as invocation logs' model ids are; empty when none.
    pub model_id: String,
    /// A tier name (`priority`, …), or empty when the series counts every tier together.
    pub tier: String,
    /// Where the tier came from: `none`, `resolved_dimension`, `requested_dimension` or
    /// `model_suffix`.
    pub tier_form: String,
}

/// One per-minute value of the series at `series` (an index into [`MetricWindow::series`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MetricPoint {
    pub series: usize,
    /// Unix seconds, a whole minute.
    pub minute_start: i64,
    pub value: f64,
}

/// What one metrics window writes in one transaction: its series, its points, and the
/// checkpoint that says the window is done.
#[derive(Debug, Clone, Default)]
pub struct MetricWindow {
    pub series: Vec<MetricSeriesKey>,
    pub points: Vec<MetricPoint>,
    pub checkpoint: Option<Checkpoint>,
}

/// A point as written: its series resolved to an id.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PointWrite {
    pub series_id: i64,
    pub minute_start: i64,
    pub value: f64,
}

/// One stored point with what its series stands for.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct MetricPointRow {
    pub account_id: String,
    pub region: String,
    /// The ModelId dimension (without a tier suffix): each value is published in its own
    /// forms, so forms are chosen per value before values are added up per model.
    pub model_called: String,
    pub model_id: String,
    pub tier: String,
    pub tier_form: String,
    pub minute_start: i64,
    pub value: f64,
}

/// One Service Quotas quota of service code `bedrock`, with what tierwatch made of its name.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow, serde::Serialize)]
pub struct QuotaRecord {
    pub source: String,
    pub account_id: String,
    pub region: String,
    pub quota_code: String,
    pub quota_name: String,
    pub value: f64,
    pub adjustable: Option<bool>,
    /// `on_demand`, `cross_region`, `global_cross_region` or `other`.
    pub scope: String,
    /// `tokens_per_minute`, `requests_per_minute`, `tokens_per_day`, or `other`.
    pub quota_kind: String,
    /// The model as the quota names it.
    pub model_name: Option<String>,
    /// The model id matched to `model_name`, when exactly one known model fits.
    pub model_id: Option<String>,
    pub fetched_ms: i64,
}

/// Logs against metrics for one model, tier and hour.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, serde::Serialize)]
pub struct CoverageRow {
    pub account_id: String,
    pub region: String,
    pub model_id: String,
    /// A tier, or empty for metrics that count all tiers together.
    pub tier: String,
    /// Unix seconds, a whole hour.
    pub hour_start: i64,
    pub log_invocations: i64,
    pub log_tokens: i64,
    pub metric_invocations: Option<i64>,
    pub metric_tokens: Option<i64>,
    /// `ok`, `gap`, `logs_missing` or `metrics_missing`.
    pub status: String,
    pub checked_ms: i64,
}

pub(super) const INSERT_METRIC_SERIES: &str = "INSERT INTO metric_series (source, account_id, \
    region, metric_name, dimensions, statistic, model_called, model_id, tier, tier_form) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
    ON CONFLICT (source, metric_name, dimensions, statistic) DO NOTHING";

pub(super) const METRIC_SERIES_ID: &str = "SELECT id FROM metric_series WHERE source = $1 \
    AND metric_name = $2 AND dimensions = $3 AND statistic = $4";

pub(super) const READ_METRIC_POINTS: &str = "SELECT s.account_id, s.region, s.model_called, s.model_id, s.tier, \
    s.tier_form, p.minute_start, p.value FROM metric_points p \
    JOIN metric_series s ON s.id = p.series_id \
    WHERE s.metric_name = $1 AND s.statistic = $2 AND p.minute_start >= $3 AND p.minute_start < $4 \
    ORDER BY p.minute_start";

/// Like READ_METRIC_POINTS, summed over the range per series (minute_start reads 0).
pub(super) const SUM_METRIC_POINTS: &str = "SELECT s.account_id, s.region, s.model_called, \
    s.model_id, s.tier, s.tier_form, CAST(0 AS BIGINT) AS minute_start, \
    CAST(SUM(p.value) AS DOUBLE PRECISION) AS value FROM metric_points p \
    JOIN metric_series s ON s.id = p.series_id \
    WHERE s.metric_name = $1 AND s.statistic = $2 AND p.minute_start >= $3 AND p.minute_start < $4 \
    GROUP BY s.account_id, s.region, s.model_called, s.model_id, s.tier, s.tier_form \
    ORDER BY s.account_id, s.region, s.model_called, s.model_id, s.tier, s.tier_form";

pub(super) const KNOWN_MODEL_IDS: &str = "SELECT model_id FROM series \
    UNION SELECT model_id FROM metric_series WHERE model_id <> ''";

pub(super) const DELETE_QUOTAS: &str = "DELETE FROM service_quotas WHERE source = $1";

pub(super) const INSERT_QUOTA: &str = "INSERT INTO service_quotas (source, account_id, region, \
    quota_code, quota_name, value, adjustable, scope, quota_kind, model_name, model_id, \
    fetched_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
    ON CONFLICT (source, quota_code) DO NOTHING";

pub(super) const READ_QUOTAS: &str = "SELECT source, account_id, region, quota_code, quota_name, \
    value, adjustable, scope, quota_kind, model_name, model_id, fetched_ms FROM service_quotas \
    ORDER BY account_id, region, model_name, quota_kind, scope, quota_code";

pub(super) const UPSERT_COVERAGE: &str = "INSERT INTO coverage (account_id, region, model_id, \
    tier, hour_start, log_invocations, log_tokens, metric_invocations, metric_tokens, status, \
    checked_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
    ON CONFLICT (account_id, region, model_id, tier, hour_start) DO UPDATE SET \
    log_invocations = excluded.log_invocations, log_tokens = excluded.log_tokens, \
    metric_invocations = excluded.metric_invocations, metric_tokens = excluded.metric_tokens, \
    status = excluded.status, checked_ms = excluded.checked_ms";

pub(super) const READ_COVERAGE: &str = "SELECT account_id, region, model_id, tier, hour_start, \
    log_invocations, log_tokens, metric_invocations, metric_tokens, status, checked_ms \
    FROM coverage WHERE hour_start >= $1 AND hour_start < $2 \
    ORDER BY hour_start, account_id, region, model_id, tier";

/// Read methods for these tables, the same on both backends (expanded in each backend's
/// `impl`, like `rows::shared_reads`).
macro_rules! metric_reads {
    () => {
        pub(super) async fn read_metric_points(
            &self,
            metric_name: &str,
            statistic: &str,
            start_s: i64,
            end_s: i64,
        ) -> Result<Vec<MetricPointRow>> {
            sqlx::query_as(metrics::READ_METRIC_POINTS)
                .bind(metric_name)
                .bind(statistic)
                .bind(start_s)
                .bind(end_s)
                .fetch_all(&self.pool)
                .await
                .context("reading metric points")
        }

        pub(super) async fn sum_metric_points(
            &self,
            metric_name: &str,
            statistic: &str,
            start_s: i64,
            end_s: i64,
        ) -> Result<Vec<MetricPointRow>> {
            sqlx::query_as(metrics::SUM_METRIC_POINTS)
                .bind(metric_name)
                .bind(statistic)
                .bind(start_s)
                .bind(end_s)
                .fetch_all(&self.pool)
                .await
                .context("summing metric points")
        }

        pub(super) async fn known_model_ids(&self) -> Result<Vec<String>> {
            sqlx::query_scalar(metrics::KNOWN_MODEL_IDS)
                .fetch_all(&self.pool)
                .await
                .context("listing known model ids")
        }

        pub(super) async fn read_quotas(&self) -> Result<Vec<QuotaRecord>> {
            sqlx::query_as(metrics::READ_QUOTAS)
                .fetch_all(&self.pool)
                .await
                .context("reading service quotas")
        }

        pub(super) async fn read_coverage(
            &self,
            start_s: i64,
            end_s: i64,
        ) -> Result<Vec<CoverageRow>> {
            sqlx::query_as(metrics::READ_COVERAGE)
                .bind(start_s)
                .bind(end_s)
                .fetch_all(&self.pool)
                .await
                .context("reading coverage")
        }
    };
}
pub(super) use metric_reads;

/// Write-transaction statements for these tables that are the same on both backends
/// (expanded inside each backend's `impl WriteTx`).
macro_rules! metric_tx_statements {
    () => {
        async fn ensure_metric_series(&mut self, keys: &[MetricSeriesKey]) -> Result<Vec<i64>> {
            let mut ids = Vec::with_capacity(keys.len());
            for key in keys {
                sqlx::query(metrics::INSERT_METRIC_SERIES)
                    .bind(&key.source)
                    .bind(&key.account_id)
                    .bind(&key.region)
                    .bind(&key.metric_name)
                    .bind(&key.dimensions)
                    .bind(&key.statistic)
                    .bind(&key.model_called)
                    .bind(&key.model_id)
                    .bind(&key.tier)
                    .bind(&key.tier_form)
                    .execute(&mut *self.tx)
                    .await
                    .context("registering a metric series")?;
                let id: i64 = sqlx::query_scalar(metrics::METRIC_SERIES_ID)
                    .bind(&key.source)
                    .bind(&key.metric_name)
                    .bind(&key.dimensions)
                    .bind(&key.statistic)
                    .fetch_one(&mut *self.tx)
                    .await
                    .context("reading a metric series id")?;
                ids.push(id);
            }
            Ok(ids)
        }

        async fn replace_quotas(&mut self, source: &str, quotas: &[QuotaRecord]) -> Result<()> {
            sqlx::query(metrics::DELETE_QUOTAS)
                .bind(source)
                .execute(&mut *self.tx)
                .await
                .context("clearing a source's quotas")?;
            for quota in quotas {
                sqlx::query(metrics::INSERT_QUOTA)
                    .bind(&quota.source)
                    .bind(&quota.account_id)
                    .bind(&quota.region)
                    .bind(&quota.quota_code)
                    .bind(&quota.quota_name)
                    .bind(quota.value)
                    .bind(quota.adjustable)
                    .bind(&quota.scope)
                    .bind(&quota.quota_kind)
                    .bind(&quota.model_name)
                    .bind(&quota.model_id)
                    .bind(quota.fetched_ms)
                    .execute(&mut *self.tx)
                    .await
                    .context("storing a quota")?;
            }
            Ok(())
        }

        async fn upsert_coverage(&mut self, rows: &[CoverageRow]) -> Result<()> {
            for row in rows {
                sqlx::query(metrics::UPSERT_COVERAGE)
                    .bind(&row.account_id)
                    .bind(&row.region)
                    .bind(&row.model_id)
                    .bind(&row.tier)
                    .bind(row.hour_start)
                    .bind(row.log_invocations)
                    .bind(row.log_tokens)
                    .bind(row.metric_invocations)
                    .bind(row.metric_tokens)
                    .bind(&row.status)
                    .bind(row.checked_ms)
                    .execute(&mut *self.tx)
                    .await
                    .context("storing coverage")?;
            }
            Ok(())
        }
    };
}
pub(super) use metric_tx_statements;
