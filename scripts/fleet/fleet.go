package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"aggregator/internal/pgserver"
	"aggregator/internal/synthfeed"
)

// config is one fleet run.
type config struct {
	feeds, hosts, nodes, items int
	// intervals is how many fetch intervals the feeds change in.
	intervals int
	interval  time.Duration
	perHost   int
	hostDelay time.Duration
	timeout   time.Duration
	lease     time.Duration
	// killNode and killLeader kill -9 a node that is not the clusterer
	// mid-pass (in the first interval) and the clusterer (in the
	// second), restarting each after restartAfter.
	killNode, killLeader bool
	restartAfter         time.Duration
	texts                string // labelled set the headlines come from
	bin                  string // the aggregator binary; built when empty
	keep                 bool   // keep the work directory (node logs)
	out                  io.Writer
}

// result is what a run measured; failures lists the assertions that did
// not hold.
type result struct {
	fetches       int
	perNode       map[string]int
	takeovers     []time.Duration
	lags          []time.Duration
	duplicates    int // a feed fetched twice within half its interval
	afterKill     int // of those, refetches of a killed node's leases
	maxGap        time.Duration
	maxGapAt      string        // which feed, when, for a failure's message
	firstPass     time.Duration // from the first request to every feed's first
	feedsFetched  int
	late          []time.Duration // each refetch's wait beyond the interval
	maxInFlight   int
	minStartGap   time.Duration
	minStartGapAt string
	gaps          int // successive starts at one host
	shortGaps     int // of those, closer than host_delay at the server
	items         int
	storyItems    int
	sameStories   int
	outputsEqual  bool
	failures      []string
}

func (r *result) fail(format string, args ...any) {
	r.failures = append(r.failures, fmt.Sprintf(format, args...))
}

// daemon is one node process.
type daemon struct {
	name, addr string

	// mu guards cmd and done, which start replaces while the lag probe
	// and the kill loop look at them.
	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

type harness struct {
	c     config
	dir   string
	cfg   string
	url   string
	fs    *feedServer
	nodes []*daemon
	kills []time.Time
}

func run(ctx context.Context, c config) (*result, error) {
	dir, err := os.MkdirTemp("", "fleet-")
	if err != nil {
		return nil, err
	}
	if c.keep {
		fmt.Fprintln(c.out, "keeping", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	h := &harness{c: c, dir: dir, cfg: filepath.Join(dir, "fleet.toml")}
	if h.c.bin == "" {
		h.c.bin = filepath.Join(dir, "aggregator")
		build := exec.CommandContext(ctx, "go", "build", "-o", h.c.bin, "aggregator/cmd/aggregator")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			return nil, fmt.Errorf("build: %w", err)
		}
	}
	pg, err := pgserver.Start(ctx, pgserver.Options{Dir: "/tmp"})
	if err != nil {
		return nil, err
	}
	defer pg.Stop()
	if err := pg.CreateDatabase(ctx, "fleet"); err != nil {
		return nil, err
	}
	h.url = pg.URL("fleet")
	texts, err := synthfeed.ReadTexts(c.texts)
	if err != nil {
		return nil, err
	}
	if h.fs, err = startFeeds(texts, c.feeds, c.items, c.hosts); err != nil {
		return nil, err
	}
	defer h.fs.close()
	if err := h.writeConfig(h.cfg, "[storage]\nurl = "+quote(h.url)+"\n"); err != nil {
		return nil, err
	}
	defer h.stopAll()
	return h.drive(ctx)
}

func quote(s string) string { b, _ := json.Marshal(s); return string(b) }

func (h *harness) writeConfig(path, storage string) error {
	c := h.c
	var b bytes.Buffer
	b.WriteString(storage)
	b.WriteString("keep = \"0s\"\n")
	// One public URL for all nodes, as behind a load balancer: the same
	// content then renders to the same bytes and ETag everywhere.
	b.WriteString("[server]\nbase_url = \"http://news.fleet.test\"\n")
	fmt.Fprintf(&b, "[fetch]\ninterval = %q\nmin_interval = %q\nmax_interval = %q\ntimeout = %q\nconcurrency = 16\nper_host = %d\nhost_delay = %q\n",
		c.interval, c.interval, c.interval, c.timeout, c.perHost, c.hostDelay)
	// A window wide enough for every synthetic item, as for archives.
	fmt.Fprintf(&b, "[fleet]\nlease = %q\n[dedupe]\nwindow = \"8760h\"\n", c.lease)
	for i := range c.feeds {
		fmt.Fprintf(&b, "[[feeds]]\nname = \"f%05d\"\nurl = %q\n", i, h.fs.url(i))
	}
	b.WriteString("[[outputs]]\nname = \"all\"\ntitle = \"All\"\n")
	// The last feed's stories alone: where the lag probe shows.
	fmt.Fprintf(&b, "[[outputs]]\nname = \"probe\"\nfeeds = [\"f%05d\"]\nmax_items = 1000\n", c.feeds-1)
	return os.WriteFile(path, b.Bytes(), 0o644)
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// start starts (or restarts) node d.
func (h *harness) start(d *daemon) error {
	f, err := os.OpenFile(filepath.Join(h.dir, d.name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(h.c.bin, "serve", "--config", h.cfg, "--node", d.name, "--listen", d.addr)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		f.Close()
		return err
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); f.Close(); close(done) }()
	d.mu.Lock()
	d.cmd, d.done = cmd, done
	d.mu.Unlock()
	return nil
}

// proc returns the current process and the channel closed when it exits.
func (d *daemon) proc() (*exec.Cmd, chan struct{}) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cmd, d.done
}

func (d *daemon) running() bool {
	_, done := d.proc()
	if done == nil {
		return false
	}
	select {
	case <-done:
		return false
	default:
		return true
	}
}

func (d *daemon) kill() {
	if cmd, done := d.proc(); d.running() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
}

func (d *daemon) terminate() {
	if cmd, done := d.proc(); d.running() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			d.kill()
		}
	}
}

