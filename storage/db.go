package storage

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// SchemaVersion is the layout version this package writes. Files with a
// lower version are migrated on Open where a migration exists; files with a
// higher one are refused.
//
// Version 2 changed the item IDs (aggregator.ItemID gained a feed prefix)
// and has no migration: version 1 was only ever written by development
// builds. Version 3 checksums the values (see encode.go); its readers
// still read every value of version 2, so the migration only stamps the
// file 3, which makes a version 2 program refuse it (ErrSchema, "upgrade
// aggregator") instead of reporting its checksummed values as damage.
// A read-only Open reads a version 2 file as it is.
//
// Version 4 stores a cluster's members as item IDs, their memberships
// only in memtime (see memberRef): a member of version 3 or 2 repeated
// its whole membership. Its readers read both kinds of member, and a
// cluster rewritten by a join is written the new way, so the migration
// again only stamps the file; a version 3 program refuses it rather than
// reading the new members as damage. A read-only Open reads a version 2
// or 3 file as it is.
//
// Version 5 writes feed states in a binary layout (see feedstate.go)
// instead of JSON. Its readers read both, a state is written the new way
// whenever it is stored, and the migration again only stamps the file; a
// version 4 program refuses it instead of calling each new state damage.
const SchemaVersion = 5

// schemaPlain is the last version without checksums; schemaFullMembers
// the last whose clusters repeat their members' memberships;
// schemaJSONStates the last whose feed states are all JSON or gob.
const (
	schemaPlain       = 2
	schemaFullMembers = 3
	schemaJSONStates  = 4
)

// migratable reports whether a file of schema v is read as it is and
// stamped SchemaVersion by the first writable Open.
func migratable(v uint32) bool {
	return v == schemaPlain || v == schemaFullMembers || v == schemaJSONStates
}

// defaultTimeout is how long Open waits for another process's lock.
const defaultTimeout = 2 * time.Second

var (
	// ErrLocked is returned (wrapped) by Open when another process holds
	// the database file and it did not let go within Options.Timeout.
	ErrLocked = errors.New("database is in use")
	// ErrSchema is returned (wrapped) by Open when the file has a schema
	// version this program cannot read: a newer one, or an unknown one.
	ErrSchema = errors.New("unsupported database schema")
)

// Bucket names. They are part of the file format.
var (
	bucketMeta       = []byte("meta")
	bucketFeeds      = []byte("feeds")
	bucketFeedCounts = []byte("feedcounts")
	bucketFeedItems  = []byte("feeditems")
	bucketItems      = []byte("items")
	bucketItemTime   = []byte("itemtime")
	bucketMemTime    = []byte("memtime")
	// bucketPending holds the itemtime keys of stored items not clustered
	// yet, in time order: the clusterer takes them oldest first, and
	// finding them after a crash costs what they number, not a scan of
	// every item.
	bucketPending    = []byte("pending")
	bucketClusters   = []byte("clusters")
	bucketClusterPub = []byte("clusterpub")
	bucketTombstones = []byte("tombstones")

	allBuckets = [][]byte{
		bucketMeta, bucketFeeds, bucketFeedCounts, bucketFeedItems, bucketItems,
		bucketItemTime, bucketMemTime, bucketClusters, bucketClusterPub, bucketTombstones,
		bucketPending, bucketClusterLog, bucketLogItems,
	}

	// timeOrdered are the buckets keyed by item time (within a feed for
	// feeditems): new items land at or near their end, so their pages are
	// filled almost full before they split instead of bbolt's default half,
	// which halves the file and the pages a pass writes.
	timeOrdered = [][]byte{bucketItemTime, bucketMemTime, bucketPending, bucketFeedItems}

	keySchema = []byte("schema")
	// keyInstance is a random ID made when the file is created, and
	// keyClusterSeq counts the transactions that changed clustering
	// decisions: together they are the ClusterStamp.
	keyInstance   = []byte("instance")
	keyClusterSeq = []byte("cluster_seq")
	keyLastChange = []byte("last_change")
	// keyClusterCount keeps the number of clusters, so that Stats (polled
	// by /healthz and /metrics) does not walk a bucket of a million keys.
	keyClusterCount = []byte("clusters")
)

