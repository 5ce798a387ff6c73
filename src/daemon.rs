//! The daemon: polls every configured source on its schedule until told to stop.
//!
//! Each (source, kind of poll) runs as its own task, so a failing source is retried with
//! backoff while the others carry on. Before each cycle a task makes sure this daemon leads
//! the source (see [`Leadership`]): with several replicas on one Postgres, each source is
//! polled by one of them at a time. After each cycle its outcome is recorded in
//! `source_health` and logged.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Mutex, watch};

use crate::config::{Config, SourceConfig};
use crate::ingest::PricingContext;
use crate::sources::cloudwatch_logs::{LogsCycle, LogsPoller};
use crate::sources::cloudwatch_metrics::MetricsPoller;
use crate::sources::profiles::ProfileResolver;
use crate::sources::s3::listing::counted_client;
use crate::sources::s3::notifications::NotificationPoller;
use crate::sources::s3::poller::ListingPoller;

/// The pause between two cycles of a queue consumer (each cycle ends on an empty receive,
/// which long-polls first).
const QUEUE_PAUSE: Duration = Duration::from_secs(1);
use crate::sources::service_quotas::QuotasPoller;
use crate::sources::{CallCounter, SourceError, sdk_config, total_calls};
use crate::store::{Leadership, SourceHealth, Store, StoreError};

/// The kinds of poll a source can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PollKind {
    Logs,
    /// S3 delivery, by listing the bucket.
    S3,
    /// S3 delivery, announced on an SQS queue.
    Sqs,
    Metrics,
    Quotas,
}

impl PollKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PollKind::Logs => "logs",
            PollKind::S3 => "s3",
            PollKind::Sqs => "sqs",
            PollKind::Metrics => "metrics",
            PollKind::Quotas => "quotas",
        }
    }
}

/// What a cycle reports, for health and logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CycleSummary {
    /// Events, metric points or quotas read.
    pub items: u64,
    /// How far the source's data is behind real time after the cycle.
    pub lag_ms: Option<i64>,
    /// One line for people: what the cycle did.
    pub detail: String,
    /// Something that needs a person although the cycle did its work (an S3 object that
    /// cannot be read, an SQS message left for the redrive policy). Shown as the source's
    /// last error, but the next cycle comes at the usual interval: no backoff stalls the
    /// objects and messages that can be read.
    pub problem: Option<String>,
}

/// One kind of poll of one source.
pub trait Poller: Send + 'static {
    fn kind(&self) -> PollKind;
    /// The API-call counter of this poller's client.
    fn calls(&self) -> &CallCounter;
    /// Whether only the replica leading the source may poll. Queue consumers need no
    /// leader: the queue hands each message to one of them.
    fn needs_leader(&self) -> bool {
        true
    }
    /// Runs one cycle up to `now_ms`; stops early (keeping what it stored) when `stop` is set.
    fn poll_cycle(
        &mut self,
        now_ms: i64,
        stop: &watch::Receiver<bool>,
    ) -> impl Future<Output = Result<CycleSummary, SourceError>> + Send;
}

struct LogsTask {
    poller: LogsPoller,
    calls: CallCounter,
}

impl Poller for LogsTask {
    fn kind(&self) -> PollKind {
        PollKind::Logs
    }

    fn calls(&self) -> &CallCounter {
        &self.calls
    }

    async fn poll_cycle(
        &mut self,
        now_ms: i64,
        stop: &watch::Receiver<bool>,
    ) -> Result<CycleSummary, SourceError> {
        let cycle = self.poller.poll(now_ms, stop).await?;
        Ok(CycleSummary {
            items: cycle.fetched(),
            lag_ms: Some(now_ms - cycle.watermark_ms),
            detail: logs_detail(&cycle),
            problem: None,
        })
    }
}

/// "3100 events fetched (1550 new, 1550 settling): ..." — fetched against imported shows what
/// re-reading costs; "late" counts the events only the settle pass found.
fn logs_detail(cycle: &LogsCycle) -> String {
    format!(
        "{} events fetched ({} new, {} settling): {} imported ({} late), {} already stored ({} seen, not re-parsed), {} rejected{}",
        cycle.fetched(),
        cycle.fetched_new,
        cycle.fetched_settling,
        cycle.imported,
        cycle.late,
        cycle.duplicates,
        cycle.recognized,
        cycle.rejected,
        stopped_note(cycle.completed)
    )
}

