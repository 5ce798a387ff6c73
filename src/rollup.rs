//! Pre-aggregation: invocations → per-bucket totals and latency histograms.
//!
//! Pages and reports never scan raw invocations; they read rollup cells keyed by
//! (bucket width, bucket start, account, region, model, served tier). A cell holds exact sums
//! (tokens, picodollars) and a latency histogram whose bins are fixed for all cells, so cells
//! merge by adding counts: p50/p95/p99 can be answered for any range and any grouping.
//!
//! This module is pure arithmetic; `store` persists what it computes.

use std::borrow::Cow;
use std::collections::HashMap;

use crate::model::{Invocation, Money, Tier, TokenKind};

/// Bucket widths kept for every cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Granularity {
    Minute,
    Hour,
    Day,
}

impl Granularity {
    pub const ALL: [Granularity; 3] = [Granularity::Minute, Granularity::Hour, Granularity::Day];

    /// Bucket width in seconds (also the value stored in the `granularity` column).
    pub fn seconds(self) -> i64 {
        match self {
            Granularity::Minute => 60,
            Granularity::Hour => 3_600,
            Granularity::Day => 86_400,
        }
    }

    /// Start of the UTC bucket holding `timestamp_ms`, in Unix seconds.
    pub fn bucket_start(self, timestamp_ms: i64) -> i64 {
        let seconds = timestamp_ms.div_euclid(1000);
        seconds - seconds.rem_euclid(self.seconds())
    }
}

/// How an invocation was priced, as far as rollups care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CostKind {
    /// Priced; `standard` is the Standard-tier cost of the same tokens when known.
    Priced {
        cost: Money,
        standard: Option<Money>,
    },
    /// A failed call with no tokens: nothing to bill.
    NotBilled,
    /// No price applied: counted, never $0.
    Unpriced,
}

/// The latency histogram: fixed logarithmic bins shared by every cell.
///
/// Bin 0 holds 0 ms; bin `b ≥ 1` holds values in `[2^((b-1)/8), 2^(b/8))` ms, so each bin is
/// about 9 % wide and a percentile read from bins is within ±4.5 % of the exact value. A
/// fixed layout (rather than a per-cell sketch) lets the database merge cells by adding the
/// counts of equal bins, on Postgres and SQLite alike.
///
/// A cell stores each histogram packed in one column: a list of `bin << 40 | count` entries
/// sorted by bin, only for bins that hold something (a minute cell usually has one). One
/// value per cell instead of a row per bin makes writes and month-long reads touch a
/// fraction of the rows; SQL unpacks an entry with `>> 40` and `& (2^40 - 1)`.
pub mod latency {
    /// Bins per doubling of latency.
    const BINS_PER_OCTAVE: f64 = 8.0;

    /// The bin holding a latency of `ms` milliseconds.
    pub fn bin(ms: u32) -> i16 {
        if ms == 0 {
            return 0;
        }
        // log2 of a u32 is below 32, so the bin is at most 1 + 8 × 32 = 257.
        1 + (f64::from(ms).log2() * BINS_PER_OCTAVE).floor() as i16
    }

    /// Bits of a packed entry holding the count; the bin sits above them. 2^40 calls in one
    /// bin of one cell (a million a second for twelve days, in one series) is out of reach.
    pub const PACKED_COUNT_BITS: u32 = 40;

    /// Mask of the count bits of a packed entry.
    pub const PACKED_COUNT_MASK: i64 = (1 << PACKED_COUNT_BITS) - 1;

    /// Packs one bin and its count (counts past the mask saturate: see above).
    pub fn pack(bin: i16, count: i64) -> i64 {
        (i64::from(bin) << PACKED_COUNT_BITS) | count.clamp(0, PACKED_COUNT_MASK)
    }

    /// The bin and count of a packed entry: the inverse of [`pack`] (SQL does the same with
    /// `>>` and `&`). An entry not made by `pack` gives a bin past any real one.
    pub fn unpack(entry: i64) -> (i16, u64) {
        let bin = i16::try_from(entry >> PACKED_COUNT_BITS).unwrap_or(i16::MAX);
        (bin, (entry & PACKED_COUNT_MASK) as u64)
    }

    /// Two packed histograms (each sorted by bin) as one: counts of equal bins added, sorted by
    /// bin. The same merge as Postgres' `merge_latency_histograms` (migration 0015).
    pub fn merge_packed(left: &[i64], right: &[i64]) -> Vec<i64> {
        let mut merged = Vec::with_capacity(left.len() + right.len());
        let (mut l, mut r) = (0, 0);
        while l < left.len() && r < right.len() {
            let (left_bin, right_bin) =
                (left[l] >> PACKED_COUNT_BITS, right[r] >> PACKED_COUNT_BITS);
            if left_bin < right_bin {
                merged.push(left[l]);
                l += 1;
            } else if right_bin < left_bin {
                merged.push(right[r]);
                r += 1;
            } else {
                let count = (left[l] & PACKED_COUNT_MASK) + (right[r] & PACKED_COUNT_MASK);
                merged.push((left_bin << PACKED_COUNT_BITS) | count.min(PACKED_COUNT_MASK));
                l += 1;
                r += 1;
            }
        }
        merged.extend_from_slice(&left[l..]);
        merged.extend_from_slice(&right[r..]);
        merged
    }

    /// The value a bin stands for: the geometric middle of its bounds, in milliseconds.
    pub fn representative_ms(bin: i16) -> f64 {
        if bin <= 0 {
            return 0.0;
        }
        ((f64::from(bin) - 0.5) / BINS_PER_OCTAVE).exp2()
    }

