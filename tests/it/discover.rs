//! `tierwatch discover` end to end: regions seeded through Bedrock's own API
//! (PutModelInvocationLoggingConfiguration, answered by moto behind the front), the binary
//! asked about them, and the config it writes polled as it is.

use std::path::Path;
use std::process::{Command, Output};

use aws_config::Region;
use aws_sdk_bedrock::types::{CloudWatchConfig, LoggingConfig, S3Config};
use tierwatch::simulate::{S3LayoutOptions, SimulationSpec, Simulator, Truth, write_s3_layout};

use crate::aws::{Fault, StandIns};
use crate::daemon::{poll_once, seed_group, text, tierwatch};
use crate::support::{Backend, TestDb, with_test_aws_credentials};

/// The account moto's STS answers for the test credentials.
const CALLER_ACCOUNT: &str = "123456789012";
/// The account of the logging role seeded below: another one, so a test can tell where an
/// account id came from.
const ROLE_ACCOUNT: &str = "111122223333";
const GROUP: &str = "/aws/bedrock/modelinvocations";

const CLOUDWATCH_ONLY: &str = "us-east-1";
const S3_ONLY: &str = "us-west-2";
const BOTH: &str = "eu-west-1";
const OFF: &str = "ap-northeast-1";

async fn bedrock(standins: &StandIns, region: &str) -> aws_sdk_bedrock::Client {
    let config = aws_sdk_bedrock::config::Builder::from(&standins.sdk_config().await)
        .region(Region::new(region.to_string()))
        .build();
    aws_sdk_bedrock::Client::from_conf(config)
}

fn s3_config(bucket: &str, prefix: &str) -> S3Config {
    S3Config::builder()
        .bucket_name(bucket)
        .key_prefix(prefix)
        .build()
        .expect("bucket given")
}

fn cloudwatch_config(large_data: Option<S3Config>) -> CloudWatchConfig {
    CloudWatchConfig::builder()
        .log_group_name(GROUP)
        .role_arn(format!("arn:aws:iam::{ROLE_ACCOUNT}:role/bedrock-logging"))
        .set_large_data_delivery_s3_config(large_data)
        .build()
        .expect("group and role given")
}

async fn put_logging(standins: &StandIns, region: &str, config: LoggingConfig) {
    bedrock(standins, region)
        .await
        .put_model_invocation_logging_configuration()
        .logging_config(config)
        .send()
        .await
        .unwrap_or_else(|error| {
            panic!("PutModelInvocationLoggingConfiguration {region}: {error:?}")
        });
}

/// The four kinds of region: CloudWatch only (with a large-data bucket), S3 only, both ways
/// with text delivery off, and logging turned off again.
async fn seed_regions(standins: &StandIns) {
    put_logging(
        standins,
        CLOUDWATCH_ONLY,
        LoggingConfig::builder()
            .cloud_watch_config(cloudwatch_config(Some(s3_config("big-bodies", "cw"))))
            .text_data_delivery_enabled(true)
            .build(),
    )
    .await;
    put_logging(
        standins,
        S3_ONLY,
        LoggingConfig::builder()
            .s3_config(s3_config("org-bedrock-logs", "bedrock"))
            .text_data_delivery_enabled(true)
            .build(),
    )
    .await;
    put_logging(
        standins,
        BOTH,
        LoggingConfig::builder()
            .cloud_watch_config(cloudwatch_config(None))
            .s3_config(s3_config("eu-bedrock-logs", "logs/"))
            .text_data_delivery_enabled(false)
            .build(),
    )
    .await;
    put_logging(
        standins,
        OFF,
        LoggingConfig::builder()
            .cloud_watch_config(cloudwatch_config(None))
            .text_data_delivery_enabled(true)
            .build(),
    )
    .await;
    bedrock(standins, OFF)
        .await
        .delete_model_invocation_logging_configuration()
        .send()
        .await
        .expect("DeleteModelInvocationLoggingConfiguration");
}

/// `tierwatch discover …` in `dir`, with no config file and the test credentials.
fn discover(dir: &Path, standins: &StandIns, regions: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tierwatch"));
    command
        .args(["discover", "--regions", &regions.join(",")])
        .args(["--endpoint-url", &standins.endpoint_url()])
        .current_dir(dir);
    with_test_aws_credentials(&mut command)
        .output()
        .expect("running discover")
}

/// The printed `[[sources]]`, by name.
fn printed_sources(output: &Output) -> Vec<toml::Table> {
    let stdout = text(&output.stdout);
    let document: toml::Table = stdout
        .parse()
        .unwrap_or_else(|error| panic!("discover printed invalid TOML: {error}\n{stdout}"));
    document
        .get("sources")
        .and_then(toml::Value::as_array)
        .map(|sources| {
            sources
                .iter()
                .filter_map(|source| source.as_table().cloned())
                .collect()
        })
        .unwrap_or_default()
}

