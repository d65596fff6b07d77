package pipeline

import (
	"context"
	"errors"
	"runtime"
	"slices"
	"sync"
	"time"

	"aggregator"
	"aggregator/dedupe"
)

// clusterChunk is how many pending items one clustering transaction
// takes. At some 60 µs an item a chunk takes a quarter of a second, which
// is how long a shutdown waits for clustering at most.
const clusterChunk = 4096

// maxStale is how many times in a row ClusterPending loads the index
// again after a fenced batch found it stale before it gives up.
const maxStale = 3

// finalClusterBudget is how long Run, stopping, spends clustering what
// the last fetches stored; what is left stays pending for the next start.
const finalClusterBudget = 2 * time.Second

// clusterBatch is how many chunks ClusterPending reads from the store at
// once and clusters overlapped (see clusterGroupsLocked). Two, not the
// four branch speed first used: in alternating runs of bench-fetch at
// 2,000 feeds (80,000 items; 2026-12-03, load 5 from other work), four
// peaked at 300 and 304 MB of RSS, over the 300 MB budget, two at 273 and
// 276 MB, within the 277–293 MB of clustering one chunk at a time; the
// clustering CPU of four and of two was the same within the noise (53–59
// µs per item), its wall time 4.2–4.3 s with four, 4.6–7.5 s with two,
// 4.6–8.0 s with one. The chunks read are held until each is added, with
// the terms of two chunks.
const clusterBatch = 2

// ClusterPending clusters every pending item, oldest first, in chunks of
// one transaction each. It stops between chunks when ctx is done and
// returns ctx's error: the items not clustered stay pending, and the
// index stays in step with what was stored.
func (p *Pipeline) ClusterPending(ctx context.Context) error {
	p.clusterMu.Lock()
	defer p.clusterMu.Unlock()
	stale := 0
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		items, err := p.store.Pending(ctx, clusterBatch*clusterChunk)
		if err != nil {
			return err
		}
		if len(items) == 0 {
			p.mu.Lock()
			p.spare = nil // an idle pipeline holds no prepared items' room
			p.mu.Unlock()
			p.m.drained()
			return nil
		}
		start := time.Now()
		p.mu.Lock()
		n, err := p.clusterBatchLocked(ctx, items)
		p.mu.Unlock()
		if errors.Is(err, aggregator.ErrStaleIndex) && stale < maxStale {
			// Another process clustered since the index was loaded (a
			// fleet's former leader, a CLI pass): nothing of the stale
			// batch was stored, and the next read loads the index as the
			// store now has it.
			stale++
			p.log.Info("the clustering changed elsewhere; loading the dedupe index again", "err", err)
			continue
		}
		if err != nil {
			return err
		}
		stale = 0
		p.m.clusterTime.Observe(time.Since(start).Seconds())
		p.m.clustered.Add(float64(n))
	}
}

// clusterBatchLocked clusters items (as Store.Pending returns them, oldest
// first; it sorts them in place) in chunks of about clusterChunk that never split a time, as
// many calls of clusterLocked would, and reports how many it clustered.
// A chunk that makes the pipeline rewind is clustered alone. p.mu must be
// held.
func (p *Pipeline) clusterBatchLocked(ctx context.Context, items []aggregator.Item) (int, error) {
	if err := p.loadIndexLocked(ctx); err != nil {
		return 0, err
	}
	groups := splitChunks(items, clusterChunk)
	if lb := p.lateBefore(); !lb.IsZero() && slices.MinFunc(groups[0], clusterOrder).Time().Before(lb) {
		return len(groups[0]), p.clusterLocked(ctx, groups[0])
	}
	return p.clusterGroupsLocked(ctx, groups)
}

// splitChunks cuts items, sorted by time, into runs of at least n items
// (but the last) that end where the time changes.
func splitChunks(items []aggregator.Item, n int) [][]aggregator.Item {
	var out [][]aggregator.Item
	for len(items) > 0 {
		i := min(n, len(items))
		for i < len(items) && items[i].Time().Equal(items[i-1].Time()) {
			i++
		}
		out = append(out, items[:i:i])
		items = items[i:]
	}
	return out
}

