//! The price table and the exact cost of one invocation.
//!
//! A [`PriceTable`] is loaded from a TOML file (the shipped one is `config/pricing.toml`) and
//! answers one question per record: what did this invocation cost, at which price, and what
//! would it have cost on Standard? The answer is exact (integer picodollars), and when no
//! price applies it says why instead of guessing: an unknown price is never $0.
//!
//! Loading does all the thinking: rows are validated, declared region fallbacks and tier
//! multipliers are materialized into ready-made prices (each saying how it was derived), and
//! everything is indexed so that [`PriceTable::price`] only looks things up.
//!
//! Layout: `table_file` reads the TOML into declarations, `build` turns declarations into
//! the index, `amount` does the exact decimal arithmetic.

pub(crate) mod amount;
mod build;
pub mod catalog;
pub mod model_names;
pub mod pricelist;
mod table_file;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use chrono::NaiveDate;

use crate::config::Reservation;
use crate::model::{Invocation, Money, Routing, Tier, TokenCounts, TokenKind};

/// Milliseconds in one UTC day.
const MS_PER_DAY: i64 = 86_400_000;

/// Which prices a call is looked up under. Geo profiles (`us.`, `eu.`, ...) and in-region
/// calls bill at the calling region's regional price; only `global.` profiles have their own
/// (`-cross-region-global`) prices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PriceRouting {
    Regional,
    Global,
}

impl PriceRouting {
    pub fn as_str(self) -> &'static str {
        match self {
            PriceRouting::Regional => "regional",
            PriceRouting::Global => "global",
        }
    }

    /// The prices a call routed this way is billed at.
    pub fn of(routing: Routing) -> PriceRouting {
        match routing {
            Routing::Global => PriceRouting::Global,
            Routing::InRegion | Routing::Geo => PriceRouting::Regional,
        }
    }
}

impl fmt::Display for PriceRouting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Rates of one price, in micro-dollars per million tokens (so $0.1225/1M is `122_500`).
/// `None` means the table gives no rate for that token type: tokens of that type are unpriced.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Rates {
    pub input: Option<i64>,
    pub output: Option<i64>,
    pub cache_read: Option<i64>,
    pub cache_write: Option<i64>,
}

impl Rates {
    pub fn get(&self, kind: TokenKind) -> Option<i64> {
        match kind {
            TokenKind::Input => self.input,
            TokenKind::Output => self.output,
            TokenKind::CacheRead => self.cache_read,
            TokenKind::CacheWrite => self.cache_write,
        }
    }

    fn set(&mut self, kind: TokenKind, micros: Option<i64>) {
        let slot = match kind {
            TokenKind::Input => &mut self.input,
            TokenKind::Output => &mut self.output,
            TokenKind::CacheRead => &mut self.cache_read,
            TokenKind::CacheWrite => &mut self.cache_write,
        };
        *slot = micros;
    }

    fn is_empty(&self) -> bool {
        TokenKind::ALL.iter().all(|kind| self.get(*kind).is_none())
    }
}

/// One price as applied to calls: the key it prices, its rates, and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedPrice {
    pub region: String,
    pub model_id: String,
    pub tier: Tier,
    pub routing: PriceRouting,
    pub effective_from: NaiveDate,
    pub rates: Rates,
    /// How this price was obtained when not straight from a row, e.g. "region fallback
    /// us-east-2 → us-east-1", "priority cache_read = 1.75 × standard", "global profile at
    /// regional price (no global row)". Several steps are joined with "; ".
    pub derivation: Option<String>,
    /// The row's `source` text (who said this is the price).
    pub source: Option<String>,
}

