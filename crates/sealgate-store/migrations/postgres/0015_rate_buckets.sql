-- The exchanges' request budgets as token buckets (issue 19 item 1), shared by every
-- importer process on this database. Keep in step with ../sqlite/0015_rate_buckets.sql.
--
-- bucket names who shares it (`binance` for an address-wide budget, `kraken:<owner>:<credential>`
-- for a per-key one); milli is what is left, in thousandths of a token, as of updated_ms.
-- A row holds no secret and no request: losing it only resets a budget to full.
CREATE TABLE rate_buckets (
    bucket      TEXT    NOT NULL PRIMARY KEY,
    milli       BIGINT NOT NULL,
    updated_ms  BIGINT NOT NULL
);
