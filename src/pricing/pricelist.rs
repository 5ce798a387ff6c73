//! AWS Price List products → price rows.
//!
//! The Price List publishes Bedrock prices as *products* (a SKU with attributes such as
//! `regionCode`, `usagetype`, `inferenceType`, `model` or `servicename`) and *terms* (an
//! `OnDemand` offer term per SKU with an effective date and a price per unit). GetProducts
//! returns one JSON document per product (`{"product", "terms", "serviceCode", "version",
//! "publicationDate"}`); bulk offer files hold the same products and terms as maps keyed by
//! SKU. Both come through [`PriceListParser`].
//!
//! Each product becomes at most one [`ListPrice`] per offer term: region, the names the
//! product uses for its model (mapped to a Bedrock model id later, by `model_names`), tier,
//! routing, token meter, exact rate, effective date and provenance. A product that is not an
//! on-demand token price (batch, provisioned throughput, customization, images, video, long
//! context, a $0 row …) yields a [`Skip`] with the reason instead, so every product is
//! accounted for.
//!
//! Tier signals are not uniform across the Price List: the usage type's suffix, a
//! `service_tier` attribute and a suffix on `inferenceType` each appear alone or together.
//! All present signals must agree; a product whose signals disagree is skipped, never
//! guessed. Usage types are read word by word, and a word tierwatch does not understand skips
//! the product (a new kind of meter must not be priced as an old one).

use std::collections::BTreeMap;
use std::fmt;

use chrono::NaiveDate;
use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

use super::amount::{DecimalError, parse_scaled};
use crate::model::Tier;

/// The Price List service codes that hold Bedrock prices.
pub const BEDROCK_SERVICE_CODES: [&str; 3] = [
    "AmazonBedrock",
    "AmazonBedrockFoundationModels",
    "AmazonBedrockService",
];

/// The attribute tierwatch's built-in offer files use to say where a rate came from when it
/// is not straight from AWS (e.g. a secondary source). AWS never publishes it.
pub const SOURCE_ATTRIBUTE: &str = "tierwatchSource";

/// What a price row is a price of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Meter {
    Input,
    Output,
    CacheRead,
    /// Cache write with the default 5-minute time to live.
    CacheWrite5m,
    /// Cache write with a 1-hour time to live (priced apart by AWS).
    CacheWrite1h,
    /// Reserved tier: input tokens per minute of reserved capacity, per hour.
    ReservedInputTpm {
        term_months: u8,
    },
    /// Reserved tier: output tokens per minute of reserved capacity, per hour.
    ReservedOutputTpm {
        term_months: u8,
    },
}

impl Meter {
    /// Stable name, as stored and shown: `input`, `cache_write_1h`, `reserved_input_tpm_1m`.
    pub fn name(self) -> String {
        match self {
            Meter::Input => "input".into(),
            Meter::Output => "output".into(),
            Meter::CacheRead => "cache_read".into(),
            Meter::CacheWrite5m => "cache_write".into(),
            Meter::CacheWrite1h => "cache_write_1h".into(),
            Meter::ReservedInputTpm { term_months } => format!("reserved_input_tpm_{term_months}m"),
            Meter::ReservedOutputTpm { term_months } => {
                format!("reserved_output_tpm_{term_months}m")
            }
        }
    }

    /// The inverse of [`Meter::name`].
    pub fn from_name(name: &str) -> Option<Meter> {
        let reserved = |rest: &str| rest.strip_suffix('m').and_then(|n| n.parse::<u8>().ok());
        match name {
            "input" => Some(Meter::Input),
            "output" => Some(Meter::Output),
            "cache_read" => Some(Meter::CacheRead),
            "cache_write" => Some(Meter::CacheWrite5m),
            "cache_write_1h" => Some(Meter::CacheWrite1h),
            _ => {
                if let Some(rest) = name.strip_prefix("reserved_input_tpm_") {
                    reserved(rest).map(|term_months| Meter::ReservedInputTpm { term_months })
                } else if let Some(rest) = name.strip_prefix("reserved_output_tpm_") {
                    reserved(rest).map(|term_months| Meter::ReservedOutputTpm { term_months })
                } else {
                    None
                }
            }
        }
    }

    pub fn is_reserved(self) -> bool {
        matches!(
            self,
            Meter::ReservedInputTpm { .. } | Meter::ReservedOutputTpm { .. }
        )
    }
}

/// How calls reach the capacity a row prices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ListRouting {
    /// In-region calls, and geo profiles (`us.`, `eu.`, …), which bill at the source
    /// region's in-region rate.
    Regional,
    /// A geography (Reserved `_Geo` rows).
    Geo,
    /// `global.` cross-region profiles (`-cross-region-global`, `_Global`).
    Global,
}

impl ListRouting {
    pub fn as_str(self) -> &'static str {
        match self {
            ListRouting::Regional => "regional",
            ListRouting::Geo => "geo",
            ListRouting::Global => "global",
        }
    }

    pub fn parse(text: &str) -> Option<ListRouting> {
        match text {
            "regional" => Some(ListRouting::Regional),
            "geo" => Some(ListRouting::Geo),
            "global" => Some(ListRouting::Global),
            _ => None,
        }
    }
}

/// Which Bedrock endpoint a row prices. The OpenAI-compatible "mantle" endpoint publishes
/// twins of many runtime meters; its calls are not in invocation logs, so runtime rows are
/// preferred where both exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Engine {
    Runtime,
    Mantle,
}

