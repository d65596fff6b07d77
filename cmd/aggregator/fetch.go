package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/pprof"
	"slices"
	"strings"
	"time"

	"aggregator"
	"aggregator/dedupe"
	"aggregator/fetcher"
	"aggregator/pipeline"
)

const fetchHelp = `
Fetch the feeds that are due (all of them on a fresh database), store their
new items, cluster them into stories and print a summary per feed: new,
unchanged or failed with the reason. Feeds that fail are reported, not
fatal: the exit status is 0 when the pass ran, 2 for a bad config or a
database that cannot be opened, 1 otherwise.`

func runFetch(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "fetch", "[--config feeds.toml] [--db PATH] [--feed NAME ...] [--force]", fetchHelp)
	var cf commonFlags
	cf.register(fs)
	var only stringList
	fs.Var(&only, "feed", "fetch only the feed with this `name` (repeatable)")
	force := fs.Bool("force", false, "fetch even the feeds that are not due yet")
	quiet := fs.Bool("quiet", false, "print only the totals")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the pass to `file` (for developers: go tool pprof)")
	memprofile := fs.String("memprofile", "", "write a heap profile to `file` when the pass has clustered, the index at its largest (for developers: go tool pprof)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return usageErr(err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	if fs.NArg() > 0 {
		return usageErr(fmt.Errorf("fetch takes no arguments, got %q", fs.Args()))
	}
	cfg, err := cf.load(e)
	if err != nil {
		return err
	}
	if ok, err := forward(ctx, e, &cf, cfg, append([]string{"fetch"}, args...)); ok {
		return err
	}
	feeds := cfg.feeds()
	if len(only) > 0 {
		var sel []aggregator.Feed
		for _, name := range only {
			i := slices.IndexFunc(feeds, func(f aggregator.Feed) bool { return f.Name == name })
			if i < 0 {
				return usageErr(fmt.Errorf("--feed %q: no such feed in %s", name, cfg.path))
			}
			sel = append(sel, feeds[i])
		}
		feeds = sel
	}
	db, err := cf.open(ctx, e, cfg, false)
	if err != nil {
		return err
	}
	defer db.Close()
	log := cf.logger(e, slog.LevelWarn)
	p := e.pipelineFor(db, cfg, log)
	states, err := db.FeedStates(ctx)
	if err != nil {
		return err
	}

	now := time.Now()
	jobs := make([]fetcher.Job, 0, len(feeds)) // grown by appends, a pass of 2,000 copied 2 MB
	var skipped []pipeline.Outcome
	for _, f := range feeds {
		st := states[f.Name]
		switch {
		case fetcher.Disabled(f, st):
			skipped = append(skipped, pipeline.Outcome{Feed: f.Name, Status: "disabled", State: st})
		case *force || fetcher.Due(st, now):
			jobs = append(jobs, fetcher.Job{Feed: f, State: st})
		default:
			skipped = append(skipped, pipeline.Outcome{Feed: f.Name, Status: "not due", State: st})
		}
	}

	fopts := fetcherOptions(cfg)
	if fl, ok := db.(pipeline.Fleet); ok && e.daemon == nil {
		// Beside a fleet's daemons: take the feeds as they do, leased,
		// and count politeness with them.
		node, lease := "fetch@"+pipeline.DefaultNode(), cfg.Fleet.Lease.Duration
		if lease <= 0 {
			lease = 2 * cfg.Fetch.Timeout.Duration
		}
		p = pipeline.New(db, fleetOptions(pipelineOptions(cfg, log), node, lease))
		fopts.HostGate = pipeline.HostGate(fl, node, lease)
		if !*force && len(jobs) > 0 {
			if jobs, skipped, err = claimJobs(ctx, fl, node, lease, jobs, skipped); err != nil {
				return err
			}
		}
	}
	client := fetcher.New(fopts)
	if e.daemon != nil {
		client = e.daemon.client // its politeness limits hold for both
	}
	prog := newProgress(e.stderr, len(jobs))
	res, err := p.Pass(ctx, client, jobs, prog.step)
	prog.finish()
	if ctx.Err() != nil {
		return fmt.Errorf("fetch interrupted after %d of %d feeds (what was stored is kept; the next run clusters it): %w", len(res.Outcomes), len(jobs), ctx.Err())
	}
	if err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	if *memprofile != "" {
		if err := writeHeapProfile(*memprofile); err != nil {
			return err
		}
	}
	pruned, err := p.Prune(ctx)
	if err != nil {
		log.Warn("pruning old items failed; the next run tries again", "err", err)
	}
	if err := p.SaveIndex(ctx, false); err != nil {
		log.Warn("the next run will rebuild the dedupe index from the store", "err", err)
	}
	printSummary(e.stdout, res, skipped, *quiet)
	if pruned.Items > 0 {
		fmt.Fprintf(e.stdout, "%d old items pruned (older than [storage].keep = %s, beyond the newest %d of each feed)\n",
			pruned.Items, cfg.Storage.Keep.Duration, cfg.Storage.KeepPerFeed)
	}
	return nil
}

