//! Charts as inline SVG drawn on the server: no JavaScript, no CDN, tier colours fixed.
//! Each bar carries a `<title>`, which browsers show on hover.
//!
//! Cost charts never draw calls without a price as $0: a bucket holding any is marked by a
//! hatched block above its bar (alone at the baseline when nothing in it has a price), named
//! in the legend, with the unpriced calls per tier in its title.

use std::fmt::Write as _;

use chrono::DateTime;

use super::data::{TierLatency, tier_colour};

const WIDTH: f64 = 760.0;
const HEIGHT: f64 = 240.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 44.0;
/// Height of the mark of a bucket with unpriced calls.
const UNPRICED_MARK: f64 = 8.0;
/// The hatching of that mark (a pattern defined in each chart that has one).
const HATCH_ID: &str = "unpriced-hatch";

/// Values per tier and bucket for a stacked bar chart.
pub struct Stacked<'a> {
    /// Accessible name of the chart.
    pub title: &'a str,
    pub buckets: &'a [i64],
    pub granularity_s: i64,
    pub tiers: &'a [String],
    /// `values[tier][bucket]`, non-negative.
    pub values: Vec<Vec<f64>>,
    /// `unpriced[tier][bucket]`: calls left out of `values` for want of a price (cost charts;
    /// empty for others).
    pub unpriced: &'a [Vec<i64>],
    /// Formats an axis or tooltip value.
    pub format: fn(f64) -> String,
}

/// A stacked bar chart of values per bucket, one colour per tier.
pub fn stacked_bars(chart: &Stacked<'_>) -> String {
    let mut svg = open_svg(chart.title);
    let any_unpriced = chart.unpriced.iter().flatten().any(|calls| *calls > 0);
    if any_unpriced {
        let _ = write!(
            svg,
            r##"<defs><pattern id="{HATCH_ID}" width="4" height="4" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="4" height="4" fill="#fef3c7"/><line x1="0" y1="0" x2="0" y2="4" stroke="#92400e" stroke-width="2"/></pattern></defs>"##
        );
    }
    let count = chart.buckets.len().max(1);
    let totals: Vec<f64> = (0..chart.buckets.len())
        .map(|b| {
            chart
                .values
                .iter()
                .map(|tier| tier.get(b).copied().unwrap_or(0.0))
                .sum()
        })
        .collect();
    let max = nice_max(totals.iter().copied().fold(0.0, f64::max));
    let plot_width = WIDTH - LEFT - RIGHT;
    let plot_height = HEIGHT - TOP - BOTTOM;
    grid(&mut svg, max, chart.format);
    let slot = plot_width / count as f64;
    let bar = (slot * 0.8).max(1.0);
    for (b, bucket) in chart.buckets.iter().enumerate() {
        let x = LEFT + slot * b as f64 + (slot - bar) / 2.0;
        let mut y = TOP + plot_height;
        let mut unpriced_tiers = Vec::new();
        // Formatted once per bar, not per tier: dates are the costliest part of a chart.
        let label = escape(&bucket_label(*bucket, chart.granularity_s, true));
        for (t, tier) in chart.tiers.iter().enumerate() {
            let value = chart
                .values
                .get(t)
                .and_then(|v| v.get(b))
                .copied()
                .unwrap_or(0.0);
            let unpriced = unpriced_calls(chart, t, b);
            if unpriced > 0 {
                unpriced_tiers.push(format!("{tier} {unpriced}"));
            }
            if value <= 0.0 || max <= 0.0 {
                continue;
            }
            let height = value / max * plot_height;
            y -= height;
            let partial = if unpriced > 0 {
                format!(" (partial: {unpriced} unpriced calls not in it)")
            } else {
                String::new()
            };
            let _ = write!(
                svg,
                r#"<rect class="bar" x="{x:.1}" y="{y:.1}" width="{bar:.1}" height="{height:.1}" fill="{}"><title>{} {}: {}{}</title></rect>"#,
                tier_colour(tier),
                label,
                escape(tier),
                escape(&(chart.format)(value)),
                escape(&partial),
            );
        }
        if !unpriced_tiers.is_empty() {
            let _ = write!(
                svg,
                r##"<rect class="unpriced-mark" x="{x:.1}" y="{:.1}" width="{bar:.1}" height="{UNPRICED_MARK}" fill="url(#{HATCH_ID})" stroke="#92400e" stroke-width="0.5"><title>{}: calls without a price, not in the bar ({})</title></rect>"##,
                y - UNPRICED_MARK,
                label,
                escape(&unpriced_tiers.join(", ")),
            );
        }
    }
    x_labels(&mut svg, chart.buckets, chart.granularity_s, slot);
    legend(&mut svg, chart.tiers, any_unpriced);
    if totals.iter().all(|total| *total <= 0.0) {
        let empty = if any_unpriced {
            "No priced calls in this window"
        } else {
            "No data in this window"
        };
        let _ = write!(
            svg,
            r#"<text class="empty" x="{:.1}" y="{:.1}" text-anchor="middle">{empty}</text>"#,
            LEFT + plot_width / 2.0,
            TOP + plot_height / 2.0
        );
    }
    svg.push_str("</svg>");
    svg
}