/// The names a product gives its model. None of them is a Bedrock model id; `model_names`
/// maps them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ModelNames {
    /// The `model` attribute (AmazonBedrock; `titanModel` on Titan rows), e.g. "Nova Pro".
    pub display: Option<String>,
    /// The `servicename` attribute when it names a model (AmazonBedrockFoundationModels),
    /// e.g. "Claude Sonnet 4.6 (Amazon Bedrock Edition)".
    pub service_name: Option<String>,
    /// The model part of an AmazonBedrock usage type, e.g. "Qwen3-32B" in
    /// `USE1-Qwen3-32B-input-tokens`, or "qwen.qwen3-32b" in a mantle usage type.
    pub usage_type: Option<String>,
}

impl fmt::Display for ModelNames {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = [
            self.display.as_ref().map(|name| format!("model {name:?}")),
            self.service_name
                .as_ref()
                .map(|name| format!("servicename {name:?}")),
            self.usage_type
                .as_ref()
                .map(|name| format!("usage-type model {name:?}")),
        ]
        .into_iter()
        .flatten()
        .collect();
        if parts.is_empty() {
            f.write_str("no model name")
        } else {
            f.write_str(&parts.join(", "))
        }
    }
}

/// Where a row came from, kept with every cost it makes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, Deserialize)]
pub struct Provenance {
    pub service_code: String,
    pub sku: String,
    /// The offer term code, e.g. `JRTCKXETXF` (on-demand).
    pub offer_term: String,
    /// The rate code of the price dimension, when published.
    pub rate_code: Option<String>,
    pub usage_type: String,
    /// The unit as published, e.g. "1K tokens", "Units".
    pub unit: String,
    /// The USD price per unit as published, e.g. "0.0002625000".
    pub published_rate: String,
    /// The offer's publication date (GetProducts document or offer file), when given.
    pub publication_date: Option<String>,
    /// The offer version, when given.
    pub version: Option<String>,
    /// The effective date was not published; `effective_from` is the fallback given to the
    /// parser (the import's or sync's date).
    pub effective_date_assumed: bool,
    /// Who says this rate when it is not AWS's own Price List (the built-in table's
    /// secondary-source rows).
    pub secondary_source: Option<String>,
}

impl fmt::Display for Provenance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "AWS Price List {} {} (SKU {}.{}, {} per {})",
            self.service_code,
            self.usage_type,
            self.sku,
            self.offer_term,
            self.published_rate,
            self.unit
        )?;
        if let Some(date) = &self.publication_date {
            write!(f, ", published {date}")?;
        }
        if self.effective_date_assumed {
            f.write_str(", effective date not published")?;
        }
        if let Some(source) = &self.secondary_source {
            write!(f, "; {source}")?;
        }
        Ok(())
    }
}

/// One Price List meter as a price row, before its model is mapped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListPrice {
    pub region: String,
    pub model: ModelNames,
    pub tier: Tier,
    pub routing: ListRouting,
    pub meter: Meter,
    pub engine: Engine,
    /// Micro-dollars per 1M units: tokens for token meters, TPM-hours for Reserved meters.
    pub rate_micros: i64,
    pub effective_from: NaiveDate,
    pub provenance: Provenance,
}

/// Why a product yields no price row. `kind` groups them for counts; `Display` gives the
/// detail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skip {
    Malformed(String),
    NotBedrock(String),
    NoRegion,
    NoUsageType,
    NoOnDemandTerm,
    NoUsdPrice,
    TieredPrice(usize),
    Batch,
    ProvisionedThroughput,
    Customization,
    Modality(String),
    LatencyOptimized,
    LongContext,
    CacheDuration(String),
    Unit(String),
    ZeroRate(String),
    RateTooPrecise(String),
    BadRate(String),
    ConflictingTier(String),
    ConflictingMeter(String),
    UsageTypeWord(String),
    NotTokenMeter(String),
}

impl Skip {
    /// A short stable name per cause, for counting.
    pub fn kind(&self) -> &'static str {
        match self {
            Skip::Malformed(_) => "malformed product",
            Skip::NotBedrock(_) => "not a Bedrock service code",
            Skip::NoRegion => "no regionCode",
            Skip::NoUsageType => "no usagetype",
            Skip::NoOnDemandTerm => "no on-demand term",
            Skip::NoUsdPrice => "no USD price",
            Skip::TieredPrice(_) => "tiered price dimensions",
            Skip::Batch => "batch inference",
            Skip::ProvisionedThroughput => "provisioned throughput",
            Skip::Customization => "model customization",
            Skip::Modality(_) => "image, audio or video",
            Skip::LatencyOptimized => "latency-optimized inference",
            Skip::LongContext => "long-context rate",
            Skip::CacheDuration(_) => "other cache duration",
            Skip::Unit(_) => "not a token unit",
            Skip::ZeroRate(_) => "published as $0",
            Skip::RateTooPrecise(_) => "rate finer than a micro-dollar per 1M",
            Skip::BadRate(_) => "unreadable rate",
            Skip::ConflictingTier(_) => "conflicting tier signals",
            Skip::ConflictingMeter(_) => "conflicting token type signals",
            Skip::UsageTypeWord(_) => "usage type not understood",
            Skip::NotTokenMeter(_) => "not a token meter",
        }
    }
}

