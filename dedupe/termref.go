package dedupe

import "math"

// termRef is a term of an item as the index keeps it: the term's entry in
// Index.tents instead of its hash (the entry holds the hash), its weight
// and its IDF snapshot, as in the item's features. 12 bytes, not the 16 of
// a tw: at a million items of some 37 terms each the items' term lists
// are over half the index. A term's entry outlives every item that has
// the term (its df counts them), so the reference stays valid while the
// item is in the window.
type termRef struct {
	e   int32
	w   float32
	idf float32
}

// refNorm is vecNorm of an item's terms as the index keeps them: the same
// sum in the same order, so the same bits.
func refNorm(ts []termRef) float64 {
	var n float64
	for _, x := range ts {
		v := float64(x.w * x.idf)
		n += v * v
	}
	return math.Sqrt(n)
}

// entryTable maps the term entries of one item to the indexes of its
// terms: open addressing with linear probing, sized to at most half
// full, so that a look-up is a probe or two in a few cache lines.
type entryTable struct {
	keys []int32 // entry+1; 0 for an empty slot
	vals []int32 // index into the item's terms
	mask uint32
}

// reset makes t the table of ents (features.ents: -1 for a term the index
// does not hold, which no item it holds can share).
func (t *entryTable) reset(ents []int32) {
	n := 16
	for n < 2*len(ents) {
		n *= 2
	}
	if cap(t.keys) < n {
		t.keys, t.vals = make([]int32, n), make([]int32, n)
	} else {
		t.keys, t.vals = t.keys[:n], t.vals[:n]
		clear(t.keys)
	}
	t.mask = uint32(n - 1)
	for i, e := range ents {
		if e < 0 {
			continue
		}
		j := slotOf(e) & t.mask
		for t.keys[j] != 0 {
			j = (j + 1) & t.mask
		}
		t.keys[j], t.vals[j] = e+1, int32(i)
	}
}

// find returns the index of the term with entry e, or -1.
func (t *entryTable) find(e int32) int32 {
	for j := slotOf(e) & t.mask; ; j = (j + 1) & t.mask {
		switch t.keys[j] {
		case e + 1:
			return t.vals[j]
		case 0:
			return -1
		}
	}
}

// slotOf spreads entry numbers, which are dense, over the table.
func slotOf(e int32) uint32 { return uint32(e) * 0x9e3779b1 >> 7 }

// matchRefs is match for a singleton: the item's terms q (flags qf, norm
// qn, entries in t) against the terms c of the cluster's one member (norm
// cn). Both are sorted by hash, so the shared terms come in the order
// match meets them, and the sums are the same to the bit.
func matchRefs(q []tw, qf []uint8, t *entryTable, c []termRef, qn, cn float64) pairStats {
	var ps pairStats
	if qn == 0 || cn == 0 {
		return ps
	}
	var dot, sq, sc float64
	for j := range c {
		i := t.find(c[j].e)
		if i < 0 {
			continue
		}
		a, b := float64(q[i].w*q[i].idf), float64(c[j].w*c[j].idf)
		dot += a * b
		sq += a * a
		sc += b * b
		ps.maxIDF = max(ps.maxIDF, float64(q[i].idf))
		ps.shared++
		if coreWeight(c[j].w, 1) {
			ps.core++
		}
		if qf == nil || qf[i] == 0 {
			ps.specific++
		}
	}
	ps.cos = dot / (qn * cn)
	ps.covQ, ps.covC = sq/(qn*qn), sc/(cn*cn)
	return ps
}
