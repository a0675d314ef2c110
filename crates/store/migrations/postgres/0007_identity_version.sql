-- Identities are compared-and-swapped like every other aggregate: a write
-- names the version it read, so a stale write (say, one that would enable an
-- identity someone disabled meanwhile) fails instead of winning. Rows written
-- before have version 0.
ALTER TABLE identities ADD COLUMN version BIGINT NOT NULL DEFAULT 0;
