//! Behaviour of the price table, with costs computed by hand in the comments.
//!
//! Units: rates are µ$ per 1M tokens, costs picodollars; 1 token × 1 µ$/1M = 1 p$,
//! and $1 = 10^12 p$.

use std::path::{Path, PathBuf};

use chrono::NaiveDate;

use super::*;
use crate::model::{ModelRef, TierResolution, TierSource};

const DOLLAR: i64 = 1_000_000_000_000;

fn fixture_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/pricing")
        .join(name)
}

fn fixture(name: &str) -> PriceTable {
    PriceTable::load(&fixture_path(name)).unwrap()
}

fn load_error(name: &str) -> String {
    let path = fixture_path(&format!("invalid/{name}"));
    let text = std::fs::read_to_string(&path).unwrap();
    let error = PriceTable::parse(&text, name).unwrap_err();
    error.to_string()
}

fn tokens(input: u64, output: u64) -> TokenCounts {
    TokenCounts {
        input: Some(input),
        output: Some(output),
        cache_read: Some(0),
        cache_write: Some(0),
    }
}

/// Milliseconds since the epoch of a UTC date and time such as "2025-12-01 12:00:00".
fn at(datetime: &str) -> i64 {
    chrono::NaiveDateTime::parse_from_str(datetime, "%Y-%m-%d %H:%M:%S%.f")
        .unwrap()
        .and_utc()
        .timestamp_millis()
}

/// An in-region call made at noon UTC on `day`.
fn call(model_id: &str, tier: Tier, region: &str, day: &str, tokens: TokenCounts) -> Invocation {
    Invocation {
        timestamp_ms: at(&format!("{day} 12:00:00")),
        account_id: "111122223333".to_string(),
        region: region.to_string(),
        inference_region: None,
        request_id: "req-1".to_string(),
        operation: "Converse".to_string(),
        model: ModelRef {
            called: model_id.to_string(),
            model_id: model_id.to_string(),
            routing: Routing::InRegion,
            resolved: true,
        },
        caller_arn: None,
        request_metadata: None,
        tier: TierResolution {
            requested: Some(tier),
            served: tier,
            source: TierSource::ResponseBody,
        },
        tokens,
        latency_ms: None,
        time_to_first_token_ms: None,
        error_code: None,
    }
}

fn with_routing(mut invocation: Invocation, routing: Routing) -> Invocation {
    let prefix = match routing {
        Routing::InRegion => "",
        Routing::Geo => "us.",
        Routing::Global => "global.",
    };
    invocation.model.called = format!("{prefix}{}", invocation.model.model_id);
    invocation.model.routing = routing;
    invocation
}

fn priced(outcome: PricingOutcome) -> PricedCost {
    match outcome {
        PricingOutcome::Priced(cost) => cost,
        other => panic!("expected a priced outcome, got {other:?}"),
    }
}

fn reason(outcome: PricingOutcome) -> String {
    match outcome {
        PricingOutcome::Unpriced { reason } => reason,
        other => panic!("expected an unpriced outcome, got {other:?}"),
    }
}

fn date(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
}

const NOVA_PRO: &str = "amazon.nova-pro-v1:0";
const GPT_OSS_120B: &str = "openai.gpt-oss-120b-1:0";
const GPT_OSS_20B: &str = "openai.gpt-oss-20b-1:0";

// --- exact costs ---------------------------------------------------------------------------

#[test]
fn nova_pro_standard_prices_input_and_cache_reads() {
    let table = fixture("tiers.toml");
    let counts = TokenCounts {
        input: Some(1_000_000),
        output: None,
        cache_read: Some(250_000),
        cache_write: None,
    };
    let cost = priced(table.price(&call(
        NOVA_PRO,
        Tier::Standard,
        "us-east-1",
        "2025-12-01",
        counts,
    )));
    // 1,000,000 × $0.80/1M = $0.80; 250,000 × $0.20/1M = $0.05.
    assert_eq!(cost.cost, Money(80 * DOLLAR / 100 + 5 * DOLLAR / 100));
    assert_eq!(cost.cost.to_string(), "0.850000");
    let price = &cost.price;
    assert_eq!(price.rates.input, Some(800_000));
    assert_eq!(price.rates.cache_read, Some(200_000));
    assert_eq!(price.rates.cache_write, None);
    assert_eq!(
        (price.tier, price.routing),
        (Tier::Standard, PriceRouting::Regional)
    );
    assert_eq!(price.effective_from, date("2025-11-18"));
    assert_eq!(price.derivation, None);
    assert_eq!(price.source.as_deref(), Some("fixture"));
}

#[test]
fn each_token_kind_is_priced_at_its_own_rate() {
    let table = fixture("tiers.toml");
    let one_kind = |kind: TokenKind| {
        let mut counts = TokenCounts::default();
        match kind {
            TokenKind::Input => counts.input = Some(3),
            TokenKind::Output => counts.output = Some(3),
            TokenKind::CacheRead => counts.cache_read = Some(3),
            TokenKind::CacheWrite => counts.cache_write = Some(3),
        }
        table.price(&call(
            NOVA_PRO,
            Tier::Standard,
            "us-east-1",
            "2025-12-01",
            counts,
        ))
    };
    // 3 tokens × 800,000 µ$/1M = 2,400,000 p$ ($0.0000024), and so on.
    assert_eq!(priced(one_kind(TokenKind::Input)).cost, Money(2_400_000));
    assert_eq!(priced(one_kind(TokenKind::Output)).cost, Money(9_600_000));
    assert_eq!(priced(one_kind(TokenKind::CacheRead)).cost, Money(600_000));
    assert_eq!(
        reason(one_kind(TokenKind::CacheWrite)),
        "no cache_write rate for amazon.nova-pro-v1:0 (standard) in us-east-1"
    );
}

