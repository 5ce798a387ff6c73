//! Bedrock's control plane: the model list of a region (to map Price List names to model
//! ids) and application inference profiles (to price calls made through them).

use aws_sdk_bedrock::Client;
use aws_sdk_bedrock::operation::get_inference_profile::GetInferenceProfileError;
use aws_sdk_bedrock::types::InferenceProfileType;

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
