package main

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"aggregator/publish"
)

// FuzzParseConfig: any file either loads into a config that holds what
// validate promises, or fails with ConfigErrors only; nothing panics.
func FuzzParseConfig(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("testdata", "config", "*.toml"))
	seeds = append(seeds, filepath.Join("..", "..", "feeds.toml"))
	for _, p := range seeds {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := parseConfig("feeds.toml", data)
		if err != nil {
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("error %T is no ConfigError: %v", err, err)
			}
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		if cfg.Fetch.Concurrency < 1 || cfg.Fetch.PerHost < 1 || cfg.Fetch.MaxItems < 1 || cfg.Fetch.Timeout.Duration <= 0 {
			t.Fatalf("invalid values accepted: %+v", cfg.Fetch)
		}
		names := map[string]bool{}
		for _, fc := range cfg.Feeds {
			if !isHTTPURL(fc.URL) || fc.Name == "" || names[fc.Name] {
				t.Fatalf("bad feed accepted: %+v", fc)
			}
			names[fc.Name] = true
		}
		if len(cfg.outputs()) == 0 {
			t.Fatal("no outputs")
		}
	})
}

// FuzzOPMLImport: whatever an OPML file holds, the [[feeds]] tables that
// opml import makes of it load as a config, beside the feed already
// configured, with every feed a distinct name and an http(s) URL.
func FuzzOPMLImport(f *testing.F) {
	f.Add([]byte(testOPML))
	f.Add([]byte(`<opml version="2.0"><body><outline text="a &quot;b&quot;\" c" xmlUrl="https://x.example/?q=&quot;"/>` +
		`<outline text="tabs	and\\n" category="/a/b,c" xmlUrl="HTTPS://y.example/feed"/></body></opml>`))
	f.Add([]byte(`<opml><body><outline text="S" xmlUrl="javascript:alert(1)"/><outline xmlUrl="//host/feed"/></body></opml>`))
	const base = "[[feeds]]\nname = \"a\"\nurl = \"https://a.example/feed\"\n"
	cfg, err := parseConfig("feeds.toml", []byte(base))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		feeds, err := publish.ReadOPML(bytes.NewReader(data))
		if err != nil {
			return
		}
		tables, added, _, _ := opmlTables(io.Discard, cfg, feeds, "subs.opml")
		merged, err := parseConfig("feeds.toml", append([]byte(base), tables...))
		if err != nil {
			t.Fatalf("imported tables do not load: %v\n%s", err, tables)
		}
		if len(merged.Feeds) != 1+added {
			t.Fatalf("%d feeds after adding %d to one:\n%s", len(merged.Feeds), added, tables)
		}
	})
}

// FuzzFastFeeds: whatever file the [[feeds]] fast path accepts, the TOML
// decoder alone makes the same config of it, with the same keys defined.
func FuzzFastFeeds(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("testdata", "config", "*.toml"))
	seeds = append(seeds, filepath.Join("..", "..", "feeds.toml"))
	for _, p := range seeds {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	for _, s := range fastFeedsCases {
		f.Add([]byte(s.doc))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fast, fmd, _, ok := decodeFast("feeds.toml", data)
		if !ok {
			return
		}
		slow, smd, errs, err := decodeConfig("feeds.toml", data)
		if err != nil || len(errs) > 0 {
			t.Fatalf("the fast path accepted a file the decoder refuses (%v, %v):\n%s", err, errs, data)
		}
		if !reflect.DeepEqual(fast, slow) {
			t.Fatalf("fast path:\n%+v\ndecoder:\n%+v\nfile:\n%s", fast, slow, data)
		}
		if fmd.IsDefined("fetch", "host_delay") != smd.IsDefined("fetch", "host_delay") {
			t.Fatalf("fetch.host_delay defined differently:\n%s", data)
		}
		if len(smd.Undecoded()) > 0 {
			t.Fatalf("the fast path missed unknown keys %v:\n%s", smd.Undecoded(), data)
		}
	})
}