// Options configure Open. The zero value means the documented defaults.
type Options struct {
	// Timeout is how long Open waits for a file lock another process
	// holds; default 2s. It is never infinite, so a second process gets an
	// answer instead of hanging.
	Timeout time.Duration
	// ReadOnly opens the file with a shared lock, for read-only commands
	// that may run beside each other. The file must already exist.
	ReadOnly bool
	// NoSync skips fsync on commit. For tests and benchmarks only: a crash
	// may then lose committed writes.
	NoSync bool
	// MaxSize, when positive, is the largest the file may grow to in
	// bytes: a write that needs more fails as on a full disk.
	MaxSize int
}

// DB is an open aggregator database. It is safe for concurrent use; bbolt
// serialises writers and lets readers run beside them.
type DB struct {
	bolt     *bolt.DB
	path     string
	readOnly bool
	// version counts committed writes; see Version.
	version atomic.Uint64
	// writeFailed is the last write's commit failure (a full disk, an I/O
	// error), nil once a write commits again; see LastWriteError.
	writeFailed atomic.Pointer[writeFailure]
	// txs counts the transactions begun through view and update, and
	// open those not ended yet, which tells the trimmer whether anything
	// was read since it last ran, or may be being read now; stopTrim
	// stops it (see trim_linux.go).
	txs      atomic.Uint64
	open     atomic.Int64
	stopTrim func()
}

type writeFailure struct {
	at  time.Time
	err error
}

// LockedError is the error Open returns when another process holds the
// file. It unwraps to ErrLocked.
type LockedError struct {
	Path string
}

func (e *LockedError) Error() string {
	return fmt.Sprintf("open %s: database is in use by another process "+
		"(is \"aggregator serve\" running? stop it, or pass --db to use another file)", e.Path)
}

// Unwrap makes errors.Is(err, ErrLocked) hold.
func (e *LockedError) Unwrap() error { return ErrLocked }

// Open opens the database at path, creating the file (but not its
// directory) when it is missing, and checks or sets its schema version.
// When another process holds the file, Open gives up after opts.Timeout
// with a *LockedError wrapping ErrLocked.
func Open(path string, opts Options) (*DB, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = defaultTimeout
	}
	dir := filepath.Dir(path)
	if fi, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("open %s: directory %s: %w", path, dir, err)
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("open %s: %s is not a directory", path, dir)
	}
	if opts.ReadOnly {
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("open %s read-only: %w", path, err)
		}
	}
	db := &DB{path: path, readOnly: opts.ReadOnly}
	// bbolt reads the freelist page while opening: on a damaged or
	// truncated file that may panic or fault, after it opened (and
	// locked) the file, which is then closed here.
	var file *os.File
	err := db.guard(func() error {
		var err error
		db.bolt, err = bolt.Open(path, 0o600, &bolt.Options{
			Timeout:      opts.Timeout,
			ReadOnly:     opts.ReadOnly,
			FreelistType: bolt.FreelistMapType,
			MaxSize:      opts.MaxSize,
			OpenFile: func(name string, flag int, perm os.FileMode) (*os.File, error) {
				f, err := os.OpenFile(name, flag, perm)
				file = f
				return f, err
			},
		})
		return err
	})
	if err != nil {
		switch {
		case errors.Is(err, berrors.ErrTimeout):
			return nil, &LockedError{Path: path}
		case errors.As(err, new(*CorruptError)):
			if file != nil {
				file.Close()
			}
			return nil, fmt.Errorf("open %w", err)
		case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrChecksum), errors.Is(err, berrors.ErrVersionMismatch):
			return nil, fmt.Errorf("open %w", &CorruptError{Path: path, Err: fmt.Errorf("%w or not an aggregator database (%w)", ErrCorrupt, err)})
		}
		if fi, serr := os.Stat(path); serr == nil && fi.Size() > 0 && fi.Size() < 2*int64(os.Getpagesize()) {
			return nil, fmt.Errorf("open %w", &CorruptError{Path: path, Err: fmt.Errorf("%w: the file is truncated (%d bytes)", ErrCorrupt, fi.Size())})
		}
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	db.bolt.NoSync = opts.NoSync
	err = db.view(context.Background(), func(tx *bolt.Tx) error {
		if err := checkSize(path, tx); err != nil {
			return err
		}
		if opts.ReadOnly {
			return checkSchema(tx)
		}
		return nil
	})
	if err == nil && !opts.ReadOnly {
		err = db.guard(func() error { return db.bolt.Update(initSchema) })
	}
	if err != nil {
		db.bolt.Close()
		if errors.As(err, new(*CorruptError)) {
			return nil, fmt.Errorf("open %w", err)
		}
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if !opts.ReadOnly {
		removeStaleIndexTemps(db.IndexPath())
	}
	db.version.Store(1)
	db.stopTrim = db.startTrimmer()
	return db, nil
}

