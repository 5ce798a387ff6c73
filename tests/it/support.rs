//! Shared test helpers: a fresh database of each kind per test, and paths to fixtures.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::Connection;
use tierwatch::store::Store;

/// The two backends every storage test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

pub const BACKENDS: [Backend; 2] = [Backend::Postgres, Backend::Sqlite];

/// A fresh, migrated database that is removed when the test is done with it.
pub struct TestDb {
    pub store: Store,
    pub url: String,
    cleanup: Cleanup,
    _dir: Option<tempfile::TempDir>,
}

enum Cleanup {
    DropPostgres { admin_url: String, name: String },
    Nothing,
}

/// The Postgres server tests use; `scripts/test` makes sure it answers.
pub fn postgres_admin_url() -> String {
    std::env::var("TIERWATCH_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://root@127.0.0.1:5432/test".to_string())
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

impl TestDb {
    pub async fn new(backend: Backend) -> TestDb {
        match backend {
            Backend::Postgres => TestDb::postgres().await,
            Backend::Sqlite => TestDb::sqlite().await,
        }
    }

    async fn postgres() -> TestDb {
        let admin_url = postgres_admin_url();
        let name = format!(
            "tw_test_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let mut admin = sqlx::PgConnection::connect(&admin_url)
            .await
            .unwrap_or_else(|error| {
                panic!("Postgres is required for the tests ({admin_url}): {error}")
            });
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .expect("creating a test database");
        let url = database_url(&admin_url, &name);
        let store = Store::open(&url).await.expect("opening the test database");
        store.migrate().await.expect("migrating the test database");
        TestDb {
            store,
            url,
            cleanup: Cleanup::DropPostgres { admin_url, name },
            _dir: None,
        }
    }

    async fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("temporary directory");
        let url = format!("sqlite://{}", dir.path().join("test.sqlite").display());
        let store = Store::open(&url).await.expect("opening the SQLite file");
        store.migrate().await.expect("migrating the SQLite file");
        TestDb {
            store,
            url,
            cleanup: Cleanup::Nothing,
            _dir: Some(dir),
        }
    }

    /// Closes the store and drops a Postgres test database. Call at the end of a test; a
    /// test that panics leaves its database behind for inspection.
    pub async fn finish(self) {
        let TestDb { store, cleanup, .. } = self;
        drop(store);
        if let Cleanup::DropPostgres { admin_url, name } = cleanup {
            let mut admin = sqlx::PgConnection::connect(&admin_url)
                .await
                .expect("connecting to drop the test database");
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .execute(&mut admin)
            .await
            .expect("dropping the test database");
        }
    }
}

/// The URL of database `name` on the server of `admin_url`.
fn database_url(admin_url: &str, name: &str) -> String {
    let (base, query) = match admin_url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (admin_url, None),
    };
    let server = base.rsplit_once('/').map_or(base, |(server, _)| server);
    match query {
        Some(query) => format!("{server}/{name}?{query}"),
        None => format!("{server}/{name}"),
    }
}

pub fn fixture(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(path)
}

/// The shipped price table, as of the fixtures' writing, kept apart from config/ so hand
/// computed expectations don't move when the shipped table is updated.
pub fn test_prices() -> tierwatch::pricing::PriceTable {
    tierwatch::pricing::PriceTable::load(&fixture("pricing/launch-us-east-1.toml"))
        .expect("the test price table loads")
}

/// Test AWS credentials, and nothing from the machine's AWS setup (profiles, config files,
/// instance metadata), for a `tierwatch` process that talks to the local stand-ins.
pub fn with_test_aws_credentials(
    command: &mut std::process::Command,
) -> &mut std::process::Command {
    command
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_PROFILE")
        .env("AWS_CONFIG_FILE", "/nonexistent/tierwatch-test")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/tierwatch-test")
        .env("AWS_EC2_METADATA_DISABLED", "true")
}

/// A plain connection to a test database, for SQL the store does not offer (rebuilding an
/// older layout, reading tables directly).
pub enum RawConnection {
    Postgres(sqlx::PgConnection),
    Sqlite(sqlx::SqliteConnection),
}

impl RawConnection {
    pub async fn open(url: &str, backend: Backend) -> RawConnection {
        use sqlx::Connection as _;
        match backend {
            Backend::Postgres => {
                RawConnection::Postgres(sqlx::PgConnection::connect(url).await.unwrap())
            }
            Backend::Sqlite => {
                RawConnection::Sqlite(sqlx::SqliteConnection::connect(url).await.unwrap())
            }
        }
    }

    /// Runs statements separated by semicolons.
    pub async fn execute(&mut self, script: &str) {
        let script = sqlx::AssertSqlSafe(script.to_string());
        match self {
            RawConnection::Postgres(c) => sqlx::raw_sql(script).execute(c).await.map(drop),
            RawConnection::Sqlite(c) => sqlx::raw_sql(script).execute(c).await.map(drop),
        }
        .unwrap_or_else(|error| panic!("running a test script: {error}"));
    }

    /// The first column of every row, as text; an error when the query fails.
    pub async fn texts(&mut self, sql: &str) -> Result<Vec<String>, sqlx::Error> {
        let sql = sqlx::AssertSqlSafe(sql.to_string());
        match self {
            RawConnection::Postgres(c) => sqlx::query_scalar(sql).fetch_all(c).await,
            RawConnection::Sqlite(c) => sqlx::query_scalar(sql).fetch_all(c).await,
        }
    }

