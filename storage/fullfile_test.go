package storage_test

import (
	"fmt"
	"path/filepath"
	"testing"

	"aggregator"
	"aggregator/storage"
)

// fillUntilFull stores feeds of real items into db until a write fails
// as on a full disk, and returns that error.
func fillUntilFull(t *testing.T, db *storage.DB) error {
	t.Helper()
	real := realItems(t, "x", t0)
	for f := range 1000 {
		name := fmt.Sprintf("feed%03d", f)
		if _, err := db.SaveFetch(t.Context(), aggregator.FeedState{Name: name, URL: "http://127.0.0.1/" + name}, synthItems(real, name, 50, t0)); err != nil {
			return err
		}
	}
	t.Fatal("the file never filled up")
	return nil
}

// TestLastWriteError: a commit that fails for want of room is kept for
// health checks until a write commits again; an invalid write (the
// caller's mistake) is not a failure of the store.
func TestLastWriteError(t *testing.T) {
	db, err := storage.Open(filepath.Join(t.TempDir(), "full.db"), storage.Options{NoSync: true, MaxSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.SaveFetch(t.Context(), aggregator.FeedState{Name: ""}, nil); err == nil {
		t.Fatal("an empty feed name was stored")
	}
	if at, err := db.LastWriteError(); err != nil {
		t.Fatalf("after an invalid write: LastWriteError = %v at %v, want nil", err, at)
	}
	full := fillUntilFull(t, db)
	at, err := db.LastWriteError()
	if err == nil || at.IsZero() || err.Error() != full.Error() {
		t.Fatalf("after %v: LastWriteError = %v at %v, want it", full, err, at)
	}
	// A small write fits in the pages the failed one left free.
	if err := db.PutFeedState(t.Context(), aggregator.FeedState{Name: "small", URL: "http://127.0.0.1/small"}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.LastWriteError(); err != nil {
		t.Errorf("after a write committed: LastWriteError = %v, want nil", err)
	}
}