// checkSchema accepts a file written by this schema version, or an empty
// one (a read-only open of a file nobody initialised yet).
func checkSchema(tx *bolt.Tx) error {
	meta := tx.Bucket(bucketMeta)
	if meta == nil {
		if isEmpty(tx) {
			return nil
		}
		return noMeta(tx)
	}
	v, err := schemaOf(meta)
	if err != nil {
		return err
	}
	if v != SchemaVersion && !migratable(v) {
		return schemaError(v)
	}
	if meta.Get(keyImporting) != nil {
		return ErrIncompleteImport
	}
	return nil
}

// initSchema creates the buckets of a fresh file, or checks (and when
// needed migrates) the version of an existing one.
func initSchema(tx *bolt.Tx) error {
	meta := tx.Bucket(bucketMeta)
	if meta == nil {
		if !isEmpty(tx) {
			return noMeta(tx)
		}
		for _, name := range allBuckets {
			if _, err := tx.CreateBucket(name); err != nil {
				return fmt.Errorf("create bucket %s: %w", name, err)
			}
		}
		var v [4]byte
		binary.BigEndian.PutUint32(v[:], SchemaVersion)
		if err := tx.Bucket(bucketMeta).Put(keySchema, v[:]); err != nil {
			return err
		}
		if err := ensureLogFrom(tx.Bucket(bucketMeta)); err != nil {
			return err
		}
		return ensureInstance(tx.Bucket(bucketMeta))
	}
	v, err := schemaOf(meta)
	if err != nil {
		return err
	}
	if migratable(v) {
		var raw [4]byte
		binary.BigEndian.PutUint32(raw[:], SchemaVersion)
		if err := meta.Put(keySchema, raw[:]); err != nil {
			return fmt.Errorf("stamp schema %d: %w", SchemaVersion, err)
		}
	} else if v != SchemaVersion {
		return schemaError(v)
	}
	if meta.Get(keyImporting) != nil {
		return fmt.Errorf("%w (remove the file and import again)", ErrIncompleteImport)
	}
	// Tolerate a bucket missing from an otherwise valid file (clusterlog
	// and logitems came after schema 2).
	for _, name := range allBuckets {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			if errors.Is(err, berrors.ErrIncompatibleValue) {
				// The root page lists the name, but as a plain value: a
				// flipped flag bit.
				return fmt.Errorf("%w: bucket %s is stored as a value (%v)", ErrCorrupt, name, err)
			}
			return fmt.Errorf("create bucket %s: %w", name, err)
		}
	}
	if err := ensureLogFrom(tx.Bucket(bucketMeta)); err != nil {
		return err
	}
	return ensureInstance(tx.Bucket(bucketMeta))
}

