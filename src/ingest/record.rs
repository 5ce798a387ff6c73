//! One Bedrock model-invocation-log record → [`Invocation`].
//!
//! The record is deserialized straight from the borrowed bytes. Only the envelope fields and a
//! handful of keys inside the request and response bodies are looked at: the bodies themselves
//! (often most of a record's bytes) are skipped with [`IgnoredAny`], never built into a
//! `serde_json::Value`. Key order is never relied on (S3 and CloudWatch deliveries differ).
//!
//! Every leaf value is first read as a lenient [`Scalar`] and checked afterwards, so a wrong
//! type becomes a precise [`RejectReason::InvalidField`] naming the field path, and a serde
//! error can only mean the bytes are not JSON ([`RejectReason::InvalidJson`]).
//!
//! # Token counts
//! The envelope is authoritative: `input.inputTokenCount`, `input.cacheReadInputTokenCount`,
//! `input.cacheWriteInputTokenCount` and `output.outputTokenCount`. Only for a count the envelope
//! leaves out is the response body consulted, first match wins:
//! 1. Converse `usage.{inputTokens, outputTokens, cacheReadInputTokens, cacheWriteInputTokens}`;
//! 2. a stream chunk's `amazon-bedrock-invocationMetrics.{inputTokenCount, outputTokenCount,
//!    cacheReadInputTokenCount, cacheWriteInputTokenCount}`;
//! 3. Anthropic native `usage.{input_tokens, output_tokens, cache_read_input_tokens,
//!    cache_creation_input_tokens}`;
//! 4. OpenAI `usage.{prompt_tokens, completion_tokens, prompt_tokens_details.cached_tokens}`;
//!    OpenAI's `prompt_tokens` *includes* the cached tokens, so input = prompt − cached;
//! 5. Titan embeddings `inputTextTokenCount` (input only);
//! 6. Llama `prompt_token_count` / `generation_token_count`.
//!
//! [`TokenCounts::input`] never includes cache tokens: Bedrock's `inputTokenCount` and Converse's
//! `inputTokens` already exclude them (one real record has 3 input tokens beside 24,479
//! cache-write tokens), and each of the four kinds is priced on its own. An absent count stays
//! `None`; a present `0` is `Some(0)`.
//!
//! # Service tier
//! Requested: the request body (`serviceTier` as `{"type": ...}` or a string, `service_tier`,
//! `additionalModelRequestFields.service_tier`), else `requestMetadata[tier_metadata_key]`.
//! Served: the response body (`serviceTier`, `service_tier`, also in stream chunks and in a
//! Converse stream `metadata` event); else the requested tier; else Standard, marked assumed.
//! `auto` (and an empty name) names no tier and is passed over.
//!
//! # Wrappers
//! A CloudWatch Logs row `{"@timestamp": ..., "@message": "<record JSON>"}`, or an object with a
//! string `message` and no `requestId` (a CloudWatch Logs event), is unwrapped once.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

use chrono::DateTime;
use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::model::{Invocation, ModelRef, Routing, Tier, TierResolution, TierSource, TokenCounts};

/// The `requestMetadata` key read for a caller-stamped tier when none is configured.
pub const DEFAULT_TIER_METADATA_KEY: &str = "service_tier";

/// Rejection details longer than this are cut (with an ellipsis).
const MAX_DETAIL_CHARS: usize = 300;

/// Values quoted inside a detail are cut to this many characters.
const MAX_QUOTED_CHARS: usize = 60;

/// How records are interpreted beyond what the record itself says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseOptions {
    /// requestMetadata key that names the tier; default "service_tier".
    pub tier_metadata_key: String,
    /// Application-inference-profile ARN (full ARN, or just its trailing profile id) →
    /// foundation model id.
    pub application_profiles: HashMap<String, String>,
}

impl Default for ParseOptions {
    fn default() -> Self {
        ParseOptions {
            tier_metadata_key: DEFAULT_TIER_METADATA_KEY.to_string(),
            application_profiles: HashMap::new(),
        }
    }
}

/// Why a record (or a stretch of input) was not turned into an [`Invocation`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub reason: RejectReason,
    /// What exactly is wrong, for a person: names the field and the offending value.
    pub detail: String,
}

impl Rejection {
    /// A rejection whose detail is cut to a readable length.
    pub fn new(reason: RejectReason, detail: impl Into<String>) -> Rejection {
        Rejection {
            reason,
            detail: clamp_chars(detail.into(), MAX_DETAIL_CHARS),
        }
    }

    /// The same rejection, with `context` (e.g. the wrapper key) in front of the detail.
    fn within(self, context: &str) -> Rejection {
        Rejection::new(self.reason, format!("{context}: {}", self.detail))
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.reason, self.detail)
    }
}

impl std::error::Error for Rejection {}

/// The kind of a [`Rejection`], stored and counted by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RejectReason {
    /// The bytes are not valid JSON.
    InvalidJson,
    /// Valid JSON, but not a model-invocation-log record (another schema, a fragment, a body).
    NotInvocationLog,
    /// A required envelope field is absent.
    MissingField,
    /// A field has the wrong type or an impossible value.
    InvalidField,
    /// `timestamp` is not an RFC 3339 date-time.
    InvalidTimestamp,
    /// A service tier name tierwatch does not know.
    UnknownTier,
    /// A record larger than the reader's limit (skipped without being buffered).
    RecordTooLarge,
    /// Text between records that is not a JSON record.
    UnexpectedText,
}

impl RejectReason {
    pub const ALL: [RejectReason; 8] = [
        RejectReason::InvalidJson,
        RejectReason::NotInvocationLog,
        RejectReason::MissingField,
        RejectReason::InvalidField,
        RejectReason::InvalidTimestamp,
        RejectReason::UnknownTier,
        RejectReason::RecordTooLarge,
        RejectReason::UnexpectedText,
    ];

