//! Reserved capacity, month by month: what each `[[pricing.reservations]]` entry cost, what
//! it served, its effective price per 1M tokens, and the overflow served on Standard.
//!
//! A reservation is billed as a fixed price per month (prorated to the days of the month its
//! term covers), whatever it serves. The fixed price is the entry's `monthly_price`, or else
//! the Price List's Reserved TPM rows (per TPM-hour) × the TPM reserved × the hours covered.
//! The calls it served are the Reserved-tier calls of its model, region (and account) on the
//! days it covers; calls that asked for Reserved but were served on another tier are its
//! overflow, priced as that tier's calls are.

use chrono::NaiveDate;

use crate::config::Reservation;
use crate::model::Tier;
use crate::pricing::catalog::CatalogPrice;
use crate::pricing::pricelist::{ListRouting, Meter};
use crate::rollup::Granularity;
use crate::store::{Store, StoreError, Totals};

/// Picodollars per micro-dollar.
const PICO_PER_MICRO: i128 = 1_000_000;

/// A reservation's fixed cost for a month.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FixedCost {
    /// In picodollars, with what it was computed from.
    Known { pico: i128, basis: String },
    /// Neither a `monthly_price` nor Price List Reserved rows give it.
    Unknown { reason: String },
}

/// One reservation in one month.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReservationMonth {
    pub reservation: Reservation,
    /// Days of the month its term covers.
    pub days: u32,
    pub fixed_cost: FixedCost,
    /// The Reserved-tier calls it served (their tokens; their per-token cost is nothing).
    pub served: Totals,
    /// What the served tokens would have cost on Standard.
    pub standard_equivalent_pico: i128,
    /// Calls that asked for Reserved and were served on another tier (Standard), with their
    /// cost; `None` when the month's raw invocations, which it is counted from, were dropped
    /// by `retention.raw_invocations` (unknown, never 0).
    pub overflow: Option<Totals>,
}

impl ReservationMonth {
    /// Tokens served (input, output, cache read and write).
    pub fn served_tokens(&self) -> i64 {
        let served = &self.served;
        served.input_tokens
            + served.output_tokens
            + served.cache_read_tokens
            + served.cache_write_tokens
    }

    /// Fixed cost ÷ tokens served, per 1M tokens, in picodollars; `None` without a known
    /// cost or with no tokens served.
    pub fn effective_per_million_pico(&self) -> Option<i128> {
        let FixedCost::Known { pico, .. } = &self.fixed_cost else {
            return None;
        };
        let tokens = i128::from(self.served_tokens());
        (tokens > 0).then(|| pico * 1_000_000 / tokens)
    }
}

/// Every reservation with days in the month starting at `month_start` (UTC), in config order.
pub async fn for_month(
    store: &Store,
    reservations: &[Reservation],
    list: &[CatalogPrice],
    month_start: NaiveDate,
) -> Result<Vec<ReservationMonth>, StoreError> {
    let Some(month_end) = month_start.checked_add_months(chrono::Months::new(1)) else {
        return Ok(Vec::new());
    };
    let mut months = Vec::new();
    for reservation in reservations {
        let days = reservation.days_in(month_start);
        if days == 0 {
            continue;
        }
        let from = reservation.start.max(month_start);
        let to = reservation.end.min(month_end);
        let (start_ms, end_ms) = (millis(from), millis(to));
        let (served, standard_equivalent_pico) =
            served(store, reservation, start_ms / 1000, end_ms / 1000).await?;
        let overflow = overflow(store, reservation, start_ms, end_ms).await?;
        months.push(ReservationMonth {
            fixed_cost: fixed_cost(reservation, list, month_start, days),
            reservation: reservation.clone(),
            days,
            served,
            standard_equivalent_pico,
            overflow,
        });
    }
    Ok(months)
}

fn millis(day: NaiveDate) -> i64 {
    day.and_hms_opt(0, 0, 0)
        .map_or(0, |start| start.and_utc().timestamp_millis())
}

fn days_in_month(month_start: NaiveDate) -> u32 {
    month_start
        .checked_add_months(chrono::Months::new(1))
        .map_or(30, |next| {
            u32::try_from((next - month_start).num_days()).unwrap_or(30)
        })
}

