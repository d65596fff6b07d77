package postgres_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/mmcdole/gofeed"

	"aggregator"
	"aggregator/internal/shareddata"
	"aggregator/storage"
	"aggregator/storage/postgres"
)

// The benchmarks mirror package storage's (bench_test.go there) on the
// same real items, and the comparisons (BenchmarkIngestFeeds,
// BenchmarkStoriesCompare) run both stores in one run, so that their
// items/s and ns/op sit side by side.

var bt0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// benchStore is what the comparisons use of either store.
type benchStore interface {
	SaveFetches(ctx context.Context, fs []aggregator.Fetched) ([]aggregator.SaveResult, []error)
	SaveDecisions(ctx context.Context, d aggregator.Decisions) error
	Stories(ctx context.Context, q aggregator.StoryQuery) ([]aggregator.Story, error)
	Stats(ctx context.Context) (aggregator.StoreStats, error)
}

// stores opens a fresh store of each kind: bbolt without fsync, and
// PostgreSQL on the test binary's throwaway server (fsync off too).
var stores = []struct {
	name string
	open func(b *testing.B) benchStore
}{
	{"bbolt", func(b *testing.B) benchStore {
		db, err := storage.Open(filepath.Join(b.TempDir(), "bench.db"), storage.Options{NoSync: true})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { db.Close() })
		return db
	}},
	{"postgres", func(b *testing.B) benchStore { db, _ := mustOpen(b); return db }},
}

// parsedFixtures are the gofeed items of the shared RSS 2.0 fixtures, the
// real items package storage's benchmarks use.
var parsedFixtures = sync.OnceValues(func() ([]*gofeed.Item, error) {
	dir, err := shareddata.Dir()
	if err != nil {
		return nil, err
	}
	files, err := filepath.Glob(filepath.Join(dir, "feeds", "rss2", "*.xml"))
	if err != nil || len(files) == 0 {
		return nil, fmt.Errorf("no rss2 fixtures in %s: %v", dir, err)
	}
	slices.Sort(files)
	p := gofeed.NewParser()
	var out []*gofeed.Item
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		doc, err := p.Parse(bytes.NewReader(raw))
		if err != nil {
			continue // the set includes documents gofeed rejects
		}
		out = append(out, doc.Items...)
	}
	return out, nil
})

// realItems returns the fixtures' items as fetched for feed.
func realItems(b testing.TB, feed string) []aggregator.Item {
	b.Helper()
	parsed, err := parsedFixtures()
	if err != nil {
		b.Fatal(err)
	}
	out := make([]aggregator.Item, 0, len(parsed))
	for _, gi := range parsed {
		it := aggregator.Item{GUID: gi.GUID, URL: gi.Link, Title: gi.Title, Summary: gi.Description,
			Content: gi.Content, Categories: slices.Clone(gi.Categories), FirstSeen: bt0}
		if gi.PublishedParsed != nil {
			it.Published = *gi.PublishedParsed
		}
		it.Normalize(feed)
		out = append(out, it)
	}
	return out
}

// feedItems makes n distinct items of feed from the real ones, one
// minute apart from base, numbered from first.
func feedItems(real []aggregator.Item, feed string, first, n int, base time.Time) []aggregator.Item {
	out := make([]aggregator.Item, n)
	for i := range out {
		it := real[(first+i)%len(real)]
		it.GUID = feed + "-" + strconv.Itoa(first+i)
		it.Published = base.Add(time.Duration(first+i) * time.Minute)
		it.Normalize(feed)
		out[i] = it
	}
	return out
}

