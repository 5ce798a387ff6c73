//! Aggregate reads for the dashboard, its API and alerts: sums over rollup cells, filtered
//! and grouped in SQL, so a page reads a handful of rows whatever the number of invocations.
//!
//! The SQL is the same on both backends (`$N` parameters work in SQLite too); histograms are
//! read packed, one value per cell, and merged here ([`fold_packed`]). Sums come back
//! as text and are parsed into i128: Postgres sums BIGINT into NUMERIC, and text is the one
//! type both databases hand over exactly. Should a sum pass i64 in SQLite, SQLite reports an
//! integer overflow: an error, never a wrong number.

use crate::rollup::{CellTotals, FastMap, Granularity, LatencyMetric, latency};

use super::StoreError;

/// Which cells a read covers: one granularity, `start ≤ bucket_start < end` (Unix seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CellSpan {
    pub granularity: Granularity,
    pub start_s: i64,
    pub end_s: i64,
}

/// Narrows a read to one account, region, model, served tier and/or caller value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub account: Option<String>,
    pub region: Option<String>,
    pub model: Option<String>,
    /// Stored tier name: priority, standard, flex, reserved.
    pub tier: Option<String>,
    pub caller: Option<CallerFilter>,
}

/// One value of one caller dimension (`identity`, `meta:team`, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallerFilter {
    pub dimension: String,
    pub value: String,
}

/// Which columns rows are grouped by; the others are summed over (and read back empty).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Grouping {
    pub bucket: bool,
    pub account: bool,
    pub region: bool,
    pub model: bool,
    pub tier: bool,
}

impl Grouping {
    pub const NONE: Grouping = Grouping {
        bucket: false,
        account: false,
        region: false,
        model: false,
        tier: false,
    };
    pub const TIER: Grouping = Grouping {
        tier: true,
        ..Grouping::NONE
    };
    pub const BUCKET_TIER: Grouping = Grouping {
        bucket: true,
        tier: true,
        ..Grouping::NONE
    };
    pub const MODEL_TIER: Grouping = Grouping {
        model: true,
        tier: true,
        ..Grouping::NONE
    };
}

/// Exact sums of a group of cells.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Totals {
    pub invocations: i64,
    pub errors: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cache_read_tokens: i64,
    pub cache_write_tokens: i64,
    pub priced_invocations: i64,
    pub unpriced_invocations: i64,
    /// Picodollars.
    pub cost_pico: i128,
    /// Standard-tier cost of the priced invocations that have a Standard price.
    pub standard_cost_pico: i128,
    /// Actual cost of those same invocations.
    pub compared_cost_pico: i128,
    /// Latency sums (zero in caller reads, which keep no latency).
    pub latency_count: i64,
    pub latency_sum_ms: i64,
    pub first_token_count: i64,
    pub first_token_sum_ms: i64,
}

impl Totals {
    /// Adds one rollup cell.
    pub fn add_cell(&mut self, cell: &CellTotals) {
        self.add(&Totals {
            invocations: cell.invocations,
            errors: cell.errors,
            input_tokens: cell.input_tokens,
            output_tokens: cell.output_tokens,
            cache_read_tokens: cell.cache_read_tokens,
            cache_write_tokens: cell.cache_write_tokens,
            priced_invocations: cell.priced_invocations,
            unpriced_invocations: cell.unpriced_invocations,
            cost_pico: i128::from(cell.cost_pico),
            standard_cost_pico: i128::from(cell.standard_cost_pico),
            compared_cost_pico: i128::from(cell.compared_cost_pico),
            latency_count: cell.latency_count,
            latency_sum_ms: cell.latency_sum_ms,
            first_token_count: cell.first_token_count,
            first_token_sum_ms: cell.first_token_sum_ms,
        });
    }

    pub fn add(&mut self, other: &Totals) {
        self.invocations += other.invocations;
        self.errors += other.errors;
        self.input_tokens += other.input_tokens;
        self.output_tokens += other.output_tokens;
        self.cache_read_tokens += other.cache_read_tokens;
        self.cache_write_tokens += other.cache_write_tokens;
        self.priced_invocations += other.priced_invocations;
        self.unpriced_invocations += other.unpriced_invocations;
        self.cost_pico += other.cost_pico;
        self.standard_cost_pico += other.standard_cost_pico;
        self.compared_cost_pico += other.compared_cost_pico;
        self.latency_count += other.latency_count;
        self.latency_sum_ms += other.latency_sum_ms;
        self.first_token_count += other.first_token_count;
        self.first_token_sum_ms += other.first_token_sum_ms;
    }

