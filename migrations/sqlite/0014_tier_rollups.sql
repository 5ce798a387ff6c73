-- Tier cells (issue 14): the rollup cells of every series summed per tier, kept beside them in
-- the same transactions. A dashboard read with no account, region or model in its filter or
-- grouping (the overview, its hourly chart, month views, the API overview) reads these: a
-- week of hourly bars is 168 × 4 tier cells instead of 168 × every series.
CREATE TABLE tier_rollups (
    granularity          INTEGER NOT NULL,  -- bucket width in seconds: 60, 3600, 86400
    bucket_start         BIGINT NOT NULL,   -- Unix seconds, UTC
    tier                 TEXT NOT NULL,     -- as series.tier
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
    latency_hist         TEXT NOT NULL DEFAULT '[]',  -- JSON arrays, as in rollups
    first_token_hist     TEXT NOT NULL DEFAULT '[]',
    PRIMARY KEY (granularity, bucket_start, tier)
);

-- The cells stored so far, summed per tier.
INSERT INTO tier_rollups (granularity, bucket_start, tier, invocations, errors, input_tokens,
    output_tokens, cache_read_tokens, cache_write_tokens, priced_invocations,
    unpriced_invocations, cost_pico, standard_cost_pico, compared_cost_pico, latency_count,
    latency_sum_ms, first_token_count, first_token_sum_ms)
SELECT r.granularity, r.bucket_start, s.tier, SUM(r.invocations), SUM(r.errors),
    SUM(r.input_tokens), SUM(r.output_tokens), SUM(r.cache_read_tokens),
    SUM(r.cache_write_tokens), SUM(r.priced_invocations), SUM(r.unpriced_invocations),
    SUM(r.cost_pico), SUM(r.standard_cost_pico), SUM(r.compared_cost_pico),
    SUM(r.latency_count), SUM(r.latency_sum_ms), SUM(r.first_token_count),
    SUM(r.first_token_sum_ms)
FROM rollups r JOIN series s ON s.id = r.series_id
GROUP BY r.granularity, r.bucket_start, s.tier;

-- Their histograms: each bin's counts added over the tier's series (`>> 40` and the 40-bit
-- mask as in src/rollup.rs).
UPDATE tier_rollups SET
    latency_hist = (
        SELECT json_group_array(entry) FROM (
            SELECT ((j.value >> 40) << 40) | SUM(j.value & 1099511627775) AS entry
            FROM rollups r JOIN series s ON s.id = r.series_id, json_each(r.latency_hist) j
            WHERE r.granularity = tier_rollups.granularity
                AND r.bucket_start = tier_rollups.bucket_start AND s.tier = tier_rollups.tier
            GROUP BY j.value >> 40 ORDER BY 1)),
    first_token_hist = (
        SELECT json_group_array(entry) FROM (
            SELECT ((j.value >> 40) << 40) | SUM(j.value & 1099511627775) AS entry
            FROM rollups r JOIN series s ON s.id = r.series_id, json_each(r.first_token_hist) j
            WHERE r.granularity = tier_rollups.granularity
                AND r.bucket_start = tier_rollups.bucket_start AND s.tier = tier_rollups.tier
            GROUP BY j.value >> 40 ORDER BY 1));

-- A read filtered by account, region or model reads a few series' cells: found by series
-- first, it reads those cells alone instead of every series' cells of the span (a model's
-- week of hourly bars at 1M calls: 1,783 cells instead of 16,799; 10 ms → 4 ms on Postgres).
CREATE INDEX rollups_by_series ON rollups (series_id, granularity, bucket_start);
