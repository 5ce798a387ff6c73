//! STS: the account the configured credentials (or the role assumed) belong to.

use aws_config::SdkConfig;

use super::SourceError;

/// The caller's account (GetCallerIdentity, which needs no permission).
pub async fn caller_account(config: &SdkConfig) -> Result<String, SourceError> {
    let answer = aws_sdk_sts::Client::new(config)
        .get_caller_identity()
        .send()
        .await
        .map_err(|error| SourceError::aws("GetCallerIdentity", error))?;
    answer
        .account()
        .filter(|account| !account.is_empty())
        .map(str::to_string)
        .ok_or_else(|| SourceError::Aws {
            operation: "GetCallerIdentity",
            message: "the answer names no account".into(),
        })
}
