-- The owner's limits on a credential, enforced by the signer on top of the sealed scope.
-- Limits only ever narrow what the envelopes allow. Keep in step with the other dialect.
CREATE TABLE credential_limits (
    credential_id  TEXT    PRIMARY KEY REFERENCES credentials (id) ON DELETE CASCADE,
    symbols        TEXT,            -- comma-separated allow-list (exchange spelling); NULL = any
    max_notional   TEXT,            -- exact decimal, quote units; NULL = no cap
    rate_max       INTEGER,         -- at most this many requests …
    rate_window_ms INTEGER,         -- … per this window; both NULL = no rate limit
    updated_ms     INTEGER NOT NULL
);
