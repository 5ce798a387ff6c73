//! Repricing a range of stored invocations and the rollups that count them.
//!
//! A price decision reads only a few things of an invocation: its day, account, region, model
//! (as called, as resolved, routing), served tier, whether it failed, and which token counts it
//! has; the cost is then Σ tokens × rate. So the range's invocations are grouped in SQL by those
//! fields and by the pricing they have now (a month of millions of calls makes some thousands
//! of *price groups*), and each group is decided once. A call's cost is Σ tokens × rates of
//! its price row, and price rows never change (they are keyed by a fingerprint of their
//! rates), so a group whose decision names the price rows (or cause) its calls already have
//! is unchanged as a whole. The other groups, with their new prices and rates, go into a
//! temporary table; an hour at a time, for the days that have such a group, SQL returns their
//! invocations, and those rows are updated and their change of price applied to the rollups
//! they count in (cells, caller cells, unpriced causes). Unchanged calls cost one grouping
//! scan; rollups are not rebuilt.
//!
//! The grouping is only used when it provably gives what deciding row by row would: the
//! decision is taken for the group's smallest and largest token counts, and both must name the
//! same price (or the same cause), cost exactly Σ tokens × rate, and not overflow; and the
//! group's model must stay the same (a profile resolved since moves calls to another series).
//! Otherwise every row is decided on its own and the range's rollups are rebuilt from the rows,
//! as [`Method::RowByRow`] always does (which also rebuilds caller cells for newly configured
//! caller dimensions).
//!
//! A range whose raw invocations retention dropped is repriced from the price groups kept of
//! them when they were dropped (see `kept_groups`).

mod kept_groups;

use std::collections::HashMap;

use super::dictionary::{self, BatchStrings};
use super::rows::{PriceGroupRow, StoredPriceGroupRow};
use super::{
    PriceRowRecord, RepriceDecision, RepriceOutcome, RepricePath, Result, StandardCost, StoreError,
    StoredInvocation, StoredPricing, WriteCaches, WriteTx, add_delta, add_to_delta, format_ms,
    now_ms, remember_series,
};
use crate::model::{
    Invocation, ModelRef, Money, Routing, Tier, TierResolution, TierSource, TokenCounts, TokenKind,
};
use crate::rollup::{CallerDimensions, Granularity, RollupDelta};

pub(crate) use kept_groups::{DayCellPricing, DayCellRow};

const DAY_MS: i64 = 86_400_000;

/// A price group with its new pricing as stored ids, to compare with the pricing its calls
/// have. The temporary `reprice_groups` table holds the groups that change: their index and
/// stored key (see `rows::price_group_match`); their model stays as it is (a group whose model
/// changes is repriced row by row).
#[derive(Debug, Clone)]
pub(crate) struct GroupUpdate<'a> {
    /// The group's place among the range's groups (its decision's, in `GroupPlan::pricing`).
    pub index: usize,
    pub group: &'a StoredPriceGroupRow,
    pricing_status_ref: i32,
    price_id: Option<i64>,
    standard_price_id: Option<i64>,
    unpriced_reason_ref: Option<i32>,
}

impl GroupUpdate<'_> {
    /// What a price decision reads of the group.
    pub fn key(&self) -> &PriceGroupRow {
        &self.group.group
    }

    /// True when the new pricing differs from the one the group's calls have (the costs then
    /// differ too, or the price rows are the same and so are the costs).
    fn changes(&self) -> bool {
        let stored = self.group;
        self.pricing_status_ref != stored.stored_status_ref
            || self.price_id.unwrap_or(0) != stored.stored_price_key
            || self.standard_price_id.unwrap_or(0) != stored.stored_standard_price_key
            || self.unpriced_reason_ref.unwrap_or(0) != stored.stored_reason_key
    }
}

/// How a reprice asks for decisions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Method {
    /// Once per price group, where that provably equals asking per row (else per row).
    ByGroup,
    /// Once per invocation.
    RowByRow,
}

/// A range of whole UTC days, in milliseconds.
#[derive(Debug, Clone, Copy)]
pub(super) struct Range {
    pub start_ms: i64,
    pub end_ms: i64,
}

