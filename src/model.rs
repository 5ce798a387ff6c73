//! Domain types shared by every step of the pipeline: tiers, tokens, models, money and the
//! invocation that flows from `ingest` through `pricing` into `store`.
//!
//! Money and tokens are integers end to end; dollars appear only when a value is rendered.

use std::fmt;

/// A Bedrock service tier, as billed. The API's `default` tier is shown as Standard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Tier {
    Priority,
    Standard,
    Flex,
    Reserved,
}

/// A tier name that tierwatch does not know (kept verbatim for the error message).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unrecognized service tier {0:?} (expected priority, default, standard, flex or reserved)")]
pub struct UnknownTier(pub String);

impl Tier {
    pub const ALL: [Tier; 4] = [Tier::Priority, Tier::Standard, Tier::Flex, Tier::Reserved];

    /// Parses a tier as written by Bedrock, a caller or a config file, case-insensitively.
    ///
    /// Returns `Ok(None)` for `auto` (or an empty string): the caller let Bedrock choose,
    /// which names no tier.
    pub fn parse(name: &str) -> Result<Option<Tier>, UnknownTier> {
        let trimmed = name.trim();
        let tier = match trimmed.to_ascii_lowercase().as_str() {
            "priority" => Tier::Priority,
            "default" | "standard" => Tier::Standard,
            "flex" => Tier::Flex,
            "reserved" => Tier::Reserved,
            "auto" | "" => return Ok(None),
            _ => return Err(UnknownTier(trimmed.to_string())),
        };
        Ok(Some(tier))
    }

    /// The stored and displayed name.
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Priority => "priority",
            Tier::Standard => "standard",
            Tier::Flex => "flex",
            Tier::Reserved => "reserved",
        }
    }

    /// Parses a name written by tierwatch itself (see [`Tier::as_str`]).
    pub fn from_stored(name: &str) -> Option<Tier> {
        Tier::ALL.into_iter().find(|tier| tier.as_str() == name)
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where the served (billed) tier of an invocation was read from, most trusted first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TierSource {
    /// The response body named the tier that served the call.
    ResponseBody,
    /// Only the request body named a tier; assumed served as requested.
    RequestBody,
    /// Only the caller's `requestMetadata` named a tier; assumed served as requested.
    RequestMetadata,
    /// Nothing named a tier: Standard, the API's default, is assumed.
    Assumed,
}

impl TierSource {
    pub const ALL: [TierSource; 4] = [
        TierSource::ResponseBody,
        TierSource::RequestBody,
        TierSource::RequestMetadata,
        TierSource::Assumed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TierSource::ResponseBody => "response_body",
            TierSource::RequestBody => "request_body",
            TierSource::RequestMetadata => "request_metadata",
            TierSource::Assumed => "assumed",
        }
    }

    pub fn from_stored(name: &str) -> Option<TierSource> {
        TierSource::ALL
            .into_iter()
            .find(|source| source.as_str() == name)
    }
}

/// The tier an invocation asked for, the tier that served it, and how we know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TierResolution {
    pub requested: Option<Tier>,
    pub served: Tier,
    pub source: TierSource,
}

/// Token counts of one invocation, split the way Bedrock bills them.
///
/// `input` is the input billed at the plain input rate: it never includes cached tokens.
/// `None` means the record did not say (guardrail-blocked calls, rerank, image models);
/// `Some(0)` means it said zero. The difference is kept because it is information.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TokenCounts {
    pub input: Option<u64>,
    pub output: Option<u64>,
    pub cache_read: Option<u64>,
    pub cache_write: Option<u64>,
}

impl TokenCounts {
    /// True when the record carried no token count of any kind.
    pub fn is_unknown(&self) -> bool {
        self.input.is_none()
            && self.output.is_none()
            && self.cache_read.is_none()
            && self.cache_write.is_none()
    }

    /// The count of one token type, absent counted as zero.
    pub fn get(&self, kind: TokenKind) -> u64 {
        match kind {
            TokenKind::Input => self.input,
            TokenKind::Output => self.output,
            TokenKind::CacheRead => self.cache_read,
            TokenKind::CacheWrite => self.cache_write,
        }
        .unwrap_or(0)
    }
}

/// The four token types Bedrock prices separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenKind {
    Input,
    Output,
    CacheRead,
    CacheWrite,
}

impl TokenKind {
    pub const ALL: [TokenKind; 4] = [
        TokenKind::Input,
        TokenKind::Output,
        TokenKind::CacheRead,
        TokenKind::CacheWrite,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TokenKind::Input => "input",
            TokenKind::Output => "output",
            TokenKind::CacheRead => "cache_read",
            TokenKind::CacheWrite => "cache_write",
        }
    }
}

/// How a call was routed, read from the inference-profile prefix of the model id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Routing {
    /// A bare model id or foundation-model ARN: served in the calling region.
    InRegion,
    /// A geographic cross-region profile (`us.`, `eu.`, `apac.`, ...): billed at the calling
    /// region's own rate.
    Geo,
    /// A `global.` cross-region profile: billed with the `-cross-region-global` usage types.
    Global,
}

impl Routing {
    pub const ALL: [Routing; 3] = [Routing::InRegion, Routing::Geo, Routing::Global];

