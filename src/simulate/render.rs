//! Writes a `RecordPlan` as a model-invocation-log record, shaped like the real records in
//! `real-aws-samples/invocation-logs/`: the envelope in one of the observed key orders, and
//! bodies in the format of each operation (Converse aggregated object, native InvokeModel
//! response, or a list of native stream chunks ending with `amazon-bedrock-invocationMetrics`).

use super::catalog::BodyFormat;
use super::clock::{MS_PER_SECOND, UtcTime};
use super::json::JsonOut;
use super::plan::{
    BodyDelivery, KeyOrder, ModelNames, Operation, RecordPlan, RequestTierField, World,
};
use super::sample::{SimRng, between, chance, hex_id};
use super::text::fill_text;
use super::{DEFAULT_PREFIX, Defect};

/// What a masked timestamp looks like (as in a real record whose author x-ed out values).
pub(super) const MASKED_TIMESTAMP: &str = "xxxxxxxxxxxxxxxxxxxxxxx";

/// The tier name a bad record's response carries.
pub(super) const UNKNOWN_TIER: &str = "turbo";

/// Generated text in an offloaded request body (it lives in a side object, not in the line).
const OFFLOADED_TEXT_BYTES: usize = 1_200;

/// A rendered record.
pub(super) struct Rendered {
    pub line: String,
    /// Bytes of generated text inside the line (for size control).
    pub text_bytes: usize,
    /// The request body that `inputBodyS3Path` points at, when the input was offloaded.
    pub offloaded_input: Option<String>,
}

/// Reusable buffers, so a record costs one allocation for its line and little else.
pub(super) struct Renderer {
    line: JsonOut,
    side: JsonOut,
    scratch: String,
}

impl Renderer {
    pub fn new() -> Renderer {
        Renderer {
            line: JsonOut::with_capacity(8 * 1024),
            side: JsonOut::with_capacity(4 * 1024),
            scratch: String::with_capacity(8 * 1024),
        }
    }

    pub fn render(
        &mut self,
        rng: &mut SimRng,
        plan: &RecordPlan,
        world: &World,
        names: &ModelNames,
    ) -> Rendered {
        let request_share = 0.4 + 0.3 * rng_unit(rng);
        let request_bytes = (plan.text_budget as f64 * request_share) as usize;
        let budgets = TextBudgets {
            request: request_bytes,
            response: plan.text_budget.saturating_sub(request_bytes),
        };

        let offloaded_input =
            if plan.error_code.is_none() && plan.delivery == BodyDelivery::InputOffloaded {
                let mut side = BodyWriter::new(&mut self.side, &mut self.scratch, rng);
                write_request_body(&mut side, plan, OFFLOADED_TEXT_BYTES);
                Some(self.side.take_string())
            } else {
                None
            };

        let mut writer = BodyWriter::new(&mut self.line, &mut self.scratch, rng);
        write_envelope(&mut writer, plan, world, names, budgets);
        let text_bytes = writer.text_bytes;
        Rendered {
            line: self.line.take_string(),
            text_bytes,
            offloaded_input,
        }
    }
}

fn rng_unit(rng: &mut SimRng) -> f64 {
    use rand::RngExt;
    rng.random()
}

#[derive(Debug, Clone, Copy)]
struct TextBudgets {
    request: usize,
    response: usize,
}

/// A piece of a generated string value: fixed text or `n` bytes of words.
enum Piece {
    Fixed(&'static str),
    Words(usize),
}

/// The JSON writer plus what it needs to generate text.
struct BodyWriter<'a> {
    out: &'a mut JsonOut,
    scratch: &'a mut String,
    rng: &'a mut SimRng,
    text_bytes: usize,
}

