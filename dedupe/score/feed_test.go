package score_test

import (
	"bytes"
	"strings"
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

// TestByOutlet: outlets in the order of their first item, each outlet's
// items in the order given.
func TestByOutlet(t *testing.T) {
	items := []score.Item{{ID: "1", Source: "b"}, {ID: "2", Source: "a"}, {ID: "3", Source: "b"}, {ID: "4", Source: "c"}, {ID: "5", Source: "a"}}
	outlets, by := score.ByOutlet(items)
	if got, want := strings.Join(outlets, ","), "b,a,c"; got != want {
		t.Errorf("outlets %s, want %s", got, want)
	}
	for o, want := range map[string]string{"a": "2,5", "b": "1,3", "c": "4"} {
		var ids []string
		for _, it := range by[o] {
			ids = append(ids, it.ID)
		}
		if got := strings.Join(ids, ","); got != want {
			t.Errorf("outlet %s: items %s, want %s", o, got, want)
		}
	}
	if len(by) != 3 {
		t.Errorf("%d outlets in the map, want 3", len(by))
	}
}
