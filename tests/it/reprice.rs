//! Repricing by price group (one decision per group of alike calls; only the calls of groups
//! whose price changes are rewritten) against the reference: every call decided on its own. On a
//! simulated month with several models, tiers, routings, unpriced models, errors and cache
//! tokens, on both backends.

use std::path::Path;
use std::sync::Arc;

use tierwatch::ingest::record::ParseOptions;
use tierwatch::ingest::{ImportSettings, import_paths};
use tierwatch::model::{Invocation, Money};
use tierwatch::pricing::{PriceTable, PricingOutcome};
use tierwatch::report::Month;
use tierwatch::simulate::{S3LayoutOptions, SimulationSpec, Simulator, write_s3_layout};
use tierwatch::store::{RepriceDecision, RepriceOutcome, RepricePath, Store, StoreError};

use crate::import::prices_with_a_nova_pro_change;
use crate::support::{
    BACKENDS, Backend, RawConnection, TestDb, assert_tier_cells_agree, test_prices,
};

const NOVEMBER: Month = Month {
    year: 2025,
    month: 11,
};

/// The decision `tierwatch reprice` makes with `prices`.
pub(crate) fn decide_with(
    prices: &PriceTable,
) -> impl FnMut(&mut Invocation) -> RepriceDecision + Send + '_ {
    move |invocation| match prices.price(invocation) {
        PricingOutcome::Priced(priced) => RepriceDecision::Priced {
            price: Arc::new(tierwatch::ingest::price_row_record(&priced.price)),
            cost: priced.cost,
            standard: priced.standard_equivalent.map(|standard| {
                (
                    Arc::new(tierwatch::ingest::price_row_record(&standard.price)),
                    standard.cost,
                )
            }),
        },
        PricingOutcome::NotBilled => RepriceDecision::NotBilled,
        PricingOutcome::Unpriced { reason } => RepriceDecision::Unpriced { reason },
    }
}

/// [`decide_with`], but every priced call costs a flat $0.000001: not Σ tokens × rate.
fn flat_fee(prices: &PriceTable) -> impl FnMut(&mut Invocation) -> RepriceDecision + Send + '_ {
    let mut decide = decide_with(prices);
    move |invocation| match decide(invocation) {
        RepriceDecision::Priced {
            price, standard, ..
        } => RepriceDecision::Priced {
            price,
            cost: Money(1_000_000),
            standard,
        },
        other => other,
    }
}

/// Decides every other call (by request id) with `changed`, the rest with `same`: the calls of
/// one price group then hold two prices, as when the price table changed during an import.
fn half_changed<'p>(
    same: &'p PriceTable,
    changed: &'p PriceTable,
) -> impl FnMut(&mut Invocation) -> RepriceDecision + Send + 'p {
    let (mut old, mut new) = (decide_with(same), decide_with(changed));
    move |invocation| {
        let parity: u32 = invocation.request_id.bytes().map(u32::from).sum();
        if parity.is_multiple_of(2) {
            new(invocation)
        } else {
            old(invocation)
        }
    }
}

async fn import(store: &Store, path: &Path) {
    let settings = ImportSettings {
        options: Arc::new(ParseOptions::default()),
        prices: Arc::new(test_prices()),
        batch_size: 500,
        progress: false,
    };
    let summary = import_paths(store, &[path.to_path_buf()], settings)
        .await
        .expect("the import runs");
    assert!(summary.imported > 2_000, "{summary}");
}

