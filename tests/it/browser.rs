//! End to end in a real browser: `tierwatch demo` serves the dashboard while adding live
//! traffic; headless Chromium (Debian's, installed by scripts/test) renders the overview,
//! which must show its charts with no console errors (a blocked style or a broken resource
//! would log one). The screenshot is saved under the target directory.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// Chromium's path: `TIERWATCH_TEST_CHROMIUM`, else Debian's `/usr/bin/chromium`. Missing is a
/// failure, not a skip: scripts/test installs it.
fn chromium() -> PathBuf {
    let path = std::env::var_os("TIERWATCH_TEST_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    assert!(
        path.is_file(),
        "headless Chromium is required for the browser test ({}); scripts/test installs \
         Debian's chromium package",
        path.display()
    );
    path
}

/// Stops the demo when the test ends, however it ends.
struct Demo(Child);

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts the demo and waits for its dashboard line; returns the base URL.
fn start_demo(dir: &Path, port: u16) -> (Demo, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tierwatch"))
        .args(["demo", "--records", "3000", "--live-rate", "20"])
        .current_dir(dir)
        .env("TIERWATCH_LISTEN", format!("127.0.0.1:{port}"))
        .env_remove("TIERWATCH_DATABASE_URL")
        .env_remove("TIERWATCH_AUTH_TOKEN")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let demo = Demo(child);
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(url) = line.strip_prefix("Dashboard: ") {
                let _ = sender.send(url.trim().to_string());
            }
        }
    });
    let url = receiver
        .recv_timeout(Duration::from_secs(180))
        .expect("the demo prints its dashboard URL");
    (demo, url.trim_end_matches('/').to_string())
}

/// A plain HTTP/1.0 GET on loopback: (status line, body).
async fn http_get(port: u16, path: &str) -> (String, String) {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let request = format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    (
        head.lines().next().unwrap_or("").to_string(),
        body.to_string(),
    )
}

/// Runs headless Chromium with the flags this machine's closed network needs.
fn run_chromium(profile: &Path, args: &[&str], url: &str) -> std::process::Output {
    let output = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(url)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Console messages Chromium logged (`[…:INFO:CONSOLE:1] "message", source: …`).
fn console_messages(stderr: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(stderr)
        .lines()
        .filter(|line| line.contains(":CONSOLE"))
        .map(str::to_string)
        .collect()
}

#[tokio::test]
async fn demo_dashboard_renders_charts_in_headless_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let (demo, url) = start_demo(dir.path(), port);
    assert_eq!(url, format!("http://127.0.0.1:{port}"));

    // The demo keeps adding traffic: the last hour's calls grow.
    let calls = |body: &str| -> i64 {
        let json: serde_json::Value = serde_json::from_str(body).unwrap();
        json["total"]["invocations"].as_i64().unwrap()
    };
    let (status, first) = http_get(port, "/api/v1/overview?range=1h").await;
    assert!(status.contains("200"), "{status}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let (_, later) = http_get(port, "/api/v1/overview?range=1h").await;
        if calls(&later) > calls(&first) {
            break;
        }
        assert!(Instant::now() < deadline, "no live traffic arrived in 30 s");
    }

    let profile = tempfile::tempdir().unwrap();
    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("browser");
    std::fs::create_dir_all(&shots).unwrap();
    let screenshot = shots.join("overview.png");
    let _ = std::fs::remove_file(&screenshot);
    let page = format!("{url}/?range=7d");
    let shot = run_chromium(
        profile.path(),
        &[
            "--window-size=1280,2200",
            &format!("--screenshot={}", screenshot.display()),
        ],
        &page,
    );
    let png = std::fs::read(&screenshot).expect("chromium wrote the screenshot");
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    assert!(
        png.len() > 20_000,
        "a screenshot of a rendered page, not a blank one"
    );
    assert_eq!(console_messages(&shot.stderr), Vec::<String>::new());

    let dom = run_chromium(profile.path(), &["--dump-dom"], &page);
    let html = String::from_utf8_lossy(&dom.stdout);
    assert_eq!(html.matches("<svg class=\"chart\"").count(), 3, "{html}");
    assert!(html.matches("class=\"bar\"").count() > 10, "bars are drawn");
    assert!(html.contains("Forecast, month end"));
    assert_eq!(console_messages(&dom.stderr), Vec::<String>::new());
    println!("screenshot: {}", screenshot.display());
    drop(demo);
}

#[test]
fn console_messages_are_found_in_chromium_logs() {
    // As Chromium 156 writes them (a console.error and an uncaught error on a test page).
    let log = b"[24044:24044:1123/172755.060389:INFO:CONSOLE:1] \"boom\", source: file:///t.html (1)\n\
                [24044:24044:1123/172755.061:INFO:CONSOLE:1] \"Uncaught ReferenceError\", source: x\n\
                [24044:24044:1123/172755.062:INFO:other.cc(1)] fine\n";
    assert_eq!(console_messages(log).len(), 2);
}
