//! Dashboard routes against real Postgres and SQLite data: every page and API endpoint, with
//! the numbers shown checked against the monthly report for the same range.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt as _;
use serde_json::Value;
use tierwatch::dashboard::{AppState, router};
use tierwatch::ingest::record::ParseOptions;
use tierwatch::ingest::{ImportSettings, import_paths};
use tierwatch::report::{self, Month};
use tierwatch::simulate::{S3LayoutOptions, SimulationSpec, Simulator, write_s3_layout};
use tierwatch::store::{CostAmount, QuotaRecord, Store, Totals};
use tower::ServiceExt as _;

use crate::import::{EXPECTED_CSV, fixture_tree};
use crate::support::{BACKENDS, RawConnection, TestDb, test_prices};

/// 2025-11-25T12:00:00Z: "today" and "month to date" fall in the fixtures' month.
const NOVEMBER_25_NOON: i64 = 1_764_072_000;

pub(crate) struct Response {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: String,
}

impl Response {
    pub fn json(&self) -> Value {
        assert_eq!(self.status, StatusCode::OK, "{}", self.body);
        serde_json::from_str(&self.body).unwrap_or_else(|error| panic!("{error}: {}", self.body))
    }
}

fn app(store: &Store, now_s: i64, token: Option<&str>) -> axum::Router {
    let mut state = AppState::new(store.clone(), token.map(str::to_string));
    state.clock = Arc::new(move || now_s);
    router(state)
}

pub(crate) async fn get(app: &axum::Router, uri: &str) -> Response {
    get_with(app, uri, None).await
}