impl fmt::Display for Skip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Skip::Malformed(detail) => write!(f, "not a Price List product: {detail}"),
            Skip::NotBedrock(code) if code.is_empty() => {
                f.write_str("the product names no service code (pass the one it came from)")
            }
            Skip::NotBedrock(code) => write!(f, "service code {code:?} is not a Bedrock one"),
            Skip::NoRegion => f.write_str("the product has no regionCode attribute"),
            Skip::NoUsageType => f.write_str("the product has no usagetype attribute"),
            Skip::NoOnDemandTerm => f.write_str("the product has no OnDemand term"),
            Skip::NoUsdPrice => f.write_str("the on-demand term has no USD price"),
            Skip::TieredPrice(count) => write!(
                f,
                "the on-demand term has {count} price dimensions with different rates"
            ),
            Skip::Batch => f.write_str("a batch inference price (not Flex, not on-demand)"),
            Skip::ProvisionedThroughput => f.write_str("a provisioned-throughput price"),
            Skip::Customization => f.write_str("a model-customization or custom-model price"),
            Skip::Modality(word) => write!(f, "a {word} price, not a text token price"),
            Skip::LatencyOptimized => f.write_str("a latency-optimized inference price"),
            Skip::LongContext => {
                f.write_str("a long-context rate (applies above a context length threshold)")
            }
            Skip::CacheDuration(word) => write!(
                f,
                "a cache write with time to live {word} (5-minute and 1-hour are priced)"
            ),
            Skip::Unit(unit) => write!(f, "unit {unit:?} is not a token or TPM-hour unit"),
            Skip::ZeroRate(rate) => write!(
                f,
                "published as ${rate}: a $0 row is not a price (set one in pricing.toml if it is really free)"
            ),
            Skip::RateTooPrecise(rate) => {
                write!(f, "rate {rate} is finer than a micro-dollar per 1M units")
            }
            Skip::BadRate(rate) => write!(f, "rate {rate:?} is not a decimal number"),
            Skip::ConflictingTier(detail) => write!(f, "tier signals disagree: {detail}"),
            Skip::ConflictingMeter(detail) => write!(f, "token type signals disagree: {detail}"),
            Skip::UsageTypeWord(word) => write!(f, "usage type word {word:?} is not understood"),
            Skip::NotTokenMeter(usage_type) => {
                write!(f, "usage type {usage_type:?} names no token meter")
            }
        }
    }
}

/// A product that yielded no row, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedProduct {
    pub service_code: String,
    pub sku: String,
    pub usage_type: String,
    pub reason: Skip,
}

/// Everything a set of products yielded.
#[derive(Debug, Clone, Default)]
pub struct ParsedPrices {
    pub products: usize,
    pub prices: Vec<ListPrice>,
    pub skipped: Vec<SkippedProduct>,
}

impl ParsedPrices {
    /// Skipped products counted per cause, most common first.
    pub fn skip_counts(&self) -> Vec<(&'static str, usize)> {
        skip_counts(&self.skipped)
    }

    fn absorb(&mut self, other: ParsedPrices) {
        self.products += other.products;
        self.prices.extend(other.prices);
        self.skipped.extend(other.skipped);
    }
}

/// Products counted per cause of their skip, most common first.
pub fn skip_counts(skipped: &[SkippedProduct]) -> Vec<(&'static str, usize)> {
    let mut counts = BTreeMap::<&'static str, usize>::new();
    for product in skipped {
        *counts.entry(product.reason.kind()).or_default() += 1;
    }
    let mut counts: Vec<_> = counts.into_iter().collect();
    counts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    counts
}

/// A file or answer that is not Price List JSON at all.
#[derive(Debug, thiserror::Error)]
pub enum PriceListError {
    #[error("{origin}: not JSON: {source}")]
    Json {
        origin: String,
        #[source]
        source: serde_json::Error,
    },
    #[error(
        "{origin}: neither a bulk offer file (with \"products\" and \"terms\") nor Price List product documents"
    )]
    Shape { origin: String },
}

/// Turns Price List JSON into price rows.
#[derive(Debug, Clone)]
pub struct PriceListParser {
    /// The date a row takes effect from when its term publishes no effective date and its
    /// document no publication date.
    pub fallback_effective: NaiveDate,
}

impl PriceListParser {
    pub fn new(fallback_effective: NaiveDate) -> PriceListParser {
        PriceListParser { fallback_effective }
    }

    /// One GetProducts `PriceList` entry (a JSON document, given as text as the API does).
    pub fn parse_document_text(&self, text: &str, service_code: Option<&str>) -> ParsedPrices {
        match serde_json::from_str::<Value>(text) {
            Ok(value) => self.parse_document(&value, service_code),
            Err(error) => malformed(service_code.unwrap_or("?"), "?", error.to_string()),
        }
    }

    /// One GetProducts document: `{"product", "terms", "serviceCode", …}`. `service_code`
    /// is what the caller asked for, used when the document does not say.
    pub fn parse_document(&self, document: &Value, service_code: Option<&str>) -> ParsedPrices {
        let doc = match Document::deserialize(document) {
            Ok(doc) => doc,
            Err(error) => {
                let sku = document
                    .pointer("/product/sku")
                    .and_then(Value::as_str)
                    .unwrap_or("?");
                return malformed(service_code.unwrap_or("?"), sku, error.to_string());
            }
        };
        let offer = Offer {
            service_code: doc
                .service_code
                .clone()
                .filter(|code| !code.is_empty())
                .or_else(|| service_code.map(str::to_string))
                .or_else(|| doc.product.attributes.get("servicecode").cloned())
                .unwrap_or_default(),
            version: doc.version.clone(),
            publication_date: doc.publication_date.clone(),
        };
        let terms: Vec<Term> = doc
            .terms
            .on_demand
            .into_iter()
            .map(|(key, term)| term.keyed(&key))
            .collect();
        self.parse_product(&offer, &doc.product, &terms)
    }