fn source<'a>(sources: &'a [toml::Table], region: &str) -> &'a toml::Table {
    sources
        .iter()
        .find(|source| source["region"].as_str() == Some(region))
        .unwrap_or_else(|| panic!("no source for {region}: {sources:?}"))
}

fn strings(value: &toml::Value) -> Vec<&str> {
    value
        .as_array()
        .map(|items| items.iter().filter_map(toml::Value::as_str).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn discover_prints_an_entry_per_delivery_and_warns_where_costs_or_tiers_are_missing() {
    let standins = StandIns::start().await;
    seed_regions(&standins).await;
    let dir = tempfile::tempdir().unwrap();

    let output = discover(
        dir.path(),
        &standins,
        &[CLOUDWATCH_ONLY, S3_ONLY, BOTH, OFF],
    );
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", text(&output.stderr));
    let sources = printed_sources(&output);
    assert_eq!(sources.len(), 3, "{stdout}");
    let endpoint = standins.endpoint_url();

    let cloudwatch = source(&sources, CLOUDWATCH_ONLY);
    assert_eq!(cloudwatch["name"].as_str(), Some("123456789012-us-east-1"));
    assert_eq!(cloudwatch["account_id"].as_str(), Some(CALLER_ACCOUNT));
    assert_eq!(cloudwatch["log_group"].as_str(), Some(GROUP));
    assert_eq!(cloudwatch["endpoint_url"].as_str(), Some(endpoint.as_str()));
    assert!(!cloudwatch.contains_key("s3_uri"));
    assert_eq!(cloudwatch["metrics"].as_bool(), Some(true));
    assert_eq!(cloudwatch["quotas"].as_bool(), Some(true));
    assert!(
        stdout.contains("bodies over 100 KB to s3://big-bodies/cw"),
        "{stdout}"
    );

    let s3 = source(&sources, S3_ONLY);
    assert_eq!(
        s3["s3_uri"].as_str(),
        Some("s3://org-bedrock-logs/bedrock/")
    );
    assert_eq!(strings(&s3["accounts"]), [CALLER_ACCOUNT]);
    assert_eq!(strings(&s3["regions"]), [S3_ONLY]);
    assert!(!s3.contains_key("log_group"));
    assert_eq!(s3["account_id"].as_str(), Some(CALLER_ACCOUNT));

    let both = source(&sources, BOTH);
    assert_eq!(both["log_group"].as_str(), Some(GROUP));
    assert_eq!(both["s3_uri"].as_str(), Some("s3://eu-bedrock-logs/logs/"));
    assert_eq!(strings(&both["regions"]), [BOTH]);
    assert!(stdout.contains("each call is stored once"), "{stdout}");

    // Logging off: no source, a warning. Text delivery off (the both-ways region): a warning.
    assert!(
        stdout.contains("# ap-northeast-1: model invocation logging is off"),
        "{stdout}"
    );
    assert_eq!(
        stdout
            .matches("# WARNING: model invocation logging is off")
            .count(),
        1
    );
    assert_eq!(stdout.matches("# WARNING: text delivery is off").count(), 1);
    let eu_block = &stdout[stdout.find("# eu-west-1:").expect("the eu-west-1 block")..];
    assert!(eu_block.contains("WARNING: text delivery is off"));

    let calls = standins.calls().await;
    assert_eq!(calls.get("GetCallerIdentity"), Some(&1));
    // One STS call for the account, one Bedrock call per region (seeding only put and deleted).
    assert_eq!(
        calls.get("GetModelInvocationLoggingConfiguration"),
        Some(&4)
    );
}

/// A few simulated invocation records from the last hours, as log events.
fn recent_events(records: u64) -> Vec<(i64, String)> {
    let now = chrono::Utc::now().timestamp_millis();
    let mut spec = SimulationSpec::month(2025, 11, records, 7);
    spec.start_ms = now - 3 * 3_600_000;
    spec.end_ms = now - 60_000;
    spec.accounts = vec![CALLER_ACCOUNT.into()];
    spec.regions = vec![CLOUDWATCH_ONLY.into()];
    Simulator::new(&spec)
        .expect("a valid simulation")
        .map(|record| (record.timestamp_ms, record.line))
        .collect()
}

#[tokio::test]
async fn the_written_config_polls_without_edits() {
    let standins = StandIns::start().await;
    seed_regions(&standins).await;
    seed_group(&standins, GROUP, &recent_events(200)).await;
    let db = TestDb::new(Backend::Sqlite).await;
    let dir = tempfile::tempdir().unwrap();
    // What the user had: a database, no sources.
    let config = dir.path().join("tierwatch.toml");
    std::fs::write(&config, format!("[database]\nurl = \"{}\"", db.url)).unwrap();
    let write = || {
        tierwatch(
            &config,
            &[
                "discover",
                "--regions",
                &format!("{CLOUDWATCH_ONLY},{OFF}"),
                "--endpoint-url",
                &standins.endpoint_url(),
                "--write",
            ],
        )
        .output()
        .expect("running discover --write")
    };

    let written = write();
    let stdout = text(&written.stdout);
    assert!(
        written.status.success(),
        "{stdout}{}",
        text(&written.stderr)
    );
    assert!(
        stdout.contains("us-east-1: added source \"123456789012-us-east-1\""),
        "{stdout}"
    );
    assert!(
        stdout.contains("ap-northeast-1: nothing added: model invocation logging is off"),
        "{stdout}"
    );
    assert!(
        stdout.contains("warning: model invocation logging is off"),
        "{stdout}"
    );
    let file = std::fs::read_to_string(&config).unwrap();
    assert!(file.starts_with("[database]\n"), "{file}");
    assert_eq!(file.matches("[[sources]]").count(), 1, "{file}");

    let polled = poll_once(&config);
    let poll_stdout = text(&polled.stdout);
    assert!(
        polled.status.success(),
        "{poll_stdout}{}\n{file}",
        text(&polled.stderr)
    );
    let health = db.store.source_health().await.expect("reading health");
    let kinds: Vec<&str> = health.iter().map(|row| row.kind.as_str()).collect();
    for kind in ["logs", "metrics", "quotas"] {
        assert!(kinds.contains(&kind), "{kind} not polled: {health:?}");
    }
    assert!(
        health.iter().all(|row| row.last_error.is_none()),
        "{health:?}"
    );
    let logs = health.iter().find(|row| row.kind == "logs").unwrap();
    assert_eq!(logs.source, "123456789012-us-east-1");
    assert_eq!(logs.items_last_cycle, 200, "{poll_stdout}");
    assert!(
        db.store
            .count_invocations(0, i64::MAX / 2)
            .await
            .expect("counting")
            > 0
    );

    // Again: nothing is added twice.
    let again = write();
    assert!(again.status.success(), "{}", text(&again.stderr));
    assert!(
        text(&again.stdout).contains("already configured as source \"123456789012-us-east-1\""),
        "{}",
        text(&again.stdout)
    );
    assert_eq!(std::fs::read_to_string(&config).unwrap(), file);

    // The S3-only and both-ways regions: written, then polled as written. The both-ways
    // region's calls reach its log group and its bucket, and are stored once.
    let before = db.store.count_invocations(0, i64::MAX / 2).await.unwrap();
    let s3_only = deliver_to_s3(&standins, "org-bedrock-logs", "bedrock/", S3_ONLY, 11).await;
    let both = deliver_to_s3(&standins, "eu-bedrock-logs", "logs/", BOTH, 12).await;
    let both_events: Vec<(i64, String)> = both
        .iter()
        .map(|(at, line, _)| (*at, line.clone()))
        .collect();
    seed_group_in(&standins, BOTH, &both_events).await;
    let written = tierwatch(
        &config,
        &[
            "discover",
            "--regions",
            &format!("{S3_ONLY},{BOTH}"),
            "--endpoint-url",
            &standins.endpoint_url(),
            "--write",
        ],
    )
    .output()
    .expect("running discover --write");
    assert!(
        written.status.success(),
        "{}{}",
        text(&written.stdout),
        text(&written.stderr)
    );
    let polled = poll_once(&config);
    let file = std::fs::read_to_string(&config).unwrap();
    assert!(
        polled.status.success(),
        "{}{}\n{file}",
        text(&polled.stdout),
        text(&polled.stderr)
    );
    let health = db.store.source_health().await.expect("reading health");
    for (source, kind) in [
        ("123456789012-us-west-2", "s3"),
        ("123456789012-eu-west-1", "s3"),
        ("123456789012-eu-west-1", "logs"),
    ] {
        let row = health
            .iter()
            .find(|row| row.source == source && row.kind == kind)
            .unwrap_or_else(|| panic!("{source} {kind} not polled: {health:?}"));
        assert!(row.last_error.is_none(), "{row:?}");
    }
    let good = |records: &[(i64, String, bool)]| {
        records.iter().filter(|(_, _, good)| *good).count() as i64
    };
    assert_eq!(
        db.store.count_invocations(0, i64::MAX / 2).await.unwrap(),
        before + good(&s3_only) + good(&both)
    );
    db.finish().await;
}

/// Simulated calls of the caller's account in `region`, delivered to `s3://bucket/prefix` in
/// Bedrock's layout (bucket created in that region). Returns (time, line, is good) of each.
async fn deliver_to_s3(
    standins: &StandIns,
    bucket: &str,
    prefix: &str,
    region: &str,
    seed: u64,
) -> Vec<(i64, String, bool)> {
    use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};
    let now = chrono::Utc::now().timestamp_millis();
    let mut spec = SimulationSpec::month(2025, 11, 150, seed);
    spec.start_ms = now - 3 * 3_600_000;
    spec.end_ms = now - 60_000;
    spec.accounts = vec![CALLER_ACCOUNT.into()];
    spec.regions = vec![region.into()];
    let records: Vec<_> = Simulator::new(&spec).expect("a valid simulation").collect();
    let seen: Vec<(i64, String, bool)> = records
        .iter()
        .map(|r| {
            (
                r.timestamp_ms,
                r.line.clone(),
                matches!(r.truth, Truth::Good(_)),
            )
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let options = S3LayoutOptions {
        prefix: prefix.trim_end_matches('/').into(),
        records_per_file: 50,
        gzip_level: 1,
    };
    write_s3_layout(records.into_iter(), dir.path(), &options).expect("writing the layout");
    let config = aws_sdk_s3::config::Builder::from(&standins.moto_sdk_config().await)
        .region(Region::new(region.to_string()))
        .force_path_style(true)
        .build();
    let s3 = aws_sdk_s3::Client::from_conf(config);
    s3.create_bucket()
        .bucket(bucket)
        .create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::from(region))
                .build(),
        )
        .send()
        .await
        .unwrap_or_else(|error| panic!("CreateBucket {bucket}: {error:?}"));
    for (key, body) in crate::s3::layout_objects(dir.path()) {
        s3.put_object()
            .bucket(bucket)
            .key(&key)
            .body(aws_sdk_s3::primitives::ByteStream::from(body))
            .send()
            .await
            .unwrap_or_else(|error| panic!("PutObject {key}: {error:?}"));
    }
    seen
}

/// Log events in the invocation-log group of `region`.
async fn seed_group_in(standins: &StandIns, region: &str, events: &[(i64, String)]) {
    let config = aws_sdk_cloudwatchlogs::config::Builder::from(&standins.sdk_config().await)
        .region(Region::new(region.to_string()))
        .build();
    let logs = aws_sdk_cloudwatchlogs::Client::from_conf(config);
    crate::aws::create_log_stream(&logs, GROUP, "aws/bedrock/modelinvocations").await;
    crate::aws::put_log_events(&logs, GROUP, "aws/bedrock/modelinvocations", events).await;
}

#[tokio::test]
async fn without_sts_the_account_comes_from_the_logging_role_and_a_failed_region_fails_the_run() {
    let standins = StandIns::start().await;
    seed_regions(&standins).await;
    standins
        .inject_fault(Fault::error("GetCallerIdentity", 403, "AccessDenied").times(1))
        .await;
    // The first region asked is refused.
    standins
        .inject_fault(
            Fault::error(
                "GetModelInvocationLoggingConfiguration",
                403,
                "AccessDeniedException",
            )
            .times(1),
        )
        .await;
    let dir = tempfile::tempdir().unwrap();

    let output = discover(
        dir.path(),
        &standins,
        &["eu-central-1", CLOUDWATCH_ONLY, S3_ONLY],
    );
    let stderr = text(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("eu-central-1")
            && stderr.contains("AccessDeniedException")
            && stderr.contains("bedrock:GetModelInvocationLoggingConfiguration"),
        "{stderr}"
    );
    let sources = printed_sources(&output);
    assert_eq!(sources.len(), 2, "{}", text(&output.stdout));
    let cloudwatch = source(&sources, CLOUDWATCH_ONLY);
    assert_eq!(cloudwatch["account_id"].as_str(), Some(ROLE_ACCOUNT));
    assert_eq!(cloudwatch["metrics"].as_bool(), Some(true));
    let s3 = source(&sources, S3_ONLY);
    assert!(!s3.contains_key("account_id"));
    assert!(!s3.contains_key("accounts"));
    assert_eq!(s3["metrics"].as_bool(), Some(false));
    assert_eq!(s3["quotas"].as_bool(), Some(false));
    assert!(
        text(&output.stdout).contains("WARNING: the account is unknown"),
        "{}",
        text(&output.stdout)
    );
}
