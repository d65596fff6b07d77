package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"aggregator/internal/pgtest"
	"aggregator/pipeline"
	"aggregator/storage/postgres"
)

// TestFetchBesideFleet: "aggregator fetch" on a fleet's database leases
// the due feeds as the daemons do, so a feed another node is fetching is
// reported as leased and left alone, the rest are fetched, their leases
// end with their stores, and "feeds" names the node that fetched each.
func TestFetchBesideFleet(t *testing.T) {
	ctx := t.Context()
	srv := testFeeds(t)
	url := pgtest.NewDatabase(t)
	raw, err := os.ReadFile(writeTestConfig(t, srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(t.TempDir(), "pg.toml")
	body := strings.Replace(string(raw), "[storage]\n", fmt.Sprintf("[storage]\nurl = %q\n", url), 1)
	if err := os.WriteFile(cfg, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	db, err := openPostgres(ctx, url, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	fl := db.(pipeline.Fleet)
	busy := demoOutlets[0].name
	if got, _, err := fl.ClaimFeeds(ctx, "other-node", []string{busy}, time.Minute, 1); err != nil || len(got) != 1 {
		t.Fatalf("claim %s as another node: %v %v", busy, got, err)
	}

	out, errOut, code := runCmd(t, context.Background(), "fetch", "--config", cfg)
	if code != 0 {
		t.Fatalf("fetch: exit %d\n%s%s", code, out, errOut)
	}
	if !strings.Contains(out, busy) || !strings.Contains(out, "another node of the fleet is fetching it now") {
		t.Errorf("fetch does not report %s as leased:\n%s", busy, out)
	}
	all, mine, err := fl.Leases(ctx, "other-node")
	if err != nil || all != 1 || mine != 1 {
		t.Errorf("leases after the fetch: %d in all, %d of other-node (%v); want only the other node's one", all, mine, err)
	}
	out, _, code = runCmd(t, ctx, "feeds", "--config", cfg, "--json")
	if code != 0 {
		t.Fatal("feeds failed")
	}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var row struct {
			Name, Node string
			LastFetch  time.Time `json:"last_fetch"`
		}
		if err := json.Unmarshal([]byte(line), &row); err != nil {
			t.Fatal(err)
		}
		switch {
		case row.Name == busy && !row.LastFetch.IsZero():
			t.Errorf("%s was fetched although another node held it", busy)
		case row.Name != busy && !strings.HasPrefix(row.Node, "fetch@"):
			t.Errorf("feed %s: node %q, want the fetch command's", row.Name, row.Node)
		}
	}
	text, _, _ := runCmd(t, ctx, "feeds", "--config", cfg)
	if !strings.Contains(text, "NODE") {
		t.Errorf("feeds on a fleet's database has no NODE column:\n%s", text)
	}
}
