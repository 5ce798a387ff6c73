//! A realistic, deterministic generator of Amazon Bedrock model-invocation-log records.
//!
//! It writes records exactly as Bedrock does (JSON lines shaped like the real records in
//! `real-aws-samples/invocation-logs/`), not tierwatch's own types, so whatever reads them has
//! to go through the real parser. Three users:
//!
//! - `tierwatch demo`: a month of traffic that tells a story (Priority chat bot, nightly Flex
//!   evals, a few models and profiles tierwatch cannot price);
//! - integration tests: every line comes with its [`Truth`], what a correct parser must read
//!   from it, to compare imported totals against;
//! - the import benchmark: millions of ~2 KB records, in the S3 layout ([`write_s3_layout`]).
//!
//! The same [`SimulationSpec`] always yields the same lines (one seeded ChaCha8 stream drives
//! every choice). Records come out in time order, apart from duplicates, which repeat an
//! earlier line later, as a re-delivery would.
//!
//! ```no_run
//! use tierwatch::simulate::{SimulationSpec, Simulator, S3LayoutOptions, write_s3_layout};
//! let spec = SimulationSpec::month(2025, 3, 100_000, 7);
//! let summary = write_s3_layout(
//!     Simulator::new(&spec)?,
//!     std::path::Path::new("/tmp/logs"),
//!     &S3LayoutOptions::default(),
//! )?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod catalog;
mod clock;
mod json;
mod plan;
mod render;
mod s3;
mod sample;
mod text;

use std::collections::VecDeque;

use rand::{RngExt, SeedableRng};

use crate::model::{Routing, Tier, TierSource, TokenCounts};
use clock::{MS_PER_SECOND, TrafficClock, month_start_ms};
use plan::{World, draw_plan};
use render::Renderer;
use sample::{SimRng, chance, index};
use text::SizeController;

pub use s3::{LayoutSummary, MAX_OPEN_BATCHES, S3LayoutOptions, S3LayoutWriter, write_s3_layout};

/// The S3 key prefix used by default (and in `inputBodyS3Path` URIs).
pub const DEFAULT_PREFIX: &str = "bedrock-logs";

/// The longest time range a spec may cover: 100 years.
const MAX_TIME_RANGE_MS: i64 = 100 * 366 * 24 * 3_600_000;
/// 10000-01-01T00:00:00Z: later timestamps no longer have four-digit years.
const YEAR_10000_MS: i64 = 253_402_300_800_000;

/// What to simulate.
#[derive(Debug, Clone, PartialEq)]
pub struct SimulationSpec {
    pub seed: u64,
    /// Records get timestamps spread over `[start_ms, end_ms)` (Unix ms, UTC), busier in US
    /// working hours and on weekdays.
    pub start_ms: i64,
    pub end_ms: i64,
    /// Lines to emit, bad and duplicate ones included.
    pub records: u64,
    pub accounts: Vec<String>,
    pub regions: Vec<String>,
    /// Share of lines that are malformed: truncated JSON, missing `requestId`, masked
    /// timestamp, unknown tier value.
    pub bad_record_rate: f64,
    /// Share of lines that repeat an earlier good line verbatim (re-delivery).
    pub duplicate_rate: f64,
    /// Share of good records that are failed calls (`errorCode`, no token counts).
    pub error_rate: f64,
    /// Target average line size in bytes. Records cannot be smaller than their envelope
    /// (~500 bytes), so very small targets are overshot.
    pub body_bytes: usize,
}

impl SimulationSpec {
    /// A calendar month (UTC) with sensible defaults: two accounts, us-east-1 and us-west-2,
    /// 1% bad lines, 0.5% duplicates, 2% failed calls, ~2000-byte lines. Months outside 1–12
    /// roll over into the neighbouring years.
    pub fn month(year: i32, month: u32, records: u64, seed: u64) -> SimulationSpec {
        SimulationSpec {
            seed,
            start_ms: month_start_ms(year, month),
            end_ms: month_start_ms(year, month.saturating_add(1)),
            records,
            accounts: vec!["111122223333".to_string(), "444455556666".to_string()],
            regions: vec!["us-east-1".to_string(), "us-west-2".to_string()],
            bad_record_rate: 0.01,
            duplicate_rate: 0.005,
            error_rate: 0.02,
            body_bytes: 2_000,
        }
    }

