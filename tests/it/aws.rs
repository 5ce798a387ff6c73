//! Local stand-ins for the AWS APIs tierwatch polls, driven by the real SDK clients over HTTP.
//!
//! [`StandIns::start`] runs a fresh moto server (`tests/support/aws/moto_standin.py`) and the
//! front in `tests/support/aws/front.py` on free 127.0.0.1 ports. Every SDK client points at the
//! front ([`StandIns::endpoint_url`]), which serves CloudWatch metrics (RPCv2-CBOR, translated
//! to moto's JSON API), CloudWatch Logs (passed to moto), Service Quotas (answered from
//! quotas seeded with [`StandIns::seed_quotas`]), the Price List Query API (answered from
//! [`StandIns::seed_price_list`]) and Bedrock's ListFoundationModels, GetInferenceProfile and
//! ListInferenceProfiles (answered from [`StandIns::seed_foundation_models`] and
//! [`StandIns::seed_inference_profiles`]), passes Bedrock's model invocation logging
//! configuration (Put/Get/DeleteModelInvocationLoggingConfiguration) and STS to moto, injects
//! faults and counts calls. Each test
//! gets its own pair, so faults, counts and data never leak between tests running in parallel;
//! both processes are killed when the `StandIns` is dropped (and exit by themselves if the test
//! process dies, because their stdin closes).
//!
//! The Python comes from `TIERWATCH_TEST_PYTHON`, else `.venv/bin/python` in the repository;
//! `scripts/test` provisions that venv from `tests/support/aws/requirements.txt`.
//!
//! ```ignore
//! let standins = StandIns::start().await;
//! let logs = standins.logs_client().await; // or Client::new(&standins.sdk_config().await)
//! create_log_stream(&logs, "group", "aws/bedrock/modelinvocations").await;
//! put_log_events(&logs, "group", "aws/bedrock/modelinvocations", &events).await;
//! standins.seed_quotas(TEST_REGION, &bedrock_quota_fixture()).await;
//! standins.inject_fault(Fault::throttling("FilterLogEvents").times(2)).await;
//! // ... run the code under test against standins.sdk_config() ...
//! assert_eq!(standins.calls().await["FilterLogEvents"], 3);
//! ```
//!
//! What moto does not do like AWS is listed in `tests/support/aws/front.py` and
//! `moto_standin.py` (e.g. no percentile statistics; filter patterns are ignored).

use std::collections::HashMap;
use std::fs;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_cloudwatch::types::MetricDatum;
use aws_sdk_cloudwatchlogs::config::Credentials;
use aws_sdk_cloudwatchlogs::types::InputLogEvent;
use serde::Serialize;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The region `sdk_config` uses; seed quotas for it unless a test builds its own config.
pub const TEST_REGION: &str = "us-east-1";

/// How long one Python process may take to say it is ready. moto imports in about a second on
/// an idle machine; parallel tests on two cores can make that several times longer.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

/// AWS PutLogEvents limits: events per call, bytes per call (message bytes + 26 per event),
/// and the time one call may span.
pub const MAX_EVENTS_PER_PUT: usize = 10_000;
pub const MAX_BYTES_PER_PUT: usize = 1_048_576;
pub const PUT_LOG_EVENT_OVERHEAD_BYTES: usize = 26;
pub const MAX_PUT_SPAN_MS: i64 = 24 * 60 * 60 * 1000;

/// AWS PutMetricData limit: metric data items per call.
pub const MAX_METRIC_DATA_PER_PUT: usize = 1_000;

/// A moto server and the front before it, for one test.
pub struct StandIns {
    // Fields drop in this order: the front goes before the moto server it talks to.
    front: PythonProcess,
    moto: PythonProcess,
}

impl StandIns {
    /// Starts moto and the front, and returns once both answer HTTP requests. Panics with the
    /// process's stderr if either fails to start within a minute.
    pub async fn start() -> StandIns {
        let python = python_path();
        let support = support_dir();
        let moto = PythonProcess::spawn(
            "moto server",
            &python,
            &[
                support.join("moto_standin.py").as_os_str(),
                "--port".as_ref(),
                "0".as_ref(),
                "--exit-on-stdin-eof".as_ref(),
            ],
        )
        .await;
        let front = PythonProcess::spawn(
            "AWS front",
            &python,
            &[
                support.join("front.py").as_os_str(),
                "--port".as_ref(),
                "0".as_ref(),
                "--moto-url".as_ref(),
                moto.url.as_ref(),
                "--exit-on-stdin-eof".as_ref(),
            ],
        )
        .await;
        moto.expect_answer("GET", "/moto-api/config").await;
        front.expect_answer("GET", "/_standin/health").await;
        StandIns { front, moto }
    }

