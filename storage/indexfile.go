package storage

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// The saved copy of the dedupe index lives beside the database, in
// DB.Path() + ".index", not in it: it is rewritten whole (hundreds of
// megabytes at a million items), which in bbolt would double the file
// and hold the writer for seconds. Deleting it is always safe; the
// pipeline then rebuilds the index from the stored items.

// IndexPath is where the saved dedupe index of this database is kept.
func (db *DB) IndexPath() string { return db.path + ".index" }

// OpenSavedIndex opens the saved index file; (nil, nil) when there is
// none.
func (db *DB) OpenSavedIndex(ctx context.Context) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f, err := os.Open(db.IndexPath())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return f, nil
}

// SaveIndex replaces the saved index file with what write writes: into a
// temporary file beside it, synced, then renamed over it, so a crash
// leaves the old copy or the new one.
func (db *DB) SaveIndex(ctx context.Context, write func(io.Writer) error) error {
	if db.readOnly {
		return fmt.Errorf("save dedupe index: %s is open read-only", db.path)
	}
	path := db.IndexPath()
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("save dedupe index: %w", err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename, a no-op
	w := bufio.NewWriterSize(tmp, 1<<20)
	err = write(w)
	if err == nil {
		err = w.Flush()
	}
	if err == nil {
		err = ctx.Err()
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		if ctx.Err() == nil {
			db.writeFailed.Store(&writeFailure{at: time.Now(), err: err})
		}
		return fmt.Errorf("save dedupe index to %s: %w", path, err)
	}
	return nil
}

// removeStaleIndexTemps removes the temporary files of index saves a
// killed process left (each as large as the index). Only a writer calls
// it, which holds the database's lock, so no save is under way.
func removeStaleIndexTemps(path string) {
	dir, base := filepath.Split(path)
	entries, _ := os.ReadDir(filepath.Clean(dir))
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), base+".tmp") {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

// Where names the database for messages: its file.
func (db *DB) Where() string { return db.path }
