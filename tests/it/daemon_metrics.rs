//! The daemon's CloudWatch metrics and Service Quotas polls end to end: the `tierwatch`
//! binary against the stand-ins (moto behind the CBOR front; the front's Service Quotas),
//! seeded through the AWS APIs, into real Postgres and SQLite.
//!
//! The metrics are made from the same simulated traffic as the logs, in every tier form the
//! reference mentions, so the coverage check must find the logs complete except for one
//! model whose log records are held back.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, MetricDatum};
use tierwatch::model::Tier;
use tierwatch::simulate::{SimulationSpec, Simulator, Truth};
use tierwatch::store::Store;

use crate::aws::{
    Fault, StandIns, TEST_REGION, bedrock_quota_fixture, create_log_stream, put_metric_data,
};
use crate::daemon::{ACCOUNT, poll_once, seed_group, text, tierwatch};
use crate::support::{BACKENDS, TestDb};

const MINUTE_MS: i64 = 60_000;
/// Metrics for made-up models, so a window needs more than one GetMetricData call (500
/// queries) and ListMetrics more than one page (500 metrics).
const FILLER_MODELS: usize = 520;

/// Per (model id, model as called, served tier, minute): invocations, input and output
/// tokens.
type Truths = BTreeMap<(String, String, Tier, i64), (f64, f64, f64)>;

struct Traffic {
    /// Log events of every model but `held_back`.
    events: Vec<(i64, String)>,
    truths: Truths,
    /// The model id whose records are not put in the logs.
    held_back: String,
    input_tokens: f64,
}

/// Simulated calls over the last 100 minutes; one model's records are kept out of the logs.
fn traffic(records: u64) -> Traffic {
    let now = chrono::Utc::now().timestamp_millis();
    let mut spec = SimulationSpec::month(2025, 11, records, 11);
    spec.start_ms = now - 100 * MINUTE_MS;
    spec.end_ms = now - 2 * MINUTE_MS;
    spec.accounts = vec![ACCOUNT.into()];
    spec.regions = vec![TEST_REGION.into()];
    spec.bad_record_rate = 0.0;
    spec.duplicate_rate = 0.0;
    let records: Vec<_> = Simulator::new(&spec).expect("a valid simulation").collect();
    let mut models: Vec<String> = records
        .iter()
        .filter_map(|record| match &record.truth {
            Truth::Good(good) => Some(good.model_id.clone()),
            _ => None,
        })
        .collect();
    models.sort();
    let held_back = models.first().cloned().expect("some records");
    let mut traffic = Traffic {
        events: Vec::new(),
        truths: Truths::new(),
        held_back,
        input_tokens: 0.0,
    };
    for record in records {
        let Truth::Good(good) = &record.truth else {
            continue;
        };
        let minute = record.timestamp_ms.div_euclid(MINUTE_MS) * 60;
        let count = |value: Option<u64>| value.unwrap_or(0) as f64;
        let entry = traffic
            .truths
            .entry((
                good.model_id.clone(),
                good.model_called.clone(),
                good.tier,
                minute,
            ))
            .or_default();
        entry.0 += 1.0;
        entry.1 += count(good.tokens.input);
        entry.2 += count(good.tokens.output);
        traffic.input_tokens += count(good.tokens.input);
        if good.model_id != traffic.held_back {
            traffic.events.push((record.timestamp_ms, record.line));
        }
    }
    traffic
}

fn dimension(name: &str, value: &str) -> Dimension {
    Dimension::builder().name(name).value(value).build()
}

fn datum(name: &str, dimensions: Vec<Dimension>, minute_s: i64, value: f64) -> MetricDatum {
    MetricDatum::builder()
        .metric_name(name)
        .set_dimensions(Some(dimensions))
        .timestamp(DateTime::from_secs(minute_s))
        .value(value)
        .build()
}

/// AWS/Bedrock metrics for the traffic, under the model as called. Models take turns among
/// the forms: ModelId alone; ModelId with ResolvedServiceTier plus the same traffic under
/// ModelId alone; a `model-id+tier` ModelId value.
fn metric_data(truths: &Truths) -> Vec<MetricDatum> {
    let mut forms: BTreeMap<&str, usize> = BTreeMap::new();
    for (model_id, ..) in truths.keys() {
        let next = forms.len();
        forms.entry(model_id).or_insert(next % 3);
    }
    let mut data = Vec::new();
    for ((model_id, model, tier, minute), (invocations, input, output)) in truths {
        let tier_name = match tier {
            Tier::Standard => "default",
            other => other.as_str(),
        };
        let dimension_sets = match forms[model_id.as_str()] {
            0 => vec![vec![dimension("ModelId", model)]],
            1 => vec![
                vec![dimension("ModelId", model)],
                vec![
                    dimension("ModelId", model),
                    dimension("ResolvedServiceTier", tier_name),
                ],
            ],
            _ => vec![vec![dimension("ModelId", &format!("{model}+{tier_name}"))]],
        };
        for dimensions in dimension_sets {
            for (name, value) in [
                ("Invocations", invocations),
                ("InputTokenCount", input),
                ("OutputTokenCount", output),
            ] {
                if *value > 0.0 || name == "Invocations" {
                    data.push(datum(name, dimensions.clone(), *minute, *value));
                }
            }
        }
    }
    data
}