func (h *harness) stopAll() {
	for _, d := range h.nodes {
		d.kill()
	}
}

type health struct {
	Fleet struct {
		Node   string `json:"node"`
		Leader bool   `json:"leader"`
		Leases int    `json:"leases"`
	} `json:"fleet"`
}

var httpc = &http.Client{Timeout: 5 * time.Second}

func (d *daemon) health() (health, error) {
	var hl health
	resp, err := httpc.Get("http://" + d.addr + "/healthz")
	if err != nil {
		return hl, err
	}
	defer resp.Body.Close()
	return hl, json.NewDecoder(resp.Body).Decode(&hl)
}

// leader is the running node that says it is the clusterer, if any.
func (h *harness) leader() *daemon {
	for _, d := range h.nodes {
		if !d.running() {
			continue
		}
		if hl, err := d.health(); err == nil && hl.Fleet.Leader {
			return d
		}
	}
	return nil
}

// probe is the newest item of generation g: the last item of the last
// feed, which output "probe" lists once it is clustered.
func (h *harness) probe(g int) string {
	i := h.c.feeds - 1
	return fmt.Sprintf("http://outlet%d.test/%d", i, h.fs.count(g)-1)
}

func (h *harness) drive(ctx context.Context) (*result, error) {
	c, res := h.c, &result{perNode: map[string]int{}}
	for k := range c.nodes {
		addr, err := freeAddr()
		if err != nil {
			return nil, err
		}
		d := &daemon{name: fmt.Sprintf("node%d", k+1), addr: addr}
		if err := h.start(d); err != nil {
			return nil, err
		}
		h.nodes = append(h.nodes, d)
	}
	t0 := time.Now()
	fmt.Fprintf(c.out, "%d nodes on %d feeds from %d hosts, interval %s, %d generations\n", c.nodes, c.feeds, c.hosts, c.interval, c.intervals)

	// Lag: when each node first serves each generation's newest item.
	lagCtx, stopLag := context.WithCancel(ctx)
	defer stopLag()
	var lagMu sync.Mutex
	seen := map[string]map[int]time.Time{} // node -> gen -> first seen
	var lagWG sync.WaitGroup
	for _, d := range h.nodes {
		seen[d.name] = map[int]time.Time{}
		lagWG.Go(func() {
			for lagCtx.Err() == nil {
				time.Sleep(200 * time.Millisecond)
				if !d.running() {
					continue
				}
				resp, err := httpc.Get("http://" + d.addr + "/probe.json")
				if err != nil {
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				now := time.Now()
				for g := range c.intervals {
					// As a member's link, inside the JSON string of the
					// content's HTML, or as the entry's own url.
					p := h.probe(g)
					if bytes.Contains(body, []byte(p+`\"`)) || bytes.Contains(body, []byte(p+`"`)) {
						lagMu.Lock()
						if _, ok := seen[d.name][g]; !ok {
							seen[d.name][g] = now
						}
						lagMu.Unlock()
					}
				}
			}
		})
	}

	// The timeline: generation g from t0+g*interval; the kills.
	at := func(f float64) time.Time { return t0.Add(time.Duration(f * float64(c.interval))) }
	sleepUntil := func(t time.Time) error {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Until(t)):
			return nil
		}
	}
	restart := func(d *daemon) {
		time.Sleep(c.restartAfter)
		if err := h.start(d); err != nil {
			res.fail("restart %s: %v", d.name, err)
		}
	}
	var restarts sync.WaitGroup
	for g := 0; g < c.intervals; g++ {
		if err := sleepUntil(at(float64(g))); err != nil {
			return nil, err
		}
		h.fs.setGen(g)
		if g == 0 && c.killNode {
			if err := sleepUntil(at(0.3)); err != nil {
				return nil, err
			}
			for _, d := range h.nodes {
				if hl, err := d.health(); err == nil && !hl.Fleet.Leader {
					d.kill()
					h.kills = append(h.kills, time.Now())
					fmt.Fprintf(c.out, "killed %s (fetching, not the clusterer) at %.1fs\n", d.name, time.Since(t0).Seconds())
					restarts.Go(func() { restart(d) })
					break
				}
			}
		}
		if g == 1 && c.killLeader {
			if err := sleepUntil(at(1.3)); err != nil {
				return nil, err
			}
			if d := h.leader(); d != nil {
				d.kill()
				killed := time.Now()
				h.kills = append(h.kills, killed)
				for time.Since(killed) < 30*time.Second {
					if l := h.leader(); l != nil {
						res.takeovers = append(res.takeovers, time.Since(killed))
						fmt.Fprintf(c.out, "killed the clusterer %s at %.1fs; %s took over after %s\n", d.name, killed.Sub(t0).Seconds(), l.name, time.Since(killed).Round(time.Millisecond))
						break
					}
					time.Sleep(50 * time.Millisecond)
				}
				if len(res.takeovers) == 0 {
					res.fail("no node took over within 30 s of killing the clusterer %s", d.name)
				}
				restarts.Go(func() { restart(d) })
			} else {
				res.fail("no clusterer to kill at %.1fs", time.Since(t0).Seconds())
			}
		}
	}
	restarts.Wait()
	// The last generation gets a whole interval and a half, so that every
	// feed's next fetch (jittered) sees it; then the fleet settles.
	if err := sleepUntil(at(float64(c.intervals) + 0.5)); err != nil {
		return nil, err
	}
	conn, err := pgx.Connect(ctx, h.url)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.Background())
	settle := time.Now()
	for {
		var pending, leased int
		err := conn.QueryRow(ctx, `SELECT (SELECT count(*) FROM pending), (SELECT count(*) FROM feeds WHERE lease_until > now())`).Scan(&pending, &leased)
		if err != nil {
			return nil, err
		}
		if pending == 0 && leased == 0 {
			break
		}
		if time.Since(settle) > 2*c.interval {
			res.fail("the fleet did not settle: %d items pending, %d feeds leased", pending, leased)
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(3 * time.Second) // notifications and re-renders reach every node
	stopLag()
	lagWG.Wait()
	h.checkOutputs(res)
	for _, d := range h.nodes {
		d.terminate()
	}
	last := c.intervals - 1
	reqs := h.fs.requests()
	firstServed := map[int]time.Time{}
	for _, r := range reqs {
		if r.feed == c.feeds-1 && r.status == http.StatusOK {
			if _, ok := firstServed[r.gen]; !ok {
				firstServed[r.gen] = r.start
			}
		}
	}
	for node, gens := range seen {
		for g, t := range gens {
			if s, ok := firstServed[g]; ok && t.After(s) {
				res.lags = append(res.lags, t.Sub(s))
			}
		}
		if _, ok := gens[last]; !ok && node != "" {
			res.fail("%s never served the last generation's newest item", node)
		}
	}
	h.checkRequests(res, reqs)
	if err := h.checkDatabase(ctx, conn, res); err != nil {
		return nil, err
	}
	if err := h.checkSingle(ctx, res); err != nil {
		return nil, err
	}
	return res, nil
}

// checkOutputs fetches every format from every node: the same bytes and
// the same ETag, and one node's ETag is a 304 at every other.
func (h *harness) checkOutputs(res *result) {
	res.outputsEqual = true
	for _, f := range []string{"rss", "atom", "json"} {
		var body0 []byte
		var etag0 string
		for i, d := range h.nodes {
			resp, err := httpc.Get("http://" + d.addr + "/all." + f)
			if err != nil {
				res.fail("GET %s from %s: %v", f, d.name, err)
				res.outputsEqual = false
				continue
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			etag := resp.Header.Get("ETag")
			if i == 0 {
				body0, etag0 = body, etag
				continue
			}
			if !bytes.Equal(body, body0) || etag != etag0 {
				res.fail("%s serves another /all.%s than %s (ETag %s against %s)", d.name, f, h.nodes[0].name, etag, etag0)
				res.outputsEqual = false
			}
			req, _ := http.NewRequest("GET", "http://"+d.addr+"/all."+f, nil)
			req.Header.Set("If-None-Match", etag0)
			if resp, err := httpc.Do(req); err == nil {
				resp.Body.Close()
				if resp.StatusCode != http.StatusNotModified {
					res.fail("%s answers %d, not 304, to %s's ETag for /all.%s", d.name, resp.StatusCode, h.nodes[0].name, f)
					res.outputsEqual = false
				}
			}
		}
	}
}

// nearKill reports whether t is within a lease (and a fetch) after a kill:
// when a killed node's feeds may be fetched again by another.
func (h *harness) nearKill(t time.Time) bool {
	for _, k := range h.kills {
		if t.After(k.Add(-h.c.timeout)) && t.Before(k.Add(h.c.lease+h.c.timeout+h.c.restartAfter)) {
			return true
		}
	}
	return false
}

func (h *harness) checkRequests(res *result, reqs []request) {
	c := h.c
	byFeed := map[int][]request{}
	byHost := map[int][]request{}
	for _, r := range reqs {
		if r.feed < 0 {
			res.fail("a request for an unknown feed on host %d", r.host)
			continue
		}
		res.fetches++
		byFeed[r.feed] = append(byFeed[r.feed], r)
		byHost[r.host] = append(byHost[r.host], r)
	}
	if len(byFeed) != c.feeds {
		res.fail("%d of %d feeds fetched", len(byFeed), c.feeds)
	}
	var first, lastFirst time.Time
	for i, rs := range byFeed {
		sort.Slice(rs, func(a, b int) bool { return rs[a].start.Before(rs[b].start) })
		if first.IsZero() || rs[0].start.Before(first) {
			first = rs[0].start
		}
		if rs[0].start.After(lastFirst) {
			lastFirst = rs[0].start
		}
		for k := 1; k < len(rs); k++ {
			gap := rs[k].start.Sub(rs[k-1].start)
			if gap < c.interval/2 {
				res.duplicates++
				if h.nearKill(rs[k].start) {
					res.afterKill++
				} else {
					res.fail("feed %d fetched twice %s apart, not near a kill (at %s: %d then %d)", i, gap.Round(time.Millisecond),
						rs[k-1].start.Format("15:04:05.000"), rs[k-1].status, rs[k].status)
				}
				continue
			}
			res.late = append(res.late, gap-c.interval)
			if gap > res.maxGap && !h.nearKill(rs[k].start) {
				res.maxGap = gap
				res.maxGapAt = fmt.Sprintf("feed f%05d: %s (status %d) then %s (status %d)", i,
					rs[k-1].start.Format("15:04:05.000"), rs[k-1].status, rs[k].start.Format("15:04:05.000"), rs[k].status)
			}
		}
	}
	res.firstPass, res.feedsFetched = lastFirst.Sub(first), len(byFeed)
	if res.maxGap > c.interval*13/10 {
		res.fail("a feed waited %s between fetches, interval %s (%s)", res.maxGap.Round(time.Millisecond), c.interval, res.maxGapAt)
	}
	res.minStartGap = time.Hour
	for host, rs := range byHost {
		type ev struct {
			t time.Time
			d int
		}
		var evs []ev
		for _, r := range rs {
			evs = append(evs, ev{r.start, 1}, ev{r.end, -1})
		}
		slices.SortFunc(evs, func(a, b ev) int {
			if c := a.t.Compare(b.t); c != 0 {
				return c
			}
			return a.d - b.d // ends before starts at one instant
		})
		n := 0
		for _, e := range evs {
			n += e.d
			res.maxInFlight = max(res.maxInFlight, n)
		}
		sort.Slice(rs, func(a, b int) bool { return rs[a].start.Before(rs[b].start) })
		for k := 1; k < len(rs); k++ {
			gap := rs[k].start.Sub(rs[k-1].start)
			if gap < res.minStartGap {
				res.minStartGap = gap
				res.minStartGapAt = fmt.Sprintf("host %d: feed f%05d at %s, feed f%05d at %s", host,
					rs[k-1].feed, rs[k-1].start.Format("15:04:05.000"), rs[k].feed, rs[k].start.Format("15:04:05.000"))
			}
			res.gaps++
			if gap < c.hostDelay {
				res.shortGaps++
			}
		}
	}
	if res.maxInFlight > c.perHost {
		res.fail("%d requests in flight to one host across the fleet, per_host %d", res.maxInFlight, c.perHost)
	}
	// The fleet spaces a host's requests from the previous one's answer
	// (its first byte), so a handler here starts at least host_delay
	// after the previous one did; a quarter of the delay is tolerated
	// for the clocks (the database's and this process's).
	if res.minStartGap < c.hostDelay*3/4 {
		res.fail("two requests to one host started %s apart, host_delay %s (%s)", res.minStartGap, c.hostDelay, res.minStartGapAt)
	}
}

func (h *harness) checkDatabase(ctx context.Context, conn *pgx.Conn, res *result) error {
	want := 0
	maxGen := map[int]int{}
	for _, r := range h.fs.requests() {
		if r.feed >= 0 && r.status == http.StatusOK {
			maxGen[r.feed] = max(maxGen[r.feed], r.gen)
		}
	}
	for i := range h.c.feeds {
		want += h.fs.count(maxGen[i])
	}
	var items, distinct, pending, members int
	err := conn.QueryRow(ctx, `SELECT (SELECT count(*) FROM items), (SELECT count(DISTINCT id) FROM items),
		(SELECT count(*) FROM pending), (SELECT count(*) FROM memberships)`).Scan(&items, &distinct, &pending, &members)
	if err != nil {
		return err
	}
	res.items = items
	if items != want || distinct != items {
		res.fail("%d items stored (%d distinct), the feed server served %d", items, distinct, want)
	}
	if pending != 0 || members != items {
		res.fail("%d items pending, %d of %d in a story", pending, members, items)
	}
	rows, err := conn.Query(ctx, `SELECT state->>'node', count(*) FROM feeds GROUP BY 1`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var node *string
		var n int
		if err := rows.Scan(&node, &n); err != nil {
			return err
		}
		if node != nil {
			res.perNode[*node] = n
		}
	}
	return rows.Err()
}

// clusters reads "aggregator clusters --json" into item -> cluster id.
func (h *harness) clusters(ctx context.Context, cfg string) (map[string]string, error) {
	out, err := exec.CommandContext(ctx, h.c.bin, "clusters", "--config", cfg, "--json").Output()
	if err != nil {
		return nil, fmt.Errorf("clusters --config %s: %w", cfg, err)
	}
	m := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		var c struct {
			ID    string `json:"id"`
			Items []struct {
				Feed string `json:"feed"`
				ID   string `json:"id"`
			} `json:"items"`
		}
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			return nil, err
		}
		for _, it := range c.Items {
			m[it.Feed+" "+it.ID] = c.ID
		}
	}
	return m, sc.Err()
}

