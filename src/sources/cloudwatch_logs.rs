//! Invocation logs from CloudWatch Logs, read with FilterLogEvents.
//!
//! CloudWatch Logs accepts events with old timestamps for a while after they happened, and
//! FilterLogEvents selects by timestamp only (not by when an event arrived), so catching late
//! events means reading a stretch of time again. The checkpoint keeps two marks:
//!
//! * the watermark W: every event with a timestamp before W has been read once;
//! * the settled mark S ≤ W: every event before S has been read at least `daemon.lookback`
//!   after its timestamp, so events up to a lookback late are in.
//!
//! A cycle at `now` first settles `[S, min(W, now − lookback))` — only the slice that has just
//! aged past the lookback — then reads the new range `[W, now)`. In steady state each event is
//! fetched twice (when new and when it settles), not once per cycle of the lookback. A new
//! range that is already older than the lookback (a first run, a catch-up after downtime) is
//! settled by that one read. A first cycle reads from the backfill start; a checkpoint from
//! before the settled mark existed settles from `W − lookback`.
//!
//! Both passes read in windows of at most `daemon.window` of log time. Each window is paged
//! through to its end; its last batch carries the new marks in the same transaction as the
//! data. So a crash re-reads at most one window, and re-reading stores nothing twice
//! (invocations are unique on their request id, quarantined events on their event id).
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

use super::profiles::ProfileResolver;
use super::{CallCounter, SourceError, read_checkpoint};
use crate::config::{DaemonConfig, SourceConfig};
use crate::ingest::record::{RejectReason, Rejection};
use crate::ingest::{BatchBuilder, BatchWriter, PricingContext};
use crate::store::Store;

/// The `ingest_sources.kind` of log groups.
pub const SOURCE_KIND: &str = "cloudwatch_logs";

/// Events per FilterLogEvents page (the API's maximum).
const PAGE_LIMIT: i32 = 10_000;

/// Most event ids kept in memory for the settle pass to recognize (about 32 bytes each: some
/// 6 MiB). With the default lookback and interval this covers 200 events a second; past it,
/// the surplus events are parsed and written again when they settle, as without the memory.
const MAX_SEEN_EVENTS: usize = 200_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct LogsCheckpoint {
    /// Every event with an earlier timestamp (Unix ms) has been read and stored.
    watermark_ms: i64,
    /// Every event with an earlier timestamp was read at least a lookback after it. Absent
    /// in checkpoints written before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    settled_ms: Option<i64>,
}

/// How far the reads of a source have got (Unix ms); see the module documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Marks {
    /// Events before it have been read once.
    watermark_ms: i64,
    /// Events before it have been read at least a lookback after their timestamp.
    settled_ms: i64,
}

impl Marks {
    /// The marks of a checkpoint (one without a settled mark settles the lookback again).
    fn from_checkpoint(checkpoint: LogsCheckpoint, lookback_ms: i64) -> Marks {
        let settled = checkpoint
            .settled_ms
            .unwrap_or(checkpoint.watermark_ms - lookback_ms);
        Marks {
            watermark_ms: checkpoint.watermark_ms,
            settled_ms: settled.min(checkpoint.watermark_ms),
        }
    }

    fn checkpoint(self) -> LogsCheckpoint {
        LogsCheckpoint {
            watermark_ms: self.watermark_ms,
            settled_ms: Some(self.settled_ms),
        }
    }

    /// The marks once `[start, end)` has been read at a time when everything before
    /// `settle_limit` (`now − lookback`) is settled. The settled mark only moves when the
    /// window starts at or below it: a gap below the window still needs its settle read.
    fn after_reading(self, start: i64, end: i64, settle_limit: i64) -> Marks {
        let settled_ms = if start <= self.settled_ms {
            self.settled_ms.max(end.min(settle_limit))
        } else {
            self.settled_ms
        };
        Marks {
            watermark_ms: self.watermark_ms.max(end),
            settled_ms,
        }
    }

