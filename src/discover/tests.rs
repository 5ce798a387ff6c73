use std::collections::HashMap;

use super::*;
use crate::config::Config;
use crate::sources::bedrock::CloudWatchDelivery;

const ACCOUNT: &str = "111122223333";

fn cloudwatch(group: &str) -> CloudWatchDelivery {
    CloudWatchDelivery {
        log_group: group.into(),
        role_arn: format!("arn:aws:iam::{ACCOUNT}:role/bedrock-logging"),
        large_data: None,
    }
}

fn bucket(name: &str, prefix: Option<&str>) -> S3Location {
    S3Location {
        bucket: name.into(),
        key_prefix: prefix.map(str::to_string),
    }
}

fn answers(account: Option<&str>, regions: Vec<(&str, InvocationLogging)>) -> Answers {
    Answers {
        account: account.map(str::to_string).ok_or(SourceError::Aws {
            operation: "GetCallerIdentity",
            message: "ExpiredToken: gone".into(),
        }),
        regions: regions
            .into_iter()
            .map(|(region, logging)| (region.to_string(), Ok(logging)))
            .collect(),
    }
}

fn plan_one(account: Option<&str>, logging: InvocationLogging) -> RegionPlan {
    let mut plans = plan(
        &answers(account, vec![("us-east-1", logging)]),
        &Access::default(),
    );
    assert_eq!(plans.len(), 1);
    plans.remove(0)
}

/// The entry's TOML, parsed back.
fn parsed(plan: &RegionPlan) -> toml::Table {
    let text = plan.to_toml();
    let table: toml::Table = text.parse().unwrap_or_else(|e| panic!("{e}\n{text}"));
    let sources = table["sources"].as_array().expect("one [[sources]]");
    assert_eq!(sources.len(), 1, "{text}");
    sources[0].as_table().unwrap().clone()
}

#[test]
fn logging_off_warns_and_adds_no_source() {
    let plan = plan_one(Some(ACCOUNT), InvocationLogging::default());
    assert_eq!(plan.entry, None);
    assert!(!plan.failed);
    assert_eq!(plan.warnings.len(), 1);
    assert!(plan.warnings[0].contains("logging is off"), "{plan:?}");
    assert!(plan.to_toml().lines().all(|line| line.starts_with('#')));
}

#[test]
fn cloudwatch_only_reads_the_group_metrics_and_quotas() {
    let plan = plan_one(
        Some(ACCOUNT),
        InvocationLogging {
            cloudwatch: Some(cloudwatch("/aws/bedrock/invocations")),
            s3: None,
            text_delivery: true,
        },
    );
    assert!(plan.warnings.is_empty(), "{plan:?}");
    assert!(plan.notes.is_empty());
    assert!(plan.finding.contains("drop bodies over 100 KB"), "{plan:?}");
    let source = parsed(&plan);
    assert_eq!(source["name"].as_str(), Some("111122223333-us-east-1"));
    assert_eq!(source["region"].as_str(), Some("us-east-1"));
    assert_eq!(source["account_id"].as_str(), Some(ACCOUNT));
    assert_eq!(
        source["log_group"].as_str(),
        Some("/aws/bedrock/invocations")
    );
    assert_eq!(source["metrics"].as_bool(), Some(true));
    assert_eq!(source["quotas"].as_bool(), Some(true));
    for absent in ["s3_uri", "accounts", "regions", "endpoint_url", "role_arn"] {
        assert!(!source.contains_key(absent), "{absent}");
    }
}

#[test]
fn s3_only_reads_its_own_account_and_region_of_the_bucket() {
    let plan = plan_one(
        Some(ACCOUNT),
        InvocationLogging {
            cloudwatch: None,
            s3: Some(bucket("org-bedrock-logs", Some("bedrock"))),
            text_delivery: true,
        },
    );
    assert!(plan.warnings.is_empty(), "{plan:?}");
    let source = parsed(&plan);
    assert_eq!(
        source["s3_uri"].as_str(),
        Some("s3://org-bedrock-logs/bedrock/")
    );
    assert_eq!(source["accounts"], toml::Value::Array(vec![ACCOUNT.into()]));
    assert_eq!(
        source["regions"],
        toml::Value::Array(vec!["us-east-1".into()])
    );
    assert!(!source.contains_key("log_group"));

    let no_prefix = plan_one(
        Some(ACCOUNT),
        InvocationLogging {
            cloudwatch: None,
            s3: Some(bucket("org-bedrock-logs", None)),
            text_delivery: true,
        },
    );
    assert_eq!(
        parsed(&no_prefix)["s3_uri"].as_str(),
        Some("s3://org-bedrock-logs/")
    );
}