// checkSingle runs one "aggregator fetch" into a fresh bbolt file over
// the final content and compares its stories with the fleet's.
func (h *harness) checkSingle(ctx context.Context, res *result) error {
	single := filepath.Join(h.dir, "single.toml")
	if err := h.writeConfig(single, "[storage]\npath = "+quote(filepath.Join(h.dir, "single.db"))+"\n"); err != nil {
		return err
	}
	if out, err := exec.CommandContext(ctx, h.c.bin, "fetch", "--config", single, "--quiet").CombinedOutput(); err != nil {
		return fmt.Errorf("single-node fetch: %w\n%s", err, out)
	}
	fleet, err := h.clusters(ctx, h.cfg)
	if err != nil {
		return err
	}
	one, err := h.clusters(ctx, single)
	if err != nil {
		return err
	}
	res.storyItems = len(one)
	// An item's story is the same when its cluster id and its fellow
	// members are.
	members := func(m map[string]string) map[string][]string {
		out := map[string][]string{}
		for it, c := range m {
			out[c] = append(out[c], it)
		}
		for _, v := range out {
			slices.Sort(v)
		}
		return out
	}
	fm, om := members(fleet), members(one)
	for it, c := range one {
		if fleet[it] == c && slices.Equal(fm[c], om[c]) {
			res.sameStories++
		}
	}
	if len(fleet) != len(one) {
		res.fail("the fleet's clusters list %d items, one node's %d", len(fleet), len(one))
	}
	if res.sameStories != len(one) {
		res.fail("%d of %d items in the same story (same id, same members) as one node's pass", res.sameStories, len(one))
	}
	return nil
}

