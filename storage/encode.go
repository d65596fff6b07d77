package storage

import (
	"encoding/binary"
	"fmt"
	"time"

	"aggregator"
	"aggregator/internal/itemcodec"
)

// Items and memberships are the hot values: every fetch writes items, and
// start-up decodes every recent item with its membership. They use the
// small length-prefixed binary format of internal/itemcodec, several
// times faster to decode than JSON (see BenchmarkDecode in the tests).
// Each value starts with a format byte and ends with a CRC-32C of its key
// and the rest of the value (itemcodec.FormatSummed), checked on every
// read; values of itemcodec.FormatPlain (no checksum, written by schema
// 2) still decode. Clusters have the same framing; the memberships inside
// a cluster are not checksummed one by one, the cluster's checksum covers
// them.
//
// Log records and tombstones were written without a format byte: they
// start with a time, whose first byte is 0 or 1. Checksummed ones start
// with timedFormat instead and end with the CRC-32C; a value starting
// with anything else is damaged.
const (
	// timedFormat is 6 so that no single flipped bit makes it 0 or 1,
	// and a checksummed value is never read as an unchecked one.
	timedFormat = 6
	tombPruned  = 'p' // ends a tombstone left by Prune (after its time)
)

func appendString(b []byte, s string) []byte { return itemcodec.AppendString(b, s) }

func appendTime(b []byte, t time.Time) []byte { return itemcodec.AppendTime(b, t) }

func readTime(b []byte) (time.Time, []byte, error) {
	d := itemcodec.NewDecoder(b)
	t := d.Time()
	return t, d.Rest(), corruptErr(d.Err())
}

// corruptErr makes an itemcodec error one of this package's (wrapping
// ErrCorrupt), keeping what it says.
func corruptErr(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%w: %v", ErrCorrupt, err)
}

// sealTimed frames the value v of key as a checksummed log record or
// tombstone: v must start at v[1], v[0] being room for timedFormat.
func sealTimed(key, v []byte) []byte {
	v[0] = timedFormat
	return itemcodec.Seal(v, 0, key)
}

// openTimed returns the content of a log record or tombstone stored
// under key, checked when it has a checksum.
func openTimed(key, v []byte) ([]byte, error) {
	switch {
	case len(v) == 0:
		return nil, fmt.Errorf("%w: empty value", errCorrupt)
	case v[0] == timedFormat:
		body, err := itemcodec.Unseal(key, v)
		if err != nil {
			return nil, corruptErr(err)
		}
		return body[1:], nil
	case v[0] <= 1: // the first byte of a time: no checksum
		return v, nil
	}
	return nil, fmt.Errorf("%w: unknown format %d", errCorrupt, v[0])
}

// encodeTombstone writes the tombstone of the item with ID key: the time
// of the deletion or of the last renewal, and whether Prune left it.
func encodeTombstone(key []byte, at time.Time, pruned bool) []byte {
	v := appendTime(make([]byte, 1, 24), at)
	if pruned {
		v = append(v, tombPruned)
	}
	return sealTimed(key, v)
}

func decodeTombstone(key, v []byte) (at time.Time, pruned bool, err error) {
	body, err := openTimed(key, v)
	if err != nil {
		return time.Time{}, false, err
	}
	at, rest, err := readTime(body)
	if err != nil {
		return time.Time{}, false, err
	}
	switch {
	case len(rest) == 1 && rest[0] == tombPruned:
		return at, true, nil
	case len(rest) == 0:
		return at, false, nil
	}
	return time.Time{}, false, fmt.Errorf("%w: %d bytes after the tombstone's time", errCorrupt, len(rest))
}

// encodeItem writes the itemtime (or logitems) value of it under key.
func encodeItem(key []byte, it *aggregator.Item) []byte { return itemcodec.EncodeItem(key, it) }

func decodeItem(key, v []byte) (aggregator.Item, error) {
	it, err := itemcodec.DecodeItem(key, v)
	return it, corruptErr(err)
}

