package dedupe

import (
	"math"

	"aggregator"
)

// Decision selects how a candidate cluster that passes the guards
// (MinShared, a core term, MinSpecific) is accepted.
type Decision int

const (
	// DecideDefault is the package's default, DecideLearnedLeads.
	DecideDefault Decision = iota
	// DecideCosine accepts when the cosine, after the time decay, reaches
	// Threshold (×SummaryFactor for an item with a summary).
	DecideCosine
	// DecideLearned accepts when a logistic model of the pair's features
	// ([Options.Model], or the model shipped with the package) gives a
	// probability of at least the model's MinP.
	DecideLearned
	// DecideLearnedLeads is DecideLearned for items with a summary and
	// DecideCosine for headlines alone.
	DecideLearnedLeads
)

// NumFeatures is the length of a pair's feature vector: the base
// features of featureBase, an indicator of a summary, and the base
// features again multiplied by that indicator (so headlines and leads get
// their own weights within one model).
const NumFeatures = 2*numBase + 1

const numBase = 11

// FeatureNames names the entries of a feature vector, for training
// scripts and reports.
var FeatureNames = func() [NumFeatures]string {
	base := [numBase]string{"cos", "cover-item", "cover-cluster", "log-shared", "log-specific",
		"core-share", "max-idf/10", "gap", "template-share", "log-size", "log-terms"}
	var out [NumFeatures]string
	copy(out[:], base[:])
	out[numBase] = "summary"
	for i, b := range base {
		out[numBase+1+i] = "summary*" + b
	}
	return out
}()

// Model is a logistic model of the probability that an item belongs to a
// candidate cluster, over the pair's features (FeatureNames). Fit one with
// [Fit]; scripts/dedupe-train fits the shipped one.
type Model struct {
	Weights [NumFeatures]float64
	Bias    float64
	// MinP is the probability a candidate needs to be joined.
	MinP float64
	// SizeCap, when positive, is the cluster size at which the model's
	// log-size feature stops growing: past it, a larger cluster weighs
	// like one of SizeCap members (see the package doc).
	SizeCap int
}

// Prob is the model's probability for a feature vector, as
// [Index.Candidates] gives it (the model applies its SizeCap itself).
func (m *Model) Prob(x *[NumFeatures]float64) float64 {
	in := CapSize(*x, m.SizeCap)
	z := m.Bias
	for i, w := range m.Weights {
		z += w * in[i]
	}
	return 1 / (1 + math.Exp(-z))
}

// featLogSize is the index of the cluster's log size among the base
// features.
const featLogSize = 9

// CapSize returns x with the cluster-size feature (and its copy for items
// with a summary) limited to that of a cluster of sizeCap members; x as it
// is when sizeCap is not positive. Fit a model for a cap on examples passed
// through it, then set the model's SizeCap.
func CapSize(x [NumFeatures]float64, sizeCap int) [NumFeatures]float64 {
	if sizeCap <= 0 {
		return x
	}
	c := math.Log1p(float64(sizeCap))
	x[featLogSize] = min(x[featLogSize], c)
	x[numBase+1+featLogSize] = min(x[numBase+1+featLogSize], c) // 0 without a summary
	return x
}

// model returns the model that decides for the index, nil for the cosine
// rule.
func (ix *Index) model(f *features) *Model { return decidingModel(&ix.opts, f) }

// decidingModel returns the model that decides for an item f under o, nil
// for the cosine rule.
func decidingModel(o *Options, f *features) *Model {
	switch o.Decision {
	case DecideLearned:
	case DecideLearnedLeads:
		if !f.hasSummary {
			return nil
		}
	default:
		return nil
	}
	if o.Model != nil {
		return o.Model
	}
	return &shippedModel
}

// templateShare is the share of the title's terms that lie in template
// pairs.
func templateShare(f *features) float64 {
	if len(f.seq) == 0 {
		return 0
	}
	n := 0
	for _, i := range f.seq {
		if f.flags[i]&flagTemplate != 0 {
			n++
		}
	}
	return float64(n) / float64(len(f.seq))
}

// pairVector is the feature vector of an item f against a cluster of size
// members: ps from match, s the decayed cosine, gap the time gap as a
// fraction of the window, tshare the item's template share.
func pairVector(ps *pairStats, s, gap, tshare float64, f *features, size int) [NumFeatures]float64 {
	var x [NumFeatures]float64
	coreShare := 0.0
	if ps.shared > 0 {
		coreShare = float64(ps.core) / float64(ps.shared)
	}
	base := [numBase]float64{s, ps.covQ, ps.covC, math.Log1p(float64(ps.shared)), math.Log1p(float64(ps.specific)),
		coreShare, ps.maxIDF / 10, gap, tshare, math.Log1p(float64(size)), math.Log1p(float64(len(f.terms)))}
	copy(x[:], base[:])
	if f.hasSummary {
		x[numBase] = 1
		copy(x[numBase+1:], base[:])
	}
	return x
}

