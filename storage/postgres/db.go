package postgres

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"net/url"
	"path"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"

	"aggregator"
)

//go:embed migrations/*.sql
var migrations embed.FS

// migrationLock is the key of the session advisory lock Open holds while
// it migrates: "aggregator" in ASCII, so that it is ours and not the key
// every goose user shares.
const migrationLock int64 = 0x61676772656761

// versionTable is where goose records the applied migrations.
const versionTable = "aggregator_schema_version"

// ErrSchema is returned (wrapped) by Open when the database has a schema
// version newer than this program's migrations.
var ErrSchema = errors.New("unsupported database schema")

// Options configure Open. The zero value means the documented defaults.
type Options struct {
	// MaxConns caps the connection pool; default pgxpool's, the larger of
	// 4 and the number of CPUs. Lead and Watch hold a connection each
	// besides the pool's.
	MaxConns int32
	// WatchCheck is how often Watch compares the change counters, behind
	// its notifications, to catch a change whose notification it missed;
	// default 2 seconds.
	WatchCheck time.Duration
	// SlotReuse, when positive, lets AcquireHost hand a released slot of
	// a host without a delay to this process's next request to that
	// host, without a round trip, while at least SlotReuse of the slot's
	// lease is left (see hostslots.go). Set it to the fetch timeout, so
	// that a request on a reused slot ends within the slot's lease as
	// one on a fresh slot does. Zero: every request asks the database.
	SlotReuse time.Duration
}

// defaultWatchCheck is Options.WatchCheck's default.
const defaultWatchCheck = 2 * time.Second

// DB is an open store on a PostgreSQL database. It is safe for concurrent
// use, also by several processes on one database.
type DB struct {
	pool  *pgxpool.Pool
	where string
	// connConfig opens the connections Lead and Watch hold outside the
	// pool, on which a session's lock or LISTEN lives.
	connConfig *pgx.ConnConfig
	// sender names this DB in its notifications, so that Watch can pass
	// over its own writes.
	sender     string
	watchCheck time.Duration
	// version counts the writes this process committed; see Version.
	version atomic.Uint64
	// slots are the fetch slots released for reuse (Options.SlotReuse).
	slots idleSlots
}

// Open connects to the database at url (a postgres:// URL or a key=value
// connection string) and brings its schema up to date. Processes that
// open one database at once migrate it one after the other: each holds a
// PostgreSQL advisory lock while it migrates, and the later ones find
// nothing left to do.
func Open(ctx context.Context, url string, opts Options) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	for k, v := range map[string]string{
		// No JIT: every query here is short, and a plan whose cost
		// estimate passes jit_above_cost (as Stories' does on statistics
		// gone stale after a bulk load) spent 30 ms compiling to run for 1.
		"jit": "off",
		// No parallel query: every query here reads at most a few
		// thousand rows by index, and PostgreSQL still planned the
		// pending items' 4,096-row page as a Gather over two workers,
		// whose start (two processes, on a loaded machine) took 50 to
		// 170 ms of the 80 to 350 ms the query took; the work itself was
		// 15 ms a worker.
		"max_parallel_workers_per_gather": "0",
	} {
		if _, set := cfg.ConnConfig.RuntimeParams[k]; !set {
			cfg.ConnConfig.RuntimeParams[k] = v
		}
	}
	where := redact(cfg.ConnConfig)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", where, err)
	}
	db := &DB{pool: pool, where: where, connConfig: cfg.ConnConfig.Copy(),
		sender: strconv.FormatUint(rand.Uint64(), 36), watchCheck: opts.WatchCheck}
	db.slots.reuse = opts.SlotReuse
	if db.watchCheck <= 0 {
		db.watchCheck = defaultWatchCheck
	}
	if err := db.migrate(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open %s: %w", where, err)
	}
	db.version.Store(1)
	return db, nil
}

// migrate applies the embedded migrations not applied yet, holding the
// migration lock. A database already at the newest version is left
// alone after one query: every run of a command opens the database, and
// the lock, goose's own queries and the second connection they take
// were a third of what the server did for a command that fetched one
// feed.
func (db *DB) migrate(ctx context.Context) error {
	newest, err := newestMigration()
	if err != nil {
		return err
	}
	if v, err := db.SchemaVersion(ctx); err == nil && v == newest {
		return nil
	}
	// A fresh database (no version table yet), an older or a newer one:
	// goose, under the lock, decides.
	conn, err := db.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	// pg_advisory_lock blocks (and is cancelled with ctx) rather than
	// polling as goose's own session locker does, so a second process
	// waits for the first one's migration, not for a poll interval.
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", migrationLock); err != nil {
		return fmt.Errorf("migration lock: %w", err)
	}
	defer func() {
		// With a cancelled ctx the unlock cannot run: drop the connection,
		// which ends the session and its lock.
		if _, err := conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", migrationLock); err != nil {
			conn.Conn().Close(context.Background())
		}
	}()
	sqlDB := stdlib.OpenDBFromPool(db.pool)
	defer sqlDB.Close()
	return runMigrations(ctx, sqlDB)
}

// newestMigration is the version of the newest embedded migration: the
// number its file name begins with.
func newestMigration() (int64, error) {
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return 0, err
	}
	var newest int64
	for _, name := range names {
		num, _, _ := strings.Cut(path.Base(name), "_")
		v, err := strconv.ParseInt(num, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("migration %s: no version number", name)
		}
		newest = max(newest, v)
	}
	return newest, nil
}

