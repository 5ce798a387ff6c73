//! The stored AWS Price List (migration 0008): versions, the rows they published, Bedrock's
//! model list per region and resolved application inference profiles.
//!
//! Rows are only ever added. A version stores the rows it saw that were not stored yet, in
//! the same transaction as the version itself, so a crash leaves either the whole version or
//! nothing.

/// A version (one `prices sync` or `prices import` run) as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct PriceListVersion {
    pub id: i64,
    pub created_ms: i64,
    /// `sync` or `import`.
    pub origin: String,
    pub detail: String,
    pub products: i64,
    pub rows_seen: i64,
    pub rows_added: i64,
    /// JSON: skipped products by reason, unmapped names, conflicts.
    pub summary: String,
}

/// A version to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewVersion {
    pub origin: String,
    pub detail: String,
    pub products: i64,
    pub rows_seen: i64,
    pub summary: String,
}

/// A Price List row as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct StoredListPrice {
    pub version_id: i64,
    pub region: String,
    pub model_id: String,
    pub tier: String,
    pub routing: String,
    pub meter: String,
    /// YYYY-MM-DD.
    pub effective_from: String,
    pub rate_micros: i64,
    pub model_name: String,
    /// JSON.
    pub provenance: String,
}

/// One model of Bedrock's model list in a region.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct StoredFoundationModel {
    pub region: String,
    pub model_id: String,
    pub model_name: String,
    pub provider: String,
}

/// An application inference profile and the foundation model it routes to.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct StoredProfile {
    pub arn: String,
    /// `None` when it could not be resolved (`detail` says why).
    pub model_id: Option<String>,
    pub name: Option<String>,
    pub detail: String,
    pub resolved_ms: i64,
}

/// Calls that asked for one tier and were served on another, grouped (Reserved overflow).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct TierOverflow {
    pub account_id: String,
    pub region: String,
    pub model_id: String,
    /// The tier that served them.
    pub tier: String,
    pub invocations: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cache_read_tokens: i64,
    pub cache_write_tokens: i64,
    pub priced_invocations: i64,
    pub cost_pico: i64,
}

pub(super) const INSERT_VERSION: &str = "INSERT INTO price_list_versions (created_ms, origin, \
    detail, products, rows_seen, rows_added, summary) VALUES ($1, $2, $3, $4, $5, 0, $6) \
    RETURNING id";

pub(super) const INSERT_ROW: &str = "INSERT INTO price_list_rows (version_id, region, model_id, \
    tier, routing, meter, effective_from, rate_micros, model_name, provenance) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
    ON CONFLICT (region, model_id, tier, routing, meter, effective_from, rate_micros) DO NOTHING";

pub(super) const SET_ROWS_ADDED: &str =
    "UPDATE price_list_versions SET rows_added = $1 WHERE id = $2";

pub(super) const UPSERT_FOUNDATION_MODEL: &str = "INSERT INTO foundation_models (region, \
    model_id, model_name, provider, seen_ms) VALUES ($1, $2, $3, $4, $5) \
    ON CONFLICT (region, model_id) DO UPDATE SET model_name = excluded.model_name, \
    provider = excluded.provider, seen_ms = excluded.seen_ms";

pub(super) const UPSERT_PROFILE: &str = "INSERT INTO inference_profiles (arn, model_id, name, \
    detail, resolved_ms) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (arn) DO UPDATE SET \
    model_id = excluded.model_id, name = excluded.name, detail = excluded.detail, \
    resolved_ms = excluded.resolved_ms";

