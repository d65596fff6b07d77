package storage_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"aggregator"
	"aggregator/storage"
)

// cpuTime is the user and system CPU time of the process so far: on a
// shared machine it varies less than wall time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkSaveBigFeed stores one feed of n new items, newest first as
// feeds list them, in one SaveFetches call on a fresh database (issue
// 12: a feed of 100,000 items). The cost should grow linearly with n:
// compare ns/item (wall) and cpu-ns/item (the process's CPU time, GC
// included) across the sizes.
func BenchmarkSaveBigFeed(b *testing.B) {
	real := realItems(b, "big", t0)
	for _, n := range []int{5000, 20000, 40000, 100000} {
		items := synthItems(real, "big", n, t0)
		slices.Reverse(items)
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			var cpu time.Duration
			for b.Loop() {
				b.StopTimer()
				db, err := storage.Open(filepath.Join(b.TempDir(), "big.db"), storage.Options{NoSync: true})
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				c0 := cpuTime()
				_, errs := db.SaveFetches(context.Background(), []aggregator.Fetched{{State: aggregator.FeedState{Name: "big", URL: "http://127.0.0.1/big"}, Items: items}})
				if errs[0] != nil {
					b.Fatal(errs[0])
				}
				cpu += cpuTime() - c0
				b.StopTimer()
				db.Close()
				b.StartTimer()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/item")
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*n), "cpu-ns/item")
		})
	}
}