    /// Every kind of token together.
    pub fn total_tokens(&self) -> i64 {
        self.input_tokens + self.output_tokens + self.cache_read_tokens + self.cache_write_tokens
    }

    /// What the invocations compared with Standard cost above it: the Priority premium on
    /// Priority rows, minus the Flex savings on Flex rows.
    pub fn above_standard_pico(&self) -> i128 {
        self.compared_cost_pico - self.standard_cost_pico
    }

    /// How many of these calls have a price.
    pub fn coverage(&self) -> Coverage {
        Coverage {
            priced_invocations: self.priced_invocations,
            unpriced_invocations: self.unpriced_invocations,
        }
    }

    pub fn cost_status(&self) -> CostStatus {
        self.coverage().status()
    }

    /// The cost of these calls, as far as it is known.
    pub fn cost(&self) -> CostAmount {
        self.coverage().amount(self.cost_pico)
    }

    /// What the priced calls would cost on Standard, as far as it is known.
    pub fn standard_equivalent(&self) -> CostAmount {
        self.coverage().amount(self.standard_cost_pico)
    }
}

/// Whether the amount of money over a group of calls is known: the one rule every report,
/// page, API value, metric and alert follows, so no unknown cost ever reads as $0.
///
/// Not-billed calls (failed calls with no tokens) count as neither priced nor unpriced: they
/// cost nothing for certain, so a group of only not-billed calls is `Priced` at $0, and a
/// group of not-billed and unpriced calls is `Unpriced`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CostStatus {
    /// No call of the group lacks a price: the amount is complete.
    Priced,
    /// Some calls have a price and some don't: the amount covers the priced ones only.
    Partial,
    /// Some calls lack a price and none has one: there is no amount to show.
    Unpriced,
}

impl CostStatus {
    /// The status of a group from its counts.
    pub fn of(priced_invocations: i64, unpriced_invocations: i64) -> CostStatus {
        match (priced_invocations > 0, unpriced_invocations > 0) {
            (_, false) => CostStatus::Priced,
            (true, true) => CostStatus::Partial,
            (false, true) => CostStatus::Unpriced,
        }
    }

    /// The name written in reports and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            CostStatus::Priced => "priced",
            CostStatus::Partial => "partial",
            CostStatus::Unpriced => "unpriced",
        }
    }
}

/// The priced and unpriced call counts of a group: what an amount over it can claim.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Coverage {
    pub priced_invocations: i64,
    pub unpriced_invocations: i64,
}

impl Coverage {
    pub fn status(self) -> CostStatus {
        CostStatus::of(self.priced_invocations, self.unpriced_invocations)
    }

    pub fn add(&mut self, other: Coverage) {
        self.priced_invocations += other.priced_invocations;
        self.unpriced_invocations += other.unpriced_invocations;
    }

    /// An amount computed over the priced calls of this group.
    pub fn amount(self, pico: i128) -> CostAmount {
        CostAmount {
            pico,
            coverage: self,
        }
    }
}

/// An amount of money over a group of calls (a cost, or one derived from costs such as the
/// Priority premium), computed over the group's priced calls only, with the group's coverage.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CostAmount {
    /// Picodollars of the priced calls (0 when none has a price: read `known_pico`).
    pub pico: i128,
    pub coverage: Coverage,
}

impl CostAmount {
    pub fn status(&self) -> CostStatus {
        self.coverage.status()
    }

    /// The amount, or `None` when no call of the group has a price.
    pub fn known_pico(&self) -> Option<i128> {
        (self.status() != CostStatus::Unpriced).then_some(self.pico)
    }

    /// USD with six decimals, or `None` when no call of the group has a price.
    pub fn usd(&self) -> Option<String> {
        self.known_pico().map(crate::model::Money::format_usd)
    }

    /// Calls of the group the amount leaves out.
    pub fn unpriced_invocations(&self) -> i64 {
        self.coverage.unpriced_invocations
    }

    /// Adds another group's amount: the sum covers both groups' calls.
    pub fn add(&mut self, other: CostAmount) {
        self.pico += other.pico;
        self.coverage.add(other.coverage);
    }
}

