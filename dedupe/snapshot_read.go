package dedupe

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"sync"
	"time"
)

// ReadSnapshot loads an index written by [Index.WriteSnapshot] for an
// index with opts (defaults filled in, as for [New]). The index it
// returns decides every later call exactly as the index written would
// have. It reads r in pieces of up to 1 MiB (r need not be buffered),
// so it may read past the end of the snapshot; what follows is ignored.
//
// It returns ErrSnapshotVersion for a snapshot of another format version
// or of a package version that extracts terms differently,
// ErrSnapshotOptions for one made with other options, ErrSnapshotCorrupt
// for data that is not a whole, intact snapshot (checksums cover all of
// it; nothing read is trusted before they match), and read errors of r
// wrapped. On any error the caller rebuilds the index from storage.
//
// The loaded index keeps item IDs and term lists in shared blocks of some
// 64 KiB, so a block stays in memory until all the items and clusters
// read into it have expired or changed.
func ReadSnapshot(r io.Reader, opts Options) (*Index, error) {
	sr := &snapReader{r: r, buf: make([]byte, snapBuf)}
	ix, err := sr.read(opts.withDefaults())
	if err != nil {
		return nil, err
	}
	return ix, nil
}

func (sr *snapReader) read(opts Options) (*Index, error) {
	le := binary.LittleEndian
	b, err := sr.next(len(snapshotMagic) + 4)
	if err != nil {
		return nil, err
	}
	if string(b[:len(snapshotMagic)]) != snapshotMagic {
		return nil, corrupt("not a snapshot")
	}
	if v := le.Uint32(b[len(snapshotMagic):]); v != snapshotVersion {
		return nil, fmt.Errorf("%w: format version %d, want %d", ErrSnapshotVersion, v, snapshotVersion)
	}
	var cnt snapshotCounts
	fields := cnt.fields()
	b, err = sr.next(optionFields*8 + 8 + len(fields)*8)
	if err != nil {
		return nil, err
	}
	want := sr.crc
	b2, err := sr.next(4)
	if err != nil {
		return nil, err
	}
	if le.Uint32(b2) != want {
		return nil, corrupt("header checksum mismatch")
	}
	if o := b[:optionFields*8]; !bytes.Equal(o, appendOptions(nil, opts)) {
		return nil, fmt.Errorf("%w: snapshot has %+v, want %+v", ErrSnapshotOptions, decodeOptions(o), opts)
	}
	if fp := le.Uint64(b[optionFields*8:]); fp != fingerprint(&opts) {
		return nil, fmt.Errorf("%w: term extraction differs", ErrSnapshotVersion)
	}
	for i, p := range fields {
		*p = int64(le.Uint64(b[optionFields*8+8+8*i:]))
		if *p < 0 || *p > 1<<40 {
			return nil, corrupt("count %d out of range", *p)
		}
	}
	for _, n := range []int64{cnt.items, cnt.clusters, cnt.tents} {
		if n > math.MaxInt32 {
			return nil, corrupt("count %d out of range", n)
		}
	}
	sr.crc = 0

	ix := &Index{opts: opts, live: int(cnt.live), total: int(cnt.total)}
	// At start-up most of the cost of loading is that of the operating
	// system handing the process fresh memory page by page, and of
	// filling the maps (a cache miss per entry): other goroutines allocate
	// the tables and fill the maps while this one decodes, as soon as
	// their part is read. None of them can fail: what they read is
	// checked first. All are waited for before returning.
	var wg sync.WaitGroup
	defer wg.Wait()
	var tables sync.WaitGroup
	tables.Go(func() {
		// Touch a field of every page: a scalar field, which needs no
		// write barrier.
		ix.clusters = make([]clusterRec, cnt.clusters)
		for i := 0; i < len(ix.clusters); i += pageSize / 96 {
			ix.clusters[i].norm = 0
		}
		ix.acc = touched(make([]float32, cnt.clusters), 4)
		ix.tents = make([]termEntry, cnt.tents)
		for i := 0; i < len(ix.tents); i += pageSize / 32 {
			ix.tents[i].df = 0
		}
		ix.byID = make(map[uint64]int32, cnt.live)
		ix.exact = make(map[uint64]int32, cnt.exact)
		ix.terms = make(map[uint64]int32, cnt.tents-cnt.tfree)
		ix.byCID = make(map[string]int32, cnt.liveClusters)
	})
	defer tables.Wait()
	ix.items = make([]itemRec, cnt.items)
	exact, err := sr.readItems(ix, &cnt)
	if err != nil {
		return nil, err
	}
	tables.Wait()
	wg.Go(func() {
		for s := range ix.items {
			it := &ix.items[s]
			if !it.alive {
				continue
			}
			ix.byID[hashTerm(it.id())] = int32(s)
			for k, key := range it.keys {
				if exact[s]&(itemExact0<<k) != 0 {
					ix.exact[key] = int32(s)
				}
			}
		}
	})
	if err := sr.readClusters(ix, &cnt); err != nil {
		return nil, err
	}
	if err := sr.readTerms(ix, &cnt, &wg); err != nil {
		return nil, err
	}
	if err := sr.readTemplates(ix); err != nil {
		return nil, err
	}
	want = sr.crc
	if b, err = sr.next(4); err != nil {
		return nil, err
	}
	if le.Uint32(b) != want {
		return nil, corrupt("checksum mismatch")
	}
	wg.Wait()
	if len(ix.byID) != ix.live || len(ix.byCID) != int(cnt.liveClusters) || len(ix.exact) != int(cnt.exact) ||
		len(ix.terms) != int(cnt.tents-cnt.tfree) {
		return nil, corrupt("tables disagree with the header")
	}
	return ix, nil
}

