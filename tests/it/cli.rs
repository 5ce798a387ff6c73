//! The `tierwatch` binary end to end: what a user types, what they see, the exit codes.

use std::path::Path;
use std::process::{Command, Output};

use crate::import::{EXPECTED_CSV, fixture_tree};
use crate::support::{BACKENDS, TestDb, fixture};

/// Runs the binary in `cwd` (so no stray config/tierwatch.toml is picked up) with the test
/// price table.
fn tierwatch(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tierwatch"))
        .args(args)
        .current_dir(cwd)
        .env(
            "TIERWATCH_PRICING_TABLE",
            fixture("pricing/launch-us-east-1.toml"),
        )
        // The hand-computed expectations price with the test table alone.
        .env("TIERWATCH_AWS_PRICE_LIST", "false")
        .env_remove("TIERWATCH_DATABASE_URL")
        .output()
        .expect("the binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test]
async fn import_then_report_through_the_binary() {
    for backend in BACKENDS {
        let db = TestDb::new(backend).await;
        let dir = tempfile::tempdir().unwrap();
        let tree = fixture_tree(dir.path());
        let tree = tree.to_str().unwrap();

        let import = tierwatch(dir.path(), &["--database-url", &db.url, "import", tree]);
        assert!(
            import.status.success(),
            "{backend:?}: {}",
            text(&import.stderr)
        );
        let summary = text(&import.stdout);
        assert!(summary.contains("imported             12"), "{summary}");
        assert!(
            summary.contains("(invalid_json 1, invalid_timestamp 1)"),
            "{summary}"
        );
        assert!(
            summary.contains("Skipped 1 Bedrock body objects"),
            "{summary}"
        );

        let out = dir.path().join("november.csv");
        let report = tierwatch(
            dir.path(),
            &[
                "--database-url",
                &db.url,
                "report",
                "--month",
                "2025-11",
                "--out",
                out.to_str().unwrap(),
            ],
        );
        assert!(report.status.success(), "{}", text(&report.stderr));
        assert_eq!(
            std::fs::read_to_string(&out).unwrap(),
            EXPECTED_CSV,
            "{backend:?}"
        );

        for format in ["json", "markdown"] {
            let rendered = tierwatch(
                dir.path(),
                &[
                    "--database-url",
                    &db.url,
                    "report",
                    "--month",
                    "2025-11",
                    "--format",
                    format,
                ],
            );
            assert!(rendered.status.success());
            assert!(text(&rendered.stdout).contains("0.012123"), "{format}");
        }
        db.finish().await;
    }
}

#[test]
fn the_embedded_sqlite_default_needs_no_database_url() {
    let dir = tempfile::tempdir().unwrap();
    let tree = fixture_tree(dir.path());
    let import = tierwatch(
        dir.path(),
        &["import", "--no-progress", tree.to_str().unwrap()],
    );
    assert!(import.status.success(), "{}", text(&import.stderr));
    assert!(dir.path().join("data/tierwatch.sqlite").is_file());
    let report = tierwatch(dir.path(), &["report", "--month", "2025-11"]);
    assert_eq!(text(&report.stdout), EXPECTED_CSV);
}

#[test]
fn a_missing_path_fails_the_run_but_bad_records_do_not() {
    let dir = tempfile::tempdir().unwrap();
    let missing = tierwatch(dir.path(), &["import", "no/such/dir"]);
    assert!(!missing.status.success());
    assert!(
        text(&missing.stderr).contains("no/such/dir"),
        "{}",
        text(&missing.stderr)
    );

    let garbage = dir.path().join("garbage.json");
    std::fs::write(&garbage, "not json at all\n{\"truncated\": \n").unwrap();
    let bad = tierwatch(dir.path(), &["import", garbage.to_str().unwrap()]);
    assert!(bad.status.success(), "{}", text(&bad.stderr));
    assert!(
        text(&bad.stdout).contains("imported              0"),
        "{}",
        text(&bad.stdout)
    );
}

#[test]
fn the_dashboard_refuses_an_open_address_without_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tw.toml");
    std::fs::write(&config, "[server]\nlisten = \"0.0.0.0:8080\"\n").unwrap();
    let config_arg = config.to_str().unwrap();
    for command in ["check-config", "serve"] {
        let output = tierwatch(dir.path(), &["--config", config_arg, command]);
        assert_eq!(output.status.code(), Some(2), "{command}");
        let errors = text(&output.stderr);
        assert!(
            errors.contains(
                "tw.toml: server.auth_token: refusing to serve the dashboard on 0.0.0.0:8080"
            ),
            "{command}: {errors}"
        );
    }
    std::fs::write(&config, "[server]\nlisten = \"localhost\"\n").unwrap();
    let output = tierwatch(dir.path(), &["--config", config_arg, "check-config"]);
    assert!(
        text(&output.stderr).contains("server.listen: \"localhost\" is not an address"),
        "{}",
        text(&output.stderr)
    );
    std::fs::write(
        &config,
        "[server]\nlisten = \"0.0.0.0:8080\"\nauth_token = \"a-long-enough-secret\"\n",
    )
    .unwrap();
    let output = tierwatch(dir.path(), &["--config", config_arg, "check-config"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let shown = text(&output.stdout);
    assert!(
        shown.contains("dashboard:       http://0.0.0.0:8080/ (auth token required)"),
        "{shown}"
    );
    assert!(
        !shown.contains("a-long-enough-secret"),
        "the token is never printed"
    );
}

#[test]
fn check_config_explains_every_problem_with_file_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tw.toml");
    std::fs::write(
        &config,
        "[database]\nurl = \"mysql://me:secret@db/x\"\n[ingest]\nbatch_size = 0\n",
    )
    .unwrap();
    let output = tierwatch(
        dir.path(),
        &["--config", config.to_str().unwrap(), "check-config"],
    );
    assert_eq!(output.status.code(), Some(2));
    let errors = text(&output.stderr);
    assert!(
        errors.contains("tw.toml: database.url: expected a postgres://"),
        "{errors}"
    );
    assert!(
        errors.contains("tw.toml: ingest.batch_size: expected a whole number"),
        "{errors}"
    );
    assert!(!errors.contains("secret"), "{errors}");

    let good = tierwatch(dir.path(), &["check-config"]);
    assert!(good.status.success(), "{}", text(&good.stderr));
    assert!(
        text(&good.stdout).contains("priced models:   9"),
        "{}",
        text(&good.stdout)
    );

    let prices = dir.path().join("prices.toml");
    std::fs::write(
        &prices,
        "[[price]]\nregion = \"us-east-1\"\nmodel = \"m\"\ntier = \"turbo\"\n",
    )
    .unwrap();
    let bad_prices = Command::new(env!("CARGO_BIN_EXE_tierwatch"))
        .arg("check-config")
        .current_dir(dir.path())
        .env("TIERWATCH_PRICING_TABLE", &prices)
        .output()
        .unwrap();
    assert_eq!(bad_prices.status.code(), Some(2));
    let errors = text(&bad_prices.stderr);
    assert!(errors.contains("prices.toml: price[1].tier"), "{errors}");
}

#[test]
fn demo_is_deterministic_for_a_seed_and_needs_nothing_set_up() {
    let dir = tempfile::tempdir().unwrap();
    let run = |seed: &str| {
        let output = Command::new(env!("CARGO_BIN_EXE_tierwatch"))
            .args([
                "demo",
                "--records",
                "3000",
                "--month",
                "2025-12",
                "--seed",
                seed,
                "--format",
                "csv",
                "--no-serve",
            ])
            .current_dir(dir.path())
            .env_remove("TIERWATCH_DATABASE_URL")
            .env_remove("TIERWATCH_PRICING_TABLE")
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", text(&output.stderr));
        text(&output.stdout)
    };
    let first = run("7");
    assert_eq!(run("7"), first, "same seed, same report");
    assert_ne!(run("8"), first, "another seed, other traffic");
    let total = first.lines().last().unwrap();
    assert!(total.starts_with("2025-12,total,"), "{total}");
    // Every tier shows up, with money on it.
    for tier in ["priority", "standard", "flex"] {
        assert!(
            first.contains(&format!(",{tier},")),
            "{tier} missing:\n{first}"
        );
    }
    assert!(dir.path().join("data/demo.sqlite").is_file());
}

/// `serve` without sources serves the dashboard over stored data, and stops on SIGTERM.
#[test]
fn serve_serves_the_dashboard_and_stops_on_sigterm() {
    use std::io::{BufRead as _, BufReader, Read as _, Write as _};

    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_tierwatch"))
        .arg("serve")
        .current_dir(dir.path())
        .env("TIERWATCH_LISTEN", "127.0.0.1:0")
        .env_remove("TIERWATCH_DATABASE_URL")
        .env_remove("TIERWATCH_AUTH_TOKEN")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while !line.starts_with("Dashboard: ") {
        line.clear();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "serve ended early"
        );
    }
    let address = line
        .trim()
        .trim_start_matches("Dashboard: http://")
        .trim_end_matches('/')
        .to_string();
    let get = |path: &str| {
        let mut stream = std::net::TcpStream::connect(&address).unwrap();
        write!(stream, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        response
    };
    assert!(get("/healthz").starts_with("HTTP/1.0 200"), "healthz");
    let overview = get("/api/v1/overview");
    assert!(overview.starts_with("HTTP/1.0 200"), "{overview}");
    assert!(overview.contains("\"cost_usd\":\"0.000000\""), "{overview}");
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(
        child.wait().unwrap().success(),
        "serve exits cleanly on SIGTERM"
    );
}

/// The demo prices every call but those it makes unknown on purpose: calls through one
/// application inference profile Bedrock would not describe (README, "Two commands").
#[test]
fn the_demo_leaves_only_its_deliberately_unknown_profile_unpriced() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_tierwatch"))
        .args(["demo", "--records", "6000", "--format", "csv", "--no-serve"])
        .current_dir(dir.path())
        .env_remove("TIERWATCH_DATABASE_URL")
        .env_remove("TIERWATCH_PRICING_TABLE")
        .env_remove("TIERWATCH_AWS_PRICE_LIST")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output.stderr));
    let csv = text(&output.stdout);
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let column = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (model, unpriced) = (column("model_id"), column("unpriced_invocations"));
    let mut unpriced_models = Vec::new();
    for line in lines {
        let fields: Vec<&str> = line.split(',').collect();
        if fields.get(1) == Some(&"total") {
            continue;
        }
        if fields[unpriced] != "0" {
            unpriced_models.push(fields[model].to_string());
        }
    }
    assert_eq!(unpriced_models.len(), 1, "{unpriced_models:?}\n{csv}");
    assert!(
        unpriced_models[0].contains(":application-inference-profile/"),
        "{unpriced_models:?}"
    );
    assert!(
        text(&output.stderr).contains("Unpriced on purpose"),
        "{}",
        text(&output.stderr)
    );
}

