-- Latency histograms move into their rollup cell (issue 14): each cell keeps its two
-- histograms as JSON arrays of `bin << 40 | count` entries sorted by bin (see
-- src/rollup.rs), so a batch writes one row per cell instead of one per bin, and a month's
-- latency read touches the cells alone (json_each unpacks them).
ALTER TABLE rollups ADD COLUMN latency_hist TEXT NOT NULL DEFAULT '[]';
ALTER TABLE rollups ADD COLUMN first_token_hist TEXT NOT NULL DEFAULT '[]';

UPDATE rollups SET
    latency_hist = (
        SELECT json_group_array(entry) FROM (
            SELECT (b.bin << 40) | b.count AS entry FROM latency_bins b
            WHERE b.granularity = rollups.granularity AND b.bucket_start = rollups.bucket_start
                AND b.series_id = rollups.series_id AND b.metric = 0
            ORDER BY b.bin)),
    first_token_hist = (
        SELECT json_group_array(entry) FROM (
            SELECT (b.bin << 40) | b.count AS entry FROM latency_bins b
            WHERE b.granularity = rollups.granularity AND b.bucket_start = rollups.bucket_start
                AND b.series_id = rollups.series_id AND b.metric = 1
            ORDER BY b.bin));

DROP TABLE latency_bins;
