-- Approval service levels found by index, not by loading every pending
-- request: when a request's next reminder or escalation is due (chase_at),
-- and the earliest SLA of its open stages (sla_due_at), in milliseconds;
-- the largest integer when there is none. No stage had an SLA before this
-- migration, so existing rows take the default.
ALTER TABLE requests ADD COLUMN chase_at BIGINT NOT NULL DEFAULT 9223372036854775807;
ALTER TABLE requests ADD COLUMN sla_due_at BIGINT NOT NULL DEFAULT 9223372036854775807;
CREATE INDEX requests_chase_at ON requests (state, chase_at);
CREATE INDEX requests_sla_due_at ON requests (state, sla_due_at);
