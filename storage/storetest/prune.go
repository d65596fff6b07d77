package storetest

import (
	"slices"
	"testing"
	"time"

	"aggregator"
)

// pruneFixture stores feed a: 10 items dated and first seen 10 days
// before t0, an hour apart (old), and one dated after them, still before
// the cut, but first seen at t0 (recent); and feed b: 3 items like a's 9
// days before t0 and 2 of the last hour. It returns a's old items, the
// recent one and b's items.
func pruneFixture(t *testing.T, s Store) (old []aggregator.Item, recent aggregator.Item, b []aggregator.Item) {
	longAgo := t0.Add(-10 * 24 * time.Hour)
	old = dated(realItems(t, "a", 400, 10, longAgo), longAgo, time.Hour)
	recent = realItems(t, "a", 410, 1, t0)[0]
	recent.Published = t0.Add(-5 * 24 * time.Hour)
	b = dated(realItems(t, "b", 411, 3, longAgo.Add(24*time.Hour)), longAgo.Add(24*time.Hour), time.Hour)
	b = append(b, dated(realItems(t, "b", 414, 2, t0), t0.Add(-time.Hour), time.Minute)...)
	mustSave(t, s, "a", append(slices.Clone(old), recent))
	mustSave(t, s, "b", b)
	return old, recent, b
}

// testPrune: Prune removes the items dated and first seen before the cut
// but the newest keepPerFeed of each feed; stories keep their ID and
// times when old members leave and vanish with the last; a pruned item
// fetched again is not new.
func testPrune(t *testing.T, open opener) {
	cut := t0.Add(-24 * time.Hour)
	for _, tc := range []struct {
		name   string
		before time.Time
		keep   int
		// want are the indexes of the pruned items in a's old items and
		// in b's.
		wantA, wantB []int
	}{
		{"keep 2 per feed", cut, 2, []int{0, 1, 2, 3, 4, 5, 6, 7, 8}, []int{0, 1, 2}},
		{"keep none", cut, 0, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, []int{0, 1, 2}},
		{"keep more than stored", cut, 20, nil, nil},
		{"cut before everything", t0.Add(-30 * 24 * time.Hour), 0, nil, nil},
		{"cut between old items", t0.Add(-10*24*time.Hour + 4*time.Hour + time.Second), 2, []int{0, 1, 2, 3, 4}, nil},
		{"cut at an item's time keeps it", t0.Add(-10*24*time.Hour + 4*time.Hour), 2, []int{0, 1, 2, 3}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			old, recent, b := pruneFixture(t, s)
			res := mustPrune(t, s, tc.before, tc.keep)
			if want := len(tc.wantA) + len(tc.wantB); res.Items != want || res.Tombstones != 0 {
				t.Errorf("pruned %d items, %d tombstones; want %d, 0", res.Items, res.Tombstones, want)
			}
			for feed, set := range map[string]struct {
				items  []aggregator.Item
				pruned []int
			}{"a": {append(slices.Clone(old), recent), tc.wantA}, "b": {b, tc.wantB}} {
				for i, it := range set.items {
					_, ok := mustItem(t, s, it.ID)
					if want := !slices.Contains(set.pruned, i); ok != want {
						t.Errorf("feed %s item %d: stored %v, want %v", feed, i, ok, want)
					}
				}
				st, _ := mustFeedState(t, s, feed)
				if want := len(set.items) - len(set.pruned); st.TotalItems != want {
					t.Errorf("feed %s: TotalItems = %d, want %d", feed, st.TotalItems, want)
				}
			}
			if got, want := mustStats(t, s).Tombstones, res.Items; got != want {
				t.Errorf("Stats.Tombstones = %d, want %d", got, want)
			}
		})
	}

	t.Run("the newest are kept whatever else is", func(t *testing.T) {
		// A feed listing its back catalogue again: old reports first seen
		// today (kept: seen recently) and, newer than them, two first seen
		// days ago, which are the newest of the feed.
		s := open(t)
		surfaced := dated(realItems(t, "c", 430, 3, t0), t0.Add(-20*24*time.Hour), time.Hour)
		newest := dated(realItems(t, "c", 433, 2, t0.Add(-3*24*time.Hour)), t0.Add(-3*24*time.Hour), time.Hour)
		mustSave(t, s, "c", append(slices.Clone(surfaced), newest...))
		if res := mustPrune(t, s, t0.Add(-24*time.Hour), 2); res.Items != 0 {
			t.Errorf("pruned %d items, want none: the newest 2 are kept, the others were first seen today", res.Items)
		}
		for _, it := range newest {
			if _, ok := mustItem(t, s, it.ID); !ok {
				t.Errorf("one of the feed's 2 newest items, %s, was pruned", it.ID)
			}
		}
	})

	t.Run("stories and refetch", func(t *testing.T) {
		s := open(t)
		old, recent, b := pruneFixture(t, s)
		decided := t0.Add(-9 * 24 * time.Hour)
		decide(t, s, decided, nil,
			found(old[0].ID, "x"), joins(b[3].ID, "x", old[0].ID), // an old report and a new one
			found(old[1].ID, "y"), joins(b[0].ID, "y", old[1].ID), // old reports only
			found(old[9].ID, "z")) // kept
		x0, _ := mustCluster(t, s, "x")
		res := mustPrune(t, s, t0.Add(-24*time.Hour), 2)
		if res.Items != 12 {
			t.Errorf("pruned %d items, want 12", res.Items)
		}
		x, ok := mustCluster(t, s, "x")
		if !ok {
			t.Fatal("story x, with a member left, is gone")
		}
		if !slices.Equal(memberIDs(x), []string{b[3].ID}) || x.Representative != b[3].ID ||
			!x.Published.Equal(x0.Published) || !x.Updated.Equal(x0.Updated) {
			t.Errorf("story x = %+v;\nwant only %s, its representative, published %v and updated %v as before",
				x, b[3].ID, x0.Published, x0.Updated)
		}
		if _, ok := mustCluster(t, s, "y"); ok {
			t.Error("story y, all of whose members were pruned, is still stored")
		}
		if z, ok := mustCluster(t, s, "z"); !ok || !slices.Equal(memberIDs(z), []string{old[9].ID}) {
			t.Errorf("story z = %+v, %v; want its one kept member", z, ok)
		}
		if _, ok := mustMembership(t, s, old[0].ID); ok {
			t.Error("a pruned item keeps its membership")
		}
		if got := storyIDs(mustStories(t, s, aggregator.StoryQuery{})); !slices.Equal(got, []string{"z", "x"}) {
			t.Errorf("stories = %v, want z, x", got)
		}
		if got, want := ids(mustPending(t, s, 0)), []string{recent.ID, b[4].ID}; !slices.Equal(got, want) {
			t.Errorf("pending = %v, want %v", got, want)
		}
		for _, f := range []struct {
			feed  string
			items []aggregator.Item
			want  counts
		}{
			{"a", append(slices.Clone(old), recent), counts{Unchanged: 2, Deleted: 9}},
			{"b", b, counts{Unchanged: 2, Deleted: 3}},
		} {
			if got := countsOf(mustSave(t, s, f.feed, f.items)); got != f.want {
				t.Errorf("refetch of %s after prune: %+v, want %+v", f.feed, got, f.want)
			}
		}
		if got := mustStats(t, s); got.Items != 4 || got.Clusters != 2 || got.Tombstones != 12 || got.Pending != 2 {
			t.Errorf("stats = %+v; want 4 items, 2 clusters, 12 tombstones, 2 pending", got)
		}
		if res := mustPrune(t, s, t0.Add(-24*time.Hour), 2); res.Items != 0 {
			t.Errorf("pruning again removed %d items, want 0", res.Items)
		}
	})
}

