//! Typed configuration: a TOML file, then `TIERWATCH_*` environment variables on top, then
//! validation. Every error names where the value came from (file and key, or variable), what
//! was found and what is expected, so `tierwatch check-config` can explain all of them at once.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::ingest::record::ParseOptions;

mod alerts;
mod daemon;
mod reservations;

pub use alerts::{
    AlertsConfig, ChannelConfig, ChannelKind, DelayStatistic, EmailConfig, ReportSchedule,
    RuleConfig, RuleKind, RuleScope, RuleWindow, SmtpSecurity, Threshold,
};
pub use daemon::{DaemonConfig, S3SourceConfig, SourceConfig, parse_duration};

/// The config file read when `--config` is not given, if it exists.
pub const DEFAULT_CONFIG_PATH: &str = "config/tierwatch.toml";
/// The price table read when the config names none, if it exists; else the built-in copy.
pub const DEFAULT_PRICING_PATH: &str = "config/pricing.toml";
/// File name of the embedded SQLite database inside the data directory.
pub const SQLITE_FILE_NAME: &str = "tierwatch.sqlite";

/// The whole configuration, after layering and validation.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The file this came from, if any.
    pub file: Option<PathBuf>,
    pub database: DatabaseConfig,
    pub pricing: PricingConfig,
    pub ingest: IngestConfig,
    pub daemon: DaemonConfig,
    /// AWS accounts and regions the daemon polls.
    pub sources: Vec<SourceConfig>,
    pub server: ServerConfig,
    pub alerts: AlertsConfig,
    pub retention: RetentionConfig,
}

/// `text` as a duration of at least `min_days` whole days (`"90d"`), if it is one.
fn whole_days(text: &str, min_days: u64) -> Option<std::time::Duration> {
    daemon::parse_duration(text)
        .filter(|duration| duration.as_secs() >= min_days * 86_400 && text.trim().ends_with('d'))
}

/// How long data is kept (`[retention]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionConfig {
    /// Raw invocations older than this are dropped by whole months (rollups are kept); `None`
    /// keeps them forever.
    pub raw_invocations: Option<std::time::Duration>,
    /// The fine cells (minute cells of series, hour cells of callers) older than this are
    /// dropped by whole days, and imports of older calls write the coarser cells only (as
    /// CloudWatch keeps one-minute data 15 days).
    pub minute_cells: std::time::Duration,
}

/// Minute cells are kept 35 days by default: every view of the current month (and the
/// alert windows and quota peaks of its last weeks) reads them, and older months read hours.
pub const DEFAULT_MINUTE_CELLS_DAYS: u64 = 35;

/// The shortest `retention.minute_cells`: the dashboard's minute-level views (the last hour,
/// charts of up to 6 hours) always lie within it.
pub const MIN_MINUTE_CELLS_DAYS: u64 = 2;

impl Default for RetentionConfig {
    fn default() -> RetentionConfig {
        RetentionConfig {
            raw_invocations: None,
            minute_cells: std::time::Duration::from_secs(DEFAULT_MINUTE_CELLS_DAYS * 86_400),
        }
    }
}

impl RetentionConfig {
    /// The first second (Unix) of the oldest day whose minute cells are kept at `now_ms`: the
    /// day holding `now − minute_cells`.
    pub fn minute_cells_from(&self, now_ms: i64) -> i64 {
        const DAY: i64 = 86_400;
        let keep = i64::try_from(self.minute_cells.as_secs()).unwrap_or(i64::MAX / 2);
        let from = now_ms.div_euclid(1000).saturating_sub(keep);
        from - from.rem_euclid(DAY)
    }

    /// The first millisecond of the oldest month whose raw invocations are kept at `now_ms`:
    /// the month holding `now − raw_invocations` (so at least that long is always kept).
    pub fn raw_kept_from(&self, now_ms: i64) -> Option<i64> {
        let keep = i64::try_from(self.raw_invocations?.as_millis()).ok()?;
        Some(crate::store::month_start_ms(now_ms.checked_sub(keep)?))
    }
}

/// The dashboard's HTTP listener.
#[derive(Clone, PartialEq, Eq)]
pub struct ServerConfig {
    pub listen: std::net::SocketAddr,
    /// Required by every request but `/healthz` and `/readyz` when set; required to listen
    /// on anything but loopback.
    pub auth_token: Option<String>,
    /// Cache aggregate reads per data generation (off only to measure cold reads).
    pub query_cache: bool,
}

