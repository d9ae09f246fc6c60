-- +goose Up
-- Ingestion reads a unit's rewards by unit and bill, and an offer's through its bills
-- (rewards_bill): one index fewer to keep up on every reward written.
DROP INDEX rewards_unit;
DROP INDEX rewards_offer_earn;
CREATE INDEX rewards_unit_bill ON rewards(unit_key, bill_id);
-- The campaign version whose rules every reward of its open bills follows; behind version while
-- a change is being re-evaluated (ingestion then recomputes units in full).
ALTER TABLE campaigns ADD COLUMN evaluated_version INTEGER NOT NULL DEFAULT 0;
UPDATE campaigns SET evaluated_version = version;

-- +goose Down
ALTER TABLE campaigns DROP COLUMN evaluated_version;
DROP INDEX rewards_unit_bill;
CREATE INDEX rewards_offer_earn ON rewards(offer_id, earn_key);
CREATE INDEX rewards_unit ON rewards(unit_key);
