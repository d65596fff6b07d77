package main

import (
	"math/rand/v2"
	"slices"

	"aggregator/dedupe"
	"aggregator/dedupe/score"
)

// Examples replays items in order through an index with the default
// options but the cosine decision (so that the pairs do not depend on the
// model being fitted) and returns, for each item that use accepts, its eligible
// similarity candidates as labelled pairs. A candidate's label comes from
// the members accepted by use only: same when the item's story is the one
// most of them report (ties: the smaller story ID); a candidate with no
// such member gives no example.
func Examples(items []score.Item, use func(id string) bool) []dedupe.Example {
	out := examplesInOrder(items, use)
	// The same items in shuffled orders too (seeded), so that the model
	// learns pairs as they come when items arrive out of time order, not
	// only the file's order: this keeps its decisions stable under
	// reordering (TestOrder).
	for seed := range uint64(shuffles) {
		order := slices.Clone(items)
		r := rand.New(rand.NewPCG(seed+1, 3))
		r.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		out = append(out, examplesInOrder(order, use)...)
	}
	return out
}

// shuffles is how many shuffled orders Examples replays besides the file's.
const shuffles = 2

func examplesInOrder(items []score.Item, use func(id string) bool) []dedupe.Example {
	ix := dedupe.New(dedupe.Options{Decision: dedupe.DecideCosine})
	// stories counts, per cluster, the stories of its usable members.
	stories := map[string]map[string]int{}
	var out []dedupe.Example
	for _, it := range items {
		fi := it.Feed()
		ok := use(it.ID)
		if ok {
			for _, c := range ix.Candidates(fi) {
				if !c.Eligible {
					continue
				}
				major, best := "", 0
				for st, n := range stories[c.Cluster] {
					if n > best || n == best && st < major {
						major, best = st, n
					}
				}
				if best == 0 {
					continue
				}
				out = append(out, dedupe.Example{X: c.Features, Same: major == it.Story})
			}
		}
		m, _ := ix.Add(fi)
		if ok {
			if stories[m.Cluster] == nil {
				stories[m.Cluster] = map[string]int{}
			}
			stories[m.Cluster][it.Story]++
		}
	}
	return out
}