// appendMembership writes a membership with its IDs, format byte first,
// unsealed: inside a cluster value, whose checksum covers it.
func appendMembership(b []byte, m *aggregator.Membership) []byte {
	b = append(b, itemcodec.FormatPlain)
	b = appendString(b, m.Item)
	b = appendString(b, m.Cluster)
	return itemcodec.AppendMembershipBody(b, m)
}

// encodeMembership writes the memtime value of m under key.
func encodeMembership(key []byte, m *aggregator.Membership) []byte {
	return appendSealedMembership(make([]byte, 0, membershipLen(m)), key, m)
}

// membershipLen is room enough for what encodeMembership writes of m.
func membershipLen(m *aggregator.Membership) int {
	return 16 + len(m.Item) + len(m.Cluster) + itemcodec.MembershipBodyLen(m) + itemcodec.SumLen
}

// appendSealedMembership appends to b (empty: the value starts at b[0])
// what encodeMembership writes.
func appendSealedMembership(b, key []byte, m *aggregator.Membership) []byte {
	b = appendMembership(b, m)
	b[0] = itemcodec.FormatSummed
	return itemcodec.Seal(b, 0, key)
}

// decodeMembership reads what encodeMembership wrote under key, or a
// membership of FormatPlain (in a cluster, key nil).
func decodeMembership(key, v []byte) (aggregator.Membership, error) {
	body, err := itemcodec.Open(key, v)
	if err != nil {
		return aggregator.Membership{}, fmt.Errorf("membership: %w", corruptErr(err))
	}
	d := itemcodec.NewDecoder(body)
	var m aggregator.Membership
	m.Item = d.String()
	m.Cluster = d.String()
	d.MembershipBody(&m)
	if err := d.Err(); err != nil {
		return aggregator.Membership{}, fmt.Errorf("membership: %w", corruptErr(err))
	}
	return m, nil
}

// memberRef is the format byte of a member in a cluster value of schema
// 4: the member's item ID alone. Its membership is the item's memtime
// value, so a cluster holds no second copy of every membership. Before
// schema 4 it did, rewritten with the whole record at every join: the
// clusters bucket of scripts/bench-million (a million items) held 165 MB
// in 314 MB of pages then, 56 MB in 83 MB since; a member now takes 23
// bytes.
const memberRef = 0x10

// encodeCluster writes a cluster under its ID, its members as item IDs in
// the order they joined (memberRef). It is binary, not JSON (JSON was half
// the cost of storing a clustering).
func encodeCluster(c *aggregator.Cluster) []byte { return encodeClusterAfter(c, nil, 0) }

// encodeClusterAfter is encodeCluster for a cluster whose first n members
// are still encoded, as decodeClusterHead returned them in raw, and
// c.Members holds those that followed.
func encodeClusterAfter(c *aggregator.Cluster, raw []byte, n int) []byte {
	size := 48 + len(c.ID) + len(c.Representative) + len(raw) + itemcodec.SumLen
	for i := range c.Members {
		size += 4 + len(c.Members[i].Item)
	}
	b := make([]byte, 0, size)
	b = append(b, itemcodec.FormatSummed)
	b = appendString(b, c.ID)
	b = appendString(b, c.Representative)
	b = appendTime(b, c.Published)
	b = appendTime(b, c.Updated)
	b = binary.AppendUvarint(b, uint64(n+len(c.Members)))
	b = append(b, raw...)
	var m []byte
	for i := range c.Members {
		m = appendString(append(m[:0], memberRef), c.Members[i].Item)
		b = binary.AppendUvarint(b, uint64(len(m)))
		b = append(b, m...)
	}
	return itemcodec.Seal(b, 0, []byte(c.ID))
}

