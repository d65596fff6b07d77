package fetcher_test

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"aggregator"
	"aggregator/fetcher"
	"aggregator/internal/shareddata"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// manifestRow is one document of ../shared/data/feeds/MANIFEST.tsv.
type manifestRow struct {
	file, folder, wellformed, expect, header string
}

func readManifest(t testing.TB, dir string) []manifestRow {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "MANIFEST.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	cols := strings.Split(lines[0], "\t")
	idx := map[string]int{}
	for i, c := range cols {
		idx[c] = i
	}
	var rows []manifestRow
	for _, l := range lines[1:] {
		f := strings.Split(l, "\t")
		get := func(k string) string {
			if i, ok := idx[k]; ok && i < len(f) {
				return f[i]
			}
			return ""
		}
		rows = append(rows, manifestRow{file: get("file"), folder: get("folder"), wellformed: get("wellformed"), expect: get("expect"), header: get("header")})
	}
	if len(rows) < 300 {
		t.Fatalf("MANIFEST.tsv lists %d documents, want the whole corpus", len(rows))
	}
	return rows
}

// serveCorpus serves every document of the corpus by its path, with the
// Content-Type its `header` column gives (feedparser's http_* cases), and
// counts the requests per path.
func serveCorpus(t testing.TB, dir string, rows []manifestRow) (*httptest.Server, *sync.Map) {
	types := map[string]string{}
	for _, r := range rows {
		if ct, ok := strings.CutPrefix(r.header, "Content-type: "); ok {
			types["/"+r.file] = ct
		}
	}
	var hits sync.Map
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := hits.LoadOrStore(r.URL.Path, new(int))
		*(n.(*int))++
		b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(strings.TrimPrefix(r.URL.Path, "/"))))
		if err != nil {
			http.NotFound(w, r)
			return
		}
		if ct, ok := types[r.URL.Path]; ok {
			w.Header().Set("Content-Type", ct)
		} else if strings.HasSuffix(r.URL.Path, ".json") {
			w.Header().Set("Content-Type", "application/feed+json")
		} else {
			w.Header().Set("Content-Type", "application/xml")
		}
		w.Write(b)
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

// TestCorpus fetches and parses every document of ../shared/data/feeds
// from a loopback server. Well-formed documents in a feed folder must give
// a feed with items unless testdata/corpus.golden records why not; the
// verdict for every document (including the malformed ones) is pinned by
// that golden file. Nothing may panic or hang.
func TestCorpus(t *testing.T) {
	dir := filepath.Join(shareddata.TestDir(t), "feeds")
	rows := readManifest(t, dir)
	srv, _ := serveCorpus(t, dir, rows)
	c := newClient(t, fetcher.Options{Concurrency: 8, PerHost: 8})

	jobs := make([]fetcher.Job, len(rows))
	for i, r := range rows {
		jobs[i] = fetcher.Job{Feed: aggregator.Feed{Name: r.file, URL: srv.URL + "/" + r.file}}
	}
	results := map[string]fetcher.Result{}
	var mu sync.Mutex
	c.FetchAll(context.Background(), jobs, func(r fetcher.Result) {
		mu.Lock()
		results[r.Feed.Name] = r
		mu.Unlock()
	})

	var golden strings.Builder
	golden.WriteString("# file\twellformed\tstatus\titems\terror kind or feed title\n")
	for _, row := range rows {
		r, ok := results[row.file]
		if !ok {
			t.Errorf("%s: no result", row.file)
			continue
		}
		checkResult(t, row.file, r)
		verdict := truncate(r.State.Title, 40)
		if r.Err != nil {
			verdict = fetcher.ErrorKind(r.Err)
		}
		wf := row.wellformed
		if strings.HasPrefix(wf, "no") {
			wf = "no"
		}
		fmt.Fprintf(&golden, "%s\t%s\t%s\t%d\t%s\n", row.file, wf, r.Status, len(r.Items), verdict)
	}
	compareGolden(t, "corpus.golden", golden.String())

	// A well-formed document in a feed folder gives a feed; it gives items
	// exactly when it has item elements (many charset cases are
	// channel-only), counting those dropped as empty (test fragments with
	// only a date, a media element or a GML point). The exceptions are well-formed XML that is not a feed.
	for _, row := range rows {
		feedFolder := row.folder != "malformed" && row.folder != "other"
		if !feedFolder || (row.wellformed != "xml" && row.wellformed != "json") {
			continue
		}
		r := results[row.file]
		if notFeeds[row.file] != "" {
			if !errors.Is(r.Err, fetcher.ErrNotFeed) {
				t.Errorf("%s: got %v, want ErrNotFeed", row.file, r.Err)
			}
			continue
		}
		if r.Status != fetcher.StatusOK {
			t.Errorf("%s: well-formed feed failed: %v", row.file, r.Err)
			continue
		}
		raw, err := os.ReadFile(filepath.Join(dir, row.file))
		if err != nil {
			t.Fatal(err)
		}
		hasItems := itemElement.Match(bytes.ReplaceAll(raw, []byte{0}, nil))
		if hasItems != (len(r.Items)+r.EmptyItems > 0) {
			t.Errorf("%s: %d items parsed (%d empty ones dropped), document has item elements: %v", row.file, len(r.Items), r.EmptyItems, hasItems)
		}
	}
}