    /// The `quantile` (0..=1) of a histogram given as (bin, count) pairs in any order,
    /// rounded to whole milliseconds; `None` for an empty histogram.
    ///
    /// Uses the nearest-rank definition: the smallest value with at least
    /// `ceil(quantile × n)` observations at or below it.
    pub fn quantile(bins: &[(i16, u64)], quantile: f64) -> Option<u64> {
        let total: u64 = bins.iter().map(|(_, count)| count).sum();
        if total == 0 {
            return None;
        }
        let mut sorted: Vec<(i16, u64)> = bins.to_vec();
        sorted.sort_unstable_by_key(|(bin, _)| *bin);
        let rank = ((quantile.clamp(0.0, 1.0) * total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (bin, count) in sorted {
            seen += count;
            if seen >= rank {
                return Some(representative_ms(bin).round() as u64);
            }
        }
        None
    }
}

/// Which latency a histogram measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LatencyMetric {
    /// Time to the last token.
    Total,
    /// Time to the first token (streaming calls).
    FirstToken,
}

impl LatencyMetric {
    pub const ALL: [LatencyMetric; 2] = [LatencyMetric::Total, LatencyMetric::FirstToken];
}

/// Identifies one rollup cell by its series' strings (tests and conversions; a delta keys its
/// cells on [`DeltaCell`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CellKey<'a> {
    pub granularity: Granularity,
    pub bucket_start: i64,
    pub account_id: &'a str,
    pub region: &'a str,
    pub model_id: &'a str,
    pub tier: Tier,
}

/// One series of a delta: what its cells add up under. Borrows from the invocations the
/// delta was built from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeltaSeries<'a> {
    pub account_id: &'a str,
    pub region: &'a str,
    pub model_id: &'a str,
    pub tier: Tier,
}

/// A cell of a delta: its bucket and its series' index in [`RollupDelta::series`]. Integers
/// only, so adding a call to its cells hashes no strings and compares none (string keys were
/// a fifth of import's own CPU: hashing, and `memcmp` on every hit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeltaCell {
    pub granularity: Granularity,
    pub bucket_start: i64,
    pub series: u32,
}

/// Exact sums for one cell. Every field adds when cells merge.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CellTotals {
    pub invocations: i64,
    pub errors: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cache_read_tokens: i64,
    pub cache_write_tokens: i64,
    pub priced_invocations: i64,
    pub unpriced_invocations: i64,
    /// Cost of the priced invocations, in picodollars.
    pub cost_pico: i64,
    /// Standard-tier cost of the priced invocations that have a Standard price.
    pub standard_cost_pico: i64,
    /// Actual cost of those same invocations, so premium and savings compare like with like.
    pub compared_cost_pico: i64,
    pub latency_count: i64,
    pub latency_sum_ms: i64,
    pub first_token_count: i64,
    pub first_token_sum_ms: i64,
}

impl CellTotals {
    /// Adds one invocation.
    pub fn add(&mut self, invocation: &Invocation, cost: CostKind) {
        let tokens = &invocation.tokens;
        self.invocations += 1;
        self.errors += i64::from(invocation.is_error());
        self.input_tokens += token_count(tokens.get(TokenKind::Input));
        self.output_tokens += token_count(tokens.get(TokenKind::Output));
        self.cache_read_tokens += token_count(tokens.get(TokenKind::CacheRead));
        self.cache_write_tokens += token_count(tokens.get(TokenKind::CacheWrite));
        self.add_pricing(cost, 1);
        if let Some(ms) = invocation.latency_ms {
            self.latency_count += 1;
            self.latency_sum_ms += i64::from(ms);
        }
        if let Some(ms) = invocation.time_to_first_token_ms {
            self.first_token_count += 1;
            self.first_token_sum_ms += i64::from(ms);
        }
    }

    /// The change to a cell's totals when one of its invocations is repriced from `before`
    /// to `after`: only the price fields move (negative where they shrink).
    pub fn repricing(before: CostKind, after: CostKind) -> CellTotals {
        let mut change = CellTotals::default();
        change.add_pricing(after, 1);
        change.add_pricing(before, -1);
        change
    }

    fn add_pricing(&mut self, cost: CostKind, sign: i64) {
        match cost {
            CostKind::Priced { cost, standard } => {
                self.priced_invocations += sign;
                self.cost_pico += sign * cost.picodollars();
                if let Some(standard) = standard {
                    self.standard_cost_pico += sign * standard.picodollars();
                    self.compared_cost_pico += sign * cost.picodollars();
                }
            }
            CostKind::Unpriced => self.unpriced_invocations += sign,
            CostKind::NotBilled => {}
        }
    }

