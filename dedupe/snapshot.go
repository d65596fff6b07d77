package dedupe

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"time"

	"aggregator"
)

// Errors returned by [ReadSnapshot]. On any of them the caller rebuilds
// the index from storage ([Index.RestoreBatch]) instead.
var (
	// ErrSnapshotCorrupt: the data is not a snapshot, or is truncated or
	// damaged (a checksum does not match).
	ErrSnapshotCorrupt = errors.New("dedupe: snapshot corrupt")
	// ErrSnapshotVersion: the snapshot was written in another format
	// version, or by a version of this package that extracts terms
	// differently.
	ErrSnapshotVersion = errors.New("dedupe: snapshot from another version")
	// ErrSnapshotOptions: the snapshot was written by an index with other
	// Options (defaults filled in) than those asked for.
	ErrSnapshotOptions = errors.New("dedupe: snapshot made with other options")
)

// The snapshot format, version 3. All numbers are little-endian.
//
//	header   magic "dedupeix", version u32, then (covered by the header
//	         checksum) the 19 Options fields as u64 (durations and ints as
//	         int64, floats as IEEE bits, the Model as a hash of its
//	         numbers, 0 for nil), the extraction fingerprint u64,
//	         the 16 counts of snapshotCounts as u64, then CRC-32C u32 of
//	         everything before it
//	payload  item records (itemRecSize bytes each), item ID bytes, item
//	         terms (refSize each: the term entry u32, weight and IDF as
//	         f32), free item slots (i32), cluster records
//	         (clusterRecSize each, a language byte after the flags), cluster ID bytes, members (i32),
//	         centroid terms (twSize each: hash u64, weight and IDF f32),
//	         free cluster slots (i32), free
//	         term entries (i32), term records (termRecSize each),
//	         postings (2×i32), then the template table: a byte (1 when
//	         present), then its cells (u32 each)
//	trailer  CRC-32C u32 of the payload
//
// Slots are kept as they are, free ones included: cluster slots break
// ties between candidates, and the free lists decide which slots later
// items and clusters take. Version 3 stores item terms by entry (as the
// index holds them) where version 2 stored their hashes.
const (
	snapshotMagic   = "dedupeix"
	snapshotVersion = 3

	itemRecSize    = 1 + 4 + 8 + 3*8 + 4*4
	clusterRecSize = 1 + 1 + 4 + 3*8 + 3*4
	termRecSize    = 8 + 3*4
	twSize         = 16
	refSize        = 12
	postingSize    = 8
	optionFields   = 19
)

// Item record flags.
const (
	itemAlive  = 1 << iota
	itemExact0 // keys[0] is the exact-map entry of this slot; keys[1], keys[2] follow
)

