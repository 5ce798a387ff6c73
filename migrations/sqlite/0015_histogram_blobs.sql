-- Packed latency histograms become blobs (issue 14): each `bin << 40 | count` entry as 8
-- bytes, most significant first, in bin order (see src/store/sqlite.rs, `histogram_blob`).
-- As JSON text a month's cells took longer to parse than to read (1.35 MB of numbers for a
-- month-to-date models page at 10M calls); a blob is copied, not parsed. Merging moves out of
-- SQL: a write reads the stored blobs of its cells and writes them back merged. Only JSON
-- text is converted, so the statements can run again over cells already converted.
UPDATE rollups SET
    latency_hist = CASE WHEN typeof(latency_hist) = 'text' THEN COALESCE((
        SELECT unhex(group_concat(printf('%016X', j.value), '' ORDER BY j.key))
        FROM json_each(rollups.latency_hist) j), X'') ELSE latency_hist END,
    first_token_hist = CASE WHEN typeof(first_token_hist) = 'text' THEN COALESCE((
        SELECT unhex(group_concat(printf('%016X', j.value), '' ORDER BY j.key))
        FROM json_each(rollups.first_token_hist) j), X'') ELSE first_token_hist END
WHERE typeof(latency_hist) = 'text' OR typeof(first_token_hist) = 'text';

UPDATE tier_rollups SET
    latency_hist = CASE WHEN typeof(latency_hist) = 'text' THEN COALESCE((
        SELECT unhex(group_concat(printf('%016X', j.value), '' ORDER BY j.key))
        FROM json_each(tier_rollups.latency_hist) j), X'') ELSE latency_hist END,
    first_token_hist = CASE WHEN typeof(first_token_hist) = 'text' THEN COALESCE((
        SELECT unhex(group_concat(printf('%016X', j.value), '' ORDER BY j.key))
        FROM json_each(tier_rollups.first_token_hist) j), X'') ELSE first_token_hist END
WHERE typeof(latency_hist) = 'text' OR typeof(first_token_hist) = 'text';
