package publish_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/andybalholm/brotli"

	"aggregator"
	"aggregator/publish"
)

// testServer serves a handler over src on a loopback port, with BaseURL set
// to the server's own address as cmd does.
type testServer struct {
	*httptest.Server
	h      *publish.Handler
	client *http.Client
}

func newTestServer(t *testing.T, src publish.Source, opts publish.Options) *testServer {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	opts.BaseURL = "http://" + srv.Listener.Addr().String()
	if opts.Outputs == nil {
		opts.Outputs = []aggregator.Output{{Name: "world", Title: "World"}, {Name: "all", Title: "Everything"}}
	}
	ts := &testServer{Server: srv, h: publish.NewHandler(src, opts)}
	srv.Config.Handler = ts.h
	srv.Start()
	t.Cleanup(srv.Close)
	// No transparent decompression: the tests look at what is on the wire.
	ts.client = &http.Client{
		Transport:     &http.Transport{DisableCompression: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	t.Cleanup(ts.client.CloseIdleConnections)
	return ts
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (ts *testServer) do(t *testing.T, method, path string, hdr ...string) response {
	t.Helper()
	req, err := http.NewRequest(method, ts.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := ts.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{resp.StatusCode, resp.Header, body}
}

func TestHandlerRoutes(t *testing.T) {
	src := &memSource{stories: goldenStories(t)}
	ts := newTestServer(t, src, publish.Options{Feeds: []aggregator.Feed{{Name: "wire", URL: "https://wire.example/feed"}}})
	for _, tc := range []struct {
		path, ctype string
		status      int
		contains    string
	}{
		{"/", "text/html; charset=utf-8", 200, "<title>World</title>"},
		{"/world/", "text/html; charset=utf-8", 200, "<title>World</title>"},
		{"/all.html", "text/html; charset=utf-8", 200, "<title>Everything</title>"},
		{"/world.rss", "application/rss+xml; charset=utf-8", 200, "<rss version=\"2.0\""},
		{"/world.atom", "application/atom+xml; charset=utf-8", 200, "<feed xmlns=\"http://www.w3.org/2005/Atom\">"},
		{"/all.json", "application/feed+json; charset=utf-8", 200, "\"version\": \"https://jsonfeed.org/version/1.1\""},
		{"/feeds.opml", "text/x-opml; charset=utf-8", 200, "xmlUrl=\"https://wire.example/feed\""},
		{"/world", "", 301, ""},
		{"/nope.rss", "text/plain; charset=utf-8", 404, "404"},
		{"/world.xml", "text/plain; charset=utf-8", 404, "404"},
		{"/world/extra", "text/plain; charset=utf-8", 404, "404"},
		{"/nope/", "text/plain; charset=utf-8", 404, "404"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			r := ts.do(t, "GET", tc.path)
			if r.status != tc.status {
				t.Fatalf("status: got %d, want %d", r.status, tc.status)
			}
			if tc.ctype != "" && r.header.Get("Content-Type") != tc.ctype {
				t.Errorf("Content-Type: got %q, want %q", r.header.Get("Content-Type"), tc.ctype)
			}
			if !bytes.Contains(r.body, []byte(tc.contains)) {
				t.Errorf("body lacks %q:\n%.300s", tc.contains, r.body)
			}
			if tc.status == 301 && r.header.Get("Location") != "/world/" {
				t.Errorf("Location: got %q", r.header.Get("Location"))
			}
		})
	}
	if r := ts.do(t, "POST", "/world.rss"); r.status != http.StatusMethodNotAllowed || r.header.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST: got %d Allow %q, want 405 with Allow: GET, HEAD", r.status, r.header.Get("Allow"))
	}
}

func TestHandlerConditional(t *testing.T) {
	src := &memSource{stories: goldenStories(t)}
	ts := newTestServer(t, src, publish.Options{})
	first := ts.do(t, "GET", "/world.atom")
	etag, lastMod := first.header.Get("ETag"), first.header.Get("Last-Modified")
	if !strings.HasPrefix(etag, `"`) || len(etag) < 10 {
		t.Fatalf("ETag: got %q, want a strong quoted tag", etag)
	}
	if lastMod == "" || first.header.Get("Cache-Control") != "public, max-age=60" {
		t.Fatalf("Last-Modified %q, Cache-Control %q", lastMod, first.header.Get("Cache-Control"))
	}
	// The newest story change is the Last-Modified date.
	if want := time.Date(2026, 3, 1, 10, 10, 0, 0, time.UTC).Format(http.TimeFormat); lastMod != want {
		t.Errorf("Last-Modified: got %q, want %q", lastMod, want)
	}
	gz := ts.do(t, "GET", "/world.atom", "Accept-Encoding", "gzip").header.Get("ETag")
	earlier := time.Date(2026, 3, 1, 10, 9, 59, 0, time.UTC).Format(http.TimeFormat)
	for _, tc := range []struct {
		name string
		hdr  []string
		want int
	}{
		{"same etag", []string{"If-None-Match", etag}, 304},
		{"weak form", []string{"If-None-Match", "W/" + etag}, 304},
		{"in a list", []string{"If-None-Match", `"other", ` + etag}, 304},
		{"gzip variant's etag", []string{"If-None-Match", gz}, 304},
		{"star", []string{"If-None-Match", "*"}, 304},
		{"other etag", []string{"If-None-Match", `"nope"`}, 200},
		{"since last-modified", []string{"If-Modified-Since", lastMod}, 304},
		{"since earlier", []string{"If-Modified-Since", earlier}, 200},
		{"etag wins over date", []string{"If-None-Match", `"nope"`, "If-Modified-Since", lastMod}, 200},
		{"bad date", []string{"If-Modified-Since", "yesterday"}, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := ts.do(t, "GET", "/world.atom", tc.hdr...)
			if r.status != tc.want {
				t.Fatalf("status: got %d, want %d", r.status, tc.want)
			}
			if tc.want == 304 && (len(r.body) != 0 || r.header.Get("ETag") == "" || r.header.Get("Cache-Control") == "") {
				t.Errorf("304 must have no body but ETag and Cache-Control: %v %q", r.header, r.body)
			}
			if tc.want == 200 && !bytes.Equal(r.body, first.body) {
				t.Error("200 body differs from the first response")
			}
		})
	}
	head := ts.do(t, "HEAD", "/world.atom")
	if head.status != 200 || len(head.body) != 0 || head.header.Get("ETag") != etag || head.header.Get("Content-Length") != strconv.Itoa(len(first.body)) {
		t.Errorf("HEAD: status %d, %d body bytes, ETag %q, Content-Length %q (want %d)", head.status, len(head.body), head.header.Get("ETag"), head.header.Get("Content-Length"), len(first.body))
	}
}

func TestHandlerEncoding(t *testing.T) {
	src := &memSource{stories: goldenStories(t)}
	ts := newTestServer(t, src, publish.Options{})
	plain := ts.do(t, "GET", "/world.json")
	for _, tc := range []struct {
		accept, encoding string
	}{
		{"", ""},
		{"gzip", "gzip"},
		{"gzip, deflate, br", "br"},
		{"br;q=0, gzip;q=0.8", "gzip"},
		{"gzip;q=0", ""},
		{"identity", ""},
	} {
		t.Run(tc.accept, func(t *testing.T) {
			r := ts.do(t, "GET", "/world.json", "Accept-Encoding", tc.accept)
			if got := r.header.Get("Content-Encoding"); got != tc.encoding {
				t.Fatalf("Content-Encoding: got %q, want %q", got, tc.encoding)
			}
			if r.header.Get("Vary") != "Accept-Encoding" {
				t.Errorf("Vary: got %q", r.header.Get("Vary"))
			}
			if r.header.Get("Content-Length") != strconv.Itoa(len(r.body)) {
				t.Errorf("Content-Length %q for %d bytes", r.header.Get("Content-Length"), len(r.body))
			}
			var body io.Reader = bytes.NewReader(r.body)
			switch tc.encoding {
			case "gzip":
				zr, err := gzip.NewReader(body)
				if err != nil {
					t.Fatal(err)
				}
				body = zr
			case "br":
				body = brotli.NewReader(body)
			}
			got, err := io.ReadAll(body)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, plain.body) {
				t.Error("decoded body differs from the identity body")
			}
			if tc.encoding != "" && len(r.body) >= len(plain.body)/2 {
				t.Errorf("%s body is %d bytes for %d plain: not compressed", tc.encoding, len(r.body), len(plain.body))
			}
		})
	}
}

