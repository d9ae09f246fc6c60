-- +goose Up
-- Coupon code pools per offer; a code is handed to one reward unit at most, once.
CREATE TABLE coupon_codes (
    offer_id    TEXT NOT NULL,
    code        TEXT NOT NULL,
    type        TEXT NOT NULL,              -- barcode | QR | text | url
    expired_at  INTEGER NOT NULL DEFAULT 0,
    added_at    INTEGER NOT NULL,
    reward_id   TEXT NOT NULL DEFAULT '',   -- '' while in the pool
    assigned_at INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (offer_id, code)
);
CREATE INDEX coupon_codes_free ON coupon_codes(offer_id, reward_id, added_at);
ALTER TABLE bills ADD COLUMN settled_at INTEGER NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE bills DROP COLUMN settled_at;
DROP TABLE coupon_codes;
