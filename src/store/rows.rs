//! Row shapes and read queries shared by both backends.
//!
//! Read queries are plain SQL that Postgres and SQLite both accept (`$N` parameters work in
//! SQLite too); sums are done in Rust, in i128 where money can grow, so no dialect's SUM
//! overflow or NUMERIC type gets in the way.

use crate::model::{
    Invocation, ModelRef, Money, Routing, Tier, TierResolution, TierSource, TokenCounts,
};
use crate::rollup::CellTotals;

use std::collections::HashSet;

use uuid::Uuid;

use super::dictionary::{self, BatchStrings};
use super::{
    CellRow, Result, StandardCost, StoreError, StoredInvocation, StoredPricing, UnpricedGroup,
};

pub(super) const READ_CELLS: &str = "SELECT r.bucket_start, s.account_id, s.region, s.model_id, \
    s.tier, invocations, errors, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, \
    priced_invocations, unpriced_invocations, cost_pico, standard_cost_pico, compared_cost_pico, \
    latency_count, latency_sum_ms, first_token_count, first_token_sum_ms \
    FROM rollups r JOIN series s ON s.id = r.series_id \
    WHERE r.granularity = $1 AND r.bucket_start >= $2 AND r.bucket_start < $3";

pub(super) const UNPRICED_GROUPS: &str = "SELECT s.model_id, s.region, s.tier, u.reason, \
    CAST(SUM(u.invocations) AS BIGINT) AS invocations FROM unpriced_rollups u \
    JOIN series s ON s.id = u.series_id WHERE u.bucket_start >= $1 AND u.bucket_start < $2 \
    GROUP BY s.model_id, s.region, s.tier, u.reason ORDER BY s.model_id, s.region, s.tier, u.reason";

pub(super) const QUARANTINE_GROUPS: &str =
    "SELECT reason, COUNT(*) AS records FROM quarantine GROUP BY reason ORDER BY reason";

pub(super) const COUNT_INVOCATIONS: &str =
    "SELECT COUNT(*) FROM invocations WHERE ts_ms >= $1 AND ts_ms < $2";

/// The columns of an [`InvocationRow`], as the `invocation_rows` view (and the layout before
/// migration 0011) name them.
macro_rules! invocation_columns {
    () => {
        "account_id, region, request_id, ts_ms, \
         inference_region, operation, model_called, model_id, routing, model_resolved, caller_arn, \
         request_metadata, requested_tier, tier, tier_source, input_tokens, output_tokens, \
         cache_read_tokens, cache_write_tokens, latency_ms, first_token_ms, error_code, \
         pricing_status, price_id, cost_pico, standard_price_id, standard_cost_pico, \
         unpriced_reason, source_id"
    };
}

pub(super) const LOAD_INVOCATIONS: &str = concat!(
    "SELECT ",
    invocation_columns!(),
    " FROM invocation_rows WHERE ts_ms >= $1 AND ts_ms < $2 ORDER BY ts_ms, request_id"
);

/// Which token counts an invocation has, as one number: per token type 0 (the record did not
/// say), 1 (zero) or 2 (some), weighted 1, 3, 9, 27 for input, output, cache read, cache
/// write. Everything a price decision reads of the token counts (see `reprice`).
macro_rules! token_shape {
    () => {
        "(CASE WHEN i.input_tokens IS NULL THEN 0 WHEN i.input_tokens = 0 THEN 1 ELSE 2 END \
         + 3 * (CASE WHEN i.output_tokens IS NULL THEN 0 WHEN i.output_tokens = 0 THEN 1 ELSE 2 END) \
         + 9 * (CASE WHEN i.cache_read_tokens IS NULL THEN 0 WHEN i.cache_read_tokens = 0 THEN 1 ELSE 2 END) \
         + 27 * (CASE WHEN i.cache_write_tokens IS NULL THEN 0 WHEN i.cache_write_tokens = 0 THEN 1 ELSE 2 END))"
    };
}
pub(super) use token_shape;

/// The columns a price group is matched on, as `reprice_groups` and `invocations i` hold them:
/// the day (counted from the repriced range's start, $1), every dictionary reference a price
/// decision reads, the token shape, and the pricing the calls have now. An absent value is 0
/// (no dictionary or price id is 0), so the match is plain equality, which both databases can
/// hash.
macro_rules! price_group_match {
    () => {
        concat!(
            "(i.ts_ms - $1) / 86400000 = g.day_index AND i.account_ref = g.account_ref \
             AND i.region_ref = g.region_ref AND i.model_called_ref = g.model_called_ref \
             AND i.model_id_ref = g.model_id_ref AND i.model_resolved = g.model_resolved \
             AND i.routing_ref = g.routing_ref AND i.tier_ref = g.tier_ref \
             AND COALESCE(i.error_code_ref, 0) = g.error_code_key \
             AND i.pricing_status_ref = g.stored_status_ref \
             AND COALESCE(i.price_id, 0) = g.stored_price_key \
             AND COALESCE(i.standard_price_id, 0) = g.stored_standard_price_key \
             AND COALESCE(i.unpriced_reason_ref, 0) = g.stored_reason_key AND ",
            $crate::store::rows::token_shape!(),
            " = g.token_shape"
        )
    };
}
pub(super) use price_group_match;

/// What the backends' `CHANGED_BY_PRICE_GROUP` returns of the invocations of one hour
/// (`$2 ≤ ts < $3`, in day `$4` of the range starting at `$1`) in a price group of the
/// temporary `reprice_groups` table (which holds only the groups a reprice changes): each as
/// stored before the change (dictionary references, looked up by the caller), with the index
/// of its group. Each backend says how the hour's rows meet the groups.
macro_rules! changed_by_price_group_columns {
    () => {
        "i.account_ref, i.region_ref, i.request_key, i.request_text, i.ts_ms, \
         i.inference_region_ref, i.operation_ref, i.model_called_ref, i.model_id_ref, \
         i.routing_ref, i.caller_arn_ref, i.request_metadata, i.requested_tier_ref, \
         i.tier_ref, i.tier_source_ref, i.error_code_ref, i.pricing_status_ref, \
         i.unpriced_reason_ref, i.model_resolved, i.input_tokens, i.output_tokens, \
         i.cache_read_tokens, i.cache_write_tokens, i.latency_ms, i.first_token_ms, \
         i.price_id, i.cost_pico, i.standard_price_id, i.standard_cost_pico, i.source_id, \
         g.group_index"
    };
}
pub(super) use changed_by_price_group_columns;

