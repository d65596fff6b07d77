package storage

import (
	"context"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Latest returns the newest Item.Time() among the stored items, zero when
// there are none. The dedupe index is rebuilt for the window ending there
// rather than at the wall clock, so that a database of older items (an
// archive, a backfill) clusters the same after a restart.
func (db *DB) Latest(ctx context.Context) (time.Time, error) {
	var t time.Time
	err := db.view(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketItemTime)
		if b == nil {
			return nil // a read-only open of an uninitialised file
		}
		k, _ := b.Cursor().Last()
		if k == nil {
			return nil
		}
		if len(k) < timeKeyLen {
			return fmt.Errorf("item time key %x: %w", k, errCorrupt)
		}
		t = timeFromKey(k)
		return nil
	})
	if err != nil {
		return time.Time{}, fmt.Errorf("latest item: %w", err)
	}
	return t, nil
}