// notFeeds are the well-formed documents in feed folders that are not
// feeds, with what they are.
var notFeeds = map[string]string{
	"atom/feed-rs__atom_atom_entry_1.xml":          "an Atom <entry> document",
	"encoding/miniflux__xml_testdata_iso88591.xml": "a <note> document (miniflux's XML decoder test)",
}

// itemElement finds an RSS <item>, an Atom <entry> or JSON Feed items.
var itemElement = regexp.MustCompile(`(?i)<(item|entry)[\s>]|"items"\s*:\s*\[\s*\{`)

// checkResult asserts what must hold for every result, whatever the
// document: a consistent status, valid UTF-8 text, normalised items with
// absolute links.
func checkResult(t *testing.T, name string, r fetcher.Result) {
	t.Helper()
	if (r.Err != nil) != (r.Status == fetcher.StatusFailed) {
		t.Errorf("%s: status %s with err %v", name, r.Status, r.Err)
	}
	if r.State.LastResult != string(r.Status) || r.State.NextFetch.IsZero() || r.State.LastFetch.IsZero() {
		t.Errorf("%s: state not updated: %+v", name, r.State)
	}
	if r.Status != fetcher.StatusOK && r.Items != nil {
		t.Errorf("%s: %d items with status %s", name, len(r.Items), r.Status)
	}
	if r.State.Items != len(r.Items) && r.Status == fetcher.StatusOK {
		t.Errorf("%s: State.Items %d, %d items", name, r.State.Items, len(r.Items))
	}
	ids := map[string]bool{}
	for _, it := range r.Items {
		if it.ID == "" || it.Feed != name || it.FirstSeen.IsZero() || it.Hash == "" {
			t.Errorf("%s: item not normalised: %+v", name, it)
		}
		if ids[it.ID] {
			t.Errorf("%s: item %s twice", name, it.ID)
		}
		ids[it.ID] = true
		for _, s := range []string{it.Title, it.Summary, it.Content, it.Author} {
			if !utf8.ValidString(s) {
				t.Errorf("%s: invalid UTF-8 in %q", name, truncate(s, 60))
			}
		}
		for _, l := range []string{it.URL, it.Image} {
			if l == "" {
				continue
			}
			if u, err := url.Parse(l); err == nil && u.Scheme == "" {
				t.Errorf("%s: relative link %q", name, l)
			}
		}
	}
}

func truncate(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n]) + "…"
}

func writeFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

// compareGolden compares got with testdata/name, or rewrites it under
// -update.
func compareGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		writeFile(t, path, got)
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got == string(want) {
		return
	}
	gl, wl := strings.Split(got, "\n"), strings.Split(string(want), "\n")
	for i := range max(len(gl), len(wl)) {
		var g, w string
		if i < len(gl) {
			g = gl[i]
		}
		if i < len(wl) {
			w = wl[i]
		}
		if g != w {
			t.Errorf("%s line %d:\ngot  %s\nwant %s", name, i+1, g, w)
		}
	}
}
