-- Key versions an operator disabled (a leaked key): every signer reads this table on its
-- revalidation clock and refuses to open through a listed version, whatever custody backend
-- it runs (a local keyring's status lives in each process's memory until it restarts).
-- Keep in step with ../postgres/0008_disabled_keys.sql.

CREATE TABLE disabled_keys (
    kid           TEXT    PRIMARY KEY,
    disabled_ms   INTEGER NOT NULL
);
