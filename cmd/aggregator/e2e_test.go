package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mmcdole/gofeed"
)

// testFeeds serves the demo's sample outlets plus a broken document and a
// failing server, like a real set of subscriptions.
func testFeeds(t *testing.T) *httptest.Server {
	t.Helper()
	demo := demoFeedsHandler(time.Now().UTC().Truncate(time.Minute))
	mux := http.NewServeMux()
	mux.Handle("/", demo)
	mux.HandleFunc("GET /broken.xml", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/rss+xml")
		io.WriteString(w, `<?xml version="1.0"?><rss version="2.0"><channel><title>cut off<item><title>half`)
	})
	mux.HandleFunc("GET /down.xml", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "maintenance", http.StatusInternalServerError)
	})
	mux.HandleFunc("GET /gone.xml", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "this feed has moved on", http.StatusGone)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// writeTestConfig writes a config for the test feeds and returns its path.
func writeTestConfig(t *testing.T, feedURL string) string {
	t.Helper()
	dir := t.TempDir()
	var b strings.Builder
	fmt.Fprintf(&b, "[storage]\npath = %q\n[server]\nlisten = \"127.0.0.1:0\"\n[fetch]\nhost_delay = \"0s\"\ntimeout = \"5s\"\n", filepath.Join(dir, "test.db"))
	for _, o := range demoOutlets {
		fmt.Fprintf(&b, "[[feeds]]\nname = %q\ntitle = %q\nurl = %q\ntags = [\"world\"]\n", o.name, o.title, feedURL+"/"+o.name+"."+o.format)
	}
	fmt.Fprintf(&b, "[[feeds]]\nname = \"broken\"\nurl = %q\n", feedURL+"/broken.xml")
	fmt.Fprintf(&b, "[[feeds]]\nname = \"down\"\nurl = %q\n", feedURL+"/down.xml")
	b.WriteString("[[outputs]]\nname = \"world\"\ntitle = \"World\"\ntags = [\"world\"]\n")
	path := filepath.Join(dir, "feeds.toml")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// runCmd runs the command line and returns stdout, stderr and the exit code.
func runCmd(t *testing.T, ctx context.Context, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	err := run(ctx, args, strings.NewReader(""), &out, &errb)
	code := exitCode(err, &errb)
	return out.String(), errb.String(), code
}

type clusterLine struct {
	ID    string `json:"id"`
	Items []struct {
		Feed, ID, URL, Title, Published string
	} `json:"items"`
}

func readClusters(t *testing.T, out string) []clusterLine {
	t.Helper()
	var cs []clusterLine
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var c clusterLine
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			t.Fatalf("clusters --json line %q: %v", sc.Text(), err)
		}
		cs = append(cs, c)
	}
	return cs
}

