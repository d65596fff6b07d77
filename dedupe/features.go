package dedupe

import (
	"math"
	"slices"
	"strings"
	"unicode/utf8"

	"aggregator"
)

// tw is one weighted term: the 64-bit hash of the term and its weight in
// an item (field-weighted term frequency) or a cluster (sum over members).
type tw struct {
	h   uint64
	w   float32
	idf float32 // the term's IDF when w was last changed (0 until inserted)
}

// features is what the index needs of an item, computed once per Add.
type features struct {
	terms []tw     // sorted by h
	names []string // a word that gave each entry of terms, for explanations
	ents  []int32  // each term's entry in Index.tents, set by Index.weigh
	// guid, url and title are hashes of the exact-duplicate keys, 0 when
	// the item has no usable key of that kind.
	guid, url, title uint64
	rk               repKey
	hasSummary       bool
	normTitle        string
}

// hashTerm hashes a term (FNV-1a). 64 bits keep collisions negligible at
// millions of distinct terms.
func hashTerm(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// surfaceOf is the word shown for term t in explanations: the folded word
// itself, or the bigram for CJK text.
func surfaceOf(w word, t string) string {
	if w.cjk {
		return t
	}
	return w.text
}

// hashKey hashes an exact-duplicate key; kind keeps GUIDs, URLs and
// titles apart. Never 0, which means "no key".
func hashKey(kind, s string) uint64 {
	if v := hashTerm(kind + "\x00" + s); v != 0 {
		return v
	}
	return 1
}

// entry is one occurrence of a term while features are extracted.
type entry struct {
	h     uint64
	word  string
	w     float32
	title bool
}

// scratch holds buffers that extract reuses from one item to the next.
type scratch struct {
	ents     []entry
	tt       []string
	tws, sws []word
	cur      []rune
}

// extract computes the features of it under opts. sc may be nil.
func extract(opts *Options, it aggregator.Item, sc *scratch) features {
	if sc == nil {
		sc = &scratch{}
	}
	var f features
	titleText := cleanText(it.Title, it.Feed)
	tws, _ := splitWordsInto(sc.tws[:0], &sc.cur, titleText, 0)
	sc.tws = tws
	// Capitalisation marks names only in sentence-case headlines; in
	// Title Case every word is capitalised and the hint is worthless.
	caps := 0
	for _, w := range tws {
		if w.cap {
			caps++
		}
	}
	useCaps := len(tws) > 0 && float64(caps) <= 0.6*float64(len(tws))
	// Collect (term, weight) entries, then merge equal terms: a title
	// term counts once (with its largest weight), summary terms count
	// sublinearly in their frequency, and a term in both gets both.
	ents, tt := sc.ents[:0], sc.tt[:0]
	defer func() { sc.ents, sc.tt = ents[:0], tt[:0] }()
	var normTitle strings.Builder
	for i, w := range tws {
		if i > 0 {
			normTitle.WriteByte(' ')
		}
		normTitle.WriteString(w.text)
		n := len(tt)
		tt = appendTerms(tt, w)
		wt := 1.0
		if useCaps && w.cap && i > 0 {
			wt += opts.NameBoost
		}
		for _, t := range tt[n:] {
			ents = append(ents, entry{h: hashTerm(t), word: surfaceOf(w, t), w: float32(wt), title: true})
		}
	}
	f.normTitle = normTitle.String()
	titleTerms := len(tt)

	sum := cleanText(it.Summary, it.Feed)
	// Stop words are about a third of a lead: 2×SummaryTerms words
	// give SummaryTerms terms; the rest is only counted.
	sw, sumWords := splitWordsInto(sc.sws[:0], &sc.cur, sum, len(tws)+2*opts.SummaryTerms)
	sc.sws = sw
	// Many feeds repeat the title at the start of the description.
	if t := strings.TrimSpace(titleText); t != "" && strings.HasPrefix(sum, t) && len(sw) >= len(tws) {
		sw = sw[len(tws):]
	}
	nsum := 0
	for _, w := range sw {
		if nsum >= opts.SummaryTerms {
			break
		}
		n := len(tt)
		tt = appendTerms(tt, w)
		for _, t := range tt[n:] {
			if nsum < opts.SummaryTerms {
				ents = append(ents, entry{h: hashTerm(t), word: surfaceOf(w, t), w: 1})
				nsum++
			}
		}
	}
	f.hasSummary = nsum >= 5
	// Sorted by hash (stable: the first occurrence names the term).
	slices.SortStableFunc(ents, func(a, b entry) int { return cmpU64(a.h, b.h) })
	f.terms = make([]tw, 0, len(ents))
	f.names = make([]string, 0, len(ents))
	for i := 0; i < len(ents); {
		j := i
		var tw1, tf float64
		for ; j < len(ents) && ents[j].h == ents[i].h; j++ {
			if ents[j].title {
				tw1 = max(tw1, float64(ents[j].w))
			} else {
				tf++
			}
		}
		w := tw1
		if tf > 0 {
			w += opts.SummaryWeight * (1 + math.Log(tf))
		}
		f.terms = append(f.terms, tw{h: ents[i].h, w: float32(w)})
		f.names = append(f.names, ents[i].word)
		i = j
	}

	if g := strings.TrimSpace(it.GUID); globalGUID(g) {
		f.guid = hashKey("guid", g)
	}
	if it.CanonicalURL != "" {
		f.url = hashKey("url", it.CanonicalURL)
	}
	if titleTerms >= opts.TitleMinTerms {
		f.title = hashKey("title", f.normTitle)
	}
	f.rk = repKey{
		summary: sumWords,
		title:   utf8.RuneCountInString(f.normTitle),
		t:       it.Time().UnixNano(),
		id:      it.ID,
	}
	return f
}

// globalGUID reports whether a GUID is specific enough to identify a story
// across feeds: short or purely numeric ids ("12345") are only unique within
// their feed.
func globalGUID(g string) bool {
	if len(g) < 12 {
		return false
	}
	return strings.ContainsFunc(g, func(r rune) bool { return r < '0' || r > '9' })
}

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
