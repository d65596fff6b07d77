package fetcher_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"aggregator"
	"aggregator/fetcher"
)

// TestNextFetch pins the schedule rule with fixed times. Jitter 0.5 adds
// nothing; 0 and 1 are its extremes (-10%, +10%).
func TestNextFetch(t *testing.T) {
	s := fetcher.Schedule{Interval: 30 * time.Minute, MinInterval: 5 * time.Minute, MaxInterval: 24 * time.Hour}
	now := fixedNow // a Saturday, 09:26:53 UTC
	ok := aggregator.FeedState{LastResult: "ok"}
	gap := func(d time.Duration) aggregator.FeedState { return aggregator.FeedState{MeanItemGap: d.Seconds()} }
	errs := func(n int) aggregator.FeedState { return aggregator.FeedState{ConsecutiveErrors: n} }
	cases := []struct {
		name  string
		st    aggregator.FeedState
		s     fetcher.Schedule
		facts fetcher.Facts
		want  time.Duration
	}{
		{"base interval", ok, s, fetcher.Facts{Jitter: 0.5}, 30 * time.Minute},
		{"jitter low", ok, s, fetcher.Facts{Jitter: 0}, 27 * time.Minute},
		{"jitter high", ok, s, fetcher.Facts{Jitter: 1}, 33 * time.Minute},
		{"slow publisher: half its gap", gap(3 * time.Hour), s, fetcher.Facts{Jitter: 0.5}, 90 * time.Minute},
		{"very slow publisher: at most 8x", gap(30 * 24 * time.Hour), s, fetcher.Facts{Jitter: 0.5}, 4 * time.Hour},
		{"busy publisher: at least half", gap(time.Minute), s, fetcher.Facts{Jitter: 0.5}, 15 * time.Minute},
		{"max-age floor", ok, s, fetcher.Facts{MaxAge: 2 * time.Hour, Jitter: 0.5}, 2 * time.Hour},
		{"floor survives low jitter", ok, s, fetcher.Facts{MaxAge: 2 * time.Hour, Jitter: 0}, 2 * time.Hour},
		{"expires floor", ok, s, fetcher.Facts{Expires: now.Add(3 * time.Hour), Jitter: 0.5}, 3 * time.Hour},
		{"past expires", ok, s, fetcher.Facts{Expires: now.Add(-time.Hour), Jitter: 0.5}, 30 * time.Minute},
		{"ttl floor", ok, s, fetcher.Facts{TTL: 60 * time.Minute, Jitter: 0.5}, time.Hour},
		{"sy:updatePeriod floor", ok, s, fetcher.Facts{UpdatePeriod: 12 * time.Hour, Jitter: 0.5}, 12 * time.Hour},
		{"largest floor wins", ok, s, fetcher.Facts{TTL: time.Hour, MaxAge: 5 * time.Hour, UpdatePeriod: 2 * time.Hour, Jitter: 0.5}, 5 * time.Hour},
		{"floor capped by max", ok, s, fetcher.Facts{MaxAge: 72 * time.Hour, Jitter: 0.5}, 24 * time.Hour},
		{"small floor ignored", ok, s, fetcher.Facts{MaxAge: time.Minute, Jitter: 0.5}, 30 * time.Minute},
		{"min clamp", ok, fetcher.Schedule{Interval: time.Minute, MinInterval: 5 * time.Minute, MaxInterval: time.Hour}, fetcher.Facts{Jitter: 0.5}, 5 * time.Minute},
		{"max clamp", ok, fetcher.Schedule{Interval: 48 * time.Hour, MinInterval: 5 * time.Minute, MaxInterval: 24 * time.Hour}, fetcher.Facts{Jitter: 1}, 24 * time.Hour},
		// now+30m = 09:56 Saturday. Skipping hour 9 moves it to 10:00.
		{"skipHours", ok, s, fetcher.Facts{SkipHours: []int{9}, Jitter: 0.5}, 33*time.Minute + 7*time.Second},
		{"skipHours run", ok, s, fetcher.Facts{SkipHours: []int{9, 10, 11}, Jitter: 0.5}, 2*time.Hour + 33*time.Minute + 7*time.Second},
		// Skipping Saturday moves it to Sunday 00:00.
		{"skipDays", ok, s, fetcher.Facts{SkipDays: []time.Weekday{time.Saturday}, Jitter: 0.5}, 14*time.Hour + 33*time.Minute + 7*time.Second},
		{"every hour skipped: ignored", ok, s, fetcher.Facts{SkipHours: allHours(), Jitter: 0.5}, 30 * time.Minute},
		{"first failure", errs(1), s, fetcher.Facts{Failed: true, Jitter: 0.5}, 30 * time.Minute},
		{"third failure", errs(3), s, fetcher.Facts{Failed: true, Jitter: 0.5}, 2 * time.Hour},
		{"many failures: capped", errs(40), s, fetcher.Facts{Failed: true, Jitter: 0.5}, 24 * time.Hour},
		{"backoff jitter", errs(2), s, fetcher.Facts{Failed: true, Jitter: 0}, 54 * time.Minute},
		{"retry-after later than backoff", errs(1), s, fetcher.Facts{Failed: true, RetryAfter: now.Add(6 * time.Hour), Jitter: 0.5}, 6 * time.Hour},
		{"retry-after sooner than backoff", errs(3), s, fetcher.Facts{Failed: true, RetryAfter: now.Add(time.Minute), Jitter: 0.5}, 2 * time.Hour},
		{"retry-after beyond max interval", errs(1), s, fetcher.Facts{Failed: true, RetryAfter: now.Add(48 * time.Hour), Jitter: 0.5}, 48 * time.Hour},
		{"retry-after absurd", errs(1), s, fetcher.Facts{Failed: true, RetryAfter: now.Add(400 * 24 * time.Hour), Jitter: 0.5}, 7 * 24 * time.Hour},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := fetcher.NextFetch(now, tc.st, tc.s, tc.facts).Sub(now)
			if got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func allHours() []int {
	h := make([]int, 24)
	for i := range h {
		h[i] = i
	}
	return h
}

// TestJitterSpreads: feeds fetched at the same moment are not due at the
// same moment again; the client draws jitter from its seed.
func TestJitterSpreads(t *testing.T) {
	srv, _ := serve(t, func(w http.ResponseWriter, r *http.Request, n int) { w.WriteHeader(304) })
	c := newClient(t, fetcher.Options{Seed: 42, PerHost: 8, Interval: time.Hour, Now: func() time.Time { return fixedNow }})
	var urls []string
	for i := range 40 {
		urls = append(urls, fmt.Sprintf("%s/%d", srv.URL, i))
	}
	var mu sync.Mutex
	seen := map[time.Time]bool{}
	lo, hi := 2*time.Hour, time.Duration(0)
	c.FetchAll(context.Background(), jobsFor(urls...), func(r fetcher.Result) {
		mu.Lock()
		defer mu.Unlock()
		d := r.State.NextFetch.Sub(fixedNow)
		seen[r.State.NextFetch] = true
		lo, hi = min(lo, d), max(hi, d)
	})
	if len(seen) < 40 || hi-lo < 6*time.Minute || lo < 54*time.Minute || hi > 66*time.Minute {
		t.Errorf("%d distinct times in [%v, %v]", len(seen), lo, hi)
	}
}

// TestDue: due when NextFetch has come, never when disabled.
func TestDue(t *testing.T) {
	for _, tc := range []struct {
		name string
		st   aggregator.FeedState
		want bool
	}{
		{"new feed", aggregator.FeedState{}, true},
		{"past", aggregator.FeedState{NextFetch: fixedNow.Add(-time.Second)}, true},
		{"exactly now", aggregator.FeedState{NextFetch: fixedNow}, true},
		{"future", aggregator.FeedState{NextFetch: fixedNow.Add(time.Second)}, false},
		{"disabled", aggregator.FeedState{Disabled: true}, false},
	} {
		if got := fetcher.Due(tc.st, fixedNow); got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestScheduleHintsKept: a document's <ttl>, sy:updatePeriod and
// <skipHours>/<skipDays> shape the schedule of the fetch that parsed it
// and of the 304s after it.
func TestScheduleHintsKept(t *testing.T) {
	const doc = `<?xml version="1.0"?><rss version="2.0" xmlns:sy="http://purl.org/rss/1.0/modules/syndication/"><channel>
<title>hints</title><ttl>120</ttl><sy:updatePeriod>daily</sy:updatePeriod><sy:updateFrequency>8</sy:updateFrequency>
<skipHours><hour>12</hour><hour>13</hour></skipHours><skipDays><day>Sunday</day></skipDays>
<item><guid>1</guid><title>x</title></item></channel></rss>`
	srv, _ := serve(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n > 1 {
			w.WriteHeader(304)
			return
		}
		w.Header().Set("ETag", `"1"`)
		w.Write([]byte(doc))
	})
	// 10:30 on a Saturday: 3h (24h/8, above the ttl) later is 13:30, a
	// skipped hour, so 14:00.
	now := time.Date(2026, 3, 14, 10, 30, 0, 0, time.UTC)
	c := newClient(t, fetcher.Options{Now: func() time.Time { return now }})
	st := zeroState
	for i := range 2 {
		r := c.Fetch(context.Background(), feed(srv.URL), st)
		if r.Err != nil {
			t.Fatal(r.Err)
		}
		st = r.State
		if got, want := st.NextFetch, time.Date(2026, 3, 14, 14, 0, 0, 0, time.UTC); !got.Equal(want) {
			t.Errorf("fetch %d (%s): next %v, want %v", i+1, r.Status, got, want)
		}
	}
	// Late on Saturday, the next day is skipped entirely.
	now = time.Date(2026, 3, 14, 22, 0, 0, 0, time.UTC)
	r := c.Fetch(context.Background(), feed(srv.URL), st)
	if got, want := r.State.NextFetch, time.Date(2026, 3, 16, 0, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("Saturday night: next %v, want %v", got, want)
	}
}

// TestCacheHeaders: Cache-Control max-age and Expires (read relative to
// the server's own Date, so its clock skew does not matter) are floors.
func TestCacheHeaders(t *testing.T) {
	skewed := fixedNow.Add(-10 * time.Hour) // the server's clock is 10h late
	for _, tc := range []struct {
		name   string
		header map[string]string
		want   time.Duration
	}{
		{"max-age", map[string]string{"Cache-Control": "public, max-age=7200"}, 2 * time.Hour},
		{"expires with skewed date", map[string]string{"Date": skewed.Format(http.TimeFormat), "Expires": skewed.Add(3 * time.Hour).Format(http.TimeFormat)}, 3 * time.Hour},
		{"max-age over expires", map[string]string{"Cache-Control": "max-age=14400", "Expires": fixedNow.Add(time.Hour).Format(http.TimeFormat)}, 4 * time.Hour},
		{"no-cache", map[string]string{"Cache-Control": "no-cache"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, _ := serve(t, func(w http.ResponseWriter, r *http.Request, n int) {
				for k, v := range tc.header {
					w.Header()[k] = []string{v}
				}
				w.Write([]byte(`<rss version="2.0"><channel><title>t</title></channel></rss>`))
			})
			r := newClient(t, fetcher.Options{Now: func() time.Time { return fixedNow }}).Fetch(context.Background(), feed(srv.URL), zeroState)
			if r.Err != nil {
				t.Fatal(r.Err)
			}
			d := r.State.NextFetch.Sub(fixedNow)
			lo, hi := tc.want, tc.want*11/10
			if tc.want == 0 {
				lo, hi = 27*time.Minute, 33*time.Minute // the default interval
			}
			if d < lo || d > hi {
				t.Errorf("next fetch in %v, want [%v, %v]", d, lo, hi)
			}
		})
	}
}
