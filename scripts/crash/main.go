// Command crash kills "aggregator fetch" and "aggregator serve" with
// SIGKILL at random moments and checks that the next run finishes the
// work as if nothing had happened (issue 12, point 3).
//
//	go run ./scripts/crash -kills 50 -seed 1
//	go run ./scripts/crash -seed 1 -trial 17   # replay one trial
//
// It builds the binary, serves a labelled data set (default
// ../shared/data/dedupe/dev.jsonl) as one RSS feed per outlet from
// 127.0.0.1 in two rounds (the oldest fifth or so, then all), and seeds
// an archive of old items that the first fetch clusters and then prunes
// (fetched items are first seen now, so [storage].keep alone prunes
// nothing in a run of minutes). Each trial copies a start state into a
// fresh directory, runs one command against it and SIGKILLs it: "fetch"
// of round 1 (ingest, saving the rebuilt empty index, clustering the
// archive and the items, pruning the archive, saving the index), "fetch"
// of round 2 (loading the saved index, clustering, saving it), or
// "serve" of round 1 from an empty database. The kill comes after a
// delay drawn from the seed and the trial number, counted from the
// start, from the end of ingest (the "fetched N/N feeds" line) or from
// the start of an index save (its temporary file appearing, seen with
// inotify: Linux only). What the killed process had reached is read from
// the database it left and printed.
//
// After each kill it runs bbolt's consistency check on the file (opened
// read-only with the bbolt library), runs "aggregator fetch" to
// completion, checks the file again and compares "aggregator clusters
// --json" with that of an uninterrupted run from the same start state:
// every item of the feeds stored once and in exactly one story, nothing
// pending, no archive item left, and the same stories with the same IDs.
// After a round 1 trial it also fetches round 2 on what the recovery left
// and compares with round 2 after the uninterrupted round 1: the saved
// index and the cluster log a kill left must serve the future as well.
// A fetch trial whose stories differ in the least is a violation; a serve
// trial is compared with an uninterrupted fetch, which a daemon that
// clustered a first batch before every feed was in need not match even
// without a kill, so its agreement is reported instead.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"aggregator/internal/shareddata"
)

type config struct {
	kills      int
	seed       uint64
	trial      int // only this trial (1-based); 0: all
	data       string
	archive    int     // archived items seeded for pruning
	serveShare float64 // share of trials that kill serve
	keep       bool    // keep the temporary directory
	// inTurn takes the kinds of trial in turn (fetch-1, fetch-2,
	// serve-1) instead of drawing them, so that a few kills cover each.
	inTurn bool
	out    io.Writer
}

func main() {
	c := config{out: os.Stdout}
	flag.IntVar(&c.kills, "kills", 50, "number of trials, each with one SIGKILL")
	flag.Uint64Var(&c.seed, "seed", 1, "seed of the trials' kinds and delays")
	flag.IntVar(&c.trial, "trial", 0, "run only this trial (with the same -seed) to replay it")
	flag.StringVar(&c.data, "data", "", "labelled JSONL file (default ../shared/data/dedupe/dev.jsonl)")
	flag.IntVar(&c.archive, "archive", 20000, "archived items seeded for the first fetch to prune")
	flag.Float64Var(&c.serveShare, "serve", 0.3, "share of the trials that kill serve instead of fetch")
	flag.BoolVar(&c.keep, "keep", false, "keep the temporary directory (printed)")
	flag.Parse()
	if c.data == "" {
		p, err := shareddata.Path("dedupe", "dev.jsonl")
		if err != nil {
			fmt.Fprintln(os.Stderr, "crash:", err)
			os.Exit(2)
		}
		c.data = p
	}
	res, err := run(context.Background(), c)
	if err != nil {
		fmt.Fprintln(os.Stderr, "crash:", err)
		os.Exit(1)
	}
	if len(res.violations) > 0 {
		os.Exit(1)
	}
}

