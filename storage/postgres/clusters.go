package postgres

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"

	"aggregator"
)

// SaveDecisions records a batch of dedupe decisions in one transaction and
// appends it to the cluster log, as package storage does: each Membership
// is stored for its item and appended to its cluster (or replaces the
// item's entry there); a cluster seen for the first time is created; an
// item that already has a membership in another cluster leaves it, and an
// emptied cluster is deleted; a membership of an item that is not stored
// is skipped (but logged); a zero Joined is set to d.Now. Representatives
// that are members are set; a cluster left without one gets its first
// member. Published is the earliest member's Item.Time, and Updated is
// d.Now on every cluster that changed. The items stop being pending.
//
// It reads every item, membership and cluster the batch touches in one
// round trip, decides in memory and writes in another.
//
// A Fenced batch is stored only when the ClusterStamp sequence is still
// d.Base, checked under the meta row's lock, which every change to the
// clusters takes first; otherwise SaveDecisions stores nothing and
// returns an error wrapping aggregator.ErrStaleIndex. Every stored batch
// advances the sequence by one, and notifies Watch of Stories.
func (db *DB) SaveDecisions(ctx context.Context, d aggregator.Decisions) error {
	for i, m := range d.Memberships {
		if m.Item == "" || m.Cluster == "" {
			return fmt.Errorf("save decisions: membership %d has no item or cluster ID", i)
		}
	}
	err := db.write(ctx, func(tx pgx.Tx) error { return db.saveDecisionsTx(ctx, tx, d) })
	if err != nil {
		return fmt.Errorf("save decisions: %w", err)
	}
	return nil
}

func (db *DB) saveDecisionsTx(ctx context.Context, tx pgx.Tx, d aggregator.Decisions) error {
	seq, err := nextClusterSeq(ctx, tx) // locks meta: see lockMeta
	if err != nil {
		return err
	}
	if d.Fenced && seq-1 != d.Base {
		// The rollback undoes the sequence's step.
		return fmt.Errorf("fenced at %d, the store is at %d: %w", d.Base, seq-1, aggregator.ErrStaleIndex)
	}
	if d.Rewound {
		// The log cannot replay a rewind: it resets.
		if _, err := tx.Exec(ctx, "UPDATE meta SET cluster_reset = $1", int64(seq)); err != nil {
			return err
		}
	}
	itemIDs := make([]string, 0, len(d.Memberships))
	clusterIDs := make([]string, 0, len(d.Memberships)+len(d.Representatives))
	for _, m := range d.Memberships {
		itemIDs = append(itemIDs, m.Item)
		clusterIDs = append(clusterIDs, m.Cluster)
	}
	for cid := range d.Representatives {
		clusterIDs = append(clusterIDs, cid)
	}
	reps := make([]string, 0, len(d.Representatives))
	for _, rep := range d.Representatives {
		reps = append(reps, rep)
	}
	cs := newClusterSet()
	if err := cs.load(ctx, tx, itemIDs, reps, clusterIDs); err != nil {
		return err
	}
	// The clusters an item leaves, as the loop below will see them, need
	// all their members.
	var leaving []string
	cur := make(map[string]string)
	for _, m := range d.Memberships {
		if _, ok := cs.items[m.Item]; !ok {
			continue
		}
		old, had := cur[m.Item]
		if !had {
			old, had = cs.memberOf[m.Item]
		}
		if had && old != m.Cluster {
			leaving = append(leaving, old)
		}
		cur[m.Item] = m.Cluster
	}
	if err := cs.loadMembers(ctx, tx, leaving); err != nil {
		return err
	}
	now := d.Now
	for _, m := range d.Memberships {
		ref, ok := cs.items[m.Item]
		if !ok {
			continue
		}
		if m.Joined.IsZero() {
			m.Joined = now
		}
		m.Shared = slices.Clone(m.Shared)
		if old, had := cs.memberOf[m.Item]; had && old != m.Cluster {
			if err := cs.removeMember(old, m.Item, now, false); err != nil {
				return err
			}
		}
		c := cs.get(m.Cluster)
		if c == nil {
			c = cs.create(m.Cluster)
			c.pubSec, c.pubNsec = ref.sec, ref.nsec
		}
		if i := c.memberIndex(m.Item); i >= 0 {
			c.members[i].m = m
		} else {
			c.members = append(c.members, member{m: m, pos: c.nextPos, sec: ref.sec, nsec: ref.nsec})
			c.nextPos++
		}
		if ref.sec < c.pubSec || ref.sec == c.pubSec && ref.nsec < c.pubNsec {
			c.pubSec, c.pubNsec = ref.sec, ref.nsec
		}
		c.updated = now
		c.dirty = true
		cs.memberOf[m.Item] = m.Cluster
		cs.changed[m.Item] = true
	}
	for cid, rep := range d.Representatives {
		c := cs.get(cid)
		if c == nil || c.rep == rep || c.memberIndex(rep) < 0 {
			continue
		}
		c.rep = rep
		c.updated = now
		c.dirty = true
	}
	var b pgx.Batch
	cs.flush(&b)
	logItems := make([]string, len(d.Memberships))
	logClusters := make([]string, len(d.Memberships))
	for i, m := range d.Memberships {
		logItems[i], logClusters[i] = m.Item, m.Cluster
	}
	b.Queue(`INSERT INTO cluster_log (seq, expired_before, items, clusters) VALUES ($1, $2, $3, $4)`,
		int64(seq), encodeTime(d.ExpiredBefore), logItems, logClusters)
	db.queueChange(&b, changeStories) // last: see queueChange
	return tx.SendBatch(ctx, &b).Close()
}

