-- A fleet of daemons on one database (see doc.go, "Fleet"): feed leases,
-- fleet-wide host politeness, and change counters behind LISTEN/NOTIFY.
--
-- The feeds columns copy what a claim filters on out of the state, so
-- that ClaimFeeds is one indexed statement and never decodes a state.
-- next_fetch is timestamptz, not the (sec, nsec) pair the other ordered
-- times use: it is compared with the database's clock (now(), lease_until)
-- and never ordered to the nanosecond, and the exact NextFetch stays in
-- the state; microseconds lose nothing a schedule cares about. A state
-- without NextFetch is due at once ('-infinity' here; Go writes the zero
-- time, year 1, which is as good).
--
-- The backfill reads the JSON states. A gob state (state_gob, for a
-- state with bytes that are not UTF-8) cannot be decoded in SQL: such a
-- feed is backfilled as due now and not disabled, which at worst fetches
-- it once early (a disabled one is then stored disabled again); the
-- program's next write of its state sets the columns right.

-- +goose Up
ALTER TABLE feeds
    ADD COLUMN next_fetch  timestamptz NOT NULL DEFAULT '-infinity',
    ADD COLUMN disabled    boolean     NOT NULL DEFAULT false,
    -- lease_node holds the feed until lease_until; an ended lease is no
    -- lease, so a killed node's feeds come back by themselves.
    ADD COLUMN lease_node  text COLLATE "C",
    ADD COLUMN lease_until timestamptz;
UPDATE feeds SET
    next_fetch = coalesce((state->>'next_fetch')::timestamptz, '-infinity'),
    disabled   = coalesce((state->>'disabled')::boolean, false)
WHERE state IS NOT NULL;
CREATE INDEX feeds_leased ON feeds (lease_until) WHERE lease_until IS NOT NULL;

-- fetch_hosts serialises the starts of requests to a host: its row is
-- locked while a slot is granted, and next_start is the earliest the
-- next request may start. fetch_slots are the perHost slots of a host,
-- each leased to a node until "until" with a token only its holder
-- knows, so that a late release cannot free a slot granted again since.
CREATE TABLE fetch_hosts (
    host       text COLLATE "C" PRIMARY KEY,
    next_start timestamptz NOT NULL
);
CREATE TABLE fetch_slots (
    host  text COLLATE "C" NOT NULL REFERENCES fetch_hosts ON DELETE CASCADE,
    slot  integer     NOT NULL,
    node  text COLLATE "C" NOT NULL,
    until timestamptz NOT NULL,
    token bigint      NOT NULL,
    PRIMARY KEY (host, slot)
);

-- fleet_acquire_host grants a slot of host or says how long to wait. It
-- reads the clock after the host's row lock is taken, so that a grant
-- that waited for the lock still keeps the starts delay apart. It
-- returns (the slot, 0, the grant's time) or (NULL, microseconds to
-- wait, NULL).
-- +goose StatementBegin
CREATE FUNCTION fleet_acquire_host(p_host text, p_node text, p_per_host integer,
        p_delay_us bigint, p_lease_us bigint, p_token bigint,
        OUT granted_slot integer, OUT wait_us bigint, OUT granted_at timestamptz)
LANGUAGE plpgsql AS $$
DECLARE
    t     timestamptz;
    start timestamptz;
    soon  timestamptz;
BEGIN
    INSERT INTO fetch_hosts (host, next_start) VALUES (p_host, '-infinity')
        ON CONFLICT (host) DO NOTHING;
    SELECT h.next_start INTO start FROM fetch_hosts h WHERE h.host = p_host FOR UPDATE;
    t := clock_timestamp();
    IF start > t THEN
        wait_us := ceil(extract(epoch FROM start - t) * 1e6)::bigint;
        RETURN;
    END IF;
    SELECT s.n INTO granted_slot FROM generate_series(0, p_per_host - 1) AS s(n)
        LEFT JOIN fetch_slots f ON f.host = p_host AND f.slot = s.n
        WHERE f.slot IS NULL OR f.until <= t
        ORDER BY s.n LIMIT 1;
    IF granted_slot IS NULL THEN
        SELECT min(f.until) INTO soon FROM fetch_slots f WHERE f.host = p_host AND f.slot < p_per_host;
        wait_us := greatest(ceil(extract(epoch FROM soon - t) * 1e6)::bigint, 1);
        RETURN;
    END IF;
    INSERT INTO fetch_slots (host, slot, node, until, token)
        VALUES (p_host, granted_slot, p_node, t + p_lease_us * interval '1 microsecond', p_token)
        ON CONFLICT (host, slot) DO UPDATE SET node = excluded.node, until = excluded.until, token = excluded.token;
    UPDATE fetch_hosts SET next_start = t + p_delay_us * interval '1 microsecond' WHERE host = p_host;
    wait_us := 0;
    granted_at := t;
END
$$;
-- +goose StatementEnd

-- fleet_changes counts the writes others may want to hear of: 'pending'
-- (new items stored) and 'stories' (stories changed). Each such write
-- bumps its row last thing before it commits and notifies with the new
-- count, so counts commit in order and a watcher that missed a
-- notification finds a count above the last it heard of.
CREATE TABLE fleet_changes (
    kind text COLLATE "C" PRIMARY KEY,
    n    bigint NOT NULL DEFAULT 0
);
INSERT INTO fleet_changes (kind) VALUES ('pending'), ('stories');

-- +goose Down
DROP TABLE fleet_changes;
DROP FUNCTION fleet_acquire_host(text, text, integer, bigint, bigint, bigint);
DROP TABLE fetch_slots, fetch_hosts;
DROP INDEX feeds_leased;
ALTER TABLE feeds
    DROP COLUMN lease_until,
    DROP COLUMN lease_node,
    DROP COLUMN disabled,
    DROP COLUMN next_fetch;