struct S3Task {
    poller: ListingPoller,
    calls: CallCounter,
}

impl Poller for S3Task {
    fn kind(&self) -> PollKind {
        PollKind::S3
    }

    fn calls(&self) -> &CallCounter {
        &self.calls
    }

    async fn poll_cycle(
        &mut self,
        now_ms: i64,
        stop: &watch::Receiver<bool>,
    ) -> Result<CycleSummary, SourceError> {
        let cycle = self.poller.poll(now_ms, stop).await?;
        let skipped: u64 = cycle.skipped.values().sum();
        let detail = format!(
            "{} prefixes, {} objects listed ({} read before, {} skipped), {} read ({} late, {} gone): {} records, {} imported, {} already stored, {} rejected{}",
            cycle.prefixes,
            cycle.listed,
            cycle.already_read,
            skipped,
            cycle.read,
            cycle.late,
            cycle.missing,
            cycle.records,
            cycle.imported,
            cycle.duplicates,
            cycle.rejected,
            stopped_note(cycle.completed)
        );
        // Objects that could not be read are the cycle's problem (the rest was stored): the
        // next cycle tries them again at the usual interval.
        let problem = cycle.failures.first().map(|first| {
            format!(
                "GetObject: {} objects could not be read (the checkpoint waits before them), first: {first}",
                cycle.failures.len()
            )
        });
        Ok(CycleSummary {
            items: cycle.records,
            lag_ms: cycle
                .oldest_position
                .map(|position| now_ms - position.timestamp_millis()),
            detail,
            problem,
        })
    }
}

struct SqsTask {
    poller: NotificationPoller,
    calls: CallCounter,
}

impl Poller for SqsTask {
    fn kind(&self) -> PollKind {
        PollKind::Sqs
    }

    fn calls(&self) -> &CallCounter {
        &self.calls
    }

    fn needs_leader(&self) -> bool {
        false
    }

    async fn poll_cycle(
        &mut self,
        _now_ms: i64,
        stop: &watch::Receiver<bool>,
    ) -> Result<CycleSummary, SourceError> {
        let cycle = self.poller.poll(stop).await?;
        let skipped: u64 = cycle.skipped.values().sum();
        let detail = format!(
            "{} messages ({} deleted, {} kept, {} visibility extensions), {} objects read ({} read before, {} skipped): {} records, {} imported, {} already stored, {} rejected{}",
            cycle.messages,
            cycle.deleted,
            cycle.kept.len(),
            cycle.visibility_extensions,
            cycle.read,
            cycle.already_read,
            skipped,
            cycle.records,
            cycle.imported,
            cycle.duplicates,
            cycle.rejected,
            stopped_note(cycle.completed)
        );
        // Messages kept on the queue are the cycle's problem; consuming goes on.
        let problem = cycle.kept.first().map(|first| {
            format!(
                "{} messages left on the queue for its redrive policy, first: {first}",
                cycle.kept.len()
            )
        });
        Ok(CycleSummary {
            items: cycle.records,
            lag_ms: None,
            detail,
            problem,
        })
    }
}

struct MetricsTask {
    poller: MetricsPoller,
    calls: CallCounter,
}

impl Poller for MetricsTask {
    fn kind(&self) -> PollKind {
        PollKind::Metrics
    }

    fn calls(&self) -> &CallCounter {
        &self.calls
    }

    async fn poll_cycle(
        &mut self,
        now_ms: i64,
        stop: &watch::Receiver<bool>,
    ) -> Result<CycleSummary, SourceError> {
        let cycle = self.poller.poll(now_ms, stop).await?;
        Ok(CycleSummary {
            items: cycle.points,
            lag_ms: Some(now_ms - cycle.fetched_until_s * 1000),
            detail: format!(
                "{} metrics discovered, {} queries, {} points in {} windows, {} coverage rows{}{}",
                cycle.discovered,
                cycle.queries,
                cycle.points,
                cycle.windows,
                cycle.coverage_rows,
                if cycle.percentiles_unavailable {
                    " (percentiles unavailable)"
                } else {
                    ""
                },
                stopped_note(cycle.completed)
            ),
            problem: None,
        })
    }
}

