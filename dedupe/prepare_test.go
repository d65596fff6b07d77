package dedupe_test

import (
	"reflect"
	"sync"
	"testing"

	"aggregator"
	"aggregator/dedupe"
)

// TestPreparedAddsLikeAdd prepares items concurrently and adds them in
// order: every decision must be the one Add makes, restores included.
func TestPreparedAddsLikeAdd(t *testing.T) {
	items := devItems(t, "dev-rich.jsonl", 600)
	var opts dedupe.Options
	prepared := make([]dedupe.Prepared, len(items))
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := w; i < len(items); i += 4 {
				prepared[i] = dedupe.Prepare(opts, items[i])
			}
		})
	}
	wg.Wait()

	plain, prep := dedupe.New(opts), dedupe.New(opts)
	var ms []aggregator.Membership
	for i, it := range items {
		m1, r1 := plain.Add(it)
		m2, r2 := prep.AddPrepared(prepared[i])
		if !reflect.DeepEqual(m1, m2) || r1 != r2 {
			t.Fatalf("item %d: Add gave %+v rep %s, AddPrepared %+v rep %s", i, m1, r1, m2, r2)
		}
		ms = append(ms, m1)
	}

	// Restoring prepared items rebuilds the same state as Restore.
	a, b := dedupe.New(opts), dedupe.New(opts)
	half := len(items) / 2
	for i := range half {
		a.Restore(items[i], ms[i])
		b.RestorePrepared(prepared[i], ms[i])
	}
	for _, it := range items[half:] {
		m1, r1 := a.Add(it)
		m2, r2 := b.Add(it)
		if !reflect.DeepEqual(m1, m2) || r1 != r2 {
			t.Fatalf("after restore: %+v/%s vs %+v/%s", m1, r1, m2, r2)
		}
	}

	// Prepared for other options: still decided with the index's own.
	other := dedupe.Prepare(dedupe.Options{Threshold: 0.5}, items[0])
	m1, _ := dedupe.New(opts).Add(items[0])
	m2, _ := dedupe.New(opts).AddPrepared(other)
	if !reflect.DeepEqual(m1, m2) {
		t.Errorf("mismatched options: %+v vs %+v", m1, m2)
	}
}
