//! Keeping the price table current, and loading the table in effect.
//!
//! ```text
//! Pricing API (GetProducts) ─┐                         ┌─► store: a new version + new rows
//! offer files on disk ───────┴─► pricing::pricelist ─► pricing::catalog (model ids) ┤
//! Bedrock ListFoundationModels ─► pricing::model_names ┘                            └─► what changed
//! ```
//!
//! [`load`] builds the table calls are priced with: the stored Price List (every version, a
//! later version winning for the same key and date), or the built-in table when no sync or
//! import has run, with the user's own `pricing.toml` over it.
//!
//! [`sync`] and [`import_files`] read the Price List and store it as a new version. A price
//! row is stored only when it changes what the table says: a new key, or a rate that differs
//! from the one in effect on its date. Rows are never rewritten, so history stays as it was;
//! [`VersionReport`] lists what was added and changed, what could not be mapped, and which
//! stored months `tierwatch reprice` should recompute.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};

use crate::config::{Config, PricingConfig, PricingSource};
use crate::ingest::PricingContext;
use crate::ingest::record::ParseOptions;
use crate::pricing::catalog::{Catalog, CatalogKey, CatalogPrice, Conflict, UnmappedName};
use crate::pricing::model_names::{FoundationModel, ModelNameMap};
use crate::pricing::pricelist::{
    BEDROCK_SERVICE_CODES, ListRouting, Meter, ParsedPrices, PriceListError, PriceListParser,
    Provenance, skip_counts,
};
use crate::pricing::{Assembled, PriceTable, PricingError, UserTable};
use crate::sources::{self, AwsTarget, SourceError};
use crate::store::price_list::{NewVersion, StoredFoundationModel, StoredListPrice, StoredProfile};
use crate::store::{Store, StoreError};

/// Why prices could not be loaded, synced or imported.
#[derive(Debug, thiserror::Error)]
pub enum PricesError {
    #[error(transparent)]
    Pricing(#[from] PricingError),
    #[error(transparent)]
    PriceList(#[from] PriceListError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Aws(#[from] SourceError),
    #[error("{path}: cannot read: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("stored Price List row {key} is unreadable: {reason}")]
    StoredRow { key: String, reason: String },
}

/// Where the Price List rows of the table in effect come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListOrigin {
    /// `pricing.aws_price_list = false`: the user's table alone.
    Off,
    /// No sync or import has run: the built-in table (`config/pricelist/`).
    Builtin,
    /// Rows stored by syncs and imports.
    Stored { versions: usize, latest: String },
}

impl std::fmt::Display for ListOrigin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ListOrigin::Off => f.write_str("no AWS Price List (aws_price_list = false)"),
            ListOrigin::Builtin => f.write_str(
                "built-in Price List table (config/pricelist/; run `tierwatch prices sync` or `prices import` for AWS's current one)",
            ),
            ListOrigin::Stored { versions, latest } => write!(
                f,
                "AWS Price List stored in the database ({versions} versions, latest {latest})"
            ),
        }
    }
}

/// The table in effect and how it was made.
#[derive(Debug)]
pub struct LoadedPrices {
    pub table: PriceTable,
    /// Keys the user's table overrides (see [`crate::pricing::Override`]).
    pub overrides: Vec<crate::pricing::Override>,
    pub list_origin: ListOrigin,
    /// The user's table, when one is configured.
    pub user_table: Option<PathBuf>,
    /// The Price List rows the table was built from.
    pub list: Vec<CatalogPrice>,
}

impl LoadedPrices {
    /// One line saying what prices calls: for reprice messages and check-config.
    pub fn describe(&self) -> String {
        match &self.user_table {
            Some(path) => format!("{}, with {} over it", self.list_origin, path.display()),
            None => self.list_origin.to_string(),
        }
    }
}

/// Builds the table in effect: the stored Price List (or the built-in one) with the user's
/// table over it.
pub async fn load(config: &PricingConfig, store: &Store) -> Result<LoadedPrices, PricesError> {
    if !config.aws_price_list {
        return assemble(config, Vec::new(), ListOrigin::Off);
    }
    let stored = store.price_list_rows().await?;
    let (list, list_origin) = if stored.is_empty() {
        (Catalog::builtin()?.prices, ListOrigin::Builtin)
    } else {
        let versions = store.price_list_versions().await?;
        let latest = versions.last().map_or_else(String::new, |version| {
            format!(
                "#{} {} {}",
                version.id,
                version.origin,
                format_ms(version.created_ms)
            )
        });
        let origin = ListOrigin::Stored {
            versions: versions.len(),
            latest,
        };
        (in_effect(stored)?, origin)
    };
    assemble(config, list, list_origin)
}

