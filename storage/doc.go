// Package storage keeps the aggregator's state in a single bbolt file: feed
// fetch state, items, the dedupe decisions (memberships and clusters) and
// tombstones of deleted items. It is the only package that imports bbolt.
//
// # Invariants
//
// Every logical write is all or nothing: a fetched feed's state and its
// items ([DB.SaveFetch]; [DB.SaveFetches] stores many feeds in one
// transaction and falls back to one per feed if it fails), a batch of
// clustering decisions ([DB.SaveClusters]), a deletion ([DB.DeleteItem],
// [DB.DeleteFeed]), a batch of pruned items ([DB.Prune]). A crash
// therefore never loses or duplicates items, and the fetch state never
// disagrees with the stored items.
//
// A write whose context is done before its transaction starts fails with
// the context's error and stores nothing; once started, a transaction
// runs to its end. The exceptions are the long jobs, which are a series
// of transactions and stop between them: [DB.Prune], and [DB.Import],
// which moves a whole dump in ([DB.Export] writes one) and leaves a file
// that Open refuses with ErrIncompleteImport when it does not finish.
//
// A deleted or pruned item leaves a tombstone, so the next fetch of a feed
// that still lists it does not store it again as new: readers never see a
// removed story come back. A deletion's tombstone stays; a pruned item's
// is renewed by each fetch that still lists the item and expires once
// none has for the retention time, which bounds tombstones to what feeds
// still list.
//
// # Layout
//
// One bucket per concern. A "key" below is a 12-byte sortable time key
// (see appendTimeKey) followed by the item ID, so byte order is
// (Item.Time, ID) order.
//
//	meta          schema version, time of the last change, file instance ID
//	              and clustering sequence (ClusterStamp), cluster count,
//	              the mark of an unfinished Import
//	feeds         feed name -> FeedState (JSON; gob when a string is not
//	              UTF-8, see feedstate.go)
//	feedcounts    feed name -> number of stored items (uint64)
//	feeditems     feed name 0x00 key -> nothing (a feed's items, oldest first,
//	              for DeleteFeed and Prune)
//	items         item ID -> time key + Hash (the ID index)
//	itemtime      key -> Item (compact binary, see encode.go)
//	memtime       key -> Membership (compact binary); absent = unclustered
//	pending       key -> nothing: stored items not clustered yet
//	clusters      cluster ID -> Cluster (JSON)
//	clusterpub    inverted time + cluster ID -> nothing, newest first
//	tombstones    item ID -> time of deletion or last renewal, + 'p' if pruned
//	clusterlog    ClusterStamp sequence -> the decisions of one SaveDecisions
//	              (expiry cutoff, item and cluster IDs in order)
//	logitems      item ID -> Item as the cluster log decided on it, kept
//	              when Prune removed it or a fetch edited it since, until
//	              the log is trimmed past it
//
// Items and memberships are stored in time order so that [DB.Recent], which
// rebuilds the dedupe index at start-up, reads both buckets sequentially
// from its start time; new items mostly append at the end, so a fetch
// dirties few pages. clusterpub lets [DB.Stories] read the newest clusters
// first and stop at its limit. A refetch checks each item against the
// items bucket alone: an unchanged Hash needs no decoding.
//
// Values handed to callers are always decoded copies; no byte slice owned
// by bbolt outlives the transaction that read it.
//
// # Damage
//
// A kill cannot damage the file (scripts/crash kills fetch and serve at
// random and runs bbolt's check after each kill); a disk or another
// program can. What this package meets of it becomes a *CorruptError
// (ErrCorrupt) naming the file and what to do, never a panic: Open checks
// bbolt's meta checksums and the file's size against its pages (a
// truncated file), and every transaction recovers bbolt's panics and the
// memory faults of pages past the end of the file (see corrupt.go for why
// no full check runs by itself). bbolt pages carry no checksum, so a
// flipped bit inside a stored value that still decodes (a letter of a
// title) goes unseen.
package storage
