//! Storage: Postgres (production) or an embedded SQLite file (the zero-setup default).
//!
//! Only this module knows SQL. Its surface is shaped by the domain, not by tables: write a
//! batch (invocations + rollups + quarantine + checkpoint in one transaction), read rollup
//! cells and histograms for a range, reprice a range. Both backends run the same algorithm
//! (below, generic over [`WriteTx`]); each dialect file holds only its statements.
//!
//! Idempotency: invocations are unique on (account, region, request id). Rollups are
//! incremented only for rows that were actually inserted, in the same transaction, so
//! re-importing data or replaying a batch after a crash counts nothing twice.

pub mod alerts;
mod cache;
mod dictionary;
mod leader;
mod metrics;
mod postgres;
pub mod price_list;
pub mod query;
mod reprice;
mod rows;
mod sqlite;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use crate::model::{Invocation, Money};
use crate::rollup::{
    CallerDimensions, CellTotals, CostKind, DeltaCell, DeltaSeries, Granularity, LatencyMetric,
    PackedHistograms, RollupDelta,
};

pub use leader::Leadership;
pub use metrics::{
    CoverageRow, MetricPoint, MetricPointRow, MetricSeriesKey, MetricWindow, QuotaRecord,
};
pub use postgres::PgStore;
pub use query::{
    AggregateRow, CallerFilter, CellSpan, CostAmount, CostStatus, Coverage, Filter, Grouping,
    HistogramRow, LatencyHistograms, Totals,
};
pub use sqlite::SqliteStore;

/// Errors from the database, with what tierwatch was doing.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open database {url}: {source}")]
    Connect { url: String, source: sqlx::Error },
    #[error("unsupported database URL {0:?}: expected postgres://… or sqlite://…")]
    UnsupportedUrl(String),
    #[error("cannot create the data directory {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database error while {context}: {source}")]
    Query {
        context: &'static str,
        source: sqlx::Error,
    },
    #[error("stored data is inconsistent: {0}")]
    Inconsistent(String),
    #[error(
        "the raw invocations before {kept_from} were dropped by retention.raw_invocations; \
         {what} needs them"
    )]
    RawInvocationsDropped { kept_from: String, what: String },
    #[error(
        "cannot reprice {range} from the price groups kept of its dropped raw invocations: {reason}"
    )]
    NotRepricable { range: String, reason: String },
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

impl StoreError {
    /// A deadlock or serialization failure (Postgres 40P01 / 40001) or a busy SQLite file:
    /// the transaction was rolled back and may simply be run again.
    pub fn is_transient_conflict(&self) -> bool {
        let StoreError::Query { source, .. } = self else {
            return false;
        };
        let Some(database) = source.as_database_error() else {
            return false;
        };
        matches!(
            database.code().as_deref(),
            Some("40P01") | Some("40001") | Some("5") | Some("517")
        )
    }
}

/// Adds "while doing X" to sqlx errors.
pub(crate) trait QueryContext<T> {
    fn context(self, context: &'static str) -> Result<T>;
}

impl<T> QueryContext<T> for std::result::Result<T, sqlx::Error> {
    fn context(self, context: &'static str) -> Result<T> {
        self.map_err(|source| StoreError::Query { context, source })
    }
}

/// How a stored invocation was priced, with the ids of the price rows that made the cost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoredPricing {
    Priced {
        price_id: i64,
        cost: Money,
        standard: Option<StandardCost>,
    },
    NotBilled,
    Unpriced {
        reason: String,
    },
}

/// What the same tokens cost on Standard, and the Standard price row that says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StandardCost {
    pub price_id: i64,
    pub cost: Money,
}

impl StoredPricing {
    /// The `pricing_status` column value.
    pub fn status(&self) -> &'static str {
        match self {
            StoredPricing::Priced { .. } => "priced",
            StoredPricing::NotBilled => "not_billed",
            StoredPricing::Unpriced { .. } => "unpriced",
        }
    }

    pub fn cost_kind(&self) -> CostKind {
        match self {
            StoredPricing::Priced { cost, standard, .. } => CostKind::Priced {
                cost: *cost,
                standard: standard.map(|standard| standard.cost),
            },
            StoredPricing::NotBilled => CostKind::NotBilled,
            StoredPricing::Unpriced { .. } => CostKind::Unpriced,
        }
    }

    fn price_id(&self) -> Option<i64> {
        match self {
            StoredPricing::Priced { price_id, .. } => Some(*price_id),
            _ => None,
        }
    }

    fn cost_pico(&self) -> Option<i64> {
        match self {
            StoredPricing::Priced { cost, .. } => Some(cost.picodollars()),
            _ => None,
        }
    }

    fn standard(&self) -> Option<StandardCost> {
        match self {
            StoredPricing::Priced { standard, .. } => *standard,
            _ => None,
        }
    }

    fn unpriced_reason(&self) -> Option<&str> {
        match self {
            StoredPricing::Unpriced { reason } => Some(reason),
            _ => None,
        }
    }
}

/// An invocation ready to store: parsed, priced, and tagged with where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredInvocation {
    pub invocation: Invocation,
    pub pricing: StoredPricing,
    pub source_id: i64,
}

/// A record that could not be imported, kept with why and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuarantinedRecord {
    pub source_id: i64,
    /// Where in the source: "line 12", a log event id, ...
    pub location: String,
    /// A stable reason name (see `ingest::record::RejectReason`).
    pub reason: String,
    pub detail: String,
    /// The first bytes of the record, for a human to recognise it.
    pub excerpt: String,
}

/// How far a continuous source has read, saved with the data it covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub source_id: i64,
    pub position: String,
}

/// An S3 object whose records a batch completes (the ledger row of `s3_objects`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRecord {
    /// The object's delivery prefix (account × region) in `ingest_sources`.
    pub source_id: i64,
    pub key: String,
    pub etag: String,
    pub size: i64,
    /// Records read from it (stored, duplicates and rejected).
    pub records: i64,
}

/// Everything one transaction writes.
#[derive(Debug, Default)]
pub struct Batch {
    pub invocations: Vec<StoredInvocation>,
    pub quarantined: Vec<QuarantinedRecord>,
    /// S3 objects whose every record is in this batch or stored before.
    pub objects: Vec<ObjectRecord>,
    pub checkpoint: Option<Checkpoint>,
}

/// What a batch changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchOutcome {
    /// Invocations stored for the first time.
    pub inserted: u64,
    /// Invocations already stored (or repeated within the batch): counted once, ignored now.
    pub duplicates: u64,
    /// Quarantine rows added (a record quarantined before is not added again).
    pub quarantined: u64,
    /// Of the inserted invocations, how many are unpriced.
    pub inserted_unpriced: u64,
    /// Invocations older than the retention horizon (`retention.raw_invocations`): their
    /// month's rollups were built while their raw rows were kept, so they are skipped.
    pub expired: u64,
}

/// How far retention has dropped data (see migrations 0012 and 0016).
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::FromRow)]
pub struct Horizons {
    /// No raw invocation before this millisecond is stored (0: none was ever dropped).
    pub raw_kept_from_ms: i64,
    /// The fine cells' horizon: no minute cell of a series and no hour cell of a caller
    /// starts before this second (0: none was ever dropped). See [`crate::rollup::finest_kept`].
    pub minute_cells_from_s: i64,
}

/// What [`Store::drop_raw_invocations`] dropped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawDropped {
    /// The months dropped, as their partitions are named (`invocations_2025_08`).
    pub months: Vec<String>,
    pub invocations: u64,
    /// Price groups kept of them (see migration 0013), to reprice their days later.
    pub price_groups: u64,
}

/// Before raw invocations up to `keep_from_ms` are dropped: sums those not dropped yet into
/// the kept price groups, in the dropping transaction. Returns how many groups were written.
async fn keep_price_groups_before<T: WriteTx>(tx: &mut T, keep_from_ms: i64) -> Result<u64> {
    let kept_from = tx.horizons().await?.raw_kept_from_ms;
    if keep_from_ms <= kept_from {
        return Ok(0);
    }
    tx.keep_price_groups(kept_from, keep_from_ms).await
}

