package fetcher_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"aggregator/fetcher"
	"aggregator/internal/shareddata"
)

// headlines returns n real headlines of ../shared/data/dedupe/dev-rich.jsonl,
// cycled.
func headlines(t testing.TB, n int) []string {
	t.Helper()
	f, err := os.Open(filepath.Join(shareddata.TestDir(t), "dedupe", "dev-rich.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var all []string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var rec struct{ Title string }
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatal(err)
		}
		all = append(all, rec.Title)
	}
	out := make([]string, n)
	for i := range out {
		out[i] = all[i%len(all)]
	}
	return out
}

// fetchDoc serves doc once and fetches it with o at fixedNow.
func fetchDoc(t *testing.T, o fetcher.Options, doc []byte) fetcher.Result {
	t.Helper()
	srv, _ := serve(t, func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Content-Type", "application/rss+xml")
		w.Write(doc)
	})
	o.Now = func() time.Time { return fixedNow }
	return newClient(t, o).Fetch(context.Background(), feed(srv.URL+"/feed.xml"), zeroState)
}

// TestMaxItems: a document of 100,000 items (20,000 under -race) gives
// the 1,000 newest (the default cap), in document order, whatever order
// the document lists them in; OverMax counts the rest.
func TestMaxItems(t *testing.T) {
	n := 100_000
	if raceEnabled {
		n = 20_000
	}
	titles := headlines(t, n)
	var doc bytes.Buffer
	doc.WriteString(`<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Big</title><link>https://big.example/</link>`)
	dates := make([]time.Time, n)
	for i := range n {
		// A permutation of hours: the newest items are spread through
		// the document.
		dates[i] = fixedNow.Add(-time.Duration((i*7919)%n) * time.Minute)
		// Titles on every hundredth item only, to keep the document
		// quick to parse.
		title := ""
		if i%100 == 0 {
			title = "<title>" + html.EscapeString(titles[i]) + "</title>"
		}
		fmt.Fprintf(&doc, "<item>%s<guid>g%d</guid><pubDate>%s</pubDate></item>\n", title, i, dates[i].Format(time.RFC1123Z))
	}
	doc.WriteString(`</channel></rss>`)
	r := fetchDoc(t, fetcher.Options{MaxBody: 64 << 20}, doc.Bytes())
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	if len(r.Items) != fetcher.DefaultMaxItems || r.OverMax != n-fetcher.DefaultMaxItems || r.State.Items != len(r.Items) {
		t.Fatalf("got %d items, OverMax %d, State.Items %d; want %d, %d", len(r.Items), r.OverMax, r.State.Items, fetcher.DefaultMaxItems, n-fetcher.DefaultMaxItems)
	}
	sorted := slices.Clone(dates)
	slices.SortFunc(sorted, func(a, b time.Time) int { return b.Compare(a) })
	oldestKept := sorted[fetcher.DefaultMaxItems-1]
	prev := -1
	for _, it := range r.Items {
		if it.Published.Before(oldestKept) {
			t.Fatalf("kept %s from %v, older than the 1,000th newest (%v)", it.GUID, it.Published, oldestKept)
		}
		var i int
		fmt.Sscanf(it.GUID, "g%d", &i)
		if i <= prev {
			t.Fatalf("item g%d after g%d: not in document order", i, prev)
		}
		prev = i
	}
}

// TestMaxItemsUndated: undated items rank after the dated ones, in
// document order.
func TestMaxItemsUndated(t *testing.T) {
	item := func(guid string, date time.Time) string {
		s := "<item><title>Story " + guid + "</title><guid>" + guid + "</guid>"
		if !date.IsZero() {
			s += "<pubDate>" + date.Format(time.RFC1123Z) + "</pubDate>"
		}
		return s + "</item>"
	}
	doc := func(items ...string) []byte {
		return []byte(`<rss version="2.0"><channel><title>t</title>` + strings.Join(items, "") + `</channel></rss>`)
	}
	for _, tc := range []struct {
		name string
		doc  []byte
		want []string
	}{
		{"dated win", doc(item("u1", time.Time{}), item("d1", fixedNow.Add(-3*time.Hour)), item("u2", time.Time{}),
			item("d2", fixedNow.Add(-time.Hour)), item("d3", fixedNow.Add(-2*time.Hour))), []string{"d1", "d2", "d3"}},
		{"undated fill in document order", doc(item("u1", time.Time{}), item("u2", time.Time{}), item("d1", fixedNow.Add(-time.Hour)),
			item("u3", time.Time{})), []string{"u1", "u2", "d1"}},
		{"newest dated", doc(item("d1", fixedNow.Add(-4*time.Hour)), item("d2", fixedNow.Add(-time.Hour)), item("d3", fixedNow.Add(-3*time.Hour)),
			item("d4", fixedNow.Add(-2*time.Hour))), []string{"d2", "d3", "d4"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := fetchDoc(t, fetcher.Options{MaxItems: 3}, tc.doc)
			if r.Err != nil {
				t.Fatal(r.Err)
			}
			var got []string
			for _, it := range r.Items {
				got = append(got, it.GUID)
			}
			if !slices.Equal(got, tc.want) || r.OverMax != bytes.Count(tc.doc, []byte("<item>"))-3 {
				t.Errorf("got %v (OverMax %d), want %v", got, r.OverMax, tc.want)
			}
		})
	}
}

