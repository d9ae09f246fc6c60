-- +goose Up
CREATE TABLE enrollment_groups (
    group_id     TEXT PRIMARY KEY,
    campaign_id  TEXT NOT NULL,
    name         TEXT NOT NULL,
    enroll_start INTEGER NOT NULL,
    enroll_end   INTEGER NOT NULL,
    capacity     INTEGER NOT NULL,           -- 0 = no limit
    eligibility  TEXT NOT NULL,              -- JSON
    enrolled     INTEGER NOT NULL DEFAULT 0  -- enrollments so far; never above capacity
);
CREATE INDEX enrollment_groups_campaign ON enrollment_groups(campaign_id);
CREATE TABLE offers (
    offer_id    TEXT PRIMARY KEY,
    campaign_id TEXT NOT NULL,
    doc         TEXT NOT NULL                -- the offer's part of the campaign document, JSON
);
CREATE INDEX offers_campaign ON offers(campaign_id);
CREATE TABLE enrollments (
    enrollment_id TEXT PRIMARY KEY,
    group_id      TEXT NOT NULL,
    campaign_id   TEXT NOT NULL,
    card_id       TEXT NOT NULL REFERENCES cards(card_id),
    app_id        TEXT NOT NULL,             -- the enrolling app, the only one that sees extended_data
    extended_data TEXT,
    created_at    INTEGER NOT NULL,
    UNIQUE (group_id, card_id)
);
CREATE INDEX enrollments_card ON enrollments(card_id, created_at);

-- +goose Down
DROP TABLE enrollments;
DROP TABLE offers;
DROP TABLE enrollment_groups;