/// The first millisecond of the UTC month holding `ts_ms`.
pub fn month_start_ms(ts_ms: i64) -> i64 {
    use chrono::{Datelike, TimeZone, Utc};
    let Some(time) = Utc.timestamp_millis_opt(ts_ms).single() else {
        return ts_ms;
    };
    Utc.with_ymd_and_hms(time.year(), time.month(), 1, 0, 0, 0)
        .single()
        .map_or(ts_ms, |start| start.timestamp_millis())
}

/// The month a partition named `invocations_YYYY_MM` holds, as [start, end) milliseconds.
fn partition_month(name: &str) -> Option<(i64, i64)> {
    use chrono::{Months, NaiveDate};
    let (year, month) = name.strip_prefix("invocations_")?.split_once('_')?;
    let start = NaiveDate::from_ymd_opt(year.parse().ok()?, month.parse().ok()?, 1)?;
    let end = start.checked_add_months(Months::new(1))?;
    let ms = |date: NaiveDate| {
        date.and_hms_opt(0, 0, 0)
            .map(|t| t.and_utc().timestamp_millis())
    };
    Some((ms(start)?, ms(end)?))
}

/// A millisecond timestamp as an RFC 3339 UTC date and time, for messages.
fn format_ms(ts_ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ts_ms)
        .map_or_else(|| ts_ms.to_string(), |time| time.to_rfc3339())
}

/// A price row to record as the provenance of stored costs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceRowRecord {
    /// Canonical text of every field below: equal fingerprints mean the same price.
    pub fingerprint: String,
    pub region: String,
    pub model_id: String,
    pub tier: String,
    pub routing: String,
    /// `YYYY-MM-DD`.
    pub effective_from: String,
    /// Micro-dollars per 1M tokens.
    pub input_rate: Option<i64>,
    pub output_rate: Option<i64>,
    pub cache_read_rate: Option<i64>,
    pub cache_write_rate: Option<i64>,
    pub derivation: Option<String>,
    pub source: Option<String>,
}

/// One rollup cell as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CellRow {
    pub bucket_start: i64,
    pub account_id: String,
    pub region: String,
    pub model_id: String,
    pub tier: String,
    pub totals: CellTotals,
}

/// One histogram bin of one cell, as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BinRow {
    pub bucket_start: i64,
    pub account_id: String,
    pub region: String,
    pub model_id: String,
    pub tier: String,
    pub bin: i16,
    pub count: i64,
}

/// Unpriced invocations in a range, grouped by cause.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct UnpricedGroup {
    pub model_id: String,
    pub region: String,
    pub tier: String,
    pub reason: String,
    pub invocations: i64,
}

/// How the last poll of one source went (one row per source and kind of poll).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, serde::Serialize)]
pub struct SourceHealth {
    pub source: String,
    /// `logs`, `metrics` or `quotas`.
    pub kind: String,
    /// The replica that ran the cycle.
    pub daemon_id: String,
    pub last_attempt_ms: i64,
    /// Kept from earlier cycles when this one failed.
    pub last_success_ms: Option<i64>,
    /// `None` when the cycle succeeded.
    pub last_error: Option<String>,
    /// Counted by the store: 0 after a success, one more after each failure.
    pub consecutive_failures: i64,
    pub lag_ms: Option<i64>,
    pub items_last_cycle: i64,
    pub api_calls_last_cycle: i64,
    pub cycle_ms: i64,
}

/// Quarantined records grouped by reason.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct QuarantineGroup {
    pub reason: String,
    pub records: i64,
}

/// An open database of either kind. Cheap to clone: clones share the connection pool.
#[derive(Debug, Clone)]
pub struct Store {
    backend: Backend,
    /// Ids of series and dictionary rows known to be committed.
    caches: WriteCaches,
    /// The caller dimensions that writes roll up (see [`Store::with_caller_dimensions`]).
    callers: Arc<CallerDimensions>,
    /// Aggregate reads cached per data generation (see `cache`).
    reads: cache::CachePolicy,
}

#[derive(Debug, Clone)]
enum Backend {
    Postgres(PgStore),
    Sqlite(SqliteStore),
}

/// Caller cells exist for hours and days only.
fn check_caller_span(span: CellSpan) -> Result<()> {
    if span.granularity == Granularity::Minute {
        return Err(StoreError::Inconsistent(
            "caller cells are kept per hour and day, not per minute".into(),
        ));
    }
    Ok(())
}

/// Runs the same expression against whichever backend is open.
macro_rules! on_backend {
    ($store:expr, $backend:ident => $body:expr) => {
        match &$store.backend {
            Backend::Postgres($backend) => $body,
            Backend::Sqlite($backend) => $body,
        }
    };
}

/// What a series row stands for: the grouping every rollup cell belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct SeriesKey {
    pub account_id: String,
    pub region: String,
    pub model_id: String,
    pub tier: String,
}

impl SeriesKey {
    fn of(series: &DeltaSeries<'_>) -> SeriesKey {
        SeriesKey {
            account_id: series.account_id.to_string(),
            region: series.region.to_string(),
            model_id: series.model_id.to_string(),
            tier: series.tier.as_str().to_string(),
        }
    }
}

/// A rollup cell as written: `key` is its series id (a cell of `rollups`) or its tier (a cell
/// of `tier_rollups`, every series of the tier summed).
#[derive(Debug, Clone, Copy)]
pub(crate) struct CellWrite<'a, Key> {
    pub granularity_s: i64,
    pub bucket_start: i64,
    pub key: Key,
    pub totals: &'a CellTotals,
    /// Packed histogram entries added to the cell (see `rollup::latency`), sorted by bin.
    pub latency_hist: &'a [i64],
    pub first_token_hist: &'a [i64],
}

/// A caller cell as written.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CallerWrite<'a> {
    pub granularity_s: i64,
    pub bucket_start: i64,
    pub series_id: i64,
    pub dimension: &'a str,
    pub value: &'a str,
    pub totals: &'a CellTotals,
}

/// Unpriced invocations of one day, series and cause, as written.
#[derive(Debug, Clone, Copy)]
pub(crate) struct UnpricedWrite<'a> {
    pub bucket_start: i64,
    pub series_id: i64,
    pub reason: &'a str,
    pub invocations: i64,
}

