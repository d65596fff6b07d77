package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// DeleteItem removes the item with the given ID, its membership (taking it
// out of its cluster, which is deleted when emptied, else gets a new
// Published and Updated) and leaves a tombstone, so that a later fetch
// listing the item again does not store it as new. Deleting an unknown ID
// still leaves the tombstone. The cluster log cannot replay a deletion:
// it is the stamp's new reset point.
func (db *DB) DeleteItem(ctx context.Context, id string) error {
	err := db.write(ctx, func(tx pgx.Tx) error {
		// The item's feed first (see feedLocks), then meta: the order
		// every writer takes them in.
		var feed string
		err := tx.QueryRow(ctx, `SELECT feed FROM items WHERE id = $1`, id).Scan(&feed)
		if err != nil && err != pgx.ErrNoRows {
			return err
		}
		if err == nil {
			if _, err := tx.Exec(ctx, feedLocks, []string{feed}); err != nil {
				return err
			}
		}
		if err := lockMeta(ctx, tx); err != nil {
			return err
		}
		now := time.Now()
		if err := putTombstones(ctx, tx, []string{id}, now, false); err != nil {
			return err
		}
		if err := deleteItems(ctx, tx, []string{id}, now, false, true); err != nil {
			return err
		}
		return db.noteChange(ctx, tx, changeStories)
	})
	if err != nil {
		return fmt.Errorf("delete item %s: %w", id, err)
	}
	return nil
}

// DeleteFeed removes the named feed's state and all its items, each with a
// tombstone and with its membership (as DeleteItem does), in one
// transaction. Its lease goes with its row: a fleet still configured
// with the feed claims it afresh, as a feed never fetched.
func (db *DB) DeleteFeed(ctx context.Context, name string) error {
	err := db.write(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, feedLocks, []string{name}); err != nil {
			return err
		}
		if err := lockMeta(ctx, tx); err != nil {
			return err
		}
		rows, _ := tx.Query(ctx, `SELECT id FROM items WHERE feed = $1`, name)
		ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		now := time.Now()
		if err := putTombstones(ctx, tx, ids, now, false); err != nil {
			return err
		}
		if err := deleteItems(ctx, tx, ids, now, false, false); err != nil {
			return err
		}
		if _, err = tx.Exec(ctx, `DELETE FROM feeds WHERE name = $1`, name); err != nil {
			return err
		}
		return db.noteChange(ctx, tx, changeStories)
	})
	if err != nil {
		return fmt.Errorf("delete feed %q: %w", name, err)
	}
	return nil
}

// putTombstones marks ids removed at now: a deletion's tombstone
// (pruned false) stays, Prune's expire.
func putTombstones(ctx context.Context, tx pgx.Tx, ids []string, now time.Time, pruned bool) error {
	if len(ids) == 0 {
		return nil
	}
	sec, nsec := secNsec(now)
	_, err := tx.Exec(ctx, `INSERT INTO tombstones (id, at_sec, at_nsec, pruned)
		SELECT id, $2, $3, $4 FROM unnest($1::text[]) AS x(id)
		ON CONFLICT (id) DO UPDATE SET at_sec = excluded.at_sec, at_nsec = excluded.at_nsec, pruned = excluded.pruned`,
		ids, sec, nsec, pruned)
	return err
}

// deleteItems removes the stored items among ids with their memberships
// and pending entries, and takes them out of their clusters (keepTimes:
// leaving the clusters' Published and Updated as they are, for Prune).
// countAndState keeps the feeds' item counts right (DeleteFeed drops the
// feed instead). The caller holds the meta lock; deleteItems advances the
// ClusterStamp, as a reset unless keepTimes (Prune's removals are older
// than anything an index holds, and need none).
func deleteItems(ctx context.Context, tx pgx.Tx, ids []string, now time.Time, keepTimes, countAndState bool) error {
	cs := newClusterSet()
	if err := cs.load(ctx, tx, ids, nil, nil); err != nil {
		return err
	}
	var leaving []string
	for _, id := range ids {
		if cid, ok := cs.memberOf[id]; ok {
			leaving = append(leaving, cid)
		}
	}
	if err := cs.loadMembers(ctx, tx, leaving); err != nil {
		return err
	}
	for _, id := range ids {
		if cid, ok := cs.memberOf[id]; ok {
			if err := cs.removeMember(cid, id, now, keepTimes); err != nil {
				return err
			}
		}
	}
	var b pgx.Batch
	if keepTimes {
		b.Queue(keepLoggedSQL, ids) // Prune: the log may still replay them
	} else {
		b.Queue(`DELETE FROM log_items`) // a reset: no record will be replayed
	}
	// The items' memberships and pending rows go with them (no foreign
	// key cascades: see migrations/00006_no_foreign_keys.sql).
	b.Queue(`DELETE FROM memberships WHERE item_id = ANY($1)`, ids)
	b.Queue(`DELETE FROM pending WHERE item_id = ANY($1)`, ids)
	del := `DELETE FROM items WHERE id = ANY($1)`
	if countAndState {
		del = `WITH gone AS (DELETE FROM items WHERE id = ANY($1) RETURNING feed)
			UPDATE feeds f SET item_count = greatest(f.item_count - g.n, 0)
			FROM (SELECT feed, count(*) AS n FROM gone GROUP BY feed) g WHERE f.name = g.feed`
	}
	b.Queue(del, ids)
	cs.flush(&b)
	if keepTimes {
		b.Queue(`UPDATE meta SET cluster_seq = cluster_seq + 1`)
	} else {
		b.Queue(`UPDATE meta SET cluster_seq = cluster_seq + 1, cluster_reset = cluster_seq + 1`)
	}
	return tx.SendBatch(ctx, &b).Close()
}
