//! The commands of the CLI, one module per command group. Each turns its arguments into calls
//! of the library and prints the result; the work itself lives in the library.
//!
//! This is an edge of the program, so errors are `anyhow` with context.

pub mod admin;
pub mod alerts;
pub mod demo;
pub mod discover;
pub mod import;
pub mod prices;
pub mod report;
pub mod serve;
pub mod status;

use std::io::Write as _;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};

use crate::cli::{Cli, Command};
use crate::config::{Config, ProcessEnvironment};
use crate::prices::LoadedPrices;
use crate::rollup::CallerDimensions;
use crate::store::Store;

/// Writes to stdout; a closed pipe (`tierwatch … | head`) ends output quietly instead of
/// panicking like `print!` does.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::commands::write_stdout(&format!($($arg)*))
    };
}
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::commands::write_stdout(&(format!($($arg)*) + "\n"))
    };
}
pub(crate) use {out, outln};

pub(crate) fn write_stdout(text: &str) {
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

/// Exit code when the configuration is invalid.
pub(crate) const EXIT_BAD_CONFIG: u8 = 2;

/// Exit code from the command's success flag.
pub(crate) fn exit_code(ok: bool) -> ExitCode {
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Loads the configuration, then runs the chosen command.
pub async fn run(cli: Cli) -> Result<ExitCode> {
    // Discovery writes the config file a new user does not have yet: it loads the file
    // itself, and only with --write.
    if let Command::Discover(args) = &cli.command {
        return discover::run(cli.config.as_deref(), args).await;
    }
    let config = match load_config(&cli) {
        Ok(config) => config,
        Err(errors) => {
            eprintln!("Invalid configuration:\n{errors}");
            return Ok(ExitCode::from(EXIT_BAD_CONFIG));
        }
    };
    match cli.command {
        Command::Import(args) => import::run(&config, args).await,
        Command::Report(args) => report::report(&config, args).await,
        Command::Reprice(args) => report::reprice(&config, args).await,
        Command::Migrate => admin::migrate(&config).await,
        Command::Retention => admin::retention(&config).await,
        Command::CheckConfig { connect } => admin::check_config(&config, connect).await,
        Command::Serve | Command::Poll { once: false } => serve::serve(&config).await,
        Command::Poll { once: true } => serve::poll_once(&config).await,
        Command::Status => status::run(&config).await,
        Command::Alerts { command } => alerts::run(&config, command).await,
        Command::Prices { command } => prices::run(&config, command).await,
        Command::Demo(args) => demo::demo(&config, args).await,
        Command::Simulate(args) => demo::simulate(args),
        // Handled above; answered the same way should that ever change.
        Command::Discover(args) => discover::run(cli.config.as_deref(), &args).await,
    }
}

fn load_config(cli: &Cli) -> Result<Config, crate::config::ConfigErrors> {
    let mut config = Config::load(cli.config.as_deref(), &ProcessEnvironment)?;
    if let Some(url) = &cli.database_url {
        config.database.url = Some(url.clone());
    }
    Ok(config)
}

/// Opens the database at `url` and brings its schema up to date.
pub(crate) async fn open_store(config: &Config, url: &str) -> Result<Store> {
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

/// Opens the configured database.
pub(crate) async fn open_configured_store(config: &Config) -> Result<Store> {
    open_store(config, &config.database_url()).await
}

/// The price table in effect (stored or built-in Price List, with the user's table over it).
pub(crate) async fn load_prices(config: &Config, store: &Store) -> Result<LoadedPrices> {
    crate::prices::load(&config.pricing, store)
        .await
        .context("loading the price table")
}

/// Writes `text` to `out`, or to standard output.
pub(crate) fn write_output(text: &str, out: Option<&Path>) -> Result<()> {
    match out {
        Some(path) => std::fs::write(path, text)
            .with_context(|| format!("writing the report to {}", path.display())),
        None => {
            write_stdout(text);
            Ok(())
        }
    }
}

/// Waits for SIGINT (Ctrl-C) or SIGTERM.
pub(crate) async fn wait_for_shutdown_signal() {
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

/// Drops the fine cells (minute cells of series, hour cells of callers) older than
/// `retention.minute_cells` at `now_ms`; returns the first day kept.
pub(crate) async fn drop_old_fine_cells(
    store: &Store,
    retention: &crate::config::RetentionConfig,
    now_ms: i64,
) -> Result<i64> {
    let from_s = retention.minute_cells_from(now_ms);
    let deleted = store
        .drop_fine_cells(from_s)
        .await
        .context("dropping fine cells past retention.minute_cells")?;
    if deleted > 0 {
        tracing::info!(
            deleted,
            from = %crate::dashboard::scope::rfc3339(from_s),
            "dropped minute cells of series and hour cells of callers past \
             retention.minute_cells (the other cells kept)"
        );
    }
    Ok(from_s)
}