impl Store {
    /// Opens `url` (`postgres://…`, `postgresql://…` or `sqlite://PATH`), creating a SQLite
    /// file and its directory when missing.
    pub async fn open(url: &str) -> Result<Store> {
        let backend = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres(PgStore::open(url).await?)
        } else if let Some(path) = url.strip_prefix("sqlite://") {
            Backend::Sqlite(SqliteStore::open(Path::new(path)).await?)
        } else {
            return Err(StoreError::UnsupportedUrl(url.to_string()));
        };
        Ok(Store {
            backend,
            caches: WriteCaches::default(),
            callers: Arc::default(),
            reads: cache::CachePolicy::default(),
        })
    }

    /// Turns the cache of aggregate reads on (the default) or off (to measure cold reads).
    pub fn with_read_cache(mut self, enabled: bool) -> Store {
        self.reads.enabled = enabled;
        self
    }

    /// The data generation: bumped after every committed write of invocations.
    async fn generation(&self) -> Result<i64> {
        on_backend!(self, store => store.generation().await)
    }

    /// Marks that rollups, quarantine or unpriced counts changed, after the write committed:
    /// those are what the read cache holds (health, quotas, metrics and alerts are read
    /// uncached), so only invocation writes and repricing call this. A failure is logged,
    /// not returned: the data is stored, and cached reads expire after `cache::MAX_AGE`.
    async fn data_changed(&self) {
        if let Err(error) = on_backend!(self, store => store.bump_generation().await) {
            tracing::warn!(%error, "could not mark new data; cached dashboard reads may lag");
        }
    }

    /// Rolls caller cells up by these dimensions from now on (the default is the identity
    /// and [`crate::rollup::DEFAULT_METADATA_KEYS`]). Cells already written keep the
    /// dimensions they were written with until `reprice` rebuilds them.
    pub fn with_caller_dimensions(mut self, callers: CallerDimensions) -> Store {
        self.callers = Arc::new(callers);
        self
    }

    /// The caller dimensions this store rolls up.
    pub fn caller_dimensions(&self) -> &CallerDimensions {
        &self.callers
    }

    /// Brings the schema up to date. Safe to run on every start.
    pub async fn migrate(&self) -> Result<()> {
        on_backend!(self, store => store.migrate().await)?;
        self.convert_legacy_invocations().await
    }

    /// Moves invocations stored before migration 0011 into the compact table, a page per
    /// transaction: each page's deletion from the old table commits with its insertion, so
    /// an interrupted conversion resumes where it stopped and counts nothing twice. Rollups
    /// already hold these invocations and are left alone. Every replica takes part before it
    /// writes anything; the old table is dropped once empty.
    async fn convert_legacy_invocations(&self) -> Result<()> {
        const PAGE: i64 = 5_000;
        if !on_backend!(self, store => store.legacy_invocations_exist().await)? {
            return Ok(());
        }
        if let Backend::Postgres(store) = &self.backend {
            store.prepare_legacy_conversion().await?;
        }
        let started = std::time::Instant::now();
        let mut moved = 0;
        loop {
            let page = on_backend!(self, store => {
                convert_legacy_page(store.begin_exclusive().await?, &self.caches, PAGE).await
            })?;
            if page == 0 {
                break;
            }
            moved += page;
            tracing::info!(moved, "converting stored invocations to the compact layout");
        }
        on_backend!(self, store => store.drop_legacy_invocations().await)?;
        if moved > 0 {
            tracing::info!(
                moved,
                seconds = started.elapsed().as_secs_f64(),
                "stored invocations converted to the compact layout"
            );
        }
        Ok(())
    }

    /// The URL of a Postgres store (for connections outside the pool); `None` for SQLite.
    fn postgres_url(&self) -> Option<String> {
        match &self.backend {
            Backend::Postgres(store) => Some(store.url().to_string()),
            Backend::Sqlite(_) => None,
        }
    }

    /// "postgres" or "sqlite".
    pub fn backend_name(&self) -> &'static str {
        match self.backend {
            Backend::Postgres(_) => "postgres",
            Backend::Sqlite(_) => "sqlite",
        }
    }

    /// The ids of sources (files, log groups) of one kind, created on first use, in the
    /// order of `names`. One round trip for any number of names.
    pub async fn source_ids(&self, kind: &str, names: &[&str]) -> Result<Vec<i64>> {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let found = on_backend!(self, store => store.source_ids(kind, names).await)?;
        let by_name: HashMap<&str, i64> = found
            .iter()
            .map(|(name, id)| (name.as_str(), *id))
            .collect();
        names
            .iter()
            .map(|name| {
                by_name.get(name).copied().ok_or_else(|| {
                    StoreError::Inconsistent(format!("source {name:?} was not registered"))
                })
            })
            .collect()
    }

    /// The id of a price row, recorded on first use.
    pub async fn register_price(&self, price: &PriceRowRecord) -> Result<i64> {
        let now = now_ms();
        on_backend!(self, store => {
            let mut tx = store.begin_write().await?;
            let id = tx.register_price(price, now).await?;
            tx.commit().await?;
            Ok(id)
        })
    }

    /// Writes a batch in one transaction: new invocations, what they add to the rollups,
    /// quarantined records and the checkpoint. Either all of it lands or none of it does.
    ///
    /// Concurrent writers lock rows in one global order, so they don't deadlock; should the
    /// database still abort a transaction as a deadlock or serialization failure, the whole
    /// batch is retried (it was rolled back, so nothing is counted twice).
    pub async fn write_batch(&self, batch: &Batch) -> Result<BatchOutcome> {
        const ATTEMPTS: u32 = 5;
        if let Backend::Postgres(store) = &self.backend {
            let timestamps = batch
                .invocations
                .iter()
                .map(|row| row.invocation.timestamp_ms);
            store.ensure_partitions(timestamps).await?;
        }
        let mut attempt = 1;
        loop {
            let result = on_backend!(self, store => {
                write_batch(store.begin_write().await?, &self.caches, &self.callers, batch).await
            });
            match result {
                Err(error) if attempt < ATTEMPTS && error.is_transient_conflict() => {
                    tracing::warn!(attempt, %error, "retrying a batch after a lock conflict");
                    tokio::time::sleep(std::time::Duration::from_millis(20 * u64::from(attempt)))
                        .await;
                    attempt += 1;
                }
                result => {
                    if let Ok(outcome) = &result
                        && (outcome.inserted > 0 || outcome.quarantined > 0)
                    {
                        self.data_changed().await;
                    }
                    return result;
                }
            }
        }
    }

    /// How many batches may be written at once: Postgres runs each transaction on its own
    /// server process, so two writers use both cores; SQLite has a single writer.
    pub fn concurrent_writers(&self) -> usize {
        match self.backend {
            Backend::Postgres(_) => 2,
            Backend::Sqlite(_) => 1,
        }
    }

    /// Rollup cells of one granularity with `start ≤ bucket_start < end` (Unix seconds).
    pub async fn read_cells(
        &self,
        granularity: Granularity,
        start_s: i64,
        end_s: i64,
    ) -> Result<Vec<CellRow>> {
        on_backend!(self, store => store.read_cells(granularity, start_s, end_s).await)
    }

    /// Histogram bins of one latency metric for the same cells as [`Store::read_cells`].
    pub async fn read_bins(
        &self,
        granularity: Granularity,
        start_s: i64,
        end_s: i64,
        metric: LatencyMetric,
    ) -> Result<Vec<BinRow>> {
        let span = CellSpan {
            granularity,
            start_s,
            end_s,
        };
        let every_cell = Grouping {
            bucket: true,
            account: true,
            region: true,
            model: true,
            tier: true,
        };
        let histograms = self
            .histograms(span, &Filter::default(), every_cell)
            .await?;
        Ok(histograms
            .of(metric)
            .iter()
            .flat_map(|row| {
                row.bins.iter().map(|&(bin, count)| BinRow {
                    bucket_start: row.bucket_start,
                    account_id: row.account_id.clone(),
                    region: row.region.clone(),
                    model_id: row.model_id.clone(),
                    tier: row.tier.clone(),
                    bin,
                    count: i64::try_from(count).unwrap_or(i64::MAX),
                })
            })
            .collect())
    }

    /// Sums of rollup cells, filtered and grouped in the database. A caller filter reads the
    /// caller cells instead (hour and day spans only; they keep no latency).
    pub async fn aggregate(
        &self,
        span: CellSpan,
        filter: &Filter,
        group: Grouping,
    ) -> Result<Vec<AggregateRow>> {
        let table = match &filter.caller {
            Some(caller) => {
                check_caller_span(span)?;
                query::Table::Callers {
                    dimension: &caller.dimension,
                    group_by_value: false,
                }
            }
            None => query::Table::Rollups,
        };
        self.run_aggregate(table, span, filter, group).await
    }

    async fn run_aggregate(
        &self,
        table: query::Table<'_>,
        span: CellSpan,
        filter: &Filter,
        group: Grouping,
    ) -> Result<Vec<AggregateRow>> {
        let built = query::aggregate_sql(table, span, filter, group);
        self.cached(built.clone(), async {
            let raw = on_backend!(self, store => store.fetch_aggregate(built).await)?;
            raw.into_iter().map(query::AggregateRaw::parse).collect()
        })
        .await
    }

    /// `compute`'s result, or the one cached for `key` at the current data generation.
    async fn cached<T, F>(&self, key: query::BuiltQuery, compute: F) -> Result<T>
    where
        T: Clone + Send + Sync + 'static,
        F: std::future::Future<Output = Result<T>>,
    {
        if !self.reads.enabled {
            return compute.await;
        }
        let generation = self.generation().await?;
        if let Some(hit) = self.reads.cache.get::<T>(generation, &key) {
            return Ok(hit.as_ref().clone());
        }
        let result = compute.await?;
        self.reads.cache.put(generation, key, result.clone());
        Ok(result)
    }

    /// Sums of caller cells of one dimension, grouped by caller value (in
    /// [`AggregateRow::caller`]) and `group`. A caller filter on the same dimension keeps
    /// one value; on another dimension it cannot apply and is refused.
    pub async fn aggregate_callers(
        &self,
        span: CellSpan,
        filter: &Filter,
        dimension: &str,
        group: Grouping,
    ) -> Result<Vec<AggregateRow>> {
        check_caller_span(span)?;
        if let Some(caller) = &filter.caller
            && caller.dimension != dimension
        {
            return Err(StoreError::Inconsistent(format!(
                "callers by {dimension} cannot be filtered by {}: caller cells are kept per \
                 dimension",
                caller.dimension
            )));
        }
        let table = query::Table::Callers {
            dimension,
            group_by_value: true,
        };
        self.run_aggregate(table, span, filter, group).await
    }

    /// Merged latency histograms (total latency and time to first token) of rollup cells,
    /// filtered in the database and merged per group here. Latency is not kept per caller, so
    /// a caller filter is ignored here.
    pub async fn histograms(
        &self,
        span: CellSpan,
        filter: &Filter,
        group: Grouping,
    ) -> Result<LatencyHistograms> {
        let filter = Filter {
            caller: None,
            ..filter.clone()
        };
        let rows = on_backend!(self, store => store.packed_rows());
        let built = query::histogram_sql(span, &filter, group, rows);
        self.cached(built.clone(), async {
            let cells = on_backend!(self, store => store.fetch_packed_histograms(built).await)?;
            Ok(query::fold_cells(&cells))
        })
        .await
    }

    /// The fine cells' horizon: the first second with minute cells of series and hour cells
    /// of callers; retention dropped older ones (0: none ever).
    pub async fn fine_cells_from(&self) -> Result<i64> {
        on_backend!(self, store => store.fine_cells_from().await)
    }

    /// Start of the latest minute with invocations (Unix seconds): when data was last seen.
    /// When every stored call is older than `retention.minute_cells` (a backfill of old
    /// months), the last minute of the latest hour with calls. Read from the primary key's
    /// index, so it costs the same at any size.
    pub async fn latest_minute(&self) -> Result<Option<i64>> {
        if let Some(minute) =
            on_backend!(self, store => store.latest_bucket(Granularity::Minute).await)?
        {
            return Ok(Some(minute));
        }
        let hour = on_backend!(self, store => store.latest_bucket(Granularity::Hour).await)?;
        Ok(hour.map(|hour| hour + Granularity::Hour.seconds() - Granularity::Minute.seconds()))
    }

    /// Refreshes the query planner's statistics, after a bulk load: Postgres would otherwise
    /// plan dashboard reads for empty tables until autovacuum gets round to it (seen: 216 ms
    /// instead of 30 ms for a month of latency histograms at 10M invocations).
    pub async fn refresh_statistics(&self) -> Result<()> {
        match &self.backend {
            Backend::Postgres(store) => store.refresh_statistics("ANALYZE").await,
            Backend::Sqlite(store) => store.refresh_statistics("PRAGMA optimize").await,
        }
    }

    /// The months (UTC) that have rollups, oldest first.
    pub async fn months_with_data(&self) -> Result<Vec<crate::report::Month>> {
        let days = on_backend!(self, store => store.day_buckets().await)?;
        let mut months: Vec<crate::report::Month> = days
            .into_iter()
            .filter_map(|day| crate::report::Month::containing(day * 1000))
            .collect();
        months.dedup();
        Ok(months)
    }

    /// Unpriced invocations of the UTC days that start in `[start, end)` (Unix milliseconds;
    /// a start inside a day includes that whole day), grouped by cause. Read from day rollups.
    pub async fn unpriced_groups(&self, start_ms: i64, end_ms: i64) -> Result<Vec<UnpricedGroup>> {
        let day_s = Granularity::Day.seconds();
        let start_s = start_ms.div_euclid(1000).div_euclid(day_s) * day_s;
        let end_s = end_ms.div_euclid(1000);
        let params = vec![query::Param::Int(start_s), query::Param::Int(end_s)];
        let key = query::BuiltQuery::named("unpriced_groups", params);
        self.cached(key, async {
            on_backend!(self, store => store.unpriced_groups(start_s, end_s).await)
        })
        .await
    }

    /// Every quarantined record, grouped by reason (cached per data generation).
    pub async fn quarantine_groups(&self) -> Result<Vec<QuarantineGroup>> {
        let key = query::BuiltQuery::named("quarantine_groups", Vec::new());
        self.cached(key, async {
            on_backend!(self, store => store.quarantine_groups().await)
        })
        .await
    }

    /// The position saved for a source (see [`Checkpoint`]), if any.
    /// The S3 objects of a delivery prefix recorded as read, with keys after `after_key`:
    /// the ETags read of each key.
    pub async fn read_objects(
        &self,
        source_id: i64,
        after_key: &str,
    ) -> Result<HashMap<String, Vec<String>>> {
        on_backend!(self, store => store.read_objects(source_id, after_key).await)
    }

    /// Whether an S3 object version is recorded as read under a delivery prefix.
    pub async fn object_is_read(&self, source_id: i64, key: &str, etag: &str) -> Result<bool> {
        on_backend!(self, store => store.object_is_read(source_id, key, etag).await)
    }

    /// Forgets a delivery prefix's S3 objects recorded before `before_ms` (a listing never
    /// goes back that far; should one be read again, its records are deduplicated by request
    /// id). Returns how many were forgotten.
    pub async fn forget_objects(&self, source_id: i64, before_ms: i64) -> Result<u64> {
        on_backend!(self, store => store.forget_objects(source_id, before_ms).await)
    }

    /// Every checkpoint of one kind of source: (source name, position, updated at ms).
    pub async fn checkpoints_of_kind(&self, kind: &str) -> Result<Vec<(String, String, i64)>> {
        on_backend!(self, store => store.checkpoints_of_kind(kind).await)
    }

    pub async fn checkpoint(&self, kind: &str, name: &str) -> Result<Option<String>> {
        on_backend!(self, store => store.checkpoint(kind, name).await)
    }

    /// Records the outcome of a poll cycle (`consecutive_failures` is counted here).
    pub async fn record_health(&self, health: &SourceHealth) -> Result<()> {
        on_backend!(self, store => store.record_health(health).await)
    }

    /// The last cycle of every source and kind.
    pub async fn source_health(&self) -> Result<Vec<SourceHealth>> {
        on_backend!(self, store => store.source_health().await)
    }

    /// Number of stored invocations with `start ≤ ts < end`.
    pub async fn count_invocations(&self, start_ms: i64, end_ms: i64) -> Result<i64> {
        on_backend!(self, store => store.count_invocations(start_ms, end_ms).await)
    }

    /// Drops the raw invocations of every month before `keep_from_ms` (the first millisecond
    /// of a UTC month): whole partitions on Postgres, their rows on SQLite. Rollups are kept,
    /// and from now on imports skip records older than `keep_from_ms` (counted as expired),
    /// which the rollups already count. Waits for writes in progress.
    pub async fn drop_raw_invocations(&self, keep_from_ms: i64) -> Result<RawDropped> {
        if month_start_ms(keep_from_ms) != keep_from_ms {
            return Err(StoreError::Inconsistent(format!(
                "retention keeps whole months; {} is not the start of one",
                format_ms(keep_from_ms)
            )));
        }
        let dropped = on_backend!(self, store => store.drop_raw_invocations(keep_from_ms).await)?;
        self.data_changed().await;
        Ok(dropped)
    }

    /// The retention horizons: how far raw invocations and minute cells were dropped.
    pub async fn horizons(&self) -> Result<Horizons> {
        on_backend!(self, store => {
            let mut tx = store.begin_write().await?;
            let horizons = tx.horizons().await?;
            tx.commit().await?;
            Ok::<Horizons, StoreError>(horizons)
        })
    }

    /// Deletes the fine cells before `from_s` (a day's start): minute cells of series and
    /// tiers, hour cells of callers; and moves their horizon there: from then on, writes keep
    /// hour and day cells of series and day cells of callers only for older calls.
    /// Serialized with writes (as [`Store::drop_raw_invocations`]), so no write adds a fine
    /// cell before it.
    pub async fn drop_fine_cells(&self, from_s: i64) -> Result<u64> {
        if from_s.rem_euclid(86_400) != 0 {
            return Err(StoreError::Inconsistent(format!(
                "fine cells are dropped by whole days; {from_s} is not the start of one"
            )));
        }
        let deleted = on_backend!(self, store => {
            let mut tx = store.begin_exclusive().await?;
            let deleted = tx.drop_fine_cells(from_s).await?;
            tx.commit().await?;
            Ok::<u64, StoreError>(deleted)
        })?;
        if deleted > 0 {
            self.data_changed().await;
        }
        Ok(deleted)
    }

    /// Recomputes the cost of every invocation with `start ≤ ts < end` and updates the
    /// rollups that count them, in one transaction. `start` and `end` must be whole UTC days.
    ///
    /// `reprice` is asked once per price group (calls alike in everything a price depends on,
    /// see `reprice.rs`); only the invocations whose price changes are rewritten, and their
    /// rollup cells move by the difference. Where a group cannot be decided as one, this works
    /// as [`Store::reprice_and_rebuild`] does.
    ///
    /// A range whose raw invocations retention dropped is repriced from the price groups kept
    /// of them: its day cells' costs and unpriced causes are rewritten (hour, minute and
    /// caller cells keep theirs); a group that cannot be decided as one is then an error.
    pub async fn reprice<F>(&self, start_ms: i64, end_ms: i64, reprice: F) -> Result<RepriceOutcome>
    where
        F: FnMut(&mut Invocation) -> RepriceDecision + Send,
    {
        self.reprice_with(start_ms, end_ms, reprice::Method::ByGroup, reprice)
            .await
    }

    /// [`Store::reprice`] with `reprice` asked for every invocation on its own, and the
    /// range's rollups rebuilt from the rows: what rollups written with other caller
    /// dimensions need (`ingest.caller_metadata_keys`), and the reference the grouped reprice
    /// is tested against.
    pub async fn reprice_and_rebuild<F>(
        &self,
        start_ms: i64,
        end_ms: i64,
        reprice: F,
    ) -> Result<RepriceOutcome>
    where
        F: FnMut(&mut Invocation) -> RepriceDecision + Send,
    {
        self.reprice_with(start_ms, end_ms, reprice::Method::RowByRow, reprice)
            .await
    }

    async fn reprice_with<F>(
        &self,
        start_ms: i64,
        end_ms: i64,
        method: reprice::Method,
        reprice: F,
    ) -> Result<RepriceOutcome>
    where
        F: FnMut(&mut Invocation) -> RepriceDecision + Send,
    {
        let day_ms = Granularity::Day.seconds() * 1000;
        if start_ms.rem_euclid(day_ms) != 0 || end_ms.rem_euclid(day_ms) != 0 {
            return Err(StoreError::Inconsistent(format!(
                "reprice range {start_ms}..{end_ms} is not whole UTC days"
            )));
        }
        let range = reprice::Range { start_ms, end_ms };
        let outcome = on_backend!(self, store => {
            let tx = store.begin_exclusive().await?;
            reprice::reprice_range(tx, &self.caches, &self.callers, range, method, reprice).await
        })?;
        self.data_changed().await;
        Ok(outcome)
    }
}

