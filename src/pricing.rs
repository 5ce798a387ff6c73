//! (temporary contract until the pricing branch lands)
use std::sync::Arc;
use crate::model::{Invocation, Money, Tier};
pub struct PriceTable;
impl PriceTable { pub fn price(&self, _i: &Invocation) -> PricingOutcome { PricingOutcome::NotBilled } pub fn parse(_t: &str, _o: &str) -> Result<PriceTable, PricingError> { Ok(PriceTable) } pub fn load(_p: &std::path::Path) -> Result<PriceTable, PricingError> { Ok(PriceTable) } }
#[derive(Debug, thiserror::Error)] #[error("x")] pub struct PricingError;
#[derive(Debug, Clone, PartialEq)]
pub enum PricingOutcome { Priced(PricedCost), NotBilled, Unpriced { reason: String } }
#[derive(Debug, Clone, PartialEq)]
pub struct PricedCost { pub price: Arc<ResolvedPrice>, pub cost: Money, pub standard_equivalent: Option<StandardEquivalent> }
#[derive(Debug, Clone, PartialEq)]
pub struct StandardEquivalent { pub price: Arc<ResolvedPrice>, pub cost: Money }
#[derive(Debug, Clone, Copy, PartialEq, Eq)] pub enum PriceRouting { Regional, Global }
impl PriceRouting { pub fn as_str(self) -> &'static str { "regional" } }
#[derive(Debug, Clone, PartialEq)]
pub struct Rates { pub input: Option<i64>, pub output: Option<i64>, pub cache_read: Option<i64>, pub cache_write: Option<i64> }
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedPrice { pub region: String, pub model_id: String, pub tier: Tier, pub routing: PriceRouting, pub effective_from: chrono::NaiveDate, pub rates: Rates, pub derivation: Option<String>, pub source: Option<String> }
impl ResolvedPrice { pub fn fingerprint(&self) -> String { String::new() } }
impl PriceTable { pub fn models(&self) -> impl Iterator<Item = &str> { std::iter::empty() } }
