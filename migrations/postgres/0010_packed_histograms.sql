-- Latency histograms move into their rollup cell (issue 14): each cell keeps its two
-- histograms as lists of `bin << 40 | count` entries sorted by bin (see src/rollup.rs), so a
-- batch writes one row per cell instead of one per bin, and a month's latency read touches
-- the cells alone.
ALTER TABLE rollups
    ADD COLUMN latency_hist     BIGINT[] NOT NULL DEFAULT '{}',
    ADD COLUMN first_token_hist BIGINT[] NOT NULL DEFAULT '{}';

UPDATE rollups r SET latency_hist = h.total, first_token_hist = h.first_token
FROM (
    SELECT granularity, bucket_start, series_id,
        COALESCE(array_agg((bin::BIGINT << 40) | count ORDER BY bin) FILTER (WHERE metric = 0),
            '{}') AS total,
        COALESCE(array_agg((bin::BIGINT << 40) | count ORDER BY bin) FILTER (WHERE metric = 1),
            '{}') AS first_token
    FROM latency_bins
    GROUP BY granularity, bucket_start, series_id
) h
WHERE r.granularity = h.granularity AND r.bucket_start = h.bucket_start
    AND r.series_id = h.series_id;

DROP TABLE latency_bins;

-- Two packed histograms merged: counts of equal bins added, bins kept in order.
CREATE FUNCTION merge_latency_histograms(stored BIGINT[], added BIGINT[]) RETURNS BIGINT[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN cardinality(added) = 0 THEN stored
        WHEN cardinality(stored) = 0 THEN added
        ELSE (
            SELECT array_agg((bin << 40) | total ORDER BY bin)
            FROM (
                SELECT entry >> 40 AS bin, SUM(entry & 1099511627775)::BIGINT AS total
                FROM unnest(stored || added) AS entries(entry)
                GROUP BY 1
            ) AS bins
        )
    END
$$;
