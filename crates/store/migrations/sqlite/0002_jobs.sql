-- Durable work queued by a committed change (provisioning through a connector),
-- claimed by a worker for a lease so that a crashed worker's job is taken up
-- again. A job is deleted when its outcome is committed; the audit log keeps
-- the record of what it did.
CREATE TABLE jobs (
    id            TEXT PRIMARY KEY,
    request_id    TEXT NOT NULL,
    due_at        BIGINT NOT NULL,
    claimed_until BIGINT NOT NULL,
    doc           TEXT NOT NULL
);
CREATE INDEX jobs_due ON jobs (due_at);
