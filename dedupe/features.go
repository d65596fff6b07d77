package dedupe

import (
	"math"
	"math/bits"
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
	// seq lists the title's terms in reading order, as indexes into
	// terms (the pairs of adjacent entries are what templates count),
	// and flags holds each term's flagTemplate and flagNumber bits.
	seq   []int32
	flags []uint8
	pairs []uint64 // pair hashes of seq (set by Index.weigh when templates are on)
	// guid, url and title are hashes of the exact-duplicate keys, 0 when
	// the item has no usable key of that kind.
	guid, url, title uint64
	rk               repKey
	hasSummary       bool
	lang             uint8 // language guessed from the words (language.go)
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
// titles apart. Never 0, which means "no key". It takes bytes too so that
// the normalised title is hashed where it is built, never made a string.
func hashKey[S ~string | ~[]byte](kind string, s S) uint64 {
	// hashTerm(kind + "\x00" + s) without building the string.
	h := hashTerm(kind)
	h *= 1099511628211 // the zero byte: xor changes nothing
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	if h != 0 {
		return h
	}
	return 1
}

// entry is one occurrence of a term while features are extracted: its
// hash, weight, whether it is in the title, and its position among the
// occurrences (which names it: scratch.words[pos]).
type entry struct {
	h     uint64
	pos   int32
	w     float32
	title bool
	num   bool // the word is a number or a date word
}

// scratch holds buffers that extract reuses from one item to the next.
type scratch struct {
	ents  []entry
	words []string // the word of each entry, by entry.pos
	tt    []string
	ws    []word // the words of the title, then of the summary
	wb    wordBuf
	seqH  []uint64 // the title's term hashes in reading order
	// terms gathers the entries of each term, hashes lists the
	// distinct terms.
	terms  termTable
	hashes []uint64
	title  []byte // the normalised title: its words joined by spaces
	// names, flags and seq hold what features keeps of the item only
	// until it is added.
	names slab[string]
	flags slab[uint8]
	seq   slab[int32]
}

// slab hands out short slices cut from larger blocks, so that the slices
// a Prepared item holds only until it is added (its term names and flags,
// its title sequence) cost one allocation per block rather than three per
// item. A block lives as long as any slice cut from it: nothing the index
// keeps may come from a slab, or one item left in the window would pin
// the memory of all its neighbours.
type slab[T any] struct {
	free []T
	next int // the size of the next block: it doubles up to prepBlock
}

// prepBlock is the largest block of a slab, in elements: with names of
// 16 bytes, 64 KiB.
const prepBlock = 4096

// take returns a slice of n zero elements (length and capacity n).
func (s *slab[T]) take(n int) []T {
	if n == 0 {
		return []T{} // not nil, as make gave: explanations show []
	}
	if n > len(s.free) {
		if n > prepBlock/4 {
			return make([]T, n)
		}
		// A Preparer used for one item (Prepare) makes one small block.
		s.next = min(max(2*s.next, 64), prepBlock)
		s.free = make([]T, max(s.next, n))
	}
	out := s.free[:n:n]
	s.free = s.free[n:]
	return out
}

// extract computes the features of it under opts. sc may be nil.
func extract(opts *Options, it aggregator.Item, sc *scratch) features {
	if sc == nil {
		sc = &scratch{}
	}
	var f features
	// The words of the title and of the summary are scanned into one
	// slice so that their texts share one string.
	titleText := cleanText(it.Title, it.Feed)
	sc.wb.ascii, sc.wb.spans = sc.wb.ascii[:0], sc.wb.spans[:0]
	ws, _ := sc.wb.scan(sc.ws[:0], titleText, 0)
	nt := len(ws)
	sum := cleanText(it.Summary, it.Feed)
	// Stop words are about a third of a lead: 2×SummaryTerms words
	// give SummaryTerms terms; the rest is only counted.
	ws, sumWords := sc.wb.scan(ws, sum, nt+2*opts.SummaryTerms)
	sc.wb.setTexts(ws)
	sc.ws = ws
	tws, sw := ws[:nt:nt], ws[nt:]
	classify(tws)
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
	ents, tt, words := sc.ents[:0], sc.tt[:0], sc.words[:0]
	defer func() {
		clear(words) // let the item's words go
		sc.ents, sc.tt, sc.words = ents[:0], tt[:0], words[:0]
	}()
	title := sc.title[:0]
	for i, w := range tws {
		if i > 0 {
			title = append(title, ' ')
		}
		title = append(title, w.text...)
		n := len(tt)
		tt = appendTerms(tt, w)
		wt := 1.0
		if useCaps && w.cap && i > 0 {
			wt += opts.NameBoost
		}
		num := numberLike(w)
		for _, t := range tt[n:] {
			ents = append(ents, entry{h: hashTerm(t), pos: int32(len(ents)), w: float32(wt), title: true, num: num})
			words = append(words, surfaceOf(w, t))
		}
	}
	sc.title = title
	titleTerms := len(tt)
	seqH := sc.seqH[:0]
	for _, e := range ents {
		seqH = append(seqH, e.h)
	}
	sc.seqH = seqH

	// Many feeds repeat the title at the start of the description.
	if t := strings.TrimSpace(titleText); t != "" && strings.HasPrefix(sum, t) && len(sw) >= len(tws) {
		sw = sw[len(tws):]
	}
	nsum, used := 0, 0
	for i := range sw {
		if nsum >= opts.SummaryTerms {
			break
		}
		// Only the words used are classified (and tell the language).
		classify(sw[i : i+1])
		w := sw[i]
		used = i + 1
		n := len(tt)
		tt = appendTerms(tt, w)
		for _, t := range tt[n:] {
			if nsum < opts.SummaryTerms {
				ents = append(ents, entry{h: hashTerm(t), pos: int32(len(ents)), w: 1, num: numberLike(w)})
				words = append(words, surfaceOf(w, t))
				nsum++
			}
		}
	}
	f.hasSummary = nsum >= 5
	f.lang = language(tws, sw[:used])
	// Merge equal terms: the entries of each term are gathered in a
	// hash table (the first, by position, names the term), and only the
	// distinct hashes are sorted.
	tab := sc.terms.reset(len(ents))
	hs := sc.hashes[:0]
	for i := range ents {
		e := &ents[i]
		s, fresh := tab.slot(e.h)
		if fresh {
			*s = termAgg{h: e.h, first: int32(i)}
			hs = append(hs, e.h)
		}
		if e.title {
			s.tw1 = max(s.tw1, e.w)
		} else {
			s.tf++
		}
	}
	slices.Sort(hs)
	sc.hashes = hs
	// Sized to the distinct terms, not to the entries (the index keeps a
	// copy of its own, by term entry: termref.go).
	n := len(hs)
	f.terms = make([]tw, 0, n)
	f.names = sc.names.take(n)[:0]
	f.flags = sc.flags.take(n)[:0]
	for k, h := range hs {
		s, _ := tab.slot(h)
		s.idx = int32(k)
		e := &ents[s.first]
		var fl uint8
		if e.num {
			fl = flagNumber
		}
		w := float64(s.tw1)
		if s.tf > 0 {
			w += opts.SummaryWeight * (1 + logCount(s.tf))
		}
		f.terms = append(f.terms, tw{h: h, w: float32(w)})
		f.names = append(f.names, words[e.pos])
		f.flags = append(f.flags, fl)
	}
	f.seq = sc.seq.take(len(seqH))
	for k, h := range seqH {
		s, _ := tab.slot(h)
		f.seq[k] = s.idx
	}

	if g := strings.TrimSpace(it.GUID); globalGUID(g) {
		f.guid = hashKey("guid", g)
	}
	if it.CanonicalURL != "" {
		f.url = hashKey("url", it.CanonicalURL)
	}
	if titleTerms >= opts.TitleMinTerms {
		f.title = hashKey("title", title)
	}
	f.rk = repKey{
		summary: clampInt32(sumWords),
		title:   clampInt32(utf8.RuneCount(title)),
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

// termAgg gathers the entries of one term of an item: the largest
// weight in the title, the count in the summary, the first entry, and
// the term's index in features.terms once they are sorted.
type termAgg struct {
	h     uint64
	tw1   float32
	tf    int32
	first int32
	idx   int32
}

// termTable is an open-addressing hash table of termAgg keyed by term
// hash, reused from one item to the next: merging equal terms through it
// and sorting only the distinct hashes costs a fraction of sorting every
// entry (a lead gives some 60 entries, 45 distinct).
type termTable struct {
	slots []termAgg
	used  []bool
	shift uint // 64 - log2(len(slots))
}

// reset empties t for n entries: at most half full.
func (t *termTable) reset(n int) *termTable {
	size := 64
	for size < 2*n {
		size *= 2
	}
	if len(t.slots) < size {
		t.slots = make([]termAgg, size)
		t.used = make([]bool, size)
		t.shift = uint(64 - bits.TrailingZeros(uint(size)))
	} else {
		clear(t.used)
	}
	return t
}

// slot returns the slot of hash h, and whether it was empty (now taken).
func (t *termTable) slot(h uint64) (*termAgg, bool) {
	mask := len(t.slots) - 1
	// Fibonacci hashing: FNV's low bits alone cluster.
	for i := int((h * 0x9e3779b97f4a7c15) >> t.shift); ; i = (i + 1) & mask {
		if !t.used[i] {
			t.used[i] = true
			t.slots[i].h = h
			return &t.slots[i], true
		}
		if t.slots[i].h == h {
			return &t.slots[i], false
		}
	}
}

// logCounts holds math.Log(k) for the summary counts a term usually has,
// which weighing every term would otherwise compute again.
var logCounts = func() (l [64]float64) {
	for k := range l {
		l[k] = math.Log(float64(k))
	}
	return l
}()

// logCount is math.Log(float64(k)).
func logCount(k int32) float64 {
	if int(k) < len(logCounts) {
		return logCounts[k]
	}
	return math.Log(float64(k))
}
