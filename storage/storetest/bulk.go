package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"aggregator"
)

// manyItems returns n distinct items of feed, dated base plus step times
// their index and first seen at seen, their text taken in turn from the
// shared set of real items (which holds about a thousand).
func manyItems(t *testing.T, feed string, n int, base time.Time, step time.Duration, seen time.Time) []aggregator.Item {
	t.Helper()
	all, err := devItems()
	if err != nil {
		t.Fatal(err)
	}
	out := make([]aggregator.Item, n)
	for i := range out {
		d := all[i%len(all)]
		it := aggregator.Item{
			GUID: fmt.Sprintf("%s/%d", d.ID, i), URL: fmt.Sprintf("%s?n=%d", d.URL, i), Title: d.Title,
			Summary: d.Summary, Author: d.Source, Published: base.Add(time.Duration(i) * step), FirstSeen: seen,
		}
		it.Normalize(feed)
		out[i] = it
	}
	return out
}

// testManyItems: past the sizes the stores work in batches of (bbolt
// reads Recent 2048 items at a time, prunes 4096 per transaction and
// imports 4096 records per transaction), nothing is lost, repeated or
// reordered: clustering a backfill in chunks, Recent, Stories, Export and
// Import (a membership in the transaction after its item's), and Prune.
func testManyItems(t *testing.T, open opener) {
	s := open(t)
	longAgo := t0.Add(-30 * 24 * time.Hour)
	big := manyItems(t, "backfill", 4500, longAgo, time.Minute, longAgo)
	small := manyItems(t, "daily", 600, t0.Add(-time.Hour), time.Second, t0)
	mustSave(t, s, "backfill", big)
	mustSave(t, s, "daily", small)
	// A third feed state puts an odd number of records before the items,
	// so that a chunk of an even size ends between an item and its
	// membership.
	if err := s.PutFeedState(t.Context(), state("quiet")); err != nil {
		t.Fatal(err)
	}
	all := byTimeID(append(slices.Clone(big), small...))
	if got := mustPending(t, s, 0); !slices.Equal(ids(got), ids(all)) {
		t.Fatalf("Pending(0): %d items, want %d in (time, ID) order", len(got), len(all))
	}

	// Cluster in chunks, as the pipeline does: every three items by time
	// are one story, founded by the first.
	cluster := make(map[string]string, len(all))
	for i, it := range all {
		cluster[it.ID] = all[i-i%3].ID
	}
	rounds := 0
	for ; rounds < 100; rounds++ {
		p := mustPending(t, s, 700)
		if len(p) == 0 {
			break
		}
		ms := make([]aggregator.Membership, len(p))
		for i, it := range p {
			ms[i] = joins(it.ID, cluster[it.ID], cluster[it.ID])
		}
		decide(t, s, t0, nil, ms...)
	}
	if rounds != 8 {
		t.Errorf("clustered in %d rounds of 700, want 8", rounds)
	}
	var recent []aggregator.Item
	if err := s.Recent(t.Context(), time.Time{}, func(it aggregator.Item, m aggregator.Membership) error {
		if m.Cluster != cluster[it.ID] {
			t.Errorf("item %s in %s, want %s", it.ID, m.Cluster, cluster[it.ID])
		}
		recent = append(recent, it)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids(recent), ids(all)) {
		t.Errorf("Recent: %d items, want all %d in (time, ID) order", len(recent), len(all))
	}
	stories := mustStories(t, s, aggregator.StoryQuery{})
	if len(stories) != 1700 {
		t.Errorf("%d stories, want 1700", len(stories))
	}
	for i := 1; i < len(stories); i++ {
		if stories[i].Published.After(stories[i-1].Published) {
			t.Fatalf("story %d published %v after story %d's %v", i, stories[i].Published, i-1, stories[i-1].Published)
		}
	}

	dst := open(t)
	recs := export(t, s)
	if err := dst.Import(t.Context(), produceAll(recs)); err != nil {
		t.Fatalf("import: %v", err)
	}
	diffDumps(t, "export of the imported store", canonDump(t, export(t, dst)), canonDump(t, recs))

	res := mustPrune(t, s, t0.Add(-24*time.Hour), 100)
	if res.Items != 4400 {
		t.Errorf("pruned %d items, want 4400", res.Items)
	}
	if got := mustStats(t, s); got.Items != 700 || got.Tombstones != 4400 {
		t.Errorf("after prune: %d items, %d tombstones; want 700, 4400", got.Items, got.Tombstones)
	}
	for i, it := range big {
		if _, ok := mustItem(t, s, it.ID); ok != (i >= 4400) {
			t.Fatalf("backfill item %d: stored %v, want %v", i, ok, i >= 4400)
		}
	}
	// The stories left are the groups of three with a member left.
	left := make(map[string]bool)
	for _, it := range append(slices.Clone(big[4400:]), small...) {
		left[cluster[it.ID]] = true
	}
	if got := len(mustStories(t, s, aggregator.StoryQuery{})); got != len(left) {
		t.Errorf("after prune: %d stories, want %d", got, len(left))
	}
}
