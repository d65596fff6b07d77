package main

import (
	"fmt"
	"io"
	"slices"
	"time"
)

// labels name the systems in the report.
var labels = map[string]string{
	oursBbolt:     "ours, bbolt",
	oursPostgres:  "ours, PostgreSQL",
	minifluxAPI:   "Miniflux+PG, API refresh",
	minifluxSched: "Miniflux+PG, its scheduler",
}

// The targets of issue 13: Miniflux+PostgreSQL's CPU over ours.
const (
	targetFirst     = 10.0
	targetUnchanged = 40.0
)

func secs(d time.Duration) string { return fmt.Sprintf("%.2fs", d.Seconds()) }

func printRun(w io.Writer, r int, system string, res run) {
	for _, ps := range []struct {
		name string
		p    pass
	}{{"first", res.First}, {"unchanged", res.Unchanged}} {
		pg := ""
		if ps.p.PG > 0 {
			pg = fmt.Sprintf(" (PostgreSQL %s)", secs(ps.p.PG))
		}
		note := ""
		if ps.p.Note != "" {
			note = "; " + ps.p.Note
		}
		fmt.Fprintf(w, "round %d  %-27s %-9s wall %8s  CPU %8s%s  [%s]%s\n", r+1, labels[system], ps.name, secs(ps.p.Wall), secs(ps.p.CPU), pg, ps.p.Reqs, note)
	}
}

// summaryOf is the medians of one system's runs. Own is the median CPU
// of the system's own processes, PostgreSQL's left out.
type summaryOf struct {
	First, Unchanged       pass
	FirstOwn, UnchangedOwn time.Duration
}

func medians(runs []run) summaryOf {
	pick := func(f func(run) time.Duration) time.Duration {
		xs := make([]time.Duration, len(runs))
		for i, r := range runs {
			xs[i] = f(r)
		}
		return median(xs)
	}
	return summaryOf{
		First: pass{
			Wall: pick(func(r run) time.Duration { return r.First.Wall }),
			CPU:  pick(func(r run) time.Duration { return r.First.CPU }),
			PG:   pick(func(r run) time.Duration { return r.First.PG }),
		},
		Unchanged: pass{
			Wall: pick(func(r run) time.Duration { return r.Unchanged.Wall }),
			CPU:  pick(func(r run) time.Duration { return r.Unchanged.CPU }),
			PG:   pick(func(r run) time.Duration { return r.Unchanged.PG }),
		},
		FirstOwn:     pick(func(r run) time.Duration { return r.First.CPU - r.First.PG }),
		UnchangedOwn: pick(func(r run) time.Duration { return r.Unchanged.CPU - r.Unchanged.PG }),
	}
}

// median is the middle value; of an even number, the mean of the two
// middle ones.
func median(xs []time.Duration) time.Duration {
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func ratio(a, b time.Duration) float64 {
	if b <= 0 {
		return 0
	}
	return a.Seconds() / b.Seconds()
}

// report prints the medians of every system and, for each Miniflux mode
// against each of our stores, the ratios of CPU and wall time and whether
// the CPU targets hold.
func report(w io.Writer, c config, results map[string][]run) {
	fmt.Fprintf(w, "\nmedians of %d (CPU: user+system of every process of the system; PostgreSQL's share in parentheses)\n", c.rounds)
	fmt.Fprintf(w, "%-27s %10s %18s %10s %18s\n", "", "first wall", "first CPU", "304 wall", "304 CPU")
	med := map[string]summaryOf{}
	for _, s := range c.systems {
		m := medians(results[s])
		med[s] = m
		fmt.Fprintf(w, "%-27s %10s %8s (%7s) %10s %8s (%7s)\n", labels[s], secs(m.First.Wall), secs(m.First.CPU), secs(m.First.PG), secs(m.Unchanged.Wall), secs(m.Unchanged.CPU), secs(m.Unchanged.PG))
	}
	var pairs [][2]string
	for _, theirs := range []string{minifluxAPI, minifluxSched} {
		for _, mine := range []string{oursBbolt, oursPostgres} {
			if _, ok := med[theirs]; !ok {
				continue
			}
			if _, ok := med[mine]; !ok {
				continue
			}
			pairs = append(pairs, [2]string{theirs, mine})
		}
	}
	if len(pairs) == 0 {
		return
	}
	fmt.Fprintf(w, "\nratios, Miniflux / ours (targets: CPU ≥ %.0f× first pass, ≥ %.0f× unchanged)\n", targetFirst, targetUnchanged)
	fmt.Fprintf(w, "%-27s %-18s %9s %9s %9s %9s  %s\n", "", "against", "first CPU", "304 CPU", "first wall", "304 wall", "CPU targets")
	for _, pr := range pairs {
		t, o := med[pr[0]], med[pr[1]]
		cf, cu := ratio(t.First.CPU, o.First.CPU), ratio(t.Unchanged.CPU, o.Unchanged.CPU)
		verdict := "met"
		if cf < targetFirst || cu < targetUnchanged {
			verdict = "NOT met"
		}
		fmt.Fprintf(w, "%-27s %-18s %8.1f× %8.1f× %8.1f× %8.1f×  %s\n", labels[pr[0]], labels[pr[1]], cf, cu,
			ratio(t.First.Wall, o.First.Wall), ratio(t.Unchanged.Wall, o.Unchanged.Wall), verdict)
	}
	// Ours on PostgreSQL counted as the aggregator process alone, as a
	// bbolt run is: the server's CPU is left out of ours, kept in
	// Miniflux's. Not the fair comparison, which is above; printed because
	// the process is what our side was first measured as.
	o, ok := med[oursPostgres]
	if !ok {
		return
	}
	fmt.Fprintf(w, "\nthe same against the aggregator process alone on PostgreSQL (the server's %s and %s left out of ours, not of Miniflux's)\n", secs(o.First.PG), secs(o.Unchanged.PG))
	for _, theirs := range []string{minifluxAPI, minifluxSched} {
		t, ok := med[theirs]
		if !ok {
			continue
		}
		cf, cu := ratio(t.First.CPU, o.FirstOwn), ratio(t.Unchanged.CPU, o.UnchangedOwn)
		verdict := "met"
		if cf < targetFirst || cu < targetUnchanged {
			verdict = "NOT met"
		}
		fmt.Fprintf(w, "%-27s %-18s %8.1f× %8.1f× %30s  %s\n", labels[theirs], "aggregator process", cf, cu, "", verdict)
	}
}
