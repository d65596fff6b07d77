package fetcher_test

import (
	"context"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"aggregator"
	"aggregator/fetcher"
)

// TestRetryAfter: 429 and 503 carry Retry-After (seconds or an HTTP
// date) into StatusError and push this feed's next fetch past it.
func TestRetryAfter(t *testing.T) {
	later := fixedNow.Add(5 * time.Hour).Truncate(time.Second)
	for _, tc := range []struct {
		name  string
		code  int
		value string
		want  time.Time
	}{
		{"429 seconds", 429, "7200", fixedNow.Add(2 * time.Hour)},
		{"503 http date", 503, later.Format(http.TimeFormat), later},
		{"503 without", 503, "", time.Time{}},
		{"500 ignores it", 500, "7200", time.Time{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, rec := serve(t, func(w http.ResponseWriter, r *http.Request, n int) {
				if tc.value != "" {
					w.Header().Set("Retry-After", tc.value)
				}
				w.WriteHeader(tc.code)
			})
			c := newClient(t, fetcher.Options{Now: func() time.Time { return fixedNow }})
			r := c.Fetch(context.Background(), feed(srv.URL), zeroState)
			var se *fetcher.StatusError
			if !errors.As(r.Err, &se) || se.Code != tc.code {
				t.Fatalf("got %v, want a StatusError %d", r.Err, tc.code)
			}
			if !se.RetryAfter.Equal(tc.want) {
				t.Errorf("RetryAfter %v, want %v", se.RetryAfter, tc.want)
			}
			if !tc.want.IsZero() && r.State.NextFetch.Before(tc.want) {
				t.Errorf("next fetch %v before Retry-After %v", r.State.NextFetch, tc.want)
			}
			if r.State.ConsecutiveErrors != 1 || r.State.LastStatus != tc.code || rec.count() != 1 {
				t.Errorf("state %+v after %d requests", r.State, rec.count())
			}
		})
	}
}

// TestBackoff: consecutive failures push the next fetch out
// exponentially, up to MaxInterval; a success resets the count.
func TestBackoff(t *testing.T) {
	fail := true
	srv, _ := serve(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if fail {
			w.WriteHeader(500)
			return
		}
		w.Write([]byte(rssDoc))
	})
	c := newClient(t, fetcher.Options{Now: func() time.Time { return fixedNow }, Interval: 10 * time.Minute, MinInterval: time.Minute, MaxInterval: 2 * time.Hour})
	st := zeroState
	var prev time.Duration
	for i := 1; i <= 7; i++ {
		r := c.Fetch(context.Background(), feed(srv.URL), st)
		st = r.State
		d := st.NextFetch.Sub(fixedNow)
		if st.ConsecutiveErrors != i {
			t.Fatalf("after %d failures: ConsecutiveErrors %d", i, st.ConsecutiveErrors)
		}
		if d > 2*time.Hour || (i > 1 && d < prev && d < 2*time.Hour*9/10) {
			t.Errorf("failure %d: next in %v after %v", i, d, prev)
		}
		prev = d
	}
	if prev < 2*time.Hour*9/10 {
		t.Errorf("backoff did not reach the cap: %v", prev)
	}
	fail = false
	r := c.Fetch(context.Background(), feed(srv.URL), st)
	// The document's <ttl>90</ttl> is the floor after a success.
	if d := r.State.NextFetch.Sub(fixedNow); r.State.ConsecutiveErrors != 0 || r.State.LastError != "" || d < 90*time.Minute || d > 2*time.Hour {
		t.Errorf("after success: %+v", r.State)
	}
}

