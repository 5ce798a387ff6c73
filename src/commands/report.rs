//! `tierwatch report` and `tierwatch reprice`: a month's tier cost report, and recomputing a
//! month's stored costs after the prices changed.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;

use super::{load_prices, open_configured_store, outln, write_output};
use crate::config::Config;
use std::sync::Arc;

use crate::ingest::{self, PricingContext};
use crate::report::{self, Format, Month};
use crate::store::RepricePath;

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The month, as YYYY-MM.
    #[arg(long, value_name = "YYYY-MM")]
    pub month: Month,
    #[arg(long, value_enum, default_value = "csv")]
    pub format: Format,
    /// Write to this file instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RepriceArgs {
    /// The month, as YYYY-MM.
    #[arg(long, value_name = "YYYY-MM")]
    pub month: Month,
    /// Rebuild the month's rollups from its invocations, every call decided on its own:
    /// after changing `ingest.caller_metadata_keys`, so caller cells get the new keys.
    #[arg(long)]
    pub rebuild: bool,
}

pub async fn report(config: &Config, args: ReportArgs) -> Result<ExitCode> {
    let store = open_configured_store(config).await?;
    let report = report::build_for(&store, args.month, &config.pricing).await?;
    if report.rows.is_empty() {
        eprintln!("note: no invocations are stored for {}", args.month);
    }
    write_output(&report.render(args.format), args.out.as_deref())?;
    Ok(ExitCode::SUCCESS)
}

pub async fn reprice(config: &Config, args: RepriceArgs) -> Result<ExitCode> {
    let month = args.month;
    let store = open_configured_store(config).await?;
    let prices = load_prices(config, &store).await?;
    let described = prices.describe();
    let context = PricingContext {
        options: Arc::new(crate::prices::parse_options(config, &store).await?),
        prices: Arc::new(prices.table),
    };
    let range = (month.start_ms(), month.end_ms());
    let outcome = ingest::reprice(&store, &context, range, args.rebuild).await?;
    let rollups = match outcome.path {
        RepricePath::ByPriceGroup {
            groups,
            changed_groups,
        } => format!(
            "decided per price group ({groups} groups, {changed_groups} changed), rollups updated"
        ),
        RepricePath::PerCall => "decided per call, rollups rebuilt".to_string(),
        RepricePath::FromKeptGroups { groups, day_cells } => format!(
            "raw calls dropped by retention: decided per kept price group ({groups} groups), \
             {day_cells} day cells and the unpriced causes updated (hour, minute and caller \
             cells keep their earlier costs)"
        ),
    };
    outln!(
        "Repriced {} invocations of {month} with {}: {} changed; {rollups}.",
        outcome.invocations,
        described,
        outcome.changed
    );
    Ok(ExitCode::SUCCESS)
}
