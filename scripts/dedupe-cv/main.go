// Command dedupe-cv cross-validates the dedupe configuration by story:
// each development set of ../shared/data/dedupe is split into k folds
// (score.Folds: story-disjoint, deterministic for a seed), and for each
// fold every tunable is chosen on the other folds only, then the held-out
// fold is scored. It prints, for every metric, the mean over folds and the
// worst fold, beside the all-data score of the defaults.
//
//	go run ./scripts/dedupe-cv                 # k=5, seed 1, both sets
//	go run ./scripts/dedupe-cv -k 4 -seed 7 -v # other folds; each fold's choice
//	go run ./scripts/dedupe-cv -pipeline -v    # merge settings chosen end to end
//	go run ./scripts/dedupe-cv -diagnose 20 -pipeline -names outlet-%04d
//	                                           # why the worst fold is worst (diagnose.go)
//
// Scoring is through the dedupe API, not end to end: each set is clustered
// whole, items in file order with FirstSeen = published (as TestQuality
// does), so held-out items meet as many unrelated items as in a real run;
// labels are never read while clustering. A fold's score counts the
// held-out items only (score.ScoreHeldOut: a held-out item merged with an
// item of another fold is a wrong merge). Headlines are scored date-split
// as the data README asks, title + lead plainly, with the default window.
//
// One configuration serves both kinds of data, so a candidate is chosen
// on the training folds of both sets at once, by an objective that puts
// precision first: the mean over the two sets of (B-cubed F1 + pairwise
// F1)/2, less four times any shortfall of B-cubed precision below 0.985
// (headlines) or 0.98 (title + lead): the held-out targets plus 0.01,
// since a training fold's score is optimistic (the model was fitted on it).
package main

import (
	"context"
	"flag"
	"fmt"
	"go/format"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"aggregator/dedupe"
	"aggregator/dedupe/score"
	"aggregator/internal/shareddata"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "dedupe-cv:", err)
		os.Exit(1)
	}
}

// set is one development file with its labels.
type set struct {
	name      string
	items     []score.Item
	dateSplit bool
	minB3P    float64 // B-cubed precision under which the objective is penalised
	gold      map[string]string
	dates     map[string]time.Time
	folds     map[string]int
}

