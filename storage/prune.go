package storage

import (
	"bytes"
	"context"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// pruneBatch bounds the items one Prune transaction removes, so that
// fetches waiting to store are held up for a moment, not for the whole
// backlog of a first prune.
const pruneBatch = 4096

// A tombstone left by Prune is marked pruned (see encodeTombstone). Such
// tombstones expire; those of DeleteItem and DeleteFeed do not.

// tombRefresh is how old a pruned item's tombstone gets before a fetch
// that still lists the item renews it.
const tombRefresh = 24 * time.Hour

// Prune keeps the database from growing without end. It removes the items
// that are both older than before (Item.Time: published, else first seen)
// and first seen before it, except the newest keepPerFeed of each feed,
// with their memberships: a story loses those reports but keeps its ID,
// its times and its other members, and is removed when none is left.
// Items first seen recently stay however old their date, so a feed's
// back catalogue fetched today is kept for the same time as news.
//
// Each removed item leaves a tombstone, so that a feed that still lists
// it does not bring it back as new; every fetch that lists it keeps the
// tombstone fresh, and tombstones no fetch has renewed since before are
// dropped, which bounds them to the items feeds still list.
//
// The caller keeps before older than every item its dedupe index holds.
// Prune works in transactions of at most a few thousand items, each
// consistent, and stops between them when ctx is done.
func (db *DB) Prune(ctx context.Context, before time.Time, keepPerFeed int) (PruneResult, error) {
	var res PruneResult
	feeds, err := db.prunableFeeds(ctx, keepPerFeed)
	if err != nil {
		return res, fmt.Errorf("prune: %w", err)
	}
	var logged loggedItems
	for _, feed := range feeds {
		for {
			if err := ctx.Err(); err != nil {
				return res, err
			}
			n, more, err := db.pruneFeed(ctx, feed, before, keepPerFeed, &logged)
			res.Items += n
			if err != nil {
				return res, fmt.Errorf("prune feed %q: %w", feed, err)
			}
			if !more {
				break
			}
		}
	}
	var from []byte
	for {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		n, next, err := db.expireTombstones(ctx, from, before)
		res.Tombstones += n
		if err != nil {
			return res, fmt.Errorf("prune tombstones: %w", err)
		}
		if next == nil {
			return res, nil
		}
		from = next
	}
}

// prunableFeeds lists the feeds holding more than keep items.
func (db *DB) prunableFeeds(ctx context.Context, keep int) ([]string, error) {
	var feeds []string
	err := db.view(ctx, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketFeedCounts).ForEach(func(k, v []byte) error {
			if readUint64(v) > uint64(max(keep, 0)) {
				feeds = append(feeds, string(k))
			}
			return nil
		})
	})
	return feeds, err
}

// pruneFeed removes up to pruneBatch of feed's prunable items, oldest
// first, and reports whether more may be left. It looks in a read
// transaction and writes only when it found something, so a prune with
// nothing to do costs no commit.
func (db *DB) pruneFeed(ctx context.Context, feed string, before time.Time, keep int, logged *loggedItems) (n int, more bool, err error) {
	var victims []string
	err = db.view(ctx, func(tx *bolt.Tx) error {
		victims, more, err = prunable(tx, feed, before, keep)
		return err
	})
	if err != nil || len(victims) == 0 {
		return 0, false, err
	}
	err = db.update(ctx, func(tx *bolt.Tx) error {
		now := time.Now()
		cs := newClusterSet(tx)
		if err := logged.refresh(tx); err != nil {
			return err
		}
		for _, id := range victims {
			// A fetch may have changed the item since: check again.
			it, ok, err := getItem(tx, id)
			if err != nil {
				return err
			}
			if !ok || !it.Time().Before(before) || !it.FirstSeen.Before(before) {
				continue
			}
			if logged.ids[id] {
				if err := keepForLog(tx, &it); err != nil {
					return err
				}
			}
			if err := deleteItem(tx, cs, id, now, deleteHow{countAndState: true, keepTimes: true}); err != nil {
				return err
			}
			if err := tx.Bucket(bucketTombstones).Put([]byte(id), encodeTombstone([]byte(id), now, true)); err != nil {
				return err
			}
			n++
		}
		if err := cs.flush(); err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		return clusteringChanged(tx)
	})
	if err != nil {
		return 0, false, err
	}
	return n, more, nil
}

