// Command bench-serve measures how fast publish.Handler serves a merged
// feed of 100 entries, beside nginx serving the very same bytes as static
// files, with wrk on loopback. It reports requests/s for both and the ratio,
// uncompressed and with gzip (nginx's gzip_static serves the same
// pre-compressed bytes our handler does), and the CPU time each server
// spends per request: on a machine shared with other work, requests/s swing
// with everything else running, while CPU per request swings less.
// Measurements alternate between the servers; medians are reported.
//
// Both servers run as child processes, wired as in production (ours with
// publish.ConnContext, so large bodies go out corked through sendfile;
// nginx with sendfile, tcp_nopush, keepalive and no access log). By default
// (-pin, on machines with two or more CPUs) each server runs on CPU 0 with
// one worker (GOMAXPROCS=1, worker_processes 1) and wrk on CPU 1 with one
// thread, with taskset: unpinned, on two cores, the server and wrk fight
// for the same CPUs and the scheduler's choices weigh as much as the
// server. Pinned, a 200 kB response can leave the server below full load
// (wrk receiving the bytes is the limit): then the requests/s ratio is
// near 100% and the CPU per request tells the servers apart. -pin=false
// gives the unpinned figures (nginx: worker_processes auto).
//
//	go run ./scripts/bench-serve                 # needs nginx, wrk, taskset
//	go run ./scripts/bench-serve -duration 5s -rounds 5 [-pin=false]
//	go run ./scripts/bench-serve -serve 127.0.0.1:8765   # just serve, for
//	        shared/tools/check-feed-clients.sh http://127.0.0.1:8765/all.rss
//
// The 100 stories are real: headlines, leads, outlets and links from
// ../shared/data/dedupe/dev-rich.jsonl grouped by their story label. Only
// 127.0.0.1 is used. Install the tools with
// `apt-get install -y nginx-light wrk util-linux`.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"aggregator"
	"aggregator/publish"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bench-serve:", err)
		os.Exit(1)
	}
}

// staticSource is a publish.Source over fixed stories.
type staticSource struct{ stories []aggregator.Story }

func (s staticSource) Version() uint64 { return 1 }

