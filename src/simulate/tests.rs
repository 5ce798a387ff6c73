//! Tests of the generator as a whole. Each good line is read back here with `serde_json::Value`
//! and a small resolver written independently of the renderer, so a record and its `Expected`
//! cannot agree by construction.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use super::catalog::MODELS;
use super::clock::{MS_PER_HOUR, UtcTime};
use super::*;

fn generate(spec: &SimulationSpec) -> Vec<SimulatedRecord> {
    Simulator::new(spec).unwrap().collect()
}

fn parse(line: &str) -> Value {
    serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"))
}

fn good(records: &[SimulatedRecord]) -> impl Iterator<Item = (&SimulatedRecord, &Expected)> {
    records.iter().filter_map(|r| match &r.truth {
        Truth::Good(expected) => Some((r, expected)),
        _ => None,
    })
}

fn launch_models() -> HashSet<&'static str> {
    MODELS
        .iter()
        .filter(|m| m.flex_and_priority)
        .map(|m| m.id)
        .collect()
}

// ---------------------------------------------------------------------------------------------
// An independent reader of the records, following the reference's rules.
// ---------------------------------------------------------------------------------------------

fn normalize_model(called: &str) -> (String, Routing, bool) {
    if called.contains(":application-inference-profile/") {
        return (called.to_string(), Routing::InRegion, false);
    }
    let id = if called.starts_with("arn:") {
        called.rsplit_once('/').unwrap().1
    } else {
        called
    };
    for (prefix, routing) in [
        ("us.", Routing::Geo),
        ("eu.", Routing::Geo),
        ("apac.", Routing::Geo),
        ("global.", Routing::Global),
    ] {
        if let Some(bare) = id.strip_prefix(prefix) {
            return (bare.to_string(), routing, true);
        }
    }
    (id.to_string(), Routing::InRegion, true)
}

fn tier_from(name: Option<&str>) -> Option<Tier> {
    name.map(|n| Tier::parse(n).unwrap().unwrap())
}

/// Response body, then request body, then requestMetadata, else assumed Standard.
fn read_tier(record: &Value) -> (Tier, TierSource) {
    let response = &record["output"]["outputBodyJson"];
    let response_tier = match response {
        Value::Array(chunks) => chunks.iter().find_map(|c| c["service_tier"].as_str()),
        _ => response["serviceTier"]["type"]
            .as_str()
            .or(response["service_tier"].as_str()),
    };
    if let Some(tier) = tier_from(response_tier) {
        return (tier, TierSource::ResponseBody);
    }
    let request = &record["input"]["inputBodyJson"];
    let request_tier = request["serviceTier"]["type"]
        .as_str()
        .or(request["service_tier"].as_str())
        .or(request["additionalModelRequestFields"]["service_tier"].as_str());
    if let Some(tier) = tier_from(request_tier) {
        return (tier, TierSource::RequestBody);
    }
    if let Some(tier) = tier_from(record["requestMetadata"]["service_tier"].as_str()) {
        return (tier, TierSource::RequestMetadata);
    }
    (Tier::Standard, TierSource::Assumed)
}

fn read_tokens(record: &Value) -> TokenCounts {
    TokenCounts {
        input: record["input"]["inputTokenCount"].as_u64(),
        output: record["output"]["outputTokenCount"].as_u64(),
        cache_read: record["input"]["cacheReadInputTokenCount"].as_u64(),
        cache_write: record["input"]["cacheWriteInputTokenCount"].as_u64(),
    }
}

fn as_u32(value: &Value) -> Option<u32> {
    value.as_u64().map(|v| u32::try_from(v).unwrap())
}

/// (latency, time to first token) from the response body.
fn read_latency(record: &Value) -> (Option<u32>, Option<u32>) {
    match &record["output"]["outputBodyJson"] {
        Value::Array(chunks) => {
            let metrics = &chunks.last().unwrap()["amazon-bedrock-invocationMetrics"];
            (
                as_u32(&metrics["invocationLatency"]),
                as_u32(&metrics["firstByteLatency"]),
            )
        }
        body => (as_u32(&body["metrics"]["latencyMs"]), None),
    }
}

