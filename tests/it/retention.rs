//! Retention on both backends: `retention.raw_invocations` drops whole months of raw
//! invocations (a partition on Postgres), rollups kept; `retention.minute_cells` drops the
//! fine cells (minute cells of series, hour cells of callers) by day, the others kept.

use std::path::Path;
use std::sync::Arc;

use tierwatch::ingest::record::ParseOptions;
use tierwatch::ingest::{ImportSettings, ImportSummary, import_paths};
use tierwatch::report::{self, Format, Month};
use tierwatch::simulate::{S3LayoutOptions, SimulationSpec, Simulator, write_s3_layout};
use tierwatch::store::{RepricePath, Store, StoreError};

use crate::support::{BACKENDS, Backend, RawConnection, TestDb, test_prices};

const OCTOBER: Month = Month {
    year: 2025,
    month: 10,
};
const NOVEMBER: Month = Month {
    year: 2025,
    month: 11,
};

async fn import(store: &Store, path: &Path) -> ImportSummary {
    let settings = ImportSettings {
        options: Arc::new(ParseOptions::default()),
        prices: Arc::new(test_prices()),
        batch_size: 300,
        progress: false,
    };
    import_paths(store, &[path.to_path_buf()], settings)
        .await
        .expect("the import runs")
}

async fn csv(store: &Store, month: Month) -> String {
    report::build(store, month)
        .await
        .unwrap()
        .render(Format::Csv)
}

fn simulate(dir: &Path, month: Month, seed: u64) {
    let spec = SimulationSpec::month(month.year, month.month, 1_500, seed);
    write_s3_layout(
        Simulator::new(&spec).unwrap(),
        dir,
        &S3LayoutOptions::default(),
    )
    .unwrap();
}

