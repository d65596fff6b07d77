package fetcher_test

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"aggregator"
	"aggregator/fetcher"

	"github.com/andybalholm/brotli"
)

// recorder is a feed server that records the requests it receives.
type recorder struct {
	mu   sync.Mutex
	reqs []*http.Request
}

func (rec *recorder) add(r *http.Request) int {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	rec.reqs = append(rec.reqs, r.Clone(context.Background()))
	return len(rec.reqs)
}

func (rec *recorder) get(i int) *http.Request {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return rec.reqs[i]
}

func (rec *recorder) count() int {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return len(rec.reqs)
}

func serve(t *testing.T, h func(w http.ResponseWriter, r *http.Request, n int)) (*httptest.Server, *recorder) {
	t.Helper()
	rec := &recorder{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h(w, r, rec.add(r))
	}))
	t.Cleanup(srv.Close)
	return srv, rec
}

// TestConditionalGet: the stored validators go back byte for byte; 304 is
// "unchanged" and keeps (or refreshes) them; a 200 with the body parsed
// last time is "unchanged" too, without items.
func TestConditionalGet(t *testing.T) {
	const etag = `W/"v1-\x41 odd"`
	const lastMod = "Fri, 13 Mar 2026 10:00:00 GMT (not quite RFC)"
	srv, rec := serve(t, func(w http.ResponseWriter, r *http.Request, n int) {
		switch n {
		case 1, 4:
			w.Header().Set("ETag", etag)
			w.Header().Set("Last-Modified", lastMod)
			w.Write([]byte(rssDoc))
		case 2:
			w.WriteHeader(http.StatusNotModified)
		case 3:
			w.Header().Set("ETag", `"v2"`)
			w.WriteHeader(http.StatusNotModified)
		}
	})
	c := newClient(t, fetcher.Options{Now: func() time.Time { return fixedNow }})
	f := feed(srv.URL)

	r1 := c.Fetch(context.Background(), f, zeroState)
	if r1.Status != fetcher.StatusOK || len(r1.Items) != 2 {
		t.Fatalf("first fetch: %s %v, %d items", r1.Status, r1.Err, len(r1.Items))
	}
	if h := rec.get(0).Header; h.Get("If-None-Match") != "" || h.Get("If-Modified-Since") != "" {
		t.Errorf("first request sent validators: %v", h)
	}
	if r1.State.ETag != etag || r1.State.LastModified != lastMod || r1.State.BodyHash == "" {
		t.Errorf("validators not stored: %+v", r1.State)
	}

	r2 := c.Fetch(context.Background(), f, r1.State)
	h := rec.get(1).Header
	if got := h.Values("If-None-Match"); !slices.Equal(got, []string{etag}) {
		t.Errorf("If-None-Match: got %q, want %q", got, etag)
	}
	if got := h.Values("If-Modified-Since"); !slices.Equal(got, []string{lastMod}) {
		t.Errorf("If-Modified-Since: got %q, want %q", got, lastMod)
	}
	if r2.Status != fetcher.StatusUnchanged || r2.Items != nil || r2.State.ETag != etag || r2.State.LastModified != lastMod {
		t.Errorf("304: got %s, %d items, state %+v", r2.Status, len(r2.Items), r2.State)
	}
	if r2.State.LastStatus != 304 || r2.State.LastResult != "unchanged" {
		t.Errorf("304 state: %+v", r2.State)
	}

	r3 := c.Fetch(context.Background(), f, r2.State)
	if r3.State.ETag != `"v2"` || r3.State.LastModified != lastMod {
		t.Errorf("304 with a new ETag: state %+v", r3.State)
	}
	if got := rec.get(2).Header.Get("If-None-Match"); got != etag {
		t.Errorf("third request If-None-Match %q, want %q", got, etag)
	}

	r4 := c.Fetch(context.Background(), f, r3.State)
	if r4.Status != fetcher.StatusUnchanged || r4.Items != nil || r4.Err != nil {
		t.Errorf("same body again: got %s %v with %d items, want unchanged", r4.Status, r4.Err, len(r4.Items))
	}
	if r4.State.ETag != etag || r4.State.LastStatus != 200 {
		t.Errorf("same body: validators of the 200 not stored: %+v", r4.State)
	}
}

