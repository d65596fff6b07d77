package storage

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"aggregator"
)

// FeedStates returns the stored state of every feed, by name.
func (db *DB) FeedStates(ctx context.Context) (map[string]aggregator.FeedState, error) {
	out := make(map[string]aggregator.FeedState)
	err := db.view(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketFeeds)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			var st aggregator.FeedState
			if err := decodeFeedState(k, v, &st); err != nil {
				return fmt.Errorf("feed %q: %w", k, err)
			}
			out[st.Name] = st
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("feed states: %w", err)
	}
	return out, nil
}

// FeedState returns the stored state of the named feed; ok is false when
// there is none.
func (db *DB) FeedState(ctx context.Context, name string) (st aggregator.FeedState, ok bool, err error) {
	err = db.view(ctx, func(tx *bolt.Tx) error {
		var e error
		st, ok, e = getFeedState(tx, name)
		return e
	})
	if err != nil {
		return aggregator.FeedState{}, false, fmt.Errorf("feed state %q: %w", name, err)
	}
	return st, ok, nil
}

// PutFeedState stores st on its own, for changes that come without items
// (a failed or unchanged fetch, a disabled feed). TotalItems is always set
// from the stored items, whatever st says.
func (db *DB) PutFeedState(ctx context.Context, st aggregator.FeedState) error {
	if st.Name == "" {
		return fmt.Errorf("put feed state: empty feed name")
	}
	err := db.update(ctx, func(tx *bolt.Tx) error {
		st.TotalItems = int(feedCount(tx, st.Name))
		return putFeedState(tx, &st)
	})
	if err != nil {
		return fmt.Errorf("put feed state %q: %w", st.Name, err)
	}
	return nil
}

