//! (temporary contract until the parser branch lands)
use std::collections::HashMap;
use crate::model::Invocation;
#[derive(Debug, Clone, Default)]
pub struct ParseOptions { pub tier_metadata_key: String, pub application_profiles: HashMap<String, String> }
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RejectReason { InvalidJson }
impl RejectReason { pub fn as_str(self) -> &'static str { "invalid_json" } }
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection { pub reason: RejectReason, pub detail: String }
pub fn parse_record(_bytes: &[u8], _options: &ParseOptions) -> Result<Invocation, Rejection> { Err(Rejection { reason: RejectReason::InvalidJson, detail: String::new() }) }
