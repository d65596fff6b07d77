package dedupe

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"time"
)

// MergeOptions configure [Index.Consolidate]. The zero value means the
// documented defaults; a field left zero takes its default.
type MergeOptions struct {
	// Threshold is the similarity two clusters need to merge: the cosine
	// of their centroids, lowered by Decay as for an item (by the time
	// between their spans). Default 0.2.
	Threshold float64
	// MinSize is the number of members each of the two clusters needs: a
	// centroid of one or two reports says too little about a story to
	// vouch for a merge, and a small cluster is better left to the next
	// report, which the item-by-item decision weighs. Default 8.
	MinSize int
	// MinCore is the number of shared terms that must be core terms of
	// both clusters (carried by more than half the members of each), so
	// that what the two have in common is what each story is about, not
	// the words a few members happen to share. Default 1.
	MinCore int
	// Rejoin is the similarity a cluster of fewer than MinSize members
	// (most often a report that founded its own cluster) needs to join a
	// cluster of MinSize or more in the same pass: the decayed cosine of
	// the two centroids, with MinShared shared terms (Options) and one
	// core term of the larger cluster. The larger centroid may have grown
	// or merged since the report was added. Default 0.25; negative
	// disables.
	Rejoin float64
	// Links is the share of the pairs of members, one from each cluster,
	// that must be alike on their own for two clusters of MinSize or more
	// with MinCore core terms in common to merge although their centroids
	// are under Threshold. A big story told from several angles (a game's
	// launch, its reviews, its PC release) forms clusters whose centroids
	// differ, each carrying the angle's words, while many of their reports
	// are close to reports of the other: the centroids miss what the
	// members show. Two members are alike when they share MinShared terms
	// (Options) and the cosine of their terms reaches Options.Threshold,
	// the item-by-item rule; at most linkSample newest members of each
	// cluster are compared. Zero or negative: off, the default. Cross-
	// validation chose 0.05 and it raises held-out recall a little, but it
	// doubles the cost of clustering a pass at 200,000 items in the window
	// (each candidate pair of big clusters compares up to linkSample²
	// members), which breaks the clustering budget; so it is opt-in.
	Links float64
}

func (o MergeOptions) withDefaults() MergeOptions {
	if o.Threshold <= 0 {
		o.Threshold = 0.2
	}
	if o.MinSize <= 0 {
		o.MinSize = 8
	}
	if o.MinCore <= 0 {
		o.MinCore = 1
	}
	if o.Rejoin == 0 {
		o.Rejoin = 0.25
	}
	return o
}

// Merge says that Consolidate merged cluster From into cluster Into:
// the members of From (Moved, item IDs in the order they joined From)
// now belong to Into, and From no longer exists.
type Merge struct {
	Into, From string
	Moved      []string
	// Score is the decayed cosine of the two centroids that passed
	// MergeOptions.Threshold (rounded to 4 decimals).
	Score float64
}

// Consolidate merges clusters that report one story but formed apart: a
// single pass compares each item with the centroids of the clusters so
// far, and once a big story has two clusters (its reviews and its launch,
// one campaign's two faces) each later report joins one of them and
// nothing joins the two. It compares each cluster named in ids that is
// alive with MinSize members or more (in the order given, the ones a
// merge removed skipped) with the clusters that share its heaviest
// terms, and merges the most similar one that passes o, repeatedly, until
// none passes. A cluster's merge decision depends only on the two
// centroids, their sizes, spans and languages, so the clusters to
// reconsider after a batch of Adds are those the batch added members to.
//
// The larger of two merged clusters survives (ties: the one whose first
// member is older, then the smaller ID): its ID stays, and the fewest
// memberships move. It returns the merges in the order made; a caller
// that stores memberships must move the items of each Merge to Into and
// drop From. The same index state and ids always give the same merges.
func (ix *Index) Consolidate(o MergeOptions, ids []string) []Merge {
	o = o.withDefaults()
	var out []Merge
	for _, id := range ids {
		c, ok := ix.byCID[id]
		for ok {
			cl := &ix.clusters[c]
			if len(cl.members) < o.MinSize {
				break
			}
			other, score := ix.mergeCandidate(c, &o)
			if other < 0 {
				break
			}
			out = append(out, ix.mergePair(c, other, score))
			c = ix.byCID[out[len(out)-1].Into]
		}
	}
	if o.Rejoin < 0 {
		return out
	}
	// Then the small clusters, against the big ones as merged.
	for _, id := range ids {
		c, ok := ix.byCID[id]
		if !ok || len(ix.clusters[c].members) >= o.MinSize {
			continue
		}
		if other, score := ix.mergeCandidate(c, &o); other >= 0 {
			out = append(out, ix.mergePair(c, other, score))
		}
	}
	return out
}

// mergePair merges clusters c and other (the larger survives) and says
// what moved.
func (ix *Index) mergePair(c, other int32, score float64) Merge {
	keep, gone := c, other
	if survives(&ix.clusters[other], &ix.clusters[c]) {
		keep, gone = other, c
	}
	m := Merge{Into: ix.clusters[keep].id, From: ix.clusters[gone].id, Score: math.Round(score*1e4) / 1e4}
	for _, s := range ix.clusters[gone].members {
		m.Moved = append(m.Moved, ix.items[s].id())
	}
	ix.merge(keep, gone)
	return m
}

