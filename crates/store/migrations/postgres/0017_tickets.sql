-- Tickets taken in from service desks, chat or the API as free text (issue
-- 14): one row per ticket, its aggregate as a JSON document. (source,
-- external_ref) is unique: a second delivery of the same ticket is the same
-- ticket. triage_agreed: -1 no triage yet, 0 the person chose another type
-- than the classifier, 1 the same (production categorisation accuracy).
CREATE TABLE tickets (
    id            TEXT PRIMARY KEY,
    source        TEXT NOT NULL,
    external_ref  TEXT NOT NULL,
    state         TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    triage_agreed BIGINT NOT NULL,
    version       BIGINT NOT NULL,
    doc           TEXT NOT NULL
);
CREATE UNIQUE INDEX tickets_by_ref ON tickets (source, external_ref);
CREATE INDEX tickets_by_state ON tickets (state, created_at);
