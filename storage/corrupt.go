package storage

import (
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"syscall"

	bolt "go.etcd.io/bbolt"
)

// ErrCorrupt is returned (wrapped in a *CorruptError) when the database
// file is damaged: a value that does not decode, a page bbolt cannot
// read (its panics and the memory faults of a page beyond the end of a
// truncated file are recovered at the edge of this package), a file
// shorter than its own pages, or meta pages that fail their checksums.
var ErrCorrupt = errors.New("database is damaged")

// errCorrupt is what the decoders return for a value that does not
// decode.
var errCorrupt = fmt.Errorf("%w: corrupt value", ErrCorrupt)

// CorruptError names a damaged database file and what to do about it.
// It unwraps to an error wrapping ErrCorrupt.
type CorruptError struct {
	Path string
	Err  error
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("%s: %v: restore the file from a backup, or move it aside (and %s.index with it) and fetch again to start afresh; "+
		"\"go run go.etcd.io/bbolt/cmd/bbolt@latest check %s\" lists what bbolt finds wrong", e.Path, e.Err, e.Path, e.Path)
}

func (e *CorruptError) Unwrap() error { return e.Err }

// Why no bbolt consistency check (tx.Check) runs by itself: a crash or a
// kill cannot damage the file (bbolt writes pages copy-on-write and
// switches to them by a checksummed meta page after fsync), so a check
// after an unclean stop would find only what the disk or another program
// did, at the cost of reading the whole file (seconds at a million
// items) on every start of a cron job. And tx.Check reads pages on a
// goroutine of its own, where a damaged page reference outside the file
// is a memory fault that no recover catches: on a damaged file it can
// crash the process this package otherwise keeps up. What runs instead
// is cheap: bbolt's meta checksums at Open, the file's size against its
// high-water mark (a truncated file) at Open, and the recovery of every
// panic and fault at the edge, which turns damage met on the way into a
// *CorruptError. The message names bbolt's own check for a full report.

// guard runs f, turning bbolt's panics on damaged pages and memory faults
// (a page beyond the end of a truncated file) into a *CorruptError, and
// wraps the ErrCorrupt errors of the decoders in one.
func (db *DB) guard(f func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = &CorruptError{Path: db.path, Err: fmt.Errorf("%w (bbolt: %v)", ErrCorrupt, r)}
		}
	}()
	err = f()
	if errors.Is(err, syscall.EFBIG) {
		// bbolt wrote a page at an offset past the largest file the
		// file system takes: a page number read from the file (in its
		// freelist, or a page reference) is damaged.
		err = fmt.Errorf("%w: a page number in the file is out of range (%v)", ErrCorrupt, err)
	}
	return corruptAt(db.path, err)
}

// corruptAt wraps err in a *CorruptError naming path when it reports
// damage and is not one already.
func corruptAt(path string, err error) error {
	var ce *CorruptError
	if err == nil || !errors.Is(err, ErrCorrupt) || errors.As(err, &ce) {
		return err
	}
	return &CorruptError{Path: path, Err: err}
}

// checkSize reports a file shorter than the pages its meta page counts:
// truncated, so that reading its last pages would fault.
func checkSize(path string, tx *bolt.Tx) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if fi.Size() < tx.Size() {
		return fmt.Errorf("%w: the file is truncated (%d bytes, its pages reach %d)", ErrCorrupt, fi.Size(), tx.Size())
	}
	return nil
}
