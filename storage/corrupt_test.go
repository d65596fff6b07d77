package storage_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"aggregator"
	"aggregator/storage"
)

// cleanDB writes a database of 120 items in four feeds, half of
// them clustered in pairs and logged, closes it and returns its path and
// its content as dump reads it.
func cleanDB(t *testing.T) (string, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "clean.db")
	db, err := storage.Open(path, storage.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	real := realItems(t, "x", t0)
	var all []aggregator.Item
	for f := range 4 {
		name := fmt.Sprintf("feed%d", f)
		items := synthItems(real, name, 30, t0.Add(time.Duration(f)*time.Second))
		mustSave(t, db, name, items)
		all = append(all, items...)
	}
	var ms []aggregator.Membership
	for i, it := range all[:len(all)/2] {
		ms = append(ms, aggregator.Membership{Item: it.ID, Cluster: fmt.Sprintf("c%04d", i/2), Reason: aggregator.ReasonTitle})
	}
	if err := db.SaveDecisions(t.Context(), aggregator.Decisions{Memberships: ms, Now: t0}); err != nil {
		t.Fatal(err)
	}
	want, err := dump(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return path, want
}

// dump reads everything a reader of the database can: feed states,
// stories with their members, every item with its membership, the
// pending items and the cluster log, as JSON.
func dump(ctx context.Context, db *storage.DB) (string, error) {
	var out struct {
		Feeds   map[string]aggregator.FeedState
		Stories []aggregator.Story
		Recent  []any
		Pending []aggregator.Item
		Log     []aggregator.LogRecord
		Stats   storage.Stats
	}
	var err error
	if out.Feeds, err = db.FeedStates(ctx); err != nil {
		return "", err
	}
	if out.Stories, err = db.Stories(ctx, storage.StoryQuery{}); err != nil {
		return "", err
	}
	err = db.Recent(ctx, time.Time{}, func(it aggregator.Item, m aggregator.Membership) error {
		out.Recent = append(out.Recent, it, m)
		return nil
	})
	if err != nil {
		return "", err
	}
	if out.Pending, err = db.Pending(ctx, 0); err != nil {
		return "", err
	}
	err = db.ClusterLog(ctx, 0, func(r aggregator.LogRecord) error {
		out.Log = append(out.Log, r)
		return nil
	})
	if err != nil {
		return "", err
	}
	if out.Stats, err = db.Stats(ctx); err != nil {
		return "", err
	}
	out.Stats.Size = 0 // a write may grow it
	b, err := json.Marshal(out)
	return string(b), err
}

// checkCorrupt fails unless err is a damage report naming path and what
// to do.
func checkCorrupt(t *testing.T, err error, path string) {
	t.Helper()
	var ce *storage.CorruptError
	if !errors.Is(err, storage.ErrCorrupt) || !errors.As(err, &ce) || ce.Path != path {
		t.Fatalf("got error %v, want a *CorruptError for %s wrapping ErrCorrupt", err, path)
	}
	if msg := err.Error(); !strings.Contains(msg, path) || !strings.Contains(msg, "restore the file from a backup") {
		t.Fatalf("message %q does not name %s and what to do", msg, path)
	}
}

// useDamaged opens a damaged copy, reads everything and writes once. It
// returns the first error, which must report the damage, or the content
// read when every call succeeded.
func useDamaged(t *testing.T, path string) (string, error) {
	t.Helper()
	db, err := storage.Open(path, storage.Options{NoSync: true})
	if errors.Is(err, storage.ErrSchema) {
		return "", err // a flipped version number or meta bucket name: refused, with its reason
	}
	if err != nil {
		checkCorrupt(t, err, path)
		return "", err
	}
	defer db.Close()
	got, err := dump(t.Context(), db)
	if err == nil {
		it := aggregator.Item{GUID: "urn:after", Title: "Written after the damage", FirstSeen: t0, Published: t0}
		it.Normalize("feed0")
		_, err = db.SaveFetch(t.Context(), aggregator.FeedState{Name: "feed0", URL: "http://127.0.0.1/feed0"}, []aggregator.Item{it})
	}
	if err != nil {
		checkCorrupt(t, err, path)
	}
	return got, err
}

func copyDB(t *testing.T, from string, edit func([]byte) []byte) string {
	t.Helper()
	raw, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	to := filepath.Join(t.TempDir(), "damaged.db")
	if err := os.WriteFile(to, edit(raw), 0o600); err != nil {
		t.Fatal(err)
	}
	return to
}

// TestTruncatedFile: a file cut short (a failed copy, a full disk while
// restoring) is reported at Open, naming the file and what to do, never a
// panic or a fault; cutting only the unused tail bbolt grew ahead changes
// nothing.
func TestTruncatedFile(t *testing.T) {
	clean, want := cleanDB(t)
	fi, err := os.Stat(clean)
	if err != nil {
		t.Fatal(err)
	}
	size, page := int(fi.Size()), os.Getpagesize()
	for _, n := range []int{100, page, 2*page + 1, size / 4, size / 2, size - 4*page, size - page} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			path := copyDB(t, clean, func(b []byte) []byte { return b[:n] })
			got, err := useDamaged(t, path)
			if err == nil && got != want {
				t.Fatalf("truncated to %d of %d bytes: no error, and the content differs", n, size)
			}
			t.Logf("truncated to %d of %d bytes: %v", n, size, err)
		})
	}
}

