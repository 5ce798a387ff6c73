//! Non-streaming response bodies (Converse, ConverseStream's aggregated object, native
//! InvokeModel responses), and the usage and stop-reason pieces the stream chunks share.

use super::{BodyWriter, Piece, UNKNOWN_TIER, stream};
use crate::simulate::Defect;
use crate::simulate::catalog::BodyFormat;
use crate::simulate::clock::MS_PER_SECOND;
use crate::simulate::plan::{Operation, RecordPlan};
use crate::simulate::sample::{between, hex_id};

/// The tier name the response carries, if any (a bad record's is unknown).
pub(super) fn response_tier_wire(plan: &RecordPlan) -> Option<&'static str> {
    let wire = plan.tier.response_body.map(|tag| tag.wire)?;
    Some(if plan.defect == Some(Defect::UnknownTier) {
        UNKNOWN_TIER
    } else {
        wire
    })
}

pub(super) fn write_response_body(w: &mut BodyWriter, plan: &RecordPlan, text_bytes: usize) {
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
                BodyFormat::OpenAiChat => stream::openai_chunks(w, plan, chunks, per_chunk),
                BodyFormat::Nova => stream::nova_chunks(w, plan, chunks, per_chunk),
                BodyFormat::Anthropic => stream::anthropic_chunks(w, plan, chunks, per_chunk),
                BodyFormat::Llama => stream::llama_chunks(w, plan, chunks, per_chunk),
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
pub(super) fn created_seconds(plan: &RecordPlan) -> u64 {
    u64::try_from(plan.timestamp_ms.div_euclid(MS_PER_SECOND)).unwrap_or(0)
}

pub(super) fn openai_finish_reason(plan: &RecordPlan) -> &'static str {
    if plan.hit_max_tokens {
        "length"
    } else {
        "stop"
    }
}

pub(super) fn openai_usage(w: &mut BodyWriter, plan: &RecordPlan) {
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

pub(super) fn nova_usage(w: &mut BodyWriter, plan: &RecordPlan, with_total: bool) {
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

pub(super) fn nova_stop_reason(plan: &RecordPlan) -> &'static str {
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

pub(super) fn anthropic_usage(w: &mut BodyWriter, plan: &RecordPlan, output_tokens: u64) {
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

pub(super) fn anthropic_stop_reason(plan: &RecordPlan) -> &'static str {
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

pub(super) fn llama_stop_reason(plan: &RecordPlan) -> &'static str {
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