    /// The URL every SDK client uses: every service goes through the front.
    pub fn endpoint_url(&self) -> String {
        self.front.url.clone()
    }

    /// moto's own URL, for tests that look at moto directly.
    pub fn moto_url(&self) -> String {
        self.moto.url.clone()
    }

    /// SDK configuration for the stand-ins: region `us-east-1`, static test credentials, the
    /// front as endpoint, retries off. Tests of retry logic set their own retry config on top.
    pub async fn sdk_config(&self) -> SdkConfig {
        self.sdk_config_at(self.endpoint_url()).await
    }

    /// The same, pointed at moto itself: S3 (REST-XML, path-style) is served by moto as it
    /// is, with no translation needed from the front.
    pub async fn moto_sdk_config(&self) -> SdkConfig {
        self.sdk_config_at(self.moto_url()).await
    }

    async fn sdk_config_at(&self, url: String) -> SdkConfig {
        aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(TEST_REGION))
            .credentials_provider(Credentials::new(
                "AKIDTIERWATCHTEST",
                "tierwatch-test-secret",
                None,
                None,
                "tierwatch-standins",
            ))
            .endpoint_url(url)
            .retry_config(RetryConfig::disabled())
            .load()
            .await
    }

    pub async fn logs_client(&self) -> aws_sdk_cloudwatchlogs::Client {
        aws_sdk_cloudwatchlogs::Client::new(&self.sdk_config().await)
    }

    pub async fn metrics_client(&self) -> aws_sdk_cloudwatch::Client {
        aws_sdk_cloudwatch::Client::new(&self.sdk_config().await)
    }

    pub async fn quotas_client(&self) -> aws_sdk_servicequotas::Client {
        aws_sdk_servicequotas::Client::new(&self.sdk_config().await)
    }

    /// Arms a fault: the next matching calls get an error (and/or a delay) in their protocol.
    pub async fn inject_fault(&self, fault: Fault) {
        let body = serde_json::to_value(&fault).expect("a fault serializes");
        self.front
            .admin("POST", "/_standin/faults", Some(&body))
            .await;
    }

    /// Calls received per AWS operation name ("FilterLogEvents", "GetMetricData", ...),
    /// faulted ones included, since start or the last reset.
    pub async fn calls(&self) -> HashMap<String, u64> {
        let counts = self.front.admin("GET", "/_standin/calls", None).await;
        serde_json::from_value(counts).expect("the front answers {operation: count}")
    }

    /// Replaces the quotas ListServiceQuotas returns in `region`. Items use the API's member
    /// names (`ServiceCode`, `QuotaCode`, `QuotaName`, `Value`, ...); `QuotaArn`,
    /// `ServiceName`, `Unit`, `Adjustable`, `GlobalQuota` and `QuotaAppliedAtLevel` are filled
    /// in when left out. There is no AWS API to create quotas, hence this admin call.
    pub async fn seed_quotas(&self, region: &str, items: &[Value]) {
        let body = Value::Array(items.to_vec());
        let path = format!("/_standin/quotas/{region}");
        self.front.admin("PUT", &path, Some(&body)).await;
    }

    /// Replaces the products GetProducts returns for `service_code` (e.g. `"AmazonBedrock"`),
    /// in this order, which is the paging order. Each product is a price list document as a
    /// JSON object: `{"product": {"sku", "productFamily", "attributes": {..}}, "terms":
    /// {"OnDemand": {..}}, "version", "publicationDate"}`; `product.sku` is required and
    /// unique, attribute values are strings, and `serviceCode` is filled in when left out.
    /// GetProducts sends each one back as a JSON string, 100 per page at most. The Price List
    /// API is read-only, hence this admin call.
    pub async fn seed_price_list(&self, service_code: &str, products: &[Value]) {
        let body = Value::Array(products.to_vec());
        let path = format!("/_standin/pricing/{service_code}");
        self.front.admin("PUT", &path, Some(&body)).await;
    }

    /// Replaces the models ListFoundationModels returns in `region`. Items use the API's
    /// member names; only `modelId` is required. `modelArn`
    /// (`arn:aws:bedrock:<region>::foundation-model/<modelId>`), `modelName`, `providerName`,
    /// modalities (`TEXT`), `responseStreamingSupported`, `customizationsSupported`,
    /// `inferenceTypesSupported` (`ON_DEMAND`) and `modelLifecycle` (`ACTIVE`) are filled in
    /// when left out.
    pub async fn seed_foundation_models(&self, region: &str, models: &[Value]) {
        let body = Value::Array(models.to_vec());
        let path = format!("/_standin/bedrock/foundation-models/{region}");
        self.front.admin("PUT", &path, Some(&body)).await;
    }

    /// Replaces the inference profiles GetInferenceProfile and ListInferenceProfiles know in
    /// `region`. Items use GetInferenceProfile's member names; only `inferenceProfileId` is
    /// required (and `models` for `"type": "APPLICATION"`). `type` (`SYSTEM_DEFINED`), the
    /// ARN, the name, `status` and, for a system-defined `<geo>.<modelId>`, `models` are filled
    /// in when left out; `createdAt`/`updatedAt` may be epoch seconds or ISO-8601. Like AWS,
    /// ListInferenceProfiles without a type lists only the `SYSTEM_DEFINED` ones.
    pub async fn seed_inference_profiles(&self, region: &str, profiles: &[Value]) {
        let body = Value::Array(profiles.to_vec());
        let path = format!("/_standin/bedrock/inference-profiles/{region}");
        self.front.admin("PUT", &path, Some(&body)).await;
    }

    /// Clears faults, call counts, seeded quotas, price lists, foundation models and inference
    /// profiles, and all of moto's data.
    pub async fn reset(&self) {
        self.front.admin("POST", "/_standin/reset", None).await;
    }
}

