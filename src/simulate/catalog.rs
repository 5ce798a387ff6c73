//! What the simulated organisation uses: models (with the body format each speaks, the model id
//! forms it is called by and its token and speed profile), teams (with their callers, apps and
//! tier habits), error codes and cross-region routing targets.
//!
//! The numbers are chosen so the demo tells a story: support uses Priority for its chat bot,
//! evals run nightly Flex batches, the platform team tries Claude through profiles tierwatch
//! cannot price. They are plausible, not measured.

/// The native request/response body a model speaks on InvokeModel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BodyFormat {
    /// OpenAI chat completions (`messages`, `choices`, `usage.prompt_tokens`): gpt-oss, Qwen, DeepSeek.
    OpenAiChat,
    /// Amazon Nova messages-v1 (`messages`, `inferenceConfig`, `usage.inputTokens`).
    Nova,
    /// Anthropic messages (`anthropic_version`, `content`, `usage.input_tokens`).
    Anthropic,
    /// Meta Llama (`prompt`, `generation`, `prompt_token_count`).
    Llama,
}

/// How a call names its model in `modelId`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum ModelIdForm {
    /// `amazon.nova-pro-v1:0`
    Bare,
    /// `arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-pro-v1:0`
    FoundationModelArn,
    /// `us.amazon.nova-pro-v1:0`
    GeoProfile,
    /// `global.amazon.nova-pro-v1:0`
    GlobalProfile,
    /// `arn:aws:bedrock:us-east-1:111122223333:inference-profile/us.amazon.nova-pro-v1:0`
    GeoProfileArn,
    /// `arn:aws:bedrock:us-east-1:111122223333:inference-profile/global.amazon.nova-pro-v1:0`
    GlobalProfileArn,
    /// `arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/abc123def456`
    ApplicationProfileArn,
}

#[derive(Debug)]
pub(super) struct ModelSpec {
    /// The foundation-model id (what tierwatch normalizes to and prices).
    pub id: &'static str,
    /// The `model` a native response names.
    pub response_model_name: &'static str,
    /// Share of traffic, relative to the other models.
    pub weight: f64,
    pub format: BodyFormat,
    /// A Priority/Flex launch model; every other model is served Standard.
    pub flex_and_priority: bool,
    /// The model id forms callers use for this model, with relative weights.
    pub id_forms: &'static [(ModelIdForm, f64)],
    /// Median non-cached input and output tokens per call.
    pub input_median: f64,
    pub output_median: f64,
    /// Whether callers use prompt caching with this model.
    pub prompt_caching: bool,
    /// Standard-tier speed: output tokens per second and time to first token.
    pub output_tokens_per_second: f64,
    pub first_token_ms: f64,
}

use ModelIdForm::*;

const SONNET_45: &str = "anthropic.claude-sonnet-4-5-20250929-v1:0";

