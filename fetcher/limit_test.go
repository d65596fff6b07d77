package fetcher_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"aggregator"
	"aggregator/fetcher"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
)

// gate is a feed server whose handlers hold each request until released,
// recording how many were in flight at once, per host and in all.
type gate struct {
	mu        sync.Mutex
	inflight  map[string]int
	total     int
	maxHost   map[string]int
	maxTotal  int
	starts    map[string][]time.Time
	arrived   chan struct{}
	release   chan struct{}
	delivered int
}

func newGate() *gate {
	return &gate{inflight: map[string]int{}, maxHost: map[string]int{}, starts: map[string][]time.Time{},
		arrived: make(chan struct{}, 1000), release: make(chan struct{})}
}

func (g *gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	host := strings.Split(r.Host, ":")[0]
	g.mu.Lock()
	g.inflight[host]++
	g.total++
	g.maxHost[host] = max(g.maxHost[host], g.inflight[host])
	g.maxTotal = max(g.maxTotal, g.total)
	g.starts[host] = append(g.starts[host], time.Now())
	g.mu.Unlock()
	g.arrived <- struct{}{}
	select {
	case <-g.release:
	case <-r.Context().Done():
	}
	g.mu.Lock()
	g.inflight[host]--
	g.total--
	g.mu.Unlock()
	w.Write([]byte(rssDoc))
}

func jobsFor(urls ...string) []fetcher.Job {
	var jobs []fetcher.Job
	for i, u := range urls {
		jobs = append(jobs, fetcher.Job{Feed: aggregator.Feed{Name: fmt.Sprintf("f%d", i), URL: u}})
	}
	return jobs
}

// TestPerHost: no more than PerHost requests to one host at once, while
// another host is served in parallel within Concurrency.
func TestPerHost(t *testing.T) {
	g := newGate()
	srv := httptest.NewServer(g)
	defer srv.Close()
	port := srv.Listener.Addr().String()[len("127.0.0.1:"):]
	var urls []string
	for i := range 6 {
		urls = append(urls, fmt.Sprintf("http://127.0.0.1:%s/a%d", port, i), fmt.Sprintf("http://localhost:%s/b%d", port, i))
	}
	c := newClient(t, fetcher.Options{PerHost: 2, Concurrency: 3})
	done := make(chan struct{})
	var n atomic.Int32
	go func() {
		c.FetchAll(context.Background(), jobsFor(urls...), func(r fetcher.Result) {
			if r.Err != nil {
				t.Error(r.Err)
			}
			n.Add(1) // handle runs on several goroutines at once
		})
		close(done)
	}()
	// Wait until the limits are reached (3 in flight), then let all go.
	for range 3 {
		<-g.arrived
	}
	close(g.release)
	<-done
	if n.Load() != 12 {
		t.Errorf("%d results, want 12", n.Load())
	}
	if g.maxTotal != 3 {
		t.Errorf("max in flight %d, want Concurrency 3", g.maxTotal)
	}
	for h, m := range g.maxHost {
		if m > 2 {
			t.Errorf("host %s: %d in flight, want at most PerHost 2", h, m)
		}
	}
	if len(g.starts["127.0.0.1"]) != 6 || len(g.starts["localhost"]) != 6 {
		t.Errorf("requests per host: %d, %d", len(g.starts["127.0.0.1"]), len(g.starts["localhost"]))
	}
}

// TestHostDelay: requests to one host start at least HostDelay apart.
func TestHostDelay(t *testing.T) {
	g := newGate()
	close(g.release)
	srv := httptest.NewServer(g)
	defer srv.Close()
	const delay = 40 * time.Millisecond
	c := newClient(t, fetcher.Options{PerHost: 4, HostDelay: delay})
	c.FetchAll(context.Background(), jobsFor(srv.URL+"/1", srv.URL+"/2", srv.URL+"/3", srv.URL+"/4"), func(r fetcher.Result) {})
	starts := g.starts["127.0.0.1"]
	if len(starts) != 4 {
		t.Fatalf("%d requests", len(starts))
	}
	// Server-side arrival times carry scheduling noise (connection setup,
	// a busy machine), which cancels out over the whole run.
	for i := 1; i < len(starts); i++ {
		if gap := starts[i].Sub(starts[i-1]); gap < delay/2 {
			t.Errorf("requests %d and %d started %v apart, want %v", i-1, i, gap, delay)
		}
	}
	if span := starts[3].Sub(starts[0]); span < 3*delay-10*time.Millisecond {
		t.Errorf("4 requests within %v, want at least 3×%v", span, delay)
	}
}

