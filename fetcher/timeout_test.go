package fetcher_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"aggregator/fetcher"
)

// TestTimeoutSaysWhat: a timeout names what timed out and after how
// long: the wait for response headers (the transport's bound, shorter
// than the whole request's) or the whole request.
func TestTimeoutSaysWhat(t *testing.T) {
	silent := func(w http.ResponseWriter, r *http.Request, n int) { <-r.Context().Done() }
	stalledBody := func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Content-Type", "application/rss+xml")
		w.Write([]byte(`<?xml version="1.0"?><rss version="2.0"><channel>`))
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}
	for _, tc := range []struct {
		name    string
		handler func(http.ResponseWriter, *http.Request, int)
		opts    fetcher.Options
		want    string
		notWant string
	}{
		{"headers", silent, fetcher.Options{Timeout: time.Minute, Transport: &http.Transport{ResponseHeaderTimeout: 100 * time.Millisecond}},
			"timed out after 100ms waiting for the response headers", "1m0s"},
		{"whole request, waiting for headers", silent, fetcher.Options{Timeout: 150 * time.Millisecond, Transport: &http.Transport{ResponseHeaderTimeout: time.Minute}},
			"timed out after 150ms (the limit for the whole request, body included)", "headers"},
		{"whole request, reading the body", stalledBody, fetcher.Options{Timeout: 150 * time.Millisecond},
			"timed out after 150ms (the limit for the whole request, body included)", "headers"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, _ := serve(t, tc.handler)
			r := newClient(t, tc.opts).Fetch(context.Background(), feed(srv.URL), zeroState)
			if fetcher.ErrorKind(r.Err) != "timeout" {
				t.Fatalf("got %v (kind %s), want a timeout", r.Err, fetcher.ErrorKind(r.Err))
			}
			if msg := r.Err.Error(); !strings.Contains(msg, tc.want) || strings.Contains(msg, tc.notWant) {
				t.Errorf("got %q, want it to say %q", msg, tc.want)
			}
		})
	}
}
