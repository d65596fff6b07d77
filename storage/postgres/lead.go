package postgres

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// leaderLock is the key of the session advisory lock the fleet's
// clusterer holds: "aggrlead" in ASCII. Advisory locks belong to one
// database, so a constant is the database's own.
const leaderLock int64 = 0x616767726c656164

// leadPoll is how often Lead tries for the lock while another holds it,
// and leadCheck how often the leader looks that its connection still
// holds it: together they bound the takeover after a leader's death to
// about a second once its session is gone.
const (
	leadPoll  = 500 * time.Millisecond
	leadCheck = 500 * time.Millisecond
)

// Lead blocks until this DB holds the fleet's leadership lock or ctx
// ends. The lock is a session advisory lock on a connection of its own,
// outside the pool: a pooled session would hand the lock to whatever
// borrowed the connection next, and the lock must end with the session,
// which PostgreSQL ends when the process dies, so a killed leader's
// successor takes over as soon as its socket is closed and the next
// poll comes.
//
// lost ends when the leadership does: the connection failed or stopped
// answering, or the lock is no longer held (checked every leadCheck), or
// ctx ended. resign gives the leadership up (unlocks and closes the
// connection) and waits for Lead's goroutine; it must be called, and may
// be called more than once. A leader that lost its connection without
// knowing yet may still act for up to leadCheck: fenced decisions
// (aggregator.Decisions.Fenced) keep it from storing anything then.
func (db *DB) Lead(ctx context.Context) (lost context.Context, resign func(), err error) {
	conn, err := db.awaitLeadership(ctx)
	if err != nil {
		return nil, nil, err
	}
	lostCtx, cancel := context.WithCancel(ctx)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer cancel()
		db.holdLeadership(ctx, conn, stop)
	}()
	var once sync.Once
	resign = func() {
		once.Do(func() {
			close(stop)
			<-done
		})
	}
	return lostCtx, resign, nil
}

// awaitLeadership polls for the leadership lock every leadPoll, on a
// connection it opens again after a failure, until it holds the lock or
// ctx ends.
func (db *DB) awaitLeadership(ctx context.Context) (*pgx.Conn, error) {
	var (
		conn    *pgx.Conn
		lastErr error
	)
	t := time.NewTicker(leadPoll)
	defer t.Stop()
	for {
		if conn == nil {
			c, err := db.dedicatedConn(ctx, "aggregator lead")
			if err == nil {
				conn = c
			} else {
				lastErr = err
			}
		}
		if conn != nil {
			var got bool
			err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", leaderLock).Scan(&got)
			if err == nil && got {
				return conn, nil
			}
			if err != nil {
				lastErr = err
				conn.Close(context.WithoutCancel(ctx))
				conn = nil
			}
		}
		select {
		case <-ctx.Done():
			if conn != nil {
				conn.Close(context.WithoutCancel(ctx))
			}
			if lastErr != nil {
				return nil, fmt.Errorf("lead: %w (last error: %v)", ctx.Err(), lastErr)
			}
			return nil, fmt.Errorf("lead: %w", ctx.Err())
		case <-t.C:
		}
	}
}

// holdLeadership checks every leadCheck that conn still holds the lock,
// and returns when it does not, or when ctx ends or stop closes (then it
// unlocks). Either way it closes conn, which ends the session and any
// lock still with it.
func (db *DB) holdLeadership(ctx context.Context, conn *pgx.Conn, stop <-chan struct{}) {
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
		defer cancel()
		if !conn.IsClosed() {
			_, _ = conn.Exec(cctx, "SELECT pg_advisory_unlock($1)", leaderLock)
		}
		conn.Close(cctx)
	}()
	t := time.NewTicker(leadCheck)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-stop:
			return
		case <-t.C:
		}
		// A check that takes longer than two periods counts as lost: the
		// server or the network hangs, and a successor may be about to
		// take over.
		cctx, cancel := context.WithTimeout(ctx, 2*leadCheck)
		var held bool
		err := conn.QueryRow(cctx, `SELECT EXISTS (SELECT 1 FROM pg_locks
			WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND granted
				AND classid = ($1::bigint >> 32)::oid AND objid = ($1::bigint & 4294967295)::oid AND objsubid = 1)`,
			leaderLock).Scan(&held)
		cancel()
		if err != nil || !held {
			return
		}
	}
}
