-- Inbound SCIM 2.0: identities provisioned by the organisation's identity
-- provider.
--
-- An identity write reads only the identities it concerns (those written,
-- their owners and what they own), not the whole registry: `owner` is a
-- column for that. `kind` lets SCIM list people without parsing every
-- document. Both are kept by every identity write from now on.
ALTER TABLE identities ADD COLUMN kind TEXT NOT NULL DEFAULT '';
ALTER TABLE identities ADD COLUMN owner TEXT NOT NULL DEFAULT '';
UPDATE identities SET kind = COALESCE(doc::json->>'kind', ''), owner = COALESCE(doc::json->>'owner', '');
CREATE INDEX identities_by_owner ON identities (owner);
CREATE INDEX identities_by_kind ON identities (kind, id);

-- Group membership, derived from each identity's `groups` on every write of
-- it, so a group's members are one indexed read.
CREATE TABLE identity_groups (
    group_id    TEXT NOT NULL,
    identity_id TEXT NOT NULL,
    PRIMARY KEY (group_id, identity_id)
);
CREATE INDEX identity_groups_by_identity ON identity_groups (identity_id);
INSERT INTO identity_groups (group_id, identity_id) SELECT DISTINCT g.value, i.id FROM identities i CROSS JOIN LATERAL json_array_elements_text(COALESCE(i.doc::json->'groups', '[]'::json)) AS g(value);

-- A person's SCIM record: its id is the identity's. `deleted` keeps the
-- record of a user the provider deleted (the audit log refers to it).
CREATE TABLE scim_users (
    id          TEXT PRIMARY KEY,
    external_id TEXT NOT NULL,
    deleted     BIGINT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    version     BIGINT NOT NULL,
    doc         TEXT NOT NULL
);
CREATE INDEX scim_users_by_external_id ON scim_users (external_id);

-- A SCIM group: its SCIM id (a UUID), the Writ group id fixed at creation,
-- and its display name, unique without regard to case (`display_key`).
CREATE TABLE scim_groups (
    id           TEXT PRIMARY KEY,
    group_id     TEXT NOT NULL UNIQUE,
    display_key  TEXT NOT NULL UNIQUE,
    external_id  TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    version      BIGINT NOT NULL,
    doc          TEXT NOT NULL
);
CREATE INDEX scim_groups_by_external_id ON scim_groups (external_id);
