//! Import → store → report, on real Postgres and real SQLite, against totals computed by hand
//! (see tests/fixtures/import/README.md for the records and their prices).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tierwatch::ingest::record::ParseOptions;
use tierwatch::ingest::{ImportSettings, ImportSummary, import_paths};
use tierwatch::pricing::PriceTable;
use tierwatch::report::{self, Month};
use tierwatch::store::Store;

use crate::support::{BACKENDS, Backend, TestDb, fixture, test_prices};

const NOVEMBER: Month = Month {
    year: 2025,
    month: 11,
};

/// The expected November report. Costs are tokens × USD per 1M tokens from the test table:
/// - nova-pro standard: a…01 1000×0.80 + 4000×0.20 (cache read) + 500×3.20 = $0.003200, plus
///   a…11 (global profile, regional price) 100×0.80 + 100×3.20 = $0.000400 → $0.003600.
/// - nova-pro flex: a…02 2000×0.40 + 1000×1.60 = $0.002400; standard 2000×0.80 + 1000×3.20
///   = $0.004800; savings $0.002400.
/// - claude-3-haiku: no price → unpriced: no cost_usd (empty, never 0.000000), cost_status
///   `unpriced`, counted in unpriced_invocations.
/// - gpt-oss-120b priority: a…03 10000×0.2625 + 2000×1.05 = $0.004725; standard 10000×0.15 +
///   2000×0.60 = $0.002700; premium $0.002025.
/// - gpt-oss-120b standard: a…05, a throttled call: 1 invocation, 1 error, nothing billed: a
///   known $0, so `priced`.
/// - gpt-oss-120b flex: a…04 3000×0.075 + 600×0.30 = $0.000405; standard $0.000810.
/// - gpt-oss-20b standard: a…10 400×0.07 + 100×0.30 = $0.000058.
/// - qwen3-32b standard (`default`): a…12 1000×0.15 + 1000×0.60 = $0.000750.
/// - us-west-2 nova-pro: no us-west-2 price → unpriced (empty cost_usd).
/// - account 444455556666 gpt-oss-20b flex: 1000×0.035 + 1000×0.15 = $0.000185; standard
///   1000×0.07 + 1000×0.30 = $0.000370.
///
/// Total $0.012123, `partial`: it leaves out the 2 unpriced calls; standard equivalent
/// $0.013088; premium $0.002025; savings 0.002400 + 0.000405 + 0.000185 = $0.002990. Latencies (ms) 900, 3000, 400, 5000, 1200,
/// 6000 fall in histogram bins whose middles are 899, 3025, 412, 5087, 1166, 6049; the total
/// p50 is the 3rd of 6 (1200 → 1166), p95 the 6th (6000 → 6049).
pub const EXPECTED_CSV: &str = "\
month,account_id,region,model_id,tier,invocations,errors,input_tokens,output_tokens,cache_read_tokens,cache_write_tokens,cost_usd,cost_status,standard_equivalent_usd,priority_premium_usd,flex_savings_usd,unpriced_invocations,p50_latency_ms,p95_latency_ms
2025-11,111122223333,us-east-1,amazon.nova-pro-v1:0,standard,2,0,1100,600,4000,0,0.003600,priced,0.003600,0.000000,0.000000,0,899,899
2025-11,111122223333,us-east-1,amazon.nova-pro-v1:0,flex,1,0,2000,1000,0,0,0.002400,priced,0.004800,0.000000,0.002400,0,3025,3025
2025-11,111122223333,us-east-1,anthropic.claude-3-haiku-20240307-v1:0,standard,1,0,100,50,0,0,,unpriced,,0.000000,0.000000,1,412,412
2025-11,111122223333,us-east-1,openai.gpt-oss-120b-1:0,priority,1,0,10000,2000,0,0,0.004725,priced,0.002700,0.002025,0.000000,0,,
2025-11,111122223333,us-east-1,openai.gpt-oss-120b-1:0,standard,1,1,0,0,0,0,0.000000,priced,0.000000,0.000000,0.000000,0,,
2025-11,111122223333,us-east-1,openai.gpt-oss-120b-1:0,flex,1,0,3000,600,0,0,0.000405,priced,0.000810,0.000000,0.000405,0,5087,5087
2025-11,111122223333,us-east-1,openai.gpt-oss-20b-1:0,standard,1,0,400,100,0,0,0.000058,priced,0.000058,0.000000,0.000000,0,,
2025-11,111122223333,us-east-1,qwen.qwen3-32b-v1:0,standard,1,0,1000,1000,0,0,0.000750,priced,0.000750,0.000000,0.000000,0,,
2025-11,111122223333,us-west-2,amazon.nova-pro-v1:0,standard,1,0,500,300,0,0,,unpriced,,0.000000,0.000000,1,1166,1166
2025-11,444455556666,us-east-1,openai.gpt-oss-20b-1:0,flex,1,0,1000,1000,0,0,0.000185,priced,0.000370,0.000000,0.000185,0,6049,6049
2025-11,total,,,,11,1,19100,6650,4000,0,0.012123,partial,0.013088,0.002025,0.002990,2,1166,6049
";

