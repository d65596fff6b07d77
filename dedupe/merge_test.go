package dedupe_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"
	"time"

	"aggregator"
	"aggregator/dedupe"
)

// TestConsolidate: after ten days of real headlines with recurring
// frames (templateStream), two clusters of one story merge, a lone
// report rejoins its story's cluster, and two clusters of different
// stories that share a frame do not (they do with template detection
// off). The clusters
// are made with Restore, as a single pass leaves them when a story's
// reports split early (its reviews and its launch; one campaign's two
// faces).
func TestConsolidate(t *testing.T) {
	at := time.Date(2026, 3, 11, 8, 0, 0, 0, time.UTC)
	type group struct {
		cluster string
		titles  []string
	}
	// launch is the second half of the Titanfall story in two cases.
	launch := group{"launch", []string{
		"Titanfall launches on Xbox One with a day one patch",
		"Microsoft bets on Titanfall launch to sell Xbox One",
		"Titanfall launch day: Xbox One bundle sells out",
		"Titanfall Xbox One launch hit by server problems",
		"EA's Titanfall launch lifts Xbox One sales",
		"Titanfall launch: Xbox One owners queue at midnight",
		"Titanfall launch boosts Xbox One sales in the UK",
		"Xbox One Titanfall bundle launch: where to buy",
		"Titanfall launch: EA shares rise as Xbox One game ships",
	}}
	tests := []struct {
		name  string
		a, b  group
		merge bool
		// offMerges says the clusters merge with template detection
		// off: it is the templates that keep them apart.
		offMerges bool
	}{
		{"two halves of one story",
			group{"rev", []string{
				"Titanfall review: EA's giant robot shooter delivers",
				"Titanfall review: giant robots and parkour on Xbox One",
				"Review: Titanfall towers above other shooters",
				"Titanfall review roundup: critics love EA's robot shooter",
				"Titanfall review: the robot shooter lives up to the hype",
				"Titanfall review: EA's mech shooter is a blast",
				"Titanfall review: robots, pilots and a thin campaign",
				"Titanfall PC review: the shooter of the year so far",
			}},
			launch,
			true, true},
		{"a lone report rejoins the story",
			group{"lone", []string{"Titanfall on Xbox One: day one patch fixes matchmaking"}},
			launch,
			true, true},
		{"two stories that share a frame",
			group{"eclipse", []string{
				"Solar eclipse: what you need to know",
				"Solar eclipse over Europe: what you need to know",
				"Friday's solar eclipse: what you need to know",
				"Solar eclipse 2026: what you need to know",
				"Total solar eclipse: what you need to know",
				"Solar eclipse glasses: what you need to know",
				"Solar eclipse safety: what you need to know",
				"Solar eclipse path: what you need to know",
			}},
			group{"pension", []string{
				"Pension reform: what you need to know",
				"Pension reform vote: what you need to know",
				"State pension reform: what you need to know",
				"Pension reform plan: what you need to know",
				"Pension reform bill: what you need to know",
				"Pension reform strikes: what you need to know",
				"Pension reform deal: what you need to know",
				"Pension reform law: what you need to know",
			}},
			false, true},
	}
	stream := templateStream(t)
	// restore makes an index of the stream and the two groups, each
	// restored as one cluster.
	restore := func(opts dedupe.Options, groups ...group) (*dedupe.Index, []string) {
		ix := dedupe.New(opts)
		for _, it := range stream {
			ix.Add(it)
		}
		var ids []string
		for gi, g := range groups {
			for i, title := range g.titles {
				it := aggregator.Item{GUID: fmt.Sprintf("%s-%d-guid-0001", g.cluster, i), Title: title,
					Published: at.Add(time.Duration(gi*60+i) * time.Minute)}
				it.Normalize(fmt.Sprintf("Outlet %d", i))
				it.FirstSeen = it.Published
				ix.Restore(it, aggregator.Membership{Item: it.ID, Cluster: g.cluster})
				ids = append(ids, it.ID)
			}
		}
		return ix, ids
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.offMerges && !tt.merge {
				ix, _ := restore(dedupe.Options{TemplateDays: -1, MinSpecific: -1}, tt.a, tt.b)
				if len(ix.Consolidate(dedupe.MergeOptions{}, []string{tt.a.cluster})) == 0 {
					t.Errorf("templates off: no merge, want one")
				}
			}
			ix, ids := restore(dedupe.Options{}, tt.a, tt.b)
			merges := ix.Consolidate(dedupe.MergeOptions{}, []string{tt.a.cluster, tt.b.cluster})
			clusters := map[string]bool{}
			for _, id := range ids {
				c, ok := ix.ClusterOf(id)
				if !ok {
					t.Fatalf("ClusterOf(%s): not in the index", id)
				}
				clusters[c] = true
			}
			if !tt.merge {
				if len(merges) != 0 || len(clusters) != 2 {
					t.Errorf("got merges %+v, %d clusters; want none, 2", merges, len(clusters))
				}
				return
			}
			// The larger cluster survives, and the smaller one's members
			// are reported as moved.
			want := dedupe.Merge{Into: tt.b.cluster, From: tt.a.cluster, Moved: ids[:len(tt.a.titles)]}
			if len(merges) != 1 || merges[0].Into != want.Into || merges[0].From != want.From || !slices.Equal(merges[0].Moved, want.Moved) {
				t.Fatalf("got merges %+v, want one: %+v", merges, want)
			}
			if len(clusters) != 1 || !clusters[want.Into] {
				t.Errorf("got clusters %v after the merge, want only %s", clusters, want.Into)
			}
			// A later report joins the merged story, and the ID that
			// went is free.
			later := aggregator.Item{GUID: "later-guid-0001", Title: "Titanfall review: is EA's Xbox One shooter worth it?", Published: at.Add(3 * time.Hour)}
			later.Normalize("Late Outlet")
			if m, _ := ix.Add(later); m.Cluster != want.Into {
				t.Errorf("a later report joined %s (%s), want %s", m.Cluster, m.Reason, want.Into)
			}
			if err := ix.MergeClusters(want.Into, want.From); err == nil {
				t.Errorf("MergeClusters(%s, %s) after the merge: got no error", want.Into, want.From)
			}
		})
	}
}