func (s staticSource) Stories(_ context.Context, out aggregator.Output) ([]aggregator.Story, error) {
	if out.MaxItems > 0 && len(s.stories) > out.MaxItems {
		return s.stories[:out.MaxItems], nil
	}
	return s.stories, nil
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("bench-serve", flag.ContinueOnError)
	data := fs.String("data", "", "path to dev-rich.jsonl (default: found in ../shared/data/dedupe)")
	entries := fs.Int("entries", 100, "stories in the merged feed")
	serve := fs.String("serve", "", "only serve the feeds on this `address` until interrupted")
	duration := fs.Duration("duration", 10*time.Second, "wrk run length per measurement")
	conns := fs.Int("connections", 50, "wrk connections")
	threads := fs.Int("threads", 0, "wrk threads (default: 1 with -pin, else 2)")
	pin := fs.Bool("pin", runtime.NumCPU() >= 2, "pin each server (ours, nginx) to CPU 0 with one worker and wrk to CPU 1, with taskset")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the handler's process to `file`")
	rounds := fs.Int("rounds", 3, "measurements per server and encoding, alternating (the median counts)")
	format := fs.String("format", "rss", "feed format to measure: rss, atom or json")
	if err := fs.Parse(args); err != nil {
		return err
	}
	f, err := publish.ParseFormat(*format)
	if err != nil {
		return err
	}
	if *data == "" {
		if *data, err = findData(); err != nil {
			return err
		}
	}
	if *serve != "" {
		return serveOnly(ctx, stdout, *serve, *data, *entries, *cpuprofile)
	}
	if *threads <= 0 {
		*threads = 2
		if *pin {
			*threads = 1
		}
	}
	tools := []string{"nginx", "wrk"}
	if *pin {
		tools = append(tools, "taskset")
	}
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s not found: apt-get install -y nginx-light wrk util-linux", tool)
		}
	}
	// Both servers run as child processes alike, on CPU 0 when pinned,
	// and wrk on CPU 1: on two cores, a server and its load generator
	// otherwise fight for the same CPU, and whichever wins decides the
	// numbers more than the server does.
	var serverCPU, loadCPU []string
	if *pin {
		serverCPU, loadCPU = []string{"taskset", "-c", "0"}, []string{"taskset", "-c", "1"}
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	childArgs := []string{self, "-serve", "127.0.0.1:0", "-data", *data, "-entries", strconv.Itoa(*entries)}
	if *cpuprofile != "" {
		childArgs = append(childArgs, "-cpuprofile", *cpuprofile)
	}
	base, ourPID, stopOurs, err := startOurs(append(slices.Clone(serverCPU), childArgs...))
	if err != nil {
		return err
	}
	defer stopOurs()

	// Give nginx the exact bytes we serve, identity and gzip.
	dir, err := os.MkdirTemp("", "bench-serve-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	// nginx workers may run as an unprivileged user when started as root.
	if err := os.Chmod(dir, 0o755); err != nil {
		return err
	}
	name := "all." + string(f)
	plain, err := fetch(base+"/"+name, "")
	if err != nil {
		return err
	}
	gz, err := fetch(base+"/"+name, "gzip")
	if err != nil {
		return err
	}
	www := filepath.Join(dir, "www")
	if err := os.MkdirAll(www, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(www, name), plain, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(www, name+".gz"), gz, 0o644); err != nil {
		return err
	}
	workers := "auto"
	if *pin {
		workers = "1"
	}
	nginxAddr, nginxPID, stopNginx, err := startNginx(serverCPU, workers, dir, www, f.ContentType())
	if err != nil {
		return err
	}
	defer stopNginx()

	pinned := "unpinned"
	if *pin {
		pinned = "servers on CPU 0 (one worker / GOMAXPROCS=1), wrk on CPU 1"
	}
	fmt.Fprintf(stdout, "%d entries, %s: %d bytes, %d gzipped; wrk -t%d -c%d -d%s; %s\n", *entries, name, len(plain), len(gz), *threads, *conns, *duration, pinned)
	fmt.Fprintf(stdout, "%-12s %14s %14s %8s\n", "encoding", "handler", "nginx", "ratio")
	for _, enc := range []string{"identity", "gzip"} {
		// Alternate the two servers so that load from elsewhere on the
		// machine hits both alike; report medians.
		var ours, theirs, ourCPU, theirCPU []float64
		for range *rounds {
			c0 := processTreeCPU(ourPID)
			o, on, err := wrk(ctx, loadCPU, base+"/"+name, enc, *threads, *conns, *duration)
			if err != nil {
				return err
			}
			c1 := processTreeCPU(ourPID)
			n0 := processTreeCPU(nginxPID)
			n, nn, err := wrk(ctx, loadCPU, "http://"+nginxAddr+"/"+name, enc, *threads, *conns, *duration)
			if err != nil {
				return err
			}
			n1 := processTreeCPU(nginxPID)
			ours, theirs = append(ours, o), append(theirs, n)
			ourCPU = append(ourCPU, float64((c1-c0).Microseconds())/float64(max(on, 1)))
			theirCPU = append(theirCPU, float64((n1-n0).Microseconds())/float64(max(nn, 1)))
		}
		o, n := median(ours), median(theirs)
		oc, nc := median(ourCPU), median(theirCPU)
		fmt.Fprintf(stdout, "%-12s %14.0f %14.0f %7.0f%%   (runs: ours %v, nginx %v)\n", enc, o, n, 100*o/n, ints(ours), ints(theirs))
		fmt.Fprintf(stdout, "%-12s %11.1f µs %11.1f µs %7.0f%%   CPU per request (nginx's / ours: efficiency, immune to load from elsewhere)\n", "", oc, nc, 100*nc/oc)
	}
	return nil
}

// serveOnly serves the benchmark output on addr until ctx is done. The
// measuring process runs it as a child, so that our server and nginx are
// alike separate processes that can be pinned to a CPU.
func serveOnly(ctx context.Context, stdout io.Writer, addr, data string, entries int, cpuprofile string) error {
	stories, err := loadStories(data, entries)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	base := "http://" + ln.Addr().String()
	h := publish.NewHandler(staticSource{stories}, publish.Options{
		BaseURL: base,
		Outputs: []aggregator.Output{{Name: "all", Title: "Benchmark: all stories", Description: "Real stories from the dedupe development set", MaxItems: entries}},
	})
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ConnContext: publish.ConnContext}
	defer h.Close()
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	if cpuprofile != "" {
		pf, err := os.Create(cpuprofile)
		if err != nil {
			return err
		}
		defer pf.Close()
		if err := pprof.StartCPUProfile(pf); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	fmt.Fprintf(stdout, "serving %d stories:\n  %s/\n  %s/all.rss\n  %s/all.atom\n  %s/all.json\n", len(stories), base, base, base, base)
	select {
	case <-ctx.Done():
	case err := <-done:
		return err
	}
	srv.Close()
	<-done
	return nil
}

// startOurs starts the handler's process (argv, possibly under taskset),
// waits for it to print its address and returns that base URL, its pid and
// a function that stops it.
func startOurs(argv []string) (string, int, func(), error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", 0, nil, err
	}
	if err := cmd.Start(); err != nil {
		return "", 0, nil, err
	}
	stop := func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
	}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if u, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "http://"); ok {
			// The child writes nothing more to its stdout.
			return "http://" + strings.TrimSuffix(u, "/"), cmd.Process.Pid, stop, nil
		}
	}
	stop()
	return "", 0, nil, fmt.Errorf("%s did not say where it listens", argv[0])
}

