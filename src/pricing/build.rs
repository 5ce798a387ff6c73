//! Declarations → the lookup index.
//!
//! Prices are materialized in four steps, each only where the table says so:
//! 1. explicit `[[price]]` rows;
//! 2. declared region fallbacks copy another region's prices (an explicit row always wins);
//! 3. declared tier multipliers fill the rates a tier has no value for;
//! 4. `global` slots get what a `global.` profile call pays (per `global_routing`).
//!
//! Every derived price carries its derivation text, so `price()` does no derivation work and
//! the provenance of each cost can be shown as it was computed.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use chrono::NaiveDate;

use super::amount::{ScaleError, Usd};
use super::table_file::{Declarations, ModelFilter, PriceRow, RegionFallback, TierMultiplier};
use super::{
    Dated, GlobalRouting, ModelPrices, PriceRouting, PriceTable, Problem, Rates, ResolvedPrice,
    slot,
};
use crate::model::{Tier, TokenKind};

/// What one timeline of prices is for.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct PriceKey {
    region: String,
    model: String,
    tier: Tier,
    routing: PriceRouting,
}

impl PriceKey {
    fn with_tier(&self, tier: Tier) -> PriceKey {
        PriceKey {
            tier,
            ..self.clone()
        }
    }

    fn with_region(&self, region: &str) -> PriceKey {
        PriceKey {
            region: region.to_string(),
            ..self.clone()
        }
    }

    fn with_routing(&self, routing: PriceRouting) -> PriceKey {
        PriceKey {
            routing,
            ..self.clone()
        }
    }
}

/// One price in a timeline. `from` is where it starts applying in the timeline;
/// `effective_from` is the date the price itself carries (they differ only when an explicit
/// row applies again after a derived stretch).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Row {
    from: NaiveDate,
    effective_from: NaiveDate,
    rates: Rates,
    derivation: Option<String>,
    source: Option<String>,
}

impl Row {
    fn same_price(&self, other: &Row) -> bool {
        self.effective_from == other.effective_from
            && self.rates == other.rates
            && self.derivation == other.derivation
            && self.source == other.source
    }
}

/// Every timeline, each sorted by `from`.
type Rows = BTreeMap<PriceKey, Vec<Row>>;

const GLOBAL_AT_REGIONAL: &str = "global profile at regional price (no global row)";

