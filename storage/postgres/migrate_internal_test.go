package postgres

import (
	"context"
	"io/fs"
	"testing"

	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"

	"aggregator"
	"aggregator/internal/pgtest"
)

// TestMain is main_test.go's (one per test binary): pgtest.Main.

// TestMigrateFromFirstSchema: a database left at the first schema, with a
// feed in it, is brought up to date by Open and keeps its data.
func TestMigrateFromFirstSchema(t *testing.T) {
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	db, err := Open(ctx, url, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	sqlDB := stdlib.OpenDBFromPool(db.pool)
	defer sqlDB.Close()
	sub, _ := fs.Sub(migrations, "migrations")
	p, err := goose.NewProvider(goose.DialectPostgres, sqlDB, sub,
		goose.WithTableName(versionTable), goose.WithDisableGlobalRegistry(true))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.DownTo(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if v, _ := db.SchemaVersion(ctx); v != 1 {
		t.Fatalf("after down to 1: schema %d", v)
	}
	if _, err := db.pool.Exec(ctx, `INSERT INTO feeds (name, state, item_count) VALUES ('old', '{"name":"old","etag":"\"x\""}', 0)`); err != nil {
		t.Fatal(err)
	}

	db2, err := Open(ctx, url, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	if v, _ := db2.SchemaVersion(ctx); v < 2 {
		t.Errorf("after Open: schema %d, want the newest", v)
	}
	st, ok, err := db2.FeedState(ctx, "old")
	if err != nil || !ok || st.ETag != `"x"` {
		t.Errorf("feed kept through the migration: %+v, %v, %v", st, ok, err)
	}
	// The new column works: a state with bytes that are not UTF-8.
	bad := aggregator.FeedState{Name: "old", ETag: "W/\"\xe9\""}
	if err := db2.PutFeedState(ctx, bad); err != nil {
		t.Fatal(err)
	}
	if st, _, _ := db2.FeedState(ctx, "old"); st.ETag != bad.ETag {
		t.Errorf("ETag %q, want %q", st.ETag, bad.ETag)
	}
}