#[test]
fn both_ways_is_one_source_reading_both_with_why() {
    let plan = plan_one(
        Some(ACCOUNT),
        InvocationLogging {
            cloudwatch: Some(CloudWatchDelivery {
                large_data: Some(bucket("big-bodies", Some("cw/"))),
                ..cloudwatch("g")
            }),
            s3: Some(bucket("logs", Some("b/"))),
            text_delivery: true,
        },
    );
    assert!(
        plan.finding
            .contains("bodies over 100 KB to s3://big-bodies/cw/")
    );
    assert_eq!(plan.notes.len(), 1);
    assert!(plan.notes[0].contains("stored once"), "{plan:?}");
    let source = parsed(&plan);
    assert_eq!(source["log_group"].as_str(), Some("g"));
    assert_eq!(source["s3_uri"].as_str(), Some("s3://logs/b/"));
}

#[test]
fn text_delivery_off_warns_that_tiers_are_missing() {
    let plan = plan_one(
        Some(ACCOUNT),
        InvocationLogging {
            cloudwatch: Some(cloudwatch("g")),
            s3: None,
            text_delivery: false,
        },
    );
    assert!(plan.entry.is_some());
    assert_eq!(plan.warnings.len(), 1);
    assert!(plan.warnings[0].contains("text delivery is off"));
    assert!(plan.to_toml().contains("# WARNING: text delivery is off"));
}

#[test]
fn without_sts_the_account_comes_from_the_logging_role() {
    let plan = plan_one(
        None,
        InvocationLogging {
            cloudwatch: Some(cloudwatch("g")),
            s3: None,
            text_delivery: true,
        },
    );
    assert!(plan.warnings.is_empty(), "{plan:?}");
    assert_eq!(parsed(&plan)["account_id"].as_str(), Some(ACCOUNT));

    // S3 delivery names no role: metrics and quotas are off, and the bucket is read for every
    // account in it.
    let plan = plan_one(
        None,
        InvocationLogging {
            cloudwatch: None,
            s3: Some(bucket("logs", None)),
            text_delivery: true,
        },
    );
    assert_eq!(plan.warnings.len(), 1);
    assert!(plan.warnings[0].contains("ExpiredToken"), "{plan:?}");
    let source = parsed(&plan);
    assert_eq!(source["name"].as_str(), Some("us-east-1"));
    assert!(!source.contains_key("account_id"));
    assert!(!source.contains_key("accounts"));
    assert_eq!(source["metrics"].as_bool(), Some(false));
    assert_eq!(source["quotas"].as_bool(), Some(false));
}

#[test]
fn a_bucket_tierwatch_cannot_name_is_left_out_with_a_warning() {
    let plan = plan_one(
        Some(ACCOUNT),
        InvocationLogging {
            cloudwatch: Some(cloudwatch("g")),
            s3: Some(bucket("Legacy_Bucket", None)),
            text_delivery: true,
        },
    );
    assert!(plan.warnings[0].contains("Legacy_Bucket"), "{plan:?}");
    let source = parsed(&plan);
    assert!(!source.contains_key("s3_uri"));
    assert_eq!(source["log_group"].as_str(), Some("g"));

    // With nothing else to read there is no entry.
    let plan = plan_one(
        Some(ACCOUNT),
        InvocationLogging {
            cloudwatch: None,
            s3: Some(bucket("Legacy_Bucket", None)),
            text_delivery: true,
        },
    );
    assert_eq!(plan.entry, None);
}

