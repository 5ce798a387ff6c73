//! `tierwatch status`: how the daemon's sources are doing, quota headroom and coverage gaps.

use std::process::ExitCode;

use anyhow::Result;

use super::{exit_code, open_configured_store, outln};
use crate::config::Config;
use crate::store::Store;

pub async fn run(config: &Config) -> Result<ExitCode> {
    let store = open_configured_store(config).await?;
    let rows = store.source_health().await?;
    if rows.is_empty() {
        outln!(
            "No source has been polled yet (configured sources: {}).",
            config.sources.len()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let now = chrono::Utc::now().timestamp_millis();
    outln!(
        "{:<20} {:<8} {:>12} {:>10} {:>8} {:>9} {:>9}  {}",
        "source",
        "kind",
        "last success",
        "lag",
        "items",
        "api calls",
        "failures",
        "replica / last error"
    );
    for row in &rows {
        let ago = |at: Option<i64>| {
            at.map_or_else(
                || "never".to_string(),
                |at| format!("{} ago", crate::dashboard::format::age((now - at) / 1000)),
            )
        };
        let lag = row.lag_ms.map_or_else(
            || "-".to_string(),
            |lag| crate::dashboard::format::age(lag / 1000),
        );
        let note = row.last_error.as_deref().unwrap_or(&row.daemon_id);
        outln!(
            "{:<20} {:<8} {:>12} {:>10} {:>8} {:>9} {:>9}  {}",
            row.source,
            row.kind,
            ago(row.last_success_ms),
            lag,
            row.items_last_cycle,
            row.api_calls_last_cycle,
            row.consecutive_failures,
            note
        );
    }
    print_s3_progress(&store, now).await?;
    let day_ago_s = now / 1000 - 86_400;
    print_headroom(&store, day_ago_s, now / 1000 + 60).await?;
    print_coverage(&store, day_ago_s, now / 1000 + 3_600).await?;
    let failing = rows.iter().filter(|row| row.last_error.is_some()).count();
    Ok(exit_code(failing == 0))
}

/// How far each S3 delivery prefix (account × region) has been read: a backfill's progress.
async fn print_s3_progress(store: &Store, now_ms: i64) -> Result<()> {
    let rows = store
        .checkpoints_of_kind(crate::sources::s3::poller::SOURCE_KIND)
        .await?;
    if rows.is_empty() {
        return Ok(());
    }
    outln!("");
    outln!("S3 delivery: every object up to this delivery time is read (per account and region):");
    for (name, position, updated_ms) in rows {
        let read_to = crate::sources::s3::poller::checkpoint_time(&name, &position);
        let (time, behind) = match read_to {
            Some(time) => (
                time.format("%Y-%m-%d %H:%M UTC").to_string(),
                format!(
                    "{} ago",
                    crate::dashboard::format::age((now_ms - time.timestamp_millis()) / 1000)
                ),
            ),
            None => ("?".to_string(), position.clone()),
        };
        outln!(
            "  {name}  {time}  ({behind}; saved {} ago)",
            crate::dashboard::format::age((now_ms - updated_ms) / 1000)
        );
    }
    Ok(())
}

/// Quota headroom over the last day, one line per matched on-demand quota.
async fn print_headroom(store: &Store, start_s: i64, end_s: i64) -> Result<()> {
    let rows = crate::headroom::headroom(store, start_s, end_s).await?;
    if rows.is_empty() {
        return Ok(());
    }
    outln!("");
    outln!("Quota headroom, last 24 h (on-demand quotas are shared by all tiers of a model):");
    outln!(
        "{:<14} {:<12} {:<36} {:<4} {:>14} {:>14} {:>7}  {}",
        "account",
        "region",
        "model",
        "kind",
        "quota",
        "peak minute",
        "used",
        "measured by"
    );
    for row in &rows {
        let quota = &row.quota;
        let kind = if quota.quota_kind == "tokens_per_minute" {
            "TPM"
        } else {
            "RPM"
        };
        let (peak, used, by) = match (&row.peak, row.utilization()) {
            (Some(peak), Some(used)) => (
                format!("{:.0}", peak.usage),
                format!("{:.1}%", used * 100.0),
                peak.measured_by,
            ),
            _ => ("-".into(), "-".into(), "no usage seen"),
        };
        outln!(
            "{:<14} {:<12} {:<36} {:<4} {:>14.0} {:>14} {:>7}  {}",
            quota.account_id,
            quota.region,
            quota.model_id.as_deref().unwrap_or("?"),
            kind,
            quota.value,
            peak,
            used,
            by
        );
    }
    Ok(())
}

/// Hours of the last day where logs and metrics disagree, grouped by model, tier and status.
async fn print_coverage(store: &Store, start_s: i64, end_s: i64) -> Result<()> {
    let rows = store.read_coverage(start_s, end_s).await?;
    if rows.is_empty() {
        return Ok(());
    }
    // (region, model, tier, status) → (hours, log tokens, metric tokens).
    type GapKey = (String, String, String, String);
    let mut gaps: std::collections::BTreeMap<GapKey, (u32, i64, i64)> = Default::default();
    for row in rows.iter().filter(|row| row.status != "ok") {
        let entry = gaps
            .entry((
                row.region.clone(),
                row.model_id.clone(),
                row.tier.clone(),
                row.status.clone(),
            ))
            .or_default();
        entry.0 += 1;
        entry.1 += row.log_tokens;
        entry.2 += row.metric_tokens.unwrap_or(0);
    }
    outln!("");
    if gaps.is_empty() {
        outln!(
            "Coverage, last 24 h: logs match CloudWatch metrics in all {} model-tier-hours checked.",
            rows.len()
        );
        return Ok(());
    }
    outln!("Coverage gaps, last 24 h (tokens seen in invocation logs against CloudWatch metrics):");
    outln!(
        "{:<12} {:<36} {:<9} {:<16} {:>6} {:>14} {:>14}",
        "region",
        "model",
        "tier",
        "status",
        "hours",
        "log tokens",
        "metric tokens"
    );
    for ((region, model, tier, status), (hours, log_tokens, metric_tokens)) in &gaps {
        let tier = if tier.is_empty() { "all" } else { tier };
        outln!(
            "{region:<12} {model:<36} {tier:<9} {status:<16} {hours:>6} {log_tokens:>14} {metric_tokens:>14}"
        );
    }
    Ok(())
}
