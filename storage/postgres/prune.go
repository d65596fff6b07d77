package postgres

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"aggregator"
)

// pruneBatch bounds the items one Prune transaction removes and the
// tombstones one expires, so that no transaction holds the meta lock (and
// with it the clusterer) for long.
const pruneBatch = 4096

// Prune removes the items that are both older than before (Item.Time) and
// first seen before it, except the newest keepPerFeed of each feed, with
// their memberships: a story loses those reports but keeps its ID, its
// times and its other members, and is removed when none is left. Each
// removed item leaves a tombstone that fetches listing the item renew;
// tombstones of pruned items not renewed since before are dropped. It
// works in transactions of at most pruneBatch items and stops between
// them when ctx is done.
func (db *DB) Prune(ctx context.Context, before time.Time, keepPerFeed int) (aggregator.PruneResult, error) {
	var res aggregator.PruneResult
	keep := max(keepPerFeed, 0)
	rows, _ := db.pool.Query(ctx, `SELECT name FROM feeds WHERE item_count > $1 ORDER BY name`, keep)
	feeds, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return res, fmt.Errorf("prune: %w", err)
	}
	for _, feed := range feeds {
		for {
			if err := ctx.Err(); err != nil {
				return res, err
			}
			n, more, err := db.pruneFeed(ctx, feed, before, keep)
			res.Items += n
			if err != nil {
				return res, fmt.Errorf("prune feed %q: %w", feed, err)
			}
			if !more {
				break
			}
		}
	}
	sec, nsec := secNsec(before)
	for {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		var n int64
		err := db.write(ctx, func(tx pgx.Tx) error {
			tag, err := tx.Exec(ctx, `DELETE FROM tombstones WHERE id IN (
				SELECT id FROM tombstones WHERE pruned AND (at_sec, at_nsec) < ($1, $2) LIMIT `+strconv.Itoa(pruneBatch)+`)`, sec, nsec)
			n = tag.RowsAffected()
			return err
		})
		res.Tombstones += int(n)
		if err != nil {
			return res, fmt.Errorf("prune tombstones: %w", err)
		}
		if n < pruneBatch {
			return res, nil
		}
	}
}

// pruneFeed removes up to pruneBatch of feed's prunable items, oldest
// first, and reports whether more may be left. It looks before it locks,
// so a prune with nothing to do takes no lock.
func (db *DB) pruneFeed(ctx context.Context, feed string, before time.Time, keep int) (n int, more bool, err error) {
	victims, more, err := prunable(ctx, db.pool, feed, before, keep)
	if err != nil || len(victims) == 0 {
		return 0, false, err
	}
	err = db.write(ctx, func(tx pgx.Tx) error {
		n = 0
		if _, err := tx.Exec(ctx, feedLocks, []string{feed}); err != nil {
			return err
		}
		if err := lockMeta(ctx, tx); err != nil {
			return err
		}
		// A fetch may have changed the items since: check again, locked.
		rows, _ := tx.Query(ctx, `SELECT data FROM items WHERE id = ANY($1) ORDER BY id FOR UPDATE`, victims)
		var ids []string
		var data []byte
		_, err := pgx.ForEachRow(rows, []any{&data}, func() error {
			it, err := decodeItem(data)
			if err != nil {
				return err
			}
			if it.Time().Before(before) && it.FirstSeen.Before(before) {
				ids = append(ids, it.ID)
			}
			return nil
		})
		if err != nil || len(ids) == 0 {
			return err
		}
		now := time.Now()
		if err := deleteItems(ctx, tx, ids, now, true, true); err != nil {
			return err
		}
		n = len(ids)
		if err := putTombstones(ctx, tx, ids, now, true); err != nil {
			return err
		}
		return db.noteChange(ctx, tx, changeStories)
	})
	if err != nil {
		return 0, false, err
	}
	return n, more, nil
}

// prunable lists, oldest first, up to pruneBatch items of feed dated and
// first seen before before, among its items but the newest keep: only the
// feed's oldest (count - keep) items are candidates, and those of them
// first seen since before are passed over (an old report seen recently is
// kept for now), as in package storage.
func prunable(ctx context.Context, q *pgxpool.Pool, feed string, before time.Time, keep int) (ids []string, more bool, err error) {
	var excess int
	err = q.QueryRow(ctx, `SELECT item_count FROM feeds WHERE name = $1`, feed).Scan(&excess)
	if err != nil && err != pgx.ErrNoRows {
		return nil, false, err
	}
	excess -= keep
	if excess <= 0 {
		return nil, false, nil
	}
	sec, nsec := secNsec(before)
	var (
		afterSec  int64 = math.MinInt64
		afterNsec int32
		afterID   string
		seen      int // candidates looked at
	)
	const page = 1024
	for {
		rows, _ := q.Query(ctx, `SELECT id, t_sec, t_nsec, data FROM items
			WHERE feed = $1 AND (t_sec, t_nsec) < ($2, $3) AND (t_sec, t_nsec, id) > ($4, $5, $6)
			ORDER BY feed, t_sec, t_nsec, id LIMIT `+strconv.Itoa(min(page, excess-seen)), feed, sec, nsec, afterSec, afterNsec, afterID)
		var (
			id   string
			data []byte
			read int
			full bool
		)
		_, err := pgx.ForEachRow(rows, []any{&id, &afterSec, &afterNsec, &data}, func() error {
			read++
			afterID = id
			if full {
				return nil
			}
			if len(ids) == pruneBatch {
				full = true
				return nil
			}
			seen++
			it, err := decodeItem(data)
			if err != nil {
				return fmt.Errorf("item %s: %w", id, err)
			}
			if it.FirstSeen.Before(before) {
				ids = append(ids, id)
			}
			return nil
		})
		if err != nil {
			return nil, false, err
		}
		if full {
			return ids, true, nil
		}
		if seen == excess || read < page {
			return ids, false, nil
		}
	}
}
