//! Ingestion: byte streams → records → invocations, priced and stored in batches.
//!
//! The pieces, in data-flow order:
//! - [`files`] finds log files and opens them (gzip or plain);
//! - [`reader`] splits a byte stream into record slices, streaming;
//! - [`record`] parses one slice into an [`Invocation`](crate::model::Invocation);
//! - [`BatchBuilder`] parses and prices records into a [`ParsedBatch`] (no I/O, no async);
//! - [`BatchWriter`] turns a parsed batch into a [`store::Batch`] and writes it in one
//!   transaction.
//!
//! Any source (files today, CloudWatch Logs later) feeds records through the same builder and
//! writer. [`import_paths`] wires them for files: parsing runs on a blocking thread while the
//! previous batch is being written, with at most two batches in flight, so memory stays flat
//! whatever the input size.

pub mod files;
pub mod reader;
pub mod record;

use std::collections::{BTreeMap, HashMap};
use std::fmt::{self, Display};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::model::Invocation;
use crate::pricing::{PriceTable, PricingOutcome, ResolvedPrice};
use crate::store::{
    self, BatchOutcome, Checkpoint, PriceRowRecord, QuarantinedRecord, RepriceDecision,
    RepriceOutcome, StandardCost, Store, StoreError, StoredInvocation, StoredPricing,
};
use files::{InputFile, SkipReason};
use reader::{Item, RecordReader};
use record::{ParseOptions, Rejection, parse_record};

/// Reason name for a file whose content could not be read to its end (a corrupt gzip stream):
/// the records before the damage are kept, the rest of that file is quarantined as one entry.
pub const UNREADABLE_FILE: &str = "unreadable_file";

/// Longest excerpt of a rejected record kept in quarantine.
const EXCERPT_BYTES: usize = 200;

/// A record parsed and priced, not yet stored.
#[derive(Debug, Clone)]
pub struct ParsedRecord {
    pub invocation: Invocation,
    pub pricing: PricingOutcome,
    /// The source's name (a file path, a log group), shared by its records.
    pub source: Arc<str>,
}

/// A record that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedRecord {
    pub source: Arc<str>,
    pub location: String,
    pub reason: &'static str,
    pub detail: String,
    pub excerpt: String,
}

/// A source object (an S3 delivery) whose every record is in the batch that carries it:
/// storing the batch records the object as read, in the same transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRead {
    /// The object's source (its delivery prefix).
    pub source: Arc<str>,
    pub key: String,
    pub etag: String,
    pub size: i64,
    pub records: u64,
}

/// The output of [`BatchBuilder`]: what one transaction will store.
#[derive(Debug, Default)]
pub struct ParsedBatch {
    pub records: Vec<ParsedRecord>,
    pub rejected: Vec<RejectedRecord>,
    /// Objects this batch completes.
    pub objects: Vec<ObjectRead>,
}

impl ParsedBatch {
    /// Moves another batch's records, rejections and objects into this one.
    pub fn append(&mut self, mut other: ParsedBatch) {
        self.records.append(&mut other.records);
        self.rejected.append(&mut other.rejected);
        self.objects.append(&mut other.objects);
    }