// Cluster record flags.
const (
	clusterAlive   = 1 << iota
	clusterCent    // cent is not nil
	clusterFounder // the ID is the ID of the item in members[0]
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// snapshotCounts sizes the sections of a snapshot, so that a reader can
// allocate once and bound what it reads.
type snapshotCounts struct {
	items, free, live, total  int64
	clusters, cfree           int64
	tents, tfree              int64
	itemTerms, idBytes        int64
	members, centTerms, posts int64
	cidBytes                  int64
	exact, liveClusters       int64 // entries of Index.exact, clusters alive
}

func (c *snapshotCounts) fields() []*int64 {
	return []*int64{&c.items, &c.free, &c.live, &c.total, &c.clusters, &c.cfree, &c.tents, &c.tfree,
		&c.itemTerms, &c.idBytes, &c.members, &c.centTerms, &c.posts, &c.cidBytes, &c.exact, &c.liveClusters}
}

// appendOptions encodes o (defaults filled in) for the header. Adding a
// field to Options needs a new format version (TestSnapshotOptionFields).
func appendOptions(b []byte, o Options) []byte {
	for _, v := range [optionFields]uint64{
		uint64(o.Window), math.Float64bits(o.Threshold), math.Float64bits(o.SummaryFactor),
		math.Float64bits(o.Decay), uint64(o.MinShared), uint64(o.TitleMinTerms),
		math.Float64bits(o.NameBoost), math.Float64bits(o.SummaryWeight), uint64(o.SummaryTerms),
		uint64(o.ProbeTerms), uint64(o.PostingScan), uint64(o.PostTerms), uint64(o.Candidates),
		uint64(o.CentroidTerms), uint64(o.TemplateDays), math.Float64bits(o.TemplateWeight),
		uint64(o.MinSpecific), uint64(o.Decision), modelHash(o.Model),
	} {
		b = binary.LittleEndian.AppendUint64(b, v)
	}
	return b
}

// modelHash hashes the numbers of a model (0 for nil, the shipped one):
// two indexes with equal hashes decide alike.
func modelHash(m *Model) uint64 {
	if m == nil {
		return 0
	}
	h := uint64(14695981039346656037)
	vals := append(m.Weights[:len(m.Weights):len(m.Weights)], m.Bias, m.MinP)
	for _, v := range vals {
		h = mix64(h ^ math.Float64bits(v))
	}
	return h | 1
}

// fingerprint hashes the features this version of the package extracts
// from a few fixed items under o: a snapshot holds extracted terms and
// keys, which later items must match, so a change to normalisation,
// stemming or hashing makes old snapshots unusable even when the format
// is the same.
func fingerprint(o *Options) uint64 {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	canaries := []aggregator.Item{
		{ID: "a", Feed: "Example News", GUID: "urn:uuid:0b9f2c1e-canary", CanonicalURL: "https://example.com/a",
			Title:     "UPDATE 2: Café owners in São Paulo protest new tax rules - Reuters",
			Summary:   "<p>Owners of 1,200 cafés &amp; bakeries marched on Tuesday, saying the rules would close shops. The city said talks continue. Owners said...</p>",
			Published: at},
		{ID: "b", Feed: "Новости", Title: "Правительство утвердило новый бюджет на 2027 год", Summary: "Депутаты приняли йод и ещё", FirstSeen: at},
		{ID: "c", Feed: "新闻", Title: "东京股市周二大幅上涨 日本央行维持利率不变", Summary: "日経平均株価は上昇した。한국 증시도 올랐다.", Published: at},
		{ID: "d", Feed: "Wire", Title: "Live updates", Summary: "running, runs, ran; studies studied studying …"},
	}
	h := uint64(14695981039346656037)
	mix := func(v uint64) {
		for range 8 {
			h ^= v & 0xff
			h *= 1099511628211
			v >>= 8
		}
	}
	for _, it := range canaries {
		f := extract(o, it, nil)
		for _, x := range f.terms {
			mix(x.h)
			mix(uint64(math.Float32bits(x.w)))
		}
		mix(f.guid)
		mix(f.url)
		mix(f.title)
		mix(uint64(f.rk.summary))
		mix(uint64(f.rk.title))
		mix(uint64(f.rk.t))
		if f.hasSummary {
			mix(1)
		}
	}
	return h
}

// WriteSnapshot writes the complete state of the index to w in a compact
// binary format that [ReadSnapshot] loads several times faster than the
// index can be rebuilt from stored items: items with their terms and
// exact-duplicate keys, clusters with their centroids, the term
// statistics (IDF) and posting lists. An index read back decides every
// later Add, AddPrepared, Restore, Expire and Explain exactly as this one
// would.
//
// It must not run concurrently with any other method of the index. It
// writes to w in pieces of 256 KiB (w need not be buffered) and
// allocates a byte per item slot besides. A snapshot says
// nothing about which stored items it covers: the caller records that
// beside it (see the package doc, Snapshots). A failed write leaves a
// partial snapshot, which ReadSnapshot refuses; write to a temporary
// file and rename it.
func (ix *Index) WriteSnapshot(w io.Writer) error {
	if len(ix.pending) > 0 {
		return errors.New("dedupe: write snapshot: index has pending centroids")
	}
	cnt := snapshotCounts{
		items: int64(len(ix.items)), free: int64(len(ix.free)), live: int64(ix.live), total: int64(ix.total),
		clusters: int64(len(ix.clusters)), cfree: int64(len(ix.cfree)),
		tents: int64(len(ix.tents)), tfree: int64(len(ix.tfree)), exact: int64(len(ix.exact)),
	}
	for s := range ix.items {
		it := &ix.items[s]
		cnt.itemTerms += int64(len(it.terms))
		cnt.idBytes += int64(len(it.id()))
	}
	for c := range ix.clusters {
		cl := &ix.clusters[c]
		cnt.members += int64(len(cl.members))
		cnt.centTerms += int64(len(cl.cent))
		if cl.alive {
			cnt.liveClusters++
		}
		if !ix.founderID(cl) {
			cnt.cidBytes += int64(len(cl.id))
		}
	}
	for e := range ix.tents {
		cnt.posts += int64(len(ix.tents[e].post))
	}

	sw := &snapWriter{w: w, buf: make([]byte, 0, 1<<18)}
	// Header, with its own checksum.
	sw.buf = append(sw.buf, snapshotMagic...)
	sw.buf = binary.LittleEndian.AppendUint32(sw.buf, snapshotVersion)
	sw.buf = appendOptions(sw.buf, ix.opts)
	sw.buf = binary.LittleEndian.AppendUint64(sw.buf, fingerprint(&ix.opts))
	for _, v := range cnt.fields() {
		sw.buf = binary.LittleEndian.AppendUint64(sw.buf, uint64(*v))
	}
	sw.buf = binary.LittleEndian.AppendUint32(sw.buf, crc32.Checksum(sw.buf, castagnoli))
	sw.flush()
	sw.crc = 0 // the payload checksum starts here

	le := binary.LittleEndian
	// The exact map is stored as a flag on each key of the item it maps
	// to (every entry is a key of its live item).
	flags := make([]byte, len(ix.items))
	for key, s := range ix.exact {
		for k, x := range ix.items[s].keys {
			if x == key {
				flags[s] |= itemExact0 << k
			}
		}
	}
	for s := range ix.items {
		it := &ix.items[s]
		fl := flags[s]
		if it.alive {
			fl |= itemAlive
		}
		b := append(sw.buf, fl)
		b = le.AppendUint32(b, uint32(it.cluster))
		b = le.AppendUint64(b, uint64(it.rk.t))
		for _, key := range it.keys {
			b = le.AppendUint64(b, key)
		}
		b = le.AppendUint32(b, uint32(it.rk.summary))
		b = le.AppendUint32(b, uint32(it.rk.title))
		b = le.AppendUint32(b, uint32(len(it.terms)))
		sw.buf = le.AppendUint32(b, uint32(len(it.id())))
		sw.room()
	}
	for s := range ix.items {
		sw.str(ix.items[s].id())
	}
	for s := range ix.items {
		sw.refs(ix.items[s].terms)
	}
	sw.int32s(ix.free)
	for c := range ix.clusters {
		cl := &ix.clusters[c]
		var fl byte
		if cl.alive {
			fl |= clusterAlive
		}
		if cl.cent != nil {
			fl |= clusterCent
		}
		idLen := len(cl.id)
		if ix.founderID(cl) {
			fl |= clusterFounder
			idLen = 0
		}
		b := append(sw.buf, fl, cl.lang)
		b = le.AppendUint32(b, uint32(cl.rep))
		b = le.AppendUint64(b, uint64(cl.minT))
		b = le.AppendUint64(b, uint64(cl.maxT))
		b = le.AppendUint64(b, math.Float64bits(cl.norm))
		b = le.AppendUint32(b, uint32(len(cl.members)))
		b = le.AppendUint32(b, uint32(len(cl.cent)))
		sw.buf = le.AppendUint32(b, uint32(idLen))
		sw.room()
	}
	for c := range ix.clusters {
		if cl := &ix.clusters[c]; !ix.founderID(cl) {
			sw.str(cl.id)
		}
	}
	for c := range ix.clusters {
		sw.int32s(ix.clusters[c].members)
	}
	for c := range ix.clusters {
		sw.terms(ix.clusters[c].cent)
	}
	sw.int32s(ix.cfree)
	sw.int32s(ix.tfree)
	for e := range ix.tents {
		te := &ix.tents[e]
		b := le.AppendUint64(sw.buf, te.h)
		b = le.AppendUint32(b, uint32(te.df))
		b = le.AppendUint32(b, uint32(te.seen))
		sw.buf = le.AppendUint32(b, uint32(len(te.post)))
		sw.room()
	}
	for e := range ix.tents {
		for _, p := range ix.tents[e].post {
			b := le.AppendUint32(sw.buf, uint32(p.c))
			sw.buf = le.AppendUint32(b, uint32(p.m))
			sw.room()
		}
	}
	if ix.tmpl.cells == nil {
		sw.buf = append(sw.buf, 0)
	} else {
		sw.buf = append(sw.buf, 1)
		for _, v := range ix.tmpl.cells {
			sw.buf = le.AppendUint32(sw.buf, v)
			sw.room()
		}
	}
	sw.flush()
	sw.buf = le.AppendUint32(sw.buf, sw.crc)
	sw.flush()
	if sw.err != nil {
		return fmt.Errorf("dedupe: write snapshot: %w", sw.err)
	}
	return nil
}

// founderID reports whether cl's ID is the ID of its first member, as it
// is until the founder expires: the snapshot then stores it once.
func (ix *Index) founderID(cl *clusterRec) bool {
	return len(cl.members) > 0 && ix.items[cl.members[0]].id() == cl.id
}

// snapWriter encodes into buf and writes it out in large pieces, keeping
// the payload's checksum and the first write error.
type snapWriter struct {
	w   io.Writer
	buf []byte
	crc uint32
	err error
}

func (sw *snapWriter) flush() {
	if sw.err == nil && len(sw.buf) > 0 {
		sw.crc = crc32.Update(sw.crc, castagnoli, sw.buf)
		_, sw.err = sw.w.Write(sw.buf)
	}
	sw.buf = sw.buf[:0]
}

// room flushes when buf is nearly full.
func (sw *snapWriter) room() {
	if len(sw.buf) >= cap(sw.buf)-256 {
		sw.flush()
	}
}

func (sw *snapWriter) str(s string) {
	for len(s) > 0 {
		n := min(len(s), cap(sw.buf)-len(sw.buf))
		sw.buf = append(sw.buf, s[:n]...)
		s = s[n:]
		sw.room()
	}
}

func (sw *snapWriter) terms(ts []tw) {
	for _, x := range ts {
		b := binary.LittleEndian.AppendUint64(sw.buf, x.h)
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x.w))
		sw.buf = binary.LittleEndian.AppendUint32(b, math.Float32bits(x.idf))
		sw.room()
	}
}

func (sw *snapWriter) refs(ts []termRef) {
	for _, x := range ts {
		b := binary.LittleEndian.AppendUint32(sw.buf, uint32(x.e))
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x.w))
		sw.buf = binary.LittleEndian.AppendUint32(b, math.Float32bits(x.idf))
		sw.room()
	}
}

func (sw *snapWriter) int32s(v []int32) {
	for _, x := range v {
		sw.buf = binary.LittleEndian.AppendUint32(sw.buf, uint32(x))
		sw.room()
	}
}