// candidate is one configuration the cross-validation may choose.
type candidate struct {
	name string
	opts dedupe.Options
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("dedupe-cv", flag.ContinueOnError)
	k := fs.Int("k", 5, "number of folds (at least 4)")
	seed := fs.Uint64("seed", 1, "seed of the fold assignment")
	verbose := fs.Bool("v", false, "print each fold's choice and scores")
	write := fs.String("write-model", "", "instead of cross-validating, fit the shipped model on all items (the same procedure as for a fold) and write it as Go to this file (dedupe/model_weights.go)")
	table := fs.Bool("table", false, "also print every candidate's held-out mean (B-cubed P, B-cubed F1, pairwise F1 of each set): the rule grid, then the learned decision at each MinP")
	every := fs.Int("merge-every", 0, "consolidate every this many items instead of at each date")
	spread := fs.Int("spread", 0, "instead of cross-validating, score fixed clusterings (the defaults with and without merging, the gold with its stories over 100 items cut in two, the gold; with -pipeline also the pipeline's with and without merging, feeds named by the first of -names) under this many fold assignments and print how far the worst fold falls under the mean")
	viaPipeline := fs.Bool("pipeline", false, "instead, choose the merge setting end to end: cluster each set through the pipeline (fetch, store, cluster, as aggregator fetch does) once per merge setting and cross-validate the choice")
	names := fs.String("names", "outlet-%04d,o%d,feed-%d", "with -pipeline: the formats of the feeds' names, given the outlet's number, comma-separated: each set is run under each (the item IDs hash the names, and so they break ties among reports of one time); scripts/score-e2e's are outlet-%04d, TestQualityEndToEnd's o%d")
	foldMethod := fs.String("folds", "greedy", "how stories are dealt to folds: greedy (score.Folds: largest first to the fold with the fewest items) or stratified (score.StratifiedFolds: blocks of k stories of about one size, one to each fold in a seeded order)")
	diag := fs.Int("diagnose", 0, "instead of cross-validating, print for each fold of the fixed clusterings (the defaults through the API, merging; with -pipeline the pipeline's) the stories that carry its pairs, how they were cut and what the fold would score with them perfect, then the spread over this many fold assignments as clustered, with the big stories of uniform quality and with them perfect")
	links := fs.Float64("links", 0, "with -spread and -diagnose: MergeOptions.Links of the merging clusterings (0 or negative: off, the default; 0.05: what cross-validation chose)")
	grid := fs.String("grid", "full", "with -pipeline: the merge settings to choose from: full, links (off, the defaults, and the defaults with MergeOptions.Links, size 8 or 5), or none (off and the defaults)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *k < 4 {
		return fmt.Errorf("-k %d: want at least 4 folds", *k)
	}
	foldFn, ok := foldMethods[*foldMethod]
	if !ok {
		return fmt.Errorf("-folds %q: want greedy or stratified", *foldMethod)
	}
	sets, err := loadSets(*k, *seed, foldFn)
	if err != nil {
		return err
	}
	cv := &crossValidation{k: *k, seed: *seed, folds: foldFn, foldName: *foldMethod, sets: sets, mergeEvery: *every}
	if *viaPipeline && *spread == 0 && *diag == 0 {
		cands := pipelineMergeCandidates
		switch *grid {
		case "none":
			cands = cands[:2]
		case "links":
			cands = linkMergeCandidates
		case "full":
		default:
			return fmt.Errorf("-grid %q: want full, links or none", *grid)
		}
		return pipelineCV(context.Background(), stdout, cv, strings.Split(*names, ","), cands, *verbose)
	}
	if *write != "" {
		return writeModel(cv, *write, stdout)
	}
	fixedMerge := &dedupe.MergeOptions{Links: *links}
	if *diag > 0 {
		cls := []fixedClustering{{name: "API, package defaults, merging", preds: cv.clusterMerging(dedupe.Options{}, fixedMerge)}}
		if *viaPipeline {
			if cls, err = pipelineClusterings(context.Background(), cv, strings.Split(*names, ",")[0], fixedMerge); err != nil {
				return err
			}
			cls = cls[1:] // the default MergeOptions
		}
		diagnose(stdout, cv, cls, *diag)
		return nil
	}
	if *spread > 0 {
		var extra []fixedClustering
		if *viaPipeline {
			if extra, err = pipelineClusterings(context.Background(), cv, strings.Split(*names, ",")[0], fixedMerge); err != nil {
				return err
			}
		}
		printSpread(stdout, cv, fixedMerge, *spread, extra)
		return nil
	}

	// The rule grid: the clustering does not depend on the fold (labels
	// are not read), so each candidate is clustered once and scored on
	// every fold's training and held-out items.
	rules := candidates()
	ruleEvals := make([]evaluation, len(rules))
	for c, cand := range rules {
		preds := cv.cluster(ruleOptions(cand.opts))
		for f := range *k {
			ruleEvals[c].folds = append(ruleEvals[c].folds, cv.scoreFold(preds, f))
		}
		ruleEvals[c].all = cv.scoreAll(preds)
	}
	// The learned decision: for each fold a model is fitted on the pairs
	// of the training items only (-write-model fits the shipped one the
	// same way on all items), then the clustering it gives is scored; its
	// size cap (the fit depends on it) and MinP are tunables, chosen on the
	// training folds too.
	decisions := []dedupe.Decision{dedupe.DecideLearned, dedupe.DecideLearnedLeads}
	perDecision := len(sizeCaps) * len(minPs)
	learned := make([]evaluation, perDecision*len(decisions))
	var learnedNames []string
	for di := range decisions {
		for _, c := range sizeCaps {
			for _, p := range minPs {
				learnedNames = append(learnedNames, fmt.Sprintf("%s, %s, MinP %.2f", [...]string{"learned", "learned for leads"}[di], capName(c), p))
			}
		}
	}
	models := make([][]dedupe.Model, *k) // by fold and size cap
	for f := range *k {
		ex := cv.examples(f)
		for ci, c := range sizeCaps {
			m := fit(ex, c)
			models[f] = append(models[f], m)
			for di, d := range decisions {
				for i, p := range minPs {
					m.MinP = p
					opts := learnedOptions(m)
					opts.Decision = d
					j := di*perDecision + ci*len(minPs) + i
					learned[j].folds = append(learned[j].folds, cv.scoreFold(cv.cluster(opts), f))
				}
			}
		}
	}
	ruleNames := make([]string, len(rules))
	for i, r := range rules {
		ruleNames[i] = r.name
	}

	if *table {
		printMeans(stdout, ruleNames, ruleEvals, len(sets), *k)
		printMeans(stdout, learnedNames, learned, len(sets), *k)
		fmt.Fprintln(stdout)
	}
	fmt.Fprintf(stdout, "%d folds by story, seed %d, through the dedupe API\n", *k, *seed)
	families := []struct {
		name  string
		names []string
		evals []evaluation
	}{
		{"cosine rule with its default constants (no choice; the baseline)", ruleNames[:1], ruleEvals[:1]},
		{fmt.Sprintf("cosine rule, %d configurations chosen on the training folds", len(rules)), ruleNames, ruleEvals},
		{fmt.Sprintf("learned decision (for all items or for leads only), model, size cap (%d values) and MinP (%d values) chosen on the training folds", len(sizeCaps), len(minPs)), learnedNames, learned},
		{"the package defaults' procedure (DecideLearnedLeads): the model for leads, fitted and its size cap and MinP chosen on the training folds; the rule's default constants for headlines",
			learnedNames[perDecision:], learned[perDecision:]},
		{"either, chosen on the training folds", append(slices.Clone(ruleNames), learnedNames...), append(slices.Clone(ruleEvals), learned...)},
	}
	for _, fam := range families {
		fmt.Fprintf(stdout, "\n== %s\n", fam.name)
		cv.printFamily(stdout, fam.names, fam.evals, *verbose)
	}

	// Cluster merging (Index.Consolidate) on top of the defaults'
	// procedure: for each fold, the model and its tunables as chosen
	// above, then the merge options chosen on the training folds too.
	defaults := learned[perDecision:]
	mergeEvals := make([]evaluation, len(mergeCandidates))
	for f := range *k {
		j := cv.choose(defaults, f)
		m := models[f][j/len(minPs)]
		m.MinP = minPs[j%len(minPs)]
		opts := learnedOptions(m)
		opts.Decision = dedupe.DecideLearnedLeads
		for c, mc := range mergeCandidates {
			mergeEvals[c].folds = append(mergeEvals[c].folds, cv.scoreFold(cv.clusterMerging(opts, mc.opts), f))
		}
	}
	mergeNames := make([]string, len(mergeCandidates))
	for i, mc := range mergeCandidates {
		mergeNames[i] = mc.name
	}
	if *table {
		fmt.Fprintln(stdout)
		printMeans(stdout, mergeNames, mergeEvals, len(sets), *k)
	}
	fmt.Fprintf(stdout, "\n== the defaults' procedure, then Index.Consolidate at each date with the package's default MergeOptions (no choice)\n")
	cv.printFamily(stdout, mergeNames[1:2], mergeEvals[1:2], *verbose)
	fmt.Fprintf(stdout, "\n== the defaults' procedure, then merging off or %d MergeOptions chosen on the training folds\n", len(mergeCandidates)-1)
	cv.printFamily(stdout, mergeNames, mergeEvals, *verbose)
	shipped := cv.scoreAll(cv.cluster(dedupe.Options{}))
	merged := cv.scoreAll(cv.clusterMerging(dedupe.Options{}, &dedupe.MergeOptions{}))
	fmt.Fprintf(stdout, "\n== all data, not held out%s%s\n", strings.Repeat(" ", 32), headRow())
	for si, s := range sets {
		fmt.Fprintf(stdout, "  %-22s %-33s%s\n", s.name, "cosine rule, default constants", row(ruleEvals[0].all[si]))
		fmt.Fprintf(stdout, "  %-22s %-33s%s\n", s.name, "package defaults (shipped model)", row(shipped[si]))
		fmt.Fprintf(stdout, "  %-22s %-33s%s\n", s.name, "the same, then Consolidate", row(merged[si]))
	}
	return nil
}

