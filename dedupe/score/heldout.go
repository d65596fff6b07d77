package score

import "sort"

// ScoreHeldOut scores the held-out items of a clustering of a larger set:
// gold labels every item clustered (item → story), pred gives each its
// predicted cluster (a missing item is a singleton), and held picks the
// items scored. Stories must not straddle held and the rest (a
// story-disjoint split), so a predicted cluster that mixes held-out items
// with others is wrong for those pairs.
//
// B-cubed averages over the held-out items, with C(i) the whole predicted
// cluster (other items included, each a wrong member) and G(i) the gold
// story. Pairwise counts the pairs with at least one held-out item:
// predicted pairs are those of the predicted clusters, gold pairs those
// of the held-out stories. With every item held out this is [Score].
func ScoreHeldOut(gold, pred map[string]string, held map[string]bool) Result {
	type cell struct{ g, p string }
	ids := make([]string, 0, len(gold))
	for id := range gold {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	predOf := func(id string) string {
		if p, ok := pred[id]; ok {
			return p
		}
		return "\x00singleton:" + id
	}
	cells := map[cell]int{}
	gsize := map[string]int{}
	psize, pheld := map[string]int{}, map[string]int{}
	for _, id := range ids {
		p := predOf(id)
		psize[p]++
		if !held[id] {
			continue
		}
		cells[cell{gold[id], p}]++
		gsize[gold[id]]++
		pheld[p]++
	}
	pairs := func(n int) float64 { return float64(n) * float64(n-1) / 2 }
	var both, inPred, inGold float64
	for _, n := range cells {
		both += pairs(n)
	}
	for p, s := range pheld {
		// Pairs of the cluster with at least one held-out member.
		inPred += pairs(psize[p]) - pairs(psize[p]-s)
	}
	for _, n := range gsize {
		inGold += pairs(n)
	}
	n := 0
	for _, s := range gsize {
		n += s
	}
	r := Result{Items: n, PairP: 1}
	if inPred > 0 {
		r.PairP = both / inPred
	}
	if inGold > 0 {
		r.PairR = both / inGold
	}
	r.PairF1 = f1(r.PairP, r.PairR)
	var bp, br float64
	for c, k := range cells {
		bp += float64(k) * float64(k) / float64(psize[c.p])
		br += float64(k) * float64(k) / float64(gsize[c.g])
	}
	if n > 0 {
		r.B3P, r.B3R = bp/float64(n), br/float64(n)
	}
	r.B3F1 = f1(r.B3P, r.B3R)
	return r
}
