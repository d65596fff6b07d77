package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"aggregator"
	"aggregator/pipeline"
	"aggregator/storage/postgres"
)

var _ pipeline.Fleet = (*postgres.DB)(nil)

// openNodes opens n stores on the database at url: n nodes of a fleet,
// each with its own pool.
func openNodes(t *testing.T, url string, n int, opts postgres.Options) []*postgres.DB {
	t.Helper()
	dbs := make([]*postgres.DB, n)
	for i := range dbs {
		db, err := postgres.Open(t.Context(), url, opts)
		if err != nil {
			t.Fatalf("open node %d: %v", i, err)
		}
		t.Cleanup(func() { db.Close() })
		dbs[i] = db
	}
	return dbs
}

func feedNames(n int) []string {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("feed-%04d", i)
	}
	return names
}

// TestClaimFeedsConcurrent: three nodes claiming from the same 1,000
// feeds at once, some stored and some never seen, lease each claimable
// feed exactly once, never a disabled one or one not due; a node that
// stores its fetch ends its own lease; next is the earliest lease end
// when every due feed is leased.
func TestClaimFeedsConcurrent(t *testing.T) {
	ctx := t.Context()
	_, url := mustOpen(t)
	nodes := openNodes(t, url, 3, postgres.Options{})
	names := feedNames(1000)
	later := time.Now().Add(time.Hour).Truncate(time.Second)
	claimable := make(map[string]bool)
	for i, name := range names {
		switch {
		case i%10 == 0: // disabled, and due
			st := aggregator.FeedState{Name: name, Disabled: true, NextFetch: time.Now().Add(-time.Hour)}
			if err := nodes[0].PutFeedState(ctx, st); err != nil {
				t.Fatal(err)
			}
		case i%10 == 1: // not due
			if err := nodes[0].PutFeedState(ctx, aggregator.FeedState{Name: name, NextFetch: later}); err != nil {
				t.Fatal(err)
			}
		case i%10 == 2: // due, stored
			claimable[name] = true
			st := aggregator.FeedState{Name: name, NextFetch: time.Now().Add(-time.Minute), ETag: `"x"`}
			if err := nodes[0].PutFeedState(ctx, st); err != nil {
				t.Fatal(err)
			}
		default: // never stored
			claimable[name] = true
		}
	}

	const lease = 20 * time.Second
	start := time.Now()
	var (
		mu      sync.Mutex
		claims  = make(map[string][]string) // feed -> nodes that claimed it
		lastNxt = make([]time.Time, len(nodes))
		wg      sync.WaitGroup
	)
	for i, db := range nodes {
		node := fmt.Sprintf("node-%d", i)
		wg.Go(func() {
			for {
				got, next, err := db.ClaimFeeds(ctx, node, names, lease, 37)
				if err != nil {
					t.Errorf("%s: claim: %v", node, err)
					return
				}
				mu.Lock()
				for _, st := range got {
					claims[st.Name] = append(claims[st.Name], node)
				}
				lastNxt[i] = next
				mu.Unlock()
				if len(got) == 0 {
					return
				}
				// Store every other fetch, as done, due in an hour; the
				// rest stay leased.
				var fs []aggregator.Fetched
				for _, st := range got {
					if st.Name[len(st.Name)-1]%2 == 0 {
						st.Node, st.NextFetch, st.LastFetch = node, later, time.Now()
						fs = append(fs, aggregator.Fetched{State: st})
					}
				}
				if _, errs := db.SaveFetches(ctx, fs); errors.Join(errs...) != nil {
					t.Errorf("%s: save: %v", node, errors.Join(errs...))
					return
				}
			}
		})
	}
	wg.Wait()
	// A node that found nothing left while another was claiming may have
	// seen a next of now: ask again, all claims done.
	for i, db := range nodes {
		got, next, err := db.ClaimFeeds(ctx, fmt.Sprintf("node-%d", i), names, lease, 37)
		if err != nil || len(got) != 0 {
			t.Fatalf("node %d after the claims: %d more, %v", i, len(got), err)
		}
		lastNxt[i] = next
	}

	leased := 0
	for name := range claimable {
		if got := claims[name]; len(got) != 1 {
			t.Errorf("feed %s claimed by %v, want exactly one node", name, got)
		}
		if name[len(name)-1]%2 != 0 {
			leased++
		}
	}
	for name, by := range claims {
		if !claimable[name] {
			t.Errorf("feed %s (disabled or not due) claimed by %v", name, by)
		}
	}
	all, mine := 0, 0
	for i, db := range nodes {
		a, m, err := db.Leases(ctx, fmt.Sprintf("node-%d", i))
		if err != nil {
			t.Fatal(err)
		}
		all, mine = a, mine+m
	}
	if all != leased || mine != leased {
		t.Errorf("leases: %d in all, %d summed over the nodes; want %d (the fetches not stored)", all, mine, leased)
	}
	// Every due feed is leased or stored: the next is the first lease's
	// end, before the stored ones fall due.
	for i, next := range lastNxt {
		if next.Before(start.Add(lease-time.Second)) || next.After(time.Now().Add(lease+time.Second)) {
			t.Errorf("node %d: next %v, want about %v from the start (%v)", i, next, lease, start)
		}
	}
	// A stored state keeps what the fetch set, and the name of who did.
	for name, by := range claims {
		if name[len(name)-1]%2 != 0 {
			continue
		}
		st, ok, err := nodes[1].FeedState(ctx, name)
		if err != nil || !ok || st.Node != by[0] || !st.NextFetch.Equal(later) {
			t.Fatalf("feed %s after its fetch: %+v, %v, %v; want Node %s, NextFetch %v", name, st, ok, err, by[0], later)
		}
	}
}