// Cluster returns the stored cluster with the given ID, its members in
// the order they joined.
func (db *DB) Cluster(ctx context.Context, id string) (aggregator.Cluster, bool, error) {
	var (
		c       aggregator.Cluster
		sec     int64
		nsec    int32
		updated []byte
	)
	err := db.pool.QueryRow(ctx, `SELECT representative, pub_sec, pub_nsec, updated FROM clusters WHERE id = $1`, id).
		Scan(&c.Representative, &sec, &nsec, &updated)
	if err == pgx.ErrNoRows {
		return aggregator.Cluster{}, false, nil
	}
	if err == nil {
		c.ID, c.Published = id, fromSecNsec(sec, nsec)
		c.Updated, err = decodeTime(updated)
	}
	if err == nil {
		c.Members, err = clusterMembers(ctx, db.pool, id)
	}
	if err != nil {
		return aggregator.Cluster{}, false, fmt.Errorf("cluster %s: %w", id, err)
	}
	return c, true, nil
}

type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

func clusterMembers(ctx context.Context, q querier, id string) ([]aggregator.Membership, error) {
	rows, _ := q.Query(ctx, `SELECT item_id, data FROM memberships WHERE cluster_id = $1 ORDER BY pos`, id)
	var (
		item string
		data []byte
		out  []aggregator.Membership
	)
	_, err := pgx.ForEachRow(rows, []any{&item, &data}, func() error {
		m, err := decodeMembership(item, id, data)
		out = append(out, m)
		return err
	})
	return out, err
}

// Membership returns the stored membership of the item with the given ID.
func (db *DB) Membership(ctx context.Context, itemID string) (aggregator.Membership, bool, error) {
	var (
		cluster string
		data    []byte
	)
	err := db.pool.QueryRow(ctx, `SELECT cluster_id, data FROM memberships WHERE item_id = $1`, itemID).Scan(&cluster, &data)
	if err == pgx.ErrNoRows {
		return aggregator.Membership{}, false, nil
	}
	if err != nil {
		return aggregator.Membership{}, false, fmt.Errorf("membership %s: %w", itemID, err)
	}
	m, err := decodeMembership(itemID, cluster, data)
	if err != nil {
		return aggregator.Membership{}, false, err
	}
	return m, true, nil
}

// clusterSet holds the clusters, memberships and item times one write
// transaction touches, as read at its start with the clusters locked, so
// that the changes are decided in memory (as package storage's
// clusterSet does) and written back in one batch.
type clusterSet struct {
	// items are the time columns of the stored items among those asked
	// for, and of every member of a loaded cluster.
	items map[string]itemTime
	// memberOf is each known item's cluster, as changed so far.
	memberOf map[string]string
	// changed are the items whose membership row is to be written.
	changed  map[string]bool
	clusters map[string]*clusterEntry
}

type itemTime struct {
	sec  int64
	nsec int32
}

type member struct {
	m    aggregator.Membership
	pos  int32
	sec  int64
	nsec int32
}

type clusterEntry struct {
	id      string
	rep     string
	pubSec  int64
	pubNsec int32
	updated time.Time
	nextPos int32
	members []member // in pos order: every member when full, else those loaded and added
	full    bool     // every stored member was loaded (loadMembers)
	stored  bool     // a row exists
	exists  bool     // false once deleted, or never created
	dirty   bool
}

func newClusterSet() *clusterSet {
	return &clusterSet{items: make(map[string]itemTime), memberOf: make(map[string]string),
		changed: make(map[string]bool), clusters: make(map[string]*clusterEntry)}
}