// TestGone: 410 disables the feed with the reason, until its URL changes.
func TestGone(t *testing.T) {
	srv, _ := serve(t, func(w http.ResponseWriter, r *http.Request, n int) { w.WriteHeader(http.StatusGone) })
	c := newClient(t, fetcher.Options{Now: func() time.Time { return fixedNow }})
	f := feed(srv.URL)
	r := c.Fetch(context.Background(), f, zeroState)
	if !r.State.Disabled || !strings.Contains(r.State.DisabledReason, "410") {
		t.Fatalf("state %+v", r.State)
	}
	if fetcher.Due(r.State, fixedNow.Add(365*24*time.Hour)) || !fetcher.Disabled(f, r.State) {
		t.Error("a gone feed is still due")
	}
	moved := aggregator.Feed{Name: f.Name, URL: srv.URL + "/new"}
	if fetcher.Disabled(moved, r.State) {
		t.Error("a feed whose URL changed is still disabled")
	}
}

// TestPermanentRedirect: a 301 (or 308) moves FetchURL only after the
// third consecutive fetch that saw it; requests go to the new URL after.
func TestPermanentRedirect(t *testing.T) {
	for _, code := range []int{301, 308} {
		t.Run(strconv.Itoa(code), func(t *testing.T) {
			srv, rec := serve(t, func(w http.ResponseWriter, r *http.Request, n int) {
				if r.URL.Path == "/old" {
					http.Redirect(w, r, "/new", code)
					return
				}
				w.Write([]byte(rssDoc))
			})
			c := newClient(t, fetcher.Options{})
			f := aggregator.Feed{Name: "x", URL: srv.URL + "/old"}
			st := zeroState
			for i := 1; i <= 3; i++ {
				r := c.Fetch(context.Background(), f, st)
				if r.Err != nil {
					t.Fatal(r.Err)
				}
				st = r.State
				if i < 3 && (st.FetchURL != "" || st.RedirectCount != i || st.RedirectURL != srv.URL+"/new") {
					t.Errorf("after %d: %+v", i, st)
				}
			}
			if st.FetchURL != srv.URL+"/new" || st.RedirectCount != 0 {
				t.Fatalf("after 3: FetchURL %q", st.FetchURL)
			}
			c.Fetch(context.Background(), f, st)
			if got := rec.get(rec.count() - 1).URL.Path; got != "/new" || rec.count() != 7 {
				t.Errorf("requests: %d, last %s; want 7, the last straight to /new", rec.count(), got)
			}
		})
	}
}

// TestTemporaryRedirect: a 302/307 is followed but never stored, and it
// breaks a run of permanent redirects.
func TestTemporaryRedirect(t *testing.T) {
	srv, _ := serve(t, func(w http.ResponseWriter, r *http.Request, n int) {
		switch r.URL.Path {
		case "/a":
			http.Redirect(w, r, "/b", 302)
		case "/b":
			http.Redirect(w, r, "/c", 307)
		case "/p":
			http.Redirect(w, r, "/q", 301)
		case "/q":
			http.Redirect(w, r, "/c", 302)
		default:
			w.Write([]byte(rssDoc))
		}
	})
	c := newClient(t, fetcher.Options{})
	for _, path := range []string{"/a", "/p"} {
		f := aggregator.Feed{Name: "x", URL: srv.URL + path}
		st := zeroState
		for range 4 {
			r := c.Fetch(context.Background(), f, st)
			if r.Err != nil || len(r.Items) == 0 && r.Status == fetcher.StatusOK {
				t.Fatal(r.Err)
			}
			st = r.State
		}
		switch path {
		case "/a":
			if st.FetchURL != "" || st.RedirectURL != "" {
				t.Errorf("%s: temporary redirect stored: %+v", path, st)
			}
		case "/p":
			if st.FetchURL != srv.URL+"/q" {
				t.Errorf("%s: the permanent hop before the temporary one: FetchURL %q", path, st.FetchURL)
			}
		}
	}
}

