// Command peer-miniflux measures the aggregator beside a peer: Miniflux
// v2.3.5, the most-used self-hosted feed reader written in Go, on
// PostgreSQL, reading the same feeds from the same nginx. It prints the
// wall and CPU time of a first pass (every feed new: fetched, parsed,
// stored) and of an unchanged pass (every feed answers 304) for each
// system, the medians over alternating rounds, and the ratios.
//
//	go run ./scripts/peer-miniflux                       # 2,000 feeds × 40 items, 3 rounds
//	go run ./scripts/peer-miniflux -feeds 200 -rounds 1 -miniflux /tmp/mfbin/miniflux.app
//
// The systems, alternating round by round:
//
//   - ours, bbolt: "aggregator fetch" on a fresh database file, then
//     "aggregator fetch --force" (the feeds are not due yet);
//   - ours, PostgreSQL: the same with [storage] url on a fresh database;
//   - Miniflux, API: subscribed by an OPML import (which stores the feeds
//     without fetching them), then PUT /v1/feeds/refresh for each pass;
//   - Miniflux, scheduler: the same subscription, its own scheduler
//     polling every minute (POLLING_FREQUENCY=1, the least it takes) with a
//     batch covering every feed, each pass begun by its next tick.
//
// Both Miniflux modes run WORKER_POOL_SIZE=16 workers, as our 16
// fetches in flight. Before an unchanged pass the script sets every
// feed's next_check_at to now (as time passing would); a pass ends when
// every feed's checked_at is from the pass and the database holds every
// entry (first pass: all 80,000 at full size), which the script then
// checks through Miniflux's API too (GET /v1/feeds for parsing errors,
// GET /v1/entries for the total).
//
// CPU is user + system time. Ours: the aggregator process (its rusage),
// plus on PostgreSQL what the server's processes used during the pass.
// Miniflux: its process and every PostgreSQL process, read from /proc:
// the postmaster's own time and that of the children it has reaped
// (backends that exited), and each live child's (backends, checkpointer,
// WAL writer, autovacuum), before and after the pass. The backend of the
// script's own progress queries is left out. cgroups are not used: this
// machine has no writable cgroup v2 hierarchy.
//
// Miniflux looks up each site's icon, so everything runs in a network
// namespace of its own that has only lo (the script re-executes itself
// under "unshare -n"; it must be root): nginx, PostgreSQL, Miniflux and
// the aggregator can reach nothing but loopback. The feeds' channel links
// point at the loopback nginx (404) so that no outside name is looked up.
// The script refuses to run Miniflux outside such a namespace unless
// -allow-network is given.
//
// Miniflux is not part of this repository: the script installs it into
// the user's cache directory with "go install miniflux.app/v2@v2.3.5"
// when it is missing (-miniflux points at another copy). It needs nginx
// (apt-get install nginx-light), Debian's PostgreSQL server binaries
// (one throwaway cluster, fsync on, a database per round and system) and
// iproute2 and util-linux (ip, unshare). The feeds are synthetic: real
// headlines and leads from ../shared/data/dedupe/dev-rich.jsonl, cycled
// into distinct items (internal/synthfeed).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"aggregator/internal/shareddata"
	"aggregator/internal/synthfeed"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := runMain(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "peer-miniflux:", err)
		stop()
		os.Exit(1)
	}
}

// The systems measured, in the order of a round.
const (
	oursBbolt     = "ours-bbolt"
	minifluxAPI   = "miniflux-api"
	oursPostgres  = "ours-postgres"
	minifluxSched = "miniflux-scheduler"
)

var allSystems = []string{oursBbolt, minifluxAPI, oursPostgres, minifluxSched}

