package main

import (
	"aggregator"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"aggregator/fetcher"
	"aggregator/pipeline"
	"aggregator/publish"
	"aggregator/storage"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/errgroup"
)

const serveHelp = `
Run the daemon: fetch every feed on its own schedule (resuming the stored
schedule after a restart), cluster new items as they arrive, and serve the
merged feeds over HTTP until interrupted (SIGINT or SIGTERM), then finish
or cancel in-flight work and shut down cleanly.

Endpoints: / (web page), /{output}.rss, /{output}.atom, /{output}.json,
/feeds.opml, /metrics (Prometheus), /healthz.`

func runServe(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "serve", "[--config feeds.toml] [--db PATH] [--listen ADDR]", serveHelp)
	var cf commonFlags
	cf.register(fs)
	listen := fs.String("listen", "", "`address` to listen on (overrides [server].listen)")
	verbose := fs.Bool("verbose", false, "log every fetch, not only failures and changes")
	node := fs.String("node", "", "this daemon's `name` in a fleet on one PostgreSQL database (overrides [fleet].node)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := cf.load(e)
	if err != nil {
		return err
	}
	// The command line's settings win over the file's, at start-up and at
	// every reload, so that a reload neither undoes them nor reports them
	// as changes that need a restart.
	cfg.override = func(c *Config) {
		if *node != "" {
			c.Fleet.Node = *node
		}
		if *listen != "" {
			if c.Server.BaseURL == "http://"+c.Server.Listen {
				// The default base URL follows the address actually used.
				c.Server.BaseURL = "http://" + *listen
			}
			c.Server.Listen = *listen
		}
	}
	cfg.override(cfg)
	db, err := cf.open(ctx, e, cfg, false)
	if err != nil {
		return err
	}
	defer db.Close()
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	return serve(ctx, e, cfg, db, cf.logger(e, level))
}

