//! Discovery: where Bedrock delivers each region's model invocation logs, turned into the
//! `[[sources]]` entries that poll them, with a warning wherever the logs cannot show costs
//! (logging off) or tiers (text delivery off).
//!
//! [`ask`] makes the AWS calls: GetModelInvocationLoggingConfiguration per region and one STS
//! GetCallerIdentity for the account (CloudWatch metrics and quotas don't name theirs, so a
//! source that reads them needs `account_id`). [`plan`] turns the answers into entries and
//! [`RegionPlan::to_toml`] writes them out; both are pure, so every case is unit-tested.
//!
//! A region delivering both to CloudWatch Logs and to S3 gets one source reading both ways:
//! CloudWatch Logs is read within a minute, S3 holds a second copy of every record, and the
//! store keeps each invocation once (by request id), so a record either delivery missed is
//! still counted and none is counted twice.

use crate::config::SourceConfig;
use crate::sources::bedrock::{self, InvocationLogging, S3Location};
use crate::sources::s3::keys::S3Uri;
use crate::sources::{AwsTarget, SourceError, sts, target_config};

/// How discovery reaches AWS. Every entry repeats it, so the daemon calls AWS the same way.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Access {
    /// Override of the AWS endpoints (a local stand-in).
    pub endpoint_url: Option<String>,
    /// A role to assume from the standard credential chain's identity.
    pub role_arn: Option<String>,
    pub external_id: Option<String>,
}

impl Access {
    fn target<'a>(&'a self, region: &'a str) -> AwsTarget<'a> {
        AwsTarget {
            region,
            endpoint_url: self.endpoint_url.as_deref(),
            role_arn: self.role_arn.as_deref(),
            external_id: self.external_id.as_deref(),
        }
    }
}

/// What AWS answered.
#[derive(Debug)]
pub struct Answers {
    /// The caller's account (STS), or why it is unknown.
    pub account: Result<String, SourceError>,
    /// Each region's logging configuration, in the order asked.
    pub regions: Vec<(String, Result<InvocationLogging, SourceError>)>,
}

/// Asks STS for the account (through the first region) and Bedrock for each region's
/// logging configuration, one region after the other.
pub async fn ask(regions: &[String], access: &Access, max_attempts: u32) -> Answers {
    let mut answers = Answers {
        account: Err(SourceError::Aws {
            operation: "GetCallerIdentity",
            message: "no region to ask".into(),
        }),
        regions: Vec::with_capacity(regions.len()),
    };
    for (index, region) in regions.iter().enumerate() {
        let config = target_config(access.target(region), max_attempts).await;
        if index == 0 {
            answers.account = sts::caller_account(&config).await;
        }
        let client = aws_sdk_bedrock::Client::new(&config);
        let logging = bedrock::invocation_logging(&client).await;
        answers.regions.push((region.clone(), logging));
    }
    answers
}

/// One `[[sources]]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceEntry {
    pub name: String,
    pub region: String,
    /// `None` when no account could be found: metrics and quotas are then off.
    pub account_id: Option<String>,
    pub log_group: Option<String>,
    /// The S3 delivery, read for this account and region only.
    pub s3_uri: Option<S3Uri>,
    pub access: Access,
}

impl SourceEntry {
    /// CloudWatch metrics and Service Quotas need the account.
    pub fn reads_metrics_and_quotas(&self) -> bool {
        self.account_id.is_some()
    }

    /// The entry as TOML, keys in the order of `config/tierwatch.example.toml`.
    pub fn to_toml(&self) -> String {
        let mut lines = vec![
            "[[sources]]".to_string(),
            key_value("name", &self.name),
            key_value("region", &self.region),
        ];
        if let Some(account) = &self.account_id {
            lines.push(key_value("account_id", account));
        }
        if let Some(group) = &self.log_group {
            lines.push(key_value("log_group", group));
        }
        if let Some(uri) = &self.s3_uri {
            lines.push(key_value("s3_uri", &uri.to_string()));
            // A bucket may collect the deliveries of several accounts and regions: this
            // source reads its own, and the other regions' sources theirs.
            if let Some(account) = &self.account_id {
                lines.push(format!("accounts = [{}]", quoted(account)));
            }
            lines.push(format!("regions = [{}]", quoted(&self.region)));
        }
        let optional = [
            ("role_arn", &self.access.role_arn),
            ("external_id", &self.access.external_id),
            ("endpoint_url", &self.access.endpoint_url),
        ];
        for (key, value) in optional {
            if let Some(value) = value {
                lines.push(key_value(key, value));
            }
        }
        let on = self.reads_metrics_and_quotas();
        lines.push(format!("metrics = {on}"));
        lines.push(format!("quotas = {on}"));
        lines.join("\n") + "\n"
    }
}

