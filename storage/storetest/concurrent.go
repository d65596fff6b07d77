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
