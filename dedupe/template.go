package dedupe

import "strings"

// Template detection. A template is a pair of adjacent title terms that
// many different clusters carry: the frame of a recurring headline ("…
// what you need to know" is the pair need·know once stop words are gone,
// "Sector Update: …", "Stocks to watch …") or the name of a company or
// topic that several stories of a day share ("game of thrones", "covid 19
// vaccine"). The index counts, for every pair, the distinct clusters it
// was inserted into; an item's title terms inside a pair carried by at
// least Options.TemplateClusters clusters weigh Options.TemplateWeight of
// their weight, and a match must share a specific term: one neither in
// such a pair nor a number or a date word.
//
// The counts live in fixed-size tables, so their memory does not grow
// with the window: a count-min sketch of two rows (min of the two cells,
// incremented conservatively) and a bit set of the (pair, cluster)
// combinations already counted. Every tmplPeriod items the counts are
// halved and the bit set cleared, so the tables describe the recent
// stream (some 10^5 items) and do not saturate; what halving and clearing
// do depends only on how many items were added, so restoring the items
// in the same order rebuilds the same tables.
const (
	tmplRowBits  = 19
	tmplRowMask  = 1<<tmplRowBits - 1
	tmplSeenBits = 22
	tmplSeenMask = 1<<tmplSeenBits - 1
	tmplPeriod   = 1 << 16
)

// templates is the pair statistics of an index.
type templates struct {
	cnt  []uint16 // two rows of 1<<tmplRowBits cells; nil until the first insert
	seen []uint64 // bit set of (pair, cluster) hashes, 1<<tmplSeenBits bits
}

// Term flags of features.flags.
const (
	flagTemplate = 1 << iota // inside a frequent pair of the title
	flagNumber               // a number or a date word: never specific
)

func mix64(x uint64) uint64 {
	// splitmix64's finaliser.
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// pairHash is the hash of the ordered pair of terms (a, b).
func pairHash(a, b uint64) uint64 { return mix64(a ^ mix64(b+0x9e3779b97f4a7c15)) }

func (t *templates) cells(g uint64) (int, int) {
	return int(g & tmplRowMask), 1<<tmplRowBits + int(g>>32&tmplRowMask)
}

// count is the number of distinct clusters that carried pair g (an
// overestimate when cells collide).
func (t *templates) count(g uint64) int {
	if t.cnt == nil {
		return 0
	}
	i, j := t.cells(g)
	return int(min(t.cnt[i], t.cnt[j]))
}

// add counts the pairs of an item inserted into the cluster whose ID
// hashes to cid, once per (pair, cluster), and ages the tables every
// tmplPeriod items (total is the number of items counted so far,
// this one included).
func (t *templates) add(f *features, cid uint64, total int) {
	if t.cnt == nil {
		t.cnt = make([]uint16, 2<<tmplRowBits)
		t.seen = make([]uint64, (1<<tmplSeenBits)/64)
	}
	for k := 1; k < len(f.seq); k++ {
		g := pairHash(f.terms[f.seq[k-1]].h, f.terms[f.seq[k]].h)
		b := mix64(g^cid) & tmplSeenMask
		if t.seen[b/64]&(1<<(b%64)) != 0 {
			continue
		}
		t.seen[b/64] |= 1 << (b % 64)
		i, j := t.cells(g)
		m := min(t.cnt[i], t.cnt[j])
		if m == 1<<16-1 {
			continue
		}
		// Conservative update: only the cells at the minimum grow.
		if t.cnt[i] == m {
			t.cnt[i]++
		}
		if t.cnt[j] == m {
			t.cnt[j]++
		}
	}
	if total%tmplPeriod == 0 {
		for i := range t.cnt {
			t.cnt[i] /= 2
		}
		clear(t.seen)
	}
}

// mark flags the title terms of f that lie in a pair carried by at least
// minClusters clusters (count gives a pair's count), scales their weight
// by weight, and returns the pairs found (as indexes k: the pair
// seq[k-1], seq[k]) in scratch space pairs.
func mark(f *features, count func(uint64) int, minClusters int, weight float32, pairs []int) []int {
	pairs = pairs[:0]
	for k := 1; k < len(f.seq); k++ {
		a, b := f.seq[k-1], f.seq[k]
		if count(pairHash(f.terms[a].h, f.terms[b].h)) >= minClusters {
			pairs = append(pairs, k)
			f.flags[a] |= flagTemplate
			f.flags[b] |= flagTemplate
		}
	}
	if len(pairs) > 0 && weight != 1 {
		for i := range f.terms {
			if f.flags[i]&flagTemplate != 0 {
				f.terms[i].w *= weight
			}
		}
	}
	return pairs
}

// pairNames renders the template pairs of f found by mark, for
// explanations: "need know".
func pairNames(f *features, pairs []int) []string {
	out := make([]string, 0, len(pairs))
	for _, k := range pairs {
		out = append(out, f.names[f.seq[k-1]]+" "+f.names[f.seq[k]])
	}
	return out
}

// dateWords are words that say when, not what: a headline whose specific
// part is only a date or a number ("Stocks to watch March 11") must not
// merge on its frame.
var dateWords = func() map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(`january february march april may june july august september
	october november december jan feb mar apr jun jul aug sep sept oct nov dec monday tuesday
	wednesday thursday friday saturday sunday today yesterday tomorrow tonight week weekend month
	year morning evening daily weekly`) {
		m[w] = true
	}
	return m
}()

// numberLike reports whether a word is a number ("11", "2014", "11th",
// "10am", "1990s") or a date word. "mh370" is not: letters lead.
func numberLike(w string) bool {
	if dateWords[w] {
		return true
	}
	for _, suf := range []string{"st", "nd", "rd", "th", "am", "pm", "s"} {
		if len(w) > len(suf) && strings.HasSuffix(w, suf) {
			w = w[:len(w)-len(suf)]
			break
		}
	}
	if w == "" {
		return false
	}
	for i := 0; i < len(w); i++ {
		if (w[i] < '0' || w[i] > '9') && w[i] != '.' && w[i] != ',' && w[i] != ':' && w[i] != '/' {
			return false
		}
	}
	return true
}
