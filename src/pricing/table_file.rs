//! Reading a price table file: TOML text → checked declarations.
//!
//! The document is walked by hand (not through serde) so that every problem in it is found
//! in one pass, each named by key and line: a maintainer fixing the table sees the whole
//! list at once rather than one error per attempt.

use std::ops::Range;

use chrono::NaiveDate;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::amount::{self, DecimalError, FACTOR_SCALE, Factor};
use super::{GlobalRouting, PriceRouting, Problem, Rates};
use crate::model::{Tier, TokenKind};

/// A price table as declared, every value checked, nothing derived yet.
#[derive(Debug)]
pub(super) struct Declarations {
    pub global_routing: GlobalRouting,
    pub prices: Vec<PriceRow>,
    pub fallbacks: Vec<RegionFallback>,
    pub multipliers: Vec<TierMultiplier>,
}

impl Declarations {
    /// No user table: no rows of its own, the default global routing.
    pub fn empty() -> Declarations {
        Declarations {
            global_routing: GlobalRouting::RegionalPrice,
            prices: Vec::new(),
            fallbacks: Vec::new(),
            multipliers: Vec::new(),
        }
    }
}

/// A `[[price]]` row.
#[derive(Debug)]
pub(super) struct PriceRow {
    pub at: Location,
    pub region: String,
    pub model: String,
    pub tier: Tier,
    pub routing: PriceRouting,
    pub effective_from: NaiveDate,
    pub rates: Rates,
    pub source: Option<String>,
}

/// A `[[region_fallback]]`: price `region` with the rows of `use_region`.
#[derive(Debug)]
pub(super) struct RegionFallback {
    pub at: Location,
    pub region: String,
    pub use_region: String,
    pub models: ModelFilter,
}

/// A `[[tier_multiplier]]`: fill a tier's missing rates with `factor × base` rates.
#[derive(Debug)]
pub(super) struct TierMultiplier {
    pub at: Location,
    pub tier: Tier,
    pub base: Tier,
    pub factor: Factor,
    pub models: ModelFilter,
    pub token_types: Vec<TokenKind>,
}

/// Where a declaration sits in the file, for messages: `price[3]`, line 12.
#[derive(Debug, Clone)]
pub(super) struct Location {
    pub label: String,
    pub line: usize,
}

impl Location {
    /// The path of one of the declaration's keys (`price[3].input`), or of the declaration
    /// itself when `key` is empty.
    pub fn path(&self, key: &str) -> String {
        if key.is_empty() {
            self.label.clone()
        } else {
            format!("{}.{key}", self.label)
        }
    }

    /// A problem about the declaration or one of its keys, placed at the declaration's line.
    pub fn problem(&self, key: &str, message: String) -> Problem {
        Problem {
            key: self.path(key),
            message,
            line: Some(self.line),
        }
    }
}

/// The models a fallback or multiplier applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum ModelFilter {
    All,
    Only(Vec<String>),
}

impl ModelFilter {
    pub fn matches(&self, model: &str) -> bool {
        match self {
            ModelFilter::All => true,
            ModelFilter::Only(models) => models.iter().any(|listed| listed == model),
        }
    }

    /// A model both filters cover (`None` when they are disjoint), for conflict messages.
    pub fn shared_model(&self, other: &ModelFilter) -> Option<String> {
        match (self, other) {
            (ModelFilter::All, ModelFilter::All) => Some("every model".to_string()),
            (ModelFilter::Only(models), ModelFilter::All)
            | (ModelFilter::All, ModelFilter::Only(models)) => models.first().cloned(),
            (ModelFilter::Only(mine), ModelFilter::Only(theirs)) => {
                mine.iter().find(|model| theirs.contains(model)).cloned()
            }
        }
    }
}

/// The unit amounts are written in: AWS Price List uses both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unit {
    Per1M,
    Per1K,
}

impl Unit {
    fn parse(name: &str) -> Option<Unit> {
        match name {
            "per_1m_tokens" => Some(Unit::Per1M),
            "per_1k_tokens" => Some(Unit::Per1K),
            _ => None,
        }
    }

