//! The parser against every Price List sample in `tests/fixtures/pricelist/` (copied from
//! products AWS published, see that folder's README) and against each usage-type shape seen.

use chrono::NaiveDate;
use serde_json::{Value, json};

use super::*;

const SAMPLE_GETPRODUCTS: &str = include_str!(
    "../../../tests/fixtures/pricelist/01-getproducts-apn1-glm5-novapro-use1-claude3haiku-trimmed.jsonl"
);
const SAMPLE_QWEN3: &str = include_str!(
    "../../../tests/fixtures/pricelist/02-use1-qwen3-32b-all-tiers-usagetypes-rates.txt"
);
const SAMPLE_FOUNDATION_MODELS: &str = include_str!(
    "../../../tests/fixtures/pricelist/03-foundationmodels-anthropic-usagetype-conventions.txt"
);
const SAMPLE_SHAPES: &str =
    include_str!("../../../tests/fixtures/pricelist/04-amazonbedrock-usagetype-shapes-seen.txt");

fn fallback() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 8, 26).unwrap()
}

fn parser() -> PriceListParser {
    PriceListParser::new(fallback())
}

/// A GetProducts document with one on-demand price.
fn product(
    service_code: &str,
    usage_type: &str,
    unit: &str,
    usd: &str,
    attributes: Value,
) -> Value {
    let mut all = json!({"regionCode": "us-east-1", "usagetype": usage_type});
    if let (Some(all), Some(extra)) = (all.as_object_mut(), attributes.as_object()) {
        all.extend(extra.clone());
    }
    json!({
        "product": {"sku": "SKU1", "productFamily": null, "attributes": all},
        "serviceCode": service_code,
        "terms": {"OnDemand": {"SKU1.JRTCKXETXF": {
            "offerTermCode": "JRTCKXETXF",
            "effectiveDate": "2026-07-01T00:00:00Z",
            "priceDimensions": {"SKU1.JRTCKXETXF.6YS6EN2CT7": {
                "unit": unit, "pricePerUnit": {"USD": usd}, "rateCode": "SKU1.JRTCKXETXF.6YS6EN2CT7"
            }}
        }}},
        "version": "20260701000000",
        "publicationDate": "2026-07-01T00:00:00Z"
    })
}

/// The usage types (and rates, where given) of a tab-separated sample file.
fn sample_rows(text: &str) -> Vec<(String, Option<String>)> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .map(|line| {
            let mut fields = line.split('\t');
            let usage_type = fields.next().unwrap_or_default();
            // Some lines put a note after spaces instead of a tab.
            let usage_type = usage_type.split_whitespace().next().unwrap_or_default();
            let rate = fields
                .next()
                .map(str::trim)
                .filter(|rate| rate.chars().next().is_some_and(|c| c.is_ascii_digit()))
                .map(str::to_string);
            (usage_type.to_string(), rate)
        })
        .collect()
}

fn one(parsed: &ParsedPrices) -> &ListPrice {
    assert_eq!(parsed.skipped, vec![], "expected a price row");
    assert_eq!(parsed.prices.len(), 1);
    &parsed.prices[0]
}

fn skip_of(parsed: &ParsedPrices) -> &Skip {
    assert!(
        parsed.prices.is_empty(),
        "expected a skip, got {:?}",
        parsed.prices
    );
    &parsed.skipped[0].reason
}