/// An invocation as stored, its strings as dictionary references (see
/// [`changed_by_price_group_columns`]), with the index of its price group.
#[derive(sqlx::FromRow)]
pub(crate) struct StoredRefs {
    account_ref: i32,
    region_ref: i32,
    request_key: Uuid,
    request_text: Option<String>,
    ts_ms: i64,
    inference_region_ref: Option<i32>,
    operation_ref: i32,
    model_called_ref: i32,
    model_id_ref: i32,
    routing_ref: i32,
    caller_arn_ref: Option<i32>,
    request_metadata: Option<String>,
    requested_tier_ref: Option<i32>,
    tier_ref: i32,
    tier_source_ref: i32,
    error_code_ref: Option<i32>,
    pricing_status_ref: i32,
    unpriced_reason_ref: Option<i32>,
    model_resolved: bool,
    input_tokens: Option<i64>,
    output_tokens: Option<i64>,
    cache_read_tokens: Option<i64>,
    cache_write_tokens: Option<i64>,
    latency_ms: Option<i64>,
    first_token_ms: Option<i64>,
    price_id: Option<i64>,
    cost_pico: Option<i64>,
    standard_price_id: Option<i64>,
    standard_cost_pico: Option<i64>,
    source_id: i64,
    pub group_index: i64,
}

impl StoredRefs {
    /// Every dictionary reference of the row.
    pub(super) fn refs(&self) -> impl Iterator<Item = i32> + use<> {
        [
            Some(self.account_ref),
            Some(self.region_ref),
            self.inference_region_ref,
            Some(self.operation_ref),
            Some(self.model_called_ref),
            Some(self.model_id_ref),
            Some(self.routing_ref),
            self.caller_arn_ref,
            self.requested_tier_ref,
            Some(self.tier_ref),
            Some(self.tier_source_ref),
            self.error_code_ref,
            Some(self.pricing_status_ref),
            self.unpriced_reason_ref,
        ]
        .into_iter()
        .flatten()
    }

    /// The stored invocation, its references looked up in `strings`.
    pub(super) fn into_stored(
        self,
        strings: &std::collections::HashMap<i32, String>,
    ) -> Result<StoredInvocation> {
        let string = |id: i32| {
            strings.get(&id).cloned().ok_or_else(|| {
                StoreError::Inconsistent(format!("dictionary id {id} is not in the dictionary"))
            })
        };
        let optional = |id: Option<i32>| id.map(string).transpose();
        InvocationRow {
            account_id: string(self.account_ref)?,
            region: string(self.region_ref)?,
            request_id: self
                .request_text
                .unwrap_or_else(|| self.request_key.hyphenated().to_string()),
            ts_ms: self.ts_ms,
            inference_region: optional(self.inference_region_ref)?,
            operation: string(self.operation_ref)?,
            model_called: string(self.model_called_ref)?,
            model_id: string(self.model_id_ref)?,
            routing: string(self.routing_ref)?,
            model_resolved: self.model_resolved,
            caller_arn: optional(self.caller_arn_ref)?,
            request_metadata: self.request_metadata,
            requested_tier: optional(self.requested_tier_ref)?,
            tier: string(self.tier_ref)?,
            tier_source: string(self.tier_source_ref)?,
            input_tokens: self.input_tokens,
            output_tokens: self.output_tokens,
            cache_read_tokens: self.cache_read_tokens,
            cache_write_tokens: self.cache_write_tokens,
            latency_ms: self.latency_ms,
            first_token_ms: self.first_token_ms,
            error_code: optional(self.error_code_ref)?,
            pricing_status: string(self.pricing_status_ref)?,
            price_id: self.price_id,
            cost_pico: self.cost_pico,
            standard_price_id: self.standard_price_id,
            standard_cost_pico: self.standard_cost_pico,
            unpriced_reason: optional(self.unpriced_reason_ref)?,
            source_id: self.source_id,
        }
        .into_stored()
    }
}

/// The price groups of a range (see `reprice`): invocations that every price decision treats
/// alike and that are priced alike now, with the largest token counts of each (to prove no
/// cost in the group overflows).
pub(super) const PRICE_GROUPS: &str = concat!(
    "SELECT g.day_index, g.account_ref, g.region_ref, g.model_called_ref, g.model_id_ref, \
     g.model_resolved, g.routing_ref, g.tier_ref, g.error_code_key, g.token_shape, \
     g.stored_status_ref, g.stored_price_key, g.stored_standard_price_key, g.stored_reason_key, \
     g.max_input, g.max_output, g.max_cache_read, g.max_cache_write, g.invocations, \
     a.value AS account_id, r.value AS region, mc.value AS model_called, mi.value AS model_id, \
     ro.value AS routing, t.value AS tier, e.value AS error_code \
     FROM (SELECT (i.ts_ms - $1) / 86400000 AS day_index, i.account_ref, i.region_ref, \
         i.model_called_ref, i.model_id_ref, i.model_resolved, i.routing_ref, i.tier_ref, \
         COALESCE(i.error_code_ref, 0) AS error_code_key, ",
    token_shape!(),
    " AS token_shape, i.pricing_status_ref AS stored_status_ref, \
         COALESCE(i.price_id, 0) AS stored_price_key, \
         COALESCE(i.standard_price_id, 0) AS stored_standard_price_key, \
         COALESCE(i.unpriced_reason_ref, 0) AS stored_reason_key, \
         MAX(i.input_tokens) AS max_input, MAX(i.output_tokens) AS max_output, \
         MAX(i.cache_read_tokens) AS max_cache_read, MAX(i.cache_write_tokens) AS max_cache_write, \
         COUNT(*) AS invocations \
         FROM invocations i WHERE i.ts_ms >= $1 AND i.ts_ms < $2 \
         GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14) g \
     JOIN dictionary a ON a.id = g.account_ref JOIN dictionary r ON r.id = g.region_ref \
     JOIN dictionary mc ON mc.id = g.model_called_ref JOIN dictionary mi ON mi.id = g.model_id_ref \
     JOIN dictionary ro ON ro.id = g.routing_ref JOIN dictionary t ON t.id = g.tier_ref \
     LEFT JOIN dictionary e ON e.id = g.error_code_key"
);

/// What a price decision reads of a price group (see [`PRICE_GROUPS`], [`KEPT_PRICE_GROUPS`]).
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct PriceGroupRow {
    pub day_index: i64,
    pub account_ref: i32,
    pub region_ref: i32,
    pub model_called_ref: i32,
    pub model_id_ref: i32,
    pub model_resolved: bool,
    pub routing_ref: i32,
    pub tier_ref: i32,
    pub error_code_key: i32,
    pub token_shape: i32,
    pub max_input: Option<i64>,
    pub max_output: Option<i64>,
    pub max_cache_read: Option<i64>,
    pub max_cache_write: Option<i64>,
    pub invocations: i64,
    pub account_id: String,
    pub region: String,
    pub model_called: String,
    pub model_id: String,
    pub routing: String,
    pub tier: String,
    pub error_code: Option<String>,
}

