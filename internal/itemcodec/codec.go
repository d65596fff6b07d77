// Package itemcodec is the binary encoding the bbolt store keeps items,
// memberships and clusters in: length-prefixed fields after a format
// byte, several times faster to decode than JSON, with times kept exactly
// (seconds, nanoseconds and zone offset). It is a package of its own so
// that the encoding and its checksum have one definition and one fuzz
// target. The PostgreSQL store keeps the same layout unchecked
// (FormatPlain: PostgreSQL can checksum its pages itself).
//
// # Checksums
//
// A value of the current format ends with the CRC-32C (Castagnoli) of the
// key it is stored under followed by everything before the checksum,
// format byte included. bbolt pages carry no checksum of their own, so
// without it a flipped bit in a stored value is a wrong letter in a title
// on the next read; with it, an error. The key is covered too, so that a
// value read under another key than its own (a flipped bit in the key,
// or in the page's element header that says where key and value start)
// fails the same way; a value stored where no key applies passes nil.
// CRC-32C because the CPU computes it (SSE 4.2, ARMv8 CRC) at many bytes
// per cycle: checking costs little beside decoding.
//
// Values written before the checksum (FormatPlain) still decode,
// unchecked; they gain the checksum when they are written again. The
// format numbers are chosen so that no single flipped bit turns a
// checksummed value into one of the unchecked format (2 and 1 differ in
// two bits).
//
// The main invariant: Decode* of what Append* wrote under the same key
// gives the value back, and Decode* of anything else gives the value back
// or an error wrapping [ErrCorrupt]; it never panics.
package itemcodec

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"time"
)

// Format bytes. FormatPlain is the layout without a checksum, which the
// decoders still read; FormatSummed is the same layout followed by a
// CRC-32C, which the encoders write.
const (
	FormatPlain  = 1
	FormatSummed = 2
)

// ErrCorrupt is wrapped by every error of the decoders: a value that does
// not decode, or whose checksum does not match.
var ErrCorrupt = errors.New("corrupt value")

// ErrChecksum is the error (wrapping ErrCorrupt) of a value whose stored
// CRC-32C is not that of its content: a flipped bit.
var ErrChecksum = fmt.Errorf("%w: checksum mismatch", ErrCorrupt)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// SumLen is the length of the checksum Seal appends.
const SumLen = 4

func sum(key, body []byte) uint32 {
	return crc32.Update(crc32.Checksum(key, castagnoli), castagnoli, body)
}

// Seal appends to b the CRC-32C of key followed by b[start:]: the value
// from start on is to be stored under key.
func Seal(b []byte, start int, key []byte) []byte {
	return binary.BigEndian.AppendUint32(b, sum(key, b[start:]))
}

// Unseal checks the checksum Seal appended to v for key and returns v
// without it.
func Unseal(key, v []byte) ([]byte, error) {
	if len(v) < SumLen {
		return nil, ErrChecksum
	}
	body, s := v[:len(v)-SumLen], v[len(v)-SumLen:]
	if sum(key, body) != binary.BigEndian.Uint32(s) {
		return nil, ErrChecksum
	}
	return body, nil
}

// Open reads the format byte of v, stored under key, and returns the
// rest: checked and without its checksum for FormatSummed, as it is for
// FormatPlain.
func Open(key, v []byte) ([]byte, error) {
	if len(v) == 0 {
		return nil, fmt.Errorf("%w: empty", ErrCorrupt)
	}
	switch v[0] {
	case FormatPlain:
		return v[1:], nil
	case FormatSummed:
		body, err := Unseal(key, v)
		if err != nil {
			return nil, err
		}
		return body[1:], nil
	}
	return nil, fmt.Errorf("%w: unknown format %d", ErrCorrupt, v[0])
}

// AppendString writes s with its length.
func AppendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// AppendStrings writes ss with its length.
func AppendStrings(b []byte, ss []string) []byte {
	b = binary.AppendUvarint(b, uint64(len(ss)))
	for _, s := range ss {
		b = AppendString(b, s)
	}
	return b
}

// AppendTime writes t as seconds, nanoseconds and zone offset; the zone
// name is not kept. The zero time is a single 0 byte.
func AppendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(b, 0)
	}
	_, off := t.Zone()
	b = append(b, 1)
	b = binary.AppendVarint(b, t.Unix())
	b = binary.AppendUvarint(b, uint64(t.Nanosecond()))
	return binary.AppendVarint(b, int64(off))
}

// A Decoder reads the fields the Append functions wrote. The first error
// sticks (and every later read returns a zero value), so callers check
// [Decoder.Err] once at the end. Strings are copies: the buffer may be
// owned by bbolt or reused by pgx for the next row.
type Decoder struct {
	b   []byte
	err error
}

// NewDecoder returns a Decoder reading b.
func NewDecoder(b []byte) *Decoder { return &Decoder{b: b} }

// Err is the first error met, wrapping ErrCorrupt, or nil.
func (d *Decoder) Err() error { return d.err }

// Rest is what is left to read.
func (d *Decoder) Rest() []byte { return d.b }

func (d *Decoder) fail() {
	if d.err == nil {
		d.err = ErrCorrupt
	}
	d.b = nil
}

// Uvarint reads an unsigned varint.
func (d *Decoder) Uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

// Varint reads a signed varint.
func (d *Decoder) Varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

// Byte reads one byte.
func (d *Decoder) Byte() byte {
	if len(d.b) < 1 {
		d.fail()
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

// Float64 reads 8 big-endian bytes of an IEEE 754 double.
func (d *Decoder) Float64() float64 {
	if len(d.b) < 8 {
		d.fail()
		return 0
	}
	f := math.Float64frombits(binary.BigEndian.Uint64(d.b))
	d.b = d.b[8:]
	return f
}

// Bytes reads a length-prefixed field without copying it.
func (d *Decoder) Bytes() []byte {
	n := d.Uvarint()
	if n > uint64(len(d.b)) {
		d.fail()
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

// String reads a string AppendString wrote.
func (d *Decoder) String() string {
	n := d.Uvarint()
	if n > uint64(len(d.b)) {
		d.fail()
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

// Strings reads what AppendStrings wrote; none is nil.
func (d *Decoder) Strings() []string {
	n := d.Uvarint()
	if n == 0 || n > uint64(len(d.b)) {
		if n != 0 {
			d.fail()
		}
		return nil
	}
	ss := make([]string, n)
	for i := range ss {
		ss[i] = d.String()
	}
	return ss
}

// Time reads what AppendTime wrote: in UTC when the offset was 0, else
// in a fixed zone of that offset.
func (d *Decoder) Time() time.Time {
	if d.Byte() == 0 {
		return time.Time{}
	}
	sec := d.Varint()
	nsec := d.Uvarint()
	off := d.Varint()
	if d.err != nil {
		return time.Time{}
	}
	t := time.Unix(sec, int64(nsec))
	if off == 0 {
		return t.UTC()
	}
	return t.In(time.FixedZone("", int(off)))
}
