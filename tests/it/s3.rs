//! Listing S3 deliveries against moto's S3: the accounts and regions of a central bucket, and
//! the delivery objects of one after a key, with bodies and markers counted apart.

use std::path::{Path, PathBuf};
use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use tierwatch::simulate::{S3LayoutOptions, SimulationSpec, Simulator, Truth, write_s3_layout};
use tierwatch::sources::s3::keys::S3Uri;
use tierwatch::sources::s3::listing::{accounts_and_regions, client, deliveries};

use crate::aws::{Fault, StandIns};
use crate::daemon::{
    GONE, MINUTE, PROFILE, Totals, assert_profile_calls_priced, now_ms, poll_once, seed_group,
    seed_nova_profile, serve, stored_totals, text, wait_for_invocations,
};
use crate::support::{BACKENDS, Backend, TestDb};

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
    let (_standins, s3) = stand_ins_with_bucket().await;
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

// --- The S3 source end to end: the `tierwatch` binary reads simulated deliveries from moto's
// S3 (listing mode) and from S3 notifications on moto's SQS (notification mode). ---

/// The stand-ins, and an S3 client (straight to moto) with the test bucket created.
async fn stand_ins_with_bucket() -> (StandIns, aws_sdk_s3::Client) {
    let standins = StandIns::start().await;
    let s3 = client(&standins.moto_sdk_config().await, true);
    s3.create_bucket().bucket(BUCKET).send().await.unwrap();
    (standins, s3)
}

/// Simulated deliveries of two accounts in two regions, as files in Bedrock's S3 layout, and
/// the totals a correct reader stores from them.
struct Deliveries {
    /// (key, body) of every object: record files, `data/` body objects.
    objects: Vec<(String, Vec<u8>)>,
    expected: Totals,
    /// Request ids of the good records (to check a second delivery path against).
    records: u64,
}

const PREFIX: &str = "bedrock-logs";
const ACCOUNTS: [&str; 2] = ["111122223333", "444455556666"];
const REGIONS: [&str; 2] = ["us-east-1", "eu-west-1"];