impl ResolvedPrice {
    /// Canonical text covering every field: two prices are the same price iff their
    /// fingerprints are equal. JSON escaping keeps it unambiguous and stable across Rust
    /// versions (the store keys provenance rows on it); the leading "v1" names the layout.
    pub fn fingerprint(&self) -> String {
        let fields = serde_json::json!([
            "v1",
            self.region,
            self.model_id,
            self.tier.as_str(),
            self.routing.as_str(),
            self.effective_from.format("%Y-%m-%d").to_string(),
            self.rates.input,
            self.rates.output,
            self.rates.cache_read,
            self.rates.cache_write,
            self.derivation,
            self.source,
        ]);
        fields.to_string()
    }
}

/// The cost of an invocation and the price it was computed with.
#[derive(Debug, Clone, PartialEq)]
pub struct PricedCost {
    pub price: Arc<ResolvedPrice>,
    pub cost: Money,
    /// What the same tokens would have cost on Standard (same region, model, routing and
    /// date); for a Standard call, the same price and cost. `None` when Standard can't price
    /// them.
    pub standard_equivalent: Option<StandardEquivalent>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StandardEquivalent {
    pub price: Arc<ResolvedPrice>,
    pub cost: Money,
}

#[derive(Debug, Clone, PartialEq)]
pub enum PricingOutcome {
    Priced(PricedCost),
    /// A failed call (errorCode) that carries no tokens: AWS bills nothing.
    NotBilled,
    /// No price applies; `reason` is stable per (model, tier, region) cause — no dates,
    /// counts or request ids in it — so reasons can be grouped and listed.
    Unpriced {
        reason: String,
    },
}

/// The user's own price table (`pricing.toml`): its text and where it came from.
#[derive(Debug, Clone, Copy)]
pub struct UserTable<'a> {
    pub text: &'a str,
    pub origin: &'a str,
}

/// A built table and the Price List keys the user's table overrode.
#[derive(Debug)]
pub struct Assembled {
    pub table: PriceTable,
    pub overrides: Vec<Override>,
}

/// A region, model, tier and routing priced both by the user's table and the Price List:
/// the user's rows win. `check-config` lists these, with both latest rates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Override {
    pub region: String,
    pub model_id: String,
    pub tier: Tier,
    pub routing: PriceRouting,
    /// The latest rates of each side.
    pub user: Rates,
    pub list: Rates,
}

impl Override {
    /// True when the user's latest rates differ from the Price List's (a negotiated price,
    /// or a stale row worth checking).
    pub fn differs(&self) -> bool {
        self.user != self.list
    }
}

/// The keys both tables price, with each side's latest rates.
fn overridden(user: &[table_file::PriceRow], list: &[table_file::PriceRow]) -> Vec<Override> {
    use std::collections::BTreeMap;
    type Key = (String, String, Tier, PriceRouting);
    let latest = |rows: &[table_file::PriceRow]| {
        let mut latest = BTreeMap::<Key, (NaiveDate, Rates)>::new();
        for row in rows {
            let key = (row.region.clone(), row.model.clone(), row.tier, row.routing);
            let entry = latest.entry(key).or_insert((row.effective_from, row.rates));
            if row.effective_from >= entry.0 {
                *entry = (row.effective_from, row.rates);
            }
        }
        latest
    };
    let user = latest(user);
    let list = latest(list);
    user.into_iter()
        .filter_map(|(key, (_, user_rates))| {
            let (_, list_rates) = list.get(&key)?;
            Some(Override {
                region: key.0,
                model_id: key.1,
                tier: key.2,
                routing: key.3,
                user: user_rates,
                list: *list_rates,
            })
        })
        .collect()
}

/// A price table that could not be read or is invalid. `Invalid` lists every problem found,
/// one per line, each naming the file, the key and what was expected.
#[derive(Debug, thiserror::Error)]
pub enum PricingError {
    #[error("{path}: cannot read the price table: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{}", render_problems(origin, problems))]
    Invalid {
        origin: String,
        problems: Vec<Problem>,
    },
}

/// One thing wrong in a price table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Where in the table, e.g. `price[3].input` (rows count from 1, in file order).
    pub key: String,
    pub message: String,
    /// 1-based line of the offending value, when known.
    pub line: Option<usize>,
}