func TestEndToEndFetchClustersExport(t *testing.T) {
	ctx := t.Context()
	srv := testFeeds(t)
	cfg := writeTestConfig(t, srv.URL)

	out, errOut, code := runCmd(t, ctx, "fetch", "--config", cfg)
	if code != 0 {
		t.Fatalf("fetch exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	for _, want := range []string{"tigris-herald", "global-dispatch", "broken", "failed", "down", "500"} {
		if !strings.Contains(out, want) {
			t.Errorf("fetch summary lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(out, "7 feeds fetched") || !strings.Contains(out, "2 failed") {
		t.Errorf("fetch totals wrong:\n%s", out)
	}

	out, errOut, code = runCmd(t, ctx, "clusters", "--config", cfg, "--json")
	if code != 0 {
		t.Fatalf("clusters exit %d: %s", code, errOut)
	}
	clusters := readClusters(t, out)
	wantItems := 0
	for _, o := range demoOutlets {
		wantItems += len(o.stories)
	}
	seen := map[string]bool{}
	var march, wire []string
	for _, c := range clusters {
		var feeds []string
		isMarch, isWire := false, false
		for _, it := range c.Items {
			key := it.Feed + "|" + it.ID
			if seen[key] {
				t.Errorf("item %s is in two clusters", key)
			}
			seen[key] = true
			if _, err := time.Parse(time.RFC3339, it.Published); err != nil {
				t.Errorf("item %s: published %q is not RFC 3339", key, it.Published)
			}
			feeds = append(feeds, it.Feed)
			isMarch = isMarch || strings.Contains(it.ID, "soleimani") || strings.Contains(it.ID, "anniversary") || strings.Contains(it.ID, "march")
			isWire = isWire || strings.Contains(it.ID, "wire-satellite")
		}
		if isMarch {
			march = feeds
		}
		if isWire {
			wire = feeds
		}
	}
	if len(seen) != wantItems {
		t.Errorf("clusters --json lists %d items, want every stored item (%d)", len(seen), wantItems)
	}
	if len(march) != 5 {
		t.Errorf("the anniversary march cluster has outlets %v, want all 5", march)
	}
	if len(wire) != 3 {
		t.Errorf("the syndicated wire story cluster has outlets %v, want 3", wire)
	}

	for _, format := range []string{"rss", "atom", "json"} {
		out, errOut, code = runCmd(t, ctx, "export", "--config", cfg, "--output", "world", "--format", format)
		if code != 0 {
			t.Fatalf("export %s exit %d: %s", format, code, errOut)
		}
		feed, err := gofeed.NewParser().ParseString(out)
		if err != nil {
			t.Fatalf("export %s does not parse: %v\n%s", format, err, out)
		}
		if len(feed.Items) != len(clusters) {
			t.Errorf("export %s has %d entries, want one per story (%d)", format, len(feed.Items), len(clusters))
		}
		ids := map[string]bool{}
		for _, it := range feed.Items {
			if ids[it.GUID] {
				t.Errorf("export %s repeats entry id %s", format, it.GUID)
			}
			ids[it.GUID] = true
		}
	}

	// A second pass: nothing is due; forced, nothing is new.
	out, _, code = runCmd(t, ctx, "fetch", "--config", cfg)
	if code != 0 || !strings.Contains(out, "0 feeds fetched") {
		t.Errorf("second fetch should skip feeds that are not due (exit %d):\n%s", code, out)
	}
	out, _, code = runCmd(t, ctx, "fetch", "--config", cfg, "--force", "--feed", "tigris-herald")
	if code != 0 || !strings.Contains(out, "1 feeds fetched") || strings.Contains(out, "new items") && !strings.Contains(out, "(0 new items)") {
		t.Errorf("forced refetch should find nothing new (exit %d):\n%s", code, out)
	}
	out, _, _ = runCmd(t, ctx, "clusters", "--config", cfg, "--json")
	if again := readClusters(t, out); len(again) != len(clusters) {
		t.Errorf("refetch changed the clusters: %d, was %d", len(again), len(clusters))
	}
}

func TestExitCodes(t *testing.T) {
	ctx := t.Context()
	bad := filepath.Join(t.TempDir(), "bad.toml")
	os.WriteFile(bad, []byte("[fetch]\ninterval = \"soon\"\n"), 0o644)
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no command", nil, 2, "no command"},
		{"unknown command", []string{"frobnicate"}, 2, "unknown command"},
		{"bad config", []string{"fetch", "--config", bad}, 2, "bad.toml:2: fetch.interval"},
		{"missing config", []string{"fetch", "--config", bad + ".missing"}, 2, "does not exist"},
		{"bad flag", []string{"fetch", "--nope"}, 2, "not defined: -nope"},
		{"help", []string{"fetch", "--help"}, 0, "Usage: aggregator fetch"},
		{"bad format", []string{"export", "--format", "pdf"}, 2, "--format"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, code := runCmd(t, ctx, tt.args...)
			if code != tt.code {
				t.Errorf("exit %d, want %d (stderr %q)", code, tt.code, errOut)
			}
			if !strings.Contains(out+errOut, tt.want) {
				t.Errorf("output lacks %q:\nstdout %s\nstderr %s", tt.want, out, errOut)
			}
		})
	}
}

// serving is "aggregator serve" running inside a test.
type serving struct {
	base string
	// clustered receives after each clustering round that stored
	// decisions (buffered; rounds may coalesce).
	clustered chan struct{}
	cancel    context.CancelFunc
	done      chan error
	errb      *bytes.Buffer // serve's stderr; read only once it has returned
	// hup stands for SIGHUP: a send makes serve reload its config.
	hup chan os.Signal
}

// startServe runs serve with cfg until stop (or the test's end) and
// returns once it is listening; args are more of serve's flags.
func startServe(t *testing.T, cfg string, args ...string) *serving {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	s := &serving{clustered: make(chan struct{}, 1), cancel: cancel, done: make(chan error, 1), errb: new(bytes.Buffer), hup: make(chan os.Signal, 1)}
	ready := make(chan string, 1)
	e := &env{stdin: strings.NewReader(""), stdout: io.Discard, stderr: s.errb, hup: s.hup,
		ready: func(u string) { ready <- u },
		clustered: func() {
			select {
			case s.clustered <- struct{}{}:
			default:
			}
		}}
	go func() { s.done <- runEnv(ctx, e, append([]string{"serve", "--config", cfg}, args...)) }()
	select {
	case s.base = <-ready:
	case err := <-s.done:
		cancel()
		t.Fatalf("serve exited early: %v\n%s", err, s.errb.String())
	case <-time.After(20 * time.Second):
		cancel()
		t.Fatal("serve did not become ready")
	}
	t.Cleanup(func() { s.stop() })
	return s
}

// stop shuts serve down and returns what it returned (nil for a clean
// shutdown); later calls return nil.
func (s *serving) stop() error {
	if s.cancel == nil {
		return nil
	}
	s.cancel()
	s.cancel = nil
	select {
	case err := <-s.done:
		if errors.Is(err, context.Canceled) {
			return nil
		}
		return err
	case <-time.After(20 * time.Second):
		return errors.New("serve did not shut down within 20 s")
	}
}

func TestServeAndDatabaseInUse(t *testing.T) {
	srv := testFeeds(t)
	cfg := writeTestConfig(t, srv.URL)
	if _, errOut, code := runCmd(t, t.Context(), "fetch", "--config", cfg); code != 0 {
		t.Fatalf("fetch: %s", errOut)
	}

	s := startServe(t, cfg)
	base := s.base

	// The merged feeds, with validators and 304s.
	for _, tc := range []struct{ path, ctype string }{
		{"/world.rss", "application/rss+xml"}, {"/world.atom", "application/atom+xml"}, {"/world.json", "application/feed+json"},
	} {
		resp, err := http.Get(base + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), tc.ctype) {
			t.Errorf("GET %s: %d %q", tc.path, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		if f, err := gofeed.NewParser().Parse(bytes.NewReader(body)); err != nil || len(f.Items) == 0 {
			t.Errorf("GET %s: unparsable or empty feed: %v", tc.path, err)
		}
		etag := resp.Header.Get("ETag")
		if etag == "" || resp.Header.Get("Last-Modified") == "" {
			t.Errorf("GET %s: no ETag/Last-Modified", tc.path)
			continue
		}
		req, _ := http.NewRequest("GET", base+tc.path, nil)
		req.Header.Set("If-None-Match", etag)
		resp, err = http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotModified {
			t.Errorf("conditional GET %s: %d, want 304", tc.path, resp.StatusCode)
		}
	}
	resp, err := http.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`rel="alternate"`, "/world.atom", "/world.json", "Baghdad"} {
		if !bytes.Contains(page, []byte(want)) {
			t.Errorf("GET / lacks %q", want)
		}
	}
	for _, p := range []string{"/healthz", "/metrics"} {
		resp, err := http.Get(base + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("GET %s: %d", p, resp.StatusCode)
		}
	}

	// A second daemon is refused quickly and told why (the other commands
	// go through the first one's control channel: control_test.go).
	start := time.Now()
	_, errOut, code := runCmd(t, t.Context(), "serve", "--config", cfg)
	if code != 2 || !strings.Contains(errOut, "in use") {
		t.Errorf("serve against a held database: exit %d, stderr %q; want exit 2 and an 'in use' message", code, errOut)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("the in-use error took %s", d)
	}

	if err := s.stop(); err != nil {
		t.Errorf("serve returned %v", err)
	}
	// After shutdown the database opens again: nothing was left locked.
	if _, errOut, code := runCmd(t, t.Context(), "clusters", "--config", cfg); code != 0 {
		t.Errorf("clusters after shutdown: %s", errOut)
	}
}

func TestFeedsStateEnableAndDelete(t *testing.T) {
	ctx := t.Context()
	srv := testFeeds(t)
	cfg := writeTestConfig(t, srv.URL)
	b, _ := os.ReadFile(cfg)
	b = append(b, fmt.Sprintf("[[feeds]]\nname = \"gone\"\nurl = %q\n", srv.URL+"/gone.xml")...)
	os.WriteFile(cfg, b, 0o644)

	if _, errOut, code := runCmd(t, ctx, "fetch", "--config", cfg); code != 0 {
		t.Fatalf("fetch: %s", errOut)
	}
	out, errOut, code := runCmd(t, ctx, "feeds", "--config", cfg, "--json")
	if code != 0 {
		t.Fatalf("feeds --json: %s", errOut)
	}
	rows := map[string]feedRow{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var r feedRow
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("feeds --json line %q: %v", line, err)
		}
		rows[r.Name] = r
	}
	if r := rows["tigris-herald"]; r.Items != 5 || r.Status != "ok" || r.LastFetch.IsZero() || r.NextFetch.IsZero() {
		t.Errorf("tigris-herald row: %+v", r)
	}
	if r := rows["down"]; r.ConsecutiveErrors != 1 || !strings.Contains(r.LastError, "500") {
		t.Errorf("down row: %+v", r)
	}
	if r := rows["gone"]; !r.Disabled || r.DisabledReason == "" {
		t.Errorf("gone row should be disabled with a reason: %+v", r)
	}

	out, _, _ = runCmd(t, ctx, "fetch", "--config", cfg, "--force", "--feed", "gone")
	if !strings.Contains(out, "disabled") || !strings.Contains(out, "feeds enable gone") {
		t.Errorf("a gone feed is skipped, saying how to re-enable it:\n%s", out)
	}
	if out, errOut, code := runCmd(t, ctx, "feeds", "enable", "gone", "--config", cfg); code != 0 || !strings.Contains(out, "enabled") {
		t.Errorf("feeds enable: exit %d %s %s", code, out, errOut)
	}
	out, _, _ = runCmd(t, ctx, "fetch", "--config", cfg, "--feed", "gone")
	if !strings.Contains(out, "1 feeds fetched") {
		t.Errorf("an enabled feed is due at once:\n%s", out)
	}

	// Deleting a feed removes its items from the merged feed for good.
	if out, errOut, code := runCmd(t, ctx, "feeds", "delete", "tigris-herald", "--config", cfg); code != 0 || !strings.Contains(out, "5 stored items") {
		t.Fatalf("feeds delete: exit %d %s %s", code, out, errOut)
	}
	out, _, _ = runCmd(t, ctx, "fetch", "--config", cfg, "--force", "--feed", "tigris-herald")
	if !strings.Contains(out, "(0 new items)") {
		t.Errorf("deleted items came back as new:\n%s", out)
	}
	out, _, _ = runCmd(t, ctx, "clusters", "--config", cfg, "--json")
	if strings.Contains(out, "tigris-herald") {
		t.Errorf("clusters still list the deleted feed's items")
	}
	out, _, _ = runCmd(t, ctx, "export", "--config", cfg, "--format", "json")
	if strings.Contains(out, "tigris-herald.example") {
		t.Errorf("the merged feed still shows the deleted feed's items")
	}
}