struct QuotasTask {
    poller: QuotasPoller,
    calls: CallCounter,
}

impl Poller for QuotasTask {
    fn kind(&self) -> PollKind {
        PollKind::Quotas
    }

    fn calls(&self) -> &CallCounter {
        &self.calls
    }

    async fn poll_cycle(
        &mut self,
        now_ms: i64,
        _stop: &watch::Receiver<bool>,
    ) -> Result<CycleSummary, SourceError> {
        let cycle = self.poller.poll(now_ms).await?;
        Ok(CycleSummary {
            items: cycle.quotas,
            lag_ms: None,
            detail: format!(
                "{} quotas, {} matched to a model",
                cycle.quotas, cycle.matched
            ),
            problem: None,
        })
    }
}

/// What a cycle's line adds when shutdown interrupted it.
fn stopped_note(completed: bool) -> &'static str {
    if completed { "" } else { " (stopped early)" }
}

/// Any kind of poller, so one source's pollers can be kept and run alike.
enum AnyPoller {
    /// Boxed: it holds a batch builder and writer, far larger than the others.
    Logs(Box<LogsTask>),
    S3(Box<S3Task>),
    Sqs(Box<SqsTask>),
    Metrics(MetricsTask),
    Quotas(QuotasTask),
}

impl Poller for AnyPoller {
    fn kind(&self) -> PollKind {
        match self {
            AnyPoller::Logs(task) => task.kind(),
            AnyPoller::S3(task) => task.kind(),
            AnyPoller::Sqs(task) => task.kind(),
            AnyPoller::Metrics(task) => task.kind(),
            AnyPoller::Quotas(task) => task.kind(),
        }
    }

    fn calls(&self) -> &CallCounter {
        match self {
            AnyPoller::Logs(task) => task.calls(),
            AnyPoller::S3(task) => task.calls(),
            AnyPoller::Sqs(task) => task.calls(),
            AnyPoller::Metrics(task) => task.calls(),
            AnyPoller::Quotas(task) => task.calls(),
        }
    }

    fn needs_leader(&self) -> bool {
        match self {
            AnyPoller::Sqs(task) => task.needs_leader(),
            _ => true,
        }
    }

    async fn poll_cycle(
        &mut self,
        now_ms: i64,
        stop: &watch::Receiver<bool>,
    ) -> Result<CycleSummary, SourceError> {
        match self {
            AnyPoller::Logs(task) => task.poll_cycle(now_ms, stop).await,
            AnyPoller::S3(task) => task.poll_cycle(now_ms, stop).await,
            AnyPoller::Sqs(task) => task.poll_cycle(now_ms, stop).await,
            AnyPoller::Metrics(task) => task.poll_cycle(now_ms, stop).await,
            AnyPoller::Quotas(task) => task.poll_cycle(now_ms, stop).await,
        }
    }
}

/// What every source's pollers need from the rest of tierwatch.
#[derive(Clone)]
pub struct Shared {
    pub store: Store,
    /// The prices and parse options in effect; replaced after a price sync or when
    /// application inference profiles are resolved, taken up by pollers at their next cycle.
    pub context: watch::Receiver<PricingContext>,
    pub batch_size: usize,
}

impl Shared {
    /// Shared state with a fixed context (one-shot runs).
    pub fn fixed(store: Store, context: PricingContext, batch_size: usize) -> Shared {
        let (keep, receiver) = watch::channel(context);
        // Nothing replaces a fixed context; the receiver keeps its last value either way.
        drop(keep);
        Shared {
            store,
            context: receiver,
            batch_size,
        }
    }
}

/// The pollers of one source, each with its interval.
struct SourcePollers {
    source: SourceConfig,
    pollers: Vec<(AnyPoller, Duration)>,
}