impl fmt::Debug for ServerConfig {
    /// Never prints the token.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerConfig")
            .field("listen", &self.listen)
            .field("auth_token", &self.auth_token.as_ref().map(|_| "<set>"))
            .field("query_cache", &self.query_cache)
            .finish()
    }
}

/// Where the dashboard listens unless configured otherwise.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseConfig {
    /// `postgres://…` or `sqlite://PATH`; `None` means the embedded SQLite file in `data_dir`.
    pub url: Option<String>,
    pub data_dir: PathBuf,
}

/// The user's own price table (negotiated or private prices), laid over the AWS Price List.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PricingSource {
    File(PathBuf),
    /// No table of the user's: the AWS Price List (stored by a sync or import, or built in)
    /// alone.
    Builtin,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PricingConfig {
    pub source: PricingSource,
    /// False: price with the user's table alone, no AWS Price List rows (a complete private
    /// price sheet). Environment: TIERWATCH_AWS_PRICE_LIST.
    pub aws_price_list: bool,
    /// The user's own model-names table, added to the shipped one.
    pub model_names: Option<PathBuf>,
    /// `serve` runs `prices sync` every `sync_interval` when true.
    pub sync: bool,
    pub sync_interval: std::time::Duration,
    /// Where the Pricing API is called (it is served from us-east-1 and ap-south-1).
    pub api_region: String,
    /// Override of the Pricing API endpoint (a local stand-in, a VPC endpoint).
    pub endpoint_url: Option<String>,
    /// Reserved-tier capacity bought (`[[pricing.reservations]]`).
    pub reservations: Vec<Reservation>,
}

pub use reservations::Reservation;

impl Default for PricingConfig {
    /// No table of the user's, the AWS Price List, no sync.
    fn default() -> PricingConfig {
        PricingConfig {
            source: PricingSource::Builtin,
            aws_price_list: true,
            model_names: None,
            sync: false,
            sync_interval: DEFAULT_SYNC_INTERVAL,
            api_region: "us-east-1".to_string(),
            endpoint_url: None,
            reservations: Vec::new(),
        }
    }
}

/// Default `pricing.sync_interval`: daily.
pub const DEFAULT_SYNC_INTERVAL: std::time::Duration = std::time::Duration::from_secs(86_400);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestConfig {
    /// `requestMetadata` key whose value names the tier of a call.
    pub tier_metadata_key: String,
    /// Records written per database transaction.
    pub batch_size: usize,
    /// Application-inference-profile ARN (or its id) → foundation model id.
    pub application_profiles: HashMap<String, String>,
    /// `requestMetadata` keys that cost is broken down by (besides `identity.arn`).
    pub caller_metadata_keys: Vec<String>,
}

/// One problem in the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file (with line and column when known) or "environment".
    pub origin: String,
    /// The key or environment variable.
    pub key: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.origin, self.key, self.message)
    }
}

