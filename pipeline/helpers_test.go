package pipeline

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"aggregator"
	"aggregator/dedupe"
	"aggregator/dedupe/score"
	"aggregator/fetcher"
	"aggregator/internal/shareddata"
	"aggregator/storage"
)

// loadDevSet reads one of the labelled sets of shared/data/dedupe,
// oldest first.
func loadDevSet(t testing.TB, name string) []score.Item {
	t.Helper()
	f, err := os.Open(filepath.Join(shareddata.TestDir(t), "dedupe", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	items, err := score.Load(f)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	slices.SortStableFunc(items, func(a, b score.Item) int { return a.Published.Compare(b.Published) })
	return items
}

// outlets serves labelled items as one RSS feed per source at /sN.xml;
// serve decides which of a source's items are listed at a time.
type outlets struct {
	srv     *httptest.Server
	sources []string
	by      map[string][]score.Item
	// upTo, when set, lists only items published before it.
	upTo atomic.Pointer[time.Time]
	// delay, when set, is how long feed i takes to answer.
	delay func(i int) time.Duration
}

func serveOutlets(t testing.TB, items []score.Item) *outlets {
	t.Helper()
	o := &outlets{by: map[string][]score.Item{}}
	for _, it := range items {
		if _, ok := o.by[it.Source]; !ok {
			o.sources = append(o.sources, it.Source)
		}
		o.by[it.Source] = append(o.by[it.Source], it)
	}
	slices.Sort(o.sources)
	o.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var i int
		if _, err := fmt.Sscanf(r.URL.Path, "/s%d.xml", &i); err != nil || i >= len(o.sources) {
			http.NotFound(w, r)
			return
		}
		if o.delay != nil {
			select {
			case <-time.After(o.delay(i)):
			case <-r.Context().Done():
				return
			}
		}
		var served []score.Item
		cut := o.upTo.Load()
		for _, it := range o.by[o.sources[i]] {
			if cut == nil || it.Published.Before(*cut) {
				served = append(served, it)
			}
		}
		w.Header().Set("Content-Type", "application/rss+xml; charset=utf-8")
		w.Write(score.RSS(o.sources[i], served))
	}))
	t.Cleanup(o.srv.Close)
	return o
}

func (o *outlets) feeds() []aggregator.Feed {
	fs := make([]aggregator.Feed, len(o.sources))
	for i := range o.sources {
		fs[i] = aggregator.Feed{Name: fmt.Sprintf("s%d", i), URL: fmt.Sprintf("%s/s%d.xml", o.srv.URL, i)}
	}
	return fs
}

func (o *outlets) jobs() []fetcher.Job {
	var js []fetcher.Job
	for _, f := range o.feeds() {
		js = append(js, fetcher.Job{Feed: f})
	}
	return js
}

// testClient fetches from loopback without delays.
func testClient() *fetcher.Client {
	return fetcher.New(fetcher.Options{HostDelay: -1, PerHost: 16, Concurrency: 16})
}

func mustOpen(t testing.TB, path string) *storage.DB {
	t.Helper()
	db, err := storage.Open(path, storage.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// logBuffer collects a pipeline's log lines for assertions.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// mergeClusters says whether testOptions merge clusters: on by default,
// as in the daemon; -merge-clusters=false runs the restart, rewind,
// fleet and serve-like tests without the merges (merge_test.go covers
// them either way).
var mergeClusters = flag.Bool("merge-clusters", true, "test with cluster merging (Options.NoMergeClusters false)")

// testOptions are a pipeline's options for the labelled sets: a window
// that covers their months, no retention.
func testOptions(feeds []aggregator.Feed, log *logBuffer) Options {
	o := Options{Feeds: feeds, Dedupe: dedupe.Options{Window: 10 * 365 * 24 * time.Hour}, NoMergeClusters: !*mergeClusters}
	if log != nil {
		o.Logger = slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return o
}

// storiesOf renders every stored story as sorted lines of member IDs, one
// story a line, for comparing two stores' clusterings.
func storiesOf(t testing.TB, s Store) string {
	t.Helper()
	stories, err := s.Stories(context.Background(), aggregator.StoryQuery{})
	if err != nil {
		t.Fatal(err)
	}
	lines := make([]string, 0, len(stories))
	for _, st := range stories {
		ids := make([]string, len(st.Items))
		for i, it := range st.Items {
			ids[i] = it.Feed + "/" + it.GUID
		}
		slices.Sort(ids)
		lines = append(lines, st.ID+" "+strings.Join(ids, " "))
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

// storyIDs is storiesOf without the story IDs: the grouping alone.
func groupsOf(t testing.TB, s Store) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, l := range strings.Split(storiesOf(t, s), "\n") {
		if _, rest, ok := strings.Cut(l, " "); ok {
			out[rest] = true
		}
	}
	return out
}

// diffLines lists the lines of a and b that the other lacks.
func diffLines(a, b string) string {
	as, bs := strings.Split(a, "\n"), strings.Split(b, "\n")
	var out []string
	for _, l := range as {
		if !slices.Contains(bs, l) {
			out = append(out, "- "+l)
		}
	}
	for _, l := range bs {
		if !slices.Contains(as, l) {
			out = append(out, "+ "+l)
		}
	}
	if len(out) > 20 {
		out = append(out[:20], fmt.Sprintf("... and %d more", len(out)-20))
	}
	return strings.Join(out, "\n")
}
