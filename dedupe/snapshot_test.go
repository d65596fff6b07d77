package dedupe_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"testing/iotest"
	"time"

	"aggregator/dedupe"
)

// writeSnapshot writes ix to a file in a temporary directory and returns
// the file's contents.
func writeSnapshot(t testing.TB, ix *dedupe.Index) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "index.snap")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := ix.WriteSnapshot(f); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func mustReadSnapshot(t testing.TB, path string, opts dedupe.Options) *dedupe.Index {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ix, err := dedupe.ReadSnapshot(f, opts)
	if err != nil {
		t.Fatalf("read snapshot: %v", err)
	}
	return ix
}

// TestSnapshotRoundTrip snapshots an index part-way through a stream,
// loads it, and feeds the rest of the stream to both: every membership,
// representative and explanation must be the same, and so must the
// snapshots of both at the end, byte for byte.
func TestSnapshotRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		set  string
		opts dedupe.Options
		// expireEvery calls Expire every so many items on both indexes,
		// and once before the snapshot, so that it holds free slots.
		expireEvery int
		cut         float64 // fraction of the stream before the snapshot
	}{
		{name: "headlines", set: "dev.jsonl", cut: 0.5},
		{name: "title+lead", set: "dev-rich.jsonl", cut: 0.5},
		// The title+lead set spans eleven years.
		{name: "title+lead, 90-day window, expiring", set: "dev-rich.jsonl", cut: 0.6,
			opts: dedupe.Options{Window: 90 * 24 * time.Hour}, expireEvery: 50},
		{name: "headlines, 12h window, expiring", set: "dev.jsonl", cut: 0.5,
			opts: dedupe.Options{Window: 12 * time.Hour}, expireEvery: 200},
		{name: "other options", set: "dev-rich.jsonl", cut: 0.5,
			opts: dedupe.Options{Threshold: 0.2, CentroidTerms: 16, PostTerms: 8, Candidates: 3}},
		{name: "empty index", set: "dev.jsonl", cut: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			items := devItems(t, tt.set, 1<<30)
			k := int(float64(len(items)) * tt.cut)
			// A daemon expires at the current time: here, the time of the
			// item just added.
			step := func(ix *dedupe.Index, i int) {
				if tt.expireEvery > 0 && i%tt.expireEvery == tt.expireEvery-1 {
					ix.Expire(items[i].Time())
				}
			}
			ref := dedupe.New(tt.opts)
			for i, it := range items[:k] {
				ref.Add(it)
				step(ref, i)
			}
			if tt.expireEvery > 0 && k > 0 {
				ref.Expire(items[k-1].Time())
			}
			data := writeSnapshot(t, ref)
			path := filepath.Join(t.TempDir(), "index.snap")
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}
			got := mustReadSnapshot(t, path, tt.opts)
			if got.Len() != ref.Len() || got.Options() != ref.Options() {
				t.Fatalf("got Len %d, options %+v; want %d, %+v", got.Len(), got.Options(), ref.Len(), ref.Options())
			}
			if again := writeSnapshot(t, got); !bytes.Equal(again, data) {
				t.Fatalf("snapshot of the loaded index differs (%d bytes, want %d)", len(again), len(data))
			}
			t.Logf("%d items in the snapshot, %d bytes", ref.Len(), len(data))

			for i, it := range items[k:] {
				m1, r1 := ref.Add(it)
				m2, r2 := got.Add(it)
				if !reflect.DeepEqual(m1, m2) || r1 != r2 {
					t.Fatalf("item %d: after the snapshot got %+v rep %s; want %+v rep %s", k+i, m2, r2, m1, r1)
				}
				if i%25 == 0 && i > 0 {
					a := items[k+i-1]
					if e1, e2 := ref.Explain(a, it), got.Explain(a, it); !reflect.DeepEqual(e1, e2) {
						t.Fatalf("item %d: got explanation\n%v\nwant\n%v", k+i, e2, e1)
					}
				}
				step(ref, k+i)
				step(got, k+i)
			}
			if a, b := writeSnapshot(t, ref), writeSnapshot(t, got); !bytes.Equal(a, b) {
				t.Fatalf("final snapshots differ: %d and %d bytes", len(a), len(b))
			}
			// Items already in the index are known to both.
			for _, it := range items[max(0, k-20):k] {
				m1, r1 := ref.Add(it)
				m2, r2 := got.Add(it)
				if !reflect.DeepEqual(m1, m2) || r1 != r2 {
					t.Fatalf("known item %s: got %+v rep %s; want %+v rep %s", it.ID, m2, r2, m1, r1)
				}
			}
		})
	}
}

