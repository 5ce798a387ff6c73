//! `tierwatch prices sync` and `prices import` against the local Pricing and Bedrock
//! stand-ins, then import and report: calls in three regions, on three tiers, with cache
//! reads and writes, through `us.`, `eu.` and `global.` profiles and application inference
//! profiles, priced exactly. The expected costs are computed here from the rates the test
//! seeds, not by tierwatch's code.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};
use tierwatch::model::Tier;
use tierwatch::report::{self, Month};
use tierwatch::rollup::Granularity;
use tierwatch::store::{CellSpan, Filter, Grouping};

use crate::aws::StandIns;
use crate::support::{BACKENDS, TestDb, fixture, with_test_aws_credentials};

const ACCOUNT: &str = "111122223333";
const NOVA_PRO: &str = "amazon.nova-pro-v1:0";
const QWEN: &str = "qwen.qwen3-32b-v1:0";
const SONNET: &str = "anthropic.claude-sonnet-4-5-20250929-v1:0";
const REGIONS: [(&str, &str); 3] = [
    ("us-east-1", "USE1"),
    ("us-west-2", "USW2"),
    ("eu-central-1", "EUC1"),
];

/// A rate as the test knows it: micro-dollars per 1M tokens. The Price List text is written
/// from it (per 1K or per 1M), so the expected costs never go through tierwatch's parser.
#[derive(Debug, Clone, Copy)]
struct Rate(i64);

impl Rate {
    /// USD per 1K tokens with 10 decimals, as AmazonBedrock publishes.
    fn per_1k(self) -> String {
        format!(
            "{}.{:010}",
            self.0 / 1_000_000_000,
            (self.0 % 1_000_000_000) * 10
        )
    }

    /// USD per 1M tokens with 10 decimals (AmazonBedrockFoundationModels "Units").
    fn per_1m(self) -> String {
        format!("{}.{:06}0000", self.0 / 1_000_000, self.0 % 1_000_000)
    }
}

/// What the seeded Price List says, keyed (region, model, tier, routing, meter).
type Rates = BTreeMap<(String, String, Tier, &'static str, &'static str), i64>;

struct Seeded {
    bedrock: Vec<Value>,
    foundation: Vec<Value>,
    rates: Rates,
}

fn document(
    service_code: &str,
    sku: &str,
    attributes: Value,
    unit: &str,
    usd: &str,
    effective: &str,
) -> Value {
    json!({
        "product": {"sku": sku, "productFamily": null, "attributes": attributes},
        "serviceCode": service_code,
        "terms": {"OnDemand": {format!("{sku}.JRTCKXETXF"): {
            "offerTermCode": "JRTCKXETXF",
            "sku": sku,
            "effectiveDate": format!("{effective}T00:00:00Z"),
            "priceDimensions": {format!("{sku}.JRTCKXETXF.6YS6EN2CT7"): {
                "rateCode": format!("{sku}.JRTCKXETXF.6YS6EN2CT7"),
                "unit": unit,
                "pricePerUnit": {"USD": usd},
                "description": "test rate",
            }},
            "termAttributes": {},
        }}},
        "version": "20261101000000",
        "publicationDate": "2026-11-01T00:00:00Z",
    })
}

