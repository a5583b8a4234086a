-- Opaque access tokens of the local issuer (`[LOCAL] TOKEN_FORMAT = opaque`), found by the SHA-256 of
-- the token. The token itself is never stored: a copy of this file lets nobody act as anyone.
CREATE TABLE opaque_tokens (
    token_hash  BLOB PRIMARY KEY,
    -- The claims a JWT access token would carry (iss, sub, aud, scope, exp, …), as a JSON object.
    claims      TEXT NOT NULL,
    expires_at  INTEGER NOT NULL
) WITHOUT ROWID;

-- Finds expired rows for the bounded clean-up done with each insert.
CREATE INDEX opaque_tokens_expires_at ON opaque_tokens (expires_at);
