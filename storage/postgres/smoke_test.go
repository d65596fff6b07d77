package postgres_test

import (
	"context"
	"testing"
	"time"

	"aggregator"
)

func TestSmoke(t *testing.T) {
	ctx := context.Background()
	db, _ := mustOpen(t)
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	items := []aggregator.Item{{ID: "a", Title: "A", Published: t0, Hash: "h1"}, {ID: "b", Title: "B", Published: t0.Add(time.Minute), Hash: "h2"}}
	res, errs := db.SaveFetches(ctx, []aggregator.Fetched{{State: aggregator.FeedState{Name: "f"}, Items: items}})
	if errs[0] != nil {
		t.Fatal(errs[0])
	}
	t.Logf("%+v", res[0])
	p, err := db.Pending(ctx, 0)
	t.Logf("pending %d %v", len(p), err)
	err = db.SaveDecisions(ctx, aggregator.Decisions{Memberships: []aggregator.Membership{{Item: "a", Cluster: "c1"}, {Item: "b", Cluster: "c1"}}, Now: t0})
	if err != nil {
		t.Fatal(err)
	}
	st, err := db.Stories(ctx, aggregator.StoryQuery{Limit: 10})
	t.Logf("stories %+v %v", st, err)
	s, err := db.Stats(ctx)
	t.Logf("stats %+v %v", s, err)
	if err := db.DeleteItem(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Prune(ctx, t0.Add(time.Hour), 0); err != nil {
		t.Fatal(err)
	}
	s, err = db.Stats(ctx)
	t.Logf("stats %+v %v", s, err)
	fs, err := db.FeedStates(ctx)
	t.Logf("feeds %+v %v", fs, err)
}
