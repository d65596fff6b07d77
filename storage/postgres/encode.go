package postgres

import (
	"fmt"
	"time"

	"aggregator"
	"aggregator/internal/itemcodec"
)

// Items and the body of memberships are stored as bytea in a small
// length-prefixed binary format: one column to write and to decode, and
// times kept exactly (nanoseconds and zone offset), which timestamptz
// would round to microseconds and move to UTC. The columns the queries
// need (IDs, feed, times, hash) are stored beside it. Each value starts
// with a format byte so that a later layout can be told apart.
const (
	itemFormat       = itemcodec.FormatPlain
	membershipFormat = 1
)

var errCorrupt = itemcodec.ErrCorrupt

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

func encodeTime(t time.Time) []byte { return itemcodec.AppendTime(make([]byte, 0, 16), t) }

func decodeTime(b []byte) (time.Time, error) {
	d := itemcodec.NewDecoder(b)
	t := d.Time()
	if d.Err() != nil || len(d.Rest()) != 0 {
		return time.Time{}, fmt.Errorf("time: %w", errCorrupt)
	}
	return t, nil
}

// encodeItem and decodeItem use the bbolt store's layout without its
// checksum (itemcodec.FormatPlain, which is itemFormat).
func encodeItem(it *aggregator.Item) []byte { return itemcodec.AppendItemPlain(nil, it) }

func decodeItem(b []byte) (aggregator.Item, error) {
	if len(b) == 0 || b[0] != itemFormat {
		return aggregator.Item{}, fmt.Errorf("item: unknown format: %w", errCorrupt)
	}
	return itemcodec.DecodeItem(nil, b)
}

// encodeMembership writes what the memberships row's columns do not
// hold: all but the item and cluster IDs.
func encodeMembership(m *aggregator.Membership) []byte {
	b := make([]byte, 0, 1+itemcodec.MembershipBodyLen(m))
	return itemcodec.AppendMembershipBody(append(b, membershipFormat), m)
}

func decodeMembership(item, cluster string, b []byte) (aggregator.Membership, error) {
	d := itemcodec.NewDecoder(b)
	if f := d.Byte(); f != membershipFormat {
		return aggregator.Membership{}, fmt.Errorf("membership %s: unknown format %d: %w", item, f, errCorrupt)
	}
	m := aggregator.Membership{Item: item, Cluster: cluster}
	d.MembershipBody(&m)
	if d.Err() != nil {
		return aggregator.Membership{}, fmt.Errorf("membership %s: %w", item, d.Err())
	}
	return m, nil
}