/// Metrics, quotas and coverage (see `metrics.rs` for the tables).
impl Store {
    /// Writes a metrics window in one transaction: its series, its points (overwriting
    /// re-fetched minutes) and its checkpoint. Returns the number of points written.
    pub async fn write_metric_window(&self, window: &MetricWindow) -> Result<u64> {
        let points = dedupe_points(window)?;
        on_backend!(self, store => {
            let mut tx = store.begin_write().await?;
            let ids = tx.ensure_metric_series(&window.series).await?;
            let writes: Vec<metrics::PointWrite> = points
                .iter()
                .map(|point| metrics::PointWrite {
                    series_id: ids[point.series],
                    minute_start: point.minute_start,
                    value: point.value,
                })
                .collect();
            tx.upsert_metric_points(&writes).await?;
            if let Some(checkpoint) = &window.checkpoint {
                tx.save_checkpoint(checkpoint, now_ms()).await?;
            }
            tx.commit().await?;
        });
        Ok(points.len() as u64)
    }

    /// Per-minute points of one metric and statistic with `start ≤ minute < end` (seconds),
    /// for every series (model, tier, source) that has them.
    pub async fn read_metric_points(
        &self,
        metric_name: &str,
        statistic: &str,
        start_s: i64,
        end_s: i64,
    ) -> Result<Vec<MetricPointRow>> {
        on_backend!(self, store => {
            store.read_metric_points(metric_name, statistic, start_s, end_s).await
        })
    }

