package pipeline

import (
	"fmt"
	"testing"
	"time"

	"aggregator"
)

// BenchmarkClusterPending is the clustering half of a fetch pass: 80,000
// new items of 2,000 feeds (real headlines and leads, cycled into distinct
// items) stored pending in a fresh bbolt file, then clustered: reading
// them back, extracting terms, adding them to the index, and storing the
// decisions and stories. Reported per item, in wall time and in the
// process's CPU time (user and system, every core, garbage collection
// included).
//
//	go test ./pipeline -run '^$' -bench ClusterPending -benchtime 3x
func BenchmarkClusterPending(b *testing.B) {
	texts := loadDevSet(b, "dev-rich.jsonl")
	const feeds, perFeed = 2000, 40
	start := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	var fs []aggregator.Fetched
	k := 0
	for f := range feeds {
		name := fmt.Sprintf("f%04d", f)
		st := aggregator.FeedState{Name: name}
		var items []aggregator.Item
		for j := range perFeed {
			t := texts[k%len(texts)]
			k++
			it := aggregator.Item{
				GUID:      fmt.Sprintf("https://outlet%d.example/%d", f, j),
				URL:       fmt.Sprintf("https://outlet%d.example/%d", f, j),
				Title:     t.Title,
				Summary:   t.Summary,
				Published: start.Add(time.Duration(k) * time.Minute),
				FirstSeen: start,
			}
			it.Normalize(name)
			items = append(items, it)
		}
		fs = append(fs, aggregator.Fetched{State: st, Items: items})
	}
	n := feeds * perFeed
	var cpu time.Duration
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		db := mustOpen(b, fmt.Sprintf("%s/bench-%d.db", b.TempDir(), i))
		for lo := 0; lo < len(fs); lo += 400 {
			if _, errs := db.SaveFetches(b.Context(), fs[lo:lo+400]); errs[0] != nil {
				b.Fatal(errs[0])
			}
		}
		p := New(db, Options{Feeds: nil})
		b.StartTimer()
		cpu0 := processCPU()
		if err := p.ClusterPending(b.Context()); err != nil {
			b.Fatal(err)
		}
		cpu += processCPU() - cpu0
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n)/1000, "µs/item")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*n)/1000, "cpu-µs/item")
}