impl<'a> BodyWriter<'a> {
    fn new(out: &'a mut JsonOut, scratch: &'a mut String, rng: &'a mut SimRng) -> BodyWriter<'a> {
        BodyWriter {
            out,
            scratch,
            rng,
            text_bytes: 0,
        }
    }

    /// Writes a string value made of generated words.
    fn text(&mut self, bytes: usize) {
        self.composed(&[Piece::Words(bytes)]);
    }

    /// Writes a string value made of fixed parts and generated words.
    fn composed(&mut self, pieces: &[Piece]) {
        self.scratch.clear();
        for piece in pieces {
            match piece {
                Piece::Fixed(text) => self.scratch.push_str(text),
                Piece::Words(bytes) => {
                    let before = self.scratch.len();
                    fill_text(self.rng, self.scratch, *bytes);
                    self.text_bytes += self.scratch.len() - before;
                }
            }
        }
        self.out.string(self.scratch);
    }

    fn chance(&mut self, p: f64) -> bool {
        chance(self.rng, p)
    }
}

/// Envelope members, to be written in one of the observed orders.
#[derive(Debug, Clone, Copy)]
enum Field {
    SchemaType,
    SchemaVersion,
    Timestamp,
    AccountId,
    Identity,
    Region,
    RequestId,
    Operation,
    ModelId,
    ErrorCode,
    Input,
    Output,
    InferenceRegion,
    RequestMetadata,
}

impl KeyOrder {
    fn fields(self) -> &'static [Field] {
        use Field::*;
        match self {
            KeyOrder::S3Delivery => &[
                SchemaType,
                SchemaVersion,
                Timestamp,
                AccountId,
                Identity,
                Region,
                RequestId,
                Operation,
                ModelId,
                ErrorCode,
                Input,
                Output,
                InferenceRegion,
                RequestMetadata,
            ],
            KeyOrder::CloudWatch => &[
                Timestamp,
                AccountId,
                Identity,
                Region,
                RequestId,
                Operation,
                ModelId,
                ErrorCode,
                Input,
                Output,
                RequestMetadata,
                InferenceRegion,
                SchemaType,
                SchemaVersion,
            ],
            KeyOrder::CloudWatchIdentityLate => &[
                Timestamp,
                AccountId,
                Region,
                RequestId,
                Operation,
                ModelId,
                ErrorCode,
                Input,
                Output,
                Identity,
                RequestMetadata,
                InferenceRegion,
                SchemaType,
                SchemaVersion,
            ],
        }
    }
}

fn write_envelope(
    w: &mut BodyWriter,
    plan: &RecordPlan,
    world: &World,
    names: &ModelNames,
    budgets: TextBudgets,
) {
    w.out.begin_object();
    for field in plan.key_order.fields() {
        match field {
            Field::SchemaType => w.out.field_str("schemaType", "ModelInvocationLog"),
            Field::SchemaVersion => w.out.field_str("schemaVersion", "1.0"),
            Field::Timestamp => {
                if plan.defect == Some(Defect::MaskedTimestamp) {
                    w.out.field_str("timestamp", MASKED_TIMESTAMP);
                } else {
                    let stamp = UtcTime::from_ms(plan.timestamp_ms).rfc3339_seconds();
                    w.out.field_str("timestamp", &stamp);
                }
            }
            Field::AccountId => w.out.field_str("accountId", &world.accounts[plan.account]),
            Field::Identity => {
                w.out.key("identity");
                w.out.begin_object();
                let arn = &world.principal_arns[plan.account][plan.team][plan.principal];
                w.out.field_str("arn", arn);
                w.out.end_object();
            }
            Field::Region => w.out.field_str("region", &world.regions[plan.region]),
            Field::RequestId => {
                if plan.defect != Some(Defect::MissingRequestId) {
                    w.out.field_str("requestId", &plan.request_id);
                }
            }
            Field::Operation => w.out.field_str("operation", plan.operation.as_str()),
            Field::ModelId => w.out.field_str("modelId", &names.called),
            Field::ErrorCode => {
                if let Some(code) = plan.error_code {
                    w.out.field_str("errorCode", code);
                }
            }
            Field::Input => write_input(w, plan, world, budgets.request),
            Field::Output => write_output(w, plan, budgets.response),
            Field::InferenceRegion => {
                if let Some(region) = plan.inference_region {
                    w.out.field_str("inferenceRegion", region);
                }
            }
            Field::RequestMetadata => write_request_metadata(w, plan),
        }
    }
    w.out.end_object();
}

fn write_input(w: &mut BodyWriter, plan: &RecordPlan, world: &World, text_bytes: usize) {
    w.out.key("input");
    w.out.begin_object();
    w.out.field_str("inputContentType", "application/json");
    if plan.error_code.is_some() {
        // Failed calls log empty input and output.
        w.out.end_object();
        return;
    }
    match plan.delivery {
        BodyDelivery::Inline => {
            w.out.key("inputBodyJson");
            write_request_body(w, plan, text_bytes);
        }
        BodyDelivery::InputOffloaded => {
            let path = offloaded_input_uri(plan, world);
            w.out.field_str("inputBodyS3Path", &path);
        }
        BodyDelivery::TextOff => {}
    }
    w.out.field_uint("inputTokenCount", plan.tokens.input);
    if plan.tokens.cache_fields {
        w.out
            .field_uint("cacheReadInputTokenCount", plan.tokens.cache_read);
        w.out
            .field_uint("cacheWriteInputTokenCount", plan.tokens.cache_write);
    }
    w.out.end_object();
}

