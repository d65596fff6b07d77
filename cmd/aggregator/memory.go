package main

import (
	"context"
	"math"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"time"
)

// Heap headroom. Go's default (GOGC=100) lets the heap grow to twice what
// the last collection kept before it collects again. Most of what a large
// aggregator keeps is its dedupe index, which lives as long as the
// process: at a million items that default doubled about a gigabyte. So,
// unless the environment sets GOGC or GOMEMLIMIT (then the Go runtime's
// own rules apply, as documented for package runtime), the process keeps
// a soft memory limit just above what is live: the heap may grow by an
// eighth of the live heap, at least heapMinHeadroom, and never by more
// than GOGC=100 would let it. A small process (a live heap under 64 MB)
// is not affected; a large one collects more often, and each collection
// costs CPU in proportion to what the heap holds in pointers, which for
// the index is far less than its size (its term lists hold none).
const (
	heapHeadroomShare = 8        // headroom = live / heapHeadroomShare ...
	heapMinHeadroom   = 64 << 20 // ... but at least this
	// heapPoll is how often the limit follows the live heap. The live
	// heap grows by what the index takes per item; between two polls
	// that is a few megabytes at most.
	heapPoll = 100 * time.Millisecond
)

// limitHeap starts keeping the soft memory limit, unless environ sets
// GOGC or GOMEMLIMIT, and returns the function that stops it (and waits
// for it). It sets a process-wide runtime limit: main calls it, not run,
// so that tests calling run do not change their own process's collector.
func limitHeap(ctx context.Context, environ func(string) string) (stop func()) {
	if environ("GOGC") != "" || environ("GOMEMLIMIT") != "" {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(heapPoll)
		defer t.Stop()
		var h heapState
		set := int64(0) // the limit last set; 0 for none
		for {
			if l := heapLimit(h.read()); l != set {
				debug.SetMemoryLimit(l)
				set = l
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	})
	return func() {
		cancel()
		wg.Wait()
	}
}

// heapState reads what the limit is computed from.
type heapState struct {
	samples []metrics.Sample
}

// The runtime/metrics the limit is computed from, in heapState.samples
// order.
var heapMetrics = [...]string{
	"/gc/heap/live:bytes",                 // live heap as the last collection marked it
	"/memory/classes/total:bytes",         // everything the runtime mapped
	"/memory/classes/heap/released:bytes", // ... less what it gave back
	"/memory/classes/heap/objects:bytes",  // ... less the heap's objects, live or not
}

// read returns the live heap and what the runtime holds besides the
// heap's objects (stacks, its own metadata, the gaps in the heap's spans
// and its free spans not given back yet), in bytes: the memory limit
// counts all of it.
func (h *heapState) read() (live, other int64) {
	if h.samples == nil {
		for _, name := range heapMetrics {
			h.samples = append(h.samples, metrics.Sample{Name: name})
		}
	}
	metrics.Read(h.samples)
	var v [len(heapMetrics)]int64
	for i, s := range h.samples {
		if s.Value.Kind() == metrics.KindUint64 {
			v[i] = int64(min(s.Value.Uint64(), math.MaxInt64))
		}
	}
	return v[0], max(v[1]-v[2]-v[3], 0)
}

// heapLimit is the soft memory limit for a live heap of live bytes and
// other bytes the runtime holds besides the heap's objects: both, plus the
// headroom, rounded up to 1/64 of the sum so that the limit is not set
// again for every small change; math.MaxInt64 (no limit) until a
// collection has measured the live heap, and when the headroom would be
// GOGC=100's anyway.
func heapLimit(live, other int64) int64 {
	if live <= 0 {
		return math.MaxInt64
	}
	headroom := max(live/heapHeadroomShare, heapMinHeadroom)
	if headroom >= live {
		return math.MaxInt64
	}
	l := other + live + headroom
	step := max(l/64, 1<<20)
	return (l + step - 1) / step * step
}
