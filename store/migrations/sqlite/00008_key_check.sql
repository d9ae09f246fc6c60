-- +goose Up
-- The master key's check value (a keyed hash of a fixed label, never the key), written the first
-- time a server starts on the database: a start with another key is refused instead of serving
-- calls whose sealed data cannot open. One row at most.
CREATE TABLE key_check (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    mac        BLOB NOT NULL,
    created_at INTEGER NOT NULL
);

-- +goose Down
DROP TABLE key_check;
