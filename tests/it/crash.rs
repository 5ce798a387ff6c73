//! Crash safety of imports: `kill -9` in the middle of an import, at several points, then
//! import again. The stored totals must equal one clean import exactly: every batch commits
//! its invocations, rollups and quarantine together or not at all, and re-reading is
//! idempotent.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tierwatch::report;
use tierwatch::simulate::{S3LayoutOptions, SimulationSpec, Simulator, write_s3_layout};

use crate::support::{BACKENDS, TestDb, assert_tier_cells_agree, fixture};

const RECORDS: u64 = 24_000;

fn generate(dir: &Path) {
    let spec = SimulationSpec::month(2025, 12, RECORDS, 11);
    let simulator = Simulator::new(&spec).unwrap();
    write_s3_layout(simulator, dir, &S3LayoutOptions::default()).unwrap();
}

fn import_command(url: &str, logs: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tierwatch"));
    command
        .args(["--database-url", url, "import", "--no-progress"])
        .arg(logs)
        .env(
            "TIERWATCH_PRICING_TABLE",
            fixture("pricing/launch-us-east-1.toml"),
        )
        // The hand-computed expectations price with the test table alone.
        .env("TIERWATCH_AWS_PRICE_LIST", "false")
        .env("TIERWATCH_BATCH_SIZE", "1000")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    command
}

async fn report_and_quarantine(db: &TestDb) -> (String, i64) {
    let month = "2025-12".parse().unwrap();
    let csv = report::build(&db.store, month).await.unwrap().to_csv();
    let quarantined = db
        .store
        .quarantine_groups()
        .await
        .unwrap()
        .iter()
        .map(|group| group.records)
        .sum();
    (csv, quarantined)
}

#[tokio::test]
async fn killing_an_import_at_any_point_loses_and_doubles_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    generate(&logs);
    let all = (i64::MIN / 2, i64::MAX / 2);

    for backend in BACKENDS {
        let clean = TestDb::new(backend).await;
        let status = import_command(&clean.url, &logs).status().unwrap();
        assert!(status.success());
        let expected = report_and_quarantine(&clean).await;
        let expected_count = clean.store.count_invocations(all.0, all.1).await.unwrap();
        assert!(expected_count > 20_000, "{expected_count}");

        let crashed = TestDb::new(backend).await;
        let mut kills = 0;
        for stop_at in [1, expected_count / 3, expected_count * 2 / 3] {
            let mut child = import_command(&crashed.url, &logs).spawn().unwrap();
            let started = Instant::now();
            loop {
                let stored = crashed.store.count_invocations(all.0, all.1).await.unwrap();
                if stored >= stop_at || started.elapsed() > Duration::from_secs(120) {
                    break;
                }
                if child.try_wait().unwrap().is_some() {
                    break; // finished before the kill point: nothing to kill this round
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            if child.try_wait().unwrap().is_none() {
                child.kill().unwrap(); // SIGKILL
                kills += 1;
            }
            child.wait().unwrap();
        }
        assert!(
            kills >= 2,
            "{backend:?}: the import finished too fast to be killed"
        );
        let status = import_command(&crashed.url, &logs).status().unwrap();
        assert!(status.success());

        assert_eq!(
            crashed.store.count_invocations(all.0, all.1).await.unwrap(),
            expected_count,
            "{backend:?}"
        );
        assert_eq!(
            report_and_quarantine(&crashed).await,
            expected,
            "{backend:?}"
        );
        assert_tier_cells_agree(&crashed, backend).await;
        clean.finish().await;
        crashed.finish().await;
    }
}