    /// Any Price List JSON text: a bulk offer file, one GetProducts document, a JSON array
    /// of documents (or of document strings, as `PriceList` holds them), or JSON lines of
    /// documents. `service_code` is used for documents that do not name theirs (trimmed
    /// copies); offer files always name it.
    pub fn parse_text(
        &self,
        text: &str,
        origin: &str,
        service_code: Option<&str>,
    ) -> Result<ParsedPrices, PriceListError> {
        if let Some(parsed) = self.parse_offer_text(text) {
            return Ok(parsed);
        }
        let trimmed = text.trim_start();
        // JSON lines: several documents, one a line.
        if trimmed.starts_with('{') && serde_json::from_str::<Value>(text).is_err() {
            let mut parsed = ParsedPrices::default();
            for (index, line) in text.lines().enumerate() {
                if line.trim().is_empty() {
                    continue;
                }
                let value: Value =
                    serde_json::from_str(line).map_err(|source| PriceListError::Json {
                        origin: format!("{origin} line {}", index + 1),
                        source,
                    })?;
                parsed.absorb(self.parse_document(&value, service_code));
            }
            return Ok(parsed);
        }
        let value: Value = serde_json::from_str(text).map_err(|source| PriceListError::Json {
            origin: origin.to_string(),
            source,
        })?;
        self.parse_value(&value, origin, service_code)
    }

    fn parse_value(
        &self,
        value: &Value,
        origin: &str,
        service_code: Option<&str>,
    ) -> Result<ParsedPrices, PriceListError> {
        if value.get("products").is_some() && value.get("terms").is_some() {
            return Ok(self.parse_offer_file(value));
        }
        if value.get("product").is_some() {
            return Ok(self.parse_document(value, service_code));
        }
        // A GetProducts answer, or a bare list of documents.
        let list = value
            .get("PriceList")
            .and_then(Value::as_array)
            .or_else(|| value.as_array());
        let Some(list) = list else {
            return Err(PriceListError::Shape {
                origin: origin.to_string(),
            });
        };
        let mut parsed = ParsedPrices::default();
        for entry in list {
            let more = match entry {
                Value::String(text) => self.parse_document_text(text, service_code),
                other => self.parse_document(other, service_code),
            };
            parsed.absorb(more);
        }
        Ok(parsed)
    }

    /// A bulk offer file: `{"offerCode", "version", "publicationDate", "products": {SKU:
    /// product}, "terms": {"OnDemand": {SKU: {TERM: term}}}}`.
    pub fn parse_offer_file(&self, file: &Value) -> ParsedPrices {
        let text = |key: &str| file.get(key).and_then(Value::as_str).map(str::to_string);
        let offer = Offer {
            service_code: text("offerCode").unwrap_or_default(),
            version: text("version"),
            publication_date: text("publicationDate"),
        };
        let Some(products) = file.get("products").and_then(Value::as_object) else {
            return ParsedPrices::default();
        };
        let on_demand = file.pointer("/terms/OnDemand").and_then(Value::as_object);
        let entries = products.iter().map(|(sku, product)| {
            let product = Product::deserialize(product).map_err(|error| error.to_string());
            let terms = on_demand
                .and_then(|terms| terms.get(sku))
                .and_then(Value::as_object)
                .map(|terms| {
                    terms
                        .iter()
                        .map(|(key, term)| Term::deserialize(term).map(|term| term.keyed(key)))
                        .collect::<Result<Vec<Term>, _>>()
                        .map_err(|error| error.to_string())
                })
                .unwrap_or_else(|| Ok(Vec::new()));
            (sku.as_str(), product, terms)
        });
        self.parse_offer_products(&offer, entries)
    }

    /// A bulk offer file read from its text, each product and term deserialized on its own
    /// from the slice it is in: a whole offer file as a tree of `Value`s costs about ten
    /// times its size in memory, and the built-in files are read at every start. `None` when
    /// the text is no offer file.
    fn parse_offer_text(&self, text: &str) -> Option<ParsedPrices> {
        let file: RawOfferFile<'_> = serde_json::from_str(text).ok()?;
        let offer = Offer {
            service_code: file.offer_code.unwrap_or_default(),
            version: file.version,
            publication_date: file.publication_date,
        };
        let on_demand = &file.terms.on_demand;
        let entries = file.products.iter().map(|(sku, product)| {
            let product =
                serde_json::from_str::<Product>(product.get()).map_err(|error| error.to_string());
            let terms = on_demand
                .get(sku)
                .map(|terms| {
                    terms
                        .iter()
                        .map(|(key, term)| {
                            serde_json::from_str::<Term>(term.get()).map(|term| term.keyed(key))
                        })
                        .collect::<Result<Vec<Term>, _>>()
                        .map_err(|error| error.to_string())
                })
                .unwrap_or_else(|| Ok(Vec::new()));
            (sku.as_str(), product, terms)
        });
        Some(self.parse_offer_products(&offer, entries))
    }

    /// The products of an offer file, each with its on-demand terms (or why either is
    /// malformed).
    fn parse_offer_products<'s>(
        &self,
        offer: &Offer,
        entries: impl Iterator<Item = (&'s str, Result<Product, String>, Result<Vec<Term>, String>)>,
    ) -> ParsedPrices {
        let mut parsed = ParsedPrices::default();
        for (sku, product, terms) in entries {
            match (product, terms) {
                (Ok(product), Ok(terms)) => {
                    parsed.absorb(self.parse_product(offer, &product, &terms));
                }
                (Err(error), _) | (_, Err(error)) => {
                    parsed.absorb(malformed(&offer.service_code, sku, error));
                }
            }
        }
        parsed
    }