    pub fn len(&self) -> usize {
        self.records.len() + self.rejected.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Parses and prices records into batches. Pure CPU work: call it from a blocking thread.
/// What records are parsed and priced with. The daemon replaces it as a whole when a price
/// sync or a newly resolved inference profile changes it; pollers take the new one at their
/// next cycle.
#[derive(Debug, Clone)]
pub struct PricingContext {
    pub options: Arc<ParseOptions>,
    pub prices: Arc<PriceTable>,
}

pub struct BatchBuilder {
    options: Arc<ParseOptions>,
    prices: Arc<PriceTable>,
    batch: ParsedBatch,
}

impl BatchBuilder {
    pub fn new(options: Arc<ParseOptions>, prices: Arc<PriceTable>) -> BatchBuilder {
        BatchBuilder {
            options,
            prices,
            batch: ParsedBatch::default(),
        }
    }

    /// Parses and prices the next records with `context`.
    pub fn set_context(&mut self, context: &PricingContext) {
        self.options = Arc::clone(&context.options);
        self.prices = Arc::clone(&context.prices);
    }

    /// The parse options records are parsed with.
    pub fn options(&self) -> &ParseOptions {
        &self.options
    }

    /// Parses one record; a record that fails is kept as rejected, with why and where.
    pub fn add_record(&mut self, bytes: &[u8], source: &Arc<str>, location: &dyn Display) {
        match parse_record(bytes, &self.options) {
            Ok(invocation) => {
                let pricing = self.prices.price(&invocation);
                self.batch.records.push(ParsedRecord {
                    invocation,
                    pricing,
                    source: Arc::clone(source),
                });
            }
            Err(rejection) => self.add_rejected(source, location, &rejection, bytes),
        }
    }

    /// Keeps a record the reader or parser rejected.
    pub fn add_rejected(
        &mut self,
        source: &Arc<str>,
        location: &dyn Display,
        rejection: &Rejection,
        excerpt: &[u8],
    ) {
        self.push_rejected(
            source,
            location,
            rejection.reason.as_str(),
            &rejection.detail,
            excerpt,
        );
    }

    fn push_rejected(
        &mut self,
        source: &Arc<str>,
        location: &dyn Display,
        reason: &'static str,
        detail: &str,
        excerpt: &[u8],
    ) {
        let excerpt = &excerpt[..excerpt.len().min(EXCERPT_BYTES)];
        self.batch.rejected.push(RejectedRecord {
            source: Arc::clone(source),
            location: location.to_string(),
            reason,
            detail: detail.to_string(),
            excerpt: String::from_utf8_lossy(excerpt).into_owned(),
        });
    }

    pub fn len(&self) -> usize {
        self.batch.len()
    }

    pub fn is_empty(&self) -> bool {
        self.batch.is_empty()
    }

    /// Hands over the batch built so far and starts a new one, with room for as many records
    /// as it held, rejections included: batches are handed on at the same size, and a vector
    /// grown by doubling holds up to twice what it needs (a 5,000-record batch: room for
    /// 8,192 records of about 500 bytes).
    pub fn take(&mut self) -> ParsedBatch {
        let next = ParsedBatch {
            records: Vec::with_capacity(self.batch.len()),
            ..ParsedBatch::default()
        };
        std::mem::replace(&mut self.batch, next)
    }
}

/// Writes parsed batches: resolves source and price-row ids (cached), then stores the batch,
/// its quarantine and an optional checkpoint in one transaction.
pub struct BatchWriter {
    store: Store,
    source_kind: &'static str,
    source_ids: HashMap<Arc<str>, i64>,
    /// Price rows by the address of their `Arc`: prices are materialized once per table, so
    /// the address identifies the row; the `Arc` kept here stops the address being reused.
    price_ids: HashMap<usize, (Arc<ResolvedPrice>, i64)>,
}

impl BatchWriter {
    /// `source_kind` names the kind of source in the `ingest_sources` table ("file", ...).
    pub fn new(store: Store, source_kind: &'static str) -> BatchWriter {
        BatchWriter {
            store,
            source_kind,
            source_ids: HashMap::new(),
            price_ids: HashMap::new(),
        }
    }

    /// Stores a batch; `checkpoint` is (source name, position) to save in the same transaction.
    pub async fn write(
        &mut self,
        batch: ParsedBatch,
        checkpoint: Option<(&Arc<str>, String)>,
    ) -> Result<BatchOutcome, StoreError> {
        let sources = batch
            .records
            .iter()
            .map(|record| &record.source)
            .chain(batch.rejected.iter().map(|rejected| &rejected.source))
            .chain(batch.objects.iter().map(|object| &object.source))
            .chain(checkpoint.as_ref().map(|(source, _)| *source));
        self.register_sources(sources).await?;
        let mut invocations = Vec::with_capacity(batch.records.len());
        for record in batch.records {
            let source_id = self.source_id(&record.source).await?;
            let pricing = self.stored_pricing(&record.pricing).await?;
            invocations.push(StoredInvocation {
                invocation: record.invocation,
                pricing,
                source_id,
            });
        }
        let mut quarantined = Vec::with_capacity(batch.rejected.len());
        for rejected in batch.rejected {
            quarantined.push(QuarantinedRecord {
                source_id: self.source_id(&rejected.source).await?,
                location: rejected.location,
                reason: rejected.reason.to_string(),
                detail: rejected.detail,
                excerpt: rejected.excerpt,
            });
        }
        let mut objects = Vec::with_capacity(batch.objects.len());
        for object in batch.objects {
            objects.push(store::ObjectRecord {
                source_id: self.source_id(&object.source).await?,
                key: object.key,
                etag: object.etag,
                size: object.size,
                records: i64::try_from(object.records).unwrap_or(i64::MAX),
            });
        }
        let checkpoint = match checkpoint {
            Some((source, position)) => Some(Checkpoint {
                source_id: self.source_id(source).await?,
                position,
            }),
            None => None,
        };
        let batch = store::Batch {
            invocations,
            quarantined,
            objects,
            checkpoint,
        };
        self.store.write_batch(&batch).await
    }

    /// Registers the sources not seen before, all in one round trip.
    async fn register_sources<'a>(
        &mut self,
        sources: impl Iterator<Item = &'a Arc<str>>,
    ) -> Result<(), StoreError> {
        let mut seen = std::collections::HashSet::new();
        let new: Vec<&Arc<str>> = sources
            .filter(|source| !self.source_ids.contains_key(*source) && seen.insert(*source))
            .collect();
        let names: Vec<&str> = new.iter().map(|source| source.as_ref()).collect();
        let ids = self.store.source_ids(self.source_kind, &names).await?;
        for (source, id) in new.into_iter().zip(ids) {
            self.source_ids.insert(Arc::clone(source), id);
        }
        Ok(())
    }

    /// The id of a source registered by [`BatchWriter::register_sources`].
    async fn source_id(&mut self, source: &Arc<str>) -> Result<i64, StoreError> {
        match self.source_ids.get(source) {
            Some(id) => Ok(*id),
            None => {
                self.register_sources(std::iter::once(source)).await?;
                self.source_ids
                    .get(source)
                    .copied()
                    .ok_or_else(|| StoreError::Inconsistent(format!("source {source:?} has no id")))
            }
        }
    }

    async fn price_id(&mut self, price: &Arc<ResolvedPrice>) -> Result<i64, StoreError> {
        let key = Arc::as_ptr(price) as usize;
        if let Some((_, id)) = self.price_ids.get(&key) {
            return Ok(*id);
        }
        let id = self.store.register_price(&price_row_record(price)).await?;
        self.price_ids.insert(key, (Arc::clone(price), id));
        Ok(id)
    }

    async fn stored_pricing(
        &mut self,
        pricing: &PricingOutcome,
    ) -> Result<StoredPricing, StoreError> {
        Ok(match pricing {
            PricingOutcome::Priced(priced) => {
                let standard = match &priced.standard_equivalent {
                    Some(standard) => Some(StandardCost {
                        price_id: self.price_id(&standard.price).await?,
                        cost: standard.cost,
                    }),
                    None => None,
                };
                StoredPricing::Priced {
                    price_id: self.price_id(&priced.price).await?,
                    cost: priced.cost,
                    standard,
                }
            }
            PricingOutcome::NotBilled => StoredPricing::NotBilled,
            PricingOutcome::Unpriced { reason } => StoredPricing::Unpriced {
                reason: reason.clone(),
            },
        })
    }
}

/// The provenance row of a price, as the store records it.
pub fn price_row_record(price: &ResolvedPrice) -> PriceRowRecord {
    PriceRowRecord {
        fingerprint: price.fingerprint(),
        region: price.region.clone(),
        model_id: price.model_id.clone(),
        tier: price.tier.as_str().to_string(),
        routing: price.routing.as_str().to_string(),
        effective_from: price.effective_from.format("%Y-%m-%d").to_string(),
        input_rate: price.rates.input,
        output_rate: price.rates.output,
        cache_read_rate: price.rates.cache_read,
        cache_write_rate: price.rates.cache_write,
        derivation: price.derivation.clone(),
        source: price.source.clone(),
    }
}

/// Recomputes the stored costs of the whole UTC days in `[start_ms, end_ms)` with the
/// context's prices and updates their rollups (see [`Store::reprice`]; with `rebuild`, the
/// rollups are rebuilt from the rows, see [`Store::reprice_and_rebuild`]). Calls whose model
/// was not resolved when they were stored (an application inference profile resolved since)
/// are resolved again with the context's options, and counted under their model from now on.
pub async fn reprice(
    store: &Store,
    context: &PricingContext,
    (start_ms, end_ms): (i64, i64),
    rebuild: bool,
) -> Result<RepriceOutcome, StoreError> {
    let prices = &context.prices;
    // One provenance record per distinct price, however many invocations it prices.
    let mut records = HashMap::<usize, Arc<PriceRowRecord>>::new();
    let mut record_of = |price: &Arc<ResolvedPrice>| {
        records
            .entry(Arc::as_ptr(price) as usize)
            .or_insert_with(|| Arc::new(price_row_record(price)))
            .clone()
    };
    let decide = |invocation: &mut Invocation| {
        if !invocation.model.resolved {
            invocation.model = record::normalize_model(&invocation.model.called, &context.options);
        }
        match prices.price(invocation) {
            PricingOutcome::Priced(priced) => RepriceDecision::Priced {
                price: record_of(&priced.price),
                cost: priced.cost,
                standard: priced
                    .standard_equivalent
                    .map(|standard| (record_of(&standard.price), standard.cost)),
            },
            PricingOutcome::NotBilled => RepriceDecision::NotBilled,
            PricingOutcome::Unpriced { reason } => RepriceDecision::Unpriced { reason },
        }
    };
    if rebuild {
        store.reprice_and_rebuild(start_ms, end_ms, decide).await
    } else {
        store.reprice(start_ms, end_ms, decide).await
    }
}

/// Errors that stop an import.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(transparent)]
    Discover(#[from] files::DiscoverError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the file reader stopped unexpectedly: {0}")]
    Reader(String),
}

/// What an import did.
#[derive(Debug, Clone, Default)]
pub struct ImportSummary {
    pub files: usize,
    /// Files left out, with why (body objects apart).
    pub skipped: Vec<(PathBuf, SkipReason)>,
    /// Body and media objects Bedrock offloaded next to the logs, left out.
    pub body_objects: usize,
    pub records_read: u64,
    pub imported: u64,
    pub duplicates: u64,
    /// Records older than the retention horizon, skipped (their rollups already count them).
    pub expired: u64,
    /// Rejected records by reason.
    pub rejected: BTreeMap<&'static str, u64>,
    /// The first rejected records, for the summary; all of them are in quarantine.
    pub rejected_examples: Vec<RejectedRecord>,
    /// Newly imported invocations that are unpriced.
    pub unpriced_imported: u64,
    /// Unpriced records read, by cause (whether new or already stored).
    pub unpriced_causes: BTreeMap<String, u64>,
    /// Files that could not be read (the run failed for them).
    pub file_errors: Vec<(PathBuf, String)>,
    /// Bytes read from disk (compressed size for gzip files).
    pub bytes_read: u64,
    pub elapsed: Duration,
}

/// How many rejected records the summary shows.
const REJECTED_EXAMPLES: usize = 10;

impl ImportSummary {
    /// True when some file could not be read: the command then exits non-zero.
    pub fn failed(&self) -> bool {
        !self.file_errors.is_empty()
    }

