package fetcher

import (
	"maps"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// durationBuckets are the upper bounds, in seconds, of the fetch duration
// histogram.
var durationBuckets = []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 60}

// metrics are the Client's counters, read by Stats and Collector.
type metrics struct {
	ok, unchanged, failed atomic.Int64
	bytes, items          atomic.Int64
	empty, overMax        atomic.Int64 // items dropped
	future                atomic.Int64 // items whose dates were clamped
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
	m.empty.Add(int64(r.EmptyItems))
	m.overMax.Add(int64(r.OverMax))
	m.future.Add(int64(r.FutureDates))
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

// Stats is a snapshot of a Client's counters since it was created.
type Stats struct {
	// Fetches by outcome.
	OK, Unchanged, Failed int64
	// InFlight is the number of fetches holding a concurrency slot now.
	InFlight int64
	// Bytes received from feeds, on the wire (compressed size).
	Bytes int64
	// Items parsed and kept; EmptyItems and OverMax those dropped (see
	// Result); FutureDates the items whose dates were clamped.
	Items, EmptyItems, OverMax, FutureDates int64
	// Errors counts failed fetches by ErrorKind.
	Errors map[string]int64
	// Durations is the histogram of fetch durations (parsing included):
	// Buckets[i] counts the fetches that took at most DurationBuckets[i]
	// seconds (cumulative); Count and Sum (seconds) cover all of them.
	Durations Histogram
}

// Histogram is a cumulative histogram of durations in seconds.
type Histogram struct {
	Buckets []uint64
	Count   uint64
	Sum     float64
}

// DurationBuckets returns the upper bounds, in seconds, of the buckets
// of Stats.Durations.
func DurationBuckets() []float64 { return slices.Clone(durationBuckets) }

// Stats returns the counters as they are now. Safe to call while
// fetches run; the fields are read one by one, not as one atomic view.
func (c *Client) Stats() Stats {
	m := &c.m
	s := Stats{
		OK: m.ok.Load(), Unchanged: m.unchanged.Load(), Failed: m.failed.Load(),
		InFlight: m.inflight.Load(), Bytes: m.bytes.Load(),
		Items: m.items.Load(), EmptyItems: m.empty.Load(), OverMax: m.overMax.Load(), FutureDates: m.future.Load(),
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	s.Errors = maps.Clone(m.errors)
	s.Durations.Buckets = make([]uint64, len(durationBuckets))
	var cum uint64
	for i := range durationBuckets {
		cum += uint64(m.buckets[i])
		s.Durations.Buckets[i] = cum
	}
	s.Durations.Count = uint64(m.count)
	s.Durations.Sum = m.sum
	return s
}

// Metric descriptions of the Collector.
var (
	descFetches = prometheus.NewDesc("aggregator_fetches_total",
		"Feed fetches by result.", []string{"result"}, nil)
	descInFlight = prometheus.NewDesc("aggregator_fetches_in_flight",
		"Fetches under way (holding a concurrency slot).", nil, nil)
	descBytes = prometheus.NewDesc("aggregator_fetch_bytes_total",
		"Bytes received from feeds (on the wire).", nil, nil)
	descItems = prometheus.NewDesc("aggregator_fetch_items_total",
		"Items parsed from fetched feeds.", nil, nil)
	descDropped = prometheus.NewDesc("aggregator_fetch_items_dropped_total",
		"Items of fetched documents dropped: empty (nothing to show or identify) or over_max (beyond the per-document cap).", []string{"reason"}, nil)
	descFuture = prometheus.NewDesc("aggregator_fetch_future_dates_total",
		"Items dated more than a day after their fetch, whose dates were set to the fetch time.", nil, nil)
	descErrors = prometheus.NewDesc("aggregator_fetch_errors_total",
		"Failed fetches by kind of error.", []string{"kind"}, nil)
	descDuration = prometheus.NewDesc("aggregator_fetch_duration_seconds",
		"Time per fetch, parsing included.", nil, nil)
)

// collector exports a Client's Stats as Prometheus metrics.
type collector struct{ c *Client }

// Collector returns a prometheus.Collector of the Client's counters, to
// register with the caller's registry:
//
//	reg := prometheus.NewRegistry()
//	reg.MustRegister(client.Collector())
//	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
func (c *Client) Collector() prometheus.Collector { return collector{c} }

func (collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descFetches, descInFlight, descBytes, descItems, descDropped, descFuture, descErrors, descDuration} {
		ch <- d
	}
}

func (k collector) Collect(ch chan<- prometheus.Metric) {
	s := k.c.Stats()
	counter := func(d *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	counter(descFetches, s.OK, "ok")
	counter(descFetches, s.Unchanged, "unchanged")
	counter(descFetches, s.Failed, "failed")
	ch <- prometheus.MustNewConstMetric(descInFlight, prometheus.GaugeValue, float64(s.InFlight))
	counter(descBytes, s.Bytes)
	counter(descItems, s.Items)
	counter(descDropped, s.EmptyItems, "empty")
	counter(descDropped, s.OverMax, "over_max")
	counter(descFuture, s.FutureDates)
	for _, kind := range slices.Sorted(maps.Keys(s.Errors)) {
		counter(descErrors, s.Errors[kind], kind)
	}
	buckets := make(map[float64]uint64, len(durationBuckets))
	for i, b := range durationBuckets {
		buckets[b] = s.Durations.Buckets[i]
	}
	ch <- prometheus.MustNewConstHistogram(descDuration, s.Durations.Count, s.Durations.Sum, buckets)
}
