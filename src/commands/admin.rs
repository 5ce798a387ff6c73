//! `tierwatch migrate` and `tierwatch check-config`: the schema, and what the configuration,
//! environment and price table say (with every problem explained).

use std::process::ExitCode;

use anyhow::Result;

use super::{EXIT_BAD_CONFIG, open_configured_store, outln};
use crate::config::Config;
use chrono::Datelike;

use crate::model::TokenKind;
use crate::prices::{self, LoadedPrices};
use crate::pricing::amount::Usd;

pub async fn migrate(config: &Config) -> Result<ExitCode> {
    let store = open_configured_store(config).await?;
    outln!("Database schema is up to date ({}).", store.backend_name());
    Ok(ExitCode::SUCCESS)
}

/// `tierwatch retention`: drops the fine cells and raw invocations retention no longer keeps.
pub async fn retention(config: &Config) -> Result<ExitCode> {
    let store = open_configured_store(config).await?;
    let now_ms = crate::store::now_ms();
    let minutes_from = super::drop_old_fine_cells(&store, &config.retention, now_ms).await?;
    outln!(
        "Minute cells of series and hour cells of callers are kept from {} \
         (retention.minute_cells); the other cells are kept forever.",
        day_text(minutes_from * 1000)
    );
    let Some(kept_from) = config.retention.raw_kept_from(now_ms) else {
        outln!(
            "Raw invocations are kept forever (retention.raw_invocations is not set; e.g. \
             \"90d\" under [retention] drops older months)."
        );
        return Ok(ExitCode::SUCCESS);
    };
    let dropped = store.drop_raw_invocations(kept_from).await?;
    let from = day_text(kept_from);
    if dropped.months.is_empty() {
        outln!("Raw invocations are kept from {from}; nothing older was stored.");
    } else {
        outln!(
            "Raw invocations are kept from {from}: dropped {} invocations ({}). Their rollups \
             are kept, and {} price groups to reprice their days.",
            dropped.invocations,
            dropped.months.join(", "),
            dropped.price_groups
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// A millisecond timestamp as its UTC day, `YYYY-MM-DD`.
fn day_text(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map_or_else(
        || ms.to_string(),
        |time| time.format("%Y-%m-%d").to_string(),
    )
}

pub async fn check_config(config: &Config, connect: bool) -> Result<ExitCode> {
    let file = config.file.as_ref().map_or_else(
        || "none (defaults and environment)".into(),
        |f| f.display().to_string(),
    );
    outln!("config file:     {file}");
    outln!("database:        {}", redacted_url(&config.database_url()));
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
    // The stored Price List needs the database; without --connect the built-in one stands in.
    let store = if connect {
        Some(open_configured_store(config).await?)
    } else {
        None
    };
    let loaded = match &store {
        Some(store) => prices::load(&config.pricing, store).await,
        None => prices::load_builtin(&config.pricing),
    };
    let prices = match loaded {
        Ok(prices) => prices,
        Err(error) => {
            eprintln!("Invalid price table:\n{error:#}");
            return Ok(ExitCode::from(EXIT_BAD_CONFIG));
        }
    };
    print_pricing(config, &prices, connect);
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
    if let Some(store) = &store {
        outln!(
            "database:        reachable, schema up to date ({})",
            store.backend_name()
        );
    }
    outln!("OK");
    Ok(ExitCode::SUCCESS)
}

fn print_pricing(config: &Config, prices: &LoadedPrices, connect: bool) {
    let note = if connect {
        ""
    } else {
        " (without --connect; a synced one in the database would replace it)"
    };
    outln!("prices:          {}{note}", prices.describe());
    outln!("priced models:   {}", prices.table.models().count());
    let pricing = &config.pricing;
    if pricing.sync {
        outln!(
            "price sync:      every {} from the Pricing API in {}{}",
            crate::dashboard::format::age(
                i64::try_from(pricing.sync_interval.as_secs()).unwrap_or(i64::MAX)
            ),
            pricing.api_region,
            pricing
                .endpoint_url
                .as_deref()
                .map(|url| format!(" via {url}"))
                .unwrap_or_default()
        );
    } else {
        outln!("price sync:      off (`tierwatch prices sync` by hand, or [pricing] sync = true)");
    }
    print_reservations(config, prices);
    if prices.overrides.is_empty() {
        return;
    }
    let differing: Vec<_> = prices.overrides.iter().filter(|o| o.differs()).collect();
    outln!(
        "pricing.toml overrides the AWS Price List for {} region × model × tier × routing keys; {} with other rates:",
        prices.overrides.len(),
        differing.len()
    );
    for over in differing {
        let rates = TokenKind::ALL
            .iter()
            .filter(|kind| over.user.get(**kind) != over.list.get(**kind))
            .map(|kind| {
                let rate = |micros: Option<i64>| {
                    micros.map_or_else(|| "none".to_string(), |m| Usd(m).to_string())
                };
                format!(
                    "{} {} (Price List {})",
                    kind.as_str(),
                    rate(over.user.get(*kind)),
                    rate(over.list.get(*kind))
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        outln!(
            "  {} {} {} {}: {rates}",
            over.region,
            over.model_id,
            over.tier,
            over.routing
        );
    }
}

/// Each reservation, with what its fixed monthly price comes from.
fn print_reservations(config: &Config, prices: &LoadedPrices) {
    for reservation in &config.pricing.reservations {
        let month_start = reservation.start.with_day(1).unwrap_or(reservation.start);
        let days = reservation.days_in(month_start).max(1);
        let cost =
            match crate::reservations::fixed_cost(reservation, &prices.list, month_start, days) {
                crate::reservations::FixedCost::Known { pico, basis } => {
                    format!(
                        "${} for {days} days of {} ({basis})",
                        Usd(i64::try_from(pico / 1_000_000).unwrap_or(i64::MAX)),
                        month_start.format("%Y-%m")
                    )
                }
                crate::reservations::FixedCost::Unknown { reason } => {
                    format!("fixed price UNKNOWN: {reason}")
                }
            };
        outln!(
            "reservation:     {} = {} in {}{}, {} input + {} output TPM, {} month term {} to {}; {cost}",
            reservation.name,
            reservation.model_id,
            reservation.region,
            reservation
                .account
                .as_deref()
                .map(|account| format!(" (account {account})"))
                .unwrap_or_default(),
            reservation.input_tpm,
            reservation.output_tpm,
            reservation.term_months,
            reservation.start,
            reservation.end
        );
    }
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