pub(super) fn build(declarations: Declarations) -> Result<PriceTable, Vec<Problem>> {
    let mut problems = Vec::new();
    let mut rows = explicit_rows(&declarations.prices, &mut problems);
    if problems.is_empty() {
        apply_fallbacks(&mut rows, &declarations.fallbacks, &mut problems);
    }
    if problems.is_empty() {
        apply_multipliers(&mut rows, &declarations.multipliers, &mut problems);
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    if declarations.global_routing == GlobalRouting::RegionalPrice {
        add_global_at_regional_price(&mut rows);
    }
    Ok(index(rows, declarations.global_routing))
}

fn explicit_rows(prices: &[PriceRow], problems: &mut Vec<Problem>) -> Rows {
    let mut rows = Rows::new();
    let mut first_seen: HashMap<(PriceKey, NaiveDate), &str> = HashMap::new();
    for price in prices {
        let key = PriceKey {
            region: price.region.clone(),
            model: price.model.clone(),
            tier: price.tier,
            routing: price.routing,
        };
        if let Some(first) = first_seen.get(&(key.clone(), price.effective_from)) {
            let message = format!(
                "duplicate of {first}: same region, model, tier, routing and effective_from \
                 (give a later effective_from to record a price change)"
            );
            problems.push(price.at.problem("", message));
            continue;
        }
        first_seen.insert((key.clone(), price.effective_from), &price.at.label);
        rows.entry(key).or_default().push(Row {
            from: price.effective_from,
            effective_from: price.effective_from,
            rates: price.rates,
            derivation: None,
            source: price.source.clone(),
        });
    }
    for timeline in rows.values_mut() {
        timeline.sort_by_key(|row| row.from);
    }
    rows
}

// ---------------------------------------------------------------------------------------
// Region fallbacks

fn apply_fallbacks(rows: &mut Rows, fallbacks: &[RegionFallback], problems: &mut Vec<Problem>) {
    for (index, fallback) in fallbacks.iter().enumerate() {
        for earlier in &fallbacks[..index] {
            if earlier.region != fallback.region {
                continue;
            }
            if let Some(model) = fallback.models.shared_model(&earlier.models) {
                let message = format!(
                    "{} already says where {} takes prices for {model} from; give each model one fallback per region",
                    earlier.at.label, fallback.region
                );
                problems.push(fallback.at.problem("models", message));
            }
        }
    }
    if let Some((culprit, cycle)) = find_cycle(fallbacks) {
        let message = format!(
            "fallback cycle {}: regions cannot fall back to themselves",
            cycle.join(" → ")
        );
        problems.push(fallbacks[culprit].at.problem("use", message));
    }
    if !problems.is_empty() {
        return;
    }
    // Only explicit rows block a fallback: a key filled by a fallback is not "explicit".
    let explicit: BTreeSet<PriceKey> = rows.keys().cloned().collect();
    for index in dependency_order(fallbacks) {
        apply_fallback(rows, &fallbacks[index], &explicit, problems);
    }
}

/// A fallback cycle as (index of the fallback closing it, regions along it), if any.
fn find_cycle(fallbacks: &[RegionFallback]) -> Option<(usize, Vec<String>)> {
    #[derive(Clone, Copy, PartialEq)]
    enum Visit {
        OnPath,
        Done,
    }
    fn visit<'a>(
        region: &'a str,
        fallbacks: &'a [RegionFallback],
        state: &mut HashMap<&'a str, Visit>,
        path: &mut Vec<&'a str>,
    ) -> Option<(usize, Vec<String>)> {
        state.insert(region, Visit::OnPath);
        path.push(region);
        for (index, fallback) in fallbacks.iter().enumerate() {
            if fallback.region != region {
                continue;
            }
            let next = fallback.use_region.as_str();
            match state.get(next) {
                Some(Visit::OnPath) => {
                    let start = path.iter().position(|step| *step == next).unwrap_or(0);
                    let mut cycle: Vec<String> =
                        path[start..].iter().map(|step| step.to_string()).collect();
                    cycle.push(next.to_string());
                    return Some((index, cycle));
                }
                Some(Visit::Done) => {}
                None => {
                    if let Some(found) = visit(next, fallbacks, state, path) {
                        return Some(found);
                    }
                }
            }
        }
        path.pop();
        state.insert(region, Visit::Done);
        None
    }

    let mut state = HashMap::new();
    for fallback in fallbacks {
        if state.contains_key(fallback.region.as_str()) {
            continue;
        }
        if let Some(found) = visit(&fallback.region, fallbacks, &mut state, &mut Vec::new()) {
            return Some(found);
        }
    }
    None
}

/// Fallback indices ordered so a region is complete before others copy from it
/// (us-east-2 → us-east-1 is applied before ca-central-1 → us-east-2). Needs no cycles.
fn dependency_order(fallbacks: &[RegionFallback]) -> Vec<usize> {
    fn visit(
        index: usize,
        fallbacks: &[RegionFallback],
        done: &mut Vec<bool>,
        order: &mut Vec<usize>,
    ) {
        if done[index] {
            return;
        }
        done[index] = true;
        let source_region = &fallbacks[index].use_region;
        for (other, fallback) in fallbacks.iter().enumerate() {
            if &fallback.region == source_region {
                visit(other, fallbacks, done, order);
            }
        }
        order.push(index);
    }
    let mut done = vec![false; fallbacks.len()];
    let mut order = Vec::with_capacity(fallbacks.len());
    for index in 0..fallbacks.len() {
        visit(index, fallbacks, &mut done, &mut order);
    }
    order
}

