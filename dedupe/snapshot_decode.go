package dedupe

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"strings"
	"sync"
)

// snapBuf is the read buffer: every record and run of terms is decoded
// from it, so a single next call asks for at most this much.
const snapBuf = 1 << 20

// slabBlock is the number of elements of the blocks that term lists,
// members and postings are carved from: large enough to make few
// allocations, small enough that one long-lived slice pins little.
const slabBlock = 4096

// snapReader reads a snapshot through its own buffer, keeping the
// checksum of everything returned.
type snapReader struct {
	r        io.Reader
	buf      []byte
	pos, end int
	crc      uint32
}

// next returns the next n bytes (n <= snapBuf), valid until the next call.
func (sr *snapReader) next(n int) ([]byte, error) {
	if sr.end-sr.pos < n {
		copy(sr.buf, sr.buf[sr.pos:sr.end])
		sr.end -= sr.pos
		sr.pos = 0
		m, err := io.ReadAtLeast(sr.r, sr.buf[sr.end:], n-sr.end)
		sr.end += m
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return nil, fmt.Errorf("%w: truncated", ErrSnapshotCorrupt)
			}
			return nil, fmt.Errorf("dedupe: read snapshot: %w", err)
		}
	}
	b := sr.buf[sr.pos : sr.pos+n : sr.pos+n]
	sr.pos += n
	sr.crc = crc32.Update(sr.crc, castagnoli, b)
	return b, nil
}

// records calls dec for each of n records of size bytes, in as few
// reads as the buffer allows.
func (sr *snapReader) records(n int, size int, dec func(i int, b []byte) error) error {
	per := snapBuf / size
	for lo := 0; lo < n; lo += per {
		hi := min(n, lo+per)
		b, err := sr.next((hi - lo) * size)
		if err != nil {
			return err
		}
		for i := lo; i < hi; i++ {
			if err := dec(i, b[(i-lo)*size:(i-lo+1)*size]); err != nil {
				return err
			}
		}
	}
	return nil
}

// terms fills dst with encoded terms.
func (sr *snapReader) terms(dst []tw) error {
	for len(dst) > 0 {
		n := min(len(dst), snapBuf/twSize)
		b, err := sr.next(n * twSize)
		if err != nil {
			return err
		}
		for i := range dst[:n] {
			x := b[i*twSize : (i+1)*twSize]
			dst[i] = tw{
				h:   binary.LittleEndian.Uint64(x),
				w:   math.Float32frombits(binary.LittleEndian.Uint32(x[8:])),
				idf: math.Float32frombits(binary.LittleEndian.Uint32(x[12:])),
			}
		}
		dst = dst[n:]
	}
	return nil
}

// refs fills dst with encoded item terms, each entry below limit.
func (sr *snapReader) refs(dst []termRef, limit int64) error {
	for len(dst) > 0 {
		n := min(len(dst), snapBuf/refSize)
		b, err := sr.next(n * refSize)
		if err != nil {
			return err
		}
		for i := range dst[:n] {
			x := b[i*refSize : (i+1)*refSize]
			dst[i] = termRef{
				e:   int32(binary.LittleEndian.Uint32(x)),
				w:   math.Float32frombits(binary.LittleEndian.Uint32(x[4:])),
				idf: math.Float32frombits(binary.LittleEndian.Uint32(x[8:])),
			}
			if dst[i].e < 0 || int64(dst[i].e) >= limit {
				return corrupt("item term of entry %d out of range", dst[i].e)
			}
		}
		dst = dst[n:]
	}
	return nil
}

// slots fills dst with slot numbers, each below limit.
func (sr *snapReader) slots(dst []int32, limit int64) error {
	for len(dst) > 0 {
		n := min(len(dst), snapBuf/4)
		b, err := sr.next(n * 4)
		if err != nil {
			return err
		}
		for i := range dst[:n] {
			v := int32(binary.LittleEndian.Uint32(b[i*4:]))
			if v < 0 || int64(v) >= limit {
				return corrupt("slot %d out of range", v)
			}
			dst[i] = v
		}
		dst = dst[n:]
	}
	return nil
}

// str reads n bytes as one string.
func (sr *snapReader) str(n int) (string, error) {
	var sb strings.Builder
	sb.Grow(n)
	for n > 0 {
		k := min(n, snapBuf)
		b, err := sr.next(k)
		if err != nil {
			return "", err
		}
		sb.Write(b)
		n -= k
	}
	return sb.String(), nil
}

// strings reads the concatenated strings of lengths lens (skipping
// negative ones) and passes each to set, cut from shared strings of some
// 64 KiB rather than allocated one by one.
func (sr *snapReader) strings(lens []int32, set func(i int, s string)) error {
	for lo := 0; lo < len(lens); {
		hi, n := lo, 0
		for ; hi < len(lens) && n < 1<<16; hi++ {
			n += int(max(0, lens[hi]))
		}
		block, err := sr.str(n)
		if err != nil {
			return err
		}
		off := 0
		for i := lo; i < hi; i++ {
			if lens[i] >= 0 {
				set(i, block[off:off+int(lens[i])])
				off += int(lens[i])
			}
		}
		lo = hi
	}
	return nil
}

func corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrSnapshotCorrupt, fmt.Sprintf(format, args...))
}

// budget counts down what the header announced, so that damaged lengths
// can neither allocate nor read more than it.
func budget(left *int64, n uint32, what string) (int, error) {
	if int64(n) > *left {
		return 0, corrupt("more %s than announced", what)
	}
	*left -= int64(n)
	return int(n), nil
}

// pageSize is the smallest page size of the platforms Go runs on.
const pageSize = 4096

// touched writes to one element of every page of s (elements of size
// bytes, no pointers), so that the pages are mapped now, and returns s.
func touched[T any](s []T, size int) []T {
	var zero T
	for i := 0; i < len(s); i += max(1, pageSize/size) {
		s[i] = zero
	}
	return s
}

// blocks hands out slices carved from shared blocks of slabBlock
// elements, capacity clipped so that an append never reaches a
// neighbour. A goroutine allocates blocks ahead and maps their pages
// (see read); when it has none ready, take allocates one itself, so both
// cores share the work. stop ends the goroutine and waits for it.
type blocks[T any] struct {
	ready chan []T
	done  chan struct{}
	wg    sync.WaitGroup
	free  []T
}

func newBlocks[T any](size int) *blocks[T] {
	b := &blocks[T]{ready: make(chan []T, 16), done: make(chan struct{})}
	b.wg.Go(func() {
		for {
			select {
			case b.ready <- touched(make([]T, slabBlock), size):
			case <-b.done:
				return
			}
		}
	})
	return b
}

func (b *blocks[T]) take(n int) []T {
	if n > len(b.free) {
		if n > slabBlock/4 {
			return make([]T, n)
		}
		select {
		case b.free = <-b.ready:
		default:
			b.free = make([]T, slabBlock)
		}
	}
	out := b.free[:n:n]
	b.free = b.free[n:]
	return out
}

func (b *blocks[T]) stop() {
	close(b.done)
	b.wg.Wait()
}
