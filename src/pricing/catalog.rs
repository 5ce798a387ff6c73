//! The Price List's rows with their model ids: what `prices sync` and `prices import` store,
//! what the built-in table holds, and what the price table is built from.
//!
//! [`Catalog::build`] maps each parsed row's model names to a model id (`model_names`), keeps
//! one row per key and effective date, and says what it could not use: unmapped names (with
//! how many rows they hold), and conflicts (two rows for one key and date at different rates).
//! When a runtime meter and its "mantle" twin (the OpenAI-compatible endpoint) agree, the
//! runtime row is kept; when they disagree, the runtime row wins, because invocation logs
//! only hold runtime calls, and the disagreement is reported. Two runtime rows that disagree
//! leave the key unpriced, reported, rather than picking one.

use std::collections::BTreeMap;
use std::fmt;

use chrono::NaiveDate;

use super::model_names::{ModelNameMap, Unmapped};
use super::pricelist::{
    Engine, ListPrice, ListRouting, Meter, ModelNames, ParsedPrices, PriceListParser, Provenance,
    SkippedProduct,
};
use super::table_file::{Location, PriceRow};
use super::{PriceRouting, Rates};
use crate::model::{Tier, TokenKind};

/// The shipped Price List offer files: the built-in table.
const BUILTIN_OFFER_FILES: [(&str, &str); 2] = [
    (
        "config/pricelist/AmazonBedrock.json",
        include_str!("../../config/pricelist/AmazonBedrock.json"),
    ),
    (
        "config/pricelist/AmazonBedrockFoundationModels.json",
        include_str!("../../config/pricelist/AmazonBedrockFoundationModels.json"),
    ),
];

/// What a price is a price of: one meter of one model, tier and routing in one region.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CatalogKey {
    pub region: String,
    pub model_id: String,
    pub tier: Tier,
    pub routing: ListRouting,
    pub meter: Meter,
}

impl fmt::Display for CatalogKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {} {} {}",
            self.region,
            self.model_id,
            self.tier,
            self.routing.as_str(),
            self.meter.name()
        )
    }
}

/// One price row with its model id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogPrice {
    pub key: CatalogKey,
    pub effective_from: NaiveDate,
    /// Micro-dollars per 1M tokens (per 1M TPM-hours for Reserved meters).
    pub rate_micros: i64,
    /// The name the Price List gave the model (display name, servicename or usage type).
    pub model_name: String,
    pub provenance: Provenance,
}

/// Names no model id could be found for, per region, with how many rows they hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnmappedName {
    pub region: String,
    pub names: ModelNames,
    pub reason: Unmapped,
    pub rows: usize,
}

/// Two rows for one key and date that disagree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    pub key: CatalogKey,
    pub effective_from: NaiveDate,
    /// Each rate with the usage type and SKU that published it.
    pub rates: Vec<(i64, String)>,
    /// What was done: "runtime row kept" or "left unpriced".
    pub resolution: &'static str,
}

/// The rows of a Price List read, mapped and checked.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    /// Products read.
    pub products: usize,
    /// One row per key and effective date, sorted.
    pub prices: Vec<CatalogPrice>,
    pub skipped: Vec<SkippedProduct>,
    pub unmapped: Vec<UnmappedName>,
    pub conflicts: Vec<Conflict>,
    /// Mantle rows dropped because a runtime row priced the same key and date.
    pub mantle_twins: usize,
}

impl Catalog {
    /// Maps and de-duplicates parsed rows.
    pub fn build(parsed: ParsedPrices, names: &ModelNameMap) -> Catalog {
        let mut catalog = Catalog {
            products: parsed.products,
            skipped: parsed.skipped,
            ..Catalog::default()
        };
        let mut unmapped = BTreeMap::<(String, ModelNames, Unmapped), usize>::new();
        let mut by_key = BTreeMap::<(CatalogKey, NaiveDate), Vec<ListPrice>>::new();
        for price in parsed.prices {
            match names.resolve(&price.region, &price.model) {
                Ok(model_id) => {
                    let key = CatalogKey {
                        region: price.region.clone(),
                        model_id,
                        tier: price.tier,
                        routing: price.routing,
                        meter: price.meter,
                    };
                    by_key
                        .entry((key, price.effective_from))
                        .or_default()
                        .push(price);
                }
                Err(reason) => {
                    *unmapped
                        .entry((price.region.clone(), price.model.clone(), reason))
                        .or_default() += 1;
                }
            }
        }
        catalog.unmapped = unmapped
            .into_iter()
            .map(|((region, names, reason), rows)| UnmappedName {
                region,
                names,
                reason,
                rows,
            })
            .collect();
        for ((key, effective_from), rows) in by_key {
            if let Some(price) = catalog.choose(key, effective_from, rows) {
                catalog.prices.push(price);
            }
        }
        catalog
    }

