//! `tierwatch import`: invocation-log files and directories into the database.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Args;

use super::{exit_code, load_prices, open_configured_store, out};
use crate::config::Config;
use crate::ingest::{self, ImportSettings};

/// Imports of at least this many new invocations refresh the planner's statistics.
const BULK_IMPORT: u64 = 100_000;

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Files or directories (walked recursively).
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Don't draw a progress bar (it is only drawn on a terminal anyway).
    #[arg(long)]
    pub no_progress: bool,
}

pub async fn run(config: &Config, args: ImportArgs) -> Result<ExitCode> {
    let store = open_configured_store(config).await?;
    // A backfill of old months then writes no minute cells that retention would drop.
    super::drop_old_fine_cells(&store, &config.retention, crate::store::now_ms()).await?;
    let prices = Arc::new(load_prices(config, &store).await?.table);
    let settings = ImportSettings {
        options: Arc::new(crate::prices::parse_options(config, &store).await?),
        prices,
        batch_size: config.ingest.batch_size,
        progress: !args.no_progress,
    };
    let summary = ingest::import_paths(&store, &args.paths, settings).await?;
    if summary.imported >= BULK_IMPORT {
        // Plans for dashboard reads depend on table statistics; a bulk load changes them.
        store
            .refresh_statistics()
            .await
            .context("refreshing the database's statistics after the import")?;
    }
    out!("{summary}");
    Ok(exit_code(!summary.failed()))
}