/// Everything a reprice writes, as comparable text: every invocation (prices by fingerprint,
/// since two databases may number the same price rows differently), every rollup cell with
/// its histograms, every caller cell and every unpriced cause, each under its series' names.
async fn dump(db: &TestDb, backend: Backend) -> Vec<String> {
    let text = |column: &str| match column {
        // SQLite keeps histograms as blobs.
        "r.latency_hist" | "r.first_token_hist" if backend == Backend::Sqlite => {
            format!("hex({column})")
        }
        _ => format!("COALESCE(CAST({column} AS TEXT), '-')"),
    };
    let joined = |columns: &[&str]| {
        columns
            .iter()
            .map(|column| text(column))
            .collect::<Vec<_>>()
            .join(" || '|' || ")
    };
    let invocations = joined(&[
        "i.account_id",
        "i.region",
        "i.request_id",
        "i.model_id",
        "i.routing",
        "i.model_resolved",
        "i.tier",
        "i.pricing_status",
        "p.fingerprint",
        "i.cost_pico",
        "sp.fingerprint",
        "i.standard_cost_pico",
        "i.unpriced_reason",
    ]);
    let totals = [
        "r.invocations",
        "r.errors",
        "r.input_tokens",
        "r.output_tokens",
        "r.cache_read_tokens",
        "r.cache_write_tokens",
        "r.priced_invocations",
        "r.unpriced_invocations",
        "r.cost_pico",
        "r.standard_cost_pico",
        "r.compared_cost_pico",
    ];
    let cell_key = [
        "r.granularity",
        "r.bucket_start",
        "s.account_id",
        "s.region",
        "s.model_id",
        "s.tier",
    ];
    let latency = [
        "r.latency_count",
        "r.latency_sum_ms",
        "r.latency_hist",
        "r.first_token_hist",
    ];
    let cells = joined(&[&cell_key[..], &totals, &latency].concat());
    let caller_cells = joined(&[&cell_key[..], &["r.dimension", "r.value"], &totals].concat());
    let unpriced = joined(&[
        "r.bucket_start",
        "s.account_id",
        "s.region",
        "s.model_id",
        "s.tier",
        "r.reason",
        "r.invocations",
    ]);
    let queries = [
        format!(
            "SELECT {invocations} FROM invocation_rows i \
             LEFT JOIN price_rows p ON p.id = i.price_id \
             LEFT JOIN price_rows sp ON sp.id = i.standard_price_id"
        ),
        format!("SELECT {cells} FROM rollups r JOIN series s ON s.id = r.series_id"),
        format!("SELECT {caller_cells} FROM caller_rollups r JOIN series s ON s.id = r.series_id"),
        format!("SELECT {unpriced} FROM unpriced_rollups r JOIN series s ON s.id = r.series_id"),
    ];
    let mut connection = RawConnection::open(&db.url, backend).await;
    let mut dump = Vec::new();
    for sql in queries {
        let mut rows = connection.texts(&sql).await.unwrap();
        rows.sort();
        dump.push(format!("{} rows", rows.len()));
        dump.extend(rows);
    }
    dump
}

fn first_difference(left: &[String], right: &[String]) -> String {
    left.iter()
        .zip(right)
        .find(|(l, r)| l != r)
        .map(|(l, r)| format!("\n  by group:   {l}\n  row by row: {r}"))
        .unwrap_or_else(|| format!("lengths {} and {}", left.len(), right.len()))
}

/// A simulated November 2025 of 3,000 records (several models, tiers, routings, unpriced
/// models, errors, cache tokens) in the S3 delivery layout.
fn simulated_november(seed: u64) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let spec = SimulationSpec::month(2025, 11, 3_000, seed);
    write_s3_layout(
        Simulator::new(&spec).unwrap(),
        dir.path(),
        &S3LayoutOptions::default(),
    )
    .unwrap();
    dir
}

/// Two fresh databases of `backend` holding the same import of `dir`.
async fn two_databases_holding(dir: &Path, backend: Backend) -> (TestDb, TestDb) {
    let first = TestDb::new(backend).await;
    let second = TestDb::new(backend).await;
    import(&first.store, dir).await;
    import(&second.store, dir).await;
    (first, second)
}

#[tokio::test]
async fn reprice_by_group_equals_deciding_every_call_on_its_own() {
    let dir = simulated_november(5);
    let (start, end) = (NOVEMBER.start_ms(), NOVEMBER.end_ms());
    let changed = prices_with_a_nova_pro_change("2025-11-20");
    for backend in BACKENDS {
        let (by_group, row_by_row) = two_databases_holding(dir.path(), backend).await;
        let before = dump(&by_group, backend).await;
        assert_eq!(before, dump(&row_by_row, backend).await, "{backend:?}");

        // The same prices: nothing changes, and the rebuilt rollups equal the imported ones.
        let same = test_prices();
        let outcome = by_group
            .store
            .reprice(start, end, decide_with(&same))
            .await
            .unwrap();
        assert_eq!(outcome.changed, 0, "{backend:?}");
        assert!(
            matches!(outcome.path, RepricePath::ByPriceGroup { .. }),
            "{backend:?}: decided per group"
        );
        assert_eq!(dump(&by_group, backend).await, before, "{backend:?}");

        // A price change from Nov 20: the same rows change, to the same values, both ways.
        let both = (&by_group, &row_by_row);
        let grouped = reprice_both_ways(both, backend, || decide_with(&changed)).await;
        assert!(
            matches!(grouped.path, RepricePath::ByPriceGroup { .. }),
            "{backend:?}: decided per group"
        );
        assert!(grouped.changed > 50, "{backend:?}: {grouped:?}");
        assert!(
            dump(&by_group, backend).await != before,
            "{backend:?}: the change shows"
        );

        // A decision that is not Σ tokens × rate (a flat fee per call) cannot be grouped: the
        // reprice notices and decides row by row, with the same result as the reference.
        let test_prices = test_prices();
        let grouped = reprice_both_ways(both, backend, || flat_fee(&test_prices)).await;
        assert_eq!(
            grouped.path,
            RepricePath::PerCall,
            "{backend:?}: decided per call"
        );

        // Calls of one price group priced two ways: the group's calls that already have the
        // new price are left alone, the others change, as deciding each call does.
        for db in [&by_group, &row_by_row] {
            db.store
                .reprice_and_rebuild(start, end, half_changed(&test_prices, &changed))
                .await
                .unwrap();
        }
        let grouped = reprice_both_ways(both, backend, || decide_with(&changed)).await;
        let RepricePath::ByPriceGroup {
            groups,
            changed_groups,
        } = grouped.path
        else {
            panic!("{backend:?}: decided per group: {grouped:?}");
        };
        assert!(0 < changed_groups && changed_groups < groups, "{grouped:?}");
        assert!(grouped.changed > 0, "{backend:?}: {grouped:?}");
        by_group.finish().await;
        row_by_row.finish().await;
    }
}

