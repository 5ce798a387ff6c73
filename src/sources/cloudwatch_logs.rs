//! Invocation logs from CloudWatch Logs, read with FilterLogEvents.
//!
//! The checkpoint is a watermark W: every event with a timestamp before W is stored. A cycle
//! reads `[W − lookback, now)` (a first cycle reads from the backfill start), split into
//! windows of at most `daemon.window` of log time. Each window is paged through to its end;
//! its last batch carries the new watermark, `max(W, window end)`, in the same transaction as
//! the data. So a crash re-reads at most one window, and re-reading stores nothing twice
//! (invocations are unique on their request id, quarantined events on their event id).
//!
//! The lookback re-reads the recent past every cycle because CloudWatch Logs accepts events
//! with old timestamps for a while after they happened; duplicates it brings are dropped.
//!
//! Calls made through an application inference profile name only the profile's ARN. The
//! first time a page holds one that is not mapped yet, the poller asks Bedrock
//! (GetInferenceProfile) which model it routes to, stores the answer, and parses the page
//! with it, so such calls are priced under their model from the start. A profile that cannot
//! be resolved is asked about again a day later; its calls stay unpriced, with the reason.

use std::sync::Arc;

use aws_sdk_cloudwatchlogs::Client;
use aws_sdk_cloudwatchlogs::types::FilteredLogEvent;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::{CallCounter, SourceError, read_checkpoint};
use crate::config::{DaemonConfig, SourceConfig};
use crate::ingest::record::{ParseOptions, RejectReason, Rejection};
use crate::ingest::{BatchBuilder, BatchWriter, PricingContext};
use crate::prices::{ProfileRefresh, stored_profile};
use crate::store::Store;

/// How long an application inference profile that could not be resolved waits before it
/// is asked about again.
const PROFILE_RETRY_MS: i64 = 86_400_000;

/// The `ingest_sources.kind` of log groups.
pub const SOURCE_KIND: &str = "cloudwatch_logs";

/// Events per FilterLogEvents page (the API's maximum).
const PAGE_LIMIT: i32 = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct LogsCheckpoint {
    /// Every event with an earlier timestamp (Unix ms) is stored.
    watermark_ms: i64,
}

/// What one cycle did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogsCycle {
    /// Log events read (including re-read ones inside the lookback).
    pub events: u64,
    /// Invocations stored for the first time.
    pub imported: u64,
    /// Events already stored (mostly the lookback's re-reads).
    pub duplicates: u64,
    /// Events that were not valid invocation records (quarantined).
    pub rejected: u64,
    /// The watermark after the cycle.
    pub watermark_ms: i64,
    /// False when shutdown interrupted the cycle (what was read so far is stored).
    pub completed: bool,
}

/// Reads one source's log group.
pub struct LogsPoller {
    /// The source's name in `ingest_sources` (and so of its checkpoint).
    ingest_name: Arc<str>,
    source_name: String,
    log_group: String,
    client: Client,
    lookback_ms: i64,
    window_ms: i64,
    first_start: FirstStart,
    batch_size: usize,
    builder: Option<BatchBuilder>,
    writer: BatchWriter,
    store: Store,
    /// The prices and parse options in effect (replaced after a price sync).
    context: watch::Receiver<PricingContext>,
    /// Resolves application inference profiles seen in the logs.
    bedrock: aws_sdk_bedrock::Client,
    /// Profiles this poller resolved (ARN → what it is priced as), kept over context updates.
    resolved_profiles: std::collections::HashMap<String, String>,
    /// Profiles asked about without an answer, with when.
    profile_attempts: std::collections::HashMap<String, i64>,
}

/// Where a source with no checkpoint starts reading.
#[derive(Debug, Clone, Copy)]
enum FirstStart {
    At(i64),
    Ago(i64),
}