/// Plain text for messages: `$12.345678`, `$12.345678 (partial: 2 unpriced calls left out)`
/// or `unpriced (2 calls)`.
impl std::fmt::Display for CostAmount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let unpriced = self.unpriced_invocations();
        let calls = if unpriced == 1 { "call" } else { "calls" };
        match (self.usd(), self.status()) {
            (None, _) => write!(f, "unpriced ({unpriced} {calls})"),
            (Some(usd), CostStatus::Partial) => {
                write!(f, "${usd} (partial: {unpriced} unpriced {calls} left out)")
            }
            (Some(usd), _) => write!(f, "${usd}"),
        }
    }
}

/// One group of an aggregate read. Columns not grouped by are empty (bucket 0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AggregateRow {
    pub bucket_start: i64,
    pub account_id: String,
    pub region: String,
    pub model_id: String,
    pub tier: String,
    /// The caller value, in caller reads.
    pub caller: String,
    pub totals: Totals,
}

/// The merged latency histogram of one group: `(bin, count)` in bin order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistogramRow {
    pub bucket_start: i64,
    pub account_id: String,
    pub region: String,
    pub model_id: String,
    pub tier: String,
    pub bins: Vec<(i16, u64)>,
}

/// Both latency metrics' merged histograms of each group.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LatencyHistograms {
    pub total: Vec<HistogramRow>,
    pub first_token: Vec<HistogramRow>,
}

impl LatencyHistograms {
    pub fn of(&self, metric: LatencyMetric) -> &[HistogramRow] {
        match metric {
            LatencyMetric::Total => &self.total,
            LatencyMetric::FirstToken => &self.first_token,
        }
    }
}

/// A bound parameter of a built query.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) enum Param {
    Int(i64),
    Text(String),
}

/// A query built at run time from fixed fragments; values only ever travel as parameters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct BuiltQuery {
    pub sql: String,
    pub params: Vec<Param>,
}

impl BuiltQuery {
    /// A key for a fixed read that is not built here (cache keys only).
    pub(super) fn named(name: &str, params: Vec<Param>) -> BuiltQuery {
        BuiltQuery {
            sql: name.to_string(),
            params,
        }
    }

    fn param(&mut self, param: Param) -> String {
        self.params.push(param);
        format!("${}", self.params.len())
    }
}

/// The sums read for every aggregate: (output name, column). Caller cells keep no latency.
const SUMMED: [&str; 15] = [
    "invocations",
    "errors",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "priced_invocations",
    "unpriced_invocations",
    "cost_pico",
    "standard_cost_pico",
    "compared_cost_pico",
    "latency_count",
    "latency_sum_ms",
    "first_token_count",
    "first_token_sum_ms",
];
const LATENCY_SUMS: usize = 4;

/// The table an aggregate reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Table<'a> {
    Rollups,
    /// Caller cells of one dimension, optionally grouped by their value.
    Callers {
        dimension: &'a str,
        group_by_value: bool,
    },
}

/// The cells a read sums. A read of rollups whose filter and grouping name no account, region
/// or model reads the tier cells (every series of a tier summed ahead, so a week of hourly bars
/// reads 168 cells per tier instead of 168 per series); other reads join cells to their series.
#[derive(Debug, Clone, Copy)]
struct CellSource {
    from: &'static str,
    tier: &'static str,
}

impl CellSource {
    const SERIES: CellSource = CellSource {
        from: "rollups r JOIN series s ON s.id = r.series_id",
        tier: "s.tier",
    };
    const TIERS: CellSource = CellSource {
        from: "tier_rollups r",
        tier: "r.tier",
    };

    const CALLERS: CellSource = CellSource {
        from: "caller_rollups r JOIN series s ON s.id = r.series_id",
        tier: "s.tier",
    };

    fn of(table: Table<'_>, filter: &Filter, group: Grouping) -> CellSource {
        if matches!(table, Table::Callers { .. }) {
            return CellSource::CALLERS;
        }
        let names_series = filter.account.is_some()
            || filter.region.is_some()
            || filter.model.is_some()
            || group.account
            || group.region
            || group.model;
        if names_series {
            CellSource::SERIES
        } else {
            CellSource::TIERS
        }
    }
}

