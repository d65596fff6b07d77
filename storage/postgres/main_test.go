package postgres_test

import (
	"context"
	"testing"

	"aggregator/internal/pgtest"
	"aggregator/storage/postgres"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// mustOpen opens a store on a fresh database and closes it when the test
// ends; it returns the database's URL too, for a second Open.
func mustOpen(t testing.TB) (*postgres.DB, string) {
	t.Helper()
	url := pgtest.NewDatabase(t)
	db, err := postgres.Open(context.Background(), url, postgres.Options{})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db, url
}