fn simulate(records: u64, start_ms: i64, end_ms: i64, seed: u64, per_file: usize) -> Deliveries {
    let mut spec = SimulationSpec::month(2025, 11, records, seed);
    spec.start_ms = start_ms;
    spec.end_ms = end_ms;
    spec.accounts = ACCOUNTS.iter().map(|a| a.to_string()).collect();
    spec.regions = REGIONS.iter().map(|r| r.to_string()).collect();
    let mut expected = Totals::default();
    let simulated: Vec<_> = Simulator::new(&spec).expect("a valid simulation").collect();
    for record in &simulated {
        if let Truth::Good(good) = &record.truth {
            expected.add_tokens(&good.tokens);
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let options = S3LayoutOptions {
        prefix: PREFIX.into(),
        records_per_file: per_file,
        gzip_level: 1,
    };
    write_s3_layout(simulated.into_iter(), dir.path(), &options).expect("writing the layout");
    let objects = layout_objects(dir.path());
    Deliveries {
        objects,
        expected,
        records,
    }
}

/// Every file under `root` as (key relative to it, body), sorted by key: a layout written by
/// the simulator, ready to upload.
pub(crate) fn layout_objects(root: &Path) -> Vec<(String, Vec<u8>)> {
    let mut objects = Vec::new();
    for entry in walkdir::WalkDir::new(root) {
        let entry = entry.unwrap();
        if entry.file_type().is_file() {
            let key = entry.path().strip_prefix(root).unwrap();
            let body = std::fs::read(entry.path()).unwrap();
            objects.push((key.to_string_lossy().into_owned(), body));
        }
    }
    objects.sort();
    objects
}

async fn put_body(client: &aws_sdk_s3::Client, bucket: &str, key: &str, body: Vec<u8>) {
    client
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(body))
        .send()
        .await
        .unwrap_or_else(|error| panic!("PutObject {key}: {error:?}"));
}

/// Uploads the deliveries and Bedrock's permission-check object.
async fn upload(client: &aws_sdk_s3::Client, bucket: &str, deliveries: &Deliveries) {
    for (key, body) in &deliveries.objects {
        put_body(client, bucket, key, body.clone()).await;
    }
    for account in ACCOUNTS {
        let marker = format!(
            "{PREFIX}/AWSLogs/{account}/BedrockModelInvocationLogs/amazon-bedrock-logs-permission-check"
        );
        put_body(client, bucket, &marker, Vec::new()).await;
    }
}

fn gzip(lines: &[String]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    for line in lines {
        encoder.write_all(line.as_bytes()).unwrap();
        encoder.write_all(b"\n").unwrap();
    }
    encoder.finish().unwrap()
}

/// Good records of a fresh simulation (their lines and totals), for extra objects.
fn extra_records(records: u64, at_ms: i64, seed: u64) -> (Vec<String>, Totals) {
    let mut spec = SimulationSpec::month(2025, 11, records, seed);
    spec.start_ms = at_ms;
    spec.end_ms = at_ms + 60_000;
    spec.accounts = vec![ACCOUNTS[0].into()];
    spec.regions = vec![REGIONS[0].into()];
    spec.bad_record_rate = 0.0;
    spec.duplicate_rate = 0.0;
    let mut totals = Totals::default();
    let mut lines = Vec::new();
    for record in Simulator::new(&spec).expect("a valid simulation") {
        if let Truth::Good(good) = &record.truth {
            totals.add_tokens(&good.tokens);
            lines.push(record.line);
        }
    }
    (lines, totals)
}

fn delivery_key(account: &str, region: &str, at_ms: i64, name: &str) -> String {
    let at = chrono::DateTime::from_timestamp_millis(at_ms).unwrap();
    format!(
        "{PREFIX}/AWSLogs/{account}/BedrockModelInvocationLogs/{region}/{}/{}_{name}.json.gz",
        at.format("%Y/%m/%d/%H"),
        at.format("%Y%m%dT%H%M%S%3fZ")
    )
}

/// A config reading the bucket (listing mode, or notification mode with `queue`).
fn s3_config(dir: &Path, db: &TestDb, standins: &StandIns, extra: &str) -> PathBuf {
    let text = format!(
        "[database]\nurl = \"{}\"\n[ingest]\nbatch_size = 500\n[daemon]\nlogs_interval = \"1s\"\nbackfill = \"8h\"\nmax_attempts = 3\n\
         [[sources]]\nname = \"org\"\nregion = \"us-east-1\"\nendpoint_url = \"{}\"\nmetrics = false\nquotas = false\n\
         s3_uri = \"s3://{BUCKET}/{PREFIX}/\"\ns3_lookback = \"3h\"\n{extra}\n",
        db.url,
        standins.moto_url()
    );
    let path = dir.join("tierwatch.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn must_poll(config: &Path, what: &str) -> String {
    let output = poll_once(config);
    let all = format!("{}{}", text(&output.stdout), text(&output.stderr));
    assert!(output.status.success(), "{what}: {all}");
    all
}

async fn quarantined(store: &tierwatch::store::Store, reason: &str) -> i64 {
    store
        .quarantine_groups()
        .await
        .unwrap()
        .into_iter()
        .filter(|group| group.reason == reason)
        .map(|group| group.records)
        .sum()
}

#[tokio::test]
async fn listing_reads_every_delivery_once_with_late_rewritten_and_corrupt_objects() {
    for backend in BACKENDS {
        let (standins, s3) = stand_ins_with_bucket().await;
        let db = TestDb::new(backend).await;
        let dir = tempfile::tempdir().unwrap();
        let now = now_ms();
        let deliveries = simulate(3_000, now - 5 * 60 * MINUTE, now - 20 * MINUTE, 31, 120);
        upload(&s3, BUCKET, &deliveries).await;
        let mut expected = deliveries.expected;
        let config = s3_config(dir.path(), &db, &standins, "s3_concurrency = 4");

        must_poll(&config, "first poll");
        assert_eq!(
            stored_totals(&db.store).await,
            expected,
            "{backend:?} first"
        );
        let second = must_poll(&config, "second poll");
        assert_eq!(
            stored_totals(&db.store).await,
            expected,
            "{backend:?} second"
        );
        assert!(second.contains(" 0 read ("), "{backend:?}: {second}");

        // A late object (an earlier hour than the newest), an object rewritten with more
        // records (new ETag), and a corrupt gzip whose first records are readable.
        let (late_lines, late) = extra_records(40, now - 3 * 60 * MINUTE, 41);
        let late_key = delivery_key(ACCOUNTS[0], REGIONS[0], now - 3 * 60 * MINUTE, "1a7e");
        put_body(&s3, BUCKET, &late_key, gzip(&late_lines)).await;
        expected.add(late);

        let (first_lines, first) = extra_records(30, now - 10 * MINUTE, 42);
        let rewritten_key = delivery_key(ACCOUNTS[0], REGIONS[0], now - 10 * MINUTE, "0e0e");
        put_body(&s3, BUCKET, &rewritten_key, gzip(&first_lines)).await;
        expected.add(first);
        must_poll(&config, "third poll");
        assert_eq!(stored_totals(&db.store).await, expected, "{backend:?} late");
        let (more_lines, more) = extra_records(20, now - 9 * MINUTE, 43);
        let mut all_lines = first_lines.clone();
        all_lines.extend(more_lines);
        put_body(&s3, BUCKET, &rewritten_key, gzip(&all_lines)).await;
        expected.add(more);

        let (intact_lines, intact) = extra_records(25, now - 8 * MINUTE, 44);
        let mut corrupt = gzip(&intact_lines);
        corrupt.extend_from_slice(b"\x1f\x8b\x08\x00garbage that is no deflate stream");
        let corrupt_key = delivery_key(ACCOUNTS[1], REGIONS[1], now - 8 * MINUTE, "dead");
        put_body(&s3, BUCKET, &corrupt_key, corrupt).await;
        expected.add(intact);

        let fourth = must_poll(&config, "fourth poll");
        assert_eq!(
            stored_totals(&db.store).await,
            expected,
            "{backend:?} rewritten"
        );
        assert_eq!(
            quarantined(&db.store, "unreadable_file").await,
            1,
            "{backend:?}"
        );
        assert!(fourth.contains("2 read ("), "{backend:?}: {fourth}");
        let fifth = must_poll(&config, "fifth poll");
        assert!(fifth.contains(" 0 read ("), "{backend:?}: {fifth}");
        assert_eq!(stored_totals(&db.store).await, expected, "{backend:?} last");
        assert!(deliveries.records > 0);
        db.finish().await;
    }
}

/// A queue receiving the bucket's ObjectCreated notifications (moto sends them, and its own
/// `s3:TestEvent` when the notification is set up). Returns the queue URL.
async fn notify_queue(standins: &StandIns, s3: &aws_sdk_s3::Client, name: &str) -> String {
    use aws_sdk_s3::types::{Event, NotificationConfiguration, QueueConfiguration};
    let sqs = sqs_client(standins).await;
    let url = sqs
        .create_queue()
        .queue_name(name)
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let arn = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()
        .remove(&aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .unwrap();
    let queue = QueueConfiguration::builder()
        .queue_arn(arn)
        .events(Event::from("s3:ObjectCreated:*"))
        .build()
        .unwrap();
    s3.put_bucket_notification_configuration()
        .bucket(BUCKET)
        .notification_configuration(
            NotificationConfiguration::builder()
                .queue_configurations(queue)
                .build(),
        )
        .send()
        .await
        .unwrap();
    url
}

async fn stop_notifications(s3: &aws_sdk_s3::Client) {
    s3.put_bucket_notification_configuration()
        .bucket(BUCKET)
        .notification_configuration(aws_sdk_s3::types::NotificationConfiguration::builder().build())
        .send()
        .await
        .unwrap();
}

async fn sqs_client(standins: &StandIns) -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::new(&standins.moto_sdk_config().await)
}

async fn send(standins: &StandIns, url: &str, body: String) {
    sqs_client(standins)
        .await
        .send_message()
        .queue_url(url)
        .message_body(body)
        .send()
        .await
        .unwrap();
}

/// (visible, in flight) messages of a queue.
async fn queue_depth(standins: &StandIns, url: &str) -> (i64, i64) {
    use aws_sdk_sqs::types::QueueAttributeName as Name;
    let attributes = sqs_client(standins)
        .await
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(Name::ApproximateNumberOfMessages)
        .attribute_names(Name::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap();
    let number = |name: Name| attributes.get(&name).unwrap().parse::<i64>().unwrap();
    (
        number(Name::ApproximateNumberOfMessages),
        number(Name::ApproximateNumberOfMessagesNotVisible),
    )
}

fn s3_event(key: &str) -> String {
    serde_json::json!({"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": BUCKET}, "object": {"key": key.replace(' ', "+"), "size": 10}}
    }]})
    .to_string()
}

