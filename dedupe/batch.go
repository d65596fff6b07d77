package dedupe

import (
	"cmp"
	"slices"

	"aggregator"
)

// Order is the canonical order to cluster a batch of items in: oldest
// first (Item.Time), and among reports of the same time the fullest
// (longer title and summary) first, so that it founds the story and the
// terser ones join it; then by ID, so that the order is total. A
// single-pass clustering depends on the order of its input; clustering
// each batch in this order makes the result independent of the order the
// batch came in (TestOrderIndependence).
func Order(a, b aggregator.Item) int {
	return cmp.Or(a.Time().Compare(b.Time()),
		-cmp.Compare(len(a.Title)+len(a.Summary), len(b.Title)+len(b.Summary)),
		cmp.Compare(a.ID, b.ID))
}

// AddBatch adds items in the canonical [Order], whatever their order in
// the slice, and returns their memberships in the order given (the
// representatives are those after the whole batch). The same items give
// the same memberships in any order.
func (ix *Index) AddBatch(items []aggregator.Item) []aggregator.Membership {
	idx := make([]int, len(items))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int { return Order(items[a], items[b]) })
	out := make([]aggregator.Membership, len(items))
	for _, i := range idx {
		out[i], _ = ix.Add(items[i])
	}
	return out
}
