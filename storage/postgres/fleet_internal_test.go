package postgres

import (
	"bytes"
	"context"
	"encoding/gob"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"

	"aggregator"
	"aggregator/internal/pgtest"
)

func openInternal(t testing.TB, url string) *DB {
	t.Helper()
	db, err := Open(context.Background(), url, Options{})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// TestAcquireHostFleet: three nodes with many goroutines each on three
// hosts never have more than perHost requests to a host in flight, and
// each grant comes at least delay after the previous grant's request was
// sent (by the database's clock, which AcquireHost keeps the limits by),
// however long the send took after its grant.
func TestAcquireHostFleet(t *testing.T) {
	url := pgtest.NewDatabase(t)
	nodes := []*DB{openInternal(t, url), openInternal(t, url), openInternal(t, url)}
	const (
		perHost = 2
		delay   = 50 * time.Millisecond
		hold    = 120 * time.Millisecond // long enough that a third would overlap
		workers = 3                      // per node and host
		rounds  = 3
	)
	hosts := []string{"a.example", "b.example", "c.example"}
	var (
		mu       sync.Mutex
		inFlight = make(map[string]int)
		maxIn    = make(map[string]int)
		grants   = make(map[string][][2]time.Time) // granted, sent
		wg       sync.WaitGroup
	)
	ctx := t.Context()
	for n, db := range nodes {
		for _, host := range hosts {
			for range workers {
				wg.Go(func() {
					for range rounds {
						g, err := db.acquireHost(ctx, fmt.Sprintf("node-%d", n), host, perHost, delay, time.Minute)
						if err != nil {
							t.Error(err)
							return
						}
						mu.Lock()
						inFlight[host]++
						maxIn[host] = max(maxIn[host], inFlight[host])
						mu.Unlock()
						time.Sleep(time.Duration(rand.IntN(30)) * time.Millisecond) // the dial
						g.sent()
						mu.Lock()
						grants[host] = append(grants[host], [2]time.Time{g.at, g.sentAt()})
						mu.Unlock()
						time.Sleep(hold) // the request
						mu.Lock()
						inFlight[host]--
						mu.Unlock()
						g.release()
					}
				})
			}
		}
	}
	wg.Wait()
	for _, host := range hosts {
		if maxIn[host] > perHost {
			t.Errorf("%s: %d requests in flight, want at most %d", host, maxIn[host], perHost)
		}
		if maxIn[host] < perHost {
			t.Errorf("%s: at most %d in flight, want the limit %d reached", host, maxIn[host], perHost)
		}
		g := grants[host]
		if len(g) != len(nodes)*workers*rounds {
			t.Errorf("%s: %d grants, want %d", host, len(g), len(nodes)*workers*rounds)
		}
		slices.SortFunc(g, func(a, b [2]time.Time) int { return a[0].Compare(b[0]) })
		for i := 1; i < len(g); i++ {
			if g[i-1][1].IsZero() {
				t.Errorf("%s: grant %d's send was not recorded", host, i-1)
				continue
			}
			if gap := g[i][0].Sub(g[i-1][1]); gap < delay {
				t.Errorf("%s: grant %d came %v after grant %d's send, want at least %v", host, i, gap, i-1, delay)
			}
		}
	}
}

// TestAcquireHostLeaseEnds: a slot held by a node that went away without
// releasing it comes back when its lease ends, and not before; release
// after the lease ended frees nobody else's slot.
func TestAcquireHostLeaseEnds(t *testing.T) {
	url := pgtest.NewDatabase(t)
	a := openInternal(t, url)
	ctx := t.Context()
	const lease = 300 * time.Millisecond
	// With a delay, a grant holds the host until its request is sent, so
	// a second slot does not help: the killed node's unsent grant holds
	// the host until its lease ends.
	for _, c := range []struct {
		perHost int
		delay   time.Duration
	}{{1, 0}, {1, 10 * time.Millisecond}, {2, 10 * time.Millisecond}} {
		perHost, delay := c.perHost, c.delay
		host := fmt.Sprintf("h%d-%d.example", perHost, delay.Milliseconds())
		gone := openInternal(t, url)
		// Granted, never sent, never released: the node was killed.
		late, err := gone.acquireHost(ctx, "gone", host, perHost, delay, lease)
		if err != nil {
			t.Fatal(err)
		}
		gone.Close()

		g, err := a.acquireHost(ctx, "a", host, perHost, delay, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if g.at.Sub(late.at) < lease {
			t.Errorf("per host %d, delay %v: slot granted again %v after its leased grant, want at least the lease %v", perHost, delay, g.at.Sub(late.at), lease)
		}
		t.Logf("per host %d, delay %v: slot back %v after the grant (lease %v)", perHost, delay, g.at.Sub(late.at), lease)
		late.release() // its pool is closed; a release must not panic or free a's slot
		short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		if _, _, err := a.AcquireHost(short, "b", host, perHost, delay, time.Minute); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("per host %d, delay %v: acquire while a holds the only slot: %v, want the context's deadline", perHost, delay, err)
		}
		cancel()
		g.release() // never sent: the release counts as the send
		if _, r, err := a.AcquireHost(ctx, "b", host, perHost, delay, time.Minute); err != nil {
			t.Errorf("per host %d, delay %v: acquire after the release: %v", perHost, delay, err)
		} else {
			r()
		}
	}
}

// BenchmarkAcquireHost: one grant and its release, uncontended.
func BenchmarkAcquireHost(b *testing.B) {
	db := openInternal(b, pgtest.NewDatabase(b))
	for b.Loop() {
		_, release, err := db.AcquireHost(b.Context(), "n", "h.example", 1, 0, time.Minute)
		if err != nil {
			b.Fatal(err)
		}
		release()
	}
}

// TestMigration4 brings a database with feeds at schema 3 to 4, where the
// JSON states are backfilled into the claim columns and a gob state is
// due now, and back down to 3, keeping the feeds.
func TestMigration4(t *testing.T) {
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	db := openInternal(t, url)
	sqlDB := stdlib.OpenDBFromPool(db.pool)
	defer sqlDB.Close()
	sub, _ := fs.Sub(migrations, "migrations")
	p, err := goose.NewProvider(goose.DialectPostgres, sqlDB, sub,
		goose.WithTableName(versionTable), goose.WithDisableGlobalRegistry(true))
	if err != nil {
		t.Fatal(err)
	}
	due := time.Date(2026, 3, 1, 12, 15, 3, 2000, time.UTC)
	gone := aggregator.FeedState{Name: "gone", URL: "https://x.example/gone", Disabled: true, NextFetch: due}
	for _, st := range []aggregator.FeedState{
		{Name: "plain", URL: "https://x.example/a", NextFetch: due, Node: "n1"},
		gone,
		{Name: "odd", ETag: "\xff", NextFetch: due.Add(time.Hour), Disabled: true}, // gob
		{Name: "fresh"}, // no NextFetch
	} {
		putLegacyState(t, db, st)
	}
	if _, err := db.pool.Exec(ctx, `UPDATE feeds SET lease_node = 'n1', lease_until = now() + interval '1 hour'`); err != nil {
		t.Fatal(err)
	}
	if _, err := p.DownTo(ctx, 3); err != nil {
		t.Fatalf("down to 3: %v", err)
	}
	var cols int
	if err := db.pool.QueryRow(ctx, `SELECT count(*) FROM information_schema.columns
		WHERE table_name = 'feeds' AND column_name IN ('next_fetch', 'disabled', 'lease_node', 'lease_until')`).Scan(&cols); err != nil || cols != 0 {
		t.Fatalf("after down: %d fleet columns, %v", cols, err)
	}
	if _, err := p.UpTo(ctx, 4); err != nil {
		t.Fatalf("up to 4: %v", err)
	}
	type row struct {
		next     string
		disabled bool
		leased   bool
	}
	want := map[string]row{
		"plain": {"2026-03-01 12:15:03.000002+00", false, false},
		"gone":  {"2026-03-01 12:15:03.000002+00", true, false},
		"odd":   {"-infinity", false, false}, // gob: due now, until its next write
		"fresh": {"-infinity", false, false},
	}
	rows, err := db.pool.Query(ctx, `SELECT name, next_fetch::text, disabled, lease_until IS NOT NULL FROM feeds`)
	if err != nil {
		t.Fatal(err)
	}
	got := make(map[string]row)
	for rows.Next() {
		var name string
		var r row
		if err := rows.Scan(&name, &r.next, &r.disabled, &r.leased); err != nil {
			t.Fatal(err)
		}
		got[name] = r
	}
	if rows.Err() != nil {
		t.Fatal(rows.Err())
	}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("feed %s after up: %+v, want %+v", name, got[name], w)
		}
	}
	// The program reads the latest schema (migration 7 only adds
	// state_bin beside the states of this test).
	if _, err := p.Up(ctx); err != nil {
		t.Fatalf("up: %v", err)
	}
	st, ok, err := db.FeedState(ctx, "gone")
	if err != nil || !ok || !st.Disabled || !st.NextFetch.Equal(due) {
		t.Errorf("gone after down and up: %+v, %v, %v", st, ok, err)
	}
	// The columns work: the disabled feed is not claimed, the others are.
	claimed, _, err := db.ClaimFeeds(ctx, "n2", []string{"plain", "gone", "odd", "fresh"}, time.Minute, 10)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, st := range claimed {
		names = append(names, st.Name)
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"fresh", "odd", "plain"}) {
		t.Errorf("claimed %v, want [fresh odd plain]", names)
	}
}