// PutFeedStates stores several states in one transaction: the states of
// fetches that brought no items, which the caller may gather for a moment
// rather than pay a commit for each. TotalItems is set as in PutFeedState.
func (db *DB) PutFeedStates(ctx context.Context, states []aggregator.FeedState) error {
	for _, st := range states {
		if st.Name == "" {
			return fmt.Errorf("put feed states: empty feed name")
		}
	}
	if len(states) == 0 {
		return nil
	}
	err := db.update(ctx, func(tx *bolt.Tx) error {
		for _, st := range states {
			st.TotalItems = int(feedCount(tx, st.Name))
			if err := putFeedState(tx, &st); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("put %d feed states: %w", len(states), err)
	}
	return nil
}

func getFeedState(tx *bolt.Tx, name string) (aggregator.FeedState, bool, error) {
	b := tx.Bucket(bucketFeeds)
	if b == nil {
		return aggregator.FeedState{}, false, nil
	}
	v := b.Get([]byte(name))
	if v == nil {
		return aggregator.FeedState{}, false, nil
	}
	var st aggregator.FeedState
	if err := decodeFeedState([]byte(name), v, &st); err != nil {
		return aggregator.FeedState{}, false, fmt.Errorf("feed %q: %w", name, err)
	}
	return st, true, nil
}

func putFeedState(tx *bolt.Tx, st *aggregator.FeedState) error {
	return tx.Bucket(bucketFeeds).Put([]byte(st.Name), appendFeedState(nil, st))
}

func feedCount(tx *bolt.Tx, feed string) uint64 {
	b := tx.Bucket(bucketFeedCounts)
	if b == nil {
		return 0
	}
	if v := b.Get([]byte(feed)); len(v) == 8 {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

// addFeedCount adds delta to feed's stored item count and returns the
// new count. A delta of 0 (a fetch with nothing new, as most are) writes
// nothing: a Put of the same value would still dirty the bucket's page
// and make the commit write it again.
func addFeedCount(tx *bolt.Tx, feed string, delta int) (uint64, error) {
	if delta == 0 {
		return feedCount(tx, feed), nil
	}
	n := int64(feedCount(tx, feed)) + int64(delta)
	if n < 0 {
		n = 0
	}
	b := tx.Bucket(bucketFeedCounts)
	if n == 0 {
		return 0, b.Delete([]byte(feed))
	}
	return uint64(n), b.Put([]byte(feed), binary.BigEndian.AppendUint64(nil, uint64(n)))
}

// SaveFetch stores one fetched feed in one write transaction: its new
// fetch state and its items, so a crash can never keep one without the
// other. To store many feeds, SaveFetches shares one transaction (and its
// fsync) among them.
//
// Items are keyed by Item.ID and must belong to st.Name (an empty
// Item.Feed is set to it). A new ID is stored as given: the caller sets
// FirstSeen. An existing ID keeps its stored FirstSeen; when its Hash
// differs the stored item is replaced and reported in Updated. A repeated
// ID within the batch is stored once (the first occurrence wins). A
// tombstoned ID is skipped. st.TotalItems is set to the feed's stored item
// count.
func (db *DB) SaveFetch(ctx context.Context, st aggregator.FeedState, items []aggregator.Item) (SaveResult, error) {
	res, errs := db.SaveFetches(ctx, []Fetched{{State: st, Items: items}})
	return res[0], errs[0]
}

// SaveFetches stores several fetched feeds, each as SaveFetch would, in
// one write transaction: a fetch pass of thousands of feeds pays for tens
// of commits, not thousands. Each feed is still all or nothing: when the
// shared transaction fails, the feeds are stored one by one, so that one
// feed's error (reported at its index) costs the others nothing.
func (db *DB) SaveFetches(ctx context.Context, fs []Fetched) ([]SaveResult, []error) {
	res := make([]SaveResult, len(fs))
	errs := make([]error, len(fs))
	var valid []int
	for i := range fs {
		if err := checkFetched(&fs[i]); err != nil {
			errs[i] = err
			continue
		}
		valid = append(valid, i)
	}
	if len(valid) == 0 {
		return res, errs
	}
	err := db.update(ctx, func(tx *bolt.Tx) error {
		for _, i := range valid {
			r, err := saveFetchTx(tx, fs[i].State, fs[i].Items)
			if err != nil {
				return fmt.Errorf("save fetch %q: %w", fs[i].State.Name, err)
			}
			res[i] = r
		}
		return nil
	})
	if err == nil {
		return res, errs
	}
	if len(valid) == 1 {
		res[valid[0]], errs[valid[0]] = SaveResult{}, err
		return res, errs
	}
	if cerr := ctx.Err(); cerr != nil {
		// Storing the feeds one by one would fail each the same way.
		for _, i := range valid {
			res[i], errs[i] = SaveResult{}, fmt.Errorf("save fetch %q: %w", fs[i].State.Name, cerr)
		}
		return res, errs
	}
	for _, i := range valid {
		res[i] = SaveResult{}
		err := db.update(ctx, func(tx *bolt.Tx) error {
			r, err := saveFetchTx(tx, fs[i].State, fs[i].Items)
			res[i] = r
			return err
		})
		if err != nil {
			res[i], errs[i] = SaveResult{}, fmt.Errorf("save fetch %q: %w", fs[i].State.Name, err)
		}
	}
	return res, errs
}

func checkFetched(f *Fetched) error {
	st := &f.State
	if st.Name == "" || strings.IndexByte(st.Name, 0) >= 0 {
		return fmt.Errorf("save fetch: invalid feed name %q", st.Name)
	}
	for i := range f.Items {
		if f.Items[i].ID == "" {
			return fmt.Errorf("save fetch %q: item %d has no ID", st.Name, i)
		}
		if f.Items[i].Feed != "" && f.Items[i].Feed != st.Name {
			return fmt.Errorf("save fetch %q: item %s belongs to feed %q", st.Name, f.Items[i].ID, f.Items[i].Feed)
		}
	}
	return nil
}

// saveFetchTx is SaveFetch's work inside tx.
func saveFetchTx(tx *bolt.Tx, st aggregator.FeedState, items []aggregator.Item) (SaveResult, error) {
	var res SaveResult
	var (
		tombB = tx.Bucket(bucketTombstones)
		seen  = make(map[string]struct{}, len(items))
		now   = time.Now()
		puts  newPuts
	)
	for i := range items {
		it := items[i]
		if _, dup := seen[it.ID]; dup {
			continue
		}
		seen[it.ID] = struct{}{}
		it.Feed = st.Name
		if v := tombB.Get([]byte(it.ID)); v != nil {
			res.Deleted++
			if err := renewTombstone(tombB, []byte(it.ID), v, now); err != nil {
				return SaveResult{}, err
			}
			continue
		}
		ref, ok, err := lookup(tx, it.ID)
		if err != nil {
			return SaveResult{}, err
		}
		if !ok {
			puts.add(st.Name, &it)
			res.New = append(res.New, it)
			continue
		}
		if ref.hash == it.Hash {
			res.Unchanged++
			continue
		}
		prev, err := decodeItem(ref.key, tx.Bucket(bucketItemTime).Get(ref.key))
		if err != nil {
			return SaveResult{}, fmt.Errorf("item %s: %w", it.ID, err)
		}
		// A clustered item's decision may be in the cluster log, which
		// must replay it as it was decided on.
		if tx.Bucket(bucketMemTime).Get(ref.key) != nil && logNonEmpty(tx) {
			if err := keepForLog(tx, &prev); err != nil {
				return SaveResult{}, err
			}
		}
		it.FirstSeen = prev.FirstSeen
		if err := replaceItem(tx, ref.key, &it); err != nil {
			return SaveResult{}, fmt.Errorf("item %s: %w", it.ID, err)
		}
		res.Updated = append(res.Updated, it)
	}
	if err := puts.apply(tx); err != nil {
		return SaveResult{}, err
	}
	n, err := addFeedCount(tx, st.Name, len(res.New))
	if err != nil {
		return SaveResult{}, err
	}
	st.TotalItems = int(n)
	if err := putFeedState(tx, &st); err != nil {
		return SaveResult{}, err
	}
	return res, nil
}

// newPuts gathers the entries of a fetch's new items, bucket by bucket,
// to be put in key order. bbolt keeps the entries a transaction adds to a
// page in one sorted slice until commit, and each Put in the middle of it
// moves what follows: a feed listing 100,000 items newest first (itemtime,
// pending, feeditems) or in ID hash order (items) cost a quadratic
// memmove, 161 s for the one transaction. In key order every Put lands
// at the end of what the transaction added to its page, and the cost is
// linear (BenchmarkSaveBigFeed).
type newPuts struct {
	itemTime, items, feedItems, pending []kv
}

type kv struct{ k, v []byte }

func (p *newPuts) add(feed string, it *aggregator.Item) {
	key := itemTimeKey(it)
	p.itemTime = append(p.itemTime, kv{key, encodeItem(key, it)})
	p.items = append(p.items, kv{[]byte(it.ID), encodeRef(key, it.Hash)})
	p.feedItems = append(p.feedItems, kv{feedItemKey(feed, key), nil})
	p.pending = append(p.pending, kv{key, nil})
}

func (p *newPuts) apply(tx *bolt.Tx) error {
	for _, b := range []struct {
		name []byte
		kvs  []kv
	}{
		{bucketItemTime, p.itemTime}, {bucketItems, p.items},
		{bucketFeedItems, p.feedItems}, {bucketPending, p.pending},
	} {
		slices.SortFunc(b.kvs, func(x, y kv) int { return bytes.Compare(x.k, y.k) })
		bk := tx.Bucket(b.name)
		for _, e := range b.kvs {
			if err := bk.Put(e.k, e.v); err != nil {
				return err
			}
		}
	}
	return nil
}

// replaceItem overwrites the item stored at oldKey with it. When its time
// changed, its key does too: the item, its membership and its feed entry
// move, and its cluster's Published is recomputed.
func replaceItem(tx *bolt.Tx, oldKey []byte, it *aggregator.Item) error {
	newKey := itemTimeKey(it)
	if err := putItem(tx, newKey, it); err != nil {
		return err
	}
	if bytes.Equal(oldKey, newKey) {
		return nil
	}
	timeB, memB, feedB := tx.Bucket(bucketItemTime), tx.Bucket(bucketMemTime), tx.Bucket(bucketFeedItems)
	if err := timeB.Delete(oldKey); err != nil {
		return err
	}
	if err := feedB.Delete(feedItemKey(it.Feed, oldKey)); err != nil {
		return err
	}
	if err := feedB.Put(feedItemKey(it.Feed, newKey), nil); err != nil {
		return err
	}
	if pendB := tx.Bucket(bucketPending); pendB.Get(oldKey) != nil {
		if err := pendB.Delete(oldKey); err != nil {
			return err
		}
		if err := pendB.Put(newKey, nil); err != nil {
			return err
		}
	}
	mv := memB.Get(oldKey)
	if mv == nil {
		return nil
	}
	m, err := decodeMembership(oldKey, mv)
	if err != nil {
		return err
	}
	if err := memB.Delete(oldKey); err != nil {
		return err
	}
	if err := memB.Put(newKey, encodeMembership(newKey, &m)); err != nil {
		return err
	}
	cs := newClusterSet(tx)
	c, ok, err := cs.get(m.Cluster)
	if err != nil || !ok {
		return err
	}
	if err := cs.recomputePublished(c); err != nil {
		return err
	}
	return cs.flush()
}
