//! Alert rules, notification channels and scheduled reports: `[alerts]`,
//! `[[alerts.channels]]`, `[[alerts.rules]]` and `[reports]`. Every problem is reported with
//! the rule or channel name and the reason, so `check-config` can list them all.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::ConfigError;
use super::daemon::parse_duration;
use crate::model::Tier;

/// Everything about alerts.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertsConfig {
    /// How often rules are evaluated.
    pub interval: Duration,
    pub channels: Vec<ChannelConfig>,
    pub rules: Vec<RuleConfig>,
    /// Scheduled monthly reports.
    pub reports: Option<ReportSchedule>,
    /// Base URL of the dashboard in notifications (links to the data).
    pub dashboard_url: Option<String>,
    /// First retry of a failed delivery after this long, doubling each time (up to 1 h).
    pub retry_after: Duration,
    /// Attempts per delivery before it is marked failed.
    pub max_attempts: u32,
    /// The pricing configuration, so scheduled reports carry the reservations section as
    /// `tierwatch report` does (a copy of `Config::pricing`).
    pub report_pricing: super::PricingConfig,
}

/// Where notifications go.
#[derive(Clone, PartialEq, Eq)]
pub struct ChannelConfig {
    pub name: String,
    pub kind: ChannelKind,
}

impl std::fmt::Debug for ChannelConfig {
    /// Never prints secrets.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match &self.kind {
            ChannelKind::Webhook { url, secret } => format!(
                "webhook {} (secret {})",
                redact_url(url),
                if secret.is_some() { "set" } else { "unset" }
            ),
            ChannelKind::Slack { .. } => "slack (url hidden)".into(),
            ChannelKind::Email(email) => {
                format!("email via {}:{} to {:?}", email.host, email.port, email.to)
            }
        };
        f.debug_struct("ChannelConfig")
            .field("name", &self.name)
            .field("kind", &kind)
            .finish()
    }
}

#[derive(Clone, PartialEq, Eq)]
pub enum ChannelKind {
    /// A generic webhook: tierwatch's JSON payload, signed when a secret is set.
    Webhook {
        url: String,
        secret: Option<String>,
    },
    /// A Slack incoming webhook (its URL is the secret).
    Slack {
        url: String,
    },
    Email(EmailConfig),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// Plain connection upgraded with STARTTLS (port 587); refused if the server can't.
    StartTls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No encryption: only for a relay on loopback or a trusted network.
    None,
}

#[derive(Clone, PartialEq, Eq)]
pub struct EmailConfig {
    pub host: String,
    pub port: u16,
    pub security: SmtpSecurity,
    pub username: Option<String>,
    pub password: Option<String>,
    pub from: String,
    pub to: Vec<String>,
    /// An extra root certificate (PEM) to trust, for a private mail server.
    pub ca_file: Option<PathBuf>,
}

/// What a rule watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleKind {
    /// Spend over a window against a budget (Priority by default).
    PrioritySpend,
    /// Flex latency, time to first token or output speed against a threshold or Standard.
    FlexDelay,
    /// Share of Flex calls throttled (CloudWatch metrics).
    FlexThrottleRate,
    /// Share of Flex calls that failed (invocation logs).
    FlexErrorRate,
    /// Quota headroom below a share.
    QuotaHeadroom,
    /// Any unpriced calls in the window.
    UnpricedSpend,
    /// No new invocations, or a failing source, for a while.
    Staleness,
}

impl RuleKind {
    const ALL: [(&'static str, RuleKind); 7] = [
        ("priority_spend", RuleKind::PrioritySpend),
        ("flex_delay", RuleKind::FlexDelay),
        ("flex_throttle_rate", RuleKind::FlexThrottleRate),
        ("flex_error_rate", RuleKind::FlexErrorRate),
        ("quota_headroom", RuleKind::QuotaHeadroom),
        ("unpriced_spend", RuleKind::UnpricedSpend),
        ("staleness", RuleKind::Staleness),
    ];

    pub fn as_str(self) -> &'static str {
        RuleKind::ALL
            .iter()
            .find(|(_, kind)| *kind == self)
            .map_or("?", |(name, _)| name)
    }

    fn parse(name: &str) -> Option<RuleKind> {
        RuleKind::ALL
            .iter()
            .find(|(known, _)| *known == name)
            .map(|(_, kind)| *kind)
    }

