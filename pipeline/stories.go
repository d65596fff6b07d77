package pipeline

import (
	"context"
	"errors"
	"fmt"

	"aggregator"
	"aggregator/dedupe"
)

// Version changes whenever the stories may have: publish's caches
// compare it.
func (p *Pipeline) Version() uint64 { return p.store.Version() }

// Stories returns the stories of one output, newest first, with only the
// members from the feeds it includes and their feeds resolved against the
// configuration. It serves publish.Source.
func (p *Pipeline) Stories(ctx context.Context, out aggregator.Output) ([]aggregator.Story, error) {
	p.cfgMu.RLock()
	feeds := p.feeds // replaced whole by SetFeeds, never changed in place
	p.cfgMu.RUnlock()
	q := aggregator.StoryQuery{
		Include: func(name string) bool {
			f, ok := feeds[name]
			return ok && out.Includes(f)
		},
		Limit: out.MaxItems,
	}
	if out.MaxAge > 0 {
		q.Since = p.opts.Now().Add(-out.MaxAge)
	}
	stories, err := p.store.Stories(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("output %s: %w", out.Name, err)
	}
	for i := range stories {
		st := &stories[i]
		st.Feeds = make([]aggregator.Feed, len(st.Items))
		for j, it := range st.Items {
			st.Feeds[j] = feeds[it.Feed]
		}
	}
	return stories, nil
}

// Explanation says why two stored items were or were not merged.
type Explanation struct {
	A, B         aggregator.Item
	MemA, MemB   aggregator.Membership
	SameStory    bool
	Verdict      dedupe.Explanation
	IndexedItems int
}

// Explain looks two items up (by key, else GUID or link) and explains the
// dedupe verdict with the word statistics the clustering decided with:
// it loads the index as clustering would.
func (p *Pipeline) Explain(ctx context.Context, a, b string) (Explanation, error) {
	var e Explanation
	var err error
	if e.A, err = p.FindItem(ctx, a); err != nil {
		return e, err
	}
	if e.B, err = p.FindItem(ctx, b); err != nil {
		return e, err
	}
	if e.MemA, _, err = p.store.Membership(ctx, e.A.ID); err != nil {
		return e, err
	}
	if e.MemB, _, err = p.store.Membership(ctx, e.B.ID); err != nil {
		return e, err
	}
	e.SameStory = e.MemA.Cluster != "" && e.MemA.Cluster == e.MemB.Cluster
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.loadIndexLocked(ctx); err != nil {
		return e, err
	}
	e.Verdict = p.ix.Explain(e.A, e.B)
	e.IndexedItems = p.ix.Len()
	return e, nil
}

// ErrNoItem is returned (wrapped) by FindItem when nothing matches.
var ErrNoItem = errors.New("no item")

// FindItem looks an item up by key, else by GUID or link.
func (p *Pipeline) FindItem(ctx context.Context, ref string) (aggregator.Item, error) {
	if it, ok, err := p.store.Item(ctx, ref); err != nil {
		return it, err
	} else if ok {
		return it, nil
	}
	stories, err := p.store.Stories(ctx, aggregator.StoryQuery{})
	if err != nil {
		return aggregator.Item{}, err
	}
	canon := aggregator.CanonicalURL(ref)
	for _, s := range stories {
		for _, it := range s.Items {
			if it.GUID == ref || it.URL == ref || (canon != "" && it.CanonicalURL == canon) {
				return it, nil
			}
		}
	}
	return aggregator.Item{}, fmt.Errorf("%q: %w (no key, GUID or link matches; aggregator clusters lists the keys)", ref, ErrNoItem)
}