    fn validate(&self) -> Result<(), SpecError> {
        if self.accounts.is_empty() {
            return Err(SpecError::NoAccounts);
        }
        if self.regions.is_empty() {
            return Err(SpecError::NoRegions);
        }
        if self.start_ms >= self.end_ms {
            return Err(SpecError::EmptyTimeRange {
                start_ms: self.start_ms,
                end_ms: self.end_ms,
            });
        }
        // Timestamps are written with four-digit years, and the traffic clock keeps one entry
        // per hour of the range.
        if self.start_ms < 0
            || self.end_ms > YEAR_10000_MS
            || self.end_ms - self.start_ms > MAX_TIME_RANGE_MS
        {
            return Err(SpecError::UnsupportedTimeRange {
                start_ms: self.start_ms,
                end_ms: self.end_ms,
            });
        }
        for (name, rate) in [
            ("bad_record_rate", self.bad_record_rate),
            ("duplicate_rate", self.duplicate_rate),
            ("error_rate", self.error_rate),
        ] {
            if !(0.0..=1.0).contains(&rate) {
                return Err(SpecError::RateOutOfRange { name, rate });
            }
        }
        if self.bad_record_rate + self.duplicate_rate > 1.0 {
            return Err(SpecError::RatesOverOne {
                total: self.bad_record_rate + self.duplicate_rate,
            });
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SpecError {
    #[error("simulation spec has no accounts")]
    NoAccounts,
    #[error("simulation spec has no regions")]
    NoRegions,
    #[error("simulation time range is empty: start {start_ms} ms is not before end {end_ms} ms")]
    EmptyTimeRange { start_ms: i64, end_ms: i64 },
    #[error(
        "simulation time range {start_ms}..{end_ms} ms is unsupported: it must lie within the \
         years 1970 to 9999 and span at most 100 years"
    )]
    UnsupportedTimeRange { start_ms: i64, end_ms: i64 },
    #[error("{name} is {rate}, expected a share between 0 and 1")]
    RateOutOfRange { name: &'static str, rate: f64 },
    #[error("bad_record_rate + duplicate_rate is {total}, more than every line")]
    RatesOverOne { total: f64 },
}

/// One log line and what it is.
#[derive(Debug, Clone, PartialEq)]
pub struct SimulatedRecord {
    /// One JSON record, no newline.
    pub line: String,
    /// When the line is delivered (it decides the S3 hour folder). For good and bad records
    /// this is the record's own `timestamp` (whole seconds); a duplicate keeps its original's
    /// `timestamp` in the line but is delivered later, at this time.
    pub timestamp_ms: i64,
    pub account_id: String,
    pub region: String,
    pub truth: Truth,
    /// When the request body was offloaded (`inputBodyS3Path`), the body Bedrock would have
    /// stored at that path; [`write_s3_layout`] writes it under the hour's `data/` folder.
    pub offloaded_input: Option<String>,
}

/// What a line is, for whoever checks a parser against it.
// Nearly every line is `Good`, so boxing `Expected` would only add an allocation per record.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Truth {
    /// A record the parser must accept, and what it must read from it.
    Good(Expected),
    /// An exact repeat of an earlier good line.
    Duplicate,
    /// A malformed line and what is wrong with it.
    Bad(&'static str),
}

/// What a correct parser reads from a good record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    pub request_id: String,
    /// `Converse`, `ConverseStream`, `InvokeModel` or `InvokeModelWithResponseStream`.
    pub operation: &'static str,
    /// `modelId` exactly as written.
    pub model_called: String,
    /// The foundation-model id; for an application inference profile (which tierwatch cannot
    /// map without config) the profile ARN itself.
    pub model_id: String,
    /// False for application inference profiles: such calls are unpriced.
    pub model_resolved: bool,
    pub routing: Routing,
    pub inference_region: Option<String>,
    pub caller_arn: String,
    /// The served tier, as the record tells it.
    pub tier: Tier,
    /// Where the tier is found: response body, else request body, else `requestMetadata`
    /// (`service_tier` key), else assumed Standard.
    pub tier_source: TierSource,
    /// The envelope's counts (`inputTokenCount` excludes cached tokens). Cache counts are
    /// `None` when the envelope has no cache fields; all `None` for failed calls.
    pub tokens: TokenCounts,
    /// `metrics.latencyMs` (Converse, ConverseStream) or the stream's `invocationLatency`;
    /// `None` for InvokeModel and when the response body is not in the record.
    pub latency_ms: Option<u32>,
    /// The stream's `firstByteLatency` (InvokeModelWithResponseStream only).
    pub time_to_first_token_ms: Option<u32>,
    pub error_code: Option<String>,
}

/// The kinds of malformed lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Defect {
    Truncated,
    MissingRequestId,
    MaskedTimestamp,
    UnknownTier,
}

impl Defect {
    const ALL: [Defect; 4] = [
        Defect::Truncated,
        Defect::MissingRequestId,
        Defect::MaskedTimestamp,
        Defect::UnknownTier,
    ];

    fn description(self) -> &'static str {
        match self {
            Defect::Truncated => "truncated JSON: the line is cut mid-record",
            Defect::MissingRequestId => "record has no requestId",
            Defect::MaskedTimestamp => "timestamp is masked (\"xxxx...\"), not RFC 3339",
            Defect::UnknownTier => "response names unknown service tier \"turbo\"",
        }
    }
}

/// Recent good lines kept as candidates for re-delivery.
const RECENT_LINES: usize = 64;
/// Share of good lines remembered for re-delivery (keeps copying cheap).
const REMEMBER_SHARE: f64 = 0.125;

struct RecentLine {
    line: String,
    account: usize,
    region: usize,
}

/// Iterator over simulated records; see the module docs.
pub struct Simulator {
    spec: SimulationSpec,
    rng: SimRng,
    world: World,
    clock: TrafficClock,
    renderer: Renderer,
    sizes: SizeController,
    recent: VecDeque<RecentLine>,
    emitted: u64,
}

