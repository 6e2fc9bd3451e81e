-- Exchange keys this deployment made in the key custody (issue 18), so that a key made and
-- never activated (its owner walked away from the exchange's key page) is found and
-- destroyed, and a key another deployment made in a shared custody is never touched.
-- Keep in step with ../postgres/0016_held_key_births.sql.
--
-- A row holds no secret: the custody key id, whose it was made for, and when. The sweep
-- forgets a row once the key is active (its grants are stored) or gone.
CREATE TABLE held_key_births (
    key_id         TEXT   NOT NULL PRIMARY KEY,
    owner          TEXT   NOT NULL,
    credential_id  TEXT   NOT NULL,
    created_ms     INTEGER NOT NULL
);
CREATE INDEX held_key_births_created ON held_key_births (created_ms);
