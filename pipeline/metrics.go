package pipeline

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the pipeline's own Prometheus metrics; the store's counts
// are read when scraped (see Collector).
type metrics struct {
	itemsNew      prometheus.Counter
	itemsUpdated  prometheus.Counter
	storeFailures prometheus.Counter
	clustered     prometheus.Counter
	clusterTime   prometheus.Histogram
	saveTime      prometheus.Histogram
	pruned        prometheus.Counter

	mu sync.Mutex // guards pendingSince
	// pendingSince is when this process stored the oldest item still
	// waiting to be clustered; zero when none waits.
	pendingSince time.Time
}

func newMetrics() *metrics {
	durations := []float64{.001, .005, .01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}
	return &metrics{
		itemsNew: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "aggregator_items_stored_total", Help: "Items stored for the first time."}),
		itemsUpdated: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "aggregator_items_updated_total", Help: "Stored items replaced because the publisher edited them."}),
		storeFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "aggregator_store_failures_total", Help: "Fetched feeds the store failed to store."}),
		clustered: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "aggregator_items_clustered_total", Help: "Items the dedupe stage assigned to stories."}),
		clusterTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "aggregator_cluster_batch_duration_seconds", Help: "Time to cluster one batch of pending items and store the decisions.", Buckets: durations}),
		saveTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "aggregator_index_save_duration_seconds", Help: "Time to save the dedupe index.", Buckets: durations}),
		pruned: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "aggregator_items_pruned_total", Help: "Items removed by retention."}),
	}
}

// waiting records that items were stored unclustered at now.
func (m *metrics) waiting(now time.Time) {
	m.mu.Lock()
	if m.pendingSince.IsZero() {
		m.pendingSince = now
	}
	m.mu.Unlock()
}

// drained records that nothing waits any more.
func (m *metrics) drained() {
	m.mu.Lock()
	m.pendingSince = time.Time{}
	m.mu.Unlock()
}

var (
	descStories = prometheus.NewDesc("aggregator_stories", "Stories (clusters) stored.", nil, nil)
	descItems   = prometheus.NewDesc("aggregator_items", "Items stored.", nil, nil)
	descFeeds   = prometheus.NewDesc("aggregator_feeds", "Feeds with stored state.", nil, nil)
	descTombs   = prometheus.NewDesc("aggregator_tombstones", "Tombstones of removed items.", nil, nil)
	descPending = prometheus.NewDesc("aggregator_pending_items", "Stored items waiting to be clustered.", nil, nil)
	descAge     = prometheus.NewDesc("aggregator_pending_age_seconds", "How long the oldest item this process stored unclustered has waited (0: none).", nil, nil)
	descSize    = prometheus.NewDesc("aggregator_store_bytes", "Bytes the store uses.", nil, nil)
	descIndexed = prometheus.NewDesc("aggregator_index_items", "Items the in-memory dedupe index holds.", nil, nil)
	descLeader  = prometheus.NewDesc("aggregator_fleet_leader", "1 while this node is its fleet's clusterer (shared store only).", nil, nil)
	descLeases  = prometheus.NewDesc("aggregator_fleet_leases", "Feed leases not yet ended, held by this node or by the whole fleet (shared store only).", []string{"scope"}, nil)
)

// collector exports the pipeline's metrics and the store's counts.
type collector struct{ p *Pipeline }

// Collector returns a prometheus.Collector of the pipeline's metrics (items
// stored, clustered and pruned, clustering and index-save durations, the
// pending backlog and its age) and of the store's counts, read when
// scraped, to register with the caller's registry.
func (p *Pipeline) Collector() prometheus.Collector { return collector{p} }

func (k collector) own() []prometheus.Collector {
	m := k.p.m
	return []prometheus.Collector{m.itemsNew, m.itemsUpdated, m.storeFailures, m.clustered, m.clusterTime, m.saveTime, m.pruned}
}

func (k collector) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range k.own() {
		c.Describe(ch)
	}
	for _, d := range []*prometheus.Desc{descStories, descItems, descFeeds, descTombs, descPending, descAge, descSize, descIndexed, descLeader, descLeases} {
		ch <- d
	}
}

func (k collector) Collect(ch chan<- prometheus.Metric) {
	for _, c := range k.own() {
		c.Collect(ch)
	}
	gauge := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if st, err := k.p.store.Stats(ctx); err == nil {
		gauge(descStories, float64(st.Clusters))
		gauge(descItems, float64(st.Items))
		gauge(descFeeds, float64(st.Feeds))
		gauge(descTombs, float64(st.Tombstones))
		gauge(descPending, float64(st.Pending))
		gauge(descSize, float64(st.Size))
	}
	k.p.m.mu.Lock()
	since := k.p.m.pendingSince
	k.p.m.mu.Unlock()
	age := 0.0
	if !since.IsZero() {
		age = time.Since(since).Seconds()
	}
	gauge(descAge, age)
	if st, ok, err := k.p.FleetStatus(ctx); ok && err == nil {
		leader := 0.0
		if st.Leader {
			leader = 1
		}
		gauge(descLeader, leader)
		ch <- prometheus.MustNewConstMetric(descLeases, prometheus.GaugeValue, float64(st.Leases), "node")
		ch <- prometheus.MustNewConstMetric(descLeases, prometheus.GaugeValue, float64(st.AllLeases), "fleet")
	}
	if k.p.mu.TryLock() { // never wait for a clustering batch to be scraped
		gauge(descIndexed, float64(k.p.ix.Len()))
		k.p.mu.Unlock()
	}
}

// PendingAge is how long the oldest item stored unclustered has waited,
// as far as this process knows (its own stores and, in a fleet, word of
// the others'); 0 when none waits.
func (p *Pipeline) PendingAge() time.Duration {
	p.m.mu.Lock()
	defer p.m.mu.Unlock()
	if p.m.pendingSince.IsZero() {
		return 0
	}
	return time.Since(p.m.pendingSince)
}
