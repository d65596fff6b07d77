package main

import (
	"bytes"
	"context"
	"debug/buildinfo"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// The peer measured: Miniflux, as "go install" builds it.
const (
	minifluxModule  = "miniflux.app/v2"
	minifluxVersion = "v2.3.5"
	minifluxBinary  = "miniflux.app" // the name go install gives it
)

// ensureMiniflux returns the path of a Miniflux binary of the version
// measured: bin when set, else the one in the user's cache directory,
// installed there with go install when missing. The version is read from
// the binary's build information, as go version -m does (the program's
// own -version says "2.3.x-dev" when built without its release flags).
func ensureMiniflux(ctx context.Context, bin string, stderr io.Writer) (string, error) {
	if bin == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			return "", fmt.Errorf("miniflux cache directory: %w", err)
		}
		dir := filepath.Join(cache, "aggregator", "miniflux-"+minifluxVersion)
		bin = filepath.Join(dir, minifluxBinary)
		if _, err := os.Stat(bin); errors.Is(err, os.ErrNotExist) {
			fmt.Fprintf(stderr, "installing %s@%s into %s\n", minifluxModule, minifluxVersion, dir)
			cmd := exec.CommandContext(ctx, "go", "install", minifluxModule+"@"+minifluxVersion)
			cmd.Env = append(os.Environ(), "GOBIN="+dir)
			cmd.Stdout, cmd.Stderr = stderr, stderr
			if err := cmd.Run(); err != nil {
				return "", fmt.Errorf("go install %s@%s: %w", minifluxModule, minifluxVersion, err)
			}
		}
	}
	info, err := buildinfo.ReadFile(bin)
	if err != nil {
		return "", fmt.Errorf("miniflux binary %s: %w", bin, err)
	}
	if info.Main.Path != minifluxModule || info.Main.Version != minifluxVersion {
		return "", fmt.Errorf("miniflux binary %s is %s@%s, want %s@%s", bin, info.Main.Path, info.Main.Version, minifluxModule, minifluxVersion)
	}
	return bin, nil
}

// The two ways of driving Miniflux.
const (
	modeAPI       = "api"       // PUT /v1/feeds/refresh
	modeScheduler = "scheduler" // its own polling scheduler
)

// schedulerPeriod is POLLING_FREQUENCY in scheduler mode: the smallest
// Miniflux accepts (it counts in minutes).
const schedulerPeriod = time.Minute

// peer runs Miniflux rounds.
type peer struct {
	bin, dir, base string
	nFeeds, nItems int
	web            *nginx
	pg             *pgCluster
	poll           time.Duration
}

// instance is one running Miniflux daemon.
type instance struct {
	cmd    *exec.Cmd
	base   string
	log    string
	exited chan struct{}
	client *http.Client
}

const (
	adminUser     = "peer"
	adminPassword = "peer-password"
)

// start runs Miniflux on a fresh database: migrations, an admin user,
// 16 workers, a batch that covers every feed, loopback feeds allowed. In
// scheduler mode it polls every minute; in API mode its scheduler is set
// to a day, so that only the API's refreshes run.
func (p *peer) start(ctx context.Context, dbURL, mode string) (*instance, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	freq := "1440"
	if mode == modeScheduler {
		freq = strconv.Itoa(int(schedulerPeriod.Minutes()))
	}
	in := &instance{base: "http://" + addr, log: filepath.Join(p.dir, "miniflux-"+mode+".log"),
		exited: make(chan struct{}), client: &http.Client{Timeout: 5 * time.Minute}}
	logf, err := os.Create(in.log)
	if err != nil {
		return nil, err
	}
	defer logf.Close() // the child has its own descriptor
	in.cmd = exec.Command(p.bin)
	in.cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + p.dir,
		"DATABASE_URL=" + dbURL,
		"RUN_MIGRATIONS=1", "CREATE_ADMIN=1",
		"ADMIN_USERNAME=" + adminUser, "ADMIN_PASSWORD=" + adminPassword,
		"LISTEN_ADDR=" + addr,
		"FETCHER_ALLOW_PRIVATE_NETWORKS=1",
		"WORKER_POOL_SIZE=16",
		"BATCH_SIZE=" + strconv.Itoa(p.nFeeds),
		"POLLING_FREQUENCY=" + freq,
		"LOG_LEVEL=info",
	}
	in.cmd.Stdout, in.cmd.Stderr = logf, logf
	in.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := in.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start miniflux: %w", err)
	}
	go func() {
		in.cmd.Wait()
		close(in.exited)
	}()
	if err := in.waitReady(ctx); err != nil {
		in.stop()
		return nil, fmt.Errorf("miniflux: %w; its log ends:\n%s", err, in.logTail())
	}
	return in, nil
}

