-- Local accounts of the embedded development issuer.
CREATE TABLE accounts (
    sub            TEXT PRIMARY KEY,
    username       TEXT NOT NULL UNIQUE COLLATE NOCASE,
    email          TEXT UNIQUE COLLATE NOCASE,
    name           TEXT,
    password_hash  TEXT NOT NULL,
    created_at     INTEGER NOT NULL,
    -- Brute-force protection, shared by every replica that uses this database.
    failed_logins  INTEGER NOT NULL DEFAULT 0,
    locked_until   INTEGER NOT NULL DEFAULT 0
);

-- Authorization codes already exchanged (RFC 6749 §4.1.2: a code is used once).
CREATE TABLE used_codes (
    jti         TEXT PRIMARY KEY,
    expires_at  INTEGER NOT NULL
);
