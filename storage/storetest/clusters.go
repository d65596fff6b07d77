package storetest

import (
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"aggregator"
)

// testSaveDecisions: memberships are stored as given (a zero Joined set
// to Now), clusters made on first use with members in decision order, the
// representative set, defaulted to the founder or kept; an item moving
// leaves its old cluster, which vanishes when emptied.
func testSaveDecisions(t *testing.T, open opener) {
	s := open(t)
	a := dated(realItems(t, "a", 200, 5, t0), t0.Add(-5*time.Hour), time.Hour)
	b := dated(realItems(t, "b", 205, 3, t0), t0.Add(-6*time.Hour), time.Hour)
	mustSave(t, s, "a", a)
	mustSave(t, s, "b", b)
	t1, t2, t3 := t0.Add(time.Minute), t0.Add(2*time.Minute), t0.Add(3*time.Minute)
	given := joins(b[0].ID, "c1", a[0].ID)
	given.Joined = t0.Add(-30 * time.Second)
	decide(t, s, t1, map[string]string{"c1": b[0].ID},
		found(a[0].ID, "c1"), given, found(a[1].ID, "c2"),
		found(aggregator.ItemID("a", "guid:never-stored"), "ghost"))

	wantA0 := found(a[0].ID, "c1")
	wantA0.Joined = t1
	if got, ok := mustMembership(t, s, a[0].ID); !ok || !reflect.DeepEqual(got, wantA0) {
		t.Errorf("membership of a0 = %+v, %v; want %+v", got, ok, wantA0)
	}
	if got, ok := mustMembership(t, s, b[0].ID); !ok || !reflect.DeepEqual(got, canonMembership(given)) {
		t.Errorf("membership of b0 = %+v, %v; want %+v", got, ok, given)
	}
	if _, ok := mustMembership(t, s, a[2].ID); ok {
		t.Error("an undecided item has a membership")
	}
	if _, ok := mustCluster(t, s, "ghost"); ok {
		t.Error("a decision on an item never stored made a cluster")
	}
	c1, ok := mustCluster(t, s, "c1")
	want1 := aggregator.Cluster{ID: "c1", Representative: b[0].ID, Members: []aggregator.Membership{wantA0, canonMembership(given)},
		Published: b[0].Published, Updated: t1}
	if !ok || !reflect.DeepEqual(c1, want1) {
		t.Errorf("cluster c1 = %+v, %v;\nwant %+v", c1, ok, want1)
	}
	if c2, _ := mustCluster(t, s, "c2"); c2.Representative != a[1].ID || !slices.Equal(memberIDs(c2), []string{a[1].ID}) {
		t.Errorf("cluster c2 = %+v; want a1 as member and representative", c2)
	}
	if got := mustStats(t, s).Clusters; got != 2 {
		t.Errorf("Stats.Clusters = %d, want 2", got)
	}

	// b0, c1's representative, moves to c2; a representative that is no
	// member is ignored; deciding a0 again replaces its membership.
	again := joins(a[0].ID, "c1", b[1].ID)
	decide(t, s, t2, map[string]string{"c2": a[4].ID}, joins(b[0].ID, "c2", a[1].ID), again)
	c1, _ = mustCluster(t, s, "c1")
	again.Joined = t2
	want1 = aggregator.Cluster{ID: "c1", Representative: a[0].ID, Members: []aggregator.Membership{canonMembership(again)},
		Published: a[0].Published, Updated: t2}
	if !reflect.DeepEqual(c1, want1) {
		t.Errorf("c1 after b0 left = %+v;\nwant %+v", c1, want1)
	}
	c2, _ := mustCluster(t, s, "c2")
	if c2.Representative != a[1].ID || !slices.Equal(memberIDs(c2), []string{a[1].ID, b[0].ID}) ||
		!c2.Published.Equal(b[0].Published) || !c2.Updated.Equal(t2) {
		t.Errorf("c2 = %+v; want members a1, b0, representative a1, published %v, updated %v", c2, b[0].Published, t2)
	}

	// The last member leaving empties c1: it is gone.
	decide(t, s, t3, map[string]string{"c2": b[0].ID}, joins(a[0].ID, "c2", a[1].ID))
	if _, ok := mustCluster(t, s, "c1"); ok {
		t.Error("emptied cluster c1 still stored")
	}
	c2, _ = mustCluster(t, s, "c2")
	if c2.Representative != b[0].ID || !slices.Equal(memberIDs(c2), []string{a[1].ID, b[0].ID, a[0].ID}) {
		t.Errorf("c2 = %+v; want members a1, b0, a0, representative b0", c2)
	}
	if got := mustStats(t, s).Clusters; got != 1 {
		t.Errorf("Stats.Clusters = %d, want 1", got)
	}
}