#[tokio::test]
async fn dropping_a_month_of_raw_invocations_keeps_its_report_and_counts_nothing_twice() {
    let october = tempfile::tempdir().unwrap();
    let november = tempfile::tempdir().unwrap();
    simulate(october.path(), OCTOBER, 21);
    simulate(november.path(), NOVEMBER, 22);
    for backend in BACKENDS {
        let db = TestDb::new(backend).await;
        let store = &db.store;
        let first = import(store, october.path()).await;
        import(store, november.path()).await;
        let october_rows = store
            .count_invocations(OCTOBER.start_ms(), OCTOBER.end_ms())
            .await
            .unwrap();
        let november_rows = store
            .count_invocations(NOVEMBER.start_ms(), NOVEMBER.end_ms())
            .await
            .unwrap();
        assert_eq!(october_rows as u64, first.imported, "{backend:?}");
        let october_report = csv(store, OCTOBER).await;
        let november_report = csv(store, NOVEMBER).await;
        assert!(october_report.lines().count() > 5, "{october_report}");

        // Keep raw invocations from November on: October's go, whole.
        let dropped = store
            .drop_raw_invocations(NOVEMBER.start_ms())
            .await
            .unwrap();
        assert_eq!(dropped.months, ["invocations_2025_10"], "{backend:?}");
        assert_eq!(dropped.invocations, october_rows as u64, "{backend:?}");
        assert_eq!(
            store
                .count_invocations(OCTOBER.start_ms(), OCTOBER.end_ms())
                .await
                .unwrap(),
            0
        );
        assert_eq!(
            store
                .count_invocations(NOVEMBER.start_ms(), NOVEMBER.end_ms())
                .await
                .unwrap(),
            november_rows
        );
        if backend == Backend::Postgres {
            let mut connection = RawConnection::open(&db.url, backend).await;
            let partitions = connection
                .texts(
                    "SELECT c.relname::TEXT FROM pg_inherits i JOIN pg_class c \
                     ON c.oid = i.inhrelid WHERE i.inhparent = 'invocations'::regclass",
                )
                .await
                .unwrap();
            assert_eq!(partitions, ["invocations_2025_11"], "the partition is gone");
        }
        // Both months' reports read the rollups, which are kept.
        assert_eq!(csv(store, OCTOBER).await, october_report, "{backend:?}");
        assert_eq!(csv(store, NOVEMBER).await, november_report, "{backend:?}");

        // October's records again: skipped as expired, not counted a second time.
        let again = import(store, october.path()).await;
        assert_eq!(again.imported, 0, "{backend:?}: {again}");
        // Every record that parses, duplicates included, is older than the horizon.
        assert_eq!(
            again.expired,
            first.imported + first.duplicates,
            "{backend:?}: {again}"
        );
        assert!(again.to_string().contains("expired"), "{again}");
        assert_eq!(csv(store, OCTOBER).await, october_report, "{backend:?}");
        assert_eq!(
            store
                .count_invocations(OCTOBER.start_ms(), OCTOBER.end_ms())
                .await
                .unwrap(),
            0,
            "no partition or row comes back for an expired month"
        );

        // Rebuilding October's rollups from rows that are gone: refused. Repricing it reads
        // the price groups kept of them (see tests/it/reprice.rs); the same prices change
        // nothing.
        let refused = store
            .reprice_and_rebuild(OCTOBER.start_ms(), OCTOBER.end_ms(), |_| {
                tierwatch::store::RepriceDecision::NotBilled
            })
            .await;
        assert!(
            matches!(refused, Err(StoreError::RawInvocationsDropped { .. })),
            "{refused:?}"
        );
        let prices = test_prices();
        let repriced = store
            .reprice(
                OCTOBER.start_ms(),
                OCTOBER.end_ms(),
                crate::reprice::decide_with(&prices),
            )
            .await
            .unwrap();
        assert_eq!(repriced.changed, 0, "{backend:?}: {repriced:?}");
        assert!(
            matches!(repriced.path, RepricePath::FromKeptGroups { .. }),
            "{repriced:?}"
        );
        assert_eq!(csv(store, OCTOBER).await, october_report, "{backend:?}");

        // Applying the same retention again drops nothing; a horizon inside a month is refused.
        let again = store
            .drop_raw_invocations(NOVEMBER.start_ms())
            .await
            .unwrap();
        assert!(again.months.is_empty(), "{again:?}");
        assert!(
            store
                .drop_raw_invocations(NOVEMBER.start_ms() + 86_400_000)
                .await
                .is_err()
        );
        assert_eq!(csv(store, NOVEMBER).await, november_report, "{backend:?}");
        db.finish().await;
    }
}

/// Per granularity, the rollup cells of `[start_s, end_s)`: how many, and their calls and cost.
async fn cell_sums(db: &TestDb, backend: Backend, start_s: i64, end_s: i64) -> Vec<String> {
    let mut connection = RawConnection::open(&db.url, backend).await;
    let sums = |table: &str| {
        format!(
            "SELECT CAST(granularity AS TEXT) || ' ' || CAST(COUNT(*) AS TEXT) || ' cells, ' \
             || CAST(SUM(invocations) AS TEXT) || ' calls, ' || CAST(SUM(cost_pico) AS TEXT) \
             || ' pico' FROM {table} WHERE bucket_start >= {start_s} AND bucket_start < {end_s} \
             GROUP BY granularity ORDER BY granularity"
        )
    };
    let mut rows = connection.texts(&sums("rollups")).await.unwrap();
    for tier_row in connection.texts(&sums("tier_rollups")).await.unwrap() {
        rows.push(format!("tier {tier_row}"));
    }
    for caller_row in connection.texts(&sums("caller_rollups")).await.unwrap() {
        rows.push(format!("caller {caller_row}"));
    }
    rows
}

/// Whether a row of [`cell_sums`] counts fine cells: minute cells of series and tiers, hour
/// cells of callers.
fn is_fine(row: &str) -> bool {
    row.starts_with("60 ") || row.starts_with("tier 60 ") || row.starts_with("caller 3600 ")
}

