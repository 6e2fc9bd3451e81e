-- Local sign-in lives in the database, not in one process's memory: `sealgate login-link`
-- (another process) mints a one-time link the running server accepts, and a restart of the
-- server keeps signed-in browsers signed in. Only SHA-256 hashes of the link tokens, session
-- ids and CSRF tokens are stored: the raw values exist only in the printed link and the
-- browser's cookies, so a copy of the database signs no one in.
-- Keep in step with ../postgres/0005_login_sessions.sql.

CREATE TABLE login_tokens (
    token_hash    BLOB    PRIMARY KEY CHECK (length(token_hash) = 32),
    user_id       TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_ms    INTEGER NOT NULL
);
CREATE INDEX login_tokens_expires ON login_tokens (expires_ms);

CREATE TABLE sessions (
    id_hash       BLOB    PRIMARY KEY CHECK (length(id_hash) = 32),
    user_id       TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_hash     BLOB    NOT NULL CHECK (length(csrf_hash) = 32),
    created_ms    INTEGER NOT NULL,
    last_seen_ms  INTEGER NOT NULL,
    -- The absolute end (created + the server's absolute timeout); the idle timeout is
    -- checked against last_seen_ms by the server.
    expires_ms    INTEGER NOT NULL
);
CREATE INDEX sessions_expires ON sessions (expires_ms);
CREATE INDEX sessions_user ON sessions (user_id);
