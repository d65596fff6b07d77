package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"aggregator/fetcher"
	"aggregator/publish"
	"aggregator/storage"
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
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := cf.load()
	if err != nil {
		return err
	}
	if *listen != "" {
		cfg.Server.Listen = *listen
	}
	db, err := cf.open(cfg, false)
	if err != nil {
		return err
	}
	defer db.Close()
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	return serve(ctx, e, cfg, db, newLogger(e.stderr, level))
}

// serve runs the daemon on an open database until ctx is cancelled.
func serve(ctx context.Context, e *env, cfg *Config, db *storage.DB, log *slog.Logger) error {
	p := newPipeline(cfg, db, log)
	if err := p.clusterPending(); err != nil { // what a crash left behind
		return err
	}
	states, err := db.FeedStates()
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", cfg.Server.Listen)
	if err != nil {
		return usageErr(fmt.Errorf("listen on %s: %w (is another server using it? set [server].listen or --listen)", cfg.Server.Listen, err))
	}
	baseURL := cfg.Server.BaseURL
	if cfg.Server.BaseURL == "http://"+cfg.Server.Listen {
		baseURL = "http://" + ln.Addr().String() // resolves port 0
	}

	client := fetcher.New(fetcherOptions(cfg))
	src := storySource{db: db, feeds: p.feeds, now: time.Now}
	h := publish.NewHandler(src, publish.Options{
		BaseURL: baseURL,
		Outputs: cfg.outputs(),
		Feeds:   cfg.feeds(),
		Hubs:    cfg.Publish.Hubs,
		Logger:  log,
	})
	defer h.Close()
	mux := http.NewServeMux()
	mux.Handle("/", h)
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		if err := client.WriteMetrics(w); err != nil {
			log.Warn("write metrics", "err", err)
		}
		writeStoreMetrics(w, db)
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		healthz(w, db)
	})
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		// Large rendered feeds go out corked through sendfile(2).
		ConnContext: publish.ConnContext,
	}

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	srvErr := make(chan error, 1)
	wg.Go(func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			srvErr <- err
			cancel()
		}
	})

	sched := fetcher.NewScheduler(client, cfg.feeds(), states)
	changed := make(chan struct{}, 1)
	notify := func() {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	clusterCtx, stopClusterer := context.WithCancel(context.Background())
	clusterDone := make(chan struct{})
	go func() {
		defer close(clusterDone)
		p.runClusterer(clusterCtx, 5*time.Second, func() {
			notify()
			if e.clustered != nil {
				e.clustered()
			}
		})
	}()
	wg.Go(func() {
		// The clusterer outlives the scheduler, to cluster its last results.
		defer func() { stopClusterer(); <-clusterDone }()
		ing := p.startIngest()
		defer ing.close() // before the clusterer stops: its last items get clustered
		err := sched.Run(runCtx, func(r fetcher.Result) {
			ing.store(r, func(o outcome) {
				logOutcome(log, o)
				if o.updated > 0 {
					notify()
				}
			})
		})
		if err != nil && !errors.Is(err, context.Canceled) {
			log.Error("scheduler stopped", "err", err)
		}
	})
	// Housekeeping: pruning a minute after start, then hourly; saving the
	// dedupe index every ten minutes when enough changed, so that a
	// daemon killed rather than stopped replays little at its next start.
	wg.Go(func() {
		prune := time.NewTimer(time.Minute)
		defer prune.Stop()
		save := time.NewTicker(10 * time.Minute)
		defer save.Stop()
		for {
			select {
			case <-runCtx.Done():
				return
			case <-prune.C:
				if _, err := p.prune(runCtx); err != nil && runCtx.Err() == nil {
					log.Warn("pruning old items failed; retrying in an hour", "err", err)
				}
				prune.Reset(time.Hour)
			case <-save.C:
				if err := p.saveIndex(false); err != nil {
					log.Warn("saving the dedupe index failed; retrying later", "err", err)
				}
			}
		}
	})
	// The WebSub pinger: at most one ping round at a time, after changes.
	wg.Go(func() {
		for {
			select {
			case <-runCtx.Done():
				return
			case <-changed:
				if err := h.Ping(runCtx); err != nil && runCtx.Err() == nil {
					log.Warn("websub ping", "err", err)
				}
			}
		}
	})

	log.Info("serving", "url", baseURL+"/", "feeds", len(cfg.Feeds), "db", db.Path())
	if e.ready != nil {
		e.ready(baseURL)
	}
	<-runCtx.Done()
	log.Info("shutting down")
	shutCtx, stop := context.WithTimeout(context.Background(), 10*time.Second)
	defer stop()
	if err := srv.Shutdown(shutCtx); err != nil {
		log.Warn("http shutdown", "err", err)
	}
	cancel()
	wg.Wait()
	if err := p.saveIndex(true); err != nil {
		log.Warn("the next start will rebuild the dedupe index from storage", "err", err)
	}
	select {
	case err := <-srvErr:
		return fmt.Errorf("http server: %w", err)
	default:
	}
	return nil
}

func logOutcome(log *slog.Logger, o outcome) {
	switch {
	case o.status == fetcher.StatusFailed:
		log.Warn("fetch failed", "feed", o.feed, "err", oneLine(o.err), "consecutive", o.state.ConsecutiveErrors, "next", o.state.NextFetch.Format(time.RFC3339))
	case o.new > 0 || o.updated > 0:
		log.Info("fetched", "feed", o.feed, "new", o.new, "updated", o.updated, "next", o.state.NextFetch.Format(time.RFC3339))
	default:
		log.Debug("fetched", "feed", o.feed, "status", o.status, "next", o.state.NextFetch.Format(time.RFC3339))
	}
}

// healthz reports liveness and whether the database answers.
func healthz(w http.ResponseWriter, db *storage.DB) {
	st, err := db.Stats()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	body := map[string]any{"status": "ok", "database": db.Path()}
	if err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		body["status"] = "error"
		body["error"] = err.Error()
	} else {
		body["stats"] = st
	}
	json.NewEncoder(w).Encode(body)
}

func writeStoreMetrics(w http.ResponseWriter, db *storage.DB) {
	st, err := db.Stats()
	if err != nil {
		return
	}
	fmt.Fprintf(w, "# HELP aggregator_items Items stored.\n# TYPE aggregator_items gauge\naggregator_items %d\n", st.Items)
	fmt.Fprintf(w, "# HELP aggregator_clusters Story clusters stored.\n# TYPE aggregator_clusters gauge\naggregator_clusters %d\n", st.Clusters)
	fmt.Fprintf(w, "# HELP aggregator_feeds Feeds with stored state.\n# TYPE aggregator_feeds gauge\naggregator_feeds %d\n", st.Feeds)
}
