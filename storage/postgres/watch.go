package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"aggregator"
)

// The kinds of change a write notifies, the rows of fleet_changes.
const (
	changePending = "pending"
	changeStories = "stories"
)

// notifyChannel is the channel the writes notify on and Watch listens to.
const notifyChannel = "aggregator_changes"

// noteChangeSQL bumps the counters of the kinds in $1 and notifies each
// with its new count and the sender ($2): "stories 42 sender". The rows
// are locked in kind order, so that two writes noting both kinds cannot
// deadlock; a write runs it last, so that it holds a counter's row lock
// only for its commit (while it holds it, it waits for no other lock).
// The notification goes out at commit, and not at all on a rollback.
const noteChangeSQL = `WITH l AS (
		SELECT kind FROM fleet_changes WHERE kind = ANY($1::text[]) ORDER BY kind FOR UPDATE
	), c AS (
		UPDATE fleet_changes f SET n = f.n + 1 FROM l WHERE f.kind = l.kind RETURNING f.kind, f.n
	)
	SELECT pg_notify('` + notifyChannel + `', c.kind || ' ' || c.n || ' ' || $2) FROM c`

// queueChange queues noteChangeSQL for kinds as the last statement of b.
func (db *DB) queueChange(b *pgx.Batch, kinds ...string) {
	b.Queue(noteChangeSQL, kinds, db.sender)
}

// noteChange runs noteChangeSQL for kinds in tx, as its last statement.
func (db *DB) noteChange(ctx context.Context, tx pgx.Tx, kinds ...string) error {
	_, err := tx.Exec(ctx, noteChangeSQL, kinds, db.sender)
	return err
}

// Watch backoff after a broken LISTEN connection: from watchBackoffMin,
// doubling up to watchBackoffMax.
const (
	watchBackoffMin = 100 * time.Millisecond
	watchBackoffMax = 5 * time.Second
)

// Watch calls fn, from Watch's goroutine, when another process (another
// DB, on this database) may have changed what is stored: Pending after
// it stored new items, Stories after it changed the stories (decisions,
// an edited clustered item, a prune, a deletion, an import), and then
// Version has moved on before fn is called, so that rendered outputs are
// rendered again. This DB's own writes are passed over: it knows of
// them, and Version moves with them anyway.
//
// Word comes by LISTEN/NOTIFY on a connection of Watch's own. Every such
// write also counts itself in fleet_changes, and Watch compares those
// counts with the highest it heard of at once when it connects and then
// every Options.WatchCheck: a change whose notification was lost (the
// connection broke, and is opened again with a backoff) is reported by
// the check. fn may be called for a change twice, or once for several:
// it should look at what is stored rather than count calls. fn should
// not take long; notifications wait meanwhile. Watch returns nil when
// ctx ends, and leaves no goroutine behind.
func (db *DB) Watch(ctx context.Context, fn func(aggregator.Change)) error {
	w := &watcher{db: db, fn: fn, heard: make(map[string]int64)}
	backoff := watchBackoffMin
	for {
		start := time.Now()
		w.listen(ctx) // returns when the connection broke or ctx ended
		if ctx.Err() != nil {
			return nil
		}
		if time.Since(start) > watchBackoffMax {
			backoff = watchBackoffMin // it had been up a while
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		backoff = min(2*backoff, watchBackoffMax)
	}
}

// watcher is Watch's state, used by Watch's goroutine only.
type watcher struct {
	db *DB
	fn func(aggregator.Change)
	// heard holds the highest count of each kind Watch knows of, from a
	// notification (its own writes' too) or a check.
	heard map[string]int64
	// primed is false until the first check set heard: what was counted
	// before Watch began is not news.
	primed bool
}

// listen runs one LISTEN connection until it breaks or ctx ends: it
// checks the counts at once (on a reconnection, for what the broken
// connection missed), then waits for notifications, checking again
// every watchCheck. Its error is for tests and debugging; Watch only
// connects again.
func (w *watcher) listen(ctx context.Context) error {
	conn, err := w.db.dedicatedConn(ctx, "aggregator watch")
	if err != nil {
		return fmt.Errorf("watch: connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+notifyChannel); err != nil {
		return fmt.Errorf("watch: listen: %w", err)
	}
	// Listening first, then counting: a write that commits in between is
	// counted or heard of, never neither.
	if err := w.check(ctx, conn); err != nil {
		return err
	}
	nextCheck := time.Now().Add(w.db.watchCheck)
	for {
		wctx, cancel := context.WithDeadline(ctx, nextCheck)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case n != nil:
			w.heardOf(n.Payload)
		case ctx.Err() != nil:
			return ctx.Err()
		case err != nil && !pgconn.Timeout(err) && !errors.Is(err, context.DeadlineExceeded):
			return fmt.Errorf("watch: %w", err)
		}
		if !time.Now().Before(nextCheck) {
			if err := w.check(ctx, conn); err != nil {
				return err
			}
			nextCheck = time.Now().Add(w.db.watchCheck)
		}
	}
}

// heardOf handles a notification's payload: "kind count sender".
func (w *watcher) heardOf(payload string) {
	f := strings.Fields(payload)
	if len(f) != 3 {
		return
	}
	n, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil || n <= w.heard[f[0]] {
		return // not ours to read, or old news
	}
	w.heard[f[0]] = n
	if f[2] != w.db.sender {
		w.report(f[0])
	}
}

// checkTimeout bounds a check, so that a connection that hangs rather
// than breaks is given up too.
const checkTimeout = 5 * time.Second

// check reads the counts and reports each kind that moved past what
// Watch heard of.
func (w *watcher) check(ctx context.Context, conn *pgx.Conn) error {
	cctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	rows, _ := conn.Query(cctx, "SELECT kind, n FROM fleet_changes ORDER BY kind")
	var (
		kind  string
		n     int64
		moved []string
	)
	_, err := pgx.ForEachRow(rows, []any{&kind, &n}, func() error {
		if n > w.heard[kind] {
			w.heard[kind] = n
			moved = append(moved, kind)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("watch: check: %w", err)
	}
	if w.primed {
		for _, k := range moved {
			w.report(k)
		}
	}
	w.primed = true
	return nil
}

// report calls fn for a change of kind, moving Version on first for
// stories.
func (w *watcher) report(kind string) {
	switch kind {
	case changePending:
		w.fn(aggregator.ChangePending)
	case changeStories:
		w.db.version.Add(1)
		w.fn(aggregator.ChangeStories)
	}
}
