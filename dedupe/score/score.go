// Package score measures a clustering against gold story labels with the
// metrics of the dedupe development data (shared/data/dedupe/README.md):
// pairwise and B-cubed precision, recall and F1, on plain labels or cut at
// date boundaries. It is used by the dedupe quality tests and by the
// end-to-end scoring script, so both report the same numbers.
package score

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"time"

	"aggregator"
)

// Item is one labelled line of a development file.
type Item struct {
	ID        string    `json:"id"`
	Story     string    `json:"story"`
	Source    string    `json:"source"`
	Title     string    `json:"title"`
	Summary   string    `json:"summary"`
	URL       string    `json:"url"`
	Published time.Time `json:"published"`
}

// Load reads a JSON Lines development file.
func Load(r io.Reader) ([]Item, error) {
	var out []Item
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for n := 1; sc.Scan(); n++ {
		if len(sc.Bytes()) == 0 {
			continue
		}
		var it Item
		if err := json.Unmarshal(sc.Bytes(), &it); err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		out = append(out, it)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read labelled items: %w", err)
	}
	return out, nil
}

// Feed is the item as a feed would deliver it: the source is the feed, the
// data's id the GUID, first seen when published. The derived fields (ID,
// CanonicalURL, Hash) are filled as the fetcher fills them.
func (it Item) Feed() aggregator.Item {
	a := aggregator.Item{
		GUID:      it.ID,
		URL:       it.URL,
		Title:     it.Title,
		Summary:   it.Summary,
		Published: it.Published,
		FirstSeen: it.Published,
	}
	a.Normalize(it.Source)
	return a
}

// Result holds the scores of one clustering.
type Result struct {
	PairP, PairR, PairF1 float64
	B3P, B3R, B3F1       float64
	Items                int
}

func (r Result) String() string {
	return fmt.Sprintf("pairwise P/R/F1 %.3f / %.3f / %.3f   B-cubed P/R/F1 %.3f / %.3f / %.3f   (%d items)",
		r.PairP, r.PairR, r.PairF1, r.B3P, r.B3R, r.B3F1, r.Items)
}

// Score compares the predicted clusters pred (item → cluster) with the gold
// labels gold (item → story) over the gold items. A gold item missing from
// pred counts as a singleton; predicted items without a gold label are
// ignored.
func Score(gold, pred map[string]string) Result {
	type cell struct{ g, p string }
	cells := map[cell]int{}
	gsize := map[string]int{}
	psize := map[string]int{}
	ids := make([]string, 0, len(gold))
	for id := range gold {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		g := gold[id]
		p, ok := pred[id]
		if !ok {
			p = "\x00singleton:" + id
		}
		cells[cell{g, p}]++
		gsize[g]++
		psize[p]++
	}
	pairs := func(n int) float64 { return float64(n) * float64(n-1) / 2 }
	var both, inPred, inGold float64
	for _, n := range cells {
		both += pairs(n)
	}
	for _, n := range psize {
		inPred += pairs(n)
	}
	for _, n := range gsize {
		inGold += pairs(n)
	}
	r := Result{Items: len(ids), PairP: 1}
	if inPred > 0 {
		r.PairP = both / inPred
	}
	if inGold > 0 {
		r.PairR = both / inGold
	}
	r.PairF1 = f1(r.PairP, r.PairR)
	var bp, br float64
	for c, n := range cells {
		bp += float64(n) * float64(n) / float64(psize[c.p])
		br += float64(n) * float64(n) / float64(gsize[c.g])
	}
	if len(ids) > 0 {
		r.B3P, r.B3R = bp/float64(len(ids)), br/float64(len(ids))
	}
	r.B3F1 = f1(r.B3P, r.B3R)
	return r
}

func f1(p, r float64) float64 {
	if p+r == 0 {
		return 0
	}
	return 2 * p * r / (p + r)
}

// SplitByDate returns labels cut at date boundaries: each label gets the
// item's UTC date appended, so clusters that span days become one cluster
// per day (the date-split scoring of the headline set).
func SplitByDate(labels map[string]string, published map[string]time.Time) map[string]string {
	out := make(map[string]string, len(labels))
	for id, l := range labels {
		out[id] = l + "@" + published[id].UTC().Format(time.DateOnly)
	}
	return out
}
