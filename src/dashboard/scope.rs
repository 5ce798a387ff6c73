//! What a page or API call looks at: a time window and filters, read from the query string,
//! so every view is a URL that can be shared.
//!
//! Windows: `range=1h|24h|today|7d|30d|mtd` (default `mtd`), `month=YYYY-MM`, or
//! `from=YYYY-MM-DD&to=YYYY-MM-DD` (whole UTC days, both included). Filters: `account`,
//! `region`, `model`, `tier`, and `caller` with `by` naming the caller dimension (`identity`,
//! the default, or a requestMetadata key such as `team`).

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::model::Tier;
use crate::report::Month;
use crate::rollup::{
    Granularity, IDENTITY_DIMENSION, METADATA_DIMENSION_PREFIX, PROFILE_DIMENSION, finest_kept,
};
use crate::store::{CallerFilter, CellSpan, Filter};

/// The query string of every page and API call.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct ViewParams {
    pub range: Option<String>,
    pub month: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub account: Option<String>,
    pub region: Option<String>,
    pub model: Option<String>,
    pub tier: Option<String>,
    pub caller: Option<String>,
    pub by: Option<String>,
}

/// A query string that cannot be served, with the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadParams(pub String);

/// A time window: `start ≤ t < end`, Unix seconds, UTC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Window {
    /// What it is called on the page ("month to date", "2025-12", ...).
    pub label: String,
    pub start_s: i64,
    pub end_s: i64,
}

const DAY: i64 = 86_400;
const HOUR: i64 = 3_600;
const MINUTE: i64 = 60;

/// The preset ranges, as offered on every page: (parameter, label).
pub const PRESETS: [(&str, &str); 6] = [
    ("1h", "last hour"),
    ("24h", "last 24 hours"),
    ("today", "today"),
    ("7d", "last 7 days"),
    ("30d", "last 30 days"),
    ("mtd", "month to date"),
];

impl Window {
    /// The window a query string asks for, relative to `now_s`.
    pub fn from_params(params: &ViewParams, now_s: i64) -> Result<Window, BadParams> {
        if let Some(month) = non_empty(&params.month) {
            let month: Month = month
                .parse()
                .map_err(|_| BadParams(format!("month={month:?}: expected YYYY-MM")))?;
            return Ok(Window {
                label: month.to_string(),
                start_s: month.start_ms() / 1000,
                end_s: month.end_ms() / 1000,
            });
        }
        match (non_empty(&params.from), non_empty(&params.to)) {
            (Some(from), Some(to)) => return Window::days(from, to),
            (Some(_), None) | (None, Some(_)) => {
                return Err(BadParams(
                    "from and to go together (YYYY-MM-DD each)".into(),
                ));
            }
            (None, None) => {}
        }
        let range = non_empty(&params.range).unwrap_or("mtd");
        Window::preset(range, now_s)
    }

    fn preset(range: &str, now_s: i64) -> Result<Window, BadParams> {
        let label = PRESETS
            .iter()
            .find(|(key, _)| *key == range)
            .map(|(_, label)| label.to_string())
            .ok_or_else(|| {
                let known: Vec<&str> = PRESETS.iter().map(|(key, _)| *key).collect();
                BadParams(format!(
                    "range={range:?}: expected one of {}",
                    known.join(", ")
                ))
            })?;
        let next_minute = floor(now_s, MINUTE) + MINUTE;
        let next_hour = floor(now_s, HOUR) + HOUR;
        let tomorrow = floor(now_s, DAY) + DAY;
        let (start_s, end_s) = match range {
            "1h" => (next_minute - HOUR, next_minute),
            "24h" => (next_hour - DAY, next_hour),
            "today" => (tomorrow - DAY, tomorrow),
            "7d" => (tomorrow - 7 * DAY, tomorrow),
            "30d" => (tomorrow - 30 * DAY, tomorrow),
            _ => {
                let month = Month::containing(now_s * 1000)
                    .ok_or_else(|| BadParams("the clock is out of range".into()))?;
                (month.start_ms() / 1000, tomorrow)
            }
        };
        Ok(Window {
            label,
            start_s,
            end_s,
        })
    }