/// A fault for [`StandIns::inject_fault`]. Without [`Fault::times`] it applies to every
/// matching call until reset.
#[derive(Debug, Clone, Serialize)]
pub struct Fault {
    operation: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    service: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    times: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    delay_ms: Option<u64>,
}

impl Fault {
    /// An error answer with this HTTP status and AWS error code.
    pub fn error(operation: &str, status: u16, code: &str) -> Fault {
        Fault {
            operation: operation.to_string(),
            service: None,
            status: Some(status),
            code: Some(code.to_string()),
            message: None,
            times: None,
            delay_ms: None,
        }
    }

    /// `400 ThrottlingException: Rate exceeded`, as CloudWatch Logs throttles. (Service Quotas
    /// throttles with `TooManyRequestsException`; use [`Fault::error`] for that.)
    pub fn throttling(operation: &str) -> Fault {
        Fault::error(operation, 400, "ThrottlingException").message("Rate exceeded")
    }

    /// `503 ServiceUnavailable`.
    pub fn unavailable(operation: &str) -> Fault {
        Fault::error(operation, 503, "ServiceUnavailable").message("Service unavailable")
    }

    /// A delay before the normal answer.
    pub fn delay(operation: &str, delay: Duration) -> Fault {
        Fault {
            operation: operation.to_string(),
            service: None,
            status: None,
            code: None,
            message: None,
            times: None,
            delay_ms: Some(delay_in_ms(delay)),
        }
    }

    pub fn message(mut self, message: &str) -> Fault {
        self.message = Some(message.to_string());
        self
    }

    /// Applies to the next `times` matching calls only.
    pub fn times(mut self, times: u32) -> Fault {
        self.times = Some(times);
        self
    }

    /// Waits this long before answering (with the error, if the fault has one).
    pub fn with_delay(mut self, delay: Duration) -> Fault {
        self.delay_ms = Some(delay_in_ms(delay));
        self
    }

    /// Only for this service ("logs", "cloudwatch", "servicequotas", "pricing" or
    /// "bedrock"): needed for operation names several services share, like
    /// `ListTagsForResource`.
    pub fn for_service(mut self, service: &'static str) -> Fault {
        self.service = Some(service);
        self
    }
}

fn delay_in_ms(delay: Duration) -> u64 {
    u64::try_from(delay.as_millis()).expect("a test delay fits in u64 milliseconds")
}

