package dedupe

import (
	"strings"
	"time"
)

// Template detection. A template is a pair of adjacent title terms that
// comes back day after day: the frame of a recurring headline ("… what
// you need to know" is the pair need·know once stop words are gone,
// "Market wrap for …", "Stocks to watch …", a column's title) or a name
// that many stories share over time ("game of thrones", "covid 19
// vaccine"). The index counts, for every pair, the distinct days (UTC, by
// Item.Time) on which items carried it. A pair seen on at least
// Options.TemplateDays days is a template: its terms weigh
// Options.TemplateWeight of their weight in the item, and a match must
// share a specific term, one neither in a template nor a number or a date
// word, so "Market wrap for March 11" and "… March 12" do not merge.
//
// Days, not clusters or contexts: counting the clusters that carry a pair
// misses exactly the frames that fool the similarity, because the reports
// they fooled sit in one cluster; counting the different words a pair
// comes with flags the names of every big story, whose headlines are
// reworded all day. A story is a burst, over a day or three; a frame
// recurs. The counts depend on the stream only, not on decisions, so
// they do not depend on how earlier items were clustered.
//
// The counts live in fixed-size tables, so their memory does not grow
// with the window: a count-min sketch of two rows (min of the two cells,
// incremented conservatively) and a bit set of the (pair, day)
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
	cnt  []uint16 // the sketch: two rows of 1<<tmplRowBits cells; nil until the first insert
	seen []uint64 // bit set of (pair, day) hashes, 1<<tmplSeenBits bits
}

// Term flags of features.flags.
const (
	flagTemplate = 1 << iota // inside a template pair of the title
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

func cells(g uint64) (int, int) {
	return int(g & tmplRowMask), 1<<tmplRowBits + int(g>>32&tmplRowMask)
}

// template reports whether pair g was seen on at least minDays days.
func (t *templates) template(g uint64, minDays int) bool {
	if t.cnt == nil {
		return false
	}
	i, j := cells(g)
	return int(min(t.cnt[i], t.cnt[j])) >= minDays
}

// add counts the pairs of an item, once per (pair, day), and ages the
// tables every tmplPeriod items (total is the number of items counted so
// far, this one included).
func (t *templates) add(f *features, total int) {
	if t.cnt == nil {
		t.cnt = make([]uint16, 2<<tmplRowBits)
		t.seen = make([]uint64, (1<<tmplSeenBits)/64)
	}
	day := mix64(uint64(f.rk.t/int64(24*time.Hour)) + 0x5bd1e995)
	for k := 1; k < len(f.seq); k++ {
		g := pairHash(f.terms[f.seq[k-1]].h, f.terms[f.seq[k]].h)
		bit := mix64(g^day) & tmplSeenMask
		if t.seen[bit/64]&(1<<(bit%64)) != 0 {
			continue
		}
		t.seen[bit/64] |= 1 << (bit % 64)
		i, j := cells(g)
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

// mark flags the title terms of f that lie in a template pair (isTemplate
// tells), scales their weight by weight, and returns the pairs found (as
// indexes k: the pair seq[k-1], seq[k]) in scratch space pairs.
func mark(f *features, isTemplate func(uint64) bool, weight float32, pairs []int) []int {
	pairs = pairs[:0]
	for k := 1; k < len(f.seq); k++ {
		a, b := f.seq[k-1], f.seq[k]
		if isTemplate(pairHash(f.terms[a].h, f.terms[b].h)) {
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
