package storage

import (
	"context"
	"errors"
	"fmt"
	"strings"

	bolt "go.etcd.io/bbolt"

	"aggregator"
)

// Export and Import move a database's whole content to another store (or
// another file) as the stream of aggregator.DumpRecord the root package
// describes.
//
// An import writes in transactions of importChunk records, so that a
// database of millions of items needs neither one huge transaction nor
// the whole stream in memory. Its first transaction marks the file as
// being imported into (keyImporting in meta) and its last, which also
// writes the dump's ClusterStamp and cluster log bounds, removes the
// mark. An import that fails, is cancelled or is killed half way leaves
// the mark on a file holding part of the dump: Open and Import then
// refuse the file with ErrIncompleteImport, and the only way on is to
// remove the file and import again. Until the last transaction the file
// keeps its own new instance, so no saved index matches a part-imported
// file either.

// importChunk is how many records one Import transaction writes.
const importChunk = 4096

// keyImporting marks a file an Import has not finished.
var keyImporting = []byte("importing")

// ErrIncompleteImport is returned (wrapped) by Open and Import for a file
// an Import did not finish: it holds part of a dump. Remove it and import
// again.
var ErrIncompleteImport = errors.New("database holds an unfinished import")

// ErrNotEmpty is returned (wrapped) by Import for a database that already
// holds feeds, items, stories, tombstones or cluster log records.
var ErrNotEmpty = errors.New("database is not empty")

// Export calls put with every record of the database, in the order
// aggregator.DumpRecord documents, items oldest first by (Item.Time, ID),
// feeds, clusters and tombstones in key order. It reads one transaction,
// so the records are one consistent state however long it takes; writers
// go on meanwhile, but put must not write to db itself (bbolt cannot
// grow the file under an open read transaction of the same goroutine).
// It stops at put's first error, which it returns as is, and when ctx is
// done.
func (db *DB) Export(ctx context.Context, put func(aggregator.DumpRecord) error) error {
	err := db.view(ctx, func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			return nil // a read-only open of an uninitialised file
		}
		e := exporter{ctx: ctx, put: put}
		e.emit(aggregator.DumpRecord{Meta: &aggregator.DumpMeta{
			Stamp:   stampOf(meta),
			LogFrom: readUint64(meta.Get(keyLogFrom)),
			Reset:   readUint64(meta.Get(keyClusterReset)),
		}})
		e.each(tx.Bucket(bucketFeeds), func(k, v []byte) error {
			var st aggregator.FeedState
			if err := decodeFeedState(k, v, &st); err != nil {
				return fmt.Errorf("feed %q: %w", k, err)
			}
			e.emit(aggregator.DumpRecord{Feed: &st})
			return nil
		})
		memB := tx.Bucket(bucketMemTime)
		e.each(tx.Bucket(bucketItemTime), func(k, v []byte) error {
			it, err := decodeItem(k, v)
			if err != nil {
				return fmt.Errorf("item at %x: %w", k, err)
			}
			e.emit(aggregator.DumpRecord{Item: &it})
			if mv := memB.Get(k); mv != nil {
				m, err := decodeMembership(k, mv)
				if err != nil {
					return fmt.Errorf("membership of %s: %w", it.ID, err)
				}
				e.emit(aggregator.DumpRecord{Membership: &m})
			}
			return nil
		})
		e.each(tx.Bucket(bucketClusters), func(k, v []byte) error {
			var c aggregator.Cluster
			refs, err := decodeCluster(k, v, &c)
			if err == nil && refs {
				err = fillMembers(tx, &c)
			}
			if err != nil {
				return err
			}
			e.emit(aggregator.DumpRecord{Cluster: &c})
			return nil
		})
		e.each(tx.Bucket(bucketTombstones), func(k, v []byte) error {
			at, pruned, err := decodeTombstone(k, v)
			if err != nil {
				return fmt.Errorf("tombstone %s: %w", k, err)
			}
			e.emit(aggregator.DumpRecord{Tombstone: &aggregator.Tombstone{ID: string(k), At: at, Pruned: pruned}})
			return nil
		})
		e.each(tx.Bucket(bucketClusterLog), func(k, v []byte) error {
			if len(k) != 8 {
				return fmt.Errorf("log key %x: %w", k, errCorrupt)
			}
			rec := aggregator.LogRecord{Seq: readUint64(k)}
			var err error
			if rec.ExpiredBefore, rec.Memberships, err = decodeLogPairs(k, v); err != nil {
				return fmt.Errorf("log record %d: %w", rec.Seq, err)
			}
			e.emit(aggregator.DumpRecord{Log: &rec})
			return nil
		})
		return e.err
	})
	if err != nil {
		return fmt.Errorf("export %s: %w", db.path, err)
	}
	return nil
}

