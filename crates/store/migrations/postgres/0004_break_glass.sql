-- Break-glass uses whose post-event review is still open (not yet reviewed, or
-- rejected and not resolved): the worker checks their deadlines and
-- `writ break-glass list` shows them, without reading every request.
ALTER TABLE requests ADD COLUMN break_glass_open INTEGER NOT NULL DEFAULT 0;
CREATE INDEX requests_break_glass_open ON requests (break_glass_open, created_at);
