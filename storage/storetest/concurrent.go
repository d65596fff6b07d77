package storetest

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"aggregator"
)

// testConcurrentUse: fetches of several feeds, a clusterer and readers
// running at once (as the daemon's goroutines do) lose nothing and see no
// error; run under -race, it also checks the store's own locking.
func testConcurrentUse(t *testing.T, open opener) {
	s := open(t)
	const feeds, fetches, perFetch = 6, 4, 10
	writersDone := make(chan struct{})
	var writers, others sync.WaitGroup
	errc := make(chan error, 64)
	report := func(err error) {
		select {
		case errc <- err:
		default: // enough reported
		}
	}
	all := make([][]aggregator.Item, feeds)
	for f := range feeds {
		name := fmt.Sprintf("feed-%d", f)
		all[f] = dated(realItems(t, name, 700+f*fetches*perFetch, fetches*perFetch, t0),
			t0.Add(-time.Duration(f)*time.Minute), 7*time.Minute)
	}
	for f := range feeds {
		writers.Go(func() {
			name := fmt.Sprintf("feed-%d", f)
			for i := range fetches {
				// Each fetch lists the previous one's items again and new ones.
				items := all[f][max(0, (i-1)*perFetch) : (i+1)*perFetch]
				if _, errs := s.SaveFetches(t.Context(), []aggregator.Fetched{{State: state(name), Items: items}}); errs[0] != nil {
					report(fmt.Errorf("save %s fetch %d: %w", name, i, errs[0]))
				}
			}
		})
	}
	others.Go(func() { // the clusterer: every pending item founds a story
		for done := false; ; {
			select {
			case <-writersDone:
				done = true
			default:
			}
			p, err := s.Pending(t.Context(), 8)
			if err != nil {
				report(err)
				return
			}
			if len(p) == 0 && done {
				return
			}
			var ms []aggregator.Membership
			for _, it := range p {
				ms = append(ms, found(it.ID, "s-"+it.ID))
			}
			if err := s.SaveDecisions(t.Context(), aggregator.Decisions{Memberships: ms, Now: t0}); err != nil {
				report(err)
				return
			}
		}
	})
	for range 3 {
		others.Go(func() { // readers
			for {
				select {
				case <-writersDone:
					return
				default:
				}
				if _, err := s.Stories(t.Context(), aggregator.StoryQuery{Limit: 20}); err != nil {
					report(err)
				}
				if _, err := s.FeedStates(t.Context()); err != nil {
					report(err)
				}
				if _, err := s.Stats(t.Context()); err != nil {
					report(err)
				}
				if err := s.Recent(t.Context(), t0.Add(-time.Hour), func(aggregator.Item, aggregator.Membership) error { return nil }); err != nil {
					report(err)
				}
			}
		})
	}
	writers.Wait()
	close(writersDone)
	others.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	total := feeds * fetches * perFetch
	if got := mustStats(t, s); got.Items != total || got.Clusters != total || got.Pending != 0 || got.Feeds != feeds {
		t.Errorf("stats = %+v; want %d items and clusters, %d feeds, none pending", got, total, feeds)
	}
	for f := range feeds {
		for _, it := range all[f] {
			if m, ok := mustMembership(t, s, it.ID); !ok || m.Cluster != "s-"+it.ID {
				t.Errorf("item %s: membership %+v, %v; want its own story", it.ID, m, ok)
			}
		}
	}
}

