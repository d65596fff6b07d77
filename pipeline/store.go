package pipeline

import (
	"context"
	"io"
	"time"

	"aggregator"
)

// Store is what the pipeline needs of a database. Two packages implement
// it: storage (bbolt, one file, the default) and storage/postgres (the
// shared store of a fleet). storage/storetest holds the contract tests
// both pass. Every method is safe for concurrent use.
type Store interface {
	// SaveFetches stores fetched feeds, each all or nothing (its state and
	// its items together), in as few transactions as the store can; one
	// feed's failure, reported at its index, costs the others nothing.
	// New items are pending until SaveDecisions clusters them.
	SaveFetches(ctx context.Context, fs []aggregator.Fetched) ([]aggregator.SaveResult, []error)
	// Pending returns up to limit pending items (0: all), oldest first by
	// (Item.Time, ID), never splitting items of one time between calls
	// unless a group is huge.
	Pending(ctx context.Context, limit int) ([]aggregator.Item, error)
	// SaveDecisions stores a batch of clustering decisions (memberships,
	// new clusters, representatives) and appends it to the cluster log,
	// in one transaction; the items stop being pending.
	SaveDecisions(ctx context.Context, d aggregator.Decisions) error
	// Recent calls fn for every clustered item with Item.Time() >= since,
	// with its membership, in (Item.Time, ID) order: the index rebuild.
	Recent(ctx context.Context, since time.Time, fn func(aggregator.Item, aggregator.Membership) error) error
	// Latest is the newest Item.Time of any stored item (zero when none).
	Latest(ctx context.Context) (time.Time, error)

	// ClusterStamp names the store's clustered state (see
	// aggregator.ClusterStamp).
	ClusterStamp(ctx context.Context) (aggregator.ClusterStamp, error)
	// ClusterLogStart reports whether the cluster log can bring an index
	// saved at saved up to date.
	ClusterLogStart(ctx context.Context, saved aggregator.ClusterStamp) (bool, error)
	// ClusterLog calls fn for each logged batch after sequence after, in
	// order.
	ClusterLog(ctx context.Context, after uint64, fn func(aggregator.LogRecord) error) error
	// TrimClusterLog drops the batches up to and including upTo.
	TrimClusterLog(ctx context.Context, upTo uint64) error
	// OpenSavedIndex opens the saved copy of the dedupe index; (nil, nil)
	// when there is none.
	OpenSavedIndex(ctx context.Context) (io.ReadCloser, error)
	// SaveIndex replaces the saved copy with what write writes, atomically:
	// a crash leaves the old copy or the new one.
	SaveIndex(ctx context.Context, write func(io.Writer) error) error

	// Prune removes items older than before (and first seen before it),
	// but the newest keepPerFeed of each feed, leaving tombstones.
	Prune(ctx context.Context, before time.Time, keepPerFeed int) (aggregator.PruneResult, error)
	// Stories returns clusters newest first with their members resolved.
	Stories(ctx context.Context, q aggregator.StoryQuery) ([]aggregator.Story, error)
	// Version changes whenever this process commits a write: caches of
	// rendered outputs compare it.
	Version() uint64

	FeedStates(ctx context.Context) (map[string]aggregator.FeedState, error)
	FeedState(ctx context.Context, name string) (aggregator.FeedState, bool, error)
	PutFeedState(ctx context.Context, st aggregator.FeedState) error
	// DeleteFeed removes a feed's items and state, leaving tombstones.
	DeleteFeed(ctx context.Context, name string) error

	Item(ctx context.Context, id string) (aggregator.Item, bool, error)
	Membership(ctx context.Context, itemID string) (aggregator.Membership, bool, error)
	Cluster(ctx context.Context, id string) (aggregator.Cluster, bool, error)
	Stats(ctx context.Context) (aggregator.StoreStats, error)
	// Where names the store for messages: a file path, or a URL without
	// its password.
	Where() string
}