// decodeCluster reads the cluster stored under key. A member written
// before schema 4 carries its whole membership; one of schema 4 only its
// item ID (and the cluster's), and refs reports that: such a cluster's
// members are complete only after fillMembers. The clustering itself
// needs only the IDs.
func decodeCluster(key, v []byte, c *aggregator.Cluster) (refs bool, err error) {
	d, n, err := openCluster(key, v, c)
	if err != nil {
		return false, err
	}
	c.Members = make([]aggregator.Membership, 0, n)
	for range n {
		mv := d.Bytes()
		if d.Err() != nil || len(mv) == 0 {
			return false, fmt.Errorf("cluster %s: %w", c.ID, errCorrupt)
		}
		switch mv[0] {
		case memberRef:
			id, err := memberRefID(c, mv)
			if err != nil {
				return false, err
			}
			c.Members = append(c.Members, aggregator.Membership{Item: string(id), Cluster: c.ID})
			refs = true
		case itemcodec.FormatPlain:
			m, err := decodeMembership(nil, mv)
			if err != nil {
				return false, fmt.Errorf("cluster %s: %w", c.ID, err)
			}
			c.Members = append(c.Members, m)
		default:
			return false, fmt.Errorf("cluster %s: %w: a member of another format", c.ID, errCorrupt)
		}
	}
	if len(d.Rest()) != 0 {
		return false, fmt.Errorf("cluster %s: %w: %d bytes after its members", c.ID, errCorrupt, len(d.Rest()))
	}
	return refs, nil
}

// decodeClusterHead is decodeCluster but for the members, which it
// checks as decodeCluster does and returns still encoded, with their
// number, leaving c.Members nil: a write that only adds members to a
// cluster of thousands then neither decodes nor copies them (see
// clusterSet). The members point into v. full reports a member of the
// format before schema 4, which only decodeCluster reads; raw is nil
// then.
func decodeClusterHead(key, v []byte, c *aggregator.Cluster) (raw []byte, n int, full bool, err error) {
	d, n, err := openCluster(key, v, c)
	if err != nil {
		return nil, 0, false, err
	}
	raw = d.Rest()
	for range n {
		mv := d.Bytes()
		if d.Err() != nil || len(mv) == 0 {
			return nil, 0, false, fmt.Errorf("cluster %s: %w", c.ID, errCorrupt)
		}
		switch mv[0] {
		case memberRef:
			if _, err := memberRefID(c, mv); err != nil {
				return nil, 0, false, err
			}
		case itemcodec.FormatPlain:
			return nil, 0, true, nil
		default:
			return nil, 0, false, fmt.Errorf("cluster %s: %w: a member of another format", c.ID, errCorrupt)
		}
	}
	if len(d.Rest()) != 0 {
		return nil, 0, false, fmt.Errorf("cluster %s: %w: %d bytes after its members", c.ID, errCorrupt, len(d.Rest()))
	}
	c.Members = nil
	return raw, n, false, nil
}

// openCluster checks a stored cluster, reads its fields up to the
// members into c and returns the decoder at the members and their number.
func openCluster(key, v []byte, c *aggregator.Cluster) (*itemcodec.Decoder, int, error) {
	body, err := itemcodec.Open(key, v)
	if err != nil {
		return nil, 0, fmt.Errorf("cluster: %w", corruptErr(err))
	}
	d := itemcodec.NewDecoder(body)
	c.ID = d.String()
	c.Representative = d.String()
	c.Published = d.Time()
	c.Updated = d.Time()
	n := d.Uvarint()
	if d.Err() != nil || n > uint64(len(d.Rest())) {
		return nil, 0, fmt.Errorf("cluster: %w", errCorrupt)
	}
	return d, int(n), nil
}

// memberRefID returns the item ID of a memberRef member mv of c, without
// copying it.
func memberRefID(c *aggregator.Cluster, mv []byte) ([]byte, error) {
	md := itemcodec.NewDecoder(mv[1:])
	id := md.Bytes()
	if md.Err() != nil || len(id) == 0 || len(md.Rest()) != 0 {
		return nil, fmt.Errorf("cluster %s: %w: a malformed member", c.ID, errCorrupt)
	}
	return id, nil
}

// rawMembers walks members as decodeClusterHead returned them (checked),
// calling fn with each item ID until it returns false.
func rawMembers(raw []byte, fn func(id []byte) bool) {
	d := itemcodec.NewDecoder(raw)
	for len(d.Rest()) > 0 {
		mv := d.Bytes()
		md := itemcodec.NewDecoder(mv[1:])
		if !fn(md.Bytes()) {
			return
		}
	}
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
