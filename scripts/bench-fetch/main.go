// Command bench-fetch measures a whole fetch pass of the aggregator at
// scale: it serves N distinct feeds from one loopback server (a child
// process of its own, so that the aggregator's CPU is measured alone),
// runs "aggregator fetch" against them on a fresh database, then again
// when every feed answers 304, and compares ingest throughput and CPU
// (user + system) with gofeed merely parsing the same bytes in this
// process.
//
//	go run ./scripts/bench-fetch -feeds 2000 -items 40
//
// The feeds are synthetic: real headlines and leads from
// ../shared/data/dedupe/dev-rich.jsonl, cycled so that every item is
// distinct (its own GUID and link). Only 127.0.0.1 is contacted.
//
// -store postgres runs the passes on PostgreSQL instead of the bbolt
// file, on a throwaway server the script starts from Debian's binaries
// (fsync on, as in production); -store both alternates the two stores
// round by round, so that their figures come from the same run.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/mmcdole/gofeed"

	"aggregator/internal/pgserver"
	"aggregator/internal/shareddata"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench-fetch:", err)
		os.Exit(1)
	}
}

func run() error {
	nFeeds := flag.Int("feeds", 2000, "number of distinct feeds")
	nItems := flag.Int("items", 40, "items per feed")
	rounds := flag.Int("rounds", 3, "repetitions of each measurement (the median is reported)")
	data := flag.String("data", "", "path of dev-rich.jsonl (default: found in ../shared)")
	profile := flag.String("cpuprofile", "", "write CPU profiles of the first full and all-304 passes to `prefix`.full and prefix.304")
	keep := flag.String("keep", "", "copy the last round's database to `file` for inspection (e.g. with bbolt stats)")
	storeFlag := flag.String("store", "bbolt", "the store to measure: bbolt, postgres or both")
	serveMode := flag.Bool("serve", false, "internal: serve the feeds (the child process)")
	flag.Parse()
	var stores []string
	switch *storeFlag {
	case "bbolt", "postgres":
		stores = []string{*storeFlag}
	case "both":
		stores = []string{"bbolt", "postgres"}
	default:
		return fmt.Errorf("-store %q: want bbolt, postgres or both", *storeFlag)
	}

	if *data == "" {
		p, err := shareddata.Path("dedupe", "dev-rich.jsonl")
		if err != nil {
			return err
		}
		*data = p
	}
	texts, err := readTexts(*data)
	if err != nil {
		return err
	}
	bodies := makeFeeds(texts, *nFeeds, *nItems)
	if *serveMode {
		return serveChild(bodies)
	}
	total := 0
	for _, b := range bodies {
		total += len(b)
	}
	fmt.Printf("%d feeds x %d items, %.1f MiB of RSS (synthetic: real headlines and leads, cycled)\n", *nFeeds, *nItems, float64(total)/(1<<20))

	// Baseline: gofeed parsing the same bytes, one parser per core.
	var (
		parseRates []float64
		parseCPUs  []time.Duration
	)
	for range *rounds {
		before := selfCPU()
		d := parseAll(bodies)
		parseCPUs = append(parseCPUs, selfCPU()-before)
		parseRates = append(parseRates, float64(*nFeeds**nItems)/d.Seconds())
	}
	parseRate, parseCPU := median(parseRates), medianDur(parseCPUs)

	base, stop, err := startChild()
	if err != nil {
		return err
	}
	defer stop()

	dir, err := os.MkdirTemp("", "bench-fetch-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "aggregator")
	build := exec.Command("go", "build", "-o", bin, "./cmd/aggregator")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("build: %w (run from the repository root)", err)
	}
	cfg := filepath.Join(dir, "feeds.toml")
	if err := writeConfig(cfg, base, *nFeeds); err != nil {
		return err
	}

	var pg *pgserver.Server
	if slices.Contains(stores, "postgres") {
		pg, err = pgserver.Start(context.Background(), pgserver.Options{Fsync: true})
		if err != nil {
			return err
		}
		defer pg.Stop()
	}
	res := map[string]*storeRun{}
	for _, st := range stores {
		res[st] = &storeRun{}
	}
	for r := range *rounds {
		for _, st := range stores {
			if err := res[st].round(st, r, bin, cfg, dir, pg, *profile, *keep, *rounds); err != nil {
				return err
			}
		}
	}
	n := float64(*nFeeds * *nItems)
	fmt.Printf("gofeed parse only:   %8.0f items/s (median of %d, %d cores), CPU %s (%.1f µs per item)\n", parseRate, *rounds, runtime.GOMAXPROCS(0),
		parseCPU.Round(time.Millisecond), parseCPU.Seconds()*1e6/float64(*nFeeds**nItems))
	for _, st := range stores {
		sr := res[st]
		fullD, nmD := medianDur(sr.full), medianDur(sr.notModified)
		ingestD, clusterD := medianDur(sr.ingest), medianDur(sr.cluster)
		ingestRate, passRate := n/ingestD.Seconds(), n/fullD.Seconds()
		sr.ingestRate = ingestRate
		fmt.Printf("-- %s\n", st)
		fmt.Printf("ingest:              %8.0f items/s, %6.0f fetches/s, %s: fetched, parsed and stored (median of %d)\n", ingestRate, float64(*nFeeds)/ingestD.Seconds(), ingestD.Round(time.Millisecond), *rounds)
		fmt.Printf("clustering:          %8.0f items/s, %s, after the fetches\n", n/clusterD.Seconds(), clusterD.Round(time.Millisecond))
		if ccpu := medianDur(sr.clusterCPU); ccpu > 0 {
			fmt.Printf("clustering CPU:      %s = %.1f µs per item (%.0f items per CPU-second)\n", ccpu.Round(time.Millisecond), ccpu.Seconds()*1e6/n, n/ccpu.Seconds())
		}
		fmt.Printf("whole pass:          %8.0f items/s, %s wall time of the process\n", passRate, fullD.Round(time.Millisecond))
		fmt.Printf("all-304 pass:        %s = %.1f%% of a full pass\n", nmD.Round(time.Millisecond), 100*nmD.Seconds()/fullD.Seconds())
		fmt.Printf("peak RSS:            %.0f MB of the aggregator process\n", float64(sr.peak)/1e6)
		fmt.Printf("database:            %.0f MB, %.0f bytes per item\n", float64(sr.dbSize)/1e6, float64(sr.dbSize)/n)
		fmt.Printf("ingest / parse-only: %.2f (whole pass / parse-only: %.2f)\n", ingestRate/parseRate, passRate/parseRate)
		fullCPU, nmCPU := medianDur(sr.fullCPU), medianDur(sr.nmCPU)
		fmt.Printf("CPU of the aggregator alone (user+system): whole pass %s (%.1f µs per item), all-304 pass %s\n",
			fullCPU.Round(time.Millisecond), fullCPU.Seconds()*1e6/n, nmCPU.Round(time.Millisecond))
		fmt.Printf("CPU, whole pass / gofeed parse-only: %.2f\n", fullCPU.Seconds()/parseCPU.Seconds())
	}
	if len(stores) == 2 {
		fmt.Printf("postgres / bbolt ingest: %.2f\n", res["postgres"].ingestRate/res["bbolt"].ingestRate)
	}
	return nil
}

