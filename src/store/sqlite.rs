//! SQLite statements for the embedded default. SQLite has no array parameters, so batches go
//! in as multi-row `VALUES` lists, chunked below SQLite's limit on bound parameters. Writes
//! start with `BEGIN IMMEDIATE` so two writers queue instead of failing mid-transaction.

use std::path::Path;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteArguments, SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use sqlx::{AssertSqlSafe, Sqlite, Transaction};
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
use crate::rollup::{Granularity, latency};

/// Bound parameters per statement, well below SQLite's default limit of 32,766. A statement's
/// compiled program grows with its parameters and each connection keeps its full-size
/// statements prepared: at 16,000 they held about 12 MB of a 1M import's 49 MB heap peak; at
/// 2,000 the import runs as fast (within run-to-run noise) with a 17 MiB lower peak RSS.
const MAX_PARAMETERS: usize = 2_000;

#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

pub(super) struct SqliteTx {
    tx: Transaction<'static, Sqlite>,
}

impl SqliteStore {
    pub(super) async fn open(path: &Path) -> Result<SqliteStore> {
        if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::DataDir {
                path: dir.display().to_string(),
                source,
            })?;
        }
        // WAL lets the dashboard read while an import writes; NORMAL sync in WAL mode never
        // corrupts the file and loses at most the last commits on power loss, not on a crash.
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(30))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .map_err(|source| StoreError::Connect {
                url: format!("sqlite://{}", path.display()),
                source,
            })?;
        Ok(SqliteStore { pool })
    }

    pub(super) async fn migrate(&self) -> Result<()> {
        sqlx::migrate!("migrations/sqlite").run(&self.pool).await?;
        Ok(())
    }

    pub(super) async fn begin_write(&self) -> Result<SqliteTx> {
        let tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .context("starting a transaction")?;
        Ok(SqliteTx { tx })
    }

    /// SQLite has one writer at a time: an immediate transaction is already exclusive.
    /// Deletes the raw invocations before `keep_from_ms` (a month's first millisecond).
    pub(super) async fn drop_raw_invocations(&self, keep_from_ms: i64) -> Result<RawDropped> {
        let mut tx = self.begin_exclusive().await?;
        let price_groups = super::keep_price_groups_before(&mut tx, keep_from_ms).await?;
        sqlx::query(SET_RAW_KEPT_FROM)
            .bind(keep_from_ms)
            .execute(&mut *tx.tx)
            .await
            .context("recording the retention horizon")?;
        // Named as Postgres names the month's partition, so both report alike.
        let months: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT 'invocations_' || strftime('%Y_%m', ts_ms / 1000, 'unixepoch') \
             FROM invocations WHERE ts_ms < $1 ORDER BY 1",
        )
        .bind(keep_from_ms)
        .fetch_all(&mut *tx.tx)
        .await
        .context("listing the months to drop")?;
        let deleted = sqlx::query("DELETE FROM invocations WHERE ts_ms < $1")
            .bind(keep_from_ms)
            .execute(&mut *tx.tx)
            .await
            .context("deleting raw invocations")?;
        tx.tx.commit().await.context("committing")?;
        Ok(RawDropped {
            months,
            invocations: deleted.rows_affected(),
            price_groups,
        })
    }

    pub(super) async fn begin_exclusive(&self) -> Result<SqliteTx> {
        self.begin_write().await
    }

    pub(super) async fn source_ids(
        &self,
        kind: &str,
        names: &[&str],
    ) -> Result<Vec<(String, i64)>> {
        let mut tx = self.begin_write().await?.tx;
        let mut ids = Vec::with_capacity(names.len());
        for name in names {
            sqlx::query(
                "INSERT INTO ingest_sources (kind, name) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            )
            .bind(kind)
            .bind(*name)
            .execute(&mut *tx)
            .await
            .context("registering a source")?;
            let id: i64 = sqlx::query_scalar(rows::SOURCE_ID)
                .bind(kind)
                .bind(*name)
                .fetch_one(&mut *tx)
                .await
                .context("reading a source id")?;
            ids.push((name.to_string(), id));
        }
        tx.commit().await.context("committing")?;
        Ok(ids)
    }

    /// Whether the table of invocations of the layout before migration 0011 exists.
    const LEGACY_TABLE_EXISTS: &str = "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'invocations_v1')";

    shared_reads!();
    metric_reads!();
    alerts::alert_reads!();
    price_list::price_list_reads!();
    query::aggregate_reads!();

    /// How histogram reads hand cells over: one row per group, its cells' blobs concatenated
    /// (`group_concat` joins blobs byte for byte, and every blob holds whole 8-byte entries).
    /// A row costs sqlx a message between its SQLite thread and the reader: `/models` at 10M
    /// read 868 day cells a request, and spent two fifths of the server's CPU doing so.
    pub(super) fn packed_rows(&self) -> query::PackedRows {
        query::PackedRows::PerGroup(|column| {
            format!("CAST(COALESCE(group_concat({column}, ''), '') AS BLOB)")
        })
    }

    /// Cells' packed histograms with their groups (see `query::histogram_sql`); SQLite keeps
    /// each as a blob (see `histogram_blob`).
    pub(super) async fn fetch_packed_histograms(
        &self,
        built: query::BuiltQuery,
    ) -> Result<Vec<query::PackedCell>> {
        #[derive(sqlx::FromRow)]
        struct Row {
            #[sqlx(flatten)]
            group: query::HistogramGroup,
            total: Vec<u8>,
            first_token: Vec<u8>,
        }
        let statement = sqlx::query_as(AssertSqlSafe(built.sql));
        let rows: Vec<Row> = query::bind_all(statement, built.params)
            .fetch_all(&self.pool)
            .await
            .context("reading latency histograms")?;
        rows.into_iter()
            .map(|row| {
                Ok(query::PackedCell {
                    total: parse_histogram_blob(&row.total)?,
                    first_token: parse_histogram_blob(&row.first_token)?,
                    group: row.group,
                })
            })
            .collect()
    }
}

