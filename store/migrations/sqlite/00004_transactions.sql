-- +goose Up
CREATE TABLE transactions (
    txn_id           TEXT PRIMARY KEY,
    card_id          TEXT NOT NULL,
    type             TEXT NOT NULL,            -- purchase | refund | reversal
    original_id      TEXT NOT NULL DEFAULT '',
    amount           INTEGER NOT NULL,         -- minor units of currency, positive
    currency         TEXT NOT NULL,
    txn_time         INTEGER NOT NULL,
    merchant_id      TEXT NOT NULL,
    merchant_name    TEXT NOT NULL,
    mcc              TEXT NOT NULL,
    merchant_country TEXT NOT NULL,
    digest           TEXT NOT NULL,            -- of the content: a resent id with other content is a conflict
    ingested_at      INTEGER NOT NULL
);
CREATE INDEX transactions_card ON transactions(card_id, txn_time);
CREATE INDEX transactions_original ON transactions(original_id) WHERE original_id <> '';
-- Refunds and late purchases that arrived after their period's bill was generated.
CREATE TABLE bill_adjustments (
    bill_id    TEXT NOT NULL,
    txn_id     TEXT NOT NULL,
    reward_id  TEXT NOT NULL,
    type       TEXT NOT NULL,
    amount     INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (bill_id, txn_id, reward_id)
);
-- What the rules computed for a reward before the offer's budget decides.
ALTER TABLE rewards ADD COLUMN unit_key TEXT NOT NULL DEFAULT '';
ALTER TABLE rewards ADD COLUMN earn_key TEXT NOT NULL DEFAULT '';
ALTER TABLE rewards ADD COLUMN engine_met INTEGER NOT NULL DEFAULT 0;
ALTER TABLE rewards ADD COLUMN engine_voided INTEGER NOT NULL DEFAULT 0;
ALTER TABLE rewards ADD COLUMN wanted_amount INTEGER NOT NULL DEFAULT 0;
ALTER TABLE rewards ADD COLUMN engine_message TEXT NOT NULL DEFAULT '';
CREATE INDEX rewards_offer_earn ON rewards(offer_id, earn_key);
CREATE INDEX rewards_unit ON rewards(unit_key);

-- +goose Down
DROP INDEX rewards_unit;
DROP INDEX rewards_offer_earn;
ALTER TABLE rewards DROP COLUMN engine_message;
ALTER TABLE rewards DROP COLUMN wanted_amount;
ALTER TABLE rewards DROP COLUMN engine_voided;
ALTER TABLE rewards DROP COLUMN engine_met;
ALTER TABLE rewards DROP COLUMN earn_key;
ALTER TABLE rewards DROP COLUMN unit_key;
DROP TABLE bill_adjustments;
DROP TABLE transactions;
