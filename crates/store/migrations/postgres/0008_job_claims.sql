-- Which node holds a job's claim. A node renews the claims it holds while
-- their jobs run (`UPDATE ... WHERE claimed_by = <node>`), so a long job is
-- not taken by another node mid-run; a claim a node stopped renewing lapses
-- as before. Empty: nobody (queued, or written before this column).
ALTER TABLE jobs ADD COLUMN claimed_by TEXT NOT NULL DEFAULT '';