/// The Bedrock quotas of `tests/fixtures/quotas/bedrock-us-east-1.json`, for `seed_quotas`.
pub fn bedrock_quota_fixture() -> Vec<Value> {
    let path = crate::support::fixture("quotas/bedrock-us-east-1.json");
    let text = fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("reading {}: {error}", path.display()));
    serde_json::from_str(&text)
        .unwrap_or_else(|error| panic!("parsing {}: {error}", path.display()))
}

// --- Seeding through the AWS APIs -----------------------------------------------------------

/// Creates a log group and a log stream in it.
pub async fn create_log_stream(client: &aws_sdk_cloudwatchlogs::Client, group: &str, stream: &str) {
    client
        .create_log_group()
        .log_group_name(group)
        .send()
        .await
        .expect("CreateLogGroup");
    client
        .create_log_stream()
        .log_group_name(group)
        .log_stream_name(stream)
        .send()
        .await
        .expect("CreateLogStream");
}

/// Puts `events` (timestamp in ms since the epoch, message) into a log stream in chronological
/// order, in as few PutLogEvents calls as AWS's limits allow, and returns the number of calls.
/// Panics if the service rejects any event. moto, like AWS, refuses events older than 14 days
/// or more than 2 hours ahead, so seed recent timestamps.
pub async fn put_log_events(
    client: &aws_sdk_cloudwatchlogs::Client,
    group: &str,
    stream: &str,
    events: &[(i64, String)],
) -> usize {
    let mut sorted: Vec<&(i64, String)> = events.iter().collect();
    sorted.sort_by_key(|(timestamp, _)| *timestamp);
    let batches = plan_log_batches(&sorted);
    for batch in &batches {
        let input: Vec<InputLogEvent> = sorted[batch.clone()]
            .iter()
            .map(|(timestamp, message)| {
                InputLogEvent::builder()
                    .timestamp(*timestamp)
                    .message(message)
                    .build()
                    .expect("timestamp and message are set")
            })
            .collect();
        let output = client
            .put_log_events()
            .log_group_name(group)
            .log_stream_name(stream)
            .set_log_events(Some(input))
            .send()
            .await
            .expect("PutLogEvents");
        if let Some(rejected) = output.rejected_log_events_info() {
            panic!("PutLogEvents rejected events of batch {batch:?}: {rejected:?}");
        }
    }
    batches.len()
}

/// Splits chronologically sorted events into PutLogEvents calls: at most 10,000 events, at most
/// 1 MiB (message bytes + 26 per event) and at most 24 hours per call.
pub fn plan_log_batches(sorted_events: &[&(i64, String)]) -> Vec<Range<usize>> {
    let mut batches = Vec::new();
    let mut start = 0;
    let mut bytes = 0;
    for (index, (timestamp, message)) in sorted_events.iter().enumerate() {
        let size = message.len() + PUT_LOG_EVENT_OVERHEAD_BYTES;
        assert!(
            size <= MAX_BYTES_PER_PUT,
            "a log event of {size} bytes is over the PutLogEvents limit"
        );
        let starts_new_batch = index > start
            && (index - start == MAX_EVENTS_PER_PUT
                || bytes + size > MAX_BYTES_PER_PUT
                || timestamp - sorted_events[start].0 > MAX_PUT_SPAN_MS);
        if starts_new_batch {
            batches.push(start..index);
            start = index;
            bytes = 0;
        }
        bytes += size;
    }
    if start < sorted_events.len() {
        batches.push(start..sorted_events.len());
    }
    batches
}

/// Puts metric data in calls of at most 1,000 items; returns the number of calls.
pub async fn put_metric_data(
    client: &aws_sdk_cloudwatch::Client,
    namespace: &str,
    data: Vec<MetricDatum>,
) -> usize {
    let mut calls = 0;
    for chunk in data.chunks(MAX_METRIC_DATA_PER_PUT) {
        client
            .put_metric_data()
            .namespace(namespace)
            .set_metric_data(Some(chunk.to_vec()))
            .send()
            .await
            .expect("PutMetricData");
        calls += 1;
    }
    calls
}

// --- Processes --------------------------------------------------------------------------------

/// The venv's Python: `TIERWATCH_TEST_PYTHON` (relative paths are taken from the repository
/// root), else `.venv/bin/python`.
fn python_path() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = match std::env::var_os("TIERWATCH_TEST_PYTHON") {
        Some(path) => root.join(path),
        None => root.join(".venv/bin/python"),
    };
    assert!(
        python.exists(),
        "the AWS stand-ins need the Python venv with moto, and {} does not exist: run \
         scripts/test once (it provisions .venv from tests/support/aws/requirements.txt), or set \
         TIERWATCH_TEST_PYTHON to a Python that has those packages",
        python.display()
    );
    python
}

