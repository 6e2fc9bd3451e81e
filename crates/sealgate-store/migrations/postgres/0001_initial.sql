-- Sealgate store, initial schema (PostgreSQL). Append-only: never edit a released migration,
-- add a new one. Keep in step with ../sqlite/0001_initial.sql (same tables, columns,
-- constraints; only the dialect differs).
--
-- No column ever holds a plaintext secret: envelopes.jwe is JWE compact ciphertext.
-- Times are integer milliseconds since the Unix epoch. Amounts (free, locked, price,
-- qty, fee) are exact decimal strings as the exchange printed them, never floats.

CREATE TABLE users (
    id            TEXT    PRIMARY KEY,
    created_ms    BIGINT  NOT NULL,
    -- NULL: a local (embedded-default) user; otherwise the OIDC `sub` claim.
    oidc_subject  TEXT    UNIQUE
);

CREATE TABLE credentials (
    id            TEXT    PRIMARY KEY,            -- the `cid` the client made
    owner         TEXT    NOT NULL REFERENCES users (id),
    exchange      TEXT    NOT NULL,
    label         TEXT    NOT NULL,
    hint          TEXT    NOT NULL,
    scope         TEXT    NOT NULL,               -- e.g. "read,trade"
    status        TEXT    NOT NULL CHECK (status IN ('active', 'frozen', 'deleted')),
    created_ms    BIGINT  NOT NULL,
    last_used_ms  BIGINT 
);
CREATE INDEX credentials_owner ON credentials (owner);

CREATE TABLE envelopes (
    credential_id TEXT    NOT NULL REFERENCES credentials (id) ON DELETE CASCADE,
    role          TEXT    NOT NULL,
    kid           TEXT    NOT NULL,
    jwe           TEXT    NOT NULL,
    created_ms    BIGINT  NOT NULL,
    PRIMARY KEY (credential_id, role)
);
CREATE INDEX envelopes_kid ON envelopes (kid);

CREATE TABLE recipient_keys (
    kid           TEXT    PRIMARY KEY,
    role          TEXT    NOT NULL,
    status        TEXT    NOT NULL CHECK (status IN ('active', 'retired')),
    public_jwk    TEXT    NOT NULL,
    created_ms    BIGINT  NOT NULL
);
CREATE INDEX recipient_keys_role ON recipient_keys (role);

CREATE TABLE nonces (
    credential_id TEXT    PRIMARY KEY REFERENCES credentials (id) ON DELETE CASCADE,
    last          BIGINT  NOT NULL
);

CREATE TABLE import_jobs (
    id              BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    credential_id   TEXT    NOT NULL REFERENCES credentials (id) ON DELETE CASCADE,
    kind            TEXT    NOT NULL,
    state           TEXT    NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed')),
    attempts        BIGINT  NOT NULL DEFAULT 0,
    max_attempts    BIGINT  NOT NULL,
    run_after_ms    BIGINT  NOT NULL,
    cursor          TEXT,
    locked_by       TEXT,
    locked_until_ms BIGINT ,
    last_error      TEXT,
    created_ms      BIGINT  NOT NULL,
    updated_ms      BIGINT  NOT NULL
);
CREATE INDEX import_jobs_claim ON import_jobs (state, run_after_ms);
CREATE INDEX import_jobs_credential ON import_jobs (credential_id);

CREATE TABLE balances (
    credential_id TEXT    NOT NULL REFERENCES credentials (id) ON DELETE CASCADE,
    asset         TEXT    NOT NULL,
    free          TEXT    NOT NULL,
    locked        TEXT    NOT NULL,
    updated_ms    BIGINT  NOT NULL,
    PRIMARY KEY (credential_id, asset)
);

CREATE TABLE trades (
    id                BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    credential_id     TEXT    NOT NULL REFERENCES credentials (id) ON DELETE CASCADE,
    exchange_trade_id TEXT    NOT NULL,
    symbol            TEXT    NOT NULL,
    side              TEXT    NOT NULL CHECK (side IN ('buy', 'sell')),
    price             TEXT    NOT NULL,
    qty               TEXT    NOT NULL,
    fee               TEXT    NOT NULL,
    fee_asset         TEXT,
    time_ms           BIGINT  NOT NULL,
    UNIQUE (credential_id, exchange_trade_id)
);
CREATE INDEX trades_time ON trades (credential_id, time_ms);

CREATE TABLE orders (
    id                TEXT    PRIMARY KEY,
    credential_id     TEXT    NOT NULL REFERENCES credentials (id) ON DELETE CASCADE,
    client_order_id   TEXT    NOT NULL,
    exchange_order_id TEXT,
    symbol            TEXT    NOT NULL,
    side              TEXT    NOT NULL CHECK (side IN ('buy', 'sell')),
    order_type        TEXT    NOT NULL,
    qty               TEXT    NOT NULL,
    price             TEXT,
    status            TEXT    NOT NULL,
    created_ms        BIGINT  NOT NULL,
    updated_ms        BIGINT  NOT NULL,
    UNIQUE (credential_id, client_order_id)
);

-- Hash chain: `seq` is assigned by the appender as tail + 1; the primary key makes two
-- appenders that read the same tail collide instead of forking the chain. `detail` is
-- TEXT (not JSONB on PostgreSQL) so the bytes the hash covers are stored unchanged.
CREATE TABLE audit_log (
    seq        BIGINT  PRIMARY KEY,
    prev_hash  TEXT    NOT NULL,
    hash       TEXT    NOT NULL,
    time_ms    BIGINT  NOT NULL,
    actor      TEXT    NOT NULL,
    action     TEXT    NOT NULL,
    subject    TEXT    NOT NULL,
    owner      TEXT,                   -- the user the record concerns, for their own trail
    detail     TEXT    NOT NULL
);
CREATE INDEX audit_log_owner ON audit_log (owner, seq);

CREATE TABLE notification_outbox (
    id          BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    recipient   TEXT    NOT NULL,
    kind        TEXT    NOT NULL,
    body        TEXT    NOT NULL,
    created_ms  BIGINT  NOT NULL,
    sent_at_ms  BIGINT 
);
CREATE INDEX notification_outbox_pending ON notification_outbox (sent_at_ms, id);
