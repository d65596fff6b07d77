package fetcher_test

import (
	"os"
	"path/filepath"
	"testing"

	"aggregator/fetcher"
	"aggregator/internal/shareddata"
)

// FuzzDocument feeds arbitrary bodies and Content-Types through the
// document path: it must never panic, and errors must be ours.
func FuzzDocument(f *testing.F) {
	dir := filepath.Join(shareddata.TestDir(f), "feeds")
	for _, sub := range []string{"malformed", "encoding", "jsonfeed", "atom03"} {
		entries, _ := os.ReadDir(filepath.Join(dir, sub))
		for _, e := range entries {
			if b, err := os.ReadFile(filepath.Join(dir, sub, e.Name())); err == nil && len(b) < 20000 {
				f.Add(b, "application/xml")
			}
		}
	}
	f.Add([]byte(rssDoc), "text/html; charset=koi8-r")
	f.Add([]byte("<html><head><link rel=alternate type=application/rss+xml href=//x/y>"), "text/html")
	c := newClient(f, fetcher.Options{})
	f.Fuzz(func(t *testing.T, body []byte, ct string) {
		n, err := fetcher.ParseBody(c, body, ct)
		if err != nil && n != 0 {
			t.Errorf("%d items with error %v", n, err)
		}
		if err != nil && fetcher.ErrorKind(err) != "parse" && fetcher.ErrorKind(err) != "not_feed" {
			t.Errorf("error of kind %s: %v", fetcher.ErrorKind(err), err)
		}
	})
}
