package publish_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"

	"github.com/andybalholm/brotli"

	"aggregator"
	"aggregator/publish"
)

// newCorkedServer is newTestServer as cmd wires it for production: with
// publish.ConnContext, so that large bodies are sent corked, with
// sendfile. The caller closes the handler.
func newCorkedServer(t *testing.T, src publish.Source) *testServer {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	ts := &testServer{Server: srv, h: publish.NewHandler(src, publish.Options{
		BaseURL: "http://" + srv.Listener.Addr().String(),
		Outputs: []aggregator.Output{{Name: "world", Title: "World"}},
	})}
	srv.Config.Handler = ts.h
	srv.Config.ConnContext = publish.ConnContext
	srv.Start()
	t.Cleanup(srv.Close)
	ts.client = &http.Client{Transport: &http.Transport{DisableCompression: true}}
	t.Cleanup(ts.client.CloseIdleConnections)
	return ts
}

func decode(t *testing.T, encoding string, b []byte) []byte {
	t.Helper()
	var r io.Reader = bytes.NewReader(b)
	switch encoding {
	case "gzip":
		zr, err := gzip.NewReader(r)
		if err != nil {
			t.Fatal(err)
		}
		r = zr
	case "br":
		r = brotli.NewReader(r)
	}
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestSendfileBodies: bodies served through sendfile, corked (identity, the
// compressed ones are smaller than the threshold), are the rendered bytes,
// and HEAD, 304 and Range behave as for the bodies served from memory,
// before and after Close.
func TestSendfileBodies(t *testing.T) {
	src := &memSource{stories: realStories(t, 200, 1)}
	ts := newCorkedServer(t, src)
	check := func(t *testing.T) {
		var want bytes.Buffer
		if err := ts.h.Export(context.Background(), &want, "world", publish.RSS); err != nil {
			t.Fatal(err)
		}
		if want.Len() < 128<<10 { // publish sends bodies from 128 KiB on from files
			t.Fatalf("test feed is only %d bytes; want a large one", want.Len())
		}
		for _, enc := range []string{"", "gzip", "br"} {
			for range 3 { // a descriptor used before serves from the start again
				r := ts.do(t, "GET", "/world.rss", "Accept-Encoding", enc)
				if r.status != 200 || r.header.Get("Content-Encoding") != enc {
					t.Fatalf("%q: status %d, Content-Encoding %q", enc, r.status, r.header.Get("Content-Encoding"))
				}
				if r.header.Get("Content-Length") != strconv.Itoa(len(r.body)) {
					t.Errorf("%q: Content-Length %q for %d bytes", enc, r.header.Get("Content-Length"), len(r.body))
				}
				if got := decode(t, enc, r.body); !bytes.Equal(got, want.Bytes()) {
					t.Fatalf("%q: served %d bytes decoding to %d, want the %d rendered", enc, len(r.body), len(got), want.Len())
				}
			}
		}
		// Range is not supported: the whole body, 200.
		if r := ts.do(t, "GET", "/world.rss", "Range", "bytes=0-99"); r.status != 200 || !bytes.Equal(r.body, want.Bytes()) {
			t.Errorf("Range: got %d with %d bytes, want 200 with all %d", r.status, len(r.body), want.Len())
		}
		head := ts.do(t, "HEAD", "/world.rss", "Accept-Encoding", "gzip")
		get := ts.do(t, "GET", "/world.rss", "Accept-Encoding", "gzip")
		if head.status != 200 || len(head.body) != 0 || head.header.Get("Content-Length") != strconv.Itoa(len(get.body)) || head.header.Get("ETag") != get.header.Get("ETag") {
			t.Errorf("HEAD: status %d, %d body bytes, Content-Length %q, ETag %q; GET: %d bytes, ETag %q",
				head.status, len(head.body), head.header.Get("Content-Length"), head.header.Get("ETag"), len(get.body), get.header.Get("ETag"))
		}
		if r := ts.do(t, "GET", "/world.rss", "If-None-Match", get.header.Get("ETag")); r.status != 304 || len(r.body) != 0 {
			t.Errorf("If-None-Match: got %d with %d bytes, want 304 without a body", r.status, len(r.body))
		}
	}
	t.Run("first render", check)
	src.set(src.stories[:160])
	t.Run("after a change", check)
	if err := ts.h.Close(); err != nil {
		t.Fatal(err)
	}
	t.Run("after Close", check)
	src.set(src.stories[:140])
	t.Run("a change after Close", check)
}

// feedFiles counts this process's descriptors of the in-memory files the
// handler sends bodies from.
func feedFiles(t *testing.T) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, fd := range fds {
		if target, err := os.Readlink("/proc/self/fd/" + fd.Name()); err == nil && strings.HasPrefix(target, "/memfd:aggregator-feed") {
			n++
		}
	}
	return n
}

// TestSendfileReleasesFiles: the files of a replaced render are released,
// and Close releases the rest.
func TestSendfileReleasesFiles(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("bodies are sent from files on Linux only")
	}
	// Garbage collection would close the files of unreachable renders
	// too, hiding a missing release.
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	before := feedFiles(t)
	src := &memSource{stories: realStories(t, 150, 1)}
	ts := newCorkedServer(t, src)
	serve := func() {
		for _, enc := range []string{"", "gzip", "br"} {
			for _, p := range []string{"/world.rss", "/world.atom", "/world.json", "/world/"} {
				if r := ts.do(t, "GET", p, "Accept-Encoding", enc); r.status != 200 {
					t.Fatalf("%s %q: status %d", p, enc, r.status)
				}
			}
		}
	}
	serve()
	first := feedFiles(t) - before
	if first == 0 {
		t.Fatal("no body is sent from a file")
	}
	for i := range 5 {
		src.set(src.stories[:140-i])
		serve()
	}
	// One client connection: each body has its file and at most one idle
	// descriptor, whatever the number of renders before.
	if got := feedFiles(t) - before; got > first {
		t.Errorf("after 5 changes: %d files and descriptors open, want at most the %d of one render", got, first)
	}
	ts.Close() // waits for the handlers
	if err := ts.h.Close(); err != nil {
		t.Fatal(err)
	}
	if got := feedFiles(t) - before; got != 0 {
		t.Errorf("after Close: %d files and descriptors still open, want 0", got)
	}
}

// BenchmarkServe measures a 100-story feed served over a loopback
// connection, as cmd wires the handler; the client's work is counted too.
// scripts/bench-serve compares the same with nginx.
func BenchmarkServe(b *testing.B) {
	src := &memSource{stories: realStories(b, 100, 1)}
	srv := httptest.NewUnstartedServer(nil)
	h := publish.NewHandler(src, publish.Options{
		BaseURL: "http://" + srv.Listener.Addr().String(),
		Outputs: []aggregator.Output{{Name: "world", Title: "World"}},
	})
	srv.Config.Handler = h
	srv.Config.ConnContext = publish.ConnContext
	srv.Start()
	defer srv.Close()
	defer h.Close()
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	defer client.CloseIdleConnections()
	for _, enc := range []string{"identity", "gzip"} {
		b.Run(enc, func(b *testing.B) {
			req, err := http.NewRequest("GET", srv.URL+"/world.rss", nil)
			if err != nil {
				b.Fatal(err)
			}
			req.Header.Set("Accept-Encoding", enc)
			for b.Loop() {
				resp, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				n, err := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != 200 {
					b.Fatalf("status %d, %v", resp.StatusCode, err)
				}
				b.SetBytes(n)
			}
		})
	}
}
