//! Postgres statements. Batches go in as arrays through `UNNEST`, one statement per table,
//! so a batch of thousands of invocations is a handful of round trips.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use sqlx::postgres::{PgBindIterExt, PgPool, PgPoolOptions};
use sqlx::{AssertSqlSafe, Postgres, Transaction};
use uuid::Uuid;

use super::alerts;
use super::dictionary::BatchStrings;
use super::metrics::{self, PointWrite, metric_reads, metric_tx_statements};
use super::price_list;
use super::query;
use super::reprice::GroupUpdate;
use super::rows::SET_RAW_KEPT_FROM;
use super::rows::{
    self, EncodedRow, count_column, encode_in_key_order, first_occurrences, mark_inserted,
    shared_reads, shared_tx_statements,
};
use super::{
    CallerWrite, CellRow, CellWrite, Checkpoint, CoverageRow, MetricPointRow, MetricSeriesKey,
    ObjectRecord, PriceRowRecord, QuarantineGroup, QuarantinedRecord, QueryContext, QuotaRecord,
    RawDropped, Result, SeriesKey, SourceHealth, StoreError, StoredInvocation, UnpricedGroup,
    UnpricedWrite, WriteTx,
};
use crate::rollup::Granularity;

/// Advisory lock that keeps a reprice from interleaving with ingestion: ingest transactions
/// hold it shared, a reprice holds it exclusively.
const INGEST_LOCK_KEY: i64 = 0x7469_6572_7761_7463; // "tierwatc"

#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
    /// Kept for connections outside the pool (leadership locks).
    url: String,
    /// First milliseconds of the months whose invocation partition is known to exist.
    partitions: Arc<Mutex<HashSet<i64>>>,
}

pub(super) struct PgTx {
    tx: Transaction<'static, Postgres>,
}

impl PgStore {
    pub(super) async fn open(url: &str) -> Result<PgStore> {
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .connect(url)
            .await
            .map_err(|source| StoreError::Connect {
                url: redact_password(url),
                source,
            })?;
        Ok(PgStore {
            pool,
            url: url.to_string(),
            partitions: Arc::default(),
        })
    }

    pub(super) fn url(&self) -> &str {
        &self.url
    }

    pub(super) async fn migrate(&self) -> Result<()> {
        sqlx::migrate!("migrations/postgres")
            .run(&self.pool)
            .await?;
        Ok(())
    }

    /// Creates the monthly partitions that invocations at `timestamps_ms` go to, each in its
    /// own short transaction (see migration 0012), unless known to exist. Months that
    /// retention has dropped get none: their records are skipped as expired.
    pub(super) async fn ensure_partitions(
        &self,
        timestamps_ms: impl Iterator<Item = i64>,
    ) -> Result<()> {
        let missing: Vec<i64> = {
            let known = self
                .partitions
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            // Distinct days first (a division per record), then their months.
            const DAY_MS: i64 = 86_400_000;
            let mut days: Vec<i64> = timestamps_ms.map(|ts| ts.div_euclid(DAY_MS)).collect();
            days.sort_unstable();
            days.dedup();
            let mut months: Vec<i64> = days
                .into_iter()
                .map(|day| super::month_start_ms(day * DAY_MS))
                .filter(|month| !known.contains(month))
                .collect();
            months.sort_unstable();
            months.dedup();
            months
        };
        for month in missing {
            sqlx::query("SELECT tierwatch_invocation_partition($1)")
                .bind(month)
                .execute(&self.pool)
                .await
                .context("creating a month's invocation partition")?;
            self.partitions
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .insert(month);
        }
        Ok(())
    }

    /// Creates the partitions of the months stored in the layout before migration 0011.
    pub(super) async fn prepare_legacy_conversion(&self) -> Result<()> {
        sqlx::query(
            "SELECT tierwatch_invocation_partition(MIN(ts_ms)) FROM invocations_v1 \
             GROUP BY date_trunc('month', to_timestamp(ts_ms / 1000.0) AT TIME ZONE 'UTC')",
        )
        .execute(&self.pool)
        .await
        .context("creating partitions for the invocations to convert")?;
        Ok(())
    }

