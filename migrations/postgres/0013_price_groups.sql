-- Price groups of the days whose raw invocations retention dropped (issue 14). A price
-- decision reads only a call's day, account, region, model (as called, as resolved, routing),
-- served tier, whether it failed, and which token counts it has; its cost is Σ tokens × rate.
-- So before a month's raw invocations are dropped, its calls are summed per such group here,
-- and `reprice` of that month later reprices its day cells and unpriced causes from these
-- rows exactly (see src/store/reprice.rs). The maxima bound the counts of the group's calls:
-- a decision taken for one token and for the maxima that names the same linear price row
-- names it for every call in between.
CREATE TABLE price_groups (
    bucket_start       BIGINT NOT NULL,   -- Unix seconds, a whole UTC day
    account_ref        INTEGER NOT NULL,  -- dictionary ids, as invocations hold them
    region_ref         INTEGER NOT NULL,
    model_called_ref   INTEGER NOT NULL,
    model_id_ref       INTEGER NOT NULL,
    model_resolved     BOOLEAN NOT NULL,
    routing_ref        INTEGER NOT NULL,
    tier_ref           INTEGER NOT NULL,
    error_code_key     INTEGER NOT NULL,  -- 0: no error code
    token_shape        INTEGER NOT NULL,  -- per type none / zero / some (see rows::token_shape)
    invocations        BIGINT NOT NULL,
    input_tokens       BIGINT NOT NULL,   -- sums
    output_tokens      BIGINT NOT NULL,
    cache_read_tokens  BIGINT NOT NULL,
    cache_write_tokens BIGINT NOT NULL,
    max_input          BIGINT,            -- maxima (NULL: no call of the group said)
    max_output         BIGINT,
    max_cache_read     BIGINT,
    max_cache_write    BIGINT,
    PRIMARY KEY (bucket_start, account_ref, region_ref, model_called_ref, model_id_ref,
        model_resolved, routing_ref, tier_ref, error_code_key, token_shape)
);