// processTreeCPU is the CPU time used by pid and its children (nginx's
// master and workers), from /proc; clock ticks are 1/100 s on Linux.
func processTreeCPU(pid int) time.Duration {
	pids := []int{pid}
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid)); err == nil {
		for _, f := range strings.Fields(string(b)) {
			if c, err := strconv.Atoi(f); err == nil {
				pids = append(pids, c)
			}
		}
	}
	var ticks int64
	for _, p := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p))
		if err != nil {
			continue
		}
		// Fields after the command (which may hold spaces) start after ')'.
		_, rest, _ := strings.Cut(string(b), ") ")
		f := strings.Fields(rest)
		if len(f) > 12 {
			u, _ := strconv.ParseInt(f[11], 10, 64)
			s, _ := strconv.ParseInt(f[12], 10, 64)
			ticks += u + s
		}
	}
	return time.Duration(ticks) * 10 * time.Millisecond
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

func ints(xs []float64) []int {
	out := make([]int, len(xs))
	for i, x := range xs {
		out[i] = int(x)
	}
	return out
}

// fetch GETs url with the given Accept-Encoding and returns the raw body.
func fetch(url, encoding string) ([]byte, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	if encoding != "" {
		req.Header.Set("Accept-Encoding", encoding)
	}
	resp, err := (&http.Transport{DisableCompression: true}).RoundTrip(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Encoding") != encoding {
		return nil, fmt.Errorf("GET %s: %s, Content-Encoding %q", url, resp.Status, resp.Header.Get("Content-Encoding"))
	}
	return io.ReadAll(resp.Body)
}

