package storetest

import (
	"reflect"
	"slices"
	"testing"
	"time"

	"aggregator"
)

// testPendingOrder: new items wait oldest first by (Item.Time, ID),
// whatever order their feeds were fetched in; an undated item waits at
// its FirstSeen.
func testPendingOrder(t *testing.T, open opener) {
	s := open(t)
	a := dated(realItems(t, "a", 120, 8, t0), t0.Add(-time.Hour), -7*time.Minute)
	b := dated(realItems(t, "b", 130, 8, t0), t0.Add(-3*time.Hour), 5*time.Minute)
	b[2].Published = a[1].Published // a tie across feeds, broken by ID
	b[3].Published = time.Time{}    // waits at FirstSeen, t0: the newest
	mustSave(t, s, "b", b)
	mustSave(t, s, "a", a)
	want := byTimeID(append(slices.Clone(a), b...))
	if got := mustPending(t, s, 0); !slices.Equal(ids(got), ids(want)) {
		t.Errorf("Pending(0) = %v,\nwant %v", ids(got), ids(want))
	} else if !slices.EqualFunc(got, want, itemsEqual) {
		t.Error("Pending returns items other than those stored")
	}
	if got := mustPending(t, s, 0); ids(got)[len(got)-1] != b[3].ID {
		t.Errorf("last pending = %s, want the undated %s", ids(got)[len(got)-1], b[3].ID)
	}

	// A pending item whose date is corrected waits at its new time.
	redated := a[7]
	redated.Published = t0.Add(time.Hour)
	redated.Summary += " (corrected)"
	redated.Normalize("a")
	if res := mustSave(t, s, "a", []aggregator.Item{redated}); len(res.Updated) != 1 {
		t.Fatalf("redating: %d updated, want 1", len(res.Updated))
	}
	want = byTimeID(append(append(slices.Clone(a[:7]), redated), b...))
	if got := mustPending(t, s, 0); !slices.Equal(ids(got), ids(want)) {
		t.Errorf("after redating %s: Pending = %v,\nwant %v", redated.ID, ids(got), ids(want))
	}
}

// testPendingLimit: Pending takes the oldest limit items, and the rest of
// the last one's time group with them: a group of items of one time is
// never split between calls.
func testPendingLimit(t *testing.T, open opener) {
	s := open(t)
	// Groups of 3, 4, 1 and 2 items of one time each, stored in two feeds.
	var items []aggregator.Item
	real := realItems(t, "g", 150, 10, t0)
	for i, size := range []int{3, 4, 1, 2} {
		for range size {
			it := real[len(items)]
			it.Published = t0.Add(time.Duration(i) * time.Hour)
			items = append(items, it)
		}
	}
	mustSave(t, s, "g", items[5:])
	mustSave(t, s, "g", items[:5])
	all := byTimeID(items)
	for _, tc := range []struct{ limit, want int }{
		{0, 10}, {1, 3}, {2, 3}, {3, 3}, {4, 7}, {7, 7}, {8, 8}, {9, 10}, {10, 10}, {50, 10},
	} {
		got := mustPending(t, s, tc.limit)
		if !slices.Equal(ids(got), ids(all[:tc.want])) {
			t.Errorf("Pending(%d) = %d items %v,\nwant the first %d: %v", tc.limit, len(got), ids(got), tc.want, ids(all[:tc.want]))
		}
	}
}

// testPendingCleared: SaveDecisions takes items out of Pending; a
// refetch, edited or not, does not put a clustered item back; deleting a
// pending item takes it out.
func testPendingCleared(t *testing.T, open opener) {
	s := open(t)
	items := dated(realItems(t, "p", 170, 9, t0), t0.Add(-9*time.Hour), time.Hour)
	mustSave(t, s, "p", items)
	decide(t, s, t0, nil, found(items[0].ID, "c0"), joins(items[3].ID, "c0", items[0].ID), found(items[4].ID, "c4"))
	want := []string{items[1].ID, items[2].ID, items[5].ID, items[6].ID, items[7].ID, items[8].ID}
	if got := ids(mustPending(t, s, 0)); !slices.Equal(got, want) {
		t.Errorf("after SaveDecisions: Pending = %v,\nwant %v", got, want)
	}
	if got := mustStats(t, s).Pending; got != 6 {
		t.Errorf("Stats.Pending = %d, want 6", got)
	}
	refetch := slices.Clone(items)
	refetch[3].Title = "Updated: " + refetch[3].Title
	refetch[3].Normalize("p")
	if res := mustSave(t, s, "p", refetch); len(res.Updated) != 1 {
		t.Fatalf("refetch: %d updated, want 1", len(res.Updated))
	}
	if got := ids(mustPending(t, s, 0)); !slices.Equal(got, want) {
		t.Errorf("after a refetch: Pending = %v,\nwant %v", got, want)
	}
	if m, ok := mustMembership(t, s, items[3].ID); !ok || m.Cluster != "c0" {
		t.Errorf("edited item's membership = %+v, %v; want cluster c0", m, ok)
	}
	if err := s.DeleteItem(t.Context(), items[5].ID); err != nil {
		t.Fatal(err)
	}
	want = slices.DeleteFunc(want, func(id string) bool { return id == items[5].ID })
	if got := ids(mustPending(t, s, 0)); !slices.Equal(got, want) {
		t.Errorf("after DeleteItem: Pending = %v,\nwant %v", got, want)
	}
	var rest []aggregator.Membership
	for _, id := range want {
		rest = append(rest, found(id, "k"+id))
	}
	decide(t, s, t0, nil, rest...)
	if got := mustPending(t, s, 0); len(got) != 0 {
		t.Errorf("after clustering all: Pending = %v, want none", ids(got))
	}
	if got := mustStats(t, s).Pending; got != 0 {
		t.Errorf("Stats.Pending = %d, want 0", got)
	}
}

func itemsEqual(a, b aggregator.Item) bool {
	return reflect.DeepEqual(canonItem(a), canonItem(b))
}