fn apply_fallback(
    rows: &mut Rows,
    fallback: &RegionFallback,
    explicit: &BTreeSet<PriceKey>,
    problems: &mut Vec<Problem>,
) {
    let source = fallback.use_region.as_str();
    if !rows.keys().any(|key| key.region == source) {
        let message = format!("no prices for region {source:?} to fall back to");
        problems.push(fallback.at.problem("use", message));
        return;
    }
    if let ModelFilter::Only(models) = &fallback.models {
        for model in models {
            if !rows
                .keys()
                .any(|key| key.region == source && &key.model == model)
            {
                let message = format!("{model:?} has no prices in {source} to fall back to");
                problems.push(fallback.at.problem("models", message));
            }
        }
    }
    let copies: Vec<(PriceKey, Vec<Row>)> = rows
        .iter()
        .filter(|(key, _)| key.region == source && fallback.models.matches(&key.model))
        .map(|(key, timeline)| (key.with_region(&fallback.region), timeline))
        .filter(|(target, _)| !explicit.contains(target))
        .map(|(target, timeline)| {
            let copied = timeline
                .iter()
                .map(|row| Row {
                    derivation: Some(fallback_derivation(
                        &fallback.region,
                        source,
                        row.derivation.as_deref(),
                    )),
                    ..row.clone()
                })
                .collect();
            (target, copied)
        })
        .collect();
    rows.extend(copies);
}

/// "region fallback us-east-2 → us-east-1", extended along chains:
/// "region fallback ca-central-1 → us-east-2 → us-east-1".
fn fallback_derivation(region: &str, source: &str, previous: Option<&str>) -> String {
    const PREFIX: &str = "region fallback ";
    match previous {
        None => format!("{PREFIX}{region} → {source}"),
        Some(previous) => match previous.strip_prefix(PREFIX) {
            Some(chain) => format!("{PREFIX}{region} → {chain}"),
            None => format!("{PREFIX}{region} → {source}; {previous}"),
        },
    }
}

// ---------------------------------------------------------------------------------------
// Tier multipliers

fn apply_multipliers(rows: &mut Rows, multipliers: &[TierMultiplier], problems: &mut Vec<Problem>) {
    check_multipliers(rows, multipliers, problems);
    if !problems.is_empty() {
        return;
    }
    // Bases are the prices before any multiplier: multipliers never chain.
    let before = rows.clone();
    let mut targets = BTreeSet::new();
    for key in before.keys() {
        for multiplier in multipliers {
            if key.tier == multiplier.base && multiplier.models.matches(&key.model) {
                targets.insert(key.with_tier(multiplier.tier));
            }
        }
    }
    for target in targets {
        let applicable: Vec<&TierMultiplier> = multipliers
            .iter()
            .filter(|multiplier| {
                multiplier.tier == target.tier && multiplier.models.matches(&target.model)
            })
            .collect();
        let timeline = derive_timeline(&before, &target, &applicable, problems);
        if !timeline.is_empty() {
            rows.insert(target, timeline);
        }
    }
}

