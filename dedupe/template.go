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
// The counts live in a fixed-size table, so their memory does not grow
// with the window: a count-min sketch whose cells hold a count and the
// last day counted (a pair counts once a day), two cells per pair in one
// cache line, so that looking a pair up or counting it costs one cache
// miss. Every tmplPeriod items the counts are halved, so the table
// describes the recent stream (some 10^5 items) and does not saturate;
// what halving does depends only on how many items were added, so
// restoring the items in the same order rebuilds the same table.
const (
	tmplCellBits = 19 // 2^19 cells of 4 bytes: 2 MiB
	tmplCellMask = 1<<tmplCellBits - 1
	tmplPeriod   = 1 << 16
)

// templates is the pair statistics of an index.
type templates struct {
	// cells hold a count (high 16 bits) and the last day counted (low 16
	// bits, days since 1970 mod 2^16); nil until the first insert.
	cells []uint32
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

// cellsOf returns the two cells of pair g: in the same 64-byte line of
// 16 cells, at two positions chosen by other bits of the hash.
func cellsOf(g uint64) (int, int) {
	line := int(g&tmplCellMask) &^ 15
	i, j := int(g>>32&15), int(g>>40&15)
	if i == j {
		j ^= 1
	}
	return line + i, line + j
}

// template reports whether pair g was seen on at least minDays days.
func (t *templates) template(g uint64, minDays int) bool {
	if t.cells == nil {
		return false
	}
	i, j := cellsOf(g)
	return int(min(t.cells[i], t.cells[j])>>16) >= minDays
}

// add counts the pairs of an item, once per (pair, day) as far as the
// cells tell, and ages the table every tmplPeriod items (total is the
// number of items counted so far, this one included).
func (t *templates) add(f *features, total int) {
	if t.cells == nil {
		t.cells = make([]uint32, 1<<tmplCellBits)
	}
	day := uint32(f.rk.t/int64(24*time.Hour)) & 0xffff
	for k := 1; k < len(f.seq); k++ {
		var g uint64
		if len(f.pairs) == len(f.seq)-1 {
			g = f.pairs[k-1] // computed by mark
		} else {
			g = pairHash(f.terms[f.seq[k-1]].h, f.terms[f.seq[k]].h)
		}
		i, j := cellsOf(g)
		ci, cj := t.cells[i], t.cells[j]
		if ci&0xffff == day && cj&0xffff == day {
			continue // counted today (or a colliding pair was)
		}
		// Conservative update: only the cells at the minimum count grow;
		// both remember the day.
		m := min(ci>>16, cj>>16)
		if m == 0xffff {
			continue
		}
		if ci>>16 == m {
			ci += 1 << 16
		}
		if cj>>16 == m {
			cj += 1 << 16
		}
		t.cells[i], t.cells[j] = ci&^0xffff|day, cj&^0xffff|day
	}
	if total%tmplPeriod == 0 {
		for i, c := range t.cells {
			t.cells[i] = (c>>17)<<16 | c&0xffff
		}
	}
}

// mark flags the title terms of f that lie in a template pair (isTemplate
// tells), scales their weight by weight, and returns the pairs found (as
// indexes k: the pair seq[k-1], seq[k]) in scratch space pairs.
func mark(f *features, isTemplate func(uint64) bool, weight float32, pairs []int) []int {
	pairs = pairs[:0]
	f.pairs = f.pairs[:0]
	for k := 1; k < len(f.seq); k++ {
		a, b := f.seq[k-1], f.seq[k]
		g := pairHash(f.terms[a].h, f.terms[b].h)
		f.pairs = append(f.pairs, g)
		if isTemplate(g) {
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

// numberLike reports whether a classified word is a number ("11",
// "2014", "11th", "10am", "1990s") or a date word. "mh370" is not:
// letters lead.
func numberLike(wd word) bool {
	if wd.cls&clsDate != 0 {
		return true
	}
	w := wd.text
	if w == "" || (w[0] < '0' || w[0] > '9') && w[0] != '.' {
		return false
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
