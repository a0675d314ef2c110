-- Reconciliation (issue 6). A grant's target, entitlement and drift beside its
-- document, so a target's whole ledger is read from columns alone; existing
-- rows are filled from their documents (`entitlement` is `target/name`; a
-- document without drift, as every older one is, gets '').
ALTER TABLE grants ADD COLUMN target TEXT NOT NULL DEFAULT '';
ALTER TABLE grants ADD COLUMN entitlement TEXT NOT NULL DEFAULT '';
ALTER TABLE grants ADD COLUMN drift TEXT NOT NULL DEFAULT '';
UPDATE grants SET
    entitlement = doc::json->>'entitlement',
    target = split_part(doc::json->>'entitlement', '/', 1),
    drift = coalesce(doc::json->'drift'->>'kind', '');
CREATE INDEX grants_by_target ON grants (target);

-- One finished run of one target. Written once, never updated.
CREATE TABLE reconcile_runs (
    id          TEXT PRIMARY KEY,
    target      TEXT NOT NULL,
    started_at  BIGINT NOT NULL,
    version     BIGINT NOT NULL,
    doc         TEXT NOT NULL
);
CREATE INDEX reconcile_runs_by_target ON reconcile_runs (target, started_at);

-- A run's observations (its exceptions; matched rows are only counted), in the
-- order they were made.
CREATE TABLE reconcile_observations (
    run_id      TEXT NOT NULL,
    seq         BIGINT NOT NULL,
    situation   TEXT NOT NULL,
    doc         TEXT NOT NULL,
    PRIMARY KEY (run_id, seq)
);