fn sns_wrapped(key: &str) -> String {
    serde_json::json!({
        "Type": "Notification", "MessageId": "0b6e6a9a-1111-2222-3333-444455556666",
        "TopicArn": "arn:aws:sns:us-east-1:123456789012:bedrock-logs",
        "Message": s3_event(key), "Timestamp": "2026-12-06T10:00:00.000Z"
    })
    .to_string()
}

fn eventbridge(key: &str) -> String {
    serde_json::json!({
        "version": "0", "id": "17793124-05d4-b198-2fde-7ededc63b103",
        "detail-type": "Object Created", "source": "aws.s3", "account": "123456789012",
        "time": "2026-12-06T10:00:00Z", "region": "us-east-1",
        "detail": {"version": "0", "bucket": {"name": BUCKET},
                   "object": {"key": key, "size": 10}, "reason": "PutObject"}
    })
    .to_string()
}

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[tokio::test]
async fn notifications_are_read_deleted_once_kept_when_failing_and_reconciled() {
    for backend in BACKENDS {
        let (standins, s3) = stand_ins_with_bucket().await;
        let db = TestDb::new(backend).await;
        let dir = tempfile::tempdir().unwrap();
        let now = now_ms();
        // Objects announced through SNS and EventBridge envelopes (sent by hand below, so
        // they go up before S3 itself notifies).
        let (sns_lines, sns_totals) = extra_records(15, now - 4 * 60 * MINUTE, 51);
        let sns_key = delivery_key(ACCOUNTS[0], REGIONS[0], now - 4 * 60 * MINUTE, "5e5e");
        put_body(&s3, BUCKET, &sns_key, gzip(&sns_lines)).await;
        let (bridge_lines, bridge_totals) = extra_records(12, now - 4 * 60 * MINUTE + 1000, 52);
        let bridge_key = delivery_key(
            ACCOUNTS[0],
            REGIONS[0],
            now - 4 * 60 * MINUTE + 1000,
            "eb eb",
        );
        put_body(&s3, BUCKET, &bridge_key, gzip(&bridge_lines)).await;

        let queue = notify_queue(&standins, &s3, "bedrock-deliveries").await;
        // Older than the backfill start: only the notifications can bring these in.
        let deliveries = simulate(2_000, now - 5 * 60 * MINUTE, now - 2 * 60 * MINUTE, 53, 150);
        upload(&s3, BUCKET, &deliveries).await;
        send(&standins, &queue, sns_wrapped(&sns_key)).await;
        send(&standins, &queue, eventbridge(&bridge_key)).await;
        let missing_key = delivery_key(ACCOUNTS[1], REGIONS[1], now - 3 * 60 * MINUTE, "9999");
        send(&standins, &queue, s3_event(&missing_key)).await;
        send(&standins, &queue, "{\"not\": \"a notification\"}".into()).await;
        let mut expected = deliveries.expected;
        expected.add(sns_totals);
        expected.add(bridge_totals);
        // One message per upload (records, data/ bodies, permission checks), the test event
        // and the four sent by hand.
        let messages = deliveries.objects.len() as u64 + ACCOUNTS.len() as u64 + 1 + 4;

        let config = s3_config(
            dir.path(),
            &db,
            &standins,
            &format!(
                "backfill_from = \"{}\"\nsqs_queue_url = \"{queue}\"\nsqs_wait_time = \"1s\"\nsqs_visibility_timeout = \"3s\"\n",
                rfc3339(now - 60 * MINUTE)
            ),
        );
        let output = poll_once(&config);
        let said = format!("{}{}", text(&output.stdout), text(&output.stderr));
        assert!(
            !output.status.success(),
            "{backend:?}: kept messages fail the cycle: {said}"
        );
        assert_eq!(
            stored_totals(&db.store).await,
            expected,
            "{backend:?}: {said}"
        );
        assert!(
            said.contains(&format!(
                "{messages} messages ({} deleted, 2 kept, ",
                messages - 2
            )),
            "{backend:?}: {said}"
        );
        assert!(
            said.contains("NoSuchKey") && said.contains("not an S3 event notification"),
            "{said}"
        );
        // The two failures stay on the queue (in flight until their visibility ends).
        assert_eq!(queue_depth(&standins, &queue).await, (0, 2), "{backend:?}");
        // Health shows them as the source's problem, without counting a failed cycle (so no
        // backoff holds up the rest of the queue).
        let health = db.store.source_health().await.unwrap();
        let sqs = health
            .iter()
            .find(|row| row.kind == "sqs")
            .expect("sqs health");
        assert_eq!(sqs.consecutive_failures, 0, "{sqs:?}");
        assert!(
            sqs.last_error
                .as_deref()
                .is_some_and(|error| error.contains("2 messages left on the queue")),
            "{sqs:?}"
        );

        // An object whose notification was lost: the reconcile listing finds it.
        stop_notifications(&s3).await;
        let (lost_lines, lost) = extra_records(18, now - 30 * MINUTE, 54);
        let lost_key = delivery_key(ACCOUNTS[1], REGIONS[0], now - 30 * MINUTE, "1057");
        put_body(&s3, BUCKET, &lost_key, gzip(&lost_lines)).await;
        expected.add(lost);
        tokio::time::sleep(std::time::Duration::from_secs(4)).await;
        let output = poll_once(&config);
        let said = format!("{}{}", text(&output.stdout), text(&output.stderr));
        assert_eq!(
            stored_totals(&db.store).await,
            expected,
            "{backend:?}: {said}"
        );
        // The failing messages came back and were kept again, never deleted.
        assert!(
            said.contains("2 messages (0 deleted, 2 kept, "),
            "{backend:?}: {said}"
        );
        assert!(said.contains("received 2 times"), "{backend:?}: {said}");
        db.finish().await;
    }
}