    /// Like [`Store::read_metric_points`], summed over the range per metric series (each row's
    /// `minute_start` is 0), so a month of minutes is one row per series.
    pub async fn sum_metric_points(
        &self,
        metric_name: &str,
        statistic: &str,
        start_s: i64,
        end_s: i64,
    ) -> Result<Vec<MetricPointRow>> {
        on_backend!(self, store => {
            store.sum_metric_points(metric_name, statistic, start_s, end_s).await
        })
    }

    /// Replaces the quotas stored for `source` with a fresh listing, in one transaction.
    pub async fn replace_quotas(&self, source: &str, quotas: &[QuotaRecord]) -> Result<()> {
        on_backend!(self, store => {
            let mut tx = store.begin_write().await?;
            tx.replace_quotas(source, quotas).await?;
            tx.commit().await
        })
    }

    /// Model ids seen in invocation logs or CloudWatch metrics.
    pub async fn known_model_ids(&self) -> Result<Vec<String>> {
        on_backend!(self, store => store.known_model_ids().await)
    }

    /// Every stored quota.
    pub async fn read_quotas(&self) -> Result<Vec<QuotaRecord>> {
        on_backend!(self, store => store.read_quotas().await)
    }

    /// Stores coverage rows, replacing earlier checks of the same model, tier and hour.
    pub async fn write_coverage(&self, rows: &[CoverageRow]) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        on_backend!(self, store => {
            let mut tx = store.begin_write().await?;
            tx.upsert_coverage(rows).await?;
            tx.commit().await
        })
    }

    /// Coverage rows of the hours with `start ≤ hour_start < end` (seconds).
    pub async fn read_coverage(&self, start_s: i64, end_s: i64) -> Result<Vec<CoverageRow>> {
        on_backend!(self, store => store.read_coverage(start_s, end_s).await)
    }
}

/// Alerts: states, notification history and the delivery outbox (see `alerts.rs`).
impl Store {
    /// Every stored alert state.
    pub async fn alert_states(&self) -> Result<Vec<alerts::StoredAlert>> {
        on_backend!(self, store => store.alert_states().await)
    }

    /// Saves changed alert states and the notifications they call for (with their pending
    /// deliveries) in one transaction. Returns the new notifications' ids.
    pub async fn apply_alert_changes(
        &self,
        states: &[alerts::StoredAlert],
        events: &[alerts::NewEvent],
    ) -> Result<Vec<i64>> {
        if states.is_empty() && events.is_empty() {
            return Ok(Vec::new());
        }
        let ids = on_backend!(self, store => {
            let mut tx = store.begin_write().await?;
            tx.upsert_alert_states(states).await?;
            let ids = tx.insert_alert_events(events).await?;
            tx.commit().await?;
            ids
        });
        Ok(ids)
    }