// BenchmarkIngest is package storage's BenchmarkIngest without its parse
// yardstick: one real document (lobste.rs, 25 items) stored as a fetch,
// all new (fresh IDs every round) and all unchanged (the common refetch),
// one feed per SaveFetches call.
func BenchmarkIngest(b *testing.B) {
	raw, err := os.ReadFile(filepath.Join(shareddata.TestDir(b), "feeds", "rss2", "rss-funnel__lobste.rs.xml"))
	if err != nil {
		b.Fatal(err)
	}
	doc, err := gofeed.NewParser().Parse(bytes.NewReader(raw))
	if err != nil {
		b.Fatal(err)
	}
	ref := make([]aggregator.Item, len(doc.Items))
	for i, gi := range doc.Items {
		ref[i] = aggregator.Item{GUID: gi.GUID, URL: gi.Link, Title: gi.Title, Summary: gi.Description,
			Content: gi.Content, Categories: gi.Categories, FirstSeen: bt0}
		if gi.PublishedParsed != nil {
			ref[i].Published = *gi.PublishedParsed
		}
		ref[i].Normalize("ref")
	}
	save := func(b *testing.B, db *postgres.DB, items []aggregator.Item) {
		if _, errs := db.SaveFetches(context.Background(), []aggregator.Fetched{{State: aggregator.FeedState{Name: "ref"}, Items: items}}); errs[0] != nil {
			b.Fatal(errs[0])
		}
	}
	b.Run("save-new", func(b *testing.B) {
		db, _ := mustOpen(b)
		batch := slices.Clone(ref)
		n := 0
		for b.Loop() {
			for i := range batch {
				batch[i].GUID = strconv.Itoa(n)
				batch[i].Published = bt0.Add(time.Duration(n) * time.Minute)
				batch[i].Normalize("ref")
				n++
			}
			save(b, db, batch)
		}
		b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "items/s")
	})
	b.Run("save-unchanged", func(b *testing.B) {
		db, _ := mustOpen(b)
		save(b, db, ref)
		n := 0
		for b.Loop() {
			save(b, db, ref)
			n += len(ref)
		}
		b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "items/s")
	})
}

// BenchmarkSaveFetch stores 40-item fetches of real-sized items, all new,
// one feed per call (package storage's BenchmarkSaveFetch).
func BenchmarkSaveFetch(b *testing.B) {
	db, _ := mustOpen(b)
	real := realItems(b, "f")
	n := 0
	for b.Loop() {
		batch := feedItems(real, "f", n, 40, bt0)
		n += len(batch)
		if _, errs := db.SaveFetches(context.Background(), []aggregator.Fetched{{State: aggregator.FeedState{Name: "f"}, Items: batch}}); errs[0] != nil {
			b.Fatal(errs[0])
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "items/s")
}

// BenchmarkIngestFeeds is a first fetch pass ("new") and a refetch
// ("unchanged") of 2,000 feeds of 40 real-sized items each, stored in
// SaveFetches groups of 64 feeds (the pipeline's ingest queue), on both
// stores. Each round runs the stores one after the other on fresh
// databases, so that a machine whose load changes during the run slows
// both alike: compare the <store>-items/s metrics and pg/bbolt, their
// ratio. B/item is each store's size (Stats.Size: bbolt's used file,
// pg_database_size) over its items.
func BenchmarkIngestFeeds(b *testing.B) {
	const feeds, perFeed, group = 2000, 40, 64
	real := realItems(b, "x")
	pass := make([][]aggregator.Fetched, 0, feeds/group+1)
	for f := 0; f < feeds; f += group {
		var g []aggregator.Fetched
		for k := f; k < min(f+group, feeds); k++ {
			name := fmt.Sprintf("feed%04d", k)
			g = append(g, aggregator.Fetched{State: aggregator.FeedState{Name: name, URL: "http://127.0.0.1/" + name},
				Items: feedItems(real, name, 0, perFeed, bt0.Add(time.Duration(k)*time.Second))})
		}
		pass = append(pass, g)
	}
	store := func(b *testing.B, db benchStore, wantNew bool) time.Duration {
		start := time.Now()
		for _, g := range pass {
			res, errs := db.SaveFetches(context.Background(), g)
			for i := range errs {
				if errs[i] != nil {
					b.Fatal(errs[i])
				}
				if got := len(res[i].New) > 0; got != wantNew {
					b.Fatalf("feed %s: %d new, want new=%v", g[i].State.Name, len(res[i].New), wantNew)
				}
			}
		}
		return time.Since(start)
	}
	for _, refetch := range []bool{false, true} {
		name := "new"
		if refetch {
			name = "unchanged"
		}
		b.Run(name, func(b *testing.B) {
			took := make([]time.Duration, len(stores))
			size := make([]float64, len(stores))
			for b.Loop() {
				for i, st := range stores {
					b.StopTimer()
					db := st.open(b)
					if refetch {
						store(b, db, true)
					}
					b.StartTimer()
					took[i] += store(b, db, !refetch)
					b.StopTimer()
					s, err := db.Stats(context.Background())
					if err != nil {
						b.Fatal(err)
					}
					size[i] = float64(s.Size) / float64(s.Items)
					b.StartTimer()
				}
			}
			rate := make([]float64, len(stores))
			for i, st := range stores {
				rate[i] = float64(feeds*perFeed*b.N) / took[i].Seconds()
				b.ReportMetric(rate[i], st.name+"-items/s")
				if !refetch {
					b.ReportMetric(size[i], st.name+"-B/item")
				}
			}
			b.ReportMetric(rate[1]/rate[0], "pg/bbolt")
		})
	}
}

// benchItems is the database size for the Stories and Recent benchmarks:
// 100k by default (as package storage's), STORAGE_BENCH_ITEMS to change.
func benchItems(b *testing.B) int {
	if v := os.Getenv("STORAGE_BENCH_ITEMS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			b.Fatalf("STORAGE_BENCH_ITEMS: %v", err)
		}
		return n
	}
	return 100_000
}