/// Reprices a whole-day range in `tx`, then commits.
pub(super) async fn reprice_range<T, F>(
    mut tx: T,
    caches: &WriteCaches,
    callers: &CallerDimensions,
    range: Range,
    method: Method,
    mut decide: F,
) -> Result<RepriceOutcome>
where
    T: WriteTx,
    F: FnMut(&mut Invocation) -> RepriceDecision + Send,
{
    let now = now_ms();
    let horizons = tx.horizons().await?;
    let kept_from = horizons.raw_kept_from_ms;
    if range.end_ms <= kept_from && method == Method::ByGroup {
        let outcome = kept_groups::reprice(&mut tx, range, &mut decide).await?;
        tx.commit().await?;
        return Ok(outcome);
    }
    // Rebuilding rollups from raw rows that retention dropped would empty them.
    if range.start_ms < kept_from {
        let what = if range.end_ms <= kept_from {
            "rebuilding their rollups (--rebuild)".to_string()
        } else {
            format!(
                "repricing {} .. {} as one (reprice the days before {} apart)",
                format_ms(range.start_ms),
                format_ms(range.end_ms),
                format_ms(kept_from)
            )
        };
        return Err(StoreError::RawInvocationsDropped {
            kept_from: format_ms(kept_from),
            what,
        });
    }
    let rules = DeltaRules {
        callers,
        minute_cells_from_s: horizons.minute_cells_from_s,
    };
    let mut written = Written::default();
    let by_group = match method {
        Method::ByGroup => {
            let groups = tx.load_price_groups(range.start_ms, range.end_ms).await?;
            let keys = groups.iter().map(|group| &group.group);
            let decisions = decide_groups(keys, range.start_ms, &mut decide);
            if decisions.is_none() {
                tracing::info!("repricing row by row: some price group cannot be decided as one");
            }
            decisions.map(|decisions| (groups, decisions))
        }
        Method::RowByRow => None,
    };
    let outcome = match by_group {
        Some((groups, decisions)) => {
            let plan =
                GroupPlan::resolve(&mut tx, caches, &groups, decisions, now, &mut written).await?;
            reprice_by_group(&mut tx, caches, &rules, range, &plan, &mut written).await?
        }
        None => {
            reprice_rows(
                &mut tx,
                caches,
                &rules,
                range,
                &mut decide,
                now,
                &mut written,
            )
            .await?
        }
    };
    tx.commit().await?;
    remember_series(&caches.series, written.series);
    caches.strings.remember(written.strings);
    Ok(outcome)
}

/// What a reprice's rollup deltas keep besides series cells: caller cells, and minute cells
/// from the retention horizon on (older minute cells are gone).
struct DeltaRules<'a> {
    callers: &'a CallerDimensions,
    minute_cells_from_s: i64,
}

/// Series and dictionary strings a reprice created, to cache once it commits.
#[derive(Default)]
struct Written {
    series: Vec<(super::SeriesKey, i64)>,
    strings: Vec<(String, i32)>,
}

/// The groups of a range with their decisions applied: each group's stored pricing and rates,
/// by group index, and the days of the groups that change (whose rows the temporary table
/// holds).
struct GroupPlan {
    invocations: u64,
    pricing: Vec<GroupPricing>,
    changed_groups: u64,
    /// Day indexes in the range, ascending.
    changed_days: Vec<i64>,
}

impl GroupPlan {
    async fn resolve<T: WriteTx>(
        tx: &mut T,
        caches: &WriteCaches,
        groups: &[StoredPriceGroupRow],
        decisions: Vec<RepriceDecision>,
        now: i64,
        written: &mut Written,
    ) -> Result<GroupPlan> {
        let mut prices = PriceIds::default();
        let mut pricing = Vec::with_capacity(decisions.len());
        for decision in decisions {
            pricing.push(prices.resolve_group(tx, decision, now).await?);
        }
        let (mut updates, created) = encode_groups(tx, caches, groups, &pricing).await?;
        updates.retain(GroupUpdate::changes);
        tx.create_reprice_groups(&updates).await?;
        written.strings.extend(created);
        let mut changed_days: Vec<i64> = updates.iter().map(|u| u.key().day_index).collect();
        changed_days.sort_unstable();
        changed_days.dedup();
        let invocations = groups
            .iter()
            .map(|group| u64::try_from(group.group.invocations).unwrap_or(0))
            .sum();
        Ok(GroupPlan {
            invocations,
            pricing,
            changed_groups: updates.len() as u64,
            changed_days,
        })
    }
}