// writeModel fits the model on every item of both sets, chooses its MinP
// by the objective on all of them, and writes it as Go source.
func writeModel(cv *crossValidation, path string, stdout io.Writer) error {
	var ex []dedupe.Example
	for _, s := range cv.sets {
		ex = append(ex, Examples(s.items, func(string) bool { return true })...)
	}
	var m dedupe.Model
	bestV := math.Inf(-1)
	for _, c := range sizeCaps {
		mc := fit(ex, c)
		for _, p := range minPs {
			mc.MinP = p
			opts := learnedOptions(mc)
			opts.Decision = dedupe.DecideLearnedLeads
			if v := cv.objective(cv.scoreAll(cv.cluster(opts))); v > bestV+1e-9 {
				m, bestV = mc, v
			}
		}
	}
	var b strings.Builder
	b.WriteString("// Code generated by go run ./scripts/dedupe-cv -write-model dedupe/model_weights.go; DO NOT EDIT.\n\npackage dedupe\n\n")
	fmt.Fprintf(&b, "// shippedModel is the model of the learned decision when Options.Model\n// is nil: fitted on %d labelled pairs of both development sets.\n", len(ex))
	b.WriteString("var shippedModel = Model{\n\tWeights: [NumFeatures]float64{\n")
	for i, w := range m.Weights {
		fmt.Fprintf(&b, "\t\t%s, // %s\n", strconv.FormatFloat(w, 'g', -1, 64), dedupe.FeatureNames[i])
	}
	fmt.Fprintf(&b, "\t},\n\tBias: %s,\n\tMinP: %s,\n\tSizeCap: %d,\n}\n", strconv.FormatFloat(m.Bias, 'g', -1, 64), strconv.FormatFloat(m.MinP, 'g', -1, 64), m.SizeCap)
	src, err := format.Source([]byte(b.String()))
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, src, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s: %d pairs, %s, MinP %.2f (objective %.4f on all items)\n", path, len(ex), capName(m.SizeCap), m.MinP, bestV)
	return nil
}