    /// Adds another cell's totals.
    pub fn merge(&mut self, other: &CellTotals) {
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
}

/// Token counts are u64 in the domain; columns are BIGINT. A count past i64::MAX cannot come
/// from a real record (the parser bounds them), so saturating is only a guard.
fn token_count(count: u64) -> i64 {
    i64::try_from(count).unwrap_or(i64::MAX)
}

/// A hash map with a fast hasher: rollup keys are hashed several times per invocation, and
/// SipHash's resistance to crafted keys buys nothing for in-process aggregation.
pub type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// Where a latency counts: a cell, a metric and a bin.
type BinSlot = (DeltaCell, LatencyMetric, i16);

/// A caller cell of a delta: a cell, a dimension (its index in [`CallerDimensions::names`])
/// and a value (its number among that dimension's values in the delta).
type CallerSlot = (DeltaCell, usize, u32);

/// What a batch of new invocations adds to the rollups: cell totals, histogram counts,
/// caller cells and unpriced causes. A call's series is looked up once (its strings hashed
/// once); its cells key on the series' number (see [`DeltaCell`]).
#[derive(Debug, Default)]
pub struct RollupDelta<'a> {
    series: Vec<DeltaSeries<'a>>,
    series_numbers: FastMap<DeltaSeries<'a>, u32>,
    cells: FastMap<DeltaCell, CellTotals>,
    bins: FastMap<BinSlot, i64>,
    /// The caller values seen, per dimension (in [`CallerDimensions::names`] order).
    caller_values: Vec<CallerValues<'a>>,
    callers: FastMap<CallerSlot, CellTotals>,
    /// Unpriced invocations per day cell and cause.
    unpriced: FastMap<(DeltaCell, &'a str), i64>,
    /// The fine cells' horizon (Unix seconds): older calls count in hour and day cells of
    /// their series and day cells of their callers only, as retention keeps no older minute
    /// cells or caller hour cells (0, the default: every call counts in every granularity).
    minute_cells_from_s: i64,
}

/// The values of one caller dimension in a delta, numbered as they are first seen.
#[derive(Debug, Default)]
struct CallerValues<'a> {
    dimension: &'a str,
    numbers: FastMap<Cow<'a, str>, u32>,
}

impl<'a> CallerValues<'a> {
    fn number(&mut self, value: Cow<'a, str>) -> u32 {
        if let Some(number) = self.numbers.get(value.as_ref()) {
            return *number;
        }
        let number = next_number(self.numbers.len());
        self.numbers.insert(value, number);
        number
    }

    /// The values by number.
    fn by_number(&self) -> Vec<&str> {
        let mut values = vec![""; self.numbers.len()];
        for (value, number) in &self.numbers {
            values[*number as usize] = value;
        }
        values
    }
}

/// The number of the next entry of a table holding `len`: a batch holds far fewer than 2³²
/// series or caller values (it would not fit in memory first).
fn next_number(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

/// A caller cell of a delta, as it is written.
#[derive(Debug, Clone, Copy)]
pub struct CallerCell<'d> {
    pub cell: DeltaCell,
    /// [`IDENTITY_DIMENSION`], [`PROFILE_DIMENSION`] or `meta:KEY`.
    pub dimension: &'d str,
    /// The caller's value; empty when the invocation has none.
    pub value: &'d str,
    pub totals: &'d CellTotals,
}

/// The granularities of a call older than the fine cells' horizon.
const WITHOUT_MINUTES: [Granularity; 2] = [Granularity::Hour, Granularity::Day];

/// The caller dimension holding `identity.arn`.
pub const IDENTITY_DIMENSION: &str = "identity";

/// The caller dimension holding the application inference profile a call went through
/// (empty for other calls): how AWS users tag cost by team or app.
pub const PROFILE_DIMENSION: &str = "profile";

/// Prefix of the caller dimensions holding a `requestMetadata` key (`meta:team`).
pub const METADATA_DIMENSION_PREFIX: &str = "meta:";

/// Longest caller value kept, in characters: longer values are cut, so one odd caller
/// cannot bloat every row it lands in.
pub const MAX_CALLER_VALUE_CHARS: usize = 200;

/// Granularities of caller cells: caller views look at hours and days, never minutes.
pub const CALLER_GRANULARITIES: [Granularity; 2] = [Granularity::Hour, Granularity::Day];

/// The granularity of the caller cells of a call older than the fine cells' horizon: an
/// hour cell holds about four calls per caller value, so hours of old months would add
/// nearly a row per call (see [`finest_kept`]).
const CALLER_DAYS_ONLY: [Granularity; 1] = [Granularity::Day];

/// The finest cells kept of what starts at `start_s`, given the fine cells' horizon
/// (`retention.minute_cells`, [`crate::store::Horizons::minute_cells_from_s`]): series cells
/// have minutes from the horizon on and hours before it; caller cells have hours from the
/// horizon on and days before it.
pub fn finest_kept(callers: bool, start_s: i64, fine_cells_from_s: i64) -> Granularity {
    match (callers, start_s >= fine_cells_from_s) {
        (false, true) => Granularity::Minute,
        (false, false) | (true, true) => Granularity::Hour,
        (true, false) => Granularity::Day,
    }
}

/// Which caller dimensions rollups keep: the identity, and these `requestMetadata` keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallerDimensions {
    /// `(dimension name, metadata key)`, e.g. `("meta:team", "team")`.
    metadata: Vec<(String, String)>,
}

impl CallerDimensions {
    /// Keeps the identity and the given `requestMetadata` keys. Per-request keys (trace
    /// ids) don't belong here: every distinct value becomes rows of its own.
    pub fn new<S: AsRef<str>>(metadata_keys: &[S]) -> CallerDimensions {
        let mut metadata: Vec<(String, String)> = metadata_keys
            .iter()
            .map(|key| {
                let key = key.as_ref();
                (format!("{METADATA_DIMENSION_PREFIX}{key}"), key.to_string())
            })
            .collect();
        metadata.sort();
        metadata.dedup();
        CallerDimensions { metadata }
    }

