//! Listing mode: each cycle finds the accounts and regions under the bucket's prefix, and for
//! each one lists the delivery objects after its checkpoint, reads the ones not read yet and
//! stores their records.
//!
//! Per account × region prefix (an `ingest_sources` row of kind `s3`):
//! - the checkpoint is the last key up to which every listed object is stored (keys sort by
//!   delivery time). It advances only over a contiguous run of read objects, in the same
//!   transaction as their records;
//! - each listing starts after the earlier of the checkpoint and the hour folder `s3_lookback`
//!   ago, because S3 delivery is batched and objects can land after later ones were listed;
//! - the ledger (`s3_objects`: key and ETag of every object read, written in the same
//!   transaction as its records) says which of the listed objects are done, so the lookback
//!   costs a listing, not a re-read; an object rewritten with a new ETag is read again and its
//!   records deduplicated by request id.
//!
//! An object that cannot be read (access denied, throttled past the retries) holds the
//! checkpoint before it, and the cycle reports it as failed; the objects after it are still
//! read and recorded, so only that object is retried. An object deleted between the listing
//! and the read is skipped.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_s3::Client;
use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::keys::{S3Uri, position_time};
use super::listing::{DeliveryPages, ListedObject, accounts_and_regions};
use super::object::{ObjectError, ObjectToRead};
use super::reads::ObjectReads;
use crate::config::{DaemonConfig, S3SourceConfig, SourceConfig};
use crate::ingest::{BatchWriter, ParsedBatch, PricingContext};
use crate::sources::profiles::ProfileResolver;
use crate::sources::{SourceError, read_checkpoint};
use crate::store::Store;

/// The `ingest_sources.kind` of S3 delivery prefixes.
pub const SOURCE_KIND: &str = "s3";

/// How long past the listing's reach ledger rows are kept: a day more than the furthest a
/// listing looks back (the lookback, or the time since the last reconcile listing).
const LEDGER_MARGIN: Duration = Duration::from_secs(24 * 3600);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct PrefixCheckpoint {
    /// Every delivery object listed up to this key is stored.
    last_key: String,
}

/// What one listing cycle did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListingCycle {
    /// Account × region prefixes listed.
    pub prefixes: usize,
    /// Delivery objects listed.
    pub listed: u64,
    /// Of those, already read before (in the ledger).
    pub already_read: u64,
    /// Objects read in this cycle.
    pub read: u64,
    /// Of those, objects below the checkpoint: delivered late, caught by the lookback.
    pub late: u64,
    /// Objects gone between the listing and the read.
    pub missing: u64,
    /// Listed keys that hold no records, by why (`body_object`, `permission_check`, …).
    pub skipped: BTreeMap<&'static str, u64>,
    /// Records read from the objects, and what became of them.
    pub records: u64,
    pub imported: u64,
    pub duplicates: u64,
    pub rejected: u64,
    /// Objects that could not be read (retried next cycle), with why.
    pub failures: Vec<String>,
    /// The delivery time the slowest prefix's checkpoint stands for.
    pub oldest_position: Option<DateTime<Utc>>,
    /// False when shutdown interrupted the cycle (what was read so far is stored).
    pub completed: bool,
}

/// Reads one source's S3 delivery by listing.
pub struct ListingPoller {
    source_name: String,
    config: S3SourceConfig,
    client: Client,
    store: Store,
    context: watch::Receiver<PricingContext>,
    /// The context of this cycle, with the profiles resolved so far.
    current: PricingContext,
    profiles: ProfileResolver,
    writer: BatchWriter,
    batch_size: usize,
    /// Where a prefix with no checkpoint starts: `backfill_from`, or `daemon.backfill` ago.
    backfill_from_ms: Option<i64>,
    backfill: Duration,
    /// Ledger rows older than this are forgotten.
    ledger_keep: Duration,
    source_ids: PrefixIds,
}

