//! The Prices page and `/api/v1/prices`: the price table in effect (region × model × tier ×
//! routing, rates per token type, the date each applies from, where it comes from), and the
//! Price List versions stored by `prices sync` / `prices import`.

use askama::Template;
use askama_web::WebTemplate;
use axum::Json;
use axum::extract::{Query, State};
use axum::response::Response;
use serde::{Deserialize, Serialize};

use super::AppState;
use super::api::ViewError;
use super::pages::{Choice, Chrome, respond};
use crate::pricing::amount::Usd;

/// Region shown when the query names none: showing every region at once is thousands of rows.
const DEFAULT_REGION: &str = "us-east-1";

#[derive(Debug, Default, Deserialize)]
pub struct PricesParams {
    /// A region, or `all`.
    pub region: Option<String>,
    /// Part of a model id.
    pub model: Option<String>,
}

/// One price as shown: rates in USD per 1M tokens, `None` where the table has no rate.
#[derive(Debug, Clone, Serialize)]
pub struct PriceLine {
    pub region: String,
    pub model_id: String,
    pub tier: &'static str,
    pub routing: &'static str,
    pub effective_from: String,
    pub input_usd_per_1m: Option<String>,
    pub output_usd_per_1m: Option<String>,
    pub cache_read_usd_per_1m: Option<String>,
    pub cache_write_usd_per_1m: Option<String>,
    pub source: String,
    /// The first line of the source, shown before the whole of it is opened.
    pub source_summary: String,
    pub derivation: Option<String>,
}

/// `input: AWS Price List AmazonBedrock USE1-NovaPro-input-tokens (SKU …), …` →
/// `input: AWS Price List AmazonBedrock USE1-NovaPro-input-tokens …`.
fn summary(source: &str) -> String {
    match source.find(" (SKU") {
        Some(end) => format!("{} …", &source[..end]),
        None if source.chars().count() > 90 => {
            format!("{} …", source.chars().take(90).collect::<String>())
        }
        None => source.to_string(),
    }
}

/// A stored Price List version.
#[derive(Debug, Clone, Serialize)]
pub struct VersionLine {
    pub id: i64,
    pub created: String,
    pub origin: String,
    pub detail: String,
    pub products: i64,
    pub rows_added: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct PricesView {
    /// What prices calls: the stored or built-in Price List, and the user's table.
    pub origin: String,
    pub region: String,
    pub model: Option<String>,
    pub regions: Vec<String>,
    pub prices: Vec<PriceLine>,
    pub versions: Vec<VersionLine>,
    /// Region × model × tier × routing keys the user's table overrides.
    pub overrides: usize,
}

async fn view(state: &AppState, params: &PricesParams) -> Result<PricesView, ViewError> {
    let loaded = crate::prices::load(&state.pricing, &state.store)
        .await
        .map_err(|error| ViewError::Prices(error.to_string()))?;
    let region = params
        .region
        .clone()
        .filter(|region| !region.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_REGION.to_string());
    let model = params
        .model
        .clone()
        .filter(|model| !model.trim().is_empty());
    let all = loaded.table.prices();
    let mut regions: Vec<String> = all.iter().map(|price| price.region.clone()).collect();
    regions.sort();
    regions.dedup();
    let rate = |micros: Option<i64>| micros.map(|m| Usd(m).to_string());
    let prices = all
        .iter()
        .filter(|price| region == "all" || price.region == region)
        .filter(|price| model.as_deref().is_none_or(|m| price.model_id.contains(m)))
        .map(|price| PriceLine {
            region: price.region.clone(),
            model_id: price.model_id.clone(),
            tier: price.tier.as_str(),
            routing: price.routing.as_str(),
            effective_from: price.effective_from.format("%Y-%m-%d").to_string(),
            input_usd_per_1m: rate(price.rates.input),
            output_usd_per_1m: rate(price.rates.output),
            cache_read_usd_per_1m: rate(price.rates.cache_read),
            cache_write_usd_per_1m: rate(price.rates.cache_write),
            source: price.source.clone().unwrap_or_default(),
            source_summary: summary(price.source.as_deref().unwrap_or_default()),
            derivation: price.derivation.clone(),
        })
        .collect();
    let versions = state
        .store
        .price_list_versions()
        .await?
        .into_iter()
        .rev()
        .map(|version| VersionLine {
            id: version.id,
            created: chrono::DateTime::from_timestamp_millis(version.created_ms)
                .map_or_else(String::new, |at| {
                    at.format("%Y-%m-%d %H:%M UTC").to_string()
                }),
            origin: version.origin,
            detail: version.detail,
            products: version.products,
            rows_added: version.rows_added,
        })
        .collect();
    Ok(PricesView {
        origin: loaded.describe(),
        region,
        model,
        regions,
        prices,
        versions,
        overrides: loaded.overrides.len(),
    })
}

#[derive(Template, WebTemplate)]
#[template(path = "prices.html")]
pub struct PricesPage {
    chrome: Chrome,
    view: PricesView,
    regions: Vec<Choice>,
}

impl PricesPage {
    fn rate(rate: &Option<String>) -> String {
        rate.clone().unwrap_or_else(|| "—".to_string())
    }
}

pub async fn page(State(state): State<AppState>, Query(params): Query<PricesParams>) -> Response {
    let page = async {
        let view = view(&state, &params).await?;
        let model = view
            .model
            .as_deref()
            .map(|model| format!("&model={}", urlencode(model)))
            .unwrap_or_default();
        let regions = view
            .regions
            .iter()
            .map(String::as_str)
            .chain(["all"])
            .map(|region| Choice {
                label: region.to_string(),
                href: format!("/prices?region={}{model}", urlencode(region)),
                active: view.region == region,
            })
            .collect();
        Ok(PricesPage {
            chrome: Chrome::plain("Prices", "prices"),
            view,
            regions,
        })
    };
    respond(page.await)
}

pub async fn api(
    State(state): State<AppState>,
    Query(params): Query<PricesParams>,
) -> Result<Json<PricesView>, ViewError> {
    Ok(Json(view(&state, &params).await?))
}

/// Percent-encodes a query value (region names and model ids hold `:` and `.`, which are
/// fine, but a typed filter may hold anything).
fn urlencode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b':' => {
                out.push(char::from(byte));
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}