#[test]
fn getproducts_sample_gives_every_on_demand_row_and_names_the_batch_one() {
    let parsed = parser()
        .parse_text(SAMPLE_GETPRODUCTS, "sample 01", Some("AmazonBedrock"))
        .expect("the sample parses");
    assert_eq!(parsed.products, 10);
    assert_eq!(parsed.prices.len(), 9);
    assert_eq!(parsed.skipped.len(), 1);
    let skipped = &parsed.skipped[0];
    assert_eq!(skipped.usage_type, "APN1-NovaPro-input-tokens-batch");
    // Its inferenceType is a plain "Input tokens": only `feature` and the suffix say batch.
    assert_eq!(skipped.reason, Skip::Batch);

    let find = |usage_type: &str| {
        parsed
            .prices
            .iter()
            .find(|price| price.provenance.usage_type == usage_type)
            .unwrap_or_else(|| panic!("no row for {usage_type}"))
    };
    let nova_input = find("APN1-NovaPro-input-tokens");
    assert_eq!(nova_input.region, "ap-northeast-1");
    assert_eq!(nova_input.model.display.as_deref(), Some("Nova Pro"));
    assert_eq!(nova_input.model.usage_type.as_deref(), Some("NovaPro"));
    assert_eq!(
        (nova_input.tier, nova_input.meter),
        (Tier::Standard, Meter::Input)
    );
    assert_eq!(nova_input.routing, ListRouting::Regional);
    assert_eq!(
        nova_input.rate_micros, 960_000,
        "0.00096 per 1K = 0.96 per 1M"
    );
    assert_eq!(nova_input.provenance.sku, "MW5E2RRQFRGR96C3");
    assert_eq!(nova_input.provenance.offer_term, "JRTCKXETXF");
    // The trimmed sample has no dates: the fallback applies and provenance says so.
    assert_eq!(nova_input.effective_from, fallback());
    assert!(nova_input.provenance.effective_date_assumed);

    let cache_read = find("APN1-NovaPro-cache-read-input-token-count");
    assert_eq!(
        (cache_read.meter, cache_read.rate_micros),
        (Meter::CacheRead, 240_000)
    );

    let glm_flex = find("APN1-zai.glm5-mantle-input-tokens-flex");
    assert_eq!(
        (glm_flex.tier, glm_flex.engine),
        (Tier::Flex, Engine::Mantle)
    );
    assert_eq!(glm_flex.model.usage_type.as_deref(), Some("zai.glm5"));
    assert_eq!(glm_flex.rate_micros, 600_000);
    let glm_twin = find("APN1-zai.glm5-mantle-input-tokens-standard");
    let glm_runtime = find("APN1-zai.glm5-input-tokens");
    assert_eq!(glm_twin.rate_micros, glm_runtime.rate_micros);
    assert_eq!(
        (glm_runtime.engine, glm_twin.tier),
        (Engine::Runtime, Tier::Standard)
    );

    let haiku = find("USE1-Claude3Haiku-input-tokens");
    assert_eq!(
        (haiku.region.as_str(), haiku.rate_micros),
        ("us-east-1", 250_000)
    );
}

#[test]
fn documents_come_as_strings_lists_answers_or_offer_files() {
    let document = product(
        "AmazonBedrock",
        "USE1-Qwen3-32B-input-tokens",
        "1K tokens",
        "0.00015",
        json!({"model": "Qwen3 32B"}),
    );
    let answer = json!({"FormatVersion": "aws_v1", "PriceList": [document.to_string()]});
    let from_answer = parser()
        .parse_text(&answer.to_string(), "answer", None)
        .expect("parses");
    let from_list = parser()
        .parse_text(&json!([document.clone()]).to_string(), "list", None)
        .expect("parses");
    let offer_file = json!({
        "formatVersion": "v1.0",
        "offerCode": "AmazonBedrock",
        "version": "20260701000000",
        "publicationDate": "2026-07-01T00:00:00Z",
        "products": {"SKU1": document["product"].clone()},
        "terms": {"OnDemand": {"SKU1": document["terms"]["OnDemand"].clone()}},
    });
    let from_offer = parser()
        .parse_text(&offer_file.to_string(), "offer", None)
        .expect("parses");
    let row = one(&from_answer);
    assert_eq!(row, one(&from_list));
    assert_eq!(row, one(&from_offer));
    assert_eq!(row.rate_micros, 150_000);
    assert_eq!(
        row.effective_from,
        NaiveDate::from_ymd_opt(2026, 7, 1).unwrap()
    );
    assert!(!row.provenance.effective_date_assumed);
    assert_eq!(row.provenance.service_code, "AmazonBedrock");
    assert_eq!(row.provenance.version.as_deref(), Some("20260701000000"));

    let error = parser()
        .parse_text("{\"hello\": 1}", "odd.json", None)
        .unwrap_err();
    assert!(error.to_string().contains("odd.json"), "{error}");
    assert!(parser().parse_text("not json", "bad.json", None).is_err());
}

