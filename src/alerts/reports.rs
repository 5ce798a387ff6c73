//! Scheduled monthly reports: from the configured day and hour of each month, last month's
//! report is written as CSV and JSON to the report directory and announced through the
//! configured channels (emails carry both files; webhooks get a link). A month is sent once:
//! its run is recorded with its notification in one transaction.

use std::path::Path;

use chrono::{DateTime, Datelike, Timelike};

use crate::config::{AlertsConfig, ReportSchedule};
use crate::report::{self, Month};
use crate::store::alerts::NewEvent;
use crate::store::{Result, Store, StoreError};

/// The month whose report is due at `now_s`, if the schedule's day and hour have come.
pub fn due_month(schedule: &ReportSchedule, now_s: i64) -> Option<Month> {
    let now = DateTime::from_timestamp(now_s, 0)?;
    let reached = (now.day(), now.hour()) >= (schedule.day, schedule.hour);
    let this_month = Month::containing(now_s * 1000)?;
    reached.then(|| this_month.previous())
}

/// Writes and announces last month's report when it is due and not yet sent. Returns the
/// month sent.
pub async fn run_schedule(
    store: &Store,
    config: &AlertsConfig,
    now_ms: i64,
) -> Result<Option<Month>> {
    let Some(schedule) = &config.reports else {
        return Ok(None);
    };
    let Some(month) = due_month(schedule, now_ms / 1000) else {
        return Ok(None);
    };
    let name = month.to_string();
    if store.report_run(&name).await?.is_some() {
        return Ok(None);
    }
    let report = report::build_for(store, month, &config.report_pricing)
        .await
        .map_err(|error| match error {
            report::ReportError::Store(error) => error,
            report::ReportError::Prices(message) => StoreError::Inconsistent(message),
        })?;
    let files = write_files(&schedule.dir, month, &report.to_csv(), &report.to_json())?;
    let total = &report.total;
    let event = NewEvent {
        alert_key: format!("report|{name}"),
        rule: "monthly-report".into(),
        kind: "report".into(),
        instance: String::new(),
        severity: "info".into(),
        period: name.clone(),
        notice: "report".into(),
        // No value when no call of the month has a price: unknown, not $0.
        value: total.cost().known_pico().map(|pico| pico as f64 / 1e12),
        threshold: None,
        shown: format!(
            "tier cost report for {name}: {} in {} calls; Priority premium {}, Flex savings {}, \
             {} unpriced calls",
            total.cost(),
            total.totals.invocations,
            total.premium(),
            total.savings(),
            total.totals.unpriced_invocations
        ),
        link: match &config.dashboard_url {
            Some(base) => format!("{base}/reports/{name}.csv"),
            None => format!("/reports/{name}.csv"),
        },
        at_ms: now_ms,
        channels: schedule.channels.clone(),
    };
    let recorded = store.record_report_run(&name, &files, &event).await?;
    Ok(recorded.map(|_| month))
}

/// Writes `tierwatch-YYYY-MM.csv` and `.json` (each through a temporary file, so a reader
/// never sees half a report). Returns the paths, one per line.
fn write_files(dir: &Path, month: Month, csv: &str, json: &str) -> Result<String> {
    let fail = |path: &Path, error: std::io::Error| {
        StoreError::Inconsistent(format!("writing the report {}: {error}", path.display()))
    };
    std::fs::create_dir_all(dir).map_err(|error| fail(dir, error))?;
    let mut written = Vec::new();
    for (ext, body) in [("csv", csv), ("json", json)] {
        let path = dir.join(format!("tierwatch-{month}.{ext}"));
        let partial = dir.join(format!(".tierwatch-{month}.{ext}.partial"));
        std::fs::write(&partial, body).map_err(|error| fail(&partial, error))?;
        std::fs::rename(&partial, &path).map_err(|error| fail(&path, error))?;
        written.push(path.display().to_string());
    }
    Ok(written.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(day: u32, hour: u32) -> ReportSchedule {
        ReportSchedule {
            day,
            hour,
            dir: "reports".into(),
            channels: Vec::new(),
        }
    }

    #[test]
    fn last_month_is_due_from_the_configured_day_and_hour() {
        // 2025-12-01T05:59:59Z and 06:00:00Z.
        let before = 1_764_568_799;
        let at = before + 1;
        assert_eq!(due_month(&schedule(1, 6), before), None);
        assert_eq!(
            due_month(&schedule(1, 6), at).map(|m| m.to_string()),
            Some("2025-11".into())
        );
        // Later in the month it stays due (a daemon that was down catches up).
        let mid = at + 10 * 86_400;
        assert_eq!(
            due_month(&schedule(1, 6), mid).map(|m| m.to_string()),
            Some("2025-11".into())
        );
        assert_eq!(due_month(&schedule(15, 0), mid), None);
    }
}