// testTombstoneExpiry: the tombstones Prune leaves expire once not renewed
// since the cut, and the items they stood for are new again then; those
// of deletions stay.
func testTombstoneExpiry(t *testing.T, open opener) {
	s := open(t)
	longAgo := t0.Add(-10 * 24 * time.Hour)
	old := dated(realItems(t, "f", 420, 6, longAgo), longAgo, time.Hour)
	fresh := realItems(t, "f", 426, 2, t0)
	mustSave(t, s, "f", append(slices.Clone(old), fresh...))
	if res := mustPrune(t, s, t0.Add(-24*time.Hour), 0); res.Items != 6 {
		t.Fatalf("pruned %d items, want 6", res.Items)
	}
	ghost := realItems(t, "f", 428, 1, t0)[0]
	for _, id := range []string{fresh[0].ID, ghost.ID} { // a stored item and one never stored
		if err := s.DeleteItem(t.Context(), id); err != nil {
			t.Fatal(err)
		}
	}
	if got := mustStats(t, s).Tombstones; got != 8 {
		t.Errorf("Stats.Tombstones = %d, want 8", got)
	}
	if got := countsOf(mustSave(t, s, "f", old)); got != (counts{Deleted: 6}) {
		t.Errorf("refetch before expiry: %+v, want 6 deleted", got)
	}
	// A cut after every tombstone was made: the pruned ones expire.
	res := mustPrune(t, s, time.Now().Add(time.Hour), 100)
	if res.Items != 0 || res.Tombstones != 6 {
		t.Errorf("expiry: %d items, %d tombstones pruned; want 0, 6", res.Items, res.Tombstones)
	}
	if got := mustStats(t, s).Tombstones; got != 2 {
		t.Errorf("Stats.Tombstones after expiry = %d, want 2", got)
	}
	for _, tc := range []struct {
		name  string
		items []aggregator.Item
		want  counts
	}{
		{"pruned items", old, counts{New: 6}},
		{"deleted item", fresh[:1], counts{Deleted: 1}},
		{"deleted before stored", []aggregator.Item{ghost}, counts{Deleted: 1}},
	} {
		if got := countsOf(mustSave(t, s, "f", tc.items)); got != tc.want {
			t.Errorf("refetch of the %s after expiry: %+v, want %+v", tc.name, got, tc.want)
		}
	}
}
