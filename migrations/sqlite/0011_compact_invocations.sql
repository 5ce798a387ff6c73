-- Compact invocations (issue 14). Repeated strings (account, region, operation, model as
-- called and as priced, caller ARN, tiers, statuses, error codes, unpriced causes) are stored once in `dictionary` and referenced by a 4-byte id; the
-- request id is keyed as a uuid (16 bytes): the AWS request id itself when it is a
-- canonical lowercase uuid, otherwise a name-based uuid (version 8, from SHA-256) with the
-- text kept in request_text. A row takes about half the bytes it took, and the primary key
-- compares three fixed-width values instead of three strings.
--
-- The rows of the previous layout stay in `invocations_v1` until tierwatch converts them
-- (at start, in batches, each batch committed with its deletion from the old table), since
-- the derived uuids need SHA-256, which SQLite has no SQL function for; both backends take
-- the same path.

CREATE TABLE dictionary (
    id    INTEGER PRIMARY KEY,
    value TEXT NOT NULL UNIQUE
);

ALTER TABLE invocations RENAME TO invocations_v1;
DROP INDEX invocations_ts;
DROP INDEX invocations_unpriced;

-- Columns ending in _ref point into dictionary (NULL: the record had no value).
CREATE TABLE invocations (
    account_ref          INTEGER NOT NULL,
    region_ref           INTEGER NOT NULL,
    request_key          BLOB NOT NULL,    -- 16 bytes
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
    PRIMARY KEY (account_ref, region_ref, request_key)
);
CREATE INDEX invocations_ts ON invocations (ts_ms);

-- Invocations as the previous layout showed them: strings instead of references (joins, so a
-- scan of many rows hashes the small dictionary instead of looking each string up).
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
    i.source_id
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