/// Where Bedrock would have put an offloaded request body: the record's hour folder, `data/`.
fn offloaded_input_uri(plan: &RecordPlan, world: &World) -> String {
    let account = &world.accounts[plan.account];
    let region = &world.regions[plan.region];
    let hour = UtcTime::from_ms(plan.timestamp_ms).hour_path();
    format!(
        "s3://bedrock-logs-{account}-{region}/{DEFAULT_PREFIX}/AWSLogs/{account}/BedrockModelInvocationLogs/{region}/{hour}/data/{}_input.json.gz",
        plan.request_id
    )
}

fn write_output(w: &mut BodyWriter, plan: &RecordPlan, text_bytes: usize) {
    w.out.key("output");
    w.out.begin_object();
    w.out.field_str("outputContentType", "application/json");
    if plan.error_code.is_some() {
        w.out.end_object();
        return;
    }
    if plan.delivery != BodyDelivery::TextOff {
        w.out.key("outputBodyJson");
        write_response_body(w, plan, text_bytes);
    }
    w.out.field_uint("outputTokenCount", plan.tokens.output);
    w.out.end_object();
}

fn write_request_metadata(w: &mut BodyWriter, plan: &RecordPlan) {
    let Some(metadata) = &plan.metadata else {
        return;
    };
    let tier = plan.tier.metadata.map(|tag| tag.wire);
    w.out.key("requestMetadata");
    w.out.begin_object();
    if let Some(wire) = tier.filter(|_| metadata.tier_first) {
        w.out.field_str("service_tier", wire);
    }
    w.out
        .field_str("team", super::catalog::TEAMS[plan.team].name);
    w.out.field_str("app", metadata.app);
    if let Some(trace_id) = &metadata.trace_id {
        w.out.field_str("traceId", trace_id);
    }
    if let Some(wire) = tier.filter(|_| !metadata.tier_first) {
        w.out.field_str("service_tier", wire);
    }
    w.out.end_object();
}

// ---------------------------------------------------------------------------------------------
// Request bodies
// ---------------------------------------------------------------------------------------------

/// How the request text splits into a system prompt and the user's turn.
struct PromptSplit {
    system: usize,
    user: usize,
    cached: bool,
}

fn split_prompt(w: &mut BodyWriter, plan: &RecordPlan, text_bytes: usize) -> PromptSplit {
    let cached = plan.tokens.uses_cache();
    let system_share = if cached {
        // The cached prefix is the long, stable system prompt.
        0.85
    } else if w.chance(0.3) {
        0.25
    } else {
        0.0
    };
    let system = (text_bytes as f64 * system_share) as usize;
    PromptSplit {
        system,
        user: text_bytes - system,
        cached,
    }
}

fn request_tier_wire(plan: &RecordPlan, field: RequestTierField) -> Option<&'static str> {
    plan.tier
        .request_body
        .filter(|(placed, _)| *placed == field)
        .map(|(_, tag)| tag.wire)
}

fn write_request_body(w: &mut BodyWriter, plan: &RecordPlan, text_bytes: usize) {
    let split = split_prompt(w, plan, text_bytes);
    if plan.operation.is_converse() {
        return converse_request(w, plan, &split);
    }
    match plan.model.format {
        BodyFormat::OpenAiChat => openai_request(w, plan, &split),
        BodyFormat::Nova => nova_request(w, plan, &split),
        BodyFormat::Anthropic => anthropic_request(w, plan, &split),
        BodyFormat::Llama => llama_request(w, plan, &split),
    }
}

/// `"content": [{"text": ...}]` message list with one user turn (Converse and Nova).
fn converse_style_messages(w: &mut BodyWriter, user_bytes: usize) {
    w.out.key("messages");
    w.out.begin_array();
    w.out.begin_object();
    w.out.field_str("role", "user");
    w.out.key("content");
    w.out.begin_array();
    w.out.begin_object();
    w.out.key("text");
    w.text(user_bytes);
    w.out.end_object();
    w.out.end_array();
    w.out.end_object();
    w.out.end_array();
}

