package storage_test

import (
	"context"
	"testing"
	"time"

	"aggregator"
	"aggregator/storage"
)

// TestPrune: items dated and first seen before the cutoff go with their
// memberships, the newest keepPerFeed of a feed excepted; a story keeps
// its ID, times and newer members, and one left empty goes; an old item
// first seen recently stays; a later fetch listing pruned items does not
// bring them back.
func TestPrune(t *testing.T) {
	ctx := context.Background()
	db := mustOpenDB(t)
	real := realItems(t, "x", t0)
	cutoff := t0.Add(5 * time.Hour)
	// Feed f: ten items an hour apart from t0, first seen when published.
	items := synthItems(real, "f", 10, t0)
	for i := range items {
		items[i].Published = t0.Add(time.Duration(i) * time.Hour)
		items[i].FirstSeen = items[i].Published
	}
	// Feed u: two undated items, first seen at t0 and t0+9h.
	undated := synthItems(real, "u", 2, t0)
	for i := range undated {
		undated[i].Published = time.Time{}
		undated[i].FirstSeen = t0.Add(time.Duration(9*i) * time.Hour)
	}
	// Feed b: a back catalogue dated before the cutoff but first seen
	// after it.
	back := synthItems(real, "b", 3, t0)
	for i := range back {
		back[i].FirstSeen = cutoff.Add(time.Hour)
	}
	// Feed k: old items, but no more than keepPerFeed.
	kept := synthItems(real, "k", 1, t0)
	for i := range kept {
		kept[i].FirstSeen = t0
	}
	for feed, its := range map[string][]aggregator.Item{"f": items, "u": undated, "b": back, "k": kept} {
		mustSave(t, db, feed, its)
	}
	// Story s1 spans the cutoff (items 1 and 6); s2 lies wholly before it
	// (items 2 and 3 and the first undated item).
	if err := db.SaveClusters(context.Background(), []aggregator.Membership{
		{Item: items[1].ID, Cluster: "s1", Reason: aggregator.ReasonFirst},
		{Item: items[6].ID, Cluster: "s1", Reason: aggregator.ReasonURL, Matched: items[1].ID},
		{Item: items[2].ID, Cluster: "s2", Reason: aggregator.ReasonFirst},
		{Item: items[3].ID, Cluster: "s2", Reason: aggregator.ReasonTitle, Matched: items[2].ID},
		{Item: undated[0].ID, Cluster: "s2", Reason: aggregator.ReasonTitle, Matched: items[2].ID},
	}, map[string]string{"s1": items[1].ID}, t0.Add(10*time.Hour)); err != nil {
		t.Fatal(err)
	}
	before, _, err := db.Cluster(context.Background(), "s1")
	if err != nil {
		t.Fatal(err)
	}
	stamp, err := db.ClusterStamp(context.Background())
	if err != nil {
		t.Fatal(err)
	}

	res, err := db.Prune(ctx, cutoff, 1)
	if err != nil {
		t.Fatal(err)
	}
	if res.Items != 6 {
		t.Errorf("Prune removed %d items, want 6 (items 0–4 of f, the first of u)", res.Items)
	}
	stored := func(it aggregator.Item) bool {
		t.Helper()
		_, ok, err := db.Item(context.Background(), it.ID)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	for i, it := range items {
		if want := i >= 5; stored(it) != want {
			t.Errorf("item %d of f: stored %v, want %v", i, !want, want)
		}
	}
	if stored(undated[0]) || !stored(undated[1]) {
		t.Errorf("undated items stored %v, %v; want false, true", stored(undated[0]), stored(undated[1]))
	}
	for _, it := range append(back, kept...) {
		if !stored(it) {
			t.Errorf("%s item %s was pruned: first seen recently, or within keepPerFeed", it.Feed, it.ID)
		}
	}
	s1, ok, err := db.Cluster(context.Background(), "s1")
	if err != nil || !ok {
		t.Fatalf("s1 after prune: %v, %v; want it kept with its newer member", ok, err)
	}
	if got := memberIDs(s1); len(got) != 1 || got[0] != items[6].ID {
		t.Errorf("s1 members %v, want only %s", got, items[6].ID)
	}
	if s1.Representative != items[6].ID {
		t.Errorf("s1 representative %s, want %s (the old one was pruned)", s1.Representative, items[6].ID)
	}
	if !s1.Published.Equal(before.Published) || !s1.Updated.Equal(before.Updated) {
		t.Errorf("s1 times changed by pruning: published %v→%v, updated %v→%v", before.Published, s1.Published, before.Updated, s1.Updated)
	}
	if _, ok, err := db.Cluster(context.Background(), "s2"); err != nil || ok {
		t.Error("s2, whose members were all pruned, is still stored")
	}
	if st, _, err := db.FeedState(context.Background(), "f"); err != nil || st.TotalItems != 5 {
		t.Errorf("feed f TotalItems = %d (%v), want 5", st.TotalItems, err)
	}
	if s, err := db.ClusterStamp(context.Background()); err != nil || s.Seq <= stamp.Seq {
		t.Error("ClusterStamp unchanged by a prune that changed clusters")
	}

	// The feeds still list everything: nothing pruned comes back, and the
	// fetch renews the tombstones it meets.
	if res := mustSave(t, db, "f", items); len(res.New) != 0 || res.Deleted != 5 || res.Unchanged != 5 {
		t.Errorf("refetch of f: %d new, %d deleted, %d unchanged; want 0, 5, 5", len(res.New), res.Deleted, res.Unchanged)
	}
	again := undated[0]
	again.FirstSeen = time.Now()
	if res := mustSave(t, db, "u", []aggregator.Item{again, undated[1]}); len(res.New) != 0 || res.Deleted != 1 {
		t.Errorf("refetch of u: %d new, %d deleted; want 0, 1", len(res.New), res.Deleted)
	}

	// A cutoff older than every tombstone expires none; past them all,
	// every pruned item's tombstone expires and a deletion's stays.
	tombs := func() int {
		t.Helper()
		st, err := db.Stats(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return st.Tombstones
	}
	if n := tombs(); n != 6 {
		t.Fatalf("%d tombstones after the prune, want 6", n)
	}
	if res, err := db.Prune(ctx, t0, 1); err != nil || res != (storage.PruneResult{}) {
		t.Errorf("Prune(t0) = %+v, %v; want nothing removed", res, err)
	}
	if err := db.DeleteItem(context.Background(), items[9].ID); err != nil {
		t.Fatal(err)
	}
	res, err = db.Prune(ctx, time.Now().Add(time.Hour), 100)
	if err != nil {
		t.Fatal(err)
	}
	if res.Tombstones != 6 || tombs() != 1 {
		t.Errorf("Prune past every renewal: %d tombstones expired, %d left; want 6, and DeleteItem's kept", res.Tombstones, tombs())
	}
}

// TestPruneBatches: a backlog larger than one transaction is pruned whole,
// and so are more tombstones than one transaction reads.
func TestPruneBatches(t *testing.T) {
	ctx := context.Background()
	db := mustOpenDB(t)
	real := realItems(t, "x", t0)
	const n = 9000 // over two batches of 4096
	items := synthItems(real, "big", n, t0)
	for i := range items {
		items[i].FirstSeen = t0
	}
	mustSave(t, db, "big", items)
	cutoff := t0.Add(n * time.Minute)
	res, err := db.Prune(ctx, cutoff, 0)
	if err != nil || res.Items != n {
		t.Fatalf("Prune = %+v, %v; want %d items", res, err, n)
	}
	if st, err := db.Stats(context.Background()); err != nil || st.Items != 0 || st.Tombstones != n {
		t.Errorf("%d items and %d tombstones left (%v); want 0 and %d", st.Items, st.Tombstones, err, n)
	}
	res, err = db.Prune(ctx, time.Now().Add(time.Hour), 0)
	if err != nil || res.Tombstones != n {
		t.Fatalf("second Prune = %+v, %v; want %d tombstones", res, err, n)
	}
	if st, err := db.Stats(context.Background()); err != nil || st.Tombstones != 0 {
		t.Errorf("%d tombstones left (%v)", st.Tombstones, err)
	}
}