    /// What a cycle at `now_ms` reads, in order: the settle pass, then the new range. Either
    /// may be empty (start ≥ end).
    fn cycle_ranges(self, now_ms: i64, lookback_ms: i64) -> [(Pass, i64, i64); 2] {
        let settle_end = self.watermark_ms.min(now_ms - lookback_ms);
        [
            (Pass::Settle, self.settled_ms, settle_end),
            (Pass::New, self.watermark_ms, now_ms),
        ]
    }
}

/// The two reads of a cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pass {
    /// `[settled, min(watermark, now − lookback))`: read again to catch late events.
    Settle,
    /// `[watermark, now)`: read for the first time.
    New,
}

/// What one cycle did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogsCycle {
    /// Log events fetched from the new range `[watermark, now)`.
    pub fetched_new: u64,
    /// Log events fetched again by the settle pass, to catch late ones.
    pub fetched_settling: u64,
    /// Invocations stored for the first time.
    pub imported: u64,
    /// Of those, the ones the settle pass found: delivered after their time was first read.
    pub late: u64,
    /// Events already stored (mostly the settle pass's re-reads).
    pub duplicates: u64,
    /// Of those, the ones the settle pass recognized as stored by this process's new reads:
    /// neither parsed nor written again.
    pub recognized: u64,
    /// Events that were not valid invocation records (quarantined).
    pub rejected: u64,
    /// The watermark after the cycle.
    pub watermark_ms: i64,
    /// The settled mark after the cycle.
    pub settled_ms: i64,
    /// False when shutdown interrupted the cycle (what was read so far is stored).
    pub completed: bool,
}

impl LogsCycle {
    /// Log events fetched by both passes.
    pub fn fetched(&self) -> u64 {
        self.fetched_new + self.fetched_settling
    }

    fn marks(&self) -> Marks {
        Marks {
            watermark_ms: self.watermark_ms,
            settled_ms: self.settled_ms,
        }
    }

    fn set_marks(&mut self, marks: Marks) {
        self.watermark_ms = marks.watermark_ms;
        self.settled_ms = marks.settled_ms;
    }

    fn count_fetched(&mut self, pass: Pass, events: usize) {
        let events = events as u64;
        match pass {
            Pass::Settle => self.fetched_settling += events,
            Pass::New => self.fetched_new += events,
        }
    }
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
    /// Resolves application inference profiles seen in the logs (and keeps what it resolved
    /// over context updates).
    profiles: ProfileResolver,
    /// Events of the new range stored by this process, until they settle.
    seen: SeenEvents,
}

/// The events this process has stored from new ranges and not yet settled, so the settle pass
/// can skip them: in steady state it fetches as many events as the new range, and nearly all
/// were stored a lookback earlier. Only events whose batch has been written count, so a
/// skipped event is always stored; anything not remembered (after a restart, past
/// [`MAX_SEEN_EVENTS`]) is parsed and written again, which stores nothing twice.
#[derive(Default)]
struct SeenEvents {
    /// (timestamp, hash of the event id). A hash collision would need two event ids of the
    /// same millisecond to share 64 bits.
    stored: std::collections::HashSet<(i64, u64)>,
    /// Events of the new range parsed but not written yet.
    pending: Vec<(i64, u64)>,
}

impl SeenEvents {
    fn key(event: &FilteredLogEvent) -> Option<(i64, u64)> {
        use std::hash::{Hash, Hasher};
        let timestamp = event.timestamp?;
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        event.event_id.as_deref()?.hash(&mut hasher);
        Some((timestamp, hasher.finish()))
    }

    /// Notes events of the new range that are about to be parsed.
    fn note(&mut self, events: &[FilteredLogEvent]) {
        self.pending
            .extend(events.iter().filter_map(SeenEvents::key));
    }

    /// What was noted has been written.
    fn written(&mut self) {
        let room = MAX_SEEN_EVENTS.saturating_sub(self.stored.len());
        let pending = std::mem::take(&mut self.pending);
        self.stored.extend(pending.into_iter().take(room));
    }

