//! `[[pricing.reservations]]`: Reserved-tier capacity bought for a model in a region.
//!
//! Reserved capacity is billed as a fixed monthly price per tokens-per-minute reserved, not
//! per token: the calls it serves cost nothing more, and traffic above it overflows to
//! Standard. A reservation entry tells tierwatch what was bought, so the report can show the
//! fixed cost, what it served, the effective price per 1M tokens and the overflow.

use chrono::{Months, NaiveDate};
use serde::Deserialize;

use super::ConfigError;

/// One reservation, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    pub name: String,
    /// The account it belongs to; `None` covers calls of every account.
    pub account: Option<String>,
    pub region: String,
    pub model_id: String,
    pub input_tpm: u64,
    pub output_tpm: u64,
    /// The fixed price per month in micro-dollars, when the agreement says; otherwise the
    /// Price List's Reserved TPM rows price it.
    pub monthly_price_micros: Option<i64>,
    pub term_months: u8,
    /// `geo` (the default) or `global`: which Reserved TPM rows of the Price List apply.
    pub global: bool,
    /// First day covered.
    pub start: NaiveDate,
    /// First day no longer covered.
    pub end: NaiveDate,
}

impl Reservation {
    /// Whether it covers a call of `account` in `region` to `model_id` on `day`.
    pub fn covers(&self, account: &str, region: &str, model_id: &str, day: NaiveDate) -> bool {
        self.region == region
            && self.model_id == model_id
            && self.account.as_deref().is_none_or(|own| own == account)
            && self.start <= day
            && day < self.end
    }

