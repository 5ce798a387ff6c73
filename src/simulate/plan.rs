//! Drawing one invocation: who calls which model how, on which tier, with how many tokens,
//! how fast, and how the log record will be shaped. A `RecordPlan` holds every decision; the
//! renderer turns it into JSON, and the plan also says what a correct parser must read back
//! from that JSON (`Expected`), so truth and output cannot drift apart.

use rand::{RngExt, SeedableRng};

use super::catalog::{
    APP_PROFILE_MODEL, APP_PROFILES_PER_ACCOUNT, BodyFormat, ERROR_CODES, GLOBAL_REGIONS, MODELS,
    ModelIdForm, ModelSpec, OPENAI_LAUNCH_MODEL, TEAMS, Team, geo_prefix, geo_regions,
};
use super::clock::hour_of_day;
use super::sample::{
    SimRng, between, chance, hex_id, index, log_normal, pick_index, pick_weighted, uuid_v4,
};
use super::{Defect, Expected};
use crate::model::{Routing, Tier, TierSource, TokenCounts};

/// The bedrock-runtime operations that are logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Operation {
    Converse,
    ConverseStream,
    InvokeModel,
    InvokeModelWithResponseStream,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Converse => "Converse",
            Operation::ConverseStream => "ConverseStream",
            Operation::InvokeModel => "InvokeModel",
            Operation::InvokeModelWithResponseStream => "InvokeModelWithResponseStream",
        }
    }

    /// Converse and ConverseStream log one aggregated Converse-shaped response.
    pub fn is_converse(self) -> bool {
        matches!(self, Operation::Converse | Operation::ConverseStream)
    }

    /// Operation shares for a model speaking `format`, in the order of `ALL`.
    fn weights(format: BodyFormat) -> [f64; 4] {
        match format {
            BodyFormat::OpenAiChat => [35.0, 20.0, 30.0, 15.0],
            BodyFormat::Nova => [40.0, 30.0, 20.0, 10.0],
            // Claude traffic is mostly coding agents streaming.
            BodyFormat::Anthropic => [25.0, 40.0, 10.0, 25.0],
            BodyFormat::Llama => [50.0, 10.0, 35.0, 5.0],
        }
    }

    const ALL: [Operation; 4] = [
        Operation::Converse,
        Operation::ConverseStream,
        Operation::InvokeModel,
        Operation::InvokeModelWithResponseStream,
    ];
}

/// What happened to the request and response bodies in the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BodyDelivery {
    /// `inputBodyJson` and `outputBodyJson` are in the record.
    Inline,
    /// Text delivery is off: only content types and counts.
    TextOff,
    /// The request was over 100 KB: `inputBodyS3Path` instead of `inputBodyJson`.
    InputOffloaded,
}

/// A tier as written somewhere in a record: the wire spelling and the tier it means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct TierTag {
    pub tier: Tier,
    pub wire: &'static str,
}

impl TierTag {
    /// The API spelling (`default` for Standard), used in request and response bodies.
    fn api(tier: Tier) -> TierTag {
        let wire = match tier {
            Tier::Priority => "priority",
            Tier::Standard => "default",
            Tier::Flex => "flex",
            Tier::Reserved => "reserved",
        };
        TierTag { tier, wire }
    }

    /// A caller's spelling in `requestMetadata`: people write `standard`, sometimes capitalize.
    fn caller(rng: &mut SimRng, tier: Tier) -> TierTag {
        let choices: &[&'static str] = match tier {
            Tier::Priority => &["priority", "priority", "Priority"],
            Tier::Standard => &["standard", "default", "Standard"],
            Tier::Flex => &["flex", "flex", "Flex"],
            Tier::Reserved => &["reserved"],
        };
        TierTag {
            tier,
            wire: choices[index(rng, choices.len())],
        }
    }
}

