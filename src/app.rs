//! Runs the commands of the CLI: loads config, opens the store, calls the library.
//! This is an edge of the program, so errors are `anyhow` with context.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, bail};

use crate::cli::{AlertsCommand, Cli, Command};
use crate::config::{Config, PricingSource, ProcessEnvironment};
use crate::daemon;
use crate::dashboard;
use crate::ingest::{self, ImportSettings};
use crate::pricing::{PriceTable, PricingOutcome};
use crate::report::{self, Format, Month};
use crate::rollup::CallerDimensions;
use crate::simulate::{S3LayoutOptions, SimulationSpec, Simulator, write_s3_layout};
use crate::store::{PriceRowRecord, RepriceDecision, Store};

/// The shipped price table, built in so tierwatch prices calls with no files around it.
const BUILTIN_PRICING: &str = include_str!("../config/pricing.toml");

/// Writes to stdout; a closed pipe (`tierwatch … | head`) ends output quietly instead of
/// panicking like `print!` does.
macro_rules! out {
    ($($arg:tt)*) => {
        write_stdout(&format!($($arg)*))
    };
}
macro_rules! outln {
    ($($arg:tt)*) => {
        write_stdout(&(format!($($arg)*) + "\n"))
    };
}

fn write_stdout(text: &str) {
    let mut stdout = std::io::stdout().lock();
    let written = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush());
    if let Err(error) = written
        && error.kind() != std::io::ErrorKind::BrokenPipe
    {
        eprintln!("error: writing to standard output: {error}");
    }
}

/// Imports of at least this many new invocations refresh the planner's statistics.
const BULK_IMPORT: u64 = 100_000;

/// Exit code when the configuration is invalid.
const EXIT_BAD_CONFIG: u8 = 2;

pub async fn run(cli: Cli) -> Result<ExitCode> {
    let config = match load_config(&cli) {
        Ok(config) => config,
        Err(errors) => {
            eprintln!("Invalid configuration:\n{errors}");
            return Ok(ExitCode::from(EXIT_BAD_CONFIG));
        }
    };
    match cli.command {
        Command::Import { paths, no_progress } => import(&config, &paths, !no_progress).await,
        Command::Report { month, format, out } => {
            report(&config, month, format, out.as_deref()).await
        }
        Command::Reprice { month } => reprice(&config, month).await,
        Command::Migrate => migrate(&config).await,
        Command::Serve | Command::Poll { once: false } => serve(&config).await,
        Command::Poll { once: true } => poll_once(&config).await,
        Command::Status => status(&config).await,
        Command::Alerts { command } => alerts_command(&config, command).await,
        Command::CheckConfig { connect } => check_config(&config, connect).await,
        Command::Demo {
            seed,
            month,
            records,
            format,
            no_serve,
            live_rate,
        } => {
            let demo_settings = DemoSettings {
                seed,
                month,
                records,
                format,
                serve: !no_serve,
                live_rate,
            };
            demo(&config, demo_settings).await
        }
        Command::Simulate {
            out,
            seed,
            month,
            records,
            days,
            records_per_file,
            bad_rate,
            duplicate_rate,
            gzip_level,
        } => {
            let mut spec = month_spec(month.unwrap_or_else(last_month), records, seed);
            spec.bad_record_rate = bad_rate;
            spec.duplicate_rate = duplicate_rate;
            if let Some(days) = days {
                let span = i64::from(days.max(1)) * 86_400_000;
                spec.end_ms = spec.end_ms.min(spec.start_ms + span);
            }
            let layout = S3LayoutOptions {
                records_per_file,
                gzip_level,
                ..S3LayoutOptions::default()
            };
            simulate(spec, &out, &layout)
        }
    }
}

fn load_config(cli: &Cli) -> Result<Config, crate::config::ConfigErrors> {
    let mut config = Config::load(cli.config.as_deref(), &ProcessEnvironment)?;
    if let Some(url) = &cli.database_url {
        config.database.url = Some(url.clone());
    }
    Ok(config)
}