impl Simulator {
    /// The application inference profiles the simulated traffic calls, with their model.
    pub fn application_profiles(&self) -> Vec<(String, &'static str)> {
        self.world.application_profiles()
    }

    pub fn new(spec: &SimulationSpec) -> Result<Simulator, SpecError> {
        spec.validate()?;
        let rng = SimRng::seed_from_u64(spec.seed);
        let world = World::new(&spec.accounts, &spec.regions);
        Ok(Simulator {
            spec: spec.clone(),
            rng,
            world,
            clock: TrafficClock::new(spec.start_ms, spec.end_ms, spec.records),
            renderer: Renderer::new(),
            sizes: SizeController::new(spec.body_bytes),
            recent: VecDeque::with_capacity(RECENT_LINES),
            emitted: 0,
        })
    }

    fn good_record(&mut self, timestamp_ms: i64) -> SimulatedRecord {
        let budget = self.sizes.text_budget(&mut self.rng);
        let plan = draw_plan(
            &mut self.rng,
            &self.world,
            timestamp_ms,
            self.spec.error_rate,
            budget,
        );
        let names = plan.model_names(&self.world);
        let rendered = self
            .renderer
            .render(&mut self.rng, &plan, &self.world, &names);
        if rendered.text_bytes > 0 {
            self.sizes
                .record_overhead(rendered.line.len(), rendered.text_bytes);
        }
        if self.recent.is_empty() || chance(&mut self.rng, REMEMBER_SHARE) {
            if self.recent.len() == RECENT_LINES {
                self.recent.pop_front();
            }
            self.recent.push_back(RecentLine {
                line: rendered.line.clone(),
                account: plan.account,
                region: plan.region,
            });
        }
        SimulatedRecord {
            line: rendered.line,
            timestamp_ms,
            account_id: self.world.accounts[plan.account].clone(),
            region: self.world.regions[plan.region].clone(),
            truth: Truth::Good(plan.expected(&self.world, names)),
            offloaded_input: rendered.offloaded_input,
        }
    }

    fn bad_record(&mut self, timestamp_ms: i64) -> SimulatedRecord {
        let defect = Defect::ALL[index(&mut self.rng, Defect::ALL.len())];
        let budget = self.sizes.text_budget(&mut self.rng);
        let mut plan = draw_plan(&mut self.rng, &self.world, timestamp_ms, 0.0, budget);
        plan.make_defective(defect);
        let names = plan.model_names(&self.world);
        let mut line = self
            .renderer
            .render(&mut self.rng, &plan, &self.world, &names)
            .line;
        if defect == Defect::Truncated {
            truncate_mid_record(&mut self.rng, &mut line);
        }
        SimulatedRecord {
            line,
            timestamp_ms,
            account_id: self.world.accounts[plan.account].clone(),
            region: self.world.regions[plan.region].clone(),
            truth: Truth::Bad(defect.description()),
            offloaded_input: None,
        }
    }

    /// A repeat of a recent good line, delivered now.
    fn duplicate_record(&mut self, timestamp_ms: i64) -> Option<SimulatedRecord> {
        let pick = index(&mut self.rng, self.recent.len());
        let original = self.recent.get(pick)?;
        Some(SimulatedRecord {
            line: original.line.clone(),
            timestamp_ms,
            account_id: self.world.accounts[original.account].clone(),
            region: self.world.regions[original.region].clone(),
            truth: Truth::Duplicate,
            offloaded_input: None,
        })
    }
}

/// Cuts a line somewhere between 20% and 90% of its length (on a character boundary). A proper
/// prefix of a JSON object is never valid JSON, so the result always fails to parse.
fn truncate_mid_record(rng: &mut SimRng, line: &mut String) {
    let len = line.len();
    let mut cut = len / 5 + index(rng, (len * 7 / 10).max(1));
    while cut > 1 && !line.is_char_boundary(cut) {
        cut -= 1;
    }
    line.truncate(cut.clamp(1, len.saturating_sub(1).max(1)));
}

impl Iterator for Simulator {
    type Item = SimulatedRecord;

    fn next(&mut self) -> Option<SimulatedRecord> {
        if self.emitted >= self.spec.records {
            return None;
        }
        self.emitted += 1;
        // Bedrock writes whole seconds.
        let timestamp_ms =
            self.clock.next_ms(&mut self.rng).div_euclid(MS_PER_SECOND) * MS_PER_SECOND;
        let roll: f64 = self.rng.random();
        let bad = self.spec.bad_record_rate;
        let record = if roll < bad {
            self.bad_record(timestamp_ms)
        } else if roll < bad + self.spec.duplicate_rate {
            match self.duplicate_record(timestamp_ms) {
                Some(record) => record,
                None => self.good_record(timestamp_ms),
            }
        } else {
            self.good_record(timestamp_ms)
        };
        self.sizes.record_line(record.line.len());
        Some(record)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = usize::try_from(self.spec.records - self.emitted).unwrap_or(usize::MAX);
        (left, Some(left))
    }
}

#[cfg(test)]
mod tests;
