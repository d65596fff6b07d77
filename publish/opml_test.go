package publish_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"aggregator"
	"aggregator/publish"
)

func readOPMLFile(t *testing.T, name string) []aggregator.Feed {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	feeds, err := publish.ReadOPML(f)
	if err != nil {
		t.Fatal(err)
	}
	return feeds
}

func TestReadOPML(t *testing.T) {
	got := readOPMLFile(t, "subscriptions.opml")
	want := []aggregator.Feed{
		{Name: "bbc-news-world", URL: "https://feeds.bbci.co.uk/news/world/rss.xml", Title: "BBC News - World", Tags: []string{"World"}},
		{Name: "le-monde-fr-international", URL: "https://www.lemonde.fr/international/rss_full.xml", Title: "Le Monde.fr - International", Tags: []string{"World", "Europe", "France"}},
		{Name: "suddeutsche-zeitung", URL: "https://rss.sueddeutsche.de/rss/Politik", Title: "Süddeutsche Zeitung", Tags: []string{"World", "Deep"}},
		{Name: "tech-science", URL: "https://example.org/tech.xml", Title: "Tech & Science", Tags: []string{"tech", "science"}},
		{Name: "bbc-news-world-2", URL: "https://feeds.bbci.co.uk/news/world/europe/rss.xml", Title: "BBC News - World"},
		{Name: "aljazeera-com", URL: "https://www.aljazeera.com/xml/rss/all.xml"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ReadOPML:\n got %+v\nwant %+v", got, want)
	}
}

func TestReadOPMLEncodings(t *testing.T) {
	got := readOPMLFile(t, "latin1.opml")
	if len(got) != 1 || got[0].Title != "Café Crème" || got[0].Name != "cafe-creme" {
		t.Errorf("ISO-8859-1 OPML: got %+v", got)
	}
}

func TestReadOPMLErrors(t *testing.T) {
	for _, tc := range []struct{ name, doc string }{
		{"not xml", "this is not OPML"},
		{"no feeds", `<opml version="2.0"><head/><body><outline text="folder"/></body></opml>`},
		{"empty", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if feeds, err := publish.ReadOPML(strings.NewReader(tc.doc)); err == nil {
				t.Errorf("got %v, want an error", feeds)
			}
		})
	}
	if _, err := publish.ReadOPML(strings.NewReader(`<opml><body/></opml>`)); !errors.Is(err, publish.ErrNoFeeds) {
		t.Errorf("no feeds: got %v, want ErrNoFeeds", err)
	}
}

func TestOPMLRoundTrip(t *testing.T) {
	feeds := []aggregator.Feed{
		{Name: "bbc", URL: "https://feeds.bbci.co.uk/news/world/rss.xml", Title: "BBC <World>", Tags: []string{"world", "uk"}},
		{Name: "aj", URL: "https://www.aljazeera.com/xml/rss/all.xml?a=1&b=2"},
	}
	var buf bytes.Buffer
	if err := publish.WriteOPML(&buf, "Mine & yours", feeds); err != nil {
		t.Fatal(err)
	}
	golden(t, "export.opml", buf.Bytes())
	got, err := publish.ReadOPML(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(feeds) {
		t.Fatalf("got %d feeds, want %d", len(got), len(feeds))
	}
	for i, f := range feeds {
		if got[i].URL != f.URL || got[i].Title != f.DisplayName() || !reflect.DeepEqual(got[i].Tags, f.Tags) {
			t.Errorf("feed %d: got %+v, want URL %q title %q tags %v", i, got[i], f.URL, f.DisplayName(), f.Tags)
		}
	}
}

func TestOPMLServed(t *testing.T) {
	feeds := []aggregator.Feed{{Name: "bbc", URL: "https://feeds.bbci.co.uk/news/world/rss.xml", Tags: []string{"world"}}}
	ts := newTestServer(t, &memSource{}, publish.Options{Feeds: feeds})
	r := ts.do(t, "GET", "/feeds.opml")
	got, err := publish.ReadOPML(bytes.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].URL != feeds[0].URL || r.header.Get("ETag") == "" {
		t.Errorf("GET /feeds.opml: %+v, ETag %q", got, r.header.Get("ETag"))
	}
	if r := ts.do(t, "GET", "/feeds.opml", "If-None-Match", r.header.Get("ETag")); r.status != 304 {
		t.Errorf("conditional GET /feeds.opml: got %d, want 304", r.status)
	}
}
