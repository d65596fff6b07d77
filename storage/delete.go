package storage

import (
	"bytes"
	"context"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// DeleteItem removes the item with the given ID, its membership (taking it
// out of its cluster, which is deleted when emptied) and leaves a
// tombstone, so that a later fetch listing the item again does not store
// it as new. Deleting an unknown ID still leaves the tombstone.
func (db *DB) DeleteItem(ctx context.Context, id string) error {
	err := db.update(ctx, func(tx *bolt.Tx) error {
		now := time.Now()
		cs := newClusterSet(tx)
		if err := deleteItem(tx, cs, id, now, deleteHow{tombstone: true, countAndState: true}); err != nil {
			return err
		}
		if err := clusteringReset(tx); err != nil {
			return err
		}
		return cs.flush()
	})
	if err != nil {
		return fmt.Errorf("delete item %s: %w", id, err)
	}
	return nil
}

// DeleteFeed removes the named feed's state and all its items, each with a
// tombstone and with its membership (as DeleteItem does), in one
// transaction.
func (db *DB) DeleteFeed(ctx context.Context, name string) error {
	err := db.update(ctx, func(tx *bolt.Tx) error {
		now := time.Now()
		cs := newClusterSet(tx)
		prefix := feedPrefix(nil, name)
		var ids []string
		c := tx.Bucket(bucketFeedItems).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			ids = append(ids, string(k[len(prefix)+timeKeyLen:]))
		}
		for _, id := range ids {
			if err := deleteItem(tx, cs, id, now, deleteHow{tombstone: true}); err != nil {
				return err
			}
		}
		if err := cs.flush(); err != nil {
			return err
		}
		if err := clusteringReset(tx); err != nil {
			return err
		}
		if err := tx.Bucket(bucketFeedCounts).Delete([]byte(name)); err != nil {
			return err
		}
		return tx.Bucket(bucketFeeds).Delete([]byte(name))
	})
	if err != nil {
		return fmt.Errorf("delete feed %q: %w", name, err)
	}
	return nil
}

// deleteHow says what else deleteItem does besides removing the item.
type deleteHow struct {
	// tombstone keeps the ID, so that a later fetch listing the item again
	// does not store it as new.
	tombstone bool
	// countAndState keeps the feed's count and stored TotalItems right
	// (DeleteFeed drops both instead).
	countAndState bool
	// keepTimes leaves the cluster's Published and Updated as they are:
	// pruning old reports neither makes a story newer nor updates it.
	keepTimes bool
}

// deleteItem removes one item and its index entries and membership. The
// cluster changes are left in cs for the caller to flush.
func deleteItem(tx *bolt.Tx, cs *clusterSet, id string, now time.Time, how deleteHow) error {
	key := []byte(id)
	if how.tombstone {
		if err := tx.Bucket(bucketTombstones).Put(key, encodeTombstone(key, now, false)); err != nil {
			return err
		}
	}
	ref, ok, err := lookup(tx, id)
	if !ok || err != nil {
		return err
	}
	it, err := decodeItem(ref.key, tx.Bucket(bucketItemTime).Get(ref.key))
	if err != nil {
		return fmt.Errorf("item %s: %w", id, err)
	}
	m, clustered, err := getMembershipAt(tx, ref.key)
	if err != nil {
		return err
	}
	for _, del := range []struct {
		bucket []byte
		key    []byte
	}{
		{bucketItems, key},
		{bucketItemTime, ref.key},
		{bucketMemTime, ref.key},
		{bucketFeedItems, feedItemKey(it.Feed, ref.key)},
		{bucketPending, ref.key},
	} {
		if err := tx.Bucket(del.bucket).Delete(del.key); err != nil {
			return err
		}
	}
	if clustered {
		if err := cs.removeMember(m.Cluster, id, now, how.keepTimes); err != nil {
			return err
		}
	}
	if !how.countAndState {
		return nil
	}
	n, err := addFeedCount(tx, it.Feed, -1)
	if err != nil {
		return err
	}
	st, ok, err := getFeedState(tx, it.Feed)
	if err != nil || !ok {
		return err
	}
	st.TotalItems = int(n)
	return putFeedState(tx, &st)
}
