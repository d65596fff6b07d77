package dedupe

import (
	"math"
	"slices"
	"strings"
	"time"

	"aggregator"
)

// Add clusters one new item and records it. The decision, strongest
// first: an item with the same GUID (when globally unique: at least 12
// characters, not all digits) or the same canonical URL as an item in the
// index joins that item's cluster; one with the same normalised title (of
// at least TitleMinTerms informative terms) joins that item's cluster if
// it is within the window; otherwise it joins the most similar candidate
// cluster within the window whose centroid it matches with at least the
// threshold (Threshold, ×SummaryFactor for an item with a summary, after
// the time decay), MinShared shared terms and one core term; otherwise it
// founds a cluster whose ID is its own ID.
//
// It returns the membership (Joined is it.FirstSeen; Score is rounded to
// 4 decimals) and the cluster's representative after the join. Adding an
// ID that is already in the index changes nothing and reports the item's
// cluster; an item added again after it expired rejoins the cluster it
// founded if that cluster still lives.
func (ix *Index) Add(it aggregator.Item) (m aggregator.Membership, rep string) {
	if m, rep, ok := ix.known(it); ok {
		return m, rep
	}
	f := extract(&ix.opts, it, &ix.sc)
	return ix.add(it, &f)
}

// Prepared is an item with its terms extracted: the part of Add that
// reads no index state, and about half its cost. Callers with many items
// prepare them concurrently, then add them in order with AddPrepared,
// which decides exactly as Add would.
type Prepared struct {
	it   aggregator.Item
	opts Options
	f    features
}

// Prepare extracts the terms of it for an index made with opts. It is safe to
// call from several goroutines at once; a goroutine preparing many items
// should use a Preparer, which reuses its buffers.
func Prepare(opts Options, it aggregator.Item) Prepared {
	return NewPreparer(opts).Prepare(it)
}

// Preparer prepares items for an index made with the same options,
// reusing its buffers from one item to the next. It is not safe for
// concurrent use: give each goroutine its own.
type Preparer struct {
	opts Options
	sc   scratch
}

// NewPreparer returns a Preparer for indexes made with opts.
func NewPreparer(opts Options) *Preparer { return &Preparer{opts: opts.withDefaults()} }

// Prepare extracts the terms of it.
func (p *Preparer) Prepare(it aggregator.Item) Prepared {
	return Prepared{it: it, opts: p.opts, f: extract(&p.opts, it, &p.sc)}
}

// AddPrepared is Add for a prepared item.
func (ix *Index) AddPrepared(p Prepared) (m aggregator.Membership, rep string) {
	if m, rep, ok := ix.known(p.it); ok {
		return m, rep
	}
	if p.opts != ix.opts { // prepared for another index: extract again
		return ix.Add(p.it)
	}
	f := p.f
	return ix.add(p.it, &f)
}

// RestorePrepared is Restore for a prepared item; [Index.RestoreBatch]
// restores many at once.
func (ix *Index) RestorePrepared(p Prepared, m aggregator.Membership) {
	if p.opts != ix.opts {
		ix.Restore(p.it, m)
		return
	}
	f := p.f
	ix.restore(p.it, &f, m)
}

// known reports the membership of an item already in the index.
func (ix *Index) known(it aggregator.Item) (m aggregator.Membership, rep string, ok bool) {
	s, ok := ix.byID[hashTerm(it.ID)]
	if !ok {
		return m, "", false
	}
	c := &ix.clusters[ix.items[s].cluster]
	m = aggregator.Membership{Item: it.ID, Joined: it.FirstSeen, Cluster: c.id, Reason: aggregator.ReasonGUID, Matched: it.ID, Score: 1}
	return m, ix.items[c.rep].id(), true
}

// add decides and records an item whose features are extracted.
func (ix *Index) add(it aggregator.Item, fp *features) (m aggregator.Membership, rep string) {
	m = aggregator.Membership{Item: it.ID, Joined: it.FirstSeen}
	f := *fp
	t := it.Time().UnixNano()
	ix.weigh(&f)
	var d decision
	if c, ok := ix.byCID[it.ID]; ok {
		d = decision{cluster: c, reason: aggregator.ReasonGUID, matched: ix.items[ix.clusters[c].rep].id(), score: 1}
	} else {
		d = ix.decide(&f, t)
	}
	c := d.cluster
	if c < 0 {
		c = ix.newCluster(it.ID)
		m.Reason = aggregator.ReasonFirst
	} else {
		m.Reason, m.Matched, m.Score, m.Shared = d.reason, d.matched, d.score, d.shared
	}
	ix.insert(it.ID, t, &f, c)
	cl := &ix.clusters[c]
	m.Cluster = cl.id
	return m, ix.items[cl.rep].id()
}