// smallSnapshot is the snapshot of an index of some hundred title+lead
// items with some expired, so that every section is present.
func smallSnapshot(t testing.TB) []byte {
	t.Helper()
	items := devItems(t, "dev-rich.jsonl", 120)
	ix := dedupe.New(dedupe.Options{Window: 24 * time.Hour})
	for _, it := range items {
		ix.Add(it)
	}
	ix.Expire(items[len(items)-1].Time())
	var buf bytes.Buffer
	if err := ix.WriteSnapshot(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// snapshotHeader is the size of the header of format versions 2 and 3.
const snapshotHeader = 8 + 4 + 19*8 + 8 + 16*8 + 4

func TestReadSnapshotErrors(t *testing.T) {
	data := smallSnapshot(t)
	opts := dedupe.Options{Window: 24 * time.Hour}
	with := func(off int, b ...byte) []byte {
		out := bytes.Clone(data)
		copy(out[off:], b)
		return out
	}
	flip := func(off int) []byte { return with(off, data[off]^0x20) }
	errBoom := errors.New("boom")
	tests := []struct {
		name string
		in   []byte
		opts dedupe.Options
		want error // nil: success
	}{
		{name: "intact", in: data, opts: opts},
		{name: "defaults spelled out", in: data, opts: dedupe.Options{Window: 24 * time.Hour, Threshold: 0.11, PostTerms: 16}},
		{name: "trailing data ignored", in: append(bytes.Clone(data), "junk"...), opts: opts},
		{name: "empty", in: nil, opts: opts, want: dedupe.ErrSnapshotCorrupt},
		{name: "not a snapshot", in: []byte("{\"items\": []}\n...................."), opts: opts, want: dedupe.ErrSnapshotCorrupt},
		{name: "magic only", in: data[:8], opts: opts, want: dedupe.ErrSnapshotCorrupt},
		{name: "header cut", in: data[:snapshotHeader-1], opts: opts, want: dedupe.ErrSnapshotCorrupt},
		{name: "header only", in: data[:snapshotHeader], opts: opts, want: dedupe.ErrSnapshotCorrupt},
		{name: "half", in: data[:len(data)/2], opts: opts, want: dedupe.ErrSnapshotCorrupt},
		{name: "checksum cut", in: data[:len(data)-1], opts: opts, want: dedupe.ErrSnapshotCorrupt},
		{name: "other version", in: with(8, 1, 0, 0, 0), opts: opts, want: dedupe.ErrSnapshotVersion},
		{name: "format 2 (item terms by hash)", in: with(8, 2, 0, 0, 0), opts: opts, want: dedupe.ErrSnapshotVersion},
		{name: "other options", in: data, opts: dedupe.Options{Window: 24 * time.Hour, Threshold: 0.2}, want: dedupe.ErrSnapshotOptions},
		{name: "default options", in: data, opts: dedupe.Options{}, want: dedupe.ErrSnapshotOptions},
		{name: "options damaged", in: flip(20), opts: opts, want: dedupe.ErrSnapshotCorrupt},
		{name: "counts damaged", in: flip(snapshotHeader - 10), opts: opts, want: dedupe.ErrSnapshotCorrupt},
		{name: "first item damaged", in: flip(snapshotHeader + 2), opts: opts, want: dedupe.ErrSnapshotCorrupt},
		{name: "payload damaged", in: flip(len(data) / 2), opts: opts, want: dedupe.ErrSnapshotCorrupt},
		{name: "checksum damaged", in: flip(len(data) - 2), opts: opts, want: dedupe.ErrSnapshotCorrupt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ix, err := dedupe.ReadSnapshot(bytes.NewReader(tt.in), tt.opts)
			if tt.want == nil {
				if err != nil || ix == nil {
					t.Fatalf("got %v, want an index", err)
				}
				return
			}
			if !errors.Is(err, tt.want) || ix != nil {
				t.Fatalf("got index %v, error %v; want error %v", ix != nil, err, tt.want)
			}
		})
	}
	t.Run("read error", func(t *testing.T) {
		r := &failAfter{data: data[:len(data)/2], err: errBoom}
		if _, err := dedupe.ReadSnapshot(r, opts); !errors.Is(err, errBoom) || errors.Is(err, dedupe.ErrSnapshotCorrupt) {
			t.Fatalf("got %v, want %v wrapped", err, errBoom)
		}
	})
}

// failAfter reads data, then fails with err.
type failAfter struct {
	data []byte
	err  error
}

func (m *failAfter) Read(p []byte) (int, error) {
	if len(m.data) == 0 {
		return 0, m.err
	}
	n := copy(p, m.data)
	m.data = m.data[n:]
	return n, nil
}

// TestReadSnapshotDamage damages a snapshot at every few bytes, by
// flipping a bit or cutting it short: every one must be refused, none
// may panic.
func TestReadSnapshotDamage(t *testing.T) {
	data := smallSnapshot(t)
	opts := dedupe.Options{Window: 24 * time.Hour}
	stride := max(1, len(data)/400)
	for off := 0; off < len(data); off += stride {
		bad := bytes.Clone(data)
		bad[off] ^= 1 << (off % 8)
		if _, err := dedupe.ReadSnapshot(bytes.NewReader(bad), opts); err == nil {
			t.Fatalf("bit %d of byte %d flipped: no error", off%8, off)
		}
		if _, err := dedupe.ReadSnapshot(iotest.HalfReader(bytes.NewReader(data[:off])), opts); !errors.Is(err, dedupe.ErrSnapshotCorrupt) {
			t.Fatalf("cut at %d of %d bytes: got %v, want ErrSnapshotCorrupt", off, len(data), err)
		}
	}
}

// FuzzReadSnapshot: no input makes ReadSnapshot panic, and an input it
// accepts is a snapshot that writing the index reproduces.
func FuzzReadSnapshot(f *testing.F) {
	data := smallSnapshot(f)
	f.Add(data)
	f.Add(data[:len(data)/3])
	f.Add(data[:200])
	var empty bytes.Buffer
	if err := dedupe.New(dedupe.Options{Window: 24 * time.Hour}).WriteSnapshot(&empty); err != nil {
		f.Fatal(err)
	}
	f.Add(empty.Bytes())
	it := devItems(f, "dev-rich.jsonl", 1)[0]
	f.Fuzz(func(t *testing.T, in []byte) {
		ix, err := dedupe.ReadSnapshot(bytes.NewReader(in), dedupe.Options{Window: 24 * time.Hour})
		if err != nil {
			return
		}
		var out bytes.Buffer
		if err := ix.WriteSnapshot(&out); err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(in, out.Bytes()) {
			t.Fatalf("accepted %d bytes that do not start with their own snapshot", len(in))
		}
		it.ID += "-fuzz"
		ix.Add(it)
		ix.Expire(it.Time().Add(48 * time.Hour))
	})
}