async fn get_with(app: &axum::Router, uri: &str, authorization: Option<&str>) -> Response {
    let mut request = Request::builder().uri(uri);
    if let Some(value) = authorization {
        request = request.header(header::AUTHORIZATION, value);
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    Response {
        status,
        headers,
        body: String::from_utf8(bytes.to_vec()).unwrap(),
    }
}

async fn import_dir(store: &Store, path: &Path) {
    let settings = ImportSettings {
        options: Arc::new(ParseOptions::default()),
        prices: Arc::new(test_prices()),
        batch_size: 500,
        progress: false,
    };
    import_paths(store, &[path.to_path_buf()], settings)
        .await
        .expect("the import runs");
}

fn usd(value: &Value) -> &str {
    value
        .as_str()
        .unwrap_or_else(|| panic!("not a USD string: {value}"))
}

/// A USD value that may be `null` (no call has a price), as micro-dollars to add up: a
/// `null` adds nothing.
fn known_micro(value: &Value) -> i64 {
    if value.is_null() {
        return 0;
    }
    micro(usd(value))
}

/// USD strings with six decimals, added exactly (as micro-dollars).
fn micro(text: &str) -> i64 {
    let negative = text.starts_with('-');
    let (whole, fraction) = text.trim_start_matches('-').split_once('.').unwrap();
    let value: i64 = format!("{whole}{fraction}").parse().unwrap();
    if negative { -value } else { value }
}

#[tokio::test]
async fn fixture_month_pages_and_api_match_the_report() {
    for backend in BACKENDS {
        let db = TestDb::new(backend).await;
        let dir = tempfile::tempdir().unwrap();
        import_dir(&db.store, &fixture_tree(dir.path())).await;
        let app = app(&db.store, NOVEMBER_25_NOON, None);

        // Overview of the month: the report's total, premium and savings, exactly.
        let overview = get(&app, "/api/v1/overview?month=2025-11").await.json();
        let total = &overview["total"];
        assert_eq!(usd(&total["cost_usd"]), "0.012123", "{backend:?}");
        assert_eq!(usd(&total["priority_premium_usd"]), "0.002025");
        assert_eq!(usd(&total["flex_savings_usd"]), "0.002990");
        assert_eq!(total["invocations"], 11);
        assert_eq!(total["unpriced_invocations"], 2);
        // The Models and Callers totals carry the same premium and savings.
        for path in [
            "/api/v1/models?month=2025-11",
            "/api/v1/callers?month=2025-11",
        ] {
            let page = get(&app, path).await.json();
            let total = &page["total"];
            assert_eq!(usd(&total["priority_premium_usd"]), "0.002025", "{path}");
            assert_eq!(usd(&total["flex_savings_usd"]), "0.002990", "{path}");
        }
        let tiers: Vec<&str> = overview["tiers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|line| line["tier"].as_str().unwrap())
            .collect();
        assert_eq!(tiers, ["priority", "standard", "flex"]);
        // At Nov 25 noon, month to date is Nov 1–25: the report without the calls of Nov 27
        // ($0.000185) and Nov 30 ($0.000400); today is Nov 25's one call.
        assert_eq!(usd(&overview["month_to_date"]["total_usd"]), "0.011538");
        let first_25 = get(&app, "/api/v1/overview?from=2025-11-01&to=2025-11-25")
            .await
            .json();
        assert_eq!(usd(&first_25["total"]["cost_usd"]), "0.011538");
        let the_25th = get(&app, "/api/v1/overview?from=2025-11-25&to=2025-11-25")
            .await
            .json();
        assert_eq!(
            overview["today"]["total_usd"],
            the_25th["total"]["cost_usd"]
        );
        assert_eq!(the_25th["total"]["invocations"], 1);
        // The forecast adds the last 7 whole days' (Nov 18–24) average for the 5.5 days left.
        let week = get(&app, "/api/v1/overview?from=2025-11-18&to=2025-11-24")
            .await
            .json();
        let week_micro = micro(usd(&week["total"]["cost_usd"]));
        assert!(week_micro > 0);
        let expected = 11_538.0 + week_micro as f64 * 5.5 / 7.0;
        let forecast = micro(usd(&overview["forecast_month_end"]["total_usd"]));
        assert!(
            (forecast as f64 - expected).abs() <= 3.0,
            "forecast {forecast} µ$, expected {expected:.1}"
        );
        // The cost timeline adds up to the total (unpriced buckets have no cost: null).
        let timeline_sum: i64 = overview["timeline"]["cost_usd"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|tier| tier.as_array().unwrap().iter().map(known_micro))
            .sum();
        assert_eq!(timeline_sum, 12_123);
        assert_eq!(
            overview["timeline"]["buckets"].as_array().unwrap().len(),
            30
        );
        let flex = overview["latency"]
            .as_array()
            .unwrap()
            .iter()
            .find(|tier| tier["tier"] == "flex")
            .unwrap();
        assert_eq!(flex["latency"]["samples"], 3);

        // Filters narrow every number: one account.
        let other = get(&app, "/api/v1/overview?month=2025-11&account=444455556666")
            .await
            .json();
        assert_eq!(usd(&other["total"]["cost_usd"]), "0.000185");

        // Models: model × tier, summed over accounts and regions, as in the report.
        let models = get(&app, "/api/v1/models?month=2025-11").await.json();
        let by_line: BTreeMap<(String, String), (String, i64)> = models["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|row| {
                (
                    (
                        row["model_id"].as_str().unwrap().to_string(),
                        row["tier"].as_str().unwrap().to_string(),
                    ),
                    (
                        row["cost_usd"].as_str().unwrap_or("null").to_string(),
                        row["invocations"].as_i64().unwrap(),
                    ),
                )
            })
            .collect();
        let nova_standard = &by_line[&("amazon.nova-pro-v1:0".into(), "standard".into())];
        assert_eq!(nova_standard, &("0.003600".to_string(), 3));
        let oss_flex = &by_line[&("openai.gpt-oss-20b-1:0".into(), "flex".into())];
        assert_eq!(oss_flex.0, "0.000185");
        assert_eq!(usd(&models["total"]["cost_usd"]), "0.012123");

        // One model's page.
        let model = get(
            &app,
            "/api/v1/models/openai.gpt-oss-120b-1%3A0?month=2025-11",
        )
        .await
        .json();
        assert_eq!(usd(&model["overview"]["total"]["cost_usd"]), "0.005130");
        assert_eq!(model["tiers"]["rows"].as_array().unwrap().len(), 3);

        // Callers: each dimension adds up to the total; unset values are kept, not lost.
        for by in ["identity", "team", "app"] {
            let callers = get(&app, &format!("/api/v1/callers?month=2025-11&by={by}"))
                .await
                .json();
            let sum: i64 = callers["callers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|group| known_micro(&group["total"]["cost_usd"]))
                .sum();
            assert_eq!(sum, 12_123, "callers by {by}");
            assert_eq!(usd(&callers["total"]["cost_usd"]), "0.012123");
        }
        let teams = get(&app, "/api/v1/callers?month=2025-11&by=team")
            .await
            .json();
        let names: Vec<&str> = teams["callers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|group| group["caller"].as_str().unwrap())
            .collect();
        assert!(names.contains(&"legal") && names.contains(&"search") && names.contains(&""));
        // A caller filter narrows the overview to that caller's cells.
        let legal = get(&app, "/api/v1/overview?month=2025-11&by=team&caller=legal")
            .await
            .json();
        let legal_cost = teams["callers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|group| group["caller"] == "legal")
            .unwrap()["total"]["cost_usd"]
            .clone();
        assert_eq!(legal["total"]["cost_usd"], legal_cost);
        assert!(legal["latency_note"].is_string());

        // Reports: the month is listed, and its files are the report command's output.
        let reports = get(&app, "/api/v1/reports").await.json();
        // The fixtures hold one call of 2025-12-01 too; newest month first.
        assert_eq!(reports["months"], serde_json::json!(["2025-12", "2025-11"]));
        let csv = get(&app, "/reports/2025-11.csv").await;
        assert_eq!(csv.body, EXPECTED_CSV);
        assert!(
            csv.headers[header::CONTENT_DISPOSITION]
                .to_str()
                .unwrap()
                .contains("tierwatch-2025-11.csv")
        );
        let api_csv = get(&app, "/api/v1/reports/2025-11?format=csv").await;
        assert_eq!(api_csv.body, EXPECTED_CSV);
        let expected_json = report::build(
            &db.store,
            Month {
                year: 2025,
                month: 11,
            },
        )
        .await
        .unwrap()
        .to_json();
        assert_eq!(get(&app, "/reports/2025-11.json").await.body, expected_json);
        assert_eq!(
            get(&app, "/api/v1/reports/2025-11").await.body,
            expected_json
        );

        // Data health: unpriced causes of the month.
        let health = get(&app, "/api/v1/health?month=2025-11").await.json();
        let unpriced: i64 = health["unpriced"]
            .as_array()
            .unwrap()
            .iter()
            .map(|group| group["invocations"].as_i64().unwrap())
            .sum();
        assert_eq!(unpriced, 2);
        assert!(health["freshness"]["latest_data"].is_string());

        // Quotas: a TPM quota on nova-pro; usage comes from the logs' minute rollups. The
        // peak window is the last 7 days of November, whose one nova-pro call (Nov 30: 100
        // input + 100 output tokens) is the busiest minute.
        let quota = QuotaRecord {
            source: "test".into(),
            account_id: "111122223333".into(),
            region: "us-east-1".into(),
            quota_code: "L-TEST".into(),
            quota_name: "On-demand model inference tokens per minute for Amazon Nova Pro".into(),
            value: 10_000.0,
            adjustable: Some(true),
            scope: "on_demand".into(),
            quota_kind: "tokens_per_minute".into(),
            model_name: Some("Amazon Nova Pro".into()),
            model_id: Some("amazon.nova-pro-v1:0".into()),
            fetched_ms: 0,
        };
        db.store.replace_quotas("test", &[quota]).await.unwrap();
        let quotas = get(&app, "/api/v1/quotas?month=2025-11").await.json();
        let line = &quotas["quotas"][0];
        assert_eq!(line["model_id"], "amazon.nova-pro-v1:0");
        assert_eq!(line["peak"], 200.0);
        assert_eq!(line["used"], 0.02);
        assert_eq!(line["measured_by"], "logs");
        assert_eq!(line["peak_minute"], "2025-11-30T23:59:00Z");
        let quotas_page = get(&app, "/quotas?month=2025-11").await;
        assert!(quotas_page.body.contains("2.0 %"), "{}", quotas_page.body);

        // Prometheus: labelled exact counters.
        let metrics = get(&app, "/metrics").await;
        assert_eq!(metrics.status, StatusCode::OK);
        assert!(metrics.body.contains(
            "tierwatch_cost_usd_total{account=\"111122223333\",region=\"us-east-1\",\
             model=\"amazon.nova-pro-v1:0\",tier=\"flex\"} 0.002400"
        ));
        assert!(
            metrics
                .body
                .contains("tierwatch_unpriced_invocations_total{")
        );

        pages_render(&app).await;
        db.finish().await;
    }
}

/// Every page renders with its numbers, escapes what it shows and carries the headers.
async fn pages_render(app: &axum::Router) {
    let pages = [
        ("/?month=2025-11", "$0.01"),
        ("/models?month=2025-11", "openai.gpt-oss-120b-1:0"),
        ("/models/amazon.nova-pro-v1%3A0?month=2025-11", "$0.0036"),
        ("/callers?month=2025-11&by=team", "legal"),
        ("/quotas?month=2025-11", "Amazon Nova Pro"),
        ("/reports", "2025-11.csv"),
        ("/reports/2025-11", "$0.0047"),
        ("/data-health?month=2025-11", "Unpriced invocations"),
    ];
    for (uri, expected) in pages {
        let page = get(app, uri).await;
        assert_eq!(page.status, StatusCode::OK, "{uri}: {}", page.body);
        assert!(
            page.body.contains(expected),
            "{uri} lacks {expected}:\n{}",
            page.body
        );
        assert_eq!(
            page.headers[header::CONTENT_TYPE],
            "text/html; charset=utf-8",
            "{uri}"
        );
        for name in [
            "content-security-policy",
            "x-content-type-options",
            "x-frame-options",
            "referrer-policy",
        ] {
            assert!(page.headers.contains_key(name), "{uri} lacks {name}");
        }
    }
    let overview = get(app, "/?month=2025-11").await.body;
    assert_eq!(
        overview.matches("<svg class=\"chart\"").count(),
        3,
        "three charts"
    );
    assert!(!overview.contains("<script"), "no JavaScript");
    // Whatever a URL carries is escaped, never rendered as markup.
    let hostile = get(app, "/?model=%3Cscript%3Ealert(1)%3C%2Fscript%3E").await;
    assert_eq!(hostile.status, StatusCode::OK);
    assert!(!hostile.body.contains("<script>"), "{}", hostile.body);
    assert!(
        hostile
            .body
            .contains("model: &#60;script&#62;alert(1)&#60;/script&#62;"),
        "the filter is shown, escaped: {}",
        hostile.body
    );
}

/// The part of a page from `start` to the next `end` after it.
fn between<'a>(body: &'a str, start: &str, end: &str) -> &'a str {
    let from = body
        .find(start)
        .unwrap_or_else(|| panic!("no {start:?} in:\n{body}"));
    let rest = &body[from..];
    &rest[..rest.find(end).unwrap_or(rest.len())]
}

/// The first table row (`<tr>` to `</tr>`) of `body` that holds every needle.
fn table_row<'a>(body: &'a str, needles: &[&str]) -> &'a str {
    body.split("<tr")
        .skip(1)
        .map(|row| row.split("</tr>").next().unwrap_or(row))
        .find(|row| needles.iter().all(|needle| row.contains(needle)))
        .unwrap_or_else(|| panic!("no row with {needles:?} in:\n{body}"))
}