/// A bucket holding simulated deliveries of the last hours (older than the listing's backfill
/// start when a queue announces them, so that only the queue brings them in).
struct Bucket {
    standins: StandIns,
    db: TestDb,
    dir: tempfile::TempDir,
    queue: Option<String>,
    expected: Totals,
    now: i64,
}

impl Bucket {
    async fn filled(backend: Backend, notifications: bool, records: u64, seed: u64) -> Bucket {
        let (standins, s3) = stand_ins_with_bucket().await;
        let queue = match notifications {
            true => Some(notify_queue(&standins, &s3, "deliveries").await),
            false => None,
        };
        let now = now_ms();
        let deliveries = simulate(
            records,
            now - 5 * 60 * MINUTE,
            now - 2 * 60 * MINUTE,
            seed,
            40,
        );
        upload(&s3, BUCKET, &deliveries).await;
        Bucket {
            db: TestDb::new(backend).await,
            dir: tempfile::tempdir().unwrap(),
            standins,
            queue,
            expected: deliveries.expected,
            now,
        }
    }

    /// The config reading it, by listing or from the queue, with `extra` source keys.
    fn config(&self, extra: &str) -> PathBuf {
        let extra = match &self.queue {
            Some(url) => format!(
                "backfill_from = \"{}\"\nsqs_queue_url = \"{url}\"\nsqs_wait_time = \"1s\"\n{extra}",
                rfc3339(self.now - 60 * MINUTE)
            ),
            None => extra.to_string(),
        };
        s3_config(self.dir.path(), &self.db, &self.standins, &extra)
    }
}