fn filler_data(minute_s: i64) -> Vec<MetricDatum> {
    (0..FILLER_MODELS)
        .map(|i| {
            datum(
                "InvocationThrottles",
                vec![dimension("ModelId", &format!("test.filler-{i:03}-v1:0"))],
                minute_s,
                1.0,
            )
        })
        .collect()
}

fn write_config(dir: &Path, db: &TestDb, standins: &StandIns) -> PathBuf {
    let text = format!(
        "[database]\nurl = \"{}\"\n[daemon]\nbackfill = \"3h\"\nmax_attempts = 4\n\
         [[sources]]\nname = \"main\"\nregion = \"{TEST_REGION}\"\naccount_id = \"{ACCOUNT}\"\n\
         log_group = \"/bedrock/main\"\nendpoint_url = \"{}\"\nmetrics = true\nquotas = true\n",
        db.url,
        standins.endpoint_url()
    );
    let path = dir.join("tierwatch.toml");
    std::fs::write(&path, text).expect("writing the config");
    path
}

async fn coverage_by_status(store: &Store) -> BTreeMap<String, Vec<(String, String)>> {
    let mut by_status: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for row in store
        .read_coverage(0, i64::MAX / 2)
        .await
        .expect("coverage")
    {
        by_status
            .entry(row.status.clone())
            .or_default()
            .push((row.model_id.clone(), row.tier.clone()));
    }
    by_status
}

async fn stored_sum(store: &Store, metric: &str) -> f64 {
    // Sum over the ModelId-only series and the suffixed ones: each call counted once.
    store
        .read_metric_points(metric, "Sum", 0, i64::MAX / 2)
        .await
        .expect("metric points")
        .iter()
        .filter(|p| matches!(p.tier_form.as_str(), "none" | "model_suffix"))
        .map(|p| p.value)
        .sum()
}

#[tokio::test]
async fn metrics_and_quotas_are_discovered_stored_and_checked_against_the_logs() {
    for backend in BACKENDS {
        let standins = StandIns::start().await;
        let db = TestDb::new(backend).await;
        let dir = tempfile::tempdir().unwrap();
        let traffic = traffic(400);
        seed_group(&standins, "/bedrock/main", &traffic.events).await;
        let cloudwatch = standins.metrics_client().await;
        let mut data = metric_data(&traffic.truths);
        let first_minute = traffic.truths.keys().map(|k| k.3).min().unwrap();
        data.extend(filler_data(first_minute));
        data.push(datum(
            "InvocationLatency",
            vec![dimension(
                "ModelId",
                &traffic.truths.keys().next().unwrap().0,
            )],
            first_minute,
            850.0,
        ));
        put_metric_data(&cloudwatch, "AWS/Bedrock", data).await;
        standins
            .seed_quotas(TEST_REGION, &bedrock_quota_fixture())
            .await;
        // Two throttling answers: retried by the SDK inside the cycle.
        standins
            .inject_fault(Fault::throttling("GetMetricData").times(2))
            .await;
        let config = write_config(dir.path(), &db, &standins);

        let output = poll_once(&config);
        let stdout = text(&output.stdout);
        assert!(
            output.status.success(),
            "{backend:?}: {stdout}{}",
            text(&output.stderr)
        );
        // The stand-in, unlike AWS, rejects percentiles: latency is read without them.
        assert!(stdout.contains("(percentiles unavailable)"), "{stdout}");

        // Every invocation the metrics count is stored once.
        assert_eq!(
            stored_sum(&db.store, "InputTokenCount").await,
            traffic.input_tokens,
            "{backend:?}"
        );
        let health = db.store.source_health().await.unwrap();
        let metrics = health.iter().find(|h| h.kind == "metrics").unwrap();
        assert_eq!(metrics.last_error, None, "{metrics:?}");
        // 2 ListMetrics pages; one window of 3 h, its queries (> 500) in 2 calls; before them
        // 2 throttled attempts and 1 attempt whose percentiles were rejected.
        let calls = standins.calls().await;
        assert_eq!(calls["ListMetrics"], 2, "{calls:?}");
        assert_eq!(calls["GetMetricData"], 5, "{calls:?}");
        assert_eq!(metrics.api_calls_last_cycle, 7, "{metrics:?}");

        // Coverage: everything agrees but the model kept out of the logs.
        let by_status = coverage_by_status(&db.store).await;
        let missing = &by_status["logs_missing"];
        assert!(
            missing.iter().all(|(model, _)| *model == traffic.held_back),
            "{by_status:?}"
        );
        assert!(!by_status.contains_key("gap"), "{by_status:?}");
        assert!(!by_status.contains_key("metrics_missing"), "{by_status:?}");
        let ok = &by_status["ok"];
        assert!(ok.iter().any(|(_, tier)| tier.is_empty()), "{by_status:?}");
        assert!(ok.iter().any(|(_, tier)| !tier.is_empty()), "{by_status:?}");

        // Quotas: every fixture item stored, launch models matched by name.
        let quotas = db.store.read_quotas().await.unwrap();
        assert_eq!(quotas.len(), bedrock_quota_fixture().len());
        let tpm = quotas
            .iter()
            .find(|q| q.quota_code == "L-9DC5F595")
            .unwrap();
        assert_eq!(tpm.model_id.as_deref(), Some("openai.gpt-oss-120b-1:0"));
        assert_eq!(
            (tpm.scope.as_str(), tpm.quota_kind.as_str()),
            ("on_demand", "tokens_per_minute")
        );

        // A second cycle re-reads the lookback only and changes nothing.
        let before = db.store.read_coverage(0, i64::MAX / 2).await.unwrap().len();
        let again = poll_once(&config);
        assert!(again.status.success(), "{}", text(&again.stderr));
        assert_eq!(
            stored_sum(&db.store, "InputTokenCount").await,
            traffic.input_tokens
        );
        assert_eq!(
            db.store.read_coverage(0, i64::MAX / 2).await.unwrap().len(),
            before
        );
        assert_eq!(db.store.read_quotas().await.unwrap().len(), quotas.len());
        db.finish().await;
    }
}