/// Reprices November in `by_group` as `tierwatch reprice` does and in `row_by_row` deciding
/// every call on its own and rebuilding the rollups, both with a decider made by `decider`:
/// asserts that as many calls changed and that both databases then hold the same rows and
/// rollups. Returns the first one's outcome.
async fn reprice_both_ways<F>(
    (by_group, row_by_row): (&TestDb, &TestDb),
    backend: Backend,
    decider: impl Fn() -> F,
) -> RepriceOutcome
where
    F: FnMut(&mut Invocation) -> RepriceDecision + Send,
{
    let (start, end) = (NOVEMBER.start_ms(), NOVEMBER.end_ms());
    let grouped = by_group.store.reprice(start, end, decider()).await.unwrap();
    let reference = row_by_row
        .store
        .reprice_and_rebuild(start, end, decider())
        .await
        .unwrap();
    assert_eq!(reference.path, RepricePath::PerCall, "{backend:?}");
    let counts = |outcome: &RepriceOutcome| (outcome.invocations, outcome.changed);
    assert_eq!(counts(&grouped), counts(&reference), "{backend:?}");
    let (left, right) = (
        dump(by_group, backend).await,
        dump(row_by_row, backend).await,
    );
    assert!(
        left == right,
        "{backend:?}: {}",
        first_difference(&left, &right)
    );
    assert_tier_cells_agree(by_group, backend).await;
    assert_tier_cells_agree(row_by_row, backend).await;
    grouped
}

/// Day cells and unpriced causes (what monthly reports and month views read), as text.
async fn day_dump(db: &TestDb, backend: Backend) -> Vec<String> {
    rows_of(
        db,
        backend,
        &[
            "SELECT r.bucket_start || '|' || s.account_id || '|' || s.region || '|' || s.model_id \
             || '|' || s.tier || '|' || r.invocations || '|' || r.priced_invocations || '|' \
             || r.unpriced_invocations || '|' || r.cost_pico || '|' || r.standard_cost_pico \
             || '|' || r.compared_cost_pico FROM rollups r JOIN series s ON s.id = r.series_id \
             WHERE r.granularity = 86400",
            "SELECT r.bucket_start || '|' || s.account_id || '|' || s.region || '|' || s.model_id \
             || '|' || s.tier || '|' || r.reason || '|' || r.invocations \
             FROM unpriced_rollups r JOIN series s ON s.id = r.series_id",
        ],
    )
    .await
}

/// Hour and minute cells' costs and caller cells' costs, as text.
async fn finer_cost_dump(db: &TestDb, backend: Backend) -> Vec<String> {
    rows_of(
        db,
        backend,
        &[
            "SELECT r.granularity || '|' || r.bucket_start || '|' || r.series_id || '|' \
             || r.cost_pico || '|' || r.unpriced_invocations FROM rollups r \
             WHERE r.granularity < 86400",
            "SELECT r.granularity || '|' || r.bucket_start || '|' || r.series_id || '|' \
             || r.dimension || '|' || r.value || '|' || r.cost_pico FROM caller_rollups r",
        ],
    )
    .await
}

async fn rows_of(db: &TestDb, backend: Backend, queries: &[&str]) -> Vec<String> {
    let mut connection = RawConnection::open(&db.url, backend).await;
    let mut dump = Vec::new();
    for sql in queries {
        let mut rows = connection.texts(sql).await.unwrap();
        rows.sort();
        dump.push(format!("{} rows", rows.len()));
        dump.extend(rows);
    }
    dump
}

