package postgres

import (
	"context"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"

	"aggregator"
)

// The cluster log lets a saved dedupe index catch up instead of being
// rebuilt, as in package storage: every SaveDecisions appends one row,
// keyed by the ClusterStamp sequence it made, holding the index's expiry
// cutoff and the (item, cluster) decisions in order. Deletions record
// their sequence as the reset point (meta.cluster_reset), which a saved
// index cannot be brought past; TrimClusterLog moves meta.log_from.

// logPage is how many log records ClusterLog reads per query.
const logPage = 64

// ClusterLogStart reports whether the cluster log can bring an index
// saved at stamp saved up to date: same database, no deletion since, and
// no record after it trimmed.
func (db *DB) ClusterLogStart(ctx context.Context, saved aggregator.ClusterStamp) (bool, error) {
	var (
		inst             []byte
		seq, reset, from int64
		cur              aggregator.ClusterStamp
	)
	err := db.pool.QueryRow(ctx, `SELECT instance, cluster_seq, cluster_reset, log_from FROM meta`).
		Scan(&inst, &seq, &reset, &from)
	if err != nil {
		return false, fmt.Errorf("cluster log: %w", err)
	}
	copy(cur.Instance[:], inst)
	return cur.Instance == saved.Instance && saved.Instance != [16]byte{} &&
		saved.Seq <= uint64(seq) && uint64(reset) <= saved.Seq && uint64(from) <= saved.Seq, nil
}

// ClusterLog calls fn with each record after sequence after, in order,
// with the items it decided on as now stored (deleted ones left out). It
// reads a page of records and their items per round trip, and calls fn
// between queries, so fn may take its time and call other methods.
func (db *DB) ClusterLog(ctx context.Context, after uint64, fn func(aggregator.LogRecord) error) error {
	next := int64(after)
	for {
		recs, err := db.logPage(ctx, next)
		if err != nil {
			return fmt.Errorf("cluster log after %d: %w", next, err)
		}
		for _, rec := range recs {
			if err := fn(rec); err != nil {
				return err
			}
			next = int64(rec.Seq)
		}
		if len(recs) < logPage {
			return nil
		}
	}
}

// logPage reads up to logPage records after seq, resolving their items.
func (db *DB) logPage(ctx context.Context, after int64) ([]aggregator.LogRecord, error) {
	type raw struct {
		seq             int64
		expired         []byte
		items, clusters []string
	}
	var page []raw
	var r raw
	rows, _ := db.pool.Query(ctx, `SELECT seq, expired_before, items, clusters FROM cluster_log
		WHERE seq > $1 ORDER BY seq LIMIT `+strconv.Itoa(logPage), after)
	if _, err := pgx.ForEachRow(rows, []any{&r.seq, &r.expired, &r.items, &r.clusters}, func() error {
		page = append(page, raw{r.seq, append([]byte(nil), r.expired...), r.items, r.clusters})
		return nil
	}); err != nil {
		return nil, err
	}
	if len(page) == 0 {
		return nil, nil
	}
	var ids []string
	for _, p := range page {
		ids = append(ids, p.items...)
	}
	items, err := db.itemsByID(ctx, ids)
	if err != nil {
		return nil, err
	}
	// The copies of items pruned or edited since they were decided on
	// come first.
	rows, _ = db.pool.Query(ctx, `SELECT data FROM log_items WHERE id = ANY($1)`, ids)
	var data []byte
	if _, err := pgx.ForEachRow(rows, []any{&data}, func() error {
		it, err := decodeItem(data)
		items[it.ID] = it
		return err
	}); err != nil {
		return nil, err
	}
	out := make([]aggregator.LogRecord, 0, len(page))
	for _, p := range page {
		if len(p.items) != len(p.clusters) {
			return nil, fmt.Errorf("log record %d: %w: %d items, %d clusters", p.seq, errCorrupt, len(p.items), len(p.clusters))
		}
		t, err := decodeTime(p.expired)
		if err != nil {
			return nil, fmt.Errorf("log record %d: %w", p.seq, err)
		}
		rec := aggregator.LogRecord{Seq: uint64(p.seq), ExpiredBefore: t}
		for i, id := range p.items {
			it, ok := items[id]
			if !ok {
				continue
			}
			rec.Items = append(rec.Items, it)
			rec.Memberships = append(rec.Memberships, aggregator.Membership{Item: id, Cluster: p.clusters[i]})
		}
		out = append(out, rec)
	}
	return out, nil
}

// itemsByID reads the stored items among ids.
func (db *DB) itemsByID(ctx context.Context, ids []string) (map[string]aggregator.Item, error) {
	out := make(map[string]aggregator.Item, len(ids))
	rows, _ := db.pool.Query(ctx, `SELECT data FROM items WHERE id = ANY($1)`, ids)
	var data []byte
	_, err := pgx.ForEachRow(rows, []any{&data}, func() error {
		it, err := decodeItem(data)
		out[it.ID] = it
		return err
	})
	return out, err
}

// TrimClusterLog drops the records up to sequence upTo: an index saved at
// upTo (or later) no longer needs them, and one saved earlier can then no
// longer catch up.
func (db *DB) TrimClusterLog(ctx context.Context, upTo uint64) error {
	err := db.write(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE meta SET log_from = $1 WHERE log_from < $1`, int64(upTo))
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		if _, err = tx.Exec(ctx, `DELETE FROM cluster_log WHERE seq <= $1`, int64(upTo)); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `DELETE FROM log_items l WHERE NOT EXISTS (SELECT 1 FROM cluster_log c WHERE c.items @> ARRAY[l.id])`)
		return err
	})
	if err != nil {
		return fmt.Errorf("trim cluster log: %w", err)
	}
	return nil
}

// keepLoggedSQL copies, before they are removed or edited, the items
// among $1 that a cluster log record names, so that the log still
// replays them as they were decided on.
const keepLoggedSQL = `INSERT INTO log_items (id, data)
	SELECT i.id, i.data FROM items i
	WHERE i.id = ANY($1) AND EXISTS (SELECT 1 FROM cluster_log c WHERE c.items @> ARRAY[i.id])
	ON CONFLICT (id) DO NOTHING`