/// Opens the configured database and brings its schema up to date.
async fn open_store(config: &Config, url: &str) -> Result<Store> {
    let callers = CallerDimensions::new(&config.ingest.caller_metadata_keys);
    let store = Store::open(url)
        .await?
        .with_caller_dimensions(callers)
        .with_read_cache(config.server.query_cache);
    store
        .migrate()
        .await
        .with_context(|| format!("migrating the database schema ({})", store.backend_name()))?;
    Ok(store)
}

/// Loads the configured price table (or the built-in one).
pub fn load_prices(config: &Config) -> Result<PriceTable> {
    let table = match &config.pricing.source {
        PricingSource::File(path) => PriceTable::load(path)?,
        PricingSource::Builtin => {
            PriceTable::parse(BUILTIN_PRICING, "built-in config/pricing.toml")?
        }
    };
    Ok(table)
}

fn describe_pricing(config: &Config) -> String {
    match &config.pricing.source {
        PricingSource::File(path) => path.display().to_string(),
        PricingSource::Builtin => "built-in copy of config/pricing.toml".into(),
    }
}

async fn import(config: &Config, paths: &[PathBuf], progress: bool) -> Result<ExitCode> {
    let prices = Arc::new(load_prices(config)?);
    let store = open_store(config, &config.database_url()).await?;
    let settings = ImportSettings {
        options: Arc::new(config.parse_options()),
        prices,
        batch_size: config.ingest.batch_size,
        progress,
    };
    let summary = ingest::import_paths(&store, paths, settings).await?;
    if summary.imported >= BULK_IMPORT {
        // Plans for dashboard reads depend on table statistics; a bulk load changes them.
        store
            .refresh_statistics()
            .await
            .context("refreshing the database's statistics after the import")?;
    }
    out!("{summary}");
    Ok(if summary.failed() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

async fn report(
    config: &Config,
    month: Month,
    format: Format,
    out: Option<&Path>,
) -> Result<ExitCode> {
    let store = open_store(config, &config.database_url()).await?;
    let report = report::build(&store, month).await?;
    if report.rows.is_empty() {
        eprintln!("note: no invocations are stored for {month}");
    }
    write_output(&report.render(format), out)?;
    Ok(ExitCode::SUCCESS)
}

fn write_output(text: &str, out: Option<&Path>) -> Result<()> {
    match out {
        Some(path) => std::fs::write(path, text)
            .with_context(|| format!("writing the report to {}", path.display())),
        None => {
            write_stdout(text);
            Ok(())
        }
    }
}

async fn reprice(config: &Config, month: Month) -> Result<ExitCode> {
    let prices = load_prices(config)?;
    let store = open_store(config, &config.database_url()).await?;
    let mut records = std::collections::HashMap::<usize, Arc<PriceRowRecord>>::new();
    let mut record_of = |price: &Arc<crate::pricing::ResolvedPrice>| {
        records
            .entry(Arc::as_ptr(price) as usize)
            .or_insert_with(|| Arc::new(ingest::price_row_record(price)))
            .clone()
    };
    let outcome = store
        .reprice(
            month.start_ms(),
            month.end_ms(),
            |invocation| match prices.price(invocation) {
                PricingOutcome::Priced(priced) => RepriceDecision::Priced {
                    price: record_of(&priced.price),
                    cost: priced.cost,
                    standard: priced
                        .standard_equivalent
                        .map(|standard| (record_of(&standard.price), standard.cost)),
                },
                PricingOutcome::NotBilled => RepriceDecision::NotBilled,
                PricingOutcome::Unpriced { reason } => RepriceDecision::Unpriced { reason },
            },
        )
        .await?;
    outln!(
        "Repriced {} invocations of {month} with {}: {} changed; rollups rebuilt.",
        outcome.invocations,
        describe_pricing(config),
        outcome.changed
    );
    Ok(ExitCode::SUCCESS)
}

/// What the daemon's pollers share.
async fn daemon_shared(config: &Config) -> Result<daemon::Shared> {
    Ok(daemon::Shared {
        prices: Arc::new(load_prices(config)?),
        store: open_store(config, &config.database_url()).await?,
        options: Arc::new(config.parse_options()),
        batch_size: config.ingest.batch_size,
    })
}

async fn serve(config: &Config) -> Result<ExitCode> {
    let shared = daemon_shared(config).await?;
    let (stopper, stop) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        wait_for_shutdown_signal().await;
        tracing::info!("shutting down: finishing the batches in flight");
        let _ = stopper.send(true);
    });
    let http = start_dashboard(config, shared.store.clone(), stop.clone()).await?;
    let alerts = config.alerts.is_active().then(|| {
        tokio::spawn(crate::alerts::run(
            shared.store.clone(),
            config.alerts.clone(),
            stop.clone(),
        ))
    });
    if config.sources.is_empty() {
        tracing::warn!("no [[sources]] configured: serving the dashboard over stored data only");
        let mut stop = stop;
        let _ = stop.wait_for(|stopped| *stopped).await;
    } else {
        daemon::run(config, shared, stop).await?;
    }
    http.await.context("the dashboard task panicked")??;
    if let Some(alerts) = alerts {
        alerts.await.context("the alerts task panicked")?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Binds the dashboard (refusing a non-loopback address without a token) and serves it
/// until `stop` turns true.
async fn start_dashboard(
    config: &Config,
    store: Store,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Result<tokio::task::JoinHandle<Result<()>>> {
    let token = config.server.auth_token.clone();
    let listener = dashboard::bind(config.server.listen, token.as_deref()).await?;
    let address = listener
        .local_addr()
        .context("reading the dashboard's address")?;
    let state = dashboard::AppState::new(store, token).with_alerts(config.alerts.clone());
    eprintln!("Dashboard: http://{address}/");
    tracing::info!(%address, "serving the dashboard");
    Ok(tokio::spawn(async move {
        let shutdown = async move {
            let _ = stop.wait_for(|stopped| *stopped).await;
        };
        dashboard::serve(listener, state, shutdown)
            .await
            .context("serving the dashboard")
    }))
}

async fn alerts_command(config: &Config, command: AlertsCommand) -> Result<ExitCode> {
    let store = open_store(config, &config.database_url()).await?;
    match command {
        AlertsCommand::List => alerts_list(config, &store).await,
        AlertsCommand::Test { rule } => alerts_test(config, &rule).await,
        AlertsCommand::Evaluate { at } => {
            let now_ms = match at {
                Some(text) => chrono::DateTime::parse_from_rfc3339(&text)
                    .with_context(|| {
                        format!("--at {text:?}: expected RFC 3339, e.g. 2025-12-20T10:00:00Z")
                    })?
                    .timestamp_millis(),
                None => chrono::Utc::now().timestamp_millis(),
            };
            let client = crate::alerts::http_client();
            let cycle = crate::alerts::cycle(&store, &config.alerts, &client, now_ms).await?;
            outln!(
                "{} new notifications{}; delivered {}, retrying {}, failed {}",
                cycle.notifications,
                cycle
                    .report
                    .map(|month| format!(" (report {month} written)"))
                    .unwrap_or_default(),
                cycle.delivered.sent,
                cycle.delivered.retrying,
                cycle.delivered.failed
            );
            Ok(if cycle.delivered.failed > 0 {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            })
        }
    }
}

async fn alerts_list(config: &Config, store: &Store) -> Result<ExitCode> {
    if config.alerts.rules.is_empty() {
        outln!("No alert rules are configured ([[alerts.rules]]).");
        return Ok(ExitCode::SUCCESS);
    }
    let states = store.alert_states().await?;
    outln!(
        "{:<24} {:<18} {:<10} {:<9} {:<10} {:<14}  {}",
        "rule",
        "kind",
        "state",
        "severity",
        "period",
        "threshold",
        "now / instance"
    );
    for rule in &config.alerts.rules {
        let mine: Vec<_> = states
            .iter()
            .filter(|state| state.rule == rule.name)
            .collect();
        if mine.is_empty() {
            outln!(
                "{:<24} {:<18} {:<10} {:<9} {:<10} {:<14}  {}",
                rule.name,
                rule.kind.as_str(),
                "inactive",
                "",
                "",
                "",
                "never triggered"
            );
        }
        for state in mine {
            let instance = if state.instance.is_empty() {
                String::new()
            } else {
                format!(" [{}]", state.instance)
            };
            outln!(
                "{:<24} {:<18} {:<10} {:<9} {:<10} {:<14}  {}{}",
                rule.name,
                rule.kind.as_str(),
                state.state,
                state.severity,
                state.period,
                format!("{:.6}", state.threshold),
                state.shown,
                instance
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn alerts_test(config: &Config, rule_name: &str) -> Result<ExitCode> {
    let Some(rule) = config.alerts.rule(rule_name) else {
        let known: Vec<&str> = config
            .alerts
            .rules
            .iter()
            .map(|rule| rule.name.as_str())
            .collect();
        bail!(
            "no rule is named {rule_name:?}; configured rules: {}",
            known.join(", ")
        );
    };
    let client = crate::alerts::http_client();
    let event = crate::store::alerts::AlertEvent {
        id: 0,
        alert_key: format!("{}|test", rule.name),
        rule: rule.name.clone(),
        kind: rule.kind.as_str().to_string(),
        instance: String::new(),
        severity: "info".into(),
        period: "test".into(),
        notice: "test".into(),
        value: None,
        threshold: None,
        shown: "a test notification from tierwatch alerts test".into(),
        link: config.alerts.dashboard_url.clone().unwrap_or_default(),
        at_ms: chrono::Utc::now().timestamp_millis(),
    };
    let mut failed = false;
    for name in &rule.channels {
        let Some(channel) = config.alerts.channel(name) else {
            continue;
        };
        match crate::alerts::channels::send(&client, channel, &event, &[]).await {
            Ok(()) => outln!("{name}: sent"),
            Err(error) => {
                failed = true;
                outln!("{name}: FAILED: {error}");
            }
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Waits for SIGINT (Ctrl-C) or SIGTERM.
async fn wait_for_shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = interrupt => {},
                    _ = terminate.recv() => {},
                }
            }
            Err(_) => {
                let _ = interrupt.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}

async fn poll_once(config: &Config) -> Result<ExitCode> {
    let shared = daemon_shared(config).await?;
    let results = daemon::poll_once(config, shared).await?;
    let mut failed = false;
    for result in &results {
        match &result.outcome {
            Ok(Some(summary)) => outln!("{} {}: {}", result.source, result.kind, summary.detail),
            Ok(None) => outln!(
                "{} {}: skipped, another tierwatch polls this source",
                result.source,
                result.kind
            ),
            Err(error) => {
                failed = true;
                outln!("{} {}: FAILED: {error}", result.source, result.kind);
            }
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

async fn status(config: &Config) -> Result<ExitCode> {
    let store = open_store(config, &config.database_url()).await?;
    let rows = store.source_health().await?;
    if rows.is_empty() {
        outln!(
            "No source has been polled yet (configured sources: {}).",
            config.sources.len()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let now = chrono::Utc::now().timestamp_millis();
    outln!(
        "{:<20} {:<8} {:>12} {:>10} {:>8} {:>9} {:>9}  {}",
        "source",
        "kind",
        "last success",
        "lag",
        "items",
        "api calls",
        "failures",
        "replica / last error"
    );
    for row in &rows {
        let ago = |at: Option<i64>| {
            at.map_or_else(
                || "never".to_string(),
                |at| format!("{} ago", crate::dashboard::format::age((now - at) / 1000)),
            )
        };
        let lag = row.lag_ms.map_or_else(
            || "-".to_string(),
            |lag| crate::dashboard::format::age(lag / 1000),
        );
        let note = row.last_error.as_deref().unwrap_or(&row.daemon_id);
        outln!(
            "{:<20} {:<8} {:>12} {:>10} {:>8} {:>9} {:>9}  {}",
            row.source,
            row.kind,
            ago(row.last_success_ms),
            lag,
            row.items_last_cycle,
            row.api_calls_last_cycle,
            row.consecutive_failures,
            note
        );
    }
    let day_ago_s = now / 1000 - 86_400;
    print_headroom(&store, day_ago_s, now / 1000 + 60).await?;
    print_coverage(&store, day_ago_s, now / 1000 + 3_600).await?;
    let failing = rows.iter().filter(|row| row.last_error.is_some()).count();
    Ok(if failing > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Quota headroom over the last day, one line per matched on-demand quota.
async fn print_headroom(store: &Store, start_s: i64, end_s: i64) -> Result<()> {
    let rows = crate::headroom::headroom(store, start_s, end_s).await?;
    if rows.is_empty() {
        return Ok(());
    }
    outln!("");
    outln!("Quota headroom, last 24 h (on-demand quotas are shared by all tiers of a model):");
    outln!(
        "{:<14} {:<12} {:<36} {:<4} {:>14} {:>14} {:>7}  {}",
        "account",
        "region",
        "model",
        "kind",
        "quota",
        "peak minute",
        "used",
        "measured by"
    );
    for row in &rows {
        let quota = &row.quota;
        let kind = if quota.quota_kind == "tokens_per_minute" {
            "TPM"
        } else {
            "RPM"
        };
        let (peak, used, by) = match (&row.peak, row.utilization()) {
            (Some(peak), Some(used)) => (
                format!("{:.0}", peak.usage),
                format!("{:.1}%", used * 100.0),
                peak.measured_by,
            ),
            _ => ("-".into(), "-".into(), "no usage seen"),
        };
        outln!(
            "{:<14} {:<12} {:<36} {:<4} {:>14.0} {:>14} {:>7}  {}",
            quota.account_id,
            quota.region,
            quota.model_id.as_deref().unwrap_or("?"),
            kind,
            quota.value,
            peak,
            used,
            by
        );
    }
    Ok(())
}

/// Hours of the last day where logs and metrics disagree, grouped by model, tier and status.
async fn print_coverage(store: &Store, start_s: i64, end_s: i64) -> Result<()> {
    let rows = store.read_coverage(start_s, end_s).await?;
    if rows.is_empty() {
        return Ok(());
    }
    // (region, model, tier, status) → (hours, log tokens, metric tokens).
    type GapKey = (String, String, String, String);
    let mut gaps: std::collections::BTreeMap<GapKey, (u32, i64, i64)> = Default::default();
    for row in rows.iter().filter(|row| row.status != "ok") {
        let entry = gaps
            .entry((
                row.region.clone(),
                row.model_id.clone(),
                row.tier.clone(),
                row.status.clone(),
            ))
            .or_default();
        entry.0 += 1;
        entry.1 += row.log_tokens;
        entry.2 += row.metric_tokens.unwrap_or(0);
    }
    outln!("");
    if gaps.is_empty() {
        outln!(
            "Coverage, last 24 h: logs match CloudWatch metrics in all {} model-tier-hours checked.",
            rows.len()
        );
        return Ok(());
    }
    outln!("Coverage gaps, last 24 h (tokens seen in invocation logs against CloudWatch metrics):");
    outln!(
        "{:<12} {:<36} {:<9} {:<16} {:>6} {:>14} {:>14}",
        "region",
        "model",
        "tier",
        "status",
        "hours",
        "log tokens",
        "metric tokens"
    );
    for ((region, model, tier, status), (hours, log_tokens, metric_tokens)) in &gaps {
        let tier = if tier.is_empty() { "all" } else { tier };
        outln!(
            "{region:<12} {model:<36} {tier:<9} {status:<16} {hours:>6} {log_tokens:>14} {metric_tokens:>14}"
        );
    }
    Ok(())
}

async fn migrate(config: &Config) -> Result<ExitCode> {
    let store = open_store(config, &config.database_url()).await?;
    outln!("Database schema is up to date ({}).", store.backend_name());
    Ok(ExitCode::SUCCESS)
}

async fn check_config(config: &Config, connect: bool) -> Result<ExitCode> {
    let file = config.file.as_ref().map_or_else(
        || "none (defaults and environment)".into(),
        |f| f.display().to_string(),
    );
    outln!("config file:     {file}");
    outln!("database:        {}", redacted_url(&config.database_url()));
    outln!("pricing table:   {}", describe_pricing(config));
    outln!(
        "tier from requestMetadata key: {:?}",
        config.ingest.tier_metadata_key
    );
    outln!("batch size:      {}", config.ingest.batch_size);
    outln!(
        "cost by caller:  identity.arn and requestMetadata keys {:?}",
        config.ingest.caller_metadata_keys
    );
    outln!(
        "dashboard:       http://{}/ ({})",
        config.server.listen,
        if config.server.auth_token.is_some() {
            "auth token required"
        } else {
            "loopback, no auth"
        }
    );
    let alerts = &config.alerts;
    outln!(
        "alert rules:     {} ({}), channels: {}",
        alerts.rules.len(),
        alerts
            .rules
            .iter()
            .map(|rule| format!("{} = {}", rule.name, rule.kind.as_str()))
            .collect::<Vec<_>>()
            .join(", "),
        alerts
            .channels
            .iter()
            .map(|channel| channel.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    if let Some(reports) = &alerts.reports {
        outln!(
            "monthly report:  day {} from {:02}:00 UTC, to {} and {:?}",
            reports.day,
            reports.hour,
            reports.dir.display(),
            reports.channels
        );
    }
    outln!(
        "application inference profiles mapped: {}",
        config.ingest.application_profiles.len()
    );
    let prices = match load_prices(config) {
        Ok(prices) => prices,
        Err(error) => {
            eprintln!("Invalid price table:\n{error:#}");
            return Ok(ExitCode::from(EXIT_BAD_CONFIG));
        }
    };
    outln!("priced models:   {}", prices.models().count());
    outln!("sources:         {}", config.sources.len());
    for source in &config.sources {
        let mut reads = Vec::new();
        if let Some(group) = &source.log_group {
            reads.push(format!("logs from {group}"));
        }
        if source.metrics {
            reads.push("metrics".to_string());
        }
        if source.quotas {
            reads.push("quotas".to_string());
        }
        let via = match (&source.role_arn, &source.endpoint_url) {
            (Some(role), _) => format!(" as {role}"),
            (None, Some(url)) => format!(" via {url}"),
            (None, None) => String::new(),
        };
        outln!(
            "  {} ({}{via}): {}",
            source.name,
            source.region,
            reads.join(", ")
        );
    }
    if connect {
        let store = open_store(config, &config.database_url()).await?;
        outln!(
            "database:        reachable, schema up to date ({})",
            store.backend_name()
        );
    }
    outln!("OK");
    Ok(ExitCode::SUCCESS)
}

fn redacted_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            match url[scheme_end + 3..at].split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// The month before the current one (UTC).
fn last_month() -> Month {
    Month::containing(chrono::Utc::now().timestamp_millis()).map_or(
        Month {
            year: 2025,
            month: 11,
        },
        Month::previous,
    )
}

fn month_spec(month: Month, records: u64, seed: u64) -> SimulationSpec {
    SimulationSpec::month(month.year, month.month, records, seed)
}

fn simulate(spec: SimulationSpec, out: &Path, layout: &S3LayoutOptions) -> Result<ExitCode> {
    let simulator = Simulator::new(&spec).context("invalid simulation settings")?;
    let summary = write_s3_layout(simulator, out, layout)
        .with_context(|| format!("writing simulated logs under {}", out.display()))?;
    outln!(
        "Wrote {} records in {} files under {} ({:.1} MB, {:.1} MB gzipped).",
        summary.records,
        summary.files,
        out.display(),
        summary.uncompressed_bytes as f64 / 1e6,
        summary.compressed_bytes as f64 / 1e6
    );
    Ok(ExitCode::SUCCESS)
}

/// Removes a directory when dropped, so the demo leaves no temporary files behind.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What `tierwatch demo` was asked for.
struct DemoSettings {
    seed: u64,
    month: Option<Month>,
    records: u64,
    format: Format,
    serve: bool,
    live_rate: f64,
}

async fn demo(config: &Config, settings: DemoSettings) -> Result<ExitCode> {
    if settings.records == 0 {
        bail!("--records must be at least 1");
    }
    if !(0.0..=10_000.0).contains(&settings.live_rate) {
        bail!("--live-rate must be between 0 and 10000 records per second");
    }
    let database = config.database.data_dir.join("demo.sqlite");
    remove_sqlite_files(&database)?;
    let logs = TempDir(std::env::temp_dir().join(format!("tierwatch-demo-{}", std::process::id())));
    let _ = std::fs::remove_dir_all(&logs.0);

    // A given month is simulated whole; otherwise last month and this month up to now, so
    // the dashboard has today, a month to date and a forecast to show.
    let report_month = settings.month.unwrap_or_else(last_month);
    let mut spec = month_spec(report_month, settings.records, settings.seed);
    if settings.month.is_none() {
        spec.end_ms = chrono::Utc::now().timestamp_millis();
    }
    // One region: the shipped table prices us-east-1, and a demo that is half unpriced tells
    // a newcomer little. Unpriced lines still show (models and cache rates with no price).
    spec.regions = vec!["us-east-1".to_string()];
    eprintln!(
        "Generating {} Bedrock invocation log records from {report_month} (seed {})…",
        settings.records, settings.seed
    );
    let written = write_s3_layout(
        Simulator::new(&spec).context("invalid simulation settings")?,
        &logs.0,
        &S3LayoutOptions::default(),
    )
    .context("writing the simulated logs")?;
    eprintln!(
        "Importing {} S3-layout .json.gz files into {}…",
        written.files,
        database.display()
    );
    let store = open_store(config, &format!("sqlite://{}", database.display())).await?;
    let options = Arc::new(config.parse_options());
    let prices = Arc::new(load_prices(config)?);
    let import_settings = ImportSettings {
        options: Arc::clone(&options),
        prices: Arc::clone(&prices),
        batch_size: config.ingest.batch_size,
        progress: true,
    };
    let summary =
        ingest::import_paths(&store, std::slice::from_ref(&logs.0), import_settings).await?;
    eprint!("{summary}");
    eprintln!();
    let report = report::build(&store, report_month).await?;
    write_output(&report.render(settings.format), None)?;
    eprintln!(
        "\nThe demo database is {}; try: tierwatch --database-url sqlite://{} report --month {report_month} --format csv",
        database.display(),
        database.display()
    );
    if !settings.serve {
        return Ok(ExitCode::SUCCESS);
    }
    let (stopper, stop) = tokio::sync::watch::channel(false);
    let http = start_dashboard(config, store.clone(), stop.clone()).await?;
    let live = crate::demo::LiveTraffic {
        store,
        options,
        prices,
        seed: settings.seed.wrapping_mul(1_000_003),
        rate: settings.live_rate,
        tick: std::time::Duration::from_secs(2),
        regions: spec.regions.clone(),
    };
    let traffic = tokio::spawn(live.run(stop));
    eprintln!(
        "Adding {} simulated calls per second; Ctrl-C stops.",
        settings.live_rate
    );
    wait_for_shutdown_signal().await;
    let _ = stopper.send(true);
    let added = traffic.await.unwrap_or(0);
    http.await.context("the dashboard task panicked")??;
    eprintln!("Stopped after adding {added} live calls.");
    Ok(ExitCode::SUCCESS)
}

/// Deletes a SQLite database and its WAL files, so the demo starts from nothing.
fn remove_sqlite_files(database: &Path) -> Result<()> {
    for suffix in ["", "-wal", "-shm"] {
        let mut name = database.as_os_str().to_owned();
        name.push(suffix);
        match std::fs::remove_file(&name) {
            Ok(()) => {}
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => {
                return Err(error).with_context(|| {
                    format!("removing the old demo database {}", database.display())
                });
            }
        }
    }
    Ok(())
}