/// The body's own usage must repeat the envelope's counts, in each format's words.
fn check_body_usage(record: &Value, tokens: &TokenCounts) {
    let body = &record["output"]["outputBodyJson"];
    if body.is_null() {
        return;
    }
    let input = tokens.input.unwrap();
    let output = tokens.output.unwrap();
    let cache_read = tokens.cache_read.unwrap_or(0);
    let cache_write = tokens.cache_write.unwrap_or(0);
    let operation = record["operation"].as_str().unwrap();
    if operation.starts_with("Converse") {
        let usage = &body["usage"];
        assert_eq!(usage["inputTokens"].as_u64(), Some(input));
        assert_eq!(usage["outputTokens"].as_u64(), Some(output));
        assert_eq!(usage["cacheReadInputTokens"].as_u64(), tokens.cache_read);
        assert_eq!(usage["cacheWriteInputTokens"].as_u64(), tokens.cache_write);
        let total = input + output + cache_read + cache_write;
        assert_eq!(usage["totalTokens"].as_u64(), Some(total));
        assert!(body["output"]["message"]["content"].is_array());
        return;
    }
    let chunks: Vec<&Value> = match body {
        Value::Array(chunks) => chunks.iter().collect(),
        single => vec![single],
    };
    if operation == "InvokeModelWithResponseStream" {
        let metrics = &chunks.last().unwrap()["amazon-bedrock-invocationMetrics"];
        if !metrics.is_null() {
            assert_eq!(metrics["inputTokenCount"].as_u64(), Some(input));
            assert_eq!(metrics["outputTokenCount"].as_u64(), Some(output));
        }
    }
    let last = chunks.last().unwrap();
    let first = chunks.first().unwrap();
    if let Some(usage) = chunks
        .iter()
        .map(|c| &c["usage"])
        .find(|u| u["prompt_tokens"].is_u64())
    {
        assert_eq!(usage["prompt_tokens"].as_u64(), Some(input));
        assert_eq!(usage["completion_tokens"].as_u64(), Some(output));
    } else if let Some(usage) = chunks
        .iter()
        .map(|c| {
            if c["metadata"].is_object() {
                &c["metadata"]["usage"]
            } else {
                &c["usage"]
            }
        })
        .find(|u| u["inputTokens"].is_u64())
    {
        // Nova native: cache counts always stated, in the envelope too.
        assert_eq!(usage["inputTokens"].as_u64(), Some(input));
        assert_eq!(usage["outputTokens"].as_u64(), Some(output));
        assert_eq!(
            usage["cacheReadInputTokenCount"].as_u64(),
            tokens.cache_read
        );
        assert_eq!(
            usage["cacheWriteInputTokenCount"].as_u64(),
            tokens.cache_write
        );
    } else if first["type"] == "message_start" || first["type"] == "message" {
        let usage = if first["type"] == "message" {
            &first["usage"]
        } else {
            &first["message"]["usage"]
        };
        assert_eq!(usage["input_tokens"].as_u64(), Some(input));
        assert_eq!(usage["cache_read_input_tokens"].as_u64(), tokens.cache_read);
        assert_eq!(
            usage["cache_creation_input_tokens"].as_u64(),
            tokens.cache_write
        );
        let output_usage = chunks
            .iter()
            .rev()
            .find_map(|c| c["usage"]["output_tokens"].as_u64());
        assert_eq!(output_usage, Some(output));
    } else {
        assert_eq!(first["prompt_token_count"].as_u64(), Some(input));
        assert_eq!(last["generation_token_count"].as_u64(), Some(output));
    }
}

fn rfc3339_ok(text: &str) -> bool {
    let bytes = text.as_bytes();
    text.len() == 20
        && bytes[4] == b'-'
        && bytes[10] == b'T'
        && bytes[19] == b'Z'
        && chrono::DateTime::parse_from_rfc3339(text).is_ok()
}

// ---------------------------------------------------------------------------------------------

#[test]
fn same_seed_gives_the_same_lines_and_another_seed_does_not() {
    let spec = SimulationSpec::month(2025, 3, 2_000, 11);
    let first = generate(&spec);
    let second = generate(&spec);
    assert_eq!(first, second);
    let other = generate(&SimulationSpec { seed: 12, ..spec });
    let differing = first
        .iter()
        .zip(&other)
        .filter(|(a, b)| a.line != b.line)
        .count();
    assert!(differing > 1_990, "{differing}");
}

