//! The monthly tier cost report: one row per (account, region, model, tier) plus a total,
//! built from day rollups (never raw invocations) and rendered as CSV, JSON or Markdown.
//!
//! Money is summed exactly in i128 picodollars and rounded to six decimals only when
//! rendered. Latency percentiles come from the merged rollup histograms (±4.5 %).

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::str::FromStr;

use chrono::{Datelike, NaiveDate};
use serde::Serialize;

use crate::model::{Money, Tier};
use crate::rollup::{Granularity, LatencyMetric, latency};
use crate::store::{Store, StoreError, Totals, UnpricedGroup};

/// A UTC calendar month.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Month {
    pub year: i32,
    /// 1..=12
    pub month: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid month {0:?}: expected YYYY-MM, such as 2025-11")]
pub struct InvalidMonth(pub String);

impl FromStr for Month {
    type Err = InvalidMonth;

    fn from_str(text: &str) -> Result<Month, InvalidMonth> {
        let invalid = || InvalidMonth(text.to_string());
        let (year, month) = text.trim().split_once('-').ok_or_else(invalid)?;
        if year.len() != 4 || month.len() != 2 {
            return Err(invalid());
        }
        let year: i32 = year.parse().map_err(|_| invalid())?;
        let month: u32 = month.parse().map_err(|_| invalid())?;
        if !(1..=12).contains(&month) {
            return Err(invalid());
        }
        Ok(Month { year, month })
    }
}

impl fmt::Display for Month {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

impl Month {
    /// The month holding a Unix-millisecond time.
    pub fn containing(timestamp_ms: i64) -> Option<Month> {
        let time = chrono::DateTime::from_timestamp_millis(timestamp_ms)?;
        Some(Month {
            year: time.year(),
            month: time.month(),
        })
    }

    pub fn first_day(self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.year, self.month, 1).unwrap_or(NaiveDate::MIN)
    }

    pub fn next(self) -> Month {
        if self.month == 12 {
            Month {
                year: self.year + 1,
                month: 1,
            }
        } else {
            Month {
                year: self.year,
                month: self.month + 1,
            }
        }
    }

    pub fn previous(self) -> Month {
        if self.month == 1 {
            Month {
                year: self.year - 1,
                month: 12,
            }
        } else {
            Month {
                year: self.year,
                month: self.month - 1,
            }
        }
    }

    /// First millisecond of the month, UTC.
    pub fn start_ms(self) -> i64 {
        self.first_day()
            .and_hms_opt(0, 0, 0)
            .map_or(0, |time| time.and_utc().timestamp_millis())
    }

    /// First millisecond after the month.
    pub fn end_ms(self) -> i64 {
        self.next().start_ms()
    }
}

/// What one report row adds up: exact, and in i128 where money can grow (the same sums the
/// dashboard reads; latency sums are carried but the report shows percentiles instead).
pub type RowTotals = Totals;

/// The grouping of a report row.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RowKey {
    pub account_id: String,
    pub region: String,
    pub model_id: String,
    pub tier: String,
}

impl RowKey {
    /// Sort order: account, region, model, then tiers from Priority to Reserved.
    fn order(&self) -> (&str, &str, &str, usize) {
        let tier_rank = Tier::from_stored(&self.tier).map_or(Tier::ALL.len(), |tier| tier as usize);
        (&self.account_id, &self.region, &self.model_id, tier_rank)
    }
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportRow {
    pub key: RowKey,
    pub totals: RowTotals,
    /// Premium paid for Priority over Standard (Priority rows; the sum of them on the total).
    pub priority_premium_pico: i128,
    /// Saved by Flex against Standard (Flex rows; the sum of them on the total).
    pub flex_savings_pico: i128,
    pub p50_latency_ms: Option<u64>,
    pub p95_latency_ms: Option<u64>,
}

/// The report for one month.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonthlyReport {
    pub month: Month,
    pub rows: Vec<ReportRow>,
    pub total: ReportRow,
    /// Unpriced invocations of the month, by cause.
    pub unpriced: Vec<UnpricedGroup>,
}

/// The account id written on the total row.
pub const TOTAL_LABEL: &str = "total";