// TestEmptyItemsDropped: a real document with one item whose title, link
// and description are all empty (miniflux's ISO-8859-1 capture) gives the
// other nine, and counts the empty one.
func TestEmptyItemsDropped(t *testing.T) {
	body, err := os.ReadFile(filepath.Join(shareddata.TestDir(t), "feeds", "rss2", "miniflux__no_encoding_ISO-8859-1.xml"))
	if err != nil {
		t.Fatal(err)
	}
	r := fetchDoc(t, fetcher.Options{}, body)
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	if len(r.Items) != 9 || r.EmptyItems != 1 || r.State.Items != 9 {
		t.Fatalf("got %d items, %d empty, State.Items %d; want 9, 1, 9", len(r.Items), r.EmptyItems, r.State.Items)
	}
	for _, it := range r.Items {
		if it.Title == "" || it.URL == "" {
			t.Errorf("item without title or link kept: %+v", it)
		}
	}
}

// TestFutureDates: dates more than a day after the fetch become the
// fetch time and are counted in the Result and the state; a date within
// the day is kept.
func TestFutureDates(t *testing.T) {
	doc := []byte(`<?xml version="1.0"?><rss version="2.0"><channel><title>Clock</title>
<item><title>From the end of time</title><guid>far</guid><pubDate>Fri, 31 Dec 9999 23:59:59 GMT</pubDate></item>
<item><title>Time zone ahead</title><guid>near</guid><pubDate>` + fixedNow.Add(3*time.Hour).Format(time.RFC1123Z) + `</pubDate></item>
<item><title>Ordinary</title><guid>past</guid><pubDate>` + fixedNow.Add(-2*time.Hour).Format(time.RFC1123Z) + `</pubDate></item>
</channel></rss>`)
	r := fetchDoc(t, fetcher.Options{}, doc)
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	got := map[string]time.Time{}
	for _, it := range r.Items {
		got[it.GUID] = it.Published
	}
	want := map[string]time.Time{"far": fixedNow, "near": fixedNow.Add(3 * time.Hour), "past": fixedNow.Add(-2 * time.Hour)}
	for g, w := range want {
		if !got[g].Equal(w) {
			t.Errorf("%s: published %v, want %v", g, got[g], w)
		}
	}
	if r.FutureDates != 1 || r.State.FutureDates != 1 {
		t.Errorf("FutureDates %d, State.FutureDates %d; want 1, 1", r.FutureDates, r.State.FutureDates)
	}
}

// TestTextCapped: a document whose one item has a title and summary of
// megabytes gives an item whose text is capped and still valid UTF-8,
// whether the text is plain, dense with references (a cut must not split
// one) or a CDATA section.
func TestTextCapped(t *testing.T) {
	for _, tc := range []struct{ name, text string }{
		{"two-byte characters", strings.Repeat("é", 1<<20)},
		{"references", strings.Repeat("&amp;&#233;&lt;", 200_000)},
		{"CDATA", "<![CDATA[" + strings.Repeat("<p>é</p>", 500_000) + "]]>"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := []byte(`<rss version="2.0"><channel><title>t</title><item><guid>big</guid><title>x` + tc.text +
				`</title><description>` + tc.text + `</description></item></channel></rss>`)
			r := fetchDoc(t, fetcher.Options{}, doc)
			if r.Err != nil || len(r.Items) != 1 {
				t.Fatalf("got %d items, err %v", len(r.Items), r.Err)
			}
			it := r.Items[0]
			if len(it.Title) > 2<<10 || len(it.Title) < 1<<10 || !utf8.ValidString(it.Title) {
				t.Errorf("title of %d bytes (valid UTF-8: %v), want 1-2 KiB", len(it.Title), utf8.ValidString(it.Title))
			}
			if len(it.Summary) > 64<<10 || len(it.Summary) < 32<<10 || !utf8.ValidString(it.Summary) {
				t.Errorf("summary of %d bytes, want 32-64 KiB", len(it.Summary))
			}
		})
	}
}
