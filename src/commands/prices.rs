//! `tierwatch prices …`: sync the price table from the AWS Price List, import Price List
//! files, and list the table in effect.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Subcommand;

use super::{load_prices, open_configured_store, outln};
use crate::config::Config;
use crate::prices::{self, VersionReport};
use crate::pricing::amount::Usd;
use crate::pricing::catalog::CatalogPrice;

#[derive(Debug, Subcommand)]
pub enum PricesCommand {
    /// Read every Bedrock product of the AWS Price List (Pricing API GetProducts) and
    /// Bedrock's model list of each source region, and store them as a new version of the
    /// price table. Prints what changed and which stored months `reprice` should recompute.
    Sync {
        /// List every added row, not only the count.
        #[arg(long)]
        verbose: bool,
    },
    /// The same as `sync`, from Price List files on disk: bulk offer files (the JSON the
    /// bulk API serves) or saved GetProducts answers. Works without AWS access.
    Import {
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// Service code of product documents that do not name theirs (e.g. AmazonBedrock).
        #[arg(long, value_name = "CODE")]
        service_code: Option<String>,
        /// List every added row, not only the count.
        #[arg(long)]
        verbose: bool,
    },
    /// Show the price table in effect: region × model × tier × routing, the rates per token
    /// type (USD per 1M tokens), the date each applies from, and where it comes from.
    List {
        /// Only rows of this model id (or a part of it).
        #[arg(long, value_name = "MODEL")]
        model: Option<String>,
        /// Only rows of this region.
        #[arg(long, value_name = "REGION")]
        region: Option<String>,
    },
}

pub async fn run(config: &Config, command: PricesCommand) -> Result<ExitCode> {
    let store = open_configured_store(config).await?;
    match command {
        PricesCommand::Sync { verbose } => {
            let report = prices::sync(&store, config)
                .await
                .context("syncing prices from the AWS Price List")?;
            print_report(&report, verbose);
        }
        PricesCommand::Import {
            files,
            service_code,
            verbose,
        } => {
            let report =
                prices::import_files(&store, &config.pricing, &files, service_code.as_deref())
                    .await
                    .context("importing Price List files")?;
            print_report(&report, verbose);
        }
        PricesCommand::List { model, region } => {
            let loaded = load_prices(config, &store).await?;
            outln!("Prices: {}", loaded.describe());
            outln!(
                "USD per 1M tokens; \"-\" = no rate: tokens of that type are unpriced, never $0."
            );
            print_table(&loaded.table, model.as_deref(), region.as_deref());
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_table(table: &crate::pricing::PriceTable, model: Option<&str>, region: Option<&str>) {
    outln!(
        "{:<15} {:<45} {:<9} {:<8} {:<10} {:>9} {:>9} {:>10} {:>11}  source",
        "region",
        "model",
        "tier",
        "routing",
        "from",
        "input",
        "output",
        "cache read",
        "cache write"
    );
    let rate = |micros: Option<i64>| micros.map_or_else(|| "-".to_string(), |m| Usd(m).to_string());
    let shown = table.prices().into_iter().filter(|price| {
        model.is_none_or(|model| price.model_id.contains(model))
            && region.is_none_or(|region| price.region == region)
    });
    for price in shown {
        let source = [price.source.as_deref(), price.derivation.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join("; ");
        outln!(
            "{:<15} {:<45} {:<9} {:<8} {:<10} {:>9} {:>9} {:>10} {:>11}  {}",
            price.region,
            price.model_id,
            price.tier.as_str(),
            price.routing.as_str(),
            price.effective_from.format("%Y-%m-%d"),
            rate(price.rates.input),
            rate(price.rates.output),
            rate(price.rates.cache_read),
            rate(price.rates.cache_write),
            source
        );
    }
}

/// One row as "us-east-1 amazon.nova-pro-v1:0 flex regional input 0.4 from 2025-11-18".
fn describe(price: &CatalogPrice) -> String {
    format!(
        "{} {} from {} ({})",
        price.key,
        Usd(price.rate_micros),
        price.effective_from,
        price.provenance.usage_type
    )
}

fn print_report(report: &VersionReport, verbose: bool) {
    outln!(
        "Price List version #{} ({}: {}): {} products, {} price rows mapped to models.",
        report.version_id,
        report.origin,
        report.detail,
        report.products,
        report.rows_seen
    );
    outln!(
        "added {}, changed {}, unchanged {}, no longer listed {} (kept for older calls)",
        report.added.len(),
        report.changed.len(),
        report.unchanged,
        report.no_longer_listed
    );
    if verbose {
        for price in &report.added {
            outln!("  added    {}", describe(price));
        }
    }
    for changed in &report.changed {
        let before = changed
            .before
            .as_ref()
            .map(|before| format!("{} from {}", Usd(before.rate_micros), before.effective_from))
            .unwrap_or_else(|| "no rate".into());
        outln!("  changed  {} (was {before})", describe(&changed.after));
    }
    if !report.unmapped.is_empty() {
        let rows: usize = report.unmapped.iter().map(|name| name.rows).sum();
        outln!(
            "unmapped: {} names ({rows} rows) could not be matched to a model id; their prices are not used:",
            report.unmapped.len()
        );
        for name in &report.unmapped {
            outln!(
                "  {} {} ({} rows): {}",
                name.region,
                name.names,
                name.rows,
                name.reason
            );
        }
    }
    if !report.conflicts.is_empty() {
        outln!("conflicts: {}", report.conflicts.len());
        for conflict in &report.conflicts {
            let rates = conflict
                .rates
                .iter()
                .map(|(rate, from)| format!("{} by {from}", Usd(*rate)))
                .collect::<Vec<_>>()
                .join(" vs ");
            outln!(
                "  {} from {}: {rates}: {}",
                conflict.key,
                conflict.effective_from,
                conflict.resolution
            );
        }
    }
    if report.mantle_twins > 0 {
        outln!(
            "{} OpenAI-compatible (mantle) rows agreed with their runtime twins and were folded into them.",
            report.mantle_twins
        );
    }
    if !report.skipped.is_empty() {
        let counts = report
            .skipped
            .iter()
            .map(|(kind, count)| format!("{kind} {count}"))
            .collect::<Vec<_>>()
            .join(", ");
        outln!("not on-demand token prices (skipped): {counts}");
    }
    if let Some(profiles) = &report.profiles {
        outln!(
            "application inference profiles: {} resolved to their foundation model",
            profiles.resolved
        );
        for (arn, why) in &profiles.unresolved {
            outln!("  unresolved {arn}: {why}");
        }
    }
    if report.affected_months.is_empty() {
        outln!("No stored month has calls these changes price.");
    } else {
        outln!(
            "Stored months these changes price: {}. Apply with: {}",
            report.affected_months.join(", "),
            report
                .affected_months
                .iter()
                .map(|month| format!("tierwatch reprice --month {month}"))
                .collect::<Vec<_>>()
                .join("; ")
        );
    }
}