/// A price group of stored invocations, as [`PRICE_GROUPS`] reads it: the group, and the
/// pricing its calls have now (0 where they have no price or cause: no id is 0).
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct StoredPriceGroupRow {
    #[sqlx(flatten)]
    pub group: PriceGroupRow,
    pub stored_status_ref: i32,
    pub stored_price_key: i64,
    pub stored_standard_price_key: i64,
    pub stored_reason_key: i32,
}

/// Sums the invocations of `$1 ≤ ts < $2` per day and price group into `price_groups`, which
/// reprices their days once retention has dropped them (see migration 0013).
pub(super) const KEEP_PRICE_GROUPS: &str = concat!(
    "INSERT INTO price_groups (bucket_start, account_ref, region_ref, model_called_ref, \
     model_id_ref, model_resolved, routing_ref, tier_ref, error_code_key, token_shape, \
     invocations, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, \
     max_input, max_output, max_cache_read, max_cache_write) \
     SELECT (i.ts_ms / 86400000) * 86400, i.account_ref, i.region_ref, i.model_called_ref, \
     i.model_id_ref, i.model_resolved, i.routing_ref, i.tier_ref, COALESCE(i.error_code_ref, 0), ",
    token_shape!(),
    ", COUNT(*), SUM(COALESCE(i.input_tokens, 0)), SUM(COALESCE(i.output_tokens, 0)), \
     SUM(COALESCE(i.cache_read_tokens, 0)), SUM(COALESCE(i.cache_write_tokens, 0)), \
     MAX(i.input_tokens), MAX(i.output_tokens), MAX(i.cache_read_tokens), \
     MAX(i.cache_write_tokens) \
     FROM invocations i WHERE i.ts_ms >= $1 AND i.ts_ms < $2 \
     GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10"
);

/// The kept price groups of the days in `$1 ≤ ms < $2`, as [`KeptPriceGroupRow`]s, with the
/// series (rollup cells' key) each counts in.
pub(super) const KEPT_PRICE_GROUPS: &str = "SELECT (g.bucket_start * 1000 - $1) / 86400000 AS day_index, \
     g.account_ref, g.region_ref, g.model_called_ref, g.model_id_ref, g.model_resolved, \
     g.routing_ref, g.tier_ref, g.error_code_key, g.token_shape, \
     g.max_input, g.max_output, g.max_cache_read, g.max_cache_write, g.invocations, \
     a.value AS account_id, r.value AS region, mc.value AS model_called, mi.value AS model_id, \
     ro.value AS routing, t.value AS tier, e.value AS error_code, \
     g.bucket_start, s.id AS series_id, g.input_tokens AS sum_input, \
     g.output_tokens AS sum_output, g.cache_read_tokens AS sum_cache_read, \
     g.cache_write_tokens AS sum_cache_write \
     FROM price_groups g \
     JOIN dictionary a ON a.id = g.account_ref JOIN dictionary r ON r.id = g.region_ref \
     JOIN dictionary mc ON mc.id = g.model_called_ref JOIN dictionary mi ON mi.id = g.model_id_ref \
     JOIN dictionary ro ON ro.id = g.routing_ref JOIN dictionary t ON t.id = g.tier_ref \
     LEFT JOIN dictionary e ON e.id = g.error_code_key \
     LEFT JOIN series s ON s.account_id = a.value AND s.region = r.value \
         AND s.model_id = mi.value AND s.tier = t.value \
     WHERE g.bucket_start >= $1 / 1000 AND g.bucket_start < $2 / 1000";

/// A kept price group (see migration 0013): its key and maxima as [`PriceGroupRow`], its day,
/// series and token sums.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct KeptPriceGroupRow {
    #[sqlx(flatten)]
    pub group: PriceGroupRow,
    /// Unix seconds.
    pub bucket_start: i64,
    /// `None` would mean a day cell without its series row: inconsistent.
    pub series_id: Option<i64>,
    pub sum_input: i64,
    pub sum_output: i64,
    pub sum_cache_read: i64,
    pub sum_cache_write: i64,
}

/// Day cells of `$1 ≤ bucket_start < $2` (seconds): their key, how many calls they count and
/// their cost fields (see `reprice::DayCellRow`).
pub(super) const DAY_CELLS: &str = "SELECT bucket_start, series_id, invocations, \
    priced_invocations, unpriced_invocations, cost_pico, standard_cost_pico, compared_cost_pico \
    FROM rollups WHERE granularity = 86400 AND bucket_start >= $1 AND bucket_start < $2";

/// Overwrites what a day cell's prices make of its calls.
pub(super) const SET_DAY_CELL_PRICING: &str = "UPDATE rollups SET priced_invocations = $3, \
    unpriced_invocations = $4, cost_pico = $5, standard_cost_pico = $6, compared_cost_pico = $7 \
    WHERE granularity = 86400 AND bucket_start = $1 AND series_id = $2";

/// Sets the sums of the tier day cells of `$1 ≤ bucket_start < $2` (seconds) to those of their
/// series' day cells: after `SET_DAY_CELL_PRICING`, which changes only pricing columns (the
/// histograms of a cell do not depend on prices).
pub(super) const REFRESH_TIER_DAY_CELLS: &str = "UPDATE tier_rollups SET \
    priced_invocations = c.priced_invocations, unpriced_invocations = c.unpriced_invocations, \
    cost_pico = c.cost_pico, standard_cost_pico = c.standard_cost_pico, \
    compared_cost_pico = c.compared_cost_pico \
    FROM (SELECT r.bucket_start AS bucket_start, s.tier AS tier, \
        CAST(SUM(r.priced_invocations) AS BIGINT) AS priced_invocations, \
        CAST(SUM(r.unpriced_invocations) AS BIGINT) AS unpriced_invocations, \
        CAST(SUM(r.cost_pico) AS BIGINT) AS cost_pico, \
        CAST(SUM(r.standard_cost_pico) AS BIGINT) AS standard_cost_pico, \
        CAST(SUM(r.compared_cost_pico) AS BIGINT) AS compared_cost_pico \
        FROM rollups r JOIN series s ON s.id = r.series_id \
        WHERE r.granularity = 86400 AND r.bucket_start >= $1 AND r.bucket_start < $2 \
        GROUP BY r.bucket_start, s.tier) c \
    WHERE tier_rollups.granularity = 86400 AND tier_rollups.bucket_start = c.bucket_start \
    AND tier_rollups.tier = c.tier";