// waitReady waits for the readiness probe (it answers once the database
// is reachable, after the migrations).
func (in *instance) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, in.base+"/healthcheck", nil)
		if err != nil {
			return err
		}
		if resp, err := in.client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-in.exited:
			return errors.New("exited while starting")
		case <-ctx.Done():
			return fmt.Errorf("not ready: %w", ctx.Err())
		case <-tick.C:
		}
	}
}

// logTail is the end of Miniflux's log, for errors (the log itself goes
// with the work directory).
func (in *instance) logTail() string {
	b, _ := os.ReadFile(in.log)
	b = bytes.TrimSpace(b)
	if len(b) > 3000 {
		b = b[len(b)-3000:]
	}
	return string(b)
}

func (in *instance) stop() {
	in.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(15 * time.Second)
	defer t.Stop()
	select {
	case <-in.exited:
	case <-t.C:
		syscall.Kill(-in.cmd.Process.Pid, syscall.SIGKILL)
		<-in.exited
	}
}

// call makes one API request as the admin and decodes a JSON answer into
// out when out is not nil.
func (in *instance) call(ctx context.Context, method, path string, body []byte, want int, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, in.base+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.SetBasicAuth(adminUser, adminPassword)
	resp, err := in.client.Do(req)
	if err != nil {
		return fmt.Errorf("miniflux %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != want {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 2000))
		return fmt.Errorf("miniflux %s %s: %s, want %d: %s", method, path, resp.Status, want, b)
	}
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("miniflux %s %s: %w", method, path, err)
	}
	return nil
}

// apiFeed is what GET /v1/feeds says of a feed, the fields checked.
type apiFeed struct {
	FeedURL           string    `json:"feed_url"`
	CheckedAt         time.Time `json:"checked_at"`
	ParsingErrorCount int       `json:"parsing_error_count"`
	ParsingErrorMsg   string    `json:"parsing_error_message"`
}

// verify asks Miniflux, through its API, whether every feed was checked
// since t0 without a parsing error and how many entries it holds.
func (in *instance) verify(ctx context.Context, t0 time.Time, nFeeds, nEntries int) error {
	var feeds []apiFeed
	if err := in.call(ctx, http.MethodGet, "/v1/feeds", nil, http.StatusOK, &feeds); err != nil {
		return err
	}
	if len(feeds) != nFeeds {
		return fmt.Errorf("miniflux has %d feeds, want %d", len(feeds), nFeeds)
	}
	for _, f := range feeds {
		if f.ParsingErrorCount > 0 {
			return fmt.Errorf("miniflux: %s: %s", f.FeedURL, f.ParsingErrorMsg)
		}
		if f.CheckedAt.Before(t0.Truncate(time.Second)) {
			return fmt.Errorf("miniflux: %s checked at %s, before the pass (%s)", f.FeedURL, f.CheckedAt, t0)
		}
	}
	var entries struct {
		Total int `json:"total"`
	}
	if err := in.call(ctx, http.MethodGet, "/v1/entries?limit=1", nil, http.StatusOK, &entries); err != nil {
		return err
	}
	if entries.Total != nEntries {
		return fmt.Errorf("miniflux has %d entries, want %d", entries.Total, nEntries)
	}
	return nil
}

