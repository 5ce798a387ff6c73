//! How numbers read on the pages (the JSON API keeps them exact).

use super::data::{Latency, Line, Spend, TierAmount, TierLatency, Timeline};
use crate::store::{CostAmount, CostStatus};

/// `$1,234.57` from picodollars; amounts under a cent keep four decimals so small test
/// traffic doesn't read as $0.00.
pub fn usd(pico: i128) -> String {
    let negative = pico < 0;
    let magnitude = pico.unsigned_abs();
    let (decimals, unit) = if magnitude != 0 && magnitude < 10_000_000_000 {
        (4u32, 100_000_000u128)
    } else {
        (2u32, 10_000_000_000u128)
    };
    let units = (magnitude + unit / 2) / unit;
    let scale = 10u128.pow(decimals);
    let whole = group_thousands(&(units / scale).to_string());
    let sign = if negative && units != 0 { "-" } else { "" };
    format!(
        "{sign}${whole}.{:0width$}",
        units % scale,
        width = decimals as usize
    )
}

/// An amount over a group of calls as HTML, by its cost status: `$1.23`; `$1.23` marked
/// "partial" with the count of unpriced calls it leaves out; or "unpriced" (never `$0.00`).
///
/// The markup is made of a formatted number and fixed words only, so templates output it
/// unescaped (`|safe`).
pub fn money(amount: &CostAmount) -> String {
    signed_money(amount, "")
}

/// `money` with a sign before a known amount (`+$1.23`, `−$0.40`).
pub fn signed_money(amount: &CostAmount, sign: &str) -> String {
    let unpriced = amount.unpriced_invocations();
    let calls = if unpriced == 1 { "call" } else { "calls" };
    match amount.status() {
        CostStatus::Priced => format!("{sign}{}", usd(amount.pico)),
        CostStatus::Partial => format!(
            r#"{sign}{} <span class="partial" title="priced calls only: {unpriced} {calls} without a price are not in this amount">partial · {} unpriced</span>"#,
            usd(amount.pico),
            count(unpriced)
        ),
        CostStatus::Unpriced => format!(
            r#"<span class="unpriced" title="none of these calls has a price ({unpriced} unpriced {calls}): the cost is unknown">unpriced</span>"#
        ),
    }
}

/// `1,234,567`.
pub fn count(value: i64) -> String {
    let text = group_thousands(&value.unsigned_abs().to_string());
    if value < 0 { format!("-{text}") } else { text }
}

/// `12.3 %`, or `–` when unknown.
pub fn percent(value: Option<f64>) -> String {
    value.map_or_else(|| "–".into(), |value| format!("{:.1} %", value * 100.0))
}

/// `840 ms`, `12.4 s`, or `–`.
pub fn millis(value: Option<u64>) -> String {
    match value {
        None => "–".into(),
        Some(ms) if ms >= 10_000 => format!("{:.1} s", ms as f64 / 1000.0),
        Some(ms) => format!("{ms} ms"),
    }
}

/// A span of time as people read it: `42 s`, `5 min`, `3 h`, `2 days`.
pub fn age(seconds: i64) -> String {
    match seconds.max(0) {
        s if s < 120 => format!("{s} s"),
        s if s < 7_200 => format!("{} min", s / 60),
        s if s < 172_800 => format!("{} h", s / 3_600),
        s => format!("{} days", s / 86_400),
    }
}

/// `1.8×`, or `–`.
pub fn times(value: Option<f64>) -> String {
    value.map_or_else(|| "–".into(), |value| format!("{value:.2}×"))
}