// TestBitFlips flips bits all over a closed database, one flip per copy,
// up to 800 of them drawn from: every page's header (id, flags, count,
// overflow), its element headers, and a random place in it. Each copy is
// opened, read whole and written to: an error must report the damage (a
// *CorruptError naming the file and what to do), and no flip may panic or
// fault. A flip that reads without error must leave the content as it
// was, but for a few (at most 3 of them; about 1 in 700 measured): the
// flips no checksum covers and no cross-check catches, chiefly the
// checksum of the newest meta page (bbolt then opens the previous
// transaction, as after a power cut mid-commit) and the element count of
// a cluster log page (a record lost, which only a replayed index would
// miss). See the package doc's Damage section.
func TestBitFlips(t *testing.T) {
	clean, want := cleanDB(t)
	raw, err := os.ReadFile(clean)
	if err != nil {
		t.Fatal(err)
	}
	// The pages in use: the rest is the room bbolt grew the file by.
	var used int64
	{
		db, err := storage.Open(clean, storage.Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		st, err := db.Stats(t.Context())
		db.Close()
		if err != nil {
			t.Fatal(err)
		}
		used = st.Size
	}
	page := os.Getpagesize()
	rng := rand.New(rand.NewPCG(12, 1))
	var offsets []int
	for p := 0; p < int(used); p += page {
		for _, off := range []int{0, 8, 10, 12, 16 + rng.IntN(64), rng.IntN(page)} {
			offsets = append(offsets, p+off)
		}
	}
	rng.Shuffle(len(offsets), func(i, j int) { offsets[i], offsets[j] = offsets[j], offsets[i] })
	offsets = offsets[:min(len(offsets), 800)]
	var detected, same, differ int
	raw = raw[:used] // the tail holds nothing; copies are quicker without it
	for _, off := range offsets {
		bit := byte(1) << rng.IntN(8)
		path := copyDB(t, clean, func(b []byte) []byte { b[off] ^= bit; return b })
		got, err := useDamaged(t, path)
		switch {
		case err != nil:
			detected++
		case got == want:
			same++
		default:
			differ++
		}
	}
	t.Logf("%d flips: %d reported as damage, %d harmless, %d undetected with content changed", len(offsets), detected, same, differ)
	if detected == 0 {
		t.Errorf("no flip was reported as damage")
	}
	if differ > 3 {
		t.Errorf("%d flips changed what the database reads without an error, want at most 3", differ)
	}
}

// TestStaleIndexTemps: the temporary file of an index save a killed
// process left (as large as the index) is removed by the next writer's
// Open, and the saved index itself is kept.
func TestStaleIndexTemps(t *testing.T) {
	path := filepath.Join(t.TempDir(), "test.db")
	for _, f := range []string{path + ".index.tmp123456", path + ".index"} {
		if err := os.WriteFile(f, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	db, err := storage.Open(path, storage.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := os.Stat(path + ".index.tmp123456"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the stale temporary file is still there: %v", err)
	}
	if _, err := os.Stat(path + ".index"); err != nil {
		t.Errorf("the saved index went too: %v", err)
	}
}