/// The products the stand-in serves: the real GetProducts sample, then generated rows in the
/// same shapes for Nova Pro (three regions, three tiers, cache read), Qwen3 32B (three tiers,
/// mantle twins, batch rows) and Claude Sonnet 4.5 (three regions, regional and global, cache
/// read, 5-minute and 1-hour cache writes). `nova_input_change` adds a changed Nova Pro
/// us-east-1 input rate from 2026-11-15.
fn seeded(nova_input_change: Option<i64>) -> Seeded {
    let mut bedrock: Vec<Value> = std::fs::read_to_string(fixture(
        "pricelist/01-getproducts-apn1-glm5-novapro-use1-claude3haiku-trimmed.jsonl",
    ))
    .unwrap()
    .lines()
    .map(|line| serde_json::from_str(line).unwrap())
    .collect();
    let mut rates = Rates::new();
    let mut sku = 0;
    let mut next_sku = || {
        sku += 1;
        format!("TEST{sku:012}")
    };
    // Nova Pro: each region its own rates (regions differ).
    for (index, (region, prefix)) in REGIONS.iter().enumerate() {
        let scale = 100 + 10 * index as i64; // 1.0, 1.1, 1.2 × us-east-1
        let standard = [
            ("input", 800_000),
            ("output", 3_200_000),
            ("cache_read", 200_000),
        ];
        for (tier, factor_pct, suffix, inference_suffix) in [
            (Tier::Standard, 100, "", ""),
            (Tier::Priority, 175, "-priority", " priority"),
            (Tier::Flex, 50, "-flex", " flex"),
        ] {
            for (meter, base) in standard {
                if meter == "cache_read" && tier != Tier::Standard {
                    continue; // No Priority/Flex cache rates are published.
                }
                let micros = base * scale / 100 * factor_pct / 100;
                let phrase = match meter {
                    "input" => "input-tokens",
                    "output" => "output-tokens",
                    _ => "cache-read-input-token-count",
                };
                let inference = match meter {
                    "input" => "Input tokens",
                    "output" => "Output tokens",
                    _ => "Prompt cache read input tokens",
                };
                bedrock.push(document(
                    "AmazonBedrock",
                    &next_sku(),
                    json!({
                        "regionCode": region,
                        "usagetype": format!("{prefix}-NovaPro-{phrase}{suffix}"),
                        "inferenceType": format!("{inference}{inference_suffix}"),
                        "model": "Nova Pro",
                        "feature": "On-demand Inference",
                    }),
                    "1K tokens",
                    &Rate(micros).per_1k(),
                    if tier == Tier::Standard {
                        "2024-12-03"
                    } else {
                        "2025-11-18"
                    },
                ));
                rates.insert(
                    (region.to_string(), NOVA_PRO.into(), tier, "regional", meter),
                    micros,
                );
            }
        }
    }
    if let Some(micros) = nova_input_change {
        bedrock.push(document(
            "AmazonBedrock",
            "TESTCHANGED0001",
            json!({
                "regionCode": "us-east-1",
                "usagetype": "USE1-NovaPro-input-tokens",
                "inferenceType": "Input tokens",
                "model": "Nova Pro",
                "feature": "On-demand Inference",
            }),
            "1K tokens",
            &Rate(micros).per_1k(),
            "2026-11-15",
        ));
    }
    // Qwen3 32B in us-east-1: both namings agree; batch rows are not Flex.
    for (tier, suffix, input, output) in [
        (Tier::Standard, "", 150_000, 600_000),
        (Tier::Priority, "-priority", 262_500, 1_050_000),
        (Tier::Flex, "-flex", 75_000, 300_000),
    ] {
        for (meter, phrase, micros) in [("input", "input", input), ("output", "output", output)] {
            for usage_type in [
                format!("USE1-Qwen3-32B-{phrase}-tokens{suffix}"),
                format!(
                    "USE1-qwen.qwen3-32b-mantle-{phrase}-tokens-{}",
                    if suffix.is_empty() {
                        "-standard"
                    } else {
                        suffix
                    }
                    .trim_start_matches('-')
                ),
            ] {
                bedrock.push(document(
                    "AmazonBedrock",
                    &next_sku(),
                    json!({"regionCode": "us-east-1", "usagetype": usage_type, "model": "Qwen3 32B"}),
                    "1K tokens",
                    &Rate(micros).per_1k(),
                    "2025-11-18",
                ));
            }
            rates.insert(
                ("us-east-1".into(), QWEN.into(), tier, "regional", meter),
                micros,
            );
        }
    }
    for (phrase, micros) in [("input", 75_000), ("output", 300_000)] {
        bedrock.push(document(
            "AmazonBedrock",
            &next_sku(),
            json!({"regionCode": "us-east-1", "usagetype": format!("USE1-Qwen3-32B-{phrase}-tokens-batch"),
                   "model": "Qwen3 32B", "feature": "Batch Inference", "inferenceType": "Input tokens"}),
            "1K tokens",
            &Rate(micros).per_1k(),
            "2025-11-18",
        ));
    }
    // Provisioned throughput, as the real list holds hundreds of: enough to take two
    // GetProducts pages of 100, and none of it an on-demand token price.
    for index in 0..150 {
        bedrock.push(document(
            "AmazonBedrock",
            &next_sku(),
            json!({"regionCode": "us-east-1",
                   "usagetype": format!("USE1-Model{index}-ProvisionedThroughput-NoCommit-ModelUnits"),
                   "feature": "Provisioned Throughput Inference - no commit"}),
            "hour",
            "24.5",
            "2025-01-01",
        ));
    }
    // Claude Sonnet 4.5: Marketplace rows per 1M tokens, in-region 10 % above global.
    let mut foundation = Vec::new();
    for (index, (region, prefix)) in REGIONS.iter().enumerate() {
        let bump = 1_000 + 50 * index as i64; // regions differ a little, per mille
        for (routing, suffix, share) in [("regional", "", 110), ("global", "_Global", 100)] {
            for (meter, name, base) in [
                ("input", "InputTokenCount", 3_000_000),
                ("output", "OutputTokenCount", 15_000_000),
                ("cache_read", "CacheReadInputTokenCount", 300_000),
                ("cache_write", "CacheWriteInputTokenCount", 3_750_000),
                ("cache_write_1h", "CacheWrite1hInputTokenCount", 6_000_000),
            ] {
                let micros = base * share / 100 * bump / 1_000;
                foundation.push(document(
                    "AmazonBedrockFoundationModels",
                    &next_sku(),
                    json!({
                        "regionCode": region,
                        "usagetype": format!("{prefix}-MP:{prefix}_{name}{suffix}-Units"),
                        "servicename": "Claude Sonnet 4.5 (Amazon Bedrock Edition)",
                        "operation": "Usage",
                    }),
                    "Units",
                    &Rate(micros).per_1m(),
                    "2025-09-29",
                ));
                rates.insert(
                    (
                        region.to_string(),
                        SONNET.into(),
                        Tier::Standard,
                        routing,
                        meter,
                    ),
                    micros,
                );
            }
        }
    }
    Seeded {
        bedrock,
        foundation,
        rates,
    }
}

fn foundation_models() -> Vec<Value> {
    vec![
        json!({"modelId": NOVA_PRO, "modelName": "Nova Pro", "providerName": "Amazon"}),
        json!({"modelId": QWEN, "modelName": "Qwen3 32B", "providerName": "Qwen"}),
        json!({"modelId": SONNET, "modelName": "Claude Sonnet 4.5", "providerName": "Anthropic",
               "inferenceTypesSupported": ["INFERENCE_PROFILE"]}),
        json!({"modelId": format!("{SONNET}:200k"), "modelName": "Claude Sonnet 4.5",
               "providerName": "Anthropic", "inferenceTypesSupported": ["PROVISIONED"]}),
    ]
}

/// An application inference profile (a team's copy of Sonnet in us-east-1) and a copy of
/// the global Sonnet profile made in eu-central-1 (its models span geographies).
const TEAM_PROFILE: &str =
    "arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/tw4team0evals";
const GLOBAL_PROFILE: &str =
    "arn:aws:bedrock:eu-central-1:111122223333:application-inference-profile/tw4glob0chat";

fn application_profiles(region: &str) -> Vec<Value> {
    let model = |region: &str| json!({"modelArn": format!("arn:aws:bedrock:{region}::foundation-model/{SONNET}")});
    let profile = |arn: &str, name: &str, models: Vec<Value>| {
        json!({
            "inferenceProfileId": arn.rsplit('/').next().unwrap(),
            "inferenceProfileArn": arn,
            "inferenceProfileName": name,
            "type": "APPLICATION",
            "models": models,
        })
    };
    match region {
        "us-east-1" => vec![profile(TEAM_PROFILE, "evals", vec![model("us-east-1")])],
        "eu-central-1" => vec![profile(
            GLOBAL_PROFILE,
            "chat",
            vec![
                model("eu-central-1"),
                model("us-east-1"),
                model("ap-northeast-1"),
            ],
        )],
        _ => Vec::new(),
    }
}

