package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"aggregator"
	"aggregator/storage"
)

// TestPruneThroughFetch: a fetch pass drops the items [storage].keep no
// longer keeps (dated and first seen before it, beyond keep_per_feed), a
// later pass listing them again does not bring them back, and an old
// story fetched for the first time is kept however old its date.
func TestPruneThroughFetch(t *testing.T) {
	ctx := t.Context()
	now := time.Now().UTC().Truncate(time.Second)
	old := now.Add(-10 * 24 * time.Hour)
	archive := now.Add(-400 * 24 * time.Hour)
	type entry struct {
		guid, title string
		at          time.Time
	}
	news := []entry{
		{"urn:test:news-1", "Harbour bridge closes for repairs after storm damage", old},
		{"urn:test:news-2", "City council approves budget for new tram line", old.Add(time.Hour)},
		{"urn:test:news-3", "Museum reopens its restored medieval wing to visitors", old.Add(2 * time.Hour)},
		{"urn:test:news-4", "Marathon runners face record heat on Sunday morning", now.Add(-time.Hour)},
	}
	back := []entry{
		{"urn:test:back-1", "Founding of the town library celebrated with exhibition", archive},
		{"urn:test:back-2", "Old lighthouse keeper remembers the great flood", archive.Add(time.Hour)},
	}
	rss := func(items []entry) string {
		var b strings.Builder
		b.WriteString(`<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><link>http://127.0.0.1/</link><description>d</description>`)
		for _, it := range items {
			fmt.Fprintf(&b, "<item><guid isPermaLink=\"false\">%s</guid><title>%s</title><link>http://127.0.0.1/%s</link><pubDate>%s</pubDate></item>",
				it.guid, it.title, strings.TrimPrefix(it.guid, "urn:test:"), it.at.Format(time.RFC1123Z))
		}
		b.WriteString(`</channel></rss>`)
		return b.String()
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/rss+xml")
		switch r.URL.Path {
		case "/news.xml":
			fmt.Fprint(w, rss(news))
		case "/back.xml":
			fmt.Fprint(w, rss(back))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()

	dir := t.TempDir()
	dbPath := filepath.Join(dir, "test.db")
	// The three old news items were stored, and clustered, ten days ago.
	db, err := storage.Open(dbPath, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var stored []aggregator.Item
	for _, e := range news[:3] {
		it := aggregator.Item{GUID: e.guid, Title: e.title, URL: "http://127.0.0.1/" + strings.TrimPrefix(e.guid, "urn:test:"), Published: e.at, FirstSeen: e.at}
		it.Normalize("news")
		stored = append(stored, it)
	}
	if _, err := db.SaveFetch(context.Background(), aggregator.FeedState{Name: "news", URL: srv.URL + "/news.xml"}, stored); err != nil {
		t.Fatal(err)
	}
	var ms []aggregator.Membership
	for _, it := range stored {
		ms = append(ms, aggregator.Membership{Item: it.ID, Cluster: "c-" + it.ID, Reason: aggregator.ReasonFirst})
	}
	if err := db.SaveClusters(context.Background(), ms, nil, old); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	cfg := filepath.Join(dir, "feeds.toml")
	err = os.WriteFile(cfg, []byte(fmt.Sprintf(`[storage]
path = %q
keep = "168h"
keep_per_feed = 1
[fetch]
host_delay = "0s"
[dedupe]
window = "24h"
[[feeds]]
name = "news"
url = %q
[[feeds]]
name = "back"
url = %q
`, dbPath, srv.URL+"/news.xml", srv.URL+"/back.xml")), 0o644)
	if err != nil {
		t.Fatal(err)
	}

	guids := func() []string {
		t.Helper()
		out, errOut, code := runCmd(t, ctx, "clusters", "--config", cfg, "--json")
		if code != 0 {
			t.Fatalf("clusters exit %d: %s", code, errOut)
		}
		var g []string
		for _, c := range readClusters(t, out) {
			for _, it := range c.Items {
				g = append(g, it.ID)
			}
		}
		slices.Sort(g)
		return g
	}
	want := []string{"urn:test:back-1", "urn:test:back-2", "urn:test:news-4"}
	for pass := 1; pass <= 2; pass++ {
		out, errOut, code := runCmd(t, ctx, "fetch", "--force", "--config", cfg)
		if code != 0 {
			t.Fatalf("pass %d: fetch exit %d\n%s\n%s", pass, code, out, errOut)
		}
		if reported := strings.Contains(out, "3 old items pruned"); reported != (pass == 1) {
			t.Errorf("pass %d: summary reports the prune: %v, want %v\n%s", pass, reported, pass == 1, out)
		}
		if got := guids(); !slices.Equal(got, want) {
			t.Errorf("pass %d: stored items %v, want %v (news 1–3 pruned and not fetched again; the archive kept)", pass, got, want)
		}
	}
}
