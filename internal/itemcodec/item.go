package itemcodec

import (
	"encoding/binary"
	"fmt"
	"math"

	"aggregator"
)

// AppendItem appends it, checksummed (FormatSummed) for storing under
// key, to b.
func AppendItem(b []byte, key []byte, it *aggregator.Item) []byte {
	b = growFor(b, itemLen(it)+SumLen)
	start := len(b)
	b = appendItemBody(append(b, FormatSummed), it)
	return Seal(b, start, key)
}

// AppendItemPlain appends it in FormatPlain, without a checksum, for a
// store whose pages are checked by other means (PostgreSQL).
func AppendItemPlain(b []byte, it *aggregator.Item) []byte {
	b = growFor(b, itemLen(it))
	return appendItemBody(append(b, FormatPlain), it)
}

// EncodeItem is AppendItem to a new slice.
func EncodeItem(key []byte, it *aggregator.Item) []byte { return AppendItem(nil, key, it) }

// DecodeItem reads an item AppendItem wrote for key, or one of
// FormatPlain.
func DecodeItem(key, v []byte) (aggregator.Item, error) {
	body, err := Open(key, v)
	if err != nil {
		return aggregator.Item{}, fmt.Errorf("item: %w", err)
	}
	d := Decoder{b: body}
	var it aggregator.Item
	for _, p := range [...]*string{&it.ID, &it.Feed, &it.GUID, &it.URL, &it.CanonicalURL, &it.Title,
		&it.Summary, &it.Content, &it.Author, &it.Image} {
		*p = d.String()
	}
	it.Categories = d.Strings()
	it.Published = d.Time()
	it.Updated = d.Time()
	it.FirstSeen = d.Time()
	it.Hash = d.String()
	if d.err != nil {
		return aggregator.Item{}, fmt.Errorf("item: %w", d.err)
	}
	return it, nil
}

// itemLen is a guess of an item's encoded length, for allocation.
func itemLen(it *aggregator.Item) int {
	n := 64 + len(it.ID) + len(it.Feed) + len(it.GUID) + len(it.URL) + len(it.CanonicalURL) +
		len(it.Title) + len(it.Summary) + len(it.Content) + len(it.Author) + len(it.Image) + len(it.Hash)
	for _, c := range it.Categories {
		n += len(c) + 2
	}
	return n
}

// appendItemBody appends the fields of it after the format byte.
func appendItemBody(b []byte, it *aggregator.Item) []byte {
	for _, s := range [...]string{it.ID, it.Feed, it.GUID, it.URL, it.CanonicalURL, it.Title,
		it.Summary, it.Content, it.Author, it.Image} {
		b = AppendString(b, s)
	}
	b = AppendStrings(b, it.Categories)
	b = AppendTime(b, it.Published)
	b = AppendTime(b, it.Updated)
	b = AppendTime(b, it.FirstSeen)
	return AppendString(b, it.Hash)
}

// AppendMembershipBody appends what a membership holds besides its item
// and cluster IDs (reason, matched item, score, shared words, time
// joined), with no format byte and no checksum: the caller frames it.
func AppendMembershipBody(b []byte, m *aggregator.Membership) []byte {
	b = AppendString(b, string(m.Reason))
	b = AppendString(b, m.Matched)
	b = binary.BigEndian.AppendUint64(b, math.Float64bits(m.Score))
	b = AppendStrings(b, m.Shared)
	return AppendTime(b, m.Joined)
}

// MembershipBody reads what AppendMembershipBody wrote into m.
func (d *Decoder) MembershipBody(m *aggregator.Membership) {
	m.Reason = aggregator.Reason(d.String())
	m.Matched = d.String()
	m.Score = d.Float64()
	m.Shared = d.Strings()
	m.Joined = d.Time()
}

// MembershipBodyLen is an upper bound guess of the body's length, for
// allocation.
func MembershipBodyLen(m *aggregator.Membership) int {
	n := 32 + len(m.Reason) + len(m.Matched)
	for _, s := range m.Shared {
		n += len(s) + 2
	}
	return n
}

func growFor(b []byte, n int) []byte {
	if cap(b)-len(b) >= n {
		return b
	}
	nb := make([]byte, len(b), len(b)+n)
	copy(nb, b)
	return nb
}

// AppendFeedStateBody appends every field of st, in declaration order,
// with no format byte and no checksum: the caller frames it. Strings are
// kept byte for byte (validators may hold any byte), which JSON cannot
// do, and the encoding is several times cheaper than JSON both ways: an
// unchanged pass reads and writes every feed's state and little else.
// A field added to FeedState needs a new format byte at the caller.
func AppendFeedStateBody(b []byte, st *aggregator.FeedState) []byte {
	for _, s := range [...]string{st.Name, st.URL, st.FetchURL, st.ETag, st.LastModified, st.BodyHash,
		st.Title, st.Link, st.Language} {
		b = AppendString(b, s)
	}
	b = AppendTime(b, st.LastFetch)
	b = AppendTime(b, st.LastSuccess)
	b = binary.AppendVarint(b, int64(st.LastStatus))
	b = AppendString(b, st.LastResult)
	b = AppendString(b, st.LastError)
	b = binary.AppendVarint(b, int64(st.ConsecutiveErrors))
	b = AppendTime(b, st.NextFetch)
	b = binary.AppendVarint(b, int64(st.Items))
	b = binary.AppendVarint(b, int64(st.TotalItems))
	var disabled byte
	if st.Disabled {
		disabled = 1
	}
	b = append(b, disabled)
	b = AppendString(b, st.DisabledReason)
	b = AppendString(b, st.Node)
	b = AppendString(b, st.RedirectURL)
	b = binary.AppendVarint(b, int64(st.RedirectCount))
	b = binary.BigEndian.AppendUint64(b, math.Float64bits(st.MeanItemGap))
	b = binary.BigEndian.AppendUint64(b, math.Float64bits(st.HintInterval))
	b = binary.AppendUvarint(b, uint64(st.SkipHours))
	b = append(b, st.SkipDays)
	return binary.AppendVarint(b, int64(st.FutureDates))
}

// FeedStateBody reads what AppendFeedStateBody wrote into st. Values out
// of their field's range are corrupt, not truncated.
func (d *Decoder) FeedStateBody(st *aggregator.FeedState) {
	for _, p := range [...]*string{&st.Name, &st.URL, &st.FetchURL, &st.ETag, &st.LastModified, &st.BodyHash,
		&st.Title, &st.Link, &st.Language} {
		*p = d.String()
	}
	st.LastFetch = d.Time()
	st.LastSuccess = d.Time()
	st.LastStatus = d.int()
	st.LastResult = d.String()
	st.LastError = d.String()
	st.ConsecutiveErrors = d.int()
	st.NextFetch = d.Time()
	st.Items = d.int()
	st.TotalItems = d.int()
	switch d.Byte() {
	case 0:
		st.Disabled = false
	case 1:
		st.Disabled = true
	default:
		d.fail()
	}
	st.DisabledReason = d.String()
	st.Node = d.String()
	st.RedirectURL = d.String()
	st.RedirectCount = d.int()
	st.MeanItemGap = d.Float64()
	st.HintInterval = d.Float64()
	if h := d.Uvarint(); h <= math.MaxUint32 {
		st.SkipHours = uint32(h)
	} else {
		d.fail()
	}
	st.SkipDays = d.Byte()
	st.FutureDates = d.int()
}

// int reads a varint that must fit an int.
func (d *Decoder) int() int {
	v := d.Varint()
	if int64(int(v)) != v {
		d.fail()
		return 0
	}
	return int(v)
}
