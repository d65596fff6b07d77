package storage

import (
	"syscall"

	bolt "go.etcd.io/bbolt"
)

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