fn render_problems(origin: &str, problems: &[Problem]) -> String {
    let lines: Vec<String> = problems
        .iter()
        .map(|problem| match problem.line {
            Some(line) => format!(
                "{origin}: {}: {} (line {line})",
                problem.key, problem.message
            ),
            None => format!("{origin}: {}: {}", problem.key, problem.message),
        })
        .collect();
    lines.join("\n")
}

/// What a `global.` profile call costs when the table has no `routing = "global"` row for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GlobalRouting {
    /// Charge the regional price, saying so in the price's derivation.
    RegionalPrice,
    /// Leave such calls unpriced.
    Unpriced,
}

/// Index slot of a (tier, routing) pair inside [`ModelPrices`].
fn slot(tier: Tier, routing: PriceRouting) -> usize {
    let tier_index = match tier {
        Tier::Priority => 0,
        Tier::Standard => 1,
        Tier::Flex => 2,
        Tier::Reserved => 3,
    };
    let routing_index = match routing {
        PriceRouting::Regional => 0,
        PriceRouting::Global => 1,
    };
    tier_index * 2 + routing_index
}

const SLOTS: usize = 8;

/// A price that starts applying on a given UTC day (days since 1970-01-01).
#[derive(Debug)]
struct Dated {
    from_day: i64,
    price: Arc<ResolvedPrice>,
}

/// Every price of one model in one region: per (tier, routing) slot, the prices in date
/// order. A `global` slot already holds whatever a global call pays (global rows, or the
/// regional prices marked as such, per `global_routing`).
#[derive(Debug, Default)]
struct ModelPrices {
    slots: [Vec<Dated>; SLOTS],
}

impl ModelPrices {
    /// The price in effect on `day`: the latest one whose first day is not after it.
    fn in_effect(
        &self,
        tier: Tier,
        routing: PriceRouting,
        day: i64,
    ) -> Result<&Arc<ResolvedPrice>, Miss> {
        let timeline = &self.slots[slot(tier, routing)];
        if timeline.is_empty() {
            return Err(Miss::Tier);
        }
        let started = timeline.partition_point(|dated| dated.from_day <= day);
        match started.checked_sub(1) {
            Some(index) => Ok(&timeline[index].price),
            None => Err(Miss::BeforeFirstPrice),
        }
    }
}

/// What the same tokens cost on Standard, for a call priced on another tier.
fn standard_equivalent(
    prices: &ModelPrices,
    routing: PriceRouting,
    day: i64,
    tokens: &TokenCounts,
) -> Option<StandardEquivalent> {
    let price = prices.in_effect(Tier::Standard, routing, day).ok()?;
    let cost = cost_of(tokens, &price.rates).ok()?;
    Some(StandardEquivalent {
        price: Arc::clone(price),
        cost,
    })
}

/// The loaded price table.
#[derive(Debug)]
pub struct PriceTable {
    /// region → model id → prices. Looked up with `&str`, so the hot path allocates nothing.
    by_region: HashMap<String, HashMap<String, ModelPrices>>,
    /// Distinct model ids with at least one price, sorted.
    models: Vec<String>,
    global_routing: GlobalRouting,
    /// Reserved capacity bought, with the price its calls carry.
    reservations: Vec<(Reservation, Arc<ResolvedPrice>)>,
}

/// Why a lookup found no price (turned into a reason text only when needed).
enum Miss {
    Region,
    Model,
    Tier,
    BeforeFirstPrice,
}

/// Why a found price could not cost the tokens.
enum CostError {
    MissingRate(TokenKind),
    Overflow,
}

