package storage

import (
	"bytes"
	"context"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"aggregator"
)

// recentBatch is how many items Recent decodes per read transaction. fn
// runs between transactions, so it may call any DB method (a write from
// inside a bbolt read transaction on the same goroutine can deadlock),
// and a long start-up does not pin old pages for its whole duration.
const recentBatch = 2048

// Item returns the stored item with the given ID.
func (db *DB) Item(ctx context.Context, id string) (it aggregator.Item, ok bool, err error) {
	err = db.view(ctx, func(tx *bolt.Tx) error {
		var e error
		it, ok, e = getItem(tx, id)
		return e
	})
	if err != nil {
		return aggregator.Item{}, false, fmt.Errorf("item %s: %w", id, err)
	}
	return it, ok, nil
}

// Unclustered returns the stored items that have no membership yet,
// ordered by (Item.Time, ID).
func (db *DB) Unclustered(ctx context.Context) ([]aggregator.Item, error) { return db.Pending(ctx, 0) }

// Pending returns up to limit (0: all) of the stored items not clustered
// yet, oldest first by (Item.Time, ID): new items wait here between
// SaveFetch and SaveClusters, so that they are clustered in time order
// whatever order their feeds were fetched in, and so that a crash in
// between loses nothing. It does not split the items of one Item.Time
// between two calls (so it may return more than limit, up to 16 times
// as many, past which memory matters more): the caller can order each
// such group as a whole. It reads the pending index, so it costs what it
// returns.
func (db *DB) Pending(ctx context.Context, limit int) ([]aggregator.Item, error) {
	var out []aggregator.Item
	err := db.view(ctx, func(tx *bolt.Tx) error {
		pendB := tx.Bucket(bucketPending)
		if pendB == nil {
			return nil
		}
		// Cursors kept for the whole read: a Get makes a cursor, and
		// allocates its path down the tree, every time.
		timeC, memC := tx.Bucket(bucketItemTime).Cursor(), tx.Bucket(bucketMemTime).Cursor()
		c := pendB.Cursor()
		var last []byte // the time of the last item taken
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			if len(k) < timeKeyLen {
				return fmt.Errorf("pending key %x: %w", k, errCorrupt)
			}
			if limit > 0 && len(out) >= limit && (!bytes.Equal(k[:timeKeyLen], last) || len(out) >= 16*limit) {
				break
			}
			if cursorGet(memC, k) != nil {
				continue
			}
			// Every pending key names a stored item (a deletion drops
			// both): a key without one was damaged, and its item would
			// silently never be clustered.
			v := cursorGet(timeC, k)
			if v == nil {
				return fmt.Errorf("pending item %s: %w: not stored", k[timeKeyLen:], errCorrupt)
			}
			it, err := decodeItem(k, v)
			if err != nil {
				return fmt.Errorf("item %s: %w", k[timeKeyLen:], err)
			}
			if out == nil && limit > 0 {
				// Sized for a full batch at the first item, which a
				// pass's clustering reads again and again: growing the
				// slice of items (272 bytes each) from nothing to 8,192
				// copied them twice over.
				out = make([]aggregator.Item, 0, min(limit, pendingPrealloc))
			}
			out = append(out, it)
			last = k[:timeKeyLen]
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("pending items: %w", err)
	}
	// Clustering reads the pending items a batch at a time, oldest
	// first, and each batch only once.
	db.trimMapped()
	return out, nil
}

// pendingPrealloc caps the items Pending makes room for at once.
const pendingPrealloc = 16 << 10

type recentEntry struct {
	it aggregator.Item
	m  aggregator.Membership
}

// Recent calls fn for every clustered item with Item.Time() >= since, with
// its membership, ordered by (Item.Time, ID). The dedupe index is rebuilt
// from it at start-up. It seeks the time index to since and reads forward,
// in batches of separate read transactions, so fn may call other DB
// methods; an item written meanwhile may or may not be seen. An error from
// fn stops the walk and is returned as is.
func (db *DB) Recent(ctx context.Context, since time.Time, fn func(aggregator.Item, aggregator.Membership) error) error {
	start := appendTimeKey(nil, since)
	batch := make([]recentEntry, 0, recentBatch)
	for {
		batch = batch[:0]
		var next []byte
		err := db.view(ctx, func(tx *bolt.Tx) error {
			timeB, memB := tx.Bucket(bucketItemTime), tx.Bucket(bucketMemTime)
			if timeB == nil {
				return nil
			}
			// The three buckets share keys, and every item is in
			// exactly one of memtime and pending, so the item and
			// pending cursors follow the membership cursor with Next.
			// Checking that each item skipped is pending costs a
			// cursor step, and catches a key a flipped bit moved out
			// of place (the item would silently drop out of the
			// index).
			mc, ic, pc := memB.Cursor(), timeB.Cursor(), tx.Bucket(bucketPending).Cursor()
			ik, iv := ic.Seek(start)
			pk, _ := pc.Seek(start)
			skip := func(until []byte) error {
				for ik != nil && (until == nil || bytes.Compare(ik, until) < 0) {
					for pk != nil && bytes.Compare(pk, ik) < 0 {
						pk, _ = pc.Next()
					}
					if !bytes.Equal(pk, ik) {
						return fmt.Errorf("item %s: %w: neither clustered nor pending", ik[min(len(ik), timeKeyLen):], errCorrupt)
					}
					ik, iv = ic.Next()
				}
				return nil
			}
			for k, mv := mc.Seek(start); k != nil; k, mv = mc.Next() {
				if len(batch) == recentBatch {
					next = bytes.Clone(k)
					return nil
				}
				if len(k) <= timeKeyLen {
					return fmt.Errorf("membership key %x: %w", k, errCorrupt)
				}
				if err := skip(k); err != nil {
					return err
				}
				if !bytes.Equal(ik, k) {
					return fmt.Errorf("membership of %s: %w: no item", k[timeKeyLen:], errCorrupt)
				}
				m, err := decodeMembership(k, mv)
				if err != nil {
					return fmt.Errorf("membership %s: %w", k[timeKeyLen:], err)
				}
				it, err := decodeItem(k, iv)
				if err != nil {
					return fmt.Errorf("item %s: %w", k[timeKeyLen:], err)
				}
				batch = append(batch, recentEntry{it, m})
				ik, iv = ic.Next()
			}
			return skip(nil)
		})
		if err != nil {
			return fmt.Errorf("recent: %w", err)
		}
		// The walk reads the buckets once, start to end: the pages
		// behind it are not read again.
		db.trimMapped()
		for i := range batch {
			if err := fn(batch[i].it, batch[i].m); err != nil {
				return err
			}
		}
		if next == nil {
			return nil
		}
		start = next
	}
}

// Stories returns clusters newest first (Cluster.Published descending,
// then ID ascending) with their member items resolved: Story.Items follow
// Story.Members. Story.Feeds is left nil for the caller to fill from its
// configuration. It walks the Published index from the newest end and
// stops at Limit or Since, so its cost follows the result, not the
// database. A member whose item is missing is damage (ErrCorrupt): a
// deletion takes it out of its cluster.
func (db *DB) Stories(ctx context.Context, q StoryQuery) ([]aggregator.Story, error) {
	var out []aggregator.Story
	err := db.view(ctx, func(tx *bolt.Tx) error {
		pubB, clB := tx.Bucket(bucketClusterPub), tx.Bucket(bucketClusters)
		if pubB == nil {
			return nil
		}
		var stop []byte
		if !q.Since.IsZero() {
			// Keys at or past this prefix are older than Since.
			stop = appendNewestFirstKey(nil, q.Since.Add(-time.Nanosecond))
		}
		sc := newStoryCursors(tx)
		c := pubB.Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			if stop != nil && bytes.Compare(k[:timeKeyLen], stop) >= 0 {
				break
			}
			if len(k) <= timeKeyLen {
				return fmt.Errorf("cluster index key %x: %w", k, errCorrupt)
			}
			id := k[timeKeyLen:]
			st, ok, err := resolveStory(&sc, k, id, clB.Get(id), q.Include)
			if err != nil {
				return fmt.Errorf("cluster %s: %w", id, err)
			}
			if !ok {
				continue
			}
			out = append(out, st)
			if q.Limit > 0 && len(out) >= q.Limit {
				break
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("stories: %w", err)
	}
	return out, nil
}

// storyCursors are what Stories reads members with: a cursor per bucket
// for the whole read, where every Bucket.Get makes a cursor of its own
// (since schema 4 a member costs three look-ups, its item's ID, the item
// and its membership; the third made BenchmarkStories some 15% slower,
// and reusing the cursors and finding the buckets once took it back:
// medians of five alternating runs, 1.12 ms against main's 1.22).
type storyCursors struct{ items, itemTime, memTime *bolt.Cursor }

func newStoryCursors(tx *bolt.Tx) storyCursors {
	return storyCursors{
		items:    tx.Bucket(bucketItems).Cursor(),
		itemTime: tx.Bucket(bucketItemTime).Cursor(),
		memTime:  tx.Bucket(bucketMemTime).Cursor(),
	}
}

// get is Bucket.Get through c: the value stored under key, or nil.
func (sc *storyCursors) get(c *bolt.Cursor, key []byte) []byte {
	k, v := c.Seek(key)
	if !bytes.Equal(k, key) {
		return nil
	}
	return v
}

// resolveStory decodes the cluster id (raw, nil when missing) that the
// clusterpub key pubKey lists. The two buckets change together, so a key
// that lists a missing cluster, or one under another Published time, was
// damaged: without the check it would drop or misplace a story unseen.
// So is a member whose item is missing (a deletion takes the item out of
// its cluster in the same transaction).
func resolveStory(sc *storyCursors, pubKey, id, raw []byte, include func(string) bool) (aggregator.Story, bool, error) {
	if raw == nil {
		return aggregator.Story{}, false, fmt.Errorf("%w: listed by the time index but not stored", errCorrupt)
	}
	var st aggregator.Story
	refs, err := decodeCluster(id, raw, &st.Cluster)
	if err != nil {
		return aggregator.Story{}, false, err
	}
	if !bytes.Equal(clusterPubKey(&st.Cluster), pubKey) {
		return aggregator.Story{}, false, fmt.Errorf("%w: listed by the time index at %x, stored with Published %v", errCorrupt, pubKey[:timeKeyLen], st.Cluster.Published)
	}
	members := st.Members[:0]
	st.Items = make([]aggregator.Item, 0, len(st.Members))
	for _, m := range st.Members {
		ref, ok, err := refOf(m.Item, sc.get(sc.items, []byte(m.Item)))
		if err != nil {
			return aggregator.Story{}, false, err
		}
		if !ok {
			return aggregator.Story{}, false, fmt.Errorf("member %s: %w: the item is not stored", m.Item, errCorrupt)
		}
		v := sc.get(sc.itemTime, ref.key)
		if v == nil {
			return aggregator.Story{}, false, fmt.Errorf("item %s: %w: indexed but not stored", m.Item, errCorrupt)
		}
		it, err := decodeItem(ref.key, v)
		if err != nil {
			return aggregator.Story{}, false, fmt.Errorf("item %s: %w", m.Item, err)
		}
		if include != nil && !include(it.Feed) {
			continue
		}
		if refs {
			// The membership itself is the item's (schema 4).
			mv := sc.get(sc.memTime, ref.key)
			if mv == nil {
				return aggregator.Story{}, false, fmt.Errorf("member %s: %w: its membership is missing", m.Item, errCorrupt)
			}
			full, err := decodeMembership(ref.key, mv)
			if err != nil {
				return aggregator.Story{}, false, fmt.Errorf("membership %s: %w", m.Item, err)
			}
			if full.Cluster != m.Cluster {
				return aggregator.Story{}, false, fmt.Errorf("member %s: %w: its membership is elsewhere", m.Item, errCorrupt)
			}
			m = full
		}
		members = append(members, m)
		st.Items = append(st.Items, it)
	}
	st.Members = members
	if len(st.Items) == 0 {
		return aggregator.Story{}, false, nil
	}
	return st, true, nil
}
