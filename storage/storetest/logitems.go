package storetest

import (
	"testing"
	"time"

	"aggregator"
)

// testLogItemsAsDecided: the cluster log gives its items as they were
// decided on, even when a fetch has edited one since or Prune has removed
// one (a replay with other items would give another index than the one
// that decided); a deleted item drops out.
func testLogItemsAsDecided(t *testing.T, open opener) {
	s := open(t)
	old := t0.Add(-60 * 24 * time.Hour)
	items := dated(realItems(t, "f", 300, 3, old), old, time.Hour)
	mustSave(t, s, "f", items)
	decide(t, s, old, nil, found(items[0].ID, "c0"), found(items[1].ID, "c1"), found(items[2].ID, "c2"))

	edited := items[2] // the newest: Prune keeps it
	edited.Title = "An edited headline " + edited.Title
	edited.Hash = aggregator.ContentHash(edited.Title, edited.Summary, edited.Content, edited.URL)
	if res := mustSave(t, s, "f", []aggregator.Item{edited}); len(res.Updated) != 1 {
		t.Fatalf("the edit was not stored as an update: %+v", res)
	}
	if res := mustPrune(t, s, t0.Add(-30*24*time.Hour), 1); res.Items != 2 {
		t.Fatalf("prune removed %d items, want 2 (the newest one kept)", res.Items)
	}
	var recs []aggregator.LogRecord
	if err := s.ClusterLog(t.Context(), 0, func(r aggregator.LogRecord) error {
		recs = append(recs, r)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 {
		t.Fatalf("%d log records, want 1", len(recs))
	}
	got := map[string]aggregator.Item{}
	for _, it := range recs[0].Items {
		got[it.ID] = it
	}
	for _, it := range items {
		g, ok := got[it.ID]
		if !ok {
			t.Errorf("item %s (pruned or edited since) is missing from the log record", it.ID)
			continue
		}
		if g.Title != it.Title {
			t.Errorf("item %s replays with title %q, want the one decided on, %q", it.ID, g.Title, it.Title)
		}
	}
}
