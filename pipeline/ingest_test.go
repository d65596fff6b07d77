package pipeline

import (
	"context"
	"fmt"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"aggregator"
	"aggregator/fetcher"
	"aggregator/internal/synthfeed"
)

// countingStore counts the groups the ingester hands a real store.
type countingStore struct {
	Store
	saves atomic.Int32
}

func (c *countingStore) SaveFetches(ctx context.Context, fs []aggregator.Fetched) ([]aggregator.SaveResult, []error) {
	c.saves.Add(1)
	return c.Store.SaveFetches(ctx, fs)
}

// TestUnchangedPassFewCommits: a pass in which every feed answers 304
// stores its feed states in a few large groups, not one commit per
// handful of feeds (each commit rewrites the touched pages and syncs),
// and every state is stored.
func TestUnchangedPassFewCommits(t *testing.T) {
	const n = 600
	// synthfeed's server answers 304 to the strong ETag it gave.
	srv := httptest.NewServer(&synthfeed.Server{Feeds: synthfeed.Feeds{
		Texts: []synthfeed.Text{{Title: "A report on the day's events", Summary: "Its lead."}}, N: n, Items: 1}})
	defer srv.Close()
	var jobs []fetcher.Job
	var feeds []aggregator.Feed
	for i := range n {
		f := aggregator.Feed{Name: fmt.Sprintf("f%05d", i), URL: fmt.Sprintf("%s/f%05d.xml", srv.URL, i)}
		feeds = append(feeds, f)
		jobs = append(jobs, fetcher.Job{Feed: f})
	}
	db := &countingStore{Store: mustOpen(t, t.TempDir()+"/a.db")}
	p := New(db, testOptions(feeds, nil))
	if _, err := p.Pass(t.Context(), testClient(), jobs, nil); err != nil {
		t.Fatal(err)
	}
	states, err := db.FeedStates(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for i := range jobs {
		jobs[i].State = states[jobs[i].Feed.Name]
	}
	db.saves.Store(0)
	res, err := p.Pass(t.Context(), testClient(), jobs, nil)
	if err != nil {
		t.Fatal(err)
	}
	unchanged := 0
	for _, o := range res.Outcomes {
		if o.Status == fetcher.StatusUnchanged && o.Stored {
			unchanged++
		}
	}
	if unchanged != n {
		t.Fatalf("%d of %d feeds stored unchanged", unchanged, n)
	}
	// 600 results of 512 at most per group: two groups when the results
	// come faster than ingestLinger. A race-enabled build on a loaded
	// machine answers slower, so the bound is loose; without the linger
	// the pass took some 200 groups (one per three feeds).
	t.Logf("%d groups for %d feeds", db.saves.Load(), n)
	if got := db.saves.Load(); got > n/10 {
		t.Errorf("the unchanged pass took %d groups for %d feeds, want a few", got, n)
	}
}