// prunable lists, oldest first, up to pruneBatch items of feed that are
// dated and first seen before before, leaving its newest keep items: only
// the items older than those are candidates, so an old report first seen
// recently, which is not pruned, does not expose a newer one in its place.
func prunable(tx *bolt.Tx, feed string, before time.Time, keep int) (ids []string, more bool, err error) {
	excess := int(feedCount(tx, feed)) - max(keep, 0)
	if excess <= 0 {
		return nil, false, nil
	}
	limit := appendTimeKey(nil, before)
	prefix := feedPrefix(nil, feed)
	c := tx.Bucket(bucketFeedItems).Cursor()
	seen := 0 // candidates looked at, oldest first
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		key := k[len(prefix):]
		if len(key) < timeKeyLen {
			return nil, false, fmt.Errorf("feed item key %x: %w", k, errCorrupt)
		}
		if bytes.Compare(key[:timeKeyLen], limit) >= 0 {
			break // the rest is newer
		}
		if seen == excess {
			break // the rest are the newest keep
		}
		if len(ids) == pruneBatch {
			return ids, true, nil
		}
		seen++
		it, err := decodeItem(key, tx.Bucket(bucketItemTime).Get(key))
		if err != nil {
			return nil, false, fmt.Errorf("item at %x: %w", key, err)
		}
		if it.FirstSeen.Before(before) {
			ids = append(ids, it.ID)
		} // else an old report seen recently: kept for now
	}
	return ids, false, nil
}

// expireTombstones drops, from key from on and for at most pruneBatch
// tombstones read, the pruned items' tombstones last renewed before
// before. It returns where to go on, nil at the end; like pruneFeed, it
// writes only when it found something.
func (db *DB) expireTombstones(ctx context.Context, from []byte, before time.Time) (n int, next []byte, err error) {
	var expired [][]byte
	err = db.view(ctx, func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketTombstones).Cursor()
		k, v := c.First()
		if from != nil {
			k, v = c.Seek(from)
		}
		for read := 0; k != nil; k, v = c.Next() {
			if read == pruneBatch {
				next = bytes.Clone(k)
				break
			}
			read++
			if t, ok := prunedTombstone(k, v); ok && t.Before(before) {
				expired = append(expired, bytes.Clone(k))
			}
		}
		return nil
	})
	if err != nil || len(expired) == 0 {
		return 0, next, err
	}
	err = db.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketTombstones)
		for _, k := range expired {
			// A fetch may have renewed it since.
			if t, ok := prunedTombstone(k, b.Get(k)); !ok || !t.Before(before) {
				continue
			}
			if err := b.Delete(k); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	return n, next, nil
}

// prunedTombstone returns the time of a tombstone Prune left; ok is false
// for the tombstone of a deletion, which never expires, and for a damaged
// one, which is thus kept: a removed story must not come back.
func prunedTombstone(k, v []byte) (time.Time, bool) {
	t, pruned, err := decodeTombstone(k, v)
	if err != nil || !pruned {
		return time.Time{}, false
	}
	return t, true
}

// renewTombstone keeps a pruned item's tombstone alive while a feed still
// lists the item; see Prune.
func renewTombstone(b *bolt.Bucket, id, v []byte, now time.Time) error {
	t, ok := prunedTombstone(id, v)
	if !ok || now.Sub(t) < tombRefresh {
		return nil
	}
	return b.Put(id, encodeTombstone(id, now, true))
}
