-- Anomaly detection (issue 17 items 4-5). Keep in step with ../postgres/0012_anomaly.sql.
--
-- Each credential's baseline: what it usually does (rates, notional per hour, the symbols
-- it traded and their usual sizes, time of day, recent denied withdraws), learnt by the
-- signer from the credential's own orders: a sealgate-anomaly Baseline as JSON (bounded,
-- 256 KiB at most, and checked when read: a row that does not read is a fresh baseline).
CREATE TABLE anomaly_baselines (
    owner          TEXT    NOT NULL,
    credential_id  TEXT    NOT NULL,
    baseline       TEXT    NOT NULL,
    updated_ms     INTEGER  NOT NULL,
    PRIMARY KEY (owner, credential_id),
    FOREIGN KEY (owner, credential_id) REFERENCES credentials (owner, id) ON DELETE CASCADE
);

-- The owner's overrides of the detectors' thresholds for one credential: a JSON object
-- naming some fields of sealgate-anomaly Rules. A row that does not read is refused by the
-- signer (the credential's orders are refused until it is fixed), never ignored.
CREATE TABLE anomaly_rules (
    owner          TEXT    NOT NULL,
    credential_id  TEXT    NOT NULL,
    overrides      TEXT    NOT NULL,
    updated_ms     INTEGER  NOT NULL,
    PRIMARY KEY (owner, credential_id),
    FOREIGN KEY (owner, credential_id) REFERENCES credentials (owner, id) ON DELETE CASCADE
);