// clusterGroupsLocked clusters groups one after the other exactly as
// clusterLocked would (the same order, the same expiry before each, one
// fenced batch of decisions each), but overlapped: the terms of the next
// group are extracted on every core while this one is added to the
// index, and a group's decisions are stored by another goroutine while
// the next one is added. Only adding is order-dependent, and it stays on
// this goroutine, in order. When ctx ends it stops between groups; the
// groups added are stored. p.mu must be held.
func (p *Pipeline) clusterGroupsLocked(ctx context.Context, groups [][]aggregator.Item) (int, error) {
	now := p.opts.Now()
	// The slices of prepared items take turns (p.spare): the one a group
	// was added from holds the group after next.
	prepare := func(g []aggregator.Item) <-chan []dedupe.Prepared {
		var dst []dedupe.Prepared
		if n := len(p.spare); n > 0 {
			dst, p.spare = p.spare[n-1], p.spare[:n-1]
		}
		ch := make(chan []dedupe.Prepared, 1)
		go func() { ch <- prepareInto(dst, p.opts.Dedupe, g) }()
		return ch
	}
	for _, g := range groups {
		slices.SortFunc(g, clusterOrder) // in place: the groups are ours, and disjoint
	}
	// The saver stores the batches in order and stops at the first
	// failure: a later batch is fenced on the one before it anyway.
	type saved struct {
		n   int // batches stored
		err error
	}
	batches := make(chan aggregator.Decisions, 1)
	result := make(chan saved, 1)
	go func() {
		var s saved
		for d := range batches {
			if s.err == nil {
				if s.err = p.store.SaveDecisions(context.WithoutCancel(ctx), d); s.err == nil {
					s.n++
				}
			}
		}
		result <- s
	}()
	next := prepare(groups[0])
	added, addedItems := 0, 0
	for i, g := range groups {
		prepared := <-next
		next = nil
		if err := ctx.Err(); err != nil {
			break // nothing of this group changed the index
		}
		if i+1 < len(groups) {
			next = prepare(groups[i+1])
		}
		latest := p.latest
		for _, it := range g {
			if t := minTime(it.Time(), now); t.After(latest) {
				latest = t
			}
		}
		expired := latest.Add(-p.opts.Dedupe.Window)
		p.latest = latest
		for _, it := range g {
			p.clustered = maxTime(p.clustered, minTime(it.Time(), now))
		}
		p.ix.Expire(expired)
		ms, reps := addPrepared(p.ix, &p.merger, p.opts.mergeOptions(), g, prepared, now)
		// The cluster log lets a saved copy of the index catch up with
		// these decisions (see index.go).
		batches <- aggregator.Decisions{
			Memberships: ms, Representatives: reps, Now: now, ExpiredBefore: expired,
			Fenced: true, Base: p.seq + uint64(added),
		}
		added++
		addedItems += len(g)
		// The group's items are done with: let their text go now rather
		// than with the whole batch.
		clear(g)
		clear(prepared)
		p.spare = append(p.spare, prepared)
	}
	if next != nil {
		// The goroutine ends; its group stays pending.
		p.spare = append(p.spare, clearAll(<-next))
	}
	close(batches)
	s := <-result
	if s.err != nil || s.n != added {
		// The index has decisions the store does not: forget it, so that
		// the next round loads what the store holds.
		p.resetIndexLocked()
		return 0, s.err
	}
	p.seq += uint64(added)
	p.delta += addedItems
	if added < len(groups) {
		return addedItems, ctx.Err()
	}
	return addedItems, nil
}

// runClusterer clusters pending items as the ingester stores them, until
// ingested is closed, then clusters what the last fetches stored for at
// most finalClusterBudget.
//
// Clustering is order-dependent, and items are clustered oldest first
// only within one round; so a round waits until the wave of fetches that
// brought its items is over (no fetch in flight, a quiet Settle/5 after
// the last store), as long as MaxDelay allows. A start on a fresh store,
// when every feed is due at once, then clusters like one "aggregator
// fetch" pass whatever order the feeds answered in; a daemon whose
// fetches never all pause still clusters every MaxDelay.
//
// abandon, when closed, ends it at once: a fleet's leader that lost its
// leadership (nil: never).
func (p *Pipeline) runClusterer(ctx context.Context, ingested, abandon <-chan struct{}) {
	settle := p.opts.Settle
	// The index is loaded now rather than at the first new item, so that
	// the first round after a start does not wait for it.
	p.mu.Lock()
	if err := p.loadIndexLocked(ctx); err != nil && ctx.Err() == nil {
		p.log.Warn("loading the dedupe index failed; retrying at the next round", "err", err)
	}
	p.mu.Unlock()
	for {
		select {
		case <-ingested:
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finalClusterBudget)
			p.clusterRound(fctx)
			cancel()
			return
		case <-abandon:
			return
		case <-p.wake:
		}
		start := time.Now()
		deadline := time.NewTimer(p.opts.MaxDelay)
		quiet := time.NewTimer(settle / 5)
	wave:
		for {
			select {
			case <-p.wake:
				quiet.Reset(settle / 5)
			case <-quiet.C:
				if p.fetchesRunning(ctx, start) == 0 {
					break wave
				}
				quiet.Reset(settle / 5)
			case <-deadline.C:
				break wave
			case <-ingested:
				break wave
			case <-abandon:
				quiet.Stop()
				deadline.Stop()
				return
			}
		}
		quiet.Stop()
		deadline.Stop()
		p.clusterRound(ctx)
	}
}