    /// Decimals of a USD amount that still make a whole number of µ$ per 1M tokens.
    fn scale(self) -> u32 {
        match self {
            Unit::Per1M => 6,
            Unit::Per1K => 9,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Unit::Per1M => "1M",
            Unit::Per1K => "1K",
        }
    }
}

const UNIT_EXPECTED: &str = "expected \"per_1m_tokens\" or \"per_1k_tokens\"";
const TOP_KEYS: &[&str] = &[
    "unit",
    "global_routing",
    "price",
    "region_fallback",
    "tier_multiplier",
];
const PRICE_KEYS: &[&str] = &[
    "region",
    "model",
    "tier",
    "routing",
    "effective_from",
    "unit",
    "input",
    "output",
    "cache_read",
    "cache_write",
    "source",
];
const FALLBACK_KEYS: &[&str] = &["region", "use", "models"];
const MULTIPLIER_KEYS: &[&str] = &["tier", "base", "factor", "models", "token_types"];

/// Inference-profile prefixes: a model id starting with one of these is a profile id, which
/// never matches an invocation's normalized foundation-model id.
const PROFILE_PREFIXES: &[&str] = &[
    "us.", "us-gov.", "eu.", "apac.", "jp.", "au.", "ca.", "global.",
];

/// Reads and checks a price table document; every problem found is returned together.
pub(super) fn read(text: &str) -> Result<Declarations, Vec<Problem>> {
    let (document, syntax_errors) = DeTable::parse_recoverable(text);
    let mut reader = Reader {
        text,
        problems: Vec::new(),
    };
    if !syntax_errors.is_empty() {
        for error in &syntax_errors {
            let line = error.span().map(|span| reader.line_of(span.start));
            reader.problems.push(Problem {
                key: "TOML syntax".to_string(),
                message: error.message().to_string(),
                line,
            });
        }
        return Err(reader.problems);
    }
    let declarations = reader.document(document.get_ref());
    if reader.problems.is_empty() {
        Ok(declarations)
    } else {
        Err(reader.problems)
    }
}

type Value<'i> = Spanned<DeValue<'i>>;

struct Reader<'t> {
    text: &'t str,
    problems: Vec<Problem>,
}

