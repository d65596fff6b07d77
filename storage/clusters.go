package storage

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"

	"aggregator"
)

// SaveClusters records dedupe decisions in one write transaction. Each
// Membership is stored for its item and appended to its cluster; a cluster
// seen for the first time is created with ID = m.Cluster. A membership for
// an item that already has one in another cluster moves the item: it
// leaves the old cluster, and an emptied cluster is deleted. A membership
// for an item that is not stored (deleted meanwhile) is skipped. A zero
// Joined is set to now.
//
// reps maps cluster ID to the representative item ID for clusters whose
// representative is (re)set; an ID that is not a member is ignored. A
// cluster left without a representative gets its first member.
//
// Cluster.Published is kept at the earliest Item.Time of the members, and
// Cluster.Updated is set to now on every cluster that changed.
func (db *DB) SaveClusters(ctx context.Context, ms []aggregator.Membership, reps map[string]string, now time.Time) error {
	return db.saveClusters(ctx, ms, reps, now, nil)
}

// saveClusters is SaveClusters; logged, when set, runs in the same
// transaction with the new ClusterStamp sequence.
func (db *DB) saveClusters(ctx context.Context, ms []aggregator.Membership, reps map[string]string, now time.Time, logged func(tx *bolt.Tx, seq uint64) error) error {
	for i, m := range ms {
		if m.Item == "" || m.Cluster == "" {
			return fmt.Errorf("save clusters: membership %d has no item or cluster ID", i)
		}
	}
	err := db.update(ctx, func(tx *bolt.Tx) error {
		cs := newClusterSet(tx)
		memB := tx.Bucket(bucketMemTime)
		buf := newTxBuf(tx)
		for _, m := range ms {
			ref, ok, err := buf.lookup(m.Item)
			if err != nil {
				return err
			}
			if !ok {
				continue
			}
			t := ref.time()
			if m.Joined.IsZero() {
				m.Joined = now
			}
			m.Shared = slices.Clone(m.Shared)
			old, had, err := buf.membershipAt(ref.key)
			if err != nil {
				return err
			}
			if had && old.Cluster != m.Cluster {
				if err := cs.removeMember(old.Cluster, m.Item, now, false); err != nil {
					return err
				}
			}
			// An item decided again into the cluster it is in may be
			// listed already: only then are all the members needed.
			// Any other item is not a member (its membership would say
			// so), and joins without the cluster's members decoded.
			again := had && old.Cluster == m.Cluster
			var c *aggregator.Cluster
			if again {
				c, ok, err = cs.get(m.Cluster)
			} else {
				c, ok, err = cs.head(m.Cluster)
			}
			if err != nil {
				return err
			}
			if !ok {
				c = cs.create(m.Cluster)
				c.Published = t
			}
			i := -1
			if again {
				i = memberIndex(c, m.Item)
			}
			if i >= 0 {
				c.Members[i] = m
			} else {
				c.Members = append(c.Members, m)
			}
			if t.Before(c.Published) {
				c.Published = t
			}
			c.Updated = now
			if err := memB.Put(ref.key, appendSealedMembership(buf.take(membershipLen(&m)), ref.key, &m)); err != nil {
				return err
			}
			if err := tx.Bucket(bucketPending).Delete(ref.key); err != nil {
				return err
			}
		}
		for cid, rep := range reps {
			c, ok, err := cs.head(cid)
			if err != nil {
				return err
			}
			if !ok || c.Representative == rep || !cs.isMember(cid, rep) {
				continue
			}
			c.Representative = rep
			c.Updated = now
			cs.touch(cid)
		}
		seq, err := nextClusterSeq(tx)
		if err != nil {
			return err
		}
		if logged != nil {
			if err := logged(tx, seq); err != nil {
				return err
			}
		}
		return cs.flush()
	})
	if err != nil {
		return fmt.Errorf("save clusters: %w", err)
	}
	return nil
}

// Cluster returns the stored cluster with the given ID.
func (db *DB) Cluster(ctx context.Context, id string) (c aggregator.Cluster, ok bool, err error) {
	err = db.view(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketClusters)
		if b == nil {
			return nil
		}
		v := b.Get([]byte(id))
		if v == nil {
			return nil
		}
		ok = true
		refs, err := decodeCluster([]byte(id), v, &c)
		if err != nil || !refs {
			return err
		}
		return fillMembers(tx, &c)
	})
	if err != nil {
		return aggregator.Cluster{}, false, fmt.Errorf("cluster %s: %w", id, err)
	}
	return c, ok, nil
}