/// Where a request body names its tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RequestTierField {
    /// Converse top-level `"serviceTier": {"type": "flex"}`.
    ConverseServiceTier,
    /// Converse `"additionalModelRequestFields": {"service_tier": "flex"}`.
    ConverseAdditionalFields,
    /// OpenAI-compatible body `"service_tier": "flex"`.
    OpenAiServiceTier,
}

/// The tier that served a call and every place the record will name a tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct TierPlan {
    /// What really served the call (drives latency).
    pub served: Tier,
    pub request_body: Option<(RequestTierField, TierTag)>,
    pub response_body: Option<TierTag>,
    pub metadata: Option<TierTag>,
}

impl TierPlan {
    fn unnamed() -> TierPlan {
        TierPlan {
            served: Tier::Standard,
            request_body: None,
            response_body: None,
            metadata: None,
        }
    }
}

/// Token counts as the envelope and the body usage will state them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct TokenPlan {
    /// Non-cached input (what `inputTokenCount` says).
    pub input: u64,
    pub output: u64,
    pub cache_read: u64,
    pub cache_write: u64,
    /// Whether the envelope (and a Converse body's usage) carries the cache fields at all.
    pub cache_fields: bool,
}

impl TokenPlan {
    pub fn uses_cache(&self) -> bool {
        self.cache_read + self.cache_write > 0
    }

    /// Every input token, cached or not (what decides whether a body is offloaded).
    fn total_input(&self) -> u64 {
        self.input + self.cache_read + self.cache_write
    }