// exporter walks buckets for Export; the first error, put's or its own,
// sticks and stops the walk.
type exporter struct {
	ctx context.Context
	put func(aggregator.DumpRecord) error
	n   int
	err error
}

func (e *exporter) emit(r aggregator.DumpRecord) {
	if e.err != nil {
		return
	}
	if e.n++; e.n%256 == 0 {
		if e.err = e.ctx.Err(); e.err != nil {
			return
		}
	}
	e.err = e.put(r)
}

func (e *exporter) each(b *bolt.Bucket, fn func(k, v []byte) error) {
	if e.err != nil || b == nil {
		return
	}
	c := b.Cursor()
	for k, v := c.First(); k != nil && e.err == nil; k, v = c.Next() {
		if err := fn(k, v); err != nil && e.err == nil {
			e.err = err
		}
	}
}

// Import fills an empty database with the records produce hands to put,
// as Export writes them: a Meta first, each Membership right after its
// Item. The database keeps the dump's ClusterStamp (instance and
// sequence) and cluster log bounds, so a dedupe index saved beside the
// exported database is valid beside this one; feeds' TotalItems are
// counted from the imported items.
//
// It refuses (with ErrNotEmpty) a database holding anything but its
// schema. Nothing else may write to db while it runs. It writes in
// transactions of a few thousand records and stops between them when ctx
// is done; when it fails for any reason the database is left holding part
// of the dump, and Open and Import refuse it from then on with
// ErrIncompleteImport (see the comment at the top of this file).
func (db *DB) Import(ctx context.Context, produce func(put func(aggregator.DumpRecord) error) error) error {
	if db.readOnly {
		return fmt.Errorf("import into %s: open read-only", db.path)
	}
	err := db.update(ctx, func(tx *bolt.Tx) error {
		if err := checkImportable(tx); err != nil {
			return err
		}
		return tx.Bucket(bucketMeta).Put(keyImporting, []byte{1})
	})
	if err != nil {
		return fmt.Errorf("import into %s: %w", db.path, err)
	}
	im := importer{}
	flush := func() error {
		if len(im.pending) == 0 {
			return nil
		}
		err := db.update(ctx, func(tx *bolt.Tx) error {
			for _, r := range im.pending {
				if err := im.apply(tx, r); err != nil {
					return err
				}
			}
			return nil
		})
		im.pending = im.pending[:0]
		return err
	}
	var putErr error // sticks: a producer that ignores it must not finish the import
	err = produce(func(r aggregator.DumpRecord) error {
		if putErr != nil {
			return putErr
		}
		if putErr = im.take(r); putErr == nil && len(im.pending) >= importChunk {
			putErr = flush()
		}
		return putErr
	})
	if err == nil {
		err = putErr
	}
	if err == nil {
		err = flush()
	}
	if err == nil && im.meta == nil {
		err = errors.New("the dump holds no records")
	}
	if err == nil {
		err = db.update(ctx, im.finish)
	}
	if err != nil {
		return fmt.Errorf("import into %s (remove the file before trying again): %w", db.path, err)
	}
	return nil
}

// checkImportable accepts a database holding nothing but its schema.
func checkImportable(tx *bolt.Tx) error {
	if tx.Bucket(bucketMeta).Get(keyImporting) != nil {
		return ErrIncompleteImport
	}
	for _, name := range [][]byte{bucketFeeds, bucketItems, bucketClusters, bucketTombstones, bucketClusterLog} {
		if k, _ := tx.Bucket(name).Cursor().First(); k != nil {
			return fmt.Errorf("%w: it holds %s", ErrNotEmpty, name)
		}
	}
	return nil
}

// importer checks and applies an Import's records.
type importer struct {
	n       int // records taken
	meta    *aggregator.DumpMeta
	pending []aggregator.DumpRecord // taken, not yet written
	// lastItem and lastKey are the last item written, which a Membership
	// must follow.
	lastItem string
	lastKey  []byte
}

// take checks a record's shape and queues a copy of it, so that the
// producer may reuse what it hands over.
func (im *importer) take(r aggregator.DumpRecord) error {
	im.n++
	set := 0
	for _, p := range []bool{r.Meta != nil, r.Feed != nil, r.Item != nil, r.Membership != nil, r.Cluster != nil,
		r.Tombstone != nil, r.Log != nil} {
		if p {
			set++
		}
	}
	if set != 1 {
		return fmt.Errorf("record %d: %d fields set, want 1", im.n, set)
	}
	if (r.Meta != nil) != (im.n == 1) {
		return fmt.Errorf("record %d: the dump must start with its Meta, once", im.n)
	}
	var c aggregator.DumpRecord
	switch {
	case r.Meta != nil:
		m := *r.Meta
		im.meta = &m
		return nil
	case r.Feed != nil:
		v := *r.Feed
		c.Feed = &v
	case r.Item != nil:
		v := *r.Item
		c.Item = &v
	case r.Membership != nil:
		v := *r.Membership
		c.Membership = &v
	case r.Cluster != nil:
		v := *r.Cluster
		c.Cluster = &v
	case r.Tombstone != nil:
		v := *r.Tombstone
		c.Tombstone = &v
	case r.Log != nil:
		v := *r.Log
		c.Log = &v
	}
	im.pending = append(im.pending, c)
	return nil
}