/// Moves the retention horizon forward (never back): raw invocations before it are gone.
pub(crate) const SET_RAW_KEPT_FROM: &str =
    "UPDATE retention SET raw_kept_from_ms = $1 WHERE id = 1 AND raw_kept_from_ms < $1";

/// The retention horizons (see migrations 0012 and 0016).
pub(super) const HORIZONS: &str =
    "SELECT raw_kept_from_ms, minute_cells_from_s FROM retention WHERE id = 1";

/// Moves the minute cells' horizon forward (never back).
pub(super) const SET_MINUTE_CELLS_FROM: &str =
    "UPDATE retention SET minute_cells_from_s = $1 WHERE id = 1 AND minute_cells_from_s < $1";

/// A page of invocations stored in the layout before migration 0011, in key order.
pub(super) const LOAD_LEGACY_INVOCATIONS: &str = concat!(
    "SELECT ",
    invocation_columns!(),
    " FROM invocations_v1 ORDER BY account_id, region, request_id LIMIT $1"
);

/// Deletes the legacy rows up to a key: the page just converted.
pub(super) const DELETE_LEGACY_INVOCATIONS: &str = "DELETE FROM invocations_v1 \
    WHERE (account_id, region, request_id) <= ($1, $2, $3)";

pub(super) const SERIES_ID: &str = "SELECT id FROM series WHERE account_id = $1 AND region = $2 \
    AND model_id = $3 AND tier = $4";

pub(super) const CHECKPOINT: &str = "SELECT c.position FROM checkpoints c \
    JOIN ingest_sources s ON s.id = c.source_id WHERE s.kind = $1 AND s.name = $2";

pub(super) const CHECKPOINTS_OF_KIND: &str = "SELECT s.name, c.position, c.updated_ms \
    FROM checkpoints c JOIN ingest_sources s ON s.id = c.source_id WHERE s.kind = $1 \
    ORDER BY s.name";

pub(super) const RECORD_HEALTH: &str = "INSERT INTO source_health (source, kind, daemon_id, \
    last_attempt_ms, last_success_ms, last_error, consecutive_failures, lag_ms, \
    items_last_cycle, api_calls_last_cycle, cycle_ms) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
    ON CONFLICT (source, kind) DO UPDATE SET daemon_id = excluded.daemon_id, \
    last_attempt_ms = excluded.last_attempt_ms, \
    last_success_ms = COALESCE(excluded.last_success_ms, source_health.last_success_ms), \
    last_error = excluded.last_error, \
    consecutive_failures = CASE WHEN excluded.last_error IS NULL THEN 0 \
        ELSE source_health.consecutive_failures + 1 END, \
    lag_ms = COALESCE(excluded.lag_ms, source_health.lag_ms), \
    items_last_cycle = excluded.items_last_cycle, \
    api_calls_last_cycle = excluded.api_calls_last_cycle, cycle_ms = excluded.cycle_ms";

pub(super) const READ_HEALTH: &str = "SELECT source, kind, daemon_id, last_attempt_ms, \
    last_success_ms, last_error, consecutive_failures, lag_ms, items_last_cycle, \
    api_calls_last_cycle, cycle_ms FROM source_health ORDER BY source, kind";

pub(super) const SOURCE_ID: &str = "SELECT id FROM ingest_sources WHERE kind = $1 AND name = $2";

pub(super) const PRICE_ID: &str = "SELECT id FROM price_rows WHERE fingerprint = $1";

#[derive(sqlx::FromRow)]
pub(super) struct CellRowRaw {
    bucket_start: i64,
    account_id: String,
    region: String,
    model_id: String,
    tier: String,
    invocations: i64,
    errors: i64,
    input_tokens: i64,
    output_tokens: i64,
    cache_read_tokens: i64,
    cache_write_tokens: i64,
    priced_invocations: i64,
    unpriced_invocations: i64,
    cost_pico: i64,
    standard_cost_pico: i64,
    compared_cost_pico: i64,
    latency_count: i64,
    latency_sum_ms: i64,
    first_token_count: i64,
    first_token_sum_ms: i64,
}

