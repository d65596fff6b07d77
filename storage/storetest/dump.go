package storetest

import (
	"cmp"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"aggregator"
)

// richFixture fills s with a bit of everything a store holds: feed
// states with and without items, pending and clustered items, an edited
// one, stories with representatives, deletion and prune tombstones, and a
// cluster log trimmed at its first batch. It returns the stamps after
// that first batch and after the last change the log cannot replay.
func richFixture(t *testing.T, s Store) (first, resumable aggregator.ClusterStamp) {
	a := dated(realItems(t, "a", 600, 6, t0), t0.Add(-6*time.Hour), time.Hour)
	b := dated(realItems(t, "b", 606, 4, t0), t0.Add(-5*time.Hour), 90*time.Minute)
	longAgo := t0.Add(-20 * 24 * time.Hour)
	old := dated(realItems(t, "old", 610, 3, longAgo), longAgo, time.Hour)
	stA := state("a")
	stA.ETag, stA.LastFetch, stA.NextFetch, stA.LastStatus, stA.LastResult = `"e1"`, t0, t0.Add(time.Hour), 200, "ok"
	stA.SkipHours, stA.MeanItemGap, stA.Node = 1<<23, 3600, "node-a"
	if _, errs := s.SaveFetches(t.Context(), []aggregator.Fetched{
		{State: stA, Items: a}, {State: state("b"), Items: b}, {State: state("old"), Items: old},
	}); errors.Join(errs...) != nil {
		t.Fatal(errors.Join(errs...))
	}
	quiet := state("quiet")
	quiet.Disabled, quiet.DisabledReason, quiet.LastStatus = true, "410 Gone", 410
	quiet.ETag, quiet.Node = "\xfe", "node-q" // gob in both stores
	if err := s.PutFeedState(t.Context(), quiet); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveDecisions(t.Context(), aggregator.Decisions{
		Memberships: []aggregator.Membership{found(a[0].ID, "s0"), joins(b[0].ID, "s0", a[0].ID), found(a[1].ID, "s1"),
			found(old[0].ID, "s-old")},
		Representatives: map[string]string{"s0": b[0].ID}, Now: t0, ExpiredBefore: t0.Add(-72 * time.Hour),
	}); err != nil {
		t.Fatal(err)
	}
	first = mustStamp(t, s)
	decide(t, s, t0.Add(time.Minute), nil, joins(b[1].ID, "s1", a[1].ID), found(a[2].ID, "s2"), joins(a[3].ID, "s2", a[2].ID))
	edited := a[3]
	edited.Title, edited.Categories = "Update: "+edited.Title, []string{"politics", "update"}
	edited.Normalize("a")
	mustSave(t, s, "a", []aggregator.Item{edited})
	if err := s.DeleteItem(t.Context(), a[2].ID); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteItem(t.Context(), realItems(t, "b", 620, 1, t0)[0].ID); err != nil {
		t.Fatal(err)
	}
	if res := mustPrune(t, s, t0.Add(-24*time.Hour), 0); res.Items != 3 {
		t.Fatalf("prune removed %d items, want 3", res.Items)
	}
	resumable = mustStamp(t, s)
	decide(t, s, t0.Add(2*time.Minute), map[string]string{"s1": b[1].ID}, joins(a[4].ID, "s1", a[1].ID))
	if err := s.TrimClusterLog(t.Context(), first.Seq); err != nil {
		t.Fatal(err)
	}
	return first, resumable
}

// export reads a store's whole content.
func export(t *testing.T, s Store) []aggregator.DumpRecord {
	t.Helper()
	var recs []aggregator.DumpRecord
	if err := s.Export(t.Context(), func(r aggregator.DumpRecord) error {
		recs = append(recs, r)
		return nil
	}); err != nil {
		t.Fatalf("export: %v", err)
	}
	return recs
}

// dumpKind is a record's place in the order Export writes.
func dumpKind(r aggregator.DumpRecord) (kind int, err error) {
	set := 0
	for i, p := range []bool{r.Meta != nil, r.Feed != nil, r.Item != nil, r.Membership != nil, r.Cluster != nil,
		r.Tombstone != nil, r.Log != nil} {
		if p {
			set++
			kind = i
		}
	}
	if set != 1 {
		return 0, fmt.Errorf("%d fields set, want 1", set)
	}
	return kind, nil
}

// dump is a store's content in one canonical form: within each kind of
// record, in key order, every value as canonItem and its kin make it.
type dump struct {
	Meta        aggregator.DumpMeta
	Feeds       []aggregator.FeedState
	Items       []aggregator.Item
	Memberships map[string]aggregator.Membership
	Clusters    []aggregator.Cluster
	Tombstones  []aggregator.Tombstone
	Logs        []aggregator.LogRecord
}