impl Reader<'_> {
    fn line_of(&self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        self.text.as_bytes()[..end]
            .iter()
            .filter(|byte| **byte == b'\n')
            .count()
            + 1
    }

    fn report(&mut self, span: Range<usize>, key: String, message: String) {
        let line = Some(self.line_of(span.start));
        self.problems.push(Problem { key, message, line });
    }

    fn document(&mut self, top: &DeTable<'_>) -> Declarations {
        self.unknown_keys(top, "", TOP_KEYS);
        let unit = match top.get("unit") {
            None => Unit::Per1M,
            Some(value) => self.unit(value, "unit").unwrap_or(Unit::Per1M),
        };
        let global_routing = match top.get("global_routing") {
            None => GlobalRouting::RegionalPrice,
            Some(value) => self
                .global_routing(value)
                .unwrap_or(GlobalRouting::RegionalPrice),
        };
        let mut prices = Vec::new();
        for (label, table, line) in self.rows(top, "price") {
            let at = Location { label, line };
            prices.extend(self.price_row(table, &at, unit));
        }
        let mut fallbacks = Vec::new();
        for (label, table, line) in self.rows(top, "region_fallback") {
            fallbacks.extend(self.fallback(table, Location { label, line }));
        }
        let mut multipliers = Vec::new();
        for (label, table, line) in self.rows(top, "tier_multiplier") {
            multipliers.extend(self.multiplier(table, Location { label, line }));
        }
        Declarations {
            global_routing,
            prices,
            fallbacks,
            multipliers,
        }
    }

    /// The tables of an array-of-tables key, each with its label (`price[1]`, counting from
    /// 1 in file order) and line.
    fn rows<'a, 'i>(
        &mut self,
        top: &'a DeTable<'i>,
        key: &str,
    ) -> Vec<(String, &'a DeTable<'i>, usize)> {
        let Some(value) = top.get(key) else {
            return Vec::new();
        };
        let DeValue::Array(items) = value.get_ref() else {
            let message = format!(
                "expected [[{key}]] rows (an array of tables), got a {}",
                value.get_ref().type_str()
            );
            self.report(value.span(), key.to_string(), message);
            return Vec::new();
        };
        let mut rows = Vec::new();
        for (index, item) in items.iter().enumerate() {
            let label = format!("{key}[{}]", index + 1);
            match item.get_ref() {
                DeValue::Table(table) => rows.push((label, table, self.line_of(item.span().start))),
                other => {
                    let message = format!("expected a table, got a {}", other.type_str());
                    self.report(item.span(), label, message);
                }
            }
        }
        rows
    }

    fn unknown_keys(&mut self, table: &DeTable<'_>, label: &str, allowed: &[&str]) {
        for (key, _) in table.iter() {
            let name: &str = key.get_ref();
            if !allowed.contains(&name) {
                let path = if label.is_empty() {
                    name.to_string()
                } else {
                    format!("{label}.{name}")
                };
                let message = format!("unknown key (expected one of: {})", allowed.join(", "));
                self.report(key.span(), path, message);
            }
        }
    }

    fn price_row(
        &mut self,
        table: &DeTable<'_>,
        at: &Location,
        default_unit: Unit,
    ) -> Option<PriceRow> {
        let problems_before = self.problems.len();
        self.unknown_keys(table, &at.label, PRICE_KEYS);
        let region = self
            .required(table, at, "region")
            .and_then(|v| self.region(v, at, "region"));
        let model = self
            .required(table, at, "model")
            .and_then(|v| self.model_id(v, at, "model"));
        let tier = self
            .required(table, at, "tier")
            .and_then(|v| self.tier(v, at, "tier"));
        let routing = match table.get("routing") {
            None => Some(PriceRouting::Regional),
            Some(value) => self.routing(value, at),
        };
        let effective_from = self
            .required(table, at, "effective_from")
            .and_then(|v| self.date(v, at, "effective_from"));
        let unit = match table.get("unit") {
            None => default_unit,
            Some(value) => self
                .unit(value, &format!("{}.unit", at.label))
                .unwrap_or(default_unit),
        };
        let mut rates = Rates::default();
        for kind in TokenKind::ALL {
            if let Some(value) = table.get(kind.as_str()) {
                rates.set(kind, self.amount(value, at, kind.as_str(), unit));
            }
        }
        let source = match table.get("source") {
            None => None,
            Some(value) => self.text(
                value,
                at,
                "source",
                "expected a text saying where this price comes from",
            ),
        };
        if rates.is_empty() && self.problems.len() == problems_before {
            let message =
                "the row has no rate: give at least one of input, output, cache_read, cache_write";
            self.problems.push(at.problem("", message.to_string()));
        }
        if self.problems.len() != problems_before {
            return None;
        }
        Some(PriceRow {
            at: at.clone(),
            region: region?,
            model: model?,
            tier: tier?,
            routing: routing?,
            effective_from: effective_from?,
            rates,
            source,
        })
    }

    fn fallback(&mut self, table: &DeTable<'_>, at: Location) -> Option<RegionFallback> {
        let problems_before = self.problems.len();
        self.unknown_keys(table, &at.label, FALLBACK_KEYS);
        let region = self
            .required(table, &at, "region")
            .and_then(|v| self.region(v, &at, "region"));
        let use_region = self
            .required(table, &at, "use")
            .and_then(|v| self.region(v, &at, "use"));
        let models = match table.get("models") {
            None => Some(ModelFilter::All),
            Some(value) => self.model_filter(value, &at),
        };
        if self.problems.len() != problems_before {
            return None;
        }
        Some(RegionFallback {
            region: region?,
            use_region: use_region?,
            models: models?,
            at,
        })
    }

    fn multiplier(&mut self, table: &DeTable<'_>, at: Location) -> Option<TierMultiplier> {
        let problems_before = self.problems.len();
        self.unknown_keys(table, &at.label, MULTIPLIER_KEYS);
        let tier = self
            .required(table, &at, "tier")
            .and_then(|v| self.tier(v, &at, "tier"));
        let base = self
            .required(table, &at, "base")
            .and_then(|v| self.tier(v, &at, "base"));
        let factor = self
            .required(table, &at, "factor")
            .and_then(|v| self.factor(v, &at));
        let models = self
            .required(table, &at, "models")
            .and_then(|v| self.model_filter(v, &at));
        let token_types = match table.get("token_types") {
            None => Some(TokenKind::ALL.to_vec()),
            Some(value) => self.token_types(value, &at),
        };
        if let (Some(tier), Some(base)) = (tier, base)
            && tier == base
        {
            let message = format!("{tier} cannot be derived from itself: name another base tier");
            self.problems.push(at.problem("base", message));
        }
        if self.problems.len() != problems_before {
            return None;
        }
        Some(TierMultiplier {
            tier: tier?,
            base: base?,
            factor: factor?,
            models: models?,
            token_types: token_types?,
            at,
        })
    }

    fn required<'a, 'i>(
        &mut self,
        table: &'a DeTable<'i>,
        at: &Location,
        key: &str,
    ) -> Option<&'a Value<'i>> {
        let value = table.get(key);
        if value.is_none() {
            self.problems
                .push(at.problem(key, "missing (required)".to_string()));
        }
        value
    }

    /// A string value, or a problem saying `expected` and what was found instead.
    fn text(
        &mut self,
        value: &Value<'_>,
        at: &Location,
        key: &str,
        expected: &str,
    ) -> Option<String> {
        match value.get_ref() {
            DeValue::String(text) => Some(text.to_string()),
            other => {
                let message = format!("{expected}, got a {}", other.type_str());
                self.report(value.span(), at.path(key), message);
                None
            }
        }
    }

    fn region(&mut self, value: &Value<'_>, at: &Location, key: &str) -> Option<String> {
        let expected = "expected a region code such as \"us-east-1\"";
        let region = self.text(value, at, key, expected)?;
        if region.is_empty() || region.contains(char::is_whitespace) || region.contains('*') {
            self.report(
                value.span(),
                at.path(key),
                format!("{expected}, got {region:?}"),
            );
            return None;
        }
        Some(region)
    }

    fn model_id(&mut self, value: &Value<'_>, at: &Location, key: &str) -> Option<String> {
        let expected = "expected a foundation-model id such as \"amazon.nova-pro-v1:0\"";
        let model = self.text(value, at, key, expected)?;
        let key_path = at.path(key);
        if model.is_empty() || model.contains(char::is_whitespace) || model.contains('*') {
            self.report(value.span(), key_path, format!("{expected}, got {model:?}"));
            return None;
        }
        if let Some(prefix) = PROFILE_PREFIXES
            .iter()
            .find(|prefix| model.starts_with(**prefix))
        {
            let message = format!(
                "{model:?} is an inference-profile id; price the foundation model {:?} instead \
                 (profile calls are priced by the calling region and, for global., by routing = \"global\" rows)",
                &model[prefix.len()..]
            );
            self.report(value.span(), key_path, message);
            return None;
        }
        Some(model)
    }

    fn tier(&mut self, value: &Value<'_>, at: &Location, key: &str) -> Option<Tier> {
        let expected = "expected priority, standard (or default), flex or reserved";
        let name = self.text(value, at, key, expected)?;
        match Tier::parse(&name) {
            Ok(Some(tier)) => Some(tier),
            Ok(None) | Err(_) => {
                self.report(
                    value.span(),
                    at.path(key),
                    format!("{expected}, got {name:?}"),
                );
                None
            }
        }
    }

    fn routing(&mut self, value: &Value<'_>, at: &Location) -> Option<PriceRouting> {
        let expected = "expected \"regional\" or \"global\"";
        let name = self.text(value, at, "routing", expected)?;
        match name.as_str() {
            "regional" => Some(PriceRouting::Regional),
            "global" => Some(PriceRouting::Global),
            _ => {
                self.report(
                    value.span(),
                    at.path("routing"),
                    format!("{expected}, got {name:?}"),
                );
                None
            }
        }
    }

    fn unit(&mut self, value: &Value<'_>, key_path: &str) -> Option<Unit> {
        let found = match value.get_ref() {
            DeValue::String(name) => match Unit::parse(name) {
                Some(unit) => return Some(unit),
                None => format!("{:?}", name.as_ref()),
            },
            other => format!("a {}", other.type_str()),
        };
        self.report(
            value.span(),
            key_path.to_string(),
            format!("{UNIT_EXPECTED}, got {found}"),
        );
        None
    }

    fn global_routing(&mut self, value: &Value<'_>) -> Option<GlobalRouting> {
        let found = match value.get_ref() {
            DeValue::String(name) => match name.as_ref() {
                "regional_price" => return Some(GlobalRouting::RegionalPrice),
                "unpriced" => return Some(GlobalRouting::Unpriced),
                other => format!("{other:?}"),
            },
            other => format!("a {}", other.type_str()),
        };
        let message = format!("expected \"regional_price\" or \"unpriced\", got {found}");
        self.report(value.span(), "global_routing".to_string(), message);
        None
    }

    /// A date as a TOML local date (`2025-11-18`) or a string (`"2025-11-18"`).
    fn date(&mut self, value: &Value<'_>, at: &Location, key: &str) -> Option<NaiveDate> {
        let parsed = match value.get_ref() {
            DeValue::String(text) => NaiveDate::parse_from_str(text, "%Y-%m-%d").ok(),
            DeValue::Datetime(datetime) => match (datetime.date, datetime.time, datetime.offset) {
                (Some(date), None, None) => NaiveDate::from_ymd_opt(
                    i32::from(date.year),
                    u32::from(date.month),
                    u32::from(date.day),
                ),
                _ => None,
            },
            _ => None,
        };
        if parsed.is_none() {
            let found = describe(value.get_ref());
            let message = format!("expected a date such as 2025-11-18 (YYYY-MM-DD), got {found}");
            self.report(value.span(), at.path(key), message);
        }
        parsed
    }

    /// A USD amount (string, integer or float) → exact µ$ per 1M tokens.
    fn amount(&mut self, value: &Value<'_>, at: &Location, key: &str, unit: Unit) -> Option<i64> {
        let scale = unit.scale();
        let per = unit.label();
        let result = decimal_text(value.get_ref()).map(|text| amount::parse_scaled(&text, scale));
        let message = match result {
            Some(Ok(micros)) => return Some(micros),
            Some(Err(DecimalError::Negative)) => format!(
                "expected a decimal USD amount per {per} tokens that is not negative, got {}",
                describe(value.get_ref())
            ),
            Some(Err(DecimalError::TooLarge)) => {
                format!(
                    "amount too large to hold exactly, got {}",
                    describe(value.get_ref())
                )
            }
            Some(Err(DecimalError::NotDecimal | DecimalError::TooPrecise)) | None => format!(
                "expected a decimal USD amount with at most {scale} decimals per {per} tokens, got {}",
                describe(value.get_ref())
            ),
        };
        self.report(value.span(), at.path(key), message);
        None
    }

    fn factor(&mut self, value: &Value<'_>, at: &Location) -> Option<Factor> {
        let parsed = decimal_text(value.get_ref())
            .and_then(|text| amount::parse_scaled(&text, FACTOR_SCALE).ok());
        match parsed.map(Factor::from_millionths) {
            Some(factor) if !factor.is_zero() => Some(factor),
            _ => {
                let message = format!(
                    "expected a positive decimal factor with at most {FACTOR_SCALE} decimals such as \"1.75\", got {}",
                    describe(value.get_ref())
                );
                self.report(value.span(), at.path("factor"), message);
                None
            }
        }
    }

    /// `["*"]` (every model) or a list of foundation-model ids.
    fn model_filter(&mut self, value: &Value<'_>, at: &Location) -> Option<ModelFilter> {
        let expected = "expected a list of model ids, or [\"*\"] for every model";
        let items = self.string_list(value, at, "models", expected)?;
        if items.iter().any(|(model, _)| model == "*") {
            if items.len() == 1 {
                return Some(ModelFilter::All);
            }
            let message = "\"*\" already covers every model: list either \"*\" alone or model ids"
                .to_string();
            self.report(value.span(), at.path("models"), message);
            return None;
        }
        let mut models = Vec::new();
        for (index, (_, item)) in items.iter().enumerate() {
            let key = format!("models[{}]", index + 1);
            models.push(self.model_id(item, at, &key)?);
        }
        Some(ModelFilter::Only(models))
    }

    fn token_types(&mut self, value: &Value<'_>, at: &Location) -> Option<Vec<TokenKind>> {
        let expected = "expected a list of token types (input, output, cache_read, cache_write)";
        let items = self.string_list(value, at, "token_types", expected)?;
        let mut kinds = Vec::new();
        for (name, item) in &items {
            match TokenKind::ALL
                .into_iter()
                .find(|kind| kind.as_str() == name)
            {
                Some(kind) if !kinds.contains(&kind) => kinds.push(kind),
                Some(_) => {}
                None => {
                    let message = format!("{expected}, got {name:?}");
                    self.report(item.span(), at.path("token_types"), message);
                    return None;
                }
            }
        }
        Some(kinds)
    }

    /// A non-empty array of strings, each with its value (for spans).
    fn string_list<'a, 'i>(
        &mut self,
        value: &'a Value<'i>,
        at: &Location,
        key: &str,
        expected: &str,
    ) -> Option<Vec<(String, &'a Value<'i>)>> {
        let key_path = at.path(key);
        let DeValue::Array(items) = value.get_ref() else {
            self.report(
                value.span(),
                key_path,
                format!("{expected}, got {}", describe(value.get_ref())),
            );
            return None;
        };
        if items.is_empty() {
            self.report(
                value.span(),
                key_path,
                format!("{expected}, got an empty list"),
            );
            return None;
        }
        let mut list = Vec::new();
        for item in items.iter() {
            match item.get_ref() {
                DeValue::String(text) => list.push((text.to_string(), item)),
                other => {
                    let message = format!("{expected}, got a {} in the list", other.type_str());
                    self.report(item.span(), key_path, message);
                    return None;
                }
            }
        }
        Some(list)
    }
}

/// The decimal text of a number written as a string, an integer or a float.
///
/// Floats go through their shortest round-trip text (`0.1225` stays "0.1225"), which is then
/// parsed exactly like a string: no float arithmetic touches the amount.
fn decimal_text(value: &DeValue<'_>) -> Option<String> {
    match value {
        DeValue::String(text) => Some(text.to_string()),
        DeValue::Integer(integer) => i64::from_str_radix(integer.as_str(), integer.radix())
            .ok()
            .map(|number| number.to_string()),
        DeValue::Float(float) => float
            .as_str()
            .parse::<f64>()
            .ok()
            .map(|number| format!("{number}")),
        _ => None,
    }
}

/// A value as shown in messages: strings quoted, numbers as written, others by type.
fn describe(value: &DeValue<'_>) -> String {
    match value {
        DeValue::String(text) => format!("{:?}", text.as_ref()),
        DeValue::Integer(integer) => integer.to_string(),
        DeValue::Float(float) => float.as_str().to_string(),
        DeValue::Boolean(flag) => flag.to_string(),
        DeValue::Datetime(datetime) => datetime.to_string(),
        other => format!("a {}", other.type_str()),
    }
}