// readItems reads the item records, IDs, terms and free slots. It
// returns each slot's item flags.
func (sr *snapReader) readItems(ix *Index, cnt *snapshotCounts) ([]byte, error) {
	le := binary.LittleEndian
	flags := make([]byte, len(ix.items))
	lens := make([]int32, len(ix.items))
	nterms := make([]int32, len(ix.items))
	left, idLeft := cnt.itemTerms, cnt.idBytes
	live := 0
	err := sr.records(len(ix.items), itemRecSize, func(s int, b []byte) error {
		it := &ix.items[s]
		fl := b[0]
		flags[s] = fl
		it.alive = fl&itemAlive != 0
		it.cluster = int32(le.Uint32(b[1:]))
		if it.cluster < 0 || int64(it.cluster) >= cnt.clusters {
			return corrupt("item slot %d: cluster %d out of range", s, it.cluster)
		}
		for k := range it.keys {
			it.keys[k] = le.Uint64(b[13+8*k:])
		}
		it.rk = repKey{summary: int32(le.Uint32(b[37:])), title: int32(le.Uint32(b[41:])), t: int64(le.Uint64(b[5:]))}
		n, err := budget(&left, le.Uint32(b[45:]), "item terms")
		if err != nil {
			return err
		}
		nterms[s] = int32(n)
		if n, err = budget(&idLeft, le.Uint32(b[49:]), "ID bytes"); err != nil {
			return err
		}
		lens[s] = int32(n)
		if it.alive {
			live++
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if left != 0 || idLeft != 0 || live != ix.live {
		return nil, corrupt("item records disagree with the header")
	}
	err = sr.strings(lens, func(s int, id string) {
		it := &ix.items[s]
		it.rk.id = id
	})
	if err != nil {
		return nil, err
	}
	refs := newBlocks[termRef](refSize)
	defer refs.stop()
	for s := range ix.items {
		it := &ix.items[s]
		switch n := int(nterms[s]); {
		case n > 0:
			it.terms = refs.take(n)
		case it.alive:
			it.terms = []termRef{}
		}
		if err := sr.refs(it.terms, cnt.tents); err != nil {
			return nil, err
		}
	}
	ix.free = make([]int32, cnt.free)
	return flags, sr.slots(ix.free, cnt.items)
}

// readClusters reads the cluster records, IDs, members, centroids and
// free slots, and fills byCID.
func (sr *snapReader) readClusters(ix *Index, cnt *snapshotCounts) error {
	le := binary.LittleEndian
	lens := make([]int32, len(ix.clusters))
	nmem := make([]int32, len(ix.clusters))
	ncent := make([]int32, len(ix.clusters)) // -1: nil
	founder := make([]bool, len(ix.clusters))
	left, centLeft, idLeft := cnt.members, cnt.centTerms, cnt.cidBytes
	err := sr.records(len(ix.clusters), clusterRecSize, func(c int, b []byte) error {
		cl := &ix.clusters[c]
		fl := b[0]
		cl.lang = b[1]
		if cl.lang >= uint8(len(langNames)) {
			return corrupt("cluster slot %d: language %d", c, cl.lang)
		}
		b = b[1:]
		cl.alive = fl&clusterAlive != 0
		cl.rep = int32(le.Uint32(b[1:]))
		if cl.alive && (cl.rep < 0 || int64(cl.rep) >= cnt.items) {
			return corrupt("cluster slot %d: representative %d out of range", c, cl.rep)
		}
		cl.minT = int64(le.Uint64(b[5:]))
		cl.maxT = int64(le.Uint64(b[13:]))
		cl.norm = math.Float64frombits(le.Uint64(b[21:]))
		n, err := budget(&left, le.Uint32(b[29:]), "members")
		if err != nil {
			return err
		}
		nmem[c] = int32(n)
		if n, err = budget(&centLeft, le.Uint32(b[33:]), "centroid terms"); err != nil {
			return err
		}
		ncent[c] = int32(n)
		if fl&clusterCent == 0 {
			if n > 0 {
				return corrupt("cluster slot %d: centroid without flag", c)
			}
			ncent[c] = -1
		}
		if n, err = budget(&idLeft, le.Uint32(b[37:]), "cluster ID bytes"); err != nil {
			return err
		}
		lens[c] = int32(n)
		if fl&clusterFounder != 0 {
			if n != 0 || nmem[c] == 0 {
				return corrupt("cluster slot %d: founder's ID without founder", c)
			}
			founder[c] = true
			lens[c] = -1
		}
		return nil
	})
	if err != nil {
		return err
	}
	if left != 0 || centLeft != 0 || idLeft != 0 {
		return corrupt("cluster records disagree with the header")
	}
	if err := sr.strings(lens, func(c int, id string) { ix.clusters[c].id = id }); err != nil {
		return err
	}
	mem := newBlocks[int32](4)
	defer mem.stop()
	for c := range ix.clusters {
		if n := int(nmem[c]); n > 0 {
			ix.clusters[c].members = mem.take(n)
		}
		if err := sr.slots(ix.clusters[c].members, cnt.items); err != nil {
			return err
		}
	}
	cents := newBlocks[tw](twSize)
	defer cents.stop()
	for c := range ix.clusters {
		cl := &ix.clusters[c]
		switch n := int(ncent[c]); {
		case n > 0:
			cl.cent = cents.take(n)
		case n == 0:
			cl.cent = []tw{}
		}
		if err := sr.terms(cl.cent); err != nil {
			return err
		}
	}
	for c := range ix.clusters {
		cl := &ix.clusters[c]
		if founder[c] {
			cl.id = ix.items[cl.members[0]].id()
		}
		if cl.alive {
			ix.byCID[cl.id] = int32(c)
		}
	}
	ix.cfree = make([]int32, cnt.cfree)
	return sr.slots(ix.cfree, cnt.clusters)
}

// readTerms reads the free term entries, the term records and the
// postings, and fills the terms map on a goroutine of wg.
func (sr *snapReader) readTerms(ix *Index, cnt *snapshotCounts, wg *sync.WaitGroup) error {
	le := binary.LittleEndian
	ix.tfree = make([]int32, cnt.tfree)
	if err := sr.slots(ix.tfree, cnt.tents); err != nil {
		return err
	}
	hs := make([]uint64, len(ix.tents))
	npost := make([]int32, len(ix.tents))
	left := cnt.posts
	err := sr.records(len(ix.tents), termRecSize, func(e int, b []byte) error {
		te := &ix.tents[e]
		te.h = le.Uint64(b)
		hs[e] = te.h
		te.df = int32(le.Uint32(b[8:]))
		te.seen = int32(le.Uint32(b[12:]))
		n, err := budget(&left, le.Uint32(b[16:]), "postings")
		npost[e] = int32(n)
		return err
	})
	if err != nil {
		return err
	}
	if left != 0 {
		return corrupt("term records disagree with the header")
	}
	wg.Go(func() {
		free := make([]bool, len(hs))
		for _, e := range ix.tfree {
			free[e] = true
		}
		for e, h := range hs {
			if !free[e] {
				ix.terms[h] = int32(e)
			}
		}
	})
	posts := newBlocks[posting](postingSize)
	defer posts.stop()
	for e := range ix.tents {
		n := int(npost[e])
		if n == 0 {
			continue
		}
		post := posts.take(n)
		ix.tents[e].post = post
		for len(post) > 0 {
			n := min(len(post), snapBuf/postingSize)
			b, err := sr.next(n * postingSize)
			if err != nil {
				return err
			}
			for i := range post[:n] {
				p := posting{c: int32(le.Uint32(b[i*8:])), m: int32(le.Uint32(b[i*8+4:]))}
				if p.c < 0 || int64(p.c) >= cnt.clusters {
					return corrupt("posting of cluster %d out of range", p.c)
				}
				post[i] = p
			}
			post = post[n:]
		}
	}
	return nil
}

// readTemplates reads the template tables.
func (sr *snapReader) readTemplates(ix *Index) error {
	le := binary.LittleEndian
	b, err := sr.next(1)
	if err != nil {
		return err
	}
	switch b[0] {
	case 0:
		return nil
	case 1:
	default:
		return corrupt("template tables flag %d", b[0])
	}
	t := &ix.tmpl
	t.cells = make([]uint32, 1<<tmplCellBits)
	for lo := 0; lo < len(t.cells); {
		n := min(len(t.cells)-lo, snapBuf/4)
		if b, err = sr.next(4 * n); err != nil {
			return err
		}
		for i := range n {
			t.cells[lo+i] = le.Uint32(b[4*i:])
		}
		lo += n
	}
	return nil
}

// decodeOptions is the inverse of appendOptions, for error messages
// (a Model is not recovered: nil).
func decodeOptions(b []byte) Options {
	u := func(i int) uint64 { return binary.LittleEndian.Uint64(b[8*i:]) }
	f := func(i int) float64 { return math.Float64frombits(u(i)) }
	n := func(i int) int { return int(int64(u(i))) }
	return Options{
		Window: time.Duration(u(0)), Threshold: f(1), SummaryFactor: f(2), Decay: f(3),
		MinShared: n(4), TitleMinTerms: n(5), NameBoost: f(6), SummaryWeight: f(7), SummaryTerms: n(8),
		ProbeTerms: n(9), PostingScan: n(10), PostTerms: n(11), Candidates: n(12), CentroidTerms: n(13),
		TemplateDays: n(14), TemplateWeight: f(15), MinSpecific: n(16), Decision: Decision(n(17)),
	}
}
