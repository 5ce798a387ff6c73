//! `tierwatch prices …`: the price table in effect.

use std::process::ExitCode;

use anyhow::Result;
use clap::Subcommand;

use super::outln;
use crate::config::Config;
use crate::pricing::amount::Usd;
use crate::pricing::{self, PriceTable};

#[derive(Debug, Subcommand)]
pub enum PricesCommand {
    /// Show the price table in effect: region × model × tier × routing, the rates per token
    /// type (USD per 1M tokens), the date each price applies from, and where it comes from.
    List,
}

pub async fn run(config: &Config, command: PricesCommand) -> Result<ExitCode> {
    match command {
        PricesCommand::List => list(config),
    }
}

fn list(config: &Config) -> Result<ExitCode> {
    let table = PriceTable::from_config(&config.pricing)?;
    outln!(
        "Price table: {} (USD per 1M tokens; - = no rate, such tokens are unpriced)",
        pricing::describe_source(&config.pricing)
    );
    outln!(
        "{:<15} {:<45} {:<9} {:<8} {:<10} {:>10} {:>10} {:>10} {:>11}  source",
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
    for price in table.prices() {
        let source = [price.source.as_deref(), price.derivation.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join("; ");
        outln!(
            "{:<15} {:<45} {:<9} {:<8} {:<10} {:>10} {:>10} {:>10} {:>11}  {}",
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
    Ok(ExitCode::SUCCESS)
}