/// `SELECT` of the grouped columns (or typed empty values) shared by aggregates and
/// histograms, plus the `GROUP BY` / `ORDER BY` list.
fn group_columns(
    group: Grouping,
    caller_value: bool,
    source: CellSource,
) -> (Vec<String>, Vec<&'static str>) {
    let columns: [(bool, &str, &str, &str); 6] = [
        (
            group.bucket,
            "r.bucket_start",
            "CAST(0 AS BIGINT)",
            "bucket_start",
        ),
        (
            group.account,
            "s.account_id",
            "CAST('' AS TEXT)",
            "account_id",
        ),
        (group.region, "s.region", "CAST('' AS TEXT)", "region"),
        (group.model, "s.model_id", "CAST('' AS TEXT)", "model_id"),
        (group.tier, source.tier, "CAST('' AS TEXT)", "tier"),
        (caller_value, "r.value", "CAST('' AS TEXT)", "caller"),
    ];
    let mut select = Vec::new();
    let mut grouped = Vec::new();
    for (on, column, empty, name) in columns {
        if on {
            select.push(format!("{column} AS {name}"));
            grouped.push(column);
        } else {
            select.push(format!("{empty} AS {name}"));
        }
    }
    (select, grouped)
}

/// The `WHERE` clause of a span and filter (the caller filter is applied by the caller).
fn where_clause(
    query: &mut BuiltQuery,
    span: CellSpan,
    filter: &Filter,
    source: CellSource,
) -> String {
    let granularity = query.param(Param::Int(span.granularity.seconds()));
    let start = query.param(Param::Int(span.start_s));
    let end = query.param(Param::Int(span.end_s));
    let mut clause = format!(
        "r.granularity = {granularity} AND r.bucket_start >= {start} AND r.bucket_start < {end}"
    );
    let filters = [
        ("s.account_id", &filter.account),
        ("s.region", &filter.region),
        ("s.model_id", &filter.model),
        (source.tier, &filter.tier),
    ];
    for (column, value) in filters {
        if let Some(value) = value {
            let param = query.param(Param::Text(value.clone()));
            clause.push_str(&format!(" AND {column} = {param}"));
        }
    }
    clause
}

/// Sums of the cells of `span` that pass `filter`, grouped by `group`.
pub(super) fn aggregate_sql(
    table: Table<'_>,
    span: CellSpan,
    filter: &Filter,
    group: Grouping,
) -> BuiltQuery {
    let mut query = BuiltQuery {
        sql: String::new(),
        params: Vec::new(),
    };
    let caller_value = matches!(
        table,
        Table::Callers {
            group_by_value: true,
            ..
        }
    );
    let source = CellSource::of(table, filter, group);
    let (mut select, grouped) = group_columns(group, caller_value, source);
    let latency_kept = table == Table::Rollups;
    for (index, name) in SUMMED.iter().enumerate() {
        let is_latency = index >= SUMMED.len() - LATENCY_SUMS;
        if is_latency && !latency_kept {
            select.push(format!("CAST('0' AS TEXT) AS {name}"));
        } else {
            select.push(format!(
                "COALESCE(CAST(SUM(r.{name}) AS TEXT), '0') AS {name}"
            ));
        }
    }
    let mut clause = where_clause(&mut query, span, filter, source);
    if let Table::Callers { dimension, .. } = table {
        let param = query.param(Param::Text(dimension.to_string()));
        clause.push_str(&format!(" AND r.dimension = {param}"));
    }
    if let Some(caller) = &filter.caller
        && matches!(table, Table::Callers { dimension, .. } if dimension == caller.dimension)
    {
        let param = query.param(Param::Text(caller.value.clone()));
        clause.push_str(&format!(" AND r.value = {param}"));
    }
    query.sql = format!(
        "SELECT {} FROM {} WHERE {clause}",
        select.join(", "),
        source.from
    );
    if !grouped.is_empty() {
        let order = grouped.join(", ");
        query.sql.push_str(&format!(
            " GROUP BY {} ORDER BY {order}",
            group_by_series_id(&grouped)
        ));
    }
    query
}

/// The `GROUP BY` list of grouped columns: grouped by every column of a series, a read groups
/// by the series' id instead (its columns follow from it, the primary key), which compares
/// integers rather than four strings per cell (`/metrics` sums every day cell per series).
fn group_by_series_id(grouped: &[&str]) -> String {
    const SERIES_COLUMNS: [&str; 4] = ["s.account_id", "s.region", "s.model_id", "s.tier"];
    if !SERIES_COLUMNS.iter().all(|column| grouped.contains(column)) {
        return grouped.join(", ");
    }
    let mut list: Vec<&str> = grouped
        .iter()
        .copied()
        .filter(|column| !SERIES_COLUMNS.contains(column))
        .collect();
    list.push("s.id");
    list.join(", ")
}