impl From<CellRowRaw> for CellRow {
    fn from(raw: CellRowRaw) -> CellRow {
        CellRow {
            bucket_start: raw.bucket_start,
            account_id: raw.account_id,
            region: raw.region,
            model_id: raw.model_id,
            tier: raw.tier,
            totals: CellTotals {
                invocations: raw.invocations,
                errors: raw.errors,
                input_tokens: raw.input_tokens,
                output_tokens: raw.output_tokens,
                cache_read_tokens: raw.cache_read_tokens,
                cache_write_tokens: raw.cache_write_tokens,
                priced_invocations: raw.priced_invocations,
                unpriced_invocations: raw.unpriced_invocations,
                cost_pico: raw.cost_pico,
                standard_cost_pico: raw.standard_cost_pico,
                compared_cost_pico: raw.compared_cost_pico,
                latency_count: raw.latency_count,
                latency_sum_ms: raw.latency_sum_ms,
                first_token_count: raw.first_token_count,
                first_token_sum_ms: raw.first_token_sum_ms,
            },
        }
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct InvocationRow {
    account_id: String,
    region: String,
    request_id: String,
    ts_ms: i64,
    inference_region: Option<String>,
    operation: String,
    model_called: String,
    model_id: String,
    routing: String,
    model_resolved: bool,
    caller_arn: Option<String>,
    request_metadata: Option<String>,
    requested_tier: Option<String>,
    tier: String,
    tier_source: String,
    input_tokens: Option<i64>,
    output_tokens: Option<i64>,
    cache_read_tokens: Option<i64>,
    cache_write_tokens: Option<i64>,
    latency_ms: Option<i64>,
    first_token_ms: Option<i64>,
    error_code: Option<String>,
    pricing_status: String,
    price_id: Option<i64>,
    cost_pico: Option<i64>,
    standard_price_id: Option<i64>,
    standard_cost_pico: Option<i64>,
    unpriced_reason: Option<String>,
    source_id: i64,
}

fn inconsistent(id: &str, what: &str, value: &str) -> StoreError {
    StoreError::Inconsistent(format!("invocation {id}: unknown {what} {value:?}"))
}

impl InvocationRow {
    pub(super) fn into_stored(self) -> Result<StoredInvocation, StoreError> {
        let id = &self.request_id;
        let tier =
            |name: &str| Tier::from_stored(name).ok_or_else(|| inconsistent(id, "tier", name));
        let served = tier(&self.tier)?;
        let requested = self.requested_tier.as_deref().map(tier).transpose()?;
        let source = TierSource::from_stored(&self.tier_source)
            .ok_or_else(|| inconsistent(id, "tier source", &self.tier_source))?;
        let routing = Routing::from_stored(&self.routing)
            .ok_or_else(|| inconsistent(id, "routing", &self.routing))?;
        let pricing = self.pricing()?;
        let count = |value: Option<i64>| value.and_then(|v| u64::try_from(v).ok());
        let millis = |value: Option<i64>| value.and_then(|v| u32::try_from(v).ok());
        let invocation = Invocation {
            timestamp_ms: self.ts_ms,
            account_id: self.account_id,
            region: self.region,
            inference_region: self.inference_region,
            request_id: self.request_id,
            operation: self.operation,
            model: ModelRef {
                called: self.model_called,
                model_id: self.model_id,
                routing,
                resolved: self.model_resolved,
            },
            caller_arn: self.caller_arn,
            request_metadata: self.request_metadata,
            tier: TierResolution {
                requested,
                served,
                source,
            },
            tokens: TokenCounts {
                input: count(self.input_tokens),
                output: count(self.output_tokens),
                cache_read: count(self.cache_read_tokens),
                cache_write: count(self.cache_write_tokens),
            },
            latency_ms: millis(self.latency_ms),
            time_to_first_token_ms: millis(self.first_token_ms),
            error_code: self.error_code,
        };
        Ok(StoredInvocation {
            invocation,
            pricing,
            source_id: self.source_id,
        })
    }

    fn pricing(&self) -> Result<StoredPricing, StoreError> {
        let id = &self.request_id;
        match self.pricing_status.as_str() {
            "priced" => {
                let (Some(price_id), Some(cost)) = (self.price_id, self.cost_pico) else {
                    return Err(inconsistent(id, "priced row without price", "priced"));
                };
                let standard = match (self.standard_price_id, self.standard_cost_pico) {
                    (Some(price_id), Some(cost)) => Some(StandardCost {
                        price_id,
                        cost: Money(cost),
                    }),
                    _ => None,
                };
                Ok(StoredPricing::Priced {
                    price_id,
                    cost: Money(cost),
                    standard,
                })
            }
            "not_billed" => Ok(StoredPricing::NotBilled),
            "unpriced" => Ok(StoredPricing::Unpriced {
                reason: self.unpriced_reason.clone().unwrap_or_default(),
            }),
            other => Err(inconsistent(id, "pricing status", other)),
        }
    }
}

/// Converts a token count for a BIGINT column. Counts past i64::MAX cannot come from a real
/// record; saturating is only a guard against overflow.
pub(super) fn count_column(value: Option<u64>) -> Option<i64> {
    value.map(|v| i64::try_from(v).unwrap_or(i64::MAX))
}

pub(super) fn unpriced_group(raw: (String, String, String, String, i64)) -> UnpricedGroup {
    let (model_id, region, tier, reason, invocations) = raw;
    UnpricedGroup {
        model_id,
        region,
        tier,
        reason,
        invocations,
    }
}

/// Keys of rows that are candidates for insertion: the first occurrence of each key.
pub(super) fn first_occurrences(rows: &[StoredInvocation]) -> Vec<bool> {
    let mut seen: HashSet<_, foldhash::fast::RandomState> = HashSet::default();
    seen.reserve(rows.len());
    rows.iter()
        .map(|row| {
            let inv = &row.invocation;
            seen.insert((
                inv.account_id.as_str(),
                inv.region.as_str(),
                inv.request_id.as_str(),
            ))
        })
        .collect()
}

/// A stored invocation in the table's encoding (migration 0011): its key and every string
/// as a dictionary id.
#[derive(Debug, Clone, Copy)]
pub(super) struct EncodedRow<'a> {
    pub row: &'a StoredInvocation,
    pub key: EncodedKey,
    /// The request id when it is not a canonical uuid (see `dictionary::request_key`).
    pub request_text: Option<&'a str>,
    pub inference_region: Option<i32>,
    pub operation: i32,
    pub model_called: i32,
    pub model_id: i32,
    pub routing: i32,
    pub caller_arn: Option<i32>,
    pub requested_tier: Option<i32>,
    pub tier: i32,
    pub tier_source: i32,
    pub error_code: Option<i32>,
    pub pricing_status: i32,
    pub unpriced_reason: Option<i32>,
}

/// The primary key of a stored invocation: (account, region, request key).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(super) struct EncodedKey {
    pub account: i32,
    pub region: i32,
    pub request: Uuid,
}

impl<'a> EncodedRow<'a> {
    /// Every string of a stored invocation that [`EncodedRow::of`] looks up: the batch
    /// resolves exactly these to ids first (see `dictionary::resolve`). Request metadata
    /// stays inline: it often carries per-call values (trace ids), which would make the
    /// dictionary as large as the table and cost an extra unique-index write per call.
    pub(super) fn strings_of(row: &StoredInvocation) -> [Option<&str>; 14] {
        let inv = &row.invocation;
        [
            Some(inv.account_id.as_str()),
            Some(inv.region.as_str()),
            inv.inference_region.as_deref(),
            Some(inv.operation.as_str()),
            Some(inv.model.called.as_str()),
            Some(inv.model.model_id.as_str()),
            Some(inv.model.routing.as_str()),
            inv.caller_arn.as_deref(),
            inv.tier.requested.map(|tier| tier.as_str()),
            Some(inv.tier.served.as_str()),
            Some(inv.tier.source.as_str()),
            inv.error_code.as_deref(),
            Some(row.pricing.status()),
            row.pricing.unpriced_reason(),
        ]
    }

    pub(super) fn of(row: &'a StoredInvocation, strings: &BatchStrings<'_>) -> Result<Self> {
        let inv = &row.invocation;
        let (request, request_text) = dictionary::request_key(&inv.request_id);
        Ok(EncodedRow {
            row,
            key: EncodedKey {
                account: strings.id(&inv.account_id)?,
                region: strings.id(&inv.region)?,
                request,
            },
            request_text,
            inference_region: strings.optional_id(inv.inference_region.as_deref())?,
            operation: strings.id(&inv.operation)?,
            model_called: strings.id(&inv.model.called)?,
            model_id: strings.id(&inv.model.model_id)?,
            routing: strings.id(inv.model.routing.as_str())?,
            caller_arn: strings.optional_id(inv.caller_arn.as_deref())?,
            requested_tier: strings.optional_id(inv.tier.requested.map(|t| t.as_str()))?,
            tier: strings.id(inv.tier.served.as_str())?,
            tier_source: strings.id(inv.tier.source.as_str())?,
            error_code: strings.optional_id(inv.error_code.as_deref())?,
            pricing_status: strings.id(row.pricing.status())?,
            unpriced_reason: strings.optional_id(row.pricing.unpriced_reason())?,
        })
    }
}