    fn parse_product(&self, offer: &Offer, product: &Product, terms: &[Term]) -> ParsedPrices {
        let mut parsed = ParsedPrices {
            products: 1,
            ..ParsedPrices::default()
        };
        let usage_type = product
            .attributes
            .get("usagetype")
            .cloned()
            .unwrap_or_default();
        let skip = |reason: Skip| SkippedProduct {
            service_code: offer.service_code.clone(),
            sku: product.sku.clone(),
            usage_type: usage_type.clone(),
            reason,
        };
        let classified = classify(offer, product);
        let meaning = match classified {
            Ok(meaning) => meaning,
            Err(reason) => {
                parsed.skipped.push(skip(reason));
                return parsed;
            }
        };
        if terms.is_empty() {
            parsed.skipped.push(skip(Skip::NoOnDemandTerm));
            return parsed;
        }
        for term in terms {
            match self.price_of(offer, product, &meaning, term) {
                Ok(price) => parsed.prices.push(price),
                Err(reason) => parsed.skipped.push(skip(reason)),
            }
        }
        parsed
    }

    fn price_of(
        &self,
        offer: &Offer,
        product: &Product,
        meaning: &Meaning,
        term: &Term,
    ) -> Result<ListPrice, Skip> {
        let dimension = single_dimension(term)?;
        let published_rate = dimension
            .price_per_unit
            .get("USD")
            .cloned()
            .ok_or(Skip::NoUsdPrice)?;
        let unit = dimension.unit.clone().unwrap_or_default();
        let scale = unit_scale(&unit, dimension.description.as_deref(), meaning.meter)?;
        let rate_micros = match parse_scaled(published_rate.trim(), scale) {
            Ok(0) => return Err(Skip::ZeroRate(published_rate)),
            Ok(rate) => rate,
            Err(DecimalError::TooPrecise) => return Err(Skip::RateTooPrecise(published_rate)),
            Err(_) => return Err(Skip::BadRate(published_rate)),
        };
        let published_date = term
            .effective_date
            .as_deref()
            .or(offer.publication_date.as_deref())
            .and_then(date_prefix);
        let effective_from = published_date.unwrap_or(self.fallback_effective);
        let provenance = Provenance {
            service_code: offer.service_code.clone(),
            sku: product.sku.clone(),
            offer_term: term
                .offer_term_code
                .clone()
                .or_else(|| term.key_code.clone())
                .unwrap_or_default(),
            rate_code: dimension.rate_code.clone(),
            usage_type: meaning.usage_type.clone(),
            unit,
            published_rate,
            publication_date: offer.publication_date.clone(),
            version: offer.version.clone(),
            effective_date_assumed: published_date.is_none(),
            secondary_source: product.attributes.get(SOURCE_ATTRIBUTE).cloned(),
        };
        Ok(ListPrice {
            region: meaning.region.clone(),
            model: meaning.model.clone(),
            tier: meaning.tier,
            routing: meaning.routing,
            meter: meaning.meter,
            engine: meaning.engine,
            rate_micros,
            effective_from,
            provenance,
        })
    }
}

fn malformed(service_code: &str, sku: &str, detail: String) -> ParsedPrices {
    ParsedPrices {
        products: 1,
        prices: Vec::new(),
        skipped: vec![SkippedProduct {
            service_code: service_code.to_string(),
            sku: sku.to_string(),
            usage_type: String::new(),
            reason: Skip::Malformed(detail),
        }],
    }
}

/// `2025-11-01T00:00:00Z` or `2025-11-01` → the date.
fn date_prefix(text: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(text.get(..10)?, "%Y-%m-%d").ok()
}

/// The one price of a term. Several dimensions are fine only when they agree.
fn single_dimension(term: &Term) -> Result<&Dimension, Skip> {
    let mut dimensions = term.price_dimensions.values();
    let first = dimensions.next().ok_or(Skip::NoUsdPrice)?;
    let rate = |dimension: &Dimension| dimension.price_per_unit.get("USD").cloned();
    if term
        .price_dimensions
        .values()
        .any(|other| rate(other) != rate(first) || other.unit != first.unit)
    {
        return Err(Skip::TieredPrice(term.price_dimensions.len()));
    }
    Ok(first)
}

/// The decimal scale that turns a published USD rate in `unit` into micro-dollars per 1M
/// units: 9 for per-1K rates, 6 for per-1M rates.
///
/// Reserved rows are labelled "1M TPM Hour" while their description says "Per Hour per 1K
/// Input TPM" (and the rate, $0.198 for Claude Sonnet, is what 1K TPM used for an hour costs
/// on demand): the description, when it names the quantity, wins.
fn unit_scale(unit: &str, description: Option<&str>, meter: Meter) -> Result<u32, Skip> {
    if meter.is_reserved()
        && let Some(description) = description.map(str::to_lowercase)
    {
        if description.contains("per 1k") && description.contains("tpm") {
            return Ok(9);
        }
        if description.contains("per 1m") && description.contains("tpm") {
            return Ok(6);
        }
    }
    let normalized: String = unit
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-' && *c != '_')
        .flat_map(char::to_lowercase)
        .collect();
    let scale = if meter.is_reserved() {
        match normalized.as_str() {
            // Reserved capacity is sold per 1K tokens per minute; "Units" rows are per 1K
            // TPM-hour (AWS's own rows disagree on the unit's name, not on what it is).
            "1ktpmhour" | "1ktpmhours" | "units" => Some(9),
            "1mtpmhour" | "1mtpmhours" => Some(6),
            _ => None,
        }
    } else {
        match normalized.as_str() {
            "1ktokens" | "1ktoken" => Some(9),
            // AmazonBedrockFoundationModels: "Units" are millions of tokens.
            "1mtokens" | "1mtoken" | "units" => Some(6),
            _ => None,
        }
    };
    scale.ok_or_else(|| Skip::Unit(unit.to_string()))
}

/// What a product prices, read from its attributes and usage type.
#[derive(Debug, Clone)]
struct Meaning {
    region: String,
    usage_type: String,
    model: ModelNames,
    tier: Tier,
    routing: ListRouting,
    meter: Meter,
    engine: Engine,
}

