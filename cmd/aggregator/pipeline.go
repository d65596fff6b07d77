package main

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"aggregator"
	"aggregator/dedupe"
	"aggregator/fetcher"
	"aggregator/storage"
)

// pipeline joins the stages: a fetch result is stored (items and fetch
// state in one transaction), then its new items are queued for the
// clusterer, one goroutine that clusters whatever has queued up and stores
// the decisions in one transaction per batch. Fetch workers never wait on
// clustering or on its commits; a crash in between leaves items without a
// cluster, which start() clusters on the next run.
type pipeline struct {
	db    *storage.DB
	feeds map[string]aggregator.Feed
	log   *slog.Logger
	now   func() time.Time

	mu sync.Mutex // guards ix, loaded and latest: the index is not safe for concurrent use
	ix *dedupe.Index
	// loaded is set once ix holds the stored items of the window.
	loaded bool
	window time.Duration
	// latest is the newest item time clustered so far, capped at now. The
	// index forgets items a window older than it, not a window older than
	// the clock, so that archives and backfills cluster like live news.
	latest time.Time

	// pending carries new items from ingest to the clusterer goroutine,
	// which startClusterer starts and its stop function ends.
	pending chan []aggregator.Item
}

func newPipeline(cfg *Config, db *storage.DB, log *slog.Logger) *pipeline {
	feeds := map[string]aggregator.Feed{}
	for _, f := range cfg.feeds() {
		feeds[f.Name] = f
	}
	return &pipeline{
		db:      db,
		feeds:   feeds,
		log:     log,
		now:     time.Now,
		ix:      dedupe.New(dedupeOptions(cfg)),
		window:  cfg.Dedupe.Window.Duration,
		pending: make(chan []aggregator.Item, 256),
	}
}

// startClusterer starts the goroutine that clusters queued items. The
// returned stop function must be called once no more ingest calls can
// happen: it lets the clusterer finish what is queued and waits for it.
func (p *pipeline) startClusterer() (stop func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		for batch := range p.pending {
			items := batch
		drain: // take everything queued so far: one transaction for all of it
			for {
				select {
				case more, ok := <-p.pending:
					if !ok {
						break drain
					}
					items = append(items, more...)
				default:
					break drain
				}
			}
			p.mu.Lock()
			err := p.clusterLocked(items)
			p.mu.Unlock()
			if err != nil {
				// The items are stored; start() clusters them on the next run.
				p.log.Error("clustering failed", "items", len(items), "err", err)
			}
		}
	}()
	return func() {
		close(p.pending)
		<-done
	}
}

func dedupeOptions(cfg *Config) dedupe.Options {
	return dedupe.Options{Window: cfg.Dedupe.Window.Duration, Threshold: cfg.Dedupe.Threshold}
}

// start clusters any stored item that has no cluster yet (left by a crash
// between storing and clustering).
func (p *pipeline) start() error {
	pending, err := p.db.Unclustered()
	if err != nil {
		return fmt.Errorf("find unclustered items: %w", err)
	}
	if len(pending) == 0 {
		return nil
	}
	p.log.Info("clustering items left over from an interrupted run", "items", len(pending))
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.clusterLocked(pending)
}

// loadIndexLocked rebuilds the in-memory dedupe index from the stored
// items of the window, the first time something needs clustering: a pass
// where nothing is new never pays for it. p.mu must be held.
func (p *pipeline) loadIndexLocked() error {
	if p.loaded {
		return nil
	}
	latest, err := p.db.Latest()
	if err != nil {
		return fmt.Errorf("rebuild dedupe index: %w", err)
	}
	p.latest = minTime(latest, p.now())
	if err := p.db.Recent(p.latest.Add(-p.window), func(it aggregator.Item, m aggregator.Membership) error {
		p.ix.Restore(it, m)
		return nil
	}); err != nil {
		return fmt.Errorf("rebuild dedupe index: %w", err)
	}
	p.loaded = true
	return nil
}

// outcome is what one feed's fetch came to, for summaries and logs.
type outcome struct {
	feed    string
	status  fetcher.Status
	err     error
	new     int
	updated int
	bytes   int64
	dur     time.Duration
	state   aggregator.FeedState
}

// ingest stores one fetch result and queues its new items for clustering.
// It is safe for concurrent use: fetch workers call it as results arrive.
// The clusterer must be running.
func (p *pipeline) ingest(r fetcher.Result) outcome {
	o := outcome{feed: r.Feed.Name, status: r.Status, err: r.Err, bytes: r.Bytes, dur: r.Duration, state: r.State}
	var items []aggregator.Item
	if r.Status == fetcher.StatusOK {
		items = r.Items
	}
	res, err := p.db.SaveFetch(r.State, items)
	if err != nil {
		o.status, o.err = fetcher.StatusFailed, fmt.Errorf("store: %w", err)
		return o
	}
	o.new, o.updated = len(res.New), len(res.Updated)
	if len(res.New) > 0 {
		p.pending <- res.New
	}
	return o
}

// clusterLocked adds items to the index in a fixed order, so the same
// items give the same clusters, and stores the decisions in one
// transaction. p.mu must be held.
func (p *pipeline) clusterLocked(items []aggregator.Item) error {
	if len(items) == 0 {
		return nil
	}
	if err := p.loadIndexLocked(); err != nil {
		return err
	}
	items = slices.Clone(items)
	slices.SortFunc(items, func(a, b aggregator.Item) int {
		return cmp.Or(a.Time().Compare(b.Time()), cmp.Compare(a.ID, b.ID))
	})
	now := p.now()
	for _, it := range items {
		if t := minTime(it.Time(), now); t.After(p.latest) {
			p.latest = t
		}
	}
	p.ix.Expire(p.latest)
	ms := make([]aggregator.Membership, 0, len(items))
	reps := map[string]string{}
	for _, it := range items {
		m, rep := p.ix.Add(it)
		ms = append(ms, m)
		if rep != "" {
			reps[m.Cluster] = rep
		}
	}
	return p.db.SaveClusters(ms, reps, now)
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// storySource serves publish.Source from storage, with feed names resolved
// against the config.
type storySource struct {
	db    *storage.DB
	feeds map[string]aggregator.Feed
	now   func() time.Time
}

func (s storySource) Version() uint64 { return s.db.Version() }

func (s storySource) Stories(ctx context.Context, out aggregator.Output) ([]aggregator.Story, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	q := storage.StoryQuery{
		Include: func(name string) bool {
			f, ok := s.feeds[name]
			return ok && out.Includes(f)
		},
		Limit: out.MaxItems,
	}
	if out.MaxAge > 0 {
		q.Since = s.now().Add(-out.MaxAge)
	}
	stories, err := s.db.Stories(q)
	if err != nil {
		return nil, fmt.Errorf("output %s: %w", out.Name, err)
	}
	for i := range stories {
		st := &stories[i]
		st.Feeds = make([]aggregator.Feed, len(st.Items))
		for j, it := range st.Items {
			st.Feeds[j] = s.feeds[it.Feed]
		}
	}
	return stories, nil
}