/// Builds the report for `month` from the day rollups.
pub async fn build(store: &Store, month: Month) -> Result<MonthlyReport, StoreError> {
    let (start_s, end_s) = (month.start_ms() / 1000, month.end_ms() / 1000);
    let cells = store.read_cells(Granularity::Day, start_s, end_s).await?;
    let bins = store
        .read_bins(Granularity::Day, start_s, end_s, LatencyMetric::Total)
        .await?;
    let unpriced = store
        .unpriced_groups(month.start_ms(), month.end_ms())
        .await?;

    let mut groups: BTreeMap<RowKey, RowTotals> = BTreeMap::new();
    for cell in &cells {
        let key = RowKey {
            account_id: cell.account_id.clone(),
            region: cell.region.clone(),
            model_id: cell.model_id.clone(),
            tier: cell.tier.clone(),
        };
        groups.entry(key).or_default().add_cell(&cell.totals);
    }
    let mut histograms: BTreeMap<RowKey, BTreeMap<i16, u64>> = BTreeMap::new();
    let mut all_bins: BTreeMap<i16, u64> = BTreeMap::new();
    for bin in &bins {
        let key = RowKey {
            account_id: bin.account_id.clone(),
            region: bin.region.clone(),
            model_id: bin.model_id.clone(),
            tier: bin.tier.clone(),
        };
        let count = u64::try_from(bin.count).unwrap_or(0);
        *histograms
            .entry(key)
            .or_default()
            .entry(bin.bin)
            .or_default() += count;
        *all_bins.entry(bin.bin).or_default() += count;
    }

    let mut rows: Vec<ReportRow> = groups
        .into_iter()
        .map(|(key, totals)| {
            let histogram = histograms.get(&key);
            make_row(key, totals, histogram)
        })
        .collect();
    rows.sort_by(|a, b| a.key.order().cmp(&b.key.order()));
    let total = total_row(&rows, &all_bins);
    Ok(MonthlyReport {
        month,
        rows,
        total,
        unpriced,
    })
}

fn make_row(key: RowKey, totals: RowTotals, histogram: Option<&BTreeMap<i16, u64>>) -> ReportRow {
    let difference = totals.compared_cost_pico - totals.standard_cost_pico;
    let tier = Tier::from_stored(&key.tier);
    let (p50, p95) = percentiles(histogram);
    ReportRow {
        priority_premium_pico: if tier == Some(Tier::Priority) {
            difference
        } else {
            0
        },
        flex_savings_pico: if tier == Some(Tier::Flex) {
            -difference
        } else {
            0
        },
        key,
        totals,
        p50_latency_ms: p50,
        p95_latency_ms: p95,
    }
}

fn total_row(rows: &[ReportRow], all_bins: &BTreeMap<i16, u64>) -> ReportRow {
    let mut totals = RowTotals::default();
    let mut premium = 0;
    let mut savings = 0;
    for row in rows {
        totals.add(&row.totals);
        premium += row.priority_premium_pico;
        savings += row.flex_savings_pico;
    }
    let (p50, p95) = percentiles(Some(all_bins));
    ReportRow {
        key: RowKey {
            account_id: TOTAL_LABEL.into(),
            region: String::new(),
            model_id: String::new(),
            tier: String::new(),
        },
        totals,
        priority_premium_pico: premium,
        flex_savings_pico: savings,
        p50_latency_ms: p50,
        p95_latency_ms: p95,
    }
}

fn percentiles(histogram: Option<&BTreeMap<i16, u64>>) -> (Option<u64>, Option<u64>) {
    let Some(histogram) = histogram else {
        return (None, None);
    };
    let bins: Vec<(i16, u64)> = histogram
        .iter()
        .map(|(bin, count)| (*bin, *count))
        .collect();
    (
        latency::quantile(&bins, 0.50),
        latency::quantile(&bins, 0.95),
    )
}

/// Report output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Csv,
    Json,
    Markdown,
}

/// The CSV columns, in order.
pub const CSV_COLUMNS: [&str; 18] = [
    "month",
    "account_id",
    "region",
    "model_id",
    "tier",
    "invocations",
    "errors",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "cost_usd",
    "standard_equivalent_usd",
    "priority_premium_usd",
    "flex_savings_usd",
    "unpriced_invocations",
    "p50_latency_ms",
    "p95_latency_ms",
];

impl MonthlyReport {
    pub fn render(&self, format: Format) -> String {
        match format {
            Format::Csv => self.to_csv(),
            Format::Json => self.to_json(),
            Format::Markdown => self.to_markdown(),
        }
    }

    /// All rows then the total row.
    fn all_rows(&self) -> impl Iterator<Item = &ReportRow> {
        self.rows.iter().chain(std::iter::once(&self.total))
    }

    pub fn to_csv(&self) -> String {
        let mut out = CSV_COLUMNS.join(",");
        out.push('\n');
        for row in self.all_rows() {
            let fields = self.fields(row);
            let line: Vec<String> = fields.iter().map(|field| csv_field(field)).collect();
            out.push_str(&line.join(","));
            out.push('\n');
        }
        out
    }