    /// `totalTokens` of a Converse or Nova usage block: cache tokens included.
    pub fn total(&self) -> u64 {
        self.total_input() + self.output
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Latency {
    pub total_ms: u32,
    pub first_byte_ms: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct MetadataPlan {
    pub app: &'static str,
    pub trace_id: Option<String>,
    /// Write `service_tier` before the other keys (callers build these maps differently).
    pub tier_first: bool,
}

/// The key orders seen in real records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum KeyOrder {
    /// `schemaType` first (S3 deliveries).
    S3Delivery,
    /// `timestamp` first, `schemaType`/`schemaVersion` last (CloudWatch, 2025 on).
    CloudWatch,
    /// CloudWatch order with `identity` after `output`.
    CloudWatchIdentityLate,
}

/// Accounts, regions and the names derived from them, fixed for a simulation.
#[derive(Debug)]
pub(super) struct World {
    pub accounts: Vec<String>,
    pub regions: Vec<String>,
    /// `identity.arn` values: `[account][team][principal]`.
    pub principal_arns: Vec<Vec<Vec<String>>>,
    /// Application inference profile ids: `[account][profile]`.
    pub app_profiles: Vec<Vec<String>>,
}

/// FNV-1a: a hash that is the same on every run and platform.
fn stable_hash(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

impl World {
    /// Every application inference profile ARN the simulated accounts call, with the model
    /// it routes to (what Bedrock's GetInferenceProfile would answer).
    pub fn application_profiles(&self) -> Vec<(String, &'static str)> {
        let mut profiles = Vec::new();
        for (account, ids) in self.accounts.iter().zip(&self.app_profiles) {
            for region in &self.regions {
                for id in ids {
                    profiles.push((
                        format!(
                            "arn:aws:bedrock:{region}:{account}:application-inference-profile/{id}"
                        ),
                        APP_PROFILE_MODEL,
                    ));
                }
            }
        }
        profiles
    }

    pub fn new(accounts: &[String], regions: &[String]) -> World {
        let principal_arns = accounts
            .iter()
            .map(|account| {
                TEAMS
                    .iter()
                    .map(|team| team.principals.iter().map(|p| p.arn(account)).collect())
                    .collect()
            })
            .collect();
        // A profile's id depends on its account only, not on the seed, so every run (the
        // demo's history and its live traffic) calls the same profiles, as an account would.
        let app_profiles = accounts
            .iter()
            .map(|account| {
                let mut profile_rng = SimRng::seed_from_u64(stable_hash(account));
                (0..APP_PROFILES_PER_ACCOUNT)
                    .map(|_| hex_id(&mut profile_rng, 12))
                    .collect()
            })
            .collect();
        World {
            accounts: accounts.to_vec(),
            regions: regions.to_vec(),
            principal_arns,
            app_profiles,
        }
    }
}

/// The model id as called, and what it normalizes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ModelNames {
    pub called: String,
    pub normalized: String,
    pub routing: Routing,
    pub resolved: bool,
}

/// Every decision about one record.
#[derive(Debug, Clone)]
pub(super) struct RecordPlan {
    pub timestamp_ms: i64,
    pub account: usize,
    pub region: usize,
    pub team: usize,
    pub principal: usize,
    pub model: &'static ModelSpec,
    pub id_form: ModelIdForm,
    pub app_profile: usize,
    pub operation: Operation,
    pub request_id: String,
    pub inference_region: Option<&'static str>,
    pub delivery: BodyDelivery,
    pub tier: TierPlan,
    pub tokens: TokenPlan,
    pub max_tokens: u64,
    /// The answer stopped at `max_tokens`.
    pub hit_max_tokens: bool,
    pub latency: Latency,
    /// InvokeModelWithResponseStream ends with an `amazon-bedrock-invocationMetrics` chunk.
    pub stream_metrics_chunk: bool,
    pub error_code: Option<&'static str>,
    pub metadata: Option<MetadataPlan>,
    pub key_order: KeyOrder,
    /// Bytes of generated text the bodies should carry.
    pub text_budget: usize,
    pub defect: Option<Defect>,
}

/// Draws a well-formed record at `timestamp_ms`; `error_rate` is the chance it is a failed call.
pub(super) fn draw_plan(
    rng: &mut SimRng,
    world: &World,
    timestamp_ms: i64,
    error_rate: f64,
    text_budget: usize,
) -> RecordPlan {
    let account = draw_leading(rng, world.accounts.len(), 0.65);
    let region = draw_leading(rng, world.regions.len(), 0.7);
    let team = draw_team(rng, timestamp_ms);
    let team_spec = &TEAMS[team];
    let principal = index(rng, team_spec.principals.len());
    let model = draw_model(rng, team_spec);
    let id_form = pick_weighted(rng, model.id_forms, |(_, w)| *w)
        .map_or(ModelIdForm::Bare, |(form, _)| *form);
    let app_profile = index(rng, APP_PROFILES_PER_ACCOUNT);
    let operation = draw_operation(rng, model.format);
    let tier = draw_tier(rng, team_spec, model, operation);
    let (tokens, max_tokens, hit_max_tokens) = draw_tokens(rng, model, operation);
    let latency = draw_latency(rng, model, tier.served, &tokens);
    let delivery = if chance(rng, 0.04) {
        BodyDelivery::TextOff
    } else if tokens.total_input() > 30_000 {
        // ~4 bytes per token: such a request body is over Bedrock's 100 KB inline limit.
        BodyDelivery::InputOffloaded
    } else {
        BodyDelivery::Inline
    };
    let error_code = chance(rng, error_rate).then(|| draw_error_code(rng, tier.served));
    let metadata = draw_metadata(rng, team_spec, tier.metadata.is_some());
    let inference_region = if error_code.is_none() {
        draw_inference_region(rng, id_form, &world.regions[region])
    } else {
        None
    };
    let key_order = match rng.random::<f64>() {
        r if r < 0.5 => KeyOrder::S3Delivery,
        r if r < 0.8 => KeyOrder::CloudWatch,
        _ => KeyOrder::CloudWatchIdentityLate,
    };
    let stream_metrics_chunk =
        operation == Operation::InvokeModelWithResponseStream && chance(rng, 0.95);
    RecordPlan {
        timestamp_ms,
        account,
        region,
        team,
        principal,
        model,
        id_form,
        app_profile,
        operation,
        request_id: uuid_v4(rng),
        inference_region,
        delivery,
        tier,
        tokens,
        max_tokens,
        hit_max_tokens,
        latency,
        stream_metrics_chunk,
        error_code,
        metadata,
        key_order,
        text_budget,
        defect: None,
    }
}

/// Index 0 gets `leading_share`, the others split the rest (the main account and region carry
/// most traffic).
fn draw_leading(rng: &mut SimRng, len: usize, leading_share: f64) -> usize {
    if len <= 1 || chance(rng, leading_share) {
        0
    } else {
        1 + index(rng, len - 1)
    }
}

fn draw_team(rng: &mut SimRng, timestamp_ms: i64) -> usize {
    let night = (3..9).contains(&hour_of_day(timestamp_ms));
    pick_index(rng, TEAMS.len(), |i| {
        let team = &TEAMS[i];
        match (team.night_batch, night) {
            (true, true) => team.weight * 4.0,
            (true, false) => team.weight * 0.6,
            (false, _) => team.weight,
        }
    })
}

fn draw_model(rng: &mut SimRng, team: &Team) -> &'static ModelSpec {
    let chosen = pick_weighted(rng, MODELS, |model| {
        let favorite = team.favorite_models.contains(&model.id)
            && model
                .id_forms
                .iter()
                .all(|(f, _)| *f != ModelIdForm::ApplicationProfileArn);
        if favorite {
            model.weight * 3.0
        } else {
            model.weight
        }
    });
    chosen.unwrap_or(&MODELS[OPENAI_LAUNCH_MODEL])
}

fn draw_operation(rng: &mut SimRng, format: BodyFormat) -> Operation {
    let weights = Operation::weights(format);
    Operation::ALL[pick_index(rng, Operation::ALL.len(), |i| weights[i])]
}

/// Decides the tier and where the record names it.
///
/// Converse callers set `serviceTier` in the body and the response echoes the served tier
/// (mostly). OpenAI-compatible InvokeModel callers set `service_tier` in the body, or the
/// `X-Amzn-Bedrock-Service-Tier` header, which is not logged: those teams tag the tier in
/// `requestMetadata` instead. Native Nova InvokeModel calls only have the header.
fn draw_tier(rng: &mut SimRng, team: &Team, model: &ModelSpec, operation: Operation) -> TierPlan {
    if !model.flex_and_priority {
        return TierPlan::unnamed();
    }
    let roll: f64 = rng.random();
    let asked = if roll < team.tier_mix.priority {
        Tier::Priority
    } else if roll < team.tier_mix.priority + team.tier_mix.flex {
        Tier::Flex
    } else {
        Tier::Standard
    };
    let openai_invoke = !operation.is_converse() && model.format == BodyFormat::OpenAiChat;
    let names_tier = asked != Tier::Standard || chance(rng, 0.2);
    if !names_tier {
        // OpenAI-compatible responses state `service_tier: "default"` even when nobody asked.
        let response_body =
            (openai_invoke && chance(rng, 0.3)).then(|| TierTag::api(Tier::Standard));
        return TierPlan {
            response_body,
            ..TierPlan::unnamed()
        };
    }

    let requested = TierTag::api(asked);
    let mut plan = TierPlan {
        served: asked,
        ..TierPlan::unnamed()
    };
    let mechanism: f64 = rng.random();
    if operation.is_converse() {
        if mechanism < 0.85 {
            plan.request_body = Some((RequestTierField::ConverseServiceTier, requested));
            plan.response_body = Some(requested);
        } else if mechanism < 0.95 {
            plan.request_body = Some((RequestTierField::ConverseServiceTier, requested));
        } else {
            plan.request_body = Some((RequestTierField::ConverseAdditionalFields, requested));
        }
    } else if openai_invoke && mechanism < 0.55 {
        plan.request_body = Some((RequestTierField::OpenAiServiceTier, requested));
        plan.response_body = Some(requested);
    } else if openai_invoke && mechanism < 0.65 {
        plan.request_body = Some((RequestTierField::OpenAiServiceTier, requested));
    } else {
        // Header only: the team stamps the tier into requestMetadata so the log shows it.
        plan.metadata = Some(TierTag::caller(rng, asked));
    }

    // Under load a Priority request can be served at Standard; only a response can say so.
    if asked == Tier::Priority && plan.response_body.is_some() && chance(rng, 0.04) {
        plan.served = Tier::Standard;
        plan.response_body = Some(TierTag::api(Tier::Standard));
    }
    if team.tags_tier_in_metadata && plan.metadata.is_none() {
        plan.metadata = Some(TierTag::caller(rng, asked));
    }
    plan
}

/// The `maxTokens` values callers pick.
const MAX_TOKEN_CHOICES: [u64; 6] = [512, 1_024, 2_048, 4_096, 8_192, 16_384];

fn draw_tokens(
    rng: &mut SimRng,
    model: &ModelSpec,
    operation: Operation,
) -> (TokenPlan, u64, bool) {
    let native_states_cache = matches!(model.format, BodyFormat::Nova | BodyFormat::Anthropic);
    let caching_possible = model.prompt_caching && (operation.is_converse() || native_states_cache);
    let cached = caching_possible && chance(rng, 0.35);
    let natural_output = clamp_tokens(log_normal(rng, model.output_median, 0.8), 1, 32_000);
    let (input, cache_read, cache_write) = if cached {
        // The big, stable part of the prompt is cached; only the new turn is plain input.
        let input = clamp_tokens(log_normal(rng, 200.0, 1.0), 1, 5_000);
        let writes = chance(rng, 0.3);
        let cache_write = if writes {
            clamp_tokens(log_normal(rng, 4_000.0, 0.8), 1_024, 100_000)
        } else {
            0
        };
        let cache_read = if !writes || chance(rng, 0.5) {
            clamp_tokens(log_normal(rng, 12_000.0, 0.7), 1_024, 150_000)
        } else {
            0
        };
        (input, cache_read, cache_write)
    } else {
        (
            clamp_tokens(log_normal(rng, model.input_median, 1.0), 1, 150_000),
            0,
            0,
        )
    };
    let cache_fields = cached
        || (native_states_cache && !operation.is_converse())
        || chance(rng, if operation.is_converse() { 0.5 } else { 0.2 });

    let max_tokens = if chance(rng, 0.85) {
        let wanted = natural_output + natural_output / 3;
        MAX_TOKEN_CHOICES
            .into_iter()
            .find(|choice| *choice >= wanted)
            .unwrap_or(MAX_TOKEN_CHOICES[MAX_TOKEN_CHOICES.len() - 1])
    } else {
        MAX_TOKEN_CHOICES[index(rng, MAX_TOKEN_CHOICES.len())]
    };
    let output = natural_output.min(max_tokens);
    let plan = TokenPlan {
        input,
        output,
        cache_read,
        cache_write,
        cache_fields,
    };
    (plan, max_tokens, natural_output > max_tokens)
}

fn clamp_tokens(value: f64, low: u64, high: u64) -> u64 {
    (value.round() as u64).clamp(low, high)
}

/// Latency that follows the tier: Priority starts sooner and streams ~25% faster; Flex starts
/// later, streams slower and is spiky (queueing under load), so its p95 is several times
/// Standard's. Total latency grows with output tokens.
fn draw_latency(rng: &mut SimRng, model: &ModelSpec, served: Tier, tokens: &TokenPlan) -> Latency {
    let (first_token_factor, speed_factor) = match served {
        Tier::Priority => (0.7, 1.25),
        Tier::Flex => (1.5, 0.6),
        Tier::Standard | Tier::Reserved => (1.0, 1.0),
    };
    let prefill_ms =
        (tokens.input + tokens.cache_write) as f64 / 8.0 + tokens.cache_read as f64 / 40.0;
    let mut first_byte =
        model.first_token_ms * first_token_factor * log_normal(rng, 1.0, 0.35) + prefill_ms;
    let mut tokens_per_second =
        model.output_tokens_per_second * speed_factor * log_normal(rng, 1.0, 0.2);
    if served == Tier::Flex {
        // Flex yields to other traffic: a variable start, variable speed, and now and then a
        // long wait in the queue.
        first_byte *= log_normal(rng, 1.0, 0.9);
        tokens_per_second *= log_normal(rng, 1.0, 0.5);
        if chance(rng, 0.15) {
            first_byte += between(rng, 5_000, 120_000) as f64;
        }
    }
    let generation = tokens.output as f64 / tokens_per_second * 1_000.0;
    let first_byte_ms = (first_byte.round() as u32).max(1);
    let total_ms = (first_byte + generation).round() as u32;
    Latency {
        total_ms: total_ms.max(first_byte_ms + 1),
        first_byte_ms,
    }
}

fn draw_error_code(rng: &mut SimRng, served: Tier) -> &'static str {
    let flex = served == Tier::Flex;
    pick_weighted(
        rng,
        ERROR_CODES,
        |(_, other, flex_weight)| {
            if flex { *flex_weight } else { *other }
        },
    )
    .map_or("ThrottlingException", |(code, _, _)| *code)
}