    pub fn rejected_total(&self) -> u64 {
        self.rejected.values().sum()
    }

    /// Counts what a batch holds (before it is handed to the writer).
    fn tally_parsed(&mut self, batch: &ParsedBatch) {
        self.records_read += batch.len() as u64;
        for rejected in &batch.rejected {
            *self.rejected.entry(rejected.reason).or_default() += 1;
            if self.rejected_examples.len() < REJECTED_EXAMPLES {
                self.rejected_examples.push(rejected.clone());
            }
        }
        for record in &batch.records {
            if let PricingOutcome::Unpriced { reason } = &record.pricing {
                *self.unpriced_causes.entry(reason.clone()).or_default() += 1;
            }
        }
    }

    /// Counts what the store did with a batch.
    fn tally_written(&mut self, outcome: &BatchOutcome) {
        self.imported += outcome.inserted;
        self.duplicates += outcome.duplicates;
        self.expired += outcome.expired;
        self.unpriced_imported += outcome.inserted_unpriced;
    }
}

impl Display for ImportSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let seconds = self.elapsed.as_secs_f64().max(1e-9);
        writeln!(
            f,
            "Read {} records from {} files ({:.1} MB) in {:.2} s: {:.0} records/s, {:.1} MB/s",
            self.records_read,
            self.files,
            self.bytes_read as f64 / 1e6,
            seconds,
            self.records_read as f64 / seconds,
            self.bytes_read as f64 / 1e6 / seconds,
        )?;
        writeln!(f, "  imported     {:>10}", self.imported)?;
        writeln!(
            f,
            "  duplicates   {:>10}  (already stored; counted once)",
            self.duplicates
        )?;
        if self.expired > 0 {
            writeln!(
                f,
                "  expired      {:>10}  (older than retention.raw_invocations keeps; already in the rollups)",
                self.expired
            )?;
        }
        let reasons: Vec<String> = self
            .rejected
            .iter()
            .map(|(reason, count)| format!("{reason} {count}"))
            .collect();
        write!(f, "  rejected     {:>10}", self.rejected_total())?;
        if reasons.is_empty() {
            writeln!(f)?;
        } else {
            writeln!(f, "  ({})", reasons.join(", "))?;
        }
        writeln!(
            f,
            "  unpriced     {:>10}  (of the imported; never counted as $0)",
            self.unpriced_imported
        )?;
        if !self.unpriced_causes.is_empty() {
            writeln!(f, "Unpriced records by cause:")?;
            for (cause, count) in &self.unpriced_causes {
                writeln!(f, "  {count:>8}  {cause}")?;
            }
        }
        if !self.rejected_examples.is_empty() {
            writeln!(
                f,
                "Rejected records (first {}; all are in quarantine):",
                self.rejected_examples.len()
            )?;
            for rejected in &self.rejected_examples {
                writeln!(
                    f,
                    "  {}: {}: {}: {}",
                    rejected.source, rejected.location, rejected.reason, rejected.detail
                )?;
            }
        }
        if self.body_objects > 0 {
            writeln!(
                f,
                "Skipped {} Bedrock body objects (data/ prefix; not log records)",
                self.body_objects
            )?;
        }
        for (path, reason) in &self.skipped {
            writeln!(f, "Skipped {}: {reason}", path.display())?;
        }
        for (path, error) in &self.file_errors {
            writeln!(f, "ERROR: could not read {}: {error}", path.display())?;
        }
        Ok(())
    }
}