/// Changed rows written at once: few statements for a month of small changes, bounded memory
/// for a month where every call changes.
const CHANGED_ROWS_PER_WRITE: usize = 20_000;

/// Applies a plan an hour at a time, over the days it changes: the rows of its changed groups
/// are updated, and their change of price moves the rollups they count in.
async fn reprice_by_group<T: WriteTx>(
    tx: &mut T,
    caches: &WriteCaches,
    rules: &DeltaRules<'_>,
    Range { start_ms, end_ms }: Range,
    plan: &GroupPlan,
    written: &mut Written,
) -> Result<RepriceOutcome> {
    let mut outcome = RepriceOutcome {
        invocations: plan.invocations,
        changed: 0,
        path: RepricePath::ByPriceGroup {
            groups: plan.pricing.len() as u64,
            changed_groups: plan.changed_groups,
        },
    };
    let hour_ms = Granularity::Hour.seconds() * 1000;
    let hours = plan.changed_days.iter().flat_map(|&day_index| {
        let day_start = start_ms + day_index * DAY_MS;
        (0..24)
            .map(move |hour| (day_index, day_start + hour * hour_ms))
            .filter(move |&(_, hour_start)| hour_start < end_ms)
    });
    let mut pending: Vec<(StoredInvocation, StoredInvocation)> = Vec::new();
    for (day_index, hour_start) in hours {
        let hour = (hour_start, (hour_start + hour_ms).min(end_ms));
        for (row, group) in tx.load_changed_by_group(start_ms, hour, day_index).await? {
            let repriced = repriced_row(&row, &plan.pricing[group])?;
            pending.push((row, repriced));
        }
        if pending.len() >= CHANGED_ROWS_PER_WRITE {
            outcome.changed += pending.len() as u64;
            write_changes(tx, caches, rules, &pending, written).await?;
            pending.clear();
        }
    }
    if !pending.is_empty() {
        outcome.changed += pending.len() as u64;
        write_changes(tx, caches, rules, &pending, written).await?;
    }
    tx.delete_empty_unpriced_rollups(start_ms / 1000, end_ms / 1000)
        .await?;
    Ok(outcome)
}

/// Updates repriced rows (each given as it was and as it is now) and moves their rollups.
async fn write_changes<T: WriteTx>(
    tx: &mut T,
    caches: &WriteCaches,
    rules: &DeltaRules<'_>,
    changes: &[(StoredInvocation, StoredInvocation)],
    written: &mut Written,
) -> Result<()> {
    let mut delta = RollupDelta::keeping_minutes_from(rules.minute_cells_from_s);
    for (before, after) in changes {
        delta.add_repricing(
            &before.invocation,
            (before.pricing.cost_kind(), before.pricing.unpriced_reason()),
            (after.pricing.cost_kind(), after.pricing.unpriced_reason()),
            rules.callers,
        );
    }
    let rows: Vec<&StoredInvocation> = changes.iter().map(|(_, after)| after).collect();
    let resolved = dictionary::resolve(tx, &caches.strings, rows.iter().copied()).await?;
    tx.update_pricing(&rows, &resolved.strings).await?;
    written.strings.extend(resolved.into_created());
    written
        .series
        .extend(add_delta(tx, &caches.series, &delta).await?);
    Ok(())
}

/// `row` with its group's new pricing: the group's price rows, and costs from its rates.
fn repriced_row(row: &StoredInvocation, group: &GroupPricing) -> Result<StoredInvocation> {
    let tokens = &row.invocation.tokens;
    let cost = |rates: &[i64; 4]| -> Result<Money> {
        let total = TokenKind::ALL
            .iter()
            .zip(rates)
            .try_fold(0_i64, |total, (kind, rate)| {
                let count = i64::try_from(tokens.get(*kind)).ok()?;
                total.checked_add(count.checked_mul(*rate)?)
            });
        // The group's largest counts were priced without overflow, so no row overflows.
        total.map(Money).ok_or_else(|| {
            StoreError::Inconsistent(format!(
                "repricing {} overflows its group's bound",
                row.invocation.request_id
            ))
        })
    };
    let pricing = match &group.stored {
        StoredPricing::Priced {
            price_id, standard, ..
        } => StoredPricing::Priced {
            price_id: *price_id,
            cost: cost(&group.rates)?,
            standard: match standard {
                Some(standard) => Some(StandardCost {
                    price_id: standard.price_id,
                    cost: cost(&group.standard_rates)?,
                }),
                None => None,
            },
        },
        other => other.clone(),
    };
    Ok(StoredInvocation {
        invocation: row.invocation.clone(),
        pricing,
        source_id: row.source_id,
    })
}

