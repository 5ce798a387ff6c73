-- Retention of raw invocations (issue 14). SQLite has no partitions: `retention.raw_invocations`
-- deletes whole months of rows instead (Postgres drops monthly partitions, see its 0012).
--
-- How far retention has dropped raw invocations: none before `raw_kept_from_ms` are stored
-- (their rollups are). Imports skip records older than it, which would otherwise be counted
-- again.
CREATE TABLE retention (
    id               INTEGER PRIMARY KEY CHECK (id = 1),
    raw_kept_from_ms BIGINT NOT NULL
);
INSERT INTO retention (id, raw_kept_from_ms) VALUES (1, 0);

-- Invocations with their strings, as 0011 defined them, plus the stored key.
DROP VIEW invocation_rows;
CREATE VIEW invocation_rows AS
SELECT
    d_account.value AS account_id,
    d_region.value AS region,
    COALESCE(i.request_text, lower(substr(hex(i.request_key), 1, 8) || '-'
        || substr(hex(i.request_key), 9, 4) || '-' || substr(hex(i.request_key), 13, 4) || '-'
        || substr(hex(i.request_key), 17, 4) || '-' || substr(hex(i.request_key), 21))) AS request_id,
    i.ts_ms,
    d_inference_region.value AS inference_region,
    d_operation.value AS operation,
    d_model_called.value AS model_called,
    d_model_id.value AS model_id,
    d_routing.value AS routing,
    i.model_resolved,
    d_caller_arn.value AS caller_arn,
    i.request_metadata,
    d_requested_tier.value AS requested_tier,
    d_tier.value AS tier,
    d_tier_source.value AS tier_source,
    i.input_tokens, i.output_tokens, i.cache_read_tokens, i.cache_write_tokens,
    i.latency_ms, i.first_token_ms,
    d_error_code.value AS error_code,
    d_pricing_status.value AS pricing_status,
    i.price_id, i.cost_pico, i.standard_price_id, i.standard_cost_pico,
    d_unpriced_reason.value AS unpriced_reason,
    i.source_id,
    -- The key, so a row found in the table can be read back in this form.
    i.account_ref, i.region_ref, i.request_key
FROM invocations i
LEFT JOIN dictionary d_account ON d_account.id = i.account_ref
LEFT JOIN dictionary d_region ON d_region.id = i.region_ref
LEFT JOIN dictionary d_inference_region ON d_inference_region.id = i.inference_region_ref
LEFT JOIN dictionary d_operation ON d_operation.id = i.operation_ref
LEFT JOIN dictionary d_model_called ON d_model_called.id = i.model_called_ref
LEFT JOIN dictionary d_model_id ON d_model_id.id = i.model_id_ref
LEFT JOIN dictionary d_routing ON d_routing.id = i.routing_ref
LEFT JOIN dictionary d_caller_arn ON d_caller_arn.id = i.caller_arn_ref
LEFT JOIN dictionary d_requested_tier ON d_requested_tier.id = i.requested_tier_ref
LEFT JOIN dictionary d_tier ON d_tier.id = i.tier_ref
LEFT JOIN dictionary d_tier_source ON d_tier_source.id = i.tier_source_ref
LEFT JOIN dictionary d_error_code ON d_error_code.id = i.error_code_ref
LEFT JOIN dictionary d_pricing_status ON d_pricing_status.id = i.pricing_status_ref
LEFT JOIN dictionary d_unpriced_reason ON d_unpriced_reason.id = i.unpriced_reason_ref;
