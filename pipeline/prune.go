package pipeline

import (
	"context"
	"time"

	"aggregator"
)

// Prune removes the items Options.Keep no longer keeps (see
// Store.Prune), never one the dedupe index may still hold: the cutoff is
// at most the index's horizon, so the index (and its saved copy) stays
// exact.
func (p *Pipeline) Prune(ctx context.Context) (aggregator.PruneResult, error) {
	if p.opts.Keep <= 0 {
		return aggregator.PruneResult{}, nil
	}
	p.mu.Lock()
	latest, loaded := p.latest, p.loaded
	p.mu.Unlock()
	if !loaded {
		l, err := p.store.Latest(ctx)
		if err != nil {
			return aggregator.PruneResult{}, err
		}
		latest = minTime(l, p.opts.Now())
	}
	horizon := latest.Add(-2 * p.opts.Dedupe.Window)
	cutoff := minTime(p.opts.Now().Add(-p.opts.Keep), horizon)
	res, err := p.store.Prune(ctx, cutoff, p.opts.KeepPerFeed)
	p.m.pruned.Add(float64(res.Items))
	if res.Items > 0 || res.Tombstones > 0 {
		p.log.Info("pruned old items", "items", res.Items, "expired_tombstones", res.Tombstones,
			"before", cutoff.Format(time.RFC3339), "keep_per_feed", p.opts.KeepPerFeed)
		p.changed()
	}
	return res, err
}
