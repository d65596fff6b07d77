package dedupe

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"

	"aggregator/dedupe/score"
	"aggregator/internal/shareddata"
)

// TestSnapshotState checks that a loaded index holds exactly the state of
// the index written, table by table, free slots and statistics included
// (the black-box TestSnapshotRoundTrip checks the decisions).
func TestSnapshotState(t *testing.T) {
	for _, set := range []string{"dev.jsonl", "dev-rich.jsonl"} {
		t.Run(set, func(t *testing.T) {
			f, err := os.Open(filepath.Join(shareddata.TestDir(t), "dedupe", set))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			items, err := score.Load(f)
			if err != nil {
				t.Fatal(err)
			}
			ix := New(Options{Window: 36 * time.Hour})
			for i, it := range items {
				ix.Add(it.Feed())
				if i%100 == 99 {
					ix.Expire(it.Feed().Time())
				}
			}
			if len(ix.free) == 0 || len(ix.cfree) == 0 || len(ix.tfree) == 0 {
				t.Fatalf("free lists %d, %d, %d: want all three in use", len(ix.free), len(ix.cfree), len(ix.tfree))
			}
			var buf bytes.Buffer
			if err := ix.WriteSnapshot(&buf); err != nil {
				t.Fatal(err)
			}
			got, err := ReadSnapshot(&buf, ix.opts)
			if err != nil {
				t.Fatal(err)
			}
			if err := sameState(got, ix); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// sameState compares the state of two indexes, all but scratch space.
// Empty and nil posting lists are the same (both mean none).
func sameState(a, b *Index) error {
	post := func(ix *Index) []termEntry {
		out := slices.Clone(ix.tents)
		for i := range out {
			if len(out[i].post) == 0 {
				out[i].post = nil
			}
		}
		return out
	}
	for _, x := range []struct {
		name string
		a, b any
	}{
		{"opts", a.opts, b.opts},
		{"items", a.items, b.items},
		{"free", a.free, b.free},
		{"byID", a.byID, b.byID},
		{"live", a.live, b.live},
		{"total", a.total, b.total},
		{"clusters", a.clusters, b.clusters},
		{"cfree", a.cfree, b.cfree},
		{"byCID", a.byCID, b.byCID},
		{"terms", a.terms, b.terms},
		{"tents", post(a), post(b)},
		{"tfree", a.tfree, b.tfree},
		{"tmpl", a.tmpl, b.tmpl},
		{"exact", a.exact, b.exact},
		{"len(acc)", len(a.acc), len(b.acc)},
	} {
		if !reflect.DeepEqual(x.a, x.b) {
			return fmt.Errorf("%s differ", x.name)
		}
	}
	return nil
}

// TestSnapshotOptionFields: the snapshot header encodes every field of
// Options; a new field needs encoding, and a new format version.
func TestSnapshotOptionFields(t *testing.T) {
	if n := reflect.TypeFor[Options]().NumField(); n != optionFields {
		t.Fatalf("Options has %d fields, the snapshot encodes %d: update appendOptions and snapshotVersion", n, optionFields)
	}
	o := Options{}.withDefaults()
	if got := decodeOptions(appendOptions(nil, o)); got != o {
		t.Fatalf("options round trip: got %+v, want %+v", got, o)
	}
}