// TestClaimLeaseRules: a lease that ends makes the feed claimable again;
// ReleaseFeeds frees only its node's leases, at once; SaveFetches ends
// the lease of the node named in the state and no other's; next follows.
func TestClaimLeaseRules(t *testing.T) {
	ctx := t.Context()
	_, url := mustOpen(t)
	nodes := openNodes(t, url, 2, postgres.Options{})
	a, b := nodes[0], nodes[1]
	names := feedNames(10)
	claim := func(db *postgres.DB, node string, lease time.Duration) ([]string, time.Time) {
		t.Helper()
		got, next, err := db.ClaimFeeds(ctx, node, names, lease, 100)
		if err != nil {
			t.Fatalf("%s: claim: %v", node, err)
		}
		var out []string
		for _, st := range got {
			out = append(out, st.Name)
		}
		return out, next
	}

	// A short lease ends by itself, as a killed node's does.
	const short = 300 * time.Millisecond
	before := time.Now()
	if got, _ := claim(a, "a", short); len(got) != len(names) {
		t.Fatalf("a claimed %d feeds, want %d", len(got), len(names))
	}
	got, next := claim(b, "b", time.Minute)
	if len(got) != 0 {
		t.Fatalf("b claimed %v while a's leases run", got)
	}
	if next.Before(before.Add(short-50*time.Millisecond)) || next.After(time.Now().Add(short+50*time.Millisecond)) {
		t.Errorf("next %v, want a's lease end, about %v after %v", next, short, before)
	}
	time.Sleep(time.Until(next) + 20*time.Millisecond) // the lease is the thing under test
	if got, _ := claim(b, "b", time.Minute); len(got) != len(names) {
		t.Fatalf("after a's leases ended b claimed %d feeds, want %d", len(got), len(names))
	}

	// Releasing: a's release of b's feeds frees nothing; b's frees all.
	if err := a.ReleaseFeeds(ctx, "a", names); err != nil {
		t.Fatal(err)
	}
	if got, _ := claim(a, "a", time.Minute); len(got) != 0 {
		t.Fatalf("a claimed %v after releasing b's leases as a", got)
	}
	if err := b.ReleaseFeeds(ctx, "b", names[:4]); err != nil {
		t.Fatal(err)
	}
	if got, _ := claim(a, "a", time.Minute); len(got) != 4 {
		t.Fatalf("a claimed %v after b released 4", got)
	}
	if all, mine, err := a.Leases(ctx, "a"); err != nil || all != len(names) || mine != 4 {
		t.Errorf("leases: %d, %d, %v; want %d, 4", all, mine, err, len(names))
	}

	// Storing: a fetch stored by another node leaves a's lease; a's own
	// ends it, and the feed is claimable at once when it is due.
	due := aggregator.FeedState{Name: names[0], NextFetch: time.Now().Add(-time.Second), Node: "b"}
	if _, errs := b.SaveFetches(ctx, []aggregator.Fetched{{State: due}}); errs[0] != nil {
		t.Fatal(errs[0])
	}
	if got, _ := claim(b, "b", time.Minute); len(got) != 0 {
		t.Fatalf("b claimed %v after storing a's feed as b", got)
	}
	due.Node = "a"
	if _, errs := a.SaveFetches(ctx, []aggregator.Fetched{{State: due}}); errs[0] != nil {
		t.Fatal(errs[0])
	}
	if got, _ := claim(b, "b", time.Minute); len(got) != 1 || got[0] != names[0] {
		t.Fatalf("b claimed %v after a stored its fetch, want [%s]", got, names[0])
	}
	// Stored due later: not claimable, and next says when.
	later := time.Now().Add(3 * time.Second)
	st := aggregator.FeedState{Name: names[1], NextFetch: later, Node: "a"}
	if _, errs := a.SaveFetches(ctx, []aggregator.Fetched{{State: st}}); errs[0] != nil {
		t.Fatal(errs[0])
	}
	if err := b.ReleaseFeeds(ctx, "b", names); err != nil {
		t.Fatal(err)
	}
	if err := a.ReleaseFeeds(ctx, "a", names); err != nil {
		t.Fatal(err)
	}
	got, next = claim(b, "b", time.Minute)
	if len(got) != len(names)-1 {
		t.Errorf("b claimed %d, want all but the one due later", len(got))
	}
	if d := next.Sub(later); d < -time.Millisecond || d > time.Millisecond {
		t.Errorf("next %v, want %v (the one due later)", next, later)
	}
	if all, _, _ := b.Leases(ctx, "b"); all != len(names)-1 {
		t.Errorf("%d leases, want %d", all, len(names)-1)
	}
}

