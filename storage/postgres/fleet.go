package postgres

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"aggregator"
)

// addMissingFeeds inserts a row, with a state of only its name, for each
// named feed that has none, so that ClaimFeeds can lock and lease it. In
// name order, so that two nodes adding the same names wait for each
// other instead of deadlocking.
const addMissingFeeds = `INSERT INTO feeds (name, state)
	SELECT n, json_build_object('name', n) FROM unnest($1::text[]) AS n
	WHERE NOT EXISTS (SELECT 1 FROM feeds f WHERE f.name = n)
	ORDER BY n
	ON CONFLICT (name) DO NOTHING`

// claimFeeds leases up to the limit (written in with claimSQL) of the
// named feeds that are due, not disabled and not leased, to $2 for $3
// microseconds, and returns their rows; then one row with only "next":
// the earliest due time or lease end among the named feeds left,
// ignoring disabled ones, and now for one already due (or -infinity, the
// due time of a row no state set, which time.Time cannot hold). SKIP LOCKED passes over a row another node is
// claiming this moment: nodes claim side by side instead of queueing,
// and when the other node's claim committed first, PostgreSQL checks the
// WHERE again on the row as it left it, so a feed is never leased twice.
//
// The names are joined (IN a subquery), not matched with = ANY($1): once
// PostgreSQL settles on a generic plan it no longer hashes a parameter
// array, and scanning a thousand names for each of a thousand rows made a
// claim five times slower.
const claimFeeds = `WITH t AS (SELECT clock_timestamp() AS now),
	cand AS (
		SELECT f.name FROM feeds f, t
		WHERE f.name IN (SELECT unnest($1::text[])) AND NOT f.disabled AND f.next_fetch <= t.now
			AND (f.lease_until IS NULL OR f.lease_until <= t.now)
		ORDER BY f.next_fetch, f.name
		LIMIT %d
		FOR UPDATE OF f SKIP LOCKED
	),
	claimed AS (
		UPDATE feeds f SET lease_node = $2, lease_until = t.now + $3::bigint * interval '1 microsecond'
		FROM cand, t WHERE f.name = cand.name
		RETURNING f.name, f.state, f.state_gob, f.state_bin, f.item_count
	)
	SELECT name, state, state_gob, state_bin, item_count, NULL::timestamptz FROM claimed
	UNION ALL
	SELECT NULL, NULL, NULL, NULL, NULL, (
		SELECT min(greatest(f.next_fetch, f.lease_until, t.now)) FROM feeds f, t
		WHERE f.name IN (SELECT unnest($1::text[])) AND NOT f.disabled AND f.name NOT IN (SELECT name FROM cand))`

// ClaimFeeds leases to node up to limit of the named feeds that are due
// by the database's clock (a feed with no row gets one, holding a state
// of only its name, and is due), not disabled and not leased to anyone
// until later; each lease ends lease from now. It returns the claimed
// feeds' states and the earliest time another of the named feeds falls
// due or its lease ends (zero when none will: all claimed or disabled),
// which may be now or past when more were due than limit.
//
// A lease ends when it runs out, when node stores the feed's fetch
// (SaveFetches with State.Node set to node), or with ReleaseFeeds. It
// takes one round trip: the rows for new names, then the claim, in one
// implicit transaction.
func (db *DB) ClaimFeeds(ctx context.Context, node string, names []string, lease time.Duration, limit int) ([]aggregator.FeedState, time.Time, error) {
	if node == "" {
		return nil, time.Time{}, errors.New("claim feeds: empty node name")
	}
	if lease <= 0 {
		return nil, time.Time{}, fmt.Errorf("claim feeds: lease %v is not positive", lease)
	}
	if len(names) == 0 {
		return nil, time.Time{}, nil
	}
	limit = max(limit, 0)
	for attempt := 0; ; attempt++ {
		claimed, next, err := db.claimFeeds(ctx, node, names, lease, limit)
		var pe *pgconn.PgError
		if err != nil && attempt < maxRetries && errors.As(err, &pe) && (pe.Code == "40P01" || pe.Code == "40001") {
			continue
		}
		if err != nil {
			return nil, time.Time{}, fmt.Errorf("claim feeds for %s: %w", node, err)
		}
		return claimed, next, nil
	}
}

func (db *DB) claimFeeds(ctx context.Context, node string, names []string, lease time.Duration, limit int) ([]aggregator.FeedState, time.Time, error) {
	var (
		claimed []aggregator.FeedState
		next    time.Time
	)
	var b pgx.Batch
	b.Queue(addMissingFeeds, names)
	// The limit is written in, not a parameter: see doc.go, Speed.
	b.Queue(fmt.Sprintf(claimFeeds, limit), names, node, lease.Microseconds()).Query(func(rows pgx.Rows) error {
		var (
			name          *string
			raw, gob, bin []byte
			count         *int
			nextAt        *time.Time
		)
		_, err := pgx.ForEachRow(rows, []any{&name, &raw, &gob, &bin, &count, &nextAt}, func() error {
			if name == nil {
				if nextAt != nil {
					next = *nextAt
				}
				return nil
			}
			st, err := decodeFeedState(*name, raw, gob, bin, *count)
			claimed = append(claimed, st)
			return err
		})
		return err
	})
	if err := db.pool.SendBatch(ctx, &b).Close(); err != nil {
		return nil, time.Time{}, err
	}
	return claimed, next, nil
}

