package storetest

import (
	"testing"
	"time"

	"aggregator"
)

// testRewound: a batch that decides anew on clustered items (Rewound)
// moves them between stories, removes a story it leaves empty, and resets
// the cluster log: an index saved before it can no longer catch up, one
// saved at it can.
func testRewound(t *testing.T, open opener) {
	s := open(t)
	items, st := logFixture(t, s)
	before := st[len(st)-1]
	// items[0] and items[3] are in c1, items[4] founded c4: redo them so
	// that items[4] joins c1 and c4 is left empty.
	d := aggregator.Decisions{
		Memberships: []aggregator.Membership{
			found(items[1].ID, "c1"), joins(items[3].ID, "c1", items[1].ID),
			joins(items[4].ID, "c1", items[1].ID), joins(items[0].ID, "c1", items[1].ID),
		},
		Now:     t0.Add(time.Hour),
		Rewound: true,
	}
	if err := s.SaveDecisions(t.Context(), d); err != nil {
		t.Fatal(err)
	}
	after := mustStamp(t, s)
	for name, c := range map[string]struct {
		stamp aggregator.ClusterStamp
		want  bool
	}{"saved before the rewind": {before, false}, "saved at it": {after, true}} {
		ok, err := s.ClusterLogStart(t.Context(), c.stamp)
		if err != nil {
			t.Fatal(err)
		}
		if ok != c.want {
			t.Errorf("%s: ClusterLogStart = %v, want %v", name, ok, c.want)
		}
	}
	if _, ok, err := s.Cluster(t.Context(), "c4"); err != nil || ok {
		t.Errorf("the story the rewind left empty: found %v (%v), want gone", ok, err)
	}
	c, ok, err := s.Cluster(t.Context(), "c1")
	if err != nil || !ok {
		t.Fatalf("c1: %v %v", ok, err)
	}
	var got []string
	for _, m := range c.Members {
		got = append(got, m.Item)
	}
	if len(got) != 4 {
		t.Errorf("c1 members %v, want the four redone items", got)
	}
	if m, _, _ := s.Membership(t.Context(), items[4].ID); m.Cluster != "c1" {
		t.Errorf("items[4] is in %q, want c1", m.Cluster)
	}
}
