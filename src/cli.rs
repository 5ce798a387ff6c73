//! Command-line definitions (clap): the global flags and the list of commands. Each command
//! group's own arguments sit beside the code that runs it, in `commands`.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::commands::alerts::AlertsCommand;
use crate::commands::demo::{DemoArgs, SimulateArgs};
use crate::commands::discover::DiscoverArgs;
use crate::commands::import::ImportArgs;
use crate::commands::prices::PricesCommand;
use crate::commands::report::{ReportArgs, RepriceArgs};

/// tierwatch: what Amazon Bedrock costs per model and service tier.
#[derive(Debug, Parser)]
#[command(name = "tierwatch", version, about, long_about = None)]
pub struct Cli {
    /// Config file (TOML). Default: config/tierwatch.toml when it exists.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Database URL (postgres://… or sqlite://PATH); overrides the config file and
    /// TIERWATCH_DATABASE_URL. Default: the embedded SQLite file in the data directory.
    #[arg(long, global = true, value_name = "URL")]
    pub database_url: Option<String>,

    /// Log filter for messages on stderr (e.g. info, debug, tierwatch=debug).
    #[arg(long, global = true, default_value = "warn", value_name = "FILTER")]
    pub log: String,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Import Bedrock model-invocation logs from files and directories (.json, .jsonl,
    /// .json.gz; S3 delivery layout or CloudWatch exports). Safe to re-run: records already
    /// stored are counted once.
    Import(ImportArgs),
    /// Run the daemon: poll every configured source (CloudWatch Logs, …) on its schedule
    /// until SIGINT or SIGTERM, then finish the batch in flight and exit.
    Serve,
    /// Poll the configured sources: with --once, one cycle of every source, then exit (for
    /// cron and tests); without it, the same as `serve`.
    Poll {
        #[arg(long)]
        once: bool,
    },
    /// Show how the daemon's sources are doing: last poll, lag, items and API calls per cycle,
    /// errors.
    Status,
    /// Alert rules: their states, a test notification, one evaluation.
    Alerts {
        #[command(subcommand)]
        command: AlertsCommand,
    },
    /// The price table: sync it from the AWS Price List, import Price List files, list it.
    Prices {
        #[command(subcommand)]
        command: PricesCommand,
    },
    /// Print the tier cost report of a month (UTC).
    Report(ReportArgs),
    /// Recompute the stored costs of a month with the current price table.
    Reprice(RepriceArgs),
    /// Ask Bedrock where each region's invocation logs go (CloudWatch Logs, S3, both or
    /// nowhere) and print the `[[sources]]` entries that read them, or add them to the config
    /// file with --write. Warns where logging or text delivery is off.
    Discover(DiscoverArgs),
    /// Create or update the database schema.
    Migrate,
    /// Drop the raw invocations of months older than `retention.raw_invocations` now (`serve`
    /// does it daily). Rollups, and so reports and the dashboard, keep them.
    Retention,
    /// Validate the config file, environment and price table, and explain every problem.
    CheckConfig {
        /// Also open the database.
        #[arg(long)]
        connect: bool,
    },
    /// Generate realistic Bedrock traffic (last month and this month so far), import it into
    /// a fresh embedded SQLite database through the real parser, print last month's report,
    /// then serve the dashboard while adding live simulated traffic, until Ctrl-C. Needs no
    /// AWS and no database.
    Demo(DemoArgs),
    /// Write generated Bedrock invocation logs as S3 delivery files (.json.gz), for tests and
    /// benchmarks.
    Simulate(SimulateArgs),
}