/// `check-config` names every Price List key a user table overrides, with both rates where
/// they differ.
#[test]
fn check_config_reports_what_the_user_table_overrides() {
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join("pricing.toml");
    std::fs::write(
        &table,
        r#"
[[price]]
region = "us-east-1"
model = "anthropic.claude-sonnet-4-5-20250929-v1:0"
tier = "standard"
effective_from = 2026-01-01
input = "2.97"
output = "14.85"
cache_read = "0.33"
cache_write = "4.125"
source = "EA 2026"

[[price]]
region = "us-east-1"
model = "amazon.nova-pro-v1:0"
tier = "standard"
effective_from = 2026-01-01
input = "0.80"
output = "3.20"
cache_read = "0.20"
"#,
    )
    .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_tierwatch"))
        .arg("check-config")
        .current_dir(dir.path())
        .env("TIERWATCH_PRICING_TABLE", &table)
        .env_remove("TIERWATCH_AWS_PRICE_LIST")
        .env_remove("TIERWATCH_DATABASE_URL")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    assert!(
        stdout.contains("overrides the AWS Price List for 2 region × model × tier × routing keys; 1 with other rates"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "us-east-1 anthropic.claude-sonnet-4-5-20250929-v1:0 standard regional: input 2.97 (Price List 3.3), output 14.85 (Price List 16.5)"
        ),
        "{stdout}"
    );
    assert!(
        !stdout.contains("amazon.nova-pro-v1:0 standard regional:"),
        "{stdout}"
    );
}