/// One region's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegionPlan {
    pub region: String,
    /// Where the logs go, in words; or why the region could not be asked.
    pub finding: String,
    /// Explanations written above the entry.
    pub notes: Vec<String>,
    /// What keeps the logs from showing costs or tiers.
    pub warnings: Vec<String>,
    /// `None` when logging is off or the region could not be asked.
    pub entry: Option<SourceEntry>,
    /// The region could not be asked.
    pub failed: bool,
}

impl RegionPlan {
    /// The region as commented TOML: what was found, the notes and warnings, and the entry.
    pub fn to_toml(&self) -> String {
        let mut text = comment(&format!("{}: {}", self.region, self.finding));
        for note in &self.notes {
            text.push_str(&comment(note));
        }
        for warning in &self.warnings {
            text.push_str(&comment(&format!("WARNING: {warning}")));
        }
        if let Some(entry) = &self.entry {
            text.push_str(&entry.to_toml());
        }
        text
    }
}

/// Every region's plan, in the order asked.
pub fn plan(answers: &Answers, access: &Access) -> Vec<RegionPlan> {
    answers
        .regions
        .iter()
        .map(|(region, logging)| match logging {
            Ok(logging) => plan_region(region, logging, &answers.account, access),
            Err(error) => RegionPlan {
                region: region.clone(),
                finding: format!("not asked: {error}{}", permission_hint(error)),
                notes: Vec::new(),
                warnings: Vec::new(),
                entry: None,
                failed: true,
            },
        })
        .collect()
}

fn permission_hint(error: &SourceError) -> &'static str {
    if error.to_string().contains("AccessDenied") {
        " (needs bedrock:GetModelInvocationLoggingConfiguration)"
    } else {
        ""
    }
}

const TEXT_DELIVERY_OFF: &str = "text delivery is off: the logs carry token counts but not \
    the request and response bodies, and with them the service tier; every call counts as \
    Standard (assumed) unless callers put the tier in requestMetadata. Turn on text data \
    delivery in the region's logging settings.";

const BOTH_WAYS: &str = "Bedrock delivers each call both ways, and this source reads both: \
    CloudWatch Logs within a minute, S3 as a second copy of anything the other way missed; each \
    call is stored once (by request id). To read one way only, delete log_group, or s3_uri \
    with accounts and regions.";

fn logging_off(region: &str) -> String {
    format!(
        "model invocation logging is off: Bedrock keeps no record of the calls, so no costs \
         can be seen in {region}. Turn it on (Bedrock console, Settings, Model invocation \
         logging; or aws bedrock put-model-invocation-logging-configuration --region \
         {region}) with text delivery, then run discover again."
    )
}

fn plan_region(
    region: &str,
    logging: &InvocationLogging,
    caller_account: &Result<String, SourceError>,
    access: &Access,
) -> RegionPlan {
    let mut plan = RegionPlan {
        region: region.to_string(),
        finding: describe(logging),
        notes: Vec::new(),
        warnings: Vec::new(),
        entry: None,
        failed: false,
    };
    if logging.is_off() {
        plan.warnings.push(logging_off(region));
        return plan;
    }
    if !logging.text_delivery {
        plan.warnings.push(TEXT_DELIVERY_OFF.into());
    }
    let account = account(logging, caller_account, &mut plan.warnings);
    let s3_uri = logging
        .s3
        .as_ref()
        .and_then(|s3| s3_uri(s3).map_err(|why| plan.warnings.push(why)).ok());
    let log_group = logging
        .cloudwatch
        .as_ref()
        .map(|cloudwatch| cloudwatch.log_group.clone());
    match (&log_group, &s3_uri) {
        (None, None) => return plan,
        (Some(_), Some(_)) => plan.notes.push(BOTH_WAYS.into()),
        _ => {}
    }
    let name = match &account {
        Some(account) => format!("{account}-{region}"),
        None => region.to_string(),
    };
    plan.entry = Some(SourceEntry {
        name,
        region: region.to_string(),
        account_id: account,
        log_group,
        s3_uri,
        access: access.clone(),
    });
    plan
}