/// Kills `tierwatch serve` (SIGKILL) at several points of reading; returns how many times it
/// was killed before it was done.
async fn kill_while_reading(config: &Path, store: &tierwatch::store::Store, expected: i64) -> u32 {
    let mut kills = 0;
    for fraction in [10, 3, 2] {
        let mut daemon = serve(config);
        let stored =
            wait_for_invocations(store, expected / fraction, Duration::from_secs(120)).await;
        if daemon.try_wait().unwrap().is_none() {
            daemon.kill().unwrap(); // no chance to finish anything
            kills += u32::from(stored < expected);
        }
        daemon.wait().unwrap();
    }
    kills
}

async fn stored_invocations(store: &tierwatch::store::Store) -> i64 {
    store
        .count_invocations(i64::MIN / 2, i64::MAX / 2)
        .await
        .unwrap()
}

#[tokio::test]
async fn killing_the_daemon_while_listing_or_consuming_loses_and_doubles_nothing() {
    let only: Option<(Backend, bool)> = std::env::var("S3_KILL_ONLY")
        .ok()
        .map(|v| (Backend::Sqlite, v == "sqs"));
    for (backend, notifications) in [
        (Backend::Postgres, false),
        (Backend::Sqlite, false),
        (Backend::Postgres, true),
        (Backend::Sqlite, true),
    ]
    .into_iter()
    .filter(|case| only.is_none_or(|only| only == *case))
    {
        let setup = Bucket::filled(backend, notifications, 12_000, 61).await;
        let (standins, db, queue) = (&setup.standins, &setup.db, &setup.queue);
        let config = setup.config("sqs_visibility_timeout = \"2s\"\ns3_concurrency = 2\n");
        let expected = setup.expected;
        let kills = kill_while_reading(&config, &db.store, expected.invocations).await;
        assert!(
            kills >= 2,
            "{backend:?} {notifications}: finished before it could be killed"
        );
        // Messages a killed daemon held come back after their visibility timeout.
        tokio::time::sleep(Duration::from_secs(3)).await;
        for _ in 0..3 {
            must_poll(&config, "after the kills");
        }
        let quarantine = db.store.quarantine_groups().await.unwrap();
        assert_eq!(
            stored_invocations(&db.store).await,
            expected.invocations,
            "RAW"
        );
        assert_eq!(
            stored_totals(&db.store).await,
            expected,
            "{backend:?} {notifications}: quarantined {quarantine:?}"
        );
        if let Some(url) = queue {
            assert_eq!(queue_depth(standins, url).await, (0, 0), "{backend:?}");
        }
        setup.db.finish().await;
    }
}

