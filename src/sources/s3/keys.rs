//! S3 locations of invocation-log deliveries.

use std::fmt;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};

/// The folder Bedrock was given: `s3://bucket/prefix/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Uri {
    pub bucket: String,
    /// Empty, or ending with `/`.
    pub prefix: String,
}

/// Why a text is not an `s3://bucket/prefix/` URI.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an S3 URI such as s3://my-bucket/bedrock-logs/")]
pub struct BadS3Uri(pub String);

impl S3Uri {
    pub fn parse(text: &str) -> Result<S3Uri, BadS3Uri> {
        let bad = || BadS3Uri(text.to_string());
        let rest = text.trim().strip_prefix("s3://").ok_or_else(bad)?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let valid_bucket = (3..=63).contains(&bucket.len())
            && bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
        if !valid_bucket {
            return Err(bad());
        }
        let prefix = if prefix.is_empty() || prefix.ends_with('/') {
            prefix.to_string()
        } else {
            format!("{prefix}/")
        };
        Ok(S3Uri {
            bucket: bucket.to_string(),
            prefix,
        })
    }

    /// `{prefix}AWSLogs/`: where the accounts' folders are.
    pub fn accounts_prefix(&self) -> String {
        format!("{}AWSLogs/", self.prefix)
    }

    /// `{prefix}AWSLogs/{account}/BedrockModelInvocationLogs/`: where its regions are.
    pub fn regions_prefix(&self, account: &str) -> String {
        format!(
            "{}AWSLogs/{account}/BedrockModelInvocationLogs/",
            self.prefix
        )
    }

    /// The deliveries of one account and region.
    pub fn delivery_prefix(&self, account: &str, region: &str) -> String {
        format!("{}{region}/", self.regions_prefix(account))
    }

    /// The key listing should start after to read deliveries from `from` on: the hour folder
    /// before `from`'s (keys of an hour sort after their folder's name).
    pub fn start_after(&self, account: &str, region: &str, from: DateTime<Utc>) -> String {
        format!(
            "{}{}",
            self.delivery_prefix(account, region),
            from.format("%Y/%m/%d/%H/")
        )
    }
}

impl fmt::Display for S3Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.prefix)
    }
}

/// What a key under the prefix holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyKind {
    /// A batch of records of one account and region, delivered in the hour starting then.
    Delivery {
        account: String,
        region: String,
        hour: DateTime<Utc>,
    },
    /// Not records: skipped, with why.
    Skip(KeySkip),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySkip {
    /// A request or response body, or media, offloaded under `…/HH/data/`.
    BodyObject,
    /// Bedrock's `amazon-bedrock-logs-permission-check` marker.
    PermissionCheck,
    /// Outside the `AWSLogs/{account}/BedrockModelInvocationLogs/{region}/YYYY/MM/DD/HH/`
    /// layout.
    NotADelivery,
}

impl KeySkip {
    pub fn as_str(self) -> &'static str {
        match self {
            KeySkip::BodyObject => "body_object",
            KeySkip::PermissionCheck => "permission_check",
            KeySkip::NotADelivery => "not_a_delivery",
        }
    }
}

/// The marker object Bedrock writes when logging is configured.
const PERMISSION_CHECK: &str = "amazon-bedrock-logs-permission-check";

/// Reads a key found under `uri`'s prefix.
pub fn classify(uri: &S3Uri, key: &str) -> KeyKind {
    let name = key.rsplit('/').next().unwrap_or(key);
    if name.starts_with(PERMISSION_CHECK) {
        return KeyKind::Skip(KeySkip::PermissionCheck);
    }
    let Some(rest) = key.strip_prefix(&uri.accounts_prefix()) else {
        return KeyKind::Skip(KeySkip::NotADelivery);
    };
    let parts: Vec<&str> = rest.split('/').collect();
    // account, BedrockModelInvocationLogs, region, YYYY, MM, DD, HH, name (or data/…).
    let [account, service, region, year, month, day, hour, tail @ ..] = parts.as_slice() else {
        return KeyKind::Skip(KeySkip::NotADelivery);
    };
    if *service != "BedrockModelInvocationLogs" || account.is_empty() || region.is_empty() {
        return KeyKind::Skip(KeySkip::NotADelivery);
    }
    let hour_start = hour_of(year, month, day, hour);
    match (hour_start, tail) {
        (Some(_), [first, ..]) if *first == "data" => KeyKind::Skip(KeySkip::BodyObject),
        (Some(hour), [name]) if !name.is_empty() => KeyKind::Delivery {
            account: (*account).to_string(),
            region: (*region).to_string(),
            hour,
        },
        _ => KeyKind::Skip(KeySkip::NotADelivery),
    }
}

/// The time a listing position (a delivery key, or the hour folder a listing starts after)
/// stands for: the delivery time in the object's name (`20241120T164851056Z_….json.gz`) when
/// it has one, else the start of its hour folder.
pub fn position_time(uri: &S3Uri, key: &str) -> Option<DateTime<Utc>> {
    let rest = key.strip_prefix(&uri.accounts_prefix())?;
    let parts: Vec<&str> = rest.split('/').collect();
    let [_, _, _, year, month, day, hour, tail @ ..] = parts.as_slice() else {
        return None;
    };
    let hour_start = hour_of(year, month, day, hour)?;
    let named = tail
        .first()
        .and_then(|name| name.get(..19))
        .and_then(|stamp| chrono::NaiveDateTime::parse_from_str(stamp, "%Y%m%dT%H%M%S%3fZ").ok())
        .map(|time| Utc.from_utc_datetime(&time));
    Some(named.unwrap_or(hour_start))
}

