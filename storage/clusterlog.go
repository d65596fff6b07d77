package storage

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"aggregator"
	"aggregator/internal/itemcodec"
)

// The cluster log lets a saved dedupe index catch up instead of being
// rebuilt: every SaveDecisions transaction appends one record, keyed by
// the ClusterStamp sequence it made, holding the index's expiry cutoff and
// the (item, cluster) decisions in the order they were made. A process
// that loads an index saved at sequence S replays the records after S.
//
// Changes the log cannot replay make the saved index unusable: deletions
// (DeleteItem, DeleteFeed) record their sequence as the reset point.
//
// A replay must add each item as it was decided on, or the replayed index
// differs from the deciding process's (its word statistics count every
// item it was given, expired or not). So an item the log refers to that
// Prune removes, or whose text a fetch then changes, is first copied as
// it was into the logitems bucket, which the replay reads before the
// stored items; TrimClusterLog drops the copies no record needs any more.
// (scripts/crash found it: a kill after a prune and before the next
// index save gave, one round later, 64% of the stories of an
// uninterrupted run.)
var (
	bucketClusterLog = []byte("clusterlog")
	bucketLogItems   = []byte("logitems")
	// keyClusterReset is the sequence of the last change the log cannot
	// replay; keyLogFrom the sequence the log is complete after (records
	// up to it may have been trimmed, or were never written).
	keyClusterReset = []byte("cluster_reset")
	keyLogFrom      = []byte("clusterlog_from")
)

// SaveDecisions is SaveClusters that also appends the decisions to the
// cluster log in the same transaction. A Fenced batch is stored only
// when the ClusterStamp sequence was still d.Base (bbolt's single writer
// makes the check and the write one); otherwise nothing is stored and
// the error wraps aggregator.ErrStaleIndex.
func (db *DB) SaveDecisions(ctx context.Context, d Decisions) error {
	return db.saveClusters(ctx, d.Memberships, d.Representatives, d.Now, func(tx *bolt.Tx, seq uint64) error {
		// seq is the batch's own, one past the sequence before it; the
		// transaction's rollback undoes all the batch did.
		if d.Fenced && seq-1 != d.Base {
			return fmt.Errorf("fenced at %d, the store is at %d: %w", d.Base, seq-1, aggregator.ErrStaleIndex)
		}
		if d.Rewound {
			// The log cannot replay a rewind: it resets.
			if err := tx.Bucket(bucketMeta).Put(keyClusterReset, seqKey(seq)); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketClusterLog).Put(seqKey(seq), encodeLogRecord(seqKey(seq), d.ExpiredBefore, d.Memberships))
	})
}

// encodeLogRecord writes the value of the log record under key: the
// expiry cutoff, then the (item, cluster) pairs in decision order, framed
// and checksummed by sealTimed (see encode.go).
func encodeLogRecord(key []byte, expiredBefore time.Time, ms []aggregator.Membership) []byte {
	n := 24 + itemcodec.SumLen
	for _, m := range ms {
		n += 4 + len(m.Item) + len(m.Cluster)
	}
	v := appendTime(make([]byte, 1, n), expiredBefore)
	v = binary.AppendUvarint(v, uint64(len(ms)))
	for _, m := range ms {
		v = appendString(v, m.Item)
		v = appendString(v, m.Cluster)
	}
	return sealTimed(key, v)
}

// openLogRecord checks the checksum of the log record under key and
// returns a decoder at its expiry cutoff.
func openLogRecord(key, v []byte) (*itemcodec.Decoder, error) {
	body, err := openTimed(key, v)
	if err != nil {
		return nil, err
	}
	return itemcodec.NewDecoder(body), nil
}