pub(super) const MODELS: &[ModelSpec] = &[
    ModelSpec {
        id: "openai.gpt-oss-120b-1:0",
        response_model_name: "openai.gpt-oss-120b-1:0",
        weight: 18.0,
        format: BodyFormat::OpenAiChat,
        flex_and_priority: true,
        id_forms: &[
            (Bare, 55.0),
            (FoundationModelArn, 15.0),
            (GeoProfile, 15.0),
            (GeoProfileArn, 10.0),
            (GlobalProfile, 5.0),
        ],
        input_median: 1_500.0,
        output_median: 500.0,
        prompt_caching: false,
        output_tokens_per_second: 150.0,
        first_token_ms: 350.0,
    },
    ModelSpec {
        id: "openai.gpt-oss-20b-1:0",
        response_model_name: "openai.gpt-oss-20b-1:0",
        weight: 12.0,
        format: BodyFormat::OpenAiChat,
        flex_and_priority: true,
        id_forms: &[(Bare, 75.0), (FoundationModelArn, 25.0)],
        input_median: 900.0,
        output_median: 350.0,
        prompt_caching: false,
        output_tokens_per_second: 220.0,
        first_token_ms: 250.0,
    },
    ModelSpec {
        id: "deepseek.v3-v1:0",
        response_model_name: "deepseek.v3-v1:0",
        weight: 10.0,
        format: BodyFormat::OpenAiChat,
        flex_and_priority: true,
        id_forms: &[
            (Bare, 50.0),
            (GeoProfile, 30.0),
            (GeoProfileArn, 10.0),
            (FoundationModelArn, 10.0),
        ],
        input_median: 2_000.0,
        output_median: 600.0,
        prompt_caching: false,
        output_tokens_per_second: 60.0,
        first_token_ms: 600.0,
    },
    ModelSpec {
        id: "qwen.qwen3-coder-480b-a35b-v1:0",
        response_model_name: "qwen.qwen3-coder-480b-a35b-v1:0",
        weight: 12.0,
        format: BodyFormat::OpenAiChat,
        flex_and_priority: true,
        id_forms: &[
            (Bare, 55.0),
            (FoundationModelArn, 10.0),
            (GeoProfile, 20.0),
            (GlobalProfile, 10.0),
            (GlobalProfileArn, 5.0),
        ],
        input_median: 9_000.0,
        output_median: 900.0,
        prompt_caching: false,
        output_tokens_per_second: 70.0,
        first_token_ms: 700.0,
    },
    ModelSpec {
        id: "qwen.qwen3-coder-30b-a3b-v1:0",
        response_model_name: "qwen.qwen3-coder-30b-a3b-v1:0",
        weight: 8.0,
        format: BodyFormat::OpenAiChat,
        flex_and_priority: true,
        id_forms: &[(Bare, 80.0), (FoundationModelArn, 20.0)],
        input_median: 6_000.0,
        output_median: 700.0,
        prompt_caching: false,
        output_tokens_per_second: 160.0,
        first_token_ms: 300.0,
    },
    ModelSpec {
        id: "qwen.qwen3-32b-v1:0",
        response_model_name: "qwen.qwen3-32b-v1:0",
        weight: 8.0,
        format: BodyFormat::OpenAiChat,
        flex_and_priority: true,
        id_forms: &[(Bare, 85.0), (FoundationModelArn, 15.0)],
        input_median: 1_200.0,
        output_median: 400.0,
        prompt_caching: false,
        output_tokens_per_second: 110.0,
        first_token_ms: 300.0,
    },
    ModelSpec {
        id: "qwen.qwen3-235b-a22b-2507-v1:0",
        response_model_name: "qwen.qwen3-235b-a22b-2507-v1:0",
        weight: 8.0,
        format: BodyFormat::OpenAiChat,
        flex_and_priority: true,
        id_forms: &[(Bare, 70.0), (GeoProfile, 20.0), (FoundationModelArn, 10.0)],
        input_median: 2_500.0,
        output_median: 700.0,
        prompt_caching: false,
        output_tokens_per_second: 80.0,
        first_token_ms: 500.0,
    },
    ModelSpec {
        id: "amazon.nova-pro-v1:0",
        response_model_name: "amazon.nova-pro-v1:0",
        weight: 14.0,
        format: BodyFormat::Nova,
        flex_and_priority: true,
        id_forms: &[
            (Bare, 40.0),
            (GeoProfile, 35.0),
            (GeoProfileArn, 15.0),
            (FoundationModelArn, 10.0),
        ],
        input_median: 2_500.0,
        output_median: 400.0,
        prompt_caching: true,
        output_tokens_per_second: 100.0,
        first_token_ms: 400.0,
    },
    ModelSpec {
        id: "amazon.nova-premier-v1:0",
        response_model_name: "amazon.nova-premier-v1:0",
        weight: 4.5,
        format: BodyFormat::Nova,
        flex_and_priority: true,
        id_forms: &[(GeoProfile, 70.0), (GeoProfileArn, 30.0)],
        input_median: 4_000.0,
        output_median: 800.0,
        prompt_caching: true,
        output_tokens_per_second: 60.0,
        first_token_ms: 800.0,
    },
    // Models beyond the launch ones, called through cross-region profiles.
    ModelSpec {
        id: SONNET_45,
        response_model_name: "claude-sonnet-4-5-20250929",
        weight: 3.0,
        format: BodyFormat::Anthropic,
        flex_and_priority: false,
        id_forms: &[
            (GeoProfile, 40.0),
            (GlobalProfile, 40.0),
            (GeoProfileArn, 10.0),
            (GlobalProfileArn, 10.0),
        ],
        input_median: 5_000.0,
        output_median: 700.0,
        prompt_caching: true,
        output_tokens_per_second: 70.0,
        first_token_ms: 900.0,
    },
    ModelSpec {
        id: "meta.llama3-3-70b-instruct-v1:0",
        response_model_name: "meta.llama3-3-70b-instruct-v1:0",
        weight: 1.5,
        format: BodyFormat::Llama,
        flex_and_priority: false,
        id_forms: &[(GeoProfile, 80.0), (GeoProfileArn, 20.0)],
        input_median: 800.0,
        output_median: 300.0,
        prompt_caching: false,
        output_tokens_per_second: 90.0,
        first_token_ms: 400.0,
    },
    // Claude behind an application inference profile (per-project cost tags): the log only has
    // the profile ARN, which tierwatch resolves with Bedrock's GetInferenceProfile (or config).
    ModelSpec {
        id: SONNET_45,
        response_model_name: "claude-sonnet-4-5-20250929",
        weight: 1.0,
        format: BodyFormat::Anthropic,
        flex_and_priority: false,
        id_forms: &[(ApplicationProfileArn, 1.0)],
        input_median: 5_000.0,
        output_median: 700.0,
        prompt_caching: true,
        output_tokens_per_second: 70.0,
        first_token_ms: 900.0,
    },
];

