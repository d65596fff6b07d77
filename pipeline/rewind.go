package pipeline

import (
	"context"
	"errors"
	"maps"
	"slices"
	"time"

	"aggregator"
	"aggregator/dedupe"
)

// Clustering is order-dependent: items are meant to go into the index
// oldest first, and a pass sorts its items so. Items that arrive after
// newer ones were clustered (a feed added with its archive, an outlet
// that was down for a day, a second pass over other feeds) would join
// the index out of time order and make other stories than one pass over
// everything. When a batch holds items older than the newest clustered
// one by more than Options.RewindAfter, the pipeline rewinds instead: it
// clusters anew, on a fresh index, every stored item (or, when they are
// more than MaxRewind, those from two windows before the oldest late item
// on), together with the late items, oldest first: the pass over
// everything that time order asks for. (Restoring
// the older items into an index and deciding only on the newer ones
// would not do: an index rebuilt from decisions differs from the one
// that made them in its word statistics, since those are learned item by
// item.) The new decisions replace the old ones in one transaction
// (Decisions.Rewound, which resets the cluster log), and the index is
// saved at once.
//
// A rewind costs what a pass over the items it reads costs, so it is
// bounded: when it would read more than Options.MaxRewind items, the late
// items are clustered in arrival order as before. Stories whose oldest
// report changes get that report's ID: a reader sees the story once more
// under its new ID.

// errRewindTooBig stops the scan of a rewind that would exceed MaxRewind.
var errRewindTooBig = errors.New("rewind too big")

// late is the time before which an item of a batch starts a rewind: zero
// when no rewind applies.
func (p *Pipeline) lateBefore() time.Time {
	if p.opts.RewindAfter < 0 || p.clustered.IsZero() || !p.loaded {
		return time.Time{}
	}
	return p.clustered.Add(-p.opts.RewindAfter)
}

// rewindLocked clusters items (sorted by clusterOrder, the first older
// than lateBefore) together with the stored items from two windows before
// the first of them, as one pass. It reports false, having changed
// nothing, when that would read more than MaxRewind items. p.mu must be
// held.
func (p *Pipeline) rewindLocked(ctx context.Context, items []aggregator.Item) (bool, error) {
	now := p.opts.Now()
	from := minTime(items[0].Time(), now)
	window := p.opts.Dedupe.Window
	// Everything stored, when that is few enough: then the rewind is
	// exactly the one pass; else the two windows before the late items.
	var (
		redo []aggregator.Item
		had  = map[string]aggregator.Membership{} // the stored decisions
	)
	read := func(since time.Time) error {
		redo = redo[:0]
		clear(had)
		return p.store.Recent(ctx, since, func(it aggregator.Item, m aggregator.Membership) error {
			if len(redo) >= p.opts.MaxRewind {
				return errRewindTooBig
			}
			redo = append(redo, it)
			had[it.ID] = m
			return nil
		})
	}
	err := read(time.Time{})
	if errors.Is(err, errRewindTooBig) {
		err = read(from.Add(-2 * window))
	}
	if errors.Is(err, errRewindTooBig) {
		p.log.Info("late items clustered in arrival order: a rewind would read too many items",
			"late_from", from.Format(time.RFC3339), "max_rewind", p.opts.MaxRewind)
		return false, nil
	}
	if err != nil {
		return false, err
	}

	all := append(redo, items...)
	slices.SortFunc(all, clusterOrder)
	ix := dedupe.New(p.opts.Dedupe)
	var (
		ms      = make([]aggregator.Membership, 0, len(all))
		reps    = map[string]string{}
		latest  time.Time
		expired time.Time
		mg      merger
	)
	// Chunk by chunk, as a pass over these items would: Store.Pending's
	// chunks, which keep the items of one time together.
	for lo, hi := 0, 0; lo < len(all); lo = hi {
		hi = chunkEnd(all, lo)
		chunk := all[lo:hi]
		for _, it := range chunk {
			if t := minTime(it.Time(), now); t.After(latest) {
				latest = t
			}
		}
		expired = latest.Add(-window)
		ix.Expire(expired)
		cms, creps := addPrepared(ix, &mg, p.opts.mergeOptions(), chunk, prepareAll(p.opts.Dedupe, chunk), now)
		ms = append(ms, cms...)
		maps.Copy(reps, creps)
		if err := ctx.Err(); err != nil {
			return false, err // nothing stored, p.ix untouched
		}
	}
	for _, m := range ms {
		if m.Reason == aggregator.ReasonMerged {
			delete(reps, m.Matched) // merged away in a later chunk
		}
	}
	// Only what changed is written, so that stories the rewind leaves as
	// they were are not marked updated: an item whose last decision (a
	// merge may have moved it after it joined) is the stored one keeps it.
	final := make(map[string]aggregator.Membership, len(ms))
	for _, m := range ms {
		final[m.Item] = m
	}
	ms = slices.DeleteFunc(ms, func(m aggregator.Membership) bool {
		old, ok := had[m.Item]
		f := final[m.Item]
		return ok && old.Cluster == f.Cluster && old.Reason == f.Reason && old.Matched == f.Matched
	})
	err = p.store.SaveDecisions(context.WithoutCancel(ctx), aggregator.Decisions{
		Memberships: ms, Representatives: reps, Now: now, ExpiredBefore: expired, Rewound: true,
		Fenced: true, Base: p.seq,
	})
	if err != nil {
		return false, err
	}
	p.seq++
	p.ix, p.merger, p.latest, p.clustered = ix, mg, maxTime(latest, p.latest), maxTime(latest, p.clustered)
	p.delta, p.rebuilt = 0, true
	p.log.Info("rewound to cluster late items in time order", "late", len(items), "reclustered", len(redo), "changed", len(ms)-len(items),
		"from", from.Format(time.RFC3339))
	if err := p.saveLocked(ctx); err != nil {
		p.log.Warn("saving the dedupe index after a rewind failed; a crash now means a rebuild", "err", err)
	}
	return true, nil
}

// chunkEnd is where the chunk of items (in time order) that starts at lo
// ends: clusterChunk items, more to finish a group of one time, but at
// most 16 times as many, as Store.Pending cuts them.
func chunkEnd(items []aggregator.Item, lo int) int {
	hi := min(lo+clusterChunk, len(items))
	for hi < len(items) && hi-lo < 16*clusterChunk && items[hi].Time().Equal(items[hi-1].Time()) {
		hi++
	}
	return hi
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