async fn build_pollers(config: &Config, shared: &Shared) -> Vec<SourcePollers> {
    let daemon = &config.daemon;
    let mut all = Vec::with_capacity(config.sources.len());
    for source in &config.sources {
        let sdk = sdk_config(source, daemon).await;
        let mut pollers = Vec::new();
        // Each poller counts its own client's calls: they run concurrently.
        let calls = CallCounter::default();
        if let Some(poller) = LogsPoller::new(
            source,
            daemon,
            &sdk,
            &calls,
            shared.store.clone(),
            shared.context.clone(),
            shared.batch_size,
        ) {
            let task = AnyPoller::Logs(Box::new(LogsTask { poller, calls }));
            pollers.push((task, daemon.logs_interval));
        }
        if let Some(s3) = &source.s3 {
            let calls = CallCounter::default();
            let client = counted_client(&sdk, source.endpoint_url.is_some(), &calls);
            if let Some(poller) = ListingPoller::new(
                source,
                daemon,
                client,
                profile_resolver(source, &sdk, &calls, &shared.store),
                shared.store.clone(),
                shared.context.clone(),
                shared.batch_size,
            ) {
                // With notifications, listing only reconciles what the queue may have lost.
                let interval = match s3.sqs_queue_url {
                    Some(_) => s3.reconcile_interval,
                    None => daemon.logs_interval,
                };
                let task = AnyPoller::S3(Box::new(S3Task { poller, calls }));
                pollers.push((task, interval));
            }
            let calls = CallCounter::default();
            let s3_client = counted_client(&sdk, source.endpoint_url.is_some(), &calls);
            let sqs_config = aws_sdk_sqs::config::Builder::from(&sdk)
                .interceptor(calls.clone())
                .build();
            if let Some(poller) = NotificationPoller::new(
                source,
                aws_sdk_sqs::Client::from_conf(sqs_config),
                s3_client,
                profile_resolver(source, &sdk, &calls, &shared.store),
                shared.store.clone(),
                shared.context.clone(),
            ) {
                // Each cycle long-polls until the queue is empty: the next starts soon after.
                let task = AnyPoller::Sqs(Box::new(SqsTask { poller, calls }));
                pollers.push((task, QUEUE_PAUSE));
            }
        }
        let calls = CallCounter::default();
        if let Some(poller) = MetricsPoller::new(
            source,
            daemon,
            &sdk,
            &calls,
            shared.store.clone(),
            shared.context.clone(),
        ) {
            let task = AnyPoller::Metrics(MetricsTask { poller, calls });
            pollers.push((task, daemon.metrics_interval));
        }
        let calls = CallCounter::default();
        let prices = Arc::clone(&shared.context.borrow().prices);
        if let Some(poller) = QuotasPoller::new(source, &sdk, &calls, shared.store.clone(), &prices)
        {
            let task = AnyPoller::Quotas(QuotasTask { poller, calls });
            pollers.push((task, daemon.quotas_interval));
        }
        all.push(SourcePollers {
            source: source.clone(),
            pollers,
        });
    }
    all
}

/// Resolves the application inference profiles a source's logs name, counting its calls.
fn profile_resolver(
    source: &SourceConfig,
    sdk: &aws_config::SdkConfig,
    calls: &CallCounter,
    store: &Store,
) -> ProfileResolver {
    let bedrock = aws_sdk_bedrock::config::Builder::from(sdk)
        .interceptor(calls.clone())
        .build();
    ProfileResolver::new(
        &source.name,
        aws_sdk_bedrock::Client::from_conf(bedrock),
        store.clone(),
    )
}

