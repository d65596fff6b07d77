package storage_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/mmcdole/gofeed"

	"aggregator"
	"aggregator/internal/shareddata"
	"aggregator/storage"
)

// bigDB builds a database of n items in 40-item fetches over 50 feeds,
// one item a minute, clustered in pairs (n/2 clusters), as a daemon's
// database looks after a while.
func bigDB(b *testing.B, n int) (*storage.DB, time.Time) {
	b.Helper()
	db := mustOpenDB(b)
	real := realItems(b, "x", t0)
	all := make([]aggregator.Item, 0, n)
	for f := 0; len(all) < n; f++ {
		name := fmt.Sprintf("feed%02d", f%50)
		batch := synthItems(real, name, 40, t0)
		for i := range batch {
			batch[i].GUID = fmt.Sprintf("%d-%d", f, i)
			batch[i].Published = t0.Add(time.Duration(len(all)+i) * time.Minute)
			batch[i].Normalize(name)
		}
		mustSave(b, db, name, batch)
		all = append(all, batch...)
	}
	ms := make([]aggregator.Membership, 0, 10000)
	for i, it := range all {
		ms = append(ms, aggregator.Membership{Item: it.ID, Cluster: fmt.Sprintf("c%07d", i/2), Reason: aggregator.ReasonTitle})
		if len(ms) == cap(ms) || i == len(all)-1 {
			if err := db.SaveClusters(context.Background(), ms, nil, t0); err != nil {
				b.Fatal(err)
			}
			ms = ms[:0]
		}
	}
	return db, all[len(all)-1].Published
}

// refDoc parses the yardstick document for ingest throughput: a real
// RSS feed (lobste.rs, 25 items) from the shared data set.
func refDoc(b *testing.B) ([]byte, []aggregator.Item) {
	raw, err := os.ReadFile(filepath.Join(shareddata.TestDir(b), "feeds", "rss2", "rss-funnel__lobste.rs.xml"))
	if err != nil {
		b.Fatal(err)
	}
	doc, err := gofeed.NewParser().Parse(bytes.NewReader(raw))
	if err != nil {
		b.Fatal(err)
	}
	items := make([]aggregator.Item, len(doc.Items))
	for i, gi := range doc.Items {
		items[i] = aggregator.Item{GUID: gi.GUID, URL: gi.Link, Title: gi.Title, Summary: gi.Description,
			Content: gi.Content, Categories: gi.Categories, FirstSeen: t0}
		if gi.PublishedParsed != nil {
			items[i].Published = *gi.PublishedParsed
		}
		items[i].Normalize("ref")
	}
	return raw, items
}

// BenchmarkIngest compares, on the same real document, gofeed's parse
// throughput (the yardstick of issue 4) with SaveFetch's: all items new
// (a first fetch, fresh IDs every round) and all unchanged (the common
// refetch). Compare the items/s metrics.
func BenchmarkIngest(b *testing.B) {
	raw, ref := refDoc(b)
	b.Run("parse", func(b *testing.B) {
		p := gofeed.NewParser()
		n := 0
		for b.Loop() {
			doc, err := p.Parse(bytes.NewReader(raw))
			if err != nil {
				b.Fatal(err)
			}
			n += len(doc.Items)
		}
		b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "items/s")
	})
	b.Run("save-new", func(b *testing.B) {
		db := mustOpenDB(b)
		batch := slices.Clone(ref)
		n := 0
		for b.Loop() {
			// New items are newer than the stored ones, as in a real feed.
			for i := range batch {
				batch[i].GUID = strconv.Itoa(n)
				batch[i].Published = t0.Add(time.Duration(n) * time.Minute)
				batch[i].Normalize("ref")
				n++
			}
			if _, err := db.SaveFetch(context.Background(), aggregator.FeedState{Name: "ref"}, batch); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "items/s")
	})
	b.Run("save-unchanged", func(b *testing.B) {
		db := mustOpenDB(b)
		mustSave(b, db, "ref", ref)
		n := 0
		for b.Loop() {
			if _, err := db.SaveFetch(context.Background(), aggregator.FeedState{Name: "ref"}, ref); err != nil {
				b.Fatal(err)
			}
			n += len(ref)
		}
		b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "items/s")
	})
}

