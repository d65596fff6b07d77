package pipeline

import (
	"context"
	"time"

	"aggregator/fetcher"
)

// PassResult is what a one-shot pass did.
type PassResult struct {
	// Outcomes are the fetches' outcomes, in the order they were stored.
	Outcomes []Outcome
	// Fetch is the time spent fetching, parsing and storing; Cluster the
	// time spent clustering after the last fetch, and ClusterCPU the
	// process's CPU time meanwhile (user and system, every core; 0 where
	// it is not measured).
	Fetch, Cluster, ClusterCPU time.Duration
}

// Pass fetches jobs once with client, stores the results, then clusters
// what is pending (the pass's new items and any an interrupted run left)
// oldest first. progress, when set, is called with each outcome as it is
// stored, on one goroutine. When ctx ends, fetches in flight end, what
// they stored is kept, clustering stops between two batches and Pass
// returns ctx's error with what was done: the rest stays pending for the
// next pass.
func (p *Pipeline) Pass(ctx context.Context, client *fetcher.Client, jobs []fetcher.Job, progress func(Outcome)) (PassResult, error) {
	res := PassResult{Outcomes: make([]Outcome, 0, len(jobs))}
	start := time.Now()
	ing := p.startIngest(ctx)
	sched := p.scheduler() // a pass asked of a running daemon
	client.FetchAll(ctx, jobs, func(r fetcher.Result) {
		if p.fleet != nil {
			r.State.Node = p.opts.Node // which ends its lease, if any
		}
		ing.storeReport(r, func(o Outcome) {
			if sched != nil && o.Stored {
				sched.Put(o.State)
			}
			res.Outcomes = append(res.Outcomes, o)
			if progress != nil {
				progress(o)
			}
		})
	})
	ing.close()
	res.Fetch = time.Since(start)
	if err := ctx.Err(); err != nil {
		return res, err
	}
	start, cpu := time.Now(), processCPU()
	err := p.ClusterPending(ctx)
	res.Cluster, res.ClusterCPU = time.Since(start), processCPU()-cpu
	if err == nil {
		p.changed()
	}
	return res, err
}
