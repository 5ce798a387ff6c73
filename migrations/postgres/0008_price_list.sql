-- The AWS Price List as tierwatch stores it (`tierwatch prices sync` / `prices import`):
-- every version (run) and every price row any version published. Rows are never updated or
-- deleted: a changed price is a new row effective from its own date, so old months keep the
-- prices that applied to them. Also Bedrock's model list per region (used to map Price List
-- names to model ids) and the application inference profiles resolved to their model.

CREATE TABLE price_list_versions (
    id           BIGSERIAL PRIMARY KEY,
    created_ms   BIGINT NOT NULL,
    origin       TEXT NOT NULL,          -- 'sync' or 'import'
    detail       TEXT NOT NULL,          -- endpoint and service codes, or file names
    products     BIGINT NOT NULL,        -- products read
    rows_seen    BIGINT NOT NULL,        -- price rows the run mapped to a model
    rows_added   BIGINT NOT NULL,        -- of those, rows stored new by this run
    summary      TEXT NOT NULL           -- JSON: skipped products by reason, unmapped names, conflicts
);

CREATE TABLE price_list_rows (
    id              BIGSERIAL PRIMARY KEY,
    version_id      BIGINT NOT NULL REFERENCES price_list_versions (id),
    region          TEXT NOT NULL,
    model_id        TEXT NOT NULL,
    tier            TEXT NOT NULL,
    routing         TEXT NOT NULL,       -- regional, geo, global
    meter           TEXT NOT NULL,       -- input, output, cache_read, cache_write, cache_write_1h, reserved_*
    effective_from  TEXT NOT NULL,       -- YYYY-MM-DD
    rate_micros     BIGINT NOT NULL,     -- micro-dollars per 1M tokens (per 1M TPM-hours for reserved)
    model_name      TEXT NOT NULL,       -- as the Price List names the model
    provenance      TEXT NOT NULL,       -- JSON: service code, SKU, term, usage type, unit, dates
    UNIQUE (region, model_id, tier, routing, meter, effective_from, rate_micros)
);

CREATE TABLE foundation_models (
    region      TEXT NOT NULL,
    model_id    TEXT NOT NULL,
    model_name  TEXT NOT NULL,
    provider    TEXT NOT NULL,
    seen_ms     BIGINT NOT NULL,
    PRIMARY KEY (region, model_id)
);

CREATE TABLE inference_profiles (
    arn          TEXT PRIMARY KEY,       -- the application inference profile as called
    model_id     TEXT,                   -- its foundation model; NULL when it could not be resolved
    name         TEXT,
    detail       TEXT NOT NULL,          -- how it was resolved, or why not
    resolved_ms  BIGINT NOT NULL
);