// storeRun collects one store's measurements over the rounds.
type storeRun struct {
	full, notModified, ingest, cluster []time.Duration
	fullCPU, nmCPU, clusterCPU         []time.Duration
	peak, dbSize                       int64
	ingestRate                         float64
}

// round runs a full pass on a fresh database of the store, then an
// all-304 pass on it.
func (sr *storeRun) round(store string, r int, bin, cfg, dir string, pg *pgserver.Server, profile, keep string, rounds int) error {
	target := filepath.Join(dir, fmt.Sprintf("bench-%d.db", r))
	if store == "postgres" {
		name := fmt.Sprintf("bench_%d", r)
		if err := pg.CreateDatabase(context.Background(), name); err != nil {
			return err
		}
		target = pg.URL(name)
	}
	var extra []string
	if r == 0 && profile != "" {
		extra = []string{"--cpuprofile", profile + "." + store + ".full"}
	}
	d, rss, cpu, ph, err := fetchPass(bin, cfg, target, extra...)
	if err != nil {
		return err
	}
	sr.full, sr.fullCPU = append(sr.full, d), append(sr.fullCPU, cpu)
	sr.ingest, sr.cluster = append(sr.ingest, ph.fetch), append(sr.cluster, ph.cluster)
	sr.clusterCPU = append(sr.clusterCPU, ph.clusterCPU)
	sr.peak = max(sr.peak, rss)
	extra = []string{"--force"}
	if r == 0 && profile != "" {
		extra = append(extra, "--cpuprofile", profile+"."+store+".304")
	}
	d, rss, cpu, _, err = fetchPass(bin, cfg, target, extra...)
	if err != nil {
		return err
	}
	sr.notModified, sr.nmCPU = append(sr.notModified, d), append(sr.nmCPU, cpu)
	sr.peak = max(sr.peak, rss)
	if store == "postgres" {
		size, err := pgDatabaseSize(target)
		if err != nil {
			return err
		}
		sr.dbSize = size
		return nil
	}
	if fi, err := os.Stat(target); err == nil {
		sr.dbSize = fi.Size()
	}
	if keep != "" && r == rounds-1 {
		if err := os.Rename(target, keep); err != nil {
			return fmt.Errorf("keep database: %w", err)
		}
	}
	os.Remove(target)
	os.Remove(target + ".index")
	return nil
}

