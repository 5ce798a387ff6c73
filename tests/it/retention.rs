//! `retention.raw_invocations`: whole months of raw invocations dropped (a partition on
//! Postgres), rollups kept, on both backends.

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
