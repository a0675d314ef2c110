-- A non-human identity whose owner left carries `owner_left` in its document
-- until it has an active owner again or is disabled. Its deadline (Unix
-- milliseconds; 0 when not flagged) is a column, kept by every identity
-- write, so the flagged and the overdue ones are one indexed read for the
-- list, the count and the overdue check.
ALTER TABLE identities ADD COLUMN owner_left_due INTEGER NOT NULL DEFAULT 0;
CREATE INDEX identities_by_owner_left_due ON identities (owner_left_due, id) WHERE owner_left_due > 0;
