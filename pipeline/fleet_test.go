package pipeline

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"aggregator"
	"aggregator/dedupe/score"
	"aggregator/fetcher"
	"aggregator/internal/pgtest"
	"aggregator/storage/postgres"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

var _ Fleet = (*postgres.DB)(nil)

// fleetServer serves the labelled outlets from several listeners, one
// "host" each, and logs every request as the feed server sees it: which
// host, which feed, when it started and ended.
type fleetServer struct {
	*outlets
	hosts []*httptest.Server

	mu       sync.Mutex
	inflight map[string]int
	maxHost  map[string]int
	starts   map[string][]time.Time
	fetches  map[string]int
}

func serveFleet(t *testing.T, items []score.Item, hosts int) *fleetServer {
	t.Helper()
	s := &fleetServer{outlets: serveOutlets(t, items), inflight: map[string]int{}, maxHost: map[string]int{},
		starts: map[string][]time.Time{}, fetches: map[string]int{}}
	inner := s.srv.Config.Handler
	for k := range hosts {
		// A host is a host name to the fetcher's politeness, so each
		// listens on an address of its own: 127.0.0.2, 127.0.0.3, ...
		h := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			host, _, _ := net.SplitHostPort(r.Host)
			s.mu.Lock()
			s.inflight[host]++
			s.maxHost[host] = max(s.maxHost[host], s.inflight[host])
			s.starts[host] = append(s.starts[host], time.Now())
			s.fetches[r.URL.Path]++
			s.mu.Unlock()
			time.Sleep(5 * time.Millisecond) // long enough for overlaps to show
			inner.ServeHTTP(w, r)
			s.mu.Lock()
			s.inflight[host]--
			s.mu.Unlock()
		}))
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.%d:0", k+2))
		if err != nil {
			t.Fatal(err)
		}
		h.Listener.Close()
		h.Listener = ln
		h.Start()
		t.Cleanup(h.Close)
		s.hosts = append(s.hosts, h)
	}
	return s
}

func (s *fleetServer) feeds() []aggregator.Feed {
	fs := s.outlets.feeds()
	for i := range fs {
		fs[i].URL = fmt.Sprintf("%s/s%d.xml", s.hosts[i%len(s.hosts)].URL, i)
	}
	return fs
}

// node is one daemon of a test fleet, in this process: its own pool on
// the shared database, its own pipeline and fetcher.
type node struct {
	name   string
	db     *postgres.DB
	p      *Pipeline
	cancel context.CancelFunc
	done   chan error
}

const (
	fleetPerHost = 2
	fleetDelay   = 20 * time.Millisecond
	// fleetSlop is how much closer than fleetDelay two starts may arrive
	// at the feed server: the gate spaces grants by the database's clock,
	// and a granted request still has to be dialled and sent.
	fleetSlop = 10 * time.Millisecond
)

