//! Writes a `RecordPlan` as a model-invocation-log record, shaped like the real records in
//! `real-aws-samples/invocation-logs/`: the envelope in one of the observed key orders, and
//! bodies in the format of each operation (Converse aggregated object, native InvokeModel
//! response, or a list of native stream chunks ending with `amazon-bedrock-invocationMetrics`).

mod request;
mod response;
mod stream;

use super::clock::UtcTime;
use super::json::JsonOut;
use super::plan::{BodyDelivery, KeyOrder, ModelNames, RecordPlan, World};
use super::sample::{SimRng, chance};
use super::text::fill_text;
use super::{DEFAULT_PREFIX, Defect};
use request::write_request_body;
use response::write_response_body;

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
    // One order per line, so they can be compared at a glance.
    #[rustfmt::skip]
    fn fields(self) -> &'static [Field] {
        use Field::*;
        match self {
            KeyOrder::S3Delivery => &[
                SchemaType, SchemaVersion, Timestamp, AccountId, Identity, Region, RequestId, Operation, ModelId, ErrorCode, Input, Output, InferenceRegion, RequestMetadata,
            ],
            KeyOrder::CloudWatch => &[
                Timestamp, AccountId, Identity, Region, RequestId, Operation, ModelId, ErrorCode, Input, Output, RequestMetadata, InferenceRegion, SchemaType, SchemaVersion,
            ],
            KeyOrder::CloudWatchIdentityLate => &[
                Timestamp, AccountId, Region, RequestId, Operation, ModelId, ErrorCode, Input, Output, Identity, RequestMetadata, InferenceRegion, SchemaType, SchemaVersion,
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
