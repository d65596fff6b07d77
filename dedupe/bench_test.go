package dedupe_test

import (
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"aggregator"
	"aggregator/dedupe"
	"aggregator/dedupe/score"
)

// synthetic makes n items of SYNTHETIC load from the real items of both
// development sets. Copy k of the data relabels every word that is not
// common in the data (found in 1 in 100 stories or more) with a pseudo-word
// derived from the word and k, so each copy reports different stories
// with the shape of the real ones (same lengths, same mix of big stories
// and singletons) while common words stay shared and their posting lists
// grow with n, as in a real stream. Each copy drops one word of every
// title at random (rewording), and the times are spread over 60 hours so
// that every item is in the default 72-hour window.
func synthetic(t testing.TB, n int, seed uint64) []aggregator.Item {
	return syntheticFrom(append(loadSet(t, "dev.jsonl"), loadSet(t, "dev-rich.jsonl")...), n, seed)
}

func syntheticFrom(base []score.Item, n int, seed uint64) []aggregator.Item {
	// A word is common when it appears in stories of many kinds: in at
	// least 1 in 100 of the stories (and at least 5).
	storiesOf := map[string]map[string]bool{}
	stories := map[string]bool{}
	for _, it := range base {
		stories[it.Story] = true
		for _, w := range strings.Fields(strings.ToLower(it.Title + " " + it.Summary)) {
			if storiesOf[w] == nil {
				storiesOf[w] = map[string]bool{}
			}
			storiesOf[w][it.Story] = true
		}
	}
	minStories := max(5, len(stories)/100)
	common := func(w string) bool { return len(storiesOf[strings.ToLower(w)]) >= minStories }
	relabel := func(w string, k int) string {
		if common(w) || len(w) < 3 {
			return w
		}
		h := fnv.New64a()
		fmt.Fprintf(h, "%s/%d", strings.ToLower(w), k)
		v := h.Sum64()
		var b strings.Builder
		for range 8 {
			b.WriteByte(byte('a' + v%26))
			v /= 26
		}
		return b.String()
	}
	r := rand.New(rand.NewPCG(seed, 1))
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	out := make([]aggregator.Item, 0, n)
	for i := 0; len(out) < n; i++ {
		k, src := i/len(base), base[i%len(base)]
		words := strings.Fields(src.Title)
		if len(words) > 3 {
			drop := 1 + r.IntN(len(words)-1)
			words = append(words[:drop], words[drop+1:]...)
		}
		for j, w := range words {
			words[j] = relabel(w, k)
		}
		sum := strings.Fields(src.Summary)
		for j, w := range sum {
			sum[j] = relabel(w, k)
		}
		at := start.Add(time.Duration(float64(60*time.Hour) * float64(len(out)) / float64(n)))
		it := aggregator.Item{
			GUID:      fmt.Sprintf("%s-%d-%d", src.ID, seed, k),
			URL:       fmt.Sprintf("%s?copy=%d&seed=%d", src.URL, k, seed),
			Title:     strings.Join(words, " "),
			Summary:   strings.Join(sum, " "),
			Published: at, FirstSeen: at,
		}
		it.Normalize(src.Source)
		out = append(out, it)
	}
	return out
}

// BenchmarkAdd measures Add (normalise, sign, query, insert) with 10k,
// 100k and 1M items of synthetic load in the window. The 1M case needs
// DEDUPE_BENCH_1M=1 (about a minute to fill, ~1 GB). Besides ns/op and
// B/op (allocated per Add), it reports heap-B/item: the live heap the
// filled index holds per item.
//
// The timed Adds keep the window full, as in a running aggregator: they
// come after the items filled in, in time order at the same rate, and
// every restoreChunk of them the items older than the window expire, as
// the pipeline expires once per chunk. Without expiry the timed Adds grew
// the index past its size, and B/op counted the copies of its tables
// whenever append grew one: a quarter more of a million item records is
// some 100 MB, over 5 KB an op across 20,000 ops, or nothing, depending
// on where the capacity happened to end. Expire is timed apart (the timer
// stopped, its CPU left out of cpu-ns/op): expire-cpu-ns/op is its CPU
// time per Add. Use a fixed count, e.g.
//
//	DEDUPE_BENCH_1M=1 go test ./dedupe -run '^$' -bench BenchmarkAdd -benchtime 20000x
func BenchmarkAdd(b *testing.B) {
	sizes := []int{10_000, 100_000}
	if os.Getenv("DEDUPE_BENCH_1M") != "" {
		sizes = append(sizes, 1_000_000)
	}
	for _, n := range sizes {
		b.Run(fmt.Sprintf("window=%d", n), func(b *testing.B) {
			items := synthetic(b, n, 1)
			pool := synthetic(b, 20_000, 2)
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			ix := dedupe.New(dedupe.Options{})
			for _, it := range items {
				ix.Add(it)
			}
			runtime.GC()
			runtime.ReadMemStats(&after)
			// The items (and so their ID strings, which the index
			// shares) were live before and after: not counted.
			heap := float64(after.HeapAlloc-before.HeapAlloc) / float64(ix.Len())
			// The first timed Add is a window after the first item.
			t0 := items[0].Time().Add(ix.Options().Window)
			step := items[len(items)-1].Time().Sub(items[0].Time()) / time.Duration(len(items)-1)
			runtime.KeepAlive(items)
			items = nil
			b.ReportAllocs()
			i := 0
			var expireCPU time.Duration
			cpu0 := cpuTime()
			for b.Loop() {
				it := pool[i%len(pool)]
				if i >= len(pool) {
					it.ID = fmt.Sprint(it.ID, i)
				}
				at := t0.Add(time.Duration(i) * step)
				it.Published, it.FirstSeen = at, at
				ix.Add(it)
				i++
				if i%restoreChunk == 0 {
					b.StopTimer()
					e0 := cpuTime()
					ix.Expire(at)
					expireCPU += cpuTime() - e0
					b.StartTimer()
				}
			}
			// The filled items span 60 hours: at their rate, the 72-hour
			// window holds a fifth more.
			if full := int(ix.Options().Window/step) + restoreChunk; ix.Len() > full {
				b.Fatalf("the window grew to %d items, more than the %d it holds", ix.Len(), full)
			}
			// After the loop: b.Loop's first call resets user metrics.
			b.ReportMetric(heap, "heap-B/item")
			// CPU time of the process (GC included) per Add: unlike
			// ns/op, it does not grow when other processes share the
			// cores.
			b.ReportMetric(float64(cpuTime()-cpu0-expireCPU)/float64(i), "cpu-ns/op")
			b.ReportMetric(float64(expireCPU)/float64(i), "expire-cpu-ns/op")
			runtime.KeepAlive(ix)
		})
	}
}