/// Every problem found, one per line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, error) in self.0.iter().enumerate() {
            if index > 0 {
                writeln!(f)?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

/// The file as written: every key optional, unknown keys rejected (a typo is an error).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    #[serde(default)]
    database: FileDatabase,
    #[serde(default)]
    pricing: FilePricing,
    #[serde(default)]
    ingest: FileIngest,
    #[serde(default)]
    daemon: daemon::FileDaemon,
    #[serde(default)]
    sources: Vec<daemon::FileSource>,
    #[serde(default)]
    server: FileServer,
    #[serde(default)]
    alerts: alerts::FileAlerts,
    reports: Option<alerts::FileReports>,
    #[serde(default)]
    retention: FileRetention,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileRetention {
    raw_invocations: Option<String>,
    minute_cells: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileServer {
    listen: Option<String>,
    auth_token: Option<String>,
    query_cache: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDatabase {
    url: Option<String>,
    data_dir: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FilePricing {
    table: Option<PathBuf>,
    aws_price_list: Option<bool>,
    model_names: Option<PathBuf>,
    sync: Option<bool>,
    sync_interval: Option<String>,
    api_region: Option<String>,
    endpoint_url: Option<String>,
    #[serde(default)]
    reservations: Vec<reservations::FileReservation>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileIngest {
    tier_metadata_key: Option<String>,
    batch_size: Option<i64>,
    #[serde(default)]
    application_profiles: HashMap<String, String>,
    caller_metadata_keys: Option<Vec<String>>,
}

/// A source of environment variables, so tests need not touch the process environment.
pub trait Environment {
    fn var(&self, name: &str) -> Option<String>;
}

/// The process environment.
pub struct ProcessEnvironment;

impl Environment for ProcessEnvironment {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|value| !value.is_empty())
    }
}

impl Environment for HashMap<String, String> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

impl Config {
    /// Loads `explicit` (which must exist), or [`DEFAULT_CONFIG_PATH`] if it exists, or
    /// nothing; then applies the environment and validates.
    pub fn load(explicit: Option<&Path>, env: &dyn Environment) -> Result<Config, ConfigErrors> {
        let file = match explicit {
            Some(path) => Some(path.to_path_buf()),
            None => Some(PathBuf::from(DEFAULT_CONFIG_PATH)).filter(|path| path.is_file()),
        };
        let text = match &file {
            Some(path) => std::fs::read_to_string(path).map_err(|error| {
                ConfigErrors(vec![ConfigError {
                    origin: path.display().to_string(),
                    key: "(file)".into(),
                    message: format!("cannot read the config file: {error}"),
                }])
            })?,
            None => String::new(),
        };
        Config::from_toml(&text, file.as_deref(), env)
    }

    /// Builds a config from TOML text (`file` names it in messages and anchors relative paths).
    pub fn from_toml(
        text: &str,
        file: Option<&Path>,
        env: &dyn Environment,
    ) -> Result<Config, ConfigErrors> {
        let origin = file.map_or_else(|| "(defaults)".to_string(), |p| p.display().to_string());
        let parsed = parse_file(text, &origin)?;
        let base_dir = file
            .and_then(Path::parent)
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let mut errors = Vec::new();
        let config = Layering {
            origin: &origin,
            base_dir: &base_dir,
            env,
            errors: &mut errors,
        }
        .build(parsed, file);
        if errors.is_empty() {
            Ok(config)
        } else {
            Err(ConfigErrors(errors))
        }
    }

    /// The database URL to open: the configured one, or the embedded SQLite file.
    pub fn database_url(&self) -> String {
        match &self.database.url {
            Some(url) => url.clone(),
            None => format!(
                "sqlite://{}",
                self.database.data_dir.join(SQLITE_FILE_NAME).display()
            ),
        }
    }

    /// Options the record parser needs.
    pub fn parse_options(&self) -> ParseOptions {
        ParseOptions {
            tier_metadata_key: self.ingest.tier_metadata_key.clone(),
            application_profiles: self.ingest.application_profiles.clone(),
        }
    }
}

fn parse_file(text: &str, origin: &str) -> Result<FileConfig, ConfigErrors> {
    let deserializer = toml::Deserializer::parse(text)
        .map_err(|error| ConfigErrors(vec![toml_error(text, origin, "(syntax)", &error)]))?;
    serde_path_to_error::deserialize(deserializer).map_err(|error| {
        let key = error.path().to_string();
        ConfigErrors(vec![toml_error(text, origin, &key, error.inner())])
    })
}

/// A TOML error as a [`ConfigError`], with line and column when the error has a span.
pub fn toml_error(text: &str, origin: &str, key: &str, error: &toml::de::Error) -> ConfigError {
    let origin = match error.span() {
        Some(span) => {
            let (line, column) = line_and_column(text, span.start);
            format!("{origin}:{line}:{column}")
        }
        None => origin.to_string(),
    };
    ConfigError {
        origin,
        key: if key.is_empty() || key == "." {
            "(top level)".into()
        } else {
            key.to_string()
        },
        message: error.message().trim().to_string(),
    }
}

/// 1-based line and column of a byte offset.
fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// Applies defaults and environment overrides to a parsed file, collecting every error.
struct Layering<'a> {
    origin: &'a str,
    base_dir: &'a Path,
    env: &'a dyn Environment,
    errors: &'a mut Vec<ConfigError>,
}

impl Layering<'_> {
    fn build(mut self, file: FileConfig, path: Option<&Path>) -> Config {
        let database = self.database(file.database);
        let pricing = self.pricing(file.pricing);
        let ingest = self.ingest(file.ingest);
        let daemon = daemon::daemon_config(file.daemon, self.origin, self.errors);
        let sources = daemon::sources_config(file.sources, self.origin, self.errors);
        let server = self.server(file.server);
        let retention = self.retention(file.retention);
        let base_dir = self.base_dir.to_path_buf();
        let relative = move |path: PathBuf| {
            if path.is_absolute() {
                path
            } else {
                base_dir.join(path)
            }
        };
        let mut alerts = alerts::alerts_config(
            file.alerts,
            file.reports,
            self.origin,
            &relative,
            self.errors,
        );
        alerts.report_pricing = pricing.clone();
        self.check_rolling_windows(&alerts, &retention);
        Config {
            file: path.map(Path::to_path_buf),
            database,
            pricing,
            ingest,
            daemon,
            sources,
            server,
            alerts,
            retention,
        }
    }

    /// A rolling alert window reads minute cells: it cannot reach back past the days they
    /// are kept.
    fn check_rolling_windows(&mut self, alerts: &AlertsConfig, retention: &RetentionConfig) {
        for rule in &alerts.rules {
            if let alerts::RuleWindow::Rolling(length) = rule.window
                && length > retention.minute_cells
            {
                self.errors.push(ConfigError {
                    origin: self.origin.to_string(),
                    key: format!("alerts.rules[{}].window", rule.name),
                    message: format!(
                        "a rolling window of {} days reaches past the {} days of minute cells \
                         kept (retention.minute_cells): shorten it, use \"month\", or keep \
                         minute cells longer",
                        length.as_secs().div_ceil(86_400),
                        retention.minute_cells.as_secs() / 86_400
                    ),
                });
            }
        }
    }

    fn retention(&mut self, file: FileRetention) -> RetentionConfig {
        let mut retention = RetentionConfig::default();
        if let Some(text) = file.raw_invocations {
            retention.raw_invocations = whole_days(&text, 1);
            if retention.raw_invocations.is_none() {
                self.errors.push(ConfigError {
                    origin: self.origin.to_string(),
                    key: "retention.raw_invocations".into(),
                    message: format!(
                        "{text:?} is not a number of days to keep raw invocations: expected \
                         whole days, such as \"90d\" (rollups are kept forever; months are \
                         dropped whole)"
                    ),
                });
            }
        }
        if let Some(text) = file.minute_cells {
            match whole_days(&text, MIN_MINUTE_CELLS_DAYS) {
                Some(days) => retention.minute_cells = days,
                None => self.errors.push(ConfigError {
                    origin: self.origin.to_string(),
                    key: "retention.minute_cells".into(),
                    message: format!(
                        "{text:?} is not a number of days to keep minute cells: expected whole \
                         days, at least \"{MIN_MINUTE_CELLS_DAYS}d\", such as \"35d\" (hour and \
                         day cells are kept forever)"
                    ),
                }),
            }
        }
        retention
    }

    fn server(&mut self, file: FileServer) -> ServerConfig {
        let (listen, origin, key) = match self.env.var("TIERWATCH_LISTEN") {
            Some(listen) => (listen, "environment".to_string(), "TIERWATCH_LISTEN"),
            None => (
                file.listen.unwrap_or_else(|| DEFAULT_LISTEN.into()),
                self.origin.to_string(),
                "server.listen",
            ),
        };
        let listen = match listen.trim().parse() {
            Ok(address) => address,
            Err(_) => {
                self.errors.push(ConfigError {
                    origin,
                    key: key.into(),
                    message: format!(
                        "{listen:?} is not an address to listen on: expected IP:PORT, such as \
                         \"{DEFAULT_LISTEN}\" or \"0.0.0.0:8080\""
                    ),
                });
                DEFAULT_LISTEN
                    .parse()
                    .unwrap_or(std::net::SocketAddr::from(([127, 0, 0, 1], 8080)))
            }
        };
        let (auth_token, origin, key) = match self.env.var("TIERWATCH_AUTH_TOKEN") {
            Some(token) => (
                Some(token),
                "environment".to_string(),
                "TIERWATCH_AUTH_TOKEN",
            ),
            None => (
                file.auth_token,
                self.origin.to_string(),
                "server.auth_token",
            ),
        };
        let auth_token = auth_token.filter(|token| !token.is_empty());
        if let Err(error) = crate::dashboard::check_bind(listen, auth_token.as_deref()) {
            self.errors.push(ConfigError {
                origin,
                key: key.into(),
                message: error.to_string(),
            });
        }
        let query_cache = match self.env.var("TIERWATCH_QUERY_CACHE").as_deref() {
            None => file.query_cache.unwrap_or(true),
            Some("on" | "true" | "1") => true,
            Some("off" | "false" | "0") => false,
            Some(other) => {
                self.errors.push(ConfigError {
                    origin: "environment".into(),
                    key: "TIERWATCH_QUERY_CACHE".into(),
                    message: format!("{other:?}: expected on or off"),
                });
                true
            }
        };
        ServerConfig {
            listen,
            auth_token,
            query_cache,
        }
    }

    fn database(&mut self, file: FileDatabase) -> DatabaseConfig {
        let from_env = self.env.var("TIERWATCH_DATABASE_URL");
        let (url, origin, key) = match from_env {
            Some(url) => (
                Some(url),
                "environment".to_string(),
                "TIERWATCH_DATABASE_URL",
            ),
            None => (file.url, self.origin.to_string(), "database.url"),
        };
        let url = url.filter(|url| !url.trim().is_empty());
        if let Some(url) = &url {
            let known = ["postgres://", "postgresql://", "sqlite://"];
            if !known.iter().any(|scheme| url.starts_with(scheme)) {
                self.errors.push(ConfigError {
                    origin,
                    key: key.into(),
                    message: format!(
                        "expected a postgres://… or sqlite://… URL (or nothing, for the embedded SQLite file), got {:?}",
                        redact(url)
                    ),
                });
            }
        }
        let data_dir = match self.env.var("TIERWATCH_DATA_DIR") {
            Some(dir) => PathBuf::from(dir),
            None => file
                .data_dir
                .map_or_else(|| PathBuf::from("data"), |dir| self.relative(dir)),
        };
        DatabaseConfig { url, data_dir }
    }

    fn pricing(&mut self, file: FilePricing) -> PricingConfig {
        let source = match (self.env.var("TIERWATCH_PRICING_TABLE"), file.table) {
            (Some(path), _) => PricingSource::File(PathBuf::from(path)),
            (None, Some(path)) => PricingSource::File(self.relative(path)),
            (None, None) if Path::new(DEFAULT_PRICING_PATH).is_file() => {
                PricingSource::File(PathBuf::from(DEFAULT_PRICING_PATH))
            }
            (None, None) => PricingSource::Builtin,
        };
        let sync_interval = match &file.sync_interval {
            None => DEFAULT_SYNC_INTERVAL,
            Some(text) => match daemon::parse_duration(text).filter(|d| d.as_secs() >= 60) {
                Some(interval) => interval,
                None => {
                    self.errors.push(ConfigError {
                        origin: self.origin.into(),
                        key: "pricing.sync_interval".into(),
                        message: format!(
                            "expected a duration of at least a minute such as \"24h\", got {text:?}"
                        ),
                    });
                    DEFAULT_SYNC_INTERVAL
                }
            },
        };
        let api_region = file.api_region.unwrap_or_else(|| "us-east-1".into());
        if api_region.trim().is_empty() {
            self.errors.push(ConfigError {
                origin: self.origin.into(),
                key: "pricing.api_region".into(),
                message: "must name a region, e.g. \"us-east-1\"".into(),
            });
        }
        let aws_price_list = match self.env.var("TIERWATCH_AWS_PRICE_LIST") {
            None => file.aws_price_list.unwrap_or(true),
            Some(value) => match value.trim().to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" | "on" => true,
                "0" | "false" | "no" | "off" => false,
                _ => {
                    self.errors.push(ConfigError {
                        origin: "environment".into(),
                        key: "TIERWATCH_AWS_PRICE_LIST".into(),
                        message: format!("expected true or false, got {value:?}"),
                    });
                    true
                }
            },
        };
        if !aws_price_list && matches!(source, PricingSource::Builtin) {
            self.errors.push(ConfigError {
                origin: self.origin.into(),
                key: "pricing.aws_price_list".into(),
                message:
                    "false needs a table of your own (pricing.table): nothing would price any call"
                        .into(),
            });
        }
        PricingConfig {
            source,
            aws_price_list,
            model_names: file.model_names.map(|path| self.relative(path)),
            sync: file.sync.unwrap_or(false),
            sync_interval,
            api_region,
            endpoint_url: file.endpoint_url,
            reservations: reservations::reservations(file.reservations, self.origin, self.errors),
        }
    }

    fn ingest(&mut self, file: FileIngest) -> IngestConfig {
        let tier_metadata_key = self
            .env
            .var("TIERWATCH_TIER_METADATA_KEY")
            .or(file.tier_metadata_key)
            .unwrap_or_else(|| "service_tier".into());
        if tier_metadata_key.trim().is_empty() {
            self.errors.push(ConfigError {
                origin: self.origin.into(),
                key: "ingest.tier_metadata_key".into(),
                message: "expected a non-empty requestMetadata key, such as \"service_tier\""
                    .into(),
            });
        }
        let batch_size = self.batch_size(file.batch_size);
        for (profile, model) in &file.application_profiles {
            if model.trim().is_empty() {
                self.errors.push(ConfigError {
                    origin: self.origin.into(),
                    key: format!("ingest.application_profiles.{profile:?}"),
                    message: "expected a foundation model id, such as \"amazon.nova-pro-v1:0\""
                        .into(),
                });
            }
        }
        let caller_metadata_keys = file.caller_metadata_keys.unwrap_or_else(|| {
            crate::rollup::DEFAULT_METADATA_KEYS
                .iter()
                .map(|key| key.to_string())
                .collect()
        });
        for key in &caller_metadata_keys {
            if key.trim().is_empty() || key.len() > 64 {
                self.errors.push(ConfigError {
                    origin: self.origin.into(),
                    key: "ingest.caller_metadata_keys".into(),
                    message: format!(
                        "{key:?} is not a requestMetadata key: expected 1 to 64 characters, \
                         such as \"team\""
                    ),
                });
            }
        }
        IngestConfig {
            tier_metadata_key,
            batch_size,
            application_profiles: file.application_profiles,
            caller_metadata_keys,
        }
    }

    fn batch_size(&mut self, from_file: Option<i64>) -> usize {
        // Memory follows the batch, and so does speed: a Postgres import of 1M records peaked at
        // 106 MiB RSS with 5,000 (31.9k records/s), 76 MiB with 2,000 (26.6k records/s).
        const DEFAULT: usize = 5_000;
        const RANGE: std::ops::RangeInclusive<i64> = 1..=100_000;
        let (value, origin, key) = match self.env.var("TIERWATCH_BATCH_SIZE") {
            Some(text) => match text.trim().parse::<i64>() {
                Ok(value) => (value, "environment".to_string(), "TIERWATCH_BATCH_SIZE"),
                Err(_) => {
                    self.errors.push(ConfigError {
                        origin: "environment".into(),
                        key: "TIERWATCH_BATCH_SIZE".into(),
                        message: format!("expected a whole number from 1 to 100000, got {text:?}"),
                    });
                    return DEFAULT;
                }
            },
            None => match from_file {
                Some(value) => (value, self.origin.to_string(), "ingest.batch_size"),
                None => return DEFAULT,
            },
        };
        if !RANGE.contains(&value) {
            self.errors.push(ConfigError {
                origin,
                key: key.into(),
                message: format!("expected a whole number from 1 to 100000, got {value}"),
            });
            return DEFAULT;
        }
        usize::try_from(value).unwrap_or(DEFAULT)
    }

    /// A path from the config file, relative to the file's directory.
    fn relative(&self, path: PathBuf) -> PathBuf {
        if path.is_absolute() {
            path
        } else {
            self.base_dir.join(path)
        }
    }
}

