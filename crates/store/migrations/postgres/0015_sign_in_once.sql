-- A token issued for a sign-in records the SHA-256 of the ID token it was
-- exchanged for, unique: an ID token (intercepted, or replayed from a log)
-- buys one Writ token, never a second. Empty for every other token.
ALTER TABLE tokens ADD COLUMN sign_in_proof TEXT NOT NULL DEFAULT '';
CREATE UNIQUE INDEX tokens_by_sign_in_proof ON tokens (sign_in_proof) WHERE sign_in_proof <> '';
