//! `tierwatch alerts …`: rule states, a test notification, one evaluation.

use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Subcommand;

use super::{exit_code, open_configured_store, outln};
use crate::config::Config;
use crate::store::Store;

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

pub async fn run(config: &Config, command: AlertsCommand) -> Result<ExitCode> {
    let store = open_configured_store(config).await?;
    match command {
        AlertsCommand::List => list(config, &store).await,
        AlertsCommand::Test { rule } => test(config, &rule).await,
        AlertsCommand::Evaluate { at } => evaluate(config, &store, at.as_deref()).await,
    }
}

async fn evaluate(config: &Config, store: &Store, at: Option<&str>) -> Result<ExitCode> {
    let now_ms = match at {
        Some(text) => chrono::DateTime::parse_from_rfc3339(text)
            .with_context(|| {
                format!("--at {text:?}: expected RFC 3339, e.g. 2025-12-20T10:00:00Z")
            })?
            .timestamp_millis(),
        None => chrono::Utc::now().timestamp_millis(),
    };
    let client = crate::alerts::http_client();
    let cycle = crate::alerts::cycle(store, &config.alerts, &client, now_ms).await?;
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
    Ok(exit_code(cycle.delivered.failed == 0))
}

async fn list(config: &Config, store: &Store) -> Result<ExitCode> {
    if config.alerts.rules.is_empty() {
        outln!("No alert rules are configured ([[alerts.rules]]).");
        return Ok(ExitCode::SUCCESS);
    }
    let states = store.alert_states().await?;
    let line = |cells: [&str; 7]| {
        outln!(
            "{:<24} {:<18} {:<10} {:<9} {:<10} {:<14}  {}",
            cells[0],
            cells[1],
            cells[2],
            cells[3],
            cells[4],
            cells[5],
            cells[6]
        )
    };
    line([
        "rule",
        "kind",
        "state",
        "severity",
        "period",
        "threshold",
        "now / instance",
    ]);
    for rule in &config.alerts.rules {
        let kind = rule.kind.as_str();
        let mine: Vec<_> = states
            .iter()
            .filter(|state| state.rule == rule.name)
            .collect();
        if mine.is_empty() {
            line([&rule.name, kind, "inactive", "", "", "", "never triggered"]);
        }
        for state in mine {
            let instance = if state.instance.is_empty() {
                String::new()
            } else {
                format!(" [{}]", state.instance)
            };
            line([
                &rule.name,
                kind,
                &state.state,
                &state.severity,
                &state.period,
                &format!("{:.6}", state.threshold),
                &format!("{}{instance}", state.shown),
            ]);
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn test(config: &Config, rule_name: &str) -> Result<ExitCode> {
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
    let now_ms = chrono::Utc::now().timestamp_millis();
    let results = crate::alerts::send_test(&config.alerts, rule, &client, now_ms).await;
    for result in &results {
        match &result.outcome {
            Ok(()) => outln!("{}: sent", result.channel),
            Err(error) => outln!("{}: FAILED: {error}", result.channel),
        }
    }
    Ok(exit_code(
        results.iter().all(|result| result.outcome.is_ok()),
    ))
}