// TestHostDelayLoopback: with LoopbackNoDelay, requests to a server on
// this machine are not spaced by HostDelay, but PerHost still holds.
func TestHostDelayLoopback(t *testing.T) {
	g := newGate()
	close(g.release)
	srv := httptest.NewServer(g)
	defer srv.Close()
	const delay = 2 * time.Second
	c := newClient(t, fetcher.Options{PerHost: 1, HostDelay: delay, LoopbackNoDelay: true})
	start := time.Now()
	c.FetchAll(context.Background(), jobsFor(srv.URL+"/1", srv.URL+"/2", srv.URL+"/3", srv.URL+"/4"), func(r fetcher.Result) {})
	if n := len(g.starts["127.0.0.1"]); n != 4 {
		t.Fatalf("%d requests", n)
	}
	if took := time.Since(start); took >= delay {
		t.Errorf("4 requests to 127.0.0.1 took %v: the host delay (%v) was applied", took, delay)
	}
	if n := g.maxHost["127.0.0.1"]; n > 1 {
		t.Errorf("%d requests in flight to one host, PerHost is 1", n)
	}
}

// TestFetchAllCancel: cancelling stops the fetches in flight, delivers
// them as failed with their state unchanged, and never starts the rest.
func TestFetchAllCancel(t *testing.T) {
	g := newGate()
	srv := httptest.NewServer(g)
	defer srv.Close()
	c := newClient(t, fetcher.Options{PerHost: 1, Concurrency: 1})
	ctx, cancel := context.WithCancel(context.Background())
	jobs := jobsFor(srv.URL+"/1", srv.URL+"/2", srv.URL+"/3")
	for i := range jobs {
		jobs[i].State = aggregator.FeedState{Name: jobs[i].Feed.Name, URL: jobs[i].Feed.URL, ConsecutiveErrors: 2, NextFetch: fixedNow}
	}
	var mu sync.Mutex
	var got []fetcher.Result
	done := make(chan struct{})
	go func() {
		c.FetchAll(ctx, jobs, func(r fetcher.Result) {
			mu.Lock()
			got = append(got, r)
			mu.Unlock()
		})
		close(done)
	}()
	<-g.arrived
	cancel()
	<-done
	if len(got) != 1 {
		t.Fatalf("%d results, want the one in flight", len(got))
	}
	r := got[0]
	if !errors.Is(r.Err, context.Canceled) || r.Status != fetcher.StatusFailed {
		t.Errorf("got %s %v, want failed: canceled", r.Status, r.Err)
	}
	if r.State.ConsecutiveErrors != 2 || !r.State.NextFetch.Equal(fixedNow) || !r.State.LastFetch.IsZero() {
		t.Errorf("state changed by a cancelled fetch: %+v", r.State)
	}
	if n := len(g.starts["127.0.0.1"]); n != 1 {
		t.Errorf("%d requests reached the server, want 1", n)
	}
}

// TestMetrics: the Collector reports what the client did, gathered and
// written in the text format as a registry serves it.
func TestMetrics(t *testing.T) {
	srv, _ := serve(t, func(w http.ResponseWriter, r *http.Request, n int) {
		switch r.URL.Path {
		case "/ok":
			w.Write([]byte(rssDoc))
		case "/304":
			w.WriteHeader(304)
		default:
			w.WriteHeader(503)
		}
	})
	c := newClient(t, fetcher.Options{})
	for _, p := range []string{"/ok", "/304", "/503", "/503"} {
		c.Fetch(context.Background(), feed(srv.URL+p), aggregator.FeedState{URL: srv.URL + p, ETag: `"e"`})
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c.Collector())
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	enc := expfmt.NewEncoder(&b, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			t.Fatal(err)
		}
	}
	out := b.String()
	for _, want := range []string{
		`aggregator_fetches_total{result="ok"} 1`,
		`aggregator_fetches_total{result="unchanged"} 1`,
		`aggregator_fetches_total{result="failed"} 2`,
		`aggregator_fetch_items_total 2`,
		`aggregator_fetch_errors_total{kind="http_5xx"} 2`,
		`aggregator_fetch_duration_seconds_count 4`,
		`aggregator_fetches_in_flight 0`,
		`aggregator_fetch_duration_seconds_bucket{le="+Inf"} 4`,
		fmt.Sprintf("aggregator_fetch_bytes_total %d", len(rssDoc)),
		"# TYPE aggregator_fetch_duration_seconds histogram",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("metrics lack %q:\n%s", want, out)
		}
	}
}