    pub fn as_str(self) -> &'static str {
        match self {
            Routing::InRegion => "in_region",
            Routing::Geo => "geo",
            Routing::Global => "global",
        }
    }

    pub fn from_stored(name: &str) -> Option<Routing> {
        Routing::ALL
            .into_iter()
            .find(|routing| routing.as_str() == name)
    }
}

/// The model of an invocation: as called, and normalized to a foundation-model id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelRef {
    /// `modelId` exactly as the record gave it (id, profile id or ARN).
    pub called: String,
    /// The foundation-model id used for pricing and grouping, e.g. `amazon.nova-pro-v1:0`.
    /// For an application inference profile that config does not map, this is the ARN.
    pub model_id: String,
    pub routing: Routing,
    /// False when `model_id` could not be resolved to a foundation model (an unmapped
    /// application inference profile): such calls are unpriced, never $0.
    pub resolved: bool,
}

/// Money in picodollars (10⁻¹² USD).
///
/// Prices are whole micro-dollars per million tokens, so `tokens × price` is an exact number
/// of picodollars: no rounding happens until a value is rendered. `i64` holds ±$9.2 million,
/// far above one invocation or one rollup cell; report totals are summed in `i128`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Money(pub i64);

/// Picodollars in one micro-dollar.
const PICO_PER_MICRO: i128 = 1_000_000;

impl Money {
    pub const ZERO: Money = Money(0);

    pub fn picodollars(self) -> i64 {
        self.0
    }

    /// Formats an exact picodollar amount as dollars with six decimals, rounding half away
    /// from zero at the sixth decimal (the only rounding tierwatch does).
    pub fn format_usd(picodollars: i128) -> String {
        let negative = picodollars < 0;
        let magnitude = picodollars.unsigned_abs();
        let per_micro = PICO_PER_MICRO as u128;
        let micros = (magnitude + per_micro / 2) / per_micro;
        let dollars = micros / 1_000_000;
        let fraction = micros % 1_000_000;
        let sign = if negative && micros != 0 { "-" } else { "" };
        format!("{sign}{dollars}.{fraction:06}")
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&Money::format_usd(i128::from(self.0)))
    }
}

/// One model invocation, as parsed from a log record (before pricing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// Milliseconds since the Unix epoch, UTC.
    pub timestamp_ms: i64,
    pub account_id: String,
    /// The region the call was made in (and is billed in).
    pub region: String,
    /// The region that served a cross-region call, when the record says.
    pub inference_region: Option<String>,
    pub request_id: String,
    /// `Converse`, `ConverseStream`, `InvokeModel`, `InvokeModelWithResponseStream`, ...
    pub operation: String,
    pub model: ModelRef,
    /// `identity.arn` of the caller.
    pub caller_arn: Option<String>,
    /// The caller's `requestMetadata` map as compact JSON, when present.
    pub request_metadata: Option<String>,
    pub tier: TierResolution,
    pub tokens: TokenCounts,
    /// Time to the last token, in milliseconds.
    pub latency_ms: Option<u32>,
    /// Time to the first token (streaming calls), in milliseconds.
    pub time_to_first_token_ms: Option<u32>,
    /// `errorCode` of a failed call.
    pub error_code: Option<String>,
}

impl Invocation {
    pub fn is_error(&self) -> bool {
        self.error_code.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_tier_is_standard_and_auto_names_none() {
        assert_eq!(Tier::parse("default"), Ok(Some(Tier::Standard)));
        assert_eq!(Tier::parse("Flex"), Ok(Some(Tier::Flex)));
        assert_eq!(Tier::parse(" PRIORITY "), Ok(Some(Tier::Priority)));
        assert_eq!(Tier::parse("auto"), Ok(None));
        assert_eq!(Tier::parse("scale"), Err(UnknownTier("scale".into())));
    }

    #[test]
    fn stored_names_round_trip() {
        for tier in Tier::ALL {
            assert_eq!(Tier::from_stored(tier.as_str()), Some(tier));
        }
        for source in TierSource::ALL {
            assert_eq!(TierSource::from_stored(source.as_str()), Some(source));
        }
        for routing in Routing::ALL {
            assert_eq!(Routing::from_stored(routing.as_str()), Some(routing));
        }
    }

    #[test]
    fn money_formats_with_six_decimals_rounding_half_away_from_zero() {
        assert_eq!(Money::format_usd(0), "0.000000");
        assert_eq!(Money::format_usd(1_500_000), "0.000002"); // 1.5 µ$ rounds up
        assert_eq!(Money::format_usd(1_499_999), "0.000001");
        assert_eq!(Money::format_usd(12_345_678_000_000), "12.345678");
        assert_eq!(Money::format_usd(-2_500_000), "-0.000003");
        assert_eq!(Money::format_usd(-400_000), "0.000000");
        assert_eq!(Money(1_000_000_000_000).to_string(), "1.000000");
    }

    #[test]
    fn absent_tokens_are_unknown_but_zero_is_known() {
        assert!(TokenCounts::default().is_unknown());
        let zero = TokenCounts {
            input: Some(0),
            ..TokenCounts::default()
        };
        assert!(!zero.is_unknown());
        assert_eq!(zero.get(TokenKind::Output), 0);
    }
}