impl PriceTable {
    /// Reads and validates a price table file.
    pub fn load(path: &Path) -> Result<PriceTable, PricingError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| PricingError::Read {
            path: origin.clone(),
            source,
        })?;
        PriceTable::parse(&text, &origin)
    }

    /// Parses and validates a price table; `origin` names it in error messages.
    pub fn parse(text: &str, origin: &str) -> Result<PriceTable, PricingError> {
        let invalid = |problems| PricingError::Invalid {
            origin: origin.to_string(),
            problems,
        };
        let declarations = table_file::read(text).map_err(invalid)?;
        // Alone (no Price List under it), a table without rows would price nothing.
        if declarations.prices.is_empty() {
            return Err(invalid(vec![Problem {
                key: "price".to_string(),
                message: "the table has no [[price]] rows; add at least one".to_string(),
                line: None,
            }]));
        }
        build::build(declarations).map_err(invalid)
    }

    /// Builds the table in effect: AWS Price List rows (`list`, stored by `prices sync` or
    /// `prices import`, or the built-in table), with the user's own table over them. For each
    /// region, model, tier and routing the user's table prices, its rows replace the Price
    /// List's (negotiated discounts, private pricing); the user's region fallbacks and tier
    /// multipliers then apply to both.
    pub fn assemble(
        list: &[catalog::CatalogPrice],
        user: Option<UserTable<'_>>,
    ) -> Result<Assembled, PricingError> {
        let (mut declarations, origin) = match user {
            Some(user) => {
                let declarations =
                    table_file::read(user.text).map_err(|problems| PricingError::Invalid {
                        origin: user.origin.to_string(),
                        problems,
                    })?;
                (declarations, user.origin.to_string())
            }
            None => (
                table_file::Declarations::empty(),
                "AWS Price List".to_string(),
            ),
        };
        let list_rows = catalog::price_rows(list);
        let overrides = overridden(&declarations.prices, &list_rows);
        let overridden_keys: std::collections::HashSet<_> = overrides
            .iter()
            .map(|o| (o.region.clone(), o.model_id.clone(), o.tier, o.routing))
            .collect();
        for row in &mut declarations.prices {
            let key = (row.region.clone(), row.model.clone(), row.tier, row.routing);
            if overridden_keys.contains(&key) {
                let note = "overrides the AWS Price List for this region, model, tier and routing";
                row.source = Some(match row.source.take() {
                    Some(source) => format!("{source} ({note})"),
                    None => format!("{origin} ({note})"),
                });
            }
        }
        declarations
            .prices
            .extend(list_rows.into_iter().filter(|row| {
                !overridden_keys.contains(&(
                    row.region.clone(),
                    row.model.clone(),
                    row.tier,
                    row.routing,
                ))
            }));
        let table = build::build(declarations)
            .map_err(|problems| PricingError::Invalid { origin, problems })?;
        Ok(Assembled { table, overrides })
    }

    /// Distinct model ids the table prices (in any region, tier or routing), sorted.
    pub fn models(&self) -> impl Iterator<Item = &str> {
        self.models.iter().map(String::as_str)
    }

    /// Every price in the table (derived ones included), sorted by region, model, tier,
    /// routing and effective date: what `tierwatch prices list` shows.
    pub fn prices(&self) -> Vec<Arc<ResolvedPrice>> {
        let mut prices: Vec<Arc<ResolvedPrice>> = self
            .by_region
            .values()
            .flat_map(|models| models.values())
            .flat_map(|model| model.slots.iter().flatten())
            .map(|dated| Arc::clone(&dated.price))
            .collect();
        prices.sort_by(|a, b| {
            (&a.region, &a.model_id, a.tier, a.routing, a.effective_from).cmp(&(
                &b.region,
                &b.model_id,
                b.tier,
                b.routing,
                b.effective_from,
            ))
        });
        prices.dedup_by(|a, b| Arc::ptr_eq(a, b));
        prices
    }

    /// Prices one invocation. Called once per record: the common path allocates nothing.
    pub fn price(&self, invocation: &Invocation) -> PricingOutcome {
        let tokens = &invocation.tokens;
        if invocation.is_error() && carries_no_tokens(tokens) {
            return PricingOutcome::NotBilled;
        }
        let model = &invocation.model;
        if !model.resolved {
            return unpriced(format!(
                "application inference profile {} is not mapped to a foundation model",
                model.called
            ));
        }
        if tokens.is_unknown() {
            return unpriced("record has no token counts".to_string());
        }

        let region = invocation.region.as_str();
        let model_id = model.model_id.as_str();
        let tier = invocation.tier.served;
        let routing = PriceRouting::of(model.routing);
        let day = invocation.timestamp_ms.div_euclid(MS_PER_DAY);

        let found = self.model_prices(region, model_id).and_then(|prices| {
            prices
                .in_effect(tier, routing, day)
                .map(|price| (prices, price))
        });
        let (prices, price) = match found {
            Ok(found) => found,
            Err(miss) => {
                if tier == Tier::Reserved
                    && let Some(covered) = self.reserved(invocation, routing, day)
                {
                    return covered;
                }
                return unpriced(self.miss_reason(miss, region, model_id, tier, routing));
            }
        };
        let cost = match cost_of(tokens, &price.rates) {
            Ok(cost) => cost,
            Err(error) => return unpriced(cost_error_reason(error, price)),
        };
        let standard_equivalent = if tier == Tier::Standard {
            Some(StandardEquivalent {
                price: Arc::clone(price),
                cost,
            })
        } else {
            standard_equivalent(prices, routing, day, tokens)
        };
        PricingOutcome::Priced(PricedCost {
            price: Arc::clone(price),
            cost,
            standard_equivalent,
        })
    }

    /// Adds the Reserved capacity bought: calls it serves are covered by its fixed price.
    pub fn with_reservations(mut self, reservations: &[Reservation]) -> PriceTable {
        self.reservations = reservations
            .iter()
            .map(|reservation| {
                let price = ResolvedPrice {
                    region: reservation.region.clone(),
                    model_id: reservation.model_id.clone(),
                    tier: Tier::Reserved,
                    routing: if reservation.global {
                        PriceRouting::Global
                    } else {
                        PriceRouting::Regional
                    },
                    effective_from: reservation.start,
                    rates: Rates {
                        input: Some(0),
                        output: Some(0),
                        cache_read: Some(0),
                        cache_write: Some(0),
                    },
                    derivation: Some(format!(
                        "covered by reservation {}: its fixed monthly price is in the report",
                        reservation.name
                    )),
                    source: Some(format!("[[pricing.reservations]] {}", reservation.name)),
                };
                (reservation.clone(), Arc::new(price))
            })
            .collect();
        self
    }

    /// A Reserved-tier call covered by a reservation: nothing per token (the reservation's
    /// fixed price is reported per month). `None` when no reservation covers it.
    fn reserved(
        &self,
        invocation: &Invocation,
        routing: PriceRouting,
        day: i64,
    ) -> Option<PricingOutcome> {
        let model = &invocation.model.model_id;
        let region = &invocation.region;
        let date =
            NaiveDate::from_num_days_from_ce_opt(i32::try_from(day + 719_163).unwrap_or(i32::MAX));
        let covering = date.and_then(|date| {
            self.reservations.iter().find(|(reservation, _)| {
                reservation.covers(&invocation.account_id, region, model, date)
            })
        });
        let (_, price) = covering?;
        let standard_equivalent = self
            .model_prices(region, model)
            .ok()
            .and_then(|prices| standard_equivalent(prices, routing, day, &invocation.tokens));
        Some(PricingOutcome::Priced(PricedCost {
            price: Arc::clone(price),
            cost: Money(0),
            standard_equivalent,
        }))
    }

    fn model_prices(&self, region: &str, model_id: &str) -> Result<&ModelPrices, Miss> {
        let models = self.by_region.get(region).ok_or(Miss::Region)?;
        models.get(model_id).ok_or(Miss::Model)
    }

    /// A reason text for a failed lookup: stable per (model, tier, region) cause.
    fn miss_reason(
        &self,
        miss: Miss,
        region: &str,
        model_id: &str,
        tier: Tier,
        routing: PriceRouting,
    ) -> String {
        // Reserved usage is normally paid for by the reservation; only a table that has
        // reserved rows for this model and region prices it per token.
        let has_reserved_rows = [PriceRouting::Regional, PriceRouting::Global]
            .into_iter()
            .any(|any_routing| self.has_prices(region, model_id, Tier::Reserved, any_routing));
        if tier == Tier::Reserved && !has_reserved_rows {
            return "reserved capacity is billed per reservation, not per token: no [[pricing.reservations]] entry covers it".to_string();
        }
        let tier_and_routing = TierAndRouting(tier, routing);
        match miss {
            Miss::Model | Miss::Region
                if self
                    .models
                    .binary_search_by(|m| m.as_str().cmp(model_id))
                    .is_err() =>
            {
                format!("model {model_id} is not in the price table")
            }
            Miss::Region | Miss::Model => format!("no price for {model_id} in {region}"),
            Miss::Tier => {
                let has_regional = self.has_prices(region, model_id, tier, PriceRouting::Regional);
                if routing == PriceRouting::Global
                    && has_regional
                    && self.global_routing == GlobalRouting::Unpriced
                {
                    format!(
                        "no global price for {model_id} ({tier}) in {region}, and global_routing = \"unpriced\""
                    )
                } else {
                    format!("no {tier_and_routing} price for {model_id} in {region}")
                }
            }
            Miss::BeforeFirstPrice => {
                format!(
                    "no {tier_and_routing} price for {model_id} in {region} before its first effective date"
                )
            }
        }
    }

    fn has_prices(&self, region: &str, model_id: &str, tier: Tier, routing: PriceRouting) -> bool {
        self.by_region
            .get(region)
            .and_then(|models| models.get(model_id))
            .is_some_and(|prices| !prices.slots[slot(tier, routing)].is_empty())
    }
}

