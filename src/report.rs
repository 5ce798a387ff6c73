//! The monthly tier cost report: one row per (account, region, model, tier) plus a total,
//! built from day rollups (never raw invocations) and rendered as CSV, JSON or Markdown.
//!
//! Money is summed exactly in i128 picodollars and rounded to six decimals only when
//! rendered. Latency percentiles come from the merged rollup histograms (±4.5 %).
//!
//! Money is never shown as $0 for calls without a price: every amount is computed over the
//! priced calls and carries the status of the calls it covers (`CostStatus`). A row whose
//! calls are all unpriced has no cost (an empty CSV field, `null` in JSON, "unpriced" in
//! Markdown); a partly priced row shows the priced amount, marked `partial`.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::str::FromStr;

use chrono::{Datelike, NaiveDate};
use serde::Serialize;

use crate::config::PricingConfig;
use crate::model::{Money, Tier};
use crate::reservations::{FixedCost, ReservationMonth};
use crate::rollup::{Granularity, LatencyMetric, latency};
use crate::store::{CostAmount, CostStatus, Coverage, Store, StoreError, Totals, UnpricedGroup};

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
    /// The Priority calls the premium is computed over (none on other rows).
    pub priority_coverage: Coverage,
    /// The Flex calls the savings are computed over (none on other rows).
    pub flex_coverage: Coverage,
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
    /// Reserved capacity with days in the month: fixed price, what it served, overflow.
    /// Not in the total, which sums calls; the month's bill is the total plus these.
    pub reservations: Vec<ReservationMonth>,
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
        reservations: Vec::new(),
    })
}

/// The report with the configured reservations' section (`[[pricing.reservations]]`); the
/// Price List is read only when there are reservations to price.
pub async fn build_for(
    store: &Store,
    month: Month,
    pricing: &PricingConfig,
) -> Result<MonthlyReport, ReportError> {
    let mut report = build(store, month).await?;
    if pricing.reservations.is_empty() {
        return Ok(report);
    }
    let list = crate::prices::load(pricing, store)
        .await
        .map_err(|error| ReportError::Prices(error.to_string()))?
        .list;
    report.reservations =
        crate::reservations::for_month(store, &pricing.reservations, &list, month.first_day())
            .await?;
    Ok(report)
}

/// Why a report with reservations could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("loading the price table for the reservations failed: {0}")]
    Prices(String),
}

impl ReportRow {
    /// The row's cost, as far as its calls have a price.
    pub fn cost(&self) -> CostAmount {
        self.totals.cost()
    }

    pub fn standard_equivalent(&self) -> CostAmount {
        self.totals.standard_equivalent()
    }

    /// The Priority premium, over the row's priced Priority calls.
    pub fn premium(&self) -> CostAmount {
        self.priority_coverage.amount(self.priority_premium_pico)
    }

    /// The Flex savings, over the row's priced Flex calls.
    pub fn savings(&self) -> CostAmount {
        self.flex_coverage.amount(self.flex_savings_pico)
    }
}

