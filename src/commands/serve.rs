//! `tierwatch serve` and `tierwatch poll`: the daemon (pollers, dashboard, alerts).

use std::process::ExitCode;

use anyhow::{Context, Result};
use tokio::sync::watch;

use super::{exit_code, open_configured_store, outln, wait_for_shutdown_signal};
use crate::config::{Config, RetentionConfig};
use crate::daemon;
use crate::dashboard;
use crate::ingest::PricingContext;
use crate::prices;
use crate::store::Store;

/// The store and the pricing context in effect now.
async fn store_and_context(config: &Config) -> Result<(Store, PricingContext)> {
    let store = open_configured_store(config).await?;
    let context = prices::context(config, &store)
        .await
        .context("loading the price table")?;
    Ok((store, context))
}

pub async fn serve(config: &Config) -> Result<ExitCode> {
    let (store, context) = store_and_context(config).await?;
    let (context_sender, context_receiver) = watch::channel(context);
    let shared = daemon::Shared {
        store,
        context: context_receiver,
        batch_size: config.ingest.batch_size,
    };
    let (stopper, stop) = watch::channel(false);
    tokio::spawn(async move {
        wait_for_shutdown_signal().await;
        tracing::info!("shutting down: finishing the batches in flight");
        let _ = stopper.send(true);
    });
    let http = start_dashboard(config, shared.store.clone(), stop.clone()).await?;
    let prices_task = tokio::spawn(prices::run(
        config.clone(),
        shared.store.clone(),
        context_sender,
        stop.clone(),
    ));
    let retention = tokio::spawn(apply_retention(
        shared.store.clone(),
        config.retention.clone(),
        stop.clone(),
    ));
    let alerts = config.alerts.is_active().then(|| {
        tokio::spawn(crate::alerts::run(
            shared.store.clone(),
            config.alerts.clone(),
            stop.clone(),
        ))
    });
    if config.sources.is_empty() {
        tracing::warn!("no [[sources]] configured: serving the dashboard over stored data only");
        let mut stop = stop;
        let _ = stop.wait_for(|stopped| *stopped).await;
    } else {
        daemon::run(config, shared, stop).await?;
    }
    http.await.context("the dashboard task panicked")??;
    prices_task.await.context("the prices task panicked")?;
    if let Some(alerts) = alerts {
        alerts.await.context("the alerts task panicked")?;
    }
    retention.await.context("the retention task panicked")?;
    Ok(ExitCode::SUCCESS)
}

/// Drops the minute cells and raw invocations `retention` no longer keeps, at start and then
/// daily, until `stop`. Replicas may all do it: the store serializes it, and a second run
/// finds nothing.
async fn apply_retention(
    store: Store,
    retention: RetentionConfig,
    mut stop: watch::Receiver<bool>,
) {
    const DAILY: std::time::Duration = std::time::Duration::from_secs(86_400);
    loop {
        let now_ms = crate::store::now_ms();
        if let Err(error) = super::drop_old_fine_cells(&store, &retention, now_ms).await {
            tracing::warn!(%error, "dropping old fine cells failed; retrying tomorrow");
        }
        if let Some(kept_from) = retention.raw_kept_from(now_ms) {
            match store.drop_raw_invocations(kept_from).await {
                Ok(dropped) if !dropped.months.is_empty() => tracing::info!(
                    invocations = dropped.invocations,
                    price_groups = dropped.price_groups,
                    months = ?dropped.months,
                    "dropped raw invocations past retention.raw_invocations (rollups kept)"
                ),
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(%error, "applying retention failed; retrying tomorrow")
                }
            }
        }
        tokio::select! {
            () = tokio::time::sleep(DAILY) => {}
            _ = stop.wait_for(|stopped| *stopped) => return,
        }
    }
}

/// Binds the dashboard (refusing a non-loopback address without a token) and serves it
/// until `stop` turns true.
pub(crate) async fn start_dashboard(
    config: &Config,
    store: Store,
    mut stop: watch::Receiver<bool>,
) -> Result<tokio::task::JoinHandle<Result<()>>> {
    let token = config.server.auth_token.clone();
    let listener = dashboard::bind(config.server.listen, token.as_deref()).await?;
    let address = listener
        .local_addr()
        .context("reading the dashboard's address")?;
    let state = dashboard::AppState::new(store, token)
        .with_alerts(config.alerts.clone())
        .with_pricing(config.pricing.clone());
    eprintln!("Dashboard: http://{address}/");
    tracing::info!(%address, "serving the dashboard");
    Ok(tokio::spawn(async move {
        let shutdown = async move {
            let _ = stop.wait_for(|stopped| *stopped).await;
        };
        dashboard::serve(listener, state, shutdown)
            .await
            .context("serving the dashboard")
    }))
}

pub async fn poll_once(config: &Config) -> Result<ExitCode> {
    let (store, context) = store_and_context(config).await?;
    let shared = daemon::Shared::fixed(store, context, config.ingest.batch_size);
    let results = daemon::poll_once(config, shared).await?;
    let mut failed = false;
    for result in &results {
        match &result.outcome {
            Ok(Some(summary)) => {
                outln!("{} {}: {}", result.source, result.kind, summary.detail);
                if let Some(problem) = &summary.problem {
                    failed = true;
                    outln!("{} {}: PROBLEM: {problem}", result.source, result.kind);
                }
            }
            Ok(None) => outln!(
                "{} {}: skipped, another tierwatch polls this source",
                result.source,
                result.kind
            ),
            Err(error) => {
                failed = true;
                outln!("{} {}: FAILED: {error}", result.source, result.kind);
            }
        }
    }
    Ok(exit_code(!failed))
}