/// `head VALUES (?, ?), (?, ?) tail` for `rows` rows of `columns` parameters.
fn multi_row_sql(head: &str, columns: usize, rows: usize, tail: &str) -> String {
    let row = format!("({})", vec!["?"; columns].join(", "));
    let mut sql = String::with_capacity(head.len() + tail.len() + rows * (row.len() + 2) + 8);
    sql.push_str(head);
    sql.push_str(" VALUES ");
    for index in 0..rows {
        if index > 0 {
            sql.push_str(", ");
        }
        sql.push_str(&row);
    }
    sql.push(' ');
    sql.push_str(tail);
    sql
}

/// Rows per statement for a table of `columns` columns. Only statements of exactly this size
/// are kept prepared: a batch's last, shorter chunk has a different text every time, and
/// caching those (each a large compiled statement) would grow memory batch after batch.
fn chunk_rows(columns: usize) -> usize {
    MAX_PARAMETERS / columns
}

const INVOCATION_COLUMNS: usize = 30;
const INSERT_INVOCATIONS_HEAD: &str = "INSERT INTO invocations (account_ref, region_ref, \
    request_key, request_text, ts_ms, inference_region_ref, operation_ref, model_called_ref, \
    model_id_ref, routing_ref, caller_arn_ref, request_metadata, requested_tier_ref, tier_ref, \
    tier_source_ref, error_code_ref, pricing_status_ref, unpriced_reason_ref, model_resolved, \
    input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, latency_ms, \
    first_token_ms, price_id, cost_pico, standard_price_id, standard_cost_pico, source_id)";
const INSERT_INVOCATIONS_TAIL: &str = "ON CONFLICT (account_ref, region_ref, request_key) \
    DO NOTHING RETURNING account_ref, region_ref, request_key";