// writeHeapProfile writes the heap profile as of the last garbage
// collection: what was live then, and what was allocated since the start.
func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("heap profile: %w", err)
	}
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		f.Close()
		return fmt.Errorf("heap profile: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("heap profile: %w", err)
	}
	return nil
}

// pipelineOptions are the pipeline's settings from the config.
// fleetOptions sets the node and lease of a process on a shared store.
func fleetOptions(o pipeline.Options, node string, lease time.Duration) pipeline.Options {
	o.Node, o.Lease = node, lease
	return o
}

// claimJobs leases the due jobs' feeds to node as a fleet's daemons do,
// keeping the jobs it got (with the stored states, which are the
// fleet's) and reporting the others as fetched by another node now.
func claimJobs(ctx context.Context, fl pipeline.Fleet, node string, lease time.Duration, jobs []fetcher.Job, skipped []pipeline.Outcome) ([]fetcher.Job, []pipeline.Outcome, error) {
	names := make([]string, len(jobs))
	for i, j := range jobs {
		names[i] = j.Feed.Name
	}
	claimed, _, err := fl.ClaimFeeds(ctx, node, names, lease, len(names))
	if err != nil {
		return nil, nil, fmt.Errorf("lease the due feeds: %w", err)
	}
	got := make(map[string]aggregator.FeedState, len(claimed))
	for _, st := range claimed {
		got[st.Name] = st
	}
	var out []fetcher.Job
	for _, j := range jobs {
		if st, ok := got[j.Feed.Name]; ok {
			j.State = st
			out = append(out, j)
			continue
		}
		skipped = append(skipped, pipeline.Outcome{Feed: j.Feed.Name, Status: "leased", State: j.State})
	}
	return out, skipped, nil
}

func pipelineOptions(cfg *Config, log *slog.Logger) pipeline.Options {
	return pipeline.Options{
		Feeds:           cfg.feeds(),
		Dedupe:          dedupe.Options{Window: cfg.Dedupe.Window.Duration, Threshold: cfg.Dedupe.Threshold},
		NoMergeClusters: !cfg.Dedupe.MergeClusters,
		Keep:            cfg.Storage.Keep.Duration,
		KeepPerFeed:     cfg.Storage.KeepPerFeed,
		Logger:          log,
	}
}