#[tokio::test]
async fn two_replicas_on_postgres_store_each_delivery_once() {
    for notifications in [false, true] {
        let setup = Bucket::filled(Backend::Postgres, notifications, 6_000, 71).await;
        let (standins, db, queue) = (&setup.standins, &setup.db, &setup.queue);
        let config = setup.config("");
        let expected = setup.expected;
        let mut first = serve(&config);
        let mut second = serve(&config);
        let stored =
            wait_for_invocations(&db.store, expected.invocations, Duration::from_secs(180)).await;
        tokio::time::sleep(Duration::from_secs(3)).await; // cycles after catching up
        first.kill().unwrap();
        second.kill().unwrap();
        first.wait().unwrap();
        second.wait().unwrap();
        assert_eq!(
            stored, expected.invocations,
            "notifications: {notifications}"
        );
        assert_eq!(
            stored_totals(&db.store).await,
            expected,
            "notifications: {notifications}"
        );
        if let Some(url) = queue {
            assert_eq!(queue_depth(standins, url).await, (0, 0));
        }
        setup.db.finish().await;
    }
}

#[tokio::test]
async fn logs_delivered_to_cloudwatch_logs_and_s3_are_stored_once() {
    for backend in BACKENDS {
        let (standins, s3) = stand_ins_with_bucket().await;
        let db = TestDb::new(backend).await;
        let dir = tempfile::tempdir().unwrap();
        let now = now_ms();
        let mut spec = SimulationSpec::month(2025, 11, 1_500, 81);
        spec.start_ms = now - 3 * 60 * MINUTE;
        spec.end_ms = now - 10 * MINUTE;
        spec.accounts = vec![ACCOUNTS[0].into()];
        spec.regions = vec![REGIONS[0].into()];
        let records: Vec<_> = Simulator::new(&spec).unwrap().collect();
        let mut expected = Totals::default();
        for record in &records {
            if let Truth::Good(good) = &record.truth {
                expected.add_tokens(&good.tokens);
            }
        }
        let events: Vec<(i64, String)> = records
            .iter()
            .map(|record| (record.timestamp_ms, record.line.clone()))
            .collect();
        seed_group(&standins, "/bedrock/both", &events).await;
        let files = tempfile::tempdir().unwrap();
        let options = S3LayoutOptions {
            prefix: PREFIX.into(),
            records_per_file: 100,
            gzip_level: 1,
        };
        write_s3_layout(records.into_iter(), files.path(), &options).unwrap();
        for (key, body) in layout_objects(files.path()) {
            put_body(&s3, BUCKET, &key, body).await;
        }
        let text_config = format!(
            "[database]\nurl = \"{}\"\n[daemon]\nbackfill = \"4h\"\nmax_attempts = 3\n\
             [[sources]]\nname = \"logs\"\nregion = \"us-east-1\"\nlog_group = \"/bedrock/both\"\nendpoint_url = \"{}\"\nmetrics = false\nquotas = false\n\
             [[sources]]\nname = \"bucket\"\nregion = \"us-east-1\"\nendpoint_url = \"{}\"\nmetrics = false\nquotas = false\ns3_uri = \"s3://{BUCKET}/{PREFIX}/\"\n",
            db.url,
            standins.endpoint_url(),
            standins.moto_url()
        );
        let config = dir.path().join("tierwatch.toml");
        std::fs::write(&config, text_config).unwrap();
        must_poll(&config, "both sources");
        must_poll(&config, "both sources again");
        assert_eq!(stored_totals(&db.store).await, expected, "{backend:?}");
        assert_eq!(stored_invocations(&db.store).await, expected.invocations);
        db.finish().await;
    }
}