const ROLLUP_COLUMNS: usize = 20;
/// The head and tail of the upsert adding cells to `$table` (rollups, keyed by series id, or
/// tier_rollups, keyed by tier; `$key` names the key column). Sums add up in SQL; histograms
/// arrive already merged with the stored ones (see `merged_with_stored`): SQLite has no
/// function to add two packed blobs, and its one writer makes reading them first safe.
macro_rules! upsert_cells {
    ($table:literal, $key:literal) => {
        (
            concat!(
                "INSERT INTO ",
                $table,
                " AS t (granularity, bucket_start, ",
                $key,
                ", \
                invocations, errors, input_tokens, output_tokens, \
                cache_read_tokens, cache_write_tokens, priced_invocations, \
                unpriced_invocations, cost_pico, standard_cost_pico, compared_cost_pico, \
                latency_count, latency_sum_ms, first_token_count, first_token_sum_ms, \
                latency_hist, first_token_hist)"
            ),
            ROLLUP_COLUMNS,
            concat!(
                "ON CONFLICT (granularity, bucket_start, ",
                $key,
                ") DO UPDATE SET \
                invocations = invocations + excluded.invocations, \
                errors = errors + excluded.errors, \
                input_tokens = input_tokens + excluded.input_tokens, \
                output_tokens = output_tokens + excluded.output_tokens, \
                cache_read_tokens = cache_read_tokens + excluded.cache_read_tokens, \
                cache_write_tokens = cache_write_tokens + excluded.cache_write_tokens, \
                priced_invocations = priced_invocations + excluded.priced_invocations, \
                unpriced_invocations = unpriced_invocations + excluded.unpriced_invocations, \
                cost_pico = cost_pico + excluded.cost_pico, \
                standard_cost_pico = standard_cost_pico + excluded.standard_cost_pico, \
                compared_cost_pico = compared_cost_pico + excluded.compared_cost_pico, \
                latency_count = latency_count + excluded.latency_count, \
                latency_sum_ms = latency_sum_ms + excluded.latency_sum_ms, \
                first_token_count = first_token_count + excluded.first_token_count, \
                first_token_sum_ms = first_token_sum_ms + excluded.first_token_sum_ms, \
                latency_hist = excluded.latency_hist, \
                first_token_hist = excluded.first_token_hist"
            ),
        )
    };
}
const UPSERT_ROLLUPS: (&str, usize, &str) = upsert_cells!("rollups", "series_id");
const UPSERT_TIER_ROLLUPS: (&str, usize, &str) = upsert_cells!("tier_rollups", "tier");

/// The head and tail reading the stored histograms of the cells listed in between (a chunk's
/// position, granularity, bucket and key per row). CROSS JOIN makes SQLite walk the list and
/// probe the table's primary key, never the other way round.
macro_rules! stored_histograms {
    ($table:literal, $key:literal) => {
        (
            "WITH k(i, g, b, s) AS (",
            4,
            concat!(
                ") SELECT k.i, t.latency_hist, t.first_token_hist FROM k CROSS JOIN ",
                $table,
                " t ON t.granularity = k.g AND t.bucket_start = k.b AND t.",
                $key,
                " = k.s"
            ),
        )
    };
}
const STORED_ROLLUP_HISTOGRAMS: (&str, usize, &str) = stored_histograms!("rollups", "series_id");
const STORED_TIER_HISTOGRAMS: (&str, usize, &str) = stored_histograms!("tier_rollups", "tier");

const CALLER_COLUMNS: usize = 16;
const UPSERT_CALLERS_HEAD: &str = "INSERT INTO caller_rollups (granularity, bucket_start, \
    series_id, dimension, value, invocations, errors, input_tokens, output_tokens, \
    cache_read_tokens, cache_write_tokens, priced_invocations, unpriced_invocations, cost_pico, \
    standard_cost_pico, compared_cost_pico)";
const UPSERT_CALLERS_TAIL: &str = "ON CONFLICT (granularity, dimension, bucket_start, \
    series_id, value) DO UPDATE SET \
    invocations = invocations + excluded.invocations, \
    errors = errors + excluded.errors, \
    input_tokens = input_tokens + excluded.input_tokens, \
    output_tokens = output_tokens + excluded.output_tokens, \
    cache_read_tokens = cache_read_tokens + excluded.cache_read_tokens, \
    cache_write_tokens = cache_write_tokens + excluded.cache_write_tokens, \
    priced_invocations = priced_invocations + excluded.priced_invocations, \
    unpriced_invocations = unpriced_invocations + excluded.unpriced_invocations, \
    cost_pico = cost_pico + excluded.cost_pico, \
    standard_cost_pico = standard_cost_pico + excluded.standard_cost_pico, \
    compared_cost_pico = compared_cost_pico + excluded.compared_cost_pico";

const UNPRICED_COLUMNS: usize = 4;
const UPSERT_UNPRICED_HEAD: &str =
    "INSERT INTO unpriced_rollups (bucket_start, series_id, reason, invocations)";
const UPSERT_UNPRICED_TAIL: &str = "ON CONFLICT (bucket_start, series_id, reason) \
    DO UPDATE SET invocations = invocations + excluded.invocations";

const QUARANTINE_COLUMNS: usize = 6;
const INSERT_QUARANTINE_HEAD: &str =
    "INSERT INTO quarantine (source_id, location, reason, detail, excerpt, first_seen_ms)";
