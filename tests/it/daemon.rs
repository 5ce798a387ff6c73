//! The daemon end to end: the `tierwatch` binary polls CloudWatch Logs stand-ins (moto behind
//! the front, see `aws.rs`) through the real SDK, into real Postgres and SQLite. Totals are
//! compared with what was seeded, as the simulator says it should be read.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use tierwatch::model::TokenCounts;
use tierwatch::rollup::Granularity;
use tierwatch::simulate::{SimulationSpec, Simulator, Truth};
use tierwatch::store::{SourceHealth, Store};

use crate::aws::{Fault, StandIns, create_log_stream, put_log_events};
use crate::support::{BACKENDS, Backend, TestDb, fixture, with_test_aws_credentials};

const STREAM: &str = "aws/bedrock/modelinvocations";
pub(crate) const ACCOUNT: &str = "111122223333";

/// Log events and the totals a correct reader stores from them.
struct Seed {
    events: Vec<(i64, String)>,
    expected: Totals,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Totals {
    pub invocations: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cache_read_tokens: i64,
    pub cache_write_tokens: i64,
}

impl Totals {
    pub(crate) fn add_tokens(&mut self, tokens: &TokenCounts) {
        let count = |value: Option<u64>| i64::try_from(value.unwrap_or(0)).unwrap_or(i64::MAX);
        self.invocations += 1;
        self.input_tokens += count(tokens.input);
        self.output_tokens += count(tokens.output);
        self.cache_read_tokens += count(tokens.cache_read);
        self.cache_write_tokens += count(tokens.cache_write);
    }

