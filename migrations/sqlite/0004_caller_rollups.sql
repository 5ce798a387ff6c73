-- Cost by caller: the same exact sums as `rollups` (without latency), split further by one
-- caller dimension at a time: 'identity' (the caller's identity.arn) or 'meta:KEY' (a
-- configured requestMetadata key such as team or app). Every invocation adds to every
-- dimension, with '' when it has no value for it, so each dimension adds up to the total.
-- Hour and day buckets only: caller views don't need minutes, and minutes would multiply rows.
CREATE TABLE caller_rollups (
    granularity          INTEGER NOT NULL,
    bucket_start         BIGINT NOT NULL,
    series_id            BIGINT NOT NULL,
    dimension            TEXT NOT NULL,
    value                TEXT NOT NULL,
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
    PRIMARY KEY (granularity, dimension, bucket_start, series_id, value)
);
