-- Tokens with a lifecycle: an id, an owner, a name, an optional scope, an
-- expiry, a revocation and the last use. Replaces `api_tokens`; the tokens
-- issued before keep working (same hash), with a new id, their identity as
-- owner, the operator as issuer, their label as name, and no expiry.
-- Times are Unix milliseconds; 0 means "not yet" (revoked_at, last_used_at)
-- and 9223372036854775807 means "never" (expires_at), as elsewhere: no NULLs
-- to bind as parameters.
CREATE TABLE tokens (
    id            TEXT PRIMARY KEY,
    hash          TEXT NOT NULL UNIQUE,        -- SHA-256 of the secret; the secret itself is never stored
    identity_id   TEXT NOT NULL,               -- who it authenticates as
    owner         TEXT NOT NULL,               -- who answers for it: the person, or the machine's owner
    created_by    TEXT NOT NULL,               -- who issued it: an identity, or 'operator'
    name          TEXT NOT NULL,
    scope         TEXT NOT NULL DEFAULT '',    -- '' (none), 'read' or 'request'
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    revoked_at    BIGINT NOT NULL DEFAULT 0,
    revoked_by    TEXT NOT NULL DEFAULT '',
    revoke_reason TEXT NOT NULL DEFAULT '',
    last_used_at  BIGINT NOT NULL DEFAULT 0,
    version       BIGINT NOT NULL
);

INSERT INTO tokens (id, hash, identity_id, owner, created_by, name, created_at, expires_at, version)
SELECT 'tok-' || md5(random()::text || hash || clock_timestamp()::text), hash, identity_id, identity_id, 'operator', label, created_at, 9223372036854775807, 1 FROM api_tokens;

DROP TABLE api_tokens;

-- Lists: everyone's (administrators), by identity, by owner; newest first.
CREATE INDEX tokens_in_order ON tokens (created_at DESC, id);
CREATE INDEX tokens_by_identity ON tokens (identity_id, created_at DESC, id);
CREATE INDEX tokens_by_owner ON tokens (owner, created_at DESC, id);
