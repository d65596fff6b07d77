package storage

import (
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// TestRenewTombstone: a fetch that meets a pruned item's tombstone renews
// it once it is a day old; a deletion's tombstone is left as it is, and
// so is a damaged one. Tombstones of schema 2 (no checksum) count as well.
func TestRenewTombstone(t *testing.T) {
	db, err := Open(filepath.Join(t.TempDir(), "t.db"), Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		id      string
		value   []byte
		renewed bool
	}{
		{"old-pruned", encodeTombstone([]byte("old-pruned"), now.Add(-25*time.Hour), true), true},
		{"fresh-pruned", encodeTombstone([]byte("fresh-pruned"), now.Add(-time.Hour), true), false},
		{"deleted", encodeTombstone([]byte("deleted"), now.Add(-300*24*time.Hour), false), false},
		{"damaged", encodeTombstone([]byte("damagee"), now.Add(-25*time.Hour), true), false},
		{"plain-old-pruned", append(appendTime(nil, now.Add(-25*time.Hour)), tombPruned), true},
		{"plain-fresh-pruned", append(appendTime(nil, now.Add(-time.Hour)), tombPruned), false},
		{"plain-deleted", appendTime(nil, now.Add(-300*24*time.Hour)), false},
	}
	err = db.update(t.Context(), func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketTombstones)
		for _, c := range cases {
			if err := b.Put([]byte(c.id), c.value); err != nil {
				return err
			}
			if err := renewTombstone(b, []byte(c.id), c.value, now); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = db.view(t.Context(), func(tx *bolt.Tx) error {
		for _, c := range cases {
			v := tx.Bucket(bucketTombstones).Get([]byte(c.id))
			tm, pruned := prunedTombstone([]byte(c.id), v)
			if renewed := pruned && tm.Equal(now); renewed != c.renewed {
				t.Errorf("%s: renewed %v, want %v", c.id, renewed, c.renewed)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