// testConcurrentSameFeed: fetches of one feed stored at once (two
// processes of a fleet polling it together) all succeed, store each item
// once and report it new once.
func testConcurrentSameFeed(t *testing.T, open opener) {
	s := open(t)
	const writers, rounds = 4, 5
	for round := range rounds {
		shared := realItems(t, "f", 800+round*40, 30, t0)
		var wg sync.WaitGroup
		res := make([]aggregator.SaveResult, writers)
		errs := make([]error, writers)
		for w := range writers {
			wg.Go(func() {
				items := append(slices.Clone(shared), realItems(t, "f", 1000+round*writers+w, 1, t0)...)
				r, e := s.SaveFetches(t.Context(), []aggregator.Fetched{{State: state("f"), Items: items}})
				res[w], errs[w] = r[0], e[0]
			})
		}
		wg.Wait()
		newIDs := make(map[string]int)
		for w := range writers {
			if errs[w] != nil {
				t.Errorf("round %d, writer %d: %v", round, w, errs[w])
			}
			for _, it := range res[w].New {
				newIDs[it.ID]++
			}
			if got := len(res[w].New) + res[w].Unchanged; errs[w] == nil && got != len(shared)+1 {
				t.Errorf("round %d, writer %d: %d new and unchanged, want %d", round, w, got, len(shared)+1)
			}
		}
		for _, it := range shared {
			if n := newIDs[it.ID]; n != 1 {
				t.Errorf("round %d: item %s reported new %d times, want once", round, it.ID, n)
			}
		}
	}
	want := rounds * (30 + writers)
	if got := mustStats(t, s); got.Items != want || got.Pending != want {
		t.Errorf("stats: %d items, %d pending; want %d, %d", got.Items, got.Pending, want, want)
	}
	if st, _ := mustFeedState(t, s, "f"); st.TotalItems != want {
		t.Errorf("TotalItems = %d, want %d", st.TotalItems, want)
	}
}

