package score_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/mmcdole/gofeed"

	"aggregator/dedupe/score"
)

// TestRSS: what RSS writes parses back to the same items, markup in the
// text included.
func TestRSS(t *testing.T) {
	at := time.Date(2014, 3, 11, 12, 0, 0, 0, time.UTC)
	items := []score.Item{
		{ID: "uci-1", Title: "Fed & ECB <hold> rates", URL: "https://example.com/a?x=1&y=2", Published: at},
		{ID: "rich-2", Title: "Second", Summary: "A lead with \"quotes\" & <b>tags</b>", URL: "https://example.com/b", Published: at.Add(time.Hour)},
	}
	f, err := gofeed.NewParser().Parse(bytes.NewReader(score.RSS("Outlet & Co", items)))
	if err != nil {
		t.Fatal(err)
	}
	if f.Title != "Outlet & Co" || len(f.Items) != 2 {
		t.Fatalf("feed %q with %d items", f.Title, len(f.Items))
	}
	for i, gi := range f.Items {
		it := items[i]
		if gi.GUID != it.ID || gi.Title != it.Title || gi.Link != it.URL || gi.Description != it.Summary || !gi.PublishedParsed.Equal(it.Published) {
			t.Errorf("item %d read back as %q %q %q %q %v, want %+v", i, gi.GUID, gi.Title, gi.Link, gi.Description, gi.PublishedParsed, it)
		}
	}
}
