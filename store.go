package aggregator

import (
	"errors"
	"time"
)

// The types below are what a store (package storage, bbolt; package
// storage/postgres) takes and returns. They live here, with the other
// domain types, so that the stores implement one contract without
// importing each other, and the pipeline can name them without naming a
// store.

// Fetched is one feed's fetch to store: its new state and the items the
// feed gave (none for an unchanged or failed fetch).
type Fetched struct {
	State FeedState
	Items []Item
}

// SaveResult says what storing one Fetched did.
type SaveResult struct {
	// New are the items stored for the first time, in batch order.
	New []Item
	// Updated are stored items whose Hash changed, as now stored (with
	// their original FirstSeen).
	Updated []Item
	// Unchanged counts items already stored with the same Hash.
	Unchanged int
	// Deleted counts items skipped because they were deleted or pruned
	// before (tombstoned): they are not stored again.
	Deleted int
}

// Decisions are a batch of dedupe decisions, stored in one transaction
// and appended to the cluster log.
type Decisions struct {
	// Memberships are the decisions in the order they were made; each
	// item's membership is created or replaced, and its cluster created
	// when new.
	Memberships []Membership
	// Representatives maps cluster IDs to their new representative item.
	Representatives map[string]string
	// Now is the time of the decisions (Cluster.Updated).
	Now time.Time
	// ExpiredBefore is the cutoff the index expired items before just
	// before deciding, replayed with the decisions; zero for none.
	ExpiredBefore time.Time
	// Rewound says the batch decides anew on items clustered before (the
	// index was rebuilt as of an earlier time to take late items in time
	// order): the cluster log cannot replay it onto a saved index older
	// than it, which is therefore no longer usable.
	Rewound bool
	// Fenced makes the batch conditional: it is stored only when the
	// store's ClusterStamp.Seq is still Base, the sequence the deciding
	// index was at, and fails with an error wrapping ErrStaleIndex
	// otherwise, storing nothing. A fleet's clusterer fences every batch,
	// so that a node that lost its leadership without knowing it cannot
	// store decisions made on an index another node has moved past.
	// Every stored batch moves Seq on by exactly one.
	Fenced bool
	Base   uint64
}

// ErrStaleIndex is returned by SaveDecisions for a Fenced batch whose Base
// is no longer the store's sequence: someone else changed the clustering
// since the index was loaded, which must be brought up to date first.
var ErrStaleIndex = errors.New("the clustering changed since the index was loaded")

// Change is what a fleet's store reports another process changed (see
// pipeline.Fleet's Watch, whose pipeline.Change is this type).
type Change int

const (
	// ChangePending: new items were stored, which wait unclustered.
	ChangePending Change = iota + 1
	// ChangeStories: the stories changed.
	ChangeStories
)

// ClusterStamp names the clustered state of a database: which database
// (Instance, random, made when it was created) and how many transactions
// have changed its clustering decisions (Seq). A copy of the dedupe index
// saved with a stamp is still exact as long as the database's stamp is
// the same, and the cluster log can bring it up to date otherwise;
// storing fetched items, which wait unclustered, leaves it alone.
type ClusterStamp struct {
	Instance [16]byte
	Seq      uint64
}

// LogRecord is one batch of Decisions read back from the cluster log,
// with the items it decided on as now stored.
type LogRecord struct {
	Seq           uint64
	ExpiredBefore time.Time
	// Items and Memberships are parallel, in decision order; Memberships
	// hold the item and cluster IDs the decision gave. Items are as they
	// were decided on, even when pruned or edited since (the store keeps
	// copies for the log until it is trimmed past them: a replay with
	// other items would give another index); items deleted since are
	// left out (a deletion resets the log anyway).
	Items       []Item
	Memberships []Membership
}

// PruneResult says what pruning removed.
type PruneResult struct {
	// Items is how many items were removed.
	Items int
	// Tombstones is how many expired tombstones were dropped.
	Tombstones int
}

// StoryQuery selects stories.
type StoryQuery struct {
	// Include selects feeds; nil means all. A cluster is included when any
	// member's feed is, and then only the included members are returned in
	// Story.Items and Story.Members.
	Include func(feed string) bool
	// Since keeps clusters with Published >= Since; zero means no limit.
	Since time.Time
	// Limit caps the number of stories; 0 means no limit.
	Limit int
}

// StoreStats are a store's counts, for status displays.
type StoreStats struct {
	Items      int `json:"items"`
	Clusters   int `json:"clusters"`
	Feeds      int `json:"feeds"`
	Tombstones int `json:"tombstones"`
	// Pending is how many stored items wait to be clustered.
	Pending int `json:"pending"`
	// Size is how many bytes the store uses (for bbolt the used part of
	// its file, which bbolt grows ahead of need).
	Size int64 `json:"size"`
}

// Tombstone is the mark a deleted or pruned item leaves, so that a feed
// still listing it does not bring it back as new.
type Tombstone struct {
	ID string
	// At is when the item was removed, or when a fetch last listed it.
	At time.Time
	// Pruned tombstones (left by retention) expire; those of a deletion
	// stay.
	Pruned bool
}

// DumpMeta is the part of a store's state that is neither items nor
// stories: its cluster stamp and the cluster log's bounds, which a saved
// dedupe index is checked against.
type DumpMeta struct {
	Stamp ClusterStamp
	// LogFrom is the sequence the cluster log is complete after; Reset the
	// sequence of the last change the log cannot replay.
	LogFrom, Reset uint64
}

// DumpRecord is one record of a store's whole content, as Export writes
// it and Import reads it, to move a database between stores. Exactly one
// field is set. Export writes, in this order: one Meta; every FeedState;
// every Item (oldest first), with its Membership, or none while it is
// pending; every Cluster; every Tombstone; every cluster log batch (Log,
// with Memberships holding the item and cluster IDs and Items empty).
type DumpRecord struct {
	Meta       *DumpMeta
	Feed       *FeedState
	Item       *Item
	Membership *Membership
	Cluster    *Cluster
	Tombstone  *Tombstone
	Log        *LogRecord
}
