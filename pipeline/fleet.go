package pipeline

import (
	"context"
	"time"

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

	// AcquireHost blocks until node may start a request to host under
	// the fleet-wide limits: at most perHost requests to it in flight
	// across all nodes, and starts at least delay apart. The slot is
	// leased to node for lease (so a killed node's slots come back); the
	// returned release frees it once the request is over. It returns
	// ctx's error when ctx ends first.
	AcquireHost(ctx context.Context, node, host string, perHost int, delay, lease time.Duration) (release func(), err error)

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