/// `"system": [{"text": ...}, {"cachePoint": {"type": "default"}}]` (Converse and Nova).
fn converse_style_system(w: &mut BodyWriter, split: &PromptSplit) {
    if split.system == 0 {
        return;
    }
    w.out.key("system");
    w.out.begin_array();
    w.out.begin_object();
    w.out.key("text");
    w.text(split.system);
    w.out.end_object();
    if split.cached {
        w.out.begin_object();
        w.out.key("cachePoint");
        w.out.begin_object();
        w.out.field_str("type", "default");
        w.out.end_object();
        w.out.end_object();
    }
    w.out.end_array();
}

fn converse_request(w: &mut BodyWriter, plan: &RecordPlan, split: &PromptSplit) {
    w.out.begin_object();
    converse_style_messages(w, split.user);
    converse_style_system(w, split);
    w.out.key("inferenceConfig");
    w.out.begin_object();
    w.out.field_uint("maxTokens", plan.max_tokens);
    w.out.field_literal("temperature", "0.7");
    w.out.field_literal("topP", "0.9");
    w.out.end_object();
    if let Some(wire) = request_tier_wire(plan, RequestTierField::ConverseServiceTier) {
        w.out.key("serviceTier");
        w.out.begin_object();
        w.out.field_str("type", wire);
        w.out.end_object();
    }
    if let Some(wire) = request_tier_wire(plan, RequestTierField::ConverseAdditionalFields) {
        w.out.key("additionalModelRequestFields");
        w.out.begin_object();
        w.out.field_str("service_tier", wire);
        w.out.end_object();
    } else if w.chance(0.3) {
        w.out.key("additionalModelRequestFields");
        w.out.begin_object();
        w.out.end_object();
    }
    w.out.end_object();
}

fn openai_request(w: &mut BodyWriter, plan: &RecordPlan, split: &PromptSplit) {
    w.out.begin_object();
    w.out.key("messages");
    w.out.begin_array();
    if split.system > 0 {
        w.out.begin_object();
        w.out.field_str("role", "system");
        w.out.key("content");
        w.text(split.system);
        w.out.end_object();
    }
    w.out.begin_object();
    w.out.field_str("role", "user");
    w.out.key("content");
    w.text(split.user);
    w.out.end_object();
    w.out.end_array();
    w.out.field_uint("max_tokens", plan.max_tokens);
    w.out.field_literal("temperature", "0.5");
    if plan.model.id.starts_with("openai.gpt-oss") && w.chance(0.4) {
        w.out.field_str("reasoning_effort", "medium");
    }
    if plan.operation == Operation::InvokeModelWithResponseStream {
        w.out.field_literal("stream", "true");
        w.out.key("stream_options");
        w.out.begin_object();
        w.out.field_literal("include_usage", "true");
        w.out.end_object();
    }
    if let Some(wire) = request_tier_wire(plan, RequestTierField::OpenAiServiceTier) {
        w.out.field_str("service_tier", wire);
    }
    w.out.end_object();
}

fn nova_request(w: &mut BodyWriter, plan: &RecordPlan, split: &PromptSplit) {
    w.out.begin_object();
    w.out.field_str("schemaVersion", "messages-v1");
    converse_style_system(w, split);
    converse_style_messages(w, split.user);
    w.out.key("inferenceConfig");
    w.out.begin_object();
    w.out.field_uint("max_new_tokens", plan.max_tokens);
    w.out.field_literal("temperature", "0.7");
    w.out.field_literal("top_p", "0.9");
    w.out.end_object();
    w.out.end_object();
}

fn anthropic_request(w: &mut BodyWriter, plan: &RecordPlan, split: &PromptSplit) {
    w.out.begin_object();
    w.out.field_str("anthropic_version", "bedrock-2023-05-31");
    w.out.field_uint("max_tokens", plan.max_tokens);
    if split.cached {
        w.out.key("system");
        w.out.begin_array();
        w.out.begin_object();
        w.out.field_str("type", "text");
        w.out.key("text");
        w.text(split.system);
        w.out.key("cache_control");
        w.out.begin_object();
        w.out.field_str("type", "ephemeral");
        w.out.end_object();
        w.out.end_object();
        w.out.end_array();
    } else if split.system > 0 {
        w.out.key("system");
        w.text(split.system);
    }
    w.out.key("messages");
    w.out.begin_array();
    w.out.begin_object();
    w.out.field_str("role", "user");
    w.out.key("content");
    w.out.begin_array();
    w.out.begin_object();
    w.out.field_str("type", "text");
    w.out.key("text");
    w.text(split.user);
    w.out.end_object();
    w.out.end_array();
    w.out.end_object();
    w.out.end_array();
    w.out.field_literal("temperature", "0.7");
    w.out.end_object();
}