func startNode(t *testing.T, url, name string, feeds []aggregator.Feed) *node {
	t.Helper()
	db, err := postgres.Open(t.Context(), url, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	opts := testOptions(feeds, nil)
	opts.Node, opts.Lease = name, 5*time.Second
	opts.Settle, opts.MaxDelay = 500*time.Millisecond, 10*time.Second
	client := fetcher.New(fetcher.Options{PerHost: fleetPerHost, HostDelay: fleetDelay, Concurrency: 8, Timeout: 2 * time.Second,
		Interval: time.Hour, MinInterval: time.Hour,
		HostGate: HostGate(db, name, opts.Lease)})
	n := &node{name: name, db: db, p: New(db, opts), done: make(chan error, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	go func() { n.done <- n.p.Run(ctx, client) }()
	t.Cleanup(n.stop)
	return n
}

func (n *node) stop() {
	if n.cancel == nil {
		return
	}
	n.cancel()
	if err := <-n.done; err != nil {
		panic(fmt.Sprintf("node %s: %v", n.name, err))
	}
	n.cancel = nil
}

func (n *node) status(t *testing.T) FleetStatus {
	t.Helper()
	st, ok, err := n.p.FleetStatus(t.Context())
	if !ok || err != nil {
		t.Fatalf("node %s: fleet status %v %v", n.name, ok, err)
	}
	return st
}

// waitFor polls cond until it holds or the time is up.
func waitFor(t *testing.T, what string, limit time.Duration, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > limit {
			t.Fatalf("still waiting after %s for %s", limit, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return time.Since(start)
}

// TestFleet: three daemons on one PostgreSQL work as one. Every feed is
// fetched exactly once (the leases), the per-host limits hold for the
// fleet together at the feed server, exactly one node clusters, and
// when it stops another takes over and goes on from what the database
// holds; the stories in the end are a single node's for the same items,
// ids included, and every node's outputs see the change.
func TestFleet(t *testing.T) {
	url := pgtest.NewDatabase(t)
	items := loadDevSet(t, "dev-rich.jsonl")
	srv := serveFleet(t, items, 4)
	feeds := srv.feeds()
	mid := items[len(items)/2].Published
	srv.upTo.Store(&mid)

	nodes := []*node{startNode(t, url, "n1", feeds), startNode(t, url, "n2", feeds), startNode(t, url, "n3", feeds)}
	db := nodes[0].db
	settled := func() bool {
		st, err := db.Stats(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		states, err := db.FeedStates(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		fetched := 0
		for _, s := range states {
			if !s.LastFetch.IsZero() {
				fetched++
			}
		}
		return fetched == len(feeds) && st.Pending == 0 && st.Items > 0
	}
	took := waitFor(t, "the first pass", time.Minute, settled)
	t.Logf("first pass over %d feeds on %d hosts: %s", len(feeds), len(srv.hosts), took.Round(time.Millisecond))

	leaders := func() (names []string) {
		for _, n := range nodes {
			if n.cancel != nil && n.status(t).Leader {
				names = append(names, n.name)
			}
		}
		return names
	}
	if l := leaders(); len(l) != 1 {
		t.Fatalf("leaders %v, want exactly one", l)
	}
	states, err := db.FeedStates(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	perNode := map[string]int{}
	for _, s := range states {
		perNode[s.Node]++
	}
	t.Logf("fetches per node: %v", perNode)
	if len(perNode) < 2 {
		t.Errorf("fetches per node %v: the work was not shared", perNode)
	}
	srv.mu.Lock()
	for path, n := range srv.fetches {
		if n != 1 {
			t.Errorf("%s fetched %d times in its interval, want once", path, n)
		}
	}
	srv.mu.Unlock()

	// The leader leaves; another takes over.
	var leader, other *node
	for _, n := range nodes {
		if n.status(t).Leader {
			leader = n
		} else if other == nil {
			other = n
		}
	}
	leader.stop()
	takeover := waitFor(t, "a new leader", 15*time.Second, func() bool { return len(leaders()) == 1 })
	t.Logf("takeover after the leader stopped: %s (new leader %v)", takeover.Round(time.Millisecond), leaders())
	version := other.p.Version()

	// The second half: every feed is due again and lists all its items.
	srv.upTo.Store(nil)
	srv.mu.Lock()
	clear(srv.fetches)
	srv.mu.Unlock()
	for _, s := range states {
		s.NextFetch = time.Time{}
		if err := db.PutFeedState(t.Context(), s); err != nil {
			t.Fatal(err)
		}
	}
	took = waitFor(t, "the second pass", time.Minute, func() bool {
		st, err := db.Stats(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		return st.Items == len(items) && st.Pending == 0
	})
	t.Logf("second pass: %s", took.Round(time.Millisecond))
	waitFor(t, "the other nodes to hear of the new stories", 5*time.Second, func() bool { return other.p.Version() != version })

	srv.mu.Lock()
	for h, m := range srv.maxHost {
		if m > fleetPerHost {
			t.Errorf("host %s: %d requests in flight across the fleet, want at most %d", h, m, fleetPerHost)
		}
	}
	for h, ts := range srv.starts {
		slices.SortFunc(ts, time.Time.Compare)
		for i := 1; i < len(ts); i++ {
			if gap := ts[i].Sub(ts[i-1]); gap < fleetDelay-fleetSlop {
				t.Errorf("host %s: two requests started %s apart, want at least %s", h, gap, fleetDelay)
				break
			}
		}
	}
	for path, n := range srv.fetches {
		if n != 1 {
			t.Errorf("second pass: %s fetched %d times, want once", path, n)
		}
	}
	srv.mu.Unlock()

	// One node over the same items, in one pass, as the reference.
	ref := mustOpen(t, filepath.Join(t.TempDir(), "ref.db"))
	rp := New(ref, testOptions(srv.outlets.feeds(), nil))
	if _, err := rp.Pass(t.Context(), testClient(), srv.outlets.jobs(), nil); err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		n.stop()
	}
	if got, want := storiesOf(t, db), storiesOf(t, ref); got != want {
		t.Errorf("the fleet's stories differ from one node's pass:\n%s", diffLines(got, want))
	}
}