#[test]
fn every_tier_of_a_launch_model_with_standard_equivalent() {
    let table = fixture("tiers.toml");
    let price_tier = |tier| {
        priced(table.price(&call(
            GPT_OSS_120B,
            tier,
            "us-east-1",
            "2025-12-01",
            tokens(1_000, 500),
        )))
    };

    // Standard: 1,000 × 0.15 + 500 × 0.60 (µ$ per token ×10^6) = 150,000,000 + 300,000,000 p$.
    let standard = price_tier(Tier::Standard);
    assert_eq!(standard.cost, Money(450_000_000));
    let equivalent = standard.standard_equivalent.as_ref().unwrap();
    assert_eq!(equivalent.cost, standard.cost);
    assert!(Arc::ptr_eq(&equivalent.price, &standard.price));

    // Priority: 1,000 × 262,500 + 500 × 1,050,000 = 262,500,000 + 525,000,000.
    let priority = price_tier(Tier::Priority);
    assert_eq!(priority.cost, Money(787_500_000));
    assert_eq!(priority.price.tier, Tier::Priority);
    let equivalent = priority.standard_equivalent.as_ref().unwrap();
    assert_eq!(equivalent.cost, Money(450_000_000));
    assert_eq!(equivalent.price.tier, Tier::Standard);
    // The premium paid for Priority: 0.75 × the Standard cost.
    assert_eq!(priority.cost.0 - equivalent.cost.0, 337_500_000);

    // Flex: 1,000 × 75,000 + 500 × 300,000 = 75,000,000 + 150,000,000; saves half.
    let flex = price_tier(Tier::Flex);
    assert_eq!(flex.cost, Money(225_000_000));
    let equivalent = flex.standard_equivalent.as_ref().unwrap();
    assert_eq!(equivalent.cost.0 - flex.cost.0, 225_000_000);
}

#[test]
fn standard_equivalent_is_none_when_standard_cannot_price_the_tokens() {
    let table = fixture("tiers.toml");
    let only_priority = priced(table.price(&call(
        "example.priority-only-v1:0",
        Tier::Priority,
        "us-east-1",
        "2025-12-01",
        tokens(10, 10),
    )));
    assert_eq!(only_priority.cost, Money(30_000_000));
    assert_eq!(only_priority.standard_equivalent, None);

    // Flex Nova Pro prices input/output; Standard would too, so it has an equivalent; but a
    // token type Standard has no rate for leaves it without one.
    let mut counts = tokens(10, 10);
    counts.cache_write = Some(5);
    let mut flex_call = call(NOVA_PRO, Tier::Flex, "us-east-1", "2025-12-01", counts);
    assert_eq!(
        reason(table.price(&flex_call)),
        "no cache_write rate for amazon.nova-pro-v1:0 (flex) in us-east-1"
    );
    flex_call.tokens = tokens(10, 10);
    let flex = priced(table.price(&flex_call));
    assert_eq!(
        flex.standard_equivalent.unwrap().cost,
        Money(10 * 800_000 + 10 * 3_200_000)
    );
}

#[test]
fn absent_counts_cost_nothing_and_zero_tokens_cost_zero() {
    let table = fixture("tiers.toml");
    let output_only = TokenCounts {
        output: Some(2),
        ..TokenCounts::default()
    };
    let cost = priced(table.price(&call(
        NOVA_PRO,
        Tier::Standard,
        "us-east-1",
        "2025-12-01",
        output_only,
    )));
    assert_eq!(cost.cost, Money(6_400_000));
    // A blocked call that logged zero tokens: priced, at exactly $0 (AWS bills 0 tokens).
    let zero = priced(table.price(&call(
        NOVA_PRO,
        Tier::Standard,
        "us-east-1",
        "2025-12-01",
        tokens(0, 0),
    )));
    assert_eq!(zero.cost, Money::ZERO);
}

#[test]
fn a_cost_too_large_for_money_is_unpriced_not_wrong() {
    let table = fixture("tiers.toml");
    let huge = tokens(u64::MAX, 0);
    assert_eq!(
        reason(table.price(&call(
            NOVA_PRO,
            Tier::Standard,
            "us-east-1",
            "2025-12-01",
            huge
        ))),
        "cost of amazon.nova-pro-v1:0 (standard) in us-east-1 overflows: token counts too large"
    );
    // The largest cost Money holds is still exact: 11,529,215,046,068 × 800,000 p$ fits.
    let big = tokens(11_529_215_046_068, 0);
    let cost = priced(table.price(&call(
        NOVA_PRO,
        Tier::Standard,
        "us-east-1",
        "2025-12-01",
        big,
    )));
    assert_eq!(cost.cost, Money(11_529_215_046_068 * 800_000));
}

// --- effective dates -----------------------------------------------------------------------

#[test]
fn a_price_change_applies_from_its_day_and_never_rewrites_history() {
    let table = fixture("price_change.toml");
    let at_time = |datetime: &str| {
        let mut invocation = call(
            GPT_OSS_20B,
            Tier::Standard,
            "us-east-1",
            "2026-03-01",
            tokens(1_000_000, 0),
        );
        invocation.timestamp_ms = at(datetime);
        priced(table.price(&invocation))
    };
    let before = at_time("2026-03-14 23:59:59.999");
    assert_eq!(before.cost, Money(7 * DOLLAR / 100));
    assert_eq!(before.price.source.as_deref(), Some("old price"));
    assert_eq!(before.price.effective_from, date("2025-11-18"));

    let after = at_time("2026-03-15 00:00:00");
    assert_eq!(after.cost, Money(5 * DOLLAR / 100));
    assert_eq!(after.price.source.as_deref(), Some("new price"));
    assert_eq!(after.price.effective_from, date("2026-03-15"));
    assert_ne!(before.price.fingerprint(), after.price.fingerprint());

    // Before the first row: no price, and the reason carries no date.
    let early = call(
        GPT_OSS_20B,
        Tier::Standard,
        "us-east-1",
        "2025-11-17",
        tokens(1, 1),
    );
    assert_eq!(
        reason(table.price(&early)),
        "no standard price for openai.gpt-oss-20b-1:0 in us-east-1 before its first effective date"
    );
    // The first day itself is priced.
    let first_day = call(
        GPT_OSS_20B,
        Tier::Standard,
        "us-east-1",
        "2025-11-18",
        tokens(1, 1),
    );
    assert!(matches!(table.price(&first_day), PricingOutcome::Priced(_)));
}

#[test]
fn timestamps_before_1970_use_the_right_utc_day() {
    let table = fixture("price_change.toml");
    let mut invocation = call(
        GPT_OSS_20B,
        Tier::Standard,
        "us-east-1",
        "2026-03-01",
        tokens(1, 1),
    );
    invocation.timestamp_ms = -1;
    assert!(reason(table.price(&invocation)).ends_with("before its first effective date"));
}

// --- region fallbacks ----------------------------------------------------------------------

#[test]
fn a_region_fallback_prices_with_the_other_regions_rows_and_says_so() {
    let table = fixture("fallback.toml");
    let counts = TokenCounts {
        input: Some(1_000_000),
        cache_read: Some(250_000),
        ..TokenCounts::default()
    };
    let cost = priced(table.price(&call(
        NOVA_PRO,
        Tier::Standard,
        "us-east-2",
        "2025-12-01",
        counts,
    )));
    assert_eq!(cost.cost, Money(85 * DOLLAR / 100));
    assert_eq!(cost.price.region, "us-east-2");
    assert_eq!(
        cost.price.derivation.as_deref(),
        Some("region fallback us-east-2 → us-east-1")
    );
    assert_eq!(cost.price.source.as_deref(), Some("us-east-1 row"));

    // A chain names every hop.
    let chained = priced(table.price(&call(
        NOVA_PRO,
        Tier::Standard,
        "ca-central-1",
        "2025-12-01",
        counts,
    )));
    assert_eq!(chained.price.region, "ca-central-1");
    assert_eq!(
        chained.price.derivation.as_deref(),
        Some("region fallback ca-central-1 → us-east-2 → us-east-1")
    );
}

