package fetcher

import (
	"context"
	"slices"
	"sync"
	"time"

	"aggregator"
)

// Job is one feed to fetch with its last state.
type Job struct {
	Feed  aggregator.Feed
	State aggregator.FeedState
}

// FetchAll fetches jobs concurrently within the Concurrency, PerHost and
// HostDelay limits, calling handle with each result as it completes.
// handle is called from several goroutines at once and must be safe for
// that. A fetch keeps its concurrency slot until its handle returns, so a
// slow handle slows fetching rather than letting results pile up (and
// handle must not itself wait for a fetch of the same Client).
//
// FetchAll returns when every job is done or, once ctx is cancelled, when
// the fetches in flight have ended: those are delivered as failed with
// their state unchanged, and jobs that had not started are not delivered
// at all.
func (c *Client) FetchAll(ctx context.Context, jobs []Job, handle func(Result)) {
	on := startWorkers(min(c.opts.Concurrency, len(jobs)))
	defer on.stop()
	var wg sync.WaitGroup
	for _, j := range jobs {
		fj := c.prepare(j.Feed, j.State)
		wg.Go(func() { c.fetch(ctx, on, fj, handle) })
	}
	wg.Wait()
}

// Scheduler fetches each feed when it is due, for as long as Run runs.
// Due times come from the states it was given (the stored NextFetch), so
// a restarted daemon resumes the schedule instead of refetching
// everything at once.
type Scheduler struct {
	c *Client

	mu      sync.Mutex // guards feeds, states and running
	feeds   []aggregator.Feed
	states  map[string]aggregator.FeedState
	running map[string]bool

	// wake (capacity 1) tells Run to look again: a fetch ended or the
	// feeds changed.
	wake chan struct{}
}

// NewScheduler returns a scheduler for feeds, whose last states are
// states (by feed name; a feed without one is due at once).
func NewScheduler(c *Client, feeds []aggregator.Feed, states map[string]aggregator.FeedState) *Scheduler {
	s := &Scheduler{
		c:       c,
		states:  make(map[string]aggregator.FeedState, len(states)),
		running: map[string]bool{},
		wake:    make(chan struct{}, 1),
	}
	for k, v := range states {
		s.states[k] = v
	}
	s.feeds = slices.Clone(feeds)
	return s
}

// SetFeeds replaces the feeds (a configuration reload). States are kept
// by name; a new feed is due at once; a removed feed's fetch in flight
// finishes but is not rescheduled.
func (s *Scheduler) SetFeeds(feeds []aggregator.Feed) {
	s.mu.Lock()
	s.feeds = slices.Clone(feeds)
	s.mu.Unlock()
	s.poke()
}

// State returns the scheduler's current state of the named feed.
func (s *Scheduler) State(name string) (aggregator.FeedState, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.states[name]
	return st, ok
}

func (s *Scheduler) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Run fetches feeds as they fall due until ctx is cancelled, handing each
// result to handle (called from several goroutines at once; it must be
// safe for that). On cancellation the fetches in flight are cancelled,
// their results still handed over (failed, state unchanged), and Run
// returns ctx's error once they are all done.
func (s *Scheduler) Run(ctx context.Context, handle func(Result)) error {
	on := startWorkers(s.c.opts.Concurrency)
	defer on.stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		now := s.c.opts.Now()
		due, next := s.collect(now)
		for _, j := range due {
			fj := s.c.prepare(j.Feed, j.State)
			wg.Go(func() {
				delivered := false
				s.c.fetch(ctx, on, fj, func(r Result) {
					delivered = true
					handle(r)
					s.done(r)
				})
				if !delivered {
					s.release(j.Feed.Name)
				}
			})
		}
		var tc <-chan time.Time
		if !next.IsZero() {
			timer.Reset(max(next.Sub(now), 0))
			tc = timer.C
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tc:
		case <-s.wake:
		}
	}
}

// collect marks the feeds due at now as running and returns them, with
// the earliest due time of the rest (zero if none).
func (s *Scheduler) collect(now time.Time) (due []Job, next time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range s.feeds {
		if s.running[f.Name] {
			continue
		}
		st := s.states[f.Name]
		if Disabled(f, st) {
			continue
		}
		if !now.Before(st.NextFetch) {
			s.running[f.Name] = true
			due = append(due, Job{Feed: f, State: st})
			continue
		}
		if next.IsZero() || st.NextFetch.Before(next) {
			next = st.NextFetch
		}
	}
	return due, next
}

// release forgets a fetch that never started (Run is ending).
func (s *Scheduler) release(name string) {
	s.mu.Lock()
	delete(s.running, name)
	s.mu.Unlock()
}

// done records a finished fetch's state and wakes Run.
func (s *Scheduler) done(r Result) {
	s.mu.Lock()
	s.states[r.Feed.Name] = r.State
	delete(s.running, r.Feed.Name)
	s.mu.Unlock()
	s.poke()
}

// Put replaces the scheduler's state of one feed, for a change made
// outside its fetches (a feed re-enabled, fetched on request, deleted),
// and looks again at what is due. A fetch of that feed in flight still
// records its own result when it ends.
func (s *Scheduler) Put(st aggregator.FeedState) {
	s.mu.Lock()
	s.states[st.Name] = st
	s.mu.Unlock()
	s.poke()
}

// Forget drops the scheduler's state of the named feed: while it is
// configured it is due at once, as a feed never fetched.
func (s *Scheduler) Forget(name string) {
	s.mu.Lock()
	delete(s.states, name)
	s.mu.Unlock()
	s.poke()
}

// Running is how many fetches are in flight: the pipeline clusters when
// a wave of fetches has ended, so that a wave's items are clustered
// together, in time order.
func (s *Scheduler) Running() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.running)
}