    /// The stored and displayed name.
    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::InvalidJson => "invalid_json",
            RejectReason::NotInvocationLog => "not_invocation_log",
            RejectReason::MissingField => "missing_field",
            RejectReason::InvalidField => "invalid_field",
            RejectReason::InvalidTimestamp => "invalid_timestamp",
            RejectReason::UnknownTier => "unknown_tier",
            RejectReason::RecordTooLarge => "record_too_large",
            RejectReason::UnexpectedText => "unexpected_text",
        }
    }

    /// Parses a name written by [`RejectReason::as_str`].
    pub fn from_stored(name: &str) -> Option<RejectReason> {
        RejectReason::ALL
            .into_iter()
            .find(|reason| reason.as_str() == name)
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Parses one invocation-log record (or a CloudWatch wrapper around one).
pub fn parse_record(bytes: &[u8], options: &ParseOptions) -> Result<Invocation, Rejection> {
    let envelope = read_envelope(bytes)?;
    if let Some((key, inner)) = envelope.wrapped_record() {
        // Unwrap once: a record inside a wrapper inside a wrapper is not a shape anyone writes.
        let inner_envelope = read_envelope(inner.as_bytes()).map_err(|r| r.within(key))?;
        return build_invocation(inner_envelope, options).map_err(|r| r.within(key));
    }
    build_invocation(envelope, options)
}

fn read_envelope(bytes: &[u8]) -> Result<Envelope<'_>, Rejection> {
    serde_json::from_slice(bytes).map_err(|error| invalid_json(&error, bytes))
}

/// Turns a serde_json error (only syntax errors can happen, see the module docs) into a
/// rejection that says where in the record it is. Lines and columns count from the record's
/// first byte.
fn invalid_json(error: &serde_json::Error, bytes: &[u8]) -> Rejection {
    let full = error.to_string();
    if error.line() == 0 {
        return Rejection::new(RejectReason::InvalidJson, format!("invalid JSON: {full}"));
    }
    let position = format!(" at line {} column {}", error.line(), error.column());
    let mut message = full.strip_suffix(&position).unwrap_or(&full).to_string();
    if let Some(at) = byte_position(bytes, error.line(), error.column()) {
        if let Some(closer) = trailing_comma_before(bytes, at) {
            // serde_json reports `[1, 2,]` as "expected value" when skipping a value.
            message = format!("trailing comma before '{}'", char::from(closer));
        } else if message == "expected value"
            && let Some(found) = char_at(bytes, at)
        {
            message = format!("expected value, found {found:?}");
        }
    }
    let truncated = if error.is_eof() {
        " (the record is truncated)"
    } else {
        ""
    };
    Rejection::new(
        RejectReason::InvalidJson,
        format!(
            "invalid JSON at line {} column {}: {message}{truncated}",
            error.line(),
            error.column()
        ),
    )
}

/// The byte offset of a serde_json error position (1-based line, 1-based byte column).
fn byte_position(bytes: &[u8], line: usize, column: usize) -> Option<usize> {
    let line_start = if line <= 1 {
        0
    } else {
        memchr::memchr_iter(b'\n', bytes).nth(line - 2)? + 1
    };
    let at = line_start + column.checked_sub(1)?;
    (at < bytes.len()).then_some(at)
}

/// The character starting at byte `at`, if one does.
fn char_at(bytes: &[u8], at: usize) -> Option<char> {
    let tail = &bytes[at..bytes.len().min(at + 4)];
    let valid = match std::str::from_utf8(tail) {
        Ok(text) => text,
        Err(error) => std::str::from_utf8(&tail[..error.valid_up_to()]).ok()?,
    };
    valid.chars().next()
}

/// When the byte at `at` is a `]` or `}` whose previous non-blank byte is a comma, returns
/// that closing byte.
fn trailing_comma_before(bytes: &[u8], at: usize) -> Option<u8> {
    let closer = *bytes.get(at)?;
    if closer != b']' && closer != b'}' {
        return None;
    }
    let before = bytes[..at].trim_ascii_end();
    (before.last() == Some(&b',')).then_some(closer)
}

// ---------------------------------------------------------------------------------------------
// Building the invocation from what was read
// ---------------------------------------------------------------------------------------------

fn build_invocation(envelope: Envelope<'_>, options: &ParseOptions) -> Result<Invocation, Rejection> {
    check_is_invocation_log(&envelope)?;

    let timestamp = required_text(&envelope.timestamp, "timestamp")?;
    let timestamp_ms = parse_timestamp(&timestamp)?;
    let account_id = required_text(&envelope.account_id, "accountId")?;
    let region = required_text(&envelope.region, "region")?;
    let request_id = required_text(&envelope.request_id, "requestId")?;
    let model_called = required_text(&envelope.model_id, "modelId")?;

    let operation = optional_text(&envelope.operation, "operation")?.unwrap_or_default();
    let inference_region = optional_text(&envelope.inference_region, "inferenceRegion")?;
    let error_code = optional_text(&envelope.error_code, "errorCode")?;
    let caller_arn = caller_arn(&envelope)?;
    check_section_shape(&envelope.input, "input")?;
    check_section_shape(&envelope.output, "output")?;

    let tokens = token_counts(&envelope)?;
    let (latency_ms, time_to_first_token_ms) = latencies(&envelope.output.body)?;
    let tier = resolve_tier(&envelope, options)?;
    let request_metadata = request_metadata_text(envelope.request_metadata.as_ref())?;

    Ok(Invocation {
        timestamp_ms,
        account_id: account_id.into_owned(),
        region: region.into_owned(),
        inference_region: inference_region.map(Cow::into_owned),
        request_id: request_id.into_owned(),
        operation: operation.into_owned(),
        model: normalize_model(&model_called, options),
        caller_arn: caller_arn.map(Cow::into_owned),
        request_metadata,
        tier,
        tokens,
        latency_ms,
        time_to_first_token_ms,
        error_code: error_code.map(Cow::into_owned),
    })
}

/// Rejects JSON objects that are something else than an invocation-log record: another
/// `schemaType`, or an object with none of the record's identifying keys (a console fragment,
/// an offloaded body object, ...).
fn check_is_invocation_log(envelope: &Envelope<'_>) -> Result<(), Rejection> {
    if let Some(value) = &envelope.not_an_object {
        return Err(Rejection::new(
            RejectReason::NotInvocationLog,
            format!("expected a JSON object, got {}", value.describe()),
        ));
    }
    match &envelope.schema_type {
        Some(Scalar::Str(schema)) if schema != "ModelInvocationLog" => {
            return Err(Rejection::new(
                RejectReason::NotInvocationLog,
                format!(
                    "schemaType is {}, not \"ModelInvocationLog\"",
                    quote(schema)
                ),
            ));
        }
        Some(Scalar::Str(_)) | Some(Scalar::Null) => {}
        Some(other) => return Err(wrong_type("schemaType", "a string", other)),
        None => {
            let identifying = [
                &envelope.timestamp,
                &envelope.account_id,
                &envelope.request_id,
                &envelope.model_id,
            ];
            if identifying.iter().all(|field| field.is_none()) {
                return Err(Rejection::new(
                    RejectReason::NotInvocationLog,
                    "not a model invocation log record: none of schemaType, timestamp, \
                     accountId, requestId, modelId is present",
                ));
            }
        }
    }
    Ok(())
}

