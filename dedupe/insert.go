package dedupe

import (
	"math"
	"slices"
	"time"
)

// newCluster allocates an empty cluster with the given ID.
func (ix *Index) newCluster(id string) int32 {
	var c int32
	if n := len(ix.cfree); n > 0 {
		c = ix.cfree[n-1]
		ix.cfree = ix.cfree[:n-1]
	} else {
		c = int32(len(ix.clusters))
		ix.clusters = append(ix.clusters, clusterRec{})
		ix.acc = append(ix.acc, 0)
	}
	ix.clusters[c] = clusterRec{id: id, alive: true, rep: -1, minT: math.MaxInt64, maxT: math.MinInt64}
	ix.byCID[id] = c
	return c
}

// insert records an item with features f (IDF already stamped) as a member
// of cluster c.
func (ix *Index) insert(id string, t int64, f *features, c int32) {
	for i, x := range f.terms {
		e := f.ents[i]
		if e < 0 {
			e = ix.newTerm(x.h)
			f.ents[i] = e
		}
		te := &ix.tents[e]
		te.df++
		te.seen++
	}
	ix.total++
	ix.countPairs(f)
	ix.place(id, hashTerm(id), t, f, c)
	ix.join(&ix.clusters[c], f.terms)
}

// countPairs counts the title pairs of f (IDF stamped) in the template
// statistics, after ix.total counted the item.
func (ix *Index) countPairs(f *features) {
	if ix.opts.TemplateDays > 0 {
		ix.tmpl.add(f, ix.total)
	}
}

// newTerm allocates the entry of a term not in the index.
func (ix *Index) newTerm(h uint64) int32 {
	var e int32
	if n := len(ix.tfree); n > 0 {
		e = ix.tfree[n-1]
		ix.tfree = ix.tfree[:n-1]
	} else {
		e = int32(len(ix.tents))
		ix.tents = append(ix.tents, termEntry{})
	}
	ix.tents[e].h = h
	ix.terms[h] = e
	return e
}

// place records an item whose terms are counted (f.ents set) in the item
// table, the posting lists, the exact keys and cluster c, whose centroid
// it leaves to the caller. hid is hashTerm(id).
func (ix *Index) place(id string, hid uint64, t int64, f *features, c int32) {
	var s int32
	if n := len(ix.free); n > 0 {
		s = ix.free[n-1]
		ix.free = ix.free[:n-1]
	} else {
		s = int32(len(ix.items))
		ix.items = append(ix.items, itemRec{})
	}
	rk := f.rk
	rk.id = id // the same string: the item's ID is kept once
	// The index keeps the terms by entry; f.terms is left to the caller.
	terms := make([]termRef, len(f.terms))
	for i, x := range f.terms {
		terms[i] = termRef{e: f.ents[i], w: x.w, idf: x.idf}
	}
	ix.items[s] = itemRec{cluster: c, alive: true, terms: terms,
		keys: [3]uint64{f.guid, f.url, f.title}, rk: rk}
	ix.byID[hid] = s
	ix.live++
	// Only the item's heaviest terms go into the posting lists: lookups
	// use the heaviest terms too, and the lighter ones (mostly summary
	// words) would add postings that are never the way a story is found.
	tm := minutes(t)
	for _, i := range ix.top(f, ix.opts.PostTerms) {
		te := &ix.tents[f.ents[i]]
		if n := len(te.post); n > 0 && te.post[n-1].c == c {
			te.post[n-1].m = max(te.post[n-1].m, tm)
		} else {
			te.post = append(te.post, posting{c: c, m: tm})
		}
	}
	for _, k := range ix.items[s].keys {
		if k == 0 {
			continue
		}
		if _, ok := ix.exact[k]; !ok {
			ix.exact[k] = s
		}
	}
	cl := &ix.clusters[c]
	if cl.lang == langUnknown {
		cl.lang = f.lang
	}
	cl.members = append(cl.members, s)
	cl.minT, cl.maxT = min(cl.minT, t), max(cl.maxT, t)
	if cl.rep < 0 || f.rk.better(ix.items[cl.rep].rk) {
		cl.rep = s
	}
}