    /// The one row kept for a key and date, recording twins and conflicts.
    fn choose(
        &mut self,
        key: CatalogKey,
        effective_from: NaiveDate,
        mut rows: Vec<ListPrice>,
    ) -> Option<CatalogPrice> {
        // Runtime rows first, then by SKU so the choice does not depend on input order.
        rows.sort_by(|a, b| {
            (a.engine, &a.provenance.sku, &a.provenance.usage_type).cmp(&(
                b.engine,
                &b.provenance.sku,
                &b.provenance.usage_type,
            ))
        });
        let describe = |rows: &[&ListPrice]| {
            rows.iter()
                .map(|row| {
                    let published =
                        format!("{} (SKU {})", row.provenance.usage_type, row.provenance.sku);
                    (row.rate_micros, published)
                })
                .collect::<Vec<_>>()
        };
        let (runtime, mantle): (Vec<&ListPrice>, Vec<&ListPrice>) =
            rows.iter().partition(|row| row.engine == Engine::Runtime);
        let candidates = if runtime.is_empty() {
            &mantle
        } else {
            &runtime
        };
        let first = (*candidates.first()?).clone();
        if candidates
            .iter()
            .any(|row| row.rate_micros != first.rate_micros)
        {
            self.conflicts.push(Conflict {
                key,
                effective_from,
                rates: describe(candidates),
                resolution: "left unpriced",
            });
            return None;
        }
        if !runtime.is_empty() {
            self.mantle_twins += mantle.len();
            if mantle
                .iter()
                .any(|row| row.rate_micros != first.rate_micros)
            {
                let all: Vec<&ListPrice> = rows.iter().collect();
                self.conflicts.push(Conflict {
                    key: key.clone(),
                    effective_from,
                    rates: describe(&all),
                    resolution: "runtime row kept",
                });
            }
        }
        Some(CatalogPrice {
            model_name: model_name(&first.model),
            key,
            effective_from,
            rate_micros: first.rate_micros,
            provenance: first.provenance,
        })
    }

    /// The built-in table: the shipped offer files, mapped with the shipped names table.
    pub fn builtin() -> Result<Catalog, super::PricingError> {
        let names = ModelNameMap::builtin()?;
        // Every built-in row carries its effective date; the fallback never applies.
        let parser = PriceListParser::new(NaiveDate::MIN);
        let mut parsed = ParsedPrices::default();
        for (origin, text) in BUILTIN_OFFER_FILES {
            let file = parser.parse_text(text, origin, None).map_err(|error| {
                super::PricingError::Invalid {
                    origin: origin.to_string(),
                    problems: vec![super::Problem {
                        key: "offer file".into(),
                        message: error.to_string(),
                        line: None,
                    }],
                }
            })?;
            parsed.products += file.products;
            parsed.prices.extend(file.prices);
            parsed.skipped.extend(file.skipped);
        }
        Ok(Catalog::build(parsed, &names))
    }
}

/// The token prices of a catalog as price-table rows: per region, model, tier and routing,
/// one row per date any of its meters changes, holding every meter's rate in effect then.
/// Reserved meters and geo rows are not token prices of calls and are left out; 1-hour
/// cache writes are listed but calls are priced with the 5-minute rate (invocation logs do
/// not say which a call wrote).
pub(super) fn price_rows(prices: &[CatalogPrice]) -> Vec<PriceRow> {
    type Timelines<'a> = BTreeMap<Meter, Vec<&'a CatalogPrice>>;
    let mut keys = BTreeMap::<(String, String, Tier, PriceRouting), Timelines<'_>>::new();
    for price in prices {
        let routing = match price.key.routing {
            ListRouting::Regional => PriceRouting::Regional,
            ListRouting::Global => PriceRouting::Global,
            ListRouting::Geo => continue,
        };
        if price.key.meter.is_reserved() || price.key.meter == Meter::CacheWrite1h {
            continue;
        }
        let key = &price.key;
        keys.entry((key.region.clone(), key.model_id.clone(), key.tier, routing))
            .or_default()
            .entry(key.meter)
            .or_default()
            .push(price);
    }
    let mut rows = Vec::new();
    for ((region, model, tier, routing), mut timelines) in keys {
        for timeline in timelines.values_mut() {
            timeline.sort_by_key(|price| price.effective_from);
        }
        let mut dates: Vec<NaiveDate> = timelines
            .values()
            .flatten()
            .map(|price| price.effective_from)
            .collect();
        dates.sort();
        dates.dedup();
        for date in dates {
            let mut rates = Rates::default();
            let mut sources = Vec::new();
            for (meter, timeline) in &timelines {
                let in_effect = timeline
                    .iter()
                    .rev()
                    .find(|price| price.effective_from <= date);
                if let (Some(price), Some(kind)) = (in_effect, token_kind(*meter)) {
                    rates.set(kind, Some(price.rate_micros));
                    sources.push(format!("{}: {}", meter.name(), price.provenance));
                }
            }
            rows.push(PriceRow {
                at: Location {
                    label: format!("Price List row {region} {model} {tier} {routing} {date}"),
                    line: 0,
                },
                region: region.clone(),
                model: model.clone(),
                tier,
                routing,
                effective_from: date,
                rates,
                source: Some(sources.join("; ")),
            });
        }
    }
    rows
}