// serve runs the daemon on an open store until ctx is cancelled: the
// pipeline (fetching on schedule, storing, clustering, housekeeping), the
// HTTP server and the WebSub pinger, each stopped and waited for.
func serve(ctx context.Context, e *env, cfg *Config, db store, log *slog.Logger) error {
	ln, err := net.Listen("tcp", cfg.Server.Listen)
	if err != nil {
		return usageErr(fmt.Errorf("listen on %s: %w (is another server using it? set [server].listen or --listen)", cfg.Server.Listen, err))
	}
	baseURL := cfg.Server.BaseURL
	if baseURL == "http://"+cfg.Server.Listen {
		baseURL = "http://" + ln.Addr().String() // resolves port 0
	}

	fopts := fetcherOptions(cfg)
	opts := pipelineOptions(cfg, log)
	if fl, ok := db.(pipeline.Fleet); ok {
		// A fleet counts politeness across all its nodes.
		opts.Node, opts.Lease = cfg.Fleet.Node, cfg.Fleet.Lease.Duration
		if opts.Node == "" {
			opts.Node = pipeline.DefaultNode()
		}
		if opts.Lease <= 0 {
			opts.Lease = 2 * cfg.Fetch.Timeout.Duration
		}
		fopts.HostGate = pipeline.HostGate(fl, opts.Node, opts.Lease)
		log.Info("fleet mode: this daemon shares the database with any others on it", "node", opts.Node, "lease", opts.Lease)
	}
	client := fetcher.New(fopts)
	changed := make(chan struct{}, 1)
	notify := func() {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	opts.OnOutcome = func(o pipeline.Outcome) { logOutcome(log, o) }
	opts.OnChange = func() {
		notify()
		if e.clustered != nil {
			e.clustered()
		}
	}
	p := pipeline.New(db, opts)
	newHandler := func(c *Config) *publish.Handler {
		return publish.NewHandler(p, publish.Options{
			BaseURL: baseURL,
			Outputs: c.outputs(),
			Feeds:   c.feeds(),
			Hubs:    c.Publish.Hubs,
			Logger:  log,
		})
	}
	// A reload swaps the whole handler, so that no request sees half of
	// a config; the old ones are closed at the end, when no request can
	// still be using them.
	var h atomic.Pointer[publish.Handler]
	h.Store(newHandler(cfg))
	var (
		reloadMu sync.Mutex // guards running and retired
		running  = cfg
		retired  []*publish.Handler
	)
	defer func() {
		h.Load().Close()
		for _, old := range retired {
			old.Close()
		}
	}()
	reload := func() error {
		reloadMu.Lock()
		defer reloadMu.Unlock()
		if running.path == "" {
			return errors.New("this daemon has no config file to reread")
		}
		nc, err := loadConfig(running.path)
		if err != nil {
			log.Error("reload failed; the daemon keeps its running config", "err", err)
			return usageErr(err)
		}
		if nc.override = running.override; nc.override != nil {
			nc.override(nc)
		}
		for _, w := range restartNeeded(running, nc) {
			log.Warn("reload: this change takes effect at the next start", "setting", w)
		}
		added, removed := feedChanges(running.feeds(), nc.feeds())
		p.SetFeeds(nc.feeds())
		retired = append(retired, h.Swap(newHandler(nc)))
		running = nc
		log.Info("reloaded config", "path", nc.path, "feeds", len(nc.feeds()), "added", added, "removed", removed, "outputs", len(nc.outputs()))
		notify()
		return nil
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewBuildInfoCollector(),
		client.Collector(),
		p.Collector(),
	)
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "aggregator_http_requests_total",
		Help: "HTTP requests served, by kind of path and status code.",
	}, []string{"path", "code"})
	reg.MustRegister(requests)
	mux := http.NewServeMux()
	mux.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.Load().ServeHTTP(w, r) }))
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		healthz(r.Context(), w, db, p)
	})
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		mux.ServeHTTP(rw, r)
		requests.WithLabelValues(pathKind(r.URL.Path), strconv.Itoa(rw.code)).Inc()
	})
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		// Large rendered feeds go out corked through sendfile(2).
		ConnContext: publish.ConnContext,
	}

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("http server: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		log.Info("shutting down")
		shutCtx, stop := context.WithTimeout(context.WithoutCancel(gctx), 10*time.Second)
		defer stop()
		if err := srv.Shutdown(shutCtx); err != nil {
			log.Warn("http shutdown", "err", err)
		}
		return nil
	})
	g.Go(func() error { return p.Run(gctx, client) })
	// The WebSub pinger: at most one ping round at a time, after changes.
	g.Go(func() error {
		for {
			select {
			case <-gctx.Done():
				return nil
			case <-changed:
				if err := h.Load().Ping(gctx); err != nil && gctx.Err() == nil {
					log.Warn("websub ping", "err", err)
				}
			}
		}
	})

	// Reload on SIGHUP (what systemctl reload sends) and through the
	// control channel.
	hup := e.hup
	if hup == nil {
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, syscall.SIGHUP)
		defer signal.Stop(ch)
		hup = ch
	}
	g.Go(func() error {
		for {
			select {
			case <-gctx.Done():
				return nil
			case <-hup:
				reload() // logged; the running config stays on failure
			}
		}
	})
	if bdb, ok := db.(*storage.DB); ok {
		sock := controlPath(bdb.Path())
		cln, err := listenControl(sock)
		if err != nil {
			log.Warn("no control channel: the CLI cannot reach this daemon", "socket", sock, "err", err)
		} else {
			csrv := controlServer(daemonCall{store: db, pipeline: p, client: client, reload: reload}, log)
			g.Go(func() error {
				csrv.Serve(cln)
				return nil
			})
			g.Go(func() error {
				<-gctx.Done()
				csrv.Close()
				os.Remove(sock)
				return nil
			})
		}
	}

	log.Info("serving", "url", baseURL+"/", "feeds", len(cfg.Feeds), "store", db.Where())
	if e.ready != nil {
		e.ready(baseURL)
	}
	return g.Wait()
}

