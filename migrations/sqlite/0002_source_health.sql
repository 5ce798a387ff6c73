-- The daemon's view of its own sources: one row per source and kind of poll
-- ('logs', 'metrics', 'quotas'), updated after every cycle by whichever replica ran it.
CREATE TABLE source_health (
    source               TEXT NOT NULL,
    kind                 TEXT NOT NULL,
    daemon_id            TEXT NOT NULL,    -- host/process of the replica that ran the cycle
    last_attempt_ms      BIGINT NOT NULL,
    last_success_ms      BIGINT,
    last_error           TEXT,             -- NULL when the last cycle succeeded
    consecutive_failures BIGINT NOT NULL,
    lag_ms               BIGINT,           -- how far the data is behind real time
    items_last_cycle     BIGINT NOT NULL,  -- events, metric points or quotas read
    api_calls_last_cycle BIGINT NOT NULL,  -- AWS API attempts, retries included
    cycle_ms             BIGINT NOT NULL,  -- how long the cycle took
    PRIMARY KEY (source, kind)
);