#[test]
fn qwen3_sample_gives_all_three_tiers_in_both_namings_and_no_batch() {
    let mut rows = Vec::new();
    let mut skipped = Vec::new();
    for (usage_type, rate) in sample_rows(SAMPLE_QWEN3) {
        let unit = if usage_type.contains("Provisioned") {
            "hour"
        } else {
            "1K tokens"
        };
        let document = product(
            "AmazonBedrock",
            &usage_type,
            unit,
            rate.as_deref().unwrap_or("0.001"),
            json!({"model": "Qwen3 32B"}),
        );
        let parsed = parser().parse_document(&document, None);
        rows.extend(parsed.prices);
        skipped.extend(parsed.skipped);
    }
    let rate = |usage_type: &str| {
        rows.iter()
            .find(|row| row.provenance.usage_type == usage_type)
            .map(|row| {
                (
                    row.tier,
                    row.routing,
                    row.meter,
                    row.engine,
                    row.rate_micros,
                )
            })
    };
    use Engine::{Mantle, Runtime};
    use ListRouting::{Global, Regional};
    use Meter::{CacheRead, Input, Output};
    use Tier::{Flex, Priority, Standard};
    assert_eq!(
        rate("USE1-Qwen3-32B-input-tokens"),
        Some((Standard, Regional, Input, Runtime, 150_000))
    );
    assert_eq!(
        rate("USE1-Qwen3-32B-output-tokens"),
        Some((Standard, Regional, Output, Runtime, 600_000))
    );
    assert_eq!(
        rate("USE1-Qwen3-32B-input-tokens-flex"),
        Some((Flex, Regional, Input, Runtime, 75_000))
    );
    assert_eq!(
        rate("USE1-Qwen3-32B-output-tokens-priority"),
        Some((Priority, Regional, Output, Runtime, 1_050_000))
    );
    assert_eq!(
        rate("USE1-qwen.qwen3-32b-mantle-input-tokens-standard"),
        Some((Standard, Regional, Input, Mantle, 150_000))
    );
    assert_eq!(
        rate("USE1-qwen.qwen3-32b-mantle-output-tokens-priority"),
        Some((Priority, Regional, Output, Mantle, 1_050_000))
    );
    assert_eq!(
        rate("USE1-Qwen3-32B-cache-read-input-token-count"),
        Some((Standard, Regional, CacheRead, Runtime, 37_500))
    );
    assert_eq!(
        rate("USE1-Qwen3-32B-input-tokens-cross-region-global"),
        Some((Standard, Global, Input, Runtime, 135_000))
    );
    // 12 tier rows (3 tiers × 2 token types × 2 namings) + cache read + global input.
    assert_eq!(rows.len(), 14);
    let reasons: Vec<(&str, &Skip)> = skipped
        .iter()
        .map(|skipped| (skipped.usage_type.as_str(), &skipped.reason))
        .collect();
    assert_eq!(
        reasons
            .iter()
            .filter(|(_, reason)| **reason == Skip::Batch)
            .count(),
        4
    );
    assert!(reasons.contains(&(
        "USE1-Qwen3-32B-input-image-token-count",
        &Skip::Modality("image".into())
    )));
    assert!(reasons.contains(&(
        "USE1-Qwen3-32B-input-tokens-custom-model",
        &Skip::Customization
    )));
    assert!(reasons.contains(&(
        "USE1-Qwen3-32B-ProvisionedThroughput-NoCommit-ModelUnits",
        &Skip::ProvisionedThroughput
    )));
    assert_eq!(skipped.len(), 7);
}