/// Decides every invocation on its own and rebuilds the range's rollups from the rows.
async fn reprice_rows<T, F>(
    tx: &mut T,
    caches: &WriteCaches,
    rules: &DeltaRules<'_>,
    Range { start_ms, end_ms }: Range,
    decide: &mut F,
    now: i64,
    written: &mut Written,
) -> Result<RepriceOutcome>
where
    T: WriteTx,
    F: FnMut(&mut Invocation) -> RepriceDecision + Send,
{
    tx.delete_rollups(start_ms / 1000, end_ms / 1000).await?;
    let mut prices = PriceIds::default();
    let mut outcome = RepriceOutcome::default();
    let hour_ms = Granularity::Hour.seconds() * 1000;
    let mut hour_start = start_ms;
    while hour_start < end_ms {
        let hour_end = (hour_start + hour_ms).min(end_ms);
        let mut rows = tx.load_invocations(hour_start, hour_end).await?;
        let changed = decide_rows(tx, &mut prices, &mut rows, decide, now).await?;
        if !changed.is_empty() {
            let changed: Vec<&StoredInvocation> = changed.iter().map(|&i| &rows[i]).collect();
            let resolved =
                dictionary::resolve(tx, &caches.strings, changed.iter().copied()).await?;
            tx.update_pricing(&changed, &resolved.strings).await?;
            written.strings.extend(resolved.into_created());
            outcome.changed += changed.len() as u64;
        }
        let mut delta = RollupDelta::keeping_minutes_from(rules.minute_cells_from_s);
        for row in &rows {
            add_to_delta(&mut delta, row, rules.callers);
        }
        written
            .series
            .extend(add_delta(tx, &caches.series, &delta).await?);
        outcome.invocations += rows.len() as u64;
        hour_start = hour_end;
    }
    Ok(outcome)
}

/// Decides every row on its own; returns the indexes of the rows whose model or price changed.
async fn decide_rows<T, F>(
    tx: &mut T,
    prices: &mut PriceIds,
    rows: &mut [StoredInvocation],
    decide: &mut F,
    now: i64,
) -> Result<Vec<usize>>
where
    T: WriteTx,
    F: FnMut(&mut Invocation) -> RepriceDecision + Send,
{
    let mut changed = Vec::new();
    for (index, row) in rows.iter_mut().enumerate() {
        let model_before = row.invocation.model.clone();
        let decision = decide(&mut row.invocation);
        let pricing = prices.resolve(tx, decision, now).await?;
        let model_changed = row.invocation.model != model_before;
        if model_changed || pricing != row.pricing {
            row.pricing = pricing;
            changed.push(index);
        }
    }
    Ok(changed)
}

