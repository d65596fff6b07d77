// Package synthfeed makes the synthetic feeds of the benchmark scripts:
// real headlines and leads (shared/data/dedupe/dev-rich.jsonl) cycled
// into distinct items, each with its own GUID, link and minute, so that
// any number of feeds and items can be served without repeating an item.
// A feed's document depends only on its number, its size and its
// generation, so a server can make it on request.
package synthfeed

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"time"
)

// Text is one labelled report's headline and lead.
type Text struct{ Title, Summary string }

// ReadTexts reads the title and summary of every line of a labelled set.
func ReadTexts(path string) ([]Text, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Text
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var t Text
		if err := json.Unmarshal(sc.Bytes(), &t); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		out = append(out, t)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no items", path)
	}
	return out, sc.Err()
}

// Start is the date of the first synthetic item.
var Start = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

// Feeds describes a set of n feeds of items items each.
type Feeds struct {
	Texts []Text
	N     int
	Items int
}

// Body is feed i's RSS document in generation gen: generation 0 holds
// items 0..Items-1 of the feed; each later generation drops the oldest
// Items/4 and adds as many new ones (an outlet that published), so that a
// changed feed brings new items and keeps most of its old ones.
func (fs Feeds) Body(i, gen int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<rss version=\"2.0\"><channel><title>Outlet %d</title><link>https://outlet%d.example/</link><description>synthetic</description>\n", i, i)
	shift := gen * max(fs.Items/4, 1)
	for j := shift; j < shift+fs.Items; j++ {
		t := fs.text(j*fs.N + i) // distinct for every (feed, item)
		pub := Start.Add(time.Duration(j*fs.N+i) * time.Minute / time.Duration(max(fs.N/100, 1)))
		fmt.Fprintf(&b, "<item><title>%s</title><link>https://outlet%d.example/%d</link><guid>https://outlet%d.example/%d</guid><description>%s</description><pubDate>%s</pubDate></item>\n",
			html.EscapeString(t.Title), i, j, i, j, html.EscapeString(t.Summary), pub.Format(time.RFC1123Z))
	}
	b.WriteString("</channel></rss>\n")
	return b.Bytes()
}

// text is the k-th synthetic report: the first half of one real headline
// and the second half of another, with the second one's lead, so that
// the headlines stay distinct for the square of the texts' number (a
// million and more from dev-rich.jsonl) instead of repeating every
// thousand items, which would make stories of thousands of reports.
func (fs Feeds) text(k int) Text {
	n := len(fs.Texts)
	a, b := fs.Texts[k%n], fs.Texts[(k/n+k)%n]
	wa, wb := strings.Fields(a.Title), strings.Fields(b.Title)
	title := strings.Join(append(wa[:len(wa)/2:len(wa)/2], wb[len(wb)/2:]...), " ")
	return Text{Title: title, Summary: b.Summary}
}

// Server serves feed i at /fNNNNN.xml with a strong ETag, answering 304
// to it. Feeds for which Changed reports true are served in generation
// Gen, the others in generation 0.
type Server struct {
	Feeds   Feeds
	Gen     atomic.Int32
	Changed func(i int) bool
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var i int
	if _, err := fmt.Sscanf(r.URL.Path, "/f%d.xml", &i); err != nil || i < 0 || i >= s.Feeds.N {
		http.NotFound(w, r)
		return
	}
	gen := 0
	if g := int(s.Gen.Load()); g > 0 && s.Changed != nil && s.Changed(i) {
		gen = g
	}
	body := s.Feeds.Body(i, gen)
	sum := sha256.Sum256(body)
	etag := `"` + hex.EncodeToString(sum[:8]) + `"`
	w.Header().Set("ETag", etag)
	if r.Header.Get("If-None-Match") == etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("Content-Type", "application/rss+xml; charset=utf-8")
	w.Write(body)
}

// Config writes the [[feeds]] of n feeds served at base.
func Config(b *bytes.Buffer, base string, n int) {
	for i := range n {
		fmt.Fprintf(b, "[[feeds]]\nname = \"f%05d\"\nurl = \"%s/f%05d.xml\"\n", i, base, i)
	}
}
