-- A FeedState is written in itemcodec's binary layout (state_bin, after a
-- layout byte), which keeps every string byte for byte and costs a
-- fraction of JSON to encode and decode: an unchanged pass reads and
-- writes every feed's state and does little else. Rows written before
-- keep their JSON (state) or gob (state_gob) until their next write;
-- exactly one of the three is set.

-- +goose Up
ALTER TABLE feeds ADD COLUMN state_bin bytea;
ALTER TABLE feeds DROP CONSTRAINT feeds_one_state;
ALTER TABLE feeds ADD CONSTRAINT feeds_one_state CHECK (num_nonnulls(state, state_gob, state_bin) = 1);

-- +goose Down
-- SQL cannot turn a binary state back into JSON: those feeds lose their
-- state (validators, schedule) and are fetched afresh, as after 00002's
-- Down.
DELETE FROM feeds WHERE state_bin IS NOT NULL;
ALTER TABLE feeds DROP CONSTRAINT feeds_one_state;
ALTER TABLE feeds ADD CONSTRAINT feeds_one_state CHECK ((state IS NULL) <> (state_gob IS NULL));
ALTER TABLE feeds DROP COLUMN state_bin;
