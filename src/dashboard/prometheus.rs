//! `/metrics`: totals since the first stored invocation and the daemon's own health, in the
//! Prometheus text format, labelled by account, region, model and tier.
//!
//! Values are read from day rollups on each scrape (a few thousand cells for a year), so
//! every replica reports the same numbers and a restart loses nothing.

use std::fmt::Write as _;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::api::ViewError;
use crate::rollup::Granularity;
use crate::store::{CellSpan, Filter, Grouping};

pub async fn metrics(State(state): State<AppState>) -> Result<Response, ViewError> {
    let body = render(&state).await?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response())
}

async fn render(state: &AppState) -> Result<String, ViewError> {
    let store = &state.store;
    let all_time = CellSpan {
        granularity: Granularity::Day,
        start_s: i64::MIN / 2,
        end_s: i64::MAX / 2,
    };
    let group = Grouping {
        account: true,
        region: true,
        model: true,
        tier: true,
        bucket: false,
    };
    let rows = store.aggregate(all_time, &Filter::default(), group).await?;
    let mut out = String::new();
    let labels = |row: &crate::store::AggregateRow| {
        format!(
            "account=\"{}\",region=\"{}\",model=\"{}\",tier=\"{}\"",
            escape(&row.account_id),
            escape(&row.region),
            escape(&row.model_id),
            escape(&row.tier)
        )
    };
    let mut family = |name: &str, kind: &str, help: &str, lines: Vec<String>| {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        for line in lines {
            let _ = writeln!(out, "{name}{line}");
        }
    };
    family(
        "tierwatch_invocations_total",
        "counter",
        "Bedrock invocations seen in invocation logs.",
        rows.iter()
            .map(|row| format!("{{{}}} {}", labels(row), row.totals.invocations))
            .collect(),
    );
    family(
        "tierwatch_errors_total",
        "counter",
        "Invocations that ended with an errorCode.",
        rows.iter()
            .map(|row| format!("{{{}}} {}", labels(row), row.totals.errors))
            .collect(),
    );
    family(
        "tierwatch_tokens_total",
        "counter",
        "Tokens by type (input, output, cache_read, cache_write).",
        rows.iter()
            .flat_map(|row| {
                let t = &row.totals;
                [
                    ("input", t.input_tokens),
                    ("output", t.output_tokens),
                    ("cache_read", t.cache_read_tokens),
                    ("cache_write", t.cache_write_tokens),
                ]
                .map(|(kind, value)| format!("{{{},type=\"{kind}\"}} {value}", labels(row)))
            })
            .collect(),
    );
    // A series none of whose calls has a price has no cost to report: no sample rather than
    // a 0 that would read as free. Its calls are in tierwatch_unpriced_invocations_total.
    family(
        "tierwatch_cost_usd_total",
        "counter",
        "Cost of the priced invocations in USD (exact to the micro-dollar). Unpriced \
         invocations are not in it: a series with some has the priced ones' cost only, and a \
         series with nothing but unpriced invocations has no sample (see \
         tierwatch_unpriced_invocations_total).",
        rows.iter()
            .filter_map(|row| {
                let usd = row.totals.cost().usd()?;
                Some(format!("{{{}}} {usd}", labels(row)))
            })
            .collect(),
    );
    family(
        "tierwatch_unpriced_invocations_total",
        "counter",
        "Invocations with no price (never counted as $0), per series.",
        rows.iter()
            .map(|row| format!("{{{}}} {}", labels(row), row.totals.unpriced_invocations))
            .collect(),
    );
    let latest = store.latest_minute().await?;
    family(
        "tierwatch_latest_data_timestamp_seconds",
        "gauge",
        "Start of the latest minute with invocations.",
        latest
            .map(|minute| format!(" {minute}"))
            .into_iter()
            .collect(),
    );
    let health = store.source_health().await?;
    let source_labels = |source: &str, kind: &str| {
        format!("source=\"{}\",kind=\"{}\"", escape(source), escape(kind))
    };
    family(
        "tierwatch_source_last_success_timestamp_seconds",
        "gauge",
        "When each source and kind of poll last succeeded.",
        health
            .iter()
            .filter_map(|row| {
                row.last_success_ms.map(|ms| {
                    format!(
                        "{{{}}} {}",
                        source_labels(&row.source, &row.kind),
                        ms / 1000
                    )
                })
            })
            .collect(),
    );
    family(
        "tierwatch_source_consecutive_failures",
        "gauge",
        "Failed polls in a row (0 when the last one succeeded).",
        health
            .iter()
            .map(|row| {
                format!(
                    "{{{}}} {}",
                    source_labels(&row.source, &row.kind),
                    row.consecutive_failures
                )
            })
            .collect(),
    );
    family(
        "tierwatch_source_lag_seconds",
        "gauge",
        "How far behind now each source has read.",
        health
            .iter()
            .filter_map(|row| {
                row.lag_ms.map(|lag| {
                    format!(
                        "{{{}}} {:.3}",
                        source_labels(&row.source, &row.kind),
                        lag as f64 / 1000.0
                    )
                })
            })
            .collect(),
    );
    Ok(out)
}

/// Escapes a label value: backslash, double quote and newline.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    #[test]
    fn label_values_are_escaped() {
        assert_eq!(super::escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