/// The model id used when a bad record needs an OpenAI-format Priority/Flex model.
pub(super) const OPENAI_LAUNCH_MODEL: usize = 0;

/// Application inference profiles per account.
pub(super) const APP_PROFILES_PER_ACCOUNT: usize = 2;

/// The model every simulated application inference profile routes to.
pub(super) const APP_PROFILE_MODEL: &str = SONNET_45;

/// Who calls Bedrock, as it appears in `identity.arn`.
pub(super) enum Principal {
    /// `arn:aws:sts::<acct>:assumed-role/<role>/<session>`
    Role {
        role: &'static str,
        session: &'static str,
    },
    /// `arn:aws:iam::<acct>:user/<name>`
    User(&'static str),
    /// `arn:aws:sts::<acct>:assumed-role/AWSReservedSSO_<set>_<hex>/<user>`
    Sso {
        permission_set: &'static str,
        user: &'static str,
    },
}

impl Principal {
    pub fn arn(&self, account_id: &str) -> String {
        match self {
            Principal::Role { role, session } => {
                format!("arn:aws:sts::{account_id}:assumed-role/{role}/{session}")
            }
            Principal::User(name) => format!("arn:aws:iam::{account_id}:user/{name}"),
            Principal::Sso {
                permission_set,
                user,
            } => format!(
                "arn:aws:sts::{account_id}:assumed-role/AWSReservedSSO_{permission_set}_3f9a6c2e81b04d57/{user}"
            ),
        }
    }
}

/// Tier shares a team asks for on Priority/Flex models.
pub(super) struct TierMix {
    pub priority: f64,
    pub flex: f64,
}

pub(super) struct Team {
    pub name: &'static str,
    pub weight: f64,
    /// Runs batch jobs at night (US time): much more traffic between 03:00 and 09:00 UTC.
    pub night_batch: bool,
    pub tier_mix: TierMix,
    /// Models this team calls three times as often as others do.
    pub favorite_models: &'static [&'static str],
    /// Share of calls that carry `requestMetadata`.
    pub metadata_share: f64,
    /// Stamps the tier it asked for into `requestMetadata` whenever it names one.
    pub tags_tier_in_metadata: bool,
    pub apps: &'static [&'static str],
    pub principals: &'static [Principal],
}