    fn days(from: &str, to: &str) -> Result<Window, BadParams> {
        let parse = |name: &str, text: &str| {
            NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .map_err(|_| BadParams(format!("{name}={text:?}: expected YYYY-MM-DD")))
        };
        let (first, last) = (parse("from", from)?, parse("to", to)?);
        if last < first {
            return Err(BadParams(format!("to={to} is before from={from}")));
        }
        let start_s = day_start(first);
        let end_s = day_start(last) + DAY;
        if end_s - start_s > 400 * DAY {
            return Err(BadParams("a window is at most 400 days".into()));
        }
        Ok(Window {
            label: format!("{from} to {to}"),
            start_s,
            end_s,
        })
    }

    /// The coarsest cells that tile the window exactly, for its totals; where those are finer
    /// than the cells kept (caller cells have no minutes, nor hours before the fine cells'
    /// horizon), the window widens to the kept cells it touches.
    pub fn totals_span(&self, cells: CellsKept) -> CellSpan {
        let aligned = if self.start_s % DAY == 0 && self.end_s % DAY == 0 {
            Granularity::Day
        } else if self.start_s % HOUR == 0 && self.end_s % HOUR == 0 {
            Granularity::Hour
        } else {
            Granularity::Minute
        };
        let finest = cells.finest(self.start_s);
        if aligned >= finest {
            return self.span(aligned);
        }
        let step = finest.seconds();
        CellSpan {
            granularity: finest,
            start_s: floor(self.start_s, step),
            end_s: floor(self.end_s + step - 1, step),
        }
    }

    /// Cells for a chart over the window: minutes up to 6 hours, hours up to 8 days, then
    /// days; never finer than the window's alignment or the cells kept allow (a callers
    /// chart of a week before the fine cells' horizon has day bars).
    pub fn chart_span(&self, cells: CellsKept) -> CellSpan {
        let length = self.end_s - self.start_s;
        let wanted = if length <= 6 * HOUR {
            Granularity::Minute
        } else if length <= 8 * DAY {
            Granularity::Hour
        } else {
            Granularity::Day
        };
        let aligned = self.totals_span(cells);
        let granularity = wanted
            .min(aligned.granularity)
            .max(cells.finest(aligned.start_s));
        CellSpan {
            granularity,
            ..aligned
        }
    }

    fn span(&self, granularity: Granularity) -> CellSpan {
        CellSpan {
            granularity,
            start_s: self.start_s,
            end_s: self.end_s,
        }
    }

    /// The window as RFC 3339 times, for people and JSON.
    pub fn bounds_text(&self) -> (String, String) {
        (rfc3339(self.start_s), rfc3339(self.end_s))
    }
}

/// Which cells a view can read: series cells or caller cells, and the fine cells' horizon
/// ([`crate::store::Store::fine_cells_from`]) that decides how fine they are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CellsKept {
    pub callers: bool,
    pub fine_cells_from_s: i64,
}

impl CellsKept {
    /// The finest cells kept of a view starting at `start_s`.
    fn finest(self, start_s: i64) -> Granularity {
        finest_kept(self.callers, start_s, self.fine_cells_from_s)
    }
}

/// Everything a view looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub window: Window,
    pub filter: Filter,
    /// The caller dimension of `caller` and of the callers page: `identity` or `meta:KEY`.
    pub dimension: String,
    /// The query string's filters, to carry into links.
    pub params: ViewParams,
}

impl Scope {
    pub fn from_params(params: &ViewParams, now_s: i64) -> Result<Scope, BadParams> {
        let window = Window::from_params(params, now_s)?;
        let dimension = match non_empty(&params.by) {
            None | Some("identity") | Some("arn") => IDENTITY_DIMENSION.to_string(),
            Some("profile") => PROFILE_DIMENSION.to_string(),
            Some(key) => format!("{METADATA_DIMENSION_PREFIX}{key}"),
        };
        let tier = match non_empty(&params.tier) {
            None => None,
            Some(name) => match Tier::parse(name) {
                Ok(Some(tier)) => Some(tier.as_str().to_string()),
                _ => {
                    return Err(BadParams(format!(
                        "tier={name:?}: expected priority, standard, flex or reserved"
                    )));
                }
            },
        };
        let filter = Filter {
            account: non_empty(&params.account).map(str::to_string),
            region: non_empty(&params.region).map(str::to_string),
            model: non_empty(&params.model).map(str::to_string),
            tier,
            caller: params.caller.as_ref().map(|value| CallerFilter {
                dimension: dimension.clone(),
                value: value.clone(),
            }),
        };
        Ok(Scope {
            window,
            filter,
            dimension,
            params: params.clone(),
        })
    }

    /// Whether reads must use caller cells.
    pub fn by_caller(&self) -> bool {
        self.filter.caller.is_some()
    }