    /// Every dimension name kept: identity, application inference profile, metadata keys.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        [IDENTITY_DIMENSION, PROFILE_DIMENSION]
            .into_iter()
            .chain(self.metadata.iter().map(|(name, _)| name.as_str()))
    }

    /// The value of every dimension for one invocation (empty when it has none).
    fn values<'a>(&'a self, invocation: &'a Invocation) -> Vec<(&'a str, Cow<'a, str>)> {
        let mut values = Vec::with_capacity(2 + self.metadata.len());
        let identity = invocation.caller_arn.as_deref().unwrap_or("");
        values.push((IDENTITY_DIMENSION, Cow::Borrowed(truncate(identity))));
        let called = invocation.model.called.as_str();
        let profile = if called.contains(":application-inference-profile/") {
            called
        } else {
            ""
        };
        values.push((PROFILE_DIMENSION, Cow::Borrowed(truncate(profile))));
        if self.metadata.is_empty() {
            return values;
        }
        // The metadata is compact JSON written by the parser; anything else counts as absent.
        let map: Option<serde_json::Map<String, serde_json::Value>> = invocation
            .request_metadata
            .as_deref()
            .and_then(|text| serde_json::from_str(text).ok());
        for (dimension, key) in &self.metadata {
            let value = match map.as_ref().and_then(|map| map.get(key)) {
                Some(serde_json::Value::String(text)) => truncate(text).to_string(),
                Some(serde_json::Value::Null) | None => String::new(),
                Some(other) => truncate(&other.to_string()).to_string(),
            };
            values.push((dimension.as_str(), Cow::Owned(value)));
        }
        values
    }
}

impl Default for CallerDimensions {
    /// The keys teams most often stamp: `team`, `app`, `project`, `environment`.
    fn default() -> CallerDimensions {
        CallerDimensions::new(&DEFAULT_METADATA_KEYS)
    }
}

/// `requestMetadata` keys kept as caller dimensions unless configured otherwise.
pub const DEFAULT_METADATA_KEYS: [&str; 4] = ["team", "app", "project", "environment"];

fn truncate(value: &str) -> &str {
    match value.char_indices().nth(MAX_CALLER_VALUE_CHARS) {
        Some((end, _)) => &value[..end],
        None => value,
    }
}

