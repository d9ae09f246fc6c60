-- +goose Up
-- Bills: one per offer per billing period (contract section 8).
CREATE TABLE bills (
    bill_id         TEXT PRIMARY KEY,
    campaign_id     TEXT NOT NULL,
    offer_id        TEXT NOT NULL,
    name            TEXT NOT NULL,
    type            TEXT NOT NULL,        -- SYSTEM | MANUAL
    start_date      TEXT NOT NULL,        -- yyyy-MM-dd, campaign timezone
    end_date        TEXT NOT NULL,
    settlement_date TEXT NOT NULL,
    status          BIGINT NOT NULL,     -- 0 open · 1 generated · 2 approved · 3 settled · 4 exception
    created_at      BIGINT NOT NULL,
    generated_at    BIGINT NOT NULL DEFAULT 0,
    approved_at     BIGINT NOT NULL DEFAULT 0,
    UNIQUE (offer_id, start_date)
);
CREATE INDEX bills_campaign ON bills(campaign_id, start_date, offer_id);
-- Rewards: what a card or an account earned on one bill. Money in minor units.
CREATE TABLE rewards (
    reward_id          TEXT PRIMARY KEY,
    bill_id            TEXT NOT NULL REFERENCES bills(bill_id),
    campaign_id        TEXT NOT NULL,
    offer_id           TEXT NOT NULL,
    account_app_id     TEXT NOT NULL DEFAULT '',  -- account aggregation: the app of the account's user
    account_vuid       TEXT NOT NULL DEFAULT '',  -- account aggregation: the account's user
    status             BIGINT NOT NULL,
    voided             BIGINT NOT NULL DEFAULT 0,
    name               TEXT NOT NULL,
    type               TEXT NOT NULL,
    provider           TEXT NOT NULL,
    code               TEXT NOT NULL,
    currency           TEXT NOT NULL,
    calculated_amount  BIGINT NOT NULL,
    confirmed_amount   BIGINT,
    claim_required     BIGINT NOT NULL,
    claim_before       BIGINT NOT NULL DEFAULT 0,
    expired_at         BIGINT NOT NULL DEFAULT 0,
    created_at         BIGINT NOT NULL,
    calculated_at      BIGINT NOT NULL DEFAULT 0,
    calculate_message  TEXT NOT NULL DEFAULT '',
    claimed_at         BIGINT NOT NULL DEFAULT 0,
    claim_message      TEXT NOT NULL DEFAULT '',
    settled_at         BIGINT NOT NULL DEFAULT 0,
    settle_message     TEXT NOT NULL DEFAULT '',
    redeemed_at        BIGINT NOT NULL DEFAULT 0,
    redeem_message     TEXT NOT NULL DEFAULT '',
    event_count        BIGINT NOT NULL DEFAULT 0,
    event_total_amount BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX rewards_bill ON rewards(bill_id, status);
CREATE INDEX rewards_account ON rewards(account_app_id, account_vuid, created_at);
-- The cards a reward belongs to (one under card aggregation, the account's under account
-- aggregation), with the listing order's columns so a card's rewards list from the index.
CREATE TABLE reward_cards (
    card_id    TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    reward_id  TEXT NOT NULL REFERENCES rewards(reward_id),
    PRIMARY KEY (card_id, created_at, reward_id)
);
CREATE INDEX reward_cards_reward ON reward_cards(reward_id);
CREATE TABLE reward_items (
    reward_id   TEXT NOT NULL REFERENCES rewards(reward_id),
    seq         BIGINT NOT NULL,
    type        TEXT NOT NULL,              -- barcode | QR | text | url
    code        TEXT NOT NULL,
    status      TEXT NOT NULL,              -- ISSUED | REDEEMED | VOIDED | EXPIRED
    expired_at  BIGINT NOT NULL DEFAULT 0,
    voided_at   BIGINT NOT NULL DEFAULT 0,
    redeemed_at BIGINT NOT NULL DEFAULT 0,
    settled_at  BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (reward_id, seq)
);

-- +goose Down
DROP TABLE reward_items;
DROP TABLE reward_cards;
DROP TABLE rewards;
DROP TABLE bills;
