-- Exceptions counted and found by index, not by loading documents: when a
-- grant's removal started (0 unless it is revoking), and when a break-glass
-- use's open review is an exception (0: rejected and unresolved; its deadline
-- while it awaits a verdict). Existing rows are filled from their documents.
ALTER TABLE grants ADD COLUMN removal_since INTEGER NOT NULL DEFAULT 0;
UPDATE grants SET removal_since =
    CAST(round((julianday(json_extract(doc, '$.state.since')) - 2440587.5) * 86400000) AS INTEGER)
    WHERE state = 'revoking';
CREATE INDEX grants_removal_since ON grants (state, removal_since);

ALTER TABLE requests ADD COLUMN review_exception_at INTEGER NOT NULL DEFAULT 0;
UPDATE requests SET review_exception_at =
    CASE WHEN json_extract(doc, '$.post_review.verdict') IS NOT NULL THEN 0
         ELSE CAST(round((julianday(json_extract(doc, '$.post_review.due_at')) - 2440587.5) * 86400000) AS INTEGER) END
    WHERE break_glass_open = 1;
CREATE INDEX requests_review_exception ON requests (break_glass_open, review_exception_at);