#[test]
fn an_explicit_row_always_beats_a_fallback() {
    let table = fixture("fallback.toml");
    let own = priced(table.price(&call(
        GPT_OSS_120B,
        Tier::Standard,
        "us-east-2",
        "2025-12-01",
        tokens(1_000, 0),
    )));
    assert_eq!(own.price.derivation, None);
    assert_eq!(own.price.rates.input, Some(160_000));
    // Priority has no us-east-2 row, so it falls back, and its Standard equivalent is the
    // region's own Standard row.
    let priority = priced(table.price(&call(
        GPT_OSS_120B,
        Tier::Priority,
        "us-east-2",
        "2025-12-01",
        tokens(1_000, 0),
    )));
    assert_eq!(
        priority.price.derivation.as_deref(),
        Some("region fallback us-east-2 → us-east-1")
    );
    assert_eq!(
        priority.standard_equivalent.unwrap().cost,
        Money(160_000_000)
    );
    // ca-central-1 falls back to us-east-2 and gets its explicit row.
    let chained = priced(table.price(&call(
        GPT_OSS_120B,
        Tier::Standard,
        "ca-central-1",
        "2025-12-01",
        tokens(1, 0),
    )));
    assert_eq!(chained.price.rates.input, Some(160_000));
    assert_eq!(
        chained.price.derivation.as_deref(),
        Some("region fallback ca-central-1 → us-east-2")
    );
}

#[test]
fn a_fallback_limited_to_some_models_leaves_the_others_unpriced() {
    let table = fixture("fallback.toml");
    let gpt = priced(table.price(&call(
        GPT_OSS_120B,
        Tier::Standard,
        "eu-west-1",
        "2025-12-01",
        tokens(1, 0),
    )));
    assert_eq!(
        gpt.price.derivation.as_deref(),
        Some("region fallback eu-west-1 → us-east-1")
    );
    assert_eq!(
        reason(table.price(&call(
            NOVA_PRO,
            Tier::Standard,
            "eu-west-1",
            "2025-12-01",
            tokens(1, 0)
        ))),
        "no price for amazon.nova-pro-v1:0 in eu-west-1"
    );
}

// --- tier multipliers ----------------------------------------------------------------------

#[test]
fn a_multiplier_fills_a_missing_cache_rate_and_follows_base_price_changes() {
    let table = fixture("multiplier.toml");
    let counts = TokenCounts {
        input: Some(1_000_000),
        cache_read: Some(250_000),
        ..TokenCounts::default()
    };
    let december = priced(table.price(&call(
        NOVA_PRO,
        Tier::Priority,
        "us-east-1",
        "2025-12-01",
        counts,
    )));
    // Priority cache read = 1.75 × 0.20 = 0.35. 1,000,000 × $1.40/1M + 250,000 × $0.35/1M
    // = $1.40 + $0.0875.
    assert_eq!(december.price.rates.cache_read, Some(350_000));
    assert_eq!(december.cost, Money(1_487_500_000_000));
    assert_eq!(
        december.price.derivation.as_deref(),
        Some("priority cache_read = 1.75 × standard")
    );
    assert_eq!(december.price.source.as_deref(), Some("priority row"));
    assert_eq!(december.price.effective_from, date("2025-11-18"));
    // Standard equivalent: $0.80 + 250,000 × $0.20/1M = $0.85.
    assert_eq!(
        december.standard_equivalent.unwrap().cost,
        Money(850_000_000_000)
    );

    // Standard cache read drops to 0.16 on 2026-02-01: derived Priority becomes 0.28.
    let february = priced(table.price(&call(
        NOVA_PRO,
        Tier::Priority,
        "us-east-1",
        "2026-02-01",
        counts,
    )));
    assert_eq!(february.price.rates.cache_read, Some(280_000));
    assert_eq!(february.price.rates.input, Some(1_400_000));
    assert_eq!(february.price.effective_from, date("2026-02-01"));
    assert_eq!(february.cost, Money(1_400_000_000_000 + 70_000_000_000));
}

#[test]
fn a_multiplier_never_overrides_a_rate_the_tier_has() {
    let table = fixture("multiplier.toml");
    let counts = TokenCounts {
        cache_read: Some(1_000_000),
        ..TokenCounts::default()
    };
    let flex = priced(table.price(&call(
        NOVA_PRO,
        Tier::Flex,
        "us-east-1",
        "2026-03-01",
        counts,
    )));
    assert_eq!(flex.price.rates.cache_read, Some(110_000));
    assert_eq!(flex.price.derivation, None);
    assert_eq!(flex.price.effective_from, date("2025-11-18"));
}

#[test]
fn a_multiplier_can_derive_a_whole_tier() {
    let table = fixture("multiplier.toml");
    let flex = priced(table.price(&call(
        GPT_OSS_20B,
        Tier::Flex,
        "us-east-1",
        "2025-12-01",
        tokens(1_000_000, 1_000_000),
    )));
    // 0.5 × (0.07, 0.30) = (0.035, 0.15): $0.035 + $0.15.
    assert_eq!(flex.price.rates.input, Some(35_000));
    assert_eq!(flex.price.rates.output, Some(150_000));
    assert_eq!(flex.cost, Money(185_000_000_000));
    assert_eq!(
        flex.price.derivation.as_deref(),
        Some("flex input, output = 0.5 × standard")
    );
    assert_eq!(flex.price.source.as_deref(), Some("standard row"));
    // No multiplier for gpt-oss-20b Priority.
    assert_eq!(
        reason(table.price(&call(
            GPT_OSS_20B,
            Tier::Priority,
            "us-east-1",
            "2025-12-01",
            tokens(1, 1)
        ))),
        "no priority price for openai.gpt-oss-20b-1:0 in us-east-1"
    );
}

// --- global routing ------------------------------------------------------------------------