const INSERT_QUARANTINE_TAIL: &str = "ON CONFLICT (source_id, location) DO NOTHING";

/// A packed histogram as SQLite stores it: each entry as 8 bytes, most significant first
/// (migration 0015 writes the same with `unhex(printf('%016X', …))`).
fn histogram_blob(entries: &[i64]) -> Vec<u8> {
    entries
        .iter()
        .flat_map(|entry| entry.to_be_bytes())
        .collect()
}

/// The entries of a stored histogram blob; a length that is not a whole number of entries is
/// damage, reported rather than guessed at.
fn parse_histogram_blob(bytes: &[u8]) -> Result<Vec<i64>> {
    let entries = bytes.chunks_exact(8);
    if !entries.remainder().is_empty() {
        return Err(StoreError::Inconsistent(format!(
            "a stored latency histogram of {} bytes (8 per entry)",
            bytes.len()
        )));
    }
    Ok(entries
        .map(|entry| {
            let mut word = [0; 8];
            word.copy_from_slice(entry);
            i64::from_be_bytes(word)
        })
        .collect())
}

/// For each cell whose cell is already stored, its histograms merged with the stored ones
/// (`None` for a new cell: its own histograms are written as they are), in `cells`' order,
/// read by a `stored_histograms!` statement.
async fn merged_with_stored<'q, Key>(
    tx: &mut Transaction<'static, Sqlite>,
    (head, columns, tail): (&str, usize, &str),
    cells: &[CellWrite<'_, Key>],
) -> Result<Vec<Option<(Vec<i64>, Vec<i64>)>>>
where
    Key: Copy + sqlx::Encode<'q, Sqlite> + sqlx::Type<Sqlite>,
{
    let mut merged = vec![None; cells.len()];
    let full = chunk_rows(columns);
    for (chunk_index, chunk) in cells.chunks(full).enumerate() {
        let sql = multi_row_sql(head, columns, chunk.len(), tail);
        let mut arguments = SqliteArguments::default();
        for (position, cell) in chunk.iter().enumerate() {
            push(&mut arguments, position as i64);
            push(&mut arguments, cell.granularity_s);
            push(&mut arguments, cell.bucket_start);
            push(&mut arguments, cell.key);
        }
        let stored: Vec<(i64, Vec<u8>, Vec<u8>)> =
            sqlx::query_as_with(AssertSqlSafe(sql), arguments)
                .persistent(chunk.len() == full)
                .fetch_all(&mut **tx)
                .await
                .context("reading stored latency histograms")?;
        for (position, latency, first_token) in stored {
            let index = usize::try_from(position)
                .ok()
                .map(|position| chunk_index * full + position)
                .filter(|index| *index < cells.len())
                .ok_or_else(|| {
                    StoreError::Inconsistent(format!("a stored cell at position {position}"))
                })?;
            let cell = &cells[index];
            merged[index] = Some((
                latency::merge_packed(&parse_histogram_blob(&latency)?, cell.latency_hist),
                latency::merge_packed(&parse_histogram_blob(&first_token)?, cell.first_token_hist),
            ));
        }
    }
    Ok(merged)
}

/// Upserts cells (`upsert_cells!`) after merging their histograms with the stored ones.
async fn upsert_cells<'q, Key>(
    tx: &mut Transaction<'static, Sqlite>,
    (upsert, stored): ((&str, usize, &str), (&str, usize, &str)),
    cells: &[CellWrite<'_, Key>],
    context: &'static str,
) -> Result<()>
where
    Key: Copy + sqlx::Encode<'q, Sqlite> + sqlx::Type<Sqlite>,
{
    let merged = merged_with_stored(tx, stored, cells).await?;
    let cells: Vec<CellWrite<'_, Key>> = cells
        .iter()
        .zip(&merged)
        .map(|(cell, merged)| match merged {
            Some((latency, first_token)) => CellWrite {
                latency_hist: latency,
                first_token_hist: first_token,
                ..*cell
            },
            None => *cell,
        })
        .collect();
    execute_chunked(tx, upsert, &cells, bind_cell, context).await?;
    Ok(())
}