/// The month's fixed cost: the agreed monthly price prorated to the days covered, or the
/// Price List's Reserved TPM-hour rates × TPM × hours covered.
pub fn fixed_cost(
    reservation: &Reservation,
    list: &[CatalogPrice],
    month_start: NaiveDate,
    days: u32,
) -> FixedCost {
    if let Some(monthly) = reservation.monthly_price_micros {
        let full = days_in_month(month_start);
        // Prorated to the picodollar (the only rounding in tierwatch's money).
        let pico = i128::from(monthly) * PICO_PER_MICRO * i128::from(days) / i128::from(full);
        let basis = if days == full {
            "monthly_price".to_string()
        } else {
            format!("monthly_price × {days}/{full} days")
        };
        return FixedCost::Known { pico, basis };
    }
    let routing = if reservation.global {
        ListRouting::Global
    } else {
        ListRouting::Geo
    };
    let term = reservation.term_months;
    let month_end = month_start
        .checked_add_months(chrono::Months::new(1))
        .unwrap_or(month_start);
    // The rate in effect during the month (the latest published before its end).
    let rate = |meter: Meter| {
        list.iter()
            .filter(|price| {
                price.key.region == reservation.region
                    && price.key.model_id == reservation.model_id
                    && price.key.tier == Tier::Reserved
                    && price.key.routing == routing
                    && price.key.meter == meter
                    && price.effective_from < month_end
            })
            .max_by_key(|price| price.effective_from)
    };
    let hours = i128::from(days) * 24;
    let mut pico = 0_i128;
    let mut basis = Vec::new();
    for (tpm, meter) in [
        (
            reservation.input_tpm,
            Meter::ReservedInputTpm { term_months: term },
        ),
        (
            reservation.output_tpm,
            Meter::ReservedOutputTpm { term_months: term },
        ),
    ] {
        if tpm == 0 {
            continue;
        }
        let Some(price) = rate(meter) else {
            return FixedCost::Unknown {
                reason: format!(
                    "no monthly_price, and the Price List has no {} row for {} in {} ({} routing)",
                    meter.name(),
                    reservation.model_id,
                    reservation.region,
                    routing.as_str()
                ),
            };
        };
        // µ$ per 1M TPM-hours × TPM = picodollars per hour.
        pico += i128::from(tpm) * i128::from(price.rate_micros) * hours;
        basis.push(format!(
            "{} {tpm} TPM × {}",
            meter.name(),
            price.provenance.usage_type
        ));
    }
    FixedCost::Known {
        pico,
        basis: format!("Price List: {} × {hours} h", basis.join(" + ")),
    }
}

/// The Reserved-tier calls a reservation served on the days it covers, and their Standard
/// equivalent.
async fn served(
    store: &Store,
    reservation: &Reservation,
    start_s: i64,
    end_s: i64,
) -> Result<(Totals, i128), StoreError> {
    let cells = store.read_cells(Granularity::Day, start_s, end_s).await?;
    let mut totals = Totals::default();
    let mut standard = 0_i128;
    for cell in cells.iter().filter(|cell| {
        cell.tier == Tier::Reserved.as_str()
            && cell.region == reservation.region
            && cell.model_id == reservation.model_id
            && reservation
                .account
                .as_deref()
                .is_none_or(|account| account == cell.account_id)
    }) {
        totals.add_cell(&cell.totals);
        standard += i128::from(cell.totals.standard_cost_pico);
    }
    Ok((totals, standard))
}

