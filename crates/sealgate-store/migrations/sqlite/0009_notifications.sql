-- Notifications (issue 16 items 4-5): the outbox becomes a leased delivery queue (like
-- import_jobs), users get a notification address and webhook endpoints, and every message
-- carries a single-use lockdown link. Only SHA-256 hashes of link tokens are stored: the
-- raw tokens exist only in the message that was sent, so a copy of the database freezes
-- nothing and confirms no address. Webhook signing secrets are not stored either: they are
-- derived from the notify key file (HMAC over the endpoint id) by whoever needs them.
-- Keep in step with ../postgres/0009_notifications.sql.

ALTER TABLE notification_outbox ADD COLUMN user_id TEXT;                  -- NULL: an operator
ALTER TABLE notification_outbox ADD COLUMN channel TEXT NOT NULL DEFAULT 'email'
    CHECK (channel IN ('email', 'webhook'));
ALTER TABLE notification_outbox ADD COLUMN endpoint_id TEXT;              -- channel webhook
ALTER TABLE notification_outbox ADD COLUMN state TEXT NOT NULL DEFAULT 'queued'
    CHECK (state IN ('queued', 'sending', 'sent', 'failed'));
ALTER TABLE notification_outbox ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE notification_outbox ADD COLUMN max_attempts INTEGER NOT NULL DEFAULT 8;
ALTER TABLE notification_outbox ADD COLUMN run_after_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE notification_outbox ADD COLUMN locked_by TEXT;
ALTER TABLE notification_outbox ADD COLUMN locked_until_ms INTEGER;
ALTER TABLE notification_outbox ADD COLUMN last_error TEXT;
-- Rows queued before this migration and already sent stay sent.
UPDATE notification_outbox SET state = 'sent' WHERE sent_at_ms IS NOT NULL;
CREATE INDEX notification_outbox_claim ON notification_outbox (state, run_after_ms, id);

CREATE TABLE notify_contacts (
    user_id          TEXT    PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    -- The confirmed address: from a verified OIDC email claim, or confirmed by a link.
    email            TEXT,
    email_source     TEXT    CHECK (email_source IN ('oidc', 'confirmed')),
    -- The user's choice: a message for every refused withdraw or trade.
    notify_refusals  INTEGER NOT NULL DEFAULT 0,
    updated_ms       INTEGER  NOT NULL
);

CREATE TABLE email_confirm_tokens (
    token_hash    BLOB    PRIMARY KEY CHECK (length(token_hash) = 32),
    user_id       TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    email         TEXT    NOT NULL,
    expires_ms    INTEGER  NOT NULL
);
CREATE INDEX email_confirm_tokens_expires ON email_confirm_tokens (expires_ms);

CREATE TABLE webhook_endpoints (
    id           TEXT    PRIMARY KEY,
    user_id      TEXT    REFERENCES users (id) ON DELETE CASCADE,   -- NULL: the operator's
    url          TEXT    NOT NULL,
    created_ms   INTEGER  NOT NULL
);
CREATE INDEX webhook_endpoints_user ON webhook_endpoints (user_id);

-- A used token is kept (used_ms set) until it expires, so a second use is told apart from
-- an unknown link.
CREATE TABLE lockdown_tokens (
    token_hash       BLOB    PRIMARY KEY CHECK (length(token_hash) = 32),
    user_id          TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    notification_id  INTEGER,
    expires_ms       INTEGER  NOT NULL,
    used_ms          INTEGER
);
CREATE INDEX lockdown_tokens_expires ON lockdown_tokens (expires_ms);