// load reads, in one round trip, the times of items, the clusters named
// and those items' current clusters (locking them), and the memberships
// of items and of also (a batch's representatives) in those clusters:
// not every member of every cluster, which is what loadMembers adds for
// the clusters that lose one. A batch that adds items to stories thus
// reads its own rows, not the stories' (in a first pass of 80,000 items,
// 191,000 membership rows with their items instead of 80,000). The
// caller holds the meta lock.
func (cs *clusterSet) load(ctx context.Context, tx pgx.Tx, items, also, clusters []string) error {
	var b pgx.Batch
	b.Queue(`SELECT id, t_sec, t_nsec FROM items WHERE id = ANY($1)`, items).Query(func(rows pgx.Rows) error {
		var (
			id string
			t  itemTime
		)
		_, err := pgx.ForEachRow(rows, []any{&id, &t.sec, &t.nsec}, func() error {
			cs.items[id] = t
			return nil
		})
		return err
	})
	// The clusters are those named and the items' current ones; a join
	// with that set (not "id = ANY($2) OR ..."), so that each side is an
	// index lookup.
	const touched = `(SELECT unnest($2::text[]) AS id UNION SELECT cluster_id FROM memberships WHERE item_id = ANY($1))`
	b.Queue(`SELECT c.id, c.representative, c.pub_sec, c.pub_nsec, c.updated, c.next_pos
		FROM clusters c JOIN `+touched+` t ON t.id = c.id
		ORDER BY c.id FOR UPDATE OF c`, items, clusters).Query(func(rows pgx.Rows) error {
		var (
			c       clusterEntry
			updated []byte
		)
		_, err := pgx.ForEachRow(rows, []any{&c.id, &c.rep, &c.pubSec, &c.pubNsec, &updated, &c.nextPos}, func() error {
			e := c
			e.stored, e.exists = true, true
			t, err := decodeTime(updated)
			e.updated = t
			cs.clusters[e.id] = &e
			return err
		})
		return err
	})
	b.Queue(`SELECT m.cluster_id, m.item_id, m.pos, m.data, i.t_sec, i.t_nsec
		FROM memberships m JOIN items i ON i.id = m.item_id
		WHERE m.item_id = ANY($1) OR m.item_id = ANY($2)
		ORDER BY m.cluster_id, m.pos`, items, also).Query(func(rows pgx.Rows) error {
		return cs.readMembers(rows, func(item, cid string) (bool, error) {
			if cs.clusters[cid] != nil {
				return true, nil
			}
			if _, asked := cs.items[item]; asked {
				return false, fmt.Errorf("membership of %s in cluster %s: %w: no cluster", item, cid, errCorrupt)
			}
			return false, nil // a representative named for another cluster
		})
	})
	return tx.SendBatch(ctx, &b).Close()
}

// loadMembers reads every member of the loaded clusters ids, in place of
// the members load read of them, so that removeMember can take one out.
func (cs *clusterSet) loadMembers(ctx context.Context, tx pgx.Tx, ids []string) error {
	var full []string
	for _, id := range ids {
		if c := cs.clusters[id]; c != nil && c.stored && !c.full {
			c.members, c.full = c.members[:0], true
			full = append(full, id)
		}
	}
	if len(full) == 0 {
		return nil
	}
	rows, _ := tx.Query(ctx, `SELECT m.cluster_id, m.item_id, m.pos, m.data, i.t_sec, i.t_nsec
		FROM memberships m JOIN items i ON i.id = m.item_id
		WHERE m.cluster_id = ANY($1)
		ORDER BY m.cluster_id, m.pos`, full)
	return cs.readMembers(rows, func(item, cid string) (bool, error) {
		if cs.clusters[cid] == nil {
			return false, fmt.Errorf("membership of %s in cluster %s: %w: no cluster", item, cid, errCorrupt)
		}
		return true, nil
	})
}

// readMembers appends the membership rows (cluster, item, pos, data,
// item time) that keep says to keep to their clusters, in pos order.
func (cs *clusterSet) readMembers(rows pgx.Rows, keep func(item, cid string) (bool, error)) error {
	var (
		cid, item string
		data      []byte
		mb        member
	)
	_, err := pgx.ForEachRow(rows, []any{&cid, &item, &mb.pos, &data, &mb.sec, &mb.nsec}, func() error {
		ok, err := keep(item, cid)
		if !ok || err != nil {
			return err
		}
		m, err := decodeMembership(item, cid, data)
		if err != nil {
			return err
		}
		mb.m = m
		c := cs.clusters[cid]
		c.members = append(c.members, mb)
		cs.items[item] = itemTime{mb.sec, mb.nsec}
		cs.memberOf[item] = cid
		return nil
	})
	return err
}

// get returns the cluster for modification, nil when missing or deleted.
func (cs *clusterSet) get(id string) *clusterEntry {
	c := cs.clusters[id]
	if c == nil || !c.exists {
		return nil
	}
	return c
}