// testClusterStamp: each store has its own instance; the sequence
// advances with every SaveDecisions and deletion, and storing fetches
// leaves it alone.
func testClusterStamp(t *testing.T, open opener) {
	s, other := open(t), open(t)
	s0 := mustStamp(t, s)
	if s0.Instance == ([16]byte{}) {
		t.Error("a new store has a zero instance")
	}
	if o := mustStamp(t, other); o.Instance == s0.Instance {
		t.Errorf("two stores share instance %x", s0.Instance)
	}
	items := realItems(t, "f", 220, 6, t0)
	last := s0
	for _, step := range []struct {
		name    string
		do      func()
		advance bool
	}{
		{"SaveFetches", func() { mustSave(t, s, "f", items) }, false},
		{"PutFeedState", func() {
			if err := s.PutFeedState(t.Context(), state("g")); err != nil {
				t.Fatal(err)
			}
		}, false},
		{"SaveDecisions", func() { decide(t, s, t0, nil, found(items[0].ID, "c")) }, true},
		{"SaveDecisions again", func() { decide(t, s, t0, nil, joins(items[1].ID, "c", items[0].ID)) }, true},
		{"refetch", func() { mustSave(t, s, "f", items) }, false},
		{"DeleteItem", func() {
			if err := s.DeleteItem(t.Context(), items[1].ID); err != nil {
				t.Fatal(err)
			}
		}, true},
		{"DeleteFeed", func() {
			if err := s.DeleteFeed(t.Context(), "f"); err != nil {
				t.Fatal(err)
			}
		}, true},
	} {
		step.do()
		cur := mustStamp(t, s)
		if cur.Instance != s0.Instance {
			t.Errorf("after %s: instance changed", step.name)
		}
		if got := cur.Seq > last.Seq; got != step.advance || cur.Seq < last.Seq {
			t.Errorf("after %s: sequence %d -> %d; want it to advance: %v", step.name, last.Seq, cur.Seq, step.advance)
		}
		last = cur
	}
}

// logFixture stores 6 items of feed f and three batches of decisions,
// returning the items and the stamps before and after each batch.
func logFixture(t *testing.T, s Store) ([]aggregator.Item, []aggregator.ClusterStamp) {
	items := dated(realItems(t, "f", 230, 6, t0), t0.Add(-6*time.Hour), time.Hour)
	mustSave(t, s, "f", items)
	stamps := []aggregator.ClusterStamp{mustStamp(t, s)}
	batches := []aggregator.Decisions{
		{Memberships: []aggregator.Membership{found(items[2].ID, "c2"), joins(items[0].ID, "c2", items[2].ID)},
			Now: t0, ExpiredBefore: t0.Add(-48 * time.Hour)},
		{Memberships: []aggregator.Membership{found(items[1].ID, "c1")}, Now: t0.Add(time.Minute)},
		{Memberships: []aggregator.Membership{joins(items[3].ID, "c1", items[1].ID), found(items[4].ID, "c4"),
			joins(items[0].ID, "c1", items[1].ID)}, Representatives: map[string]string{"c1": items[3].ID},
			Now: t0.Add(2 * time.Minute), ExpiredBefore: t0.Add(-47 * time.Hour)},
	}
	for _, d := range batches {
		if err := s.SaveDecisions(t.Context(), d); err != nil {
			t.Fatal(err)
		}
		stamps = append(stamps, mustStamp(t, s))
	}
	return items, stamps
}

