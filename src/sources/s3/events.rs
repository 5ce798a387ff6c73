//! S3 `ObjectCreated` notifications as an SQS queue receives them: straight from S3, wrapped
//! by SNS (`Type: Notification`, the event in `Message`; raw delivery passes the event as
//! is), or from EventBridge (`detail-type: Object Created`). `s3:TestEvent` messages, sent
//! when a notification is configured, name no object.

use serde::Deserialize;
use serde_json::Value;

/// An object a notification announces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRef {
    pub bucket: String,
    /// URL-decoded (S3 encodes keys in notifications: `+` for a space, `%XX`).
    pub key: String,
    pub size: Option<u64>,
    pub etag: Option<String>,
}

/// What one SQS message body says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notification {
    /// Objects created (other event kinds in the message are left out).
    Created(Vec<ObjectRef>),
    /// The test event S3 sends when a notification is set up: nothing to read.
    Test,
}

/// A message body that is not an S3 notification in any known envelope.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an S3 event notification: {0}")]
pub struct BadNotification(pub String);

/// Reads an SQS message body.
pub fn parse(body: &str) -> Result<Notification, BadNotification> {
    let value: Value = serde_json::from_str(body)
        .map_err(|error| BadNotification(format!("not JSON: {error}")))?;
    parse_value(&value, 0)
}

fn parse_value(value: &Value, depth: u8) -> Result<Notification, BadNotification> {
    // SNS: the S3 event is the `Message` string (unless raw delivery is on).
    if value.get("Type").and_then(Value::as_str) == Some("Notification")
        && let Some(message) = value.get("Message").and_then(Value::as_str)
        && depth == 0
    {
        let inner: Value = serde_json::from_str(message)
            .map_err(|error| BadNotification(format!("SNS Message is not JSON: {error}")))?;
        return parse_value(&inner, depth + 1);
    }
    if value.get("Event").and_then(Value::as_str) == Some("s3:TestEvent") {
        return Ok(Notification::Test);
    }
    if let Some(detail_type) = value.get("detail-type").and_then(Value::as_str) {
        return eventbridge(detail_type, value);
    }
    let records = value
        .get("Records")
        .and_then(Value::as_array)
        .ok_or_else(|| BadNotification("no Records, Event or detail-type".into()))?;
    let mut objects = Vec::new();
    for record in records {
        let record: S3Record = serde_json::from_value(record.clone())
            .map_err(|error| BadNotification(format!("a record: {error}")))?;
        if record.event_source != "aws:s3" || !record.event_name.starts_with("ObjectCreated:") {
            continue;
        }
        objects.push(ObjectRef {
            bucket: record.s3.bucket.name,
            key: url_decode(&record.s3.object.key),
            size: record.s3.object.size,
            etag: record.s3.object.e_tag,
        });
    }
    Ok(Notification::Created(objects))
}

/// EventBridge's `Object Created` event: the key is not URL-encoded there.
fn eventbridge(detail_type: &str, value: &Value) -> Result<Notification, BadNotification> {
    if detail_type != "Object Created" {
        return Ok(Notification::Created(Vec::new()));
    }
    let detail = value
        .get("detail")
        .ok_or_else(|| BadNotification("EventBridge event without detail".into()))?;
    let text = |pointer: &str| {
        detail
            .pointer(pointer)
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let bucket = text("/bucket/name")
        .ok_or_else(|| BadNotification("EventBridge event without bucket.name".into()))?;
    let key = text("/object/key")
        .ok_or_else(|| BadNotification("EventBridge event without object.key".into()))?;
    Ok(Notification::Created(vec![ObjectRef {
        bucket,
        key,
        size: detail.pointer("/object/size").and_then(Value::as_u64),
        etag: text("/object/etag"),
    }]))
}

#[derive(Debug, Deserialize)]
struct S3Record {
    #[serde(rename = "eventSource", default)]
    event_source: String,
    #[serde(rename = "eventName", default)]
    event_name: String,
    s3: S3Entity,
}

#[derive(Debug, Deserialize)]
struct S3Entity {
    bucket: S3Bucket,
    object: S3Object,
}

#[derive(Debug, Deserialize)]
struct S3Bucket {
    name: String,
}

#[derive(Debug, Deserialize)]
struct S3Object {
    key: String,
    size: Option<u64>,
    #[serde(rename = "eTag")]
    e_tag: Option<String>,
}

/// S3's notification key encoding: `+` is a space, `%XX` a byte (so `%2B` is a `+`).
fn url_decode(key: &str) -> String {
    let bytes = key.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'+' => out.push(b' '),
            b'%' if index + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[index + 1..index + 3]).ok();
                match hex.and_then(|hex| u8::from_str_radix(hex, 16).ok()) {
                    Some(byte) => {
                        out.push(byte);
                        index += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            byte => out.push(byte),
        }
        index += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn s3_event(key: &str, name: &str) -> Value {
        json!({"Records": [{
            "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
            "eventName": name,
            "s3": {"bucket": {"name": "org-logs", "arn": "arn:aws:s3:::org-logs"},
                   "object": {"key": key, "size": 1234, "eTag": "0123abcd"}}
        }]})
    }

    fn object(key: &str) -> Notification {
        Notification::Created(vec![ObjectRef {
            bucket: "org-logs".into(),
            key: key.into(),
            size: Some(1234),
            etag: Some("0123abcd".into()),
        }])
    }

    #[test]
    fn direct_sns_and_raw_sns_deliveries_give_the_object() {
        let event = s3_event("bedrock/AWSLogs/1/a+b%2Bc.json.gz", "ObjectCreated:Put");
        let expected = object("bedrock/AWSLogs/1/a b+c.json.gz");
        assert_eq!(parse(&event.to_string()).unwrap(), expected);
        let sns = json!({"Type": "Notification", "TopicArn": "arn:aws:sns:us-east-1:1:logs",
                         "Message": event.to_string(), "Timestamp": "2026-12-06T00:00:00Z"});
        assert_eq!(parse(&sns.to_string()).unwrap(), expected);
    }

    #[test]
    fn eventbridge_object_created_gives_the_object() {
        let event = json!({
            "version": "0", "detail-type": "Object Created", "source": "aws.s3",
            "detail": {"bucket": {"name": "org-logs"},
                       "object": {"key": "bedrock/AWSLogs/1/x.json.gz", "size": 1234, "etag": "0123abcd"}}
        });
        assert_eq!(
            parse(&event.to_string()).unwrap(),
            object("bedrock/AWSLogs/1/x.json.gz")
        );
        let deleted = json!({"detail-type": "Object Deleted", "detail": {}});
        assert_eq!(
            parse(&deleted.to_string()).unwrap(),
            Notification::Created(vec![])
        );
    }

    #[test]
    fn test_events_and_other_event_kinds_name_no_object() {
        let test = json!({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "org-logs"});
        assert_eq!(parse(&test.to_string()).unwrap(), Notification::Test);
        let sns_test = json!({"Type": "Notification", "Message": test.to_string()});
        assert_eq!(parse(&sns_test.to_string()).unwrap(), Notification::Test);
        let removed = s3_event("x", "ObjectRemoved:Delete");
        assert_eq!(
            parse(&removed.to_string()).unwrap(),
            Notification::Created(vec![])
        );
    }

    #[test]
    fn other_bodies_are_refused_with_a_reason() {
        for body in ["not json", "{}", "{\"Records\": [{\"s3\": 1}]}"] {
            assert!(parse(body).is_err(), "{body}");
        }
        assert_eq!(url_decode("100%"), "100%");
        assert_eq!(url_decode("%zz"), "%zz");
    }
}
