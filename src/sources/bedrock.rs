//! Bedrock's control plane: the model list of a region (to map Price List names to model
//! ids), application inference profiles (to price calls made through them), and where the
//! region's invocation logs are delivered (for `tierwatch discover`).

use aws_sdk_bedrock::Client;
use aws_sdk_bedrock::operation::get_inference_profile::GetInferenceProfileError;
use aws_sdk_bedrock::types::{InferenceProfileType, LoggingConfig};

use super::SourceError;

/// One model of `ListFoundationModels`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedModel {
    pub model_id: String,
    pub model_name: String,
    pub provider: String,
}

/// Every foundation model Bedrock lists in the client's region (all inference types: models
/// callable only through inference profiles are priced too).
pub async fn foundation_models(client: &Client) -> Result<Vec<ListedModel>, SourceError> {
    let answer = client
        .list_foundation_models()
        .send()
        .await
        .map_err(|error| SourceError::aws("ListFoundationModels", error))?;
    Ok(answer
        .model_summaries()
        .iter()
        .map(|summary| ListedModel {
            model_id: summary.model_id().to_string(),
            model_name: summary.model_name().unwrap_or_default().to_string(),
            provider: summary.provider_name().unwrap_or_default().to_string(),
        })
        .collect())
}

/// What an inference profile routes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileModels {
    pub name: String,
    /// The foundation-model ARNs it routes to (one per region it can serve from).
    pub model_arns: Vec<String>,
}

/// The models behind an inference profile (id or ARN); `None` when Bedrock says it does not
/// exist (deleted, or another account's).
pub async fn inference_profile(
    client: &Client,
    identifier: &str,
) -> Result<Option<ProfileModels>, SourceError> {
    match client
        .get_inference_profile()
        .inference_profile_identifier(identifier)
        .send()
        .await
    {
        Ok(answer) => Ok(Some(ProfileModels {
            name: answer.inference_profile_name().to_string(),
            model_arns: answer
                .models()
                .iter()
                .filter_map(|model| model.model_arn().map(str::to_string))
                .collect(),
        })),
        Err(error)
            if matches!(
                error.as_service_error(),
                Some(GetInferenceProfileError::ResourceNotFoundException(_))
            ) =>
        {
            Ok(None)
        }
        Err(error) => Err(SourceError::aws("GetInferenceProfile", error)),
    }
}

/// An application inference profile of `ListInferenceProfiles`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedProfile {
    pub arn: String,
    pub models: ProfileModels,
}

/// Every application inference profile of the account in the client's region, all pages.
pub async fn application_profiles(client: &Client) -> Result<Vec<ListedProfile>, SourceError> {
    let mut profiles = Vec::new();
    let mut next_token: Option<String> = None;
    loop {
        let page = client
            .list_inference_profiles()
            .type_equals(InferenceProfileType::Application)
            .max_results(100)
            .set_next_token(next_token.take())
            .send()
            .await
            .map_err(|error| SourceError::aws("ListInferenceProfiles", error))?;
        for summary in page.inference_profile_summaries() {
            profiles.push(ListedProfile {
                arn: summary.inference_profile_arn().to_string(),
                models: ProfileModels {
                    name: summary.inference_profile_name().to_string(),
                    model_arns: summary
                        .models()
                        .iter()
                        .filter_map(|model| model.model_arn().map(str::to_string))
                        .collect(),
                },
            });
        }
        match page.next_token() {
            Some(token) if !token.is_empty() => next_token = Some(token.to_string()),
            _ => return Ok(profiles),
        }
    }
}

/// What a profile's calls are priced as: its foundation model as a model id to call, with a
/// `global.` prefix when its models span several geographies (a global profile's copy), so
/// the call gets global prices. `None` when the models are not one foundation model.
pub fn profile_target(model_arns: &[String]) -> Option<String> {
    let mut model: Option<&str> = None;
    let mut geographies = std::collections::BTreeSet::new();
    for arn in model_arns {
        // arn:aws:bedrock:REGION::foundation-model/MODEL
        let mut parts = arn.splitn(6, ':');
        let region = parts.nth(3)?;
        let resource = parts.nth(1)?;
        let id = resource.strip_prefix("foundation-model/")?;
        if model.is_some_and(|known| known != id) {
            return None;
        }
        model = Some(id);
        geographies.insert(region.split('-').next().unwrap_or(region).to_string());
    }
    let model = model?;
    Some(if geographies.len() > 1 {
        format!("global.{model}")
    } else {
        model.to_string()
    })
}