func TestClustersTextAndExplain(t *testing.T) {
	ctx := t.Context()
	srv := testFeeds(t)
	cfg := writeTestConfig(t, srv.URL)
	if _, errOut, code := runCmd(t, ctx, "fetch", "--config", cfg); code != 0 {
		t.Fatalf("fetch: %s", errOut)
	}
	out, _, code := runCmd(t, ctx, "clusters", "--config", cfg, "--min-size", "2")
	if code != 0 {
		t.Fatal("clusters failed")
	}
	for _, want := range []string{"founded the story", "similar", "same url as", "5 outlet(s)"} {
		if !strings.Contains(out, want) {
			t.Errorf("clusters text lacks %q:\n%s", want, out)
		}
	}
	// The GUIDs of two reports of the march, and of an unrelated story.
	a, b, other := "tigris-herald:soleimani-anniversary-march", "meridian-wire:iraq-soleimani-rally", "meridian-wire:chess-final"
	out, errOut, code := runCmd(t, ctx, "clusters", "--config", cfg, "--explain", a, b)
	if code != 0 || !strings.Contains(out, "same story") {
		t.Errorf("explain of two march reports: exit %d\n%s%s", code, out, errOut)
	}
	out, _, _ = runCmd(t, ctx, "clusters", "--config", cfg, "--explain", a, other)
	if !strings.Contains(out, "different stories") {
		t.Errorf("explain of unrelated reports:\n%s", out)
	}
	if _, errOut, code := runCmd(t, ctx, "clusters", "--config", cfg, "--explain", a, "no-such-item"); code != 2 || !strings.Contains(errOut, "no item") {
		t.Errorf("explain of a missing item: exit %d %s", code, errOut)
	}
}