impl<'a> RollupDelta<'a> {
    /// An empty delta that writes no minute cell and no caller hour cell before
    /// `minute_cells_from_s`.
    pub fn keeping_minutes_from(minute_cells_from_s: i64) -> RollupDelta<'a> {
        RollupDelta {
            minute_cells_from_s,
            ..RollupDelta::default()
        }
    }

    /// Whether `invocation` is recent enough for the fine cells (minutes, caller hours).
    fn in_fine_cells(&self, invocation: &Invocation) -> bool {
        Granularity::Minute.bucket_start(invocation.timestamp_ms) >= self.minute_cells_from_s
    }

    /// The granularities of the series cells `invocation` counts in.
    fn granularities(&self, invocation: &Invocation) -> &'static [Granularity] {
        if self.in_fine_cells(invocation) {
            &Granularity::ALL
        } else {
            &WITHOUT_MINUTES
        }
    }

    /// The granularities of the caller cells `invocation` counts in.
    fn caller_granularities(&self, invocation: &Invocation) -> &'static [Granularity] {
        if self.in_fine_cells(invocation) {
            &CALLER_GRANULARITIES
        } else {
            &CALLER_DAYS_ONLY
        }
    }

    /// The number of `invocation`'s series, numbering it if it is new.
    fn series_number(&mut self, invocation: &'a Invocation) -> u32 {
        self.number_series(DeltaSeries {
            account_id: &invocation.account_id,
            region: &invocation.region,
            model_id: &invocation.model.model_id,
            tier: invocation.tier.served,
        })
    }

    fn number_series(&mut self, series: DeltaSeries<'a>) -> u32 {
        if let Some(number) = self.series_numbers.get(&series) {
            return *number;
        }
        let number = next_number(self.series.len());
        self.series.push(series);
        self.series_numbers.insert(series, number);
        number
    }

    /// Adds one invocation to the cells of every granularity, and to its caller cells.
    pub fn add(
        &mut self,
        invocation: &'a Invocation,
        cost: CostKind,
        callers: &'a CallerDimensions,
    ) {
        let series = self.series_number(invocation);
        self.add_cells(invocation, series, cost);
        self.for_caller_cells(invocation, series, callers, |totals| {
            totals.add(invocation, cost)
        });
    }

    /// Calls `update` on each caller cell `invocation` counts in.
    fn for_caller_cells(
        &mut self,
        invocation: &'a Invocation,
        series: u32,
        callers: &'a CallerDimensions,
        update: impl Fn(&mut CellTotals),
    ) {
        let values = callers.values(invocation);
        let granularities = self.caller_granularities(invocation);
        if self.caller_values.len() < values.len() {
            self.caller_values = values
                .iter()
                .map(|(dimension, _)| CallerValues {
                    dimension,
                    numbers: FastMap::default(),
                })
                .collect();
        }
        for (dimension, (name, value)) in values.into_iter().enumerate() {
            let known = &mut self.caller_values[dimension];
            debug_assert_eq!(known.dimension, name, "one delta, one set of dimensions");
            let value = known.number(value);
            for &granularity in granularities {
                let cell = delta_cell(granularity, invocation, series);
                update(self.callers.entry((cell, dimension, value)).or_default());
            }
        }
    }

    /// Records that `invocation` was repriced from `before` to `after` (its model unchanged):
    /// the price fields of its cells and caller cells move, and its day's unpriced causes.
    pub fn add_repricing(
        &mut self,
        invocation: &'a Invocation,
        before: (CostKind, Option<&'a str>),
        after: (CostKind, Option<&'a str>),
        callers: &'a CallerDimensions,
    ) {
        let change = CellTotals::repricing(before.0, after.0);
        let series = self.series_number(invocation);
        for &granularity in self.granularities(invocation) {
            let cell = delta_cell(granularity, invocation, series);
            self.cells.entry(cell).or_default().merge(&change);
        }
        self.for_caller_cells(invocation, series, callers, |totals| totals.merge(&change));
        let day = delta_cell(Granularity::Day, invocation, series);
        for (reason, count) in [(before.1, -1), (after.1, 1)] {
            if let Some(reason) = reason {
                *self.unpriced.entry((day, reason)).or_default() += count;
            }
        }
    }

    /// Counts an unpriced invocation under its cause, per day.
    pub fn add_unpriced(&mut self, invocation: &'a Invocation, reason: &'a str) {
        let series = self.series_number(invocation);
        let day = delta_cell(Granularity::Day, invocation, series);
        *self.unpriced.entry((day, reason)).or_default() += 1;
    }

    fn add_cells(&mut self, invocation: &'a Invocation, series: u32, cost: CostKind) {
        for &granularity in self.granularities(invocation) {
            let cell = delta_cell(granularity, invocation, series);
            self.cells.entry(cell).or_default().add(invocation, cost);
            let latencies = [
                (LatencyMetric::Total, invocation.latency_ms),
                (LatencyMetric::FirstToken, invocation.time_to_first_token_ms),
            ];
            for (metric, value) in latencies {
                if let Some(ms) = value {
                    *self
                        .bins
                        .entry((cell, metric, latency::bin(ms)))
                        .or_default() += 1;
                }
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.cells.is_empty()
    }

    /// The series of the delta's cells, by number ([`DeltaCell::series`]).
    pub fn series(&self) -> &[DeltaSeries<'a>] {
        &self.series
    }

    /// Every cell and what it adds.
    pub fn cells(&self) -> impl Iterator<Item = (DeltaCell, &CellTotals)> {
        self.cells.iter().map(|(cell, totals)| (*cell, totals))
    }

    /// Every caller cell and what it adds.
    pub fn caller_cells(&self) -> Vec<CallerCell<'_>> {
        let values: Vec<Vec<&str>> = self
            .caller_values
            .iter()
            .map(CallerValues::by_number)
            .collect();
        self.callers
            .iter()
            .map(|((cell, dimension, value), totals)| CallerCell {
                cell: *cell,
                dimension: self.caller_values[*dimension].dimension,
                value: values[*dimension][*value as usize],
                totals,
            })
            .collect()
    }

    /// Unpriced invocations per day cell and cause.
    pub fn unpriced(&self) -> impl Iterator<Item = (DeltaCell, &'a str, i64)> {
        self.unpriced
            .iter()
            .map(|((cell, reason), count)| (*cell, *reason, *count))
    }

    /// A cell with its series' strings.
    pub fn cell_key(&self, cell: DeltaCell) -> CellKey<'a> {
        let series = self.series[cell.series as usize];
        CellKey {
            granularity: cell.granularity,
            bucket_start: cell.bucket_start,
            account_id: series.account_id,
            region: series.region,
            model_id: series.model_id,
            tier: series.tier,
        }
    }

    /// The cells and histogram counts of this delta summed per tier (its series have only a
    /// tier; account, region and model are empty): what it adds to the store's tier cells.
    /// Caller cells and unpriced causes have no tier-level copy.
    pub fn by_tier(&self) -> RollupDelta<'a> {
        let mut tiers = RollupDelta::default();
        let tier_of: Vec<u32> = self
            .series
            .iter()
            .map(|series| {
                tiers.number_series(DeltaSeries {
                    account_id: "",
                    region: "",
                    model_id: "",
                    tier: series.tier,
                })
            })
            .collect();
        let collapse = |cell: &DeltaCell| DeltaCell {
            series: tier_of[cell.series as usize],
            ..*cell
        };
        for (cell, totals) in &self.cells {
            tiers.cells.entry(collapse(cell)).or_default().merge(totals);
        }
        for ((cell, metric, bin), count) in &self.bins {
            *tiers
                .bins
                .entry((collapse(cell), *metric, *bin))
                .or_default() += count;
        }
        tiers
    }

    /// The histograms of every cell that has one, packed for storage (see [`latency`]).
    pub fn packed_histograms(&self) -> FastMap<DeltaCell, PackedHistograms> {
        let mut cells: FastMap<DeltaCell, PackedHistograms> = FastMap::default();
        for ((cell, metric, bin), count) in &self.bins {
            let histograms = cells.entry(*cell).or_default();
            let entries = match metric {
                LatencyMetric::Total => &mut histograms.total,
                LatencyMetric::FirstToken => &mut histograms.first_token,
            };
            entries.push(latency::pack(*bin, *count));
        }
        for histograms in cells.values_mut() {
            // The bin is in the high bits, so sorting entries sorts bins.
            histograms.total.sort_unstable();
            histograms.first_token.sort_unstable();
        }
        cells
    }
}

/// A cell's two latency histograms, packed (see [`latency`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PackedHistograms {
    pub total: Vec<i64>,
    pub first_token: Vec<i64>,
}