fn check_multipliers(rows: &Rows, multipliers: &[TierMultiplier], problems: &mut Vec<Problem>) {
    for (index, multiplier) in multipliers.iter().enumerate() {
        for earlier in &multipliers[..index] {
            if earlier.tier != multiplier.tier {
                continue;
            }
            let shared_kind = multiplier
                .token_types
                .iter()
                .find(|kind| earlier.token_types.contains(kind));
            if let (Some(model), Some(kind)) =
                (multiplier.models.shared_model(&earlier.models), shared_kind)
            {
                let message = format!(
                    "{} already derives {} {} for {model}; give each rate one multiplier",
                    earlier.at.label,
                    multiplier.tier,
                    kind.as_str()
                );
                problems.push(multiplier.at.problem("token_types", message));
            }
        }
        let (base, tier) = (multiplier.base, multiplier.tier);
        match &multiplier.models {
            ModelFilter::All => {
                if !rows.keys().any(|key| key.tier == base) {
                    let message = format!("the table has no {base} prices to derive {tier} from");
                    problems.push(multiplier.at.problem("base", message));
                }
            }
            ModelFilter::Only(models) => {
                for model in models {
                    if !rows
                        .keys()
                        .any(|key| key.tier == base && &key.model == model)
                    {
                        let message =
                            format!("{model:?} has no {base} prices to derive {tier} from");
                        problems.push(multiplier.at.problem("models", message));
                    }
                }
            }
        }
    }
}

/// The prices of `target` with the multipliers' fills, on every date where the target or a
/// base price changes. Dates where nothing changes add no row.
fn derive_timeline(
    before: &Rows,
    target: &PriceKey,
    multipliers: &[&TierMultiplier],
    problems: &mut Vec<Problem>,
) -> Vec<Row> {
    let own_rows = before.get(target).map(Vec::as_slice).unwrap_or(&[]);
    let base_rows: Vec<&[Row]> = multipliers
        .iter()
        .map(|multiplier| {
            before
                .get(&target.with_tier(multiplier.base))
                .map(Vec::as_slice)
                .unwrap_or(&[])
        })
        .collect();
    let mut dates: BTreeSet<NaiveDate> = own_rows.iter().map(|row| row.from).collect();
    for rows in &base_rows {
        dates.extend(rows.iter().map(|row| row.from));
    }

    let mut timeline: Vec<Row> = Vec::new();
    for day in dates {
        let own = in_effect(own_rows, day);
        let mut rates = own.map(|row| row.rates).unwrap_or_default();
        let mut steps: Vec<String> = own
            .and_then(|row| row.derivation.clone())
            .into_iter()
            .collect();
        let mut filled_any = false;
        let mut base_source = None;
        for (multiplier, rows) in multipliers.iter().zip(&base_rows) {
            let Some(base) = in_effect(rows, day) else {
                continue;
            };
            let filled = fill_rates(&mut rates, base, multiplier, target, problems);
            if filled.is_empty() {
                continue;
            }
            filled_any = true;
            if let Some(derivation) = &base.derivation
                && !steps.contains(derivation)
            {
                steps.push(derivation.clone());
            }
            let kinds: Vec<&str> = filled.iter().map(|kind| kind.as_str()).collect();
            steps.push(format!(
                "{} {} = {} × {}",
                target.tier,
                kinds.join(", "),
                multiplier.factor,
                multiplier.base
            ));
            base_source = base_source.or_else(|| base.source.clone());
        }
        let row = match own {
            Some(own) if !filled_any => Row {
                from: day,
                ..own.clone()
            },
            None if !filled_any => continue,
            _ => Row {
                from: day,
                effective_from: day,
                rates,
                derivation: Some(steps.join("; ")),
                source: own.and_then(|row| row.source.clone()).or(base_source),
            },
        };
        if timeline.last().is_some_and(|last| last.same_price(&row)) {
            continue;
        }
        timeline.push(row);
    }
    timeline
}

/// Fills the rates `multiplier` covers that `rates` lacks, from `base`; returns what it filled.
/// A product that is not a whole number of µ$ is reported (once) and left unfilled.
fn fill_rates(
    rates: &mut Rates,
    base: &Row,
    multiplier: &TierMultiplier,
    target: &PriceKey,
    problems: &mut Vec<Problem>,
) -> Vec<TokenKind> {
    let mut filled = Vec::new();
    for kind in &multiplier.token_types {
        if rates.get(*kind).is_some() {
            continue;
        }
        let Some(base_rate) = base.rates.get(*kind) else {
            continue;
        };
        match multiplier.factor.apply(base_rate) {
            Ok(rate) => {
                rates.set(*kind, Some(rate));
                filled.push(*kind);
            }
            Err(error) => {
                let problem = multiplier.at.problem(
                    "factor",
                    inexact_message(error, base_rate, multiplier, target, *kind),
                );
                if !problems.contains(&problem) {
                    problems.push(problem);
                }
            }
        }
    }
    filled
}

