-- One valued snapshot of an owner's portfolio per UTC day and currency (issue 19 item 4).
-- Keep in step with ../postgres/0014_portfolio_snapshots.sql.
--
-- total is the sum of the holdings that had a price (an exact decimal string); complete
-- says no non-zero holding lacked a price or had a stale one that day, so a chart can mark
-- the days whose total leaves something out. assets is a JSON array of [asset, value]
-- pairs, value null where the price was missing. A later valuation the same day
-- replaces the row: the day's last value is its close.
CREATE TABLE portfolio_snapshots (
    owner       TEXT    NOT NULL,
    day         TEXT    NOT NULL,
    currency    TEXT    NOT NULL,
    total       TEXT    NOT NULL,
    complete    INTEGER NOT NULL,
    assets      TEXT    NOT NULL,
    taken_ms    INTEGER NOT NULL,
    PRIMARY KEY (owner, currency, day),
    FOREIGN KEY (owner) REFERENCES users (id) ON DELETE CASCADE
);
