//! Service Quotas for service code `bedrock`, read with ListServiceQuotas (paged).
//!
//! Bedrock's quotas are per model but name the model in words ("On-demand model inference
//! tokens per minute for OpenAI GPT OSS 120B"), and their codes differ per model and change
//! as models are added, so they are matched by name: the quota's name is split into what it
//! limits (scope and kind) and the model's name, whose words are then found, in order, in
//! the id of a known model (`openai.gpt-oss-120b-1:0`). When no single model fits best the
//! quota is kept unmatched, never guessed.
//!
//! Each cycle replaces the source's stored quotas with the fresh listing in one transaction.

use aws_sdk_servicequotas::Client;
use aws_sdk_servicequotas::types::ServiceQuota;

use super::{CallCounter, SourceError};
use crate::config::SourceConfig;
use crate::pricing::PriceTable;
use crate::store::{QuotaRecord, Store};

pub const SERVICE_CODE: &str = "bedrock";

/// What one cycle did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QuotasCycle {
    pub quotas: u64,
    /// Quotas whose model was matched to a model id.
    pub matched: u64,
}

/// What a quota's name says it limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaName {
    /// `on_demand`, `cross_region`, `global_cross_region` or `other`.
    pub scope: &'static str,
    /// `tokens_per_minute`, `requests_per_minute`, `tokens_per_day` or `other`.
    pub kind: &'static str,
    /// The model's name as the quota gives it, if it names one.
    pub model_name: Option<String>,
}

/// Reads one source's Bedrock quotas.
pub struct QuotasPoller {
    source_name: String,
    account_id: String,
    region: String,
    client: Client,
    store: Store,
    /// Model ids the price table knows; models seen in data are added at each cycle.
    priced_models: Vec<String>,
}

impl QuotasPoller {
    /// `None` when the source does not read quotas.
    pub fn new(
        source: &SourceConfig,
        sdk: &aws_config::SdkConfig,
        calls: &CallCounter,
        store: Store,
        prices: &PriceTable,
    ) -> Option<QuotasPoller> {
        if !source.quotas {
            return None;
        }
        let config = aws_sdk_servicequotas::config::Builder::from(sdk)
            .interceptor(calls.clone())
            .build();
        Some(QuotasPoller {
            source_name: source.name.clone(),
            // Config validation requires an account id for sources that read quotas.
            account_id: source.account_id.clone().unwrap_or_default(),
            region: source.region.clone(),
            client: Client::from_conf(config),
            store,
            priced_models: prices.models().map(str::to_string).collect(),
        })
    }

    pub async fn poll(&mut self, now_ms: i64) -> Result<QuotasCycle, SourceError> {
        let listed = self.list().await?;
        let mut models = self.store.known_model_ids().await?;
        models.extend(self.priced_models.iter().cloned());
        models.sort();
        models.dedup();
        let records: Vec<QuotaRecord> = listed
            .iter()
            .filter_map(|quota| self.record(quota, &models, now_ms))
            .collect();
        self.store
            .replace_quotas(&self.source_name, &records)
            .await?;
        Ok(QuotasCycle {
            quotas: records.len() as u64,
            matched: records.iter().filter(|r| r.model_id.is_some()).count() as u64,
        })
    }

    async fn list(&self) -> Result<Vec<ServiceQuota>, SourceError> {
        let mut quotas = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .client
                .list_service_quotas()
                .service_code(SERVICE_CODE)
                .max_results(100)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|error| SourceError::aws("ListServiceQuotas", error))?;
            quotas.extend(page.quotas().iter().cloned());
            match page.next_token() {
                Some(next) if !next.is_empty() => token = Some(next.to_string()),
                _ => break,
            }
        }
        Ok(quotas)
    }

    /// A stored quota; `None` for an item without a code, name or value (nothing to use).
    fn record(&self, quota: &ServiceQuota, models: &[String], now_ms: i64) -> Option<QuotaRecord> {
        let code = quota.quota_code()?;
        let name = quota.quota_name()?;
        let value = quota.value()?;
        let parsed = parse_quota_name(name);
        let model_id = parsed
            .model_name
            .as_deref()
            .and_then(|model_name| match_model(model_name, models))
            .map(str::to_string);
        Some(QuotaRecord {
            source: self.source_name.clone(),
            account_id: self.account_id.clone(),
            region: self.region.clone(),
            quota_code: code.to_string(),
            quota_name: name.to_string(),
            value,
            adjustable: Some(quota.adjustable()),
            scope: parsed.scope.to_string(),
            quota_kind: parsed.kind.to_string(),
            model_name: parsed.model_name,
            model_id,
            fetched_ms: now_ms,
        })
    }
}