// TestBackpressure: a fetch keeps its slot until its handler returns, so
// a slow consumer holds fetching back instead of piling results up.
func TestBackpressure(t *testing.T) {
	srv, rec := serve(t, func(w http.ResponseWriter, r *http.Request, n int) { w.Write([]byte(rssDoc)) })
	c := newClient(t, fetcher.Options{Concurrency: 2, PerHost: 4})
	var urls []string
	for i := range 6 {
		urls = append(urls, fmt.Sprintf("%s/%d", srv.URL, i))
	}
	entered := make(chan struct{}, 6)
	unblock := make(chan struct{})
	done := make(chan struct{})
	go func() {
		c.FetchAll(context.Background(), jobsFor(urls...), func(r fetcher.Result) {
			entered <- struct{}{}
			<-unblock
		})
		close(done)
	}()
	<-entered
	<-entered
	// Both slots are held by handlers: nothing else may reach the server.
	// The handlers are blocked, so the count cannot grow until released.
	if n := rec.count(); n != 2 {
		t.Errorf("%d requests while both handlers block, want 2", n)
	}
	close(unblock)
	<-done
	if n := rec.count(); n != 6 {
		t.Errorf("%d requests in all, want 6", n)
	}
}

// TestFetchCancelledBeforeStart: Fetch with a dead context fails without
// a request and without touching the state.
func TestFetchCancelledBeforeStart(t *testing.T) {
	srv, rec := serve(t, func(w http.ResponseWriter, r *http.Request, n int) { w.Write([]byte(rssDoc)) })
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	st := aggregator.FeedState{Name: "test", URL: srv.URL, NextFetch: fixedNow, ConsecutiveErrors: 1}
	r := newClient(t, fetcher.Options{}).Fetch(ctx, feed(srv.URL), st)
	if !errors.Is(r.Err, context.Canceled) || r.State.NextFetch != fixedNow || r.State.ConsecutiveErrors != 1 || rec.count() != 0 {
		t.Errorf("got %v, state %+v, %d requests", r.Err, r.State, rec.count())
	}
}

// TestHostGate: with a HostGate the per-host limits are the gate's to
// count. It is asked once per request with the host and the limits this
// Client would apply there (loopback exempt from the delay), each grant
// is reported sent once the request is written and released exactly
// once, after the response, a request that was never written (nothing
// listening) is released without a send, and a gate that refuses fails
// the fetch without a request.
func TestHostGate(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Write([]byte(rssDoc))
	}))
	defer srv.Close()
	port := srv.Listener.Addr().String()[len("127.0.0.1:"):]
	type call struct {
		host    string
		perHost int
		delay   time.Duration
	}
	var (
		mu     sync.Mutex
		calls  []call
		events []string
		refuse = errors.New("refused by the fleet")
	)
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()
	c := newClient(t, fetcher.Options{PerHost: 3, HostDelay: 700 * time.Millisecond, LoopbackNoDelay: true,
		HostGate: func(ctx context.Context, host string, perHost int, delay time.Duration) (func(), func(), error) {
			mu.Lock()
			defer mu.Unlock()
			calls = append(calls, call{host, perHost, delay})
			if host == "localhost" {
				return nil, nil, refuse
			}
			event := func(e string) func() {
				return func() {
					mu.Lock()
					events = append(events, e)
					mu.Unlock()
				}
			}
			return event("sent"), event("released"), nil
		}})
	r := c.Fetch(t.Context(), aggregator.Feed{Name: "a", URL: "http://127.0.0.1:" + port + "/a"}, aggregator.FeedState{})
	if r.Err != nil || r.Status != fetcher.StatusOK {
		t.Fatalf("gated fetch: %v %v", r.Status, r.Err)
	}
	mu.Lock()
	events = append(events, "|")
	mu.Unlock()
	r = c.Fetch(t.Context(), aggregator.Feed{Name: "c", URL: closedURL + "/c"}, aggregator.FeedState{})
	if r.Err == nil {
		t.Errorf("fetch from a closed port succeeded")
	}
	r = c.Fetch(t.Context(), aggregator.Feed{Name: "b", URL: "http://LOCALHOST:" + port + "/b"}, aggregator.FeedState{})
	if !errors.Is(r.Err, refuse) {
		t.Errorf("refused fetch: err %v, want the gate's", r.Err)
	}
	mu.Lock()
	defer mu.Unlock()
	want := []call{{"127.0.0.1", 3, 0}, {"127.0.0.1", 3, 0}, {"localhost", 3, 0}}
	if fmt.Sprint(calls) != fmt.Sprint(want) {
		t.Errorf("gate calls %v, want %v", calls, want)
	}
	if got, want := strings.Join(events, " "), "sent released | released"; got != want || hits.Load() != 1 {
		t.Errorf("gate events %q, requests %d; want %q and 1", got, hits.Load(), want)
	}
}