#[tokio::test]
async fn application_inference_profiles_in_s3_deliveries_are_resolved_on_first_sight() {
    let standins = StandIns::start().await;
    seed_nova_profile(&standins).await;
    let s3 = client(&standins.moto_sdk_config().await, true);
    s3.create_bucket().bucket(BUCKET).send().await.unwrap();
    let db = TestDb::new(Backend::Sqlite).await;
    let dir = tempfile::tempdir().unwrap();
    let at = now_ms() - 10 * MINUTE;
    let record = |id: u32, model: &str| {
        serde_json::json!({
            "schemaType": "ModelInvocationLog", "schemaVersion": "1.0",
            "timestamp": chrono::DateTime::from_timestamp_millis(at)
                .unwrap()
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "accountId": ACCOUNTS[0], "region": "us-east-1",
            "requestId": format!("00000000-0000-4000-8000-{id:012}"),
            "operation": "Converse", "modelId": model,
            "input": {"inputTokenCount": 1_000},
            "output": {"outputTokenCount": 500},
        })
        .to_string()
    };
    let lines = [record(1, PROFILE), record(2, PROFILE), record(3, GONE)];
    let key = delivery_key(ACCOUNTS[0], REGIONS[0], at, "ab12");
    put_body(&s3, BUCKET, &key, gzip(&lines)).await;
    // One endpoint for S3 (passed to moto) and Bedrock (answered by the front).
    let config = dir.path().join("tierwatch.toml");
    std::fs::write(
        &config,
        format!(
            "[database]\nurl = \"{}\"\n[[sources]]\nname = \"org\"\nregion = \"us-east-1\"\nendpoint_url = \"{}\"\nmetrics = false\nquotas = false\ns3_uri = \"s3://{BUCKET}/{PREFIX}/\"\n",
            db.url,
            standins.endpoint_url()
        ),
    )
    .unwrap();
    must_poll(&config, "poll");
    let calls = standins.calls().await;
    assert_eq!(
        calls.get("GetInferenceProfile").copied(),
        Some(2),
        "{calls:?}"
    );
    assert_profile_calls_priced(&db.store, GONE, at).await;
    db.finish().await;
}