fn llama_request(w: &mut BodyWriter, plan: &RecordPlan, split: &PromptSplit) {
    w.out.begin_object();
    w.out.key("prompt");
    w.composed(&[
        Piece::Fixed("<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n"),
        Piece::Words(split.system + split.user),
        Piece::Fixed("<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"),
    ]);
    w.out.field_uint("max_gen_len", plan.max_tokens);
    w.out.field_literal("temperature", "0.5");
    w.out.field_literal("top_p", "0.9");
    w.out.end_object();
}

// ---------------------------------------------------------------------------------------------
// Response bodies
// ---------------------------------------------------------------------------------------------

/// The tier name the response carries, if any (a bad record's is unknown).
fn response_tier_wire(plan: &RecordPlan) -> Option<&'static str> {
    let wire = plan.tier.response_body.map(|tag| tag.wire)?;
    Some(if plan.defect == Some(Defect::UnknownTier) {
        UNKNOWN_TIER
    } else {
        wire
    })
}

fn write_response_body(w: &mut BodyWriter, plan: &RecordPlan, text_bytes: usize) {
    match (plan.operation, plan.model.format) {
        (Operation::Converse | Operation::ConverseStream, _) => {
            converse_response(w, plan, text_bytes)
        }
        (Operation::InvokeModel, BodyFormat::OpenAiChat) => openai_response(w, plan, text_bytes),
        (Operation::InvokeModel, BodyFormat::Nova) => nova_response(w, plan, text_bytes),
        (Operation::InvokeModel, BodyFormat::Anthropic) => anthropic_response(w, plan, text_bytes),
        (Operation::InvokeModel, BodyFormat::Llama) => llama_response(w, plan, text_bytes),
        (Operation::InvokeModelWithResponseStream, format) => {
            let chunks = between(w.rng, 3, 8) as usize;
            let per_chunk = text_bytes / chunks;
            match format {
                BodyFormat::OpenAiChat => openai_chunks(w, plan, chunks, per_chunk),
                BodyFormat::Nova => nova_chunks(w, plan, chunks, per_chunk),
                BodyFormat::Anthropic => anthropic_chunks(w, plan, chunks, per_chunk),
                BodyFormat::Llama => llama_chunks(w, plan, chunks, per_chunk),
            }
        }
    }
}

fn is_reasoning_model(plan: &RecordPlan) -> bool {
    plan.model.id.starts_with("openai.gpt-oss")
}

fn converse_response(w: &mut BodyWriter, plan: &RecordPlan, text_bytes: usize) {
    let tokens = &plan.tokens;
    w.out.begin_object();
    w.out.key("output");
    w.out.begin_object();
    w.out.key("message");
    w.out.begin_object();
    w.out.field_str("role", "assistant");
    w.out.key("content");
    w.out.begin_array();
    let mut answer_bytes = text_bytes;
    if is_reasoning_model(plan) && w.chance(0.5) {
        let reasoning_bytes = text_bytes / 3;
        answer_bytes -= reasoning_bytes;
        w.out.begin_object();
        w.out.key("reasoningContent");
        w.out.begin_object();
        w.out.key("reasoningText");
        w.out.begin_object();
        w.out.key("text");
        w.text(reasoning_bytes);
        w.out.end_object();
        w.out.end_object();
        w.out.end_object();
    }
    w.out.begin_object();
    w.out.key("text");
    w.text(answer_bytes);
    w.out.end_object();
    w.out.end_array();
    w.out.end_object();
    w.out.end_object();
    w.out.field_str(
        "stopReason",
        if plan.hit_max_tokens {
            "max_tokens"
        } else {
            "end_turn"
        },
    );
    w.out.key("metrics");
    w.out.begin_object();
    w.out
        .field_uint("latencyMs", u64::from(plan.latency.total_ms));
    w.out.end_object();
    w.out.key("usage");
    w.out.begin_object();
    w.out.field_uint("inputTokens", tokens.input);
    if tokens.cache_fields {
        w.out.field_uint("cacheReadInputTokens", tokens.cache_read);
        w.out
            .field_uint("cacheWriteInputTokens", tokens.cache_write);
    }
    w.out.field_uint("outputTokens", tokens.output);
    w.out.field_uint("totalTokens", tokens.total());
    w.out.end_object();
    if let Some(wire) = response_tier_wire(plan) {
        w.out.key("serviceTier");
        w.out.begin_object();
        w.out.field_str("type", wire);
        w.out.end_object();
    }
    w.out.end_object();
}

