//! The daemon's part of the configuration: how often to poll, and the list of AWS sources
//! (one account and region each). Parsed from `[daemon]` and `[[sources]]`.

use std::collections::HashSet;
use std::time::Duration;

use serde::Deserialize;

use super::ConfigError;
use crate::sources::s3::keys::S3Uri;

/// Polling settings shared by every source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonConfig {
    /// How often each source's invocation logs are read.
    pub logs_interval: Duration,
    /// How often CloudWatch metrics are read.
    pub metrics_interval: Duration,
    /// How often Service Quotas are read.
    pub quotas_interval: Duration,
    /// How late data may arrive and still be read: logs are read once more when this old,
    /// metrics cycles re-read this much before their checkpoint.
    pub lookback: Duration,
    /// A source's first cycle starts this long ago (unless the source sets `backfill_from`).
    pub backfill: Duration,
    /// Logs are read in windows of at most this much log time; each window's checkpoint
    /// commits with its last batch, so a restart re-reads at most one window.
    pub window: Duration,
    /// Attempts per AWS API call (the SDK's retries with jittered exponential backoff).
    pub max_attempts: u32,
    /// Longest wait before retrying a source whose cycles keep failing.
    pub max_backoff: Duration,
}

impl Default for DaemonConfig {
    fn default() -> DaemonConfig {
        DaemonConfig {
            logs_interval: Duration::from_secs(60),
            metrics_interval: Duration::from_secs(300),
            quotas_interval: Duration::from_secs(6 * 3600),
            lookback: Duration::from_secs(15 * 60),
            backfill: Duration::from_secs(24 * 3600),
            window: Duration::from_secs(3600),
            max_attempts: 5,
            max_backoff: Duration::from_secs(600),
        }
    }
}

/// One AWS account and region to poll.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceConfig {
    /// Unique name: checkpoints, health and replica locks are keyed on it.
    pub name: String,
    pub region: String,
    /// The account, when known (shown in health; records carry their own account).
    pub account_id: Option<String>,
    /// The invocation-log group; no logs are read when unset.
    pub log_group: Option<String>,
    /// A role to assume (from the standard credential chain's identity).
    pub role_arn: Option<String>,
    pub external_id: Option<String>,
    /// Override of the AWS endpoints (a local stand-in, LocalStack, a VPC endpoint).
    pub endpoint_url: Option<String>,
    /// Read `AWS/Bedrock` CloudWatch metrics.
    pub metrics: bool,
    /// Read Service Quotas for `bedrock`.
    pub quotas: bool,
    /// First run reads logs from this time (Unix milliseconds) instead of `daemon.backfill`.
    pub backfill_from_ms: Option<i64>,
    /// Invocation logs delivered to S3; none are read from S3 when unset.
    pub s3: Option<S3SourceConfig>,
}

/// A source's S3 delivery: where Bedrock writes, and how tierwatch reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3SourceConfig {
    /// The bucket and prefix Bedrock was given (`s3://bucket/prefix/`).
    pub uri: S3Uri,
    /// Only these accounts' deliveries (all when empty).
    pub accounts: Vec<String>,
    /// Only these regions' deliveries (all when empty).
    pub regions: Vec<String>,
    /// Each listing re-lists this much before now, for objects delivered late.
    pub lookback: Duration,
    /// Objects fetched at once.
    pub concurrency: usize,
    /// A queue receiving the bucket's ObjectCreated notifications (notification mode).
    pub sqs_queue_url: Option<String>,
    /// In notification mode, how often the bucket is listed anyway, for what the queue lost.
    pub reconcile_interval: Duration,
    /// How long one ReceiveMessage waits for messages (long polling, at most 20 s).
    pub sqs_wait: Duration,
    /// How long a received message stays hidden from other consumers while its objects are
    /// read; one left on the queue (failed) comes back after it.
    pub sqs_visibility_timeout: Duration,
}