#[tokio::test]
async fn every_real_invocation_log_sample_reads_from_s3_as_import_reads_it() {
    let (standins, s3) = stand_ins_with_bucket().await;
    // The real samples of ../shared/real-aws-samples/invocation-logs, as the repository keeps
    // them for `import`'s test.
    let samples = crate::support::fixture("real-aws");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&samples)
        .unwrap_or_else(|error| panic!("{}: {error}", samples.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_file() && !path.ends_with("README.md"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 24, "{files:?}");
    let at = now_ms() - 60 * MINUTE;
    for (index, file) in files.iter().enumerate() {
        // Delivered as Bedrock does: gzipped, one object per sample, keys in time order.
        use std::io::Write;
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(&std::fs::read(file).unwrap()).unwrap();
        let key = delivery_key(ACCOUNTS[0], REGIONS[0], at + index as i64 * 1000, "5a3b1e");
        put_body(&s3, BUCKET, &key, encoder.finish().unwrap()).await;
    }
    let db = TestDb::new(Backend::Sqlite).await;
    let dir = tempfile::tempdir().unwrap();
    let config = s3_config(dir.path(), &db, &standins, "");
    let said = must_poll(&config, "the real samples");
    // What `tierwatch import` of the same files reports (tests/it/prices.rs checks each cause).
    let stored = db.store.count_invocations(0, i64::MAX / 2).await.unwrap();
    assert_eq!(stored, 17, "{said}");
    assert!(
        said.contains(&format!(
            "{0} read (0 late, 0 gone): 32 records, 17 imported, 0 already stored, 15 rejected",
            files.len()
        )),
        "{said}"
    );
    db.finish().await;
}

/// A config reading the bucket through the front (where faults can be armed).
fn front_config(dir: &Path, db: &TestDb, standins: &StandIns, extra: &str) -> PathBuf {
    let path = dir.join("tierwatch.toml");
    std::fs::write(
        &path,
        format!(
            "[database]\nurl = \"{}\"\n[daemon]\nbackfill = \"8h\"\nmax_attempts = 2\n[[sources]]\nname = \"org\"\nregion = \"us-east-1\"\nendpoint_url = \"{}\"\nmetrics = false\nquotas = false\ns3_uri = \"s3://{BUCKET}/{PREFIX}/\"\n{extra}\n",
            db.url,
            standins.endpoint_url()
        ),
    )
    .unwrap();
    path
}

#[tokio::test]
async fn an_object_that_cannot_be_read_holds_the_checkpoint_and_is_the_only_one_read_again() {
    let (standins, s3) = stand_ins_with_bucket().await;
    let db = TestDb::new(Backend::Sqlite).await;
    let dir = tempfile::tempdir().unwrap();
    let now = now_ms();
    let mut expected = Totals::default();
    for (index, minutes_ago) in [50, 40, 30].into_iter().enumerate() {
        let at = now - minutes_ago * MINUTE;
        let (lines, totals) = extra_records(20, at, 90 + index as u64);
        put_body(
            &s3,
            BUCKET,
            &delivery_key(ACCOUNTS[0], REGIONS[0], at, "ac1d"),
            gzip(&lines),
        )
        .await;
        expected.add(totals);
    }
    // The first GetObject is refused, as a bucket key the role may not use refuses it.
    standins
        .inject_fault(
            Fault::error("GetObject", 403, "AccessDenied")
                .message("User is not authorized to perform: kms:Decrypt")
                .for_service("s3")
                .times(1),
        )
        .await;
    let config = front_config(dir.path(), &db, &standins, "s3_concurrency = 1");
    let first = poll_once(&config);
    let said = format!("{}{}", text(&first.stdout), text(&first.stderr));
    assert!(!first.status.success(), "{said}");
    assert!(
        said.contains("access denied") && said.contains("kms:Decrypt"),
        "{said}"
    );
    assert!(
        said.contains("3 objects listed (0 read before, 0 skipped), 2 read"),
        "{said}"
    );
    let second = must_poll(&config, "after the refusal");
    assert!(
        second.contains("3 objects listed (2 read before, 0 skipped), 1 read"),
        "{second}"
    );
    assert_eq!(stored_totals(&db.store).await, expected);
    let third = must_poll(&config, "once more");
    assert!(
        third.contains("(3 read before, 0 skipped), 0 read"),
        "{third}"
    );
    db.finish().await;
}

#[tokio::test]
async fn messages_stay_hidden_while_their_objects_take_longer_than_the_visibility_timeout() {
    let (standins, s3) = stand_ins_with_bucket().await;
    let queue = notify_queue(&standins, &s3, "slow").await;
    let db = TestDb::new(Backend::Sqlite).await;
    let dir = tempfile::tempdir().unwrap();
    let at = now_ms() - 3 * 60 * MINUTE;
    let (lines, expected) = extra_records(30, at, 95);
    put_body(
        &s3,
        BUCKET,
        &delivery_key(ACCOUNTS[0], REGIONS[0], at, "5105"),
        gzip(&lines),
    )
    .await;
    standins
        .inject_fault(Fault::delay("GetObject", Duration::from_millis(3_500)).for_service("s3"))
        .await;
    let config = front_config(
        dir.path(),
        &db,
        &standins,
        &format!(
            "backfill_from = \"{}\"\nsqs_queue_url = \"{queue}\"\nsqs_wait_time = \"1s\"\nsqs_visibility_timeout = \"2s\"\n",
            rfc3339(now_ms() - 60 * MINUTE)
        ),
    );
    let said = must_poll(&config, "a slow object");
    // The test event and the object's event, each received once: the object took 3.5 s, and
    // the batch's visibility (2 s) was extended every second meanwhile.
    assert!(said.contains("2 messages (2 deleted, 0 kept, "), "{said}");
    let extensions: u64 = said
        .split("kept, ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|count| count.parse().ok())
        .unwrap_or(0);
    assert!(extensions >= 2, "{said}");
    assert_eq!(stored_totals(&db.store).await, expected);
    assert_eq!(queue_depth(&standins, &queue).await, (0, 0));
    db.finish().await;
}