    /// Records that `month`'s scheduled report was written, with its notification, in one
    /// transaction. `None` when another run (or replica) recorded the month first.
    pub async fn record_report_run(
        &self,
        month: &str,
        files: &str,
        event: &alerts::NewEvent,
    ) -> Result<Option<i64>> {
        let now = now_ms();
        on_backend!(self, store => {
            let mut tx = store.begin_write().await?;
            if !tx.insert_report_run(month, files, now).await? {
                return Ok(None);
            }
            let ids = tx.insert_alert_events(std::slice::from_ref(event)).await?;
            tx.commit().await?;
            Ok(ids.first().copied())
        })
    }

    /// When `month`'s scheduled report was written, if it was.
    pub async fn report_run(&self, month: &str) -> Result<Option<i64>> {
        on_backend!(self, store => store.report_run(month).await)
    }

    /// The latest notifications, newest first.
    pub async fn recent_alert_events(&self, limit: i64) -> Result<Vec<alerts::AlertEvent>> {
        on_backend!(self, store => store.recent_alert_events(limit).await)
    }

    /// Deliveries of notifications with id ≥ `from_id`.
    pub async fn deliveries_since(&self, from_id: i64) -> Result<Vec<alerts::Delivery>> {
        on_backend!(self, store => store.deliveries_of(from_id).await)
    }

    /// Pending deliveries whose next attempt is due, oldest first, with their notification.
    pub async fn due_deliveries(
        &self,
        now_ms: i64,
        limit: i64,
    ) -> Result<Vec<(alerts::Delivery, alerts::AlertEvent)>> {
        on_backend!(self, store => store.due_deliveries(now_ms, limit).await)
    }

    /// Records how a delivery attempt went.
    pub async fn record_delivery(
        &self,
        event_id: i64,
        channel: &str,
        outcome: &alerts::DeliveryOutcome,
    ) -> Result<()> {
        on_backend!(self, store => store.record_delivery(event_id, channel, outcome).await)
    }
}

/// The stored AWS Price List, Bedrock's model lists and application inference profiles
/// (see `price_list.rs`).
impl Store {
    /// Every Price List row stored by any version, ordered by key, date and version.
    pub async fn price_list_rows(&self) -> Result<Vec<price_list::StoredListPrice>> {
        on_backend!(self, store => store.price_list_rows().await)
    }

    pub async fn price_list_versions(&self) -> Result<Vec<price_list::PriceListVersion>> {
        on_backend!(self, store => store.price_list_versions().await)
    }

    /// Records a version with the rows it saw (rows already stored are kept as they are) and
    /// Bedrock's model lists it read, in one transaction. Returns the version's id and how
    /// many rows it added.
    pub async fn save_price_list_version(
        &self,
        version: &price_list::NewVersion,
        rows: &[price_list::StoredListPrice],
        models: &[price_list::StoredFoundationModel],
    ) -> Result<(i64, u64)> {
        let now = now_ms();
        on_backend!(self, store => {
            let mut tx = store.begin_write().await?;
            let saved = tx.insert_price_list_version(version, rows, now).await?;
            tx.upsert_foundation_models(models, now).await?;
            tx.commit().await?;
            Ok(saved)
        })
    }

    /// Bedrock's model lists as last read, every region.
    pub async fn foundation_models(&self) -> Result<Vec<price_list::StoredFoundationModel>> {
        on_backend!(self, store => store.foundation_models().await)
    }

    pub async fn inference_profiles(&self) -> Result<Vec<price_list::StoredProfile>> {
        on_backend!(self, store => store.inference_profiles().await)
    }

    pub async fn save_inference_profiles(
        &self,
        profiles: &[price_list::StoredProfile],
    ) -> Result<()> {
        if profiles.is_empty() {
            return Ok(());
        }
        on_backend!(self, store => {
            let mut tx = store.begin_write().await?;
            tx.upsert_profiles(profiles).await?;
            tx.commit().await
        })
    }

    /// Calls in `[start_ms, end_ms)` that asked for tier `requested` and were served on
    /// another, grouped by account, region, model and serving tier.
    pub async fn tier_overflow(
        &self,
        requested: &str,
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<price_list::TierOverflow>> {
        on_backend!(self, store => store.tier_overflow(requested, start_ms, end_ms).await)
    }

    /// Start days (Unix seconds) of the UTC days from `from_s` on with stored calls of a
    /// region, model and served tier: what a price change from `from_s` reprices.
    pub async fn days_with_calls(
        &self,
        region: &str,
        model_id: &str,
        tier: &str,
        from_s: i64,
    ) -> Result<Vec<i64>> {
        on_backend!(self, store => store.days_with_calls(region, model_id, tier, from_s).await)
    }
}

/// The window's points with each (series, minute) once, the last value winning (an upsert
/// may not touch one row twice in a statement), after checking every series index.
fn dedupe_points(window: &MetricWindow) -> Result<Vec<MetricPoint>> {
    if let Some(point) = window
        .points
        .iter()
        .find(|p| p.series >= window.series.len())
    {
        return Err(StoreError::Inconsistent(format!(
            "metric point names series #{} of {}",
            point.series,
            window.series.len()
        )));
    }
    let mut latest: std::collections::BTreeMap<(usize, i64), f64> = Default::default();
    for point in &window.points {
        latest.insert((point.series, point.minute_start), point.value);
    }
    Ok(latest
        .into_iter()
        .map(|((series, minute_start), value)| MetricPoint {
            series,
            minute_start,
            value,
        })
        .collect())
}

/// The price an invocation should now carry, as decided by the caller of [`Store::reprice`].
#[derive(Debug, Clone, PartialEq)]
pub enum RepriceDecision {
    Priced {
        price: Arc<PriceRowRecord>,
        cost: Money,
        standard: Option<(Arc<PriceRowRecord>, Money)>,
    },
    NotBilled,
    Unpriced {
        reason: String,
    },
}

/// What a reprice changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RepriceOutcome {
    pub invocations: u64,
    /// Calls whose price changed; repriced from kept price groups, the calls of the day cells
    /// whose cost changed.
    pub changed: u64,
    pub path: RepricePath,
}

/// How a reprice went about it (see `reprice.rs`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RepricePath {
    /// Every call decided on its own; the range's rollups rebuilt from the rows.
    #[default]
    PerCall,
    /// Decided once per price group; the calls of the groups whose price changed rewritten,
    /// and the rollups they count in moved by the difference.
    ByPriceGroup { groups: u64, changed_groups: u64 },
    /// The raw calls were dropped by retention: decided once per price group kept of them;
    /// the day cells' costs and the unpriced causes rewritten (hour, minute and caller cells
    /// keep the costs they had).
    FromKeptGroups { groups: u64, day_cells: u64 },
}