/// Runs a multi-row statement over `items`, chunked, binding each item with `bind`.
async fn execute_chunked<T>(
    tx: &mut Transaction<'static, Sqlite>,
    (head, columns, tail): (&str, usize, &str),
    items: &[T],
    bind: impl Fn(&mut SqliteArguments, &T),
    context: &'static str,
) -> Result<u64> {
    let mut affected = 0;
    let full = chunk_rows(columns);
    for chunk in items.chunks(full) {
        let sql = multi_row_sql(head, columns, chunk.len(), tail);
        let mut arguments = SqliteArguments::default();
        for item in chunk {
            bind(&mut arguments, item);
        }
        let result = sqlx::query_with(AssertSqlSafe(sql), arguments)
            .persistent(chunk.len() == full)
            .execute(&mut **tx)
            .await
            .context(context)?;
        affected += result.rows_affected();
    }
    Ok(affected)
}

/// Adds one bound value; encoding integers and strings into SQLite arguments cannot fail.
fn push<'q, T>(arguments: &mut SqliteArguments, value: T)
where
    T: sqlx::Encode<'q, Sqlite> + sqlx::Type<Sqlite>,
{
    use sqlx::Arguments;
    // `add` only fails when a value's encoder fails, which the types used here never do.
    let _ = arguments.add(value);
}

fn bind_invocation(arguments: &mut SqliteArguments, row: &EncodedRow<'_>) {
    let (inv, pricing) = (&row.row.invocation, &row.row.pricing);
    push(arguments, row.key.account);
    push(arguments, row.key.region);
    push(arguments, row.key.request);
    push(arguments, row.request_text.map(str::to_string));
    push(arguments, inv.timestamp_ms);
    for reference in [
        row.inference_region,
        Some(row.operation),
        Some(row.model_called),
        Some(row.model_id),
        Some(row.routing),
        row.caller_arn,
    ] {
        push(arguments, reference);
    }
    push(arguments, inv.request_metadata.clone());
    for reference in [
        row.requested_tier,
        Some(row.tier),
        Some(row.tier_source),
        row.error_code,
        Some(row.pricing_status),
        row.unpriced_reason,
    ] {
        push(arguments, reference);
    }
    push(arguments, inv.model.resolved);
    for value in [
        count_column(inv.tokens.input),
        count_column(inv.tokens.output),
        count_column(inv.tokens.cache_read),
        count_column(inv.tokens.cache_write),
        inv.latency_ms.map(i64::from),
        inv.time_to_first_token_ms.map(i64::from),
        pricing.price_id(),
        pricing.cost_pico(),
        pricing.standard().map(|s| s.price_id),
        pricing.standard().map(|s| s.cost.picodollars()),
    ] {
        push(arguments, value);
    }
    push(arguments, row.row.source_id);
}

/// Binds one cell of an `upsert_cells!` statement: its key is a series id or a tier.
fn bind_cell<'q, Key>(arguments: &mut SqliteArguments, cell: &CellWrite<'_, Key>)
where
    Key: Copy + sqlx::Encode<'q, Sqlite> + sqlx::Type<Sqlite>,
{
    let totals = cell.totals;
    push(arguments, cell.granularity_s);
    push(arguments, cell.bucket_start);
    push(arguments, cell.key);
    for value in [
        totals.invocations,
        totals.errors,
        totals.input_tokens,
        totals.output_tokens,
        totals.cache_read_tokens,
        totals.cache_write_tokens,
        totals.priced_invocations,
        totals.unpriced_invocations,
        totals.cost_pico,
        totals.standard_cost_pico,
        totals.compared_cost_pico,
        totals.latency_count,
        totals.latency_sum_ms,
        totals.first_token_count,
        totals.first_token_sum_ms,
    ] {
        push(arguments, value);
    }
    push(arguments, histogram_blob(cell.latency_hist));
    push(arguments, histogram_blob(cell.first_token_hist));
}

/// New pricing of many invocations in one statement, found by their key (a statement per row
/// costs a round trip to SQLite's worker thread each: at 875k changed rows, a third of the
/// reprice went to waking threads). The unary `+` on `u`'s key keeps SQLite from indexing
/// `u` instead: for some chunk sizes (1,333 rows at 10M invocations) it otherwise scanned the
/// whole primary key probing `u` (1.3 s per statement instead of 13 ms).
const UPDATE_PRICING_HEAD: &str = "WITH u(status, price_id, cost, standard_price_id, \
    standard_cost, reason, account_ref, region_ref, request_key, model_id, routing, \
    model_resolved) AS (";