/// The account of the source: the caller's; else that of the role Bedrock writes to
/// CloudWatch Logs as, which is the logging account's own (a service can only be passed a
/// role of its account); else none, with a warning.
fn account(
    logging: &InvocationLogging,
    caller_account: &Result<String, SourceError>,
    warnings: &mut Vec<String>,
) -> Option<String> {
    let why = match caller_account {
        Ok(account) => return Some(account.clone()),
        Err(why) => why,
    };
    let from_role = logging
        .cloudwatch
        .as_ref()
        .and_then(|cloudwatch| account_of_arn(&cloudwatch.role_arn));
    if from_role.is_none() {
        warnings.push(format!(
            "the account is unknown ({why}), so this source reads no CloudWatch metrics and \
             no quotas: set account_id and turn metrics and quotas on to read them."
        ));
    }
    from_role
}

/// "invocation logs go to CloudWatch Logs group "/g" and to s3://b/p/ (text delivery on;
/// bodies over 100 KB to s3://big/)".
fn describe(logging: &InvocationLogging) -> String {
    if logging.is_off() {
        return "model invocation logging is off; no source".into();
    }
    let mut places = Vec::new();
    if let Some(cloudwatch) = &logging.cloudwatch {
        places.push(format!(
            "CloudWatch Logs group {}",
            quoted(&cloudwatch.log_group)
        ));
    }
    if let Some(s3) = &logging.s3 {
        places.push(location(s3));
    }
    let mut details = vec![format!(
        "text delivery {}",
        if logging.text_delivery { "on" } else { "off" }
    )];
    if let Some(cloudwatch) = &logging.cloudwatch {
        details.push(match &cloudwatch.large_data {
            Some(large) => format!("CloudWatch bodies over 100 KB to {}", location(large)),
            None => "no large-data bucket: CloudWatch records drop bodies over 100 KB".into(),
        });
    }
    format!(
        "invocation logs go to {} ({})",
        places.join(" and to "),
        details.join("; ")
    )
}

fn location(s3: &S3Location) -> String {
    format!(
        "s3://{}/{}",
        s3.bucket,
        s3.key_prefix.as_deref().unwrap_or_default()
    )
}

/// The `s3_uri` of a delivery, or a warning why its bucket cannot be read.
fn s3_uri(s3: &S3Location) -> Result<S3Uri, String> {
    S3Uri::parse(&location(s3)).map_err(|error| {
        format!(
            "the S3 delivery is left out: {error} (tierwatch reads buckets with DNS-compatible \
             names only)"
        )
    })
}

/// The account of an ARN (`arn:aws:iam::111122223333:role/name`).
fn account_of_arn(arn: &str) -> Option<String> {
    let account = arn.split(':').nth(4)?;
    (account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit())).then(|| account.into())
}

/// The configured source `entry` would duplicate: one of the same name, or reading the same
/// log group in the same region (and account, when both name one).
pub fn already_configured<'a>(
    entry: &SourceEntry,
    sources: &'a [SourceConfig],
) -> Option<&'a SourceConfig> {
    sources.iter().find(|source| {
        let same_group = entry.log_group.is_some()
            && source.log_group == entry.log_group
            && source.region == entry.region
            && (source.account_id.is_none()
                || entry.account_id.is_none()
                || source.account_id == entry.account_id);
        source.name == entry.name || same_group
    })
}

/// `key = "value"`, the value quoted and escaped as TOML.
fn key_value(key: &str, value: &str) -> String {
    format!("{key} = {}", quoted(value))
}

fn quoted(value: &str) -> String {
    toml::Value::String(value.to_string()).to_string()
}

/// Comment lines of at most about 96 characters.
pub fn comment(text: &str) -> String {
    const WIDTH: usize = 96;
    let mut out = String::new();
    let mut line = String::from("#");
    for word in text.split_whitespace() {
        if line.len() > 1 && line.len() + 1 + word.len() > WIDTH {
            out.push_str(&line);
            out.push('\n');
            line = String::from("#");
        }
        line.push(' ');
        line.push_str(word);
    }
    out.push_str(&line);
    out.push('\n');
    out
}

#[cfg(test)]
mod tests;