/// The number of cells a row of [`cell_sums`] counts ("[tier |caller ]GRANULARITY COUNT
/// cells, …").
fn cell_count(row: &str) -> i64 {
    let row = row
        .trim_start_matches("tier ")
        .trim_start_matches("caller ");
    row.split(' ').nth(1).unwrap().parse().unwrap()
}

/// A team's overview of an October week: hour bars where caller hour cells are kept (`all`),
/// day bars where retention keeps days only (`recent`); the same totals and the same calls per
/// day either way.
async fn caller_week_charts_agree(all: &TestDb, recent: &TestDb, backend: Backend) {
    use tierwatch::dashboard::data;
    use tierwatch::dashboard::scope::{Scope, ViewParams};
    let now_s = NOVEMBER.end_ms() / 1000;
    let week = ViewParams {
        from: Some("2025-10-06".into()),
        to: Some("2025-10-12".into()),
        by: Some("team".into()),
        ..ViewParams::default()
    };
    let teams = data::callers(&all.store, &Scope::from_params(&week, now_s).unwrap())
        .await
        .unwrap();
    let team = teams
        .callers
        .iter()
        .map(|group| group.caller.clone())
        .find(|team| !team.is_empty())
        .expect("a team in the simulated October");
    let scope = Scope::from_params(
        &ViewParams {
            caller: Some(team),
            ..week
        },
        now_s,
    )
    .unwrap();
    let hours = data::overview(&all.store, &scope, now_s).await.unwrap();
    let days = data::overview(&recent.store, &scope, now_s).await.unwrap();
    assert_eq!(hours.timeline.granularity_s, 3_600, "{backend:?}");
    assert_eq!(days.timeline.granularity_s, 86_400, "{backend:?}");
    assert_eq!(days.timeline.buckets.len(), 7, "{backend:?}");
    assert_eq!(hours.timeline_note, None, "{backend:?}");
    let note = days.timeline_note.as_deref().unwrap_or_default();
    assert!(
        note.contains("from 2025-11-01T00:00:00Z on") && note.contains("shows days"),
        "{backend:?}: {note}"
    );
    let json = |value: &data::Overview| serde_json::to_value(&value.tiers).unwrap();
    assert_eq!(json(&hours), json(&days), "{backend:?}");
    let per_day = |timeline: &data::Timeline| {
        let mut calls = std::collections::BTreeMap::<i64, i64>::new();
        for row in &timeline.invocations {
            for (bucket, count) in timeline.buckets.iter().zip(row) {
                *calls.entry(bucket - bucket.rem_euclid(86_400)).or_default() += count;
            }
        }
        calls
    };
    let calls = per_day(&days.timeline);
    assert!(
        calls.values().all(|count| *count > 0),
        "{backend:?}: {calls:?}"
    );
    assert_eq!(per_day(&hours.timeline), calls, "{backend:?}");
}