// testClusterLogStart: an index saved at a stamp can catch up from the
// log when it is this store's, not from the future, nothing it needs was
// trimmed and nothing the log cannot replay (a deletion) came after it.
func testClusterLogStart(t *testing.T, open opener) {
	s := open(t)
	items, st := logFixture(t, s)
	foreign := mustStamp(t, open(t))
	foreign.Seq = st[1].Seq
	canStart := func(saved aggregator.ClusterStamp) bool {
		t.Helper()
		ok, err := s.ClusterLogStart(t.Context(), saved)
		if err != nil {
			t.Fatalf("cluster log start at %d: %v", saved.Seq, err)
		}
		return ok
	}
	check := func(when string, cases map[string]struct {
		stamp aggregator.ClusterStamp
		want  bool
	}) {
		t.Helper()
		for name, c := range cases {
			if got := canStart(c.stamp); got != c.want {
				t.Errorf("%s: start at %s (seq %d) = %v, want %v", when, name, c.stamp.Seq, got, c.want)
			}
		}
	}
	future := st[3]
	future.Seq++
	type tc = struct {
		stamp aggregator.ClusterStamp
		want  bool
	}
	check("after three batches", map[string]tc{
		"before any":        {st[0], true},
		"after the first":   {st[1], true},
		"current":           {st[3], true},
		"future":            {future, false},
		"zero instance":     {aggregator.ClusterStamp{Seq: st[1].Seq}, false},
		"another store's":   {foreign, false},
		"zero stamp":        {aggregator.ClusterStamp{}, false},
		"another at cur":    {aggregator.ClusterStamp{Instance: foreign.Instance, Seq: st[3].Seq}, false},
		"after the second":  {st[2], true},
		"current, repeated": {mustStamp(t, s), true},
	})
	// Pruning and storing fetches need no replay.
	mustSave(t, s, "f", items)
	old := t0.Add(-60 * 24 * time.Hour)
	mustSave(t, s, "g", dated(realItems(t, "g", 240, 2, old), old, time.Hour))
	if res := mustPrune(t, s, t0.Add(-30*24*time.Hour), 0); res.Items != 2 {
		t.Errorf("prune removed %d items, want 2", res.Items)
	}
	check("after fetches and a prune", map[string]tc{"before any": {st[0], true}, "current": {st[3], true}})

	if err := s.TrimClusterLog(t.Context(), st[1].Seq); err != nil {
		t.Fatal(err)
	}
	check("after trimming to the first", map[string]tc{
		"before any": {st[0], false}, "after the first": {st[1], true}, "after the second": {st[2], true},
		"current": {st[3], true},
	})
	if err := s.DeleteItem(t.Context(), items[5].ID); err != nil {
		t.Fatal(err)
	}
	afterDelete := mustStamp(t, s)
	check("after DeleteItem", map[string]tc{"before it": {st[3], false}, "after it": {afterDelete, true}})
	if err := s.DeleteFeed(t.Context(), "g"); err != nil {
		t.Fatal(err)
	}
	check("after DeleteFeed", map[string]tc{"before it": {afterDelete, false}, "after it": {mustStamp(t, s), true}})
}

