package storetest

import (
	"context"
	"encoding/hex"
	"math/rand/v2"
	"testing"
	"time"

	"aggregator"
)

// hugeIDItem is an item of feed whose ID is 40 KB of random hex: more
// than either store can index (bbolt refuses keys over 32 KiB,
// PostgreSQL's btree index rows over about 2.7 KB, and random hex does not
// compress below that), so storing it fails for real.
func hugeIDItem(t *testing.T, feed string) aggregator.Item {
	it := realItems(t, feed, 640, 1, t0)[0]
	raw := make([]byte, 20<<10)
	r := rand.NewChaCha8([32]byte{'s', 't', 'o', 'r', 'e', 't', 'e', 's', 't'})
	r.Read(raw)
	it.ID = hex.EncodeToString(raw)
	return it
}

// testFeedAllOrNothing: in one SaveFetches, a feed whose write fails
// stores neither items nor state, keeping what it had, and reports an
// error at its index; the feeds before and after it are stored.
func testFeedAllOrNothing(t *testing.T, open opener) {
	for _, tc := range []struct {
		name  string
		known bool // feed b was fetched before
	}{{"new feed", false}, {"known feed", true}} {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			a := realItems(t, "a", 650, 5, t0)
			b := realItems(t, "b", 655, 6, t0)
			c := realItems(t, "c", 661, 4, t0)
			var oldB aggregator.FeedState
			if tc.known {
				mustSave(t, s, "b", b[:3])
				oldB, _ = mustFeedState(t, s, "b")
			}
			edited := b[1]
			edited.Title = "Update: " + edited.Title
			edited.Normalize("b")
			batchB := []aggregator.Item{b[0], edited, b[2], b[3], hugeIDItem(t, "b"), b[4], b[5]}
			stB := state("b")
			stB.ETag, stB.LastResult = `"b2"`, "ok"
			res, errs := s.SaveFetches(t.Context(), []aggregator.Fetched{
				{State: state("a"), Items: a}, {State: stB, Items: batchB}, {State: state("c"), Items: c},
			})
			if len(res) != 3 || len(errs) != 3 {
				t.Fatalf("%d results, %d errors; want 3, 3", len(res), len(errs))
			}
			if errs[0] != nil || errs[1] == nil || errs[2] != nil {
				t.Errorf("errors %v; want one for feed b only", errs)
			}
			if len(res[0].New) != 5 || len(res[2].New) != 4 {
				t.Errorf("feeds a, c: %d and %d new; want 5, 4", len(res[0].New), len(res[2].New))
			}
			if got := countsOf(res[1]); got != (counts{}) {
				t.Errorf("failed feed b's result %+v, want none", got)
			}
			for feed, items := range map[string][]aggregator.Item{"a": a, "c": c} {
				for _, it := range items {
					if _, ok := mustItem(t, s, it.ID); !ok {
						t.Errorf("feed %s: item %s not stored", feed, it.ID)
					}
				}
				if st, ok := mustFeedState(t, s, feed); !ok || st.TotalItems != len(items) {
					t.Errorf("feed %s: state %+v, %v; want %d items", feed, st, ok, len(items))
				}
			}
			st, ok := mustFeedState(t, s, "b")
			if ok != tc.known || st != oldB {
				t.Errorf("feed b's state = %+v, %v; want %+v, %v", st, ok, oldB, tc.known)
			}
			for i, it := range b {
				got, ok := mustItem(t, s, it.ID)
				if want := tc.known && i < 3; ok != want {
					t.Errorf("feed b item %d: stored %v, want %v", i, ok, want)
				}
				if ok && got.Title != it.Title {
					t.Errorf("feed b item %d: title %q, want %q as before the failed fetch", i, got.Title, it.Title)
				}
			}
			want := len(a) + len(c)
			if tc.known {
				want += 3
			}
			if got := mustStats(t, s); got.Items != want || got.Pending != want {
				t.Errorf("stats: %d items, %d pending; want %d, %d", got.Items, got.Pending, want, want)
			}
		})
	}
}

// testCancelledWrites: a write under a cancelled context fails and stores
// nothing.
func testCancelledWrites(t *testing.T, open opener) {
	longAgo := t0.Add(-20 * 24 * time.Hour)
	for _, tc := range []struct {
		name string
		op   func(ctx context.Context, t *testing.T, s Store, items []aggregator.Item) error
	}{
		{"SaveFetches", func(ctx context.Context, t *testing.T, s Store, items []aggregator.Item) error {
			more := realItems(t, "f", 690, 3, t0)
			_, errs := s.SaveFetches(ctx, []aggregator.Fetched{{State: state("f"), Items: append(more, items...)},
				{State: state("g"), Items: realItems(t, "g", 693, 2, t0)}})
			if len(errs) != 2 || errs[0] == nil || errs[1] == nil {
				t.Errorf("errors %v; want two", errs)
			}
			return errs[0]
		}},
		{"PutFeedState", func(ctx context.Context, t *testing.T, s Store, _ []aggregator.Item) error {
			return s.PutFeedState(ctx, state("g"))
		}},
		{"SaveDecisions", func(ctx context.Context, t *testing.T, s Store, items []aggregator.Item) error {
			return s.SaveDecisions(ctx, aggregator.Decisions{
				Memberships: []aggregator.Membership{found(items[4].ID, "new"), joins(items[1].ID, "c", items[0].ID)},
				Now:         t0.Add(time.Hour),
			})
		}},
		{"DeleteItem", func(ctx context.Context, t *testing.T, s Store, items []aggregator.Item) error {
			return s.DeleteItem(ctx, items[0].ID)
		}},
		{"DeleteFeed", func(ctx context.Context, t *testing.T, s Store, _ []aggregator.Item) error {
			return s.DeleteFeed(ctx, "f")
		}},
		{"Prune", func(ctx context.Context, t *testing.T, s Store, _ []aggregator.Item) error {
			_, err := s.Prune(ctx, t0.Add(-24*time.Hour), 0)
			return err
		}},
		{"TrimClusterLog", func(ctx context.Context, t *testing.T, s Store, _ []aggregator.Item) error {
			st, err := s.ClusterStamp(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			return s.TrimClusterLog(ctx, st.Seq)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			items := append(realItems(t, "f", 670, 5, t0), dated(realItems(t, "f", 675, 3, longAgo), longAgo, time.Hour)...)
			mustSave(t, s, "f", items)
			decide(t, s, t0, nil, found(items[0].ID, "c"), found(items[5].ID, "old"))
			before := canonDump(t, export(t, s))
			ctx, cancel := context.WithCancel(t.Context())
			cancel()
			if err := tc.op(ctx, t, s, items); err == nil {
				t.Error("succeeded under a cancelled context")
			}
			diffDumps(t, "after a cancelled "+tc.name, canonDump(t, export(t, s)), before)
		})
	}

	t.Run("Import", func(t *testing.T) {
		src := open(t)
		mustSave(t, src, "f", realItems(t, "f", 680, 3, t0))
		recs := export(t, src)
		s := open(t)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if err := s.Import(ctx, produceAll(recs)); err == nil {
			t.Error("import succeeded under a cancelled context")
		}
		if got := mustStats(t, s); got.Items != 0 || got.Feeds != 0 {
			t.Errorf("after a cancelled import: %d items, %d feeds; want none", got.Items, got.Feeds)
		}
	})
}