// restoreInput is what storage gives back at start-up: items in the order
// they were clustered, with the memberships Add gave them.
type restoreInput struct {
	items []aggregator.Item
	ms    []aggregator.Membership
}

// restoreInputs caches the inputs per size across sub-benchmarks: making
// the memberships of 1M items takes Adding them all.
var restoreInputs = map[int]restoreInput{}

func restoreData(b *testing.B, n int) restoreInput {
	if in, ok := restoreInputs[n]; ok {
		return in
	}
	in := restoreInput{items: synthetic(b, n, 1), ms: make([]aggregator.Membership, n)}
	ix := dedupe.New(dedupe.Options{})
	for i, it := range in.items {
		in.ms[i], _ = ix.Add(it)
	}
	restoreInputs[n] = in
	return in
}

// restoreChunk is how many items the start-up code reads from storage
// and prepares at a time (cmd/aggregator's clusterChunk).
const restoreChunk = 4096

// restoreEach rebuilds an index the way start-up did before RestoreBatch:
// each chunk prepared on workers goroutines, then restored item by item.
func restoreEach(ix *dedupe.Index, in restoreInput, workers int) {
	for lo := 0; lo < len(in.items); lo += restoreChunk {
		hi := min(lo+restoreChunk, len(in.items))
		for i, p := range prepareChunk(in.items[lo:hi], workers) {
			ix.RestorePrepared(p, in.ms[lo+i])
		}
	}
}

// restoreBatch rebuilds an index with RestoreBatch, preparing the next
// chunk on workers goroutines while the current one is inserted.
func restoreBatch(ix *dedupe.Index, in restoreInput, workers int) {
	var next chan []dedupe.Prepared
	prepare := func(lo int) {
		next = make(chan []dedupe.Prepared, 1)
		hi := min(lo+restoreChunk, len(in.items))
		go func(ch chan<- []dedupe.Prepared) { ch <- prepareChunk(in.items[lo:hi], workers) }(next)
	}
	prepare(0)
	for lo := 0; lo < len(in.items); lo += restoreChunk {
		ps := <-next
		if lo+restoreChunk < len(in.items) {
			prepare(lo + restoreChunk)
		}
		ix.RestoreBatch(ps, in.ms[lo:lo+len(ps)])
	}
}

// prepareChunk prepares items on workers goroutines, each with its own
// Preparer.
func prepareChunk(items []aggregator.Item, workers int) []dedupe.Prepared {
	out := make([]dedupe.Prepared, len(items))
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			p := dedupe.NewPreparer(dedupe.Options{})
			for i := w; i < len(items); i += workers {
				out[i] = p.Prepare(items[i])
			}
		})
	}
	wg.Wait()
	return out
}