/// Price List reads on one backend.
macro_rules! price_list_reads {
    () => {
        pub(super) async fn price_list_rows(&self) -> Result<Vec<price_list::StoredListPrice>> {
            sqlx::query_as(
                "SELECT version_id, region, model_id, tier, routing, meter, effective_from, \
                 rate_micros, model_name, provenance FROM price_list_rows \
                 ORDER BY region, model_id, tier, routing, meter, effective_from, version_id",
            )
            .fetch_all(&self.pool)
            .await
            .context("reading the stored Price List")
        }

        pub(super) async fn price_list_versions(
            &self,
        ) -> Result<Vec<price_list::PriceListVersion>> {
            sqlx::query_as("SELECT * FROM price_list_versions ORDER BY id")
                .fetch_all(&self.pool)
                .await
                .context("reading Price List versions")
        }

        pub(super) async fn foundation_models(
            &self,
        ) -> Result<Vec<price_list::StoredFoundationModel>> {
            sqlx::query_as(
                "SELECT region, model_id, model_name, provider FROM foundation_models \
                 ORDER BY region, model_id",
            )
            .fetch_all(&self.pool)
            .await
            .context("reading Bedrock's model lists")
        }

        pub(super) async fn inference_profiles(&self) -> Result<Vec<price_list::StoredProfile>> {
            sqlx::query_as("SELECT * FROM inference_profiles ORDER BY arn")
                .fetch_all(&self.pool)
                .await
                .context("reading application inference profiles")
        }

        pub(super) async fn tier_overflow(
            &self,
            requested: &str,
            start_ms: i64,
            end_ms: i64,
        ) -> Result<Vec<price_list::TierOverflow>> {
            // Raw invocations, not rollups: rollups keep the served tier only. A report reads
            // one month of them, through the timestamp index.
            // Grouped on the dictionary ids, decoded once per group.
            sqlx::query_as(
                "SELECT a.value AS account_id, r.value AS region, m.value AS model_id, \
                 t.value AS tier, g.invocations, g.input_tokens, g.output_tokens, \
                 g.cache_read_tokens, g.cache_write_tokens, g.priced_invocations, g.cost_pico \
                 FROM (SELECT account_ref, region_ref, model_id_ref, tier_ref, \
                 CAST(COUNT(*) AS BIGINT) AS invocations, \
                 CAST(COALESCE(SUM(input_tokens), 0) AS BIGINT) AS input_tokens, \
                 CAST(COALESCE(SUM(output_tokens), 0) AS BIGINT) AS output_tokens, \
                 CAST(COALESCE(SUM(cache_read_tokens), 0) AS BIGINT) AS cache_read_tokens, \
                 CAST(COALESCE(SUM(cache_write_tokens), 0) AS BIGINT) AS cache_write_tokens, \
                 CAST(SUM(CASE WHEN pricing_status_ref = \
                 (SELECT id FROM dictionary WHERE value = 'unpriced') THEN 0 ELSE 1 END) AS BIGINT) \
                 AS priced_invocations, \
                 CAST(COALESCE(SUM(cost_pico), 0) AS BIGINT) AS cost_pico \
                 FROM invocations WHERE ts_ms >= $1 AND ts_ms < $2 \
                 AND requested_tier_ref = (SELECT id FROM dictionary WHERE value = $3) \
                 AND tier_ref <> requested_tier_ref \
                 GROUP BY account_ref, region_ref, model_id_ref, tier_ref) g \
                 JOIN dictionary a ON a.id = g.account_ref JOIN dictionary r ON r.id = g.region_ref \
                 JOIN dictionary m ON m.id = g.model_id_ref JOIN dictionary t ON t.id = g.tier_ref \
                 ORDER BY a.value, r.value, m.value, t.value",
            )
            .bind(start_ms)
            .bind(end_ms)
            .bind(requested)
            .fetch_all(&self.pool)
            .await
            .context("reading calls served on another tier than requested")
        }

        pub(super) async fn days_with_calls(
            &self,
            region: &str,
            model_id: &str,
            tier: &str,
            from_s: i64,
        ) -> Result<Vec<i64>> {
            // Day cells: one per day with calls, enough to list the months touched.
            sqlx::query_scalar(
                "SELECT r.bucket_start FROM rollups r JOIN series s ON s.id = r.series_id \
                 WHERE r.granularity = 86400 AND r.bucket_start >= $1 AND s.region = $2 \
                 AND s.model_id = $3 AND s.tier = $4 ORDER BY r.bucket_start",
            )
            .bind(from_s)
            .bind(region)
            .bind(model_id)
            .bind(tier)
            .fetch_all(&self.pool)
            .await
            .context("reading the days a price applies to")
        }
    };
}
pub(super) use price_list_reads;

/// Price List writes inside a write transaction (`self.tx`).
macro_rules! price_list_tx_statements {
    () => {
        async fn insert_price_list_version(
            &mut self,
            version: &price_list::NewVersion,
            rows: &[price_list::StoredListPrice],
            now_ms: i64,
        ) -> Result<(i64, u64)> {
            let id: i64 = sqlx::query_scalar(price_list::INSERT_VERSION)
                .bind(now_ms)
                .bind(&version.origin)
                .bind(&version.detail)
                .bind(version.products)
                .bind(version.rows_seen)
                .bind(&version.summary)
                .fetch_one(&mut *self.tx)
                .await
                .context("recording a Price List version")?;
            let mut added = 0;
            for row in rows {
                added += sqlx::query(price_list::INSERT_ROW)
                    .bind(id)
                    .bind(&row.region)
                    .bind(&row.model_id)
                    .bind(&row.tier)
                    .bind(&row.routing)
                    .bind(&row.meter)
                    .bind(&row.effective_from)
                    .bind(row.rate_micros)
                    .bind(&row.model_name)
                    .bind(&row.provenance)
                    .execute(&mut *self.tx)
                    .await
                    .context("storing a Price List row")?
                    .rows_affected();
            }
            sqlx::query(price_list::SET_ROWS_ADDED)
                .bind(i64::try_from(added).unwrap_or(i64::MAX))
                .bind(id)
                .execute(&mut *self.tx)
                .await
                .context("recording a Price List version")?;
            Ok((id, added))
        }

        async fn upsert_foundation_models(
            &mut self,
            models: &[price_list::StoredFoundationModel],
            now_ms: i64,
        ) -> Result<()> {
            for model in models {
                sqlx::query(price_list::UPSERT_FOUNDATION_MODEL)
                    .bind(&model.region)
                    .bind(&model.model_id)
                    .bind(&model.model_name)
                    .bind(&model.provider)
                    .bind(now_ms)
                    .execute(&mut *self.tx)
                    .await
                    .context("storing Bedrock's model list")?;
            }
            Ok(())
        }

        async fn upsert_profiles(&mut self, profiles: &[price_list::StoredProfile]) -> Result<()> {
            for profile in profiles {
                sqlx::query(price_list::UPSERT_PROFILE)
                    .bind(&profile.arn)
                    .bind(&profile.model_id)
                    .bind(&profile.name)
                    .bind(&profile.detail)
                    .bind(profile.resolved_ms)
                    .execute(&mut *self.tx)
                    .await
                    .context("storing an application inference profile")?;
            }
            Ok(())
        }
    };
}
pub(super) use price_list_tx_statements;
