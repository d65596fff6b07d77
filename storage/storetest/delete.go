package storetest

import (
	"reflect"
	"slices"
	"testing"
	"time"

	"aggregator"
)

// testDeleteItem: a deleted item goes with its membership; its story keeps
// its other members (the representative handed on, Published following
// the earliest left) and goes with the last; the feed's count follows, and
// a fetch listing the item again does not bring it back, even when it was
// deleted before it was ever stored.
func testDeleteItem(t *testing.T, open opener) {
	s := open(t)
	f := dated(realItems(t, "f", 500, 5, t0), t0.Add(-5*time.Hour), time.Hour)
	g := dated(realItems(t, "g", 505, 1, t0), t0.Add(-8*time.Hour), 0)
	mustSave(t, s, "f", f)
	mustSave(t, s, "g", g)
	decide(t, s, t0, map[string]string{"c": g[0].ID},
		found(f[0].ID, "c"), joins(g[0].ID, "c", f[0].ID), joins(f[1].ID, "c", f[0].ID), found(f[2].ID, "d"))
	ghost := realItems(t, "f", 510, 1, t0)[0]
	del := func(id string) {
		t.Helper()
		if err := s.DeleteItem(t.Context(), id); err != nil {
			t.Fatalf("delete item %s: %v", id, err)
		}
	}

	del(g[0].ID) // the representative and earliest member
	if _, ok := mustItem(t, s, g[0].ID); ok {
		t.Error("deleted item still stored")
	}
	if _, ok := mustMembership(t, s, g[0].ID); ok {
		t.Error("deleted item keeps its membership")
	}
	c, ok := mustCluster(t, s, "c")
	if !ok || !slices.Equal(memberIDs(c), []string{f[0].ID, f[1].ID}) || !slices.Contains(memberIDs(c), c.Representative) ||
		!c.Published.Equal(f[0].Published) {
		t.Errorf("story c = %+v, %v;\nwant members f0, f1, one of them representative, published %v", c, ok, f[0].Published)
	}
	if st, _ := mustFeedState(t, s, "g"); st.TotalItems != 0 {
		t.Errorf("feed g: TotalItems = %d, want 0", st.TotalItems)
	}

	del(f[3].ID) // pending
	if got, want := ids(mustPending(t, s, 0)), []string{f[4].ID}; !slices.Equal(got, want) {
		t.Errorf("pending = %v, want %v", got, want)
	}
	del(f[0].ID)
	del(f[1].ID)
	if _, ok := mustCluster(t, s, "c"); ok {
		t.Error("story c, all of whose members were deleted, is still stored")
	}
	del(ghost.ID) // never stored: leaves a tombstone all the same
	if got := mustStats(t, s); got.Items != 2 || got.Clusters != 1 || got.Tombstones != 5 || got.Pending != 1 {
		t.Errorf("stats = %+v; want 2 items, 1 cluster, 5 tombstones, 1 pending", got)
	}
	if st, _ := mustFeedState(t, s, "f"); st.TotalItems != 2 {
		t.Errorf("feed f: TotalItems = %d, want 2", st.TotalItems)
	}
	if got := countsOf(mustSave(t, s, "f", append(slices.Clone(f), ghost))); got != (counts{Unchanged: 2, Deleted: 4}) {
		t.Errorf("refetch of f: %+v, want 2 unchanged, 4 deleted", got)
	}
	if got := countsOf(mustSave(t, s, "g", g)); got != (counts{Deleted: 1}) {
		t.Errorf("refetch of g: %+v, want 1 deleted", got)
	}
}

// testDeleteFeed: a deleted feed goes with its state, its items and their
// memberships; stories keep other feeds' members and go when none is left;
// other feeds are untouched, and the feed fetched again brings back none
// of its items.
func testDeleteFeed(t *testing.T, open opener) {
	s := open(t)
	a := dated(realItems(t, "a", 520, 4, t0), t0.Add(-4*time.Hour), time.Hour)
	b := dated(realItems(t, "b", 524, 3, t0), t0.Add(-3*time.Hour-30*time.Minute), time.Hour)
	mustSave(t, s, "a", a)
	mustSave(t, s, "b", b)
	decide(t, s, t0, map[string]string{"mixed": a[0].ID},
		found(a[0].ID, "mixed"), joins(b[0].ID, "mixed", a[0].ID),
		found(a[1].ID, "onlyA"), joins(a[2].ID, "onlyA", a[1].ID), found(b[1].ID, "onlyB"))
	onlyB, _ := mustCluster(t, s, "onlyB")
	stateB, _ := mustFeedState(t, s, "b")

	if err := s.DeleteFeed(t.Context(), "a"); err != nil {
		t.Fatal(err)
	}
	if _, ok := mustFeedState(t, s, "a"); ok {
		t.Error("deleted feed keeps its state")
	}
	for _, it := range a {
		if _, ok := mustItem(t, s, it.ID); ok {
			t.Errorf("item %s of the deleted feed still stored", it.ID)
		}
		if _, ok := mustMembership(t, s, it.ID); ok {
			t.Errorf("item %s of the deleted feed keeps its membership", it.ID)
		}
	}
	if m, ok := mustCluster(t, s, "mixed"); !ok || !slices.Equal(memberIDs(m), []string{b[0].ID}) ||
		m.Representative != b[0].ID || !m.Published.Equal(b[0].Published) {
		t.Errorf("story mixed = %+v, %v; want b0 alone, representative, published %v", m, ok, b[0].Published)
	}
	if _, ok := mustCluster(t, s, "onlyA"); ok {
		t.Error("a story of the deleted feed alone is still stored")
	}
	if got, _ := mustCluster(t, s, "onlyB"); !clustersEqual(got, onlyB) {
		t.Errorf("another feed's story changed: %+v, was %+v", got, onlyB)
	}
	if got, _ := mustFeedState(t, s, "b"); got != stateB {
		t.Errorf("another feed's state changed: %+v, was %+v", got, stateB)
	}
	if got, want := ids(mustPending(t, s, 0)), []string{b[2].ID}; !slices.Equal(got, want) {
		t.Errorf("pending = %v, want %v", got, want)
	}
	if got := mustStats(t, s); got.Items != 3 || got.Feeds != 1 || got.Clusters != 2 || got.Tombstones != 4 {
		t.Errorf("stats = %+v; want 3 items, 1 feed, 2 clusters, 4 tombstones", got)
	}
	if err := s.DeleteFeed(t.Context(), "never-stored"); err != nil {
		t.Errorf("deleting a feed never stored: %v", err)
	}
	if got := countsOf(mustSave(t, s, "a", a)); got != (counts{Deleted: 4}) {
		t.Errorf("refetch of the deleted feed: %+v, want 4 deleted", got)
	}
	if st, ok := mustFeedState(t, s, "a"); !ok || st.TotalItems != 0 {
		t.Errorf("state of the feed fetched again = %+v, %v; want one with no items", st, ok)
	}
}

func clustersEqual(a, b aggregator.Cluster) bool {
	return reflect.DeepEqual(canonCluster(a), canonCluster(b))
}