// join adds the terms of cl's newest member to its centroid: nothing to
// keep for a singleton, whose centroid is its member's terms; otherwise
// the sum with the centroid so far, pruned to the heaviest terms.
func (ix *Index) join(cl *clusterRec, terms []tw) {
	if len(cl.members) == 1 {
		cl.cent, cl.norm = nil, vecNorm(terms)
		return
	}
	buf := addTermsTo(ix.cbufs[0][:0], ix.centroidIn(cl, 0), terms, 1)
	ix.cbufs[0] = buf
	setCentroid(cl, ix.pruned(buf))
	cl.norm = vecNorm(cl.cent)
}

// setCentroid makes a copy of c cl's centroid, in the old centroid's
// memory when it is large enough: a centroid soon holds its CentroidTerms
// terms, and a join then allocates nothing. c must not overlap the old
// centroid (unless it is the old centroid itself). No other cluster or
// item shares a centroid's memory: it is always a copy or a new sum.
func setCentroid(cl *clusterRec, c []tw) {
	if cl.cent != nil && cap(cl.cent) >= len(c) {
		cl.cent = append(cl.cent[:0], c...)
		return
	}
	cl.cent = slices.Clone(c)
}

// addTerms returns a + sign*b as a new slice: weights summed per term, the
// IDF snapshot taken from b where b has the term, terms whose weight falls
// to (about) zero dropped.
func addTerms(a, b []tw, sign float32) []tw {
	return addTermsTo(make([]tw, 0, len(a)+len(b)), a, b, sign)
}

// addTermsTo is addTerms appending to out, which must not overlap a or b.
func addTermsTo(out, a, b []tw, sign float32) []tw {
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case j == len(b) || i < len(a) && a[i].h < b[j].h:
			out = append(out, a[i])
			i++
		case i == len(a) || b[j].h < a[i].h:
			if sign > 0 {
				out = append(out, b[j])
			}
			j++
		default:
			x := tw{h: a[i].h, w: a[i].w + sign*b[j].w, idf: a[i].idf}
			if sign > 0 {
				x.idf = b[j].idf
			}
			if x.w > 1e-4 {
				out = append(out, x)
			}
			i++
			j++
		}
	}
	return out
}

// pruned keeps the CentroidTerms heaviest terms of c (by IDF-weighted
// weight; among equal weights the smaller hashes), in place and still
// sorted by hash.
func (ix *Index) pruned(c []tw) []tw {
	c, ix.vals = prune(c, ix.opts.CentroidTerms, ix.vals)
	return c
}

// prune keeps the k heaviest terms of c (by IDF-weighted weight; among
// equal weights the smaller hashes), in place and still sorted by hash. It
// returns them (capacity clipped) and vals, scratch space for the next
// call.
func prune(c []tw, k int, vals []float32) ([]tw, []float32) {
	if len(c) <= k {
		return c, vals
	}
	vals = vals[:0]
	for _, x := range c {
		vals = append(vals, x.w*x.idf)
	}
	// The k-th heaviest weight is the (len-k)-th lightest: select it
	// rather than sort (most calls drop a few terms of some 70).
	kth := selectNth(vals, len(vals)-k)
	above := 0 // terms strictly heavier than the k-th: all kept
	for _, v := range vals {
		if v > kth {
			above++
		}
	}
	ties := k - above
	out := c[:0]
	for _, x := range c {
		switch v := x.w * x.idf; {
		case v > kth:
			out = append(out, x)
		case v == kth && ties > 0:
			out = append(out, x)
			ties--
		}
	}
	return out[:len(out):len(out)], vals
}

