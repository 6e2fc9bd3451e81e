-- Orders tell the truth: a refused or never-sent order keeps the reason the user sees
-- (`rejected`: "the credential is frozen", "the signer could not be reached: …"), and an
-- order whose request may have reached the exchange (`unknown`) counts the status queries
-- made to reconcile it, so reconciliation is bounded.
-- Keep in step with ../postgres/0006_order_reasons.sql.

ALTER TABLE orders ADD COLUMN reason TEXT;
ALTER TABLE orders ADD COLUMN status_checks INTEGER NOT NULL DEFAULT 0;
CREATE INDEX orders_unknown ON orders (status, updated_ms);