#[test]
fn foundation_model_rows_read_every_naming_convention() {
    use ListRouting::{Geo, Global, Regional};
    use Meter::*;
    type Want = Result<(Tier, ListRouting, Meter, i64), Skip>;
    let expected: &[(&str, Want)] = &[
        (
            "USE1-MP:USE1_InputTokenCount_Global-Units",
            Ok((Tier::Standard, Global, Input, 3_000_000)),
        ),
        (
            "USE1-MP:USE1_OutputTokenCount_Global-Units",
            Ok((Tier::Standard, Global, Output, 15_000_000)),
        ),
        (
            "USE1-MP:USE1_InputTokenCount-Units",
            Ok((Tier::Standard, Regional, Input, 3_300_000)),
        ),
        (
            "USE1-MP:USE1_OutputTokenCount-Units",
            Ok((Tier::Standard, Regional, Output, 16_500_000)),
        ),
        (
            "USE1-MP:USE1_InputTokenCount_Global_Batch-Units",
            Err(Skip::Batch),
        ),
        (
            "USE1-MP:USE1_CacheReadInputTokenCount-Units",
            Ok((Tier::Standard, Regional, CacheRead, 330_000)),
        ),
        (
            "USE1-MP:USE1_CacheWrite1hInputTokenCount_Global-Units",
            Ok((Tier::Standard, Global, CacheWrite1h, 6_000_000)),
        ),
        // 0.198 per 1K TPM-hour = 198 per 1M TPM-hours.
        (
            "USE1-MP:USE1_Reserved_1Month_InputTPM_Geo-Units",
            Ok((
                Tier::Reserved,
                Geo,
                ReservedInputTpm { term_months: 1 },
                198_000_000,
            )),
        ),
        (
            "USE1-MP:USE1_input_tokens_standard-Units",
            Ok((Tier::Standard, Regional, Input, 1_000_000)),
        ),
        (
            "USE1-MP:USE1_output_tokens_standard-Units",
            Ok((Tier::Standard, Regional, Output, 1_000_000)),
        ),
        (
            "USE1-MP:USE1_cache_write_tokens_1h_global_standard-Units",
            Ok((Tier::Standard, Global, CacheWrite1h, 1_000_000)),
        ),
        (
            "USE1-MP:USE1_cache_write_tokens_global_standard-Units",
            Ok((Tier::Standard, Global, CacheWrite5m, 1_000_000)),
        ),
        (
            "APN1-MP:APN1_MillionBatchInputTokens-Units",
            Err(Skip::Batch),
        ),
        (
            "APS7-MP:APS7_Reserved_1Month_InputTPM_Geo-Units",
            Ok((
                Tier::Reserved,
                Geo,
                ReservedInputTpm { term_months: 1 },
                1_000_000_000,
            )),
        ),
        (
            "USW2-MP:USW2_OutputTokenCount_LatencyOptimized-Units",
            Err(Skip::LatencyOptimized),
        ),
        (
            "USW2-MP:USW2_input_tokens_long_ctx_standard-Units",
            Err(Skip::LongContext),
        ),
    ];
    let rows = sample_rows(SAMPLE_FOUNDATION_MODELS);
    assert_eq!(
        rows.len(),
        expected.len(),
        "every sample line has an expectation"
    );
    for ((usage_type, rate), (wanted_type, wanted)) in rows.iter().zip(expected) {
        assert_eq!(usage_type, wanted_type);
        let document = product(
            "AmazonBedrockFoundationModels",
            usage_type,
            "Units",
            rate.as_deref().unwrap_or("1.0"),
            json!({"servicename": "Claude Sonnet 4.6 (Amazon Bedrock Edition)"}),
        );
        let parsed = parser().parse_document(&document, None);
        let got = match parsed.prices.first() {
            Some(row) => {
                assert_eq!(
                    row.model.service_name.as_deref(),
                    Some("Claude Sonnet 4.6 (Amazon Bedrock Edition)")
                );
                assert_eq!(row.model.usage_type, None);
                Ok((row.tier, row.routing, row.meter, row.rate_micros))
            }
            None => Err(parsed.skipped[0].reason.clone()),
        };
        assert_eq!(&got, wanted, "{usage_type}");
    }
}