func fetcherOptions(cfg *Config) fetcher.Options {
	o := fetcher.Options{
		Timeout:      cfg.Fetch.Timeout.Duration,
		Concurrency:  cfg.Fetch.Concurrency,
		PerHost:      cfg.Fetch.PerHost,
		HostDelay:    cfg.Fetch.HostDelay.Duration,
		UserAgent:    cfg.Fetch.UserAgent,
		Contact:      cfg.Fetch.Contact,
		MaxBody:      int64(cfg.Fetch.MaxBody),
		AllowPrivate: cfg.Fetch.AllowPrivate,
		// The default delay spares other people's servers; one set in
		// the file is honoured for every host.
		LoopbackNoDelay: !cfg.Fetch.hostDelaySet,
		Interval:        cfg.Fetch.Interval.Duration,
		MinInterval:     cfg.Fetch.MinInterval.Duration,
		MaxInterval:     cfg.Fetch.MaxInterval.Duration,
	}
	if o.HostDelay == 0 {
		o.HostDelay = -1 // "0s" in the config means no delay; 0 in Options means the default
	}
	return o
}

// printSummary writes one line per feed, then the totals.
func printSummary(w io.Writer, res pipeline.PassResult, skipped []pipeline.Outcome, quiet bool) {
	// Sorted by pointer: an Outcome carries a whole feed state, and a
	// pass of 2,000 feeds sorted by value was 1–2% of an unchanged pass.
	done := make([]*pipeline.Outcome, len(res.Outcomes))
	for i := range res.Outcomes {
		done[i] = &res.Outcomes[i]
	}
	slices.SortFunc(done, func(a, b *pipeline.Outcome) int { return cmp.Compare(a.Feed, b.Feed) })
	var nNew, nItems, nUnchanged, nFailed int
	var bytes int64
	width := 4
	for _, o := range done {
		width = max(width, len(o.Feed))
	}
	for _, o := range skipped {
		width = max(width, len(o.Feed))
	}
	for _, o := range done {
		bytes += o.Bytes
		switch o.Status {
		case pipeline.StatusCancelled:
			if !quiet {
				fmt.Fprintf(w, "%-*s  cancelled\n", width, o.Feed)
			}
		case fetcher.StatusFailed:
			nFailed++
			if !quiet {
				fmt.Fprintf(w, "%-*s  failed     %s\n", width, o.Feed, oneLine(o.Err))
			}
		case fetcher.StatusUnchanged:
			nUnchanged++
			if !quiet {
				fmt.Fprintf(w, "%-*s  unchanged\n", width, o.Feed)
			}
		default:
			nNew++
			nItems += o.New
			if !quiet {
				line := fmt.Sprintf("%-*s  new %-6d %d items in feed", width, o.Feed, o.New, o.State.Items)
				if o.Updated > 0 {
					line += fmt.Sprintf(", %d updated", o.Updated)
				}
				fmt.Fprintln(w, line)
			}
		}
	}
	var nSkipped int
	for _, o := range skipped {
		nSkipped++
		if quiet {
			continue
		}
		switch o.Status {
		case "disabled":
			fmt.Fprintf(w, "%-*s  disabled   %s (re-enable with: aggregator feeds enable %s)\n", width, o.Feed, o.State.DisabledReason, o.Feed)
		case "leased":
			fmt.Fprintf(w, "%-*s  leased     another node of the fleet is fetching it now\n", width, o.Feed)
		default:
			fmt.Fprintf(w, "%-*s  not due    next fetch %s\n", width, o.Feed, o.State.NextFetch.Local().Format(time.DateTime))
		}
	}
	fmt.Fprintf(w, "%d feeds fetched in %s: %d with new content (%d new items), %d unchanged, %d failed",
		len(done), res.Fetch.Round(time.Millisecond), nNew, nItems, nUnchanged, nFailed)
	if nSkipped > 0 {
		fmt.Fprintf(w, ", %d skipped", nSkipped)
	}
	fmt.Fprintf(w, "; %s received; clustered in %s", humanBytes(bytes), res.Cluster.Round(time.Millisecond))
	if res.ClusterCPU > 0 {
		fmt.Fprintf(w, " (CPU %s)", res.ClusterCPU.Round(time.Millisecond))
	}
	fmt.Fprintln(w)
}

func oneLine(err error) string {
	if err == nil {
		return ""
	}
	return strings.Join(strings.Fields(err.Error()), " ")
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

func newLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}
