-- Raw invocations partitioned by month on Postgres (issue 14): `retention.raw_invocations`
-- drops a whole month with DROP TABLE (instant, no dead rows, no vacuum) while the rollups
-- keep everything the dashboard and reports read. Partitions are named invocations_YYYY_MM
-- and hold [first ms of the month, first ms of the next) of ts_ms, in UTC.
--
-- tierwatch creates a month's partition before writing into it (see
-- `tierwatch_invocation_partition`); this migration creates those of the months already
-- stored and moves their rows.

DROP VIEW invocation_rows;
ALTER TABLE invocations RENAME TO invocations_unpartitioned;
ALTER INDEX invocations_pkey RENAME TO invocations_unpartitioned_pkey;
ALTER INDEX invocations_ts RENAME TO invocations_unpartitioned_ts;

CREATE TABLE invocations (
    account_ref          INTEGER NOT NULL,
    region_ref           INTEGER NOT NULL,
    request_key          UUID NOT NULL,
    request_text         TEXT,             -- the request id when it is not a canonical uuid
    ts_ms                BIGINT NOT NULL,
    inference_region_ref INTEGER,
    operation_ref        INTEGER NOT NULL,
    model_called_ref     INTEGER NOT NULL,
    model_id_ref         INTEGER NOT NULL,
    routing_ref          INTEGER NOT NULL,
    caller_arn_ref       INTEGER,
    request_metadata     TEXT,             -- kept inline: often unique per call (trace ids)
    requested_tier_ref   INTEGER,
    tier_ref             INTEGER NOT NULL,
    tier_source_ref      INTEGER NOT NULL,
    error_code_ref       INTEGER,
    pricing_status_ref   INTEGER NOT NULL,
    unpriced_reason_ref  INTEGER,
    model_resolved       BOOLEAN NOT NULL,
    input_tokens         BIGINT,           -- NULL = the record did not say
    output_tokens        BIGINT,
    cache_read_tokens    BIGINT,
    cache_write_tokens   BIGINT,
    latency_ms           BIGINT,
    first_token_ms       BIGINT,
    price_id             BIGINT,
    cost_pico            BIGINT,
    standard_price_id    BIGINT,
    standard_cost_pico   BIGINT,
    source_id            BIGINT NOT NULL,
    -- The partition key must be part of the primary key; a request's records all carry the
    -- same timestamp, so the key still names one request.
    PRIMARY KEY (account_ref, region_ref, request_key, ts_ms)
) PARTITION BY RANGE (ts_ms);
CREATE INDEX invocations_ts ON invocations (ts_ms);

-- How far `retention.raw_invocations` has dropped raw invocations: none before
-- `raw_kept_from_ms` are stored (their rollups are). Imports skip records older than it, which
-- would otherwise be counted again.
CREATE TABLE retention (
    id               INTEGER PRIMARY KEY CHECK (id = 1),
    raw_kept_from_ms BIGINT NOT NULL
);
INSERT INTO retention (id, raw_kept_from_ms) VALUES (1, 0);

-- Creates the partition of the month holding `ts_ms` unless it exists. It is built as a
-- plain table and then attached, which locks the parent only against other attaches (share
-- update exclusive), not against writers; an advisory lock serializes concurrent creators.
CREATE FUNCTION tierwatch_invocation_partition(ts_ms BIGINT) RETURNS VOID
LANGUAGE plpgsql AS $$
DECLARE
    month_start TIMESTAMP := date_trunc('month', to_timestamp(ts_ms / 1000.0) AT TIME ZONE 'UTC');
    name TEXT := 'invocations_' || to_char(month_start, 'YYYY_MM');
    month_end_ms BIGINT := (EXTRACT(EPOCH FROM month_start + INTERVAL '1 month') * 1000)::BIGINT;
BEGIN
    PERFORM pg_advisory_xact_lock(7469657277617463);
    -- A month retention dropped gets no partition: its records are skipped as expired.
    IF to_regclass(name) IS NOT NULL
        OR month_end_ms <= (SELECT raw_kept_from_ms FROM retention WHERE id = 1) THEN
        RETURN;
    END IF;
    EXECUTE format('CREATE TABLE %I (LIKE invocations INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', name);
    EXECUTE format('ALTER TABLE invocations ATTACH PARTITION %I FOR VALUES FROM (%s) TO (%s)',
        name,
        (EXTRACT(EPOCH FROM month_start) * 1000)::BIGINT, month_end_ms);
END
$$;

SELECT tierwatch_invocation_partition(month_ms)
FROM (SELECT DISTINCT (EXTRACT(EPOCH FROM date_trunc('month',
          to_timestamp(ts_ms / 1000.0) AT TIME ZONE 'UTC')) * 1000)::BIGINT AS month_ms
      FROM invocations_unpartitioned) months;

INSERT INTO invocations SELECT * FROM invocations_unpartitioned;
DROP TABLE invocations_unpartitioned;


-- Invocations with their strings, as 0011 defined them, plus the stored key.
CREATE VIEW invocation_rows AS
SELECT
    d_account.value AS account_id,
    d_region.value AS region,
    COALESCE(i.request_text, i.request_key::TEXT) AS request_id,
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