/// Overall on Priority/Flex models this gives about 15% Priority, 25% Flex, 60% Standard.
pub(super) const TEAMS: &[Team] = &[
    Team {
        name: "support",
        weight: 25.0,
        night_batch: false,
        tier_mix: TierMix {
            priority: 0.45,
            flex: 0.0,
        },
        favorite_models: &["amazon.nova-pro-v1:0", "openai.gpt-oss-120b-1:0"],
        metadata_share: 0.6,
        tags_tier_in_metadata: false,
        apps: &["helpdesk-assistant", "ticket-triage"],
        principals: &[
            Principal::Role {
                role: "support-bot-prod",
                session: "support-bot-lambda",
            },
            Principal::Role {
                role: "support-bot-prod",
                session: "ticket-triage-worker",
            },
        ],
    },
    Team {
        name: "search",
        weight: 25.0,
        night_batch: false,
        tier_mix: TierMix {
            priority: 0.10,
            flex: 0.05,
        },
        favorite_models: &["openai.gpt-oss-20b-1:0", "qwen.qwen3-32b-v1:0"],
        metadata_share: 0.3,
        tags_tier_in_metadata: false,
        apps: &["semantic-search", "query-rewrite"],
        principals: &[Principal::Role {
            role: "search-api-task",
            session: "search-api",
        }],
    },
    Team {
        name: "evals",
        weight: 20.0,
        night_batch: true,
        tier_mix: TierMix {
            priority: 0.0,
            flex: 0.85,
        },
        favorite_models: &[
            "deepseek.v3-v1:0",
            "qwen.qwen3-235b-a22b-2507-v1:0",
            "amazon.nova-premier-v1:0",
        ],
        metadata_share: 0.9,
        tags_tier_in_metadata: true,
        apps: &["regression-suite", "llm-judge"],
        principals: &[Principal::Role {
            role: "evals-batch-runner",
            session: "nightly-evals",
        }],
    },
    Team {
        name: "data-eng",
        weight: 15.0,
        night_batch: false,
        tier_mix: TierMix {
            priority: 0.0,
            flex: 0.45,
        },
        favorite_models: &["deepseek.v3-v1:0", "qwen.qwen3-coder-30b-a3b-v1:0"],
        metadata_share: 0.5,
        tags_tier_in_metadata: true,
        apps: &["doc-enrichment", "summarizer"],
        principals: &[Principal::User("airflow-bedrock")],
    },
    Team {
        name: "platform",
        weight: 15.0,
        night_batch: false,
        tier_mix: TierMix {
            priority: 0.10,
            flex: 0.0,
        },
        favorite_models: &["qwen.qwen3-coder-480b-a35b-v1:0", SONNET_45],
        metadata_share: 0.2,
        tags_tier_in_metadata: false,
        apps: &["code-assistant", "ci-review"],
        principals: &[
            Principal::User("alice"),
            Principal::User("bob"),
            Principal::Sso {
                permission_set: "DeveloperAccess",
                user: "carol@example.com",
            },
        ],
    },
];

/// Error codes of failed calls, with relative weights on Standard/Priority and on Flex
/// (Flex is shed first under load, so it is throttled and unavailable more often).
pub(super) const ERROR_CODES: &[(&str, f64, f64)] = &[
    ("ThrottlingException", 45.0, 55.0),
    ("ValidationException", 25.0, 10.0),
    ("ModelTimeoutException", 12.0, 15.0),
    ("ServiceUnavailableException", 8.0, 15.0),
    ("AccessDeniedException", 5.0, 2.0),
    ("ModelErrorException", 5.0, 3.0),
];

/// The geography prefix of a region's cross-region profiles (`us.`, `eu.`, `apac.`).
pub(super) fn geo_prefix(region: &str) -> &'static str {
    if region.starts_with("eu-") {
        "eu"
    } else if region.starts_with("ap-") {
        "apac"
    } else {
        "us"
    }
}

/// Regions a geographic profile can route to.
pub(super) fn geo_regions(prefix: &str) -> &'static [&'static str] {
    match prefix {
        "eu" => &["eu-central-1", "eu-west-1", "eu-west-3", "eu-north-1"],
        "apac" => &[
            "ap-northeast-1",
            "ap-southeast-1",
            "ap-southeast-2",
            "ap-south-1",
        ],
        _ => &["us-east-1", "us-east-2", "us-west-2"],
    }
}

/// Regions a `global.` profile can route to (one real record was served in ap-southeast-4).
pub(super) const GLOBAL_REGIONS: &[&str] = &[
    "us-east-1",
    "us-east-2",
    "us-west-2",
    "eu-west-1",
    "ap-northeast-1",
    "ap-southeast-4",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn team_tier_mix_averages_to_the_target() {
        let total: f64 = TEAMS.iter().map(|t| t.weight).sum();
        let priority: f64 = TEAMS
            .iter()
            .map(|t| t.weight * t.tier_mix.priority)
            .sum::<f64>()
            / total;
        let flex: f64 = TEAMS
            .iter()
            .map(|t| t.weight * t.tier_mix.flex)
            .sum::<f64>()
            / total;
        assert!((priority - 0.15).abs() < 0.01, "{priority}");
        assert!((flex - 0.25).abs() < 0.01, "{flex}");
    }

    #[test]
    fn favorites_name_real_models() {
        for team in TEAMS {
            for favorite in team.favorite_models {
                assert!(MODELS.iter().any(|m| m.id == *favorite), "{favorite}");
            }
        }
        assert_eq!(MODELS[OPENAI_LAUNCH_MODEL].format, BodyFormat::OpenAiChat);
        assert!(MODELS[OPENAI_LAUNCH_MODEL].flex_and_priority);
    }
}