// TestConsolidateOrder: AddBatch then Consolidate of the clusters the
// batch touched gives the same clusters and merges whatever the order of
// the batch, on the headline set.
func TestConsolidateOrder(t *testing.T) {
	labelled := loadSet(t, "dev.jsonl")
	items := make([]aggregator.Item, len(labelled))
	for i, it := range labelled {
		items[i] = it.Feed()
	}
	run := func(items []aggregator.Item) (map[string]string, []dedupe.Merge) {
		ix := dedupe.New(dedupe.Options{})
		var touched []string
		for _, m := range ix.AddBatch(items) {
			touched = append(touched, m.Cluster)
		}
		slices.Sort(touched)
		merges := ix.Consolidate(dedupe.MergeOptions{}, slices.Compact(touched))
		out := map[string]string{}
		for _, it := range items {
			out[it.ID], _ = ix.ClusterOf(it.ID)
		}
		return out, merges
	}
	want, wantMerges := run(items)
	if len(wantMerges) == 0 {
		t.Fatal("no merges on the headline set: the test checks nothing")
	}
	r := rand.New(rand.NewPCG(7, 11))
	for k := range 3 {
		shuffled := slices.Clone(items)
		r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		got, merges := run(shuffled)
		diff := 0
		for id, c := range want {
			if got[id] != c {
				diff++
			}
		}
		if diff > 0 || len(merges) != len(wantMerges) {
			t.Errorf("order %d: %d items in another cluster, %d merges (want 0, %d)", k, diff, len(merges), len(wantMerges))
		}
	}
}

// TestConsolidateLinks: on the headline set (added with AddBatch, then
// one Consolidate of every cluster touched), link-supported merging
// (MergeOptions.Links) merges big clusters whose centroids are under the
// threshold, and every such merge joins two clusters of one story (the
// story most of each cluster's members report); without Links none is
// made under the threshold.
func TestConsolidateLinks(t *testing.T) {
	labelled := loadSet(t, "dev.jsonl")
	items := make([]aggregator.Item, len(labelled))
	story := map[string]string{}
	for i, it := range labelled {
		items[i] = it.Feed()
		story[items[i].ID] = it.Story
	}
	for _, tt := range []struct {
		name  string
		links float64
		want  bool // merges under the threshold
	}{
		{"links off", -1, false},
		{"default (off)", 0, false},
		{"links 0.05", 0.05, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ix := dedupe.New(dedupe.Options{})
			members := map[string][]string{}
			var touched []string
			for i, m := range ix.AddBatch(items) {
				touched = append(touched, m.Cluster)
				members[m.Cluster] = append(members[m.Cluster], items[i].ID)
			}
			slices.Sort(touched)
			mo := dedupe.MergeOptions{Links: tt.links}
			under := 0
			for _, mg := range ix.Consolidate(mo, slices.Compact(touched)) {
				if mg.Score < 0.2 { // the default Threshold
					under++
					if a, b := majority(members[mg.Into], story), majority(members[mg.From], story); a != b {
						t.Errorf("merged %s (%d members, story %s) into %s (%d members, story %s) at %.4f",
							mg.From, len(members[mg.From]), b, mg.Into, len(members[mg.Into]), a, mg.Score)
					}
				}
				members[mg.Into] = append(members[mg.Into], members[mg.From]...)
				delete(members, mg.From)
			}
			if got := under > 0; got != tt.want {
				t.Errorf("got %d merges under the threshold, want some: %v", under, tt.want)
			}
			t.Logf("%d merges under the threshold", under)
		})
	}
}

