package fetcher_test

import (
	"bytes"
	"runtime"
	"strings"
	"testing"

	"aggregator/fetcher"
)

// hostileDocs are documents of nearly the default MaxBody (15 MiB) built
// to cost the parser memory: deep nesting and one huge title.
func hostileDocs() map[string][]byte {
	const size = 15 << 20
	head := `<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title><item><guid>g</guid><title>`
	tail := `</title></item></channel></rss>`
	deep := strings.Repeat("<a>", (size-len(head)-len(tail))/7)
	closing := strings.Repeat("</a>", (size-len(head)-len(tail))/7)
	json := `{"version":"https://jsonfeed.org/version/1.1","title":"t","items":[{"id":"1","title":"x","_x":` +
		strings.Repeat("[", size/2) + strings.Repeat("]", size/2) + `}]}`
	return map[string][]byte{
		"deep-nesting": []byte(head + deep + closing + tail),
		"huge-title":   []byte(head + strings.Repeat("news ", (size-len(head)-len(tail))/5) + tail),
		"deep-json":    []byte(json),
	}
}

// BenchmarkHostileDocument reports what the document path (charset,
// parse, conversion) allocates for each hostile document: B/op is the
// figure to watch.
//
//	go test -run '^$' -bench HostileDocument -benchtime 3x ./fetcher
func BenchmarkHostileDocument(b *testing.B) {
	docs := hostileDocs()
	for _, name := range []string{"deep-nesting", "huge-title", "deep-json"} {
		body := docs[name]
		b.Run(name, func(b *testing.B) {
			c := newClient(b, fetcher.Options{})
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				fetcher.ParseBody(c, bytes.Clone(body), "application/rss+xml")
			}
		})
	}
}

// TestHostileDocumentMemory: the document path allocates at most four
// times the size of a hostile document (it took 44 times for deep
// nesting and 7.6 times for a huge title before the pre-parse scan).
// Deep nesting is refused as a parse error; a huge text is cut.
func TestHostileDocumentMemory(t *testing.T) {
	docs := hostileDocs()
	c := newClient(t, fetcher.Options{})
	for _, name := range []string{"deep-nesting", "huge-title", "deep-json"} {
		t.Run(name, func(t *testing.T) {
			body := docs[name]
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			n, err := fetcher.ParseBody(c, body, "application/rss+xml")
			runtime.ReadMemStats(&after)
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 4*uint64(len(body)) {
				t.Errorf("allocated %d MB for a %d MB document", alloc>>20, len(body)>>20)
			}
			switch name {
			case "huge-title":
				if err != nil || n != 1 {
					t.Errorf("got %d items, err %v; want the one item, its title cut", n, err)
				}
			default:
				if fetcher.ErrorKind(err) != "parse" || !strings.Contains(err.Error(), "nested more than 512 deep") {
					t.Errorf("got %d items, err %v; want a parse error naming the nesting", n, err)
				}
			}
		})
	}
}