    /// Days of the month starting at `month_start` that the reservation covers.
    pub fn days_in(&self, month_start: NaiveDate) -> u32 {
        let Some(next) = month_start.checked_add_months(Months::new(1)) else {
            return 0;
        };
        let from = self.start.max(month_start);
        let to = self.end.min(next);
        u32::try_from((to - from).num_days().max(0)).unwrap_or(0)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileReservation {
    name: Option<String>,
    account: Option<String>,
    region: Option<String>,
    model: Option<String>,
    input_tpm: Option<i64>,
    output_tpm: Option<i64>,
    monthly_price: Option<toml::Value>,
    term_months: Option<i64>,
    routing: Option<String>,
    start: Option<toml::value::Datetime>,
    end: Option<toml::value::Datetime>,
}

/// Validates every entry, collecting each problem with its entry's name.
pub(super) fn reservations(
    file: Vec<FileReservation>,
    origin: &str,
    errors: &mut Vec<ConfigError>,
) -> Vec<Reservation> {
    let mut out = Vec::new();
    for (index, entry) in file.into_iter().enumerate() {
        let label = entry
            .name
            .clone()
            .map_or_else(|| format!("#{}", index + 1), |name| format!("{name:?}"));
        let mut problem = |key: &str, message: String| {
            errors.push(ConfigError {
                origin: origin.into(),
                key: format!("pricing.reservations[{label}].{key}"),
                message,
            });
        };
        match reservation(entry, &mut problem) {
            Some(reservation) if out.iter().any(|r: &Reservation| r.name == reservation.name) => {
                problem(
                    "name",
                    format!("{:?} names two reservations", reservation.name),
                );
            }
            Some(reservation) => out.push(reservation),
            None => {}
        }
    }
    out
}

fn reservation(
    entry: FileReservation,
    problem: &mut impl FnMut(&str, String),
) -> Option<Reservation> {
    let required = |value: Option<String>, key: &str, problem: &mut dyn FnMut(&str, String)| {
        let value = value.filter(|text| !text.trim().is_empty());
        if value.is_none() {
            problem(key, "is required".into());
        }
        value
    };
    let name = required(entry.name, "name", problem);
    let region = required(entry.region, "region", problem);
    let model_id = required(entry.model, "model", problem);
    let tpm = |value: Option<i64>, key: &str, problem: &mut dyn FnMut(&str, String)| match value {
        Some(count) if count >= 0 => u64::try_from(count).ok(),
        Some(count) => {
            problem(key, format!("must not be negative, got {count}"));
            None
        }
        None => Some(0),
    };
    let input_tpm = tpm(entry.input_tpm, "input_tpm", problem);
    let output_tpm = tpm(entry.output_tpm, "output_tpm", problem);
    if input_tpm == Some(0) && output_tpm == Some(0) {
        problem(
            "input_tpm",
            "a reservation reserves input_tpm, output_tpm or both".into(),
        );
    }
    let monthly_price_micros = match &entry.monthly_price {
        None => Some(None),
        Some(value) => match usd_micros(value) {
            Some(micros) => Some(Some(micros)),
            None => {
                problem(
                    "monthly_price",
                    format!(
                        "expected USD as a string such as \"14454.00\" (at most 6 decimals), got {value}"
                    ),
                );
                None
            }
        },
    };
    let term_months = match entry.term_months.unwrap_or(1) {
        months @ (1 | 3) => Some(months as u8),
        other => {
            problem("term_months", format!("expected 1 or 3, got {other}"));
            None
        }
    };
    let global = match entry.routing.as_deref().unwrap_or("geo") {
        "geo" => Some(false),
        "global" => Some(true),
        other => {
            problem(
                "routing",
                format!("expected \"geo\" or \"global\", got {other:?}"),
            );
            None
        }
    };
    let date =
        |value: Option<toml::value::Datetime>, key: &str, problem: &mut dyn FnMut(&str, String)| {
            let value = value?;
            match value.date.filter(|_| value.time.is_none()).and_then(|d| {
                NaiveDate::from_ymd_opt(i32::from(d.year), u32::from(d.month), u32::from(d.day))
            }) {
                Some(date) => Some(date),
                None => {
                    problem(
                        key,
                        format!("expected a date such as 2026-01-01, got {value}"),
                    );
                    None
                }
            }
        };
    let start = date(entry.start, "start", problem);
    if entry.start.is_none() {
        problem("start", "is required".into());
    }
    let end = date(entry.end, "end", problem);
    let start = start?;
    let term_months = term_months?;
    let end = match end {
        Some(end) => end,
        None => start.checked_add_months(Months::new(u32::from(term_months)))?,
    };
    if end <= start {
        problem("end", format!("{end} is not after start {start}"));
        return None;
    }
    Some(Reservation {
        name: name?,
        account: entry.account.filter(|account| !account.trim().is_empty()),
        region: region?,
        model_id: model_id?,
        input_tpm: input_tpm?,
        output_tpm: output_tpm?,
        monthly_price_micros: monthly_price_micros?,
        term_months,
        global: global?,
        start,
        end,
    })
}

/// "14454.00" (or a TOML number) → micro-dollars, exactly.
fn usd_micros(value: &toml::Value) -> Option<i64> {
    let text = match value {
        toml::Value::String(text) => text.clone(),
        toml::Value::Integer(number) => number.to_string(),
        _ => return None,
    };
    crate::pricing::amount::parse_scaled(text.trim(), 6).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> (Vec<Reservation>, Vec<ConfigError>) {
        #[derive(Deserialize)]
        struct Wrapper {
            reservations: Vec<FileReservation>,
        }
        let wrapper: Wrapper = toml::from_str(text).unwrap();
        let mut errors = Vec::new();
        let parsed = reservations(wrapper.reservations, "test.toml", &mut errors);
        (parsed, errors)
    }

    #[test]
    fn a_reservation_covers_its_model_region_account_and_term() {
        let (parsed, errors) = parse(
            r#"
            [[reservations]]
            name = "sonnet-prod"
            account = "111122223333"
            region = "us-east-1"
            model = "anthropic.claude-sonnet-4-5-20250929-v1:0"
            input_tpm = 100000
            output_tpm = 10000
            monthly_price = "15000.50"
            start = 2026-11-10
            "#,
        );
        assert!(errors.is_empty(), "{errors:?}");
        let r = &parsed[0];
        assert_eq!(r.monthly_price_micros, Some(15_000_500_000));
        assert_eq!(r.end, NaiveDate::from_ymd_opt(2026, 12, 10).unwrap());
        let day = |d| NaiveDate::from_ymd_opt(2026, 11, d).unwrap();
        let model = "anthropic.claude-sonnet-4-5-20250929-v1:0";
        assert!(r.covers("111122223333", "us-east-1", model, day(10)));
        assert!(!r.covers("111122223333", "us-east-1", model, day(9)));
        assert!(!r.covers("444455556666", "us-east-1", model, day(12)));
        assert!(!r.covers("111122223333", "us-west-2", model, day(12)));
        assert_eq!(r.days_in(day(1)), 21);
        assert_eq!(r.days_in(NaiveDate::from_ymd_opt(2026, 12, 1).unwrap()), 9);
        assert_eq!(r.days_in(NaiveDate::from_ymd_opt(2027, 1, 1).unwrap()), 0);
    }

    #[test]
    fn bad_entries_are_named_with_every_problem() {
        let (parsed, errors) = parse(
            r#"
            [[reservations]]
            name = "bad"
            region = "us-east-1"
            input_tpm = -5
            monthly_price = "a lot"
            term_months = 2
            routing = "nearby"
            start = 2026-01-01

            [[reservations]]
            model = "x"
            region = "y"
            input_tpm = 1
            "#,
        );
        assert!(parsed.is_empty());
        let keys: Vec<&str> = errors.iter().map(|e| e.key.as_str()).collect();
        for key in [
            "pricing.reservations[\"bad\"].model",
            "pricing.reservations[\"bad\"].input_tpm",
            "pricing.reservations[\"bad\"].monthly_price",
            "pricing.reservations[\"bad\"].term_months",
            "pricing.reservations[\"bad\"].routing",
            "pricing.reservations[#2].name",
            "pricing.reservations[#2].start",
        ] {
            assert!(keys.contains(&key), "{key} in {keys:?}");
        }
    }
}