#[tokio::test]
async fn fine_cells_are_kept_from_their_horizon_and_hours_and_days_stay_exact() {
    let october = tempfile::tempdir().unwrap();
    let november = tempfile::tempdir().unwrap();
    simulate(october.path(), OCTOBER, 31);
    simulate(november.path(), NOVEMBER, 32);
    let november_s = NOVEMBER.start_ms() / 1000;
    let (october_s, end_s) = (OCTOBER.start_ms() / 1000, NOVEMBER.end_ms() / 1000);
    let mid_november_s = november_s + 14 * 86_400;
    for backend in BACKENDS {
        // Every minute kept (the horizon at 0, as before any retention ran).
        let all = TestDb::new(backend).await;
        import(&all.store, october.path()).await;
        import(&all.store, november.path()).await;
        let reports = (
            csv(&all.store, OCTOBER).await,
            csv(&all.store, NOVEMBER).await,
        );
        let october_cells = cell_sums(&all, backend, october_s, november_s).await;
        let november_cells = cell_sums(&all, backend, november_s, end_s).await;
        assert_eq!(october_cells.len(), 8, "{backend:?}: {october_cells:?}");

        // Fine cells kept from November: October's calls write hour and day cells of their
        // series, and day cells of their callers only.
        let recent = TestDb::new(backend).await;
        assert_eq!(recent.store.drop_fine_cells(november_s).await.unwrap(), 0);
        import(&recent.store, october.path()).await;
        import(&recent.store, november.path()).await;
        let without_minutes: Vec<String> = october_cells
            .iter()
            .filter(|row| !is_fine(row))
            .cloned()
            .collect();
        assert_eq!(
            cell_sums(&recent, backend, october_s, november_s).await,
            without_minutes,
            "{backend:?}"
        );
        assert_eq!(
            cell_sums(&recent, backend, november_s, end_s).await,
            november_cells,
            "{backend:?}"
        );
        let recent_reports = (
            csv(&recent.store, OCTOBER).await,
            csv(&recent.store, NOVEMBER).await,
        );
        assert_eq!(recent_reports, reports, "{backend:?}");
        caller_week_charts_agree(&all, &recent, backend).await;
        // Rebuilding October's rollups from its rows brings no fine cell back.
        recent
            .store
            .reprice_and_rebuild(OCTOBER.start_ms(), OCTOBER.end_ms(), |_| {
                tierwatch::store::RepriceDecision::NotBilled
            })
            .await
            .unwrap();
        let rebuilt = cell_sums(&recent, backend, october_s, november_s).await;
        assert!(
            !rebuilt.iter().any(|row| is_fine(row)),
            "{backend:?}: {rebuilt:?}"
        );
        crate::support::assert_tier_cells_agree(&recent, backend).await;
        recent.finish().await;

        // Retention moves the horizon to mid-November: older fine cells go (minute cells of
        // series and tiers, hour cells of callers), newer ones and every other cell stay.
        let before_mid = cell_sums(&all, backend, october_s, mid_november_s).await;
        let fine_cells_before_mid: i64 = before_mid
            .iter()
            .filter(|row| is_fine(row))
            .map(|row| cell_count(row))
            .sum();
        let after_mid = cell_sums(&all, backend, mid_november_s, end_s).await;
        let dropped = all.store.drop_fine_cells(mid_november_s).await.unwrap();
        assert_eq!(dropped as i64, fine_cells_before_mid, "{backend:?}");
        assert_eq!(all.store.fine_cells_from().await.unwrap(), mid_november_s);
        let kept: Vec<String> = before_mid
            .iter()
            .filter(|row| !is_fine(row))
            .cloned()
            .collect();
        assert_eq!(
            cell_sums(&all, backend, october_s, mid_november_s).await,
            kept,
            "{backend:?}"
        );
        assert_eq!(
            cell_sums(&all, backend, mid_november_s, end_s).await,
            after_mid
        );
        assert_eq!(
            (
                csv(&all.store, OCTOBER).await,
                csv(&all.store, NOVEMBER).await
            ),
            reports,
            "{backend:?}"
        );
        // The horizon never moves back, and it moves by whole days.
        assert_eq!(all.store.drop_fine_cells(november_s).await.unwrap(), 0);
        assert_eq!(all.store.fine_cells_from().await.unwrap(), mid_november_s);
        assert!(
            all.store
                .drop_fine_cells(mid_november_s + 60)
                .await
                .is_err()
        );
        // Importing November again counts nothing twice and adds no old fine cell.
        let again = import(&all.store, november.path()).await;
        assert_eq!(again.imported, 0, "{backend:?}: {again}");
        assert_eq!(
            cell_sums(&all, backend, october_s, mid_november_s).await,
            kept
        );
        crate::support::assert_tier_cells_agree(&all, backend).await;
        all.finish().await;
    }
}