// BenchmarkSaveFetch stores 40-item fetches of real-sized items, all new.
func BenchmarkSaveFetch(b *testing.B) {
	db := mustOpenDB(b)
	batch := synthItems(realItems(b, "x", t0), "f", 40, t0)
	n := 0
	for b.Loop() {
		for i := range batch {
			batch[i].GUID = strconv.Itoa(n)
			batch[i].Published = t0.Add(time.Duration(n) * time.Minute)
			batch[i].Normalize("f")
			n++
		}
		if _, err := db.SaveFetch(context.Background(), aggregator.FeedState{Name: "f"}, batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "items/s")
}

// benchItems is the database size for BenchmarkStories and BenchmarkRecent:
// 100k by default, STORAGE_BENCH_ITEMS to check the extrapolation to 1M.
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

func BenchmarkStories(b *testing.B) {
	db, _ := bigDB(b, benchItems(b))
	for b.Loop() {
		got, err := db.Stories(context.Background(), storage.StoryQuery{Limit: 100})
		if err != nil || len(got) != 100 {
			b.Fatalf("got %d stories, %v", len(got), err)
		}
	}
}

func BenchmarkRecent(b *testing.B) {
	db, _ := bigDB(b, benchItems(b))
	n := 0
	for b.Loop() {
		err := db.Recent(context.Background(), time.Time{}, func(aggregator.Item, aggregator.Membership) error { n++; return nil })
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "items/s")
}

// BenchmarkDecode compares JSON with the binary encoding storage uses for
// items, through the public round trip (Item reads one stored value).
func BenchmarkDecode(b *testing.B) {
	real := realItems(b, "x", t0)
	db := mustOpenDB(b)
	mustSave(b, db, "x", real)
	b.Run("binary", func(b *testing.B) {
		i := 0
		for b.Loop() {
			if _, _, err := db.Item(context.Background(), real[i%len(real)].ID); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("json", func(b *testing.B) {
		raws := make([][]byte, len(real))
		for i := range real {
			raws[i], _ = json.Marshal(real[i])
		}
		i := 0
		for b.Loop() {
			var it aggregator.Item
			if err := json.Unmarshal(raws[i%len(raws)], &it); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}

// BenchmarkSaveDecisions stores the decisions of a clustering pass as
// the pipeline does, a batch of 4,096 memberships a transaction (an op):
// every item new to the clusters, one in two founding a cluster and the
// other joining the cluster founded just before, with the shared terms
// and a representative per cluster. It reports allocs/membership.
func BenchmarkSaveDecisions(b *testing.B) {
	const batch = 4096
	db := mustOpenDB(b)
	real := realItems(b, "x", t0)
	var pending []aggregator.Item
	fetches := 0
	more := func() {
		for len(pending) < batch {
			name := fmt.Sprintf("feed%02d", fetches%50)
			items := synthItems(real, name, 40, t0)
			for i := range items {
				items[i].GUID = fmt.Sprintf("%d-%d", fetches, i)
				items[i].Published = t0.Add(time.Duration(fetches*40+i) * time.Minute)
				items[i].Normalize(name)
			}
			mustSave(b, db, name, items)
			pending = append(pending, items...)
			fetches++
		}
	}
	more()
	ms := make([]aggregator.Membership, batch)
	reps := map[string]string{}
	saved := 0
	b.ReportAllocs()
	for b.Loop() {
		if len(pending) < batch {
			b.StopTimer()
			more()
			b.StartTimer()
		}
		clear(reps)
		for i, it := range pending[:batch] {
			m := aggregator.Membership{Item: it.ID, Joined: t0, Cluster: it.ID, Reason: aggregator.ReasonFirst}
			if i%2 == 1 {
				m.Cluster, m.Reason, m.Matched, m.Score = ms[i-1].Cluster, aggregator.ReasonSimilar, ms[i-1].Item, 0.42
				m.Shared = []string{"storm", "coast", "warning"}
			}
			ms[i] = m
			reps[m.Cluster] = m.Cluster
		}
		pending = pending[batch:]
		if err := db.SaveDecisions(context.Background(), aggregator.Decisions{Memberships: ms, Representatives: reps, Now: t0}); err != nil {
			b.Fatal(err)
		}
		saved += batch
	}
	b.ReportMetric(float64(saved)/b.Elapsed().Seconds(), "memberships/s")
}
