package pipeline

import (
	"context"
	"errors"
	"fmt"
	"time"

	"aggregator"
	"aggregator/fetcher"
)

// Outcome is what one feed's fetch came to, for summaries and logs.
type Outcome struct {
	Feed   string
	Status fetcher.Status
	// Err says why the fetch (or storing it) failed.
	Err error
	// New and Updated count the items stored for the first time and the
	// stored items the publisher edited.
	New, Updated int
	Bytes        int64
	Duration     time.Duration
	// State is the feed's state after the fetch.
	State aggregator.FeedState
	// Stored says State (and the new items) are in the store.
	Stored bool
}

// StatusCancelled is the Outcome status of a fetch cut short by shutdown:
// nothing of it is stored, and the feed keeps its place in the schedule.
const StatusCancelled fetcher.Status = "cancelled"

// An ingester stores fetch results on one goroutine. Fetch workers hand
// their results over and go on fetching; the writer stores everything
// that queued up while it was committing in one call to
// Store.SaveFetches. A pass over thousands of feeds thus costs tens of
// commits (and fsyncs) instead of one per feed, and no worker waits for
// the disk: the groups grow as the disk gets slower. When results come
// in faster than one at a time but slower than the writer commits (a
// pass of 304s answers a feed every few hundred microseconds; a commit
// takes milliseconds), the writer waits up to ingestLinger for more
// before it commits, so that such a pass costs a handful of commits, not
// one per dozen feeds: every commit writes the touched pages of the feed
// states' B+tree again and syncs the file twice. New items wait as
// pending for the clusterer.
type ingester struct {
	p      *Pipeline
	ctx    context.Context
	in     chan ingestJob
	done   chan struct{}
	report func(Outcome)
}

type ingestJob struct {
	r      fetcher.Result
	report func(Outcome)
}

const (
	// ingestQueue is how many results may wait for the writer before
	// fetch workers block: it bounds the parsed items held in memory.
	ingestQueue = 64
	// ingestGroup caps the items of one group, so that a backlog still
	// commits (and frees its memory) in steps.
	ingestGroup = 16384
	// ingestLinger is how long the writer waits for more results before
	// it commits a group smaller than ingestLingerJobs; a result is
	// stored at most this much later than it would have been.
	ingestLinger = 25 * time.Millisecond
	// ingestLingerJobs is the group size at which the writer stops
	// waiting.
	ingestLingerJobs = 512
)

// startIngest starts the writer goroutine; close stops it. The writer
// stores what it is given even after ctx is done (a fetch that finished
// is worth keeping), with ctx's values but not its cancellation.
func (p *Pipeline) startIngest(ctx context.Context) *ingester {
	g := &ingester{
		p:      p,
		ctx:    context.WithoutCancel(ctx),
		in:     make(chan ingestJob, ingestQueue),
		done:   make(chan struct{}),
		report: p.opts.OnOutcome,
	}
	go g.run()
	return g
}

// store queues r; its outcome goes to Options.OnOutcome. It is safe for
// concurrent use.
func (g *ingester) store(r fetcher.Result) { g.storeReport(r, nil) }

// storeReport queues r; report, when set, is called with its outcome once
// it is stored (or failed to be), on the writer goroutine, besides
// Options.OnOutcome.
func (g *ingester) storeReport(r fetcher.Result, report func(Outcome)) {
	g.in <- ingestJob{r: r, report: report}
}

// close stores what is queued, then returns. No store may follow.
func (g *ingester) close() {
	close(g.in)
	<-g.done
}

func (g *ingester) run() {
	defer close(g.done)
	var group []ingestJob
	linger := time.NewTimer(ingestLinger)
	defer linger.Stop()
	for job := range g.in {
		group = append(group[:0], job)
		n := len(job.r.Items)
		linger.Reset(ingestLinger)
	drain:
		for n < ingestGroup && len(group) < ingestLingerJobs {
			select {
			case j, ok := <-g.in:
				if !ok {
					break drain
				}
				group = append(group, j)
				n += len(j.r.Items)
			case <-linger.C:
				break drain
			}
		}
		g.storeGroup(group)
		clear(group) // let the stored items go
	}
}

// cancelled reports whether r is a fetch that shutdown cut short: its
// state is the one it started from, so there is nothing to store.
func cancelled(r fetcher.Result) bool {
	return r.Status == fetcher.StatusFailed && errors.Is(r.Err, context.Canceled)
}

// storeGroup stores the results of a group together and reports each
// one's outcome.
func (g *ingester) storeGroup(group []ingestJob) {
	fs := make([]aggregator.Fetched, 0, len(group))
	idx := make([]int, len(group)) // group index -> fs index, -1 for none
	for i, j := range group {
		if cancelled(j.r) {
			idx[i] = -1
			continue
		}
		idx[i] = len(fs)
		f := aggregator.Fetched{State: j.r.State}
		if j.r.Status == fetcher.StatusOK {
			f.Items = j.r.Items
		}
		fs = append(fs, f)
	}
	var (
		res  []aggregator.SaveResult
		errs []error
	)
	if len(fs) > 0 {
		res, errs = g.p.store.SaveFetches(g.ctx, fs)
	}
	anyNew, anyUpdated := false, false
	for i, j := range group {
		r := j.r
		o := Outcome{Feed: r.Feed.Name, Status: r.Status, Err: r.Err, Bytes: r.Bytes, Duration: r.Duration, State: r.State}
		switch k := idx[i]; {
		case k < 0:
			o.Status = StatusCancelled
		case errs[k] != nil:
			o.Status, o.Err = fetcher.StatusFailed, fmt.Errorf("store: %w", errs[k])
			g.p.m.storeFailures.Inc()
		default:
			o.Stored = true
			o.New, o.Updated = len(res[k].New), len(res[k].Updated)
			g.p.m.itemsNew.Add(float64(o.New))
			g.p.m.itemsUpdated.Add(float64(o.Updated))
			anyNew = anyNew || o.New > 0
			anyUpdated = anyUpdated || o.Updated > 0
		}
		if j.report != nil {
			j.report(o)
		}
		if g.report != nil {
			g.report(o)
		}
	}
	if anyNew {
		g.p.m.waiting(time.Now())
		select {
		case g.p.wake <- struct{}{}:
		default:
		}
	}
	if anyUpdated {
		g.p.changed()
	}
}
