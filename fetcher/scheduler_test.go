package fetcher_test

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"aggregator"
	"aggregator/fetcher"
)

// TestScheduler runs the scheduler on synctest's fake clock against a
// real loopback server (started outside the bubble; the bubble's
// transport keeps no idle connections, whose reads would stop the fake
// clock). A feed is fetched when its stored NextFetch comes (so a restart
// resumes the schedule), a new feed at once, a disabled one never, and
// each again after its interval.
func TestScheduler(t *testing.T) {
	// One undated item: no <ttl>, no publishing cadence, so the interval
	// is the configured one.
	const doc = `<rss version="2.0"><channel><title>t</title><item><guid>1</guid><title>x</title></item></channel></rss>`
	srv, rec := serve(t, func(w http.ResponseWriter, r *http.Request, n int) { w.Write([]byte(doc)) })
	hits := func(path string) int {
		n := 0
		for i := range rec.count() {
			if rec.get(i).URL.Path == path {
				n++
			}
		}
		return n
	}
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		c := fetcher.New(fetcher.Options{
			Interval:  time.Hour,
			HostDelay: -1,
			Seed:      7,
			Transport: &http.Transport{DisableKeepAlives: true},
		})
		feeds := []aggregator.Feed{
			{Name: "resumed", URL: srv.URL + "/resumed"},
			{Name: "new", URL: srv.URL + "/new"},
			{Name: "gone", URL: srv.URL + "/gone"},
		}
		states := map[string]aggregator.FeedState{
			"resumed": {Name: "resumed", URL: srv.URL + "/resumed", NextFetch: start.Add(20 * time.Minute)},
			"gone":    {Name: "gone", URL: srv.URL + "/gone", Disabled: true},
		}
		s := fetcher.NewScheduler(c, feeds, states)
		var mu sync.Mutex
		fetched := map[string][]time.Time{}
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() {
			errc <- s.Run(ctx, func(r fetcher.Result) {
				if r.Err != nil {
					t.Errorf("%s: %v", r.Feed.Name, r.Err)
				}
				mu.Lock()
				fetched[r.Feed.Name] = append(fetched[r.Feed.Name], time.Now())
				mu.Unlock()
			})
		}()
		count := func(name string) int {
			synctest.Wait()
			mu.Lock()
			defer mu.Unlock()
			return len(fetched[name])
		}

		if count("new") != 1 || count("resumed") != 0 {
			t.Fatalf("at start: new %d, resumed %d; want 1, 0", count("new"), count("resumed"))
		}
		time.Sleep(19 * time.Minute)
		if count("resumed") != 0 {
			t.Errorf("resumed fetched before its stored NextFetch")
		}
		time.Sleep(2 * time.Minute)
		if count("resumed") != 1 {
			t.Errorf("resumed not fetched when due")
		}
		// "new" is due again an hour (±10%) after its first fetch.
		time.Sleep(32 * time.Minute)
		if count("new") != 1 {
			t.Errorf("new refetched after %v", time.Since(start))
		}
		time.Sleep(15 * time.Minute)
		if count("new") != 2 {
			t.Errorf("new fetched %d times after %v, want 2", count("new"), time.Since(start))
		}
		if st, _ := s.State("new"); !st.NextFetch.After(time.Now()) || st.LastResult != "ok" && st.LastResult != "unchanged" {
			t.Errorf("scheduler state of new: %+v", st)
		}
		if count("gone") != 0 || hits("/gone") != 0 {
			t.Errorf("a disabled feed was fetched")
		}

		// A reload adds a feed: it is fetched at once.
		s.SetFeeds(append(feeds, aggregator.Feed{Name: "added", URL: srv.URL + "/added"}))
		if count("added") != 1 {
			t.Errorf("added feed not fetched")
		}

		cancel()
		if err := <-errc; !errors.Is(err, context.Canceled) {
			t.Errorf("Run returned %v", err)
		}
	})
	if hits("/new") != 2 || hits("/resumed") != 1 || hits("/added") != 1 {
		t.Errorf("server saw new %d, resumed %d, added %d", hits("/new"), hits("/resumed"), hits("/added"))
	}
}
