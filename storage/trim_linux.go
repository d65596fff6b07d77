package storage

import (
	"sync"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
)

// trimEvery is how often the trimmer drops what was mapped since it last
// ran, if any transaction ran meanwhile or is still running. A write
// trims when it ends, but the reads between two writes and a long write
// itself map pages too: at a million items, the pages one batch of
// clustering read and wrote (its pending items, the ID index, stories of
// thousands of members) came to some 200 MB before it committed. A
// transaction still open counts as well as one begun since the last
// trim, or a write transaction of several seconds keeps every page it
// went through until it commits. And it is short because the kernel maps
// the file's cached pages around each page faulted in (fault-around, 64
// KiB by default), so random reads of a large file map many times what
// they read: a quarter of a second of such reads came to hundreds of MB.
// README ("A million items: the mapped file while a write is open") has
// the measurements.
const trimEvery = 50 * time.Millisecond

// startTrimmer starts the goroutine that trims every trimEvery; the
// returned function stops it and waits for it (Close calls it, once or
// more).
func (db *DB) startTrimmer() (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(trimEvery)
		defer t.Stop()
		var last uint64
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			if n := db.txs.Load(); n != last || db.open.Load() > 0 {
				last = n
				db.trimMapped()
			}
		}
	})
	// Close may be called more than once.
	return sync.OnceFunc(func() {
		close(done)
		wg.Wait()
	})
}

// trimMapped drops the process's mappings of the file's pages
// (madvise(MADV_DONTNEED) on bbolt's read-only mapping), so that the
// pages a write or a long read went through stop counting in the
// process's resident memory; the kernel's page cache keeps them, and the
// next access maps them again with a minor fault. Why this is safe:
//
//   - bbolt maps the file read-only and shared (PROT_READ, MAP_SHARED)
//     and writes with pwrite, never through the mapping: the mapping has
//     no private or dirty pages, so dropping it loses nothing, and a page
//     mapped again has what the file (the page cache) has, which is what
//     it had, for every page a transaction can still reach (a writer only
//     writes pages no open transaction reaches).
//   - The range is the one bbolt mapped: the read transaction held
//     meanwhile holds bbolt's mmap lock shared, so bbolt cannot unmap or
//     move the mapping (a remap takes that lock exclusively), and
//     Info().Data is read under it; the length is the transaction's
//     Size, which a committed meta keeps within the mapping.
//   - Readers and writers beside it that hold slices into the mapping
//     just fault the pages in again.
//
// It costs a page-table walk of the range and, later, a minor fault per
// page used again; a failure changes nothing and is ignored.
func (db *DB) trimMapped() {
	if db.bolt == nil {
		return
	}
	_ = db.guard(func() error {
		return db.bolt.View(func(tx *bolt.Tx) error {
			n := uintptr(tx.Size())
			if n == 0 {
				return nil
			}
			_, _, errno := syscall.Syscall(syscall.SYS_MADVISE, db.bolt.Info().Data, n, syscall.MADV_DONTNEED)
			if errno != 0 {
				return errno
			}
			return nil
		})
	})
}