fn support_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/aws")
}

/// One Python server child. Its stdout and stderr go to files so that nothing blocks on a full
/// pipe and the stderr can be shown when something goes wrong.
struct PythonProcess {
    name: &'static str,
    url: String,
    child: Child,
    // Held open: the child exits when it reads end-of-file, i.e. when we are gone.
    _stdin: ChildStdin,
    output_dir: tempfile::TempDir,
}

impl PythonProcess {
    /// Starts the process and waits for its "ready <url>" line.
    async fn spawn(name: &'static str, python: &Path, args: &[&std::ffi::OsStr]) -> PythonProcess {
        let output_dir = tempfile::tempdir().expect("a temporary directory for child output");
        let stdout = fs::File::create(output_dir.path().join("stdout")).expect("stdout file");
        let stderr = fs::File::create(output_dir.path().join("stderr")).expect("stderr file");
        let mut child = Command::new(python)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|error| {
                panic!("starting the {name} with {}: {error}", python.display())
            });
        let stdin = child.stdin.take().expect("stdin is piped");
        let mut process = PythonProcess {
            name,
            url: String::new(),
            child,
            _stdin: stdin,
            output_dir,
        };
        process.url = process.wait_for_ready_line().await;
        process
    }

    async fn wait_for_ready_line(&mut self) -> String {
        let started = Instant::now();
        loop {
            let stdout =
                fs::read_to_string(self.output_dir.path().join("stdout")).unwrap_or_default();
            if let Some(url) = stdout.lines().find_map(|line| line.strip_prefix("ready ")) {
                return url.trim().to_string();
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "the {} exited ({status}) before it was ready; its stderr:\n{}",
                    self.name,
                    self.stderr()
                );
            }
            if started.elapsed() > STARTUP_TIMEOUT {
                panic!(
                    "the {} did not print its ready line within {STARTUP_TIMEOUT:?}; its stderr:\n{}",
                    self.name,
                    self.stderr()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn stderr(&self) -> String {
        fs::read_to_string(self.output_dir.path().join("stderr"))
            .unwrap_or_else(|error| format!("(stderr unreadable: {error})"))
    }

    /// Panics unless one request gets a 2xx answer.
    async fn expect_answer(&self, method: &str, path: &str) {
        match http_request(&self.url, method, path, None).await {
            Ok((status, _)) if (200..300).contains(&status) => {}
            Ok((status, body)) => panic!(
                "the {} answered {method} {path} with {status}: {body}\nits stderr:\n{}",
                self.name,
                self.stderr()
            ),
            Err(error) => panic!(
                "the {} at {} does not answer {method} {path}: {error}\nits stderr:\n{}",
                self.name,
                self.url,
                self.stderr()
            ),
        }
    }

    /// One admin request to the front; panics unless it answers 200 with JSON.
    async fn admin(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        let (status, text) = http_request(&self.url, method, path, body)
            .await
            .unwrap_or_else(|error| panic!("{method} {path} on the {}: {error}", self.name));
        assert_eq!(status, 200, "{method} {path} on the {}: {text}", self.name);
        serde_json::from_str(&text)
            .unwrap_or_else(|error| panic!("{method} {path} answered non-JSON ({error}): {text}"))
    }
}

impl Drop for PythonProcess {
    fn drop(&mut self) {
        // Already gone is fine; we only need it not to outlive the test.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A minimal HTTP/1.1 request to a loopback server (`base_url` = `http://127.0.0.1:PORT`):
/// one connection, `Connection: close`, the whole answer read to the end. Enough for the
/// stand-ins' admin endpoints; a client crate would be more code to configure than this.
async fn http_request(
    base_url: &str,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> std::io::Result<(u16, String)> {
    let address = base_url.strip_prefix("http://").unwrap_or(base_url);
    let payload = body.map(Value::to_string).unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{payload}",
        payload.len()
    );
    let mut stream = TcpStream::connect(address).await?;
    stream.write_all(request.as_bytes()).await?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await?;
    let answer = String::from_utf8_lossy(&answer);
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("not an HTTP answer: {head}")))?;
    Ok((status, body.to_string()))
}
