-- Histogram reads (dashboard latency) scan this index alone, never the table: every column
-- they need is in it, in the order they filter by.
CREATE INDEX latency_bins_read ON latency_bins (granularity, metric, bucket_start, series_id, bin, count);

-- A counter bumped after every committed write. Readers cache aggregate results per
-- generation, so a repeated page view costs one tiny read until new data lands, on every
-- replica (the counter lives in the shared database).
CREATE TABLE data_generation (
    id    INTEGER PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO data_generation (id, value) VALUES (1, 0);
