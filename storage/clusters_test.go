package storage_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"aggregator"
	"aggregator/storage"
)

// clusterFixture stores 3 feeds of 4 items each, published an hour apart
// per index: a[i] and b[i] at t0+i h, c[i] at t0+i h+30m.
func clusterFixture(t *testing.T) (*storage.DB, map[string][]aggregator.Item) {
	t.Helper()
	db := mustOpenDB(t)
	real := realItems(t, "x", t0)
	feeds := map[string][]aggregator.Item{}
	for _, f := range []string{"a", "b", "c"} {
		items := synthItems(real, f, 4, t0)
		for i := range items {
			items[i].Published = t0.Add(time.Duration(i) * time.Hour)
			if f == "c" {
				items[i].Published = items[i].Published.Add(30 * time.Minute)
			}
		}
		mustSave(t, db, f, items)
		feeds[f] = items
	}
	return db, feeds
}

func memberIDs(c aggregator.Cluster) []string {
	var out []string
	for _, m := range c.Members {
		out = append(out, m.Item)
	}
	return out
}

func TestSaveClusters(t *testing.T) {
	db, f := clusterFixture(t)
	a, b, c := f["a"], f["b"], f["c"]
	now1, now2 := t0.Add(24*time.Hour), t0.Add(48*time.Hour)

	// Create: b[2] founds, a[1] joins (earlier, so Published moves back).
	v := db.Version()
	err := db.SaveClusters(context.Background(), []aggregator.Membership{
		{Item: b[2].ID, Cluster: "s1", Reason: aggregator.ReasonFirst},
		{Item: a[1].ID, Cluster: "s1", Reason: aggregator.ReasonURL, Matched: b[2].ID, Score: 1, Shared: []string{"quake"}},
		{Item: c[3].ID, Cluster: "s2", Reason: aggregator.ReasonFirst},
	}, map[string]string{"s1": b[2].ID}, now1)
	if err != nil {
		t.Fatal(err)
	}
	if db.Version() == v {
		t.Error("Version unchanged after SaveClusters")
	}
	s1, ok, err := db.Cluster(context.Background(), "s1")
	if err != nil || !ok {
		t.Fatalf("Cluster(s1) = %v, %v", ok, err)
	}
	if got, want := memberIDs(s1), []string{b[2].ID, a[1].ID}; !reflect.DeepEqual(got, want) {
		t.Errorf("s1 members = %v, want %v", got, want)
	}
	if !s1.Published.Equal(a[1].Published) || !s1.Updated.Equal(now1) || s1.Representative != b[2].ID {
		t.Errorf("s1 = published %v updated %v rep %s; want %v, %v, %s", s1.Published, s1.Updated, s1.Representative, a[1].Published, now1, b[2].ID)
	}
	m, ok, err := db.Membership(context.Background(), a[1].ID)
	if err != nil || !ok || m.Reason != aggregator.ReasonURL || m.Matched != b[2].ID || m.Score != 1 ||
		!slices.Equal(m.Shared, []string{"quake"}) || !m.Joined.Equal(now1) {
		t.Errorf("Membership(a1) = %+v, %v, %v", m, ok, err)
	}

	// Append c[0] to s1 and move a[1] from s1 to s2; s1's Published must
	// move to its new earliest member; s2 gets c[3]'s then a[1]'s time.
	err = db.SaveClusters(context.Background(), []aggregator.Membership{
		{Item: c[0].ID, Cluster: "s1", Reason: aggregator.ReasonTitle},
		{Item: a[1].ID, Cluster: "s2", Reason: aggregator.ReasonSimilar, Score: 0.8},
	}, nil, now2)
	if err != nil {
		t.Fatal(err)
	}
	s1, _, _ = db.Cluster(context.Background(), "s1")
	s2, _, _ := db.Cluster(context.Background(), "s2")
	if got, want := memberIDs(s1), []string{b[2].ID, c[0].ID}; !reflect.DeepEqual(got, want) {
		t.Errorf("s1 members = %v, want %v", got, want)
	}
	if got, want := memberIDs(s2), []string{c[3].ID, a[1].ID}; !reflect.DeepEqual(got, want) {
		t.Errorf("s2 members = %v, want %v", got, want)
	}
	if !s1.Published.Equal(c[0].Published) || !s2.Published.Equal(a[1].Published) || !s2.Updated.Equal(now2) {
		t.Errorf("published s1 %v s2 %v, updated s2 %v", s1.Published, s2.Published, s2.Updated)
	}
	if s2.Representative != c[3].ID {
		t.Errorf("s2 representative = %s, want founder %s", s2.Representative, c[3].ID)
	}

	// Moving the only member of a cluster deletes it.
	err = db.SaveClusters(context.Background(), []aggregator.Membership{
		{Item: c[3].ID, Cluster: "s1", Reason: aggregator.ReasonTitle},
		{Item: a[1].ID, Cluster: "s1", Reason: aggregator.ReasonTitle},
	}, map[string]string{"s1": "not-a-member"}, now2)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := db.Cluster(context.Background(), "s2"); ok {
		t.Error("emptied cluster s2 still stored")
	}
	stories, err := db.Stories(context.Background(), storage.StoryQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(stories) != 1 || stories[0].ID != "s1" || len(stories[0].Items) != 4 || stories[0].Representative != b[2].ID {
		t.Errorf("stories after move = %+v", stories)
	}

	// A membership for an item that is not stored is skipped, not an error.
	if err := db.SaveClusters(context.Background(), []aggregator.Membership{{Item: "gone", Cluster: "s9"}}, nil, now2); err != nil {
		t.Errorf("SaveClusters(missing item) = %v", err)
	}
	if _, ok, _ := db.Cluster(context.Background(), "s9"); ok {
		t.Error("cluster created for a missing item")
	}
	if s, err := db.Stats(context.Background()); err != nil || s.Clusters != 1 || s.Items != 12 {
		t.Errorf("Stats = %+v, %v; want 1 cluster, 12 items", s, err)
	}
}

// TestSaveClustersAcrossBatches: a cluster that grows over many batches
// (whose stored members a batch only adds to) keeps its members in the
// order they joined, takes a representative among the earlier members,
// ignores one that is not a member, and does not list an item decided
// again into it twice.
func TestSaveClustersAcrossBatches(t *testing.T) {
	db, f := clusterFixture(t)
	ctx := context.Background()
	var all []aggregator.Item
	for _, feed := range []string{"a", "b", "c"} {
		all = append(all, f[feed]...)
	}
	now := t0.Add(24 * time.Hour)
	var want []string
	for i, it := range all[:9] {
		reps := map[string]string{}
		switch i {
		case 5:
			reps["s"] = all[1].ID // stored two batches ago
		case 7:
			reps["s"] = all[10].ID // not a member
		}
		ms := []aggregator.Membership{{Item: it.ID, Cluster: "s", Reason: aggregator.ReasonSimilar}}
		if i == 6 {
			ms = append(ms, aggregator.Membership{Item: all[2].ID, Cluster: "s", Reason: aggregator.ReasonTitle})
		}
		if err := db.SaveClusters(ctx, ms, reps, now); err != nil {
			t.Fatal(err)
		}
		want = append(want, it.ID)
	}
	c, ok, err := db.Cluster(ctx, "s")
	if err != nil || !ok {
		t.Fatalf("Cluster(s) = %v, %v", ok, err)
	}
	if got := memberIDs(c); !reflect.DeepEqual(got, want) {
		t.Errorf("members = %v, want %v", got, want)
	}
	if c.Representative != all[1].ID {
		t.Errorf("representative = %s, want %s", c.Representative, all[1].ID)
	}
	if m, _, _ := db.Membership(ctx, all[2].ID); m.Reason != aggregator.ReasonTitle {
		t.Errorf("membership of the item decided again = %+v, want its second decision", m)
	}
	// Moving an early member out takes it from the stored members.
	if err := db.SaveClusters(ctx, []aggregator.Membership{{Item: all[0].ID, Cluster: "t", Reason: aggregator.ReasonFirst}}, nil, now); err != nil {
		t.Fatal(err)
	}
	c, ok, err = db.Cluster(ctx, "s")
	if err != nil || !ok {
		t.Fatalf("cluster s after a move: %v, found %v", err, ok)
	}
	if got := memberIDs(c); !reflect.DeepEqual(got, want[1:]) {
		t.Errorf("members after a move = %v, want %v", got, want[1:])
	}
}

func TestClusterPublishedFollowsEditedDate(t *testing.T) {
	db, f := clusterFixture(t)
	a := f["a"]
	if err := db.SaveClusters(context.Background(), []aggregator.Membership{{Item: a[2].ID, Cluster: "s", Reason: aggregator.ReasonFirst}}, nil, t0); err != nil {
		t.Fatal(err)
	}
	edited := a[2]
	edited.Title += " (updated)"
	edited.Published = t0.Add(-time.Hour)
	edited.Hash = "changed"
	mustSave(t, db, "a", []aggregator.Item{edited})
	stories, err := db.Stories(context.Background(), storage.StoryQuery{Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(stories) != 1 || !stories[0].Published.Equal(edited.Published) || stories[0].Items[0].Title != edited.Title {
		t.Errorf("stories = %+v; want Published %v and the edited title", stories, edited.Published)
	}

	// The item moved in time order with its membership.
	if m, ok, err := db.Membership(context.Background(), edited.ID); err != nil || !ok || m.Cluster != "s" {
		t.Errorf("Membership after edit = %+v, %v, %v", m, ok, err)
	}
	var got []string
	err = db.Recent(context.Background(), time.Time{}, func(it aggregator.Item, m aggregator.Membership) error {
		got = append(got, it.ID)
		return nil
	})
	if err != nil || !slices.Equal(got, []string{edited.ID}) {
		t.Errorf("Recent after edit = %v, %v", got, err)
	}
	// Deleting the feed finds the moved item too.
	if err := db.DeleteFeed(context.Background(), "a"); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := db.Item(context.Background(), edited.ID); ok {
		t.Error("edited item survived DeleteFeed")
	}
	if s, _ := db.Stories(context.Background(), storage.StoryQuery{}); len(s) != 0 {
		t.Errorf("stories after DeleteFeed = %d, want 0", len(s))
	}
}

// TestConcurrentUse runs fetch writers beside readers; -race checks it.
func TestConcurrentUse(t *testing.T) {
	db := mustOpenDB(t)
	real := realItems(t, "x", t0)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 4 {
		wg.Go(func() {
			feed := fmt.Sprintf("w%d", w)
			items := synthItems(real, feed, 40, t0)
			for i := 0; i < len(items); i += 10 {
				if _, err := db.SaveFetch(context.Background(), aggregator.FeedState{Name: feed}, items[i:i+10]); err != nil {
					errs <- err
					return
				}
				ms := []aggregator.Membership{{Item: items[i].ID, Cluster: items[i].ID}}
				if err := db.SaveClusters(context.Background(), ms, nil, t0); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	for range 2 {
		wg.Go(func() {
			for range 20 {
				if _, err := db.Stories(context.Background(), storage.StoryQuery{Limit: 5}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	s, err := db.Stats(context.Background())
	if err != nil || s.Items != 160 || s.Clusters != 16 || s.Feeds != 4 {
		t.Errorf("Stats = %+v, %v; want 160 items, 16 clusters, 4 feeds", s, err)
	}
}

func TestStories(t *testing.T) {
	db, f := clusterFixture(t)
	a, b, c := f["a"], f["b"], f["c"]
	// Four stories: s0 {a0,b0} at t0; s1 {a1,c1} at t0+1h; s2 {c2} at
	// t0+2h30; s3 {a3} and s3b {b3} tie at t0+3h (ID breaks the tie).
	err := db.SaveClusters(context.Background(), []aggregator.Membership{
		{Item: a[0].ID, Cluster: "s0"}, {Item: b[0].ID, Cluster: "s0"},
		{Item: c[1].ID, Cluster: "s1"}, {Item: a[1].ID, Cluster: "s1"},
		{Item: c[2].ID, Cluster: "s2"},
		{Item: b[3].ID, Cluster: "s3b"}, {Item: a[3].ID, Cluster: "s3"},
	}, nil, t0)
	if err != nil {
		t.Fatal(err)
	}
	onlyA := func(feed string) bool { return feed == "a" }
	tests := []struct {
		name      string
		q         storage.StoryQuery
		want      []string
		wantItems [][]string
	}{
		{"all newest first", storage.StoryQuery{}, []string{"s3", "s3b", "s2", "s1", "s0"},
			[][]string{{a[3].ID}, {b[3].ID}, {c[2].ID}, {c[1].ID, a[1].ID}, {a[0].ID, b[0].ID}}},
		{"limit", storage.StoryQuery{Limit: 2}, []string{"s3", "s3b"}, nil},
		{"since is inclusive", storage.StoryQuery{Since: t0.Add(time.Hour)}, []string{"s3", "s3b", "s2", "s1"}, nil},
		{"since excludes older", storage.StoryQuery{Since: t0.Add(time.Hour + time.Nanosecond)}, []string{"s3", "s3b", "s2"}, nil},
		{"since after everything", storage.StoryQuery{Since: t0.Add(5 * time.Hour)}, nil, nil},
		{"include filters clusters and members", storage.StoryQuery{Include: onlyA}, []string{"s3", "s1", "s0"},
			[][]string{{a[3].ID}, {a[1].ID}, {a[0].ID}}},
		{"include with limit", storage.StoryQuery{Include: onlyA, Limit: 2}, []string{"s3", "s1"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := db.Stories(context.Background(), tc.q)
			if err != nil {
				t.Fatal(err)
			}
			var gotIDs []string
			var gotItems [][]string
			for _, s := range got {
				gotIDs = append(gotIDs, s.ID)
				gotItems = append(gotItems, ids(s.Items))
				if !slices.Equal(ids(s.Items), memberIDs(s.Cluster)) {
					t.Errorf("story %s: items %v do not follow members %v", s.ID, ids(s.Items), memberIDs(s.Cluster))
				}
				if s.Feeds != nil {
					t.Errorf("story %s: Feeds filled", s.ID)
				}
			}
			if !slices.Equal(gotIDs, tc.want) {
				t.Errorf("got %v, want %v", gotIDs, tc.want)
			}
			if tc.wantItems != nil && !reflect.DeepEqual(gotItems, tc.wantItems) {
				t.Errorf("items: got %v, want %v", gotItems, tc.wantItems)
			}
		})
	}
}

func TestRecentAndUnclustered(t *testing.T) {
	db, f := clusterFixture(t)
	a, b, c := f["a"], f["b"], f["c"]
	err := db.SaveClusters(context.Background(), []aggregator.Membership{
		{Item: a[3].ID, Cluster: "s3"}, {Item: c[1].ID, Cluster: "s1"}, {Item: b[1].ID, Cluster: "s1"},
		{Item: a[1].ID, Cluster: "s1"}, {Item: a[0].ID, Cluster: "s0"},
	}, nil, t0)
	if err != nil {
		t.Fatal(err)
	}
	byTimeID := func(items ...aggregator.Item) []string {
		slices.SortFunc(items, func(x, y aggregator.Item) int {
			if c := x.Time().Compare(y.Time()); c != 0 {
				return c
			}
			if x.ID < y.ID {
				return -1
			}
			return 1
		})
		return ids(items)
	}
	var got []string
	err = db.Recent(context.Background(), t0.Add(time.Hour), func(it aggregator.Item, m aggregator.Membership) error {
		if m.Item != it.ID {
			t.Errorf("membership %+v handed with item %s", m, it.ID)
		}
		got = append(got, it.ID)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := byTimeID(a[1], b[1], c[1], a[3]); !slices.Equal(got, want) {
		t.Errorf("Recent = %v, want %v", got, want)
	}

	stop := errors.New("stop")
	n := 0
	err = db.Recent(context.Background(), time.Time{}, func(aggregator.Item, aggregator.Membership) error { n++; return stop })
	if !errors.Is(err, stop) || n != 1 {
		t.Errorf("Recent with failing fn: err %v after %d calls; want stop after 1", err, n)
	}

	un, err := db.Unclustered(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if want := byTimeID(b[0], c[0], a[2], b[2], c[2], b[3], c[3]); !slices.Equal(ids(un), want) {
		t.Errorf("Unclustered = %v, want %v", ids(un), want)
	}
}

// TestRecentBatches crosses the internal batch size and writes from inside
// fn, which must not deadlock.
func TestRecentBatches(t *testing.T) {
	db := mustOpenDB(t)
	items := synthItems(realItems(t, "x", t0), "big", 5000, t0)
	mustSave(t, db, "big", items)
	ms := make([]aggregator.Membership, len(items))
	for i, it := range items {
		ms[i] = aggregator.Membership{Item: it.ID, Cluster: it.ID, Reason: aggregator.ReasonFirst}
	}
	if err := db.SaveClusters(context.Background(), ms, nil, t0); err != nil {
		t.Fatal(err)
	}
	var prev time.Time
	n := 0
	err := db.Recent(context.Background(), time.Time{}, func(it aggregator.Item, _ aggregator.Membership) error {
		if it.Time().Before(prev) {
			t.Fatalf("out of order at %d", n)
		}
		prev = it.Time()
		n++
		if n == 3000 {
			return db.PutFeedState(context.Background(), aggregator.FeedState{Name: "big"})
		}
		return nil
	})
	if err != nil || n != len(items) {
		t.Errorf("Recent: %d items, err %v; want %d", n, err, len(items))
	}
}

// TestPendingKeepsTimeGroups: Pending never splits the items of one time
// between two calls, so the caller can order such a group as a whole.
func TestPendingKeepsTimeGroups(t *testing.T) {
	db := mustOpenDB(t)
	real := realItems(t, "x", t0)
	items := synthItems(real, "f", 10, t0)
	for i := range items {
		items[i].Published = t0 // one time for all but the last two
		if i >= 8 {
			items[i].Published = t0.Add(time.Duration(i) * time.Hour)
		}
	}
	mustSave(t, db, "f", items)
	got, err := db.Pending(context.Background(), 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 8 {
		t.Errorf("Pending(3) returned %d items, want the 8 of the first time", len(got))
	}
	all, err := db.Pending(context.Background(), 0)
	if err != nil || len(all) != 10 {
		t.Errorf("Pending(0) = %d items, %v; want 10", len(all), err)
	}
}
