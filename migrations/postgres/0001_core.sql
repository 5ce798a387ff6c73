-- Core schema: where records came from, the prices that made each cost, invocations,
-- rollups with latency histograms, quarantined records and source checkpoints.
-- Times are Unix milliseconds (ts_ms) or seconds (bucket_start), UTC. Money is picodollars.

CREATE TABLE ingest_sources (
    id          BIGSERIAL PRIMARY KEY,
    kind        TEXT NOT NULL,           -- 'file', 'cloudwatch_logs', ...
    name        TEXT NOT NULL,           -- file path, log group ARN, ...
    UNIQUE (kind, name)
);

-- One row per distinct price that produced a stored cost (provenance). Rows are never
-- updated: a changed price table adds rows, so old costs keep pointing at what made them.
CREATE TABLE price_rows (
    id               BIGSERIAL PRIMARY KEY,
    fingerprint      TEXT NOT NULL UNIQUE,
    region           TEXT NOT NULL,
    model_id         TEXT NOT NULL,
    tier             TEXT NOT NULL,
    routing          TEXT NOT NULL,
    effective_from   TEXT NOT NULL,       -- YYYY-MM-DD
    input_rate       BIGINT,              -- micro-dollars per 1M tokens
    output_rate      BIGINT,
    cache_read_rate  BIGINT,
    cache_write_rate BIGINT,
    derivation       TEXT,
    source           TEXT,
    first_used_ms    BIGINT NOT NULL
);

-- Keyed on what makes a record unique, so re-imports and re-polls store nothing twice.
-- price_id, standard_price_id and source_id point into price_rows and ingest_sources; they
-- are not declared as foreign keys because a per-row check on every insert would cost more
-- than the whole insert, and the ids only ever come from rows tierwatch created.
CREATE TABLE invocations (
    account_id          TEXT NOT NULL,
    region              TEXT NOT NULL,
    request_id          TEXT NOT NULL,
    ts_ms               BIGINT NOT NULL,
    inference_region    TEXT,
    operation           TEXT NOT NULL,
    model_called        TEXT NOT NULL,
    model_id            TEXT NOT NULL,
    routing             TEXT NOT NULL,
    model_resolved      BOOLEAN NOT NULL,
    caller_arn          TEXT,
    request_metadata    TEXT,
    requested_tier      TEXT,
    tier                TEXT NOT NULL,    -- served (billed) tier
    tier_source         TEXT NOT NULL,
    input_tokens        BIGINT,           -- NULL = the record did not say
    output_tokens       BIGINT,
    cache_read_tokens   BIGINT,
    cache_write_tokens  BIGINT,
    latency_ms          BIGINT,
    first_token_ms      BIGINT,
    error_code          TEXT,
    pricing_status      TEXT NOT NULL,    -- 'priced' | 'unpriced' | 'not_billed'
    price_id            BIGINT,
    cost_pico           BIGINT,
    standard_price_id   BIGINT,
    standard_cost_pico  BIGINT,
    unpriced_reason     TEXT,
    source_id           BIGINT NOT NULL,
    PRIMARY KEY (account_id, region, request_id)
);
CREATE INDEX invocations_ts ON invocations (ts_ms);
CREATE INDEX invocations_unpriced ON invocations (ts_ms) WHERE pricing_status = 'unpriced';

-- One row per (account, region, model, served tier): rollups key on its small id instead of
-- repeating four text columns in every cell and histogram bin.
CREATE TABLE series (
    id         BIGSERIAL PRIMARY KEY,
    account_id TEXT NOT NULL,
    region     TEXT NOT NULL,
    model_id   TEXT NOT NULL,
    tier       TEXT NOT NULL,
    UNIQUE (account_id, region, model_id, tier)
);

CREATE TABLE rollups (
    granularity          INTEGER NOT NULL,  -- bucket width in seconds: 60, 3600, 86400
    bucket_start         BIGINT NOT NULL,   -- Unix seconds, UTC
    series_id            BIGINT NOT NULL,   -- series (account, region, model, tier)
    invocations          BIGINT NOT NULL,
    errors               BIGINT NOT NULL,
    input_tokens         BIGINT NOT NULL,
    output_tokens        BIGINT NOT NULL,
    cache_read_tokens    BIGINT NOT NULL,
    cache_write_tokens   BIGINT NOT NULL,
    priced_invocations   BIGINT NOT NULL,
    unpriced_invocations BIGINT NOT NULL,
    cost_pico            BIGINT NOT NULL,
    standard_cost_pico   BIGINT NOT NULL,
    compared_cost_pico   BIGINT NOT NULL,
    latency_count        BIGINT NOT NULL,
    latency_sum_ms       BIGINT NOT NULL,
    first_token_count    BIGINT NOT NULL,
    first_token_sum_ms   BIGINT NOT NULL,
    PRIMARY KEY (granularity, bucket_start, series_id)
);

-- Latency histograms of rollup cells: fixed log bins (see src/rollup.rs), merged by adding.
CREATE TABLE latency_bins (
    granularity  INTEGER NOT NULL,
    bucket_start BIGINT NOT NULL,
    series_id    BIGINT NOT NULL,
    metric       SMALLINT NOT NULL,         -- 0 = time to last token, 1 = time to first token
    bin          SMALLINT NOT NULL,
    count        BIGINT NOT NULL,
    PRIMARY KEY (granularity, bucket_start, series_id, metric, bin)
);

CREATE TABLE quarantine (
    id            BIGSERIAL PRIMARY KEY,
    source_id     BIGINT NOT NULL REFERENCES ingest_sources (id),
    location      TEXT NOT NULL,            -- 'line 12', a log event id, ...
    reason        TEXT NOT NULL,            -- a RejectReason name
    detail        TEXT NOT NULL,
    excerpt       TEXT NOT NULL,
    first_seen_ms BIGINT NOT NULL,
    UNIQUE (source_id, location)
);

-- Where each continuous source has read up to; written in the same transaction as the data.
CREATE TABLE checkpoints (
    source_id  BIGINT PRIMARY KEY REFERENCES ingest_sources (id),
    position   TEXT NOT NULL,
    updated_ms BIGINT NOT NULL
);
