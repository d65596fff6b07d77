package fetcher_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"aggregator/fetcher"
	"aggregator/internal/shareddata"
)

// TestNoImageScan: an item's image comes from explicit elements only,
// never from the <img> of its HTML, and the HTML hidden from the
// translator while it runs comes back whole; an empty description still
// falls back to the iTunes summary.
func TestNoImageScan(t *testing.T) {
	const doc = `<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/" xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd">
<channel><title>Scan</title><link>https://scan.example/</link>
<item><title>Pictured</title><link>https://scan.example/1</link>
  <description>&lt;p&gt;&lt;img src="https://scan.example/d.jpg"&gt; Lead&lt;/p&gt;</description>
  <content:encoded><![CDATA[<p><img src="https://scan.example/c.jpg"> Body</p>]]></content:encoded></item>
<item><title>Podcast</title><link>https://scan.example/2</link><description></description>
  <itunes:summary>Spoken summary</itunes:summary></item>
</channel></rss>`
	srv, _ := serve(t, func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Content-Type", "application/rss+xml")
		w.Write([]byte(doc))
	})
	r := newClient(t, fetcher.Options{}).Fetch(context.Background(), feed(srv.URL), zeroState)
	if r.Err != nil || len(r.Items) != 2 {
		t.Fatalf("got %d items, err %v", len(r.Items), r.Err)
	}
	it := r.Items[0]
	if it.Image != "" {
		t.Errorf("image %q taken from the HTML, want none", it.Image)
	}
	if want := `<p><img src="https://scan.example/d.jpg"> Lead</p>`; it.Summary != want {
		t.Errorf("summary %q, want %q", it.Summary, want)
	}
	if want := `<p><img src="https://scan.example/c.jpg"> Body</p>`; it.Content != want {
		t.Errorf("content %q, want %q", it.Content, want)
	}
	if got := r.Items[1].Summary; got != "Spoken summary" {
		t.Errorf("podcast summary %q, want the iTunes summary", got)
	}
}

// TestZoneNames: RFC 822 zone names in dates count (the W3C validator's
// test feed: "16:59:45 PDT" and "17:59:45 CST" are both 23:59:45 UTC),
// and an RSS item's atom:updated is read.
func TestZoneNames(t *testing.T) {
	body, err := os.ReadFile(filepath.Join(shareddata.TestDir(t), "feeds", "rss2", "feedvalidator__everything.xml"))
	if err != nil {
		t.Fatal(err)
	}
	r := fetchDoc(t, fetcher.Options{}, body)
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	want := time.Date(2006, 2, 9, 23, 59, 45, 0, time.UTC)
	found := 0
	for _, it := range r.Items {
		if strings.HasSuffix(it.Title, "PDT timezone") || strings.HasSuffix(it.Title, "CST timezone") {
			found++
			if !it.Published.Equal(want) {
				t.Errorf("%s: published %v, want %v", it.Title, it.Published, want)
			}
		}
	}
	if found != 2 {
		t.Errorf("found %d items with zone names, want 2", found)
	}

	doc := []byte(`<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom"><channel><title>t</title>
<item><title>Edited</title><guid>e</guid><pubDate>Thu, 09 Feb 2006 10:00:00 GMT</pubDate><atom:updated>2006-02-10T08:00:00+01:00</atom:updated></item>
</channel></rss>`)
	r = fetchDoc(t, fetcher.Options{}, doc)
	if r.Err != nil || len(r.Items) != 1 {
		t.Fatalf("got %d items, err %v", len(r.Items), r.Err)
	}
	if want := time.Date(2006, 2, 10, 7, 0, 0, 0, time.UTC); !r.Items[0].Updated.Equal(want) {
		t.Errorf("updated %v, want %v", r.Items[0].Updated, want)
	}
}
