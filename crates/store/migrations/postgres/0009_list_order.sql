-- Lists page by keyset, in the order of these indexes (a time, then the id):
-- each page starts where the last one ended instead of sorting the table.
CREATE INDEX requests_in_order ON requests (created_at, id);
CREATE INDEX requests_by_state_in_order ON requests (state, created_at, id);
CREATE INDEX tasks_in_order ON tasks (created_at, id);
CREATE INDEX grants_in_order ON grants (expires_at, id);
CREATE INDEX reconcile_runs_in_order ON reconcile_runs (started_at, id);
