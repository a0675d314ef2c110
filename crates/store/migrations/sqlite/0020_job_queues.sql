-- Jobs of one queue (the write-backs to one desk ticket) run one at a time
-- in the order they were queued: only the earliest pending job of a queue
-- may be claimed. On SQLite the order queued is the rowid (an upsert keeps
-- its row), which every index entry carries after its columns.
ALTER TABLE jobs ADD COLUMN queue TEXT NOT NULL DEFAULT '';
CREATE INDEX jobs_queue ON jobs (queue);