    /// Forgets what a failed cycle noted but did not write, and what has settled.
    fn start_cycle(&mut self, settled_ms: i64) {
        self.pending.clear();
        self.forget_before(settled_ms);
    }

    fn forget_before(&mut self, settled_ms: i64) {
        self.stored
            .retain(|(timestamp, _)| *timestamp >= settled_ms);
    }

    /// The events not known to be stored, and how many were.
    fn unknown(&self, events: Vec<FilteredLogEvent>) -> (Vec<FilteredLogEvent>, u64) {
        let fetched = events.len();
        let unknown: Vec<FilteredLogEvent> = events
            .into_iter()
            .filter(|event| SeenEvents::key(event).is_none_or(|key| !self.stored.contains(&key)))
            .collect();
        let recognized = (fetched - unknown.len()) as u64;
        (unknown, recognized)
    }
}

/// One window of log time to read, and the cycle it is read in.
#[derive(Debug, Clone, Copy)]
struct Window {
    pass: Pass,
    start: i64,
    end: i64,
    now_ms: i64,
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
            store: store.clone(),
            context,
            profiles: ProfileResolver::new(
                &source.name,
                aws_sdk_bedrock::Client::from_conf(bedrock),
                store.clone(),
            ),
            seen: SeenEvents::default(),
        })
    }

    /// Parses from now on with the latest context, plus the profiles resolved here.
    fn use_latest_context(&mut self) {
        let context = self.profiles.extend(&self.context.borrow_and_update());
        if let Some(builder) = self.builder.as_mut() {
            builder.set_context(&context);
        }
    }

    /// Resolves the application inference profiles of `events` that are not mapped yet.
    async fn resolve_profiles(&mut self, events: &[FilteredLogEvent], now_ms: i64) {
        let Some(builder) = self.builder.as_ref() else {
            return;
        };
        let known = builder.options().application_profiles.clone();
        let arns = events
            .iter()
            .filter_map(|event| event.message.as_deref())
            .flat_map(application_profile_arns);
        if self.profiles.resolve_arns(arns, &known, now_ms).await {
            self.use_latest_context();
        }
    }

    /// Settles what has aged past the lookback, then reads everything new up to `now_ms`.
    /// Stops between pages when `stop` turns true.
    pub async fn poll(
        &mut self,
        now_ms: i64,
        stop: &watch::Receiver<bool>,
    ) -> Result<LogsCycle, SourceError> {
        self.use_latest_context();
        let marks = match self.marks().await? {
            Some(marks) => marks,
            None => {
                let start = match self.first_start {
                    FirstStart::At(at) => at,
                    FirstStart::Ago(span) => now_ms - span,
                };
                Marks {
                    watermark_ms: start,
                    settled_ms: start,
                }
            }
        };
        let mut cycle = LogsCycle {
            completed: true,
            ..LogsCycle::default()
        };
        cycle.set_marks(marks);
        self.seen.start_cycle(marks.settled_ms);
        // Settling first closes the gap below the watermark, so a new range that is already
        // older than the lookback (catching up) settles as it is read instead of twice.
        for (pass, start, end) in marks.cycle_ranges(now_ms, self.lookback_ms) {
            let stored_before = cycle.imported;
            let read = self
                .read_range(pass, start, end, now_ms, &mut cycle, stop)
                .await;
            if pass == Pass::Settle {
                cycle.late += cycle.imported - stored_before;
                self.seen.forget_before(cycle.settled_ms);
            }
            if !read? {
                cycle.completed = false;
                break;
            }
        }
        Ok(cycle)
    }

    async fn marks(&self) -> Result<Option<Marks>, SourceError> {
        let checkpoint: Option<LogsCheckpoint> = read_checkpoint(
            &self.store,
            SOURCE_KIND,
            &self.ingest_name,
            &self.source_name,
        )
        .await?;
        Ok(checkpoint.map(|checkpoint| Marks::from_checkpoint(checkpoint, self.lookback_ms)))
    }

    /// Reads `[start, end)` window by window; false if stopped before the end.
    async fn read_range(
        &mut self,
        pass: Pass,
        start: i64,
        end: i64,
        now_ms: i64,
        cycle: &mut LogsCycle,
        stop: &watch::Receiver<bool>,
    ) -> Result<bool, SourceError> {
        let mut window_start = start;
        while window_start < end {
            let window_end = (window_start + self.window_ms).min(end);
            let window = Window {
                pass,
                start: window_start,
                end: window_end,
                now_ms,
            };
            if !self.read_window(window, cycle, stop).await? {
                return Ok(false);
            }
            window_start = window_end;
        }
        Ok(true)
    }

    /// Reads a window to its last page; false if stopped before the end.
    async fn read_window(
        &mut self,
        window: Window,
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
                .start_time(window.start)
                // FilterLogEvents' end time is inclusive; windows are half-open.
                .end_time(window.end - 1)
                .limit(PAGE_LIMIT)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|error| SourceError::aws("FilterLogEvents", error))?;
            let mut events = page.events.unwrap_or_default();
            cycle.count_fetched(window.pass, events.len());
            match window.pass {
                Pass::Settle => {
                    let (unknown, recognized) = self.seen.unknown(events);
                    cycle.recognized += recognized;
                    cycle.duplicates += recognized;
                    events = unknown;
                }
                Pass::New => self.seen.note(&events),
            }
            self.resolve_profiles(&events, window.now_ms).await;
            self.parse(events).await?;
            if self.buffered() >= self.batch_size {
                self.flush(None, cycle).await?;
            }
            match page.next_token {
                Some(next) if !next.is_empty() => token = Some(next),
                _ => break,
            }
        }
        let marks =
            cycle
                .marks()
                .after_reading(window.start, window.end, window.now_ms - self.lookback_ms);
        let position = serde_json::to_string(&marks.checkpoint())
            .map_err(|error| SourceError::Parser(error.to_string()))?;
        self.flush(Some(position), cycle).await?;
        cycle.set_marks(marks);
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
            self.seen.written();
            return Ok(());
        }
        cycle.rejected += batch.rejected.len() as u64;
        let source = Arc::clone(&self.ingest_name);
        let outcome = self
            .writer
            .write(batch, checkpoint.map(|position| (&source, position)))
            .await?;
        self.seen.written();
        cycle.imported += outcome.inserted;
        // Expired records (older than retention keeps) are already in the rollups, too.
        cycle.duplicates += outcome.duplicates + outcome.expired;
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

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: i64 = 60_000;
    const LOOKBACK: i64 = 15 * MINUTE;

    fn marks(watermark_ms: i64, settled_ms: i64) -> Marks {
        Marks {
            watermark_ms,
            settled_ms,
        }
    }

    #[test]
    fn a_checkpoint_without_a_settled_mark_settles_the_lookback_again() {
        let old: LogsCheckpoint = serde_json::from_str(r#"{"watermark_ms": 3600000}"#).unwrap();
        assert_eq!(
            Marks::from_checkpoint(old, LOOKBACK),
            marks(3_600_000, 3_600_000 - LOOKBACK)
        );
        let new = marks(3_600_000, 2_000_000).checkpoint();
        let text = serde_json::to_string(&new).unwrap();
        assert_eq!(text, r#"{"watermark_ms":3600000,"settled_ms":2000000}"#);
        let back: LogsCheckpoint = serde_json::from_str(&text).unwrap();
        assert_eq!(
            Marks::from_checkpoint(back, LOOKBACK),
            marks(3_600_000, 2_000_000)
        );
    }

    #[test]
    fn reading_moves_the_settled_mark_only_without_a_gap_below() {
        let now = 100 * MINUTE;
        let limit = now - LOOKBACK;
        // The settle pass's window settles all of it.
        let settling = marks(99 * MINUTE, 84 * MINUTE);
        assert_eq!(
            settling.after_reading(84 * MINUTE, limit, limit),
            marks(99 * MINUTE, limit)
        );
        // A new window above the limit settles nothing.
        let current = marks(99 * MINUTE, limit);
        assert_eq!(
            current.after_reading(99 * MINUTE, now, limit),
            marks(now, limit)
        );
        // Catching up: a new window read long after its time settles as it goes...
        let behind = marks(10 * MINUTE, 10 * MINUTE);
        assert_eq!(
            behind.after_reading(10 * MINUTE, 70 * MINUTE, limit),
            marks(70 * MINUTE, 70 * MINUTE)
        );
        assert_eq!(
            marks(70 * MINUTE, 70 * MINUTE).after_reading(70 * MINUTE, now, limit),
            marks(now, limit)
        );
        // ...but not over a gap that has not been settled yet.
        assert_eq!(
            marks(10 * MINUTE, 5 * MINUTE).after_reading(10 * MINUTE, 70 * MINUTE, limit),
            marks(70 * MINUTE, 5 * MINUTE)
        );
    }

    fn event(timestamp: i64, id: &str) -> FilteredLogEvent {
        FilteredLogEvent::builder()
            .timestamp(timestamp)
            .event_id(id)
            .message("{}")
            .build()
    }

    #[test]
    fn the_settle_pass_skips_only_events_whose_batch_was_written() {
        let mut seen = SeenEvents::default();
        let new = vec![event(1_000, "a"), event(2_000, "b")];
        seen.note(&new);
        // Parsed but not written (the cycle failed): read again like any other event.
        let (unknown, recognized) = seen.unknown(new.clone());
        assert_eq!((unknown.len(), recognized), (2, 0));
        seen.start_cycle(0);
        seen.note(&new);
        seen.written();
        let settling = vec![event(1_000, "a"), event(1_000, "late"), event(2_000, "b")];
        let (unknown, recognized) = seen.unknown(settling.clone());
        assert_eq!(recognized, 2);
        assert_eq!(unknown, vec![event(1_000, "late")]);
        // Settled events are forgotten.
        seen.forget_before(1_500);
        let (unknown, recognized) = seen.unknown(settling);
        assert_eq!((unknown.len(), recognized), (2, 1));
        // An event without an id is never skipped.
        let anonymous = FilteredLogEvent::builder().timestamp(2_000).build();
        seen.note(std::slice::from_ref(&anonymous));
        seen.written();
        assert_eq!(seen.unknown(vec![anonymous]).1, 0);
    }

    /// Replays the marks over cycles a minute apart and counts how often each minute of log
    /// time is read: twice (new, then settled) once past the first run's backfill, and last
    /// read at least a lookback after it ended.
    #[test]
    fn steady_cycles_read_each_minute_twice_and_settle_it_after_the_lookback() {
        let start = 0;
        let mut current = marks(start, start);
        let mut reads = vec![0u32; 120];
        let mut last_read = vec![0i64; 120];
        for cycle in 1..=120 {
            let now = 60 * MINUTE + cycle * MINUTE;
            for (_, from, to) in current.cycle_ranges(now, LOOKBACK) {
                for minute in (from.max(0) / MINUTE)..(to / MINUTE).min(120) {
                    reads[minute as usize] += 1;
                    last_read[minute as usize] = now;
                }
                if from < to {
                    current = current.after_reading(from, to, now - LOOKBACK);
                }
            }
        }
        assert_eq!(current.settled_ms, 180 * MINUTE - LOOKBACK);
        for minute in 0..120 {
            let end = (minute as i64 + 1) * MINUTE;
            let expected = if end <= 61 * MINUTE - LOOKBACK { 1 } else { 2 };
            assert_eq!(reads[minute], expected, "minute {minute}");
            assert!(last_read[minute] - end >= LOOKBACK, "minute {minute}");
        }
    }
}
