package pipeline

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"aggregator"
	"aggregator/dedupe/score"
)

// TestConsolidateAcrossPasses clusters the headline set in two passes,
// older half then newer half. Consolidation must leave at least one big
// story whose two big halves formed apart and merged into one (stored as
// one story, the moved members marked merged), and a restart must not
// change the clustering: the saved index brought up to date from the
// cluster log (which carries the merges) is the very index the deciding
// process had, so a second pass after it gives the stories of one
// process doing both; and an index rebuilt from the store without the
// saved copy holds every item in the cluster the store has it in.
func TestConsolidateAcrossPasses(t *testing.T) {
	items := loadDevSet(t, "dev.jsonl")
	cut := items[len(items)/2].Published
	var first, second []score.Item
	for _, it := range items {
		if !it.Published.After(cut) {
			first = append(first, it)
		} else {
			second = append(second, it)
		}
	}
	dir := t.TempDir()
	opts := func(log *logBuffer) Options {
		o := testOptions(nil, log)
		o.NoMergeClusters = false // whatever -merge-clusters says
		return o
	}

	// One process, both passes.
	ref := mustOpen(t, dir+"/ref.db")
	p := New(ref, opts(nil))
	storeAll(t, ref, first)
	if err := p.ClusterPending(t.Context()); err != nil {
		t.Fatal(err)
	}
	if merged := bigMerges(t, ref); merged == 0 {
		t.Fatal("the first pass merged no two big clusters")
	}
	var afterFirst bytes.Buffer
	if err := p.ix.WriteSnapshot(&afterFirst); err != nil {
		t.Fatal(err)
	}
	storeAll(t, ref, second)
	if err := p.ClusterPending(t.Context()); err != nil {
		t.Fatal(err)
	}
	if merged := bigMerges(t, ref); merged == 0 {
		t.Fatal("after both passes no story holds two big halves merged")
	}
	indexAgrees(t, p, ref)
	want := storiesOf(t, ref)

	// A process per pass: the second loads the index saved at the first
	// one's start (empty) and replays the first pass from the log,
	// merges included.
	db := mustOpen(t, dir+"/restart.db")
	storeAll(t, db, first)
	if err := New(db, opts(nil)).ClusterPending(t.Context()); err != nil {
		t.Fatal(err)
	}
	var log logBuffer
	p2 := New(db, opts(&log))
	p2.mu.Lock()
	err := p2.loadIndexLocked(t.Context())
	p2.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	if p2.rebuilt || p2.delta != len(first) {
		t.Fatalf("the restart rebuilt (%v) or replayed %d items, want the log's %d replayed:\n%s", p2.rebuilt, p2.delta, len(first), log.String())
	}
	var replayed bytes.Buffer
	if err := p2.ix.WriteSnapshot(&replayed); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(replayed.Bytes(), afterFirst.Bytes()) {
		t.Error("the index replayed from the cluster log differs from the one that made the decisions")
	}
	indexAgrees(t, p2, db)
	storeAll(t, db, second)
	if err := p2.ClusterPending(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := storiesOf(t, db); got != want {
		t.Errorf("a restart between the passes gave other stories:\n%s", diffLines(want, got))
	}

	// Without the saved copy the index is rebuilt from the stored
	// memberships, moves included.
	if err := os.Remove(dir + "/restart.db.index"); err != nil {
		t.Fatal(err)
	}
	var log3 logBuffer
	p3 := New(db, opts(&log3))
	p3.mu.Lock()
	err = p3.loadIndexLocked(t.Context())
	p3.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log3.String(), "rebuilt the dedupe index") {
		t.Fatalf("no rebuild without the saved index:\n%s", log3.String())
	}
	indexAgrees(t, p3, db)
}

// bigMerges counts the stories of s that hold two big halves merged:
// MinSize (8) members or more marked merged from one cluster, and as many
// that were not.
func bigMerges(t *testing.T, s Store) int {
	t.Helper()
	stories, err := s.Stories(t.Context(), aggregator.StoryQuery{})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, st := range stories {
		from := map[string]int{}
		kept := 0
		for _, m := range st.Members {
			if m.Reason == aggregator.ReasonMerged {
				from[m.Matched]++
			} else {
				kept++
			}
		}
		for _, moved := range from {
			if moved >= 8 && kept >= 8 {
				n++
				break
			}
		}
	}
	return n
}

// indexAgrees checks that p's index holds every stored, clustered item
// in the cluster the store has it in.
func indexAgrees(t *testing.T, p *Pipeline, s Store) {
	t.Helper()
	stories, err := s.Stories(t.Context(), aggregator.StoryQuery{})
	if err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	items, wrong := 0, 0
	for _, st := range stories {
		for _, it := range st.Items {
			items++
			if c, ok := p.ix.ClusterOf(it.ID); !ok || c != st.ID {
				if wrong++; wrong <= 5 {
					t.Errorf("item %s: index has it in %q (%v), the store in %s", it.ID, c, ok, st.ID)
				}
			}
		}
	}
	if items != p.ix.Len() || wrong > 0 {
		t.Errorf("the store has %d clustered items, the index %d; %d in another cluster", items, p.ix.Len(), wrong)
	}
}