impl S3SourceConfig {
    pub const DEFAULT_LOOKBACK: Duration = Duration::from_secs(3600);
    pub const DEFAULT_CONCURRENCY: usize = 8;
    pub const DEFAULT_RECONCILE_INTERVAL: Duration = Duration::from_secs(6 * 3600);
    pub const DEFAULT_SQS_WAIT: Duration = Duration::from_secs(20);
    pub const DEFAULT_SQS_VISIBILITY_TIMEOUT: Duration = Duration::from_secs(300);
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileDaemon {
    logs_interval: Option<String>,
    metrics_interval: Option<String>,
    quotas_interval: Option<String>,
    lookback: Option<String>,
    backfill: Option<String>,
    window: Option<String>,
    max_attempts: Option<i64>,
    max_backoff: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileSource {
    name: Option<String>,
    region: Option<String>,
    account_id: Option<String>,
    log_group: Option<String>,
    role_arn: Option<String>,
    external_id: Option<String>,
    endpoint_url: Option<String>,
    metrics: Option<bool>,
    quotas: Option<bool>,
    backfill_from: Option<String>,
    s3_uri: Option<String>,
    accounts: Option<Vec<String>>,
    regions: Option<Vec<String>>,
    s3_lookback: Option<String>,
    s3_concurrency: Option<i64>,
    sqs_queue_url: Option<String>,
    s3_reconcile_interval: Option<String>,
    sqs_wait_time: Option<String>,
    sqs_visibility_timeout: Option<String>,
}

/// Parses durations written as a number and a unit: `90s`, `15m`, `6h`, `2d` (or `500ms`).
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().ok()?;
    let seconds = match unit.trim() {
        "ms" => return Some(Duration::from_millis(number)),
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        _ => return None,
    };
    number.checked_mul(seconds).map(Duration::from_secs)
}

/// Builds the daemon settings, collecting errors.
pub(super) fn daemon_config(
    file: FileDaemon,
    origin: &str,
    errors: &mut Vec<ConfigError>,
) -> DaemonConfig {
    let defaults = DaemonConfig::default();
    let mut duration = |value: Option<String>, key: &str, default: Duration| -> Duration {
        let Some(text) = value else {
            return default;
        };
        match parse_duration(&text).filter(|d| !d.is_zero()) {
            Some(duration) => duration,
            None => {
                errors.push(ConfigError {
                    origin: origin.into(),
                    key: format!("daemon.{key}"),
                    message: format!(
                        "expected a duration such as \"90s\", \"15m\", \"6h\" or \"2d\", got {text:?}"
                    ),
                });
                default
            }
        }
    };
    let config = DaemonConfig {
        logs_interval: duration(file.logs_interval, "logs_interval", defaults.logs_interval),
        metrics_interval: duration(
            file.metrics_interval,
            "metrics_interval",
            defaults.metrics_interval,
        ),
        quotas_interval: duration(
            file.quotas_interval,
            "quotas_interval",
            defaults.quotas_interval,
        ),
        lookback: duration(file.lookback, "lookback", defaults.lookback),
        backfill: duration(file.backfill, "backfill", defaults.backfill),
        window: duration(file.window, "window", defaults.window),
        max_attempts: defaults.max_attempts,
        max_backoff: duration(file.max_backoff, "max_backoff", defaults.max_backoff),
    };
    let max_attempts = match file.max_attempts {
        None => defaults.max_attempts,
        Some(value @ 1..=20) => value as u32,
        Some(value) => {
            errors.push(ConfigError {
                origin: origin.into(),
                key: "daemon.max_attempts".into(),
                message: format!("expected a whole number from 1 to 20, got {value}"),
            });
            defaults.max_attempts
        }
    };
    DaemonConfig {
        max_attempts,
        ..config
    }
}

/// Builds the sources, collecting every error with the source's position and key.
pub(super) fn sources_config(
    file: Vec<FileSource>,
    origin: &str,
    errors: &mut Vec<ConfigError>,
) -> Vec<SourceConfig> {
    let mut names = HashSet::new();
    let mut sources = Vec::with_capacity(file.len());
    for (index, source) in file.into_iter().enumerate() {
        let mut problem = |key: &str, message: String| {
            errors.push(ConfigError {
                origin: origin.into(),
                key: format!("sources[{}].{key}", index + 1),
                message,
            });
        };
        let s3 = s3_config(&source, &mut problem);
        let name = source.name.unwrap_or_default();
        if name.trim().is_empty() {
            problem(
                "name",
                "expected a unique, non-empty name for this source".into(),
            );
        } else if !names.insert(name.clone()) {
            problem(
                "name",
                format!("{name:?} is used by another source; names must be unique"),
            );
        }
        let region = source.region.unwrap_or_default();
        if !is_region(&region) {
            problem(
                "region",
                format!("expected an AWS region code such as \"us-east-1\", got {region:?}"),
            );
        }
        if let Some(account) = &source.account_id
            && !is_account_id(account)
        {
            problem(
                "account_id",
                format!("expected a 12-digit AWS account id, got {account:?}"),
            );
        }
        if let Some(role) = &source.role_arn
            && !(role.starts_with("arn:") && role.contains(":role/"))
        {
            problem(
                "role_arn",
                format!("expected an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME), got {role:?}"),
            );
        }
        if let Some(url) = &source.endpoint_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            problem(
                "endpoint_url",
                format!("expected an http:// or https:// URL, got {url:?}"),
            );
        }
        if source
            .log_group
            .as_deref()
            .is_some_and(|group| group.trim().is_empty())
        {
            problem(
                "log_group",
                "expected a log group name, or leave the key out".into(),
            );
        }
        let backfill_from_ms = source.backfill_from.as_deref().and_then(|text| {
            match chrono::DateTime::parse_from_rfc3339(text) {
                Ok(time) => Some(time.timestamp_millis()),
                Err(_) => {
                    problem("backfill_from", format!("expected an RFC 3339 time such as \"2025-11-01T00:00:00Z\", got {text:?}"));
                    None
                }
            }
        });
        let metrics = source.metrics.unwrap_or(true);
        let quotas = source.quotas.unwrap_or(true);
        if (metrics || quotas) && source.account_id.is_none() {
            problem(
                "account_id",
                "required when metrics or quotas are read (CloudWatch metrics and quotas don't name their account); or set metrics = false and quotas = false".into(),
            );
        }
        if source.log_group.is_none() && source.s3_uri.is_none() && !metrics && !quotas {
            problem(
                "log_group",
                "this source polls nothing: set log_group or s3_uri, or metrics or quotas to true"
                    .into(),
            );
        }
        sources.push(SourceConfig {
            name,
            region,
            account_id: source.account_id,
            log_group: source.log_group,
            role_arn: source.role_arn,
            external_id: source.external_id,
            endpoint_url: source.endpoint_url,
            metrics,
            quotas,
            backfill_from_ms,
            s3,
        });
    }
    sources
}