/// How a histogram read hands over the packed histograms of a group's cells.
#[derive(Debug, Clone, Copy)]
pub(super) enum PackedRows {
    /// One row per cell.
    PerCell,
    /// One row per group, its cells' entries concatenated in SQL by this aggregate of a
    /// column (entries of one bin in several cells add up when folded, as across rows).
    PerGroup(fn(&str) -> String),
}

/// Both packed latency histograms (as `total` and `first_token`) of every cell of `span` that
/// passes `filter`, with the group they count in: merged per group by [`fold_packed`].
/// Merging in tierwatch rather than in SQL reads one row per cell instead of one per bin
/// entry (a month of day cells at 10M calls: 3,720 rows, not 220,000); reading both metrics
/// in one statement reads each cell once. With [`PackedRows::PerGroup`] the database hands
/// over one row per group instead (where rows cost more than bytes: SQLite's driver passes
/// each row between threads).
pub(super) fn histogram_sql(
    span: CellSpan,
    filter: &Filter,
    group: Grouping,
    rows: PackedRows,
) -> BuiltQuery {
    let mut query = BuiltQuery {
        sql: String::new(),
        params: Vec::new(),
    };
    let source = CellSource::of(Table::Rollups, filter, group);
    let (mut select, grouped) = group_columns(group, false, source);
    let column = |column: &str| match rows {
        PackedRows::PerCell => column.to_string(),
        PackedRows::PerGroup(concat) => concat(column),
    };
    select.push(format!("{} AS total", column("r.latency_hist")));
    select.push(format!("{} AS first_token", column("r.first_token_hist")));
    let clause = where_clause(&mut query, span, filter, source);
    query.sql = format!(
        "SELECT {} FROM {} WHERE {clause}",
        select.join(", "),
        source.from
    );
    if matches!(rows, PackedRows::PerGroup(_)) && !grouped.is_empty() {
        query
            .sql
            .push_str(&format!(" GROUP BY {}", group_by_series_id(&grouped)));
    }
    query
}

/// One cell's packed histograms, as [`histogram_sql`] reads them.
pub(super) struct PackedCell {
    pub group: HistogramGroup,
    pub total: Vec<i64>,
    pub first_token: Vec<i64>,
}

/// Both metrics' histograms per group, from cells read by [`histogram_sql`].
pub(super) fn fold_cells(cells: &[PackedCell]) -> LatencyHistograms {
    LatencyHistograms {
        total: fold_packed(
            cells
                .iter()
                .map(|cell| (&cell.group, cell.total.as_slice())),
        ),
        first_token: fold_packed(
            cells
                .iter()
                .map(|cell| (&cell.group, cell.first_token.as_slice())),
        ),
    }
}

/// The group a cell's histogram counts in, as [`histogram_sql`] selects it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, sqlx::FromRow)]
pub(super) struct HistogramGroup {
    bucket_start: i64,
    account_id: String,
    region: String,
    model_id: String,
    tier: String,
}

/// Merges cells' packed histograms (`bin << 40 | count` entries) per group: one histogram per
/// group with any entries, groups and bins in order. Counts add up in a dense array per group
/// (bins run 0..=257), not a map: a month of day cells merges ~100,000 entries per read.
pub(super) fn fold_packed<'c>(
    cells: impl IntoIterator<Item = (&'c HistogramGroup, &'c [i64])>,
) -> Vec<HistogramRow> {
    let mut merged: FastMap<&HistogramGroup, Vec<u64>> = FastMap::default();
    for (group, entries) in cells {
        if entries.is_empty() {
            continue;
        }
        let counts = merged.entry(group).or_default();
        for &entry in entries {
            let (bin, count) = latency::unpack(entry);
            // Bins are never negative (see `latency::bin`); a foreign entry's bin is i16::MAX.
            let index = usize::try_from(bin).unwrap_or(0);
            if counts.len() <= index {
                counts.resize(index + 1, 0);
            }
            counts[index] += count;
        }
    }
    // A group whose cells recorded no latency has no histogram (as when SQL unnested them).
    let mut merged: Vec<(&HistogramGroup, Vec<u64>)> = merged.into_iter().collect();
    merged.sort_unstable_by(|a, b| a.0.cmp(b.0));
    merged
        .into_iter()
        .map(|(group, counts)| HistogramRow {
            bucket_start: group.bucket_start,
            account_id: group.account_id.clone(),
            region: group.region.clone(),
            model_id: group.model_id.clone(),
            tier: group.tier.clone(),
            bins: counts
                .into_iter()
                .enumerate()
                .filter(|(_, count)| *count > 0)
                .map(|(bin, count)| (bin as i16, count))
                .collect(),
        })
        .collect()
}

