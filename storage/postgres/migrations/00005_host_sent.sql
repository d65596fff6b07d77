-- Host delay measured from the server's answer, not from the grant.
--
-- Migration 4 spaced the grants of a host's slots delay apart, by the
-- database's clock. What a server sees is the requests' arrival, which
-- follows the grant by the grant's trip back to its node and the
-- node's dial: on a loaded machine two grants delay apart arrived as
-- little as 0.75 × delay apart (scripts/fleet counted 16% of successive
-- requests to one host closer than host_delay). Now a grant holds the
-- host (next_start at the grant's lease end, hold_token the grant's
-- token) until its node reports that the server answered
-- (fleet_host_sent, at the answer's first byte, or at the release when
-- none came): only then does next_start become that moment plus delay.
-- A node killed between grant and send holds the host until the grant's
-- lease ends, as it holds its slot.

-- +goose Up
ALTER TABLE fetch_hosts ADD COLUMN hold_token bigint;

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION fleet_acquire_host(p_host text, p_node text, p_per_host integer,
        p_delay_us bigint, p_lease_us bigint, p_token bigint,
        OUT granted_slot integer, OUT wait_us bigint, OUT granted_at timestamptz)
LANGUAGE plpgsql AS $$
DECLARE
    t     timestamptz;
    start timestamptz;
    soon  timestamptz;
    held  boolean;
BEGIN
    INSERT INTO fetch_hosts (host, next_start) VALUES (p_host, '-infinity')
        ON CONFLICT (host) DO NOTHING;
    SELECT h.next_start, h.hold_token IS NOT NULL INTO start, held
        FROM fetch_hosts h WHERE h.host = p_host FOR UPDATE;
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
    IF p_delay_us > 0 THEN
        -- Held until the request is sent (fleet_host_sent), at most the lease.
        UPDATE fetch_hosts SET next_start = t + greatest(p_lease_us, p_delay_us) * interval '1 microsecond',
            hold_token = p_token
            WHERE host = p_host;
    ELSE
        UPDATE fetch_hosts SET next_start = t, hold_token = NULL WHERE host = p_host;
    END IF;
    wait_us := 0;
    granted_at := t;
END
$$;
-- +goose StatementEnd

-- fleet_host_sent ends the hold of the grant p_token: the host's next
-- start is delay after now. It does nothing when the hold is not that
-- grant's (already reported, or the lease ended and another took the
-- host). It returns the time it recorded, or NULL.
-- +goose StatementBegin
CREATE FUNCTION fleet_host_sent(p_host text, p_token bigint, p_delay_us bigint)
RETURNS timestamptz
LANGUAGE sql AS $$
    UPDATE fetch_hosts SET next_start = clock_timestamp() + p_delay_us * interval '1 microsecond',
        hold_token = NULL
    WHERE host = p_host AND hold_token = p_token
    RETURNING next_start - p_delay_us * interval '1 microsecond';
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION fleet_host_sent(text, bigint, bigint);
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION fleet_acquire_host(p_host text, p_node text, p_per_host integer,
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
ALTER TABLE fetch_hosts DROP COLUMN hold_token;
