//! InvokeModelWithResponseStream bodies: the list of native chunks Bedrock logs, usually
//! ending with an `amazon-bedrock-invocationMetrics` object on the last chunk.

use super::BodyWriter;
use super::response::{
    anthropic_stop_reason, anthropic_usage, created_seconds, llama_stop_reason, nova_stop_reason,
    nova_usage, openai_finish_reason, openai_usage, response_tier_wire,
};
use crate::simulate::plan::RecordPlan;
use crate::simulate::sample::hex_id;

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

pub(super) fn openai_chunks(
    w: &mut BodyWriter,
    plan: &RecordPlan,
    chunks: usize,
    per_chunk: usize,
) {
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

pub(super) fn nova_chunks(w: &mut BodyWriter, plan: &RecordPlan, chunks: usize, per_chunk: usize) {
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

pub(super) fn anthropic_chunks(
    w: &mut BodyWriter,
    plan: &RecordPlan,
    chunks: usize,
    per_chunk: usize,
) {
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

pub(super) fn llama_chunks(w: &mut BodyWriter, plan: &RecordPlan, chunks: usize, per_chunk: usize) {
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
