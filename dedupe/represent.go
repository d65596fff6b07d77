package dedupe

import (
	"math"
	"unicode/utf8"

	"aggregator"
)

// repKey holds what the representative rule compares.
type repKey struct {
	summary int32  // words in the normalised summary
	title   int32  // runes in the normalised title
	t       int64  // Item.Time, Unix nanoseconds
	id      string // Item.ID
}

// summaryTier buckets summary length so that near-equal leads compare
// equal and the earlier report wins: 0 (none), 1 (a teaser, under 15
// words), 2 (a lead, under 40), 3 (a full lead).
func (k repKey) summaryTier() int {
	switch {
	case k.summary == 0:
		return 0
	case k.summary < 15:
		return 1
	case k.summary < 40:
		return 2
	}
	return 3
}

// better reports whether k should represent a story rather than o.
func (k repKey) better(o repKey) bool {
	if a, b := k.summaryTier(), o.summaryTier(); a != b {
		return a > b
	}
	if k.t != o.t {
		return k.t < o.t
	}
	if k.title != o.title {
		return k.title > o.title
	}
	return k.id < o.id
}

// clampInt32 is n as an int32, the largest int32 when it is larger.
func clampInt32(n int) int32 { return int32(min(n, math.MaxInt32)) }

func keyOf(it aggregator.Item) repKey {
	_, sum := splitWords(cleanText(it.Summary, it.Feed), 1)
	title, _ := splitWords(cleanText(it.Title, it.Feed), 0)
	return repKey{
		summary: clampInt32(sum),
		title:   clampInt32(utf8.RuneCountInString(joinWords(title))),
		t:       it.Time().UnixNano(),
		id:      it.ID,
	}
}

// Representative returns the ID of the item that stands for the story in
// a merged feed: the earliest report among those with the fullest summary.
// Summaries are compared in tiers (none, teaser under 15 words, lead under
// 40 words, full lead) so that a reader gets real text rather than a bare
// headline, while among comparable summaries the outlet that broke the
// story wins. Remaining ties go to the longer title, then the smaller ID,
// so the choice never depends on input order. It returns "" for no items.
//
// The rule only ever compares two members, so [Index.Add] keeps it up to
// date in constant time as members join.
func Representative(items []aggregator.Item) string {
	if len(items) == 0 {
		return ""
	}
	best := keyOf(items[0])
	for _, it := range items[1:] {
		if k := keyOf(it); k.better(best) {
			best = k
		}
	}
	return best.id
}