/// `created` of OpenAI-style responses: Unix seconds.
fn created_seconds(plan: &RecordPlan) -> u64 {
    u64::try_from(plan.timestamp_ms.div_euclid(MS_PER_SECOND)).unwrap_or(0)
}

fn openai_finish_reason(plan: &RecordPlan) -> &'static str {
    if plan.hit_max_tokens {
        "length"
    } else {
        "stop"
    }
}

fn openai_usage(w: &mut BodyWriter, plan: &RecordPlan) {
    w.out.key("usage");
    w.out.begin_object();
    w.out.field_uint("prompt_tokens", plan.tokens.input);
    w.out.field_uint("completion_tokens", plan.tokens.output);
    w.out
        .field_uint("total_tokens", plan.tokens.input + plan.tokens.output);
    w.out.end_object();
}

fn openai_response(w: &mut BodyWriter, plan: &RecordPlan, text_bytes: usize) {
    let id = format!("chatcmpl-{}", hex_id(w.rng, 24));
    w.out.begin_object();
    w.out.field_str("id", &id);
    w.out.field_str("object", "chat.completion");
    w.out.field_uint("created", created_seconds(plan));
    w.out.field_str("model", plan.model.response_model_name);
    w.out.key("choices");
    w.out.begin_array();
    w.out.begin_object();
    w.out.field_uint("index", 0);
    w.out.key("message");
    w.out.begin_object();
    w.out.field_str("role", "assistant");
    w.out.key("content");
    if is_reasoning_model(plan) && w.chance(0.5) {
        // gpt-oss answers through InvokeModel start with their reasoning.
        w.composed(&[
            Piece::Fixed("<reasoning>"),
            Piece::Words(text_bytes / 3),
            Piece::Fixed("</reasoning>"),
            Piece::Words(text_bytes - text_bytes / 3),
        ]);
    } else {
        w.text(text_bytes);
    }
    w.out.end_object();
    w.out.field_str("finish_reason", openai_finish_reason(plan));
    w.out.end_object();
    w.out.end_array();
    openai_usage(w, plan);
    if let Some(wire) = response_tier_wire(plan) {
        w.out.field_str("service_tier", wire);
    }
    w.out.end_object();
}

fn nova_usage(w: &mut BodyWriter, plan: &RecordPlan, with_total: bool) {
    w.out.key("usage");
    w.out.begin_object();
    w.out.field_uint("inputTokens", plan.tokens.input);
    w.out.field_uint("outputTokens", plan.tokens.output);
    if with_total {
        w.out.field_uint("totalTokens", plan.tokens.total());
    }
    w.out
        .field_uint("cacheReadInputTokenCount", plan.tokens.cache_read);
    w.out
        .field_uint("cacheWriteInputTokenCount", plan.tokens.cache_write);
    w.out.end_object();
}

fn nova_stop_reason(plan: &RecordPlan) -> &'static str {
    if plan.hit_max_tokens {
        "max_tokens"
    } else {
        "end_turn"
    }
}

fn nova_response(w: &mut BodyWriter, plan: &RecordPlan, text_bytes: usize) {
    w.out.begin_object();
    w.out.key("output");
    w.out.begin_object();
    w.out.key("message");
    w.out.begin_object();
    w.out.key("content");
    w.out.begin_array();
    w.out.begin_object();
    w.out.key("text");
    w.text(text_bytes);
    w.out.end_object();
    w.out.end_array();
    w.out.field_str("role", "assistant");
    w.out.end_object();
    w.out.end_object();
    w.out.field_str("stopReason", nova_stop_reason(plan));
    nova_usage(w, plan, true);
    w.out.end_object();
}

fn anthropic_usage(w: &mut BodyWriter, plan: &RecordPlan, output_tokens: u64) {
    w.out.key("usage");
    w.out.begin_object();
    w.out.field_uint("input_tokens", plan.tokens.input);
    w.out
        .field_uint("cache_creation_input_tokens", plan.tokens.cache_write);
    w.out
        .field_uint("cache_read_input_tokens", plan.tokens.cache_read);
    w.out.field_uint("output_tokens", output_tokens);
    w.out.end_object();
}

fn anthropic_stop_reason(plan: &RecordPlan) -> &'static str {
    if plan.hit_max_tokens {
        "max_tokens"
    } else {
        "end_turn"
    }
}