// TestAcquireHostReuse: with Options.SlotReuse a node's requests to a
// host without a delay reuse its released slots instead of asking the
// database for each, the fleet-wide limit still holds with another node
// asking beside it, the other node gets the slots once the first no
// longer needs them, and Close frees what was kept. A slot whose lease
// is shorter than SlotReuse, or a host with a delay, is never reused.
func TestAcquireHostReuse(t *testing.T) {
	url := pgtest.NewDatabase(t)
	a, err := Open(t.Context(), url, Options{SlotReuse: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b := openInternal(t, url)
	const (
		perHost = 3
		host    = "h.example"
		lease   = 10 * time.Minute
	)
	var (
		mu       sync.Mutex
		inFlight int
		maxIn    int
		grantsA  = make(map[time.Time]bool) // distinct grants, by their time
		requests [2]int
		wg       sync.WaitGroup
	)
	ctx := t.Context()
	request := func(db *DB, node string, i int) {
		g, err := db.acquireHost(ctx, node, host, perHost, 0, lease)
		if err != nil {
			t.Error(err)
			return
		}
		mu.Lock()
		inFlight++
		maxIn = max(maxIn, inFlight)
		requests[i]++
		if db == a {
			grantsA[g.at] = true
		}
		mu.Unlock()
		mu.Lock()
		inFlight--
		mu.Unlock()
		g.release()
	}
	for range 6 {
		wg.Go(func() {
			for range 50 {
				request(a, "a", 0)
			}
		})
	}
	for range 2 {
		wg.Go(func() {
			for range 5 {
				request(b, "b", 1)
			}
		})
	}
	wg.Wait()
	if maxIn > perHost {
		t.Errorf("%d requests in flight, want at most %d", maxIn, perHost)
	}
	if requests != [2]int{300, 10} {
		t.Errorf("requests of a and b: %v, want [300 10]", requests)
	}
	t.Logf("node a: %d grants for 300 requests", len(grantsA))
	if len(grantsA) > 100 {
		t.Errorf("node a: %d grants from the database for 300 requests, want the slots reused", len(grantsA))
	}
	a.Close()
	var left int
	if err := b.pool.QueryRow(ctx, `SELECT count(*) FROM fetch_slots WHERE node = 'a' AND until > clock_timestamp()`).Scan(&left); err != nil || left != 0 {
		t.Errorf("after Close, node a holds %d slots (%v), want 0", left, err)
	}

	c, err := Open(t.Context(), url, Options{SlotReuse: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, tc := range []struct {
		name         string
		delay, lease time.Duration
	}{
		{"lease shorter than SlotReuse", 0, 30 * time.Second},
		{"host delay", time.Millisecond, lease},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var at []time.Time
			for range 2 {
				g, err := c.acquireHost(ctx, "c", "other.example", 1, tc.delay, tc.lease)
				if err != nil {
					t.Fatal(err)
				}
				g.sent()
				g.release()
				at = append(at, g.at)
			}
			if at[0].Equal(at[1]) {
				t.Errorf("the second request reused the first one's slot (granted at %v)", at[0])
			}
		})
	}
}

// TestAcquireHostBurst: a burst of requests from one node to a host
// without a delay asks the database for its slots together, a few asks
// rather than one per request, and what it holds still counts against
// the fleet-wide limit: another node gets no slot while the burst holds
// them all, and gets one as soon as the burst's node frees them.
func TestAcquireHostBurst(t *testing.T) {
	url := pgtest.NewDatabase(t)
	a, err := Open(t.Context(), url, Options{SlotReuse: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b := openInternal(t, url)
	const (
		perHost = 16
		host    = "burst.example"
		lease   = 10 * time.Minute
	)
	ctx := t.Context()
	grants := make([]*hostGrant, perHost)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range grants {
		wg.Go(func() {
			<-start
			g, err := a.acquireHost(ctx, "a", host, perHost, 0, lease)
			if err != nil {
				t.Error(err)
				return
			}
			grants[i] = g
		})
	}
	close(start)
	wg.Wait()
	if t.Failed() {
		return
	}
	asks := make(map[time.Time]bool) // one grant time per call of the database
	for _, g := range grants {
		asks[g.at] = true
	}
	t.Logf("%d requests at once: %d asks", perHost, len(asks))
	if len(asks) > 4 {
		t.Errorf("%d requests at once asked the database %d times, want a few asks for all", perHost, len(asks))
	}
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if _, err := b.acquireHost(short, "b", host, perHost, 0, lease); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("node b's request while node a holds all %d slots: %v, want the context's deadline", perHost, err)
	}
	for _, g := range grants {
		g.release() // kept by a for a moment, then freed
	}
	g, err := b.acquireHost(ctx, "b", host, perHost, 0, lease)
	if err != nil {
		t.Fatalf("node b's request after node a released: %v", err)
	}
	g.release()
}

// putLegacyState writes st as the program of migration 6 wrote it: JSON
// in state, or gob in state_gob when a string is not valid UTF-8, with
// the claim columns.
func putLegacyState(t *testing.T, db *DB, st aggregator.FeedState) {
	t.Helper()
	var js *string
	var gb []byte
	if b, err := json.Marshal(st); err == nil && utf8.ValidString(st.ETag) {
		s := string(b)
		js = &s
	} else {
		var buf bytes.Buffer
		if err := gob.NewEncoder(&buf).Encode(st); err != nil {
			t.Fatal(err)
		}
		gb = buf.Bytes()
	}
	if _, err := db.pool.Exec(t.Context(), `INSERT INTO feeds (name, state, state_gob, next_fetch, disabled) VALUES ($1, $2, $3, $4, $5)`,
		st.Name, js, gb, st.NextFetch, st.Disabled); err != nil {
		t.Fatal(err)
	}
}