// BenchmarkClaimFeeds: claiming (and releasing) 100 of 1,000 due feeds.
func BenchmarkClaimFeeds(b *testing.B) {
	db, _ := mustOpen(b)
	ctx := b.Context()
	names := feedNames(1000)
	if _, _, err := db.ClaimFeeds(ctx, "warm", names, time.Millisecond, 0); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		got, _, err := db.ClaimFeeds(ctx, "n", names, time.Minute, 100)
		if err != nil || len(got) != 100 {
			b.Fatalf("claimed %d, %v", len(got), err)
		}
		b.StopTimer()
		if err := db.ReleaseFeeds(ctx, "n", names); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}

// waitFor waits up to d for a value from ch that ok accepts.
func waitFor[T any](t *testing.T, ch <-chan T, d time.Duration, ok func(T) bool) (T, bool) {
	t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case v := <-ch:
			if ok(v) {
				return v, true
			}
		case <-timer.C:
			var zero T
			return zero, false
		}
	}
}

// terminate ends the sessions of url's database whose application_name
// is app, as a kill -9 of their process would, and returns how many.
func terminate(t *testing.T, url, app string) int {
	t.Helper()
	return count(t, url, fmt.Sprintf(`SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE application_name = '%s' AND datname = current_database()`, app))
}

