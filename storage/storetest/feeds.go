package storetest

import (
	"reflect"
	"testing"
	"time"

	"aggregator"
)

// testFeedStateRoundTrip: every field of a FeedState comes back as stored,
// but TotalItems, which counts the stored items; a later state replaces
// it whole.
func testFeedStateRoundTrip(t *testing.T, open opener) {
	s := open(t)
	full := aggregator.FeedState{
		Name: "reuters", URL: "https://news.example/reuters.rss", FetchURL: "https://feeds.example/reuters",
		ETag: `W/"5e-1f2a"`, LastModified: "Sun, 01 Mar 2026 11:58:03 GMT", BodyHash: "9f86d081884c7d65",
		Title: "Reuters: World", Link: "https://news.example/world", Language: "en-gb",
		LastFetch: t0, LastSuccess: t0.Add(-time.Hour), LastStatus: 304, LastResult: "unchanged",
		LastError: "", ConsecutiveErrors: 0, NextFetch: t0.Add(17*time.Minute + 3*time.Second),
		Items: 25, TotalItems: 99,
		RedirectURL: "https://feeds.example/reuters/world", RedirectCount: 2,
		MeanItemGap: 1234.5, HintInterval: 3600, SkipHours: 1<<2 | 1<<3, SkipDays: 1 << 0,
		Node: "node-b",
	}
	gone := aggregator.FeedState{
		Name: "gone", URL: "https://news.example/gone.rss", LastFetch: t0, LastStatus: 410,
		LastResult: "failed", LastError: "410 Gone", ConsecutiveErrors: 3,
		Disabled: true, DisabledReason: "the server says the feed is gone (410)",
	}
	// A state with bytes that are not UTF-8 takes another encoding in
	// both stores (gob): Node must survive that one too.
	odd := aggregator.FeedState{Name: "odd", URL: "https://news.example/odd.rss", ETag: "W/\"\xe9t\xe9\"",
		LastFetch: t0, NextFetch: t0.Add(time.Hour), Node: "node-\xff"}
	for _, st := range []aggregator.FeedState{full, gone, odd} {
		if err := s.PutFeedState(t.Context(), st); err != nil {
			t.Fatalf("put feed state %s: %v", st.Name, err)
		}
	}
	full.TotalItems = 0 // no items stored
	for _, want := range []aggregator.FeedState{full, gone, odd} {
		got, ok := mustFeedState(t, s, want.Name)
		if !ok {
			t.Errorf("feed %s: no state", want.Name)
			continue
		}
		if !reflect.DeepEqual(got, canonState(want)) {
			t.Errorf("feed %s differs:%s", want.Name, fieldDiffs(got, canonState(want)))
		}
	}
	if _, ok := mustFeedState(t, s, "unknown"); ok {
		t.Error("a feed never stored has a state")
	}

	// A fetch with items replaces the state whole.
	next := aggregator.FeedState{Name: "reuters", URL: full.URL, ETag: `"new"`, LastFetch: t0.Add(time.Hour),
		LastStatus: 200, LastResult: "ok", NextFetch: t0.Add(2 * time.Hour)}
	res, errs := s.SaveFetches(t.Context(), []aggregator.Fetched{{State: next, Items: realItems(t, "reuters", 0, 3, t0)}})
	if errs[0] != nil || len(res[0].New) != 3 {
		t.Fatalf("save fetch: %d new, %v; want 3, nil", len(res[0].New), errs[0])
	}
	next.TotalItems = 3
	all, err := s.FeedStates(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 3 {
		t.Errorf("FeedStates has %d feeds, want 3", len(all))
	}
	if got := canonState(all["reuters"]); !reflect.DeepEqual(got, canonState(next)) {
		t.Errorf("reuters after a fetch:\ngot  %+v\nwant %+v", got, next)
	}
	if got := canonState(all["gone"]); !reflect.DeepEqual(got, canonState(gone)) {
		t.Errorf("gone:\ngot  %+v\nwant %+v", got, gone)
	}
}

// testTotalItems: a feed's TotalItems follows its stored items whatever
// the states handed in say.
func testTotalItems(t *testing.T, open opener) {
	s := open(t)
	items := realItems(t, "f", 100, 15, t0)
	total := func() int {
		t.Helper()
		st, ok := mustFeedState(t, s, "f")
		if !ok {
			t.Fatal("feed f has no state")
		}
		return st.TotalItems
	}
	steps := []struct {
		name string
		do   func()
		want int
	}{
		{"first fetch", func() { mustSave(t, s, "f", items[:10]) }, 10},
		{"refetch with 5 new", func() { mustSave(t, s, "f", items) }, 15},
		{"item-less fetch", func() { mustSave(t, s, "f", nil) }, 15},
		{"state claiming 99", func() {
			st := state("f")
			st.TotalItems = 99
			if err := s.PutFeedState(t.Context(), st); err != nil {
				t.Fatal(err)
			}
		}, 15},
		{"item deleted", func() {
			if err := s.DeleteItem(t.Context(), items[2].ID); err != nil {
				t.Fatal(err)
			}
		}, 14},
		{"other feed stored", func() { mustSave(t, s, "g", realItems(t, "g", 100, 4, t0)) }, 14},
	}
	for _, step := range steps {
		step.do()
		if got := total(); got != step.want {
			t.Errorf("after %s: TotalItems = %d, want %d", step.name, got, step.want)
		}
	}
	if got := mustStats(t, s).Items; got != 18 {
		t.Errorf("Stats.Items = %d, want 18", got)
	}
}
