//! The AWS side: one module per API the daemon reads. Only this module knows the AWS SDK;
//! what it reads goes to `ingest` (invocation logs) or straight to `store` (metrics, quotas).
//!
//! Every client is built from a source's config (region, optional endpoint override,
//! optional role to assume) with the SDK's standard retry policy: throttling and 5xx answers
//! are retried with jittered exponential backoff, up to `daemon.max_attempts` attempts. An
//! interceptor counts attempts per operation so each cycle can report its API calls.

pub mod bedrock;
pub mod cloudwatch_logs;
pub mod cloudwatch_metrics;
pub mod pricing_api;
pub mod profiles;
pub mod s3;
pub mod service_quotas;
pub mod sts;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_cloudwatchlogs::config::{ConfigBag, SharedCredentialsProvider};
use aws_sdk_cloudwatchlogs::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;

use crate::config::{DaemonConfig, SourceConfig};
use crate::store::StoreError;

/// Why a poll cycle failed.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("{operation} failed: {message}")]
    Aws {
        operation: &'static str,
        message: String,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("stored checkpoint {position:?} of {source_name} is unreadable: {reason}")]
    Checkpoint {
        source_name: String,
        position: String,
        reason: String,
    },
    #[error("parsing stopped unexpectedly: {0}")]
    Parser(String),
}

impl SourceError {
    /// An SDK error as one readable line: the service's error code and message, or the chain
    /// of causes (timeout, connection refused, ...). The SDK's own `Display` says only
    /// "service error", and its `DisplayErrorContext` appends a dump of the raw response.
    pub fn aws<E, R>(operation: &'static str, error: SdkError<E, R>) -> SourceError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        let message = match &error {
            SdkError::ServiceError(service) => {
                let error = service.err();
                format!(
                    "{}: {}",
                    error.code().unwrap_or("UnknownError"),
                    error.message().unwrap_or("(no message)")
                )
            }
            other => cause_chain(other),
        };
        SourceError::Aws { operation, message }
    }
}

/// "dispatch failure: io error: Connection refused (os error 111)".
fn cause_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// A poller's stored checkpoint, decoded from its JSON; `None` before the first window.
pub(crate) async fn read_checkpoint<T: serde::de::DeserializeOwned>(
    store: &crate::store::Store,
    kind: &str,
    name: &str,
    source_name: &str,
) -> Result<Option<T>, SourceError> {
    let Some(position) = store.checkpoint(kind, name).await? else {
        return Ok(None);
    };
    serde_json::from_str(&position)
        .map(Some)
        .map_err(|error| SourceError::Checkpoint {
            source_name: source_name.to_string(),
            position,
            reason: error.to_string(),
        })
}

/// Where and as whom an SDK client calls AWS.
#[derive(Debug, Clone, Copy)]
pub struct AwsTarget<'a> {
    pub region: &'a str,
    /// Override of the AWS endpoints (a local stand-in, a VPC endpoint).
    pub endpoint_url: Option<&'a str>,
    /// A role to assume from the standard credential chain's identity.
    pub role_arn: Option<&'a str>,
    pub external_id: Option<&'a str>,
}

impl<'a> From<&'a SourceConfig> for AwsTarget<'a> {
    fn from(source: &'a SourceConfig) -> AwsTarget<'a> {
        AwsTarget {
            region: &source.region,
            endpoint_url: source.endpoint_url.as_deref(),
            role_arn: source.role_arn.as_deref(),
            external_id: source.external_id.as_deref(),
        }
    }
}

/// The SDK configuration for one source.
pub async fn sdk_config(source: &SourceConfig, daemon: &DaemonConfig) -> SdkConfig {
    target_config(AwsTarget::from(source), daemon.max_attempts).await
}

/// The SDK configuration for a target, with the standard retry policy (`max_attempts`
/// attempts per call, jittered backoff on throttling and 5xx).
pub async fn target_config(target: AwsTarget<'_>, max_attempts: u32) -> SdkConfig {
    let retry = RetryConfig::standard()
        .with_max_attempts(max_attempts)
        .with_initial_backoff(Duration::from_millis(200))
        .with_max_backoff(Duration::from_secs(20));
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(10))
        .operation_attempt_timeout(Duration::from_secs(60))
        .build();
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(target.region.to_string()))
        .retry_config(retry)
        .timeout_config(timeouts);
    if let Some(url) = target.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    let base = loader.load().await;
    let Some(role) = target.role_arn else {
        return base;
    };
    let mut assume = aws_config::sts::AssumeRoleProvider::builder(role)
        .session_name("tierwatch")
        .configure(&base);
    if let Some(external_id) = target.external_id {
        assume = assume.external_id(external_id);
    }
    let provider = assume.build().await;
    base.into_builder()
        .credentials_provider(SharedCredentialsProvider::new(provider))
        .build()
}

/// Counts API attempts (retries included) per operation.
#[derive(Debug, Default, Clone)]
pub struct CallCounter {
    counts: Arc<Mutex<BTreeMap<String, u64>>>,
}

impl CallCounter {
    /// Takes the counts so far and starts again from zero (one cycle's calls).
    pub fn take(&self) -> BTreeMap<String, u64> {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        std::mem::take(&mut *counts)
    }

    fn count(&self, operation: &str) {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        *counts.entry(operation.to_string()).or_default() += 1;
    }
}

impl Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "tierwatch::CallCounter"
    }

    fn read_before_attempt(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let operation = cfg.load::<Metadata>().map_or("unknown", Metadata::name);
        self.count(operation);
        Ok(())
    }
}

/// Total calls in a cycle's counts.
pub fn total_calls(counts: &BTreeMap<String, u64>) -> u64 {
    counts.values().sum()
}
