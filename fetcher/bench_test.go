package fetcher_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"aggregator"
	"aggregator/fetcher"
	"aggregator/internal/shareddata"

	"github.com/mmcdole/gofeed"
)

// benchFeed builds a 40-item RSS document from the real headlines and
// leads of ../shared/data/dedupe/dev-rich.jsonl, each lead wrapped in
// HTML with an <img>, as news feeds do.
func benchFeed(b *testing.B) []byte {
	b.Helper()
	f, err := os.Open(filepath.Join(shareddata.TestDir(b), "dedupe", "dev-rich.jsonl"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	var buf bytes.Buffer
	buf.WriteString(`<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>Bench</title><link>https://bench.example/</link>`)
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for i := 0; i < 40 && sc.Scan(); i++ {
		var rec struct{ Title, Summary string }
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			b.Fatal(err)
		}
		fmt.Fprintf(&buf, `<item><title>%s</title><link>https://bench.example/story/%d?utm_source=rss</link><guid>https://bench.example/story/%d</guid>`+
			`<pubDate>%s</pubDate><description>%s</description><category>News</category></item>`,
			html.EscapeString(rec.Title), i, i, fixedNow.Add(-time.Duration(i)*time.Hour).Format(time.RFC1123Z),
			html.EscapeString(`<p><img src="https://bench.example/img/`+fmt.Sprint(i)+`.jpg"> `+html.EscapeString(rec.Summary)+`</p>`))
	}
	buf.WriteString(`</channel></rss>`)
	return buf.Bytes()
}

// BenchmarkIngest compares gofeed merely parsing a document with a whole
// Fetch of the same bytes from a loopback server (HTTP, body read, hash,
// charset check, parse, item conversion and normalisation). Issue 4 asks
// the second to reach 80% of the first's throughput; compare the items/s
// of parse-default and fetch:
//
//	go test -run '^$' -bench Ingest -benchtime 2s ./fetcher/
func BenchmarkIngest(b *testing.B) {
	docs := map[string][]byte{"synthetic-40": benchFeed(b)}
	for name, file := range map[string]string{
		"simplepie-100":  "rss2/simplepie__feed_rss-2.0_for_file_mock.xml",
		"miniflux-large": "rss2/miniflux__large_rss.xml",
	} {
		body, err := os.ReadFile(filepath.Join(shareddata.TestDir(b), "feeds", file))
		if err != nil {
			b.Fatal(err)
		}
		docs[name] = body
	}
	for _, name := range []string{"synthetic-40", "simplepie-100", "miniflux-large"} {
		body := docs[name]
		items := countItems(b, body)
		b.Run(name+"/parse-default", func(b *testing.B) {
			p := gofeed.NewParser()
			cpu0 := cpuTime()
			for b.Loop() {
				if _, err := p.Parse(bytes.NewReader(body)); err != nil {
					b.Fatal(err)
				}
			}
			report(b, items, cpu0)
		})
		// The fetcher's own parse: gofeed's format parser and translator
		// without the image scan.
		b.Run(name+"/parse-noscan", func(b *testing.B) {
			c := newClient(b, fetcher.Options{})
			cpu0 := cpuTime()
			for b.Loop() {
				if err := fetcher.ParseOnly(c, body); err != nil {
					b.Fatal(err)
				}
			}
			report(b, items, cpu0)
		})
		b.Run(name+"/fetch", func(b *testing.B) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/rss+xml")
				w.Write(body)
			}))
			defer srv.Close()
			c := newClient(b, fetcher.Options{})
			f := feed(srv.URL)
			cpu0 := cpuTime()
			for b.Loop() {
				if r := c.Fetch(context.Background(), f, zeroState); r.Err != nil || len(r.Items) != items {
					b.Fatalf("%v, %d items", r.Err, len(r.Items))
				}
			}
			report(b, items, cpu0)
		})
	}
}

func countItems(b *testing.B, body []byte) int {
	f, err := gofeed.NewParser().Parse(bytes.NewReader(body))
	if err != nil {
		b.Fatal(err)
	}
	return len(f.Items)
}

