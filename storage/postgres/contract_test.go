package postgres_test

import (
	"testing"

	"aggregator/storage/storetest"
)

// TestContract runs the stores' shared contract (storage/storetest) on a
// fresh database per test.
func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Store {
		db, _ := mustOpen(t)
		return db
	})
}