func ensureInstance(meta *bolt.Bucket) error {
	if len(meta.Get(keyInstance)) == 16 {
		return nil
	}
	var id [16]byte
	if _, err := rand.Read(id[:]); err != nil {
		return err
	}
	return meta.Put(keyInstance, id[:])
}

// ClusterStamp returns the database's current stamp; its Instance is zero
// for a file no writer has opened since this version, which matches no
// saved index.
func (db *DB) ClusterStamp(ctx context.Context) (ClusterStamp, error) {
	var s ClusterStamp
	err := db.view(ctx, func(tx *bolt.Tx) error {
		if meta := tx.Bucket(bucketMeta); meta != nil {
			s = stampOf(meta)
		}
		return nil
	})
	if err != nil {
		return ClusterStamp{}, fmt.Errorf("cluster stamp: %w", err)
	}
	return s, nil
}

func stampOf(meta *bolt.Bucket) ClusterStamp {
	var s ClusterStamp
	copy(s.Instance[:], meta.Get(keyInstance))
	s.Seq = readUint64(meta.Get(keyClusterSeq))
	return s
}

// clusteringChanged advances the ClusterStamp within tx.
func clusteringChanged(tx *bolt.Tx) error { return addCount(tx, keyClusterSeq, 1) }

// noMeta explains a file without the meta bucket: another program's
// bbolt file, or one of ours whose meta bucket is damaged.
func noMeta(tx *bolt.Tx) error {
	for _, name := range allBuckets {
		if tx.Bucket(name) != nil {
			return fmt.Errorf("%w: the meta bucket is missing", ErrCorrupt)
		}
	}
	return fmt.Errorf("%w: not an aggregator database (no meta bucket)", ErrSchema)
}

func schemaOf(meta *bolt.Bucket) (uint32, error) {
	raw := meta.Get(keySchema)
	if len(raw) != 4 {
		return 0, fmt.Errorf("%w: schema version missing or malformed", ErrSchema)
	}
	return binary.BigEndian.Uint32(raw), nil
}

func schemaError(v uint32) error {
	if v > SchemaVersion {
		return fmt.Errorf("%w: file has schema version %d, this program reads up to %d (upgrade aggregator)",
			ErrSchema, v, SchemaVersion)
	}
	return fmt.Errorf("%w: file has schema version %d from a development build, which this program cannot migrate (current %d): move the file aside and fetch again",
		ErrSchema, v, SchemaVersion)
}

func isEmpty(tx *bolt.Tx) bool {
	k, _ := tx.Cursor().First()
	return k == nil
}

// Close releases the file and its lock.
func (db *DB) Close() error {
	if db.stopTrim != nil {
		db.stopTrim()
	}
	if err := db.bolt.Close(); err != nil {
		return fmt.Errorf("close %s: %w", db.path, err)
	}
	return nil
}

// Path is the file the database was opened from.
func (db *DB) Path() string { return db.path }

// Version returns a counter that changes whenever a write (SaveFetch,
// SaveClusters, PutFeedState, Delete*) commits in this process, so that
// publish can tell cheaply whether to render again. It starts at 1 on
// Open; it is not persisted (see LastChange for that).
func (db *DB) Version() uint64 { return db.version.Load() }

// LastChange is the time of the last committed write, persisted in the
// file (zero for a database never written). Use it for Last-Modified.
func (db *DB) LastChange(ctx context.Context) (time.Time, error) {
	var t time.Time
	err := db.view(ctx, func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			return nil
		}
		if raw := meta.Get(keyLastChange); raw != nil {
			var err error
			t, _, err = readTime(raw)
			return err
		}
		return nil
	})
	if err != nil {
		return time.Time{}, fmt.Errorf("last change: %w", err)
	}
	return t, nil
}