#[test]
fn global_calls_use_global_rows_and_otherwise_the_regional_price_marked_as_such() {
    let table = fixture("global.toml");
    let lite = "amazon.nova-2-lite-v1:0";
    let global_call = |model, day| {
        with_routing(
            call(
                model,
                Tier::Standard,
                "us-east-1",
                day,
                tokens(1_000_000, 0),
            ),
            Routing::Global,
        )
    };

    let with_global_row = priced(table.price(&global_call(lite, "2026-01-02")));
    assert_eq!(with_global_row.cost, Money(30 * DOLLAR / 100));
    assert_eq!(with_global_row.price.routing, PriceRouting::Global);
    assert_eq!(with_global_row.price.derivation, None);
    assert_eq!(with_global_row.price.source.as_deref(), Some("global row"));

    // Before the global row exists, the regional price applies, saying so.
    let before_global_row = priced(table.price(&global_call(lite, "2025-12-15")));
    assert_eq!(before_global_row.cost, Money(33 * DOLLAR / 100));
    assert_eq!(before_global_row.price.routing, PriceRouting::Global);
    assert_eq!(
        before_global_row.price.derivation.as_deref(),
        Some("global profile at regional price (no global row)")
    );

    let no_global_row = priced(table.price(&global_call(GPT_OSS_120B, "2026-01-02")));
    assert_eq!(no_global_row.cost, Money(15 * DOLLAR / 100));
    assert_eq!(
        no_global_row.price.derivation.as_deref(),
        Some("global profile at regional price (no global row)")
    );
    assert_eq!(
        no_global_row.standard_equivalent.unwrap().cost,
        no_global_row.cost
    );

    // A geo profile bills at the calling region's regional price, no derivation.
    let geo = with_routing(
        call(
            lite,
            Tier::Standard,
            "us-east-1",
            "2026-01-02",
            tokens(1_000_000, 0),
        ),
        Routing::Geo,
    );
    let geo = priced(table.price(&geo));
    assert_eq!(geo.cost, Money(33 * DOLLAR / 100));
    assert_eq!(
        (geo.price.routing, geo.price.derivation.clone()),
        (PriceRouting::Regional, None)
    );
}

#[test]
fn global_calls_without_a_global_row_are_unpriced_when_the_table_says_so() {
    let table = fixture("global_unpriced.toml");
    let global_call = |model, day| {
        with_routing(
            call(model, Tier::Standard, "us-east-1", day, tokens(1, 0)),
            Routing::Global,
        )
    };
    assert_eq!(
        reason(table.price(&global_call(GPT_OSS_120B, "2026-01-02"))),
        "no global price for openai.gpt-oss-120b-1:0 (standard) in us-east-1, and global_routing = \"unpriced\""
    );
    let lite = "amazon.nova-2-lite-v1:0";
    assert_eq!(
        priced(table.price(&global_call(lite, "2026-01-02"))).cost,
        Money(300_000)
    );
    assert_eq!(
        reason(table.price(&global_call(lite, "2025-12-15"))),
        "no standard, global price for amazon.nova-2-lite-v1:0 in us-east-1 before its first effective date"
    );
}

// --- unpriced and not billed ---------------------------------------------------------------

#[test]
fn unpriced_reasons_name_the_cause_without_dates_or_counts() {
    let table = fixture("tiers.toml");
    let on = |model: &str, tier, region: &str| {
        table.price(&call(model, tier, region, "2025-12-01", tokens(5, 5)))
    };
    assert_eq!(
        reason(on("meta.llama9-v1:0", Tier::Standard, "us-east-1")),
        "model meta.llama9-v1:0 is not in the price table"
    );
    assert_eq!(
        reason(on(NOVA_PRO, Tier::Standard, "eu-central-2")),
        "no price for amazon.nova-pro-v1:0 in eu-central-2"
    );
    assert_eq!(
        reason(on("example.priority-only-v1:0", Tier::Flex, "us-east-1")),
        "no flex price for example.priority-only-v1:0 in us-east-1"
    );
    assert_eq!(
        reason(on(NOVA_PRO, Tier::Reserved, "us-east-1")),
        "reserved capacity is billed per reservation, not per token: no [[pricing.reservations]] entry covers it"
    );
    let mut cached = call(
        NOVA_PRO,
        Tier::Priority,
        "us-east-1",
        "2025-12-01",
        tokens(5, 5),
    );
    cached.tokens.cache_read = Some(100);
    assert_eq!(
        reason(table.price(&cached)),
        "no cache_read rate for amazon.nova-pro-v1:0 (priority) in us-east-1"
    );
}

#[test]
fn unmapped_profiles_and_records_without_counts_are_unpriced() {
    let table = fixture("tiers.toml");
    let arn = "arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/abc123";
    let mut unmapped = call(arn, Tier::Standard, "us-east-1", "2025-12-01", tokens(5, 5));
    unmapped.model.resolved = false;
    assert_eq!(
        reason(table.price(&unmapped)),
        format!("application inference profile {arn} is not mapped to a foundation model")
    );
    let no_counts = call(
        NOVA_PRO,
        Tier::Standard,
        "us-east-1",
        "2025-12-01",
        TokenCounts::default(),
    );
    assert_eq!(
        reason(table.price(&no_counts)),
        "record has no token counts"
    );
}

#[test]
fn failed_calls_without_tokens_are_not_billed_but_with_tokens_are_priced() {
    let table = fixture("tiers.toml");
    let failed = |counts| {
        let mut invocation = call(NOVA_PRO, Tier::Standard, "us-east-1", "2025-12-01", counts);
        invocation.error_code = Some("ThrottlingException".to_string());
        table.price(&invocation)
    };
    assert_eq!(failed(TokenCounts::default()), PricingOutcome::NotBilled);
    assert_eq!(failed(tokens(0, 0)), PricingOutcome::NotBilled);
    assert_eq!(priced(failed(tokens(10, 0))).cost, Money(8_000_000));

    // Not billed comes first: a failed call to an unmapped profile costs nothing either.
    let mut unmapped = call(
        "arn:aws:bedrock:x",
        Tier::Standard,
        "us-east-1",
        "2025-12-01",
        TokenCounts::default(),
    );
    unmapped.model.resolved = false;
    unmapped.error_code = Some("ResourceNotFoundException".to_string());
    assert_eq!(table.price(&unmapped), PricingOutcome::NotBilled);
}

#[test]
fn reserved_is_priced_only_from_reserved_rows() {
    let table = fixture("reserved.toml");
    let cost = priced(table.price(&call(
        NOVA_PRO,
        Tier::Reserved,
        "us-east-1",
        "2025-12-01",
        tokens(1_000_000, 0),
    )));
    assert_eq!(cost.cost, Money(60 * DOLLAR / 100));
    assert_eq!(cost.price.tier, Tier::Reserved);
    assert_eq!(
        cost.standard_equivalent.unwrap().cost,
        Money(80 * DOLLAR / 100)
    );
    // With reserved rows, the usual lookup reasons apply.
    let early = call(
        NOVA_PRO,
        Tier::Reserved,
        "us-east-1",
        "2025-01-01",
        tokens(1, 0),
    );
    assert_eq!(
        reason(table.price(&early)),
        "no reserved price for amazon.nova-pro-v1:0 in us-east-1 before its first effective date"
    );
    let elsewhere = call(
        NOVA_PRO,
        Tier::Reserved,
        "us-west-2",
        "2025-12-01",
        tokens(1, 0),
    );
    assert_eq!(
        reason(table.price(&elsewhere)),
        "reserved capacity is billed per reservation, not per token: no [[pricing.reservations]] entry covers it"
    );
}