fn parse_timestamp(text: &str) -> Result<i64, Rejection> {
    DateTime::parse_from_rfc3339(text)
        .map(|instant| instant.timestamp_millis())
        .map_err(|_| {
            Rejection::new(
                RejectReason::InvalidTimestamp,
                format!("invalid timestamp {} (expected RFC 3339)", quote(text)),
            )
        })
}

/// A required, non-empty string field of the envelope.
fn required_text<'a>(field: &'a Option<Scalar<'_>>, name: &str) -> Result<Cow<'a, str>, Rejection> {
    match field {
        None => Err(Rejection::new(
            RejectReason::MissingField,
            format!("missing field \"{name}\""),
        )),
        Some(Scalar::Str(text)) if !text.trim().is_empty() => Ok(Cow::Borrowed(text.as_ref())),
        Some(other) => Err(wrong_type(name, "a non-empty string", other)),
    }
}

/// An optional string field: absent, `null` and `""` all mean "not given".
fn optional_text<'a>(
    field: &'a Option<Scalar<'_>>,
    name: &str,
) -> Result<Option<Cow<'a, str>>, Rejection> {
    match field {
        None | Some(Scalar::Null) => Ok(None),
        Some(Scalar::Str(text)) if text.is_empty() => Ok(None),
        Some(Scalar::Str(text)) => Ok(Some(Cow::Borrowed(text.as_ref()))),
        Some(other) => Err(wrong_type(name, "a string", other)),
    }
}

fn caller_arn<'a>(envelope: &'a Envelope<'_>) -> Result<Option<Cow<'a, str>>, Rejection> {
    match &envelope.identity {
        None => Ok(None),
        Some(Picked::FromObject(arn)) => optional_text(arn, "identity.arn"),
        Some(Picked::Plain(Scalar::Null)) => Ok(None),
        Some(Picked::Plain(other)) => Err(wrong_type("identity", "an object", other)),
    }
}

fn check_section_shape(section: &Section<'_>, name: &str) -> Result<(), Rejection> {
    match &section.not_an_object {
        Some(value) => Err(wrong_type(name, "an object", value)),
        None => Ok(()),
    }
}

fn wrong_type(path: &str, expected: &str, got: &Scalar<'_>) -> Rejection {
    Rejection::new(
        RejectReason::InvalidField,
        format!("{path}: expected {expected}, got {}", got.describe()),
    )
}

/// A token count: a non-negative integer; `null` counts as absent.
fn count_value(value: &Scalar<'_>, path: &dyn fmt::Display) -> Result<Option<u64>, Rejection> {
    match value {
        Scalar::Unsigned(count) => Ok(Some(*count)),
        Scalar::Null => Ok(None),
        other => Err(Rejection::new(
            RejectReason::InvalidField,
            format!(
                "{path}: expected a non-negative integer, got {}",
                other.describe()
            ),
        )),
    }
}

fn envelope_count(field: &Option<Scalar<'_>>, path: &str) -> Result<Option<u64>, Rejection> {
    match field {
        Some(value) => count_value(value, &path),
        None => Ok(None),
    }
}

const RESPONSE_BODY: &str = "output.outputBodyJson";
const REQUEST_BODY: &str = "input.inputBodyJson";

/// The count in `slot` of a body, if the body has it.
fn body_count(facts: &Facts<'_>, section: &str, slot: Slot) -> Result<Option<u64>, Rejection> {
    match facts.get(slot) {
        Some(fact) => count_value(&fact.value, &fact.path(section, slot)),
        None => Ok(None),
    }
}

/// The first of `slots` the body has a count for.
fn first_body_count(facts: &Facts<'_>, slots: &[Slot]) -> Result<Option<u64>, Rejection> {
    for &slot in slots {
        if let Some(count) = body_count(facts, RESPONSE_BODY, slot)? {
            return Ok(Some(count));
        }
    }
    Ok(None)
}

/// See "Token counts" in the module docs.
fn token_counts(envelope: &Envelope<'_>) -> Result<TokenCounts, Rejection> {
    let body = &envelope.output.body;

    let input = match envelope_count(&envelope.input.token_count, "input.inputTokenCount")? {
        Some(count) => Some(count),
        None => body_input_tokens(body)?,
    };
    let output = match envelope_count(&envelope.output.token_count, "output.outputTokenCount")? {
        Some(count) => Some(count),
        None => first_body_count(
            body,
            &[
                Slot::UsageOutputTokens,
                Slot::InvocationMetricsOutputTokenCount,
                Slot::AnthropicOutputTokens,
                Slot::OpenAiCompletionTokens,
                Slot::LlamaGenerationTokenCount,
            ],
        )?,
    };
    let cache_read = match envelope_count(
        &envelope.input.cache_read,
        "input.cacheReadInputTokenCount",
    )? {
        Some(count) => Some(count),
        None => first_body_count(
            body,
            &[
                Slot::UsageCacheReadInputTokens,
                Slot::InvocationMetricsCacheReadInputTokenCount,
                Slot::AnthropicCacheReadInputTokens,
                Slot::OpenAiCachedTokens,
            ],
        )?,
    };
    let cache_write = match envelope_count(
        &envelope.input.cache_write,
        "input.cacheWriteInputTokenCount",
    )? {
        Some(count) => Some(count),
        None => first_body_count(
            body,
            &[
                Slot::UsageCacheWriteInputTokens,
                Slot::InvocationMetricsCacheWriteInputTokenCount,
                Slot::AnthropicCacheCreationInputTokens,
            ],
        )?,
    };
    Ok(TokenCounts {
        input,
        output,
        cache_read,
        cache_write,
    })
}

/// Input tokens from the response body, never counting cached tokens.
fn body_input_tokens(body: &Facts<'_>) -> Result<Option<u64>, Rejection> {
    let before_openai = [
        Slot::UsageInputTokens,
        Slot::InvocationMetricsInputTokenCount,
        Slot::AnthropicInputTokens,
    ];
    if let Some(count) = first_body_count(body, &before_openai)? {
        return Ok(Some(count));
    }
    if let Some(prompt) = body_count(body, RESPONSE_BODY, Slot::OpenAiPromptTokens)? {
        // OpenAI's prompt_tokens includes the cached tokens, which are billed apart.
        let cached = body_count(body, RESPONSE_BODY, Slot::OpenAiCachedTokens)?.unwrap_or(0);
        return Ok(Some(prompt.saturating_sub(cached)));
    }
    first_body_count(
        body,
        &[Slot::TitanInputTextTokenCount, Slot::LlamaPromptTokenCount],
    )
}

