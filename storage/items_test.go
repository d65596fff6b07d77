package storage_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"aggregator"
	"aggregator/storage"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func TestItemRoundTrip(t *testing.T) {
	db := mustOpenDB(t)
	items := realItems(t, "real", t0)
	// A zone that is not UTC and a zero time must come back as they went.
	items[0].Published = time.Date(2025, 1, 2, 3, 4, 5, 6, time.FixedZone("", -5*3600))
	items[0].Updated = time.Time{}
	res := mustSave(t, db, "real", items)
	if len(res.New) == 0 {
		t.Fatal("nothing stored")
	}
	for _, want := range res.New {
		got, ok, err := db.Item(context.Background(), want.ID)
		if err != nil || !ok {
			t.Fatalf("Item(%s) = ok %v, err %v", want.ID, ok, err)
		}
		if !got.Published.Equal(want.Published) || !got.FirstSeen.Equal(want.FirstSeen) {
			t.Errorf("item %s times: got %v/%v, want %v/%v", want.ID, got.Published, got.FirstSeen, want.Published, want.FirstSeen)
		}
		_, gotOff := got.Published.Zone()
		_, wantOff := want.Published.Zone()
		if gotOff != wantOff {
			t.Errorf("item %s offset: got %d, want %d", want.ID, gotOff, wantOff)
		}
		got.Published, got.Updated, got.FirstSeen = want.Published, want.Updated, want.FirstSeen
		if len(got.Categories) == 0 && len(want.Categories) == 0 {
			got.Categories = want.Categories
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("item %s:\ngot  %+v\nwant %+v", want.ID, got, want)
		}
	}
	if _, ok, err := db.Item(context.Background(), "missing"); ok || err != nil {
		t.Errorf("Item(missing) = ok %v, err %v; want false, nil", ok, err)
	}
}

func TestSaveFetch(t *testing.T) {
	items := realItems(t, "f", t0)[:40]
	edited := items[3]
	edited.Title += " (corrected)"
	edited.Normalize("f")
	edited.FirstSeen = t0.Add(time.Hour) // the fetcher's clock; must not win

	tests := []struct {
		name          string
		second        []aggregator.Item
		wantNew       int
		wantUpdated   []string
		wantUnchanged int
	}{
		{"same batch twice stores nothing new", items, 0, nil, 40},
		{"edited item is updated", []aggregator.Item{items[0], edited}, 0, []string{edited.ID}, 1},
		{"duplicates within a batch are stored once", append(
			synthItems(items, "f", 2, t0), synthItems(items, "f", 2, t0)...), 2, nil, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db := mustOpenDB(t)
			first := mustSave(t, db, "f", items)
			if len(first.New) != 40 || first.Unchanged != 0 {
				t.Fatalf("first save: got %d new, %d unchanged; want 40, 0", len(first.New), first.Unchanged)
			}
			res := mustSave(t, db, "f", tc.second)
			if len(res.New) != tc.wantNew || res.Unchanged != tc.wantUnchanged {
				t.Errorf("got %d new, %d unchanged; want %d, %d", len(res.New), res.Unchanged, tc.wantNew, tc.wantUnchanged)
			}
			if got := ids(res.Updated); !reflect.DeepEqual(got, tc.wantUpdated) && len(got)+len(tc.wantUpdated) > 0 {
				t.Errorf("updated: got %v, want %v", got, tc.wantUpdated)
			}
			for _, u := range res.Updated {
				stored, _, err := db.Item(context.Background(), u.ID)
				if err != nil {
					t.Fatal(err)
				}
				if !stored.FirstSeen.Equal(t0) || !u.FirstSeen.Equal(t0) {
					t.Errorf("FirstSeen: stored %v, reported %v; want %v kept", stored.FirstSeen, u.FirstSeen, t0)
				}
				if stored.Title != edited.Title {
					t.Errorf("stored title %q, want %q", stored.Title, edited.Title)
				}
			}
			st, ok, err := db.FeedState(context.Background(), "f")
			if err != nil || !ok {
				t.Fatalf("FeedState = %v, %v", ok, err)
			}
			if want := 40 + tc.wantNew; st.TotalItems != want {
				t.Errorf("TotalItems = %d, want %d", st.TotalItems, want)
			}
		})
	}
}

