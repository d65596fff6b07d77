package storage

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"aggregator"
)

// TestClusterLogKeepsWhatItDecided: the cluster log replays items as they
// were decided on, even after Prune removed them or a fetch changed
// their text; trimming the log drops the copies it kept for that.
func TestClusterLogKeepsWhatItDecided(t *testing.T) {
	ctx := context.Background()
	db, err := Open(filepath.Join(t.TempDir(), "t.db"), Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	old := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	mk := func(guid, title string, i int) aggregator.Item {
		it := aggregator.Item{GUID: guid, Title: title, Published: old.Add(time.Duration(i) * time.Hour), FirstSeen: old}
		it.Normalize("f")
		return it
	}
	decided := []aggregator.Item{mk("a", "Harbour bridge closes", 0), mk("b", "Council approves tram budget", 1), mk("c", "Museum reopens its wing", 2)}
	st := aggregator.FeedState{Name: "f", URL: "http://127.0.0.1/f"}
	if _, err := db.SaveFetch(ctx, st, decided); err != nil {
		t.Fatal(err)
	}
	var ms []aggregator.Membership
	for _, it := range decided {
		ms = append(ms, aggregator.Membership{Item: it.ID, Cluster: "c-" + it.ID, Reason: aggregator.ReasonFirst})
	}
	if err := db.SaveDecisions(ctx, aggregator.Decisions{Memberships: ms, Now: old}); err != nil {
		t.Fatal(err)
	}
	// The publisher edits b's title; then every item is pruned.
	edited := slices.Clone(decided)
	edited[1] = mk("b", "Council approves tram budget after a long debate", 1)
	res, err := db.SaveFetch(ctx, st, edited)
	if err != nil || len(res.Updated) != 1 {
		t.Fatalf("edit: %+v, %v", res, err)
	}
	if _, err := db.SaveFetch(ctx, st, edited); err != nil { // a second fetch keeps the first copy
		t.Fatal(err)
	}
	pr, err := db.Prune(ctx, old.Add(30*24*time.Hour), 0)
	if err != nil || pr.Items != 3 {
		t.Fatalf("prune: %+v, %v", pr, err)
	}
	var got []string
	stamp, err := db.ClusterStamp(ctx)
	if err != nil {
		t.Fatal(err)
	}
	err = db.ClusterLog(ctx, 0, func(r aggregator.LogRecord) error {
		for _, it := range r.Items {
			got = append(got, it.Title)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{decided[0].Title, decided[1].Title, decided[2].Title}; !slices.Equal(got, want) {
		t.Errorf("the log replays %q, want the decided %q", got, want)
	}
	if err := db.TrimClusterLog(ctx, stamp.Seq); err != nil {
		t.Fatal(err)
	}
	var kept int
	db.view(context.Background(), func(tx *bolt.Tx) error {
		kept = tx.Bucket(bucketLogItems).Stats().KeyN
		return nil
	})
	if kept != 0 {
		t.Errorf("after the trim %d copies are kept, want 0", kept)
	}
}
