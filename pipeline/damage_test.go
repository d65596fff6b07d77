package pipeline

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

// TestDamagedSavedIndex: a saved index cut short, or with a flipped bit
// in its header (the stamp that says what to replay) or in the snapshot,
// or whose snapshot is of an older format, is reported by the file's name as rebuilt, and the pass gives the
// stories a pass without any saved index gives, never those of an index
// that replays the wrong part of the cluster log.
func TestDamagedSavedIndex(t *testing.T) {
	items := loadDevSet(t, "dev-rich.jsonl")
	cut := items[len(items)/2].Published
	o := serveOutlets(t, items)
	dir := t.TempDir()

	// A first pass over half the items, then its index saved whole.
	half := dir + "/half.db"
	o.upTo.Store(&cut)
	pass(t, o, half, nil)
	db := mustOpen(t, half)
	p := New(db, testOptions(o.feeds(), nil))
	p.mu.Lock()
	err := p.loadIndexLocked(t.Context())
	p.mu.Unlock()
	if err == nil {
		err = p.SaveIndex(t.Context(), true)
	}
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	saved, err := os.ReadFile(half + ".index")
	if err != nil {
		t.Fatal(err)
	}
	o.upTo.Store(nil)

	// The rest of the items, on a copy without the saved index.
	bare := dir + "/bare.db"
	copyFile(t, half, bare)
	pass(t, o, bare, nil)
	want := storiesOf(t, mustOpen(t, bare))

	stamp := len(indexMagic)
	cases := []struct {
		name   string
		damage func([]byte) []byte
	}{
		{"cut in the magic", func(b []byte) []byte { return b[:5] }},
		{"cut in the header", func(b []byte) []byte { return b[:stamp+20] }},
		{"cut in the snapshot", func(b []byte) []byte { return b[:len(b)/2] }},
		{"last byte cut", func(b []byte) []byte { return b[:len(b)-1] }},
		{"sequence flipped", func(b []byte) []byte { b[stamp+16+7] ^= 1; return b }},
		{"instance flipped", func(b []byte) []byte { b[stamp+3] ^= 0x10; return b }},
		{"snapshot flipped", func(b []byte) []byte { b[len(b)/2] ^= 0x04; return b }},
		{"snapshot of format 2", func(b []byte) []byte {
			// As a version of dedupe that stored item terms by hash wrote it.
			i := bytes.Index(b, []byte("dedupeix"))
			b[i+8] = 2
			return b
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := t.TempDir() + "/damaged.db"
			copyFile(t, half, path)
			if err := os.WriteFile(path+".index", c.damage(append([]byte(nil), saved...)), 0o600); err != nil {
				t.Fatal(err)
			}
			var log logBuffer
			pass(t, o, path, &log)
			l := log.String()
			if !strings.Contains(l, "saved dedupe index not used; rebuilding it") || !strings.Contains(l, path+".index") {
				t.Errorf("the damage was not reported with the file's name; log:\n%s", l)
			}
			if got := storiesOf(t, mustOpen(t, path)); got != want {
				t.Errorf("stories differ from a pass without a saved index:\n%s", diffLines(want, got))
			}
		})
	}

	// The intact copy is used, not rebuilt.
	intact := dir + "/intact.db"
	copyFile(t, half, intact)
	if err := os.WriteFile(intact+".index", saved, 0o600); err != nil {
		t.Fatal(err)
	}
	var log logBuffer
	pass(t, o, intact, &log)
	if strings.Contains(log.String(), "rebuil") {
		t.Errorf("an intact saved index was not used; log:\n%s", log.String())
	}
}
