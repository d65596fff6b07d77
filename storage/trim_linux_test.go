package storage

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"aggregator"
)

// TestTrimMappedKeepsData: after a write, the file's pages are no longer
// resident in the process, and everything reads back the same, also
// through slices a transaction took before the trim.
func TestTrimMappedKeepsData(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "t.db")
	db, err := Open(path, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// The periodic trimmer could drop the pages this test reads between
	// its read and its look at them; the trims of writes and reads are
	// what is tested here.
	db.stopTrim()
	start := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	var items []aggregator.Item
	for i := range 3000 {
		it := aggregator.Item{GUID: fmt.Sprintf("g%d", i), Title: fmt.Sprintf("Story number %d", i),
			Summary: strings.Repeat("words of a lead ", 20), Published: start.Add(time.Duration(i) * time.Minute), FirstSeen: start}
		it.Normalize("f")
		items = append(items, it)
	}
	if _, err := db.SaveFetch(ctx, aggregator.FeedState{Name: "f", URL: "http://127.0.0.1/f"}, items); err != nil {
		t.Fatal(err)
	}
	if rss := mappedRSS(t, path); rss != 0 {
		t.Errorf("after a write, %d kB of the file resident; want 0", rss)
	}
	err = db.bolt.View(func(tx *bolt.Tx) error {
		var held [][]byte // slices into the mapping
		var copies [][]byte
		c := tx.Bucket(bucketItemTime).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			held, copies = append(held, v), append(copies, bytes.Clone(v))
		}
		if len(held) != len(items) {
			t.Fatalf("read %d items, want %d", len(held), len(items))
		}
		if rss := mappedRSS(t, path); rss == 0 {
			t.Error("reading every item left none of the file resident")
		}
		db.trimMapped() // a second read transaction beside this one
		if rss := mappedRSS(t, path); rss != 0 {
			t.Errorf("after the trim, %d kB of the file resident; want 0", rss)
		}
		for i := range held {
			if !bytes.Equal(held[i], copies[i]) {
				t.Fatalf("value %d changed under the trim", i)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got := 0
	if err := db.Recent(ctx, start.Add(-time.Hour), func(it aggregator.Item, _ aggregator.Membership) error { got++; return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Pending(ctx, 0); err != nil {
		t.Fatal(err)
	}
}

// mappedRSS is the resident size in kB of the process's mappings of path
// (from /proc/self/smaps).
func mappedRSS(t *testing.T, path string) int {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Skip(err)
	}
	defer f.Close()
	sum, in := 0, false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := sc.Text()
		if fields := strings.Fields(l); len(fields) >= 5 && strings.Contains(fields[0], "-") && !strings.HasSuffix(fields[0], ":") {
			in = len(fields) >= 6 && fields[5] == path
			continue
		}
		if rest, ok := strings.CutPrefix(l, "Rss:"); ok && in {
			kb, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			if err != nil {
				t.Fatal(err)
			}
			sum += kb
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return sum
}

// TestTrimDuringLongWrite: the periodic trimmer keeps trimming while one
// write transaction goes on, not only once after it began.
func TestTrimDuringLongWrite(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "t.db")
	db, err := Open(path, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	start := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	var items []aggregator.Item
	for i := range 3000 {
		it := aggregator.Item{GUID: fmt.Sprintf("g%d", i), Title: fmt.Sprintf("Story number %d", i),
			Summary: strings.Repeat("words of a lead ", 20), Published: start.Add(time.Duration(i) * time.Minute), FirstSeen: start}
		it.Normalize("f")
		items = append(items, it)
	}
	if _, err := db.SaveFetch(ctx, aggregator.FeedState{Name: "f", URL: "http://127.0.0.1/f"}, items); err != nil {
		t.Fatal(err)
	}
	err = db.update(ctx, func(tx *bolt.Tx) error {
		// Two rounds: the first trim may be the one owed to the
		// transaction's start; the second is owed to it being open.
		for round := range 2 {
			n := 0
			c := tx.Bucket(bucketItemTime).Cursor()
			for k, v := c.First(); k != nil; k, v = c.Next() {
				n += len(v)
			}
			if n == 0 {
				t.Fatal("read no items")
			}
			wait := max(20*trimEvery, 2*time.Second)
			deadline := time.Now().Add(wait)
			for mappedRSS(t, path) != 0 {
				if time.Now().After(deadline) {
					t.Fatalf("round %d: %d kB of the file still resident after %s inside one write", round, mappedRSS(t, path), wait)
				}
				time.Sleep(trimEvery / 5)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
