package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"aggregator/dedupe"
	"aggregator/dedupe/score"
)

// pipelineCV chooses the merge setting on the pipeline's own clusters
// (-pipeline): every set is fetched and clustered end to end by
// feedSet.run once per merge candidate, scored on each fold's training
// and held-out items, and a setting is chosen per fold on its training
// folds by the objective, as the API's families are.
//
// Headlines take the cosine rule (DecideLearnedLeads uses the model only
// for items with a summary), so one run per candidate serves every fold.
// Title + lead is clustered once per fold, with a model fitted on that
// fold's training items only (the shipped model's size cap and MinP,
// which the API cross-validation chose per fold as 3 or 4 and 0.65
// nearly everywhere), so that its held-out items are scored by a model
// that never saw them.
func pipelineCV(ctx context.Context, w io.Writer, cv *crossValidation, prefix string, cands []mergeCandidate, verbose bool) error {
	servers := make([]*feedSet, len(cv.sets))
	for si, s := range cv.sets {
		fs, err := serveSet(s.items, prefix)
		if err != nil {
			return err
		}
		defer fs.close()
		servers[si] = fs
	}
	// The shipped configuration on whole files, not held out: with the
	// names of score-e2e these are its figures.
	fmt.Fprintf(w, "== all data, not held out, end to end (feeds named %q)%s%s\n", prefix, strings.Repeat(" ", 6), headRow())
	for _, mc := range []mergeCandidate{cands[0], {name: "merging, default MergeOptions", opts: &dedupe.MergeOptions{}}} {
		for si, s := range cv.sets {
			pred, err := servers[si].run(ctx, dedupe.Options{}, mc.opts)
			if err != nil {
				return err
			}
			r := score.Score(s.gold, pred)
			if s.dateSplit {
				r = score.Score(score.SplitByDate(s.gold, s.dates), score.SplitByDate(pred, s.dates))
			}
			fmt.Fprintf(w, "  %-22s %-33s%s\n", s.name, mc.name, row(r))
		}
	}
	models := make([]dedupe.Model, cv.k)
	for f := range cv.k {
		models[f] = fit(cv.examples(f), shippedSizeCap)
		models[f].MinP = shippedMinP
	}
	evals := make([]evaluation, len(cands))
	for c, mc := range cands {
		preds := make([][]map[string]string, cv.k) // by fold, then set
		for si, s := range cv.sets {
			var whole map[string]string
			for f := range cv.k {
				var err error
				switch {
				case s.dateSplit && whole != nil:
				case s.dateSplit:
					whole, err = servers[si].run(ctx, dedupe.Options{}, mc.opts)
				default:
					opts := learnedOptions(models[f])
					opts.Decision = dedupe.DecideLearnedLeads
					whole, err = servers[si].run(ctx, opts, mc.opts)
				}
				if err != nil {
					return fmt.Errorf("%s, %s: %w", s.name, mc.name, err)
				}
				pred := whole
				if s.dateSplit {
					pred = score.SplitByDate(whole, s.dates)
				}
				preds[f] = append(preds[f], pred)
			}
		}
		for f := range cv.k {
			evals[c].folds = append(evals[c].folds, cv.scoreFold(preds[f], f))
		}
		if verbose {
			fmt.Fprintf(w, "%-66s", mc.name)
			printMeanRow(w, evals[c], len(cv.sets), cv.k)
		}
	}
	names := make([]string, len(cands))
	for i, mc := range cands {
		names[i] = mc.name
	}
	fmt.Fprintf(w, "\n%d folds by story, seed %d, end to end through the pipeline (feeds named %q)\n", cv.k, cv.seed, prefix)
	for c := range cands {
		fmt.Fprintf(w, "\n== %s (no choice)\n", names[c])
		cv.printFamily(w, names[c:c+1], evals[c:c+1], false)
	}
	fmt.Fprintf(w, "\n== merging off or %d settings, chosen on the training folds\n", len(cands)-1)
	cv.printFamily(w, names, evals, true)
	return nil
}

// The shipped model's size cap and MinP (dedupe/model_weights.go), with
// which pipelineCV fits its per-fold models.
const (
	shippedSizeCap = 3
	shippedMinP    = 0.65
)

// printMeanRow prints an evaluation's held-out means: B-cubed P, B-cubed
// F1 and pairwise F1 of each of n sets.
func printMeanRow(w io.Writer, ev evaluation, n, k int) {
	for si := range n {
		var p, f1, pf float64
		for _, fr := range ev.folds {
			p, f1, pf = p+fr.held[si].B3P, f1+fr.held[si].B3F1, pf+fr.held[si].PairF1
		}
		fmt.Fprintf(w, "   %.3f %.3f %.3f", p/float64(k), f1/float64(k), pf/float64(k))
	}
	fmt.Fprintln(w)
}
