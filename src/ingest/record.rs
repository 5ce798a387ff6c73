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
    // The envelope (a few KB with its body probes) is filled in place, never moved.
    let mut envelope = Envelope::default();
    read_envelope(bytes, &mut envelope)?;
    if let Some((key, inner)) = envelope.wrapped_record() {
        // Unwrap once: a record inside a wrapper inside a wrapper is not a shape anyone writes.
        let mut inner_envelope = Envelope::default();
        read_envelope(inner.as_bytes(), &mut inner_envelope).map_err(|r| r.within(key))?;
        return build_invocation(&inner_envelope, options).map_err(|r| r.within(key));
    }
    build_invocation(&envelope, options)
}

fn read_envelope<'de>(bytes: &'de [u8], envelope: &mut Envelope<'de>) -> Result<(), Rejection> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    EnvelopeSeed { envelope }
        .deserialize(&mut deserializer)
        .and_then(|()| deserializer.end())
        .map_err(|error| invalid_json(&error, bytes))
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

fn build_invocation(
    envelope: &Envelope<'_>,
    options: &ParseOptions,
) -> Result<Invocation, Rejection> {
    check_is_invocation_log(envelope)?;

    let timestamp = required_text(&envelope.timestamp, "timestamp")?;
    let timestamp_ms = parse_timestamp(&timestamp)?;
    let account_id = required_text(&envelope.account_id, "accountId")?;
    let region = required_text(&envelope.region, "region")?;
    let request_id = required_text(&envelope.request_id, "requestId")?;
    let model_called = required_text(&envelope.model_id, "modelId")?;

    let operation = optional_text(&envelope.operation, "operation")?.unwrap_or_default();
    let inference_region = optional_text(&envelope.inference_region, "inferenceRegion")?;
    let error_code = optional_text(&envelope.error_code, "errorCode")?;
    let caller_arn = caller_arn(envelope)?;
    check_section_shape(&envelope.input, "input")?;
    check_section_shape(&envelope.output, "output")?;

    let tokens = token_counts(envelope)?;
    let (latency_ms, time_to_first_token_ms) = latencies(&envelope.output.body)?;
    let tier = resolve_tier(envelope, options)?;
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
    let cache_read =
        match envelope_count(&envelope.input.cache_read, "input.cacheReadInputTokenCount")? {
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
        &[
            Slot::MetricsLatencyMs,
            Slot::InvocationMetricsInvocationLatency,
        ],
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
fn resolve_tier(
    envelope: &Envelope<'_>,
    options: &ParseOptions,
) -> Result<TierResolution, Rejection> {
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
        None => metadata_tier(
            envelope.request_metadata.as_ref(),
            &options.tier_metadata_key,
        )?
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

fn metadata_tier(
    metadata: Option<&serde_json::Value>,
    key: &str,
) -> Result<Option<Tier>, Rejection> {
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
fn request_metadata_text(
    metadata: Option<&serde_json::Value>,
) -> Result<Option<String>, Rejection> {
    match metadata {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::Object(map)) if map.is_empty() => Ok(None),
        // serde_json's map is a BTreeMap here (no `preserve_order`), so keys come out sorted.
        Some(value @ serde_json::Value::Object(_)) => {
            serde_json::to_string(value).map(Some).map_err(|error| {
                Rejection::new(
                    RejectReason::InvalidField,
                    format!("requestMetadata: cannot be re-serialized: {error}"),
                )
            })
        }
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

/// An object key as raw bytes (escapes resolved), borrowed unless it contains escapes.
/// Keys are only compared with known names, so serde_json's UTF-8 check of every key (a
/// measurable share of the parse) is skipped by asking for bytes.
struct Key<'de>(Cow<'de, [u8]>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object key")
            }
            fn visit_borrowed_bytes<E: de::Error>(self, value: &'de [u8]) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(value)))
            }
            fn visit_bytes<E: de::Error>(self, value: &[u8]) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(value.to_vec())))
            }
            fn visit_borrowed_str<E: de::Error>(self, value: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(value.as_bytes())))
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(value.as_bytes().to_vec())))
            }
        }
        deserializer.deserialize_bytes(KeyVisitor)
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
        write!(
            f,
            "an object with a {:?} field, or a plain value",
            self.field
        )
    }

    visit_scalars!(Picked::Plain);

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        drain_seq(seq).map(|()| Picked::Plain(Scalar::Array))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut picked = None;
        while let Some(key) = map.next_key::<Key<'de>>()? {
            if *key.0 == *self.field.as_bytes() {
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

/// The visitor methods for a value that should have been an object: each records what was
/// there instead (in `self.$owner.not_an_object`), so the caller can name it in the error.
/// `visit_unit` (null) is left to each visitor: some places accept null.
macro_rules! visit_non_object {
    ($owner:ident) => {
        fn visit_bool<E: de::Error>(self, value: bool) -> Result<(), E> {
            self.$owner.not_an_object = Some(Scalar::Bool(value));
            Ok(())
        }
        fn visit_i64<E: de::Error>(self, value: i64) -> Result<(), E> {
            self.$owner.not_an_object = Some(Scalar::Signed(value));
            Ok(())
        }
        fn visit_u64<E: de::Error>(self, value: u64) -> Result<(), E> {
            self.$owner.not_an_object = Some(Scalar::Unsigned(value));
            Ok(())
        }
        fn visit_f64<E: de::Error>(self, value: f64) -> Result<(), E> {
            self.$owner.not_an_object = Some(Scalar::Float(value));
            Ok(())
        }
        fn visit_str<E: de::Error>(self, value: &str) -> Result<(), E> {
            self.$owner.not_an_object = Some(Scalar::Str(Cow::Owned(value.to_string())));
            Ok(())
        }
        fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
            self.$owner.not_an_object = Some(Scalar::Array);
            drain_seq(seq)
        }
    };
}

/// Fills an [`Envelope`] from a record.
struct EnvelopeSeed<'e, 'de> {
    envelope: &'e mut Envelope<'de>,
}

