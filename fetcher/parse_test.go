package fetcher_test

import (
	"context"
	"net/http"
	"testing"

	"aggregator/fetcher"
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