// TestValidatorsDroppedWhenURLChanges: validators recorded for another URL
// are not sent.
func TestValidatorsDroppedWhenURLChanges(t *testing.T) {
	srv, rec := serve(t, func(w http.ResponseWriter, r *http.Request, n int) { w.Write([]byte(rssDoc)) })
	st := aggregator.FeedState{Name: "test", URL: "http://old.example/feed", ETag: `"x"`, LastModified: "yesterday", BodyHash: "abc", Disabled: true}
	r := newClient(t, fetcher.Options{}).Fetch(context.Background(), feed(srv.URL), st)
	if h := rec.get(0).Header; h.Get("If-None-Match") != "" || h.Get("If-Modified-Since") != "" {
		t.Errorf("validators of the old URL sent: %v", h)
	}
	if r.Status != fetcher.StatusOK || r.State.URL != srv.URL || r.State.Disabled {
		t.Errorf("got %s, state %+v", r.Status, r.State)
	}
}

// TestRequestHeaders: the User-Agent names the program, its version and
// the contact URL; we ask for feeds and for compression.
func TestRequestHeaders(t *testing.T) {
	srv, rec := serve(t, func(w http.ResponseWriter, r *http.Request, n int) { w.Write([]byte(rssDoc)) })
	old := fetcher.Version
	fetcher.Version = "1.2.3"
	c := newClient(t, fetcher.Options{Contact: "https://example.org/about"})
	fetcher.Version = old
	c.Fetch(context.Background(), feed(srv.URL), zeroState)
	h := rec.get(0).Header
	if got, want := h.Get("User-Agent"), "aggregator/1.2.3 (+https://example.org/about)"; got != want {
		t.Errorf("User-Agent %q, want %q", got, want)
	}
	if got := h.Get("Accept-Encoding"); !strings.Contains(got, "gzip") || !strings.Contains(got, "br") || !strings.Contains(got, "deflate") {
		t.Errorf("Accept-Encoding %q", got)
	}
	if got := h.Get("Accept"); !strings.Contains(got, "application/rss+xml") || !strings.Contains(got, "application/feed+json") {
		t.Errorf("Accept %q", got)
	}
	c2 := newClient(t, fetcher.Options{UserAgent: "custom/1"})
	c2.Fetch(context.Background(), feed(srv.URL), zeroState)
	if got := rec.get(1).Header.Get("User-Agent"); got != "custom/1" {
		t.Errorf("configured User-Agent: got %q", got)
	}
	newClient(t, fetcher.Options{}).Fetch(context.Background(), feed(srv.URL), zeroState)
	if got, want := rec.get(2).Header.Get("User-Agent"), "aggregator/"+fetcher.Version; got != want {
		t.Errorf("User-Agent without a contact: got %q, want %q", got, want)
	}
}

func compress(t testing.TB, coding string, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	var w io.WriteCloser
	switch coding {
	case "gzip":
		w = gzip.NewWriter(&buf)
	case "deflate":
		w = zlib.NewWriter(&buf)
	case "raw-deflate":
		w, _ = flate.NewWriter(&buf, flate.DefaultCompression)
	case "br":
		w = brotli.NewWriter(&buf)
	}
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestCompression: gzip, deflate (zlib and raw) and brotli bodies are
// decoded; Bytes counts the compressed bytes received.
func TestCompression(t *testing.T) {
	big := strings.Replace(rssDoc, "Summary two", strings.Repeat("Summary two. ", 500), 1)
	for _, tc := range []struct{ name, header, coding string }{
		{"gzip", "gzip", "gzip"},
		{"x-gzip", "x-gzip", "gzip"},
		{"deflate", "deflate", "deflate"},
		{"raw deflate", "deflate", "raw-deflate"},
		{"brotli", "br", "br"},
		{"gzip without header", "", "gzip"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := compress(t, tc.coding, []byte(big))
			srv, _ := serve(t, func(w http.ResponseWriter, r *http.Request, n int) {
				if tc.header != "" {
					w.Header().Set("Content-Encoding", tc.header)
				}
				w.Write(body)
			})
			r := newClient(t, fetcher.Options{}).Fetch(context.Background(), feed(srv.URL), zeroState)
			if r.Err != nil || len(r.Items) != 2 {
				t.Fatalf("got %v, %d items", r.Err, len(r.Items))
			}
			if r.Bytes != int64(len(body)) {
				t.Errorf("Bytes %d, want the %d compressed bytes", r.Bytes, len(body))
			}
			if !strings.Contains(r.Items[1].Summary, "Summary two. Summary two.") {
				t.Errorf("summary not decoded: %.60q", r.Items[1].Summary)
			}
		})
	}
	t.Run("corrupt gzip", func(t *testing.T) {
		srv, _ := serve(t, func(w http.ResponseWriter, r *http.Request, n int) {
			w.Header().Set("Content-Encoding", "gzip")
			w.Write([]byte("\x1f\x8bnot really gzip at all"))
		})
		r := newClient(t, fetcher.Options{}).Fetch(context.Background(), feed(srv.URL), zeroState)
		if !errors.Is(r.Err, fetcher.ErrEncoding) {
			t.Errorf("got %v, want ErrEncoding", r.Err)
		}
	})
	t.Run("unknown coding", func(t *testing.T) {
		srv, _ := serve(t, func(w http.ResponseWriter, r *http.Request, n int) {
			w.Header().Set("Content-Encoding", "zstd")
			w.Write([]byte("whatever"))
		})
		r := newClient(t, fetcher.Options{}).Fetch(context.Background(), feed(srv.URL), zeroState)
		if !errors.Is(r.Err, fetcher.ErrEncoding) {
			t.Errorf("got %v, want ErrEncoding", r.Err)
		}
	})
}

