-- +goose Up
-- The webhook outbox (contract section 7). A row is written in the same transaction as the
-- reward's change to status 4 and is delivered by the notify worker, at least once.
CREATE TABLE notifications (
    id               TEXT PRIMARY KEY,         -- the Standard Webhooks webhook-id, the same on every attempt
    app_id           TEXT NOT NULL,
    reward_id        TEXT NOT NULL,
    url              TEXT NOT NULL,
    body             TEXT NOT NULL,            -- the JSON body, {"rewardId":"..."}
    status           TEXT NOT NULL,            -- pending | delivered | failed
    attempts         INTEGER NOT NULL DEFAULT 0, -- attempts started over the row's life; never decreases
    base_attempts    INTEGER NOT NULL DEFAULT 0, -- attempts when the current retry schedule began (redelivery)
    next_attempt_at  INTEGER NOT NULL,
    lease_until      INTEGER NOT NULL DEFAULT 0, -- a worker holds the row until then
    first_attempt_at INTEGER NOT NULL DEFAULT 0, -- first attempt of the current schedule; 0 before it
    last_error       TEXT NOT NULL DEFAULT '', -- never holds secrets, signatures or the body
    last_status      INTEGER NOT NULL DEFAULT 0, -- HTTP status of the last attempt, 0 when none came back
    created_at       INTEGER NOT NULL,
    delivered_at     INTEGER NOT NULL DEFAULT 0,
    updated_at       INTEGER NOT NULL
);
-- Claiming: the due pending rows, oldest due first. Partial, so delivered and failed rows
-- (nearly all of them, in time) cost the claim nothing.
CREATE INDEX notifications_due ON notifications(next_attempt_at, id) WHERE status = 'pending';
-- Listing for operators: by status, or all, newest first.
CREATE INDEX notifications_status ON notifications(status, created_at, id);
CREATE INDEX notifications_created ON notifications(created_at, id);
CREATE INDEX notifications_reward ON notifications(reward_id);

-- +goose Down
DROP TABLE notifications;