// Restore re-inserts an item with a decision made earlier (read back from
// storage), without deciding again: the item joins cluster m.Cluster,
// which is created if needed. Restoring the items of a run in the order
// they were added rebuilds the state that run had, so later Adds decide
// exactly as they would have without the restart; items restored in
// another order (storage gives (Time, ID) order) rebuild the same
// clusters, representatives and document frequencies, while the IDF
// snapshots in the centroids (and so the heaviest terms kept) can differ
// slightly. To rebuild a whole index at start-up, [Index.RestoreBatch] is
// the same in bulk and several times faster.
func (ix *Index) Restore(it aggregator.Item, m aggregator.Membership) {
	if _, ok := ix.byID[hashTerm(it.ID)]; ok {
		return
	}
	f := extract(&ix.opts, it, &ix.sc)
	ix.restore(it, &f, m)
}

func (ix *Index) restore(it aggregator.Item, fp *features, m aggregator.Membership) {
	if _, ok := ix.byID[hashTerm(it.ID)]; ok {
		return
	}
	f := *fp
	ix.weigh(&f)
	id := m.Cluster
	if id == "" {
		id = it.ID
	}
	c, ok := ix.byCID[id]
	if !ok {
		c = ix.newCluster(id)
	}
	ix.insert(it.ID, it.Time().UnixNano(), &f, c)
}

// weigh stamps each term of f with its current IDF.
// It also remembers each term's entry (-1: new term), so that querying
// and inserting do not look the terms up again.
func (ix *Index) weigh(f *features) {
	ix.ents = slices.Grow(ix.ents[:0], len(f.terms))[:len(f.terms)]
	f.ents = ix.ents
	for i := range f.terms {
		e, ok := ix.terms[f.terms[i].h]
		var seen int32
		if ok {
			seen = ix.tents[e].seen
		} else {
			e = -1
		}
		f.ents[i] = e
		f.terms[i].idf = ix.idf(seen)
	}
	ix.markTemplates(f)
}

// isTemplate reports whether a title pair is a template for the index.
func (ix *Index) isTemplate(g uint64) bool { return ix.tmpl.template(g, ix.opts.TemplateDays) }

// markTemplates flags and discounts the title terms of f inside template
// pairs, by the counts of the items added before it.
func (ix *Index) markTemplates(f *features) {
	if ix.opts.TemplateDays > 0 {
		f.pairs = ix.pairHashes[:0]
		ix.pairs = mark(f, ix.isTemplate, float32(ix.opts.TemplateWeight), ix.pairs)
		ix.pairHashes = f.pairs
	}
}

// decision is the outcome of decide; cluster -1 means a new cluster.
type decision struct {
	cluster int32
	reason  aggregator.Reason
	matched string
	score   float64
	shared  []string
}

func (ix *Index) decide(f *features, t int64) decision {
	for k, key := range [3]uint64{f.guid, f.url, f.title} {
		if key == 0 {
			continue
		}
		s, ok := ix.exact[key]
		if !ok {
			continue
		}
		it := &ix.items[s]
		if k == 2 && !ix.inWindow(&ix.clusters[it.cluster], t) {
			continue
		}
		reason := [...]aggregator.Reason{aggregator.ReasonGUID, aggregator.ReasonURL, aggregator.ReasonTitle}[k]
		return decision{cluster: it.cluster, reason: reason, matched: it.id(), score: 1}
	}
	c, score, shared := ix.similar(f, t)
	if c < 0 {
		return decision{cluster: -1}
	}
	cl := &ix.clusters[c]
	return decision{cluster: c, reason: aggregator.ReasonSimilar, matched: ix.items[cl.rep].id(),
		score: math.Round(score*1e4) / 1e4, shared: shared}
}

// gap is the time from t to the nearest member of c, as a fraction of the
// window (0 inside the cluster's span, capped at 1).
func (ix *Index) gap(c *clusterRec, t int64) float64 {
	var d int64
	switch {
	case t < c.minT:
		d = c.minT - t
	case t > c.maxT:
		d = t - c.maxT
	}
	return min(1, float64(d)/float64(ix.opts.Window))
}

func (ix *Index) inWindow(c *clusterRec, t int64) bool {
	w := int64(ix.opts.Window)
	return t >= c.minT-w && t <= c.maxT+w
}