impl LogsPoller {
    /// `None` when the source has no log group.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        source: &SourceConfig,
        daemon: &DaemonConfig,
        sdk: &aws_config::SdkConfig,
        calls: &CallCounter,
        store: Store,
        context: watch::Receiver<PricingContext>,
        batch_size: usize,
    ) -> Option<LogsPoller> {
        let log_group = source.log_group.clone()?;
        let config = aws_sdk_cloudwatchlogs::config::Builder::from(sdk)
            .interceptor(calls.clone())
            .build();
        let bedrock = aws_sdk_bedrock::config::Builder::from(sdk)
            .interceptor(calls.clone())
            .build();
        let current = context.borrow().clone();
        let first_start = match source.backfill_from_ms {
            Some(at) => FirstStart::At(at),
            None => FirstStart::Ago(millis(daemon.backfill)),
        };
        Some(LogsPoller {
            ingest_name: Arc::from(format!("{}:{log_group}", source.name)),
            source_name: source.name.clone(),
            log_group,
            client: Client::from_conf(config),
            lookback_ms: millis(daemon.lookback),
            window_ms: millis(daemon.window).max(1_000),
            first_start,
            batch_size,
            builder: Some(BatchBuilder::new(current.options, current.prices)),
            writer: BatchWriter::new(store.clone(), SOURCE_KIND),
            store,
            context,
            bedrock: aws_sdk_bedrock::Client::from_conf(bedrock),
            resolved_profiles: std::collections::HashMap::new(),
            profile_attempts: std::collections::HashMap::new(),
        })
    }

    /// Parses from now on with the latest context, plus the profiles resolved here.
    fn use_latest_context(&mut self) {
        let mut context = self.context.borrow_and_update().clone();
        if !self.resolved_profiles.is_empty() {
            let mut options = ParseOptions::clone(&context.options);
            for (arn, target) in &self.resolved_profiles {
                options
                    .application_profiles
                    .entry(arn.clone())
                    .or_insert_with(|| target.clone());
            }
            context.options = Arc::new(options);
        }
        if let Some(builder) = self.builder.as_mut() {
            builder.set_context(&context);
        }
    }

    /// Resolves the application inference profiles of `events` that are not mapped yet.
    async fn resolve_profiles(&mut self, events: &[FilteredLogEvent], now_ms: i64) {
        let unknown: std::collections::BTreeSet<String> = {
            let Some(builder) = self.builder.as_ref() else {
                return;
            };
            let known = &builder.options().application_profiles;
            events
                .iter()
                .filter_map(|event| event.message.as_deref())
                .flat_map(application_profile_arns)
                .filter(|arn| !known.contains_key(*arn))
                .filter(|arn| {
                    self.profile_attempts
                        .get(*arn)
                        .is_none_or(|at| now_ms - at >= PROFILE_RETRY_MS)
                })
                .map(str::to_string)
                .collect()
        };
        if unknown.is_empty() {
            return;
        }
        let mut refresh = ProfileRefresh::default();
        let mut stored = Vec::new();
        for arn in unknown {
            self.profile_attempts.insert(arn.clone(), now_ms);
            match super::bedrock::inference_profile(&self.bedrock, &arn).await {
                Ok(Some(models)) => {
                    let profile = stored_profile(&arn, &models, &mut refresh);
                    if let Some(target) = &profile.model_id {
                        self.resolved_profiles.insert(arn.clone(), target.clone());
                    }
                    stored.push(profile);
                }
                Ok(None) => tracing::warn!(
                    source = self.source_name,
                    arn,
                    "Bedrock does not know this application inference profile; its calls stay unpriced"
                ),
                Err(error) => tracing::warn!(
                    source = self.source_name,
                    arn,
                    %error,
                    "cannot resolve an application inference profile; its calls stay unpriced for now"
                ),
            }
        }
        if let Err(error) = self.store.save_inference_profiles(&stored).await {
            tracing::warn!(source = self.source_name, %error, "cannot store resolved profiles");
        }
        if refresh.resolved > 0 {
            tracing::info!(
                source = self.source_name,
                resolved = refresh.resolved,
                "application inference profiles resolved"
            );
            self.use_latest_context();
        }
    }

    /// Reads everything new up to `now_ms`. Stops between pages when `stop` turns true.
    pub async fn poll(
        &mut self,
        now_ms: i64,
        stop: &watch::Receiver<bool>,
    ) -> Result<LogsCycle, SourceError> {
        self.use_latest_context();
        let watermark = self.watermark().await?;
        let start = match (watermark, self.first_start) {
            (Some(watermark), _) => watermark - self.lookback_ms,
            (None, FirstStart::At(at)) => at,
            (None, FirstStart::Ago(span)) => now_ms - span,
        };
        let mut cycle = LogsCycle {
            watermark_ms: watermark.unwrap_or(start),
            completed: true,
            ..LogsCycle::default()
        };
        let mut window_start = start;
        while window_start < now_ms {
            let window_end = (window_start + self.window_ms).min(now_ms);
            if !self
                .read_window(window_start, window_end, &mut cycle, stop)
                .await?
            {
                cycle.completed = false;
                break;
            }
            window_start = window_end;
        }
        Ok(cycle)
    }

    async fn watermark(&self) -> Result<Option<i64>, SourceError> {
        let checkpoint: Option<LogsCheckpoint> = read_checkpoint(
            &self.store,
            SOURCE_KIND,
            &self.ingest_name,
            &self.source_name,
        )
        .await?;
        Ok(checkpoint.map(|checkpoint| checkpoint.watermark_ms))
    }

    /// Reads `[start, end)` to its last page; false if stopped before the end.
    async fn read_window(
        &mut self,
        start: i64,
        end: i64,
        cycle: &mut LogsCycle,
        stop: &watch::Receiver<bool>,
    ) -> Result<bool, SourceError> {
        let mut token: Option<String> = None;
        loop {
            if *stop.borrow() {
                // Stored pages stay stored; without a checkpoint the window is read again.
                self.flush(None, cycle).await?;
                return Ok(false);
            }
            let page = self
                .client
                .filter_log_events()
                .log_group_name(&self.log_group)
                .start_time(start)
                // FilterLogEvents' end time is inclusive; windows are half-open.
                .end_time(end - 1)
                .limit(PAGE_LIMIT)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|error| SourceError::aws("FilterLogEvents", error))?;
            let events = page.events.unwrap_or_default();
            cycle.events += events.len() as u64;
            self.resolve_profiles(&events, end).await;
            self.parse(events).await?;
            if self.buffered() >= self.batch_size {
                self.flush(None, cycle).await?;
            }
            match page.next_token {
                Some(next) if !next.is_empty() => token = Some(next),
                _ => break,
            }
        }
        let watermark = cycle.watermark_ms.max(end);
        let position = serde_json::to_string(&LogsCheckpoint {
            watermark_ms: watermark,
        })
        .map_err(|error| SourceError::Parser(error.to_string()))?;
        self.flush(Some(position), cycle).await?;
        cycle.watermark_ms = watermark;
        Ok(true)
    }

    fn buffered(&self) -> usize {
        self.builder.as_ref().map_or(0, BatchBuilder::len)
    }

    /// Parses a page on a blocking thread (it is CPU work) and keeps the builder.
    async fn parse(&mut self, events: Vec<FilteredLogEvent>) -> Result<(), SourceError> {
        let Some(mut builder) = self.builder.take() else {
            return Err(SourceError::Parser("the batch builder was lost".into()));
        };
        let source = Arc::clone(&self.ingest_name);
        let builder = tokio::task::spawn_blocking(move || {
            for event in events {
                add_event(&mut builder, &source, event);
            }
            builder
        })
        .await
        .map_err(|error| SourceError::Parser(error.to_string()))?;
        self.builder = Some(builder);
        Ok(())
    }

    /// Writes what is buffered, with the checkpoint if given (even when nothing is buffered).
    async fn flush(
        &mut self,
        checkpoint: Option<String>,
        cycle: &mut LogsCycle,
    ) -> Result<(), SourceError> {
        let batch = match self.builder.as_mut() {
            Some(builder) => builder.take(),
            None => return Err(SourceError::Parser("the batch builder was lost".into())),
        };
        if batch.is_empty() && checkpoint.is_none() {
            return Ok(());
        }
        cycle.rejected += batch.rejected.len() as u64;
        let source = Arc::clone(&self.ingest_name);
        let outcome = self
            .writer
            .write(batch, checkpoint.map(|position| (&source, position)))
            .await?;
        cycle.imported += outcome.inserted;
        cycle.duplicates += outcome.duplicates;
        Ok(())
    }
}

/// One log event → one record (its message), located by the event id.
fn add_event(builder: &mut BatchBuilder, source: &Arc<str>, event: FilteredLogEvent) {
    let location = match &event.event_id {
        Some(id) => format!("event {id}"),
        None => format!(
            "event at {} in stream {}",
            event.timestamp.unwrap_or_default(),
            event.log_stream_name.as_deref().unwrap_or("?")
        ),
    };
    match event.message {
        Some(message) => builder.add_record(message.as_bytes(), source, &location),
        None => builder.add_rejected(
            source,
            &location,
            &Rejection {
                reason: RejectReason::InvalidJson,
                detail: "log event has no message".into(),
            },
            b"",
        ),
    }
}

/// The application-inference-profile ARNs a raw record names (in any field: the parser
/// decides which one is the model).
fn application_profile_arns(message: &str) -> impl Iterator<Item = &str> {
    const MARK: &str = ":application-inference-profile/";
    message.match_indices(MARK).filter_map(|(at, _)| {
        let start = message[..at].rfind('"')? + 1;
        let end = at + message[at..].find('"')?;
        let arn = &message[start..end];
        arn.starts_with("arn:").then_some(arn)
    })
}

fn millis(duration: std::time::Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}
