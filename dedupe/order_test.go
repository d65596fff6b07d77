package dedupe_test

import (
	"math/rand/v2"
	"testing"
	"time"

	"aggregator"
	"aggregator/dedupe"
	"aggregator/dedupe/score"
)

// clusterItems adds items to one index in the order given and returns
// each item's cluster, by the data's item ID (items[i] is labelled by
// ids[i]).
func clusterItems(opts dedupe.Options, items []aggregator.Item, ids []string) map[string]string {
	ix := dedupe.New(opts)
	pred := make(map[string]string, len(items))
	for i, it := range items {
		m, _ := ix.Add(it)
		pred[ids[i]] = m.Cluster
	}
	return pred
}

// agreement is the share of items whose clusters in a and b are each
// other's best match (the cluster of the other run with which they share
// the most items, ties the smaller ID): the items that report the same
// story in both runs.
func agreement(a, b map[string]string) float64 {
	type pair struct{ x, y string }
	overlap := map[pair]int{}
	for id, x := range a {
		overlap[pair{x, b[id]}]++
	}
	best := func(get func(p pair) (string, string)) map[string]string {
		out, n := map[string]string{}, map[string]int{}
		for p, k := range overlap {
			from, to := get(p)
			if k > n[from] || k == n[from] && to < out[from] {
				out[from], n[from] = to, k
			}
		}
		return out
	}
	ab := best(func(p pair) (string, string) { return p.x, p.y })
	ba := best(func(p pair) (string, string) { return p.y, p.x })
	same := 0
	for id, x := range a {
		if y := b[id]; ab[x] == y && ba[y] == x {
			same++
		}
	}
	return float64(same) / float64(len(a))
}

// clusterBatch is clusterItems with AddBatch.
func clusterBatch(opts dedupe.Options, items []aggregator.Item, ids []string) map[string]string {
	ms := dedupe.New(opts).AddBatch(items)
	pred := make(map[string]string, len(items))
	for i, m := range ms {
		pred[ids[i]] = m.Cluster
	}
	return pred
}

// TestOrderIndependence gives each development set in five random orders
// (full shuffles, seeded) to AddBatch and checks that B-cubed F1
// (date-split for the headlines) varies by at most 0.005 and that at
// least 98% of the items report the same story in every pair of orders.
// It also logs the same measure for Add item by item in the shuffled
// order, which depends on the order (not checked: see the README).
func TestOrderIndependence(t *testing.T) {
	for _, way := range []struct {
		name    string
		cluster func(dedupe.Options, []aggregator.Item, []string) map[string]string
		check   bool
	}{{"AddBatch", clusterBatch, true}, {"Add", clusterItems, false}} {
		t.Run(way.name, func(t *testing.T) {
			if !way.check && !testing.Verbose() {
				t.Skip("a measurement only: run with -v")
			}
			orderIndependence(t, way.cluster, way.check)
		})
	}
}

func orderIndependence(t *testing.T, cluster func(dedupe.Options, []aggregator.Item, []string) map[string]string, check bool) {
	for _, set := range []struct {
		file      string
		dateSplit bool
	}{{"dev.jsonl", true}, {"dev-rich.jsonl", false}} {
		t.Run(set.file, func(t *testing.T) {
			labelled := loadSet(t, set.file)
			gold, dates := map[string]string{}, map[string]time.Time{}
			for _, it := range labelled {
				gold[it.ID], dates[it.ID] = it.Story, it.Published
			}
			var preds []map[string]string
			lo, hi := 1.0, 0.0
			for seed := range uint64(5) {
				order := append([]score.Item(nil), labelled...)
				r := rand.New(rand.NewPCG(seed+1, 11))
				r.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
				items, ids := make([]aggregator.Item, len(order)), make([]string, len(order))
				for i, it := range order {
					items[i], ids[i] = it.Feed(), it.ID
				}
				pred := cluster(dedupe.Options{}, items, ids)
				g, p := gold, pred
				if set.dateSplit {
					g, p = score.SplitByDate(gold, dates), score.SplitByDate(pred, dates)
				}
				f1 := score.Score(g, p).B3F1
				lo, hi = min(lo, f1), max(hi, f1)
				t.Logf("order %d: B-cubed F1 %.4f", seed, f1)
				preds = append(preds, pred)
			}
			t.Logf("B-cubed F1 from %.4f to %.4f", lo, hi)
			if check && hi-lo > 0.005 {
				t.Errorf("B-cubed F1 from %.4f to %.4f over five orders; want within 0.005", lo, hi)
			}
			worst := 1.0
			for i := range preds {
				for j := i + 1; j < len(preds); j++ {
					worst = min(worst, agreement(preds[i], preds[j]))
				}
			}
			t.Logf("items reporting the same story in every pair of orders: at least %.4f", worst)
			if check && worst < 0.98 {
				t.Errorf("got %.4f of items in the same story in the worst pair of orders; want at least 0.98", worst)
			}
		})
	}
}