// TestRedirectLimits: loops and long chains are errors, and no request
// goes past the limit.
func TestRedirectLimits(t *testing.T) {
	srv, rec := serve(t, func(w http.ResponseWriter, r *http.Request, n int) {
		switch {
		case r.URL.Path == "/loop1":
			http.Redirect(w, r, "/loop2", 302)
		case r.URL.Path == "/loop2":
			http.Redirect(w, r, "/loop1", 302)
		case strings.HasPrefix(r.URL.Path, "/hop"):
			n, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/hop"))
			http.Redirect(w, r, "/hop"+strconv.Itoa(n+1), 301)
		}
	})
	c := newClient(t, fetcher.Options{})
	r := c.Fetch(context.Background(), feed(srv.URL+"/loop1"), zeroState)
	if !errors.Is(r.Err, fetcher.ErrRedirectLoop) || rec.count() != 2 {
		t.Errorf("loop: %v after %d requests", r.Err, rec.count())
	}
	before := rec.count()
	r = c.Fetch(context.Background(), feed(srv.URL+"/hop0"), zeroState)
	if !errors.Is(r.Err, fetcher.ErrTooManyRedirects) || fetcher.ErrorKind(r.Err) != "redirect" {
		t.Errorf("chain: %v", r.Err)
	}
	if n := rec.count() - before; n != 6 {
		t.Errorf("chain: %d requests, want 6 (the feed and 5 hops)", n)
	}
}

// TestPrivateRedirect: a "public" feed (played by 127.0.0.2, declared
// public for the test) redirecting to a loopback server is refused when
// dialling; the loopback server never hears of it. AllowPrivate opens it,
// and a feed configured on a private address redirects within.
func TestPrivateRedirect(t *testing.T) {
	inner, innerRec := serve(t, func(w http.ResponseWriter, r *http.Request, n int) { w.Write([]byte(rssDoc)) })
	innerPort := inner.Listener.Addr().(*net.TCPAddr).Port
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skipf("cannot listen on 127.0.0.2: %v", err)
	}
	outer := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		target := "http://127.0.0.1:" + strconv.Itoa(innerPort) + "/"
		if r.URL.Path == "/by-name" {
			target = "http://localhost:" + strconv.Itoa(innerPort) + "/"
		}
		http.Redirect(w, r, target, 302)
	}))
	outer.Listener.Close()
	outer.Listener = ln
	outer.Start()
	t.Cleanup(outer.Close)
	public := netip.MustParsePrefix("127.0.0.2/32")

	for _, path := range []string{"/", "/by-name"} {
		for _, dialOnly := range []bool{false, true} {
			c := newClient(t, fetcher.Options{})
			fetcher.TreatAsPublic(c, public)
			if dialOnly {
				fetcher.DialCheckOnly(c)
			}
			r := c.Fetch(context.Background(), feed(outer.URL+path), zeroState)
			if !errors.Is(r.Err, fetcher.ErrPrivateAddress) || fetcher.ErrorKind(r.Err) != "private" {
				t.Errorf("%s (dial check only: %v): got %v, want ErrPrivateAddress", path, dialOnly, r.Err)
			}
			t.Logf("%s (dial check only: %v): %v", path, dialOnly, r.Err)
		}
	}
	if innerRec.count() != 0 {
		t.Errorf("the private server received %d requests", innerRec.count())
	}

	c := newClient(t, fetcher.Options{AllowPrivate: true})
	fetcher.TreatAsPublic(c, public)
	if r := c.Fetch(context.Background(), feed(outer.URL), zeroState); r.Err != nil || innerRec.count() != 1 {
		t.Errorf("AllowPrivate: %v, %d requests", r.Err, innerRec.count())
	}
	// Without the test's pretence, 127.0.0.2 is loopback: a LAN-style
	// source that may redirect to its neighbours.
	c = newClient(t, fetcher.Options{})
	if r := c.Fetch(context.Background(), feed(outer.URL), zeroState); r.Err != nil || innerRec.count() != 2 {
		t.Errorf("private source: %v, %d requests", r.Err, innerRec.count())
	}
}

