package storage_test

import (
	"errors"
	"path/filepath"
	"testing"

	"aggregator"
	"aggregator/storage"
)

// TestImportKilled: an import that stops half way (here its producer
// fails after a chunk's worth of records, as a killed process would stop
// at any point) leaves a file that Open, read-only or not, refuses with
// ErrIncompleteImport, and the finished import of the same dump into a
// fresh file opens.
func TestImportKilled(t *testing.T) {
	src := mustOpenDB(t)
	real := realItems(t, "x", t0)
	for _, feed := range []string{"a", "b", "c"} {
		mustSave(t, src, feed, synthItems(real, feed, 2000, t0))
	}
	var recs []aggregator.DumpRecord
	if err := src.Export(t.Context(), func(r aggregator.DumpRecord) error {
		recs = append(recs, r)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(recs) < 5000 {
		t.Fatalf("%d records exported, want more than one import chunk", len(recs))
	}

	path := filepath.Join(t.TempDir(), "half.db")
	db, err := storage.Open(path, storage.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	killed := errors.New("killed")
	err = db.Import(t.Context(), func(put func(aggregator.DumpRecord) error) error {
		for _, r := range recs[:5000] {
			if err := put(r); err != nil {
				return err
			}
		}
		return killed
	})
	if !errors.Is(err, killed) {
		t.Fatalf("import: %v, want %v", err, killed)
	}
	if s, err := db.Stats(t.Context()); err != nil || s.Items == 0 {
		t.Fatalf("stats after a half import: %+v, %v; want part of the dump stored (a chunk was written)", s, err)
	}
	if err := db.Import(t.Context(), func(func(aggregator.DumpRecord) error) error { return nil }); !errors.Is(err, storage.ErrIncompleteImport) {
		t.Errorf("import again into the same file: %v, want ErrIncompleteImport", err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	for _, ro := range []bool{false, true} {
		db, err := storage.Open(path, storage.Options{ReadOnly: ro})
		if err == nil {
			db.Close()
		}
		if !errors.Is(err, storage.ErrIncompleteImport) {
			t.Errorf("open (read-only %v) after a half import: %v, want ErrIncompleteImport", ro, err)
		}
	}

	whole := mustOpenDB(t)
	if err := whole.Import(t.Context(), func(put func(aggregator.DumpRecord) error) error {
		for _, r := range recs {
			if err := put(r); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if s, err := whole.Stats(t.Context()); err != nil || s.Items != 6000 || s.Feeds != 3 {
		t.Errorf("stats after a whole import: %+v, %v; want 6000 items, 3 feeds", s, err)
	}
}

// TestImportPutErrorSticks: a producer that ignores put's error does not
// get an import that looks finished.
func TestImportPutErrorSticks(t *testing.T) {
	db := mustOpenDB(t)
	err := db.Import(t.Context(), func(put func(aggregator.DumpRecord) error) error {
		put(aggregator.DumpRecord{Meta: &aggregator.DumpMeta{}})
		put(aggregator.DumpRecord{Meta: &aggregator.DumpMeta{}}) // a second Meta: refused
		put(aggregator.DumpRecord{Feed: &aggregator.FeedState{Name: "ok"}})
		return nil
	})
	if err == nil {
		t.Fatal("import of a refused record succeeded")
	}
	if err := db.Import(t.Context(), func(func(aggregator.DumpRecord) error) error { return nil }); !errors.Is(err, storage.ErrIncompleteImport) {
		t.Errorf("import again: %v, want ErrIncompleteImport", err)
	}
}
