package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"aggregator/internal/pgtest"
)

// TestMigrate moves a database from bbolt to PostgreSQL and back and
// checks what a reader and the schedule would notice: every output's
// merged feed is the same in all three formats (entries, ids, content),
// a fetch afterwards finds nothing due, and a forced one stores no old
// story as new.
func TestMigrate(t *testing.T) {
	ctx := t.Context()
	srv := testFeeds(t)
	cfg := writeTestConfig(t, srv.URL)
	if _, errOut, code := runCmd(t, ctx, "fetch", "--config", cfg); code != 0 {
		t.Fatalf("fetch: %s", errOut)
	}
	outputs := func(args ...string) map[string]string {
		t.Helper()
		got := map[string]string{}
		for _, f := range []string{"rss", "atom", "json"} {
			out, errOut, code := runCmd(t, ctx, append([]string{"export", "--format", f}, args...)...)
			if code != 0 {
				t.Fatalf("export %s %v: %s", f, args, errOut)
			}
			got[f] = out
		}
		clusters, _, _ := runCmd(t, ctx, append([]string{"clusters", "--json"}, args...)...)
		got["clusters"] = clusters
		return got
	}
	want := outputs("--config", cfg)

	url := pgtest.NewDatabase(t)
	out, errOut, code := runCmd(t, ctx, "migrate", "--config", cfg, "--to", url)
	if code != 0 || !strings.Contains(out, "copied") {
		t.Fatalf("migrate to PostgreSQL: exit %d\n%s%s", code, out, errOut)
	}
	// The same config on PostgreSQL.
	raw, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	pgCfg := filepath.Join(t.TempDir(), "pg.toml")
	body := strings.Replace(string(raw), "[storage]\n", fmt.Sprintf("[storage]\nurl = %q\n", url), 1)
	if err := os.WriteFile(pgCfg, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	check := func(where string, args ...string) {
		t.Helper()
		got := outputs(args...)
		for k := range want {
			if got[k] != want[k] {
				t.Errorf("%s: %s differs after migrating:\n%s", where, k, diffLines(want[k], got[k]))
			}
		}
		out, errOut, code := runCmd(t, ctx, append([]string{"fetch"}, args...)...)
		if code != 0 || !strings.Contains(out, "0 feeds fetched") {
			t.Errorf("%s: a fetch right after migrating fetched something (the schedule did not move): exit %d\n%s%s", where, code, out, errOut)
		}
	}
	check("PostgreSQL", "--config", pgCfg)
	if _, errOut, code := runCmd(t, ctx, "migrate", "--config", pgCfg, "--to", url); code != 2 || !strings.Contains(errOut, "source itself") {
		t.Errorf("migrate onto itself: exit %d %q", code, errOut)
	}

	back := filepath.Join(t.TempDir(), "back.db")
	if out, errOut, code := runCmd(t, ctx, "migrate", "--config", pgCfg, "--to", back); code != 0 {
		t.Fatalf("migrate back to a file: exit %d\n%s%s", code, out, errOut)
	}
	check("back in bbolt", "--config", cfg, "--db", back)
	if _, errOut, code := runCmd(t, ctx, "migrate", "--config", pgCfg, "--to", back); code != 2 || !strings.Contains(errOut, "exists") {
		t.Errorf("migrate onto an existing file: exit %d %q", code, errOut)
	}

	// No old story comes back as new, on either store.
	for _, args := range [][]string{{"--config", pgCfg}, {"--config", cfg, "--db", back}} {
		out, _, _ := runCmd(t, ctx, append([]string{"fetch", "--force"}, args...)...)
		if !strings.Contains(out, "(0 new items)") {
			t.Errorf("fetch --force %v after migrating stored items as new:\n%s", args, out)
		}
	}
}
