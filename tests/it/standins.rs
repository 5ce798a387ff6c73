//! The AWS stand-ins (tests/it/aws.rs) behave like the AWS APIs tierwatch polls, as seen by the
//! real SDK clients over HTTP: paging, time bounds, dimension filters, per-minute statistics,
//! AWS-shaped quotas, and faults the SDK classifies as it classifies real ones.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_config::Region;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_cloudwatch::error::ProvideErrorMetadata;
use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{
    Dimension, DimensionFilter, Metric, MetricDataQuery, MetricDatum, MetricStat, ScanBy,
    StandardUnit, StatusCode,
};
use aws_sdk_servicequotas::types::{AppliedLevelEnum, PeriodUnit};
use serde_json::{Value, json};

use crate::aws::{
    self, Fault, MAX_BYTES_PER_PUT, MAX_EVENTS_PER_PUT, StandIns, TEST_REGION,
    bedrock_quota_fixture, create_log_stream, put_log_events, put_metric_data,
};

const BEDROCK: &str = "AWS/Bedrock";
const GPT_OSS: &str = "openai.gpt-oss-120b-1:0";
const QWEN: &str = "qwen.qwen3-32b-v1:0";

fn now_ms() -> i64 {
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    i64::try_from(since_epoch.as_millis()).unwrap()
}

/// A whole minute half an hour ago: recent enough for any AWS retention rule.
fn recent_minute_secs() -> i64 {
    (now_ms() / 1000 / 60 - 30) * 60
}

fn calls_of(calls: &HashMap<String, u64>, operation: &str) -> u64 {
    calls.get(operation).copied().unwrap_or(0)
}

// --- CloudWatch Logs ----------------------------------------------------------------------------

