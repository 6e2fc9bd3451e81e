-- Credential ids are scoped to their owner: a credential is keyed by (owner, id), and every
-- table that names a credential names its owner too. Before, `credentials.id` was global, so
-- creating a credential answered "taken" for another user's id (an existence oracle, and ids
-- could be squatted), and a service call naming only an id could reach anyone's credential.
-- Keep in step with ../sqlite/0004_owner_scoped_credential_ids.sql (same columns, keys and
-- constraints; PostgreSQL changes the tables in place, in the migration's one transaction).

-- The children's foreign keys name credentials (id), which stops being unique.
ALTER TABLE envelopes DROP CONSTRAINT envelopes_credential_id_fkey;
ALTER TABLE nonces DROP CONSTRAINT nonces_credential_id_fkey;
ALTER TABLE import_jobs DROP CONSTRAINT import_jobs_credential_id_fkey;
ALTER TABLE balances DROP CONSTRAINT balances_credential_id_fkey;
ALTER TABLE trades DROP CONSTRAINT trades_credential_id_fkey;
ALTER TABLE orders DROP CONSTRAINT orders_credential_id_fkey;
ALTER TABLE credential_limits DROP CONSTRAINT credential_limits_credential_id_fkey;

ALTER TABLE credentials DROP CONSTRAINT credentials_pkey, ADD PRIMARY KEY (owner, id);
-- The primary key (owner, id) serves "the owner's credentials".
DROP INDEX credentials_owner;

-- Each child takes the owner of its credential (ids are still unique at this point).
ALTER TABLE envelopes ADD COLUMN owner TEXT;
ALTER TABLE nonces ADD COLUMN owner TEXT;
ALTER TABLE import_jobs ADD COLUMN owner TEXT;
ALTER TABLE balances ADD COLUMN owner TEXT;
ALTER TABLE trades ADD COLUMN owner TEXT;
ALTER TABLE orders ADD COLUMN owner TEXT;
ALTER TABLE credential_limits ADD COLUMN owner TEXT;
UPDATE envelopes x SET owner = c.owner FROM credentials c WHERE c.id = x.credential_id;
UPDATE nonces x SET owner = c.owner FROM credentials c WHERE c.id = x.credential_id;
UPDATE import_jobs x SET owner = c.owner FROM credentials c WHERE c.id = x.credential_id;
UPDATE balances x SET owner = c.owner FROM credentials c WHERE c.id = x.credential_id;
UPDATE trades x SET owner = c.owner FROM credentials c WHERE c.id = x.credential_id;
UPDATE orders x SET owner = c.owner FROM credentials c WHERE c.id = x.credential_id;
UPDATE credential_limits x SET owner = c.owner FROM credentials c WHERE c.id = x.credential_id;

ALTER TABLE envelopes
    ALTER COLUMN owner SET NOT NULL,
    DROP CONSTRAINT envelopes_pkey,
    ADD PRIMARY KEY (owner, credential_id, role),
    ADD FOREIGN KEY (owner, credential_id) REFERENCES credentials (owner, id) ON DELETE CASCADE;
ALTER TABLE nonces
    ALTER COLUMN owner SET NOT NULL,
    DROP CONSTRAINT nonces_pkey,
    ADD PRIMARY KEY (owner, credential_id),
    ADD FOREIGN KEY (owner, credential_id) REFERENCES credentials (owner, id) ON DELETE CASCADE;
ALTER TABLE import_jobs
    ALTER COLUMN owner SET NOT NULL,
    ADD FOREIGN KEY (owner, credential_id) REFERENCES credentials (owner, id) ON DELETE CASCADE;
ALTER TABLE balances
    ALTER COLUMN owner SET NOT NULL,
    DROP CONSTRAINT balances_pkey,
    ADD PRIMARY KEY (owner, credential_id, asset),
    ADD FOREIGN KEY (owner, credential_id) REFERENCES credentials (owner, id) ON DELETE CASCADE;
ALTER TABLE trades
    ALTER COLUMN owner SET NOT NULL,
    DROP CONSTRAINT trades_credential_id_exchange_trade_id_key,
    ADD UNIQUE (owner, credential_id, exchange_trade_id),
    ADD FOREIGN KEY (owner, credential_id) REFERENCES credentials (owner, id) ON DELETE CASCADE;
ALTER TABLE orders
    ALTER COLUMN owner SET NOT NULL,
    DROP CONSTRAINT orders_credential_id_client_order_id_key,
    ADD UNIQUE (owner, credential_id, client_order_id),
    ADD FOREIGN KEY (owner, credential_id) REFERENCES credentials (owner, id) ON DELETE CASCADE;
ALTER TABLE credential_limits
    ALTER COLUMN owner SET NOT NULL,
    DROP CONSTRAINT credential_limits_pkey,
    ADD PRIMARY KEY (owner, credential_id),
    ADD FOREIGN KEY (owner, credential_id) REFERENCES credentials (owner, id) ON DELETE CASCADE;

DROP INDEX import_jobs_credential;
CREATE INDEX import_jobs_credential ON import_jobs (owner, credential_id);
DROP INDEX trades_time;
CREATE INDEX trades_time ON trades (owner, credential_id, time_ms);