#[test]
fn good_lines_are_valid_records_with_the_envelope() {
    let spec = SimulationSpec::month(2025, 6, 3_000, 3);
    let records = generate(&spec);
    assert_eq!(records.len(), 3_000);
    let mut first_keys = HashSet::new();
    for (record, expected) in good(&records) {
        assert!(!record.line.contains('\n'));
        let value = parse(&record.line);
        // (serde_json's map sorts keys, so look at the text.)
        let first_key = record.line[2..].split('"').next().unwrap().to_string();
        first_keys.insert(first_key);
        assert_eq!(value["schemaType"], "ModelInvocationLog");
        assert_eq!(value["schemaVersion"], "1.0");
        let timestamp = value["timestamp"].as_str().unwrap();
        assert!(rfc3339_ok(timestamp), "{timestamp}");
        assert_eq!(
            timestamp,
            UtcTime::from_ms(record.timestamp_ms).rfc3339_seconds()
        );
        assert_eq!(value["accountId"], record.account_id.as_str());
        assert_eq!(value["region"], record.region.as_str());
        assert!(
            value["identity"]["arn"]
                .as_str()
                .unwrap()
                .starts_with("arn:aws:")
        );
        let request_id = value["requestId"].as_str().unwrap();
        assert_eq!(request_id.len(), 36);
        assert_eq!(request_id, expected.request_id);
        assert_eq!(value["operation"], expected.operation);
        assert_eq!(value["modelId"], expected.model_called.as_str());
        assert_eq!(value["input"]["inputContentType"], "application/json");
        assert_eq!(value["output"]["outputContentType"], "application/json");
    }
    // Both key orders seen in real data appear.
    assert!(first_keys.contains("schemaType") && first_keys.contains("timestamp"));
    let request_ids: HashSet<&str> = good(&records).map(|(_, e)| e.request_id.as_str()).collect();
    assert_eq!(request_ids.len(), good(&records).count());
}

#[test]
fn expected_agrees_with_the_json_it_describes() {
    let spec = SimulationSpec {
        error_rate: 0.05,
        ..SimulationSpec::month(2025, 7, 8_000, 21)
    };
    let records = generate(&spec);
    let mut checked = 0;
    for (record, expected) in good(&records) {
        let value = parse(&record.line);
        let (model_id, routing, resolved) = normalize_model(value["modelId"].as_str().unwrap());
        assert_eq!(model_id, expected.model_id);
        assert_eq!(routing, expected.routing);
        assert_eq!(resolved, expected.model_resolved);
        assert_eq!(value["identity"]["arn"], expected.caller_arn.as_str());
        assert_eq!(
            value["inferenceRegion"].as_str(),
            expected.inference_region.as_deref()
        );
        assert_eq!(
            read_tier(&value),
            (expected.tier, expected.tier_source),
            "{}",
            record.line
        );
        let tokens = read_tokens(&value);
        assert_eq!(tokens, expected.tokens, "{}", record.line);
        assert_eq!(value["errorCode"].as_str(), expected.error_code.as_deref());
        if expected.error_code.is_some() {
            assert!(expected.tokens.is_unknown());
            assert_eq!(value["input"].as_object().unwrap().len(), 1);
            assert_eq!(value["output"].as_object().unwrap().len(), 1);
        } else {
            check_body_usage(&value, &tokens);
        }
        let (latency, first_token) = read_latency(&value);
        assert_eq!(latency, expected.latency_ms, "{}", record.line);
        assert_eq!(first_token, expected.time_to_first_token_ms);
        if let (Some(total), Some(first)) = (latency, first_token) {
            assert!(first < total);
        }
        // A body either is inline or was offloaded, never both.
        let input = &value["input"];
        assert!(!(input["inputBodyJson"].is_object() && input["inputBodyS3Path"].is_string()));
        if let Some(path) = input["inputBodyS3Path"].as_str() {
            assert!(path.ends_with(&format!("/data/{}_input.json.gz", expected.request_id)));
            assert!(record.offloaded_input.is_some());
        }
        checked += 1;
    }
    assert!(checked > 7_500);
}