fn group_thousands(digits: &str) -> String {
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// Display helpers the templates call.
impl Line {
    /// HTML (see `money`).
    pub fn cost(&self) -> String {
        money(&self.cost)
    }
    /// HTML (see `money`).
    pub fn premium(&self) -> String {
        money(&self.premium)
    }
    /// HTML (see `money`).
    pub fn savings(&self) -> String {
        money(&self.savings)
    }
    /// HTML: the premium on Priority lines, the savings on Flex lines, `–` on others.
    pub fn versus_standard(&self) -> String {
        match self.tier.as_str() {
            "priority" => signed_money(&self.premium, "+"),
            "flex" => signed_money(&self.savings, "−"),
            _ => "–".into(),
        }
    }
    pub fn calls(&self) -> String {
        count(self.invocations)
    }
    pub fn tokens_in(&self) -> String {
        count(self.input_tokens + self.cache_read_tokens + self.cache_write_tokens)
    }
    pub fn tokens_out(&self) -> String {
        count(self.output_tokens)
    }
    pub fn unpriced(&self) -> String {
        count(self.unpriced_invocations)
    }
    pub fn error_share(&self) -> String {
        percent(self.error_rate)
    }
    pub fn throttle_share(&self) -> String {
        percent(self.throttle_rate)
    }
    pub fn p50(&self) -> String {
        millis(self.latency.and_then(|l| l.p50_ms))
    }
    pub fn p95(&self) -> String {
        millis(self.latency.and_then(|l| l.p95_ms))
    }
    pub fn ttft_p50(&self) -> String {
        millis(self.time_to_first_token.and_then(|l| l.p50_ms))
    }
    pub fn caller_name(&self) -> String {
        match self.caller.as_deref() {
            Some("") | None => "(not set)".into(),
            Some(caller) => caller.to_string(),
        }
    }
}

impl Spend {
    /// HTML (see `money`).
    pub fn total(&self) -> String {
        money(&self.total_cost)
    }
}

impl TierAmount {
    /// HTML (see `money`).
    pub fn amount(&self) -> String {
        money(&self.cost)
    }
}

impl Timeline {
    /// Calls of the chart without a price (marked, not drawn), all tiers and buckets.
    pub fn unpriced_calls(&self) -> String {
        count(self.unpriced_invocations.iter().flatten().sum())
    }
    pub fn has_unpriced_calls(&self) -> bool {
        self.unpriced_invocations
            .iter()
            .flatten()
            .any(|calls| *calls > 0)
    }
}

impl TierLatency {
    pub fn p50(&self) -> String {
        millis(self.latency.p50_ms)
    }
    pub fn p95(&self) -> String {
        millis(self.latency.p95_ms)
    }
    pub fn p99(&self) -> String {
        millis(self.latency.p99_ms)
    }
    pub fn ttft_p50(&self) -> String {
        millis(self.time_to_first_token.p50_ms)
    }
    pub fn samples(&self) -> String {
        count(i64::try_from(self.latency.samples).unwrap_or(i64::MAX))
    }
    pub fn p50_ratio(&self) -> String {
        times(self.p50_vs_standard)
    }
    pub fn p95_ratio(&self) -> String {
        times(self.p95_vs_standard)
    }
}

impl Latency {
    pub fn p50_text(&self) -> String {
        millis(self.p50_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dollars_read_like_dollars() {
        assert_eq!(usd(0), "$0.00");
        assert_eq!(usd(1_234_567_000_000_000), "$1,234.57");
        assert_eq!(usd(2_500_000_000), "$0.0025");
        assert_eq!(usd(-50_000_000_000_000), "-$50.00");
    }

    #[test]
    fn money_says_unpriced_or_partial_and_never_zero_for_unknown() {
        let amount = |pico, priced, unpriced| {
            crate::store::Coverage {
                priced_invocations: priced,
                unpriced_invocations: unpriced,
            }
            .amount(pico)
        };
        assert_eq!(money(&amount(2_500_000_000, 3, 0)), "$0.0025");
        // Not-billed calls count as neither: nothing to price is a known $0.
        assert_eq!(money(&amount(0, 0, 0)), "$0.00");
        let unpriced = money(&amount(0, 0, 2));
        assert!(unpriced.contains(">unpriced</span>"), "{unpriced}");
        assert!(!unpriced.contains('$'), "{unpriced}");
        let partial = money(&amount(2_500_000_000, 1, 1_234));
        assert!(
            partial.starts_with("$0.0025 <span class=\"partial\""),
            "{partial}"
        );
        assert!(
            partial.contains("partial · 1,234 unpriced</span>"),
            "{partial}"
        );
        assert_eq!(signed_money(&amount(2_500_000_000, 1, 0), "+"), "+$0.0025");
        assert!(!signed_money(&amount(0, 0, 1), "+").contains('+'));
    }

    #[test]
    fn counts_percentages_and_durations() {
        assert_eq!(count(1_234_567), "1,234,567");
        assert_eq!(count(-1_000), "-1,000");
        assert_eq!(count(999), "999");
        assert_eq!(percent(Some(0.1234)), "12.3 %");
        assert_eq!(percent(None), "–");
        assert_eq!(millis(Some(840)), "840 ms");
        assert_eq!(millis(Some(12_400)), "12.4 s");
        assert_eq!(times(Some(1.8)), "1.80×");
    }
}
