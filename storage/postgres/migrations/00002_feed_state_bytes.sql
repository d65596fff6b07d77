-- A FeedState is JSON unless one of its strings is not valid UTF-8 (an
-- ETag may hold any byte from 0x80 on): JSON would replace those bytes,
-- and validators must go back to the server byte for byte. Such a state
-- is kept in state_gob (encoding/gob, which keeps strings as bytes) and
-- state is NULL; exactly one of the two is set.

-- +goose Up
ALTER TABLE feeds ALTER COLUMN state DROP NOT NULL;
ALTER TABLE feeds ADD COLUMN state_gob bytea;
ALTER TABLE feeds ADD CONSTRAINT feeds_one_state CHECK ((state IS NULL) <> (state_gob IS NULL));

-- +goose Down
DELETE FROM feeds WHERE state IS NULL;
ALTER TABLE feeds DROP CONSTRAINT feeds_one_state;
ALTER TABLE feeds DROP COLUMN state_gob;
ALTER TABLE feeds ALTER COLUMN state SET NOT NULL;
