package pipeline

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"slices"
	"time"

	"aggregator"
	"aggregator/dedupe"
)

// The dedupe index is kept in memory; rebuilding it from the stored items
// costs some 10 µs per item (seconds at 100k items, tens at a million), so
// a copy is saved in the store (Store.SaveIndex: for bbolt a file beside
// the database) and the next process loads that instead. The copy records
// the store's ClusterStamp; when the store has moved on since, the
// cluster log (Store.ClusterLog) replays the decisions made after it, in
// the order they were made, which gives the index the process that made
// them had. A copy the log cannot bring up to date (another database, a
// deletion since, a trimmed log, a damaged copy, other dedupe options)
// falls back to the rebuild.
//
// Writing the copy costs about a second and 430 bytes per item at a
// million items, so it is rewritten only when it would save real work:
// after a rebuild, once the items to replay reach a quarter of the index
// (at least minSaveDelta), and when the daemon stops. The log is trimmed
// to the copy each time.

// minSaveDelta is the fewest items to replay worth rewriting the copy for.
const minSaveDelta = 4096

// indexMagic starts a saved index; the stamp follows, then the newest
// item time the index has clustered (Unix nanoseconds, 0 for none), then
// the merger's state (its epoch in Unix nanoseconds, 0 for none; the
// number of clusters touched, 4 bytes; each ID, 2 bytes of length and
// the ID), then a CRC-32C of all of these, then the snapshot (which
// checks itself).
// Without the checksum a flipped bit in the stamp would replay the wrong
// part of the cluster log onto the snapshot: an index silently unlike
// the deciding one. A copy of an older format is not read: the index is
// rebuilt once.
var indexMagic = []byte("aggregator-index\x004\n")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// resetIndexLocked forgets the in-memory index, so that the next
// clustering loads it again from the store. p.mu must be held.
func (p *Pipeline) resetIndexLocked() {
	p.ix, p.merger = dedupe.New(p.opts.Dedupe), merger{}
	p.loaded, p.rebuilt, p.delta = false, false, 0
	p.clustered = time.Time{}
	p.saved = aggregator.ClusterStamp{}
	p.seq = 0
}