// BenchmarkRestore measures rebuilding an index at start-up from 100k (and,
// with DEDUPE_BENCH_1M=1, 1M) items of synthetic load and their stored
// memberships, Prepare included, in chunks of 4096 as start-up reads them:
// "each" is RestorePrepared item by item after each chunk is prepared,
// "batch" is RestoreBatch with the next chunk prepared meanwhile; cpu=1
// runs with GOMAXPROCS 1, cpu=N on every core. It reports ns/item,
// cpu-ns/item (process CPU time, GC included) and B/item (allocated).
//
//	DEDUPE_BENCH_1M=1 go test ./dedupe -run '^$' -bench BenchmarkRestore -benchtime 3x
func BenchmarkRestore(b *testing.B) {
	sizes := []int{100_000}
	if os.Getenv("DEDUPE_BENCH_1M") != "" {
		sizes = append(sizes, 1_000_000)
	}
	methods := []struct {
		name string
		run  func(*dedupe.Index, restoreInput, int)
	}{{"each", restoreEach}, {"batch", restoreBatch}}
	for _, n := range sizes {
		for _, m := range methods {
			for _, procs := range []int{1, runtime.GOMAXPROCS(0)} {
				b.Run(fmt.Sprintf("items=%d/%s/cpu=%d", n, m.name, procs), func(b *testing.B) {
					in := restoreData(b, n)
					defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
					runtime.GC()
					var before, after runtime.MemStats
					runtime.ReadMemStats(&before)
					cpu0 := cpuTime()
					runs := 0
					for b.Loop() {
						ix := dedupe.New(dedupe.Options{})
						m.run(ix, in, procs)
						if ix.Len() != n {
							b.Fatalf("got Len %d, want %d", ix.Len(), n)
						}
						runs++
					}
					cpu := cpuTime() - cpu0
					runtime.ReadMemStats(&after)
					items := float64(runs * n)
					b.ReportMetric(float64(b.Elapsed().Nanoseconds())/items, "ns/item")
					b.ReportMetric(float64(cpu.Nanoseconds())/items, "cpu-ns/item")
					b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/items, "B/item")
				})
			}
		}
	}
}

// BenchmarkPrepare measures extracting the terms of one item (an op) with
// a Preparer, the part of Add and of restoring that runs on every core:
// on synthetic load (mostly headlines, relabelled words) and on the real
// items of dev-rich.jsonl (title and a lead of some 400 bytes, half of
// them with non-ASCII punctuation), which is what a pass of real feeds
// prepares.
func BenchmarkPrepare(b *testing.B) {
	sets := []struct {
		name  string
		items func() []aggregator.Item
	}{
		{"synthetic", func() []aggregator.Item { return synthetic(b, 20_000, 1) }},
		{"dev-rich", func() []aggregator.Item { return devItems(b, "dev-rich.jsonl", 0) }},
	}
	for _, set := range sets {
		b.Run("items="+set.name, func(b *testing.B) {
			items := set.items()
			p := dedupe.NewPreparer(dedupe.Options{})
			b.ReportAllocs()
			i := 0
			cpu0 := cpuTime()
			for b.Loop() {
				p.Prepare(items[i%len(items)])
				i++
			}
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(i), "cpu-ns/op")
		})
	}
}

// TestSyntheticShape checks that the synthetic load keeps copies apart:
// clustering two copies gives about twice the clusters of one.
func TestSyntheticShape(t *testing.T) {
	base := loadSet(t, "dev.jsonl")[:1500]
	n := len(base)
	count := func(items []aggregator.Item) int {
		ix := dedupe.New(dedupe.Options{})
		cl := map[string]bool{}
		for _, it := range items {
			m, _ := ix.Add(it)
			cl[m.Cluster] = true
		}
		return len(cl)
	}
	one, two := count(syntheticFrom(base, n, 1)), count(syntheticFrom(base, 2*n, 1))
	if two < 2*one*95/100 {
		t.Errorf("got %d clusters for two copies, %d for one: copies merge", two, one)
	}
	t.Logf("clusters: %d for one copy, %d for two", one, two)
}

// cpuTime is the user and system CPU time the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkPass measures one clustering pass as the pipeline runs it: 80,000
// new items of synthetic load, prepared on every core in chunks of 4096,
// then added in order, to an index already holding 100,000 items. It
// reports ms/pass (wall time) and cpu-ms/pass.
//
//	go test ./dedupe -run '^$' -bench BenchmarkPass -benchtime 3x
func BenchmarkPass(b *testing.B) {
	const window, pass = 100_000, 80_000
	base := synthetic(b, window, 1)
	items := synthetic(b, pass, 3)
	for i := range items {
		items[i].Published = items[i].Published.Add(60 * time.Hour)
		items[i].FirstSeen = items[i].Published
	}
	procs := runtime.GOMAXPROCS(0)
	var elapsed, cpu time.Duration
	for b.Loop() {
		b.StopTimer()
		ix := dedupe.New(dedupe.Options{})
		for _, it := range base {
			ix.Add(it)
		}
		b.StartTimer()
		t0, cpu0 := time.Now(), cpuTime()
		for lo := 0; lo < len(items); lo += restoreChunk {
			for _, p := range prepareChunk(items[lo:min(lo+restoreChunk, len(items))], procs) {
				ix.AddPrepared(p)
			}
		}
		elapsed += time.Since(t0)
		cpu += cpuTime() - cpu0
	}
	b.ReportMetric(float64(elapsed.Milliseconds())/float64(b.N), "ms/pass")
	b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "cpu-ms/pass")
}