fn draw_metadata(rng: &mut SimRng, team: &Team, carries_tier: bool) -> Option<MetadataPlan> {
    if !carries_tier && !chance(rng, team.metadata_share) {
        return None;
    }
    Some(MetadataPlan {
        app: team.apps[index(rng, team.apps.len())],
        trace_id: chance(rng, 0.3).then(|| uuid_v4(rng)),
        tier_first: chance(rng, 0.5),
    })
}

/// Cross-region profiles name the serving region most of the time (not always, in real data).
fn draw_inference_region(
    rng: &mut SimRng,
    form: ModelIdForm,
    region: &str,
) -> Option<&'static str> {
    let targets = match form {
        ModelIdForm::GeoProfile | ModelIdForm::GeoProfileArn => geo_regions(geo_prefix(region)),
        ModelIdForm::GlobalProfile | ModelIdForm::GlobalProfileArn => GLOBAL_REGIONS,
        ModelIdForm::ApplicationProfileArn if chance(rng, 0.5) => geo_regions(geo_prefix(region)),
        _ => return None,
    };
    chance(rng, 0.75).then(|| targets[index(rng, targets.len())])
}

impl RecordPlan {
    /// Turns this plan into a bad record of the given kind.
    pub fn make_defective(&mut self, defect: Defect) {
        self.defect = Some(defect);
        self.error_code = None;
        if defect == Defect::UnknownTier {
            // The unknown tier goes where a response names its tier: a Converse body or an
            // OpenAI-compatible body, on a Priority/Flex model.
            let has_response_tier_field =
                self.operation.is_converse() || self.model.format == BodyFormat::OpenAiChat;
            if !has_response_tier_field || !self.model.flex_and_priority {
                self.model = &MODELS[OPENAI_LAUNCH_MODEL];
                self.id_form = ModelIdForm::Bare;
                self.inference_region = None;
            }
            self.delivery = BodyDelivery::Inline;
            self.tier.response_body = Some(TierTag::api(Tier::Flex));
        }
    }