/// Calls that asked for Reserved and were served on another tier, on the covered days;
/// `None` when retention dropped the raw invocations of some of those days.
async fn overflow(
    store: &Store,
    reservation: &Reservation,
    start_ms: i64,
    end_ms: i64,
) -> Result<Option<Totals>, StoreError> {
    if start_ms < store.horizons().await?.raw_kept_from_ms {
        return Ok(None);
    }
    let mut totals = Totals::default();
    for row in store
        .tier_overflow(Tier::Reserved.as_str(), start_ms, end_ms)
        .await?
        .iter()
        .filter(|row| {
            row.region == reservation.region
                && row.model_id == reservation.model_id
                && reservation
                    .account
                    .as_deref()
                    .is_none_or(|account| account == row.account_id)
        })
    {
        totals.add(&Totals {
            invocations: row.invocations,
            input_tokens: row.input_tokens,
            output_tokens: row.output_tokens,
            cache_read_tokens: row.cache_read_tokens,
            cache_write_tokens: row.cache_write_tokens,
            priced_invocations: row.priced_invocations,
            unpriced_invocations: row.invocations - row.priced_invocations,
            cost_pico: i128::from(row.cost_pico),
            ..Totals::default()
        });
    }
    Ok(Some(totals))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pricing::catalog::CatalogKey;
    use crate::pricing::pricelist::Provenance;

    fn reservation(monthly: Option<i64>) -> Reservation {
        Reservation {
            name: "sonnet".into(),
            account: None,
            region: "us-east-1".into(),
            model_id: "anthropic.claude-sonnet-4-6".into(),
            input_tpm: 100_000,
            output_tpm: 0,
            monthly_price_micros: monthly,
            term_months: 1,
            global: false,
            start: NaiveDate::from_ymd_opt(2026, 11, 16).unwrap(),
            end: NaiveDate::from_ymd_opt(2026, 12, 16).unwrap(),
        }
    }

    fn reserved_row(rate_micros: i64) -> CatalogPrice {
        CatalogPrice {
            key: CatalogKey {
                region: "us-east-1".into(),
                model_id: "anthropic.claude-sonnet-4-6".into(),
                tier: Tier::Reserved,
                routing: ListRouting::Geo,
                meter: Meter::ReservedInputTpm { term_months: 1 },
            },
            effective_from: NaiveDate::from_ymd_opt(2025, 11, 26).unwrap(),
            rate_micros,
            model_name: "Claude Sonnet 4.6".into(),
            provenance: Provenance {
                service_code: "AmazonBedrockFoundationModels".into(),
                sku: "X".into(),
                offer_term: "T".into(),
                rate_code: None,
                usage_type: "USE1-MP:USE1_Reserved_1Month_InputTPM_Geo-Units".into(),
                unit: "Units".into(),
                published_rate: "0.198".into(),
                publication_date: None,
                version: None,
                effective_date_assumed: false,
                secondary_source: None,
            },
        }
    }

    #[test]
    fn a_monthly_price_is_prorated_to_the_days_covered() {
        let november = NaiveDate::from_ymd_opt(2026, 11, 1).unwrap();
        let r = reservation(Some(15_000_000_000)); // $15,000 a month
        assert_eq!(r.days_in(november), 15);
        // 15 of November's 30 days: $7,500.
        assert_eq!(
            fixed_cost(&r, &[], november, 15),
            FixedCost::Known {
                pico: 7_500 * 1_000_000_000_000,
                basis: "monthly_price × 15/30 days".into()
            }
        );
    }

    #[test]
    fn price_list_reserved_rows_price_tpm_hours() {
        let november = NaiveDate::from_ymd_opt(2026, 11, 1).unwrap();
        let r = reservation(None);
        // 0.198 per 1K TPM-hour = 198,000,000 µ$ per 1M TPM-hours; 100,000 TPM × 360 h.
        let cost = fixed_cost(&r, &[reserved_row(198_000_000)], november, 15);
        let FixedCost::Known { pico, .. } = cost else {
            panic!("{cost:?}");
        };
        // 100 × $0.198 per hour × 360 h = $7,128.
        assert_eq!(pico, 7_128 * 1_000_000_000_000);
        // Without a row or a monthly price: unknown, with the reason.
        assert!(matches!(
            fixed_cost(&r, &[], november, 15),
            FixedCost::Unknown { .. }
        ));
        let output = Reservation {
            output_tpm: 10_000,
            ..reservation(None)
        };
        let FixedCost::Unknown { reason } =
            fixed_cost(&output, &[reserved_row(198_000_000)], november, 15)
        else {
            panic!("the output rate is missing");
        };
        assert!(reason.contains("reserved_output_tpm_1m"), "{reason}");
    }
}