// fillMembers replaces c's members, as decodeCluster read them, with
// their memberships in memtime. A member without one, or with one in
// another cluster, is damage: the two are written together.
func fillMembers(tx *bolt.Tx, c *aggregator.Cluster) error {
	for i := range c.Members {
		m, ok, err := getMembership(tx, c.Members[i].Item)
		if err != nil {
			return err
		}
		if !ok || m.Cluster != c.ID {
			return fmt.Errorf("cluster %s: member %s: %w: its membership is missing or elsewhere", c.ID, c.Members[i].Item, errCorrupt)
		}
		c.Members[i] = m
	}
	return nil
}

// Membership returns the stored membership of the item with the given ID.
func (db *DB) Membership(ctx context.Context, itemID string) (m aggregator.Membership, ok bool, err error) {
	err = db.view(ctx, func(tx *bolt.Tx) error {
		var e error
		m, ok, e = getMembership(tx, itemID)
		return e
	})
	if err != nil {
		return aggregator.Membership{}, false, fmt.Errorf("membership %s: %w", itemID, err)
	}
	return m, ok, nil
}

func memberIndex(c *aggregator.Cluster, itemID string) int {
	for i := range c.Members {
		if c.Members[i].Item == itemID {
			return i
		}
	}
	return -1
}

// clusterSet caches the clusters one write transaction touches, so a batch
// decodes and encodes each cluster once, and remembers each one's index
// key as stored so flush can move it.
type clusterSet struct {
	tx  *bolt.Tx
	m   map[string]*clusterEntry
	cur *bolt.Cursor // on the clusters bucket, made at the first load
}

type clusterEntry struct {
	// c is the cluster; while encoded is set, c.Members holds only the
	// members added after the rawN stored ones in raw (see head).
	c       aggregator.Cluster
	encoded bool
	raw     []byte
	rawN    int
	oldKey  []byte // its clusterpub key as stored; nil for a new cluster
	exists  bool   // false for a cluster not stored and not created
	dirty   bool
	deleted bool
}

func newClusterSet(tx *bolt.Tx) *clusterSet {
	return &clusterSet{tx: tx, m: make(map[string]*clusterEntry)}
}

// load returns the entry of cluster id, reading it the first time; with
// encoded, its stored members may stay encoded (clusterEntry.raw).
func (cs *clusterSet) load(id string, encoded bool) (*clusterEntry, error) {
	e, ok := cs.m[id]
	if !ok {
		e = &clusterEntry{}
		if cs.cur == nil {
			cs.cur = cs.tx.Bucket(bucketClusters).Cursor()
		}
		if v := cursorGet(cs.cur, []byte(id)); v != nil {
			full := true
			if encoded {
				raw, n, older, err := decodeClusterHead([]byte(id), v, &e.c)
				if err != nil {
					return nil, fmt.Errorf("cluster %s: %w", id, err)
				}
				// raw points into the mapping, which stays as it is
				// until the transaction commits, after flush.
				e.encoded, e.raw, e.rawN, full = !older, raw, n, older
			}
			// Clustering needs the members' IDs only: no fillMembers.
			if full {
				if _, err := decodeCluster([]byte(id), v, &e.c); err != nil {
					return nil, fmt.Errorf("cluster %s: %w", id, err)
				}
			}
			e.exists = true
			e.oldKey = clusterPubKey(&e.c)
		}
		cs.m[id] = e
	}
	if e.encoded && !encoded {
		// Decode the stored members, ahead of those added since.
		ms := make([]aggregator.Membership, 0, e.rawN+len(e.c.Members))
		rawMembers(e.raw, func(id []byte) bool {
			ms = append(ms, aggregator.Membership{Item: string(id), Cluster: e.c.ID})
			return true
		})
		e.c.Members = append(ms, e.c.Members...)
		e.encoded, e.raw, e.rawN = false, nil, 0
	}
	return e, nil
}

// head is get for a change that needs none of the members stored before
// this transaction (adding one, setting the representative): they may
// stay encoded, and c.Members then holds only the members added since. A
// story of thousands of members gains a few in each batch of decisions,
// and decoding all of them each time was most of what a batch allocated
// (at a million items, 40 of the 64 GB a pass allocated).
func (cs *clusterSet) head(id string) (*aggregator.Cluster, bool, error) {
	return cs.modify(id, true)
}

