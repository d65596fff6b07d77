package storage

import "aggregator"

// The store's argument and result types are the root package's, so that
// every store implements one contract; these names keep this package's
// callers and tests short.
type (
	Fetched      = aggregator.Fetched
	SaveResult   = aggregator.SaveResult
	Decisions    = aggregator.Decisions
	LogRecord    = aggregator.LogRecord
	ClusterStamp = aggregator.ClusterStamp
	PruneResult  = aggregator.PruneResult
	StoryQuery   = aggregator.StoryQuery
	Stats        = aggregator.StoreStats
)