async fn seed(standins: &StandIns, seeded: &Seeded) {
    standins
        .seed_price_list("AmazonBedrock", &seeded.bedrock)
        .await;
    standins
        .seed_price_list("AmazonBedrockFoundationModels", &seeded.foundation)
        .await;
    for (region, _) in REGIONS {
        standins
            .seed_foundation_models(region, &foundation_models())
            .await;
        standins
            .seed_inference_profiles(region, &application_profiles(region))
            .await;
    }
}

fn config(dir: &Path, db_url: &str, standins: &StandIns) -> PathBuf {
    let endpoint = standins.endpoint_url();
    let mut text =
        format!("[database]\nurl = \"{db_url}\"\n\n[pricing]\nendpoint_url = \"{endpoint}\"\n\n");
    for (region, _) in REGIONS {
        text.push_str(&format!(
            "[[sources]]\nname = \"{region}\"\nregion = \"{region}\"\nlog_group = \"unused\"\nendpoint_url = \"{endpoint}\"\nmetrics = false\nquotas = false\n\n"
        ));
    }
    let path = dir.join("tierwatch.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// The binary with this config, the test credentials and no pricing overrides.
fn command(config: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tierwatch"));
    command
        .arg("--config")
        .arg(config)
        .args(args)
        .current_dir(config.parent().unwrap())
        .env_remove("TIERWATCH_DATABASE_URL")
        .env_remove("TIERWATCH_PRICING_TABLE")
        .env_remove("TIERWATCH_AWS_PRICE_LIST");
    with_test_aws_credentials(&mut command);
    command
}

fn tierwatch(config: &Path, args: &[&str]) -> Output {
    command(config, args).output().unwrap()
}

fn ok(output: Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{}\n{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// One call: region, model id as called, served tier (via requestMetadata), tokens
/// (input, output, cache read, cache write) and the day of November 2026.
struct Call {
    region: &'static str,
    called: String,
    /// `regional` (in-region and geo profiles) or `global`.
    routing: &'static str,
    tier: Tier,
    tokens: [u64; 4],
    day: u32,
}

impl Call {
    fn record(&self, index: usize) -> String {
        let [input, output, cache_read, cache_write] = self.tokens;
        json!({
            "schemaType": "ModelInvocationLog",
            "schemaVersion": "1.0",
            "timestamp": format!("2026-11-{:02}T10:00:{:02}Z", self.day, index % 60),
            "accountId": ACCOUNT,
            "identity": {"arn": format!("arn:aws:iam::{ACCOUNT}:role/app")},
            "region": self.region,
            "requestId": format!("00000000-0000-4000-8000-{index:012}"),
            "operation": "Converse",
            "modelId": self.called,
            "requestMetadata": {"service_tier": self.tier.as_str()},
            "input": {"inputContentType": "application/json", "inputTokenCount": input,
                      "cacheReadInputTokenCount": cache_read, "cacheWriteInputTokenCount": cache_write},
            "output": {"outputContentType": "application/json", "outputTokenCount": output},
        })
        .to_string()
    }

    /// The model id the call is priced under.
    fn model(&self) -> &'static str {
        [NOVA_PRO, QWEN, SONNET]
            .into_iter()
            .find(|model| self.called.contains(model))
            .unwrap_or(SONNET)
    }

    /// Σ tokens × rate, in picodollars, from the seeded rates (5-minute cache writes).
    fn expected_pico(&self, rates: &Rates) -> i128 {
        let meters = ["input", "output", "cache_read", "cache_write"];
        meters
            .iter()
            .zip(self.tokens)
            .filter(|(_, count)| *count > 0)
            .map(|(meter, count)| {
                let key = (
                    self.region.to_string(),
                    self.model().to_string(),
                    self.tier,
                    self.routing,
                    *meter,
                );
                let rate = rates
                    .get(&key)
                    .unwrap_or_else(|| panic!("no seeded rate {key:?}"));
                i128::from(count) * i128::from(*rate)
            })
            .sum()
    }
}

fn calls() -> Vec<Call> {
    let call = |region, called: &str, tier, tokens, day| Call {
        region,
        called: called.to_string(),
        routing: if called.starts_with("global.") || called == GLOBAL_PROFILE {
            "global"
        } else {
            "regional"
        },
        tier,
        tokens,
        day,
    };
    vec![
        // Nova Pro in three regions, on all three tiers, a `us.` geo profile and cache reads.
        call(
            "us-east-1",
            "us.amazon.nova-pro-v1:0",
            Tier::Standard,
            [1_000, 500, 2_000, 0],
            3,
        ),
        call(
            "us-east-1",
            NOVA_PRO,
            Tier::Standard,
            [4_000, 1_000, 0, 0],
            20,
        ),
        call("us-east-1", NOVA_PRO, Tier::Priority, [3_000, 700, 0, 0], 4),
        call("us-east-1", NOVA_PRO, Tier::Flex, [9_000, 2_000, 0, 0], 5),
        call(
            "us-west-2",
            "us.amazon.nova-pro-v1:0",
            Tier::Flex,
            [7_000, 1_500, 0, 0],
            6,
        ),
        call("us-west-2", NOVA_PRO, Tier::Priority, [2_500, 900, 0, 0], 7),
        call(
            "eu-central-1",
            "eu.amazon.nova-pro-v1:0",
            Tier::Standard,
            [1_200, 300, 500, 0],
            8,
        ),
        // Qwen3 32B on all three tiers.
        call("us-east-1", QWEN, Tier::Standard, [10_000, 2_000, 0, 0], 9),
        call("us-east-1", QWEN, Tier::Priority, [5_000, 1_000, 0, 0], 10),
        call("us-east-1", QWEN, Tier::Flex, [20_000, 4_000, 0, 0], 11),
        // Claude Sonnet 4.5: `eu.` and `global.` profiles with cache reads and writes.
        call(
            "eu-central-1",
            &format!("eu.{SONNET}"),
            Tier::Standard,
            [3, 400, 129_709, 411],
            12,
        ),
        call(
            "us-west-2",
            &format!("global.{SONNET}"),
            Tier::Standard,
            [6, 900, 0, 225_913],
            13,
        ),
        call(
            "us-east-1",
            &format!("us.{SONNET}"),
            Tier::Standard,
            [1, 52, 24_479, 0],
            14,
        ),
        call(
            "us-east-1",
            &format!("global.{SONNET}"),
            Tier::Standard,
            [12, 300, 5_000, 1_000],
            16,
        ),
        // Application inference profiles: resolved by the sync, priced under the model.
        call(
            "us-east-1",
            TEAM_PROFILE,
            Tier::Standard,
            [40, 800, 60_000, 2_000],
            17,
        ),
        call(
            "us-east-1",
            TEAM_PROFILE,
            Tier::Standard,
            [25, 100, 0, 0],
            18,
        ),
        call(
            "eu-central-1",
            GLOBAL_PROFILE,
            Tier::Standard,
            [90, 1_100, 8_000, 500],
            19,
        ),
    ]
}

fn write_calls(path: &Path, calls: &[Call]) {
    let lines: Vec<String> = calls
        .iter()
        .enumerate()
        .map(|(i, call)| call.record(i))
        .collect();
    std::fs::write(path, lines.join("\n") + "\n").unwrap();
}

/// Expected cost per report row (region, model, tier).
fn expected_rows(calls: &[Call], rates: &Rates) -> BTreeMap<(String, String, Tier), i128> {
    let mut rows = BTreeMap::new();
    for call in calls {
        *rows
            .entry((call.region.to_string(), call.model().to_string(), call.tier))
            .or_default() += call.expected_pico(rates);
    }
    rows
}

async fn reported_rows(db: &TestDb, month: Month) -> BTreeMap<(String, String, Tier), (i128, i64)> {
    let report = report::build(&db.store, month).await.unwrap();
    report
        .rows
        .iter()
        .map(|row| {
            let tier = Tier::parse(&row.key.tier).unwrap().unwrap();
            (
                (row.key.region.clone(), row.key.model_id.clone(), tier),
                (row.totals.cost_pico, row.totals.unpriced_invocations),
            )
        })
        .collect()
}

fn november() -> Month {
    Month {
        year: 2026,
        month: 11,
    }
}

#[tokio::test]
async fn sync_prices_regions_tiers_cache_and_profiles_exactly_and_a_change_reprices_its_month() {
    for backend in BACKENDS {
        let standins = StandIns::start().await;
        let first = seeded(None);
        seed(&standins, &first).await;
        let db = TestDb::new(backend).await;
        let dir = tempfile::tempdir().unwrap();
        let config = config(dir.path(), &db.url, &standins);

        let sync = ok(tierwatch(&config, &["prices", "sync"]));
        assert!(sync.contains("Price List version #1 (sync"), "{sync}");
        assert!(sync.contains("changed 0, unchanged 0"), "{sync}");
        // Two Qwen3 batch rows and the sample's Nova Pro one.
        assert!(sync.contains("batch inference 3"), "{backend:?}: {sync}");
        assert!(sync.contains("provisioned throughput 150"), "{sync}");
        assert!(sync.contains("AmazonBedrock 2 pages"), "{sync}");
        assert!(sync.contains("No stored month has calls"), "{sync}");
        assert!(
            sync.contains("application inference profiles: 2 resolved"),
            "{backend:?}: {sync}"
        );
        let calls_made = standins.calls().await;
        assert!(calls_made["GetProducts"] >= 3, "{calls_made:?}");
        assert_eq!(calls_made["ListFoundationModels"], 3, "{calls_made:?}");

        let logs = dir.path().join("november.jsonl");
        let calls = calls();
        write_calls(&logs, &calls);
        ok(tierwatch(
            &config,
            &["import", "--no-progress", logs.to_str().unwrap()],
        ));
        let expected = expected_rows(&calls, &first.rates);
        let reported = reported_rows(&db, november()).await;
        for (key, cost) in &expected {
            let (got, unpriced) = reported
                .get(key)
                .unwrap_or_else(|| panic!("{backend:?}: no report row {key:?}: {reported:?}"));
            assert_eq!((got, *unpriced), (cost, 0), "{backend:?} {key:?}");
        }
        assert_eq!(reported.len(), expected.len(), "{backend:?}: {reported:?}");
        // The profile stays a caller dimension: the team's calls, and nobody else's.
        let span = CellSpan {
            granularity: Granularity::Day,
            start_s: november().start_ms() / 1000,
            end_s: november().end_ms() / 1000,
        };
        let by_profile = db
            .store
            .aggregate_callers(span, &Filter::default(), "profile", Grouping::NONE)
            .await
            .unwrap();
        let team = by_profile
            .iter()
            .find(|row| row.caller == TEAM_PROFILE)
            .expect("the team profile is a caller");
        let team_calls: Vec<&Call> = calls.iter().filter(|c| c.called == TEAM_PROFILE).collect();
        assert_eq!(team.totals.invocations, 2);
        assert_eq!(
            team.totals.cost_pico,
            team_calls
                .iter()
                .map(|c| c.expected_pico(&first.rates))
                .sum::<i128>()
        );

        // The same products again, with one Nova Pro price changed from Nov 15: one row.
        let second = seeded(Some(900_000));
        seed(&standins, &second).await;
        let resync = ok(tierwatch(&config, &["prices", "sync"]));
        assert!(
            resync.contains("added 0, changed 1,"),
            "{backend:?}: {resync}"
        );
        assert!(
            resync.contains("changed  us-east-1 amazon.nova-pro-v1:0 standard regional input 0.9 from 2026-11-15"),
            "{resync}"
        );
        assert!(resync.contains("(was 0.8 from 2024-12-03)"), "{resync}");
        assert!(
            resync.contains("tierwatch reprice --month 2026-11"),
            "{resync}"
        );
        let versions = db.store.price_list_versions().await.unwrap();
        assert_eq!(versions.len(), 2);
        assert_eq!(versions[1].rows_added, 1, "one row stored, history kept");

        // Until repriced, stored costs stay as they were; then only Nov 15+ Nova Pro
        // us-east-1 Standard input changes.
        assert_eq!(reported_rows(&db, november()).await, reported);
        let reprice = ok(tierwatch(&config, &["reprice", "--month", "2026-11"]));
        assert!(reprice.contains("1 changed"), "{backend:?}: {reprice}");
        let after = reported_rows(&db, november()).await;
        let changed_key = (
            "us-east-1".to_string(),
            NOVA_PRO.to_string(),
            Tier::Standard,
        );
        for (key, value) in &after {
            if key == &changed_key {
                // The Nov 20 call: 4,000 input tokens at 0.9 instead of 0.8 per 1M.
                assert_eq!(value.0, reported[key].0 + 4_000 * 100_000, "{key:?}");
            } else {
                assert_eq!(value, &reported[key], "{backend:?} {key:?}");
            }
        }

        // Importing the same products as a bulk offer file gives the same table.
        let offer = offer_file(&second);
        let offer_path = dir.path().join("offer.json");
        std::fs::write(&offer_path, serde_json::to_string_pretty(&offer.0).unwrap()).unwrap();
        let fm_path = dir.path().join("offer-fm.json");
        std::fs::write(&fm_path, serde_json::to_string_pretty(&offer.1).unwrap()).unwrap();
        let other = TestDb::new(backend).await;
        let other_config = dir.path().join("other");
        std::fs::create_dir(&other_config).unwrap();
        let other_config = self::config(&other_config, &other.url, &standins);
        // Sync a fresh database with the same products, and import them into another.
        let synced_db = TestDb::new(backend).await;
        let synced_dir = dir.path().join("synced");
        std::fs::create_dir(&synced_dir).unwrap();
        let synced_config = self::config(&synced_dir, &synced_db.url, &standins);
        ok(tierwatch(&synced_config, &["prices", "sync"]));
        let imported = ok(tierwatch(
            &other_config,
            &[
                "prices",
                "import",
                offer_path.to_str().unwrap(),
                fm_path.to_str().unwrap(),
            ],
        ));
        assert!(imported.contains("(import:"), "{imported}");
        let table = |config: &Path| {
            let listed = ok(tierwatch(config, &["prices", "list"]));
            // The first line names the version, and sources say sync or file; keys, rates
            // and dates must be identical.
            listed
                .lines()
                .skip(1)
                .map(|line| {
                    line.split_whitespace()
                        .take(9)
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .collect::<Vec<_>>()
                .join("\n")
        };
        assert_eq!(table(&other_config), table(&synced_config), "{backend:?}");
        for db in [db, other, synced_db] {
            db.finish().await;
        }
    }
}

/// The seeded products as bulk offer files (one per service code), products and terms keyed
/// by SKU as the bulk API serves them.
fn offer_file(seeded: &Seeded) -> (Value, Value) {
    let offer = |code: &str, documents: &[Value]| {
        let mut products = serde_json::Map::new();
        let mut terms = serde_json::Map::new();
        for document in documents {
            let sku = document["product"]["sku"].as_str().unwrap().to_string();
            products.insert(sku.clone(), document["product"].clone());
            terms.insert(sku, document["terms"]["OnDemand"].clone());
        }
        json!({
            "formatVersion": "v1.0",
            "offerCode": code,
            // No offer-level dates: the trimmed sample products carry none either, so both
            // reads fall back to the same day.
            "products": products,
            "terms": {"OnDemand": terms},
        })
    };
    (
        offer("AmazonBedrock", &seeded.bedrock),
        offer("AmazonBedrockFoundationModels", &seeded.foundation),
    )
}

/// What the built-in table makes of each real invocation-log record AWS wrote
/// (`tests/fixtures/real-aws/`, copied from public repositories): every one with token
/// counts is priced, or this says precisely why not.
#[test]
fn every_real_sample_with_token_counts_is_priced_by_the_built_in_table() {
    use tierwatch::ingest::reader::{Item, RecordReader};
    use tierwatch::ingest::record::{ParseOptions, parse_record};
    use tierwatch::pricing::catalog::Catalog;
    use tierwatch::pricing::{PriceTable, PricingOutcome};

    let catalog = Catalog::builtin().expect("the built-in Price List loads");
    let table = PriceTable::assemble(&catalog.prices, None).unwrap().table;
    let folder = fixture("real-aws");
    let mut names: Vec<String> = std::fs::read_dir(&folder)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".json") || name.ends_with(".txt"))
        .collect();
    names.sort();
    // Three records have token counts but were masked or cut by their authors; repaired
    // (a real timestamp, the truncated array closed) they show what pricing does with them.
    type Repair = fn(&str) -> String;
    let repairs: [(&str, Repair); 3] = [
        ("03", with_timestamp),
        ("04", with_timestamp),
        ("06", |text| text.replace("-0.5703125,", "-0.5703125")),
    ];
    let mut files: Vec<(String, String)> = Vec::new();
    for name in &names {
        let text = std::fs::read_to_string(folder.join(name)).unwrap();
        let number = name[..2].to_string();
        if let Some((_, repair)) = repairs.iter().find(|(sample, _)| *sample == number) {
            files.push((format!("{number} repaired"), repair(&text)));
        }
        files.push((number, text));
    }
    let mut seen = BTreeMap::new();
    for (name, text) in &files {
        let mut reader = RecordReader::new(text.as_bytes());
        let mut outcomes = Vec::new();
        while let Some(item) = reader.next_item().unwrap() {
            outcomes.push(match item {
                Item::Record { bytes, .. } => match parse_record(bytes, &ParseOptions::default()) {
                    Ok(invocation) => match table.price(&invocation) {
                        PricingOutcome::Priced(priced) => format!(
                            "priced {} {} {} {}",
                            invocation.region,
                            invocation.model.model_id,
                            priced.price.routing,
                            priced.cost.0
                        ),
                        PricingOutcome::NotBilled => "not billed".to_string(),
                        PricingOutcome::Unpriced { reason } => format!("unpriced: {reason}"),
                    },
                    Err(rejection) => format!("rejected: {:?}", rejection.reason),
                },
                Item::Rejected { rejection, .. } => format!("rejected: {:?}", rejection.reason),
            });
        }
        seen.insert(name.clone(), outcomes.join(" | "));
    }
    let priced = |region: &str, model: &str| format!("priced {region} {model} ");
    // (sample, what it must start with)
    let expected: [(&str, String); 27] = [
        (
            "01",
            priced("us-east-1", "anthropic.claude-sonnet-4-20250514-v1:0"),
        ),
        // Guardrail intervened: AWS logged no token counts at all.
        ("02", "unpriced: record has no token counts".into()),
        // The author masked the timestamp ("xxxx…"): rejected before pricing.
        ("03", "rejected: InvalidTimestamp".into()),
        (
            "03 repaired",
            priced("ap-northeast-1", "anthropic.claude-v2:1"),
        ),
        ("04", "rejected: InvalidTimestamp".into()),
        // No source (Price List or secondary) publishes Titan Text Express in Tokyo.
        (
            "04 repaired",
            "unpriced: no price for amazon.titan-text-express-v1 in ap-northeast-1".into(),
        ),
        ("05", priced("us-east-1", "amazon.nova-lite-v1:0")),
        // The author cut the embedding array short: not JSON.
        ("06", "rejected: InvalidJson".into()),
        (
            "06 repaired",
            priced("ap-northeast-1", "amazon.titan-embed-text-v1"),
        ),
        (
            "07",
            priced(
                "ap-northeast-1",
                "anthropic.claude-3-5-sonnet-20240620-v1:0",
            ),
        ),
        // Rerank logs no token counts (it is billed per query, not per token).
        ("08", "unpriced: record has no token counts".into()),
        (
            "09",
            priced("us-east-1", "anthropic.claude-3-5-sonnet-20240620-v1:0"),
        ),
        ("10", priced("us-east-1", "ai21.jamba-instruct-v1:0")),
        (
            "11",
            priced("us-east-1", "anthropic.claude-3-sonnet-20240229-v1:0"),
        ),
        ("12", priced("us-east-1", "anthropic.claude-v2:1")),
        (
            "13",
            priced("us-east-1", "anthropic.claude-haiku-4-5-20251001-v1:0"),
        ),
        (
            "14",
            priced("us-west-2", "anthropic.claude-opus-4-5-20251101-v1:0"),
        ),
        ("15", priced("us-west-2", "anthropic.claude-opus-4-6-v1")),
        ("16", priced("us-west-2", "anthropic.claude-opus-4-7")),
        ("17", priced("us-east-1", "anthropic.claude-opus-4-6-v1")),
        ("18", priced("ap-northeast-1", "amazon.nova-micro-v1:0")),
        // Partial copy from an issue thread: fields left out, `...` and a comment.
        ("19", "rejected:".into()),
        // Placeholders such as <account-id> unquoted: not JSON.
        ("20", "rejected:".into()),
        // PDF-extracted slide with curly quotes: not JSON.
        ("21", "rejected:".into()),
        (
            "22",
            priced("us-east-1", "anthropic.claude-3-5-sonnet-20240620-v1:0"),
        ),
        (
            "23",
            priced("us-east-1", "anthropic.claude-3-5-sonnet-20240620-v1:0"),
        ),
        // Console fragments without modelId or region.
        ("24", "rejected:".into()),
    ];
    let mut wrong = Vec::new();
    for (sample, start) in &expected {
        let got = seen.get(*sample).cloned().unwrap_or_default();
        if !got.starts_with(start.as_str()) {
            wrong.push(format!("{sample}: expected {start:?}, got {got:?}"));
        }
    }
    assert_eq!(seen.len(), expected.len(), "{seen:#?}");
    assert!(wrong.is_empty(), "{}\n\nall: {seen:#?}", wrong.join("\n"));
}

/// The record with a real timestamp in place of its author's mask.
fn with_timestamp(text: &str) -> String {
    let key = "\"timestamp\"";
    let Some(at) = text.find(key) else {
        return text.to_string();
    };
    let value_start = at + key.len() + text[at + key.len()..].find('"').unwrap_or(0);
    let value_end = value_start + 1 + text[value_start + 1..].find('"').unwrap_or(0);
    format!(
        "{}\"2024-03-01T00:00:00Z\"{}",
        &text[..value_start],
        &text[value_end + 1..]
    )
}

/// `serve` with `[pricing] sync = true` syncs at start and hands the synced prices to its
/// pollers: a call read after the sync is priced with the synced rate, not the built-in one.
#[tokio::test]
async fn serve_syncs_prices_and_its_pollers_use_them() {
    let backend = crate::support::Backend::Sqlite;
    let standins = StandIns::start().await;
    // A Qwen3 32B input rate unlike AWS's (0.15 per 1M): 0.123 per 1M.
    let mut first = seeded(None);
    first.bedrock.push(document(
        "AmazonBedrock",
        "TESTQWENCHANGED",
        json!({"regionCode": "us-east-1", "usagetype": "USE1-Qwen3-32B-input-tokens",
               "model": "Qwen3 32B"}),
        "1K tokens",
        &Rate(123_000).per_1k(),
        "2026-01-01",
    ));
    seed(&standins, &first).await;
    let db = TestDb::new(backend).await;
    let dir = tempfile::tempdir().unwrap();
    let path = config(dir.path(), &db.url, &standins);
    let mut text = std::fs::read_to_string(&path).unwrap();
    text = text.replace("[pricing]\n", "[pricing]\nsync = true\n");
    text = text.replace("log_group = \"unused\"", "log_group = \"/bedrock/logs\"");
    text.push_str("[daemon]\nlogs_interval = \"1s\"\nbackfill = \"1h\"\n");
    std::fs::write(&path, text).unwrap();
    let mut child = command(&path, &["serve"])
        .env("TIERWATCH_LISTEN", "127.0.0.1:0")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while db.store.price_list_versions().await.unwrap().is_empty() {
        assert!(std::time::Instant::now() < deadline, "no sync within 60 s");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let versions = db.store.price_list_versions().await.unwrap();
    assert_eq!(versions[0].origin, "sync");
    // The pollers take the reloaded prices at their next cycle; a call arriving now is
    // priced with them.
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let logs = standins.logs_client().await;
    crate::aws::create_log_stream(&logs, "/bedrock/logs", "aws/bedrock/modelinvocations").await;
    let now = chrono::Utc::now();
    let record = json!({
        "schemaType": "ModelInvocationLog", "schemaVersion": "1.0",
        "timestamp": now.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        "accountId": ACCOUNT, "region": "us-east-1",
        "requestId": "00000000-0000-4000-8000-000000000777",
        "operation": "Converse", "modelId": QWEN,
        "input": {"inputTokenCount": 1_000_000},
        "output": {"outputTokenCount": 0},
    });
    crate::aws::put_log_events(
        &logs,
        "/bedrock/logs",
        "aws/bedrock/modelinvocations",
        &[(now.timestamp_millis(), record.to_string())],
    )
    .await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let cost = loop {
        let cells = db
            .store
            .read_cells(Granularity::Day, 0, i64::MAX / 2)
            .await
            .unwrap();
        if let Some(cell) = cells.iter().find(|cell| cell.model_id == QWEN) {
            break cell.totals.cost_pico;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the call was not read within 60 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    child.kill().unwrap();
    child.wait().unwrap();
    // 1M input tokens at the synced 0.123 per 1M, where the built-in table says 0.15.
    assert_eq!(i128::from(cost), 123_000_000_000);
    db.finish().await;
}

/// The Prices page and `/api/v1/prices`: the table in effect, by region and model, and the
/// stored Price List versions.
#[tokio::test]
async fn the_prices_page_shows_the_table_in_effect_and_its_versions() {
    use tierwatch::dashboard::{AppState, router};

    for backend in BACKENDS {
        let db = TestDb::new(backend).await;
        let app = router(AppState::new(db.store.clone(), None));
        let page = crate::dashboard::get(&app, "/prices").await;
        assert_eq!(page.status, axum::http::StatusCode::OK, "{}", page.body);
        assert!(
            page.body.contains("built-in Price List table"),
            "{backend:?}"
        );
        assert!(page.body.contains("amazon.nova-pro-v1:0"));
        assert!(
            !page.body.contains("ap-northeast-1</td>"),
            "us-east-1 by default"
        );
        let tokyo =
            crate::dashboard::get(&app, "/prices?region=ap-northeast-1&model=nova-pro").await;
        assert!(
            tokyo.body.contains("<td class=\"n\">0.96</td>"),
            "{}",
            tokyo.body
        );
        assert!(!tokyo.body.contains("qwen"), "filtered by model");
        let api =
            crate::dashboard::get(&app, "/api/v1/prices?region=us-east-1&model=qwen3-32b").await;
        let json = api.json();
        let standard = json["prices"]
            .as_array()
            .unwrap()
            .iter()
            .find(|row| row["tier"] == "standard" && row["routing"] == "regional")
            .expect("Qwen3 32B standard");
        assert_eq!(standard["input_usd_per_1m"], "0.15");
        assert_eq!(json["versions"].as_array().unwrap().len(), 0);

        // After an import the stored table prices calls, and the version is listed.
        let dir = tempfile::tempdir().unwrap();
        let offer = offer_file(&seeded(None)).0;
        let path = dir.path().join("offer.json");
        std::fs::write(&path, offer.to_string()).unwrap();
        let config = tierwatch::config::PricingConfig::default();
        tierwatch::prices::import_files(&db.store, &config, &[path], None)
            .await
            .unwrap();
        let page = crate::dashboard::get(&app, "/prices?model=qwen3-32b").await;
        assert!(
            page.body.contains("AWS Price List stored in the database"),
            "{}",
            page.body
        );
        assert!(page.body.contains("<td>import</td>"), "{}", page.body);
        db.finish().await;
    }
}

/// A reservation's month: its fixed price, the Reserved-tier calls it served (nothing per
/// token), its effective price per 1M tokens, and the overflow served on Standard.
#[tokio::test]
async fn a_reservation_reports_its_fixed_cost_what_it_served_and_the_overflow() {
    use tierwatch::config::Reservation;
    use tierwatch::ingest::{ImportSettings, import_paths};
    use tierwatch::reservations::{FixedCost, for_month};

    let sonnet = "anthropic.claude-sonnet-4-6";
    let reservation = Reservation {
        name: "sonnet-prod".into(),
        account: Some(ACCOUNT.into()),
        region: "us-east-1".into(),
        model_id: sonnet.into(),
        input_tpm: 100_000,
        output_tpm: 0,
        monthly_price_micros: None,
        term_months: 1,
        global: false,
        start: chrono::NaiveDate::from_ymd_opt(2026, 11, 16).unwrap(),
        end: chrono::NaiveDate::from_ymd_opt(2026, 12, 16).unwrap(),
    };
    // Served by the reservation (the response says reserved), an overflow call (asked for
    // reserved, served on Standard), and a reserved call before the term (not covered).
    let record = |id: u32, day: u32, requested: &str, served: &str, input: u64, output: u64| {
        json!({
            "schemaType": "ModelInvocationLog", "schemaVersion": "1.0",
            "timestamp": format!("2026-11-{day:02}T09:00:00Z"),
            "accountId": ACCOUNT, "region": "us-east-1",
            "requestId": format!("00000000-0000-4000-8000-{id:012}"),
            "operation": "Converse", "modelId": format!("us.{sonnet}"),
            "input": {"inputTokenCount": input,
                      "inputBodyJson": {"messages": [], "serviceTier": {"type": requested}}},
            "output": {"outputTokenCount": output,
                       "outputBodyJson": {"stopReason": "end_turn", "serviceTier": {"type": served},
                                          "usage": {"inputTokens": input, "outputTokens": output}}},
        })
        .to_string()
    };
    let lines = [
        record(1, 17, "reserved", "reserved", 600_000, 40_000),
        record(2, 20, "reserved", "reserved", 400_000, 60_000),
        record(3, 21, "reserved", "default", 1_000_000, 100_000),
        record(4, 10, "reserved", "reserved", 5_000, 100),
    ];
    for backend in BACKENDS {
        let db = TestDb::new(backend).await;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("reserved.jsonl");
        std::fs::write(&path, lines.join("\n")).unwrap();
        let config = tierwatch::config::PricingConfig {
            reservations: vec![reservation.clone()],
            ..Default::default()
        };
        let loaded = tierwatch::prices::load(&config, &db.store).await.unwrap();
        let settings = ImportSettings {
            options: std::sync::Arc::new(Default::default()),
            prices: std::sync::Arc::new(loaded.table),
            batch_size: 100,
            progress: false,
        };
        import_paths(&db.store, &[path], settings).await.unwrap();

        let november = chrono::NaiveDate::from_ymd_opt(2026, 11, 1).unwrap();
        let months = for_month(
            &db.store,
            std::slice::from_ref(&reservation),
            &loaded.list,
            november,
        )
        .await
        .unwrap();
        assert_eq!(months.len(), 1);
        let month = &months[0];
        assert_eq!(month.days, 15);
        // 100 × 1K TPM × $0.198 per hour × 15 days × 24 h (the Price List's Reserved row).
        let fixed = 100 * 198_000_000_000_i128 * 360;
        assert!(
            matches!(&month.fixed_cost, FixedCost::Known { pico, .. } if *pico == fixed),
            "{backend:?}: {:?}",
            month.fixed_cost
        );
        assert_eq!(month.served.invocations, 2, "{backend:?}");
        assert_eq!(month.served.cost_pico, 0, "nothing per token");
        assert_eq!(month.served_tokens(), 1_100_000);
        // $7,128 over 1.1M tokens = $6,480 per 1M tokens.
        assert_eq!(
            month.effective_per_million_pico(),
            Some(fixed * 1_000_000 / 1_100_000)
        );
        // On Standard the served tokens would cost 1M × $3.30 + 100K × $16.50 per 1M.
        assert_eq!(
            month.standard_equivalent_pico,
            1_000_000 * 3_300_000 + 100_000 * 16_500_000
        );
        let overflow = month.overflow.as_ref().expect("raw invocations are kept");
        assert_eq!(overflow.invocations, 1);
        assert_eq!(
            overflow.cost_pico,
            1_000_000 * 3_300_000 + 100_000 * 16_500_000,
            "overflow is billed on Standard"
        );

        // The report: a row after the total with the fixed price, and a JSON section.
        let report = tierwatch::report::build_for(&db.store, self::november(), &config)
            .await
            .unwrap();
        let csv = report.to_csv();
        let fixed_row = csv
            .lines()
            .find(|line| line.contains(",reservation:sonnet-prod,"))
            .unwrap_or_else(|| panic!("{csv}"));
        assert!(
            fixed_row.starts_with(
                "2026-11,111122223333,us-east-1,anthropic.claude-sonnet-4-6,reservation:sonnet-prod,2,0,1000000,100000,0,0,7128.000000,priced,"
            ),
            "{fixed_row}"
        );
        assert!(
            csv.lines().last().unwrap().contains("reservation:"),
            "after the total"
        );
        let json: Value = serde_json::from_str(&report.to_json()).unwrap();
        let section = &json["reservations"][0];
        assert_eq!(section["fixed_cost_usd"], "7128.000000");
        assert_eq!(section["effective_usd_per_1m_tokens"], "6480.000000");
        assert_eq!(section["overflow_invocations"], 1);
        let markdown = report.to_markdown();
        assert!(markdown.contains("## Reserved capacity"), "{markdown}");
        // The dashboard's printable report and its downloads carry the same section.
        let app = tierwatch::dashboard::router(
            tierwatch::dashboard::AppState::new(db.store.clone(), None)
                .with_pricing(config.clone()),
        );
        let page = crate::dashboard::get(&app, "/reports/2026-11").await;
        assert!(page.body.contains("Reserved capacity"), "{}", page.body);
        assert!(page.body.contains("$7128.000000"), "{}", page.body);
        let download = crate::dashboard::get(&app, "/reports/2026-11.csv").await;
        assert_eq!(download.body, csv);

        // Once retention drops November's raw calls, its overflow is unknown, never 0.
        let december = Month {
            year: 2026,
            month: 12,
        };
        db.store
            .drop_raw_invocations(december.start_ms())
            .await
            .unwrap();
        let report = tierwatch::report::build_for(&db.store, self::november(), &config)
            .await
            .unwrap();
        assert_eq!(report.reservations[0].overflow, None);
        assert_eq!(
            report.reservations[0].served.invocations, 2,
            "served: rollups"
        );
        let json: Value = serde_json::from_str(&report.to_json()).unwrap();
        assert_eq!(json["reservations"][0]["overflow_invocations"], Value::Null);
        assert_eq!(json["reservations"][0]["overflow_cost_usd"], Value::Null);
        assert!(report.to_markdown().contains("unknown (raw calls dropped"));
        let page = crate::dashboard::get(&app, "/reports/2026-11").await;
        assert!(
            page.body.contains("unknown (raw calls dropped"),
            "{}",
            page.body
        );
        db.finish().await;
    }
}
