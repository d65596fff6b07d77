// Command fleet runs a fleet of "aggregator serve" daemons on one
// PostgreSQL against one loopback feed server, kills nodes with SIGKILL
// (one mid-pass, then the clusterer) and restarts them, and checks from
// the feed server's own request log and from the database what a fleet
// promises: every feed fetched once per interval, the per-host limits
// held across all nodes, every item stored once and clustered, the
// stories of one node's pass over the same feeds, and the same outputs
// (bytes and ETag) on every node. It prints what it measured: fetches
// per node, the takeover time, the lag from a new item served to it in
// the outputs. Exit status 1 when an assertion fails.
//
//	go run ./scripts/fleet                      # 5,000 feeds, 50 hosts, 3 nodes
//	go run ./scripts/fleet -feeds 300 -hosts 10 -interval 8s
//
// Needs Debian's postgresql binaries (apt-get install postgresql); it
// starts and stops its own throwaway server, and talks only to loopback.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"aggregator/internal/shareddata"
)

func main() {
	c := config{out: os.Stdout}
	flag.IntVar(&c.feeds, "feeds", 5000, "feeds")
	flag.IntVar(&c.hosts, "hosts", 50, "hosts (ports of 127.0.0.1) serving them")
	flag.IntVar(&c.nodes, "nodes", 3, "daemons")
	flag.IntVar(&c.items, "items", 8, "items of each feed at first; each interval adds a quarter as many")
	// 5,000 feeds every 90 s is 56 fetches a second: about half of what
	// three nodes, PostgreSQL and this server keep up on two shared
	// cores, so that the fleet catches up within the check's slack after
	// a kill. At 30 s (167 a second) feeds queued for twice the interval.
	flag.IntVar(&c.intervals, "intervals", 3, "fetch intervals the feeds change in")
	flag.DurationVar(&c.interval, "interval", 90*time.Second, "fetch interval")
	flag.IntVar(&c.perHost, "per-host", 2, "[fetch] per_host")
	flag.DurationVar(&c.hostDelay, "host-delay", 100*time.Millisecond, "[fetch] host_delay")
	flag.DurationVar(&c.timeout, "timeout", 5*time.Second, "[fetch] timeout")
	flag.DurationVar(&c.lease, "lease", 12*time.Second, "[fleet] lease")
	flag.DurationVar(&c.restartAfter, "restart-after", 2*time.Second, "how long a killed node stays down")
	flag.BoolVar(&c.keep, "keep", false, "keep the work directory with the nodes' logs")
	noKill := flag.Bool("no-kill", false, "kill nothing")
	flag.StringVar(&c.bin, "bin", "", "aggregator binary (default: built from this checkout)")
	flag.Parse()
	c.killNode, c.killLeader = !*noKill, !*noKill
	dir, err := shareddata.Dir()
	if err != nil {
		fmt.Fprintln(os.Stderr, "fleet:", err)
		os.Exit(2)
	}
	c.texts = filepath.Join(dir, "dedupe", "dev-rich.jsonl")
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	res, err := run(ctx, c)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fleet:", err)
		os.Exit(2)
	}
	res.print(os.Stdout)
	fmt.Printf("took %s\n", time.Since(start).Round(time.Second))
	if len(res.failures) > 0 {
		os.Exit(1)
	}
}
