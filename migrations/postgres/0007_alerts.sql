-- Alerts: one row per alert (rule × instance × threshold × period) with its lifecycle state,
-- the history of notifications, and their deliveries per channel (an outbox: written in the
-- same transaction as the state change, sent afterwards, retried until delivered).

CREATE TABLE alert_states (
    alert_key        TEXT PRIMARY KEY,   -- rule|instance|threshold|period
    rule             TEXT NOT NULL,
    instance         TEXT NOT NULL,
    threshold        DOUBLE PRECISION NOT NULL,
    severity         TEXT NOT NULL,
    period           TEXT NOT NULL,
    state            TEXT NOT NULL,      -- inactive, pending, firing, resolved
    since_ms         BIGINT NOT NULL,
    last_notified_ms BIGINT,
    value            DOUBLE PRECISION,
    shown            TEXT NOT NULL,
    link             TEXT NOT NULL,
    updated_ms       BIGINT NOT NULL
);
CREATE INDEX alert_states_rule ON alert_states (rule, state);

CREATE TABLE alert_events (
    id         BIGSERIAL PRIMARY KEY,
    alert_key  TEXT NOT NULL,
    rule       TEXT NOT NULL,
    kind       TEXT NOT NULL,            -- the rule's kind, or 'report' / 'test'
    instance   TEXT NOT NULL,
    severity   TEXT NOT NULL,
    period     TEXT NOT NULL,
    notice     TEXT NOT NULL,            -- firing, repeat, resolved, test, report
    value      DOUBLE PRECISION,
    threshold  DOUBLE PRECISION,
    shown      TEXT NOT NULL,
    link       TEXT NOT NULL,
    at_ms      BIGINT NOT NULL
);
CREATE INDEX alert_events_at ON alert_events (at_ms);

CREATE TABLE alert_deliveries (
    event_id        BIGINT NOT NULL,
    channel         TEXT NOT NULL,
    status          TEXT NOT NULL,       -- pending, sent, failed
    attempts        INTEGER NOT NULL,
    next_attempt_ms BIGINT NOT NULL,
    last_error      TEXT,
    sent_ms         BIGINT,
    PRIMARY KEY (event_id, channel)
);
CREATE INDEX alert_deliveries_due ON alert_deliveries (status, next_attempt_ms);

-- Scheduled monthly reports already written (so a restart doesn't send one twice).
CREATE TABLE report_runs (
    month      TEXT PRIMARY KEY,
    written_ms BIGINT NOT NULL,
    files      TEXT NOT NULL
);
