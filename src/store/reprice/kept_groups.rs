//! Repricing days whose raw invocations retention dropped, from the price groups kept of them
//! (migration 0013).
//!
//! Before a month's raw calls are dropped, they are summed per day and price group: everything
//! a price decision reads, the group's token sums and maxima. A group is decided as one exactly
//! as the raw-row reprice decides it (for one token and for its maxima, both naming the same
//! linear price rows), so its calls cost Σ sums × rates, and a day cell's cost fields and
//! unpriced causes are the sums over its groups: what repricing the raw rows would have
//! written into them, which is what monthly reports and month views read. Hour, minute and
//! caller cells cannot be split that way and keep the costs they had.

use std::collections::BTreeMap;

use super::super::rows::KeptPriceGroupRow;
use super::super::{
    PriceRowRecord, RepriceDecision, RepriceOutcome, RepricePath, Result, StoreError,
    UnpricedWrite, WriteTx, format_ms,
};
use super::{Range, decide_groups, linear_cost};
use crate::model::{Invocation, Money, TokenCounts};

/// A day cell's cost fields: what rollup-based repricing writes.
#[derive(Debug, Clone, Default, PartialEq, Eq, sqlx::FromRow)]
pub(crate) struct DayCellPricing {
    /// Unix seconds.
    pub bucket_start: i64,
    pub series_id: i64,
    pub priced_invocations: i64,
    pub unpriced_invocations: i64,
    pub cost_pico: i64,
    pub standard_cost_pico: i64,
    pub compared_cost_pico: i64,
}

/// A stored day cell: how many calls it counts, and its cost fields.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct DayCellRow {
    pub invocations: i64,
    #[sqlx(flatten)]
    pub pricing: DayCellPricing,
}

/// Reprices the day cells and unpriced causes of `range` (wholly before the retention
/// horizon) from its kept price groups, in `tx`.
pub(super) async fn reprice<T, F>(
    tx: &mut T,
    range: Range,
    decide: &mut F,
) -> Result<RepriceOutcome>
where
    T: WriteTx,
    F: FnMut(&mut Invocation) -> RepriceDecision + Send,
{
    let (start_s, end_s) = (range.start_ms / 1000, range.end_ms / 1000);
    let not_repricable = |reason: String| StoreError::NotRepricable {
        range: format!(
            "{} .. {}",
            format_ms(range.start_ms),
            format_ms(range.end_ms)
        ),
        reason,
    };
    let groups = tx
        .load_kept_price_groups(range.start_ms, range.end_ms)
        .await?;
    let cells = tx.load_day_cells(start_s, end_s).await?;
    check_coverage(&groups, &cells).map_err(not_repricable)?;
    let decisions = decide_groups(
        groups.iter().map(|kept| &kept.group),
        range.start_ms,
        decide,
    )
    .ok_or_else(|| {
        not_repricable(
            "some price group's calls could be priced differently one by one (a price \
                 not linear in tokens) or would change model (an inference profile resolved \
                 since); that needs their raw invocations"
                .to_string(),
        )
    })?;
    let repriced = DayCells::of(&groups, &decisions)?;

    let mut outcome = RepriceOutcome {
        invocations: cells
            .iter()
            .map(|cell| cell.invocations.max(0) as u64)
            .sum(),
        changed: 0,
        path: RepricePath::FromKeptGroups {
            groups: groups.len() as u64,
            day_cells: cells.len() as u64,
        },
    };
    let mut changed = Vec::new();
    for cell in &cells {
        let key = (cell.pricing.bucket_start, cell.pricing.series_id);
        let now = repriced.cells.get(&key).cloned().unwrap_or(DayCellPricing {
            bucket_start: key.0,
            series_id: key.1,
            ..DayCellPricing::default()
        });
        if now != cell.pricing {
            outcome.changed += cell.invocations.max(0) as u64;
            changed.push(now);
        }
    }
    tx.set_day_cell_pricing(&changed).await?;
    if !changed.is_empty() {
        tx.refresh_tier_day_cells(start_s, end_s).await?;
    }
    tx.delete_unpriced_rollups(start_s, end_s).await?;
    let unpriced: Vec<UnpricedWrite<'_>> = repriced
        .unpriced
        .iter()
        .map(
            |((bucket_start, series_id, reason), invocations)| UnpricedWrite {
                bucket_start: *bucket_start,
                series_id: *series_id,
                reason,
                invocations: *invocations,
            },
        )
        .collect();
    tx.add_unpriced_rollups(&unpriced).await?;
    Ok(outcome)
}