    /// Drops the raw invocations of the months before `keep_from_ms` (a month's first
    /// millisecond): their partitions, whole. Returns the months dropped and their rows.
    pub(super) async fn drop_raw_invocations(&self, keep_from_ms: i64) -> Result<RawDropped> {
        let mut tx = self.begin_exclusive().await?;
        let price_groups = super::keep_price_groups_before(&mut tx, keep_from_ms).await?;
        sqlx::query(SET_RAW_KEPT_FROM)
            .bind(keep_from_ms)
            .execute(&mut *tx.tx)
            .await
            .context("recording the retention horizon")?;
        let partitions: Vec<String> = sqlx::query_scalar(
            "SELECT c.relname::TEXT FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
             WHERE i.inhparent = 'invocations'::regclass ORDER BY 1",
        )
        .fetch_all(&mut *tx.tx)
        .await
        .context("listing the invocation partitions")?;
        let mut dropped = RawDropped {
            price_groups,
            ..RawDropped::default()
        };
        for name in partitions {
            let Some(month_end) = super::partition_month(&name).map(|(_, end)| end) else {
                continue;
            };
            if month_end > keep_from_ms {
                continue;
            }
            let rows: i64 =
                sqlx::query_scalar(AssertSqlSafe(format!("SELECT COUNT(*) FROM \"{name}\"")))
                    .fetch_one(&mut *tx.tx)
                    .await
                    .context("counting a partition's invocations")?;
            sqlx::query(AssertSqlSafe(format!("DROP TABLE \"{name}\"")))
                .execute(&mut *tx.tx)
                .await
                .context("dropping a month's invocations")?;
            dropped.invocations += u64::try_from(rows).unwrap_or(0);
            dropped.months.push(name);
        }
        tx.tx.commit().await.context("committing")?;
        let mut known = self
            .partitions
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        known.retain(|month| *month >= keep_from_ms);
        Ok(dropped)
    }

    pub(super) async fn begin_write(&self) -> Result<PgTx> {
        self.begin_locked("SELECT pg_advisory_xact_lock_shared($1)")
            .await
    }

    pub(super) async fn begin_exclusive(&self) -> Result<PgTx> {
        self.begin_locked("SELECT pg_advisory_xact_lock($1)").await
    }

    async fn begin_locked(&self, lock: &'static str) -> Result<PgTx> {
        let mut tx = self.pool.begin().await.context("starting a transaction")?;
        sqlx::query(lock)
            .bind(INGEST_LOCK_KEY)
            .execute(&mut *tx)
            .await
            .context("taking the ingest lock")?;
        Ok(PgTx { tx })
    }

    pub(super) async fn source_ids(
        &self,
        kind: &str,
        names: &[&str],
    ) -> Result<Vec<(String, i64)>> {
        let mut tx = self.pool.begin().await.context("starting a transaction")?;
        sqlx::query(
            "INSERT INTO ingest_sources (kind, name) SELECT $1, n FROM UNNEST($2::text[]) AS t(n) \
             ON CONFLICT DO NOTHING",
        )
        .bind(kind)
        .bind(names)
        .execute(&mut *tx)
        .await
        .context("registering sources")?;
        let ids = sqlx::query_as(
            "SELECT name, id FROM ingest_sources WHERE kind = $1 AND name = ANY($2::text[])",
        )
        .bind(kind)
        .bind(names)
        .fetch_all(&mut *tx)
        .await
        .context("reading source ids")?;
        tx.commit().await.context("committing")?;
        Ok(ids)
    }

    /// Whether the table of invocations of the layout before migration 0011 exists.
    const LEGACY_TABLE_EXISTS: &str = "SELECT to_regclass('invocations_v1') IS NOT NULL";

    shared_reads!();
    metric_reads!();
    alerts::alert_reads!();
    price_list::price_list_reads!();
    query::aggregate_reads!();

    /// How histogram reads hand cells over: a row per cell (Postgres has no cheap way to
    /// concatenate arrays of different lengths in an aggregate).
    pub(super) fn packed_rows(&self) -> query::PackedRows {
        query::PackedRows::PerCell
    }

    /// Cells' packed histograms with their groups (see `query::histogram_sql`).
    pub(super) async fn fetch_packed_histograms(
        &self,
        built: query::BuiltQuery,
    ) -> Result<Vec<query::PackedCell>> {
        #[derive(sqlx::FromRow)]
        struct Row {
            #[sqlx(flatten)]
            group: query::HistogramGroup,
            total: Vec<i64>,
            first_token: Vec<i64>,
        }
        let statement = sqlx::query_as(AssertSqlSafe(built.sql));
        let rows: Vec<Row> = query::bind_all(statement, built.params)
            .fetch_all(&self.pool)
            .await
            .context("reading latency histograms")?;
        Ok(rows
            .into_iter()
            .map(|row| query::PackedCell {
                group: row.group,
                total: row.total,
                first_token: row.first_token,
            })
            .collect())
    }
}

/// Hides the password of a connection URL in messages.
fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let Some((credentials, host)) = rest.split_once('@') else {
        return url.to_string();
    };
    match credentials.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_string(),
    }
}

