//! Alerts end to end with real receivers on loopback: an HTTP server taking webhooks (the
//! signature is verified) and Slack messages, and an SMTP server (aiosmtpd, STARTTLS and
//! AUTH required) taking email. A scenario drives simulated traffic through a Priority
//! budget (50 % warning, 100 % critical, then the next month) and a Flex latency spike
//! (pending → firing → resolved), one `tierwatch` process per step so every step is a
//! daemon restart, and checks the exact sequence of notifications on every channel.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use tierwatch::alerts::channels::hmac_sha256_hex;

use crate::daemon::text;
use crate::support::fixture;

const SECRET: &str = "webhook-secret-for-tests";

/// What the HTTP receiver got.
#[derive(Debug, Clone)]
struct Received {
    path: String,
    body: serde_json::Value,
    signature_ok: Option<bool>,
}

#[derive(Clone, Default)]
struct Receiver {
    received: Arc<Mutex<Vec<Received>>>,
    /// Answers 503 to this many webhook requests before accepting (a flaky receiver).
    failures_left: Arc<Mutex<u32>>,
}

async fn receive(
    State(receiver): State<Receiver>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    {
        let mut left = receiver.failures_left.lock().unwrap();
        if uri.path() == "/flaky" && *left > 0 {
            *left -= 1;
            return StatusCode::SERVICE_UNAVAILABLE;
        }
    }
    if uri.path() == "/gone" {
        return StatusCode::NOT_FOUND;
    }
    let signature_ok = headers
        .get("x-tierwatch-signature")
        .and_then(|value| value.to_str().ok())
        .map(|value| verify(value, &body));
    let json = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
    receiver.received.lock().unwrap().push(Received {
        path: uri.path().to_string(),
        body: json,
        signature_ok,
    });
    StatusCode::OK
}

/// Checks `t=UNIX,v1=HEX` as a receiver would: HEX = HMAC-SHA256(secret, "UNIX.BODY").
fn verify(header: &str, body: &[u8]) -> bool {
    let mut timestamp = None;
    let mut hex = None;
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", value)) => timestamp = Some(value),
            Some(("v1", value)) => hex = Some(value),
            _ => {}
        }
    }
    let (Some(timestamp), Some(hex)) = (timestamp, hex) else {
        return false;
    };
    let mut signed = format!("{timestamp}.").into_bytes();
    signed.extend_from_slice(body);
    hmac_sha256_hex(SECRET.as_bytes(), &signed) == hex
}

async fn start_receiver() -> (Receiver, u16) {
    let receiver = Receiver::default();
    let app = axum::Router::new()
        .route("/{*path}", post(receive))
        .with_state(receiver.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (receiver, port)
}

/// The SMTP server, killed when dropped.
struct Smtp {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_smtp(dir: &Path) -> Smtp {
    use std::io::{BufRead as _, BufReader};
    let python = std::env::var("TIERWATCH_TEST_PYTHON").unwrap_or_else(|_| {
        panic!("TIERWATCH_TEST_PYTHON must name the stand-ins venv's python (scripts/test sets it)")
    });
    let mut child = Command::new(python)
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/support/smtp_receiver.py"
        ))
        .args([dir.to_str().unwrap(), "tierwatch", "smtp-password"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("starting the SMTP receiver");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line
        .trim()
        .strip_prefix("LISTENING ")
        .unwrap_or_else(|| panic!("the SMTP receiver said {line:?}"))
        .parse()
        .unwrap();
    Smtp {
        child,
        port,
        dir: dir.to_path_buf(),
    }
}

impl Smtp {
    /// Subjects of the emails received so far, in order.
    fn subjects(&self) -> Vec<String> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "eml"))
            .collect();
        files.sort();
        files
            .iter()
            .map(|path| {
                let mail = std::fs::read_to_string(path).unwrap();
                mail.lines()
                    .find_map(|line| line.strip_prefix("Subject: "))
                    .unwrap_or("")
                    .to_string()
            })
            .collect()
    }

    /// One email, with quoted-printable soft breaks and `=3D` undone (enough for URLs).
    fn mail(&self, index: usize) -> String {
        std::fs::read_to_string(self.dir.join(format!("{:03}.eml", index + 1)))
            .unwrap()
            .replace("=\r\n", "")
            .replace("=3D", "=")
    }
}