fn make_row(key: RowKey, totals: RowTotals, histogram: Option<&BTreeMap<i16, u64>>) -> ReportRow {
    let difference = totals.compared_cost_pico - totals.standard_cost_pico;
    let tier = Tier::from_stored(&key.tier);
    let (p50, p95) = percentiles(histogram);
    let of_tier = |wanted: Tier| {
        if tier == Some(wanted) {
            totals.coverage()
        } else {
            Coverage::default()
        }
    };
    ReportRow {
        priority_coverage: of_tier(Tier::Priority),
        flex_coverage: of_tier(Tier::Flex),
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
    let mut priority_coverage = Coverage::default();
    let mut flex_coverage = Coverage::default();
    for row in rows {
        totals.add(&row.totals);
        premium += row.priority_premium_pico;
        savings += row.flex_savings_pico;
        priority_coverage.add(row.priority_coverage);
        flex_coverage.add(row.flex_coverage);
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
        priority_coverage,
        flex_coverage,
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
pub const CSV_COLUMNS: [&str; 19] = [
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
    "cost_status",
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
        let reservations = self
            .reservations
            .iter()
            .map(|month| self.reservation_fields(month, ""));
        for fields in self
            .all_rows()
            .map(|row| self.fields(row, ""))
            .chain(reservations)
        {
            let line: Vec<String> = fields.iter().map(|field| csv_field(field)).collect();
            out.push_str(&line.join(","));
            out.push('\n');
        }
        out
    }

    /// A reservation as a row after the total: tier `reservation:NAME`, the calls and tokens
    /// it served (also in its Reserved-tier rows above, at no per-token cost), and its fixed
    /// price for the month as the cost.
    fn reservation_fields(&self, month: &ReservationMonth, unknown: &str) -> Vec<String> {
        let reservation = &month.reservation;
        let served = &month.served;
        let (cost, status) = match &month.fixed_cost {
            FixedCost::Known { pico, .. } => (Money::format_usd(*pico), CostStatus::Priced),
            FixedCost::Unknown { .. } => (unknown.to_string(), CostStatus::Unpriced),
        };
        vec![
            self.month.to_string(),
            reservation.account.clone().unwrap_or_else(|| "*".into()),
            reservation.region.clone(),
            reservation.model_id.clone(),
            format!("reservation:{}", reservation.name),
            served.invocations.to_string(),
            served.errors.to_string(),
            served.input_tokens.to_string(),
            served.output_tokens.to_string(),
            served.cache_read_tokens.to_string(),
            served.cache_write_tokens.to_string(),
            cost,
            status.as_str().to_string(),
            Money::format_usd(month.standard_equivalent_pico),
            String::new(),
            String::new(),
            "0".into(),
            String::new(),
            String::new(),
        ]
    }

    /// A row's values in CSV column order, as text; an amount whose calls are all unpriced
    /// reads as `unknown` (empty in CSV), never as 0.
    fn fields(&self, row: &ReportRow, unknown: &str) -> Vec<String> {
        let t = &row.totals;
        let optional = |value: Option<u64>| value.map_or_else(String::new, |v| v.to_string());
        let money = |amount: CostAmount| amount.usd().unwrap_or_else(|| unknown.to_string());
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
            money(row.cost()),
            t.cost_status().as_str().to_string(),
            money(row.standard_equivalent()),
            money(row.premium()),
            money(row.savings()),
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
            reservations: self.reservations.iter().map(json_reservation).collect(),
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
            cost_usd: row.cost().usd(),
            cost_status: t.cost_status(),
            standard_equivalent_usd: row.standard_equivalent().usd(),
            priority_premium_usd: row.premium().usd(),
            flex_savings_usd: row.savings().usd(),
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
        let _ = writeln!(out, "{}\n", self.markdown_total());
        let header = &CSV_COLUMNS[1..];
        let _ = writeln!(out, "| {} |", header.join(" | "));
        let alignments: Vec<&str> = header
            .iter()
            .enumerate()
            .map(|(index, name)| match (index, *name) {
                (0..4, _) | (_, "cost_status") => "---",
                _ => "---:",
            })
            .collect();
        let _ = writeln!(out, "| {} |", alignments.join(" | "));
        for row in self.all_rows() {
            let cells: Vec<String> = self.fields(row, "unpriced")[1..]
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
        if !self.reservations.is_empty() {
            self.markdown_reservations(&mut out);
        }
        let _ = writeln!(
            out,
            "\n`input_tokens` are billed at the plain input rate; cache reads and writes are separate. \
             `standard_equivalent_usd` is what the same tokens cost on Standard. \
             Amounts cover priced invocations only: `partial` rows leave out their unpriced \
             invocations, and `unpriced` amounts are unknown, not $0. \
             Latency percentiles are within ±4.5 %."
        );
        out
    }
}

impl MonthlyReport {
    /// The Reserved capacity section: fixed price, what it served, effective rate, overflow.
    fn markdown_reservations(&self, out: &mut String) {
        let _ = writeln!(out, "\n## Reserved capacity\n");
        let _ = writeln!(
            out,
            "Fixed monthly prices, not in the total above (which sums calls): the month's bill is \
             the total plus these. Calls a reservation served cost nothing per token; overflow \
             asked for Reserved and was served, and billed, on another tier.\n"
        );
        let _ = writeln!(
            out,
            "| reservation | region | model_id | TPM in / out | days | fixed cost | calls served | tokens served | effective $/1M tokens | on Standard | overflow calls | overflow cost |"
        );
        let _ = writeln!(
            out,
            "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
        );
        for month in &self.reservations {
            let r = &month.reservation;
            let fixed = match &month.fixed_cost {
                FixedCost::Known { pico, basis } => {
                    format!("${} ({basis})", Money::format_usd(*pico))
                }
                FixedCost::Unknown { reason } => format!("unpriced: {reason}"),
            };
            let effective = month.effective_per_million_pico().map_or_else(
                || "—".to_string(),
                |pico| format!("${}", Money::format_usd(pico)),
            );
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} / {} | {} | {} | {} | {} | {} | ${} | {} | ${} |",
                markdown_cell(&r.name),
                markdown_cell(&r.region),
                markdown_cell(&r.model_id),
                r.input_tpm,
                r.output_tpm,
                month.days,
                markdown_cell(&fixed),
                month.served.invocations,
                month.served_tokens(),
                effective,
                Money::format_usd(month.standard_equivalent_pico),
                overflow_calls(month),
                overflow_cost(month),
            );
        }
    }

    /// The Markdown total line: the month's cost, premium and savings, and the calls they
    /// leave out for want of a price.
    fn markdown_total(&self) -> String {
        let t = &self.total.totals;
        let cost = match self.total.cost().usd() {
            Some(usd) => format!("${usd}"),
            None => "unpriced".into(),
        };
        let coverage = match t.cost_status() {
            CostStatus::Priced => "all priced".to_string(),
            CostStatus::Partial => format!(
                "partial: it leaves out {} unpriced {}",
                t.unpriced_invocations,
                invocations(t.unpriced_invocations)
            ),
            CostStatus::Unpriced => format!(
                "no invocation has a price: it leaves out all {} unpriced {}",
                t.unpriced_invocations,
                invocations(t.unpriced_invocations)
            ),
        };
        format!(
            "Total **{cost}** over {} invocations ({coverage}); Priority premium {}, Flex savings {}.",
            t.invocations,
            markdown_amount(self.total.premium()),
            markdown_amount(self.total.savings()),
        )
    }
}

/// An amount in prose: `$1.000000`, `$1.000000 (partial: 2 unpriced invocations left out)`,
/// or `unpriced`.
fn markdown_amount(amount: CostAmount) -> String {
    let unpriced = amount.unpriced_invocations();
    match (amount.usd(), amount.status()) {
        (None, _) => format!("unpriced ({unpriced} {})", invocations(unpriced)),
        (Some(usd), CostStatus::Partial) => format!(
            "${usd} (partial: {unpriced} unpriced {} left out)",
            invocations(unpriced)
        ),
        (Some(usd), _) => format!("${usd}"),
    }
}

fn invocations(count: i64) -> &'static str {
    if count == 1 {
        "invocation"
    } else {
        "invocations"
    }
}