fn classify(offer: &Offer, product: &Product) -> Result<Meaning, Skip> {
    let attributes = &product.attributes;
    if !BEDROCK_SERVICE_CODES.contains(&offer.service_code.as_str()) {
        return Err(Skip::NotBedrock(offer.service_code.clone()));
    }
    let region = attributes
        .get("regionCode")
        .cloned()
        .ok_or(Skip::NoRegion)?;
    let usage_type = attributes
        .get("usagetype")
        .cloned()
        .ok_or(Skip::NoUsageType)?;
    excluded_by_feature(attributes.get("feature").map(String::as_str))?;
    let parts = split_usage_type(&usage_type)?;
    let words = &parts.words;
    let has = |word: &str| words.iter().any(|w| w == word);

    // Kinds of price that are not on-demand token prices, whatever else they say.
    if has("batch") {
        return Err(Skip::Batch);
    }
    if has("custom") || has("customization") {
        return Err(Skip::Customization);
    }
    if has("provisionedthroughput") || has("provisioned") || has("modelunits") {
        return Err(Skip::ProvisionedThroughput);
    }
    if let Some(word) = ["image", "images", "audio", "video", "speech"]
        .into_iter()
        .find(|word| has(word))
    {
        return Err(Skip::Modality(word.to_string()));
    }
    if has("latencyoptimized") || (has("latency") && has("optimized")) {
        return Err(Skip::LatencyOptimized);
    }
    if has("long") && (has("ctx") || has("context")) {
        return Err(Skip::LongContext);
    }
    let unknown_word = words.iter().find(|word| {
        !KNOWN_WORDS.contains(&word.as_str())
            && !is_reserved_term_word(word)
            && !is_cache_duration(word)
    });
    if let Some(word) = unknown_word {
        return Err(Skip::UsageTypeWord(word.clone()));
    }

    let meter = meter_of(words, &usage_type)?;
    check_meter_against_inference_type(meter, attributes.get("inferenceType"))?;
    let tier = if meter.is_reserved() {
        Tier::Reserved
    } else {
        tier_of(words, attributes)?
    };
    let routing = if has("global") {
        ListRouting::Global
    } else if has("geo") {
        ListRouting::Geo
    } else {
        ListRouting::Regional
    };
    let model = ModelNames {
        // Titan rows name their model in `titanModel` instead of `model`.
        display: ["model", "titanModel"]
            .iter()
            .find_map(|name| attributes.get(*name).filter(|m| !m.trim().is_empty()))
            .cloned(),
        service_name: attributes
            .get("servicename")
            .filter(|name| names_a_model(name))
            .cloned(),
        usage_type: parts.model,
    };
    Ok(Meaning {
        region,
        usage_type,
        model,
        tier,
        routing,
        meter,
        engine: if has("mantle") {
            Engine::Mantle
        } else {
            Engine::Runtime
        },
    })
}

/// `servicename` is a model's name in AmazonBedrockFoundationModels ("Claude Sonnet 4.6
/// (Amazon Bedrock Edition)"), but only the service's own name elsewhere.
fn names_a_model(service_name: &str) -> bool {
    let generic = ["amazon bedrock", "amazon bedrock service"];
    !service_name.trim().is_empty()
        && !generic.contains(&service_name.trim().to_lowercase().as_str())
}

/// Words a token usage type may hold besides tier, routing and meter words.
const KNOWN_WORDS: &[&str] = &[
    "input", "output", "tokens", "token", "count", "text", "cache", "read", "write", "creation",
    "cross", "region", "global", "geo", "mantle", "flex", "priority", "standard", "default",
    "reserved", "tpm", "month", "months", "units", "unit", "prompt",
];

