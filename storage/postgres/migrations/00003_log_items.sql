-- The cluster log replays items as they were decided on: before Prune
-- removes, or a fetch edits, an item a log record names, its data is
-- copied here; the replay reads the copy first, a trim drops the copies
-- no record names any more, and a reset (a deletion) drops them all. The
-- GIN index finds the records that name an item.

-- +goose Up
CREATE TABLE log_items (
    id   text COLLATE "C" PRIMARY KEY,
    data bytea NOT NULL
);
CREATE INDEX cluster_log_items ON cluster_log USING gin (items);

-- +goose Down
DROP INDEX cluster_log_items;
DROP TABLE log_items;
