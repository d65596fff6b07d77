package storetest

import (
	"errors"
	"slices"
	"testing"

	"aggregator"
)

// testFencedDecisions: a Fenced batch whose Base is the store's sequence
// is stored and moves the sequence on by exactly one; one whose Base is
// stale fails with ErrStaleIndex and stores nothing: no membership, the
// items still pending, the cluster log and the stamp as they were.
func testFencedDecisions(t *testing.T, open opener) {
	s := open(t)
	items := realItems(t, "f", 300, 3, t0)
	mustSave(t, s, "f", items)
	decide(t, s, t0, nil, found(items[0].ID, "c0")) // the sequence is past zero

	base := mustStamp(t, s)
	fenced := aggregator.Decisions{Memberships: []aggregator.Membership{found(items[1].ID, "c1")},
		Now: t0, Fenced: true, Base: base.Seq}
	if err := s.SaveDecisions(t.Context(), fenced); err != nil {
		t.Fatalf("fenced save at the store's sequence %d: %v", base.Seq, err)
	}
	if got := mustStamp(t, s).Seq; got != base.Seq+1 {
		t.Errorf("after a fenced save at %d: sequence %d, want %d", base.Seq, got, base.Seq+1)
	}
	if _, ok := mustMembership(t, s, items[1].ID); !ok {
		t.Errorf("fenced save at the right base: %s has no membership", items[1].ID)
	}

	// The unfenced path moves it by one too: the pipeline relies on it.
	before := mustStamp(t, s).Seq
	decide(t, s, t0, nil, joins(items[1].ID, "c0", items[0].ID))
	if got := mustStamp(t, s).Seq; got != before+1 {
		t.Errorf("after an unfenced save at %d: sequence %d, want %d", before, got, before+1)
	}

	cur := mustStamp(t, s)
	var logBefore []uint64
	logSeqs := func() []uint64 {
		var seqs []uint64
		err := s.ClusterLog(t.Context(), 0, func(r aggregator.LogRecord) error {
			seqs = append(seqs, r.Seq)
			return nil
		})
		if err != nil {
			t.Fatalf("cluster log: %v", err)
		}
		return seqs
	}
	logBefore = logSeqs()
	for _, stale := range []uint64{base.Seq, cur.Seq + 1, 0} {
		d := aggregator.Decisions{Memberships: []aggregator.Membership{found(items[2].ID, "c2")},
			Representatives: map[string]string{"c0": items[1].ID}, Now: t0, Fenced: true, Base: stale}
		err := s.SaveDecisions(t.Context(), d)
		if !errors.Is(err, aggregator.ErrStaleIndex) {
			t.Errorf("fenced save at stale base %d (store at %d): %v, want ErrStaleIndex", stale, cur.Seq, err)
		}
	}
	if got := mustStamp(t, s); got != cur {
		t.Errorf("after stale fenced saves: stamp %+v, want %+v", got, cur)
	}
	if _, ok := mustMembership(t, s, items[2].ID); ok {
		t.Errorf("a stale fenced save stored %s's membership", items[2].ID)
	}
	if _, ok := mustCluster(t, s, "c2"); ok {
		t.Error("a stale fenced save made cluster c2")
	}
	if c, _ := mustCluster(t, s, "c0"); c.Representative != items[0].ID {
		t.Errorf("a stale fenced save set c0's representative to %s", c.Representative)
	}
	if p := mustPending(t, s, 0); len(p) != 1 || p[0].ID != items[2].ID {
		t.Errorf("pending after stale fenced saves: %v, want [%s]", ids(p), items[2].ID)
	}
	if got := logSeqs(); !slices.Equal(got, logBefore) {
		t.Errorf("cluster log after stale fenced saves: %v, want %v", got, logBefore)
	}
}