/// Invocations per insert statement. Its array parameters go out in one Bind message, and a
/// connection keeps its write buffer at the size of the largest message it sent: a batch of
/// 5,000 in one statement kept about 7 MB per writer connection (heaptrack, 1M import: 17 MB
/// of a 44 MB heap peak).
const INVOCATIONS_PER_STATEMENT: usize = 1_000;

const INSERT_INVOCATIONS: &str = "INSERT INTO invocations (account_ref, region_ref, \
    request_key, request_text, ts_ms, inference_region_ref, operation_ref, model_called_ref, \
    model_id_ref, routing_ref, caller_arn_ref, request_metadata, requested_tier_ref, tier_ref, \
    tier_source_ref, error_code_ref, pricing_status_ref, unpriced_reason_ref, model_resolved, \
    input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, latency_ms, \
    first_token_ms, price_id, cost_pico, standard_price_id, standard_cost_pico, source_id) \
    SELECT * FROM UNNEST($1::int4[], $2::int4[], $3::uuid[], $4::text[], $5::int8[], \
    $6::int4[], $7::int4[], $8::int4[], $9::int4[], $10::int4[], $11::int4[], $12::text[], \
    $13::int4[], $14::int4[], $15::int4[], $16::int4[], $17::int4[], $18::int4[], $19::bool[], \
    $20::int8[], $21::int8[], $22::int8[], $23::int8[], $24::int8[], $25::int8[], $26::int8[], \
    $27::int8[], $28::int8[], $29::int8[], $30::int8[]) \
    ON CONFLICT (account_ref, region_ref, request_key, ts_ms) DO NOTHING \
    RETURNING account_ref, region_ref, request_key";

const UPSERT_UNPRICED: &str = "INSERT INTO unpriced_rollups (bucket_start, series_id, reason, \
    invocations) SELECT * FROM UNNEST($1::int8[], $2::int8[], $3::text[], $4::int8[]) \
    ON CONFLICT (bucket_start, series_id, reason) \
    DO UPDATE SET invocations = unpriced_rollups.invocations + excluded.invocations";

const UPSERT_CALLERS: &str = "INSERT INTO caller_rollups (granularity, bucket_start, \
    series_id, dimension, value, invocations, errors, input_tokens, output_tokens, \
    cache_read_tokens, cache_write_tokens, priced_invocations, unpriced_invocations, cost_pico, \
    standard_cost_pico, compared_cost_pico) \
    SELECT * FROM UNNEST($1::int4[], $2::int8[], $3::int8[], $4::text[], $5::text[], \
    $6::int8[], $7::int8[], $8::int8[], $9::int8[], $10::int8[], $11::int8[], $12::int8[], \
    $13::int8[], $14::int8[], $15::int8[], $16::int8[]) \
    ON CONFLICT (granularity, dimension, bucket_start, series_id, value) DO UPDATE SET \
    invocations = caller_rollups.invocations + excluded.invocations, \
    errors = caller_rollups.errors + excluded.errors, \
    input_tokens = caller_rollups.input_tokens + excluded.input_tokens, \
    output_tokens = caller_rollups.output_tokens + excluded.output_tokens, \
    cache_read_tokens = caller_rollups.cache_read_tokens + excluded.cache_read_tokens, \
    cache_write_tokens = caller_rollups.cache_write_tokens + excluded.cache_write_tokens, \
    priced_invocations = caller_rollups.priced_invocations + excluded.priced_invocations, \
    unpriced_invocations = caller_rollups.unpriced_invocations + excluded.unpriced_invocations, \
    cost_pico = caller_rollups.cost_pico + excluded.cost_pico, \
    standard_cost_pico = caller_rollups.standard_cost_pico + excluded.standard_cost_pico, \
    compared_cost_pico = caller_rollups.compared_cost_pico + excluded.compared_cost_pico";

