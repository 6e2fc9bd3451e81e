-- Incidents (issue 16 item 3): `sealgate incident open` freezes what is in its scope,
-- rotates the role keys in scope, re-wraps, queues one message per affected user and one
-- per operator endpoint, and keeps a report. Every step is a row here: a step that ended
-- is not done again when the incident is resumed after a crash.
-- Keep in step with ../sqlite/0010_incidents.sql.

CREATE TABLE incidents (
    id                TEXT    PRIMARY KEY,
    reason            TEXT    NOT NULL,
    -- The scope: every credential (scope_all), or those matching every filter given.
    scope_all         BOOLEAN NOT NULL DEFAULT FALSE,
    scope_role        TEXT,
    scope_exchange    TEXT,
    scope_user        TEXT,
    scope_credential  TEXT,
    rotate            BOOLEAN NOT NULL DEFAULT FALSE,
    actor             TEXT    NOT NULL,
    state             TEXT    NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'closed')),
    opened_ms         BIGINT  NOT NULL,
    closed_ms         BIGINT,
    -- The final report (JSON), written by the last step.
    report            TEXT
);
CREATE INDEX incidents_state ON incidents (state, opened_ms);

CREATE TABLE incident_steps (
    incident_id   TEXT    NOT NULL REFERENCES incidents (id),
    step          TEXT    NOT NULL,
    started_ms    BIGINT  NOT NULL,
    ended_ms      BIGINT,
    counts        TEXT    NOT NULL DEFAULT '{}',      -- JSON object of counts
    PRIMARY KEY (incident_id, step)
);

-- The credentials the freeze step found in scope (the set every later step works on, so a
-- credential added to a role afterwards is not in it). The user must replace the exchange
-- key of each: the mark stays until the credential is deleted.
CREATE TABLE incident_credentials (
    incident_id    TEXT    NOT NULL REFERENCES incidents (id),
    owner          TEXT    NOT NULL,
    credential_id  TEXT    NOT NULL,
    PRIMARY KEY (incident_id, owner, credential_id)
);
CREATE INDEX incident_credentials_owner ON incident_credentials (owner, credential_id);

-- One row per role rotated: old_kid is written before the custody rotates, new_kid after,
-- so a resumed incident sees a rotation that happened before a crash and does not rotate again.
CREATE TABLE incident_rotations (
    incident_id   TEXT    NOT NULL REFERENCES incidents (id),
    role          TEXT    NOT NULL,
    old_kid       TEXT    NOT NULL,
    new_kid       TEXT,
    PRIMARY KEY (incident_id, role)
);