/// Calls of tier `t` in bucket `b` that have no price.
fn unpriced_calls(chart: &Stacked<'_>, t: usize, b: usize) -> i64 {
    chart
        .unpriced
        .get(t)
        .and_then(|tier| tier.get(b))
        .copied()
        .unwrap_or(0)
}

/// Latency p50 and p95 per tier as paired horizontal bars.
pub fn latency_bars(title: &str, tiers: &[TierLatency]) -> String {
    let row_height = 34.0;
    let height = TOP + row_height * tiers.len().max(1) as f64 + 28.0;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="chart" role="img" aria-label="{}" viewBox="0 0 {WIDTH} {height}" xmlns="http://www.w3.org/2000/svg"><title>{}</title>"#,
        escape(title),
        escape(title)
    );
    let max = tiers
        .iter()
        .filter_map(|tier| tier.latency.p95_ms)
        .max()
        .unwrap_or(0) as f64;
    let max = nice_max(max);
    // Room on the right for the "p50 … · p95 …" text.
    let plot_width = WIDTH - 110.0 - RIGHT - 190.0;
    for (index, tier) in tiers.iter().enumerate() {
        let y = TOP + row_height * index as f64;
        let _ = write!(
            svg,
            r#"<text class="label" x="104" y="{:.1}" text-anchor="end">{}</text>"#,
            y + 18.0,
            escape(&tier.tier)
        );
        let colour = tier_colour(&tier.tier);
        for (offset, value, name, opacity) in [
            (0.0, tier.latency.p95_ms, "p95", "0.45"),
            (0.0, tier.latency.p50_ms, "p50", "1"),
        ] {
            let Some(ms) = value else { continue };
            let width = if max > 0.0 {
                ms as f64 / max * plot_width
            } else {
                0.0
            };
            let _ = write!(
                svg,
                r#"<rect class="bar" x="{:.1}" y="{:.1}" width="{width:.1}" height="22" fill="{colour}" fill-opacity="{opacity}"><title>{} {name}: {ms} ms</title></rect>"#,
                110.0 + offset,
                y + 4.0,
                escape(&tier.tier)
            );
        }
        let text = match (tier.latency.p50_ms, tier.latency.p95_ms) {
            (Some(p50), Some(p95)) => format!("p50 {} · p95 {}", ms_text(p50), ms_text(p95)),
            _ => "no latency recorded".into(),
        };
        let _ = write!(
            svg,
            r#"<text class="value" x="{:.1}" y="{:.1}">{}</text>"#,
            110.0 + plot_width + 6.0,
            y + 19.0,
            escape(&text)
        );
    }
    if tiers.is_empty() {
        let _ = write!(
            svg,
            r#"<text class="empty" x="{:.1}" y="{:.1}" text-anchor="middle">No latency in this window</text>"#,
            WIDTH / 2.0,
            TOP + 20.0
        );
    }
    let _ = write!(
        svg,
        r#"<text class="axis" x="110" y="{:.1}">solid: p50 · light: p95 · scale 0–{}</text></svg>"#,
        height - 6.0,
        escape(&ms_text(max as u64))
    );
    svg
}