// errMinifluxStore marks a pass in which Miniflux failed to store an
// entry of its own accord: under load its scheduler mode sometimes
// refreshes a feed twice at once, and the second insert of an entry
// breaks a unique constraint ("entries_feed_id_hash_key"). The feeds are
// fine, so the round is run again rather than the whole measurement
// given up.
var errMinifluxStore = errors.New("miniflux's own store error")

// round subscribes Miniflux to the feeds on a fresh database (an OPML
// import, which stores the feeds without fetching them), then measures
// the first pass and the unchanged pass, driven by mode.
func (p *peer) round(ctx context.Context, mode string, r int) (run, error) {
	name := fmt.Sprintf("miniflux_%s_%d", mode, r)
	if err := p.pg.srv.CreateDatabase(ctx, name); err != nil {
		return run{}, err
	}
	defer p.pg.drop(context.WithoutCancel(ctx), name)
	dbURL := p.pg.srv.URL(name)
	dsn, err := keywordDSN(dbURL)
	if err != nil {
		return run{}, err
	}
	in, err := p.start(ctx, dsn, mode)
	if err != nil {
		return run{}, err
	}
	defer in.stop()
	if err := in.call(ctx, http.MethodPost, "/v1/import", opml(p.base, p.nFeeds), http.StatusCreated, nil); err != nil {
		return run{}, err
	}
	// The progress queries go straight to the database (cheap, and no
	// work for Miniflux); their backend's CPU is left out of the
	// measurement.
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return run{}, fmt.Errorf("miniflux database: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var backend int
	if err := conn.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&backend); err != nil {
		return run{}, err
	}
	refresh := func(ctx context.Context) error {
		return in.call(ctx, http.MethodPut, "/v1/feeds/refresh", nil, http.StatusNoContent, nil)
	}
	if mode == modeScheduler {
		refresh = nil // the scheduler's next tick starts the pass
	}
	want := p.nFeeds * p.nItems
	var res run
	first, tick, err := p.measure(ctx, in, conn, backend, refresh, want)
	if err != nil {
		return run{}, fmt.Errorf("miniflux (%s), first pass: %w", mode, err)
	}
	res.First = first

	// Make every feed due again, as time would. In scheduler mode, do it
	// just after a tick and start measuring a second before the next one:
	// the ticks keep the phase of the first (time.Tick), which began the
	// first pass.
	var wait time.Duration
	if mode == modeScheduler {
		next := nextTick(tick, schedulerPeriod, time.Now().Add(3*time.Second))
		wait = time.Until(next) - time.Second
	}
	if _, err := conn.Exec(ctx, "UPDATE feeds SET next_check_at = now()"); err != nil {
		return run{}, fmt.Errorf("miniflux: make feeds due: %w", err)
	}
	if wait > 0 {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return run{}, ctx.Err()
		case <-t.C:
		}
	}
	unchanged, _, err := p.measure(ctx, in, conn, backend, refresh, want)
	if err != nil {
		return run{}, fmt.Errorf("miniflux (%s), unchanged pass: %w", mode, err)
	}
	res.Unchanged = unchanged
	return res, nil
}

// keywordDSN rewrites a postgres:// URL whose host is a query parameter
// (a Unix socket's directory) as a keyword/value connection string:
// Miniflux's driver (lib/pq) takes the host from the URL's authority
// only.
func keywordDSN(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("database url: %w", err)
	}
	q := u.Query()
	host, port := q.Get("host"), q.Get("port")
	if host == "" {
		host, port = u.Hostname(), u.Port()
	}
	kv := []string{"host=" + host, "dbname=" + strings.TrimPrefix(u.Path, "/"), "user=" + u.User.Username(), "sslmode=disable"}
	if port != "" {
		kv = append(kv, "port="+port)
	}
	return strings.Join(kv, " "), nil
}

// nextTick is the first tick of a ticker of period that ticked at phase
// which comes after t (phase itself when t is before it).
func nextTick(phase time.Time, period time.Duration, t time.Time) time.Time {
	if t.Before(phase) {
		return phase
	}
	k := t.Sub(phase)/period + 1
	return phase.Add(k * period)
}

