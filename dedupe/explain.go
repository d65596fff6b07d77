package dedupe

import (
	"fmt"
	"math"
	"strings"
	"time"

	"aggregator"
)

// Explanation says why two items would or would not be merged: what each
// was normalised to, the exact-duplicate checks, the similarity against
// the threshold, the shared terms and the window check. It describes
// adding B to a story that holds only A.
type Explanation struct {
	A, B              string // item IDs
	TitleA, TitleB    string // normalised titles (outlet boilerplate removed)
	TermsA, TermsB    []string
	SameGUID, SameURL bool
	SameTitle         bool // equal normalised titles...
	TitleSpecific     bool // ...long enough to count (Options.TitleMinTerms)
	Score             float64
	Threshold         float64 // the threshold that applies to B
	Shared            []string
	MinShared         int
	Gap               time.Duration // |A.Time() - B.Time()|
	Window            time.Duration
	Merge             bool
	Reason            aggregator.Reason // when Merge
	Why               string            // one line
	CorpusStatistics  bool              // IDF from an index, else all terms weigh the same
}

// Explain explains the decision for b against a story holding only a,
// with opts. Without an index there are no corpus statistics: every term
// weighs the same, so Score is higher than an [Index] would compute for
// pairs that share only common words. [Index.Explain] uses the index's
// statistics.
func Explain(opts Options, a, b aggregator.Item) Explanation {
	o := opts.withDefaults()
	return explain(&o, func(uint64) float32 { return 1 }, false, a, b)
}

// Explain is like the package-level [Explain], with the IDF statistics of
// the items the index has seen, as [Index.Add] would weigh the terms.
func (ix *Index) Explain(a, b aggregator.Item) Explanation {
	return explain(&ix.opts, func(h uint64) float32 { return ix.idf(ix.termSeen(h)) }, true, a, b)
}

func explain(o *Options, idf func(uint64) float32, corpus bool, a, b aggregator.Item) Explanation {
	fa, fb := extract(o, a, nil), extract(o, b, nil)
	for _, f := range []*features{&fa, &fb} {
		for i := range f.terms {
			f.terms[i].idf = idf(f.terms[i].h)
		}
	}
	e := Explanation{
		A: a.ID, B: b.ID, TitleA: fa.normTitle, TitleB: fb.normTitle,
		TermsA: fa.names, TermsB: fb.names,
		SameGUID:         fa.guid != 0 && fa.guid == fb.guid,
		SameURL:          fa.url != 0 && fa.url == fb.url,
		SameTitle:        fa.normTitle != "" && fa.normTitle == fb.normTitle,
		TitleSpecific:    fa.title != 0,
		Threshold:        o.Threshold,
		MinShared:        o.MinShared,
		Window:           o.Window,
		CorpusStatistics: corpus,
	}
	if fb.hasSummary {
		e.Threshold *= o.SummaryFactor
	}
	gap := b.Time().Sub(a.Time())
	if gap < 0 {
		gap = -gap
	}
	e.Gap = gap
	inWindow := gap <= o.Window
	ps := match(fb.terms, nil, fa.terms, vecNorm(fb.terms), vecNorm(fa.terms), 1)
	cos, n := ps.cos, ps.shared
	decay := 1 - o.Decay*min(1, float64(gap)/float64(o.Window))
	e.Score = math.Round(cos*decay*1e4) / 1e4
	e.Shared = sharedTerms(&fb, fa.terms)
	switch {
	case e.SameGUID:
		e.Merge, e.Reason, e.Why = true, aggregator.ReasonGUID, "same GUID"
	case e.SameURL:
		e.Merge, e.Reason, e.Why = true, aggregator.ReasonURL, "same canonical URL"
	case e.SameTitle && e.TitleSpecific && inWindow:
		e.Merge, e.Reason, e.Why = true, aggregator.ReasonTitle, "same normalised title"
	case !inWindow:
		e.Why = fmt.Sprintf("not merged: %v apart, outside the %v window", gap, o.Window)
	case n < o.MinShared:
		e.Why = fmt.Sprintf("not merged: %d shared terms, %d needed", n, o.MinShared)
	case e.Score < e.Threshold:
		e.Why = fmt.Sprintf("not merged: similarity %.3f below threshold %.3f", e.Score, e.Threshold)
	default:
		e.Merge, e.Reason = true, aggregator.ReasonSimilar
		e.Why = fmt.Sprintf("similarity %.3f reaches threshold %.3f", e.Score, e.Threshold)
	}
	if e.SameTitle && !e.TitleSpecific && !e.Merge {
		e.Why += " (equal titles, but too short or generic to count alone)"
	}
	return e
}

// String renders the explanation for people, one fact per line.
func (e Explanation) String() string {
	var b strings.Builder
	verdict := "NOT MERGED"
	if e.Merge {
		verdict = "MERGED (" + string(e.Reason) + ")"
	}
	fmt.Fprintf(&b, "%s: %s\n", verdict, e.Why)
	fmt.Fprintf(&b, "  A %s: %q\n", e.A, e.TitleA)
	fmt.Fprintf(&b, "    terms: %s\n", strings.Join(e.TermsA, " "))
	fmt.Fprintf(&b, "  B %s: %q\n", e.B, e.TitleB)
	fmt.Fprintf(&b, "    terms: %s\n", strings.Join(e.TermsB, " "))
	yn := func(v bool) string {
		if v {
			return "yes"
		}
		return "no"
	}
	fmt.Fprintf(&b, "  same GUID: %s, same canonical URL: %s, same normalised title: %s", yn(e.SameGUID), yn(e.SameURL), yn(e.SameTitle))
	if e.SameTitle && !e.TitleSpecific {
		b.WriteString(" (too short to count)")
	}
	b.WriteByte('\n')
	weights := "IDF from the index"
	if !e.CorpusStatistics {
		weights = "no corpus statistics: terms weigh equally"
	}
	fmt.Fprintf(&b, "  similarity: %.3f (threshold %.3f, %s)\n", e.Score, e.Threshold, weights)
	fmt.Fprintf(&b, "  shared terms (%d needed): %s\n", e.MinShared, strings.Join(e.Shared, " "))
	fmt.Fprintf(&b, "  time apart: %v (window %v)\n", e.Gap, e.Window)
	return b.String()
}
