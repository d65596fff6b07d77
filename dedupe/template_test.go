package dedupe_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"aggregator"
	"aggregator/dedupe"
)

// templateStream is ten days of real headlines (the first items of the
// headline set, for realistic word statistics) with, each day, two
// recurring frames over different stories: explainers "<topic>: what you
// need to know" from several outlets and one outlet's "Market wrap for
// March <day>". Topics never repeat, so every frame item is its own
// story.
func templateStream(t *testing.T) []aggregator.Item {
	t.Helper()
	real := loadSet(t, "dev.jsonl")[:1500]
	topics := []string{"Tax overhaul", "Mars rover landing", "Teacher strike", "Bird flu outbreak", "Rail fare rise",
		"Chip shortage", "Olympic bid", "Drought relief", "Bank merger", "Wildfire season", "Housing bill",
		"Vaccine rollout", "Port closure", "Airline strike", "Crypto crash", "Water rationing", "Mining ban",
		"Space telescope", "Film festival", "Border deal"}
	start := time.Date(2026, 3, 1, 6, 0, 0, 0, time.UTC)
	var out []aggregator.Item
	add := func(feed, id, title string, at time.Time) {
		it := aggregator.Item{GUID: id + "-guid-0001", Title: title, Published: at, FirstSeen: at}
		it.Normalize(feed)
		out = append(out, it)
	}
	for d := range 10 {
		day := start.Add(time.Duration(d) * 24 * time.Hour)
		for i, it := range real[d*150 : (d+1)*150] {
			add(it.Source, it.ID, it.Title, day.Add(time.Duration(i)*time.Minute))
		}
		for k := range 2 {
			topic := topics[2*d+k]
			add(fmt.Sprintf("Explainer Daily %d", k), fmt.Sprintf("explain-%d-%d", d, k), topic+": what you need to know", day.Add(time.Duration(3+k)*time.Hour))
		}
		add("Exchange Wire", fmt.Sprintf("wrap-%d", d), fmt.Sprintf("Market wrap for March %d", d+1), day.Add(10*time.Hour))
	}
	return out
}

// TestTemplates: frames that recur over unrelated stories are learned from
// the stream and do not merge new items on their own, while the same
// items merge when template detection is off (so it is the templates that
// keep them apart); Explain says the template was discounted.
func TestTemplates(t *testing.T) {
	stream := templateStream(t)
	at := time.Date(2026, 3, 11, 8, 0, 0, 0, time.UTC)
	item := func(feed, id, title string, d time.Duration) aggregator.Item {
		it := aggregator.Item{GUID: id + "-guid-0001", Title: title, Published: at.Add(d), FirstSeen: at.Add(d)}
		it.Normalize(feed)
		return it
	}
	tests := []struct {
		name string
		a, b aggregator.Item
		// offMerges says the pair merges without template detection.
		offMerges bool
		template  string
	}{
		{"explainers of two stories",
			item("Explainer Daily 0", "x1", "Solar eclipse: what you need to know", 0),
			item("Explainer Daily 1", "x2", "Pension reform: what you need to know", time.Hour),
			true, "need know"},
		{"market wraps of two days: only the date differs",
			item("Exchange Wire", "w1", "Market wrap for March 11", 0),
			item("Exchange Wire", "w2", "Market wrap for March 12", 24*time.Hour),
			true, "market wrap"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, off := range []bool{false, true} {
				opts := dedupe.Options{}
				if off {
					opts.TemplateDays, opts.MinSpecific = -1, -1
				}
				ix := dedupe.New(opts)
				for _, it := range stream {
					ix.Add(it)
				}
				ma, _ := ix.Add(tt.a)
				mb, _ := ix.Add(tt.b)
				merged := ma.Cluster == mb.Cluster
				switch {
				case !off && merged:
					t.Errorf("templates on: %q joined %q (%s, score %.3f, shared %v); want apart", tt.b.Title, tt.a.Title, mb.Reason, mb.Score, mb.Shared)
				case off && merged != tt.offMerges:
					t.Errorf("templates off: merged %v, want %v", merged, tt.offMerges)
				}
				if off {
					continue
				}
				e := ix.Explain(tt.a, tt.b)
				if e.Merge || !strings.Contains(e.Why, "template discounted") || !contains(e.TemplatesB, tt.template) {
					t.Errorf("Explain: merge %v, why %q, templates of B %v; want not merged, %q discounted", e.Merge, e.Why, e.TemplatesB, tt.template)
				}
			}
		})
	}
}

// TestTemplateKeepsStories: reports of one story that share a template
// still merge on their specific part.
func TestTemplateKeepsStories(t *testing.T) {
	ix := dedupe.New(dedupe.Options{})
	for _, it := range templateStream(t) {
		ix.Add(it)
	}
	at := time.Date(2026, 3, 11, 8, 0, 0, 0, time.UTC)
	a := aggregator.Item{GUID: "k1-guid-0001", Title: "Kepler volcano eruption: what you need to know", Published: at, FirstSeen: at}
	a.Normalize("Explainer Daily 0")
	b := aggregator.Item{GUID: "k2-guid-0001", Title: "Kepler volcano eruption forces evacuations: what we know", Published: at.Add(time.Hour), FirstSeen: at.Add(time.Hour)}
	b.Normalize("Other Paper")
	ma, _ := ix.Add(a)
	mb, _ := ix.Add(b)
	if ma.Cluster != mb.Cluster {
		t.Errorf("got apart (%s), want one story: they share %q", mb.Reason, "kepler volcano eruption")
	}
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}
