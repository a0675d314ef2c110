-- A grant's state beside its document: expiry scans find active grants that are
-- due without reading the ones already being revoked. `is_active` now means
-- "may still hold access" (active, or revoking until the removal is proved).
ALTER TABLE grants ADD COLUMN state TEXT NOT NULL DEFAULT 'active';
CREATE INDEX grants_due ON grants (state, expires_at);
