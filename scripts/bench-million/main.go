// Command bench-million runs the aggregator end to end at the scale its
// dedupe index is built for: a million items in the window.
//
//	go run ./scripts/bench-million                   # 25,000 feeds x 40 items
//	go run ./scripts/bench-million -feeds 2500       # a tenth, to try it out
//
// It serves the feeds from a child process (this program again, with
// -serve) on 127.0.0.1, so that the aggregator's CPU is measured alone,
// then:
//
//  1. "aggregator fetch" into a fresh database: wall time, user+system
//     CPU, peak RSS;
//  2. a second pass (--force) after 10% of the feeds published a quarter
//     of their items anew;
//  3. the database's bytes per item, the saved index's size;
//  4. "aggregator serve" on it: time until it answers, until its dedupe
//     index is loaded from the saved copy, the first and a cached request
//     of a 100-story output, the idle daemon's memory; then the same
//     start without the saved copy (a rebuild from the store).
//
// The feeds are synthetic (package internal/synthfeed: real headlines
// and leads recombined into distinct items, dated over 66 hours, so that
// every item is in one 72-hour window). Not run in CI: at full size it
// takes several minutes and some 2 GB of memory in all.
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"aggregator/internal/shareddata"
	"aggregator/internal/synthfeed"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench-million:", err)
		os.Exit(1)
	}
}