// startNginx runs nginx in the foreground on a free loopback port, serving
// www with sendfile and gzip_static, and returns a function that stops it.
// prefix (taskset) pins it; workers is worker_processes.
func startNginx(prefix []string, workers, dir, www, ctype string) (string, int, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", 0, nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	mime, _, _ := strings.Cut(ctype, ";")
	conf := fmt.Sprintf(`daemon off;
worker_processes %[6]s;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 100000;
  types { }
  default_type %[4]s;
  charset utf-8;
  charset_types %[5]s;
  gzip_static on;
  gzip_vary on;
  etag on;
  client_body_temp_path %[1]s/tmp; proxy_temp_path %[1]s/tmp; fastcgi_temp_path %[1]s/tmp; uwsgi_temp_path %[1]s/tmp; scgi_temp_path %[1]s/tmp;
  server {
    listen %[2]s;
    root %[3]s;
    add_header Cache-Control "public, max-age=60";
  }
}
`, dir, addr, www, mime, mime, workers)
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		return "", 0, nil, err
	}
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o755); err != nil {
		return "", 0, nil, err
	}
	argv := append(slices.Clone(prefix), "nginx", "-p", dir, "-c", path)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return "", 0, nil, err
	}
	stop := func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
	}
	for i := 0; i < 100; i++ {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return addr, cmd.Process.Pid, stop, nil
		}
		time.Sleep(50 * time.Millisecond) // waiting for an external process to listen
	}
	stop()
	return "", 0, nil, errors.New("nginx did not start listening")
}

var (
	reqPerSec = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	requests  = regexp.MustCompile(`(\d+) requests in`)
)

// wrk runs one measurement and returns requests per second.
// prefix (taskset) pins it.
func wrk(ctx context.Context, prefix []string, url, encoding string, threads, conns int, d time.Duration) (rps float64, n int, err error) {
	args := []string{"wrk", "-t" + strconv.Itoa(threads), "-c" + strconv.Itoa(conns), "-d" + strconv.Itoa(int(d.Seconds())) + "s"}
	if encoding != "identity" {
		args = append(args, "-H", "Accept-Encoding: "+encoding)
	}
	argv := append(slices.Clone(prefix), append(args, url)...)
	out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		return 0, 0, fmt.Errorf("wrk %s: %w\n%s", url, err, out)
	}
	if strings.Contains(string(out), "Non-2xx") {
		return 0, 0, fmt.Errorf("wrk %s: non-2xx responses\n%s", url, out)
	}
	m := reqPerSec.FindSubmatch(out)
	if m == nil {
		return 0, 0, fmt.Errorf("wrk %s: no Requests/sec in\n%s", url, out)
	}
	rps, err = strconv.ParseFloat(string(m[1]), 64)
	if m := requests.FindSubmatch(out); m != nil {
		n, _ = strconv.Atoi(string(m[1]))
	}
	return rps, n, err
}

// findData walks up from the working directory to shared/data.
func findData() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		p := filepath.Join(dir, "shared", "data", "dedupe", "dev-rich.jsonl")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("shared/data/dedupe/dev-rich.jsonl not found above the working directory; pass -data")
		}
		dir = parent
	}
}

// loadStories groups the development set by story label and returns the
// first n stories, newest member last, as storage would hand them over.
func loadStories(path string, n int) ([]aggregator.Story, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	type rich struct {
		Story, Source, Title, Summary, URL string
		Published                          time.Time
	}
	groups := map[string][]rich{}
	var order []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var r rich
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if _, ok := groups[r.Story]; !ok {
			order = append(order, r.Story)
		}
		groups[r.Story] = append(groups[r.Story], r)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	var out []aggregator.Story
	for _, key := range order {
		var st aggregator.Story
		for i, r := range groups[key] {
			feed := aggregator.Feed{Name: strings.ToLower(strings.ReplaceAll(r.Source, " ", "-")), Title: r.Source}
			it := aggregator.Item{Title: r.Title, Summary: r.Summary, URL: r.URL, GUID: r.URL, Published: r.Published.Add(time.Duration(i) * time.Minute)}
			it.Normalize(feed.Name)
			st.Items = append(st.Items, it)
			st.Feeds = append(st.Feeds, feed)
			st.Members = append(st.Members, aggregator.Membership{Item: it.ID})
			if i == 0 {
				st.ID, st.Representative, st.Published = it.ID, it.ID, it.Published
			}
			st.Updated = it.Published
		}
		out = append(out, st)
		if len(out) == n {
			break
		}
	}
	// Newest first, as the handler expects.
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, nil
}