// isMember reports whether itemID is a member of cluster id, which head
// or get returned.
func (cs *clusterSet) isMember(id, itemID string) bool {
	e := cs.m[id]
	if memberIndex(&e.c, itemID) >= 0 {
		return true
	}
	found := false
	if e.encoded {
		rawMembers(e.raw, func(m []byte) bool {
			found = string(m) == itemID
			return !found
		})
	}
	return found
}

// get returns the cluster for modification; the caller's changes are
// written by flush. ok is false for a missing or deleted cluster.
func (cs *clusterSet) get(id string) (*aggregator.Cluster, bool, error) {
	return cs.modify(id, false)
}

// modify is get and head: the cluster, marked to be written by flush,
// with its stored members left encoded when keepEncoded.
func (cs *clusterSet) modify(id string, keepEncoded bool) (*aggregator.Cluster, bool, error) {
	e, err := cs.load(id, keepEncoded)
	if err != nil {
		return nil, false, err
	}
	if !e.exists || e.deleted {
		return nil, false, nil
	}
	e.dirty = true
	return &e.c, true, nil
}

func (cs *clusterSet) create(id string) *aggregator.Cluster {
	e := cs.m[id]
	if e == nil {
		e = &clusterEntry{}
		cs.m[id] = e
	}
	e.c = aggregator.Cluster{ID: id}
	e.encoded, e.raw, e.rawN = false, nil, 0
	e.exists, e.deleted, e.dirty = true, false, true
	return &e.c
}

func (cs *clusterSet) touch(id string) {
	if e := cs.m[id]; e != nil {
		e.dirty = true
	}
}

// removeMember takes itemID out of cluster id, deleting the cluster when it
// empties, else fixing its representative and, unless keepTimes, its
// Published and Updated.
func (cs *clusterSet) removeMember(id, itemID string, now time.Time, keepTimes bool) error {
	c, ok, err := cs.get(id)
	if err != nil || !ok {
		return err
	}
	i := memberIndex(c, itemID)
	if i < 0 {
		return nil
	}
	c.Members = slices.Delete(c.Members, i, i+1)
	if len(c.Members) == 0 {
		cs.m[id].deleted = true
		return nil
	}
	if c.Representative == itemID {
		c.Representative = ""
	}
	if keepTimes {
		return nil
	}
	c.Updated = now
	return cs.recomputePublished(c)
}

// recomputePublished sets c.Published to the earliest Item.Time of its
// stored members.
func (cs *clusterSet) recomputePublished(c *aggregator.Cluster) error {
	var min time.Time
	first := true
	for _, m := range c.Members {
		ref, ok, err := lookup(cs.tx, m.Item)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		if t := ref.time(); first || t.Before(min) {
			min, first = t, false
		}
	}
	c.Published = min
	cs.touch(c.ID)
	return nil
}

// flush writes every changed cluster and moves its index entry, in ID
// order so the file's contents do not depend on map order.
func (cs *clusterSet) flush() error {
	ids := make([]string, 0, len(cs.m))
	for id, e := range cs.m {
		if e.dirty || e.deleted {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	clusters := cs.tx.Bucket(bucketClusters)
	pub := cs.tx.Bucket(bucketClusterPub)
	delta := 0
	for _, id := range ids {
		e := cs.m[id]
		stored := e.oldKey != nil
		live := e.exists && !e.deleted
		switch {
		case stored && !live:
			delta--
		case !stored && live:
			delta++
		}
		if stored {
			if err := pub.Delete(e.oldKey); err != nil {
				return err
			}
		}
		if e.deleted || !e.exists {
			if err := clusters.Delete([]byte(id)); err != nil {
				return err
			}
			continue
		}
		if e.c.Representative == "" && e.rawN > 0 {
			rawMembers(e.raw, func(m []byte) bool { e.c.Representative = string(m); return false })
		}
		if e.c.Representative == "" && len(e.c.Members) > 0 {
			e.c.Representative = e.c.Members[0].Item
		}
		if err := clusters.Put([]byte(id), encodeClusterAfter(&e.c, e.raw, e.rawN)); err != nil {
			return err
		}
		if err := pub.Put(clusterPubKey(&e.c), nil); err != nil {
			return err
		}
	}
	return addCount(cs.tx, keyClusterCount, delta)
}