// The learned decision's tunables: the L2 penalty is fixed; the size cap
// (0: none) and MinP are chosen.
var (
	minPs    = []float64{0.4, 0.5, 0.55, 0.6, 0.65, 0.7, 0.8, 0.9}
	sizeCaps = []int{0, 2, 3, 4, 6}
)

// fit fits a model on ex with the cluster-size feature capped at sizeCap.
func fit(ex []dedupe.Example, sizeCap int) dedupe.Model {
	capped := make([]dedupe.Example, len(ex))
	for i, e := range ex {
		capped[i] = dedupe.Example{X: dedupe.CapSize(e.X, sizeCap), Same: e.Same}
	}
	m := dedupe.Fit(capped, l2, 0)
	m.SizeCap = sizeCap
	return m
}

func capName(c int) string {
	if c <= 0 {
		return "size uncapped"
	}
	return fmt.Sprintf("size cap %d", c)
}

const l2 = 1.0

// learnedOptions are the defaults with the learned decision and model m.
func learnedOptions(m dedupe.Model) dedupe.Options {
	return dedupe.Options{Decision: dedupe.DecideLearned, Model: &m}
}

// ruleOptions are opts with the cosine decision, for the rule grid.
func ruleOptions(opts dedupe.Options) dedupe.Options {
	opts.Decision = dedupe.DecideCosine
	return opts
}

// crossValidation holds the sets and folds.
type crossValidation struct {
	k    int
	seed uint64
	// folds deals the items to folds (-folds).
	folds    func(items []score.Item, k int, seed uint64) map[string]int
	foldName string
	sets     []*set
	// keepPrecision makes choose consider only the candidates whose
	// training B-cubed precision is, on every set, no more than
	// precisionSlack under that of the first candidate (-pipeline: merging
	// off), before the objective ranks them.
	keepPrecision bool
	// mergeEvery, when positive, consolidates every mergeEvery items
	// instead of at each date (-merge-every).
	mergeEvery int
}

// foldResult is one candidate's scores with one fold held out, per set.
type foldResult struct {
	train, held []score.Result
}

// evaluation is one candidate's results: per fold, and on all items.
type evaluation struct {
	folds []foldResult
	all   []score.Result
}