// pgDatabaseSize is what the database at url takes on disk.
func pgDatabaseSize(url string) (int64, error) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return 0, err
	}
	defer conn.Close(ctx)
	var n int64
	err = conn.QueryRow(ctx, "SELECT pg_database_size(current_database())").Scan(&n)
	return n, err
}

// phases is how "aggregator fetch" splits its pass, read off its summary:
// the CPU of clustering is the process's over the clustering after the
// last fetch (0 when the summary does not say).
type phases struct{ fetch, cluster, clusterCPU time.Duration }

var (
	summaryRE    = regexp.MustCompile(`feeds fetched in (\S+): .*; clustered in (\S+)`)
	clusterCPURE = regexp.MustCompile(`; clustered in \S+ \(CPU (\S+)\)`)
)

func parsePhases(out []byte) (phases, error) {
	m := summaryRE.FindSubmatch(out)
	if m == nil {
		return phases{}, fmt.Errorf("no summary line in output:\n%s", out)
	}
	f, err1 := time.ParseDuration(string(m[1]))
	c, err2 := time.ParseDuration(string(m[2]))
	if err := errors.Join(err1, err2); err != nil {
		return phases{}, fmt.Errorf("summary line %q: %w", m[0], err)
	}
	p := phases{fetch: f, cluster: c}
	if m := clusterCPURE.FindSubmatch(out); m != nil {
		if p.clusterCPU, err1 = time.ParseDuration(string(m[1])); err1 != nil {
			return phases{}, fmt.Errorf("summary line: %w", err1)
		}
	}
	return p, nil
}

// fetchPass runs one "aggregator fetch" and returns its wall time, peak
// resident memory, CPU (user + system) and phases.
func fetchPass(bin, cfg, db string, extra ...string) (time.Duration, int64, time.Duration, phases, error) {
	args := append([]string{"fetch", "--quiet", "--config", cfg}, extra...)
	cmd := exec.Command(bin, args...)
	if strings.HasPrefix(db, "postgres") {
		cmd.Env = append(os.Environ(), "DATABASE_URL="+db)
	} else {
		cmd.Args = append(cmd.Args, "--db", db)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	d := time.Since(start)
	if err != nil {
		return 0, 0, 0, phases{}, fmt.Errorf("%v: %w\n%s", args, err, out.String())
	}
	if !bytes.Contains(out.Bytes(), []byte(" 0 failed")) {
		return 0, 0, 0, phases{}, fmt.Errorf("pass had failures:\n%s", out.String())
	}
	ph, err := parsePhases(out.Bytes())
	if err != nil {
		return 0, 0, 0, phases{}, err
	}
	var rss int64
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		rss = ru.Maxrss * 1024
	}
	cpu := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	return d, rss, cpu, ph, nil
}

