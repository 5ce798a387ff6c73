//! Listing S3 deliveries against moto's S3: the accounts and regions of a central bucket, and
//! the delivery objects of one after a key, with bodies and markers counted apart.

use aws_sdk_s3::primitives::ByteStream;
use tierwatch::sources::s3::keys::S3Uri;
use tierwatch::sources::s3::listing::{accounts_and_regions, client, deliveries};

use crate::aws::StandIns;

const BUCKET: &str = "org-bedrock-logs";

async fn put(client: &aws_sdk_s3::Client, key: &str) {
    client
        .put_object()
        .bucket(BUCKET)
        .key(key)
        .body(ByteStream::from_static(b"{}"))
        .send()
        .await
        .unwrap_or_else(|error| panic!("PutObject {key}: {error:?}"));
}

#[tokio::test]
async fn a_central_bucket_lists_its_accounts_regions_and_deliveries() {
    let standins = StandIns::start().await;
    let s3 = client(&standins.moto_sdk_config().await, true);
    s3.create_bucket().bucket(BUCKET).send().await.unwrap();
    let uri = S3Uri::parse(&format!("s3://{BUCKET}/bedrock")).unwrap();
    let hour = |account: &str, region: &str, day: u32, hour: u32| {
        format!(
            "bedrock/AWSLogs/{account}/BedrockModelInvocationLogs/{region}/2026/11/{day:02}/{hour:02}"
        )
    };
    for account in ["111122223333", "444455556666"] {
        for region in ["us-east-1", "eu-west-1"] {
            for (day, h) in [(1, 9), (1, 23), (2, 0)] {
                let folder = hour(account, region, day, h);
                put(
                    &s3,
                    &format!("{folder}/202611{day:02}T{h:02}0000000Z_aa11.json.gz"),
                )
                .await;
                put(
                    &s3,
                    &format!("{folder}/202611{day:02}T{h:02}1500000Z_bb22.json.gz"),
                )
                .await;
            }
            let body = hour(account, region, 1, 23);
            put(
                &s3,
                &format!("{body}/data/ff4b6c63-5561-4431-93b8-06a817275900_input.json.gz"),
            )
            .await;
        }
        put(
            &s3,
            &format!("bedrock/AWSLogs/{account}/BedrockModelInvocationLogs/amazon-bedrock-logs-permission-check"),
        )
        .await;
    }
    put(&s3, "bedrock/amazon-bedrock-logs-permission-check").await;
    put(&s3, "elsewhere/AWSLogs/999999999999/BedrockModelInvocationLogs/us-east-1/2026/11/01/00/x.json.gz").await;

    let all = accounts_and_regions(&s3, &uri, &[], &[]).await.unwrap();
    let pair = |a: &str, r: &str| (a.to_string(), r.to_string());
    assert_eq!(
        all,
        vec![
            pair("111122223333", "eu-west-1"),
            pair("111122223333", "us-east-1"),
            pair("444455556666", "eu-west-1"),
            pair("444455556666", "us-east-1"),
        ]
    );
    let narrowed =
        accounts_and_regions(&s3, &uri, &["444455556666".into()], &["us-east-1".into()]).await;
    assert_eq!(narrowed.unwrap(), vec![pair("444455556666", "us-east-1")]);

    // Everything of one account and region, in time order; the body object counted apart.
    let listing = deliveries(&s3, &uri, "111122223333", "us-east-1", "")
        .await
        .unwrap();
    let names: Vec<&str> = listing
        .objects
        .iter()
        .map(|object| object.key.rsplit('/').next().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "20261101T090000000Z_aa11.json.gz",
            "20261101T091500000Z_bb22.json.gz",
            "20261101T230000000Z_aa11.json.gz",
            "20261101T231500000Z_bb22.json.gz",
            "20261102T000000000Z_aa11.json.gz",
            "20261102T001500000Z_bb22.json.gz",
        ]
    );
    assert_eq!(listing.skipped.get("body_object"), Some(&1));
    assert!(
        listing
            .objects
            .iter()
            .all(|object| !object.etag.is_empty() && object.size == 2)
    );
    // After a key: only later deliveries (what a checkpoint's StartAfter reads).
    let start = uri.start_after(
        "111122223333",
        "us-east-1",
        chrono::DateTime::parse_from_rfc3339("2026-11-01T23:30:00Z")
            .unwrap()
            .to_utc(),
    );
    let later = deliveries(&s3, &uri, "111122223333", "us-east-1", &start)
        .await
        .unwrap();
    assert_eq!(later.objects.len(), 4, "the 23h folder and after");
    let after_last = deliveries(
        &s3,
        &uri,
        "111122223333",
        "us-east-1",
        &listing.objects[5].key,
    )
    .await
    .unwrap();
    assert!(after_last.objects.is_empty());
}