// TestBodyCap: a body over MaxBody is refused whether it says so
// (Content-Length), streams without a length, or inflates from a small
// compressed body (a gzip bomb, refused after MaxBody decoded bytes).
func TestBodyCap(t *testing.T) {
	const max = 64 << 10
	var bomb bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&bomb, gzip.BestSpeed)
	zeros := make([]byte, 1<<20)
	for range 16 { // 16 MiB of zeros: 256 times the cap
		zw.Write(zeros)
	}
	zw.Close()
	for _, tc := range []struct {
		name string
		h    func(w http.ResponseWriter)
	}{
		{"content-length", func(w http.ResponseWriter) {
			w.Header().Set("Content-Length", "100000")
			w.Write(make([]byte, 100000))
		}},
		{"chunked", func(w http.ResponseWriter) {
			for range 20 {
				w.Write(make([]byte, 10000))
				w.(http.Flusher).Flush()
			}
		}},
		{"gzip bomb", func(w http.ResponseWriter) {
			w.Header().Set("Content-Encoding", "gzip")
			w.Write(bomb.Bytes())
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, _ := serve(t, func(w http.ResponseWriter, r *http.Request, n int) { tc.h(w) })
			r := newClient(t, fetcher.Options{MaxBody: max}).Fetch(context.Background(), feed(srv.URL), zeroState)
			if !errors.Is(r.Err, fetcher.ErrTooLarge) {
				t.Fatalf("got %v, want ErrTooLarge", r.Err)
			}
			if r.State.ConsecutiveErrors != 1 || r.State.LastError == "" {
				t.Errorf("error not recorded: %+v", r.State)
			}
			if r.Bytes > 2*max {
				t.Errorf("read %d bytes from the wire, more than needed to refuse", r.Bytes)
			}
		})
	}
}

// TestItems: what an RSS item becomes.
func TestItems(t *testing.T) {
	srv, _ := serve(t, func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Content-Type", "application/rss+xml")
		w.Write([]byte(rssDoc))
	})
	r := newClient(t, fetcher.Options{Now: func() time.Time { return fixedNow }}).Fetch(context.Background(), aggregator.Feed{Name: "outlet", URL: srv.URL + "/feed.xml"}, zeroState)
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	if r.State.Title != "Test Outlet" || r.State.Link != "https://outlet.example/news/" || r.State.Language != "en" || r.State.Items != 2 {
		t.Errorf("feed metadata: %+v", r.State)
	}
	first := aggregator.Item{
		Feed:       "outlet",
		GUID:       "id-1",
		URL:        "https://outlet.example/news/first?utm_source=rss",
		Title:      "First story",
		Summary:    "<p>Summary one</p>",
		Author:     "Ada Reporter",
		Image:      "https://outlet.example/news/img/first.jpg",
		Categories: []string{"World", "Europe"},
		Published:  time.Date(2026, 3, 13, 9, 0, 0, 0, time.UTC),
		FirstSeen:  fixedNow,
	}
	first.Normalize("outlet")
	if first.CanonicalURL != "https://outlet.example/news/first" {
		t.Fatalf("canonical URL %q", first.CanonicalURL)
	}
	got := r.Items[0]
	if got.Published.Location() != time.UTC {
		t.Errorf("published not in UTC: %v", got.Published)
	}
	if !equalItems(got, first) {
		t.Errorf("first item:\ngot  %+v\nwant %+v", got, first)
	}
	if r.Items[1].Image != "https://cdn.example/second.jpg" || r.Items[1].GUID != "" || r.Items[1].ID == first.ID {
		t.Errorf("second item: %+v", r.Items[1])
	}
}

func equalItems(a, b aggregator.Item) bool {
	return a.ID == b.ID && a.Feed == b.Feed && a.GUID == b.GUID && a.URL == b.URL && a.CanonicalURL == b.CanonicalURL &&
		a.Title == b.Title && a.Summary == b.Summary && a.Content == b.Content && a.Author == b.Author &&
		a.Image == b.Image && slices.Equal(a.Categories, b.Categories) && a.Published.Equal(b.Published) &&
		a.Updated.Equal(b.Updated) && a.FirstSeen.Equal(b.FirstSeen) && a.Hash == b.Hash
}