fn anthropic_response(w: &mut BodyWriter, plan: &RecordPlan, text_bytes: usize) {
    let id = format!("msg_bdrk_{}", hex_id(w.rng, 24));
    w.out.begin_object();
    w.out.field_str("id", &id);
    w.out.field_str("type", "message");
    w.out.field_str("role", "assistant");
    w.out.field_str("model", plan.model.response_model_name);
    w.out.key("content");
    w.out.begin_array();
    w.out.begin_object();
    w.out.field_str("type", "text");
    w.out.key("text");
    w.text(text_bytes);
    w.out.end_object();
    w.out.end_array();
    w.out.field_str("stop_reason", anthropic_stop_reason(plan));
    w.out.field_literal("stop_sequence", "null");
    anthropic_usage(w, plan, plan.tokens.output);
    w.out.end_object();
}

fn llama_stop_reason(plan: &RecordPlan) -> &'static str {
    if plan.hit_max_tokens {
        "length"
    } else {
        "stop"
    }
}

fn llama_response(w: &mut BodyWriter, plan: &RecordPlan, text_bytes: usize) {
    w.out.begin_object();
    w.out.key("generation");
    w.text(text_bytes);
    w.out.field_uint("prompt_token_count", plan.tokens.input);
    w.out
        .field_uint("generation_token_count", plan.tokens.output);
    w.out.field_str("stop_reason", llama_stop_reason(plan));
    w.out.end_object();
}

// ---------------------------------------------------------------------------------------------
// Stream chunk lists (InvokeModelWithResponseStream)
// ---------------------------------------------------------------------------------------------

/// `"amazon-bedrock-invocationMetrics": {...}` on the last chunk, when the plan has it.
fn invocation_metrics(w: &mut BodyWriter, plan: &RecordPlan) {
    if !plan.stream_metrics_chunk {
        return;
    }
    w.out.key("amazon-bedrock-invocationMetrics");
    w.out.begin_object();
    w.out.field_uint("inputTokenCount", plan.tokens.input);
    w.out.field_uint("outputTokenCount", plan.tokens.output);
    w.out
        .field_uint("invocationLatency", u64::from(plan.latency.total_ms));
    w.out
        .field_uint("firstByteLatency", u64::from(plan.latency.first_byte_ms));
    w.out.end_object();
}

fn openai_chunk_header(w: &mut BodyWriter, plan: &RecordPlan, id: &str) {
    w.out.field_str("id", id);
    w.out.field_str("object", "chat.completion.chunk");
    w.out.field_uint("created", created_seconds(plan));
    w.out.field_str("model", plan.model.response_model_name);
}

fn openai_chunks(w: &mut BodyWriter, plan: &RecordPlan, chunks: usize, per_chunk: usize) {
    let id = format!("chatcmpl-{}", hex_id(w.rng, 24));
    let tier = response_tier_wire(plan);
    w.out.begin_array();
    for chunk in 0..chunks {
        w.out.begin_object();
        openai_chunk_header(w, plan, &id);
        w.out.key("choices");
        w.out.begin_array();
        w.out.begin_object();
        w.out.field_uint("index", 0);
        w.out.key("delta");
        w.out.begin_object();
        if chunk == 0 {
            w.out.field_str("role", "assistant");
        }
        w.out.key("content");
        w.text(per_chunk);
        w.out.end_object();
        w.out.field_literal("finish_reason", "null");
        w.out.end_object();
        w.out.end_array();
        if let Some(wire) = tier {
            w.out.field_str("service_tier", wire);
        }
        w.out.end_object();
    }
    // The final chunk: finish reason, usage (stream_options.include_usage) and metrics.
    w.out.begin_object();
    openai_chunk_header(w, plan, &id);
    w.out.key("choices");
    w.out.begin_array();
    w.out.begin_object();
    w.out.field_uint("index", 0);
    w.out.key("delta");
    w.out.begin_object();
    w.out.end_object();
    w.out.field_str("finish_reason", openai_finish_reason(plan));
    w.out.end_object();
    w.out.end_array();
    openai_usage(w, plan);
    if let Some(wire) = tier {
        w.out.field_str("service_tier", wire);
    }
    invocation_metrics(w, plan);
    w.out.end_object();
    w.out.end_array();
}