func canonDump(t *testing.T, recs []aggregator.DumpRecord) dump {
	t.Helper()
	d := dump{Memberships: make(map[string]aggregator.Membership)}
	for _, r := range recs {
		switch {
		case r.Meta != nil:
			d.Meta = *r.Meta
		case r.Feed != nil:
			d.Feeds = append(d.Feeds, canonState(*r.Feed))
		case r.Item != nil:
			d.Items = append(d.Items, canonItem(*r.Item))
		case r.Membership != nil:
			d.Memberships[r.Membership.Item] = canonMembership(*r.Membership)
		case r.Cluster != nil:
			d.Clusters = append(d.Clusters, canonCluster(*r.Cluster))
		case r.Tombstone != nil:
			ts := *r.Tombstone
			ts.At = canonTime(ts.At)
			d.Tombstones = append(d.Tombstones, ts)
		case r.Log != nil:
			l := *r.Log
			l.ExpiredBefore = canonTime(l.ExpiredBefore)
			ms := make([]aggregator.Membership, len(l.Memberships))
			for i, m := range l.Memberships {
				ms[i] = canonMembership(m)
			}
			l.Memberships, l.Items = ms, nil
			d.Logs = append(d.Logs, l)
		}
	}
	slices.SortFunc(d.Feeds, func(a, b aggregator.FeedState) int { return cmp.Compare(a.Name, b.Name) })
	d.Items = byTimeID(d.Items)
	slices.SortFunc(d.Clusters, func(a, b aggregator.Cluster) int { return cmp.Compare(a.ID, b.ID) })
	slices.SortFunc(d.Tombstones, func(a, b aggregator.Tombstone) int { return cmp.Compare(a.ID, b.ID) })
	slices.SortFunc(d.Logs, func(a, b aggregator.LogRecord) int { return cmp.Compare(a.Seq, b.Seq) })
	return d
}

// diffDumps reports how two dumps differ, part by part.
func diffDumps(t *testing.T, what string, got, want dump) {
	t.Helper()
	gv, wv := reflect.ValueOf(got), reflect.ValueOf(want)
	for i := range gv.NumField() {
		if g, w := gv.Field(i).Interface(), wv.Field(i).Interface(); !reflect.DeepEqual(g, w) {
			t.Errorf("%s: %s differ:\ngot  %+v\nwant %+v", what, gv.Type().Field(i).Name, g, w)
		}
	}
}

