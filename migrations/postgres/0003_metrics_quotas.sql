-- CloudWatch AWS/Bedrock metrics, Service Quotas, and the coverage check between logs and
-- metrics. Written by the daemon's metrics and quotas polls (src/sources/).

-- One row per metric, dimension set and statistic that ListMetrics discovered for a source.
CREATE TABLE metric_series (
    id           BIGSERIAL PRIMARY KEY,
    source       TEXT NOT NULL,   -- the [[sources]] name
    account_id   TEXT NOT NULL,
    region       TEXT NOT NULL,
    metric_name  TEXT NOT NULL,   -- as AWS names it (InputTokenCount, InvocationLatency, ...)
    dimensions   TEXT NOT NULL,   -- the dimension set, canonical JSON: [["ModelId","..."],...]
    statistic    TEXT NOT NULL,   -- Sum, Average, SampleCount, p50, p90, p95, p99
    model_called TEXT NOT NULL,   -- the ModelId dimension without a tier suffix ('' if none)
    model_id     TEXT NOT NULL,   -- normalized like invocation logs' model ids ('' if none)
    tier         TEXT NOT NULL,   -- priority/standard/flex/reserved, or '' (all tiers together)
    tier_form    TEXT NOT NULL,   -- where the tier came from: none, resolved_dimension,
                                  -- requested_dimension, model_suffix
    UNIQUE (source, metric_name, dimensions, statistic)
);

-- Per-minute values (60 s period) of a series; re-fetched minutes overwrite what was stored.
CREATE TABLE metric_points (
    series_id    BIGINT NOT NULL,
    minute_start BIGINT NOT NULL,  -- Unix seconds
    value        DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (series_id, minute_start)
);

-- The latest ListServiceQuotas answer for service code bedrock, per source.
CREATE TABLE service_quotas (
    source       TEXT NOT NULL,
    account_id   TEXT NOT NULL,
    region       TEXT NOT NULL,
    quota_code   TEXT NOT NULL,
    quota_name   TEXT NOT NULL,
    value        DOUBLE PRECISION NOT NULL,
    adjustable   BOOLEAN,
    scope        TEXT NOT NULL,   -- on_demand, cross_region, global_cross_region, other
    quota_kind   TEXT NOT NULL,   -- tokens_per_minute, requests_per_minute, tokens_per_day, other
    model_name   TEXT,            -- the model as the quota names it ("OpenAI GPT OSS 120B")
    model_id     TEXT,            -- the model id matched to that name, if any
    fetched_ms   BIGINT NOT NULL,
    PRIMARY KEY (source, quota_code)
);

-- Per model, tier and hour: tokens and invocations seen in invocation logs against what
-- CloudWatch metrics count. tier '' compares all tiers (metrics without a tier dimension).
CREATE TABLE coverage (
    account_id         TEXT NOT NULL,
    region             TEXT NOT NULL,
    model_id           TEXT NOT NULL,
    tier               TEXT NOT NULL,
    hour_start         BIGINT NOT NULL,  -- Unix seconds
    log_invocations    BIGINT NOT NULL,
    log_tokens         BIGINT NOT NULL,  -- input + output, as the metrics count them
    metric_invocations BIGINT,           -- NULL when the metrics have no such series
    metric_tokens      BIGINT,
    status             TEXT NOT NULL,    -- ok, gap, logs_missing, metrics_missing
    checked_ms         BIGINT NOT NULL,
    PRIMARY KEY (account_id, region, model_id, tier, hour_start)
);
CREATE INDEX coverage_hour ON coverage (hour_start);
