//! The life of one alert: inactive → pending (the condition must hold for `for`) → firing →
//! resolved, with a repeat while firing. Pure: given the stored state, what was observed and
//! the time, it returns the next state and the notification to send, if any.
//!
//! One alert is one rule × scope instance × threshold × period, so a budget that crosses
//! 50 % and then 100 % is two alerts (each notifies once), and next month's budget is a new
//! alert: the old one resolves when its period ends.

use serde::{Deserialize, Serialize};

/// Where an alert stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Inactive,
    /// The condition holds since `since_ms`, not yet for the `for` duration.
    Pending,
    Firing,
    Resolved,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Inactive => "inactive",
            State::Pending => "pending",
            State::Firing => "firing",
            State::Resolved => "resolved",
        }
    }

    pub fn from_stored(text: &str) -> Option<State> {
        [
            State::Inactive,
            State::Pending,
            State::Firing,
            State::Resolved,
        ]
        .into_iter()
        .find(|state| state.as_str() == text)
    }
}

/// The stored state of one alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlertState {
    pub state: State,
    /// When the current state began (pending: when the condition started to hold).
    pub since_ms: i64,
    /// When a firing or repeat notification was last sent.
    pub last_notified_ms: Option<i64>,
}

impl AlertState {
    pub const NEW: AlertState = AlertState {
        state: State::Inactive,
        since_ms: 0,
        last_notified_ms: None,
    };
}

/// What an evaluation saw for one alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Observation {
    /// The condition holds.
    Breached,
    /// The condition does not hold.
    Clear,
    /// Not enough data to judge (too few samples): nothing changes, except that a pending
    /// alert cannot be confirmed and goes back to inactive.
    NoData,
    /// The alert's period is over (last month's budget): a firing alert resolves.
    PeriodEnded,
}

/// A notification the transition calls for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Notice {
    Firing,
    /// Still firing after the repeat interval.
    Repeat,
    Resolved,
}

impl Notice {
    pub fn as_str(self) -> &'static str {
        match self {
            Notice::Firing => "firing",
            Notice::Repeat => "repeat",
            Notice::Resolved => "resolved",
        }
    }
}

/// Timing of a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// How long the condition must hold before firing (0 = at once).
    pub for_ms: i64,
    /// Re-notify while firing this often; `None` = never.
    pub repeat_ms: Option<i64>,
}