    /// A row's values in CSV column order, as text.
    fn fields(&self, row: &ReportRow) -> Vec<String> {
        let t = &row.totals;
        let optional = |value: Option<u64>| value.map_or_else(String::new, |v| v.to_string());
        vec![
            self.month.to_string(),
            row.key.account_id.clone(),
            row.key.region.clone(),
            row.key.model_id.clone(),
            row.key.tier.clone(),
            t.invocations.to_string(),
            t.errors.to_string(),
            t.input_tokens.to_string(),
            t.output_tokens.to_string(),
            t.cache_read_tokens.to_string(),
            t.cache_write_tokens.to_string(),
            Money::format_usd(t.cost_pico),
            Money::format_usd(t.standard_cost_pico),
            Money::format_usd(row.priority_premium_pico),
            Money::format_usd(row.flex_savings_pico),
            t.unpriced_invocations.to_string(),
            optional(row.p50_latency_ms),
            optional(row.p95_latency_ms),
        ]
    }

    pub fn to_json(&self) -> String {
        let rows: Vec<JsonRow> = self.rows.iter().map(|row| self.json_row(row)).collect();
        let unpriced: Vec<JsonUnpriced> = self
            .unpriced
            .iter()
            .map(|group| JsonUnpriced {
                model_id: &group.model_id,
                region: &group.region,
                tier: &group.tier,
                reason: &group.reason,
                invocations: group.invocations,
            })
            .collect();
        let document = JsonReport {
            month: self.month.to_string(),
            currency: "USD",
            rows,
            total: self.json_row(&self.total),
            unpriced,
        };
        // Serializing plain strings and integers cannot fail.
        serde_json::to_string_pretty(&document).unwrap_or_default() + "\n"
    }

    fn json_row<'a>(&self, row: &'a ReportRow) -> JsonRow<'a> {
        let t = &row.totals;
        JsonRow {
            account_id: &row.key.account_id,
            region: &row.key.region,
            model_id: &row.key.model_id,
            tier: &row.key.tier,
            invocations: t.invocations,
            errors: t.errors,
            input_tokens: t.input_tokens,
            output_tokens: t.output_tokens,
            cache_read_tokens: t.cache_read_tokens,
            cache_write_tokens: t.cache_write_tokens,
            cost_usd: Money::format_usd(t.cost_pico),
            standard_equivalent_usd: Money::format_usd(t.standard_cost_pico),
            priority_premium_usd: Money::format_usd(row.priority_premium_pico),
            flex_savings_usd: Money::format_usd(row.flex_savings_pico),
            unpriced_invocations: t.unpriced_invocations,
            p50_latency_ms: row.p50_latency_ms,
            p95_latency_ms: row.p95_latency_ms,
        }
    }

    pub fn to_markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# Bedrock cost by service tier, {} (UTC)\n",
            self.month
        );
        let t = &self.total.totals;
        let _ = writeln!(
            out,
            "Total **${}** over {} invocations; Priority premium ${}, Flex savings ${}; {} unpriced invocations.\n",
            Money::format_usd(t.cost_pico),
            t.invocations,
            Money::format_usd(self.total.priority_premium_pico),
            Money::format_usd(self.total.flex_savings_pico),
            t.unpriced_invocations,
        );
        let header = &CSV_COLUMNS[1..];
        let _ = writeln!(out, "| {} |", header.join(" | "));
        let alignments: Vec<&str> = header
            .iter()
            .enumerate()
            .map(|(index, _)| if index < 4 { "---" } else { "---:" })
            .collect();
        let _ = writeln!(out, "| {} |", alignments.join(" | "));
        for row in self.all_rows() {
            let cells: Vec<String> = self.fields(row)[1..]
                .iter()
                .map(|cell| markdown_cell(cell))
                .collect();
            let _ = writeln!(out, "| {} |", cells.join(" | "));
        }
        if !self.unpriced.is_empty() {
            let _ = writeln!(out, "\n## Unpriced invocations\n");
            let _ = writeln!(
                out,
                "Not in the totals above; add prices to the table and run `tierwatch reprice --month {}`.\n",
                self.month
            );
            let _ = writeln!(out, "| model_id | region | tier | invocations | reason |");
            let _ = writeln!(out, "| --- | --- | --- | ---: | --- |");
            for group in &self.unpriced {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} | {} |",
                    markdown_cell(&group.model_id),
                    markdown_cell(&group.region),
                    markdown_cell(&group.tier),
                    group.invocations,
                    markdown_cell(&group.reason)
                );
            }
        }
        let _ = writeln!(
            out,
            "\n`input_tokens` are billed at the plain input rate; cache reads and writes are separate. \
             `standard_equivalent_usd` is what the same tokens cost on Standard. \
             Latency percentiles are within ±4.5 %."
        );
        out
    }
}

#[derive(Serialize)]
struct JsonReport<'a> {
    month: String,
    currency: &'static str,
    rows: Vec<JsonRow<'a>>,
    total: JsonRow<'a>,
    unpriced: Vec<JsonUnpriced<'a>>,
}