// selfCPU is this process's user + system CPU so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// startChild runs this program again with -serve, which serves the same
// feeds on 127.0.0.1, and returns the server's base URL and how to stop
// it. The child also exits when this process dies (its stdin closes).
func startChild() (string, func(), error) {
	child := exec.Command(os.Args[0], append(slices.Clone(os.Args[1:]), "-serve")...)
	child.Stderr = os.Stderr
	stdin, err := child.StdinPipe()
	if err != nil {
		return "", nil, err
	}
	stdout, err := child.StdoutPipe()
	if err != nil {
		return "", nil, err
	}
	if err := child.Start(); err != nil {
		return "", nil, fmt.Errorf("start the feed server: %w", err)
	}
	stop := func() {
		stdin.Close()
		child.Process.Kill()
		child.Wait()
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	base, ok := strings.CutPrefix(strings.TrimSpace(line), "serving ")
	if err != nil || !ok {
		stop()
		return "", nil, fmt.Errorf("the feed server did not start (%q, %v)", line, err)
	}
	return base, stop, nil
}

// serveChild is the -serve process: it serves the feeds on 127.0.0.1
// until its stdin closes.
func serveChild(bodies [][]byte) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: feedServer(bodies)}
	go srv.Serve(ln)
	fmt.Printf("serving http://%s\n", ln.Addr())
	io.Copy(io.Discard, os.Stdin)
	return srv.Close()
}

func writeConfig(path, base string, n int) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "[fetch]\nconcurrency = 16\nper_host = 16\nhost_delay = \"0s\"\ntimeout = \"60s\"\n[dedupe]\nwindow = \"72h\"\n")
	for i := range n {
		fmt.Fprintf(&b, "[[feeds]]\nname = \"f%04d\"\nurl = \"%s/f%04d.xml\"\n", i, base, i)
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}

// feedServer serves /fNNNN.xml with a strong ETag and answers 304 to it.
func feedServer(bodies [][]byte) http.Handler {
	etags := make([]string, len(bodies))
	for i, b := range bodies {
		sum := sha256.Sum256(b)
		etags[i] = `"` + hex.EncodeToString(sum[:8]) + `"`
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var i int
		if _, err := fmt.Sscanf(r.URL.Path, "/f%d.xml", &i); err != nil || i < 0 || i >= len(bodies) {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("ETag", etags[i])
		if r.Header.Get("If-None-Match") == etags[i] {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("Content-Type", "application/rss+xml; charset=utf-8")
		w.Write(bodies[i])
	})
}

type text struct{ Title, Summary string }

func readTexts(path string) ([]text, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []text
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var t text
		if err := json.Unmarshal(sc.Bytes(), &t); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		out = append(out, t)
	}
	return out, sc.Err()
}

func makeFeeds(texts []text, nFeeds, nItems int) [][]byte {
	start := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	bodies := make([][]byte, nFeeds)
	k := 0
	for i := range nFeeds {
		var b bytes.Buffer
		fmt.Fprintf(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<rss version=\"2.0\"><channel><title>Outlet %d</title><link>https://outlet%d.example/</link><description>synthetic</description>\n", i, i)
		for j := range nItems {
			t := texts[k%len(texts)]
			k++
			pub := start.Add(time.Duration(k) * time.Minute)
			fmt.Fprintf(&b, "<item><title>%s</title><link>https://outlet%d.example/%d</link><guid>https://outlet%d.example/%d</guid><description>%s</description><pubDate>%s</pubDate></item>\n",
				html.EscapeString(t.Title), i, j, i, j, html.EscapeString(t.Summary), pub.Format(time.RFC1123Z))
		}
		b.WriteString("</channel></rss>\n")
		bodies[i] = b.Bytes()
	}
	return bodies
}

func parseAll(bodies [][]byte) time.Duration {
	start := time.Now()
	var wg sync.WaitGroup
	next := make(chan []byte)
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			p := gofeed.NewParser()
			for b := range next {
				if _, err := p.Parse(bytes.NewReader(b)); err != nil {
					panic(err)
				}
			}
		})
	}
	for _, b := range bodies {
		next <- b
	}
	close(next)
	wg.Wait()
	return time.Since(start)
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

func medianDur(xs []time.Duration) time.Duration {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}
