package storage_test

import (
	"context"
	"testing"
	"time"

	"aggregator"
	"aggregator/storage"
)

// TestClusterLog: SaveDecisions records what a saved index needs to catch
// up, in order; deletions and trimming make older stamps unusable, and
// Prune (which removes only items older than any indexed) does not.
func TestClusterLog(t *testing.T) {
	db := mustOpenDB(t)
	items := synthItems(realItems(t, "x", t0), "f", 6, t0)
	mustSave(t, db, "f", items)
	stamp := func() storage.ClusterStamp {
		t.Helper()
		s, err := db.ClusterStamp(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	canStart := func(s storage.ClusterStamp) bool {
		t.Helper()
		ok, err := db.ClusterLogStart(context.Background(), s)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	s0 := stamp()
	exp := t0.Add(-time.Hour)
	if err := db.SaveDecisions(context.Background(), storage.Decisions{
		Memberships: []aggregator.Membership{
			{Item: items[2].ID, Cluster: items[2].ID, Reason: aggregator.ReasonFirst},
			{Item: items[0].ID, Cluster: items[2].ID, Reason: aggregator.ReasonSimilar},
		},
		Now: t0, ExpiredBefore: exp,
	}); err != nil {
		t.Fatal(err)
	}
	s1 := stamp()
	if err := db.SaveDecisions(context.Background(), storage.Decisions{
		Memberships: []aggregator.Membership{{Item: items[1].ID, Cluster: items[1].ID, Reason: aggregator.ReasonFirst}},
		Now:         t0,
	}); err != nil {
		t.Fatal(err)
	}
	s2 := stamp()
	if !(s0.Seq < s1.Seq && s1.Seq < s2.Seq) {
		t.Fatalf("stamps %d, %d, %d do not advance", s0.Seq, s1.Seq, s2.Seq)
	}

	var recs []storage.LogRecord
	if err := db.ClusterLog(context.Background(), s0.Seq, func(r storage.LogRecord) error { recs = append(recs, r); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || recs[0].Seq != s1.Seq || recs[1].Seq != s2.Seq {
		t.Fatalf("log after %d: %d records, want those of %d and %d", s0.Seq, len(recs), s1.Seq, s2.Seq)
	}
	r := recs[0]
	if !r.ExpiredBefore.Equal(exp) || len(r.Items) != 2 || r.Items[0].ID != items[2].ID || r.Items[1].ID != items[0].ID ||
		r.Memberships[1].Item != items[0].ID || r.Memberships[1].Cluster != items[2].ID || r.Items[0].Title != items[2].Title {
		t.Errorf("first record = %+v; want items 2 then 0, both in cluster %s, expiry %v", r, items[2].ID, exp)
	}
	recs = nil
	if err := db.ClusterLog(context.Background(), s1.Seq, func(r storage.LogRecord) error { recs = append(recs, r); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0].Seq != s2.Seq {
		t.Errorf("log after %d: %d records, want the one of %d", s1.Seq, len(recs), s2.Seq)
	}
	for _, s := range []storage.ClusterStamp{s0, s1, s2} {
		if !canStart(s) {
			t.Errorf("an index saved at %d cannot catch up", s.Seq)
		}
	}
	if canStart(storage.ClusterStamp{Seq: s1.Seq}) {
		t.Error("an index saved from another file can catch up")
	}

	// Prune changes no indexed item: every stamp can still catch up.
	if _, err := db.Prune(context.Background(), t0.Add(-24*time.Hour), 0); err != nil {
		t.Fatal(err)
	}
	if !canStart(s1) {
		t.Error("after Prune, an index saved at s1 cannot catch up")
	}
	// Trimming up to s1 leaves s1 and later.
	if err := db.TrimClusterLog(context.Background(), s1.Seq); err != nil {
		t.Fatal(err)
	}
	if canStart(s0) || !canStart(s1) || !canStart(s2) {
		t.Errorf("after trimming to %d: start at s0 %v, s1 %v, s2 %v; want false, true, true", s1.Seq, canStart(s0), canStart(s1), canStart(s2))
	}
	// A deletion cannot be replayed: only an index saved after it can go on.
	if err := db.DeleteItem(context.Background(), items[5].ID); err != nil {
		t.Fatal(err)
	}
	if canStart(s2) || !canStart(stamp()) {
		t.Errorf("after DeleteItem: start at s2 %v, at the new stamp %v; want false, true", canStart(s2), canStart(stamp()))
	}
}