// clusterRound clusters what is pending and tells OnChange.
func (p *Pipeline) clusterRound(ctx context.Context) {
	before := p.store.Version()
	err := p.ClusterPending(ctx)
	if err != nil && ctx.Err() == nil {
		// The items stay pending; the next wake or start retries.
		p.log.Error("clustering failed", "err", err)
	}
	if p.store.Version() != before {
		p.changed()
	}
}

// clusterLocked adds items to the index in a fixed order, so the same
// items give the same clusters, and stores the decisions in one
// transaction. p.mu must be held.
func (p *Pipeline) clusterLocked(ctx context.Context, items []aggregator.Item) error {
	if len(items) == 0 {
		return nil
	}
	if err := p.loadIndexLocked(ctx); err != nil {
		return err
	}
	items = slices.Clone(items)
	slices.SortFunc(items, clusterOrder)
	if lb := p.lateBefore(); !lb.IsZero() && items[0].Time().Before(lb) {
		if done, err := p.rewindLocked(ctx, items); done || err != nil {
			if err != nil && ctx.Err() == nil {
				p.resetIndexLocked() // the store holds what it holds; load it again
			}
			return err
		}
	}
	now := p.opts.Now()
	latest := p.latest
	for _, it := range items {
		if t := minTime(it.Time(), now); t.After(latest) {
			latest = t
		}
	}
	expired := latest.Add(-p.opts.Dedupe.Window)
	prepared := prepareAll(p.opts.Dedupe, items)
	if err := ctx.Err(); err != nil {
		return err // nothing changed yet
	}
	// From here the index changes; the decisions are stored even when ctx
	// ends meanwhile, or the index would hold what the store does not.
	p.latest = latest
	for _, it := range items {
		p.clustered = maxTime(p.clustered, minTime(it.Time(), now))
	}
	p.ix.Expire(expired) // keeps items from p.horizon() on
	ms, reps := addPrepared(p.ix, &p.merger, p.opts.mergeOptions(), items, prepared, now)
	// The cluster log lets a saved copy of the index catch up with these
	// decisions (see index.go).
	err := p.store.SaveDecisions(context.WithoutCancel(ctx), aggregator.Decisions{
		Memberships: ms, Representatives: reps, Now: now, ExpiredBefore: expired,
		Fenced: true, Base: p.seq,
	})
	if err != nil {
		// The index has decisions the store does not: forget it, so that
		// the next round loads what the store holds.
		p.resetIndexLocked()
		return err
	}
	p.seq++
	p.delta += len(items)
	return nil
}

// clusterOrder is the order a pass clusters its items in: dedupe's
// canonical order (oldest first; among reports of one time the fullest,
// which then founds the story; then by ID). Measured end to end
// (scripts/score-e2e), putting the fuller report first instead of
// ordering ties by ID alone raised headline pairwise F1 (date-split) from
// 0.744 to 0.765 and title+lead B-cubed F1 from 0.913 to 0.917.
// Store.Pending never splits a group of one time across chunks.
var clusterOrder = dedupe.Order

// horizon is the oldest item time the index keeps: two windows before the
// newest item, so that items fetched a little out of time order (a feed
// that was down, a slow publisher) still find their stories.
func (p *Pipeline) horizon() time.Time { return p.latest.Add(-2 * p.opts.Dedupe.Window) }

// prepareAll extracts the items' terms on every core: the half of
// clustering that needs no index state.
func prepareAll(opts dedupe.Options, items []aggregator.Item) []dedupe.Prepared {
	return prepareInto(nil, opts, items)
}

// clearAll zeroes ps and returns it.
func clearAll(ps []dedupe.Prepared) []dedupe.Prepared {
	clear(ps)
	return ps
}

// prepareInto is prepareAll into dst when it has room (its elements must
// be zero), else into a new slice.
func prepareInto(dst []dedupe.Prepared, opts dedupe.Options, items []aggregator.Item) []dedupe.Prepared {
	out := dst[:0]
	if cap(out) < len(items) {
		out = make([]dedupe.Prepared, len(items))
	}
	out = out[:len(items)]
	workers := min(runtime.GOMAXPROCS(0), len(items)/64+1)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			pr := dedupe.NewPreparer(opts)
			for i := w; i < len(items); i += workers {
				out[i] = pr.Prepare(items[i])
			}
		})
	}
	wg.Wait()
	return out
}