/// The upsert adding cells to `$table` (rollups, keyed by series id, or tier_rollups, keyed by
/// tier; `$key` and `$key_type` name the key column and its array type). Each cell's histograms
/// arrive as a slice of one flat array per metric (`$19`, `$22`): a bound parameter cannot be
/// an array of arrays of different lengths.
macro_rules! upsert_cells {
    ($table:literal, $key:literal, $key_type:literal) => {
        concat!(
            "INSERT INTO ",
            $table,
            " AS t (granularity, bucket_start, ",
            $key,
            ", \
            invocations, errors, input_tokens, output_tokens, \
            cache_read_tokens, cache_write_tokens, priced_invocations, unpriced_invocations, \
            cost_pico, standard_cost_pico, compared_cost_pico, latency_count, latency_sum_ms, \
            first_token_count, first_token_sum_ms, latency_hist, first_token_hist) \
            SELECT g, b, s, n, e, i, o, cr, cw, p, u, c, sc, cc, lc, ls, fc, fs, \
            COALESCE(($19::int8[])[lf:lt], '{}'), COALESCE(($22::int8[])[ff:ft], '{}') \
            FROM UNNEST($1::int4[], $2::int8[], $3::",
            $key_type,
            "[], $4::int8[], $5::int8[], \
            $6::int8[], $7::int8[], $8::int8[], $9::int8[], $10::int8[], $11::int8[], \
            $12::int8[], $13::int8[], $14::int8[], $15::int8[], $16::int8[], $17::int8[], \
            $18::int8[], $20::int4[], $21::int4[], $23::int4[], $24::int4[]) \
            AS v(g, b, s, n, e, i, o, cr, cw, p, u, c, sc, cc, lc, ls, fc, fs, lf, lt, ff, ft) \
            ON CONFLICT (granularity, bucket_start, ",
            $key,
            ") DO UPDATE SET \
            invocations = t.invocations + excluded.invocations, \
            errors = t.errors + excluded.errors, \
            input_tokens = t.input_tokens + excluded.input_tokens, \
            output_tokens = t.output_tokens + excluded.output_tokens, \
            cache_read_tokens = t.cache_read_tokens + excluded.cache_read_tokens, \
            cache_write_tokens = t.cache_write_tokens + excluded.cache_write_tokens, \
            priced_invocations = t.priced_invocations + excluded.priced_invocations, \
            unpriced_invocations = t.unpriced_invocations + excluded.unpriced_invocations, \
            cost_pico = t.cost_pico + excluded.cost_pico, \
            standard_cost_pico = t.standard_cost_pico + excluded.standard_cost_pico, \
            compared_cost_pico = t.compared_cost_pico + excluded.compared_cost_pico, \
            latency_count = t.latency_count + excluded.latency_count, \
            latency_sum_ms = t.latency_sum_ms + excluded.latency_sum_ms, \
            first_token_count = t.first_token_count + excluded.first_token_count, \
            first_token_sum_ms = t.first_token_sum_ms + excluded.first_token_sum_ms, \
            latency_hist = merge_latency_histograms(t.latency_hist, excluded.latency_hist), \
            first_token_hist = merge_latency_histograms(t.first_token_hist, \
            excluded.first_token_hist)"
        )
    };
}
const UPSERT_ROLLUPS: &str = upsert_cells!("rollups", "series_id", "int8");
const UPSERT_TIER_ROLLUPS: &str = upsert_cells!("tier_rollups", "tier", "text");

const INSERT_QUARANTINE: &str = "INSERT INTO quarantine (source_id, location, reason, detail, \
    excerpt, first_seen_ms) \
    SELECT s, l, r, d, e, $6 FROM UNNEST($1::int8[], $2::text[], $3::text[], $4::text[], \
    $5::text[]) AS q(s, l, r, d, e) \
    ON CONFLICT (source_id, location) DO NOTHING";

const UPDATE_PRICING: &str = "UPDATE invocations SET pricing_status_ref = u.status, \
    price_id = u.price_id, cost_pico = u.cost, standard_price_id = u.standard_price_id, \
    standard_cost_pico = u.standard_cost, unpriced_reason_ref = u.reason, \
    model_id_ref = u.model_id, routing_ref = u.routing, model_resolved = u.model_resolved \
    FROM UNNEST($1::int4[], $2::int4[], $3::uuid[], $4::int4[], $5::int8[], $6::int8[], \
    $7::int8[], $8::int8[], $9::int4[], $10::int4[], $11::int4[], $12::bool[], $13::int8[]) \
    AS u(account_ref, region_ref, request_key, status, price_id, cost, standard_price_id, \
    standard_cost, reason, model_id, routing, model_resolved, ts_ms) \
    WHERE invocations.account_ref = u.account_ref AND invocations.region_ref = u.region_ref \
    AND invocations.request_key = u.request_key AND invocations.ts_ms = u.ts_ms";

/// The price groups a reprice changes: their index and stored key (see `reprice`), for one
/// transaction.
const CREATE_REPRICE_GROUPS: &str = "CREATE TEMP TABLE reprice_groups (\
    group_index INT8, day_index INT8, account_ref INT4, region_ref INT4, model_called_ref INT4, \
    model_id_ref INT4, model_resolved BOOL, routing_ref INT4, tier_ref INT4, error_code_key INT4, \
    token_shape INT4, stored_status_ref INT4, stored_price_key INT8, \
    stored_standard_price_key INT8, stored_reason_key INT4) ON COMMIT DROP";

