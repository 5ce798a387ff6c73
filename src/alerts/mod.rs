//! Alerts and scheduled reports: rules measured on rollups (`measure`), a lifecycle per alert
//! (`lifecycle`, applied by `engine`), notifications queued in the database and sent through
//! channels with retries (`deliver`, `channels`), and monthly reports (`reports`).
//!
//! One replica at a time evaluates and delivers (a Postgres advisory lock, as for sources),
//! and every state change commits with its notification, so alerts fire once per alert and
//! period across restarts and replicas.

pub mod channels;
pub mod deliver;
pub mod engine;
pub mod lifecycle;
pub mod measure;
pub mod reports;

use std::time::Duration;

use tokio::sync::watch;

use crate::config::{AlertsConfig, RuleConfig};
use crate::store::alerts::AlertEvent;
use crate::store::{Result, Store};

/// The lock name replicas compete for (not a valid source name: sources can't clash).
const LEADER_LOCK: &str = "tierwatch:alerts";

/// How often due deliveries (and retries) are sent.
const DELIVERY_TICK: Duration = Duration::from_secs(2);

/// What one cycle did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cycle {
    /// Notifications created by rule changes (and a report).
    pub notifications: usize,
    pub report: Option<String>,
    pub delivered: deliver::Round,
}

/// An HTTP client for webhooks: rustls with the platform's roots, no redirects to follow
/// blindly, bounded time.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("tierwatch/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_else(|_| reqwest::Client::new())
}

/// The result of sending a test notification through one channel of a rule.
#[derive(Debug)]
pub struct TestDelivery {
    pub channel: String,
    pub outcome: std::result::Result<(), channels::SendError>,
}

/// Sends a test notification for `rule` through each of its channels (`tierwatch alerts
/// test`), reporting each result; nothing is recorded in the database.
pub async fn send_test(
    config: &AlertsConfig,
    rule: &RuleConfig,
    client: &reqwest::Client,
    now_ms: i64,
) -> Vec<TestDelivery> {
    let event = AlertEvent {
        id: 0,
        alert_key: format!("{}|test", rule.name),
        rule: rule.name.clone(),
        kind: rule.kind.as_str().to_string(),
        instance: String::new(),
        severity: "info".into(),
        period: "test".into(),
        notice: "test".into(),
        value: None,
        threshold: None,
        shown: "a test notification from tierwatch alerts test".into(),
        link: config.dashboard_url.clone().unwrap_or_default(),
        at_ms: now_ms,
    };
    let mut results = Vec::new();
    for name in &rule.channels {
        let Some(channel) = config.channel(name) else {
            continue;
        };
        results.push(TestDelivery {
            channel: name.clone(),
            outcome: channels::send(client, channel, &event, &[]).await,
        });
    }
    results
}

/// Evaluates every rule, runs the report schedule and sends what is due, at `now_ms`.
pub async fn cycle(
    store: &Store,
    config: &AlertsConfig,
    client: &reqwest::Client,
    now_ms: i64,
) -> Result<Cycle> {
    let notifications = engine::evaluate_and_save(store, config, now_ms).await?;
    let report = reports::run_schedule(store, config, now_ms).await?;
    let delivered = deliver::deliver_due(store, config, client, now_ms).await?;
    Ok(Cycle {
        notifications: notifications.len() + usize::from(report.is_some()),
        report: report.map(|month| month.to_string()),
        delivered,
    })
}

/// Runs alerts until `stop`: rules every `alerts.interval`, deliveries every few seconds,
/// while this replica holds the alerts lock.
pub async fn run(store: Store, config: AlertsConfig, mut stop: watch::Receiver<bool>) {
    let client = http_client();
    let mut leadership = store.leadership();
    let mut next_evaluation = tokio::time::Instant::now();
    loop {
        let leading = match leadership.lead(LEADER_LOCK).await {
            Ok(leading) => leading,
            Err(error) => {
                tracing::warn!(%error, "alerts: cannot take the alerts lock");
                false
            }
        };
        if leading {
            let now_ms = chrono::Utc::now().timestamp_millis();
            let result = if tokio::time::Instant::now() >= next_evaluation {
                next_evaluation += config.interval;
                cycle(&store, &config, &client, now_ms).await.map(Some)
            } else {
                deliver::deliver_due(&store, &config, &client, now_ms)
                    .await
                    .map(|_| None)
            };
            match result {
                Ok(Some(cycle)) if cycle.notifications > 0 => {
                    tracing::info!(?cycle, "alerts evaluated");
                }
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "alerts: a cycle failed; retrying"),
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(DELIVERY_TICK) => {}
            _ = stop.wait_for(|stopped| *stopped) => break,
        }
    }
    leadership.release_all().await;
}