fn token_kind(meter: Meter) -> Option<TokenKind> {
    match meter {
        Meter::Input => Some(TokenKind::Input),
        Meter::Output => Some(TokenKind::Output),
        Meter::CacheRead => Some(TokenKind::CacheRead),
        Meter::CacheWrite5m => Some(TokenKind::CacheWrite),
        _ => None,
    }
}

/// The name shown for a row's model: the display name, else the servicename, else the
/// usage-type fragment.
fn model_name(names: &ModelNames) -> String {
    names
        .display
        .clone()
        .or_else(|| names.service_name.clone())
        .or_else(|| names.usage_type.clone())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn document(usage_type: &str, usd: &str, model: &str) -> serde_json::Value {
        json!({
            "product": {"sku": format!("SKU-{usage_type}"), "attributes": {
                "regionCode": "us-east-1", "usagetype": usage_type, "model": model
            }},
            "serviceCode": "AmazonBedrock",
            "terms": {"OnDemand": {"T.JRTCKXETXF": {
                "effectiveDate": "2026-01-01T00:00:00Z",
                "priceDimensions": {"R": {"unit": "1K tokens", "pricePerUnit": {"USD": usd}}}
            }}}
        })
    }

    fn names() -> ModelNameMap {
        let mut map = ModelNameMap::default();
        map.add_table(
            "[[model]]\nid = \"qwen.qwen3-32b-v1:0\"\nnames = [\"Qwen3 32B\"]\nusage_types = [\"Qwen3-32B\", \"qwen.qwen3-32b\"]\n",
            "test",
        )
        .unwrap();
        map
    }

    fn catalog(documents: &[serde_json::Value]) -> Catalog {
        let parser = PriceListParser::new(NaiveDate::MIN);
        let mut parsed = ParsedPrices::default();
        for doc in documents {
            let one = parser.parse_document(doc, None);
            parsed.products += one.products;
            parsed.prices.extend(one.prices);
            parsed.skipped.extend(one.skipped);
        }
        Catalog::build(parsed, &names())
    }

    #[test]
    fn agreeing_mantle_twins_collapse_into_the_runtime_row() {
        let catalog = catalog(&[
            document(
                "USE1-qwen.qwen3-32b-mantle-input-tokens-standard",
                "0.00015",
                "Qwen3 32B",
            ),
            document("USE1-Qwen3-32B-input-tokens", "0.00015", "Qwen3 32B"),
            document("USE1-Qwen3-32B-input-tokens-flex", "0.000075", "Qwen3 32B"),
        ]);
        assert_eq!(catalog.prices.len(), 2);
        assert_eq!(catalog.mantle_twins, 1);
        assert!(catalog.conflicts.is_empty());
        let standard = &catalog.prices[0];
        assert_eq!(standard.key.tier, Tier::Standard);
        assert_eq!(catalog.prices[1].key.tier, Tier::Flex);
        assert_eq!(
            standard.provenance.usage_type,
            "USE1-Qwen3-32B-input-tokens"
        );
        assert_eq!(standard.model_name, "Qwen3 32B");
    }

    #[test]
    fn disagreements_are_reported() {
        let catalog = catalog(&[
            document(
                "USE1-qwen.qwen3-32b-mantle-input-tokens-standard",
                "0.0002",
                "Qwen3 32B",
            ),
            document("USE1-Qwen3-32B-input-tokens", "0.00015", "Qwen3 32B"),
            document("USE1-Qwen3-32B-output-tokens", "0.0006", "Qwen3 32B"),
            document("USE1-Qwen3-32B-output-tokens", "0.0007", "Qwen3 32B"),
        ]);
        // The runtime input wins over its mantle twin; the two runtime outputs cancel out.
        assert_eq!(catalog.prices.len(), 1);
        assert_eq!(catalog.prices[0].rate_micros, 150_000);
        assert_eq!(catalog.conflicts.len(), 2);
        let resolutions: Vec<&str> = catalog.conflicts.iter().map(|c| c.resolution).collect();
        assert_eq!(resolutions, vec!["runtime row kept", "left unpriced"]);
    }

    #[test]
    fn unmapped_names_are_counted_per_region_and_reason() {
        let catalog = catalog(&[
            document("USE1-GLM5-input-tokens", "0.001", "GLM 5"),
            document("USE1-GLM5-output-tokens", "0.003", "GLM 5"),
        ]);
        assert!(catalog.prices.is_empty());
        assert_eq!(catalog.unmapped.len(), 1);
        assert_eq!(catalog.unmapped[0].rows, 2);
        assert_eq!(catalog.unmapped[0].reason, Unmapped::Unknown);
        assert_eq!(catalog.unmapped[0].names.display.as_deref(), Some("GLM 5"));
    }
}