/// `(latency_ms, time_to_first_token_ms)` from the response body.
fn latencies(body: &Facts<'_>) -> Result<(Option<u32>, Option<u32>), Rejection> {
    let latency = first_millis(
        body,
        &[Slot::MetricsLatencyMs, Slot::InvocationMetricsInvocationLatency],
    )?;
    let first_token = first_millis(
        body,
        &[
            Slot::InvocationMetricsFirstByteLatency,
            Slot::MetricsTimeToFirstTokenMs,
            Slot::MetricsTimeToFirstByteMs,
        ],
    )?;
    Ok((latency, first_token))
}

fn first_millis(body: &Facts<'_>, slots: &[Slot]) -> Result<Option<u32>, Rejection> {
    for &slot in slots {
        let Some(fact) = body.get(slot) else {
            continue;
        };
        let path = fact.path(RESPONSE_BODY, slot);
        let Some(millis) = count_value(&fact.value, &path)? else {
            continue;
        };
        return u32::try_from(millis).map(Some).map_err(|_| {
            Rejection::new(
                RejectReason::InvalidField,
                format!(
                    "{path}: {millis} ms is beyond the largest latency supported ({} ms)",
                    u32::MAX
                ),
            )
        });
    }
    Ok(None)
}

/// See "Service tier" in the module docs.
fn resolve_tier(envelope: &Envelope<'_>, options: &ParseOptions) -> Result<TierResolution, Rejection> {
    let from_request_body = first_tier(
        &envelope.input.body,
        REQUEST_BODY,
        &[
            Slot::ServiceTier,
            Slot::ServiceTierSnakeCase,
            Slot::AdditionalServiceTier,
        ],
    )?;
    let requested = match from_request_body {
        Some(tier) => Some((tier, TierSource::RequestBody)),
        None => metadata_tier(envelope.request_metadata.as_ref(), &options.tier_metadata_key)?
            .map(|tier| (tier, TierSource::RequestMetadata)),
    };
    let served = first_tier(
        &envelope.output.body,
        RESPONSE_BODY,
        &[Slot::ServiceTier, Slot::ServiceTierSnakeCase],
    )?;

    Ok(match (served, requested) {
        (Some(served), requested) => TierResolution {
            requested: requested.map(|(tier, _)| tier),
            served,
            source: TierSource::ResponseBody,
        },
        (None, Some((tier, source))) => TierResolution {
            requested: Some(tier),
            served: tier,
            source,
        },
        (None, None) => TierResolution {
            requested: None,
            served: Tier::Standard,
            source: TierSource::Assumed,
        },
    })
}

/// The first of `slots` in a body that names a tier (`auto` names none and is passed over).
fn first_tier(facts: &Facts<'_>, section: &str, slots: &[Slot]) -> Result<Option<Tier>, Rejection> {
    for &slot in slots {
        let Some(fact) = facts.get(slot) else {
            continue;
        };
        let path = fact.path(section, slot);
        match &fact.value {
            Scalar::Str(name) => {
                if let Some(tier) = parse_tier(name, &path)? {
                    return Ok(Some(tier));
                }
            }
            other => {
                return Err(Rejection::new(
                    RejectReason::InvalidField,
                    format!(
                        "{path}: expected a tier name or {{\"type\": <tier name>}}, got {}",
                        other.describe()
                    ),
                ));
            }
        }
    }
    Ok(None)
}

fn parse_tier(name: &str, path: &dyn fmt::Display) -> Result<Option<Tier>, Rejection> {
    Tier::parse(name).map_err(|_| {
        Rejection::new(
            RejectReason::UnknownTier,
            format!(
                "unknown service tier {} in {path} (expected priority, default, standard, flex, \
                 reserved or auto)",
                quote(name)
            ),
        )
    })
}

fn metadata_tier(metadata: Option<&serde_json::Value>, key: &str) -> Result<Option<Tier>, Rejection> {
    let Some(serde_json::Value::Object(map)) = metadata else {
        return Ok(None);
    };
    let path = format!("requestMetadata.{key}");
    match map.get(key) {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(name)) => parse_tier(name, &path),
        Some(other) => Err(Rejection::new(
            RejectReason::InvalidField,
            format!("{path}: expected a tier name, got {}", describe_json(other)),
        )),
    }
}

/// `requestMetadata` as compact JSON with sorted keys; an empty map counts as absent.
fn request_metadata_text(metadata: Option<&serde_json::Value>) -> Result<Option<String>, Rejection> {
    match metadata {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::Object(map)) if map.is_empty() => Ok(None),
        // serde_json's map is a BTreeMap here (no `preserve_order`), so keys come out sorted.
        Some(value @ serde_json::Value::Object(_)) => serde_json::to_string(value)
            .map(Some)
            .map_err(|error| {
                Rejection::new(
                    RejectReason::InvalidField,
                    format!("requestMetadata: cannot be re-serialized: {error}"),
                )
            }),
        Some(other) => Err(Rejection::new(
            RejectReason::InvalidField,
            format!(
                "requestMetadata: expected an object, got {}",
                describe_json(other)
            ),
        )),
    }
}

fn describe_json(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(text) => quote(text),
        serde_json::Value::Array(_) => "an array".to_string(),
        serde_json::Value::Object(_) => "an object".to_string(),
        other => clamp_chars(other.to_string(), MAX_QUOTED_CHARS),
    }
}

// ---------------------------------------------------------------------------------------------
// Model ids
// ---------------------------------------------------------------------------------------------

/// Cross-region inference-profile prefixes, explicitly listed so that a provider name such as
/// `amazon.` is never mistaken for one.
const PROFILE_PREFIXES: [(&str, Routing); 8] = [
    ("us.", Routing::Geo),
    ("us-gov.", Routing::Geo),
    ("eu.", Routing::Geo),
    ("apac.", Routing::Geo),
    ("jp.", Routing::Geo),
    ("au.", Routing::Geo),
    ("ca.", Routing::Geo),
    ("global.", Routing::Global),
];