/// The built-in Price List table with the user's table over it (no database needed).
pub fn load_builtin(config: &PricingConfig) -> Result<LoadedPrices, PricesError> {
    if !config.aws_price_list {
        return assemble(config, Vec::new(), ListOrigin::Off);
    }
    assemble(config, Catalog::builtin()?.prices, ListOrigin::Builtin)
}

fn assemble(
    config: &PricingConfig,
    list: Vec<CatalogPrice>,
    list_origin: ListOrigin,
) -> Result<LoadedPrices, PricesError> {
    let user_table = match &config.source {
        PricingSource::File(path) => Some(path.clone()),
        PricingSource::Builtin => None,
    };
    let text = match &user_table {
        Some(path) => Some(read(path)?),
        None => None,
    };
    let origin = user_table
        .as_ref()
        .map(|path| path.display().to_string())
        .unwrap_or_default();
    let user = text.as_deref().map(|text| UserTable {
        text,
        origin: &origin,
    });
    let Assembled { table, overrides } = PriceTable::assemble(&list, user)?;
    Ok(LoadedPrices {
        table: table.with_reservations(&config.reservations),
        overrides,
        list_origin,
        user_table,
        list,
    })
}

fn read(path: &Path) -> Result<String, PricesError> {
    std::fs::read_to_string(path).map_err(|source| PricesError::Read {
        path: path.display().to_string(),
        source,
    })
}

/// The stored rows in effect: per key and date, the row of the latest version.
fn in_effect(stored: Vec<StoredListPrice>) -> Result<Vec<CatalogPrice>, PricesError> {
    let mut latest = BTreeMap::<(CatalogKey, NaiveDate), (i64, CatalogPrice)>::new();
    for row in stored {
        let version = row.version_id;
        let price = from_stored(row)?;
        let slot = (price.key.clone(), price.effective_from);
        match latest.get(&slot) {
            Some((kept, _)) if *kept > version => {}
            _ => {
                latest.insert(slot, (version, price));
            }
        }
    }
    Ok(latest.into_values().map(|(_, price)| price).collect())
}

fn from_stored(row: StoredListPrice) -> Result<CatalogPrice, PricesError> {
    let key_text = format!(
        "{} {} {} {} {} {}",
        row.region, row.model_id, row.tier, row.routing, row.meter, row.effective_from
    );
    let bad = |reason: &str| PricesError::StoredRow {
        key: key_text.clone(),
        reason: reason.to_string(),
    };
    let tier = crate::model::Tier::parse(&row.tier)
        .ok()
        .flatten()
        .ok_or_else(|| bad("unknown tier"))?;
    let routing = ListRouting::parse(&row.routing).ok_or_else(|| bad("unknown routing"))?;
    let meter = Meter::from_name(&row.meter).ok_or_else(|| bad("unknown meter"))?;
    let effective_from = NaiveDate::parse_from_str(&row.effective_from, "%Y-%m-%d")
        .map_err(|_| bad("unreadable effective date"))?;
    let provenance: Provenance =
        serde_json::from_str(&row.provenance).map_err(|error| bad(&error.to_string()))?;
    Ok(CatalogPrice {
        key: CatalogKey {
            region: row.region,
            model_id: row.model_id,
            tier,
            routing,
            meter,
        },
        effective_from,
        rate_micros: row.rate_micros,
        model_name: row.model_name,
        provenance,
    })
}

fn to_stored(price: &CatalogPrice) -> StoredListPrice {
    StoredListPrice {
        version_id: 0,
        region: price.key.region.clone(),
        model_id: price.key.model_id.clone(),
        tier: price.key.tier.as_str().to_string(),
        routing: price.key.routing.as_str().to_string(),
        meter: price.key.meter.name(),
        effective_from: price.effective_from.format("%Y-%m-%d").to_string(),
        rate_micros: price.rate_micros,
        model_name: price.model_name.clone(),
        provenance: serde_json::to_string(&price.provenance).unwrap_or_default(),
    }
}

// --- Application inference profiles -------------------------------------------------------------