/// Splits a Bedrock quota name into scope, kind and model name.
///
/// "Cross-region model inference tokens per minute for Amazon Nova Pro" →
/// (`cross_region`, `tokens_per_minute`, "Amazon Nova Pro"). The per-day quota's trailing
/// "(doubled for cross-region calls)" is not part of the model's name.
pub fn parse_quota_name(name: &str) -> QuotaName {
    let (limit, model) = match name.split_once(" for ") {
        Some((limit, model)) => (limit, Some(model)),
        None => (name, None),
    };
    let limit = limit.to_ascii_lowercase();
    let scope = if limit.starts_with("global cross-region") {
        "global_cross_region"
    } else if limit.starts_with("cross-region") {
        "cross_region"
    } else if limit.starts_with("on-demand") {
        "on_demand"
    } else {
        "other"
    };
    let kind = if limit.contains("tokens per minute") {
        "tokens_per_minute"
    } else if limit.contains("requests per minute") {
        "requests_per_minute"
    } else if limit.contains("tokens per day") {
        "tokens_per_day"
    } else {
        "other"
    };
    let model_name = model
        .map(|model| match model.find(" (") {
            Some(at) => &model[..at],
            None => model,
        })
        .map(str::trim)
        .filter(|model| !model.is_empty())
        .map(str::to_string);
    QuotaName {
        scope,
        kind,
        model_name,
    }
}

/// The model id whose words contain the quota's model-name words in order, with the fewest
/// words left over; `None` when none does or two fit equally well.
///
/// Words are lowercase runs of letters or of digits, so "GPT OSS 120B" ~ `gpt-oss-120b`,
/// "Claude Sonnet 4.5 V1" ~ `claude-sonnet-4-5-20250929-v1:0`, "Llama 3" ~ `llama3`.
pub fn match_model<'m>(model_name: &str, models: &'m [String]) -> Option<&'m str> {
    let wanted = words(model_name);
    if wanted.is_empty() {
        return None;
    }
    let mut best: Option<(usize, &str)> = None;
    let mut tied = false;
    for model in models {
        let have = words(model);
        let Some(matched) = subsequence_positions(&wanted, &have) else {
            continue;
        };
        // A version suffix ("-v1:0", "-1:0") is not a word of the model's name: an id that
        // has one is not a worse fit than one that lacks it.
        let core = have.len() - version_words(model);
        let leftover = (0..core).filter(|index| !matched.contains(index)).count();
        match best {
            Some((least, _)) if leftover > least => {}
            Some((least, _)) if leftover == least => tied = true,
            _ => {
                best = Some((leftover, model));
                tied = false;
            }
        }
    }
    if tied {
        None
    } else {
        best.map(|(_, model)| model)
    }
}

fn words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut current_is_digit = false;
    for c in text.chars() {
        if !c.is_ascii_alphanumeric() {
            if !current.is_empty() {
                words.push(std::mem::take(&mut current));
            }
            continue;
        }
        let is_digit = c.is_ascii_digit();
        if !current.is_empty() && is_digit != current_is_digit {
            words.push(std::mem::take(&mut current));
        }
        current_is_digit = is_digit;
        current.push(c.to_ascii_lowercase());
    }
    if !current.is_empty() {
        words.push(current);
    }
    words
}

/// Where each wanted word sits in `have`, in order (the first fit), or `None`.
fn subsequence_positions(wanted: &[String], have: &[String]) -> Option<Vec<usize>> {
    let mut positions = Vec::with_capacity(wanted.len());
    let mut next = 0;
    for word in wanted {
        let found = have[next..]
            .iter()
            .position(|candidate| candidate == word)?
            + next;
        positions.push(found);
        next = found + 1;
    }
    Some(positions)
}

