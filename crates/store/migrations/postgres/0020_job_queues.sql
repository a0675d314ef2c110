-- Jobs of one queue (the write-backs to one desk ticket) run one at a time
-- in the order they were queued: only the earliest pending job of a queue
-- may be claimed. The order queued is `seq`, taken on insert (an upsert
-- keeps its row and its number).
ALTER TABLE jobs ADD COLUMN queue TEXT NOT NULL DEFAULT '';
ALTER TABLE jobs ADD COLUMN seq BIGSERIAL;
CREATE INDEX jobs_queue ON jobs (queue, seq);
