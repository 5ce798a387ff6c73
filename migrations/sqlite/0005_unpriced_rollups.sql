-- Unpriced invocations per day, series and cause, so the data-health page and the monthly
-- report list unpriced models from rollups instead of scanning invocations.
CREATE TABLE unpriced_rollups (
    bucket_start BIGINT NOT NULL,   -- Unix seconds, a whole UTC day
    series_id    BIGINT NOT NULL,
    reason       TEXT NOT NULL,
    invocations  BIGINT NOT NULL,
    PRIMARY KEY (bucket_start, series_id, reason)
);

-- Databases written before this version: unpriced invocations already stored.
INSERT INTO unpriced_rollups (bucket_start, series_id, reason, invocations)
SELECT (i.ts_ms / 86400000) * 86400, s.id, COALESCE(i.unpriced_reason, ''), COUNT(*)
FROM invocations i
JOIN series s ON s.account_id = i.account_id AND s.region = i.region
    AND s.model_id = i.model_id AND s.tier = i.tier
WHERE i.pricing_status = 'unpriced'
GROUP BY 1, 2, 3;

-- Databases written before caller rollups existed (0004): cost by identity.arn for the
-- invocations already stored, per hour and day. Metadata keys (team, app, ...) depend on
-- configuration; `tierwatch reprice --month YYYY-MM` rebuilds them for older months.
INSERT INTO caller_rollups (granularity, bucket_start, series_id, dimension, value,
    invocations, errors, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens,
    priced_invocations, unpriced_invocations, cost_pico, standard_cost_pico, compared_cost_pico)
SELECT g.seconds, (i.ts_ms / (g.seconds * 1000)) * g.seconds, s.id, 'identity',
    SUBSTR(COALESCE(i.caller_arn, ''), 1, 200),
    COUNT(*),
    SUM(CASE WHEN i.error_code IS NULL THEN 0 ELSE 1 END),
    SUM(COALESCE(i.input_tokens, 0)),
    SUM(COALESCE(i.output_tokens, 0)),
    SUM(COALESCE(i.cache_read_tokens, 0)),
    SUM(COALESCE(i.cache_write_tokens, 0)),
    SUM(CASE WHEN i.pricing_status = 'priced' THEN 1 ELSE 0 END),
    SUM(CASE WHEN i.pricing_status = 'unpriced' THEN 1 ELSE 0 END),
    SUM(CASE WHEN i.pricing_status = 'priced' THEN COALESCE(i.cost_pico, 0) ELSE 0 END),
    SUM(CASE WHEN i.pricing_status = 'priced' THEN COALESCE(i.standard_cost_pico, 0) ELSE 0 END),
    SUM(CASE WHEN i.pricing_status = 'priced' AND i.standard_cost_pico IS NOT NULL
        THEN COALESCE(i.cost_pico, 0) ELSE 0 END)
FROM invocations i
JOIN series s ON s.account_id = i.account_id AND s.region = i.region
    AND s.model_id = i.model_id AND s.tier = i.tier
CROSS JOIN (SELECT 3600 AS seconds UNION ALL SELECT 86400) g
WHERE NOT EXISTS (SELECT 1 FROM caller_rollups)
GROUP BY 1, 2, 3, 4, 5;
