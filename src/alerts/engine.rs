//! One evaluation of every rule: measure, step each alert's lifecycle, and save the changed
//! states with the notifications they call for in one transaction.

use std::collections::{HashMap, HashSet};

use crate::config::{AlertsConfig, RuleConfig, Threshold};
use crate::store::alerts::{NewEvent, StoredAlert};
use crate::store::{Result, Store};

use super::lifecycle::{AlertState, Notice, Observation, State, Timing, step};
use super::measure::{Measurement, breaches, direction, measure, threshold_value};

/// What an evaluation changed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Evaluation {
    pub states: Vec<StoredAlert>,
    pub events: Vec<NewEvent>,
}

/// The identity of one alert: rule × instance × threshold × period.
pub fn alert_key(rule: &str, instance: &str, threshold: &Threshold, period: &str) -> String {
    format!("{rule}|{instance}|{}|{period}", threshold.at)
}

/// Evaluates every rule at `now_ms` and saves what changed; returns the notifications'
/// ids. Run by one replica at a time (the alerts leader).
pub async fn evaluate_and_save(
    store: &Store,
    config: &AlertsConfig,
    now_ms: i64,
) -> Result<Vec<i64>> {
    let stored: HashMap<String, StoredAlert> = store
        .alert_states()
        .await?
        .into_iter()
        .map(|state| (state.alert_key.clone(), state))
        .collect();
    let mut evaluation = Evaluation::default();
    for rule in &config.rules {
        let measurements = measure(store, rule, now_ms / 1000).await?;
        let changes = evaluate_rule(rule, &measurements, &stored, now_ms, config);
        evaluation.states.extend(changes.states);
        evaluation.events.extend(changes.events);
    }
    store
        .apply_alert_changes(&evaluation.states, &evaluation.events)
        .await
}

/// Steps every alert of one rule. Pure, so the lifecycle can be tested without a database.
pub fn evaluate_rule(
    rule: &RuleConfig,
    measurements: &[Measurement],
    stored: &HashMap<String, StoredAlert>,
    now_ms: i64,
    config: &AlertsConfig,
) -> Evaluation {
    let timing = Timing {
        for_ms: rule.for_duration.as_millis() as i64,
        repeat_ms: rule.repeat.map(|repeat| repeat.as_millis() as i64),
    };
    let mut evaluation = Evaluation::default();
    let mut seen = HashSet::new();
    let direction = direction(rule);
    for measurement in measurements {
        for threshold in &rule.thresholds {
            let key = alert_key(
                &rule.name,
                &measurement.instance,
                threshold,
                &measurement.period,
            );
            seen.insert(key.clone());
            let limit = threshold_value(rule, threshold.at);
            let observed = match measurement.value {
                None => Observation::NoData,
                Some(value) if breaches(direction, value, limit) => Observation::Breached,
                Some(_) => Observation::Clear,
            };
            let previous = stored.get(&key);
            let current = previous.map_or(AlertState::NEW, as_state);
            let (next, notice) = step(current, observed, timing, now_ms);
            if previous.is_none() && next.state == State::Inactive {
                continue; // nothing to remember about an alert that never started
            }
            let record = StoredAlert {
                alert_key: key,
                rule: rule.name.clone(),
                instance: measurement.instance.clone(),
                threshold: limit,
                severity: threshold.severity.clone(),
                period: measurement.period.clone(),
                state: next.state.as_str().to_string(),
                since_ms: next.since_ms,
                last_notified_ms: next.last_notified_ms,
                value: measurement.value,
                shown: measurement.shown.clone(),
                link: full_link(config, &measurement.link),
                updated_ms: now_ms,
            };
            let changed = next != current
                || previous.is_some_and(|previous| {
                    matches!(next.state, State::Pending | State::Firing)
                        && previous.value != measurement.value
                });
            if let Some(notice) = notice {
                evaluation.events.push(event(rule, &record, notice, now_ms));
            }
            if changed {
                evaluation.states.push(record);
            }
        }
    }
    // Alerts of this rule not measured now: an ended period resolves them; an instance that
    // went away (no data) holds its state.
    let mut unmeasured: Vec<&StoredAlert> = stored
        .values()
        .filter(|state| state.rule == rule.name && !seen.contains(&state.alert_key))
        .collect();
    // In key order, so notifications come out in the same order every time.
    unmeasured.sort_by(|a, b| a.alert_key.cmp(&b.alert_key));
    for previous in unmeasured {
        let current = as_state(previous);
        if !matches!(current.state, State::Pending | State::Firing) {
            continue;
        }
        let period_over = previous.period != "rolling"
            && !measurements
                .iter()
                .any(|measurement| measurement.period == previous.period);
        let observed = if period_over {
            Observation::PeriodEnded
        } else {
            Observation::NoData
        };
        let (next, notice) = step(current, observed, timing, now_ms);
        if next == current {
            continue;
        }
        let record = StoredAlert {
            state: next.state.as_str().to_string(),
            since_ms: next.since_ms,
            last_notified_ms: next.last_notified_ms,
            shown: if period_over {
                format!("{} (period {} ended)", previous.shown, previous.period)
            } else {
                previous.shown.clone()
            },
            updated_ms: now_ms,
            ..previous.clone()
        };
        if let Some(notice) = notice {
            evaluation.events.push(event(rule, &record, notice, now_ms));
        }
        evaluation.states.push(record);
    }
    evaluation
}

fn as_state(stored: &StoredAlert) -> AlertState {
    AlertState {
        state: State::from_stored(&stored.state).unwrap_or(State::Inactive),
        since_ms: stored.since_ms,
        last_notified_ms: stored.last_notified_ms,
    }
}

fn full_link(config: &AlertsConfig, link: &str) -> String {
    match &config.dashboard_url {
        Some(base) => format!("{base}{link}"),
        None => link.to_string(),
    }
}

fn event(rule: &RuleConfig, alert: &StoredAlert, notice: Notice, now_ms: i64) -> NewEvent {
    NewEvent {
        alert_key: alert.alert_key.clone(),
        rule: rule.name.clone(),
        kind: rule.kind.as_str().to_string(),
        instance: alert.instance.clone(),
        severity: alert.severity.clone(),
        period: alert.period.clone(),
        notice: notice.as_str().to_string(),
        value: alert.value,
        threshold: Some(alert.threshold),
        shown: alert.shown.clone(),
        link: alert.link.clone(),
        at_ms: now_ms,
        channels: rule.channels.clone(),
    }
}
