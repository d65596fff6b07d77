package dedupe_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"aggregator/dedupe"
	"aggregator/dedupe/score"
	"aggregator/internal/shareddata"
)

func loadSet(t testing.TB, name string) []score.Item {
	t.Helper()
	f, err := os.Open(filepath.Join(shareddata.TestDir(t), "dedupe", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	items, err := score.Load(f)
	if err != nil {
		t.Fatalf("load %s: %v", name, err)
	}
	return items
}

// cluster runs the items through one Index in file order and returns the
// predicted cluster of each labelled item.
func cluster(opts dedupe.Options, items []score.Item) map[string]string {
	ix := dedupe.New(opts)
	pred := make(map[string]string, len(items))
	for _, it := range items {
		m, _ := ix.Add(it.Feed())
		pred[it.ID] = m.Cluster
	}
	return pred
}

type scored struct {
	name string
	res  score.Result
}

// evaluate scores opts on both development sets, in every variant the
// data README asks for.
func evaluate(t testing.TB, opts dedupe.Options) []scored {
	heads, rich := loadSet(t, "dev.jsonl"), loadSet(t, "dev-rich.jsonl")
	var out []scored
	{
		gold, dates := map[string]string{}, map[string]time.Time{}
		for _, it := range heads {
			gold[it.ID], dates[it.ID] = it.Story, it.Published
		}
		pred := cluster(opts, heads)
		out = append(out,
			scored{"headlines, plain", score.Score(gold, pred)},
			scored{"headlines, date-split", score.Score(score.SplitByDate(gold, dates), score.SplitByDate(pred, dates))})
	}
	{
		gold := map[string]string{}
		for _, it := range rich {
			gold[it.ID] = it.Story
		}
		out = append(out, scored{"title+lead, window", score.Score(gold, cluster(opts, rich))})
		nowin := opts
		nowin.Window = 1_000_000 * time.Hour
		out = append(out, scored{"title+lead, no window", score.Score(gold, cluster(nowin, rich))})
	}
	return out
}

// TestQuality scores the default configuration on the labelled development
// sets and pins floors slightly under the measured numbers, so that a
// regression fails. These are whole-file figures, in file order; the
// expected quality on unseen stories is the cross-validated one
// (scripts/dedupe-cv, quoted in the README). Targets on held-out data
// (issue 11): headlines (date-split) B-cubed P ≥ 0.975, B-cubed F1 ≥ 0.80,
// pairwise F1 ≥ 0.70; title+lead B-cubed P ≥ 0.97, B-cubed F1 ≥ 0.92,
// pairwise F1 ≥ 0.85.
func TestQuality(t *testing.T) {
	floors := map[string]score.Result{
		// Measured: 0.752, 0.981, 0.807.
		"headlines, date-split": {PairF1: 0.735, B3P: 0.975, B3F1: 0.80},
		// Measured: 0.866, 0.978, 0.920 (the model with its size cap,
		// chosen for held-out precision: whole-file B-cubed F1 was 0.930
		// with B-cubed P 0.972 before it).
		"title+lead, window": {PairF1: 0.85, B3P: 0.972, B3F1: 0.91},
	}
	for _, s := range evaluate(t, dedupe.Options{}) {
		t.Logf("%-24s %v", s.name, s.res)
		f, ok := floors[s.name]
		if !ok {
			continue
		}
		if s.res.PairF1 < f.PairF1 || s.res.B3P < f.B3P || s.res.B3F1 < f.B3F1 {
			t.Errorf("%s: got pairwise F1 %.3f, B-cubed P %.3f, B-cubed F1 %.3f; want at least %.3f, %.3f, %.3f",
				s.name, s.res.PairF1, s.res.B3P, s.res.B3F1, f.PairF1, f.B3P, f.B3F1)
		}
	}
}