const UPDATE_PRICING_TAIL: &str = ") UPDATE invocations SET pricing_status_ref = u.status, \
    price_id = u.price_id, cost_pico = u.cost, standard_price_id = u.standard_price_id, \
    standard_cost_pico = u.standard_cost, unpriced_reason_ref = u.reason, \
    model_id_ref = u.model_id, routing_ref = u.routing, model_resolved = u.model_resolved \
    FROM u WHERE invocations.account_ref = +u.account_ref \
    AND invocations.region_ref = +u.region_ref AND invocations.request_key = +u.request_key";

/// The price groups a reprice changes: their index and stored key (see `reprice`), for one
/// transaction.
const CREATE_REPRICE_GROUPS: &str = "CREATE TEMP TABLE reprice_groups (\
    group_index INTEGER, day_index INTEGER, account_ref INTEGER, region_ref INTEGER, \
    model_called_ref INTEGER, model_id_ref INTEGER, model_resolved INTEGER, routing_ref INTEGER, \
    tier_ref INTEGER, error_code_key INTEGER, token_shape INTEGER, stored_status_ref INTEGER, \
    stored_price_key INTEGER, stored_standard_price_key INTEGER, stored_reason_key INTEGER)";

/// See `rows::changed_by_price_group_columns`. CROSS JOIN keeps SQLite's join order: the
/// hour's rows, each looking its group up in the groups' index (at 10M invocations 14 ms an
/// hour; materializing the hour and indexing it per group, the plan it chose itself, 43 ms).
const CHANGED_BY_PRICE_GROUP: &str = concat!(
    "SELECT ",
    rows::changed_by_price_group_columns!(),
    " FROM invocations i CROSS JOIN reprice_groups g ON ",
    rows::price_group_match!(),
    " WHERE i.ts_ms >= $2 AND i.ts_ms < $3 AND g.day_index = $4"
);

impl WriteTx for SqliteTx {
    async fn insert_invocations(
        &mut self,
        rows: &[StoredInvocation],
        strings: &BatchStrings<'_>,
    ) -> Result<Vec<bool>> {
        let encoded = encode_in_key_order(rows, &first_occurrences(rows), strings)?;
        let mut inserted = Vec::with_capacity(encoded.len());
        let full = chunk_rows(INVOCATION_COLUMNS);
        for chunk in encoded.chunks(full) {
            let sql = multi_row_sql(
                INSERT_INVOCATIONS_HEAD,
                INVOCATION_COLUMNS,
                chunk.len(),
                INSERT_INVOCATIONS_TAIL,
            );
            let mut arguments = SqliteArguments::default();
            for (_, row) in chunk {
                bind_invocation(&mut arguments, row);
            }
            let keys: Vec<(i32, i32, Uuid)> = sqlx::query_as_with(AssertSqlSafe(sql), arguments)
                .persistent(chunk.len() == full)
                .fetch_all(&mut *self.tx)
                .await
                .context("inserting invocations")?;
            inserted.extend(keys);
        }
        Ok(mark_inserted(rows.len(), &encoded, &inserted))
    }

    async fn ensure_strings(&mut self, values: &[&str]) -> Result<Vec<(String, i32)>> {
        let statement = (
            "INSERT INTO dictionary (value)",
            1,
            "ON CONFLICT (value) DO NOTHING",
        );
        execute_chunked(
            &mut self.tx,
            statement,
            values,
            |arguments, value| push(arguments, value.to_string()),
            "adding strings to the dictionary",
        )
        .await?;
        let mut ids = Vec::with_capacity(values.len());
        for chunk in values.chunks(MAX_PARAMETERS) {
            let placeholders = (1..=chunk.len())
                .map(|n| format!("${n}"))
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!("SELECT value, id FROM dictionary WHERE value IN ({placeholders})");
            let mut arguments = SqliteArguments::default();
            for value in chunk {
                push(&mut arguments, value.to_string());
            }
            let found: Vec<(String, i32)> = sqlx::query_as_with(AssertSqlSafe(sql), arguments)
                .persistent(false)
                .fetch_all(&mut *self.tx)
                .await
                .context("reading dictionary ids")?;
            ids.extend(found);
        }
        Ok(ids)
    }