/// The S3 keys of a source, checked; `None` when it has no `s3_uri` (then the other S3 keys
/// are errors: they would silently do nothing).
fn s3_config(
    source: &FileSource,
    problem: &mut impl FnMut(&str, String),
) -> Option<S3SourceConfig> {
    let Some(text) = &source.s3_uri else {
        let stray = [
            ("accounts", source.accounts.is_some()),
            ("regions", source.regions.is_some()),
            ("s3_lookback", source.s3_lookback.is_some()),
            ("s3_concurrency", source.s3_concurrency.is_some()),
            ("sqs_queue_url", source.sqs_queue_url.is_some()),
            (
                "s3_reconcile_interval",
                source.s3_reconcile_interval.is_some(),
            ),
            ("sqs_wait_time", source.sqs_wait_time.is_some()),
            (
                "sqs_visibility_timeout",
                source.sqs_visibility_timeout.is_some(),
            ),
        ];
        for (key, _) in stray.iter().filter(|(_, set)| *set) {
            problem(
                key,
                "only used with s3_uri, which this source does not set".into(),
            );
        }
        return None;
    };
    let uri = match S3Uri::parse(text) {
        Ok(uri) => uri,
        Err(error) => {
            problem("s3_uri", error.to_string());
            return None;
        }
    };
    let accounts = source.accounts.clone().unwrap_or_default();
    for account in accounts.iter().filter(|account| !is_account_id(account)) {
        problem(
            "accounts",
            format!("expected 12-digit AWS account ids, got {account:?}"),
        );
    }
    let regions = source.regions.clone().unwrap_or_default();
    for region in regions.iter().filter(|region| !is_region(region)) {
        problem(
            "regions",
            format!("expected AWS region codes such as \"us-east-1\", got {region:?}"),
        );
    }
    let duration = |value: &Option<String>,
                    key: &str,
                    default: Duration,
                    problem: &mut dyn FnMut(&str, String)| match value {
        None => default,
        Some(text) => parse_duration(text).unwrap_or_else(|| {
            problem(
                key,
                format!("expected a duration such as \"90m\", \"2h\" or \"1d\", got {text:?}"),
            );
            default
        }),
    };
    let lookback = duration(
        &source.s3_lookback,
        "s3_lookback",
        S3SourceConfig::DEFAULT_LOOKBACK,
        problem,
    );
    let reconcile_interval = duration(
        &source.s3_reconcile_interval,
        "s3_reconcile_interval",
        S3SourceConfig::DEFAULT_RECONCILE_INTERVAL,
        problem,
    );
    let sqs_wait = duration(
        &source.sqs_wait_time,
        "sqs_wait_time",
        S3SourceConfig::DEFAULT_SQS_WAIT,
        problem,
    );
    if sqs_wait > Duration::from_secs(20) {
        problem("sqs_wait_time", "SQS long polling waits at most 20s".into());
    }
    let sqs_visibility_timeout = duration(
        &source.sqs_visibility_timeout,
        "sqs_visibility_timeout",
        S3SourceConfig::DEFAULT_SQS_VISIBILITY_TIMEOUT,
        problem,
    );
    if sqs_visibility_timeout.is_zero() || sqs_visibility_timeout > Duration::from_secs(12 * 3600) {
        problem(
            "sqs_visibility_timeout",
            "expected a duration from 1s to 12h (SQS's limits)".into(),
        );
    }
    if reconcile_interval.is_zero() {
        problem(
            "s3_reconcile_interval",
            "expected a duration above zero".into(),
        );
    }
    let concurrency = match source.s3_concurrency {
        None => S3SourceConfig::DEFAULT_CONCURRENCY,
        Some(value @ 1..=64) => value as usize,
        Some(value) => {
            problem(
                "s3_concurrency",
                format!("expected a whole number from 1 to 64, got {value}"),
            );
            S3SourceConfig::DEFAULT_CONCURRENCY
        }
    };
    if let Some(url) = &source.sqs_queue_url
        && !(url.starts_with("https://") || url.starts_with("http://"))
    {
        problem(
            "sqs_queue_url",
            format!(
                "expected the queue's URL (https://sqs.REGION.amazonaws.com/ACCOUNT/NAME), got {url:?}"
            ),
        );
    }
    Some(S3SourceConfig {
        uri,
        accounts,
        regions,
        lookback,
        concurrency,
        sqs_queue_url: source.sqs_queue_url.clone(),
        reconcile_interval,
        sqs_wait,
        sqs_visibility_timeout,
    })
}

