package pipeline

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"aggregator/fetcher"

	"aggregator"
)

// Fleet is what a shared store offers so that any number of daemons on it
// work as one: feeds leased to one node at a time, politeness counted
// across all nodes, one clusterer at a time, and word of what the others
// changed. storage/postgres implements it with the mechanisms PostgreSQL
// already has (row locks taken with FOR UPDATE SKIP LOCKED, an advisory
// lock, LISTEN/NOTIFY). A Store that is not a Fleet belongs to one
// process, and the pipeline runs alone on it.
//
// Every time is the database's clock, so that nodes whose clocks differ
// still agree on what is due and when a lease ends.
type Fleet interface {
	// ClaimFeeds leases to node, in one statement, up to limit of the
	// named feeds that are due (stored NextFetch not after the database's
	// now; a feed with no stored state is due at once), not disabled, and
	// not leased to anyone until later; each lease ends lease from now.
	// It returns the claimed feeds' stored states (a feed never fetched
	// gets a state with only its Name set) and the earliest time another
	// of the named feeds falls due or its lease ends (zero: none), the
	// time to look again.
	ClaimFeeds(ctx context.Context, node string, names []string, lease time.Duration, limit int) (claimed []aggregator.FeedState, next time.Time, err error)
	// ReleaseFeeds drops node's leases of the named feeds and leaves
	// their states as they are: fetches that shutdown cut short. Storing
	// a feed's fetch (SaveFetches) drops its lease too.
	ReleaseFeeds(ctx context.Context, node string, names []string) error
	// Leases counts the leases not yet ended: all nodes' and node's own.
	Leases(ctx context.Context, node string) (all, mine int, err error)
	// DueBy counts the named feeds, not disabled, that were due by t and
	// not fetched since (stored NextFetch not after t, or never fetched).
	DueBy(ctx context.Context, names []string, t time.Time) (int, error)

	// AcquireHost blocks until node may start a request to host under
	// the fleet-wide limits: at most perHost requests to it in flight
	// across all nodes, and each start at least delay after the previous
	// request was sent. The slot is leased to node for lease (so a killed
	// node's slots come back); the returned sent reports the request
	// written, and release frees the slot once the request is over. It
	// returns ctx's error when ctx ends first.
	AcquireHost(ctx context.Context, node, host string, perHost int, delay, lease time.Duration) (sent, release func(), err error)

	// Lead blocks until this process is the fleet's clusterer (holds its
	// leadership lock) or ctx ends. It returns a context that ends when
	// the leadership is lost (the lock's connection broke) or ctx ends,
	// and resign, which gives the leadership up and must be called.
	Lead(ctx context.Context) (lost context.Context, resign func(), err error)

	// Watch calls fn, from one goroutine, whenever another process may
	// have changed what is stored: Pending when new items wait to be
	// clustered, Stories when stories changed (the store's Version moves
	// on too, so rendered outputs are rendered again). Word comes by
	// LISTEN/NOTIFY, with a periodic check behind it for a notification
	// missed (a broken connection). Watch returns when ctx ends.
	Watch(ctx context.Context, fn func(Change)) error
}

// Change is what Fleet.Watch reports. It is the root package's type (an
// alias), so that a store can implement Watch without importing the
// pipeline.
type Change = aggregator.Change

const (
	// Pending: another process stored new items, which wait unclustered.
	Pending = aggregator.ChangePending
	// Stories: another process changed the stories.
	Stories = aggregator.ChangeStories
)

// FleetStatus is what a node of a fleet reports about itself, for
// /healthz and /metrics.
type FleetStatus struct {
	// Node is this daemon's name in the fleet.
	Node string
	// Leader reports whether this node is the clusterer now, and Since
	// when.
	Leader bool
	Since  time.Time
	// Leases is how many feed leases this node holds, and AllLeases how
	// many the whole fleet holds.
	Leases, AllLeases int
}

// errGate marks a failure of the fleet's host limits (the database out
// of reach), which is not the feed's fault.
var errGate = errors.New("fleet host limits unavailable")

// HostGate returns a fetcher.Options.HostGate that counts the per-host
// limits across the whole fleet: node's requests take fleet-wide host
// slots leased for lease.
func HostGate(fl Fleet, node string, lease time.Duration) func(ctx context.Context, host string, perHost int, delay time.Duration) (sent, release func(), err error) {
	return func(ctx context.Context, host string, perHost int, delay time.Duration) (func(), func(), error) {
		sent, release, err := fl.AcquireHost(ctx, node, host, perHost, delay, lease)
		if err != nil {
			if ctx.Err() != nil {
				return nil, nil, ctx.Err()
			}
			return nil, nil, fmt.Errorf("%w: %w", errGate, err)
		}
		return sent, release, nil
	}
}