/// Settings for [`import_paths`].
pub struct ImportSettings {
    pub options: Arc<ParseOptions>,
    pub prices: Arc<PriceTable>,
    pub batch_size: usize,
    /// Draw a progress bar on stderr (only shown when stderr is a terminal).
    pub progress: bool,
}

/// A message from the reading thread to the writer.
enum Produced {
    Batch(ParsedBatch),
    FileError(PathBuf, String),
}

/// Imports files and directories: streaming, idempotent, never stopped by bad records.
pub async fn import_paths(
    store: &Store,
    paths: &[PathBuf],
    settings: ImportSettings,
) -> Result<ImportSummary, ImportError> {
    let started = Instant::now();
    let discovery = files::discover(paths)?;
    let total_bytes: u64 = discovery.files.iter().map(|file| file.size).sum();
    let mut summary = ImportSummary {
        files: discovery.files.len(),
        skipped: discovery.skipped,
        body_objects: discovery.body_objects,
        ..ImportSummary::default()
    };
    let bytes_read = Arc::new(AtomicU64::new(0));
    let progress = progress_bar(settings.progress, total_bytes);

    // One parsed batch waits while the writers store theirs: the reader parses a batch in a
    // fraction of the time a write takes, so more waiting batches would only hold memory.
    let (sender, mut receiver) = mpsc::channel(1);
    let reading = {
        let bytes_read = Arc::clone(&bytes_read);
        let builder = BatchBuilder::new(settings.options, settings.prices);
        let batch_size = settings.batch_size;
        tokio::task::spawn_blocking(move || {
            read_files(discovery.files, builder, batch_size, &bytes_read, &sender)
        })
    };

    let writing = write_all(store, &mut receiver, &mut summary, || {
        progress.set_position(bytes_read.load(Ordering::Relaxed));
    })
    .await;
    if let Err(error) = writing {
        // Stop the reader before returning: dropping the receiver ends it.
        drop(receiver);
        let _ = reading.await;
        return Err(error);
    }
    reading
        .await
        .map_err(|error| ImportError::Reader(error.to_string()))?;
    progress.finish_and_clear();
    summary.bytes_read = bytes_read.load(Ordering::Relaxed);
    summary.elapsed = started.elapsed();
    Ok(summary)
}