    /// A query's single integer.
    pub async fn count(&mut self, sql: &str) -> i64 {
        let sql = sqlx::AssertSqlSafe(sql.to_string());
        match self {
            RawConnection::Postgres(c) => sqlx::query_scalar(sql).fetch_one(c).await,
            RawConnection::Sqlite(c) => sqlx::query_scalar(sql).fetch_one(c).await,
        }
        .unwrap()
    }
}

/// Asserts that every tier cell holds the sums and merged histograms of its series' cells
/// (and that no series cell lacks its tier cell): the tier cells are kept beside the rollups
/// in the same transactions, and unfiltered dashboard reads trust them.
pub async fn assert_tier_cells_agree(db: &TestDb, backend: Backend) {
    // A cell as `granularity|bucket|tier|15 sums|latency hist|first-token hist`.
    let cell_text = |prefix: &str, tier: &str| {
        let columns = [
            "granularity",
            "bucket_start",
            "tier",
            "invocations",
            "errors",
            "input_tokens",
            "output_tokens",
            "cache_read_tokens",
            "cache_write_tokens",
            "priced_invocations",
            "unpriced_invocations",
            "cost_pico",
            "standard_cost_pico",
            "compared_cost_pico",
            "latency_count",
            "latency_sum_ms",
            "first_token_count",
            "first_token_sum_ms",
            "latency_hist",
            "first_token_hist",
        ];
        let texts: Vec<String> = columns
            .iter()
            .map(|column| match *column {
                "tier" => tier.to_string(),
                // SQLite keeps histograms as blobs: read as hex (see `packed_entries`).
                "latency_hist" | "first_token_hist" if backend == Backend::Sqlite => {
                    format!("hex({prefix}{column})")
                }
                _ => format!("CAST({prefix}{column} AS TEXT)"),
            })
            .collect();
        texts.join(" || '|' || ")
    };
    let mut connection = RawConnection::open(&db.url, backend).await;
    let tier_sql = format!("SELECT {} FROM tier_rollups", cell_text("", "tier"));
    let series_sql = format!(
        "SELECT {} FROM rollups r JOIN series s ON s.id = r.series_id",
        cell_text("r.", "s.tier")
    );
    let tier_rows = connection.texts(&tier_sql).await.unwrap();
    let expected = sum_per_tier(&connection.texts(&series_sql).await.unwrap());
    let mut actual: Vec<String> = tier_rows.iter().map(|row| normalize_cell(row)).collect();
    actual.sort();
    assert!(!expected.is_empty(), "{backend:?}: no rollups to compare");
    assert!(
        actual == expected,
        "{backend:?}: {} tier cells, {} expected from the series' cells; first difference: {:?}",
        actual.len(),
        expected.len(),
        actual.iter().zip(&expected).find(|(a, e)| a != e)
    );
}

/// Cells given as `granularity|bucket|tier|15 sums|latency hist|first-token hist` summed per
/// (granularity, bucket, tier), histograms merged bin by bin; sorted, in `normalize_cell` form.
fn sum_per_tier(rows: &[String]) -> Vec<String> {
    use std::collections::BTreeMap;
    /// A cell's sums and its two histograms (bin → count).
    type Summed = (Vec<i64>, [BTreeMap<i64, i64>; 2]);
    let mut cells: BTreeMap<String, Summed> = BTreeMap::new();
    for row in rows {
        let fields: Vec<&str> = row.split('|').collect();
        let key = fields[..3].join("|");
        let cell = cells.entry(key).or_default();
        let sums: Vec<i64> = fields[3..18].iter().map(|f| f.parse().unwrap()).collect();
        if cell.0.is_empty() {
            cell.0 = vec![0; sums.len()];
        }
        for (total, value) in cell.0.iter_mut().zip(sums) {
            *total += value;
        }
        for (histogram, text) in cell.1.iter_mut().zip(&fields[18..20]) {
            for entry in packed_entries(text) {
                *histogram.entry(entry >> 40).or_default() += entry & ((1 << 40) - 1);
            }
        }
    }
    cells
        .into_iter()
        .map(|(key, (sums, histograms))| {
            let sums: Vec<String> = sums.iter().map(i64::to_string).collect();
            let histograms: Vec<String> = histograms
                .iter()
                .map(|bins| {
                    let entries: Vec<String> = bins
                        .iter()
                        .map(|(bin, count)| ((bin << 40) | count).to_string())
                        .collect();
                    entries.join(",")
                })
                .collect();
            format!("{key}|{}|{}", sums.join("|"), histograms.join("|"))
        })
        .collect()
}

/// A tier cell row with its histograms written as bare comma lists (Postgres prints arrays as
/// `{…}`; SQLite's blobs are read as hex, 16 digits per entry).
fn normalize_cell(row: &str) -> String {
    let fields: Vec<&str> = row.split('|').collect();
    let histograms: Vec<String> = fields[18..20]
        .iter()
        .map(|text| {
            let entries: Vec<String> = packed_entries(text).iter().map(i64::to_string).collect();
            entries.join(",")
        })
        .collect();
    format!("{}|{}", fields[..18].join("|"), histograms.join("|"))
}

fn packed_entries(text: &str) -> Vec<i64> {
    if !text.starts_with('{') {
        assert_eq!(text.len() % 16, 0, "a histogram blob in hex: {text}");
        return (0..text.len())
            .step_by(16)
            .map(|at| i64::from_str_radix(&text[at..at + 16], 16).unwrap())
            .collect();
    }
    text.trim_matches(|c| matches!(c, '{' | '}'))
        .split(',')
        .filter(|entry| !entry.trim().is_empty())
        .map(|entry| entry.trim().parse::<i64>().unwrap())
        .collect()
}
