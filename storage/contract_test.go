package storage_test

import (
	"path/filepath"
	"testing"

	"aggregator/storage"
	"aggregator/storage/storetest"
)

// TestContract runs the contract both stores keep against a fresh file
// each.
func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Store {
		t.Helper()
		db, err := storage.Open(filepath.Join(t.TempDir(), "contract.db"), storage.Options{NoSync: true})
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		return db
	})
}