fn nova_chunks(w: &mut BodyWriter, plan: &RecordPlan, chunks: usize, per_chunk: usize) {
    w.out.begin_array();
    w.out.begin_object();
    w.out.key("messageStart");
    w.out.begin_object();
    w.out.field_str("role", "assistant");
    w.out.end_object();
    w.out.end_object();
    for _ in 0..chunks {
        w.out.begin_object();
        w.out.key("contentBlockDelta");
        w.out.begin_object();
        w.out.key("delta");
        w.out.begin_object();
        w.out.key("text");
        w.text(per_chunk);
        w.out.end_object();
        w.out.field_uint("contentBlockIndex", 0);
        w.out.end_object();
        w.out.end_object();
    }
    w.out.begin_object();
    w.out.key("contentBlockStop");
    w.out.begin_object();
    w.out.field_uint("contentBlockIndex", 0);
    w.out.end_object();
    w.out.end_object();
    w.out.begin_object();
    w.out.key("messageStop");
    w.out.begin_object();
    w.out.field_str("stopReason", nova_stop_reason(plan));
    w.out.end_object();
    w.out.end_object();
    w.out.begin_object();
    w.out.key("metadata");
    w.out.begin_object();
    nova_usage(w, plan, false);
    w.out.key("metrics");
    w.out.begin_object();
    w.out.end_object();
    w.out.key("trace");
    w.out.begin_object();
    w.out.end_object();
    w.out.end_object();
    invocation_metrics(w, plan);
    w.out.end_object();
    w.out.end_array();
}

fn anthropic_chunks(w: &mut BodyWriter, plan: &RecordPlan, chunks: usize, per_chunk: usize) {
    let id = format!("msg_bdrk_{}", hex_id(w.rng, 24));
    w.out.begin_array();
    w.out.begin_object();
    w.out.field_str("type", "message_start");
    w.out.key("message");
    w.out.begin_object();
    w.out.field_str("id", &id);
    w.out.field_str("type", "message");
    w.out.field_str("role", "assistant");
    w.out.field_str("model", plan.model.response_model_name);
    w.out.key("content");
    w.out.begin_array();
    w.out.end_array();
    w.out.field_literal("stop_reason", "null");
    w.out.field_literal("stop_sequence", "null");
    anthropic_usage(w, plan, 1);
    w.out.end_object();
    w.out.end_object();

    w.out.begin_object();
    w.out.field_str("type", "content_block_start");
    w.out.field_uint("index", 0);
    w.out.key("content_block");
    w.out.begin_object();
    w.out.field_str("type", "text");
    w.out.field_str("text", "");
    w.out.end_object();
    w.out.end_object();
    for _ in 0..chunks {
        w.out.begin_object();
        w.out.field_str("type", "content_block_delta");
        w.out.field_uint("index", 0);
        w.out.key("delta");
        w.out.begin_object();
        w.out.field_str("type", "text_delta");
        w.out.key("text");
        w.text(per_chunk);
        w.out.end_object();
        w.out.end_object();
    }
    w.out.begin_object();
    w.out.field_str("type", "content_block_stop");
    w.out.field_uint("index", 0);
    w.out.end_object();

    w.out.begin_object();
    w.out.field_str("type", "message_delta");
    w.out.key("delta");
    w.out.begin_object();
    w.out.field_str("stop_reason", anthropic_stop_reason(plan));
    w.out.field_literal("stop_sequence", "null");
    w.out.end_object();
    w.out.key("usage");
    w.out.begin_object();
    w.out.field_uint("output_tokens", plan.tokens.output);
    w.out.end_object();
    w.out.end_object();

    w.out.begin_object();
    w.out.field_str("type", "message_stop");
    invocation_metrics(w, plan);
    w.out.end_object();
    w.out.end_array();
}

fn llama_chunks(w: &mut BodyWriter, plan: &RecordPlan, chunks: usize, per_chunk: usize) {
    let output = plan.tokens.output;
    w.out.begin_array();
    for chunk in 0..chunks {
        w.out.begin_object();
        w.out.key("generation");
        w.text(per_chunk);
        if chunk == 0 {
            w.out.field_uint("prompt_token_count", plan.tokens.input);
        } else {
            w.out.field_literal("prompt_token_count", "null");
        }
        // Running count, always below the final one.
        let so_far = output * (chunk as u64 + 1) / (chunks as u64 + 1);
        w.out.field_uint("generation_token_count", so_far);
        w.out.field_literal("stop_reason", "null");
        w.out.end_object();
    }
    w.out.begin_object();
    w.out.field_str("generation", "");
    w.out.field_literal("prompt_token_count", "null");
    w.out.field_uint("generation_token_count", output);
    w.out.field_str("stop_reason", llama_stop_reason(plan));
    invocation_metrics(w, plan);
    w.out.end_object();
    w.out.end_array();
}
