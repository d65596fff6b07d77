package main

import (
	"context"
	"log/slog"
	"path/filepath"

	"aggregator/pipeline"
	"aggregator/storage"
	"aggregator/storage/postgres"
)

// store is an open database of either kind: the bbolt file (storage) or
// PostgreSQL (storage/postgres).
type store interface {
	pipeline.Store
	Close() error
}

// storeURL is the PostgreSQL URL the config selects: [storage] url, else
// the DATABASE_URL environment variable; empty for the bbolt file.
func (c *commonFlags) storeURL(e *env, cfg *Config) string {
	if cfg.Storage.URL != "" {
		return cfg.Storage.URL
	}
	if u := e.getenv("DATABASE_URL"); isPostgresURL(u) {
		return u
	}
	return ""
}

// dbPath is --db, else [storage].path resolved against the config file's
// directory, so that a cron job run from elsewhere finds the same file.
func (c *commonFlags) dbPath(cfg *Config) string {
	if c.db != "" {
		return c.db
	}
	p := cfg.Storage.Path
	if !filepath.IsAbs(p) {
		p = filepath.Join(filepath.Dir(c.config), p)
	}
	return p
}

// open opens the database the flags and config name: --db (a file), else
// PostgreSQL when a URL is configured, else [storage].path. Failure to
// open is a usage error (exit 2). readOnly opens a bbolt file shared, for
// commands that only read and may run beside each other.
func (c *commonFlags) open(ctx context.Context, e *env, cfg *Config, readOnly bool) (store, error) {
	if e.daemon != nil {
		return held{e.daemon.store}, nil
	}
	if u := c.storeURL(e, cfg); u != "" && c.db == "" {
		// A request on a reused fetch slot must end within the slot's
		// lease, as one on a fresh slot does: the fetch timeout bounds it.
		db, err := openPostgres(ctx, u, postgres.Options{SlotReuse: cfg.Fetch.Timeout.Duration})
		if err != nil {
			return nil, usageErr(err)
		}
		return db, nil
	}
	db, err := storage.Open(c.dbPath(cfg), storage.Options{ReadOnly: readOnly})
	if err != nil {
		return nil, usageErr(err)
	}
	return db, nil
}

// openStore opens a store named by a migrate target or source: a
// postgres:// URL or a file path.
func openStore(ctx context.Context, where string, opts storage.Options) (store, error) {
	if isPostgresURL(where) {
		return openPostgres(ctx, where, postgres.Options{})
	}
	db, err := storage.Open(where, opts)
	if err != nil {
		return nil, err
	}
	return db, nil
}

func openPostgres(ctx context.Context, url string, opts postgres.Options) (store, error) {
	db, err := postgres.Open(ctx, url, opts)
	if err != nil {
		return nil, err
	}
	return db, nil
}

// Both stores can be migrated.
var (
	_ dumper = (*storage.DB)(nil)
	_ dumper = (*postgres.DB)(nil)
)

// held is the daemon's store lent to a command it runs for the control
// channel: closing it is the daemon's business.
type held struct{ store }

func (held) Close() error { return nil }

// pipelineFor is the pipeline a command works with: the daemon's when it
// runs the command, else a new one on db.
func (e *env) pipelineFor(db store, cfg *Config, log *slog.Logger) *pipeline.Pipeline {
	if e.daemon != nil {
		return e.daemon.pipeline
	}
	return pipeline.New(db, pipelineOptions(cfg, log))
}