/// The next state of an alert, and what to tell people.
pub fn step(
    current: AlertState,
    observed: Observation,
    timing: Timing,
    now_ms: i64,
) -> (AlertState, Option<Notice>) {
    let at = |state: State| AlertState {
        state,
        since_ms: now_ms,
        last_notified_ms: current.last_notified_ms,
    };
    let fire = || {
        (
            AlertState {
                state: State::Firing,
                since_ms: now_ms,
                last_notified_ms: Some(now_ms),
            },
            Some(Notice::Firing),
        )
    };
    match (current.state, observed) {
        (State::Inactive | State::Resolved, Observation::Breached) => {
            if timing.for_ms <= 0 {
                fire()
            } else {
                (at(State::Pending), None)
            }
        }
        (State::Pending, Observation::Breached) => {
            if now_ms - current.since_ms >= timing.for_ms {
                fire()
            } else {
                (current, None)
            }
        }
        (State::Pending, Observation::Clear | Observation::NoData | Observation::PeriodEnded) => {
            (at(State::Inactive), None)
        }
        (State::Firing, Observation::Breached) => {
            match (timing.repeat_ms, current.last_notified_ms) {
                (Some(repeat), Some(last)) if now_ms - last >= repeat => (
                    AlertState {
                        last_notified_ms: Some(now_ms),
                        ..current
                    },
                    Some(Notice::Repeat),
                ),
                _ => (current, None),
            }
        }
        (State::Firing, Observation::Clear | Observation::PeriodEnded) => {
            (at(State::Resolved), Some(Notice::Resolved))
        }
        (State::Firing, Observation::NoData) => (current, None),
        (State::Inactive | State::Resolved, _) => (current, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: i64 = 60_000;

    fn run(
        timing: Timing,
        observations: &[(i64, Observation)],
    ) -> Vec<(i64, State, Option<Notice>)> {
        let mut state = AlertState::NEW;
        observations
            .iter()
            .map(|(at, observed)| {
                let (next, notice) = step(state, *observed, timing, *at);
                state = next;
                (*at, next.state, notice)
            })
            .collect()
    }

    #[test]
    fn fires_after_holding_for_its_duration_once_then_resolves_once() {
        use Observation::*;
        let timing = Timing {
            for_ms: 5 * MINUTE,
            repeat_ms: None,
        };
        let steps = run(
            timing,
            &[
                (0, Breached),
                (2 * MINUTE, Breached),
                (5 * MINUTE, Breached),
                (6 * MINUTE, Breached),
                (7 * MINUTE, Clear),
                (8 * MINUTE, Clear),
            ],
        );
        let notices: Vec<(i64, Notice)> = steps
            .iter()
            .filter_map(|(at, _, notice)| notice.map(|notice| (*at, notice)))
            .collect();
        assert_eq!(
            notices,
            [(5 * MINUTE, Notice::Firing), (7 * MINUTE, Notice::Resolved)]
        );
        assert_eq!(steps[1].1, State::Pending);
        assert_eq!(steps[5].1, State::Resolved);
    }

    #[test]
    fn a_blip_shorter_than_for_never_fires() {
        use Observation::*;
        let timing = Timing {
            for_ms: 5 * MINUTE,
            repeat_ms: None,
        };
        let steps = run(
            timing,
            &[(0, Breached), (MINUTE, Clear), (2 * MINUTE, Breached)],
        );
        assert!(steps.iter().all(|(_, _, notice)| notice.is_none()));
        // The clock restarts after the clear minute.
        let (state, _) = step(
            AlertState {
                state: State::Pending,
                since_ms: 2 * MINUTE,
                last_notified_ms: None,
            },
            Breached,
            timing,
            6 * MINUTE,
        );
        assert_eq!(state.state, State::Pending);
    }

    #[test]
    fn repeats_while_firing_at_the_interval_only() {
        use Observation::*;
        let timing = Timing {
            for_ms: 0,
            repeat_ms: Some(60 * MINUTE),
        };
        let steps = run(
            timing,
            &[
                (0, Breached),
                (30 * MINUTE, Breached),
                (60 * MINUTE, Breached),
                (90 * MINUTE, Breached),
                (121 * MINUTE, Breached),
            ],
        );
        let notices: Vec<Option<Notice>> = steps.iter().map(|step| step.2).collect();
        assert_eq!(
            notices,
            [
                Some(Notice::Firing),
                None,
                Some(Notice::Repeat),
                None,
                Some(Notice::Repeat)
            ]
        );
    }

    #[test]
    fn no_data_holds_firing_and_cancels_pending() {
        use Observation::*;
        let timing = Timing {
            for_ms: MINUTE,
            repeat_ms: Some(MINUTE),
        };
        let steps = run(
            timing,
            &[
                (0, Breached),
                (MINUTE, Breached),
                (2 * MINUTE, NoData),
                (3 * MINUTE, NoData),
            ],
        );
        assert_eq!(steps[1], (MINUTE, State::Firing, Some(Notice::Firing)));
        assert_eq!(
            steps[2],
            (2 * MINUTE, State::Firing, None),
            "no repeat without data"
        );
        let pending = run(timing, &[(0, Breached), (30_000, NoData)]);
        assert_eq!(pending[1].1, State::Inactive);
    }

    #[test]
    fn a_period_ending_resolves_what_fired() {
        use Observation::*;
        let timing = Timing {
            for_ms: 0,
            repeat_ms: None,
        };
        let steps = run(
            timing,
            &[
                (0, Breached),
                (MINUTE, PeriodEnded),
                (2 * MINUTE, PeriodEnded),
            ],
        );
        assert_eq!(steps[1], (MINUTE, State::Resolved, Some(Notice::Resolved)));
        assert_eq!(steps[2], (2 * MINUTE, State::Resolved, None));
    }

    #[test]
    fn stored_names_round_trip() {
        for state in [
            State::Inactive,
            State::Pending,
            State::Firing,
            State::Resolved,
        ] {
            assert_eq!(State::from_stored(state.as_str()), Some(state));
        }
    }
}