// Candidate is a cluster that Add would weigh for an item by similarity,
// with the features a learned decision reads. It is for training: see
// [Index.Candidates].
type Candidate struct {
	Cluster string
	// Eligible says the pair passes the guards (MinShared shared terms, a
	// core term, MinSpecific specific terms); only eligible candidates
	// can be joined, whatever decides.
	Eligible bool
	Features [NumFeatures]float64
}

// Candidates lists the clusters that adding it would score by similarity
// (best ranked first), with their features, without adding it or changing
// what later calls decide. An item already in the index, or that would
// join a cluster as an exact duplicate, still gets its similarity
// candidates. Training scripts call it before each Add to collect pairs.
func (ix *Index) Candidates(it aggregator.Item) []Candidate {
	f := extract(&ix.opts, it, &ix.sc)
	ix.weigh(&f)
	t := it.Time().UnixNano()
	cands := ix.retrieve(&f, t)
	qn := vecNorm(f.terms)
	tshare := templateShare(&f)
	ix.qtab.reset(f.ents)
	out := make([]Candidate, 0, len(cands))
	for _, c := range cands {
		cl := &ix.clusters[c]
		ps := ix.matchCluster(&f, cl, qn)
		gap := ix.gap(cl, t)
		s := ps.cos * (1 - ix.opts.Decay*gap)
		out = append(out, Candidate{Cluster: cl.id, Eligible: ix.eligible(&ps) && sameLanguage(f.lang, cl.lang), Features: pairVector(&ps, s, gap, tshare, &f, len(cl.members))})
	}
	return out
}

// Example is one labelled pair for [Fit].
type Example struct {
	X    [NumFeatures]float64
	Same bool // the item reports the cluster's story
}

// Fit fits a logistic model to the examples by Newton's method with an
// L2 penalty of l2 on the weights (features standardised first, so the
// penalty treats them alike), and sets MinP to minP. It is deterministic.
func Fit(examples []Example, l2, minP float64) Model {
	const d = NumFeatures + 1 // the weights, then the bias
	n := float64(len(examples))
	var mean, sd [NumFeatures]float64
	for _, e := range examples {
		for i, v := range e.X {
			mean[i] += v / n
		}
	}
	for _, e := range examples {
		for i, v := range e.X {
			sd[i] += (v - mean[i]) * (v - mean[i]) / n
		}
	}
	for i := range sd {
		sd[i] = math.Sqrt(sd[i])
		if sd[i] < 1e-9 {
			sd[i] = 1 // a constant feature: its weight stays 0
		}
	}
	z := func(e *Example, i int) float64 {
		if i == NumFeatures {
			return 1
		}
		return (e.X[i] - mean[i]) / sd[i]
	}
	var beta [d]float64
	for range 25 {
		var g [d]float64
		var h [d][d]float64
		for k := range examples {
			e := &examples[k]
			s := 0.0
			for i := range d {
				s += beta[i] * z(e, i)
			}
			p := 1 / (1 + math.Exp(-s))
			y := 0.0
			if e.Same {
				y = 1
			}
			wt := max(p*(1-p), 1e-9)
			for i := range d {
				zi := z(e, i)
				g[i] += (p - y) * zi
				for j := range d {
					h[i][j] += wt * zi * z(e, j)
				}
			}
		}
		for i := range NumFeatures {
			g[i] += l2 * beta[i]
			h[i][i] += l2
		}
		step := solve(h, g)
		delta := 0.0
		for i := range d {
			beta[i] -= step[i]
			delta = max(delta, math.Abs(step[i]))
		}
		if delta < 1e-8 {
			break
		}
	}
	m := Model{MinP: minP, Bias: beta[NumFeatures]}
	for i := range NumFeatures {
		m.Weights[i] = beta[i] / sd[i]
		m.Bias -= beta[i] * mean[i] / sd[i]
	}
	return m
}

// solve solves h·x = g by Gaussian elimination with partial pivoting.
func solve(h [NumFeatures + 1][NumFeatures + 1]float64, g [NumFeatures + 1]float64) [NumFeatures + 1]float64 {
	const d = NumFeatures + 1
	var a [d][d + 1]float64
	for i := range d {
		for j := range d {
			a[i][j] = h[i][j]
		}
		a[i][d] = g[i]
	}
	for c := range d {
		p := c
		for r := c + 1; r < d; r++ {
			if math.Abs(a[r][c]) > math.Abs(a[p][c]) {
				p = r
			}
		}
		a[c], a[p] = a[p], a[c]
		if math.Abs(a[c][c]) < 1e-12 {
			continue
		}
		for r := range d {
			if r == c {
				continue
			}
			f := a[r][c] / a[c][c]
			for k := c; k <= d; k++ {
				a[r][k] -= f * a[c][k]
			}
		}
	}
	var x [d]float64
	for i := range d {
		if math.Abs(a[i][i]) >= 1e-12 {
			x[i] = a[i][d] / a[i][i]
		}
	}
	return x
}
