package main

import (
	"os"
	"strings"
	"testing"
	"time"

	"aggregator/internal/pgserver"
	"aggregator/internal/pgtest"
	"aggregator/internal/shareddata"
)

// TestFleetShort is the fleet script, small: three serve daemons on one
// PostgreSQL, 200 feeds on 8 hosts, three 8 s intervals, a fetching node
// and then the clusterer killed with SIGKILL and restarted; every
// assertion of the script must hold.
func TestFleetShort(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL and three daemons for about 40 s")
	}
	if _, err := pgserver.FindBinDir(""); err != nil {
		if os.Getenv(pgtest.EnvRequire) == "1" {
			t.Fatalf("PostgreSQL is required (%s=1): %v", pgtest.EnvRequire, err)
		}
		t.Skipf("no PostgreSQL programs (%v): apt-get install postgresql, or set %s=1 to make this a failure", err, pgtest.EnvRequire)
	}
	var out strings.Builder
	c := config{feeds: 200, hosts: 8, nodes: 3, items: 8, intervals: 3, interval: 8 * time.Second,
		perHost: 2, hostDelay: 100 * time.Millisecond, timeout: 5 * time.Second, lease: 12 * time.Second,
		killNode: true, killLeader: true, restartAfter: 2 * time.Second,
		texts: shareddata.TestDir(t) + "/dedupe/dev-rich.jsonl", out: &out}
	res, err := run(t.Context(), c)
	if err != nil {
		t.Fatal(err)
	}
	res.print(&out)
	t.Log("\n" + out.String())
	for _, f := range res.failures {
		t.Error(f)
	}
	if len(res.takeovers) != 1 || res.takeovers[0] > 5*time.Second {
		t.Errorf("takeovers %v: want one, within seconds", res.takeovers)
	}
}