/// Money is written as decimal strings with six places, so no reader parses it as a float.
#[derive(Serialize)]
struct JsonRow<'a> {
    account_id: &'a str,
    region: &'a str,
    model_id: &'a str,
    tier: &'a str,
    invocations: i64,
    errors: i64,
    input_tokens: i64,
    output_tokens: i64,
    cache_read_tokens: i64,
    cache_write_tokens: i64,
    cost_usd: String,
    standard_equivalent_usd: String,
    priority_premium_usd: String,
    flex_savings_usd: String,
    unpriced_invocations: i64,
    p50_latency_ms: Option<u64>,
    p95_latency_ms: Option<u64>,
}

#[derive(Serialize)]
struct JsonUnpriced<'a> {
    model_id: &'a str,
    region: &'a str,
    tier: &'a str,
    reason: &'a str,
    invocations: i64,
}

/// Quotes a CSV field when it holds a comma, quote or line break (RFC 4180).
fn csv_field(field: &str) -> String {
    if field.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_string()
    }
}

/// Escapes the characters that would break a Markdown table cell.
fn markdown_cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_parse_strictly_and_span_utc_calendar_months() {
        let month: Month = "2025-11".parse().unwrap();
        assert_eq!(month.to_string(), "2025-11");
        assert_eq!(month.start_ms(), 1_761_955_200_000); // 2025-11-01T00:00:00Z
        assert_eq!(month.end_ms(), 1_764_547_200_000); // 2025-12-01T00:00:00Z
        assert_eq!(
            "2025-12".parse::<Month>().unwrap().next().to_string(),
            "2026-01"
        );
        assert_eq!(
            "2026-01".parse::<Month>().unwrap().previous().to_string(),
            "2025-12"
        );
        for bad in [
            "2025-13", "2025-1", "25-11", "2025/11", "", "2025-00", "abcd-ef",
        ] {
            assert!(bad.parse::<Month>().is_err(), "{bad}");
        }
        assert_eq!(Month::containing(1_764_547_199_999), Some(month));
    }

    #[test]
    fn csv_fields_are_quoted_only_when_needed() {
        assert_eq!(csv_field("amazon.nova-pro-v1:0"), "amazon.nova-pro-v1:0");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
    }

    fn row(tier: Tier, cost: i128, standard: i128) -> ReportRow {
        let totals = RowTotals {
            invocations: 2,
            priced_invocations: 2,
            cost_pico: cost,
            standard_cost_pico: standard,
            compared_cost_pico: cost,
            ..RowTotals::default()
        };
        let key = RowKey {
            account_id: "111122223333".into(),
            region: "us-east-1".into(),
            model_id: "m".into(),
            tier: tier.as_str().into(),
        };
        make_row(key, totals, None)
    }

    #[test]
    fn premium_and_savings_apply_to_their_tier_only() {
        let priority = row(Tier::Priority, 1_750, 1_000);
        let flex = row(Tier::Flex, 500, 1_000);
        let standard = row(Tier::Standard, 1_000, 1_000);
        assert_eq!(priority.priority_premium_pico, 750);
        assert_eq!(priority.flex_savings_pico, 0);
        assert_eq!(flex.flex_savings_pico, 500);
        assert_eq!(flex.priority_premium_pico, 0);
        assert_eq!(
            standard.priority_premium_pico + standard.flex_savings_pico,
            0
        );
        let total = total_row(&[priority, flex, standard], &BTreeMap::new());
        assert_eq!(total.totals.cost_pico, 3_250);
        assert_eq!(total.priority_premium_pico, 750);
        assert_eq!(total.flex_savings_pico, 500);
        assert_eq!(total.p50_latency_ms, None);
    }

    #[test]
    fn csv_has_the_documented_columns_and_a_total_row() {
        let report = MonthlyReport {
            month: "2025-11".parse().unwrap(),
            rows: vec![row(Tier::Flex, 1_500_000, 3_000_000)],
            total: total_row(&[row(Tier::Flex, 1_500_000, 3_000_000)], &BTreeMap::new()),
            unpriced: vec![],
        };
        let csv = report.to_csv();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(
            lines[0],
            "month,account_id,region,model_id,tier,invocations,errors,input_tokens,output_tokens,cache_read_tokens,cache_write_tokens,cost_usd,standard_equivalent_usd,priority_premium_usd,flex_savings_usd,unpriced_invocations,p50_latency_ms,p95_latency_ms"
        );
        assert_eq!(
            lines[1],
            "2025-11,111122223333,us-east-1,m,flex,2,0,0,0,0,0,0.000002,0.000003,0.000000,0.000002,0,,"
        );
        assert_eq!(
            lines[2],
            "2025-11,total,,,,2,0,0,0,0,0,0.000002,0.000003,0.000000,0.000002,0,,"
        );
        assert_eq!(lines.len(), 3);
    }
}
