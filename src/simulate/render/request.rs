//! Request bodies: what the caller sent, in the operation's format (Converse) or the model's
//! native format (InvokeModel).

use super::{BodyWriter, Piece};
use crate::simulate::catalog::BodyFormat;
use crate::simulate::plan::{Operation, RecordPlan, RequestTierField};

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

pub(super) fn write_request_body(w: &mut BodyWriter, plan: &RecordPlan, text_bytes: usize) {
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
