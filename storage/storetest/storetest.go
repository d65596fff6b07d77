// Package storetest is the contract both stores keep: one suite of tests,
// run by package storage (bbolt) and package storage/postgres against a
// fresh store each, so that the pipeline can rely on the same behaviour
// whichever it is given.
//
// A store's own tests call [Run] with a function opening a fresh, empty
// store; each test opens its own (some open two) and Run closes every
// store it opened when its test ends. The tests use only the methods of
// [Store], read real feed items from the shared data set, and keep every
// time they store to whole seconds, the precision both stores keep.
package storetest

import (
	"context"
	"io"
	"testing"
	"time"

	"aggregator"
)

// Store is what the contract covers: the methods of pipeline.Store,
// listed here rather than embedded so that this package depends on the
// contract and not on the pipeline, and the maintenance methods both
// stores have.
type Store interface {
	SaveFetches(ctx context.Context, fs []aggregator.Fetched) ([]aggregator.SaveResult, []error)
	Pending(ctx context.Context, limit int) ([]aggregator.Item, error)
	SaveDecisions(ctx context.Context, d aggregator.Decisions) error
	Recent(ctx context.Context, since time.Time, fn func(aggregator.Item, aggregator.Membership) error) error
	Latest(ctx context.Context) (time.Time, error)

	ClusterStamp(ctx context.Context) (aggregator.ClusterStamp, error)
	ClusterLogStart(ctx context.Context, saved aggregator.ClusterStamp) (bool, error)
	ClusterLog(ctx context.Context, after uint64, fn func(aggregator.LogRecord) error) error
	TrimClusterLog(ctx context.Context, upTo uint64) error
	OpenSavedIndex(ctx context.Context) (io.ReadCloser, error)
	SaveIndex(ctx context.Context, write func(io.Writer) error) error

	Prune(ctx context.Context, before time.Time, keepPerFeed int) (aggregator.PruneResult, error)
	Stories(ctx context.Context, q aggregator.StoryQuery) ([]aggregator.Story, error)
	Version() uint64

	FeedStates(ctx context.Context) (map[string]aggregator.FeedState, error)
	FeedState(ctx context.Context, name string) (aggregator.FeedState, bool, error)
	PutFeedState(ctx context.Context, st aggregator.FeedState) error
	DeleteFeed(ctx context.Context, name string) error

	Item(ctx context.Context, id string) (aggregator.Item, bool, error)
	Membership(ctx context.Context, itemID string) (aggregator.Membership, bool, error)
	Cluster(ctx context.Context, id string) (aggregator.Cluster, bool, error)
	Stats(ctx context.Context) (aggregator.StoreStats, error)
	Where() string

	// DeleteItem removes one item, leaving a tombstone.
	DeleteItem(ctx context.Context, id string) error
	// Export calls put with every record of the store's content, in the
	// order aggregator.DumpRecord documents.
	Export(ctx context.Context, put func(aggregator.DumpRecord) error) error
	// Import fills an empty store with the records produce hands to put.
	Import(ctx context.Context, produce func(put func(aggregator.DumpRecord) error) error) error
	Close() error
}

// opener opens a fresh store for one test.
type opener func(t *testing.T) Store

// contract lists the tests, in the order Run runs them.
var contract = []struct {
	name string
	fn   func(t *testing.T, open opener)
}{
	{"SaveNewItems", testSaveNewItems},
	{"ItemIdentity", testItemIdentity},
	{"ItemText", testItemText},
	{"ItemTimes", testItemTimes},
	{"SameFeedTwice", testSameFeedTwice},
	{"SaveRejects", testSaveRejects},
	{"FeedStateRoundTrip", testFeedStateRoundTrip},
	{"TotalItems", testTotalItems},
	{"PendingOrder", testPendingOrder},
	{"PendingLimit", testPendingLimit},
	{"PendingCleared", testPendingCleared},
	{"SaveDecisions", testSaveDecisions},
	{"MoveInOneBatch", testMoveInOneBatch},
	{"ClusterStamp", testClusterStamp},
	{"ClusterLogStart", testClusterLogStart},
	{"ClusterLog", testClusterLog},
	{"TrimClusterLog", testTrimClusterLog},
	{"Rewound", testRewound},
	{"FencedDecisions", testFencedDecisions},
	{"LogItemsAsDecided", testLogItemsAsDecided},
	{"Stories", testStories},
	{"StoryIDsStable", testStoryIDsStable},
	{"Prune", testPrune},
	{"TombstoneExpiry", testTombstoneExpiry},
	{"DeleteItem", testDeleteItem},
	{"DeleteFeed", testDeleteFeed},
	{"Latest", testLatest},
	{"Recent", testRecent},
	{"Stats", testStats},
	{"Version", testVersion},
	{"SavedIndex", testSavedIndex},
	{"SavedIndexWhole", testSavedIndexWhole},
	{"ExportImport", testExportImport},
	{"ExportEmpty", testExportEmpty},
	{"ImportRefusesNonEmpty", testImportRefusesNonEmpty},
	{"FeedAllOrNothing", testFeedAllOrNothing},
	{"CancelledWrites", testCancelledWrites},
	{"ConcurrentUse", testConcurrentUse},
	{"ConcurrentSameFeed", testConcurrentSameFeed},
	{"ConcurrentDecisions", testConcurrentDecisions},
	{"ConcurrentPruneAndFetch", testConcurrentPruneAndFetch},
	{"ConcurrentDeleteAndDecide", testConcurrentDeleteAndDecide},
	{"ManyItems", testManyItems},
}

// Run runs the contract tests, each as a subtest opening its stores with
// open, which must return a fresh, empty store; Run closes it when the
// subtest ends.
func Run(t *testing.T, open func(t *testing.T) Store) {
	opened := func(t *testing.T) Store {
		t.Helper()
		s := open(t)
		t.Cleanup(func() {
			if err := s.Close(); err != nil {
				t.Errorf("close %s: %v", s.Where(), err)
			}
		})
		return s
	}
	for _, tc := range contract {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, opened) })
	}
}