    async fn ensure_series(&mut self, keys: &[&SeriesKey]) -> Result<Vec<i64>> {
        let mut ids = Vec::with_capacity(keys.len());
        for key in keys {
            sqlx::query(
                "INSERT INTO series (account_id, region, model_id, tier) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(&key.account_id)
            .bind(&key.region)
            .bind(&key.model_id)
            .bind(&key.tier)
            .execute(&mut *self.tx)
            .await
            .context("registering a series")?;
            let id: i64 = sqlx::query_scalar(rows::SERIES_ID)
                .bind(&key.account_id)
                .bind(&key.region)
                .bind(&key.model_id)
                .bind(&key.tier)
                .fetch_one(&mut *self.tx)
                .await
                .context("reading a series id")?;
            ids.push(id);
        }
        Ok(ids)
    }

    async fn add_rollups(&mut self, cells: &[CellWrite<'_, i64>]) -> Result<()> {
        let statements = (UPSERT_ROLLUPS, STORED_ROLLUP_HISTOGRAMS);
        upsert_cells(&mut self.tx, statements, cells, "updating rollups").await
    }

    async fn add_tier_rollups(&mut self, cells: &[CellWrite<'_, &str>]) -> Result<()> {
        let statements = (UPSERT_TIER_ROLLUPS, STORED_TIER_HISTOGRAMS);
        upsert_cells(&mut self.tx, statements, cells, "updating tier cells").await
    }

    async fn add_caller_rollups(&mut self, rows: &[CallerWrite<'_>]) -> Result<()> {
        let statement = (UPSERT_CALLERS_HEAD, CALLER_COLUMNS, UPSERT_CALLERS_TAIL);
        execute_chunked(
            &mut self.tx,
            statement,
            rows,
            |arguments, row| {
                push(arguments, row.granularity_s);
                push(arguments, row.bucket_start);
                push(arguments, row.series_id);
                push(arguments, row.dimension.to_string());
                push(arguments, row.value.to_string());
                let totals = row.totals;
                for value in [
                    totals.invocations,
                    totals.errors,
                    totals.input_tokens,
                    totals.output_tokens,
                    totals.cache_read_tokens,
                    totals.cache_write_tokens,
                    totals.priced_invocations,
                    totals.unpriced_invocations,
                    totals.cost_pico,
                    totals.standard_cost_pico,
                    totals.compared_cost_pico,
                ] {
                    push(arguments, value);
                }
            },
            "updating caller rollups",
        )
        .await?;
        Ok(())
    }

    async fn add_unpriced_rollups(&mut self, rows: &[UnpricedWrite<'_>]) -> Result<()> {
        let statement = (UPSERT_UNPRICED_HEAD, UNPRICED_COLUMNS, UPSERT_UNPRICED_TAIL);
        execute_chunked(
            &mut self.tx,
            statement,
            rows,
            |arguments, row| {
                push(arguments, row.bucket_start);
                push(arguments, row.series_id);
                push(arguments, row.reason.to_string());
                push(arguments, row.invocations);
            },
            "counting unpriced invocations",
        )
        .await?;
        Ok(())
    }

    async fn insert_quarantine(&mut self, rows: &[QuarantinedRecord], now_ms: i64) -> Result<u64> {
        let statement = (
            INSERT_QUARANTINE_HEAD,
            QUARANTINE_COLUMNS,
            INSERT_QUARANTINE_TAIL,
        );
        execute_chunked(
            &mut self.tx,
            statement,
            rows,
            |arguments, row| {
                push(arguments, row.source_id);
                push(arguments, row.location.clone());
                push(arguments, row.reason.clone());
                push(arguments, row.detail.clone());
                push(arguments, row.excerpt.clone());
                push(arguments, now_ms);
            },
            "quarantining records",
        )
        .await
    }

    async fn dictionary_values(&mut self, ids: &[i32]) -> Result<Vec<(i32, String)>> {
        // SQLite binds no arrays: the ids go in as one JSON array.
        let ids = serde_json::to_string(ids).map_err(|error| {
            StoreError::Inconsistent(format!("encoding dictionary ids: {error}"))
        })?;
        sqlx::query_as(
            "SELECT id, value FROM dictionary WHERE id IN (SELECT value FROM json_each($1))",
        )
        .bind(ids)
        .fetch_all(&mut *self.tx)
        .await
        .context("reading dictionary strings")
    }

    async fn create_reprice_groups(&mut self, groups: &[GroupUpdate<'_>]) -> Result<()> {
        for statement in [
            "DROP TABLE IF EXISTS temp.reprice_groups",
            CREATE_REPRICE_GROUPS,
            // Looked up from each invocation (the key's columns in `price_group_match` order).
            "CREATE INDEX temp.reprice_groups_key ON reprice_groups (day_index, account_ref, \
             region_ref, model_called_ref, model_id_ref, model_resolved, routing_ref, tier_ref, \
             error_code_key, token_shape)",
        ] {
            sqlx::query(statement)
                .execute(&mut *self.tx)
                .await
                .context("creating the reprice groups table")?;
        }
        execute_chunked(
            &mut self.tx,
            ("INSERT INTO reprice_groups", 15, ""),
            groups,
            |arguments, group| {
                let key = group.key();
                push(arguments, group.index as i64);
                push(arguments, key.day_index);
                push(arguments, key.account_ref);
                push(arguments, key.region_ref);
                push(arguments, key.model_called_ref);
                push(arguments, key.model_id_ref);
                push(arguments, key.model_resolved);
                push(arguments, key.routing_ref);
                push(arguments, key.tier_ref);
                push(arguments, key.error_code_key);
                push(arguments, key.token_shape);
                push(arguments, group.group.stored_status_ref);
                push(arguments, group.group.stored_price_key);
                push(arguments, group.group.stored_standard_price_key);
                push(arguments, group.group.stored_reason_key);
            },
            "filling the reprice groups table",
        )
        .await?;
        Ok(())
    }

    async fn update_pricing(
        &mut self,
        rows: &[&StoredInvocation],
        strings: &BatchStrings<'_>,
    ) -> Result<()> {
        let encoded = rows
            .iter()
            .map(|row| {
                Ok((
                    EncodedRow::of(row, strings)?,
                    &row.pricing,
                    row.invocation.model.resolved,
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        execute_chunked(
            &mut self.tx,
            (UPDATE_PRICING_HEAD, 12, UPDATE_PRICING_TAIL),
            &encoded,
            |arguments, (encoded, pricing, model_resolved)| {
                push(arguments, encoded.pricing_status);
                push(arguments, pricing.price_id());
                push(arguments, pricing.cost_pico());
                push(arguments, pricing.standard().map(|s| s.price_id));
                push(arguments, pricing.standard().map(|s| s.cost.picodollars()));
                push(arguments, encoded.unpriced_reason);
                push(arguments, encoded.key.account);
                push(arguments, encoded.key.region);
                push(arguments, encoded.key.request);
                push(arguments, encoded.model_id);
                push(arguments, encoded.routing);
                push(arguments, *model_resolved);
            },
            "updating invocation prices",
        )
        .await?;
        Ok(())
    }

    async fn upsert_metric_points(&mut self, points: &[PointWrite]) -> Result<()> {
        execute_chunked(
            &mut self.tx,
            (
                "INSERT INTO metric_points (series_id, minute_start, value)",
                3,
                "ON CONFLICT (series_id, minute_start) DO UPDATE SET value = excluded.value",
            ),
            points,
            |arguments, point| {
                push(arguments, point.series_id);
                push(arguments, point.minute_start);
                push(arguments, point.value);
            },
            "storing metric points",
        )
        .await?;
        Ok(())
    }

    shared_tx_statements!();
    metric_tx_statements!();
    alerts::alert_tx_statements!();
    price_list::price_list_tx_statements!();
}

#[cfg(test)]
mod tests {
    use super::{histogram_blob, multi_row_sql, parse_histogram_blob};
    use crate::rollup::latency::pack;

    #[test]
    fn histogram_blobs_hold_eight_bytes_per_entry_most_significant_first() {
        let entries = vec![pack(0, 1), pack(1, 7), pack(257, (1 << 40) - 1)];
        let blob = histogram_blob(&entries);
        assert_eq!(blob.len(), 24);
        // As migration 0015's unhex(printf('%016X', entry)) writes pack(1, 7).
        assert_eq!(&blob[8..16], &[0, 0, 1, 0, 0, 0, 0, 7]);
        assert_eq!(parse_histogram_blob(&blob).unwrap(), entries);
        assert_eq!(parse_histogram_blob(&[]).unwrap(), Vec::<i64>::new());
        let error = parse_histogram_blob(&blob[..20]).unwrap_err();
        assert!(error.to_string().contains("20 bytes"), "{error}");
    }

    #[test]
    fn multi_row_sql_lists_one_group_per_row() {
        assert_eq!(
            multi_row_sql("INSERT INTO t (a, b)", 2, 3, "ON CONFLICT DO NOTHING"),
            "INSERT INTO t (a, b) VALUES (?, ?), (?, ?), (?, ?) ON CONFLICT DO NOTHING"
        );
    }
}