// similar finds the best cluster for f by similarity: candidates from the
// posting lists of the item's most informative terms, ranked by the IDF
// mass they share, then the best few scored exactly against their
// centroids, by the cosine rule or the learned model. It returns -1 when
// none is accepted.
func (ix *Index) similar(f *features, t int64) (best int32, score float64, shared []string) {
	best = -1
	cands := ix.retrieve(f, t)
	if len(cands) == 0 {
		return best, 0, nil
	}
	qn := vecNorm(f.terms)
	th := ix.opts.Threshold
	if f.hasSummary {
		th *= ix.opts.SummaryFactor
	}
	model := ix.model(f)
	if model != nil {
		th = model.MinP
	}
	tshare := templateShare(f)
	ix.qtab.reset(f.ents)
	for _, c := range cands {
		cl := &ix.clusters[c]
		if !sameLanguage(f.lang, cl.lang) {
			continue
		}
		ps := ix.matchCluster(f, cl, qn)
		if !ix.eligible(&ps) {
			continue
		}
		gap := ix.gap(cl, t)
		s := ps.cos * (1 - ix.opts.Decay*gap)
		if model != nil {
			x := pairVector(&ps, s, gap, tshare, f, len(cl.members))
			s = model.Prob(&x)
		}
		if s < th {
			continue
		}
		if best < 0 || s > score || s == score && cl.id < ix.clusters[best].id {
			best, score = c, s
		}
	}
	if best >= 0 {
		shared, ix.shared = sharedTerms(f, ix.centroidIn(&ix.clusters[best], 0), ix.shared)
	}
	return best, score, shared
}

// eligible reports whether a candidate passes the guards that hold
// whatever decides: MinShared shared terms, one of them a core term of the
// cluster (no chaining), and MinSpecific specific ones.
func (ix *Index) eligible(ps *pairStats) bool {
	return ps.shared >= ix.opts.MinShared && ps.core > 0 && ps.specific >= ix.opts.MinSpecific
}

// retrieve returns the candidate clusters for f at time t (at most
// Candidates, best first, alive and within the window), in scratch space
// of the index.
func (ix *Index) retrieve(f *features, t int64) []int32 {
	// A text of one or two terms ("Live updates") says too little to
	// match anything by similarity.
	if len(f.terms) < 3 {
		return nil
	}
	probe := ix.topOf(f, ix.opts.ProbeTerms, true)
	tm, wm := minutes(t), int32(ix.opts.Window/time.Minute)+1
	for _, i := range probe {
		e := f.ents[i]
		if e < 0 {
			continue
		}
		post := ix.tents[e].post
		if len(post) > ix.opts.PostingScan {
			post = post[len(post)-ix.opts.PostingScan:]
		}
		q := f.terms[i].w * f.terms[i].idf
		for _, p := range post {
			// The posting's own time keeps members outside the window
			// out without reading the cluster's record.
			if d := p.m - tm; d > wm || d < -wm {
				continue
			}
			c := p.c
			if ix.acc[c] == 0 {
				ix.touched = append(ix.touched, c)
			}
			ix.acc[c] += q
		}
	}
	// Keep the clusters with the most shared IDF mass (ties: lower slot)
	// by insertion into a short sorted list, then drop those dead or out
	// of the window. Only the few kept are read: reading the record of
	// every touched cluster would cost a cache miss each.
	k := ix.opts.Candidates
	m := 2*k + 2
	cands := ix.cands[:0]
	for _, c := range ix.touched {
		if len(cands) == m && !better(ix.acc[c], c, ix.acc[cands[m-1]], cands[m-1]) {
			continue
		}
		if len(cands) < m {
			cands = append(cands, c)
		}
		i := len(cands) - 1
		for ; i > 0 && better(ix.acc[c], c, ix.acc[cands[i-1]], cands[i-1]); i-- {
			cands[i] = cands[i-1]
		}
		cands[i] = c
	}
	for _, c := range ix.touched {
		ix.acc[c] = 0
	}
	ix.touched = ix.touched[:0]
	ix.cands = cands
	cands = slices.DeleteFunc(cands, func(c int32) bool {
		cl := &ix.clusters[c]
		return !cl.alive || !ix.inWindow(cl, t)
	})
	if len(cands) > k {
		cands = cands[:k]
	}
	return cands
}

// top returns the indexes of the n terms of f of most IDF-weighted weight
// (ties: smaller hash), heaviest first, in scratch space of the index.
func (ix *Index) top(f *features, n int) []int { return ix.topOf(f, n, false) }