/// Identifies this process in health rows: host and process id.
pub fn daemon_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|host| host.trim().to_string())
        .filter(|host| !host.is_empty())
        .unwrap_or_else(|| "unknown-host".into());
    format!("{host}/{}", std::process::id())
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Runs one cycle, records its health and logs it. Returns whether it succeeded.
async fn run_cycle<P: Poller>(
    poller: &mut P,
    source: &str,
    store: &Store,
    daemon_id: &str,
    stop: &watch::Receiver<bool>,
) -> Result<CycleSummary, String> {
    let started = std::time::Instant::now();
    let now = now_ms();
    poller.calls().take();
    let result = poller.poll_cycle(now, stop).await;
    let calls = poller.calls().take();
    let api_calls = total_calls(&calls);
    let cycle_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
    let kind = poller.kind().as_str();
    let health = match &result {
        Ok(summary) => {
            tracing::info!(source, kind, api_calls, ?calls, "{}", summary.detail);
            if let Some(problem) = &summary.problem {
                tracing::warn!(source, kind, "{problem}");
            }
            SourceHealth {
                source: source.into(),
                kind: kind.into(),
                daemon_id: daemon_id.into(),
                last_attempt_ms: now,
                last_success_ms: Some(now),
                last_error: summary.problem.clone(),
                consecutive_failures: 0,
                lag_ms: summary.lag_ms,
                items_last_cycle: i64::try_from(summary.items).unwrap_or(i64::MAX),
                api_calls_last_cycle: i64::try_from(api_calls).unwrap_or(i64::MAX),
                cycle_ms,
            }
        }
        Err(error) => {
            tracing::warn!(source, kind, api_calls, %error, "poll failed");
            SourceHealth {
                source: source.into(),
                kind: kind.into(),
                daemon_id: daemon_id.into(),
                last_attempt_ms: now,
                last_success_ms: None,
                last_error: Some(error.to_string()),
                consecutive_failures: 1,
                lag_ms: None,
                items_last_cycle: 0,
                api_calls_last_cycle: i64::try_from(api_calls).unwrap_or(i64::MAX),
                cycle_ms,
            }
        }
    };
    if let Err(error) = store.record_health(&health).await {
        tracing::warn!(source, kind, %error, "could not record source health");
    }
    result.map_err(|error| error.to_string())
}

/// How long to wait after `failures` failed cycles in a row: doubling from 5 s up to
/// `max`, with jitter so replicas and sources don't retry in step.
pub fn failure_backoff(failures: u32, max: Duration) -> Duration {
    let exponent = failures.saturating_sub(1).min(16);
    let base = Duration::from_secs(5)
        .saturating_mul(1 << exponent)
        .min(max);
    let jitter = 0.5 + rand::random::<f64>() * 0.5;
    base.mul_f64(jitter)
}

/// Waits `delay` unless stopped first; true when stopped.
async fn wait_or_stop(delay: Duration, stop: &mut watch::Receiver<bool>) -> bool {
    if *stop.borrow() {
        return true;
    }
    tokio::select! {
        _ = tokio::time::sleep(delay) => *stop.borrow(),
        changed = stop.changed() => changed.is_err() || *stop.borrow(),
    }
}

struct LoopContext {
    source: String,
    store: Store,
    leadership: Arc<Mutex<Leadership>>,
    daemon_id: String,
    interval: Duration,
    max_backoff: Duration,
    stop: watch::Receiver<bool>,
}

async fn poll_loop<P: Poller>(mut poller: P, mut ctx: LoopContext) {
    let mut failures = 0;
    loop {
        if *ctx.stop.borrow() {
            break;
        }
        let leading = if poller.needs_leader() {
            ctx.leadership.lock().await.lead(&ctx.source).await
        } else {
            Ok(true)
        };
        let delay = match leading {
            Ok(true) => {
                let result = run_cycle(
                    &mut poller,
                    &ctx.source,
                    &ctx.store,
                    &ctx.daemon_id,
                    &ctx.stop,
                )
                .await;
                match result {
                    Ok(_) => {
                        failures = 0;
                        ctx.interval
                    }
                    Err(_) => {
                        failures += 1;
                        failure_backoff(failures, ctx.max_backoff)
                    }
                }
            }
            Ok(false) => {
                tracing::debug!(source = ctx.source, "another replica polls this source");
                ctx.interval
            }
            Err(error) => {
                failures += 1;
                tracing::warn!(source = ctx.source, %error, "cannot check which replica leads");
                failure_backoff(failures, ctx.max_backoff)
            }
        };
        if wait_or_stop(delay, &mut ctx.stop).await {
            break;
        }
    }
}

/// Errors that keep the daemon from starting.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("no sources are configured: add [[sources]] to the config file")]
    NoSources,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Polls every source until `stop` turns true, then finishes the batches in flight and
