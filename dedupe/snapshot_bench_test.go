package dedupe_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"aggregator/dedupe"
)

// snapshotIndexes caches the filled indexes per size across
// sub-benchmarks: filling 1M items takes Adding them all.
var snapshotIndexes = map[int]*dedupe.Index{}

func filledIndex(b *testing.B, n int) *dedupe.Index {
	if ix, ok := snapshotIndexes[n]; ok {
		return ix
	}
	ix := dedupe.New(dedupe.Options{})
	for _, it := range synthetic(b, n, 1) {
		ix.Add(it)
	}
	snapshotIndexes[n] = ix
	return ix
}

// BenchmarkSnapshot measures writing an index of 100k (and, with
// DEDUPE_BENCH_1M=1, 1M) items of synthetic load to a snapshot file and
// reading it back, the alternative to rebuilding it at start-up
// (BenchmarkRestore). It reports ns/item, cpu-ns/item (process CPU time,
// GC included), file-B/item (the snapshot's size) and, for read, B/item
// allocated. "read" loads the file again and again in this process,
// which reuses the memory the previous load freed; "start" loads it once
// in a new process (this test binary, TestSnapshotStart), as at
// start-up, where the operating system must first map every page: its
// cpu-ns/item is the child's CPU time, process start included. The file
// is in the page cache: reading it from a cold disk comes on top.
//
//	DEDUPE_BENCH_1M=1 go test ./dedupe -run '^$' -bench BenchmarkSnapshot -benchtime 5x
func BenchmarkSnapshot(b *testing.B) {
	sizes := []int{100_000}
	if os.Getenv("DEDUPE_BENCH_1M") != "" {
		sizes = append(sizes, 1_000_000)
	}
	for _, n := range sizes {
		var path string
		write := func(ix *dedupe.Index) error {
			f, err := os.Create(path)
			if err != nil {
				return err
			}
			if err := ix.WriteSnapshot(f); err != nil {
				f.Close()
				return err
			}
			return f.Close()
		}
		b.Run(fmt.Sprintf("items=%d/write", n), func(b *testing.B) {
			ix := filledIndex(b, n)
			path = filepath.Join(b.TempDir(), "index.snap")
			runtime.GC()
			cpu0 := cpuTime()
			for b.Loop() {
				if err := write(ix); err != nil {
					b.Fatal(err)
				}
			}
			reportSnapshot(b, path, n, cpu0)
		})
		b.Run(fmt.Sprintf("items=%d/read", n), func(b *testing.B) {
			ix := filledIndex(b, n)
			path = filepath.Join(b.TempDir(), "index.snap")
			if err := write(ix); err != nil {
				b.Fatal(err)
			}
			opts := ix.Options()
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			cpu0 := cpuTime()
			for b.Loop() {
				f, err := os.Open(path)
				if err != nil {
					b.Fatal(err)
				}
				got, err := dedupe.ReadSnapshot(f, opts)
				f.Close()
				if err != nil {
					b.Fatal(err)
				}
				if got.Len() != ix.Len() {
					b.Fatalf("got Len %d, want %d", got.Len(), ix.Len())
				}
			}
			runtime.ReadMemStats(&after)
			reportSnapshot(b, path, n, cpu0)
			b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/float64(b.N*n), "B/item")
		})
		b.Run(fmt.Sprintf("items=%d/start", n), func(b *testing.B) {
			ix := filledIndex(b, n)
			path = filepath.Join(b.TempDir(), "index.snap")
			if err := write(ix); err != nil {
				b.Fatal(err)
			}
			var load, cpu time.Duration
			for b.Loop() {
				cmd := exec.Command(os.Args[0], "-test.run=^TestSnapshotStart$", "-test.count=1")
				cmd.Env = append(os.Environ(), "DEDUPE_SNAPSHOT_START="+path)
				out, err := cmd.CombinedOutput()
				if err != nil {
					b.Fatalf("%v: %s", err, out)
				}
				var ns int64
				if i := bytes.Index(out, []byte("load-ns ")); i < 0 {
					b.Fatalf("no load time in %s", out)
				} else if _, err := fmt.Sscan(string(out[i+len("load-ns "):]), &ns); err != nil {
					b.Fatal(err)
				}
				load += time.Duration(ns)
				cpu += cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
			}
			items := float64(b.N * n)
			b.ReportMetric(float64(load.Nanoseconds())/items, "ns/item")
			b.ReportMetric(float64(cpu.Nanoseconds())/items, "cpu-ns/item")
		})
	}
}

func reportSnapshot(b *testing.B, path string, n int, cpu0 time.Duration) {
	b.Helper()
	st, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	items := float64(b.N * n)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/items, "ns/item")
	b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/items, "cpu-ns/item")
	b.ReportMetric(float64(st.Size())/float64(n), "file-B/item")
}

// TestSnapshotStart loads the snapshot named by $DEDUPE_SNAPSHOT_START
// and prints how long that took; BenchmarkSnapshot runs it in a new
// process.
func TestSnapshotStart(t *testing.T) {
	path := os.Getenv("DEDUPE_SNAPSHOT_START")
	if path == "" {
		t.Skip("run by BenchmarkSnapshot")
	}
	start := time.Now()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ix, err := dedupe.ReadSnapshot(f, dedupe.Options{})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("load-ns %d items %d\n", time.Since(start).Nanoseconds(), ix.Len())
}
