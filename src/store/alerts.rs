//! Alert states, their notification history and the delivery outbox (migration 0007).
//!
//! A state change, the event it notifies and one pending delivery per channel commit in one
//! transaction: a crash either keeps all of them or none, so an alert never fires twice
//! (the stored state already says firing) and a notification is never lost (its delivery
//! stays pending until a channel accepts it).

/// One alert's stored state.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow, serde::Serialize)]
pub struct StoredAlert {
    /// `rule|instance|threshold|period`.
    pub alert_key: String,
    pub rule: String,
    pub instance: String,
    pub threshold: f64,
    pub severity: String,
    pub period: String,
    /// inactive, pending, firing, resolved.
    pub state: String,
    pub since_ms: i64,
    pub last_notified_ms: Option<i64>,
    pub value: Option<f64>,
    pub shown: String,
    pub link: String,
    pub updated_ms: i64,
}

/// A notification to record, with the channels to deliver it to.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub alert_key: String,
    pub rule: String,
    /// The rule's kind (`priority_spend`, ...), or `report` / `test`.
    pub kind: String,
    pub instance: String,
    pub severity: String,
    pub period: String,
    /// firing, repeat, resolved, test, report.
    pub notice: String,
    pub value: Option<f64>,
    pub threshold: Option<f64>,
    pub shown: String,
    pub link: String,
    pub at_ms: i64,
    pub channels: Vec<String>,
}

/// A recorded notification.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow, serde::Serialize)]
pub struct AlertEvent {
    pub id: i64,
    pub alert_key: String,
    pub rule: String,
    pub kind: String,
    pub instance: String,
    pub severity: String,
    pub period: String,
    pub notice: String,
    pub value: Option<f64>,
    pub threshold: Option<f64>,
    pub shown: String,
    pub link: String,
    pub at_ms: i64,
}

/// A notification's delivery to one channel.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, serde::Serialize)]
pub struct Delivery {
    pub event_id: i64,
    pub channel: String,
    /// pending, sent, failed.
    pub status: String,
    pub attempts: i64,
    pub next_attempt_ms: i64,
    pub last_error: Option<String>,
    pub sent_ms: Option<i64>,
}

/// How a delivery attempt went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryOutcome {
    Sent {
        at_ms: i64,
    },
    /// Try again at `next_attempt_ms`.
    Retry {
        error: String,
        next_attempt_ms: i64,
    },
    /// Given up after the last attempt.
    Failed {
        error: String,
    },
}

pub(super) const UPSERT_STATE: &str = "INSERT INTO alert_states (alert_key, rule, instance, \
    threshold, severity, period, state, since_ms, last_notified_ms, value, shown, link, \
    updated_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
    ON CONFLICT (alert_key) DO UPDATE SET state = excluded.state, since_ms = excluded.since_ms, \
    last_notified_ms = excluded.last_notified_ms, value = excluded.value, \
    shown = excluded.shown, link = excluded.link, updated_ms = excluded.updated_ms";

pub(super) const INSERT_EVENT: &str = "INSERT INTO alert_events (alert_key, rule, kind, \
    instance, severity, period, notice, value, threshold, shown, link, at_ms) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id";

pub(super) const INSERT_DELIVERY: &str = "INSERT INTO alert_deliveries (event_id, channel, \
    status, attempts, next_attempt_ms) VALUES ($1, $2, 'pending', 0, $3) \
    ON CONFLICT (event_id, channel) DO NOTHING";

pub(super) const INSERT_REPORT_RUN: &str = "INSERT INTO report_runs (month, written_ms, files) VALUES ($1, $2, $3) \
     ON CONFLICT (month) DO NOTHING";

const EVENT_COLUMNS: &str = "e.id, e.alert_key, e.rule, e.kind, e.instance, e.severity, \
    e.period, e.notice, e.value, e.threshold, e.shown, e.link, e.at_ms";