func seqKey(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

// ClusterLogStart reports whether the cluster log can bring an index
// saved at stamp saved up to date: same file, no deletion since, and no
// record after it trimmed.
func (db *DB) ClusterLogStart(ctx context.Context, saved ClusterStamp) (ok bool, err error) {
	err = db.view(ctx, func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta == nil || tx.Bucket(bucketClusterLog) == nil {
			return nil
		}
		cur := stampOf(meta)
		ok = cur.Instance == saved.Instance && saved.Instance != [16]byte{} &&
			saved.Seq <= cur.Seq &&
			readUint64(meta.Get(keyClusterReset)) <= saved.Seq &&
			readUint64(meta.Get(keyLogFrom)) <= saved.Seq
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("cluster log: %w", err)
	}
	return ok, nil
}

// ClusterLog calls fn with each record after sequence after, in order.
// Each record is read in its own transaction, so fn may take its time.
func (db *DB) ClusterLog(ctx context.Context, after uint64, fn func(LogRecord) error) error {
	next := after + 1
	for {
		var rec LogRecord
		found := false
		err := db.view(ctx, func(tx *bolt.Tx) error {
			k, v := tx.Bucket(bucketClusterLog).Cursor().Seek(seqKey(next))
			if k == nil {
				return nil
			}
			if len(k) != 8 {
				return fmt.Errorf("log key %x: %w", k, errCorrupt)
			}
			found = true
			rec.Seq = binary.BigEndian.Uint64(k)
			return decodeLogRecord(tx, k, v, &rec)
		})
		if err != nil {
			return fmt.Errorf("cluster log after %d: %w", next-1, err)
		}
		if !found {
			return nil
		}
		if err := fn(rec); err != nil {
			return err
		}
		next = rec.Seq + 1
	}
}

func decodeLogRecord(tx *bolt.Tx, k, v []byte, rec *LogRecord) error {
	expired, ms, err := decodeLogPairs(k, v)
	if err != nil {
		return fmt.Errorf("log record %d: %w", rec.Seq, err)
	}
	rec.ExpiredBefore = expired
	kept := tx.Bucket(bucketLogItems)
	for _, m := range ms {
		var (
			it  aggregator.Item
			ok  bool
			err error
		)
		if v := kept.Get([]byte(m.Item)); v != nil {
			it, err = decodeItem([]byte(m.Item), v)
			if err == nil && it.ID != m.Item {
				err = fmt.Errorf("%w: the copy kept is of item %s", errCorrupt, it.ID)
			}
			ok = true
		} else {
			it, ok, err = getItem(tx, m.Item)
		}
		if err != nil {
			return fmt.Errorf("log record %d: item %s: %w", rec.Seq, m.Item, err)
		}
		if !ok {
			continue
		}
		rec.Items = append(rec.Items, it)
		rec.Memberships = append(rec.Memberships, m)
	}
	return nil
}

// decodeLogPairs reads what encodeLogRecord wrote; the memberships hold
// only item and cluster IDs.
func decodeLogPairs(k, v []byte) (time.Time, []aggregator.Membership, error) {
	d, err := openLogRecord(k, v)
	if err != nil {
		return time.Time{}, nil, err
	}
	expired := d.Time()
	n := d.Uvarint()
	if d.Err() != nil || n > uint64(len(v)) {
		return time.Time{}, nil, errCorrupt
	}
	ms := make([]aggregator.Membership, 0, n)
	for range n {
		item, cluster := d.String(), d.String()
		if d.Err() != nil {
			return time.Time{}, nil, errCorrupt
		}
		ms = append(ms, aggregator.Membership{Item: item, Cluster: cluster})
	}
	if len(d.Rest()) != 0 {
		return time.Time{}, nil, fmt.Errorf("%w: %d bytes after the record", errCorrupt, len(d.Rest()))
	}
	return expired, ms, nil
}

// TrimClusterLog drops the records up to sequence upTo: an index saved at
// upTo (or later) no longer needs them, and one saved earlier can then no
// longer catch up.
func (db *DB) TrimClusterLog(ctx context.Context, upTo uint64) error {
	err := db.update(ctx, func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if readUint64(meta.Get(keyLogFrom)) >= upTo {
			return nil
		}
		if err := meta.Put(keyLogFrom, seqKey(upTo)); err != nil {
			return err
		}
		b := tx.Bucket(bucketClusterLog)
		c := b.Cursor()
		end := seqKey(upTo)
		for k, _ := c.First(); k != nil && bytes.Compare(k, end) <= 0; k, _ = c.First() {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		var still loggedItems
		if err := still.refresh(tx); err != nil {
			return err
		}
		return dropLogItems(tx, still.ids)
	})
	if err != nil {
		return fmt.Errorf("trim cluster log: %w", err)
	}
	return nil
}

// clusteringReset advances the ClusterStamp for a change the cluster log
// cannot replay.
func clusteringReset(tx *bolt.Tx) error {
	seq, err := nextClusterSeq(tx)
	if err != nil {
		return err
	}
	if err := dropLogItems(tx, nil); err != nil { // no replay will need them
		return err
	}
	return tx.Bucket(bucketMeta).Put(keyClusterReset, seqKey(seq))
}

// loggedItems is the set of item IDs the cluster log refers to, read once
// and brought up to date with the records appended since.
type loggedItems struct {
	after uint64
	ids   map[string]bool
}

func (l *loggedItems) refresh(tx *bolt.Tx) error {
	if l.ids == nil {
		l.ids = map[string]bool{}
	}
	c := tx.Bucket(bucketClusterLog).Cursor()
	for k, v := c.Seek(seqKey(l.after + 1)); k != nil; k, v = c.Next() {
		if len(k) != 8 {
			return fmt.Errorf("log key %x: %w", k, errCorrupt)
		}
		d, err := openLogRecord(k, v)
		if err != nil {
			return fmt.Errorf("log record %x: %w", k, err)
		}
		d.Time()
		n := d.Uvarint()
		if d.Err() != nil || n > uint64(len(v)) {
			return fmt.Errorf("log record %x: %w", k, errCorrupt)
		}
		for range n {
			item := d.String()
			d.Bytes() // the cluster
			if d.Err() != nil {
				return fmt.Errorf("log record %x: %w", k, errCorrupt)
			}
			l.ids[item] = true
		}
		l.after = binary.BigEndian.Uint64(k)
	}
	return nil
}

// keepForLog copies it, as the cluster log decided on it, before Prune
// removes it or a fetch changes it; a copy kept already is the older.
func keepForLog(tx *bolt.Tx, it *aggregator.Item) error {
	b := tx.Bucket(bucketLogItems)
	if b.Get([]byte(it.ID)) != nil {
		return nil
	}
	return b.Put([]byte(it.ID), encodeItem([]byte(it.ID), it))
}

// logNonEmpty reports whether the cluster log holds any record.
func logNonEmpty(tx *bolt.Tx) bool {
	k, _ := tx.Bucket(bucketClusterLog).Cursor().First()
	return k != nil
}

// dropLogItems removes the kept copies of items not in keep.
func dropLogItems(tx *bolt.Tx, keep map[string]bool) error {
	b := tx.Bucket(bucketLogItems)
	var drop [][]byte
	err := b.ForEach(func(k, _ []byte) error {
		if !keep[string(k)] {
			drop = append(drop, bytes.Clone(k))
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range drop {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// nextClusterSeq advances the ClusterStamp sequence and returns it.
func nextClusterSeq(tx *bolt.Tx) (uint64, error) {
	if err := clusteringChanged(tx); err != nil {
		return 0, err
	}
	return readUint64(tx.Bucket(bucketMeta).Get(keyClusterSeq)), nil
}

// ensureLogFrom marks, in a file written before the cluster log existed,
// that the log starts now.
func ensureLogFrom(meta *bolt.Bucket) error {
	if meta.Get(keyLogFrom) != nil {
		return nil
	}
	return meta.Put(keyLogFrom, seqKey(readUint64(meta.Get(keyClusterSeq))))
}

func readUint64(v []byte) uint64 {
	if len(v) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}
