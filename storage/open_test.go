package storage_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"aggregator"
	"aggregator/storage"
)

const helperEnv = "STORAGE_TEST_LOCKED_DB"

// TestHelperProcess is not a test: the lock test re-executes the test
// binary to run it as a second process that tries to open a held file.
// It exits 3 when Open failed with ErrLocked, printing the error, and 5
// when Open took far longer than its timeout.
func TestHelperProcess(t *testing.T) {
	path := os.Getenv(helperEnv)
	if path == "" {
		t.Skip("helper process only")
	}
	start := time.Now()
	db, err := storage.Open(path, storage.Options{Timeout: 300 * time.Millisecond})
	if d := time.Since(start); d > 2*time.Second {
		fmt.Printf("Open took %v with a 300ms timeout\n", d)
		os.Exit(5)
	}
	if err == nil {
		db.Close()
		fmt.Println("opened")
		os.Exit(0)
	}
	fmt.Println(err)
	if errors.Is(err, storage.ErrLocked) {
		os.Exit(3)
	}
	os.Exit(4)
}

func TestOpenLockedByAnotherProcess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "held.db")
	db, err := storage.Open(path, storage.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	run := func() (int, string, time.Duration) {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
		cmd.Env = append(os.Environ(), helperEnv+"="+path)
		start := time.Now()
		out, err := cmd.Output()
		elapsed := time.Since(start)
		var exit *exec.ExitError
		if err != nil && !errors.As(err, &exit) {
			t.Fatalf("helper: %v", err)
		}
		return cmd.ProcessState.ExitCode(), strings.TrimSpace(string(out)), elapsed
	}
	code, out, elapsed := run()
	if code != 3 {
		t.Fatalf("second process: exit %d, output %q; want ErrLocked (exit 3)", code, out)
	}
	if !strings.Contains(out, path) || !strings.Contains(out, "in use by another process") || !strings.Contains(out, "--db") {
		t.Errorf("locked message %q should name the path, the cause and what to do", out)
	}
	// The helper checks Open's own time; this bounds process start-up too,
	// loosely, as the machine may be busy.
	if elapsed > 15*time.Second {
		t.Errorf("second process took %v to give up", elapsed)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if code, out, _ := run(); code != 0 {
		t.Errorf("after Close: exit %d, output %q; want the open to succeed", code, out)
	}
}

func TestOpenLockedSameProcess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "held.db")
	db, err := storage.Open(path, storage.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, ro := range []bool{false, true} {
		start := time.Now()
		_, err := storage.Open(path, storage.Options{Timeout: 100 * time.Millisecond, ReadOnly: ro})
		if !errors.Is(err, storage.ErrLocked) {
			t.Errorf("ReadOnly=%v: got %v, want ErrLocked", ro, err)
		}
		var le *storage.LockedError
		if !errors.As(err, &le) || le.Path != path {
			t.Errorf("ReadOnly=%v: got %#v, want *LockedError for %s", ro, err, path)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("ReadOnly=%v: gave up after %v", ro, d)
		}
	}
}

func TestOpenReadOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ro.db")
	if _, err := storage.Open(path, storage.Options{ReadOnly: true}); err == nil {
		t.Error("read-only open of a missing file succeeded")
	}
	db, err := storage.Open(path, storage.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	mustSave(t, db, "f", realItems(t, "f", t0)[:3])
	db.Close()

	r1, err := storage.Open(path, storage.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r1.Close()
	r2, err := storage.Open(path, storage.Options{ReadOnly: true, Timeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatalf("second reader: %v", err)
	}
	defer r2.Close()
	if st, ok, err := r2.FeedState(context.Background(), "f"); err != nil || !ok || st.TotalItems != 3 {
		t.Errorf("FeedState via reader = %+v, %v, %v", st, ok, err)
	}
	if err := r1.PutFeedState(context.Background(), aggregator.FeedState{Name: "x"}); err == nil {
		t.Error("write through a read-only DB succeeded")
	}
}

func TestOpenMissingDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "nope")
	_, err := storage.Open(filepath.Join(dir, "a.db"), storage.Options{})
	if err == nil || !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), dir) {
		t.Errorf("got %v; want a not-exist error naming %s", err, dir)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Open created the directory")
	}
}