fn inexact_message(
    error: ScaleError,
    base_rate: i64,
    multiplier: &TierMultiplier,
    target: &PriceKey,
    kind: TokenKind,
) -> String {
    let routing = match target.routing {
        PriceRouting::Regional => "",
        PriceRouting::Global => " (global)",
    };
    let what = format!(
        "{} × {} {} of {} in {}{routing} ({} USD per 1M tokens)",
        multiplier.factor,
        multiplier.base,
        kind.as_str(),
        target.model,
        target.region,
        Usd(base_rate)
    );
    let fix = format!(
        "give {} {} its own price row instead",
        target.tier,
        kind.as_str()
    );
    match error {
        ScaleError::NotWhole => format!(
            "{what} = {} USD, not a whole number of micro-dollars per 1M tokens; {fix}",
            multiplier.factor.exact_product_text(base_rate)
        ),
        ScaleError::TooLarge => format!("{what} is too large to hold; {fix}"),
    }
}

fn in_effect(rows: &[Row], day: NaiveDate) -> Option<&Row> {
    let started = rows.partition_point(|row| row.from <= day);
    started.checked_sub(1).map(|index| &rows[index])
}

// ---------------------------------------------------------------------------------------
// Global routing and the index

/// Gives every `global` timeline the regional prices for the dates before its first global
/// row (all dates when it has none), marked as such.
fn add_global_at_regional_price(rows: &mut Rows) {
    let mut merged = Vec::new();
    for (key, regional) in rows
        .iter()
        .filter(|(key, _)| key.routing == PriceRouting::Regional)
    {
        let global_key = key.with_routing(PriceRouting::Global);
        let global = rows.get(&global_key).map(Vec::as_slice).unwrap_or(&[]);
        let first_global = global.first().map(|row| row.from);
        let mut timeline: Vec<Row> = regional
            .iter()
            .filter(|row| first_global.is_none_or(|first| row.from < first))
            .map(|row| Row {
                derivation: Some(match &row.derivation {
                    Some(previous) => format!("{previous}; {GLOBAL_AT_REGIONAL}"),
                    None => GLOBAL_AT_REGIONAL.to_string(),
                }),
                ..row.clone()
            })
            .collect();
        timeline.extend(global.iter().cloned());
        merged.push((global_key, timeline));
    }
    rows.extend(merged);
}

fn index(rows: Rows, global_routing: GlobalRouting) -> PriceTable {
    let mut by_region: HashMap<String, HashMap<String, ModelPrices>> = HashMap::new();
    let mut models = BTreeSet::new();
    for (key, timeline) in rows {
        if timeline.is_empty() {
            continue;
        }
        models.insert(key.model.clone());
        let dated = timeline
            .into_iter()
            .map(|row| Dated {
                from_day: i64::from(row.from.to_epoch_days()),
                price: Arc::new(ResolvedPrice {
                    region: key.region.clone(),
                    model_id: key.model.clone(),
                    tier: key.tier,
                    routing: key.routing,
                    effective_from: row.effective_from,
                    rates: row.rates,
                    derivation: row.derivation,
                    source: row.source,
                }),
            })
            .collect();
        let prices = by_region
            .entry(key.region)
            .or_default()
            .entry(key.model)
            .or_default();
        prices.slots[slot(key.tier, key.routing)] = dated;
    }
    PriceTable {
        by_region,
        models: models.into_iter().collect(),
        global_routing,
        reservations: Vec::new(),
    }
}