    /// The tier a rule of this kind watches unless it says otherwise.
    fn default_tier(self) -> Option<Tier> {
        match self {
            RuleKind::PrioritySpend => Some(Tier::Priority),
            RuleKind::FlexDelay | RuleKind::FlexThrottleRate | RuleKind::FlexErrorRate => {
                Some(Tier::Flex)
            }
            _ => None,
        }
    }
}

/// The time a rule looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleWindow {
    /// The current UTC calendar day; each day is its own alert period.
    Day,
    /// The current UTC calendar month; each month is its own alert period.
    Month,
    /// The last so long, ending now.
    Rolling(Duration),
}

/// What a flex_delay rule measures.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DelayStatistic {
    /// Time to the last token, at a quantile (0.5, 0.95, 0.99).
    Latency(f64),
    /// Time to the first token, at a quantile.
    FirstToken(f64),
    /// Output tokens per second of the window's calls (alerts when it falls below).
    OutputTokensPerSecond,
}

/// One threshold of a rule, with the severity it alerts at.
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    /// For priority_spend: a share of the budget (0.5 = 50 %); otherwise the value itself
    /// (milliseconds, a ratio, a share, tokens per second, minutes).
    pub at: f64,
    pub severity: String,
}

/// Narrows what a rule looks at; caller and metadata select caller rollups.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RuleScope {
    pub account: Option<String>,
    pub region: Option<String>,
    pub model: Option<String>,
    /// `identity.arn` of a caller.
    pub caller: Option<String>,
    /// One requestMetadata key and value, such as team = "search".
    pub metadata: Option<(String, String)>,
}

/// One alert rule, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleConfig {
    pub name: String,
    pub kind: RuleKind,
    pub scope: RuleScope,
    /// `None` = all tiers.
    pub tier: Option<Tier>,
    pub window: RuleWindow,
    pub thresholds: Vec<Threshold>,
    /// priority_spend: the budget in picodollars.
    pub budget_pico: Option<i128>,
    /// priority_spend: compare the projected month-end spend instead of spend so far.
    pub forecast: bool,
    pub statistic: Option<DelayStatistic>,
    /// flex_delay: compare Flex to Standard of the same model (thresholds are ratios).
    pub vs_standard: bool,
    /// Fewest calls a window needs before the rule judges it.
    pub min_samples: u64,
    pub for_duration: Duration,
    pub repeat: Option<Duration>,
    pub channels: Vec<String>,
}