func logOutcome(log *slog.Logger, o pipeline.Outcome) {
	switch {
	case o.Status == pipeline.StatusCancelled:
		log.Debug("fetch cancelled by shutdown", "feed", o.Feed)
	case o.Status == fetcher.StatusFailed:
		log.Warn("fetch failed", "feed", o.Feed, "err", oneLine(o.Err), "consecutive", o.State.ConsecutiveErrors, "next", o.State.NextFetch.Format(time.RFC3339))
	case o.New > 0 || o.Updated > 0:
		log.Info("fetched", "feed", o.Feed, "new", o.New, "updated", o.Updated, "next", o.State.NextFetch.Format(time.RFC3339))
	default:
		log.Debug("fetched", "feed", o.Feed, "status", o.Status, "next", o.State.NextFetch.Format(time.RFC3339))
	}
}

// healthz reports liveness and whether the store answers, and takes
// writes: "degraded" (503) while its last write failed to commit (a full
// disk), for stores that keep that (storage.DB.LastWriteError).
func healthz(ctx context.Context, w http.ResponseWriter, db store, p *pipeline.Pipeline) {
	st, err := db.Stats(ctx)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	body := map[string]any{"status": "ok", "store": db.Where()}
	if err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		body["status"] = "error"
		body["error"] = err.Error()
	} else {
		body["stats"] = st
		if lw, ok := db.(interface{ LastWriteError() (time.Time, error) }); ok {
			if at, werr := lw.LastWriteError(); werr != nil {
				w.WriteHeader(http.StatusServiceUnavailable)
				body["status"] = "degraded"
				body["error"] = "the last write failed: " + werr.Error()
				body["write_failed_at"] = at
			}
		}
		if fs, ok, ferr := p.FleetStatus(ctx); ok {
			f := map[string]any{"node": fs.Node, "leader": fs.Leader, "leases": fs.Leases, "all_leases": fs.AllLeases}
			if fs.Leader {
				f["leader_since"] = fs.Since
			}
			if ferr != nil {
				f["error"] = ferr.Error()
			}
			body["fleet"] = f
		}
		if age := p.PendingAge(); age > 0 {
			body["pending_age_seconds"] = age.Seconds()
		}
	}
	json.NewEncoder(w).Encode(body)
}

// pathKind names the kind of path for the requests metric, so that its
// labels stay few whatever clients ask for.
func pathKind(path string) string {
	switch {
	case path == "/":
		return "/"
	case path == "/metrics", path == "/healthz", path == "/feeds.opml":
		return path
	case strings.HasSuffix(path, ".rss"), strings.HasSuffix(path, ".atom"), strings.HasSuffix(path, ".json"):
		return "feed"
	case strings.HasSuffix(path, "/"), strings.HasSuffix(path, ".html"):
		return "page"
	}
	return "other"
}

// statusWriter records the status code a handler wrote. Unwrap keeps
// http.ResponseController (and the sendfile path's connection access)
// working through it.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// ReadFrom passes large bodies on to net/http's own ReadFrom, which
// publish relies on for sendfile(2).
func (w *statusWriter) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := w.ResponseWriter.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(w.ResponseWriter, r)
}

// restartNeeded lists the settings that differ between a and b and that
// a reload does not apply.
func restartNeeded(a, b *Config) []string {
	var out []string
	if a.Storage != b.Storage {
		out = append(out, "[storage]")
	}
	if a.Server != b.Server {
		out = append(out, "[server]")
	}
	if a.Fetch != b.Fetch {
		out = append(out, "[fetch]")
	}
	if a.Dedupe != b.Dedupe {
		out = append(out, "[dedupe]")
	}
	if a.Fleet != b.Fleet {
		out = append(out, "[fleet]")
	}
	return out
}

// feedChanges counts the feeds b adds to a and removes from it.
func feedChanges(a, b []aggregator.Feed) (added, removed int) {
	in := func(fs []aggregator.Feed, name string) bool {
		return slices.ContainsFunc(fs, func(f aggregator.Feed) bool { return f.Name == name })
	}
	for _, f := range b {
		if !in(a, f.Name) {
			added++
		}
	}
	for _, f := range a {
		if !in(b, f.Name) {
			removed++
		}
	}
	return added, removed
}