// DefaultNode is a node's name when none is configured: the host name
// and the process ID, unique on one machine and readable in "feeds".
func DefaultNode() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		h = "node"
	}
	return fmt.Sprintf("%s-%d", h, os.Getpid())
}

// fleetPoll is the longest a node waits before it looks for due feeds
// again, and fleetRetry how long it waits after the database failed it.
const (
	fleetPoll  = 2 * time.Second
	fleetRetry = time.Second
	// claimPause is the longest a node with a free fetch slot waits for
	// more to free before it claims.
	claimPause = 50 * time.Millisecond
)

// runFleet is Run on a shared store: any number of daemons run it on one
// database and work as one. Each node fetches the feeds it leased
// (fetchLeased), stores them and hears of the others' work (Watch); the
// node that holds the leadership clusters and keeps house (lead).
func (p *Pipeline) runFleet(ctx context.Context, client *fetcher.Client, fl Fleet) error {
	lease := p.opts.Lease
	if lease <= 0 {
		lease = 2 * client.Options().Timeout
	}
	g, gctx := errgroup.WithContext(ctx)
	ingested := make(chan struct{})
	g.Go(func() error {
		defer close(ingested)
		ing := p.startIngest(gctx)
		defer ing.close()
		p.fetchLeased(gctx, client, fl, ing, lease)
		return nil
	})
	g.Go(func() error {
		err := fl.Watch(gctx, func(c Change) {
			switch c {
			case Pending:
				p.m.waiting(time.Now())
				p.poke()
			case Stories:
				p.changed()
			}
		})
		if err != nil && gctx.Err() == nil {
			return fmt.Errorf("watch the fleet's changes: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		p.lead(gctx, fl, ingested)
		return nil
	})
	return g.Wait()
}

func (p *Pipeline) poke() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// fetchLeased fetches, until ctx ends, the configured feeds this node
// leased: it claims due feeds up to its free fetch slots (Concurrency),
// so that the other nodes take the rest, fetches each and hands the
// result to the ingester, whose store ends the lease. A fetch that
// shutdown cut short gives its lease back at once.
func (p *Pipeline) fetchLeased(ctx context.Context, client *fetcher.Client, fl Fleet, ing *ingester, lease time.Duration) {
	var (
		mu      sync.Mutex // guards running
		running = map[string]bool{}
		wg      sync.WaitGroup
		done    = make(chan struct{}, 1)
	)
	defer wg.Wait()
	slots := client.Options().Concurrency
	// A claim is one statement over every configured feed name, so a
	// busy node claims for a quarter of its slots at a time (or what is
	// free after claimPause), not once for each fetch that ends.
	batch := max(1, slots/4)
	timer := time.NewTimer(0)
	defer timer.Stop()
	var warned, claimed time.Time
	for {
		wait := fleetPoll
		p.cfgMu.RLock()
		mu.Lock()
		free := slots - len(running)
		var names []string
		for _, f := range p.opts.Feeds {
			if !running[f.Name] {
				names = append(names, f.Name)
			}
		}
		mu.Unlock()
		p.cfgMu.RUnlock()
		if since := time.Since(claimed); free > 0 && free < batch && since < claimPause {
			wait = claimPause - since
		} else if free > 0 && len(names) > 0 {
			claimed = time.Now()
			states, next, err := fl.ClaimFeeds(ctx, p.opts.Node, names, lease, free)
			switch {
			case err != nil && ctx.Err() != nil:
				return
			case err != nil:
				if time.Since(warned) > time.Minute {
					p.log.Warn("claiming due feeds failed; retrying", "err", err)
					warned = time.Now()
				}
				wait = fleetRetry
			case !next.IsZero():
				wait = min(wait, max(time.Until(next), 10*time.Millisecond))
			}
			for _, st := range states {
				f, ok := p.feed(st.Name)
				if !ok { // removed by a reload meanwhile
					p.release(fl, st.Name)
					continue
				}
				mu.Lock()
				running[f.Name] = true
				mu.Unlock()
				wg.Go(func() {
					defer func() {
						mu.Lock()
						delete(running, f.Name)
						mu.Unlock()
						select {
						case done <- struct{}{}:
						default:
						}
					}()
					r := client.Fetch(ctx, f, st)
					if cancelled(r) || errors.Is(r.Err, errGate) {
						p.release(fl, f.Name)
						return
					}
					r.State.Node = p.opts.Node
					ing.store(r)
				})
			}
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-done:
			if !timer.Stop() {
				<-timer.C
			}
		}
	}
}

// release gives up this node's lease of a feed it will not fetch now.
func (p *Pipeline) release(fl Fleet, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := fl.ReleaseFeeds(ctx, p.opts.Node, []string{name}); err != nil {
		p.log.Debug("giving a feed lease back failed; it ends by itself", "feed", name, "err", err)
	}
}

// lead takes the fleet's leadership whenever it is free, and while it
// holds it clusters what any node stored and keeps house, exactly as a
// daemon of its own would; it loads the index afresh each time it takes
// over, from the saved copy and the cluster log the former leader left.
// When the leadership is lost the node stops clustering between two
// batches (a batch already decided is fenced: it cannot be stored once
// another node moved on) and drops its index.
func (p *Pipeline) lead(ctx context.Context, fl Fleet, ingested <-chan struct{}) {
	for ctx.Err() == nil {
		lost, resign, err := fl.Lead(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			p.log.Warn("taking the fleet's leadership failed; retrying", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(fleetRetry):
			}
			continue
		}
		p.setLeader(true)
		p.log.Info("this node is now the fleet's clusterer", "node", p.opts.Node)
		p.mu.Lock()
		p.resetIndexLocked()
		p.mu.Unlock()
		p.poke() // what the others stored meanwhile

		lctx, cancel := context.WithCancel(ctx)
		abandon, fired := make(chan struct{}), make(chan struct{})
		stop := context.AfterFunc(lost, func() {
			if ctx.Err() == nil { // lost, not shutting down
				close(abandon)
				cancel()
			}
			close(fired)
		})
		var wg sync.WaitGroup
		wg.Go(func() { p.housekeep(lctx) })
		p.runClusterer(lctx, ingested, abandon)
		cancel()
		wg.Wait()
		if !stop() {
			<-fired // it ran: abandon is now closed or never will be
		}
		select {
		case <-abandon:
			p.log.Warn("this node lost the fleet's leadership; another node clusters now", "node", p.opts.Node)
		default:
			// Shutting down while leading: the final save spares the
			// next leader a replay.
			saveCtx, scancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			if err := p.SaveIndex(saveCtx, true); err != nil {
				p.log.Warn("the next leader will replay or rebuild the dedupe index", "err", err)
			}
			scancel()
		}
		resign()
		p.setLeader(false)
		p.mu.Lock()
		p.resetIndexLocked() // only the leader needs it in memory
		p.mu.Unlock()
	}
}

// setLeader records whether this node is the fleet's clusterer.
func (p *Pipeline) setLeader(on bool) {
	p.fleetMu.Lock()
	defer p.fleetMu.Unlock()
	p.leader = on
	p.leaderSince = time.Time{}
	if on {
		p.leaderSince = time.Now()
	}
}

// FleetStatus reports this node's part in its fleet; ok is false when
// the store is not shared.
func (p *Pipeline) FleetStatus(ctx context.Context) (st FleetStatus, ok bool, err error) {
	if p.fleet == nil {
		return st, false, nil
	}
	p.fleetMu.Lock()
	st.Node, st.Leader, st.Since = p.opts.Node, p.leader, p.leaderSince
	p.fleetMu.Unlock()
	st.AllLeases, st.Leases, err = p.fleet.Leases(ctx, p.opts.Node)
	return st, true, err
}

// fetchesRunning is how many fetches of the wave that began at start are
// still to end. On a shared store those are the configured feeds that
// were due by start and not stored since, whichever node has them (one
// in flight, one whose killed node's lease is running out): fetches
// never stop in a busy fleet, so "none in flight" would never come,
// while feeds falling due after start belong to the next wave. Else it
// is the running daemon's fetches in flight.
func (p *Pipeline) fetchesRunning(ctx context.Context, start time.Time) int {
	if p.fleet != nil {
		p.cfgMu.RLock()
		names := make([]string, len(p.opts.Feeds))
		for i, f := range p.opts.Feeds {
			names[i] = f.Name
		}
		p.cfgMu.RUnlock()
		n, err := p.fleet.DueBy(ctx, names, start)
		if err != nil {
			return 0 // do not hold clustering up on a failing query
		}
		return n
	}
	if s := p.scheduler(); s != nil {
		return s.Running()
	}
	return 0
}