func run() error {
	nFeeds := flag.Int("feeds", 25000, "number of feeds")
	nItems := flag.Int("items", 40, "items per feed")
	changed := flag.Int("changed-every", 10, "every n-th feed publishes anew before the second pass")
	serveMode := flag.Bool("serve", false, "internal: serve the feeds (the child process)")
	keep := flag.String("keep", "", "keep the work directory (database and config) at `dir`")
	memprofile := flag.String("memprofile", "", "write each pass's heap profile (fetch --memprofile) to `file`.1 and file.2")
	trace := flag.Bool("trace", false, "write each pass's output with GODEBUG=gctrace=1 (pass1.log, pass2.log) and its resident memory every 50 ms (pass1.rss, pass2.rss: milliseconds, MB anonymous, MB of mapped files) into the work directory (see -keep)")
	flag.Parse()

	path, err := shareddata.Path("dedupe", "dev-rich.jsonl")
	if err != nil {
		return err
	}
	texts, err := synthfeed.ReadTexts(path)
	if err != nil {
		return err
	}
	feeds := synthfeed.Feeds{Texts: texts, N: *nFeeds, Items: *nItems}
	if *serveMode {
		return serveFeeds(feeds, *changed)
	}

	dir := *keep
	if dir == "" {
		if dir, err = os.MkdirTemp("", "bench-million-"); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	bin := filepath.Join(dir, "aggregator")
	build := exec.Command("go", "build", "-o", bin, "./cmd/aggregator")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("build: %w (run from the repository root)", err)
	}

	child := exec.Command(os.Args[0], append(os.Args[1:], "-serve")...)
	child.Stderr = os.Stderr
	stdin, err := child.StdinPipe() // closing it stops the child
	if err != nil {
		return err
	}
	out, err := child.StdoutPipe()
	if err != nil {
		return err
	}
	if err := child.Start(); err != nil {
		return err
	}
	defer func() { stdin.Close(); child.Wait() }()
	base, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		return fmt.Errorf("feed server: %w", err)
	}
	base = strings.TrimSpace(base)

	cfg := filepath.Join(dir, "feeds.toml")
	var b bytes.Buffer
	fmt.Fprintf(&b, "[storage]\npath = \"million.db\"\n[fetch]\nconcurrency = 16\nper_host = 16\ntimeout = \"60s\"\n[dedupe]\nwindow = \"72h\"\n")
	synthfeed.Config(&b, base, *nFeeds)
	if err := os.WriteFile(cfg, b.Bytes(), 0o644); err != nil {
		return err
	}
	db := filepath.Join(dir, "million.db")
	n := *nFeeds * *nItems
	fmt.Printf("%d feeds x %d items = %d items, served from a child process on %s\n", *nFeeds, *nItems, n, base)

	passArgs := func(i int, extra ...string) []string {
		if *memprofile != "" {
			extra = append(extra, "--memprofile", fmt.Sprintf("%s.%d", *memprofile, i))
		}
		return extra
	}
	if *memprofile != "" {
		abs, err := filepath.Abs(*memprofile)
		if err != nil {
			return err
		}
		*memprofile = abs
	}
	tracePrefix := ""
	if *trace {
		tracePrefix = dir
	}
	p1, err := fetchPass(bin, cfg, traceFiles(tracePrefix, 1), passArgs(1)...)
	if err != nil {
		return err
	}
	report("first pass", p1, n)
	if _, err := http.Post(base+"/gen", "text/plain", nil); err != nil {
		return err
	}
	p2, err := fetchPass(bin, cfg, traceFiles(tracePrefix, 2), passArgs(2, "--force")...)
	if err != nil {
		return err
	}
	report(fmt.Sprintf("second pass (1 feed in %d changed)", *changed), p2, p2.newItems)

	items := n + p2.newItems
	dbInfo, err := os.Stat(db)
	if err != nil {
		return err
	}
	ixInfo, err := os.Stat(db + ".index")
	if err != nil {
		return err
	}
	fmt.Printf("database:      %.0f MB for %d items = %.0f bytes per item (saved index %.0f MB beside it)\n",
		float64(dbInfo.Size())/1e6, items, float64(dbInfo.Size())/float64(items), float64(ixInfo.Size())/1e6)

	s, err := startServe(bin, cfg, "loaded the saved dedupe index")
	if err != nil {
		return err
	}
	fmt.Printf("serve, saved index: answering after %s, index loaded after %s\n", s.answering.Round(time.Millisecond), s.indexed.Round(time.Millisecond))
	first, cached, err := timeRequests(s.base + "/all.rss")
	if err != nil {
		s.stop()
		return err
	}
	fmt.Printf("GET /all.rss (100 stories): first %s, cached %s\n", first.Round(time.Microsecond), cached.Round(time.Microsecond))
	time.Sleep(5 * time.Second) // let it sit idle
	rss, err := vmRSS(s.cmd.Process.Pid)
	if err != nil {
		s.stop()
		return err
	}
	anon, file, _ := rssParts(s.cmd.Process.Pid)
	fmt.Printf("idle daemon:   %.0f MB resident (%.0f MB anonymous, %.0f MB of the mapped file)\n", float64(rss)/1e6, float64(anon)/1e6, float64(file)/1e6)
	stopped := s.stop()
	fmt.Printf("SIGTERM to exit: %s\n", stopped.Round(time.Millisecond))

	if err := os.Remove(db + ".index"); err != nil {
		return err
	}
	s, err = startServe(bin, cfg, "rebuilt the dedupe index")
	if err != nil {
		return err
	}
	fmt.Printf("serve, no saved index: answering after %s, index rebuilt after %s\n", s.answering.Round(time.Millisecond), s.indexed.Round(time.Millisecond))
	s.stop()
	return nil
}

// serveFeeds is the child: it serves the feeds on 127.0.0.1, prints its
// base URL, and exits when its standard input closes. POST /gen makes
// every changed-every-th feed publish anew.
func serveFeeds(feeds synthfeed.Feeds, every int) error {
	srv := &synthfeed.Server{Feeds: feeds, Changed: func(i int) bool { return i%every == 0 }}
	mux := http.NewServeMux()
	mux.Handle("/", srv)
	mux.HandleFunc("POST /gen", func(w http.ResponseWriter, r *http.Request) { srv.Gen.Add(1) })
	hs := &http.Server{Handler: mux}
	ln, err := netListen()
	if err != nil {
		return err
	}
	fmt.Printf("http://%s\n", ln.Addr())
	go hs.Serve(ln)
	io.Copy(io.Discard, os.Stdin)
	return hs.Close()
}

