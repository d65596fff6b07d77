package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"aggregator"
	"aggregator/dedupe"
	"aggregator/fetcher"
)

// Options configure a Pipeline. The zero value of each field means the
// documented default.
type Options struct {
	// Feeds are the configured feeds: the daemon's schedule, and the names
	// stories' members are resolved against.
	Feeds []aggregator.Feed
	// Dedupe configures clustering; Dedupe.Window also sets how far back
	// the index reaches (two windows before the newest item).
	Dedupe dedupe.Options
	// NoMergeClusters turns off the merging of clusters that report one
	// story but formed apart (dedupe.Index.Consolidate; merge.go), which
	// is on by default ([dedupe] merge_clusters). A log written with
	// merging on replays its merges whatever this says.
	NoMergeClusters bool
	// Merge configures the merges; its zero value means
	// dedupe.MergeOptions' defaults, which were chosen by cross-validation
	// on the pipeline's own clusters (README, Merging clusters).
	Merge dedupe.MergeOptions
	// Keep and KeepPerFeed are retention ([storage] keep and
	// keep_per_feed): items published and first seen longer than Keep ago
	// are pruned, but the newest KeepPerFeed of each feed. Keep 0 keeps
	// everything.
	Keep        time.Duration
	KeepPerFeed int

	// Settle sets how quiet the ingest must be before Run clusters: no
	// store for Settle/5 and no fetch in flight (default 5s, so 1s quiet);
	// MaxDelay is the longest Run lets stored items wait while fetches go
	// on (default 1m). See runClusterer.
	Settle, MaxDelay time.Duration
	// RewindAfter is how much older than the newest clustered item an
	// item must be to make the pipeline rewind (default 1h; negative:
	// never), and MaxRewind the most stored items a rewind reads (default
	// 50,000). See rewind.go.
	RewindAfter time.Duration
	MaxRewind   int
	// FirstPrune and PruneEvery time Run's pruning (defaults 1m and 1h);
	// SaveEvery how often Run considers saving the dedupe index (10m).
	FirstPrune, PruneEvery, SaveEvery time.Duration

	// Node names this daemon in a fleet (default DefaultNode()), and
	// Lease is how long it holds a feed it claimed before another node
	// may take it (default twice the fetch timeout). Both matter only on
	// a store that is a Fleet.
	Node  string
	Lease time.Duration

	// OnOutcome, when set, is called with each fetch's outcome once it is
	// stored (or failed to be), on the ingest goroutine.
	OnOutcome func(Outcome)
	// OnChange, when set, is called after stories changed (a clustering
	// round stored decisions, or a stored item was edited), on a pipeline
	// goroutine; it must not block for long.
	OnChange func()

	Logger *slog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
}

