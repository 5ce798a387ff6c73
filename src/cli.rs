//! Command-line definitions (clap). Only parsing lives here; `app` runs the commands.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::report::{Format, Month};

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
    Import {
        /// Files or directories (walked recursively).
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
        /// Don't draw a progress bar (it is only drawn on a terminal anyway).
        #[arg(long)]
        no_progress: bool,
    },
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
    /// Print the tier cost report of a month (UTC).
    Report {
        /// The month, as YYYY-MM.
        #[arg(long, value_name = "YYYY-MM")]
        month: Month,
        #[arg(long, value_enum, default_value = "csv")]
        format: Format,
        /// Write to this file instead of standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Recompute the stored costs of a month with the current price table.
    Reprice {
        #[arg(long, value_name = "YYYY-MM")]
        month: Month,
    },
    /// Create or update the database schema.
    Migrate,
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
    Demo {
        /// Seed of the generator: the same seed gives the same traffic and report.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Simulate only this month (and report it). Default: last month and this month so far.
        #[arg(long, value_name = "YYYY-MM")]
        month: Option<Month>,
        /// Log lines to generate (including a few bad and duplicate ones).
        #[arg(long, default_value_t = 40_000)]
        records: u64,
        #[arg(long, value_enum, default_value = "markdown")]
        format: Format,
        /// Print the report and exit instead of serving the dashboard.
        #[arg(long)]
        no_serve: bool,
        /// Live simulated records per second while the dashboard runs.
        #[arg(long, default_value_t = 5.0)]
        live_rate: f64,
    },
    /// Write generated Bedrock invocation logs as S3 delivery files (.json.gz), for tests and
    /// benchmarks.
    Simulate {
        /// Directory to write into (created if missing).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Month to simulate. Default: last month.
        #[arg(long, value_name = "YYYY-MM")]
        month: Option<Month>,
        #[arg(long, default_value_t = 100_000)]
        records: u64,
        /// Spread the records over only the first DAYS days of the month (denser traffic).
        #[arg(long, value_name = "DAYS")]
        days: Option<u32>,
        /// Records per .json.gz file.
        #[arg(long, default_value_t = 1_000)]
        records_per_file: usize,
        /// Share of malformed lines (0 to 1).
        #[arg(long, default_value_t = 0.01)]
        bad_rate: f64,
        /// Share of repeated lines (0 to 1).
        #[arg(long, default_value_t = 0.005)]
        duplicate_rate: f64,
        /// gzip level (0 to 9).
        #[arg(long, default_value_t = 6)]
        gzip_level: u32,
    },
}

#[derive(Debug, Subcommand)]
pub enum AlertsCommand {
    /// Show every rule and the state of each of its alerts.
    List,
    /// Send a test notification through every channel of RULE and report each result.
    Test {
        /// The rule's name.
        rule: String,
    },
    /// Evaluate every rule once, run the report schedule and send what is due, then exit
    /// (for cron, and to replay a moment with --at).
    Evaluate {
        /// Evaluate as of this time (RFC 3339, e.g. 2025-12-20T10:00:00Z). Default: now.
        #[arg(long, value_name = "TIME")]
        at: Option<String>,
    },
}