const FILL_REPRICE_GROUPS: &str = "INSERT INTO reprice_groups SELECT * FROM UNNEST(\
    $1::int8[], $2::int8[], $3::int4[], $4::int4[], $5::int4[], $6::int4[], $7::bool[], \
    $8::int4[], $9::int4[], $10::int4[], $11::int4[], $12::int4[], $13::int8[], $14::int8[], \
    $15::int4[])";

/// See `rows::changed_by_price_group_columns`. The hour's rows come first (materialized): left
/// to itself, Postgres probes the primary key once per group, reading most of it every time.
const CHANGED_BY_PRICE_GROUP: &str = concat!(
    "WITH i AS MATERIALIZED (SELECT * FROM invocations WHERE ts_ms >= $2 AND ts_ms < $3) SELECT ",
    rows::changed_by_price_group_columns!(),
    " FROM i JOIN reprice_groups g ON ",
    rows::price_group_match!(),
    " WHERE g.day_index = $4"
);

impl WriteTx for PgTx {
    async fn insert_invocations(
        &mut self,
        rows: &[StoredInvocation],
        strings: &BatchStrings<'_>,
    ) -> Result<Vec<bool>> {
        let encoded = encode_in_key_order(rows, &first_occurrences(rows), strings)?;
        let mut inserted = Vec::with_capacity(encoded.len());
        for chunk in encoded.chunks(INVOCATIONS_PER_STATEMENT) {
            let enc = || chunk.iter().map(|(_, row)| row);
            let inv = || enc().map(|row| &row.row.invocation);
            let pricing = || enc().map(|row| &row.row.pricing);
            let keys: Vec<(i32, i32, Uuid)> = sqlx::query_as(INSERT_INVOCATIONS)
                .bind(enc().map(|r| r.key.account).bind_iter())
                .bind(enc().map(|r| r.key.region).bind_iter())
                .bind(enc().map(|r| r.key.request).bind_iter())
                .bind(enc().map(|r| r.request_text).bind_iter())
                .bind(inv().map(|i| i.timestamp_ms).bind_iter())
                .bind(enc().map(|r| r.inference_region).bind_iter())
                .bind(enc().map(|r| r.operation).bind_iter())
                .bind(enc().map(|r| r.model_called).bind_iter())
                .bind(enc().map(|r| r.model_id).bind_iter())
                .bind(enc().map(|r| r.routing).bind_iter())
                .bind(enc().map(|r| r.caller_arn).bind_iter())
                .bind(inv().map(|i| i.request_metadata.as_deref()).bind_iter())
                .bind(enc().map(|r| r.requested_tier).bind_iter())
                .bind(enc().map(|r| r.tier).bind_iter())
                .bind(enc().map(|r| r.tier_source).bind_iter())
                .bind(enc().map(|r| r.error_code).bind_iter())
                .bind(enc().map(|r| r.pricing_status).bind_iter())
                .bind(enc().map(|r| r.unpriced_reason).bind_iter())
                .bind(inv().map(|i| i.model.resolved).bind_iter())
                .bind(inv().map(|i| count_column(i.tokens.input)).bind_iter())
                .bind(inv().map(|i| count_column(i.tokens.output)).bind_iter())
                .bind(inv().map(|i| count_column(i.tokens.cache_read)).bind_iter())
                .bind(
                    inv()
                        .map(|i| count_column(i.tokens.cache_write))
                        .bind_iter(),
                )
                .bind(inv().map(|i| i.latency_ms.map(i64::from)).bind_iter())
                .bind(
                    inv()
                        .map(|i| i.time_to_first_token_ms.map(i64::from))
                        .bind_iter(),
                )
                .bind(pricing().map(|p| p.price_id()).bind_iter())
                .bind(pricing().map(|p| p.cost_pico()).bind_iter())
                .bind(
                    pricing()
                        .map(|p| p.standard().map(|s| s.price_id))
                        .bind_iter(),
                )
                .bind(
                    pricing()
                        .map(|p| p.standard().map(|s| s.cost.picodollars()))
                        .bind_iter(),
                )
                .bind(enc().map(|r| r.row.source_id).bind_iter())
                .fetch_all(&mut *self.tx)
                .await
                .context("inserting invocations")?;
            inserted.extend(keys);
        }
        Ok(mark_inserted(rows.len(), &encoded, &inserted))
    }