#[test]
fn traffic_mix_matches_the_spec() {
    let records = generate(&SimulationSpec::month(2025, 3, 10_000, 5));
    let launch = launch_models();
    let mut tiers: HashMap<Tier, u32> = HashMap::new();
    let mut sources: HashMap<TierSource, u32> = HashMap::new();
    let mut operations: HashMap<&str, u32> = HashMap::new();
    let mut forms: HashMap<&str, u32> = HashMap::new();
    let (mut launch_calls, mut unpriced, mut total) = (0u32, 0u32, 0u32);
    let (mut cache_trap, mut text_off, mut offloaded, mut with_region, mut tagged) =
        (0, 0, 0, 0, 0);
    for (record, expected) in good(&records) {
        total += 1;
        let value = parse(&record.line);
        *operations.entry(expected.operation).or_default() += 1;
        let called = expected.model_called.as_str();
        let form = if called.contains(":application-inference-profile/") {
            "application profile ARN"
        } else if called.contains(":inference-profile/") {
            "system profile ARN"
        } else if called.contains(":foundation-model/") {
            "foundation-model ARN"
        } else if called.starts_with("global.") {
            "global profile"
        } else if called.starts_with("us.") {
            "geo profile"
        } else {
            "bare"
        };
        *forms.entry(form).or_default() += 1;
        if launch.contains(expected.model_id.as_str()) {
            if expected.error_code.is_none() {
                launch_calls += 1;
                *tiers.entry(expected.tier).or_default() += 1;
                *sources.entry(expected.tier_source).or_default() += 1;
            }
        } else {
            unpriced += 1;
            assert_eq!(expected.tier, Tier::Standard);
        }
        if expected.tokens.cache_read.unwrap_or(0) > expected.tokens.input.unwrap_or(0) {
            cache_trap += 1;
        }
        let input = &value["input"];
        if expected.error_code.is_none() && input.get("inputBodyJson").is_none() {
            if input.get("inputBodyS3Path").is_some() {
                offloaded += 1
            } else {
                text_off += 1
            }
        }
        with_region += u32::from(expected.inference_region.is_some());
        tagged += u32::from(value["requestMetadata"]["service_tier"].is_string());
    }
    let share = |count: u32, of: u32| f64::from(count) / f64::from(of);
    let tier_share = |tier| share(tiers.get(&tier).copied().unwrap_or(0), launch_calls);
    assert!(
        (tier_share(Tier::Standard) - 0.60).abs() < 0.05,
        "{tiers:?}"
    );
    assert!((tier_share(Tier::Flex) - 0.25).abs() < 0.05, "{tiers:?}");
    assert!(
        (tier_share(Tier::Priority) - 0.15).abs() < 0.04,
        "{tiers:?}"
    );
    for source in TierSource::ALL {
        assert!(share(sources[&source], launch_calls) > 0.03, "{sources:?}");
    }
    assert!(sources[&TierSource::Assumed] > sources[&TierSource::RequestBody]);
    for operation in [
        "Converse",
        "ConverseStream",
        "InvokeModel",
        "InvokeModelWithResponseStream",
    ] {
        assert!(share(operations[operation], total) > 0.08, "{operations:?}");
    }
    assert!(share(forms["bare"], total) > 0.35, "{forms:?}");
    for form in [
        "foundation-model ARN",
        "geo profile",
        "global profile",
        "system profile ARN",
        "application profile ARN",
    ] {
        assert!(share(forms[form], total) > 0.004, "{forms:?}");
    }
    assert!((0.02..0.10).contains(&share(unpriced, total)), "{unpriced}");
    assert!(cache_trap > 50, "{cache_trap}");
    assert!(text_off > 100 && offloaded > 50, "{text_off} {offloaded}");
    assert!(with_region > 500 && tagged > 300, "{with_region} {tagged}");
}

#[test]
fn bad_and_duplicate_lines_come_at_their_rates_and_shapes() {
    let spec = SimulationSpec {
        bad_record_rate: 0.05,
        duplicate_rate: 0.05,
        error_rate: 0.1,
        ..SimulationSpec::month(2025, 5, 10_000, 8)
    };
    let records = generate(&spec);
    let mut seen_good: HashSet<&str> = HashSet::new();
    let (mut bad, mut duplicates, mut good_count, mut errors) = (0u32, 0u32, 0u32, 0u32);
    let mut kinds: HashMap<&str, u32> = HashMap::new();
    for record in &records {
        match &record.truth {
            Truth::Good(expected) => {
                good_count += 1;
                errors += u32::from(expected.error_code.is_some());
                seen_good.insert(&record.line);
            }
            Truth::Duplicate => {
                duplicates += 1;
                assert!(seen_good.contains(record.line.as_str()));
            }
            Truth::Bad(what) => {
                bad += 1;
                *kinds.entry(what).or_default() += 1;
                check_bad_line(what, &record.line);
            }
        }
    }
    let share = |count: u32, of: u32| f64::from(count) / f64::from(of);
    assert!((share(bad, 10_000) - 0.05).abs() < 0.01, "{bad}");
    assert!(
        (share(duplicates, 10_000) - 0.05).abs() < 0.01,
        "{duplicates}"
    );
    assert!((share(errors, good_count) - 0.10).abs() < 0.015, "{errors}");
    assert_eq!(kinds.len(), 4, "{kinds:?}");
    assert!(kinds.values().all(|count| *count > 60), "{kinds:?}");
}