/// An aggregate row as the database returns it.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct AggregateRaw {
    bucket_start: i64,
    account_id: String,
    region: String,
    model_id: String,
    tier: String,
    caller: String,
    invocations: String,
    errors: String,
    input_tokens: String,
    output_tokens: String,
    cache_read_tokens: String,
    cache_write_tokens: String,
    priced_invocations: String,
    unpriced_invocations: String,
    cost_pico: String,
    standard_cost_pico: String,
    compared_cost_pico: String,
    latency_count: String,
    latency_sum_ms: String,
    first_token_count: String,
    first_token_sum_ms: String,
}

fn parse_sum(text: &str) -> Result<i128, StoreError> {
    text.trim()
        .parse::<i128>()
        .map_err(|_| StoreError::Inconsistent(format!("the database returned a sum of {text:?}")))
}

fn parse_count(text: &str) -> Result<i64, StoreError> {
    let sum = parse_sum(text)?;
    i64::try_from(sum)
        .map_err(|_| StoreError::Inconsistent(format!("a count of {sum} does not fit in i64")))
}

impl AggregateRaw {
    pub(super) fn parse(self) -> Result<AggregateRow, StoreError> {
        Ok(AggregateRow {
            totals: Totals {
                invocations: parse_count(&self.invocations)?,
                errors: parse_count(&self.errors)?,
                input_tokens: parse_count(&self.input_tokens)?,
                output_tokens: parse_count(&self.output_tokens)?,
                cache_read_tokens: parse_count(&self.cache_read_tokens)?,
                cache_write_tokens: parse_count(&self.cache_write_tokens)?,
                priced_invocations: parse_count(&self.priced_invocations)?,
                unpriced_invocations: parse_count(&self.unpriced_invocations)?,
                cost_pico: parse_sum(&self.cost_pico)?,
                standard_cost_pico: parse_sum(&self.standard_cost_pico)?,
                compared_cost_pico: parse_sum(&self.compared_cost_pico)?,
                latency_count: parse_count(&self.latency_count)?,
                latency_sum_ms: parse_count(&self.latency_sum_ms)?,
                first_token_count: parse_count(&self.first_token_count)?,
                first_token_sum_ms: parse_count(&self.first_token_sum_ms)?,
            },
            bucket_start: self.bucket_start,
            account_id: self.account_id,
            region: self.region,
            model_id: self.model_id,
            tier: self.tier,
            caller: self.caller,
        })
    }
}

/// Binds a built query's parameters, in order, on either backend.
pub(super) fn bind_all<'q, DB, O>(
    mut statement: sqlx::query::QueryAs<'q, DB, O, <DB as sqlx::Database>::Arguments>,
    params: Vec<Param>,
) -> sqlx::query::QueryAs<'q, DB, O, <DB as sqlx::Database>::Arguments>
where
    DB: sqlx::Database,
    i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    for param in params {
        statement = match param {
            Param::Int(value) => statement.bind(value),
            Param::Text(value) => statement.bind(value),
        };
    }
    statement
}

/// Runs built queries on one backend's pool.
macro_rules! aggregate_reads {
    () => {
        pub(super) async fn fetch_aggregate(
            &self,
            built: query::BuiltQuery,
        ) -> Result<Vec<query::AggregateRaw>> {
            let statement = sqlx::query_as(AssertSqlSafe(built.sql));
            query::bind_all(statement, built.params)
                .fetch_all(&self.pool)
                .await
                .context("reading rollup sums")
        }

        pub(super) async fn latest_bucket(&self, granularity: Granularity) -> Result<Option<i64>> {
            sqlx::query_scalar("SELECT MAX(bucket_start) FROM rollups WHERE granularity = $1")
                .bind(rows::granularity_column(granularity))
                .fetch_one(&self.pool)
                .await
                .context("reading the latest rollup bucket")
        }

        pub(super) async fn fine_cells_from(&self) -> Result<i64> {
            sqlx::query_scalar("SELECT minute_cells_from_s FROM retention WHERE id = 1")
                .fetch_one(&self.pool)
                .await
                .context("reading the fine cells' horizon")
        }

        pub(super) async fn generation(&self) -> Result<i64> {
            sqlx::query_scalar("SELECT value FROM data_generation WHERE id = 1")
                .fetch_one(&self.pool)
                .await
                .context("reading the data generation")
        }

        pub(super) async fn bump_generation(&self) -> Result<()> {
            sqlx::query("UPDATE data_generation SET value = value + 1 WHERE id = 1")
                .execute(&self.pool)
                .await
                .context("bumping the data generation")?;
            Ok(())
        }

        pub(super) async fn refresh_statistics(&self, statement: &'static str) -> Result<()> {
            sqlx::query(statement)
                .execute(&self.pool)
                .await
                .context("refreshing planner statistics")?;
            Ok(())
        }

        pub(super) async fn day_buckets(&self) -> Result<Vec<i64>> {
            sqlx::query_scalar(
                "SELECT DISTINCT bucket_start FROM rollups WHERE granularity = 86400 \
                 ORDER BY bucket_start",
            )
            .fetch_all(&self.pool)
            .await
            .context("listing days with data")
        }
    };
}
pub(super) use aggregate_reads;