fn delta_cell(granularity: Granularity, invocation: &Invocation, series: u32) -> DeltaCell {
    DeltaCell {
        granularity,
        bucket_start: granularity.bucket_start(invocation.timestamp_ms),
        series,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::model::{ModelRef, Routing, TierResolution, TierSource, TokenCounts};
    use latency::unpack;

    fn cell_key(granularity: Granularity, invocation: &Invocation) -> CellKey<'_> {
        CellKey {
            granularity,
            bucket_start: granularity.bucket_start(invocation.timestamp_ms),
            account_id: &invocation.account_id,
            region: &invocation.region,
            model_id: &invocation.model.model_id,
            tier: invocation.tier.served,
        }
    }

    /// A delta's cells by their series' strings.
    fn cells<'a>(delta: &RollupDelta<'a>) -> HashMap<CellKey<'a>, CellTotals> {
        delta
            .cells()
            .map(|(cell, totals)| (delta.cell_key(cell), *totals))
            .collect()
    }

    /// A delta's histogram counts: (cell, metric, bin, count).
    fn bins<'a>(delta: &RollupDelta<'a>) -> Vec<(CellKey<'a>, LatencyMetric, i16, i64)> {
        delta
            .bins
            .iter()
            .map(|((cell, metric, bin), count)| (delta.cell_key(*cell), *metric, *bin, *count))
            .collect()
    }

    /// A delta's caller cells by (cell, dimension, value).
    fn caller_cells<'a>(
        delta: &RollupDelta<'a>,
    ) -> HashMap<(CellKey<'a>, String, String), CellTotals> {
        delta
            .caller_cells()
            .into_iter()
            .map(|caller| {
                let key = (
                    delta.cell_key(caller.cell),
                    caller.dimension.to_string(),
                    caller.value.to_string(),
                );
                (key, *caller.totals)
            })
            .collect()
    }

    fn invocation(timestamp_ms: i64, tier: Tier, latency_ms: Option<u32>) -> Invocation {
        Invocation {
            timestamp_ms,
            account_id: "111122223333".into(),
            region: "us-east-1".into(),
            inference_region: None,
            request_id: format!("req-{timestamp_ms}"),
            operation: "Converse".into(),
            model: ModelRef {
                called: "amazon.nova-pro-v1:0".into(),
                model_id: "amazon.nova-pro-v1:0".into(),
                routing: Routing::InRegion,
                resolved: true,
            },
            caller_arn: None,
            request_metadata: None,
            tier: TierResolution {
                requested: Some(tier),
                served: tier,
                source: TierSource::ResponseBody,
            },
            tokens: TokenCounts {
                input: Some(100),
                output: Some(20),
                cache_read: Some(5),
                cache_write: None,
            },
            latency_ms,
            time_to_first_token_ms: None,
            error_code: None,
        }
    }

    #[test]
    fn buckets_are_utc_aligned() {
        // 2025-11-03T10:17:42.500Z
        let ts = 1_762_165_062_500;
        assert_eq!(Granularity::Minute.bucket_start(ts), 1_762_165_020);
        assert_eq!(Granularity::Hour.bucket_start(ts), 1_762_164_000);
        assert_eq!(Granularity::Day.bucket_start(ts), 1_762_128_000);
        // Before the epoch, buckets still round down.
        assert_eq!(Granularity::Day.bucket_start(-1), -86_400);
    }

    #[test]
    fn bins_are_monotonic_and_representatives_within_five_percent() {
        let mut previous = 0;
        for ms in 1..200_000u32 {
            let bin = latency::bin(ms);
            assert!(bin >= previous, "bin went down at {ms}");
            previous = bin;
            let error = (latency::representative_ms(bin) - f64::from(ms)).abs() / f64::from(ms);
            // The first bins hold single integers whose middle can be off by < 0.5 ms.
            assert!(
                error < 0.05 || ms < 12,
                "{ms} ms → bin {bin}, error {error}"
            );
        }
        assert_eq!(latency::bin(0), 0);
        assert_eq!(latency::bin(u32::MAX), 256);
    }

    #[test]
    fn quantiles_use_nearest_rank_over_merged_bins() {
        // 100 ms falls in the bin [97.0, 105.8) whose middle is 103 ms; 1000 ms in the bin
        // whose middle is 981 ms.
        let bins = [(latency::bin(1000), 10), (latency::bin(100), 90)];
        assert_eq!(latency::quantile(&bins, 0.5), Some(103));
        assert_eq!(latency::quantile(&bins, 0.9), Some(103));
        assert_eq!(latency::quantile(&bins, 0.91), Some(981));
        assert_eq!(latency::quantile(&bins, 1.0), Some(981));
        assert_eq!(latency::quantile(&[], 0.5), None);
    }

    #[test]
    fn delta_sums_exactly_per_cell_and_granularity() {
        let base = 1_762_165_062_500; // 10:17:42Z
        let priced = CostKind::Priced {
            cost: Money(3_000),
            standard: Some(Money(2_000)),
        };
        let calls = [
            invocation(base, Tier::Priority, Some(400)),
            invocation(base + 30_000, Tier::Priority, Some(500)), // next minute, same hour
            invocation(base, Tier::Flex, None),
        ];
        let callers = CallerDimensions::new(&[] as &[&str]);
        let mut delta = RollupDelta::default();
        delta.add(&calls[0], priced, &callers);
        delta.add(&calls[1], priced, &callers);
        delta.add(&calls[2], CostKind::Unpriced, &callers);

        let hour_priority = CellKey {
            granularity: Granularity::Hour,
            bucket_start: Granularity::Hour.bucket_start(base),
            account_id: "111122223333",
            region: "us-east-1",
            model_id: "amazon.nova-pro-v1:0",
            tier: Tier::Priority,
        };
        let cells = cells(&delta);
        let totals = cells[&hour_priority];
        assert_eq!(totals.invocations, 2);
        assert_eq!(totals.input_tokens, 200);
        assert_eq!(totals.cache_read_tokens, 10);
        assert_eq!(totals.cost_pico, 6_000);
        assert_eq!(totals.standard_cost_pico, 4_000);
        assert_eq!(totals.compared_cost_pico, 6_000);
        assert_eq!(totals.latency_sum_ms, 900);
        // Two minute cells + one hour + one day for Priority, three for Flex.
        assert_eq!(cells.len(), 4 + 3);
        let flex_day = CellKey {
            granularity: Granularity::Day,
            tier: Tier::Flex,
            bucket_start: Granularity::Day.bucket_start(base),
            ..hour_priority
        };
        assert_eq!(cells[&flex_day].unpriced_invocations, 1);
        assert_eq!(cells[&flex_day].cost_pico, 0);
        // Each Priority latency lands in one bin per granularity.
        assert_eq!(bins(&delta).iter().map(|bin| bin.3).sum::<i64>(), 6);
        // Packed per cell: the hour cell holds both Priority latencies, bins in order.
        let packed: HashMap<CellKey<'_>, PackedHistograms> = delta
            .packed_histograms()
            .into_iter()
            .map(|(cell, packed)| (delta.cell_key(cell), packed))
            .collect();
        let hour = &packed[&hour_priority];
        let unpacked: Vec<(i16, u64)> = hour.total.iter().map(|e| unpack(*e)).collect();
        let mut expected = vec![(latency::bin(400), 1), (latency::bin(500), 1)];
        expected.sort();
        assert_eq!(unpacked, expected);
        assert!(hour.first_token.is_empty());
    }

    #[test]
    fn packed_entries_keep_bin_and_count_and_sort_by_bin() {
        for (bin, count) in [(0, 1), (1, 7), (257, (1 << 40) - 1), (100, 123_456_789)] {
            assert_eq!(unpack(latency::pack(bin, count)), (bin, count as u64));
        }
        assert!(latency::pack(3, 1_000_000) < latency::pack(4, 1));
        // Past the count bits a count saturates instead of spilling into the bin.
        assert_eq!(unpack(latency::pack(5, 1 << 41)), (5, (1 << 40) - 1));
    }

    #[test]
    fn merged_histograms_add_equal_bins_and_keep_bin_order() {
        let pack = latency::pack;
        let left = [pack(1, 2), pack(5, 1), pack(9, 4)];
        let right = [pack(0, 3), pack(5, 6), pack(12, 1)];
        let merged = latency::merge_packed(&left, &right);
        assert_eq!(
            merged,
            vec![pack(0, 3), pack(1, 2), pack(5, 7), pack(9, 4), pack(12, 1)]
        );
        assert_eq!(latency::merge_packed(&merged, &[]), merged);
        assert_eq!(latency::merge_packed(&[], &left), left.to_vec());
        // A full bin stays full instead of spilling into the next bin's bits.
        let full = pack(3, latency::PACKED_COUNT_MASK);
        assert_eq!(latency::merge_packed(&[full], &[pack(3, 5)]), vec![full]);
    }

    #[test]
    fn not_billed_calls_are_neither_priced_nor_unpriced_and_cost_a_known_zero() {
        let base = 1_762_165_062_500;
        let mut cell = CellTotals::default();
        cell.add(&invocation(base, Tier::Standard, None), CostKind::NotBilled);
        assert_eq!((cell.priced_invocations, cell.unpriced_invocations), (0, 0));
        let mut totals = crate::store::Totals::default();
        totals.add_cell(&cell);
        assert_eq!(totals.cost_status(), crate::store::CostStatus::Priced);
        assert_eq!(totals.cost().known_pico(), Some(0), "$0, legitimately");
        // With an unpriced call beside it, nothing is known about the cell's cost.
        cell.add(&invocation(base, Tier::Standard, None), CostKind::Unpriced);
        let mut totals = crate::store::Totals::default();
        totals.add_cell(&cell);
        assert_eq!(totals.cost_status(), crate::store::CostStatus::Unpriced);
        assert_eq!(totals.cost().known_pico(), None);
    }

    #[test]
    fn caller_cells_split_by_identity_and_metadata_and_add_up_to_the_total() {
        let base = 1_762_165_062_500;
        let priced = CostKind::Priced {
            cost: Money(1_000),
            standard: None,
        };
        let mut calls = [
            invocation(base, Tier::Flex, None),
            invocation(base + 1, Tier::Flex, None),
            invocation(base + 2, Tier::Flex, None),
        ];
        calls[0].caller_arn = Some("arn:aws:iam::111122223333:role/evals".into());
        calls[0].request_metadata = Some(r#"{"team":"evals","trace_id":"abc"}"#.into());
        calls[1].caller_arn = Some("arn:aws:iam::111122223333:role/evals".into());
        calls[1].request_metadata = Some(r#"{"team":7}"#.into());
        calls[2].request_metadata = Some("not json".into());
        let profile =
            "arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/evals01";
        calls[2].model.called = profile.into();
        let callers = CallerDimensions::new(&["team", "team"]);
        assert_eq!(
            callers.names().collect::<Vec<_>>(),
            ["identity", "profile", "meta:team"]
        );
        let mut delta = RollupDelta::default();
        for call in &calls {
            delta.add(call, priced, &callers);
        }
        let cells = caller_cells(&delta);
        let day = |dimension: &str, value: &str| {
            let key = (
                cell_key(Granularity::Day, &calls[0]),
                dimension.to_string(),
                value.to_string(),
            );
            cells[&key]
        };
        let arn = "arn:aws:iam::111122223333:role/evals";
        assert_eq!(day("identity", arn).cost_pico, 2_000);
        assert_eq!(day("identity", "").invocations, 1);
        assert_eq!(day("meta:team", "evals").invocations, 1);
        assert_eq!(day("meta:team", "7").invocations, 1);
        assert_eq!(day("meta:team", "").invocations, 1);
        // The application inference profile a call went through is a dimension of its own.
        assert_eq!(day("profile", profile).invocations, 1);
        assert_eq!(day("profile", "").invocations, 2);
        // Hour and day cells for each of 2 + 2 + 3 values; no minute cells, no trace ids.
        assert_eq!(cells.len(), 2 * 7);
        assert!(
            cells
                .keys()
                .all(|(cell, _, _)| cell.granularity != Granularity::Minute)
        );
    }

    #[test]
    fn calls_before_the_minute_horizon_count_in_hours_and_days_only() {
        let horizon_s = 1_762_128_000; // 2025-11-03T00:00:00Z
        let before = invocation(horizon_s * 1000 - 1, Tier::Standard, Some(300));
        let after = invocation(horizon_s * 1000, Tier::Standard, Some(400));
        let callers = CallerDimensions::new(&[] as &[&str]);
        let priced = CostKind::Priced {
            cost: Money(1_000),
            standard: None,
        };
        let mut delta = RollupDelta::keeping_minutes_from(horizon_s);
        delta.add(&before, priced, &callers);
        delta.add(&after, priced, &callers);
        let kept = cells(&delta);
        let granularities = |call: &Invocation| -> Vec<Granularity> {
            let mut kept: Vec<Granularity> = Granularity::ALL
                .into_iter()
                .filter(|g| kept.contains_key(&cell_key(*g, call)))
                .collect();
            kept.sort();
            kept
        };
        assert_eq!(
            granularities(&before),
            [Granularity::Hour, Granularity::Day]
        );
        assert_eq!(granularities(&after), Granularity::ALL);
        // The histograms follow the cells: none for the older call's minute.
        let bins = bins(&delta);
        let minute_bins = |call: &Invocation| {
            bins.iter()
                .filter(|bin| bin.0 == cell_key(Granularity::Minute, call))
                .count()
        };
        assert_eq!((minute_bins(&before), minute_bins(&after)), (0, 1));
        // Caller cells: hours and days from the horizon on, days only before it.
        let caller_granularities = |delta: &RollupDelta, call: &Invocation| {
            let mut kept: Vec<Granularity> = delta
                .caller_cells()
                .iter()
                .filter(|caller| {
                    caller.dimension == IDENTITY_DIMENSION
                        && caller.cell.bucket_start
                            == caller.cell.granularity.bucket_start(call.timestamp_ms)
                        && caller.totals.invocations > 0
                })
                .map(|caller| caller.cell.granularity)
                .collect();
            kept.sort();
            kept
        };
        let mut only_before = RollupDelta::keeping_minutes_from(horizon_s);
        only_before.add(&before, priced, &callers);
        assert_eq!(
            caller_granularities(&only_before, &before),
            [Granularity::Day]
        );
        let mut only_after = RollupDelta::keeping_minutes_from(horizon_s);
        only_after.add(&after, priced, &callers);
        assert_eq!(
            caller_granularities(&only_after, &after),
            CALLER_GRANULARITIES
        );
        // A reprice moves only the cells that are kept.
        let mut reprice = RollupDelta::keeping_minutes_from(horizon_s);
        reprice.add_repricing(
            &before,
            (priced, None),
            (CostKind::Unpriced, None),
            &callers,
        );
        assert!(
            reprice
                .cells()
                .all(|(cell, _)| cell.granularity != Granularity::Minute)
        );
        assert_eq!(reprice.cells().count(), 2);
        assert!(
            reprice
                .caller_cells()
                .iter()
                .all(|caller| caller.cell.granularity == Granularity::Day)
        );
    }

    #[test]
    fn finest_cells_kept_step_down_at_the_horizon() {
        let horizon_s = 1_762_128_000;
        let kept = |callers, start_s| finest_kept(callers, start_s, horizon_s);
        assert_eq!(kept(false, horizon_s), Granularity::Minute);
        assert_eq!(kept(false, horizon_s - 60), Granularity::Hour);
        assert_eq!(kept(true, horizon_s), Granularity::Hour);
        assert_eq!(kept(true, horizon_s - 3_600), Granularity::Day);
        assert_eq!(finest_kept(true, 0, 0), Granularity::Hour);
    }

    #[test]
    fn long_caller_values_are_cut_on_a_character_boundary() {
        let long = "é".repeat(MAX_CALLER_VALUE_CHARS + 10);
        assert_eq!(truncate(&long).chars().count(), MAX_CALLER_VALUE_CHARS);
        assert_eq!(truncate("short"), "short");
    }

    #[test]
    fn merge_adds_every_field() {
        let mut a = CellTotals::default();
        a.add(
            &invocation(0, Tier::Standard, Some(10)),
            CostKind::Priced {
                cost: Money(7),
                standard: Some(Money(7)),
            },
        );
        let mut b = a;
        b.merge(&a);
        assert_eq!(b.invocations, 2);
        assert_eq!(b.cost_pico, 14);
        assert_eq!(b.latency_count, 2);
        assert_eq!(b.cache_read_tokens, 10);
    }
}