// TestTrickle: a server that sends a byte now and then, forever, is cut
// off by the total timeout.
func TestTrickle(t *testing.T) {
	srv, _ := serve(t, func(w http.ResponseWriter, r *http.Request, n int) {
		w.Write([]byte("<?xml version=\"1.0\"?><rss><channel>"))
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-r.Context().Done():
				return
			case <-tick.C:
				w.Write([]byte(" "))
				w.(http.Flusher).Flush()
			}
		}
	})
	start := time.Now()
	r := newClient(t, fetcher.Options{Timeout: 300 * time.Millisecond}).Fetch(context.Background(), feed(srv.URL), zeroState)
	if fetcher.ErrorKind(r.Err) != "timeout" {
		t.Errorf("got %v (kind %s), want a timeout", r.Err, fetcher.ErrorKind(r.Err))
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("took %v", el)
	}
}

// TestSilentServer: a server that accepts and never answers is cut off.
func TestSilentServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { <-done; conn.Close() }()
		}
	}()
	r := newClient(t, fetcher.Options{Timeout: 200 * time.Millisecond}).Fetch(context.Background(), feed("http://"+ln.Addr().String()+"/"), zeroState)
	if fetcher.ErrorKind(r.Err) != "timeout" {
		t.Errorf("got %v, want a timeout", r.Err)
	}
}

// TestPlainErrors: DNS and TLS failures say so.
func TestPlainErrors(t *testing.T) {
	c := newClient(t, fetcher.Options{Timeout: 5 * time.Second})
	r := c.Fetch(context.Background(), feed("http://no-such-host.invalid/feed"), zeroState)
	if k := fetcher.ErrorKind(r.Err); k != "dns" || !strings.Contains(r.Err.Error(), "no-such-host.invalid") {
		t.Errorf("DNS: got %v (kind %s)", r.Err, k)
	}
	tlsSrv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(rssDoc)) }))
	tlsSrv.Config.ErrorLog = log.New(io.Discard, "", 0)
	tlsSrv.StartTLS()
	defer tlsSrv.Close()
	r = c.Fetch(context.Background(), feed(tlsSrv.URL), zeroState)
	if k := fetcher.ErrorKind(r.Err); k != "tls" || !strings.Contains(r.Err.Error(), "certificate") {
		t.Errorf("TLS: got %v (kind %s)", r.Err, k)
	}
	r = c.Fetch(context.Background(), feed("ftp://example.org/feed"), zeroState)
	if r.Err == nil || r.State.ConsecutiveErrors != 1 {
		t.Errorf("ftp URL: %v", r.Err)
	}
}

// TestRetryAfterPerFeed: a Retry-After holds back the feed that got it,
// not the other feeds of its host.
func TestRetryAfterPerFeed(t *testing.T) {
	srv, rec := serve(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if r.URL.Path == "/busy" {
			w.Header().Set("Retry-After", "7200")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		w.Write([]byte(`<rss version="2.0"><channel><title>t</title></channel></rss>`))
	})
	c := newClient(t, fetcher.Options{Now: func() time.Time { return fixedNow }})
	busy := c.Fetch(context.Background(), aggregator.Feed{Name: "busy", URL: srv.URL + "/busy"}, zeroState)
	if busy.State.NextFetch.Before(fixedNow.Add(2 * time.Hour)) {
		t.Errorf("busy feed due at %v, before its Retry-After", busy.State.NextFetch)
	}
	calm := c.Fetch(context.Background(), aggregator.Feed{Name: "calm", URL: srv.URL + "/calm"}, zeroState)
	if calm.Err != nil || calm.State.NextFetch.After(fixedNow.Add(time.Hour)) {
		t.Errorf("calm feed on the same host: %v, due at %v", calm.Err, calm.State.NextFetch)
	}
	if rec.count() != 2 || rec.get(1).URL.Path != "/calm" {
		t.Errorf("server saw %d requests", rec.count())
	}
}
