-- Exceptions counted and found by index, not by loading documents: when a
-- grant's removal started (0 unless it is revoking), and when a break-glass
-- use's open review is an exception (0: rejected and unresolved; its deadline
-- while it awaits a verdict). Existing rows are filled from their documents.
ALTER TABLE grants ADD COLUMN removal_since BIGINT NOT NULL DEFAULT 0;
UPDATE grants SET removal_since =
    round(extract(epoch from (doc::json->'state'->>'since')::timestamptz) * 1000)::bigint
    WHERE state = 'revoking';
CREATE INDEX grants_removal_since ON grants (state, removal_since);

ALTER TABLE requests ADD COLUMN review_exception_at BIGINT NOT NULL DEFAULT 0;
UPDATE requests SET review_exception_at =
    CASE WHEN json_typeof(doc::json->'post_review'->'verdict') = 'array' THEN 0
         ELSE round(extract(epoch from (doc::json->'post_review'->>'due_at')::timestamptz) * 1000)::bigint END
    WHERE break_glass_open = 1;
CREATE INDEX requests_review_exception ON requests (break_glass_open, review_exception_at);
