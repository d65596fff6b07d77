package storage_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mmcdole/gofeed"

	"aggregator"
	"aggregator/internal/shareddata"
	"aggregator/storage"
)

// mustOpenDB opens a fresh database in a temporary directory and closes it
// when the test ends.
func mustOpenDB(t testing.TB) *storage.DB {
	t.Helper()
	db, err := storage.Open(filepath.Join(t.TempDir(), "test.db"), storage.Options{NoSync: true})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return db
}

// parsedFixtures caches the gofeed items of the shared RSS 2.0 fixtures:
// parsing them all takes a second under -race, and every test wants them.
var parsedFixtures = sync.OnceValues(func() ([]*gofeed.Item, error) {
	dir, err := shareddata.Dir()
	if err != nil {
		return nil, err
	}
	files, err := filepath.Glob(filepath.Join(dir, "feeds", "rss2", "*.xml"))
	if err != nil || len(files) == 0 {
		return nil, fmt.Errorf("no rss2 fixtures in %s: %v", dir, err)
	}
	slices.Sort(files)
	p := gofeed.NewParser()
	var out []*gofeed.Item
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		doc, err := p.Parse(bytes.NewReader(raw))
		if err != nil {
			continue // the set includes documents gofeed rejects
		}
		out = append(out, doc.Items...)
	}
	return out, nil
})

// realItems returns the items of the shared RSS 2.0 fixtures as fetched
// for the named feed, FirstSeen set to seen, one per distinct ID.
func realItems(t testing.TB, feed string, seen time.Time) []aggregator.Item {
	t.Helper()
	parsed, err := parsedFixtures()
	if err != nil {
		t.Fatal(err)
	}
	var out []aggregator.Item
	seenID := make(map[string]bool)
	for _, gi := range parsed {
		it := aggregator.Item{
			GUID: gi.GUID, URL: gi.Link, Title: gi.Title,
			Summary: gi.Description, Content: gi.Content,
			Categories: slices.Clone(gi.Categories), FirstSeen: seen,
		}
		if gi.PublishedParsed != nil {
			it.Published = *gi.PublishedParsed
		}
		if gi.UpdatedParsed != nil {
			it.Updated = *gi.UpdatedParsed
		}
		if len(gi.Authors) > 0 && gi.Authors[0] != nil {
			it.Author = gi.Authors[0].Name
		}
		it.Normalize(feed)
		if seenID[it.ID] {
			continue // fixtures share some GUIDs; tests want distinct items
		}
		seenID[it.ID] = true
		out = append(out, it)
	}
	if len(out) < 50 {
		t.Fatalf("only %d items parsed from the shared fixtures", len(out))
	}
	return out
}

// synthItems makes n distinct items of the named feed, one minute apart
// from base, with text taken from real items so sizes are realistic.
func synthItems(real []aggregator.Item, feed string, n int, base time.Time) []aggregator.Item {
	out := make([]aggregator.Item, n)
	for i := range out {
		it := real[i%len(real)]
		it.GUID = fmt.Sprintf("%s-%d", feed, i)
		it.Published = base.Add(time.Duration(i) * time.Minute)
		it.Normalize(feed)
		out[i] = it
	}
	return out
}

func ids(items []aggregator.Item) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.ID
	}
	return out
}

func mustSave(t testing.TB, db *storage.DB, feed string, items []aggregator.Item) storage.SaveResult {
	t.Helper()
	res, err := db.SaveFetch(context.Background(), aggregator.FeedState{Name: feed, URL: "http://127.0.0.1/" + feed}, items)
	if err != nil {
		t.Fatalf("save fetch %s: %v", feed, err)
	}
	return res
}