/// The price decision of each group, or `None` when some group's calls could be decided
/// differently one by one, or change model (see the module's documentation).
fn decide_groups<'g, F>(
    groups: impl IntoIterator<Item = &'g PriceGroupRow>,
    start_ms: i64,
    decide: &mut F,
) -> Option<Vec<RepriceDecision>>
where
    F: FnMut(&mut Invocation) -> RepriceDecision,
{
    groups
        .into_iter()
        .map(|group| {
            let mut smallest = representative(group, start_ms, TokenExtreme::Smallest)?;
            let mut largest = representative(group, start_ms, TokenExtreme::Largest)?;
            let (small_tokens, large_tokens) = (smallest.tokens, largest.tokens);
            let model_before = smallest.model.clone();
            let small_decision = decide(&mut smallest);
            let large_decision = decide(&mut largest);
            let same = smallest.model == model_before
                && largest.model == model_before
                && same_decision(
                    &small_decision,
                    &small_tokens,
                    &large_decision,
                    &large_tokens,
                );
            same.then_some(small_decision)
        })
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TokenExtreme {
    /// One token of every type the group's calls have some of.
    Smallest,
    /// The group's largest count of every type.
    Largest,
}

/// A call standing for its group: the group's key fields, and token counts of the group's
/// shape at one extreme. `None` when the stored key cannot be read back (then the row path,
/// which reports the row, is taken).
fn representative(
    group: &PriceGroupRow,
    start_ms: i64,
    extreme: TokenExtreme,
) -> Option<Invocation> {
    let maxima = [
        group.max_input,
        group.max_output,
        group.max_cache_read,
        group.max_cache_write,
    ];
    let mut counts = [None; 4];
    for (kind, (count, max)) in counts.iter_mut().zip(maxima).enumerate() {
        // The shape's digit for this token type (see `rows::token_shape`).
        let digit = (group.token_shape / 3_i32.pow(kind as u32)) % 3;
        *count = match digit {
            0 => None,
            1 => Some(0),
            _ => match extreme {
                TokenExtreme::Smallest => Some(1),
                TokenExtreme::Largest => Some(u64::try_from(max?).ok().filter(|max| *max > 0)?),
            },
        };
    }
    Some(Invocation {
        timestamp_ms: start_ms + group.day_index * DAY_MS,
        account_id: group.account_id.clone(),
        region: group.region.clone(),
        inference_region: None,
        request_id: String::new(),
        operation: String::new(),
        model: ModelRef {
            called: group.model_called.clone(),
            model_id: group.model_id.clone(),
            routing: Routing::from_stored(&group.routing)?,
            resolved: group.model_resolved,
        },
        caller_arn: None,
        request_metadata: None,
        tier: TierResolution {
            requested: None,
            served: Tier::from_stored(&group.tier)?,
            source: TierSource::Assumed,
        },
        tokens: TokenCounts {
            input: counts[0],
            output: counts[1],
            cache_read: counts[2],
            cache_write: counts[3],
        },
        latency_ms: None,
        time_to_first_token_ms: None,
        error_code: group.error_code.clone(),
    })
}

/// True when two decisions for the same group agree: the same price rows (or the same cause),
/// each cost exactly Σ tokens × rate of its row.
fn same_decision(
    small: &RepriceDecision,
    small_tokens: &TokenCounts,
    large: &RepriceDecision,
    large_tokens: &TokenCounts,
) -> bool {
    let linear = |tokens: &TokenCounts, price: &PriceRowRecord, cost: Money| {
        linear_cost(tokens, price) == Some(cost)
    };
    match (small, large) {
        (
            RepriceDecision::Priced {
                price: small_price,
                cost: small_cost,
                standard: small_standard,
            },
            RepriceDecision::Priced {
                price: large_price,
                cost: large_cost,
                standard: large_standard,
            },
        ) => {
            let standards_agree = match (small_standard, large_standard) {
                (None, None) => true,
                (Some((small_price, small_cost)), Some((large_price, large_cost))) => {
                    small_price.fingerprint == large_price.fingerprint
                        && linear(small_tokens, small_price, *small_cost)
                        && linear(large_tokens, large_price, *large_cost)
                }
                _ => false,
            };
            small_price.fingerprint == large_price.fingerprint
                && linear(small_tokens, small_price, *small_cost)
                && linear(large_tokens, large_price, *large_cost)
                && standards_agree
        }
        (RepriceDecision::NotBilled, RepriceDecision::NotBilled) => true,
        (
            RepriceDecision::Unpriced { reason: small },
            RepriceDecision::Unpriced { reason: large },
        ) => small == large,
        _ => false,
    }
}

/// Σ tokens × rate, or `None` when a type with tokens has no rate, a rate is negative (then a
/// group's largest counts would not bound its costs) or the sum overflows.
fn linear_cost(tokens: &TokenCounts, price: &PriceRowRecord) -> Option<Money> {
    let mut total: i128 = 0;
    for kind in TokenKind::ALL {
        let count = tokens.get(kind);
        if count == 0 {
            continue;
        }
        let rate = rate_of(price, kind).filter(|rate| *rate >= 0)?;
        total = total.checked_add(i128::from(count).checked_mul(i128::from(rate))?)?;
    }
    i64::try_from(total).ok().map(Money)
}

fn rate_of(price: &PriceRowRecord, kind: TokenKind) -> Option<i64> {
    match kind {
        TokenKind::Input => price.input_rate,
        TokenKind::Output => price.output_rate,
        TokenKind::CacheRead => price.cache_read_rate,
        TokenKind::CacheWrite => price.cache_write_rate,
    }
}

/// The four rates of a price row, as a repriced call's cost multiplies them: a missing rate is
/// 0, which only ever multiplies a count of 0 (a group with tokens of a type and no rate is
/// unpriced).
fn rates(price: &PriceRowRecord) -> [i64; 4] {
    TokenKind::ALL.map(|kind| rate_of(price, kind).unwrap_or(0))
}

/// The groups' new values with their strings as dictionary ids (created in `tx` when new).
async fn encode_groups<'g, T: WriteTx>(
    tx: &mut T,
    caches: &WriteCaches,
    groups: &'g [StoredPriceGroupRow],
    pricing: &[GroupPricing],
) -> Result<(Vec<GroupUpdate<'g>>, Vec<(String, i32)>)> {
    let values = pricing.iter().flat_map(|pricing| {
        [
            Some(pricing.stored.status()),
            pricing.stored.unpriced_reason(),
        ]
        .into_iter()
        .flatten()
    });
    let resolved = dictionary::resolve_strings(tx, &caches.strings, values).await?;
    let updates = groups
        .iter()
        .zip(pricing)
        .enumerate()
        .map(|(index, (group, pricing))| group_update(index, group, pricing, &resolved.strings))
        .collect::<Result<Vec<_>>>()?;
    Ok((updates, resolved.into_created()))
}