impl ListingPoller {
    /// `None` when the source has no `s3_uri`.
    pub fn new(
        source: &SourceConfig,
        daemon: &DaemonConfig,
        client: Client,
        profiles: ProfileResolver,
        store: Store,
        context: watch::Receiver<PricingContext>,
        batch_size: usize,
    ) -> Option<ListingPoller> {
        let config = source.s3.clone()?;
        let reach = config.lookback.max(config.reconcile_interval);
        let current = context.borrow().clone();
        Some(ListingPoller {
            source_name: source.name.clone(),
            client,
            current,
            profiles,
            writer: BatchWriter::new(store.clone(), SOURCE_KIND),
            store,
            context,
            batch_size,
            backfill_from_ms: source.backfill_from_ms,
            backfill: daemon.backfill,
            ledger_keep: reach + LEDGER_MARGIN,
            source_ids: PrefixIds::default(),
            config,
        })
    }

    /// Lists and reads every account and region up to now. Stops between objects when
    /// `stop` turns true.
    pub async fn poll(
        &mut self,
        now_ms: i64,
        stop: &watch::Receiver<bool>,
    ) -> Result<ListingCycle, SourceError> {
        self.current = self.profiles.extend(&self.context.borrow_and_update());
        let pairs = accounts_and_regions(
            &self.client,
            &self.config.uri,
            &self.config.accounts,
            &self.config.regions,
        )
        .await?;
        let mut cycle = ListingCycle {
            completed: true,
            ..ListingCycle::default()
        };
        for (account, region) in pairs {
            if *stop.borrow() {
                cycle.completed = false;
                break;
            }
            cycle.prefixes += 1;
            let prefix = Prefix::new(&self.source_name, &self.config.uri, &account, &region);
            if !self.poll_prefix(&prefix, now_ms, &mut cycle, stop).await? {
                cycle.completed = false;
                break;
            }
        }
        Ok(cycle)
    }

    /// Lists and reads one prefix; false when stopped.
    async fn poll_prefix(
        &mut self,
        prefix: &Prefix,
        now_ms: i64,
        cycle: &mut ListingCycle,
        stop: &watch::Receiver<bool>,
    ) -> Result<bool, SourceError> {
        let source_id = self.source_ids.id(&self.store, &prefix.source).await?;
        let checkpoint: Option<PrefixCheckpoint> =
            read_checkpoint(&self.store, SOURCE_KIND, &prefix.source, &self.source_name).await?;
        let start = self.start_after(prefix, checkpoint.as_ref(), now_ms);
        let ledger = self.store.read_objects(source_id, &start).await?;
        let mut progress = Progress {
            saved: checkpoint.map(|checkpoint| checkpoint.last_key),
            candidate: None,
            held: false,
        };
        let late_below = progress.saved.clone().unwrap_or_default();

        let uri = self.config.uri.clone();
        let client = self.client.clone();
        let mut pages = DeliveryPages::new(&client, &uri, &prefix.account, &prefix.region, &start);
        let mut stopped = false;
        while let Some(page) = pages.next_page().await? {
            for (why, count) in &page.skipped {
                *cycle.skipped.entry(why).or_default() += count;
            }
            cycle.listed += page.objects.len() as u64;
            let last_listed = page.objects.last().map(|object| object.key.clone());
            let (done, to_read): (Vec<ListedObject>, Vec<ListedObject>) =
                page.objects.into_iter().partition(|object| {
                    ledger
                        .get(&object.key)
                        .is_some_and(|etags| etags.contains(&object.etag))
                });
            cycle.already_read += done.len() as u64;
            cycle.late += to_read.iter().filter(|o| o.key < late_below).count() as u64;
            let objects = to_read.into_iter().map(|listed| ObjectToRead {
                bucket: uri.bucket.clone(),
                key: listed.key,
                etag: Some(listed.etag),
                source: Arc::clone(&prefix.source),
            });
            if !self
                .read_objects(prefix, objects, &mut progress, cycle, stop)
                .await?
            {
                stopped = true;
                break;
            }
            // Objects after the last one read were done before: the position passes them.
            if let Some(last) = last_listed {
                progress.reach(&last);
            }
            self.write(ParsedBatch::default(), prefix, &mut progress, cycle)
                .await?;
        }
        let position = progress.saved.as_deref().unwrap_or(&start);
        if let Some(time) = position_time(&uri, position) {
            cycle.oldest_position = Some(cycle.oldest_position.map_or(time, |t| t.min(time)));
        }
        let forget_before = now_ms - millis(self.ledger_keep);
        self.store.forget_objects(source_id, forget_before).await?;
        Ok(!stopped)
    }

