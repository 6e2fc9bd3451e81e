-- Key versions an operator disabled (a leaked key): every signer reads this table on its
-- revalidation clock and refuses to open through a listed version, whatever custody backend
-- it runs (a local keyring's status lives in each process's memory until it restarts).
-- And an index for the re-wrap (below).
-- Keep in step with ../sqlite/0008_disabled_keys.sql.

CREATE TABLE disabled_keys (
    kid           TEXT    PRIMARY KEY,
    disabled_ms   BIGINT  NOT NULL
);

-- A re-wrap walks the envelopes of one key version in key order, a batch at a time: with
-- (kid) alone every batch sorted all of that version's rows again (quadratic at 10^5).
CREATE INDEX envelopes_kid_key ON envelopes (kid, owner, credential_id, role);
DROP INDEX envelopes_kid;