/// A reservation's month in the JSON report.
#[derive(Serialize)]
struct JsonReservation {
    name: String,
    account_id: Option<String>,
    region: String,
    model_id: String,
    input_tpm: u64,
    output_tpm: u64,
    term_months: u8,
    start: String,
    end: String,
    days: u32,
    /// `null` when neither a monthly price nor the Price List gives it.
    fixed_cost_usd: Option<String>,
    fixed_cost_status: CostStatus,
    /// What the fixed cost was computed from, or why it is unknown.
    fixed_cost_basis: String,
    served_invocations: i64,
    served_tokens: i64,
    effective_usd_per_1m_tokens: Option<String>,
    standard_equivalent_usd: String,
    /// `null` (both) when the month's raw invocations were dropped by retention.
    overflow_invocations: Option<i64>,
    overflow_cost_usd: Option<String>,
}

fn json_reservation(month: &ReservationMonth) -> JsonReservation {
    let r = &month.reservation;
    let (fixed_cost_usd, fixed_cost_status, fixed_cost_basis) = match &month.fixed_cost {
        FixedCost::Known { pico, basis } => (
            Some(Money::format_usd(*pico)),
            CostStatus::Priced,
            basis.clone(),
        ),
        FixedCost::Unknown { reason } => (None, CostStatus::Unpriced, reason.clone()),
    };
    JsonReservation {
        name: r.name.clone(),
        account_id: r.account.clone(),
        region: r.region.clone(),
        model_id: r.model_id.clone(),
        input_tpm: r.input_tpm,
        output_tpm: r.output_tpm,
        term_months: r.term_months,
        start: r.start.to_string(),
        end: r.end.to_string(),
        days: month.days,
        fixed_cost_usd,
        fixed_cost_status,
        fixed_cost_basis,
        served_invocations: month.served.invocations,
        served_tokens: month.served_tokens(),
        effective_usd_per_1m_tokens: month.effective_per_million_pico().map(Money::format_usd),
        standard_equivalent_usd: Money::format_usd(month.standard_equivalent_pico),
        overflow_invocations: month.overflow.as_ref().map(|overflow| overflow.invocations),
        overflow_cost_usd: month
            .overflow
            .as_ref()
            .map(|overflow| Money::format_usd(overflow.cost_pico)),
    }
}

