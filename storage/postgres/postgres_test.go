package postgres_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"aggregator"
	"aggregator/internal/pgtest"
	"aggregator/storage"
	"aggregator/storage/postgres"
)

// The contract (storage/storetest, run by contract_test.go) covers the
// behaviour both stores share. These tests cover what is this store's
// own: migrations, several processes on one database, exactness the
// contract rounds away, the saved index's chunks and snapshot.

// sql runs a query on the database at url, for tests that look under
// the store.
func sql(t *testing.T, url, query string, args ...any) {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

func count(t *testing.T, url, query string) int {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n int
	if err := conn.QueryRow(context.Background(), query).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// migrationCount is the number of migrations the package embeds.
func migrationCount(t *testing.T) int {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("migrations", "*.sql"))
	if err != nil || len(files) == 0 {
		t.Fatalf("migrations: %v, %v", files, err)
	}
	return len(files)
}

func TestMigrateAtOpen(t *testing.T) {
	ctx := context.Background()
	db, url := mustOpen(t)
	v, err := db.SchemaVersion(ctx)
	if want := migrationCount(t); err != nil || v != int64(want) {
		t.Fatalf("schema version %d, %v; want %d", v, err, want)
	}
	for _, table := range []string{"meta", "feeds", "items", "pending", "clusters", "memberships",
		"tombstones", "cluster_log", "saved_index", "saved_index_head"} {
		if n := count(t, url, fmt.Sprintf("SELECT count(*) FROM pg_tables WHERE tablename = '%s'", table)); n != 1 {
			t.Errorf("table %s: %d, want 1", table, n)
		}
	}
	stamp, err := db.ClusterStamp(ctx)
	if err != nil || stamp.Instance == [16]byte{} || stamp.Seq != 0 {
		t.Errorf("fresh stamp %v, %v: want a random instance and sequence 0", stamp, err)
	}
	// Opening again applies nothing and keeps the instance.
	db2, err := postgres.Open(ctx, url, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	if s2, _ := db2.ClusterStamp(ctx); s2 != stamp {
		t.Errorf("second open: stamp %v, want %v", s2, stamp)
	}
	if n, want := count(t, url, "SELECT count(*) FROM aggregator_schema_version WHERE version_id > 0"), migrationCount(t); n != want {
		t.Errorf("%d migrations recorded after two opens, want %d", n, want)
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	_, url := mustOpen(t)
	sql(t, url, "INSERT INTO aggregator_schema_version (version_id, is_applied) VALUES (99, true)")
	_, err := postgres.Open(context.Background(), url, postgres.Options{})
	if !errors.Is(err, postgres.ErrSchema) {
		t.Fatalf("open of a database at schema 99: %v, want ErrSchema", err)
	}
}

// TestConcurrentOpen: processes starting at once on a fresh database
// migrate it once between them (the advisory lock), and all open it.
func TestConcurrentOpen(t *testing.T) {
	url := pgtest.NewDatabase(t)
	const n = 4
	var wg sync.WaitGroup
	errs := make([]error, n)
	stamps := make([]aggregator.ClusterStamp, n)
	for i := range n {
		wg.Go(func() {
			db, err := postgres.Open(context.Background(), url, postgres.Options{})
			if err != nil {
				errs[i] = err
				return
			}
			defer db.Close()
			stamps[i], errs[i] = db.ClusterStamp(context.Background())
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("open %d: %v", i, err)
		}
		if stamps[i] != stamps[0] {
			t.Errorf("open %d: stamp %v, open 0: %v; want one instance", i, stamps[i], stamps[0])
		}
	}
	if got, want := count(t, url, "SELECT count(*) FROM aggregator_schema_version WHERE version_id > 0"), migrationCount(t); got != want {
		t.Errorf("%d migrations recorded, want %d", got, want)
	}
	if got := count(t, url, "SELECT count(*) FROM meta"); got != 1 {
		t.Errorf("%d meta rows, want 1", got)
	}
}

func TestWhereHidesPassword(t *testing.T) {
	url := pgtest.NewDatabase(t)
	// The throwaway server trusts local connections: any password opens it.
	withPassword := strings.Replace(url, "postgres@", "postgres:s3cret@", 1)
	db, err := postgres.Open(context.Background(), withPassword, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if w := db.Where(); strings.Contains(w, "s3cret") || !strings.Contains(w, "postgres@") {
		t.Errorf("Where() = %q: want the user and no password", w)
	}
}

// exactItems are items whose times have nanoseconds and zone offsets,
// which the contract (keeping whole seconds in UTC) does not check.
func exactItems(feed string, n int) []aggregator.Item {
	zones := []*time.Location{time.UTC, time.FixedZone("", -5*3600), time.FixedZone("", 5*3600+1800)}
	out := make([]aggregator.Item, n)
	for i := range out {
		pub := time.Date(2026, 3, 1, 12, 0, 0, 123456789+i, time.UTC).Add(time.Duration(i) * time.Minute)
		out[i] = aggregator.Item{GUID: fmt.Sprint(i), URL: fmt.Sprintf("https://example.com/%s/%d", feed, i),
			Title: fmt.Sprintf("Story %d of %s", i, feed), Summary: "Ünïcode \u00a0summary",
			Published: pub.In(zones[i%len(zones)]), FirstSeen: pub.Add(time.Second + 7),
			Categories: []string{"a", "b"}}
		out[i].Normalize(feed)
	}
	return out
}

func TestExactTimes(t *testing.T) {
	ctx := context.Background()
	db, _ := mustOpen(t)
	items := exactItems("f", 3)
	if _, errs := db.SaveFetches(ctx, []aggregator.Fetched{{State: aggregator.FeedState{Name: "f"}, Items: items}}); errs[0] != nil {
		t.Fatal(errs[0])
	}
	now := time.Date(2026, 3, 1, 13, 0, 0, 987654321, time.FixedZone("", 3600))
	ms := []aggregator.Membership{{Item: items[0].ID, Cluster: "c", Reason: aggregator.ReasonFirst, Score: 1, Shared: []string{"x"}},
		{Item: items[1].ID, Cluster: "c", Reason: aggregator.ReasonSimilar, Score: 0.61, Matched: items[0].ID, Joined: now.Add(-time.Nanosecond)}}
	if err := db.SaveDecisions(ctx, aggregator.Decisions{Memberships: ms, Now: now, ExpiredBefore: now.Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	for _, want := range items {
		got, ok, err := db.Item(ctx, want.ID)
		if err != nil || !ok || !reflect.DeepEqual(got, want) {
			t.Errorf("item %s:\n got %+v (%v, %v)\nwant %+v", want.ID, got, ok, err, want)
		}
	}
	c, _, err := db.Cluster(ctx, "c")
	if err != nil {
		t.Fatal(err)
	}
	ms[0].Joined = now
	if !reflect.DeepEqual(c.Members, ms) || !c.Updated.Equal(now) || c.Updated.String() != now.String() ||
		!c.Published.Equal(items[0].Published) {
		t.Errorf("cluster %+v: want members %+v, updated %v, published %v", c, ms, now, items[0].Published)
	}
	var logged []aggregator.LogRecord
	if err := db.ClusterLog(ctx, 0, func(r aggregator.LogRecord) error { logged = append(logged, r); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(logged) != 1 || logged[0].ExpiredBefore.String() != now.Add(-time.Hour).String() {
		t.Errorf("log %+v: want one record expiring before %v", logged, now.Add(-time.Hour))
	}
}

// fixture fills db with a bit of everything, with exact times.
func fixture(t *testing.T, db *postgres.DB) {
	t.Helper()
	ctx := context.Background()
	a, b := exactItems("a", 8), exactItems("b", 5)
	st := aggregator.FeedState{Name: "a", URL: "https://example.com/a", ETag: `"x"`, LastFetch: a[0].FirstSeen, MeanItemGap: 61.5}
	if _, errs := db.SaveFetches(ctx, []aggregator.Fetched{{State: st, Items: a}, {State: aggregator.FeedState{Name: "b"}, Items: b}}); errors.Join(errs...) != nil {
		t.Fatal(errors.Join(errs...))
	}
	now := a[7].FirstSeen
	for i, ms := range [][]aggregator.Membership{
		{{Item: a[0].ID, Cluster: "s0", Reason: aggregator.ReasonFirst}, {Item: b[0].ID, Cluster: "s0", Reason: aggregator.ReasonTitle, Matched: a[0].ID, Score: 1}},
		{{Item: a[1].ID, Cluster: "s1", Reason: aggregator.ReasonFirst}, {Item: b[1].ID, Cluster: "s1", Reason: aggregator.ReasonSimilar, Score: 0.7, Shared: []string{"x", "y"}}},
		{{Item: a[2].ID, Cluster: "s2", Reason: aggregator.ReasonFirst}, {Item: a[3].ID, Cluster: "s2"}, {Item: b[2].ID, Cluster: "s1"}},
	} {
		if err := db.SaveDecisions(ctx, aggregator.Decisions{Memberships: ms, Representatives: map[string]string{"s1": b[1].ID},
			Now: now.Add(time.Duration(i) * time.Minute), ExpiredBefore: now.Add(-time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.TrimClusterLog(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteItem(ctx, a[3].ID); err != nil {
		t.Fatal(err)
	}
	edited := b[4]
	edited.Title += " (updated)"
	edited.Normalize("b")
	if _, errs := db.SaveFetches(ctx, []aggregator.Fetched{{State: aggregator.FeedState{Name: "b", ETag: `"y"`}, Items: []aggregator.Item{edited}}}); errs[0] != nil {
		t.Fatal(errs[0])
	}
	if err := db.PutFeedState(ctx, aggregator.FeedState{Name: "quiet", Disabled: true, DisabledReason: "410 Gone"}); err != nil {
		t.Fatal(err)
	}
}

// contents is everything the readers return, for exact comparison.
type contents struct {
	Stories []aggregator.Story
	Feeds   map[string]aggregator.FeedState
	Stamp   aggregator.ClusterStamp
	Log     []aggregator.LogRecord
	Pending []aggregator.Item
	Stats   aggregator.StoreStats
	Recent  []aggregator.Membership
}

func readAll(t *testing.T, db *postgres.DB) contents {
	t.Helper()
	ctx := context.Background()
	var c contents
	var err error
	if c.Stories, err = db.Stories(ctx, aggregator.StoryQuery{}); err != nil {
		t.Fatal(err)
	}
	if c.Feeds, err = db.FeedStates(ctx); err != nil {
		t.Fatal(err)
	}
	if c.Stamp, err = db.ClusterStamp(ctx); err != nil {
		t.Fatal(err)
	}
	if err := db.ClusterLog(ctx, 0, func(r aggregator.LogRecord) error { c.Log = append(c.Log, r); return nil }); err != nil {
		t.Fatal(err)
	}
	if c.Pending, err = db.Pending(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if c.Stats, err = db.Stats(ctx); err != nil {
		t.Fatal(err)
	}
	c.Stats.Size = 0
	err = db.Recent(ctx, time.Time{}, func(_ aggregator.Item, m aggregator.Membership) error { c.Recent = append(c.Recent, m); return nil })
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestExportImportExact moves a database to another through Export and
// Import and reads back exactly the same (times to the nanosecond, with
// their zones), and a stamp a saved index was checked against stays good.
func TestExportImportExact(t *testing.T) {
	ctx := context.Background()
	src, _ := mustOpen(t)
	fixture(t, src)
	stamp, err := src.ClusterStamp(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var recs []aggregator.DumpRecord
	if err := src.Export(ctx, func(r aggregator.DumpRecord) error { recs = append(recs, r); return nil }); err != nil {
		t.Fatal(err)
	}
	dst, _ := mustOpen(t)
	if err := dst.Import(ctx, func(put func(aggregator.DumpRecord) error) error {
		for _, r := range recs {
			if err := put(r); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	want, got := readAll(t, src), readAll(t, dst)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("after import:\n got %+v\nwant %+v", got, want)
	}
	for _, tc := range []struct {
		name  string
		stamp aggregator.ClusterStamp
		want  bool
	}{
		{"the source's current stamp", stamp, true},
		{"before the deletion", aggregator.ClusterStamp{Instance: stamp.Instance, Seq: 3}, false},
		{"another database", aggregator.ClusterStamp{Seq: stamp.Seq}, false},
	} {
		if ok, err := dst.ClusterLogStart(ctx, tc.stamp); err != nil || ok != tc.want {
			t.Errorf("ClusterLogStart(%s) = %v, %v; want %v", tc.name, ok, err, tc.want)
		}
	}
}

// TestSavedIndexChunks: a copy of several chunks reads back whole; a
// failed save leaves the old copy; a reader keeps reading the copy it
// opened while another process replaces it.
func TestSavedIndexChunks(t *testing.T) {
	ctx := context.Background()
	db, url := mustOpen(t)
	other, err := postgres.Open(ctx, url, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	r := rand.New(rand.NewPCG(1, 2))
	blob := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return b
	}
	save := func(t *testing.T, data []byte) {
		t.Helper()
		err := db.SaveIndex(ctx, func(w io.Writer) error {
			// Odd-sized writes, across chunk boundaries.
			for p := data; len(p) > 0; {
				k := min(len(p), 300_001)
				if _, err := w.Write(p[:k]); err != nil {
					return err
				}
				p = p[k:]
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	read := func(t *testing.T, s *postgres.DB) []byte {
		t.Helper()
		rc, err := s.OpenSavedIndex(ctx)
		if err != nil || rc == nil {
			t.Fatalf("open saved index: %v, %v", rc, err)
		}
		defer rc.Close()
		got, err := io.ReadAll(rc)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	for _, n := range []int{0, 1, 1 << 20, 3<<20 + 12345} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			want := blob(n)
			save(t, want)
			if got := read(t, other); !bytes.Equal(got, want) {
				t.Errorf("read back %d bytes, want %d equal", len(got), len(want))
			}
		})
	}

	old := blob(2<<20 + 7)
	save(t, old)
	boom := errors.New("index writer failed")
	if err := db.SaveIndex(ctx, func(w io.Writer) error {
		w.Write(blob(1 << 20))
		return boom
	}); !errors.Is(err, boom) {
		t.Errorf("failed save: %v, want %v", err, boom)
	}
	if got := read(t, other); !bytes.Equal(got, old) {
		t.Error("a failed save changed the saved copy")
	}

	rc, err := other.OpenSavedIndex(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	head := make([]byte, 1000)
	if _, err := io.ReadFull(rc, head); err != nil {
		t.Fatal(err)
	}
	save(t, blob(5<<20)) // replaced while the reader is open
	rest, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	if got := append(head, rest...); !bytes.Equal(got, old) {
		t.Errorf("reader open across a save read %d bytes, not the copy it opened (%d)", len(got), len(old))
	}
}

// TestFleet: several processes store fetches and decisions on one
// database at once; nothing is lost and the stamp counts every batch.
func TestFleet(t *testing.T) {
	ctx := context.Background()
	_, url := mustOpen(t)
	const procs, rounds = 3, 5
	dbs := make([]*postgres.DB, procs)
	for i := range dbs {
		db, err := postgres.Open(ctx, url, postgres.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		dbs[i] = db
	}
	var wg sync.WaitGroup
	errs := make(chan error, procs*rounds*2)
	for p, db := range dbs {
		wg.Go(func() {
			for r := range rounds {
				// Every process also refetches feed "shared".
				feed := fmt.Sprintf("p%d-%d", p, r)
				items := exactItems(feed, 20)
				shared := exactItems("shared", 10)
				_, ferrs := db.SaveFetches(ctx, []aggregator.Fetched{
					{State: aggregator.FeedState{Name: feed}, Items: items},
					{State: aggregator.FeedState{Name: "shared"}, Items: shared},
				})
				if err := errors.Join(ferrs...); err != nil {
					errs <- err
					return
				}
				var ms []aggregator.Membership
				for i, it := range items {
					ms = append(ms, aggregator.Membership{Item: it.ID, Cluster: fmt.Sprintf("%s-c%d", feed, i/2)})
				}
				ms = append(ms, aggregator.Membership{Item: shared[r].ID, Cluster: fmt.Sprintf("shared-%d", p)})
				if err := db.SaveDecisions(ctx, aggregator.Decisions{Memberships: ms, Now: time.Now()}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	s, err := dbs[0].Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := procs*rounds*20 + 10; s.Items != want {
		t.Errorf("%d items, want %d", s.Items, want)
	}
	if stamp, _ := dbs[1].ClusterStamp(ctx); stamp.Seq != procs*rounds {
		t.Errorf("stamp sequence %d, want %d", stamp.Seq, procs*rounds)
	}
	st, _, _ := dbs[2].FeedState(ctx, "shared")
	if st.TotalItems != 10 {
		t.Errorf("feed shared: TotalItems %d, want 10", st.TotalItems)
	}
	if got := count(t, url, "SELECT count(*) FROM cluster_log"); got != procs*rounds {
		t.Errorf("%d log records, want %d", got, procs*rounds)
	}
}

// TestSameAsBbolt runs cases the contract leaves out on both stores and
// compares what they return.
func TestSameAsBbolt(t *testing.T) {
	ctx := context.Background()
	a := exactItems("a", 6)
	edited := a[1]
	edited.Title += " (edited)"
	edited.Published = edited.Published.Add(-time.Hour) // moves in time: its story's Published too
	edited.Normalize("a")
	type result struct {
		Res     []aggregator.SaveResult
		Errs    []string
		Stories []aggregator.Story
		Feeds   map[string]aggregator.FeedState
	}
	cases := []struct {
		name string
		run  func(t *testing.T, s interface {
			SaveFetches(context.Context, []aggregator.Fetched) ([]aggregator.SaveResult, []error)
			SaveDecisions(context.Context, aggregator.Decisions) error
		}) ([]aggregator.SaveResult, []error)
	}{
		{"same feed twice in a group", func(t *testing.T, s interface {
			SaveFetches(context.Context, []aggregator.Fetched) ([]aggregator.SaveResult, []error)
			SaveDecisions(context.Context, aggregator.Decisions) error
		}) ([]aggregator.SaveResult, []error) {
			return s.SaveFetches(ctx, []aggregator.Fetched{
				{State: aggregator.FeedState{Name: "a", ETag: "1"}, Items: a[:3]},
				{State: aggregator.FeedState{Name: "a", ETag: "2"}, Items: []aggregator.Item{a[2], edited, a[3], a[3]}},
			})
		}},
		{"clustered item moves in time", func(t *testing.T, s interface {
			SaveFetches(context.Context, []aggregator.Fetched) ([]aggregator.SaveResult, []error)
			SaveDecisions(context.Context, aggregator.Decisions) error
		}) ([]aggregator.SaveResult, []error) {
			if _, errs := s.SaveFetches(ctx, []aggregator.Fetched{{State: aggregator.FeedState{Name: "a"}, Items: a}}); errs[0] != nil {
				t.Fatal(errs[0])
			}
			if err := s.SaveDecisions(ctx, aggregator.Decisions{Memberships: []aggregator.Membership{
				{Item: a[0].ID, Cluster: "x"}, {Item: a[1].ID, Cluster: "x"}, {Item: a[2].ID, Cluster: "y"},
				{Item: a[2].ID, Cluster: "x"}, {Item: "gone", Cluster: "z"}}, Now: a[5].FirstSeen}); err != nil {
				t.Fatal(err)
			}
			return s.SaveFetches(ctx, []aggregator.Fetched{{State: aggregator.FeedState{Name: "a"}, Items: []aggregator.Item{edited}}})
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			bolt, err := storage.Open(filepath.Join(t.TempDir(), "x.db"), storage.Options{NoSync: true})
			if err != nil {
				t.Fatal(err)
			}
			defer bolt.Close()
			pg, _ := mustOpen(t)
			var got [2]result
			for i, s := range []interface {
				SaveFetches(context.Context, []aggregator.Fetched) ([]aggregator.SaveResult, []error)
				SaveDecisions(context.Context, aggregator.Decisions) error
				Stories(context.Context, aggregator.StoryQuery) ([]aggregator.Story, error)
				FeedStates(context.Context) (map[string]aggregator.FeedState, error)
			}{bolt, pg} {
				res, errs := tc.run(t, s)
				got[i].Res = res
				for _, err := range errs {
					got[i].Errs = append(got[i].Errs, fmt.Sprint(err))
				}
				if got[i].Stories, err = s.Stories(ctx, aggregator.StoryQuery{}); err != nil {
					t.Fatal(err)
				}
				if got[i].Feeds, err = s.FeedStates(ctx); err != nil {
					t.Fatal(err)
				}
			}
			// bbolt decodes a UTC offset as UTC and keeps other offsets: so
			// does this store; compare the printed forms, which show zones.
			if b, p := fmt.Sprintf("%+v", got[0]), fmt.Sprintf("%+v", got[1]); b != p {
				t.Errorf("bbolt and postgres differ:\nbbolt    %s\npostgres %s", b, p)
			}
		})
	}
}

// TestPendingItemMovesInTime: a pending item whose refetch changes its
// time stays pending, at its new time. (Package storage loses it: its
// replaceItem looks the pending entry up with Get, which returns nil for
// the entry's empty value, so the entry is not moved and Pending skips
// it from then on.)
func TestPendingItemMovesInTime(t *testing.T) {
	ctx := context.Background()
	db, _ := mustOpen(t)
	a := exactItems("a", 3)
	if _, errs := db.SaveFetches(ctx, []aggregator.Fetched{{State: aggregator.FeedState{Name: "a"}, Items: a}}); errs[0] != nil {
		t.Fatal(errs[0])
	}
	moved := a[2]
	moved.Title += " (edited)"
	moved.Published = a[0].Published.Add(-time.Hour)
	moved.Normalize("a")
	res, errs := db.SaveFetches(ctx, []aggregator.Fetched{{State: aggregator.FeedState{Name: "a"}, Items: []aggregator.Item{moved}}})
	if errs[0] != nil || len(res[0].Updated) != 1 {
		t.Fatalf("refetch: %+v, %v; want one updated", res[0], errs[0])
	}
	p, err := db.Pending(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, it := range p {
		got = append(got, it.ID)
	}
	if want := []string{moved.ID, a[0].ID, a[1].ID}; !reflect.DeepEqual(got, want) {
		t.Errorf("pending %v, want %v (the moved item first)", got, want)
	}
}