/// Parse options with application inference profiles: those resolved and stored (by `prices
/// sync` and the daemon), with the config's own mapping over them.
pub async fn parse_options(config: &Config, store: &Store) -> Result<ParseOptions, PricesError> {
    let mut options = config.parse_options();
    for profile in store.inference_profiles().await? {
        if let Some(target) = profile.model_id {
            options
                .application_profiles
                .entry(profile.arn)
                .or_insert(target);
        }
    }
    Ok(options)
}

/// What parsing and pricing use now: the table in effect and the parse options.
pub async fn context(config: &Config, store: &Store) -> Result<PricingContext, PricesError> {
    Ok(PricingContext {
        options: Arc::new(parse_options(config, store).await?),
        prices: Arc::new(load(&config.pricing, store).await?.table),
    })
}

/// What resolving application inference profiles found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProfileRefresh {
    pub resolved: usize,
    /// ARNs whose models are not one foundation model, with why.
    pub unresolved: Vec<(String, String)>,
}

/// Lists the application inference profiles of every source's account and region
/// (`ListInferenceProfiles`) and stores what each routes to.
pub async fn refresh_profiles(
    config: &Config,
    store: &Store,
) -> Result<ProfileRefresh, PricesError> {
    let mut refresh = ProfileRefresh::default();
    let mut stored = Vec::new();
    let mut seen = BTreeSet::new();
    for source in &config.sources {
        let target = AwsTarget::from(source);
        if !seen.insert((target.region, target.endpoint_url, target.role_arn)) {
            continue;
        }
        let sdk = sources::target_config(target, config.daemon.max_attempts).await;
        let client = aws_sdk_bedrock::Client::new(&sdk);
        for listed in sources::bedrock::application_profiles(&client).await? {
            stored.push(stored_profile(&listed.arn, &listed.models, &mut refresh));
        }
    }
    store.save_inference_profiles(&stored).await?;
    Ok(refresh)
}

/// A profile's models as the stored mapping (counted in `refresh`).
pub fn stored_profile(
    arn: &str,
    models: &sources::bedrock::ProfileModels,
    refresh: &mut ProfileRefresh,
) -> StoredProfile {
    let target = sources::bedrock::profile_target(&models.model_arns);
    let detail = match &target {
        Some(target) => {
            refresh.resolved += 1;
            format!("GetInferenceProfile: {} routes to {target}", models.name)
        }
        None => {
            let why = format!(
                "its models are not one foundation model: {}",
                models.model_arns.join(", ")
            );
            refresh.unresolved.push((arn.to_string(), why.clone()));
            why
        }
    };
    StoredProfile {
        arn: arn.to_string(),
        model_id: target,
        name: Some(models.name.clone()),
        detail,
        resolved_ms: Utc::now().timestamp_millis(),
    }
}

// --- In the daemon ------------------------------------------------------------------------------

/// The lock replicas take to sync (not a valid source name: sources can't clash).
const SYNC_LOCK: &str = "tierwatch:prices";

/// How often the daemon reloads the table and profiles (another replica may have synced).
const RELOAD_EVERY: std::time::Duration = std::time::Duration::from_secs(3_600);

/// Keeps the daemon's prices current until `stop`: syncs from the AWS Price List every
/// `pricing.sync_interval` when `pricing.sync` is on (one replica at a time), resolves the
/// sources' application inference profiles daily, and hands pollers the reloaded table.
pub async fn run(
    config: Config,
    store: Store,
    context: tokio::sync::watch::Sender<PricingContext>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut leadership = store.leadership();
    let now = tokio::time::Instant::now();
    let mut next_sync = now;
    // Profiles are listed from the sources' accounts: none without sources.
    let mut next_profiles = (!config.sources.is_empty()).then_some(now);
    loop {
        let now = tokio::time::Instant::now();
        if config.pricing.sync && now >= next_sync {
            next_sync = now + config.pricing.sync_interval;
            match leadership.lead(SYNC_LOCK).await {
                Ok(true) => match sync(&store, &config).await {
                    Ok(report) => tracing::info!(
                        version = report.version_id,
                        added = report.added.len(),
                        changed = report.changed.len(),
                        unmapped = report.unmapped.len(),
                        months = ?report.affected_months,
                        "prices synced from the AWS Price List"
                    ),
                    Err(error) => {
                        tracing::warn!(%error, "price sync failed; retrying in an hour");
                        next_sync = now + RELOAD_EVERY;
                    }
                },
                Ok(false) => tracing::debug!("another replica syncs prices"),
                Err(error) => tracing::warn!(%error, "cannot take the price sync lock"),
            }
        }
        if next_profiles.is_some_and(|due| now >= due) {
            next_profiles = Some(now + std::time::Duration::from_secs(86_400));
            if let Err(error) = refresh_profiles(&config, &store).await {
                tracing::warn!(%error, "cannot list application inference profiles; retrying in an hour");
                next_profiles = Some(now + RELOAD_EVERY);
            }
        }
        match self::context(&config, &store).await {
            Ok(current) => {
                let _ = context.send(current);
            }
            Err(error) => tracing::warn!(%error, "cannot reload prices; keeping the ones in use"),
        }
        let wake = next_wake(now, next_profiles, config.pricing.sync.then_some(next_sync));
        tokio::select! {
            _ = tokio::time::sleep_until(wake) => {}
            _ = stop.wait_for(|stopped| *stopped) => break,
        }
    }
    leadership.release_all().await;
}