// topOf is top; with known, only among the terms the index holds (f.ents
// set and not -1): a term the index has never seen has no postings to
// read, and must not take a probe's place (a long CJK title has many).
func (ix *Index) topOf(f *features, n int, known bool) []int {
	top := ix.probe[:0]
	heavier := func(a, b int) bool {
		x, y := f.terms[a], f.terms[b]
		vx, vy := x.w*x.idf, y.w*y.idf
		return vx > vy || vx == vy && x.h < y.h
	}
	for i := range f.terms {
		if known && f.ents[i] < 0 {
			continue
		}
		if len(top) == n && !heavier(i, top[n-1]) {
			continue
		}
		if len(top) < n {
			top = append(top, i)
		}
		j := len(top) - 1
		for ; j > 0 && heavier(i, top[j-1]); j-- {
			top[j] = top[j-1]
		}
		top[j] = i
	}
	ix.probe = top
	return top
}

// minutes converts Unix nanoseconds to minutes, the unit of posting
// times (int32 minutes span ±4000 years).
func minutes(t int64) int32 {
	m := t / int64(time.Minute)
	return int32(max(math.MinInt32, min(math.MaxInt32, m)))
}

func better(a float32, ca int32, b float32, cb int32) bool {
	return a > b || a == b && ca < cb
}

// pairStats compares an item with a cluster's centroid.
type pairStats struct {
	cos      float64 // cosine of the IDF-weighted vectors, before time decay
	shared   int     // terms in both
	core     int     // shared terms carried by more than half the members
	specific int     // shared terms not flagged in the item (template, number)
	// covQ and covC are the shares of the item's and of the centroid's
	// squared weight that lie in shared terms; maxIDF is the largest IDF
	// of a shared term (a rare name in common).
	covQ, covC, maxIDF float64
}

// match compares an item's terms q (weighted with current IDF, norm qn;
// flags qf, nil for none) with the centroid c of a cluster of size members
// (weighted with its IDF snapshots, norm cn). Both are sorted by hash.
func match(q []tw, qf []uint8, c []tw, qn, cn float64, size int) pairStats {
	var ps pairStats
	if qn == 0 || cn == 0 {
		return ps
	}
	var dot, sq, sc float64
	i, j := 0, 0
	for i < len(q) && j < len(c) {
		switch {
		case q[i].h < c[j].h:
			i++
		case q[i].h > c[j].h:
			j++
		default:
			a, b := float64(q[i].w*q[i].idf), float64(c[j].w*c[j].idf)
			dot += a * b
			sq += a * a
			sc += b * b
			ps.maxIDF = max(ps.maxIDF, float64(q[i].idf))
			ps.shared++
			if core(c[j], size) {
				ps.core++
			}
			if qf == nil || qf[i] == 0 {
				ps.specific++
			}
			i++
			j++
		}
	}
	ps.cos = dot / (qn * cn)
	ps.covQ, ps.covC = sq/(qn*qn), sc/(cn*cn)
	return ps
}

// core reports whether a centroid term is carried by more than half of
// the members of a cluster of size members (approximately: title terms
// weigh about 1 per member).
func core(x tw, size int) bool { return coreWeight(x.w, size) }

// coreWeight is core for a term of weight w.
func coreWeight(w float32, size int) bool { return float64(w) > 0.5*float64(size) }

// matchCluster is match of f (norm qn) against cluster cl's centroid.
// ix.qtab must hold f's entries.
func (ix *Index) matchCluster(f *features, cl *clusterRec, qn float64) pairStats {
	if cl.cent != nil {
		return match(f.terms, f.flags, cl.cent, qn, cl.norm, len(cl.members))
	}
	return matchRefs(f.terms, f.flags, &ix.qtab, ix.items[cl.members[0]].terms, qn, cl.norm)
}

// sharedTerm is a term an item shares with a centroid and its
// contribution to their dot product.
type sharedTerm struct {
	name string
	v    float32
}

// sharedTerms lists the terms of f found in centroid c, heaviest
// contribution first, at most 8. buf is scratch space (nil: none),
// returned for the next call.
func sharedTerms(f *features, c []tw, buf []sharedTerm) ([]string, []sharedTerm) {
	out := buf[:0]
	i, j := 0, 0
	for i < len(f.terms) && j < len(c) {
		switch {
		case f.terms[i].h < c[j].h:
			i++
		case f.terms[i].h > c[j].h:
			j++
		default:
			out = append(out, sharedTerm{f.names[i], f.terms[i].w * f.terms[i].idf * c[j].w * c[j].idf})
			i++
			j++
		}
	}
	slices.SortFunc(out, func(a, b sharedTerm) int {
		if a.v != b.v {
			if a.v > b.v {
				return -1
			}
			return 1
		}
		return strings.Compare(a.name, b.name)
	})
	k := min(len(out), 8)
	names := make([]string, k)
	for i, x := range out[:k] {
		names[i] = x.name
	}
	clear(out) // let the item's words go
	return names, out[:0]
}
