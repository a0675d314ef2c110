-- A subject's open grants, in expiry order (Store::standing, read by every
-- separation-of-duties check and every expiry's overlap check). With only
-- (subject, is_active) the ORDER BY made SQLite's planner pick the expiry
-- index instead and scan every active grant for each subject: 10,000 grants
-- expiring together cost 10,000 x 10,000 row visits. This index serves the
-- filter and the order, and supersedes the old one.
CREATE INDEX grants_by_subject_in_order ON grants (subject, is_active, expires_at, id);
DROP INDEX grants_by_subject;