#[tokio::test]
async fn filter_log_events_pages_through_every_event_once_and_honours_time_bounds() {
    let standins = StandIns::start().await;
    let logs = standins.logs_client().await;
    let group = "bedrock-invocations";
    let stream = "aws/bedrock/modelinvocations";
    create_log_stream(&logs, group, stream).await;

    let first_ms = now_ms() - 2 * 60 * 60 * 1000;
    let events: Vec<(i64, String)> = (0..2_500)
        .rev() // out of order on purpose: the helper sorts
        .map(|n| {
            (
                first_ms + n * 1000,
                format!(r#"{{"requestId":"req-{n:05}","n":{n}}}"#),
            )
        })
        .collect();
    assert_eq!(put_log_events(&logs, group, stream, &events).await, 1);

    let (messages, pages) = filter_all(&logs, group, None, None, 100).await;
    let expected: Vec<String> = (0..2_500)
        .map(|n| format!(r#"{{"requestId":"req-{n:05}","n":{n}}}"#))
        .collect();
    assert_eq!(messages, expected, "every event once, in time order");
    assert_eq!(pages, 25);
    let calls = standins.calls().await;
    assert_eq!(calls_of(&calls, "FilterLogEvents"), 25);
    assert_eq!(calls_of(&calls, "PutLogEvents"), 1);

    // Both bounds are inclusive, as in AWS ("events later than endTime are not returned").
    let start = first_ms + 1_000 * 1000;
    let end = first_ms + 1_999 * 1000;
    let (bounded, _) = filter_all(&logs, group, Some(start), Some(end), 300).await;
    assert_eq!(bounded, expected[1_000..=1_999].to_vec());

    // Several streams come back merged by time, as AWS always interleaves them.
    create_log_stream(&logs, "two-streams", "a").await;
    logs.create_log_stream()
        .log_group_name("two-streams")
        .log_stream_name("b")
        .send()
        .await
        .unwrap();
    let in_stream = |parity: i64| -> Vec<(i64, String)> {
        (0..10)
            .filter(|n| n % 2 == parity)
            .map(|n| (first_ms + n * 1000, format!("event {n}")))
            .collect()
    };
    put_log_events(&logs, "two-streams", "a", &in_stream(0)).await;
    put_log_events(&logs, "two-streams", "b", &in_stream(1)).await;
    let (merged, pages) = filter_all(&logs, "two-streams", None, None, 3).await;
    let in_time_order: Vec<String> = (0..10).map(|n| format!("event {n}")).collect();
    assert_eq!(merged, in_time_order);
    assert_eq!(pages, 4);
}

/// FilterLogEvents until no nextToken: (messages, pages).
async fn filter_all(
    logs: &aws_sdk_cloudwatchlogs::Client,
    group: &str,
    start_time: Option<i64>,
    end_time: Option<i64>,
    limit: i32,
) -> (Vec<String>, usize) {
    let mut messages = Vec::new();
    let mut pages = 0;
    let mut next_token = None;
    loop {
        let page = logs
            .filter_log_events()
            .log_group_name(group)
            .set_start_time(start_time)
            .set_end_time(end_time)
            .limit(limit)
            .set_next_token(next_token)
            .send()
            .await
            .expect("FilterLogEvents");
        pages += 1;
        let events = page.events();
        assert!(events.len() <= limit as usize);
        messages.extend(
            events
                .iter()
                .map(|event| event.message().unwrap().to_string()),
        );
        next_token = page.next_token().map(str::to_string);
        if next_token.is_none() {
            return (messages, pages);
        }
    }
}

#[test]
fn log_batches_respect_put_log_events_limits() {
    let t0 = 1_700_000_000_000;
    // Count: 10,001 small events make two calls.
    let small: Vec<(i64, String)> = (0..10_001).map(|n| (t0 + n, "x".to_string())).collect();
    let small_refs: Vec<&(i64, String)> = small.iter().collect();
    assert_eq!(
        aws::plan_log_batches(&small_refs),
        vec![0..MAX_EVENTS_PER_PUT, MAX_EVENTS_PER_PUT..10_001]
    );

    // Bytes: 100 KiB messages, 26 bytes of overhead each: ten fit in 1 MiB, the eleventh doesn't.
    let big: Vec<(i64, String)> = (0..25).map(|n| (t0 + n, "y".repeat(100 * 1024))).collect();
    let big_refs: Vec<&(i64, String)> = big.iter().collect();
    let batches = aws::plan_log_batches(&big_refs);
    assert_eq!(batches, vec![0..10, 10..20, 20..25]);
    for batch in batches {
        let bytes: usize = big[batch]
            .iter()
            .map(|(_, message)| message.len() + 26)
            .sum();
        assert!(bytes <= MAX_BYTES_PER_PUT);
    }

    // Span: a call covers at most 24 hours.
    let day_ms = 24 * 60 * 60 * 1000;
    let spread = [
        (t0, "a".to_string()),
        (t0 + day_ms, "b".to_string()),
        (t0 + day_ms + 1, "c".to_string()),
    ];
    let spread_refs: Vec<&(i64, String)> = spread.iter().collect();
    assert_eq!(aws::plan_log_batches(&spread_refs), vec![0..2, 2..3]);
    assert!(aws::plan_log_batches(&[]).is_empty());
}

// --- CloudWatch metrics (RPCv2-CBOR) ------------------------------------------------------------

fn dimension(name: &str, value: &str) -> Dimension {
    Dimension::builder().name(name).value(value).build()
}

/// The dimension sets Bedrock publishes per model: the model alone, and with each tier.
fn dimension_sets(model: &str, tier: &str) -> Vec<Vec<Dimension>> {
    vec![
        vec![dimension("ModelId", model)],
        vec![dimension("ModelId", model), dimension("ServiceTier", tier)],
        vec![
            dimension("ModelId", model),
            dimension("ResolvedServiceTier", tier),
        ],
    ]
}

/// Five minutes of AWS/Bedrock data from `base` for GPT OSS (priority) and Qwen (flex), in
/// minute m (0-based): Invocations = m+1, InputTokenCount = 1000(m+1), OutputTokenCount =
/// 200(m+1), and three InvocationLatency samples 100, 200, 600 × (m+1).
fn bedrock_metric_data(base: i64) -> Vec<MetricDatum> {
    let mut data = Vec::new();
    for minute in 0..5 {
        let at = DateTime::from_secs(base + minute * 60);
        let scale = (minute + 1) as f64;
        for (model, tier) in [(GPT_OSS, "priority"), (QWEN, "flex")] {
            for dimensions in dimension_sets(model, tier) {
                let datum = |name: &str, unit: StandardUnit| {
                    MetricDatum::builder()
                        .metric_name(name)
                        .set_dimensions(Some(dimensions.clone()))
                        .timestamp(at)
                        .unit(unit)
                };
                data.push(
                    datum("Invocations", StandardUnit::Count)
                        .value(scale)
                        .build(),
                );
                data.push(
                    datum("InputTokenCount", StandardUnit::Count)
                        .value(1000.0 * scale)
                        .build(),
                );
                data.push(
                    datum("OutputTokenCount", StandardUnit::Count)
                        .value(200.0 * scale)
                        .build(),
                );
                data.push(
                    datum("InvocationLatency", StandardUnit::Milliseconds)
                        .set_values(Some(vec![100.0 * scale, 200.0 * scale, 600.0 * scale]))
                        .build(),
                );
            }
        }
    }
    data
}

fn query(id: &str, metric_name: &str, dimensions: Vec<Dimension>, stat: &str) -> MetricDataQuery {
    let metric = Metric::builder()
        .namespace(BEDROCK)
        .metric_name(metric_name)
        .set_dimensions(Some(dimensions))
        .build();
    MetricDataQuery::builder()
        .id(id)
        .metric_stat(
            MetricStat::builder()
                .metric(metric)
                .period(60)
                .stat(stat)
                .build(),
        )
        .build()
}

async fn list_metric_keys(
    metrics: &aws_sdk_cloudwatch::Client,
    metric_name: Option<&str>,
    filters: Vec<DimensionFilter>,
) -> Vec<String> {
    let page = metrics
        .list_metrics()
        .namespace(BEDROCK)
        .set_metric_name(metric_name.map(str::to_string))
        .set_dimensions(Some(filters))
        .send()
        .await
        .expect("ListMetrics");
    assert!(page.next_token().is_none());
    let mut keys: Vec<String> = page
        .metrics()
        .iter()
        .map(|metric| {
            let mut dims: Vec<String> = metric
                .dimensions()
                .iter()
                .map(|d| format!("{}={}", d.name().unwrap(), d.value().unwrap()))
                .collect();
            dims.sort();
            format!("{} {}", metric.metric_name().unwrap(), dims.join(","))
        })
        .collect();
    keys.sort();
    keys
}

fn filter(name: &str, value: Option<&str>) -> DimensionFilter {
    DimensionFilter::builder()
        .name(name)
        .set_value(value.map(str::to_string))
        .build()
}

#[tokio::test]
async fn metrics_round_trip_through_cbor_with_dimension_filters_statistics_and_paging() {
    let standins = StandIns::start().await;
    let metrics = standins.metrics_client().await;
    let base = recent_minute_secs();
    let data = bedrock_metric_data(base);
    assert_eq!(data.len(), 120);
    assert_eq!(put_metric_data(&metrics, BEDROCK, data).await, 1);

    // ListMetrics: each metric once (4 names x 2 models x 3 dimension sets), whatever the
    // number of datapoints, and dimension filters by name alone or name and value.
    assert_eq!(list_metric_keys(&metrics, None, vec![]).await.len(), 24);
    let tiered = list_metric_keys(&metrics, None, vec![filter("ServiceTier", None)]).await;
    assert_eq!(tiered.len(), 8);
    assert!(tiered.iter().all(|key| key.contains("ServiceTier=")));
    assert_eq!(
        list_metric_keys(
            &metrics,
            Some("Invocations"),
            vec![filter("ModelId", Some(QWEN))]
        )
        .await,
        vec![
            format!("Invocations ModelId={QWEN}"),
            format!("Invocations ModelId={QWEN},ResolvedServiceTier=flex"),
            format!("Invocations ModelId={QWEN},ServiceTier=flex"),
        ]
    );

    // moto's own errors reach the SDK in the CBOR error shape, with CloudWatch's query-protocol
    // code (InvalidParameterValue for InvalidParameterValueException).
    let error = metrics
        .list_metrics()
        .next_token("not-a-token")
        .send()
        .await
        .expect_err("an unknown NextToken fails");
    assert_eq!(error.code(), Some("InvalidParameterValue"));
    assert_eq!(error.raw_response().map(|r| r.status().as_u16()), Some(400));

    // GetMetricData: per-minute values for several statistics. The Qwen query names its
    // dimensions in the other order than PutMetricData did, which AWS ignores.
    let queries = vec![
        query(
            "gpt_invocations",
            "Invocations",
            dimension_sets(GPT_OSS, "priority")[1].clone(),
            "Sum",
        ),
        query(
            "gpt_latency",
            "InvocationLatency",
            dimension_sets(GPT_OSS, "priority")[0].clone(),
            "Average",
        ),
        query(
            "gpt_samples",
            "InvocationLatency",
            dimension_sets(GPT_OSS, "priority")[0].clone(),
            "SampleCount",
        ),
        query(
            "qwen_input",
            "InputTokenCount",
            vec![
                dimension("ResolvedServiceTier", "flex"),
                dimension("ModelId", QWEN),
            ],
            "Sum",
        ),
        query(
            "qwen_output_max",
            "OutputTokenCount",
            dimension_sets(QWEN, "flex")[2].clone(),
            "Maximum",
        ),
    ];
    let scaled = |factor: f64| (1..=5).map(|m| factor * m as f64).collect::<Vec<f64>>();
    let expected: HashMap<&str, Vec<f64>> = HashMap::from([
        ("gpt_invocations", scaled(1.0)),
        ("gpt_latency", scaled(300.0)),
        ("gpt_samples", vec![3.0; 5]),
        ("qwen_input", scaled(1000.0)),
        ("qwen_output_max", scaled(200.0)),
    ]);
    let minutes: Vec<DateTime> = (0..5).map(|m| DateTime::from_secs(base + m * 60)).collect();

    let (unpaged, pages) = get_metric_data_all(&metrics, base, queries.clone(), None).await;
    assert_eq!(pages, 1);
    for (id, values) in &expected {
        assert_eq!(&unpaged[*id].1, values, "{id}");
        assert_eq!(
            unpaged[*id].0, minutes,
            "{id}: one timestamp per minute, ascending"
        );
    }

    // Paging: 25 datapoints, 7 per page.
    let calls_before = calls_of(&standins.calls().await, "GetMetricData");
    let (paged, pages) = get_metric_data_all(&metrics, base, queries, Some(7)).await;
    assert_eq!(pages, 4);
    assert_eq!(
        calls_of(&standins.calls().await, "GetMetricData") - calls_before,
        4
    );
    assert_eq!(paged, unpaged);

    // A NextToken the service does not know is the modelled InvalidNextToken error.
    let error = metrics
        .get_metric_data()
        .start_time(DateTime::from_secs(base))
        .end_time(DateTime::from_secs(base + 300))
        .metric_data_queries(query("q", "Invocations", vec![], "Sum"))
        .next_token("not-a-token")
        .send()
        .await
        .expect_err("an unknown NextToken fails");
    assert_eq!(error.raw_response().map(|r| r.status().as_u16()), Some(400));
    assert!(error.into_service_error().is_invalid_next_token());

    // moto 5.2.5 computes Sum, Average, Minimum, Maximum and SampleCount only: the front turns a
    // percentile query into an error that says so, instead of letting moto crash.
    let error = metrics
        .get_metric_data()
        .start_time(DateTime::from_secs(base))
        .end_time(DateTime::from_secs(base + 300))
        .metric_data_queries(query(
            "p95",
            "InvocationLatency",
            dimension_sets(QWEN, "flex")[0].clone(),
            "p95",
        ))
        .send()
        .await
        .expect_err("p95 is not computed by moto");
    assert_eq!(error.code(), Some("InvalidParameterValue"));
    assert!(
        error.message().unwrap().contains("stand-in limitation"),
        "{error:?}"
    );
}

/// Ids mapped to (timestamps, values) over all pages, and the number of pages.
async fn get_metric_data_all(
    metrics: &aws_sdk_cloudwatch::Client,
    base: i64,
    queries: Vec<MetricDataQuery>,
    max_datapoints: Option<i32>,
) -> (HashMap<String, (Vec<DateTime>, Vec<f64>)>, usize) {
    let mut results: HashMap<String, (Vec<DateTime>, Vec<f64>)> = HashMap::new();
    let mut complete = BTreeSet::new();
    let mut pages = 0;
    let mut next_token = None;
    loop {
        let page = metrics
            .get_metric_data()
            .start_time(DateTime::from_secs(base))
            .end_time(DateTime::from_secs(base + 300))
            .scan_by(ScanBy::TimestampAscending)
            .set_metric_data_queries(Some(queries.clone()))
            .set_max_datapoints(max_datapoints)
            .set_next_token(next_token)
            .send()
            .await
            .expect("GetMetricData");
        pages += 1;
        for result in page.metric_data_results() {
            let id = result.id().unwrap().to_string();
            assert!(
                !complete.contains(&id),
                "{id} said Complete before its last part"
            );
            if result.status_code() == Some(&StatusCode::Complete) {
                complete.insert(id.clone());
            }
            let entry = results.entry(id).or_default();
            entry.0.extend_from_slice(result.timestamps());
            entry.1.extend_from_slice(result.values());
        }
        next_token = page.next_token().map(str::to_string);
        if next_token.is_none() {
            assert_eq!(complete.len(), queries.len(), "every query ends Complete");
            return (results, pages);
        }
    }
}

#[tokio::test]
async fn list_metrics_pages_beyond_500_metrics() {
    let standins = StandIns::start().await;
    let metrics = standins.metrics_client().await;
    let at = DateTime::from_secs(recent_minute_secs());
    let data: Vec<MetricDatum> = (0..1_200)
        .map(|n| {
            MetricDatum::builder()
                .metric_name("Invocations")
                .dimensions(dimension("ModelId", &format!("model-{n:04}")))
                .timestamp(at)
                .value(1.0)
                .build()
        })
        .collect();
    assert_eq!(
        put_metric_data(&metrics, BEDROCK, data).await,
        2,
        "1,000 items per call"
    );

    let mut models = Vec::new();
    let mut page_sizes = Vec::new();
    let mut next_token = None;
    loop {
        let page = metrics
            .list_metrics()
            .namespace(BEDROCK)
            .metric_name("Invocations")
            .set_next_token(next_token)
            .send()
            .await
            .expect("ListMetrics");
        page_sizes.push(page.metrics().len());
        for metric in page.metrics() {
            models.push(metric.dimensions()[0].value().unwrap().to_string());
        }
        next_token = page.next_token().map(str::to_string);
        if next_token.is_none() {
            break;
        }
    }
    assert_eq!(page_sizes, vec![500, 500, 200]);
    let distinct: BTreeSet<&String> = models.iter().collect();
    assert_eq!(distinct.len(), 1_200, "each metric exactly once");
}

// --- Service Quotas -----------------------------------------------------------------------------

#[test]
fn quota_fixture_codes_and_names_come_from_the_real_quota_index() {
    let index =
        std::fs::read_to_string(crate::support::fixture("quotas/quota-index-subset.csv")).unwrap();
    let real: BTreeSet<(String, String)> = index
        .lines()
        .skip(1)
        .map(|line| {
            let fields: Vec<&str> = line.splitn(5, ',').collect();
            (fields[3].to_string(), fields[4].to_string())
        })
        .collect();
    let fixture = bedrock_quota_fixture();
    assert_eq!(fixture.len(), 25);
    for item in &fixture {
        let pair = (
            item["QuotaCode"].as_str().unwrap().to_string(),
            item["QuotaName"].as_str().unwrap().to_string(),
        );
        assert!(real.contains(&pair), "{pair:?} is not in the quota index");
    }
}

fn usage_metric_quota() -> Value {
    json!({
        "ServiceCode": "bedrock",
        "QuotaCode": "L-STANDIN1",
        "QuotaName": "Stand-in test quota with a usage metric and a period",
        "Value": 12,
        "Adjustable": true,
        "GlobalQuota": true,
        "UsageMetric": {
            "MetricNamespace": "AWS/Usage",
            "MetricName": "CallCount",
            "MetricDimensions": {"Service": "Bedrock", "Type": "API", "Resource": "InvokeModel", "Class": "None"},
            "MetricStatisticRecommendation": "Sum"
        },
        "Period": {"PeriodValue": 1, "PeriodUnit": "MINUTE"}
    })
}

#[tokio::test]
async fn list_service_quotas_pages_through_seeded_quotas_and_the_fields_parse() {
    let standins = StandIns::start().await;
    let quotas = standins.quotas_client().await;
    let mut seeded = bedrock_quota_fixture();
    seeded.push(usage_metric_quota());
    seeded.push(json!({
        "ServiceCode": "bedrock", "QuotaCode": "L-STANDIN2", "QuotaName": "A resource-level quota",
        "Value": 1, "QuotaAppliedAtLevel": "RESOURCE"
    }));
    standins.seed_quotas(TEST_REGION, &seeded).await;

    let mut items = Vec::new();
    let mut pages = 0;
    let mut next_token = None;
    loop {
        let page = quotas
            .list_service_quotas()
            .service_code("bedrock")
            .max_results(10)
            .set_next_token(next_token)
            .send()
            .await
            .expect("ListServiceQuotas");
        pages += 1;
        assert!(page.quotas().len() <= 10);
        items.extend(page.quotas().iter().cloned());
        next_token = page.next_token().map(str::to_string);
        if next_token.is_none() {
            break;
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(calls_of(&standins.calls().await, "ListServiceQuotas"), 3);
    // The account-level ones (the default filter), each once.
    let codes: BTreeSet<&str> = items.iter().map(|q| q.quota_code().unwrap()).collect();
    assert_eq!(items.len(), 26);
    assert_eq!(codes.len(), 26);
    assert!(!codes.contains("L-STANDIN2"));

    let tpm = items
        .iter()
        .find(|q| q.quota_code() == Some("L-9DC5F595"))
        .unwrap();
    assert_eq!(tpm.service_code(), Some("bedrock"));
    assert_eq!(tpm.service_name(), Some("Amazon Bedrock"));
    assert_eq!(
        tpm.quota_arn(),
        Some("arn:aws:servicequotas:us-east-1:123456789012:bedrock/L-9DC5F595")
    );
    assert_eq!(
        tpm.quota_name(),
        Some("On-demand model inference tokens per minute for OpenAI GPT OSS 120B")
    );
    assert_eq!(tpm.value(), Some(2_000_000.0));
    assert_eq!(tpm.unit(), Some("None"));
    assert!(tpm.adjustable());
    assert!(!tpm.global_quota());
    assert_eq!(
        tpm.quota_applied_at_level(),
        Some(&AppliedLevelEnum::Account)
    );
    assert!(
        tpm.description()
            .unwrap()
            .starts_with("The maximum number of on-demand tokens")
    );
    assert!(tpm.usage_metric().is_none());
    let per_day = items
        .iter()
        .find(|q| q.quota_code() == Some("L-D690997B"))
        .unwrap();
    assert!(!per_day.adjustable());

    let with_usage = items
        .iter()
        .find(|q| q.quota_code() == Some("L-STANDIN1"))
        .unwrap();
    assert_eq!(with_usage.value(), Some(12.0));
    assert!(with_usage.global_quota());
    assert_eq!(
        with_usage.service_name(),
        Some("Amazon Bedrock"),
        "filled in when left out"
    );
    let usage = with_usage.usage_metric().unwrap();
    assert_eq!(usage.metric_namespace(), Some("AWS/Usage"));
    assert_eq!(usage.metric_name(), Some("CallCount"));
    assert_eq!(
        usage.metric_dimensions().unwrap()["Resource"],
        "InvokeModel"
    );
    assert_eq!(usage.metric_statistic_recommendation(), Some("Sum"));
    let period = with_usage.period().unwrap();
    assert_eq!(period.period_value(), Some(1));
    assert_eq!(period.period_unit(), Some(&PeriodUnit::Minute));

    // The SDK's own paginator sees the same, all levels included.
    let all_levels: Vec<_> = quotas
        .list_service_quotas()
        .service_code("bedrock")
        .quota_applied_at_level(AppliedLevelEnum::All)
        .max_results(7)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .expect("paginated ListServiceQuotas");
    assert_eq!(all_levels.len(), 27);

    // Filter by quota code; an unknown token is the modelled error.
    let one = quotas
        .list_service_quotas()
        .service_code("bedrock")
        .quota_code("L-CE33604C")
        .send()
        .await
        .unwrap();
    assert_eq!(one.quotas().len(), 1);
    assert_eq!(one.quotas()[0].value(), Some(800_000.0));
    let error = quotas
        .list_service_quotas()
        .service_code("bedrock")
        .next_token("bogus")
        .send()
        .await
        .expect_err("an unknown token fails");
    assert!(
        error
            .into_service_error()
            .is_invalid_pagination_token_exception()
    );

    // Quotas are per region: the stand-in reads the region from the request's signature.
    let config = standins
        .sdk_config()
        .await
        .into_builder()
        .region(Region::new("eu-west-1"))
        .build();
    let eu = aws_sdk_servicequotas::Client::new(&config);
    let none = eu
        .list_service_quotas()
        .service_code("bedrock")
        .send()
        .await
        .unwrap();
    assert!(none.quotas().is_empty());
    let nova_pro = json!({"ServiceCode": "bedrock", "QuotaCode": "L-CE33604C",
        "QuotaName": "On-demand model inference tokens per minute for Amazon Nova Pro", "Value": 400000});
    standins.seed_quotas("eu-west-1", &[nova_pro]).await;
    let seeded = eu
        .list_service_quotas()
        .service_code("bedrock")
        .send()
        .await
        .unwrap();
    assert_eq!(seeded.quotas().len(), 1);
    assert_eq!(
        seeded.quotas()[0].quota_arn(),
        Some("arn:aws:servicequotas:eu-west-1:123456789012:bedrock/L-CE33604C"),
        "filled in from the region"
    );
    assert_eq!(seeded.quotas()[0].value(), Some(400_000.0));
}

// --- Faults -------------------------------------------------------------------------------------

fn fast_retries(max_attempts: u32) -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(max_attempts)
        .with_initial_backoff(Duration::from_millis(5))
}

#[tokio::test]
async fn faults_on_filter_log_events_are_classified_and_retried_like_aws_throttling() {
    let standins = StandIns::start().await;
    let config = standins.sdk_config().await;
    let logs = aws_sdk_cloudwatchlogs::Client::new(&config);
    create_log_stream(&logs, "group", "stream").await;
    put_log_events(
        &logs,
        "group",
        "stream",
        &[(now_ms() - 1000, "hello".to_string())],
    )
    .await;
    let filter = |client: &aws_sdk_cloudwatchlogs::Client| {
        client.filter_log_events().log_group_name("group").send()
    };

    // Retries off: the throttling error itself.
    standins
        .inject_fault(Fault::throttling("FilterLogEvents").times(1))
        .await;
    let error = filter(&logs).await.expect_err("throttled");
    assert_eq!(error.code(), Some("ThrottlingException"));
    assert_eq!(error.message(), Some("Rate exceeded"));
    assert_eq!(error.raw_response().map(|r| r.status().as_u16()), Some(400));
    assert_eq!(
        filter(&logs).await.unwrap().events().len(),
        1,
        "times(1) is used up"
    );

    // Standard retries: two throttles, then the answer, in three calls.
    let retrying = aws_sdk_cloudwatchlogs::Client::from_conf(
        aws_sdk_cloudwatchlogs::config::Builder::from(&config)
            .retry_config(fast_retries(3))
            .build(),
    );
    let before = calls_of(&standins.calls().await, "FilterLogEvents");
    standins
        .inject_fault(Fault::throttling("FilterLogEvents").times(2))
        .await;
    assert_eq!(filter(&retrying).await.unwrap().events().len(), 1);
    assert_eq!(
        calls_of(&standins.calls().await, "FilterLogEvents") - before,
        3
    );

    // A fault without `times` stays: the SDK gives up after its three attempts.
    let before = calls_of(&standins.calls().await, "FilterLogEvents");
    standins
        .inject_fault(Fault::unavailable("FilterLogEvents"))
        .await;
    let error = filter(&retrying).await.expect_err("always unavailable");
    assert_eq!(error.code(), Some("ServiceUnavailable"));
    assert_eq!(error.raw_response().map(|r| r.status().as_u16()), Some(503));
    assert_eq!(
        calls_of(&standins.calls().await, "FilterLogEvents") - before,
        3
    );

    // Reset clears the fault, the counts and moto's data (the log group is gone).
    standins.reset().await;
    assert!(standins.calls().await.is_empty());
    let error = filter(&logs).await.expect_err("the group is gone");
    assert_eq!(error.code(), Some("ResourceNotFoundException"));

    // A delay: an operation timeout shorter than it fails; times(1) then is used up.
    create_log_stream(&logs, "group", "stream").await;
    standins
        .inject_fault(Fault::delay("FilterLogEvents", Duration::from_secs(3)).times(1))
        .await;
    let impatient = aws_sdk_cloudwatchlogs::Client::from_conf(
        aws_sdk_cloudwatchlogs::config::Builder::from(&config)
            .timeout_config(
                TimeoutConfig::builder()
                    .operation_timeout(Duration::from_millis(500))
                    .build(),
            )
            .build(),
    );
    let error = filter(&impatient)
        .await
        .expect_err("slower than the timeout");
    assert!(
        matches!(
            error,
            aws_sdk_cloudwatchlogs::error::SdkError::TimeoutError(_)
        ),
        "{error:?}"
    );
    let started = std::time::Instant::now();
    assert!(filter(&logs).await.is_ok());
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn faults_on_get_metric_data_come_back_in_the_cbor_error_shape() {
    let standins = StandIns::start().await;
    let config = standins.sdk_config().await;
    let metrics = aws_sdk_cloudwatch::Client::new(&config);
    let base = recent_minute_secs();
    put_metric_data(&metrics, BEDROCK, bedrock_metric_data(base)).await;
    let get = |client: &aws_sdk_cloudwatch::Client| {
        client
            .get_metric_data()
            .start_time(DateTime::from_secs(base))
            .end_time(DateTime::from_secs(base + 300))
            .metric_data_queries(query(
                "q",
                "Invocations",
                dimension_sets(GPT_OSS, "priority")[0].clone(),
                "Sum",
            ))
            .send()
    };

    // Retries off: the throttling error itself, after the injected delay.
    let delay = Duration::from_millis(200);
    standins
        .inject_fault(
            Fault::throttling("GetMetricData")
                .with_delay(delay)
                .times(1),
        )
        .await;
    let started = std::time::Instant::now();
    let error = get(&metrics).await.expect_err("throttled");
    assert!(started.elapsed() >= delay);
    assert_eq!(error.code(), Some("ThrottlingException"));
    assert_eq!(error.message(), Some("Rate exceeded"));
    assert_eq!(error.raw_response().map(|r| r.status().as_u16()), Some(400));

    let retrying = aws_sdk_cloudwatch::Client::from_conf(
        aws_sdk_cloudwatch::config::Builder::from(&config)
            .retry_config(fast_retries(3))
            .build(),
    );
    for fault in [
        Fault::throttling("GetMetricData"),
        Fault::unavailable("GetMetricData"),
    ] {
        let before = calls_of(&standins.calls().await, "GetMetricData");
        standins.inject_fault(fault.times(2)).await;
        let answer = get(&retrying).await.expect("the third attempt succeeds");
        // AWS's default order is TimestampDescending.
        assert_eq!(
            answer.metric_data_results()[0].values(),
            &[5.0, 4.0, 3.0, 2.0, 1.0]
        );
        assert_eq!(
            calls_of(&standins.calls().await, "GetMetricData") - before,
            3
        );
    }
    // Other operations are not affected by GetMetricData's faults.
    assert_eq!(calls_of(&standins.calls().await, "PutMetricData"), 1);
}

#[tokio::test]
async fn faults_on_list_service_quotas_are_classified_and_retried() {
    let standins = StandIns::start().await;
    standins
        .seed_quotas(TEST_REGION, &bedrock_quota_fixture())
        .await;
    let config = standins.sdk_config().await;
    let quotas = aws_sdk_servicequotas::Client::new(&config);
    let list = |client: &aws_sdk_servicequotas::Client| {
        client
            .list_service_quotas()
            .service_code("bedrock")
            .max_results(100)
            .send()
    };

    // A fault for another service's operation of the same name does not fire here.
    standins
        .inject_fault(Fault::throttling("ListServiceQuotas").for_service("logs"))
        .await;
    assert_eq!(list(&quotas).await.unwrap().quotas().len(), 25);

    // Service Quotas throttles with its modelled TooManyRequestsException.
    let throttle = || {
        Fault::error("ListServiceQuotas", 400, "TooManyRequestsException").message("Rate exceeded")
    };
    standins.inject_fault(throttle().times(1)).await;
    let error = list(&quotas).await.expect_err("throttled");
    assert_eq!(error.code(), Some("TooManyRequestsException"));
    assert!(error.into_service_error().is_too_many_requests_exception());

    let retrying = aws_sdk_servicequotas::Client::from_conf(
        aws_sdk_servicequotas::config::Builder::from(&config)
            .retry_config(fast_retries(3))
            .build(),
    );
    let before = calls_of(&standins.calls().await, "ListServiceQuotas");
    standins.inject_fault(throttle().times(2)).await;
    assert_eq!(list(&retrying).await.unwrap().quotas().len(), 25);
    assert_eq!(
        calls_of(&standins.calls().await, "ListServiceQuotas") - before,
        3
    );
}

// --- Network ------------------------------------------------------------------------------------

/// The local addresses of the listening TCP sockets on `port` (from /proc/net/tcp and tcp6).
fn listening_addresses(port: u16) -> Vec<String> {
    let mut addresses = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let text = std::fs::read_to_string(table).unwrap_or_default();
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (address, hex_port) = fields[1].split_once(':').unwrap();
            let listening = fields[3] == "0A";
            if listening && u16::from_str_radix(hex_port, 16) == Ok(port) {
                addresses.push(format!("{table} {address}"));
            }
        }
    }
    addresses
}

fn port_of(url: &str) -> u16 {
    url.rsplit(':').next().unwrap().parse().unwrap()
}

#[tokio::test]
async fn stand_ins_listen_on_127_0_0_1_only() {
    let standins = StandIns::start().await;
    for url in [standins.endpoint_url(), standins.moto_url()] {
        assert!(url.starts_with("http://127.0.0.1:"), "{url}");
        // 127.0.0.1 is 0100007F in /proc's little-endian hex; nothing on other addresses or IPv6.
        assert_eq!(
            listening_addresses(port_of(&url)),
            vec!["/proc/net/tcp 0100007F".to_string()],
            "{url}"
        );
    }
}
