package dedupe_test

import (
	"fmt"
	"os"
	"testing"

	"aggregator/dedupe"
	"aggregator/dedupe/score"
)

var SN = os.Getenv("SN") != ""

func TestTune(t *testing.T) {
	if os.Getenv("DEDUPE_TUNE") == "" {
		t.Skip()
	}
	type cfg struct{ th, sf, dec, sw, bw float64; st int; sb bool; ip float64 }
	var cs []cfg
	type pc struct{ pt, ps, c int }
	for _, th := range []float64{0.11, 0.13, 0.15} {
		for _, rt := range []float64{0.18, 0.2, 0.22} {
			cs = append(cs, cfg{th, rt / th, 0, 0, 0, 0, false, 0})
		}
	}
	for _, st := range []int{7} {
	_ = st
	for _, c := range cs {
	fmt.Print(st, " ")
		o := dedupe.Options{Threshold: c.th, SummaryFactor: c.sf, ProbeTerms: 12, PostingScan: 24, Candidates: 2}
		r := evaluate(t, o)
		if os.Getenv("RICHONLY") != "" {
			fmt.Printf("%v | R P %.3f R %.3f F %.3f pF %.3f\n", c, r[2].res.B3P, r[2].res.B3R, r[2].res.B3F1, r[2].res.PairF1)
			continue
		}
		fmt.Printf("%v | H ds P %.3f F %.3f pF %.3f | R P %.3f F %.3f pF %.3f | Rnw P %.3f F %.3f\n", c,
			r[1].res.B3P, r[1].res.B3F1, r[1].res.PairF1, r[2].res.B3P, r[2].res.B3F1, r[2].res.PairF1, r[3].res.B3P, r[3].res.B3F1)
	}
	}
}

func TestDiag(t *testing.T) {
	if os.Getenv("DEDUPE_DIAG") == "" {
		t.Skip()
	}
	items := loadSet(t, os.Getenv("DEDUPE_DIAG"))
	ix := dedupe.New(dedupe.Options{Threshold: 0.2, SummaryWeight: 0.7})
	gold := map[string]string{}
	title := map[string]string{}
	clusterGold := map[string]map[string]int{}
	for _, it := range items {
		a := it.Feed()
		m, _ := ix.Add(a)
		gold[a.ID] = it.Story
		title[a.ID] = it.Title
		if clusterGold[m.Cluster] == nil {
			clusterGold[m.Cluster] = map[string]int{}
		}
		if m.Reason != "first" {
			// judge against the founder's story
			if gold[m.Cluster] != it.Story {
				fmt.Printf("WRONG %.3f %v\n   new: %s\n   rep: %s\n", m.Score, m.Shared, it.Title, title[m.Matched])
			}
		}
		clusterGold[m.Cluster][it.Story]++
	}
}

func TestDiagMiss(t *testing.T) {
	if os.Getenv("DEDUPE_MISS") == "" {
		t.Skip()
	}
	items := loadSet(t, os.Getenv("DEDUPE_MISS"))
	ix := dedupe.New(dedupe.Options{Threshold: 0.15, SummaryFactor: 1.5, SummaryWeight: 0.7})
	seen := map[string]score.Item{}
	for _, it := range items {
		m, _ := ix.Add(it.Feed())
		if p, ok := seen[it.Story]; ok && m.Reason == "first" {
			fmt.Printf("MISS %s gap %v\n   new: %s | %.100s\n   old: %s | %.100s\n", it.Story, it.Published.Sub(p.Published), it.Title, it.Summary, p.Title, p.Summary)
		}
		if _, ok := seen[it.Story]; !ok {
			seen[it.Story] = it
		}
	}
}

func TestDiagCount(t *testing.T) {
	if os.Getenv("DEDUPE_COUNT") == "" {
		t.Skip()
	}
	items := loadSet(t, os.Getenv("DEDUPE_COUNT"))
	ix := dedupe.New(dedupe.Options{Threshold: 0.15, SummaryFactor: 1.5, SummaryWeight: 0.7})
	seen := map[string]bool{}
	founder := map[string]string{}
	cnt := map[string]int{}
	for _, it := range items {
		m, _ := ix.Add(it.Feed())
		switch {
		case m.Reason == "first" && seen[it.Story]:
			cnt["found-but-seen"]++
		case m.Reason == "first":
			cnt["found-ok"]++
		case founder[m.Cluster] == it.Story:
			cnt["join-ok"]++
		default:
			cnt["join-wrong"]++
			if seen[it.Story] {
				cnt["join-wrong-seen"]++
			}
		}
		if m.Reason == "first" {
			founder[m.Cluster] = it.Story
		}
		seen[it.Story] = true
	}
	fmt.Println("COUNT", cnt)
}