// testExportImport: Export writes every record once, in the documented
// order, and importing them into a fresh store gives one that exports the
// same, reads the same and goes on where the first left off: the same
// stamp and log, so a saved index stays valid, and the same tombstones.
func testExportImport(t *testing.T, open opener) {
	src := open(t)
	first, resumable := richFixture(t, src)
	recs := export(t, src)

	// The stream's shape.
	last := -1
	var prevItem *aggregator.Item
	for i, r := range recs {
		kind, err := dumpKind(r)
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		if i == 0 && kind != 0 || i > 0 && kind == 0 {
			t.Errorf("record %d: Meta at %d, want it first and once", i, i)
		}
		if kind == 3 && (prevItem == nil || prevItem.ID != r.Membership.Item) {
			t.Errorf("record %d: membership of %s does not follow its item", i, r.Membership.Item)
		}
		if kind < last && !(kind == 2 && last == 3) {
			t.Errorf("record %d: kind %d after kind %d", i, kind, last)
		}
		if kind == 2 {
			if prevItem != nil && r.Item.Time().Before(prevItem.Time()) {
				t.Errorf("record %d: item %s dated %v after one dated %v; want oldest first", i, r.Item.ID, r.Item.Time(), prevItem.Time())
			}
			prevItem = r.Item
		}
		if kind == 6 && len(r.Log.Items) != 0 {
			t.Errorf("record %d: log batch %d has %d items, want none", i, r.Log.Seq, len(r.Log.Items))
		}
		last = kind
	}
	want := canonDump(t, recs)
	stats := mustStats(t, src)
	stamp := mustStamp(t, src)
	states, err := src.FeedStates(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	clustered := 0
	for _, r := range recs {
		if r.Membership != nil {
			clustered++
		}
	}
	if len(want.Feeds) != len(states) || len(want.Items) != stats.Items || clustered != stats.Items-stats.Pending ||
		len(want.Clusters) != stats.Clusters || len(want.Tombstones) != stats.Tombstones {
		t.Errorf("export: %d feeds, %d items, %d memberships, %d clusters, %d tombstones; the store has %d, %d, %d, %d, %d",
			len(want.Feeds), len(want.Items), clustered, len(want.Clusters), len(want.Tombstones),
			len(states), stats.Items, stats.Items-stats.Pending, stats.Clusters, stats.Tombstones)
	}
	if want.Meta.Stamp != stamp {
		t.Errorf("exported stamp %+v, store's %+v", want.Meta.Stamp, stamp)
	}
	if len(want.Logs) != 2 || want.Logs[0].Seq <= first.Seq {
		t.Errorf("exported log batches %+v; want the 2 after %d", want.Logs, first.Seq)
	}
	if !slices.ContainsFunc(want.Tombstones, func(ts aggregator.Tombstone) bool { return ts.Pruned }) ||
		!slices.ContainsFunc(want.Tombstones, func(ts aggregator.Tombstone) bool { return !ts.Pruned }) {
		t.Errorf("exported tombstones %+v; want pruned ones and deleted ones", want.Tombstones)
	}

	dst := open(t)
	if err := dst.Import(t.Context(), func(put func(aggregator.DumpRecord) error) error {
		for _, r := range recs {
			if err := put(r); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatalf("import: %v", err)
	}
	diffDumps(t, "export of the imported store", canonDump(t, export(t, dst)), want)
	// Streamed, as a migration runs: each record goes into the other store
	// while the export is still reading.
	streamed := open(t)
	if err := streamed.Import(t.Context(), func(put func(aggregator.DumpRecord) error) error {
		return src.Export(t.Context(), put)
	}); err != nil {
		t.Fatalf("streamed import: %v", err)
	}
	diffDumps(t, "export of the store imported streaming", canonDump(t, export(t, streamed)), want)

	// The imported store reads as the first does.
	if got := mustStamp(t, dst); got != stamp {
		t.Errorf("imported stamp %+v, want %+v", got, stamp)
	}
	for _, tc := range []struct {
		saved aggregator.ClusterStamp
		want  bool
	}{{first, false}, {resumable, true}, {stamp, true}} {
		if ok, err := dst.ClusterLogStart(t.Context(), tc.saved); err != nil || ok != tc.want {
			t.Errorf("imported store: start at %d = %v, %v; want %v", tc.saved.Seq, ok, err, tc.want)
		}
	}
	got := mustStats(t, dst)
	got.Size, stats.Size = 0, 0
	if got != stats {
		t.Errorf("imported stats %+v, want %+v", got, stats)
	}
	if g, w := mustStories(t, dst, aggregator.StoryQuery{}), mustStories(t, src, aggregator.StoryQuery{}); !reflect.DeepEqual(g, w) {
		t.Errorf("imported stories:\ngot  %+v\nwant %+v", g, w)
	}
	if g, w := mustPending(t, dst, 0), mustPending(t, src, 0); !slices.EqualFunc(g, w, itemsEqual) {
		t.Errorf("imported pending %v, want %v", ids(g), ids(w))
	}
	logOf := func(s Store) []aggregator.LogRecord {
		var out []aggregator.LogRecord
		if err := s.ClusterLog(t.Context(), 0, func(r aggregator.LogRecord) error {
			r.ExpiredBefore = canonTime(r.ExpiredBefore)
			r.Items = canonItems(r.Items)
			out = append(out, r)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return out
	}
	if g, w := logOf(dst), logOf(src); !reflect.DeepEqual(g, w) {
		t.Errorf("imported cluster log:\ngot  %+v\nwant %+v", g, w)
	}
	if g, err := dst.Latest(t.Context()); err != nil || !g.Equal(mustLatest(t, src)) {
		t.Errorf("imported Latest = %v, %v; want %v", g, err, mustLatest(t, src))
	}

	// And goes on as the first would: tombstones hold, the stamp moves on
	// from where it was.
	for _, s := range []Store{src, dst} {
		refetch := append(realItems(t, "b", 620, 1, t0), dated(realItems(t, "old", 610, 3, t0.Add(-20*24*time.Hour)), t0.Add(-20*24*time.Hour), time.Hour)...)
		if got := countsOf(mustSave(t, s, "b", refetch[:1])); got != (counts{Deleted: 1}) {
			t.Errorf("%s: refetch of a deleted item: %+v, want 1 deleted", s.Where(), got)
		}
		if got := countsOf(mustSave(t, s, "old", refetch[1:])); got != (counts{Deleted: 3}) {
			t.Errorf("%s: refetch of pruned items: %+v, want 3 deleted", s.Where(), got)
		}
		p := mustPending(t, s, 1)
		decide(t, s, t0.Add(time.Hour), nil, found(p[0].ID, "next"))
		if got := mustStamp(t, s); got.Instance != stamp.Instance || got.Seq <= stamp.Seq {
			t.Errorf("%s: stamp after more decisions %+v, want %x after %d", s.Where(), got, stamp.Instance, stamp.Seq)
		}
	}
	if g, w := mustStamp(t, dst), mustStamp(t, src); g != w {
		t.Errorf("after the same decisions: stamps %+v and %+v differ", g, w)
	}
}

func mustLatest(t *testing.T, s Store) time.Time {
	t.Helper()
	l, err := s.Latest(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// produceAll hands recs to put, stopping at its first error.
func produceAll(recs []aggregator.DumpRecord) func(put func(aggregator.DumpRecord) error) error {
	return func(put func(aggregator.DumpRecord) error) error {
		for _, r := range recs {
			if err := put(r); err != nil {
				return err
			}
		}
		return nil
	}
}

// testImportRefusesNonEmpty: Import fills only an empty store, and leaves a
// store it refuses as it was; errors from the producer, from Export's put
// and a stream without its Meta first come back.
func testImportRefusesNonEmpty(t *testing.T, open opener) {
	src := open(t)
	richFixture(t, src)
	recs := export(t, src)
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, s Store)
	}{
		{"a feed state", func(t *testing.T, s Store) {
			if err := s.PutFeedState(t.Context(), state("x")); err != nil {
				t.Fatal(err)
			}
		}},
		{"items", func(t *testing.T, s Store) { mustSave(t, s, "x", realItems(t, "x", 630, 2, t0)) }},
		{"a tombstone", func(t *testing.T, s Store) {
			if err := s.DeleteItem(t.Context(), realItems(t, "x", 632, 1, t0)[0].ID); err != nil {
				t.Fatal(err)
			}
		}},
		{"an import", func(t *testing.T, s Store) {
			if err := s.Import(t.Context(), produceAll(recs)); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			tc.setup(t, s)
			before := canonDump(t, export(t, s))
			if err := s.Import(t.Context(), produceAll(recs)); err == nil {
				t.Error("import into a store holding " + tc.name + " succeeded")
			}
			diffDumps(t, "after a refused import", canonDump(t, export(t, s)), before)
		})
	}

	boom := errors.New("dump file truncated")
	if err := open(t).Import(t.Context(), func(put func(aggregator.DumpRecord) error) error {
		if err := put(recs[0]); err != nil {
			return err
		}
		return boom
	}); !errors.Is(err, boom) {
		t.Errorf("import with a failing producer: %v, want %v", err, boom)
	}
	if err := open(t).Import(t.Context(), produceAll(recs[1:])); err == nil {
		t.Error("import of a stream without its Meta succeeded")
	}
	if err := open(t).Import(t.Context(), func(put func(aggregator.DumpRecord) error) error {
		for _, r := range append([]aggregator.DumpRecord{recs[0]}, recs...) { // Meta twice
			put(r) // errors ignored: the import must fail all the same
		}
		return nil
	}); err == nil {
		t.Error("import whose producer ignored put's error succeeded")
	}
	n := 0
	if err := src.Export(t.Context(), func(aggregator.DumpRecord) error { n++; return boom }); !errors.Is(err, boom) || n != 1 {
		t.Errorf("export with a failing put: %d calls, %v; want 1 call and %v", n, err, boom)
	}
}

// testExportEmpty: a new store exports its Meta alone, and importing that
// gives a store with the same stamp.
func testExportEmpty(t *testing.T, open opener) {
	src := open(t)
	if src.Where() == "" {
		t.Error("Where() is empty")
	}
	recs := export(t, src)
	if len(recs) != 1 || recs[0].Meta == nil {
		t.Fatalf("export of a new store: %d records %+v, want its Meta alone", len(recs), recs)
	}
	if got, want := recs[0].Meta.Stamp, mustStamp(t, src); got != want {
		t.Errorf("exported stamp %+v, want %+v", got, want)
	}
	dst := open(t)
	if err := dst.Import(t.Context(), produceAll(recs)); err != nil {
		t.Fatalf("import: %v", err)
	}
	if got, want := mustStamp(t, dst), mustStamp(t, src); got != want {
		t.Errorf("imported stamp %+v, want %+v", got, want)
	}
	diffDumps(t, "export of the imported store", canonDump(t, export(t, dst)), canonDump(t, recs))
}