func (r *result) print(w io.Writer) {
	nodes := make([]string, 0, len(r.perNode))
	for n, k := range r.perNode {
		nodes = append(nodes, fmt.Sprintf("%s %d", n, k))
	}
	slices.Sort(nodes)
	fmt.Fprintf(w, "requests at the feed server: %d; feeds last fetched by: %s\n", r.fetches, strings.Join(nodes, ", "))
	if r.firstPass > 0 {
		fmt.Fprintf(w, "first pass: every feed fetched once in %s (%.0f feeds/s across the fleet)\n",
			r.firstPass.Round(time.Millisecond), float64(r.feedsFetched)/r.firstPass.Seconds())
	}
	fmt.Fprintf(w, "fetched twice within half an interval: %d (%d of them a killed node's leases taken over)\n", r.duplicates, r.afterKill)
	fmt.Fprintf(w, "longest wait between two fetches of a feed: %s\n", r.maxGap.Round(time.Millisecond))
	if n := len(r.late); n > 0 {
		slices.Sort(r.late)
		fmt.Fprintf(w, "refetch after the interval: median %+.1fs, 99th percentile %+.1fs, latest %+.1fs (%d refetches, kills included)\n",
			r.late[n/2].Seconds(), r.late[n*99/100].Seconds(), r.late[n-1].Seconds(), n)
	}
	fmt.Fprintf(w, "per host, fleet-wide: at most %d in flight, starts at least %s apart (%d of %d successive starts arrived closer than host_delay)\n",
		r.maxInFlight, r.minStartGap.Round(time.Millisecond), r.shortGaps, r.gaps)
	fmt.Fprintf(w, "takeover after killing the clusterer: %v\n", r.takeovers)
	if len(r.lags) > 0 {
		slices.Sort(r.lags)
		fmt.Fprintf(w, "lag from a new item served to it in a node's output: median %s, max %s (%d samples)\n",
			r.lags[len(r.lags)/2].Round(time.Millisecond), r.lags[len(r.lags)-1].Round(time.Millisecond), len(r.lags))
	}
	fmt.Fprintf(w, "items stored: %d; same story as one node's pass: %d of %d; outputs equal on every node: %v\n", r.items, r.sameStories, r.storyItems, r.outputsEqual)
	if len(r.failures) == 0 {
		fmt.Fprintln(w, "PASS")
		return
	}
	for _, f := range r.failures {
		fmt.Fprintln(w, "FAIL:", f)
	}
}