/// Scheduled monthly reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportSchedule {
    /// Day of the month (1–28) and UTC hour after which last month's report goes out.
    pub day: u32,
    pub hour: u32,
    /// Where the CSV and JSON files are written.
    pub dir: PathBuf,
    pub channels: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileAlerts {
    interval: Option<String>,
    retry_after: Option<String>,
    max_attempts: Option<i64>,
    dashboard_url: Option<String>,
    #[serde(default)]
    channels: Vec<FileChannel>,
    #[serde(default)]
    rules: Vec<FileRule>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileChannel {
    name: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    url: Option<String>,
    secret: Option<String>,
    smtp_host: Option<String>,
    smtp_port: Option<i64>,
    smtp_security: Option<String>,
    smtp_username: Option<String>,
    smtp_password: Option<String>,
    smtp_ca_file: Option<PathBuf>,
    from: Option<String>,
    #[serde(default)]
    to: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileThreshold {
    at: f64,
    severity: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileScope {
    account: Option<String>,
    region: Option<String>,
    model: Option<String>,
    caller: Option<String>,
    #[serde(default)]
    metadata: BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileRule {
    name: Option<String>,
    kind: Option<String>,
    #[serde(default)]
    scope: FileScope,
    tier: Option<String>,
    window: Option<String>,
    threshold: Option<f64>,
    severity: Option<String>,
    #[serde(default)]
    thresholds: Vec<FileThreshold>,
    budget_usd: Option<toml::Value>,
    #[serde(default)]
    forecast: bool,
    statistic: Option<String>,
    #[serde(default)]
    vs_standard: bool,
    min_samples: Option<i64>,
    #[serde(rename = "for")]
    for_duration: Option<String>,
    repeat: Option<String>,
    #[serde(default)]
    channels: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileReports {
    day: Option<i64>,
    hour: Option<i64>,
    dir: Option<PathBuf>,
    #[serde(default)]
    channels: Vec<String>,
}

impl Default for AlertsConfig {
    fn default() -> AlertsConfig {
        AlertsConfig {
            report_pricing: super::PricingConfig::default(),
            interval: Duration::from_secs(60),
            channels: Vec::new(),
            rules: Vec::new(),
            reports: None,
            dashboard_url: None,
            retry_after: Duration::from_secs(30),
            max_attempts: 8,
        }
    }
}

impl AlertsConfig {
    /// Whether anything needs the alerts loop.
    pub fn is_active(&self) -> bool {
        !self.rules.is_empty() || self.reports.is_some()
    }

    pub fn channel(&self, name: &str) -> Option<&ChannelConfig> {
        self.channels.iter().find(|channel| channel.name == name)
    }

    pub fn rule(&self, name: &str) -> Option<&RuleConfig> {
        self.rules.iter().find(|rule| rule.name == name)
    }
}

/// Collects errors against one rule or channel.
struct Problems<'a> {
    origin: &'a str,
    errors: &'a mut Vec<ConfigError>,
}

impl Problems<'_> {
    fn push(&mut self, key: String, message: impl Into<String>) {
        self.errors.push(ConfigError {
            origin: self.origin.into(),
            key,
            message: message.into(),
        });
    }
}

/// Builds the alert settings, collecting every error.
pub(super) fn alerts_config(
    file: FileAlerts,
    reports: Option<FileReports>,
    origin: &str,
    relative: &dyn Fn(PathBuf) -> PathBuf,
    errors: &mut Vec<ConfigError>,
) -> AlertsConfig {
    let mut problems = Problems { origin, errors };
    let interval = match file.interval.as_deref() {
        None => Duration::from_secs(60),
        Some(text) => parse_duration(text)
            .filter(|duration| !duration.is_zero())
            .unwrap_or_else(|| {
                problems.push(
                    "alerts.interval".into(),
                    format!("{text:?} is not a duration: expected e.g. \"1m\" or \"30s\""),
                );
                Duration::from_secs(60)
            }),
    };
    let retry_after = match file.retry_after.as_deref() {
        None => Duration::from_secs(30),
        Some(text) => parse_duration(text)
            .filter(|duration| !duration.is_zero())
            .unwrap_or_else(|| {
                problems.push(
                    "alerts.retry_after".into(),
                    format!("{text:?} is not a duration: expected e.g. \"30s\""),
                );
                Duration::from_secs(30)
            }),
    };
    let max_attempts = match file.max_attempts {
        None => 8,
        Some(n @ 1..=50) => n as u32,
        Some(n) => {
            problems.push(
                "alerts.max_attempts".into(),
                format!("{n}: expected 1 to 50"),
            );
            8
        }
    };
    let mut channels = Vec::new();
    let mut names = HashSet::new();
    for (index, channel) in file.channels.into_iter().enumerate() {
        if let Some(channel) = channel_config(channel, index, relative, &mut problems)
            && check_unique(&mut names, &channel.name, "alerts.channels", &mut problems)
        {
            channels.push(channel);
        }
    }
    let known: HashSet<&str> = channels
        .iter()
        .map(|channel| channel.name.as_str())
        .collect();
    let mut rules = Vec::new();
    let mut rule_names = HashSet::new();
    for (index, rule) in file.rules.into_iter().enumerate() {
        if let Some(rule) = rule_config(rule, index, &known, &mut problems)
            && check_unique(&mut rule_names, &rule.name, "alerts.rules", &mut problems)
        {
            rules.push(rule);
        }
    }
    let reports = reports.and_then(|file| report_schedule(file, &known, relative, &mut problems));
    AlertsConfig {
        report_pricing: super::PricingConfig::default(),
        interval,
        channels,
        rules,
        reports,
        dashboard_url: file
            .dashboard_url
            .map(|url| url.trim_end_matches('/').to_string()),
        retry_after,
        max_attempts,
    }
}

fn check_unique(
    names: &mut HashSet<String>,
    name: &str,
    table: &str,
    problems: &mut Problems<'_>,
) -> bool {
    if names.insert(name.to_string()) {
        return true;
    }
    problems.push(
        format!("{table}[{name}]"),
        "the name is used twice: each must be unique",
    );
    false
}

fn channel_config(
    file: FileChannel,
    index: usize,
    relative: &dyn Fn(PathBuf) -> PathBuf,
    problems: &mut Problems<'_>,
) -> Option<ChannelConfig> {
    let Some(name) = file.name.clone().filter(|name| !name.trim().is_empty()) else {
        problems.push(
            format!("alerts.channels[{index}].name"),
            "every channel needs a name",
        );
        return None;
    };
    let key = |field: &str| format!("alerts.channels[{name}].{field}");
    let url = |problems: &mut Problems<'_>, url: Option<String>| -> Option<String> {
        match url {
            Some(url) if url.starts_with("https://") || url.starts_with("http://") => Some(url),
            Some(url) => {
                problems.push(
                    key("url"),
                    format!("{:?} is not an http(s) URL", redact_url(&url)),
                );
                None
            }
            None => {
                problems.push(key("url"), "this channel type needs a url");
                None
            }
        }
    };
    let kind = match file.kind.as_deref() {
        Some("webhook") => ChannelKind::Webhook {
            url: url(problems, file.url)?,
            secret: file.secret.filter(|secret| !secret.is_empty()),
        },
        Some("slack") => ChannelKind::Slack {
            url: url(problems, file.url)?,
        },
        Some("email") => ChannelKind::Email(email_config(file, &name, relative, problems)?),
        other => {
            problems.push(
                key("type"),
                format!("{other:?}: expected \"webhook\", \"slack\" or \"email\""),
            );
            return None;
        }
    };
    Some(ChannelConfig { name, kind })
}

fn email_config(
    file: FileChannel,
    name: &str,
    relative: &dyn Fn(PathBuf) -> PathBuf,
    problems: &mut Problems<'_>,
) -> Option<EmailConfig> {
    let key = |field: &str| format!("alerts.channels[{name}].{field}");
    let security = match file.smtp_security.as_deref() {
        None | Some("starttls") => SmtpSecurity::StartTls,
        Some("tls") => SmtpSecurity::Tls,
        Some("none") => SmtpSecurity::None,
        Some(other) => {
            problems.push(
                key("smtp_security"),
                format!("{other:?}: expected \"starttls\", \"tls\" or \"none\""),
            );
            return None;
        }
    };
    let default_port = match security {
        SmtpSecurity::StartTls => 587,
        SmtpSecurity::Tls => 465,
        SmtpSecurity::None => 25,
    };
    let port = match file.smtp_port {
        None => default_port,
        Some(port) => match u16::try_from(port) {
            Ok(port) if port > 0 => port,
            _ => {
                problems.push(key("smtp_port"), format!("{port} is not a port number"));
                return None;
            }
        },
    };
    let Some(host) = file.smtp_host.filter(|host| !host.trim().is_empty()) else {
        problems.push(key("smtp_host"), "an email channel needs smtp_host");
        return None;
    };
    let Some(from) = file.from.filter(|from| from.contains('@')) else {
        problems.push(key("from"), "an email channel needs a from address");
        return None;
    };
    if file.to.is_empty() || file.to.iter().any(|to| !to.contains('@')) {
        problems.push(key("to"), "expected a list of email addresses");
        return None;
    }
    if file.smtp_password.is_some() && file.smtp_username.is_none() {
        problems.push(
            key("smtp_username"),
            "smtp_password is set without a user name",
        );
        return None;
    }
    if file.smtp_username.is_some() && security == SmtpSecurity::None {
        problems.push(
            key("smtp_security"),
            "refusing to send a password without TLS: use \"starttls\" or \"tls\"",
        );
        return None;
    }
    Some(EmailConfig {
        host,
        port,
        security,
        username: file.smtp_username,
        password: file.smtp_password,
        from,
        to: file.to,
        ca_file: file.smtp_ca_file.map(relative),
    })
}

fn rule_config(
    file: FileRule,
    index: usize,
    channels: &HashSet<&str>,
    problems: &mut Problems<'_>,
) -> Option<RuleConfig> {
    let Some(name) = file.name.filter(|name| !name.trim().is_empty()) else {
        problems.push(
            format!("alerts.rules[{index}].name"),
            "every rule needs a name",
        );
        return None;
    };
    let key = |field: &str| format!("alerts.rules[{name}].{field}");
    let errors_before = problems.errors.len();
    let Some(kind) = file.kind.as_deref().and_then(RuleKind::parse) else {
        let known: Vec<&str> = RuleKind::ALL.iter().map(|(name, _)| *name).collect();
        problems.push(
            key("kind"),
            format!("{:?}: expected one of {}", file.kind, known.join(", ")),
        );
        return None;
    };
    let tier = match file.tier.as_deref() {
        None => kind.default_tier(),
        Some("all") => None,
        Some(text) => match Tier::parse(text) {
            Ok(Some(tier)) => Some(tier),
            _ => {
                problems.push(
                    key("tier"),
                    format!("{text:?}: expected priority, standard, flex, reserved or all"),
                );
                None
            }
        },
    };
    let scope = rule_scope(file.scope, &key, problems);
    let window = rule_window(file.window.as_deref(), kind, &key, problems);
    let thresholds = rule_thresholds(
        file.threshold,
        file.severity,
        file.thresholds,
        kind,
        &key,
        problems,
    );
    let budget_pico = match (kind, &file.budget_usd) {
        (RuleKind::PrioritySpend, Some(value)) => parse_usd(value).or_else(|| {
            problems.push(
                key("budget_usd"),
                format!("{value}: expected a positive amount such as \"500\" or 499.99"),
            );
            None
        }),
        (RuleKind::PrioritySpend, None) => {
            problems.push(key("budget_usd"), "a priority_spend rule needs a budget");
            None
        }
        (_, Some(_)) => {
            problems.push(key("budget_usd"), "only priority_spend rules have a budget");
            None
        }
        (_, None) => None,
    };
    if file.forecast && (kind != RuleKind::PrioritySpend || window != RuleWindow::Month) {
        problems.push(
            key("forecast"),
            "forecast applies to priority_spend rules with window = \"month\"",
        );
    }
    let statistic = match (kind, file.statistic.as_deref()) {
        (RuleKind::FlexDelay, text) => parse_statistic(text.unwrap_or("p95")).or_else(|| {
            problems.push(
                key("statistic"),
                format!(
                    "{text:?}: expected p50, p95, p99, ttft_p50, ttft_p95, ttft_p99 or \
                     output_tokens_per_second"
                ),
            );
            None
        }),
        (_, Some(_)) => {
            problems.push(key("statistic"), "only flex_delay rules have a statistic");
            None
        }
        (_, None) => None,
    };
    if file.vs_standard && kind != RuleKind::FlexDelay {
        problems.push(
            key("vs_standard"),
            "only flex_delay rules compare with Standard",
        );
    }
    if kind == RuleKind::FlexDelay && (scope.caller.is_some() || scope.metadata.is_some()) {
        problems.push(
            key("scope"),
            "latency is not kept per caller: a flex_delay rule cannot be scoped by caller or \
             requestMetadata",
        );
    }
    if matches!(kind, RuleKind::Staleness | RuleKind::QuotaHeadroom)
        && (scope.caller.is_some() || scope.metadata.is_some())
    {
        problems.push(
            key("scope"),
            format!("a {} rule cannot be scoped by caller", kind.as_str()),
        );
    }
    let min_samples = match file.min_samples {
        None => match kind {
            RuleKind::FlexDelay | RuleKind::FlexThrottleRate | RuleKind::FlexErrorRate => 20,
            _ => 0,
        },
        Some(n) if n >= 0 => n as u64,
        Some(n) => {
            problems.push(key("min_samples"), format!("{n}: expected 0 or more"));
            0
        }
    };
    let mut duration = |field: &str, text: Option<String>, default: Option<Duration>| match text {
        None => default,
        Some(text) => parse_duration(&text).or_else(|| {
            problems.push(
                key(field),
                format!("{text:?} is not a duration: expected e.g. \"5m\", \"4h\""),
            );
            None
        }),
    };
    let for_duration = duration("for", file.for_duration, Some(Duration::ZERO)).unwrap_or_default();
    let repeat = duration("repeat", file.repeat, Some(Duration::from_secs(4 * 3600)))
        .filter(|repeat| !repeat.is_zero());
    if file.channels.is_empty() {
        problems.push(key("channels"), "a rule needs at least one channel");
    }
    for channel in &file.channels {
        if !channels.contains(channel.as_str()) {
            problems.push(
                key("channels"),
                format!("no channel is named {channel:?} in [[alerts.channels]]"),
            );
        }
    }
    if problems.errors.len() > errors_before {
        return None;
    }
    Some(RuleConfig {
        name,
        kind,
        scope,
        tier,
        window,
        thresholds,
        budget_pico,
        forecast: file.forecast,
        statistic,
        vs_standard: file.vs_standard,
        min_samples,
        for_duration,
        repeat,
        channels: file.channels,
    })
}

fn rule_scope(
    file: FileScope,
    key: &dyn Fn(&str) -> String,
    problems: &mut Problems<'_>,
) -> RuleScope {
    let mut metadata = file.metadata.into_iter();
    let first = metadata.next();
    if metadata.next().is_some() {
        problems.push(
            key("scope.metadata"),
            "at most one requestMetadata key per rule (caller rollups are kept per key)",
        );
    }
    if first.is_some() && file.caller.is_some() {
        problems.push(
            key("scope"),
            "use either caller or metadata, not both (caller rollups are kept per dimension)",
        );
    }
    RuleScope {
        account: file.account,
        region: file.region,
        model: file.model,
        caller: file.caller,
        metadata: first,
    }
}

fn rule_window(
    text: Option<&str>,
    kind: RuleKind,
    key: &dyn Fn(&str) -> String,
    problems: &mut Problems<'_>,
) -> RuleWindow {
    let default = match kind {
        RuleKind::PrioritySpend => RuleWindow::Month,
        RuleKind::UnpricedSpend => RuleWindow::Day,
        RuleKind::QuotaHeadroom => RuleWindow::Rolling(Duration::from_secs(3600)),
        _ => RuleWindow::Rolling(Duration::from_secs(15 * 60)),
    };
    let window = match text {
        None => default,
        Some("day") => RuleWindow::Day,
        Some("month") => RuleWindow::Month,
        Some(text) => match parse_duration(text) {
            Some(duration) if duration >= Duration::from_secs(60) => RuleWindow::Rolling(duration),
            _ => {
                problems.push(
                    key("window"),
                    format!("{text:?}: expected \"day\", \"month\" or a duration of 1m or more"),
                );
                default
            }
        },
    };
    if kind == RuleKind::Staleness && window != default {
        problems.push(
            key("window"),
            "a staleness rule has no window: its threshold is in minutes",
        );
    }
    window
}

fn rule_thresholds(
    threshold: Option<f64>,
    severity: Option<String>,
    list: Vec<FileThreshold>,
    kind: RuleKind,
    key: &dyn Fn(&str) -> String,
    problems: &mut Problems<'_>,
) -> Vec<Threshold> {
    let mut thresholds: Vec<Threshold> = list
        .into_iter()
        .map(|file| Threshold {
            at: file.at,
            severity: file.severity.unwrap_or_else(|| "warning".into()),
        })
        .collect();
    match (threshold, thresholds.is_empty()) {
        (Some(at), true) => thresholds.push(Threshold {
            at,
            severity: severity.unwrap_or_else(|| "warning".into()),
        }),
        (Some(_), false) => {
            problems.push(key("threshold"), "give threshold or thresholds, not both");
        }
        (None, true) if kind == RuleKind::UnpricedSpend => thresholds.push(Threshold {
            at: 0.0,
            severity: severity.unwrap_or_else(|| "warning".into()),
        }),
        (None, true) => problems.push(key("thresholds"), "a rule needs a threshold"),
        (None, false) => {}
    }
    for threshold in &thresholds {
        let valid = threshold.at.is_finite()
            && match kind {
                RuleKind::PrioritySpend | RuleKind::FlexDelay | RuleKind::Staleness => {
                    threshold.at > 0.0
                }
                RuleKind::FlexThrottleRate | RuleKind::FlexErrorRate | RuleKind::QuotaHeadroom => {
                    threshold.at > 0.0 && threshold.at <= 1.0
                }
                RuleKind::UnpricedSpend => threshold.at >= 0.0,
            };
        if !valid {
            problems.push(
                key("thresholds"),
                format!(
                    "{} is out of range for a {} rule",
                    threshold.at,
                    kind.as_str()
                ),
            );
        }
        if !["info", "warning", "critical"].contains(&threshold.severity.as_str()) {
            problems.push(
                key("thresholds"),
                format!(
                    "severity {:?}: expected info, warning or critical",
                    threshold.severity
                ),
            );
        }
    }
    let mut seen = HashSet::new();
    if thresholds.iter().any(|t| !seen.insert(t.at.to_bits())) {
        problems.push(key("thresholds"), "two thresholds have the same value");
    }
    thresholds
}

fn parse_statistic(text: &str) -> Option<DelayStatistic> {
    let quantile = |suffix: &str| match suffix {
        "p50" => Some(0.50),
        "p95" => Some(0.95),
        "p99" => Some(0.99),
        _ => None,
    };
    if text == "output_tokens_per_second" {
        return Some(DelayStatistic::OutputTokensPerSecond);
    }
    match text.strip_prefix("ttft_") {
        Some(suffix) => quantile(suffix).map(DelayStatistic::FirstToken),
        None => quantile(text).map(DelayStatistic::Latency),
    }
}

/// A positive USD amount as picodollars: a string ("500", "499.99") or a number.
fn parse_usd(value: &toml::Value) -> Option<i128> {
    let text = match value {
        toml::Value::String(text) => text.trim().to_string(),
        toml::Value::Integer(number) => number.to_string(),
        toml::Value::Float(number) if number.is_finite() => format!("{number}"),
        _ => return None,
    };
    let (whole, fraction) = text.split_once('.').unwrap_or((&text, ""));
    if whole.is_empty() || fraction.len() > 12 || !whole.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    if !fraction.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let whole: i128 = whole.parse().ok()?;
    let fraction: i128 = format!("{fraction:0<12}").parse().ok()?;
    let pico = whole
        .checked_mul(1_000_000_000_000)?
        .checked_add(fraction)?;
    (pico > 0).then_some(pico)
}

fn report_schedule(
    file: FileReports,
    channels: &HashSet<&str>,
    relative: &dyn Fn(PathBuf) -> PathBuf,
    problems: &mut Problems<'_>,
) -> Option<ReportSchedule> {
    let before = problems.errors.len();
    let day = file.day.unwrap_or(1);
    if !(1..=28).contains(&day) {
        problems.push(
            "reports.day".into(),
            format!("{day}: expected a day from 1 to 28"),
        );
    }
    let hour = file.hour.unwrap_or(6);
    if !(0..=23).contains(&hour) {
        problems.push(
            "reports.hour".into(),
            format!("{hour}: expected 0 to 23 (UTC)"),
        );
    }
    for channel in &file.channels {
        if !channels.contains(channel.as_str()) {
            problems.push(
                "reports.channels".into(),
                format!("no channel is named {channel:?} in [[alerts.channels]]"),
            );
        }
    }
    if problems.errors.len() > before {
        return None;
    }
    Some(ReportSchedule {
        day: day as u32,
        hour: hour as u32,
        dir: relative(file.dir.unwrap_or_else(|| PathBuf::from("reports"))),
        channels: file.channels,
    })
}

/// A URL with any user info and query string hidden (they may hold tokens).
fn redact_url(url: &str) -> String {
    let without_query = url.split(['?', '#']).next().unwrap_or(url);
    match without_query.split_once("://") {
        Some((scheme, rest)) => {
            let host = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
            let host = host.split('/').next().unwrap_or(host);
            format!("{scheme}://{host}/…")
        }
        None => "…".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> (AlertsConfig, Vec<ConfigError>) {
        #[derive(Deserialize)]
        struct File {
            #[serde(default)]
            alerts: FileAlerts,
            reports: Option<FileReports>,
        }
        let file: File = toml::from_str(text).expect("valid TOML");
        let mut errors = Vec::new();
        let config = alerts_config(
            file.alerts,
            file.reports,
            "t.toml",
            &|path| PathBuf::from("/base").join(path),
            &mut errors,
        );
        (config, errors)
    }

    fn messages(errors: &[ConfigError]) -> Vec<String> {
        errors
            .iter()
            .map(|error| format!("{}: {}", error.key, error.message))
            .collect()
    }

    const CHANNELS: &str = r#"
[[alerts.channels]]
name = "ops"
type = "webhook"
url = "https://hooks.example.com/tierwatch?token=abc"
secret = "s3cret"

[[alerts.channels]]
name = "mail"
type = "email"
smtp_host = "smtp.example.com"
smtp_username = "tw"
smtp_password = "pw"
from = "tierwatch@example.com"
to = ["finops@example.com"]
"#;

    #[test]
    fn a_full_configuration_parses() {
        let text = format!(
            r#"{CHANNELS}
[[alerts.rules]]
name = "priority-budget"
kind = "priority_spend"
budget_usd = "500"
thresholds = [{{ at = 0.5, severity = "warning" }}, {{ at = 1.0, severity = "critical" }}]
scope = {{ metadata = {{ team = "search" }} }}
channels = ["ops", "mail"]

[[alerts.rules]]
name = "flex-slow"
kind = "flex_delay"
statistic = "ttft_p95"
window = "15m"
threshold = 2.5
vs_standard = true
for = "5m"
channels = ["ops"]

[reports]
day = 2
dir = "out"
channels = ["mail"]
"#
        );
        let (config, errors) = parse(&text);
        assert_eq!(messages(&errors), Vec::<String>::new());
        assert_eq!(config.channels.len(), 2);
        let budget = &config.rules[0];
        assert_eq!(budget.tier, Some(Tier::Priority));
        assert_eq!(budget.window, RuleWindow::Month);
        assert_eq!(budget.budget_pico, Some(500_000_000_000_000));
        assert_eq!(budget.thresholds.len(), 2);
        assert_eq!(
            budget.scope.metadata,
            Some(("team".into(), "search".into()))
        );
        assert_eq!(budget.repeat, Some(Duration::from_secs(4 * 3600)));
        let flex = &config.rules[1];
        assert_eq!(flex.tier, Some(Tier::Flex));
        assert_eq!(flex.statistic, Some(DelayStatistic::FirstToken(0.95)));
        assert_eq!(flex.for_duration, Duration::from_secs(300));
        assert_eq!(flex.min_samples, 20);
        let reports = config.reports.unwrap();
        assert_eq!((reports.day, reports.hour), (2, 6));
        assert_eq!(reports.dir, PathBuf::from("/base/out"));
        // Secrets stay out of debug output.
        let shown = format!("{:?}", config.channels);
        assert!(!shown.contains("s3cret") && !shown.contains("token=abc") && !shown.contains("pw"));
    }

    #[test]
    fn bad_rules_are_rejected_with_the_rule_name_and_the_reason() {
        let text = format!(
            r#"{CHANNELS}
[[alerts.rules]]
name = "no-budget"
kind = "priority_spend"
threshold = 0.8
channels = ["ops"]

[[alerts.rules]]
name = "typo-kind"
kind = "flex_slowness"
channels = ["ops"]

[[alerts.rules]]
name = "caller-latency"
kind = "flex_delay"
threshold = 20000
scope = {{ caller = "arn:aws:iam::1:role/x" }}
channels = ["pager"]

[[alerts.rules]]
name = "bad-rate"
kind = "flex_error_rate"
threshold = 5
window = "10x"
channels = ["ops"]

[[alerts.rules]]
name = "bad-rate"
kind = "unpriced_spend"
channels = ["ops"]
"#
        );
        let (config, errors) = parse(&text);
        let messages = messages(&errors);
        let expect = [
            "alerts.rules[no-budget].budget_usd: a priority_spend rule needs a budget",
            "alerts.rules[typo-kind].kind: Some(\"flex_slowness\"): expected one of",
            "alerts.rules[caller-latency].scope: latency is not kept per caller",
            "alerts.rules[caller-latency].channels: no channel is named \"pager\"",
            "alerts.rules[bad-rate].window: \"10x\": expected",
            "alerts.rules[bad-rate].thresholds: 5 is out of range for a flex_error_rate rule",
        ];
        for expected in expect {
            assert!(
                messages.iter().any(|message| message.starts_with(expected)),
                "missing {expected:?} in {messages:#?}"
            );
        }
        // The second "bad-rate" is valid on its own; the first was rejected, so no clash.
        assert_eq!(config.rules.len(), 1);
        assert_eq!(config.rules[0].kind, RuleKind::UnpricedSpend);
        assert_eq!(config.rules[0].thresholds[0].at, 0.0);
    }

    #[test]
    fn bad_channels_say_why() {
        let (_, errors) = parse(
            r#"
[[alerts.channels]]
name = "mail"
type = "email"
smtp_host = "relay"
smtp_security = "none"
smtp_username = "u"
smtp_password = "p"
from = "a@b"
to = ["c@d"]

[[alerts.channels]]
name = "hook"
type = "webhook"
url = "ftp://x"

[[alerts.channels]]
type = "slack"
"#,
        );
        let messages = messages(&errors);
        assert!(
            messages[0].contains("refusing to send a password without TLS"),
            "{messages:?}"
        );
        assert!(
            messages[1].starts_with("alerts.channels[hook].url: \"ftp://x/…\""),
            "{messages:?}"
        );
        assert!(
            messages[2].starts_with("alerts.channels[2].name"),
            "{messages:?}"
        );
    }

    #[test]
    fn usd_amounts_parse_exactly() {
        let value = |text: &str| toml::Value::String(text.into());
        assert_eq!(parse_usd(&value("499.99")), Some(499_990_000_000_000));
        assert_eq!(parse_usd(&toml::Value::Integer(5)), Some(5_000_000_000_000));
        assert_eq!(parse_usd(&value("0")), None);
        assert_eq!(parse_usd(&value("-3")), None);
        assert_eq!(parse_usd(&value("1.2.3")), None);
    }
}