// cpuTime is the process's user+system CPU time. Benchmarks report items
// per CPU-second besides items per second, because on a shared machine
// wall time mostly measures the neighbours. The loopback server runs in
// this process, so the fetch figures include serving: a conservative
// comparison.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func report(b *testing.B, items int, cpu0 time.Duration) {
	b.ReportMetric(float64(items*b.N)/b.Elapsed().Seconds(), "items/s")
	b.ReportMetric(float64(items*b.N)/(cpuTime()-cpu0).Seconds(), "items/cpu-s")
}

// BenchmarkPass is a whole pass at the scale of issue 4's script, without
// storage: FetchAll over distinct 40-item feeds from one loopback server
// (concurrency 16, per host 16, no delay), against gofeed parsing the
// same bodies on every core. Compare the items/s of the two.
func BenchmarkPass(b *testing.B) {
	const feeds = 200
	base := benchFeed(b)
	bodies := make([][]byte, feeds)
	for i := range bodies {
		// Distinct documents: each feed's links and GUIDs differ.
		bodies[i] = bytes.ReplaceAll(base, []byte("bench.example/"), fmt.Appendf(nil, "bench%d.example/", i))
	}
	items := countItems(b, base)
	b.Run("parse-default", func(b *testing.B) {
		cpu0 := cpuTime()
		for b.Loop() {
			next := make(chan []byte)
			var wg sync.WaitGroup
			for range runtime.GOMAXPROCS(0) {
				wg.Go(func() {
					p := gofeed.NewParser()
					for body := range next {
						if _, err := p.Parse(bytes.NewReader(body)); err != nil {
							b.Error(err)
						}
					}
				})
			}
			for _, body := range bodies {
				next <- body
			}
			close(next)
			wg.Wait()
		}
		report(b, items*feeds, cpu0)
	})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var i int
		fmt.Sscanf(r.URL.Path, "/%d", &i)
		w.Header().Set("ETag", fmt.Sprintf(`"%d"`, i))
		if r.Header.Get("If-None-Match") == fmt.Sprintf(`"%d"`, i) {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("Content-Type", "application/rss+xml; charset=utf-8")
		w.Write(bodies[i])
	}))
	defer srv.Close()
	c := newClient(b, fetcher.Options{Concurrency: 16, PerHost: 16})
	jobs := make([]fetcher.Job, feeds)
	for i := range jobs {
		jobs[i] = fetcher.Job{Feed: aggregator.Feed{Name: fmt.Sprint(i), URL: fmt.Sprintf("%s/%d", srv.URL, i)}}
	}
	var states sync.Map
	b.Run("fetch-all", func(b *testing.B) {
		cpu0 := cpuTime()
		for b.Loop() {
			var got atomic.Int64
			c.FetchAll(context.Background(), jobs, func(r fetcher.Result) {
				if r.Err != nil {
					b.Error(r.Err)
				}
				got.Add(int64(len(r.Items)))
				states.Store(r.Feed.Name, r.State)
			})
			if got.Load() != int64(items*feeds) {
				b.Fatalf("%d items", got.Load())
			}
		}
		report(b, items*feeds, cpu0)
	})
	// The same pass when every feed answers 304 to its stored ETag.
	b.Run("fetch-all-304", func(b *testing.B) {
		cond := make([]fetcher.Job, len(jobs))
		for i, j := range jobs {
			st, _ := states.Load(j.Feed.Name)
			cond[i] = fetcher.Job{Feed: j.Feed, State: st.(aggregator.FeedState)}
		}
		cpu0 := cpuTime()
		for b.Loop() {
			c.FetchAll(context.Background(), cond, func(r fetcher.Result) {
				if r.Status != fetcher.StatusUnchanged {
					b.Errorf("%s: %s %v", r.Feed.Name, r.Status, r.Err)
				}
			})
		}
		report(b, items*feeds, cpu0)
	})
}