/// returns.
pub async fn run(
    config: &Config,
    shared: Shared,
    stop: watch::Receiver<bool>,
) -> Result<(), DaemonError> {
    if config.sources.is_empty() {
        return Err(DaemonError::NoSources);
    }
    let daemon_id = daemon_id();
    let leadership = Arc::new(Mutex::new(shared.store.leadership()));
    let mut tasks = tokio::task::JoinSet::new();
    for pollers in build_pollers(config, &shared).await {
        let context = |interval| LoopContext {
            source: pollers.source.name.clone(),
            store: shared.store.clone(),
            leadership: Arc::clone(&leadership),
            daemon_id: daemon_id.clone(),
            interval,
            max_backoff: config.daemon.max_backoff,
            stop: stop.clone(),
        };
        for (poller, interval) in pollers.pollers {
            tasks.spawn(poll_loop(poller, context(interval)));
        }
    }
    tracing::info!(daemon_id, sources = config.sources.len(), "polling");
    while tasks.join_next().await.is_some() {}
    leadership.lock().await.release_all().await;
    tracing::info!(daemon_id, "stopped");
    Ok(())
}

/// The outcome of one source's cycle in [`poll_once`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnceResult {
    pub source: String,
    pub kind: &'static str,
    /// `Err` holds the failure; `Ok(None)` means another replica leads the source.
    pub outcome: Result<Option<CycleSummary>, String>,
}

/// Runs one cycle of every source and kind (for cron and tests), sources concurrently.
pub async fn poll_once(config: &Config, shared: Shared) -> Result<Vec<OnceResult>, DaemonError> {
    if config.sources.is_empty() {
        return Err(DaemonError::NoSources);
    }
    let daemon_id = daemon_id();
    let leadership = Arc::new(Mutex::new(shared.store.leadership()));
    let (_keep_running, stop) = watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();
    for pollers in build_pollers(config, &shared).await {
        let store = shared.store.clone();
        let leadership = Arc::clone(&leadership);
        let daemon_id = daemon_id.clone();
        let stop = stop.clone();
        tasks.spawn(async move {
            let source = pollers.source.name.clone();
            let leading = leadership.lock().await.lead(&source).await;
            let mut results = Vec::new();
            // One source's kinds run in turn, logs first, so coverage sees fresh logs.
            for (mut poller, _) in pollers.pollers {
                let leading = match &leading {
                    _ if !poller.needs_leader() => Ok(true),
                    Ok(leads) => Ok(*leads),
                    Err(error) => Err(error.to_string()),
                };
                let outcome = match leading {
                    Ok(true) => run_cycle(&mut poller, &source, &store, &daemon_id, &stop)
                        .await
                        .map(Some),
                    Ok(false) => Ok(None),
                    Err(error) => Err(error),
                };
                results.push(OnceResult {
                    source: source.clone(),
                    kind: poller.kind().as_str(),
                    outcome,
                });
            }
            results
        });
    }
    let mut results = Vec::new();
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok(source_results) => results.extend(source_results),
            Err(error) => results.push(OnceResult {
                source: "?".into(),
                kind: "?",
                outcome: Err(format!("a poll task failed: {error}")),
            }),
        }
    }
    results.sort_by(|a, b| (&a.source, a.kind).cmp(&(&b.source, b.kind)));
    leadership.lock().await.release_all().await;
    Ok(results)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_the_cap_with_jitter() {
        let max = Duration::from_secs(600);
        for (failures, base) in [(1, 5), (2, 10), (3, 20), (8, 600), (40, 600)] {
            let delay = failure_backoff(failures, max);
            let base = Duration::from_secs(base);
            assert!(delay >= base / 2 && delay <= base, "{failures}: {delay:?}");
        }
    }

    #[tokio::test]
    async fn waiting_ends_at_once_when_stopped() {
        let (stopper, mut stop) = watch::channel(false);
        let started = std::time::Instant::now();
        let waiter =
            tokio::spawn(async move { wait_or_stop(Duration::from_secs(60), &mut stop).await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        stopper.send(true).unwrap();
        assert!(waiter.await.unwrap());
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