fn check_bad_line(what: &str, line: &str) {
    let parsed = serde_json::from_str::<Value>(line);
    if what.starts_with("truncated") {
        assert!(parsed.is_err(), "{line}");
        return;
    }
    let value = parsed.unwrap();
    if what.contains("requestId") {
        assert!(value.get("requestId").is_none());
        assert!(value["timestamp"].is_string());
    } else if what.contains("timestamp") {
        assert_eq!(value["timestamp"], render::MASKED_TIMESTAMP);
    } else if what.contains("turbo") {
        let body = &value["output"]["outputBodyJson"];
        let tier = body["serviceTier"]["type"]
            .as_str()
            .or(body["service_tier"].as_str())
            .or_else(|| body.as_array().and_then(|c| c[0]["service_tier"].as_str()));
        assert_eq!(tier, Some(render::UNKNOWN_TIER), "{line}");
        assert!(Tier::parse(render::UNKNOWN_TIER).is_err());
    } else {
        panic!("unknown defect {what}");
    }
}

#[test]
fn average_line_size_tracks_body_bytes() {
    for target in [2_000usize, 5_000] {
        let spec = SimulationSpec {
            body_bytes: target,
            ..SimulationSpec::month(2025, 4, 4_000, 17)
        };
        let records = generate(&spec);
        let average = records.iter().map(|r| r.line.len()).sum::<usize>() as f64 / 4_000.0;
        let target = target as f64;
        assert!(
            (average - target).abs() < target * 0.08,
            "{average} for {target}"
        );
        // Sizes vary from record to record.
        let largest = records.iter().map(|r| r.line.len()).max().unwrap() as f64;
        assert!(largest > 2.0 * target);
    }
}

#[test]
fn latency_follows_the_tier() {
    let records = generate(&SimulationSpec::month(2025, 3, 20_000, 2));
    let mut by_tier: HashMap<Tier, Vec<u32>> = HashMap::new();
    for (_, expected) in good(&records) {
        if let Some(latency) = expected.latency_ms {
            by_tier.entry(expected.tier).or_default().push(latency);
        }
    }
    let mut quantile = |tier: Tier, q: f64| {
        let values = by_tier.get_mut(&tier).unwrap();
        values.sort_unstable();
        values[((values.len() - 1) as f64 * q) as usize]
    };
    let standard_median = quantile(Tier::Standard, 0.5);
    let standard_p95 = quantile(Tier::Standard, 0.95);
    assert!(quantile(Tier::Priority, 0.5) < standard_median);
    assert!(quantile(Tier::Flex, 0.5) > standard_median);
    let flex_p95 = quantile(Tier::Flex, 0.95);
    assert!(
        flex_p95 > 2 * standard_p95,
        "flex p95 {flex_p95} vs standard {standard_p95}"
    );
}

#[test]
fn timestamps_stay_in_range_in_order_and_follow_the_week() {
    let spec = SimulationSpec::month(2025, 3, 20_000, 4);
    let records = generate(&spec);
    let mut previous = i64::MIN;
    let mut per_hour = [0u32; 24];
    for record in &records {
        assert!(record.timestamp_ms >= spec.start_ms && record.timestamp_ms < spec.end_ms);
        assert!(record.timestamp_ms >= previous);
        assert_eq!(record.timestamp_ms % 1_000, 0);
        previous = record.timestamp_ms;
        per_hour[(record.timestamp_ms.rem_euclid(24 * MS_PER_HOUR) / MS_PER_HOUR) as usize] += 1;
    }
    assert!(per_hour[18] > 3 * per_hour[7], "{per_hour:?}");
    // Flex batch jobs (evals) run at night: Flex is a bigger share of night traffic.
    let flex_share = |hours: std::ops::Range<i64>| {
        let calls: Vec<&Expected> = good(&records)
            .filter(|(r, _)| {
                hours.contains(&(r.timestamp_ms.rem_euclid(24 * MS_PER_HOUR) / MS_PER_HOUR))
            })
            .map(|(_, e)| e)
            .collect();
        calls.iter().filter(|e| e.tier == Tier::Flex).count() as f64 / calls.len() as f64
    };
    assert!(flex_share(3..9) > flex_share(14..22) + 0.05);
}

