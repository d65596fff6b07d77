package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"time"
)

// pass is one measured pass of one system.
type pass struct {
	Wall time.Duration
	CPU  time.Duration // every process of the system, PostgreSQL included
	PG   time.Duration // of which PostgreSQL's
	Reqs requestCount
	Note string
}

// run is a first pass on a fresh database and the unchanged pass after it.
type run struct{ First, Unchanged pass }

// summary is what "aggregator fetch" says of its pass.
type summary struct{ Fetched, Changed, NewItems, Unchanged, Failed int }

var summaryRE = regexp.MustCompile(`(\d+) feeds fetched in \S+: (\d+) with new content \((\d+) new items\), (\d+) unchanged, (\d+) failed`)

func parseSummary(out []byte) (summary, error) {
	m := summaryRE.FindSubmatch(out)
	if m == nil {
		return summary{}, fmt.Errorf("no summary line in the output of aggregator fetch:\n%s", out)
	}
	var n [5]int
	for i := range n {
		n[i], _ = strconv.Atoi(string(m[i+1])) // \d+: always a number
	}
	return summary{n[0], n[1], n[2], n[3], n[4]}, nil
}

// ours runs our side: "aggregator fetch" on the feeds.
type ours struct {
	bin, dir string
	base     string
	nFeeds   int
	nItems   int
	web      *nginx
	pg       *pgCluster
}

// round runs the first pass on a fresh database of store ("bbolt" or
// "postgres") and then the unchanged pass ("fetch --force": the feeds are
// not due yet), and checks that the first stored every item and the
// second found every feed unchanged.
func (o *ours) round(ctx context.Context, store string, r int) (run, error) {
	var cfg string
	var args []string
	switch store {
	case "bbolt":
		cfg = filepath.Join(o.dir, "feeds.toml")
		db := filepath.Join(o.dir, fmt.Sprintf("ours-%d.db", r))
		defer os.Remove(db)
		defer os.Remove(db + ".index")
		args = []string{"--db", db}
		if err := os.WriteFile(cfg, feedsTOML(o.base, o.nFeeds, ""), 0o644); err != nil {
			return run{}, err
		}
	case "postgres":
		name := fmt.Sprintf("ours_%d", r)
		if err := o.pg.srv.CreateDatabase(ctx, name); err != nil {
			return run{}, err
		}
		defer o.pg.drop(context.WithoutCancel(ctx), name)
		cfg = filepath.Join(o.dir, fmt.Sprintf("feeds-%s.toml", name))
		if err := os.WriteFile(cfg, feedsTOML(o.base, o.nFeeds, o.pg.srv.URL(name)), 0o644); err != nil {
			return run{}, err
		}
	}
	var res run
	first, sum, err := o.pass(ctx, store, cfg, args)
	if err != nil {
		return run{}, err
	}
	if want := o.nFeeds * o.nItems; sum.NewItems != want || sum.Failed != 0 {
		return run{}, fmt.Errorf("ours (%s), first pass: %d new items and %d failed, want %d and 0", store, sum.NewItems, sum.Failed, want)
	}
	res.First = first
	unchanged, sum, err := o.pass(ctx, store, cfg, append(args, "--force"))
	if err != nil {
		return run{}, err
	}
	if sum.Unchanged != o.nFeeds || sum.Failed != 0 {
		return run{}, fmt.Errorf("ours (%s), unchanged pass: %d unchanged and %d failed, want %d and 0", store, sum.Unchanged, sum.Failed, o.nFeeds)
	}
	res.Unchanged = unchanged
	return res, nil
}

// pass runs one "aggregator fetch": its CPU is the child's rusage (user
// + system), plus on PostgreSQL what the server's processes used
// meanwhile.
func (o *ours) pass(ctx context.Context, store, cfg string, args []string) (pass, summary, error) {
	argv := append([]string{"fetch", "--quiet", "--config", cfg}, args...)
	cmd := exec.CommandContext(ctx, o.bin, argv...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + o.dir}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	off := o.web.logOffset()
	pg0, err := o.pg.cpu()
	if err != nil {
		return pass{}, summary{}, err
	}
	start := time.Now()
	err = cmd.Run()
	wall := time.Since(start)
	if err != nil {
		return pass{}, summary{}, fmt.Errorf("aggregator %v: %w\n%s", argv, err, out.Bytes())
	}
	pg1, err := o.pg.cpu()
	if err != nil {
		return pass{}, summary{}, err
	}
	sum, err := parseSummary(out.Bytes())
	if err != nil {
		return pass{}, summary{}, err
	}
	reqs, err := o.web.requests(off)
	if err != nil {
		return pass{}, summary{}, err
	}
	p := pass{Wall: wall, CPU: cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(), Reqs: reqs}
	if store == "postgres" {
		p.PG = pg1 - pg0
		p.CPU += p.PG
	}
	return p, sum, nil
}
