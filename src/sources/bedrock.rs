//! Bedrock's control plane: the model list of a region (to map Price List names to model
//! ids) and application inference profiles (to price calls made through them).

use aws_sdk_bedrock::Client;
use aws_sdk_bedrock::operation::get_inference_profile::GetInferenceProfileError;

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
