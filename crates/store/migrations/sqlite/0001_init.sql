-- Writ schema, SQLite flavour. Aggregates are stored as JSON documents (`doc`)
-- beside the columns that queries filter on. Times are Unix milliseconds.
CREATE TABLE identities (
    id          TEXT PRIMARY KEY,
    doc         TEXT NOT NULL,
    updated_at  INTEGER NOT NULL
);

CREATE TABLE api_tokens (
    hash        TEXT PRIMARY KEY,          -- SHA-256 of the token; the token itself is never stored
    identity_id TEXT NOT NULL,
    label       TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);

CREATE TABLE requests (
    id          TEXT PRIMARY KEY,
    state       TEXT NOT NULL,
    requester   TEXT NOT NULL,
    subject     TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    lapses_at   INTEGER NOT NULL,
    version     INTEGER NOT NULL,
    doc         TEXT NOT NULL
);
CREATE INDEX requests_by_state ON requests (state, lapses_at);
CREATE INDEX requests_by_requester ON requests (requester, created_at);
CREATE INDEX requests_by_subject ON requests (subject, created_at);

CREATE TABLE tasks (
    id          TEXT PRIMARY KEY,
    request_id  TEXT NOT NULL,
    is_open     INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    version     INTEGER NOT NULL,
    doc         TEXT NOT NULL
);
CREATE INDEX tasks_by_request ON tasks (request_id);
CREATE INDEX tasks_open ON tasks (is_open, created_at);

CREATE TABLE grants (
    id          TEXT PRIMARY KEY,
    request_id  TEXT NOT NULL,
    subject     TEXT NOT NULL,
    is_active   INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    version     INTEGER NOT NULL,
    doc         TEXT NOT NULL
);
CREATE INDEX grants_by_subject ON grants (subject, is_active);
CREATE INDEX grants_by_request ON grants (request_id);
CREATE INDEX grants_by_expiry ON grants (is_active, expires_at);

-- The hash-chained audit log. Append-only: nothing in Writ updates or deletes a row.
CREATE TABLE audit_events (
    seq         INTEGER PRIMARY KEY,
    at          INTEGER NOT NULL,
    actor       TEXT NOT NULL,
    kind        TEXT NOT NULL,
    request_id  TEXT,
    payload     TEXT NOT NULL,
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL
);
CREATE INDEX audit_by_request ON audit_events (request_id, seq);

-- One row: the log's size and head hash. Every write transaction updates it
-- first, which serialises appends to the chain.
CREATE TABLE audit_head (
    id          INTEGER PRIMARY KEY,
    seq         INTEGER NOT NULL,
    hash        TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

CREATE TABLE audit_checkpoints (
    size        INTEGER PRIMARY KEY,
    head        TEXT NOT NULL,
    at          INTEGER NOT NULL,
    public_key  TEXT NOT NULL,
    signature   TEXT NOT NULL
);