// measure runs one pass: it reads the CPU of Miniflux and of PostgreSQL,
// starts the pass (refresh; nil: the scheduler will), waits until every
// feed has been checked since and want entries are stored, and reads the
// CPU again. The wall time runs from the start of the pass: the request,
// or in scheduler mode the earliest check of the pass (Miniflux sets a
// feed's checked_at as it starts refreshing it), which is also returned.
func (p *peer) measure(ctx context.Context, in *instance, conn *pgx.Conn, backend int, refresh func(context.Context) error, want int) (pass, time.Time, error) {
	off := p.web.logOffset()
	mf0, err := treeCPU(in.cmd.Process.Pid)
	if err != nil {
		return pass{}, time.Time{}, err
	}
	pg0, err := p.pg.cpu(backend)
	if err != nil {
		return pass{}, time.Time{}, err
	}
	t0 := time.Now().Truncate(time.Microsecond) // PostgreSQL's precision
	if refresh != nil {
		if err := refresh(ctx); err != nil {
			return pass{}, time.Time{}, err
		}
	}
	started, err := p.waitChecked(ctx, in, conn, t0, want)
	if err != nil {
		return pass{}, time.Time{}, err
	}
	t1 := time.Now()
	mf1, err := treeCPU(in.cmd.Process.Pid)
	if err != nil {
		return pass{}, time.Time{}, err
	}
	pg1, err := p.pg.cpu(backend)
	if err != nil {
		return pass{}, time.Time{}, err
	}
	reqs, err := p.web.requests(off)
	if err != nil {
		return pass{}, time.Time{}, err
	}
	if err := in.verify(ctx, t0, p.nFeeds, want); err != nil {
		return pass{}, time.Time{}, err
	}
	begin := t0
	var note string
	if refresh == nil {
		begin = started
		note = fmt.Sprintf("CPU includes %.1fs waiting for the tick", started.Sub(t0).Seconds())
	}
	return pass{Wall: t1.Sub(begin), CPU: (mf1 - mf0) + (pg1 - pg0), PG: pg1 - pg0, Reqs: reqs, Note: note}, started, nil
}

// waitChecked polls the database until every feed has been checked since
// t0 and want entries are stored, and returns the earliest check.
func (p *peer) waitChecked(ctx context.Context, in *instance, conn *pgx.Conn, t0 time.Time, want int) (time.Time, error) {
	tick := time.NewTicker(p.poll)
	defer tick.Stop()
	var allChecked time.Time
	for {
		var n, failed int
		var first *time.Time
		err := conn.QueryRow(ctx, `SELECT count(*) FILTER (WHERE checked_at >= $1),
			min(checked_at) FILTER (WHERE checked_at >= $1),
			count(*) FILTER (WHERE checked_at >= $1 AND parsing_error_count > 0)
			FROM feeds`, t0).Scan(&n, &first, &failed)
		if err != nil {
			return time.Time{}, fmt.Errorf("progress: %w", err)
		}
		if failed > 0 {
			var url, msg string
			conn.QueryRow(ctx, "SELECT feed_url, parsing_error_msg FROM feeds WHERE parsing_error_count > 0 LIMIT 1").Scan(&url, &msg)
			if strings.HasPrefix(msg, "Database error") {
				return time.Time{}, fmt.Errorf("%w: %d feeds failed, e.g. %s: %s", errMinifluxStore, failed, url, msg)
			}
			return time.Time{}, fmt.Errorf("%d feeds failed, e.g. %s: %s", failed, url, msg)
		}
		if n == p.nFeeds {
			var entries int
			if err := conn.QueryRow(ctx, "SELECT count(*) FROM entries").Scan(&entries); err != nil {
				return time.Time{}, fmt.Errorf("progress: %w", err)
			}
			if entries == want {
				return *first, nil
			}
			if allChecked.IsZero() {
				allChecked = time.Now()
			} else if time.Since(allChecked) > 30*time.Second {
				return time.Time{}, fmt.Errorf("every feed checked, but %d entries stored, want %d", entries, want)
			}
		}
		select {
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		case <-in.exited:
			return time.Time{}, fmt.Errorf("miniflux exited; its log ends:\n%s", in.logTail())
		case <-tick.C:
		}
	}
}