/// Every call a day cell counts must be in a kept group of that cell, or repricing from the
/// groups would leave some of its calls at their old price (days dropped before tierwatch
/// kept price groups have none).
fn check_coverage(
    groups: &[KeptPriceGroupRow],
    cells: &[DayCellRow],
) -> std::result::Result<(), String> {
    let mut grouped: BTreeMap<(i64, i64), i64> = BTreeMap::new();
    for kept in groups {
        let series_id = kept.series_id.ok_or_else(|| {
            format!(
                "a price group of {} / {} / {} / {} has no series",
                kept.group.account_id, kept.group.region, kept.group.model_id, kept.group.tier
            )
        })?;
        *grouped.entry((kept.bucket_start, series_id)).or_default() += kept.group.invocations;
    }
    let total: i64 = cells.iter().map(|cell| cell.invocations).sum();
    let uncovered: i64 = cells
        .iter()
        .map(|cell| {
            let key = (cell.pricing.bucket_start, cell.pricing.series_id);
            (cell.invocations - grouped.remove(&key).unwrap_or(0)).abs()
        })
        .sum::<i64>()
        + grouped.values().sum::<i64>();
    if uncovered == 0 {
        return Ok(());
    }
    Err(format!(
        "{uncovered} of its {total} calls are in no kept price group (their raw invocations \
         were dropped before tierwatch kept price groups), so their cost cannot be recomputed"
    ))
}

/// Day cells' cost fields and unpriced causes, summed from decided groups.
#[derive(Default)]
struct DayCells {
    cells: BTreeMap<(i64, i64), DayCellPricing>,
    /// (bucket_start, series_id, cause) → calls.
    unpriced: BTreeMap<(i64, i64, String), i64>,
}

impl DayCells {
    fn of(groups: &[KeptPriceGroupRow], decisions: &[RepriceDecision]) -> Result<DayCells> {
        let mut sums = DayCells::default();
        for (kept, decision) in groups.iter().zip(decisions) {
            // check_coverage found every group's series.
            let series_id = kept.series_id.unwrap_or_default();
            let calls = kept.group.invocations;
            let cell = sums
                .cells
                .entry((kept.bucket_start, series_id))
                .or_insert_with(|| DayCellPricing {
                    bucket_start: kept.bucket_start,
                    series_id,
                    ..DayCellPricing::default()
                });
            match decision {
                RepriceDecision::Priced {
                    price, standard, ..
                } => {
                    let cost = group_cost(kept, price)?;
                    cell.priced_invocations += calls;
                    cell.cost_pico = add(cell.cost_pico, cost)?;
                    if let Some((standard, _)) = standard {
                        let standard_cost = group_cost(kept, standard)?;
                        cell.standard_cost_pico = add(cell.standard_cost_pico, standard_cost)?;
                        cell.compared_cost_pico = add(cell.compared_cost_pico, cost)?;
                    }
                }
                RepriceDecision::NotBilled => {}
                RepriceDecision::Unpriced { reason } => {
                    cell.unpriced_invocations += calls;
                    *sums
                        .unpriced
                        .entry((kept.bucket_start, series_id, reason.clone()))
                        .or_default() += calls;
                }
            }
        }
        Ok(sums)
    }
}

/// What a group's calls cost at a linear price: Σ token sums × rates, in picodollars.
fn group_cost(kept: &KeptPriceGroupRow, price: &PriceRowRecord) -> Result<i64> {
    let count = |sum: i64| u64::try_from(sum).ok();
    let sums = TokenCounts {
        input: count(kept.sum_input),
        output: count(kept.sum_output),
        cache_read: count(kept.sum_cache_read),
        cache_write: count(kept.sum_cache_write),
    };
    linear_cost(&sums, price)
        .map(Money::picodollars)
        .ok_or_else(|| {
            StoreError::Inconsistent(format!(
                "the calls of a price group of {} on day {} cost more than a day cell holds",
                kept.group.model_id, kept.bucket_start
            ))
        })
}

fn add(total: i64, cost: i64) -> Result<i64> {
    total.checked_add(cost).ok_or_else(|| {
        StoreError::Inconsistent("a day cell's cost overflows 64 bits of picodollars".into())
    })
}