/// A reservation's overflow calls, or "unknown" when retention dropped the raw calls.
pub fn overflow_calls(month: &ReservationMonth) -> String {
    month.overflow.as_ref().map_or_else(
        || UNKNOWN_OVERFLOW.to_string(),
        |overflow| overflow.invocations.to_string(),
    )
}

/// A reservation's overflow cost in dollars, or "unknown" (see [`overflow_calls`]).
pub fn overflow_cost(month: &ReservationMonth) -> String {
    month.overflow.as_ref().map_or_else(
        || UNKNOWN_OVERFLOW.to_string(),
        |overflow| Money::format_usd(overflow.cost_pico),
    )
}

/// Shown for the overflow of a month whose raw invocations retention dropped.
const UNKNOWN_OVERFLOW: &str = "unknown (raw calls dropped by retention)";

#[derive(Serialize)]
struct JsonReport<'a> {
    month: String,
    currency: &'static str,
    rows: Vec<JsonRow<'a>>,
    total: JsonRow<'a>,
    unpriced: Vec<JsonUnpriced<'a>>,
    /// Reserved capacity: fixed monthly prices, not in `total` (which sums calls).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    reservations: Vec<JsonReservation>,
}

/// Money is written as decimal strings with six places, so no reader parses it as a float;
/// `null` when the calls it covers are all unpriced (`cost_status` says which rows are partial).
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
    cost_usd: Option<String>,
    cost_status: CostStatus,
    standard_equivalent_usd: Option<String>,
    priority_premium_usd: Option<String>,
    flex_savings_usd: Option<String>,
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
        row_with(tier, 2, 0, cost, standard)
    }

    /// A row of `priced` priced calls costing `cost` and `unpriced` calls with no price.
    fn row_with(tier: Tier, priced: i64, unpriced: i64, cost: i128, standard: i128) -> ReportRow {
        let totals = RowTotals {
            invocations: priced + unpriced,
            priced_invocations: priced,
            unpriced_invocations: unpriced,
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
            reservations: Vec::new(),
        };
        let csv = report.to_csv();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(
            lines[0],
            "month,account_id,region,model_id,tier,invocations,errors,input_tokens,output_tokens,cache_read_tokens,cache_write_tokens,cost_usd,cost_status,standard_equivalent_usd,priority_premium_usd,flex_savings_usd,unpriced_invocations,p50_latency_ms,p95_latency_ms"
        );
        assert_eq!(
            lines[1],
            "2025-11,111122223333,us-east-1,m,flex,2,0,0,0,0,0,0.000002,priced,0.000003,0.000000,0.000002,0,,"
        );
        assert_eq!(
            lines[2],
            "2025-11,total,,,,2,0,0,0,0,0,0.000002,priced,0.000003,0.000000,0.000002,0,,"
        );
        assert_eq!(lines.len(), 3);
    }

    /// A Priority row with no priced call, a partly priced Flex row (1 of 3 unpriced) and a
    /// priced Standard row.
    fn report_with_unpriced_calls() -> MonthlyReport {
        let rows = vec![
            row_with(Tier::Priority, 0, 2, 0, 0),
            row_with(Tier::Standard, 1, 0, 1_000_000, 1_000_000),
            row_with(Tier::Flex, 2, 1, 1_500_000, 3_000_000),
        ];
        MonthlyReport {
            month: "2025-11".parse().unwrap(),
            total: total_row(&rows, &BTreeMap::new()),
            rows,
            unpriced: vec![],
            reservations: Vec::new(),
        }
    }

    #[test]
    fn csv_leaves_unknown_money_empty_and_says_which_rows_are_partial() {
        let csv = report_with_unpriced_calls().to_csv();
        let lines: Vec<&str> = csv.lines().collect();
        // All unpriced: no cost, no standard equivalent, no premium; never 0.000000.
        assert_eq!(
            lines[1],
            "2025-11,111122223333,us-east-1,m,priority,2,0,0,0,0,0,,unpriced,,,0.000000,2,,"
        );
        assert_eq!(
            lines[2],
            "2025-11,111122223333,us-east-1,m,standard,1,0,0,0,0,0,0.000001,priced,0.000001,0.000000,0.000000,0,,"
        );
        // Partly priced: the priced calls' amounts, marked partial, beside the unpriced count.
        assert_eq!(
            lines[3],
            "2025-11,111122223333,us-east-1,m,flex,3,0,0,0,0,0,0.000002,partial,0.000003,0.000000,0.000002,1,,"
        );
        // The total leaves out 3 calls; its premium covers only unpriced Priority calls.
        assert_eq!(
            lines[4],
            "2025-11,total,,,,6,0,0,0,0,0,0.000003,partial,0.000004,,0.000002,3,,"
        );
    }

    #[test]
    fn json_writes_null_for_unknown_money_with_the_status() {
        let json: serde_json::Value =
            serde_json::from_str(&report_with_unpriced_calls().to_json()).unwrap();
        let priority = &json["rows"][0];
        assert_eq!(priority["cost_usd"], serde_json::Value::Null);
        assert_eq!(priority["cost_status"], "unpriced");
        assert_eq!(priority["standard_equivalent_usd"], serde_json::Value::Null);
        assert_eq!(priority["priority_premium_usd"], serde_json::Value::Null);
        assert_eq!(priority["unpriced_invocations"], 2);
        let flex = &json["rows"][2];
        assert_eq!(flex["cost_usd"], "0.000002");
        assert_eq!(flex["cost_status"], "partial");
        assert_eq!(flex["flex_savings_usd"], "0.000002");
        assert_eq!(flex["unpriced_invocations"], 1);
        assert_eq!(json["rows"][1]["cost_status"], "priced");
        assert_eq!(json["total"]["cost_usd"], "0.000003");
        assert_eq!(json["total"]["cost_status"], "partial");
        assert_eq!(
            json["total"]["priority_premium_usd"],
            serde_json::Value::Null
        );
        assert_eq!(json["total"]["unpriced_invocations"], 3);
    }

    #[test]
    fn markdown_marks_unpriced_and_partial_amounts_and_the_total_says_what_it_leaves_out() {
        let markdown = report_with_unpriced_calls().to_markdown();
        assert!(
            markdown.contains(
                "Total **$0.000003** over 6 invocations (partial: it leaves out 3 unpriced \
                 invocations); Priority premium unpriced (2 invocations), Flex savings $0.000002 \
                 (partial: 1 unpriced invocation left out)."
            ),
            "{markdown}"
        );
        assert!(
            markdown.contains("| cost_usd | cost_status |"),
            "{markdown}"
        );
        assert!(
            markdown.contains("| m | priority | 2 | 0 | 0 | 0 | 0 | 0 | unpriced | unpriced | unpriced | unpriced | 0.000000 | 2 |"),
            "{markdown}"
        );
        assert!(
            markdown.contains("| m | flex | 3 | 0 | 0 | 0 | 0 | 0 | 0.000002 | partial |"),
            "{markdown}"
        );
        assert!(!markdown.contains("| 0.000000 | unpriced |"), "{markdown}");
        // Only unpriced calls: the total says so instead of $0.
        let rows = vec![row_with(Tier::Standard, 0, 4, 0, 0)];
        let report = MonthlyReport {
            month: "2025-11".parse().unwrap(),
            total: total_row(&rows, &BTreeMap::new()),
            rows,
            unpriced: vec![],
            reservations: Vec::new(),
        };
        let markdown = report.to_markdown();
        assert!(
            markdown.contains(
                "Total **unpriced** over 4 invocations (no invocation has a price: it leaves out \
                 all 4 unpriced invocations)"
            ),
            "{markdown}"
        );
        assert!(!markdown.contains("Total **$0"), "{markdown}");
        assert!(!markdown.contains("| 0.000000 | unpriced |"), "{markdown}");
    }
}