/// Normalizes `modelId` as called (bare id, profile id or ARN) to a foundation-model id.
pub fn normalize_model(called: &str, options: &ParseOptions) -> ModelRef {
    let resolved = |(model_id, routing): (String, Routing)| ModelRef {
        called: called.to_string(),
        model_id,
        routing,
        resolved: true,
    };
    if let Some(known) = resolve_without_profiles(called) {
        return resolved(known);
    }
    // An application inference profile (or another ARN only the user can map).
    let trailing_id = BedrockArn::parse(called).map(|arn| arn.resource_id);
    let mapped = options.application_profiles.get(called).or_else(|| {
        trailing_id
            .filter(|id| !id.is_empty())
            .and_then(|id| options.application_profiles.get(id))
    });
    match mapped.and_then(|model| resolve_without_profiles(model)) {
        Some(known) => resolved(known),
        None => ModelRef {
            called: called.to_string(),
            model_id: called.to_string(),
            routing: Routing::InRegion,
            resolved: false,
        },
    }
}

/// A bare id, a profile id, a foundation-model ARN or a system inference-profile ARN → model id
/// and routing. `None` for ARNs that only a configured mapping can resolve.
fn resolve_without_profiles(called: &str) -> Option<(String, Routing)> {
    if !called.starts_with("arn:") {
        let (model_id, routing) = strip_profile_prefix(called);
        return Some((model_id.to_string(), routing));
    }
    let arn = BedrockArn::parse(called)?;
    if arn.resource_id.is_empty() {
        return None;
    }
    match arn.resource_type {
        "foundation-model" => Some((arn.resource_id.to_string(), Routing::InRegion)),
        "inference-profile" => {
            let (model_id, routing) = strip_profile_prefix(arn.resource_id);
            Some((model_id.to_string(), routing))
        }
        _ => None,
    }
}

fn strip_profile_prefix(id: &str) -> (&str, Routing) {
    for (prefix, routing) in PROFILE_PREFIXES {
        if let Some(rest) = id.strip_prefix(prefix)
            && !rest.is_empty()
        {
            return (rest, routing);
        }
    }
    (id, Routing::InRegion)
}

/// `arn:<partition>:bedrock:<region>:<account>:<resource-type>/<resource-id>`.
struct BedrockArn<'a> {
    resource_type: &'a str,
    resource_id: &'a str,
}

impl<'a> BedrockArn<'a> {
    fn parse(text: &'a str) -> Option<BedrockArn<'a>> {
        let mut parts = text.splitn(6, ':');
        let (arn, partition, service) = (parts.next()?, parts.next()?, parts.next()?);
        let (_region, _account, resource) = (parts.next()?, parts.next()?, parts.next()?);
        if arn != "arn" || !partition.starts_with("aws") || service != "bedrock" {
            return None;
        }
        let (resource_type, resource_id) = resource.split_once('/')?;
        Some(BedrockArn {
            resource_type,
            resource_id,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Text helpers
// ---------------------------------------------------------------------------------------------

/// `text` in double quotes, escaped, cut to a readable length.
fn quote(text: &str) -> String {
    let cut = clamp_chars(text.to_string(), MAX_QUOTED_CHARS);
    format!("{cut:?}")
}

fn clamp_chars(mut text: String, max_chars: usize) -> String {
    if let Some((byte_index, _)) = text.char_indices().nth(max_chars) {
        text.truncate(byte_index);
        text.push('…');
    }
    text
}

// ---------------------------------------------------------------------------------------------
// Deserialization: a lenient scalar, the envelope, and the body probes
// ---------------------------------------------------------------------------------------------

/// Any JSON value, kept only as far as a message or a check needs: strings and numbers keep
/// their value (strings borrowed from the input when they have no escapes), containers are
/// skipped and remembered by kind.
#[derive(Debug, Clone, PartialEq)]
enum Scalar<'de> {
    Str(Cow<'de, str>),
    Unsigned(u64),
    Signed(i64),
    Float(f64),
    Bool(bool),
    Null,
    Array,
    Object,
}

impl Scalar<'_> {
    /// The value as a message shows it: `"abc"`, `-3`, `1.5`, `null`, `an object`.
    fn describe(&self) -> String {
        match self {
            Scalar::Str(text) => quote(text),
            Scalar::Unsigned(number) => number.to_string(),
            Scalar::Signed(number) => number.to_string(),
            Scalar::Float(number) => format!("{number:?}"),
            Scalar::Bool(value) => value.to_string(),
            Scalar::Null => "null".to_string(),
            Scalar::Array => "an array".to_string(),
            Scalar::Object => "an object".to_string(),
        }
    }
}

/// Implements the non-container `Visitor` methods of a visitor whose value is built by
/// `$make` from a [`Scalar`].
macro_rules! visit_scalars {
    ($make:expr) => {
        fn visit_bool<E: de::Error>(self, value: bool) -> Result<Self::Value, E> {
            Ok($make(Scalar::Bool(value)))
        }
        fn visit_i64<E: de::Error>(self, value: i64) -> Result<Self::Value, E> {
            Ok($make(match u64::try_from(value) {
                Ok(unsigned) => Scalar::Unsigned(unsigned),
                Err(_) => Scalar::Signed(value),
            }))
        }
        fn visit_u64<E: de::Error>(self, value: u64) -> Result<Self::Value, E> {
            Ok($make(Scalar::Unsigned(value)))
        }
        fn visit_f64<E: de::Error>(self, value: f64) -> Result<Self::Value, E> {
            Ok($make(Scalar::Float(value)))
        }
        fn visit_borrowed_str<E: de::Error>(self, value: &'de str) -> Result<Self::Value, E> {
            Ok($make(Scalar::Str(Cow::Borrowed(value))))
        }
        fn visit_str<E: de::Error>(self, value: &str) -> Result<Self::Value, E> {
            Ok($make(Scalar::Str(Cow::Owned(value.to_string()))))
        }
        fn visit_string<E: de::Error>(self, value: String) -> Result<Self::Value, E> {
            Ok($make(Scalar::Str(Cow::Owned(value))))
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok($make(Scalar::Null))
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok($make(Scalar::Null))
        }
    };
}

/// Implements the `Visitor` methods of a probe visitor (value `()`) for every JSON type but
/// objects, all of which are skipped.
macro_rules! skip_non_objects {
    () => {
        visit_scalars!(|_| ());
        fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
            drain_seq(seq)
        }
    };
}

fn drain_seq<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<(), A::Error> {
    while seq.next_element::<IgnoredAny>()?.is_some() {}
    Ok(())
}

fn drain_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<(), A::Error> {
    while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
    Ok(())
}

impl<'de> Deserialize<'de> for Scalar<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ScalarVisitor)
    }
}

struct ScalarVisitor;

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = Scalar<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    visit_scalars!(|scalar| scalar);

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        drain_seq(seq).map(|()| Scalar::Array)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        drain_map(map).map(|()| Scalar::Object)
    }
}