func (o *Options) defaults() {
	if o.Settle <= 0 {
		o.Settle = 5 * time.Second
	}
	if o.MaxDelay <= 0 {
		o.MaxDelay = time.Minute
	}
	if o.RewindAfter == 0 {
		o.RewindAfter = time.Hour
	}
	if o.MaxRewind <= 0 {
		o.MaxRewind = 50000
	}
	if o.FirstPrune <= 0 {
		o.FirstPrune = time.Minute
	}
	if o.PruneEvery <= 0 {
		o.PruneEvery = time.Hour
	}
	if o.SaveEvery <= 0 {
		o.SaveEvery = 10 * time.Minute
	}
	if o.Dedupe.Window <= 0 {
		o.Dedupe.Window = 72 * time.Hour
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Pipeline joins the stages over one Store: fetch results are stored
// (items and fetch state together), their new items wait as pending, and
// the clusterer adds them to the dedupe index oldest first and stores the
// decisions. Its methods are safe for concurrent use.
type Pipeline struct {
	store Store
	opts  Options
	log   *slog.Logger

	// cfgMu guards feeds and sched: a reload replaces the feeds while
	// outputs are rendered, and sched is set while Run runs.
	cfgMu sync.RWMutex
	feeds map[string]aggregator.Feed
	sched *fetcher.Scheduler

	// clusterMu serialises ClusterPending: the daemon's clusterer and a
	// pass asked for through the control channel must not take the same
	// pending items.
	clusterMu sync.Mutex

	mu sync.Mutex // guards ix and the fields below it: the index is not safe for concurrent use
	ix *dedupe.Index
	// loaded is set once ix holds the stored items of the window.
	loaded bool
	// saved is the ClusterStamp of the saved index as far as this process
	// knows (zero: none usable); delta counts the items clustered since,
	// which the cluster log replays; rebuilt is set when ix was rebuilt
	// from the store, which makes saving it worthwhile at once.
	saved   aggregator.ClusterStamp
	delta   int
	rebuilt bool
	// seq is the store's ClusterStamp.Seq this index reflects: every
	// batch of decisions is fenced on it (see aggregator.Decisions).
	seq uint64
	// latest is the newest item time stored or clustered so far, capped
	// at now. The index forgets items a window older than it, not a
	// window older than the clock, so that archives and backfills cluster
	// like live news.
	latest time.Time
	// clustered is the newest item time the index has clustered, capped
	// at now (zero: unknown): an item older than it by RewindAfter is
	// late (see rewind.go).
	clustered time.Time
	// merger is when the index next consolidates and what (merge.go);
	// saved with the index.
	merger merger
	// spare holds slices of prepared items that ClusterPending reuses
	// from one group to the next and one batch to the next, until no
	// item is pending (cluster.go): a Prepared is some 600 bytes, 2.5 MB
	// a group.
	spare [][]dedupe.Prepared

	// wake tells the clusterer goroutine that items are pending.
	wake chan struct{}

	// fleet is the store as a Fleet when it is shared (nil: this process
	// is alone on it); fleetMu guards leader and leaderSince.
	fleet       Fleet
	fleetMu     sync.Mutex
	leader      bool
	leaderSince time.Time

	m *metrics
}

// New returns a pipeline over store. It does nothing until called.
func New(store Store, opts Options) *Pipeline {
	opts.defaults()
	feeds := make(map[string]aggregator.Feed, len(opts.Feeds))
	for _, f := range opts.Feeds {
		feeds[f.Name] = f
	}
	fl, _ := store.(Fleet)
	if opts.Node == "" {
		opts.Node = DefaultNode()
	}
	return &Pipeline{
		fleet: fl,
		store: store,
		opts:  opts,
		feeds: feeds,
		log:   opts.Logger,
		ix:    dedupe.New(opts.Dedupe),
		wake:  make(chan struct{}, 1),
		m:     newMetrics(),
	}
}

// Store returns the store the pipeline works on.
func (p *Pipeline) Store() Store { return p.store }

// Run is the daemon: it clusters what an earlier process left pending,
// then fetches every feed on its own schedule (resuming the stored one)
// with client, stores and clusters the results, prunes and saves the
// dedupe index now and then, until ctx is done. It then lets the fetches
// in flight end, stores their results, stops clustering between two
// batches (what is left stays pending for the next start: nothing is
// lost) and saves the index. Every goroutine it starts has ended when it
// returns.
func (p *Pipeline) Run(ctx context.Context, client *fetcher.Client) error {
	if p.fleet != nil {
		return p.runFleet(ctx, client, p.fleet)
	}
	if err := p.ClusterPending(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("cluster what was pending: %w", err)
	}
	states, err := p.store.FeedStates(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("read the schedule: %w", err)
	}
	p.cfgMu.Lock()
	sched := fetcher.NewScheduler(client, p.feedList(), states)
	p.sched = sched
	p.cfgMu.Unlock()
	defer func() {
		p.cfgMu.Lock()
		p.sched = nil
		p.cfgMu.Unlock()
	}()

	g, gctx := errgroup.WithContext(ctx)
	// ingested is closed once fetching has stopped and its last results
	// are stored: the clusterer then clusters them, briefly, and ends.
	ingested := make(chan struct{})
	g.Go(func() error {
		defer close(ingested)
		ing := p.startIngest(gctx)
		defer ing.close()
		err := sched.Run(gctx, ing.store)
		if err != nil && !errors.Is(err, context.Canceled) {
			return fmt.Errorf("scheduler: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		p.runClusterer(gctx, ingested, nil)
		return nil
	})
	g.Go(func() error {
		p.housekeep(gctx)
		return nil
	})
	err = g.Wait()
	// The final save gets a little time of its own: it spares the next
	// start a replay or a rebuild.
	saveCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if serr := p.SaveIndex(saveCtx, true); serr != nil {
		p.log.Warn("the next start will rebuild the dedupe index from the store", "err", serr)
	}
	return err
}

// housekeep prunes a little after start, then every PruneEvery, and saves
// the dedupe index every SaveEvery when enough changed, so that a daemon
// killed rather than stopped replays little at its next start.
func (p *Pipeline) housekeep(ctx context.Context) {
	prune := time.NewTimer(p.opts.FirstPrune)
	defer prune.Stop()
	save := time.NewTicker(p.opts.SaveEvery)
	defer save.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-prune.C:
			if _, err := p.Prune(ctx); err != nil && ctx.Err() == nil {
				p.log.Warn("pruning old items failed; retrying later", "err", err)
			}
			prune.Reset(p.opts.PruneEvery)
		case <-save.C:
			if err := p.SaveIndex(ctx, false); err != nil && ctx.Err() == nil {
				p.log.Warn("saving the dedupe index failed; retrying later", "err", err)
			}
		}
	}
}

func (p *Pipeline) changed() {
	if p.opts.OnChange != nil {
		p.opts.OnChange()
	}
}

// feedList is the configured feeds in their configured order. p.cfgMu
// must be held.
func (p *Pipeline) feedList() []aggregator.Feed { return slices.Clone(p.opts.Feeds) }

// SetFeeds replaces the configured feeds (a reload): stories resolve
// their members against the new ones at once, and a running daemon
// schedules added feeds, stops removing ones (their stored items stay)
// and fetches changed URLs and intervals as configured. Fetches in flight
// finish and are stored.
func (p *Pipeline) SetFeeds(feeds []aggregator.Feed) {
	m := make(map[string]aggregator.Feed, len(feeds))
	for _, f := range feeds {
		m[f.Name] = f
	}
	p.cfgMu.Lock()
	defer p.cfgMu.Unlock()
	p.opts.Feeds = slices.Clone(feeds)
	p.feeds = m
	if p.sched != nil {
		p.sched.SetFeeds(feeds)
	}
}

// feed returns the configured feed of that name.
func (p *Pipeline) feed(name string) (aggregator.Feed, bool) {
	p.cfgMu.RLock()
	defer p.cfgMu.RUnlock()
	f, ok := p.feeds[name]
	return f, ok
}

// scheduler is the running daemon's scheduler, nil outside Run.
func (p *Pipeline) scheduler() *fetcher.Scheduler {
	p.cfgMu.RLock()
	defer p.cfgMu.RUnlock()
	return p.sched
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
