package dedupe

import (
	"math"
	"time"
)

// Options configure an [Index]. The zero value means the documented
// defaults; a field left zero takes its default.
type Options struct {
	// Window limits how far apart in time (Item.Time: published, else
	// first seen) two reports of one story can be: a new item can only join
	// a cluster with a member within Window of it, and [Index.Expire]
	// forgets items older than Window. Default 72h.
	Window time.Duration
	// Threshold is the similarity an item needs to join a cluster: the
	// cosine between the item's IDF-weighted term vector and the cluster's
	// centroid (the sum of its members' vectors), from 0 (nothing shared)
	// to 1 (the same terms in the same proportions). Default 0.11, tuned on
	// the two development sets (see the package doc); raise it for fewer,
	// purer clusters.
	Threshold float64
	// SummaryFactor multiplies Threshold for an item that has a summary:
	// title and lead share more incidental vocabulary with unrelated
	// stories than a headline does, so they must agree more. Default
	// 0.19/0.11 (about 1.73), so 0.19 by default.
	SummaryFactor float64
	// Decay lowers the similarity of a cluster by this fraction per full
	// window between the item and the cluster's nearest member (linear),
	// so that a later development of a topic starts its own story.
	// Default 1; negative disables.
	Decay float64
	// MinShared is the number of terms an item must share with a
	// cluster's centroid to join it by similarity. Default 2.
	MinShared int
	// TitleMinTerms is the number of informative terms a title needs before
	// an identical normalised title counts as an exact duplicate; it keeps
	// "Live updates" or "Opinion" from merging unrelated stories.
	// Default 4.
	TitleMinTerms int
	// NameBoost is added to the weight of a title term the publisher
	// capitalised inside a sentence-case headline (a name). Default 0.5.
	NameBoost float64
	// SummaryWeight is the weight of a summary term relative to a title
	// term (1). Default 0.5.
	SummaryWeight float64
	// SummaryTerms caps how many terms of the summary are used: leads say
	// what happened first. Default 50.
	SummaryTerms int
	// ProbeTerms is how many of the item's most informative terms look up
	// candidate clusters, and PostingScan how many of the newest entries
	// of each term's posting list are read. Together they bound the cost of
	// an Add whatever the number of items in the window. Defaults 12 and
	// 24.
	ProbeTerms, PostingScan int
	// PostTerms is how many of an item's heaviest terms are entered in the
	// posting lists. Default 16: entering all of them found no more
	// stories on the development sets (B-cubed F1 within 0.001) and costs
	// memory and time for items with long summaries.
	PostTerms int
	// Candidates is how many of the clusters found through the postings
	// (ranked by the IDF mass of the probe terms they carry, counted once
	// per recent posting, which favours the active stories) are scored in
	// full against their centroids. Default 2: scoring more candidates
	// gives a wrong cluster more chances to pass the threshold, and cost
	// precision on both development sets.
	Candidates int
	// CentroidTerms caps the terms kept in a cluster's centroid (the
	// heaviest are kept). Default 64.
	CentroidTerms int
	// TemplateDays is on how many distinct days a pair of adjacent title
	// terms must have been seen before the index treats it as a template
	// (a recurring frame or a name many stories share over time; see the
	// package doc): its terms then weigh TemplateWeight of their weight in
	// the item. Defaults 4 and 0.5; a negative TemplateDays disables
	// template detection.
	TemplateDays   int
	TemplateWeight float64
	// MinSpecific is the number of specific terms (not in a template
	// pair, not a number or a date word) an item must share with a
	// cluster to join it by similarity. Default 1; negative disables.
	MinSpecific int
	// Decision selects what accepts a candidate cluster: the cosine rule
	// (Threshold, SummaryFactor) or a learned model. Default
	// DecideLearnedLeads: the shipped model for items with a summary,
	// the cosine rule for headlines (chosen by cross-validation; see the
	// package doc). Model is the model for DecideLearned; nil means the
	// one shipped with the package (model_weights.go, made by
	// scripts/dedupe-train).
	Decision Decision
	Model    *Model
}

func (o Options) withDefaults() Options {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	deff := func(v *float64, d float64) {
		if *v <= 0 {
			*v = d
		}
	}
	if o.Window <= 0 {
		o.Window = 72 * time.Hour
	}
	deff(&o.Threshold, 0.11)
	def(&o.MinShared, 2)
	deff(&o.SummaryFactor, 0.19/0.11)
	if o.Decay == 0 {
		o.Decay = 1
	}
	if o.Decay < 0 {
		o.Decay = 0
	}
	def(&o.TitleMinTerms, 4)
	deff(&o.NameBoost, 0.5)
	deff(&o.SummaryWeight, 0.5)
	def(&o.SummaryTerms, 50)
	def(&o.ProbeTerms, 12)
	def(&o.PostingScan, 24)
	def(&o.PostTerms, 16)
	def(&o.Candidates, 2)
	def(&o.CentroidTerms, 64)
	if o.TemplateDays == 0 {
		o.TemplateDays = 4
	}
	deff(&o.TemplateWeight, 0.5)
	if o.Decision == DecideDefault {
		o.Decision = DecideLearnedLeads
	}
	if o.MinSpecific == 0 {
		o.MinSpecific = 1
	}
	return o
}