// bigDB fills db with n items in 40-item fetches over 50 feeds, one item
// a minute, clustered in pairs (n/2 clusters), as package storage's
// bigDB does.
func bigDB(b testing.TB, db benchStore, n int) {
	b.Helper()
	real := realItems(b, "x")
	var all []aggregator.Item
	for f := 0; len(all) < n; f += 50 {
		var g []aggregator.Fetched
		for k := f; k < f+50 && len(all) < n; k++ {
			name := fmt.Sprintf("feed%02d", k%50)
			batch := feedItems(real, name, 0, 40, bt0)
			for i := range batch {
				batch[i].GUID = fmt.Sprintf("%d-%d", k, i)
				batch[i].Published = bt0.Add(time.Duration(len(all)+i) * time.Minute)
				batch[i].Normalize(name)
			}
			all = append(all, batch...)
			g = append(g, aggregator.Fetched{State: aggregator.FeedState{Name: name}, Items: batch})
		}
		if _, errs := db.SaveFetches(context.Background(), g); errs[0] != nil {
			b.Fatal(errs[0])
		}
	}
	ms := make([]aggregator.Membership, 0, 10000)
	for i, it := range all {
		ms = append(ms, aggregator.Membership{Item: it.ID, Cluster: fmt.Sprintf("c%07d", i/2), Reason: aggregator.ReasonTitle})
		if len(ms) == cap(ms) || i == len(all)-1 {
			if err := db.SaveDecisions(context.Background(), aggregator.Decisions{Memberships: ms, Now: bt0}); err != nil {
				b.Fatal(err)
			}
			ms = ms[:0]
		}
	}
}

// BenchmarkStories reads the newest 100 stories of a database of
// benchItems items, on each store in the same run.
func BenchmarkStories(b *testing.B) {
	for _, st := range stores {
		b.Run(st.name, func(b *testing.B) {
			db := st.open(b)
			bigDB(b, db, benchItems(b))
			for b.Loop() {
				got, err := db.Stories(context.Background(), aggregator.StoryQuery{Limit: 100})
				if err != nil || len(got) != 100 {
					b.Fatalf("got %d stories, %v", len(got), err)
				}
			}
		})
	}
}

// BenchmarkRecent walks every clustered item, the dedupe index's rebuild
// at start-up (package storage's BenchmarkRecent).
func BenchmarkRecent(b *testing.B) {
	db, _ := mustOpen(b)
	bigDB(b, db, benchItems(b))
	n := 0
	for b.Loop() {
		err := db.Recent(context.Background(), time.Time{}, func(aggregator.Item, aggregator.Membership) error { n++; return nil })
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "items/s")
}

var _ benchStore = (*postgres.DB)(nil)
