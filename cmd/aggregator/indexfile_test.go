package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"aggregator/dedupe"
	"aggregator/dedupe/score"
	"aggregator/storage"
)

// TestSavedIndex fetches real items in three passes, each with newer
// items, and checks that the dedupe index saved by the first pass, brought
// up to date from the cluster log by the third (the second pass changes
// too little to rewrite the file), gives the same stories as one pass over
// everything (the index a process that never stopped would have), and
// that a damaged copy is reported and replaced by a rebuild from storage.
func TestSavedIndex(t *testing.T) {
	items := loadDevSet(t, "dev-rich.jsonl")
	slices.SortStableFunc(items, func(a, b score.Item) int { return a.Published.Compare(b.Published) })
	cuts := [...]time.Time{items[len(items)/3].Published, items[2*len(items)/3].Published}
	var phase atomic.Int32 // 1: items before cuts[0]; 2: before cuts[1]; 3: all
	bySource := map[string][]score.Item{}
	for _, it := range items {
		bySource[it.Source] = append(bySource[it.Source], it)
	}
	var sources []string
	for s := range bySource {
		sources = append(sources, s)
	}
	slices.Sort(sources)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var i int
		if _, err := fmt.Sscanf(r.URL.Path, "/s%d.xml", &i); err != nil || i >= len(sources) {
			http.NotFound(w, r)
			return
		}
		var served []score.Item
		for _, it := range bySource[sources[i]] {
			if ph := phase.Load(); ph == 3 || it.Published.Before(cuts[ph-1]) {
				served = append(served, it)
			}
		}
		w.Header().Set("Content-Type", "application/rss+xml; charset=utf-8")
		w.Write(score.RSS(sources[i], served))
	}))
	defer srv.Close()

	dir := t.TempDir()
	var cfg strings.Builder
	cfg.WriteString("[fetch]\nhost_delay = \"0s\"\nper_host = 8\n[dedupe]\nwindow = \"87600h\"\n")
	for i := range sources {
		fmt.Fprintf(&cfg, "[[feeds]]\nname = \"s%d\"\nurl = \"%s/s%d.xml\"\n", i, srv.URL, i)
	}
	config := filepath.Join(dir, "feeds.toml")
	if err := os.WriteFile(config, []byte(cfg.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	fetch := func(db string) string {
		t.Helper()
		_, stderr, code := runCmd(t, ctx, "fetch", "--quiet", "--force", "--config", config, "--db", db)
		if code != 0 {
			t.Fatalf("fetch --db %s: exit %d\n%s", db, code, stderr)
		}
		return stderr
	}
	clusters := func(db string) string {
		t.Helper()
		out, stderr, code := runCmd(t, ctx, "clusters", "--json", "--config", config, "--db", db)
		if code != 0 {
			t.Fatalf("clusters --db %s: exit %d\n%s", db, code, stderr)
		}
		return out
	}

	// One pass over everything: the reference.
	phase.Store(3)
	ref := filepath.Join(dir, "ref.db")
	fetch(ref)
	want := clusters(ref)

	// Three passes: the first saves the index it built, the second loads
	// it and leaves the file alone, the third replays the second's
	// decisions onto it.
	upTo := func(c time.Time) int {
		return slices.IndexFunc(items, func(it score.Item) bool { return !it.Published.Before(c) })
	}
	phase.Store(1)
	thrice := filepath.Join(dir, "thrice.db")
	fetch(thrice)
	if n := savedIndexLen(t, config, thrice, false); n != upTo(cuts[0]) {
		t.Errorf("the first pass saved an index of %d items, want %d", n, upTo(cuts[0]))
	}
	damaged := filepath.Join(dir, "damaged.db")
	copyFile(t, thrice, damaged)
	copyFile(t, thrice+".index", damaged+".index")
	raw, err := os.ReadFile(damaged + ".index")
	if err != nil {
		t.Fatal(err)
	}
	raw[len(raw)/2] ^= 0xff
	if err := os.WriteFile(damaged+".index", raw, 0o644); err != nil {
		t.Fatal(err)
	}
	phase.Store(2)
	if stderr := fetch(thrice); strings.Contains(stderr, "rebuild") {
		t.Errorf("the saved index was not used:\n%s", stderr)
	}
	if n := savedIndexLen(t, config, thrice, false); n != upTo(cuts[0]) {
		t.Errorf("after a small second pass the file holds %d items, want the first pass's %d (not rewritten)", n, upTo(cuts[0]))
	}
	if n := savedIndexLen(t, config, thrice, true); n != upTo(cuts[1]) {
		t.Errorf("the saved index brought up to date holds %d items, want %d", n, upTo(cuts[1]))
	}
	phase.Store(3)
	if stderr := fetch(thrice); strings.Contains(stderr, "rebuild") {
		t.Errorf("the saved index was not used:\n%s", stderr)
	}
	if got := clusters(thrice); got != want {
		t.Errorf("three passes with the saved index and the cluster log gave other stories than one pass:\n%s", diffLines(want, got))
	}

	// A damaged copy is reported and rebuilt from storage; the stories of
	// every item are still found.
	stderr := fetch(damaged)
	if !strings.Contains(stderr, "saved dedupe index not used") {
		t.Errorf("a damaged index was not reported; stderr:\n%s", stderr)
	}
	if got := strings.Count(clusters(damaged), `"feed":`); got != len(items) {
		t.Errorf("after a rebuild, clusters lists %d items, want %d", got, len(items))
	}
}

// savedIndexLen returns how many items the index saved beside db holds:
// as the file has it, or, with replay, brought up to date from the
// cluster log as the pipeline loads it.
func savedIndexLen(t *testing.T, config, db string, replay bool) int {
	t.Helper()
	cfg, err := loadConfig(config)
	if err != nil {
		t.Fatal(err)
	}
	if !replay {
		f, err := os.Open(db + ".index")
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		r := bufio.NewReader(f)
		if _, err := readStamp(r); err != nil {
			t.Fatal(err)
		}
		ix, err := dedupe.ReadSnapshot(r, dedupeOptions(cfg))
		if err != nil {
			t.Fatal(err)
		}
		return ix.Len()
	}
	sdb, err := storage.Open(db, storage.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer sdb.Close()
	p := newPipeline(cfg, sdb, newLogger(io.Discard, slog.LevelError))
	p.mu.Lock()
	defer p.mu.Unlock()
	ok, err := p.loadSavedIndexLocked()
	if !ok || err != nil {
		t.Fatalf("saved index not loaded: %v", err)
	}
	return p.ix.Len()
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// diffLines lists the lines of a and b that the other lacks.
func diffLines(a, b string) string {
	as, bs := strings.Split(a, "\n"), strings.Split(b, "\n")
	var out []string
	for _, l := range as {
		if !slices.Contains(bs, l) {
			out = append(out, "- "+l)
		}
	}
	for _, l := range bs {
		if !slices.Contains(as, l) {
			out = append(out, "+ "+l)
		}
	}
	if len(out) > 20 {
		out = append(out[:20], fmt.Sprintf("... and %d more", len(out)-20))
	}
	return strings.Join(out, "\n")
}

// TestServeSavesIndex: a daemon that clustered something saves its index
// when it stops, stamped with the database's state, so the next start
// loads it as it is.
func TestServeSavesIndex(t *testing.T) {
	srv := testFeeds(t)
	cfg := writeTestConfig(t, srv.URL)
	s := startServe(t, cfg)
	// A fresh database: every feed is due at once.
	select {
	case <-s.clustered:
	case <-time.After(20 * time.Second):
		t.Fatal("serve clustered nothing in 20 s")
	}
	if err := s.stop(); err != nil {
		t.Fatalf("serve: %v\n%s", err, s.errb.String())
	}

	c, err := loadConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(c.Storage.Path + ".index")
	if err != nil {
		t.Fatalf("serve saved no index: %v", err)
	}
	saved, err := readStamp(bufio.NewReader(f))
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	db, err := storage.Open(c.Storage.Path, storage.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	cur, err := db.ClusterStamp()
	if err != nil {
		t.Fatal(err)
	}
	if saved != cur {
		t.Errorf("saved index stamped %v, database at %v", saved, cur)
	}
}