/// When the daemon's price loop wakes next: at the reload interval, or earlier when profiles
/// or a sync are due. Never in the past for work that is not due, or the loop would spin.
fn next_wake(
    now: tokio::time::Instant,
    profiles_due: Option<tokio::time::Instant>,
    sync_due: Option<tokio::time::Instant>,
) -> tokio::time::Instant {
    [profiles_due, sync_due]
        .into_iter()
        .flatten()
        .fold(now + RELOAD_EVERY, std::cmp::Ord::min)
}

// --- Sync and import ----------------------------------------------------------------------------

/// A price that changed: the rate in effect before, and the new row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changed {
    pub before: Option<CatalogPrice>,
    pub after: CatalogPrice,
}

/// What one sync or import did.
#[derive(Debug, Clone, Default)]
pub struct VersionReport {
    pub version_id: i64,
    pub origin: String,
    pub detail: String,
    pub products: usize,
    /// Mapped rows the Price List holds.
    pub rows_seen: usize,
    /// Rows for keys the stored table did not price.
    pub added: Vec<CatalogPrice>,
    /// Rows whose rate differs from the one in effect on their date.
    pub changed: Vec<Changed>,
    pub unchanged: usize,
    /// Stored keys this read no longer lists (kept: old calls still need them).
    pub no_longer_listed: usize,
    pub skipped: Vec<(&'static str, usize)>,
    pub unmapped: Vec<UnmappedName>,
    pub conflicts: Vec<Conflict>,
    pub mantle_twins: usize,
    /// Months with stored calls whose price this version changes (`YYYY-MM`).
    pub affected_months: Vec<String>,
    /// Application inference profiles resolved (sync only).
    pub profiles: Option<ProfileRefresh>,
}

/// Reads Price List offer files (or saved GetProducts answers) and stores them as a new
/// version. Works offline: models are mapped with the shipped table, the user's table and
/// Bedrock's model lists stored by earlier syncs. `service_code` names the service of
/// documents that do not say (trimmed copies).
pub async fn import_files(
    store: &Store,
    config: &PricingConfig,
    paths: &[PathBuf],
    service_code: Option<&str>,
) -> Result<VersionReport, PricesError> {
    let parser = PriceListParser::new(Utc::now().date_naive());
    let mut parsed = ParsedPrices::default();
    for path in paths {
        let text = read(path)?;
        let file = parser.parse_text(&text, &path.display().to_string(), service_code)?;
        merge(&mut parsed, file);
    }
    let mut names = model_names(config)?;
    names.add_foundation_models(&stored_foundation_models(store).await?);
    let catalog = Catalog::build(parsed, &names);
    let detail = paths
        .iter()
        .map(|path| path.display().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    save(store, catalog, "import", &detail, &[]).await
}

/// Reads every Bedrock service code's products from the Pricing API and Bedrock's model list
/// of each configured source region, and stores them as a new version.
pub async fn sync(store: &Store, config: &Config) -> Result<VersionReport, PricesError> {
    let pricing = &config.pricing;
    let target = AwsTarget {
        region: &pricing.api_region,
        endpoint_url: pricing.endpoint_url.as_deref(),
        role_arn: None,
        external_id: None,
    };
    let sdk = sources::target_config(target, config.daemon.max_attempts).await;
    let client = aws_sdk_pricing::Client::new(&sdk);
    let parser = PriceListParser::new(Utc::now().date_naive());
    let mut parsed = ParsedPrices::default();
    let mut pages = Vec::new();
    for service_code in BEDROCK_SERVICE_CODES {
        let read = sources::pricing_api::products(&client, service_code).await?;
        let plural = if read.pages == 1 { "" } else { "s" };
        pages.push(format!("{service_code} {} page{plural}", read.pages));
        for document in &read.documents {
            merge(
                &mut parsed,
                parser.parse_document_text(document, Some(service_code)),
            );
        }
    }
    let listed = list_models(config).await?;
    let mut names = model_names(pricing)?;
    names.add_foundation_models(&stored_foundation_models(store).await?);
    names.add_foundation_models(&listed);
    let catalog = Catalog::build(parsed, &names);
    let detail = format!(
        "Pricing API in {} ({}); Bedrock model lists of {}",
        pricing.api_region,
        pages.join(", "),
        listed
            .iter()
            .map(|model| model.region.as_str())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect::<Vec<_>>()
            .join(", ")
    );
    let stored_models: Vec<StoredFoundationModel> = listed
        .into_iter()
        .map(|model| StoredFoundationModel {
            region: model.region,
            model_id: model.model_id,
            model_name: model.model_name,
            provider: model.provider,
        })
        .collect();
    let mut report = save(store, catalog, "sync", &detail, &stored_models).await?;
    report.profiles = Some(refresh_profiles(config, store).await?);
    Ok(report)
}

/// Bedrock's model list in each configured source region (once per region and endpoint);
/// with no sources, in the Pricing API's region.
async fn list_models(config: &Config) -> Result<Vec<FoundationModel>, PricesError> {
    let mut targets: Vec<AwsTarget<'_>> = config.sources.iter().map(AwsTarget::from).collect();
    if targets.is_empty() {
        targets.push(AwsTarget {
            region: &config.pricing.api_region,
            endpoint_url: config.pricing.endpoint_url.as_deref(),
            role_arn: None,
            external_id: None,
        });
    }
    let mut seen = BTreeSet::new();
    let mut models = Vec::new();
    for target in targets {
        if !seen.insert((target.region, target.endpoint_url)) {
            continue;
        }
        let sdk = sources::target_config(target, config.daemon.max_attempts).await;
        let client = aws_sdk_bedrock::Client::new(&sdk);
        for listed in sources::bedrock::foundation_models(&client).await? {
            models.push(FoundationModel {
                region: target.region.to_string(),
                model_id: listed.model_id,
                model_name: listed.model_name,
                provider: listed.provider,
            });
        }
    }
    Ok(models)
}

/// The shipped model-names table and the user's, when configured.
pub fn model_names(config: &PricingConfig) -> Result<ModelNameMap, PricesError> {
    let mut names = ModelNameMap::builtin()?;
    if let Some(path) = &config.model_names {
        names.add_table(&read(path)?, &path.display().to_string())?;
    }
    Ok(names)
}

async fn stored_foundation_models(store: &Store) -> Result<Vec<FoundationModel>, PricesError> {
    Ok(store
        .foundation_models()
        .await?
        .into_iter()
        .map(|model| FoundationModel {
            region: model.region,
            model_id: model.model_id,
            model_name: model.model_name,
            provider: model.provider,
        })
        .collect())
}

fn merge(into: &mut ParsedPrices, more: ParsedPrices) {
    into.products += more.products;
    into.prices.extend(more.prices);
    into.skipped.extend(more.skipped);
}

/// Compares a read with the stored table, stores what changed as a new version, and reports.
async fn save(
    store: &Store,
    catalog: Catalog,
    origin: &str,
    detail: &str,
    models: &[StoredFoundationModel],
) -> Result<VersionReport, PricesError> {
    let current = in_effect(store.price_list_rows().await?)?;
    let mut report = compare(&current, &catalog);
    report.origin = origin.to_string();
    report.detail = detail.to_string();
    let new_rows: Vec<StoredListPrice> = report
        .added
        .iter()
        .chain(report.changed.iter().map(|changed| &changed.after))
        .map(to_stored)
        .collect();
    report.skipped = skip_counts(&catalog.skipped);
    let version = NewVersion {
        origin: origin.to_string(),
        detail: detail.to_string(),
        products: i64::try_from(report.products).unwrap_or(i64::MAX),
        rows_seen: i64::try_from(report.rows_seen).unwrap_or(i64::MAX),
        summary: version_summary(&report),
    };
    let (version_id, _added) = store
        .save_price_list_version(&version, &new_rows, models)
        .await?;
    report.version_id = version_id;
    report.affected_months = affected_months(store, &report).await?;
    Ok(report)
}

/// What a version could not use, kept with it (JSON): skips by cause, unmapped names,
/// conflicts.
fn version_summary(report: &VersionReport) -> String {
    let skipped: BTreeMap<&str, usize> = report.skipped.iter().copied().collect();
    let unmapped: Vec<String> = report
        .unmapped
        .iter()
        .map(|name| {
            let (region, names, rows) = (&name.region, &name.names, name.rows);
            format!("{region} {names} ({rows} rows): {}", name.reason)
        })
        .collect();
    let conflicts: Vec<String> = report
        .conflicts
        .iter()
        .map(|conflict| {
            let (key, from) = (&conflict.key, conflict.effective_from);
            format!(
                "{key} {from}: {:?} ({})",
                conflict.rates, conflict.resolution
            )
        })
        .collect();
    serde_json::json!({"skipped": skipped, "unmapped": unmapped, "conflicts": conflicts})
        .to_string()
}

/// What a read changes in the stored table (nothing is stored here).
fn compare(current: &[CatalogPrice], catalog: &Catalog) -> VersionReport {
    let mut timelines = BTreeMap::<&CatalogKey, Vec<&CatalogPrice>>::new();
    for price in current {
        timelines.entry(&price.key).or_default().push(price);
    }
    let mut report = VersionReport {
        products: catalog.products,
        rows_seen: catalog.prices.len(),
        unmapped: catalog.unmapped.clone(),
        conflicts: catalog.conflicts.clone(),
        mantle_twins: catalog.mantle_twins,
        ..VersionReport::default()
    };
    for price in &catalog.prices {
        let Some(timeline) = timelines.get(&price.key) else {
            report.added.push(price.clone());
            continue;
        };
        // The row in effect on the new row's date (timelines are sorted by date).
        let in_effect = timeline
            .iter()
            .rev()
            .find(|stored| stored.effective_from <= price.effective_from);
        if in_effect.is_some_and(|stored| stored.rate_micros == price.rate_micros) {
            // Same rate (perhaps republished with a new date): nothing changes.
            report.unchanged += 1;
            continue;
        }
        report.changed.push(Changed {
            before: in_effect.or_else(|| timeline.first()).map(|p| (*p).clone()),
            after: price.clone(),
        });
    }
    let listed: BTreeSet<&CatalogKey> = catalog.prices.iter().map(|price| &price.key).collect();
    report.no_longer_listed = timelines
        .keys()
        .filter(|key| !listed.contains(*key))
        .count();
    report
}

/// Months with stored calls of a region, model and tier from the date a new row applies.
async fn affected_months(
    store: &Store,
    report: &VersionReport,
) -> Result<Vec<String>, PricesError> {
    let mut starts = BTreeMap::<(String, String, String), NaiveDate>::new();
    let rows = report
        .added
        .iter()
        .chain(report.changed.iter().map(|changed| &changed.after));
    for price in rows.filter(|price| !price.key.meter.is_reserved()) {
        let key = (
            price.key.region.clone(),
            price.key.model_id.clone(),
            price.key.tier.as_str().to_string(),
        );
        let start = starts.entry(key).or_insert(price.effective_from);
        *start = (*start).min(price.effective_from);
    }
    let mut months = BTreeSet::new();
    for ((region, model_id, tier), from) in starts {
        let from_s = from
            .and_hms_opt(0, 0, 0)
            .map_or(0, |start| start.and_utc().timestamp());
        for day in store
            .days_with_calls(&region, &model_id, &tier, from_s)
            .await?
        {
            if let Some(date) = DateTime::from_timestamp(day, 0) {
                months.insert(date.format("%Y-%m").to_string());
            }
        }
    }
    Ok(months.into_iter().collect())
}

fn format_ms(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms).map_or_else(String::new, |at| {
        at.format("%Y-%m-%d %H:%M UTC").to_string()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_price_loop_sleeps_until_the_reload_unless_profiles_or_a_sync_are_due_sooner() {
        let now = tokio::time::Instant::now();
        let minute = std::time::Duration::from_secs(60);
        // No sources and no sync (a dashboard-only replica): an hour, never a busy loop.
        assert_eq!(next_wake(now, None, None), now + RELOAD_EVERY);
        assert_eq!(next_wake(now, Some(now + minute), None), now + minute);
        assert_eq!(next_wake(now, None, Some(now + minute)), now + minute);
        let later = now + 3 * RELOAD_EVERY;
        assert_eq!(next_wake(now, Some(later), Some(later)), now + RELOAD_EVERY);
    }
}