async fn report_csv(store: &Store) -> String {
    tierwatch::report::build(store, NOVEMBER)
        .await
        .unwrap()
        .render(tierwatch::report::Format::Csv)
}

/// Retention dropped the month's raw invocations, keeping its price groups: repricing it from
/// them gives the day cells, unpriced causes and report that repricing the raw rows gives.
#[tokio::test]
async fn reprice_from_kept_price_groups_equals_repricing_the_raw_rows() {
    let dir = simulated_november(9);
    let (start, end) = (NOVEMBER.start_ms(), NOVEMBER.end_ms());
    let changed = prices_with_a_nova_pro_change("2025-11-20");
    for backend in BACKENDS {
        let (raw, kept) = two_databases_holding(dir.path(), backend).await;
        let imported = (
            day_dump(&kept, backend).await,
            report_csv(&kept.store).await,
        );
        let dropped = kept.store.drop_raw_invocations(end).await.unwrap();
        assert!(dropped.invocations > 2_000, "{backend:?}: {dropped:?}");
        assert!(dropped.price_groups > 100, "{backend:?}: {dropped:?}");
        assert!(
            dropped.price_groups < dropped.invocations,
            "{backend:?}: {dropped:?}"
        );
        assert_eq!(kept.store.count_invocations(start, end).await.unwrap(), 0);
        let finer = finer_cost_dump(&kept, backend).await;

        // The same prices from the groups: nothing changes.
        let same = test_prices();
        let outcome = kept
            .store
            .reprice(start, end, decide_with(&same))
            .await
            .unwrap();
        assert!(
            matches!(outcome.path, RepricePath::FromKeptGroups { groups, .. }
                if groups == dropped.price_groups),
            "{backend:?}: {outcome:?}"
        );
        assert_eq!(outcome.changed, 0, "{backend:?}");
        assert_eq!(outcome.invocations, dropped.invocations, "{backend:?}");
        let now = (
            day_dump(&kept, backend).await,
            report_csv(&kept.store).await,
        );
        assert!(now == imported, "{backend:?}");

        // A mid-month price change: from the groups as from the raw rows.
        let from_rows = raw
            .store
            .reprice(start, end, decide_with(&changed))
            .await
            .unwrap();
        let from_groups = kept
            .store
            .reprice(start, end, decide_with(&changed))
            .await
            .unwrap();
        assert!(from_rows.changed > 50, "{backend:?}: {from_rows:?}");
        assert!(from_groups.changed > 0, "{backend:?}: {from_groups:?}");
        let (left, right) = (
            day_dump(&kept, backend).await,
            day_dump(&raw, backend).await,
        );
        assert!(left != imported.0, "{backend:?}: the change shows");
        assert_tier_cells_agree(&kept, backend).await;
        assert!(
            left == right,
            "{backend:?}: {}",
            first_difference(&left, &right)
        );
        assert_eq!(
            report_csv(&kept.store).await,
            report_csv(&raw.store).await,
            "{backend:?}"
        );
        // What day groups cannot split keeps its earlier costs (the documented limit).
        assert!(
            finer_cost_dump(&kept, backend).await == finer,
            "{backend:?}"
        );

        // A price that is not Σ tokens × rate cannot be applied to sums: refused, unchanged;
        // so is rebuilding rollups from rows that are gone.
        let test_prices = test_prices();
        let refused = kept.store.reprice(start, end, flat_fee(&test_prices)).await;
        assert!(
            matches!(refused, Err(StoreError::NotRepricable { .. })),
            "{backend:?}: {refused:?}"
        );
        let refused = kept
            .store
            .reprice_and_rebuild(start, end, decide_with(&test_prices))
            .await;
        assert!(
            matches!(refused, Err(StoreError::RawInvocationsDropped { .. })),
            "{backend:?}: {refused:?}"
        );
        assert!(day_dump(&kept, backend).await == right, "{backend:?}");

        // Days dropped before price groups were kept (deleted here) are refused too.
        let mut connection = RawConnection::open(&kept.url, backend).await;
        connection
            .execute("DELETE FROM price_groups WHERE bucket_start < 1763251200") // Nov 16
            .await;
        let refused = kept.store.reprice(start, end, decide_with(&same)).await;
        let message = match refused {
            Err(error @ StoreError::NotRepricable { .. }) => error.to_string(),
            other => panic!("{backend:?}: {other:?}"),
        };
        assert!(message.contains("in no kept price group"), "{message}");
        assert!(day_dump(&kept, backend).await == right, "{backend:?}");
        raw.finish().await;
        kept.finish().await;
    }
}