/// An object key, borrowed unless it contains escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object key")
            }
            fn visit_borrowed_str<E: de::Error>(self, value: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(value)))
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(value.to_string())))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

/// A value that is either an object, from which one field is picked, or something else.
/// Used for `identity` (`arn`) and `serviceTier` (`type`).
#[derive(Debug)]
enum Picked<'de> {
    FromObject(Option<Scalar<'de>>),
    Plain(Scalar<'de>),
}

impl<'de> Picked<'de> {
    /// For `serviceTier`: the object's `type`, or the plain value; an object without a
    /// `type` stays visible as an object so that it is reported.
    fn into_tier_value(self) -> Scalar<'de> {
        match self {
            Picked::FromObject(Some(value)) => value,
            Picked::FromObject(None) => Scalar::Object,
            Picked::Plain(value) => value,
        }
    }
}

struct PickSeed {
    field: &'static str,
}

impl<'de> DeserializeSeed<'de> for PickSeed {
    type Value = Picked<'de>;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for PickSeed {
    type Value = Picked<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "an object with a {:?} field, or a plain value", self.field)
    }

    visit_scalars!(Picked::Plain);

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        drain_seq(seq).map(|()| Picked::Plain(Scalar::Array))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut picked = None;
        while let Some(key) = map.next_key::<Key<'de>>()? {
            if key.0 == self.field {
                picked = Some(map.next_value::<Scalar<'de>>()?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(Picked::FromObject(picked))
    }
}

/// What the envelope of a record holds, before any check.
#[derive(Default)]
struct Envelope<'de> {
    /// Set when the top-level value is not an object.
    not_an_object: Option<Scalar<'de>>,
    schema_type: Option<Scalar<'de>>,
    timestamp: Option<Scalar<'de>>,
    account_id: Option<Scalar<'de>>,
    region: Option<Scalar<'de>>,
    request_id: Option<Scalar<'de>>,
    operation: Option<Scalar<'de>>,
    model_id: Option<Scalar<'de>>,
    inference_region: Option<Scalar<'de>>,
    error_code: Option<Scalar<'de>>,
    identity: Option<Picked<'de>>,
    request_metadata: Option<serde_json::Value>,
    input: Section<'de>,
    output: Section<'de>,
    /// `@message` of a CloudWatch Logs Insights row.
    at_message: Option<Scalar<'de>>,
    /// `message` of a CloudWatch Logs event.
    message: Option<Scalar<'de>>,
}

impl<'de> Envelope<'de> {
    /// The record JSON held by a CloudWatch wrapper, with the key that held it.
    fn wrapped_record(&self) -> Option<(&'static str, &str)> {
        if self.request_id.is_some() {
            return None;
        }
        match (&self.at_message, &self.message) {
            (Some(Scalar::Str(inner)), _) => Some(("@message", inner.as_ref())),
            (_, Some(Scalar::Str(inner))) => Some(("message", inner.as_ref())),
            _ => None,
        }
    }
}

impl<'de> Deserialize<'de> for Envelope<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(EnvelopeVisitor)
    }
}

struct EnvelopeVisitor;

impl<'de> Visitor<'de> for EnvelopeVisitor {
    type Value = Envelope<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a model invocation log record")
    }

    visit_scalars!(|scalar| Envelope {
        not_an_object: Some(scalar),
        ..Envelope::default()
    });

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        drain_seq(seq)?;
        Ok(Envelope {
            not_an_object: Some(Scalar::Array),
            ..Envelope::default()
        })
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut envelope = Envelope::default();
        while let Some(key) = map.next_key::<Key<'de>>()? {
            let field = match key.0.as_ref() {
                "schemaType" => &mut envelope.schema_type,
                "timestamp" => &mut envelope.timestamp,
                "accountId" => &mut envelope.account_id,
                "region" => &mut envelope.region,
                "requestId" => &mut envelope.request_id,
                "operation" => &mut envelope.operation,
                "modelId" => &mut envelope.model_id,
                "inferenceRegion" => &mut envelope.inference_region,
                "errorCode" => &mut envelope.error_code,
                "@message" => &mut envelope.at_message,
                "message" => &mut envelope.message,
                "identity" => {
                    envelope.identity = Some(map.next_value_seed(PickSeed { field: "arn" })?);
                    continue;
                }
                "requestMetadata" => {
                    envelope.request_metadata = Some(map.next_value()?);
                    continue;
                }
                "input" => {
                    map.next_value_seed(SectionSeed {
                        section: &mut envelope.input,
                        kind: SectionKind::Input,
                    })?;
                    continue;
                }
                "output" => {
                    map.next_value_seed(SectionSeed {
                        section: &mut envelope.output,
                        kind: SectionKind::Output,
                    })?;
                    continue;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            *field = Some(map.next_value()?);
        }
        Ok(envelope)
    }
}

/// The envelope's `input` or `output` object.
#[derive(Default)]
struct Section<'de> {
    /// Set when the section is present but not an object (`null` counts as absent).
    not_an_object: Option<Scalar<'de>>,
    /// `inputTokenCount` / `outputTokenCount`.
    token_count: Option<Scalar<'de>>,
    cache_read: Option<Scalar<'de>>,
    cache_write: Option<Scalar<'de>>,
    /// What the probe found in `inputBodyJson` / `outputBodyJson`.
    body: Facts<'de>,
}

#[derive(Clone, Copy)]
enum SectionKind {
    Input,
    Output,
}

struct SectionSeed<'s, 'de> {
    section: &'s mut Section<'de>,
    kind: SectionKind,
}

impl<'de> DeserializeSeed<'de> for SectionSeed<'_, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for SectionSeed<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an input or output object")
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<(), E> {
        self.section.not_an_object = Some(Scalar::Bool(value));
        Ok(())
    }
    fn visit_i64<E: de::Error>(self, value: i64) -> Result<(), E> {
        self.section.not_an_object = Some(Scalar::Signed(value));
        Ok(())
    }
    fn visit_u64<E: de::Error>(self, value: u64) -> Result<(), E> {
        self.section.not_an_object = Some(Scalar::Unsigned(value));
        Ok(())
    }
    fn visit_f64<E: de::Error>(self, value: f64) -> Result<(), E> {
        self.section.not_an_object = Some(Scalar::Float(value));
        Ok(())
    }
    fn visit_str<E: de::Error>(self, value: &str) -> Result<(), E> {
        self.section.not_an_object = Some(Scalar::Str(Cow::Owned(value.to_string())));
        Ok(())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        self.section.not_an_object = Some(Scalar::Array);
        drain_seq(seq)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let section = self.section;
        while let Some(key) = map.next_key::<Key<'de>>()? {
            let field = match (self.kind, key.0.as_ref()) {
                (SectionKind::Input, "inputTokenCount") => &mut section.token_count,
                (SectionKind::Input, "cacheReadInputTokenCount") => &mut section.cache_read,
                (SectionKind::Input, "cacheWriteInputTokenCount") => &mut section.cache_write,
                (SectionKind::Output, "outputTokenCount") => &mut section.token_count,
                (SectionKind::Input, "inputBodyJson") | (SectionKind::Output, "outputBodyJson") => {
                    map.next_value_seed(BodySeed {
                        facts: &mut section.body,
                        place: Place::default(),
                    })?;
                    continue;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            *field = Some(map.next_value()?);
        }
        Ok(())
    }
}

