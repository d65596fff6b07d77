package dedupe

import (
	"slices"

	"aggregator"
)

// RestoreBatch re-inserts stored decisions in bulk: for each i in order,
// the item of ps[i] joins cluster ms[i].Cluster (its own ID when empty),
// which is created if needed, exactly as RestorePrepared(ps[i], ms[i])
// would, so the index ends in the same state and later Adds decide the
// same. An item whose ID is already in the index is skipped, as are the
// memberships' other fields. ps and ms must have the same length; the
// prepared items are consumed (their terms become the index's), so do not
// restore or add them again elsewhere.
//
// It is the fast way to rebuild an index at start-up, when nothing needs
// deciding: the centroid of a cluster is brought up to date once per call
// for all the members the call gave it, folding them in the order they
// were restored (a centroid keeps only its heaviest terms after each
// member, so the order matters and is kept), and no per-item scratch is
// allocated.
//
// Calling contract: read the stored items with their memberships in
// chunks (a few thousand), prepare each chunk (on every core, with one
// [Preparer] per goroutine; the next chunk can be prepared while this one
// is restored), and call RestoreBatch once per chunk, in the order the
// items should be restored; then call [Index.Expire]. The index is
// complete after every call: there is no final step, and Add, Restore and
// Expire may follow any call. Items prepared for other options are
// extracted again with the index's own.
func (ix *Index) RestoreBatch(ps []Prepared, ms []aggregator.Membership) {
	if len(ps) != len(ms) {
		panic("dedupe: RestoreBatch with different numbers of items and memberships")
	}
	ix.reserve(len(ps))
	for i := range ps {
		p := &ps[i]
		hid := hashTerm(p.it.ID)
		if _, ok := ix.byID[hid]; ok {
			continue
		}
		f := p.f
		if p.opts != ix.opts {
			f = extract(&ix.opts, p.it, &ix.sc)
		}
		id := ms[i].Cluster
		if id == "" {
			id = p.it.ID
		}
		c, ok := ix.byCID[id]
		if !ok {
			c = ix.newCluster(id)
		}
		ix.count(&f)
		ix.countPairs(&f)
		ix.place(p.it.ID, hid, p.it.Time().UnixNano(), &f, c)
		if cl := &ix.clusters[c]; !cl.pending {
			cl.pending = true
			ix.pending = append(ix.pending, pendingCluster{c: c, from: int32(len(cl.members) - 1)})
		}
	}
	ix.settle()
}

// reserve makes room for n more items, their clusters and some new
// terms, doubling the tables when they are full: append's growth by a
// quarter at this size would copy a large index many times over.
func (ix *Index) reserve(n int) {
	ix.items = growBy(ix.items, n-len(ix.free))
	ix.clusters = growBy(ix.clusters, n-len(ix.cfree))
	ix.acc = growBy(ix.acc, n-len(ix.cfree))
	ix.tents = growBy(ix.tents, n-len(ix.tfree))
}

// growBy returns s with room for n more elements, at least doubling its
// capacity when it must grow.
func growBy[S ~[]E, E any](s S, n int) S {
	if n <= cap(s)-len(s) {
		return s
	}
	return slices.Grow(s, max(n, len(s)))
}

// pendingCluster is a cluster whose members from index from on are not in
// its centroid yet.
type pendingCluster struct {
	c, from int32
}

// count stamps each term of f with its current IDF (as weigh) and counts
// the item in the terms' statistics (as insert), in one look-up per term.
func (ix *Index) count(f *features) {
	ix.ents = slices.Grow(ix.ents[:0], len(f.terms))[:len(f.terms)]
	f.ents = ix.ents
	for i := range f.terms {
		x := &f.terms[i]
		e, ok := ix.terms[x.h]
		if !ok {
			e = ix.newTerm(x.h)
		}
		te := &ix.tents[e]
		x.idf = ix.idf(te.seen)
		te.df++
		te.seen++
		f.ents[i] = e
	}
	ix.markTemplates(f)
	ix.total++
}

// settle brings the centroids of the pending clusters up to date, as join
// would have member by member.
func (ix *Index) settle() {
	for _, p := range ix.pending {
		cl := &ix.clusters[p.c]
		cl.pending = false
		if len(cl.members) == 1 {
			cl.cent, cl.norm = nil, refNorm(ix.items[cl.members[0]].terms)
			continue
		}
		// Two buffers in turn: each sum reads the one before.
		cur := ix.centroidIn(cl, 0)
		for k, s := range cl.members[max(p.from, 1):] {
			ix.xbufs[1] = ix.expand(ix.xbufs[1][:0], ix.items[s].terms)
			buf := addTermsTo(ix.cbufs[k%2][:0], cur, ix.xbufs[1], 1)
			ix.cbufs[k%2] = buf
			cur = ix.pruned(buf)
		}
		setCentroid(cl, cur)
		cl.norm = vecNorm(cl.cent)
	}
	ix.pending = ix.pending[:0]
}