/// Writes every batch the reader sends, with as many batches in flight as the store can take
/// at once. Returns the first error, after letting batches already being written finish.
async fn write_all(
    store: &Store,
    receiver: &mut mpsc::Receiver<Produced>,
    summary: &mut ImportSummary,
    mut on_progress: impl FnMut(),
) -> Result<(), ImportError> {
    let mut idle: Vec<BatchWriter> = (0..store.concurrent_writers())
        .map(|_| BatchWriter::new(store.clone(), "file"))
        .collect();
    let mut running: tokio::task::JoinSet<Written> = tokio::task::JoinSet::new();
    let mut first_error = None;
    loop {
        while idle.is_empty() {
            match running.join_next().await {
                Some(written) => finish(written, &mut idle, summary, &mut first_error),
                None => break,
            }
        }
        if first_error.is_some() {
            break;
        }
        let Some(message) = receiver.recv().await else {
            break;
        };
        match message {
            Produced::Batch(batch) => {
                summary.tally_parsed(&batch);
                let Some(mut writer) = idle.pop() else {
                    break;
                };
                running.spawn(async move {
                    let started = Instant::now();
                    let result = writer.write(batch, None).await;
                    (writer, result, started.elapsed())
                });
            }
            Produced::FileError(path, error) => summary.file_errors.push((path, error)),
        }
        on_progress();
    }
    while let Some(written) = running.join_next().await {
        finish(written, &mut idle, summary, &mut first_error);
    }
    match first_error {
        Some(error) => Err(error),
        None => Ok(()),
    }
}