// --- units and number forms ----------------------------------------------------------------

#[test]
fn per_1k_amounts_convert_exactly_and_rows_can_override_the_unit() {
    let table = fixture("per_1k.toml");
    let rates = |model, tier| {
        priced(table.price(&call(model, tier, "us-east-1", "2025-12-01", tokens(1, 1))))
            .price
            .rates
    };
    let nova = rates(NOVA_PRO, Tier::Standard);
    assert_eq!(
        (nova.input, nova.output, nova.cache_read),
        (Some(800_000), Some(3_200_000), Some(200_000))
    );
    let gpt_priority = rates(GPT_OSS_20B, Tier::Priority);
    assert_eq!(
        (gpt_priority.input, gpt_priority.output),
        (Some(122_500), Some(525_000))
    );
    let gpt_standard = rates(GPT_OSS_120B, Tier::Standard);
    assert_eq!(
        (gpt_standard.input, gpt_standard.output),
        (Some(150_000), Some(600_000))
    );
}

#[test]
fn toml_numbers_and_strings_give_the_same_exact_rates() {
    let table = fixture("number_amounts.toml");
    let rates = |model, tier| {
        priced(table.price(&call(model, tier, "us-east-1", "2025-12-01", tokens(1, 1))))
            .price
            .rates
    };
    let priority = rates(GPT_OSS_20B, Tier::Priority);
    assert_eq!(
        (priority.input, priority.output),
        (Some(122_500), Some(525_000))
    );
    let flex = rates(GPT_OSS_20B, Tier::Flex);
    assert_eq!((flex.input, flex.output), (Some(35_000), Some(150_000)));
    let premier = rates("amazon.nova-premier-v1:0", Tier::Priority);
    assert_eq!(
        (premier.input, premier.output),
        (Some(4_375_000), Some(21_875_000))
    );
    let whole = rates("example.whole-dollars-v1:0", Tier::Standard);
    assert_eq!(
        (whole.input, whole.output),
        (Some(1_000_000), Some(1_000_000_000))
    );
}

// --- table-level API -----------------------------------------------------------------------

#[test]
fn models_lists_distinct_priced_models_sorted() {
    let table = fixture("fallback.toml");
    let models: Vec<&str> = table.models().collect();
    assert_eq!(models, vec![NOVA_PRO, GPT_OSS_120B]);
}

#[test]
fn fingerprints_cover_every_field() {
    let price = ResolvedPrice {
        region: "us-east-1".to_string(),
        model_id: NOVA_PRO.to_string(),
        tier: Tier::Standard,
        routing: PriceRouting::Regional,
        effective_from: date("2025-11-18"),
        rates: Rates {
            input: Some(800_000),
            output: Some(3_200_000),
            cache_read: Some(200_000),
            cache_write: None,
        },
        derivation: None,
        source: Some("a \"quoted\" | source".to_string()),
    };
    assert_eq!(
        price.fingerprint(),
        r#"["v1","us-east-1","amazon.nova-pro-v1:0","standard","regional","2025-11-18",800000,3200000,200000,null,null,"a \"quoted\" | source"]"#
    );
    let variants = [
        ResolvedPrice {
            region: "us-east-2".to_string(),
            ..price.clone()
        },
        ResolvedPrice {
            model_id: "x".to_string(),
            ..price.clone()
        },
        ResolvedPrice {
            tier: Tier::Flex,
            ..price.clone()
        },
        ResolvedPrice {
            routing: PriceRouting::Global,
            ..price.clone()
        },
        ResolvedPrice {
            effective_from: date("2025-11-19"),
            ..price.clone()
        },
        ResolvedPrice {
            rates: Rates {
                cache_write: Some(0),
                ..price.rates
            },
            ..price.clone()
        },
        ResolvedPrice {
            derivation: Some("d".to_string()),
            ..price.clone()
        },
        ResolvedPrice {
            source: None,
            ..price.clone()
        },
    ];
    for variant in &variants {
        assert_ne!(variant.fingerprint(), price.fingerprint(), "{variant:?}");
    }
    assert_eq!(price.clone().fingerprint(), price.fingerprint());
}

// --- validation ----------------------------------------------------------------------------

#[test]
fn unknown_keys_are_named_with_what_is_allowed() {
    assert_eq!(
        load_error("unknown_keys.toml"),
        "unknown_keys.toml: currency: unknown key (expected one of: unit, global_routing, price, region_fallback, tier_multiplier) (line 1)\n\
         unknown_keys.toml: price[1].inptu: unknown key (expected one of: region, model, tier, routing, effective_from, unit, input, output, cache_read, cache_write, source) (line 8)"
    );
}

#[test]
fn unknown_tiers_and_bad_dates_are_refused() {
    assert_eq!(
        load_error("unknown_tier.toml"),
        "unknown_tier.toml: price[1].tier: expected priority, standard (or default), flex or reserved, got \"scale\" (line 5)"
    );
    assert_eq!(
        load_error("bad_date.toml"),
        "bad_date.toml: price[1].effective_from: expected a date such as 2025-11-18 (YYYY-MM-DD), got \"2025-11-31\" (line 5)"
    );
}

#[test]
fn amounts_must_be_exact_non_negative_decimals() {
    assert_eq!(
        load_error("bad_amounts.toml"),
        "bad_amounts.toml: price[1].input: expected a decimal USD amount with at most 6 decimals per 1M tokens, got \"abc\" (line 6)\n\
         bad_amounts.toml: price[1].output: expected a decimal USD amount with at most 6 decimals per 1M tokens, got \"0.0000001\" (line 7)\n\
         bad_amounts.toml: price[1].cache_read: expected a decimal USD amount per 1M tokens that is not negative, got \"-0.20\" (line 8)\n\
         bad_amounts.toml: price[1].cache_write: expected a decimal USD amount with at most 6 decimals per 1M tokens, got 0.12345678 (line 9)"
    );
    let per_1k = "unit = \"per_1k_tokens\"\n[[price]]\nregion = \"us-east-1\"\nmodel = \"m.x-v1:0\"\ntier = \"flex\"\n\
                  effective_from = 2025-11-18\ninput = \"0.0000001225\"\n";
    assert_eq!(
        PriceTable::parse(per_1k, "t.toml").unwrap_err().to_string(),
        "t.toml: price[1].input: expected a decimal USD amount with at most 9 decimals per 1K tokens, got \"0.0000001225\" (line 7)"
    );
    let too_large = "[[price]]\nregion = \"us-east-1\"\nmodel = \"m.x-v1:0\"\ntier = \"flex\"\n\
                     effective_from = 2025-11-18\ninput = 1e300\n";
    assert_eq!(
        PriceTable::parse(too_large, "t.toml")
            .unwrap_err()
            .to_string(),
        "t.toml: price[1].input: amount too large to hold exactly, got 1e300 (line 6)"
    );
}

