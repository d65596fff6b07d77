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
// the last collection kept before it collects again. That is wrong at
// both ends for this program. Most of what a large aggregator keeps is
// its dedupe index, which lives as long as the process: at a million
// items doubling it cost about a gigabyte. A small heap, on the other
// hand, doubles every few megabytes: an unchanged pass of 2,000 feeds
// (a live heap of about 6 MB, some 50 MB allocated over 0.2 s) collected
// eight times, a sixth of its CPU. So, unless the environment sets GOGC
// or GOMEMLIMIT (then the Go runtime's own rules apply, as documented for
// package runtime), the process turns the proportional trigger off and
// keeps a soft memory limit just above what is live instead: the heap may
// grow by an eighth of the live heap, and by at least heapMinHeadroom. A
// large process collects more often than GOGC=100 would, and each
// collection costs CPU in proportion to what the heap holds in pointers,
// which for the index is far less than its size (its term lists hold
// none). A small one collects once per heapMinHeadroom allocated, and may
// hold up to that much garbage: the price of not collecting a short
// command's garbage at all.
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
// for it; the limit last set stays). It sets process-wide runtime
// settings: main calls it, not run, so that tests calling run do not
// change their own process's collector.
func limitHeap(ctx context.Context, environ func(string) string) (stop func()) {
	if environ("GOGC") != "" || environ("GOMEMLIMIT") != "" {
		return func() {}
	}
	// The first limit is in place before the proportional trigger goes:
	// there is no moment without either.
	var h heapState
	set := heapLimit(h.read())
	debug.SetMemoryLimit(set)
	debug.SetGCPercent(-1)
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(heapPoll)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if l := heapLimit(h.read()); l != set {
				debug.SetMemoryLimit(l)
				set = l
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
// again for every small change. Before a collection has measured the
// live heap (live is 0), the headroom is heapMinHeadroom over what the
// runtime holds besides.
func heapLimit(live, other int64) int64 {
	live = max(live, 0)
	headroom := max(live/heapHeadroomShare, heapMinHeadroom)
	l := other + live + headroom
	step := max(l/64, 1<<20)
	return (l + step - 1) / step * step
}