// selectNth returns the value that sorting v ascending would put at index
// n, reordering v (quickselect, median of three pivots).
func selectNth(v []float32, n int) float32 {
	lo, hi := 0, len(v)-1
	for hi > lo {
		if hi-lo < 16 {
			// Insertion sort of the short range left.
			for i := lo + 1; i <= hi; i++ {
				for j := i; j > lo && v[j] < v[j-1]; j-- {
					v[j], v[j-1] = v[j-1], v[j]
				}
			}
			return v[n]
		}
		mid := lo + (hi-lo)/2
		if v[mid] < v[lo] {
			v[mid], v[lo] = v[lo], v[mid]
		}
		if v[hi] < v[lo] {
			v[hi], v[lo] = v[lo], v[hi]
		}
		if v[hi] < v[mid] {
			v[hi], v[mid] = v[mid], v[hi]
		}
		p := v[mid]
		i, j := lo, hi
		for i <= j {
			for v[i] < p {
				i++
			}
			for v[j] > p {
				j--
			}
			if i <= j {
				v[i], v[j] = v[j], v[i]
				i++
				j--
			}
		}
		switch {
		case n <= j:
			hi = j
		case n >= i:
			lo = i
		default:
			return v[n] // between j and i: equal to the pivot
		}
	}
	return v[n]
}

// vecNorm is the norm of IDF-weighted terms.
func vecNorm(ts []tw) float64 {
	var n float64
	for _, x := range ts {
		v := float64(x.w * x.idf)
		n += v * v
	}
	return math.Sqrt(n)
}

// Expire forgets the items whose Time is before now minus the window, so
// that memory stays bounded by the window. Clusters lose those members
// (their centroid, time span and representative are updated; their ID
// stays); a cluster left without members is dropped.
func (ix *Index) Expire(now time.Time) {
	cutoff := now.Add(-ix.opts.Window).UnixNano()
	var touched []int32
	deadTerms := map[int32]bool{}
	for s := range ix.items {
		it := &ix.items[s]
		if !it.alive || it.rk.t >= cutoff {
			continue
		}
		it.alive = false
		delete(ix.byID, hashTerm(it.id()))
		ix.live--
		for _, k := range it.keys {
			if k != 0 && ix.exact[k] == int32(s) {
				delete(ix.exact, k)
			}
		}
		cl := &ix.clusters[it.cluster]
		if len(cl.members) > 1 && cl.cent != nil {
			// Before the loop below frees the entries (and hashes) of
			// terms seen once.
			ix.xbufs[0] = ix.expand(ix.xbufs[0][:0], it.terms)
			cl.cent = addTerms(cl.cent, ix.xbufs[0], -1)
		}
		for _, x := range it.terms {
			e := x.e
			te := &ix.tents[e]
			te.df--
			switch {
			case te.df <= 0 && te.seen <= 1:
				// Seen once: forgetting it changes its IDF negligibly
				// and bounds memory to the window plus the terms seen
				// twice or more.
				delete(ix.terms, te.h)
				*te = termEntry{}
				ix.tfree = append(ix.tfree, e)
				delete(deadTerms, e)
			case te.df <= 0:
				te.post = nil
				delete(deadTerms, e)
			default:
				deadTerms[e] = true
			}
		}
		cl.members = slices.DeleteFunc(cl.members, func(m int32) bool { return m == int32(s) })
		touched = append(touched, it.cluster)
		it.terms = nil
		ix.free = append(ix.free, int32(s))
	}
	slices.Sort(touched)
	touched = slices.Compact(touched)
	var dead []int32
	for _, c := range touched {
		cl := &ix.clusters[c]
		if len(cl.members) == 0 {
			delete(ix.byCID, cl.id)
			*cl = clusterRec{}
			dead = append(dead, c)
			continue
		}
		cl.minT, cl.maxT, cl.rep = math.MaxInt64, math.MinInt64, -1
		for _, m := range cl.members {
			it := &ix.items[m]
			cl.minT, cl.maxT = min(cl.minT, it.rk.t), max(cl.maxT, it.rk.t)
			if cl.rep < 0 || it.rk.better(ix.items[cl.rep].rk) {
				cl.rep = m
			}
		}
		if len(cl.members) == 1 {
			cl.cent = nil
		}
		cl.norm = ix.centroidNorm(cl)
	}
	if len(dead) == 0 {
		return
	}
	// Drop posting entries of dead clusters before their slots are reused.
	for e := range deadTerms {
		te := &ix.tents[e]
		te.post = slices.DeleteFunc(te.post, func(p posting) bool { return !ix.clusters[p.c].alive })
	}
	slices.Reverse(dead)
	ix.cfree = append(ix.cfree, dead...)
}
