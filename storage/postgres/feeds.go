package postgres

import (
	"bytes"
	"context"
	"encoding/gob"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"aggregator"
	"aggregator/internal/itemcodec"
)

// feedLocks takes the transaction-level advisory lock of each feed named
// in $1, in one order (so two transactions cannot deadlock on them): a
// feed's fetches, deletion and pruning run one at a time, across every
// process, as bbolt's single writer runs them. Fetches of one feed by two
// processes then store each item once; the later one finds the earlier
// one's items (each statement of a READ COMMITTED transaction sees what
// committed before it began). The first key, 'feed' in ASCII, keeps these
// locks apart from others on the database.
const feedLocks = `SELECT pg_advisory_xact_lock(1717920100, h)
	FROM (SELECT DISTINCT hashtext(n) AS h FROM unnest($1::text[]) AS n) AS f ORDER BY h`

// tombRefresh is how old a pruned item's tombstone gets before a fetch
// that still lists the item renews it.
const tombRefresh = 24 * time.Hour

// FeedStates returns the stored state of every feed, by name.
func (db *DB) FeedStates(ctx context.Context) (map[string]aggregator.FeedState, error) {
	rows, _ := db.pool.Query(ctx, "SELECT name, state, state_gob, state_bin, item_count FROM feeds")
	out := make(map[string]aggregator.FeedState)
	var (
		name          string
		raw, gob, bin []byte
		count         int
	)
	_, err := pgx.ForEachRow(rows, []any{&name, &raw, &gob, &bin, &count}, func() error {
		st, err := decodeFeedState(name, raw, gob, bin, count)
		out[st.Name] = st
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("feed states: %w", err)
	}
	return out, nil
}

// FeedState returns the stored state of the named feed; ok is false when
// there is none.
func (db *DB) FeedState(ctx context.Context, name string) (aggregator.FeedState, bool, error) {
	var (
		raw, gob, bin []byte
		count         int
	)
	err := db.pool.QueryRow(ctx, "SELECT state, state_gob, state_bin, item_count FROM feeds WHERE name = $1", name).Scan(&raw, &gob, &bin, &count)
	if err == pgx.ErrNoRows {
		return aggregator.FeedState{}, false, nil
	}
	if err != nil {
		return aggregator.FeedState{}, false, fmt.Errorf("feed state %q: %w", name, err)
	}
	st, err := decodeFeedState(name, raw, gob, bin, count)
	if err != nil {
		return aggregator.FeedState{}, false, fmt.Errorf("feed state %q: %w", name, err)
	}
	return st, true, nil
}

// decodeFeedState reads a feeds row, from state_bin, state (JSON) or
// state_gob: TotalItems is the row's item_count, the one place the count
// is kept.
func decodeFeedState(name string, raw, gobbed, bin []byte, count int) (aggregator.FeedState, error) {
	var st aggregator.FeedState
	var err error
	switch {
	case bin != nil:
		err = decodeStateBin(bin, &st)
	case raw != nil:
		err = json.Unmarshal(raw, &st)
	default:
		err = gob.NewDecoder(bytes.NewReader(gobbed)).Decode(&st)
	}
	if err != nil {
		return st, fmt.Errorf("feed %q: %w", name, err)
	}
	st.Name = name
	st.TotalItems = count
	return st, nil
}

// stateBinLayout is the first byte of a state_bin value: the layout of
// itemcodec.AppendFeedStateBody that follows. A FeedState field added
// later needs a new one.
const stateBinLayout = 1

func decodeStateBin(v []byte, st *aggregator.FeedState) error {
	if len(v) == 0 || v[0] != stateBinLayout {
		return fmt.Errorf("%w: state_bin of unknown layout", itemcodec.ErrCorrupt)
	}
	d := itemcodec.NewDecoder(v[1:])
	d.FeedStateBody(st)
	if d.Err() == nil && len(d.Rest()) != 0 {
		return fmt.Errorf("%w: %d bytes after the state", itemcodec.ErrCorrupt, len(d.Rest()))
	}
	return d.Err()
}

// encodeFeedState is st as stored in state_bin (see
// migrations/00007_feed_state_bin.sql). Every write sets state and
// state_gob, the columns older versions wrote, to NULL.
func encodeFeedState(st aggregator.FeedState) []byte {
	st.TotalItems = 0 // kept in item_count
	return itemcodec.AppendFeedStateBody([]byte{stateBinLayout}, &st)
}

// PutFeedState stores st on its own, for changes that come without items.
// TotalItems is always the stored item count, whatever st says. A lease
// of the feed stays: only a fetch's storing (SaveFetches) or ReleaseFeeds
// ends one.
func (db *DB) PutFeedState(ctx context.Context, st aggregator.FeedState) error {
	if st.Name == "" {
		return fmt.Errorf("put feed state: empty feed name")
	}
	enc := encodeFeedState(st)
	err := db.write(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO feeds (name, state_bin, next_fetch, disabled) VALUES ($1, $2, $3, $4)
			ON CONFLICT (name) DO UPDATE SET state = NULL, state_gob = NULL, state_bin = excluded.state_bin,
				next_fetch = excluded.next_fetch, disabled = excluded.disabled`,
			st.Name, enc, st.NextFetch, st.Disabled)
		return err
	})
	if err != nil {
		return fmt.Errorf("put feed state %q: %w", st.Name, err)
	}
	return nil
}

// SaveFetches stores fetched feeds, each all or nothing, in one
// transaction: it reads what the batch's item IDs already are (stored,
// and with which hash, or tombstoned) in one round trip, decides in
// memory, and writes the new items with COPY and the rest in one
// pipelined batch of multi-row statements, never a statement per item.
// When the shared transaction fails, the feeds are stored one by one, so
// that one feed's error (reported at its index) costs the others nothing.
//
// Per feed, as in package storage: items belong to st.Name (an empty
// Item.Feed is set to it); a new ID is stored as given and is pending; an
// existing ID keeps its stored FirstSeen, and when its Hash differs the
// stored item is replaced and reported in Updated; a repeated ID within
// the feed is stored once (the first wins); a tombstoned ID is skipped,
// counted in Deleted, and its pruned tombstone renewed.
//
// In a fleet, storing a feed ends its lease when State.Node holds it (see
// ClaimFeeds), and only then: a node whose lease ended while it fetched
// (it stalled, or the lease was too short) must not end the lease of the
// node that claimed the feed since, which would let a third claim it
// too. Its items are stored once all the same, keyed by ID under the
// feed's lock. Storing new items notifies Watch of Pending; editing a
// clustered item, of Stories.
func (db *DB) SaveFetches(ctx context.Context, fs []aggregator.Fetched) ([]aggregator.SaveResult, []error) {
	res := make([]aggregator.SaveResult, len(fs))
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
	save := func(idx []int) error {
		if !slices.ContainsFunc(idx, func(i int) bool { return len(fs[i].Items) > 0 }) {
			return db.saveStates(ctx, fs, idx, res)
		}
		return db.write(ctx, func(tx pgx.Tx) error { return db.saveFetchesTx(ctx, tx, fs, idx, res) })
	}
	err := save(valid)
	if err == nil {
		return res, errs
	}
	if len(valid) == 1 || ctx.Err() != nil {
		// One feed, or a context that is done: feed by feed would fail
		// the same way.
		for _, i := range valid {
			res[i], errs[i] = aggregator.SaveResult{}, fmt.Errorf("save fetch %q: %w", fs[i].State.Name, err)
		}
		return res, errs
	}
	for _, i := range valid {
		if err := save([]int{i}); err != nil {
			res[i], errs[i] = aggregator.SaveResult{}, fmt.Errorf("save fetch %q: %w", fs[i].State.Name, err)
		}
	}
	return res, errs
}

// feedRows are the feed rows a SaveFetches batch writes, one per feed: a
// multi-row upsert may not touch a row twice, and the same feed may come
// twice in a batch (the last state wins, the new items add up).
type feedRows struct {
	names []string
	state [][]byte
	delta []int32
	next  []time.Time
	off   []bool
	node  []string
	index map[string]int
}

func (f *feedRows) add(st aggregator.FeedState, newItems int) {
	enc := encodeFeedState(st)
	if j, ok := f.index[st.Name]; ok {
		f.state[j] = enc
		f.delta[j] += int32(newItems)
		f.next[j], f.off[j], f.node[j] = st.NextFetch, st.Disabled, st.Node
		return
	}
	if f.index == nil {
		f.index = make(map[string]int)
	}
	f.index[st.Name] = len(f.names)
	f.names = append(f.names, st.Name)
	f.state = append(f.state, enc)
	f.delta = append(f.delta, int32(newItems))
	f.next, f.off, f.node = append(f.next, st.NextFetch), append(f.off, st.Disabled), append(f.node, st.Node)
}

// upsertFeeds writes feedRows: the rows that exist are updated (and
// their lease ended where the storing node holds it, see SaveFetches),
// the others inserted, in one statement. It is an UPDATE and then an
// INSERT of the rest, not INSERT ... ON CONFLICT DO UPDATE, because the
// lease's end needs the storing node, which the inserted row must not
// get: as an upsert it took a second UPDATE of the same rows, a second
// version of each row in a fleet. A row another process inserted since
// the statement began is a conflict of the INSERT and is updated there;
// it holds no lease of the storing node, whose claim of the feed
// committed before the fetch it stores.
const upsertFeeds = `WITH u AS (
		SELECT * FROM unnest($1::text[], $2::bytea[], $3::int[], $4::timestamptz[], $5::boolean[], $6::text[])
			AS u(name, state_bin, delta, next_fetch, disabled, node)
	),
	updated AS (
		UPDATE feeds f SET state = NULL, state_gob = NULL, state_bin = u.state_bin,
			item_count = f.item_count + u.delta, next_fetch = u.next_fetch, disabled = u.disabled,
			lease_node = CASE WHEN f.lease_node = u.node THEN NULL ELSE f.lease_node END,
			lease_until = CASE WHEN f.lease_node = u.node THEN NULL ELSE f.lease_until END
		FROM u WHERE f.name = u.name
		RETURNING f.name
	)
	INSERT INTO feeds (name, state_bin, item_count, next_fetch, disabled)
		SELECT u.name, u.state_bin, u.delta, u.next_fetch, u.disabled FROM u
		WHERE u.name NOT IN (SELECT name FROM updated)
	ON CONFLICT (name) DO UPDATE SET state = NULL, state_gob = NULL, state_bin = excluded.state_bin,
		item_count = feeds.item_count + excluded.item_count,
		next_fetch = excluded.next_fetch, disabled = excluded.disabled`

// queue queues the rows' upsert, which ends the leases they end.
func (f *feedRows) queue(b *pgx.Batch) {
	b.Queue(upsertFeeds, f.names, f.state, f.delta, f.next, f.off, f.node)
}

// saveStates stores fetches that bring no items (unchanged, failed),
// their feeds' locks, states and lease ends, as one pipelined batch: one
// round trip, where a transaction of its own would take four (begin, the
// locks, the writes, commit). A batch runs in one implicit transaction,
// all or nothing, holding the feeds' locks to its end, as saveFetchesTx's
// transaction does; deadlocks and serialization failures are retried as
// in write.
func (db *DB) saveStates(ctx context.Context, fs []aggregator.Fetched, idx []int, res []aggregator.SaveResult) error {
	var feeds feedRows
	for _, i := range idx {
		feeds.add(fs[i].State, 0)
	}
	for attempt := 0; ; attempt++ {
		var b pgx.Batch
		b.Queue(feedLocks, feeds.names)
		feeds.queue(&b)
		err := db.pool.SendBatch(ctx, &b).Close()
		if err == nil {
			db.version.Add(1)
			for _, i := range idx {
				res[i] = aggregator.SaveResult{}
			}
			return nil
		}
		var pe *pgconn.PgError
		if attempt < maxRetries && errors.As(err, &pe) && (pe.Code == "40P01" || pe.Code == "40001") {
			continue
		}
		return err
	}
}

func checkFetched(f *aggregator.Fetched) error {
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

// storedItem is what saveFetchesTx knows of an item ID: as stored before
// the transaction, then as the feeds before in the batch left it.
type storedItem struct {
	hash      string
	sec       int64
	nsec      int32
	firstSeen time.Time
	// known is false while firstSeen is unknown: the item's data was not
	// read because no fetch in the batch changes it.
	known bool
	// clustered items moving in time move their cluster's Published.
	clustered bool
}

type tombstone struct {
	sec    int64
	nsec   int32
	pruned bool
}

// itemUpdate is a changed item to write back.
type itemUpdate struct {
	it        aggregator.Item
	sec       int64
	nsec      int32
	timeMoved bool
}

// saveFetchesTx stores the feeds fs[idx] in tx, setting res for each.
func (db *DB) saveFetchesTx(ctx context.Context, tx pgx.Tx, fs []aggregator.Fetched, idx []int, res []aggregator.SaveResult) error {
	var ids, hashes, feeds []string
	for _, i := range idx {
		feeds = append(feeds, fs[i].State.Name)
		for _, it := range fs[i].Items {
			ids = append(ids, it.ID)
			hashes = append(hashes, it.Hash)
		}
	}
	stored, tombs, err := lookupItems(ctx, tx, feeds, ids, hashes)
	if err != nil {
		return err
	}

	now := time.Now()
	var (
		newRows  [][]any
		pendRows [][]any
		updates  = make(map[string]*itemUpdate)
		updOrder []string
		renew    []string
		rows     feedRows
		// editedStory: an edited item is clustered, so a story changed.
		editedStory bool
	)
	for _, i := range idx {
		st := fs[i].State
		var r aggregator.SaveResult
		seen := make(map[string]bool, len(fs[i].Items))
		for _, it := range fs[i].Items {
			if seen[it.ID] {
				continue
			}
			seen[it.ID] = true
			it.Feed = st.Name
			if t, ok := tombs[it.ID]; ok {
				r.Deleted++
				if t.pruned && now.Sub(fromSecNsec(t.sec, t.nsec)) >= tombRefresh {
					t.sec, t.nsec = secNsec(now)
					tombs[it.ID] = t
					renew = append(renew, it.ID)
				}
				continue
			}
			sec, nsec := secNsec(it.Time())
			prev, ok := stored[it.ID]
			if !ok {
				newRows = append(newRows, []any{it.ID, it.Feed, sec, nsec, it.Hash, encodeItem(&it)})
				pendRows = append(pendRows, []any{it.ID, sec, nsec})
				stored[it.ID] = &storedItem{hash: it.Hash, sec: sec, nsec: nsec, firstSeen: it.FirstSeen, known: true}
				r.New = append(r.New, it)
				continue
			}
			if prev.hash == it.Hash {
				r.Unchanged++
				continue
			}
			if !prev.known {
				return fmt.Errorf("item %s: stored data not read", it.ID)
			}
			it.FirstSeen = prev.firstSeen
			u := updates[it.ID]
			if u == nil {
				u = &itemUpdate{}
				updates[it.ID] = u
				updOrder = append(updOrder, it.ID)
			}
			u.it, u.sec, u.nsec = it, sec, nsec
			if (sec != prev.sec || nsec != prev.nsec) && prev.clustered {
				u.timeMoved = true
			}
			editedStory = editedStory || prev.clustered
			prev.hash, prev.sec, prev.nsec = it.Hash, sec, nsec
			r.Updated = append(r.Updated, it)
		}
		rows.add(st, len(r.New))
		res[i] = r
	}

	if len(newRows) > 0 {
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"items"}, []string{"id", "feed", "t_sec", "t_nsec", "hash", "data"},
			pgx.CopyFromRows(newRows)); err != nil {
			return fmt.Errorf("new items: %w", err)
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"pending"}, []string{"item_id", "t_sec", "t_nsec"},
			pgx.CopyFromRows(pendRows)); err != nil {
			return fmt.Errorf("pending items: %w", err)
		}
	}
	var b pgx.Batch
	rows.queue(&b)
	if len(updates) > 0 {
		n := len(updOrder)
		uid, ufeed, uhash := make([]string, n), make([]string, n), make([]string, n)
		usec, unsec, udata := make([]int64, n), make([]int32, n), make([][]byte, n)
		var moved []string
		for j, id := range updOrder {
			u := updates[id]
			uid[j], ufeed[j], uhash[j], usec[j], unsec[j], udata[j] = id, u.it.Feed, u.it.Hash, u.sec, u.nsec, encodeItem(&u.it)
			if u.timeMoved {
				moved = append(moved, id)
			}
		}
		b.Queue(keepLoggedSQL, uid) // as decided on, for the cluster log
		b.Queue(`UPDATE items i SET feed = u.feed, hash = u.hash, t_sec = u.t_sec, t_nsec = u.t_nsec, data = u.data
			FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::int[], $6::bytea[]) AS u(id, feed, hash, t_sec, t_nsec, data)
			WHERE i.id = u.id`, uid, ufeed, uhash, usec, unsec, udata)
		b.Queue(`UPDATE pending p SET t_sec = u.t_sec, t_nsec = u.t_nsec
			FROM unnest($1::text[], $2::bigint[], $3::int[]) AS u(id, t_sec, t_nsec)
			WHERE p.item_id = u.id AND (p.t_sec, p.t_nsec) <> (u.t_sec, u.t_nsec)`, uid, usec, unsec)
		if len(moved) > 0 {
			// An item's new time moves its cluster's Published (the
			// earliest member's time); Updated stays.
			b.Queue(`UPDATE clusters c SET (pub_sec, pub_nsec) = (
					SELECT i.t_sec, i.t_nsec FROM memberships m JOIN items i ON i.id = m.item_id
					WHERE m.cluster_id = c.id ORDER BY i.t_sec, i.t_nsec LIMIT 1)
				WHERE c.id IN (SELECT cluster_id FROM memberships WHERE item_id = ANY($1))`, moved)
		}
	}
	if len(renew) > 0 {
		sec, nsec := secNsec(now)
		b.Queue(`UPDATE tombstones SET at_sec = $2, at_nsec = $3 WHERE id = ANY($1) AND pruned`, renew, sec, nsec)
	}
	var kinds []string
	if len(newRows) > 0 {
		kinds = append(kinds, changePending)
	}
	if editedStory {
		kinds = append(kinds, changeStories)
	}
	if len(kinds) > 0 {
		db.queueChange(&b, kinds...) // last: see queueChange
	}
	if err := tx.SendBatch(ctx, &b).Close(); err != nil {
		return fmt.Errorf("changed items: %w", err)
	}
	return nil
}

// lookupItems locks the feeds (see feedLocks) and reads, for the given
// item IDs, what is stored (with the item's data only where the given
// hash differs, so that an unchanged refetch reads no item) and which are
// tombstoned, in one round trip.
func lookupItems(ctx context.Context, tx pgx.Tx, feeds, ids, hashes []string) (map[string]*storedItem, map[string]tombstone, error) {
	stored := make(map[string]*storedItem, len(ids))
	tombs := make(map[string]tombstone)
	var b pgx.Batch
	b.Queue(feedLocks, feeds)
	if len(ids) == 0 {
		return stored, tombs, tx.SendBatch(ctx, &b).Close()
	}
	// One probe of items per ID; the tombstones only for the IDs not
	// stored (a removed item is never both). Only a changed item needs
	// its data (for FirstSeen) and whether it is clustered (its time may
	// move its cluster's).
	b.Queue(`SELECT x.id, i.hash, i.t_sec, i.t_nsec,
			i.hash <> x.hash AND EXISTS (SELECT 1 FROM memberships m WHERE m.item_id = x.id),
			CASE WHEN i.hash <> x.hash THEN i.data END,
			CASE WHEN i.id IS NULL THEN (SELECT ARRAY[t.at_sec, t.at_nsec, t.pruned::int] FROM tombstones t WHERE t.id = x.id) END
		FROM unnest($1::text[], $2::text[]) AS x(id, hash)
		LEFT JOIN items i ON i.id = x.id`, ids, hashes).Query(func(rows pgx.Rows) error {
		var (
			id        string
			hash      *string
			sec       *int64
			nsec      *int32
			clustered *bool
			data      []byte
			tomb      []int64
		)
		_, err := pgx.ForEachRow(rows, []any{&id, &hash, &sec, &nsec, &clustered, &data, &tomb}, func() error {
			if hash == nil {
				if len(tomb) == 3 {
					tombs[id] = tombstone{sec: tomb[0], nsec: int32(tomb[1]), pruned: tomb[2] != 0}
				}
				return nil
			}
			s := stored[id]
			if s == nil {
				s = &storedItem{hash: *hash, sec: *sec, nsec: *nsec, clustered: clustered != nil && *clustered}
				stored[id] = s
			}
			if data != nil && !s.known {
				it, err := decodeItem(data)
				if err != nil {
					return fmt.Errorf("item %s: %w", id, err)
				}
				s.firstSeen, s.known = it.FirstSeen, true
			}
			return nil
		})
		return err
	})
	if err := tx.SendBatch(ctx, &b).Close(); err != nil {
		return nil, nil, fmt.Errorf("look up items: %w", err)
	}
	return stored, tombs, nil
}
