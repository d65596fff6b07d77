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
//	feeds         feed name -> FeedState (binary since schema 5; JSON, or
//	              gob, before: see feedstate.go), checksummed
//	feedcounts    feed name -> number of stored items (uint64)
//	feeditems     feed name 0x00 key -> nothing (a feed's items, oldest first,
//	              for DeleteFeed and Prune)
//	items         item ID -> time key + Hash (the ID index)
//	itemtime      key -> Item (compact binary, see encode.go), checksummed
//	memtime       key -> Membership (compact binary), checksummed; absent
//	              = unclustered
//	pending       key -> nothing: stored items not clustered yet (every
//	              itemtime key is in exactly one of memtime and pending)
//	clusters      cluster ID -> Cluster (compact binary, its members as item
//	              IDs: their memberships are in memtime), checksummed
//	clusterpub    inverted time + cluster ID -> nothing, newest first
//	tombstones    item ID -> time of deletion or last renewal, whether
//	              pruned; checksummed
//	clusterlog    ClusterStamp sequence -> the decisions of one SaveDecisions
//	              (expiry cutoff, item and cluster IDs in order), checksummed
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
// # Memory
//
// bbolt reads the file through a shared read-only mapping, and every page
// a transaction goes through stays mapped: at a million items a fetch
// pass goes through most of the file, which then counted in the process's
// resident memory as much again as its heap. So after each write, after
// each batch of Recent's walk, after Pending, and every quarter of a
// second when a transaction ran, the mapping's pages are dropped from the
// process (trim_linux.go says why that is safe); they stay in the
// kernel's page cache, and a page used again costs a minor fault.
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
// no full check runs by itself).
//
// bbolt checksums only its meta pages, so the values carry checksums of
// their own: every value a reader turns into what users see (items,
// memberships, clusters, feed states, cluster log records, tombstones)
// ends with a CRC-32C of its key and its content, checked on every read
// (internal/itemcodec). Without it, a flipped bit in a value that still
// decodes would be served: a wrong letter in a title, a wrong link. The
// key is in the sum so that a value read under another key (a flipped
// bit in the key, or in the page's element header, which says where keys
// and values start) fails as a changed one does. CRC-32C because the CPU
// computes it: a read costs the checksum of a value it decodes anyway.
// Schema 2 values, written before the checksums, still read (unchecked)
// and gain one when rewritten; see SchemaVersion.
//
// Keys that carry no value are cross-checked, as cheaply as the reads
// that meet them allow, against the buckets that name them: a pending or
// clusterpub key must name a stored item or cluster (and the cluster's
// own time), a cluster's member a stored item, an items entry must be
// long enough to locate its item, and Recent, which walks itemtime and
// memtime side by side, checks that each item it passes without a
// membership is pending (a membership moved by a flipped key would
// otherwise drop out of the dedupe index unseen).
//
// What stays unseen: the small counters (feedcounts, meta's counts and
// sequences), whose damage miscounts or, for the ClusterStamp, makes a
// saved index be rebuilt; the Hash in the items index, whose damage only
// makes the next fetch rewrite the item; a flip in a page's element count
// that drops the last keys of a page no other bucket names (a cluster log
// record: a replayed index misses one batch); and a flip in the newest
// meta page, after which bbolt opens the other one, the state one commit
// earlier, as it must after a power cut during a commit, which looks the
// same.
package storage