#[cfg(test)]
mod tests {
    use super::*;

    fn span() -> CellSpan {
        CellSpan {
            granularity: Granularity::Day,
            start_s: 0,
            end_s: 86_400,
        }
    }

    #[test]
    fn filters_become_parameters_never_sql_text() {
        let filter = Filter {
            model: Some("x' OR '1'='1".into()),
            tier: Some("flex".into()),
            ..Filter::default()
        };
        let built = aggregate_sql(Table::Rollups, span(), &filter, Grouping::BUCKET_TIER);
        assert!(!built.sql.contains("OR '1'"), "{}", built.sql);
        assert!(
            built.sql.contains("s.model_id = $4 AND s.tier = $5"),
            "{}",
            built.sql
        );
        assert_eq!(built.params[3], Param::Text("x' OR '1'='1".into()));
        assert!(
            built
                .sql
                .ends_with("GROUP BY r.bucket_start, s.tier ORDER BY r.bucket_start, s.tier")
        );
    }

    #[test]
    fn reads_grouped_by_every_series_column_group_by_the_series_id() {
        let per_series = Grouping {
            bucket: true,
            account: true,
            region: true,
            model: true,
            tier: true,
        };
        let built = aggregate_sql(Table::Rollups, span(), &Filter::default(), per_series);
        assert!(
            built.sql.ends_with(
                "GROUP BY r.bucket_start, s.id ORDER BY r.bucket_start, s.account_id, s.region, \
                 s.model_id, s.tier"
            ),
            "{}",
            built.sql
        );
        let by_model = aggregate_sql(
            Table::Rollups,
            span(),
            &Filter::default(),
            Grouping::MODEL_TIER,
        );
        assert!(
            by_model
                .sql
                .ends_with("GROUP BY s.model_id, s.tier ORDER BY s.model_id, s.tier"),
            "{}",
            by_model.sql
        );
    }

    #[test]
    fn reads_naming_no_series_column_read_the_tier_cells() {
        let by_tier = |filter: &Filter, group| {
            let built = aggregate_sql(Table::Rollups, span(), filter, group);
            let histogram = histogram_sql(span(), filter, group, PackedRows::PerCell);
            let tiers = built.sql.contains("FROM tier_rollups r WHERE");
            assert_eq!(
                tiers,
                histogram.sql.contains("FROM tier_rollups r WHERE"),
                "{}",
                histogram.sql
            );
            assert_eq!(tiers, !built.sql.contains("JOIN series"), "{}", built.sql);
            tiers
        };
        let flex = Filter {
            tier: Some("flex".into()),
            ..Filter::default()
        };
        assert!(by_tier(&Filter::default(), Grouping::BUCKET_TIER));
        assert!(by_tier(&flex, Grouping::NONE));
        let built = aggregate_sql(Table::Rollups, span(), &flex, Grouping::TIER);
        assert!(built.sql.contains("r.tier = $4"), "{}", built.sql);
        let nova = Filter {
            model: Some("amazon.nova-pro-v1:0".into()),
            ..Filter::default()
        };
        assert!(!by_tier(&nova, Grouping::TIER));
        let one_account = Filter {
            account: Some("111122223333".into()),
            ..Filter::default()
        };
        assert!(!by_tier(&one_account, Grouping::NONE));
        assert!(!by_tier(&Filter::default(), Grouping::MODEL_TIER));
        let callers = Table::Callers {
            dimension: "identity",
            group_by_value: true,
        };
        let built = aggregate_sql(callers, span(), &Filter::default(), Grouping::TIER);
        assert!(
            built.sql.contains("FROM caller_rollups r JOIN series s"),
            "{}",
            built.sql
        );
    }