/// Cell `index` (from 0) of a table row.
fn cell(row: &str, index: usize) -> &str {
    row.split("<td")
        .nth(index + 1)
        .unwrap_or_else(|| panic!("no cell {index} in {row}"))
}

/// An unpriced cell: says so, and shows no amount at all (no `$0.00`).
fn assert_unpriced(cell: &str, what: &str) {
    assert!(cell.contains(r#"<span class="unpriced""#), "{what}: {cell}");
    assert!(!cell.contains('$'), "{what} shows an amount: {cell}");
}

/// The fixture month has all-unpriced cells (claude-3-haiku; nova-pro in us-west-2; their
/// caller; the days they fell on), partly priced ones (nova-pro Standard over both regions,
/// the Standard tier, the month) and a not-billed one ($0 for certain): every page, the API
/// and /metrics show each as such, on both backends.
#[tokio::test]
async fn unpriced_cells_read_unpriced_or_partial_everywhere() {
    const CLAUDE: &str = "anthropic.claude-3-haiku-20240307-v1:0";
    const STANDARD: &str = r#"tier-standard"></span>standard</td>"#;
    for backend in BACKENDS {
        let db = TestDb::new(backend).await;
        let dir = tempfile::tempdir().unwrap();
        import_dir(&db.store, &fixture_tree(dir.path())).await;
        let app = app(&db.store, NOVEMBER_25_NOON, None);

        // Models: claude is unpriced; nova-pro Standard is partial (us-west-2's call has no
        // price); gpt-oss-120b Standard is one throttled call, not billed: $0.00 for certain.
        let models = get(&app, "/models?month=2025-11").await.body;
        assert_unpriced(table_row(&models, &[CLAUDE, STANDARD]), "claude");
        let nova = table_row(&models, &["amazon.nova-pro-v1:0</a>", STANDARD]);
        assert!(
            nova.contains("$0.0036 <span class=\"partial\""),
            "{backend:?}: {nova}"
        );
        assert!(nova.contains("partial · 1 unpriced"), "{nova}");
        let throttled = table_row(&models, &["openai.gpt-oss-120b-1:0</a>", STANDARD]);
        assert!(throttled.contains(">$0.00<"), "{throttled}");
        assert!(!throttled.contains("unpriced"), "{throttled}");
        let total = between(&models, "<tfoot>", "</tfoot>");
        assert!(total.contains("$0.01 <span class=\"partial\""), "{total}");
        assert!(total.contains("partial · 2 unpriced"), "{total}");

        // Overview: the tier, the month so far, the forecast and the window are partial.
        let overview = get(&app, "/?month=2025-11").await.body;
        let tiers = between(&overview, "<h2>Tiers</h2>", "</table>");
        assert!(
            table_row(tiers, &[STANDARD]).contains("partial · 2 unpriced"),
            "{tiers}"
        );
        let card = |body: &str, heading: &str| {
            between(body, &format!("<h2>{heading}</h2>"), "</div>").to_string()
        };
        assert!(
            card(&overview, "Month to date").contains("partial · 1 unpriced"),
            "{overview}"
        );
        let forecast = card(&overview, "Forecast, month end");
        assert!(forecast.contains("partial · 1 unpriced"), "{forecast}");
        assert!(forecast.contains("From partly priced data"), "{forecast}");
        assert!(card(&overview, "In this window").contains("partial · 2 unpriced"));
        // The chart marks the two days with unpriced calls (Nov 26 has nothing else).
        let chart = between(&overview, r#"<figure id="cost-chart">"#, "</figure>");
        assert_eq!(
            chart.matches(r#"class="unpriced-mark""#).count(),
            2,
            "{chart}"
        );
        assert!(
            chart.contains("2025-11-26: calls without a price, not in the bar (standard 1)"),
            "{chart}"
        );
        assert!(
            overview.contains("Hatched marks: calls without a price (2 in this window)"),
            "{overview}"
        );

        // One unpriced model's page: every amount over its calls says "unpriced".
        let page = get(
            &app,
            "/models/anthropic.claude-3-haiku-20240307-v1%3A0?month=2025-11",
        )
        .await
        .body;
        assert_unpriced(table_row(&page, &[CLAUDE, STANDARD]), "model row");
        assert_unpriced(between(&page, "<tfoot>", "</tfoot>"), "model total");
        for heading in ["Month to date", "Forecast, month end"] {
            assert_unpriced(
                between(&card(&page, heading), "class=\"big\"", "</p>"),
                heading,
            );
        }
        assert_unpriced(
            between(&card(&page, "In this window"), "class=\"big\"", "</p>"),
            "window",
        );
        let tiers = between(&page, "<h2>Tiers</h2>", "</table>");
        assert_unpriced(table_row(tiers, &[STANDARD]), "model tier");
        assert_unpriced(between(tiers, "<tfoot>", "</tfoot>"), "model tiers total");
        let chart = between(&page, r#"<figure id="cost-chart">"#, "</figure>");
        assert!(chart.contains("No priced calls in this window"), "{chart}");
        assert!(!chart.contains("$0.00"), "no $0 axis: {chart}");

        // Callers: the analyst made only the unpriced calls.
        let callers = get(&app, "/callers?month=2025-11").await.body;
        assert_unpriced(
            table_row(&callers, &["arn:aws:iam::111122223333:user/analyst"]),
            "caller",
        );
        let total = between(&callers, "<tfoot>", "</tfoot>");
        assert!(total.contains("partial · 2 unpriced"), "{total}");
        let teams = get(&app, "/callers?month=2025-11&by=team").await.body;
        assert!(
            table_row(&teams, &["(not set)"]).contains("partial · 2 unpriced"),
            "{teams}"
        );

        // The printable report: cost is cell 7; a Standard row has no premium or savings.
        let report = get(&app, "/reports/2025-11").await.body;
        for row in [
            table_row(&report, &[CLAUDE]),
            table_row(&report, &["us-west-2", "amazon.nova-pro-v1:0"]),
        ] {
            assert_unpriced(cell(row, 7), "report cost");
            assert_eq!(cell(row, 10), r#" class="n">1</td>"#, "unpriced calls");
        }
        let total = between(&report, "<tfoot>", "</tfoot>");
        assert!(total.contains("partial · 2 unpriced"), "{total}");

        // The API: null and a status, never "0.000000", for unknown money.
        let api = get(&app, "/api/v1/models?month=2025-11").await.json();
        let line = |model: &str, tier: &str| {
            api["rows"]
                .as_array()
                .unwrap()
                .iter()
                .find(|row| row["model_id"] == model && row["tier"] == tier)
                .unwrap()
                .clone()
        };
        let claude = line(CLAUDE, "standard");
        assert_eq!(claude["cost_usd"], Value::Null, "{backend:?}");
        assert_eq!(claude["cost_status"], "unpriced");
        assert_eq!(claude["standard_equivalent_usd"], Value::Null);
        assert_eq!(claude["unpriced_invocations"], 1);
        let nova = line("amazon.nova-pro-v1:0", "standard");
        assert_eq!(nova["cost_usd"], "0.003600");
        assert_eq!(nova["cost_status"], "partial");
        assert_eq!(nova["unpriced_invocations"], 1);
        let throttled = line("openai.gpt-oss-120b-1:0", "standard");
        assert_eq!(throttled["cost_usd"], "0.000000");
        assert_eq!(throttled["cost_status"], "priced");
        assert_eq!(api["total"]["cost_status"], "partial");

        let overview = get(&app, "/api/v1/overview?month=2025-11").await.json();
        assert_eq!(overview["total"]["cost_status"], "partial");
        assert_eq!(overview["total"]["unpriced_invocations"], 2);
        assert_eq!(overview["month_to_date"]["cost_status"], "partial");
        assert_eq!(overview["month_to_date"]["unpriced_invocations"], 1);
        assert_eq!(overview["forecast_month_end"]["cost_status"], "partial");
        let timeline = &overview["timeline"];
        let standard = timeline["tiers"]
            .as_array()
            .unwrap()
            .iter()
            .position(|tier| tier == "standard")
            .unwrap();
        let november_26 = 25;
        assert_eq!(timeline["cost_usd"][standard][november_26], Value::Null);
        assert_eq!(timeline["cost_status"][standard][november_26], "unpriced");
        assert_eq!(timeline["unpriced_invocations"][standard][november_26], 1);
        assert_eq!(
            timeline["cost_status"][standard][0], "priced",
            "an empty day"
        );

        // Early in December the forecast's rate days reach back into November, whose
        // us-west-2 call (Nov 26) has no price: the forecast says partial, though the month
        // so far is all priced.
        let december_3 = self::app(&db.store, 1_764_763_200, None);
        let early = get(&december_3, "/api/v1/overview").await.json();
        assert_eq!(
            early["month_to_date"]["cost_status"], "priced",
            "{backend:?}"
        );
        assert_eq!(early["forecast_month_end"]["cost_status"], "partial");
        assert_eq!(early["forecast_month_end"]["unpriced_invocations"], 1);

        let model = get(
            &app,
            "/api/v1/models/anthropic.claude-3-haiku-20240307-v1%3A0?month=2025-11",
        )
        .await
        .json();
        let model_overview = &model["overview"];
        assert_eq!(model_overview["total"]["cost_usd"], Value::Null);
        assert_eq!(model_overview["month_to_date"]["total_usd"], Value::Null);
        assert_eq!(model_overview["month_to_date"]["cost_status"], "unpriced");
        assert_eq!(
            model_overview["forecast_month_end"]["total_usd"],
            Value::Null
        );
        assert_eq!(
            model_overview["forecast_month_end"]["by_tier"][0]["usd"],
            Value::Null
        );
        let callers = get(&app, "/api/v1/callers?month=2025-11").await.json();
        let analyst = callers["callers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|group| group["caller"] == "arn:aws:iam::111122223333:user/analyst")
            .unwrap();
        assert_eq!(analyst["total"]["cost_usd"], Value::Null);
        assert_eq!(analyst["total"]["cost_status"], "unpriced");

        // /metrics: no cost sample for an all-unpriced series, but its unpriced count; the
        // not-billed series keeps its $0.
        let metrics = get(&app, "/metrics").await.body;
        let series = |model: &str, region: &str, tier: &str| {
            format!(
                "{{account=\"111122223333\",region=\"{region}\",model=\"{model}\",tier=\"{tier}\"}}"
            )
        };
        for (model, region) in [(CLAUDE, "us-east-1"), ("amazon.nova-pro-v1:0", "us-west-2")] {
            let labels = series(model, region, "standard");
            assert!(
                !metrics.contains(&format!("tierwatch_cost_usd_total{labels}")),
                "{backend:?}: {metrics}"
            );
            assert!(
                metrics.contains(&format!("tierwatch_unpriced_invocations_total{labels} 1")),
                "{metrics}"
            );
        }
        let labels = series("openai.gpt-oss-120b-1:0", "us-east-1", "standard");
        assert!(
            metrics.contains(&format!("tierwatch_cost_usd_total{labels} 0.000000")),
            "{metrics}"
        );
        db.finish().await;
    }
}

/// A spend alert over calls without a price: a partial spend is a lower bound, marked as such;
/// with no priced call there is nothing to judge, and the text says unpriced, never $0.
#[tokio::test]
async fn spend_alerts_mark_partial_and_unpriced_spend() {
    use tierwatch::alerts::measure::measure;
    use tierwatch::config::{RuleConfig, RuleKind, RuleScope, RuleWindow, Threshold};
    let db = TestDb::new(crate::support::Backend::Sqlite).await;
    let dir = tempfile::tempdir().unwrap();
    import_dir(&db.store, &fixture_tree(dir.path())).await;
    let rule = |model: Option<&str>, forecast: bool| RuleConfig {
        name: "budget".into(),
        kind: RuleKind::PrioritySpend,
        scope: RuleScope {
            model: model.map(str::to_string),
            ..RuleScope::default()
        },
        tier: Some(tierwatch::model::Tier::Standard),
        window: RuleWindow::Month,
        thresholds: vec![Threshold {
            at: 1.0,
            severity: "critical".into(),
        }],
        budget_pico: Some(1_000_000_000_000),
        forecast,
        statistic: None,
        vs_standard: false,
        min_samples: 0,
        for_duration: std::time::Duration::ZERO,
        repeat: None,
        channels: vec![],
    };
    // Standard in November: $0.003600 + $0.000058 + $0.000750 priced (and a not-billed call),
    // and the 2 unpriced calls.
    let partial = measure(&db.store, &rule(None, false), NOVEMBER_25_NOON)
        .await
        .unwrap();
    assert_eq!(partial[0].value, Some(0.004408));
    assert_eq!(
        partial[0].shown,
        "$0.004408 (partial: 2 unpriced calls left out) spent of a $1.000000 budget"
    );
    for forecast in [false, true] {
        let claude = rule(Some("anthropic.claude-3-haiku-20240307-v1:0"), forecast);
        let unpriced = measure(&db.store, &claude, NOVEMBER_25_NOON).await.unwrap();
        assert_eq!(
            unpriced[0].value, None,
            "no data, not $0 (forecast: {forecast})"
        );
        assert!(
            unpriced[0]
                .shown
                .contains("unknown: 1 call with no price (not counted as $0)"),
            "{}",
            unpriced[0].shown
        );
        assert!(!unpriced[0].shown.contains("$0."), "{}", unpriced[0].shown);
    }
    db.finish().await;
}

#[tokio::test]
async fn bad_requests_get_clear_errors_and_unknown_paths_404() {
    let db = TestDb::new(crate::support::Backend::Sqlite).await;
    let app = app(&db.store, NOVEMBER_25_NOON, None);
    let api = get(&app, "/api/v1/overview?range=2w").await;
    assert_eq!(api.status, StatusCode::BAD_REQUEST);
    let error: Value = serde_json::from_str(&api.body).unwrap();
    assert!(
        error["error"].as_str().unwrap().contains("range=\"2w\""),
        "{}",
        api.body
    );
    let page = get(&app, "/models?tier=gold").await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.body.contains("tier=&#34;gold&#34;"), "{}", page.body);
    assert_eq!(get(&app, "/nowhere").await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        get(&app, "/api/v1/nowhere").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        get(&app, "/reports/2025-13.csv").await.status,
        StatusCode::BAD_REQUEST
    );
    // An empty database still renders every page.
    for uri in [
        "/",
        "/models",
        "/callers",
        "/quotas",
        "/reports",
        "/data-health",
    ] {
        let page = get(&app, uri).await;
        assert_eq!(page.status, StatusCode::OK, "{uri}: {}", page.body);
    }
    assert_eq!(get(&app, "/healthz").await.status, StatusCode::OK);
    assert_eq!(get(&app, "/readyz").await.status, StatusCode::OK);
    db.finish().await;
}

#[tokio::test]
async fn a_token_guards_everything_but_health_checks() {
    let db = TestDb::new(crate::support::Backend::Sqlite).await;
    let token = "a-long-enough-secret";
    let app = app(&db.store, NOVEMBER_25_NOON, Some(token));
    for uri in ["/", "/api/v1/overview", "/metrics", "/static/style.css"] {
        let denied = get(&app, uri).await;
        assert_eq!(denied.status, StatusCode::UNAUTHORIZED, "{uri}");
        assert!(denied.headers.contains_key(header::WWW_AUTHENTICATE));
        assert!(denied.headers.contains_key("content-security-policy"));
        let wrong = get_with(&app, uri, Some("Bearer not-the-secret-at-all")).await;
        assert_eq!(wrong.status, StatusCode::UNAUTHORIZED, "{uri}");
        let bearer = get_with(&app, uri, Some(&format!("Bearer {token}"))).await;
        assert_eq!(bearer.status, StatusCode::OK, "{uri}");
    }
    // Browsers send basic auth: any user name, the token as password ("me:" + token).
    let basic = get_with(&app, "/", Some("Basic bWU6YS1sb25nLWVub3VnaC1zZWNyZXQ=")).await;
    assert_eq!(basic.status, StatusCode::OK);
    assert_eq!(get(&app, "/healthz").await.status, StatusCode::OK);
    assert_eq!(get(&app, "/readyz").await.status, StatusCode::OK);
    db.finish().await;
}

/// A realistic month (several accounts, regions, models, callers): the API's numbers for the
/// month equal the report's, per tier and per model × tier, on both backends.
#[tokio::test]
async fn simulated_month_api_matches_the_report_per_tier_and_model() {
    let december = Month {
        year: 2025,
        month: 12,
    };
    let dir = tempfile::tempdir().unwrap();
    let spec = SimulationSpec::month(2025, 12, 4_000, 11);
    write_s3_layout(
        Simulator::new(&spec).unwrap(),
        dir.path(),
        &S3LayoutOptions::default(),
    )
    .unwrap();
    for backend in BACKENDS {
        let db = TestDb::new(backend).await;
        import_dir(&db.store, dir.path()).await;
        let report = report::build(&db.store, december).await.unwrap();
        // Mid-December: month to date covers days 1..=16 only.
        let app = app(&db.store, 1_765_886_400, None);

        // Some simulated models have no price: their amounts are null, on both sides.
        let mut report_by_tier: BTreeMap<String, Totals> = BTreeMap::new();
        let mut report_by_model: BTreeMap<(String, String), Totals> = BTreeMap::new();
        for row in &report.rows {
            report_by_tier
                .entry(row.key.tier.clone())
                .or_default()
                .add(&row.totals);
            report_by_model
                .entry((row.key.model_id.clone(), row.key.tier.clone()))
                .or_default()
                .add(&row.totals);
        }
        let usd_of = |pico: i128| tierwatch::model::Money::format_usd(pico);
        let json = |amount: CostAmount| serde_json::json!(amount.usd());

        let overview = get(&app, "/api/v1/overview?month=2025-12").await.json();
        assert_eq!(
            overview["total"]["cost_usd"],
            json(report.total.cost()),
            "{backend:?}"
        );
        assert_eq!(
            overview["total"]["priority_premium_usd"],
            json(report.total.premium())
        );
        assert_eq!(
            overview["total"]["flex_savings_usd"],
            json(report.total.savings())
        );
        for line in overview["tiers"].as_array().unwrap() {
            let tier = line["tier"].as_str().unwrap();
            let totals = &report_by_tier[tier];
            assert_eq!(line["cost_usd"], json(totals.cost()), "{tier}");
            assert_eq!(line["cost_status"], totals.cost_status().as_str(), "{tier}");
        }
        // The whole-month p50/p95 equal the report's total row (same merged histogram).
        let models = get(&app, "/api/v1/models?month=2025-12").await.json();
        let rows = models["rows"].as_array().unwrap();
        assert_eq!(rows.len(), report_by_model.len());
        for row in rows {
            let key = (
                row["model_id"].as_str().unwrap().to_string(),
                row["tier"].as_str().unwrap().to_string(),
            );
            let totals = &report_by_model[&key];
            assert_eq!(row["cost_usd"], json(totals.cost()), "{key:?}");
            assert_eq!(row["cost_status"], totals.cost_status().as_str(), "{key:?}");
            assert_eq!(
                row["invocations"].as_i64().unwrap(),
                totals.invocations,
                "{key:?}"
            );
        }
        // Month to date on Dec 16 = the report restricted to days 1..=16, via the day range.
        let mtd = get(&app, "/api/v1/overview?range=mtd").await.json();
        let days = get(&app, "/api/v1/overview?from=2025-12-01&to=2025-12-16")
            .await
            .json();
        assert_eq!(mtd["total"]["cost_usd"], days["total"]["cost_usd"]);
        assert_eq!(mtd["month_to_date"]["total_usd"], days["total"]["cost_usd"]);
        // Callers by identity add up to the month's total.
        let callers = get(&app, "/api/v1/callers?month=2025-12").await.json();
        let groups = callers["callers"].as_array().unwrap();
        let sum: i64 = groups
            .iter()
            .map(|group| known_micro(&group["total"]["cost_usd"]))
            .sum();
        // Each caller's amount is rounded to the micro-dollar: at most half of one apart each.
        let total = micro(&usd_of(report.total.totals.cost_pico));
        let slack = i64::try_from(groups.len().div_ceil(2)).unwrap();
        assert!(
            (sum - total).abs() <= slack,
            "{sum} vs {total} over {} callers",
            groups.len()
        );
        // Every preset window serves.
        for range in ["1h", "24h", "today", "7d", "30d", "mtd"] {
            for path in ["/api/v1/overview", "/api/v1/models", "/api/v1/callers"] {
                let response = get(&app, &format!("{path}?range={range}")).await;
                assert_eq!(
                    response.status,
                    StatusCode::OK,
                    "{path} {range}: {}",
                    response.body
                );
            }
        }
        db.finish().await;
    }
}

/// Migration 0005 fills caller (identity) and unpriced rollups for invocations stored before
/// they existed: run on the fixtures with those rollups emptied, it rebuilds what the write
/// path stored, on both backends.
#[tokio::test]
async fn migration_backfill_rebuilds_identity_and_unpriced_rollups() {
    for backend in BACKENDS {
        let db = TestDb::new(backend).await;
        let dir = tempfile::tempdir().unwrap();
        import_dir(&db.store, &fixture_tree(dir.path())).await;
        let app = app(&db.store, NOVEMBER_25_NOON, None);
        let uris = [
            "/api/v1/callers?month=2025-11",
            "/api/v1/callers?from=2025-11-20&to=2025-11-20",
            "/api/v1/health?month=2025-11",
        ];
        // The views without the list of dimensions present (metadata ones go).
        let read = |uri: &'static str| {
            let app = app.clone();
            async move {
                let mut json = get(&app, uri).await.json();
                if let Some(object) = json.as_object_mut() {
                    object.remove("dimensions");
                }
                json
            }
        };
        let mut before = Vec::new();
        for uri in uris {
            before.push(read(uri).await);
        }
        let (folder, empty) = (
            match backend {
                crate::support::Backend::Postgres => "postgres",
                crate::support::Backend::Sqlite => "sqlite",
            },
            "DELETE FROM caller_rollups; DROP TABLE unpriced_rollups;",
        );
        // Invocations have been stored compactly since 0011; the view shows them in the
        // layout 0005 was written for.
        let migration =
            std::fs::read_to_string(format!("migrations/{folder}/0005_unpriced_rollups.sql"))
                .unwrap()
                .replace("FROM invocations i", "FROM invocation_rows i");
        let script = format!("{empty}\n{migration}");
        RawConnection::open(&db.url, backend)
            .await
            .execute(&script)
            .await;
        let mut after = Vec::new();
        for uri in uris {
            after.push(read(uri).await);
        }
        // Identity cells and unpriced causes come back exactly; metadata keys are not
        // backfilled (they depend on configuration), so compare the identity view only.
        assert_eq!(after, before, "{backend:?}");
        db.finish().await;
    }
}

/// Migration 0010 packs the per-bin latency rows of older databases into their cells: the
/// fixtures' histograms unpacked into the old `latency_bins` layout and migrated again give
/// the same latency views, on both backends.
#[tokio::test]
async fn migration_packs_latency_bins_into_cells() {
    for backend in BACKENDS {
        let db = TestDb::new(backend).await;
        let dir = tempfile::tempdir().unwrap();
        import_dir(&db.store, &fixture_tree(dir.path())).await;
        let app = app(
            &db.store.clone().with_read_cache(false),
            NOVEMBER_25_NOON,
            None,
        );
        let uris = [
            "/api/v1/models?month=2025-11",
            "/api/v1/overview?month=2025-11",
            "/api/v1/reports/2025-11?format=json",
        ];
        let mut before = Vec::new();
        for uri in uris {
            before.push(get(&app, uri).await.body);
        }
        assert!(
            before[0].contains("p95"),
            "the models view shows latency percentiles"
        );
        let mut connection = RawConnection::open(&db.url, backend).await;
        let (folder, old_layout) = match backend {
            crate::support::Backend::Postgres => (
                "postgres",
                "CREATE TABLE latency_bins (granularity INTEGER NOT NULL, \
                 bucket_start BIGINT NOT NULL, series_id BIGINT NOT NULL, metric SMALLINT NOT NULL, \
                 bin SMALLINT NOT NULL, count BIGINT NOT NULL, \
                 PRIMARY KEY (granularity, bucket_start, series_id, metric, bin)); \
                 INSERT INTO latency_bins SELECT granularity, bucket_start, series_id, m.metric, \
                 (e >> 40)::int2, e & 1099511627775 FROM rollups \
                 CROSS JOIN LATERAL (VALUES (0, latency_hist), (1, first_token_hist)) AS m(metric, h) \
                 CROSS JOIN unnest(m.h) AS e; \
                 ALTER TABLE rollups DROP COLUMN latency_hist, DROP COLUMN first_token_hist; \
                 DROP FUNCTION merge_latency_histograms;"
                    .to_string(),
            ),
            crate::support::Backend::Sqlite => (
                "sqlite",
                format!(
                    "CREATE TABLE latency_bins (granularity INTEGER NOT NULL, \
                     bucket_start BIGINT NOT NULL, series_id BIGINT NOT NULL, \
                     metric SMALLINT NOT NULL, bin SMALLINT NOT NULL, count BIGINT NOT NULL, \
                     PRIMARY KEY (granularity, bucket_start, series_id, metric, bin)); \
                     INSERT INTO latency_bins VALUES {}; \
                     ALTER TABLE rollups DROP COLUMN latency_hist; \
                     ALTER TABLE rollups DROP COLUMN first_token_hist;",
                    sqlite_bin_rows(&mut connection).await
                ),
            ),
        };
        let migration =
            std::fs::read_to_string(format!("migrations/{folder}/0010_packed_histograms.sql"))
                .unwrap();
        connection.execute(&old_layout).await;
        let bins = connection.count("SELECT COUNT(*) FROM latency_bins").await;
        assert!(bins > 10, "{bins} bins in the old layout");
        connection.execute(&migration).await;
        if backend == crate::support::Backend::Sqlite {
            // 0010 wrote JSON arrays; 0015 turns them into the blobs SQLite reads now.
            let blobs = std::fs::read_to_string("migrations/sqlite/0015_histogram_blobs.sql");
            connection.execute(&blobs.unwrap()).await;
        }
        for (uri, before) in uris.iter().zip(&before) {
            assert_eq!(&get(&app, uri).await.body, before, "{backend:?} {uri}");
        }
        db.finish().await;
    }
}

/// SQLite's packed histograms (blobs) as rows of the layout before migration 0010: a
/// `VALUES` list of (granularity, bucket, series, metric, bin, count).
async fn sqlite_bin_rows(connection: &mut RawConnection) -> String {
    let cells = connection
        .texts(
            "SELECT granularity || '|' || bucket_start || '|' || series_id || '|' || \
             hex(latency_hist) || '|' || hex(first_token_hist) FROM rollups",
        )
        .await
        .unwrap();
    let mut rows = Vec::new();
    for cell in cells {
        let fields: Vec<&str> = cell.split('|').collect();
        for (metric, hex) in fields[3..5].iter().enumerate() {
            for at in (0..hex.len()).step_by(16) {
                let entry = i64::from_str_radix(&hex[at..at + 16], 16).unwrap();
                let (bin, count) = (entry >> 40, entry & ((1 << 40) - 1));
                let key = fields[..3].join(", ");
                rows.push(format!("({key}, {metric}, {bin}, {count})"));
            }
        }
    }
    rows.join(", ")
}

/// Every stored invocation as one text per row (same backend, same representation), from
/// `table`: the `invocation_rows` view, or the table of the layout before migration 0011.
async fn invocation_texts(url: &str, backend: crate::support::Backend, table: &str) -> Vec<String> {
    let columns = [
        "account_id",
        "region",
        "request_id",
        "ts_ms",
        "inference_region",
        "operation",
        "model_called",
        "model_id",
        "routing",
        "model_resolved",
        "caller_arn",
        "request_metadata",
        "requested_tier",
        "tier",
        "tier_source",
        "input_tokens",
        "output_tokens",
        "cache_read_tokens",
        "cache_write_tokens",
        "latency_ms",
        "first_token_ms",
        "error_code",
        "pricing_status",
        "price_id",
        "cost_pico",
        "standard_price_id",
        "standard_cost_pico",
        "unpriced_reason",
        "source_id",
    ];
    let row = columns
        .iter()
        .map(|column| format!("COALESCE(CAST({column} AS TEXT), '-')"))
        .collect::<Vec<_>>()
        .join(" || '|' || ");
    let sql = format!("SELECT {row} FROM {table} ORDER BY request_id");
    RawConnection::open(url, backend)
        .await
        .texts(&sql)
        .await
        .unwrap()
}

/// Invocations stored before migration 0011 are converted to the compact layout when the
/// store migrates: every column reads back the same (a request id that is not a uuid keeps
/// its text), the old table is gone, and importing the same records again adds nothing.
#[tokio::test]
async fn invocations_of_the_previous_layout_are_converted_exactly() {
    for backend in BACKENDS {
        let db = TestDb::new(backend).await;
        let dir = tempfile::tempdir().unwrap();
        let tree = fixture_tree(dir.path());
        import_dir(&db.store, &tree).await;
        let app = app(
            &db.store.clone().with_read_cache(false),
            NOVEMBER_25_NOON,
            None,
        );
        let overview = "/api/v1/overview?month=2025-11";
        let before = get(&app, overview).await.body;

        // The previous layout: the same rows with strings, one request id not a uuid; the
        // dictionary emptied so the conversion creates every string again.
        let legacy = "CREATE TABLE invocations_v1 AS SELECT * FROM invocation_rows; \
            UPDATE invocations_v1 SET request_id = 'legacy-' || request_id \
            WHERE request_id = (SELECT MIN(request_id) FROM invocations_v1 \
            WHERE ts_ms >= 1761955200000 AND ts_ms < 1764547200000); \
            DELETE FROM invocations; DELETE FROM dictionary;";
        RawConnection::open(&db.url, backend)
            .await
            .execute(legacy)
            .await;
        let expected = invocation_texts(&db.url, backend, "invocations_v1").await;
        assert!(expected.len() > 10, "{backend:?}");
        assert!(expected.iter().any(|row| row.contains("|legacy-")));

        let reopened = Store::open(&db.url).await.unwrap();
        reopened.migrate().await.unwrap();
        let converted = invocation_texts(&db.url, backend, "invocation_rows").await;
        assert_eq!(converted, expected, "{backend:?}");
        let legacy_left = RawConnection::open(&db.url, backend)
            .await
            .texts("SELECT 'left' FROM invocations_v1")
            .await
            .is_ok();
        assert!(!legacy_left, "the old table is dropped");

        // The same records again: all already stored (the renamed one comes back as new).
        import_dir(&reopened, &tree).await;
        let after = invocation_texts(&db.url, backend, "invocation_rows").await;
        assert_eq!(after.len(), expected.len() + 1, "{backend:?}");
        let app = self::app(
            &reopened.clone().with_read_cache(false),
            NOVEMBER_25_NOON,
            None,
        );
        let overview_after = get(&app, overview).await.json();
        let before: Value = serde_json::from_str(&before).unwrap();
        assert_eq!(
            overview_after["total"]["invocations"].as_i64().unwrap(),
            before["total"]["invocations"].as_i64().unwrap() + 1,
            "{backend:?}"
        );
        db.finish().await;
    }
}

/// Cached reads follow writes: a page read, then more data, then the page again shows it;
/// with the cache off the answers are the same.
#[tokio::test]
async fn cached_pages_follow_new_data() {
    for backend in BACKENDS {
        let db = TestDb::new(backend).await;
        let cached = app(&db.store, NOVEMBER_25_NOON, None);
        let uncached = app(
            &db.store.clone().with_read_cache(false),
            NOVEMBER_25_NOON,
            None,
        );
        let calls = |json: Value| json["total"]["invocations"].as_i64().unwrap();
        let uri = "/api/v1/overview?month=2025-11";
        assert_eq!(calls(get(&cached, uri).await.json()), 0);
        assert_eq!(
            calls(get(&cached, uri).await.json()),
            0,
            "served from the cache"
        );
        let dir = tempfile::tempdir().unwrap();
        import_dir(&db.store, &fixture_tree(dir.path())).await;
        assert_eq!(calls(get(&cached, uri).await.json()), 11, "{backend:?}");
        assert_eq!(
            get(&cached, uri).await.body,
            get(&uncached, uri).await.body,
            "cached and uncached answers agree"
        );
        // A write through another handle (another replica, say) is seen too.
        let other = Store::open(&db.url).await.unwrap();
        let more = tempfile::tempdir().unwrap();
        let spec = SimulationSpec {
            bad_record_rate: 0.0,
            duplicate_rate: 0.0,
            ..SimulationSpec::month(2025, 11, 50, 3)
        };
        write_s3_layout(
            Simulator::new(&spec).unwrap(),
            more.path(),
            &S3LayoutOptions::default(),
        )
        .unwrap();
        import_dir(&other, more.path()).await;
        assert_eq!(calls(get(&cached, uri).await.json()), 61, "{backend:?}");
        db.finish().await;
    }
}

/// The overview lists the alerts firing or pending, critical first, with links to the data.
#[tokio::test]
async fn overview_lists_active_alerts() {
    use tierwatch::store::alerts::StoredAlert;
    let db = TestDb::new(crate::support::Backend::Sqlite).await;
    let alert = |key: &str, state: &str, severity: &str| StoredAlert {
        alert_key: key.into(),
        rule: format!("rule-{key}"),
        instance: String::new(),
        threshold: 1.0,
        severity: severity.into(),
        period: "2025-11".into(),
        state: state.into(),
        since_ms: 0,
        last_notified_ms: None,
        value: Some(2.0),
        shown: format!("<b>{key}</b> over budget"),
        link: "/?month=2025-11&tier=priority".into(),
        updated_ms: 0,
    };
    let states = [
        alert("a", "firing", "warning"),
        alert("b", "firing", "critical"),
        alert("c", "resolved", "critical"),
        alert("d", "pending", "critical"),
    ];
    db.store.apply_alert_changes(&states, &[]).await.unwrap();
    let app = app(&db.store, NOVEMBER_25_NOON, None);
    let overview = get(&app, "/api/v1/overview").await.json();
    let keys: Vec<&str> = overview["active_alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|alert| alert["alert_key"].as_str().unwrap())
        .collect();
    assert_eq!(
        keys,
        ["b", "a", "d"],
        "firing critical, firing warning, then pending"
    );
    let page = get(&app, "/").await.body;
    assert!(page.contains("firing critical</strong> rule-b"), "{page}");
    assert!(
        page.contains("&#60;b&#62;b&#60;/b&#62; over budget"),
        "escaped"
    );
    assert!(!page.contains("rule-c"), "resolved alerts are not active");
    db.finish().await;
}