type config struct {
	feeds, items, rounds int
	systems              []string
	miniflux, aggregator string
	data                 string
	timeout, poll        time.Duration
	netns, inNetns       bool
	allowNetwork         bool
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("peer-miniflux", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&c.feeds, "feeds", 2000, "distinct feeds")
	fs.IntVar(&c.items, "items", 40, "items per feed")
	fs.IntVar(&c.rounds, "rounds", 3, "rounds of every system, alternating (medians are reported)")
	systems := fs.String("systems", strings.Join(allSystems, ","), "systems to run, comma-separated: "+strings.Join(allSystems, ", "))
	fs.StringVar(&c.miniflux, "miniflux", "", "Miniflux "+minifluxVersion+" binary (default: in the user's cache directory, installed with go install when missing)")
	fs.StringVar(&c.aggregator, "aggregator", "", "aggregator binary (default: built from this checkout)")
	fs.StringVar(&c.data, "data", "", "dev-rich.jsonl (default: found in ../shared)")
	fs.DurationVar(&c.timeout, "timeout", 2*time.Hour, "give up after this long")
	fs.DurationVar(&c.poll, "poll", 200*time.Millisecond, "how often Miniflux's progress is read from its database")
	fs.BoolVar(&c.netns, "netns", true, "run everything in a new network namespace with only lo (unshare -n; needs root)")
	fs.BoolVar(&c.allowNetwork, "allow-network", false, "run Miniflux even where it can reach more than loopback")
	fs.BoolVar(&c.inNetns, "in-netns", false, "internal: this process is the re-executed one, inside the namespace")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	for _, s := range strings.Split(*systems, ",") {
		s = strings.TrimSpace(s)
		if !slices.Contains(allSystems, s) {
			return config{}, fmt.Errorf("-systems: unknown system %q (want some of %s)", s, strings.Join(allSystems, ", "))
		}
		if !slices.Contains(c.systems, s) {
			c.systems = append(c.systems, s)
		}
	}
	// Keep the round order whatever the order given.
	slices.SortFunc(c.systems, func(a, b string) int { return slices.Index(allSystems, a) - slices.Index(allSystems, b) })
	if c.feeds < 1 || c.items < 1 || c.rounds < 1 {
		return config{}, errors.New("-feeds, -items and -rounds must be at least 1")
	}
	return c, nil
}

func (c config) withMiniflux() bool {
	return slices.Contains(c.systems, minifluxAPI) || slices.Contains(c.systems, minifluxSched)
}

// runMain prepares what needs the network or the module cache (Miniflux's
// installation, our build), then runs the measurement, re-executed in a
// network namespace of its own unless -netns=false.
func runMain(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	if c.inNetns {
		// A new namespace's lo is down.
		if out, err := exec.CommandContext(ctx, "ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
			return fmt.Errorf("ip link set lo up: %w: %s", err, out)
		}
		return measure(ctx, c, stdout, stderr)
	}
	if c.withMiniflux() {
		if c.miniflux, err = ensureMiniflux(ctx, c.miniflux, stderr); err != nil {
			return err
		}
	}
	if c.data == "" {
		if c.data, err = shareddata.Path("dedupe", "dev-rich.jsonl"); err != nil {
			return err
		}
	}
	if c.aggregator == "" {
		dir, err := os.MkdirTemp("", "peer-miniflux-bin-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		c.aggregator = filepath.Join(dir, "aggregator")
		build := exec.CommandContext(ctx, "go", "build", "-o", c.aggregator, "./cmd/aggregator")
		build.Stdout, build.Stderr = stderr, stderr
		if err := build.Run(); err != nil {
			return fmt.Errorf("build the aggregator: %w (run from the repository root)", err)
		}
	}
	for _, p := range []*string{&c.miniflux, &c.aggregator, &c.data} {
		if *p != "" {
			if *p, err = filepath.Abs(*p); err != nil {
				return err
			}
		}
	}
	if !c.netns {
		return measure(ctx, c, stdout, stderr)
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	argv := append([]string{"--net", "--", self}, args...)
	argv = append(argv, "-in-netns", "-miniflux", c.miniflux, "-aggregator", c.aggregator, "-data", c.data)
	cmd := exec.CommandContext(ctx, "unshare", argv...)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	// The child stops its servers on SIGTERM as on Ctrl-C; it dies with us.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 30 * time.Second
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Run(); err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return fmt.Errorf("the run in its network namespace failed (%w)", err)
		}
		return fmt.Errorf("unshare -n (needs root and util-linux): %w", err)
	}
	return nil
}

