package dedupe_test

import (
	"cmp"
	"reflect"
	"slices"
	"testing"
	"time"

	"aggregator"
	"aggregator/dedupe"
)

// TestRestoreBatch restarts an index part-way through a stream: the
// decisions of the first items are restored with RestoreBatch in chunks,
// the rest are added, and every later decision must be the one the
// never-restarted index made (items restored in the order they were
// added) or the one sequential Restore gives (any other order).
func TestRestoreBatch(t *testing.T) {
	tests := []struct {
		name  string
		set   string
		n     int // items in the stream (all: 0)
		chunk int // items per RestoreBatch
		// stored restores in storage's (Time, ID) order instead of the
		// order the items were added.
		stored bool
		// prepOpts are the options items are prepared with (the index
		// uses the defaults).
		prepOpts dedupe.Options
		// again restores the first chunk a second time at the end: items
		// already in the index are skipped.
		again bool
		// expire calls Expire before adding the rest, an hour after the
		// newest restored item, with a 24-hour window (the never-restarted
		// index expires at the same point).
		expire bool
	}{
		{name: "headlines, chunks of 4096", set: "dev.jsonl", chunk: 4096},
		{name: "headlines, chunks of 7", set: "dev.jsonl", n: 3000, chunk: 7},
		{name: "title+lead, one chunk", set: "dev-rich.jsonl", chunk: 1 << 20},
		{name: "title+lead, chunks of 1", set: "dev-rich.jsonl", chunk: 1},
		{name: "title+lead, chunks of 100", set: "dev-rich.jsonl", chunk: 100},
		{name: "title+lead, restored twice", set: "dev-rich.jsonl", chunk: 64, again: true},
		{name: "title+lead, prepared with other options", set: "dev-rich.jsonl", chunk: 64,
			prepOpts: dedupe.Options{Threshold: 0.5, CentroidTerms: 8}},
		{name: "headlines, storage order", set: "dev.jsonl", chunk: 500, stored: true},
		{name: "title+lead, storage order", set: "dev-rich.jsonl", chunk: 500, stored: true},
		{name: "title+lead, expired after restore", set: "dev-rich.jsonl", chunk: 100, expire: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := tt.n
			if n == 0 {
				n = 1 << 30
			}
			items := devItems(t, tt.set, n)
			opts := dedupe.Options{}
			if tt.expire {
				opts.Window = 24 * time.Hour
			}
			k := len(items) * 2 / 3
			cut := items[0].Time()
			for _, it := range items[:k] {
				if it.Time().After(cut) {
					cut = it.Time()
				}
			}
			cut = cut.Add(time.Hour)
			ref := dedupe.New(opts)
			whole := addAll(ref, items[:k])
			if tt.expire {
				ref.Expire(cut)
			}
			whole = append(whole, addAll(ref, items[k:])...)
			restored := make([]int, k) // indexes into items, in restore order
			for i := range restored {
				restored[i] = i
			}
			if tt.stored {
				slices.SortFunc(restored, func(a, b int) int {
					return cmp.Or(items[a].Time().Compare(items[b].Time()), cmp.Compare(items[a].ID, items[b].ID))
				})
			}

			batch, each := dedupe.New(opts), dedupe.New(opts)
			p := dedupe.NewPreparer(tt.prepOpts)
			restore := func(idx []int) {
				ps := make([]dedupe.Prepared, len(idx))
				ms := make([]aggregator.Membership, len(idx))
				for j, i := range idx {
					ps[j], ms[j] = p.Prepare(items[i]), whole[i].m
					each.Restore(items[i], whole[i].m)
				}
				batch.RestoreBatch(ps, ms)
			}
			for lo := 0; lo < k; lo += tt.chunk {
				restore(restored[lo:min(lo+tt.chunk, k)])
			}
			if tt.again {
				restore(restored[:min(tt.chunk, k)])
			}
			if batch.Len() != k {
				t.Fatalf("got Len %d after restoring, want %d", batch.Len(), k)
			}
			if tt.expire {
				batch.Expire(cut)
				each.Expire(cut)
				if batch.Len() != each.Len() {
					t.Fatalf("got Len %d after Expire, want %d", batch.Len(), each.Len())
				}
			}

			differ := 0
			for i, it := range items[k:] {
				m1, r1 := batch.Add(it)
				m2, r2 := each.Add(it)
				if !reflect.DeepEqual(m1, m2) || r1 != r2 {
					t.Fatalf("item %d: after RestoreBatch got %+v rep %s; after Restore %+v rep %s", k+i, m1, r1, m2, r2)
				}
				if want := whole[k+i]; !reflect.DeepEqual(m1, want.m) || r1 != want.rep {
					differ++
					if !tt.stored {
						t.Fatalf("item %d after restart: got %+v rep %s, want %+v rep %s", k+i, m1, r1, want.m, want.rep)
					}
				}
			}
			if tt.stored {
				t.Logf("%d of %d later decisions differ from the never-restarted index", differ, len(items)-k)
			}
		})
	}
}