/// Where a region's model invocation logs go (GetModelInvocationLoggingConfiguration).
/// Logging is off when neither delivery is set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InvocationLogging {
    pub cloudwatch: Option<CloudWatchDelivery>,
    pub s3: Option<S3Location>,
    /// Request and response bodies of text models are logged: the service tier is read from
    /// them. Off when the configuration leaves it out.
    pub text_delivery: bool,
}

impl InvocationLogging {
    pub fn is_off(&self) -> bool {
        self.cloudwatch.is_none() && self.s3.is_none()
    }
}

/// Delivery to a CloudWatch Logs group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloudWatchDelivery {
    pub log_group: String,
    /// The role Bedrock writes to the group as (in the logging account).
    pub role_arn: String,
    /// Where bodies over 100 KB go; without it Bedrock drops them from the records.
    pub large_data: Option<S3Location>,
}

/// A bucket and the key prefix Bedrock was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Location {
    pub bucket: String,
    pub key_prefix: Option<String>,
}

impl S3Location {
    fn from_sdk(config: &aws_sdk_bedrock::types::S3Config) -> Option<S3Location> {
        let bucket = config.bucket_name().trim();
        (!bucket.is_empty()).then(|| S3Location {
            bucket: bucket.to_string(),
            key_prefix: config
                .key_prefix()
                .filter(|prefix| !prefix.is_empty())
                .map(str::to_string),
        })
    }
}

impl From<&LoggingConfig> for InvocationLogging {
    fn from(config: &LoggingConfig) -> InvocationLogging {
        // An empty group or bucket name is no delivery: some answers (moto's after a delete)
        // carry empty members rather than none.
        let cloudwatch = config.cloud_watch_config().and_then(|cloudwatch| {
            let log_group = cloudwatch.log_group_name().trim();
            (!log_group.is_empty()).then(|| CloudWatchDelivery {
                log_group: log_group.to_string(),
                role_arn: cloudwatch.role_arn().to_string(),
                large_data: cloudwatch
                    .large_data_delivery_s3_config()
                    .and_then(S3Location::from_sdk),
            })
        });
        InvocationLogging {
            cloudwatch,
            s3: config.s3_config().and_then(S3Location::from_sdk),
            text_delivery: config.text_data_delivery_enabled().unwrap_or(false),
        }
    }
}

/// Where the client's region delivers model invocation logs; all off when Bedrock answers
/// with no configuration (logging never turned on, or deleted).
pub async fn invocation_logging(client: &Client) -> Result<InvocationLogging, SourceError> {
    let answer = client
        .get_model_invocation_logging_configuration()
        .send()
        .await
        .map_err(|error| SourceError::aws("GetModelInvocationLoggingConfiguration", error))?;
    Ok(answer
        .logging_config()
        .map(InvocationLogging::from)
        .unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::profile_target;

    #[test]
    fn profiles_resolve_to_their_one_foundation_model() {
        let arn = |region: &str, model: &str| {
            format!("arn:aws:bedrock:{region}::foundation-model/{model}")
        };
        let sonnet = "anthropic.claude-sonnet-4-5-20250929-v1:0";
        assert_eq!(
            profile_target(&[arn("us-east-1", sonnet)]),
            Some(sonnet.to_string())
        );
        // A copy of a `us.` profile: one geography, billed at the source region's rate.
        assert_eq!(
            profile_target(&[arn("us-east-1", sonnet), arn("us-west-2", sonnet)]),
            Some(sonnet.to_string())
        );
        // A copy of a `global.` profile.
        assert_eq!(
            profile_target(&[arn("us-east-1", sonnet), arn("eu-west-1", sonnet)]),
            Some(format!("global.{sonnet}"))
        );
        assert_eq!(
            profile_target(&[
                arn("us-east-1", sonnet),
                arn("us-west-2", "amazon.nova-pro-v1:0")
            ]),
            None
        );
        assert_eq!(profile_target(&[]), None);
        assert_eq!(profile_target(&["nonsense".to_string()]), None);
    }
}
