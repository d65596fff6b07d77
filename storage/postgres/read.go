package postgres

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"aggregator"
)

// recentBatch is how many items Recent reads per query; fn runs between
// queries, so it may call any DB method, and no snapshot is held for the
// whole walk.
const recentBatch = 2048

// Item returns the stored item with the given ID.
func (db *DB) Item(ctx context.Context, id string) (aggregator.Item, bool, error) {
	var data []byte
	err := db.pool.QueryRow(ctx, `SELECT data FROM items WHERE id = $1`, id).Scan(&data)
	if err == pgx.ErrNoRows {
		return aggregator.Item{}, false, nil
	}
	if err != nil {
		return aggregator.Item{}, false, fmt.Errorf("item %s: %w", id, err)
	}
	it, err := decodeItem(data)
	if err != nil {
		return aggregator.Item{}, false, fmt.Errorf("item %s: %w", id, err)
	}
	return it, true, nil
}

// Pending returns up to limit (0: all) of the stored items not clustered
// yet, oldest first by (Item.Time, ID). It does not split the items of
// one Item.Time between two calls, so it may return more than limit, up
// to 16 times as many: when the first limit items end inside a group of
// one time, a second query takes the rest of that group.
func (db *DB) Pending(ctx context.Context, limit int) ([]aggregator.Item, error) {
	const q = `SELECT p.t_sec, p.t_nsec, i.data FROM pending p JOIN items i ON i.id = p.item_id `
	var (
		out  []aggregator.Item
		sec  int64
		nsec int32
		data []byte
	)
	scan := func(rows pgx.Rows) error {
		_, err := pgx.ForEachRow(rows, []any{&sec, &nsec, &data}, func() error {
			it, err := decodeItem(data)
			out = append(out, it)
			return err
		})
		return err
	}
	var rows pgx.Rows
	if limit > 0 {
		// The limit in the statement: without parameters it is planned
		// once per connection (see Stories).
		rows, _ = db.pool.Query(ctx, q+`ORDER BY p.t_sec, p.t_nsec, p.item_id LIMIT `+strconv.Itoa(limit))
	} else {
		rows, _ = db.pool.Query(ctx, q+`ORDER BY p.t_sec, p.t_nsec, p.item_id`)
	}
	if err := scan(rows); err != nil {
		return nil, fmt.Errorf("pending items: %w", err)
	}
	if limit > 0 && len(out) == limit {
		// The rest of the last item's time, within the cap.
		last := out[len(out)-1].ID
		rows, _ = db.pool.Query(ctx, q+`WHERE (p.t_sec, p.t_nsec) = ($1, $2) AND p.item_id > $3
			ORDER BY p.item_id LIMIT `+strconv.Itoa(15*limit), sec, nsec, last)
		if err := scan(rows); err != nil {
			return nil, fmt.Errorf("pending items: %w", err)
		}
	}
	return out, nil
}

// Recent calls fn for every clustered item with Item.Time() >= since, with
// its membership, ordered by (Item.Time, ID), the dedupe index's rebuild.
// It reads in batches of recentBatch, each its own query, so fn may call
// other DB methods; an item written meanwhile may or may not be seen. An
// error from fn stops the walk and is returned as is.
func (db *DB) Recent(ctx context.Context, since time.Time, fn func(aggregator.Item, aggregator.Membership) error) error {
	type entry struct {
		it aggregator.Item
		m  aggregator.Membership
	}
	sec, nsec := secNsec(since)
	afterID := "" // the first batch starts at since itself: (sec, nsec, "") is before every ID
	inclusive := true
	batch := make([]entry, 0, recentBatch)
	for {
		batch = batch[:0]
		cmp := ">"
		if inclusive {
			cmp = ">="
		}
		rows, _ := db.pool.Query(ctx, `SELECT i.t_sec, i.t_nsec, i.id, i.data, m.cluster_id, m.data
			FROM items i JOIN memberships m ON m.item_id = i.id
			WHERE (i.t_sec, i.t_nsec, i.id) `+cmp+` ($1, $2, $3)
			ORDER BY i.t_sec, i.t_nsec, i.id LIMIT `+strconv.Itoa(recentBatch), sec, nsec, afterID)
		var (
			id, cluster  string
			idata, mdata []byte
			rsec         int64
			rnsec        int32
		)
		_, err := pgx.ForEachRow(rows, []any{&rsec, &rnsec, &id, &idata, &cluster, &mdata}, func() error {
			it, err := decodeItem(idata)
			if err != nil {
				return fmt.Errorf("item %s: %w", id, err)
			}
			m, err := decodeMembership(id, cluster, mdata)
			if err != nil {
				return err
			}
			batch = append(batch, entry{it, m})
			sec, nsec, afterID = rsec, rnsec, id
			return nil
		})
		if err != nil {
			return fmt.Errorf("recent: %w", err)
		}
		inclusive = false
		for i := range batch {
			if err := fn(batch[i].it, batch[i].m); err != nil {
				return err
			}
		}
		if len(batch) < recentBatch {
			return nil
		}
	}
}

