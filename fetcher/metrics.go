package fetcher

import (
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"
)

// durationBuckets are the upper bounds, in seconds, of the fetch duration
// histogram.
var durationBuckets = []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 60}

// metrics are the Client's counters, exported by WriteMetrics.
type metrics struct {
	ok, unchanged, failed atomic.Int64
	bytes, items          atomic.Int64
	inflight              atomic.Int64 // requests holding a limiter slot

	mu      sync.Mutex // guards the fields below
	errors  map[string]int64
	buckets []int64 // counts per durationBuckets bound, not cumulative
	sum     float64
	count   int64
}

func (m *metrics) init() {
	m.errors = map[string]int64{}
	m.buckets = make([]int64, len(durationBuckets)+1)
}

func (m *metrics) record(r Result) {
	switch r.Status {
	case StatusOK:
		m.ok.Add(1)
	case StatusUnchanged:
		m.unchanged.Add(1)
	default:
		m.failed.Add(1)
	}
	m.bytes.Add(r.Bytes)
	m.items.Add(int64(len(r.Items)))
	s := r.Duration.Seconds()
	i, _ := slices.BinarySearch(durationBuckets, s)
	m.mu.Lock()
	defer m.mu.Unlock()
	if r.Err != nil {
		m.errors[ErrorKind(r.Err)]++
	}
	m.buckets[i]++
	m.sum += s
	m.count++
}

// WriteMetrics writes the fetch counters in the Prometheus text format:
// fetches by result, bytes received, items parsed, errors by kind and a
// histogram of fetch durations. Safe to call while fetches run.
func (c *Client) WriteMetrics(w io.Writer) error {
	m := &c.m
	var err error
	p := func(format string, a ...any) {
		if err == nil {
			_, err = fmt.Fprintf(w, format, a...)
		}
	}
	p("# HELP aggregator_fetches_total Feed fetches by result.\n# TYPE aggregator_fetches_total counter\n")
	p("aggregator_fetches_total{result=\"ok\"} %d\n", m.ok.Load())
	p("aggregator_fetches_total{result=\"unchanged\"} %d\n", m.unchanged.Load())
	p("aggregator_fetches_total{result=\"failed\"} %d\n", m.failed.Load())
	p("# HELP aggregator_fetches_in_flight Fetches under way (holding a concurrency slot).\n# TYPE aggregator_fetches_in_flight gauge\n")
	p("aggregator_fetches_in_flight %d\n", m.inflight.Load())
	p("# HELP aggregator_fetch_bytes_total Bytes received from feeds (on the wire).\n# TYPE aggregator_fetch_bytes_total counter\n")
	p("aggregator_fetch_bytes_total %d\n", m.bytes.Load())
	p("# HELP aggregator_fetch_items_total Items parsed from fetched feeds.\n# TYPE aggregator_fetch_items_total counter\n")
	p("aggregator_fetch_items_total %d\n", m.items.Load())

	m.mu.Lock()
	kinds := make([]string, 0, len(m.errors))
	for k := range m.errors {
		kinds = append(kinds, k)
	}
	slices.Sort(kinds)
	errs := make([]int64, len(kinds))
	for i, k := range kinds {
		errs[i] = m.errors[k]
	}
	buckets := slices.Clone(m.buckets)
	sum, count := m.sum, m.count
	m.mu.Unlock()

	p("# HELP aggregator_fetch_errors_total Failed fetches by kind of error.\n# TYPE aggregator_fetch_errors_total counter\n")
	for i, k := range kinds {
		p("aggregator_fetch_errors_total{kind=%q} %d\n", k, errs[i])
	}
	p("# HELP aggregator_fetch_duration_seconds Time per fetch, parsing included.\n# TYPE aggregator_fetch_duration_seconds histogram\n")
	var cum int64
	for i, b := range durationBuckets {
		cum += buckets[i]
		p("aggregator_fetch_duration_seconds_bucket{le=\"%g\"} %d\n", b, cum)
	}
	cum += buckets[len(durationBuckets)]
	p("aggregator_fetch_duration_seconds_bucket{le=\"+Inf\"} %d\n", cum)
	p("aggregator_fetch_duration_seconds_sum %g\n", sum)
	p("aggregator_fetch_duration_seconds_count %d\n", count)
	return err
}
