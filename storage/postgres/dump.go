package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"aggregator"
)

// ErrNotEmpty is returned (wrapped) by Import when the database already
// holds data.
var ErrNotEmpty = errors.New("database is not empty")

// importBatch is how many rows Import buffers before it copies them in.
const importBatch = 2000

// Export calls put with the whole content of the database, in the order
// aggregator.DumpRecord documents: the Meta, every FeedState, every Item
// oldest first each followed by its Membership when it has one, every
// Cluster (by ID, with its members), every Tombstone (by ID) and every
// cluster log batch (by sequence). It reads one consistent snapshot.
func (db *DB) Export(ctx context.Context, put func(aggregator.DumpRecord) error) error {
	tx, err := db.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if err := export(ctx, tx, put); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	return nil
}

func export(ctx context.Context, tx pgx.Tx, put func(aggregator.DumpRecord) error) error {
	var (
		meta             aggregator.DumpMeta
		inst             []byte
		seq, from, reset int64
	)
	if err := tx.QueryRow(ctx, `SELECT instance, cluster_seq, log_from, cluster_reset FROM meta`).
		Scan(&inst, &seq, &from, &reset); err != nil {
		return err
	}
	copy(meta.Stamp.Instance[:], inst)
	meta.Stamp.Seq, meta.LogFrom, meta.Reset = uint64(seq), uint64(from), uint64(reset)
	if err := put(aggregator.DumpRecord{Meta: &meta}); err != nil {
		return err
	}

	var (
		name          string
		raw, gob, bin []byte
		count         int
	)
	rows, _ := tx.Query(ctx, `SELECT name, state, state_gob, state_bin, item_count FROM feeds ORDER BY name`)
	if _, err := pgx.ForEachRow(rows, []any{&name, &raw, &gob, &bin, &count}, func() error {
		st, err := decodeFeedState(name, raw, gob, bin, count)
		if err != nil {
			return err
		}
		return put(aggregator.DumpRecord{Feed: &st})
	}); err != nil {
		return fmt.Errorf("feeds: %w", err)
	}

	var (
		id           string
		cluster      *string
		idata, mdata []byte
	)
	rows, _ = tx.Query(ctx, `SELECT i.id, i.data, m.cluster_id, m.data FROM items i
		LEFT JOIN memberships m ON m.item_id = i.id ORDER BY i.t_sec, i.t_nsec, i.id`)
	if _, err := pgx.ForEachRow(rows, []any{&id, &idata, &cluster, &mdata}, func() error {
		it, err := decodeItem(idata)
		if err != nil {
			return fmt.Errorf("item %s: %w", id, err)
		}
		if err := put(aggregator.DumpRecord{Item: &it}); err != nil {
			return err
		}
		if cluster == nil {
			return nil
		}
		m, err := decodeMembership(id, *cluster, mdata)
		if err != nil {
			return err
		}
		return put(aggregator.DumpRecord{Membership: &m})
	}); err != nil {
		return fmt.Errorf("items: %w", err)
	}

	var (
		cid, rep, item string
		sec            int64
		nsec           int32
		updated        []byte
		cur            *aggregator.Cluster
	)
	rows, _ = tx.Query(ctx, `SELECT c.id, c.representative, c.pub_sec, c.pub_nsec, c.updated, m.item_id, m.data
		FROM clusters c JOIN memberships m ON m.cluster_id = c.id ORDER BY c.id, m.pos`)
	if _, err := pgx.ForEachRow(rows, []any{&cid, &rep, &sec, &nsec, &updated, &item, &mdata}, func() error {
		if cur != nil && cur.ID != cid {
			if err := put(aggregator.DumpRecord{Cluster: cur}); err != nil {
				return err
			}
			cur = nil
		}
		if cur == nil {
			t, err := decodeTime(updated)
			if err != nil {
				return fmt.Errorf("cluster %s: %w", cid, err)
			}
			cur = &aggregator.Cluster{ID: cid, Representative: rep, Published: fromSecNsec(sec, nsec), Updated: t}
		}
		m, err := decodeMembership(item, cid, mdata)
		cur.Members = append(cur.Members, m)
		return err
	}); err != nil {
		return fmt.Errorf("clusters: %w", err)
	}
	if cur != nil {
		if err := put(aggregator.DumpRecord{Cluster: cur}); err != nil {
			return err
		}
	}

	var t aggregator.Tombstone
	rows, _ = tx.Query(ctx, `SELECT id, at_sec, at_nsec, pruned FROM tombstones ORDER BY id`)
	if _, err := pgx.ForEachRow(rows, []any{&t.ID, &sec, &nsec, &t.Pruned}, func() error {
		ts := t
		ts.At = fromSecNsec(sec, nsec)
		return put(aggregator.DumpRecord{Tombstone: &ts})
	}); err != nil {
		return fmt.Errorf("tombstones: %w", err)
	}

	var items, clusters []string
	rows, _ = tx.Query(ctx, `SELECT seq, expired_before, items, clusters FROM cluster_log ORDER BY seq`)
	if _, err := pgx.ForEachRow(rows, []any{&seq, &updated, &items, &clusters}, func() error {
		if len(items) != len(clusters) {
			return fmt.Errorf("log record %d: %w", seq, errCorrupt)
		}
		t, err := decodeTime(updated)
		if err != nil {
			return fmt.Errorf("log record %d: %w", seq, err)
		}
		rec := aggregator.LogRecord{Seq: uint64(seq), ExpiredBefore: t, Memberships: make([]aggregator.Membership, len(items))}
		for i := range items {
			rec.Memberships[i] = aggregator.Membership{Item: items[i], Cluster: clusters[i]}
		}
		return put(aggregator.DumpRecord{Log: &rec})
	}); err != nil {
		return fmt.Errorf("cluster log: %w", err)
	}
	return nil
}