impl<'de> DeserializeSeed<'de> for EnvelopeSeed<'_, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for EnvelopeSeed<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a model invocation log record")
    }

    visit_non_object!(envelope);
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.envelope.not_an_object = Some(Scalar::Null);
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let envelope = self.envelope;
        while let Some(key) = map.next_key::<Key<'de>>()? {
            let field = match key.0.as_ref() {
                b"schemaType" => &mut envelope.schema_type,
                b"timestamp" => &mut envelope.timestamp,
                b"accountId" => &mut envelope.account_id,
                b"region" => &mut envelope.region,
                b"requestId" => &mut envelope.request_id,
                b"operation" => &mut envelope.operation,
                b"modelId" => &mut envelope.model_id,
                b"inferenceRegion" => &mut envelope.inference_region,
                b"errorCode" => &mut envelope.error_code,
                b"@message" => &mut envelope.at_message,
                b"message" => &mut envelope.message,
                b"identity" => {
                    envelope.identity = Some(map.next_value_seed(PickSeed { field: "arn" })?);
                    continue;
                }
                b"requestMetadata" => {
                    envelope.request_metadata = Some(map.next_value()?);
                    continue;
                }
                b"input" => {
                    map.next_value_seed(SectionSeed {
                        section: &mut envelope.input,
                        kind: SectionKind::Input,
                    })?;
                    continue;
                }
                b"output" => {
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
        Ok(())
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

    visit_non_object!(section);
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let section = self.section;
        while let Some(key) = map.next_key::<Key<'de>>()? {
            let field = match (self.kind, key.0.as_ref()) {
                (SectionKind::Input, b"inputTokenCount") => &mut section.token_count,
                (SectionKind::Input, b"cacheReadInputTokenCount") => &mut section.cache_read,
                (SectionKind::Input, b"cacheWriteInputTokenCount") => &mut section.cache_write,
                (SectionKind::Output, b"outputTokenCount") => &mut section.token_count,
                (SectionKind::Input, b"inputBodyJson")
                | (SectionKind::Output, b"outputBodyJson") => {
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
    fn at_body_level(key: &[u8]) -> Option<Slot> {
        Some(match key {
            b"service_tier" => Slot::ServiceTierSnakeCase,
            b"inputTextTokenCount" => Slot::TitanInputTextTokenCount,
            b"prompt_token_count" => Slot::LlamaPromptTokenCount,
            b"generation_token_count" => Slot::LlamaGenerationTokenCount,
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
    fn at_body_level(key: &[u8]) -> Option<Group> {
        Some(match key {
            b"usage" => Group::Usage,
            b"amazon-bedrock-invocationMetrics" => Group::InvocationMetrics,
            b"metrics" => Group::Metrics,
            b"additionalModelRequestFields" => Group::AdditionalModelRequestFields,
            _ => return None,
        })
    }

    fn child(self, key: &[u8]) -> Option<Group> {
        match (self, key) {
            (Group::Usage, b"prompt_tokens_details") => Some(Group::PromptTokensDetails),
            _ => None,
        }
    }

    fn slot(self, key: &[u8]) -> Option<Slot> {
        Some(match (self, key) {
            (Group::Usage, b"inputTokens") => Slot::UsageInputTokens,
            (Group::Usage, b"outputTokens") => Slot::UsageOutputTokens,
            (Group::Usage, b"cacheReadInputTokens") => Slot::UsageCacheReadInputTokens,
            (Group::Usage, b"cacheWriteInputTokens") => Slot::UsageCacheWriteInputTokens,
            (Group::Usage, b"input_tokens") => Slot::AnthropicInputTokens,
            (Group::Usage, b"output_tokens") => Slot::AnthropicOutputTokens,
            (Group::Usage, b"cache_read_input_tokens") => Slot::AnthropicCacheReadInputTokens,
            (Group::Usage, b"cache_creation_input_tokens") => {
                Slot::AnthropicCacheCreationInputTokens
            }
            (Group::Usage, b"prompt_tokens") => Slot::OpenAiPromptTokens,
            (Group::Usage, b"completion_tokens") => Slot::OpenAiCompletionTokens,
            (Group::PromptTokensDetails, b"cached_tokens") => Slot::OpenAiCachedTokens,
            (Group::InvocationMetrics, b"inputTokenCount") => {
                Slot::InvocationMetricsInputTokenCount
            }
            (Group::InvocationMetrics, b"outputTokenCount") => {
                Slot::InvocationMetricsOutputTokenCount
            }
            (Group::InvocationMetrics, b"cacheReadInputTokenCount") => {
                Slot::InvocationMetricsCacheReadInputTokenCount
            }
            (Group::InvocationMetrics, b"cacheWriteInputTokenCount") => {
                Slot::InvocationMetricsCacheWriteInputTokenCount
            }
            (Group::InvocationMetrics, b"invocationLatency") => {
                Slot::InvocationMetricsInvocationLatency
            }
            (Group::InvocationMetrics, b"firstByteLatency") => {
                Slot::InvocationMetricsFirstByteLatency
            }
            (Group::Metrics, b"latencyMs") => Slot::MetricsLatencyMs,
            (Group::Metrics, b"timeToFirstByteMs") => Slot::MetricsTimeToFirstByteMs,
            (Group::Metrics, b"timeToFirstTokenMs") => Slot::MetricsTimeToFirstTokenMs,
            (Group::AdditionalModelRequestFields, b"service_tier") => Slot::AdditionalServiceTier,
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
        } else if key == b"serviceTier" {
            let picked = map.next_value_seed(PickSeed { field: "type" })?;
            facts.set(Slot::ServiceTier, picked.into_tier_value(), place);
        } else if key == b"metadata" {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::reader::{Item, RecordReader};
    use std::path::{Path, PathBuf};

    fn fixture_path(folder: &str, name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(folder)
            .join(name)
    }

    fn record_fixture(name: &str) -> Vec<u8> {
        std::fs::read(fixture_path("records", name)).unwrap()
    }

    fn parse_fixture(name: &str) -> Result<Invocation, Rejection> {
        parse_record(&record_fixture(name), &ParseOptions::default())
    }

    fn parse_str(json: &str) -> Result<Invocation, Rejection> {
        parse_record(json.as_bytes(), &ParseOptions::default())
    }

    fn model(called: &str, model_id: &str, routing: Routing) -> ModelRef {
        ModelRef {
            called: called.to_string(),
            model_id: model_id.to_string(),
            routing,
            resolved: true,
        }
    }

    fn tokens(
        input: Option<u64>,
        output: Option<u64>,
        cache_read: Option<u64>,
        cache_write: Option<u64>,
    ) -> TokenCounts {
        TokenCounts {
            input,
            output,
            cache_read,
            cache_write,
        }
    }

    const ASSUMED_STANDARD: TierResolution = TierResolution {
        requested: None,
        served: Tier::Standard,
        source: TierSource::Assumed,
    };

    /// A minimal valid record with `extra` spliced in as more top-level keys.
    fn minimal_record(extra: &str) -> String {
        let separator = if extra.is_empty() { "" } else { "," };
        format!(
            r#"{{"timestamp":"2026-01-01T00:00:00Z","accountId":"111122223333","region":"us-east-1","requestId":"r-1","modelId":"amazon.nova-lite-v1:0"{separator}{extra}}}"#
        )
    }

    fn rejection(reason: RejectReason, detail: &str) -> Rejection {
        Rejection {
            reason,
            detail: detail.to_string(),
        }
    }

    // ---- one fixture per record shape ----

    #[test]
    fn converse_record() {
        let invocation = parse_fixture("converse.json").unwrap();
        assert_eq!(
            invocation,
            Invocation {
                timestamp_ms: 1_772_460_309_250,
                account_id: "111122223333".into(),
                region: "us-east-1".into(),
                inference_region: None,
                request_id: "3f1c2a9e-7b4d-4e0a-9c51-2d8e6f0a1b23".into(),
                operation: "Converse".into(),
                model: model(
                    "amazon.nova-pro-v1:0",
                    "amazon.nova-pro-v1:0",
                    Routing::InRegion
                ),
                caller_arn: Some(
                    "arn:aws:sts::111122223333:assumed-role/evals-runner/session-42".into()
                ),
                request_metadata: None,
                tier: ASSUMED_STANDARD,
                tokens: tokens(Some(1350), Some(41), Some(2048), Some(0)),
                latency_ms: Some(1874),
                time_to_first_token_ms: None,
                error_code: None,
            }
        );
    }

    #[test]
    fn converse_stream_record_in_cloudwatch_key_order() {
        let invocation = parse_fixture("converse-stream.json").unwrap();
        assert_eq!(
            invocation,
            Invocation {
                timestamp_ms: 1_772_460_464_000,
                account_id: "111122223333".into(),
                region: "us-west-2".into(),
                inference_region: Some("us-east-2".into()),
                request_id: "a6e0c7d2-51f8-4b9e-8d3a-0c4b2e7f9a10".into(),
                operation: "ConverseStream".into(),
                model: model(
                    "us.anthropic.claude-haiku-4-5-20251001-v1:0",
                    "anthropic.claude-haiku-4-5-20251001-v1:0",
                    Routing::Geo
                ),
                caller_arn: Some("arn:aws:iam::111122223333:user/poet".into()),
                request_metadata: None,
                tier: ASSUMED_STANDARD,
                tokens: tokens(Some(22), Some(27), Some(0), Some(0)),
                latency_ms: Some(912),
                time_to_first_token_ms: None,
                error_code: None,
            }
        );
    }

    #[test]
    fn invoke_model_anthropic_takes_cache_counts_from_the_body_when_the_envelope_lacks_them() {
        let invocation = parse_fixture("invoke-model-anthropic.json").unwrap();
        assert_eq!(
            invocation,
            Invocation {
                timestamp_ms: 1_772_463_601_000,
                account_id: "111122223333".into(),
                region: "eu-central-1".into(),
                inference_region: Some("eu-west-3".into()),
                request_id: "0b7d9e21-4c3a-4f6b-a8e2-9d1c0f5e7a34".into(),
                operation: "InvokeModel".into(),
                model: model(
                    "arn:aws:bedrock:eu-central-1:111122223333:inference-profile/eu.anthropic.claude-sonnet-4-20250514-v1:0",
                    "anthropic.claude-sonnet-4-20250514-v1:0",
                    Routing::Geo
                ),
                caller_arn: Some(
                    "arn:aws:sts::111122223333:assumed-role/support-bot/lambda".into()
                ),
                request_metadata: None,
                tier: ASSUMED_STANDARD,
                // input and output from the envelope, cache counts from the native usage.
                tokens: tokens(Some(18), Some(12), Some(4096), Some(1536)),
                latency_ms: None,
                time_to_first_token_ms: None,
                error_code: None,
            }
        );
    }

    #[test]
    fn invoke_model_with_response_stream_reads_the_invocation_metrics_chunk() {
        let invocation = parse_fixture("invoke-model-with-response-stream.json").unwrap();
        assert_eq!(
            invocation,
            Invocation {
                // 15:10:30.5 at +02:00 is 13:10:30.5 UTC.
                timestamp_ms: 1_772_457_030_500,
                account_id: "111122223333".into(),
                region: "us-east-1".into(),
                inference_region: None,
                request_id: "c2f8a4b6-9e1d-4a7c-b3f0-5d6e8a9b0c12".into(),
                operation: "InvokeModelWithResponseStream".into(),
                model: model(
                    "anthropic.claude-3-5-haiku-20241022-v1:0",
                    "anthropic.claude-3-5-haiku-20241022-v1:0",
                    Routing::InRegion
                ),
                caller_arn: Some("arn:aws:iam::111122223333:user/dev".into()),
                request_metadata: None,
                tier: ASSUMED_STANDARD,
                tokens: tokens(Some(8), Some(5), Some(640), Some(128)),
                latency_ms: Some(1210),
                time_to_first_token_ms: Some(385),
                error_code: None,
            }
        );
    }

    #[test]
    fn openai_chat_completions_subtracts_cached_tokens_and_reads_service_tier() {
        let invocation = parse_fixture("openai-chat-completions.json").unwrap();
        assert_eq!(
            invocation,
            Invocation {
                timestamp_ms: 1_772_524_800_000,
                account_id: "111122223333".into(),
                region: "us-west-2".into(),
                inference_region: None,
                request_id: "5e3a1f7c-2d9b-4c8e-a6f0-1b2c3d4e5f60".into(),
                operation: "ChatCompletions".into(),
                model: model(
                    "openai.gpt-oss-120b-1:0",
                    "openai.gpt-oss-120b-1:0",
                    Routing::InRegion
                ),
                caller_arn: Some(
                    "arn:aws:sts::111122223333:assumed-role/batch-summarizer/job-7".into()
                ),
                request_metadata: None,
                tier: TierResolution {
                    requested: Some(Tier::Flex),
                    served: Tier::Flex,
                    source: TierSource::ResponseBody,
                },
                // prompt_tokens 1200 includes the 1000 cached ones.
                tokens: tokens(Some(200), Some(300), Some(1000), None),
                latency_ms: None,
                time_to_first_token_ms: None,
                error_code: None,
            }
        );
    }

    #[test]
    fn failed_call_with_empty_input_and_output_is_imported_with_its_error_code() {
        let invocation = parse_fixture("error-record.json").unwrap();
        assert!(invocation.is_error());
        assert_eq!(
            invocation,
            Invocation {
                timestamp_ms: 1_788_869_462_000,
                account_id: "111111111111".into(),
                region: "ap-northeast-1".into(),
                inference_region: None,
                request_id: "7a9c0e2b-3d4f-4a5b-8c6d-9e0f1a2b3c4d".into(),
                operation: "Converse".into(),
                model: model(
                    "jp.anthropic.claude-haiku-4-5-20251001-v1:0",
                    "anthropic.claude-haiku-4-5-20251001-v1:0",
                    Routing::Geo
                ),
                caller_arn: Some("arn:aws:sts::111111111111:assumed-role/app/probe".into()),
                request_metadata: None,
                tier: ASSUMED_STANDARD,
                tokens: TokenCounts::default(),
                latency_ms: None,
                time_to_first_token_ms: None,
                error_code: Some("ResourceNotFoundException".into()),
            }
        );
    }

    #[test]
    fn bodies_offloaded_to_s3_are_normal() {
        let invocation = parse_fixture("s3-offloaded-bodies.json").unwrap();
        assert_eq!(
            invocation,
            Invocation {
                timestamp_ms: 1_776_644_253_000,
                account_id: "111122223333".into(),
                region: "us-west-2".into(),
                inference_region: Some("us-east-1".into()),
                request_id: "f3ae32b1-ae22-48f1-ba9c-d8075737f52b".into(),
                operation: "InvokeModelWithResponseStream".into(),
                model: model(
                    "arn:aws:bedrock:us-west-2:111122223333:inference-profile/global.anthropic.claude-opus-4-7",
                    "anthropic.claude-opus-4-7",
                    Routing::Global
                ),
                caller_arn: Some("arn:aws:iam::111122223333:user/claude-code".into()),
                request_metadata: None,
                tier: ASSUMED_STANDARD,
                tokens: tokens(Some(6), Some(167), Some(0), Some(225_913)),
                latency_ms: None,
                time_to_first_token_ms: None,
                error_code: None,
            }
        );
    }

    #[test]
    fn embedding_without_output_count_keeps_output_unknown() {
        let invocation = parse_fixture("embedding-no-output-count.json").unwrap();
        assert_eq!(
            invocation,
            Invocation {
                timestamp_ms: 1_772_619_630_000,
                account_id: "111122223333".into(),
                region: "ap-northeast-1".into(),
                inference_region: None,
                request_id: "e93dcaa4-5b52-495f-aa9a-34ab3ab99ab5".into(),
                operation: "InvokeModel".into(),
                model: model(
                    "arn:aws:bedrock:ap-northeast-1::foundation-model/amazon.titan-embed-text-v2:0",
                    "amazon.titan-embed-text-v2:0",
                    Routing::InRegion
                ),
                caller_arn: Some(
                    "arn:aws:sts::111122223333:assumed-role/knowledge-base-role/BKB-Retrieve-QPGBOSBBNG"
                        .into()
                ),
                request_metadata: None,
                tier: ASSUMED_STANDARD,
                tokens: tokens(Some(6), None, None, None),
                latency_ms: None,
                time_to_first_token_ms: None,
                error_code: None,
            }
        );
    }

    #[test]
    fn image_model_without_token_counts_has_unknown_tokens() {
        let invocation = parse_fixture("image-model-no-tokens.json").unwrap();
        assert!(invocation.tokens.is_unknown());
        assert_eq!(
            invocation,
            Invocation {
                timestamp_ms: 1_772_622_000_000,
                account_id: "111122223333".into(),
                region: "us-east-1".into(),
                inference_region: None,
                request_id: "9d8c7b6a-5f4e-4d3c-b2a1-0f9e8d7c6b5a".into(),
                operation: "InvokeModel".into(),
                model: model(
                    "amazon.nova-canvas-v1:0",
                    "amazon.nova-canvas-v1:0",
                    Routing::InRegion
                ),
                caller_arn: Some("arn:aws:iam::111122223333:user/designer".into()),
                request_metadata: None,
                tier: ASSUMED_STANDARD,
                tokens: TokenCounts::default(),
                latency_ms: None,
                time_to_first_token_ms: None,
                error_code: None,
            }
        );
    }

    #[test]
    fn converse_response_service_tier_object_is_the_served_tier() {
        let invocation = parse_fixture("tier-converse-response-flex.json").unwrap();
        assert_eq!(
            invocation,
            Invocation {
                timestamp_ms: 1_772_703_000_000,
                account_id: "111122223333".into(),
                region: "us-east-1".into(),
                inference_region: None,
                request_id: "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d".into(),
                operation: "Converse".into(),
                model: model(
                    "qwen.qwen3-32b-v1:0",
                    "qwen.qwen3-32b-v1:0",
                    Routing::InRegion
                ),
                caller_arn: Some("arn:aws:sts::111122223333:assumed-role/batch/eval-run".into()),
                request_metadata: None,
                tier: TierResolution {
                    requested: Some(Tier::Flex),
                    served: Tier::Flex,
                    source: TierSource::ResponseBody,
                },
                tokens: tokens(Some(9), Some(2), None, None),
                latency_ms: Some(4210),
                time_to_first_token_ms: None,
                error_code: None,
            }
        );
    }

    #[test]
    fn tier_named_only_in_the_request_body_is_assumed_served() {
        let invocation = parse_fixture("tier-request-body-only.json").unwrap();
        assert_eq!(
            invocation,
            Invocation {
                timestamp_ms: 1_772_703_060_000,
                account_id: "111122223333".into(),
                region: "us-east-1".into(),
                inference_region: None,
                request_id: "2b3c4d5e-6f7a-4b8c-9d0e-1f2a3b4c5d6e".into(),
                operation: "Converse".into(),
                model: model("deepseek.v3-v1:0", "deepseek.v3-v1:0", Routing::InRegion),
                caller_arn: Some("arn:aws:sts::111122223333:assumed-role/chat-frontend/web".into()),
                request_metadata: None,
                tier: TierResolution {
                    requested: Some(Tier::Priority),
                    served: Tier::Priority,
                    source: TierSource::RequestBody,
                },
                tokens: tokens(Some(5), Some(3), None, None),
                latency_ms: Some(380),
                time_to_first_token_ms: None,
                error_code: None,
            }
        );
    }

    #[test]
    fn tier_named_only_in_request_metadata() {
        let invocation = parse_fixture("tier-request-metadata-only.json").unwrap();
        assert_eq!(
            invocation,
            Invocation {
                timestamp_ms: 1_772_703_120_000,
                account_id: "111122223333".into(),
                region: "us-east-1".into(),
                inference_region: None,
                request_id: "3c4d5e6f-7a8b-4c9d-0e1f-2a3b4c5d6e7f".into(),
                operation: "InvokeModel".into(),
                model: model(
                    "openai.gpt-oss-20b-1:0",
                    "openai.gpt-oss-20b-1:0",
                    Routing::InRegion
                ),
                caller_arn: Some("arn:aws:sts::111122223333:assumed-role/evals/nightly".into()),
                // Compact, keys sorted.
                request_metadata: Some(
                    r#"{"batch":"2026-03-05","service_tier":"flex","team":"evals"}"#.into()
                ),
                tier: TierResolution {
                    requested: Some(Tier::Flex),
                    served: Tier::Flex,
                    source: TierSource::RequestMetadata,
                },
                tokens: tokens(Some(4), Some(2), None, None),
                latency_ms: None,
                time_to_first_token_ms: None,
                error_code: None,
            }
        );
    }

    #[test]
    fn default_tier_is_standard_and_named() {
        let invocation = parse_fixture("tier-default.json").unwrap();
        assert_eq!(
            invocation.tier,
            TierResolution {
                requested: Some(Tier::Standard),
                served: Tier::Standard,
                source: TierSource::ResponseBody,
            }
        );
        assert_eq!(invocation.timestamp_ms, 1_772_703_180_000);
        assert_eq!(invocation.tokens, tokens(Some(5), Some(2), None, None));
        assert_eq!(invocation.latency_ms, Some(250));
    }

    #[test]
    fn unknown_tier_value_is_rejected_naming_value_and_place() {
        assert_eq!(
            parse_fixture("tier-unknown.json"),
            Err(rejection(
                RejectReason::UnknownTier,
                "unknown service tier \"scale\" in output.outputBodyJson.serviceTier (expected \
                 priority, default, standard, flex, reserved or auto)"
            ))
        );
    }

    #[test]
    fn application_inference_profile_mapped_by_arn_or_by_id_and_unmapped() {
        let bytes = record_fixture("application-inference-profile.json");
        let arn =
            "arn:aws:bedrock:us-east-2:111122223333:application-inference-profile/k8qz2mx4pl7r";

        let unmapped = parse_record(&bytes, &ParseOptions::default()).unwrap();
        assert_eq!(
            unmapped.model,
            ModelRef {
                called: arn.into(),
                model_id: arn.into(),
                routing: Routing::InRegion,
                resolved: false,
            }
        );
        assert_eq!(unmapped.timestamp_ms, 1_754_534_903_000);
        assert_eq!(unmapped.inference_region.as_deref(), Some("us-east-2"));
        assert_eq!(
            unmapped.tokens,
            tokens(Some(3), Some(142), Some(0), Some(28_857))
        );
        assert_eq!(unmapped.latency_ms, Some(5120));
        assert_eq!(unmapped.time_to_first_token_ms, Some(1490));
        assert_eq!(
            unmapped.caller_arn.as_deref(),
            Some("arn:aws:sts::111122223333:assumed-role/claude-code-action/repo-frontend")
        );

        for key in [arn, "k8qz2mx4pl7r"] {
            let options = ParseOptions {
                application_profiles: HashMap::from([(
                    key.to_string(),
                    "us.anthropic.claude-sonnet-4-20250514-v1:0".to_string(),
                )]),
                ..ParseOptions::default()
            };
            let mapped = parse_record(&bytes, &options).unwrap();
            assert_eq!(
                mapped.model,
                ModelRef {
                    called: arn.into(),
                    model_id: "anthropic.claude-sonnet-4-20250514-v1:0".into(),
                    routing: Routing::Geo,
                    resolved: true,
                },
                "mapped by {key}"
            );
        }
    }

    #[test]
    fn malformed_token_count_names_the_field_and_value() {
        assert_eq!(
            parse_fixture("malformed-token-count.json"),
            Err(rejection(
                RejectReason::InvalidField,
                "input.inputTokenCount: expected a non-negative integer, got \"abc\""
            ))
        );
    }

    #[test]
    fn malformed_json_names_position_and_problem() {
        assert_eq!(
            parse_fixture("malformed-json.json"),
            Err(rejection(
                RejectReason::InvalidJson,
                "invalid JSON at line 1 column 278: trailing comma before '}'"
            ))
        );
    }

    #[test]
    fn converse_stream_event_list_with_metadata_event() {
        let invocation = parse_fixture("converse-stream-events-metadata-tier.json").unwrap();
        assert_eq!(
            invocation,
            Invocation {
                timestamp_ms: 1_772_780_400_000,
                account_id: "111122223333".into(),
                region: "us-east-1".into(),
                inference_region: None,
                request_id: "8b9c0d1e-2f3a-4b4c-5d6e-7f8091021324".into(),
                operation: "ConverseStream".into(),
                model: model(
                    "amazon.nova-premier-v1:0",
                    "amazon.nova-premier-v1:0",
                    Routing::InRegion
                ),
                caller_arn: Some("arn:aws:iam::111122223333:user/dev".into()),
                request_metadata: None,
                tier: TierResolution {
                    requested: Some(Tier::Priority),
                    served: Tier::Priority,
                    source: TierSource::ResponseBody,
                },
                tokens: tokens(Some(5), Some(2), None, None),
                latency_ms: Some(640),
                time_to_first_token_ms: Some(210),
                error_code: None,
            }
        );
    }

    #[test]
    fn cloudwatch_insights_row_is_unwrapped() {
        let invocation = parse_fixture("cloudwatch-insights-row.json").unwrap();
        assert_eq!(
            invocation,
            Invocation {
                timestamp_ms: 1_772_780_700_000,
                account_id: "111122223333".into(),
                region: "us-east-1".into(),
                inference_region: Some("us-west-2".into()),
                request_id: "9c0d1e2f-3a4b-4c5d-6e7f-809102132435".into(),
                operation: "Converse".into(),
                model: model(
                    "us.amazon.nova-lite-v1:0",
                    "amazon.nova-lite-v1:0",
                    Routing::Geo
                ),
                caller_arn: None,
                request_metadata: Some(r#"{"attempt":2,"traceId":"b956002a"}"#.into()),
                tier: ASSUMED_STANDARD,
                tokens: tokens(Some(12), Some(30), None, None),
                latency_ms: None,
                time_to_first_token_ms: None,
                error_code: None,
            }
        );
    }

    // ---- rules ----

    #[test]
    fn cloudwatch_logs_event_with_message_is_unwrapped_and_inner_errors_say_so() {
        let inner = minimal_record("");
        let event = serde_json::json!({"timestamp": 1_767_225_600_000_i64, "message": inner, "eventId": "1"});
        let invocation = parse_str(&event.to_string()).unwrap();
        assert_eq!(invocation.request_id, "r-1");
        assert_eq!(invocation.timestamp_ms, 1_767_225_600_000);

        let broken = serde_json::json!({"@timestamp": "x", "@message": "{\"timestamp\": nope}"});
        let error = parse_str(&broken.to_string()).unwrap_err();
        assert_eq!(error.reason, RejectReason::InvalidJson);
        assert!(
            error
                .detail
                .starts_with("@message: invalid JSON at line 1 column 16: expected ident"),
            "{error}"
        );
    }

    #[test]
    fn each_required_field_missing_is_named() {
        let full = serde_json::json!({
            "timestamp": "2026-01-01T00:00:00Z", "accountId": "1", "region": "us-east-1",
            "requestId": "r", "modelId": "m", "schemaType": "ModelInvocationLog"
        });
        for field in ["timestamp", "accountId", "region", "requestId", "modelId"] {
            let mut record = full.clone();
            record.as_object_mut().unwrap().remove(field);
            assert_eq!(
                parse_str(&record.to_string()),
                Err(rejection(
                    RejectReason::MissingField,
                    &format!("missing field \"{field}\"")
                ))
            );
        }
    }

    #[test]
    fn required_fields_of_the_wrong_type_or_empty_are_invalid() {
        let record = r#"{"timestamp":"2026-01-01T00:00:00Z","accountId":111122223333,"region":"us-east-1","requestId":"r","modelId":"m"}"#;
        assert_eq!(
            parse_str(record),
            Err(rejection(
                RejectReason::InvalidField,
                "accountId: expected a non-empty string, got 111122223333"
            ))
        );
        let record = r#"{"timestamp":"2026-01-01T00:00:00Z","accountId":"1","region":"us-east-1","requestId":"","modelId":"m"}"#;
        assert_eq!(
            parse_str(record),
            Err(rejection(
                RejectReason::InvalidField,
                "requestId: expected a non-empty string, got \"\""
            ))
        );
        let record = r#"{"timestamp":1767225600,"accountId":"1","region":"us-east-1","requestId":"r","modelId":"m"}"#;
        assert_eq!(
            parse_str(record).unwrap_err().reason,
            RejectReason::InvalidField
        );
    }

    #[test]
    fn bad_timestamps_are_rejected_with_the_value() {
        for (text, expected_ms) in [
            ("2026-01-01T00:00:00Z", Some(1_767_225_600_000)),
            ("2026-01-01T00:00:00.123456Z", Some(1_767_225_600_123)),
            ("2026-01-01T01:00:00+01:00", Some(1_767_225_600_000)),
            ("2025-04-99T23:00:17Z", None),
            ("xxxxxxxxxxxx", None),
            ("2026-01-01", None),
        ] {
            let record = minimal_record("").replace("2026-01-01T00:00:00Z", text);
            match expected_ms {
                Some(ms) => assert_eq!(parse_str(&record).unwrap().timestamp_ms, ms),
                None => assert_eq!(
                    parse_str(&record),
                    Err(rejection(
                        RejectReason::InvalidTimestamp,
                        &format!("invalid timestamp \"{text}\" (expected RFC 3339)")
                    ))
                ),
            }
        }
    }

    #[test]
    fn other_schemas_and_non_objects_are_not_invocation_logs() {
        assert_eq!(
            parse_str(&minimal_record(r#""schemaType":"ModelInvocationJobLog""#)),
            Err(rejection(
                RejectReason::NotInvocationLog,
                "schemaType is \"ModelInvocationJobLog\", not \"ModelInvocationLog\""
            ))
        );
        assert_eq!(
            parse_str("[1, 2]"),
            Err(rejection(
                RejectReason::NotInvocationLog,
                "expected a JSON object, got an array"
            ))
        );
        // An offloaded body object, not a record.
        let body = r#"{"messages":[{"role":"user","content":[{"text":"hi"}]}]}"#;
        assert_eq!(
            parse_str(body).unwrap_err().reason,
            RejectReason::NotInvocationLog
        );
    }

    #[test]
    fn operation_is_optional_and_any_string_goes() {
        assert_eq!(parse_str(&minimal_record("")).unwrap().operation, "");
        let with_new_operation = minimal_record(r#""operation":"CreateResponse""#);
        assert_eq!(
            parse_str(&with_new_operation).unwrap().operation,
            "CreateResponse"
        );
    }

    #[test]
    fn unknown_keys_escapes_and_bodies_of_any_shape_are_tolerated() {
        for body in [
            r#""plain text body""#,
            "42",
            "null",
            r#"[1, "two", [3], {"usage": {"output_tokens": 9}}]"#,
            r#"{"usage": null, "metrics": "fast", "serviceTier": null}"#,
        ] {
            let record = minimal_record(&format!(
                r#""futureField":{{"a":[1,2]}},"output":{{"outputBodyJson":{body}}},"input":null"#
            ));
            let invocation = parse_str(&record).unwrap();
            let expected_output = body.contains("output_tokens").then_some(9);
            assert_eq!(invocation.tokens.output, expected_output, "{body}");
            assert_eq!(invocation.tier, ASSUMED_STANDARD);
        }
        let escaped = minimal_record("").replace("r-1", r"r-\u0041\n");
        assert_eq!(parse_str(&escaped).unwrap().request_id, "r-A\n");
    }

    #[test]
    fn counts_must_be_non_negative_integers() {
        for (value, shown) in [
            ("-5", "-5"),
            ("1.5", "1.5"),
            ("true", "true"),
            ("[]", "an array"),
        ] {
            let record = minimal_record(&format!(r#""output":{{"outputTokenCount":{value}}}"#));
            assert_eq!(
                parse_str(&record),
                Err(rejection(
                    RejectReason::InvalidField,
                    &format!(
                        "output.outputTokenCount: expected a non-negative integer, got {shown}"
                    )
                ))
            );
        }
        let null_count = minimal_record(r#""output":{"outputTokenCount":null}"#);
        assert_eq!(parse_str(&null_count).unwrap().tokens.output, None);
    }

    #[test]
    fn a_bad_count_in_a_stream_chunk_names_the_chunk() {
        let record = minimal_record(
            r#""output":{"outputBodyJson":[{"type":"message_start"},{"usage":{"output_tokens":-1}}]}"#,
        );
        assert_eq!(
            parse_str(&record),
            Err(rejection(
                RejectReason::InvalidField,
                "output.outputBodyJson[1].usage.output_tokens: expected a non-negative integer, got -1"
            ))
        );
    }

    #[test]
    fn later_stream_chunks_override_earlier_ones() {
        let record = minimal_record(
            r#""output":{"outputBodyJson":[{"service_tier":"priority","usage":{"output_tokens":1}},"x",{"service_tier":"flex","usage":{"output_tokens":7}}]}"#,
        );
        let invocation = parse_str(&record).unwrap();
        assert_eq!(invocation.tokens.output, Some(7));
        assert_eq!(invocation.tier.served, Tier::Flex);
    }

    #[test]
    fn envelope_counts_win_over_body_counts() {
        let record = minimal_record(
            r#""input":{"inputTokenCount":3,"cacheWriteInputTokenCount":24479},"output":{"outputTokenCount":52,"outputBodyJson":{"usage":{"inputTokens":999,"outputTokens":999,"cacheWriteInputTokens":999}}}"#,
        );
        assert_eq!(
            parse_str(&record).unwrap().tokens,
            tokens(Some(3), Some(52), None, Some(24_479))
        );
    }

    #[test]
    fn body_fallbacks_for_openai_titan_and_llama() {
        let cases = [
            // cached_tokens larger than prompt_tokens never underflows.
            (
                r#"{"usage":{"prompt_tokens":10,"completion_tokens":2,"prompt_tokens_details":{"cached_tokens":50}}}"#,
                tokens(Some(0), Some(2), Some(50), None),
            ),
            (
                r#"{"embedding":[0.1],"inputTextTokenCount":12}"#,
                tokens(Some(12), None, None, None),
            ),
            (
                r#"{"generation":"hi","prompt_token_count":20,"generation_token_count":4}"#,
                tokens(Some(20), Some(4), None, None),
            ),
        ];
        for (body, expected) in cases {
            let record = minimal_record(&format!(r#""output":{{"outputBodyJson":{body}}}"#));
            assert_eq!(parse_str(&record).unwrap().tokens, expected, "{body}");
        }
    }

    #[test]
    fn latency_must_fit_in_u32_and_be_a_number() {
        let record =
            minimal_record(r#""output":{"outputBodyJson":{"metrics":{"latencyMs":5000000000}}}"#);
        assert_eq!(
            parse_str(&record),
            Err(rejection(
                RejectReason::InvalidField,
                "output.outputBodyJson.metrics.latencyMs: 5000000000 ms is beyond the largest \
                 latency supported (4294967295 ms)"
            ))
        );
        let record =
            minimal_record(r#""output":{"outputBodyJson":{"metrics":{"latencyMs":"fast"}}}"#);
        assert_eq!(
            parse_str(&record).unwrap_err().reason,
            RejectReason::InvalidField
        );
        let record = minimal_record(
            r#""output":{"outputBodyJson":{"metrics":{"latencyMs":120,"timeToFirstByteMs":40}}}"#,
        );
        let invocation = parse_str(&record).unwrap();
        assert_eq!(
            (invocation.latency_ms, invocation.time_to_first_token_ms),
            (Some(120), Some(40))
        );
    }

    #[test]
    fn tier_in_every_documented_place() {
        let cases = [
            (
                r#""input":{"inputBodyJson":{"serviceTier":"Flex"}}"#,
                Some(Tier::Flex),
                Tier::Flex,
                TierSource::RequestBody,
            ),
            (
                r#""input":{"inputBodyJson":{"service_tier":"priority"}}"#,
                Some(Tier::Priority),
                Tier::Priority,
                TierSource::RequestBody,
            ),
            (
                r#""input":{"inputBodyJson":{"additionalModelRequestFields":{"service_tier":"reserved"}}}"#,
                Some(Tier::Reserved),
                Tier::Reserved,
                TierSource::RequestBody,
            ),
            // `auto` names no tier: the metadata tier is used.
            (
                r#""input":{"inputBodyJson":{"service_tier":"auto"}},"requestMetadata":{"service_tier":"flex"}"#,
                Some(Tier::Flex),
                Tier::Flex,
                TierSource::RequestMetadata,
            ),
            (
                r#""input":{"inputBodyJson":{"serviceTier":{"type":"auto"}}}"#,
                None,
                Tier::Standard,
                TierSource::Assumed,
            ),
            // Reserved overflow: asked reserved, served standard.
            (
                r#""input":{"inputBodyJson":{"serviceTier":{"type":"reserved"}}},"output":{"outputBodyJson":{"serviceTier":{"type":"default"}}}"#,
                Some(Tier::Reserved),
                Tier::Standard,
                TierSource::ResponseBody,
            ),
            (
                r#""output":{"outputBodyJson":{"service_tier":"flex"}}"#,
                None,
                Tier::Flex,
                TierSource::ResponseBody,
            ),
            (
                r#""requestMetadata":{"service_tier":null,"team":"a"}"#,
                None,
                Tier::Standard,
                TierSource::Assumed,
            ),
        ];
        for (extra, requested, served, source) in cases {
            let tier = parse_str(&minimal_record(extra)).unwrap().tier;
            assert_eq!(
                tier,
                TierResolution {
                    requested,
                    served,
                    source
                },
                "{extra}"
            );
        }
    }

    #[test]
    fn tier_metadata_key_is_configurable_and_checked() {
        let record =
            minimal_record(r#""requestMetadata":{"tier":"priority","service_tier":"flex"}"#);
        let options = ParseOptions {
            tier_metadata_key: "tier".into(),
            ..ParseOptions::default()
        };
        let invocation = parse_record(record.as_bytes(), &options).unwrap();
        assert_eq!(invocation.tier.served, Tier::Priority);

        let record = minimal_record(r#""requestMetadata":{"service_tier":"turbo"}"#);
        assert_eq!(
            parse_str(&record),
            Err(rejection(
                RejectReason::UnknownTier,
                "unknown service tier \"turbo\" in requestMetadata.service_tier (expected \
                 priority, default, standard, flex, reserved or auto)"
            ))
        );
        let record = minimal_record(r#""requestMetadata":{"service_tier":2}"#);
        assert_eq!(
            parse_str(&record),
            Err(rejection(
                RejectReason::InvalidField,
                "requestMetadata.service_tier: expected a tier name, got 2"
            ))
        );
        let record = minimal_record(r#""requestMetadata":"team=a""#);
        assert_eq!(
            parse_str(&record).unwrap_err().reason,
            RejectReason::InvalidField
        );
        let record =
            minimal_record(r#""output":{"outputBodyJson":{"serviceTier":{"name":"flex"}}}"#);
        assert_eq!(
            parse_str(&record),
            Err(rejection(
                RejectReason::InvalidField,
                "output.outputBodyJson.serviceTier: expected a tier name or {\"type\": <tier name>}, got an object"
            ))
        );
    }

    #[test]
    fn request_metadata_is_compact_sorted_json() {
        let record =
            minimal_record(r#""requestMetadata":{ "z": "last", "a": {"nested": [1, 2]}, "m": 3 }"#);
        assert_eq!(
            parse_str(&record).unwrap().request_metadata.as_deref(),
            Some(r#"{"a":{"nested":[1,2]},"m":3,"z":"last"}"#)
        );
        let empty = minimal_record(r#""requestMetadata":{}"#);
        assert_eq!(parse_str(&empty).unwrap().request_metadata, None);
    }

    #[test]
    fn normalize_model_forms() {
        let options = ParseOptions::default();
        let cases = [
            (
                "amazon.nova-pro-v1:0",
                "amazon.nova-pro-v1:0",
                Routing::InRegion,
            ),
            (
                "us.amazon.nova-pro-v1:0",
                "amazon.nova-pro-v1:0",
                Routing::Geo,
            ),
            (
                "us-gov.anthropic.claude-3-haiku",
                "anthropic.claude-3-haiku",
                Routing::Geo,
            ),
            ("eu.x", "x", Routing::Geo),
            ("apac.x", "x", Routing::Geo),
            ("jp.x", "x", Routing::Geo),
            ("au.x", "x", Routing::Geo),
            ("ca.x", "x", Routing::Geo),
            (
                "global.anthropic.claude-opus-4-6-v1",
                "anthropic.claude-opus-4-6-v1",
                Routing::Global,
            ),
            ("mx.future.model", "mx.future.model", Routing::InRegion),
            (
                "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-v2:1",
                "anthropic.claude-v2:1",
                Routing::InRegion,
            ),
            (
                "arn:aws-us-gov:bedrock:us-gov-west-1:111122223333:inference-profile/us-gov.anthropic.claude-3-haiku-20240307-v1:0",
                "anthropic.claude-3-haiku-20240307-v1:0",
                Routing::Geo,
            ),
            (
                "arn:aws-cn:bedrock:cn-north-1::foundation-model/amazon.titan-embed-text-v2:0",
                "amazon.titan-embed-text-v2:0",
                Routing::InRegion,
            ),
        ];
        for (called, model_id, routing) in cases {
            assert_eq!(
                normalize_model(called, &options),
                model(called, model_id, routing),
                "{called}"
            );
        }
    }

    #[test]
    fn normalize_model_never_panics_and_leaves_odd_arns_unresolved() {
        let options = ParseOptions {
            application_profiles: HashMap::from([(String::new(), "x".to_string())]),
            ..ParseOptions::default()
        };
        for odd in ["", "us.", "global.", ".", "é.ü:ß", "arn:"] {
            let normalized = normalize_model(odd, &options);
            assert_eq!(normalized.called, odd);
        }
        for unresolved in [
            "arn:",
            "arn:aws:bedrock",
            "arn:aws:bedrock:us-east-1::foundation-model/",
            "arn:aws:bedrock:us-east-1:1:provisioned-model/abc",
            "arn:aws:sagemaker:us-east-1:1:endpoint/x",
            "arn:aws:bedrock:us-east-1:1:application-inference-profile/",
        ] {
            let normalized = normalize_model(unresolved, &options);
            assert!(!normalized.resolved, "{unresolved}");
            assert_eq!(normalized.model_id, unresolved);
        }
    }

    #[test]
    fn reject_reasons_round_trip_and_details_stay_short() {
        for reason in RejectReason::ALL {
            assert_eq!(RejectReason::from_stored(reason.as_str()), Some(reason));
        }
        assert_eq!(RejectReason::InvalidJson.as_str(), "invalid_json");
        assert_eq!(
            RejectReason::NotInvocationLog.as_str(),
            "not_invocation_log"
        );
        assert_eq!(RejectReason::from_stored("nope"), None);

        let long_value = "x".repeat(10_000);
        let record = minimal_record(&format!(r#""errorCode":["{long_value}"]"#));
        let long_model = minimal_record("").replace("amazon.nova-lite-v1:0", &long_value);
        assert!(parse_str(&long_model).is_ok());
        let error = parse_str(&record).unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid_field: errorCode: expected a string, got an array"
        );
        let huge_detail = Rejection::new(RejectReason::InvalidField, "y".repeat(1000));
        assert_eq!(huge_detail.detail.chars().count(), MAX_DETAIL_CHARS + 1);
        let quoted = quote(&long_value);
        assert_eq!(quoted.chars().count(), MAX_QUOTED_CHARS + 3);
    }

    // ---- every real AWS sample through reader + parser ----

    /// What one item of a file became.
    #[derive(Debug)]
    enum Outcome {
        Imported(Box<Invocation>),
        Rejected(Rejection),
    }

    fn outcomes_of(path: &Path) -> Vec<Outcome> {
        let file = std::fs::File::open(path).unwrap();
        let mut reader = RecordReader::new(file);
        let mut outcomes = Vec::new();
        while let Some(item) = reader.next_item().unwrap() {
            outcomes.push(match item {
                Item::Record { bytes, .. } => match parse_record(bytes, &ParseOptions::default()) {
                    Ok(invocation) => Outcome::Imported(Box::new(invocation)),
                    Err(rejection) => Outcome::Rejected(rejection),
                },
                Item::Rejected { rejection, .. } => Outcome::Rejected(rejection),
            });
        }
        outcomes
    }

    fn single_import(outcomes: &[Outcome]) -> &Invocation {
        match outcomes {
            [Outcome::Imported(invocation)] => invocation,
            other => panic!("expected one imported record, got {other:?}"),
        }
    }

    fn reasons(outcomes: &[Outcome]) -> Vec<RejectReason> {
        outcomes
            .iter()
            .map(|outcome| match outcome {
                Outcome::Rejected(rejection) => rejection.reason,
                Outcome::Imported(invocation) => panic!("unexpected import {invocation:?}"),
            })
            .collect()
    }

    fn only_rejection(outcomes: &[Outcome]) -> &Rejection {
        match outcomes {
            [Outcome::Rejected(rejection)] => rejection,
            other => panic!("expected one rejection, got {other:?}"),
        }
    }

    #[test]
    fn every_real_aws_sample_has_its_expected_outcome() {
        let folder = fixture_path("real-aws", "");
        let mut names: Vec<String> = std::fs::read_dir(&folder)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.ends_with(".json") || name.ends_with(".txt"))
            .collect();
        names.sort();
        assert_eq!(names.len(), 24, "{names:?}");
        for name in names {
            let outcomes = outcomes_of(&folder.join(&name));
            check_real_sample(&name, &outcomes);
        }
    }

    fn check_real_sample(name: &str, outcomes: &[Outcome]) {
        let number = &name[..2];
        match number {
            "01" => {
                let invocation = single_import(outcomes);
                assert_eq!(
                    invocation.model,
                    model(
                        "arn:aws:bedrock:us-east-1:111122223333:inference-profile/us.anthropic.claude-sonnet-4-20250514-v1:0",
                        "anthropic.claude-sonnet-4-20250514-v1:0",
                        Routing::Geo
                    )
                );
                assert_eq!(invocation.timestamp_ms, 1_755_855_666_000);
                assert_eq!(invocation.inference_region.as_deref(), Some("us-west-2"));
                // Cache counts come from the native body's usage (0), not the envelope.
                assert_eq!(
                    invocation.tokens,
                    tokens(Some(219), Some(109), Some(0), Some(0))
                );
                assert_eq!(invocation.tier, ASSUMED_STANDARD);
            }
            "02" => {
                let invocation = single_import(outcomes);
                assert!(invocation.tokens.is_unknown());
                assert_eq!(invocation.inference_region, None);
                assert_eq!(invocation.model.routing, Routing::Geo);
            }
            "03" => assert_eq!(
                only_rejection(outcomes),
                &rejection(
                    RejectReason::InvalidTimestamp,
                    "invalid timestamp \"xxxxxxxxxxxxxxxxxxxxxxx\" (expected RFC 3339)"
                )
            ),
            "04" => assert_eq!(
                only_rejection(outcomes),
                &rejection(
                    RejectReason::InvalidTimestamp,
                    "invalid timestamp \"xxxxxxxxxxxx\" (expected RFC 3339)"
                )
            ),
            "05" => {
                let invocation = single_import(outcomes);
                assert_eq!(invocation.account_id, "XXXXXXXXXXXXX");
                assert_eq!(invocation.operation, "ConverseStream");
                assert_eq!(
                    invocation.tokens,
                    tokens(Some(4), Some(38), Some(0), Some(0))
                );
                assert_eq!(invocation.latency_ms, Some(302));
            }
            "06" => assert_eq!(
                only_rejection(outcomes),
                &rejection(
                    RejectReason::InvalidJson,
                    "invalid JSON at line 24 column 13: trailing comma before ']'"
                )
            ),
            "07" => {
                let invocation = single_import(outcomes);
                assert_eq!(
                    invocation.model.model_id,
                    "anthropic.claude-3-5-sonnet-20240620-v1:0"
                );
                assert_eq!(invocation.model.routing, Routing::InRegion);
                assert_eq!(
                    invocation.tokens,
                    tokens(Some(1887), Some(418), Some(0), Some(0))
                );
                assert_eq!(invocation.latency_ms, Some(8298));
            }
            "08" => {
                let invocation = single_import(outcomes);
                assert_eq!(invocation.model.model_id, "amazon.rerank-v1:0");
                assert_eq!(invocation.tokens.input, None);
                assert_eq!(invocation.tokens.output, None);
            }
            "09" => {
                let invocation = single_import(outcomes);
                assert_eq!(invocation.tokens, tokens(Some(16), Some(82), None, None));
                assert_eq!(invocation.latency_ms, Some(2435));
            }
            "10" | "23" => {
                let invocation = single_import(outcomes);
                assert_eq!(invocation.tokens, tokens(Some(0), Some(0), None, None));
            }
            "11" => {
                let invocation = single_import(outcomes);
                assert_eq!(invocation.operation, "InvokeModelWithResponseStream");
                assert_eq!(invocation.tokens, tokens(Some(0), Some(0), None, None));
                assert_eq!(invocation.latency_ms, None);
            }
            "12" => {
                let invocation = single_import(outcomes);
                assert_eq!(invocation.tokens, tokens(Some(3263), Some(300), None, None));
                assert_eq!(invocation.latency_ms, Some(14079));
            }
            "13" => {
                let invocation = single_import(outcomes);
                assert_eq!(
                    invocation.model.model_id,
                    "anthropic.claude-haiku-4-5-20251001-v1:0"
                );
                assert_eq!(invocation.model.routing, Routing::Geo);
                assert_eq!(invocation.inference_region, None);
                assert_eq!(invocation.tokens, tokens(Some(62), Some(36), None, None));
            }
            "14" => {
                let invocation = single_import(outcomes);
                assert_eq!(invocation.model.routing, Routing::Global);
                assert_eq!(
                    invocation.tokens,
                    tokens(Some(255), Some(113), Some(0), Some(0))
                );
                assert_eq!(invocation.inference_region.as_deref(), Some("us-east-2"));
            }
            "15" => {
                let invocation = single_import(outcomes);
                assert_eq!(
                    invocation,
                    &Invocation {
                        timestamp_ms: 1_776_643_021_000,
                        account_id: "123456789012".into(),
                        region: "us-west-2".into(),
                        inference_region: Some("us-east-2".into()),
                        request_id: "5346af27-8f56-4fb8-a6de-058be7a50818".into(),
                        operation: "ConverseStream".into(),
                        model: model(
                            "global.anthropic.claude-opus-4-6-v1",
                            "anthropic.claude-opus-4-6-v1",
                            Routing::Global
                        ),
                        caller_arn: Some("arn:aws:iam::123456789012:user/your-br-api-key".into()),
                        request_metadata: None,
                        tier: ASSUMED_STANDARD,
                        tokens: tokens(Some(3), Some(52), Some(0), Some(24_479)),
                        latency_ms: Some(7460),
                        time_to_first_token_ms: None,
                        error_code: None,
                    }
                );
            }
            "16" => {
                let invocation = single_import(outcomes);
                assert_eq!(invocation.model.model_id, "anthropic.claude-opus-4-7");
                assert_eq!(
                    invocation.tokens,
                    tokens(Some(6), Some(167), Some(0), Some(225_913))
                );
            }
            "17" => {
                let invocation = single_import(outcomes);
                assert_eq!(invocation.timestamp_ms, 1_776_157_035_000);
                assert_eq!(invocation.model.routing, Routing::Global);
                assert_eq!(
                    invocation.inference_region.as_deref(),
                    Some("ap-southeast-4")
                );
                assert_eq!(
                    invocation.tokens,
                    tokens(Some(1), Some(326), Some(129_709), Some(411))
                );
            }
            "18" => {
                let invocation = single_import(outcomes);
                assert_eq!(
                    invocation.model,
                    model(
                        "apac.amazon.nova-micro-v1:0",
                        "amazon.nova-micro-v1:0",
                        Routing::Geo
                    )
                );
                assert_eq!(invocation.tokens, tokens(Some(1), Some(8), None, None));
            }
            "19" => assert_eq!(
                only_rejection(outcomes),
                &rejection(
                    RejectReason::InvalidJson,
                    "invalid JSON at line 14 column 25: expected value, found '.'"
                )
            ),
            "20" => assert_eq!(
                only_rejection(outcomes),
                &rejection(
                    RejectReason::InvalidJson,
                    "invalid JSON at line 20 column 23: expected value, found '<'"
                )
            ),
            "21" => {
                // Slide text, then a record with typographic quotes; the broken quotes make
                // the reader end it early, and the rest is text and a stray object.
                assert_eq!(
                    reasons(outcomes),
                    [
                        RejectReason::UnexpectedText,
                        RejectReason::InvalidJson,
                        RejectReason::UnexpectedText,
                        RejectReason::NotInvocationLog,
                        RejectReason::UnexpectedText,
                    ]
                );
                let Outcome::Rejected(record) = &outcomes[1] else {
                    unreachable!()
                };
                assert_eq!(
                    record.detail,
                    "invalid JSON at line 1 column 452: expected value, found '“'"
                );
            }
            "22" => {
                let invocation = single_import(outcomes);
                assert_eq!(invocation.tokens, tokens(Some(37), Some(62), None, None));
                assert_eq!(invocation.latency_ms, Some(2455));
            }
            "24" => assert_eq!(
                reasons(outcomes),
                [
                    RejectReason::UnexpectedText,
                    RejectReason::NotInvocationLog,
                    RejectReason::UnexpectedText,
                    RejectReason::NotInvocationLog,
                    RejectReason::UnexpectedText,
                ]
            ),
            _ => panic!("no expected outcome written for {name}"),
        }
    }

    // ---- throughput ----

    /// Sentences for request/response text, with escapes and non-ASCII like real bodies.
    const PROSE: &str = "The deploy at 09:12 UTC raised error rates on the \\\"checkout\\\" service. \
        A config rollback fixed it within minutes.\\nFollow-up: add a canary stage, alert on \
        p99 latency, and review the runbook — see {ticket} INC-4411. Customer-facing impact was \
        limited to retries; no data was lost. ";

    fn prose(length: usize) -> String {
        let mut text = String::new();
        while text.len() < length {
            text.push_str(PROSE);
        }
        let mut end = length;
        while !text.is_char_boundary(end) || text[..end].ends_with('\\') {
            end -= 1;
        }
        text.truncate(end);
        text
    }

    /// One realistic record (about 2 KB), cycling through four shapes.
    fn realistic_record(index: usize) -> String {
        let request_id = format!("{index:08x}-5ace-4a53-94f4-8dd7e551f41a");
        let second = index % 60;
        let input_tokens = 100 + index % 900;
        let output_tokens = 20 + index % 400;
        match index % 4 {
            0 => format!(
                r#"{{"schemaType":"ModelInvocationLog","schemaVersion":"1.0","timestamp":"2026-03-02T14:05:{second:02}Z","accountId":"111122223333","identity":{{"arn":"arn:aws:sts::111122223333:assumed-role/evals-runner/session-42"}},"region":"us-east-1","requestId":"{request_id}","operation":"Converse","modelId":"amazon.nova-pro-v1:0","input":{{"inputContentType":"application/json","inputBodyJson":{{"messages":[{{"role":"user","content":[{{"text":"{}"}}]}}],"inferenceConfig":{{"maxTokens":512,"temperature":0.2}}}},"inputTokenCount":{input_tokens},"cacheReadInputTokenCount":0,"cacheWriteInputTokenCount":0}},"output":{{"outputContentType":"application/json","outputBodyJson":{{"output":{{"message":{{"role":"assistant","content":[{{"text":"{}"}}]}}}},"stopReason":"end_turn","metrics":{{"latencyMs":1874}},"usage":{{"inputTokens":{input_tokens},"outputTokens":{output_tokens},"totalTokens":999}}}},"outputTokenCount":{output_tokens}}}}}"#,
                prose(560),
                prose(480)
            ),
            1 => format!(
                r#"{{"timestamp":"2026-03-02T14:07:{second:02}Z","accountId":"111122223333","region":"us-west-2","requestId":"{request_id}","operation":"ConverseStream","modelId":"arn:aws:bedrock:us-west-2:111122223333:inference-profile/us.anthropic.claude-haiku-4-5-20251001-v1:0","input":{{"inputContentType":"application/json","inputBodyJson":{{"messages":[{{"role":"user","content":[{{"text":"{}"}}]}}],"system":[{{"text":"You are a support assistant."}}],"inferenceConfig":{{"maxTokens":2048}},"serviceTier":{{"type":"flex"}}}},"inputTokenCount":{input_tokens},"cacheReadInputTokenCount":4096,"cacheWriteInputTokenCount":0}},"output":{{"outputContentType":"application/json","outputBodyJson":{{"output":{{"message":{{"role":"assistant","content":[{{"text":"{}"}}]}}}},"stopReason":"end_turn","metrics":{{"latencyMs":912}},"usage":{{"inputTokens":{input_tokens},"cacheReadInputTokens":4096,"outputTokens":{output_tokens},"totalTokens":999}},"serviceTier":{{"type":"flex"}}}},"outputTokenCount":{output_tokens}}},"identity":{{"arn":"arn:aws:iam::111122223333:user/poet"}},"requestMetadata":{{"team":"support","service_tier":"flex"}},"inferenceRegion":"us-east-2","schemaType":"ModelInvocationLog","schemaVersion":"1.0"}}"#,
                prose(480),
                prose(460)
            ),
            2 => format!(
                r#"{{"timestamp":"2026-03-02T15:00:{second:02}Z","accountId":"111122223333","identity":{{"arn":"arn:aws:sts::111122223333:assumed-role/support-bot/lambda"}},"region":"eu-central-1","requestId":"{request_id}","operation":"InvokeModel","modelId":"eu.anthropic.claude-sonnet-4-20250514-v1:0","input":{{"inputContentType":"application/json","inputBodyJson":{{"anthropic_version":"bedrock-2023-05-31","messages":[{{"role":"user","content":[{{"type":"text","text":"{}"}}]}}],"max_tokens":1024,"temperature":0.7}},"inputTokenCount":{input_tokens}}},"output":{{"outputContentType":"application/json","outputBodyJson":{{"id":"msg_bdrk_01AbCdEf","type":"message","role":"assistant","model":"claude-sonnet-4-20250514","content":[{{"type":"text","text":"{}"}}],"stop_reason":"end_turn","stop_sequence":null,"usage":{{"input_tokens":{input_tokens},"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":{output_tokens}}}}},"outputTokenCount":{output_tokens}}},"inferenceRegion":"eu-west-3","schemaType":"ModelInvocationLog","schemaVersion":"1.0"}}"#,
                prose(600),
                prose(440)
            ),
            _ => {
                let chunks: Vec<String> = (0..8)
                    .map(|chunk| {
                        format!(
                            r#"{{"type":"content_block_delta","index":0,"delta":{{"type":"text_delta","text":"{}"}}}}"#,
                            prose(40 + chunk * 5)
                        )
                    })
                    .collect();
                format!(
                    r#"{{"schemaType":"ModelInvocationLog","schemaVersion":"1.0","timestamp":"2026-03-02T15:10:{second:02}Z","accountId":"111122223333","identity":{{"arn":"arn:aws:iam::111122223333:user/dev"}},"region":"us-east-1","requestId":"{request_id}","operation":"InvokeModelWithResponseStream","modelId":"arn:aws:bedrock:us-east-1:111122223333:inference-profile/global.anthropic.claude-opus-4-6-v1","input":{{"inputContentType":"application/json","inputBodyJson":{{"anthropic_version":"bedrock-2023-05-31","messages":[{{"role":"user","content":[{{"type":"text","text":"{}"}}]}}],"max_tokens":300}},"inputTokenCount":{input_tokens},"cacheReadInputTokenCount":129709,"cacheWriteInputTokenCount":411}},"output":{{"outputContentType":"application/json","outputBodyJson":[{{"type":"message_start","message":{{"id":"msg_bdrk_01","type":"message","role":"assistant","content":[],"usage":{{"input_tokens":8,"output_tokens":1}}}}}},{},{{"type":"message_stop","amazon-bedrock-invocationMetrics":{{"inputTokenCount":{input_tokens},"outputTokenCount":{output_tokens},"invocationLatency":1210,"firstByteLatency":385}}}}],"outputTokenCount":{output_tokens}}},"inferenceRegion":"ap-southeast-4"}}"#,
                    prose(620),
                    chunks.join(",")
                )
            }
        }
    }

    /// Hands out the same bytes `remaining` times, so that a big stream needs little memory.
    struct Repeat<'a> {
        data: &'a [u8],
        position: usize,
        remaining: usize,
    }

    impl std::io::Read for Repeat<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.position == self.data.len() {
                if self.remaining <= 1 {
                    return Ok(0);
                }
                self.remaining -= 1;
                self.position = 0;
            }
            let count = buf.len().min(self.data.len() - self.position);
            buf[..count].copy_from_slice(&self.data[self.position..self.position + count]);
            self.position += count;
            Ok(count)
        }
    }

    /// Reader + parser on one core over ~200 MB of realistic JSON-lines records. Run with
    /// `cargo test --release --lib throughput -- --ignored --nocapture`.
    #[test]
    #[ignore = "benchmark: run in release mode"]
    fn throughput_of_reader_and_parser() {
        const RECORDS_PER_BLOCK: usize = 10_000;
        const TARGET_BYTES: usize = 200 * 1024 * 1024;
        let mut block = String::new();
        for index in 0..RECORDS_PER_BLOCK {
            block.push_str(&realistic_record(index));
            block.push('\n');
        }
        let repeats = TARGET_BYTES.div_ceil(block.len());
        let total_bytes = block.len() * repeats;
        let options = ParseOptions::default();

        let started = std::time::Instant::now();
        let mut reader = RecordReader::new(Repeat {
            data: block.as_bytes(),
            position: 0,
            remaining: repeats,
        });
        let (mut imported, mut output_tokens) = (0_u64, 0_u64);
        while let Some(item) = reader.next_item().unwrap() {
            match item {
                Item::Record { bytes, location } => match parse_record(bytes, &options) {
                    Ok(invocation) => {
                        imported += 1;
                        output_tokens += invocation.tokens.get(crate::model::TokenKind::Output);
                    }
                    Err(rejection) => panic!("{location}: {rejection}"),
                },
                Item::Rejected { rejection, .. } => panic!("{rejection}"),
            }
        }
        let seconds = started.elapsed().as_secs_f64();

        assert_eq!(imported, (RECORDS_PER_BLOCK * repeats) as u64);
        assert!(output_tokens > 0);
        println!(
            "reader+parser: {imported} records, {:.1} MB ({} bytes/record) in {seconds:.2} s: \
             {:.0} records/s, {:.0} MB/s on one core",
            total_bytes as f64 / 1e6,
            total_bytes / imported as usize,
            imported as f64 / seconds,
            total_bytes as f64 / 1e6 / seconds,
        );
    }
}
