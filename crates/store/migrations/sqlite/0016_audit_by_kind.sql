-- The dashboard's flow times read the events of a few kinds over a window of
-- weeks (time to approve, provision, revoke): by kind and time, not the whole log.
CREATE INDEX audit_by_kind ON audit_events (kind, at);