/// The few values the probe picks out of a request or response body. Each key of a known
/// shape lands in one slot; a later chunk of a stream overwrites an earlier one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    UsageInputTokens,
    UsageOutputTokens,
    UsageCacheReadInputTokens,
    UsageCacheWriteInputTokens,
    AnthropicInputTokens,
    AnthropicOutputTokens,
    AnthropicCacheReadInputTokens,
    AnthropicCacheCreationInputTokens,
    OpenAiPromptTokens,
    OpenAiCompletionTokens,
    OpenAiCachedTokens,
    InvocationMetricsInputTokenCount,
    InvocationMetricsOutputTokenCount,
    InvocationMetricsCacheReadInputTokenCount,
    InvocationMetricsCacheWriteInputTokenCount,
    InvocationMetricsInvocationLatency,
    InvocationMetricsFirstByteLatency,
    MetricsLatencyMs,
    MetricsTimeToFirstByteMs,
    MetricsTimeToFirstTokenMs,
    TitanInputTextTokenCount,
    LlamaPromptTokenCount,
    LlamaGenerationTokenCount,
    ServiceTier,
    ServiceTierSnakeCase,
    AdditionalServiceTier,
}

const SLOT_COUNT: usize = Slot::AdditionalServiceTier as usize + 1;

impl Slot {
    /// Where the value sits inside a body object, for messages.
    fn path(self) -> &'static str {
        match self {
            Slot::UsageInputTokens => "usage.inputTokens",
            Slot::UsageOutputTokens => "usage.outputTokens",
            Slot::UsageCacheReadInputTokens => "usage.cacheReadInputTokens",
            Slot::UsageCacheWriteInputTokens => "usage.cacheWriteInputTokens",
            Slot::AnthropicInputTokens => "usage.input_tokens",
            Slot::AnthropicOutputTokens => "usage.output_tokens",
            Slot::AnthropicCacheReadInputTokens => "usage.cache_read_input_tokens",
            Slot::AnthropicCacheCreationInputTokens => "usage.cache_creation_input_tokens",
            Slot::OpenAiPromptTokens => "usage.prompt_tokens",
            Slot::OpenAiCompletionTokens => "usage.completion_tokens",
            Slot::OpenAiCachedTokens => "usage.prompt_tokens_details.cached_tokens",
            Slot::InvocationMetricsInputTokenCount => {
                "amazon-bedrock-invocationMetrics.inputTokenCount"
            }
            Slot::InvocationMetricsOutputTokenCount => {
                "amazon-bedrock-invocationMetrics.outputTokenCount"
            }
            Slot::InvocationMetricsCacheReadInputTokenCount => {
                "amazon-bedrock-invocationMetrics.cacheReadInputTokenCount"
            }
            Slot::InvocationMetricsCacheWriteInputTokenCount => {
                "amazon-bedrock-invocationMetrics.cacheWriteInputTokenCount"
            }
            Slot::InvocationMetricsInvocationLatency => {
                "amazon-bedrock-invocationMetrics.invocationLatency"
            }
            Slot::InvocationMetricsFirstByteLatency => {
                "amazon-bedrock-invocationMetrics.firstByteLatency"
            }
            Slot::MetricsLatencyMs => "metrics.latencyMs",
            Slot::MetricsTimeToFirstByteMs => "metrics.timeToFirstByteMs",
            Slot::MetricsTimeToFirstTokenMs => "metrics.timeToFirstTokenMs",
            Slot::TitanInputTextTokenCount => "inputTextTokenCount",
            Slot::LlamaPromptTokenCount => "prompt_token_count",
            Slot::LlamaGenerationTokenCount => "generation_token_count",
            Slot::ServiceTier => "serviceTier",
            Slot::ServiceTierSnakeCase => "service_tier",
            Slot::AdditionalServiceTier => "additionalModelRequestFields.service_tier",
        }
    }

    /// A value directly in a body object (or a stream chunk, or a `metadata` event).
    fn at_body_level(key: &str) -> Option<Slot> {
        Some(match key {
            "service_tier" => Slot::ServiceTierSnakeCase,
            "inputTextTokenCount" => Slot::TitanInputTextTokenCount,
            "prompt_token_count" => Slot::LlamaPromptTokenCount,
            "generation_token_count" => Slot::LlamaGenerationTokenCount,
            _ => return None,
        })
    }
}

/// Nested objects of a body whose keys the probe reads.
#[derive(Debug, Clone, Copy)]
enum Group {
    Usage,
    PromptTokensDetails,
    InvocationMetrics,
    Metrics,
    AdditionalModelRequestFields,
}

impl Group {
    fn at_body_level(key: &str) -> Option<Group> {
        Some(match key {
            "usage" => Group::Usage,
            "amazon-bedrock-invocationMetrics" => Group::InvocationMetrics,
            "metrics" => Group::Metrics,
            "additionalModelRequestFields" => Group::AdditionalModelRequestFields,
            _ => return None,
        })
    }

    fn child(self, key: &str) -> Option<Group> {
        match (self, key) {
            (Group::Usage, "prompt_tokens_details") => Some(Group::PromptTokensDetails),
            _ => None,
        }
    }