// apply writes one record within tx.
func (im *importer) apply(tx *bolt.Tx, r aggregator.DumpRecord) error {
	switch {
	case r.Feed != nil:
		if r.Feed.Name == "" || strings.IndexByte(r.Feed.Name, 0) >= 0 {
			return fmt.Errorf("feed state: invalid feed name %q", r.Feed.Name)
		}
		return putFeedState(tx, r.Feed)
	case r.Item != nil:
		it := r.Item
		if it.ID == "" || it.Feed == "" || strings.IndexByte(it.Feed, 0) >= 0 {
			return fmt.Errorf("item %q of feed %q: missing ID or invalid feed name", it.ID, it.Feed)
		}
		if tx.Bucket(bucketItems).Get([]byte(it.ID)) != nil {
			return fmt.Errorf("item %s: twice in the dump", it.ID)
		}
		key := itemTimeKey(it)
		if err := putItem(tx, key, it); err != nil {
			return fmt.Errorf("item %s: %w", it.ID, err)
		}
		if err := tx.Bucket(bucketFeedItems).Put(feedItemKey(it.Feed, key), nil); err != nil {
			return err
		}
		if err := tx.Bucket(bucketPending).Put(key, nil); err != nil {
			return err
		}
		if _, err := addFeedCount(tx, it.Feed, 1); err != nil {
			return err
		}
		im.lastItem, im.lastKey = it.ID, key
		return nil
	case r.Membership != nil:
		m := r.Membership
		if m.Item != im.lastItem || m.Cluster == "" {
			return fmt.Errorf("membership of %q in %q: not right after its item", m.Item, m.Cluster)
		}
		if err := tx.Bucket(bucketMemTime).Put(im.lastKey, encodeMembership(im.lastKey, m)); err != nil {
			return err
		}
		return tx.Bucket(bucketPending).Delete(im.lastKey)
	case r.Cluster != nil:
		c := r.Cluster
		if c.ID == "" {
			return errors.New("cluster without an ID")
		}
		if tx.Bucket(bucketClusters).Get([]byte(c.ID)) != nil {
			return fmt.Errorf("cluster %s: twice in the dump", c.ID)
		}
		if err := tx.Bucket(bucketClusters).Put([]byte(c.ID), encodeCluster(c)); err != nil {
			return fmt.Errorf("cluster %s: %w", c.ID, err)
		}
		if err := tx.Bucket(bucketClusterPub).Put(clusterPubKey(c), nil); err != nil {
			return err
		}
		return addCount(tx, keyClusterCount, 1)
	case r.Tombstone != nil:
		ts := r.Tombstone
		if ts.ID == "" {
			return errors.New("tombstone without an ID")
		}
		key := []byte(ts.ID)
		return tx.Bucket(bucketTombstones).Put(key, encodeTombstone(key, ts.At, ts.Pruned))
	case r.Log != nil:
		return tx.Bucket(bucketClusterLog).Put(seqKey(r.Log.Seq), encodeLogRecord(seqKey(r.Log.Seq), r.Log.ExpiredBefore, r.Log.Memberships))
	}
	return nil
}

// finish is the last transaction of an import: the dump's stamp and log
// bounds, the feeds' item counts, and the mark removed.
func (im *importer) finish(tx *bolt.Tx) error {
	meta := tx.Bucket(bucketMeta)
	if im.meta.Stamp.Instance != ([16]byte{}) {
		if err := meta.Put(keyInstance, im.meta.Stamp.Instance[:]); err != nil {
			return err
		}
	}
	for key, v := range map[string]uint64{
		string(keyClusterSeq): im.meta.Stamp.Seq, string(keyClusterReset): im.meta.Reset, string(keyLogFrom): im.meta.LogFrom,
	} {
		if err := meta.Put([]byte(key), seqKey(v)); err != nil {
			return err
		}
	}
	var states []aggregator.FeedState
	err := tx.Bucket(bucketFeeds).ForEach(func(k, v []byte) error {
		var st aggregator.FeedState
		if err := decodeFeedState(k, v, &st); err != nil {
			return fmt.Errorf("feed %q: %w", k, err)
		}
		states = append(states, st)
		return nil
	})
	if err != nil {
		return err
	}
	for _, st := range states {
		if n := int(feedCount(tx, st.Name)); n != st.TotalItems {
			st.TotalItems = n
			if err := putFeedState(tx, &st); err != nil {
				return err
			}
		}
	}
	return meta.Delete(keyImporting)
}