/// "priority" for regional prices, "priority, global" for global ones (used in reasons).
struct TierAndRouting(Tier, PriceRouting);

impl fmt::Display for TierAndRouting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.1 {
            PriceRouting::Regional => write!(f, "{}", self.0),
            PriceRouting::Global => write!(f, "{}, global", self.0),
        }
    }
}

fn unpriced(reason: String) -> PricingOutcome {
    PricingOutcome::Unpriced { reason }
}

/// True when every count is absent or zero: a failed call like that is not billed.
fn carries_no_tokens(tokens: &TokenCounts) -> bool {
    TokenKind::ALL.iter().all(|kind| tokens.get(*kind) == 0)
}

/// Σ count × rate over the four token types, in picodollars (µ$ per 1M tokens × tokens).
/// A token type with a non-zero count and no rate makes the whole cost unknown.
fn cost_of(tokens: &TokenCounts, rates: &Rates) -> Result<Money, CostError> {
    let mut total: i128 = 0;
    for kind in TokenKind::ALL {
        let count = tokens.get(kind);
        if count == 0 {
            continue;
        }
        let rate = rates.get(kind).ok_or(CostError::MissingRate(kind))?;
        let cost = i128::from(count)
            .checked_mul(i128::from(rate))
            .ok_or(CostError::Overflow)?;
        total = total.checked_add(cost).ok_or(CostError::Overflow)?;
    }
    i64::try_from(total)
        .map(Money)
        .map_err(|_| CostError::Overflow)
}

fn cost_error_reason(error: CostError, price: &ResolvedPrice) -> String {
    let model_id = &price.model_id;
    let region = &price.region;
    let tier_and_routing = TierAndRouting(price.tier, price.routing);
    match error {
        CostError::MissingRate(kind) => {
            format!(
                "no {} rate for {model_id} ({tier_and_routing}) in {region}",
                kind.as_str()
            )
        }
        CostError::Overflow => {
            format!(
                "cost of {model_id} ({tier_and_routing}) in {region} overflows: token counts too large"
            )
        }
    }
}
