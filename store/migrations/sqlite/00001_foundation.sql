-- +goose Up
-- Times are unix microseconds (INTEGER) in both engines; booleans are 0/1.
CREATE TABLE apps (
    app_id            TEXT PRIMARY KEY,
    name              TEXT NOT NULL,
    secret_hash       TEXT NOT NULL,
    scopes            TEXT NOT NULL,          -- space-separated
    ip_whitelist      TEXT NOT NULL,          -- JSON array of CIDRs
    notify_url        TEXT NOT NULL,
    bids              TEXT NOT NULL,          -- JSON array
    enabled           INTEGER NOT NULL,
    replay_protection INTEGER NOT NULL,
    webhook_secret    BLOB NOT NULL,          -- sealed
    webhook_secret_old BLOB,                  -- sealed
    webhook_old_until INTEGER NOT NULL DEFAULT 0,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL
);
CREATE TABLE app_campaigns (
    app_id      TEXT NOT NULL REFERENCES apps(app_id),
    campaign_id TEXT NOT NULL,
    PRIMARY KEY (app_id, campaign_id)
);
CREATE TABLE app_keys (
    key_id      TEXT PRIMARY KEY,
    app_id      TEXT NOT NULL REFERENCES apps(app_id),
    private_key BLOB NOT NULL,                -- sealed PKCS#8
    public_pem  TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    retired_at  INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX app_keys_app ON app_keys(app_id, created_at);
CREATE TABLE tokens (
    hash        BLOB PRIMARY KEY,             -- SHA-256 of the token
    app_id      TEXT NOT NULL,
    kind        TEXT NOT NULL,
    family      TEXT NOT NULL,
    generation  INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    used_at     INTEGER NOT NULL DEFAULT 0,
    revoked     INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX tokens_family ON tokens(family, generation);
CREATE INDEX tokens_issued ON tokens(app_id, generation, created_at);
CREATE INDEX tokens_expiry ON tokens(expires_at);
CREATE TABLE users (
    app_id     TEXT NOT NULL,
    auid_hash  BLOB NOT NULL,                 -- HMAC of the auid; the auid is not stored
    vuid       TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (app_id, auid_hash)
);
CREATE TABLE bins (
    bin                    TEXT PRIMARY KEY,
    bid                    TEXT NOT NULL,
    issuer_name            TEXT NOT NULL,
    issuer_name_native     TEXT NOT NULL,
    issuing_country_code   TEXT NOT NULL,
    account_funding_source TEXT NOT NULL,
    product_id             TEXT NOT NULL,
    product_name           TEXT NOT NULL,
    product_name_native    TEXT NOT NULL,
    is_dual_brand          INTEGER NOT NULL,
    is_chip                INTEGER NOT NULL,
    updated_at             INTEGER NOT NULL
);
CREATE TABLE cards (
    card_id    TEXT PRIMARY KEY,
    pan_hash   BLOB NOT NULL UNIQUE,          -- HMAC of the PAN
    pan_sealed BLOB NOT NULL,                 -- AES-GCM under the master key
    bin        TEXT NOT NULL,
    last4      TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TABLE bindings (
    app_id     TEXT NOT NULL,
    card_id    TEXT NOT NULL REFERENCES cards(card_id),
    vuid       TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (app_id, card_id)
);
CREATE INDEX bindings_user ON bindings(app_id, vuid, created_at);
CREATE TABLE nonces (
    app_id     TEXT NOT NULL,
    nonce      TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (app_id, nonce)
);
CREATE TABLE campaigns (
    campaign_id TEXT PRIMARY KEY,
    version     INTEGER NOT NULL,
    doc         TEXT NOT NULL,                -- the applied document, JSON
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
CREATE TABLE campaign_versions (
    campaign_id TEXT NOT NULL,
    version     INTEGER NOT NULL,
    doc         TEXT NOT NULL,
    applied_at  INTEGER NOT NULL,
    PRIMARY KEY (campaign_id, version)
);

-- +goose Down
DROP TABLE campaign_versions;
DROP TABLE campaigns;
DROP TABLE nonces;
DROP TABLE bindings;
DROP TABLE cards;
DROP TABLE bins;
DROP TABLE users;
DROP TABLE tokens;
DROP TABLE app_keys;
DROP TABLE app_campaigns;
DROP TABLE apps;