// survives reports whether a, merged with b, keeps its ID: the larger
// cluster, then the older, then the smaller ID.
func survives(a, b *clusterRec) bool {
	return cmp.Or(cmp.Compare(len(b.members), len(a.members)), cmp.Compare(a.minT, b.minT), cmp.Compare(a.id, b.id)) < 0
}

// MergeClusters merges cluster from into cluster into, as Consolidate
// does when it decides to: for replaying stored merges onto an index
// (a saved index catching up with a log of decisions). It fails when
// either cluster is not in the index or both are the same.
func (ix *Index) MergeClusters(into, from string) error {
	k, ok := ix.byCID[into]
	if !ok {
		return fmt.Errorf("dedupe: merge %s into %s: no cluster %s", from, into, into)
	}
	g, ok := ix.byCID[from]
	if !ok {
		return fmt.Errorf("dedupe: merge %s into %s: no cluster %s", from, into, from)
	}
	if k == g {
		return fmt.Errorf("dedupe: merge %s into itself", into)
	}
	ix.merge(k, g)
	return nil
}

// ClusterOf returns the ID of the cluster an item of the index belongs
// to now (after any merge), and whether the item is in the index.
func (ix *Index) ClusterOf(itemID string) (string, bool) {
	s, ok := ix.byID[hashTerm(itemID)]
	if !ok {
		return "", false
	}
	return ix.clusters[ix.items[s].cluster].id, true
}

// Representative returns the ID of the representative item of cluster
// id, and whether the cluster is in the index: after Consolidate the
// survivor of a merge may have taken the other cluster's representative,
// which a caller storing clusters must store too.
func (ix *Index) Representative(id string) (string, bool) {
	c, ok := ix.byCID[id]
	if !ok {
		return "", false
	}
	return ix.items[ix.clusters[c].rep].id(), true
}

// mergeCandidate returns the cluster that cluster c should merge with
// (-1: none) and its score: found through the posting lists of c's
// heaviest centroid terms, like an item's candidates, then the best few
// compared centroid to centroid.
func (ix *Index) mergeCandidate(c int32, o *MergeOptions) (int32, float64) {
	cl := &ix.clusters[c]
	small := len(cl.members) < o.MinSize
	cent := ix.centroid(cl)
	lo, hi := minutes(cl.minT), minutes(cl.maxT)
	wm := int32(ix.opts.Window/time.Minute) + 1
	probe := topTerms(cent, ix.opts.ProbeTerms, ix.probe[:0])
	ix.probe = probe
	// A big story's own postings crowd its terms' lists: read further
	// back than an Add does.
	scan := 4 * ix.opts.PostingScan
	for _, i := range probe {
		e, ok := ix.terms[cent[i].h]
		if !ok {
			continue
		}
		post := ix.tents[e].post
		if len(post) > scan {
			post = post[len(post)-scan:]
		}
		q := cent[i].w * cent[i].idf
		for _, p := range post {
			if p.c == c || p.m < lo-wm || p.m > hi+wm {
				continue
			}
			if ix.acc[p.c] == 0 {
				ix.touched = append(ix.touched, p.c)
			}
			ix.acc[p.c] += q
		}
	}
	cands := ix.cands[:0]
	for _, t := range ix.touched {
		cands = append(cands, t)
	}
	slices.SortFunc(cands, func(a, b int32) int {
		return cmp.Or(cmp.Compare(ix.acc[b], ix.acc[a]), cmp.Compare(a, b))
	})
	for _, t := range ix.touched {
		ix.acc[t] = 0
	}
	ix.touched = ix.touched[:0]
	ix.cands = cands
	best, score := int32(-1), 0.0
	n := 0
	for _, x := range cands {
		if n == 2*ix.opts.Candidates {
			break
		}
		xc := &ix.clusters[x]
		if !xc.alive || len(xc.members) < o.MinSize {
			continue
		}
		n++
		if !sameLanguage(cl.lang, xc.lang) {
			continue
		}
		gap := spanGap(cl, xc, ix.opts.Window)
		if gap >= 1 {
			continue
		}
		cm := centroidMatch(cent, ix.centroid(xc), cl.norm, xc.norm, len(cl.members), len(xc.members))
		th := o.Threshold
		switch {
		case small:
			if cm.shared < ix.opts.MinShared || cm.coreB == 0 {
				continue
			}
			th = o.Rejoin
		case cm.coreBoth < o.MinCore:
			continue
		}
		s := cm.cos * (1 - ix.opts.Decay*gap)
		if s < th && !small && o.Links > 0 && s >= linkFloor*th && ix.linkShare(cl, xc) >= o.Links {
			// Accepted on the members' evidence; ranked by the
			// centroids' cosine like the rest.
			th = s
		}
		if s >= th && (best < 0 || s > score || s == score && xc.id < ix.clusters[best].id) {
			best, score = x, s
		}
	}
	return best, score
}