    #[test]
    fn ungrouped_reads_have_no_group_by_and_callers_have_no_latency() {
        let filter = Filter {
            caller: Some(CallerFilter {
                dimension: "meta:team".into(),
                value: "evals".into(),
            }),
            ..Filter::default()
        };
        let table = Table::Callers {
            dimension: "meta:team",
            group_by_value: false,
        };
        let built = aggregate_sql(table, span(), &filter, Grouping::NONE);
        assert!(!built.sql.contains("GROUP BY"));
        assert!(built.sql.contains("FROM caller_rollups"));
        assert!(built.sql.contains("CAST('0' AS TEXT) AS latency_count"));
        assert!(
            built.sql.contains("r.dimension = $4 AND r.value = $5"),
            "{}",
            built.sql
        );
        // A filter on another dimension is not applied to this one.
        let other = Table::Callers {
            dimension: "identity",
            group_by_value: true,
        };
        let built = aggregate_sql(other, span(), &filter, Grouping::TIER);
        assert!(!built.sql.contains("r.value ="), "{}", built.sql);
        assert!(
            built.sql.contains("GROUP BY s.tier, r.value"),
            "{}",
            built.sql
        );
    }

    #[test]
    fn sums_parse_exactly_and_overflowing_counts_are_errors() {
        assert_eq!(
            parse_sum("170141183460469231731687303715884105727").unwrap(),
            i128::MAX
        );
        assert_eq!(parse_count("42").unwrap(), 42);
        assert!(parse_count("9223372036854775808").is_err());
        assert!(parse_sum("1.5").is_err());
    }

    #[test]
    fn cost_status_follows_the_priced_and_unpriced_counts() {
        assert_eq!(CostStatus::of(0, 0), CostStatus::Priced, "nothing to price");
        assert_eq!(CostStatus::of(3, 0), CostStatus::Priced);
        assert_eq!(CostStatus::of(3, 1), CostStatus::Partial);
        assert_eq!(CostStatus::of(0, 2), CostStatus::Unpriced);
        let totals = |priced, unpriced| Totals {
            invocations: priced + unpriced,
            priced_invocations: priced,
            unpriced_invocations: unpriced,
            cost_pico: 5_000_000,
            standard_cost_pico: 7_000_000,
            ..Totals::default()
        };
        let unpriced = totals(0, 2);
        assert_eq!(unpriced.cost().known_pico(), None, "never $0 for unknown");
        assert_eq!(unpriced.cost().usd(), None);
        assert_eq!(unpriced.standard_equivalent().usd(), None);
        let partial = totals(1, 2);
        assert_eq!(partial.cost_status(), CostStatus::Partial);
        assert_eq!(partial.cost().usd().as_deref(), Some("0.000005"));
        assert_eq!(partial.cost().unpriced_invocations(), 2);
        assert_eq!(CostStatus::Partial.as_str(), "partial");
        assert_eq!(
            partial.cost().to_string(),
            "$0.000005 (partial: 2 unpriced calls left out)"
        );
        assert_eq!(unpriced.cost().to_string(), "unpriced (2 calls)");
        assert_eq!(totals(1, 0).cost().to_string(), "$0.000005");
        assert_eq!(
            serde_json::to_value(CostStatus::Unpriced).unwrap(),
            serde_json::json!("unpriced")
        );
    }

    #[test]
    fn packed_histograms_merge_per_group_in_order() {
        let group = |tier: &str| HistogramGroup {
            bucket_start: 0,
            account_id: String::new(),
            region: String::new(),
            model_id: String::new(),
            tier: tier.into(),
        };
        let pack = latency::pack;
        let (standard, flex, priority) = (group("standard"), group("flex"), group("priority"));
        let folded = fold_packed(vec![
            (&standard, &[pack(9, 5)][..]),
            (&flex, &[pack(10, 2), pack(12, 1)][..]),
            (&flex, &[pack(12, 3), pack(11, 4)][..]),
            (&priority, &[][..]),
        ]);
        // Priority's cells recorded no latency: no histogram.
        assert_eq!(folded.len(), 2);
        assert_eq!(folded[0].tier, "flex");
        assert_eq!(folded[0].bins, vec![(10, 2), (11, 4), (12, 4)]);
        assert_eq!(folded[1].tier, "standard");
        assert_eq!(folded[1].bins, vec![(9, 5)]);
    }
}