    fn slot(self, key: &str) -> Option<Slot> {
        Some(match (self, key) {
            (Group::Usage, "inputTokens") => Slot::UsageInputTokens,
            (Group::Usage, "outputTokens") => Slot::UsageOutputTokens,
            (Group::Usage, "cacheReadInputTokens") => Slot::UsageCacheReadInputTokens,
            (Group::Usage, "cacheWriteInputTokens") => Slot::UsageCacheWriteInputTokens,
            (Group::Usage, "input_tokens") => Slot::AnthropicInputTokens,
            (Group::Usage, "output_tokens") => Slot::AnthropicOutputTokens,
            (Group::Usage, "cache_read_input_tokens") => Slot::AnthropicCacheReadInputTokens,
            (Group::Usage, "cache_creation_input_tokens") => {
                Slot::AnthropicCacheCreationInputTokens
            }
            (Group::Usage, "prompt_tokens") => Slot::OpenAiPromptTokens,
            (Group::Usage, "completion_tokens") => Slot::OpenAiCompletionTokens,
            (Group::PromptTokensDetails, "cached_tokens") => Slot::OpenAiCachedTokens,
            (Group::InvocationMetrics, "inputTokenCount") => Slot::InvocationMetricsInputTokenCount,
            (Group::InvocationMetrics, "outputTokenCount") => {
                Slot::InvocationMetricsOutputTokenCount
            }
            (Group::InvocationMetrics, "cacheReadInputTokenCount") => {
                Slot::InvocationMetricsCacheReadInputTokenCount
            }
            (Group::InvocationMetrics, "cacheWriteInputTokenCount") => {
                Slot::InvocationMetricsCacheWriteInputTokenCount
            }
            (Group::InvocationMetrics, "invocationLatency") => {
                Slot::InvocationMetricsInvocationLatency
            }
            (Group::InvocationMetrics, "firstByteLatency") => {
                Slot::InvocationMetricsFirstByteLatency
            }
            (Group::Metrics, "latencyMs") => Slot::MetricsLatencyMs,
            (Group::Metrics, "timeToFirstByteMs") => Slot::MetricsTimeToFirstByteMs,
            (Group::Metrics, "timeToFirstTokenMs") => Slot::MetricsTimeToFirstTokenMs,
            (Group::AdditionalModelRequestFields, "service_tier") => Slot::AdditionalServiceTier,
            _ => return None,
        })
    }
}

/// Where in a body a value was found: which stream chunk, and whether inside a Converse
/// stream `metadata` event. Only used to name the field in a message.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Place {
    chunk: Option<u32>,
    in_metadata_event: bool,
}

#[derive(Debug)]
struct Fact<'de> {
    value: Scalar<'de>,
    place: Place,
}

impl Fact<'_> {
    /// The full path of the value, e.g. `output.outputBodyJson[2].usage.output_tokens`.
    fn path<'a>(&'a self, section: &'a str, slot: Slot) -> FactPath<'a> {
        FactPath {
            section,
            place: self.place,
            slot,
        }
    }
}

struct FactPath<'a> {
    section: &'a str,
    place: Place,
    slot: Slot,
}

impl fmt::Display for FactPath<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.section)?;
        if let Some(chunk) = self.place.chunk {
            write!(f, "[{chunk}]")?;
        }
        if self.place.in_metadata_event {
            f.write_str(".metadata")?;
        }
        write!(f, ".{}", self.slot.path())
    }
}

/// What the probe found in one body.
struct Facts<'de> {
    slots: [Option<Fact<'de>>; SLOT_COUNT],
}

impl Default for Facts<'_> {
    fn default() -> Self {
        Facts {
            slots: std::array::from_fn(|_| None),
        }
    }
}

impl<'de> Facts<'de> {
    fn get(&self, slot: Slot) -> Option<&Fact<'de>> {
        self.slots[slot as usize].as_ref()
    }

    /// Records a value; `null` is treated as absent and does not overwrite.
    fn set(&mut self, slot: Slot, value: Scalar<'de>, place: Place) {
        if value != Scalar::Null {
            self.slots[slot as usize] = Some(Fact { value, place });
        }
    }
}

/// Probes a whole body: an object, a list of stream chunks, or anything else (ignored).
struct BodySeed<'f, 'de> {
    facts: &'f mut Facts<'de>,
    place: Place,
}

impl<'de> DeserializeSeed<'de> for BodySeed<'_, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for BodySeed<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a request or response body")
    }

    visit_scalars!(|_| ());

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let facts = self.facts;
        let mut index: u32 = 0;
        loop {
            let chunk = ObjectSeed {
                facts: &mut *facts,
                place: Place {
                    chunk: Some(index),
                    ..self.place
                },
            };
            if seq.next_element_seed(chunk)?.is_none() {
                return Ok(());
            }
            index = index.saturating_add(1);
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        probe_body_object(map, self.facts, self.place)
    }
}

/// Probes a body-level object (a stream chunk, a `metadata` event); anything else is skipped.
struct ObjectSeed<'f, 'de> {
    facts: &'f mut Facts<'de>,
    place: Place,
}

impl<'de> DeserializeSeed<'de> for ObjectSeed<'_, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ObjectSeed<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a body object")
    }

    skip_non_objects!();

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        probe_body_object(map, self.facts, self.place)
    }
}

fn probe_body_object<'de, A: MapAccess<'de>>(
    mut map: A,
    facts: &mut Facts<'de>,
    place: Place,
) -> Result<(), A::Error> {
    while let Some(key) = map.next_key::<Key<'de>>()? {
        let key = key.0.as_ref();
        if let Some(group) = Group::at_body_level(key) {
            map.next_value_seed(GroupSeed {
                facts: &mut *facts,
                place,
                group,
            })?;
        } else if let Some(slot) = Slot::at_body_level(key) {
            facts.set(slot, map.next_value()?, place);
        } else if key == "serviceTier" {
            let picked = map.next_value_seed(PickSeed { field: "type" })?;
            facts.set(Slot::ServiceTier, picked.into_tier_value(), place);
        } else if key == "metadata" {
            // The final event of a Converse stream carries usage, metrics and the tier.
            let in_event = Place {
                in_metadata_event: true,
                ..place
            };
            map.next_value_seed(ObjectSeed {
                facts: &mut *facts,
                place: in_event,
            })?;
        } else {
            map.next_value::<IgnoredAny>()?;
        }
    }
    Ok(())
}

/// Probes one nested object of a body (`usage`, `metrics`, ...).
struct GroupSeed<'f, 'de> {
    facts: &'f mut Facts<'de>,
    place: Place,
    group: Group,
}

impl<'de> DeserializeSeed<'de> for GroupSeed<'_, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for GroupSeed<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the {:?} object of a body", self.group)
    }

    skip_non_objects!();

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let facts = self.facts;
        while let Some(key) = map.next_key::<Key<'de>>()? {
            let key = key.0.as_ref();
            if let Some(slot) = self.group.slot(key) {
                facts.set(slot, map.next_value()?, self.place);
            } else if let Some(child) = self.group.child(key) {
                map.next_value_seed(GroupSeed {
                    facts: &mut *facts,
                    place: self.place,
                    group: child,
                })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}