// loadIndexLocked loads the saved dedupe index or rebuilds it from the
// stored items of the window, the first time something needs it: a pass
// where nothing is new never pays for it. When ctx ends meanwhile it
// returns ctx's error and leaves the index unloaded. p.mu must be held.
func (p *Pipeline) loadIndexLocked(ctx context.Context) error {
	if p.loaded {
		return nil
	}
	start := time.Now()
	latest, err := p.store.Latest(ctx)
	if err != nil {
		return fmt.Errorf("load dedupe index: %w", err)
	}
	p.latest = minTime(latest, p.opts.Now())
	loaded, err := p.loadSavedIndexLocked(ctx)
	if loaded {
		p.loaded = true
		p.log.Info("loaded the saved dedupe index", "items", p.ix.Len(), "replayed", p.delta, "took", time.Since(start).Round(time.Millisecond))
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err != nil {
		p.log.Warn("saved dedupe index not used; rebuilding it from the store", "err", err)
	}
	// The stamp is read before the items: a change made meanwhile makes
	// the first fenced batch fail, and the index is loaded again.
	stamp, err := p.store.ClusterStamp(ctx)
	if err != nil {
		return fmt.Errorf("load dedupe index: %w", err)
	}
	ix, mg, err := p.rebuild(ctx)
	if err != nil {
		return err
	}
	p.ix, p.merger, p.loaded, p.rebuilt, p.seq = ix, mg, true, true, stamp.Seq
	p.log.Info("rebuilt the dedupe index from the store", "items", ix.Len(), "took", time.Since(start).Round(time.Millisecond))
	// Saved at once, a rebuilt index is what the cluster log replays onto
	// after a crash, which gives the index this process will have; a
	// second rebuild would not quite (the index a process grows and the
	// one rebuilt from its decisions differ in their word statistics).
	if err := p.saveLocked(ctx); err != nil {
		p.log.Warn("saving the rebuilt dedupe index failed; a crash now means another rebuild", "err", err)
	}
	return nil
}

// rebuild makes an index from the stored items of the window. Chunks are
// restored in store order; the terms of the next chunk are extracted on
// every core while this one is restored and the one after it is read.
// The merger it returns has the newest epoch of the items and the
// clusters of that epoch's items touched (merge.go).
func (p *Pipeline) rebuild(ctx context.Context) (*dedupe.Index, merger, error) {
	ix := dedupe.New(p.opts.Dedupe)
	var (
		mg    merger
		items []aggregator.Item
		ms    []aggregator.Membership
		next  chan []dedupe.Prepared // the chunk being prepared, if any
		nextM []aggregator.Membership
	)
	restoreNext := func() {
		if next != nil {
			ix.RestoreBatch(<-next, nextM)
			next, nextM = nil, nil
		}
	}
	prepare := func() {
		chunk, ch := items, make(chan []dedupe.Prepared, 1)
		go func() { ch <- prepareAll(p.opts.Dedupe, chunk) }()
		restoreNext()
		next, nextM = ch, ms
		items, ms = nil, nil // the goroutine reads the old ones
	}
	now := p.opts.Now()
	err := p.store.Recent(ctx, p.horizon(), func(it aggregator.Item, m aggregator.Membership) error {
		items, ms = append(items, it), append(ms, m)
		p.clustered = maxTime(p.clustered, minTime(it.Time(), now))
		if e := epochOf(it.Time()); e.After(mg.epoch) {
			mg.epoch, mg.touched = e, mg.touched[:0]
		}
		if epochOf(it.Time()).Equal(mg.epoch) {
			mg.touched = append(mg.touched, m.Cluster)
		}
		if len(items) == clusterChunk {
			if err := ctx.Err(); err != nil {
				return err
			}
			prepare()
		}
		return nil
	})
	if err != nil {
		if next != nil {
			<-next // the goroutine ends; its chunk is dropped
		}
		if ctx.Err() != nil {
			return nil, merger{}, ctx.Err()
		}
		return nil, merger{}, fmt.Errorf("rebuild dedupe index: %w", err)
	}
	prepare()
	restoreNext()
	return ix, mg, nil
}

// loadSavedIndexLocked replaces p.ix with the saved index, brought up to
// date from the cluster log, when the store allows. It reports whether it
// did; errors only explain why not. p.mu must be held.
func (p *Pipeline) loadSavedIndexLocked(ctx context.Context) (bool, error) {
	stamp, err := p.store.ClusterStamp(ctx)
	if err != nil || stamp.Instance == ([16]byte{}) {
		return false, err
	}
	rc, err := p.store.OpenSavedIndex(ctx)
	if err != nil || rc == nil {
		return false, err
	}
	defer rc.Close()
	where := p.store.Where() + " (saved dedupe index)"
	if f, ok := rc.(interface{ Name() string }); ok {
		where = f.Name() // the file itself
	}
	r := bufio.NewReaderSize(rc, 1<<20)
	saved, clustered, mg, err := readStamp(r)
	if err != nil {
		return false, fmt.Errorf("%s: %w", where, err)
	}
	if saved != stamp {
		if ok, err := p.store.ClusterLogStart(ctx, saved); !ok || err != nil {
			return false, err // another database, or changes the log cannot replay
		}
	}
	ix, err := dedupe.ReadSnapshot(r, p.opts.Dedupe)
	if err != nil {
		return false, fmt.Errorf("%s: %w", where, err)
	}
	replayed, seq := 0, stamp.Seq
	err = p.store.ClusterLog(ctx, saved.Seq, func(rec aggregator.LogRecord) error {
		seq = max(seq, rec.Seq)
		if err := ctx.Err(); err != nil {
			return err
		}
		if !rec.ExpiredBefore.IsZero() {
			ix.Expire(rec.ExpiredBefore)
		}
		n, err := replayLogRecord(ix, &mg, rec, prepareAll(p.opts.Dedupe, rec.Items))
		if err != nil {
			return err
		}
		for _, it := range rec.Items {
			clustered = maxTime(clustered, minTime(it.Time(), p.opts.Now()))
		}
		replayed += n
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("replay the cluster log onto %s: %w", where, err)
	}
	p.ix, p.merger, p.saved, p.delta, p.clustered, p.seq = ix, mg, saved, replayed, clustered, seq
	if replayed > 0 {
		p.log.Debug("saved dedupe index brought up to date", "replayed", replayed, "items", ix.Len())
	}
	return true, nil
}

func readStamp(r io.Reader) (aggregator.ClusterStamp, time.Time, merger, error) {
	var (
		s  aggregator.ClusterStamp
		mg merger
	)
	fail := func(err error) (aggregator.ClusterStamp, time.Time, merger, error) {
		return s, time.Time{}, merger{}, err
	}
	head := make([]byte, len(indexMagic)+len(s.Instance)+8+8+8+4)
	if _, err := io.ReadFull(r, head); err != nil {
		return fail(fmt.Errorf("not a saved index: %w", err))
	}
	if !bytes.Equal(head[:len(indexMagic)], indexMagic) {
		return fail(errors.New("not a saved index of this version"))
	}
	sum := crc32.Update(0, castagnoli, head)
	b := head[len(indexMagic):]
	copy(s.Instance[:], b)
	b = b[len(s.Instance):]
	s.Seq = binary.BigEndian.Uint64(b)
	clustered, epoch := unixOrZero(b[8:]), unixOrZero(b[16:])
	n := binary.BigEndian.Uint32(b[24:])
	if n > 1<<24 {
		return fail(fmt.Errorf("damaged: %d clusters touched", n))
	}
	mg.epoch = epoch
	var l [2]byte
	for range n {
		if _, err := io.ReadFull(r, l[:]); err != nil {
			return fail(fmt.Errorf("damaged header: %w", err))
		}
		id := make([]byte, binary.BigEndian.Uint16(l[:]))
		if _, err := io.ReadFull(r, id); err != nil {
			return fail(fmt.Errorf("damaged header: %w", err))
		}
		sum = crc32.Update(crc32.Update(sum, castagnoli, l[:]), castagnoli, id)
		mg.touched = append(mg.touched, string(id))
	}
	var want [4]byte
	if _, err := io.ReadFull(r, want[:]); err != nil {
		return fail(fmt.Errorf("damaged header: %w", err))
	}
	if sum != binary.BigEndian.Uint32(want[:]) {
		return fail(errors.New("damaged: the header's checksum does not match"))
	}
	return s, clustered, mg, nil
}

// unixOrZero reads 8 bytes of Unix nanoseconds, 0 for the zero time.
func unixOrZero(b []byte) time.Time {
	if ns := int64(binary.BigEndian.Uint64(b)); ns != 0 {
		return time.Unix(0, ns).UTC()
	}
	return time.Time{}
}

// appendUnix appends t as readStamp reads it.
func appendUnix(b []byte, t time.Time) []byte {
	var ns int64
	if !t.IsZero() {
		ns = t.UnixNano()
	}
	return binary.BigEndian.AppendUint64(b, uint64(ns))
}

// SaveIndex saves the in-memory index in the store when this process
// loaded it and saving pays (see above; always, with final, when anything
// changed since the saved copy).
func (p *Pipeline) SaveIndex(ctx context.Context, final bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.loaded {
		return nil
	}
	if !final && !p.rebuilt && p.delta < max(minSaveDelta, p.ix.Len()/4) {
		return nil // the cluster log replays the difference
	}
	return p.saveLocked(ctx)
}

// saveLocked saves the index unless the saved copy is current. p.mu must
// be held.
func (p *Pipeline) saveLocked(ctx context.Context) error {
	stamp, err := p.store.ClusterStamp(ctx)
	if err != nil || stamp == p.saved || stamp.Instance == ([16]byte{}) {
		return err
	}
	if stamp.Seq != p.seq {
		// Someone else changed the clustering since this index was
		// loaded (another node of a fleet, a deletion): a copy saved
		// with the store's stamp would claim decisions it lacks.
		return fmt.Errorf("save dedupe index: %w", aggregator.ErrStaleIndex)
	}
	start := time.Now()
	err = p.store.SaveIndex(ctx, func(w io.Writer) error {
		b := append(append([]byte(nil), indexMagic...), stamp.Instance[:]...)
		b = binary.BigEndian.AppendUint64(b, stamp.Seq)
		b = appendUnix(appendUnix(b, p.clustered), p.merger.epoch)
		touched := slices.Compact(slices.Sorted(slices.Values(p.merger.touched)))
		b = binary.BigEndian.AppendUint32(b, uint32(len(touched)))
		for _, id := range touched {
			if len(id) > math.MaxUint16 {
				return fmt.Errorf("cluster ID of %d bytes", len(id))
			}
			b = append(binary.BigEndian.AppendUint16(b, uint16(len(id))), id...)
		}
		if _, err := w.Write(binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))); err != nil {
			return err
		}
		return p.ix.WriteSnapshot(w)
	})
	if err != nil {
		return err
	}
	p.saved, p.delta, p.rebuilt = stamp, 0, false
	p.m.saveTime.Observe(time.Since(start).Seconds())
	p.log.Debug("saved dedupe index", "store", p.store.Where(), "items", p.ix.Len(), "took", time.Since(start))
	if err := p.store.TrimClusterLog(ctx, stamp.Seq); err != nil {
		p.log.Warn("the cluster log keeps what the saved index no longer needs", "err", err)
	}
	return nil
}
