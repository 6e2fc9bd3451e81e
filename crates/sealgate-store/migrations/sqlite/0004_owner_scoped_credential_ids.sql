-- Credential ids are scoped to their owner: a credential is keyed by (owner, id), and every
-- table that names a credential names its owner too. Before, `credentials.id` was global, so
-- creating a credential answered "taken" for another user's id (an existence oracle, and ids
-- could be squatted), and a service call naming only an id could reach anyone's credential.
-- Keep in step with ../postgres/0004_owner_scoped_credential_ids.sql.
--
-- SQLite cannot change a primary key or a foreign key in place, so each table is rebuilt:
-- the old tables are renamed (SQLite rewrites the children's REFERENCES to follow the
-- parent's new name), the new ones created, rows copied with the owner of their credential,
-- then the old ones dropped, children first (dropping a parent deletes its rows first, which
-- would cascade into children still referencing it). Ids and AUTOINCREMENT high-water marks
-- are kept. Runs in the migration's one transaction: all or nothing.

ALTER TABLE credentials RENAME TO credentials_v3;
ALTER TABLE envelopes RENAME TO envelopes_v3;
ALTER TABLE nonces RENAME TO nonces_v3;
ALTER TABLE import_jobs RENAME TO import_jobs_v3;
ALTER TABLE balances RENAME TO balances_v3;
ALTER TABLE trades RENAME TO trades_v3;
ALTER TABLE orders RENAME TO orders_v3;
ALTER TABLE credential_limits RENAME TO credential_limits_v3;

CREATE TABLE credentials (
    id            TEXT    NOT NULL,               -- the `cid` the client made; unique per owner
    owner         TEXT    NOT NULL REFERENCES users (id),
    exchange      TEXT    NOT NULL,
    label         TEXT    NOT NULL,
    hint          TEXT    NOT NULL,
    scope         TEXT    NOT NULL,               -- e.g. "read,trade"
    status        TEXT    NOT NULL CHECK (status IN ('active', 'frozen', 'deleted')),
    created_ms    INTEGER NOT NULL,
    last_used_ms  INTEGER,
    PRIMARY KEY (owner, id)
);

CREATE TABLE envelopes (
    credential_id TEXT    NOT NULL,
    role          TEXT    NOT NULL,
    kid           TEXT    NOT NULL,
    jwe           TEXT    NOT NULL,
    created_ms    INTEGER NOT NULL,
    owner         TEXT    NOT NULL,
    PRIMARY KEY (owner, credential_id, role),
    FOREIGN KEY (owner, credential_id) REFERENCES credentials (owner, id) ON DELETE CASCADE
);

CREATE TABLE nonces (
    credential_id TEXT    NOT NULL,
    last          INTEGER NOT NULL,
    owner         TEXT    NOT NULL,
    PRIMARY KEY (owner, credential_id),
    FOREIGN KEY (owner, credential_id) REFERENCES credentials (owner, id) ON DELETE CASCADE
);

CREATE TABLE import_jobs (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    credential_id   TEXT    NOT NULL,
    kind            TEXT    NOT NULL,
    state           TEXT    NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    max_attempts    INTEGER NOT NULL,
    run_after_ms    INTEGER NOT NULL,
    cursor          TEXT,
    locked_by       TEXT,
    locked_until_ms INTEGER,
    last_error      TEXT,
    created_ms      INTEGER NOT NULL,
    updated_ms      INTEGER NOT NULL,
    owner           TEXT    NOT NULL,
    FOREIGN KEY (owner, credential_id) REFERENCES credentials (owner, id) ON DELETE CASCADE
);

CREATE TABLE balances (
    credential_id TEXT    NOT NULL,
    asset         TEXT    NOT NULL,
    free          TEXT    NOT NULL,
    locked        TEXT    NOT NULL,
    updated_ms    INTEGER NOT NULL,
    owner         TEXT    NOT NULL,
    PRIMARY KEY (owner, credential_id, asset),
    FOREIGN KEY (owner, credential_id) REFERENCES credentials (owner, id) ON DELETE CASCADE
);

CREATE TABLE trades (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    credential_id     TEXT    NOT NULL,
    exchange_trade_id TEXT    NOT NULL,
    symbol            TEXT    NOT NULL,
    side              TEXT    NOT NULL CHECK (side IN ('buy', 'sell')),
    price             TEXT    NOT NULL,
    qty               TEXT    NOT NULL,
    fee               TEXT    NOT NULL,
    fee_asset         TEXT,
    time_ms           INTEGER NOT NULL,
    owner             TEXT    NOT NULL,
    UNIQUE (owner, credential_id, exchange_trade_id),
    FOREIGN KEY (owner, credential_id) REFERENCES credentials (owner, id) ON DELETE CASCADE
);

CREATE TABLE orders (
    id                TEXT    PRIMARY KEY,        -- made by the trader: random, global
    credential_id     TEXT    NOT NULL,
    client_order_id   TEXT    NOT NULL,
    exchange_order_id TEXT,
    symbol            TEXT    NOT NULL,
    side              TEXT    NOT NULL CHECK (side IN ('buy', 'sell')),
    order_type        TEXT    NOT NULL,
    qty               TEXT    NOT NULL,
    price             TEXT,
    status            TEXT    NOT NULL,
    created_ms        INTEGER NOT NULL,
    updated_ms        INTEGER NOT NULL,
    owner             TEXT    NOT NULL,
    UNIQUE (owner, credential_id, client_order_id),
    FOREIGN KEY (owner, credential_id) REFERENCES credentials (owner, id) ON DELETE CASCADE
);

CREATE TABLE credential_limits (
    credential_id  TEXT    NOT NULL,
    symbols        TEXT,            -- comma-separated allow-list (exchange spelling); NULL = any
    max_notional   TEXT,            -- exact decimal, quote units; NULL = no cap
    rate_max       INTEGER,         -- at most this many requests …
    rate_window_ms INTEGER,         -- … per this window; both NULL = no rate limit
    updated_ms     INTEGER NOT NULL,
    owner          TEXT    NOT NULL,
    PRIMARY KEY (owner, credential_id),
    FOREIGN KEY (owner, credential_id) REFERENCES credentials (owner, id) ON DELETE CASCADE
);

INSERT INTO credentials (id, owner, exchange, label, hint, scope, status, created_ms, last_used_ms)
    SELECT id, owner, exchange, label, hint, scope, status, created_ms, last_used_ms FROM credentials_v3;
INSERT INTO envelopes (credential_id, role, kid, jwe, created_ms, owner)
    SELECT x.credential_id, x.role, x.kid, x.jwe, x.created_ms, c.owner
    FROM envelopes_v3 x JOIN credentials_v3 c ON c.id = x.credential_id;
INSERT INTO nonces (credential_id, last, owner)
    SELECT x.credential_id, x.last, c.owner FROM nonces_v3 x JOIN credentials_v3 c ON c.id = x.credential_id;
INSERT INTO import_jobs (id, credential_id, kind, state, attempts, max_attempts, run_after_ms, cursor,
                         locked_by, locked_until_ms, last_error, created_ms, updated_ms, owner)
    SELECT x.id, x.credential_id, x.kind, x.state, x.attempts, x.max_attempts, x.run_after_ms, x.cursor,
           x.locked_by, x.locked_until_ms, x.last_error, x.created_ms, x.updated_ms, c.owner
    FROM import_jobs_v3 x JOIN credentials_v3 c ON c.id = x.credential_id;
INSERT INTO balances (credential_id, asset, free, locked, updated_ms, owner)
    SELECT x.credential_id, x.asset, x.free, x.locked, x.updated_ms, c.owner
    FROM balances_v3 x JOIN credentials_v3 c ON c.id = x.credential_id;
INSERT INTO trades (id, credential_id, exchange_trade_id, symbol, side, price, qty, fee, fee_asset, time_ms, owner)
    SELECT x.id, x.credential_id, x.exchange_trade_id, x.symbol, x.side, x.price, x.qty, x.fee, x.fee_asset,
           x.time_ms, c.owner
    FROM trades_v3 x JOIN credentials_v3 c ON c.id = x.credential_id;
INSERT INTO orders (id, credential_id, client_order_id, exchange_order_id, symbol, side, order_type, qty, price,
                    status, created_ms, updated_ms, owner)
    SELECT x.id, x.credential_id, x.client_order_id, x.exchange_order_id, x.symbol, x.side, x.order_type, x.qty,
           x.price, x.status, x.created_ms, x.updated_ms, c.owner
    FROM orders_v3 x JOIN credentials_v3 c ON c.id = x.credential_id;
INSERT INTO credential_limits (credential_id, symbols, max_notional, rate_max, rate_window_ms, updated_ms, owner)
    SELECT x.credential_id, x.symbols, x.max_notional, x.rate_max, x.rate_window_ms, x.updated_ms, c.owner
    FROM credential_limits_v3 x JOIN credentials_v3 c ON c.id = x.credential_id;

-- AUTOINCREMENT never reuses an id: carry the high-water marks over.
DELETE FROM sqlite_sequence WHERE name IN ('import_jobs', 'trades');
INSERT INTO sqlite_sequence (name, seq)
    SELECT substr(name, 1, length(name) - 3), seq FROM sqlite_sequence WHERE name IN ('import_jobs_v3', 'trades_v3');

DROP TABLE envelopes_v3;
DROP TABLE nonces_v3;
DROP TABLE import_jobs_v3;
DROP TABLE balances_v3;
DROP TABLE trades_v3;
DROP TABLE orders_v3;
DROP TABLE credential_limits_v3;
DROP TABLE credentials_v3;

CREATE INDEX envelopes_kid ON envelopes (kid);
CREATE INDEX import_jobs_claim ON import_jobs (state, run_after_ms);
CREATE INDEX import_jobs_credential ON import_jobs (owner, credential_id);
CREATE INDEX trades_time ON trades (owner, credential_id, time_ms);
-- credentials_owner is gone: the primary key (owner, id) serves "the owner's credentials".