// cluster clusters every set with opts: predicted cluster by item ID,
// cut at dates for the date-split sets.
func (cv *crossValidation) cluster(opts dedupe.Options) []map[string]string {
	return cv.clusterMerging(opts, nil)
}

// clusterMerging is cluster with cluster merging by mo (nil: none).
func (cv *crossValidation) clusterMerging(opts dedupe.Options, mo *dedupe.MergeOptions) []map[string]string {
	out := make([]map[string]string, len(cv.sets))
	for si, s := range cv.sets {
		pred := clusterSet(opts, mo, cv.mergeEvery, s.items)
		if s.dateSplit {
			pred = score.SplitByDate(pred, s.dates)
		}
		out[si] = pred
	}
	return out
}

// scoreFold scores a clustering on the training items and on the held-out
// items of fold f.
func (cv *crossValidation) scoreFold(preds []map[string]string, f int) foldResult {
	var r foldResult
	for si, s := range cv.sets {
		held, rest := map[string]bool{}, map[string]bool{}
		for _, it := range s.items {
			if s.folds[it.ID] == f {
				held[it.ID] = true
			} else {
				rest[it.ID] = true
			}
		}
		r.held = append(r.held, score.ScoreHeldOut(s.gold, preds[si], held))
		r.train = append(r.train, score.ScoreHeldOut(s.gold, preds[si], rest))
	}
	return r
}

func (cv *crossValidation) scoreAll(preds []map[string]string) []score.Result {
	out := make([]score.Result, len(cv.sets))
	for si, s := range cv.sets {
		out[si] = score.Score(s.gold, preds[si])
	}
	return out
}

// choose returns the candidate of evals with the best training objective
// on fold f (ties: the first).
func (cv *crossValidation) choose(evals []evaluation, f int) int {
	best, bestV := 0, math.Inf(-1)
	for c, ev := range evals {
		if cv.keepPrecision && !keepsPrecision(ev.folds[f].train, evals[0].folds[f].train) {
			continue
		}
		if v := cv.objective(ev.folds[f].train); v > bestV+1e-9 {
			best, bestV = c, v
		}
	}
	return best
}

// precisionSlack is how much training B-cubed precision a candidate may
// lose against the first one when crossValidation.keepPrecision is set:
// a rounding's worth, so that a merge setting buys recall without
// costing precision.
const precisionSlack = 0.001

// keepsPrecision reports whether rs lose no more than precisionSlack of
// B-cubed precision against base, set by set.
func keepsPrecision(rs, base []score.Result) bool {
	for si := range rs {
		if rs[si].B3P < base[si].B3P-precisionSlack {
			return false
		}
	}
	return true
}

// printFamily chooses, for each fold, the candidate of evals with the
// best training objective and prints the held-out summary of the choices.
func (cv *crossValidation) printFamily(w io.Writer, names []string, evals []evaluation, verbose bool) {
	held := make([][]score.Result, len(cv.sets))
	for f := range cv.k {
		best := cv.choose(evals, f)
		if verbose {
			fmt.Fprintf(w, "fold %d: chose %s (training objective %.4f)\n", f, names[best], cv.objective(evals[best].folds[f].train))
		}
		for si := range cv.sets {
			held[si] = append(held[si], evals[best].folds[f].held[si])
		}
	}
	for si, s := range cv.sets {
		fmt.Fprintf(w, "%s\n", s.name)
		printSummary(w, held[si])
	}
}

// mergeCandidate is one setting of cluster merging the cross-validation
// may choose; nil opts is no merging.
type mergeCandidate struct {
	name string
	opts *dedupe.MergeOptions
}