/// Milliseconds since the Unix epoch, now.
pub(crate) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// The statements one backend runs inside a write transaction. The algorithms that use them
/// ([`write_batch`], [`reprice_range`]) are written once, for both backends.
pub(crate) trait WriteTx: Send {
    /// Inserts invocations that are not stored yet; returns, for each row, whether it was new.
    /// Rows repeated within `rows` are new at most once.
    /// `strings` holds the dictionary ids of every string of `rows` (see `dictionary`).
    async fn insert_invocations(
        &mut self,
        rows: &[StoredInvocation],
        strings: &dictionary::BatchStrings<'_>,
    ) -> Result<Vec<bool>>;
    /// Ids of dictionary strings, created when missing (`values` sorted, distinct).
    async fn ensure_strings(&mut self, values: &[&str]) -> Result<Vec<(String, i32)>>;
    /// Ids of series rows, created when missing, in the order of `keys`.
    async fn ensure_series(&mut self, keys: &[&SeriesKey]) -> Result<Vec<i64>>;
    /// Adds to rollup cells and their histograms (cells come sorted by key, so concurrent
    /// writers lock them in the same order).
    async fn add_rollups(&mut self, cells: &[CellWrite<'_, i64>]) -> Result<()>;
    /// Adds to tier cells: the same sums and histograms per tier (sorted by key).
    async fn add_tier_rollups(&mut self, cells: &[CellWrite<'_, &str>]) -> Result<()>;
    /// Adds to caller cells (sorted by key, like rollups).
    async fn add_caller_rollups(&mut self, rows: &[CallerWrite<'_>]) -> Result<()>;
    /// Adds to the unpriced counts per day and cause (sorted by key).
    async fn add_unpriced_rollups(&mut self, rows: &[UnpricedWrite<'_>]) -> Result<()>;
    /// Adds quarantined records not seen before; returns how many were added.
    async fn insert_quarantine(&mut self, rows: &[QuarantinedRecord], now_ms: i64) -> Result<u64>;
    async fn save_checkpoint(&mut self, checkpoint: &Checkpoint, now_ms: i64) -> Result<()>;
    /// Records S3 objects as read (an object version already recorded is left as it is).
    async fn insert_objects(&mut self, objects: &[ObjectRecord], now_ms: i64) -> Result<()>;
    async fn register_price(&mut self, price: &PriceRowRecord, now_ms: i64) -> Result<i64>;
    /// The first `limit` invocations, in key order, of the table of the layout before
    /// migration 0011 (see [`Store::migrate`]).
    async fn load_legacy_invocations(&mut self, limit: i64) -> Result<Vec<StoredInvocation>>;
    /// Deletes the previous layout's invocations up to this one's key, inclusive.
    async fn delete_legacy_invocations(&mut self, up_to: &Invocation) -> Result<()>;
    /// Invocations with `start ≤ ts < end`.
    async fn load_invocations(
        &mut self,
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<StoredInvocation>>;
    /// Overwrites the pricing of stored invocations (found by their key).
    async fn update_pricing(
        &mut self,
        rows: &[&StoredInvocation],
        strings: &dictionary::BatchStrings<'_>,
    ) -> Result<()>;
    /// Deletes rollup cells (with their histograms), caller cells and unpriced counts with
    /// `start ≤ bucket_start < end` (seconds).
    async fn delete_rollups(&mut self, start_s: i64, end_s: i64) -> Result<()>;
    /// The retention horizons (see migrations 0012 and 0016).
    async fn horizons(&mut self) -> Result<Horizons>;
    /// Deletes the fine cells (minute cells of series and tiers, hour cells of callers)
    /// before `from_s` and records that none older are kept; gives how many it deleted.
    async fn drop_fine_cells(&mut self, from_s: i64) -> Result<u64>;
    /// The price groups of invocations with `start ≤ ts < end` (see `reprice`).
    async fn load_price_groups(
        &mut self,
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<rows::StoredPriceGroupRow>>;
    /// Sums the invocations of `start ≤ ts < end` into the kept price groups (before they are
    /// dropped); returns how many groups were written.
    async fn keep_price_groups(&mut self, start_ms: i64, end_ms: i64) -> Result<u64>;
    /// The kept price groups of the days in `start ≤ ms < end`.
    async fn load_kept_price_groups(
        &mut self,
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<rows::KeptPriceGroupRow>>;
    /// The day cells in `start ≤ bucket_start < end`: calls and cost fields.
    async fn load_day_cells(
        &mut self,
        start_s: i64,
        end_s: i64,
    ) -> Result<Vec<reprice::DayCellRow>>;
    /// Overwrites the cost fields of day cells.
    async fn set_day_cell_pricing(&mut self, cells: &[reprice::DayCellPricing]) -> Result<()>;
    /// Sets the pricing sums of the tier day cells of the range to those of their series'
    /// day cells (after `set_day_cell_pricing`).
    async fn refresh_tier_day_cells(&mut self, start_s: i64, end_s: i64) -> Result<()>;
    /// Deletes every unpriced cause counted in `start ≤ bucket_start < end`.
    async fn delete_unpriced_rollups(&mut self, start_s: i64, end_s: i64) -> Result<()>;
    /// Deletes the unpriced causes of a range that no invocation has any more.
    async fn delete_empty_unpriced_rollups(&mut self, start_s: i64, end_s: i64) -> Result<()>;
    /// The strings of dictionary ids.
    async fn dictionary_values(&mut self, ids: &[i32]) -> Result<Vec<(i32, String)>>;
    /// Stores a reprice's price groups in the transaction's temporary `reprice_groups` table.
    async fn create_reprice_groups(&mut self, groups: &[reprice::GroupUpdate<'_>]) -> Result<()>;
    /// The invocations of `hour` (in day `day_index` of the range starting at
    /// `range_start_ms`) whose price group changes them, as stored, with their group's index.
    async fn load_changed_by_group(
        &mut self,
        range_start_ms: i64,
        hour: (i64, i64),
        day_index: i64,
    ) -> Result<Vec<(StoredInvocation, usize)>>;
    /// Ids of metric series rows, created when missing, in the order of `keys`.
    async fn ensure_metric_series(&mut self, keys: &[MetricSeriesKey]) -> Result<Vec<i64>>;
    /// Stores metric points, overwriting stored values of the same series and minute.
    /// `points` hold each (series, minute) once.
    async fn upsert_metric_points(&mut self, points: &[metrics::PointWrite]) -> Result<()>;
    /// Replaces every quota stored for `source` with `quotas`.
    async fn replace_quotas(&mut self, source: &str, quotas: &[QuotaRecord]) -> Result<()>;
    async fn upsert_coverage(&mut self, rows: &[CoverageRow]) -> Result<()>;
    async fn upsert_alert_states(&mut self, states: &[alerts::StoredAlert]) -> Result<()>;
    /// Records notifications and queues one delivery per channel; returns their ids.
    async fn insert_alert_events(&mut self, events: &[alerts::NewEvent]) -> Result<Vec<i64>>;
    /// Records a scheduled report; false when the month was already recorded.
    async fn insert_report_run(&mut self, month: &str, files: &str, now_ms: i64) -> Result<bool>;
    /// Records a Price List version and stores its rows not stored yet; returns the version's
    /// id and how many rows were new.
    async fn insert_price_list_version(
        &mut self,
        version: &price_list::NewVersion,
        rows: &[price_list::StoredListPrice],
        now_ms: i64,
    ) -> Result<(i64, u64)>;
    async fn upsert_foundation_models(
        &mut self,
        models: &[price_list::StoredFoundationModel],
        now_ms: i64,
    ) -> Result<()>;
    async fn upsert_profiles(&mut self, profiles: &[price_list::StoredProfile]) -> Result<()>;
    async fn commit(self) -> Result<()>;
}

type SeriesCache = Arc<Mutex<HashMap<SeriesKey, i64>>>;

/// Ids known to be committed, shared by every writer of a store: series, and dictionary
/// strings. Neither is ever deleted, so a cached id stays valid; ids are cached only after
/// the transaction that made them commits.
#[derive(Debug, Clone, Default)]
struct WriteCaches {
    series: SeriesCache,
    strings: dictionary::StringIds,
}

async fn write_batch<T: WriteTx>(
    mut tx: T,
    caches: &WriteCaches,
    callers: &CallerDimensions,
    batch: &Batch,
) -> Result<BatchOutcome> {
    let now = now_ms();
    // Read in the transaction: retention moves the horizon under the exclusive ingest lock.
    let horizons = tx.horizons().await?;
    let kept_from = horizons.raw_kept_from_ms;
    let expired = batch
        .invocations
        .iter()
        .filter(|row| row.invocation.timestamp_ms < kept_from)
        .count();
    let kept: std::borrow::Cow<'_, [StoredInvocation]> = if expired == 0 {
        std::borrow::Cow::Borrowed(&batch.invocations)
    } else {
        // Counted in the outcome (the import summary's "expired"); one line per batch here.
        tracing::debug!(
            expired,
            kept_from = %format_ms(kept_from),
            "skipping invocations older than the retention horizon (already in the rollups)"
        );
        batch
            .invocations
            .iter()
            .filter(|row| row.invocation.timestamp_ms >= kept_from)
            .cloned()
            .collect()
    };
    let resolved = dictionary::resolve(&mut tx, &caches.strings, kept.iter()).await?;
    let is_new = tx.insert_invocations(&kept, &resolved.strings).await?;
    let mut delta = RollupDelta::keeping_minutes_from(horizons.minute_cells_from_s);
    let mut inserted_unpriced = 0;
    for (row, _) in kept.iter().zip(&is_new).filter(|(_, new)| **new) {
        add_to_delta(&mut delta, row, callers);
        inserted_unpriced += u64::from(matches!(row.pricing, StoredPricing::Unpriced { .. }));
    }
    let new_series = add_delta(&mut tx, &caches.series, &delta).await?;
    let quarantined = tx.insert_quarantine(&batch.quarantined, now).await?;
    tx.insert_objects(&batch.objects, now).await?;
    if let Some(checkpoint) = &batch.checkpoint {
        tx.save_checkpoint(checkpoint, now).await?;
    }
    tx.commit().await?;
    remember_series(&caches.series, new_series);
    caches.strings.remember(resolved.into_created());
    let inserted = is_new.iter().filter(|new| **new).count() as u64;
    Ok(BatchOutcome {
        inserted,
        duplicates: kept.len() as u64 - inserted,
        quarantined,
        inserted_unpriced,
        expired: expired as u64,
    })
}

/// Converts one page of the previous layout's invocations (see
/// [`Store::convert_legacy_invocations`]); returns how many it moved.
async fn convert_legacy_page<T: WriteTx>(
    mut tx: T,
    caches: &WriteCaches,
    limit: i64,
) -> Result<u64> {
    let rows = tx.load_legacy_invocations(limit).await?;
    let Some(last) = rows.last() else {
        return Ok(0);
    };
    let resolved = dictionary::resolve(&mut tx, &caches.strings, rows.iter()).await?;
    tx.insert_invocations(&rows, &resolved.strings).await?;
    tx.delete_legacy_invocations(&last.invocation).await?;
    tx.commit().await?;
    caches.strings.remember(resolved.into_created());
    Ok(rows.len() as u64)
}

/// Adds a stored invocation to a rollup delta: its cells, caller cells and unpriced cause.
fn add_to_delta<'a>(
    delta: &mut RollupDelta<'a>,
    row: &'a StoredInvocation,
    callers: &'a CallerDimensions,
) {
    delta.add(&row.invocation, row.pricing.cost_kind(), callers);
    if let StoredPricing::Unpriced { reason } = &row.pricing {
        delta.add_unpriced(&row.invocation, reason);
    }
}

/// Writes a rollup delta, resolving its series to ids (from the cache, else created in this
/// transaction). Returns the series created or first seen here, to cache after commit.
async fn add_delta<T: WriteTx>(
    tx: &mut T,
    cache: &SeriesCache,
    delta: &RollupDelta<'_>,
) -> Result<Vec<(SeriesKey, i64)>> {
    if delta.is_empty() {
        return Ok(Vec::new());
    }
    let ids = series_ids(tx, cache, delta.series()).await?;
    let series_id = |cell: DeltaCell| -> Result<i64> {
        ids.ids
            .get(cell.series as usize)
            .copied()
            .flatten()
            .ok_or_else(|| StoreError::Inconsistent(format!("no series id for {cell:?}")))
    };
    let histograms = delta.packed_histograms();
    let no_histograms = PackedHistograms::default();
    let mut cells = delta
        .cells()
        .map(|(cell, totals)| {
            let packed = histograms.get(&cell).unwrap_or(&no_histograms);
            Ok(CellWrite {
                granularity_s: cell.granularity.seconds(),
                bucket_start: cell.bucket_start,
                key: series_id(cell)?,
                totals,
                latency_hist: &packed.total,
                first_token_hist: &packed.first_token,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    // Concurrent writers lock rows in one global order: the order of the primary keys.
    cells.sort_unstable_by_key(|c| (c.granularity_s, c.bucket_start, c.key));
    tx.add_rollups(&cells).await?;
    add_tier_cells(tx, delta).await?;
    let caller_cells = delta.caller_cells();
    let mut callers = caller_cells
        .iter()
        .map(|caller| {
            Ok(CallerWrite {
                granularity_s: caller.cell.granularity.seconds(),
                bucket_start: caller.cell.bucket_start,
                series_id: series_id(caller.cell)?,
                dimension: caller.dimension,
                value: caller.value,
                totals: caller.totals,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    callers.sort_unstable_by(|a, b| {
        (
            a.granularity_s,
            a.dimension,
            a.bucket_start,
            a.series_id,
            a.value,
        )
            .cmp(&(
                b.granularity_s,
                b.dimension,
                b.bucket_start,
                b.series_id,
                b.value,
            ))
    });
    tx.add_caller_rollups(&callers).await?;
    let mut unpriced = delta
        .unpriced()
        .map(|(cell, reason, invocations)| {
            Ok(UnpricedWrite {
                bucket_start: cell.bucket_start,
                series_id: series_id(cell)?,
                reason,
                invocations,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    unpriced.sort_unstable_by(|a, b| {
        (a.bucket_start, a.series_id, a.reason).cmp(&(b.bucket_start, b.series_id, b.reason))
    });
    tx.add_unpriced_rollups(&unpriced).await?;
    Ok(ids.new_series)
}

/// The ids of a delta's series (by their number in the delta), and the series created or
/// first seen here, to cache after commit.
struct SeriesIds {
    ids: Vec<Option<i64>>,
    new_series: Vec<(SeriesKey, i64)>,
}

/// Resolves series to ids: from the cache, else created in this transaction.
async fn series_ids<T: WriteTx>(
    tx: &mut T,
    cache: &SeriesCache,
    series: &[DeltaSeries<'_>],
) -> Result<SeriesIds> {
    let mut ids = vec![None; series.len()];
    let mut missing: Vec<(usize, SeriesKey)> = Vec::new();
    {
        let known = cache
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        for (number, series) in series.iter().enumerate() {
            let key = SeriesKey::of(series);
            match known.get(&key) {
                Some(id) => ids[number] = Some(*id),
                None => missing.push((number, key)),
            }
        }
    }
    missing.sort_by(|a, b| a.1.cmp(&b.1));
    let keys: Vec<&SeriesKey> = missing.iter().map(|(_, key)| key).collect();
    let created = tx.ensure_series(&keys).await?;
    let mut new_series = Vec::with_capacity(created.len());
    for ((number, key), id) in missing.into_iter().zip(created) {
        ids[number] = Some(id);
        new_series.push((key, id));
    }
    Ok(SeriesIds { ids, new_series })
}

/// Adds what `delta` adds to its series' cells to the tier cells, in the same transaction.
async fn add_tier_cells<T: WriteTx>(tx: &mut T, delta: &RollupDelta<'_>) -> Result<()> {
    let tiers = delta.by_tier();
    let histograms = tiers.packed_histograms();
    let no_histograms = PackedHistograms::default();
    let mut cells: Vec<CellWrite<'_, &str>> = tiers
        .cells()
        .map(|(cell, totals)| {
            let packed = histograms.get(&cell).unwrap_or(&no_histograms);
            CellWrite {
                granularity_s: cell.granularity.seconds(),
                bucket_start: cell.bucket_start,
                key: tiers.cell_key(cell).tier.as_str(),
                totals,
                latency_hist: &packed.total,
                first_token_hist: &packed.first_token,
            }
        })
        .collect();
    cells.sort_unstable_by_key(|c| (c.granularity_s, c.bucket_start, c.key));
    tx.add_tier_rollups(&cells).await
}

fn remember_series(cache: &SeriesCache, series: Vec<(SeriesKey, i64)>) {
    if series.is_empty() {
        return;
    }
    let mut known = cache
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    known.extend(series);
}