/// Alert reads and writes on one backend; `alert_tx_statements!` runs inside a transaction.
macro_rules! alert_reads {
    () => {
        pub(super) async fn alert_states(&self) -> Result<Vec<alerts::StoredAlert>> {
            sqlx::query_as("SELECT * FROM alert_states ORDER BY rule, alert_key")
                .fetch_all(&self.pool)
                .await
                .context("reading alert states")
        }

        pub(super) async fn recent_alert_events(
            &self,
            limit: i64,
        ) -> Result<Vec<alerts::AlertEvent>> {
            sqlx::query_as(AssertSqlSafe(format!(
                "SELECT {} FROM alert_events e ORDER BY e.id DESC LIMIT $1",
                alerts::event_columns()
            )))
            .bind(limit)
            .fetch_all(&self.pool)
            .await
            .context("reading alert history")
        }

        pub(super) async fn deliveries_of(&self, from_id: i64) -> Result<Vec<alerts::Delivery>> {
            sqlx::query_as(
                "SELECT event_id, channel, status, CAST(attempts AS BIGINT) AS attempts, \
                 next_attempt_ms, last_error, sent_ms FROM alert_deliveries \
                 WHERE event_id >= $1 ORDER BY event_id, channel",
            )
            .bind(from_id)
            .fetch_all(&self.pool)
            .await
            .context("reading deliveries")
        }

        pub(super) async fn due_deliveries(
            &self,
            now_ms: i64,
            limit: i64,
        ) -> Result<Vec<(alerts::Delivery, alerts::AlertEvent)>> {
            let deliveries: Vec<alerts::Delivery> = sqlx::query_as(
                "SELECT event_id, channel, status, CAST(attempts AS BIGINT) AS attempts, \
                 next_attempt_ms, last_error, sent_ms FROM alert_deliveries \
                 WHERE status = 'pending' AND next_attempt_ms <= $1 \
                 ORDER BY event_id, channel LIMIT $2",
            )
            .bind(now_ms)
            .bind(limit)
            .fetch_all(&self.pool)
            .await
            .context("reading due deliveries")?;
            if deliveries.is_empty() {
                return Ok(Vec::new());
            }
            // Their notifications in one read (not one per delivery).
            let events: Vec<alerts::AlertEvent> = sqlx::query_as(AssertSqlSafe(format!(
                "SELECT {} FROM alert_events e WHERE e.id IN (SELECT event_id \
                 FROM alert_deliveries WHERE status = 'pending' AND next_attempt_ms <= $1)",
                alerts::event_columns()
            )))
            .bind(now_ms)
            .fetch_all(&self.pool)
            .await
            .context("reading notifications")?;
            let by_id: std::collections::HashMap<i64, alerts::AlertEvent> =
                events.into_iter().map(|event| (event.id, event)).collect();
            deliveries
                .into_iter()
                .map(|delivery| {
                    let event = by_id.get(&delivery.event_id).cloned().ok_or_else(|| {
                        StoreError::Inconsistent(format!(
                            "delivery of notification {} has no notification",
                            delivery.event_id
                        ))
                    })?;
                    Ok((delivery, event))
                })
                .collect()
        }

        pub(super) async fn record_delivery(
            &self,
            event_id: i64,
            channel: &str,
            outcome: &alerts::DeliveryOutcome,
        ) -> Result<()> {
            let (status, error, next, sent) = match outcome {
                alerts::DeliveryOutcome::Sent { at_ms } => ("sent", None, None, Some(*at_ms)),
                alerts::DeliveryOutcome::Retry {
                    error,
                    next_attempt_ms,
                } => (
                    "pending",
                    Some(error.as_str()),
                    Some(*next_attempt_ms),
                    None,
                ),
                alerts::DeliveryOutcome::Failed { error } => {
                    ("failed", Some(error.as_str()), None, None)
                }
            };
            sqlx::query(
                "UPDATE alert_deliveries SET status = $3, attempts = attempts + 1, \
                 last_error = $4, next_attempt_ms = COALESCE($5, next_attempt_ms), \
                 sent_ms = $6 WHERE event_id = $1 AND channel = $2",
            )
            .bind(event_id)
            .bind(channel)
            .bind(status)
            .bind(error)
            .bind(next)
            .bind(sent)
            .execute(&self.pool)
            .await
            .context("recording a delivery")?;
            Ok(())
        }

        pub(super) async fn report_run(&self, month: &str) -> Result<Option<i64>> {
            sqlx::query_scalar("SELECT written_ms FROM report_runs WHERE month = $1")
                .bind(month)
                .fetch_optional(&self.pool)
                .await
                .context("reading report runs")
        }
    };
}
pub(super) use alert_reads;

pub(super) fn event_columns() -> &'static str {
    EVENT_COLUMNS
}

/// Alert writes inside a write transaction (`self.tx`).
macro_rules! alert_tx_statements {
    () => {
        async fn upsert_alert_states(&mut self, states: &[alerts::StoredAlert]) -> Result<()> {
            for state in states {
                sqlx::query(alerts::UPSERT_STATE)
                    .bind(&state.alert_key)
                    .bind(&state.rule)
                    .bind(&state.instance)
                    .bind(state.threshold)
                    .bind(&state.severity)
                    .bind(&state.period)
                    .bind(&state.state)
                    .bind(state.since_ms)
                    .bind(state.last_notified_ms)
                    .bind(state.value)
                    .bind(&state.shown)
                    .bind(&state.link)
                    .bind(state.updated_ms)
                    .execute(&mut *self.tx)
                    .await
                    .context("saving an alert state")?;
            }
            Ok(())
        }

        async fn insert_alert_events(&mut self, events: &[alerts::NewEvent]) -> Result<Vec<i64>> {
            let mut ids = Vec::with_capacity(events.len());
            for event in events {
                let id: i64 = sqlx::query_scalar(alerts::INSERT_EVENT)
                    .bind(&event.alert_key)
                    .bind(&event.rule)
                    .bind(&event.kind)
                    .bind(&event.instance)
                    .bind(&event.severity)
                    .bind(&event.period)
                    .bind(&event.notice)
                    .bind(event.value)
                    .bind(event.threshold)
                    .bind(&event.shown)
                    .bind(&event.link)
                    .bind(event.at_ms)
                    .fetch_one(&mut *self.tx)
                    .await
                    .context("recording a notification")?;
                for channel in &event.channels {
                    sqlx::query(alerts::INSERT_DELIVERY)
                        .bind(id)
                        .bind(channel)
                        .bind(event.at_ms)
                        .execute(&mut *self.tx)
                        .await
                        .context("queueing a delivery")?;
                }
                ids.push(id);
            }
            Ok(ids)
        }

        async fn insert_report_run(
            &mut self,
            month: &str,
            files: &str,
            now_ms: i64,
        ) -> Result<bool> {
            let result = sqlx::query(alerts::INSERT_REPORT_RUN)
                .bind(month)
                .bind(now_ms)
                .bind(files)
                .execute(&mut *self.tx)
                .await
                .context("recording a report run")?;
            Ok(result.rows_affected() == 1)
        }
    };
}
pub(super) use alert_tx_statements;
