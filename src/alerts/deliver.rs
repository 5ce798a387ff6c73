//! The delivery outbox: sends pending notifications, each channel on its own task so one
//! failing or slow channel never holds up the others, and retries failures with growing,
//! jittered delays until `alerts.max_attempts`.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::config::AlertsConfig;
use crate::store::alerts::{AlertEvent, Delivery, DeliveryOutcome};
use crate::store::{Result, Store};

use super::channels::{self, ReportFile};

/// Most deliveries handled per round.
const BATCH: i64 = 200;

/// Longest wait between attempts.
const MAX_DELAY: Duration = Duration::from_secs(3_600);

/// What a round of deliveries did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Round {
    pub sent: u32,
    pub retrying: u32,
    pub failed: u32,
}

/// Sends every due delivery once.
pub async fn deliver_due(
    store: &Store,
    config: &AlertsConfig,
    client: &reqwest::Client,
    now_ms: i64,
) -> Result<Round> {
    let due = store.due_deliveries(now_ms, BATCH).await?;
    let mut by_channel: BTreeMap<String, Vec<(Delivery, AlertEvent)>> = BTreeMap::new();
    for (delivery, event) in due {
        by_channel
            .entry(delivery.channel.clone())
            .or_default()
            .push((delivery, event));
    }
    let mut tasks = tokio::task::JoinSet::new();
    for (channel, deliveries) in by_channel {
        let store = store.clone();
        let config = config.clone();
        let client = client.clone();
        tasks.spawn(async move {
            let mut round = Round::default();
            for (delivery, event) in deliveries {
                let outcome =
                    attempt(&config, &client, &channel, &delivery, &event, now_ms).await;
                match &outcome {
                    DeliveryOutcome::Sent { .. } => round.sent += 1,
                    DeliveryOutcome::Retry { error, .. } => {
                        tracing::warn!(channel, event = event.id, %error, "delivery failed; will retry");
                        round.retrying += 1;
                    }
                    DeliveryOutcome::Failed { error } => {
                        tracing::error!(channel, event = event.id, %error, "delivery failed for good");
                        round.failed += 1;
                    }
                }
                store.record_delivery(event.id, &channel, &outcome).await?;
            }
            Ok::<Round, crate::store::StoreError>(round)
        });
    }
    let mut total = Round::default();
    while let Some(joined) = tasks.join_next().await {
        let round = match joined {
            Ok(round) => round?,
            Err(error) => {
                tracing::error!(%error, "a delivery task panicked");
                continue;
            }
        };
        total.sent += round.sent;
        total.retrying += round.retrying;
        total.failed += round.failed;
    }
    Ok(total)
}

/// One attempt of one delivery; a retry is scheduled relative to `now_ms` (the cycle's
/// clock, so a replayed evaluation retries on its own timeline).
async fn attempt(
    config: &AlertsConfig,
    client: &reqwest::Client,
    channel_name: &str,
    delivery: &Delivery,
    event: &AlertEvent,
    now_ms: i64,
) -> DeliveryOutcome {
    let Some(channel) = config.channel(channel_name) else {
        return DeliveryOutcome::Failed {
            error: format!("no channel is named {channel_name:?} in the configuration any more"),
        };
    };
    let attachments = report_attachments(config, event);
    match channels::send(client, channel, event, &attachments).await {
        Ok(()) => DeliveryOutcome::Sent { at_ms: now_ms },
        Err(error) => {
            let attempts = u32::try_from(delivery.attempts)
                .unwrap_or(u32::MAX)
                .saturating_add(1);
            if error.is_permanent() || attempts >= config.max_attempts {
                DeliveryOutcome::Failed {
                    error: error.to_string(),
                }
            } else {
                let delay = retry_delay(config.retry_after, attempts);
                DeliveryOutcome::Retry {
                    error: error.to_string(),
                    next_attempt_ms: now_ms + delay.as_millis() as i64,
                }
            }
        }
    }
}

/// `base × 2^(attempts − 1)`, at most an hour, ±20 % so retries of many deliveries spread.
pub fn retry_delay(base: Duration, attempts: u32) -> Duration {
    let doubled = base.saturating_mul(2u32.saturating_pow(attempts.saturating_sub(1).min(20)));
    let capped = doubled.min(MAX_DELAY);
    let jitter = 0.8 + rand::random::<f64>() * 0.4;
    capped.mul_f64(jitter)
}

/// A scheduled report's files, attached to its email.
fn report_attachments(config: &AlertsConfig, event: &AlertEvent) -> Vec<ReportFile> {
    if event.notice != "report" {
        return Vec::new();
    }
    let Some(schedule) = &config.reports else {
        return Vec::new();
    };
    [("csv", "text/csv"), ("json", "application/json")]
        .into_iter()
        .filter_map(|(ext, content_type)| {
            let name = format!("tierwatch-{}.{ext}", event.period);
            let body = std::fs::read(schedule.dir.join(&name)).ok()?;
            Some(ReportFile {
                name,
                content_type,
                body,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delays_double_with_jitter_and_stop_at_an_hour() {
        let base = Duration::from_secs(30);
        for (attempts, expected) in [(1, 30.0), (2, 60.0), (3, 120.0)] {
            let delay = retry_delay(base, attempts).as_secs_f64();
            assert!(
                (expected * 0.8..=expected * 1.2).contains(&delay),
                "{attempts}: {delay}"
            );
        }
        assert!(retry_delay(base, 40) <= MAX_DELAY.mul_f64(1.2));
    }
}