fn open_svg(title: &str) -> String {
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="chart" role="img" aria-label="{}" viewBox="0 0 {WIDTH} {HEIGHT}" xmlns="http://www.w3.org/2000/svg"><title>{}</title>"#,
        escape(title),
        escape(title)
    );
    svg
}

fn grid(svg: &mut String, max: f64, format: fn(f64) -> String) {
    let plot_height = HEIGHT - TOP - BOTTOM;
    for step in 0..=4 {
        let value = max * f64::from(step) / 4.0;
        let y = TOP + plot_height - plot_height * f64::from(step) / 4.0;
        let _ = write!(
            svg,
            r#"<line class="grid" x1="{LEFT}" x2="{:.1}" y1="{y:.1}" y2="{y:.1}"/>"#,
            WIDTH - RIGHT,
        );
        // With nothing to scale (no data, or no priced calls) the axis has no values: a
        // column of "$0.00" would read as spend.
        if max > 0.0 {
            let _ = write!(
                svg,
                r#"<text class="axis" x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
                LEFT - 6.0,
                y + 4.0,
                escape(&format(value))
            );
        }
    }
}

fn x_labels(svg: &mut String, buckets: &[i64], granularity_s: i64, slot: f64) {
    let every = (buckets.len() / 8).max(1);
    for (index, bucket) in buckets.iter().enumerate().step_by(every) {
        let x = LEFT + slot * (index as f64 + 0.5);
        let _ = write!(
            svg,
            r#"<text class="axis" x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            HEIGHT - BOTTOM + 16.0,
            escape(&bucket_label(*bucket, granularity_s, false))
        );
    }
}

fn legend(svg: &mut String, tiers: &[String], unpriced: bool) {
    let mut x = LEFT;
    let y = HEIGHT - 10.0;
    for tier in tiers {
        let _ = write!(
            svg,
            r#"<rect x="{x:.1}" y="{:.1}" width="10" height="10" fill="{}"/><text class="legend" x="{:.1}" y="{y:.1}">{}</text>"#,
            y - 9.0,
            tier_colour(tier),
            x + 14.0,
            escape(tier)
        );
        x += 24.0 + 8.0 * tier.len() as f64;
    }
    if unpriced {
        let _ = write!(
            svg,
            r##"<rect x="{x:.1}" y="{:.1}" width="10" height="10" fill="url(#{HATCH_ID})" stroke="#92400e" stroke-width="0.5"/><text class="legend" x="{:.1}" y="{y:.1}">calls without a price (not in the bars)</text>"##,
            y - 9.0,
            x + 14.0,
        );
    }
}

/// A bucket's start as people read it: `12-03` for days, `12-03 14:00` for hours and
/// minutes (with the full date in tooltips).
fn bucket_label(bucket: i64, granularity_s: i64, long: bool) -> String {
    let Some(time) = DateTime::from_timestamp(bucket, 0) else {
        return bucket.to_string();
    };
    let format = match (granularity_s >= 86_400, long) {
        (true, false) => "%m-%d",
        (true, true) => "%Y-%m-%d",
        (false, false) => "%m-%d %H:%M",
        (false, true) => "%Y-%m-%d %H:%M UTC",
    };
    time.format(format).to_string()
}

/// The axis maximum: the largest value rounded up to 1, 2 or 5 × a power of ten.
fn nice_max(max: f64) -> f64 {
    if max <= 0.0 || !max.is_finite() {
        return 0.0;
    }
    let magnitude = 10f64.powf(max.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|step| step * magnitude)
        .find(|candidate| *candidate >= max)
        .unwrap_or(10.0 * magnitude)
}

fn ms_text(ms: u64) -> String {
    if ms >= 10_000 {
        format!("{:.1} s", ms as f64 / 1000.0)
    } else {
        format!("{ms} ms")
    }
}

