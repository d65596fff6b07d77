// Command bench-serve measures how fast publish.Handler serves a merged
// feed of 100 entries, beside nginx serving the very same bytes as static
// files, with wrk on loopback. It reports requests/s for both and the ratio,
// uncompressed and with gzip (nginx's gzip_static serves the same
// pre-compressed bytes our handler does), and the CPU time each server
// spends per request: on a machine shared with other work, requests/s swing
// with everything else running, while CPU per request does not.
// Measurements alternate between the servers; medians are reported.
//
//	go run ./scripts/bench-serve                 # needs nginx and wrk
//	go run ./scripts/bench-serve -duration 20s -connections 64
//	go run ./scripts/bench-serve -serve 127.0.0.1:8765   # just serve, for
//	        shared/tools/check-feed-clients.sh http://127.0.0.1:8765/all.rss
//
// The 100 stories are real: headlines, leads, outlets and links from
// ../shared/data/dedupe/dev-rich.jsonl grouped by their story label. Only
// 127.0.0.1 is used. Install the tools with
// `apt-get install -y nginx-light wrk`.
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
	threads := fs.Int("threads", 2, "wrk threads")
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
	stories, err := loadStories(*data, *entries)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if *serve != "" {
		ln, err = net.Listen("tcp", *serve)
	}
	if err != nil {
		return err
	}
	base := "http://" + ln.Addr().String()
	h := publish.NewHandler(staticSource{stories}, publish.Options{
		BaseURL: base,
		Outputs: []aggregator.Output{{Name: "all", Title: "Benchmark: all stories", Description: "Real stories from the dedupe development set", MaxItems: *entries}},
	})
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()

	if *serve != "" {
		fmt.Fprintf(stdout, "serving %d stories:\n  %s/\n  %s/all.rss\n  %s/all.atom\n  %s/all.json\n", len(stories), base, base, base, base)
		<-ctx.Done()
		return nil
	}
	for _, tool := range []string{"nginx", "wrk"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s not found: apt-get install -y nginx-light wrk", tool)
		}
	}

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
	nginxAddr, nginxPID, stopNginx, err := startNginx(dir, www, f.ContentType())
	if err != nil {
		return err
	}
	defer stopNginx()

	if *cpuprofile != "" {
		pf, err := os.Create(*cpuprofile)
		if err != nil {
			return err
		}
		defer pf.Close()
		if err := pprof.StartCPUProfile(pf); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	fmt.Fprintf(stdout, "%d entries, %s: %d bytes, %d gzipped; wrk -t%d -c%d -d%s\n", len(stories), name, len(plain), len(gz), *threads, *conns, *duration)
	fmt.Fprintf(stdout, "%-12s %14s %14s %8s\n", "encoding", "handler", "nginx", "ratio")
	for _, enc := range []string{"identity", "gzip"} {
		// Alternate the two servers so that load from elsewhere on the
		// machine hits both alike; report medians.
		var ours, theirs, ourCPU, theirCPU []float64
		for range *rounds {
			c0 := selfCPU()
			o, on, err := wrk(ctx, base+"/"+name, enc, *threads, *conns, *duration)
			if err != nil {
				return err
			}
			c1 := selfCPU()
			n0 := processTreeCPU(nginxPID)
			n, nn, err := wrk(ctx, "http://"+nginxAddr+"/"+name, enc, *threads, *conns, *duration)
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

// selfCPU is the CPU time this process has used (user + system).
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
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
func startNginx(dir, www, ctype string) (string, int, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", 0, nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	mime, _, _ := strings.Cut(ctype, ";")
	conf := fmt.Sprintf(`daemon off;
worker_processes auto;
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
`, dir, addr, www, mime, mime)
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		return "", 0, nil, err
	}
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o755); err != nil {
		return "", 0, nil, err
	}
	cmd := exec.Command("nginx", "-p", dir, "-c", path)
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
func wrk(ctx context.Context, url, encoding string, threads, conns int, d time.Duration) (rps float64, n int, err error) {
	args := []string{"-t" + strconv.Itoa(threads), "-c" + strconv.Itoa(conns), "-d" + strconv.Itoa(int(d.Seconds())) + "s"}
	if encoding != "identity" {
		args = append(args, "-H", "Accept-Encoding: "+encoding)
	}
	out, err := exec.CommandContext(ctx, "wrk", append(args, url)...).CombinedOutput()
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
