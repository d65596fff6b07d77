package storetest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"slices"
	"sync"
	"testing"
	"time"

	"aggregator"
)

// testLatest: Latest is the newest Item.Time of any stored item, pending
// or not: an undated item counts at its FirstSeen, and it goes back when
// the newest is deleted.
func testLatest(t *testing.T, open opener) {
	s := open(t)
	latest := func() time.Time {
		t.Helper()
		got, err := s.Latest(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got := latest(); !got.IsZero() {
		t.Errorf("Latest of an empty store = %v, want zero", got)
	}
	items := dated(realItems(t, "f", 540, 5, t0), t0.Add(-48*time.Hour), time.Hour)
	items[1].Published = t0.Add(-2 * time.Hour) // newest, not last in the batch
	mustSave(t, s, "f", items)
	if got := latest(); !got.Equal(items[1].Published) {
		t.Errorf("Latest = %v, want %v", got, items[1].Published)
	}
	undated := realItems(t, "g", 545, 1, t0.Add(-time.Hour))
	undated[0].Published = time.Time{}
	mustSave(t, s, "g", undated)
	if got := latest(); !got.Equal(t0.Add(-time.Hour)) {
		t.Errorf("Latest with an undated item first seen at %v = %v", t0.Add(-time.Hour), got)
	}
	if err := s.DeleteFeed(t.Context(), "g"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteItem(t.Context(), items[1].ID); err != nil {
		t.Fatal(err)
	}
	if got := latest(); !got.Equal(items[4].Published) {
		t.Errorf("Latest after deleting the newest = %v, want %v", got, items[4].Published)
	}
}

// testRecent: Recent hands over every clustered item dated since, with its
// membership, in (Item.Time, ID) order, and no pending one; an error from
// fn stops it and comes back.
func testRecent(t *testing.T, open opener) {
	s := open(t)
	a := dated(realItems(t, "a", 550, 6, t0), t0.Add(-6*time.Hour), time.Hour)
	b := dated(realItems(t, "b", 556, 6, t0), t0.Add(-6*time.Hour), time.Hour) // the same times as a's
	mustSave(t, s, "a", a)
	mustSave(t, s, "b", b)
	var ms []aggregator.Membership
	cluster := make(map[string]string) // item ID -> cluster ID
	for i := range a {
		ms = append(ms, found(a[i].ID, "k"+a[i].ID))
		cluster[a[i].ID] = "k" + a[i].ID
		if i%2 == 0 {
			ms = append(ms, joins(b[i].ID, "k"+a[i].ID, a[i].ID))
			cluster[b[i].ID] = "k" + a[i].ID
		}
	}
	decide(t, s, t0, nil, ms...)
	clustered := append(slices.Clone(a), b[0], b[2], b[4])
	for _, since := range []time.Time{{}, t0.Add(-100 * time.Hour), t0.Add(-4 * time.Hour), t0.Add(-time.Hour), t0} {
		var want []aggregator.Item
		for _, it := range byTimeID(clustered) {
			if !it.Time().Before(since) {
				want = append(want, it)
			}
		}
		var got []aggregator.Item
		err := s.Recent(t.Context(), since, func(it aggregator.Item, m aggregator.Membership) error {
			if m.Item != it.ID || m.Cluster != cluster[it.ID] {
				t.Errorf("item %s came with membership %+v", it.ID, m)
			}
			got = append(got, it)
			return nil
		})
		if err != nil {
			t.Fatalf("recent since %v: %v", since, err)
		}
		if !slices.Equal(ids(got), ids(want)) {
			t.Errorf("Recent since %v = %v,\nwant %v", since, ids(got), ids(want))
		} else if !slices.EqualFunc(got, want, itemsEqual) {
			t.Errorf("Recent since %v: items differ from those stored", since)
		}
	}
	stop := errors.New("stop")
	n := 0
	err := s.Recent(t.Context(), time.Time{}, func(aggregator.Item, aggregator.Membership) error { n++; return stop })
	if !errors.Is(err, stop) || n != 1 {
		t.Errorf("fn failing: %d calls, error %v; want 1 call and %v", n, err, stop)
	}
}

// testStats: Stats counts items, clusters, feeds, tombstones and pending
// items as they change; Size is positive.
func testStats(t *testing.T, open opener) {
	s := open(t)
	type want struct{ items, clusters, feeds, tombstones, pending int }
	stats := func() want {
		t.Helper()
		st := mustStats(t, s)
		if st.Size < 0 {
			t.Errorf("Size = %d", st.Size)
		}
		return want{st.Items, st.Clusters, st.Feeds, st.Tombstones, st.Pending}
	}
	a := realItems(t, "a", 570, 8, t0)
	b := realItems(t, "b", 578, 4, t0)
	steps := []struct {
		name string
		do   func()
		want want
	}{
		{"empty", func() {}, want{}},
		{"state alone", func() {
			if err := s.PutFeedState(t.Context(), state("quiet")); err != nil {
				t.Fatal(err)
			}
		}, want{feeds: 1}},
		{"two fetches", func() { mustSave(t, s, "a", a); mustSave(t, s, "b", b) }, want{12, 0, 3, 0, 12}},
		{"decisions", func() {
			decide(t, s, t0, nil, found(a[0].ID, "c0"), joins(b[0].ID, "c0", a[0].ID), found(a[1].ID, "c1"))
		}, want{12, 2, 3, 0, 9}},
		{"refetch", func() { mustSave(t, s, "a", a) }, want{12, 2, 3, 0, 9}},
		{"delete an item", func() {
			if err := s.DeleteItem(t.Context(), a[1].ID); err != nil {
				t.Fatal(err)
			}
		}, want{11, 1, 3, 1, 9}},
		{"delete a feed", func() {
			if err := s.DeleteFeed(t.Context(), "b"); err != nil {
				t.Fatal(err)
			}
		}, want{7, 1, 2, 5, 6}},
	}
	for _, step := range steps {
		step.do()
		if got := stats(); got != step.want {
			t.Errorf("after %s: stats %+v, want %+v", step.name, got, step.want)
		}
	}
	if got := mustStats(t, s).Size; got <= 0 {
		t.Errorf("Size of a store holding items = %d, want > 0", got)
	}
}

// testVersion: Version changes with every committed write and with no
// read.
func testVersion(t *testing.T, open opener) {
	s := open(t)
	items := realItems(t, "f", 590, 4, t0)
	ctx := t.Context()
	for _, op := range []struct {
		name  string
		do    func() error
		write bool
	}{
		{"SaveFetches", func() error { mustSave(t, s, "f", items); return nil }, true},
		{"Stats", func() error { _, err := s.Stats(ctx); return err }, false},
		{"PutFeedState", func() error { return s.PutFeedState(ctx, state("g")) }, true},
		{"Pending", func() error { _, err := s.Pending(ctx, 0); return err }, false},
		{"SaveDecisions", func() error {
			return s.SaveDecisions(ctx, aggregator.Decisions{Memberships: []aggregator.Membership{found(items[0].ID, "c")}, Now: t0})
		}, true},
		{"Stories", func() error { _, err := s.Stories(ctx, aggregator.StoryQuery{}); return err }, false},
		{"DeleteItem", func() error { return s.DeleteItem(ctx, items[1].ID) }, true},
		{"DeleteFeed", func() error { return s.DeleteFeed(ctx, "g") }, true},
	} {
		before := s.Version()
		if err := op.do(); err != nil {
			t.Fatalf("%s: %v", op.name, err)
		}
		if changed := s.Version() != before; changed != op.write {
			t.Errorf("%s: Version %d -> %d; want a change: %v", op.name, before, s.Version(), op.write)
		}
	}
}

// testSavedIndex: there is no saved index at first; SaveIndex replaces it
// whole, and a write that fails, or is cancelled, leaves the old copy.
func testSavedIndex(t *testing.T, open opener) {
	s := open(t)
	read := func() ([]byte, bool) {
		t.Helper()
		rc, err := s.OpenSavedIndex(t.Context())
		if err != nil {
			t.Fatalf("open saved index: %v", err)
		}
		if rc == nil {
			return nil, false
		}
		defer rc.Close()
		b, err := io.ReadAll(rc)
		if err != nil {
			t.Fatalf("read saved index: %v", err)
		}
		return b, true
	}
	if b, ok := read(); ok {
		t.Errorf("a new store has a saved index of %d bytes", len(b))
	}
	big := bytes.Repeat([]byte("index page \x00\x01\x02\xff "), 1<<16) // 1 MiB, binary
	writeAll := func(p []byte) func(io.Writer) error {
		return func(w io.Writer) error {
			for chunk := range slices.Chunk(p, 4096) {
				if _, err := w.Write(chunk); err != nil {
					return err
				}
			}
			return nil
		}
	}
	boom := errors.New("index encoder failed")
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	for _, step := range []struct {
		name    string
		ctx     context.Context
		write   func(io.Writer) error
		wantErr bool
		want    []byte
	}{
		{"first save", t.Context(), writeAll([]byte("v1")), false, []byte("v1")},
		{"bigger replacement", t.Context(), writeAll(big), false, big},
		{"failing write", t.Context(), func(w io.Writer) error {
			w.Write([]byte("half an index"))
			return boom
		}, true, big},
		{"cancelled", cancelled, writeAll([]byte("v3")), true, big},
		{"smaller replacement", t.Context(), writeAll([]byte("v4")), false, []byte("v4")},
		{"empty", t.Context(), writeAll(nil), false, []byte{}},
	} {
		err := s.SaveIndex(step.ctx, step.write)
		if (err != nil) != step.wantErr {
			t.Errorf("%s: error %v, want an error: %v", step.name, err, step.wantErr)
		}
		if step.name == "failing write" && !errors.Is(err, boom) {
			t.Errorf("%s: error %v, want %v wrapped", step.name, err, boom)
		}
		got, ok := read()
		if !ok || !bytes.Equal(got, step.want) {
			t.Errorf("after %s: saved index of %d bytes (present %v), want %d bytes", step.name, len(got), ok, len(step.want))
		}
	}
}

// testSavedIndexWhole: a copy being read stays whole while another is
// saved (a process of a fleet may load the index another is replacing),
// and of saves racing each other one wins whole.
func testSavedIndexWhole(t *testing.T, open opener) {
	s := open(t)
	copyOf := func(c byte) []byte { return bytes.Repeat([]byte{c, c + 1, 0, 0xff}, 1<<18) } // 1 MiB
	save := func(p []byte) error {
		return s.SaveIndex(t.Context(), func(w io.Writer) error {
			for chunk := range slices.Chunk(p, 64<<10) {
				if _, err := w.Write(chunk); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err := save(copyOf('a')); err != nil {
		t.Fatal(err)
	}
	rc, err := s.OpenSavedIndex(t.Context())
	if err != nil || rc == nil {
		t.Fatalf("open saved index: %v, %v", rc, err)
	}
	head := make([]byte, 1000)
	if _, err := io.ReadFull(rc, head); err != nil {
		t.Fatal(err)
	}
	if err := save(copyOf('b')); err != nil {
		t.Fatal(err)
	}
	rest, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		t.Fatalf("reading on after a save: %v", err)
	}
	if got := append(head, rest...); !bytes.Equal(got, copyOf('a')) {
		t.Errorf("a copy read across a save: %d bytes, not the copy it started as (%d bytes)", len(got), len(copyOf('a')))
	}

	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() { errs[i] = save(copyOf(byte('c' + 2*i))) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("racing save %d: %v", i, err)
		}
	}
	rc, err = s.OpenSavedIndex(t.Context())
	if err != nil || rc == nil {
		t.Fatalf("open saved index: %v, %v", rc, err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc([]byte{'c', 'e', 'g', 'i'}, func(c byte) bool { return bytes.Equal(got, copyOf(c)) }) {
		t.Errorf("after racing saves: %d bytes that are none of the copies saved", len(got))
	}
}
