package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestCLIBesideDaemon: with serve running, the read commands answer
// through its control channel with the output an idle database gives;
// fetch, feeds delete and reload go through it too; an invalid config is
// refused while the daemon keeps serving the old one; SIGHUP reloads.
func TestCLIBesideDaemon(t *testing.T) {
	ctx := t.Context()
	srv := testFeeds(t)
	cfg := writeTestConfig(t, srv.URL)
	if _, errOut, code := runCmd(t, ctx, "fetch", "--config", cfg); code != 0 {
		t.Fatalf("fetch: %s", errOut)
	}
	clusters, _, _ := runCmd(t, ctx, "clusters", "--config", cfg, "--json")
	cl := readClusters(t, clusters)
	if len(cl) < 2 || len(cl[0].Items) == 0 {
		t.Fatalf("too few clusters: %s", clusters)
	}
	a, b := cl[0].Items[0].URL, cl[1].Items[0].URL
	commands := [][]string{
		{"clusters", "--json"},
		{"clusters", "--min-size", "2"},
		{"clusters", "--explain", a, b},
		{"feeds"},
		{"feeds", "--json"},
		{"export", "--format", "json"},
		{"export", "--format", "rss"},
	}
	idle := map[int]string{}
	for i, c := range commands {
		out, errOut, code := runCmd(t, ctx, append([]string{c[0], "--config", cfg}, c[1:]...)...)
		if code != 0 {
			t.Fatalf("%v on an idle database: exit %d %s", c, code, errOut)
		}
		idle[i] = out
	}

	s := startServe(t, cfg)
	for i, c := range commands {
		out, errOut, code := runCmd(t, ctx, append([]string{c[0], "--config", cfg}, c[1:]...)...)
		if code != 0 {
			t.Errorf("%v beside the daemon: exit %d %s", c, code, errOut)
			continue
		}
		if out != idle[i] {
			t.Errorf("%v beside the daemon differs from an idle database's:\n%s", c, diffLines(idle[i], out))
		}
	}

	out, errOut, code := runCmd(t, ctx, "fetch", "--config", cfg, "--force", "--feed", "tigris-herald")
	if code != 0 || !strings.Contains(out, "1 feeds fetched") || !strings.Contains(out, "tigris-herald") {
		t.Errorf("fetch through the daemon: exit %d\n%s%s", code, out, errOut)
	}
	if out, errOut, code := runCmd(t, ctx, "feeds", "delete", "tigris-herald", "--config", cfg); code != 0 || !strings.Contains(out, "5 stored items") {
		t.Errorf("feeds delete through the daemon: exit %d %s %s", code, out, errOut)
	}
	out, _, _ = runCmd(t, ctx, "fetch", "--config", cfg, "--force", "--feed", "tigris-herald")
	if !strings.Contains(out, "(0 new items)") {
		t.Errorf("deleted items came back as new through the daemon:\n%s", out)
	}
	if out, _, _ := runCmd(t, ctx, "clusters", "--config", cfg, "--json"); strings.Contains(out, "tigris-herald") {
		t.Errorf("clusters through the daemon still list the deleted feed's items")
	}

	// Reload: a feed and an output added.
	orig, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	added := string(orig) + fmt.Sprintf("[[feeds]]\nname = \"copydesk\"\nurl = %q\ntags = [\"extra\"]\n[[outputs]]\nname = \"extra\"\ntitle = \"Extra\"\ntags = [\"extra\"]\n", srv.URL+"/gone.xml")
	if err := os.WriteFile(cfg, []byte(added), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, errOut, code := runCmd(t, ctx, "reload", "--config", cfg); code != 0 || !strings.Contains(out, "reloaded") {
		t.Fatalf("reload: exit %d %s %s", code, out, errOut)
	}
	if code := get(t, s.base+"/extra.rss"); code != http.StatusOK {
		t.Errorf("GET /extra.rss after reload: %d, want 200", code)
	}
	waitFor(t, "the added feed fetched", func() bool {
		out, _, _ := runCmd(t, ctx, "feeds", "--config", cfg, "--json")
		return strings.Contains(out, `"name":"copydesk"`) && !strings.Contains(out, `"name":"copydesk","url":"`+srv.URL+`/gone.xml","status":"never fetched"`)
	})

	// An invalid file is refused; the daemon keeps what it runs.
	if err := os.WriteFile(cfg, []byte(added+"[[feeds]]\nname = \"nourl\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, errOut, code := runCmd(t, ctx, "reload", "--config", cfg); code != 2 || !strings.Contains(errOut, "feeds.toml") {
		t.Errorf("reload of an invalid file: exit %d %q; want 2 and the file named", code, errOut)
	}
	if code := get(t, s.base+"/extra.rss"); code != http.StatusOK {
		t.Errorf("GET /extra.rss after a refused reload: %d, want 200", code)
	}

	// SIGHUP: back to the original file, the extra output goes.
	if err := os.WriteFile(cfg, orig, 0o644); err != nil {
		t.Fatal(err)
	}
	s.hup <- syscall.SIGHUP
	waitFor(t, "SIGHUP to drop the extra output", func() bool { return get(t, s.base+"/extra.rss") == http.StatusNotFound })
	if code := get(t, s.base+"/world.rss"); code != http.StatusOK {
		t.Errorf("GET /world.rss after SIGHUP: %d", code)
	}

	if err := s.stop(); err != nil {
		t.Fatalf("serve: %v\n%s", err, s.errb.String())
	}
	if !strings.Contains(s.errb.String(), "reload failed") {
		t.Errorf("the refused reload was not logged:\n%s", s.errb.String())
	}
	// Without a daemon, reload says so, and the socket is gone.
	if _, errOut, code := runCmd(t, ctx, "reload", "--config", cfg); code == 0 || !strings.Contains(errOut, "no daemon") {
		t.Errorf("reload without a daemon: exit %d %q", code, errOut)
	}
}

func get(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// waitFor polls cond every 20 ms for up to 10 s: for effects of another
// goroutine that no event announces to the test.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(10 * time.Second)
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
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

// TestMetrics: /metrics is the Prometheus text format of the standard
// client, with what Prometheus users expect of a daemon like this one.
func TestMetrics(t *testing.T) {
	srv := testFeeds(t)
	cfg := writeTestConfig(t, srv.URL)
	s := startServe(t, cfg)
	select {
	case <-s.clustered:
	case <-time.After(20 * time.Second):
		t.Fatal("serve clustered nothing in 20 s")
	}
	if code := get(t, s.base+"/world.rss"); code != http.StatusOK {
		t.Fatalf("GET /world.rss: %d", code)
	}
	get(t, s.base+"/nothing-here")
	resp, err := http.Get(s.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type %q", ct)
	}
	for _, want := range []string{
		`aggregator_fetches_total{result="ok"}`,
		`aggregator_fetch_bytes_total`,
		`aggregator_fetch_duration_seconds_bucket`,
		`aggregator_items_stored_total`,
		`aggregator_stories `,
		`aggregator_pending_items `,
		`aggregator_pending_age_seconds `,
		`aggregator_cluster_batch_duration_seconds_count`,
		`aggregator_index_save_duration_seconds`,
		`aggregator_http_requests_total{code="200",path="feed"} 1`,
		`aggregator_http_requests_total{code="404",path="other"} 1`,
		`go_build_info`,
		`go_goroutines`,
		`process_resident_memory_bytes`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// TestReloadKeepsCommandLine: serve's --listen and --node stay in force
// across a reload of an unchanged file, which reports no setting as
// needing a restart (it used to name [server] and [fleet]).
func TestReloadKeepsCommandLine(t *testing.T) {
	srv := testFeeds(t)
	cfg := writeTestConfig(t, srv.URL)
	orig, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// An address no test can listen on: only --listen makes serve start.
	changed := strings.Replace(string(orig), `listen = "127.0.0.1:0"`, `listen = "192.0.2.1:80"`, 1)
	if changed == string(orig) {
		t.Fatal("the test config has no listen line to change")
	}
	if err := os.WriteFile(cfg, []byte(changed), 0o644); err != nil {
		t.Fatal(err)
	}
	s := startServe(t, cfg, "--listen", "127.0.0.1:0", "--node", "n1")
	if out, errOut, code := runCmd(t, t.Context(), "reload", "--config", cfg); code != 0 || !strings.Contains(out, "reloaded") {
		t.Fatalf("reload: exit %d %s %s", code, out, errOut)
	}
	if code := get(t, s.base+"/world.rss"); code != http.StatusOK {
		t.Errorf("GET /world.rss after reload: %d", code)
	}
	if err := s.stop(); err != nil {
		t.Fatalf("serve: %v\n%s", err, s.errb.String())
	}
	if log := s.errb.String(); strings.Contains(log, "next start") {
		t.Errorf("a reload of an unchanged file reported settings that need a restart:\n%s", log)
	}
}