#[test]
fn duplicate_rows_are_refused_even_when_spelled_differently() {
    assert_eq!(
        load_error("duplicate_row.toml"),
        "duplicate_row.toml: price[2]: duplicate of price[1]: same region, model, tier, routing and effective_from \
         (give a later effective_from to record a price change) (line 8)"
    );
}

#[test]
fn fallback_cycles_and_fallbacks_to_nothing_are_refused() {
    assert_eq!(
        load_error("fallback_cycle.toml"),
        "fallback_cycle.toml: region_fallback[2].use: fallback cycle us-east-2 → us-west-2 → us-east-2: \
         regions cannot fall back to themselves (line 12)"
    );
    assert_eq!(
        load_error("fallback_no_rows.toml"),
        "fallback_no_rows.toml: region_fallback[1].use: no prices for region \"us-east-9\" to fall back to (line 8)\n\
         fallback_no_rows.toml: region_fallback[2].models: \"openai.gpt-oss-120b-1:0\" has no prices in us-east-1 to fall back to (line 12)"
    );
    let self_fallback = "[[price]]\nregion = \"us-east-1\"\nmodel = \"m.x-v1:0\"\ntier = \"flex\"\n\
                         effective_from = 2025-11-18\ninput = 1\n[[region_fallback]]\nregion = \"us-east-1\"\nuse = \"us-east-1\"\n";
    assert_eq!(
        PriceTable::parse(self_fallback, "t.toml")
            .unwrap_err()
            .to_string(),
        "t.toml: region_fallback[1].use: fallback cycle us-east-1 → us-east-1: regions cannot fall back to themselves (line 7)"
    );
}

#[test]
fn multipliers_need_base_rows_and_exact_results() {
    assert_eq!(
        load_error("multiplier_no_rows.toml"),
        "multiplier_no_rows.toml: tier_multiplier[1].models: \"openai.gpt-oss-120b-1:0\" has no standard prices to derive priority from (line 8)\n\
         multiplier_no_rows.toml: tier_multiplier[2].base: the table has no flex prices to derive reserved from (line 14)"
    );
    assert_eq!(
        load_error("multiplier_inexact.toml"),
        "multiplier_inexact.toml: tier_multiplier[1].factor: 1.75 × standard cache_read of amazon.nova-pro-v1:0 in us-east-1 \
         (0.200001 USD per 1M tokens) = 0.35000175 USD, not a whole number of micro-dollars per 1M tokens; \
         give priority cache_read its own price row instead (line 9)"
    );
}

#[test]
fn overlapping_multipliers_and_fallbacks_are_refused() {
    let text = "[[price]]\nregion = \"us-east-1\"\nmodel = \"m.x-v1:0\"\ntier = \"standard\"\neffective_from = 2025-11-18\ninput = 1\n\
                [[tier_multiplier]]\ntier = \"flex\"\nbase = \"standard\"\nfactor = 0.5\nmodels = [\"*\"]\n\
                [[tier_multiplier]]\ntier = \"flex\"\nbase = \"priority\"\nfactor = 0.25\nmodels = [\"m.x-v1:0\"]\ntoken_types = [\"input\"]\n\
                [[region_fallback]]\nregion = \"us-east-2\"\nuse = \"us-east-1\"\nmodels = [\"m.x-v1:0\"]\n\
                [[region_fallback]]\nregion = \"us-east-2\"\nuse = \"us-west-2\"\n";
    assert_eq!(
        PriceTable::parse(text, "t.toml").unwrap_err().to_string(),
        "t.toml: region_fallback[2].models: region_fallback[1] already says where us-east-2 takes prices for m.x-v1:0 from; \
         give each model one fallback per region (line 22)"
    );
    let multipliers_only = text.split("[[region_fallback]]").next().unwrap();
    assert_eq!(
        PriceTable::parse(multipliers_only, "t.toml")
            .unwrap_err()
            .to_string(),
        "t.toml: tier_multiplier[2].token_types: tier_multiplier[1] already derives flex input for m.x-v1:0; \
         give each rate one multiplier (line 12)\n\
         t.toml: tier_multiplier[2].models: \"m.x-v1:0\" has no priority prices to derive flex from (line 12)"
    );
}

#[test]
fn an_empty_table_and_bad_syntax_are_refused() {
    assert_eq!(
        load_error("empty.toml"),
        "empty.toml: price: the table has no [[price]] rows; add at least one"
    );
    let syntax = load_error("syntax.toml");
    assert!(syntax.starts_with("syntax.toml: TOML syntax: "), "{syntax}");
    assert!(syntax.contains("(line 2)"), "{syntax}");
}

#[test]
fn every_problem_in_a_table_is_reported_together() {
    assert_eq!(
        load_error("several.toml"),
        [
            "several.toml: unit: expected \"per_1m_tokens\" or \"per_1k_tokens\", got \"per_1g_tokens\" (line 1)",
            "several.toml: global_routing: expected \"regional_price\" or \"unpriced\", got \"maybe\" (line 2)",
            "several.toml: price[1].model: \"us.amazon.nova-pro-v1:0\" is an inference-profile id; price the foundation model \
             \"amazon.nova-pro-v1:0\" instead (profile calls are priced by the calling region and, for global., by routing = \"global\" rows) (line 6)",
            "several.toml: price[1].tier: expected priority, standard (or default), flex or reserved, got \"auto\" (line 7)",
            "several.toml: price[1].routing: expected \"regional\" or \"global\", got \"cross-region\" (line 8)",
            "several.toml: price[1].effective_from: missing (required) (line 4)",
            "several.toml: price[2]: the row has no rate: give at least one of input, output, cache_read, cache_write (line 11)",
            "several.toml: region_fallback[1].use: missing (required) (line 17)",
            "several.toml: region_fallback[1].models: expected a list of model ids, or [\"*\"] for every model, got an empty list (line 19)",
            "several.toml: tier_multiplier[1].factor: expected a positive decimal factor with at most 6 decimals such as \"1.75\", got \"-0.5\" (line 24)",
            "several.toml: tier_multiplier[1].models: \"*\" already covers every model: list either \"*\" alone or model ids (line 25)",
            "several.toml: tier_multiplier[1].token_types: expected a list of token types (input, output, cache_read, cache_write), got \"cached\" (line 26)",
            "several.toml: tier_multiplier[1].base: flex cannot be derived from itself: name another base tier (line 21)",
        ]
        .join("\n")
    );
}