/// Lays the fixtures out as a user would point tierwatch at them: an S3 delivery tree with a
/// gzipped batch and a body object under `data/` (to be skipped), plus loose files.
pub fn fixture_tree(root: &Path) -> PathBuf {
    let hour =
        root.join("logs/AWSLogs/111122223333/BedrockModelInvocationLogs/us-east-1/2025/11/20/10");
    std::fs::create_dir_all(hour.join("data")).unwrap();
    let batch = std::fs::read(fixture("import/batch-us-east-1.jsonl")).unwrap();
    gzip_to(
        &hour.join("20251120T101500000Z_0123456789abcdef.json.gz"),
        &batch,
    );
    gzip_to(
        &hour.join("data/a0000010-0000-4000-8000-000000000010_input.json.gz"),
        br#"{"messages":[{"role":"user","content":"offloaded body, not a log record"}]}"#,
    );
    for name in ["redelivered.json", "other-account.jsonl"] {
        std::fs::copy(
            fixture(&format!("import/{name}")),
            root.join("logs").join(name),
        )
        .unwrap();
    }
    root.join("logs")
}

fn gzip_to(path: &Path, bytes: &[u8]) {
    let file = std::fs::File::create(path).unwrap();
    let mut encoder = flate2::write::GzEncoder::new(file, flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap();
}

async fn import(store: &Store, path: &Path, prices: PriceTable) -> ImportSummary {
    let settings = ImportSettings {
        options: Arc::new(ParseOptions::default()),
        prices: Arc::new(prices),
        batch_size: 4, // several batches, so batch boundaries are exercised
        progress: false,
    };
    import_paths(store, &[path.to_path_buf()], settings)
        .await
        .expect("the import runs")
}

async fn november_csv(store: &Store) -> String {
    report::build(store, NOVEMBER).await.unwrap().to_csv()
}

#[tokio::test]
async fn fixtures_give_the_hand_computed_report_and_reimport_changes_nothing() {
    for backend in BACKENDS {
        let db = TestDb::new(backend).await;
        let dir = tempfile::tempdir().unwrap();
        let tree = fixture_tree(dir.path());

        let first = import(&db.store, &tree, test_prices()).await;
        assert_eq!(first.files, 3, "{backend:?}: the body object is skipped");
        assert_eq!(first.body_objects, 1, "{backend:?}");
        assert!(first.skipped.is_empty(), "{backend:?}");
        assert_eq!(first.records_read, 15, "{backend:?}");
        assert_eq!(first.imported, 12, "{backend:?}");
        assert_eq!(first.duplicates, 1, "{backend:?}: a…01 is delivered twice");
        assert_eq!(first.rejected.get("invalid_json"), Some(&1), "{backend:?}");
        assert_eq!(
            first.rejected.get("invalid_timestamp"),
            Some(&1),
            "{backend:?}"
        );
        assert_eq!(first.rejected_total(), 2, "{backend:?}");
        assert_eq!(first.unpriced_imported, 2, "{backend:?}");
        assert!(!first.failed(), "{backend:?}");
        assert_eq!(november_csv(&db.store).await, EXPECTED_CSV, "{backend:?}");

        // Same import again: nothing new, the same report, quarantine not doubled.
        let second = import(&db.store, &tree, test_prices()).await;
        assert_eq!(second.imported, 0, "{backend:?}");
        assert_eq!(second.duplicates, 13, "{backend:?}");
        assert_eq!(november_csv(&db.store).await, EXPECTED_CSV, "{backend:?}");
        let quarantine = db.store.quarantine_groups().await.unwrap();
        let total: i64 = quarantine.iter().map(|group| group.records).sum();
        assert_eq!(total, 2, "{backend:?}: {quarantine:?}");

        // The December record lands in December only.
        let december = report::build(&db.store, NOVEMBER.next()).await.unwrap();
        assert_eq!(december.total.totals.invocations, 1, "{backend:?}");
        db.finish().await;
    }
}

#[tokio::test]
async fn unpriced_invocations_are_listed_with_their_cause() {
    let db = TestDb::new(Backend::Sqlite).await;
    let dir = tempfile::tempdir().unwrap();
    import(&db.store, &fixture_tree(dir.path()), test_prices()).await;
    let report = report::build(&db.store, NOVEMBER).await.unwrap();
    let causes: Vec<(&str, &str, i64)> = report
        .unpriced
        .iter()
        .map(|group| {
            (
                group.model_id.as_str(),
                group.region.as_str(),
                group.invocations,
            )
        })
        .collect();
    assert_eq!(
        causes,
        [
            ("amazon.nova-pro-v1:0", "us-west-2", 1),
            ("anthropic.claude-3-haiku-20240307-v1:0", "us-east-1", 1)
        ]
    );
    for group in &report.unpriced {
        assert!(group.reason.contains(&group.model_id), "{group:?}");
    }
    let markdown = report.to_markdown();
    assert!(markdown.contains("## Unpriced invocations"), "{markdown}");
    let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
    assert_eq!(json["total"]["cost_usd"], "0.012123");
    assert_eq!(json["unpriced"].as_array().map(Vec::len), Some(2));
    db.finish().await;
}

/// The fixture table without Nova Pro Standard's cache-read rate: a…01 (4000 cache-read
/// tokens) becomes unpriced, a…11 stays priced, so their row is partly priced.
fn prices_without_nova_cache_reads() -> PriceTable {
    let base = std::fs::read_to_string(fixture("pricing/launch-us-east-1.toml")).unwrap();
    let rate = "output = \"3.20\"\ncache_read = \"0.20\"\n";
    assert_eq!(base.matches(rate).count(), 1, "Nova Pro Standard's rates");
    let without = base.replace(rate, "output = \"3.20\"\n");
    PriceTable::parse(&without, "no cache-read rate").unwrap()
}

/// A row whose calls are all unpriced has no cost (never 0.000000) in every format; a partly
/// priced row has the priced calls' cost, marked partial beside its unpriced count; a row of
/// not-billed calls keeps its legitimate $0; the total says what it leaves out.
#[tokio::test]
async fn unpriced_and_partly_priced_rows_read_as_such_in_every_format() {
    for backend in BACKENDS {
        let db = TestDb::new(backend).await;
        let dir = tempfile::tempdir().unwrap();
        import(
            &db.store,
            &fixture_tree(dir.path()),
            prices_without_nova_cache_reads(),
        )
        .await;
        let report = report::build(&db.store, NOVEMBER).await.unwrap();

        let csv = report.to_csv();
        let line = |prefix: &str| {
            csv.lines()
                .find(|line| line.starts_with(prefix))
                .unwrap_or_else(|| panic!("no row {prefix}: {csv}"))
                .to_string()
        };
        let east = "2025-11,111122223333,us-east-1,";
        assert_eq!(
            line(&format!(
                "{east}anthropic.claude-3-haiku-20240307-v1:0,standard,"
            )),
            format!(
                "{east}anthropic.claude-3-haiku-20240307-v1:0,standard,1,0,100,50,0,0,,unpriced,,0.000000,0.000000,1,412,412"
            ),
            "{backend:?}"
        );
        // a…11 alone is priced: 100×0.80 + 100×3.20 = $0.000400.
        assert_eq!(
            line(&format!("{east}amazon.nova-pro-v1:0,standard,")),
            format!(
                "{east}amazon.nova-pro-v1:0,standard,2,0,1100,600,4000,0,0.000400,partial,0.000400,0.000000,0.000000,1,899,899"
            ),
            "{backend:?}"
        );
        assert!(
            line(&format!("{east}openai.gpt-oss-120b-1:0,standard,"))
                .contains(",0,0,0,0,0.000000,priced,0.000000,"),
            "not billed is a known $0: {csv}"
        );
        // $0.012123 − a…01's $0.003200, leaving out 3 calls.
        assert_eq!(
            line("2025-11,total,"),
            "2025-11,total,,,,11,1,19100,6650,4000,0,0.008923,partial,0.009888,0.002025,0.002990,3,1166,6049",
            "{backend:?}"
        );

        let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
        let row = |model: &str, region: &str, tier: &str| {
            json["rows"]
                .as_array()
                .unwrap()
                .iter()
                .find(|row| {
                    row["model_id"] == model && row["region"] == region && row["tier"] == tier
                })
                .unwrap_or_else(|| panic!("no row {model} {region} {tier}"))
                .clone()
        };
        let claude = row(
            "anthropic.claude-3-haiku-20240307-v1:0",
            "us-east-1",
            "standard",
        );
        assert_eq!(claude["cost_usd"], serde_json::Value::Null, "{backend:?}");
        assert_eq!(claude["cost_status"], "unpriced");
        assert_eq!(claude["standard_equivalent_usd"], serde_json::Value::Null);
        let west = row("amazon.nova-pro-v1:0", "us-west-2", "standard");
        assert_eq!(west["cost_usd"], serde_json::Value::Null);
        let nova = row("amazon.nova-pro-v1:0", "us-east-1", "standard");
        assert_eq!(nova["cost_usd"], "0.000400");
        assert_eq!(nova["cost_status"], "partial");
        assert_eq!(nova["unpriced_invocations"], 1);
        let throttled = row("openai.gpt-oss-120b-1:0", "us-east-1", "standard");
        assert_eq!(throttled["cost_usd"], "0.000000");
        assert_eq!(throttled["cost_status"], "priced");
        assert_eq!(json["total"]["cost_usd"], "0.008923");
        assert_eq!(json["total"]["cost_status"], "partial");
        assert_eq!(json["total"]["unpriced_invocations"], 3);

        let markdown = report.to_markdown();
        assert!(
            markdown.contains(
                "Total **$0.008923** over 11 invocations (partial: it leaves out 3 unpriced \
                 invocations)"
            ),
            "{markdown}"
        );
        assert!(
            markdown.contains(
                "| anthropic.claude-3-haiku-20240307-v1:0 | standard | 1 | 0 | 100 | 50 | 0 | 0 | \
                 unpriced | unpriced | unpriced |"
            ),
            "{markdown}"
        );
        assert!(
            markdown.contains(
                "| amazon.nova-pro-v1:0 | standard | 2 | 0 | 1100 | 600 | 4000 | 0 | 0.000400 | \
                 partial | 0.000400 |"
            ),
            "{markdown}"
        );
        db.finish().await;
    }
}

/// The fixture table plus a later Nova Pro Standard price from 2025-11-25.
fn prices_with_a_change() -> PriceTable {
    prices_with_a_nova_pro_change("2025-11-25")
}

/// The fixture table plus a later us-east-1 Nova Pro Standard price from `from` (YYYY-MM-DD).
pub(crate) fn prices_with_a_nova_pro_change(from: &str) -> PriceTable {
    let base = std::fs::read_to_string(fixture("pricing/launch-us-east-1.toml")).unwrap();
    let change = format!(
        r#"
[[price]]
region = "us-east-1"
model = "amazon.nova-pro-v1:0"
tier = "standard"
effective_from = {from}
input = "1.00"
output = "4.00"
cache_read = "0.25"
source = "test: a price change"
"#
    );
    PriceTable::parse(&format!("{base}{change}"), "changed prices").unwrap()
}

#[tokio::test]
async fn reprice_applies_a_changed_table_and_rebuilds_rollups_exactly() {
    for backend in BACKENDS {
        let dir = tempfile::tempdir().unwrap();
        let tree = fixture_tree(dir.path());

        // Imported with the old table, then repriced with the new one…
        let db = TestDb::new(backend).await;
        import(&db.store, &tree, test_prices()).await;
        let unchanged = reprice(&db.store, &test_prices()).await;
        assert_eq!(
            unchanged,
            (11, 0),
            "{backend:?}: same table, nothing changes"
        );
        assert_eq!(november_csv(&db.store).await, EXPECTED_CSV, "{backend:?}");
        let repriced = reprice(&db.store, &prices_with_a_change()).await;
        // Only a…11 (2025-11-30) falls after the change: 100×1.00 + 100×4.00 = $0.000500.
        assert_eq!(repriced, (11, 1), "{backend:?}");
        let after = november_csv(&db.store).await;
        assert!(
            after.contains(
                ",amazon.nova-pro-v1:0,standard,2,0,1100,600,4000,0,0.003700,priced,0.003700,"
            ),
            "{after}"
        );
        assert!(
            after.contains(",total,,,,11,1,19100,6650,4000,0,0.012223,partial,0.013188,"),
            "{after}"
        );

        // …equals importing with the new table from the start.
        let fresh = TestDb::new(backend).await;
        import(&fresh.store, &tree, prices_with_a_change()).await;
        assert_eq!(november_csv(&fresh.store).await, after, "{backend:?}");
        db.finish().await;
        fresh.finish().await;
    }
}

async fn reprice(store: &Store, prices: &PriceTable) -> (u64, u64) {
    use tierwatch::pricing::PricingOutcome;
    use tierwatch::store::RepriceDecision;
    let outcome = store
        .reprice(
            NOVEMBER.start_ms(),
            NOVEMBER.end_ms(),
            |invocation| match prices.price(invocation) {
                PricingOutcome::Priced(priced) => RepriceDecision::Priced {
                    price: Arc::new(tierwatch::ingest::price_row_record(&priced.price)),
                    cost: priced.cost,
                    standard: priced.standard_equivalent.map(|standard| {
                        (
                            Arc::new(tierwatch::ingest::price_row_record(&standard.price)),
                            standard.cost,
                        )
                    }),
                },
                PricingOutcome::NotBilled => RepriceDecision::NotBilled,
                PricingOutcome::Unpriced { reason } => RepriceDecision::Unpriced { reason },
            },
        )
        .await
        .unwrap();
    (outcome.invocations, outcome.changed)
}

/// Every record written by AWS that we found imports, or is rejected with a reason naming what
/// is wrong; none stops the run.
#[tokio::test]
async fn every_real_aws_sample_imports_or_is_rejected_with_a_reason() {
    for backend in BACKENDS {
        let db = TestDb::new(backend).await;
        let summary = import(&db.store, &fixture("real-aws"), test_prices()).await;
        assert!(!summary.failed(), "{backend:?}: {summary}");
        // 19 .json samples; 03 and 04 carry author-masked timestamps.
        assert_eq!(summary.imported, 17, "{backend:?}: {summary}");
        assert_eq!(
            summary.rejected.get("invalid_timestamp"),
            Some(&2),
            "{summary}"
        );
        assert!(
            summary
                .rejected
                .get("invalid_json")
                .is_some_and(|n| *n >= 3),
            "{summary}"
        );
        for rejected in &summary.rejected_examples {
            assert!(!rejected.detail.is_empty(), "{rejected:?}");
        }
        // None of these models is in the launch price table: all unpriced, none $0.
        assert_eq!(summary.unpriced_imported, 17, "{backend:?}: {summary}");
        db.finish().await;
    }
}
