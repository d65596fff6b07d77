package fetcher_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"aggregator/fetcher"
	"aggregator/internal/shareddata"
)

// expectRE matches the feedparser expectations this test can check: the
// decoded text of the feed title or of the first entry's description.
var expectRE = regexp.MustCompile(`^not bozo and (feed\['title'\]|entries\[0\]\['description'\]) == '((?:[^'\\]|\\.)*)'$`)

// pyUnescape decodes the \xNN and \uNNNN escapes of a Python literal.
func pyUnescape(t *testing.T, s string) string {
	t.Helper()
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		n := 0
		switch s[i+1] {
		case 'x':
			n = 2
		case 'u':
			n = 4
		default:
			b.WriteByte(s[i+1])
			i++
			continue
		}
		r, err := strconv.ParseUint(s[i+2:i+2+n], 16, 32)
		if err != nil {
			t.Fatalf("bad escape in %q", s)
		}
		b.WriteRune(rune(r))
		i += 1 + n
	}
	return b.String()
}

// TestCorpusCharsets checks the decoded text against feedparser's own
// expectations for the corpus's charset cases: legacy charsets declared in
// the document, overridden by the HTTP header, or undeclared.
func TestCorpusCharsets(t *testing.T) {
	dir := filepath.Join(shareddata.TestDir(t), "feeds")
	rows := readManifest(t, dir)
	srv, _ := serveCorpus(t, dir, rows)
	c := newClient(t, fetcher.Options{})
	checked := 0
	for _, row := range rows {
		m := expectRE.FindStringSubmatch(row.expect)
		if m == nil {
			continue
		}
		t.Run(row.file, func(t *testing.T) {
			r := c.Fetch(context.Background(), feed(srv.URL+"/"+row.file), zeroState)
			if r.Err != nil {
				t.Fatal(r.Err)
			}
			want := pyUnescape(t, m[2])
			var got string
			if m[1] == "feed['title']" {
				got = r.State.Title
			} else if len(r.Items) > 0 {
				got = r.Items[0].Summary
			}
			if got != want {
				t.Errorf("got %q, want %q", got, want)
			}
		})
		checked++
	}
	if checked < 8 {
		t.Errorf("checked %d expectations, want the corpus's charset cases", checked)
	}
}

// TestHeaderCharset serves documents with different Content-Type
// headers: for a body that is not valid UTF-8, the header's charset wins
// over the XML declaration; a body that is valid UTF-8 is not garbled by
// a Latin-1 label in either.
func TestHeaderCharset(t *testing.T) {
	latin1 := "<?xml version=\"1.0\" encoding=\"iso-8859-1\"?><rss version=\"2.0\"><channel><title>Caf\xe9</title></channel></rss>"
	utf8doc := "<?xml version=\"1.0\" encoding=\"utf-8\"?><rss version=\"2.0\"><channel><title>Café – ok</title></channel></rss>"
	koi8 := "<?xml version=\"1.0\" encoding=\"utf-8\"?><rss version=\"2.0\"><channel><title>\xf0\xd2\xc9\xd7\xc5\xd4</title></channel></rss>"
	cases := []struct {
		name, body, ct, want string
	}{
		{"declared latin-1", latin1, "application/rss+xml", "Café"},
		{"header latin-1 over declaration", latin1, "application/rss+xml; charset=windows-1252", "Café"},
		{"header koi8-r over utf-8 declaration", koi8, "text/xml; charset=koi8-r", "Привет"},
		{"utf-8 body under a latin-1 header", utf8doc, "text/xml; charset=ISO-8859-1", "Café – ok"},
		{"utf-8 body declared latin-1", strings.Replace(utf8doc, "utf-8", "iso-8859-1", 1), "application/xml", "Café – ok"},
		{"quoted header charset", latin1, `text/xml; charset="iso-8859-1"`, "Café"},
		{"bogus header charset falls back to declaration", latin1, "text/xml; charset=x-bogus", "Café"},
		{"undeclared latin-1", strings.Replace(latin1, ` encoding="iso-8859-1"`, "", 1), "application/xml", "Café"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", tc.ct)
				w.Write([]byte(tc.body))
			}))
			defer srv.Close()
			r := newClient(t, fetcher.Options{}).Fetch(context.Background(), feed(srv.URL), zeroState)
			if r.Err != nil {
				t.Fatal(r.Err)
			}
			if r.State.Title != tc.want {
				t.Errorf("got title %q, want %q", r.State.Title, tc.want)
			}
		})
	}
}

// TestBrokenUTF8: a real UTF-8 document (FeedKit's Ampersand.xml, Danish
// football news, labelled ISO-8859-1 in its declaration) with one stray
// Latin-1 byte keeps its hundreds of UTF-8 characters: the stray byte
// becomes U+FFFD instead of the whole document being read as Latin-1.
// Served both with the declaration alone and with a Content-Type that
// says ISO-8859-1 too.
func TestBrokenUTF8(t *testing.T) {
	body, err := os.ReadFile(filepath.Join(shareddata.TestDir(t), "feeds", "rss2", "feedkit__xml_Ampersand.xml"))
	if err != nil {
		t.Fatal(err)
	}
	if utf8.Valid(body) {
		t.Fatal("the document is valid UTF-8; the test needs its broken byte")
	}
	for _, ct := range []string{"application/rss+xml", "application/rss+xml; charset=iso-8859-1"} {
		t.Run(ct, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", ct)
				w.Write(body)
			}))
			defer srv.Close()
			r := newClient(t, fetcher.Options{}).Fetch(context.Background(), feed(srv.URL), zeroState)
			if r.Err != nil || len(r.Items) != 20 {
				t.Fatalf("got %d items, err %v", len(r.Items), r.Err)
			}
			titles := map[string]bool{}
			for _, it := range r.Items {
				titles[it.Title] = true
				if strings.Contains(it.Title, "Ã") || strings.Contains(it.Summary, "Ã") {
					t.Errorf("mojibake in %q", it.Title)
				}
			}
			for _, want := range []string{"Brøndby til fans: Tag ikke til Horsens", "Sådan sendes Superligaens skæbnerunde"} {
				if !titles[want] {
					t.Errorf("no item titled %q", want)
				}
			}
		})
	}
}
