-- +goose Up
-- Ingestion reads a unit's rewards through its cards (reward_cards) or its account
-- (rewards_account), and an offer's rewards through its bills (rewards_bill): two indexes
-- fewer to keep up on every reward written.
DROP INDEX rewards_unit;
DROP INDEX rewards_offer_earn;

-- +goose Down
CREATE INDEX rewards_offer_earn ON rewards(offer_id, earn_key);
CREATE INDEX rewards_unit ON rewards(unit_key);
