//! `tierwatch demo` and `tierwatch simulate`: realistic generated traffic, imported and shown
//! (demo) or written as S3-delivery files (simulate).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::Args;

use super::serve::start_dashboard;
use super::{load_prices, open_store, outln, wait_for_shutdown_signal, write_output};
use crate::config::Config;
use crate::ingest::{self, ImportSettings};
use crate::report::{self, Format, Month};
use crate::simulate::{S3LayoutOptions, SimulationSpec, Simulator, write_s3_layout};

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Seed of the generator: the same seed gives the same traffic and report.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Simulate only this month (and report it). Default: last month and this month so far.
    #[arg(long, value_name = "YYYY-MM")]
    pub month: Option<Month>,
    /// Log lines to generate (including a few bad and duplicate ones).
    #[arg(long, default_value_t = 40_000)]
    pub records: u64,
    #[arg(long, value_enum, default_value = "markdown")]
    pub format: Format,
    /// Print the report and exit instead of serving the dashboard.
    #[arg(long)]
    pub no_serve: bool,
    /// Live simulated records per second while the dashboard runs.
    #[arg(long, default_value_t = 5.0)]
    pub live_rate: f64,
}

#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Directory to write into (created if missing).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Month to simulate. Default: last month.
    #[arg(long, value_name = "YYYY-MM")]
    pub month: Option<Month>,
    #[arg(long, default_value_t = 100_000)]
    pub records: u64,
    /// Spread the records over only the first DAYS days of the month (denser traffic).
    #[arg(long, value_name = "DAYS")]
    pub days: Option<u32>,
    /// Records per .json.gz file.
    #[arg(long, default_value_t = 1_000)]
    pub records_per_file: usize,
    /// Share of malformed lines (0 to 1).
    #[arg(long, default_value_t = 0.01)]
    pub bad_rate: f64,
    /// Share of repeated lines (0 to 1).
    #[arg(long, default_value_t = 0.005)]
    pub duplicate_rate: f64,
    /// gzip level (0 to 9).
    #[arg(long, default_value_t = 6)]
    pub gzip_level: u32,
}

pub fn simulate(args: SimulateArgs) -> Result<ExitCode> {
    let mut spec = month_spec(
        args.month.unwrap_or_else(last_month),
        args.records,
        args.seed,
    );
    spec.bad_record_rate = args.bad_rate;
    spec.duplicate_rate = args.duplicate_rate;
    if let Some(days) = args.days {
        let span = i64::from(days.max(1)) * 86_400_000;
        spec.end_ms = spec.end_ms.min(spec.start_ms + span);
    }
    let layout = S3LayoutOptions {
        records_per_file: args.records_per_file,
        gzip_level: args.gzip_level,
        ..S3LayoutOptions::default()
    };
    write_simulation(spec, &args.out, &layout)
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

fn write_simulation(
    spec: SimulationSpec,
    out: &Path,
    layout: &S3LayoutOptions,
) -> Result<ExitCode> {
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

pub async fn demo(config: &Config, settings: DemoArgs) -> Result<ExitCode> {
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
    // One region keeps the demo small; the built-in table prices many more.
    spec.regions = vec!["us-east-1".to_string()];
    eprintln!(
        "Generating {} Bedrock invocation log records from {report_month} (seed {})…",
        settings.records, settings.seed
    );
    let simulator = Simulator::new(&spec).context("invalid simulation settings")?;
    let profiles = simulator.application_profiles();
    let written = write_s3_layout(simulator, &logs.0, &S3LayoutOptions::default())
        .context("writing the simulated logs")?;
    eprintln!(
        "Importing {} S3-layout .json.gz files into {}…",
        written.files,
        database.display()
    );
    let store = open_store(config, &format!("sqlite://{}", database.display())).await?;
    let deliberately_unknown = resolve_demo_profiles(&store, &profiles).await?;
    let demo_config = with_demo_prices(config, &logs.0)?;
    let options = Arc::new(crate::prices::parse_options(&demo_config, &store).await?);
    let prices = Arc::new(load_prices(&demo_config, &store).await?.table);
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
    if let Some(arn) = deliberately_unknown {
        eprintln!(
            "\nUnpriced on purpose: calls through {arn}, an application inference profile \
             Bedrock would not describe (as for a profile your role cannot read)."
        );
    }
    eprintln!(
        "\nThe demo database is {}; try: tierwatch --database-url sqlite://{} report --month {report_month} --format csv",
        database.display(),
        database.display()
    );
    if settings.no_serve {
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

/// The demo's price table (Nova cache assumptions, see the file), laid over the built-in
/// Price List unless the config names a table of its own.
const DEMO_PRICES: &str = include_str!("../../config/demo-pricing.toml");

/// The config with the demo's price table when none is configured (written next to the
/// demo's logs, so it goes when they go).
fn with_demo_prices(config: &Config, dir: &Path) -> Result<Config> {
    let mut config = config.clone();
    if config.pricing.source == crate::config::PricingSource::Builtin {
        std::fs::create_dir_all(dir).context("creating the demo's directory")?;
        let path = dir.join("demo-pricing.toml");
        std::fs::write(&path, DEMO_PRICES).context("writing the demo's price table")?;
        config.pricing.source = crate::config::PricingSource::File(path);
    }
    Ok(config)
}

/// Stores what Bedrock's GetInferenceProfile would answer for the simulated application
/// inference profiles, as `serve` and `prices sync` do for a real account, except for one,
/// left unknown on purpose to show an unpriced call. Returns that one.
async fn resolve_demo_profiles(
    store: &crate::store::Store,
    profiles: &[(String, &'static str)],
) -> Result<Option<String>> {
    let Some(((unknown, _), known)) = profiles.split_last() else {
        return Ok(None);
    };
    let now = chrono::Utc::now().timestamp_millis();
    let stored: Vec<_> = known
        .iter()
        .map(|(arn, model)| crate::store::price_list::StoredProfile {
            arn: arn.clone(),
            model_id: Some((*model).to_string()),
            name: Some("demo".into()),
            detail: format!("demo: as GetInferenceProfile answers, routes to {model}"),
            resolved_ms: now,
        })
        .collect();
    store
        .save_inference_profiles(&stored)
        .await
        .context("storing the demo's application inference profiles")?;
    Ok(Some(unknown.clone()))
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