fn group_update<'g>(
    index: usize,
    group: &'g StoredPriceGroupRow,
    pricing: &GroupPricing,
    strings: &BatchStrings<'_>,
) -> Result<GroupUpdate<'g>> {
    let stored = &pricing.stored;
    Ok(GroupUpdate {
        index,
        group,
        pricing_status_ref: strings.id(stored.status())?,
        price_id: stored.price_id(),
        standard_price_id: stored.standard().map(|standard| standard.price_id),
        unpriced_reason_ref: strings.optional_id(stored.unpriced_reason())?,
    })
}

/// A group's decision with its price rows registered: the stored pricing of its smallest
/// representative (whose costs the update recomputes per row) and the rates that do it.
#[derive(Debug, Clone, PartialEq)]
struct GroupPricing {
    stored: StoredPricing,
    rates: [i64; 4],
    standard_rates: [i64; 4],
}

/// Ids of the price rows a reprice has registered, by fingerprint.
#[derive(Debug, Default)]
struct PriceIds(HashMap<String, i64>);

impl PriceIds {
    async fn id<T: WriteTx>(
        &mut self,
        tx: &mut T,
        price: &PriceRowRecord,
        now: i64,
    ) -> Result<i64> {
        if let Some(id) = self.0.get(&price.fingerprint) {
            return Ok(*id);
        }
        let id = tx.register_price(price, now).await?;
        self.0.insert(price.fingerprint.clone(), id);
        Ok(id)
    }

    /// The stored form of a decision, its price rows registered.
    async fn resolve<T: WriteTx>(
        &mut self,
        tx: &mut T,
        decision: RepriceDecision,
        now: i64,
    ) -> Result<StoredPricing> {
        Ok(self.resolve_group(tx, decision, now).await?.stored)
    }