/// Escapes text for SVG/HTML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(ch),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dashboard::data::Latency;

    #[test]
    fn stacked_bars_draw_one_rect_per_non_zero_value_in_tier_colours() {
        let tiers = vec!["priority".to_string(), "<flex>".to_string()];
        let svg = stacked_bars(&Stacked {
            title: "Cost",
            buckets: &[0, 86_400, 172_800],
            granularity_s: 86_400,
            tiers: &tiers,
            values: vec![vec![1.0, 0.0, 3.0], vec![2.0, 0.0, 0.0]],
            unpriced: &[],
            format: |value| format!("${value:.2}"),
        });
        assert_eq!(svg.matches(r#"class="bar""#).count(), 3);
        assert!(svg.contains(r##"fill="#c2410c""##));
        assert!(svg.contains("&lt;flex&gt;"), "tier names are escaped");
        assert!(!svg.contains("<flex>"));
        assert!(svg.contains("1970-01-03 priority: $3.00"));
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
    }

    #[test]
    fn empty_charts_say_so() {
        let svg = stacked_bars(&Stacked {
            title: "Cost",
            buckets: &[0],
            granularity_s: 3_600,
            tiers: &[],
            values: vec![],
            unpriced: &[],
            format: |value| value.to_string(),
        });
        assert!(svg.contains("No data in this window"));
    }

    #[test]
    fn unpriced_calls_are_marked_never_drawn_as_zero_bars() {
        let tiers = vec!["standard".to_string(), "flex".to_string()];
        let chart = |values: Vec<Vec<f64>>, unpriced: &[Vec<i64>]| {
            stacked_bars(&Stacked {
                title: "Cost",
                buckets: &[0, 86_400],
                granularity_s: 86_400,
                tiers: &tiers,
                values,
                unpriced,
                format: |value| format!("${value:.2}"),
            })
        };
        // Day 1: Standard priced with one unpriced call beside it; day 2: only unpriced.
        let svg = chart(
            vec![vec![2.0, 0.0], vec![0.0, 0.0]],
            &[vec![1, 0], vec![0, 3]],
        );
        assert_eq!(svg.matches(r#"class="bar""#).count(), 1, "{svg}");
        assert!(svg.contains("1970-01-01 standard: $2.00 (partial: 1 unpriced calls not in it)"));
        assert_eq!(svg.matches(r#"class="unpriced-mark""#).count(), 2, "{svg}");
        assert!(svg.contains("1970-01-02: calls without a price, not in the bar (flex 3)"));
        assert!(svg.contains(r#"<pattern id="unpriced-hatch""#));
        assert!(
            svg.contains("calls without a price (not in the bars)"),
            "legend"
        );
        // Nothing priced at all: no $0 axis, and the chart says so.
        let svg = chart(
            vec![vec![0.0, 0.0], vec![0.0, 0.0]],
            &[vec![0, 0], vec![2, 0]],
        );
        assert!(svg.contains("No priced calls in this window"), "{svg}");
        assert!(!svg.contains("$0.00"), "{svg}");
        assert_eq!(svg.matches(r#"class="unpriced-mark""#).count(), 1);
    }

    #[test]
    fn latency_bars_show_p50_and_p95() {
        let tiers = [TierLatency {
            tier: "flex".into(),
            latency: Latency {
                samples: 10,
                p50_ms: Some(800),
                p95_ms: Some(12_000),
                p99_ms: None,
            },
            time_to_first_token: Latency::default(),
            p50_vs_standard: None,
            p95_vs_standard: None,
        }];
        let svg = latency_bars("Latency", &tiers);
        assert!(svg.contains("p50 800 ms · p95 12.0 s"), "{svg}");
        assert_eq!(svg.matches(r#"class="bar""#).count(), 2);
    }

    #[test]
    fn axis_maxima_are_round() {
        assert_eq!(nice_max(0.0), 0.0);
        assert_eq!(nice_max(7.3), 10.0);
        assert_eq!(nice_max(130.0), 200.0);
        assert_eq!(nice_max(0.042), 0.05);
    }
}