// Latest returns the newest Item.Time() among the stored items, zero when
// there are none.
func (db *DB) Latest(ctx context.Context) (time.Time, error) {
	var (
		sec  int64
		nsec int32
	)
	err := db.pool.QueryRow(ctx, `SELECT t_sec, t_nsec FROM items ORDER BY t_sec DESC, t_nsec DESC, id DESC LIMIT 1`).Scan(&sec, &nsec)
	if err == pgx.ErrNoRows {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("latest item: %w", err)
	}
	return fromSecNsec(sec, nsec), nil
}

// Stories returns clusters newest first (Cluster.Published descending,
// then ID ascending) with their member items resolved: Story.Items follow
// Story.Members, in the order the members joined. Story.Feeds is left nil.
// With q.Include, only the included members are returned and a cluster
// with none is left out. One query per page of clusters reads the
// clusters with their members and items, walking the Published index from
// the newest end, so the cost follows the result, not the database.
func (db *DB) Stories(ctx context.Context, q aggregator.StoryQuery) ([]aggregator.Story, error) {
	var out []aggregator.Story
	sinceSec, sinceNsec := int64(math.MinInt64), int32(0)
	if !q.Since.IsZero() {
		sinceSec, sinceNsec = secNsec(q.Since)
	}
	page := q.Limit
	if page <= 0 {
		page = math.MaxInt32
	}
	// The keyset of the last cluster read: pages go on after it.
	var (
		afterSec  int64
		afterNsec int32
		afterID   string
	)
	for {
		// Only the bounds that apply, so that the first page (nearly every
		// call) is a plain walk of the Published index. LATERAL: each
		// cluster's members and items are index lookups whatever the
		// planner's statistics say (a hash join over all memberships,
		// which stale statistics after a bulk load can pick, costs tens
		// of milliseconds at 100k items).
		//
		// The LIMIT is written into the statement, not passed: the first
		// page's statement then has no parameter, and PostgreSQL plans it
		// once per connection instead of every call, which was a third of
		// its cost (see the package doc).
		var where []string
		var args []any
		if !q.Since.IsZero() {
			args = append(args, sinceSec, sinceNsec)
			where = append(where, `(pub_sec, pub_nsec) >= ($1, $2)`)
		}
		if afterID != "" {
			n := len(args)
			args = append(args, afterSec, afterNsec, afterID)
			where = append(where, fmt.Sprintf(`((pub_sec, pub_nsec) < ($%d, $%d) OR (pub_sec, pub_nsec) = ($%[1]d, $%[2]d) AND id > $%d)`, n+1, n+2, n+3))
		}
		cond := ""
		if len(where) > 0 {
			cond = "WHERE " + strings.Join(where, " AND ")
		}
		rows, _ := db.pool.Query(ctx, `SELECT c.id, c.representative, c.pub_sec, c.pub_nsec, c.updated, x.item_id, x.mdata, x.idata
			FROM (SELECT id, representative, pub_sec, pub_nsec, updated FROM clusters `+cond+`
				ORDER BY pub_sec DESC, pub_nsec DESC, id LIMIT `+strconv.Itoa(page)+`) AS c
			CROSS JOIN LATERAL (SELECT m.item_id, m.pos, m.data AS mdata, i.data AS idata
				FROM memberships m JOIN items i ON i.id = m.item_id
				WHERE m.cluster_id = c.id ORDER BY m.pos) AS x
			ORDER BY c.pub_sec DESC, c.pub_nsec DESC, c.id, x.pos`, args...)
		var (
			cid, rep, item        string
			sec                   int64
			nsec                  int32
			updated, mdata, idata []byte
			cur                   *aggregator.Story
			clustersRead          int
		)
		finish := func() {
			if cur != nil && len(cur.Items) > 0 && (q.Limit <= 0 || len(out) < q.Limit) {
				out = append(out, *cur)
			}
			cur = nil
		}
		_, err := pgx.ForEachRow(rows, []any{&cid, &rep, &sec, &nsec, &updated, &item, &mdata, &idata}, func() error {
			if cur == nil || cur.ID != cid {
				finish()
				clustersRead++
				t, err := decodeTime(updated)
				if err != nil {
					return fmt.Errorf("cluster %s: %w", cid, err)
				}
				cur = &aggregator.Story{Cluster: aggregator.Cluster{ID: cid, Representative: rep,
					Published: fromSecNsec(sec, nsec), Updated: t, Members: []aggregator.Membership{}}}
				afterSec, afterNsec, afterID = sec, nsec, cid
			}
			it, err := decodeItem(idata)
			if err != nil {
				return fmt.Errorf("cluster %s: item %s: %w", cid, item, err)
			}
			if q.Include != nil && !q.Include(it.Feed) {
				return nil
			}
			m, err := decodeMembership(item, cid, mdata)
			if err != nil {
				return err
			}
			cur.Members = append(cur.Members, m)
			cur.Items = append(cur.Items, it)
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("stories: %w", err)
		}
		finish()
		if clustersRead < page || q.Limit <= 0 || len(out) >= q.Limit {
			return out, nil
		}
	}
}
