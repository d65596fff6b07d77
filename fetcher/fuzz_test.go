package fetcher_test

import (
	"os"
	"path/filepath"
	"testing"
	"unicode/utf8"

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

// FuzzDecode feeds arbitrary bodies, Content-Encodings and Content-Types
// through the decoding half of the document path: it must never panic,
// never give more than the cap, and give the parser valid UTF-8 or an
// error of ours.
func FuzzDecode(f *testing.F) {
	dir := filepath.Join(shareddata.TestDir(f), "feeds")
	var docs [][]byte
	for _, sub := range []string{"encoding", "malformed"} {
		entries, _ := os.ReadDir(filepath.Join(dir, sub))
		for _, e := range entries {
			if b, err := os.ReadFile(filepath.Join(dir, sub, e.Name())); err == nil && len(b) < 8000 {
				docs = append(docs, b)
			}
		}
	}
	for i, d := range docs {
		switch i % 4 {
		case 0:
			f.Add(d, "", "application/xml")
		case 1:
			f.Add(compress(f, "gzip", d), "gzip", "text/xml; charset=iso-8859-1")
		case 2:
			f.Add(compress(f, "deflate", d), "deflate", "application/rss+xml; charset=utf-16")
		case 3:
			f.Add(compress(f, "br", d), "br", "")
		}
	}
	f.Add(compress(f, "gzip", compress(f, "br", []byte(rssDoc))), "br, gzip", "application/rss+xml")
	const limit = 64 << 10
	f.Fuzz(func(t *testing.T, raw []byte, coding, ct string) {
		out, err := fetcher.DecodeBody(raw, coding, ct, limit)
		if err != nil {
			if k := fetcher.ErrorKind(err); k != "encoding" && k != "too_large" {
				t.Fatalf("error of kind %s: %v", k, err)
			}
			return
		}
		if len(out) > 4*limit+3 {
			t.Fatalf("%d bytes out of a cap of %d", len(out), limit)
		}
		if !utf8.Valid(out) {
			t.Fatalf("invalid UTF-8 for the parser: %q", out[:min(len(out), 200)])
		}
	})
}