#[test]
fn specs_are_validated() {
    let base = SimulationSpec::month(2025, 1, 10, 1);
    let cases = [
        (
            SimulationSpec {
                accounts: vec![],
                ..base.clone()
            },
            SpecError::NoAccounts,
        ),
        (
            SimulationSpec {
                regions: vec![],
                ..base.clone()
            },
            SpecError::NoRegions,
        ),
        (
            SimulationSpec {
                end_ms: base.start_ms,
                ..base.clone()
            },
            SpecError::EmptyTimeRange {
                start_ms: base.start_ms,
                end_ms: base.start_ms,
            },
        ),
        (
            SimulationSpec {
                error_rate: 1.5,
                ..base.clone()
            },
            SpecError::RateOutOfRange {
                name: "error_rate",
                rate: 1.5,
            },
        ),
        (
            SimulationSpec {
                bad_record_rate: 0.6,
                duplicate_rate: 0.6,
                ..base.clone()
            },
            SpecError::RatesOverOne { total: 1.2 },
        ),
    ];
    for (spec, error) in cases {
        assert_eq!(Simulator::new(&spec).err(), Some(error));
    }
    let before_1970 = SimulationSpec {
        start_ms: -1,
        ..base.clone()
    };
    assert!(matches!(
        Simulator::new(&before_1970).err(),
        Some(SpecError::UnsupportedTimeRange { .. })
    ));
    let nan = SimulationSpec {
        duplicate_rate: f64::NAN,
        ..base.clone()
    };
    assert!(Simulator::new(&nan).is_err());
    assert_eq!(Simulator::new(&base).unwrap().count(), 10);
    assert_eq!(
        Simulator::new(&SimulationSpec { records: 0, ..base })
            .unwrap()
            .count(),
        0
    );
}

#[test]
fn month_spec_has_the_documented_defaults() {
    let spec = SimulationSpec::month(2024, 12, 100, 9);
    assert_eq!(
        UtcTime::from_ms(spec.start_ms).rfc3339_seconds(),
        "2024-12-01T00:00:00Z"
    );
    assert_eq!(
        UtcTime::from_ms(spec.end_ms).rfc3339_seconds(),
        "2025-01-01T00:00:00Z"
    );
    assert_eq!(spec.accounts.len(), 2);
    assert_eq!(spec.regions, ["us-east-1", "us-west-2"]);
    assert_eq!(
        (spec.bad_record_rate, spec.duplicate_rate, spec.error_rate),
        (0.01, 0.005, 0.02)
    );
    assert_eq!(spec.body_bytes, 2_000);
}

#[test]
fn other_regions_use_their_geography_prefix() {
    let spec = SimulationSpec {
        regions: vec!["eu-west-1".to_string(), "ap-northeast-1".to_string()],
        ..SimulationSpec::month(2025, 2, 3_000, 6)
    };
    let records = generate(&spec);
    let called: Vec<&str> = good(&records)
        .map(|(_, e)| e.model_called.as_str())
        .collect();
    assert!(called.iter().any(|c| c.starts_with("eu.")));
    assert!(called.iter().any(|c| c.starts_with("apac.")));
    assert!(!called.iter().any(|c| c.starts_with("us.")));
}

/// Generation speed in release builds. Run with
/// `cargo test --release --lib simulate::tests::generation_speed -- --ignored --nocapture`.
#[test]
#[ignore = "timing: run in release"]
fn generation_speed() {
    let spec = SimulationSpec::month(2025, 3, 200_000, 1);
    let started = std::time::Instant::now();
    let bytes: usize = Simulator::new(&spec)
        .unwrap()
        .map(|r| r.line.len() + 1)
        .sum();
    let seconds = started.elapsed().as_secs_f64();
    let mb_per_s = bytes as f64 / 1e6 / seconds;
    let records_per_s = 200_000.0 / seconds;
    println!(
        "generated {bytes} bytes in {seconds:.2} s: {mb_per_s:.1} MB/s, {records_per_s:.0} records/s"
    );
    if !cfg!(debug_assertions) {
        assert!(mb_per_s >= 50.0, "{mb_per_s:.1} MB/s");
    }
}