// TestHandlerRendersOncePerChange: concurrent requests during a render wait
// for it; nothing is rendered again until the version changes.
func TestHandlerRendersOncePerChange(t *testing.T) {
	src := &memSource{stories: goldenStories(t), gate: make(chan struct{}), entered: make(chan struct{}, 100)}
	ts := newTestServer(t, src, publish.Options{})
	var wg sync.WaitGroup
	bodies := make([][]byte, 16)
	for i := range bodies {
		wg.Go(func() {
			path := []string{"/world.rss", "/world.atom", "/world.json", "/world/"}[i%4]
			resp, err := ts.client.Get(ts.URL + path)
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			bodies[i], _ = io.ReadAll(resp.Body)
			if resp.StatusCode != 200 {
				t.Errorf("%s: status %d", path, resp.StatusCode)
			}
		})
	}
	<-src.entered // one render has started; the others queue behind it
	close(src.gate)
	wg.Wait()
	if got := src.callCount(); got != 1 {
		t.Fatalf("Stories called %d times for one version, want 1", got)
	}
	ts.do(t, "GET", "/world.rss")
	if got := src.callCount(); got != 1 {
		t.Fatalf("Stories called again without a change: %d", got)
	}
	src.set(src.stories[1:])
	ts.do(t, "GET", "/world.rss")
	ts.do(t, "GET", "/world.json")
	if got := src.callCount(); got != 2 {
		t.Fatalf("after one change: Stories called %d times in all, want 2", got)
	}
}

