-- Open derivatives positions per credential (Deribit's "get_positions"), as the importer
-- last read them. Keep in step with ../sqlite/0017_positions.sql.
--
-- Like balances: keyed by (owner, credential_id, instrument), one credential's rows
-- replaced whole in one transaction at each import (a closed position disappears), gone
-- with their credential (the foreign key cascades) and hidden once it is deleted. Every
-- amount is exact decimal text as the exchange printed it. currency is the Deribit
-- currency the positions were asked in (the one its PnL is in: BTC of BTC-PERPETUAL,
-- USDC of BTC_USDC-PERPETUAL). A position is not a holding: its value is already in the
-- currency's equity, which balances hold.
CREATE TABLE positions (
    owner          TEXT    NOT NULL,
    credential_id  TEXT    NOT NULL,
    instrument     TEXT    NOT NULL,
    currency       TEXT    NOT NULL,
    kind           TEXT    NOT NULL,
    size           TEXT    NOT NULL,
    average_price  TEXT    NOT NULL,
    mark_price     TEXT    NOT NULL,
    floating_pnl   TEXT    NOT NULL,
    realized_pnl   TEXT    NOT NULL,
    updated_ms     BIGINT  NOT NULL,
    PRIMARY KEY (owner, credential_id, instrument),
    FOREIGN KEY (owner, credential_id) REFERENCES credentials (owner, id) ON DELETE CASCADE
);
