package postgres

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"aggregator"
)

// Items and the body of memberships are stored as bytea in a small
// length-prefixed binary format: one column to write and to decode, and
// times kept exactly (nanoseconds and zone offset), which timestamptz
// would round to microseconds and move to UTC. The columns the queries
// need (IDs, feed, times, hash) are stored beside it. Each value starts
// with a format byte so that a later layout can be told apart.
const (
	itemFormat       = 1
	membershipFormat = 1
)

var errCorrupt = errors.New("corrupt value")

// zeroUnix is time.Time{}.Unix(): the seconds column of the zero time.
var zeroUnix = time.Time{}.Unix()

// secNsec splits t for an ordered (seconds, nanoseconds) column pair.
func secNsec(t time.Time) (int64, int32) { return t.Unix(), int32(t.Nanosecond()) }

// fromSecNsec is the inverse of secNsec, in UTC, zero for the zero time.
func fromSecNsec(sec int64, nsec int32) time.Time {
	if sec == zeroUnix && nsec == 0 {
		return time.Time{}
	}
	return time.Unix(sec, int64(nsec)).UTC()
}

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

// appendTime writes t as seconds, nanoseconds and zone offset; the zero
// time is a single 0 byte.
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

func encodeTime(t time.Time) []byte { return appendTime(make([]byte, 0, 16), t) }

func decodeTime(b []byte) (time.Time, error) {
	d := decoder{b: b}
	t := d.time()
	if d.err != nil || len(d.b) != 0 {
		return time.Time{}, fmt.Errorf("time: %w", errCorrupt)
	}
	return t, nil
}

// decoder reads the format above; the first error sticks.
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

// string copies out of the buffer, which pgx reuses for the next row.
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

// encodeMembership writes what the memberships row's columns do not
// hold: all but the item and cluster IDs.
func encodeMembership(m *aggregator.Membership) []byte {
	b := make([]byte, 0, 48+len(m.Matched)+16*len(m.Shared))
	b = append(b, membershipFormat)
	b = appendString(b, string(m.Reason))
	b = appendString(b, m.Matched)
	b = binary.BigEndian.AppendUint64(b, math.Float64bits(m.Score))
	b = appendStrings(b, m.Shared)
	return appendTime(b, m.Joined)
}

func decodeMembership(item, cluster string, b []byte) (aggregator.Membership, error) {
	d := decoder{b: b}
	if f := d.byte(); f != membershipFormat {
		return aggregator.Membership{}, fmt.Errorf("membership %s: unknown format %d: %w", item, f, errCorrupt)
	}
	m := aggregator.Membership{Item: item, Cluster: cluster}
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
		return aggregator.Membership{}, fmt.Errorf("membership %s: %w", item, d.err)
	}
	return m, nil
}