    async fn ensure_strings(&mut self, values: &[&str]) -> Result<Vec<(String, i32)>> {
        sqlx::query(
            "INSERT INTO dictionary (value) SELECT v FROM UNNEST($1::text[]) AS t(v) \
             ON CONFLICT DO NOTHING",
        )
        .bind(values)
        .execute(&mut *self.tx)
        .await
        .context("adding strings to the dictionary")?;
        sqlx::query_as("SELECT value, id FROM dictionary WHERE value = ANY($1::text[])")
            .bind(values)
            .fetch_all(&mut *self.tx)
            .await
            .context("reading dictionary ids")
    }

    async fn ensure_series(&mut self, keys: &[&SeriesKey]) -> Result<Vec<i64>> {
        let mut ids = Vec::with_capacity(keys.len());
        for key in keys {
            let inserted: Option<i64> = sqlx::query_scalar(
                "INSERT INTO series (account_id, region, model_id, tier) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT DO NOTHING RETURNING id",
            )
            .bind(&key.account_id)
            .bind(&key.region)
            .bind(&key.model_id)
            .bind(&key.tier)
            .fetch_optional(&mut *self.tx)
            .await
            .context("registering a series")?;
            let id = match inserted {
                Some(id) => id,
                None => sqlx::query_scalar(rows::SERIES_ID)
                    .bind(&key.account_id)
                    .bind(&key.region)
                    .bind(&key.model_id)
                    .bind(&key.tier)
                    .fetch_one(&mut *self.tx)
                    .await
                    .context("reading a series id")?,
            };
            ids.push(id);
        }
        Ok(ids)
    }