// update runs fn in a write transaction, records the change time in it,
// and bumps Version once it has committed. A ctx done before the
// transaction starts (it may have waited for another writer) fails it
// with ctx's error; once fn runs, the transaction goes on to its end.
//
// A failure of the commit itself, not of fn (the disk is full, an I/O
// error), is kept for LastWriteError until a write commits again.
func (db *DB) update(ctx context.Context, fn func(tx *bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	fnDone := false
	db.txs.Add(1)
	db.open.Add(1)
	err := db.guard(func() error {
		defer db.open.Add(-1)
		return db.bolt.Update(func(tx *bolt.Tx) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			for _, name := range timeOrdered {
				if b := tx.Bucket(name); b != nil {
					b.FillPercent = timeOrderedFill
				}
			}
			if err := fn(tx); err != nil {
				return err
			}
			fnDone = true
			return tx.Bucket(bucketMeta).Put(keyLastChange, appendTime(nil, time.Now()))
		})
	})
	if err != nil {
		if fnDone {
			db.writeFailed.Store(&writeFailure{at: time.Now(), err: err})
		}
		return err
	}
	db.writeFailed.Store(nil)
	db.version.Add(1)
	// A write goes down the B+tree to every leaf it changes: at a
	// million items, a pass's writes go through most of the file.
	db.trimMapped()
	return nil
}

// LastWriteError returns the error of the last write when it failed to
// commit (a full disk, an I/O error), with its time, so that a health
// check can tell a store that no longer takes writes; nil when the last
// write committed. A failed save of the index file counts too. Errors of
// the data itself (an invalid feed name) do not count.
func (db *DB) LastWriteError() (time.Time, error) {
	if f := db.writeFailed.Load(); f != nil {
		return f.at, f.err
	}
	return time.Time{}, nil
}

// timeOrderedFill is the page fill of the timeOrdered buckets. Not 1.0:
// an item dated between two stored ones would split a full page.
const timeOrderedFill = 0.9

// view runs fn in a read transaction, unless ctx is done. Buckets are nil
// in a read-only database nobody has initialised; readers treat that as
// empty.
func (db *DB) view(ctx context.Context, fn func(tx *bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	db.txs.Add(1)
	db.open.Add(1)
	defer db.open.Add(-1)
	return db.guard(func() error { return db.bolt.View(fn) })
}

// addCount adds delta to the counter stored in meta under key.
func addCount(tx *bolt.Tx, key []byte, delta int) error {
	if delta == 0 {
		return nil
	}
	meta := tx.Bucket(bucketMeta)
	var n int64
	if v := meta.Get(key); len(v) == 8 {
		n = int64(binary.BigEndian.Uint64(v))
	}
	n = max(n+int64(delta), 0)
	return meta.Put(key, binary.BigEndian.AppendUint64(nil, uint64(n)))
}

// Stats counts what the database holds.
func (db *DB) Stats(ctx context.Context) (Stats, error) {
	var s Stats
	err := db.view(ctx, func(tx *bolt.Tx) error {
		count := func(name []byte) int {
			if b := tx.Bucket(name); b != nil {
				return b.Stats().KeyN
			}
			return 0
		}
		// Items and clusters are counted as they change: walking those
		// buckets would cost milliseconds per call on a large database.
		if b := tx.Bucket(bucketFeedCounts); b != nil {
			b.ForEach(func(_, v []byte) error {
				if len(v) == 8 {
					s.Items += int(binary.BigEndian.Uint64(v))
				}
				return nil
			})
		}
		if meta := tx.Bucket(bucketMeta); meta != nil {
			if v := meta.Get(keyClusterCount); len(v) == 8 {
				s.Clusters = int(binary.BigEndian.Uint64(v))
			}
		}
		s.Feeds = count(bucketFeeds)
		s.Tombstones = count(bucketTombstones)
		s.Size = tx.Size()
		s.Pending = count(bucketPending)
		return nil
	})
	if err != nil {
		return Stats{}, fmt.Errorf("stats: %w", err)
	}
	return s, nil
}