func TestReopenKeepsData(t *testing.T) {
	path := filepath.Join(t.TempDir(), "re.db")
	db, err := storage.Open(path, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	items := realItems(t, "f", t0)[:5]
	mustSave(t, db, "f", items)
	db.Close()
	db, err = storage.Open(path, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if db.Path() != path {
		t.Errorf("Path = %s, want %s", db.Path(), path)
	}
	if res := mustSave(t, db, "f", items); len(res.New) != 0 || res.Unchanged != 5 {
		t.Errorf("after reopen: %d new, %d unchanged; want 0, 5", len(res.New), res.Unchanged)
	}
}

// writeRawDB makes a bbolt file with the given buckets and meta schema.
func writeRawDB(t *testing.T, schema []byte, buckets ...string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "raw.db")
	bdb, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = bdb.Update(func(tx *bolt.Tx) error {
		for _, name := range buckets {
			b, err := tx.CreateBucket([]byte(name))
			if err != nil {
				return err
			}
			if name == "meta" && schema != nil {
				if err := b.Put([]byte("schema"), schema); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	bdb.Close()
	return path
}

func TestOpenSchema(t *testing.T) {
	version := func(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
	tests := []struct {
		name    string
		path    func(t *testing.T) string
		wantErr string // "" = opens
	}{
		{"empty bolt file is initialised", func(t *testing.T) string { return writeRawDB(t, nil) }, ""},
		{"current version", func(t *testing.T) string { return writeRawDB(t, version(storage.SchemaVersion), "meta") }, ""},
		{"newer version", func(t *testing.T) string { return writeRawDB(t, version(storage.SchemaVersion+1), "meta") }, "upgrade aggregator"},
		{"unknown older version", func(t *testing.T) string { return writeRawDB(t, version(0), "meta") }, "cannot migrate"},
		{"development version 1", func(t *testing.T) string { return writeRawDB(t, version(1), "meta") }, "move the file aside"},
		{"malformed version", func(t *testing.T) string { return writeRawDB(t, []byte("x"), "meta") }, "malformed"},
		{"another program's file", func(t *testing.T) string { return writeRawDB(t, nil, "widgets") }, "not an aggregator database"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := tc.path(t)
			for _, ro := range []bool{false, true} {
				db, err := storage.Open(path, storage.Options{ReadOnly: ro})
				if tc.wantErr == "" {
					if err != nil {
						t.Fatalf("ReadOnly=%v: %v", ro, err)
					}
					db.Close()
					continue
				}
				if !errors.Is(err, storage.ErrSchema) || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), path) {
					t.Errorf("ReadOnly=%v: got %v; want ErrSchema naming the file and saying %q", ro, err, tc.wantErr)
				}
			}
		})
	}
}

// TestClusterStamp checks that the stamp moves with clustering decisions
// and deletions, not with stored fetches, and differs between files.
func TestClusterStamp(t *testing.T) {
	db := mustOpenDB(t)
	stamp := func() storage.ClusterStamp {
		t.Helper()
		s, err := db.ClusterStamp(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	s0 := stamp()
	if s0.Instance == ([16]byte{}) {
		t.Fatal("a new database has no instance ID")
	}
	items := realItems(t, "f", t0)[:3]
	mustSave(t, db, "f", items)
	if err := db.PutFeedState(context.Background(), aggregator.FeedState{Name: "g"}); err != nil {
		t.Fatal(err)
	}
	if s := stamp(); s != s0 {
		t.Errorf("storing fetches moved the stamp: %v -> %v", s0, s)
	}
	ms := []aggregator.Membership{{Item: items[0].ID, Cluster: items[0].ID}, {Item: items[1].ID, Cluster: items[0].ID}}
	if err := db.SaveClusters(context.Background(), ms, nil, t0); err != nil {
		t.Fatal(err)
	}
	s1 := stamp()
	if s1.Instance != s0.Instance || s1.Seq <= s0.Seq {
		t.Errorf("SaveClusters: stamp %v -> %v; want the same instance, a higher Seq", s0, s1)
	}
	if err := db.DeleteItem(context.Background(), items[1].ID); err != nil {
		t.Fatal(err)
	}
	if s := stamp(); s.Seq <= s1.Seq {
		t.Errorf("DeleteItem: stamp %v -> %v; want a higher Seq", s1, s)
	}
	if other, _ := mustOpenDB(t).ClusterStamp(context.Background()); other.Instance == s0.Instance {
		t.Error("two databases share an instance ID")
	}
}