// loopbackOnly reports whether this process's network namespace has no
// interface but loopback ones.
func loopbackOnly() (bool, []string, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return false, nil, err
	}
	var names []string
	only := true
	for _, i := range ifs {
		names = append(names, i.Name)
		if i.Flags&net.FlagLoopback == 0 {
			only = false
		}
	}
	return only, names, nil
}

// measure starts the feed server and PostgreSQL and runs the rounds.
func measure(ctx context.Context, c config, stdout, stderr io.Writer) error {
	only, ifaces, err := loopbackOnly()
	if err != nil {
		return err
	}
	where := fmt.Sprintf("network: interfaces %s", strings.Join(ifaces, ", "))
	if only && c.inNetns {
		where = "network: a namespace of its own with only " + strings.Join(ifaces, ", ") + " (unshare -n): nothing but loopback is reachable"
	}
	if !only && c.withMiniflux() && !c.allowNetwork {
		return fmt.Errorf("refusing to run Miniflux where it can reach more than loopback (interfaces %s): drop -netns=false, or pass -allow-network", strings.Join(ifaces, ", "))
	}
	texts, err := synthfeed.ReadTexts(c.data)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "peer-miniflux-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	// nginx's workers run as nobody and must read the feeds.
	if err := os.Chmod(dir, 0o755); err != nil {
		return err
	}
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	base := "http://" + addr
	feeds := synthfeed.Feeds{Texts: texts, N: c.feeds, Items: c.items}
	www := filepath.Join(dir, "www")
	size, err := writeFeeds(www, feeds, base)
	if err != nil {
		return err
	}
	web, err := startNginx(ctx, dir, www, addr)
	if err != nil {
		return err
	}
	defer web.stop()
	pg, err := startPG(ctx)
	if err != nil {
		return err
	}
	defer pg.srv.Stop()

	fmt.Fprintf(stdout, "%d feeds × %d items (%.1f MiB of RSS) from nginx at %s; PostgreSQL 15 (fsync on), a database per run\n", c.feeds, c.items, float64(size)/(1<<20), base)
	fmt.Fprintln(stdout, where)
	fmt.Fprintf(stdout, "systems, alternating, %d rounds: %s\n", c.rounds, strings.Join(c.systems, ", "))
	o := &ours{bin: c.aggregator, dir: dir, base: base, nFeeds: c.feeds, nItems: c.items, web: web, pg: pg}
	p := &peer{bin: c.miniflux, dir: dir, base: base, nFeeds: c.feeds, nItems: c.items, web: web, pg: pg, poll: c.poll}
	results := map[string][]run{}
	for r := range c.rounds {
		for _, s := range c.systems {
			var res run
			var err error
			switch s {
			case oursBbolt:
				res, err = o.round(ctx, "bbolt", r)
			case oursPostgres:
				res, err = o.round(ctx, "postgres", r)
			case minifluxAPI, minifluxSched:
				mode := map[string]string{minifluxAPI: modeAPI, minifluxSched: modeScheduler}[s]
				for attempt := 1; ; attempt++ {
					res, err = p.round(ctx, mode, r)
					if !errors.Is(err, errMinifluxStore) || attempt == 3 {
						break
					}
					fmt.Fprintf(stderr, "round %d, %s: %v; running the round again\n", r+1, s, err)
				}
			}
			if err != nil {
				return fmt.Errorf("round %d, %s: %w", r+1, s, err)
			}
			results[s] = append(results[s], res)
			printRun(stdout, r, s, res)
		}
	}
	report(stdout, c, results)
	return nil
}