// majority returns the story most of ids report (ties: the smaller).
func majority(ids []string, story map[string]string) string {
	n := map[string]int{}
	best := ""
	for _, id := range ids {
		s := story[id]
		n[s]++
		if n[s] > n[best] || n[s] == n[best] && s < best {
			best = s
		}
	}
	return best
}

// TestConsolidateMultilingual: consolidating after TestMultilingual's
// stream (its items among real English headlines) merges no two stories
// and no two languages.
func TestConsolidateMultilingual(t *testing.T) {
	ml, english := multilingualStream(t)
	labelled := append(english, ml...)
	items := make([]aggregator.Item, len(labelled))
	for i, it := range labelled {
		items[i] = it.Feed()
	}
	ix := dedupe.New(dedupe.Options{})
	var touched []string
	for _, m := range ix.AddBatch(items) {
		touched = append(touched, m.Cluster)
	}
	slices.Sort(touched)
	ix.Consolidate(dedupe.MergeOptions{}, slices.Compact(touched))
	stories := map[string]map[string]bool{}
	for i, it := range labelled {
		c, _ := ix.ClusterOf(items[i].ID)
		if stories[c] == nil {
			stories[c] = map[string]bool{}
		}
		stories[c][it.Story] = true
	}
	for _, it := range ml {
		c, _ := ix.ClusterOf(it.Feed().ID)
		if s := stories[c]; len(s) > 1 {
			t.Errorf("%s %q is in a cluster of stories %s", it.ID, it.Title, sortedKeys(s))
		}
	}
}

// BenchmarkConsolidate times one Consolidate of every cluster of the
// headline set after AddBatch of the whole set (the index is rebuilt for
// each iteration; ns/op counts that too) and reports the time of
// Consolidate alone per item of the set.
func BenchmarkConsolidate(b *testing.B) {
	labelled := loadSet(b, "dev.jsonl")
	items := make([]aggregator.Item, len(labelled))
	for i, it := range labelled {
		items[i] = it.Feed()
	}
	for _, bb := range []struct {
		name string
		mo   dedupe.MergeOptions
	}{
		{"links off", dedupe.MergeOptions{Links: -1}},
		{"defaults", dedupe.MergeOptions{}},
	} {
		b.Run(bb.name, func(b *testing.B) {
			var merges int
			var spent time.Duration
			for b.Loop() {
				ix := dedupe.New(dedupe.Options{})
				var touched []string
				for _, m := range ix.AddBatch(items) {
					touched = append(touched, m.Cluster)
				}
				slices.Sort(touched)
				touched = slices.Compact(touched)
				runtime.GC() // the garbage of the build is not Consolidate's
				start := time.Now()
				merges = len(ix.Consolidate(bb.mo, touched))
				spent += time.Since(start)
			}
			b.ReportMetric(float64(spent.Nanoseconds())/float64(b.N*len(items)), "consolidate-ns/item")
			b.ReportMetric(float64(merges), "merges")
		})
	}
}

// TestConsolidateSnapshot: an index that merged clusters, written to a
// snapshot and read back, decides later Adds and Expire exactly as the
// original.
func TestConsolidateSnapshot(t *testing.T) {
	labelled := loadSet(t, "dev.jsonl")
	items := make([]aggregator.Item, len(labelled))
	for i, it := range labelled {
		items[i] = it.Feed()
	}
	half := len(items) / 2
	ix := dedupe.New(dedupe.Options{})
	var touched []string
	for _, m := range ix.AddBatch(items[:half]) {
		touched = append(touched, m.Cluster)
	}
	slices.Sort(touched)
	if len(ix.Consolidate(dedupe.MergeOptions{}, slices.Compact(touched))) == 0 {
		t.Fatal("no merges: the test checks nothing")
	}
	var buf bytes.Buffer
	if err := ix.WriteSnapshot(&buf); err != nil {
		t.Fatal(err)
	}
	loaded, err := dedupe.ReadSnapshot(&buf, dedupe.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range []*dedupe.Index{ix, loaded} {
		x.Expire(items[half].Time().Add(-24 * time.Hour))
	}
	want, got := ix.AddBatch(items[half:]), loaded.AddBatch(items[half:])
	for i := range want {
		if want[i].Cluster != got[i].Cluster {
			t.Fatalf("item %d after the snapshot: cluster %s, want %s", i, got[i].Cluster, want[i].Cluster)
		}
	}
}