#[test]
fn a_missing_file_names_its_path() {
    let error = PriceTable::load(Path::new("/nonexistent/pricing.toml")).unwrap_err();
    assert!(matches!(error, PricingError::Read { .. }));
    assert!(
        error
            .to_string()
            .starts_with("/nonexistent/pricing.toml: cannot read the price table: ")
    );
}

// --- the shipped table ---------------------------------------------------------------------

const LAUNCH_MODELS: [&str; 9] = [
    "openai.gpt-oss-20b-1:0",
    "openai.gpt-oss-120b-1:0",
    "deepseek.v3-v1:0",
    "qwen.qwen3-coder-480b-a35b-v1:0",
    "qwen.qwen3-coder-30b-a3b-v1:0",
    "qwen.qwen3-32b-v1:0",
    "qwen.qwen3-235b-a22b-2507-v1:0",
    "amazon.nova-pro-v1:0",
    "amazon.nova-premier-v1:0",
];

/// The built-in table: the shipped Price List offer files, no user table.
fn shipped_table() -> PriceTable {
    let catalog = catalog::Catalog::builtin().expect("the built-in Price List loads");
    PriceTable::assemble(&catalog.prices, None)
        .expect("the built-in Price List builds")
        .table
}

#[test]
fn the_shipped_table_prices_every_launch_model_in_every_on_demand_tier() {
    let table = shipped_table();
    for model in LAUNCH_MODELS {
        let price_of = |tier| {
            let invocation = call(model, tier, "us-east-1", "2026-01-15", tokens(1_000, 1_000));
            match table.price(&invocation) {
                PricingOutcome::Priced(cost) => cost.price,
                other => panic!("{model} {tier}: {other:?}"),
            }
        };
        let standard = price_of(Tier::Standard);
        let priority = price_of(Tier::Priority);
        let flex = price_of(Tier::Flex);
        for price in [&standard, &priority, &flex] {
            assert_eq!(
                price.derivation, None,
                "{model}: shipped prices are real rows"
            );
            let source = price.source.as_deref().unwrap_or_default();
            assert!(source.contains("AWS Price List"), "{model}: {source}");
        }
        // Priority and Flex start when the tiers launched; Standard earlier.
        assert_eq!(priority.effective_from, date("2025-11-18"), "{model}");
        assert_eq!(flex.effective_from, date("2025-11-18"), "{model}");
        assert!(standard.effective_from < date("2025-11-18"), "{model}");
        // Data-entry check: Priority = 1.75 × Standard and Flex = 0.5 × Standard, rate by
        // rate, wherever both tiers have the rate (integer µ$: 4 × priority = 7 × standard).
        for kind in TokenKind::ALL {
            let base = standard.rates.get(kind);
            if let (Some(base), Some(rate)) = (base, priority.rates.get(kind)) {
                assert_eq!(rate * 4, base * 7, "{model} priority {}", kind.as_str());
            }
            if let (Some(base), Some(rate)) = (base, flex.rates.get(kind)) {
                assert_eq!(rate * 2, base, "{model} flex {}", kind.as_str());
            }
        }
        for price in [&standard, &priority, &flex] {
            assert!(
                price.rates.input.is_some() && price.rates.output.is_some(),
                "{model}"
            );
        }
        // Not yet in effect the day before the tiers launched.
        let early = call(model, Tier::Flex, "us-east-1", "2025-11-17", tokens(1, 1));
        assert!(matches!(
            table.price(&early),
            PricingOutcome::Unpriced { .. }
        ));
    }
    let models: Vec<&str> = table.models().collect();
    for model in LAUNCH_MODELS {
        assert!(models.contains(&model), "{model}");
    }
    assert!(models.len() >= 60, "{} models", models.len());
}

#[test]
fn the_shipped_table_matches_the_reference_for_key_rows() {
    let table = shipped_table();
    let rates = |model, tier, region| {
        priced(table.price(&call(model, tier, region, "2026-01-15", tokens(1, 1))))
            .price
            .rates
    };
    let nova = rates(NOVA_PRO, Tier::Standard, "us-east-1");
    assert_eq!(
        (nova.input, nova.output, nova.cache_read),
        (Some(800_000), Some(3_200_000), Some(200_000))
    );
    // Published as $0: not a price, so Nova cache writes stay unpriced until a user says.
    assert_eq!(nova.cache_write, None);
    let coder = rates(
        "qwen.qwen3-coder-480b-a35b-v1:0",
        Tier::Standard,
        "us-east-1",
    );
    assert_eq!(
        (coder.input, coder.output),
        (Some(220_000), Some(1_800_000))
    );
    let premier = rates("amazon.nova-premier-v1:0", Tier::Priority, "us-east-1");
    assert_eq!(
        (premier.input, premier.output),
        (Some(4_375_000), Some(21_875_000))
    );
    // A real Price List row: Nova Pro in ap-northeast-1 (sample 01) costs 1.2 × us-east-1.
    let tokyo = rates(NOVA_PRO, Tier::Standard, "ap-northeast-1");
    assert_eq!(
        (tokyo.input, tokyo.output),
        (Some(960_000), Some(3_840_000))
    );
    // Claude Sonnet 4.5: in-region 10 % above its own global rows (reference 6a).
    let sonnet = "anthropic.claude-sonnet-4-5-20250929-v1:0";
    let regional = rates(sonnet, Tier::Standard, "us-east-1");
    let global = with_routing(
        call(
            sonnet,
            Tier::Standard,
            "us-east-1",
            "2026-01-15",
            tokens(1, 1),
        ),
        Routing::Global,
    );
    let global = priced(table.price(&global));
    assert_eq!(global.price.routing, PriceRouting::Global);
    assert_eq!(global.price.derivation, None, "a real global row");
    assert_eq!(regional.input, Some(3_300_000));
    assert_eq!(global.price.rates.input, Some(3_000_000));
}

/// `key = value` with a bare lowercase key, as opposed to prose that contains " = ".
fn is_assignment(line: &str) -> bool {
    line.split_once(" = ").is_some_and(|(key, _)| {
        key.bytes()
            .all(|byte| byte.is_ascii_lowercase() || byte == b'_')
    })
}