// harness holds what every trial shares.
type harness struct {
	c       config
	dir     string
	bin     string
	cfg     string
	o       *outlets
	starts  map[string]string     // kind -> database a trial starts from
	refs    map[string]*reference // kind -> its uninterrupted run
	expects map[string]int        // kind -> items pending after the kind's ingest
}

// reference is an uninterrupted run of a trial's command.
type reference struct {
	stories        *stories
	ingest, exit   time.Duration // fetch: "fetched N/N feeds", exit; serve: idle
	savesIndex     bool
	saves          int // index saves started (temporary files made)
	wantItems      map[string]bool
	round          int
	serve          bool
	startDB, endDB string
}

type result struct {
	trials     int
	phases     map[string]map[string]int // kind -> phase -> kills
	violations []string
	agreement  map[string][2]int // kind -> identical stories, items
	sameIDs    map[string]int
}

func run(ctx context.Context, c config) (*result, error) {
	dir, err := os.MkdirTemp("", "crash-")
	if err != nil {
		return nil, err
	}
	if c.keep {
		fmt.Fprintln(c.out, "keeping", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	h := &harness{c: c, dir: dir, bin: filepath.Join(dir, "aggregator"), cfg: filepath.Join(dir, "feeds.toml"),
		starts: map[string]string{}, refs: map[string]*reference{}, expects: map[string]int{}}
	build := exec.CommandContext(ctx, "go", "build", "-o", h.bin, "aggregator/cmd/aggregator")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return nil, fmt.Errorf("build: %w", err)
	}
	if h.o, err = serveOutlets(c.data); err != nil {
		return nil, err
	}
	defer h.o.close()
	if err := h.o.writeConfig(h.cfg); err != nil {
		return nil, err
	}
	if err := h.references(ctx); err != nil {
		return nil, err
	}
	res := &result{phases: map[string]map[string]int{}, agreement: map[string][2]int{}, sameIDs: map[string]int{}}
	for k := 1; k <= c.kills; k++ {
		if c.trial != 0 && k != c.trial {
			continue
		}
		if err := h.trial(ctx, k, res); err != nil {
			return res, fmt.Errorf("trial %d: %w", k, err)
		}
	}
	h.summary(res)
	return res, nil
}

// references makes the start states and runs each kind's command once
// uninterrupted.
func (h *harness) references(ctx context.Context) error {
	seeded := filepath.Join(h.dir, "seeded.db")
	if err := seedArchive(seeded, h.c.data, h.c.archive); err != nil {
		return fmt.Errorf("seed the archive: %w", err)
	}
	plain := filepath.Join(h.dir, "plain.db")
	if err := seedArchive(plain, h.c.data, 0); err != nil {
		return err
	}
	n1, n2 := len(h.o.want[1]), len(h.o.want[2])
	kinds := []struct {
		kind  string
		start string
		round int
		serve bool
		pend  int
	}{
		{"fetch-1", seeded, 1, false, h.c.archive + n1},
		{"fetch-2", "", 2, false, n2 - n1}, // starts where fetch-1's reference ended
		{"serve-1", plain, 1, true, n1},
	}
	for _, k := range kinds {
		start := k.start
		if start == "" {
			start = h.refs["fetch-1"].endDB
		}
		ref := &reference{round: k.round, serve: k.serve, startDB: start, wantItems: h.o.want[k.round]}
		rdir := filepath.Join(h.dir, "ref-"+k.kind)
		if err := os.Mkdir(rdir, 0o700); err != nil {
			return err
		}
		db, err := copyDB(start, rdir)
		if err != nil {
			return err
		}
		h.o.round.Store(int32(k.round))
		w, err := watchSaves(rdir, filepath.Base(db))
		if err != nil {
			return err
		}
		t0 := time.Now()
		if k.serve {
			// The daemon's timeline: from its start until every feed is
			// stored and clustered.
			ch, err := startChild(ctx, h.bin, "serve", "--config", h.cfg, "--db", db, "--listen", "127.0.0.1:0")
			if err != nil {
				return err
			}
			wctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
			select {
			case <-ch.urlSeen:
				err = waitIdle(wctx, ch.url, len(h.o.names), n1)
			case <-ch.done:
				err = fmt.Errorf("serve ended: %v\n%s", ch.err, ch.log())
			case <-wctx.Done():
				err = wctx.Err()
			}
			cancel()
			ref.exit = time.Since(t0)
			ch.cmd.Process.Signal(os.Interrupt)
			<-ch.done
			if err != nil {
				return fmt.Errorf("reference serve: %w", err)
			}
			// Its stories are those of a fetch: serve's own depend on
			// when its clusterer woke.
			fdir := filepath.Join(h.dir, "ref-"+k.kind+"-fetch")
			os.Mkdir(fdir, 0o700)
			fdb, err := copyDB(start, fdir)
			if err != nil {
				return err
			}
			if _, _, err := runToEnd(ctx, h.bin, "fetch", "--force", "--quiet", "--config", h.cfg, "--db", fdb); err != nil {
				return err
			}
			if ref.stories, err = h.clusters(ctx, fdb); err != nil {
				return err
			}
		} else {
			ch, err := startChild(ctx, h.bin, "fetch", "--force", "--config", h.cfg, "--db", db)
			if err != nil {
				return err
			}
			<-ch.done
			if ch.err != nil {
				return fmt.Errorf("reference %s: %v\n%s", k.kind, ch.err, ch.log())
			}
			ref.exit = time.Since(t0)
			ch.mu.Lock()
			ref.ingest = ch.ingested
			ch.mu.Unlock()
			st, err := readState(db, h.o.names, time.Time{})
			if err != nil {
				return err
			}
			ref.savesIndex = st.indexSeq == st.stampSeq
			if ref.stories, err = h.clusters(ctx, db); err != nil {
				return err
			}
		}
		ref.saves = w.saves()
		w.close()
		ref.endDB = db
		h.refs[k.kind] = ref
		h.starts[k.kind] = start
		h.expects[k.kind] = k.pend
		fmt.Fprintf(h.c.out, "reference %s: %d items, %d stories; ingest %s, %s %s; %d index saves, the last at the end %v\n", k.kind, len(ref.stories.cluster),
			len(ref.stories.members), ref.ingest.Round(time.Millisecond), map[bool]string{false: "exit", true: "idle"}[k.serve], ref.exit.Round(time.Millisecond), ref.saves, ref.savesIndex)
	}
	return nil
}

func (h *harness) clusters(ctx context.Context, db string) (*stories, error) {
	out, _, err := runToEnd(ctx, h.bin, "clusters", "--json", "--config", h.cfg, "--db", db)
	if err != nil {
		return nil, err
	}
	return readStories(out)
}

// trial k: one kill, the recovery and the checks.
func (h *harness) trial(ctx context.Context, k int, res *result) error {
	rng := rand.New(rand.NewPCG(h.c.seed, uint64(k)))
	kind := "fetch-1"
	switch u := rng.Float64(); {
	case u < h.c.serveShare:
		kind = "serve-1"
	case u < h.c.serveShare+(1-h.c.serveShare)*0.4:
		kind = "fetch-2"
	}
	if h.c.inTurn {
		kind = [...]string{"fetch-1", "fetch-2", "serve-1"}[(k-1)%3]
	}
	ref := h.refs[kind]
	// When to kill: a delay from the start, spread over the reference's
	// run; or a delay after its ingest ended (its "fetched N/N feeds"
	// line); or a few milliseconds into one of its index saves (the
	// temporary file appearing), which are too short to hit by timing.
	how := "start"
	switch u := rng.Float64(); {
	case ref.saves > 0 && u < 0.3:
		how = fmt.Sprintf("save %d", 1+rng.IntN(ref.saves))
	case !ref.serve && u < 0.65:
		how = "ingested"
	}
	var delay time.Duration
	switch {
	case strings.HasPrefix(how, "save"):
		delay = time.Duration(rng.Float64() * float64(6*time.Millisecond))
	case how == "ingested":
		delay = time.Duration(rng.Float64() * float64(ref.exit-ref.ingest))
	default:
		delay = time.Duration(rng.Float64() * 1.1 * float64(ref.exit))
	}
	tdir := filepath.Join(h.dir, fmt.Sprintf("trial-%03d", k))
	if err := os.Mkdir(tdir, 0o700); err != nil {
		return err
	}
	defer func() {
		if !h.c.keep {
			os.RemoveAll(tdir)
		}
	}()
	db, err := copyDB(h.starts[kind], tdir)
	if err != nil {
		return err
	}
	h.o.round.Store(int32(ref.round))
	violate := func(format string, args ...any) {
		v := fmt.Sprintf("trial %d (%s, kill %s after %s): ", k, kind, delay.Round(time.Millisecond), how) + fmt.Sprintf(format, args...)
		res.violations = append(res.violations, v)
		fmt.Fprintln(h.c.out, "  VIOLATION", v)
	}

	since := time.Now()
	args := []string{"fetch", "--force", "--config", h.cfg, "--db", db}
	if ref.serve {
		args = []string{"serve", "--config", h.cfg, "--db", db, "--listen", "127.0.0.1:0"}
	}
	w, err := watchSaves(tdir, filepath.Base(db))
	if err != nil {
		return err
	}
	ch, err := startChild(ctx, h.bin, args...)
	if err != nil {
		w.close()
		return err
	}
	now := make(chan struct{})
	close(now)
	var trigger <-chan struct{} = now
	switch {
	case how == "ingested":
		trigger = ch.ingestCh
	case strings.HasPrefix(how, "save"):
		var n int
		fmt.Sscanf(how, "save %d", &n)
		trigger = w.on(n)
	}
	killed, at := ch.killWhen(trigger, delay)
	w.close()
	if !killed && ch.err != nil {
		violate("%s failed before the kill: %v\n%s", args[0], ch.err, ch.log())
	}
	st, err := readState(db, h.o.names, since)
	if err != nil {
		violate("reading the killed process's database: %v", err)
	}
	phase := h.phase(kind, st, killed)
	if res.phases[kind] == nil {
		res.phases[kind] = map[string]int{}
	}
	res.phases[kind][phase]++
	res.trials++
	for _, e := range boltCheck(db) {
		violate("bbolt check after the kill: %v", e)
	}

	// --force: the feeds the killed process stored are not due, and
	// their unchanged items change nothing.
	_, rerunLog, err := runToEnd(ctx, h.bin, "fetch", "--force", "--quiet", "--config", h.cfg, "--db", db)
	if err != nil {
		violate("the fetch after the kill failed: %v", err)
		return nil
	}
	rebuilt := strings.Contains(rerunLog, "rebuilding")
	for _, e := range boltCheck(db) {
		violate("bbolt check after the recovery: %v", e)
	}
	after, err := readState(db, h.o.names, time.Time{})
	if err != nil {
		violate("reading the recovered database: %v", err)
	}
	if after.pending != 0 || after.archive != 0 {
		violate("after the recovery %d items are pending and %d archived items left (want 0, 0)", after.pending, after.archive)
	}
	got, err := h.clusters(ctx, db)
	if err != nil {
		violate("clusters --json: %v", err)
		return nil
	}
	cmp := compare(ref.stories, got, ref.wantItems)
	a := res.agreement[kind]
	res.agreement[kind] = [2]int{a[0] + cmp.sameGroup, a[1] + cmp.items}
	res.sameIDs[kind] += cmp.sameID
	if len(cmp.missing)+len(cmp.extra)+len(cmp.dups) > 0 {
		violate("%d items missing (%s), %d not served (%s), %d printed twice (%s)",
			len(cmp.missing), first(cmp.missing), len(cmp.extra), first(cmp.extra), len(cmp.dups), first(cmp.dups))
	}
	note := ""
	if rebuilt {
		note = "; the fetch after it rebuilt the index: " + firstLine(rerunLog, "rebuilding")
	}
	fmt.Fprintf(h.c.out, "trial %3d %s kill %5s after %-8s (at %6s): %-13s stories %d/%d identical (%d same IDs)%s\n",
		k, kind, delay.Round(time.Millisecond), how, at.Round(time.Millisecond), phase, cmp.sameGroup, cmp.items, cmp.sameID, note)
	if !cmp.exact() && !ref.serve {
		violate("stories differ from the uninterrupted run: %d of %d items in an identical story, %d with its ID", cmp.sameGroup, cmp.items, cmp.sameID)
	}
	if kind != "fetch-1" || !cmp.exact() {
		return nil
	}
	// What the recovery left (the database, the saved index, the cluster
	// log) must serve the next round as the uninterrupted run's state
	// does: round 2 on it gives fetch-2's reference stories.
	h.o.round.Store(2)
	if _, _, err := runToEnd(ctx, h.bin, "fetch", "--force", "--quiet", "--config", h.cfg, "--db", db); err != nil {
		violate("round 2 after the recovery: %v", err)
		return nil
	}
	if got, err = h.clusters(ctx, db); err != nil {
		violate("clusters --json after round 2: %v", err)
		return nil
	}
	next := compare(h.refs["fetch-2"].stories, got, h.o.want[2])
	a = res.agreement["then round 2"]
	res.agreement["then round 2"] = [2]int{a[0] + next.sameGroup, a[1] + next.items}
	res.sameIDs["then round 2"] += next.sameID
	if res.phases["then round 2"] == nil {
		res.phases["then round 2"] = map[string]int{}
	}
	res.phases["then round 2"]["after "+phase]++
	if !next.exact() {
		violate("round 2 after the recovery differs from round 2 after the uninterrupted run: %d of %d items in an identical story, %d with its ID, %d missing, %d extra",
			next.sameGroup, next.items, next.sameID, len(next.missing), len(next.extra))
	}
	return nil
}

// phase names what the killed process was doing, from what it left.
func (h *harness) phase(kind string, s state, killed bool) string {
	if h.refs[kind].serve {
		switch {
		case s.tmpIndex:
			return "index saving"
		case s.fed < len(h.o.names) && s.clustered > 0:
			return "ingest+clust"
		case s.fed < len(h.o.names):
			return "ingest"
		case s.pending > 0:
			return "clustering"
		}
		return "idle"
	}
	switch {
	case !killed:
		return "after exit"
	case s.tmpIndex:
		return "index saving"
	case s.fed < len(h.o.names):
		return "ingest"
	case s.pending > 0 && s.pending == h.expects[kind]:
		return "index load"
	case s.pending > 0:
		return "clustering"
	case s.archive > 0:
		return "pruning"
	case h.refs[kind].savesIndex && s.indexSeq != s.stampSeq:
		return "index saving"
	}
	return "exiting"
}

func (h *harness) summary(res *result) {
	fmt.Fprintf(h.c.out, "\n%d kills (seed %d)\n", res.trials, h.c.seed)
	kinds := slices.Sorted(func(yield func(string) bool) {
		for k := range res.phases {
			if !yield(k) {
				return
			}
		}
	})
	for _, kind := range kinds {
		var parts []string
		for _, p := range []string{"ingest", "ingest+clust", "index load", "clustering", "pruning", "index saving", "exiting", "idle", "after exit"} {
			for _, q := range []string{p, "after " + p} {
				if n := res.phases[kind][q]; n > 0 {
					parts = append(parts, fmt.Sprintf("%s %d", q, n))
				}
			}
		}
		a := res.agreement[kind]
		pct := 100.0
		if a[1] > 0 {
			pct = 100 * float64(a[0]) / float64(a[1])
		}
		fmt.Fprintf(h.c.out, "  %s: %s; items in an identical story %.2f%% (%d/%d), same story ID %d\n",
			kind, strings.Join(parts, ", "), pct, a[0], a[1], res.sameIDs[kind])
	}
	fmt.Fprintf(h.c.out, "violations: %d\n", len(res.violations))
	for _, v := range res.violations {
		fmt.Fprintln(h.c.out, "  ", v)
	}
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

func firstLine(log, sub string) string {
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, sub) {
			return l
		}
	}
	return ""
}