// testClusterLog: the log holds one record per SaveDecisions, at the
// stamp it made, with the decisions in order and the items as now stored;
// deleted items drop out, and trimmed records are gone.
func testClusterLog(t *testing.T, open opener) {
	s := open(t)
	items, st := logFixture(t, s)
	read := func(after uint64) []aggregator.LogRecord {
		t.Helper()
		var recs []aggregator.LogRecord
		if err := s.ClusterLog(t.Context(), after, func(r aggregator.LogRecord) error {
			recs = append(recs, r)
			return nil
		}); err != nil {
			t.Fatalf("cluster log after %d: %v", after, err)
		}
		return recs
	}
	type pair struct{ item, cluster string }
	pairs := func(r aggregator.LogRecord) []pair {
		var out []pair
		for i, m := range r.Memberships {
			out = append(out, pair{m.Item, m.Cluster})
			if i >= len(r.Items) || r.Items[i].ID != m.Item {
				t.Errorf("record %d: Items and Memberships differ at %d", r.Seq, i)
			}
		}
		return out
	}
	want := []struct {
		seq     uint64
		expired time.Time
		pairs   []pair
	}{
		{st[1].Seq, t0.Add(-48 * time.Hour), []pair{{items[2].ID, "c2"}, {items[0].ID, "c2"}}},
		{st[2].Seq, time.Time{}, []pair{{items[1].ID, "c1"}}},
		{st[3].Seq, t0.Add(-47 * time.Hour), []pair{{items[3].ID, "c1"}, {items[4].ID, "c4"}, {items[0].ID, "c1"}}},
	}
	for _, tc := range []struct {
		after uint64
		from  int
	}{{0, 0}, {st[0].Seq, 0}, {st[1].Seq, 1}, {st[2].Seq, 2}, {st[3].Seq, 3}} {
		recs := read(tc.after)
		if len(recs) != len(want)-tc.from {
			t.Errorf("after %d: %d records, want %d", tc.after, len(recs), len(want)-tc.from)
			continue
		}
		for i, r := range recs {
			w := want[tc.from+i]
			if r.Seq != w.seq || !canonTime(r.ExpiredBefore).Equal(w.expired) || !slices.Equal(pairs(r), w.pairs) {
				t.Errorf("after %d, record %d = seq %d, expired %v, %v;\nwant seq %d, expired %v, %v",
					tc.after, i, r.Seq, r.ExpiredBefore, pairs(r), w.seq, w.expired, w.pairs)
			}
		}
	}

	// An error from fn stops the walk and comes back.
	stop := errors.New("stop")
	n := 0
	err := s.ClusterLog(t.Context(), 0, func(aggregator.LogRecord) error { n++; return stop })
	if !errors.Is(err, stop) || n != 1 {
		t.Errorf("fn failing: %d calls, error %v; want 1 call and %v", n, err, stop)
	}

	// Items come as now stored; deleted ones drop out.
	edited := items[2]
	edited.Title = "Update: " + edited.Title
	edited.Normalize("f")
	mustSave(t, s, "f", []aggregator.Item{edited})
	if err := s.DeleteItem(t.Context(), items[0].ID); err != nil {
		t.Fatal(err)
	}
	recs := read(0)
	if len(recs) != 3 {
		t.Fatalf("after an edit and a deletion: %d records, want 3", len(recs))
	}
	if got, want := pairs(recs[0]), []pair{{items[2].ID, "c2"}}; !slices.Equal(got, want) {
		t.Errorf("first record after deleting item 0 = %v, want %v", got, want)
	} else if got := recs[0].Items[0]; got.Title != edited.Title || !got.FirstSeen.Equal(t0) {
		t.Errorf("first record's item = %q first seen %v; want %q first seen %v", got.Title, got.FirstSeen, edited.Title, t0)
	}
	if got, want := pairs(recs[2]), []pair{{items[3].ID, "c1"}, {items[4].ID, "c4"}}; !slices.Equal(got, want) {
		t.Errorf("third record after deleting item 0 = %v, want %v", got, want)
	}
}