// TestJSONFeedItems: a JSON Feed item's image, tags, author and dates.
func TestJSONFeedItems(t *testing.T) {
	const doc = `{"version":"https://jsonfeed.org/version/1.1","title":"J","home_page_url":"https://j.example/",
	"items":[{"id":"7","url":"posts/7","title":"Seven","summary":"s","content_html":"<p>c</p>","image":"/i/7.png",
	"tags":["a","b"],"authors":[{"name":"Bo"}],"date_published":"2026-03-01T10:00:00+02:00","date_modified":"2026-03-02T00:00:00Z"}]}`
	srv, _ := serve(t, func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Content-Type", "application/feed+json")
		w.Write([]byte(doc))
	})
	r := newClient(t, fetcher.Options{}).Fetch(context.Background(), feed(srv.URL), zeroState)
	if r.Err != nil || len(r.Items) != 1 {
		t.Fatalf("%v, %d items", r.Err, len(r.Items))
	}
	it := r.Items[0]
	if it.URL != "https://j.example/posts/7" || it.Image != "https://j.example/i/7.png" || it.Content != "<p>c</p>" ||
		it.Summary != "s" || it.Author != "Bo" || !slices.Equal(it.Categories, []string{"a", "b"}) ||
		!it.Published.Equal(time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)) || !it.Updated.Equal(time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("got %+v", it)
	}
}

// TestNotAFeed: an HTML page is "not a feed", naming the feed it
// advertises, resolved against the page.
func TestNotAFeed(t *testing.T) {
	const page = `<!DOCTYPE html><html><head><title>Site</title>
<link rel="stylesheet" href="/s.css">
<link rel="alternate" type="application/rss+xml" title="RSS" href="/feeds/all.rss">
</head><body><p>hello</p></body></html>`
	srv, _ := serve(t, func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(page))
	})
	r := newClient(t, fetcher.Options{}).Fetch(context.Background(), feed(srv.URL+"/blog/"), zeroState)
	var nf *fetcher.NotFeedError
	if !errors.Is(r.Err, fetcher.ErrNotFeed) || !errors.As(r.Err, &nf) {
		t.Fatalf("got %v, want ErrNotFeed", r.Err)
	}
	if want := srv.URL + "/feeds/all.rss"; nf.Alternate != want || !strings.Contains(r.State.LastError, want) {
		t.Errorf("advertised feed %q (error %q), want %q", nf.Alternate, r.State.LastError, want)
	}
	if fetcher.ErrorKind(r.Err) != "not_feed" {
		t.Errorf("kind %q", fetcher.ErrorKind(r.Err))
	}
}

// TestFeedServedAsHTML: a real feed with a wrong text/html type parses.
func TestFeedServedAsHTML(t *testing.T) {
	srv, _ := serve(t, func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Content-Type", "text/html")
		w.Write([]byte(rssDoc))
	})
	r := newClient(t, fetcher.Options{}).Fetch(context.Background(), feed(srv.URL), zeroState)
	if r.Err != nil || len(r.Items) != 2 {
		t.Errorf("got %v, %d items", r.Err, len(r.Items))
	}
}

// TestBrokenBodyKeepsValidators: the validators of a document that failed
// to parse are not stored, so the next request is not answered 304 for a
// document we never read.
func TestBrokenBodyKeepsValidators(t *testing.T) {
	srv, rec := serve(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 1 {
			w.Header().Set("ETag", `"good"`)
			w.Write([]byte(rssDoc))
			return
		}
		w.Header().Set("ETag", `"broken"`)
		w.Write([]byte(`<rss version="2.0"><channel><item><title>cut o`))
	})
	c := newClient(t, fetcher.Options{})
	r1 := c.Fetch(context.Background(), feed(srv.URL), zeroState)
	r2 := c.Fetch(context.Background(), feed(srv.URL), r1.State)
	if !errors.Is(r2.Err, fetcher.ErrParse) {
		t.Fatalf("got %v, want ErrParse", r2.Err)
	}
	if r2.State.ETag != `"good"` || r2.State.BodyHash != r1.State.BodyHash {
		t.Errorf("state after a broken body: ETag %q", r2.State.ETag)
	}
	c.Fetch(context.Background(), feed(srv.URL), r2.State)
	if got := rec.get(2).Header.Get("If-None-Match"); got != `"good"` {
		t.Errorf("If-None-Match after a broken body: %q", got)
	}
}