// ReleaseFeeds ends node's leases of the named feeds, leaving their
// states as they are, for fetches a shutdown cut short; leases other
// nodes hold stay.
func (db *DB) ReleaseFeeds(ctx context.Context, node string, names []string) error {
	_, err := db.pool.Exec(ctx, `UPDATE feeds SET lease_node = NULL, lease_until = NULL
		WHERE name = ANY($1::text[]) AND lease_node = $2`, names, node)
	if err != nil {
		return fmt.Errorf("release feeds of %s: %w", node, err)
	}
	return nil
}

// Leases counts the leases not yet ended, by the database's clock: all
// nodes' and node's.
func (db *DB) Leases(ctx context.Context, node string) (all, mine int, err error) {
	err = db.pool.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE lease_node = $1)
		FROM feeds WHERE lease_until > clock_timestamp()`, node).Scan(&all, &mine)
	if err != nil {
		return 0, 0, fmt.Errorf("leases: %w", err)
	}
	return all, mine, nil
}

// DueBy counts the named feeds, not disabled, that were due by t (their
// stored next fetch not after it, or never fetched): the fetches a
// fleet's clusterer waits for before it clusters a wave.
func (db *DB) DueBy(ctx context.Context, names []string, t time.Time) (int, error) {
	var n int
	err := db.pool.QueryRow(ctx, `SELECT count(*) FROM unnest($1::text[]) AS n(name)
		LEFT JOIN feeds f ON f.name = n.name
		WHERE f.name IS NULL OR (NOT f.disabled AND f.next_fetch <= $2)`, names, t).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("feeds due: %w", err)
	}
	return n, nil
}

// AcquireHost poll bounds: it sleeps what the database says is left to
// wait (until the next start is allowed, or the first slot's lease ends),
// at least hostPollMin and at most hostPollMax, since a slot released
// early frees up without word.
const (
	hostPollMin = time.Millisecond
	hostPollMax = 100 * time.Millisecond
)

// releaseTimeout bounds a slot's release, which runs on a context of its
// own: the request is over whether or not the caller's context is.
const releaseTimeout = 5 * time.Second

// AcquireHost blocks until node may start a request to host under the
// fleet-wide limits: at most perHost requests to host in flight across
// every node, and each start at least delay after the previous request
// was sent, both by the database's clock. The slot is leased to node for
// lease, so that a killed node's slots come back. The caller calls sent
// once the server has certainly seen the request (its answer began),
// which lets the host's next request be granted delay later, and
// release once the request is over, which frees the slot (and counts as
// sent if sent was not called); a release after the lease ended frees
// nothing, since the slot may be another's by then. It returns ctx's
// error when ctx ends first.
//
// Each attempt is one call of fleet_acquire_host_slots (migrations 4, 5
// and 8), which grants a slot under the host's row lock or says how long
// to wait; between attempts AcquireHost sleeps. Waiters are not queued:
// under contention any of them may get the next slot. With
// Options.SlotReuse, a host without a delay is asked for by this
// process's waiting requests together (see hostslots.go).
func (db *DB) AcquireHost(ctx context.Context, node, host string, perHost int, delay, lease time.Duration) (sent, release func(), err error) {
	g, err := db.acquireHost(ctx, node, host, perHost, delay, lease)
	if err != nil {
		return nil, nil, err
	}
	return g.sent, g.release, nil
}

// hostGrant is a granted slot of a host.
type hostGrant struct {
	at            time.Time // when it was granted, by the database's clock
	sent, release func()
	// sentAt is when the send was recorded (zero before, or when the
	// host's hold had already ended), for tests.
	sentAt func() time.Time
}

// acquireHost is AcquireHost that also says when the slot was granted
// and the send recorded, by the database's clock.
func (db *DB) acquireHost(ctx context.Context, node, host string, perHost int, delay, lease time.Duration) (*hostGrant, error) {
	if perHost < 1 {
		return nil, fmt.Errorf("acquire host %s: %d requests in flight allowed", host, perHost)
	}
	if lease <= 0 {
		return nil, fmt.Errorf("acquire host %s: lease %v is not positive", host, lease)
	}
	// A slot whose lease is shorter than SlotReuse could never be kept.
	if delay <= 0 && db.slots.reuse > 0 && lease >= db.slots.reuse {
		return db.acquireShared(ctx, node, host, perHost, lease)
	}
	var timer *time.Timer
	for {
		a, err := db.askHost(ctx, node, host, perHost, 1, delay, lease)
		if err != nil {
			return nil, err
		}
		if len(a.slots) > 0 {
			return db.grant(ctx, node, host, a.slots[0], a.token, delay, a.at, a.leaseEnd, false), nil
		}
		if timer == nil {
			timer = time.NewTimer(a.wait)
			defer timer.Stop()
		} else {
			timer.Reset(a.wait)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-timer.C:
		}
	}
}

// hostAsk is what one call of fleet_acquire_host_slots came to: the
// slots granted under token at the database's time at, whose leases end
// at leaseEnd at the earliest by this process's clock; or no slot, and
// how long to wait before asking again.
type hostAsk struct {
	slots        []int32
	token        int64
	at, leaseEnd time.Time
	wait         time.Duration
}

// askHost asks the database once for up to want slots of host (one when
// there is a delay), leased to node for lease.
func (db *DB) askHost(ctx context.Context, node, host string, perHost, want int, delay, lease time.Duration) (hostAsk, error) {
	// The lease ends lease after the database granted it, which is after
	// now: a lower bound by this process's clock.
	a := hostAsk{token: rand.Int64(), leaseEnd: time.Now().Add(lease)}
	var (
		wait    int64
		granted *time.Time
	)
	err := db.pool.QueryRow(ctx, `SELECT granted_slots, wait_us, granted_at FROM fleet_acquire_host_slots($1, $2, $3, $4, $5, $6, $7)`,
		host, node, perHost, want, delay.Microseconds(), lease.Microseconds(), a.token).Scan(&a.slots, &wait, &granted)
	if err != nil {
		if ctx.Err() != nil {
			return hostAsk{}, ctx.Err()
		}
		return hostAsk{}, fmt.Errorf("acquire host %s: %w", host, err)
	}
	if len(a.slots) > 0 && granted != nil {
		a.at = *granted
		return a, nil
	}
	a.slots = nil
	a.wait = min(max(time.Duration(wait)*time.Microsecond, hostPollMin), hostPollMax)
	return a, nil
}

// grant returns the sent and release of a granted slot, each effective
// once: sent ends the host's hold if this grant's token still holds it,
// release does that too and frees the slot if the token still holds it,
// or, when reuse is set, keeps the slot for this process's next request
// to host while enough of its lease (ending at leaseEnd, by this
// process's clock) is left (see hostslots.go).
func (db *DB) grant(ctx context.Context, node, host string, slot int32, token int64, delay time.Duration, at, leaseEnd time.Time, reuse bool) *hostGrant {
	var (
		sentOnce, relOnce sync.Once
		mu                sync.Mutex
		sentAt            time.Time
	)
	sent := func() {
		sentOnce.Do(func() {
			if delay <= 0 {
				return // no hold was taken
			}
			t := db.hostSent(ctx, host, token, delay)
			mu.Lock()
			sentAt = t
			mu.Unlock()
		})
	}
	return &hostGrant{
		at:   at,
		sent: sent,
		release: func() {
			relOnce.Do(func() {
				sent()
				is := idleSlot{node: node, host: host, slot: slot, token: token, at: at, leaseEnd: leaseEnd}
				switch {
				case !reuse:
					db.freeSlots(ctx, []idleSlot{is})
				case !db.keepIdleSlot(is):
					db.freeShared(ctx, []idleSlot{is})
				}
			})
		},
		sentAt: func() time.Time { mu.Lock(); defer mu.Unlock(); return sentAt },
	}
}

// hostSent records that the request of grant token was sent: the host's
// next start is delay after now. It returns the recorded time, or zero
// when the hold was no longer this grant's or the database failed (the
// hold then ends with the grant's lease).
func (db *DB) hostSent(ctx context.Context, host string, token int64, delay time.Duration) time.Time {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
	defer cancel()
	var at *time.Time
	if err := db.pool.QueryRow(rctx, `SELECT fleet_host_sent($1, $2, $3)`, host, token, delay.Microseconds()).Scan(&at); err != nil || at == nil {
		return time.Time{}
	}
	return *at
}

// freeSlots ends the leases of slots, each only while its token still
// holds it, in one statement.
func (db *DB) freeSlots(ctx context.Context, slots []idleSlot) {
	if len(slots) == 0 {
		return
	}
	hosts, nums, tokens := make([]string, len(slots)), make([]int32, len(slots)), make([]int64, len(slots))
	for i, is := range slots {
		hosts[i], nums[i], tokens[i] = is.host, is.slot, is.token
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
	defer cancel()
	// An error leaves the slots to their leases, which end them anyway.
	_, _ = db.pool.Exec(rctx, `DELETE FROM fetch_slots f USING unnest($1::text[], $2::int[], $3::bigint[]) AS u(host, slot, token)
		WHERE f.host = u.host AND f.slot = u.slot AND f.token = u.token`, hosts, nums, tokens)
}