/// The candidate rows encoded, in key order: concurrent writers then take the unique
/// index's locks in the same order and cannot deadlock on each other. Each comes with its
/// index in `rows`.
pub(super) fn encode_in_key_order<'a>(
    rows: &'a [StoredInvocation],
    candidates: &[bool],
    strings: &BatchStrings<'_>,
) -> Result<Vec<(usize, EncodedRow<'a>)>> {
    let mut encoded = rows
        .iter()
        .enumerate()
        .filter(|(index, _)| candidates[*index])
        .map(|(index, row)| Ok((index, EncodedRow::of(row, strings)?)))
        .collect::<Result<Vec<_>>>()?;
    encoded.sort_unstable_by_key(|(_, row)| row.key);
    Ok(encoded)
}

/// Marks which rows the database reported as inserted (by key). When every candidate was
/// inserted (the common case) no key matching is needed.
pub(super) fn mark_inserted(
    row_count: usize,
    encoded: &[(usize, EncodedRow<'_>)],
    inserted: &[(i32, i32, Uuid)],
) -> Vec<bool> {
    let mut is_new = vec![false; row_count];
    let all = inserted.len() == encoded.len();
    let inserted: HashSet<EncodedKey, foldhash::fast::RandomState> = if all {
        HashSet::default()
    } else {
        inserted
            .iter()
            .map(|(account, region, request)| EncodedKey {
                account: *account,
                region: *region,
                request: *request,
            })
            .collect()
    };
    for (index, row) in encoded {
        is_new[*index] = all || inserted.contains(&row.key);
    }
    is_new
}

pub(super) const READ_OBJECTS: &str =
    "SELECT object_key, etag FROM s3_objects WHERE source_id = $1 AND object_key > $2";
pub(super) const OBJECT_IS_READ: &str =
    "SELECT COUNT(*) FROM s3_objects WHERE source_id = $1 AND object_key = $2 AND etag = $3";
pub(super) const FORGET_OBJECTS: &str =
    "DELETE FROM s3_objects WHERE source_id = $1 AND stored_ms < $2";
pub(super) const INSERT_OBJECT: &str = "INSERT INTO s3_objects (source_id, object_key, etag, \
    size_bytes, records, stored_ms) VALUES ($1, $2, $3, $4, $5, $6) \
    ON CONFLICT (source_id, object_key, etag) DO NOTHING";

pub(super) const SAVE_CHECKPOINT: &str = "INSERT INTO checkpoints (source_id, position, updated_ms) \
    VALUES ($1, $2, $3) ON CONFLICT (source_id) DO UPDATE SET position = excluded.position, \
    updated_ms = excluded.updated_ms";
pub(super) const INSERT_PRICE: &str = "INSERT INTO price_rows (fingerprint, region, model_id, tier, \
    routing, effective_from, input_rate, output_rate, cache_read_rate, cache_write_rate, \
    derivation, source, first_used_ms) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
    ON CONFLICT (fingerprint) DO NOTHING RETURNING id";

/// The `granularity` column's value (an INTEGER on both backends).
pub(super) fn granularity_column(granularity: crate::rollup::Granularity) -> i32 {
    // 60, 3600 or 86400: always fits.
    granularity.seconds() as i32
}

/// Read methods whose SQL and row types are the same on both backends. Expanded inside each
/// backend's `impl`, where `self.pool` is that backend's pool (the only difference).
macro_rules! shared_reads {
    () => {
        /// Whether invocations of the layout before migration 0011 await conversion.
        pub(super) async fn legacy_invocations_exist(&self) -> Result<bool> {
            sqlx::query_scalar(Self::LEGACY_TABLE_EXISTS)
                .fetch_one(&self.pool)
                .await
                .context("looking for invocations of the previous layout")
        }

        /// Drops the table of invocations of the layout before migration 0011, converted.
        pub(super) async fn drop_legacy_invocations(&self) -> Result<()> {
            sqlx::query("DROP TABLE IF EXISTS invocations_v1")
                .execute(&self.pool)
                .await
                .context("dropping the converted invocations table")?;
            Ok(())
        }

        pub(super) async fn checkpoint(&self, kind: &str, name: &str) -> Result<Option<String>> {
            sqlx::query_scalar(rows::CHECKPOINT)
                .bind(kind)
                .bind(name)
                .fetch_optional(&self.pool)
                .await
                .context("reading a checkpoint")
        }

        pub(super) async fn checkpoints_of_kind(
            &self,
            kind: &str,
        ) -> Result<Vec<(String, String, i64)>> {
            sqlx::query_as(rows::CHECKPOINTS_OF_KIND)
                .bind(kind)
                .fetch_all(&self.pool)
                .await
                .context("reading checkpoints")
        }

        pub(super) async fn record_health(&self, health: &SourceHealth) -> Result<()> {
            sqlx::query(rows::RECORD_HEALTH)
                .bind(&health.source)
                .bind(&health.kind)
                .bind(&health.daemon_id)
                .bind(health.last_attempt_ms)
                .bind(health.last_success_ms)
                .bind(&health.last_error)
                .bind(health.consecutive_failures)
                .bind(health.lag_ms)
                .bind(health.items_last_cycle)
                .bind(health.api_calls_last_cycle)
                .bind(health.cycle_ms)
                .execute(&self.pool)
                .await
                .context("recording source health")?;
            Ok(())
        }

        pub(super) async fn source_health(&self) -> Result<Vec<SourceHealth>> {
            sqlx::query_as(rows::READ_HEALTH)
                .fetch_all(&self.pool)
                .await
                .context("reading source health")
        }

        pub(super) async fn read_cells(
            &self,
            granularity: Granularity,
            start_s: i64,
            end_s: i64,
        ) -> Result<Vec<CellRow>> {
            let raw: Vec<rows::CellRowRaw> = sqlx::query_as(rows::READ_CELLS)
                .bind(rows::granularity_column(granularity))
                .bind(start_s)
                .bind(end_s)
                .fetch_all(&self.pool)
                .await
                .context("reading rollups")?;
            Ok(raw.into_iter().map(CellRow::from).collect())
        }

        pub(super) async fn unpriced_groups(
            &self,
            start_s: i64,
            end_s: i64,
        ) -> Result<Vec<UnpricedGroup>> {
            let raw: Vec<(String, String, String, String, i64)> =
                sqlx::query_as(rows::UNPRICED_GROUPS)
                    .bind(start_s)
                    .bind(end_s)
                    .fetch_all(&self.pool)
                    .await
                    .context("listing unpriced invocations")?;
            Ok(raw.into_iter().map(rows::unpriced_group).collect())
        }

        pub(super) async fn quarantine_groups(&self) -> Result<Vec<QuarantineGroup>> {
            let raw: Vec<(String, i64)> = sqlx::query_as(rows::QUARANTINE_GROUPS)
                .fetch_all(&self.pool)
                .await
                .context("listing quarantined records")?;
            Ok(raw
                .into_iter()
                .map(|(reason, records)| QuarantineGroup { reason, records })
                .collect())
        }

        pub(super) async fn read_objects(
            &self,
            source_id: i64,
            after_key: &str,
        ) -> Result<std::collections::HashMap<String, Vec<String>>> {
            let rows: Vec<(String, String)> = sqlx::query_as(rows::READ_OBJECTS)
                .bind(source_id)
                .bind(after_key)
                .fetch_all(&self.pool)
                .await
                .context("reading the S3 objects already read")?;
            let mut read = std::collections::HashMap::<String, Vec<String>>::new();
            for (key, etag) in rows {
                read.entry(key).or_default().push(etag);
            }
            Ok(read)
        }

        pub(super) async fn object_is_read(
            &self,
            source_id: i64,
            key: &str,
            etag: &str,
        ) -> Result<bool> {
            let count: i64 = sqlx::query_scalar(rows::OBJECT_IS_READ)
                .bind(source_id)
                .bind(key)
                .bind(etag)
                .fetch_one(&self.pool)
                .await
                .context("looking up an S3 object")?;
            Ok(count > 0)
        }

        pub(super) async fn forget_objects(&self, source_id: i64, before_ms: i64) -> Result<u64> {
            let result = sqlx::query(rows::FORGET_OBJECTS)
                .bind(source_id)
                .bind(before_ms)
                .execute(&self.pool)
                .await
                .context("forgetting old S3 objects")?;
            Ok(result.rows_affected())
        }

        pub(super) async fn count_invocations(&self, start_ms: i64, end_ms: i64) -> Result<i64> {
            sqlx::query_scalar(rows::COUNT_INVOCATIONS)
                .bind(start_ms)
                .bind(end_ms)
                .fetch_one(&self.pool)
                .await
                .context("counting invocations")
        }
    };
}
pub(super) use shared_reads;

/// The rows of `$sql`, whose parameters are a range (`$1` start, `$2` end), in the write
/// transaction `$tx`.
macro_rules! fetch_range {
    ($tx:expr, $sql:expr, ($start:expr, $end:expr), $context:literal) => {
        sqlx::query_as($sql)
            .bind($start)
            .bind($end)
            .fetch_all(&mut *$tx)
            .await
            .context($context)
    };
}
pub(super) use fetch_range;

/// Runs `$sql`, whose parameters are a range (`$1` start, `$2` end), in the write transaction
/// `$tx`; gives how many rows it affected.
macro_rules! execute_range {
    ($tx:expr, $sql:expr, ($start:expr, $end:expr), $context:literal) => {
        sqlx::query($sql)
            .bind($start)
            .bind($end)
            .execute(&mut *$tx)
            .await
            .context($context)
            .map(|done| done.rows_affected())
    };
}
pub(super) use execute_range;

/// Write-transaction statements that are the same on both backends. Expanded inside each
/// backend's `impl WriteTx`, where `self.tx` is that backend's transaction.
macro_rules! shared_tx_statements {
    () => {
        async fn save_checkpoint(&mut self, checkpoint: &Checkpoint, now_ms: i64) -> Result<()> {
            sqlx::query(rows::SAVE_CHECKPOINT)
                .bind(checkpoint.source_id)
                .bind(&checkpoint.position)
                .bind(now_ms)
                .execute(&mut *self.tx)
                .await
                .context("saving a checkpoint")?;
            Ok(())
        }

        async fn insert_objects(&mut self, objects: &[ObjectRecord], now_ms: i64) -> Result<()> {
            // A handful per batch (one per S3 object): a statement each is cheap enough.
            for object in objects {
                sqlx::query(rows::INSERT_OBJECT)
                    .bind(object.source_id)
                    .bind(&object.key)
                    .bind(&object.etag)
                    .bind(object.size)
                    .bind(object.records)
                    .bind(now_ms)
                    .execute(&mut *self.tx)
                    .await
                    .context("recording an S3 object as read")?;
            }
            Ok(())
        }

        async fn register_price(&mut self, price: &PriceRowRecord, now_ms: i64) -> Result<i64> {
            let inserted: Option<i64> = sqlx::query_scalar(rows::INSERT_PRICE)
                .bind(&price.fingerprint)
                .bind(&price.region)
                .bind(&price.model_id)
                .bind(&price.tier)
                .bind(&price.routing)
                .bind(&price.effective_from)
                .bind(price.input_rate)
                .bind(price.output_rate)
                .bind(price.cache_read_rate)
                .bind(price.cache_write_rate)
                .bind(&price.derivation)
                .bind(&price.source)
                .bind(now_ms)
                .fetch_optional(&mut *self.tx)
                .await
                .context("recording a price row")?;
            match inserted {
                Some(id) => Ok(id),
                None => sqlx::query_scalar(rows::PRICE_ID)
                    .bind(&price.fingerprint)
                    .fetch_one(&mut *self.tx)
                    .await
                    .context("reading a price row id"),
            }
        }

        async fn load_invocations(
            &mut self,
            start_ms: i64,
            end_ms: i64,
        ) -> Result<Vec<StoredInvocation>> {
            let raw: Vec<rows::InvocationRow> = $crate::store::rows::fetch_range!(
                self.tx,
                rows::LOAD_INVOCATIONS,
                (start_ms, end_ms),
                "loading invocations"
            )?;
            raw.into_iter()
                .map(rows::InvocationRow::into_stored)
                .collect()
        }

        async fn load_price_groups(
            &mut self,
            start_ms: i64,
            end_ms: i64,
        ) -> Result<Vec<rows::StoredPriceGroupRow>> {
            $crate::store::rows::fetch_range!(
                self.tx,
                rows::PRICE_GROUPS,
                (start_ms, end_ms),
                "grouping invocations by what their price depends on"
            )
        }

        async fn load_changed_by_group(
            &mut self,
            range_start_ms: i64,
            hour: (i64, i64),
            day_index: i64,
        ) -> Result<Vec<(StoredInvocation, usize)>> {
            let changed: Vec<rows::StoredRefs> = sqlx::query_as(CHANGED_BY_PRICE_GROUP)
                .bind(range_start_ms)
                .bind(hour.0)
                .bind(hour.1)
                .bind(day_index)
                .fetch_all(&mut *self.tx)
                .await
                .context("loading the invocations a reprice changes")?;
            if changed.is_empty() {
                return Ok(Vec::new());
            }
            let mut ids: Vec<i32> = changed.iter().flat_map(rows::StoredRefs::refs).collect();
            ids.sort_unstable();
            ids.dedup();
            let strings: std::collections::HashMap<i32, String> =
                self.dictionary_values(&ids).await?.into_iter().collect();
            changed
                .into_iter()
                .map(|row| {
                    let group = usize::try_from(row.group_index).map_err(|_| {
                        StoreError::Inconsistent(format!(
                            "price group index {} out of range",
                            row.group_index
                        ))
                    })?;
                    Ok((row.into_stored(&strings)?, group))
                })
                .collect()
        }

        async fn keep_price_groups(&mut self, start_ms: i64, end_ms: i64) -> Result<u64> {
            $crate::store::rows::execute_range!(
                self.tx,
                rows::KEEP_PRICE_GROUPS,
                (start_ms, end_ms),
                "keeping the price groups of invocations to drop"
            )
        }

        async fn load_kept_price_groups(
            &mut self,
            start_ms: i64,
            end_ms: i64,
        ) -> Result<Vec<rows::KeptPriceGroupRow>> {
            $crate::store::rows::fetch_range!(
                self.tx,
                rows::KEPT_PRICE_GROUPS,
                (start_ms, end_ms),
                "loading the price groups kept of dropped invocations"
            )
        }

        async fn load_day_cells(
            &mut self,
            start_s: i64,
            end_s: i64,
        ) -> Result<Vec<super::reprice::DayCellRow>> {
            $crate::store::rows::fetch_range!(
                self.tx,
                rows::DAY_CELLS,
                (start_s, end_s),
                "reading day cells"
            )
        }

        async fn set_day_cell_pricing(
            &mut self,
            cells: &[super::reprice::DayCellPricing],
        ) -> Result<()> {
            // A month holds a few thousand day cells: a statement each is cheap enough.
            for cell in cells {
                sqlx::query(rows::SET_DAY_CELL_PRICING)
                    .bind(cell.bucket_start)
                    .bind(cell.series_id)
                    .bind(cell.priced_invocations)
                    .bind(cell.unpriced_invocations)
                    .bind(cell.cost_pico)
                    .bind(cell.standard_cost_pico)
                    .bind(cell.compared_cost_pico)
                    .execute(&mut *self.tx)
                    .await
                    .context("updating a day cell's cost")?;
            }
            Ok(())
        }

        async fn refresh_tier_day_cells(&mut self, start_s: i64, end_s: i64) -> Result<()> {
            $crate::store::rows::execute_range!(
                self.tx,
                rows::REFRESH_TIER_DAY_CELLS,
                (start_s, end_s),
                "summing repriced day cells per tier"
            )?;
            Ok(())
        }

        async fn delete_unpriced_rollups(&mut self, start_s: i64, end_s: i64) -> Result<()> {
            $crate::store::rows::execute_range!(
                self.tx,
                "DELETE FROM unpriced_rollups WHERE bucket_start >= $1 AND bucket_start < $2",
                (start_s, end_s),
                "deleting unpriced causes to recount"
            )?;
            Ok(())
        }

        async fn horizons(&mut self) -> Result<$crate::store::Horizons> {
            sqlx::query_as(rows::HORIZONS)
                .fetch_one(&mut *self.tx)
                .await
                .context("reading the retention horizons")
        }

        async fn drop_fine_cells(&mut self, from_s: i64) -> Result<u64> {
            sqlx::query(rows::SET_MINUTE_CELLS_FROM)
                .bind(from_s)
                .execute(&mut *self.tx)
                .await
                .context("recording the fine cells' horizon")?;
            let mut deleted = 0;
            for table in [
                "DELETE FROM rollups WHERE granularity = 60 AND bucket_start < $1",
                "DELETE FROM tier_rollups WHERE granularity = 60 AND bucket_start < $1",
                "DELETE FROM caller_rollups WHERE granularity = 3600 AND bucket_start < $1",
            ] {
                deleted += sqlx::query(table)
                    .bind(from_s)
                    .execute(&mut *self.tx)
                    .await
                    .context("deleting fine cells past retention.minute_cells")?
                    .rows_affected();
            }
            Ok(deleted)
        }

        async fn load_legacy_invocations(&mut self, limit: i64) -> Result<Vec<StoredInvocation>> {
            let raw: Vec<rows::InvocationRow> = sqlx::query_as(rows::LOAD_LEGACY_INVOCATIONS)
                .bind(limit)
                .fetch_all(&mut *self.tx)
                .await
                .context("loading invocations of the previous layout")?;
            raw.into_iter()
                .map(rows::InvocationRow::into_stored)
                .collect()
        }

        async fn delete_legacy_invocations(
            &mut self,
            up_to: &crate::model::Invocation,
        ) -> Result<()> {
            sqlx::query(rows::DELETE_LEGACY_INVOCATIONS)
                .bind(&up_to.account_id)
                .bind(&up_to.region)
                .bind(&up_to.request_id)
                .execute(&mut *self.tx)
                .await
                .context("deleting converted invocations of the previous layout")?;
            Ok(())
        }

        async fn delete_rollups(&mut self, start_s: i64, end_s: i64) -> Result<()> {
            for statement in [
                "DELETE FROM rollups WHERE bucket_start >= $1 AND bucket_start < $2",
                "DELETE FROM tier_rollups WHERE bucket_start >= $1 AND bucket_start < $2",
                "DELETE FROM caller_rollups WHERE bucket_start >= $1 AND bucket_start < $2",
                "DELETE FROM unpriced_rollups WHERE bucket_start >= $1 AND bucket_start < $2",
            ] {
                $crate::store::rows::execute_range!(
                    self.tx,
                    statement,
                    (start_s, end_s),
                    "deleting rollups to rebuild"
                )?;
            }
            Ok(())
        }

        async fn delete_empty_unpriced_rollups(&mut self, start_s: i64, end_s: i64) -> Result<()> {
            $crate::store::rows::execute_range!(
                self.tx,
                "DELETE FROM unpriced_rollups WHERE bucket_start >= $1 AND bucket_start < $2 \
                 AND invocations = 0",
                (start_s, end_s),
                "deleting emptied unpriced causes"
            )?;
            Ok(())
        }

        async fn commit(self) -> Result<()> {
            self.tx.commit().await.context("committing")
        }
    };
}
pub(super) use shared_tx_statements;