/// A writer task's result: the writer (to reuse), what it stored, how long it took.
type Written = (BatchWriter, Result<BatchOutcome, StoreError>, Duration);

/// Takes back a finished writer and counts what it stored (or keeps its error).
fn finish(
    written: Result<Written, tokio::task::JoinError>,
    idle: &mut Vec<BatchWriter>,
    summary: &mut ImportSummary,
    first_error: &mut Option<ImportError>,
) {
    match written {
        Ok((writer, result, took)) => {
            idle.push(writer);
            tracing::debug!(wrote_ms = took.as_millis(), "batch stored");
            match result {
                Ok(outcome) => summary.tally_written(&outcome),
                Err(error) => {
                    first_error.get_or_insert(ImportError::Store(error));
                }
            }
        }
        Err(error) => {
            first_error.get_or_insert(ImportError::Reader(format!(
                "a writer task failed: {error}"
            )));
        }
    }
}

fn progress_bar(enabled: bool, total_bytes: u64) -> indicatif::ProgressBar {
    if !enabled {
        return indicatif::ProgressBar::hidden();
    }
    // Drawn on stderr only when it is a terminal; hidden in pipes and CI logs.
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(total_bytes),
        indicatif::ProgressDrawTarget::stderr(),
    );
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{bar:40} {bytes}/{total_bytes} ({bytes_per_sec}, eta {eta})",
    ) {
        bar.set_style(style);
    }
    bar
}

