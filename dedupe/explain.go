package dedupe

import (
	"fmt"
	"math"
	"slices"
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
	// TemplatesA and TemplatesB are the template pairs found in each title
	// (pairs of adjacent terms that many clusters of the index carry),
	// whose terms were discounted; Specific is how many shared terms are
	// specific (outside templates, not numbers or dates), MinSpecific how
	// many are needed.
	TemplatesA, TemplatesB []string
	Specific, MinSpecific  int
	// Learned says a learned model decided (Score is then its
	// probability and Threshold its MinP), else the cosine rule.
	Learned bool
}

// Explain explains the decision for b against a story holding only a,
// with opts. Without an index there are no corpus statistics: every term
// weighs the same, so Score is higher than an [Index] would compute for
// pairs that share only common words. [Index.Explain] uses the index's
// statistics.
func Explain(opts Options, a, b aggregator.Item) Explanation {
	o := opts.withDefaults()
	return explain(&o, func(uint64) float32 { return 1 }, nil, false, a, b)
}

// Explain is like the package-level [Explain], with the IDF statistics of
// the items the index has seen, as [Index.Add] would weigh the terms.
func (ix *Index) Explain(a, b aggregator.Item) Explanation {
	return explain(&ix.opts, func(h uint64) float32 { return ix.idf(ix.termSeen(h)) }, ix.isTemplate, true, a, b)
}

// explain explains with IDF idf and template pairs isTemplate (nil: no
// template statistics).
func explain(o *Options, idf func(uint64) float32, isTemplate func(uint64) bool, corpus bool, a, b aggregator.Item) Explanation {
	fa, fb := extract(o, a, nil), extract(o, b, nil)
	var tmpl [2][]string
	for k, f := range []*features{&fa, &fb} {
		for i := range f.terms {
			f.terms[i].idf = idf(f.terms[i].h)
		}
		if isTemplate != nil && o.TemplateDays > 0 {
			pairs := mark(f, isTemplate, float32(o.TemplateWeight), nil)
			tmpl[k] = pairNames(f, pairs)
		}
	}
	ta, tb := normTitle(a), normTitle(b)
	e := Explanation{
		A: a.ID, B: b.ID, TitleA: ta, TitleB: tb,
		TermsA: fa.names, TermsB: fb.names,
		SameGUID:         fa.guid != 0 && fa.guid == fb.guid,
		SameURL:          fa.url != 0 && fa.url == fb.url,
		SameTitle:        ta != "" && ta == tb,
		TitleSpecific:    fa.title != 0,
		Threshold:        o.Threshold,
		MinShared:        o.MinShared,
		Window:           o.Window,
		CorpusStatistics: corpus,
		TemplatesA:       tmpl[0],
		TemplatesB:       tmpl[1],
		MinSpecific:      o.MinSpecific,
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
	ps := match(fb.terms, fb.flags, fa.terms, vecNorm(fb.terms), vecNorm(fa.terms), 1)
	n := ps.shared
	e.Specific = ps.specific
	gapFrac := min(1, float64(gap)/float64(o.Window))
	s := ps.cos * (1 - o.Decay*gapFrac)
	if m := decidingModel(o, &fb); m != nil {
		e.Learned, e.Threshold = true, m.MinP
		x := pairVector(&ps, s, gapFrac, templateShare(&fb), &fb, 1)
		s = m.Prob(&x)
	}
	e.Score = math.Round(s*1e4) / 1e4
	e.Shared, _ = sharedTerms(&fb, fa.terms, nil)
	switch {
	case e.SameGUID:
		e.Merge, e.Reason, e.Why = true, aggregator.ReasonGUID, "same GUID"
	case e.SameURL:
		e.Merge, e.Reason, e.Why = true, aggregator.ReasonURL, "same canonical URL"
	case e.SameTitle && e.TitleSpecific && inWindow:
		e.Merge, e.Reason, e.Why = true, aggregator.ReasonTitle, "same normalised title"
	case !sameLanguage(fa.lang, fb.lang):
		e.Why = fmt.Sprintf("not merged: written in %s and %s", langNames[fa.lang], langNames[fb.lang])
	case !inWindow:
		e.Why = fmt.Sprintf("not merged: %v apart, outside the %v window", gap, o.Window)
	case n < o.MinShared:
		e.Why = fmt.Sprintf("not merged: %d shared terms, %d needed", n, o.MinShared)
	case ps.specific < o.MinSpecific:
		e.Why = fmt.Sprintf("not merged: %d specific shared terms, %d needed (the rest are template phrases, numbers or dates)", ps.specific, o.MinSpecific)
	case e.Learned && e.Score < e.Threshold:
		e.Why = fmt.Sprintf("not merged: learned probability %.3f below %.3f", e.Score, e.Threshold)
	case e.Learned:
		e.Merge, e.Reason = true, aggregator.ReasonSimilar
		e.Why = fmt.Sprintf("learned probability %.3f reaches %.3f", e.Score, e.Threshold)
	case e.Score < e.Threshold:
		e.Why = fmt.Sprintf("not merged: similarity %.3f below threshold %.3f", e.Score, e.Threshold)
	default:
		e.Merge, e.Reason = true, aggregator.ReasonSimilar
		e.Why = fmt.Sprintf("similarity %.3f reaches threshold %.3f", e.Score, e.Threshold)
	}
	if len(e.TemplatesB) > 0 || len(e.TemplatesA) > 0 {
		e.Why += fmt.Sprintf(" (template discounted: %s)", strings.Join(append(slices.Clone(e.TemplatesB), e.TemplatesA...), ", "))
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
	if e.Learned {
		fmt.Fprintf(&b, "  learned probability: %.3f (at least %.3f, %s)\n", e.Score, e.Threshold, weights)
	} else {
		fmt.Fprintf(&b, "  similarity: %.3f (threshold %.3f, %s)\n", e.Score, e.Threshold, weights)
	}
	fmt.Fprintf(&b, "  shared terms (%d needed): %s\n", e.MinShared, strings.Join(e.Shared, " "))
	fmt.Fprintf(&b, "  specific shared terms: %d (%d needed)\n", e.Specific, e.MinSpecific)
	if len(e.TemplatesA)+len(e.TemplatesB) > 0 {
		fmt.Fprintf(&b, "  templates discounted: A %s; B %s\n", strings.Join(e.TemplatesA, ", "), strings.Join(e.TemplatesB, ", "))
	}
	fmt.Fprintf(&b, "  time apart: %v (window %v)\n", e.Gap, e.Window)
	return b.String()
}

// normTitle is the normalised title whose hash is an item's title key:
// its words joined by spaces.
func normTitle(it aggregator.Item) string {
	title, _ := splitWords(cleanText(it.Title, it.Feed), 0)
	return joinWords(title)
}