    /// The query string of this scope with some parameters replaced (empty removes one).
    pub fn query_with(&self, changes: &[(&str, &str)]) -> String {
        let p = &self.params;
        let mut pairs: Vec<(&str, String)> = [
            ("range", &p.range),
            ("month", &p.month),
            ("from", &p.from),
            ("to", &p.to),
            ("account", &p.account),
            ("region", &p.region),
            ("model", &p.model),
            ("tier", &p.tier),
            ("by", &p.by),
            ("caller", &p.caller),
        ]
        .into_iter()
        .filter_map(|(key, value)| value.clone().map(|value| (key, value)))
        .collect();
        for (key, value) in changes {
            pairs.retain(|(existing, _)| existing != key);
            // A new window replaces the other ways of giving one.
            if ["range", "month", "from"].contains(key) {
                pairs.retain(|(existing, _)| !["range", "month", "from", "to"].contains(existing));
            }
            if !value.is_empty() {
                pairs.push((key, value.to_string()));
            }
        }
        let mut query = String::new();
        for (key, value) in pairs {
            query.push(if query.is_empty() { '?' } else { '&' });
            query.push_str(key);
            query.push('=');
            query.push_str(&encode(&value));
        }
        query
    }
}

/// Percent-encodes a query-string value or path segment (RFC 3986 unreserved kept).
pub fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fn non_empty(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

fn floor(value: i64, step: i64) -> i64 {
    value - value.rem_euclid(step)
}

fn day_start(date: NaiveDate) -> i64 {
    date.and_hms_opt(0, 0, 0)
        .map_or(0, |time| time.and_utc().timestamp())
}

/// `2025-12-01T00:00:00Z`.
pub fn rfc3339(seconds: i64) -> String {
    DateTime::<Utc>::from_timestamp(seconds, 0)
        .map(|time| time.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2025-12-10T15:42:17Z
    const NOW: i64 = 1_765_381_337;

    fn params(pairs: &[(&str, &str)]) -> ViewParams {
        let query: String = pairs
            .iter()
            .map(|(k, v)| format!("{k}={}", encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        serde_urlencoded_like(&query)
    }

    /// Builds params the way axum's Query does, without pulling serde_urlencoded in here.
    fn serde_urlencoded_like(query: &str) -> ViewParams {
        let mut p = ViewParams::default();
        for pair in query.split('&').filter(|pair| !pair.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = Some(value.replace("%3A", ":").replace("%2F", "/"));
            match key {
                "range" => p.range = value,
                "month" => p.month = value,
                "from" => p.from = value,
                "to" => p.to = value,
                "tier" => p.tier = value,
                "caller" => p.caller = value,
                "by" => p.by = value,
                "model" => p.model = value,
                _ => {}
            }
        }
        p
    }

    /// Series and caller cells with every fine cell kept (no retention has run).
    const SERIES: CellsKept = CellsKept {
        callers: false,
        fine_cells_from_s: 0,
    };
    const CALLERS: CellsKept = CellsKept {
        callers: true,
        fine_cells_from_s: 0,
    };

    #[test]
    fn default_is_month_to_date_in_whole_days() {
        let window = Window::from_params(&ViewParams::default(), NOW).unwrap();
        assert_eq!(window.bounds_text().0, "2025-12-01T00:00:00Z");
        assert_eq!(window.bounds_text().1, "2025-12-11T00:00:00Z");
        assert_eq!(window.totals_span(SERIES).granularity, Granularity::Day);
        assert_eq!(window.chart_span(SERIES).granularity, Granularity::Day);
    }

    #[test]
    fn presets_align_to_their_cells() {
        let hour = Window::from_params(&params(&[("range", "1h")]), NOW).unwrap();
        assert_eq!(hour.end_s - hour.start_s, 3_600);
        assert_eq!(hour.totals_span(SERIES).granularity, Granularity::Minute);
        assert_eq!(hour.chart_span(SERIES).granularity, Granularity::Minute);
        // Caller cells have no minutes: the window widens to the hours it touches.
        let widened = hour.totals_span(CALLERS);
        assert_eq!(widened.granularity, Granularity::Hour);
        assert_eq!(widened.end_s - widened.start_s, 2 * 3_600);
        assert_eq!(hour.chart_span(CALLERS), widened);
        let day = Window::from_params(&params(&[("range", "24h")]), NOW).unwrap();
        assert_eq!(day.totals_span(SERIES).granularity, Granularity::Hour);
        assert_eq!(day.chart_span(SERIES).granularity, Granularity::Hour);
        let week = Window::from_params(&params(&[("range", "7d")]), NOW).unwrap();
        assert_eq!(week.totals_span(SERIES).granularity, Granularity::Day);
        assert_eq!(week.chart_span(SERIES).granularity, Granularity::Hour);
        assert_eq!(week.chart_span(CALLERS).granularity, Granularity::Hour);
    }

    #[test]
    fn views_before_the_fine_cells_horizon_read_coarser_cells() {
        let week = Window::from_params(&params(&[("range", "7d")]), NOW).unwrap();
        // Fine cells kept from the middle of the week: a callers chart has day bars (hours
        // of its first days are gone); a series chart keeps hours, which are never dropped.
        let horizon = week.start_s + 3 * DAY;
        let callers = CellsKept {
            callers: true,
            fine_cells_from_s: horizon,
        };
        let series = CellsKept {
            callers: false,
            ..callers
        };
        assert_eq!(week.chart_span(callers).granularity, Granularity::Day);
        assert_eq!(week.chart_span(series).granularity, Granularity::Hour);
        // A window starting after the horizon keeps its hours.
        let day = Window::from_params(&params(&[("range", "24h")]), NOW).unwrap();
        assert!(day.start_s >= horizon);
        assert_eq!(day.totals_span(callers).granularity, Granularity::Hour);
        // Hour-aligned totals before the horizon widen to the days they touch.
        let late = Window {
            label: "hours".into(),
            start_s: week.start_s + 5 * HOUR,
            end_s: week.start_s + 30 * HOUR,
        };
        let widened = late.totals_span(callers);
        assert_eq!(
            (widened.granularity, widened.start_s, widened.end_s),
            (Granularity::Day, week.start_s, week.start_s + 2 * DAY)
        );
        // Series cells before the horizon have hours, not minutes.
        let minutes = Window {
            label: "minutes".into(),
            start_s: week.start_s + 90,
            end_s: week.start_s + 600,
        };
        let widened = minutes.chart_span(series);
        assert_eq!(
            (widened.granularity, widened.start_s, widened.end_s),
            (Granularity::Hour, week.start_s, week.start_s + HOUR)
        );
    }

    #[test]
    fn months_and_day_ranges() {
        let month = Window::from_params(&params(&[("month", "2025-11")]), NOW).unwrap();
        assert_eq!(month.label, "2025-11");
        assert_eq!(month.end_s - month.start_s, 30 * DAY);
        let days = Window::from_params(
            &params(&[("from", "2025-11-03"), ("to", "2025-11-03")]),
            NOW,
        )
        .unwrap();
        assert_eq!(days.end_s - days.start_s, DAY);
    }

    #[test]
    fn bad_windows_and_tiers_say_why() {
        let cases: [&[(&str, &str)]; 5] = [
            &[("range", "2w")],
            &[("month", "2025-13")],
            &[("from", "2025-11-03")],
            &[("from", "2025-11-03"), ("to", "2025-11-01")],
            &[("tier", "gold")],
        ];
        for case in cases {
            let error = Scope::from_params(&params(case), NOW).unwrap_err();
            assert!(!error.0.is_empty());
        }
        let error = Scope::from_params(&params(&[("range", "2w")]), NOW).unwrap_err();
        assert!(error.0.contains("1h, 24h, today, 7d, 30d, mtd"), "{error}");
    }

    #[test]
    fn caller_filters_name_their_dimension() {
        let scope =
            Scope::from_params(&params(&[("by", "team"), ("caller", "evals")]), NOW).unwrap();
        assert_eq!(
            scope.filter.caller,
            Some(CallerFilter {
                dimension: "meta:team".into(),
                value: "evals".into()
            })
        );
        assert!(scope.by_caller());
        let scope = Scope::from_params(&params(&[("tier", "Flex")]), NOW).unwrap();
        assert_eq!(scope.filter.tier.as_deref(), Some("flex"));
    }

    #[test]
    fn links_keep_filters_and_replace_windows() {
        let scope = Scope::from_params(
            &params(&[("month", "2025-11"), ("model", "a.b:0"), ("tier", "flex")]),
            NOW,
        )
        .unwrap();
        assert_eq!(
            scope.query_with(&[("range", "7d")]),
            "?model=a.b%3A0&tier=flex&range=7d"
        );
        assert_eq!(
            scope.query_with(&[("tier", "")]),
            "?month=2025-11&model=a.b%3A0"
        );
    }
}