fn is_account_id(text: &str) -> bool {
    text.len() == 12 && text.bytes().all(|b| b.is_ascii_digit())
}

/// `us-east-1`, `ap-southeast-4`, `us-gov-west-1`, `eu-central-2`...
fn is_region(text: &str) -> bool {
    let parts: Vec<&str> = text.split('-').collect();
    parts.len() >= 3
        && parts[0].len() == 2
        && parts
            .iter()
            .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_alphanumeric()))
        && parts
            .last()
            .is_some_and(|last| last.bytes().all(|b| b.is_ascii_digit()))
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_a_unit() {
        assert_eq!(parse_duration("90s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("15m"), Some(Duration::from_secs(900)));
        assert_eq!(parse_duration("6h"), Some(Duration::from_secs(21_600)));
        assert_eq!(parse_duration("2d"), Some(Duration::from_secs(172_800)));
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        for bad in [
            "",
            "15",
            "m",
            "1.5h",
            "-3s",
            "5 weeks",
            "99999999999999999999s",
        ] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn region_codes() {
        for good in [
            "us-east-1",
            "ap-southeast-4",
            "us-gov-west-1",
            "eu-central-2",
        ] {
            assert!(is_region(good), "{good}");
        }
        for bad in [
            "",
            "us-east",
            "US-EAST-1",
            "useast1",
            "us_east_1",
            "us-east-1a",
        ] {
            assert!(!is_region(bad), "{bad}");
        }
    }
}
