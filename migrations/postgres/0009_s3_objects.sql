-- The S3 objects whose records are stored (issue 13): one row per object version read,
-- written in the same transaction as the object's records, so a restarted or second daemon
-- knows an object is done without reading it again. `source_id` is the account × region
-- delivery prefix (an `ingest_sources` row of kind 's3', whose checkpoint is the listing's
-- last committed key). A rewritten object has a new ETag and is read again; its records are
-- deduplicated by request id like any re-read.
CREATE TABLE s3_objects (
    source_id   BIGINT NOT NULL,
    object_key  TEXT NOT NULL,
    etag        TEXT NOT NULL,
    size_bytes  BIGINT NOT NULL,
    records     BIGINT NOT NULL,         -- records read (stored, duplicates and rejected)
    stored_ms   BIGINT NOT NULL,
    PRIMARY KEY (source_id, object_key, etag)
);
CREATE INDEX s3_objects_stored ON s3_objects (stored_ms);
