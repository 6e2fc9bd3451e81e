-- Withdrawals waiting for the owner's approval (issue 17 item 3). Keep in step with
-- ../sqlite/0013_withdrawal_approvals.sql.
--
-- The signer writes a pending row for each withdrawal it is asked to make on a credential
-- that names the owner's authority, and refuses it until the owner approved it: the row
-- holds what the owner is shown (exchange, asset, amount, destination, network, the role
-- that asked) and the SHA-256 of the exact canonical request (request_digest, base64url),
-- which the approval's statement signs. The approval itself (the statement, the assertion
-- and the key) is kept whole, and the signer verifies it again before it signs: a row a
-- database writer edits approves nothing. state: pending, approved, used, expired.
CREATE TABLE withdrawal_approvals (
    id              TEXT    NOT NULL PRIMARY KEY,
    owner           TEXT    NOT NULL,
    credential_id   TEXT    NOT NULL,
    exchange        TEXT    NOT NULL,
    role            TEXT    NOT NULL,
    asset           TEXT    NOT NULL,
    amount          TEXT    NOT NULL,
    destination     TEXT    NOT NULL,
    network         TEXT,
    request_digest  TEXT    NOT NULL,
    state           TEXT    NOT NULL,
    approval        TEXT,
    created_ms      BIGINT  NOT NULL,
    expires_ms      BIGINT  NOT NULL,
    decided_ms      BIGINT,
    FOREIGN KEY (owner, credential_id) REFERENCES credentials (owner, id) ON DELETE CASCADE
);
CREATE INDEX withdrawal_approvals_by_request ON withdrawal_approvals (owner, credential_id, request_digest);
CREATE INDEX withdrawal_approvals_by_owner ON withdrawal_approvals (owner, state, created_ms);