#[test]
fn access_and_odd_names_are_written_as_valid_toml() {
    let access = Access {
        endpoint_url: Some("http://127.0.0.1:4566".into()),
        role_arn: Some(format!("arn:aws:iam::{ACCOUNT}:role/tierwatch-read")),
        external_id: Some("ext \"id\"".into()),
    };
    let group = "/bedrock/\"quoted\" \\ group";
    let plans = plan(
        &answers(
            Some(ACCOUNT),
            vec![(
                "eu-west-1",
                InvocationLogging {
                    cloudwatch: Some(cloudwatch(group)),
                    s3: None,
                    text_delivery: true,
                },
            )],
        ),
        &access,
    );
    let source = parsed(&plans[0]);
    assert_eq!(source["log_group"].as_str(), Some(group));
    assert_eq!(source["external_id"].as_str(), Some("ext \"id\""));
    assert_eq!(
        source["endpoint_url"].as_str(),
        Some("http://127.0.0.1:4566")
    );
    assert_eq!(
        source["role_arn"].as_str(),
        access.role_arn.as_deref(),
        "{source:?}"
    );
}

#[test]
fn a_cloudwatch_entry_passes_the_config_parser() {
    let plan = plan_one(
        Some(ACCOUNT),
        InvocationLogging {
            cloudwatch: Some(cloudwatch("/aws/bedrock/invocations")),
            s3: None,
            text_delivery: false,
        },
    );
    let config = Config::from_toml(&plan.to_toml(), None, &HashMap::new())
        .unwrap_or_else(|errors| panic!("{errors}\n{}", plan.to_toml()));
    assert_eq!(config.sources.len(), 1);
    let source = &config.sources[0];
    assert_eq!(
        source.log_group.as_deref(),
        Some("/aws/bedrock/invocations")
    );
    assert!(source.metrics && source.quotas);
}

#[test]
fn a_region_that_cannot_be_asked_is_reported_with_the_permission() {
    let answers = Answers {
        account: Ok(ACCOUNT.into()),
        regions: vec![(
            "eu-west-3".into(),
            Err(SourceError::Aws {
                operation: "GetModelInvocationLoggingConfiguration",
                message: "AccessDeniedException: not allowed".into(),
            }),
        )],
    };
    let plans = plan(&answers, &Access::default());
    assert!(plans[0].failed);
    assert_eq!(plans[0].entry, None);
    assert!(
        plans[0]
            .finding
            .contains("needs bedrock:GetModelInvocationLoggingConfiguration"),
        "{:?}",
        plans[0]
    );
}

#[test]
fn an_entry_is_already_configured_by_name_or_by_group() {
    let plan = plan_one(
        Some(ACCOUNT),
        InvocationLogging {
            cloudwatch: Some(cloudwatch("g")),
            s3: None,
            text_delivery: true,
        },
    );
    let entry = plan.entry.unwrap();
    let configured = |text: &str| {
        Config::from_toml(text, None, &HashMap::new())
            .unwrap_or_else(|errors| panic!("{errors}"))
            .sources
    };
    let by_name = configured(
        "[[sources]]\nname = \"111122223333-us-east-1\"\nregion = \"us-west-2\"\nlog_group = \"other\"\nmetrics = false\nquotas = false\n",
    );
    assert!(already_configured(&entry, &by_name).is_some());
    let by_group = configured(
        "[[sources]]\nname = \"prod\"\nregion = \"us-east-1\"\nlog_group = \"g\"\nmetrics = false\nquotas = false\n",
    );
    assert_eq!(
        already_configured(&entry, &by_group).map(|source| source.name.as_str()),
        Some("prod")
    );
    let elsewhere = configured(
        "[[sources]]\nname = \"prod\"\nregion = \"us-west-2\"\nlog_group = \"g\"\nmetrics = false\nquotas = false\n",
    );
    assert!(already_configured(&entry, &elsewhere).is_none());
}

#[test]
fn comments_wrap_and_keep_every_word() {
    let text = "word ".repeat(60);
    let wrapped = comment(&text);
    assert!(wrapped.lines().count() > 1);
    assert!(
        wrapped
            .lines()
            .all(|line| line.starts_with("# ") && line.len() <= 96)
    );
    assert_eq!(wrapped.matches("word").count(), 60);
    assert_eq!(
        account_of_arn("arn:aws:iam::111122223333:role/x"),
        Some(ACCOUNT.into())
    );
    assert_eq!(account_of_arn("arn:aws:iam::aws:role/x"), None);
    assert_eq!(account_of_arn("nonsense"), None);
}