func TestSaveFetchRejects(t *testing.T) {
	db := mustOpenDB(t)
	items := realItems(t, "a", t0)[:2]
	if _, err := db.SaveFetch(context.Background(), aggregator.FeedState{Name: "b"}, items); err == nil {
		t.Error("items of feed a saved under feed b")
	}
	noID := []aggregator.Item{{Title: "x"}}
	if _, err := db.SaveFetch(context.Background(), aggregator.FeedState{Name: "a"}, noID); err == nil {
		t.Error("item without ID saved")
	}
	if _, ok, _ := db.FeedState(context.Background(), "b"); ok {
		t.Error("a rejected batch left a feed state behind")
	}
}

// TestSaveFetches stores a pass's worth of feeds in one call: each feed is
// stored as SaveFetch would, a rejected one costs the others nothing, and
// an item-less fetch stores its state alone.
func TestSaveFetches(t *testing.T) {
	db := mustOpenDB(t)
	real := realItems(t, "x", t0)
	a := synthItems(real, "a", 30, t0)
	c := synthItems(real, "c", 20, t0)
	mustSave(t, db, "c", c[:5])
	v0 := db.Version()
	res, errs := db.SaveFetches(context.Background(), []storage.Fetched{
		{State: aggregator.FeedState{Name: "a", ETag: `"a1"`}, Items: a},
		{State: aggregator.FeedState{Name: "b"}, Items: a[:1]}, // feed a's item: rejected
		{State: aggregator.FeedState{Name: "c"}, Items: c},
		{State: aggregator.FeedState{Name: "d", LastResult: "unchanged"}},
	})
	if db.Version() != v0+1 {
		t.Errorf("Version went from %d to %d; want one commit", v0, db.Version())
	}
	for i, want := range []struct {
		new, unchanged int
		err            bool
	}{{30, 0, false}, {0, 0, true}, {15, 5, false}, {0, 0, false}} {
		if (errs[i] != nil) != want.err {
			t.Errorf("fetch %d: err = %v, want error %v", i, errs[i], want.err)
		}
		if len(res[i].New) != want.new || res[i].Unchanged != want.unchanged {
			t.Errorf("fetch %d: %d new, %d unchanged; want %d, %d", i, len(res[i].New), res[i].Unchanged, want.new, want.unchanged)
		}
	}
	states, err := db.FeedStates(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if states["a"].ETag != `"a1"` || states["a"].TotalItems != 30 || states["c"].TotalItems != 20 || states["d"].LastResult != "unchanged" {
		t.Errorf("states = %+v", states)
	}
	if _, ok := states["b"]; ok {
		t.Error("the rejected fetch left a feed state behind")
	}
	pending, err := db.Pending(context.Background(), 1000)
	if err != nil || len(pending) != 50 {
		t.Errorf("Pending = %d items, %v; want 50", len(pending), err)
	}
}

func TestFeedStates(t *testing.T) {
	db := mustOpenDB(t)
	want := aggregator.FeedState{
		Name: "news", URL: "http://127.0.0.1/news", ETag: `"abc"`, LastModified: "Mon, 02 Jan 2006 15:04:05 GMT",
		LastFetch: t0, NextFetch: t0.Add(30 * time.Minute), LastStatus: 200, LastResult: "new",
		TotalItems: 99, // ignored: storage counts
	}
	v0 := db.Version()
	if err := db.PutFeedState(context.Background(), want); err != nil {
		t.Fatal(err)
	}
	if db.Version() == v0 {
		t.Error("Version unchanged after PutFeedState")
	}
	want.TotalItems = 0
	got, ok, err := db.FeedState(context.Background(), "news")
	if err != nil || !ok {
		t.Fatalf("FeedState = %v, %v", ok, err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	mustSave(t, db, "other", realItems(t, "other", t0)[:5])
	all, err := db.FeedStates(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 || all["other"].TotalItems != 5 || all["news"].ETag != want.ETag {
		t.Errorf("FeedStates = %+v", all)
	}
	lc, err := db.LastChange(context.Background())
	if err != nil || lc.IsZero() {
		t.Errorf("LastChange = %v, %v; want a time", lc, err)
	}
}

func TestTombstones(t *testing.T) {
	db := mustOpenDB(t)
	items := realItems(t, "f", t0)[:10]
	mustSave(t, db, "f", items)
	if err := db.SaveClusters(context.Background(), []aggregator.Membership{
		{Item: items[0].ID, Cluster: "c0", Reason: aggregator.ReasonFirst},
		{Item: items[1].ID, Cluster: "c0", Reason: aggregator.ReasonTitle},
	}, nil, t0); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteItem(context.Background(), items[0].ID); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := db.Item(context.Background(), items[0].ID); ok {
		t.Error("deleted item still stored")
	}
	if _, ok, _ := db.Membership(context.Background(), items[0].ID); ok {
		t.Error("deleted item keeps its membership")
	}
	c, ok, err := db.Cluster(context.Background(), "c0")
	if err != nil || !ok || len(c.Members) != 1 || c.Representative != items[1].ID {
		t.Errorf("cluster after delete = %+v, %v, %v; want only %s as member and representative", c, ok, err, items[1].ID)
	}
	v := db.Version()
	res := mustSave(t, db, "f", items)
	if db.Version() == v {
		t.Error("Version unchanged after SaveFetch")
	}
	if len(res.New) != 0 || res.Deleted != 1 || res.Unchanged != 9 {
		t.Errorf("refetch after DeleteItem: %d new, %d deleted, %d unchanged; want 0, 1, 9", len(res.New), res.Deleted, res.Unchanged)
	}
	if st, _, _ := db.FeedState(context.Background(), "f"); st.TotalItems != 9 {
		t.Errorf("TotalItems = %d, want 9", st.TotalItems)
	}

	mustSave(t, db, "g", realItems(t, "g", t0)[:3])
	if err := db.DeleteFeed(context.Background(), "f"); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := db.FeedState(context.Background(), "f"); ok {
		t.Error("deleted feed keeps its state")
	}
	if _, ok, _ := db.Cluster(context.Background(), "c0"); ok {
		t.Error("cluster of a deleted feed's items survives")
	}
	res = mustSave(t, db, "f", items)
	if len(res.New) != 0 || res.Deleted != 10 {
		t.Errorf("refetch after DeleteFeed: %d new, %d deleted; want 0, 10", len(res.New), res.Deleted)
	}
	s, err := db.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := storage.Stats{Items: 3, Clusters: 0, Feeds: 2, Tombstones: 10, Pending: 3, Size: s.Size}
	if s != want || s.Size <= 0 {
		t.Errorf("Stats = %+v, want %+v", s, want)
	}
}

func TestLatest(t *testing.T) {
	db := mustOpenDB(t)
	if got, err := db.Latest(context.Background()); err != nil || !got.IsZero() {
		t.Errorf("Latest of an empty DB = %v, %v; want zero", got, err)
	}
	items := synthItems(realItems(t, "x", t0), "f", 5, t0)
	items[2].Published = t0.Add(48 * time.Hour) // newest, not last in the batch
	mustSave(t, db, "f", items)
	if got, err := db.Latest(context.Background()); err != nil || !got.Equal(items[2].Published) {
		t.Errorf("Latest = %v, %v; want %v", got, err, items[2].Published)
	}
}