// Index clusters items incrementally. It holds the items of the current
// window: their terms, the clusters they form, an inverted index from
// terms to clusters and the exact-duplicate keys. An Index is not safe for
// concurrent use; callers serialise Add, Restore, RestoreBatch and Expire.
type Index struct {
	opts Options

	items []itemRec
	free  []int32          // free item slots, reused in order
	byID  map[uint64]int32 // hashTerm(item ID) → slot
	live  int
	// total counts the items ever added or restored; with termEntry.seen
	// it gives the IDF. IDF outlives the window because a window can hold
	// too few items to tell a common word from a rare one.
	total int

	clusters []clusterRec
	cfree    []int32
	byCID    map[string]int32

	// terms maps a term hash to its entry in tents; an entry holds the
	// term's document frequency in the window and its posting list.
	terms map[uint64]int32
	tents []termEntry
	tfree []int32

	// tmpl counts the days on which each pair of adjacent title terms
	// was seen (template detection, template.go).
	tmpl  templates
	pairs []int // scratch: the template pairs of the item being added
	// pairHashes is scratch for the pair hashes of the item being added.
	pairHashes []uint64

	// exact maps an exact-duplicate key hash (GUID, canonical URL or
	// normalised title) to the item slot that first carried it.
	exact map[uint64]int32

	// acc and touched are scratch space for candidate accumulation,
	// reused across calls.
	acc     []float32
	touched []int32
	cands   []int32
	probe   []int
	shared  []sharedTerm
	sc      scratch
	vals    []float32
	cbufs   [2][]tw // centroids being built
	// xbufs hold item terms with their hashes (expand) while a centroid
	// is built from them or compared.
	xbufs [2][]tw
	// qtab finds the terms of the item being added by entry, to compare
	// it with a singleton's terms (matchRefs).
	qtab entryTable
	ents []int32 // features.ents of the item being added
	// pending lists the clusters RestoreBatch has added members to whose
	// centroids are not yet updated (clusterRec.pending).
	pending []pendingCluster
}

// itemRec is an item in the index. Its Time is rk.t and its ID rk.id, not
// fields of their own: a million of them are a tenth of the index, every
// field counts.
type itemRec struct {
	terms   []termRef // sorted by hash, as features.terms
	keys    [3]uint64 // guid, url, title key hashes (0: none)
	rk      repKey
	cluster int32
	alive   bool
}

// id is the item's ID.
func (it *itemRec) id() string { return it.rk.id }

// clusterRec is a cluster in the index. The three small fields sit
// together before rep, so that the record is 96 bytes, not 104.
type clusterRec struct {
	id         string
	alive      bool
	pending    bool  // in Index.pending
	lang       uint8 // the language of its first member whose language is known
	rep        int32 // item slot of the representative
	minT, maxT int64
	members    []int32
	// cent is the centroid: the sum of the members' weighted terms with
	// each term's IDF when it was last updated, heaviest CentroidTerms
	// kept, sorted by hash. nil for a singleton, whose centroid is its
	// member's terms.
	cent []tw
	norm float64 // Euclidean norm of the IDF-weighted centroid
}

type termEntry struct {
	h    uint64    // the term's hash (0 in a free entry)
	df   int32     // items in the window with the term
	seen int32     // items ever added with the term (the IDF statistics)
	post []posting // oldest first
}

// posting says that a cluster has a member with the term, added at minute
// m (Item.Time in minutes since 1970; the newest such member when several
// were added in a row).
type posting struct {
	c int32 // cluster slot
	m int32
}

// New returns an empty index.
func New(opts Options) *Index {
	return &Index{
		opts:  opts.withDefaults(),
		byID:  map[uint64]int32{},
		byCID: map[string]int32{},
		terms: map[uint64]int32{},
		exact: map[uint64]int32{},
	}
}

// Options returns the options in effect, defaults filled in.
func (ix *Index) Options() Options { return ix.opts }

// Len is the number of items in the index.
func (ix *Index) Len() int { return ix.live }

// idf is the inverse document frequency of a term seen in seen of the
// items added so far. The +32 prior keeps a young index from treating
// every term as rare.
func (ix *Index) idf(seen int32) float32 {
	return float32(math.Log((float64(ix.total) + 32) / (float64(seen) + 1)))
}

func (ix *Index) termSeen(h uint64) int32 {
	if e, ok := ix.terms[h]; ok {
		return ix.tents[e].seen
	}
	return 0
}

// centroid returns the cluster's centroid terms; for a singleton, its
// member's terms with their hashes, in a slice of their own.
func (ix *Index) centroid(c *clusterRec) []tw {
	if c.cent != nil {
		return c.cent
	}
	return ix.expand(nil, ix.items[c.members[0]].terms)
}

// centroidIn is centroid, a singleton's terms expanded into ix.xbufs[k]
// (valid until it is used again) rather than a slice of their own.
func (ix *Index) centroidIn(c *clusterRec, k int) []tw {
	if c.cent != nil {
		return c.cent
	}
	ix.xbufs[k] = ix.expand(ix.xbufs[k][:0], ix.items[c.members[0]].terms)
	return ix.xbufs[k]
}

// expand appends to dst the terms ts with their hashes, in their order.
func (ix *Index) expand(dst []tw, ts []termRef) []tw {
	for _, x := range ts {
		dst = append(dst, tw{h: ix.tents[x.e].h, w: x.w, idf: x.idf})
	}
	return dst
}

// centroidNorm is the norm of the cluster's centroid (clusterRec.norm).
func (ix *Index) centroidNorm(c *clusterRec) float64 {
	if c.cent != nil {
		return vecNorm(c.cent)
	}
	return refNorm(ix.items[c.members[0]].terms)
}