// fakeClock is a settable clock for Last-Modified.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.t = t }

func TestHandlerChanges(t *testing.T) {
	stories := goldenStories(t)
	clock := &fakeClock{t: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}
	src := &memSource{stories: stories[1:]}
	ts := newTestServer(t, src, publish.Options{Now: clock.Now})
	a := ts.do(t, "GET", "/world.atom")

	// A new story: new ETag, Last-Modified is its update date.
	src.set(stories)
	b := ts.do(t, "GET", "/world.atom")
	if b.header.Get("ETag") == a.header.Get("ETag") || !bytes.Contains(b.body, []byte("urn:aggregator:story:rich1")) {
		t.Fatal("a new story did not change the served feed")
	}
	if got, want := b.header.Get("Last-Modified"), stories[0].Updated.Format(http.TimeFormat); got != want {
		t.Errorf("Last-Modified after a new story: got %q, want %q", got, want)
	}
	if r := ts.do(t, "GET", "/world.atom", "If-None-Match", a.header.Get("ETag")); r.status != 200 {
		t.Errorf("old ETag after a change: got %d, want 200", r.status)
	}

	// A version bump with the same content keeps ETag and Last-Modified.
	src.set(stories)
	c := ts.do(t, "GET", "/world.atom")
	if c.header.Get("ETag") != b.header.Get("ETag") || c.header.Get("Last-Modified") != b.header.Get("Last-Modified") {
		t.Errorf("unchanged content changed validators: %q %q → %q %q", b.header.Get("ETag"), b.header.Get("Last-Modified"), c.header.Get("ETag"), c.header.Get("Last-Modified"))
	}

	// A removed story changes the bytes without a newer date: Last-Modified
	// moves to now so If-Modified-Since clients see the change.
	clock.Set(time.Date(2026, 5, 2, 8, 0, 0, 0, time.UTC))
	src.set(stories[:2])
	d := ts.do(t, "GET", "/world.atom", "If-Modified-Since", c.header.Get("Last-Modified"))
	if d.status != 200 {
		t.Fatalf("after a removal, If-Modified-Since: got %d, want 200", d.status)
	}
	if got, want := d.header.Get("Last-Modified"), clock.Now().Format(http.TimeFormat); got != want {
		t.Errorf("Last-Modified after a removal: got %q, want %q", got, want)
	}
}