#[test]
fn every_usage_type_shape_seen_is_classified() {
    use Meter::*;
    use Tier::*;
    type Want = Result<(Tier, ListRouting, Meter, Option<&'static str>), Skip>;
    let expected: &[(&str, Want)] = &[
        (
            "USE1-NovaMicro-input-tokens",
            Ok((Standard, ListRouting::Regional, Input, Some("NovaMicro"))),
        ),
        (
            "USE1-NovaMicro-cache-read-input-token-count",
            Ok((
                Standard,
                ListRouting::Regional,
                CacheRead,
                Some("NovaMicro"),
            )),
        ),
        (
            "USE1-NovaMicro-cache-write-input-token-count",
            Ok((
                Standard,
                ListRouting::Regional,
                CacheWrite5m,
                Some("NovaMicro"),
            )),
        ),
        (
            "USE1-NovaMicro-cache-read-input-token-count-custom-model",
            Err(Skip::Customization),
        ),
        (
            "USE1-NovaMicro-Model-Customization-input-tokens",
            Err(Skip::Customization),
        ),
        (
            "USE1-deepseek.v3.2-input-tokens",
            Ok((
                Standard,
                ListRouting::Regional,
                Input,
                Some("deepseek.v3.2"),
            )),
        ),
        (
            "USE1-Nova2.0Lite-output-tokens-cross-region-global-batch",
            Err(Skip::Batch),
        ),
        (
            "USW2-Nova2.0Lite-input-tokens-priority-cross-region-global",
            Ok((Priority, ListRouting::Global, Input, Some("Nova2.0Lite"))),
        ),
        (
            "USW2-Nova2.0Lite-cache-write-input-token-count-flex",
            Ok((
                Flex,
                ListRouting::Regional,
                CacheWrite5m,
                Some("Nova2.0Lite"),
            )),
        ),
        (
            "USW2-Nova2.0Omni-input-audio-token-count",
            Err(Skip::Modality("audio".into())),
        ),
        (
            "USW2-moonshotai.kimi-k3-mantle-cache-write-tokens-30m-standard",
            Err(Skip::CacheDuration("30m".into())),
        ),
        (
            "USW2-moonshotai.kimi-k3-mantle-input-tokens-global-flex",
            Ok((Flex, ListRouting::Global, Input, Some("moonshotai.kimi-k3"))),
        ),
        (
            "USE1-xai.grok-4.3-mantle-input-tokens-standard",
            Ok((Standard, ListRouting::Regional, Input, Some("xai.grok-4.3"))),
        ),
        (
            "USE1-Qwen3Coder-30B-A3B-output-tokens-priority",
            Ok((
                Priority,
                ListRouting::Regional,
                Output,
                Some("Qwen3Coder-30B-A3B"),
            )),
        ),
        (
            "USE1-Ray-V2-Medfps-HDRes",
            Err(Skip::NotTokenMeter("USE1-Ray-V2-Medfps-HDRes".into())),
        ),
    ];
    let rows = sample_rows(SAMPLE_SHAPES);
    assert_eq!(
        rows.len(),
        expected.len(),
        "every sample line has an expectation"
    );
    for ((usage_type, _), (wanted_type, wanted)) in rows.iter().zip(expected) {
        assert_eq!(usage_type, wanted_type);
        let unit = if usage_type.contains("grok") {
            "1M tokens"
        } else {
            "1K tokens"
        };
        let document = product("AmazonBedrock", usage_type, unit, "0.001", json!({}));
        let parsed = parser().parse_document(&document, None);
        let got = match parsed.prices.first() {
            Some(row) => Ok((
                row.tier,
                row.routing,
                row.meter,
                row.model.usage_type.clone(),
            )),
            None => Err(parsed.skipped[0].reason.clone()),
        };
        let wanted = wanted
            .clone()
            .map(|(tier, routing, meter, model)| (tier, routing, meter, model.map(str::to_string)));
        assert_eq!(got, wanted, "{usage_type}");
    }
}

#[test]
fn units_scale_to_micros_per_million() {
    let rate = |unit: &str, usd: &str| {
        let document = product(
            "AmazonBedrock",
            "USE1-NovaPro-input-tokens",
            unit,
            usd,
            json!({}),
        );
        one(&parser().parse_document(&document, None)).rate_micros
    };
    assert_eq!(rate("1K tokens", "0.0008"), 800_000);
    assert_eq!(rate("1M tokens", "0.8"), 800_000);
    assert_eq!(rate("1K Tokens", "0.0000375000"), 37_500);
    let skip = |unit: &str, usd: &str| {
        let document = product(
            "AmazonBedrock",
            "USE1-NovaPro-input-tokens",
            unit,
            usd,
            json!({}),
        );
        skip_of(&parser().parse_document(&document, None)).clone()
    };
    assert_eq!(skip("Second", "0.1"), Skip::Unit("Second".into()));
    assert_eq!(skip("TextUnit", "0.1"), Skip::Unit("TextUnit".into()));
    assert_eq!(
        skip("1K tokens", "0.0000000000"),
        Skip::ZeroRate("0.0000000000".into())
    );
    assert_eq!(
        skip("1K tokens", "0.0000000001"),
        Skip::RateTooPrecise("0.0000000001".into())
    );
    assert_eq!(skip("1K tokens", "cheap"), Skip::BadRate("cheap".into()));
}

#[test]
fn tier_signals_must_agree() {
    let tier = |usage_type: &str, attributes: Value| {
        let document = product(
            "AmazonBedrock",
            usage_type,
            "1K tokens",
            "0.001",
            attributes,
        );
        let parsed = parser().parse_document(&document, None);
        parsed
            .prices
            .first()
            .map(|row| row.tier)
            .ok_or_else(|| parsed.skipped[0].reason.clone())
    };
    // Each signal form alone.
    assert_eq!(
        tier("USE1-GLM5-input-tokens", json!({"service_tier": "Flex"})),
        Ok(Tier::Flex)
    );
    assert_eq!(
        tier(
            "USE1-GLM5-input-tokens",
            json!({"inferenceType": "Input tokens flex"})
        ),
        Ok(Tier::Flex)
    );
    assert_eq!(
        tier(
            "USE1-GLM5-output-tokens",
            json!({"inferenceType": "Output tokens priority"})
        ),
        Ok(Tier::Priority)
    );
    assert_eq!(
        tier("USE1-GLM5-input-tokens-flex", json!({})),
        Ok(Tier::Flex)
    );
    assert_eq!(
        tier("USE1-GLM5-input-tokens", json!({})),
        Ok(Tier::Standard)
    );
    // Together, agreeing.
    assert_eq!(
        tier(
            "USE1-GLM5-input-tokens-flex",
            json!({"service_tier": "flex", "inferenceType": "Input tokens flex"})
        ),
        Ok(Tier::Flex)
    );
    // Disagreeing, or batch in any of them.
    assert!(matches!(
        tier(
            "USE1-GLM5-input-tokens-flex",
            json!({"service_tier": "standard"})
        ),
        Err(Skip::ConflictingTier(_))
    ));
    assert!(matches!(
        tier(
            "USE1-GLM5-input-tokens",
            json!({"inferenceType": "Input tokens priority", "service_tier": "flex"})
        ),
        Err(Skip::ConflictingTier(_))
    ));
    assert_eq!(
        tier("USE1-GLM5-input-tokens", json!({"service_tier": "batch"})),
        Err(Skip::Batch)
    );
    assert_eq!(
        tier(
            "USE1-GLM5-input-tokens",
            json!({"feature": "BatchInference"})
        ),
        Err(Skip::Batch)
    );
    assert_eq!(
        tier(
            "USE1-GLM5-input-tokens",
            json!({"inferenceType": "Input tokens batch"})
        ),
        Err(Skip::Batch)
    );
    assert!(matches!(
        tier(
            "USE1-GLM5-input-tokens",
            json!({"inferenceType": "Output tokens"})
        ),
        Err(Skip::ConflictingMeter(_))
    ));
}

#[test]
fn unknown_words_and_missing_parts_are_reasons_not_guesses() {
    let skip = |usage_type: &str, attributes: Value| {
        let document = product(
            "AmazonBedrock",
            usage_type,
            "1K tokens",
            "0.001",
            attributes,
        );
        skip_of(&parser().parse_document(&document, None)).clone()
    };
    assert_eq!(
        skip("USE1-NovaPro-input-tokens-turbo", json!({})),
        Skip::UsageTypeWord("turbo".into())
    );
    let mut document = product(
        "AmazonBedrock",
        "USE1-NovaPro-input-tokens",
        "1K tokens",
        "0.001",
        json!({}),
    );
    document["product"]["attributes"]
        .as_object_mut()
        .unwrap()
        .remove("regionCode");
    assert_eq!(
        skip_of(&parser().parse_document(&document, None)),
        &Skip::NoRegion
    );
    let mut document = product(
        "AmazonBedrock",
        "USE1-NovaPro-input-tokens",
        "1K tokens",
        "0.001",
        json!({}),
    );
    document["terms"] = json!({});
    assert_eq!(
        skip_of(&parser().parse_document(&document, None)),
        &Skip::NoOnDemandTerm
    );
    let document = product("AmazonEC2", "USE1-BoxUsage", "Hrs", "0.1", json!({}));
    assert_eq!(
        skip_of(&parser().parse_document(&document, None)),
        &Skip::NotBedrock("AmazonEC2".into())
    );
    let unnamed = product(
        "",
        "USE1-NovaPro-input-tokens",
        "1K tokens",
        "0.001",
        json!({}),
    );
    assert_eq!(
        skip_of(&parser().parse_document(&unnamed, None)),
        &Skip::NotBedrock(String::new())
    );
    assert_eq!(
        parser()
            .parse_document(&unnamed, Some("AmazonBedrock"))
            .prices
            .len(),
        1
    );
    let parsed = parser().parse_document_text("{\"product\": 3}", Some("AmazonBedrock"));
    assert!(matches!(skip_of(&parsed), Skip::Malformed(_)));
    assert_eq!(parsed.skip_counts(), vec![("malformed product", 1)]);
}

#[test]
fn meter_names_round_trip() {
    for meter in [
        Meter::Input,
        Meter::Output,
        Meter::CacheRead,
        Meter::CacheWrite5m,
        Meter::CacheWrite1h,
        Meter::ReservedInputTpm { term_months: 1 },
        Meter::ReservedOutputTpm { term_months: 3 },
    ] {
        assert_eq!(Meter::from_name(&meter.name()), Some(meter));
    }
    assert_eq!(Meter::from_name("cache_write_30m"), None);
}

#[test]
fn a_lower_case_text_word_starts_the_meter() {
    let document = product(
        "AmazonBedrock",
        "USE1-Nova2.0Pro-text-input-tokens",
        "1K tokens",
        "0.001375",
        json!({}),
    );
    let row = one(&parser().parse_document(&document, None)).clone();
    assert_eq!(row.model.usage_type.as_deref(), Some("Nova2.0Pro"));
    assert_eq!(row.meter, Meter::Input);
}

#[test]
fn titan_rows_name_their_model_in_titan_model() {
    let document = product(
        "AmazonBedrock",
        "APN1-TitanEmbeddingsG1-Text-input-tokens",
        "1K tokens",
        "0.0002",
        json!({"titanModel": "Titan Embeddings G1 Text", "inferenceType": "Input tokens"}),
    );
    let row = one(&parser().parse_document(&document, None)).clone();
    assert_eq!(
        row.model.display.as_deref(),
        Some("Titan Embeddings G1 Text")
    );
    assert_eq!(
        row.model.usage_type.as_deref(),
        Some("TitanEmbeddingsG1-Text")
    );
    assert_eq!((row.meter, row.rate_micros), (Meter::Input, 200_000));
}

#[test]
fn reserved_rows_read_their_quantity_from_the_description() {
    // A real row: unit "1M TPM Hour", description "… per 1K Input TPM …".
    let mut document = product(
        "AmazonBedrockFoundationModels",
        "APN1-MP:APN1_Reserved_1Month_InputTPM_Geo-Units",
        "1M TPM Hour",
        "0.1980000000",
        json!({"servicename": "Claude Sonnet 4.5 (Amazon Bedrock Edition)"}),
    );
    let dimension = "/terms/OnDemand/SKU1.JRTCKXETXF/priceDimensions/SKU1.JRTCKXETXF.6YS6EN2CT7";
    document.pointer_mut(dimension).unwrap()["description"] = json!(
        "AWS Marketplace software usage|ap-northeast-1|Per Hour per 1K Input TPM Reserved 1 Month Regional"
    );
    let row = one(&parser().parse_document(&document, None)).clone();
    assert_eq!(row.meter, Meter::ReservedInputTpm { term_months: 1 });
    // $0.198 per 1K TPM-hour = 198,000,000 µ$ per 1M TPM-hours.
    assert_eq!(row.rate_micros, 198_000_000);
    // Without a description, the unit is taken as written.
    let plain = product(
        "AmazonBedrockFoundationModels",
        "APN1-MP:APN1_Reserved_1Month_InputTPM_Geo-Units",
        "1M TPM Hour",
        "0.1980000000",
        json!({"servicename": "Claude Sonnet 4.5 (Amazon Bedrock Edition)"}),
    );
    assert_eq!(
        one(&parser().parse_document(&plain, None)).rate_micros,
        198_000
    );
}

#[test]
fn offer_files_read_from_text_equal_offer_files_read_as_a_tree() {
    // The built-in files, read both ways: field by field the same rows, skips and counts.
    for (name, text) in [
        (
            "AmazonBedrock",
            include_str!("../../../config/pricelist/AmazonBedrock.json"),
        ),
        (
            "AmazonBedrockFoundationModels",
            include_str!("../../../config/pricelist/AmazonBedrockFoundationModels.json"),
        ),
    ] {
        let from_text = parser().parse_offer_text(text).expect("an offer file");
        let tree: serde_json::Value = serde_json::from_str(text).unwrap();
        let from_tree = parser().parse_offer_file(&tree);
        assert!(from_text.products > 100, "{name}");
        assert_eq!(from_text.products, from_tree.products, "{name}");
        assert_eq!(
            format!("{:?}", from_text.prices),
            format!("{:?}", from_tree.prices),
            "{name}"
        );
        assert_eq!(
            format!("{:?}", from_text.skipped),
            format!("{:?}", from_tree.skipped),
            "{name}"
        );
    }
    // A document that is no offer file is read the other way.
    assert!(parser().parse_offer_text("{\"product\": {}}").is_none());
}
