package pipeline

import (
	"context"
	"fmt"
	"time"

	"aggregator"
)

// EnableFeed re-enables a feed that was disabled (410 Gone, or stopped by
// hand) and makes it due now; a running daemon fetches it at once. It
// reports whether the feed was disabled.
func (p *Pipeline) EnableFeed(ctx context.Context, name string) (bool, error) {
	st, ok, err := p.store.FeedState(ctx, name)
	if err != nil {
		return false, err
	}
	if !ok || !st.Disabled {
		return false, nil
	}
	st.Disabled, st.DisabledReason = false, ""
	st.ConsecutiveErrors = 0
	st.NextFetch = time.Time{}
	if err := p.store.PutFeedState(ctx, st); err != nil {
		return false, err
	}
	if s := p.scheduler(); s != nil {
		s.Put(st)
	}
	return true, nil
}

// DeleteFeed removes a feed's stored items and state (leaving
// tombstones, so its items never come back as new) and returns the state
// it had. The dedupe index, which the deletion makes inexact, is loaded
// again before the next clustering.
func (p *Pipeline) DeleteFeed(ctx context.Context, name string) (aggregator.FeedState, error) {
	st, ok, err := p.store.FeedState(ctx, name)
	if err != nil {
		return st, err
	}
	if !ok {
		return st, fmt.Errorf("no stored feed named %q", name)
	}
	p.clusterMu.Lock()
	defer p.clusterMu.Unlock()
	if err := p.store.DeleteFeed(ctx, name); err != nil {
		return st, err
	}
	p.mu.Lock()
	p.resetIndexLocked()
	p.mu.Unlock()
	if s := p.scheduler(); s != nil {
		s.Forget(name)
	}
	p.changed()
	return st, nil
}