func runMigrations(ctx context.Context, sqlDB *sql.DB) error {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return err
	}
	p, err := goose.NewProvider(goose.DialectPostgres, sqlDB, sub,
		goose.WithTableName(versionTable), goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	current, target, err := p.GetVersions(ctx)
	if err != nil {
		return fmt.Errorf("schema version: %w", err)
	}
	if current > target {
		return fmt.Errorf("%w: database has schema version %d, this program knows up to %d (upgrade aggregator)",
			ErrSchema, current, target)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

// SchemaVersion returns the version of the newest migration applied to
// the database.
func (db *DB) SchemaVersion(ctx context.Context) (int64, error) {
	var v int64
	err := db.pool.QueryRow(ctx, "SELECT coalesce(max(version_id), 0) FROM "+versionTable+" WHERE is_applied").Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("schema version: %w", err)
	}
	return v, nil
}

// redact names the database without its password.
func redact(c *pgx.ConnConfig) string {
	u := url.URL{Scheme: "postgres", User: url.User(c.User), Path: "/" + c.Database}
	if strings.HasPrefix(c.Host, "/") {
		u.RawQuery = url.Values{"host": {c.Host}}.Encode()
	} else {
		u.Host = c.Host
		if c.Port != 0 && c.Port != 5432 {
			u.Host += ":" + strconv.Itoa(int(c.Port))
		}
	}
	return u.String()
}

// dedicatedConn opens a connection outside the pool, for a session's
// lock or LISTEN, named app in pg_stat_activity so that an operator (or
// a test) can tell it apart.
func (db *DB) dedicatedConn(ctx context.Context, app string) (*pgx.Conn, error) {
	cfg := db.connConfig.Copy()
	cfg.RuntimeParams["application_name"] = app
	return pgx.ConnectConfig(ctx, cfg)
}

// Close frees the fetch slots kept for reuse and closes the connection
// pool.
func (db *DB) Close() error {
	db.closeSlots()
	db.pool.Close()
	return nil
}

// Where names the database: its URL without the password.
func (db *DB) Where() string { return db.where }

// Version returns a counter that changes whenever a write commits in this
// process, so that publish can tell cheaply whether to render again. It
// starts at 1 on Open and is not persisted; writes of other processes do
// not move it, unless Watch runs: then a change to the stories that
// Watch hears of moves it too.
func (db *DB) Version() uint64 { return db.version.Load() }

// maxRetries is how many times write runs a transaction again after
// PostgreSQL aborted it for a deadlock or a serialization failure.
const maxRetries = 5

// write runs fn in a transaction and bumps Version once it has committed.
// fn may run more than once (see maxRetries), so it must reset whatever
// it reports.
func (db *DB) write(ctx context.Context, fn func(pgx.Tx) error) error {
	for attempt := 0; ; attempt++ {
		err := pgx.BeginFunc(ctx, db.pool, fn)
		if err == nil {
			db.version.Add(1)
			return nil
		}
		var pe *pgconn.PgError
		if attempt < maxRetries && errors.As(err, &pe) && (pe.Code == "40P01" || pe.Code == "40001") {
			continue
		}
		return err
	}
}

// lockMeta locks the meta row for the rest of tx. Every transaction that
// changes clusters takes it first, which orders them (the ClusterStamp
// sequence is theirs to advance one at a time) and keeps them from
// deadlocking with each other.
func lockMeta(ctx context.Context, tx pgx.Tx) error {
	_, err := tx.Exec(ctx, "SELECT 1 FROM meta FOR UPDATE")
	return err
}

// nextClusterSeq advances the ClusterStamp sequence and returns it.
func nextClusterSeq(ctx context.Context, tx pgx.Tx) (uint64, error) {
	var seq int64
	err := tx.QueryRow(ctx, "UPDATE meta SET cluster_seq = cluster_seq + 1 RETURNING cluster_seq").Scan(&seq)
	return uint64(seq), err
}

// clusteringReset advances the sequence for a change the cluster log
// cannot replay.
func clusteringReset(ctx context.Context, tx pgx.Tx) error {
	if _, err := tx.Exec(ctx, "UPDATE meta SET cluster_seq = cluster_seq + 1, cluster_reset = cluster_seq + 1"); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, "DELETE FROM log_items") // no record will be replayed
	return err
}

// ClusterStamp returns the database's current stamp.
func (db *DB) ClusterStamp(ctx context.Context) (aggregator.ClusterStamp, error) {
	var (
		s    aggregator.ClusterStamp
		inst []byte
		seq  int64
	)
	if err := db.pool.QueryRow(ctx, "SELECT instance, cluster_seq FROM meta").Scan(&inst, &seq); err != nil {
		return aggregator.ClusterStamp{}, fmt.Errorf("cluster stamp: %w", err)
	}
	copy(s.Instance[:], inst)
	s.Seq = uint64(seq)
	return s, nil
}

// Stats counts what the database holds. Size is pg_database_size: the
// whole database with its indexes, free space and the catalog.
func (db *DB) Stats(ctx context.Context) (aggregator.StoreStats, error) {
	var s aggregator.StoreStats
	err := db.pool.QueryRow(ctx, `SELECT
		(SELECT coalesce(sum(item_count), 0) FROM feeds),
		(SELECT clusters FROM meta),
		(SELECT count(*) FROM feeds),
		(SELECT count(*) FROM tombstones),
		(SELECT count(*) FROM pending),
		pg_database_size(current_database())`).
		Scan(&s.Items, &s.Clusters, &s.Feeds, &s.Tombstones, &s.Pending, &s.Size)
	if err != nil {
		return aggregator.StoreStats{}, fmt.Errorf("stats: %w", err)
	}
	return s, nil
}