fn hour_of(year: &str, month: &str, day: &str, hour: &str) -> Option<DateTime<Utc>> {
    let number = |text: &str, digits: usize| {
        (text.len() == digits && text.bytes().all(|b| b.is_ascii_digit()))
            .then(|| text.parse::<u32>().ok())
            .flatten()
    };
    let date = NaiveDate::from_ymd_opt(
        i32::try_from(number(year, 4)?).ok()?,
        number(month, 2)?,
        number(day, 2)?,
    )?;
    let hour = number(hour, 2).filter(|hour| *hour < 24)?;
    Some(Utc.from_utc_datetime(&date.and_hms_opt(hour, 0, 0)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri() -> S3Uri {
        S3Uri::parse("s3://org-logs/bedrock").unwrap()
    }

    #[test]
    fn uris_name_a_bucket_and_a_folder() {
        assert_eq!(
            uri(),
            S3Uri {
                bucket: "org-logs".into(),
                prefix: "bedrock/".into()
            }
        );
        assert_eq!(S3Uri::parse("s3://org-logs").unwrap().prefix, "");
        assert_eq!(S3Uri::parse("s3://org-logs/").unwrap().prefix, "");
        assert_eq!(uri().to_string(), "s3://org-logs/bedrock/");
        for bad in [
            "org-logs/x",
            "s3://",
            "s3://UPPER/x",
            "https://org-logs/x",
            "s3://a/",
        ] {
            assert!(S3Uri::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn keys_of_deliveries_bodies_and_markers_are_told_apart() {
        let base =
            "bedrock/AWSLogs/111122223333/BedrockModelInvocationLogs/us-east-1/2024/11/20/16";
        let delivery = classify(
            &uri(),
            &format!("{base}/20241120T164851056Z_9b86bf4994c4ab1c.json.gz"),
        );
        assert_eq!(
            delivery,
            KeyKind::Delivery {
                account: "111122223333".into(),
                region: "us-east-1".into(),
                hour: Utc.with_ymd_and_hms(2024, 11, 20, 16, 0, 0).unwrap(),
            }
        );
        for (key, skip) in [
            (format!("{base}/data/ff4b6c63-5561-4431-93b8-06a817275900_input.json.gz"), KeySkip::BodyObject),
            (format!("{base}/data/ff4b6c63-5561-4431-93b8-06a817275900_input_media_00.pdf"), KeySkip::BodyObject),
            ("bedrock/AWSLogs/111122223333/BedrockModelInvocationLogs/amazon-bedrock-logs-permission-check".into(), KeySkip::PermissionCheck),
            ("bedrock/amazon-bedrock-logs-permission-check.json".into(), KeySkip::PermissionCheck),
            ("bedrock/AWSLogs/111122223333/CloudTrail/us-east-1/2024/11/20/x.json.gz".into(), KeySkip::NotADelivery),
            (base.to_string(), KeySkip::NotADelivery),
            ("bedrock/AWSLogs/111122223333/BedrockModelInvocationLogs/us-east-1/2024/13/20/16/x.json.gz".into(), KeySkip::NotADelivery),
            ("other/AWSLogs/111122223333/BedrockModelInvocationLogs/us-east-1/2024/11/20/16/x.json.gz".into(), KeySkip::NotADelivery),
        ] {
            assert_eq!(classify(&uri(), &key), KeyKind::Skip(skip), "{key}");
        }
    }

    #[test]
    fn positions_stand_for_the_delivery_time_or_the_hour() {
        let base =
            "bedrock/AWSLogs/111122223333/BedrockModelInvocationLogs/us-east-1/2024/11/20/16/";
        assert_eq!(
            position_time(
                &uri(),
                &format!("{base}20241120T164851056Z_9b86bf4994c4ab1c.json.gz")
            ),
            Some(
                Utc.with_ymd_and_hms(2024, 11, 20, 16, 48, 51).unwrap()
                    + chrono::Duration::milliseconds(56)
            )
        );
        let hour = Some(Utc.with_ymd_and_hms(2024, 11, 20, 16, 0, 0).unwrap());
        assert_eq!(position_time(&uri(), base), hour);
        assert_eq!(
            position_time(&uri(), &format!("{base}odd-name.json.gz")),
            hour
        );
        assert_eq!(position_time(&uri(), "bedrock/AWSLogs/111122223333/"), None);
    }

    #[test]
    fn listing_starts_at_an_hour_folder() {
        let from = Utc.with_ymd_and_hms(2026, 12, 6, 9, 30, 0).unwrap();
        let start = uri().start_after("111122223333", "eu-west-1", from);
        assert_eq!(
            start,
            "bedrock/AWSLogs/111122223333/BedrockModelInvocationLogs/eu-west-1/2026/12/06/09/"
        );
        // Every delivery of that hour sorts after it, every earlier one before.
        let same_hour = format!("{start}20261206T093000000Z_ab.json.gz");
        assert!(same_hour.as_str() > start.as_str());
        let earlier = "bedrock/AWSLogs/111122223333/BedrockModelInvocationLogs/eu-west-1/2026/12/06/08/20261206T085959000Z_ab.json.gz";
        assert!(earlier < start.as_str());
    }
}