    async fn add_rollups(&mut self, cells: &[CellWrite<'_, i64>]) -> Result<()> {
        upsert_cells(&mut self.tx, UPSERT_ROLLUPS, cells)
            .await
            .context("updating rollups")
    }

    async fn add_tier_rollups(&mut self, cells: &[CellWrite<'_, &str>]) -> Result<()> {
        upsert_cells(&mut self.tx, UPSERT_TIER_ROLLUPS, cells)
            .await
            .context("updating tier cells")
    }

    async fn add_caller_rollups(&mut self, rows: &[CallerWrite<'_>]) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let totals = || rows.iter().map(|row| row.totals);
        sqlx::query(UPSERT_CALLERS)
            .bind(rows.iter().map(|r| r.granularity_s as i32).bind_iter())
            .bind(rows.iter().map(|r| r.bucket_start).bind_iter())
            .bind(rows.iter().map(|r| r.series_id).bind_iter())
            .bind(rows.iter().map(|r| r.dimension).bind_iter())
            .bind(rows.iter().map(|r| r.value).bind_iter())
            .bind(totals().map(|t| t.invocations).bind_iter())
            .bind(totals().map(|t| t.errors).bind_iter())
            .bind(totals().map(|t| t.input_tokens).bind_iter())
            .bind(totals().map(|t| t.output_tokens).bind_iter())
            .bind(totals().map(|t| t.cache_read_tokens).bind_iter())
            .bind(totals().map(|t| t.cache_write_tokens).bind_iter())
            .bind(totals().map(|t| t.priced_invocations).bind_iter())
            .bind(totals().map(|t| t.unpriced_invocations).bind_iter())
            .bind(totals().map(|t| t.cost_pico).bind_iter())
            .bind(totals().map(|t| t.standard_cost_pico).bind_iter())
            .bind(totals().map(|t| t.compared_cost_pico).bind_iter())
            .execute(&mut *self.tx)
            .await
            .context("updating caller rollups")?;
        Ok(())
    }

    async fn add_unpriced_rollups(&mut self, rows: &[UnpricedWrite<'_>]) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        sqlx::query(UPSERT_UNPRICED)
            .bind(rows.iter().map(|r| r.bucket_start).bind_iter())
            .bind(rows.iter().map(|r| r.series_id).bind_iter())
            .bind(rows.iter().map(|r| r.reason).bind_iter())
            .bind(rows.iter().map(|r| r.invocations).bind_iter())
            .execute(&mut *self.tx)
            .await
            .context("counting unpriced invocations")?;
        Ok(())
    }

    async fn insert_quarantine(&mut self, rows: &[QuarantinedRecord], now_ms: i64) -> Result<u64> {
        if rows.is_empty() {
            return Ok(0);
        }
        let result = sqlx::query(INSERT_QUARANTINE)
            .bind(rows.iter().map(|r| r.source_id).bind_iter())
            .bind(rows.iter().map(|r| r.location.as_str()).bind_iter())
            .bind(rows.iter().map(|r| r.reason.as_str()).bind_iter())
            .bind(rows.iter().map(|r| r.detail.as_str()).bind_iter())
            .bind(rows.iter().map(|r| r.excerpt.as_str()).bind_iter())
            .bind(now_ms)
            .execute(&mut *self.tx)
            .await
            .context("quarantining records")?;
        Ok(result.rows_affected())
    }

    async fn dictionary_values(&mut self, ids: &[i32]) -> Result<Vec<(i32, String)>> {
        sqlx::query_as("SELECT id, value FROM dictionary WHERE id = ANY($1::int4[])")
            .bind(ids)
            .fetch_all(&mut *self.tx)
            .await
            .context("reading dictionary strings")
    }

    async fn create_reprice_groups(&mut self, groups: &[GroupUpdate<'_>]) -> Result<()> {
        sqlx::query(CREATE_REPRICE_GROUPS)
            .execute(&mut *self.tx)
            .await
            .context("creating the reprice groups table")?;
        let g = || groups.iter();
        sqlx::query(FILL_REPRICE_GROUPS)
            .bind(g().map(|group| group.index as i64).bind_iter())
            .bind(g().map(|group| group.key().day_index).bind_iter())
            .bind(g().map(|group| group.key().account_ref).bind_iter())
            .bind(g().map(|group| group.key().region_ref).bind_iter())
            .bind(g().map(|group| group.key().model_called_ref).bind_iter())
            .bind(g().map(|group| group.key().model_id_ref).bind_iter())
            .bind(g().map(|group| group.key().model_resolved).bind_iter())
            .bind(g().map(|group| group.key().routing_ref).bind_iter())
            .bind(g().map(|group| group.key().tier_ref).bind_iter())
            .bind(g().map(|group| group.key().error_code_key).bind_iter())
            .bind(g().map(|group| group.key().token_shape).bind_iter())
            .bind(g().map(|group| group.group.stored_status_ref).bind_iter())
            .bind(g().map(|group| group.group.stored_price_key).bind_iter())
            .bind(
                g().map(|group| group.group.stored_standard_price_key)
                    .bind_iter(),
            )
            .bind(g().map(|group| group.group.stored_reason_key).bind_iter())
            .execute(&mut *self.tx)
            .await
            .context("filling the reprice groups table")?;
        // Each hour reads its day's groups; a temporary table has no statistics until analyzed.
        // For the rest of this transaction only: the planner underestimates an hour's rows
        // (a filter on an expression of the materialized hour) and sorts both sides for a
        // merge join on ten columns, spilling the hour to disk; a hash join in memory takes
        // half the time (EXPLAIN ANALYZE at 10M: 41 ms → 21 ms per hour).
        for statement in [
            "CREATE INDEX ON reprice_groups (day_index)",
            "ANALYZE reprice_groups",
            "SET LOCAL enable_mergejoin = off",
            "SET LOCAL work_mem = '32MB'",
        ] {
            sqlx::query(statement)
                .execute(&mut *self.tx)
                .await
                .context("indexing the reprice groups table")?;
        }
        Ok(())
    }

    async fn update_pricing(
        &mut self,
        rows: &[&StoredInvocation],
        strings: &BatchStrings<'_>,
    ) -> Result<()> {
        let encoded = rows
            .iter()
            .map(|row| EncodedRow::of(row, strings))
            .collect::<Result<Vec<_>>>()?;
        let pricing = || encoded.iter().map(|row| &row.row.pricing);
        sqlx::query(UPDATE_PRICING)
            .bind(encoded.iter().map(|r| r.key.account).bind_iter())
            .bind(encoded.iter().map(|r| r.key.region).bind_iter())
            .bind(encoded.iter().map(|r| r.key.request).bind_iter())
            .bind(encoded.iter().map(|r| r.pricing_status).bind_iter())
            .bind(pricing().map(|p| p.price_id()).bind_iter())
            .bind(pricing().map(|p| p.cost_pico()).bind_iter())
            .bind(
                pricing()
                    .map(|p| p.standard().map(|s| s.price_id))
                    .bind_iter(),
            )
            .bind(
                pricing()
                    .map(|p| p.standard().map(|s| s.cost.picodollars()))
                    .bind_iter(),
            )
            .bind(encoded.iter().map(|r| r.unpriced_reason).bind_iter())
            .bind(encoded.iter().map(|r| r.model_id).bind_iter())
            .bind(encoded.iter().map(|r| r.routing).bind_iter())
            .bind(
                encoded
                    .iter()
                    .map(|r| r.row.invocation.model.resolved)
                    .bind_iter(),
            )
            .bind(
                encoded
                    .iter()
                    .map(|r| r.row.invocation.timestamp_ms)
                    .bind_iter(),
            )
            .execute(&mut *self.tx)
            .await
            .context("updating invocation prices")?;
        Ok(())
    }

    async fn upsert_metric_points(&mut self, points: &[PointWrite]) -> Result<()> {
        if points.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "INSERT INTO metric_points (series_id, minute_start, value) \
             SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::float8[]) \
             ON CONFLICT (series_id, minute_start) DO UPDATE SET value = excluded.value",
        )
        .bind(points.iter().map(|p| p.series_id).bind_iter())
        .bind(points.iter().map(|p| p.minute_start).bind_iter())
        .bind(points.iter().map(|p| p.value).bind_iter())
        .execute(&mut *self.tx)
        .await
        .context("storing metric points")?;
        Ok(())
    }

    shared_tx_statements!();
    metric_tx_statements!();
    alerts::alert_tx_statements!();
    price_list::price_list_tx_statements!();
}

/// Adds `cells` to a table of cells with `statement` (see `upsert_cells!`), one statement for
/// the batch: the key is a series id or a tier.
async fn upsert_cells<Key>(
    tx: &mut Transaction<'static, Postgres>,
    statement: &'static str,
    cells: &[CellWrite<'_, Key>],
) -> std::result::Result<(), sqlx::Error>
where
    Key: Copy + Send + Sync + sqlx::postgres::PgHasArrayType,
    for<'q> Key: sqlx::Encode<'q, Postgres> + sqlx::Type<Postgres>,
{
    let totals = || cells.iter().map(|cell| cell.totals);
    let latency = FlatSlices::of(cells.iter().map(|c| c.latency_hist));
    let first_token = FlatSlices::of(cells.iter().map(|c| c.first_token_hist));
    sqlx::query(statement)
        .bind(cells.iter().map(|c| c.granularity_s as i32).bind_iter())
        .bind(cells.iter().map(|c| c.bucket_start).bind_iter())
        .bind(cells.iter().map(|c| c.key).bind_iter())
        .bind(totals().map(|t| t.invocations).bind_iter())
        .bind(totals().map(|t| t.errors).bind_iter())
        .bind(totals().map(|t| t.input_tokens).bind_iter())
        .bind(totals().map(|t| t.output_tokens).bind_iter())
        .bind(totals().map(|t| t.cache_read_tokens).bind_iter())
        .bind(totals().map(|t| t.cache_write_tokens).bind_iter())
        .bind(totals().map(|t| t.priced_invocations).bind_iter())
        .bind(totals().map(|t| t.unpriced_invocations).bind_iter())
        .bind(totals().map(|t| t.cost_pico).bind_iter())
        .bind(totals().map(|t| t.standard_cost_pico).bind_iter())
        .bind(totals().map(|t| t.compared_cost_pico).bind_iter())
        .bind(totals().map(|t| t.latency_count).bind_iter())
        .bind(totals().map(|t| t.latency_sum_ms).bind_iter())
        .bind(totals().map(|t| t.first_token_count).bind_iter())
        .bind(totals().map(|t| t.first_token_sum_ms).bind_iter())
        .bind(&latency.values)
        .bind(&latency.from)
        .bind(&latency.to)
        .bind(&first_token.values)
        .bind(&first_token.from)
        .bind(&first_token.to)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Lists of values sent as one flat array and, per list, the 1-based bounds of its slice
/// (`values[from:to]`; an empty list has `to < from`).
struct FlatSlices {
    values: Vec<i64>,
    from: Vec<i32>,
    to: Vec<i32>,
}

impl FlatSlices {
    fn of<'a>(lists: impl ExactSizeIterator<Item = &'a [i64]>) -> FlatSlices {
        let mut slices = FlatSlices {
            values: Vec::new(),
            from: Vec::with_capacity(lists.len()),
            to: Vec::with_capacity(lists.len()),
        };
        for list in lists {
            // A statement's arrays stay far below i32::MAX entries (a batch is bounded).
            slices.from.push(slices.values.len() as i32 + 1);
            slices.values.extend_from_slice(list);
            slices.to.push(slices.values.len() as i32);
        }
        slices
    }
}

#[cfg(test)]
mod tests {
    use super::redact_password;

    #[test]
    fn passwords_are_hidden_in_messages() {
        assert_eq!(
            redact_password("postgres://tw:secret@db:5432/tierwatch"),
            "postgres://tw:***@db:5432/tierwatch"
        );
        assert_eq!(
            redact_password("postgres://root@127.0.0.1/test"),
            "postgres://root@127.0.0.1/test"
        );
    }
}
