package storage

import (
	"encoding/binary"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Latest returns the newest Item.Time() among the stored items, zero when
// there are none. The dedupe index is rebuilt for the window ending there
// rather than at the wall clock, so that a database of older items (an
// archive, a backfill) clusters the same after a restart.
func (db *DB) Latest() (time.Time, error) {
	var t time.Time
	err := db.view(func(tx *bolt.Tx) error {
		k, _ := tx.Bucket(bucketItemTime).Cursor().Last()
		if k == nil {
			return nil
		}
		if len(k) < timeKeyLen {
			return fmt.Errorf("item time key %x: %w", k, errCorrupt)
		}
		sec := int64(binary.BigEndian.Uint64(k[:8]) ^ (1 << 63))
		t = time.Unix(sec, int64(binary.BigEndian.Uint32(k[8:timeKeyLen]))).UTC()
		return nil
	})
	if err != nil {
		return time.Time{}, fmt.Errorf("latest item: %w", err)
	}
	return t, nil
}
