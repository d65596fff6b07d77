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
// it is saved beside the database (DB.index) and the next process loads
// that instead. The file records the database's ClusterStamp; when the
// database has moved on since, the cluster log (storage.DB.ClusterLog)
// replays the decisions made after it, in the order they were made, which
// gives the index the process that made them had. A copy the log cannot
// bring up to date (another database, a deletion since, a trimmed log, a
// damaged file, other dedupe options) falls back to the rebuild.
//
// Writing the file costs about a second and 430 bytes per item at a
// million items, so it is rewritten only when it would save real work:
// after a rebuild, once the items to replay reach a quarter of the index
// (at least minSaveDelta), and when serve stops. The log is trimmed to
// the file each time.

// minSaveDelta is the fewest items to replay worth rewriting the file for.
const minSaveDelta = 4096

// indexMagic starts an index file; the stamp follows, then the snapshot.
var indexMagic = []byte("aggregator-index\x001\n")

func indexPath(db *storage.DB) string { return db.Path() + ".index" }

// loadSavedIndexLocked replaces p.ix with the saved index, brought up to
// date from the cluster log, when the database allows. It reports whether
// it did; errors only explain why not. p.mu must be held.
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
		if ok, err := p.db.ClusterLogStart(saved); !ok || err != nil {
			return false, err // another file, or changes the log cannot replay
		}
	}
	ix, err := dedupe.ReadSnapshot(r, p.opts)
	if err != nil {
		return false, fmt.Errorf("%s: %w", f.Name(), err)
	}
	replayed := 0
	err = p.db.ClusterLog(saved.Seq, func(rec storage.LogRecord) error {
		if !rec.ExpiredBefore.IsZero() {
			ix.Expire(rec.ExpiredBefore)
		}
		for i, pr := range prepareAll(p.opts, rec.Items) {
			ix.RestorePrepared(pr, rec.Memberships[i])
		}
		replayed += len(rec.Items)
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("replay the cluster log onto %s: %w", f.Name(), err)
	}
	p.ix, p.saved, p.delta = ix, saved, replayed
	if replayed > 0 {
		p.log.Debug("saved dedupe index brought up to date", "replayed", replayed, "items", ix.Len())
	}
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
// process loaded it and saving pays (see above; always, with final, when
// anything changed). The file is replaced atomically: a crash leaves the
// old copy or the new one.
func (p *pipeline) saveIndex(final bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.loaded {
		return nil
	}
	stamp, err := p.db.ClusterStamp()
	if err != nil || stamp == p.saved || stamp.Instance == ([16]byte{}) {
		return err
	}
	if !final && !p.rebuilt && p.delta < max(minSaveDelta, p.ix.Len()/4) {
		return nil // the cluster log replays the difference
	}
	start := time.Now()
	path := indexPath(p.db)
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("save dedupe index: %w", err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename, a no-op
	w := bufio.NewWriterSize(tmp, 1<<20)
	// bufio.Writer keeps its first error and Flush returns it.
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
	p.saved, p.delta, p.rebuilt = stamp, 0, false
	p.log.Debug("saved dedupe index", "path", path, "items", p.ix.Len(), "took", time.Since(start))
	if err := p.db.TrimClusterLog(stamp.Seq); err != nil {
		p.log.Warn("the cluster log keeps what the saved index no longer needs", "err", err)
	}
	return nil
}