// TestLeadFailover: the leader's connection killed (as a kill -9 of its
// process closes it), the leader's lost context ends and the other node
// takes over within a couple of seconds.
func TestLeadFailover(t *testing.T) {
	ctx := t.Context()
	_, url := mustOpen(t)
	nodes := openNodes(t, url, 2, postgres.Options{})
	lost, resign, err := nodes[0].Lead(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer resign()
	type led struct {
		lost   context.Context
		resign func()
		err    error
	}
	second := make(chan led, 1)
	go func() {
		l, r, err := nodes[1].Lead(ctx)
		second <- led{l, r, err}
	}()
	select {
	case l := <-second:
		t.Fatalf("a second leader while the first holds on: %v", l.err)
	case <-time.After(1200 * time.Millisecond): // two of its polls
	}

	killed := time.Now()
	if n := terminate(t, url, "aggregator lead"); n != 2 {
		// The leader's and the waiter's connections: the waiter connects
		// again, the leader must not.
		t.Logf("terminated %d lead connections", n)
	}
	select {
	case <-lost.Done():
		t.Logf("first leader knew it lost after %v", time.Since(killed))
	case <-time.After(3 * time.Second):
		t.Fatal("the first leader's lost context did not end")
	}
	select {
	case l := <-second:
		if l.err != nil {
			t.Fatal(l.err)
		}
		defer l.resign()
		t.Logf("second leader took over %v after the kill", time.Since(killed))
		if l.lost.Err() != nil {
			t.Error("the new leader's lost context has ended")
		}
	case <-time.After(4 * time.Second):
		t.Fatal("no second leader within 4 s of the kill")
	}
	if lost.Err() == nil {
		t.Error("the first leader's lost context is still live")
	}
}

// TestLeadOneAtATime: three nodes campaigning in turn, each leading for a
// while and resigning: never two leaders at once, and the leadership
// moves on after each resignation.
func TestLeadOneAtATime(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	defer cancel()
	_, url := mustOpen(t)
	nodes := openNodes(t, url, 3, postgres.Options{})
	var (
		mu      sync.Mutex
		leaders int
		terms   []int
		wg      sync.WaitGroup
	)
	for i, db := range nodes {
		wg.Go(func() {
			for ctx.Err() == nil {
				lost, resign, err := db.Lead(ctx)
				if err != nil {
					return // ctx ended
				}
				mu.Lock()
				leaders++
				if leaders > 1 {
					t.Errorf("node %d leads alongside another", i)
				}
				terms = append(terms, i)
				mu.Unlock()
				select {
				case <-time.After(150 * time.Millisecond):
				case <-lost.Done():
				}
				mu.Lock()
				leaders--
				mu.Unlock()
				resign()
				// Stand back for more than a poll, so that another
				// takes over.
				select {
				case <-time.After(700 * time.Millisecond):
				case <-ctx.Done():
				}
			}
		})
	}
	wg.Wait()
	if len(terms) < 3 {
		t.Errorf("%d terms in 3 s, want the leadership to move on after each resignation: %v", len(terms), terms)
	}
	for i := 1; i < len(terms); i++ {
		if terms[i] == terms[i-1] {
			t.Errorf("node %d led twice running while the others waited: %v", terms[i], terms)
		}
	}
	t.Logf("terms: %v", terms)
}

// TestWatch: node b hears of node a's new items (Pending) and decisions
// (Stories, with b's Version moved on) within a second; a does not hear
// of its own writes; a change made without a notification is caught by
// the periodic check, and one made while b's LISTEN connection is down
// by the check after it connects again.
func TestWatch(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	_, url := mustOpen(t)
	nodes := openNodes(t, url, 2, postgres.Options{WatchCheck: 300 * time.Millisecond})
	a, b := nodes[0], nodes[1]
	heardA, heardB := make(chan aggregator.Change, 100), make(chan aggregator.Change, 100)
	var wg sync.WaitGroup
	for _, w := range []struct {
		db *postgres.DB
		ch chan aggregator.Change
	}{{a, heardA}, {b, heardB}} {
		wg.Go(func() {
			if err := w.db.Watch(ctx, func(c aggregator.Change) { w.ch <- c }); err != nil {
				t.Errorf("watch: %v", err)
			}
		})
	}
	defer func() {
		cancel()
		wg.Wait() // Watch returns when ctx ends
	}()
	// Changes before a watcher's first check are not news: bump the count
	// behind the store's back until both have heard of it.
	primed := map[chan aggregator.Change]bool{}
	for deadline := time.Now().Add(5 * time.Second); len(primed) < 2; {
		if time.Now().After(deadline) {
			t.Fatal("the watchers did not start within 5 s")
		}
		sql(t, url, `UPDATE fleet_changes SET n = n + 1 WHERE kind = 'stories'`)
		for _, ch := range []chan aggregator.Change{heardA, heardB} {
			if _, ok := waitFor(t, ch, 400*time.Millisecond, func(c aggregator.Change) bool { return c == pipeline.Stories }); ok {
				primed[ch] = true
			}
		}
	}
	time.Sleep(400 * time.Millisecond) // a check's worth: every bump reported
	drainChanges(heardA)
	drainChanges(heardB)

	items := []aggregator.Item{{ID: "a-1", Title: "One", URL: "https://news.example/1", Hash: "h1",
		Published: time.Now().Add(-time.Minute), FirstSeen: time.Now()}}
	sent := time.Now()
	if _, errs := a.SaveFetches(ctx, []aggregator.Fetched{{State: aggregator.FeedState{Name: "f"}, Items: items}}); errs[0] != nil {
		t.Fatal(errs[0])
	}
	if _, ok := waitFor(t, heardB, time.Second, func(c aggregator.Change) bool { return c == pipeline.Pending }); !ok {
		t.Fatal("b did not hear of a's new item within 1 s")
	}
	t.Logf("Pending heard after %v", time.Since(sent))

	v := b.Version()
	sent = time.Now()
	err := a.SaveDecisions(ctx, aggregator.Decisions{Now: time.Now(),
		Memberships: []aggregator.Membership{{Item: "a-1", Cluster: "c1", Reason: aggregator.ReasonFirst, Score: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := waitFor(t, heardB, time.Second, func(c aggregator.Change) bool { return c == pipeline.Stories }); !ok {
		t.Fatal("b did not hear of a's decisions within 1 s")
	}
	t.Logf("Stories heard after %v", time.Since(sent))
	if b.Version() == v {
		t.Error("b's Version did not move on with a's decisions")
	}
	select {
	case c := <-heardA:
		t.Errorf("a heard of its own write: %v", c)
	default:
	}

	// No notification: only the check can find it.
	sql(t, url, `UPDATE fleet_changes SET n = n + 1 WHERE kind = 'stories'`)
	if _, ok := waitFor(t, heardB, 2*time.Second, func(c aggregator.Change) bool { return c == pipeline.Stories }); !ok {
		t.Fatal("the periodic check did not catch a change without a notification")
	}

	// b's LISTEN connection killed, and a change in the meantime.
	drainChanges(heardB)
	if n := terminate(t, url, "aggregator watch"); n != 2 {
		t.Fatalf("terminated %d watch connections, want 2", n)
	}
	if _, err := a.Prune(ctx, time.Now().Add(time.Hour), 0); err != nil {
		t.Fatal(err)
	}
	if _, ok := waitFor(t, heardB, 3*time.Second, func(c aggregator.Change) bool { return c == pipeline.Stories }); !ok {
		t.Fatal("b did not catch a's prune made while its connection was down")
	}
	// And it listens again.
	sent = time.Now()
	if err := a.DeleteFeed(ctx, "f"); err != nil {
		t.Fatal(err)
	}
	if _, ok := waitFor(t, heardB, time.Second, func(c aggregator.Change) bool { return c == pipeline.Stories }); !ok {
		t.Fatal("b did not hear of a's deletion after reconnecting")
	}
}

func drainChanges(ch <-chan aggregator.Change) {
	for {
		select {
		case <-ch:
		default:
			return
		}
	}
}