/// A URL with any password replaced, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let credentials = &url[scheme_end + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn load(text: &str, vars: &[(&str, &str)]) -> Result<Config, ConfigErrors> {
        Config::from_toml(text, Some(Path::new("conf/tw.toml")), &env(vars))
    }

    #[test]
    fn empty_file_gives_embedded_sqlite_defaults() {
        let config = load("", &[]).unwrap();
        assert_eq!(config.database.url, None);
        assert_eq!(config.database.data_dir, PathBuf::from("data"));
        assert_eq!(config.database_url(), "sqlite://data/tierwatch.sqlite");
        assert_eq!(config.ingest.tier_metadata_key, "service_tier");
        assert_eq!(config.ingest.batch_size, 5_000);
    }

    #[test]
    fn retention_keeps_whole_months_of_at_least_the_days_given() {
        assert_eq!(load("", &[]).unwrap().retention.raw_invocations, None);
        let config = load("[retention]\nraw_invocations = \"90d\"\n", &[]).unwrap();
        let retention = &config.retention;
        assert_eq!(
            retention.raw_invocations,
            Some(std::time::Duration::from_secs(90 * 86_400))
        );
        // 2026-12-07 − 90 days = 2026-09-08: September is kept from its first day.
        let now = 1_796_601_600_000; // 2026-12-07T00:00:00Z
        assert_eq!(retention.raw_kept_from(now), Some(1_788_220_800_000)); // 2026-09-01
        for bad in ["12h", "0d", "ninety days", "90"] {
            let text = format!("[retention]\nraw_invocations = \"{bad}\"\n");
            let errors = load(&text, &[]).unwrap_err();
            assert_eq!(errors.0[0].key, "retention.raw_invocations", "{bad}");
        }
    }

    #[test]
    fn minute_cells_are_kept_whole_days_from_35_by_default() {
        let now = 1_796_601_600_000 + 3_600_000; // 2026-12-07T01:00:00Z
        let default = load("", &[]).unwrap().retention;
        assert_eq!(default.minute_cells.as_secs(), 35 * 86_400);
        assert_eq!(default.minute_cells_from(now), 1_793_577_600); // 2026-11-02
        let config = load("[retention]\nminute_cells = \"15d\"\n", &[]).unwrap();
        assert_eq!(config.retention.minute_cells_from(now), 1_795_305_600); // 2026-11-22
        for bad in ["1d", "36h", "forever", "15"] {
            let text = format!("[retention]\nminute_cells = \"{bad}\"\n");
            let errors = load(&text, &[]).unwrap_err();
            assert_eq!(errors.0[0].key, "retention.minute_cells", "{bad}");
        }
        // A rolling alert window cannot reach past the minute cells kept.
        let text = r#"
            [retention]
            minute_cells = "7d"
            [[alerts.channels]]
            name = "ops"
            type = "webhook"
            url = "https://hooks.example.com/tierwatch"
            [[alerts.rules]]
            name = "slow-flex"
            kind = "flex_delay"
            window = "8d"
            threshold = 2.5
            vs_standard = true
            channels = ["ops"]
        "#;
        let errors = load(text, &[]).unwrap_err();
        assert_eq!(
            errors.0[0].key, "alerts.rules[slow-flex].window",
            "{errors:?}"
        );
    }

    #[test]
    fn file_values_and_relative_paths() {
        let text = r#"
            [database]
            data_dir = "state"
            [pricing]
            table = "prices.toml"
            [ingest]
            tier_metadata_key = "tier"
            batch_size = 200
            [ingest.application_profiles]
            "arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/abc" = "amazon.nova-pro-v1:0"
        "#;
        let config = load(text, &[]).unwrap();
        assert_eq!(config.database.data_dir, PathBuf::from("conf/state"));
        assert_eq!(
            config.pricing.source,
            PricingSource::File(PathBuf::from("conf/prices.toml"))
        );
        assert_eq!(config.ingest.tier_metadata_key, "tier");
        assert_eq!(config.ingest.batch_size, 200);
        assert_eq!(config.parse_options().application_profiles.len(), 1);
    }

    #[test]
    fn environment_overrides_the_file() {
        let text = "[database]\nurl = \"sqlite://a.db\"\n[ingest]\nbatch_size = 10\n";
        let config = load(
            text,
            &[
                ("TIERWATCH_DATABASE_URL", "postgres://root@127.0.0.1/test"),
                ("TIERWATCH_BATCH_SIZE", "77"),
                ("TIERWATCH_PRICING_TABLE", "/etc/prices.toml"),
            ],
        )
        .unwrap();
        assert_eq!(config.database_url(), "postgres://root@127.0.0.1/test");
        assert_eq!(config.ingest.batch_size, 77);
        assert_eq!(
            config.pricing.source,
            PricingSource::File(PathBuf::from("/etc/prices.toml"))
        );
    }

    #[test]
    fn unknown_keys_name_the_key_and_position() {
        let error = load("[database]\nurl = \"sqlite://x\"\ndata_dri = \"d\"\n", &[]).unwrap_err();
        let text = error.to_string();
        assert!(text.starts_with("conf/tw.toml:3:1: database"), "{text}");
        assert!(text.contains("unknown field `data_dri`"), "{text}");
    }

    #[test]
    fn wrong_types_name_the_key() {
        let error = load("[ingest]\nbatch_size = \"many\"\n", &[]).unwrap_err();
        let text = error.to_string();
        assert!(
            text.contains("conf/tw.toml:2:14: ingest.batch_size: invalid type"),
            "{text}"
        );
    }

    #[test]
    fn syntax_errors_give_a_position() {
        let error = load("[database\nurl = 1\n", &[]).unwrap_err();
        assert!(error.to_string().starts_with("conf/tw.toml:1:"), "{error}");
    }

    #[test]
    fn every_semantic_error_is_reported_at_once() {
        let text = "[database]\nurl = \"mysql://u:pw@h/db\"\n[ingest]\nbatch_size = 0\ntier_metadata_key = \" \"\n";
        let errors = load(text, &[]).unwrap_err().0;
        let keys: Vec<&str> = errors.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "database.url",
                "ingest.tier_metadata_key",
                "ingest.batch_size"
            ]
        );
        assert!(
            errors[0].message.contains("mysql://u:***@h/db"),
            "{}",
            errors[0]
        );
        assert!(!errors[0].message.contains("pw"));
    }

    #[test]
    fn bad_environment_values_name_the_variable() {
        let errors = load("", &[("TIERWATCH_BATCH_SIZE", "lots")]).unwrap_err();
        assert_eq!(
            errors.to_string(),
            "environment: TIERWATCH_BATCH_SIZE: expected a whole number from 1 to 100000, got \"lots\""
        );
    }

    #[test]
    fn sources_and_daemon_settings() {
        let text = r#"
            [daemon]
            logs_interval = "30s"
            lookback = "10m"
            max_attempts = 3
            [[sources]]
            name = "prod-use1"
            region = "us-east-1"
            account_id = "111122223333"
            log_group = "/aws/bedrock/modelinvocations"
            role_arn = "arn:aws:iam::111122223333:role/tierwatch-read"
            backfill_from = "2025-11-01T00:00:00Z"
            [[sources]]
            name = "metrics-only"
            region = "eu-central-1"
            account_id = "444455556666"
            endpoint_url = "http://127.0.0.1:4566"
            quotas = false
        "#;
        let config = load(text, &[]).unwrap();
        assert_eq!(
            config.daemon.logs_interval,
            std::time::Duration::from_secs(30)
        );
        assert_eq!(config.daemon.lookback, std::time::Duration::from_secs(600));
        assert_eq!(config.daemon.max_attempts, 3);
        assert_eq!(
            config.daemon.metrics_interval,
            DaemonConfig::default().metrics_interval
        );
        assert_eq!(config.sources.len(), 2);
        let prod = &config.sources[0];
        assert_eq!(prod.backfill_from_ms, Some(1_761_955_200_000));
        assert!(prod.metrics && prod.quotas);
        let other = &config.sources[1];
        assert_eq!(other.log_group, None);
        assert!(other.metrics && !other.quotas);
    }

    #[test]
    fn bad_sources_are_named_by_position_and_key() {
        let text = r#"
            [daemon]
            lookback = "soon"
            [[sources]]
            name = "a"
            region = "us-east"
            account_id = "1234"
            role_arn = "tierwatch-read"
            backfill_from = "yesterday"
            [[sources]]
            name = "a"
            region = "us-west-2"
            endpoint_url = "localhost:4566"
            metrics = false
            quotas = false
        "#;
        let errors = load(text, &[]).unwrap_err().0;
        let keys: Vec<&str> = errors.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "daemon.lookback",
                "sources[1].region",
                "sources[1].account_id",
                "sources[1].role_arn",
                "sources[1].backfill_from",
                "sources[2].name",
                "sources[2].endpoint_url",
                "sources[2].log_group",
            ]
        );
        assert!(
            errors[5].message.contains("used by another source"),
            "{}",
            errors[5]
        );
    }
}