func (cs *clusterSet) create(id string) *clusterEntry {
	c := cs.clusters[id]
	if c == nil {
		c = &clusterEntry{id: id}
		cs.clusters[id] = c
	}
	stored := c.stored
	// Its stored members, if any, are all gone (it emptied): the new
	// ones are all of them.
	*c = clusterEntry{id: id, stored: stored, exists: true, dirty: true, full: true}
	return c
}

func (c *clusterEntry) memberIndex(item string) int {
	for i := range c.members {
		if c.members[i].m.Item == item {
			return i
		}
	}
	return -1
}

// removeMember takes item out of cluster id, deleting the cluster when it
// empties, else fixing its representative and, unless keepTimes, its
// Published and Updated.
func (cs *clusterSet) removeMember(id, item string, now time.Time, keepTimes bool) error {
	c := cs.get(id)
	if c == nil {
		return nil
	}
	if c.stored && !c.full {
		// The cluster's other members decide its times and whether it
		// empties: a caller that did not load them is wrong.
		return fmt.Errorf("take %s out of cluster %s: its members were not loaded", item, id)
	}
	i := c.memberIndex(item)
	if i < 0 {
		return nil
	}
	c.members = slices.Delete(c.members, i, i+1)
	delete(cs.memberOf, item)
	c.dirty = true
	if len(c.members) == 0 {
		c.exists = false
		return nil
	}
	if c.rep == item {
		c.rep = ""
	}
	if keepTimes {
		return nil
	}
	c.updated = now
	c.pubSec, c.pubNsec = c.members[0].sec, c.members[0].nsec
	for _, mb := range c.members[1:] {
		if mb.sec < c.pubSec || mb.sec == c.pubSec && mb.nsec < c.pubNsec {
			c.pubSec, c.pubNsec = mb.sec, mb.nsec
		}
	}
	return nil
}

// flush queues the writes of every changed cluster and membership on b:
// clusters are written before the memberships that name them and
// deleted after the memberships that named them moved or went, so that
// no statement leaves a membership without its cluster.
func (cs *clusterSet) flush(b *pgx.Batch) {
	ids := make([]string, 0, len(cs.clusters))
	for id, c := range cs.clusters {
		if c.dirty {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	var (
		upID, upRep        []string
		upSec              []int64
		upNsec, upNext     []int32
		upUpdated          [][]byte
		delIDs             []string
		mItem, mCluster    []string
		mPos               []int32
		mData              [][]byte
		delta              int64
		changedMemberships = make(map[string]bool)
	)
	for _, id := range ids {
		c := cs.clusters[id]
		if !c.exists {
			if c.stored {
				delIDs = append(delIDs, id)
				delta--
			}
			continue
		}
		if !c.stored {
			delta++
		}
		if c.rep == "" && len(c.members) > 0 {
			c.rep = c.members[0].m.Item
		}
		upID, upRep, upSec, upNsec = append(upID, id), append(upRep, c.rep), append(upSec, c.pubSec), append(upNsec, c.pubNsec)
		upUpdated, upNext = append(upUpdated, encodeTime(c.updated)), append(upNext, c.nextPos)
		for _, mb := range c.members {
			if cs.changed[mb.m.Item] && !changedMemberships[mb.m.Item] {
				changedMemberships[mb.m.Item] = true
				mItem, mCluster = append(mItem, mb.m.Item), append(mCluster, id)
				mPos, mData = append(mPos, mb.pos), append(mData, encodeMembership(&mb.m))
			}
		}
	}
	if len(upID) > 0 {
		b.Queue(`INSERT INTO clusters (id, representative, pub_sec, pub_nsec, updated, next_pos)
			SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::int[], $5::bytea[], $6::int[])
			ON CONFLICT (id) DO UPDATE SET representative = excluded.representative, pub_sec = excluded.pub_sec,
				pub_nsec = excluded.pub_nsec, updated = excluded.updated, next_pos = excluded.next_pos`,
			upID, upRep, upSec, upNsec, upUpdated, upNext)
	}
	if len(mItem) > 0 {
		b.Queue(`INSERT INTO memberships (item_id, cluster_id, pos, data)
			SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::bytea[])
			ON CONFLICT (item_id) DO UPDATE SET cluster_id = excluded.cluster_id, pos = excluded.pos, data = excluded.data`,
			mItem, mCluster, mPos, mData)
		b.Queue(`DELETE FROM pending WHERE item_id = ANY($1)`, mItem)
	}
	if len(delIDs) > 0 {
		b.Queue(`DELETE FROM clusters WHERE id = ANY($1)`, delIDs)
	}
	if delta != 0 {
		b.Queue(`UPDATE meta SET clusters = greatest(clusters + $1, 0)`, delta)
	}
}
