package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"aggregator/dedupe"
	"aggregator/storage"
)

// The dedupe index is kept in memory; rebuilding it from the stored items
// costs some 10 µs per item (seconds at 100k items, tens at a million), so
// a process that built or changed it saves a copy beside the database
// (DB.index) when it ends, and the next one loads that instead when it is
// still exact: when the database's ClusterStamp is the one saved with it.
// Anything else (no file, another database, decisions made since, a
// damaged file, other dedupe options) falls back to the rebuild.

// indexMagic starts an index file; the stamp follows, then the snapshot.
var indexMagic = []byte("aggregator-index\x001\n")

func indexPath(db *storage.DB) string { return db.Path() + ".index" }

// loadSavedIndexLocked replaces p.ix with the saved index when it matches
// the database. It reports whether it did; errors only explain why not.
// p.mu must be held.
func (p *pipeline) loadSavedIndexLocked() (bool, error) {
	stamp, err := p.db.ClusterStamp()
	if err != nil || stamp.Instance == ([16]byte{}) {
		return false, err
	}
	f, err := os.Open(indexPath(p.db))
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	saved, err := readStamp(r)
	if err != nil {
		return false, fmt.Errorf("%s: %w", f.Name(), err)
	}
	if saved != stamp {
		return false, nil
	}
	ix, err := dedupe.ReadSnapshot(r, p.opts)
	if err != nil {
		return false, fmt.Errorf("%s: %w", f.Name(), err)
	}
	p.ix = ix
	p.saved = stamp
	return true, nil
}

func readStamp(r io.Reader) (storage.ClusterStamp, error) {
	var s storage.ClusterStamp
	head := make([]byte, len(indexMagic)+len(s.Instance)+8)
	if _, err := io.ReadFull(r, head); err != nil {
		return s, fmt.Errorf("not a saved index: %w", err)
	}
	if !bytes.Equal(head[:len(indexMagic)], indexMagic) {
		return s, errors.New("not a saved index of this version")
	}
	head = head[len(indexMagic):]
	copy(s.Instance[:], head)
	s.Seq = binary.BigEndian.Uint64(head[len(s.Instance):])
	return s, nil
}

// saveIndex writes the in-memory index beside the database when this
// process loaded it and the clustering changed since it was saved. The
// file is replaced atomically: a crash leaves the old copy or the new one.
func (p *pipeline) saveIndex() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.loaded {
		return nil
	}
	stamp, err := p.db.ClusterStamp()
	if err != nil || stamp == p.saved || stamp.Instance == ([16]byte{}) {
		return err
	}
	start := time.Now()
	path := indexPath(p.db)
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("save dedupe index: %w", err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename, a no-op
	w := bufio.NewWriterSize(tmp, 1<<20)
	w.Write(indexMagic)
	w.Write(stamp.Instance[:])
	w.Write(binary.BigEndian.AppendUint64(nil, stamp.Seq))
	err = p.ix.WriteSnapshot(w)
	if err == nil {
		err = w.Flush()
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
		return fmt.Errorf("save dedupe index to %s: %w", path, err)
	}
	p.saved = stamp
	p.log.Debug("saved dedupe index", "path", path, "items", p.ix.Len(), "took", time.Since(start))
	return nil
}