    /// Where the listing starts: after the earlier of the checkpoint and the hour folder
    /// `s3_lookback` ago; without a checkpoint, at the backfill start's hour folder.
    fn start_after(
        &self,
        prefix: &Prefix,
        checkpoint: Option<&PrefixCheckpoint>,
        now_ms: i64,
    ) -> String {
        let folder = |ms: i64| {
            let time = Utc.timestamp_millis_opt(ms).single().unwrap_or_default();
            self.config
                .uri
                .start_after(&prefix.account, &prefix.region, time)
        };
        match checkpoint {
            Some(checkpoint) => {
                let lookback = folder(now_ms - millis(self.config.lookback));
                checkpoint.last_key.clone().min(lookback)
            }
            None => folder(
                self.backfill_from_ms
                    .unwrap_or(now_ms - millis(self.backfill)),
            ),
        }
    }

    /// Reads objects (in key order) and stores their records in batches; false when stopped.
    async fn read_objects(
        &mut self,
        prefix: &Prefix,
        objects: impl Iterator<Item = ObjectToRead>,
        progress: &mut Progress,
        cycle: &mut ListingCycle,
        stop: &watch::Receiver<bool>,
    ) -> Result<bool, SourceError> {
        let mut reads = ObjectReads::new(
            &self.client,
            &self.current,
            objects,
            self.config.concurrency,
        );
        let mut pending = ParsedBatch::default();
        while let Some((object, read)) = reads.next().await {
            match read {
                Ok(batch) => {
                    cycle.read += 1;
                    cycle.records += batch.len() as u64;
                    pending.append(batch);
                    progress.reach(&object.key);
                }
                Err(ObjectError::Missing { .. }) => {
                    cycle.missing += 1;
                    progress.reach(&object.key);
                }
                Err(error) => {
                    tracing::warn!(source = self.source_name, %error, "cannot read an S3 object; it is tried again next cycle");
                    cycle.failures.push(error.to_string());
                    progress.held = true;
                }
            }
            if pending.len() >= self.batch_size {
                self.write(std::mem::take(&mut pending), prefix, progress, cycle)
                    .await?;
            }
            if *stop.borrow() {
                self.write(pending, prefix, progress, cycle).await?;
                return Ok(false);
            }
        }
        self.write(pending, prefix, progress, cycle).await?;
        Ok(true)
    }

    /// Stores a batch with the prefix's checkpoint when it moved (even with no records).
    async fn write(
        &mut self,
        mut batch: ParsedBatch,
        prefix: &Prefix,
        progress: &mut Progress,
        cycle: &mut ListingCycle,
    ) -> Result<(), SourceError> {
        let moved = progress.take_move();
        if batch.is_empty() && batch.objects.is_empty() && moved.is_none() {
            return Ok(());
        }
        let now_ms = Utc::now().timestamp_millis();
        self.profiles
            .resolve_batch(&mut batch, &mut self.current, now_ms)
            .await;
        cycle.rejected += batch.rejected.len() as u64;
        let checkpoint = match &moved {
            Some(key) => Some((
                &prefix.source,
                serde_json::to_string(&PrefixCheckpoint {
                    last_key: key.clone(),
                })
                .map_err(|error| SourceError::Parser(error.to_string()))?,
            )),
            None => None,
        };
        let outcome = self.writer.write(batch, checkpoint).await?;
        cycle.imported += outcome.inserted;
        // Expired records (older than retention keeps) are already in the rollups, too.
        cycle.duplicates += outcome.duplicates + outcome.expired;
        if let Some(key) = moved {
            progress.saved = Some(key);
        }
        Ok(())
    }
}