    pub fn model_names(&self, world: &World) -> ModelNames {
        let id = self.model.id;
        let region = &world.regions[self.region];
        let account = &world.accounts[self.account];
        let geo = geo_prefix(region);
        let (called, routing) = match self.id_form {
            ModelIdForm::Bare => (id.to_string(), Routing::InRegion),
            ModelIdForm::FoundationModelArn => (
                format!("arn:aws:bedrock:{region}::foundation-model/{id}"),
                Routing::InRegion,
            ),
            ModelIdForm::GeoProfile => (format!("{geo}.{id}"), Routing::Geo),
            ModelIdForm::GlobalProfile => (format!("global.{id}"), Routing::Global),
            ModelIdForm::GeoProfileArn => (
                format!("arn:aws:bedrock:{region}:{account}:inference-profile/{geo}.{id}"),
                Routing::Geo,
            ),
            ModelIdForm::GlobalProfileArn => (
                format!("arn:aws:bedrock:{region}:{account}:inference-profile/global.{id}"),
                Routing::Global,
            ),
            ModelIdForm::ApplicationProfileArn => {
                let profile = &world.app_profiles[self.account][self.app_profile];
                let arn = format!(
                    "arn:aws:bedrock:{region}:{account}:application-inference-profile/{profile}"
                );
                // Without a mapping in config the ARN is all a parser can report.
                return ModelNames {
                    called: arn.clone(),
                    normalized: arn,
                    routing: Routing::InRegion,
                    resolved: false,
                };
            }
        };
        ModelNames {
            called,
            normalized: id.to_string(),
            routing,
            resolved: true,
        }
    }