/// Reads every file into batches and sends them on. Runs on a blocking thread. Stops early
/// only when the writer has gone away (it failed).
fn read_files(
    files: Vec<InputFile>,
    mut builder: BatchBuilder,
    batch_size: usize,
    bytes_read: &Arc<AtomicU64>,
    sender: &mpsc::Sender<Produced>,
) {
    for file in files {
        let source: Arc<str> = Arc::from(file.path.display().to_string());
        let result = read_file(&file, &source, &mut builder, batch_size, bytes_read, sender);
        match result {
            Ok(true) => {}
            Ok(false) => return,
            Err(error) => {
                if sender
                    .blocking_send(Produced::FileError(file.path.clone(), error.to_string()))
                    .is_err()
                {
                    return;
                }
            }
        }
    }
    if !builder.is_empty() {
        let _ = sender.blocking_send(Produced::Batch(builder.take()));
    }
}

/// Reads one file. `Ok(false)` means the writer has gone away. Content damage (a corrupt gzip
/// stream) is quarantined, not returned: only errors reading the file itself are.
fn read_file(
    file: &InputFile,
    source: &Arc<str>,
    builder: &mut BatchBuilder,
    batch_size: usize,
    bytes_read: &Arc<AtomicU64>,
    sender: &mpsc::Sender<Produced>,
) -> std::io::Result<bool> {
    let input = files::open(&file.path, Some(Arc::clone(bytes_read)))?;
    read_stream(input, source, "", builder, |builder| {
        builder.len() < batch_size
            || sender
                .blocking_send(Produced::Batch(builder.take()))
                .is_ok()
    })
}

/// Reads every record of a decoded stream into `builder`, locating each as `{object} line N`
/// (just `line N` when `object` is empty). After each record `keep_going` may hand the batch
/// on; when it returns false, reading stops and `Ok(false)` is returned. Content damage (a
/// corrupt gzip stream) is quarantined as [`UNREADABLE_FILE`] and ends the stream: the
/// records before it are kept. Only errors reading the stream itself are returned.
pub fn read_stream(
    input: impl std::io::Read,
    source: &Arc<str>,
    object: &str,
    builder: &mut BatchBuilder,
    mut keep_going: impl FnMut(&mut BatchBuilder) -> bool,
) -> std::io::Result<bool> {
    let mut reader = RecordReader::new(input);
    let mut last_location = None;
    loop {
        match reader.next_item() {
            Ok(Some(Item::Record { bytes, location })) => {
                last_location = Some(location);
                builder.add_record(bytes, source, &Located { object, location });
            }
            Ok(Some(Item::Rejected {
                excerpt,
                location,
                rejection,
            })) => {
                last_location = Some(location);
                builder.add_rejected(source, &Located { object, location }, &rejection, excerpt);
            }
            Ok(None) => return Ok(true),
            Err(error) if is_content_damage(&error) => {
                let location = match last_location {
                    Some(location) => format!("after {}", Located { object, location }),
                    None if object.is_empty() => "start of file".to_string(),
                    None => format!("{object} start of file"),
                };
                let detail = format!("the file cannot be read past this point: {error}");
                builder.push_rejected(source, &location, UNREADABLE_FILE, &detail, b"");
                return Ok(true);
            }
            Err(error) => return Err(error),
        }
        if !keep_going(builder) {
            return Ok(false);
        }
    }
}

/// Where a record is: its line, after the object (an S3 key) it is in, if any.
struct Located<'a> {
    object: &'a str,
    location: reader::Location,
}

impl Display for Located<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.object.is_empty() {
            write!(f, "{}", self.location)
        } else {
            write!(f, "{} {}", self.object, self.location)
        }
    }
}

/// Errors that mean the bytes are damaged (bad gzip data, cut-off stream) rather than that the
/// file could not be read.
fn is_content_damage(error: &std::io::Error) -> bool {
    use std::io::ErrorKind;
    matches!(
        error.kind(),
        ErrorKind::InvalidData | ErrorKind::InvalidInput | ErrorKind::UnexpectedEof
    )
}