// pass is what one "aggregator fetch" cost.
type pass struct {
	wall, cpu, fetch, cluster time.Duration
	clusterCPU                time.Duration
	maxRSS                    int64
	// anon and file are the peaks of the resident memory's two parts, as
	// sampled: the heap (and stacks), and the pages of the mapped
	// database file the process touched, which the kernel can drop
	// without writing anything.
	anon, file int64
	newItems   int
}

// tracing names the files a traced pass writes; the zero value traces
// nothing.
type tracing struct {
	log, rss string
}

// traceFiles returns the trace files of pass i in dir, none when dir is
// empty.
func traceFiles(dir string, i int) tracing {
	if dir == "" {
		return tracing{}
	}
	return tracing{log: filepath.Join(dir, fmt.Sprintf("pass%d.log", i)), rss: filepath.Join(dir, fmt.Sprintf("pass%d.rss", i))}
}

// sampleRSS reads the RssAnon and RssFile of process pid every 50 ms
// until it exits, writing each sample to timeline when it is not nil;
// the returned function, called after the process was waited for, gives
// their peaks.
func sampleRSS(pid int, timeline io.Writer) func() (anon, file int64) {
	var a, f int64
	done := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(done)
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for range t.C {
			an, fi, err := rssParts(pid)
			if err != nil {
				return // exited
			}
			a, f = max(a, an), max(f, fi)
			if timeline != nil {
				fmt.Fprintf(timeline, "%d %d %d\n", time.Since(start).Milliseconds(), an>>20, fi>>20)
			}
		}
	}()
	return func() (int64, int64) { <-done; return a, f }
}

// rssParts reads RssAnon and RssFile from /proc/pid/status, in bytes.
func rssParts(pid int) (anon, file int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	if !bytes.Contains(b, []byte("State:\tS")) && !bytes.Contains(b, []byte("State:\tR")) && !bytes.Contains(b, []byte("State:\tD")) {
		return 0, 0, errors.New("not running")
	}
	for _, l := range strings.Split(string(b), "\n") {
		for name, dst := range map[string]*int64{"RssAnon:": &anon, "RssFile:": &file} {
			if rest, ok := strings.CutPrefix(l, name); ok {
				kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
				if err != nil {
					return 0, 0, err
				}
				*dst = kb * 1024
			}
		}
	}
	return anon, file, nil
}

var (
	summaryRE    = regexp.MustCompile(`feeds fetched in (\S+): .*\((\d+) new items\).*; clustered in (\S+)`)
	clusterCPURE = regexp.MustCompile(`; clustered in \S+ \(CPU (\S+)\)`)
)

func fetchPass(bin, cfg string, tr tracing, extra ...string) (pass, error) {
	args := append([]string{"fetch", "--quiet", "--config", cfg}, extra...)
	cmd := exec.Command(bin, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	var timeline *bufio.Writer
	if tr.log != "" {
		cmd.Env = append(os.Environ(), "GODEBUG=gctrace=1")
		f, err := os.Create(tr.rss)
		if err != nil {
			return pass{}, err
		}
		defer f.Close()
		timeline = bufio.NewWriter(f)
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return pass{}, err
	}
	var w io.Writer
	if timeline != nil {
		w = timeline
	}
	peaks := sampleRSS(cmd.Process.Pid, w)
	err := cmd.Wait()
	p := pass{wall: time.Since(start)}
	p.anon, p.file = peaks()
	if timeline != nil {
		if err := timeline.Flush(); err != nil {
			return p, err
		}
		if err := os.WriteFile(tr.log, out.Bytes(), 0o644); err != nil {
			return p, err
		}
	}
	if err != nil {
		return p, fmt.Errorf("%v: %w\n%s", args, err, out.String())
	}
	m := summaryRE.FindSubmatch(out.Bytes())
	if m == nil || !bytes.Contains(out.Bytes(), []byte(" 0 failed")) {
		return p, fmt.Errorf("fetch: no clean summary:\n%s", out.String())
	}
	p.fetch, _ = time.ParseDuration(string(m[1]))
	p.newItems, _ = strconv.Atoi(string(m[2]))
	p.cluster, _ = time.ParseDuration(string(m[3]))
	if m := clusterCPURE.FindSubmatch(out.Bytes()); m != nil {
		p.clusterCPU, _ = time.ParseDuration(string(m[1]))
	}
	ps := cmd.ProcessState
	p.cpu = ps.UserTime() + ps.SystemTime()
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
		p.maxRSS = ru.Maxrss * 1024
	}
	return p, nil
}