/// `1`, `3`, `1month`: the term of a Reserved row (`Reserved_1Month_InputTPM_Geo`).
fn is_reserved_term_word(word: &str) -> bool {
    let digits = word.trim_end_matches("months").trim_end_matches("month");
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// `5m`, `1h`, `30m`: a cache write's time to live.
fn is_cache_duration(word: &str) -> bool {
    let digits = word.trim_end_matches(['m', 'h']);
    digits.len() < word.len() && !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// A usage type split into the model part (AmazonBedrock only) and lowercase meter words.
#[derive(Debug)]
struct UsageTypeParts {
    model: Option<String>,
    words: Vec<String>,
}

/// `USE1-Qwen3-32B-input-tokens-priority` → model "Qwen3-32B", words [input, tokens,
/// priority]; `USE1-MP:USE1_CacheWrite1hInputTokenCount_Global-Units` → no model, words
/// [cache, write, 1h, input, token, count, global].
fn split_usage_type(usage_type: &str) -> Result<UsageTypeParts, Skip> {
    let (_region, rest) = usage_type
        .split_once('-')
        .ok_or_else(|| Skip::NotTokenMeter(usage_type.to_string()))?;
    if let Some(marketplace) = rest.strip_prefix("MP:") {
        // `USE1_InputTokenCount_Global-Units`: the region again, the meter, a unit suffix.
        let meter = marketplace
            .split_once('_')
            .map(|(_, meter)| meter)
            .ok_or_else(|| Skip::NotTokenMeter(usage_type.to_string()))?;
        let meter = meter.rsplit_once('-').map_or(meter, |(meter, _unit)| meter);
        return Ok(UsageTypeParts {
            model: None,
            words: words_of(meter),
        });
    }
    let segments: Vec<&str> = rest.split('-').collect();
    let start =
        meter_start(&segments).ok_or_else(|| Skip::NotTokenMeter(usage_type.to_string()))?;
    if start == 0 {
        return Err(Skip::NotTokenMeter(usage_type.to_string()));
    }
    let model = segments[..start].join("-");
    let words = segments[start..].iter().flat_map(|s| words_of(s)).collect();
    Ok(UsageTypeParts {
        model: Some(model),
        words,
    })
}

/// Where the meter starts in a `-`-split AmazonBedrock usage type (after the model part).
fn meter_start(segments: &[&str]) -> Option<usize> {
    let lower: Vec<String> = segments.iter().map(|s| s.to_lowercase()).collect();
    let next_is = |index: usize, words: &[&str]| {
        lower
            .get(index + 1)
            .is_some_and(|next| words.contains(&next.as_str()))
    };
    // The model part never starts the usage type, so index 0 is never a meter start. Model
    // names can hold words like "Text" (`TitanEmbeddingsG1-Text-input-tokens`), capitalized
    // as model names are; meter words are lower case (`Nova2.0Pro-text-input-tokens`).
    let meter_word = |index: usize| segments[index].bytes().all(|b| !b.is_ascii_uppercase());
    (1..lower.len()).find(|&index| match lower[index].as_str() {
        "input" | "output" | "cache" | "mantle" | "provisionedthroughput" | "reserved" => true,
        "text" | "prompt" => meter_word(index) && next_is(index, &["input", "output", "cache"]),
        "model" => next_is(index, &["customization"]),
        _ => false,
    })
}

/// Lowercase words of one usage-type part, split at `_`, `-`, `.` and camel-case humps:
/// `CacheWrite1hInputTokenCount` → [cache, write, 1h, input, token, count].
fn words_of(part: &str) -> Vec<String> {
    let mut words = Vec::new();
    for piece in part.split(['_', '-', ' ']) {
        let mut word = String::new();
        let mut previous: Option<char> = None;
        for c in piece.chars() {
            // A new word starts at an upper-case letter after a lower-case letter or digit
            // ("Cache|Write", "1h|Input", "Input|TPM") and at a digit after a letter
            // ("Write|1h"); "TPM" and "1h" stay whole.
            let boundary = previous.is_some_and(|p| {
                (c.is_ascii_uppercase() && (p.is_ascii_lowercase() || p.is_ascii_digit()))
                    || (c.is_ascii_digit() && p.is_ascii_alphabetic())
            });
            if boundary && !word.is_empty() {
                words.push(std::mem::take(&mut word).to_lowercase());
            }
            word.push(c);
            previous = Some(c);
        }
        if !word.is_empty() {
            words.push(word.to_lowercase());
        }
    }
    words
}

fn meter_of(words: &[String], usage_type: &str) -> Result<Meter, Skip> {
    let has = |word: &str| words.iter().any(|w| w == word);
    if has("reserved") {
        let term_months = reserved_term(words).unwrap_or(1);
        return if has("input") {
            Ok(Meter::ReservedInputTpm { term_months })
        } else if has("output") {
            Ok(Meter::ReservedOutputTpm { term_months })
        } else {
            Err(Skip::NotTokenMeter(usage_type.to_string()))
        };
    }
    if has("cache") {
        if has("read") {
            return Ok(Meter::CacheRead);
        }
        if has("write") || has("creation") {
            let duration = words.iter().find(|word| is_cache_duration(word));
            return match duration.map(String::as_str) {
                None | Some("5m") => Ok(Meter::CacheWrite5m),
                Some("1h" | "60m") => Ok(Meter::CacheWrite1h),
                Some(other) => Err(Skip::CacheDuration(other.to_string())),
            };
        }
        return Err(Skip::NotTokenMeter(usage_type.to_string()));
    }
    match (has("input"), has("output")) {
        (true, false) => Ok(Meter::Input),
        (false, true) => Ok(Meter::Output),
        _ => Err(Skip::NotTokenMeter(usage_type.to_string())),
    }
}

/// `Reserved_1Month_…` → 1; `…_3Months_…` → 3.
fn reserved_term(words: &[String]) -> Option<u8> {
    words.iter().enumerate().find_map(|(index, word)| {
        let digits = word.trim_end_matches("months").trim_end_matches("month");
        let joined = digits.len() < word.len();
        let before_month = words
            .get(index + 1)
            .is_some_and(|next| next == "month" || next == "months");
        if !digits.is_empty()
            && digits.bytes().all(|b| b.is_ascii_digit())
            && (joined || before_month)
        {
            digits.parse().ok()
        } else {
            None
        }
    })
}

/// The `feature` attribute marks batch, provisioned throughput and customization rows that
/// may look like on-demand ones otherwise.
fn excluded_by_feature(feature: Option<&str>) -> Result<(), Skip> {
    let Some(feature) = feature else {
        return Ok(());
    };
    let feature = feature.to_lowercase();
    if feature.contains("batch") {
        Err(Skip::Batch)
    } else if feature.contains("provisioned") {
        Err(Skip::ProvisionedThroughput)
    } else if feature.contains("customization") || feature.contains("custom model") {
        Err(Skip::Customization)
    } else if feature.contains("latency") {
        Err(Skip::LatencyOptimized)
    } else {
        Ok(())
    }
}

/// The tier a token row prices: every signal present must agree; none means Standard.
fn tier_of(words: &[String], attributes: &BTreeMap<String, String>) -> Result<Tier, Skip> {
    let mut signals: Vec<(&str, Tier)> = Vec::new();
    let from_word = |word: &str| match word {
        "flex" => Some(Tier::Flex),
        "priority" => Some(Tier::Priority),
        "standard" | "default" => Some(Tier::Standard),
        _ => None,
    };
    let usage_tiers: Vec<Tier> = words.iter().filter_map(|word| from_word(word)).collect();
    if let Some(tier) = usage_tiers.first() {
        if usage_tiers.iter().any(|other| other != tier) {
            return Err(Skip::ConflictingTier(format!(
                "the usage type names several tiers: {usage_tiers:?}"
            )));
        }
        signals.push(("usage type", *tier));
    }
    if let Some(value) = attributes.get("service_tier") {
        let value = value.trim().to_lowercase();
        match value.as_str() {
            "batch" => return Err(Skip::Batch),
            "reserved" => signals.push(("service_tier", Tier::Reserved)),
            other => match from_word(other) {
                Some(tier) => signals.push(("service_tier", tier)),
                None => {
                    return Err(Skip::ConflictingTier(format!(
                        "service_tier {value:?} is not a known tier"
                    )));
                }
            },
        }
    }
    if let Some(inference_type) = attributes.get("inferenceType") {
        let last = inference_type
            .split_whitespace()
            .last()
            .unwrap_or_default()
            .to_lowercase();
        if last == "batch" {
            return Err(Skip::Batch);
        }
        if let Some(tier) = from_word(&last) {
            signals.push(("inferenceType", tier));
        }
    }
    let Some((_, tier)) = signals.first().copied() else {
        return Ok(Tier::Standard);
    };
    if signals.iter().any(|(_, other)| *other != tier) {
        let detail = signals
            .iter()
            .map(|(from, tier)| format!("{from} says {tier}"))
            .collect::<Vec<_>>()
            .join(", ");
        return Err(Skip::ConflictingTier(detail));
    }
    Ok(tier)
}

/// `inferenceType` ("Input tokens", "Prompt cache read input tokens", …) must not contradict
/// the usage type's meter.
fn check_meter_against_inference_type(
    meter: Meter,
    inference_type: Option<&String>,
) -> Result<(), Skip> {
    let Some(text) = inference_type else {
        return Ok(());
    };
    let words = words_of(text);
    let has = |word: &str| words.iter().any(|w| w == word);
    let said = if has("cache") && has("read") {
        Some(Meter::CacheRead)
    } else if has("cache") && (has("write") || has("creation")) {
        Some(Meter::CacheWrite5m)
    } else if has("input") && !has("output") && !has("cache") {
        Some(Meter::Input)
    } else if has("output") && !has("input") {
        Some(Meter::Output)
    } else {
        None
    };
    let same = match (said, meter) {
        (None, _) => true,
        (Some(Meter::CacheWrite5m), Meter::CacheWrite1h) => true,
        (Some(Meter::Input), Meter::ReservedInputTpm { .. }) => true,
        (Some(Meter::Output), Meter::ReservedOutputTpm { .. }) => true,
        (Some(said), meter) => said == meter,
    };
    if same {
        Ok(())
    } else {
        Err(Skip::ConflictingMeter(format!(
            "inferenceType {text:?} against a {} usage type",
            meter.name()
        )))
    }
}

// --- Wire shapes ------------------------------------------------------------------------------

/// The offer a product belongs to.
#[derive(Debug, Clone)]
struct Offer {
    service_code: String,
    version: Option<String>,
    publication_date: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Document {
    product: Product,
    #[serde(default)]
    terms: Terms,
    #[serde(rename = "serviceCode")]
    service_code: Option<String>,
    version: Option<String>,
    #[serde(rename = "publicationDate")]
    publication_date: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Product {
    sku: String,
    #[serde(default, deserialize_with = "string_attributes")]
    attributes: BTreeMap<String, String>,
}

/// A bulk offer file with its products and terms left as the JSON text they are in.
#[derive(Deserialize)]
struct RawOfferFile<'a> {
    #[serde(rename = "offerCode", default)]
    offer_code: Option<String>,
    #[serde(default)]
    version: Option<String>,
    #[serde(rename = "publicationDate", default)]
    publication_date: Option<String>,
    #[serde(borrow)]
    products: BTreeMap<String, &'a RawValue>,
    #[serde(borrow)]
    terms: RawTerms<'a>,
}

#[derive(Deserialize)]
struct RawTerms<'a> {
    #[serde(rename = "OnDemand", borrow, default)]
    on_demand: BTreeMap<String, BTreeMap<String, &'a RawValue>>,
}

#[derive(Debug, Default, Deserialize)]
struct Terms {
    #[serde(rename = "OnDemand", default)]
    on_demand: BTreeMap<String, Term>,
}

#[derive(Debug, Deserialize)]
struct Term {
    #[serde(rename = "offerTermCode")]
    offer_term_code: Option<String>,
    #[serde(rename = "effectiveDate")]
    effective_date: Option<String>,
    #[serde(rename = "priceDimensions", default)]
    price_dimensions: BTreeMap<String, Dimension>,
    /// Filled from the map key when `offerTermCode` is absent (trimmed fixtures).
    #[serde(skip)]
    key_code: Option<String>,
}

impl Term {
    /// Remembers the term code of its map key (`SKU.TERMCODE`).
    fn keyed(mut self, key: &str) -> Term {
        self.key_code = Some(key.rsplit('.').next().unwrap_or(key).to_string());
        self
    }
}

#[derive(Debug, Deserialize)]
struct Dimension {
    #[serde(rename = "rateCode")]
    rate_code: Option<String>,
    unit: Option<String>,
    description: Option<String>,
    #[serde(rename = "pricePerUnit", default)]
    price_per_unit: BTreeMap<String, String>,
}

/// Attributes are strings in the Price List; anything else is ignored rather than failing
/// the whole product.
fn string_attributes<'de, D>(deserializer: D) -> Result<BTreeMap<String, String>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let raw = BTreeMap::<String, Value>::deserialize(deserializer)?;
    Ok(raw
        .into_iter()
        .filter_map(|(key, value)| match value {
            Value::String(text) => Some((key, text)),
            _ => None,
        })
        .collect())
}

#[cfg(test)]
mod tests;