    pub(crate) fn add(&mut self, other: Totals) {
        self.invocations += other.invocations;
        self.input_tokens += other.input_tokens;
        self.output_tokens += other.output_tokens;
        self.cache_read_tokens += other.cache_read_tokens;
        self.cache_write_tokens += other.cache_write_tokens;
    }
}

/// Simulated Bedrock records in `[start, end)` with bad and repeated lines, as log events.
fn seed(records: u64, start_ms: i64, end_ms: i64, seed: u64) -> Seed {
    let mut spec = SimulationSpec::month(2025, 11, records, seed);
    spec.start_ms = start_ms;
    spec.end_ms = end_ms;
    spec.accounts = vec![ACCOUNT.into()];
    spec.regions = vec!["us-east-1".into()];
    let mut expected = Totals::default();
    let mut events = Vec::new();
    for record in Simulator::new(&spec).expect("a valid simulation") {
        if let Truth::Good(good) = &record.truth {
            expected.add_tokens(&good.tokens);
        }
        events.push((record.timestamp_ms, record.line));
    }
    Seed { events, expected }
}

pub(crate) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

pub(crate) const MINUTE: i64 = 60_000;

/// Sums the day rollups: what reports and pages would show.
pub(crate) async fn stored_totals(store: &Store) -> Totals {
    let cells = store
        .read_cells(Granularity::Day, 0, i64::MAX / 2)
        .await
        .expect("reading rollups");
    let mut totals = Totals::default();
    for cell in cells {
        totals.add(Totals {
            invocations: cell.totals.invocations,
            input_tokens: cell.totals.input_tokens,
            output_tokens: cell.totals.output_tokens,
            cache_read_tokens: cell.totals.cache_read_tokens,
            cache_write_tokens: cell.totals.cache_write_tokens,
        });
    }
    totals
}

async fn health(store: &Store, source: &str) -> SourceHealth {
    store
        .source_health()
        .await
        .expect("reading health")
        .into_iter()
        .find(|row| row.source == source && row.kind == "logs")
        .unwrap_or_else(|| panic!("no health row for {source}"))
}

/// A config file for the binary: the test database, the stand-ins, and one source per log
/// group. `daemon` adds lines to `[daemon]`.
fn write_config(
    dir: &Path,
    db: &TestDb,
    standins: &StandIns,
    groups: &[(&str, &str)],
    daemon: &str,
) -> PathBuf {
    let mut text = format!(
        "[database]\nurl = \"{}\"\n[ingest]\nbatch_size = 500\n[daemon]\nlogs_interval = \"1s\"\nbackfill = \"3h\"\nmax_attempts = 4\n{daemon}\n",
        db.url
    );
    for (name, group) in groups {
        text.push_str(&format!(
            "[[sources]]\nname = \"{name}\"\nregion = \"us-east-1\"\naccount_id = \"{ACCOUNT}\"\nlog_group = \"{group}\"\nendpoint_url = \"{}\"\nmetrics = false\nquotas = false\n",
            standins.endpoint_url()
        ));
    }
    let path = dir.join("tierwatch.toml");
    std::fs::write(&path, text).expect("writing the config");
    path
}

/// The binary, with test credentials and nothing from the machine's AWS or tierwatch setup.
pub(crate) fn tierwatch(config: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tierwatch"));
    command
        .arg("--config")
        .arg(config)
        .args(args)
        .current_dir(config.parent().expect("the config has a directory"))
        .env(
            "TIERWATCH_PRICING_TABLE",
            fixture("pricing/launch-us-east-1.toml"),
        )
        // The hand-computed expectations price with the test table alone.
        .env("TIERWATCH_AWS_PRICE_LIST", "false")
        .env_remove("TIERWATCH_DATABASE_URL")
        // Each daemon serves its dashboard on a port of its own, so replicas and tests running
        // side by side don't collide on 8080.
        .env("TIERWATCH_LISTEN", "127.0.0.1:0")
        .env_remove("TIERWATCH_AUTH_TOKEN");
    with_test_aws_credentials(&mut command);
    command
}

pub(crate) fn poll_once(config: &Path) -> Output {
    tierwatch(config, &["poll", "--once"])
        .output()
        .expect("running poll --once")
}

pub(crate) fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

pub(crate) async fn seed_group(standins: &StandIns, group: &str, events: &[(i64, String)]) {
    let logs = standins.logs_client().await;
    create_log_stream(&logs, group, STREAM).await;
    put_log_events(&logs, group, STREAM, events).await;
}

async fn put_more(standins: &StandIns, group: &str, events: &[(i64, String)]) {
    let logs = standins.logs_client().await;
    put_log_events(&logs, group, STREAM, events).await;
}

#[tokio::test]
async fn two_sources_are_paged_through_and_repolls_store_nothing_twice() {
    for backend in BACKENDS {
        let standins = StandIns::start().await;
        let db = TestDb::new(backend).await;
        let dir = tempfile::tempdir().unwrap();
        let now = now_ms();
        // 12,000 lines in one group: two FilterLogEvents pages in its busiest window.
        let first = seed(12_000, now - 100 * MINUTE, now - 40 * MINUTE, 1);
        let second = seed(700, now - 90 * MINUTE, now - 5 * MINUTE, 2);
        seed_group(&standins, "/bedrock/a", &first.events).await;
        seed_group(&standins, "/bedrock/b", &second.events).await;
        let config = write_config(
            dir.path(),
            &db,
            &standins,
            &[("a", "/bedrock/a"), ("b", "/bedrock/b")],
            "",
        );

        let output = poll_once(&config);
        assert!(
            output.status.success(),
            "{backend:?}: {}{}",
            text(&output.stdout),
            text(&output.stderr)
        );
        let mut expected = first.expected;
        expected.add(second.expected);
        assert_eq!(stored_totals(&db.store).await, expected, "{backend:?}");

        let health_a = health(&db.store, "a").await;
        assert_eq!(health_a.last_error, None);
        assert_eq!(health_a.items_last_cycle, first.events.len() as i64);
        // Windows of an hour over 3 h of backfill, one extra page where 10,000 events overflow,
        // and a GetInferenceProfile for each simulated application inference profile seen (at
        // most four: two per account).
        assert!(
            (3..=10).contains(&health_a.api_calls_last_cycle),
            "{health_a:?}"
        );
        assert!(
            health_a.lag_ms.is_some_and(|lag| lag < 60_000),
            "{health_a:?}"
        );
        let calls = standins.calls().await;
        let count = |operation: &str| calls.get(operation).copied().unwrap_or(0);
        assert_eq!(
            count("FilterLogEvents") + count("GetInferenceProfile"),
            health_a.api_calls_last_cycle as u64
                + health(&db.store, "b").await.api_calls_last_cycle as u64
        );

        // A second cycle re-reads only the lookback, and stores nothing new.
        let again = poll_once(&config);
        assert!(again.status.success(), "{}", text(&again.stderr));
        assert_eq!(stored_totals(&db.store).await, expected, "{backend:?}");
        assert!(
            text(&again.stdout).contains(": 0 imported"),
            "{}",
            text(&again.stdout)
        );
        db.finish().await;
    }
}

/// The logs checkpoint's marks: (watermark, settled), Unix ms.
async fn logs_marks(store: &Store, source: &str, group: &str) -> (i64, i64) {
    let position = store
        .checkpoint("cloudwatch_logs", &format!("{source}:{group}"))
        .await
        .expect("reading the checkpoint")
        .expect("a checkpoint");
    let marks: serde_json::Value = serde_json::from_str(&position).expect("a JSON checkpoint");
    let mark = |name: &str| {
        marks[name]
            .as_i64()
            .unwrap_or_else(|| panic!("{name} in {position}"))
    };
    (mark("watermark_ms"), mark("settled_ms"))
}

#[tokio::test]
async fn restarts_continue_from_the_checkpoint_and_catch_late_events() {
    const LOOKBACK: i64 = 10_000;
    let standins = StandIns::start().await;
    let db = TestDb::new(Backend::Postgres).await;
    let dir = tempfile::tempdir().unwrap();
    let start = now_ms();
    let early = seed(800, start - 120 * MINUTE, start - 30 * MINUTE, 3);
    seed_group(&standins, "/bedrock/late", &early.events).await;
    // A short lookback, so the test need not wait long for late events to settle.
    let config = write_config(
        dir.path(),
        &db,
        &standins,
        &[("late", "/bedrock/late")],
        "lookback = \"10s\"",
    );
    assert!(poll_once(&config).status.success());
    assert_eq!(stored_totals(&db.store).await, early.expected);
    // The first cycle read everything up to when it ran; all of it but the last lookback
    // was read a lookback after its time, so it is settled.
    let (watermark, settled) = logs_marks(&db.store, "late", "/bedrock/late").await;
    assert!(watermark >= start, "{watermark} < {start}");
    assert_eq!(settled, watermark - LOOKBACK);

    // After the first cycle: new events, late events inside the lookback (read already, now
    // settling), and events so late that they fall before it (CloudWatch would hold them;
    // tierwatch does not go back for them).
    // (The simulator writes whole seconds, rounding down: the ranges start on one.)
    let whole_second = |ms: i64| (ms + 999).div_euclid(1_000) * 1_000;
    let fresh = seed(
        300,
        whole_second(watermark),
        whole_second(watermark) + 5_000,
        4,
    );
    let late = seed(200, whole_second(settled), watermark, 5);
    let too_late = seed(100, settled - 60 * MINUTE, settled - 50 * MINUTE, 6);
    let mut events = fresh.events.clone();
    events.extend(late.events.iter().cloned());
    events.extend(too_late.events.iter().cloned());
    put_more(&standins, "/bedrock/late", &events).await;
    // The next cycle settles the first one's lookback once it is a lookback old.
    let settles_at = watermark + LOOKBACK + 1_000;
    tokio::time::sleep(Duration::from_millis(
        u64::try_from(settles_at - now_ms()).unwrap_or(0),
    ))
    .await;

    let output = poll_once(&config);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let mut expected = early.expected;
    expected.add(fresh.expected);
    expected.add(late.expected);
    assert_eq!(stored_totals(&db.store).await, expected);
    // Only the settling lookback and the new seconds were read, not the whole two hours.
    let health = health(&db.store, "late").await;
    assert_eq!(
        health.items_last_cycle,
        (fresh.events.len() + late.events.len()) as i64,
        "{health:?}"
    );
    let stored = fresh.expected.invocations + late.expected.invocations;
    let summary = format!("{stored} imported ({} late)", late.expected.invocations);
    assert!(
        text(&output.stdout).contains(&summary),
        "{summary}: {}",
        text(&output.stdout)
    );
    let (_, settled_after) = logs_marks(&db.store, "late", "/bedrock/late").await;
    assert!(settled_after >= watermark, "{settled_after} < {watermark}");
    db.finish().await;
}

/// What a run of [`poll_steady_stream`] fetched and stored.
struct SteadyRun {
    cycles: u32,
    /// Log events put into the group.
    events: usize,
    /// Log events fetched over all cycles.
    fetched: u64,
    /// Invocations stored over all cycles.
    imported: u64,
    /// Of those, the ones the settle pass found.
    late: u64,
    /// Log events delivered late.
    late_events: usize,
    /// Events the settle pass recognized as stored without parsing them.
    recognized: u64,
    /// Time spent in the cycles.
    polling: Duration,
    expected: Totals,
}

/// Polls a steady stream with the poller itself and a synthetic clock, a cycle a minute with
/// the default settings (15 min lookback, 1 min interval): 20 minutes of traffic in which
/// every tenth event is delivered 2 to 14 minutes late, then cycles until the last late event
/// is older than the lookback.
async fn poll_steady_stream(standins: &StandIns, db: &TestDb) -> SteadyRun {
    use std::sync::Arc;
    use tierwatch::config::{DaemonConfig, SourceConfig};
    use tierwatch::ingest::PricingContext;
    use tierwatch::ingest::record::ParseOptions;
    use tierwatch::sources::CallCounter;
    use tierwatch::sources::cloudwatch_logs::LogsPoller;

    const GROUP: &str = "/bedrock/steady";
    let daemon = DaemonConfig::default();
    let interval = i64::try_from(daemon.logs_interval.as_millis()).unwrap();
    let lookback = i64::try_from(daemon.lookback.as_millis()).unwrap();
    // Hours back, so no timestamp is ahead of the stand-in's clock.
    let base = (now_ms() - 6 * 60 * MINUTE) / MINUTE * MINUTE;
    let data = seed(3_000, base, base + 20 * MINUTE, 10);
    let mut arrivals: Vec<(i64, (i64, String))> = data
        .events
        .iter()
        .enumerate()
        .map(|(index, event)| {
            let delay = if index % 10 == 3 {
                2 * MINUTE + (index as i64 * 7_919) % (12 * MINUTE)
            } else {
                0
            };
            (event.0 + delay, event.clone())
        })
        .collect();
    arrivals.sort_by_key(|(arrival, _)| *arrival);
    let last_arrival = arrivals.last().map_or(base, |(arrival, _)| *arrival);
    let logs = standins.logs_client().await;
    create_log_stream(&logs, GROUP, STREAM).await;

    let source = SourceConfig {
        name: "steady".into(),
        region: "us-east-1".into(),
        account_id: Some(ACCOUNT.into()),
        log_group: Some(GROUP.into()),
        role_arn: None,
        external_id: None,
        endpoint_url: Some(standins.endpoint_url()),
        metrics: false,
        quotas: false,
        backfill_from_ms: Some(base),
        s3: None,
    };
    let (_keep_context, context) = tokio::sync::watch::channel(PricingContext {
        options: Arc::new(ParseOptions::default()),
        prices: Arc::new(crate::support::test_prices()),
    });
    let sdk = standins.sdk_config().await;
    let mut poller = LogsPoller::new(
        &source,
        &daemon,
        &sdk,
        &CallCounter::default(),
        db.store.clone(),
        context,
        500,
    )
    .expect("the source has a log group");
    let (_keep_running, stop) = tokio::sync::watch::channel(false);

    let mut run = SteadyRun {
        cycles: 0,
        events: data.events.len(),
        fetched: 0,
        imported: 0,
        late: 0,
        recognized: 0,
        polling: Duration::ZERO,
        late_events: arrivals
            .iter()
            .filter(|(arrival, event)| *arrival > event.0)
            .count(),
        expected: data.expected,
    };
    let mut delivered = 0;
    let mut now = base;
    while now <= last_arrival + lookback + 2 * interval {
        now += interval;
        let due = arrivals[delivered..].partition_point(|(arrival, _)| *arrival < now);
        let batch: Vec<(i64, String)> = arrivals[delivered..delivered + due]
            .iter()
            .map(|(_, event)| event.clone())
            .collect();
        delivered += due;
        if !batch.is_empty() {
            put_log_events(&logs, GROUP, STREAM, &batch).await;
        }
        let started = Instant::now();
        let cycle = poller.poll(now, &stop).await.expect("a cycle");
        run.polling += started.elapsed();
        run.cycles += 1;
        run.fetched += cycle.fetched();
        run.imported += cycle.imported;
        run.late += cycle.late;
        run.recognized += cycle.recognized;
    }
    assert_eq!(delivered, arrivals.len());
    run
}

/// Late events (inside the lookback) are stored like the others, each once, and no event is
/// fetched more than twice: when new, and when it is a lookback old (re-reading the whole
/// lookback every cycle fetched each about 15 times).
#[tokio::test]
async fn a_steady_stream_with_late_events_is_stored_once_and_fetched_at_most_twice() {
    let standins = StandIns::start().await;
    let db = TestDb::new(Backend::Postgres).await;
    let run = poll_steady_stream(&standins, &db).await;
    let ratio = run.fetched as f64 / run.events as f64;
    println!(
        "{} cycles in {:?}: {} log events ({} late), {} fetched ({ratio:.2} per event), {} invocations stored ({} by the settle pass), {} recognized as stored",
        run.cycles,
        run.polling,
        run.events,
        run.late_events,
        run.fetched,
        run.imported,
        run.late,
        run.recognized
    );
    assert_eq!(stored_totals(&db.store).await, run.expected);
    assert_eq!(run.imported, run.expected.invocations as u64);
    assert_eq!(
        db.store
            .count_invocations(i64::MIN / 2, i64::MAX / 2)
            .await
            .unwrap(),
        run.expected.invocations
    );
    assert!(
        run.late > 0 && run.late <= run.late_events as u64,
        "{} late stored",
        run.late
    );
    assert!(run.fetched <= 2 * run.events as u64, "{ratio:.2} per event");
    // The settle pass re-fetches the events that were on time, and recognizes them.
    assert_eq!(
        run.recognized,
        (run.events - run.late_events) as u64,
        "{} recognized",
        run.recognized
    );
    db.finish().await;
}

#[tokio::test]
async fn throttling_is_retried_with_backoff_and_counted() {
    let standins = StandIns::start().await;
    let db = TestDb::new(Backend::Sqlite).await;
    let dir = tempfile::tempdir().unwrap();
    let now = now_ms();
    let data = seed(400, now - 30 * MINUTE, now - MINUTE, 7);
    seed_group(&standins, "/bedrock/throttled", &data.events).await;
    standins
        .inject_fault(Fault::throttling("FilterLogEvents").times(2))
        .await;
    let config = write_config(
        dir.path(),
        &db,
        &standins,
        &[("throttled", "/bedrock/throttled")],
        "",
    );

    let output = poll_once(&config);
    assert!(
        output.status.success(),
        "{}{}",
        text(&output.stdout),
        text(&output.stderr)
    );
    assert_eq!(stored_totals(&db.store).await, data.expected);
    let health = health(&db.store, "throttled").await;
    let all_calls = standins.calls().await;
    let calls = all_calls["FilterLogEvents"];
    // The cycle's calls include asking Bedrock about the simulated application inference
    // profiles (unknown to the stand-in: their calls stay unpriced).
    let profile_calls = all_calls.get("GetInferenceProfile").copied().unwrap_or(0);
    assert_eq!(
        health.api_calls_last_cycle as u64,
        calls + profile_calls,
        "{health:?}"
    );
    // Three one-hour windows over the 3 h backfill, a page each, plus two throttled attempts.
    assert_eq!(calls, 5);
    db.finish().await;
}

#[tokio::test]
async fn a_source_that_keeps_failing_does_not_hold_up_the_others() {
    let standins = StandIns::start().await;
    let db = TestDb::new(Backend::Postgres).await;
    let dir = tempfile::tempdir().unwrap();
    let now = now_ms();
    let data = seed(300, now - 30 * MINUTE, now - MINUTE, 8);
    seed_group(&standins, "/bedrock/good", &data.events).await;
    let config = write_config(
        dir.path(),
        &db,
        &standins,
        &[
            ("good", "/bedrock/good"),
            ("missing", "/bedrock/no-such-group"),
        ],
        "",
    );
    for attempt in 1..=2 {
        let output = poll_once(&config);
        assert_eq!(output.status.code(), Some(1), "{}", text(&output.stdout));
        let stdout = text(&output.stdout);
        assert!(
            stdout.contains("missing logs: FAILED: FilterLogEvents failed"),
            "{stdout}"
        );
        assert!(stdout.contains("ResourceNotFoundException"), "{stdout}");
        let missing = health(&db.store, "missing").await;
        assert_eq!(missing.consecutive_failures, attempt);
        assert!(missing.last_success_ms.is_none());
    }
    assert_eq!(stored_totals(&db.store).await, data.expected);
    assert_eq!(health(&db.store, "good").await.consecutive_failures, 0);

    // `tierwatch status` shows both, and fails while a source is failing.
    let status = tierwatch(&config, &["status"]).output().unwrap();
    assert_eq!(status.status.code(), Some(1));
    let table = text(&status.stdout);
    let missing = table
        .lines()
        .find(|line| line.starts_with("missing"))
        .unwrap_or_default();
    assert!(
        missing.contains("never") && missing.contains("ResourceNotFoundException"),
        "{table}"
    );
    let good = table
        .lines()
        .find(|line| line.starts_with("good"))
        .unwrap_or_default();
    assert!(
        good.contains("s ago") && !good.contains("Exception"),
        "{table}"
    );
    db.finish().await;
}

/// Starts `tierwatch serve` in the background.
pub(crate) fn serve(config: &Path) -> Child {
    tierwatch(config, &["serve", "--log", "info"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting tierwatch serve")
}

/// Waits until the store holds at least `count` invocations (or `timeout` passes).
/// An application inference profile Bedrock (the stand-in) resolves to Nova Pro.
pub(crate) const PROFILE: &str =
    "arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/team0nova";
/// A profile Bedrock does not know.
pub(crate) const GONE: &str =
    "arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/deleted0";

/// Seeds [`PROFILE`] in us-east-1.
pub(crate) async fn seed_nova_profile(standins: &StandIns) {
    standins
        .seed_inference_profiles(
            "us-east-1",
            &[serde_json::json!({
                "inferenceProfileId": "team0nova",
                "inferenceProfileArn": PROFILE,
                "inferenceProfileName": "team-nova",
                "type": "APPLICATION",
                "models": [{"modelArn": "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-pro-v1:0"}],
            })],
        )
        .await;
}

/// Two calls through the profile resolved to Nova Pro are priced under it, with the test
/// table (1,000 × $0.80 + 500 × $3.20 per 1M each); the calls through `gone` (a profile Bedrock
/// does not know) are the only unpriced ones.
pub(crate) async fn assert_profile_calls_priced(store: &Store, gone: &str, around_ms: i64) {
    let cells = store
        .read_cells(Granularity::Day, 0, i64::MAX / 2)
        .await
        .unwrap();
    let nova: Vec<_> = cells
        .iter()
        .filter(|cell| cell.model_id == "amazon.nova-pro-v1:0")
        .collect();
    assert_eq!(nova.len(), 1, "{cells:?}");
    assert_eq!(nova[0].totals.invocations, 2);
    assert_eq!(
        i128::from(nova[0].totals.cost_pico),
        2 * (1_000 * 800_000 + 500 * 3_200_000)
    );
    let unpriced = store
        .unpriced_groups(around_ms - 86_400_000, around_ms + 86_400_000)
        .await
        .unwrap();
    assert_eq!(unpriced.len(), 1, "{unpriced:?}");
    assert!(unpriced[0].reason.contains(gone), "{unpriced:?}");
}

pub(crate) async fn wait_for_invocations(store: &Store, count: i64, timeout: Duration) -> i64 {
    let started = Instant::now();
    loop {
        let stored = store
            .count_invocations(i64::MIN / 2, i64::MAX / 2)
            .await
            .unwrap_or(0);
        if stored >= count || started.elapsed() > timeout {
            return stored;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A group big enough to kill the daemon in the middle of reading it.
async fn big_group(standins: &StandIns, group: &str) -> Seed {
    let now = now_ms();
    let data = seed(20_000, now - 150 * MINUTE, now - 2 * MINUTE, 9);
    seed_group(standins, group, &data.events).await;
    data
}

#[tokio::test]
async fn killing_the_daemon_at_any_point_loses_and_doubles_nothing() {
    for backend in BACKENDS {
        let standins = StandIns::start().await;
        let db = TestDb::new(backend).await;
        let dir = tempfile::tempdir().unwrap();
        let data = big_group(&standins, "/bedrock/crash").await;
        // Ten-minute windows: many checkpoints to die between.
        let config = write_config(
            dir.path(),
            &db,
            &standins,
            &[("crash", "/bedrock/crash")],
            "window = \"10m\"",
        );
        let expected = data.expected.invocations;
        let mut kills = 0;
        for fraction in [10, 3, 2] {
            let mut daemon = serve(&config);
            let stored =
                wait_for_invocations(&db.store, expected / fraction, Duration::from_secs(120))
                    .await;
            if daemon.try_wait().unwrap().is_none() && stored < expected {
                daemon.kill().unwrap(); // SIGKILL: no chance to finish anything
                kills += 1;
            }
            daemon.wait().unwrap();
        }
        assert!(
            kills >= 2,
            "{backend:?}: the daemon finished before it could be killed"
        );
        // Restarted, it picks up from the last checkpoint and completes.
        let output = poll_once(&config);
        assert!(output.status.success(), "{}", text(&output.stderr));
        assert_eq!(stored_totals(&db.store).await, data.expected, "{backend:?}");
        assert_eq!(
            db.store
                .count_invocations(i64::MIN / 2, i64::MAX / 2)
                .await
                .unwrap(),
            expected,
            "{backend:?}"
        );
        db.finish().await;
    }
}

#[tokio::test]
async fn sigterm_stops_the_daemon_cleanly() {
    let standins = StandIns::start().await;
    let db = TestDb::new(Backend::Sqlite).await;
    let dir = tempfile::tempdir().unwrap();
    let data = big_group(&standins, "/bedrock/term").await;
    let config = write_config(
        dir.path(),
        &db,
        &standins,
        &[("term", "/bedrock/term")],
        "window = \"10m\"",
    );
    let daemon = serve(&config);
    wait_for_invocations(&db.store, 1, Duration::from_secs(60)).await;
    let pid = daemon.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let started = Instant::now();
    let mut daemon = daemon;
    let status = loop {
        if let Some(status) = daemon.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the daemon ignored SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(status.success(), "{status:?}");
    assert!(poll_once(&config).status.success());
    assert_eq!(stored_totals(&db.store).await, data.expected);
    db.finish().await;
}

#[tokio::test]
async fn a_second_replica_takes_over_when_the_polling_one_dies() {
    let standins = StandIns::start().await;
    let db = TestDb::new(Backend::Postgres).await;
    let dir = tempfile::tempdir().unwrap();
    let data = big_group(&standins, "/bedrock/failover").await;
    let config = write_config(
        dir.path(),
        &db,
        &standins,
        &[("failover", "/bedrock/failover")],
        "window = \"10m\"",
    );
    let expected = data.expected.invocations;

    let first = serve(&config);
    let second = serve(&config);
    wait_for_invocations(&db.store, expected / 4, Duration::from_secs(120)).await;
    let leader_id = health_daemon(&db.store).await;
    let (mut leader, mut standby) = if leader_id.ends_with(&format!("/{}", first.id())) {
        (first, second)
    } else {
        assert!(
            leader_id.ends_with(&format!("/{}", second.id())),
            "{leader_id}"
        );
        (second, first)
    };
    assert!(
        leader.try_wait().unwrap().is_none(),
        "the leader finished before it could be killed"
    );
    leader.kill().unwrap();
    leader.wait().unwrap();

    // The standby takes the lock on its next attempt and finishes from the checkpoint.
    let stored = wait_for_invocations(&db.store, expected, Duration::from_secs(120)).await;
    assert_eq!(stored, expected);
    tokio::time::sleep(Duration::from_secs(3)).await; // a cycle after catching up
    assert!(
        health_daemon(&db.store)
            .await
            .ends_with(&format!("/{}", standby.id()))
    );
    standby.kill().unwrap();
    standby.wait().unwrap();
    assert_eq!(stored_totals(&db.store).await, data.expected);
    db.finish().await;
}

async fn health_daemon(store: &Store) -> String {
    let started = Instant::now();
    loop {
        if let Ok(rows) = store.source_health().await
            && let Some(row) = rows.into_iter().next()
        {
            return row.daemon_id;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no health row appeared"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A call through an application inference profile nobody mapped: the poller asks Bedrock
/// (GetInferenceProfile) on first sight, stores the answer and prices the call under the
/// profile's model; the next run asks only about the profile Bedrock does not know, whose
/// calls stay unpriced, with the reason (a running daemon asks about it once a day).
#[tokio::test]
async fn application_inference_profiles_are_resolved_on_first_sight() {
    for backend in BACKENDS {
        let standins = StandIns::start().await;
        seed_nova_profile(&standins).await;
        let db = TestDb::new(backend).await;
        let dir = tempfile::tempdir().unwrap();
        let now = now_ms();
        let record = |id: u32, model: &str| {
            serde_json::json!({
                "schemaType": "ModelInvocationLog", "schemaVersion": "1.0",
                "timestamp": chrono::DateTime::from_timestamp_millis(now - 10 * MINUTE)
                    .unwrap()
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                "accountId": ACCOUNT, "region": "us-east-1",
                "requestId": format!("00000000-0000-4000-8000-{id:012}"),
                "operation": "Converse", "modelId": model,
                "input": {"inputTokenCount": 1_000},
                "output": {"outputTokenCount": 500},
            })
            .to_string()
        };
        let events = vec![
            (now - 10 * MINUTE, record(1, PROFILE)),
            (now - 10 * MINUTE, record(2, PROFILE)),
            (now - 10 * MINUTE, record(3, GONE)),
        ];
        seed_group(&standins, "/bedrock/p", &events).await;
        let config = write_config(dir.path(), &db, &standins, &[("p", "/bedrock/p")], "");

        let output = poll_once(&config);
        assert!(output.status.success(), "{}", text(&output.stderr));
        let calls = standins.calls().await;
        assert_eq!(
            calls.get("GetInferenceProfile").copied(),
            Some(2),
            "{calls:?}"
        );
        assert_profile_calls_priced(&db.store, GONE, now).await;
        let profiles = db.store.inference_profiles().await.unwrap();
        assert_eq!(profiles.len(), 1);
        assert_eq!(
            profiles[0].model_id.as_deref(),
            Some("amazon.nova-pro-v1:0")
        );

        // The next run knows the profile (stored) and asks only about the unknown one, when
        // new calls name them.
        let later = now_ms();
        put_more(
            &standins,
            "/bedrock/p",
            &[(later, record(4, PROFILE)), (later, record(5, GONE))],
        )
        .await;
        let again = poll_once(&config);
        assert!(again.status.success(), "{}", text(&again.stderr));
        let calls = standins.calls().await;
        assert_eq!(
            calls.get("GetInferenceProfile").copied(),
            Some(3),
            "{calls:?}"
        );
        db.finish().await;
    }
}
