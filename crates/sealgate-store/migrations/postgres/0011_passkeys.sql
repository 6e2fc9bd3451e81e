-- Passkeys (WebAuthn credentials) of users: what names the owner's authority in a sealed
-- envelope's `own` (by thumbprint) and what approves the changes only the owner may make.
-- Public material only: the credential id, the public key (as webauthn-rs keeps it, and as
-- a JWK with its RFC 7638 thumbprint), the signature counter. Nothing here signs anything.
-- Keep in step with ../sqlite/0011_passkeys.sql.

CREATE TABLE passkeys (
    -- Ours: 16 random bytes, base64url (22 characters).
    id            TEXT    PRIMARY KEY CHECK (length(id) = 22),
    user_id       TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- The authenticator's credential id; one credential belongs to one account.
    credential_id BYTEA   NOT NULL UNIQUE CHECK (octet_length(credential_id) BETWEEN 1 AND 1023),
    name          TEXT    NOT NULL CHECK (length(name) BETWEEN 1 AND 64),
    -- RFC 7638 thumbprint of the public key (43 characters), what `own` lists.
    thumbprint    TEXT    NOT NULL CHECK (length(thumbprint) = 43),
    -- The public JWK (no private member can be in it: the key came from a COSE public key).
    jwk           TEXT    NOT NULL,
    -- The webauthn-rs passkey (credential id, COSE public key, counter, flags), as JSON.
    passkey       TEXT    NOT NULL,
    created_ms    BIGINT  NOT NULL,
    last_used_ms  BIGINT
);
CREATE INDEX passkeys_user ON passkeys (user_id, created_ms);