// mergeCandidates lists the merge settings chosen from: off first, then
// the package's defaults, then a grid over the centroid threshold, the
// size both clusters need and the core terms both must carry without
// rejoining, then the rejoin threshold of the small clusters.
var mergeCandidates = func() []mergeCandidate {
	out := []mergeCandidate{{name: "merging off"}, {name: "merging, default MergeOptions", opts: &dedupe.MergeOptions{}}}
	for _, core := range []int{1, 2} {
		for _, size := range []int{3, 5, 8} {
			for _, th := range []float64{0.1, 0.15, 0.2, 0.3} {
				out = append(out, mergeCandidate{
					name: fmt.Sprintf("merging, threshold %.2f, size %d, core %d, no rejoin", th, size, core),
					opts: &dedupe.MergeOptions{Threshold: th, MinSize: size, MinCore: core, Rejoin: -1, Links: -1},
				})
			}
		}
	}
	for _, size := range []int{5, 8} {
		for _, rj := range []float64{0.15, 0.2, 0.25, 0.3} {
			out = append(out, mergeCandidate{
				name: fmt.Sprintf("merging, threshold 0.15, size %d, core 1, rejoin %.2f", size, rj),
				opts: &dedupe.MergeOptions{Threshold: 0.15, MinSize: size, MinCore: 1, Rejoin: rj, Links: -1},
			})
		}
	}
	return out
}()

// objective scores a candidate on training results, precision first: the
// mean over the sets of (B-cubed F1 + pairwise F1)/2, less four times any
// shortfall of B-cubed precision below the set's floor.
func (cv *crossValidation) objective(rs []score.Result) float64 {
	var v float64
	for si, r := range rs {
		v += (r.B3F1+r.PairF1)/2 - 4*max(0, cv.sets[si].minB3P-r.B3P)
	}
	return v / float64(len(rs))
}

// examples collects the labelled pairs for fold f's model: the items of
// every set are added in file order with the default (cosine) decision,
// and before each Add the candidates it weighs are recorded. Only items
// outside fold f give examples, and a candidate is labelled by the
// stories of its members outside fold f (same: the item reports the
// story most of them report); one with no such member gives none.
func (cv *crossValidation) examples(f int) []dedupe.Example {
	var out []dedupe.Example
	for _, s := range cv.sets {
		out = append(out, Examples(s.items, func(id string) bool { return s.folds[id] != f })...)
	}
	return out
}

// foldMethods are the fold assignments -folds chooses from; both are
// story-disjoint and deterministic for a seed.
var foldMethods = map[string]func(items []score.Item, k int, seed uint64) map[string]int{
	"greedy":     score.Folds,
	"stratified": score.StratifiedFolds,
}

func loadSets(k int, seed uint64, folds func([]score.Item, int, uint64) map[string]int) ([]*set, error) {
	sets := []*set{
		{name: "headlines (date-split)", dateSplit: true, minB3P: 0.985},
		{name: "title + lead", minB3P: 0.98},
	}
	for i, file := range []string{"dev.jsonl", "dev-rich.jsonl"} {
		items, err := load(file)
		if err != nil {
			return nil, err
		}
		s := sets[i]
		s.items, s.gold, s.dates = items, map[string]string{}, map[string]time.Time{}
		for _, it := range items {
			s.gold[it.ID], s.dates[it.ID] = it.Story, it.Published
		}
		s.folds = folds(items, k, seed)
	}
	return sets, nil
}

// metrics names the fields of a score.Result in print order.
var metrics = []struct {
	name string
	get  func(score.Result) float64
}{
	{"pair P", func(r score.Result) float64 { return r.PairP }},
	{"pair R", func(r score.Result) float64 { return r.PairR }},
	{"pair F1", func(r score.Result) float64 { return r.PairF1 }},
	{"B3 P", func(r score.Result) float64 { return r.B3P }},
	{"B3 R", func(r score.Result) float64 { return r.B3R }},
	{"B3 F1", func(r score.Result) float64 { return r.B3F1 }},
}

func row(r score.Result) string {
	var b strings.Builder
	for _, m := range metrics {
		fmt.Fprintf(&b, " %7.3f", m.get(r))
	}
	return b.String()
}

func headRow() string {
	var b strings.Builder
	for _, m := range metrics {
		fmt.Fprintf(&b, " %7s", m.name)
	}
	return b.String()
}

// printMeans prints each candidate's held-out means over the k folds:
// B-cubed P, B-cubed F1 and pairwise F1 of each of n sets.
func printMeans(w io.Writer, names []string, evals []evaluation, n, k int) {
	for c, name := range names {
		fmt.Fprintf(w, "%-66s", name)
		for si := range n {
			var p, f1, pf float64
			for _, fr := range evals[c].folds {
				p, f1, pf = p+fr.held[si].B3P, f1+fr.held[si].B3F1, pf+fr.held[si].PairF1
			}
			fmt.Fprintf(w, "   %.3f %.3f %.3f", p/float64(k), f1/float64(k), pf/float64(k))
		}
		fmt.Fprintln(w)
	}
}