#[tokio::test]
async fn headroom_sums_every_tier_against_the_shared_quota() {
    let standins = StandIns::start().await;
    let db = TestDb::new(crate::support::Backend::Sqlite).await;
    let dir = tempfile::tempdir().unwrap();
    let now_s = chrono::Utc::now().timestamp();
    let minute = now_s - now_s.rem_euclid(60) - 600;
    let model = "openai.gpt-oss-120b-1:0";
    let tiered = |tier: &str| {
        vec![
            dimension("ModelId", model),
            dimension("ResolvedServiceTier", tier),
        ]
    };
    // Priority and Flex share the 2,000,000 TPM quota: 1,500,000 in the busiest minute.
    let data = vec![
        datum(
            "EstimatedTPMQuotaUsage",
            tiered("priority"),
            minute,
            600_000.0,
        ),
        datum("EstimatedTPMQuotaUsage", tiered("flex"), minute, 900_000.0),
        datum(
            "EstimatedTPMQuotaUsage",
            tiered("flex"),
            minute - 60,
            100_000.0,
        ),
        // Reserved capacity is not part of the on-demand quota.
        datum(
            "EstimatedTPMQuotaUsage",
            tiered("reserved"),
            minute,
            5_000_000.0,
        ),
        datum("Invocations", tiered("priority"), minute, 500.0),
        datum("Invocations", tiered("flex"), minute, 1_000.0),
    ];
    put_metric_data(&standins.metrics_client().await, "AWS/Bedrock", data).await;
    standins
        .seed_quotas(TEST_REGION, &bedrock_quota_fixture())
        .await;
    create_log_stream(&standins.logs_client().await, "/bedrock/main", "empty").await;
    let config = write_config(dir.path(), &db, &standins);
    let output = poll_once(&config);
    assert!(output.status.success(), "{}", text(&output.stderr));

    let rows = tierwatch::headroom::headroom(&db.store, now_s - 3_600, now_s + 60)
        .await
        .unwrap();
    let of = |code: &str| {
        rows.iter()
            .find(|row| row.quota.quota_code == code)
            .unwrap()
    };
    let tpm = of("L-9DC5F595");
    let peak = tpm.peak.as_ref().expect("usage was seen");
    assert_eq!(
        (peak.minute_start, peak.usage, peak.measured_by),
        (minute, 1_500_000.0, "EstimatedTPMQuotaUsage")
    );
    assert_eq!(tpm.utilization(), Some(0.75));
    let rpm = of("L-25B50707");
    assert_eq!(rpm.utilization(), Some(0.75));

    let status = tierwatch(&config, &["status"]).output().unwrap();
    let shown = text(&status.stdout);
    assert!(shown.contains("Quota headroom"), "{shown}");
    assert!(
        shown
            .lines()
            .any(|line| line.contains(model) && line.contains("TPM") && line.contains("75.0%")),
        "{shown}"
    );
    db.finish().await;
}
