package storage_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"aggregator"
	"aggregator/storage"
)

// testdata/schema2.db was written by the program before checksums
// (commit dce3c01, schema 2): two feeds (one state in gob, its ETag not
// UTF-8), items, clusters, memberships, two cluster log records, a
// deletion's tombstone, pruned items' tombstones and their copies kept
// for the log. schema2.json is what dump read from it then, and
// schema2.export.json what Export gave.

// TestSchema2File: a database of the previous format opens, reads as it
// did (read-only or not), takes writes that mix checksummed values into
// it, and opens again.
func TestSchema2File(t *testing.T) {
	want, err := os.ReadFile(filepath.Join("testdata", "schema2.json"))
	if err != nil {
		t.Fatal(err)
	}
	wantExport, err := os.ReadFile(filepath.Join("testdata", "schema2.export.json"))
	if err != nil {
		t.Fatal(err)
	}
	check := func(t *testing.T, db *storage.DB) {
		t.Helper()
		got, err := dump(t.Context(), db)
		if err != nil {
			t.Fatal(err)
		}
		if got != strings.TrimSpace(string(want)) {
			t.Errorf("dump differs from what the schema 2 program read:\ngot  %s\nwant %s", got, want)
		}
		var recs []aggregator.DumpRecord
		if err := db.Export(t.Context(), func(r aggregator.DumpRecord) error { recs = append(recs, r); return nil }); err != nil {
			t.Fatal(err)
		}
		exp, err := json.Marshal(recs)
		if err != nil {
			t.Fatal(err)
		}
		if string(exp) != strings.TrimSpace(string(wantExport)) {
			t.Errorf("export differs from the schema 2 program's:\ngot  %s\nwant %s", exp, wantExport)
		}
		st, _, err := db.FeedState(t.Context(), "b")
		if err != nil || st.ETag != "\"\xff\xfe\"" {
			t.Errorf("feed b: ETag %q, %v; want the bytes \"\\xff\\xfe\"", st.ETag, err)
		}
	}
	for _, ro := range []bool{true, false} {
		name := map[bool]string{true: "read-only", false: "writer"}[ro]
		t.Run(name, func(t *testing.T) {
			path := copyDB(t, filepath.Join("testdata", "schema2.db"), func(b []byte) []byte { return b })
			db, err := storage.Open(path, storage.Options{NoSync: true, ReadOnly: ro})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			check(t, db)
			if ro {
				return
			}
			// Writes beside the old values: a new item, an edit of an
			// old one (a checksummed value replaces a plain one),
			// decisions on both, the deletion of an old one.
			ctx := t.Context()
			old, err := db.Pending(ctx, 0)
			if err != nil || len(old) == 0 {
				t.Fatalf("pending: %d items, %v", len(old), err)
			}
			feed := old[0].Feed
			fresh := aggregator.Item{GUID: "urn:new", Title: "Written by schema 3", FirstSeen: t0, Published: t0.Add(time.Hour)}
			fresh.Normalize(feed)
			edit := old[0]
			edit.Title += " (edited)"
			edit.Normalize(feed)
			if _, err := db.SaveFetch(ctx, aggregator.FeedState{Name: feed, URL: "http://127.0.0.1/" + feed}, []aggregator.Item{fresh, edit}); err != nil {
				t.Fatal(err)
			}
			c1Before, _, err := db.Cluster(ctx, "c1")
			if err != nil {
				t.Fatal(err)
			}
			ms := []aggregator.Membership{{Item: fresh.ID, Cluster: "c1"}, {Item: edit.ID, Cluster: "c1"}}
			if err := db.SaveDecisions(ctx, aggregator.Decisions{Memberships: ms, Now: t0}); err != nil {
				t.Fatal(err)
			}
			// c1 is now written as schema 4 writes clusters (member IDs
			// only): its old members read back whole, from memtime.
			c1After, _, err := db.Cluster(ctx, "c1")
			if err != nil {
				t.Fatal(err)
			}
			if len(c1After.Members) != len(c1Before.Members)+2 || !reflect.DeepEqual(c1After.Members[:len(c1Before.Members)], c1Before.Members) {
				t.Fatalf("cluster c1 after the decisions:\ngot  %+v\nwant %+v and the 2 new", c1After.Members, c1Before.Members)
			}
			stories, err := db.Stories(ctx, storage.StoryQuery{})
			if err != nil {
				t.Fatal(err)
			}
			var c1 *aggregator.Story
			for i := range stories {
				if stories[i].ID == "c1" {
					c1 = &stories[i]
				}
			}
			if c1 == nil || len(c1.Items) != len(c1Before.Members)+2 || c1.Items[len(c1.Items)-1].Title != edit.Title {
				t.Fatalf("story c1 after the decisions: %+v, want its %d old members and the 2 new", c1, len(c1Before.Members))
			}
			if err := db.DeleteItem(ctx, c1.Items[0].ID); err != nil {
				t.Fatal(err)
			}
			before, err := dump(ctx, db)
			if err != nil {
				t.Fatal(err)
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			db, err = storage.Open(path, storage.Options{NoSync: true})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			after, err := dump(ctx, db)
			if err != nil {
				t.Fatal(err)
			}
			if after != before {
				t.Errorf("reopened, the file reads otherwise:\ngot  %s\nwant %s", after, before)
			}
		})
	}
}
