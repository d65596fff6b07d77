-- Several slots of a host in one grant.
--
-- fleet_acquire_host grants one slot per call, each call a committed
-- transaction under the host's row lock: a node whose fetches of one
-- host began together (a pass, 16 in flight) asked 16 times in a row,
-- each waiting for the one before. fleet_acquire_host_slots grants up to
-- p_want free slots at once, all under p_token, for a node that counts
-- several requests waiting for the host; with a delay it grants one, as
-- before, since the hold that spaces the starts is one grant's.
--
-- It also writes less than fleet_acquire_host: the host's row is
-- inserted only when it is missing (an INSERT ... ON CONFLICT DO NOTHING
-- on every call waited for whoever had just updated the row), and a
-- grant without a delay updates it only to clear a hold that ran out.
-- fleet_acquire_host stays, unchanged, for nodes not upgraded yet: both
-- keep the same rows by the same rules.

-- +goose Up
-- +goose StatementBegin
CREATE FUNCTION fleet_acquire_host_slots(p_host text, p_node text, p_per_host integer, p_want integer,
        p_delay_us bigint, p_lease_us bigint, p_token bigint,
        OUT granted_slots integer[], OUT wait_us bigint, OUT granted_at timestamptz)
LANGUAGE plpgsql AS $$
DECLARE
    t     timestamptz;
    start timestamptz;
    soon  timestamptz;
    held  boolean;
BEGIN
    SELECT h.next_start, h.hold_token IS NOT NULL INTO start, held
        FROM fetch_hosts h WHERE h.host = p_host FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO fetch_hosts (host, next_start) VALUES (p_host, '-infinity')
            ON CONFLICT (host) DO NOTHING;
        SELECT h.next_start, h.hold_token IS NOT NULL INTO start, held
            FROM fetch_hosts h WHERE h.host = p_host FOR UPDATE;
    END IF;
    t := clock_timestamp();
    IF start > t THEN
        wait_us := ceil(extract(epoch FROM start - t) * 1e6)::bigint;
        IF held THEN
            -- The send usually comes within milliseconds: look again
            -- after delay, not at the hold's end.
            wait_us := least(wait_us, greatest(p_delay_us, 1000));
        END IF;
        RETURN;
    END IF;
    SELECT array_agg(free.n ORDER BY free.n) INTO granted_slots FROM (
        SELECT s.n FROM generate_series(0, p_per_host - 1) AS s(n)
            LEFT JOIN fetch_slots f ON f.host = p_host AND f.slot = s.n
            WHERE f.slot IS NULL OR f.until <= t
            ORDER BY s.n
            LIMIT CASE WHEN p_delay_us > 0 THEN 1 ELSE greatest(p_want, 1) END) AS free;
    IF granted_slots IS NULL THEN
        SELECT min(f.until) INTO soon FROM fetch_slots f WHERE f.host = p_host AND f.slot < p_per_host;
        wait_us := greatest(ceil(extract(epoch FROM soon - t) * 1e6)::bigint, 1);
        RETURN;
    END IF;
    INSERT INTO fetch_slots (host, slot, node, until, token)
        SELECT p_host, g.n, p_node, t + p_lease_us * interval '1 microsecond', p_token
        FROM unnest(granted_slots) AS g(n)
        ON CONFLICT (host, slot) DO UPDATE SET node = excluded.node, until = excluded.until, token = excluded.token;
    IF p_delay_us > 0 THEN
        -- Held until the request is sent (fleet_host_sent), at most the lease.
        UPDATE fetch_hosts SET next_start = t + greatest(p_lease_us, p_delay_us) * interval '1 microsecond',
            hold_token = p_token
            WHERE host = p_host;
    ELSIF held THEN
        -- A hold whose lease ran out (its node never sent): it holds no more.
        UPDATE fetch_hosts SET hold_token = NULL WHERE host = p_host;
    END IF;
    wait_us := 0;
    granted_at := t;
END
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION fleet_acquire_host_slots(text, text, integer, integer, bigint, bigint, bigint);
