-- Signed audit checkpoints and operator settings. Keep in step with the other dialect.

-- A checkpoint: the chain's head at `seq` signed ES256 by the custody root key
-- (sealgate-audit FORMAT.md §3). `sig` is base64url of r||s.
CREATE TABLE audit_checkpoints (
    seq        BIGINT PRIMARY KEY,
    hash       TEXT    NOT NULL,
    time_ms    BIGINT NOT NULL,
    sig        TEXT    NOT NULL
);

-- Small operator settings: the global kill switch, the audit root public JWK.
CREATE TABLE settings (
    name       TEXT    PRIMARY KEY,
    value      TEXT    NOT NULL,
    updated_ms BIGINT NOT NULL
);