func TestHandlerSourceErrors(t *testing.T) {
	src := &memSource{stories: goldenStories(t), err: errors.New("disk on fire")}
	ts := newTestServer(t, src, publish.Options{})
	if r := ts.do(t, "GET", "/world.rss"); r.status != 500 || bytes.Contains(r.body, []byte("disk on fire")) {
		t.Fatalf("first render failing: got %d %q, want 500 without internals", r.status, r.body)
	}
	src.mu.Lock()
	src.err = nil
	src.mu.Unlock()
	src.set(src.stories)
	good := ts.do(t, "GET", "/world.rss")
	if good.status != 200 {
		t.Fatalf("recovered: got %d", good.status)
	}
	src.mu.Lock()
	src.err = errors.New("disk on fire again")
	src.mu.Unlock()
	src.set(src.stories[:1])
	if r := ts.do(t, "GET", "/world.rss"); r.status != 200 || !bytes.Equal(r.body, good.body) {
		t.Fatalf("a failing re-render must serve the last good feed: got %d", r.status)
	}
}

func TestExport(t *testing.T) {
	src := &memSource{stories: goldenStories(t)}
	ts := newTestServer(t, src, publish.Options{})
	for _, f := range []publish.Format{publish.RSS, publish.Atom, publish.JSON} {
		var buf bytes.Buffer
		if err := ts.h.Export(context.Background(), &buf, "world", f); err != nil {
			t.Fatal(err)
		}
		if served := ts.do(t, "GET", "/world."+string(f)); !bytes.Equal(served.body, buf.Bytes()) {
			t.Errorf("%s: Export differs from the served feed", f)
		}
	}
	err := ts.h.Export(context.Background(), io.Discard, "nope", publish.RSS)
	if !errors.Is(err, publish.ErrUnknownOutput) {
		t.Errorf("unknown output: got %v, want ErrUnknownOutput", err)
	}
	if err := ts.h.Export(context.Background(), io.Discard, "world", "ATOM"); err != nil {
		t.Errorf("format in capitals: %v", err)
	}
	if err := ts.h.Export(context.Background(), io.Discard, "world", "xml"); err == nil {
		t.Error("unknown format: got nil error")
	}
}

// TestHandlerHostileEndToEnd serves hostile publisher HTML and checks every
// served document, the page included.
func TestHandlerHostileEndToEnd(t *testing.T) {
	var stories []aggregator.Story
	for i, tc := range hostileCases {
		st := hostileStory(tc.summary)
		st.ID = "h" + strconv.Itoa(i)
		stories = append(stories, st)
	}
	src := &memSource{stories: stories}
	ts := newTestServer(t, src, publish.Options{})
	for _, path := range []string{"/world.rss", "/world.atom", "/world.json", "/world/"} {
		r := ts.do(t, "GET", path)
		body := string(r.body)
		if path != "/world/" {
			// The XML and JSON formats carry HTML escaped once more.
			body = strings.NewReplacer("&lt;", "<", "&gt;", ">", "&#34;", `"`, "&quot;", `"`, `\u003c`, "<", `\"`, `"`).Replace(body)
		}
		for _, bad := range []string{"<script", "display:none", "<iframe", "onerror=", "onclick=", "javascript:", "data:image", "t.example", "<form", "<svg", "evil.example"} {
			if strings.Contains(body, bad) {
				t.Errorf("%s serves %q", path, bad)
			}
		}
	}
}