// testTrimClusterLog: trimming drops the records up to the point given,
// and the stamps before it can no longer catch up; trimming to an older
// point changes nothing.
func testTrimClusterLog(t *testing.T, open opener) {
	s := open(t)
	_, st := logFixture(t, s)
	seqs := func() []uint64 {
		t.Helper()
		var out []uint64
		if err := s.ClusterLog(t.Context(), 0, func(r aggregator.LogRecord) error {
			out = append(out, r.Seq)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return out
	}
	for _, step := range []struct {
		upTo  uint64
		want  []uint64
		start []bool // ClusterLogStart at st[0..3]
	}{
		{st[0].Seq, []uint64{st[1].Seq, st[2].Seq, st[3].Seq}, []bool{true, true, true, true}},
		{st[2].Seq, []uint64{st[3].Seq}, []bool{false, false, true, true}},
		{st[1].Seq, []uint64{st[3].Seq}, []bool{false, false, true, true}},
		{st[3].Seq, nil, []bool{false, false, false, true}},
	} {
		if err := s.TrimClusterLog(t.Context(), step.upTo); err != nil {
			t.Fatalf("trim to %d: %v", step.upTo, err)
		}
		if got := seqs(); !slices.Equal(got, step.want) {
			t.Errorf("after trimming to %d: records %v, want %v", step.upTo, got, step.want)
		}
		for i, want := range step.start {
			ok, err := s.ClusterLogStart(t.Context(), st[i])
			if err != nil {
				t.Fatal(err)
			}
			if ok != want {
				t.Errorf("after trimming to %d: start at %d = %v, want %v", step.upTo, st[i].Seq, ok, want)
			}
		}
	}
}

// testMoveInOneBatch: one batch may decide an item twice, as the
// pipeline's merges do (an item joins a cluster founded in the batch,
// then that cluster merges into an older one): the memberships apply in
// order, the item ends in the second cluster with the second decision,
// the cluster left empty is gone, and the log keeps both decisions in
// order for a replay to repeat.
func testMoveInOneBatch(t *testing.T, open opener) {
	s := open(t)
	a := dated(realItems(t, "a", 200, 4, t0), t0.Add(-5*time.Hour), time.Hour)
	mustSave(t, s, "a", a)
	t1, t2 := t0.Add(time.Minute), t0.Add(2*time.Minute)
	decide(t, s, t1, map[string]string{"c1": a[0].ID}, found(a[0].ID, "c1"), joins(a[1].ID, "c1", a[0].ID))
	st, err := s.ClusterStamp(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	moved := func(item string) aggregator.Membership {
		return aggregator.Membership{Item: item, Cluster: "c1", Reason: aggregator.ReasonMerged, Matched: a[2].ID, Score: 0.25, Joined: t2}
	}
	decide(t, s, t2, map[string]string{"c1": a[2].ID},
		found(a[2].ID, a[2].ID), joins(a[3].ID, a[2].ID, a[2].ID), moved(a[2].ID), moved(a[3].ID))
	if _, ok := mustCluster(t, s, a[2].ID); ok {
		t.Error("the cluster merged away is still stored")
	}
	c1, ok := mustCluster(t, s, "c1")
	if !ok || c1.Representative != a[2].ID || !slices.Equal(memberIDs(c1), []string{a[0].ID, a[1].ID, a[2].ID, a[3].ID}) {
		t.Errorf("c1 = %+v, %v; want members a0-a3, representative a2", c1, ok)
	}
	for _, id := range []string{a[2].ID, a[3].ID} {
		if got, _ := mustMembership(t, s, id); !reflect.DeepEqual(got, canonMembership(moved(id))) {
			t.Errorf("membership of %s = %+v, want %+v", id, got, moved(id))
		}
	}
	if got := mustStats(t, s).Clusters; got != 1 {
		t.Errorf("Stats.Clusters = %d, want 1", got)
	}
	var got []string
	if err := s.ClusterLog(t.Context(), st.Seq, func(r aggregator.LogRecord) error {
		for _, m := range r.Memberships {
			got = append(got, m.Item+" "+m.Cluster)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	want := []string{a[2].ID + " " + a[2].ID, a[3].ID + " " + a[2].ID, a[2].ID + " c1", a[3].ID + " c1"}
	if !slices.Equal(got, want) {
		t.Errorf("logged %q, want %q", got, want)
	}
}