// Import stores everything produce puts into an empty database, in one
// transaction, copying rows in batches. It keeps the Meta's ClusterStamp
// (instance and sequence) and log bounds, so that a dedupe index saved
// against the exported database stays valid against this one. Cluster
// memberships are taken from the Cluster records (their Members, in
// order); an item no Cluster lists is pending. Import refuses a database
// that holds anything but its schema, with ErrNotEmpty.
func (db *DB) Import(ctx context.Context, produce func(put func(aggregator.DumpRecord) error) error) error {
	err := db.write(ctx, func(tx pgx.Tx) error {
		if err := lockMeta(ctx, tx); err != nil {
			return err
		}
		var nonEmpty bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM feeds) OR EXISTS (SELECT 1 FROM items)
			OR EXISTS (SELECT 1 FROM clusters) OR EXISTS (SELECT 1 FROM tombstones)
			OR EXISTS (SELECT 1 FROM cluster_log) OR (SELECT cluster_seq > 0 FROM meta)`).Scan(&nonEmpty); err != nil {
			return err
		}
		if nonEmpty {
			return ErrNotEmpty
		}
		im := &importer{ctx: ctx, tx: tx}
		if err := produce(im.put); err != nil {
			return err
		}
		if im.err != nil {
			return im.err
		}
		if !im.sawMeta {
			return errors.New("no Meta record")
		}
		if err := im.flush(); err != nil {
			return err
		}
		// What foreign keys would have refused: a membership of an item
		// or in a cluster the dump does not hold.
		var dangling *string
		if err := tx.QueryRow(ctx, `SELECT m.item_id FROM memberships m
			WHERE NOT EXISTS (SELECT 1 FROM items i WHERE i.id = m.item_id)
				OR NOT EXISTS (SELECT 1 FROM clusters c WHERE c.id = m.cluster_id) LIMIT 1`).Scan(&dangling); err != nil && err != pgx.ErrNoRows {
			return err
		}
		if dangling != nil {
			return fmt.Errorf("the dump has a membership of item %q that it holds no item or cluster for", *dangling)
		}
		_, err := tx.Exec(ctx, `
			UPDATE feeds f SET item_count = coalesce((SELECT count(*) FROM items i WHERE i.feed = f.name), 0);
			INSERT INTO pending (item_id, t_sec, t_nsec)
				SELECT i.id, i.t_sec, i.t_nsec FROM items i
				WHERE NOT EXISTS (SELECT 1 FROM memberships m WHERE m.item_id = i.id);
			UPDATE meta SET clusters = (SELECT count(*) FROM clusters)`)
		if err != nil {
			return err
		}
		// Statistics for the planner now, not when autovacuum next looks.
		if _, err = tx.Exec(ctx, `ANALYZE`); err != nil {
			return err
		}
		return db.noteChange(ctx, tx, changePending, changeStories)
	})
	if err != nil {
		return fmt.Errorf("import into %s: %w", db.where, err)
	}
	return nil
}

// importer buffers the rows of each table and copies them in; flush
// writes tables in foreign-key order (items before the memberships and
// clusters before them).
type importer struct {
	ctx context.Context
	tx  pgx.Tx
	// rows buffered per table, in the order tables flush
	items, clusters, memberships, feeds, tombstones, log [][]any
	buffered                                             int
	sawMeta                                              bool
	err                                                  error
}

// put stores r (or buffers it). Its first error sticks: later calls
// return it, and so does Import, even if the producer ignored it.
func (im *importer) put(r aggregator.DumpRecord) error {
	if im.err == nil {
		im.err = im.put1(r)
	}
	return im.err
}

func (im *importer) put1(r aggregator.DumpRecord) error {
	if (r.Meta != nil) == im.sawMeta {
		if im.sawMeta {
			return errors.New("a second Meta record")
		}
		return errors.New("the first record is not the Meta")
	}
	switch {
	case r.Meta != nil:
		im.sawMeta = true
		m := r.Meta
		if _, err := im.tx.Exec(im.ctx, `UPDATE meta SET instance = $1, cluster_seq = $2, log_from = $3, cluster_reset = $4`,
			m.Stamp.Instance[:], int64(m.Stamp.Seq), int64(m.LogFrom), int64(m.Reset)); err != nil {
			return fmt.Errorf("meta: %w", err)
		}
		return nil
	case r.Feed != nil:
		enc := encodeFeedState(*r.Feed)
		im.feeds = append(im.feeds, []any{r.Feed.Name, enc, int32(0), r.Feed.NextFetch, r.Feed.Disabled})
	case r.Item != nil:
		it := r.Item
		sec, nsec := secNsec(it.Time())
		im.items = append(im.items, []any{it.ID, it.Feed, sec, nsec, it.Hash, encodeItem(it)})
	case r.Membership != nil:
		return nil // the Cluster records carry the memberships, in order
	case r.Cluster != nil:
		c := r.Cluster
		sec, nsec := secNsec(c.Published)
		im.clusters = append(im.clusters, []any{c.ID, c.Representative, sec, nsec, encodeTime(c.Updated), int32(len(c.Members))})
		for i := range c.Members {
			m := c.Members[i]
			m.Cluster = c.ID
			im.memberships = append(im.memberships, []any{m.Item, c.ID, int32(i), encodeMembership(&m)})
		}
		im.buffered += len(c.Members)
	case r.Tombstone != nil:
		t := r.Tombstone
		sec, nsec := secNsec(t.At)
		im.tombstones = append(im.tombstones, []any{t.ID, sec, nsec, t.Pruned})
	case r.Log != nil:
		l := r.Log
		items, clusters := make([]string, len(l.Memberships)), make([]string, len(l.Memberships))
		for i, m := range l.Memberships {
			items[i], clusters[i] = m.Item, m.Cluster
		}
		im.log = append(im.log, []any{int64(l.Seq), encodeTime(l.ExpiredBefore), items, clusters})
	default:
		return errors.New("import: empty dump record")
	}
	im.buffered++
	if im.buffered >= importBatch {
		return im.flush()
	}
	return nil
}

func (im *importer) flush() error {
	for _, t := range []struct {
		table string
		cols  []string
		rows  *[][]any
	}{
		{"feeds", []string{"name", "state_bin", "item_count", "next_fetch", "disabled"}, &im.feeds},
		{"items", []string{"id", "feed", "t_sec", "t_nsec", "hash", "data"}, &im.items},
		{"clusters", []string{"id", "representative", "pub_sec", "pub_nsec", "updated", "next_pos"}, &im.clusters},
		{"memberships", []string{"item_id", "cluster_id", "pos", "data"}, &im.memberships},
		{"tombstones", []string{"id", "at_sec", "at_nsec", "pruned"}, &im.tombstones},
		{"cluster_log", []string{"seq", "expired_before", "items", "clusters"}, &im.log},
	} {
		if len(*t.rows) == 0 {
			continue
		}
		if _, err := im.tx.CopyFrom(im.ctx, pgx.Identifier{t.table}, t.cols, pgx.CopyFromRows(*t.rows)); err != nil {
			return fmt.Errorf("%s: %w", t.table, err)
		}
		*t.rows = (*t.rows)[:0]
	}
	im.buffered = 0
	return nil
}