func report(name string, p pass, items int) {
	fmt.Printf("%s: %d new items, wall %s (fetch and store %s, clustering %s), CPU %s = %.1f µs per item, peak RSS %.0f MB (sampled peaks: %.0f MB anonymous, %.0f MB of the mapped file)\n",
		name, p.newItems, p.wall.Round(time.Millisecond), p.fetch.Round(time.Millisecond), p.cluster.Round(time.Millisecond),
		p.cpu.Round(time.Millisecond), float64(p.cpu.Microseconds())/float64(max(items, 1)), float64(p.maxRSS)/1e6,
		float64(p.anon)/1e6, float64(p.file)/1e6)
	if p.clusterCPU > 0 {
		fmt.Printf("  clustering after the fetches: CPU %s = %.1f µs per new item\n", p.clusterCPU.Round(time.Millisecond), float64(p.clusterCPU.Microseconds())/float64(max(p.newItems, 1)))
	}
}

// serving is a running "aggregator serve".
type serving struct {
	cmd                *exec.Cmd
	base               string
	answering, indexed time.Duration
}

var urlRE = regexp.MustCompile(`msg=serving url=(http://\S+)/`)

// startServe starts serve and waits until it answers and until its log
// says marker (the index is ready).
func startServe(bin, cfg, marker string) (*serving, error) {
	cmd := exec.Command(bin, "serve", "--config", cfg, "--listen", "127.0.0.1:0")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &serving{cmd: cmd}
	sc := bufio.NewScanner(stderr)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	deadline := time.AfterFunc(5*time.Minute, func() { cmd.Process.Kill() })
	defer deadline.Stop()
	for sc.Scan() {
		line := sc.Text()
		if m := urlRE.FindStringSubmatch(line); m != nil && s.base == "" {
			s.base = m[1]
			for {
				if resp, err := http.Get(s.base + "/healthz"); err == nil {
					resp.Body.Close()
					break
				}
				time.Sleep(time.Millisecond)
			}
			s.answering = time.Since(start)
		}
		if strings.Contains(line, marker) {
			s.indexed = time.Since(start)
			go io.Copy(io.Discard, stderr)
			if s.base == "" {
				return s, errors.New("serve did not say where it listens")
			}
			return s, nil
		}
		if strings.Contains(line, "level=ERROR") {
			fmt.Fprintln(os.Stderr, line)
		}
	}
	cmd.Wait()
	return nil, fmt.Errorf("serve exited before %q", marker)
}

// stop sends SIGTERM and returns how long the daemon took to exit.
func (s *serving) stop() time.Duration {
	start := time.Now()
	s.cmd.Process.Signal(syscall.SIGTERM)
	s.cmd.Wait()
	return time.Since(start)
}

func timeRequests(url string) (first, cached time.Duration, err error) {
	for i := range 2 {
		start := time.Now()
		resp, err := http.Get(url)
		if err != nil {
			return 0, 0, err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return 0, 0, fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		if i == 0 {
			first = time.Since(start)
		} else {
			cached = time.Since(start)
		}
	}
	return first, cached, nil
}

func vmRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb * 1024, err
		}
	}
	return 0, errors.New("no VmRSS")
}

func netListen() (net.Listener, error) { return net.Listen("tcp", "127.0.0.1:0") }