/// One account × region delivery prefix of a source.
pub(crate) struct Prefix {
    pub account: String,
    pub region: String,
    /// Its name in `ingest_sources`: `{source}:s3://{bucket}/{delivery prefix}`.
    pub source: Arc<str>,
}

impl Prefix {
    pub(crate) fn new(source_name: &str, uri: &S3Uri, account: &str, region: &str) -> Prefix {
        Prefix {
            account: account.to_string(),
            region: region.to_string(),
            source: Arc::from(format!(
                "{source_name}:s3://{}/{}",
                uri.bucket,
                uri.delivery_prefix(account, region)
            )),
        }
    }
}

/// The `ingest_sources` ids of delivery prefixes, asked once each.
#[derive(Debug, Default)]
pub(crate) struct PrefixIds(HashMap<Arc<str>, i64>);

impl PrefixIds {
    pub(crate) async fn id(
        &mut self,
        store: &Store,
        source: &Arc<str>,
    ) -> Result<i64, SourceError> {
        if let Some(id) = self.0.get(source) {
            return Ok(*id);
        }
        let ids = store.source_ids(SOURCE_KIND, &[source]).await?;
        let id = ids.first().copied().ok_or_else(|| {
            SourceError::Parser(format!("no ingest source id was returned for {source}"))
        })?;
        self.0.insert(Arc::clone(source), id);
        Ok(id)
    }
}

/// How far a prefix's checkpoint may move.
struct Progress {
    /// The checkpoint stored.
    saved: Option<String>,
    /// The key it can move to with the next write.
    candidate: Option<String>,
    /// An object could not be read: the checkpoint stays before it for the rest of the cycle.
    held: bool,
}

impl Progress {
    /// Every listed object up to `key` is stored (or will be with the next write).
    fn reach(&mut self, key: &str) {
        if self.held {
            return;
        }
        let ahead = |other: &Option<String>| other.as_deref().is_none_or(|other| key > other);
        if ahead(&self.saved) && ahead(&self.candidate) {
            self.candidate = Some(key.to_string());
        }
    }

    /// The key to save with the next write, if the checkpoint moves.
    fn take_move(&mut self) -> Option<String> {
        self.candidate.take()
    }
}

/// The delivery time a prefix's stored checkpoint stands for (`tierwatch status`), from the
/// prefix's source name (`{source}:s3://{bucket}/{key prefix}`) and the checkpoint's JSON.
pub fn checkpoint_time(source: &str, position: &str) -> Option<DateTime<Utc>> {
    let checkpoint: PrefixCheckpoint = serde_json::from_str(position).ok()?;
    let (_, location) = source.split_once(":s3://")?;
    let (bucket, _) = location.split_once('/')?;
    // The key prefix up to `AWSLogs/` is what Bedrock was given.
    let given = checkpoint
        .last_key
        .find("AWSLogs/")
        .map(|at| &checkpoint.last_key[..at])?;
    let uri = S3Uri::parse(&format!("s3://{bucket}/{given}")).ok()?;
    position_time(&uri, &checkpoint.last_key)
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checkpoint_moves_forward_only_and_stops_at_a_failure() {
        let mut progress = Progress {
            saved: Some("k3".into()),
            candidate: None,
            held: false,
        };
        progress.reach("k2"); // a late object below the checkpoint
        assert_eq!(progress.take_move(), None);
        progress.reach("k4");
        progress.reach("k5");
        assert_eq!(progress.take_move(), Some("k5".into()));
        progress.held = true;
        progress.reach("k6");
        assert_eq!(progress.take_move(), None);
    }
}
