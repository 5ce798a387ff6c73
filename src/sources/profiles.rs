//! Application inference profiles met in the logs, resolved on first sight.
//!
//! A call made through an application inference profile names only the profile's ARN. The
//! first time a batch holds one that is not mapped yet, Bedrock is asked (GetInferenceProfile)
//! which model it routes to; the answer is stored (for imports, reprices and other replicas)
//! and the batch's calls through it are parsed and priced again under that model before they
//! are stored. A profile that cannot be resolved is asked about again a day later; its calls
//! stay unpriced, with the reason.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use crate::ingest::record::{ParseOptions, normalize_model};
use crate::ingest::{ParsedBatch, PricingContext};
use crate::prices::{ProfileRefresh, stored_profile};
use crate::store::Store;

/// How long a profile that could not be resolved waits before it is asked about again.
const RETRY_MS: i64 = 86_400_000;

/// Marks an application-inference-profile ARN.
const PROFILE_MARK: &str = ":application-inference-profile/";

/// Resolves the profiles one poller meets.
pub struct ProfileResolver {
    source_name: String,
    bedrock: aws_sdk_bedrock::Client,
    store: Store,
    /// Profiles resolved here (ARN → what it is priced as), kept over context updates.
    resolved: HashMap<String, String>,
    /// Profiles asked about without an answer, with when.
    attempts: HashMap<String, i64>,
}

impl ProfileResolver {
    pub fn new(source_name: &str, bedrock: aws_sdk_bedrock::Client, store: Store) -> Self {
        ProfileResolver {
            source_name: source_name.to_string(),
            bedrock,
            store,
            resolved: HashMap::new(),
            attempts: HashMap::new(),
        }
    }

    /// `context` with the profiles resolved here added (a mapping in it wins).
    pub fn extend(&self, context: &PricingContext) -> PricingContext {
        if self.resolved.is_empty() {
            return context.clone();
        }
        let mut options = ParseOptions::clone(&context.options);
        for (arn, target) in &self.resolved {
            options
                .application_profiles
                .entry(arn.clone())
                .or_insert_with(|| target.clone());
        }
        PricingContext {
            options: Arc::new(options),
            prices: Arc::clone(&context.prices),
        }
    }

    /// Resolves the unmapped profiles the batch's calls name, then parses and prices those
    /// calls again with `context` extended by every profile resolved so far (which `context`
    /// becomes).
    pub async fn resolve_batch(
        &mut self,
        batch: &mut ParsedBatch,
        context: &mut PricingContext,
        now_ms: i64,
    ) {
        let unresolved: BTreeSet<String> = batch
            .records
            .iter()
            .map(|record| &record.invocation.model)
            .filter(|model| !model.resolved && model.called.contains(PROFILE_MARK))
            .map(|model| model.called.clone())
            .collect();
        if unresolved.is_empty() {
            return;
        }
        let to_ask = unresolved
            .iter()
            .filter(|arn| !self.resolved.contains_key(*arn))
            .filter(|arn| !context.options.application_profiles.contains_key(*arn))
            .filter(|arn| {
                self.attempts
                    .get(*arn)
                    .is_none_or(|at| now_ms - at >= RETRY_MS)
            })
            .cloned()
            .collect();
        self.ask(to_ask, now_ms).await;
        *context = self.extend(context);
        for record in &mut batch.records {
            let model = &record.invocation.model;
            if model.resolved || !unresolved.contains(&model.called) {
                continue;
            }
            let again = normalize_model(&model.called, &context.options);
            if again.resolved {
                record.invocation.model = again;
                record.pricing = context.prices.price(&record.invocation);
            }
        }
    }

    /// Resolves the profile ARNs `known` does not map (raw records scanned before parsing);
    /// true when one was newly resolved, so parsing should go on with [`Self::extend`].
    pub async fn resolve_arns<'a>(
        &mut self,
        arns: impl Iterator<Item = &'a str>,
        known: &HashMap<String, String>,
        now_ms: i64,
    ) -> bool {
        let to_ask: BTreeSet<String> = arns
            .filter(|arn| !known.contains_key(*arn) && !self.resolved.contains_key(*arn))
            .filter(|arn| {
                self.attempts
                    .get(*arn)
                    .is_none_or(|at| now_ms - at >= RETRY_MS)
            })
            .map(str::to_string)
            .collect();
        self.ask(to_ask.into_iter().collect(), now_ms).await > 0
    }

    /// Asks Bedrock about each profile and stores the answers; returns how many resolved.
    async fn ask(&mut self, arns: Vec<String>, now_ms: i64) -> usize {
        if arns.is_empty() {
            return 0;
        }
        let mut refresh = ProfileRefresh::default();
        let mut stored = Vec::new();
        for arn in arns {
            self.attempts.insert(arn.clone(), now_ms);
            match super::bedrock::inference_profile(&self.bedrock, &arn).await {
                Ok(Some(models)) => {
                    let profile = stored_profile(&arn, &models, &mut refresh);
                    if let Some(target) = &profile.model_id {
                        self.resolved.insert(arn.clone(), target.clone());
                    }
                    stored.push(profile);
                }
                Ok(None) => tracing::warn!(
                    source = self.source_name,
                    arn,
                    "Bedrock does not know this application inference profile; its calls stay unpriced"
                ),
                Err(error) => tracing::warn!(
                    source = self.source_name,
                    arn,
                    %error,
                    "cannot resolve an application inference profile; its calls stay unpriced for now"
                ),
            }
        }
        if let Err(error) = self.store.save_inference_profiles(&stored).await {
            tracing::warn!(source = self.source_name, %error, "cannot store resolved profiles");
        }
        if refresh.resolved > 0 {
            tracing::info!(
                source = self.source_name,
                resolved = refresh.resolved,
                "application inference profiles resolved"
            );
        }
        refresh.resolved
    }
}