    async fn resolve_group<T: WriteTx>(
        &mut self,
        tx: &mut T,
        decision: RepriceDecision,
        now: i64,
    ) -> Result<GroupPricing> {
        let (stored, rates, standard_rates) = match decision {
            RepriceDecision::Priced {
                price,
                cost,
                standard,
            } => {
                let price_id = self.id(tx, &price, now).await?;
                let (standard, standard_rates) = match standard {
                    Some((standard_price, standard_cost)) => (
                        Some(StandardCost {
                            price_id: self.id(tx, &standard_price, now).await?,
                            cost: standard_cost,
                        }),
                        rates(&standard_price),
                    ),
                    None => (None, [0; 4]),
                };
                let stored = StoredPricing::Priced {
                    price_id,
                    cost,
                    standard,
                };
                (stored, rates(&price), standard_rates)
            }
            RepriceDecision::NotBilled => (StoredPricing::NotBilled, [0; 4], [0; 4]),
            RepriceDecision::Unpriced { reason } => {
                (StoredPricing::Unpriced { reason }, [0; 4], [0; 4])
            }
        };
        Ok(GroupPricing {
            stored,
            rates,
            standard_rates,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn group(token_shape: i32, maxima: [Option<i64>; 4]) -> PriceGroupRow {
        PriceGroupRow {
            day_index: 2,
            account_ref: 1,
            region_ref: 2,
            model_called_ref: 3,
            model_id_ref: 3,
            model_resolved: true,
            routing_ref: 4,
            tier_ref: 5,
            error_code_key: 0,
            token_shape,
            max_input: maxima[0],
            max_output: maxima[1],
            max_cache_read: maxima[2],
            max_cache_write: maxima[3],
            invocations: 10,
            account_id: "111122223333".into(),
            region: "us-east-1".into(),
            model_called: "amazon.nova-pro-v1:0".into(),
            model_id: "amazon.nova-pro-v1:0".into(),
            routing: "in_region".into(),
            tier: "standard".into(),
            error_code: None,
        }
    }

    fn price(rates: [Option<i64>; 4]) -> PriceRowRecord {
        PriceRowRecord {
            fingerprint: "p".into(),
            region: "us-east-1".into(),
            model_id: "amazon.nova-pro-v1:0".into(),
            tier: "standard".into(),
            routing: "regional".into(),
            effective_from: "2025-11-01".into(),
            input_rate: rates[0],
            output_rate: rates[1],
            cache_read_rate: rates[2],
            cache_write_rate: rates[3],
            derivation: None,
            source: None,
        }
    }

    #[test]
    fn a_representative_has_the_groups_shape_at_each_extreme() {
        // Input some, output zero, cache read absent, cache write some.
        let shape = 2 + 3 + 27 * 2;
        let row = group(shape, [Some(900), Some(0), None, Some(40)]);
        let start = 1_761_955_200_000;
        let small = representative(&row, start, TokenExtreme::Smallest).unwrap();
        let large = representative(&row, start, TokenExtreme::Largest).unwrap();
        let tokens = |input, output, cache_read, cache_write| TokenCounts {
            input,
            output,
            cache_read,
            cache_write,
        };
        assert_eq!(small.tokens, tokens(Some(1), Some(0), None, Some(1)));
        assert_eq!(large.tokens, tokens(Some(900), Some(0), None, Some(40)));
        assert_eq!(small.timestamp_ms, start + 2 * DAY_MS);
        assert_eq!(small.tier.served, Tier::Standard);
        // A stored value tierwatch cannot read back: no representative (decided per row).
        let mut unreadable = row.clone();
        unreadable.routing = "sideways".into();
        assert!(representative(&unreadable, start, TokenExtreme::Smallest).is_none());
    }

    #[test]
    fn linear_cost_is_exact_and_refuses_what_a_bound_cannot_cover() {
        let tokens = TokenCounts {
            input: Some(1_000),
            output: Some(0),
            cache_read: None,
            cache_write: None,
        };
        let rates = price([Some(800_000), None, None, None]);
        assert_eq!(linear_cost(&tokens, &rates), Some(Money(800_000_000)));
        // A type with tokens and no rate, a negative rate, an overflow: no linear cost.
        assert_eq!(linear_cost(&tokens, &price([None; 4])), None);
        assert_eq!(
            linear_cost(&tokens, &price([Some(-1), None, None, None])),
            None
        );
        let huge = TokenCounts {
            input: Some(u64::MAX / 2),
            ..tokens
        };
        assert_eq!(linear_cost(&huge, &rates), None);
    }

    #[test]
    fn decisions_agree_only_on_the_same_price_and_linear_costs() {
        let rates = Arc::new(price([Some(800_000), Some(3_200_000), None, None]));
        let small = TokenCounts {
            input: Some(1),
            output: Some(1),
            cache_read: None,
            cache_write: None,
        };
        let large = TokenCounts {
            input: Some(500),
            output: Some(20),
            ..small
        };
        let priced = |cost: i64| RepriceDecision::Priced {
            price: Arc::clone(&rates),
            cost: Money(cost),
            standard: None,
        };
        let linear_large = 500 * 800_000 + 20 * 3_200_000;
        assert!(same_decision(
            &priced(4_000_000),
            &small,
            &priced(linear_large),
            &large
        ));
        // A flat fee is not Σ tokens × rate.
        assert!(!same_decision(&priced(7), &small, &priced(7), &large));
        let unpriced = |reason: &str| RepriceDecision::Unpriced {
            reason: reason.into(),
        };
        assert!(same_decision(
            &unpriced("a"),
            &small,
            &unpriced("a"),
            &large
        ));
        assert!(!same_decision(
            &unpriced("a"),
            &small,
            &unpriced("b"),
            &large
        ));
        assert!(!same_decision(
            &priced(4_000_000),
            &small,
            &unpriced("overflow"),
            &large
        ));
    }
}
