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

-- Invocations as the previous layout showed them: strings instead of references.
CREATE VIEW invocation_rows AS
SELECT
    (SELECT value FROM dictionary WHERE id = i.account_ref) AS account_id,
    (SELECT value FROM dictionary WHERE id = i.region_ref) AS region,
    COALESCE(i.request_text, lower(substr(hex(i.request_key), 1, 8) || '-'
        || substr(hex(i.request_key), 9, 4) || '-' || substr(hex(i.request_key), 13, 4) || '-'
        || substr(hex(i.request_key), 17, 4) || '-' || substr(hex(i.request_key), 21))) AS request_id,
    i.ts_ms,
    (SELECT value FROM dictionary WHERE id = i.inference_region_ref) AS inference_region,
    (SELECT value FROM dictionary WHERE id = i.operation_ref) AS operation,
    (SELECT value FROM dictionary WHERE id = i.model_called_ref) AS model_called,
    (SELECT value FROM dictionary WHERE id = i.model_id_ref) AS model_id,
    (SELECT value FROM dictionary WHERE id = i.routing_ref) AS routing,
    i.model_resolved,
    (SELECT value FROM dictionary WHERE id = i.caller_arn_ref) AS caller_arn,
    i.request_metadata,
    (SELECT value FROM dictionary WHERE id = i.requested_tier_ref) AS requested_tier,
    (SELECT value FROM dictionary WHERE id = i.tier_ref) AS tier,
    (SELECT value FROM dictionary WHERE id = i.tier_source_ref) AS tier_source,
    i.input_tokens, i.output_tokens, i.cache_read_tokens, i.cache_write_tokens,
    i.latency_ms, i.first_token_ms,
    (SELECT value FROM dictionary WHERE id = i.error_code_ref) AS error_code,
    (SELECT value FROM dictionary WHERE id = i.pricing_status_ref) AS pricing_status,
    i.price_id, i.cost_pico, i.standard_price_id, i.standard_cost_pico,
    (SELECT value FROM dictionary WHERE id = i.unpriced_reason_ref) AS unpriced_reason,
    i.source_id
FROM invocations i;
