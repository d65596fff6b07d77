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
// state in one transaction), then its new items are clustered and the
// decisions stored. Clustering happens after the feed's transaction has
// committed, under its own lock, so parsing on other workers never waits on
// it; a crash in between leaves items without a cluster, which start()
// clusters on the next run.
type pipeline struct {
	db    *storage.DB
	feeds map[string]aggregator.Feed
	log   *slog.Logger
	now   func() time.Time

	mu sync.Mutex // guards ix and latest: the index is not safe for concurrent use
	ix *dedupe.Index
	// latest is the newest item time clustered so far, capped at now. The
	// index forgets items a window older than it, not a window older than
	// the clock, so that archives and backfills cluster like live news.
	latest time.Time
}

func newPipeline(cfg *Config, db *storage.DB, log *slog.Logger) *pipeline {
	feeds := map[string]aggregator.Feed{}
	for _, f := range cfg.feeds() {
		feeds[f.Name] = f
	}
	return &pipeline{
		db:    db,
		feeds: feeds,
		log:   log,
		now:   time.Now,
		ix:    dedupe.New(dedupeOptions(cfg)),
	}
}

func dedupeOptions(cfg *Config) dedupe.Options {
	return dedupe.Options{Window: cfg.Dedupe.Window.Duration, Threshold: cfg.Dedupe.Threshold}
}

// start rebuilds the in-memory dedupe index from the items of the window
// and clusters any stored item that has no cluster yet.
func (p *pipeline) start(window time.Duration) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	latest, err := p.db.Latest()
	if err != nil {
		return fmt.Errorf("rebuild dedupe index: %w", err)
	}
	p.latest = minTime(latest, p.now())
	if err := p.db.Recent(p.latest.Add(-window), func(it aggregator.Item, m aggregator.Membership) error {
		p.ix.Restore(it, m)
		return nil
	}); err != nil {
		return fmt.Errorf("rebuild dedupe index: %w", err)
	}
	pending, err := p.db.Unclustered()
	if err != nil {
		return fmt.Errorf("find unclustered items: %w", err)
	}
	if len(pending) > 0 {
		p.log.Info("clustering items left over from an interrupted run", "items", len(pending))
	}
	return p.clusterLocked(pending)
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

// ingest stores one fetch result and clusters its new items. It is safe
// for concurrent use: fetch workers call it as results arrive.
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
	if len(res.New) == 0 {
		return o
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.clusterLocked(res.New); err != nil {
		// The items are stored; start() clusters them on the next run.
		p.log.Error("clustering failed", "feed", r.Feed.Name, "err", err)
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