// linkFloor is the fraction of the threshold under which two clusters'
// centroids are too far apart for their members' links to be counted:
// it spares the comparisons of members for the many pairs of clusters
// that share one core term and little else. The merges that Links made
// on the headline set were at cosines of 0.06 to 0.17 (threshold 0.2).
const linkFloor = 0.25

// linkSample is how many of a cluster's newest members linkShare
// compares, which bounds its cost at linkSample² term-vector products
// per pair of clusters.
const linkSample = 64

// linkShare returns the share of the pairs of members of a and b (at most
// linkSample newest of each) that are alike on their own: MinShared
// shared terms and a cosine of their terms of Options.Threshold or more.
func (ix *Index) linkShare(a, b *clusterRec) float64 {
	ma, mb := a.members[max(0, len(a.members)-linkSample):], b.members[max(0, len(b.members)-linkSample):]
	// The index keeps terms by entry (termRef); match wants them with
	// their hashes, so b's sample is expanded once into one buffer.
	var (
		norms [linkSample]float64
		ends  [linkSample]int
		flat  []tw
	)
	for j, s := range mb {
		ts := ix.items[s].terms
		norms[j] = refNorm(ts)
		flat = ix.expand(flat, ts)
		ends[j] = len(flat)
	}
	links := 0
	var ta []tw
	for _, s := range ma {
		ts := ix.items[s].terms
		ta = ix.expand(ta[:0], ts)
		na := refNorm(ts)
		start := 0
		for j := range mb {
			ps := match(ta, nil, flat[start:ends[j]], na, norms[j], 1)
			start = ends[j]
			if ps.shared >= ix.opts.MinShared && ps.cos >= ix.opts.Threshold {
				links++
			}
		}
	}
	return float64(links) / float64(len(ma)*len(mb))
}

// spanGap is the time between the spans of two clusters as a fraction of
// the window (0 when they overlap; 1 or more: too far apart).
func spanGap(a, b *clusterRec, window time.Duration) float64 {
	var d int64
	switch {
	case b.minT > a.maxT:
		d = b.minT - a.maxT
	case a.minT > b.maxT:
		d = a.minT - b.maxT
	}
	if d > int64(window) {
		return 1
	}
	return float64(d) / float64(window)
}

// centroidPair compares two centroids.
type centroidPair struct {
	cos      float64
	shared   int // terms in both
	coreB    int // shared terms core in the second
	coreBoth int // shared terms core in both
}

// centroidMatch compares two centroids (norms na, nb; clusters of sa and
// sb members).
func centroidMatch(a, b []tw, na, nb float64, sa, sb int) centroidPair {
	var cp centroidPair
	if na == 0 || nb == 0 {
		return cp
	}
	var dot float64
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch {
		case a[i].h < b[j].h:
			i++
		case a[i].h > b[j].h:
			j++
		default:
			dot += float64(a[i].w*a[i].idf) * float64(b[j].w*b[j].idf)
			cp.shared++
			if core(b[j], sb) {
				cp.coreB++
				if core(a[i], sa) {
					cp.coreBoth++
				}
			}
			i++
			j++
		}
	}
	cp.cos = dot / (na * nb)
	return cp
}

// topTerms appends to out the indexes of the n terms of ts of most
// IDF-weighted weight (ties: smaller hash), heaviest first.
func topTerms(ts []tw, n int, out []int) []int {
	for i := range ts {
		out = append(out, i)
	}
	slices.SortFunc(out, func(a, b int) int {
		va, vb := ts[a].w*ts[a].idf, ts[b].w*ts[b].idf
		return cmp.Or(cmp.Compare(vb, va), cmp.Compare(ts[a].h, ts[b].h))
	})
	if len(out) > n {
		out = out[:n]
	}
	return out
}

// merge moves the members of cluster gone into cluster keep and frees
// gone: memberships, centroid (the sum of the two, pruned), span,
// representative, language, and the posting entries that named gone.
func (ix *Index) merge(keep, gone int32) {
	k, g := &ix.clusters[keep], &ix.clusters[gone]
	// Postings first, while gone's members still say where they were.
	seen := map[int32]bool{}
	for _, s := range g.members {
		for _, x := range ix.items[s].terms {
			e := x.e
			if seen[e] {
				continue
			}
			seen[e] = true
			post := ix.tents[e].post
			for i := range post {
				if post[i].c == gone {
					post[i].c = keep
				}
			}
		}
	}
	cent := addTerms(ix.centroid(k), ix.centroid(g), 1)
	cent, ix.vals = prune(cent, ix.opts.CentroidTerms, ix.vals)
	k.cent = slices.Clip(cent)
	k.norm = vecNorm(k.cent)
	for _, s := range g.members {
		ix.items[s].cluster = keep
	}
	k.members = append(k.members, g.members...)
	k.minT, k.maxT = min(k.minT, g.minT), max(k.maxT, g.maxT)
	if ix.items[g.rep].rk.better(ix.items[k.rep].rk) {
		k.rep = g.rep
	}
	if k.lang == langUnknown {
		k.lang = g.lang
	}
	delete(ix.byCID, g.id)
	*g = clusterRec{}
	ix.cfree = append(ix.cfree, gone)
}