#[test]
fn the_example_user_table_is_valid_and_composes_with_the_price_list() {
    let example = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("config/pricing.example.toml"),
    )
    .unwrap();
    // Uncomment every example line ("# [[..." or "# key = value") after the header.
    let (header, examples) = example.split_at(example.find("# Example:").unwrap());
    let uncommented: Vec<&str> = header
        .lines()
        .chain(examples.lines().map(|line| match line.strip_prefix("# ") {
            Some(toml) if toml.starts_with("[[") || is_assignment(toml) => toml,
            _ => line,
        }))
        .collect();
    let text = uncommented.join("\n");
    let catalog = catalog::Catalog::builtin().unwrap();
    let user = UserTable {
        text: &text,
        origin: "pricing.example.toml",
    };
    let assembled = PriceTable::assemble(&catalog.prices, Some(user)).unwrap();
    let table = assembled.table;

    // The negotiated row replaces the Price List's for its key, and says so.
    let sonnet = "anthropic.claude-sonnet-4-5-20250929-v1:0";
    let discounted = priced(table.price(&call(
        sonnet,
        Tier::Standard,
        "us-east-1",
        "2026-02-01",
        tokens(1_000_000, 0),
    )));
    assert_eq!(discounted.cost, Money(2_970_000_000_000));
    let source = discounted.price.source.as_deref().unwrap_or_default();
    assert!(source.contains("Enterprise agreement"), "{source}");
    assert!(source.contains("overrides the AWS Price List"), "{source}");
    let over = assembled
        .overrides
        .iter()
        .find(|over| over.model_id == sonnet && over.region == "us-east-1")
        .expect("the override is reported");
    assert!(over.differs());
    assert_eq!(over.list.input, Some(3_300_000));
    assert_eq!(over.user.input, Some(2_970_000));
    // Before the agreement the key has no price at all: the user's rows replaced the
    // Price List's for it, every date.
    assert!(matches!(
        table.price(&call(
            sonnet,
            Tier::Standard,
            "us-east-1",
            "2025-12-01",
            tokens(1, 1)
        )),
        PricingOutcome::Unpriced { .. }
    ));
    // Another region keeps the Price List's price.
    let oregon = priced(table.price(&call(
        sonnet,
        Tier::Standard,
        "us-west-2",
        "2026-02-01",
        tokens(1_000_000, 0),
    )));
    assert_eq!(oregon.cost, Money(3_300_000_000_000));

    // The multipliers fill Nova Pro's Priority and Flex cache reads from Standard's.
    let counts = TokenCounts {
        input: Some(1_000_000),
        cache_read: Some(1_000_000),
        ..TokenCounts::default()
    };
    let priority = priced(table.price(&call(
        NOVA_PRO,
        Tier::Priority,
        "us-east-2",
        "2026-01-15",
        counts,
    )));
    // $1.40 + 1.75 × $0.20.
    assert_eq!(priority.cost, Money(1_400_000_000_000 + 350_000_000_000));
    assert_eq!(
        priority.price.derivation.as_deref(),
        Some("priority cache_read = 1.75 × standard")
    );
    let flex = priced(table.price(&call(
        NOVA_PRO,
        Tier::Flex,
        "us-east-1",
        "2026-01-15",
        counts,
    )));
    assert_eq!(flex.price.rates.cache_read, Some(100_000));
    assert_eq!(
        flex.price.derivation.as_deref(),
        Some("flex cache_read = 0.5 × standard")
    );
}

/// Cost of `price()` per call, release mode:
/// `cargo test --release --lib pricing::tests::bench_price -- --ignored --nocapture`
#[test]
#[ignore = "benchmark; run in release mode"]
fn bench_price() {
    let table = shipped_table();
    let tiers = [Tier::Standard, Tier::Priority, Tier::Flex];
    let invocations: Vec<Invocation> = (0..1_000)
        .map(|index| {
            let model = LAUNCH_MODELS[index % LAUNCH_MODELS.len()];
            let mut invocation = call(
                model,
                tiers[index % 3],
                "us-east-1",
                "2026-01-15",
                tokens(1_000 + index as u64, 200),
            );
            invocation.timestamp_ms += index as i64 * 1_000;
            invocation
        })
        .collect();
    let rounds = 1_000;
    let started = std::time::Instant::now();
    let mut total: i128 = 0;
    for _ in 0..rounds {
        for invocation in &invocations {
            if let PricingOutcome::Priced(cost) = table.price(std::hint::black_box(invocation)) {
                total += i128::from(cost.cost.0);
            }
        }
    }
    let elapsed = started.elapsed();
    let calls = rounds * invocations.len();
    println!(
        "price(): {calls} calls in {elapsed:?} = {:.1} ns/call (checksum {total})",
        elapsed.as_nanos() as f64 / calls as f64
    );
}

#[test]
fn reserved_calls_a_reservation_covers_cost_nothing_per_token() {
    let sonnet = "anthropic.claude-sonnet-4-5-20250929-v1:0";
    let reservation = crate::config::Reservation {
        name: "sonnet-prod".into(),
        account: Some("111122223333".into()),
        region: "us-east-1".into(),
        model_id: sonnet.into(),
        input_tpm: 100_000,
        output_tpm: 10_000,
        monthly_price_micros: Some(15_000_000_000),
        term_months: 1,
        global: false,
        start: date("2026-11-10"),
        end: date("2026-12-10"),
    };
    let table = shipped_table().with_reservations(&[reservation]);
    let covered = priced(table.price(&call(
        sonnet,
        Tier::Reserved,
        "us-east-1",
        "2026-11-10",
        tokens(1_000_000, 0),
    )));
    assert_eq!(covered.cost, Money(0));
    assert_eq!(
        covered.price.derivation.as_deref(),
        Some("covered by reservation sonnet-prod: its fixed monthly price is in the report")
    );
    // What the same tokens would have cost on Standard: $3.30.
    let standard = covered
        .standard_equivalent
        .expect("Standard prices the model");
    assert_eq!(standard.cost, Money(3_300_000_000_000));
    // Outside the term, or another account's call: not covered, unpriced with the reason.
    for (day, account) in [
        ("2026-11-09", "111122223333"),
        ("2026-11-12", "444455556666"),
    ] {
        let mut outside = call(sonnet, Tier::Reserved, "us-east-1", day, tokens(1, 1));
        outside.account_id = account.into();
        match table.price(&outside) {
            PricingOutcome::Unpriced { reason } => assert!(
                reason.contains("no [[pricing.reservations]] entry covers it"),
                "{reason}"
            ),
            other => panic!("{day} {account}: {other:?}"),
        }
    }
}