    /// The request body is in the record (and can name a tier).
    pub fn request_body_visible(&self) -> bool {
        self.error_code.is_none() && self.delivery == BodyDelivery::Inline
    }

    /// The response body is in the record.
    pub fn response_body_visible(&self) -> bool {
        self.error_code.is_none() && self.delivery != BodyDelivery::TextOff
    }

    /// The tier a parser must report and where it finds it: response body, then request body,
    /// then `requestMetadata`, else Standard, assumed.
    pub fn visible_tier(&self) -> (Tier, TierSource) {
        if let Some(tag) = self
            .tier
            .response_body
            .filter(|_| self.response_body_visible())
        {
            return (tag.tier, TierSource::ResponseBody);
        }
        if let Some((_, tag)) = self
            .tier
            .request_body
            .filter(|_| self.request_body_visible())
        {
            return (tag.tier, TierSource::RequestBody);
        }
        if let Some(tag) = self.tier.metadata {
            return (tag.tier, TierSource::RequestMetadata);
        }
        (Tier::Standard, TierSource::Assumed)
    }

    /// Whether the response body reports latency, and how.
    fn visible_latency(&self) -> (Option<u32>, Option<u32>) {
        if !self.response_body_visible() {
            return (None, None);
        }
        match self.operation {
            Operation::Converse | Operation::ConverseStream => (Some(self.latency.total_ms), None),
            Operation::InvokeModelWithResponseStream if self.stream_metrics_chunk => (
                Some(self.latency.total_ms),
                Some(self.latency.first_byte_ms),
            ),
            _ => (None, None),
        }
    }

    fn visible_tokens(&self) -> TokenCounts {
        if self.error_code.is_some() {
            return TokenCounts::default();
        }
        let cache = |count: u64| self.tokens.cache_fields.then_some(count);
        TokenCounts {
            input: Some(self.tokens.input),
            output: Some(self.tokens.output),
            cache_read: cache(self.tokens.cache_read),
            cache_write: cache(self.tokens.cache_write),
        }
    }

    /// What a correct parser reads from the rendered record.
    pub fn expected(&self, world: &World, names: ModelNames) -> Expected {
        let (tier, tier_source) = self.visible_tier();
        let (latency_ms, time_to_first_token_ms) = self.visible_latency();
        Expected {
            request_id: self.request_id.clone(),
            operation: self.operation.as_str(),
            model_called: names.called,
            model_id: names.normalized,
            model_resolved: names.resolved,
            routing: names.routing,
            inference_region: self.inference_region.map(str::to_string),
            caller_arn: world.principal_arns[self.account][self.team][self.principal].clone(),
            tier,
            tier_source,
            tokens: self.visible_tokens(),
            latency_ms,
            time_to_first_token_ms,
            error_code: self.error_code.map(str::to_string),
        }
    }
}