fn config(dir: &Path, port: u16, smtp: &Smtp) -> PathBuf {
    let path = dir.join("tierwatch.toml");
    let text = format!(
        r#"
[database]
url = "sqlite://{db}"

# Rules are evaluated as of 2025 (`alerts evaluate --at`), so the minute cells of then are
# kept (by default, imports write none for calls older than 35 days).
[retention]
minute_cells = "36500d"

[alerts]
dashboard_url = "http://tierwatch.test"
retry_after = "1s"

[[alerts.channels]]
name = "hook"
type = "webhook"
url = "http://127.0.0.1:{port}/hook"
secret = "{SECRET}"

[[alerts.channels]]
name = "slack"
type = "slack"
url = "http://127.0.0.1:{port}/slack"

[[alerts.channels]]
name = "mail"
type = "email"
smtp_host = "127.0.0.1"
smtp_port = {smtp_port}
smtp_security = "starttls"
smtp_username = "tierwatch"
smtp_password = "smtp-password"
smtp_ca_file = "{ca}"
from = "tierwatch <tierwatch@example.com>"
to = ["finops@example.com"]

[[alerts.channels]]
name = "flaky"
type = "webhook"
url = "http://127.0.0.1:{port}/flaky"

[[alerts.channels]]
name = "down"
type = "webhook"
url = "http://127.0.0.1:9/nobody-listens"

[[alerts.rules]]
name = "priority-budget"
kind = "priority_spend"
budget_usd = "0.02"
thresholds = [{{ at = 0.5, severity = "warning" }}, {{ at = 1.0, severity = "critical" }}]
repeat = "4h"
channels = ["hook", "slack", "mail", "down"]

[[alerts.rules]]
name = "flex-slow"
kind = "flex_delay"
statistic = "p95"
window = "15m"
threshold = 20000
min_samples = 5
for = "5m"
channels = ["hook", "flaky"]

[reports]
day = 1
hour = 0
dir = "reports"
channels = ["hook", "mail"]
"#,
        db = dir.join("alerts.sqlite").display(),
        smtp_port = smtp.port,
        ca = smtp.dir.join("ca.pem").display(),
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// A config with a database, one webhook channel "hook" and the given rules (TOML).
fn hook_config(dir: &Path, database_url: &str, port: u16, rules: &str) -> PathBuf {
    let path = dir.join("tierwatch.toml");
    let text = format!(
        r#"
[database]
url = "{database_url}"

# Rules are evaluated as of 2025 (`alerts evaluate --at`), so the minute cells of then are
# kept (by default, imports write none for calls older than 35 days).
[retention]
minute_cells = "36500d"

[[alerts.channels]]
name = "hook"
type = "webhook"
url = "http://127.0.0.1:{port}/hook"
{rules}"#
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// The SQLite database the alert test configs use, opened beside the processes.
async fn open_store(dir: &Path) -> tierwatch::store::Store {
    let url = format!("sqlite://{}", dir.join("alerts.sqlite").display());
    tierwatch::store::Store::open(&url).await.unwrap()
}

fn tierwatch(config: &Path, args: &[&str]) -> std::process::Output {
    crate::daemon::tierwatch(config, args).output().unwrap()
}

/// Priority calls of $0.004725 each (10,000 input + 2,000 output tokens of gpt-oss-120b).
fn priority_calls(first: u32, count: u32, at: &str) -> String {
    let template = std::fs::read_to_string(fixture("import/batch-us-east-1.jsonl"))
        .unwrap()
        .lines()
        .nth(2)
        .unwrap()
        .to_string();
    (first..first + count)
        .map(|n| {
            template.replace("2025-11-21T08:00:00Z", at).replace(
                "a0000003-0000-4000-8000-000000000003",
                &format!("b{n:07}-0000-4000-8000-000000000000"),
            ) + "\n"
        })
        .collect()
}

/// Flex streaming calls of gpt-oss-120b with this latency.
fn flex_calls(first: u32, count: u32, at: &str, latency_ms: u32) -> String {
    let template = std::fs::read_to_string(fixture("import/batch-us-east-1.jsonl"))
        .unwrap()
        .lines()
        .nth(3)
        .unwrap()
        .to_string();
    (first..first + count)
        .map(|n| {
            template
                .replace("2025-11-21T09:30:00Z", at)
                .replace(
                    "a0000004-0000-4000-8000-000000000004",
                    &format!("f{n:07}-0000-4000-8000-000000000000"),
                )
                .replace(
                    "\"invocationLatency\":5000",
                    &format!("\"invocationLatency\":{latency_ms}"),
                )
                + "\n"
        })
        .collect()
}

fn import(config: &Path, name: &str, lines: &str) {
    let path = config.parent().unwrap().join(name);
    std::fs::write(&path, lines).unwrap();
    let output = tierwatch(config, &["import", "--no-progress", path.to_str().unwrap()]);
    assert!(output.status.success(), "{}", text(&output.stderr));
}

/// One evaluation as of `at`, in a process of its own (a daemon restart every time). The
/// "down" channel never answers: once its deliveries run out of attempts the command exits 1,
/// which is what cron should see; anything else is a failure of the test.
fn evaluate(config: &Path, at: &str) -> String {
    let output = tierwatch(config, &["alerts", "evaluate", "--at", at]);
    let stdout = text(&output.stdout);
    assert!(
        output.status.success() || (output.status.code() == Some(1) && stdout.contains("failed")),
        "{stdout}\n{}",
        text(&output.stderr)
    );
    stdout
}

/// (notice, rule, severity) of the alert notifications received at `path` (reports apart).
fn sequence(receiver: &Receiver, path: &str) -> Vec<(String, String, String)> {
    receiver
        .received
        .lock()
        .unwrap()
        .iter()
        .filter(|received| received.path == path && received.body["notice"] != "report")
        .map(|received| {
            let body = &received.body;
            (
                body["notice"].as_str().unwrap_or("").to_string(),
                body["rule"].as_str().unwrap_or("").to_string(),
                body["severity"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

fn step(notice: &str, rule: &str, severity: &str) -> (String, String, String) {
    (notice.into(), rule.into(), severity.into())
}

// Multi-threaded: the receivers run on the runtime while the test waits for tierwatch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn budget_and_flex_delay_notify_once_each_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let mail_dir = tempfile::tempdir().unwrap();
    let smtp = start_smtp(mail_dir.path());
    let (receiver, port) = start_receiver().await;
    *receiver.failures_left.lock().unwrap() = 1;
    let config = config(dir.path(), port, &smtp);
    let check = tierwatch(&config, &["check-config"]);
    assert!(check.status.success(), "{}", text(&check.stderr));
    let shown = text(&check.stdout);
    assert!(
        shown.contains(
            "alert rules:     2 (priority-budget = priority_spend, flex-slow = flex_delay)"
        ),
        "{shown}"
    );
    assert!(
        shown.contains("monthly report:  day 1 from 00:00 UTC"),
        "{shown}"
    );
    assert!(
        !shown.contains("smtp-password") && !shown.contains(SECRET),
        "no secrets shown"
    );

    // 2 calls = $0.00945 (47 % of $0.02): nothing.
    import(
        &config,
        "p1.jsonl",
        &priority_calls(0, 2, "2025-12-05T09:00:00Z"),
    );
    evaluate(&config, "2025-12-05T12:00:00Z");
    assert!(sequence(&receiver, "/hook").is_empty());
    // 3 calls = $0.014175 (71 %): the warning fires, once, on every channel.
    import(
        &config,
        "p2.jsonl",
        &priority_calls(2, 1, "2025-12-05T11:00:00Z"),
    );
    evaluate(&config, "2025-12-05T12:01:00Z");
    evaluate(&config, "2025-12-05T12:02:00Z");
    // 5 calls = $0.023625 (118 %): critical fires; warning stays firing, unrepeated.
    import(
        &config,
        "p3.jsonl",
        &priority_calls(3, 2, "2025-12-05T11:30:00Z"),
    );
    evaluate(&config, "2025-12-05T12:03:00Z");
    // Four hours after firing, both repeat once.
    evaluate(&config, "2025-12-05T16:03:00Z");
    evaluate(&config, "2025-12-05T16:04:00Z");

    // A Flex latency spike: 6 calls of 40 s in the 15-minute window. Pending first (the
    // rule wants 5 minutes), firing after 5 minutes, resolved once fast calls replace it.
    // Meanwhile the budget, still over, repeats once more (18 h after the last repeat).
    import(
        &config,
        "f1.jsonl",
        &flex_calls(0, 6, "2025-12-06T10:00:00Z", 40_000),
    );
    evaluate(&config, "2025-12-06T10:05:00Z");
    assert_eq!(
        sequence(&receiver, "/hook").len(),
        6,
        "the budget's two repeats; the pending Flex alert sends nothing"
    );
    evaluate(&config, "2025-12-06T10:10:00Z");
    import(
        &config,
        "f2.jsonl",
        &flex_calls(6, 8, "2025-12-06T10:30:00Z", 3_000),
    );
    evaluate(&config, "2025-12-06T10:35:00Z");
    evaluate(&config, "2025-12-06T10:36:00Z");

    // Next month: last month's budget alerts resolve; the new month starts clean.
    evaluate(&config, "2026-01-01T00:10:00Z");
    evaluate(&config, "2026-01-01T00:20:00Z");

    let expected = vec![
        step("firing", "priority-budget", "warning"),
        step("firing", "priority-budget", "critical"),
        step("repeat", "priority-budget", "warning"),
        step("repeat", "priority-budget", "critical"),
        step("repeat", "priority-budget", "warning"),
        step("repeat", "priority-budget", "critical"),
        step("firing", "flex-slow", "warning"),
        step("resolved", "flex-slow", "warning"),
        step("resolved", "priority-budget", "warning"),
        step("resolved", "priority-budget", "critical"),
    ];
    assert_eq!(sequence(&receiver, "/hook"), expected);
    let received = receiver.received.lock().unwrap().clone();
    assert!(
        received
            .iter()
            .filter(|r| r.path == "/hook")
            .all(|r| r.signature_ok == Some(true)),
        "every webhook is signed with the secret"
    );
    let first = &received
        .iter()
        .find(|r| r.path == "/hook" && r.body["notice"] != "report")
        .unwrap()
        .body;
    assert_eq!(first["version"], 1);
    assert_eq!(first["period"], "2025-12");
    assert_eq!(first["threshold"], 0.01);
    assert_eq!(
        first["link"],
        "http://tierwatch.test/?month=2025-12&tier=priority"
    );
    // Slack gets the budget rule's eight notifications as text.
    let slack: Vec<String> = received
        .iter()
        .filter(|r| r.path == "/slack")
        .map(|r| r.body["text"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(slack.len(), 8, "{slack:#?}");
    assert!(
        slack[0].contains("[FIRING warning] priority-budget"),
        "{}",
        slack[0]
    );
    // The flaky webhook failed once and got both flex notifications on retry, in order.
    assert_eq!(
        sequence(&receiver, "/flaky"),
        vec![
            step("firing", "flex-slow", "warning"),
            step("resolved", "flex-slow", "warning")
        ]
    );
    // Scheduled reports: November's at the first evaluation (it was due since Dec 1),
    // December's on Jan 1; each once, to the webhook (with a link) and by email (attached).
    let reports: Vec<(String, String)> = received
        .iter()
        .filter(|r| r.path == "/hook" && r.body["notice"] == "report")
        .map(|r| {
            (
                r.body["period"].as_str().unwrap().to_string(),
                r.body["link"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        reports,
        vec![
            (
                "2025-11".into(),
                "http://tierwatch.test/reports/2025-11.csv".into()
            ),
            (
                "2025-12".into(),
                "http://tierwatch.test/reports/2025-12.csv".into()
            ),
        ]
    );
    let december =
        std::fs::read_to_string(dir.path().join("reports/tierwatch-2025-12.csv")).unwrap();
    assert!(
        december
            .lines()
            .last()
            .unwrap()
            .starts_with("2025-12,total,"),
        "{december}"
    );
    // Email: the budget rule's eight and the two reports, through STARTTLS and AUTH, in order.
    let mut subjects = smtp.subjects();
    let report_mails: Vec<usize> = subjects
        .iter()
        .enumerate()
        .filter(|(_, subject)| subject.starts_with("[REPORT"))
        .map(|(index, _)| index)
        .collect();
    assert_eq!(report_mails.len(), 2, "{subjects:#?}");
    let last_report = smtp.mail(report_mails[1]);
    assert!(
        last_report.contains("tierwatch-2025-12.csv")
            && last_report.contains("tierwatch-2025-12.json")
    );
    subjects.retain(|subject| !subject.starts_with("[REPORT"));
    assert_eq!(subjects.len(), 8, "{subjects:#?}");
    assert!(
        subjects[0].starts_with("[FIRING warning] priority-budget"),
        "{}",
        subjects[0]
    );
    assert!(
        subjects[7].starts_with("[RESOLVED critical] priority-budget"),
        "{}",
        subjects[7]
    );
    let first_alert_mail = (0..).find(|index| !report_mails.contains(index)).unwrap();
    assert!(
        smtp.mail(first_alert_mail)
            .contains("http://tierwatch.test/?month=2025-12&tier=priority")
    );

    // The dashboard's alerts page shows the rules, the alerts and every notification with
    // its deliveries (the channel that never answers is failing, not lost).
    let loaded =
        tierwatch::config::Config::load(Some(&config), &tierwatch::config::ProcessEnvironment)
            .unwrap();
    let store = open_store(dir.path()).await;
    let app = tierwatch::dashboard::router(
        tierwatch::dashboard::AppState::new(store, None).with_alerts(loaded.alerts),
    );
    let page = crate::dashboard::get(&app, "/api/v1/alerts").await.json();
    assert_eq!(page["rules"].as_array().unwrap().len(), 2);
    assert_eq!(
        page["history"].as_array().unwrap().len(),
        12,
        "10 alerts + 2 reports"
    );
    let statuses: Vec<String> = page["history"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|line| line["deliveries"].as_array().unwrap().clone())
        .filter(|delivery| delivery["channel"] == "down")
        .map(|delivery| delivery["status"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(statuses.len(), 8);
    assert!(
        statuses.iter().all(|status| status != "sent"),
        "{statuses:?}"
    );
    let html = crate::dashboard::get(&app, "/alerts").await;
    assert_eq!(html.status, axum::http::StatusCode::OK);
    assert!(html.body.contains("priority-budget") && html.body.contains("flex-slow"));

    // The channel that never answers kept failing without holding the others up, and is
    // listed as retrying in the state.
    let list = tierwatch(&config, &["alerts", "list"]);
    let listing = text(&list.stdout);
    assert!(listing.contains("priority-budget"), "{listing}");
    assert!(listing.contains("resolved"), "{listing}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_test_sends_through_every_channel_of_a_rule_and_reports_failures() {
    let dir = tempfile::tempdir().unwrap();
    let mail_dir = tempfile::tempdir().unwrap();
    let smtp = start_smtp(mail_dir.path());
    let (receiver, port) = start_receiver().await;
    let config = config(dir.path(), port, &smtp);
    let output = tierwatch(&config, &["alerts", "test", "priority-budget"]);
    let shown = text(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(1),
        "the down channel fails: {shown}"
    );
    assert!(
        shown.contains("hook: sent") && shown.contains("slack: sent"),
        "{shown}"
    );
    assert!(shown.contains("mail: sent"), "{shown}");
    assert!(shown.contains("down: FAILED"), "{shown}");
    assert_eq!(
        sequence(&receiver, "/hook"),
        vec![step("test", "priority-budget", "info")]
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while smtp.subjects().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(smtp.subjects()[0].starts_with("[TEST info] priority-budget"));
    let unknown = tierwatch(&config, &["alerts", "test", "nope"]);
    assert!(!unknown.status.success());
    assert!(text(&unknown.stderr).contains("no rule is named \"nope\""));
}

/// Two daemons on one Postgres database evaluate the same rule every second: one alert, one
/// notification, also after the replicas are killed and restarted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_on_postgres_notify_once() {
    let db = crate::support::TestDb::new(crate::support::Backend::Postgres).await;
    let dir = tempfile::tempdir().unwrap();
    let (receiver, port) = start_receiver().await;
    let config = dir.path().join("tierwatch.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[database]
url = "{url}"

[alerts]
interval = "1s"

[[alerts.channels]]
name = "hook"
type = "webhook"
url = "http://127.0.0.1:{port}/hook"

[[alerts.rules]]
name = "unpriced-today"
kind = "unpriced_spend"
channels = ["hook"]
"#,
            url = db.url
        ),
    )
    .unwrap();
    // Calls of a model the price table doesn't know, made just now.
    let template = std::fs::read_to_string(fixture("import/batch-us-east-1.jsonl"))
        .unwrap()
        .lines()
        .nth(5)
        .unwrap()
        .to_string();
    let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let unpriced = |n: u32| {
        template.replace("2025-11-22T12:01:00Z", &now).replace(
            "a0000006-0000-4000-8000-000000000006",
            &format!("c{n:07}-0000-4000-8000-000000000000"),
        ) + "\n"
    };
    import(&config, "u1.jsonl", &unpriced(1));

    let serve = || {
        crate::daemon::tierwatch(&config, &["serve"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let mut first = serve();
    let mut second = serve();
    let notifications = || sequence(&receiver, "/hook");
    let deadline = Instant::now() + Duration::from_secs(30);
    while notifications().is_empty() {
        assert!(Instant::now() < deadline, "no notification within 30 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Several evaluation intervals on both replicas: still one.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(
        notifications(),
        vec![step("firing", "unpriced-today", "warning")]
    );
    // Kill one replica hard (whichever leads or not), add data, restart it: still one.
    first.kill().unwrap();
    first.wait().unwrap();
    import(&config, "u2.jsonl", &unpriced(2));
    first = serve();
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(
        notifications(),
        vec![step("firing", "unpriced-today", "warning")]
    );
    for child in [&mut first, &mut second] {
        child.kill().unwrap();
        child.wait().unwrap();
    }
    let states = db.store.alert_states().await.unwrap();
    assert_eq!(states.len(), 1);
    assert_eq!(states[0].state, "firing");
    assert_eq!(states[0].value, Some(2.0), "the second call is counted");
    db.finish().await;
}

/// `check-config` rejects bad rules with the rule's name and the reason, all at once.
#[test]
fn check_config_names_each_bad_rule_and_why() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tierwatch.toml");
    std::fs::write(
        &config,
        r#"
[[alerts.channels]]
name = "hook"
type = "webhook"
url = "https://hooks.example.com/x"

[[alerts.rules]]
name = "budget-without-budget"
kind = "priority_spend"
threshold = 0.8
channels = ["hook"]

[[alerts.rules]]
name = "slow-flex-per-team"
kind = "flex_delay"
threshold = 20000
scope = { metadata = { team = "search" } }
channels = ["hook"]

[[alerts.rules]]
name = "to-nowhere"
kind = "unpriced_spend"
channels = ["pager"]

[reports]
day = 31
"#,
    )
    .unwrap();
    let output = tierwatch(&config, &["check-config"]);
    assert_eq!(output.status.code(), Some(2));
    let errors = text(&output.stderr);
    for expected in [
        "alerts.rules[budget-without-budget].budget_usd: a priority_spend rule needs a budget",
        "alerts.rules[slow-flex-per-team].scope: latency is not kept per caller",
        "alerts.rules[to-nowhere].channels: no channel is named \"pager\"",
        "reports.day: 31: expected a day from 1 to 28",
    ] {
        assert!(
            errors.contains(expected),
            "missing {expected:?} in:\n{errors}"
        );
    }
}

/// A caller-scoped rolling window at an instant before the fine cells' horizon covers the
/// days it touches: retention keeps the hour cells of callers as long as minute cells
/// (`retention.minute_cells`, 35 days by default), and calls older than that count in the
/// day cells of their callers only. Reading hours there would see nothing and stay quiet.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caller_rules_before_the_fine_cells_horizon_read_days() {
    let dir = tempfile::tempdir().unwrap();
    let (receiver, port) = start_receiver().await;
    let config = dir.path().join("tierwatch.toml");
    let text = format!(
        r#"
[database]
url = "sqlite://{db}"

[[alerts.channels]]
name = "hook"
type = "webhook"
url = "http://127.0.0.1:{port}/hook"

[[alerts.rules]]
name = "chat-api-priority-6h"
kind = "priority_spend"
budget_usd = "0.01"
window = "6h"
scope = {{ caller = "arn:aws:sts::111122223333:assumed-role/chat-api/web" }}
threshold = 1.0
severity = "critical"
channels = ["hook"]
"#,
        db = dir.path().join("alerts.sqlite").display()
    );
    std::fs::write(&config, text).unwrap();
    // Four Priority calls of that caller ($0.0189), a year before today.
    import(
        &config,
        "calls.jsonl",
        &priority_calls(1, 4, "2025-12-05T08:00:00Z"),
    );
    evaluate(&config, "2025-12-05T12:00:00Z");
    assert_eq!(
        sequence(&receiver, "/hook"),
        vec![step("firing", "chat-api-priority-6h", "critical")]
    );
    let states = open_store(dir.path()).await.alert_states().await.unwrap();
    let value = states[0].value.unwrap();
    assert!((value - 0.0189).abs() < 1e-12, "{value}");
}

/// A forecast budget fires while the month's spend is still under budget, once the run rate
/// projects past it; a staleness rule fires when no call has arrived for its minutes, and
/// resolves when calls come back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forecast_budgets_and_staleness_fire_on_their_own_terms() {
    let dir = tempfile::tempdir().unwrap();
    let (receiver, port) = start_receiver().await;
    let config = hook_config(
        dir.path(),
        &format!("sqlite://{}", dir.path().join("alerts.sqlite").display()),
        port,
        r#"
[[alerts.rules]]
name = "on-course-to-overspend"
kind = "priority_spend"
budget_usd = "0.1"
forecast = true
threshold = 1.0
severity = "critical"
channels = ["hook"]

[[alerts.rules]]
name = "no-data"
kind = "staleness"
threshold = 30
channels = ["hook"]
"#,
    );
    // One Priority call ($0.004725) a day, Dec 1–7: $0.033 so far, a third of the budget;
    // at this rate the month ends at about $0.15, past the $0.10 budget.
    let mut lines = String::new();
    for day in 1..=7u32 {
        lines.push_str(&priority_calls(
            day,
            1,
            &format!("2025-12-{day:02}T09:00:00Z"),
        ));
    }
    import(&config, "week.jsonl", &lines);
    // On Dec 2 the rate of the last 7 whole days (one call) projects about $0.03: quiet.
    evaluate(&config, "2025-12-02T09:20:00Z");
    assert_eq!(sequence(&receiver, "/hook"), vec![]);
    evaluate(&config, "2025-12-08T08:00:00Z");
    // No call since Dec 7 09:00: by Dec 8 08:00 the data is 23 hours stale.
    assert_eq!(
        sequence(&receiver, "/hook"),
        vec![
            step("firing", "on-course-to-overspend", "critical"),
            step("firing", "no-data", "warning"),
        ]
    );
    let forecast = receiver.received.lock().unwrap()[0].body.clone();
    assert!(
        forecast["summary"]
            .as_str()
            .unwrap()
            .contains("forecast for the month")
    );
    assert!(forecast["value"].as_f64().unwrap() > 0.1);
    // Calls again: the data is fresh and the staleness alert resolves.
    import(
        &config,
        "fresh.jsonl",
        &priority_calls(100, 1, "2025-12-08T08:05:00Z"),
    );
    evaluate(&config, "2025-12-08T08:10:00Z");
    assert_eq!(
        sequence(&receiver, "/hook")[2],
        step("resolved", "no-data", "warning")
    );

    // A source failing since its last success 42 minutes ago is stale on its own (the data
    // itself is fresh); its next success resolves it.
    let store = open_store(dir.path()).await;
    let minute_ms = 60_000;
    let at_ms = 1_765_181_520_000; // 2025-12-08T08:12:00Z
    let health = |success_ms: i64, error: Option<&str>| tierwatch::store::SourceHealth {
        source: "prod".into(),
        kind: "logs".into(),
        daemon_id: "test".into(),
        last_attempt_ms: at_ms,
        last_success_ms: Some(success_ms),
        last_error: error.map(str::to_string),
        consecutive_failures: 0,
        lag_ms: None,
        items_last_cycle: 0,
        api_calls_last_cycle: 1,
        cycle_ms: 10,
    };
    let fresh = priority_calls(101, 1, "2025-12-08T08:11:00Z");
    import(&config, "fresher.jsonl", &fresh);
    store
        .record_health(&health(
            at_ms - 42 * minute_ms,
            Some("AccessDeniedException"),
        ))
        .await
        .unwrap();
    evaluate(&config, "2025-12-08T08:12:00Z");
    let received = receiver.received.lock().unwrap().clone();
    let last = &received.last().unwrap().body;
    assert_eq!(last["notice"], "firing");
    assert_eq!(last["instance"], "source prod logs");
    assert!(
        last["summary"]
            .as_str()
            .unwrap()
            .contains("AccessDeniedException")
    );
    store.record_health(&health(at_ms, None)).await.unwrap();
    evaluate(&config, "2025-12-08T08:13:00Z");
    let received = receiver.received.lock().unwrap().clone();
    let last = &received.last().unwrap().body;
    assert_eq!(
        (last["notice"].as_str(), last["instance"].as_str()),
        (Some("resolved"), Some("source prod logs"))
    );
    assert_eq!(received.len(), 5, "nothing else was sent");
}

/// Flex against Standard for the same model (one alert per model), and the Flex error rate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flex_is_judged_against_standard_per_model_and_by_its_error_rate() {
    let dir = tempfile::tempdir().unwrap();
    let (receiver, port) = start_receiver().await;
    let config = hook_config(
        dir.path(),
        &format!("sqlite://{}", dir.path().join("alerts.sqlite").display()),
        port,
        &format!(
            r#"
[[alerts.channels]]
name = "gone"
type = "webhook"
url = "http://127.0.0.1:{port}/gone"

[[alerts.rules]]
name = "flex-vs-standard"
kind = "flex_delay"
statistic = "p50"
vs_standard = true
threshold = 2.0
min_samples = 3
channels = ["hook", "gone"]

[[alerts.rules]]
name = "flex-errors"
kind = "flex_error_rate"
threshold = 0.3
min_samples = 3
channels = ["hook"]

[[alerts.rules]]
name = "flex-first-token"
kind = "flex_delay"
statistic = "ttft_p95"
threshold = 500
min_samples = 3
channels = ["hook"]

[[alerts.rules]]
name = "flex-output-speed"
kind = "flex_delay"
statistic = "output_tokens_per_second"
threshold = 200
min_samples = 3
channels = ["hook"]
"#
        ),
    );
    let at = "2025-12-06T10:00:00Z";
    let standard = flex_calls(0, 4, at, 1_000).replace(
        "\"requestMetadata\":{\"service_tier\":\"flex\"",
        "\"requestMetadata\":{\"service_tier\":\"standard\"",
    );
    let failed = flex_calls(10, 2, at, 900).replace(
        "\"schemaVersion\":\"1.0\",",
        "\"schemaVersion\":\"1.0\",\"errorCode\":\"ModelErrorException\",",
    );
    let lines = standard + &flex_calls(20, 4, at, 5_000) + &failed;
    import(&config, "calls.jsonl", &lines);
    evaluate(&config, "2025-12-06T10:05:00Z");
    let received = receiver.received.lock().unwrap().clone();
    let seen: Vec<(String, String, String)> = received
        .iter()
        .map(|r| {
            (
                r.body["rule"].as_str().unwrap().to_string(),
                r.body["instance"].as_str().unwrap().to_string(),
                r.body["notice"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        vec![
            (
                "flex-vs-standard".to_string(),
                "openai.gpt-oss-120b-1:0".to_string(),
                "firing".to_string()
            ),
            (
                "flex-errors".to_string(),
                String::new(),
                "firing".to_string()
            ),
            (
                "flex-first-token".to_string(),
                String::new(),
                "firing".to_string()
            ),
            (
                "flex-output-speed".to_string(),
                String::new(),
                "firing".to_string()
            ),
        ]
    );
    // p50 of 5,000 ms against 1,000 ms (±4.5 % histogram bins): about 5×.
    let ratio = received[0].body["value"].as_f64().unwrap();
    assert!((4.5..5.5).contains(&ratio), "{ratio}");
    assert!(
        received[0].body["summary"]
            .as_str()
            .unwrap()
            .contains("× Standard")
    );
    // 2 of 6 Flex calls failed.
    let rate = received[1].body["value"].as_f64().unwrap();
    assert!((rate - 2.0 / 6.0).abs() < 1e-9, "{rate}");
    // Every Flex call's first byte came after 800 ms (bin middle 809 ms).
    let first_token = received[2].body["value"].as_f64().unwrap();
    assert!((760.0..840.0).contains(&first_token), "{first_token}");
    // 6 × 600 output tokens over 4 × 5 s + 2 × 0.9 s: 165 tokens/s, under 200.
    let speed = received[3].body["value"].as_f64().unwrap();
    assert!((speed - 3_600.0 / 21.8).abs() < 1e-6, "{speed}");
    // A receiver that answers 404 refused the request itself: failed at once, not retried.
    let store = open_store(dir.path()).await;
    let gone: Vec<_> = store
        .deliveries_since(0)
        .await
        .unwrap()
        .into_iter()
        .filter(|delivery| delivery.channel == "gone")
        .collect();
    assert_eq!(gone.len(), 1);
    assert_eq!((gone[0].status.as_str(), gone[0].attempts), ("failed", 1));
    assert!(gone[0].last_error.as_deref().unwrap().contains("HTTP 404"));
}

/// Flex throttling from CloudWatch metrics and quota headroom from the logs' busiest minute.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttle_rate_and_quota_headroom_rules_read_metrics_and_quotas() {
    use tierwatch::store::{MetricPoint, MetricSeriesKey, MetricWindow, QuotaRecord};
    let dir = tempfile::tempdir().unwrap();
    let (receiver, port) = start_receiver().await;
    let url = format!("sqlite://{}", dir.path().join("alerts.sqlite").display());
    let config = hook_config(
        dir.path(),
        &url,
        port,
        r#"
[[alerts.rules]]
name = "flex-throttled"
kind = "flex_throttle_rate"
threshold = 0.1
min_samples = 10
channels = ["hook"]

[[alerts.rules]]
name = "tpm-headroom"
kind = "quota_headroom"
threshold = 0.5
channels = ["hook"]
"#,
    );
    // One Priority call of 12,000 tokens at 10:00: 60 % of a 20,000 TPM quota.
    import(
        &config,
        "calls.jsonl",
        &priority_calls(0, 1, "2025-12-06T10:00:00Z"),
    );
    let store = tierwatch::store::Store::open(&url).await.unwrap();
    store.migrate().await.unwrap();
    let model = "openai.gpt-oss-120b-1:0";
    let series = |metric: &str| MetricSeriesKey {
        source: "test".into(),
        account_id: "111122223333".into(),
        region: "us-east-1".into(),
        metric_name: metric.into(),
        dimensions: format!(r#"[["ModelId","{model}"],["ResolvedServiceTier","flex"]]"#),
        statistic: "Sum".into(),
        model_called: model.into(),
        model_id: model.into(),
        tier: "flex".into(),
        tier_form: "resolved_dimension".into(),
    };
    let minute = 1_765_015_200; // 2025-12-06T10:00:00Z
    store
        .write_metric_window(&MetricWindow {
            series: vec![series("InvocationThrottles"), series("Invocations")],
            points: vec![
                MetricPoint {
                    series: 0,
                    minute_start: minute,
                    value: 5.0,
                },
                MetricPoint {
                    series: 1,
                    minute_start: minute,
                    value: 20.0,
                },
            ],
            checkpoint: None,
        })
        .await
        .unwrap();
    let quota = QuotaRecord {
        source: "test".into(),
        account_id: "111122223333".into(),
        region: "us-east-1".into(),
        quota_code: "L-TPM".into(),
        quota_name: "On-demand model inference tokens per minute for OpenAI GPT OSS 120B".into(),
        value: 20_000.0,
        adjustable: Some(true),
        scope: "on_demand".into(),
        quota_kind: "tokens_per_minute".into(),
        model_name: Some("OpenAI GPT OSS 120B".into()),
        model_id: Some(model.into()),
        fetched_ms: 0,
    };
    store.replace_quotas("test", &[quota]).await.unwrap();
    evaluate(&config, "2025-12-06T10:05:00Z");
    let received = receiver.received.lock().unwrap().clone();
    let rules: Vec<&str> = received
        .iter()
        .map(|r| r.body["rule"].as_str().unwrap())
        .collect();
    assert_eq!(rules, ["flex-throttled", "tpm-headroom"]);
    // 5 throttled of 25 requests.
    assert_eq!(received[0].body["value"], 0.2);
    // 40 % headroom left, under the 50 % threshold; the quota is the instance.
    let headroom = received[1].body["value"].as_f64().unwrap();
    assert!((headroom - 0.4).abs() < 1e-9, "{headroom}");
    assert_eq!(
        received[1].body["instance"],
        format!("111122223333/us-east-1/{model}/tokens_per_minute")
    );
}