// testConcurrentDecisions: batches of decisions saved at once, joining
// one story, lose no member, and each gets its own stamp and log record.
func testConcurrentDecisions(t *testing.T, open opener) {
	s := open(t)
	const writers, per = 4, 10
	items := realItems(t, "f", 860, writers*per, t0)
	mustSave(t, s, "f", items)
	s0 := mustStamp(t, s)
	var wg sync.WaitGroup
	errs := make([]error, writers)
	for w := range writers {
		wg.Go(func() {
			var ms []aggregator.Membership
			for _, it := range items[w*per : (w+1)*per] {
				ms = append(ms, joins(it.ID, "c", items[0].ID))
			}
			errs[w] = s.SaveDecisions(t.Context(), aggregator.Decisions{Memberships: ms, Now: t0})
		})
	}
	wg.Wait()
	for w, err := range errs {
		if err != nil {
			t.Errorf("writer %d: %v", w, err)
		}
	}
	c, ok := mustCluster(t, s, "c")
	if got := memberIDs(c); !ok || len(got) != len(items) {
		t.Errorf("story c: %d members, want %d", len(got), len(items))
	}
	for _, it := range items {
		if m, ok := mustMembership(t, s, it.ID); !ok || m.Cluster != "c" {
			t.Errorf("item %s: membership %+v, %v; want story c", it.ID, m, ok)
		}
	}
	if got := mustStats(t, s); got.Clusters != 1 || got.Pending != 0 {
		t.Errorf("stats: %d clusters, %d pending; want 1, 0", got.Clusters, got.Pending)
	}
	if got := mustStamp(t, s); got.Seq != s0.Seq+writers {
		t.Errorf("stamp %d after %d batches from %d, want %d", got.Seq, writers, s0.Seq, s0.Seq+writers)
	}
	var seqs []uint64
	decided := 0
	if err := s.ClusterLog(t.Context(), s0.Seq, func(r aggregator.LogRecord) error {
		seqs = append(seqs, r.Seq)
		decided += len(r.Memberships)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(seqs) != writers || decided != len(items) || !slices.IsSorted(seqs) {
		t.Errorf("log: records %v holding %d decisions; want %d in order holding %d", seqs, decided, writers, len(items))
	}
}

// testConcurrentPruneAndFetch: a prune and refetches of the items it
// removes, at once (one process of a fleet pruning while another polls),
// leave each item stored or tombstoned, never both or neither, and the
// counts right.
func testConcurrentPruneAndFetch(t *testing.T, open opener) {
	s := open(t)
	longAgo := t0.Add(-30 * 24 * time.Hour)
	items := manyItems(t, "f", 3000, longAgo, time.Minute, longAgo)
	mustSave(t, s, "f", items)
	var wg sync.WaitGroup
	var pruned aggregator.PruneResult
	var pruneErr error
	fetchErrs := make([]error, 6)
	wg.Go(func() { pruned, pruneErr = s.Prune(t.Context(), t0.Add(-24*time.Hour), 0) })
	for i := range fetchErrs {
		wg.Go(func() {
			_, errs := s.SaveFetches(t.Context(), []aggregator.Fetched{{State: state("f"), Items: items[i*500 : (i+1)*500]}})
			fetchErrs[i] = errs[0]
		})
	}
	wg.Wait()
	if pruneErr != nil {
		t.Errorf("prune: %v", pruneErr)
	}
	for i, err := range fetchErrs {
		if err != nil {
			t.Errorf("fetch %d: %v", i, err)
		}
	}
	st := mustStats(t, s)
	if st.Items+st.Tombstones != len(items) || st.Items != len(items)-pruned.Items || st.Pending != st.Items {
		t.Errorf("stats %+v after pruning %d of %d items; want items and tombstones to add up to %d",
			st, pruned.Items, len(items), len(items))
	}
	if fs, _ := mustFeedState(t, s, "f"); fs.TotalItems != st.Items {
		t.Errorf("TotalItems = %d, want %d", fs.TotalItems, st.Items)
	}
	res := mustSave(t, s, "f", items)
	if got := countsOf(res); got != (counts{Unchanged: st.Items, Deleted: st.Tombstones}) {
		t.Errorf("a refetch after: %+v, want %d unchanged, %d deleted", got, st.Items, st.Tombstones)
	}
}

// testConcurrentDeleteAndDecide: deletions and decisions on the same
// items at once leave no membership or story member without its item.
func testConcurrentDeleteAndDecide(t *testing.T, open opener) {
	s := open(t)
	items := realItems(t, "f", 900, 60, t0)
	mustSave(t, s, "f", items)
	var wg sync.WaitGroup
	var deleteErr, decideErr error
	wg.Go(func() {
		for i := 0; i < len(items) && deleteErr == nil; i += 2 {
			deleteErr = s.DeleteItem(t.Context(), items[i].ID)
		}
	})
	wg.Go(func() {
		for i := 0; i < len(items) && decideErr == nil; i += 6 {
			// Pairs: an item to be deleted founds a story, the next joins it.
			var ms []aggregator.Membership
			for j := i; j < i+6; j += 2 {
				ms = append(ms, found(items[j].ID, "s"+items[j].ID), joins(items[j+1].ID, "s"+items[j].ID, items[j].ID))
			}
			decideErr = s.SaveDecisions(t.Context(), aggregator.Decisions{Memberships: ms, Now: t0})
		}
	})
	wg.Wait()
	if deleteErr != nil || decideErr != nil {
		t.Fatalf("delete: %v; decide: %v", deleteErr, decideErr)
	}
	stories := mustStories(t, s, aggregator.StoryQuery{})
	if st := mustStats(t, s); st.Items != len(items)/2 || st.Clusters != len(stories) || st.Clusters != len(items)/2 {
		t.Errorf("stats %+v with %d stories; want %d items, one story each", st, len(stories), len(items)/2)
	}
	for i, it := range items {
		m, ok := mustMembership(t, s, it.ID)
		if i%2 == 0 {
			if ok {
				t.Errorf("deleted item %d keeps membership %+v", i, m)
			}
			continue
		}
		c, cok := mustCluster(t, s, "s"+items[i-1].ID)
		if !ok || !cok || !slices.Equal(memberIDs(c), []string{it.ID}) || c.Representative != it.ID {
			t.Errorf("item %d: membership %+v (%v), story %+v (%v); want it alone in s%s", i, m, ok, c, cok, items[i-1].ID)
		}
	}
}