// printSummary prints the mean over folds and the worst fold of every
// metric (the worst of each metric separately).
func printSummary(w io.Writer, held []score.Result) {
	var head strings.Builder
	for _, m := range metrics {
		fmt.Fprintf(&head, " %7s", m.name)
	}
	fmt.Fprintf(w, "  %-22s%s\n", "", head.String())
	var mean, worst, spread strings.Builder
	for _, m := range metrics {
		sum, lo := 0.0, math.Inf(1)
		for _, r := range held {
			v := m.get(r)
			sum += v
			lo = min(lo, v)
		}
		mu := sum / float64(len(held))
		fmt.Fprintf(&mean, " %7.3f", mu)
		fmt.Fprintf(&worst, " %7.3f", lo)
		fmt.Fprintf(&spread, " %7.3f", mu-lo)
	}
	fmt.Fprintf(w, "  %-22s%s\n", "held-out mean", mean.String())
	fmt.Fprintf(w, "  %-22s%s\n", "held-out worst fold", worst.String())
	fmt.Fprintf(w, "  %-22s%s\n", "mean - worst", spread.String())
}

// clusterSet adds the items to one index in file order and returns each
// item's cluster, by the data's item ID. With mo, the index consolidates
// (Index.Consolidate) the clusters that gained members whenever the
// items' date changes and after the last: a pipeline's pass never splits
// the items of one time, and the items of these files carry a date only.
// With every > 0 it consolidates every that many items instead, as
// a pipeline would after passes of that size if the items carried times.
// The clusters are then read from the index after every Add, so that a
// merge moves the items it moved.
func clusterSet(opts dedupe.Options, mo *dedupe.MergeOptions, every int, items []score.Item) map[string]string {
	ix := dedupe.New(opts)
	pred := make(map[string]string, len(items))
	var touched []string
	consolidate := func() {
		slices.Sort(touched)
		ix.Consolidate(*mo, slices.Compact(touched))
		touched = touched[:0]
	}
	for i, it := range items {
		if mo != nil && i > 0 && (every <= 0 && !it.Published.Equal(items[i-1].Published) || every > 0 && i%every == 0) {
			consolidate()
		}
		m, _ := ix.Add(it.Feed())
		pred[it.ID] = m.Cluster
		touched = append(touched, m.Cluster)
	}
	if mo == nil {
		return pred
	}
	consolidate()
	for _, it := range items {
		if c, ok := ix.ClusterOf(it.Feed().ID); ok {
			pred[it.ID] = c
		}
	}
	return pred
}

func load(name string) ([]score.Item, error) {
	p, err := shareddata.Path("dedupe", name)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	items, err := score.Load(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return items, nil
}

// candidates lists the configurations the cross-validation chooses from;
// the first is the defaults. The grid spans the tunables that matter most
// on the development sets: the similarity threshold, its factor for items
// with a summary, and template detection (off, or the number of clusters
// that makes a pair a template and the weight its terms keep).
func candidates() []candidate {
	out := []candidate{{name: "cosine rule, default constants"}}
	type tmpl struct {
		name     string
		clusters int
		weight   float64
		specific int
	}
	tmpls := []tmpl{
		{"templates off", -1, 1, -1},
		{"specific term only", -1, 1, 1},
		{"templates 3×0.5", 3, 0.5, 1},
		{"templates 4×0.5", 4, 0.5, 1},
		{"templates 4×0.3", 4, 0.3, 1},
		{"templates 6×0.5", 6, 0.5, 1},
	}
	for _, th := range []float64{0.09, 0.11, 0.13} {
		for _, sf := range []float64{0.19 / 0.11, 2} {
			for _, tp := range tmpls {
				out = append(out, candidate{
					name: fmt.Sprintf("threshold %.2f, summary ×%.2f, %s", th, sf, tp.name),
					opts: dedupe.Options{Threshold: th, SummaryFactor: sf,
						TemplateDays: tp.clusters, TemplateWeight: tp.weight, MinSpecific: tp.specific},
				})
			}
		}
	}
	return out
}