/// How many of a model id's words are its version suffix: 3 for `-v1:0`, 2 for `-1:0` and
/// `-v1`.
fn version_words(model_id: &str) -> usize {
    let last = model_id.rsplit('-').next().unwrap_or_default();
    let (major, minor) = last.split_once(':').unwrap_or((last, ""));
    let digits = |text: &str| !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    let (prefix, number) = match major.strip_prefix('v') {
        Some(number) => (1, number),
        None => (0, major),
    };
    // A bare number is a version only with a minor part ("-1:0"); "-4-6" names the model.
    let bare = prefix == 0 && minor.is_empty();
    if bare
        || !digits(number)
        || last.len() == model_id.len()
        || (!minor.is_empty() && !digits(minor))
    {
        return 0;
    }
    prefix + 1 + usize::from(!minor.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quota_names_split_into_scope_kind_and_model() {
        let cases = [
            (
                "On-demand model inference tokens per minute for OpenAI GPT OSS 120B",
                "on_demand",
                "tokens_per_minute",
                Some("OpenAI GPT OSS 120B"),
            ),
            (
                "Cross-Region model inference requests per minute for Amazon Nova Pro",
                "cross_region",
                "requests_per_minute",
                Some("Amazon Nova Pro"),
            ),
            (
                "Global cross-region model inference tokens per day for Amazon Nova 2 Lite",
                "global_cross_region",
                "tokens_per_day",
                Some("Amazon Nova 2 Lite"),
            ),
            (
                "Model invocation max tokens per day for Amazon Nova Pro (doubled for cross-region calls)",
                "other",
                "tokens_per_day",
                Some("Amazon Nova Pro"),
            ),
            (
                "On-demand InvokeModel concurrent requests for Amazon Nova Reel1.0",
                "on_demand",
                "other",
                Some("Amazon Nova Reel1.0"),
            ),
            ("Batch inference job size", "other", "other", None),
        ];
        for (name, scope, kind, model) in cases {
            let parsed = parse_quota_name(name);
            assert_eq!(parsed.scope, scope, "{name}");
            assert_eq!(parsed.kind, kind, "{name}");
            assert_eq!(parsed.model_name.as_deref(), model, "{name}");
        }
    }

    fn models() -> Vec<String> {
        [
            "amazon.nova-pro-v1:0",
            "amazon.nova-lite-v1:0",
            "amazon.nova-2-lite-v1:0",
            "anthropic.claude-sonnet-4-5-20250929-v1:0",
            "anthropic.claude-sonnet-4-20250514-v1:0",
            "deepseek.v3-v1:0",
            "meta.llama3-8b-instruct-v1:0",
            "openai.gpt-oss-120b-1:0",
            "openai.gpt-oss-20b-1:0",
            "qwen.qwen3-235b-a22b-2507-v1:0",
            "qwen.qwen3-32b-v1:0",
        ]
        .map(String::from)
        .to_vec()
    }

    #[test]
    fn model_names_match_the_tightest_model_id() {
        let models = models();
        for (name, expected) in [
            ("OpenAI GPT OSS 120B", Some("openai.gpt-oss-120b-1:0")),
            ("OpenAI GPT OSS 20B", Some("openai.gpt-oss-20b-1:0")),
            ("Amazon Nova Pro", Some("amazon.nova-pro-v1:0")),
            ("Amazon Nova Lite", Some("amazon.nova-lite-v1:0")),
            ("Amazon Nova 2 Lite", Some("amazon.nova-2-lite-v1:0")),
            (
                "Anthropic Claude Sonnet 4.5 V1",
                Some("anthropic.claude-sonnet-4-5-20250929-v1:0"),
            ),
            ("DeepSeek V3 V1", Some("deepseek.v3-v1:0")),
            (
                "Meta Llama 3 8B Instruct",
                Some("meta.llama3-8b-instruct-v1:0"),
            ),
            (
                "Qwen3 235B a22b 2507 V1",
                Some("qwen.qwen3-235b-a22b-2507-v1:0"),
            ),
            ("Qwen3 32B V1", Some("qwen.qwen3-32b-v1:0")),
            ("Cohere Command R", None),
            ("", None),
        ] {
            assert_eq!(match_model(name, &models), expected, "{name}");
        }
    }

    #[test]
    fn a_version_suffix_is_not_a_worse_fit() {
        let models = ["openai.gpt-oss-safeguard-120b", "openai.gpt-oss-120b-1:0"].map(String::from);
        assert_eq!(
            match_model("OpenAI GPT OSS 120B", &models),
            Some("openai.gpt-oss-120b-1:0")
        );
        assert_eq!(version_words("openai.gpt-oss-120b-1:0"), 2);
        assert_eq!(version_words("amazon.nova-pro-v1:0"), 3);
        assert_eq!(version_words("anthropic.claude-opus-4-6-v1"), 2);
        assert_eq!(version_words("openai.gpt-oss-safeguard-120b"), 0);
        assert_eq!(version_words("anthropic.claude-sonnet-4-6"), 0);
    }

    #[test]
    fn equally_good_matches_are_left_unmatched() {
        let models = ["acme.model-a-v1:0", "acme.model-b-v1:0"].map(String::from);
        assert_eq!(match_model("Acme Model", &models), None);
    }

    #[test]
    fn every_fixture_quota_of_a_launch_model_matches_its_index_row() {
        // The fixture index pairs each real quota name with the model id awslabs' tool gave it.
        let index = include_str!("../../tests/fixtures/quotas/quota-index-subset.csv");
        let mut models: Vec<String> = index
            .lines()
            .skip(1)
            .filter_map(|line| line.split(',').next())
            .map(str::to_string)
            .collect();
        models.sort();
        models.dedup();
        for line in index.lines().skip(1) {
            let mut fields = line.splitn(5, ',');
            let model_id = fields.next().unwrap();
            let name = fields.nth(3).unwrap();
            let parsed = parse_quota_name(name);
            let model_name = parsed.model_name.expect(name);
            assert_eq!(match_model(&model_name, &models), Some(model_id), "{name}");
        }
    }
}
