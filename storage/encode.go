package storage

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"

	"aggregator"
)

// Items and memberships are the hot values: every fetch writes items, and
// start-up decodes every recent item with its membership. They use a small
// length-prefixed binary format, several times faster to decode than JSON
// (see BenchmarkDecode in the tests). Each value starts with a format byte
// so that a later layout can be told apart and migrated.
const (
	itemFormat       = 1
	membershipFormat = 1
	clusterFormat    = 1
)

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendStrings(b []byte, ss []string) []byte {
	b = binary.AppendUvarint(b, uint64(len(ss)))
	for _, s := range ss {
		b = appendString(b, s)
	}
	return b
}

// appendTime writes t as seconds, nanoseconds and zone offset; the zone
// name is not kept. The zero time is a single 0 byte.
func appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(b, 0)
	}
	_, off := t.Zone()
	b = append(b, 1)
	b = binary.AppendVarint(b, t.Unix())
	b = binary.AppendUvarint(b, uint64(t.Nanosecond()))
	return binary.AppendVarint(b, int64(off))
}

// decoder reads the format above. The first error sticks, so callers
// check it once at the end.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail() {
	if d.err == nil {
		d.err = errCorrupt
	}
	d.b = nil
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) byte() byte {
	if len(d.b) < 1 {
		d.fail()
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

// string copies out of the buffer, which bbolt owns.
func (d *decoder) string() string {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail()
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *decoder) strings() []string {
	n := d.uvarint()
	if n == 0 || n > uint64(len(d.b)) {
		if n != 0 {
			d.fail()
		}
		return nil
	}
	ss := make([]string, n)
	for i := range ss {
		ss[i] = d.string()
	}
	return ss
}

func (d *decoder) time() time.Time {
	if d.byte() == 0 {
		return time.Time{}
	}
	sec := d.varint()
	nsec := d.uvarint()
	off := d.varint()
	if d.err != nil {
		return time.Time{}
	}
	t := time.Unix(sec, int64(nsec))
	if off == 0 {
		return t.UTC()
	}
	return t.In(time.FixedZone("", int(off)))
}

func readTime(b []byte) (time.Time, []byte, error) {
	d := decoder{b: b}
	t := d.time()
	return t, d.b, d.err
}

func encodeItem(it *aggregator.Item) []byte {
	n := 64 + len(it.ID) + len(it.Feed) + len(it.GUID) + len(it.URL) + len(it.CanonicalURL) +
		len(it.Title) + len(it.Summary) + len(it.Content) + len(it.Author) + len(it.Image) + len(it.Hash)
	for _, c := range it.Categories {
		n += len(c) + 2
	}
	b := make([]byte, 0, n)
	b = append(b, itemFormat)
	for _, s := range [...]string{it.ID, it.Feed, it.GUID, it.URL, it.CanonicalURL, it.Title,
		it.Summary, it.Content, it.Author, it.Image} {
		b = appendString(b, s)
	}
	b = appendStrings(b, it.Categories)
	b = appendTime(b, it.Published)
	b = appendTime(b, it.Updated)
	b = appendTime(b, it.FirstSeen)
	return appendString(b, it.Hash)
}

func decodeItem(b []byte) (aggregator.Item, error) {
	d := decoder{b: b}
	if f := d.byte(); f != itemFormat {
		return aggregator.Item{}, fmt.Errorf("item: unknown format %d: %w", f, errCorrupt)
	}
	var it aggregator.Item
	for _, p := range [...]*string{&it.ID, &it.Feed, &it.GUID, &it.URL, &it.CanonicalURL, &it.Title,
		&it.Summary, &it.Content, &it.Author, &it.Image} {
		*p = d.string()
	}
	it.Categories = d.strings()
	it.Published = d.time()
	it.Updated = d.time()
	it.FirstSeen = d.time()
	it.Hash = d.string()
	if d.err != nil {
		return aggregator.Item{}, fmt.Errorf("item: %w", d.err)
	}
	return it, nil
}

func encodeMembership(m *aggregator.Membership) []byte {
	b := make([]byte, 0, 64+len(m.Item)+len(m.Cluster)+len(m.Matched)+16*len(m.Shared))
	b = append(b, membershipFormat)
	b = appendString(b, m.Item)
	b = appendString(b, m.Cluster)
	b = appendString(b, string(m.Reason))
	b = appendString(b, m.Matched)
	b = binary.BigEndian.AppendUint64(b, math.Float64bits(m.Score))
	b = appendStrings(b, m.Shared)
	return appendTime(b, m.Joined)
}

func decodeMembership(b []byte) (aggregator.Membership, error) {
	d := decoder{b: b}
	if f := d.byte(); f != membershipFormat {
		return aggregator.Membership{}, fmt.Errorf("membership: unknown format %d: %w", f, errCorrupt)
	}
	var m aggregator.Membership
	m.Item = d.string()
	m.Cluster = d.string()
	m.Reason = aggregator.Reason(d.string())
	m.Matched = d.string()
	if len(d.b) < 8 {
		d.fail()
	} else {
		m.Score = math.Float64frombits(binary.BigEndian.Uint64(d.b))
		d.b = d.b[8:]
	}
	m.Shared = d.strings()
	m.Joined = d.time()
	if d.err != nil {
		return aggregator.Membership{}, fmt.Errorf("membership: %w", d.err)
	}
	return m, nil
}

// encodeCluster writes a cluster with its memberships. Clusters are read
// and rewritten every time a member joins, so this is on the ingest path:
// binary, not JSON (JSON was half the cost of storing a clustering).
func encodeCluster(c *aggregator.Cluster) []byte {
	b := make([]byte, 0, 48+len(c.ID)+len(c.Representative)+96*len(c.Members))
	b = append(b, clusterFormat)
	b = appendString(b, c.ID)
	b = appendString(b, c.Representative)
	b = appendTime(b, c.Published)
	b = appendTime(b, c.Updated)
	b = binary.AppendUvarint(b, uint64(len(c.Members)))
	for i := range c.Members {
		m := encodeMembership(&c.Members[i])
		b = binary.AppendUvarint(b, uint64(len(m)))
		b = append(b, m...)
	}
	return b
}

func decodeCluster(b []byte, c *aggregator.Cluster) error {
	d := decoder{b: b}
	if f := d.byte(); f != clusterFormat {
		return fmt.Errorf("cluster: unknown format %d: %w", f, errCorrupt)
	}
	c.ID = d.string()
	c.Representative = d.string()
	c.Published = d.time()
	c.Updated = d.time()
	n := d.uvarint()
	if d.err != nil || n > uint64(len(d.b)) {
		return fmt.Errorf("cluster: %w", errCorrupt)
	}
	c.Members = make([]aggregator.Membership, 0, n)
	for range n {
		l := d.uvarint()
		if d.err != nil || l > uint64(len(d.b)) {
			return fmt.Errorf("cluster %s: %w", c.ID, errCorrupt)
		}
		m, err := decodeMembership(d.b[:l])
		if err != nil {
			return fmt.Errorf("cluster %s: %w", c.ID, err)
		}
		d.b = d.b[l:]
		c.Members = append(c.Members, m)
	}
	if d.err != nil {
		return fmt.Errorf("cluster: %w", d.err)
	}
	return nil
}

// timeKeyLen is the length of the sortable time prefix of index keys.
const timeKeyLen = 12

// appendTimeKey writes t so that byte order is time order: seconds offset
// by 2^63 (so negative and zero times sort first), then nanoseconds.
func appendTimeKey(b []byte, t time.Time) []byte {
	b = binary.BigEndian.AppendUint64(b, uint64(t.Unix())^(1<<63))
	return binary.BigEndian.AppendUint32(b, uint32(t.Nanosecond()))
}

// appendNewestFirstKey writes t so that byte order is reverse time order,
// for indexes read newest first with a forward cursor (ties by ID asc).
func appendNewestFirstKey(b []byte, t time.Time) []byte {
	b = binary.BigEndian.AppendUint64(b, ^(uint64(t.Unix()) ^ (1 << 63)))
	return binary.BigEndian.AppendUint32(b, ^uint32(t.Nanosecond()))
}

func itemTimeKey(it *aggregator.Item) []byte {
	return append(appendTimeKey(make([]byte, 0, timeKeyLen+len(it.ID)), it.Time()), it.ID...)
}

func clusterPubKey(c *aggregator.Cluster) []byte {
	return append(appendNewestFirstKey(make([]byte, 0, timeKeyLen+len(c.ID)), c.Published), c.ID...)
}

// feedItemKey is an item's key in feeditems: the feed's name, a 0 byte,
// then the item's key in itemtime (time key and ID). Time order puts a
// fetch's new items next to each other at the end of the feed's range, so
// they dirty one or two pages rather than one per item.
func feedItemKey(feed string, key []byte) []byte {
	k := make([]byte, 0, len(feed)+1+len(key))
	return append(feedPrefix(k, feed), key...)
}

func feedPrefix(b []byte, feed string) []byte {
	b = append(b, feed...)
	return append(b, 0)
}
